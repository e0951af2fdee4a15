//! Shared by both peer harnesses (the jwt-authorizer one includes this file with `#[path]`):
//! where the fixtures and the token pools are, the JWKS server on loopback, the measuring loop
//! and the result rows. No axum in here: the two harnesses link different axum versions.
#![allow(dead_code)]

use std::fmt::Debug;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, Response, StatusCode, header};
use tower::{Service, ServiceExt};

/// `iss` of every token, and the issuer every stack trusts.
pub const ISSUER: &str = "https://idp.example";
/// `aud` of every token, and the audience every stack expects.
pub const AUDIENCE: &str = "https://api.test";
/// The path every request asks for.
pub const PATH: &str = "/read";

/// The two signing setups measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
}

impl Alg {
    pub const ALL: [Alg; 2] = [Alg::Rs256, Alg::Es256];

    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    /// The `kid` under which `fixtures/jwks.json` publishes the key.
    pub fn kid(self) -> &'static str {
        match self {
            Alg::Rs256 => "rsa-1",
            Alg::Es256 => "ec-p256-1",
        }
    }

    /// The private key under `fixtures/`.
    pub fn private_key(self) -> &'static str {
        match self {
            Alg::Rs256 => "rsa2048.pem",
            Alg::Es256 => "ec-p256.pem",
        }
    }

    pub fn stem(self) -> &'static str {
        match self {
            Alg::Rs256 => "rs256",
            Alg::Es256 => "es256",
        }
    }
}

/// The two workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The same token on every request.
    Repeated,
    /// A token never seen before on every request.
    Fresh,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Repeated, Kind::Fresh];

    pub fn stem(self) -> &'static str {
        match self {
            Kind::Repeated => "repeated",
            Kind::Fresh => "new",
        }
    }
}

/// `rs256-repeated`, `es256-new`, ...: the scenario key in the result rows.
pub fn scenario(alg: Alg, kind: Kind) -> String {
    format!("{}-{}", alg.stem(), kind.stem())
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// The bearer-guard repository: the first ancestor of this crate holding `fixtures/jwks.json`.
pub fn repo_root() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .find(|dir| dir.join("fixtures").join("jwks.json").is_file())
        .unwrap_or_else(|| panic!("no fixtures/jwks.json above {}", start.display()))
        .to_path_buf()
}

/// `$PEERS_DATA`, else `benches/peers/target/peers-data`: token pools and results.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("PEERS_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root()
            .join("benches")
            .join("peers")
            .join("target")
            .join("peers-data"),
    }
}

pub fn tokens_dir() -> PathBuf {
    data_dir().join("tokens")
}

/// The file holding the single repeated token.
pub fn repeated_token_path(alg: Alg) -> PathBuf {
    tokens_dir().join(format!("{}-repeated.jwt", alg.stem()))
}

/// The file holding the pool of distinct tokens, one a line.
pub fn pool_path(alg: Alg) -> PathBuf {
    tokens_dir().join(format!("{}-pool.txt", alg.stem()))
}

/// The minted tokens of one algorithm.
pub struct Tokens {
    pub repeated: String,
    pub pool: Vec<String>,
}

pub fn load_tokens(alg: Alg) -> Tokens {
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "reading {}: {e} (mint the tokens first: benches/peers/run.sh does)",
                path.display()
            )
        })
    };
    let repeated = read(repeated_token_path(alg)).trim().to_owned();
    let pool = read(pool_path(alg))
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    Tokens { repeated, pool }
}

/// `fixtures/jwks.json` restricted to the two keys measured (`rsa-1`, `ec-p256-1`): some peers
/// cannot parse an OKP (Ed25519) key, and one bad key can break a whole set for them.
pub fn jwks_document() -> String {
    let path = repo_root().join("fixtures").join("jwks.json");
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("fixtures/jwks.json"))
            .expect("fixtures/jwks.json is JSON");
    let keys = doc["keys"].as_array_mut().expect("a key set");
    keys.retain(|k| Alg::ALL.iter().any(|a| k["kid"] == a.kid()));
    assert_eq!(
        keys.len(),
        2,
        "fixtures/jwks.json holds rsa-1 and ec-p256-1"
    );
    doc.to_string()
}

