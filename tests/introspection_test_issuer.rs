//! Opaque tokens end to end (standards.md rules J.54–58): the guard introspects at a real
//! `TestIssuer` on loopback (endpoint from its metadata), over HTTP, next to its JWTs.
#![cfg(all(feature = "axum", feature = "test-util", feature = "client"))]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::client::TokenSource;
use bearer_guard::dpop::{Dpop, DpopKey};
use bearer_guard::testing::{IntrospectionFault, TestClient, TestIssuer};
use bearer_guard::{Claims, ErrorKind, GuardLayer, Introspection, RequireScopeLayer, Validator};
use http::{Request, Response};
use tower::ServiceExt;

const URL: &str = "https://api.example.com";

fn validator(issuer: &TestIssuer, introspection: Introspection) -> Validator {
    Validator::builder()
        .issuer(issuer.issuer_config().introspection(introspection))
        .fetch_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn app(guard: GuardLayer) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|claims: Claims| async move { claims.client_id().unwrap_or("?").to_owned() }),
        )
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(RequireScopeLayer::all(["admin"])),
        )
        .route_layer(guard)
}

fn rs() -> Introspection {
    Introspection::new("test-client", "test-secret")
}

async fn call(app: &Router, path: &str, headers: &[(&str, String)]) -> Response<Body> {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn bearer(app: &Router, path: &str, token: &str) -> Response<Body> {
    call(app, path, &[("authorization", format!("Bearer {token}"))]).await
}

fn kind(response: &Response<Body>) -> Option<ErrorKind> {
    response.extensions().get::<ErrorKind>().copied()
}

async fn body(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn an_opaque_token_from_the_token_endpoint_reaches_the_handler() {
    let issuer = TestIssuer::builder()
        .client(TestClient::new("billing", "billing-secret").opaque_tokens())
        // The resource server's own client, for introspection.
        .client(TestClient::new("orders-api", "orders-api-secret"))
        .start()
        .await;
    let introspection = Introspection::new("orders-api", "orders-api-secret");
    let app = app(GuardLayer::new(validator(&issuer, introspection)));
    let source = TokenSource::builder("billing", "billing-secret")
        .issuer(issuer.issuer())
        .build()
        .unwrap();
    let token = source.token().await.unwrap();
    assert_eq!(token.secret().matches('.').count(), 0, "opaque");
    let response = bearer(&app, "/whoami", token.secret()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body(response).await, "billing");
    assert_eq!(issuer.introspection_requests(), 1);
}

#[tokio::test]
async fn jwt_and_opaque_tokens_side_by_side() {
    let issuer = TestIssuer::start().await;
    let app = app(GuardLayer::new(validator(
        &issuer,
        rs().client_secret_post(),
    )));
    let jwt = issuer.token().scope("read").sign();
    let opaque = issuer.token().scope("read").sign_opaque();
    for _ in 0..3 {
        assert_eq!(bearer(&app, "/whoami", &jwt).await.status(), 200);
        assert_eq!(bearer(&app, "/whoami", &opaque).await.status(), 200);
    }
    // The JWT was verified locally every time; the opaque token asked about once.
    assert_eq!(issuer.introspection_requests(), 1);
    // Scopes from the introspection answer: 403 on a route needing more.
    let refused = bearer(&app, "/admin", &opaque).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(kind(&refused), Some(ErrorKind::InsufficientScope));
}

#[tokio::test]
async fn inactive_expired_wrong_audience_and_revoked() {
    let issuer = TestIssuer::start().await;
    let app = app(GuardLayer::new(validator(
        &issuer,
        rs().cache_for(Duration::from_secs(1)),
    )));
    let made_up = bearer(&app, "/whoami", "no-such-token").await;
    assert_eq!(
        (made_up.status().as_u16(), kind(&made_up)),
        (401, Some(ErrorKind::TokenInactive))
    );
    let expired = issuer.token().expired().sign_opaque();
    let response = bearer(&app, "/whoami", &expired).await;
    assert_eq!(
        (response.status().as_u16(), kind(&response)),
        (401, Some(ErrorKind::TokenInactive))
    );
    let elsewhere = issuer
        .token()
        .audience("https://other.example.com")
        .sign_opaque();
    let response = bearer(&app, "/whoami", &elsewhere).await;
    assert_eq!(
        (response.status().as_u16(), kind(&response)),
        (401, Some(ErrorKind::InvalidAudience))
    );
    // Revoked: accepted from the cache until its bound (1 s) has passed, then refused.
    let token = issuer.token().sign_opaque();
    assert_eq!(bearer(&app, "/whoami", &token).await.status(), 200);
    issuer.revoke(&token);
    assert_eq!(bearer(&app, "/whoami", &token).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let revoked = bearer(&app, "/whoami", &token).await;
    assert_eq!(
        (revoked.status().as_u16(), kind(&revoked)),
        (401, Some(ErrorKind::TokenInactive))
    );
}

#[tokio::test]
async fn a_thousand_concurrent_requests_with_one_new_token_make_one_call() {
    let issuer = TestIssuer::start().await;
    let app = app(GuardLayer::new(validator(&issuer, rs())));
    let token = issuer.token().sign_opaque();
    let requests: Vec<_> = (0..1000)
        .map(|_| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move { bearer(&app, "/whoami", &token).await.status() })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert_eq!(issuer.introspection_requests(), 1);
}

#[tokio::test]
async fn the_endpoint_failing_is_503_and_the_guard_recovers() {
    let issuer = TestIssuer::start().await;
    let app = app(GuardLayer::new(validator(&issuer, rs())));
    let token = issuer.token().sign_opaque();
    for fault in [
        IntrospectionFault::Status(500),
        IntrospectionFault::Garbage,
        IntrospectionFault::Hang,
    ] {
        issuer.set_introspection_fault(fault);
        // Past any backoff left by the previous fault.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let response = bearer(&app, "/whoami", &token).await;
        assert_eq!(response.status(), 503, "{fault:?}");
        assert_eq!(kind(&response), Some(ErrorKind::IntrospectionUnavailable));
        assert!(response.headers().contains_key("retry-after"), "{fault:?}");
        assert!(!response.headers().contains_key("www-authenticate"));
    }
    issuer.set_introspection_fault(IntrospectionFault::None);
    tokio::time::sleep(Duration::from_millis(4100)).await;
    assert_eq!(bearer(&app, "/whoami", &token).await.status(), 200);
}

/// DPoP binding works unchanged for opaque tokens: `cnf.jkt` comes from the introspection
/// answer.
#[tokio::test]
async fn a_dpop_bound_opaque_token() {
    let issuer = TestIssuer::start().await;
    let guard = GuardLayer::new(validator(&issuer, rs()))
        .dpop(Dpop::new(URL))
        .unwrap();
    let app = app(guard);
    let key = DpopKey::generate();
    let token = issuer.token().dpop_bound(&key).sign_opaque();
    let proof = key
        .proof("GET", &format!("{URL}/whoami"))
        .access_token(&token)
        .sign();
    let headers = [("authorization", format!("DPoP {token}")), ("dpop", proof)];
    assert_eq!(call(&app, "/whoami", &headers).await.status(), 200);
    let as_bearer = bearer(&app, "/whoami", &token).await;
    assert_eq!(kind(&as_bearer), Some(ErrorKind::DpopBoundToken));
}

/// RFC 9701: signed answers, verified with the issuer's keys before they are trusted.
#[tokio::test]
async fn signed_introspection_responses() {
    let issuer = TestIssuer::start().await;
    let app = app(GuardLayer::new(validator(&issuer, rs().signed_responses())));
    let token = issuer.token().scope("read").sign_opaque();
    let response = bearer(&app, "/whoami", &token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body(response).await, "test-client");
    let made_up = bearer(&app, "/whoami", "made-up").await;
    assert_eq!(kind(&made_up), Some(ErrorKind::TokenInactive));
}
