//! reqwest as a tower service of `http` types: what [`BearerLayer`](super::BearerLayer) goes in
//! front of.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body_util::{Empty, Full};
use tower_service::Service;

/// A [`reqwest::Client`] as a tower `Service<http::Request<B>>`, answering
/// `http::Response<reqwest::Body>`: put [`BearerLayer`](super::BearerLayer) (and any other
/// tower layer) in front of it.
///
/// The request URI must be absolute. Errors are reqwest's: the request could not be sent, or no
/// answer came (a URI reqwest cannot use is a builder error, `is_builder()`). HTTP statuses,
/// 401 included, are responses. The body is streamed: read it with
/// `http_body_util::BodyExt::collect`, or turn the response back into a
/// [`reqwest::Response`] with `reqwest::Response::from`.
///
/// The client's settings (timeouts, proxy, TLS, redirect policy) apply as you built it.
/// reqwest drops the `Authorization` header when it follows a redirect to another host, so
/// a token is not sent there; a client that follows no redirects
/// (`redirect(Policy::none())`) is the safer choice all the same.
///
/// ```
/// # #[cfg(feature = "test-util")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let issuer = bearer_guard::testing::TestIssuer::start().await;
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let api_url = format!("http://{}/orders", listener.local_addr()?);
/// # let app = axum::Router::new().route("/orders", axum::routing::post(|| async { "created" }))
/// #     .route_layer(bearer_guard::GuardLayer::new(issuer.validator()));
/// # tokio::spawn(async move { axum::serve(listener, app).await });
/// use bearer_guard::client::{BearerLayer, ReqwestService, TokenSource};
/// use http_body_util::BodyExt;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// let source = TokenSource::builder("test-client", "test-secret")
///     .token_endpoint(issuer.token_endpoint())
///     .build()?;
/// let client = ServiceBuilder::new()
///     .layer(BearerLayer::new(source))
///     .service(ReqwestService::new(reqwest::Client::new()));
///
/// let request = http::Request::post(&api_url).body(String::from(r#"{"item":1}"#))?;
/// let response = client.oneshot(request).await?;
/// assert_eq!(response.status(), 200);
/// let body = response.into_body().collect().await?.to_bytes();
/// assert_eq!(body, "created");
/// # Ok(()) }
/// # #[cfg(not(feature = "test-util"))]
/// # fn main() {}
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct ReqwestService {
    client: reqwest::Client,
}

impl ReqwestService {
    /// Sends requests with `client` (clones share its connection pool).
    pub fn new(client: reqwest::Client) -> Self {
        Self { client }
    }

    /// The client.
    pub fn get_ref(&self) -> &reqwest::Client {
        &self.client
    }

    /// The client, unwrapped.
    pub fn into_inner(self) -> reqwest::Client {
        self.client
    }
}

/// A request body [`ReqwestService`] can send: implemented for `()`, `String`, `Vec<u8>`,
/// `&'static str`, `&'static [u8]`, [`Bytes`], [`reqwest::Body`], and `http_body_util`'s
/// [`Full`] and [`Empty`].
///
/// For a body type of your own, convert it (a stream with `reqwest::Body::wrap_stream` or
/// `reqwest::Body::wrap`); to be retried by [`Bearer`](super::Bearer) it must also be a
/// [`ReplayBody`](super::ReplayBody).
pub trait IntoReqwestBody {
    /// The body, as reqwest sends it.
    fn into_reqwest_body(self) -> reqwest::Body;
}

macro_rules! into_reqwest_body {
    ($($ty:ty),* $(,)?) => {
        $(impl IntoReqwestBody for $ty {
            fn into_reqwest_body(self) -> reqwest::Body {
                self.into()
            }
        })*
    };
}

into_reqwest_body!(
    String,
    Vec<u8>,
    &'static str,
    &'static [u8],
    Bytes,
    reqwest::Body
);

impl IntoReqwestBody for () {
    fn into_reqwest_body(self) -> reqwest::Body {
        Bytes::new().into()
    }
}

impl<D> IntoReqwestBody for Empty<D> {
    fn into_reqwest_body(self) -> reqwest::Body {
        Bytes::new().into()
    }
}

impl<D> IntoReqwestBody for Full<D>
where
    D: Buf + Into<Bytes> + Send + Sync + 'static,
{
    fn into_reqwest_body(self) -> reqwest::Body {
        // Full's exact size hint gives the request its Content-Length.
        reqwest::Body::wrap(self)
    }
}

impl<B: IntoReqwestBody> Service<http::Request<B>> for ReqwestService {
    type Response = http::Response<reqwest::Body>;
    type Error = reqwest::Error;
    type Future = ReqwestFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // reqwest's client queues in its pool: always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let client = self.client.clone();
        let request = reqwest::Request::try_from(request.map(IntoReqwestBody::into_reqwest_body));
        ReqwestFuture {
            inner: Box::pin(async move {
                let response = client.execute(request?).await?;
                Ok(http::Response::from(response))
            }),
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The response future of [`ReqwestService`]: boxed, as reqwest's own future type is not
/// public.
pub struct ReqwestFuture {
    inner: BoxFuture<Result<http::Response<reqwest::Body>, reqwest::Error>>,
}

impl Future for ReqwestFuture {
    type Output = Result<http::Response<reqwest::Body>, reqwest::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ReqwestFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestFuture").finish_non_exhaustive()
    }
}
