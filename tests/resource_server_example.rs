//! Drives the `resource_server` and `quickstart` examples as a user would: the compiled
//! binaries, configured from the environment, against a real discovery + JWKS server on
//! loopback, or with the test issuer the example embeds.
#![cfg(all(feature = "axum", feature = "test-util", feature = "client"))]

mod common;

use common::*;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// One call to the example: status, `WWW-Authenticate`, body.
async fn call(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, Option<String>, String) {
    let mut request = http.request(method.parse().unwrap(), format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, challenge, response.text().await.unwrap())
}

/// Starts `resource_server` with `OAUTH_ISSUER` set to `issuer`, or unset; its address and
/// what it printed up to `until` (a line prefix; `None`: only the first line).
async fn start_example(issuer: Option<&str>, until: Option<&str>) -> (Child, String, Vec<String>) {
    start_example_with(issuer, until, &[]).await
}

/// [`start_example`] with more variables set.
async fn start_example_with(
    issuer: Option<&str>,
    until: Option<&str>,
    env: &[(&str, &str)],
) -> (Child, String, Vec<String>) {
    let mut command = Command::new(example_binary("resource_server"));
    command.envs(env.iter().copied());
    match issuer {
        Some(issuer) => command
            .env("OAUTH_ISSUER", issuer)
            .env("OAUTH_AUDIENCE", AUDIENCE),
        None => command
            .env_remove("OAUTH_ISSUER")
            .env_remove("OAUTH_AUDIENCE"),
    };
    command
        .env("BIND", "127.0.0.1:0")
        .env_remove("OAUTH_JWKS_URI");
    let running = spawn_server_example(command, until).await;
    (running.child, running.base, running.printed)
}

