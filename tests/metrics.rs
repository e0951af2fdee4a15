//! Metrics (feature `metrics`, standards.md rule M.66): exact counts, gauges and histogram
//! samples for requests through real axum apps whose keys and introspection answers come from
//! a `TestIssuer` on loopback.
//!
//! Each test installs its own recorder for its thread only, and runs on tokio's current-thread
//! runtime: the key fetches the guard spawns run on that same thread, so their metrics reach
//! the test's recorder and no other test's.
#![cfg(all(feature = "metrics", feature = "axum", feature = "test-util"))]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bearer_guard::dpop::{Dpop, DpopKey};
use bearer_guard::testing::{IntrospectionFault, JwksFault, TestIssuer};
use bearer_guard::{
    ErrorKind, GuardLayer, Introspection, Issuer, KeyState, RequireScopeLayer, Validator,
};
use http::Request;
use metrics::Unit;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use serde_json::json;
use tower::ServiceExt;

const URL: &str = "https://api.example.com";

/// A recorder for this thread, until dropped.
struct Recorded {
    snapshotter: Snapshotter,
    // Declared before the recorder it borrows, so dropped first.
    _local: metrics::LocalRecorderGuard<'static>,
}

impl Recorded {
    fn start() -> Self {
        // Leaked: the guard needs it for `'static`, and a test process is short-lived.
        let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
        Self {
            snapshotter: recorder.snapshotter(),
            _local: metrics::set_default_local_recorder(recorder),
        }
    }

    /// Everything recorded so far (counters and histograms are drained by reading them).
    fn take(&self) -> Samples {
        let samples = self
            .snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, unit, description, value)| Sample {
                kind: key.kind(),
                name: key.key().name().to_owned(),
                labels: labels(&key),
                unit,
                description: description.map(|d| d.to_string()),
                value,
            })
            .collect();
        Samples(samples)
    }
}

fn labels(key: &CompositeKey) -> BTreeMap<String, String> {
    key.key()
        .labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect()
}

#[derive(Debug)]
struct Sample {
    kind: MetricKind,
    name: String,
    labels: BTreeMap<String, String>,
    unit: Option<Unit>,
    description: Option<String>,
    value: DebugValue,
}

#[derive(Debug)]
struct Samples(Vec<Sample>);

impl Samples {
    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.0.iter().find(|s| s.name == name && s.labels == wanted)
    }

    /// A counter's value; 0 when it was never incremented.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.find(name, labels).map(|s| &s.value) {
            None => 0,
            Some(DebugValue::Counter(n)) => *n,
            Some(other) => panic!("{name} is not a counter: {other:?}"),
        }
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(name, labels).map(|s| &s.value) {
            Some(DebugValue::Gauge(v)) => v.into_inner(),
            other => panic!("{name} {labels:?} is not a gauge: {other:?}\n{self:#?}"),
        }
    }

    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        match self.find(name, labels).map(|s| &s.value) {
            Some(DebugValue::Histogram(v)) => v.iter().map(|x| x.into_inner()).collect(),
            other => panic!("{name} {labels:?} is not a histogram: {other:?}\n{self:#?}"),
        }
    }

    /// Every counter of `name`, by its labels.
    fn counters(&self, name: &str) -> BTreeMap<Vec<(String, String)>, u64> {
        self.0
            .iter()
            .filter(|s| s.name == name)
            .map(|s| match s.value {
                DebugValue::Counter(n) => (s.labels.clone().into_iter().collect(), n),
                ref other => panic!("{name} is not a counter: {other:?}"),
            })
            .collect()
    }

    fn label_values(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .flat_map(|s| s.labels.values().map(String::as_str))
    }
}

fn app(guard: GuardLayer) -> Router {
    Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(RequireScopeLayer::all(["admin"])),
        )
        .route_layer(guard)
}

