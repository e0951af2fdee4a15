//! The `client` feature against a real token endpoint (the crate's `TestIssuer`), small axum
//! stubs for what the issuer cannot be made to answer, and an axum API that counts requests.
#![cfg(all(feature = "client", feature = "test-util"))]

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use bearer_guard::client::{
    AccessToken, AuthMethod, Bearer, BearerError, BearerLayer, ClientKey, EndpointErrorKind,
    ErrorCode, ReplayBody, TokenError, TokenSource,
};
use bearer_guard::testing::{TestClient, TestIssuer};
use bytes::Bytes;
use http_body_util::Full;
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

use common::example_binary;
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

/// A source for `issuer`'s default client.
fn source_for(issuer: &TestIssuer) -> TokenSource {
    let (id, secret) = issuer.default_client();
    TokenSource::builder(id, secret)
        .token_endpoint(issuer.token_endpoint())
        .build()
        .unwrap()
}

/// A token endpoint that always answers `status` with `body`; counts its requests.
async fn stub_token_endpoint(status: u16, body: Value) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = Router::new().route(
        "/token",
        post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move {
                (
                    StatusCode::from_u16(status).unwrap(),
                    [
                        ("content-type", "application/json"),
                        ("cache-control", "no-store"),
                    ],
                    body.to_string(),
                )
            }
        }),
    );
    let base = serve(app).await;
    (format!("{base}/token"), hits)
}

async fn token_from_stub(status: u16, body: Value) -> Result<AccessToken, TokenError> {
    let (url, _) = stub_token_endpoint(status, body).await;
    TokenSource::builder("id", "secret")
        .token_endpoint(url)
        .build()
        .unwrap()
        .token()
        .await
}

/// How the test API answers.
#[derive(Clone, Copy, PartialEq)]
enum Api {
    /// 401 `invalid_token` to the first request, 200 after.
    RejectFirst,
    /// 401 `invalid_token` to every request.
    RejectAll,
    /// 401 with a challenge that has no `error` (no retry expected).
    ChallengeWithoutError,
    /// 200 to every request.
    Accept,
}

