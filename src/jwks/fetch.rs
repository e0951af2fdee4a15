//! The only network I/O of the guard: GET a JWKS or a metadata document.
//!
//! Hardened: a short overall timeout, a cap on the body size (checked against `Content-Length`
//! and again while reading), redirects followed only to the same host and never from https to
//! http, and an explicit `Accept`. Nothing in a token ever decides where we connect.

use std::fmt;
use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{Client, StatusCode, Url, redirect};

use crate::error::ConfigError;

/// Defaults for fetching; see the README's defaults table.
pub(crate) const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS or metadata document accepted.
pub(crate) const DEFAULT_MAX_DOCUMENT_BYTES: usize = 256 * 1024;
const MAX_REDIRECTS: usize = 3;

pub(crate) const ACCEPT_JWKS: &str = "application/jwk-set+json, application/json";
pub(crate) const ACCEPT_METADATA: &str = "application/json";

/// Why a fetch failed; logged and reported by the status API, never sent to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// Connection refused, reset, TLS failure or timeout.
    Unreachable,
    /// The request timed out.
    Timeout,
    /// The server answered with a non-2xx status.
    Status(u16),
    /// The body is larger than the cap.
    TooLarge,
    /// The body is not the document expected (bad JSON, no `keys`, no usable key…).
    Invalid(&'static str),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable => f.write_str("unreachable"),
            Self::Timeout => f.write_str("timed out"),
            Self::Status(code) => write!(f, "answered HTTP {code}"),
            Self::TooLarge => f.write_str("document too large"),
            Self::Invalid(why) => write!(f, "invalid document: {why}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// A configured HTTP client for key material.
#[derive(Clone, Debug)]
pub(crate) struct Fetcher {
    client: Client,
    max_bytes: usize,
}

impl Fetcher {
    pub(crate) fn new(timeout: Duration, max_bytes: usize) -> Result<Self, ConfigError> {
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(redirect::Policy::custom(same_host_redirects))
            .user_agent(concat!("bearer-guard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| ConfigError::HttpClient)?;
        Ok(Self { client, max_bytes })
    }

    /// GETs `url` and returns its body, or why not.
    pub(crate) async fn get(&self, url: &Url, accept: &'static str) -> Result<Vec<u8>, FetchError> {
        let mut response = self
            .client
            .get(url.clone())
            .header(ACCEPT, HeaderValue::from_static(accept))
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        if status == StatusCode::NO_CONTENT {
            return Err(FetchError::Invalid("empty body"));
        }
        if response
            .content_length()
            .is_some_and(|len| len > self.max_bytes as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn classify(error: reqwest::Error) -> FetchError {
    if error.is_timeout() {
        FetchError::Timeout
    } else {
        FetchError::Unreachable
    }
}

fn same_host_redirects(attempt: redirect::Attempt<'_>) -> redirect::Action {
    let first = &attempt.previous()[0];
    let next = attempt.url();
    let same_host = next.host_str() == first.host_str()
        && next.port_or_known_default() == first.port_or_known_default();
    let downgrade = first.scheme() == "https" && next.scheme() != "https";
    if same_host && !downgrade && attempt.previous().len() <= MAX_REDIRECTS {
        attempt.follow()
    } else {
        attempt.stop()
    }
}

/// https, or plain http to a loopback host (or anywhere, when the user opted out).
pub(crate) fn check_url(
    setting: &'static str,
    value: &str,
    allow_insecure_http: bool,
) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|_| ConfigError::InvalidUrl {
        setting,
        value: value.to_owned(),
    })?;
    let secure = match url.scheme() {
        "https" => true,
        "http" => allow_insecure_http || is_loopback(&url),
        _ => false,
    };
    if !secure {
        return Err(ConfigError::InsecureUrl {
            setting,
            value: value.to_owned(),
        });
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_required_except_for_loopback() {
        assert!(check_url("issuer", "https://idp.example.com", false).is_ok());
        assert!(check_url("issuer", "http://127.0.0.1:8080", false).is_ok());
        assert!(check_url("issuer", "http://127.8.0.1", false).is_ok());
        assert!(check_url("issuer", "http://[::1]:80/x", false).is_ok());
        assert!(check_url("issuer", "http://localhost/x", false).is_ok());
        assert_eq!(
            check_url("jwks_uri", "http://idp.example.com/keys", false),
            Err(ConfigError::InsecureUrl {
                setting: "jwks_uri",
                value: "http://idp.example.com/keys".into()
            })
        );
        assert!(check_url("jwks_uri", "http://idp.example.com/keys", true).is_ok());
        assert!(check_url("jwks_uri", "ftp://idp.example.com/keys", true).is_err());
        assert!(matches!(
            check_url("issuer", "not a url", false),
            Err(ConfigError::InvalidUrl { .. })
        ));
    }
}
