//! Run with `cargo run --example resource_server`
//!
//! An axum API that accepts client-credentials access tokens from one issuer.
//!
//! With no configuration it starts its own authorization server (a
//! [`TestIssuer`](bearer_guard::testing::TestIssuer) on loopback) and prints its clients,
//! their secrets and ready-to-paste `curl` commands, so you can try it by hand at once.
//! To guard the API with your own identity provider, set:
//!
//! | variable | meaning |
//! |---|---|
//! | `OAUTH_ISSUER` | the issuer, compared byte for byte with `iss`; its keys are found by discovery. Unset: the embedded test issuer |
//! | `OAUTH_AUDIENCE` | the audience this API answers to (`aud` must name one); a comma-separated list for several; required with `OAUTH_ISSUER`, default `https://api.example.com` without |
//! | `OAUTH_JWKS_URI` | optional: fetch keys from here and skip discovery |
//! | `BIND` | optional: address to listen on, default `127.0.0.1:3000` |
//! | `PUBLIC_URL` | optional: the URL clients call, named by the RFC 9728 metadata at `/.well-known/oauth-protected-resource` and by every challenge, and the base of every DPoP proof's `htu`; default `http://` and the bound address |
//! | `OAUTH_DPOP` | optional: `off` (default, as in the library: bearer tokens only, DPoP-bound ones refused), `allowed` (both) or `required` (DPoP only) |
//! | `OAUTH_DPOP_NONCE` | optional: `1` to require server nonces in DPoP proofs |
//! | `OAUTH_INTROSPECTION_CLIENT_ID`, `OAUTH_INTROSPECTION_CLIENT_SECRET` | optional: also accept opaque tokens, introspected (RFC 7662) as this client; JWTs are still verified locally |
//! | `OAUTH_INTROSPECTION_URL` | optional: the introspection endpoint; default the issuer metadata's `introspection_endpoint` |
//! | `OAUTH_INTROSPECTION_CACHE_SECS` | optional: how long an active answer is reused at most (default 60; never past the token's `exp`; 0: never) |
//! | `REDIS_URL` | optional: keep the DPoP replay store in Redis (`redis://127.0.0.1:6379`), shared by every instance; needs `--features redis` |
//! | `METRICS` | optional: `1` to serve the guard's metrics at `GET /metrics` (Prometheus text format, no token needed) |
//!
//! `RUST_LOG` sets what is logged to stderr (default `info`: key loads, refreshes and fetch
//! failures; `RUST_LOG=bearer_guard=debug,info` adds why each token was refused).
//!
//! Plain http is accepted for a loopback issuer (such as a local test issuer); anything else
//! needs https.
//!
//! The first line printed on stdout is `listening on http://ADDR`, with the address actually
//! bound (so `BIND=127.0.0.1:0` reports the port the system chose). Then try:
//!
//! ```text
//! curl -i http://127.0.0.1:3000/public
//! curl -i http://127.0.0.1:3000/read                                   # 401
//! curl -i -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/read
//! curl -i -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/whoami
//! ```
//!
//! | route | needs |
//! |---|---|
//! | `GET /public` | nothing |
//! | `GET /read` | scope `read` |
//! | `POST /write` | scope `write` |
//! | `GET /admin` | scope `admin` |
//! | `GET /whoami` | any valid token |
//! | `GET /ready` | nothing: 200 once the issuer's keys are loaded, 503 before (for a readiness probe) |
//! | `GET /metrics` | nothing; only with `METRICS=1` |

mod api;
mod common;
mod logs;

use std::io::Write;
use std::process::ExitCode;

use bearer_guard::testing::{TestClient, TestIssuer};

const PROGRAM: &str = "resource_server";

