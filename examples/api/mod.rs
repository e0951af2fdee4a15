//! The example API, shared by the `resource_server` and `quickstart` examples.
//!
//! | route | needs |
//! |---|---|
//! | `GET /public` | nothing |
//! | `GET /read` | scope `read` |
//! | `POST /write` | scope `write` |
//! | `GET /admin` | scope `admin` |
//! | `GET /whoami` | any valid token |
//! | `GET /.well-known/oauth-protected-resource` | nothing: the RFC 9728 metadata |
//! | `GET /ready` | nothing: 200 once the issuer's keys are loaded, 503 before (readiness probe) |

use axum::body::Body;
use axum::routing::{get, post};
use axum::{Json, Router};
use bearer_guard::dpop::Dpop;
use bearer_guard::{
    Claims, ConfigError, GuardLayer, ResourceMetadata, ScopeRequirement, Validator,
};
use serde_json::{Value, json};

/// The routes, for the resource `public_url` (the URL clients call: its protected resource
/// metadata names it, and every challenge points at that metadata), with DPoP as `dpop` says
/// (`None`: bearer tokens only). Each `route_layer` wraps
/// the routes added before it, and only those: unknown paths keep answering 404 rather than
/// 401, and `/public` and the metadata stay open.
///
/// A scoped route takes the guard and its scope check in one `route_layer` (a tuple of
/// layers, outermost first) rather than two nested ones: axum clones a boxed service per
/// request at every `route_layer` level, so one level costs less.
pub(crate) fn app(
    validator: Validator,
    public_url: &str,
    dpop: Option<Dpop>,
) -> Result<Router, ConfigError> {
    let metadata = ResourceMetadata::new(public_url, &validator)?;
    // The probe loads the keys itself, so the API turns ready without any token traffic.
    let ready = validator.readiness_service::<Body>();
    let guard = GuardLayer::new(validator).resource_metadata(&metadata)?;
    let guard = match dpop {
        Some(dpop) => guard.dpop(dpop)?,
        None => guard,
    };
    // The guard wraps every protected route; a scope check runs inside it, after the token
    // has been validated. Each requirement is declared once: enforced on its route and
    // listed in the metadata.
    let scoped = |scope: &str| {
        let required = metadata.require_scope(ScopeRequirement::all([scope]));
        (guard.clone(), required)
    };
    let protected = Router::new()
        .route("/read", get(|| async { "read ok" }))
        .route_layer(scoped("read"))
        .merge(
            Router::new()
                .route("/write", post(|| async { "write ok" }))
                .route_layer(scoped("write")),
        )
        .merge(
            Router::new()
                .route("/admin", get(|| async { "admin ok" }))
                .route_layer(scoped("admin")),
        )
        .merge(
            Router::new()
                .route("/whoami", get(whoami))
                .route_layer(guard.clone()),
        );

    let mut app = Router::new()
        .route("/public", get(|| async { "public" }))
        .route_service("/ready", ready)
        .merge(protected);
    for path in metadata.paths() {
        app = app.route_service(path, metadata.service::<Body>());
    }
    Ok(app)
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
