//! Finding an endpoint of an issuer (its `jwks_uri` for the guard, its `token_endpoint` for the
//! client) from its metadata: OpenID Connect Discovery
//! (`{issuer}/.well-known/openid-configuration`, appended) first, then RFC 8414
//! (`https://host/.well-known/oauth-authorization-server{/path}`, inserted).
//!
//! The document's `issuer` must equal the configured issuer byte for byte (RFC 8414 §3.3), and
//! the endpoint obeys the same https rule as configured URLs.

use reqwest::Url;
use serde::Deserialize;

use super::fetch::{ACCEPT_METADATA, FetchError, Fetcher, check_url};

/// The metadata locations for `issuer`, in the order they are tried.
pub(crate) fn metadata_urls(issuer: &Url) -> [Url; 2] {
    let path = issuer.path().trim_end_matches('/');
    let mut oidc = issuer.clone();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    let mut rfc8414 = issuer.clone();
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    [oidc, rfc8414]
}

/// An endpoint named by metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `jwks_uri`: where the issuer's keys are.
    Jwks,
    /// `token_endpoint`: where clients get tokens.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    Token,
    /// `introspection_endpoint` (RFC 7662): where resource servers ask about opaque tokens.
    Introspection,
}

impl Endpoint {
    fn member(self) -> &'static str {
        match self {
            Self::Jwks => "jwks_uri",
            Self::Token => "token_endpoint",
            Self::Introspection => "introspection_endpoint",
        }
    }
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: Option<String>,
    token_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
}

/// Fetches the metadata and returns the `endpoint` it names.
pub(crate) async fn discover(
    fetcher: &Fetcher,
    issuer: &str,
    issuer_url: &Url,
    endpoint: Endpoint,
    allow_insecure_http: bool,
) -> Result<Url, FetchError> {
    let mut last_error = FetchError::Unreachable;
    for url in metadata_urls(issuer_url) {
        match fetcher.get(&url, ACCEPT_METADATA).await {
            Ok(body) => return endpoint_from(&body, issuer, endpoint, allow_insecure_http),
            // Only a missing document makes the other location worth a try.
            Err(e @ FetchError::Status(404 | 410)) => last_error = e,
            Err(e) => return Err(e),
        }
    }
    Err(last_error)
}

pub(crate) fn endpoint_from(
    body: &[u8],
    issuer: &str,
    endpoint: Endpoint,
    allow_insecure_http: bool,
) -> Result<Url, FetchError> {
    let metadata: Metadata =
        serde_json::from_slice(body).map_err(|_| FetchError::Invalid("metadata is not JSON"))?;
    if metadata.issuer != issuer {
        return Err(FetchError::Invalid(
            "metadata issuer differs from the configured issuer",
        ));
    }
    let (url, missing, refused) = match endpoint {
        Endpoint::Jwks => (
            metadata.jwks_uri,
            "metadata has no jwks_uri",
            "metadata jwks_uri is not an allowed URL",
        ),
        Endpoint::Token => (
            metadata.token_endpoint,
            "metadata has no token_endpoint",
            "metadata token_endpoint is not an allowed URL",
        ),
        Endpoint::Introspection => (
            metadata.introspection_endpoint,
            "metadata has no introspection_endpoint",
            "metadata introspection_endpoint is not an allowed URL",
        ),
    };
    let url = url.ok_or(FetchError::Invalid(missing))?;
    check_url(endpoint.member(), &url, allow_insecure_http)
        .map_err(|_| FetchError::Invalid(refused))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(issuer: &str) -> [String; 2] {
        metadata_urls(&Url::parse(issuer).unwrap()).map(String::from)
    }

    #[test]
    fn well_known_locations() {
        assert_eq!(
            urls("https://idp.example.com"),
            [
                "https://idp.example.com/.well-known/openid-configuration",
                "https://idp.example.com/.well-known/oauth-authorization-server",
            ]
        );
        assert_eq!(
            urls("https://idp.example.com/tenant/1"),
            [
                "https://idp.example.com/tenant/1/.well-known/openid-configuration",
                "https://idp.example.com/.well-known/oauth-authorization-server/tenant/1",
            ]
        );
        assert_eq!(
            urls("https://idp.example.com/tenant/")[0],
            "https://idp.example.com/tenant/.well-known/openid-configuration"
        );
    }

    #[test]
    fn metadata_issuer_must_match_exactly() {
        let body =
            br#"{"issuer":"https://idp.example.com/","jwks_uri":"https://idp.example.com/jwks"}"#;
        assert!(endpoint_from(body, "https://idp.example.com", Endpoint::Jwks, false).is_err());
        assert_eq!(
            endpoint_from(body, "https://idp.example.com/", Endpoint::Jwks, false)
                .unwrap()
                .as_str(),
            "https://idp.example.com/jwks"
        );
    }

    #[test]
    fn metadata_jwks_uri_obeys_the_https_rule() {
        let body = br#"{"issuer":"https://idp","jwks_uri":"http://idp.example.com/jwks"}"#;
        assert!(endpoint_from(body, "https://idp", Endpoint::Jwks, false).is_err());
        assert!(endpoint_from(body, "https://idp", Endpoint::Jwks, true).is_ok());
    }

    #[test]
    fn the_token_endpoint_is_found_the_same_way() {
        let token = |body: &[u8], issuer, allow_http| {
            endpoint_from(body, issuer, Endpoint::Token, allow_http).map(String::from)
        };
        let body = br#"{"issuer":"https://idp","token_endpoint":"https://idp/token"}"#;
        assert_eq!(
            token(body, "https://idp", false).unwrap(),
            "https://idp/token"
        );
        assert!(token(body, "https://idp/", false).is_err());
        let http = br#"{"issuer":"https://idp","token_endpoint":"http://idp/token"}"#;
        assert!(token(http, "https://idp", false).is_err());
        assert!(token(http, "https://idp", true).is_ok());
        assert!(token(br#"{"issuer":"https://idp"}"#, "https://idp", false).is_err());
    }
}
