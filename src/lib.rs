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
//! # Any tower stack (hyper, tonic)
//!
//! The guard is generic over the request and response bodies; rejections need only
//! `ResBody: Default` (or a custom [`OnRejection`]).
//!
//! ```
//! use std::convert::Infallible;
//! use bearer_guard::{GuardLayer, Issuer, Validator};
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
//!     .layer(GuardLayer::new(validator))
//!     .service(service_fn(|_req: Request<()>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("secret")))
//!     }));
//!
//! let response = service.oneshot(Request::new(())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="api""#);
//! # }
//! ```
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `axum` | extractors: [`Claims<T>`], `Option<Claims<T>>`, [`Scopes`] |
//! | `test-util` | `testing::TestIssuer`: an in-process authorization server for tests |
//! | `client` | `client`: a client credentials token source and an outgoing-request layer |
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
mod error;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod guard;
mod jwks;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;
mod verify;

// The public module paths predate the `guard/` and `verify/` folders and stay as they were.
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use guard::extract;
pub use guard::{challenge, credential as token, require_scope, response};
pub use verify::scope;

pub use error::{AuthError, ConfigError, ErrorKind};
pub use guard::future::{RejectOr, ResponseFuture};
pub use guard::layer::GuardLayer;
pub use guard::require_scope::{RequireScope, RequireScopeLayer};
pub use guard::response::{DefaultRejection, OnRejection, Rejection};
pub use guard::service::Guard;
pub use jsonwebtoken::Algorithm;
pub use jwks::{FetchError, KeyState, KeyStatus};
pub use verify::claims::{Claims, JsonClaims};
pub use verify::issuer::Issuer;
pub use verify::rules::TypPolicy;
pub use verify::scope::{ScopeRequirement, Scopes};
pub use verify::validator::{Validator, ValidatorBuilder};
