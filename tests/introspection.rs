//! Opaque tokens through RFC 7662 introspection (standards.md rules J.54–58), against a small
//! introspection endpoint on loopback whose answers, faults and calls the tests control.
#![cfg(all(feature = "axum", feature = "test-util"))]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use bearer_guard::testing::TestIssuer;
use bearer_guard::{ErrorKind, GuardLayer, Introspection, Issuer, RequireScopeLayer, Validator};
use serde_json::{Value, json};
use tower::ServiceExt;

const AUDIENCE: &str = "https://api.example.com";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// How the endpoint behaves.
#[derive(Clone, Debug)]
enum Fault {
    None,
    Status(u16),
    Garbage,
    Hang,
    /// This body, as a signed (RFC 9701) answer.
    Signed(String),
}

#[derive(Clone)]
struct Endpoint {
    issuer: String,
    tokens: Arc<Mutex<HashMap<String, Value>>>,
    calls: Arc<AtomicUsize>,
    fault: Arc<Mutex<Fault>>,
    delay: Arc<Mutex<Duration>>,
}

impl Endpoint {
    fn active(&self, token: &str, claims: Value) {
        let mut response = json!({ "active": true, "iss": self.issuer, "aud": AUDIENCE,
            "exp": now() + 3600, "iat": now(), "client_id": "billing", "sub": "billing",
            "scope": "read" });
        for (k, v) in claims.as_object().unwrap() {
            match v {
                Value::Null => drop(response.as_object_mut().unwrap().remove(k)),
                v => response[k] = v.clone(),
            }
        }
        self.tokens.lock().unwrap().insert(token.into(), response);
    }
    fn revoke(&self, token: &str) {
        self.tokens.lock().unwrap().remove(token);
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn fault(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

async fn introspect(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    endpoint.calls.fetch_add(1, Ordering::SeqCst);
    let delay = *endpoint.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    // client_secret_basic: "rs:rs-secret".
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Basic cnM6cnMtc2VjcmV0")
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let fault = endpoint.fault.lock().unwrap().clone();
    match fault {
        Fault::None => {}
        Fault::Status(code) => return StatusCode::from_u16(code).unwrap().into_response(),
        Fault::Garbage => return "<html>oops</html>".into_response(),
        Fault::Signed(jwt) => {
            return (
                [("content-type", "application/token-introspection+jwt")],
                jwt,
            )
                .into_response();
        }
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let answer = endpoint
        .tokens
        .lock()
        .unwrap()
        .get(&token)
        .cloned()
        .unwrap_or(json!({"active": false}));
    Json(answer).into_response()
}

/// A JWT issuer (the TestIssuer) and an introspection endpoint for a second issuer, opaque.
struct World {
    jwt_issuer: TestIssuer,
    endpoint: Endpoint,
    opaque_issuer: String,
    _server: tokio::task::JoinHandle<()>,
}

impl World {
    async fn new() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let endpoint = Endpoint {
            issuer: base.clone(),
            tokens: Arc::default(),
            calls: Arc::default(),
            fault: Arc::new(Mutex::new(Fault::None)),
            delay: Arc::default(),
        };
        let metadata = json!({ "issuer": base, "jwks_uri": format!("{base}/jwks"),
            "introspection_endpoint": format!("{base}/introspect") });
        let app = Router::new()
            .route("/introspect", post(introspect))
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(metadata) }),
            )
            .route("/jwks", get(|| async { Json(json!({"keys": []})) }))
            .with_state(endpoint.clone());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            jwt_issuer: TestIssuer::start().await,
            endpoint,
            opaque_issuer: base,
            _server: server,
        }
    }

    fn validator(&self, introspection: Introspection) -> Validator {
        Validator::builder()
            .issuer(self.jwt_issuer.issuer_config())
            .issuer(
                Issuer::new(&self.opaque_issuer)
                    .audience(AUDIENCE)
                    .introspection(introspection),
            )
            .fetch_timeout(Duration::from_millis(500))
            .build()
            .unwrap()
    }

    fn app(&self, introspection: Introspection) -> Router {
        Router::new()
            .route("/read", get(|| async { "read" }))
            .route(
                "/write",
                get(|| async { "write" }).route_layer(RequireScopeLayer::all(["write"])),
            )
            .route_layer(GuardLayer::new(self.validator(introspection)))
    }
}

fn rs() -> Introspection {
    Introspection::new("rs", "rs-secret")
}

