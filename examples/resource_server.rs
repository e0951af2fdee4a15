//! Run with `cargo run --example resource_server --features axum`
//!
//! An axum API that accepts client-credentials access tokens from one issuer.
//!
//! Configuration comes from the environment:
//!
//! | variable | meaning |
//! |---|---|
//! | `OAUTH_ISSUER` | required: the issuer, compared byte for byte with `iss`; its keys are found by discovery |
//! | `OAUTH_AUDIENCE` | required: the audience this API answers to (`aud` must name it) |
//! | `OAUTH_JWKS_URI` | optional: fetch keys from here and skip discovery |
//! | `BIND` | optional: address to listen on, default `127.0.0.1:3000` |
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

use std::io::Write;
use std::process::ExitCode;

use axum::routing::{get, post};
use axum::{Json, Router};
use bearer_guard::{Claims, GuardLayer, Issuer, RequireScopeLayer, Validator};
use serde_json::{Value, json};

/// Exit status for a configuration the example cannot start with.
const USAGE: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("resource_server: {message}");
            return ExitCode::from(USAGE);
        }
    };

    let mut issuer = Issuer::new(&config.issuer).audience(&config.audience);
    if let Some(jwks_uri) = &config.jwks_uri {
        issuer = issuer.jwks_uri(jwks_uri);
    }
    // Building checks the configuration only; keys are fetched on the first request that
    // needs them, so the API starts even while the issuer is down.
    let validator = match Validator::builder().issuer(issuer).build() {
        Ok(validator) => validator,
        Err(error) => {
            eprintln!("resource_server: invalid configuration: {error}");
            return ExitCode::from(USAGE);
        }
    };

    let listener = match tokio::net::TcpListener::bind(&config.bind).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("resource_server: cannot listen on {}: {error}", config.bind);
            return ExitCode::FAILURE;
        }
    };
    let address = match listener.local_addr() {
        Ok(address) => address,
        Err(error) => {
            eprintln!("resource_server: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on http://{address}");
    // Whoever started us may be waiting for this line on a pipe.
    let _ = std::io::stdout().flush();

    let result = axum::serve(listener, app(validator))
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

/// The routes. Each `route_layer` wraps the routes added before it, and only those: unknown
/// paths keep answering 404 rather than 401, and `/public` stays open.
fn app(validator: Validator) -> Router {
    let read = Router::new()
        .route("/read", get(|| async { "read ok" }))
        .route_layer(RequireScopeLayer::all(["read"]));
    let write = Router::new()
        .route("/write", post(|| async { "write ok" }))
        .route_layer(RequireScopeLayer::all(["write"]));
    let admin = Router::new()
        .route("/admin", get(|| async { "admin ok" }))
        .route_layer(RequireScopeLayer::all(["admin"]));

    // The guard wraps every protected route; the scope checks run inside it, after the token
    // has been validated.
    let protected = Router::new()
        .route("/whoami", get(whoami))
        .merge(read)
        .merge(write)
        .merge(admin)
        .route_layer(GuardLayer::new(validator));

    Router::new()
        .route("/public", get(|| async { "public" }))
        .merge(protected)
}

/// Who is calling, as the validated token says.
async fn whoami(claims: Claims) -> Json<Value> {
    Json(json!({
        "client_id": claims.client_id(),
        "sub": claims.subject(),
        "scopes": claims.scopes(),
        "exp": claims.expires_at(),
    }))
}

struct Config {
    issuer: String,
    audience: String,
    jwks_uri: Option<String>,
    bind: String,
}

impl Config {
    fn from_env() -> Result<Self, String> {
        Ok(Self {
            issuer: required(
                "OAUTH_ISSUER",
                "the token issuer, for example https://idp.example.com",
            )?,
            audience: required(
                "OAUTH_AUDIENCE",
                "the audience this API expects in `aud`, for example https://api.example.com",
            )?,
            jwks_uri: optional("OAUTH_JWKS_URI")?,
            bind: optional("BIND")?.unwrap_or_else(|| "127.0.0.1:3000".to_owned()),
        })
    }
}

fn required(name: &str, what: &str) -> Result<String, String> {
    optional(name)?.ok_or_else(|| format!("{name} is not set: set it to {what}"))
}

/// An unset or empty variable is `None`.
fn optional(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}
