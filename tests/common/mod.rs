//! Shared support for the end-to-end tests: fixture keys, a token minter that can write any
//! header and payload, a real identity-provider HTTP server on loopback, and the app under test.
//!
//! Every test binary uses a different part of this module.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::{ErrorKind, Issuer, Validator};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use tower::ServiceExt;
#[cfg(feature = "axum")]
use {
    axum::routing::Route,
    bearer_guard::{Claims, GuardLayer, RequireScopeLayer},
    std::convert::Infallible,
    tower::{Layer, Service},
};

pub mod logs;

/// The audience every test validator expects.
pub const AUDIENCE: &str = "https://api.test";

// ---------------------------------------------------------------------------------------------
// Fixture keys
// ---------------------------------------------------------------------------------------------

/// Path of a file under `fixtures/`.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Contents of a file under `fixtures/`.
pub fn read_fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The fixture key pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Rsa2048,
    Rsa1024,
    EcP256,
    EcP384,
    Ed25519,
    /// A P-256 key that no configured key set contains.
    Attacker,
}

impl Key {
    /// The keys published in `fixtures/jwks.json`, in order.
    pub const PUBLISHED: [Key; 4] = [Key::Rsa2048, Key::EcP256, Key::EcP384, Key::Ed25519];

    /// File stem under `fixtures/` (`<stem>.pem` private, `<stem>.pub.pem` public).
    pub fn stem(self) -> &'static str {
        match self {
            Key::Rsa2048 => "rsa2048",
            Key::Rsa1024 => "rsa1024",
            Key::EcP256 => "ec-p256",
            Key::EcP384 => "ec-p384",
            Key::Ed25519 => "ed25519",
            Key::Attacker => "attacker-ec-p256",
        }
    }

    /// The `kid` under which the key is published.
    pub fn kid(self) -> &'static str {
        match self {
            Key::Rsa2048 => "rsa-1",
            Key::Rsa1024 => "rsa-1024",
            Key::EcP256 => "ec-p256-1",
            Key::EcP384 => "ec-p384-1",
            Key::Ed25519 => "ed-1",
            Key::Attacker => "attacker",
        }
    }

    /// The algorithm the key is published for.
    pub fn alg(self) -> Algorithm {
        match self {
            Key::Rsa2048 | Key::Rsa1024 => Algorithm::RS256,
            Key::EcP256 | Key::Attacker => Algorithm::ES256,
            Key::EcP384 => Algorithm::ES384,
            Key::Ed25519 => Algorithm::EdDSA,
        }
    }

    /// The private key PEM.
    pub fn private_pem(self) -> Vec<u8> {
        read_fixture(&format!("{}.pem", self.stem()))
    }

    /// The public key PEM (SubjectPublicKeyInfo).
    pub fn public_pem(self) -> Vec<u8> {
        read_fixture(&format!("{}.pub.pem", self.stem()))
    }

    /// The private key, for signing.
    pub fn encoding_key(self) -> EncodingKey {
        let pem = self.private_pem();
        match self {
            Key::Rsa2048 | Key::Rsa1024 => EncodingKey::from_rsa_pem(&pem),
            Key::EcP256 | Key::EcP384 | Key::Attacker => EncodingKey::from_ec_pem(&pem),
            Key::Ed25519 => EncodingKey::from_ed_pem(&pem),
        }
        .unwrap_or_else(|e| panic!("loading {}: {e}", self.stem()))
    }

    /// The public JWK with `kid`, `"use":"sig"` and `alg` (`None`: no `alg` member).
    ///
    /// aws-lc refuses RSA keys under 2048 bits, so the RSA-1024 JWK is read from its public
    /// PEM instead of derived from the private key.
    pub fn jwk_with(self, kid: &str, alg: Option<Algorithm>) -> Value {
        let mut value = if self == Key::Rsa1024 {
            rsa_jwk_from_spki_pem(&self.public_pem())
        } else {
            let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&self.encoding_key(), self.alg())
                .unwrap_or_else(|e| panic!("JWK of {}: {e}", self.stem()));
            serde_json::to_value(&jwk).expect("a JWK serializes")
        };
        let object = value.as_object_mut().expect("a JWK is an object");
        object.insert("kid".into(), json!(kid));
        object.insert("use".into(), json!("sig"));
        match alg {
            Some(alg) => object.insert("alg".into(), json!(alg_name(alg))),
            None => object.remove("alg"),
        };
        value
    }

    /// The public JWK as published: own `kid`, own `alg`.
    pub fn jwk(self) -> Value {
        self.jwk_with(self.kid(), Some(self.alg()))
    }
}

