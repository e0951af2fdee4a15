//! The HTTP side of the test issuer: the token endpoint (RFC 6749 §4.4, §5; RFC 8707), the
//! metadata documents (OpenID Connect Discovery, RFC 8414) and the JWKS (RFC 7517).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::assertion::{self, JWT_BEARER};
use super::dpop::Refusal;
use super::introspection;
use super::{JwksFault, Shared, TestClient, unix_now};
use crate::guard::dpop::{DPOP, DPOP_NONCE};

/// The realm of the `Basic` challenge sent with `invalid_client`.
pub(crate) const REALM: &str = "bearer-guard test issuer";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new()
        .route("/token", any(token_endpoint))
        .route("/introspect", any(introspection::introspection_endpoint))
        .route("/revoke", any(introspection::revocation_endpoint))
        .route("/jwks", get(jwks))
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/.well-known/oauth-authorization-server", get(metadata));
    if shared.authorization_endpoint {
        router = router.route("/authorize", get(authorize).post(authorize));
    }
    router.with_state(shared)
}

// ---------------------------------------------------------------------------------------------
// Token endpoint
// ---------------------------------------------------------------------------------------------

/// An error response of RFC 6749 §5.2 (or RFC 8707 §2 for `invalid_target`, RFC 9449 §5 and
/// §8 for `invalid_dpop_proof` and `use_dpop_nonce`).
#[derive(Debug)]
pub(super) struct OAuthError {
    error: &'static str,
    description: Cow<'static, str>,
    /// The `DPoP-Nonce` header of a `use_dpop_nonce` answer.
    nonce: Option<String>,
}

pub(super) const fn oauth_error(error: &'static str, description: &'static str) -> OAuthError {
    OAuthError {
        error,
        description: Cow::Borrowed(description),
        nonce: None,
    }
}

impl From<Refusal> for OAuthError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(reason) => OAuthError {
                error: "invalid_dpop_proof",
                description: Cow::Owned(format!("The DPoP proof is invalid: {reason}")),
                nonce: None,
            },
            Refusal::NonceRequired(nonce) => OAuthError {
                error: "use_dpop_nonce",
                description: Cow::Borrowed("The DPoP proof must carry the issuer's nonce"),
                nonce: Some(nonce),
            },
        }
    }
}

impl OAuthError {
    pub(super) fn into_response(self) -> Response {
        let status = if self.error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = json_response(status, &body);
        no_store(response.headers_mut());
        if let Some(nonce) = self.nonce.and_then(|n| HeaderValue::try_from(n).ok()) {
            response.headers_mut().insert(&DPOP_NONCE, nonce);
        }
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110 §15.5.2: every 401 carries a challenge; RFC 6749 §5.2: the scheme the
            // client used (Basic) when it used the Authorization header.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_str(&format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""))
                    .expect("a valid header value"),
            );
        }
        response
    }
}

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// RFC 6749 §5.1: token responses (and errors) must not be cached.
pub(super) fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

async fn token_endpoint(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return post_only();
    }
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    match issue(&shared, &headers, &body) {
        Ok(body) => {
            let mut response = json_response(StatusCode::OK, &body);
            no_store(response.headers_mut());
            // RFC 9449 §8: a fresh nonce may come with any answer; the client keeps the latest.
            let nonce = headers
                .contains_key(&DPOP)
                .then(|| shared.dpop.fresh_nonce(unix_now()))
                .flatten()
                .and_then(|n| HeaderValue::try_from(n).ok());
            if let Some(nonce) = nonce {
                response.headers_mut().insert(&DPOP_NONCE, nonce);
            }
            response
        }
        Err(error) => error.into_response(),
    }
}

/// `405` with `Allow: POST`, for the endpoints that take only `POST`.
pub(super) fn post_only() -> Response {
    let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    no_store(response.headers_mut());
    response
}

/// The form parameters, each at most once; empty values count as absent (RFC 6749 §3.1).
/// `resource` may repeat (RFC 8707 §2).
pub(super) struct Form {
    params: HashMap<String, String>,
    resources: Vec<String>,
}

impl Form {
    pub(super) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let form_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(oauth_error(
                "invalid_request",
                "The request body must be application/x-www-form-urlencoded",
            ));
        }
        let mut params = HashMap::new();
        let mut resources = Vec::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if name == "resource" {
                resources.push(value.into_owned());
            } else if params
                .insert(name.into_owned(), value.into_owned())
                .is_some()
            {
                return Err(oauth_error(
                    "invalid_request",
                    "A request parameter is repeated",
                ));
            }
        }
        Ok(Self { params, resources })
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// How the client authenticated.
enum Credentials {
    Basic {
        id: String,
        secret: String,
    },
    Post {
        id: String,
        secret: String,
    },
    /// `private_key_jwt`, with the `client_id` of the form if there was one.
    Assertion {
        assertion: String,
        id: Option<String>,
    },
}

