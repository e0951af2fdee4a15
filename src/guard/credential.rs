//! Getting the credential out of a request (RFC 6750 §2, RFC 9110 §11.6.2).
//!
//! The `Authorization: Bearer` header is always read, and first. By default it is the only
//! place a token is taken from; a guard can read more with
//! [`GuardLayer::token_source`](crate::GuardLayer::token_source) and a [`TokenSource`]: a
//! cookie, a custom header, the form body (§2.2), or the query string of websocket upgrades
//! (§2.3). A token found in two places at once is refused with `invalid_request` (§3.1), never
//! picked silently; so is a query-string `access_token` wherever the query source does not
//! apply, so that a client that leaks its token into URLs learns about it at once. A token
//! found in a header borrows from the request: nothing is copied.
//!
//! ```
//! use bearer_guard::token::{extract, Credential};
//! use http::Request;
//!
//! let req = Request::get("/").header("authorization", "bearer abc.def.ghi").body(()).unwrap();
//! let Some(Credential::Bearer(token)) = extract(&req).unwrap() else { panic!() };
//! assert_eq!(token, "abc.def.ghi");
//! ```
//!
//! [`extract_with`] reads the sources a guard is configured with:
//!
//! ```
//! use bearer_guard::token::{extract_with, TokenSource, TokenSources};
//! use bearer_guard::ErrorKind;
//! use http::Request;
//!
//! let sources = TokenSources::new().with(TokenSource::cookie("access_token"))?;
//! let req = Request::get("/")
//!     .header("cookie", "theme=dark; access_token=abc.def.ghi")
//!     .body(())
//!     .unwrap();
//! assert_eq!(extract_with(&req, &sources).unwrap().unwrap().token(), "abc.def.ghi");
//!
//! // The same token in the Authorization header as well: two methods at once.
//! let req = Request::get("/")
//!     .header("authorization", "Bearer abc.def.ghi")
//!     .header("cookie", "access_token=abc.def.ghi")
//!     .body(())
//!     .unwrap();
//! assert_eq!(extract_with(&req, &sources).unwrap_err().kind(), ErrorKind::InvalidRequest);
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONNECTION, COOKIE, UPGRADE};
use http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};

use crate::error::{AuthError, ConfigError, ErrorKind};
use crate::guard::form::{FormBodyToken, FormState};

/// A credential found in a request, with its scheme.
///
/// [`extract`] finds `Bearer` credentials only; a guard with DPoP on
/// ([`GuardLayer::dpop`](crate::GuardLayer::dpop)) also finds `DPoP` ones.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential<'a> {
    /// `Authorization: Bearer <token>`, or a token from an enabled [`TokenSource`].
    Bearer(&'a str),
    /// `Authorization: DPoP <token>` (RFC 9449 §7.1): the proof is in the `DPoP` header.
    Dpop(&'a str),
}

impl<'a> Credential<'a> {
    /// The access token.
    pub fn token(&self) -> &'a str {
        match *self {
            Self::Bearer(token) | Self::Dpop(token) => token,
        }
    }
}

impl std::fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer([redacted])"),
            Self::Dpop(_) => f.write_str("Dpop([redacted])"),
        }
    }
}

/// Finds the bearer credential of a request.
///
/// - `Ok(Some(_))`: exactly one well-formed `Authorization: Bearer` header.
/// - `Ok(None)`: no credential, or another scheme (`Basic …`): answered 401 without `error`.
/// - `Err(_)` with [`ErrorKind::InvalidRequest`]: several `Authorization` headers, a `Bearer`
///   credential that does not follow the b64token grammar, or an `access_token` query parameter.
///
/// Reads the `Authorization` header only; [`extract_with`] reads other sources as well.
pub fn extract<B>(request: &Request<B>) -> Result<Option<Credential<'_>>, AuthError> {
    extract_parts(request.headers(), request.uri())
}

/// [`extract`] on the parts of a request.
pub fn extract_parts<'a>(
    headers: &'a HeaderMap,
    uri: &Uri,
) -> Result<Option<Credential<'a>>, AuthError> {
    if uri.query().is_some_and(has_access_token_param) {
        return Err(ErrorKind::InvalidRequest.into());
    }
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ErrorKind::InvalidRequest.into());
    }
    parse_authorization(value.as_bytes(), false)
}

/// Finds the bearer token of a request in the `Authorization` header and in `sources`, as a
/// [`GuardLayer`](crate::GuardLayer) configured with them does.
///
/// - `Ok(Some(_))`: exactly one token, well-formed, in exactly one place.
/// - `Ok(None)`: no token anywhere that is read (a disabled source is not looked at).
/// - `Err(_)` with [`ErrorKind::InvalidRequest`]: what [`extract`] refuses; a token in two
///   places at once; a malformed value in an enabled source (not b64token, a cookie named
///   twice, a custom header sent twice, a form body that is not ASCII); an `access_token`
///   query parameter on a request that is not a websocket upgrade, or when
///   [`TokenSource::websocket_query`] is not enabled.
/// - `Err(_)` with [`ErrorKind::FormLayerMissing`]: [`TokenSource::form_body`] is enabled but
///   no [`FormTokenLayer`](crate::FormTokenLayer) saw the request.
pub fn extract_with<'a, B>(
    request: &'a Request<B>,
    sources: &TokenSources,
) -> Result<Option<Extracted<'a>>, AuthError> {
    find(
        request.method(),
        request.uri(),
        request.headers(),
        request.extensions(),
        sources,
        &mut |_| false,
    )
}

// ---------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------

