//! The token request (RFC 6749 §4.4.2), client authentication (RFC 6749 §2.3.1, RFC 7523 §2.2)
//! and the discovery of the token endpoint: the only network I/O of the token source.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::dpop::{DpopClient, Target};
use super::error::{EndpointError, EndpointErrorKind, ErrorCode, ErrorResponse, TokenError};
use super::http::Http;
use super::key::ClientKey;
use super::token::{AccessToken, ClientSecret};
use crate::dpop_key::signing::JWT_BEARER;
use crate::jwks::FetchError;
use crate::jwks::discovery::{self, endpoint_from, metadata_urls};

/// How the client authenticates to the token endpoint (RFC 6749 §2.3.1, RFC 7523 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthMethod {
    /// `client_secret_basic`: `Authorization: Basic`, with the client id and secret each
    /// form-urlencoded first (RFC 6749 §2.3.1, Appendix B). What servers must support.
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
    /// `private_key_jwt`: a client assertion signed with the client's
    /// [`ClientKey`](super::ClientKey) (RFC 7523 §2.2), with `client_id` (RFC 7521 §4.2). The
    /// method of sources built with
    /// [`TokenSource::builder_with_key`](super::TokenSource::builder_with_key), and only of
    /// those.
    PrivateKeyJwt,
}

/// The `aud` of `private_key_jwt` client assertions: servers differ in what they accept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssertionAudience {
    /// The token endpoint's URL, as OpenID Connect Core §9 says (Keycloak, Okta, Entra ID,
    /// Auth0 accept it). The default.
    #[default]
    TokenEndpoint,
    /// The issuer identifier, as RFC 7523 §3 allows (and some servers require). Only for
    /// sources that know it: built with [`issuer`](super::TokenSourceBuilder::issuer).
    Issuer,
    /// This value, whatever the server wants.
    Custom(String),
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

/// What the client proves its identity with.
#[derive(Debug)]
pub(crate) enum Credential {
    /// `client_secret_basic` or `client_secret_post`.
    Secret(ClientSecret, AuthMethod),
    /// `private_key_jwt`.
    Key(Arc<ClientKey>, AssertionAudience),
}

/// The client: who it is, how it authenticates, where and through what it asks. Shared by the
/// sources of one client ([`TokenSource::for_resource`](super::TokenSource::for_resource)).
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) location: Location,
    pub(crate) client_id: String,
    pub(crate) credential: Credential,
    pub(crate) default_lifetime: Duration,
    pub(crate) max_lifetime: Duration,
    pub(crate) allow_insecure_http: bool,
    /// With a key: DPoP-bound tokens (RFC 9449 §5), a proof with each request.
    pub(crate) dpop: Option<Arc<DpopClient>>,
    pub(crate) http: Http,
}

/// What one source asks for, and of whom.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) client: Arc<Client>,
    /// Normalized: single spaces, never empty.
    pub(crate) scope: Option<String>,
    pub(crate) resources: Vec<String>,
}

impl Client {
    pub(crate) fn auth_method(&self) -> AuthMethod {
        match &self.credential {
            Credential::Secret(_, method) => *method,
            Credential::Key(..) => AuthMethod::PrivateKeyJwt,
        }
    }

    async fn token_url(&self) -> Result<Url, TokenError> {
        match &self.location {
            Location::Url(url) => Ok(url.clone()),
            Location::Issuer { issuer, url, found } => {
                if let Some(found) = found.lock().expect("not poisoned").clone() {
                    return Ok(found);
                }
                // Token requests are single-flight per source, so discovery mostly is too;
                // sibling sources may both discover, harmlessly.
                let discovered = self
                    .discover(issuer, url)
                    .await
                    .map_err(TokenError::Discovery)?;
                tracing::debug!(%issuer, token_endpoint = %discovered, "token endpoint discovered");
                *found.lock().expect("not poisoned") = Some(discovered.clone());
                Ok(discovered)
            }
        }
    }

