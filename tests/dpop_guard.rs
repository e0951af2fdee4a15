//! DPoP at the guard (standards.md rules I.46–53): a table of requests through real axum apps
//! whose validator fetches its keys from a real `TestIssuer` on loopback, each row with the
//! exact status, every `WWW-Authenticate` challenge and the `ErrorKind`. The table runs three
//! times with the same tokens: cold, then twice answered from the verified-token cache, with
//! a fresh proof each time (the cache may skip the token's signature, never the proof).
#![cfg(all(feature = "axum", feature = "test-util", feature = "client"))]

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::dpop::{Dpop, DpopKey, MemoryReplayStore};
use bearer_guard::testing::TestIssuer;
use bearer_guard::{ErrorKind, GuardLayer, RequireScopeLayer, ResourceMetadata};
use http::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

const URL: &str = "https://api.example.com";
const ALGS: &str = r#"algs="ES256 ES384 EdDSA PS256 PS384 PS512 RS256 RS384 RS512""#;
const METADATA: &str =
    r#"resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#;
const NONCE_SECRET: &[u8; 32] = b"the nonce secret of the fleet!!!";

const BEARER: &str = r#"Bearer realm="api""#;
const D_PROOF: &str = "The DPoP proof is invalid";

fn dpop_plain() -> String {
    format!(r#"DPoP realm="api", {ALGS}"#)
}

fn bearer_error(code: &str, description: &str) -> String {
    format!(r#"Bearer realm="api", error="{code}", error_description="{description}""#)
}

fn dpop_error(code: &str, description: &str) -> String {
    format!(r#"DPoP realm="api", error="{code}", error_description="{description}", {ALGS}"#)
}

fn bad_proof() -> Vec<String> {
    vec![BEARER.into(), dpop_error("invalid_dpop_proof", D_PROOF)]
}

/// Which app a row is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `Dpop::new(URL)`: both schemes.
    Allowed,
    /// `Dpop::new(URL).required()`, with protected resource metadata.
    Required,
    /// No DPoP settings.
    Off,
    /// Both schemes, server nonces on.
    Nonces,
}

/// What a row's request carries, built at send time (a fresh proof each pass).
struct Ctx<'a> {
    key: &'a DpopKey,
    other_key: &'a DpopKey,
    bound: &'a str,
    unbound: &'a str,
    other_bound: &'a str,
    expired_bound: &'a str,
}

impl Ctx<'_> {
    fn proof(&self, token: &str) -> String {
        self.key
            .proof("GET", &format!("{URL}/orders"))
            .access_token(token)
            .sign()
    }
}

type Build = Box<dyn Fn(&Ctx<'_>) -> Vec<(&'static str, String)>>;

struct Row {
    name: &'static str,
    target: Target,
    path: &'static str,
    method: &'static str,
    build: Build,
    status: u16,
    challenges: Vec<String>,
    kind: Option<ErrorKind>,
}

fn row(
    name: &'static str,
    target: Target,
    build: impl Fn(&Ctx<'_>) -> Vec<(&'static str, String)> + 'static,
) -> Row {
    Row {
        name,
        target,
        path: "/orders",
        method: "GET",
        build: Box::new(build),
        status: 200,
        challenges: Vec::new(),
        kind: None,
    }
}

impl Row {
    fn refused(mut self, status: u16, kind: ErrorKind, challenges: Vec<String>) -> Self {
        self.status = status;
        self.kind = Some(kind);
        self.challenges = challenges;
        self
    }

    fn bad_proof(self) -> Self {
        self.refused(401, ErrorKind::InvalidDpopProof, bad_proof())
    }

    fn path(mut self, path: &'static str) -> Self {
        self.path = path;
        self
    }

    fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }
}

/// `Authorization: DPoP <token>` with a proof made by `proof`.
fn dpop(token: &str, proof: String) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("DPoP {token}")), ("dpop", proof)]
}