/// `{"kty":"RSA","n","e"}` of an RSA public key PEM (SubjectPublicKeyInfo), by a minimal DER
/// reader.
pub fn rsa_jwk_from_spki_pem(pem: &[u8]) -> Value {
    fn tlv(input: &[u8], tag: u8) -> (&[u8], &[u8]) {
        assert_eq!(input[0], tag, "DER tag");
        let (len, start) = match input[1] {
            l if l < 0x80 => (usize::from(l), 2),
            l => {
                let n = usize::from(l & 0x7f);
                let len = input[2..2 + n]
                    .iter()
                    .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
                (len, 2 + n)
            }
        };
        (&input[start..start + len], &input[start + len..])
    }
    let text = std::str::from_utf8(pem).expect("PEM is text");
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM base64");
    let (spki, _) = tlv(&der, 0x30);
    let (_algorithm, rest) = tlv(spki, 0x30);
    let (bits, _) = tlv(rest, 0x03);
    let (rsa, _) = tlv(&bits[1..], 0x30);
    let (n, rest) = tlv(rsa, 0x02);
    let (e, _) = tlv(rest, 0x02);
    let strip = |b: &[u8]| {
        b.iter()
            .copied()
            .skip_while(|x| *x == 0)
            .collect::<Vec<u8>>()
    };
    json!({ "kty": "RSA", "n": b64(strip(n)), "e": b64(strip(e)) })
}

/// The JOSE name of an algorithm.
pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        other => panic!("no JOSE name known for {other:?}"),
    }
}

