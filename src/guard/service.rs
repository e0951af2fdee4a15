//! [`Guard`]: the service built by [`GuardLayer`]. Generic over the request and response body,
//! so it serves axum, plain hyper and tonic alike.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{Request, Response};
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::guard::credential::{self, Credential};
use crate::guard::future::{ResponseFuture, Validation};
use crate::guard::layer::{GuardLayer, GuardSettings};
use crate::guard::response::{OnRejection, Rejection, respond};
use crate::verify::claims::Claims;
use crate::verify::validator::Validator;

/// Put into the extensions of every request the guard lets through, so that
/// [`RequireScope`](crate::RequireScope) answers with the same realm.
#[derive(Debug, Clone)]
pub(crate) struct GuardContext(pub(crate) Arc<GuardSettings>);

/// Validates the bearer token of each request before the inner service sees it.
///
/// On success the request carries [`Claims<T>`] and [`Scopes`](crate::Scopes) in its
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

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
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

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready goes into the future; a fresh clone stays behind.
        let inner = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, inner);
        let token_len = match credential::extract(&request) {
            Ok(Some(Credential::Bearer(token))) => {
                // The fast path: a token verified before is admitted without a validation
                // future (no allocation, no await).
                if let Some(claims) = self.validator.cached(token) {
                    admit(&mut request, claims, &self.settings);
                    return ResponseFuture::call(inner, request);
                }
                token.len()
            }
            Ok(None) if self.settings.optional => {
                request
                    .extensions_mut()
                    .insert(GuardContext(Arc::clone(&self.settings)));
                return ResponseFuture::call(inner, request);
            }
            Ok(None) => {
                return self.reject(crate::ErrorKind::MissingCredentials.into());
            }
            Err(error) => return self.reject(error),
        };
        // The token is the tail of the one Authorization value; a clone of that value shares
        // its bytes, so the validation future owns the token without copying it.
        let header = request.headers()[AUTHORIZATION].clone();
        let validator = self.validator.clone();
        let validation: Validation<T> = Box::pin(async move {
            let bytes = header.as_bytes();
            let token = std::str::from_utf8(&bytes[bytes.len() - token_len..])
                .map_err(|_| crate::AuthError::from(crate::ErrorKind::InvalidRequest))?;
            // `call` has just missed the cache with this token.
            validator.validate_uncached(token).await
        });
        ResponseFuture::validate(
            validation,
            request,
            inner,
            Arc::clone(&self.settings),
            self.on_rejection.clone(),
        )
    }
}

impl<S, T, H> Guard<S, T, H> {
    fn reject<ReqBody, ResBody>(&self, error: crate::AuthError) -> ResponseFuture<S, ReqBody, T, H>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        H: OnRejection<ResBody>,
    {
        let rejection = Rejection::new(error, &self.settings.challenge);
        ResponseFuture::rejected(respond(&self.on_rejection, rejection))
    }
}

/// What the guard adds to an accepted request.
pub(crate) fn admit<ReqBody, T: Send + Sync + 'static>(
    request: &mut Request<ReqBody>,
    claims: Claims<T>,
    settings: &Arc<GuardSettings>,
) {
    let extensions = request.extensions_mut();
    extensions.insert(claims.scopes().clone());
    extensions.insert(claims);
    extensions.insert(GuardContext(Arc::clone(settings)));
}
