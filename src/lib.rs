//! bearer-guard: a tower [`Layer`](tower_layer::Layer) that makes an API an OAuth 2.0 resource
//! server for tokens obtained with the client credentials grant.
//!
//! On every request the guard finds the bearer token (RFC 6750), verifies its signature with the
//! issuer's published keys (RFC 7517, discovered per RFC 8414 / OpenID Connect), checks it is
//! current and meant for this API (RFC 9068, RFC 8725), and hands the validated [`Claims`] to
//! the handler. Routes declare the scopes they need with [`RequireScopeLayer`]. Every
//! rejection is a response with the right status and `WWW-Authenticate` challenge.
//!
//! # axum
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use bearer_guard::{Claims, GuardLayer, Issuer, RequireScopeLayer, Validator};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let validator = Validator::builder()
//!     .issuer(Issuer::new("https://idp.example.com").audience("https://orders.example.com"))
//!     .build()?;
//!
//! let app = Router::new()
//!     .route("/orders", get(|claims: Claims| async move {
//!         format!("orders for {}", claims.client().unwrap_or("?"))
//!     }))
//!     .route_layer(RequireScopeLayer::all(["orders:read"]))
//!     .route_layer(GuardLayer::new(validator));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Put the guard after the scope layers: each `route_layer` wraps the routes added before it,
//! so the guard runs first. `route_layer` (not `layer`) keeps unknown paths answering 404.
//!
//! # Plain hyper, or any tower stack
//!
//! The guard is generic over the request and response bodies; rejections need only
//! `ResBody: Default` (or a custom [`OnRejection`]). The validated [`Claims`] are in the
//! request's extensions.
//!
//! ```
//! use std::convert::Infallible;
//! use bearer_guard::{Claims, GuardLayer, Issuer, RequireScopeLayer, Validator};
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let validator = Validator::builder()
//!     .issuer(Issuer::new("https://idp.example.com").audience("api"))
//!     .build()
//!     .unwrap();
//! let service = ServiceBuilder::new()
//!     .layer(GuardLayer::new(validator)) // outermost: runs first
//!     .layer(RequireScopeLayer::all(["read"]))
//!     .service(service_fn(|request: Request<String>| async move {
//!         let client = request.extensions().get::<Claims>().and_then(|c| c.client());
//!         Ok::<_, Infallible>(Response::new(format!("hello {client:?}")))
//!     }));
//!
//! let response = service.oneshot(Request::new(String::new())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="api""#);
//! # }
//! ```
//!
//! To serve it with hyper 1, wrap the service in `hyper_util::service::TowerToHyperService`
//! and hand it to `hyper::server::conn::http1::Builder::serve_connection`; the
//! `hyper_server` example does exactly that. Elsewhere (a gRPC interceptor, a websocket
//! handshake, a queue consumer) call [`Validator::validate`] directly.
//!
//! # Typed claims
//!
//! Claims beyond the registered ones deserialize into your own type: the validator's
//! [`extra_claims`](ValidatorBuilder::extra_claims) picks it, and handlers extract
//! `Claims<YourType>`.
//!
//! ```
//! use bearer_guard::{Claims, GuardLayer, Issuer, Validator};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Tenant {
//!     tenant: String,
//! }
//!
//! async fn orders(claims: Claims<Tenant>) -> String {
//!     format!("orders of tenant {} for {:?}", claims.extra().tenant, claims.client())
//! }
//!
//! # fn build() -> Result<axum::Router, bearer_guard::ConfigError> {
//! let validator = Validator::builder()
//!     .issuer(Issuer::new("https://idp.example.com").audience("api"))
//!     .extra_claims::<Tenant>() // a token without `tenant` is refused as an invalid claim
//!     .build()?;
//! let app = axum::Router::new()
//!     .route("/orders", axum::routing::get(orders))
//!     .route_layer(GuardLayer::new(validator));
//! # Ok(app) }
//! # build().unwrap();
//! ```
//!
//! A handler that wants another view of the same token reads it on demand with
//! [`Claims::extra_as`]; [`Claims::json`] is the whole claims object. A `Claims<U>` extractor
//! behind a guard of another type answers 500 and logs both type names.
//!
//! # Identity providers
//!
//! Each provider puts scopes, roles, audience and client in its own place; the issuer's
//! configuration says where:
//!
//! | need | configuration |
//! |---|---|
//! | roles in nested claims (Keycloak `realm_access.roles`) | [`Issuer::scope_claim`] with [`ScopeClaim::values`]`(`[`ClaimPath::dotted`]`(…))` |
//! | roles as object keys (Zitadel) | [`ScopeClaim::keys`], a name with colons given whole |
//! | roles apart from scopes | [`ScopeClaim::prefix`]`("role:")` |
//! | `(a AND b) OR c` | [`ScopeRequirement::or`] |
//! | `tenant` = `acme`, `azp` in a list | [`ClaimPredicate`] on the guard, a route or the issuer |
//! | no `aud` (Cognito) | [`Issuer::without_audience`] + [`Issuer::allowed_clients`] |
//! | one issuer per tenant (Entra) | [`Issuer::template`] + [`Issuer::tenants`] |
//! | the caller | [`Claims::client`]: `client_id`, `azp`, `cid`, `appid`, then `sub` |
//!
//! The [`providers`] module has a recipe for each of Keycloak, Entra ID, Auth0, Okta,
//! Cognito, Hydra and Zitadel, each proven by a test with a token of that provider's shape.
//!
//! # Readiness
//!
//! Building a validator fetches nothing, so a service starts while its identity provider is
//! down, and keys load on first use. A readiness probe can load them in the background and
//! report [`Validator::key_status`]:
//!
//! ```
//! use axum::{Router, http::StatusCode, routing::get};
//! use bearer_guard::{KeyState, Validator};
//!
//! fn readiness(validator: Validator) -> Router {
//!     // Start loading now, without holding up start-up or the probe.
//!     let warming = validator.clone();
//!     tokio::spawn(async move { warming.warm_up().await });
//!     Router::new().route(
//!         "/ready",
//!         get(move || {
//!             let ready = validator
//!                 .key_status()
//!                 .iter()
//!                 .all(|issuer| issuer.state != KeyState::Unavailable);
//!             async move { if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE } }
//!         }),
//!     )
//! }
//! # let _ = readiness;
//! ```
//!
//! # Testing your API
//!
//! With the `test-util` feature, `testing::TestIssuer` is an authorization server in your
//! test process: your app is tested through the real guard, with real signatures and a real
//! key fetch on loopback. The dev-dependencies this needs:
//!
//! ```toml
//! [dev-dependencies]
//! bearer-guard = { version = "0.1", features = ["test-util", "axum"] }
//! axum = "0.8"
//! http = "1"
//! tokio = { version = "1", features = ["macros", "rt"] }
//! tower = { version = "0.5", features = ["util"] }
//! ```
//!
//! ```
//! # #[cfg(feature = "test-util")]
//! # mod test {
//! use axum::{Router, body::Body, routing::get};
//! use bearer_guard::testing::TestIssuer;
//! use bearer_guard::{GuardLayer, RequireScopeLayer};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # pub
//! async fn orders_need_the_read_scope() {
//!     let issuer = TestIssuer::start().await;
//!     let app = Router::new()
//!         .route("/orders", get(|| async { "orders" }))
//!         .route_layer(RequireScopeLayer::all(["read"]))
//!         .route_layer(GuardLayer::new(issuer.validator()));
//!
//!     for (scope, status) in [("read", StatusCode::OK), ("write", StatusCode::FORBIDDEN)] {
//!         let token = issuer.token().scope(scope).sign();
//!         let request = Request::get("/orders")
//!             .header("authorization", format!("Bearer {token}"))
//!             .body(Body::empty())
//!             .unwrap();
//!         assert_eq!(app.clone().oneshot(request).await.unwrap().status(), status);
//!     }
//! }
//! # }
//! # #[cfg(feature = "test-util")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
//! #     .block_on(test::orders_need_the_read_scope());
//! ```
//!
//! # Rejections
//!
//! | cause | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no credentials, or another scheme | 401 | `Bearer realm="api"` |
//! | malformed credential | 400 | `error="invalid_request"` |
//! | any token failure | 401 | `error="invalid_token"` |
//! | valid token, missing scope | 403 | `error="insufficient_scope", scope="…"` |
//! | no usable keys (identity provider down) | 503 | none; `Retry-After` |
//! | DPoP proof missing, invalid or replayed ([`GuardLayer::dpop`]) | 401 | `DPoP …, error="invalid_dpop_proof", algs="…"` |
//! | DPoP replay store full or unreachable | 503 | none; `Retry-After` |
//! | opaque token inactive ([`Issuer::introspection`]) | 401 | `error="invalid_token"` |
//! | introspection endpoint down | 503 | none; `Retry-After` |
//!
//! Each carries its [`ErrorKind`] (with a stable [`code`](ErrorKind::code)) in the response
//! extensions; [`GuardLayer::on_rejection`] reshapes them all (see [`response`]). Every
//! refusal is logged at `debug` with its code, the issuer if trusted, `kid` and `alg`, never
//! the token: `RUST_LOG=bearer_guard=debug` answers "why was my token refused".
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `axum` | extractors: [`Claims<T>`], `Option<Claims<T>>`, [`Scopes`] |
//! | `test-util` | `testing::TestIssuer`: an in-process authorization server for tests |
//! | `client` | `client`: a client credentials token source and an outgoing-request layer |
//! | `mcp` | `mcp`: per-tool scopes for MCP servers over Streamable HTTP (`McpToolScopesLayer`) |
//! | `redis` | `dpop::RedisReplayStore`: the DPoP replay store of a fleet, in Redis |
//! | `metrics` | `metrics`: counters, gauges and histograms through the `metrics` facade (Prometheus, OpenTelemetry…) |
//!
//! # Defaults
//!
//! All in [`defaults`]: asymmetric algorithms only, 30 s leeway, 8 KiB token cap, `typ` must
//! be `at+jwt`/`JWT`/absent, https for key material except loopback.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
pub mod defaults;
#[cfg(any(feature = "client", feature = "test-util"))]
mod dpop_key;
mod error;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod guard;
mod jwks;
#[cfg(feature = "mcp")]
pub mod mcp;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
mod metrics;
pub mod providers;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;
mod verify;