/// `fixtures/jwks.json` as derived from the private keys.
pub fn derive_fixture_jwks() -> Value {
    json!({ "keys": Key::PUBLISHED.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

/// The committed `fixtures/jwks.json`.
pub fn fixture_jwks() -> Value {
    serde_json::from_slice(&read_fixture("jwks.json")).expect("fixtures/jwks.json is JSON")
}

// ---------------------------------------------------------------------------------------------
// Minting tokens
// ---------------------------------------------------------------------------------------------

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// base64url without padding.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url of the JSON text of `value`.
pub fn b64_json(value: &Value) -> String {
    b64(serde_json::to_vec(value).expect("JSON serializes"))
}

/// The raw signature bytes over `message`.
pub fn sign_raw(message: &[u8], key: &EncodingKey, alg: Algorithm) -> Vec<u8> {
    let signature = jsonwebtoken::crypto::sign(message, key, alg)
        .unwrap_or_else(|e| panic!("signing with {alg:?}: {e}"));
    URL_SAFE_NO_PAD
        .decode(signature)
        .expect("jsonwebtoken returns base64url")
}

/// `header.payload`, both base64url JSON.
pub fn signing_input(header: &Value, payload: &Value) -> String {
    format!("{}.{}", b64_json(header), b64_json(payload))
}

/// A compact JWS with any header and payload, signed with `key` as `alg` (the header's `alg`
/// is not consulted: write any lie into it).
pub fn mint_with(header: &Value, payload: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let input = signing_input(header, payload);
    let signature = sign_raw(input.as_bytes(), key, alg);
    format!("{input}.{}", b64(signature))
}

/// [`mint_with`] a fixture key.
pub fn mint(header: &Value, payload: &Value, key: Key, alg: Algorithm) -> String {
    mint_with(header, payload, &key.encoding_key(), alg)
}

/// `{alg, kid, typ: "at+jwt"}`.
pub fn header(alg: &str, kid: &str) -> Value {
    json!({ "alg": alg, "kid": kid, "typ": "at+jwt" })
}

/// A valid payload for `issuer`.
pub fn payload(issuer: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "aud": AUDIENCE,
        "exp": now + 300,
        "iat": now,
        "sub": "client-1",
        "client_id": "client-1",
        "scope": "read write",
    })
}

/// `payload(issuer)` with `changes` merged in (a `null` value removes the member).
pub fn payload_with(issuer: &str, changes: Value) -> Value {
    let mut payload = payload(issuer);
    merge(&mut payload, changes);
    payload
}

/// Merges the members of `changes` into `target`; `null` removes a member.
pub fn merge(target: &mut Value, changes: Value) {
    let target = target.as_object_mut().expect("an object");
    for (name, value) in changes.as_object().expect("an object") {
        if value.is_null() {
            target.remove(name);
        } else {
            target.insert(name.clone(), value.clone());
        }
    }
}

/// A valid token signed by `key` with its own kid and alg.
pub fn token(key: Key, issuer: &str) -> String {
    mint(
        &header(alg_name(key.alg()), key.kid()),
        &payload(issuer),
        key,
        key.alg(),
    )
}

/// A token signed by the published RSA key (`rsa-1`, RS256), for `issuer`, with `changes`
/// merged into the valid payload.
pub fn rs_token(iss: &str, changes: Value) -> String {
    mint(
        &header("RS256", "rsa-1"),
        &payload_with(iss, changes),
        Key::Rsa2048,
        Algorithm::RS256,
    )
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Re-encodes a raw `R‖S` ECDSA signature as ASN.1 DER (`SEQUENCE { INTEGER r, INTEGER s }`).
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Vec<u8> {
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let mut bytes: VecDeque<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        if bytes.front().is_none_or(|b| *b & 0x80 != 0) {
            bytes.push_front(0);
        }
        let mut out = vec![0x02, bytes.len() as u8];
        out.extend(bytes);
        out
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let body: Vec<u8> = [integer(r), integer(s)].concat();
    assert!(body.len() < 128, "short-form length only");
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

// ---------------------------------------------------------------------------------------------
// The identity provider: a real HTTP server on loopback
// ---------------------------------------------------------------------------------------------

struct IdpState {
    issuer: String,
    jwks: RwLock<String>,
    discovery_hits: AtomicUsize,
    jwks_hits: AtomicUsize,
    other_hits: AtomicUsize,
}

/// Serves `/.well-known/openid-configuration` and `/jwks`, and counts every request, including
/// those to any other path (which must never come: nothing may be fetched from a token's URLs).
pub struct IdpServer {
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
    state: Arc<IdpState>,
    task: tokio::task::JoinHandle<()>,
}

impl IdpServer {
    /// Serves the committed `fixtures/jwks.json`.
    pub async fn start() -> Self {
        Self::start_with_jwks(&fixture_jwks()).await
    }

    /// Serves `jwks`.
    pub async fn start_with_jwks(jwks: &Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let issuer = format!("http://{addr}");
        let state = Arc::new(IdpState {
            issuer: issuer.clone(),
            jwks: RwLock::new(jwks.to_string()),
            discovery_hits: AtomicUsize::new(0),
            jwks_hits: AtomicUsize::new(0),
            other_hits: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks_document))
            .fallback(catch_all)
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("IdP server");
        });
        Self {
            issuer,
            state,
            task,
        }
    }

    /// A URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Replaces the JWKS served from now on.
    pub fn set_jwks(&self, jwks: &Value) {
        *self.state.jwks.write().expect("lock") = jwks.to_string();
    }

    /// Replaces the JWKS served from now on with any text (even a broken document).
    pub fn set_jwks_raw(&self, body: &str) {
        *self.state.jwks.write().expect("lock") = body.to_owned();
    }

    /// Requests to the metadata document so far.
    pub fn discovery_hits(&self) -> usize {
        self.state.discovery_hits.load(Ordering::SeqCst)
    }

    /// Requests to `/jwks` so far.
    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// Requests to any other path so far.
    pub fn other_hits(&self) -> usize {
        self.state.other_hits.load(Ordering::SeqCst)
    }
}

impl Drop for IdpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn discovery(State(state): State<Arc<IdpState>>) -> Response {
    state.discovery_hits.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({
        "issuer": state.issuer,
        "jwks_uri": format!("{}/jwks", state.issuer),
        "grant_types_supported": ["client_credentials"],
    }))
    .into_response()
}

async fn jwks_document(State(state): State<Arc<IdpState>>) -> Response {
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let body = state.jwks.read().expect("lock").clone();
    ([(header::CONTENT_TYPE, "application/jwk-set+json")], body).into_response()
}

async fn catch_all(State(state): State<Arc<IdpState>>) -> Response {
    state.other_hits.fetch_add(1, Ordering::SeqCst);
    // What an attacker's key server would answer.
    axum::Json(json!({ "keys": [Key::Attacker.jwk()] })).into_response()
}

/// An address on loopback where nothing listens (bound, then released).
pub fn closed_loopback_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr
}

// ---------------------------------------------------------------------------------------------
// The app under test
// ---------------------------------------------------------------------------------------------

/// The default validator for `issuer` (discovery, defaults everywhere).
pub fn validator(issuer: &str) -> Validator {
    Validator::builder()
        .issuer(Issuer::new(issuer).audience(AUDIENCE))
        .build()
        .expect("validator builds")
}

#[cfg(feature = "axum")]
async fn ok() -> &'static str {
    "ok"
}

