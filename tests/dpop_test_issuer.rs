//! The test issuer's token endpoint with DPoP proofs (RFC 9449 §5, §8): bound tokens, refused
//! proofs, issuer nonces; over real HTTP on loopback.
#![cfg(feature = "test-util")]

use bearer_guard::dpop::DpopKey;
use bearer_guard::testing::TestIssuer;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// A token request of the default client (Basic), with these `DPoP` headers.
async fn token_request(issuer: &TestIssuer, proofs: &[String]) -> (u16, HeaderMap, Value) {
    let (id, secret) = issuer.default_client();
    let mut request = reqwest::Client::new()
        .post(issuer.token_endpoint())
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")]);
    for proof in proofs {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    (status, headers, body)
}

fn proof(key: &DpopKey, issuer: &TestIssuer) -> String {
    key.proof("POST", &issuer.token_endpoint()).sign()
}

#[tokio::test]
async fn a_proof_gets_a_token_bound_to_its_key() {
    let issuer = TestIssuer::start().await;
    let key = DpopKey::generate();
    let (status, headers, body) = token_request(&issuer, &[proof(&key, &issuer)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        !headers.contains_key("dpop-nonce"),
        "no nonces unless asked for"
    );
    let token = body["access_token"].as_str().unwrap();
    let claims = issuer.validator().validate(token).await.unwrap();
    assert_eq!(claims.json()["cnf"], json!({ "jkt": key.thumbprint() }));
    assert!(claims.scopes().contains("read"));

    // Without a proof, exactly as before: Bearer, no cnf.
    let (status, _, body) = token_request(&issuer, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    let claims = issuer
        .validator()
        .validate(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert!(claims.json().get("cnf").is_none());
}

#[tokio::test]
async fn the_htu_is_compared_after_normalization() {
    let issuer = TestIssuer::start().await;
    let key = DpopKey::generate();
    let shouting = issuer
        .token_endpoint()
        .replace("http://", "HTTP://")
        .replace("/token", "/./token?x=1");
    let (status, _, body) = token_request(&issuer, &[key.proof("POST", &shouting).sign()]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
}

#[tokio::test]
async fn bad_proofs_are_invalid_dpop_proof() {
    let issuer = TestIssuer::start().await;
    let key = DpopKey::generate();
    let url = issuer.token_endpoint();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut private_jwk = key.public_jwk().clone();
    private_jwk["d"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let replayed = proof(&key, &issuer);
    let (status, _, _) = token_request(&issuer, std::slice::from_ref(&replayed)).await;
    assert_eq!(status, 200, "the first use");

    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "wrong htu",
            vec![key.proof("POST", &format!("{url}/other")).sign()],
        ),
        (
            "another host",
            vec![key.proof("POST", "https://idp.example.com/token").sign()],
        ),
        ("wrong htm", vec![key.proof("GET", &url).sign()]),
        ("htm in lower case", vec![key.proof("post", &url).sign()]),
        (
            "typ JWT",
            vec![key.proof("POST", &url).header("typ", "JWT").sign()],
        ),
        (
            "no typ",
            vec![key.proof("POST", &url).header("typ", Value::Null).sign()],
        ),
        (
            "two DPoP headers",
            vec![proof(&key, &issuer), proof(&key, &issuer)],
        ),
        ("replayed", vec![replayed]),
        (
            "private jwk member",
            vec![key.proof("POST", &url).header("jwk", private_jwk).sign()],
        ),
        (
            "stale iat",
            vec![key.proof("POST", &url).iat(now - 3600).sign()],
        ),
        (
            "iat in the future",
            vec![key.proof("POST", &url).iat(now + 3600).sign()],
        ),
        (
            "ath at the token endpoint",
            vec![key.proof("POST", &url).access_token("t").sign()],
        ),
        (
            "no jti",
            vec![key.proof("POST", &url).claim("jti", Value::Null).sign()],
        ),
        (
            "alg none",
            vec![key.proof("POST", &url).header("alg", "none").sign()],
        ),
        (
            "another key's jwk",
            vec![
                key.proof("POST", &url)
                    .header("jwk", DpopKey::generate().public_jwk().clone())
                    .sign(),
            ],
        ),
        ("not a JWS", vec!["not-a-jws".to_owned()]),
    ];
    for (case, proofs) in cases {
        let (status, headers, body) = token_request(&issuer, &proofs).await;
        assert_eq!(status, 400, "{case}: {body}");
        assert_eq!(body["error"], "invalid_dpop_proof", "{case}: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with("The DPoP proof is invalid"),
            "{case}: {body}"
        );
        assert_eq!(headers["cache-control"], "no-store", "{case}");
        assert!(!headers.contains_key("dpop-nonce"), "{case}");
    }
}

#[tokio::test]
async fn issuer_nonces_are_required_when_asked_for() {
    let issuer = TestIssuer::builder().dpop_nonces().start().await;
    let key = DpopKey::generate();
    let (status, headers, body) = token_request(&issuer, &[proof(&key, &issuer)]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "use_dpop_nonce");
    assert_eq!(headers["cache-control"], "no-store");
    let nonce = headers["dpop-nonce"].to_str().unwrap().to_owned();
    assert_eq!(headers.get_all("dpop-nonce").iter().count(), 1);

    let (status, _, body) = token_request(
        &issuer,
        &[key
            .proof("POST", &issuer.token_endpoint())
            .nonce("not-the-nonce")
            .sign()],
    )
    .await;
    assert_eq!((status, &body["error"]), (400, &json!("use_dpop_nonce")));

    let with_nonce = key
        .proof("POST", &issuer.token_endpoint())
        .nonce(&nonce)
        .sign();
    let (status, headers, body) = token_request(&issuer, &[with_nonce]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert!(
        headers.contains_key("dpop-nonce"),
        "a fresh nonce on success"
    );

    // A bad proof is still invalid_dpop_proof first when it fails an earlier check.
    let (status, _, body) = token_request(
        &issuer,
        &[key.proof("GET", &issuer.token_endpoint()).sign()],
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("invalid_dpop_proof"))
    );

    // Requests without DPoP are not affected.
    let (status, headers, body) = token_request(&issuer, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert!(!headers.contains_key("dpop-nonce"));
}

#[tokio::test]
async fn tokens_can_be_minted_bound() {
    let issuer = TestIssuer::start().await;
    let key = DpopKey::generate();
    let validator = issuer.validator();
    let bound = validator
        .validate(&issuer.token().dpop_bound(&key).sign())
        .await
        .unwrap();
    assert_eq!(bound.json()["cnf"]["jkt"], key.thumbprint());
    let other = validator
        .validate(&issuer.token().cnf_jkt("some-thumbprint").sign())
        .await
        .unwrap();
    assert_eq!(other.json()["cnf"], json!({ "jkt": "some-thumbprint" }));
}

#[tokio::test]
async fn the_metadata_lists_the_proof_algorithms() {
    let issuer = TestIssuer::start().await;
    let response = reqwest::get(issuer.metadata_url()).await.unwrap();
    let metadata: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let algs = metadata["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&json!("ES256")));
    assert!(!algs.iter().any(|a| a == "none" || a == "HS256"));
}