/// An API at `/data` that records the `Authorization` header of every request.
struct TestApi {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl TestApi {
    async fn start(behaviour: Api) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let app = Router::new().route(
            "/data",
            get(handle_data)
                .post(handle_data)
                .with_state((log, behaviour)),
        );
        let base = serve(app).await;
        Self {
            url: format!("{base}/data"),
            seen,
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn handle_data(
    axum::extract::State((log, behaviour)): axum::extract::State<(Arc<Mutex<Vec<String>>>, Api)>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    // Every Authorization line, so that a forwarded one beside ours would show.
    let authorization = headers
        .get_all("authorization")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect::<Vec<_>>()
        .join(" | ");
    let count = {
        let mut log = log.lock().unwrap();
        log.push(authorization);
        log.len()
    };
    let invalid = [(
        "www-authenticate",
        r#"Bearer realm="api", error="invalid_token", error_description="The access token expired""#,
    )];
    match behaviour {
        Api::RejectFirst if count == 1 => (StatusCode::UNAUTHORIZED, invalid).into_response(),
        Api::RejectAll => (StatusCode::UNAUTHORIZED, invalid, "rejected").into_response(),
        Api::ChallengeWithoutError => (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", r#"Bearer realm="api""#)],
        )
            .into_response(),
        _ => (StatusCode::OK, body).into_response(),
    }
}

/// reqwest as a tower service of `http` types, the body of the request being `B`.
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

fn bearer(token: &AccessToken) -> String {
    format!("Bearer {}", token.secret())
}

// ---------------------------------------------------------------------------------------------
// The token source against the TestIssuer

#[tokio::test]
async fn both_authentication_methods_get_tokens_that_validate() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator();
    let (id, secret) = issuer.default_client();
    for method in [AuthMethod::Basic, AuthMethod::Post] {
        let source = TokenSource::builder(&id, &secret)
            .token_endpoint(issuer.token_endpoint())
            .auth_method(method)
            .scope("read write")
            .resource(issuer.audience())
            .build()
            .unwrap();
        let token = source.token().await.unwrap();
        assert_eq!(token.scope(), Some("read write"));
        let claims = validator.validate(token.secret()).await.unwrap();
        assert_eq!(claims.client(), Some(id.as_str()), "{method:?}");
        assert!(claims.scopes().contains("read") && claims.scopes().contains("write"));
        assert_eq!(claims.audience(), [issuer.audience().to_owned()]);
        // Cached.
        assert_eq!(source.token().await.unwrap(), token);
    }
    assert_eq!(issuer.token_requests(), 2);
}

#[tokio::test]
async fn ids_and_secrets_with_reserved_characters_are_encoded_for_basic() {
    let issuer = TestIssuer::start().await;
    issuer.add_client(TestClient::new("svc:reports+1", "p@ss w:rd/%"));
    for method in [AuthMethod::Basic, AuthMethod::Post] {
        let source = TokenSource::builder("svc:reports+1", "p@ss w:rd/%")
            .token_endpoint(issuer.token_endpoint())
            .auth_method(method)
            .build()
            .unwrap();
        let token = source.token().await.unwrap();
        let claims = issuer.validator().validate(token.secret()).await.unwrap();
        assert_eq!(claims.client(), Some("svc:reports+1"), "{method:?}");
    }
}

#[tokio::test]
async fn the_token_endpoint_is_discovered_from_the_issuer() {
    let issuer = TestIssuer::start().await;
    let (id, secret) = issuer.default_client();
    let source = TokenSource::builder(id, secret)
        .issuer(issuer.issuer())
        .scope("read")
        .build()
        .unwrap();
    let token = source.token().await.unwrap();
    issuer.validator().validate(token.secret()).await.unwrap();
    assert_eq!(issuer.token_requests(), 1);

    // The issuer in the metadata must be the configured one, byte for byte.
    let source = TokenSource::builder("test-client", "test-secret")
        .issuer(format!("{}/", issuer.issuer()))
        .build()
        .unwrap();
    assert!(matches!(
        source.token().await,
        Err(TokenError::Discovery(_))
    ));
}

#[tokio::test]
async fn discovery_falls_back_to_rfc_8414_metadata() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{base}/tenant");
    let metadata = json!({ "issuer": issuer, "token_endpoint": format!("{base}/tenant/token") });
    let app = Router::new()
        .route(
            "/.well-known/oauth-authorization-server/tenant",
            get(move || async move { axum::Json(metadata) }),
        )
        .route(
            "/tenant/token",
            post(|| async {
                axum::Json(json!({"access_token": "abc", "token_type": "Bearer", "expires_in": 60}))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let source = TokenSource::builder("id", "secret")
        .issuer(issuer)
        .build()
        .unwrap();
    assert_eq!(source.token().await.unwrap().secret(), "abc");
}

#[tokio::test]
async fn a_rotated_secret_works_until_the_old_one_is_removed() {
    let issuer = TestIssuer::builder()
        .client(
            TestClient::new("reports", "old-secret")
                .secret("new-secret")
                .scopes(["read", "write"])
                .default_scope("read"),
        )
        .start()
        .await;
    let source = |secret: &str| {
        TokenSource::builder("reports", secret)
            .token_endpoint(issuer.token_endpoint())
            .build()
            .unwrap()
    };
    let with_old = source("old-secret").token().await.unwrap();
    let with_new = source("new-secret").token().await.unwrap();
    assert_eq!(with_old.scope(), Some("read"), "the default scope");
    issuer
        .validator()
        .validate(with_old.secret())
        .await
        .unwrap();
    issuer
        .validator()
        .validate(with_new.secret())
        .await
        .unwrap();

    issuer.remove_client_secret("reports", "old-secret");
    let error = source("old-secret").token().await.unwrap_err();
    let TokenError::Rejected(refusal) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(refusal.code(), &ErrorCode::InvalidClient);
    assert_eq!(refusal.status(), 401);
    assert!(!error.to_string().contains("old-secret"), "{error}");
    source("new-secret").token().await.unwrap();
}

#[tokio::test]
async fn a_hundred_concurrent_callers_cause_one_token_request() {
    let issuer = TestIssuer::start().await;
    let source = source_for(&issuer);
    let call_all = || async {
        let callers: Vec<_> = (0..100)
            .map(|_| {
                let source = source.clone();
                tokio::spawn(async move { source.token().await.unwrap() })
            })
            .collect();
        let mut tokens = Vec::new();
        for caller in callers {
            tokens.push(caller.await.unwrap());
        }
        tokens
    };
    let first = call_all().await;
    assert!(first.iter().all(|t| *t == first[0]));
    assert_eq!(issuer.token_requests(), 1);

    // A renewal (the token was rejected): again one request for everyone.
    assert!(source.invalidate(&first[0]));
    let second = call_all().await;
    assert!(second.iter().all(|t| *t == second[0]));
    assert_ne!(second[0], first[0]);
    assert_eq!(issuer.token_requests(), 2);
}

#[tokio::test]
async fn tokens_are_renewed_before_they_expire() {
    // expires_in = 4 s: due for renewal after 2 s (half the lifetime, see client::defaults).
    let issuer = TestIssuer::builder()
        .token_lifetime(Duration::from_secs(4))
        .start()
        .await;
    let source = source_for(&issuer);
    let first = source.token().await.unwrap();
    assert!(first.expires_at() <= tokio::time::Instant::now() + Duration::from_secs(4));
    assert_eq!(source.token().await.unwrap(), first);
    assert_eq!(issuer.token_requests(), 1);

    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Due but valid: handed out at once while one renewal runs in the background.
    assert_eq!(source.token().await.unwrap(), first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while issuer.token_requests() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no renewal");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut renewed = source.token().await.unwrap();
    while renewed == first {
        // The renewal's answer is on its way.
        assert!(
            tokio::time::Instant::now() < deadline,
            "renewal not installed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        renewed = source.token().await.unwrap();
    }
    assert!(renewed.expires_at() > first.expires_at());
    issuer.validator().validate(renewed.secret()).await.unwrap();
    assert_eq!(issuer.token_requests(), 2, "before the expiry, and once");
}

#[tokio::test]
async fn refusals_from_the_issuer_are_typed() {
    let issuer = TestIssuer::builder()
        .client(TestClient::new("svc", "secret").scopes(["read"]))
        .client(TestClient::new("locked", "secret").unauthorized())
        .start()
        .await;
    let code = |client: &str, secret: &str, scope: Option<&str>, resource: Option<&str>| {
        let mut builder =
            TokenSource::builder(client, secret).token_endpoint(issuer.token_endpoint());
        if let Some(scope) = scope {
            builder = builder.scope(scope);
        }
        if let Some(resource) = resource {
            builder = builder.resource(resource);
        }
        let source = builder.build().unwrap();
        async move {
            let error = source.token().await.unwrap_err();
            error.code().cloned().unwrap_or_else(|| panic!("{error:?}"))
        }
    };
    assert_eq!(
        code("svc", "wrong", None, None).await,
        ErrorCode::InvalidClient
    );
    assert_eq!(
        code("nobody", "secret", None, None).await,
        ErrorCode::InvalidClient
    );
    assert_eq!(
        code("svc", "secret", Some("admin"), None).await,
        ErrorCode::InvalidScope
    );
    assert_eq!(
        code("svc", "secret", None, Some("https://elsewhere.example.com")).await,
        ErrorCode::InvalidTarget
    );
    assert_eq!(
        code("locked", "secret", None, None).await,
        ErrorCode::UnauthorizedClient
    );
}

#[tokio::test]
async fn refusals_the_issuer_cannot_produce_are_typed_too() {
    for (status, wire, code) in [
        (400, "invalid_request", ErrorCode::InvalidRequest),
        (400, "invalid_grant", ErrorCode::InvalidGrant),
        (
            400,
            "unsupported_grant_type",
            ErrorCode::UnsupportedGrantType,
        ),
        (400, "slow_down", ErrorCode::Other("slow_down".into())),
    ] {
        let error = token_from_stub(
            status,
            json!({"error": wire, "error_description": "said the server", "error_uri": "https://e/x"}),
        )
        .await
        .unwrap_err();
        let TokenError::Rejected(refusal) = &error else {
            panic!("{error:?}")
        };
        assert_eq!(refusal.code(), &code);
        assert_eq!(refusal.description(), Some("said the server"));
        assert_eq!(refusal.uri(), Some("https://e/x"));
        let shown = error.to_string();
        assert!(
            shown.starts_with("the token endpoint http://127.0.0.1:"),
            "{shown}"
        );
        assert!(
            shown.ends_with(&format!(
                "/token refused the request: {wire}: said the server (HTTP 400), see https://e/x"
            )),
            "{shown}"
        );
    }
    let kind = |result: Result<AccessToken, TokenError>| match result {
        Err(TokenError::Endpoint(error)) => (error.kind(), error.status()),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        kind(token_from_stub(500, json!("oops")).await),
        (EndpointErrorKind::Status, Some(500))
    );
    assert_eq!(
        kind(token_from_stub(200, json!({"token_type": "Bearer"})).await),
        (EndpointErrorKind::Invalid, Some(200))
    );
}

#[tokio::test]
async fn token_type_is_compared_case_insensitively() {
    for token_type in ["Bearer", "bearer", "BEARER"] {
        let token = token_from_stub(
            200,
            json!({"access_token": "t0k3n", "token_type": token_type, "expires_in": 60}),
        )
        .await
        .unwrap();
        assert_eq!(token.secret(), "t0k3n");
    }
    for token_type in ["mac", "DPoP", "N_A"] {
        let error = token_from_stub(
            200,
            json!({"access_token": "t0k3n", "token_type": token_type, "expires_in": 60}),
        )
        .await
        .unwrap_err();
        assert_eq!(error, TokenError::UnsupportedTokenType(token_type.into()));
        assert!(!error.to_string().contains("t0k3n"));
    }
}

#[tokio::test]
async fn the_secret_and_tokens_never_show() {
    let issuer = TestIssuer::start().await;
    let builder = TokenSource::builder("test-client", "test-secret")
        .token_endpoint(issuer.token_endpoint())
        .scope("read");
    assert!(!format!("{builder:?}").contains("test-secret"));
    let source = builder.build().unwrap();
    let token = source.token().await.unwrap();
    for debug in [format!("{source:?}"), format!("{token:?}")] {
        assert!(!debug.contains("test-secret"), "{debug}");
        assert!(!debug.contains(token.secret()), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }
    assert!(token.authorization().is_sensitive());

    let wrong = TokenSource::builder("test-client", "wrong-secret")
        .token_endpoint(issuer.token_endpoint())
        .build()
        .unwrap();
    let error = wrong.token().await.unwrap_err();
    for shown in [format!("{error:?}"), error.to_string()] {
        assert!(!shown.contains("wrong-secret"), "{shown}");
    }
    assert!(!format!("{wrong:?}").contains("wrong-secret"));
}

// ---------------------------------------------------------------------------------------------
// The layer

#[tokio::test]
async fn the_layer_sends_the_token() {
    let issuer = TestIssuer::start().await;
    let api = TestApi::start(Api::Accept).await;
    let source = source_for(&issuer);
    let client = ServiceBuilder::new()
        .layer(BearerLayer::new(source.clone()))
        .service(reqwest_service::<String>());
    for _ in 0..3 {
        let response = client
            .clone()
            .oneshot(
                http::Request::post(&api.url)
                    .body("hello".to_owned())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body(), "hello");
    }
    let token = source.token().await.unwrap();
    assert_eq!(api.seen(), vec![bearer(&token); 3]);
    issuer.validator().validate(token.secret()).await.unwrap();
    assert_eq!(issuer.token_requests(), 1);
}

/// Rule H.44: a service that calls another never passes on the token it was called with: the
/// layer replaces every inbound `Authorization` line with its own token.
#[tokio::test]
async fn the_layer_never_forwards_an_incoming_token() {
    let issuer = TestIssuer::start().await;
    let api = TestApi::start(Api::Accept).await;
    let source = source_for(&issuer);
    let client = ServiceBuilder::new()
        .layer(BearerLayer::new(source.clone()))
        .service(reqwest_service::<String>());
    let inbound = issuer.token().scope("admin").sign();
    for _ in 0..2 {
        let request = http::Request::post(&api.url)
            .header("authorization", format!("Bearer {inbound}"))
            .header("authorization", "Basic dXNlcjpwYXNz")
            .body("hello".to_owned())
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let own = source.token().await.unwrap();
    assert_ne!(own.secret(), inbound);
    assert_eq!(api.seen(), vec![bearer(&own); 2]);
}

#[tokio::test]
async fn an_invalid_token_answer_renews_and_retries_once() {
    let issuer = TestIssuer::start().await;
    let api = TestApi::start(Api::RejectFirst).await;
    let source = source_for(&issuer);
    let mut client = Bearer::new(reqwest_service::<String>(), source.clone());
    let response = client
        .ready()
        .await
        .unwrap()
        .call(
            http::Request::post(&api.url)
                .body("payload".to_owned())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "payload", "the same body, sent again");
    let seen = api.seen();
    assert_eq!(seen.len(), 2);
    assert_ne!(seen[0], seen[1], "a new token for the retry");
    assert_eq!(seen[1], bearer(&source.token().await.unwrap()));
    assert_eq!(issuer.token_requests(), 2);
}

#[tokio::test]
async fn a_body_that_cannot_be_replayed_is_not_retried() {
    let issuer = TestIssuer::start().await;
    let api = TestApi::start(Api::RejectFirst).await;
    let source = source_for(&issuer);
    let client = Bearer::new(reqwest_service::<OneShot>(), source.clone());
    let request = http::Request::post(&api.url)
        .body(OneShot(Bytes::from_static(b"stream")))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 401, "the 401 as it came");
    assert_eq!(api.seen().len(), 1);
    // The rejected token was dropped: the next request gets a new one.
    assert_eq!(issuer.token_requests(), 1);
    let next = source.token().await.unwrap();
    assert_ne!(bearer(&next), api.seen()[0]);
    assert_eq!(issuer.token_requests(), 2);
}

#[tokio::test]
async fn a_second_rejection_is_returned_as_it_came() {
    let issuer = TestIssuer::start().await;
    let api = TestApi::start(Api::RejectAll).await;
    let source = source_for(&issuer);
    let client = Bearer::new(reqwest_service::<&'static str>(), source.clone());
    let response = client
        .clone()
        .oneshot(http::Request::get(&api.url).body("").unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.body(), "rejected");
    assert_eq!(api.seen().len(), 2, "one retry, no loop");
    assert_eq!(issuer.token_requests(), 2);

    // An API that rejects every token does not turn each call into a token request: within
    // client::defaults::MIN_INVALIDATION_INTERVAL the token is kept and nothing is retried.
    let response = client
        .oneshot(http::Request::get(&api.url).body("").unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(api.seen().len(), 3);
    assert_eq!(issuer.token_requests(), 2);
}

#[tokio::test]
async fn a_401_without_invalid_token_is_not_retried() {
    let issuer = TestIssuer::start().await;
    let api = TestApi::start(Api::ChallengeWithoutError).await;
    let source = source_for(&issuer);
    let response = Bearer::new(reqwest_service::<Bytes>(), source.clone())
        .oneshot(http::Request::get(&api.url).body(Bytes::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(api.seen().len(), 1);
    assert_eq!(issuer.token_requests(), 1);
}

#[tokio::test]
async fn no_token_means_the_request_is_not_sent() {
    let issuer = TestIssuer::start().await;
    let api = TestApi::start(Api::Accept).await;
    let source = TokenSource::builder("test-client", "wrong")
        .token_endpoint(issuer.token_endpoint())
        .build()
        .unwrap();
    let error = Bearer::new(reqwest_service::<Bytes>(), source)
        .oneshot(http::Request::get(&api.url).body(Bytes::new()).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        error.token_error().and_then(TokenError::code),
        Some(&ErrorCode::InvalidClient)
    );
    assert!(
        error.to_string().starts_with("no access token: "),
        "{error}"
    );
    assert!(matches!(error, BearerError::Token(_)));
    assert!(api.seen().is_empty());
}

#[tokio::test]
async fn the_layer_works_with_an_in_process_service() {
    // No network at all: an API behind the guard, called through the bearer layer.
    let issuer = TestIssuer::start().await;
    let api = ServiceBuilder::new()
        .layer(bearer_guard::GuardLayer::new(issuer.validator()))
        .service(service_fn(
            |request: http::Request<Full<Bytes>>| async move {
                let claims = request.extensions().get::<bearer_guard::Claims>().cloned();
                Ok::<_, Infallible>(http::Response::new(
                    claims
                        .and_then(|c| c.client().map(str::to_owned))
                        .unwrap_or_default(),
                ))
            },
        ));
    let client = ServiceBuilder::new()
        .layer(BearerLayer::new(source_for(&issuer)))
        .service(api);
    let response = client
        .oneshot(http::Request::new(Full::new(Bytes::new())))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "test-client");
}

// ---------------------------------------------------------------------------------------------
// The example, as a user runs it

async fn run_example(vars: &[(&str, &str)]) -> std::process::Output {
    let mut command = tokio::process::Command::new(example_binary("client"));
    for name in [
        "OAUTH_TOKEN_URL",
        "OAUTH_ISSUER",
        "OAUTH_CLIENT_ID",
        "OAUTH_CLIENT_SECRET",
        "OAUTH_SCOPE",
        "OAUTH_RESOURCE",
        "OAUTH_AUTH_METHOD",
        "OAUTH_CLIENT_KEY",
        "OAUTH_CLIENT_KEY_ID",
        "OAUTH_DPOP",
        "TARGET_URL",
    ] {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied());
    command
        .kill_on_drop(true)
        .output()
        .await
        .expect("the client example is built by `cargo test --all-features`")
}

#[tokio::test]
async fn the_example_prints_a_token_that_validates() {
    let issuer = TestIssuer::start().await;
    let api = TestApi::start(Api::Accept).await;
    for (endpoint_var, endpoint, method) in [
        ("OAUTH_TOKEN_URL", issuer.token_endpoint(), "basic"),
        ("OAUTH_ISSUER", issuer.issuer().to_owned(), "post"),
    ] {
        let output = run_example(&[
            (endpoint_var, &endpoint),
            ("OAUTH_CLIENT_ID", "test-client"),
            ("OAUTH_CLIENT_SECRET", "test-secret"),
            ("OAUTH_SCOPE", "read"),
            ("OAUTH_RESOURCE", issuer.audience()),
            ("OAUTH_AUTH_METHOD", method),
            ("TARGET_URL", &api.url),
        ])
        .await;
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        let mut lines = stdout.lines();
        let token = lines.next().expect("the token on the first line");
        assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
        let claims = issuer.validator().validate(token).await.unwrap();
        assert!(claims.scopes().contains("read"));
        assert_eq!(lines.next(), Some("status: 200 OK"));
        assert_eq!(api.seen().last(), Some(&format!("Bearer {token}")));
    }
}

#[tokio::test]
async fn the_example_reports_a_refusal_and_bad_configuration() {
    let issuer = TestIssuer::start().await;
    let output = run_example(&[
        ("OAUTH_TOKEN_URL", &issuer.token_endpoint()),
        ("OAUTH_CLIENT_ID", "test-client"),
        ("OAUTH_CLIENT_SECRET", "not-the-secret"),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.contains("error: invalid_client"), "{stderr}");
    assert!(!stderr.contains("not-the-secret"), "{stderr}");

    for vars in [
        &[("OAUTH_CLIENT_ID", "a"), ("OAUTH_CLIENT_SECRET", "b")][..],
        &[
            ("OAUTH_TOKEN_URL", "http://idp.example.com/token"),
            ("OAUTH_CLIENT_ID", "a"),
            ("OAUTH_CLIENT_SECRET", "b"),
        ],
        &[
            ("OAUTH_TOKEN_URL", "https://idp.example.com/token"),
            ("OAUTH_CLIENT_ID", "a"),
            ("OAUTH_CLIENT_SECRET", "b"),
            ("OAUTH_AUTH_METHOD", "jwt"),
        ],
    ] {
        let output = run_example(vars).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{vars:?}: {stderr}");
        assert!(stderr.starts_with("client: "), "{stderr}");
    }
}

#[tokio::test]
async fn the_example_authenticates_with_a_private_key() {
    let path = common::fixture_path("ec-p256.pem");
    let pem = std::fs::read_to_string(&path).unwrap();
    let key = ClientKey::from_pem(&pem).unwrap().key_id("example-key");
    let issuer = TestIssuer::builder()
        .client(TestClient::with_key("reports", key.public_jwk()))
        .start()
        .await;
    let api = TestApi::start(Api::RejectFirst).await;
    let path = path.to_str().unwrap();
    let base = [
        ("OAUTH_ISSUER", issuer.issuer()),
        ("OAUTH_CLIENT_ID", "reports"),
        ("OAUTH_AUTH_METHOD", "private_key_jwt"),
        ("OAUTH_CLIENT_KEY", path),
    ];
    let run = |extra: &'static [(&'static str, &'static str)]| {
        let mut vars = base.to_vec();
        vars.extend_from_slice(extra);
        async move { run_example(&vars).await }
    };
    let mut vars = base.to_vec();
    vars.extend([
        ("OAUTH_CLIENT_KEY_ID", "example-key"),
        ("TARGET_URL", &api.url),
    ]);
    let output = run_example(&vars).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let token = stdout.lines().next().unwrap();
    let claims = issuer.validator().validate(token).await.unwrap();
    assert_eq!(claims.client(), Some("reports"));
    assert_eq!(
        issuer.last_client_auth_method().as_deref(),
        Some("private_key_jwt")
    );
    // The call was refused once (invalid_token): a second token, a second assertion.
    assert!(stdout.contains("status: 200"), "{stdout}");
    assert_eq!(issuer.token_requests(), 2);
    let key_line = pem.lines().nth(1).unwrap();
    assert!(!stderr.contains(key_line) && !stdout.contains(key_line));

    // A kid the server does not know: refused, and said so.
    let output = run(&[("OAUTH_CLIENT_KEY_ID", "unknown-kid")]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: invalid_client"), "{stderr}");

    // No key, a file that is not a key: bad configuration, without the file's contents.
    let output = run_example(&base[..3]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("OAUTH_CLIENT_KEY"));
    let public = common::fixture_path("ec-p256.pub.pem");
    let mut vars = base.to_vec();
    vars[3] = ("OAUTH_CLIENT_KEY", public.to_str().unwrap());
    let output = run_example(&vars).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a private key"), "{stderr}");
    let public_pem = std::fs::read_to_string(&public).unwrap();
    assert!(!stderr.contains(public_pem.lines().nth(1).unwrap()));
}

// ---------------------------------------------------------------------------------------------
// Logs

#[tokio::test]
async fn logs_show_neither_the_secret_nor_the_tokens() {
    // Global: this test also sees the other tests' logs, which must be clean as well.
    let logs = CapturedLogs::global();
    let issuer = TestIssuer::builder()
        .client(TestClient::new("svc", "the-client-secret"))
        .start()
        .await;
    let api = TestApi::start(Api::RejectFirst).await;
    let mut tokens = Vec::new();
    for method in [AuthMethod::Basic, AuthMethod::Post] {
        let source = TokenSource::builder("svc", "the-client-secret")
            .issuer(issuer.issuer())
            .auth_method(method)
            .build()
            .unwrap();
        tokens.push(source.token().await.unwrap());
        // A rejection, a renewal and a retry.
        let response = Bearer::new(reqwest_service::<String>(), source.clone())
            .oneshot(http::Request::get(&api.url).body(String::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        tokens.push(source.token().await.unwrap());
    }
    let wrong = TokenSource::builder("svc", "the-wrong-secret")
        .token_endpoint(issuer.token_endpoint())
        .build()
        .unwrap();
    assert!(wrong.token().await.is_err());

    // private_key_jwt: the assertions, taken at an endpoint that refuses them.
    let assertions = Arc::new(Mutex::new(Vec::new()));
    let taken = Arc::clone(&assertions);
    let refusing = Router::new().route(
        "/token",
        post(move |form: axum::Form<Vec<(String, String)>>| {
            let taken = Arc::clone(&taken);
            async move {
                let assertion = form.0.iter().find(|(name, _)| name == "client_assertion");
                taken.lock().unwrap().push(assertion.unwrap().1.clone());
                (
                    StatusCode::UNAUTHORIZED,
                    [("content-type", "application/json")],
                    r#"{"error":"invalid_client"}"#,
                )
            }
        }),
    );
    let key = ClientKey::from_pem(&String::from_utf8(common::read_fixture("ed25519.pem")).unwrap())
        .unwrap();
    let keyed = TokenSource::builder_with_key("svc", key)
        .token_endpoint(format!("{}/token", serve(refusing).await))
        .build()
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            keyed.token().await.unwrap_err().code(),
            Some(&ErrorCode::InvalidClient)
        );
    }

    let text = logs.text();
    assert!(text.contains("access token obtained"), "{text}");
    assert!(text.contains("token request failed"), "{text}");
    for secret in ["the-client-secret", "the-wrong-secret"] {
        assert!(!text.contains(secret), "{text}");
    }
    for token in &tokens {
        assert!(!text.contains(token.secret()), "{text}");
    }
    let assertions = assertions.lock().unwrap().clone();
    assert_eq!(assertions.len(), 2);
    assert_ne!(assertions[0], assertions[1], "one per request");
    for assertion in &assertions {
        let signature = assertion.rsplit('.').next().unwrap();
        assert!(!text.contains(signature), "{text}");
    }
}
