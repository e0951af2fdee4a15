//! `testing::TestIssuer` over real HTTP: the token endpoint's RFC 6749 / RFC 8707 behaviour,
//! metadata and JWKS, tokens that validate (or fail exactly as minted), key rotation and
//! removal, JWKS faults, and the server's lifetime.
#![cfg(feature = "test-util")]

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bearer_guard::testing::{JwksFault, KeyAlgorithm, TestClient, TestIssuer};
use bearer_guard::{ErrorKind, GuardLayer, RequireScopeLayer, TypPolicy, Validator};
use http::{Request, StatusCode};
use reqwest::Client;
use serde_json::{Value, json};
use tower::ServiceExt;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const FORM: &str = "application/x-www-form-urlencoded";

/// One answer of the issuer.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII"))
    }

    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .expect("an error code")
            .to_owned()
    }
}

/// How a token request authenticates.
#[derive(Debug, Clone, Copy)]
enum Auth<'a> {
    None,
    Basic(&'a str, &'a str),
    /// Any `Authorization` value.
    Header(&'a str),
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `Basic` credentials with the id and secret form-urlencoded first (RFC 6749 §2.3.1).
fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", urlencode(id), urlencode(secret)))
    )
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the issuer answers");
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("a body").to_vec(),
    }
}

/// `POST /token` with `body` as a form.
async fn token_request(http: &Client, issuer: &TestIssuer, body: &str, auth: Auth<'_>) -> Reply {
    token_request_typed(http, issuer, body, auth, FORM).await
}

async fn token_request_typed(
    http: &Client,
    issuer: &TestIssuer,
    body: &str,
    auth: Auth<'_>,
    content_type: &str,
) -> Reply {
    let mut request = http
        .post(issuer.token_endpoint())
        .header("content-type", content_type)
        .body(body.to_owned());
    match auth {
        Auth::None => {}
        Auth::Basic(id, secret) => request = request.header("authorization", basic(id, secret)),
        Auth::Header(value) => request = request.header("authorization", value),
    }
    send(request).await
}

async fn get(http: &Client, url: &str) -> Reply {
    send(http.get(url)).await
}

