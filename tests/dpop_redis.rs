//! `RedisReplayStore` against a real `redis-server` started by each test on a free loopback
//! port: first use and replay, two stores (two instances of an API) sharing one Redis, `PX`
//! expiry, an outage (Redis killed, then restarted on the same port: the same store works
//! again), a Redis that never answers, and the guard of a fleet end to end.
//!
//! `cargo test --features redis --test dpop_redis`. Without `redis-server` the tests say so on
//! stderr and pass, unless `CI` is set: then they fail.
#![cfg(feature = "redis")]

#[path = "common/redis.rs"]
mod redis_server;

use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use bearer_guard::GuardLayer;
use bearer_guard::dpop::{
    Dpop, DpopKey, MemoryReplayStore, RecordFuture, Recorded, RedisReplayStore, ReplayError,
    ReplayKey, ReplayStore,
};
use bearer_guard::testing::TestIssuer;
use redis_server::RedisServer;
use serde_json::json;
use tower::ServiceExt;

/// Where clients reach the API: every proof's `htu` starts with it.
const PUBLIC_URL: &str = "https://orders.test";

/// The per-command timeout of the stores under test: short, so outages are quick to see.
const TIMEOUT: Duration = Duration::from_millis(300);

fn store(redis: &RedisServer) -> RedisReplayStore {
    RedisReplayStore::new(&redis.url())
        .expect("a loopback redis URL")
        .timeout(TIMEOUT)
}

fn in_a_minute() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

// ---------------------------------------------------------------------------------------------
// Replay keys. `ReplayKey` has no public constructor (only the guard makes keys, from proofs),
// so the store-level tests take real ones from a guard: a store that notes what it is asked.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Noting {
    memory: MemoryReplayStore,
    keys: Arc<Mutex<Vec<ReplayKey>>>,
}

impl ReplayStore for Noting {
    fn record(&self, key: ReplayKey, expires_at: SystemTime) -> RecordFuture<'_> {
        self.keys.lock().unwrap().push(key);
        self.memory.record(key, expires_at)
    }
}

/// `n` distinct replay keys, each from a proof a guard accepted.
async fn replay_keys(n: usize) -> Vec<ReplayKey> {
    let issuer = TestIssuer::start().await;
    let noting = Noting::default();
    let keys = Arc::clone(&noting.keys);
    let app = app(&issuer, noting);
    let client = Client::new(&issuer);
    for _ in 0..n {
        assert_eq!(client.get(&app).await.status(), StatusCode::OK);
    }
    let keys = keys.lock().unwrap().clone();
    assert_eq!(keys.len(), n);
    keys
}

// ---------------------------------------------------------------------------------------------
// The guard side: an app, and a client with a DPoP key and a token bound to it.
// ---------------------------------------------------------------------------------------------

fn app(issuer: &TestIssuer, store: impl ReplayStore) -> Router {
    let guard = GuardLayer::new(issuer.validator())
        .dpop(Dpop::new(PUBLIC_URL).replay_store(store))
        .expect("valid DPoP settings");
    Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route_layer(guard)
}

struct Client {
    key: DpopKey,
    token: String,
    bearer: String,
}

impl Client {
    fn new(issuer: &TestIssuer) -> Self {
        let key = DpopKey::generate();
        let token = issuer
            .token()
            .claim("cnf", json!({ "jkt": key.thumbprint() }))
            .sign();
        Self {
            key,
            token,
            bearer: issuer.token().sign(),
        }
    }

    /// A fresh proof for `GET /orders`.
    fn proof(&self) -> String {
        self.key
            .proof("GET", &format!("{PUBLIC_URL}/orders"))
            .access_token(&self.token)
            .sign()
    }

    async fn send(&self, app: &Router, proof: &str) -> Response {
        let request = Request::get("/orders")
            .header(header::AUTHORIZATION, format!("DPoP {}", self.token))
            .header("dpop", proof)
            .body(Body::empty())
            .unwrap();
        app.clone().oneshot(request).await.unwrap()
    }

    /// `GET /orders` with a fresh proof.
    async fn get(&self, app: &Router) -> Response {
        self.send(app, &self.proof()).await
    }