    /// The `token_endpoint` of `issuer`'s metadata: OpenID Connect Discovery first, then
    /// RFC 8414 if that is missing (404, 410).
    async fn discover(&self, issuer: &str, issuer_url: &Url) -> Result<Url, EndpointError> {
        let [oidc, rfc8414] = metadata_urls(issuer_url);
        let mut answer = None;
        for url in [oidc, rfc8414] {
            let request = self
                .http
                .get(&url)
                .header(ACCEPT, HeaderValue::from_static("application/json"));
            let got = self.http.send(&url, request).await?;
            let missing = matches!(got.status, 404 | 410);
            answer = Some((url, got));
            if !missing {
                break;
            }
        }
        let (url, got) = answer.expect("two locations tried");
        if !(200..300).contains(&got.status) {
            return Err(EndpointError::new(EndpointErrorKind::Status, &url).with_status(got.status));
        }
        endpoint_from(
            &got.body,
            issuer,
            discovery::Endpoint::Token,
            self.allow_insecure_http,
        )
        .map_err(|error| {
            let why = match error {
                FetchError::Invalid(why) => why,
                _ => "metadata is not usable",
            };
            EndpointError::new(EndpointErrorKind::Invalid, &url)
                .with_status(got.status)
                .with_detail(why)
        })
    }

    /// A fresh client assertion for a request to `token_url`, with `private_key_jwt`.
    fn assertion(&self, token_url: &Url) -> Option<String> {
        let Credential::Key(key, audience) = &self.credential else {
            return None;
        };
        let audience = match (audience, &self.location) {
            (AssertionAudience::TokenEndpoint, _) => token_url.as_str(),
            (AssertionAudience::Issuer, Location::Issuer { issuer, .. }) => issuer,
            // Refused when the source was built.
            (AssertionAudience::Issuer, Location::Url(_)) => token_url.as_str(),
            (AssertionAudience::Custom(value), _) => value,
        };
        Some(key.assertion(&self.client_id, audience, crate::verify::validator::now()))
    }
}