/// The JSON of a token's header or payload.
fn segment(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("three segments");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

fn assert_no_store(reply: &Reply) {
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{reply:?}");
    assert_eq!(reply.header("pragma"), Some("no-cache"), "{reply:?}");
}

/// A validator of the strict RFC 9068 profile for `issuer`.
fn strict_validator(issuer: &TestIssuer) -> Validator {
    Validator::builder()
        .issuer(issuer.issuer_config().typ_policy(TypPolicy::Rfc9068))
        .build()
        .unwrap()
}

async fn kind_of(validator: &Validator, token: &str) -> ErrorKind {
    validator
        .validate(token)
        .await
        .expect_err("the token is refused")
        .kind()
}

// ---------------------------------------------------------------------------------------------
// Token endpoint
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn both_client_authentication_methods_get_a_valid_rfc9068_token() {
    let http = Client::new();
    let issuer = TestIssuer::start().await;
    let (id, secret) = issuer.default_client();
    assert_eq!(
        (id.as_str(), secret.as_str()),
        ("test-client", "test-secret")
    );
    let validator = strict_validator(&issuer);

    let post_body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    for reply in [
        token_request(
            &http,
            &issuer,
            "grant_type=client_credentials",
            Auth::Basic(&id, &secret),
        )
        .await,
        token_request(&http, &issuer, &post_body, Auth::None).await,
    ] {
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_no_store(&reply);
        assert!(
            reply
                .header("content-type")
                .unwrap()
                .starts_with("application/json")
        );
        let body = reply.json();
        assert!(
            body["token_type"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("bearer")
        );
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "read write admin");
        assert!(body.get("refresh_token").is_none(), "{body}");

        let token = body["access_token"].as_str().unwrap();
        let header = segment(token, 0);
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], issuer.signing_kid());
        let payload = segment(token, 1);
        let exp = payload["exp"].as_i64().unwrap();
        assert_eq!(exp - payload["iat"].as_i64().unwrap(), 3600);
        assert!(payload["jti"].as_str().is_some_and(|j| j.len() >= 16));

        let claims = validator
            .validate(token)
            .await
            .expect("the token validates");
        assert_eq!(claims.issuer(), issuer.issuer());
        assert_eq!(claims.subject(), Some("test-client"));
        assert_eq!(claims.client_id(), Some("test-client"));
        assert_eq!(claims.audience(), ["https://api.example.com"]);
        assert_eq!(claims.expires_at(), exp);
        for scope in ["read", "write", "admin"] {
            assert!(claims.scopes().contains(scope));
        }
    }
    assert_eq!(issuer.token_requests(), 2);
    assert!(issuer.issuer().starts_with("http://127.0.0.1:"));
    assert!(!issuer.issuer().ends_with('/'));
    assert_eq!(
        issuer.token_endpoint(),
        format!("{}/token", issuer.issuer())
    );
    assert_eq!(issuer.jwks_uri(), format!("{}/jwks", issuer.issuer()));
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_inside() {
    let http = Client::new();
    let (id, secret) = ("svc:reports/1", "p@ss:w%rd +&=é");
    let issuer = TestIssuer::builder()
        .client(TestClient::new(id, secret))
        .start()
        .await;
    assert_eq!(issuer.default_client(), (id.to_owned(), secret.to_owned()));
    let reply = token_request(
        &http,
        &issuer,
        "grant_type=client_credentials",
        Auth::Basic(id, secret),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let post = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        urlencode(id),
        urlencode(secret)
    );
    let reply = token_request(&http, &issuer, &post, Auth::None).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(segment(&token, 1)["client_id"], id);

    // Not encoded: `%rd` is no escape, so the secret reads differently.
    let raw = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    let reply = token_request(
        &http,
        &issuer,
        "grant_type=client_credentials",
        Auth::Header(&raw),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn token_endpoint_error_matrix() {
    let http = Client::new();
    let issuer = TestIssuer::builder()
        .client(TestClient::new("test-client", "test-secret"))
        .client(TestClient::new("no-grant", "secret").unauthorized())
        .start()
        .await;
    let ok = Auth::Basic("test-client", "test-secret");
    let cc = "grant_type=client_credentials";
    let post = "grant_type=client_credentials&client_id=test-client&client_secret=test-secret";
    let bearer = "Bearer abc";
    // (what, body, auth, status, error); every 401 carries a Basic challenge.
    let cases: &[(&str, &str, Auth, u16, &str)] = &[
        ("both methods at once", post, ok, 400, "invalid_request"),
        ("no authentication", cc, Auth::None, 401, "invalid_client"),
        (
            "client_id alone",
            "grant_type=client_credentials&client_id=test-client",
            Auth::None,
            401,
            "invalid_client",
        ),
        (
            "bad secret, basic",
            cc,
            Auth::Basic("test-client", "wrong"),
            401,
            "invalid_client",
        ),
        (
            "bad secret, post",
            "grant_type=client_credentials&client_id=test-client&client_secret=wrong",
            Auth::None,
            401,
            "invalid_client",
        ),
        (
            "unknown client",
            cc,
            Auth::Basic("nobody", "test-secret"),
            401,
            "invalid_client",
        ),
        (
            "another scheme",
            cc,
            Auth::Header(bearer),
            401,
            "invalid_client",
        ),
        (
            "wrong grant_type",
            "grant_type=password&username=a&password=b",
            ok,
            400,
            "unsupported_grant_type",
        ),
        (
            "missing grant_type",
            "scope=read",
            ok,
            400,
            "invalid_request",
        ),
        (
            "empty grant_type",
            "grant_type=",
            ok,
            400,
            "invalid_request",
        ),
        (
            "repeated parameter",
            "grant_type=client_credentials&scope=read&scope=write",
            ok,
            400,
            "invalid_request",
        ),
        (
            "repeated grant_type",
            "grant_type=client_credentials&grant_type=client_credentials",
            ok,
            400,
            "invalid_request",
        ),
        (
            "client_id differs from Basic",
            "grant_type=client_credentials&client_id=other",
            ok,
            400,
            "invalid_request",
        ),
        (
            "scope not allowed",
            "grant_type=client_credentials&scope=read%20delete",
            ok,
            400,
            "invalid_scope",
        ),
        (
            "malformed scope",
            "grant_type=client_credentials&scope=a%22b",
            ok,
            400,
            "invalid_scope",
        ),
        (
            "unknown resource",
            "grant_type=client_credentials&resource=https%3A%2F%2Fother.example.com",
            ok,
            400,
            "invalid_target",
        ),
        (
            "relative resource",
            "grant_type=client_credentials&resource=%2Fapi",
            ok,
            400,
            "invalid_target",
        ),
        (
            "resource with fragment",
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com%23x",
            ok,
            400,
            "invalid_target",
        ),
        (
            "client not allowed the grant",
            cc,
            Auth::Basic("no-grant", "secret"),
            400,
            "unauthorized_client",
        ),
    ];
    for (n, (what, body, auth, status, error)) in cases.iter().enumerate() {
        let reply = token_request(&http, &issuer, body, *auth).await;
        assert_eq!(reply.status.as_u16(), *status, "{what}: {reply:?}");
        assert_eq!(reply.error(), *error, "{what}");
        assert!(reply.json()["error_description"].is_string(), "{what}");
        assert!(reply.json().get("access_token").is_none(), "{what}");
        assert_no_store(&reply);
        let challenge = reply.header("www-authenticate");
        if *status == 401 {
            let challenge = challenge.unwrap_or_else(|| panic!("{what}: no challenge"));
            assert!(
                challenge.starts_with("Basic realm=\""),
                "{what}: {challenge}"
            );
        } else {
            assert_eq!(challenge, None, "{what}");
        }
        assert_eq!(
            issuer.token_requests(),
            n + 1,
            "{what}: every request counts"
        );
    }

    // Not a form.
    let reply = token_request_typed(
        &http,
        &issuer,
        r#"{"grant_type":"client_credentials"}"#,
        ok,
        "application/json",
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error(), "invalid_request");
    assert_no_store(&reply);
    // A charset parameter is fine.
    let reply = token_request_typed(
        &http,
        &issuer,
        cc,
        ok,
        "application/x-www-form-urlencoded; charset=UTF-8",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");

    // Two Authorization headers.
    let reply = send(
        http.post(issuer.token_endpoint())
            .header("content-type", FORM)
            .header("authorization", basic("test-client", "test-secret"))
            .header("authorization", basic("test-client", "test-secret"))
            .body(cc),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error(), "invalid_request");

    // Only POST; other methods are not counted as token requests.
    let before = issuer.token_requests();
    let reply = get(&http, &issuer.token_endpoint()).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.header("allow"), Some("POST"));
    assert_no_store(&reply);
    assert_eq!(issuer.token_requests(), before);
}

#[tokio::test]
async fn scope_and_resource_shape_the_token() {
    let http = Client::new();
    let issuer = TestIssuer::builder()
        .client(
            TestClient::new("reports", "s1")
                .scopes(["reports:read", "reports:write"])
                .default_scope("reports:read"),
        )
        .resource("https://reports.example.com")
        .resource("https://billing.example.com")
        .token_lifetime(Duration::from_secs(300))
        .start()
        .await;
    assert_eq!(issuer.audience(), "https://reports.example.com");
    let validator = issuer.validator();
    let auth = Auth::Basic("reports", "s1");
    let issue = |body: &'static str| {
        let (http, issuer) = (http.clone(), issuer.clone());
        async move {
            let reply = token_request(&http, &issuer, body, auth).await;
            assert_eq!(reply.status, StatusCode::OK, "{body}: {reply:?}");
            reply.json()
        }
    };

    // No scope: the default scope; no resource: the default audience.
    let body = issue("grant_type=client_credentials").await;
    assert_eq!(body["scope"], "reports:read");
    assert_eq!(body["expires_in"], 300);
    let claims = validator
        .validate(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims.audience(), ["https://reports.example.com"]);
    assert_eq!(claims.scopes().iter().collect::<Vec<_>>(), ["reports:read"]);

    // A narrower or wider scope within the allowed ones; duplicates collapse.
    let body =
        issue("grant_type=client_credentials&scope=reports%3Awrite+reports%3Aread+reports%3Awrite")
            .await;
    assert_eq!(body["scope"], "reports:write reports:read");

    // resource → aud; several → an array.
    let body =
        issue("grant_type=client_credentials&resource=https%3A%2F%2Fbilling.example.com").await;
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(segment(token, 1)["aud"], "https://billing.example.com");
    assert_eq!(
        validator.validate(token).await.unwrap().audience(),
        ["https://billing.example.com"]
    );
    let body = issue(
        "grant_type=client_credentials&resource=https%3A%2F%2Fbilling.example.com&resource=https%3A%2F%2Freports.example.com",
    )
    .await;
    assert_eq!(
        segment(body["access_token"].as_str().unwrap(), 1)["aud"],
        json!(["https://billing.example.com", "https://reports.example.com"])
    );

    // A validator for the reports API alone refuses billing tokens.
    let reports_only = Validator::builder()
        .issuer(bearer_guard::Issuer::new(issuer.issuer()).audience("https://reports.example.com"))
        .build()
        .unwrap();
    let billing = issuer
        .token()
        .audience("https://billing.example.com")
        .sign();
    assert_eq!(
        kind_of(&reports_only, &billing).await,
        ErrorKind::InvalidAudience
    );
}

#[tokio::test]
async fn clients_and_secrets_change_at_run_time() {
    let http = Client::new();
    let issuer = TestIssuer::start().await;
    let cc = "grant_type=client_credentials";
    let status = |id: &'static str, secret: &'static str| {
        let (http, issuer) = (http.clone(), issuer.clone());
        async move {
            token_request(&http, &issuer, cc, Auth::Basic(id, secret))
                .await
                .status
        }
    };
    assert_eq!(status("svc", "old").await, StatusCode::UNAUTHORIZED);

    issuer.add_client(TestClient::new("svc", "old").secret("new"));
    assert_eq!(status("svc", "old").await, StatusCode::OK);
    assert_eq!(status("svc", "new").await, StatusCode::OK);

    issuer.remove_client_secret("svc", "old");
    assert_eq!(status("svc", "old").await, StatusCode::UNAUTHORIZED);
    assert_eq!(status("svc", "new").await, StatusCode::OK);

    // Replacing a client replaces its scopes too.
    issuer.add_client(TestClient::new("svc", "new").scopes(["read"]));
    let reply = token_request(
        &http,
        &issuer,
        "grant_type=client_credentials&scope=write",
        Auth::Basic("svc", "new"),
    )
    .await;
    assert_eq!(reply.error(), "invalid_scope");

    issuer.remove_client("svc");
    assert_eq!(status("svc", "new").await, StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------------
// Metadata and JWKS
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn metadata_jwks_and_routes() {
    let http = Client::new();
    let issuer = TestIssuer::start().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let reply = get(&http, &format!("{}{path}", issuer.issuer())).await;
        assert_eq!(reply.status, StatusCode::OK);
        let metadata = reply.json();
        assert_eq!(metadata["issuer"], issuer.issuer());
        assert_eq!(metadata["token_endpoint"], issuer.token_endpoint());
        assert_eq!(metadata["jwks_uri"], issuer.jwks_uri());
        assert_eq!(
            metadata["grant_types_supported"],
            json!(["client_credentials"])
        );
        assert_eq!(
            metadata["token_endpoint_auth_methods_supported"],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
        assert_eq!(
            metadata["scopes_supported"],
            json!(["admin", "read", "write"])
        );
    }
    assert_eq!(
        issuer.metadata_url(),
        format!("{}/.well-known/openid-configuration", issuer.issuer())
    );

    let reply = get(&http, &issuer.jwks_uri()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("cache-control"), Some("max-age=60"));
    assert_eq!(
        reply.header("content-type"),
        Some("application/jwk-set+json")
    );
    let jwks = reply.json();
    assert_eq!(jwks, serde_json::from_str::<Value>(&issuer.jwks()).unwrap());
    let key = &jwks["keys"][0];
    assert_eq!(key["kid"], issuer.signing_kid());
    assert_eq!(
        (
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert_eq!(issuer.jwks_fetches(), 1);

    assert_eq!(
        get(&http, &format!("{}/nope", issuer.issuer()))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let reply = send(http.clone().post(issuer.jwks_uri())).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(issuer.jwks_fetches(), 1, "only GETs count");

    let quiet = TestIssuer::builder().jwks_max_age(None).start().await;
    assert_eq!(
        get(&http, &quiet.jwks_uri()).await.header("cache-control"),
        None
    );
}

#[tokio::test]
async fn every_key_algorithm_validates() {
    let http = Client::new();
    for alg in [
        KeyAlgorithm::Rs256,
        KeyAlgorithm::Ps256,
        KeyAlgorithm::Es256,
        KeyAlgorithm::Es384,
        KeyAlgorithm::EdDsa,
    ] {
        let issuer = TestIssuer::builder().signing_key(alg).start().await;
        let validator = strict_validator(&issuer);
        let minted = issuer.token().sign();
        assert_eq!(segment(&minted, 0)["alg"], alg.name());
        validator
            .validate(&minted)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        let (id, secret) = issuer.default_client();
        let reply = token_request(
            &http,
            &issuer,
            "grant_type=client_credentials",
            Auth::Basic(&id, &secret),
        )
        .await;
        let issued = reply.json()["access_token"].as_str().unwrap().to_owned();
        validator
            .validate(&issued)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        let crv = serde_json::from_str::<Value>(&issuer.jwks()).unwrap()["keys"][0]["crv"].clone();
        let expected = match alg {
            KeyAlgorithm::Es256 => json!("P-256"),
            KeyAlgorithm::Es384 => json!("P-384"),
            KeyAlgorithm::EdDsa => json!("Ed25519"),
            _ => Value::Null,
        };
        assert_eq!(crv, expected, "{alg}");
    }
}

// ---------------------------------------------------------------------------------------------
// Minted tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn minted_tokens_fail_exactly_as_broken() {
    let http = Client::new();
    let issuer = TestIssuer::start().await;
    let lenient = issuer.validator();
    let strict = strict_validator(&issuer);

    // The defaults are what the token endpoint issues to the default client.
    let minted = issuer.token().sign();
    let claims = strict.validate(&minted).await.unwrap();
    assert_eq!(claims.client_id(), Some("test-client"));
    assert_eq!(claims.subject(), Some("test-client"));
    assert_eq!(claims.scopes().len(), 3);
    let (id, secret) = issuer.default_client();
    let reply = token_request(
        &http,
        &issuer,
        "grant_type=client_credentials",
        Auth::Basic(&id, &secret),
    )
    .await;
    let issued = segment(reply.json()["access_token"].as_str().unwrap(), 1);
    let minted = segment(&minted, 1);
    let names = |v: &Value| {
        let mut names: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    };
    assert_eq!(names(&issued), names(&minted));
    for same in ["iss", "sub", "client_id", "aud", "scope"] {
        assert_eq!(issued[same], minted[same], "{same}");
    }
    assert_ne!(issued["jti"], minted["jti"]);

    let cases: Vec<(&str, String, &Validator, ErrorKind)> = vec![
        (
            "expired",
            issuer.token().expired().sign(),
            &lenient,
            ErrorKind::Expired,
        ),
        (
            "not yet valid",
            issuer.token().not_yet_valid().sign(),
            &lenient,
            ErrorKind::NotYetValid,
        ),
        (
            "issued in the future",
            issuer.token().issued_in_future().sign(),
            &lenient,
            ErrorKind::IssuedInFuture,
        ),
        (
            "wrong audience",
            issuer.token().audience("https://other.example.com").sign(),
            &lenient,
            ErrorKind::InvalidAudience,
        ),
        (
            "wrong issuer",
            issuer.token().issuer("https://evil.example.com").sign(),
            &lenient,
            ErrorKind::InvalidIssuer,
        ),
        (
            "trailing slash issuer",
            issuer
                .token()
                .issuer(format!("{}/", issuer.issuer()))
                .sign(),
            &lenient,
            ErrorKind::InvalidIssuer,
        ),
        (
            "no typ, strict",
            issuer.token().typ(None).sign(),
            &strict,
            ErrorKind::InvalidType,
        ),
        (
            "JWT typ, strict",
            issuer.token().typ(Some("JWT")).sign(),
            &strict,
            ErrorKind::InvalidType,
        ),
        (
            "id token typ",
            issuer.token().typ(Some("id_token+jwt")).sign(),
            &lenient,
            ErrorKind::InvalidType,
        ),
        (
            "no jti, strict",
            issuer.token().without_claim("jti").sign(),
            &strict,
            ErrorKind::InvalidClaim,
        ),
        (
            "exp a string",
            issuer.token().claim("exp", json!("9999999999")).sign(),
            &lenient,
            ErrorKind::InvalidClaim,
        ),
        (
            "no aud",
            issuer.token().without_claim("aud").sign(),
            &lenient,
            ErrorKind::InvalidAudience,
        ),
        (
            "unknown key",
            issuer.token().signed_by_unknown_key().sign(),
            &lenient,
            ErrorKind::UnknownKey,
        ),
        (
            "kid of another key",
            issuer.token().kid("nope").sign(),
            &lenient,
            ErrorKind::UnknownKey,
        ),
    ];
    for (what, token, validator, kind) in cases {
        assert_eq!(kind_of(validator, &token).await, kind, "{what}");
    }

    // What the lenient default accepts.
    lenient
        .validate(&issuer.token().typ(None).sign())
        .await
        .unwrap();
    lenient
        .validate(&issuer.token().without_kid().sign())
        .await
        .unwrap();
    let claims = lenient
        .validate(
            &issuer
                .token()
                .client_id("svc")
                .scope("a b")
                .audiences(["https://api.example.com", "x"])
                .claim("tenant", json!("t1"))
                .sign(),
        )
        .await
        .unwrap();
    assert_eq!(claims.client_id(), Some("svc"));
    assert_eq!(claims.subject(), Some("svc"));
    assert_eq!(claims.scopes().iter().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(claims.extra()["tenant"], "t1");
    let claims = lenient
        .validate(
            &issuer
                .token()
                .subject("someone")
                .lifetime(Duration::from_secs(60))
                .sign(),
        )
        .await
        .unwrap();
    assert_eq!(claims.subject(), Some("someone"));
    assert_eq!(claims.expires_at() - claims.issued_at().unwrap(), 60);
}

// ---------------------------------------------------------------------------------------------
// Keys: rotation, retirement, removal
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rotated_keys_validate_and_old_ones_until_removed() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator();
    let first = issuer.signing_kid();
    let old = issuer.token().sign();
    validator.validate(&old).await.unwrap();
    assert_eq!(issuer.jwks_fetches(), 1);

    let second = issuer.rotate_key(KeyAlgorithm::Es256);
    assert_ne!(second, first);
    assert_eq!(issuer.signing_kid(), second);
    assert_eq!(issuer.published_kids(), [first.clone(), second.clone()]);
    let new = issuer.token().sign();
    assert_eq!(segment(&new, 0)["kid"], second);
    assert_eq!(segment(&new, 0)["alg"], "ES256");
    // The unknown kid makes the validator refetch once.
    validator.validate(&new).await.unwrap();
    assert_eq!(issuer.jwks_fetches(), 2);
    validator.validate(&old).await.unwrap();
    validator.validate(&new).await.unwrap();
    assert_eq!(issuer.jwks_fetches(), 2);

    // A validator that refreshes often sees the removal.
    let quick = Validator::builder()
        .issuer(issuer.issuer_config())
        .jwks_ttl_bounds(Duration::ZERO, Duration::from_millis(100))
        .build()
        .unwrap();
    quick.validate(&old).await.unwrap();
    issuer.remove_key(&first);
    assert_eq!(issuer.published_kids(), [second.as_str()]);
    assert_eq!(issuer.signing_kid(), second);
    let deadline = Instant::now() + Duration::from_secs(3);
    let kind = loop {
        match quick.validate(&old).await {
            Err(error) => break error.kind(),
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Ok(_) => panic!("the removed key still verifies"),
        }
    };
    assert_eq!(kind, ErrorKind::UnknownKey);
    quick.validate(&new).await.unwrap();
    // Tokens can still be signed with the removed key, and fail.
    let stale = issuer.token().signed_with(&first).sign();
    assert_eq!(kind_of(&quick, &stale).await, ErrorKind::UnknownKey);
}

#[tokio::test]
async fn added_and_retired_keys() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator();
    let first = issuer.signing_kid();

    // Published ahead of use: a validator knows it before any token carries it.
    let next = issuer.add_key(KeyAlgorithm::EdDsa);
    assert_eq!(issuer.signing_kid(), first);
    validator.validate(&issuer.token().sign()).await.unwrap();
    let fetches = issuer.jwks_fetches();
    validator
        .validate(&issuer.token().signed_with(&next).sign())
        .await
        .unwrap();
    assert_eq!(
        issuer.jwks_fetches(),
        fetches,
        "no refetch for a pre-published key"
    );
    issuer.sign_with(&next);
    assert_eq!(issuer.signing_kid(), next);

    // Retiring the signer falls back to the newest other published key; it stays published.
    let third = issuer.rotate_key(KeyAlgorithm::Es384);
    issuer.retire_key(&third);
    assert_eq!(issuer.signing_kid(), next);
    issuer.retire_key(&next);
    assert_eq!(issuer.signing_kid(), first);
    assert_eq!(
        issuer.published_kids(),
        [first.clone(), next.clone(), third.clone()]
    );
    // Retiring a key that does not sign changes nothing else.
    issuer.retire_key(&third);
    assert_eq!(issuer.signing_kid(), first);
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn jwks_faults_make_keys_unavailable() {
    let http = Client::new();
    let issuer = TestIssuer::start().await;
    let token = issuer.token().sign();
    let fresh = || {
        Validator::builder()
            .issuer(issuer.issuer_config())
            .fetch_timeout(Duration::from_millis(300))
            .build()
            .unwrap()
    };

    for (fault, status) in [
        (
            JwksFault::Status(500),
            Some(StatusCode::INTERNAL_SERVER_ERROR),
        ),
        (JwksFault::Status(404), Some(StatusCode::NOT_FOUND)),
        (JwksFault::Garbage, Some(StatusCode::OK)),
        (JwksFault::Hang, None),
    ] {
        issuer.set_jwks_fault(fault);
        let before = issuer.jwks_fetches();
        let started = Instant::now();
        assert_eq!(
            kind_of(&fresh(), &token).await,
            ErrorKind::KeysUnavailable,
            "{fault:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3), "{fault:?}");
        assert_eq!(issuer.jwks_fetches(), before + 1, "{fault:?}");
        if let Some(status) = status {
            let reply = get(&http, &issuer.jwks_uri()).await;
            assert_eq!(reply.status, status, "{fault:?}");
            if fault == JwksFault::Garbage {
                assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
            }
        }
    }

    // A validator that has the keys rides out the outage.
    issuer.set_jwks_fault(JwksFault::None);
    let warm = fresh();
    warm.validate(&token).await.unwrap();
    issuer.set_jwks_fault(JwksFault::Status(503));
    warm.validate(&issuer.token().sign()).await.unwrap();
    issuer.set_jwks_fault(JwksFault::None);
    fresh().validate(&token).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Behind the guard, lifetime, Debug
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tokens_from_the_endpoint_pass_the_guard() {
    let http = Client::new();
    let issuer = TestIssuer::start().await;
    let app = Router::new()
        .route("/orders", routing::get(|| async { "orders" }))
        .route_layer(RequireScopeLayer::all(["read"]))
        .route_layer(GuardLayer::new(issuer.validator()));
    let call = |token: String| {
        let app = app.clone();
        async move {
            let request = Request::get("/orders")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            app.oneshot(request).await.unwrap().status()
        }
    };
    let (id, secret) = issuer.default_client();
    for (scope, status) in [("read", StatusCode::OK), ("write", StatusCode::FORBIDDEN)] {
        let body = format!("grant_type=client_credentials&scope={scope}");
        let reply = token_request(&http, &issuer, &body, Auth::Basic(&id, &secret)).await;
        let token = reply.json()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(call(token).await, status, "{scope}");
    }
    assert_eq!(
        call(issuer.token().expired().sign()).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_server_stops_with_the_last_handle() {
    let http = Client::new();
    let issuer = TestIssuer::start().await;
    let jwks_uri = issuer.jwks_uri();
    let copy = issuer.clone();
    drop(issuer);
    assert_eq!(
        get(&http, &jwks_uri).await.status,
        StatusCode::OK,
        "a clone keeps it up"
    );

    // A request held by Hang is released when the issuer stops.
    copy.set_jwks_fault(JwksFault::Hang);
    let held = tokio::spawn(http.get(&jwks_uri).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!held.is_finished());
    drop(copy);
    let released = tokio::time::timeout(Duration::from_secs(2), held)
        .await
        .expect("released")
        .unwrap();
    if let Ok(response) = released {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        // A new client, so that no pooled connection is reused.
        let attempt = Client::new().get(&jwks_uri).send().await;
        if attempt.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "still serving");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn debug_shows_no_secret() {
    let issuer = TestIssuer::builder()
        .client(TestClient::new("svc", "hunter2").secret("hunter3"))
        .start()
        .await;
    let shown = format!(
        "{issuer:?} {:?} {:?}",
        TestClient::new("a", "hunter2"),
        issuer.token()
    );
    assert!(shown.contains("svc"), "{shown}");
    for secret in ["hunter2", "hunter3"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}
