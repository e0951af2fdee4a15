use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::request::Parts;
use http::{HeaderName, Request, Response, StatusCode};
use tower_service::Service;

use super::challenge::says;
use super::dpop::{DpopClient, Target};
use super::error::BearerError;
use super::future::ResponseFuture;
use super::layer::BearerLayer;
use super::replay::ReplayBody;
use super::source::TokenSource;
use super::token::AccessToken;

/// The request header that carries a DPoP proof.
static DPOP: HeaderName = HeaderName::from_static("dpop");

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
///
/// # DPoP
///
/// With a DPoP-bound token (the source has a [DPoP key](super::TokenSourceBuilder::dpop)),
/// the request gets `Authorization: DPoP <token>` and a `DPoP` header with a fresh proof
/// (RFC 9449 §7): `htm` the request method, `htu` the request URI without query and fragment,
/// `ath` the token's hash, and the latest nonce the API's origin sent in a `DPoP-Nonce`
/// header. The request URI must then be absolute (else [`BearerError::RelativeUri`]). On a
/// `401` whose `DPoP` challenge says `error="use_dpop_nonce"` and that carries a `DPoP-Nonce`,
/// the request is sent once more (if the body can be replayed) with a new proof holding that
/// nonce; if that answer is `401 invalid_token`, the token is invalidated for the next
/// request. `invalid_token` is read from the `DPoP` challenge for these tokens.
///
/// ```
/// # #[cfg(feature = "test-util")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let issuer = bearer_guard::testing::TestIssuer::start().await;
/// use bearer_guard::client::{BearerLayer, TokenSource};
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// let source = TokenSource::builder("test-client", "test-secret")
///     .token_endpoint(issuer.token_endpoint())
///     .generate_dpop_key()
///     .build()?;
/// // Here the "network" shows what it was sent.
/// let api = service_fn(|request: Request<String>| async move {
///     let scheme = request.headers()["authorization"].to_str().unwrap();
///     let scheme = scheme.split(' ').next().unwrap().to_owned();
///     let proofs = request.headers().get_all("dpop").iter().count();
///     Ok::<_, std::convert::Infallible>(Response::new(format!("{scheme} {proofs}")))
/// });
/// let client = ServiceBuilder::new().layer(BearerLayer::new(source)).service(api);
/// let request = Request::get("https://api.example.com/orders").body(String::new())?;
/// let response = client.oneshot(request).await?;
/// assert_eq!(response.body(), "DPoP 1");
/// # Ok(()) }
/// # #[cfg(not(feature = "test-util"))]
/// # fn main() {}
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct Bearer<S> {
    inner: S,
    sources: Sources,
}

/// Where a [`Bearer`] takes its tokens from.
#[derive(Debug, Clone)]
pub(crate) enum Sources {
    /// One source, whatever the destination.
    One(TokenSource),
    /// A source per origin (normalized, as `Url::origin` writes it); no other origin.
    ByOrigin(Arc<[(String, TokenSource)]>),
}

impl Sources {
    /// The source for a request to `uri`.
    fn pick<E>(&self, uri: &http::Uri) -> Result<&TokenSource, BearerError<E>> {
        match self {
            Self::One(source) => Ok(source),
            Self::ByOrigin(sources) => {
                let target = Target::of(&uri.to_string()).ok_or(BearerError::RelativeUri)?;
                sources
                    .iter()
                    .find(|(origin, _)| *origin == target.origin)
                    .map(|(_, source)| source)
                    .ok_or(BearerError::UnknownOrigin(target.origin))
            }
        }
    }
}

impl<S> Bearer<S> {
    /// Wraps `inner`, with tokens from `source`.
    pub fn new(inner: S, source: TokenSource) -> Self {
        Self::with_sources(inner, Sources::One(source))
    }

    pub(crate) fn with_sources(inner: S, sources: Sources) -> Self {
        Self { inner, sources }
    }

    /// A [`BearerLayer`] with tokens from `source`.
    pub fn layer(source: TokenSource) -> BearerLayer {
        BearerLayer::new(source)
    }

    inner_service_accessors!();

    /// Where the tokens come from; `None` for a service that picks its source by origin
    /// ([`BearerLayer::by_origin`]).
    pub fn source(&self) -> Option<&TokenSource> {
        match &self.sources {
            Sources::One(source) => Some(source),
            Sources::ByOrigin(_) => None,
        }
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
        let source = match self.sources.pick(request.uri()) {
            Ok(source) => source.clone(),
            Err(error) => return ResponseFuture::new(async move { Err(error) }),
        };
        // The service that was polled ready goes with this request; a clone takes its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(send(inner, source, request))
    }
}

/// The DPoP key and where the request goes, for a DPoP-bound token.
type Proving = Option<(Arc<DpopClient>, Target)>;

/// Puts the token (and, with DPoP, a fresh proof for it) on the request.
fn authorize(parts: &mut Parts, token: &AccessToken, proving: &Proving) {
    parts.headers.insert(AUTHORIZATION, token.authorization());
    if let Some((dpop, target)) = proving {
        let proof = dpop.proof(parts.method.as_str(), target, Some(token.secret()));
        parts.headers.insert(&DPOP, proof);
    }
}

/// One request: with the cached token, then at most once more: with the server's DPoP nonce,
/// or with a new token.
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
    let proving: Proving = match source.dpop() {
        Some(dpop) if token.token_type() == "DPoP" => {
            let target = Target::of(&parts.uri.to_string()).ok_or(BearerError::RelativeUri)?;
            Some((Arc::clone(dpop), target))
        }
        _ => None,
    };
    let scheme = token.token_type();
    // What a retry would need, taken before the body is gone.
    let replay = body
        .try_replay()
        .map(|copy| (parts.clone(), copy, inner.clone()));
    authorize(&mut parts, &token, &proving);
    let response = inner
        .call(Request::from_parts(parts, body))
        .await
        .map_err(BearerError::Service)?;
    let new_nonce = proving
        .as_ref()
        .is_some_and(|(dpop, target)| dpop.remember(target, response.headers()));

    if response.status() != StatusCode::UNAUTHORIZED {
        return Ok(response);
    }
    if new_nonce && says(response.headers(), "DPoP", "use_dpop_nonce") {
        // RFC 9449 §9: the same token, a new proof with the nonce just remembered.
        let Some((mut parts, body, mut retry)) = replay else {
            tracing::debug!("DPoP nonce required; the request body cannot be replayed");
            return Ok(response);
        };
        drop(response);
        tracing::debug!("DPoP nonce required; retrying once with the server's nonce");
        authorize(&mut parts, &token, &proving);
        poll_fn(|cx| retry.poll_ready(cx))
            .await
            .map_err(BearerError::Service)?;
        let response = retry
            .call(Request::from_parts(parts, body))
            .await
            .map_err(BearerError::Service)?;
        if let Some((dpop, target)) = &proving {
            dpop.remember(target, response.headers());
        }
        if response.status() == StatusCode::UNAUTHORIZED
            && says(response.headers(), scheme, "invalid_token")
        {
            // No second retry; the next request gets a new token.
            source.invalidate(&token);
        }
        return Ok(response);
    }
    if !says(response.headers(), scheme, "invalid_token") {
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
    authorize(&mut parts, &fresh, &proving);
    poll_fn(|cx| retry.poll_ready(cx))
        .await
        .map_err(BearerError::Service)?;
    retry
        .call(Request::from_parts(parts, body))
        .await
        .map_err(BearerError::Service)
}