/// A place besides the `Authorization` header where a guard looks for the access token;
/// enabled with [`GuardLayer::token_source`](crate::GuardLayer::token_source).
///
/// The `Authorization: Bearer` header is always read, and first. A request that carries a
/// token in two places (the header and a cookie, a cookie and a custom header…) is refused
/// with 400 `invalid_request` (RFC 6750 §3.1), whatever the tokens. A source that is not
/// enabled is not looked at, except the query string: an `access_token` query parameter is
/// refused with 400 wherever [`websocket_query`](Self::websocket_query) does not apply.
///
/// The constructors take any name; names are checked when the source is added (by
/// [`GuardLayer::token_source`](crate::GuardLayer::token_source) or
/// [`TokenSources::with`]), which also refuses a source added twice, so that every mistake
/// surfaces in the one place a guard is configured.
///
/// ```
/// use bearer_guard::{GuardLayer, TokenSource, Validator};
///
/// # fn build(validator: Validator) -> Result<GuardLayer, bearer_guard::ConfigError> {
/// let guard = GuardLayer::new(validator)
///     .token_source(TokenSource::cookie("__Host-access_token"))?
///     .token_source(TokenSource::header("X-Access-Token"))?;
/// # Ok(guard) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenSource {
    /// A cookie whose value is the token; see [`TokenSource::cookie`].
    #[non_exhaustive]
    Cookie {
        /// The cookie's name, compared case-sensitively.
        name: String,
    },
    /// A header whose whole value is the token; see [`TokenSource::header`].
    #[non_exhaustive]
    Header {
        /// The header's name, compared case-insensitively.
        name: String,
    },
    /// The `access_token` field of a form body; see [`TokenSource::form_body`].
    FormBody,
    /// The `access_token` query parameter of websocket upgrades; see
    /// [`TokenSource::websocket_query`].
    WebSocketQuery,
}

impl TokenSource {
    /// The cookie `name` (an RFC 6265 token such as `access_token` or `__Host-token`,
    /// compared case-sensitively). The cookie's value is the token, in DQUOTEs or not.
    ///
    /// Every `Cookie` header is read (HTTP/2 clients may split cookies over several); pairs
    /// are separated by `;` with optional spaces around names and values. The cookie sent
    /// twice (as browsers do when cookies of one name are set for two paths or domains), an
    /// empty value, or a value outside the b64token grammar: 400 `invalid_request`.
    ///
    /// A cookie is sent by the browser on its own, so a route that accepts one needs CSRF
    /// protection for anything that changes state; the `Authorization` header does not.
    pub fn cookie(name: impl Into<String>) -> Self {
        Self::Cookie { name: name.into() }
    }

    /// The header `name` (such as `X-Access-Token`), whose whole value, without a scheme, is
    /// the token (spaces around it are ignored). Sent twice, empty, or not a b64token: 400
    /// `invalid_request`. It cannot be `Authorization` (always read) or `Cookie` (use
    /// [`cookie`](Self::cookie)).
    pub fn header(name: impl Into<String>) -> Self {
        Self::Header { name: name.into() }
    }

    /// The `access_token` field of an `application/x-www-form-urlencoded` body (RFC 6750
    /// §2.2), on `POST` requests only. A guard cannot read bodies itself: a
    /// [`FormTokenLayer`](crate::FormTokenLayer) must run in front of it, or the guard answers
    /// every request with 500 ([`ErrorKind::FormLayerMissing`]).
    ///
    /// The field sent twice, a body that is not ASCII, or a value that does not decode to a
    /// b64token: 400 `invalid_request`. A `+` in a form value is a space: a token with `+`
    /// must be sent as `%2B`.
    pub fn form_body() -> Self {
        Self::FormBody
    }

    /// The `access_token` query parameter (RFC 6750 §2.3), on websocket upgrade requests only
    /// (`GET` with `Connection: upgrade` and `Upgrade: websocket`, RFC 6455 §4.1), where
    /// browsers cannot set headers. On any other request the parameter is still refused with
    /// 400 `invalid_request`; so are websockets over HTTP/2 (RFC 8441's extended `CONNECT`),
    /// which are not recognized as upgrades.
    ///
    /// Tokens in URLs leak: into access logs, proxy and load-balancer logs, browser history
    /// and error reports. Issue short-lived tokens for these connections, keep the query
    /// string out of your own logs, and prefer a cookie where one can be used.
    pub fn websocket_query() -> Self {
        Self::WebSocketQuery
    }

    /// The source in a [`ConfigError`]: `cookie "name"`, `header "name"`, `form body`….
    fn describe(&self) -> String {
        match self {
            Self::Cookie { name } => format!("cookie {name:?}"),
            Self::Header { name } => format!("header {name:?}"),
            Self::FormBody => "form body".to_owned(),
            Self::WebSocketQuery => "websocket query".to_owned(),
        }
    }
}

/// The places a guard reads tokens from: always the `Authorization` header, and the
/// [`TokenSource`]s added. Each source is checked as it is added.
///
/// [`GuardLayer::token_source`](crate::GuardLayer::token_source) fills the guard's own; this
/// type is for [`extract_with`], outside a guard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct TokenSources {
    cookies: Vec<String>,
    headers: Vec<HeaderName>,
    form_body: bool,
    websocket_query: bool,
    /// `Authorization: DPoP` is read too (a guard with DPoP allowed or required).
    pub(crate) dpop: bool,
}

impl TokenSources {
    /// The `Authorization` header alone.
    pub fn new() -> Self {
        Self::default()
    }

    /// These sources and `source`.
    ///
    /// # Errors
    /// [`ConfigError::InvalidTokenSource`] (setting `token_source`) for a cookie name that is
    /// not an RFC 6265 token, a header name that is not a valid field name, the header
    /// `Authorization` (always read) or `Cookie`, and a source that is there already.
    pub fn with(mut self, source: TokenSource) -> Result<Self, ConfigError> {
        self.add(source)?;
        Ok(self)
    }

