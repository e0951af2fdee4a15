//! Rejections as responses: the only place that speaks HTTP status codes.
//!
//! | cause | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no credentials, or another scheme | 401 | `Bearer realm="…"` (no `error`) |
//! | malformed credential, two methods | 400 | `error="invalid_request"` |
//! | any token failure | 401 | `error="invalid_token"` |
//! | missing scope | 403 | `error="insufficient_scope", scope="…"` |
//! | a claim failing a [`ClaimPredicate`](crate::ClaimPredicate) of the guard or route | 403 | `error="insufficient_scope"` (no `scope`) |
//! | no usable keys | 503 | none; `Retry-After` instead |
//! | [`RequireScopeLayer`](crate::RequireScopeLayer) without a guard in front | 500 | none |
//! | a `Claims<U>` extractor on a guard of another claims type | 500 | none |
//! | a guard reading form bodies without [`FormTokenLayer`](crate::FormTokenLayer) in front | 500 | none |
//!
//! A gRPC request (see [`GrpcRejections`]) is answered the gRPC way instead: HTTP 200, no
//! body, and the status in the headers (a trailers-only response): `grpc-status` 16
//! UNAUTHENTICATED for a 401, 7 PERMISSION_DENIED for a 403, 3 INVALID_ARGUMENT for a 400, 14
//! UNAVAILABLE for a 503 and 13 INTERNAL for a 500 ([`GrpcStatus`]), a `grpc-message` (the
//! kind's [`description`](ErrorKind::description)), and the same `WWW-Authenticate`,
//! `DPoP-Nonce` and `Retry-After` headers as the HTTP answer.
//!
//! Every rejection response carries its [`ErrorKind`] in its extensions, for outer layers.
//! Replace the default response with [`GuardLayer::on_rejection`](crate::GuardLayer::on_rejection);
//! the handler set on the guard also shapes the rejections of every `RequireScopeLayer` under
//! it (unless that layer has a handler of its own):
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use bearer_guard::{GuardLayer, Issuer, Rejection, RequireScopeLayer, Validator};
//! use http::{Response, header};
//!
//! // A JSON body with a stable, machine-readable code beside the standard headers.
//! fn json_rejection(rejection: Rejection) -> Response<Body> {
//!     let mut response = rejection.to_response::<Body>();
//!     *response.body_mut() = Body::from(format!(
//!         r#"{{"error":"{}","message":"{}"}}"#,
//!         rejection.kind().code(),
//!         rejection.kind().description(),
//!     ));
//!     response
//!         .headers_mut()
//!         .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
//!     response
//! }
//!
//! # fn build() -> Result<Router, bearer_guard::ConfigError> {
//! let validator = Validator::builder()
//!     .issuer(Issuer::new("https://idp.example.com").audience("https://orders.example.com"))
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/orders", get(|| async { "orders" }))
//!     .route_layer(RequireScopeLayer::all(["orders:read"])) // its 403 is JSON too
//!     .route_layer(GuardLayer::new(validator).on_rejection(json_rejection));
//! # Ok(app) }
//! # build().unwrap();
//! ```

use std::fmt;

use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::error::{AuthError, ErrorKind};
use crate::guard::challenge::{Challenge, Scheme};
use crate::guard::dpop::DPOP_NONCE;
use crate::guard::grpc::{self, GrpcRejections, GrpcStatus};
use crate::verify::scope::{Scopes, Unmet};

/// A decided rejection: its cause, status and headers, before it becomes a response.
#[derive(Clone)]
pub struct Rejection {
    error: AuthError,
    /// One challenge per scheme the guard accepts (RFC 9110 §11.6.1 allows several).
    www_authenticate: Vec<HeaderValue>,
    dpop_nonce: Option<HeaderValue>,
    /// Answered as gRPC (set by [`for_request`](Self::for_request)).
    grpc: bool,
}

impl Rejection {
    /// A rejection for a request whose scheme does not matter or is not known.
    pub(crate) fn new(error: AuthError, challenge: &Challenge) -> Self {
        Self::for_scheme(error, challenge, None)
    }

    /// A rejection of a credential presented with `scheme`.
    pub(crate) fn for_scheme(
        error: AuthError,
        challenge: &Challenge,
        scheme: Option<Scheme>,
    ) -> Self {
        let www_authenticate = match error.kind() {
            // The server's fault, not the credential's: no challenge to answer.
            ErrorKind::KeysUnavailable
            | ErrorKind::GuardMissing
            | ErrorKind::ClaimsTypeMismatch
            | ErrorKind::FormLayerMissing
            | ErrorKind::ReplayStoreUnavailable
            | ErrorKind::ReplayStoreFull
            | ErrorKind::IntrospectionUnavailable => Vec::new(),
            kind => challenge.answer(Some(kind), None, scheme),
        };
        Self {
            error,
            www_authenticate,
            dpop_nonce: None,
            grpc: false,
        }
    }