#[tokio::test]
async fn every_route_of_the_example_with_tokens_from_a_discovered_issuer() {
    let idp = IdpServer::start().await;
    let (_child, base, _) = start_example(Some(&idp.issuer), None).await;
    let http = reqwest::Client::new();
    let with_scope = |scope: &str| {
        mint(
            &header("ES256", Key::EcP256.kid()),
            &payload_with(&idp.issuer, json!({ "scope": scope })),
            Key::EcP256,
            Key::EcP256.alg(),
        )
    };
    let all = with_scope("read write admin");
    let read_only = with_scope("read");

    // (method, path, token, status, body or challenge)
    let cases: [(&str, &str, Option<&str>, u16, &str); 9] = [
        ("GET", "/public", None, 200, "public"),
        ("GET", "/read", None, 401, r#"Bearer realm="api""#),
        ("GET", "/read", Some(&all), 200, "read ok"),
        ("POST", "/write", Some(&all), 200, "write ok"),
        ("GET", "/admin", Some(&all), 200, "admin ok"),
        (
            "POST",
            "/write",
            Some(&read_only),
            403,
            r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="write""#,
        ),
        (
            "GET",
            "/admin",
            Some("not.a.token"),
            401,
            r#"Bearer realm="api", error="invalid_token", error_description="The access token is invalid""#,
        ),
        ("GET", "/whoami", Some(&read_only), 200, ""),
        ("GET", "/nowhere", Some(&all), 404, ""),
    ];
    for (method, path, token, status, expected) in cases {
        let what = format!("{method} {path} token={}", token.is_some());
        let (answered, challenge, body) = call(&http, &base, method, path, token).await;
        assert_eq!(answered, status, "{what}");
        match status {
            200 if path == "/whoami" => {
                let whoami: Value = serde_json::from_str(&body).expect("JSON");
                assert_eq!(whoami["client_id"], "client-1", "{what}");
                assert_eq!(whoami["sub"], "client-1", "{what}");
                assert_eq!(whoami["scopes"], json!(["read"]), "{what}");
                assert!(whoami["exp"].as_i64().unwrap() > now(), "{what}");
            }
            200 => assert_eq!(body, expected, "{what}"),
            401 | 403 => assert_eq!(
                challenge,
                Some(format!("{expected}{}", metadata_param(&base))),
                "{what}"
            ),
            _ => {}
        }
    }
    assert_eq!(idp.discovery_hits(), 1, "keys found by discovery, once");
    assert_eq!(idp.jwks_hits(), 1);
    assert_eq!(idp.other_hits(), 0);
}

/// The challenge parameter pointing at the example's RFC 9728 metadata (its resource is
/// `PUBLIC_URL`, by default the bound address).
fn metadata_param(base: &str) -> String {
    format!(r#", resource_metadata="{base}/.well-known/oauth-protected-resource""#)
}

/// The value printed after `label` on a line of the embedded issuer's summary.
fn printed<'a>(lines: &'a [String], label: &str) -> &'a str {
    lines
        .iter()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in {lines:#?}"))
        .trim()
}

#[tokio::test]
async fn without_an_issuer_the_example_embeds_one_and_its_tokens_open_every_route() {
    let (_child, base, lines) = start_example(None, Some("curl -i ")).await;
    let token_url = printed(&lines, "token endpoint");
    let issuer = printed(&lines, "issuer");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("demo-admin / demo-admin-secret")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("demo-reader / demo-reader-secret")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("-u demo-admin:demo-admin-secret") && l.contains(token_url)),
        "a ready-to-paste token request: {lines:#?}"
    );

    // Tokens from the embedded issuer's token endpoint, over HTTP as curl would get them.
    let http = reqwest::Client::new();
    let token = async |client: &str, scope: &str| -> String {
        let response = http
            .post(token_url)
            .basic_auth(client, Some(format!("{client}-secret")))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 200, "token for {client} {scope}");
        let body: Value =
            serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    };
    let admin = token("demo-admin", "read write admin").await;
    let reader = token("demo-reader", "read").await;
    let refused = http
        .post(token_url)
        .basic_auth("demo-reader", Some("demo-reader-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "write")])
        .send()
        .await
        .expect("token request");
    assert_eq!(refused.status(), 400, "a reader cannot get write");

    let insufficient = |scope: &str| {
        format!(
            r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="{scope}""#
        )
    };
    let cases: [(&str, &str, Option<&str>, u16, String); 11] = [
        ("GET", "/public", None, 200, "public".into()),
        ("GET", "/read", None, 401, r#"Bearer realm="api""#.into()),
        ("GET", "/read", Some(&admin), 200, "read ok".into()),
        ("POST", "/write", Some(&admin), 200, "write ok".into()),
        ("GET", "/admin", Some(&admin), 200, "admin ok".into()),
        ("GET", "/whoami", Some(&admin), 200, String::new()),
        ("GET", "/read", Some(&reader), 200, "read ok".into()),
        ("POST", "/write", Some(&reader), 403, insufficient("write")),
        ("GET", "/admin", Some(&reader), 403, insufficient("admin")),
        ("GET", "/whoami", Some(&reader), 200, String::new()),
        ("GET", "/nowhere", Some(&admin), 404, String::new()),
    ];
    for (method, path, token, status, expected) in cases {
        let who = if token == Some(&reader) {
            "reader"
        } else {
            "admin/none"
        };
        let what = format!("{method} {path} {who}");
        let (answered, challenge, body) = call(&http, &base, method, path, token).await;
        assert_eq!(answered, status, "{what}");
        match status {
            200 if path == "/whoami" => {
                let whoami: Value = serde_json::from_str(&body).expect("JSON");
                let client = if token == Some(&reader) {
                    "demo-reader"
                } else {
                    "demo-admin"
                };
                assert_eq!(whoami["client_id"], client, "{what}");
            }
            200 => assert_eq!(body, expected, "{what}"),
            401 | 403 => assert_eq!(
                challenge,
                Some(format!("{expected}{}", metadata_param(&base))),
                "{what}"
            ),
            _ => {}
        }
    }
    assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");
}

#[tokio::test]
async fn the_quickstart_runs_the_whole_flow_and_exits_zero() {
    let output = Command::new(example_binary("quickstart"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("the quickstart example is built by `cargo test`");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "grant_type=client_credentials",
        "\"typ\": \"at+jwt\"",
        "GET /read with billing's token\n  → 200 ok",
        "POST /write with billing's token\n  → 200 ok",
        "GET /admin with billing's token, no admin scope\n  → 403 ok",
        "GET /read with no token\n  → 401 ok\n  WWW-Authenticate: Bearer realm=\"api\", resource_metadata=\"http://127.0.0.1:",
        "error_description=\"The access token expired\"",
        "POST /write with reports' token (read only)\n  → 403 ok",
        "Every answer was the expected one.",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(!stdout.contains("UNEXPECTED"), "{stdout}");
}

#[tokio::test]
async fn the_example_serves_its_metadata_for_its_public_url_and_takes_several_audiences() {
    let idp = IdpServer::start().await;
    let mut command = Command::new(example_binary("resource_server"));
    command
        .env("OAUTH_ISSUER", &idp.issuer)
        .env(
            "OAUTH_AUDIENCE",
            format!("https://other.example, {AUDIENCE}"),
        )
        .env("PUBLIC_URL", "https://api.example.com/v1")
        .env("BIND", "127.0.0.1:0")
        .env_remove("OAUTH_JWKS_URI");
    let RunningExample {
        child: _child,
        base,
        ..
    } = spawn_server_example(command, None).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/.well-known/oauth-protected-resource/v1");
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(
        document,
        json!({
            "resource": "https://api.example.com/v1",
            "authorization_servers": [idp.issuer],
            "scopes_supported": ["read", "write", "admin"],
            "bearer_methods_supported": ["header"],
        })
    );
    // Every challenge points at the metadata of the public URL, not of the bound address.
    let (status, challenge, _) = call(&http, &base, "GET", "/read", None).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="api", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v1""#
        )
    );
    // Both audiences of the list are accepted.
    for audience in ["https://other.example", AUDIENCE] {
        let token = mint(
            &header("ES256", Key::EcP256.kid()),
            &payload_with(&idp.issuer, json!({ "scope": "read", "aud": audience })),
            Key::EcP256,
            Key::EcP256.alg(),
        );
        let (status, _, body) = call(&http, &base, "GET", "/read", Some(&token)).await;
        assert_eq!((status, body.as_str()), (200, "read ok"), "{audience}");
    }
}

/// `OAUTH_DPOP=allowed` and `OAUTH_INTROSPECTION_*` with the embedded issuer: a DPoP-bound
/// token with proofs, the same token refused as Bearer, an opaque token introspected, a
/// made-up one refused.
#[tokio::test]
async fn the_example_takes_dpop_and_introspection_from_the_environment() {
    use bearer_guard::client::TokenSource;
    let env = [
        ("OAUTH_DPOP", "allowed"),
        ("OAUTH_INTROSPECTION_CLIENT_ID", "demo-admin"),
        ("OAUTH_INTROSPECTION_CLIENT_SECRET", "demo-admin-secret"),
        ("OAUTH_INTROSPECTION_CACHE_SECS", "5"),
    ];
    let (_child, base, lines) =
        start_example_with(None, Some("client          demo-opaque"), &env).await;
    let issuer = printed(&lines, "issuer");
    let http = reqwest::Client::new();

    let bound = TokenSource::builder("demo-reader", "demo-reader-secret")
        .issuer(issuer)
        .generate_dpop_key()
        .build()
        .unwrap();
    let token = bound.token().await.unwrap();
    assert_eq!(token.token_type(), "DPoP");
    let key = bound.dpop_key().unwrap();
    let proof = key
        .proof("GET", &format!("{base}/read"))
        .access_token(token.secret())
        .sign();
    let response = http
        .get(format!("{base}/read"))
        .header("authorization", format!("DPoP {}", token.secret()))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, challenge, _) = call(&http, &base, "GET", "/read", Some(token.secret())).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("bound to a key"));

    let opaque = TokenSource::builder("demo-opaque", "demo-opaque-secret")
        .issuer(issuer)
        .build()
        .unwrap()
        .token()
        .await
        .unwrap();
    assert!(!opaque.secret().contains('.'), "an opaque token");
    let (status, _, body) = call(&http, &base, "GET", "/whoami", Some(opaque.secret())).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("demo-opaque"), "{body}");
    let (status, challenge, _) = call(&http, &base, "GET", "/read", Some("made-up")).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("not active"));
}