impl Endpoint {
    /// Asks for a token. The token's expiry is counted from when the request was sent.
    ///
    /// With DPoP, the request carries a proof (`htm` POST, `htu` the token endpoint) with the
    /// endpoint's latest nonce; a `use_dpop_nonce` refusal that comes with a new nonce is
    /// retried once (RFC 9449 §8). With `private_key_jwt`, each request (a retry too) carries
    /// an assertion of its own.
    pub(crate) async fn request_token(&self) -> Result<AccessToken, TokenError> {
        let client = &*self.client;
        let url = client.token_url().await?;
        let dpop = match &client.dpop {
            Some(dpop) => Some((
                dpop,
                Target::of(url.as_str()).ok_or_else(|| {
                    TokenError::Endpoint(
                        EndpointError::new(EndpointErrorKind::Invalid, &url)
                            .with_detail("the token endpoint is not an http(s) URL"),
                    )
                })?,
            )),
            None => None,
        };
        let mut may_retry = true;
        loop {
            let assertion = client.assertion(&url);
            let mut request = client
                .http
                .post(&url)
                .header(ACCEPT, HeaderValue::from_static("application/json"))
                .form(&self.form(assertion.as_deref()));
            if let Credential::Secret(secret, AuthMethod::Basic) = &client.credential {
                request =
                    request.header(AUTHORIZATION, basic_credentials(&client.client_id, secret));
            }
            if let Some((dpop, target)) = &dpop {
                request = request.header("dpop", dpop.proof("POST", target, None));
            }
            let sent_at = Instant::now();
            let answer = client
                .http
                .send(&url, request)
                .await
                .map_err(TokenError::Endpoint)?;
            let new_nonce = dpop
                .as_ref()
                .is_some_and(|(dpop, target)| dpop.remember(target, &answer.headers));
            let result = parse_response(answer.status, &answer.body, self, &url, sent_at);
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

    /// The form: the grant, what is asked for, and the credentials that go in the body.
    fn form<'a>(&'a self, assertion: Option<&'a str>) -> Vec<(&'static str, &'a str)> {
        let client = &*self.client;
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        for resource in &self.resources {
            form.push(("resource", resource));
        }
        match (&client.credential, assertion) {
            (Credential::Secret(secret, AuthMethod::Post), _) => {
                form.push(("client_id", &client.client_id));
                form.push(("client_secret", &secret.0));
            }
            (Credential::Key(..), Some(assertion)) => {
                // RFC 7521 §4.2 allows client_id beside the assertion; some servers
                // (Keycloak) look the client up by it.
                form.push(("client_id", &client.client_id));
                form.push(("client_assertion_type", JWT_BEARER));
                form.push(("client_assertion", assertion));
            }
            _ => {}
        }
        form
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

/// A token (§5.1) or a refusal (§5.2) from the token endpoint's answer.
pub(crate) fn parse_response(
    status: u16,
    body: &[u8],
    endpoint: &Endpoint,
    url: &Url,
    sent_at: Instant,
) -> Result<AccessToken, TokenError> {
    let object = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| match value {
            Value::Object(object) => Some(object),
            _ => None,
        });
    let success = (200..300).contains(&status);
    let failed = |kind| TokenError::Endpoint(EndpointError::new(kind, url).with_status(status));
    let Some(object) = object else {
        return Err(if success {
            TokenError::Endpoint(
                EndpointError::new(EndpointErrorKind::Invalid, url)
                    .with_status(status)
                    .with_detail("token response is not a JSON object"),
            )
        } else {
            failed(EndpointErrorKind::Status)
        });
    };
    // A refusal: any error status with an `error` code, or (leniently) a 2xx without a token.
    if let Some(code) = object.get("error").and_then(Value::as_str)
        && (!success || !object.contains_key("access_token"))
    {
        let text = |name| object.get(name).and_then(Value::as_str);
        return Err(TokenError::Rejected(ErrorResponse::new(
            url,
            status,
            code,
            text("error_description"),
            text("error_uri"),
        )));
    }
    if !success {
        return Err(failed(EndpointErrorKind::Status));
    }
    token_from(&object, endpoint, url, status, sent_at)
}

fn token_from(
    object: &Map<String, Value>,
    endpoint: &Endpoint,
    url: &Url,
    status: u16,
    sent_at: Instant,
) -> Result<AccessToken, TokenError> {
    let invalid = |why| {
        TokenError::Endpoint(
            EndpointError::new(EndpointErrorKind::Invalid, url)
                .with_status(status)
                .with_detail(why),
        )
    };
    let client = &*endpoint.client;
    let secret = object
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("token response has no access_token"))?;
    let token_type = object
        .get("token_type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("token response has no token_type"))?;
    // RFC 6749 §5.1: the type is case-insensitive. A DPoP token request wants a DPoP token
    // (RFC 9449 §5); a Bearer one means the server did not bind it: not used (see
    // `TokenError::DpopNotGranted` for why).
    let dpop = client.dpop.is_some();
    let expected = if dpop { "dpop" } else { "bearer" };
    if !token_type.eq_ignore_ascii_case(expected) {
        return Err(if dpop && token_type.eq_ignore_ascii_case("bearer") {
            TokenError::DpopNotGranted
        } else {
            TokenError::UnsupportedTokenType(super::error::server_text(token_type))
        });
    }
    let lifetime = match object.get("expires_in") {
        None | Some(Value::Null) => client.default_lifetime,
        Some(value) => {
            seconds(value).ok_or_else(|| invalid("expires_in is not a number of seconds"))?
        }
    };
    let scope = match object.get("scope") {
        Some(Value::String(scope)) => Some(scope.clone()),
        _ => endpoint.scope.clone(),
    };
    let expires_at = sent_at + lifetime.min(client.max_lifetime);
    AccessToken::of_type(secret, dpop, scope, expires_at)
        .ok_or_else(|| invalid("access_token holds characters that cannot be sent in a header"))
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

    #[test]
    fn private_key_jwt_puts_a_fresh_assertion_and_the_client_id_in_the_form() {
        let pem = include_str!("../../fixtures/ec-p256.pem");
        let key = ClientKey::from_pem(pem).unwrap().key_id("k1");
        let e = with(client(Credential::Key(
            Arc::new(key),
            AssertionAudience::TokenEndpoint,
        )));
        let url = Url::parse(TOKEN_URL).unwrap();
        let first = e.client.assertion(&url).unwrap();
        let second = e.client.assertion(&url).unwrap();
        assert_ne!(first, second, "a fresh jti each time");
        let form = e.form(Some(&first));
        assert_eq!(
            form[3..],
            [
                ("client_id", "my client"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", first.as_str()),
            ]
        );
        let decode = |part: &str| -> Value {
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(part)
                    .unwrap(),
            )
            .unwrap()
        };
        let parts: Vec<&str> = first.split('.').collect();
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "k1");
        assert_eq!(header["typ"], "JWT");
        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], "my client");
        assert_eq!(claims["sub"], "my client");
        assert_eq!(claims["aud"], TOKEN_URL);
        assert_eq!(claims["jti"].as_str().unwrap().len(), 22, "128 bits");
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert_eq!(exp - iat, 60);
        assert!((iat - crate::verify::validator::now()).abs() <= 1);

