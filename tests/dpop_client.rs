//! The `client` feature with DPoP (RFC 9449): bound tokens from the real `TestIssuer` (with and
//! without issuer nonces), proofs on outgoing requests checked by a small axum API on
//! loopback, the API's nonce round trip, and what must never show.
#![cfg(all(feature = "client", feature = "test-util"))]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::client::{Bearer, BearerError, ReplayBody, TokenError, TokenSource};
use bearer_guard::dpop::{DpopKey, access_token_hash, jwk_thumbprint};
use bearer_guard::testing::TestIssuer;
use http_body_util::Full;
use serde_json::{Value, json};
use tower::{Service, ServiceExt, service_fn};

use common::logs::CapturedLogs;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Serves `app` on an ephemeral loopback port; returns `http://127.0.0.1:PORT`.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn dpop_source(issuer: &TestIssuer) -> TokenSource {
    let (id, secret) = issuer.default_client();
    TokenSource::builder(id, secret)
        .token_endpoint(issuer.token_endpoint())
        .dpop(DpopKey::generate())
        .build()
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Checks a proof as a server would (signature by its own `jwk`, `typ`, `htm`, `htu`, `iat`,
/// `ath`) and returns its header and claims.
fn verify_proof(proof: &str, method: &str, htu: &str, token: Option<&str>) -> (Value, Value) {
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    let parts: Vec<&str> = proof.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let header = decode(parts[0]);
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(header["jwk"].clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(proof, &key, &validation)
        .expect("the signature verifies with the proof's jwk")
        .claims;
    assert!(header["jwk"].get("d").is_none(), "no private member");
    assert_eq!(claims["htm"], method);
    assert_eq!(claims["htu"], htu);
    assert!((claims["iat"].as_i64().unwrap() - now()).abs() < 60);
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 16));
    match token {
        Some(token) => assert_eq!(claims["ath"], access_token_hash(token)),
        None => assert!(claims.get("ath").is_none()),
    }
    (header, claims)
}

/// What an API saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    authorization: Vec<String>,
    proofs: Vec<String>,
}

/// How the test API answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nonces {
    /// 200 always.
    None,
    /// 401 `use_dpop_nonce` with `DPoP-Nonce: n-1` unless the proof carries `n-1`.
    Require,
    /// 401 `use_dpop_nonce` with a new nonce every time.
    Rotate,
}