#[tokio::test]
async fn the_example_turns_ready_by_itself_once_its_issuer_answers() {
    use bearer_guard::testing::{JwksFault, TestIssuer};
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_fault(JwksFault::Status(503));
    // `start_example` sets OAUTH_AUDIENCE to AUDIENCE.
    let (_child, base, _) = start_example(Some(issuer.issuer()), None).await;
    let http = reqwest::Client::new();

    // The provider is down: not ready, and the probe itself has started the loading.
    let (status, _, body) = call(&http, &base, "GET", "/ready", None).await;
    assert_eq!(status, 503, "{body}");
    let report: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(report["ready"], false);
    assert_eq!(report["issuers"][0]["state"], "unavailable");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while issuer.jwks_fetches() == 0 {
        assert!(std::time::Instant::now() < deadline, "no fetch started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Healed: the example retries on its own and turns ready; no token was ever sent.
    issuer.set_jwks_fault(JwksFault::None);
    loop {
        let (status, _, body) = call(&http, &base, "GET", "/ready", None).await;
        if status == 200 {
            let report: Value = serde_json::from_str(&body).expect("JSON");
            assert_eq!(report["issuers"][0]["state"], "fresh", "{body}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let token = issuer.token().audience(AUDIENCE).scope("read").sign();
    let (status, challenge, _) = call(&http, &base, "GET", "/read", Some(&token)).await;
    assert_eq!(status, 200, "{challenge:?}");
}