/// `client_id|sub|iss|scopes`.
#[cfg(feature = "axum")]
async fn whoami(claims: Claims) -> String {
    format!(
        "{}|{}|{}|{}",
        claims.client_id().unwrap_or("-"),
        claims.subject().unwrap_or("-"),
        claims.issuer(),
        claims.scopes().iter().collect::<Vec<_>>().join(" "),
    )
}

#[cfg(feature = "axum")]
async fn hello(claims: Option<Claims>) -> String {
    match claims {
        Some(claims) => format!("hello {}", claims.client().unwrap_or("?")),
        None => "anonymous".to_owned(),
    }
}

/// The routes behind the guard, each with its scope requirement.
#[cfg(feature = "axum")]
pub fn protected_routes() -> Router {
    fn scoped(path: &str, layer: RequireScopeLayer) -> Router {
        Router::new().route(path, get(ok)).route_layer(layer)
    }
    Router::new()
        .route("/whoami", get(whoami))
        .route("/hello", get(hello))
        .merge(scoped("/read", RequireScopeLayer::all(["read"])))
        .merge(scoped("/write", RequireScopeLayer::all(["write"])))
        .merge(scoped("/admin", RequireScopeLayer::all(["admin"])))
        .merge(scoped("/any", RequireScopeLayer::any(["admin", "write"])))
        .merge(scoped("/rw", RequireScopeLayer::all(["read", "write"])))
}

/// The app: [`protected_routes`] behind `guard`, and `/public` without it.
#[cfg(feature = "axum")]
pub fn app_with<L>(guard: L) -> Router
where
    L: Layer<Route> + Clone + Send + Sync + 'static,
    L::Service: Service<Request<Body>> + Clone + Send + Sync + 'static,
    <L::Service as Service<Request<Body>>>::Response: IntoResponse + 'static,
    <L::Service as Service<Request<Body>>>::Error: Into<Infallible> + 'static,
    <L::Service as Service<Request<Body>>>::Future: Send + 'static,
{
    protected_routes()
        .route_layer(guard)
        .route("/public", get(|| async { "public" }))
}

/// The app with `GuardLayer::new(validator)`.
#[cfg(feature = "axum")]
pub fn app(validator: Validator) -> Router {
    app_with(GuardLayer::new(validator))
}

/// A GET request with optional `Authorization` values (one header line each).
pub fn request(path: &str, authorization: &[&str]) -> Request<Body> {
    let mut builder = Request::get(path);
    for value in authorization {
        builder = builder.header(header::AUTHORIZATION, *value);
    }
    builder.body(Body::empty()).expect("request builds")
}

/// What a test looks at in a response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub www_authenticate: Option<String>,
    pub retry_after: Option<String>,
    pub kind: Option<ErrorKind>,
    pub headers: HeaderMap,
    pub body: String,
}

/// Sends `request` through `app` in-process.
pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    let text = |name| {
        parts
            .headers
            .get(name)
            .map(|v: &axum::http::HeaderValue| v.to_str().expect("ASCII header").to_owned())
    };
    Reply {
        status: parts.status,
        www_authenticate: text(header::WWW_AUTHENTICATE),
        retry_after: text(header::RETRY_AFTER),
        kind: parts.extensions.get::<ErrorKind>().copied(),
        body: String::from_utf8_lossy(&body).into_owned(),
        headers: parts.headers,
    }
}

/// `target/<profile>/examples/<name>`: `cargo test` builds the examples beside the tests.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// A server example started by [`spawn_server_example`]: the process (killed when dropped),
/// the base URL its first line names, and the lines it printed up to `until`.
pub struct RunningExample {
    pub child: tokio::process::Child,
    pub base: String,
    pub printed: Vec<String>,
}

/// Spawns `command` (a server example: its first stdout line is `listening on URL`), reads
/// that line and then, with `until`, every line up to one that starts with it (trimmed); the
/// rest of stdout is drained, so that the example never writes into a closed pipe.
pub async fn spawn_server_example(
    mut command: tokio::process::Command,
    until: Option<&str>,
) -> RunningExample {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the example is built (`cargo test` builds them; see .ci/run for features)");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let first_line = stdout
        .next_line()
        .await
        .expect("stdout")
        .expect("a first line");
    let base = first_line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .to_owned();
    let mut printed = vec![first_line];
    if let Some(until) = until {
        while let Some(line) = stdout.next_line().await.expect("stdout") {
            let done = line.trim_start().starts_with(until);
            printed.push(line);
            if done {
                break;
            }
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    RunningExample {
        child,
        base,
        printed,
    }
}
