//! The only network I/O of the guard: GET a JWKS or a metadata document.
//!
//! Hardened: a short overall timeout, a cap on the body size (checked against `Content-Length`
//! and again while reading), redirects followed only to the same host and never from https to
//! http, and an explicit `Accept`. Nothing in a token ever decides where we connect.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use reqwest::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, EXPIRES, HeaderMap, HeaderValue, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED,
};
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
    /// The refresh ended without an outcome: it panicked (a bug; the panic is in the logs).
    Aborted,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable => f.write_str("unreachable"),
            Self::Timeout => f.write_str("timed out"),
            Self::Status(code) => write!(f, "answered HTTP {code}"),
            Self::TooLarge => f.write_str("document too large"),
            Self::Invalid(why) => write!(f, "invalid document: {why}"),
            Self::Aborted => f.write_str("the refresh ended without an outcome"),
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
        match self
            .get_conditional(url, accept, &Validators::default())
            .await?
        {
            Fetched {
                body: Some(body), ..
            } => Ok(body),
            Fetched { body: None, .. } => Err(FetchError::Status(304)),
        }
    }

    /// GETs `url`, sending `If-None-Match` / `If-Modified-Since` when `validators` has them.
    /// A 304 answer is `Fetched { body: None, .. }`.
    pub(crate) async fn get_conditional(
        &self,
        url: &Url,
        accept: &'static str,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        let mut request = self
            .client
            .get(url.clone())
            .header(ACCEPT, HeaderValue::from_static(accept));
        if let Some(etag) = &validators.etag {
            request = request.header(IF_NONE_MATCH, etag.clone());
        }
        if let Some(last_modified) = &validators.last_modified {
            request = request.header(IF_MODIFIED_SINCE, last_modified.clone());
        }
        let mut response = request.send().await.map_err(classify)?;
        let status = response.status();
        let headers = response.headers();
        let mut fetched = Fetched {
            body: None,
            max_age: max_age(headers),
            validators: Validators {
                etag: headers.get(ETAG).cloned(),
                last_modified: headers.get(LAST_MODIFIED).cloned(),
            },
        };
        if status == StatusCode::NOT_MODIFIED && validators.is_some() {
            if fetched.validators.is_none() {
                fetched.validators = validators.clone();
            }
            return Ok(fetched);
        }
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        fetched.body = Some(self.body(&mut response).await?);
        Ok(fetched)
    }

    /// POSTs `form` to `url` with HTTP Basic authentication when `basic` is given (user and
    /// password form-urlencoded first, RFC 6749 §2.3.1), and returns a 2xx answer's body and
    /// `Content-Type`.
    pub(crate) async fn post_form(
        &self,
        url: &Url,
        accept: &'static str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<(Vec<u8>, Option<HeaderValue>), FetchError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .client
            .post(url.clone())
            .header(ACCEPT, HeaderValue::from_static(accept))
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .body(body);
        if let Some((user, password)) = basic {
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(encode(user), Some(encode(password)));
        }
        let mut response = request.send().await.map_err(classify)?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        Ok((self.body(&mut response).await?, content_type))
    }

    /// A 2xx answer's body, within the size cap.
    async fn body(&self, response: &mut reqwest::Response) -> Result<Vec<u8>, FetchError> {
        if response.status() == StatusCode::NO_CONTENT {
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

/// Cache validators of a fetched document, sent back to ask "changed since?".
#[derive(Debug, Clone, Default)]
pub(crate) struct Validators {
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
}

impl Validators {
    fn is_some(&self) -> bool {
        self.etag.is_some() || self.last_modified.is_some()
    }

    fn is_none(&self) -> bool {
        !self.is_some()
    }
}

/// A fetched document (`body: None` for 304 Not Modified) and what its headers say of caching.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) body: Option<Vec<u8>>,
    /// From `Cache-Control: max-age` (or `no-cache`/`no-store`: zero), else `Expires`.
    pub(crate) max_age: Option<Duration>,
    pub(crate) validators: Validators,
}

/// How long the server says the document stays fresh.
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut from_cache_control = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
                return Some(Duration::ZERO);
            }
            if name.eq_ignore_ascii_case("max-age") {
                from_cache_control = arg.trim_matches('"').parse().ok().map(Duration::from_secs);
            }
        }
    }
    from_cache_control.or_else(|| {
        let expires = httpdate::parse_http_date(headers.get(EXPIRES)?.to_str().ok()?).ok()?;
        Some(
            expires
                .duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    })
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

/// https, or plain http to a loopback host (or anywhere, when the user opted out); never with
/// a user name or password in it, which would be sent to the server and shown wherever the URL
/// is. Errors never hold them either.
pub(crate) fn check_url(
    setting: &'static str,
    value: &str,
    allow_insecure_http: bool,
) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|_| ConfigError::InvalidUrl {
        setting,
        value: without_userinfo(value).into_owned(),
    })?;
    if has_userinfo(&url) {
        return Err(ConfigError::CredentialsInUrl { setting });
    }
    let secure = match url.scheme() {
        "https" => true,
        "http" => allow_insecure_http || is_loopback(&url),
        _ => false,
    };
    if !secure {
        return Err(ConfigError::InsecureUrl {
            setting,
            value: without_userinfo(value).into_owned(),
        });
    }
    Ok(url)
}

