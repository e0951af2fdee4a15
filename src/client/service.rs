use std::future::poll_fn;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use tower_service::Service;

use super::challenge::says_invalid_token;
use super::error::BearerError;
use super::future::ResponseFuture;
use super::layer::BearerLayer;
use super::replay::ReplayBody;
use super::source::TokenSource;

/// A service that sends every request with `Authorization: Bearer <token>`; built by
/// [`BearerLayer`].
///
/// The header is marked sensitive, and replaces any `Authorization` the request had.
///
/// When the answer is `401` with a `Bearer` challenge saying `error="invalid_token"` (the API no
/// longer accepts the token: revoked, or its keys rotated), the token is
/// [invalidated](TokenSource::invalidate) and, if the body can be sent again (see
/// [`ReplayBody`]), the request is sent once more with a new token. Its answer is returned
/// whatever it is: there is never a second retry. A body that cannot be replayed means the
/// `401` is returned as it came (the next request gets a new token). A `401` without
/// `invalid_token` is returned as it came.
///
/// When no token can be had, the request is not sent and the service fails with
/// [`BearerError::Token`].
#[must_use]
#[derive(Debug, Clone)]
pub struct Bearer<S> {
    inner: S,
    source: TokenSource,
}

impl<S> Bearer<S> {
    /// Wraps `inner`, with tokens from `source`.
    pub fn new(inner: S, source: TokenSource) -> Self {
        Self { inner, source }
    }

    /// A [`BearerLayer`] with tokens from `source`.
    pub fn layer(source: TokenSource) -> BearerLayer {
        BearerLayer::new(source)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Where the tokens come from.
    pub fn source(&self) -> &TokenSource {
        &self.source
    }
}

impl<S, B, ResBody> Service<Request<B>> for Bearer<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: ReplayBody + Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = BearerError<S::Error>;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BearerError::Service)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The service that was polled ready goes with this request; a clone takes its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(send(inner, self.source.clone(), request))
    }
}

/// One request: with the cached token, then at most once more with a new one.
async fn send<S, B, ResBody>(
    mut inner: S,
    source: TokenSource,
    request: Request<B>,
) -> Result<Response<ResBody>, BearerError<S::Error>>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    B: ReplayBody,
{
    let token = source.token().await.map_err(BearerError::Token)?;
    let (mut parts, body) = request.into_parts();
    // What a retry would need, taken before the body is gone.
    let replay = body
        .try_replay()
        .map(|copy| (parts.clone(), copy, inner.clone()));
    parts.headers.insert(AUTHORIZATION, token.authorization());
    let response = inner
        .call(Request::from_parts(parts, body))
        .await
        .map_err(BearerError::Service)?;

    if response.status() != StatusCode::UNAUTHORIZED || !says_invalid_token(response.headers()) {
        return Ok(response);
    }
    source.invalidate(&token);
    let Some((mut parts, body, mut retry)) = replay else {
        tracing::debug!("access token rejected; the request body cannot be replayed");
        return Ok(response);
    };
    let fresh = match source.token().await {
        Ok(fresh) if fresh != token => fresh,
        // No other token to try: the API's answer stands.
        Ok(_) => return Ok(response),
        Err(error) => {
            tracing::warn!(%error, "access token rejected, and no new one could be had");
            return Ok(response);
        }
    };
    drop(response);
    tracing::debug!("access token rejected; retrying once with a new one");
    parts.headers.insert(AUTHORIZATION, fresh.authorization());
    poll_fn(|cx| retry.poll_ready(cx))
        .await
        .map_err(BearerError::Service)?;
    retry
        .call(Request::from_parts(parts, body))
        .await
        .map_err(BearerError::Service)
}
