//! [`ReadinessService`]: a readiness probe over HTTP (`GET /ready`, no token needed), which
//! answers at once and loads the keys in the background so that it turns ready without any
//! other traffic.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use bearer_guard::{GuardLayer, Issuer, Validator};
//!
//! # fn build() -> Result<Router, bearer_guard::ConfigError> {
//! let validator = Validator::builder()
//!     .issuer(Issuer::new("https://idp.example.com").audience("https://orders.example.com"))
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/orders", get(|| async { "orders" }))
//!     .route_layer(GuardLayer::new(validator.clone()))
//!     // After the guard's `route_layer`, so that the probe needs no token.
//!     .route_service("/ready", validator.readiness_service::<Body>());
//! # Ok(app) }
//! # build().unwrap();
//! ```
//!
//! The answer is `200` when every trusted issuer's keys can serve (fresh, or stale within
//! `max_stale`), else `503`; the JSON body says, per issuer, the state, the number of keys,
//! the age of the set and the last fetch error. It holds no secret: issuer URLs are public
//! (the resource metadata lists them) and fetch errors are fixed phrases.

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tower_service::Service;

use crate::jwks::Readiness;
use crate::verify::validator::Validator;

/// Answers readiness probes from [`Validator::readiness`]: `200` or `503` with a JSON report,
/// for `GET` and `HEAD`; `405` for other methods. Built by
/// [`Validator::readiness_service`]; see the [module docs](crate::readiness).
pub struct ReadinessService<T, ResBody> {
    validator: Validator<T>,
    _body: PhantomData<fn() -> ResBody>,
}

impl<T> Validator<T> {
    /// A tower service answering readiness probes; see [`ReadinessService`]. Mount it where
    /// no guard runs: the probe sends no token.
    pub fn readiness_service<ResBody>(&self) -> ReadinessService<T, ResBody> {
        ReadinessService {
            validator: self.clone(),
            _body: PhantomData,
        }
    }
}

impl<T, ResBody> Clone for ReadinessService<T, ResBody> {
    fn clone(&self) -> Self {
        Self {
            validator: self.validator.clone(),
            _body: PhantomData,
        }
    }
}

impl<T, ResBody> fmt::Debug for ReadinessService<T, ResBody> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadinessService")
            .field("validator", &self.validator)
            .finish()
    }
}

impl<T, B, ResBody: From<Bytes>> Service<Request<B>> for ReadinessService<T, ResBody> {
    type Response = Response<ResBody>;
    type Error = Infallible;
    type Future = Ready<Result<Response<ResBody>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = Response::new(ResBody::from(Bytes::new()));
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return ready(Ok(response));
        }
        let readiness = self.validator.readiness();
        let body = if request.method() == Method::HEAD {
            Bytes::new()
        } else {
            Bytes::from(report(&readiness, SystemTime::now()).to_string())
        };
        let mut response = Response::new(ResBody::from(body));
        *response.status_mut() = if readiness.is_ready() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // A probe must see the state now, never a cached answer.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        ready(Ok(response))
    }
}

/// The JSON report of a probe.
fn report(readiness: &Readiness, now: SystemTime) -> Value {
    let issuers: Vec<Value> = readiness
        .issuers
        .iter()
        .map(|status| {
            json!({
                "issuer": status.issuer,
                "state": status.state.name(),
                "key_count": status.key_count,
                "age_seconds": status
                    .last_success
                    .map(|at| now.duration_since(at).unwrap_or_default().as_secs()),
                "consecutive_failures": status.consecutive_failures,
                "last_error": status.last_error.as_ref().map(ToString::to_string),
            })
        })
        .collect();
    json!({ "ready": readiness.is_ready(), "issuers": issuers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::{FetchError, KeyState, KeyStatus};
    use std::time::Duration;

    fn status(issuer: &str, state: KeyState) -> KeyStatus {
        KeyStatus {
            issuer: issuer.to_owned(),
            key_count: usize::from(state != KeyState::Unavailable),
            state,
            last_success: None,
            last_error: None,
            consecutive_failures: 0,
        }
    }

    #[test]
    fn ready_only_when_no_issuer_is_unavailable() {
        let of = |states: &[KeyState]| Readiness {
            issuers: states.iter().map(|s| status("https://idp", *s)).collect(),
        };
        assert!(of(&[]).is_ready());
        assert!(of(&[KeyState::Fresh, KeyState::Stale]).is_ready());
        assert!(!of(&[KeyState::Fresh, KeyState::Unavailable]).is_ready());
        assert!(!of(&[KeyState::Unavailable]).is_ready());
    }

    #[test]
    fn the_report_names_state_age_and_error() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut stale = status("https://a", KeyState::Stale);
        stale.last_success = Some(now - Duration::from_secs(90));
        stale.last_error = Some(FetchError::Status(502));
        stale.consecutive_failures = 3;
        let readiness = Readiness {
            issuers: vec![stale, status("https://b", KeyState::Unavailable)],
        };
        assert_eq!(
            report(&readiness, now),
            json!({"ready": false, "issuers": [
                {"issuer": "https://a", "state": "stale", "key_count": 1, "age_seconds": 90,
                 "consecutive_failures": 3, "last_error": "answered HTTP 502"},
                {"issuer": "https://b", "state": "unavailable", "key_count": 0,
                 "age_seconds": null, "consecutive_failures": 0, "last_error": null},
            ]})
        );
    }
}
