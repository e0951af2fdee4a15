//! Run with `cargo run --example quickstart`
//!
//! The whole client credentials flow on loopback, with nothing else running: an authorization
//! server (a [`TestIssuer`]), the example API behind the guard, and a client that gets a token
//! and calls the API. Each step is printed with what went over the wire; each call's outcome
//! is checked, and the program exits non-zero if one is not what the guard should answer.

mod api;
mod logs;

use std::process::ExitCode;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::client::{AccessToken, AuthMethod, TokenSource};
use bearer_guard::testing::{TestClient, TestIssuer};
use serde_json::Value;

#[tokio::main]
async fn main() -> ExitCode {
    logs::init("quickstart", "warn");
    match run().await {
        Ok(0) => {
            println!("\nEvery answer was the expected one.");
            ExitCode::SUCCESS
        }
        Ok(failed) => {
            eprintln!("\nquickstart: {failed} answer(s) differed from the expected ones");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("quickstart: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the story; the number of calls whose outcome was not the expected one.
async fn run() -> Result<usize, Box<dyn std::error::Error>> {
    step("1. An authorization server (a TestIssuer, in this process)");
    let issuer = TestIssuer::builder()
        .client(TestClient::new("billing", "billing-secret").scopes(["read", "write", "admin"]))
        .client(TestClient::new("reports", "reports-secret").scopes(["read"]))
        .start()
        .await;
    println!("issuer          {}", issuer.issuer());
    println!("token endpoint  {}", issuer.token_endpoint());
    println!("JWKS            {}", issuer.jwks_uri());
    println!("clients         billing (read write admin), reports (read)");

    step("2. The API, with the guard in front (examples/api)");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    let app = api::app(
        issuer.validator(),
        &api,
        Some(bearer_guard::dpop::Dpop::new(&api)),
    )?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("listening on    {api}");
    println!("trusts          iss = the issuer above, aud = https://api.example.com");
    println!("routes          GET /read (read), POST /write (write), GET /admin (admin)");

    step("3. The client asks for a token (RFC 6749 §4.4)");
    let billing = TokenSource::builder("billing", "billing-secret")
        .issuer(issuer.issuer())
        .scope("read write")
        .build()?;
    println!("POST /token     (endpoint found by discovery of the issuer's metadata)");
    println!("  Authorization: Basic base64(billing:billing-secret)   client_secret_basic");
    println!("  grant_type=client_credentials&scope=read+write");
    let token = billing.token().await?;
    println!(
        "← 200 token_type=Bearer, scope=\"{}\", valid for {} s",
        token.scope().unwrap_or(""),
        token
            .expires_at()
            .saturating_duration_since(tokio::time::Instant::now())
            .as_secs()
    );
    show_token(&token)?;

    step("4. Calls to the API");
    let reports = TokenSource::builder("reports", "reports-secret")
        .issuer(issuer.issuer())
        .auth_method(AuthMethod::Post)
        .build()?;
    let reader = reports.token().await?;
    println!("(reports gets its token with client_secret_post: id and secret in the form body)");
    // Minted by the test issuer directly, as tests do: expired an hour ago.
    let expired = issuer
        .token()
        .client_id("billing")
        .scope("read")
        .expired()
        .sign();
    let mut failed = 0;
    let calls: [(&str, &str, Option<&str>, &str, u16); 6] = [
        ("GET", "/read", Some(token.secret()), "billing's token", 200),
        (
            "POST",
            "/write",
            Some(token.secret()),
            "billing's token",
            200,
        ),
        (
            "GET",
            "/admin",
            Some(token.secret()),
            "billing's token, no admin scope",
            403,
        ),
        ("GET", "/read", None, "no token", 401),
        ("GET", "/read", Some(&expired), "an expired token", 401),
        (
            "POST",
            "/write",
            Some(reader.secret()),
            "reports' token (read only)",
            403,
        ),
    ];
    let http = reqwest::Client::new();
    for (method, path, bearer, with, expected) in calls {
        let mut request = http.request(method.parse()?, format!("{api}{path}"));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await?;
        failed += report(&format!("{method} {path} with {with}"), response, expected).await?;
    }

    step("5. DPoP: a token bound to the client's key (RFC 9449)");
    // The API accepts both schemes (`Dpop::new(api)` in examples/api). The client holds an
    // ES256 key; the token endpoint binds the token to it (`cnf.jkt`), and every call carries
    // a fresh proof signed with it.
    let bound_source = TokenSource::builder("billing", "billing-secret")
        .issuer(issuer.issuer())
        .scope("read")
        .generate_dpop_key()
        .build()?;
    let key = bound_source.dpop_key().ok_or("a DPoP key")?;
    let bound = bound_source.token().await?;
    println!(
        "POST /token with a DPoP proof of the client's key (thumbprint {})",
        key.thumbprint()
    );
    println!("← 200 token_type={}", bound.token_type());
    show_token(&bound)?;
    let proof = key
        .proof("GET", &format!("{api}/read"))
        .access_token(bound.secret())
        .sign();
    let claims = proof.split('.').nth(1).ok_or("a JWS")?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims)?)?;
    println!("proof claims: {claims}");
    let call = || {
        http.get(format!("{api}/read"))
            .header("authorization", format!("DPoP {}", bound.secret()))
            .header("dpop", &proof)
            .send()
    };
    failed += report(
        "GET /read with the bound token and its proof",
        call().await?,
        200,
    )
    .await?;
    failed += report(
        "GET /read with the same proof again (a replay)",
        call().await?,
        401,
    )
    .await?;
    let as_bearer = http
        .get(format!("{api}/read"))
        .bearer_auth(bound.secret())
        .send()
        .await?;
    failed += report("GET /read with the bound token as Bearer", as_bearer, 401).await?;
    Ok(failed)
}

/// Prints a call's outcome and every challenge; 1 if the status is not `expected`.
async fn report(
    call: &str,
    response: reqwest::Response,
    expected: u16,
) -> Result<usize, Box<dyn std::error::Error>> {
    let status = response.status().as_u16();
    let challenges: Vec<String> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    let body = response.text().await?;
    let mark = if status == expected {
        "ok"
    } else {
        "UNEXPECTED"
    };
    println!("\n{call}\n  → {status} {mark}");
    for challenge in &challenges {
        println!("  WWW-Authenticate: {challenge}");
    }
    if challenges.is_empty() {
        println!("  body: {body}");
    }
    Ok(usize::from(status != expected))
}

fn step(title: &str) {
    println!("\n== {title}");
}

/// The token's header and claims, decoded. The signature is what the guard checks.
fn show_token(token: &AccessToken) -> Result<(), Box<dyn std::error::Error>> {
    let mut parts = token.secret().split('.');
    for name in ["header", "claims"] {
        let segment = parts.next().ok_or("not a JWT")?;
        let json: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment)?)?;
        println!("{name}: {}", serde_json::to_string_pretty(&json)?);
    }
    println!(
        "signature: {} bytes",
        URL_SAFE_NO_PAD
            .decode(parts.next().ok_or("not a JWT")?)?
            .len()
    );
    Ok(())
}