struct TestApi {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestApi {
    async fn start(nonces: Nonces) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let counter = Arc::new(AtomicUsize::new(0));
        let app = Router::new().route(
            "/{*path}",
            any(
                move |method: axum::http::Method, headers: HeaderMap, body: Bytes| {
                    let log = Arc::clone(&log);
                    let counter = Arc::clone(&counter);
                    async move {
                        let all = |name: &str| -> Vec<String> {
                            headers
                                .get_all(name)
                                .iter()
                                .map(|v| v.to_str().unwrap().to_owned())
                                .collect()
                        };
                        let proofs = all("dpop");
                        log.lock().unwrap().push(Seen {
                            method: method.to_string(),
                            authorization: all("authorization"),
                            proofs: proofs.clone(),
                        });
                        let nonce_of = |proof: &str| -> Option<String> {
                            let payload = proof.split('.').nth(1)?;
                            let claims: Value =
                                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?)
                                    .ok()?;
                            claims["nonce"].as_str().map(str::to_owned)
                        };
                        let carried = proofs.first().and_then(|p| nonce_of(p));
                        let demand = match nonces {
                            Nonces::None => None,
                            Nonces::Require if carried.as_deref() == Some("n-1") => None,
                            Nonces::Require => Some("n-1".to_owned()),
                            Nonces::Rotate => {
                                Some(format!("n-{}", counter.fetch_add(1, Ordering::SeqCst)))
                            }
                        };
                        match demand {
                            Some(nonce) => (
                                StatusCode::UNAUTHORIZED,
                                [
                                    (
                                        "www-authenticate",
                                        r#"DPoP algs="ES256", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#.to_owned(),
                                    ),
                                    ("dpop-nonce", nonce),
                                ],
                            )
                                .into_response(),
                            None => (StatusCode::OK, [("dpop-nonce", "n-1")], body).into_response(),
                        }
                    }
                },
            ),
        );
        Self {
            base: serve(app).await,
            seen,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// reqwest as a tower service of `http` types.
fn reqwest_service<B>() -> impl Service<
    http::Request<B>,
    Response = http::Response<Bytes>,
    Error = reqwest::Error,
    Future = impl Send + 'static,
> + Clone
+ Send
+ 'static
where
    B: Into<reqwest::Body> + Send + 'static,
{
    let http = reqwest::Client::new();
    service_fn(move |request: http::Request<B>| {
        let http = http.clone();
        async move {
            let request = reqwest::Request::try_from(request.map(Into::into))?;
            let response = http.execute(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            let mut converted = http::Response::new(body);
            *converted.status_mut() = status;
            *converted.headers_mut() = headers;
            Ok(converted)
        }
    })
}

/// A body that can be read once only.
struct OneShot(Bytes);

impl ReplayBody for OneShot {
    fn try_replay(&self) -> Option<Self> {
        None
    }
}

impl From<OneShot> for reqwest::Body {
    fn from(body: OneShot) -> Self {
        reqwest::Body::wrap(Full::new(body.0))
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens from the TestIssuer

#[tokio::test]
async fn a_dpop_source_gets_a_token_bound_to_its_key() {
    let issuer = TestIssuer::start().await;
    let source = dpop_source(&issuer);
    let token = source.token().await.unwrap();
    assert_eq!(token.token_type(), "DPoP");
    assert_eq!(token.authorization(), format!("DPoP {}", token.secret()));
    let claims = issuer.validator().validate(token.secret()).await.unwrap();
    let key = source.dpop_key().unwrap();
    assert_eq!(claims.json()["cnf"], json!({ "jkt": key.thumbprint() }));
    assert_eq!(jwk_thumbprint(key.public_jwk()).unwrap(), key.thumbprint());

    // A source without a key is unchanged.
    let (id, secret) = issuer.default_client();
    let plain = TokenSource::builder(id, secret)
        .token_endpoint(issuer.token_endpoint())
        .build()
        .unwrap();
    assert!(plain.dpop_key().is_none());
    let token = plain.token().await.unwrap();
    assert_eq!(token.token_type(), "Bearer");
    let claims = issuer.validator().validate(token.secret()).await.unwrap();
    assert!(claims.json().get("cnf").is_none());
}

#[tokio::test]
async fn the_token_request_carries_a_proof_for_the_token_endpoint() {
    let proofs = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&proofs);
    let app = Router::new().route(
        "/oauth/token",
        post(move |headers: HeaderMap| {
            let log = Arc::clone(&log);
            async move {
                log.lock().unwrap().push(
                    headers
                        .get_all("dpop")
                        .iter()
                        .map(|v| v.to_str().unwrap().to_owned())
                        .collect::<Vec<_>>(),
                );
                axum::Json(json!({"access_token": "t", "token_type": "dpop", "expires_in": 60}))
            }
        }),
    );
    let base = serve(app).await;
    let source = TokenSource::builder("id", "secret")
        .token_endpoint(format!("{base}/oauth/token?tenant=1"))
        .generate_dpop_key()
        .build()
        .unwrap();
    let token = source.token().await.unwrap();
    assert_eq!(token.token_type(), "DPoP", "compared case-insensitively");
    let seen = proofs.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].len(), 1, "exactly one DPoP header");
    let (header, _) = verify_proof(&seen[0][0], "POST", &format!("{base}/oauth/token"), None);
    assert_eq!(
        jwk_thumbprint(&header["jwk"]).unwrap(),
        source.dpop_key().unwrap().thumbprint()
    );
}

#[tokio::test]
async fn a_bearer_token_for_a_dpop_request_is_refused() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = Router::new().route(
        "/token",
        post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { axum::Json(json!({"access_token": "t", "token_type": "Bearer"})) }
        }),
    );
    let base = serve(app).await;
    let source = TokenSource::builder("id", "secret")
        .token_endpoint(format!("{base}/token"))
        .generate_dpop_key()
        .build()
        .unwrap();
    let error = source.token().await.unwrap_err();
    assert_eq!(error, TokenError::DpopNotGranted);
    assert!(error.to_string().contains("Bearer token"), "{error}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn issuer_nonces_are_retried_once_and_remembered() {
    let issuer = TestIssuer::builder().dpop_nonces().start().await;
    let source = dpop_source(&issuer);
    let token = source.token().await.unwrap();
    assert_eq!(token.token_type(), "DPoP");
    assert_eq!(issuer.token_requests(), 2, "use_dpop_nonce, then the retry");
    issuer.validator().validate(token.secret()).await.unwrap();

    // The nonce is remembered: the next token request needs no retry.
    assert!(source.invalidate(&token));
    let renewed = source.token().await.unwrap();
    assert_ne!(renewed, token);
    assert_eq!(issuer.token_requests(), 3);
}

