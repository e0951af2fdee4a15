//! The token request (RFC 6749 §4.4.2) and the discovery of the token endpoint: the only network
//! I/O of the token source.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use reqwest::{Client, Url, redirect};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::dpop::{DpopClient, Target};
use super::error::{ErrorCode, ErrorResponse, TokenError};
use super::token::{AccessToken, ClientSecret};
use crate::error::ConfigError;
use crate::jwks::FetchError;
use crate::jwks::discovery::{self, discover};
use crate::jwks::fetch::Fetcher;

/// How the client authenticates to the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthMethod {
    /// `client_secret_basic`: `Authorization: Basic`, with the client id and secret each
    /// form-urlencoded first (RFC 6749 §2.3.1, Appendix B). What servers must support.
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

/// Where the token endpoint is.
#[derive(Debug)]
pub(crate) enum Location {
    /// Configured.
    Url(Url),
    /// From the issuer's metadata, found on first use and then kept.
    Issuer {
        issuer: String,
        url: Url,
        found: Mutex<Option<Url>>,
    },
}

/// Everything needed to ask for a token; built once by the builder.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) location: Location,
    pub(crate) client_id: String,
    pub(crate) secret: ClientSecret,
    pub(crate) auth: AuthMethod,
    /// Normalized: single spaces, never empty.
    pub(crate) scope: Option<String>,
    pub(crate) resources: Vec<String>,
    pub(crate) default_lifetime: Duration,
    pub(crate) max_lifetime: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) allow_insecure_http: bool,
    /// With a key: DPoP-bound tokens (RFC 9449 §5), a proof with each request.
    pub(crate) dpop: Option<Arc<DpopClient>>,
    http: Client,
    metadata: Fetcher,
}

/// Settings that only the HTTP clients need.
pub(crate) struct HttpSettings {
    pub(crate) timeout: Duration,
    pub(crate) max_response_bytes: usize,
}

impl Endpoint {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        location: Location,
        client_id: String,
        secret: ClientSecret,
        auth: AuthMethod,
        scope: Option<String>,
        resources: Vec<String>,
        default_lifetime: Duration,
        max_lifetime: Duration,
        allow_insecure_http: bool,
        http: HttpSettings,
    ) -> Result<Self, ConfigError> {
        // Credentials are never sent anywhere but to the configured (or discovered) endpoint:
        // no redirects.
        let client = Client::builder()
            .timeout(http.timeout)
            .connect_timeout(http.timeout)
            .redirect(redirect::Policy::none())
            .user_agent(concat!("bearer-guard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| ConfigError::HttpClient)?;
        Ok(Self {
            location,
            client_id,
            secret,
            auth,
            scope,
            resources,
            default_lifetime,
            max_lifetime,
            max_response_bytes: http.max_response_bytes,
            allow_insecure_http,
            dpop: None,
            http: client,
            metadata: Fetcher::new(http.timeout, http.max_response_bytes)?,
        })
    }

    /// Asks for a token. The token's expiry is counted from when the request was sent.
    ///
    /// With DPoP, the request carries a proof (`htm` POST, `htu` the token endpoint) with the
    /// endpoint's latest nonce; a `use_dpop_nonce` refusal that comes with a new nonce is
    /// retried once (RFC 9449 §8).
    pub(crate) async fn request_token(&self) -> Result<AccessToken, TokenError> {
        let url = self.token_url().await?;
        let dpop = match &self.dpop {
            Some(dpop) => Some((
                dpop,
                Target::of(url.as_str()).ok_or(TokenError::Endpoint(FetchError::Invalid(
                    "the token endpoint is not an http(s) URL",
                )))?,
            )),
            None => None,
        };
        let mut may_retry = true;
        loop {
            let mut request = self
                .http
                .post(url.clone())
                .header(ACCEPT, HeaderValue::from_static("application/json"))
                .form(&self.form());
            if self.auth == AuthMethod::Basic {
                request = request.header(
                    AUTHORIZATION,
                    basic_credentials(&self.client_id, &self.secret),
                );
            }
            if let Some((dpop, target)) = &dpop {
                request = request.header("dpop", dpop.proof("POST", target, None));
            }
            let sent_at = Instant::now();
            let response = request
                .send()
                .await
                .map_err(|e| TokenError::Endpoint(classify(e)))?;
            let new_nonce = dpop
                .as_ref()
                .is_some_and(|(dpop, target)| dpop.remember(target, response.headers()));
            let status = response.status().as_u16();
            let body = read_capped(response, self.max_response_bytes)
                .await
                .map_err(TokenError::Endpoint)?;
            let result = parse_response(status, &body, self, sent_at);
            let wants_nonce = result
                .as_ref()
                .is_err_and(|error| error.code() == Some(&ErrorCode::UseDpopNonce));
            if wants_nonce && new_nonce && may_retry {
                tracing::debug!("the token endpoint wants a DPoP nonce; retrying once");
                may_retry = false;
                continue;
            }
            return result;
        }
    }

    fn form(&self) -> Vec<(&'static str, &str)> {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        for resource in &self.resources {
            form.push(("resource", resource));
        }
        if self.auth == AuthMethod::Post {
            form.push(("client_id", &self.client_id));
            form.push(("client_secret", &self.secret.0));
        }
        form
    }

    async fn token_url(&self) -> Result<Url, TokenError> {
        match &self.location {
            Location::Url(url) => Ok(url.clone()),
            Location::Issuer { issuer, url, found } => {
                if let Some(found) = found.lock().expect("not poisoned").clone() {
                    return Ok(found);
                }
                // Token requests are single-flight, so discovery is too.
                let discovered = discover(
                    &self.metadata,
                    issuer,
                    url,
                    discovery::Endpoint::Token,
                    self.allow_insecure_http,
                )
                .await
                .map_err(TokenError::Discovery)?;
                tracing::debug!(%issuer, token_endpoint = %discovered, "token endpoint discovered");
                *found.lock().expect("not poisoned") = Some(discovered.clone());
                Ok(discovered)
            }
        }
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1), marked sensitive.
fn basic_credentials(client_id: &str, secret: &ClientSecret) -> HeaderValue {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(client_id), encode(&secret.0));
    let mut value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials)))
        .expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, FetchError> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > max {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn classify(error: reqwest::Error) -> FetchError {
    if error.is_timeout() {
        FetchError::Timeout
    } else {
        FetchError::Unreachable
    }
}

/// A token (§5.1) or a refusal (§5.2) from the token endpoint's answer.
pub(crate) fn parse_response(
    status: u16,
    body: &[u8],
    endpoint: &Endpoint,
    sent_at: Instant,
) -> Result<AccessToken, TokenError> {
    let invalid = |why| TokenError::Endpoint(FetchError::Invalid(why));
    let object = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| match value {
            Value::Object(object) => Some(object),
            _ => None,
        });
    let success = (200..300).contains(&status);
    let Some(object) = object else {
        return Err(if success {
            invalid("token response is not a JSON object")
        } else {
            TokenError::Endpoint(FetchError::Status(status))
        });
    };
    // A refusal: any error status with an `error` code, or (leniently) a 2xx without a token.
    if let Some(code) = object.get("error").and_then(Value::as_str)
        && (!success || !object.contains_key("access_token"))
    {
        let text = |name| object.get(name).and_then(Value::as_str);
        return Err(TokenError::Rejected(ErrorResponse::new(
            status,
            code,
            text("error_description"),
            text("error_uri"),
        )));
    }
    if !success {
        return Err(TokenError::Endpoint(FetchError::Status(status)));
    }
    token_from(&object, endpoint, sent_at)
}