/// bearer-guard as measured: default settings, keys from `jwks_url`. Only for diagnosis,
/// `PEERS_OUR_CACHE=0` turns the verified-token cache off (`token_cache_capacity(0)`); the
/// numbers in the table never use it.
pub fn our_validator(jwks_url: &str) -> bearer_guard::Validator {
    let mut builder = bearer_guard::Validator::builder().issuer(
        bearer_guard::Issuer::new(ISSUER)
            .audience(AUDIENCE)
            .jwks_uri(jwks_url),
    );
    if std::env::var("PEERS_OUR_CACHE").is_ok_and(|v| v == "0") {
        builder = builder.token_cache_capacity(0);
    }
    builder.build().expect("bearer-guard validator")
}

// ---------------------------------------------------------------------------------------------
// The key server
// ---------------------------------------------------------------------------------------------

/// Serves the JWKS at `http://127.0.0.1:PORT/jwks.json` from a plain thread (so it answers
/// whatever the measuring runtime is doing), one connection at a time, `Connection: close`.
pub struct JwksServer {
    pub url: String,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    pub fn start(document: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!(
            "http://{}/jwks.json",
            listener.local_addr().expect("local addr")
        );
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &document, &counter);
            }
        });
        Self { url, hits }
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn answer(stream: TcpStream, document: &str, hits: &AtomicUsize) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    hits.fetch_add(1, Ordering::SeqCst);
    // `GET /jwks.json[?query] HTTP/1.1` (jwt-authorizer adds the `kid` and `alg` it looks for
    // as a query).
    let target = request_line.split(' ').nth(1).unwrap_or("");
    let path = target.split('?').next().unwrap_or("");
    let (status, body) = if request_line.starts_with("GET ") && path == "/jwks.json" {
        ("200 OK", document)
    } else {
        ("404 Not Found", "")
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

/// How long and how often to measure; `PEERS_SAMPLES`, `PEERS_SAMPLE_MS`, `PEERS_CHUNK`,
/// `PEERS_WARMUP_TOKENS` override the defaults.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Samples per stack and scenario (interleaved peer, ours, peer, ...).
    pub samples: usize,
    /// Target duration of one repeated-token sample.
    pub sample_time: Duration,
    /// Warm-up duration of a repeated-token stack, also used to size its samples.
    pub warmup_time: Duration,
    /// New-token scenario: tokens per sample.
    pub chunk: usize,
    /// New-token scenario: tokens sent through each stack before the first sample.
    pub warmup_tokens: usize,
}

impl Settings {
    pub fn from_env() -> Self {
        let var = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: not a number")))
                .unwrap_or(default)
        };
        Self {
            samples: var("PEERS_SAMPLES", 15),
            sample_time: Duration::from_millis(var("PEERS_SAMPLE_MS", 40) as u64),
            warmup_time: Duration::from_millis(150),
            chunk: var("PEERS_CHUNK", 1000),
            warmup_tokens: var("PEERS_WARMUP_TOKENS", 200),
        }
    }

    /// Pool tokens one stack consumes in the new-token scenario.
    pub fn fresh_tokens_needed(&self) -> usize {
        self.warmup_tokens + self.samples * self.chunk
    }
}

/// `Bearer <token>` as a header value. Built once; each request gets a clone (a reference
/// count), as hyper hands a server a header value sliced from its read buffer without a copy.
pub fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("token is header-safe")
}

/// One request through `svc`: a fresh `GET /read` with the Authorization header, `ready()`
/// then `call()`. Everything here is paid by every stack alike.
#[inline]
pub async fn call<S, B, RB>(svc: &mut S, authorization: &HeaderValue) -> StatusCode
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: Debug,
    B: Default,
{
    let request = Request::get(PATH)
        .header(header::AUTHORIZATION, authorization.clone())
        .body(B::default())
        .expect("request builds");
    let response = svc
        .ready()
        .await
        .expect("service ready")
        .call(request)
        .await
        .expect("service call");
    response.status()
}