async fn call(app: &Router, path: &str, token: &str) -> Response {
    let request = http::Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    app.clone().oneshot(request).await.unwrap()
}

fn kind(response: &Response) -> Option<ErrorKind> {
    response.extensions().get::<ErrorKind>().copied()
}

#[tokio::test]
async fn active_inactive_and_scopes() {
    let world = World::new().await;
    let app = world.app(rs());
    world.endpoint.active("opaque-reader", json!({}));
    assert_eq!(call(&app, "/read", "opaque-reader").await.status(), 200);
    let refused = call(&app, "/write", "opaque-reader").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(kind(&refused), Some(ErrorKind::InsufficientScope));
    let unknown = call(&app, "/read", "opaque-unknown").await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(kind(&unknown), Some(ErrorKind::TokenInactive));
    assert_eq!(
        unknown.headers()["www-authenticate"],
        r#"Bearer realm="api", error="invalid_token", error_description="The access token is not active""#
    );
    // JWTs of the trusted JWT issuer are still verified locally, on the same route.
    let calls = world.endpoint.calls();
    let jwt = world.jwt_issuer.token().scope("read").sign();
    assert_eq!(call(&app, "/read", &jwt).await.status(), 200);
    assert_eq!(
        world.endpoint.calls(),
        calls,
        "a local JWT is never introspected"
    );
}

#[tokio::test]
async fn the_response_meets_the_rules_of_a_jwt() {
    let world = World::new().await;
    let app = world.app(rs());
    let cases = [
        (
            "wrong-aud",
            json!({"aud": "https://other.example"}),
            ErrorKind::InvalidAudience,
        ),
        ("expired", json!({"exp": now() - 120}), ErrorKind::Expired),
        (
            "future-nbf",
            json!({"nbf": now() + 600}),
            ErrorKind::NotYetValid,
        ),
        (
            "other-iss",
            json!({"iss": "https://evil.example"}),
            ErrorKind::InvalidIssuer,
        ),
        ("no-exp", json!({"exp": null}), ErrorKind::InvalidClaim),
        ("scope-number", json!({"scope": 7}), ErrorKind::InvalidClaim),
    ];
    for (token, claims, expected) in cases {
        world.endpoint.active(token, claims);
        let response = call(&app, "/read", token).await;
        assert_eq!(response.status(), 401, "{token}");
        assert_eq!(kind(&response), Some(expected), "{token}");
    }
    // Without `iss`, the issuer that answered.
    world.endpoint.active("no-iss", json!({"iss": null}));
    assert_eq!(call(&app, "/read", "no-iss").await.status(), 200);
}

#[tokio::test]
async fn answers_are_cached_within_their_bounds() {
    let world = World::new().await;
    let app = world.app(rs().cache_for(Duration::from_secs(2)));
    world.endpoint.active("cached", json!({}));
    for _ in 0..5 {
        assert_eq!(call(&app, "/read", "cached").await.status(), 200);
    }
    assert_eq!(world.endpoint.calls(), 1);
    // Revoked: still accepted until the cache bound has passed, then refused.
    world.endpoint.revoke("cached");
    assert_eq!(call(&app, "/read", "cached").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(call(&app, "/read", "cached").await.status(), 401);
    assert_eq!(world.endpoint.calls(), 2);
    // Never past `exp`: a token expiring in 1 s is asked about again after 1 s, although the
    // cache bound (2 s) has not passed; the authorization server now calls it inactive.
    world.endpoint.active("short", json!({"exp": now() + 1}));
    assert_eq!(call(&app, "/read", "short").await.status(), 200);
    let calls = world.endpoint.calls();
    world.endpoint.revoke("short");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let expired = call(&app, "/read", "short").await;
    assert_eq!(expired.status(), 401);
    assert_eq!(
        world.endpoint.calls(),
        calls + 1,
        "asked again once its exp passed"
    );
}

#[tokio::test]
async fn concurrent_requests_with_one_new_token_make_one_call() {
    let world = World::new().await;
    let app = world.app(rs());
    world.endpoint.active("popular", json!({}));
    *world.endpoint.delay.lock().unwrap() = Duration::from_millis(200);
    let requests = (0..1000).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { call(&app, "/read", "popular").await.status() })
    });
    for request in requests.collect::<Vec<_>>() {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert_eq!(world.endpoint.calls(), 1);
}

