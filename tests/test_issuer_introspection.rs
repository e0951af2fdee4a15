//! `testing::TestIssuer` for resource servers that take opaque tokens, over real HTTP: opaque
//! tokens from the token endpoint and minted, the introspection endpoint (RFC 7662) and its
//! JWT answers (RFC 9701), the revocation endpoint (RFC 7009), faults and counters.
#![cfg(feature = "test-util")]

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::dpop::DpopKey;
use bearer_guard::testing::{IntrospectionFault, KeyAlgorithm, TestClient, TestIssuer};
use reqwest::Client;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// One answer of the issuer.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
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
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the issuer answers");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("a body").to_vec(),
    }
}

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
enum Auth<'a> {
    None,
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
}

fn authenticated(
    request: reqwest::RequestBuilder,
    auth: Auth<'_>,
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let request = match auth {
        Auth::None => request,
        Auth::Basic(id, secret) => request.basic_auth(id, Some(secret)),
        Auth::Post(id, secret) => {
            form.push(("client_id", id));
            form.push(("client_secret", secret));
            request
        }
    };
    request.form(&form)
}

/// `POST /introspect` with `token`.
async fn introspect(http: &Client, issuer: &TestIssuer, token: &str, auth: Auth<'_>) -> Reply {
    let request = http.post(issuer.introspection_endpoint());
    send(authenticated(request, auth, &[("token", token)])).await
}

/// `POST /revoke` with `token`.
async fn revoke(http: &Client, issuer: &TestIssuer, token: &str, auth: Auth<'_>) -> Reply {
    let request = http.post(issuer.revocation_endpoint());
    send(authenticated(request, auth, &[("token", token)])).await
}

/// A token of the token endpoint for `id`; the whole response body.
async fn token_response(
    http: &Client,
    issuer: &TestIssuer,
    auth: Auth<'_>,
    form: &[(&str, &str)],
    dpop: Option<String>,
) -> Value {
    let mut form = form.to_vec();
    form.push(("grant_type", "client_credentials"));
    let mut request = authenticated(http.post(issuer.token_endpoint()), auth, &form);
    if let Some(proof) = dpop {
        request = request.header("DPoP", proof);
    }
    let reply = send(request).await;
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    reply.json()
}