fn token_from(
    object: &Map<String, Value>,
    endpoint: &Endpoint,
    sent_at: Instant,
) -> Result<AccessToken, TokenError> {
    let invalid = |why| TokenError::Endpoint(FetchError::Invalid(why));
    let secret = object
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or(invalid("token response has no access_token"))?;
    let token_type = object
        .get("token_type")
        .and_then(Value::as_str)
        .ok_or(invalid("token response has no token_type"))?;
    // RFC 6749 §5.1: the type is case-insensitive. A DPoP token request wants a DPoP token
    // (RFC 9449 §5); a Bearer one means the server did not bind it: not used (see
    // `TokenError::DpopNotGranted` for why).
    let dpop = endpoint.dpop.is_some();
    let expected = if dpop { "dpop" } else { "bearer" };
    if !token_type.eq_ignore_ascii_case(expected) {
        return Err(if dpop && token_type.eq_ignore_ascii_case("bearer") {
            TokenError::DpopNotGranted
        } else {
            TokenError::UnsupportedTokenType(super::error::server_text(token_type))
        });
    }
    let lifetime = match object.get("expires_in") {
        None | Some(Value::Null) => endpoint.default_lifetime,
        Some(value) => seconds(value).ok_or(invalid("expires_in is not a number of seconds"))?,
    };
    let scope = match object.get("scope") {
        Some(Value::String(scope)) => Some(scope.clone()),
        _ => endpoint.scope.clone(),
    };
    let expires_at = sent_at + lifetime.min(endpoint.max_lifetime);
    AccessToken::of_type(secret, dpop, scope, expires_at).ok_or(invalid(
        "access_token holds characters that cannot be sent in a header",
    ))
}