/// A proof for GET /orders with `token`, changed by `change`.
fn proof_with<'k>(
    ctx: &Ctx<'k>,
    change: impl FnOnce(bearer_guard::dpop::ProofBuilder<'k>) -> bearer_guard::dpop::ProofBuilder<'k>,
) -> String {
    change(
        ctx.key
            .proof("GET", &format!("{URL}/orders"))
            .access_token(ctx.bound),
    )
    .sign()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn rows() -> Vec<Row> {
    use Target::*;
    let mut rows = vec![
        // Rule I.46: the scheme, and the one proof header.
        row("DPoP token and proof", Allowed, |c| dpop(c.bound, c.proof(c.bound))),
        row("scheme is case-insensitive", Allowed, |c| {
            vec![("authorization", format!("dpop {}", c.bound)), ("dpop", c.proof(c.bound))]
        }),
        row("Bearer still accepted when allowed", Allowed, |c| {
            vec![("authorization", format!("Bearer {}", c.unbound))]
        }),
        row("no credentials: both challenges, no error", Allowed, |_| vec![]).refused(
            401,
            ErrorKind::MissingCredentials,
            vec![BEARER.into(), dpop_plain()],
        ),
        row("no DPoP header", Allowed, |c| {
            vec![("authorization", format!("DPoP {}", c.bound))]
        })
        .bad_proof(),
        row("two DPoP headers", Allowed, |c| {
            let mut headers = dpop(c.bound, c.proof(c.bound));
            headers.push(("dpop", c.proof(c.bound)));
            headers
        })
        .bad_proof(),
        row("Bearer and DPoP Authorization at once", Allowed, |c| {
            let mut headers = dpop(c.bound, c.proof(c.bound));
            headers.push(("authorization", format!("Bearer {}", c.unbound)));
            headers
        })
        .refused(
            400,
            ErrorKind::InvalidRequest,
            vec![
                bearer_error(
                    "invalid_request",
                    "The request carries a malformed bearer credential",
                ),
                dpop_error(
                    "invalid_request",
                    "The request carries a malformed bearer credential",
                ),
            ],
        ),
        row("proof is not a JWS", Allowed, |c| dpop(c.bound, "not-a-jws".into())).bad_proof(),
        // Rule I.47: the proof's header and signature.
        row("typ JWT", Allowed, |c| dpop(c.bound, proof_with(c, |p| p.header("typ", "JWT"))))
            .bad_proof(),
        row("typ missing", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.header("typ", Value::Null)))
        })
        .bad_proof(),
        row("alg none", Allowed, |c| dpop(c.bound, proof_with(c, |p| p.header("alg", "none"))))
            .bad_proof(),
        row("alg HS256", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.header("alg", "HS256")))
        })
        .bad_proof(),
        row("alg that does not fit the jwk", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.header("alg", "ES384")))
        })
        .bad_proof(),
        row("jwk with a private member", Allowed, |c| {
            let mut jwk = c.key.public_jwk().clone();
            jwk["d"] = json!("AAAA");
            dpop(c.bound, proof_with(c, |p| p.header("jwk", jwk)))
        })
        .bad_proof(),
        row("jwk missing", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.header("jwk", Value::Null)))
        })
        .bad_proof(),
        row("jwk of another key than the signature's", Allowed, |c| {
            let jwk = c.other_key.public_jwk().clone();
            dpop(c.bound, proof_with(c, |p| p.header("jwk", jwk)))
        })
        .bad_proof(),
        row("signature tampered", Allowed, |c| {
            let proof = c.proof(c.bound);
            let (head, sig) = proof.rsplit_once('.').unwrap();
            let flipped = if sig.starts_with('A') { "B" } else { "A" };
            dpop(c.bound, format!("{head}.{flipped}{}", &sig[1..]))
        })
        .bad_proof(),
        row("crit header", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.header("crit", json!(["exp"]))))
        })
        .bad_proof(),
        // Rule I.48: the claims against the request.
        row("htm of another method", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.claim("htm", "POST")))
        })
        .bad_proof(),
        row("htm in lower case", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.claim("htm", "get")))
        })
        .bad_proof(),
        row("htm for the POST it is sent with", Allowed, |c| {
            let proof = c.key.proof("POST", &format!("{URL}/orders")).access_token(c.bound);
            dpop(c.bound, proof.sign())
        })
        .method("POST"),
        row("htu of another path", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.claim("htu", format!("{URL}/admin"))))
        })
        .bad_proof(),
        row("htu of the Host header, not the external URL", Allowed, |c| {
            let mut headers = dpop(
                c.bound,
                proof_with(c, |p| p.claim("htu", "https://evil.example/orders")),
            );
            headers.push(("host", "evil.example".into()));
            headers.push(("x-forwarded-host", "evil.example".into()));
            headers.push(("x-forwarded-proto", "https".into()));
            headers
        })
        .bad_proof(),
        row("htu of another scheme", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.claim("htu", "http://api.example.com/orders")))
        })
        .bad_proof(),
        row("htu equal after RFC 3986 normalization", Allowed, |c| {
            let htu = "HTTPS://API.Example.COM:443/./%6Frders";
            dpop(c.bound, proof_with(c, |p| p.claim("htu", htu)))
        }),
        row("htu with query and fragment (ignored)", Allowed, |c| {
            let htu = format!("{URL}/orders?page=2#top");
            dpop(c.bound, proof_with(c, |p| p.claim("htu", htu)))
        }),
        row("request query is not part of htu", Allowed, |c| dpop(c.bound, c.proof(c.bound)))
            .path("/orders?page=2"),
        row("htu missing", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.claim("htu", Value::Null)))
        })
        .bad_proof(),
        row("iat 299 s ago", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.iat(now() - 299)))
        }),
        row("iat 299 s ahead", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.iat(now() + 299)))
        }),
        row("iat 302 s ago", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.iat(now() - 302)))
        })
        .bad_proof(),
        row("iat 302 s ahead", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.iat(now() + 302)))
        })
        .bad_proof(),
        row("iat as a string", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.claim("iat", now().to_string())))
        })
        .bad_proof(),
        row("jti missing", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.claim("jti", Value::Null)))
        })
        .bad_proof(),
        row("jti of 257 bytes", Allowed, |c| {
            let jti = format!("{}{}", "j".repeat(256), c.key.proof("GET", URL).sign().len());
            dpop(c.bound, proof_with(c, |p| p.jti(&jti[..257])))
        })
        .bad_proof(),
        row("ath missing", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.claim("ath", Value::Null)))
        })
        .bad_proof(),
        row("ath of another token", Allowed, |c| {
            dpop(c.bound, proof_with(c, |p| p.access_token(c.unbound)))
        })
        .bad_proof(),
        // Rule I.49: the binding.
        row("DPoP with a token bound to another key", Allowed, |c| {
            dpop(c.other_bound, c.proof(c.other_bound))
        })
        .refused(
            401,
            ErrorKind::DpopKeyMismatch,
            vec![
                BEARER.into(),
                dpop_error("invalid_token", "The access token is bound to another key"),
            ],
        ),
        row("DPoP with an unbound token", Allowed, |c| dpop(c.unbound, c.proof(c.unbound)))
            .refused(
                401,
                ErrorKind::DpopUnboundToken,
                vec![
                    BEARER.into(),
                    dpop_error("invalid_token", "The access token is not bound to a key"),
                ],
            ),
        row("bound token as Bearer (allowed)", Allowed, |c| {
            vec![("authorization", format!("Bearer {}", c.bound))]
        })
        .refused(
            401,
            ErrorKind::DpopBoundToken,
            vec![
                bearer_error(
                    "invalid_token",
                    "The access token is bound to a key and needs a DPoP proof",
                ),
                dpop_plain(),
            ],
        ),
        row("bound token as Bearer (off)", Off, |c| {
            vec![("authorization", format!("Bearer {}", c.bound))]
        })
        .refused(
            401,
            ErrorKind::DpopBoundToken,
            vec![bearer_error(
                "invalid_token",
                "The access token is bound to a key and needs a DPoP proof",
            )],
        ),
        row("DPoP scheme when off is another scheme", Off, |c| {
            dpop(c.bound, c.proof(c.bound))
        })
        .refused(401, ErrorKind::MissingCredentials, vec![BEARER.into()]),
        row("unbound Bearer when off", Off, |c| {
            vec![("authorization", format!("Bearer {}", c.unbound))]
        }),
        // Rule I.53: the token itself is still judged.
        row("expired bound token with a good proof", Allowed, |c| {
            dpop(c.expired_bound, c.proof(c.expired_bound))
        })
        .refused(
            401,
            ErrorKind::Expired,
            vec![BEARER.into(), dpop_error("invalid_token", "The access token expired")],
        ),
        row("DPoP token without the route's scope", Allowed, |c| {
            let proof = c.key.proof("GET", &format!("{URL}/admin")).access_token(c.bound);
            dpop(c.bound, proof.sign())
        })
        .path("/admin")
        .refused(
            403,
            ErrorKind::InsufficientScope,
            vec![
                BEARER.into(),
                format!(
                    r#"DPoP realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="admin", {ALGS}"#
                ),
            ],
        ),
        // Required mode: DPoP only, challenges name the metadata.
        row("required: DPoP", Required, |c| dpop(c.bound, c.proof(c.bound))),
        row("required: Bearer is another scheme", Required, |c| {
            vec![("authorization", format!("Bearer {}", c.unbound))]
        })
        .refused(
            401,
            ErrorKind::MissingCredentials,
            vec![format!(r#"DPoP realm="api", {ALGS}, {METADATA}"#)],
        ),
        row("required: bad proof", Required, |c| {
            dpop(c.bound, proof_with(c, |p| p.claim("htm", "PUT")))
        })
        .refused(
            401,
            ErrorKind::InvalidDpopProof,
            vec![format!(
                r#"DPoP realm="api", error="invalid_dpop_proof", error_description="{D_PROOF}", {ALGS}, {METADATA}"#
            )],
        ),
    ];
    // Rule I.51: nonces. A proof without one, or with a made-up one, is answered
    // `use_dpop_nonce` (the `DPoP-Nonce` header is checked in `run`).
    let use_nonce = vec![
        BEARER.into(),
        dpop_error("use_dpop_nonce", "The DPoP proof needs the server nonce"),
    ];
    rows.push(
        row("nonces: proof without a nonce", Nonces, |c| {
            dpop(c.bound, c.proof(c.bound))
        })
        .refused(401, ErrorKind::DpopNonceRequired, use_nonce.clone()),
    );
    rows.push(
        row("nonces: a made-up nonce", Nonces, |c| {
            dpop(
                c.bound,
                proof_with(c, |p| p.nonce("AAAAAAAAAAAAAAAAAAAAAAAA")),
            )
        })
        .refused(401, ErrorKind::DpopNonceRequired, use_nonce),
    );
    rows
}

