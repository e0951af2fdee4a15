use tower_layer::Layer;

use super::service::Bearer;
use super::source::TokenSource;

/// Adds `Authorization: Bearer <token>` to every outgoing request, with tokens from a
/// [`TokenSource`]; see [`Bearer`] for what happens on a `401`.
///
/// ```
/// use bearer_guard::client::{BearerLayer, TokenSource};
/// use tower::ServiceBuilder;
///
/// # fn build() -> Result<(), bearer_guard::ConfigError> {
/// let source = TokenSource::builder("my-client", "my-secret")
///     .token_endpoint("https://idp.example.com/oauth2/token")
///     .scope("orders:read")
///     .build()?;
/// let layer = ServiceBuilder::new().layer(BearerLayer::new(source));
/// # let _ = layer; Ok(()) }
/// # build().unwrap();
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct BearerLayer {
    source: TokenSource,
}

impl BearerLayer {
    /// A layer that takes its tokens from `source` (clones share its cache).
    pub fn new(source: TokenSource) -> Self {
        Self { source }
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = Bearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Bearer::new(inner, self.source.clone())
    }
}