    pub(crate) fn add(&mut self, source: TokenSource) -> Result<(), ConfigError> {
        let refuse = |problem| ConfigError::InvalidTokenSource {
            setting: "token_source",
            value: source.describe(),
            problem,
        };
        let twice = "is configured twice";
        match &source {
            TokenSource::Cookie { name } => {
                if name.is_empty() || !name.bytes().all(is_tchar) {
                    return Err(refuse("is not a valid cookie name (an RFC 6265 token)"));
                }
                if self.cookies.contains(name) {
                    return Err(refuse(twice));
                }
                self.cookies.push(name.clone());
            }
            TokenSource::Header { name } => {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| refuse("is not a valid header name"))?;
                if name == AUTHORIZATION {
                    return Err(refuse("is always read first: it needs no token source"));
                }
                if name == COOKIE {
                    return Err(refuse("holds cookies: use TokenSource::cookie"));
                }
                if self.headers.contains(&name) {
                    return Err(refuse(twice));
                }
                self.headers.push(name);
            }
            TokenSource::FormBody if self.form_body => return Err(refuse(twice)),
            TokenSource::FormBody => self.form_body = true,
            TokenSource::WebSocketQuery if self.websocket_query => return Err(refuse(twice)),
            TokenSource::WebSocketQuery => self.websocket_query = true,
        }
        Ok(())
    }
}

/// `tchar` (RFC 9110 §5.6.2), the characters of an RFC 6265 cookie-name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

// ---------------------------------------------------------------------------------------------
// What was found
// ---------------------------------------------------------------------------------------------

/// A token found by [`extract_with`], borrowed from the request where it can be.
///
/// Its `Debug` never shows the token.
pub struct Extracted<'a> {
    repr: Repr<'a>,
    /// Found as `Authorization: DPoP`.
    dpop: bool,
}

enum Repr<'a> {
    /// A slice of a header value: the tail of `Authorization`, a cookie's value, a custom
    /// header's value. `token` is `value[start..start + token.len()]`.
    Value {
        value: &'a HeaderValue,
        start: usize,
        token: &'a str,
    },
    /// The tail of an `Authorization` value from `start` on, which [`find`]'s `known` found
    /// byte for byte equal to a token that passed validation: ASCII, so never scanned again.
    Known {
        value: &'a HeaderValue,
        start: usize,
    },
    /// The form body's field, as the form layer stored it: `bytes` is exactly `token`.
    Bytes { bytes: &'a Bytes, token: &'a str },
    /// The query parameter, percent-decoded if it had to be.
    Query(Cow<'a, str>),
}

impl<'a> Extracted<'a> {
    fn in_value(value: &'a HeaderValue, start: usize, end: usize) -> Result<Self, AuthError> {
        let raw = &value.as_bytes()[start..end];
        let token = as_token(raw)?;
        Ok(Self {
            repr: Repr::Value {
                value,
                start,
                token,
            },
            dpop: false,
        })
    }

    /// The token.
    pub fn token(&self) -> &str {
        match &self.repr {
            Repr::Value { token, .. } | Repr::Bytes { token, .. } => token,
            Repr::Query(token) => token,
            // Equal to a validated token, so ASCII: this cannot fail. Read only where a
            // known token is looked at again (a DPoP proof's `ath`), never on a plain hit.
            Repr::Known { value, start } => {
                std::str::from_utf8(&value.as_bytes()[*start..]).unwrap_or_default()
            }
        }
    }

    /// Whether it was found as `Authorization: DPoP`.
    pub(crate) fn is_dpop(&self) -> bool {
        self.dpop
    }

    /// The token as a [`Credential`].
    pub fn credential(&self) -> Credential<'_> {
        match self.dpop {
            true => Credential::Dpop(self.token()),
            false => Credential::Bearer(self.token()),
        }
    }

    /// The token, owned without copying where it can be: a clone of the header value it is
    /// part of (which shares its bytes), or of the form layer's buffer.
    pub(crate) fn to_owned_token(&self) -> OwnedToken {
        match &self.repr {
            Repr::Value {
                value,
                start,
                token,
            } => OwnedToken::Value {
                value: (*value).clone(),
                start: *start,
                len: token.len(),
            },
            Repr::Known { value, start } => OwnedToken::Value {
                value: (*value).clone(),
                start: *start,
                len: value.len() - start,
            },
            Repr::Bytes { bytes, .. } => OwnedToken::Bytes((*bytes).clone()),
            Repr::Query(token) => OwnedToken::Text(token.clone().into_owned()),
        }
    }
}

impl fmt::Debug for Extracted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Extracted([redacted])")
    }
}

/// A token the validation future owns. Its `Debug` never shows the token.
pub(crate) enum OwnedToken {
    Value {
        value: HeaderValue,
        start: usize,
        len: usize,
    },
    Bytes(Bytes),
    Text(String),
}

impl OwnedToken {
    /// The token; it was checked when found, so `None` cannot happen.
    pub(crate) fn as_str(&self) -> Option<&str> {
        let bytes = match self {
            Self::Value { value, start, len } => value.as_bytes().get(*start..start + len)?,
            Self::Bytes(bytes) => bytes,
            Self::Text(text) => return Some(text),
        };
        std::str::from_utf8(bytes).ok()
    }
}

impl fmt::Debug for OwnedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnedToken([redacted])")
    }
}

// ---------------------------------------------------------------------------------------------
// Finding it
// ---------------------------------------------------------------------------------------------