impl Credentials {
    fn method(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "client_secret_basic",
            Self::Post { .. } => "client_secret_post",
            Self::Assertion { .. } => "private_key_jwt",
        }
    }
}

const SEVERAL_METHODS: &str = "The client authenticated with more than one method";

/// Finds the client credentials: exactly one of client_secret_basic, client_secret_post and
/// private_key_jwt.
fn credentials(headers: &HeaderMap, form: &Form) -> Result<Credentials, OAuthError> {
    let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
    let (first, second) = (authorization.next(), authorization.next());
    if second.is_some() {
        return Err(oauth_error(
            "invalid_request",
            "The request has several Authorization headers",
        ));
    }
    let body_secret = form.get("client_secret");
    let body_id = form.get("client_id");
    let assertion_type = form.get("client_assertion_type");
    if let Some(assertion) = form.get("client_assertion") {
        if first.is_some() || body_secret.is_some() {
            return Err(oauth_error("invalid_request", SEVERAL_METHODS));
        }
        if assertion_type != Some(JWT_BEARER) {
            return Err(oauth_error(
                "invalid_request",
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        return Ok(Credentials::Assertion {
            assertion: assertion.to_owned(),
            id: body_id.map(str::to_owned),
        });
    }
    if assertion_type.is_some() {
        return Err(oauth_error(
            "invalid_request",
            "client_assertion_type was sent without client_assertion",
        ));
    }
    let Some(value) = first else {
        return match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(Credentials::Post {
                id: id.to_owned(),
                secret: secret.to_owned(),
            }),
            (None, Some(_)) => Err(oauth_error(
                "invalid_request",
                "client_secret was sent without client_id",
            )),
            _ => Err(oauth_error(
                "invalid_client",
                "Client authentication is required (client_secret_basic, client_secret_post or \
                 private_key_jwt)",
            )),
        };
    };
    if body_secret.is_some() {
        return Err(oauth_error("invalid_request", SEVERAL_METHODS));
    }
    let (id, secret) = basic(value).ok_or(oauth_error(
        "invalid_client",
        "The Authorization header is not valid Basic client authentication",
    ))?;
    if body_id.is_some_and(|body_id| body_id != id) {
        return Err(oauth_error(
            "invalid_request",
            "client_id differs from the authenticated client",
        ));
    }
    Ok(Credentials::Basic { id, secret })
}

/// The client that authenticated with the request (RFC 6749 §2.3.1), as the token,
/// introspection (RFC 7662 §2.1) and revocation (RFC 7009 §2.1) endpoints all require.
pub(super) fn authenticated_client(
    shared: &Shared,
    headers: &HeaderMap,
    form: &Form,
) -> Result<TestClient, OAuthError> {
    let credentials = credentials(headers, form)?;
    let client = match &credentials {
        Credentials::Basic { id, secret } | Credentials::Post { id, secret } => {
            shared.authenticate(id, secret).ok_or(oauth_error(
                "invalid_client",
                "Client authentication failed",
            ))?
        }
        Credentials::Assertion { assertion, id } => {
            assertion::authenticate(shared, assertion, id.as_deref(), unix_now())?
        }
    };
    *shared
        .last_auth_method
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some(credentials.method());
    Ok(client)
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte.
fn form_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(b) = input.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hi = char::from(input.next()?).to_digit(16)?;
                let lo = char::from(input.next()?).to_digit(16)?;
                bytes.push(u8::try_from(hi * 16 + lo).ok()?);
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).ok()
}

/// The token response body, or the error.
fn issue(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    // RFC 9449 §5: the proof first; a proof that passes is spent whatever follows.
    let jkt = shared.dpop.check(headers, unix_now())?;
    let form = Form::parse(headers, body)?;
    let Some(grant_type) = form.get("grant_type") else {
        return Err(oauth_error("invalid_request", "grant_type is missing"));
    };
    let client = authenticated_client(shared, headers, &form)?;
    if grant_type != "client_credentials" {
        return Err(oauth_error(
            "unsupported_grant_type",
            "Only the client_credentials grant is supported",
        ));
    }
    if client.unauthorized {
        return Err(oauth_error(
            "unauthorized_client",
            "The client may not use the client_credentials grant",
        ));
    }
    let scopes = match form.get("scope") {
        None => client.granted_by_default(),
        Some(requested) => {
            let mut scopes: Vec<String> = Vec::new();
            for scope in requested.split(' ') {
                if !is_scope_token(scope) {
                    return Err(oauth_error("invalid_scope", "The scope is malformed"));
                }
                if !client.scopes.iter().any(|allowed| allowed == scope) {
                    return Err(oauth_error(
                        "invalid_scope",
                        "The scope exceeds what the client may request",
                    ));
                }
                if !scopes.iter().any(|s| s == scope) {
                    scopes.push(scope.to_owned());
                }
            }
            scopes
        }
    };
    let mut audience: Vec<String> = Vec::new();
    for resource in &form.resources {
        let valid = url::Url::parse(resource).is_ok_and(|url| url.fragment().is_none())
            && !resource.contains('#');
        if !valid {
            return Err(oauth_error(
                "invalid_target",
                "resource must be an absolute URI without a fragment",
            ));
        }
        let known = shared.resources.contains(resource)
            || (shared.loopback_resources && is_loopback_url(resource));
        if !known {
            return Err(oauth_error("invalid_target", "The resource is unknown"));
        }
        if !audience.contains(resource) {
            audience.push(resource.clone());
        }
    }
    if audience.is_empty() {
        audience.push(shared.resources[0].clone());
    }
    let scope = scopes.join(" ");
    let opaque = shared.opaque_tokens || client.opaque_tokens;
    let token = shared.mint(&client.id, &scope, &audience, jkt.as_deref(), opaque);
    let mut response = json!({
        "access_token": token,
        "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": shared.token_lifetime.as_secs(),
    });
    if !scope.is_empty() {
        response["scope"] = json!(scope);
    }
    Ok(response)
}

/// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) (RFC 6749 §3.3).
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

// ---------------------------------------------------------------------------------------------
// Metadata and keys
// ---------------------------------------------------------------------------------------------

/// Only with `TestIssuerBuilder::authorization_endpoint`: no response type is supported.
async fn authorize() -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({
            "error": "unsupported_response_type",
            "error_description": "This issuer grants client credentials only",
        }),
    )
}