    /// The 403 of a valid token that fails a requirement of the guard or the route.
    pub(crate) fn unmet(
        challenge: &Challenge,
        unmet: Unmet<'_>,
        granted: &Scopes,
        scheme: Option<Scheme>,
    ) -> Self {
        match unmet {
            Unmet::Claim(_) => {
                Self::for_scheme(ErrorKind::ForbiddenClaim.into(), challenge, scheme)
            }
            Unmet::Scopes(required) => Self {
                error: ErrorKind::InsufficientScope.into(),
                www_authenticate: challenge.answer(
                    Some(ErrorKind::InsufficientScope),
                    Some(&required.scope_param(granted)),
                    scheme,
                ),
                dpop_nonce: None,
                grpc: false,
            },
        }
    }

    /// Send `nonce` in a `DPoP-Nonce` header (RFC 9449 §8).
    pub(crate) fn with_dpop_nonce(mut self, nonce: Option<HeaderValue>) -> Self {
        self.dpop_nonce = nonce;
        self
    }

    /// The rejection of a request with `headers`: answered the gRPC way when `mode` says it
    /// is a gRPC request. Every layer sets this before its handler sees the rejection.
    pub(crate) fn for_request(mut self, mode: GrpcRejections, headers: &HeaderMap) -> Self {
        self.grpc = mode.applies_to(headers);
        self
    }

    /// Why the request was rejected.
    pub fn kind(&self) -> ErrorKind {
        self.error.kind()
    }

    /// The error itself.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// 400, 401, 403, 500 (layers in the wrong order) or 503: the status of the HTTP answer.
    /// A gRPC answer ([`is_grpc`](Self::is_grpc)) is sent with 200 and
    /// [`grpc_status`](Self::grpc_status) instead.
    pub fn status(&self) -> StatusCode {
        match self.kind() {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::InsufficientScope | ErrorKind::ForbiddenClaim => StatusCode::FORBIDDEN,
            ErrorKind::GuardMissing
            | ErrorKind::ClaimsTypeMismatch
            | ErrorKind::FormLayerMissing => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::KeysUnavailable
            | ErrorKind::ReplayStoreUnavailable
            | ErrorKind::ReplayStoreFull
            | ErrorKind::IntrospectionUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// Whether the request is a gRPC one, to be answered the gRPC way (see
    /// [`GrpcRejections`]): [`to_response`](Self::to_response) then builds a trailers-only
    /// gRPC response. A custom [`OnRejection`] handler that adds a body should leave it empty
    /// for these, as gRPC clients read none.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use bearer_guard::{GrpcStatus, GuardLayer, Issuer, Rejection, Validator};
    /// use http::{Request, Response, header};
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    ///
    /// // JSON for HTTP clients; gRPC clients get the standard gRPC answer.
    /// fn json_or_grpc(rejection: Rejection) -> Response<String> {
    ///     let mut response = rejection.to_response::<String>();
    ///     if rejection.is_grpc() {
    ///         return response;
    ///     }
    ///     *response.body_mut() = format!(r#"{{"error":"{}"}}"#, rejection.kind().code());
    ///     response
    ///         .headers_mut()
    ///         .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    ///     response
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let validator = Validator::builder()
    ///     .issuer(Issuer::new("https://idp.example.com").audience("api"))
    ///     .build()
    ///     .unwrap();
    /// let service = ServiceBuilder::new()
    ///     .layer(GuardLayer::new(validator).on_rejection(json_or_grpc))
    ///     .service(service_fn(|_: Request<String>| async {
    ///         Ok::<_, Infallible>(Response::new(String::from("orders")))
    ///     }));
    ///
    /// let grpc = Request::post("/orders.v1.Orders/Read")
    ///     .header("content-type", "application/grpc")
    ///     .body(String::new())
    ///     .unwrap();
    /// let response = service.clone().oneshot(grpc).await.unwrap();
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(response.headers()["grpc-status"], GrpcStatus::Unauthenticated.code().to_string());
    /// assert!(response.body().is_empty());
    ///
    /// let plain = Request::get("/orders").body(String::new()).unwrap();
    /// let response = service.oneshot(plain).await.unwrap();
    /// assert_eq!(response.status(), 401);
    /// assert_eq!(response.body(), r#"{"error":"missing_credentials"}"#);
    /// # }
    /// ```
    pub fn is_grpc(&self) -> bool {
        self.grpc
    }

    /// The gRPC status of this rejection, whether or not it is answered the gRPC way:
    /// UNAUTHENTICATED (16) for a 401, PERMISSION_DENIED (7) for a 403, INVALID_ARGUMENT (3)
    /// for a 400, UNAVAILABLE (14) for a 503, INTERNAL (13) for a 500.
    pub fn grpc_status(&self) -> GrpcStatus {
        GrpcStatus::for_http(self.status())
    }

    /// The first `WWW-Authenticate` challenge (absent for 500 and 503); see
    /// [`challenges`](Self::challenges) for all.
    pub fn www_authenticate(&self) -> Option<&HeaderValue> {
        self.www_authenticate.first()
    }

    /// Every `WWW-Authenticate` challenge, one per scheme the guard accepts: `Bearer`, and
    /// `DPoP` when DPoP is on (each sent as its own header field).
    pub fn challenges(&self) -> &[HeaderValue] {
        &self.www_authenticate
    }

    /// The `DPoP-Nonce` to send: a fresh server nonce, on `use_dpop_nonce` answers.
    pub fn dpop_nonce(&self) -> Option<&HeaderValue> {
        self.dpop_nonce.as_ref()
    }

    /// For 503: seconds until a retry is worth it (rounded up).
    pub fn retry_after(&self) -> Option<u64> {
        self.error
            .retry_after()
            .map(|d| d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0)))
            .map(|s| s.max(1))
    }

