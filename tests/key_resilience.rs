//! Resilience of JWKS key handling against a fault-injecting identity provider on loopback:
//! single-flight loading, the unknown-`kid` cooldown, rotation and removal of keys, outages
//! (errors and hangs) within and past `max_stale`, bad answers (garbage, empty, oversized),
//! conditional requests, several issuers, and the status API.
//!
//! Real time with short configured durations throughout (real sockets and tokio's paused clock
//! do not mix).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::{ErrorKind, FetchError, Issuer, KeyState, Validator, ValidatorBuilder};
use http_body_util::{BodyExt, Full};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

const AUDIENCE: &str = "https://api.resilience.test";
const ISSUER: &str = "https://idp.resilience.test";

/// Longer than any fetch timeout configured here.
const HANG: Duration = Duration::from_secs(5);
/// Larger than the 256 KiB document cap.
const HUGE_BYTES: usize = 300 * 1024;

// ---------------------------------------------------------------------------------------------
// Keys and tokens
// ---------------------------------------------------------------------------------------------

/// A fixture key pair.
struct TestKey {
    encoding: EncodingKey,
    alg: Algorithm,
    /// The public JWK, without `kid`.
    public: Value,
}

impl TestKey {
    fn load(stem: &str, alg: Algorithm) -> Self {
        let path = format!("{}/fixtures/{stem}.pem", env!("CARGO_MANIFEST_DIR"));
        let pem = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        let encoding = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
            other => panic!("no fixture for {other:?}"),
        }
        .unwrap_or_else(|e| panic!("loading {path}: {e}"));
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, alg)
            .unwrap_or_else(|e| panic!("JWK of {path}: {e}"));
        let public = serde_json::to_value(&jwk).expect("a JWK serializes");
        Self {
            encoding,
            alg,
            public,
        }
    }

    fn ed() -> Self {
        Self::load("ed25519", Algorithm::EdDSA)
    }

    fn ec() -> Self {
        Self::load("ec-p256", Algorithm::ES256)
    }

    fn rsa() -> Self {
        Self::load("rsa2048", Algorithm::RS256)
    }

    fn attacker() -> Self {
        Self::load("attacker-ec-p256", Algorithm::ES256)
    }

    /// The public JWK published under `kid`.
    fn jwk(&self, kid: &str) -> Value {
        let mut jwk = self.public.clone();
        let object = jwk.as_object_mut().expect("a JWK is an object");
        object.insert("kid".into(), json!(kid));
        object.insert("use".into(), json!("sig"));
        jwk
    }

    /// A valid access token for `iss`, signed by this key, naming `kid`.
    fn token(&self, kid: &str, iss: &str) -> String {
        let mut header = jsonwebtoken::Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(&header, &claims(iss), &self.encoding).expect("token signs")
    }
}

fn jwks(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

fn claims(iss: &str) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    json!({
        "iss": iss,
        "aud": AUDIENCE,
        "exp": now + 300,
        "iat": now,
        "sub": "client-1",
        "client_id": "client-1",
    })
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON serializes"))
}

/// A well-formed token naming `kid`, with a signature nobody made: it can only be rejected,
/// and the key lookup comes before any signature check.
fn unsigned_token(kid: &str, iss: &str) -> String {
    let header = json!({ "alg": "EdDSA", "kid": kid, "typ": "at+jwt" });
    format!(
        "{}.{}.{}",
        b64_json(&header),
        b64_json(&claims(iss)),
        URL_SAFE_NO_PAD.encode([7u8; 64])
    )
}

/// A cheap pseudo-random sequence (xorshift64*), seeded from the clock.
struct Random(u64);

