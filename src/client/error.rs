use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use reqwest::Url;

/// Longest server-provided text (`error_description`, `token_type`…) kept in an error.
const MAX_SERVER_TEXT: usize = 256;

/// Why no access token could be had.
///
/// Never holds the client secret or a token. Server-provided text (`error_description`,
/// `token_type`) is kept, cut to a bounded length and stripped of control characters, so it
/// can go to a log as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// The authorization server refused the request (RFC 6749 §5.2).
    Rejected(ErrorResponse),
    /// The server issued a token of another type than the one asked for (the value it sent):
    /// not `Bearer` (`DPoP` with a [DPoP key](super::TokenSourceBuilder::dpop)).
    UnsupportedTokenType(String),
    /// DPoP-bound tokens were asked for (the request carried a proof), and the server issued
    /// a `Bearer` token: it does not support DPoP, or not for this client (RFC 9449 §5). The
    /// token is not used: an API that requires DPoP would refuse it, and one that does not
    /// would accept it from anyone who got hold of it, which is what DPoP is asked for to
    /// prevent.
    DpopNotGranted,
    /// The token endpoint could not be reached, timed out, or answered neither a token nor a
    /// §5.2 error (for example HTTP 500, or a body that is not the JSON expected); see
    /// [`EndpointError::kind`].
    Endpoint(EndpointError),
    /// The token endpoint could not be found in the issuer's metadata: the metadata could not
    /// be fetched, or does not name a usable token endpoint.
    Discovery(EndpointError),
    /// The token request ended without an answer (its task was cancelled, for example because
    /// the runtime shut down).
    Aborted,
}

impl TokenError {
    /// The §5.2 error code, when the server refused the request.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Rejected(response) => Some(response.code()),
            _ => None,
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(response) => write!(
                f,
                "the token endpoint {} refused the request: {response}",
                response.url
            ),
            Self::UnsupportedTokenType(kind) => write!(
                f,
                "the token endpoint issued a token of type `{kind}`, not the type asked for"
            ),
            Self::DpopNotGranted => f.write_str(
                "the token endpoint issued a Bearer token to a DPoP token request \
                 (it does not support DPoP, or not for this client)",
            ),
            Self::Endpoint(error) => write!(f, "token endpoint {error}"),
            Self::Discovery(error) => write!(f, "discovery of the token endpoint: {error}"),
            Self::Aborted => f.write_str("the token request was abandoned"),
        }
    }
}

impl StdError for TokenError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Rejected(response) => Some(response),
            Self::Endpoint(error) | Self::Discovery(error) => Some(error),
            Self::UnsupportedTokenType(_) | Self::DpopNotGranted | Self::Aborted => None,
        }
    }
}

/// An error response of the token endpoint (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The endpoint, without query or fragment.
    url: String,
    status: u16,
    code: ErrorCode,
    description: Option<String>,
    uri: Option<String>,
}

impl ErrorResponse {
    pub(crate) fn new(
        url: &Url,
        status: u16,
        code: &str,
        description: Option<&str>,
        uri: Option<&str>,
    ) -> Self {
        Self {
            url: shown_url(url),
            status,
            code: ErrorCode::from(code),
            description: description.map(server_text),
            uri: uri.map(server_text),
        }
    }

    /// The token endpoint that answered, without query or fragment.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The HTTP status of the answer (400, or 401 for `invalid_client`).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// `error`.
    pub fn code(&self) -> &ErrorCode {
        &self.code
    }

    /// `error_description`: a human-readable explanation, if the server gave one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// `error_uri`: a page about the error, if the server gave one.
    pub fn uri(&self) -> Option<&str> {
        self.uri.as_deref()
    }
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(description) = &self.description {
            write!(f, ": {description}")?;
        }
        write!(f, " (HTTP {})", self.status)?;
        if let Some(uri) = &self.uri {
            write!(f, ", see {uri}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorResponse {}

/// The `error` code of a token endpoint's error response (RFC 6749 §5.2, RFC 8707 §2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`: a parameter is missing, repeated or malformed.
    InvalidRequest,
    /// `invalid_client`: client authentication failed (unknown client, wrong secret, or an
    /// authentication method the client may not use).
    InvalidClient,
    /// `invalid_grant`: the grant is invalid, expired or revoked.
    InvalidGrant,
    /// `unauthorized_client`: this client may not use the client credentials grant.
    UnauthorizedClient,
    /// `unsupported_grant_type`: the server does not support the client credentials grant.
    UnsupportedGrantType,
    /// `invalid_scope`: a requested scope is unknown, malformed, or not allowed to this client.
    InvalidScope,
    /// `invalid_target`: a requested `resource` is unknown or not allowed (RFC 8707).
    InvalidTarget,
    /// `invalid_dpop_proof`: the DPoP proof of the token request was refused (RFC 9449 §5).
    InvalidDpopProof,
    /// `use_dpop_nonce`: the server wants its nonce in the DPoP proof (RFC 9449 §8). The
    /// token source retries once with it by itself; this is seen only when that failed too.
    UseDpopNonce,
    /// Any other code, as sent (cut to a bounded length).
    Other(String),
}

impl ErrorCode {
    /// The code as it is written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::Other(code) => code,
        }
    }
}

