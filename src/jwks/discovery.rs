//! Finding an issuer's `jwks_uri` from its metadata: OpenID Connect Discovery
//! (`{issuer}/.well-known/openid-configuration`, appended) first, then RFC 8414
//! (`https://host/.well-known/oauth-authorization-server{/path}`, inserted).
//!
//! The document's `issuer` must equal the configured issuer byte for byte (RFC 8414 §3.3), and
//! its `jwks_uri` obeys the same https rule as configured URLs.

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

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: Option<String>,
}

/// Fetches the metadata and returns the `jwks_uri` it names.
pub(crate) async fn discover_jwks_uri(
    fetcher: &Fetcher,
    issuer: &str,
    issuer_url: &Url,
    allow_insecure_http: bool,
) -> Result<Url, FetchError> {
    let mut last_error = FetchError::Unreachable;
    for url in metadata_urls(issuer_url) {
        match fetcher.get(&url, ACCEPT_METADATA).await {
            Ok(body) => return jwks_uri_from(&body, issuer, allow_insecure_http),
            // Only a missing document makes the other location worth a try.
            Err(e @ FetchError::Status(404 | 410)) => last_error = e,
            Err(e) => return Err(e),
        }
    }
    Err(last_error)
}

fn jwks_uri_from(body: &[u8], issuer: &str, allow_insecure_http: bool) -> Result<Url, FetchError> {
    let metadata: Metadata =
        serde_json::from_slice(body).map_err(|_| FetchError::Invalid("metadata is not JSON"))?;
    if metadata.issuer != issuer {
        return Err(FetchError::Invalid(
            "metadata issuer differs from the configured issuer",
        ));
    }
    let jwks_uri = metadata
        .jwks_uri
        .ok_or(FetchError::Invalid("metadata has no jwks_uri"))?;
    check_url("jwks_uri", &jwks_uri, allow_insecure_http)
        .map_err(|_| FetchError::Invalid("metadata jwks_uri is not an allowed URL"))
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
        assert!(jwks_uri_from(body, "https://idp.example.com", false).is_err());
        assert_eq!(
            jwks_uri_from(body, "https://idp.example.com/", false)
                .unwrap()
                .as_str(),
            "https://idp.example.com/jwks"
        );
    }

    #[test]
    fn metadata_jwks_uri_obeys_the_https_rule() {
        let body = br#"{"issuer":"https://idp","jwks_uri":"http://idp.example.com/jwks"}"#;
        assert!(jwks_uri_from(body, "https://idp", false).is_err());
        assert!(jwks_uri_from(body, "https://idp", true).is_ok());
    }
}