/// Whether a URL holds a user name or a password.
pub(crate) fn has_userinfo(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// `value` with whatever may be a user name and password replaced by `[redacted]`, for errors
/// and Debug output. It need not parse as a URL, so the rule is textual and errs on the side of
/// hiding: everything before the last `@` ahead of any `?` or `#` (after `//`, if there is one).
pub(crate) fn without_userinfo(value: &str) -> Cow<'_, str> {
    let start = value.find("//").map_or(0, |i| i + 2);
    let rest = &value[start..];
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => Cow::Owned(format!("{}[redacted]{}", &value[..start], &rest[at..])),
        None => Cow::Borrowed(value),
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
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

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn freshness_from_cache_control_then_expires() {
        let secs = |pairs: &[(&'static str, &str)]| max_age(&headers(pairs)).map(|d| d.as_secs());
        assert_eq!(secs(&[("cache-control", "public, max-age=600")]), Some(600));
        assert_eq!(secs(&[("cache-control", "no-cache")]), Some(0));
        assert_eq!(
            secs(&[("cache-control", "public"), ("cache-control", "Max-Age=30")]),
            Some(30)
        );
        assert_eq!(
            secs(&[("expires", "Thu, 01 Jan 1970 00:00:00 GMT")]),
            Some(0)
        );
        let later =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
        let from_expires = secs(&[("expires", &later)]).unwrap();
        assert!((3590..=3600).contains(&from_expires), "{from_expires}");
        assert_eq!(
            secs(&[("cache-control", "max-age=5"), ("expires", &later)]),
            Some(5)
        );
        assert_eq!(secs(&[]), None);
    }

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

    #[test]
    fn credentials_in_a_url_are_refused_and_never_shown() {
        for value in [
            "https://alice:s3cret-pw@idp.example.com/keys",
            "https://alice@idp.example.com",
            "https://:s3cret-pw@idp.example.com",
            "http://alice:s3cret-pw@127.0.0.1:8080/keys",
            "http://alice:s3cret-pw@idp.example.com/keys",
        ] {
            for allow_http in [false, true] {
                let error = check_url("jwks_uri", value, allow_http).unwrap_err();
                assert_eq!(
                    error,
                    ConfigError::CredentialsInUrl {
                        setting: "jwks_uri"
                    },
                    "{value}"
                );
                let shown = format!("{error} {error:?}");
                assert!(shown.contains("jwks_uri"), "{shown}");
                assert!(
                    !shown.contains("alice") && !shown.contains("s3cret"),
                    "{shown}"
                );
            }
        }
        // Not URLs, or not allowed ones: the value is shown without what may be credentials.
        for value in [
            "https://alice:s3cret-pw@idp example.com/keys",
            "https://alice:s3c/ret-pw@idp.example.com/keys",
            "alice:s3cret-pw@idp.example.com",
            "ftp://alice:s3cret-pw@idp.example.com/keys",
        ] {
            let error = check_url("issuer", value, false).unwrap_err();
            let shown = format!("{error} {error:?}");
            assert!(shown.contains("issuer"), "{shown}");
            assert!(
                !shown.contains("alice") && !shown.contains("s3c"),
                "{shown}"
            );
        }
        assert_eq!(
            without_userinfo("https://alice:pw@idp/x?next=a@b"),
            "https://[redacted]@idp/x?next=a@b"
        );
        assert_eq!(without_userinfo("https://idp/x"), "https://idp/x");
    }
}
