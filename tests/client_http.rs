//! The token source's HTTP side over real sockets on loopback: a user's own reqwest client (a
//! private CA, against a TLS TestIssuer), failures told apart by kind, with the URL and the
//! cause; and the outgoing stack: `BearerLayer` over `ReqwestService`, one token per API.
#![cfg(all(feature = "client", feature = "test-util"))]

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use bearer_guard::client::{
    AuthMethod, BearerError, BearerLayer, EndpointErrorKind, ErrorCode, ReqwestService, TokenError,
    TokenSource,
};
use bearer_guard::testing::TestIssuer;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tower::{ServiceBuilder, ServiceExt};

const SECRET: &str = "hunter2-very-secret";

async fn serve(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// A TLS-terminating proxy on loopback in front of `backend`, with a server certificate for
/// `127.0.0.1` and `localhost` issued by a CA made here; its URL base and the CA's PEM.
async fn tls_front(backend: SocketAddr) -> (String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
    let ca = Issuer::new(ca_params, ca_key);
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let provider = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider();
    let config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A handshake the client abandons (no trusted CA) just ends here.
                if let Ok(mut tls) = acceptor.accept(tcp).await
                    && let Ok(mut upstream) = TcpStream::connect(backend).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                }
            });
        }
    });
    (format!("https://127.0.0.1:{port}"), ca_pem)
}