#[tokio::test]
async fn an_endpoint_that_keeps_asking_for_nonces_gets_one_retry() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = Router::new().route(
        "/token",
        post(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                (
                    StatusCode::BAD_REQUEST,
                    [("dpop-nonce", format!("nonce-{n}"))],
                    axum::Json(json!({"error": "use_dpop_nonce"})),
                )
            }
        }),
    );
    let base = serve(app).await;
    let source = TokenSource::builder("id", "secret")
        .token_endpoint(format!("{base}/token"))
        .generate_dpop_key()
        .build()
        .unwrap();
    let error = source.token().await.unwrap_err();
    assert_eq!(error.code().map(|c| c.as_str()), Some("use_dpop_nonce"));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------------------------------------
// Requests to an API

#[tokio::test]
async fn outgoing_requests_carry_a_fresh_proof_each() {
    let issuer = TestIssuer::start().await;
    let api = TestApi::start(Nonces::None).await;
    let source = dpop_source(&issuer);
    let token = source.token().await.unwrap();
    let mut client = Bearer::new(reqwest_service::<String>(), source.clone());
    let get = http::Request::get(format!("{}/orders/1?page=2#top", api.base))
        .header("dpop", "a stale proof of the caller")
        .body(String::new())
        .unwrap();
    let response = client.ready().await.unwrap().call(get).await.unwrap();
    assert_eq!(response.status(), 200);
    let post = http::Request::post(format!("{}/orders", api.base))
        .body("{}".to_owned())
        .unwrap();
    let response = client.ready().await.unwrap().call(post).await.unwrap();
    assert_eq!(response.status(), 200);

    let seen = api.seen();
    assert_eq!(seen.len(), 2);
    let mut jtis = Vec::new();
    for (request, (method, path)) in seen.iter().zip([("GET", "/orders/1"), ("POST", "/orders")]) {
        assert_eq!(request.method, method);
        assert_eq!(request.authorization, [format!("DPoP {}", token.secret())]);
        assert_eq!(request.proofs.len(), 1, "one DPoP header, ours");
        let (header, claims) = verify_proof(
            &request.proofs[0],
            method,
            &format!("{}{path}", api.base),
            Some(token.secret()),
        );
        assert_eq!(
            jwk_thumbprint(&header["jwk"]).unwrap(),
            source.dpop_key().unwrap().thumbprint()
        );
        jtis.push(claims["jti"].as_str().unwrap().to_owned());
    }
    assert_ne!(jtis[0], jtis[1]);
    // The API sent `DPoP-Nonce: n-1` with its answers: later proofs carry it.
    let (_, claims) = verify_proof(
        &seen[1].proofs[0],
        "POST",
        &format!("{}/orders", api.base),
        Some(token.secret()),
    );
    assert_eq!(claims["nonce"], "n-1");
}