#[tokio::main]
async fn main() -> ExitCode {
    logs::init(PROGRAM, "info");
    let config = match common::Config::from_env() {
        Ok(config) => config,
        Err(message) => return common::usage(PROGRAM, &message),
    };
    // First: the validator describes its metrics to the recorder installed when it is built.
    let metrics = match common::metrics_from_env() {
        Ok(metrics) => metrics,
        Err(message) => return common::usage(PROGRAM, &message),
    };
    // With no issuer configured, bring one: it lives as long as this process.
    let (validator, embedded) = match &config.issuer {
        Some(issuer) => {
            match common::validator(PROGRAM, issuer, config.audience, config.jwks_uri) {
                Ok(validator) => (validator, None),
                Err(code) => return code,
            }
        }
        None if config.jwks_uri.is_some() => {
            return common::usage(PROGRAM, "OAUTH_JWKS_URI needs OAUTH_ISSUER");
        }
        None => {
            let issuer = embedded_issuer(config.audience).await;
            let mut trusted = issuer.issuer_config();
            match common::introspection_from_env() {
                Ok(Some(introspection)) => trusted = trusted.introspection(introspection),
                Ok(None) => {}
                Err(message) => return common::usage(PROGRAM, &message),
            }
            match bearer_guard::Validator::builder().issuer(trusted).build() {
                Ok(validator) => (validator, Some(issuer)),
                Err(error) => {
                    return common::usage(PROGRAM, &format!("invalid configuration: {error}"));
                }
            }
        }
    };
    let bind = config.bind;

    let (listener, address) = match common::listen(PROGRAM, &bind).await {
        Ok(bound) => bound,
        Err(code) => return code,
    };
    let public_url = config
        .public_url
        .unwrap_or_else(|| format!("http://{address}"));
    let dpop = match dpop(&public_url).await {
        Ok(dpop) => dpop,
        Err(message) => return common::usage(PROGRAM, &message),
    };
    let scraped = metrics.map(|metrics| metrics.route(validator.clone()));
    let app = match api::app(validator, &public_url, dpop) {
        Ok(app) => app.merge(scraped.unwrap_or_default()),
        Err(error) => return common::usage(PROGRAM, &format!("PUBLIC_URL: {error}")),
    };
    if let Some(issuer) = &embedded {
        print_try_it(issuer, &format!("http://{address}"));
    }
    // Whoever started us may be waiting for this line on a pipe.
    let _ = std::io::stdout().flush();

    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("resource_server: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `OAUTH_DPOP`, `OAUTH_DPOP_NONCE` and `REDIS_URL`.
async fn dpop(public_url: &str) -> Result<Option<bearer_guard::dpop::Dpop>, String> {
    let dpop = common::dpop_from_env(public_url)?;
    let Some(redis_url) = common::optional("REDIS_URL")? else {
        return Ok(dpop);
    };
    let Some(dpop) = dpop else {
        return Err("REDIS_URL is set but OAUTH_DPOP is off: it holds DPoP proofs".into());
    };
    replay_in_redis(dpop, &redis_url).await
}

#[cfg(feature = "redis")]
async fn replay_in_redis(
    dpop: bearer_guard::dpop::Dpop,
    url: &str,
) -> Result<Option<bearer_guard::dpop::Dpop>, String> {
    // Connects on the first DPoP request: the API starts while Redis is down (503 until up).
    let store = bearer_guard::dpop::RedisReplayStore::new(url)
        .map_err(|error| format!("REDIS_URL: {error}"))?
        .namespace("resource-server-example");
    Ok(Some(dpop.replay_store(store)))
}

#[cfg(not(feature = "redis"))]
async fn replay_in_redis(
    _: bearer_guard::dpop::Dpop,
    _: &str,
) -> Result<Option<bearer_guard::dpop::Dpop>, String> {
    Err(
        "REDIS_URL needs the redis feature: cargo run --example resource_server --features redis"
            .into(),
    )
}

/// A client of the embedded issuer that gets opaque tokens (for `OAUTH_INTROSPECTION_*`).
const OPAQUE_CLIENT: (&str, &str) = ("demo-opaque", "demo-opaque-secret");

async fn embedded_issuer(audience: Option<String>) -> TestIssuer {
    let mut builder = common::with_clients(TestIssuer::builder(), &common::DEMO_CLIENTS);
    if let Some(audience) = audience {
        builder = builder.resource(audience);
    }
    let (id, secret) = OPAQUE_CLIENT;
    builder = builder.client(TestClient::new(id, secret).scopes(["read"]).opaque_tokens());
    builder.start().await
}

fn print_try_it(issuer: &TestIssuer, api: &str) {
    let token_url = issuer.token_endpoint();
    common::print_embedded_issuer(
        issuer,
        ("audience", issuer.audience()),
        &common::DEMO_CLIENTS,
    );
    let (id, secret, _) = common::DEMO_CLIENTS[0];
    println!();
    println!("Try it:");
    println!(
        "  TOKEN=$(curl -s -u {id}:{secret} -d grant_type=client_credentials -d scope=read {token_url} | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')"
    );
    println!("  curl -i -H \"Authorization: Bearer $TOKEN\" {api}/read     # 200");
    println!("  curl -i -H \"Authorization: Bearer $TOKEN\" {api}/whoami   # 200, who you are");
    println!(
        "  curl -i -H \"Authorization: Bearer $TOKEN\" -X POST {api}/write  # 403 insufficient_scope"
    );
    println!("  curl -i {api}/read                                   # 401");
    let (id, secret) = OPAQUE_CLIENT;
    println!(
        "  client          {id} / {secret} gets opaque tokens: run with \
         OAUTH_INTROSPECTION_CLIENT_ID={id} OAUTH_INTROSPECTION_CLIENT_SECRET={secret} to accept them"
    );
}