fn issuer_addr(issuer: &TestIssuer) -> SocketAddr {
    issuer
        .issuer()
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_users_client_with_a_private_ca_reaches_a_tls_token_endpoint() {
    let issuer = TestIssuer::start().await;
    let (base, ca_pem) = tls_front(issuer_addr(&issuer)).await;
    let token_url = format!("{base}/token");
    let http = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (id, secret) = issuer.default_client();
    let source = TokenSource::builder(&id, &secret)
        .token_endpoint(&token_url)
        .http_client(http)
        .build()
        .unwrap();
    let token = source.token().await.unwrap();
    issuer.validator().validate(token.secret()).await.unwrap();

    // The source's own client does not trust that CA: a TLS failure, told apart as such.
    let own = TokenSource::builder(&id, &secret)
        .token_endpoint(&token_url)
        .build()
        .unwrap();
    let error = own.token().await.unwrap_err();
    let TokenError::Endpoint(endpoint) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(endpoint.kind(), EndpointErrorKind::Tls, "{error} {error:?}");
    assert_eq!(endpoint.url(), token_url);
    assert_eq!(endpoint.status(), None);
    let shown = error.to_string();
    assert!(shown.contains(&token_url), "{shown}");
    assert!(shown.contains("TLS"), "{shown}");
    assert!(
        error.source().unwrap().source().is_some(),
        "the cause is kept"
    );
    assert_eq!(issuer.token_requests(), 1);
}

/// How a scripted token endpoint answers.
#[derive(Clone, Copy)]
enum Script {
    Status500,
    NotJson,
    Refusal,
    Hang,
    RedirectTo(u16),
}

async fn scripted(script: Script) -> String {
    let app = Router::new()
        .route(
            "/token",
            post(move || async move {
                match script {
                    Script::Status500 => {
                        (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response()
                    }
                    Script::NotJson => (StatusCode::OK, "<html>hello</html>").into_response(),
                    Script::Refusal => (
                        StatusCode::BAD_REQUEST,
                        [("content-type", "application/json")],
                        r#"{"error":"invalid_scope","error_description":"no such scope"}"#,
                    )
                        .into_response(),
                    Script::Hang => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        StatusCode::OK.into_response()
                    }
                    Script::RedirectTo(port) => (
                        StatusCode::TEMPORARY_REDIRECT,
                        [("location", format!("http://127.0.0.1:{port}/token"))],
                    )
                        .into_response(),
                }
            }),
        )
        .route(
            "/.well-known/openid-configuration",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        );
    serve(app).await
}

/// The error of a client_secret_post source (the secret in the body) for `url` with a query.
async fn error_of(base: &str, http: Option<reqwest::Client>) -> TokenError {
    let mut builder = TokenSource::builder("svc", SECRET)
        .token_endpoint(format!("{base}/token?tenant=t-123"))
        .auth_method(AuthMethod::Post)
        .timeout(Duration::from_millis(500));
    if let Some(http) = http {
        builder = builder.http_client(http);
    }
    builder.build().unwrap().token().await.unwrap_err()
}

fn check_shown(error: &TokenError, base: &str) {
    let shown = error.to_string();
    assert!(shown.contains(&format!("{base}/token")), "{shown}");
    assert!(
        !shown.contains("tenant") && !shown.contains("t-123"),
        "{shown}"
    );
    assert!(!shown.contains(SECRET), "{shown}");
    let mut source = error.source();
    while let Some(cause) = source {
        let shown = cause.to_string();
        assert!(
            !shown.contains(SECRET) && !shown.contains("t-123"),
            "{shown}"
        );
        source = cause.source();
    }
    assert!(!format!("{error:?}").contains(SECRET));
}

fn endpoint_kind(error: &TokenError) -> (EndpointErrorKind, Option<u16>) {
    match error {
        TokenError::Endpoint(e) => (e.kind(), e.status()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn each_failure_is_told_apart_and_shows_the_url_but_no_secret() {
    // Unreachable: a port nobody listens on any more.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let error = error_of(&base, None).await;
    assert_eq!(
        endpoint_kind(&error),
        (EndpointErrorKind::Unreachable, None)
    );
    assert!(
        error.source().unwrap().source().is_some(),
        "the cause is kept"
    );
    check_shown(&error, &base);

    // Timeout: a server that never answers.
    let base = scripted(Script::Hang).await;
    let started = std::time::Instant::now();
    let error = error_of(&base, None).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(endpoint_kind(&error), (EndpointErrorKind::Timeout, None));
    check_shown(&error, &base);
    // The timeout holds on a user's client too (set on each request).
    let error = error_of(&base, Some(reqwest::Client::new())).await;
    assert_eq!(endpoint_kind(&error), (EndpointErrorKind::Timeout, None));

    let base = scripted(Script::Status500).await;
    let error = error_of(&base, None).await;
    assert_eq!(
        endpoint_kind(&error),
        (EndpointErrorKind::Status, Some(500))
    );
    check_shown(&error, &base);

    let base = scripted(Script::NotJson).await;
    let error = error_of(&base, None).await;
    assert_eq!(
        endpoint_kind(&error),
        (EndpointErrorKind::Invalid, Some(200))
    );
    let TokenError::Endpoint(endpoint) = &error else {
        unreachable!()
    };
    assert_eq!(
        endpoint.detail(),
        Some("token response is not a JSON object")
    );
    check_shown(&error, &base);

    let base = scripted(Script::Refusal).await;
    let error = error_of(&base, None).await;
    let TokenError::Rejected(refusal) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(refusal.code(), &ErrorCode::InvalidScope);
    assert_eq!(refusal.status(), 400);
    assert_eq!(refusal.url(), format!("{base}/token"));
    check_shown(&error, &base);

    // Discovery keeps the metadata URL and the status.
    let error = TokenSource::builder("svc", SECRET)
        .issuer(&base)
        .build()
        .unwrap()
        .token()
        .await
        .unwrap_err();
    let TokenError::Discovery(discovery) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(discovery.kind(), EndpointErrorKind::Status);
    assert_eq!(discovery.status(), Some(500));
    assert_eq!(
        discovery.url(),
        format!("{base}/.well-known/openid-configuration")
    );
}

#[tokio::test]
async fn redirects_are_never_followed_and_a_users_client_that_follows_one_is_refused() {
    let target = scripted(Script::Refusal).await;
    let port: u16 = target.rsplit(':').next().unwrap().parse().unwrap();
    let base = scripted(Script::RedirectTo(port)).await;
    let error = error_of(&base, None).await;
    assert_eq!(
        endpoint_kind(&error),
        (EndpointErrorKind::Status, Some(307))
    );
    let error = error_of(&base, Some(reqwest::Client::new())).await;
    assert_eq!(
        endpoint_kind(&error),
        (EndpointErrorKind::Redirected, Some(400)),
        "the refusal of the other server is not taken for the endpoint's"
    );
    check_shown(&error, &base);
}

// ---------------------------------------------------------------------------------------------
// The outgoing stack

/// An API that answers 401 `invalid_token` to its first request and 200 (echoing the body)
/// after; records the Authorization header and body of each request.
async fn api_rejecting_first() -> (String, Arc<Mutex<Vec<(String, Bytes)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let app = Router::new().route(
        "/orders",
        post(move |headers: HeaderMap, body: Bytes| {
            let log = Arc::clone(&log);
            async move {
                let authorization = headers["authorization"].to_str().unwrap().to_owned();
                let count = {
                    let mut log = log.lock().unwrap();
                    log.push((authorization, body.clone()));
                    log.len()
                };
                if count == 1 {
                    (
                        StatusCode::UNAUTHORIZED,
                        [("www-authenticate", r#"Bearer error="invalid_token""#)],
                    )
                        .into_response()
                } else {
                    (StatusCode::CREATED, body).into_response()
                }
            }
        }),
    );
    (format!("{}/orders", serve(app).await), seen)
}

#[tokio::test]
async fn bearer_over_reqwest_retries_once_with_the_body_sent_again() {
    let issuer = TestIssuer::start().await;
    let source = TokenSource::builder("test-client", "test-secret")
        .token_endpoint(issuer.token_endpoint())
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(BearerLayer::new(source.clone()))
        .service(ReqwestService::new(reqwest::Client::new()));

    let (url, seen) = api_rejecting_first().await;
    let request = http::Request::post(&url)
        .body(String::from(r#"{"item":42}"#))
        .unwrap();
    let response = client.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, r#"{"item":42}"#);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one retry");
    assert_eq!(seen[0].1, seen[1].1, "the same body, sent again");
    assert_ne!(seen[0].0, seen[1].0, "with a new token");
    assert_eq!(issuer.token_requests(), 2);

    // The other in-memory bodies users send, through the same stack.
    let (url, seen) = api_rejecting_first().await;
    let request = http::Request::post(&url)
        .body(Full::new(Bytes::from_static(b"full body")))
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(BearerLayer::new(source))
        .service(ReqwestService::new(reqwest::Client::new()));
    // Within MIN_INVALIDATION_INTERVAL the token is not dropped again: the 401 stands.
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(seen.lock().unwrap()[0].1, "full body");
}

#[tokio::test]
async fn two_apis_get_a_token_each_and_an_unknown_origin_none() {
    let issuer = TestIssuer::builder()
        .allow_loopback_resources()
        .start()
        .await;
    let (orders, orders_seen) = api_rejecting_first().await;
    let (billing, billing_seen) = api_rejecting_first().await;
    let origin = |url: &str| url.trim_end_matches("/orders").to_owned();
    let orders_source = TokenSource::builder("test-client", "test-secret")
        .token_endpoint(issuer.token_endpoint())
        .resource(origin(&orders))
        .build()
        .unwrap();
    let billing_source = orders_source.for_resource(origin(&billing)).unwrap();
    let client = ServiceBuilder::new()
        .layer(
            BearerLayer::by_origin([
                (origin(&orders), orders_source.clone()),
                (origin(&billing), billing_source.clone()),
            ])
            .unwrap(),
        )
        .service(ReqwestService::new(reqwest::Client::new()));
    for url in [&orders, &billing] {
        let request = http::Request::post(url.as_str()).body(()).unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{url}");
    }
    let validator = bearer_guard::Validator::builder()
        .issuer(
            issuer
                .issuer_config()
                .audience(origin(&orders))
                .audience(origin(&billing)),
        )
        .build()
        .unwrap();
    for (seen, source, url) in [
        (&orders_seen, &orders_source, &orders),
        (&billing_seen, &billing_source, &billing),
    ] {
        let last = seen.lock().unwrap().last().unwrap().0.clone();
        let token = source.token().await.unwrap();
        assert_eq!(last, format!("Bearer {}", token.secret()), "{url}");
        let claims = validator.validate(token.secret()).await.unwrap();
        assert_eq!(claims.audience(), [origin(url)]);
    }
    // Two sources, each a first token and a renewal after the 401.
    assert_eq!(issuer.token_requests(), 4);

    let elsewhere = http::Request::get("http://127.0.0.1:9/orders")
        .body(())
        .unwrap();
    let error = client.clone().oneshot(elsewhere).await.unwrap_err();
    assert!(
        matches!(&error, BearerError::UnknownOrigin(o) if o == "http://127.0.0.1:9"),
        "{error}"
    );
    let relative = http::Request::get("/orders").body(()).unwrap();
    let error = client.oneshot(relative).await.unwrap_err();
    assert!(matches!(error, BearerError::RelativeUri), "{error}");
    assert_eq!(issuer.token_requests(), 4, "no token asked for them");
}