// The public module paths predate the `guard/` and `verify/` folders and stay as they were.
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use guard::extract;
pub use guard::{challenge, credential as token, form, metadata, require_scope, response};
pub use verify::{claim_path, predicate, scope};

/// DPoP, sender-constrained tokens (RFC 9449): the guard's settings ([`Dpop`](dpop::Dpop)),
/// the replay store a fleet shares, thumbprints and token hashes.
///
/// A guard given [`Dpop`](dpop::Dpop) with [`GuardLayer::dpop`] checks, on every request
/// with `Authorization: DPoP`, the proof in the `DPoP` header (RFC 9449 §4.3), binds it to
/// the token's `cnf.jkt`, and records it in a [`ReplayStore`](dpop::ReplayStore) so that
/// it is accepted once. [`MemoryReplayStore`](dpop::MemoryReplayStore) serves one instance;
/// instances behind one load balancer share a store (feature `redis`), or a proof replayed to
/// the next instance would be accepted there.
pub mod dpop {
    #[cfg(any(feature = "client", feature = "test-util"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "client", feature = "test-util"))))]
    pub use crate::dpop_key::{DpopKey, InvalidDpopKey, ProofBuilder};
    pub use crate::guard::dpop::{Dpop, DpopMode};
    pub use crate::verify::dpop::{UnsupportedJwk, access_token_hash, jwk_thumbprint};
    pub use crate::verify::replay::{
        MemoryReplayStore, RecordFuture, Recorded, ReplayError, ReplayKey, ReplayStore,
    };
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub use crate::verify::replay_redis::RedisReplayStore;
}

pub use error::{AuthError, ConfigError, ErrorKind};
pub use guard::credential::TokenSource;
pub use guard::form::{FormToken, FormTokenLayer};
pub use guard::future::{RejectOr, ResponseFuture};
pub use guard::layer::GuardLayer;
pub use guard::metadata::{MetadataService, ResourceMetadata};
pub use guard::require_scope::{RequireScope, RequireScopeLayer};
pub use guard::response::{DefaultRejection, InheritRejection, OnRejection, Rejection};
pub use guard::service::Guard;
pub use jsonwebtoken::Algorithm;
pub use jwks::{FetchError, KeyState, KeyStatus};
#[cfg(feature = "mcp")]
pub use mcp::{McpToolScopes, McpToolScopesLayer};
pub use verify::claim_path::ClaimPath;
pub use verify::claims::{Claims, JsonClaims};
pub use verify::introspect::Introspection;
pub use verify::issuer::Issuer;
pub use verify::predicate::ClaimPredicate;
pub use verify::rules::TypPolicy;
pub use verify::scope::{ScopeClaim, ScopeRequirement, Scopes};
pub use verify::validator::{Validator, ValidatorBuilder};
