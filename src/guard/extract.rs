//! axum extractors (feature `axum`): [`Claims<T>`], `Option<Claims<T>>` and [`Scopes`].
//!
//! ```
//! use axum::{Json, Router, routing::get};
//! use bearer_guard::Claims;
//!
//! async fn whoami(claims: Claims) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "client_id": claims.client(), "scopes": claims.scopes() }))
//! }
//!
//! async fn hello(claims: Option<Claims>) -> String {
//!     match claims {
//!         Some(claims) => format!("hello {}", claims.client().unwrap_or("client")),
//!         None => "hello stranger".to_owned(),
//!     }
//! }
//!
//! let app: Router = Router::new().route("/whoami", get(whoami)).route("/hello", get(hello));
//! ```
//!
//! The extractors read what the guard put into the request. On a route without the guard,
//! `Claims` fails with 500 (a server misconfiguration, not the client's fault) and
//! `Option<Claims>` is `None`.

use std::convert::Infallible;
use std::fmt;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::verify::claims::Claims;
use crate::verify::scope::Scopes;

/// The extractor ran on a route that is not behind [`GuardLayer`](crate::GuardLayer), or the
/// guard's claims type differs from the extractor's.
#[derive(Debug, Clone, Copy)]
pub struct MissingClaims;

impl fmt::Display for MissingClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no validated claims on this request: is the route behind GuardLayer with the same claims type?")
    }
}

impl std::error::Error for MissingClaims {}

impl IntoResponse for MissingClaims {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

impl<S, T> FromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: Send + Sync + 'static,
{
    type Rejection = MissingClaims;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or(MissingClaims)
    }
}

impl<S, T> OptionalFromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: Send + Sync + 'static,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Scopes {
    type Rejection = MissingClaims;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or(MissingClaims)
    }
}