/// The guard's extraction: the `Authorization` header, then every enabled source.
///
/// `known` is asked about the token of an `Authorization` header before its alphabet is
/// scanned: a token it knows (byte for byte a token that passed validation) is well-formed
/// already, so the scan, the longest step of a cached request, is skipped, and so is the
/// conversion to `&str` (until [`Extracted::token`] asks for it). Every other check runs
/// whatever it answers.
pub(crate) fn find<'a>(
    method: &Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
    sources: &TokenSources,
    known: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<Option<Extracted<'a>>, AuthError> {
    let form = match sources.form_body {
        false => None,
        true => match extensions.get::<FormBodyToken>() {
            Some(form) => Some(form),
            None => {
                form_layer_missing();
                return Err(ErrorKind::FormLayerMissing.into());
            }
        },
    };
    let query = match uri.query() {
        Some(query) if has_access_token_param(query) => {
            if !(sources.websocket_query && is_websocket_upgrade(method, headers)) {
                return Err(ErrorKind::InvalidRequest.into());
            }
            Some(query)
        }
        _ => None,
    };
    let mut found = authorization(headers, sources.dpop, known)?;
    for name in &sources.headers {
        one_more(&mut found, custom_header(headers, name)?, "header")?;
    }
    for name in &sources.cookies {
        one_more(&mut found, cookie(headers, name)?, "cookie")?;
    }
    if let Some(form) = form {
        one_more(&mut found, form_token(form)?, "form body")?;
    }
    if let Some(query) = query {
        one_more(&mut found, Some(query_token(query)?), "websocket query")?;
    }
    Ok(found)
}

/// Adds a token found in another place to what was found so far: two are one too many.
fn one_more<'a>(
    found: &mut Option<Extracted<'a>>,
    another: Option<Extracted<'a>>,
    source: &'static str,
) -> Result<(), AuthError> {
    if let Some(another) = another {
        if found.is_some() {
            tracing::debug!(
                source,
                "a token was sent in more than one place (RFC 6750 §3.1)"
            );
            return Err(ErrorKind::InvalidRequest.into());
        }
        *found = Some(another);
    }
    Ok(())
}

/// A present but malformed value in an enabled source.
fn malformed(source: &'static str, why: &'static str) -> AuthError {
    tracing::debug!(source, why, "malformed token source");
    ErrorKind::InvalidRequest.into()
}

fn authorization<'a>(
    headers: &'a HeaderMap,
    dpop: bool,
    known: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<Option<Extracted<'a>>, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ErrorKind::InvalidRequest.into());
    }
    let Some((token, dpop)) = scan_authorization(value.as_bytes(), dpop, known)? else {
        return Ok(None);
    };
    // The token is the tail of the value.
    let repr = match token {
        Scanned::Checked(token) => Repr::Value {
            value,
            start: value.len() - token.len(),
            token,
        },
        Scanned::Known(token) => Repr::Known {
            value,
            start: value.len() - token.len(),
        },
    };
    Ok(Some(Extracted { repr, dpop }))
}

fn custom_header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<Extracted<'a>>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(malformed("header", "sent more than once"));
    }
    let (start, end) = trim(value.as_bytes(), 0, value.len());
    Extracted::in_value(value, start, end)
        .map(Some)
        .map_err(|_| malformed("header", "not a b64token"))
}

/// The value of cookie `name` in every `Cookie` header (RFC 6265 §4.2.1, read leniently:
/// spaces around names and values are skipped, pairs without `=` ignored).
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<Extracted<'a>>, AuthError> {
    let mut found = None;
    for value in headers.get_all(COOKIE) {
        let bytes = value.as_bytes();
        let mut start = 0;
        while start <= bytes.len() {
            let end = bytes[start..]
                .iter()
                .position(|&b| b == b';')
                .map_or(bytes.len(), |i| start + i);
            if let Some(eq) = bytes[start..end].iter().position(|&b| b == b'=') {
                let (name_start, name_end) = trim(bytes, start, start + eq);
                if &bytes[name_start..name_end] == name.as_bytes() {
                    if found.is_some() {
                        return Err(malformed("cookie", "sent more than once"));
                    }
                    let (mut value_start, mut value_end) = trim(bytes, start + eq + 1, end);
                    if value_end - value_start >= 2
                        && bytes[value_start] == b'"'
                        && bytes[value_end - 1] == b'"'
                    {
                        value_start += 1;
                        value_end -= 1;
                    }
                    found = Some(
                        Extracted::in_value(value, value_start, value_end)
                            .map_err(|_| malformed("cookie", "not a b64token"))?,
                    );
                }
            }
            start = end + 1;
        }
    }
    Ok(found)
}

fn form_token(form: &FormBodyToken) -> Result<Option<Extracted<'_>>, AuthError> {
    match &form.0 {
        FormState::Absent => Ok(None),
        FormState::Malformed(why) => Err(malformed("form body", why)),
        FormState::Token(bytes) => {
            let token = as_token(bytes).map_err(|_| malformed("form body", "not a b64token"))?;
            Ok(Some(Extracted {
                repr: Repr::Bytes { bytes, token },
                dpop: false,
            }))
        }
    }
}

/// The one `access_token` parameter of a query that has one.
fn query_token(query: &str) -> Result<Extracted<'_>, AuthError> {
    let mut values = query.split('&').filter_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == "access_token").then_some(value)
    });
    let value = values.next().unwrap_or_default();
    if values.next().is_some() {
        return Err(malformed("websocket query", "sent more than once"));
    }
    let not_a_token = || malformed("websocket query", "not a b64token");
    let decoded = form_decode(value.as_bytes()).ok_or_else(not_a_token)?;
    if !is_b64token(&decoded) {
        return Err(not_a_token());
    }
    // Only b64token characters, so ASCII.
    let token = match decoded {
        Cow::Borrowed(_) => Cow::Borrowed(value),
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8(bytes).map_err(|_| not_a_token())?),
    };
    Ok(Extracted {
        repr: Repr::Query(token),
        dpop: false,
    })
}