#[cold]
#[inline(never)]
fn refused(status: StatusCode) -> ! {
    panic!("a valid token was answered {status}: the stack is misconfigured, no number is valid")
}

/// Sends `authorization` until the stack answers 200 (keys are loaded lazily or by a
/// background task in some stacks): the untimed request that warms the key cache.
pub async fn wait_ready<S, B, RB>(name: &str, svc: &mut S, authorization: &HeaderValue)
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: Debug,
    B: Default,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = call(svc, authorization).await;
        if status == StatusCode::OK {
            return;
        }
        if Instant::now() > deadline {
            panic!("{name}: a valid token is still answered {status} after 15 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Mean ns per request over `iterations` requests with the same header.
async fn run_repeated<S, B, RB>(svc: &mut S, authorization: &HeaderValue, iterations: u64) -> f64
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: Debug,
    B: Default,
{
    let start = Instant::now();
    for _ in 0..iterations {
        let status = call(svc, authorization).await;
        if status != StatusCode::OK {
            refused(status);
        }
    }
    start.elapsed().as_nanos() as f64 / iterations as f64
}

/// Mean ns per request, one request per header.
async fn run_each<S, B, RB>(svc: &mut S, authorizations: &[HeaderValue]) -> f64
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: Debug,
    B: Default,
{
    let start = Instant::now();
    for authorization in authorizations {
        let status = call(svc, authorization).await;
        if status != StatusCode::OK {
            refused(status);
        }
    }
    start.elapsed().as_nanos() as f64 / authorizations.len() as f64
}

/// Requests per repeated-token sample, from a warm-up run of `settings.warmup_time`.
async fn calibrate<S, B, RB>(svc: &mut S, authorization: &HeaderValue, settings: &Settings) -> u64
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: Debug,
    B: Default,
{
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < settings.warmup_time || n < 10 {
        let status = call(svc, authorization).await;
        if status != StatusCode::OK {
            refused(status);
        }
        n += 1;
    }
    let per_request = start.elapsed().as_secs_f64() / n as f64;
    ((settings.sample_time.as_secs_f64() / per_request) as u64).max(10)
}

/// Median, min and max of the per-sample means (ns per request).
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Measured {
    pub fn of(mut samples: Vec<f64>) -> Self {
        assert!(!samples.is_empty());
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let median = if n % 2 == 1 {
            samples[n / 2]
        } else {
            (samples[n / 2 - 1] + samples[n / 2]) / 2.0
        };
        Self {
            median,
            min: samples[0],
            max: samples[n - 1],
        }
    }
}

/// The tokens of one scenario, as header values.
pub enum Workload {
    /// The same header on every request.
    Repeated(HeaderValue),
    /// `ready`: the header of the untimed key-cache warming request (a token outside the
    /// pool); `pool`: distinct tokens, each sent once per stack.
    Fresh {
        ready: HeaderValue,
        pool: Vec<HeaderValue>,
    },
}

impl Workload {
    pub fn new(tokens: &Tokens, kind: Kind, settings: &Settings) -> Self {
        match kind {
            Kind::Repeated => Workload::Repeated(bearer(&tokens.repeated)),
            Kind::Fresh => {
                let needed = settings.fresh_tokens_needed();
                assert!(
                    tokens.pool.len() >= needed,
                    "the token pool holds {} tokens, the settings need {needed}: mint more (PEERS_POOL)",
                    tokens.pool.len()
                );
                Workload::Fresh {
                    ready: bearer(&tokens.repeated),
                    pool: tokens.pool[..needed].iter().map(|t| bearer(t)).collect(),
                }
            }
        }
    }

    fn ready_header(&self) -> &HeaderValue {
        match self {
            Workload::Repeated(h) => h,
            Workload::Fresh { ready, .. } => ready,
        }
    }
}

/// Measures `peer` and `ours` side by side: both warmed, then samples interleaved (the order
/// within a round alternates), so that load from other processes falls on both alike.
pub async fn compare<S1, S2, B, R1, R2>(
    name: &str,
    peer: &mut S1,
    ours: &mut S2,
    workload: &Workload,
    settings: &Settings,
) -> (Measured, Measured)
where
    S1: Service<Request<B>, Response = Response<R1>>,
    S1::Error: Debug,
    S2: Service<Request<B>, Response = Response<R2>>,
    S2::Error: Debug,
    B: Default,
{
    wait_ready(name, peer, workload.ready_header()).await;
    wait_ready("bearer-guard", ours, workload.ready_header()).await;
    let mut peer_samples = Vec::with_capacity(settings.samples);
    let mut our_samples = Vec::with_capacity(settings.samples);
    match workload {
        Workload::Repeated(authorization) => {
            let peer_n = calibrate(peer, authorization, settings).await;
            let our_n = calibrate(ours, authorization, settings).await;
            for round in 0..settings.samples {
                if round % 2 == 0 {
                    peer_samples.push(run_repeated(peer, authorization, peer_n).await);
                    our_samples.push(run_repeated(ours, authorization, our_n).await);
                } else {
                    our_samples.push(run_repeated(ours, authorization, our_n).await);
                    peer_samples.push(run_repeated(peer, authorization, peer_n).await);
                }
            }
        }
        Workload::Fresh { pool, .. } => {
            let (warmup, timed) = pool.split_at(settings.warmup_tokens);
            run_each(peer, warmup).await;
            run_each(ours, warmup).await;
            for (round, chunk) in timed.chunks(settings.chunk).enumerate() {
                if round % 2 == 0 {
                    peer_samples.push(run_each(peer, chunk).await);
                    our_samples.push(run_each(ours, chunk).await);
                } else {
                    our_samples.push(run_each(ours, chunk).await);
                    peer_samples.push(run_each(peer, chunk).await);
                }
            }
        }
    }
    (Measured::of(peer_samples), Measured::of(our_samples))
}

/// A stack measured alone with the repeated token (the harness floor: no auth at all).
pub async fn alone<S, B, RB>(
    svc: &mut S,
    authorization: &HeaderValue,
    settings: &Settings,
) -> Measured
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: Debug,
    B: Default,
{
    let n = calibrate(svc, authorization, settings).await;
    let mut samples = Vec::with_capacity(settings.samples);
    for _ in 0..settings.samples {
        samples.push(run_repeated(svc, authorization, n).await);
    }
    Measured::of(samples)
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/// One line of a results file (tab-separated):
/// `scenario  peer  peer_median  peer_min  peer_max  ours_median  ours_min  ours_max  shape`.
/// For a floor row `peer` is `floor`, `shape` names the stack and the `ours_*` fields are `-`.
pub fn row(
    scenario: &str,
    peer: &str,
    peer_ns: Measured,
    ours: Option<Measured>,
    shape: &str,
) -> String {
    let ours = match ours {
        Some(m) => format!("{:.0}\t{:.0}\t{:.0}", m.median, m.min, m.max),
        None => "-\t-\t-".to_owned(),
    };
    format!(
        "{scenario}\t{peer}\t{:.0}\t{:.0}\t{:.0}\t{ours}\t{shape}",
        peer_ns.median, peer_ns.min, peer_ns.max
    )
}

/// Whether `$PEERS_ONLY` (a substring of the peer's name) and `$PEERS_SCENARIO` (a substring
/// of the scenario key, e.g. `rs256` or `new`) select this pair; both unset select everything
/// (the floor rows are scenario and peer `floor`).
pub fn selected(scenario: &str, peer: &str) -> bool {
    let matches = |var: &str, value: &str| {
        std::env::var(var).map_or(true, |wanted| value.contains(wanted.as_str()))
    };
    matches("PEERS_ONLY", peer) && matches("PEERS_SCENARIO", scenario)
}

/// Writes `lines` to `path` (creating its directory).
pub fn write_rows(path: &std::path::Path, lines: &[String]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("results directory");
    }
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// A progress line on stderr.
pub fn report(scenario: &str, peer: &str, p: Measured, o: Measured) {
    eprintln!(
        "  {scenario:<15} {peer:<38} {:>10.0} ns   bearer-guard {:>9.0} ns   {:>7.1}x",
        p.median,
        o.median,
        p.median / o.median
    );
}