    /// `GET /orders` with the unbound Bearer token: no proof, no replay store.
    async fn get_bearer(&self, app: &Router) -> Response {
        let request = Request::get("/orders")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.bearer))
            .body(Body::empty())
            .unwrap();
        app.clone().oneshot(request).await.unwrap()
    }
}

/// Every `WWW-Authenticate` line (Bearer and DPoP each have their own), joined.
fn challenges(response: &Response) -> String {
    let lines = response.headers().get_all(header::WWW_AUTHENTICATE).iter();
    let lines: Vec<_> = lines.map(|v| v.to_str().unwrap_or("")).collect();
    lines.join("\n")
}

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_proof_is_first_once_then_seen() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let keys = replay_keys(2).await;
    let store = store(&redis);
    assert_eq!(
        store.record(keys[0], in_a_minute()).await,
        Ok(Recorded::First)
    );
    assert_eq!(
        store.record(keys[0], in_a_minute()).await,
        Ok(Recorded::Seen)
    );
    assert_eq!(
        store.record(keys[1], in_a_minute()).await,
        Ok(Recorded::First)
    );
    assert_eq!(
        store.record(keys[0], in_a_minute()).await,
        Ok(Recorded::Seen)
    );
}

#[tokio::test]
async fn two_instances_refuse_what_the_other_recorded() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let keys = replay_keys(2).await;
    let (a, b) = (store(&redis), store(&redis));
    assert_eq!(a.record(keys[0], in_a_minute()).await, Ok(Recorded::First));
    assert_eq!(b.record(keys[0], in_a_minute()).await, Ok(Recorded::Seen));
    assert_eq!(b.record(keys[1], in_a_minute()).await, Ok(Recorded::First));
    assert_eq!(a.record(keys[1], in_a_minute()).await, Ok(Recorded::Seen));
    // Another namespace is another set of proofs.
    let other = store(&redis).namespace("other-api");
    assert_eq!(
        other.record(keys[0], in_a_minute()).await,
        Ok(Recorded::First)
    );
}

#[tokio::test]
async fn entries_are_namespaced_hashes_that_expire_with_the_proof() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let keys = replay_keys(1).await;
    let store = store(&redis);
    let expires_at = SystemTime::now() + Duration::from_millis(400);
    assert_eq!(store.record(keys[0], expires_at).await, Ok(Recorded::First));

    let name = format!("bearer-guard:dpop:{}", keys[0].to_hex());
    let pttl = redis.command(&["PTTL", &name]);
    let ms: u64 = pttl.trim().trim_start_matches(':').parse().unwrap();
    assert!((1..=400).contains(&ms), "PTTL {pttl:?}");
    // One key in all, and nothing of the proof in it.
    assert_eq!(redis.command(&["DBSIZE"]).trim(), ":1");

    assert_eq!(store.record(keys[0], expires_at).await, Ok(Recorded::Seen));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        store.record(keys[0], in_a_minute()).await,
        Ok(Recorded::First)
    );
}

#[tokio::test]
async fn redis_killed_is_unavailable_at_once_and_restarted_works_again() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let keys = replay_keys(4).await;
    let busy = store(&redis).retry_after(Duration::from_secs(2));
    // Used before the outage, idle during it: its connection is dead when Redis is back.
    let idle = store(&redis);
    assert_eq!(
        busy.record(keys[0], in_a_minute()).await,
        Ok(Recorded::First)
    );
    assert_eq!(
        idle.record(keys[1], in_a_minute()).await,
        Ok(Recorded::First)
    );

    redis.kill();
    for key in [keys[2], keys[2], keys[3]] {
        let started = Instant::now();
        assert_eq!(
            busy.record(key, in_a_minute()).await,
            Err(ReplayError::Unavailable {
                retry_after: Duration::from_secs(2)
            })
        );
        // A refused connection is told at once, well within the timeout.
        assert!(started.elapsed() < TIMEOUT, "{:?}", started.elapsed());
    }

    // Restarted empty on the same port: the same stores reconnect by themselves.
    redis.restart();
    assert_eq!(
        busy.record(keys[2], in_a_minute()).await,
        Ok(Recorded::First)
    );
    assert_eq!(
        idle.record(keys[2], in_a_minute()).await,
        Ok(Recorded::Seen)
    );
    assert_eq!(
        idle.record(keys[3], in_a_minute()).await,
        Ok(Recorded::First)
    );
}