struct World {
    issuer: TestIssuer,
    allowed: Router,
    required: Router,
    off: Router,
    nonces: Router,
}

fn app(guard: GuardLayer) -> Router {
    Router::new()
        .route(
            "/orders",
            get(|| async { "orders" }).post(|| async { "created" }),
        )
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(RequireScopeLayer::all(["admin"])),
        )
        .route_layer(guard)
}

impl World {
    async fn new() -> Self {
        let issuer = TestIssuer::start().await;
        let guard = || GuardLayer::new(issuer.validator());
        let metadata = ResourceMetadata::new(URL, &issuer.validator()).unwrap();
        let required = guard()
            .resource_metadata(&metadata)
            .unwrap()
            .dpop(Dpop::new(URL).required())
            .unwrap();
        Self {
            allowed: app(guard().dpop(Dpop::new(URL)).unwrap()),
            required: app(required),
            off: app(guard()),
            nonces: app(guard().dpop(Dpop::new(URL).nonces(*NONCE_SECRET)).unwrap()),
            issuer,
        }
    }

    fn app(&self, target: Target) -> Router {
        match target {
            Target::Allowed => self.allowed.clone(),
            Target::Required => self.required.clone(),
            Target::Off => self.off.clone(),
            Target::Nonces => self.nonces.clone(),
        }
    }
}

