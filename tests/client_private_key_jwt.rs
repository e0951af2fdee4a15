//! `private_key_jwt` (RFC 7523 §2.2) end to end: the token source signs client assertions, the
//! TestIssuer checks them over real HTTP on loopback, and refuses the ones it must.
#![cfg(all(feature = "client", feature = "test-util"))]

mod common;

use bearer_guard::Algorithm;
use bearer_guard::client::{AssertionAudience, ClientKey, ErrorCode, TokenError, TokenSource};
use bearer_guard::testing::{TestClient, TestIssuer};
use common::{Key, now};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn client_key(key: Key) -> ClientKey {
    let pem = String::from_utf8(key.private_pem()).unwrap();
    ClientKey::from_pem(&pem).unwrap()
}

/// An issuer that knows `svc` by `jwk`.
async fn issuer_with(jwk: Value) -> TestIssuer {
    TestIssuer::builder()
        .client(TestClient::with_key("svc", jwk))
        .client(TestClient::new("secret-client", "s3cret"))
        .start()
        .await
}

#[tokio::test]
async fn assertions_of_every_algorithm_get_tokens() {
    let private_jwks: Value =
        serde_json::from_slice(&common::read_fixture("private-jwks.json")).unwrap();
    let jwk = |kid: &str| {
        private_jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()
            .to_string()
    };
    let cases = [
        ("RS256 pem", client_key(Key::Rsa2048), Algorithm::RS256),
        (
            "PS256 pem",
            client_key(Key::Rsa2048).algorithm(Algorithm::PS256),
            Algorithm::PS256,
        ),
        ("ES256 pem", client_key(Key::EcP256), Algorithm::ES256),
        ("ES384 pem", client_key(Key::EcP384), Algorithm::ES384),
        ("EdDSA pem", client_key(Key::Ed25519), Algorithm::EdDSA),
        (
            "RS256 jwk",
            ClientKey::from_jwk(&jwk("rsa2048")).unwrap(),
            Algorithm::RS256,
        ),
        (
            "ES256 jwk",
            ClientKey::from_jwk(&jwk("ec-p256")).unwrap(),
            Algorithm::ES256,
        ),
        (
            "EdDSA jwk",
            ClientKey::from_jwk(&jwk("ed25519")).unwrap(),
            Algorithm::EdDSA,
        ),
    ];
    for (case, key, alg) in cases {
        assert_eq!(key.public_jwk()["alg"], format!("{alg:?}"), "{case}");
        let issuer = issuer_with(key.public_jwk()).await;
        let source = TokenSource::builder_with_key("svc", key)
            .token_endpoint(issuer.token_endpoint())
            .scope("read")
            .build()
            .unwrap();
        let token = source
            .token()
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let claims = issuer.validator().validate(token.secret()).await.unwrap();
        assert_eq!(claims.client(), Some("svc"), "{case}");
        assert_eq!(
            issuer.last_client_auth_method().as_deref(),
            Some("private_key_jwt"),
            "{case}"
        );
        // A new token request signs a new assertion: its jti is not a replay.
        assert!(source.invalidate(&token));
        let second = source
            .token()
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_ne!(second, token);
        assert_eq!(issuer.token_requests(), 2, "{case}");
    }
}