async fn send(app: &Router, path: &str, headers: &[(&str, String)]) -> Response<Body> {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn bearer(app: &Router, path: &str, token: &str) -> StatusCode {
    send(app, path, &[("authorization", format!("Bearer {token}"))])
        .await
        .status()
}

const ALLOWED: &str = "bearer_guard_requests_allowed_total";
const DENIED: &str = "bearer_guard_requests_denied_total";
const HITS: &str = "bearer_guard_token_cache_hits_total";
const MISSES: &str = "bearer_guard_token_cache_misses_total";
const FETCHES: &str = "bearer_guard_jwks_fetches_total";
const FETCH_SECONDS: &str = "bearer_guard_jwks_fetch_duration_seconds";
const AGE: &str = "bearer_guard_jwks_age_seconds";
const LAST_SUCCESS: &str = "bearer_guard_jwks_last_success_timestamp_seconds";
const STATE: &str = "bearer_guard_jwks_state";
const REPLAYS: &str = "bearer_guard_dpop_replays_refused_total";
const INTROSPECTIONS: &str = "bearer_guard_introspection_calls_total";
const INTROSPECTION_SECONDS: &str = "bearer_guard_introspection_duration_seconds";

#[tokio::test]
async fn allowed_and_denied_requests_by_stage_and_reason() {
    let recorded = Recorded::start();
    let issuer = TestIssuer::start().await;
    let app = app(GuardLayer::new(issuer.validator()));
    let reader = issuer.token().scope("read").sign();
    for _ in 0..3 {
        assert_eq!(bearer(&app, "/orders", &reader).await, StatusCode::OK);
    }
    // Through the guard, refused by the route.
    assert_eq!(bearer(&app, "/admin", &reader).await, StatusCode::FORBIDDEN);
    assert_eq!(
        send(&app, "/orders", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for _ in 0..2 {
        let expired = issuer.token().expired().sign();
        assert_eq!(
            bearer(&app, "/orders", &expired).await,
            StatusCode::UNAUTHORIZED
        );
    }
    let admin = issuer.token().scope("admin").sign();
    assert_eq!(bearer(&app, "/admin", &admin).await, StatusCode::OK);

    let m = recorded.take();
    assert_eq!(m.counter(ALLOWED, &[("stage", "guard")]), 5);
    assert_eq!(m.counter(ALLOWED, &[("stage", "route")]), 1);
    let denied = m.counters(DENIED);
    let row = |stage: &str, reason: &str| {
        vec![
            ("reason".to_owned(), reason.to_owned()),
            ("stage".to_owned(), stage.to_owned()),
        ]
    };
    assert_eq!(
        denied,
        BTreeMap::from([
            (row("guard", "missing_credentials"), 1),
            (row("guard", "token_expired"), 2),
            (row("route", "insufficient_scope"), 1),
        ])
    );
    // The label values are the stable codes of the kinds.
    assert_eq!(ErrorKind::Expired.code(), "token_expired");
    assert_eq!(ErrorKind::InsufficientScope.code(), "insufficient_scope");

    // Described once the validator was built: help text for every metric, units for times.
    let denied = m.find(DENIED, &[("stage", "guard"), ("reason", "token_expired")]);
    let described = denied.and_then(|s| s.description.as_deref()).unwrap_or("");
    assert!(described.contains("refused"), "{described:?}");
    let fetch = m
        .find(FETCH_SECONDS, &[("issuer", issuer.issuer())])
        .unwrap();
    assert_eq!(fetch.unit, Some(Unit::Seconds));
    assert_eq!(fetch.kind, MetricKind::Histogram);
}

#[tokio::test]
async fn the_token_cache_counts_its_misses_then_its_hits() {
    let recorded = Recorded::start();
    let issuer = TestIssuer::start().await;
    let app = app(GuardLayer::new(issuer.validator()));
    let token = issuer.token().sign();
    for _ in 0..5 {
        assert_eq!(bearer(&app, "/orders", &token).await, StatusCode::OK);
    }
    let m = recorded.take();
    // A token enters the cache on its second validation: two misses, then hits.
    assert_eq!(m.counter(MISSES, &[]), 2);
    assert_eq!(m.counter(HITS, &[]), 3);
    // A request without a token looks nothing up.
    send(&app, "/orders", &[]).await;
    let m = recorded.take();
    assert_eq!(m.counter(MISSES, &[]) + m.counter(HITS, &[]), 0);
}

/// A validator that refreshes on every unknown `kid` and retries failed fetches at once.
fn eager(issuer: Issuer) -> Validator {
    Validator::builder()
        .issuer(issuer)
        .unknown_kid_cooldown(Duration::ZERO)
        .retry_backoff(Duration::ZERO, Duration::ZERO)
        .fetch_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

#[tokio::test]
async fn key_fetches_by_outcome_with_their_latency_and_the_key_set_gauges() {
    let recorded = Recorded::start();
    let issuer = TestIssuer::start().await;
    let validator = eager(issuer.issuer_config());
    let app = app(GuardLayer::new(validator.clone()));
    let name = issuer.issuer();

    assert_eq!(
        bearer(&app, "/orders", &issuer.token().sign()).await,
        StatusCode::OK
    );
    issuer.set_jwks_fault(JwksFault::Status(500));
    // An unknown kid refreshes, and the refresh fails: the last good set stays.
    let unknown = issuer.token().signed_by_unknown_key().sign();
    assert_eq!(
        bearer(&app, "/orders", &unknown).await,
        StatusCode::UNAUTHORIZED
    );
    issuer.set_jwks_fault(JwksFault::Garbage);
    assert_eq!(
        bearer(&app, "/orders", &unknown).await,
        StatusCode::UNAUTHORIZED
    );

    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let status = validator.key_status();
    assert_eq!(status[0].state, KeyState::Fresh);
    let m = recorded.take();
    assert_eq!(
        m.counter(FETCHES, &[("issuer", name), ("outcome", "success")]),
        1
    );
    assert_eq!(
        m.counter(FETCHES, &[("issuer", name), ("outcome", "failure")]),
        2
    );
    assert_eq!(
        m.counter(FETCHES, &[("issuer", name), ("outcome", "not_modified")]),
        0
    );
    let latencies = m.histogram(FETCH_SECONDS, &[("issuer", name)]);
    assert_eq!(latencies.len(), 3, "{latencies:?}");
    assert!(
        latencies.iter().all(|s| (0.0..5.0).contains(s)),
        "{latencies:?}"
    );

    assert_eq!(m.gauge(STATE, &[("issuer", name), ("state", "fresh")]), 1.0);
    assert_eq!(m.gauge(STATE, &[("issuer", name), ("state", "stale")]), 0.0);
    assert_eq!(
        m.gauge(STATE, &[("issuer", name), ("state", "unavailable")]),
        0.0
    );
    let age = m.gauge(AGE, &[("issuer", name)]);
    assert!((0.0..30.0).contains(&age), "{age}");
    let last = m.gauge(LAST_SUCCESS, &[("issuer", name)]);
    assert!(
        (before.as_secs_f64() - last - age).abs() < 2.0,
        "last success {last}, age {age}, now {before:?}"
    );
    let unit = m.find(AGE, &[("issuer", name)]).unwrap().unit;
    assert_eq!(unit, Some(Unit::Seconds));
}

#[tokio::test]
async fn a_key_set_never_loaded_is_unavailable_in_the_gauges() {
    let recorded = Recorded::start();
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_fault(JwksFault::Status(503));
    let validator = eager(issuer.issuer_config());
    let app = app(GuardLayer::new(validator));
    assert_eq!(
        bearer(&app, "/orders", &issuer.token().sign()).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let m = recorded.take();
    let name = issuer.issuer();
    // Set by the refresh itself, without a key_status call.
    assert_eq!(
        m.gauge(STATE, &[("issuer", name), ("state", "unavailable")]),
        1.0
    );
    assert_eq!(m.gauge(STATE, &[("issuer", name), ("state", "fresh")]), 0.0);
    assert!(
        m.find(AGE, &[("issuer", name)]).is_none(),
        "no age before a success"
    );
    assert_eq!(
        m.counter(FETCHES, &[("issuer", name), ("outcome", "failure")]),
        1
    );
    assert_eq!(
        m.counter(
            DENIED,
            &[("stage", "guard"), ("reason", "keys_unavailable")]
        ),
        1
    );
}

/// Serves a key set with an `ETag`, and 304 to a request that names it.
async fn serve_with_etag(jwks: String) -> (String, Arc<AtomicUsize>) {
    let not_modified = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&not_modified);
    let router = Router::new().route(
        "/jwks",
        get(move |headers: HeaderMap| {
            let jwks = jwks.clone();
            let counted = Arc::clone(&counted);
            async move {
                if headers
                    .get(header::IF_NONE_MATCH)
                    .is_some_and(|v| v == "\"v1\"")
                {
                    counted.fetch_add(1, Ordering::SeqCst);
                    return (StatusCode::NOT_MODIFIED, [(header::ETAG, "\"v1\"")]).into_response();
                }
                ([(header::ETAG, "\"v1\"")], jwks).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, not_modified)
}

#[tokio::test]
async fn a_304_is_counted_as_not_modified() {
    let recorded = Recorded::start();
    let issuer = TestIssuer::start().await;
    let (jwks_uri, not_modified) = serve_with_etag(issuer.jwks()).await;
    let app = app(GuardLayer::new(eager(
        issuer.issuer_config().jwks_uri(jwks_uri),
    )));
    assert_eq!(
        bearer(&app, "/orders", &issuer.token().sign()).await,
        StatusCode::OK
    );
    let unknown = issuer.token().signed_by_unknown_key().sign();
    assert_eq!(
        bearer(&app, "/orders", &unknown).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(not_modified.load(Ordering::SeqCst), 1);
    let m = recorded.take();
    let name = issuer.issuer();
    assert_eq!(
        m.counter(FETCHES, &[("issuer", name), ("outcome", "success")]),
        1
    );
    assert_eq!(
        m.counter(FETCHES, &[("issuer", name), ("outcome", "not_modified")]),
        1
    );
    assert_eq!(m.histogram(FETCH_SECONDS, &[("issuer", name)]).len(), 2);
    // A 304 confirms the set: fresh.
    assert_eq!(m.gauge(STATE, &[("issuer", name), ("state", "fresh")]), 1.0);
}

#[tokio::test]
async fn introspection_calls_by_outcome_with_their_latency() {
    let recorded = Recorded::start();
    let issuer = TestIssuer::start().await;
    let (id, secret) = issuer.default_client();
    let validator = Validator::builder()
        .issuer(
            issuer
                .issuer_config()
                .introspection(Introspection::new(id, secret)),
        )
        .fetch_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let app = app(GuardLayer::new(validator));
    let active = issuer.token().sign_opaque();
    let revoked = issuer.token().sign_opaque();
    issuer.revoke(&revoked);
    assert_eq!(bearer(&app, "/orders", &active).await, StatusCode::OK);
    // Answered from the cache of active answers: no second call.
    assert_eq!(bearer(&app, "/orders", &active).await, StatusCode::OK);
    assert_eq!(
        bearer(&app, "/orders", &revoked).await,
        StatusCode::UNAUTHORIZED
    );
    issuer.set_introspection_fault(IntrospectionFault::Status(500));
    let unlucky = issuer.token().sign_opaque();
    assert_eq!(
        bearer(&app, "/orders", &unlucky).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // During the backoff no call is made: a denial, not a call.
    assert_eq!(
        bearer(&app, "/orders", &unlucky).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(issuer.introspection_requests(), 3);

    let m = recorded.take();
    let name = issuer.issuer();
    for (outcome, calls) in [("active", 1), ("inactive", 1), ("failure", 1)] {
        assert_eq!(
            m.counter(INTROSPECTIONS, &[("issuer", name), ("outcome", outcome)]),
            calls,
            "{outcome}"
        );
    }
    assert_eq!(
        m.histogram(INTROSPECTION_SECONDS, &[("issuer", name)])
            .len(),
        3
    );
    assert_eq!(m.counter(HITS, &[]), 1);
    assert_eq!(m.counter(ALLOWED, &[("stage", "guard")]), 2);
    assert_eq!(
        m.counter(DENIED, &[("stage", "guard"), ("reason", "token_inactive")]),
        1
    );
    assert_eq!(
        m.counter(
            DENIED,
            &[("stage", "guard"), ("reason", "introspection_unavailable")]
        ),
        2
    );
}

#[tokio::test]
async fn a_replayed_dpop_proof_is_counted() {
    let recorded = Recorded::start();
    let issuer = TestIssuer::start().await;
    let app = app(GuardLayer::new(issuer.validator())
        .dpop(Dpop::new(URL))
        .unwrap());
    let key = DpopKey::generate();
    let token = issuer
        .token()
        .claim("cnf", json!({ "jkt": key.thumbprint() }))
        .sign();
    let proof = key
        .proof("GET", &format!("{URL}/orders"))
        .access_token(&token)
        .sign();
    let headers = [("authorization", format!("DPoP {token}")), ("dpop", proof)];
    assert_eq!(
        send(&app, "/orders", &headers).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&app, "/orders", &headers).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let m = recorded.take();
    assert_eq!(m.counter(REPLAYS, &[]), 1);
    assert_eq!(m.counter(ALLOWED, &[("stage", "guard")]), 1);
    assert_eq!(
        m.counter(
            DENIED,
            &[("stage", "guard"), ("reason", "dpop_proof_replayed")]
        ),
        1
    );
}

/// A random base64url string of `n` characters.
fn random_text(n: usize) -> String {
    use std::hash::{BuildHasher, RandomState};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let state = RandomState::new();
    (0..n)
        .map(|i| char::from(ALPHABET[(state.hash_one(i) % 64) as usize]))
        .collect()
}

#[tokio::test]
async fn no_label_carries_a_token_a_kid_or_a_tenant() {
    let recorded = Recorded::start();
    let issuer = TestIssuer::start().await;
    let template = format!("{}/{{tenantid}}", issuer.issuer());
    let tenant_iss = format!("{}/tenant-a", issuer.issuer());
    let validator = Validator::builder()
        .issuer(
            Issuer::template(&template)
                .tenants(["tenant-a"])
                .jwks_uri(issuer.jwks_uri())
                .audience(issuer.audience()),
        )
        .issuer(issuer.issuer_config())
        .unknown_kid_cooldown(Duration::ZERO)
        .build()
        .unwrap();
    let app = app(GuardLayer::new(validator.clone()));

    let huge_kid = random_text(4000);
    let kid = random_text(200);
    let tenant_token = issuer
        .token()
        .issuer(&tenant_iss)
        .claim("tid", json!("tenant-a"))
        .sign();
    let sent = [
        issuer.token().kid(&huge_kid).sign(),
        issuer.token().kid(&kid).sign(),
        issuer.token().issuer(&tenant_iss).kid(&kid).sign(),
        tenant_token.clone(),
        issuer.token().sign(),
        random_text(300),
    ];
    for token in &sent {
        bearer(&app, "/orders", token).await;
    }
    assert_eq!(bearer(&app, "/orders", &tenant_token).await, StatusCode::OK);
    validator.key_status();

    let m = recorded.take();
    let values: Vec<&str> = m.label_values().collect();
    for value in &values {
        assert!(!value.contains(&kid[..32]), "a kid in a label: {value}");
        assert!(
            !value.contains(&huge_kid[..32]),
            "a kid in a label: {value}"
        );
        assert!(!value.contains("tenant-a"), "a tenant in a label: {value}");
        for token in &sent {
            assert!(!token.contains(value) || value.len() < 16, "{value}");
        }
    }
    // The issuer label names configured issuers only: the template as configured.
    let issuers: std::collections::BTreeSet<&str> =
        m.0.iter()
            .filter_map(|s| s.labels.get("issuer").map(String::as_str))
            .collect();
    assert_eq!(
        issuers,
        [issuer.issuer(), template.as_str()].into_iter().collect()
    );
    assert!(
        m.counter(FETCHES, &[("issuer", &template), ("outcome", "success")]) >= 1,
        "{m:#?}"
    );
    assert_eq!(
        m.gauge(STATE, &[("issuer", &template), ("state", "fresh")]),
        1.0
    );
}