async fn metadata(State(shared): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, &shared.metadata())
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let fault = shared.registry().fault;
    match fault {
        JwksFault::None => {}
        JwksFault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return status.into_response();
        }
        JwksFault::Hang => {
            let mut stopped = shared.stopped.subscribe();
            let _ = stopped.wait_for(|stopped| *stopped).await;
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        JwksFault::Garbage => {
            return (
                [(header::CONTENT_TYPE, "application/json")],
                "<html><body>502 Bad Gateway</body></html>",
            )
                .into_response();
        }
    }
    let mut response = Response::new(Body::from(shared.jwks().to_string()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    if let Some(max_age) = shared.jwks_max_age {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_str(&format!("max-age={}", max_age.as_secs()))
                .expect("a valid header value"),
        );
    }
    response
}

/// An `http` or `https` URL whose host is `127.0.0.1`, `localhost` or `[::1]`, with no user
/// name or password (the fragment is checked by the caller).
fn is_loopback_url(resource: &str) -> bool {
    let Ok(url) = url::Url::parse(resource) else {
        return false;
    };
    matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && matches!(
            url.host(),
            Some(url::Host::Domain("localhost"))
                | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
                | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode("a+b%3Ac%25").as_deref(), Some("a b:c%"));
        assert_eq!(form_decode("%e2%82%AC").as_deref(), Some("€"));
        assert_eq!(form_decode("%4"), None);
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let value = |s: &str| HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(s)));
        assert_eq!(
            basic(&value("my%3Aid:s%2Bcr+t").unwrap()),
            Some(("my:id".into(), "s+cr t".into()))
        );
        assert_eq!(
            basic(&value("id:a:b").unwrap()),
            Some(("id".into(), "a:b".into()))
        );
        assert_eq!(basic(&value("no-colon").unwrap()), None);
        assert_eq!(basic(&HeaderValue::from_static("Bearer abc")), None);
        assert_eq!(basic(&HeaderValue::from_static("Basic !!!")), None);
    }

    #[test]
    fn scope_tokens() {
        assert!(is_scope_token("read"));
        assert!(is_scope_token("orders:read"));
        assert!(!is_scope_token(""));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token("a\\b"));
        assert!(!is_scope_token("é"));
    }
}