/// A GET that asks for a websocket (RFC 6455 §4.1): `Connection` lists `upgrade` and
/// `Upgrade` lists `websocket`, case-insensitively.
fn is_websocket_upgrade(method: &Method, headers: &HeaderMap) -> bool {
    let lists = |name, wanted: &[u8]| {
        headers.get_all(name).iter().any(|value| {
            value.as_bytes().split(|&b| b == b',').any(|item| {
                let (start, end) = trim(item, 0, item.len());
                item[start..end].eq_ignore_ascii_case(wanted)
            })
        })
    };
    method == Method::GET && lists(CONNECTION, b"upgrade") && lists(UPGRADE, b"websocket")
}

/// `bytes[start..end]` without spaces and tabs around it, as `(start, end)`.
fn trim(bytes: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && matches!(bytes[start], b' ' | b'\t') {
        start += 1;
    }
    while end > start && matches!(bytes[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    (start, end)
}

/// Decodes one name or value of `application/x-www-form-urlencoded` text: `+` is a space,
/// `%XX` a byte. `None` for a `%` not followed by two hex digits. Borrows when nothing is
/// encoded, as in every JWT.
pub(crate) fn form_decode(input: &[u8]) -> Option<Cow<'_, [u8]>> {
    if !input.iter().any(|&b| b == b'%' || b == b'+') {
        return Some(Cow::Borrowed(input));
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let high = hex(*input.get(i + 1)?)?;
                let low = hex(*input.get(i + 2)?)?;
                out.push((high << 4) | low);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(Cow::Owned(out))
}

/// A b64token as a `&str`.
fn as_token(raw: &[u8]) -> Result<&str, AuthError> {
    if !is_b64token(raw) {
        return Err(ErrorKind::InvalidRequest.into());
    }
    // All bytes are ASCII by now, so this cannot fail; it is the safe way to a `&str`.
    std::str::from_utf8(raw).map_err(|_| ErrorKind::InvalidRequest.into())
}

/// The guard reads form bodies but no form layer saw the request: a server error, said once
/// per process.
fn form_layer_missing() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::error!(
            "GuardLayer reads tokens from form bodies (TokenSource::form_body) but found no \
             FormTokenLayer in front of it, and answers 500: add FormTokenLayer outside the \
             guard (in axum, `.route_layer(GuardLayer::new(…)…)` then \
             `.route_layer(FormTokenLayer::new())`; with tower's ServiceBuilder, \
             `.layer(FormTokenLayer::new())` before the guard's `.layer(…)`)"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// The Authorization header
// ---------------------------------------------------------------------------------------------

/// Parses one `Authorization` field value: `Bearer <token>`, or with `dpop` also
/// `DPoP <token>` (the same token68-like grammar), with no cache to ask: every token is
/// scanned.
fn parse_authorization(value: &[u8], dpop: bool) -> Result<Option<Credential<'_>>, AuthError> {
    let Some((token, is_dpop)) = scan_authorization(value, dpop, &mut |_| false)? else {
        return Ok(None);
    };
    let token = match token {
        Scanned::Checked(token) => token,
        // Nothing is known without a cache: never taken.
        Scanned::Known(_) => return Err(ErrorKind::InvalidRequest.into()),
    };
    Ok(Some(match is_dpop {
        true => Credential::Dpop(token),
        false => Credential::Bearer(token),
    }))
}

/// A token as read from `Authorization`.
enum Scanned<'v> {
    /// A b64token (so ASCII), as a `&str`.
    Checked(&'v str),
    /// What `known` recognized: byte for byte a token that passed validation, which is
    /// proof enough that it is a b64token, so neither scanned nor converted.
    Known(&'v [u8]),
}

/// Parses one `Authorization` field value into its token and whether the scheme is DPoP.
///
/// This runs on every request over a value of about a kilobyte, so the token is checked in
/// one branch-free pass (which the compiler vectorizes) instead of a `to_str` pass followed
/// by a grammar pass, and not at all when `known` recognizes it (see [`find`]).
fn scan_authorization<'v>(
    value: &'v [u8],
    dpop: bool,
    known: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<Option<(Scanned<'v>, bool)>, AuthError> {
    let invalid = || AuthError::new(ErrorKind::InvalidRequest);
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &[][..]),
    };
    let is_dpop = dpop && scheme.eq_ignore_ascii_case(b"dpop");
    if !is_dpop && !scheme.eq_ignore_ascii_case(b"bearer") {
        // Another scheme is no bearer credential, but a header that is not visible ASCII is
        // malformed whatever its scheme.
        return match value
            .iter()
            .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            true => Ok(None),
            false => Err(invalid()),
        };
    }
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    let token = &rest[spaces..];
    if known(token) {
        return Ok(Some((Scanned::Known(token), is_dpop)));
    }
    if !is_b64token(token) {
        return Err(invalid());
    }
    // All bytes are ASCII by now, so this cannot fail; it is the safe way to a `&str`.
    std::str::from_utf8(token)
        .map(|token| Some((Scanned::Checked(token), is_dpop)))
        .map_err(|_| invalid())
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1).
fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    // `fold` with `&` rather than `all`: no early exit, so the loop vectorizes.
    !body.is_empty() && body.iter().fold(true, |ok, &b| ok & is_b64token_char(b))
}

fn is_b64token_char(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    // `-`, `.`, `/` and the digits are one run of ASCII, 0x2D to 0x39: one comparison.
    let dash_dot_slash_digit = b.wrapping_sub(b'-') <= b'9' - b'-';
    letter | dash_dot_slash_digit | (b == b'_') | (b == b'~') | (b == b'+')
}