impl From<&str> for ErrorCode {
    fn from(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "invalid_target" => Self::InvalidTarget,
            "invalid_dpop_proof" => Self::InvalidDpopProof,
            "use_dpop_nonce" => Self::UseDpopNonce,
            other => Self::Other(server_text(other)),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of a [`Bearer`](super::Bearer) service: no token could be had, or the inner
/// service failed.
///
/// A token error has no response to stand for (the request was never sent), so it is the
/// service's error. HTTP answers of the called API, 401 included, are responses, not errors.
#[derive(Debug)]
#[non_exhaustive]
pub enum BearerError<E> {
    /// No access token could be obtained; the request was not sent.
    Token(TokenError),
    /// The inner service failed.
    Service(E),
    /// The request URI is not an absolute `http` or `https` URL, and it has to be: the token
    /// is DPoP-bound (the proof names the URL, `htu`), or the layer chooses its token by the
    /// request's origin ([`BearerLayer::by_origin`](super::BearerLayer::by_origin)). The
    /// request was not sent.
    RelativeUri,
    /// The layer chooses its token by origin
    /// ([`BearerLayer::by_origin`](super::BearerLayer::by_origin)) and has none for the
    /// request's origin (shown): the request was not sent, rather than sent with another API's
    /// token or none.
    UnknownOrigin(String),
}

impl<E> BearerError<E> {
    /// The token error, if that is what this is.
    pub fn token_error(&self) -> Option<&TokenError> {
        match self {
            Self::Token(error) => Some(error),
            Self::Service(_) | Self::RelativeUri | Self::UnknownOrigin(_) => None,
        }
    }

    /// The inner service's error, if that is what this is.
    pub fn into_service_error(self) -> Option<E> {
        match self {
            Self::Service(error) => Some(error),
            Self::Token(_) | Self::RelativeUri | Self::UnknownOrigin(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for BearerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(error) => write!(f, "no access token: {error}"),
            Self::Service(error) => fmt::Display::fmt(error, f),
            Self::RelativeUri => f.write_str(
                "the request URI is relative; a DPoP proof, and a layer that picks its token by \
                 origin, need the absolute http(s) URL",
            ),
            Self::UnknownOrigin(origin) => write!(
                f,
                "no token source is configured for {origin}; the request was not sent"
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BearerError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Token(error) => Some(error),
            Self::Service(error) => error.source(),
            Self::RelativeUri | Self::UnknownOrigin(_) => None,
        }
    }
}

/// Why the token endpoint, or the issuer's metadata, gave no usable answer.
///
/// Holds what is needed to act on it: its [`kind`](Self::kind), the [`url`](Self::url) asked
/// (never with a user name, password, query or fragment), the HTTP [`status`](Self::status)
/// when an answer came, and the underlying error (reqwest's, without its URL) as
/// [`source`](StdError::source). `Display` shows the URL, the kind, the status and the root
/// cause (`Connection refused`, the TLS alert…), never a secret, an assertion or a token: none
/// of them is in a URL, and no request or response body is kept.
#[derive(Debug, Clone)]
pub struct EndpointError {
    kind: EndpointErrorKind,
    url: String,
    status: Option<u16>,
    detail: Option<&'static str>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

/// What kind of failure an [`EndpointError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndpointErrorKind {
    /// No connection: the name did not resolve, the connection was refused or reset, a proxy
    /// failed.
    Unreachable,
    /// The TLS handshake failed: a certificate not trusted or for another name, no common
    /// protocol version… (recognized with rustls, the TLS of this crate's reqwest).
    Tls,
    /// No complete answer within the timeout (connecting included).
    Timeout,
    /// An HTTP status that is neither success nor an RFC 6749 §5.2 error: a 500, a 404, a
    /// redirect (never followed).
    Status,
    /// The answer came from another URL than the one asked: the HTTP client given with
    /// [`http_client`](super::TokenSourceBuilder::http_client) followed a redirect. The answer
    /// is not used.
    Redirected,
    /// The answer is larger than [`MAX_RESPONSE_BYTES`](super::defaults::MAX_RESPONSE_BYTES).
    TooLarge,
    /// The answer is not what was expected: not JSON, no `access_token`, metadata of another
    /// issuer…; [`EndpointError::detail`] says what.
    Invalid,
}

impl EndpointError {
    pub(crate) fn new(kind: EndpointErrorKind, url: &Url) -> Self {
        Self {
            kind,
            url: shown_url(url),
            status: None,
            detail: None,
            source: None,
        }
    }

    /// A failure of reqwest: connecting, TLS, a timeout, or reading the body.
    pub(crate) fn from_reqwest(url: &Url, error: reqwest::Error) -> Self {
        let kind = if error.is_timeout() {
            EndpointErrorKind::Timeout
        } else if is_tls(&error) {
            EndpointErrorKind::Tls
        } else {
            EndpointErrorKind::Unreachable
        };
        let mut this = Self::new(kind, url);
        this.status = error.status().map(|s| s.as_u16());
        // Its Display would show the URL with its query.
        this.source = Some(Arc::new(error.without_url()));
        this
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub(crate) fn with_detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> EndpointErrorKind {
        self.kind
    }

    /// The URL asked, without user name, password, query or fragment.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The HTTP status of the answer, when one came.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// For [`EndpointErrorKind::Invalid`]: what was wrong with the answer.
    pub fn detail(&self) -> Option<&str> {
        self.detail
    }
}

impl PartialEq for EndpointError {
    /// Equal when of the same kind, for the same URL, with the same status and detail (the
    /// sources are not compared).
    fn eq(&self, other: &Self) -> bool {
        (self.kind, &self.url, self.status, self.detail)
            == (other.kind, &other.url, other.status, other.detail)
    }
}

impl Eq for EndpointError {}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.url)?;
        match self.kind {
            EndpointErrorKind::Unreachable => f.write_str("unreachable")?,
            EndpointErrorKind::Tls => f.write_str("TLS handshake failed")?,
            EndpointErrorKind::Timeout => f.write_str("timed out")?,
            EndpointErrorKind::Status => f.write_str("unexpected answer")?,
            EndpointErrorKind::Redirected => f.write_str(
                "redirected elsewhere (the HTTP client given follows redirects; build it with \
                 `redirect::Policy::none()`)",
            )?,
            EndpointErrorKind::TooLarge => f.write_str("answer too large")?,
            EndpointErrorKind::Invalid => f.write_str("invalid answer")?,
        }
        if let Some(detail) = self.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(source) = &self.source {
            let source: &(dyn StdError + 'static) = source.as_ref();
            write!(f, ": {}", root_cause(source))?;
        }
        Ok(())
    }
}

impl StdError for EndpointError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|error| error as &(dyn StdError + 'static))
    }
}

/// The innermost error of a chain (`Connection refused (os error 111)`, a TLS alert).
fn root_cause<'a>(error: &'a (dyn StdError + 'static)) -> &'a (dyn StdError + 'static) {
    let mut error = error;
    while let Some(source) = error.source() {
        error = source;
    }
    error
}

/// Whether a rustls error is somewhere in `error`'s chain. rustls reports through
/// `std::io::Error`s (nested: hyper-rustls wraps tokio-rustls's), whose `source` skips the error
/// each wraps: look inside each one.
fn is_tls(error: &reqwest::Error) -> bool {
    let mut next: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(error) = next {
        let mut inner: &(dyn StdError + 'static) = error;
        loop {
            if inner.is::<rustls::Error>() {
                return true;
            }
            match inner
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
            {
                Some(wrapped) => inner = wrapped,
                None => break,
            }
        }
        next = error.source();
    }
    false
}

/// `url` as errors show it: without user name, password, query or fragment.
pub(crate) fn shown_url(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    // Cannot fail for http(s) URLs, the only ones here.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.into()
}

/// Server-provided text made safe to log: bounded, no control characters.
pub(crate) fn server_text(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_SERVER_TEXT)
        .collect();
    if text.chars().count() > MAX_SERVER_TEXT {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in [
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
            "invalid_target",
            "invalid_dpop_proof",
            "use_dpop_nonce",
            "slow_down",
        ] {
            assert_eq!(ErrorCode::from(code).as_str(), code);
        }
        assert_eq!(
            ErrorCode::from("slow_down"),
            ErrorCode::Other("slow_down".into())
        );
    }

    #[test]
    fn display_of_a_refusal() {
        let url = Url::parse("https://u:p@idp.example.com/token?tenant=x#f").unwrap();
        let error = TokenError::Rejected(ErrorResponse::new(
            &url,
            401,
            "invalid_client",
            Some("Client authentication failed\r\nX-Injected: 1"),
            None,
        ));
        assert_eq!(
            error.to_string(),
            "the token endpoint https://idp.example.com/token refused the request: \
             invalid_client: Client authentication failed  X-Injected: 1 (HTTP 401)"
        );
        assert_eq!(error.code(), Some(&ErrorCode::InvalidClient));
        let long = "x".repeat(1000);
        let response = ErrorResponse::new(&url, 400, &long, None, Some("https://e/x"));
        assert_eq!(
            response.code().as_str().chars().count(),
            MAX_SERVER_TEXT + 1
        );
        assert!(
            response
                .to_string()
                .ends_with("(HTTP 400), see https://e/x")
        );
    }
}
