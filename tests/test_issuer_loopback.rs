//! `TestIssuerBuilder::allow_loopback_resources`: RFC 8707 `resource` values on loopback are
//! accepted and become `aud`; every other unknown resource is still `invalid_target`. And
//! `TestIssuerBuilder::authorization_endpoint`, for clients that require the member.
#![cfg(feature = "test-util")]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{Issuer, Validator};
use serde_json::{Value, json};

/// `POST /token` for the default client with `resources`: status and JSON body.
async fn token_for(issuer: &TestIssuer, resources: &[&str]) -> (u16, Value) {
    let (id, secret) = issuer.default_client();
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(resources.iter().map(|r| ("resource", *r)));
    let response = reqwest::Client::new()
        .post(issuer.token_endpoint())
        .basic_auth(&id, Some(&secret))
        .form(&form)
        .send()
        .await
        .expect("the issuer answers");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("a body");
    (status, serde_json::from_slice(&body).expect("JSON"))
}

fn claims(token: &Value) -> Value {
    let token = token["access_token"].as_str().expect("an access token");
    let payload = token.split('.').nth(1).expect("three segments");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

const LOOPBACK: [&str; 6] = [
    "http://127.0.0.1:3001/mcp",
    "http://127.0.0.1:49152",
    "http://localhost:8080/mcp",
    "http://[::1]:3001/mcp",
    "http://localhost/",
    "https://127.0.0.1:8443/api?tenant=a",
];

const REFUSED: [&str; 8] = [
    "http://192.168.1.10:3001/mcp",
    "http://127.0.0.2:3001/mcp",
    "http://localhost.example.com:3001/mcp",
    "http://evil.example/127.0.0.1:3001",
    "http://user:pass@127.0.0.1:3001/mcp",
    "http://127.0.0.1:3001/mcp#frag",
    "ftp://127.0.0.1:21/mcp",
    "/mcp",
];

#[tokio::test]
async fn loopback_resources_become_the_audience() {
    let issuer = TestIssuer::builder()
        .allow_loopback_resources()
        .start()
        .await;
    for resource in LOOPBACK {
        let (status, body) = token_for(&issuer, &[resource]).await;
        assert_eq!(status, 200, "{resource}: {body}");
        assert_eq!(claims(&body)["aud"], json!(resource), "{resource}");
    }
    // Several at once, and with a known resource.
    let (status, body) = token_for(
        &issuer,
        &["http://127.0.0.1:1/a", "https://api.example.com"],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(&body)["aud"],
        json!(["http://127.0.0.1:1/a", "https://api.example.com"])
    );
    // Without `resource`, the default audience as before.
    let (status, body) = token_for(&issuer, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(&body)["aud"], json!("https://api.example.com"));

    // And the token validates for a resource server with that audience.
    let resource = "http://127.0.0.1:3001/mcp";
    let (_, body) = token_for(&issuer, &[resource]).await;
    let validator = Validator::builder()
        .issuer(Issuer::new(issuer.issuer()).audience(resource))
        .build()
        .unwrap();
    let token = body["access_token"].as_str().unwrap();
    validator
        .validate(token)
        .await
        .expect("valid for the loopback resource");
}

#[tokio::test]
async fn other_resources_are_still_invalid_target() {
    let issuer = TestIssuer::builder()
        .allow_loopback_resources()
        .start()
        .await;
    for resource in REFUSED {
        let (status, body) = token_for(&issuer, &[resource]).await;
        assert_eq!(status, 400, "{resource}: {body}");
        assert_eq!(body["error"], "invalid_target", "{resource}");
    }
    // One refused resource refuses the request.
    let (status, body) = token_for(
        &issuer,
        &["http://127.0.0.1:1/a", "https://other.example.com"],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
}

#[tokio::test]
async fn off_by_default() {
    let issuer = TestIssuer::start().await;
    for resource in LOOPBACK {
        let (status, body) = token_for(&issuer, &[resource]).await;
        assert_eq!(status, 400, "{resource}: {body}");
        assert_eq!(body["error"], "invalid_target", "{resource}");
    }
}

/// `TestIssuerBuilder::authorization_endpoint`: the member, and an endpoint that refuses.
#[tokio::test]
async fn authorization_endpoint_is_published_only_when_asked() {
    let http = reqwest::Client::new();
    let plain = TestIssuer::start().await;
    let metadata: Value = serde_json::from_slice(
        &http
            .get(plain.metadata_url())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        metadata.get("authorization_endpoint").is_none(),
        "{metadata}"
    );
    let authorize = format!("{}/authorize", plain.issuer());
    assert_eq!(http.get(&authorize).send().await.unwrap().status(), 404);

    let issuer = TestIssuer::builder().authorization_endpoint().start().await;
    let authorize = format!("{}/authorize", issuer.issuer());
    for url in [
        issuer.metadata_url(),
        format!("{}/.well-known/oauth-authorization-server", issuer.issuer()),
    ] {
        let body = http.get(&url).send().await.unwrap().bytes().await.unwrap();
        let metadata: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            metadata["authorization_endpoint"],
            json!(authorize),
            "{url}"
        );
        assert_eq!(metadata["response_types_supported"], json!([]), "{url}");
    }
    for request in [
        http.get(format!(
            "{authorize}?response_type=code&client_id=test-client"
        )),
        http.post(&authorize),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["error"], "unsupported_response_type");
    }
}
