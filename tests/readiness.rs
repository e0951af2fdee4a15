//! Readiness (rule M.67): a probe answers at once, loads the keys in the background with
//! backoff while the identity provider is down, and turns ready without any token traffic;
//! over HTTP through `ReadinessService`, beside a guarded route. Real TestIssuer on loopback.
#![cfg(all(feature = "axum", feature = "test-util"))]

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::testing::{JwksFault, TestIssuer};
use bearer_guard::{GuardLayer, KeyState, Validator};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// A validator for `issuer` that retries quickly and keeps keys fresh for `ttl`.
fn validator(issuer: &TestIssuer, ttl: Duration) -> Validator {
    Validator::builder()
        .issuer(issuer.issuer_config())
        .retry_backoff(Duration::from_millis(50), Duration::from_millis(100))
        .jwks_ttl(ttl)
        .jwks_ttl_bounds(ttl, ttl)
        .build()
        .expect("validator builds")
}

/// Waits, without touching the validator in any way that loads keys, until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn state(validator: &Validator) -> KeyState {
    validator.key_status()[0].state
}

#[tokio::test]
async fn one_probe_loads_the_keys_in_the_background_retrying_until_the_provider_answers() {
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_fault(JwksFault::Status(503));
    let validator = validator(&issuer, Duration::from_secs(300));

    // Building fetches nothing, and neither does reading the status.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(state(&validator), KeyState::Unavailable);
    assert_eq!(issuer.jwks_fetches(), 0);

    // One probe: answered at once, not ready, and the loading has started.
    let readiness = validator.readiness();
    assert!(!readiness.is_ready());
    assert_eq!(readiness.issuers[0].state, KeyState::Unavailable);

    // With no further probe and no token, fetches are retried with backoff...
    eventually("three failed fetches", || issuer.jwks_fetches() >= 3).await;
    let status = &validator.key_status()[0];
    assert_eq!(status.state, KeyState::Unavailable);
    assert!(status.consecutive_failures >= 2, "{status:?}");

    // ...and the keys load as soon as the provider answers.
    issuer.set_jwks_fault(JwksFault::None);
    eventually("keys loaded", || state(&validator) == KeyState::Fresh).await;
    let readiness = validator.readiness();
    assert!(readiness.is_ready());
    assert!(readiness.issuers[0].key_count >= 1);

    // Loaded, the background task stops: no more fetches while the keys are fresh.
    let fetches = issuer.jwks_fetches();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(validator.readiness().is_ready());
    assert_eq!(issuer.jwks_fetches(), fetches);
    assert_eq!(issuer.token_requests(), 0);
}

#[tokio::test]
async fn probes_refresh_keys_that_are_due_without_traffic() {
    let issuer = TestIssuer::start().await;
    let validator = validator(&issuer, Duration::from_millis(200));
    validator.readiness();
    eventually("keys loaded", || state(&validator) == KeyState::Fresh).await;
    let fetches = issuer.jwks_fetches();

    // Past the refresh point, a probe starts the refresh: no token needed.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(validator.readiness().is_ready(), "stale keys still serve");
    eventually("a refresh", || issuer.jwks_fetches() > fetches).await;
    eventually("fresh again", || state(&validator) == KeyState::Fresh).await;
}

#[tokio::test]
async fn probes_start_one_loader_and_a_dropped_validator_stops_it() {
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_fault(JwksFault::Status(500));
    let validator = validator(&issuer, Duration::from_secs(300));
    let tasks = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let before = tasks();
    // Many probes at once share one loader (and one fetch at a time): the fetch rate is the
    // backoff's, not the probes'.
    for _ in 0..50 {
        assert!(!validator.readiness().is_ready());
    }
    assert_eq!(tasks(), before + 1, "one loader task");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let fetches = issuer.jwks_fetches();
    assert!(
        (2..=9).contains(&fetches),
        "one loader retrying every 50..100 ms made {fetches} fetches in 400 ms"
    );

    drop(validator);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let after_drop = issuer.jwks_fetches();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        issuer.jwks_fetches(),
        after_drop,
        "the loader outlived its validator"
    );
}

async fn send(app: &Router, method: Method, path: &str) -> (StatusCode, http::HeaderMap, String) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn the_readiness_route_needs_no_token_and_turns_ready_by_itself() {
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_fault(JwksFault::Hang);
    let validator = validator(&issuer, Duration::from_secs(300));
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route_layer(GuardLayer::new(validator.clone()))
        .route_service("/ready", validator.readiness_service::<Body>());

    // A hanging provider does not hold the probe.
    let started = Instant::now();
    let (status, headers, body) = send(&app, Method::GET, "/ready").await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["ready"], false);
    assert_eq!(report["issuers"][0]["issuer"], issuer.issuer());
    assert_eq!(report["issuers"][0]["state"], "unavailable");
    assert_eq!(report["issuers"][0]["key_count"], 0);

    // The guarded route still wants a token.
    let (status, _, _) = send(&app, Method::GET, "/orders").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    issuer.set_jwks_fault(JwksFault::None);
    // The hung fetch times out on its own (the default fetch timeout), then the loader
    // retries; the probe is only polled here.
    let start = Instant::now();
    let body = loop {
        let (status, _, body) = send(&app, Method::GET, "/ready").await;
        if status == StatusCode::OK {
            break body;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["ready"], true);
    assert_eq!(report["issuers"][0]["state"], "fresh");
    assert!(report["issuers"][0]["key_count"].as_u64().unwrap() >= 1);
    assert!(report["issuers"][0]["age_seconds"].as_u64().unwrap() <= 1);

    let (status, _, body) = send(&app, Method::HEAD, "/ready").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    let (status, headers, _) = send(&app, Method::POST, "/ready").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "GET, HEAD");
    assert_eq!(issuer.token_requests(), 0);
}