fn access_token(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// 32 random bytes, base64url: not a JWS.
fn assert_opaque(token: &str) {
    assert_eq!(token.len(), 43, "{}", token.len());
    assert!(!token.contains('.'));
    assert_eq!(URL_SAFE_NO_PAD.decode(token).expect("base64url").len(), 32);
}

fn assert_no_store(reply: &Reply) {
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{reply:?}");
}

fn inactive() -> Value {
    json!({ "active": false })
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Opaque tokens and introspection
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_opaque_token_from_the_endpoint_introspects_with_its_claims() {
    let http = Client::new();
    let issuer = TestIssuer::builder()
        .client(TestClient::new("rs", "rs-secret"))
        .client(TestClient::new("legacy", "legacy-secret").opaque_tokens())
        .resource("https://api.example.com")
        .resource("https://other.example.com")
        .start()
        .await;

    let body = token_response(
        &http,
        &issuer,
        Auth::Basic("legacy", "legacy-secret"),
        &[
            ("scope", "read write"),
            ("resource", "https://other.example.com"),
        ],
        None,
    )
    .await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read write");
    let token = access_token(&body);
    assert_opaque(&token);

    // The resource server introspects it with its own credentials, Basic or in the body.
    for auth in [
        Auth::Basic("rs", "rs-secret"),
        Auth::Post("rs", "rs-secret"),
    ] {
        let reply = introspect(&http, &issuer, &token, auth).await;
        assert_eq!(reply.status, 200, "{auth:?}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_no_store(&reply);
        let answer = reply.json();
        assert_eq!(answer["active"], true);
        assert_eq!(answer["iss"], issuer.issuer());
        assert_eq!(answer["sub"], "legacy");
        assert_eq!(answer["client_id"], "legacy");
        assert_eq!(answer["aud"], "https://other.example.com");
        assert_eq!(answer["scope"], "read write");
        assert_eq!(answer["token_type"], "Bearer");
        let (iat, exp) = (
            answer["iat"].as_i64().unwrap(),
            answer["exp"].as_i64().unwrap(),
        );
        assert!((iat - now()).abs() < 60, "{iat}");
        assert_eq!(exp - iat, 3600);
        assert!(answer["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
        assert!(answer.get("nbf").is_none() && answer.get("cnf").is_none());
        assert_eq!(answer, issuer.introspect(&token), "the same without HTTP");
    }

    // Other clients still get JWTs.
    let body = token_response(&http, &issuer, Auth::Basic("rs", "rs-secret"), &[], None).await;
    assert_eq!(access_token(&body).split('.').count(), 3);
    assert_eq!(issuer.introspection_requests(), 2);
}

#[tokio::test]
async fn an_opaque_issuer_issues_opaque_tokens_to_everyone() {
    let http = Client::new();
    let issuer = TestIssuer::builder()
        .opaque_tokens()
        .token_lifetime(Duration::from_secs(120))
        .start()
        .await;
    let (id, secret) = issuer.default_client();
    let body = token_response(&http, &issuer, Auth::Post(&id, &secret), &[], None).await;
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["scope"], "read write admin");
    let token = access_token(&body);
    assert_opaque(&token);
    let answer = introspect(&http, &issuer, &token, Auth::Basic(&id, &secret))
        .await
        .json();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["scope"], "read write admin");
    assert_eq!(answer["aud"], issuer.audience());
    assert_eq!(
        answer["exp"].as_i64().unwrap() - answer["iat"].as_i64().unwrap(),
        120
    );
    // A validator cannot use it: it is no JWT.
    assert!(issuer.validator().validate(&token).await.is_err());
    // Two tokens, two different strings.
    let again =
        access_token(&token_response(&http, &issuer, Auth::Post(&id, &secret), &[], None).await);
    assert_ne!(again, token);
}

#[tokio::test]
async fn a_dpop_bound_opaque_token_introspects_as_dpop() {
    let http = Client::new();
    let issuer = TestIssuer::builder().opaque_tokens().start().await;
    let (id, secret) = issuer.default_client();
    let key = DpopKey::generate();
    let proof = key.proof("POST", &issuer.token_endpoint()).sign();
    let body = token_response(&http, &issuer, Auth::Basic(&id, &secret), &[], Some(proof)).await;
    assert_eq!(body["token_type"], "DPoP");
    let token = access_token(&body);
    assert_opaque(&token);
    let answer = introspect(&http, &issuer, &token, Auth::Basic(&id, &secret))
        .await
        .json();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["token_type"], "DPoP");
    assert_eq!(answer["cnf"], json!({ "jkt": key.thumbprint() }));

    let minted = issuer.token().dpop_bound(&key).sign_opaque();
    assert_eq!(issuer.introspect(&minted)["cnf"]["jkt"], key.thumbprint());
    assert_eq!(issuer.introspect(&minted)["token_type"], "DPoP");
}

#[tokio::test]
async fn minted_opaque_tokens_keep_what_was_asked_for() {
    let http = Client::new();
    let issuer = TestIssuer::start().await;
    let (id, secret) = issuer.default_client();
    let auth = Auth::Basic(&id, &secret);

    let token = issuer
        .token()
        .client_id("svc")
        .subject("user-7")
        .scope("orders:read")
        .audience("https://elsewhere.example.com")
        .claim("tenant", json!("acme"))
        .sign_opaque();
    assert_opaque(&token);
    let answer = introspect(&http, &issuer, &token, auth).await.json();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], "svc");
    assert_eq!(answer["sub"], "user-7");
    assert_eq!(answer["scope"], "orders:read");
    assert_eq!(
        answer["aud"], "https://elsewhere.example.com",
        "the audience is the resource server's to check"
    );
    assert_eq!(answer["tenant"], "acme");

    // Not yet valid: active, with the nbf for the resource server to judge.
    let premature = issuer.token().not_yet_valid().sign_opaque();
    let answer = introspect(&http, &issuer, &premature, auth).await.json();
    assert_eq!(answer["active"], true);
    assert!(answer["nbf"].as_i64().unwrap() > now());

    // Expired, unknown, empty-looking, a JWS-looking string: inactive, and nothing else.
    let expired = issuer.token().expired().sign_opaque();
    let random = URL_SAFE_NO_PAD.encode([7u8; 32]);
    for token in [expired.as_str(), "unknown-token", "a.b.c", random.as_str()] {
        let reply = introspect(&http, &issuer, token, auth).await;
        assert_eq!(reply.status, 200);
        assert_no_store(&reply);
        assert_eq!(reply.json(), inactive(), "{token}");
    }
}

