//! [`Guard`]: the service built by [`GuardLayer`]. Generic over the request and response body,
//! so it serves axum, plain hyper and tonic alike.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::error::{AuthError, ErrorKind};
use crate::guard::credential::{self, Extracted, OwnedToken};
use crate::guard::decision::conclude;
use crate::guard::dpop::{DpopMode, PendingProof, Presented, check_binding};
use crate::guard::future::{ResponseFuture, Validation};
use crate::guard::layer::{GuardLayer, GuardSettings};
use crate::guard::response::OnRejection;
use crate::metrics;
use crate::verify::claims::Claims;
use crate::verify::validator::{Validator, now};

/// Validates the bearer token of each request before the inner service sees it.
///
/// On success the request carries [`Claims<T>`](crate::Claims) and [`Scopes`](crate::Scopes) in its
/// extensions; on failure the inner service is not called and the rejection response is
/// returned (the inner service's error type is untouched).
pub struct Guard<S, T, H> {
    inner: S,
    validator: Validator<T>,
    settings: Arc<GuardSettings>,
    on_rejection: H,
}

impl<S, T, H> Guard<S, T, H> {
    pub(crate) fn new(inner: S, layer: GuardLayer<T, H>) -> Self {
        Self {
            inner,
            validator: layer.validator,
            settings: layer.settings,
            on_rejection: layer.on_rejection,
        }
    }

    inner_service_accessors!();
}

impl<S: Clone, T, H: Clone> Clone for Guard<S, T, H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            validator: self.validator.clone(),
            settings: Arc::clone(&self.settings),
            on_rejection: self.on_rejection.clone(),
        }
    }
}

impl<S: fmt::Debug, T, H> fmt::Debug for Guard<S, T, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("inner", &self.inner)
            .field("validator", &self.validator)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<S, T, H, ReqBody, ResBody> Service<Request<ReqBody>> for Guard<S, T, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    T: DeserializeOwned + Send + Sync + 'static,
    H: OnRejection<ResBody> + Clone,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, T, H>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready goes into the future; a fresh clone stays behind.
        let inner = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, inner);
        // The verified-token cache is asked while the credential is read: a token it knows
        // skips the alphabet scan (every other check of `find` runs).
        let mut verified_before = None;
        let found = credential::find(
            request.method(),
            request.uri(),
            request.headers(),
            request.extensions(),
            &self.settings.sources,
            &mut |token| {
                verified_before = self.validator.verified_before(token);
                verified_before.is_some()
            },
        );
        // The lookup ends here: the remembered introspection answers, and the metric. A hit
        // never reads the token as a `&str`.
        let mut cached = |found: &Extracted<'_>| match verified_before.take() {
            Some(claims) => {
                metrics::token_cache(true);
                Some(claims)
            }
            None => self.validator.cached_after_miss(found.token()),
        };
        let dpop = self.settings.dpop.as_ref();
        let (judged, presented) = match found {
            // Only found when DPoP is allowed or required.
            Ok(Some(found)) if found.is_dpop() => match dpop {
                None => (Ok(None), Presented::Nothing),
                Some(dpop) => {
                    let checked = dpop.check(
                        request.method(),
                        request.uri(),
                        request.headers(),
                        found.token(),
                        now(),
                    );
                    match checked {
                        Ok(proof) => {
                            let cached = cached(&found);
                            let token = found.to_owned_token();
                            return self.validate_bound(request, inner, token, cached, proof);
                        }
                        // The token is not looked at: a request without a valid proof
                        // proves nothing about it.
                        Err(error) => (Err(error), Presented::Dpop { jkt: String::new() }),
                    }
                }
            },
            // DPoP only: a bearer token is another scheme, answered as a request without
            // credentials (a DPoP challenge without `error`), and never let through
            // anonymously by an optional guard: a presented token is judged, not ignored.
            Ok(Some(_)) if dpop.is_some_and(|d| d.mode == DpopMode::Required) => {
                tracing::debug!(
                    kind = ErrorKind::MissingCredentials.code(),
                    "bearer token refused: the guard requires DPoP"
                );
                (
                    Err(ErrorKind::MissingCredentials.into()),
                    Presented::Nothing,
                )
            }
            Ok(Some(found)) => match cached(&found) {
                // The fast path: a token verified before skips validation (no allocation, no
                // await), not the decision.
                Some(claims) => (Ok(Some(claims)), Presented::Bearer),
                None => {
                    let token = found.to_owned_token();
                    return self.validate(request, inner, token);
                }
            },
            Ok(None) => (Ok(None), Presented::Nothing),
            Err(error) => (Err(error), Presented::Nothing),
        };
        ResponseFuture::concluded(
            conclude(
                judged,
                &presented,
                request,
                &mut inner,
                &self.settings,
                &self.on_rejection,
            ),
            self.on_rejection.clone(),
        )
    }
}

