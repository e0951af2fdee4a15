use std::sync::Arc;

use reqwest::Url;
use tower_layer::Layer;

use super::service::{Bearer, Sources};
use super::source::TokenSource;
use crate::error::ConfigError;
use crate::jwks::fetch::{has_userinfo, without_userinfo};

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
    sources: Sources,
}

impl BearerLayer {
    /// A layer that takes its tokens from `source` (clones share its cache), whatever the
    /// request's destination: for a client that calls one API.
    pub fn new(source: TokenSource) -> Self {
        Self {
            sources: Sources::One(source),
        }
    }

    /// A layer that picks the source by the origin (scheme, host and port) of each request's
    /// URI: for a client that calls several APIs, each with tokens of its own (one client
    /// credential, a token per resource: see [`TokenSource::for_resource`]). A request to an
    /// origin not given, or with a relative URI, is not sent: the service fails with
    /// [`BearerError::UnknownOrigin`](super::BearerError::UnknownOrigin) or
    /// [`BearerError::RelativeUri`](super::BearerError::RelativeUri), rather than send it
    /// with another API's token, or with none.
    ///
    /// Origins are compared after normalization (`https://API.example.com:443` is
    /// `https://api.example.com`).
    ///
    /// ```
    /// use bearer_guard::client::{BearerLayer, TokenSource};
    ///
    /// # fn build() -> Result<(), bearer_guard::ConfigError> {
    /// let orders = TokenSource::builder("my-client", "my-secret")
    ///     .token_endpoint("https://idp.example.com/oauth2/token")
    ///     .resource("https://orders.example.com")
    ///     .build()?;
    /// let billing = orders.for_resource("https://billing.example.com")?;
    /// let layer = BearerLayer::by_origin([
    ///     ("https://orders.example.com", orders),
    ///     ("https://billing.example.com:443", billing),
    /// ])?;
    /// # let _ = layer; Ok(()) }
    /// # build().unwrap();
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::InvalidOrigin`] for an origin that is not an `http`/`https` URL with a
    /// host and nothing after it (no path but `/`, no query, fragment, user name or password),
    /// for an origin given twice, or when none is given.
    pub fn by_origin<O: AsRef<str>>(
        sources: impl IntoIterator<Item = (O, TokenSource)>,
    ) -> Result<Self, ConfigError> {
        let mut by_origin: Vec<(String, TokenSource)> = Vec::new();
        for (origin, source) in sources {
            let origin = origin_of(origin.as_ref())?;
            if by_origin.iter().any(|(known, _)| *known == origin) {
                return Err(ConfigError::InvalidOrigin {
                    value: origin,
                    problem: "is given twice",
                });
            }
            by_origin.push((origin, source));
        }
        if by_origin.is_empty() {
            return Err(ConfigError::InvalidOrigin {
                value: String::new(),
                problem: "is all there is: give at least one origin",
            });
        }
        Ok(Self {
            sources: Sources::ByOrigin(Arc::from(by_origin)),
        })
    }
}

/// The normalized origin of `value`, if that is all it is.
fn origin_of(value: &str) -> Result<String, ConfigError> {
    let refused = |problem| ConfigError::InvalidOrigin {
        value: without_userinfo(value).into_owned(),
        problem,
    };
    let url = Url::parse(value).map_err(|_| refused("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(refused("is not an http or https URL with a host"));
    }
    if has_userinfo(&url) {
        return Err(refused("holds a user name or password"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(refused(
            "has a path, query or fragment: give the scheme, host and port only",
        ));
    }
    Ok(url.origin().ascii_serialization())
}

impl<S> Layer<S> for BearerLayer {
    type Service = Bearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Bearer::with_sources(inner, self.sources.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_and_nothing_else_is_accepted() {
        assert_eq!(
            origin_of("https://API.example.com:443").unwrap(),
            "https://api.example.com"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "api.example.com",
            "ftp://api.example.com",
            "https://api.example.com/v1",
            "https://api.example.com/?q",
            "https://api.example.com/#f",
        ] {
            assert!(
                matches!(origin_of(bad), Err(ConfigError::InvalidOrigin { .. })),
                "{bad}"
            );
        }
        let error = origin_of("https://alice:s3cret@api.example.com").unwrap_err();
        assert!(!format!("{error} {error:?}").contains("s3cret"));
    }

    #[test]
    fn duplicates_and_nothing_are_refused() {
        let source = || {
            TokenSource::builder("id", "secret")
                .token_endpoint("https://idp.example.com/token")
                .build()
                .unwrap()
        };
        let twice = BearerLayer::by_origin([
            ("https://api.example.com", source()),
            ("https://api.example.com:443/", source()),
        ]);
        assert_eq!(
            twice.unwrap_err(),
            ConfigError::InvalidOrigin {
                value: "https://api.example.com".into(),
                problem: "is given twice"
            }
        );
        let none: [(&str, TokenSource); 0] = [];
        assert!(BearerLayer::by_origin(none).is_err());
    }
}