impl Random {
    fn new() -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos() as u64;
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

// ---------------------------------------------------------------------------------------------
// The fault-injecting JWKS server
// ---------------------------------------------------------------------------------------------

/// What `/jwks` answers.
#[derive(Debug, Clone)]
enum Mode {
    /// The set, with an optional `Cache-Control` and an optional `ETag` (then a matching
    /// `If-None-Match` gets 304).
    Normal {
        jwks: String,
        cache_control: Option<String>,
        etag: Option<String>,
    },
    /// 500 Internal Server Error.
    Fail500,
    /// Answers only after [`HANG`].
    Hang,
    /// A JWKS padded past the document cap, with `Content-Length`.
    Huge,
    /// The same, chunked (no `Content-Length`): caught only while reading.
    HugeChunked,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with `{"keys":[]}`.
    Empty,
}

impl Mode {
    fn normal(jwks: &Value) -> Self {
        Mode::Normal {
            jwks: jwks.to_string(),
            cache_control: None,
            etag: None,
        }
    }
}

struct ServerState {
    mode: Mutex<Mode>,
    /// Waited before each answer.
    delay: Mutex<Duration>,
    /// Requests to `/jwks`, whatever the answer.
    fetches: AtomicUsize,
    /// Requests being answered now, and the most at once.
    in_progress: AtomicUsize,
    max_in_progress: AtomicUsize,
    /// 304 answers.
    not_modified: AtomicUsize,
    /// `If-None-Match` values received.
    if_none_match: Mutex<Vec<String>>,
}

/// A JWKS endpoint on `127.0.0.1:0` whose behaviour can be switched at run time.
struct JwksServer {
    url: String,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    async fn start(mode: Mode) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(ServerState {
            mode: Mutex::new(mode),
            delay: Mutex::new(Duration::ZERO),
            fetches: AtomicUsize::new(0),
            in_progress: AtomicUsize::new(0),
            max_in_progress: AtomicUsize::new(0),
            not_modified: AtomicUsize::new(0),
            if_none_match: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/jwks", get(serve_jwks))
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("JWKS server");
        });
        Self {
            url: format!("http://{addr}/jwks"),
            state,
            task,
        }
    }

    fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().expect("lock") = mode;
    }

    fn set_jwks(&self, jwks: &Value) {
        self.set_mode(Mode::normal(jwks));
    }

    fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().expect("lock") = delay;
    }

    fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    /// The most requests to `/jwks` answered at once.
    fn max_in_progress(&self) -> usize {
        self.state.max_in_progress.load(Ordering::SeqCst)
    }

    fn not_modified(&self) -> usize {
        self.state.not_modified.load(Ordering::SeqCst)
    }

    fn if_none_match(&self) -> Vec<String> {
        self.state.if_none_match.lock().expect("lock").clone()
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn huge_document() -> String {
    let document = json!({ "keys": [TestKey::ed().jwk("k1")], "padding": "x".repeat(HUGE_BYTES) });
    document.to_string()
}

async fn serve_jwks(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    let now = state.in_progress.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_progress.fetch_max(now, Ordering::SeqCst);
    let response = answer(&state, &headers).await;
    state.in_progress.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn answer(state: &ServerState, headers: &HeaderMap) -> Response {
    let delay = *state.delay.lock().expect("lock");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mode = state.mode.lock().expect("lock").clone();
    let json_type = (header::CONTENT_TYPE, "application/jwk-set+json");
    match mode {
        Mode::Normal {
            jwks,
            cache_control,
            etag,
        } => {
            let mut response = Response::builder().header(json_type.0, json_type.1);
            if let Some(value) = &cache_control {
                response = response.header(header::CACHE_CONTROL, value);
            }
            if let Some(etag) = &etag {
                response = response.header(header::ETAG, etag);
                if let Some(sent) = headers.get(header::IF_NONE_MATCH) {
                    let sent = sent.to_str().expect("ASCII If-None-Match").to_owned();
                    let matches = sent == *etag;
                    state.if_none_match.lock().expect("lock").push(sent);
                    if matches {
                        state.not_modified.fetch_add(1, Ordering::SeqCst);
                        return response
                            .status(StatusCode::NOT_MODIFIED)
                            .body(Body::empty())
                            .expect("response builds");
                    }
                }
            }
            response.body(Body::from(jwks)).expect("response builds")
        }
        Mode::Fail500 => (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response(),
        Mode::Hang => {
            tokio::time::sleep(HANG).await;
            (StatusCode::SERVICE_UNAVAILABLE, "too late").into_response()
        }
        Mode::Huge => ([json_type], huge_document()).into_response(),
        Mode::HugeChunked => {
            // `map_frame` hides the size hint, so the body goes out chunked.
            let body = Full::new(Bytes::from(huge_document())).map_frame(|frame| frame);
            ([json_type], Body::new(body)).into_response()
        }
        Mode::Garbage => ([json_type], "<html><body>502 Bad Gateway</body></html>").into_response(),
        Mode::Empty => ([json_type], r#"{"keys":[]}"#).into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Validators
// ---------------------------------------------------------------------------------------------

/// Short durations everywhere; a long default TTL so that nothing is refreshed by age unless a
/// test asks for it.
fn fast(builder: ValidatorBuilder) -> ValidatorBuilder {
    builder
        .unknown_kid_cooldown(Duration::from_millis(300))
        .jwks_ttl(Duration::from_secs(60))
        .jwks_ttl_bounds(Duration::from_millis(200), Duration::from_secs(60))
        .max_stale(Duration::from_secs(1))
        .retry_backoff(Duration::from_millis(50), Duration::from_millis(200))
        .fetch_timeout(Duration::from_millis(300))
}

fn issuer(iss: &str, server: &JwksServer) -> Issuer {
    Issuer::new(iss).audience(AUDIENCE).jwks_uri(&server.url)
}

/// Like [`fast`], with keys fresh for 200 ms only.
fn short_ttl(builder: ValidatorBuilder) -> ValidatorBuilder {
    fast(builder).jwks_ttl(Duration::from_millis(200))
}

fn status_of(validator: &Validator) -> bearer_guard::KeyStatus {
    let mut all = validator.key_status();
    assert_eq!(all.len(), 1, "one issuer: {all:?}");
    all.remove(0)
}

/// Sleeps in small steps until `done` holds, or panics after `limit`.
async fn poll_until(limit: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    loop {
        if done().await {
            return;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Single flight on first use
// ---------------------------------------------------------------------------------------------

async fn thousand_first_requests(delay: Duration) {
    let key = TestKey::ed();
    let server = JwksServer::start(Mode::normal(&jwks(&[key.jwk("k1")]))).await;
    server.set_delay(delay);
    let validator = fast(Validator::builder().issuer(issuer(ISSUER, &server)))
        .build()
        .expect("validator builds");
    let token = Arc::new(key.token("k1", ISSUER));
    let barrier = Arc::new(tokio::sync::Barrier::new(1000));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (validator, token, barrier) = (validator.clone(), Arc::clone(&token), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            validator.validate(&token).await.map(drop)
        });
    }
    let mut failures = Vec::new();
    while let Some(result) = tasks.join_next().await {
        if let Err(error) = result.expect("task completes") {
            failures.push(error.kind());
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    assert_eq!(server.max_in_progress(), 1, "fetches ran side by side");
    assert_eq!(server.fetches(), 1, "fetches for 1000 first requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_first_requests_fetch_once_from_a_slow_idp() {
    thousand_first_requests(Duration::from_millis(150)).await;
}

/// With a fast IdP, some of the 1000 callers look for a set just before the first fetch ends
/// and ask for a refresh just after: they must use that fetch's result, not start a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_first_requests_fetch_once_from_a_fast_idp() {
    for _ in 0..20 {
        thousand_first_requests(Duration::ZERO).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Unknown kids inside one cooldown
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_unknown_kids_inside_one_cooldown_fetch_at_most_once() {
    let cooldown = Duration::from_secs(2);
    let key = TestKey::ed();
    let server = JwksServer::start(Mode::normal(&jwks(&[key.jwk("k1")]))).await;
    let validator = fast(Validator::builder().issuer(issuer(ISSUER, &server)))
        .unknown_kid_cooldown(cooldown)
        .build()
        .expect("validator builds");
    validator.warm_up().await.expect("warm-up");
    assert_eq!(server.fetches(), 1);

    let known = Arc::new(key.token("k1", ISSUER));
    let mut random = Random::new();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10_000 {
        if i % 10 == 5 {
            let (validator, known) = (validator.clone(), Arc::clone(&known));
            tasks.spawn(async move { (true, validator.validate(&known).await.map(drop)) });
        }
        let validator = validator.clone();
        let unknown = unsigned_token(&format!("rotated-{:016x}", random.next()), ISSUER);
        tasks.spawn(async move { (false, validator.validate(&unknown).await.map(drop)) });
    }
    let (mut known_ok, mut unknown_rejected) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task completes") {
            (true, Ok(())) => known_ok += 1,
            (true, Err(error)) => panic!("a known-kid token failed: {:?}", error.kind()),
            (false, Ok(())) => panic!("an unknown-kid token was accepted"),
            (false, Err(error)) => {
                assert_eq!(error.kind(), ErrorKind::UnknownKey);
                unknown_rejected += 1;
            }
        }
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed < cooldown,
        "the storm must fit in one cooldown to test it; took {elapsed:?}"
    );
    assert_eq!((known_ok, unknown_rejected), (1000, 10_000));
    let extra = server.fetches() - 1;
    assert!(
        extra <= 1,
        "{extra} fetches for unknown kids inside one cooldown"
    );

    // Once the cooldown is over, an unknown kid may trigger one refresh again (and only one).
    tokio::time::sleep((start + cooldown + Duration::from_millis(100)) - Instant::now()).await;
    let before = server.fetches();
    for _ in 0..50 {
        let token = unsigned_token(&format!("later-{:016x}", random.next()), ISSUER);
        let error = validator.validate(&token).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnknownKey);
    }
    assert_eq!(server.fetches(), before + 1, "after the cooldown");
    validator.validate(&known).await.expect("known kid");
}

// ---------------------------------------------------------------------------------------------
// 3. Rotation
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_kid_is_picked_up_by_its_first_token_with_one_fetch() {
    let cooldown = Duration::from_secs(1);
    let (ed, rsa, ec) = (TestKey::ed(), TestKey::rsa(), TestKey::ec());
    let server = JwksServer::start(Mode::normal(&jwks(&[ed.jwk("k1")]))).await;
    let validator = fast(Validator::builder().issuer(issuer(ISSUER, &server)))
        .unknown_kid_cooldown(cooldown)
        .build()
        .expect("validator builds");
    validator
        .validate(&ed.token("k1", ISSUER))
        .await
        .expect("k1 before rotation");
    assert_eq!(server.fetches(), 1);

    // The IdP publishes k2 (the RSA key, new to the validator) next to k1.
    server.set_jwks(&jwks(&[ed.jwk("k1"), rsa.jwk("k2")]));
    let rotated = Instant::now();
    let claims = validator
        .validate(&rsa.token("k2", ISSUER))
        .await
        .expect("the first k2 token");
    assert_eq!(claims.issuer(), ISSUER);
    assert_eq!(
        server.fetches(),
        2,
        "exactly one more fetch for the new kid"
    );
    validator
        .validate(&rsa.token("k2", ISSUER))
        .await
        .expect("k2 again");
    validator
        .validate(&ed.token("k1", ISSUER))
        .await
        .expect("k1 after rotation");
    assert_eq!(server.fetches(), 2, "known kids cost no fetch");
    assert_eq!(status_of(&validator).key_count, 2);

    // Another rotation inside the cooldown is not looked up yet…
    server.set_jwks(&jwks(&[ed.jwk("k1"), rsa.jwk("k2"), ec.jwk("k3")]));
    let error = validator
        .validate(&ec.token("k3", ISSUER))
        .await
        .unwrap_err();
    assert!(
        rotated.elapsed() < cooldown,
        "too slow to test the cooldown"
    );
    assert_eq!(error.kind(), ErrorKind::UnknownKey);
    assert_eq!(server.fetches(), 2);
    // …and is once the cooldown is over.
    tokio::time::sleep((rotated + cooldown + Duration::from_millis(50)) - Instant::now()).await;
    validator
        .validate(&ec.token("k3", ISSUER))
        .await
        .expect("k3 after the cooldown");
    assert_eq!(server.fetches(), 3);
}

// ---------------------------------------------------------------------------------------------
// 4. Removal
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_key_is_rejected_after_the_next_refresh() {
    let (ed, ec) = (TestKey::ed(), TestKey::ec());
    let server = JwksServer::start(Mode::Normal {
        jwks: jwks(&[ed.jwk("k1"), ec.jwk("k2")]).to_string(),
        // Clamped up to the 200 ms lower bound.
        cache_control: Some("public, max-age=0".into()),
        etag: None,
    })
    .await;
    // The default TTL is 60 s: only the header can make the set expire this soon.
    let validator = fast(Validator::builder().issuer(issuer(ISSUER, &server)))
        .build()
        .expect("validator builds");
    let (stays, goes) = (ed.token("k1", ISSUER), ec.token("k2", ISSUER));
    // Twice each: a token is cached on its second validation, so what follows checks that a
    // cached token stops with its key.
    for _ in 0..2 {
        validator.validate(&goes).await.expect("k2 while published");
        validator.validate(&stays).await.expect("k1");
    }

    server.set_mode(Mode::Normal {
        jwks: jwks(&[ed.jwk("k1")]).to_string(),
        cache_control: Some("public, max-age=0".into()),
        etag: None,
    });
    let removed = Instant::now();
    let mut rejected = None;
    poll_until(Duration::from_secs(3), "k2 rejected", async || {
        validator.validate(&stays).await.expect("k1 keeps working");
        match validator.validate(&goes).await {
            Ok(_) => false,
            Err(error) => {
                rejected = Some(error.kind());
                true
            }
        }
    })
    .await;
    assert_eq!(rejected, Some(ErrorKind::UnknownKey));
    assert!(server.fetches() >= 2, "a refresh happened");
    eprintln!("k2 rejected {:?} after removal", removed.elapsed());
    for _ in 0..5 {
        let error = validator.validate(&goes).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnknownKey);
        validator.validate(&stays).await.expect("k1 keeps working");
    }
    assert_eq!(status_of(&validator).key_count, 1);
}

// ---------------------------------------------------------------------------------------------
// 5. Outages
// ---------------------------------------------------------------------------------------------

async fn outage(mode: Mode, expected_error: FetchError) {
    let ttl = Duration::from_millis(200);
    let max_stale = Duration::from_secs(1);
    let ed = TestKey::ed();
    let server = JwksServer::start(Mode::normal(&jwks(&[ed.jwk("k1")]))).await;
    let validator = short_ttl(Validator::builder().issuer(issuer(ISSUER, &server)))
        .max_stale(max_stale)
        .build()
        .expect("validator builds");
    let token = ed.token("k1", ISSUER);
    let loaded = Instant::now();
    validator.warm_up().await.expect("warm-up");
    server.set_mode(mode);
    let outage = Instant::now();

    // Past the TTL, inside max_stale: every validation succeeds, without waiting for I/O.
    let inside = loaded + ttl + max_stale - Duration::from_millis(150);
    let mut validations = 0;
    let mut saw_stale = false;
    while Instant::now() < inside {
        let started = Instant::now();
        let result = validator.validate(&token).await;
        let took = started.elapsed();
        assert!(
            result.is_ok(),
            "validation failed {:?} into the outage: {:?}",
            outage.elapsed(),
            result.unwrap_err().kind()
        );
        assert!(
            took < Duration::from_millis(250),
            "a known kid waited {took:?}"
        );
        validations += 1;
        if Instant::now() > outage + ttl + Duration::from_millis(50) {
            saw_stale |= status_of(&validator).state == KeyState::Stale;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(outage.elapsed() > ttl, "the outage outlasted the TTL");
    assert!(validations > 20, "only {validations} validations");
    assert!(saw_stale, "key_status never said Stale");
    let status = status_of(&validator);
    assert_eq!(status.last_error, Some(expected_error.clone()));
    assert!(status.consecutive_failures >= 1, "{status:?}");
    assert!(server.fetches() >= 2, "refreshes were tried");

    // Past max_stale: 503-worthy, with a retry hint.
    tokio::time::sleep((outage + ttl + max_stale + Duration::from_millis(100)) - Instant::now())
        .await;
    let error = validator.validate(&token).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::KeysUnavailable);
    assert!(error.retry_after().is_some(), "{error:?}");
    let status = status_of(&validator);
    assert_eq!(status.state, KeyState::Unavailable);
    assert_eq!(status.last_error, Some(expected_error));

    // Recovery, same validator.
    server.set_jwks(&jwks(&[ed.jwk("k1")]));
    poll_until(Duration::from_secs(2), "recovery", async || {
        validator.validate(&token).await.is_ok()
    })
    .await;
    for _ in 0..10 {
        validator.validate(&token).await.expect("after recovery");
    }
    let status = status_of(&validator);
    assert_eq!(status.state, KeyState::Fresh);
    assert_eq!(status.last_error, None);
    assert_eq!(status.consecutive_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_500s_is_bridged_until_max_stale_then_recovers() {
    outage(Mode::Fail500, FetchError::Status(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_idp_is_bridged_until_max_stale_then_recovers() {
    outage(Mode::Hang, FetchError::Timeout).await;
}

// ---------------------------------------------------------------------------------------------
// 6. Bad answers
// ---------------------------------------------------------------------------------------------

async fn bad_answer_keeps_the_last_good_set(mode: Mode, expected_error: FetchError) {
    let (ed, ec) = (TestKey::ed(), TestKey::ec());
    let server = JwksServer::start(Mode::normal(&jwks(&[ed.jwk("k1"), ec.jwk("k2")]))).await;
    let validator = short_ttl(Validator::builder().issuer(issuer(ISSUER, &server)))
        .build()
        .expect("validator builds");
    validator.warm_up().await.expect("warm-up");
    server.set_mode(mode);
    let tokens = [ed.token("k1", ISSUER), ec.token("k2", ISSUER)];
    poll_until(Duration::from_secs(2), "a failed refresh", async || {
        for token in &tokens {
            validator.validate(token).await.expect("the last good set");
        }
        status_of(&validator).last_error.is_some()
    })
    .await;
    for token in &tokens {
        validator.validate(token).await.expect("the last good set");
    }
    let status = status_of(&validator);
    assert_eq!(status.last_error, Some(expected_error));
    assert_eq!(status.key_count, 2, "the last good set is kept whole");
    assert_ne!(status.state, KeyState::Unavailable);
    assert!(status.consecutive_failures >= 1);
    assert!(status.last_success.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_answer_keeps_the_last_good_set() {
    bad_answer_keeps_the_last_good_set(Mode::Garbage, FetchError::Invalid("not a JWKS")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_set_keeps_the_last_good_set() {
    bad_answer_keeps_the_last_good_set(Mode::Empty, FetchError::Invalid("no usable key")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_answer_keeps_the_last_good_set() {
    bad_answer_keeps_the_last_good_set(Mode::Huge, FetchError::TooLarge).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_chunked_answer_keeps_the_last_good_set() {
    bad_answer_keeps_the_last_good_set(Mode::HugeChunked, FetchError::TooLarge).await;
}

// ---------------------------------------------------------------------------------------------
// 7. Conditional requests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_are_conditional_and_a_304_keeps_the_set() {
    let ed = TestKey::ed();
    let etag = "\"jwks-v1\"";
    let server = JwksServer::start(Mode::Normal {
        jwks: jwks(&[ed.jwk("k1")]).to_string(),
        cache_control: Some("max-age=0".into()),
        etag: Some(etag.into()),
    })
    .await;
    let validator = fast(Validator::builder().issuer(issuer(ISSUER, &server)))
        .build()
        .expect("validator builds");
    let token = ed.token("k1", ISSUER);
    validator.warm_up().await.expect("warm-up");
    poll_until(Duration::from_secs(3), "two 304 answers", async || {
        validator
            .validate(&token)
            .await
            .expect("the set stays usable");
        server.not_modified() >= 2
    })
    .await;
    for _ in 0..5 {
        validator.validate(&token).await.expect("after 304s");
    }
    assert_eq!(
        server.fetches() - server.not_modified(),
        1,
        "only the first fetch got a body"
    );
    let sent = server.if_none_match();
    assert!(!sent.is_empty());
    assert!(
        sent.iter().all(|v| v == etag),
        "If-None-Match sent: {sent:?}"
    );
    let status = status_of(&validator);
    assert_eq!(status.last_error, None);
    assert_eq!(status.consecutive_failures, 0);
    assert_eq!(status.key_count, 1);
    assert_ne!(status.state, KeyState::Unavailable);
}

// ---------------------------------------------------------------------------------------------
// 8. Several issuers
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_issuers_keep_their_keys_apart() {
    const ISS_A: &str = "https://a.idp.test";
    const ISS_B: &str = "https://b.idp.test";
    let (key_a, key_b) = (TestKey::ec(), TestKey::attacker());
    let server_a = JwksServer::start(Mode::normal(&jwks(&[key_a.jwk("a-1")]))).await;
    let server_b = JwksServer::start(Mode::normal(&jwks(&[key_b.jwk("b-1")]))).await;
    let validator = fast(
        Validator::builder()
            .issuer(issuer(ISS_A, &server_a))
            .issuer(issuer(ISS_B, &server_b)),
    )
    .build()
    .expect("validator builds");
    let counts = || (server_a.fetches(), server_b.fetches());

    let claims = validator
        .validate(&key_a.token("a-1", ISS_A))
        .await
        .expect("A's token");
    assert_eq!(claims.issuer(), ISS_A);
    assert_eq!(counts(), (1, 0));
    let claims = validator
        .validate(&key_b.token("b-1", ISS_B))
        .await
        .expect("B's token");
    assert_eq!(claims.issuer(), ISS_B);
    assert_eq!(counts(), (1, 1));
    validator
        .validate(&key_a.token("a-1", ISS_A))
        .await
        .expect("A again");
    validator
        .validate(&key_b.token("b-1", ISS_B))
        .await
        .expect("B again");
    assert_eq!(counts(), (1, 1));

    // An untrusted issuer: rejected before any key lookup.
    for token in [
        key_a.token("a-1", "https://evil.idp.test"),
        key_a.token("a-1", "https://a.idp.test/"),
        unsigned_token("never-seen", "https://evil.idp.test"),
    ] {
        let error = validator.validate(&token).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidIssuer);
    }
    assert_eq!(counts(), (1, 1), "no fetch for an untrusted issuer");

    // iss A, signed by B's key under B's kid: A does not know the kid.
    let error = validator
        .validate(&key_b.token("b-1", ISS_A))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownKey);
    assert_eq!(counts().1, 1, "B's keys are never consulted for A");
    assert!(counts().0 <= 2, "at most one lookup of A's keys");
    // iss A, naming A's kid, signed by B's key.
    let error = validator
        .validate(&key_b.token("a-1", ISS_A))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidSignature);
    // iss B, naming A's kid, signed by A's key.
    let error = validator
        .validate(&key_a.token("a-1", ISS_B))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownKey);
    assert!(counts().0 <= 2 && counts().1 <= 2, "{:?}", counts());

    let status = validator.key_status();
    let issuers: Vec<&str> = status.iter().map(|s| s.issuer.as_str()).collect();
    assert_eq!(issuers, [ISS_A, ISS_B]);
    assert!(
        status
            .iter()
            .all(|s| s.state == KeyState::Fresh && s.key_count == 1)
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Status and warm-up
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_status_before_and_after_warm_up() {
    let (ed, ec, rsa) = (TestKey::ed(), TestKey::ec(), TestKey::rsa());
    let server = JwksServer::start(Mode::normal(&jwks(&[
        ed.jwk("k1"),
        ec.jwk("k2"),
        rsa.jwk("k3"),
    ])))
    .await;
    let validator = fast(Validator::builder().issuer(issuer(ISSUER, &server)))
        .build()
        .expect("validator builds");
    let before = status_of(&validator);
    assert_eq!(before.issuer, ISSUER);
    assert_eq!(before.state, KeyState::Unavailable);
    assert_eq!(before.key_count, 0);
    assert_eq!(before.last_success, None);
    assert_eq!(before.last_error, None);
    assert_eq!(server.fetches(), 0, "building fetches nothing");

    validator.warm_up().await.expect("warm-up");
    assert_eq!(server.fetches(), 1);
    let after = status_of(&validator);
    assert_eq!(after.state, KeyState::Fresh);
    assert_eq!(after.key_count, 3);
    assert!(after.last_success.is_some());
    assert_eq!(after.last_error, None);
    assert_eq!(after.consecutive_failures, 0);
    validator.warm_up().await.expect("second warm-up");
    assert_eq!(server.fetches(), 1, "a loaded set is not fetched again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_builds_while_its_idp_is_down() {
    // Nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.local_addr().expect("local addr")
    };
    let validator = fast(
        Validator::builder().issuer(
            Issuer::new(ISSUER)
                .audience(AUDIENCE)
                .jwks_uri(format!("http://{closed}/jwks")),
        ),
    )
    .build()
    .expect("building needs no IdP");
    let status = status_of(&validator);
    assert_eq!(status.state, KeyState::Unavailable);
    assert_eq!(status.last_error, None, "no I/O at build");

    let token = TestKey::ed().token("k1", ISSUER);
    let error = validator.validate(&token).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::KeysUnavailable);
    assert!(error.retry_after().is_some());
    let error = validator.warm_up().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::KeysUnavailable);
    let status = status_of(&validator);
    assert_eq!(status.state, KeyState::Unavailable);
    assert_eq!(status.last_error, Some(FetchError::Unreachable));
    assert!(status.consecutive_failures >= 1);

    // A server that answers 500 from the start: no fetch at build, 503 on use.
    let server = JwksServer::start(Mode::Fail500).await;
    let validator = fast(Validator::builder().issuer(issuer(ISSUER, &server)))
        .build()
        .expect("building needs no IdP");
    assert_eq!(server.fetches(), 0);
    let error = validator.validate(&token).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::KeysUnavailable);
    assert!(error.retry_after().is_some());
    assert_eq!(server.fetches(), 1);
}

// ---------------------------------------------------------------------------------------------
// 10. Settings at their extremes
// ---------------------------------------------------------------------------------------------

/// One setting (or all) at `Duration::MAX`, against a server that may send a huge `max-age`:
/// a successful fetch, a failed one and a backoff must all go without a panic. A panic in the
/// spawned refresh would show as a failed validation or a missing `last_error`.
async fn survives_extreme(
    what: &str,
    settings: impl Fn(ValidatorBuilder) -> ValidatorBuilder,
    cache_control: Option<&str>,
) {
    let key = TestKey::ed();
    let server = JwksServer::start(Mode::Normal {
        jwks: jwks(&[key.jwk("k1")]).to_string(),
        cache_control: cache_control.map(str::to_owned),
        etag: None,
    })
    .await;
    let validator = settings(fast(Validator::builder().issuer(issuer(ISSUER, &server))))
        .build()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let token = key.token("k1", ISSUER);
    validator
        .validate(&token)
        .await
        .unwrap_or_else(|e| panic!("{what}: first fetch: {:?}", e.kind()));
    assert_eq!(server.fetches(), 1, "{what}");

    // An unknown kid forces a refresh; it fails, and the last good set is kept.
    server.set_mode(Mode::Fail500);
    let error = validator
        .validate(&unsigned_token("k9", ISSUER))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownKey, "{what}");
    let status = status_of(&validator);
    assert_eq!(status.last_error, Some(FetchError::Status(500)), "{what}");
    assert_eq!(status.consecutive_failures, 1, "{what}");
    assert_ne!(status.state, KeyState::Unavailable, "{what}");
    validator
        .validate(&token)
        .await
        .unwrap_or_else(|e| panic!("{what}: after the failure: {:?}", e.kind()));
    assert_eq!(server.fetches(), 2, "{what}");

    // Never loaded, the server failing from the start: 503 with a finite retry hint.
    let failing = JwksServer::start(Mode::Fail500).await;
    let validator = settings(fast(Validator::builder().issuer(issuer(ISSUER, &failing))))
        .build()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    for _ in 0..3 {
        let error = validator.validate(&token).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::KeysUnavailable, "{what}");
        let retry = error.retry_after().expect("a retry hint");
        assert!(
            retry <= bearer_guard::defaults::MAX_KEY_TIMING,
            "{what}: {retry:?}"
        );
    }
    let status = status_of(&validator);
    assert_eq!(status.last_error, Some(FetchError::Status(500)), "{what}");
    assert!(failing.fetches() <= 3, "{what}: {}", failing.fetches());
}

/// `Cache-Control: max-age` with the largest number a server can send us.
fn huge_max_age() -> Option<String> {
    Some(format!("public, max-age={}", u64::MAX))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_stale_at_its_maximum_never_panics() {
    survives_extreme("max_stale", |b| b.max_stale(Duration::MAX), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_ttl_bounds_with_a_huge_max_age_never_panic() {
    survives_extreme(
        "jwks_ttl_bounds",
        |b| b.jwks_ttl_bounds(Duration::from_millis(200), Duration::MAX),
        huge_max_age().as_deref(),
    )
    .await;
    survives_extreme(
        "jwks_ttl_bounds and max_stale",
        |b| {
            b.jwks_ttl_bounds(Duration::MAX, Duration::MAX)
                .max_stale(Duration::MAX)
        },
        huge_max_age().as_deref(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_ttl_at_its_maximum_never_panics() {
    survives_extreme("jwks_ttl", |b| b.jwks_ttl(Duration::MAX), None).await;
    survives_extreme(
        "jwks_ttl with open bounds",
        |b| {
            b.jwks_ttl(Duration::MAX)
                .jwks_ttl_bounds(Duration::ZERO, Duration::MAX)
        },
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_backoff_at_its_maximum_never_panics() {
    survives_extreme(
        "retry_backoff",
        |b| b.retry_backoff(Duration::MAX, Duration::MAX),
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_cooldown_at_its_maximum_never_panics() {
    survives_extreme(
        "unknown_kid_cooldown",
        |b| b.unknown_kid_cooldown(Duration::MAX),
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_timeout_at_its_maximum_never_panics() {
    survives_extreme("fetch_timeout", |b| b.fetch_timeout(Duration::MAX), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_duration_at_its_maximum_at_once_never_panics() {
    survives_extreme(
        "all at once",
        |b| {
            b.max_stale(Duration::MAX)
                .jwks_ttl(Duration::MAX)
                .jwks_ttl_bounds(Duration::MAX, Duration::MAX)
                .retry_backoff(Duration::MAX, Duration::MAX)
                .unknown_kid_cooldown(Duration::MAX)
                .fetch_timeout(Duration::MAX)
        },
        huge_max_age().as_deref(),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// 11. A set of thousands of unusable keys
// ---------------------------------------------------------------------------------------------

/// Log lines (level, target, fields) at `warn` and above, and from the key parser at any
/// level, from every test of this binary: global, since tracing caches per call site whether
/// anyone listens. Each test counts the lines of its own issuer.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for CapturedLogs {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::WARN
            || metadata.target().starts_with("bearer_guard::jwks::key")
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("{} {}", event.metadata().level(), event.metadata().target());
        event.record(&mut Fields(&mut line));
        self.0.lock().expect("lock").push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn captured_logs() -> &'static CapturedLogs {
    static LOGS: std::sync::OnceLock<CapturedLogs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        tracing::subscriber::set_global_default(logs.clone()).expect("the only subscriber");
        logs
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_unusable_keys_cost_one_warning_and_the_good_key_still_works() {
    const CROWDED: &str = "https://crowded.idp.test";
    let logs = captured_logs();
    let key = TestKey::ed();
    let mut keys = vec![key.jwk("k1")];
    keys.extend((0..10_000).map(|i| match i % 3 {
        0 => json!({"kty": "XYZ"}),
        1 => json!({"kty": "oct", "k": "AA"}),
        _ => json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
    }));
    let document = jwks(&keys);
    assert!(
        document.to_string().len() < 256 * 1024,
        "within the document cap"
    );
    let server = JwksServer::start(Mode::normal(&document)).await;
    let validator = fast(Validator::builder().issuer(issuer(CROWDED, &server)))
        .build()
        .expect("validator builds");
    validator.warm_up().await.expect("the good key loads");
    validator
        .validate(&key.token("k1", CROWDED))
        .await
        .expect("the good key verifies");
    assert_eq!(status_of(&validator).key_count, 1);

    let ours: Vec<String> = logs
        .0
        .lock()
        .expect("lock")
        .iter()
        .filter(|line| line.contains(&format!("issuer={CROWDED:?}")))
        .cloned()
        .collect();
    let warnings: Vec<&String> = ours.iter().filter(|l| l.starts_with("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("entries=10001") && warnings[0].contains("not_inspected="),
        "{}",
        warnings[0]
    );
    assert!(ours.len() <= 1 + 8, "{} lines: {ours:#?}", ours.len());
}