impl<S, T, H> Guard<S, T, H> {
    /// A DPoP request whose proof passed: the token is validated (or taken from the cache),
    /// its binding to the proof's key checked, and the proof recorded against replay, on every
    /// request. `decide` runs the same binding check with everything else.
    fn validate_bound<ReqBody, ResBody>(
        &self,
        request: Request<ReqBody>,
        inner: S,
        token: OwnedToken,
        cached: Option<Claims<T>>,
        proof: PendingProof,
    ) -> ResponseFuture<S, ReqBody, T, H>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        T: DeserializeOwned + Send + Sync + 'static,
        H: Clone,
    {
        let validator = self.validator.clone();
        let presented = Presented::Dpop {
            jkt: proof.proof.jkt.clone(),
        };
        let bound = presented.clone();
        let validation: Validation<T> = Box::pin(async move {
            let presented = bound;
            let claims = match cached {
                Some(claims) => claims,
                None => validate_owned(&validator, &token).await?,
            };
            // Recorded once the token is valid and bound to the proof's key (the decision
            // checks the binding again, with everything else), so that a store only holds
            // proofs of requests that pass.
            check_binding(claims.as_view(), &presented)?;
            proof.record().await?;
            Ok(claims)
        });
        self.pending(validation, presented, request, inner)
    }

    /// The slow path: a future that validates the token, then concludes.
    fn validate<ReqBody, ResBody>(
        &self,
        request: Request<ReqBody>,
        inner: S,
        token: OwnedToken,
    ) -> ResponseFuture<S, ReqBody, T, H>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        T: DeserializeOwned + Send + Sync + 'static,
        H: Clone,
    {
        // The token is part of a header value (Authorization, a cookie, a custom header) or
        // of the form layer's buffer: `token` holds a clone of that value or buffer, which
        // shares its bytes, so the validation future owns the token without copying it. Only
        // a query-string token is a copy (decoded from the URI).
        let validator = self.validator.clone();
        // `call` has just missed the cache with this token.
        let validation: Validation<T> =
            Box::pin(async move { validate_owned(&validator, &token).await });
        self.pending(validation, Presented::Bearer, request, inner)
    }

    /// The future of a request whose credential is being judged.
    fn pending<ReqBody>(
        &self,
        validation: Validation<T>,
        presented: Presented,
        request: Request<ReqBody>,
        inner: S,
    ) -> ResponseFuture<S, ReqBody, T, H>
    where
        S: Service<Request<ReqBody>>,
        H: Clone,
    {
        ResponseFuture::validate(
            validation,
            presented,
            request,
            inner,
            Arc::clone(&self.settings),
            self.on_rejection.clone(),
        )
    }
}

/// Full validation of a token owned by the validation future, which `call` has just looked
/// up in the cache in vain.
async fn validate_owned<T: DeserializeOwned + Send + Sync + 'static>(
    validator: &Validator<T>,
    token: &OwnedToken,
) -> Result<Claims<T>, AuthError> {
    let token = token
        .as_str()
        .ok_or(AuthError::from(ErrorKind::InvalidRequest))?;
    validator.validate_uncached(token).await
}
