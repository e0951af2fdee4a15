//! The example API, shared by the `resource_server` and `quickstart` examples.
//!
//! | route | needs |
//! |---|---|
//! | `GET /public` | nothing |
//! | `GET /read` | scope `read` |
//! | `POST /write` | scope `write` |
//! | `GET /admin` | scope `admin` |
//! | `GET /whoami` | any valid token |

use axum::routing::{get, post};
use axum::{Json, Router};
use bearer_guard::{Claims, GuardLayer, RequireScopeLayer, Validator};
use serde_json::{Value, json};

/// The routes. Each `route_layer` wraps the routes added before it, and only those: unknown
/// paths keep answering 404 rather than 401, and `/public` stays open.
pub(crate) fn app(validator: Validator) -> Router {
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