#[tokio::test]
async fn the_issuer_as_audience_and_discovery() {
    let key = client_key(Key::EcP256).key_id("k-1");
    let issuer = issuer_with(key.public_jwk()).await;
    let source = TokenSource::builder_with_key("svc", key)
        .issuer(issuer.issuer())
        .assertion_audience(AssertionAudience::Issuer)
        .build()
        .unwrap();
    let token = source.token().await.unwrap();
    issuer.validator().validate(token.secret()).await.unwrap();
    let metadata = reqwest::get(issuer.metadata_url()).await.unwrap();
    let metadata: Value = serde_json::from_slice(&metadata.bytes().await.unwrap()).unwrap();
    assert!(
        metadata["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
}

/// A hand-made assertion: `claims` over the defaults (`null` removes one), signed with `key`.
fn assertion(issuer: &TestIssuer, key: Key, claims: Value) -> String {
    let mut all = json!({
        "iss": "svc",
        "sub": "svc",
        "aud": issuer.token_endpoint(),
        "jti": format!("jti-{}", rand_suffix()),
        "iat": now(),
        "exp": now() + 60,
    });
    for (name, value) in claims.as_object().unwrap() {
        if value.is_null() {
            all.as_object_mut().unwrap().remove(name);
        } else {
            all[name] = value.clone();
        }
    }
    let encoding: EncodingKey = key.encoding_key();
    jsonwebtoken::encode(&Header::new(key.alg()), &all, &encoding).unwrap()
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// POSTs a token request with `assertion`; the status and the `error`.
async fn send(issuer: &TestIssuer, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(issuer.token_endpoint())
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

async fn with_assertion(issuer: &TestIssuer, assertion: &str) -> (u16, Value) {
    send(
        issuer,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ],
    )
    .await
}

#[tokio::test]
async fn bad_assertions_are_invalid_client() {
    let issuer = issuer_with(client_key(Key::EcP256).public_jwk()).await;
    let good = assertion(&issuer, Key::EcP256, json!({}));
    assert_eq!(with_assertion(&issuer, &good).await.0, 200, "the baseline");

    let refused = [
        ("a replayed jti", good.clone()),
        ("another key", assertion(&issuer, Key::Attacker, json!({}))),
        (
            "expired",
            assertion(
                &issuer,
                Key::EcP256,
                json!({"iat": now() - 120, "exp": now() - 60}),
            ),
        ),
        (
            "no exp",
            assertion(&issuer, Key::EcP256, json!({"exp": null})),
        ),
        (
            "another audience",
            assertion(
                &issuer,
                Key::EcP256,
                json!({"aud": "https://elsewhere.example.com/token"}),
            ),
        ),
        (
            "no jti",
            assertion(&issuer, Key::EcP256, json!({"jti": null})),
        ),
        (
            "iss is not sub",
            assertion(&issuer, Key::EcP256, json!({"iss": "someone-else"})),
        ),
        (
            "another client's sub",
            assertion(
                &issuer,
                Key::EcP256,
                json!({"iss": "secret-client", "sub": "secret-client"}),
            ),
        ),
        ("not a JWT", "not.a.jwt".to_owned()),
    ];
    for (case, assertion) in refused {
        let (status, body) = with_assertion(&issuer, &assertion).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{case}: {body}"
        );
    }
    // An audience naming the issuer (or a list holding the token endpoint) is fine.
    for aud in [
        json!(issuer.issuer()),
        json!(["x", issuer.token_endpoint()]),
    ] {
        let ok = assertion(&issuer, Key::EcP256, json!({ "aud": aud }));
        assert_eq!(with_assertion(&issuer, &ok).await.0, 200, "{aud}");
    }
    // client_id in the form must be the assertion's subject.
    let other = assertion(&issuer, Key::EcP256, json!({}));
    let (status, body) = send(
        &issuer,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "secret-client"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &other),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn a_key_client_has_no_secret_and_a_secret_client_no_key() {
    let issuer = issuer_with(client_key(Key::EcP256).public_jwk()).await;
    // The key client with a (any) secret.
    for secret in ["", "s3cret"] {
        let source = TokenSource::builder("svc", secret)
            .token_endpoint(issuer.token_endpoint())
            .build()
            .unwrap();
        let error = source.token().await.unwrap_err();
        assert_eq!(error.code(), Some(&ErrorCode::InvalidClient), "{error}");
    }
    // The secret client with an assertion signed by a key (it has none registered).
    let source = TokenSource::builder_with_key("secret-client", client_key(Key::EcP256))
        .token_endpoint(issuer.token_endpoint())
        .build()
        .unwrap();
    let error = source.token().await.unwrap_err();
    assert_eq!(error.code(), Some(&ErrorCode::InvalidClient), "{error}");
    // A wrong key, through the token source: a typed refusal.
    let source = TokenSource::builder_with_key("svc", client_key(Key::Attacker))
        .token_endpoint(issuer.token_endpoint())
        .build()
        .unwrap();
    let error = source.token().await.unwrap_err();
    let TokenError::Rejected(refusal) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(refusal.status(), 401);
    assert_eq!(refusal.code(), &ErrorCode::InvalidClient);
    assert_eq!(refusal.url(), issuer.token_endpoint());
    // Two methods at once: invalid_request.
    let assertion = assertion(&issuer, Key::EcP256, json!({}));
    let (status, body) = send(
        &issuer,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", "s3cret"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn the_key_and_assertions_never_show() {
    let pem = String::from_utf8(Key::EcP256.private_pem()).unwrap();
    let private_line = pem.lines().nth(1).unwrap().to_owned();
    let key = ClientKey::from_pem(&pem).unwrap();
    let issuer = issuer_with(key.public_jwk()).await;
    let source = TokenSource::builder_with_key("svc", key)
        .token_endpoint(issuer.token_endpoint())
        .build()
        .unwrap();
    let token = source.token().await.unwrap();
    let shown = format!("{source:?}");
    assert!(!shown.contains(&private_line[..20]), "{shown}");
    assert!(!shown.contains(token.secret()), "{shown}");
    assert!(
        shown.contains("svc") && shown.contains("PrivateKeyJwt"),
        "{shown}"
    );
}