        let custom = with(client(Credential::Key(
            Arc::new(ClientKey::from_pem(pem).unwrap()),
            AssertionAudience::Custom("https://idp.example.com".into()),
        )));
        let assertion = custom.client.assertion(&url).unwrap();
        let claims = decode(assertion.split('.').nth(1).unwrap());
        assert_eq!(claims["aud"], "https://idp.example.com");
        assert!(
            decode(assertion.split('.').next().unwrap())
                .get("kid")
                .is_none()
        );
        assert!(endpoint(AuthMethod::Post).client.assertion(&url).is_none());
    }

    const TOKEN_URL: &str = "https://idp.example.com/token";

    fn client(credential: Credential) -> Client {
        Client {
            location: Location::Url(Url::parse(TOKEN_URL).unwrap()),
            client_id: "my client".into(),
            credential,
            default_lifetime: Duration::from_secs(300),
            max_lifetime: Duration::from_secs(86_400),
            allow_insecure_http: false,
            dpop: None,
            http: Http::own(Duration::from_secs(1), 1024).unwrap(),
        }
    }

    fn with(client: Client) -> Endpoint {
        Endpoint {
            client: Arc::new(client),
            scope: Some("read write".into()),
            resources: vec!["https://api.example.com".into()],
        }
    }

    fn endpoint(auth: AuthMethod) -> Endpoint {
        with(client(Credential::Secret(
            ClientSecret("p@ss:w/rd".into()),
            auth,
        )))
    }

    fn invalid(detail: &'static str) -> TokenError {
        TokenError::Endpoint(
            EndpointError::new(EndpointErrorKind::Invalid, &Url::parse(TOKEN_URL).unwrap())
                .with_status(200)
                .with_detail(detail),
        )
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
            basic.form(None),
            [
                ("grant_type", "client_credentials"),
                ("scope", "read write"),
                ("resource", "https://api.example.com"),
            ]
        );
        let post = endpoint(AuthMethod::Post);
        assert_eq!(
            post.form(None)[3..],
            [("client_id", "my client"), ("client_secret", "p@ss:w/rd")]
        );
    }

    #[tokio::test]
    async fn responses() {
        let e = endpoint(AuthMethod::Basic);
        let now = Instant::now();
        let url = Url::parse(TOKEN_URL).unwrap();
        let parse = |status, body: &str| parse_response(status, body.as_bytes(), &e, &url, now);

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
            let error = parse(status, body).unwrap_err();
            let TokenError::Endpoint(error) = &error else {
                panic!("{error:?}")
            };
            assert_eq!(error.kind(), EndpointErrorKind::Invalid, "{body}");
            assert_eq!(error.status(), Some(200));
            assert_eq!(error.url(), TOKEN_URL);
        }
        assert_eq!(
            parse(502, "<html>bad gateway</html>"),
            Err(TokenError::Endpoint(
                EndpointError::new(EndpointErrorKind::Status, &url).with_status(502)
            ))
        );
        assert_eq!(
            parse(200, "[]"),
            Err(invalid("token response is not a JSON object"))
        );
        let refused = parse(
            401,
            r#"{"error":"invalid_client","error_description":"bad secret","error_uri":"https://e"}"#,
        )
        .unwrap_err();
        let TokenError::Rejected(response) = &refused else {
            panic!("{refused:?}")
        };
        assert_eq!(response.url(), TOKEN_URL);
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
        let mut c = client(Credential::Secret(
            ClientSecret("s".into()),
            AuthMethod::Basic,
        ));
        c.dpop = Some(Arc::new(DpopClient::new(Arc::new(DpopKey::generate()))));
        let e = with(c);
        let now = Instant::now();
        let url = Url::parse(TOKEN_URL).unwrap();
        let parse = |body: &str| parse_response(200, body.as_bytes(), &e, &url, now);
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