#[tokio::test]
async fn built_while_redis_is_down_it_answers_once_redis_is_up() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let keys = replay_keys(1).await;
    redis.kill();
    let store = store(&redis);
    assert!(matches!(
        store.record(keys[0], in_a_minute()).await,
        Err(ReplayError::Unavailable { .. })
    ));
    redis.restart();
    assert_eq!(
        store.record(keys[0], in_a_minute()).await,
        Ok(Recorded::First)
    );
}

#[tokio::test]
async fn a_redis_that_never_answers_is_unavailable_after_the_timeout() {
    // Accepts connections and reads nothing: neither the handshake nor SET is answered.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let keys = replay_keys(1).await;
    let store = RedisReplayStore::new(&url).unwrap().timeout(TIMEOUT);
    let started = Instant::now();
    assert!(matches!(
        store.record(keys[0], in_a_minute()).await,
        Err(ReplayError::Unavailable { .. })
    ));
    let took = started.elapsed();
    assert!(took >= TIMEOUT && took < TIMEOUT * 3, "{took:?}");
    drop(listener);
}

/// Not a benchmark: a figure for the README, printed with `--nocapture`.
#[tokio::test]
async fn latency_of_one_record_against_local_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let keys = replay_keys(1).await;
    let store = store(&redis);
    store.record(keys[0], in_a_minute()).await.unwrap();
    let rounds = 2_000u32;
    let started = Instant::now();
    for _ in 0..rounds {
        // The same SET NX PX round trip as a first use; the key is taken, so it answers nil.
        assert_eq!(
            store.record(keys[0], in_a_minute()).await,
            Ok(Recorded::Seen)
        );
    }
    let each = started.elapsed() / rounds;
    eprintln!("RedisReplayStore::record against local redis-server: {each:?} per record");
    assert!(each < Duration::from_millis(5), "{each:?}");
}

// ---------------------------------------------------------------------------------------------
// The guard of a fleet
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_fleet_accepts_a_proof_once_across_instances() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let issuer = TestIssuer::start().await;
    let (a, b) = (app(&issuer, store(&redis)), app(&issuer, store(&redis)));
    let client = Client::new(&issuer);

    let proof = client.proof();
    assert_eq!(client.send(&a, &proof).await.status(), StatusCode::OK);
    let replayed = client.send(&b, &proof).await;
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    let challenges = challenges(&replayed);
    assert!(
        challenges
            .lines()
            .any(|line| line.starts_with("DPoP ") && line.contains(r#"error="invalid_dpop_proof""#)),
        "{challenges}"
    );
    // And on the first instance too; a fresh proof is fine on either.
    assert_eq!(
        client.send(&a, &proof).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(client.get(&b).await.status(), StatusCode::OK);
    assert_eq!(client.get(&a).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_fleet_answers_503_while_redis_is_down_and_200_once_it_is_back() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let issuer = TestIssuer::start().await;
    let (a, b) = (app(&issuer, store(&redis)), app(&issuer, store(&redis)));
    let client = Client::new(&issuer);
    assert_eq!(client.get(&a).await.status(), StatusCode::OK);
    assert_eq!(client.get(&b).await.status(), StatusCode::OK);

    redis.kill();
    for app in [&a, &b] {
        let response = client.get(app).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER).unwrap(),
            "1",
            "the default Retry-After"
        );
        // Bearer tokens need no replay store.
        assert_eq!(client.get_bearer(app).await.status(), StatusCode::OK);
    }

    redis.restart();
    // The store of `b` is idle until now: its first request after the restart is served.
    assert_eq!(client.get(&b).await.status(), StatusCode::OK);
    let proof = client.proof();
    assert_eq!(client.send(&a, &proof).await.status(), StatusCode::OK);
    assert_eq!(
        client.send(&b, &proof).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