#[tokio::test]
async fn a_use_dpop_nonce_answer_is_retried_once_with_the_nonce() {
    let issuer = TestIssuer::start().await;
    let api = TestApi::start(Nonces::Require).await;
    let source = dpop_source(&issuer);
    let url = format!("{}/data", api.base);
    let response = Bearer::new(reqwest_service::<String>(), source.clone())
        .oneshot(
            http::Request::post(&url)
                .body("payload".to_owned())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "payload", "the body was sent again");
    let seen = api.seen();
    assert_eq!(seen.len(), 2);
    let token = source.token().await.unwrap();
    let (_, first) = verify_proof(&seen[0].proofs[0], "POST", &url, Some(token.secret()));
    let (_, second) = verify_proof(&seen[1].proofs[0], "POST", &url, Some(token.secret()));
    assert!(first.get("nonce").is_none());
    assert_eq!(second["nonce"], "n-1");
    assert_ne!(first["jti"], second["jti"]);

    // Remembered for the origin: the next request carries it at once.
    let response = Bearer::new(reqwest_service::<String>(), source.clone())
        .oneshot(
            http::Request::get(format!("{}/other", api.base))
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(api.seen().len(), 3);
}

#[tokio::test]
async fn nonce_retries_stop_after_one_and_need_a_replayable_body() {
    let issuer = TestIssuer::start().await;
    let source = dpop_source(&issuer);

    let rotating = TestApi::start(Nonces::Rotate).await;
    let response = Bearer::new(reqwest_service::<String>(), source.clone())
        .oneshot(
            http::Request::get(format!("{}/x", rotating.base))
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "the second answer, as it came");
    assert_eq!(rotating.seen().len(), 2);

    let strict = TestApi::start(Nonces::Require).await;
    let response = Bearer::new(reqwest_service::<OneShot>(), source.clone())
        .oneshot(
            http::Request::post(format!("{}/x", strict.base))
                .body(OneShot(Bytes::from_static(b"stream")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        strict.seen().len(),
        1,
        "a body that cannot be replayed is not retried"
    );
    assert_eq!(response.headers()["dpop-nonce"], "n-1");
}

#[tokio::test]
async fn a_relative_uri_cannot_be_proven() {
    let issuer = TestIssuer::start().await;
    let source = dpop_source(&issuer);
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let inner = service_fn(move |_: http::Request<String>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, std::convert::Infallible>(http::Response::new(String::new())) }
    });
    let error = Bearer::new(inner, source)
        .oneshot(http::Request::get("/orders").body(String::new()).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(error, BearerError::RelativeUri), "{error:?}");
    assert!(error.to_string().contains("absolute"), "{error}");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "not sent");
}

// ---------------------------------------------------------------------------------------------
// Never shown