fn has_access_token_param(query: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair.split('=').next() == Some("access_token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_token_is_not_scanned_yet_reads_the_same() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer  a.b.c"));
        let (uri, extensions) = (Uri::from_static("/"), Extensions::new());
        for known in [true, false] {
            let found = find(
                &Method::GET,
                &uri,
                &headers,
                &extensions,
                &TokenSources::default(),
                &mut |token| known && token == b"a.b.c",
            )
            .expect("well-formed")
            .expect("found");
            assert_eq!(matches!(found.repr, Repr::Known { .. }), known);
            assert!(!found.is_dpop());
            assert_eq!(found.token(), "a.b.c");
            assert_eq!(found.credential(), Credential::Bearer("a.b.c"));
            assert_eq!(found.to_owned_token().as_str(), Some("a.b.c"));
        }
    }

    fn parse(value: &str) -> Result<Option<&str>, ErrorKind> {
        parse_authorization(value.as_bytes(), false)
            .map(|c| c.map(|c| c.token()))
            .map_err(|e| e.kind())
    }

    #[test]
    fn dpop_is_read_only_when_the_guard_accepts_it() {
        for scheme in ["DPoP", "dpop", "DPOP"] {
            let value = format!("{scheme} a.b.c");
            assert_eq!(parse(&value), Ok(None), "another scheme when off");
            let found = parse_authorization(value.as_bytes(), true).unwrap();
            assert_eq!(found, Some(Credential::Dpop("a.b.c")));
        }
        let bearer = parse_authorization(b"Bearer a.b.c", true).unwrap();
        assert_eq!(bearer, Some(Credential::Bearer("a.b.c")));
        assert_eq!(
            parse_authorization(b"DPoP a b", true).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            format!("{:?}", Credential::Dpop("secret")),
            "Dpop([redacted])"
        );
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            assert_eq!(parse(&format!("{scheme} a.b.c")), Ok(Some("a.b.c")));
        }
    }

    #[test]
    fn one_or_more_spaces_after_the_scheme() {
        assert_eq!(parse("Bearer   a.b.c"), Ok(Some("a.b.c")));
    }

    #[test]
    fn grammar_violations_are_invalid_request() {
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\"b",
            "Bearer ===",
            "Bearer a=b",
            "Bearer a,b",
        ] {
            assert_eq!(parse(bad), Err(ErrorKind::InvalidRequest), "{bad:?}");
        }
    }

    #[test]
    fn trailing_equals_signs_are_part_of_the_grammar() {
        assert_eq!(parse("Bearer abc=="), Ok(Some("abc==")));
    }

    #[test]
    fn the_token_alphabet_is_exactly_the_b64token_one() {
        for b in 0..=u8::MAX {
            let expected = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_b64token_char(b), expected, "byte {b:#04x}");
        }
    }

    #[test]
    fn a_header_that_is_not_visible_ascii_is_invalid_whatever_its_scheme() {
        assert_eq!(
            parse_authorization(b"Basic \xff\xfe", false)
                .map(|c| c.is_some())
                .map_err(|e| e.kind()),
            Err(ErrorKind::InvalidRequest)
        );
        assert_eq!(parse("Bearer a\tb"), Err(ErrorKind::InvalidRequest));
        assert_eq!(parse("Basic a\tb"), Ok(None));
    }

    #[test]
    fn other_schemes_are_no_credential() {
        assert_eq!(parse("Basic dXNlcjpwYXNz"), Ok(None));
        assert_eq!(parse("Bearerx abc"), Ok(None));
        assert_eq!(parse("DPoP abc"), Ok(None));
    }

    #[test]
    fn two_authorization_headers_are_invalid_request() {
        let req = Request::get("/")
            .header(AUTHORIZATION, "Bearer a")
            .header(AUTHORIZATION, "Bearer a")
            .body(())
            .unwrap();
        assert_eq!(extract(&req).unwrap_err().kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn query_tokens_are_refused() {
        let req = Request::get("/x?a=1&access_token=abc").body(()).unwrap();
        assert_eq!(extract(&req).unwrap_err().kind(), ErrorKind::InvalidRequest);
        let req = Request::get("/x?my_access_token=abc").body(()).unwrap();
        assert_eq!(extract(&req).unwrap(), None);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!("{:?}", Credential::Bearer("secret-token"));
        assert_eq!(shown, "Bearer([redacted])");
    }

    // -----------------------------------------------------------------------------------------
    // Sources

    fn sources(list: impl IntoIterator<Item = TokenSource>) -> TokenSources {
        list.into_iter()
            .fold(TokenSources::new(), |s, source| s.with(source).unwrap())
    }

    /// What `extract_with` finds: the token, or the error kind.
    fn found(request: &Request<()>, sources: &TokenSources) -> Result<Option<String>, ErrorKind> {
        extract_with(request, sources)
            .map(|found| found.map(|found| found.token().to_owned()))
            .map_err(|e| e.kind())
    }

    fn with_headers(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        headers
            .iter()
            .fold(Request::get(uri), |b, (name, value)| {
                b.header(*name, *value)
            })
            .body(())
            .unwrap()
    }

    fn refusal(source: TokenSource) -> (String, &'static str) {
        match TokenSources::new().with(source).unwrap_err() {
            ConfigError::InvalidTokenSource {
                setting,
                value,
                problem,
            } => {
                assert_eq!(setting, "token_source");
                (value, problem)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_sources_are_refused_naming_the_setting() {
        for bad in [
            TokenSource::header(""),
            TokenSource::header("x token"),
            TokenSource::header("x-token\n"),
            TokenSource::header("Authorization"),
            TokenSource::header("authorization"),
            TokenSource::header("COOKIE"),
            TokenSource::cookie(""),
            TokenSource::cookie("a b"),
            TokenSource::cookie("a=b"),
            TokenSource::cookie("a;b"),
            TokenSource::cookie("tökén"),
        ] {
            let (value, problem) = refusal(bad.clone());
            let error = TokenSources::new().with(bad).unwrap_err().to_string();
            assert!(error.starts_with("token_source "), "{error}");
            assert!(error.contains(&value) && error.contains(problem), "{error}");
        }
        for twice in [
            [TokenSource::cookie("t"), TokenSource::cookie("t")],
            [TokenSource::header("X-T"), TokenSource::header("x-t")],
            [TokenSource::form_body(), TokenSource::form_body()],
            [
                TokenSource::websocket_query(),
                TokenSource::websocket_query(),
            ],
        ] {
            let [first, second] = twice;
            let error = TokenSources::new()
                .with(first)
                .unwrap()
                .with(second)
                .unwrap_err();
            assert!(error.to_string().contains("twice"), "{error}");
        }
        // Names of different kinds, or cookie names differing in case, are different sources.
        let _ = sources([
            TokenSource::cookie("t"),
            TokenSource::cookie("T"),
            TokenSource::header("t"),
            TokenSource::cookie("__Host-access_token"),
        ]);
    }

    #[test]
    fn each_source_is_read_only_when_enabled() {
        let cookie = with_headers("/", &[("cookie", "t=abc")]);
        let header = with_headers("/", &[("x-token", "abc")]);
        assert_eq!(found(&cookie, &TokenSources::new()), Ok(None));
        assert_eq!(found(&header, &TokenSources::new()), Ok(None));
        let all = sources([TokenSource::cookie("t"), TokenSource::header("X-Token")]);
        assert_eq!(found(&cookie, &all), Ok(Some("abc".into())));
        assert_eq!(found(&header, &all), Ok(Some("abc".into())));
        // A header source is not a cookie source of the same name, nor the reverse.
        let other = sources([TokenSource::cookie("x-token"), TokenSource::header("t")]);
        assert_eq!(found(&cookie, &other), Ok(None));
        assert_eq!(found(&header, &other), Ok(None));
    }

    #[test]
    fn two_places_at_once_are_invalid_request() {
        let all = sources([
            TokenSource::cookie("t"),
            TokenSource::cookie("u"),
            TokenSource::header("x-token"),
        ]);
        for headers in [
            &[("authorization", "Bearer abc"), ("cookie", "t=abc")][..],
            &[("authorization", "Bearer abc"), ("x-token", "abc")],
            &[("cookie", "t=abc"), ("x-token", "abc")],
            &[("cookie", "t=abc; u=abc")],
        ] {
            let request = with_headers("/", headers);
            assert_eq!(
                found(&request, &all),
                Err(ErrorKind::InvalidRequest),
                "{headers:?}"
            );
        }
        // Another scheme is no token: the cookie stands alone.
        let basic = with_headers("/", &[("authorization", "Basic dTpw"), ("cookie", "t=abc")]);
        assert_eq!(found(&basic, &all), Ok(Some("abc".into())));
    }

    #[test]
    fn cookies_are_parsed_leniently_but_never_ambiguously() {
        let enabled = sources([TokenSource::cookie("t")]);
        let read = |headers: &[&str]| {
            let pairs: Vec<_> = headers.iter().map(|v| ("cookie", *v)).collect();
            found(&with_headers("/", &pairs), &enabled)
        };
        let abc = Ok(Some("abc".to_owned()));
        assert_eq!(read(&["t=abc"]), abc);
        assert_eq!(read(&["a=1; t=abc; b=2"]), abc);
        assert_eq!(read(&["a=1;t=abc;b=2"]), abc);
        assert_eq!(read(&["  t = abc  ;"]), abc);
        assert_eq!(read(&["t=\"abc\""]), abc);
        assert_eq!(read(&["a=1", "t=abc"]), abc);
        assert_eq!(read(&["a=1; flag; t=abc"]), abc);
        assert_eq!(read(&["t=a.b.c=="]), Ok(Some("a.b.c==".into())));
        assert_eq!(read(&["T=abc; tt=abc; at=abc; t_=x"]), Ok(None));
        assert_eq!(read(&["a=t=abc"]), Ok(None));
        assert_eq!(read(&[]), Ok(None));
        for bad in [
            &["t=abc; t=abc"][..],
            &["t=abc", "t=def"],
            &["t="],
            &["t=\"\""],
            &["t=\"abc"],
            &["t=a b"],
            &["t=a,b"],
            &["t=%41bc"],
        ] {
            assert_eq!(read(bad), Err(ErrorKind::InvalidRequest), "{bad:?}");
        }
        // Bytes that are not ASCII in other cookies are not ours to judge.
        let mut request = with_headers("/", &[]);
        request.headers_mut().insert(
            COOKIE,
            HeaderValue::from_bytes(b"x=\xff\xfe; t=abc").unwrap(),
        );
        assert_eq!(found(&request, &enabled), abc);
    }

    #[test]
    fn custom_headers_hold_the_whole_token() {
        let enabled = sources([TokenSource::header("X-Access-Token")]);
        let read = |values: &[&str]| {
            let pairs: Vec<_> = values.iter().map(|v| ("x-access-token", *v)).collect();
            found(&with_headers("/", &pairs), &enabled)
        };
        assert_eq!(read(&["a.b.c"]), Ok(Some("a.b.c".into())));
        assert_eq!(read(&[" a.b.c "]), Ok(Some("a.b.c".into())));
        for bad in [
            &["a", "a"][..],
            &[""],
            &["Bearer a.b.c"],
            &["a b"],
            &["\"a\""],
        ] {
            assert_eq!(read(bad), Err(ErrorKind::InvalidRequest), "{bad:?}");
        }
    }

    fn upgrade(uri: &str, connection: &str, upgrade: &str) -> Request<()> {
        with_headers(uri, &[("connection", connection), ("upgrade", upgrade)])
    }

    #[test]
    fn query_tokens_only_on_websocket_upgrades_with_the_source_enabled() {
        let enabled = sources([TokenSource::websocket_query()]);
        let none = TokenSources::new();
        let ws = upgrade("/ws?x=1&access_token=a.b.c", "Upgrade", "websocket");
        assert_eq!(found(&ws, &enabled), Ok(Some("a.b.c".into())));
        assert_eq!(found(&ws, &none), Err(ErrorKind::InvalidRequest));
        for spelling in [
            upgrade("/ws?access_token=a.b.c", "keep-alive, Upgrade", "WebSocket"),
            upgrade("/ws?access_token=a.b.c", "upgrade", "h2c, websocket"),
        ] {
            assert_eq!(found(&spelling, &enabled), Ok(Some("a.b.c".into())));
        }
        for not_ws in [
            with_headers("/ws?access_token=a.b.c", &[]),
            upgrade("/ws?access_token=a.b.c", "keep-alive", "websocket"),
            upgrade("/ws?access_token=a.b.c", "upgrade", "h2c"),
            Request::post("/ws?access_token=a.b.c")
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .body(())
                .unwrap(),
        ] {
            assert_eq!(found(&not_ws, &enabled), Err(ErrorKind::InvalidRequest));
        }
        // Without the parameter, an upgrade is an ordinary request.
        let plain = upgrade("/ws?x=1", "upgrade", "websocket");
        assert_eq!(found(&plain, &enabled), Ok(None));
    }

    #[test]
    fn query_tokens_are_decoded_and_judged() {
        let enabled = sources([TokenSource::websocket_query()]);
        let read = |query: &str| {
            found(
                &upgrade(&format!("/ws?{query}"), "upgrade", "websocket"),
                &enabled,
            )
        };
        assert_eq!(read("access_token=a%2Bb%2F%3D"), Ok(Some("a+b/=".into())));
        for bad in [
            "access_token=",
            "access_token",
            "access_token=a&access_token=a",
            "access_token=a+b",
            "access_token=a%2",
            "access_token=a%zz",
            "access_token=a%20b",
        ] {
            assert_eq!(read(bad), Err(ErrorKind::InvalidRequest), "{bad}");
        }
        let both = with_headers(
            "/ws?access_token=abc",
            &[
                ("connection", "upgrade"),
                ("upgrade", "websocket"),
                ("authorization", "Bearer abc"),
            ],
        );
        assert_eq!(found(&both, &enabled), Err(ErrorKind::InvalidRequest));
    }

    #[test]
    fn form_tokens_need_the_form_layer() {
        let enabled = sources([TokenSource::form_body()]);
        let mut request = with_headers("/", &[]);
        assert_eq!(found(&request, &enabled), Err(ErrorKind::FormLayerMissing));
        request
            .extensions_mut()
            .insert(FormBodyToken(FormState::Absent));
        assert_eq!(found(&request, &enabled), Ok(None));
        request
            .extensions_mut()
            .insert(FormBodyToken(FormState::Token(Bytes::from_static(b"abc"))));
        assert_eq!(found(&request, &enabled), Ok(Some("abc".into())));
        // Ignored when the source is off.
        assert_eq!(found(&request, &TokenSources::new()), Ok(None));
        request
            .headers_mut()
            .insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(found(&request, &enabled), Err(ErrorKind::InvalidRequest));
        for bad in [
            FormState::Token(Bytes::from_static(b"a b")),
            FormState::Malformed("not ASCII"),
        ] {
            request.headers_mut().remove(AUTHORIZATION);
            request.extensions_mut().insert(FormBodyToken(bad));
            assert_eq!(found(&request, &enabled), Err(ErrorKind::InvalidRequest));
        }
    }

    #[test]
    fn owned_tokens_are_the_found_ones_and_never_shown() {
        let all = sources([
            TokenSource::cookie("t"),
            TokenSource::websocket_query(),
            TokenSource::form_body(),
        ]);
        let mut requests = vec![
            with_headers("/", &[("authorization", "Bearer   secret.tok")]),
            with_headers("/", &[("cookie", "a=1; t=\"secret.tok\"; b=2")]),
            upgrade("/?access_token=secret%2Etok", "upgrade", "websocket"),
            with_headers("/", &[]),
        ];
        requests[3]
            .extensions_mut()
            .insert(FormBodyToken(FormState::Token(Bytes::from_static(
                b"secret.tok",
            ))));
        for request in &mut requests {
            if request.extensions().get::<FormBodyToken>().is_none() {
                request
                    .extensions_mut()
                    .insert(FormBodyToken(FormState::Absent));
            }
            let found = extract_with(request, &all).unwrap().unwrap();
            assert_eq!(found.token(), "secret.tok");
            assert_eq!(found.credential(), Credential::Bearer("secret.tok"));
            let owned = found.to_owned_token();
            assert_eq!(owned.as_str(), Some("secret.tok"));
            for shown in [format!("{found:?}"), format!("{owned:?}")] {
                assert!(!shown.contains("secret"), "{shown}");
            }
        }
    }

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode(b"abc").as_deref(), Some(&b"abc"[..]));
        assert_eq!(form_decode(b"a+b%2b%2F").as_deref(), Some(&b"a b+/"[..]));
        assert_eq!(form_decode(b"%").as_deref(), None);
        assert_eq!(form_decode(b"%4").as_deref(), None);
        assert_eq!(form_decode(b"%4g").as_deref(), None);
        assert_eq!(form_decode(b"%C3%A9").as_deref(), Some(&b"\xc3\xa9"[..]));
    }
}