#[tokio::test]
async fn a_flood_of_garbage_is_bounded() {
    let world = World::new().await;
    let app = world.app(rs());
    for _ in 0..50 {
        for n in 0..10 {
            assert_eq!(
                call(&app, "/read", &format!("garbage-{n}")).await.status(),
                401
            );
        }
    }
    assert_eq!(
        world.endpoint.calls(),
        10,
        "each made-up token asked about once"
    );
}

#[tokio::test]
async fn an_endpoint_that_fails_is_an_outage_then_recovers() {
    let world = World::new().await;
    let app = world.app(rs());
    world.endpoint.active("good", json!({}));
    for fault in [Fault::Status(500), Fault::Garbage, Fault::Hang] {
        world.endpoint.fault(fault.clone());
        let response = call(&app, "/read", "good").await;
        assert_eq!(response.status(), 503, "{fault:?}");
        assert_eq!(kind(&response), Some(ErrorKind::IntrospectionUnavailable));
        let retry: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        // Backing off: answered at once, without a call.
        let calls = world.endpoint.calls();
        assert_eq!(call(&app, "/read", "good").await.status(), 503);
        assert_eq!(world.endpoint.calls(), calls, "{fault:?}");
        world.endpoint.fault(Fault::None);
        tokio::time::sleep(Duration::from_millis(1100) * 2u32.pow(calls.min(2) as u32)).await;
    }
    // Recovered, without a restart.
    let mut status = 0;
    for _ in 0..10 {
        status = call(&app, "/read", "good").await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(status, 200);
}

#[tokio::test]
async fn wrong_credentials_are_an_outage_not_a_401() {
    let world = World::new().await;
    let app = world.app(Introspection::new("rs", "wrong"));
    world.endpoint.active("good", json!({}));
    let response = call(&app, "/read", "good").await;
    assert_eq!(response.status(), 503);
}

#[test]
fn misconfigurations_name_the_setting() {
    let build = |introspection| {
        Validator::builder()
            .issuer(
                Issuer::new("https://idp.example.com")
                    .audience(AUDIENCE)
                    .introspection(introspection),
            )
            .build()
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert!(build(Introspection::new("", "s")).contains("introspection.client_id"));
    assert!(build(Introspection::new("c", "")).contains("introspection.client_secret"));
    assert!(
        build(Introspection::new("c", "s").endpoint("http://idp.example.com/introspect"))
            .contains("introspection.endpoint")
    );
    assert!(
        build(Introspection::new("c", "s").cache_for(Duration::from_secs(7200)))
            .contains("introspection.cache_for")
    );
    let debug = format!("{:?}", Introspection::new("c", "hunter2-secret"));
    assert!(!debug.contains("hunter2"), "{debug}");
}

/// RFC 9701 asked for, a plain JSON answer given: not trusted (503).
#[tokio::test]
async fn an_unsigned_answer_is_refused_when_signed_ones_are_required() {
    let world = World::new().await;
    let app = world.app(rs().signed_responses());
    world.endpoint.active("good", json!({}));
    let response = call(&app, "/read", "good").await;
    assert_eq!(response.status(), 503);
    assert_eq!(kind(&response), Some(ErrorKind::IntrospectionUnavailable));
}

/// RFC 9701: a signed answer whose signature is by a key the issuer does not publish is not
/// trusted (503), however right its claims look.
#[tokio::test]
async fn a_signed_answer_by_an_unknown_key_is_refused() {
    let world = World::new().await;
    let app = world.app(rs().signed_responses());
    let forged = bearer_guard::dpop::DpopKey::generate()
        .proof("POST", "https://unused.example")
        .header("typ", "token-introspection+jwt")
        .header("kid", "forged")
        .claim("iss", world.opaque_issuer.clone())
        .claim("aud", "rs")
        .claim("iat", now())
        .claim(
            "token_introspection",
            json!({"active": true, "aud": AUDIENCE, "exp": now() + 60}),
        )
        .sign();
    world.endpoint.fault(Fault::Signed(forged));
    let response = call(&app, "/read", "good").await;
    assert_eq!(response.status(), 503);
}

/// Rule J.56: an endpoint nobody listens on is an outage (503), not a verdict on the token.
#[tokio::test]
async fn an_endpoint_that_is_down_is_503() {
    let world = World::new().await;
    // A port just released: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = world.app(rs().endpoint(format!("http://{closed}/introspect")));
    let response = call(&app, "/read", "any-opaque-token").await;
    assert_eq!(response.status(), 503);
    assert_eq!(kind(&response), Some(ErrorKind::IntrospectionUnavailable));
    assert!(response.headers().contains_key("retry-after"));
}
