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
//! `Option<Claims>` is `None`. A `Claims<U>` on a route whose guard validates another type
//! `Claims<T>` (its validator was built with another
//! [`extra_claims`](crate::ValidatorBuilder::extra_claims)) fails with 500 too, `Option`
//! included, and logs an error naming both types: it would otherwise look like an anonymous
//! request. A handler that wants another view of the claims than the guard's type reads it
//! with [`Claims::extra_as`].

use std::fmt;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::error::ErrorKind;
use crate::guard::decision::GuardContext;
use crate::verify::claims::Claims;
use crate::verify::scope::Scopes;

/// The rejection of the extractors: the route is not behind
/// [`GuardLayer`](crate::GuardLayer) ([`ErrorKind::GuardMissing`]), or the guard's claims
/// type differs from the extractor's ([`ErrorKind::ClaimsTypeMismatch`]). Answered 500 with
/// the kind's description as the body and the kind in the response extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingClaims {
    kind: ErrorKind,
}

impl MissingClaims {
    /// [`ErrorKind::GuardMissing`] or [`ErrorKind::ClaimsTypeMismatch`].
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for MissingClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::ClaimsTypeMismatch => f.write_str(
                "the claims on this request are of another type than the extractor's: give the \
                 extractor the guard's claims type, or use `Claims::extra_as`",
            ),
            _ => {
                f.write_str("no validated claims on this request: is the route behind GuardLayer?")
            }
        }
    }
}

impl std::error::Error for MissingClaims {}

impl IntoResponse for MissingClaims {
    fn into_response(self) -> Response {
        let mut response =
            (StatusCode::INTERNAL_SERVER_ERROR, self.kind.description()).into_response();
        response.extensions_mut().insert(self.kind);
        response
    }
}

/// The claims of type `Claims<T>`, `Ok(None)` for a request without (no guard, or let through
/// anonymously), or the mismatch if the guard put claims of another type.
fn claims_of<T: Send + Sync + 'static>(parts: &Parts) -> Result<Option<Claims<T>>, MissingClaims> {
    if let Some(claims) = parts.extensions.get::<Claims<T>>() {
        return Ok(Some(claims.clone()));
    }
    let Some(GuardContext {
        claims: Some(theirs),
        ..
    }) = parts.extensions.get::<GuardContext>()
    else {
        return Ok(None);
    };
    let (guard, extractor) = (theirs.type_name(), std::any::type_name::<Claims<T>>());
    // Once as an error, where it will be seen; every time at debug.
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::error!(
            guard,
            extractor,
            "a Claims extractor asks for another type than the guard validates and answers 500: \
             use the guard's type, or Claims::extra_as in the handler"
        );
    });
    tracing::debug!(
        kind = ErrorKind::ClaimsTypeMismatch.code(),
        guard,
        extractor,
        "claims type mismatch"
    );
    Err(MissingClaims {
        kind: ErrorKind::ClaimsTypeMismatch,
    })
}

impl<S, T> FromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: Send + Sync + 'static,
{
    type Rejection = MissingClaims;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        claims_of(parts)?.ok_or(MissingClaims {
            kind: ErrorKind::GuardMissing,
        })
    }
}

impl<S, T> OptionalFromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: Send + Sync + 'static,
{
    type Rejection = MissingClaims;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        claims_of(parts)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Scopes {
    type Rejection = MissingClaims;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(MissingClaims {
                kind: ErrorKind::GuardMissing,
            })
    }
}