/// `expires_in` as a JSON number, or (as some servers send it) a string of digits.
fn seconds(value: &Value) -> Option<Duration> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .map(Duration::from_secs)
            .or_else(|| n.as_f64().and_then(|f| Duration::try_from_secs_f64(f).ok())),
        Value::String(s) => s.trim().parse().ok().map(Duration::from_secs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpop_key::DpopKey;

    fn endpoint(auth: AuthMethod) -> Endpoint {
        Endpoint::new(
            Location::Url(Url::parse("https://idp.example.com/token").unwrap()),
            "my client".into(),
            ClientSecret("p@ss:w/rd".into()),
            auth,
            Some("read write".into()),
            vec!["https://api.example.com".into()],
            Duration::from_secs(300),
            Duration::from_secs(86_400),
            false,
            HttpSettings {
                timeout: Duration::from_secs(1),
                max_response_bytes: 1024,
            },
        )
        .unwrap()
    }

    #[test]
    fn basic_credentials_are_form_urlencoded_first() {
        let value = basic_credentials("my client", &ClientSecret("p@ss:w/rd".into()));
        assert!(value.is_sensitive());
        let encoded = value.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, "my+client:p%40ss%3Aw%2Frd");
    }

    #[test]
    fn the_form_has_the_credentials_only_for_post() {
        let basic = endpoint(AuthMethod::Basic);
        assert_eq!(
            basic.form(),
            [
                ("grant_type", "client_credentials"),
                ("scope", "read write"),
                ("resource", "https://api.example.com"),
            ]
        );
        let post = endpoint(AuthMethod::Post);
        assert_eq!(
            post.form()[3..],
            [("client_id", "my client"), ("client_secret", "p@ss:w/rd")]
        );
    }

    #[tokio::test]
    async fn responses() {
        let e = endpoint(AuthMethod::Basic);
        let now = Instant::now();
        let parse = |status, body: &str| parse_response(status, body.as_bytes(), &e, now);

        let token = parse(
            200,
            r#"{"access_token":"t","token_type":"bearer","expires_in":60}"#,
        )
        .unwrap();
        assert_eq!(token.secret(), "t");
        assert_eq!(token.scope(), Some("read write"), "the requested scope");
        assert_eq!(token.expires_at(), now + Duration::from_secs(60));
        let token = parse(
            200,
            r#"{"access_token":"t","token_type":"BEARER","scope":"read"}"#,
        )
        .unwrap();
        assert_eq!(token.scope(), Some("read"));
        assert_eq!(
            token.expires_at(),
            now + Duration::from_secs(300),
            "the default"
        );
        let token = parse(
            200,
            r#"{"access_token":"t","token_type":"Bearer","expires_in":"7"}"#,
        )
        .unwrap();
        assert_eq!(token.expires_at(), now + Duration::from_secs(7));
        let token = parse(
            200,
            r#"{"access_token":"t","token_type":"Bearer","expires_in":1e12}"#,
        )
        .unwrap();
        assert_eq!(
            token.expires_at(),
            now + Duration::from_secs(86_400),
            "capped"
        );

        assert_eq!(
            parse(200, r#"{"access_token":"t","token_type":"mac"}"#),
            Err(TokenError::UnsupportedTokenType("mac".into()))
        );
        for (status, body) in [
            (200, "not json"),
            (200, "[]"),
            (200, r#"{"token_type":"Bearer"}"#),
            (200, r#"{"access_token":"t"}"#),
            (200, r#"{"access_token":"a b","token_type":"Bearer"}"#),
            (
                200,
                r#"{"access_token":"t","token_type":"Bearer","expires_in":-1}"#,
            ),
        ] {
            assert!(
                matches!(
                    parse(status, body),
                    Err(TokenError::Endpoint(FetchError::Invalid(_)))
                ),
                "{body}"
            );
        }
        assert_eq!(
            parse(502, "<html>bad gateway</html>"),
            Err(TokenError::Endpoint(FetchError::Status(502)))
        );
        let refused = parse(
            401,
            r#"{"error":"invalid_client","error_description":"bad secret","error_uri":"https://e"}"#,
        )
        .unwrap_err();
        let TokenError::Rejected(response) = &refused else {
            panic!("{refused:?}")
        };
        assert_eq!(response.status(), 401);
        assert_eq!(response.code(), &ErrorCode::InvalidClient);
        assert_eq!(response.description(), Some("bad secret"));
        assert_eq!(response.uri(), Some("https://e"));
        assert_eq!(
            parse(200, r#"{"error":"invalid_scope"}"#)
                .unwrap_err()
                .code(),
            Some(&ErrorCode::InvalidScope)
        );
        assert_eq!(
            parse(400, r#"{"error":"use_dpop_nonce"}"#)
                .unwrap_err()
                .code(),
            Some(&ErrorCode::UseDpopNonce)
        );
        assert_eq!(
            parse(200, r#"{"access_token":"t","token_type":"DPoP"}"#),
            Err(TokenError::UnsupportedTokenType("DPoP".into())),
            "no key, no use for a DPoP token"
        );
    }

    #[tokio::test]
    async fn dpop_responses() {
        let mut e = endpoint(AuthMethod::Basic);
        e.dpop = Some(Arc::new(DpopClient::new(Arc::new(DpopKey::generate()))));
        let now = Instant::now();
        let parse = |body: &str| parse_response(200, body.as_bytes(), &e, now);
        for token_type in ["DPoP", "dpop", "DPOP"] {
            let body = format!(r#"{{"access_token":"t","token_type":"{token_type}"}}"#);
            let token = parse(&body).unwrap();
            assert_eq!(token.token_type(), "DPoP");
            assert_eq!(token.authorization(), "DPoP t");
        }
        assert_eq!(
            parse(r#"{"access_token":"t","token_type":"Bearer"}"#),
            Err(TokenError::DpopNotGranted)
        );
        assert_eq!(
            parse(r#"{"access_token":"t","token_type":"mac"}"#),
            Err(TokenError::UnsupportedTokenType("mac".into()))
        );
    }
}