    /// The standard response: status, `WWW-Authenticate` or `Retry-After`, an empty body, and
    /// the [`ErrorKind`] in the extensions. For a gRPC request ([`is_grpc`](Self::is_grpc)):
    /// status 200, `content-type: application/grpc`, `grpc-status` and `grpc-message`, with
    /// the same other headers, in a trailers-only response.
    pub fn to_response<B: Default>(&self) -> Response<B> {
        let mut response = Response::new(B::default());
        if self.grpc {
            grpc::trailers_only(
                response.headers_mut(),
                self.grpc_status(),
                self.kind().description(),
            );
        } else {
            *response.status_mut() = self.status();
        }
        for challenge in &self.www_authenticate {
            response
                .headers_mut()
                .append(WWW_AUTHENTICATE, challenge.clone());
        }
        if let Some(nonce) = &self.dpop_nonce {
            response.headers_mut().insert(&DPOP_NONCE, nonce.clone());
        }
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(self.kind());
        response
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejection")
            .field("kind", &self.kind())
            .field("status", &self.status())
            .field("grpc", &self.grpc)
            .finish()
    }
}

/// Turns a [`Rejection`] into the response sent. Implemented for [`DefaultRejection`] and for
/// closures `Fn(Rejection) -> Response<B>`.
pub trait OnRejection<B> {
    /// Builds the response.
    fn on_rejection(&self, rejection: Rejection) -> Response<B>;
}

/// The standard response of [`Rejection::to_response`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRejection;

impl<B: Default> OnRejection<B> for DefaultRejection {
    fn on_rejection(&self, rejection: Rejection) -> Response<B> {
        rejection.to_response()
    }
}

impl<B, F> OnRejection<B> for F
where
    F: Fn(Rejection) -> Response<B>,
{
    fn on_rejection(&self, rejection: Rejection) -> Response<B> {
        self(rejection)
    }
}

/// The default handler of [`RequireScopeLayer`](crate::RequireScopeLayer): its rejections are
/// shaped by the handler of the [`GuardLayer`](crate::GuardLayer) in front of it, so one
/// [`on_rejection`](crate::GuardLayer::on_rejection) on the guard serves every route. Without a
/// guard in front, the standard response of [`Rejection::to_response`].
#[derive(Debug, Clone, Copy, Default)]
pub struct InheritRejection;

impl<B: Default> OnRejection<B> for InheritRejection {
    fn on_rejection(&self, rejection: Rejection) -> Response<B> {
        let mut response = rejection.to_response();
        response.extensions_mut().insert(Inherited(rejection));
        response
    }
}

/// Marks a response as a rejection the guard's handler is to shape on its way out.
#[derive(Clone)]
pub(crate) struct Inherited(Rejection);

impl Inherited {
    /// The rejection to reshape, if `response` carries one; the mark never leaves the guard.
    pub(crate) fn take<B>(response: &mut Response<B>) -> Option<Rejection> {
        response.extensions_mut().remove::<Self>().map(|Self(r)| r)
    }
}

/// Runs the user's handler and makes sure the kind is in the extensions whatever it built.
pub(crate) fn respond<B, H: OnRejection<B>>(handler: &H, rejection: Rejection) -> Response<B> {
    let kind = rejection.kind();
    let mut response = handler.on_rejection(rejection);
    response.extensions_mut().insert(kind);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn statuses_and_headers() {
        let c = Challenge::default();
        let r = Rejection::new(ErrorKind::MissingCredentials.into(), &c).to_response::<()>();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[WWW_AUTHENTICATE], r#"Bearer realm="api""#);
        assert_eq!(
            r.extensions().get::<ErrorKind>(),
            Some(&ErrorKind::MissingCredentials)
        );

        let r = Rejection::new(ErrorKind::InvalidRequest.into(), &c).to_response::<()>();
        assert_eq!(r.status(), 400);

        let r = Rejection::new(AuthError::keys_unavailable(Duration::from_millis(2500)), &c)
            .to_response::<()>();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[RETRY_AFTER], "3");
        assert!(r.headers().get(WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn custom_handlers_still_carry_the_kind() {
        let c = Challenge::default();
        let handler = |_: Rejection| Response::new("nope");
        let r = respond(&handler, Rejection::new(ErrorKind::Expired.into(), &c));
        assert_eq!(r.extensions().get::<ErrorKind>(), Some(&ErrorKind::Expired));
    }
}
