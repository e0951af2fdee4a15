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

mod common;

use std::io::Write;
use std::process::ExitCode;

use axum::routing::{get, post};
use axum::{Json, Router};
use bearer_guard::{Claims, GuardLayer, RequireScopeLayer, Validator};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> ExitCode {
    let (validator, bind) = match common::from_env("resource_server") {
        Ok(setup) => setup,
        Err(code) => return code,
    };

    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("resource_server: cannot listen on {bind}: {error}");
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