#[tokio::test]
async fn debug_and_logs_show_no_token_proof_or_key() {
    let logs = CapturedLogs::global();
    let issuer = TestIssuer::builder().dpop_nonces().start().await;
    let api = TestApi::start(Nonces::Require).await;
    let source = dpop_source(&issuer);
    let response = Bearer::new(reqwest_service::<String>(), source.clone())
        .oneshot(
            http::Request::get(format!("{}/x", api.base))
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = source.token().await.unwrap();
    let proofs: Vec<String> = api.seen().into_iter().flat_map(|s| s.proofs).collect();
    assert_eq!(proofs.len(), 2);

    let key = source.dpop_key().unwrap();
    let debug = format!("{source:?} {token:?} {key:?}");
    assert!(debug.contains(key.thumbprint()), "{debug}");
    let private_looking = ["d\":", "pair", "BEGIN"];
    for hidden in private_looking {
        assert!(!debug.contains(hidden), "{debug}");
    }
    let text = logs.text();
    for secret in std::iter::once(token.secret()).chain(proofs.iter().map(String::as_str)) {
        assert!(!debug.contains(secret), "{debug}");
        assert!(!text.contains(secret), "{text}");
    }
    // Not even parts of a proof (its signature, its claims).
    for proof in &proofs {
        for part in proof.split('.').skip(1) {
            assert!(!text.contains(part) && !debug.contains(part));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The real client against the real guard

/// An axum API behind `GuardLayer::new(validator).dpop(dpop(url))`, on loopback; returns its
/// URL and a count of the requests that reached the server.
async fn guarded_api(
    issuer: &TestIssuer,
    dpop: impl FnOnce(&str) -> bearer_guard::dpop::Dpop,
) -> (String, Arc<AtomicUsize>) {
    use axum::routing::get;
    use bearer_guard::{Claims, GuardLayer};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let guard = GuardLayer::new(issuer.validator())
        .dpop(dpop(&base))
        .unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = Router::new()
        .route(
            "/orders",
            get(|claims: Claims| async move { claims.client_id().unwrap_or("").to_owned() })
                .post(|body: String| async move { body }),
        )
        .route_layer(guard)
        .layer(tower::util::MapRequestLayer::new(
            move |request: axum::extract::Request| {
                counter.fetch_add(1, Ordering::SeqCst);
                request
            },
        ));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, hits)
}

#[tokio::test]
async fn the_client_calls_a_guard_that_requires_dpop() {
    use bearer_guard::dpop::Dpop;

    let issuer = TestIssuer::start().await;
    let (base, hits) = guarded_api(&issuer, |url| Dpop::new(url).required()).await;
    let source = dpop_source(&issuer);
    let mut client = Bearer::new(reqwest_service::<String>(), source.clone());
    for _ in 0..2 {
        let request = http::Request::get(format!("{base}/orders?page=1"))
            .body(String::new())
            .unwrap();
        let response = client.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(response.status(), 200, "{:?}", response.headers());
        assert_eq!(response.body(), "test-client");
    }
    let post = http::Request::post(format!("{base}/orders"))
        .body("order".to_owned())
        .unwrap();
    let response = client.ready().await.unwrap().call(post).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "order");
    assert_eq!(hits.load(Ordering::SeqCst), 3, "no retries were needed");

    // The same guard refuses the bearer client: DPoP is required.
    let (id, secret) = issuer.default_client();
    let bearer_only = TokenSource::builder(id, secret)
        .token_endpoint(issuer.token_endpoint())
        .build()
        .unwrap();
    let response = Bearer::new(reqwest_service::<String>(), bearer_only)
        .oneshot(
            http::Request::get(format!("{base}/orders"))
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("DPoP"), "{challenge}");
}

#[tokio::test]
async fn the_client_completes_the_guards_nonce_round_trip() {
    use bearer_guard::dpop::Dpop;

    let issuer = TestIssuer::builder().dpop_nonces().start().await;
    let (base, hits) = guarded_api(&issuer, |url| {
        Dpop::new(url)
            .required()
            .nonces(*b"a 32-byte secret for the nonces!")
    })
    .await;
    let source = dpop_source(&issuer);
    let mut client = Bearer::new(reqwest_service::<String>(), source.clone());
    let post = http::Request::post(format!("{base}/orders"))
        .body("order".to_owned())
        .unwrap();
    let response = client.ready().await.unwrap().call(post).await.unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.headers());
    assert_eq!(response.body(), "order", "the body was sent again");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "use_dpop_nonce, then the retry"
    );
    assert_eq!(issuer.token_requests(), 2, "the issuer's nonce too");

    // The nonce is remembered (and renewed from the guard's answers): one request each now.
    let get = http::Request::get(format!("{base}/orders"))
        .body(String::new())
        .unwrap();
    let response = client.ready().await.unwrap().call(get).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

// ---------------------------------------------------------------------------------------------
// The example, as a user runs it

#[tokio::test]
async fn the_example_gets_a_bound_token_and_calls_a_dpop_api() {
    use bearer_guard::dpop::Dpop;

    let issuer = TestIssuer::builder().dpop_nonces().start().await;
    let (base, hits) = guarded_api(&issuer, |url| {
        Dpop::new(url)
            .required()
            .nonces(*b"a 32-byte secret for the nonces!")
    })
    .await;
    let mut command = tokio::process::Command::new(common::example_binary("client"));
    for name in [
        "OAUTH_ISSUER",
        "OAUTH_SCOPE",
        "OAUTH_RESOURCE",
        "OAUTH_AUTH_METHOD",
    ] {
        command.env_remove(name);
    }
    let output = command
        .env("OAUTH_TOKEN_URL", issuer.token_endpoint())
        .env("OAUTH_CLIENT_ID", "test-client")
        .env("OAUTH_CLIENT_SECRET", "test-secret")
        .env("OAUTH_DPOP", "1")
        .env("TARGET_URL", format!("{base}/orders"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("the client example is built (`cargo test --all-features`, or `--example client`)");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let mut lines = stdout.lines();
    let token = lines.next().expect("the token on the first line");
    let claims = issuer.validator().validate(token).await.unwrap();
    assert!(claims.json()["cnf"]["jkt"].is_string(), "bound: {claims:?}");
    assert_eq!(lines.next(), Some("status: 200 OK"));
    assert_eq!(lines.next(), Some("test-client"));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "use_dpop_nonce, then the retry"
    );

    let mut command = tokio::process::Command::new(common::example_binary("client"));
    let output = command
        .env("OAUTH_TOKEN_URL", issuer.token_endpoint())
        .env("OAUTH_CLIENT_ID", "test-client")
        .env("OAUTH_CLIENT_SECRET", "test-secret")
        .env("OAUTH_DPOP", "yes")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("OAUTH_DPOP"));
}