#[tokio::test]
async fn jwts_of_this_issuer_introspect_too() {
    let http = Client::new();
    let issuer = TestIssuer::start().await;
    let (id, secret) = issuer.default_client();
    let auth = Auth::Basic(&id, &secret);

    let jwt = access_token(&token_response(&http, &issuer, auth, &[("scope", "read")], None).await);
    let answer = introspect(&http, &issuer, &jwt, auth).await.json();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["scope"], "read");
    assert_eq!(answer["token_type"], "Bearer");
    let key = DpopKey::generate();
    let bound = issuer.token().dpop_bound(&key).sign();
    assert_eq!(issuer.introspect(&bound)["token_type"], "DPoP");

    // Whatever this issuer would not vouch for is inactive.
    let old_kid = issuer.signing_kid();
    let by_old_key = issuer.token().sign();
    for token in [
        issuer.token().expired().sign(),
        issuer.token().issuer("https://other.example.com").sign(),
        issuer.token().signed_by_unknown_key().sign(),
        issuer
            .token()
            .kid(issuer.signing_kid())
            .signed_by_unknown_key()
            .sign(),
        issuer.token().without_kid().sign(),
        format!("{jwt}x"),
    ] {
        assert_eq!(
            introspect(&http, &issuer, &token, auth).await.json(),
            inactive()
        );
    }
    // A rotated key's tokens stay active while it is published.
    issuer.rotate_key(KeyAlgorithm::Es256);
    assert_eq!(issuer.introspect(&by_old_key)["active"], true);
    assert_eq!(issuer.introspect(&issuer.token().sign())["active"], true);
    issuer.remove_key(&old_kid);
    assert_eq!(issuer.introspect(&by_old_key), inactive());
}

#[tokio::test]
async fn introspection_refuses_unauthenticated_and_malformed_requests() {
    let http = Client::new();
    let issuer = TestIssuer::start().await;
    let (id, secret) = issuer.default_client();
    let token = issuer.token().sign_opaque();

    for auth in [
        Auth::None,
        Auth::Basic(&id, "wrong"),
        Auth::Basic("nobody", &secret),
        Auth::Post(&id, "wrong"),
    ] {
        let reply = introspect(&http, &issuer, &token, auth).await;
        assert_eq!(reply.status, 401, "{auth:?}");
        assert_eq!(reply.json()["error"], "invalid_client", "{auth:?}");
        assert!(
            reply
                .header("www-authenticate")
                .is_some_and(|c| c.starts_with("Basic realm=")),
            "{reply:?}"
        );
        assert_no_store(&reply);
        assert!(!String::from_utf8_lossy(&reply.body).contains(&token));
    }

    // No token, a form that is no form, both methods at once.
    let missing = send(authenticated(
        http.post(issuer.introspection_endpoint()),
        Auth::Basic(&id, &secret),
        &[("token_type_hint", "access_token")],
    ))
    .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["error"], "invalid_request");
    let not_a_form = send(
        http.post(issuer.introspection_endpoint())
            .basic_auth(&id, Some(&secret))
            .header("content-type", "application/json")
            .body(json!({ "token": token }).to_string()),
    )
    .await;
    assert_eq!(not_a_form.status, 400);
    assert_eq!(not_a_form.json()["error"], "invalid_request");
    let both = send(authenticated(
        http.post(issuer.introspection_endpoint()),
        Auth::Basic(&id, &secret),
        &[("token", &token), ("client_secret", &secret)],
    ))
    .await;
    assert_eq!(both.status, 400);

    // The hint is accepted and ignored.
    let hinted = send(authenticated(
        http.post(issuer.introspection_endpoint()),
        Auth::Basic(&id, &secret),
        &[("token", &token), ("token_type_hint", "refresh_token")],
    ))
    .await;
    assert_eq!(hinted.json()["active"], true);

    // GET is not the method.
    let get = send(http.get(issuer.introspection_endpoint())).await;
    assert_eq!(get.status, 405);
    assert_eq!(get.header("allow"), Some("POST"));
    assert_eq!(
        issuer.introspection_requests(),
        8,
        "every POST counts, GETs do not"
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 9701
// ---------------------------------------------------------------------------------------------

/// Verifies an RFC 9701 answer with the issuer's published keys; its header and claims.
fn verify_jwt_answer(issuer: &TestIssuer, jwt: &str, audience: &str) -> (Value, Value) {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&issuer.jwks()).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().expect("a kid"))
        .expect("a published key");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[issuer.issuer()]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["iss", "aud", "iat"]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .expect("signed by the issuer")
        .claims;
    let header_json: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    (header_json, claims)
}