async fn send(app: Router, method: &str, path: &str, headers: &[(&str, String)]) -> Response<Body> {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    app.oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn challenges(response: &Response<Body>) -> Vec<String> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn dpop_matrix_cold_and_cached() {
    let world = World::new().await;
    let key = DpopKey::generate();
    let other_key = DpopKey::generate();
    let bound_to = |key: &DpopKey| {
        world
            .issuer
            .token()
            .scope("orders:read")
            .claim(
                "cnf",
                json!({ "jkt": key.thumbprint(), "x5t#S256": "tolerated" }),
            )
            .sign()
    };
    let bound = bound_to(&key);
    let other_bound = bound_to(&other_key);
    let unbound = world.issuer.token().scope("orders:read").sign();
    let expired_bound = world
        .issuer
        .token()
        .expired()
        .claim("cnf", json!({ "jkt": key.thumbprint() }))
        .sign();
    let ctx = Ctx {
        key: &key,
        other_key: &other_key,
        bound: &bound,
        unbound: &unbound,
        other_bound: &other_bound,
        expired_bound: &expired_bound,
    };
    let rows = rows();
    let mut failures = Vec::new();
    for pass in 0..3 {
        for row in &rows {
            let headers = (row.build)(&ctx);
            let response = send(world.app(row.target), row.method, row.path, &headers).await;
            let mut problems = String::new();
            if response.status() != row.status {
                problems += &format!(" status {} (want {})", response.status(), row.status);
            }
            let got = challenges(&response);
            if got != row.challenges {
                problems += &format!("\n    challenges {got:#?}\n    want {:#?}", row.challenges);
            }
            let kind = response.extensions().get::<ErrorKind>().copied();
            if kind != row.kind {
                problems += &format!(" kind {kind:?} (want {:?})", row.kind);
            }
            let nonce = response.headers().get("dpop-nonce");
            if (row.kind == Some(ErrorKind::DpopNonceRequired)) != nonce.is_some() {
                problems += &format!(" DPoP-Nonce {nonce:?}");
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "pass {pass} [{:?}] {}:{problems}",
                    row.target, row.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Rule I.50: a proof is accepted once, cold and cached; the replay is refused even though
/// its token is in the cache.
#[tokio::test]
async fn a_replayed_proof_is_refused_cold_and_cached() {
    let world = World::new().await;
    let key = DpopKey::generate();
    let token = world
        .issuer
        .token()
        .claim("cnf", json!({ "jkt": key.thumbprint() }))
        .sign();
    for pass in 0..3 {
        let proof = key
            .proof("GET", &format!("{URL}/orders"))
            .access_token(&token)
            .sign();
        let headers = dpop(&token, proof);
        let first = send(world.app(Target::Allowed), "GET", "/orders", &headers).await;
        assert_eq!(first.status(), StatusCode::OK, "pass {pass}");
        let replay = send(world.app(Target::Allowed), "GET", "/orders", &headers).await;
        assert_eq!(replay.status(), StatusCode::UNAUTHORIZED, "pass {pass}");
        assert_eq!(
            replay.extensions().get::<ErrorKind>(),
            Some(&ErrorKind::DpopProofReplayed)
        );
        assert_eq!(
            challenges(&replay),
            [
                BEARER.to_owned(),
                dpop_error("invalid_dpop_proof", "The DPoP proof was already used")
            ]
        );
        // Another guard (another instance without a shared store) has not seen it: that is
        // what a shared store is for (see tests/dpop_redis.rs).
        let elsewhere = send(world.app(Target::Required), "GET", "/orders", &headers).await;
        assert_eq!(elsewhere.status(), StatusCode::OK, "pass {pass}");
    }
}

/// Rule I.51: the nonce handed out in `DPoP-Nonce` is accepted, by any guard with the same
/// secret; and a refused token does not burn the proof's `jti`.
#[tokio::test]
async fn the_nonce_round_trip() {
    let world = World::new().await;
    let key = DpopKey::generate();
    let token = world
        .issuer
        .token()
        .claim("cnf", json!({ "jkt": key.thumbprint() }))
        .sign();
    let url = format!("{URL}/orders");
    let refused = send(
        world.app(Target::Nonces),
        "GET",
        "/orders",
        &dpop(&token, key.proof("GET", &url).access_token(&token).sign()),
    )
    .await;
    let nonce = refused.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_eq!(refused.headers().get_all("dpop-nonce").iter().count(), 1);
    let proof = key
        .proof("GET", &url)
        .access_token(&token)
        .nonce(&nonce)
        .sign();
    let ok = send(
        world.app(Target::Nonces),
        "GET",
        "/orders",
        &dpop(&token, proof),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    // A second instance with the same secret accepts it: no shared nonce state.
    let twin = app(GuardLayer::new(world.issuer.validator())
        .dpop(Dpop::new(URL).nonces(*NONCE_SECRET))
        .unwrap());
    let proof = key
        .proof("GET", &url)
        .access_token(&token)
        .nonce(&nonce)
        .sign();
    assert_eq!(
        send(twin, "GET", "/orders", &dpop(&token, proof))
            .await
            .status(),
        200
    );
    // Another secret: not its nonce.
    let stranger = app(GuardLayer::new(world.issuer.validator())
        .dpop(Dpop::new(URL).nonces(*b"another secret of thirty-two b!!"))
        .unwrap());
    let proof = key
        .proof("GET", &url)
        .access_token(&token)
        .nonce(&nonce)
        .sign();
    let response = send(stranger, "GET", "/orders", &dpop(&token, proof)).await;
    assert_eq!(
        response.extensions().get::<ErrorKind>(),
        Some(&ErrorKind::DpopNonceRequired)
    );
}

/// A proof whose token is refused is not recorded: it can be sent again with a good token
/// only if it was made for that token, which `ath` prevents; what matters is that the store
/// only grows with accepted requests.
#[tokio::test]
async fn only_accepted_requests_are_recorded() {
    let issuer = TestIssuer::start().await;
    let store = std::sync::Arc::new(MemoryReplayStore::new(100));
    let guarded = app(GuardLayer::new(issuer.validator())
        .dpop(Dpop::new(URL).shared_replay_store(store.clone()))
        .unwrap());
    let key = DpopKey::generate();
    let expired = issuer
        .token()
        .expired()
        .claim("cnf", json!({ "jkt": key.thumbprint() }))
        .sign();
    let url = format!("{URL}/orders");
    let proof = key.proof("GET", &url).access_token(&expired).sign();
    let response = send(guarded.clone(), "GET", "/orders", &dpop(&expired, proof)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(store.len(), 0);
    // Bound to another key: refused, not recorded.
    let elsewhere = issuer
        .token()
        .claim("cnf", json!({ "jkt": DpopKey::generate().thumbprint() }))
        .sign();
    let proof = key.proof("GET", &url).access_token(&elsewhere).sign();
    let response = send(guarded.clone(), "GET", "/orders", &dpop(&elsewhere, proof)).await;
    assert_eq!(
        response.extensions().get::<ErrorKind>(),
        Some(&ErrorKind::DpopKeyMismatch)
    );
    assert_eq!(store.len(), 0);
    let token = issuer
        .token()
        .claim("cnf", json!({ "jkt": key.thumbprint() }))
        .sign();
    let proof = key.proof("GET", &url).access_token(&token).sign();
    assert_eq!(
        send(guarded, "GET", "/orders", &dpop(&token, proof))
            .await
            .status(),
        200
    );
    assert_eq!(store.len(), 1);
}

/// Rule I.50: a full memory store fails closed: 503 with `Retry-After`, no challenge.
#[tokio::test]
async fn a_full_replay_store_fails_closed() {
    let issuer = TestIssuer::start().await;
    let guarded = app(GuardLayer::new(issuer.validator())
        .dpop(Dpop::new(URL).replay_store(MemoryReplayStore::new(1)))
        .unwrap());
    let key = DpopKey::generate();
    let token = issuer
        .token()
        .claim("cnf", json!({ "jkt": key.thumbprint() }))
        .sign();
    let url = format!("{URL}/orders");
    let send_one = || async {
        let proof = key.proof("GET", &url).access_token(&token).sign();
        send(guarded.clone(), "GET", "/orders", &dpop(&token, proof)).await
    };
    assert_eq!(send_one().await.status(), 200);
    let full = send_one().await;
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        full.extensions().get::<ErrorKind>(),
        Some(&ErrorKind::ReplayStoreFull)
    );
    let retry: u64 = full.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=301).contains(&retry), "{retry}");
    assert!(full.headers().get("www-authenticate").is_none());
}

/// RFC 9728: the metadata document of a guard with DPoP lists the proof algorithms, and says
/// DPoP is required in required mode only.
#[tokio::test]
async fn metadata_lists_dpop() {
    let issuer = TestIssuer::start().await;
    for (dpop, required) in [(Dpop::new(URL), false), (Dpop::new(URL).required(), true)] {
        let metadata = ResourceMetadata::new(URL, &issuer.validator()).unwrap();
        // Either order of the two calls.
        let _ = GuardLayer::new(issuer.validator())
            .dpop(dpop)
            .unwrap()
            .resource_metadata(&metadata)
            .unwrap();
        let document = metadata.document();
        assert_eq!(
            document["dpop_signing_alg_values_supported"],
            json!([
                "ES256", "ES384", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"
            ])
        );
        assert_eq!(
            document.get("dpop_bound_access_tokens_required"),
            required.then_some(&json!(true))
        );
    }
    let metadata = ResourceMetadata::new(URL, &issuer.validator()).unwrap();
    assert!(
        metadata
            .document()
            .get("dpop_signing_alg_values_supported")
            .is_none()
    );
}

/// Required mode on an optional guard: a bearer token is not ignored (it would be let
/// through anonymously), it is answered 401 with the DPoP challenge; no credential at all is
/// anonymous as before.
#[tokio::test]
async fn an_optional_guard_requiring_dpop_refuses_bearer_tokens() {
    let issuer = TestIssuer::start().await;
    let guarded = app(GuardLayer::new(issuer.validator())
        .optional()
        .dpop(Dpop::new(URL).required())
        .unwrap());
    let token = issuer.token().sign();
    let bearer = vec![("authorization", format!("Bearer {token}"))];
    let response = send(guarded.clone(), "GET", "/orders", &bearer).await;
    assert_eq!(response.status(), 401);
    assert_eq!(challenges(&response), [dpop_plain()]);
    assert_eq!(send(guarded, "GET", "/orders", &[]).await.status(), 200);
}