#[tokio::test]
async fn a_jwt_answer_is_signed_by_the_issuer_for_the_asking_client() {
    let http = Client::new();
    for alg in [KeyAlgorithm::Rs256, KeyAlgorithm::Es256] {
        let issuer = TestIssuer::builder()
            .client(TestClient::new("rs", "rs-secret"))
            .signing_key(alg)
            .start()
            .await;
        let token = issuer.token().scope("read").sign_opaque();
        let ask = |token: String, accept: &'static str| {
            send(
                http.post(issuer.introspection_endpoint())
                    .basic_auth("rs", Some("rs-secret"))
                    .header("accept", accept)
                    .form(&[("token", token)]),
            )
        };

        let reply = ask(token.clone(), JWT_MEDIA_TYPE).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some(JWT_MEDIA_TYPE));
        assert_no_store(&reply);
        let jwt = String::from_utf8(reply.body.clone()).unwrap();
        let (header, claims) = verify_jwt_answer(&issuer, &jwt, "rs");
        assert_eq!(header["typ"], "token-introspection+jwt");
        assert_eq!(header["alg"], alg.name());
        assert_eq!(header["kid"], issuer.signing_kid());
        assert_eq!(claims["iss"], issuer.issuer());
        assert_eq!(claims["aud"], "rs");
        assert!((claims["iat"].as_i64().unwrap() - now()).abs() < 60);
        assert!(claims.get("sub").is_none() && claims.get("exp").is_none());
        assert_eq!(claims["token_introspection"], issuer.introspect(&token));
        assert_eq!(claims["token_introspection"]["active"], true);
        assert_eq!(claims["token_introspection"]["scope"], "read");

        // Inactive tokens get a signed `active: false`.
        let reply = ask(
            "unknown".into(),
            "application/json, application/token-introspection+jwt;q=0.9",
        )
        .await;
        let (_, claims) = verify_jwt_answer(&issuer, &String::from_utf8(reply.body).unwrap(), "rs");
        assert_eq!(claims["token_introspection"], inactive());

        // Plain JSON otherwise.
        let reply = ask(token.clone(), "application/json").await;
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.json()["active"], true);
    }

    // The answer is signed by the current key, and the metadata says with what.
    let issuer = TestIssuer::start().await;
    let kid = issuer.rotate_key(KeyAlgorithm::EdDsa);
    let (id, secret) = issuer.default_client();
    let reply = send(
        http.post(issuer.introspection_endpoint())
            .basic_auth(&id, Some(&secret))
            .header("accept", JWT_MEDIA_TYPE)
            .form(&[("token", "x")]),
    )
    .await;
    let jwt = String::from_utf8(reply.body).unwrap();
    let (header, _) = verify_jwt_answer(&issuer, &jwt, &id);
    assert_eq!(header["kid"], kid);
    let metadata = send(http.get(issuer.metadata_url())).await.json();
    assert_eq!(
        metadata["introspection_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
}

// ---------------------------------------------------------------------------------------------
// Revocation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn revoked_tokens_are_inactive() {
    let http = Client::new();
    let issuer = TestIssuer::builder()
        .client(TestClient::new("app", "app-secret").opaque_tokens())
        .client(TestClient::new("other", "other-secret"))
        .start()
        .await;
    let app = Auth::Basic("app", "app-secret");

    // The client revokes its own token over HTTP.
    let token = access_token(&token_response(&http, &issuer, app, &[], None).await);
    assert_eq!(
        introspect(&http, &issuer, &token, app).await.json()["active"],
        true
    );
    let reply = revoke(&http, &issuer, &token, Auth::Post("app", "app-secret")).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());
    assert_no_store(&reply);
    assert_eq!(
        introspect(&http, &issuer, &token, app).await.json(),
        inactive()
    );
    // Again, and unknown tokens: 200 all the same.
    for token in [token.as_str(), "never-issued"] {
        assert_eq!(revoke(&http, &issuer, token, app).await.status, 200);
    }

    // Another client's token is refused, and stays active.
    let theirs = issuer.token().client_id("other").sign_opaque();
    let reply = revoke(&http, &issuer, &theirs, app).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "invalid_grant");
    assert_eq!(issuer.introspect(&theirs)["active"], true);

    // Unauthenticated: 401, nothing revoked.
    let mine = issuer.token().client_id("app").sign_opaque();
    let reply = revoke(&http, &issuer, &mine, Auth::None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"], "invalid_client");
    assert_eq!(issuer.introspect(&mine)["active"], true);

    // A JWT of the client can be revoked too (introspection only: a validator does not ask).
    let jwt = access_token(
        &token_response(
            &http,
            &issuer,
            Auth::Basic("other", "other-secret"),
            &[],
            None,
        )
        .await,
    );
    assert_eq!(
        revoke(&http, &issuer, &jwt, Auth::Basic("other", "other-secret"))
            .await
            .status,
        200
    );
    assert_eq!(issuer.introspect(&jwt), inactive());
    issuer.validator().validate(&jwt).await.unwrap();

    // Directly, without HTTP.
    issuer.revoke(&mine);
    assert_eq!(
        introspect(&http, &issuer, &mine, app).await.json(),
        inactive()
    );
    assert_eq!(issuer.revocation_requests(), 6);

    let metadata = send(http.get(issuer.metadata_url())).await.json();
    assert_eq!(
        metadata["revocation_endpoint"],
        issuer.revocation_endpoint()
    );
    assert_eq!(
        metadata["introspection_endpoint"],
        issuer.introspection_endpoint()
    );
    for member in [
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        assert_eq!(
            metadata[member],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
    }
    assert_eq!(
        send(http.get(issuer.revocation_endpoint())).await.status,
        405
    );
}

// ---------------------------------------------------------------------------------------------
// Faults and counters
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn introspection_faults_break_the_endpoint_until_cleared() {
    let issuer = TestIssuer::start().await;
    let (id, secret) = issuer.default_client();
    let auth = Auth::Basic(&id, &secret);
    let token = issuer.token().sign_opaque();
    let http = Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();

    for (fault, status) in [
        (IntrospectionFault::Status(500), 500),
        (IntrospectionFault::Status(503), 503),
        (IntrospectionFault::Status(401), 401),
        (IntrospectionFault::Status(1000), 500),
    ] {
        issuer.set_introspection_fault(fault);
        let reply = introspect(&http, &issuer, &token, auth).await;
        assert_eq!(reply.status, status, "{fault:?}");
        assert!(reply.body.is_empty(), "{fault:?}");
    }

    issuer.set_introspection_fault(IntrospectionFault::Garbage);
    let reply = introspect(&http, &issuer, &token, auth).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());

    issuer.set_introspection_fault(IntrospectionFault::Hang);
    let started = Instant::now();
    let error = http
        .post(issuer.introspection_endpoint())
        .basic_auth(&id, Some(&secret))
        .form(&[("token", &token)])
        .send()
        .await
        .expect_err("the request times out");
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // The token endpoint and revocation are not affected.
    let body = token_response(&http, &issuer, auth, &[], None).await;
    assert!(body["access_token"].is_string());

    issuer.set_introspection_fault(IntrospectionFault::None);
    let reply = introspect(&http, &issuer, &token, auth).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["active"], true);
    assert_eq!(issuer.introspection_requests(), 7);
    assert!(format!("{issuer:?}").contains("introspection_fault: None"));
}

#[tokio::test]
async fn debug_shows_no_token() {
    let issuer = TestIssuer::builder()
        .client(TestClient::new("svc", "hunter2").opaque_tokens())
        .start()
        .await;
    let token = issuer.token().sign_opaque();
    issuer.revoke(&issuer.token().sign_opaque());
    let shown = format!(
        "{issuer:?} {:?}",
        TestClient::new("a", "hunter2").opaque_tokens()
    );
    assert!(!shown.contains(&token), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("opaque_tokens: 2"), "{shown}");
    assert!(shown.contains("revoked_tokens: 1"), "{shown}");
}
