//! Where a token is read from (RFC 6750 §2): the `Authorization` header always, and the
//! sources a guard enables: a cookie, a custom header, the form body (behind
//! `FormTokenLayer`), the query string of websocket upgrades. One token in one place is
//! accepted, a token in two places is 400, a disabled source is not looked at. Every request
//! is sent three times, so that the third is answered from the verified-token cache, and the
//! three answers must be the same.
#![cfg(all(feature = "axum", feature = "test-util"))]

mod common;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode};
use axum::routing::get;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{Claims, ConfigError, ErrorKind, FormTokenLayer, GuardLayer, TokenSource};
use common::logs::CapturedLogs;
use common::{Reply, send};
use hyper::body::{Body as HttpBody, Frame};

const COOKIE: &str = "at";
const HEADER: &str = "X-Access-Token";
const FORM: &str = "application/x-www-form-urlencoded";
const REALM_ONLY: &str = r#"Bearer realm="api""#;

// ---------------------------------------------------------------------------------------------
// The app and its requests

/// `GET /`: `ok <client>`; `POST /` and `PUT /`: the body exactly as received.
fn app(guard: GuardLayer, form_layer: bool) -> Router {
    async fn who(claims: Claims) -> String {
        format!("ok {}", claims.client().unwrap_or("?"))
    }
    async fn echo(_: Claims, body: Bytes) -> Bytes {
        body
    }
    let router = Router::new()
        .route("/", get(who).post(echo).put(echo))
        .route_layer(guard);
    match form_layer {
        // Added after the guard, so it runs before it.
        true => router.route_layer(FormTokenLayer::new()),
        false => router,
    }
}

fn guard(issuer: &TestIssuer, sources: impl IntoIterator<Item = TokenSource>) -> GuardLayer {
    sources
        .into_iter()
        .try_fold(
            GuardLayer::new(issuer.validator()),
            GuardLayer::token_source,
        )
        .expect("valid sources")
}

fn every_source() -> [TokenSource; 4] {
    [
        TokenSource::cookie(COOKIE),
        TokenSource::header(HEADER),
        TokenSource::form_body(),
        TokenSource::websocket_query(),
    ]
}

/// The places a test puts a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Authorization,
    Cookie,
    Header,
    Form,
    Query,
}

const PLACES: [Place; 5] = [
    Place::Authorization,
    Place::Cookie,
    Place::Header,
    Place::Form,
    Place::Query,
];

/// A request with `token` in each of `places`: a POST of a form body if one is `Form`, else
/// a GET, a websocket upgrade if one is `Query`.
fn request_with(token: &str, places: &[Place]) -> Request<Body> {
    let has = |place| places.contains(&place);
    let uri = match has(Place::Query) {
        true => format!("/?v=1&access_token={token}"),
        false => "/".to_owned(),
    };
    let method = if has(Place::Form) {
        Method::POST
    } else {
        Method::GET
    };
    let mut builder = Request::builder().method(method).uri(uri);
    if has(Place::Query) {
        builder = builder
            .header("connection", "Upgrade")
            .header("upgrade", "websocket");
    }
    if has(Place::Authorization) {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    if has(Place::Cookie) {
        builder = builder.header("cookie", format!("theme=dark; {COOKIE}={token}"));
    }
    if has(Place::Header) {
        builder = builder.header(HEADER, token);
    }
    let body = match has(Place::Form) {
        true => {
            builder = builder.header("content-type", FORM);
            Body::from(format!("item=1&access_token={token}"))
        }
        false => Body::empty(),
    };
    builder.body(body).expect("request builds")
}

/// Sends the request `make` builds three times (cold, cold, from the token cache) and
/// checks the three replies are the same; returns the last.
async fn send3(app: &Router, make: impl Fn() -> Request<Body>) -> Reply {
    let first = send(app, make()).await;
    for attempt in 2..=3 {
        let again = send(app, make()).await;
        assert_eq!(
            (
                again.status,
                again.kind,
                &again.www_authenticate,
                &again.body
            ),
            (
                first.status,
                first.kind,
                &first.www_authenticate,
                &first.body
            ),
            "attempt {attempt} differs from the first"
        );
    }
    first
}

fn assert_accepted(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.kind, None, "{reply:?}");
}

/// 401 with a challenge without `error`: as if no token had been sent.
fn assert_ignored(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    assert_eq!(reply.kind, Some(ErrorKind::MissingCredentials), "{reply:?}");
    assert_eq!(reply.www_authenticate.as_deref(), Some(REALM_ONLY));
}

fn assert_invalid_request(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    assert_eq!(reply.kind, Some(ErrorKind::InvalidRequest), "{reply:?}");
    let challenge = reply.www_authenticate.as_deref().unwrap_or_default();
    assert!(
        challenge.contains(r#"error="invalid_request""#),
        "{challenge}"
    );
}

// ---------------------------------------------------------------------------------------------
// One place, two places

#[tokio::test]
async fn each_source_is_accepted_when_enabled_and_ignored_when_not() {
    let issuer = TestIssuer::start().await;
    let all = app(guard(&issuer, every_source()), true);
    let none = app(guard(&issuer, []), true);
    for place in PLACES {
        let token = issuer.token().client_id("c1").sign();
        let reply = send3(&all, || request_with(&token, &[place])).await;
        assert_accepted(&reply);
        if place == Place::Form {
            assert_eq!(reply.body, format!("item=1&access_token={token}"));
        } else {
            assert_eq!(reply.body, "ok c1", "{place:?}");
        }

        let reply = send3(&none, || request_with(&token, &[place])).await;
        match place {
            Place::Authorization => assert_accepted(&reply),
            // A query-string token is refused wherever the query source does not apply.
            Place::Query => assert_invalid_request(&reply),
            _ => assert_ignored(&reply),
        }
    }
    // Each source alone, the others off.
    for (source, place) in every_source().into_iter().zip(&PLACES[1..]) {
        let only = app(guard(&issuer, [source.clone()]), true);
        for other in &PLACES[1..] {
            let token = issuer.token().sign();
            let reply = send3(&only, || request_with(&token, &[*other])).await;
            match (other == place, other) {
                (true, _) => assert_accepted(&reply),
                (false, Place::Query) => assert_invalid_request(&reply),
                (false, _) => assert_ignored(&reply),
            }
        }
    }
}

#[tokio::test]
async fn a_token_in_two_places_is_invalid_request() {
    let issuer = TestIssuer::start().await;
    let all = app(guard(&issuer, every_source()), true);
    let token = issuer.token().sign();
    // The token valid and warm in the cache: the refusal is not about the token.
    assert_accepted(&send3(&all, || request_with(&token, &[Place::Authorization])).await);
    for (i, first) in PLACES.iter().enumerate() {
        for second in &PLACES[i + 1..] {
            let reply = send3(&all, || request_with(&token, &[*first, *second])).await;
            assert_invalid_request(&reply);
        }
    }
    // Two different tokens are no better than one token twice.
    let other = issuer.token().sign();
    let reply = send3(&all, || {
        let mut request = request_with(&token, &[Place::Cookie]);
        request
            .headers_mut()
            .insert(HEADER, other.parse().expect("a header value"));
        request
    })
    .await;
    assert_invalid_request(&reply);
    // Another scheme in `Authorization` is no token: the cookie stands alone.
    let reply = send3(&all, || {
        let mut request = request_with(&token, &[Place::Cookie]);
        request.headers_mut().insert(
            "authorization",
            "Basic dTpw".parse().expect("a header value"),
        );
        request
    })
    .await;
    assert_accepted(&reply);
}

// ---------------------------------------------------------------------------------------------
// The query string

#[tokio::test]
async fn query_tokens_are_read_on_websocket_upgrades_only() {
    let issuer = TestIssuer::start().await;
    let app = app(guard(&issuer, [TokenSource::websocket_query()]), false);
    let token = issuer.token().sign();
    let upgrade = |connection: &'static str, upgrade: &'static str| {
        let token = token.clone();
        move || {
            Request::get(format!("/?access_token={token}"))
                .header("connection", connection)
                .header("upgrade", upgrade)
                .body(Body::empty())
                .unwrap()
        }
    };
    assert_accepted(&send3(&app, upgrade("Upgrade", "websocket")).await);
    assert_accepted(&send3(&app, upgrade("keep-alive, upgrade", "WebSocket")).await);
    // A plain GET, or an upgrade to something else, with the token in the query: 400 even
    // with the source enabled.
    let plain = || {
        Request::get(format!("/?access_token={token}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_invalid_request(&send3(&app, plain).await);
    assert_invalid_request(&send3(&app, upgrade("keep-alive", "websocket")).await);
    assert_invalid_request(&send3(&app, upgrade("upgrade", "h2c")).await);
    // The parameter twice, or not a b64token.
    let twice = || {
        Request::get(format!("/?access_token={token}&access_token={token}"))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .body(Body::empty())
            .unwrap()
    };
    assert_invalid_request(&send3(&app, twice).await);
    let spaced = || {
        Request::get("/?access_token=a%20b")
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .body(Body::empty())
            .unwrap()
    };
    assert_invalid_request(&send3(&app, spaced).await);
}

// ---------------------------------------------------------------------------------------------
// The form body

/// A request body that arrives in the given chunks, its size unknown in advance.
struct Chunks(VecDeque<Bytes>);

impl HttpBody for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

fn chunked(chunks: &[&str]) -> Body {
    Body::new(Chunks(
        chunks
            .iter()
            .map(|c| Bytes::copy_from_slice(c.as_bytes()))
            .collect(),
    ))
}

fn post(content_type: &str, body: Body) -> Request<Body> {
    Request::post("/")
        .header("content-type", content_type)
        .body(body)
        .unwrap()
}

#[tokio::test]
async fn form_tokens_are_read_from_posted_form_bodies_only() {
    let issuer = TestIssuer::start().await;
    let app = app(guard(&issuer, [TokenSource::form_body()]), true);
    let token = issuer.token().sign();
    let form = format!("access_token={token}");
    for content_type in [
        FORM,
        "Application/X-WWW-Form-Urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
    ] {
        let reply = send3(&app, || post(content_type, Body::from(form.clone()))).await;
        assert_accepted(&reply);
        assert_eq!(reply.body, form);
    }
    // A GET with a form body, a PUT, a JSON body, a multipart body: not read.
    let get = || {
        Request::get("/")
            .header("content-type", FORM)
            .body(Body::from(form.clone()))
            .unwrap()
    };
    assert_ignored(&send3(&app, get).await);
    let put = || {
        Request::put("/")
            .header("content-type", FORM)
            .body(Body::from(form.clone()))
            .unwrap()
    };
    assert_ignored(&send3(&app, put).await);
    let json = format!(r#"{{"access_token":"{token}"}}"#);
    assert_ignored(&send3(&app, || post("application/json", Body::from(json.clone()))).await);
    assert_ignored(
        &send3(&app, || {
            post("multipart/form-data; boundary=x", Body::from(form.clone()))
        })
        .await,
    );
    // A form without the field.
    assert_ignored(&send3(&app, || post(FORM, Body::from("item=1"))).await);
}

#[tokio::test]
async fn the_form_body_reaches_the_handler_unchanged() {
    let issuer = TestIssuer::start().await;
    let app = app(guard(&issuer, every_source()), true);
    let token = issuer.token().sign();
    // Encoded fields, and the token in the middle of a body sent in pieces.
    let pieces = [
        "name=J%C3%BCrgen+M&note=a%26b%3Dc&access_tok",
        &format!("en={token}"),
        "&last=",
        "",
        "1",
    ];
    let whole: String = pieces.concat();
    let reply = send3(&app, || post(FORM, chunked(&pieces))).await;
    assert_accepted(&reply);
    assert_eq!(reply.body, whole);
    // The token in the header, a form body without it: read and handed on all the same.
    let reply = send3(&app, || {
        let mut request = post(FORM, Body::from("a=1&b=2"));
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a header value"),
        );
        request
    })
    .await;
    assert_accepted(&reply);
    assert_eq!(reply.body, "a=1&b=2");
    // A body the layer does not read streams through untouched.
    let json = r#"{"a": [1, 2]}"#;
    let reply = send3(&app, || {
        let mut request = post("application/json", chunked(&[json]));
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a header value"),
        );
        request
    })
    .await;
    assert_accepted(&reply);
    assert_eq!(reply.body, json);
}

#[tokio::test]
async fn malformed_form_bodies_are_invalid_request_when_the_source_is_enabled() {
    let issuer = TestIssuer::start().await;
    let enabled = app(guard(&issuer, [TokenSource::form_body()]), true);
    let disabled = app(guard(&issuer, []), true);
    let token = issuer.token().sign();
    for body in [
        format!("access_token={token}&access_token={token}"),
        format!("note=caf\u{e9}&access_token={token}"),
        "access_token=a%zz".to_owned(),
        "access_token=a+b".to_owned(),
        "access_token=".to_owned(),
    ] {
        let reply = send3(&enabled, || post(FORM, Body::from(body.clone()))).await;
        assert_invalid_request(&reply);
        // Off, the body is the handler's business.
        let reply = send3(&disabled, || post(FORM, Body::from(body.clone()))).await;
        assert_ignored(&reply);
    }
    // `%2B` is how a `+` in a token travels in a form.
    let reply = send3(&enabled, || post(FORM, Body::from("access_token=a%2Bb"))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    assert_eq!(
        reply.kind,
        Some(ErrorKind::Malformed),
        "decoded, then judged"
    );
}

#[tokio::test]
async fn an_oversized_form_body_is_refused_with_413() {
    let issuer = TestIssuer::start().await;
    let app = app(guard(&issuer, [TokenSource::form_body()]), true);
    let token = issuer.token().sign();
    let limit = bearer_guard::defaults::MAX_FORM_BODY_BYTES;
    let padded = |len: usize| {
        let head = format!("access_token={token}&pad=");
        format!("{head}{}", "x".repeat(len - head.len()))
    };
    // At the limit: read; one byte over: refused, whether its size is known up front or not.
    let at_limit = padded(limit);
    let reply = send3(&app, || post(FORM, Body::from(at_limit.clone()))).await;
    assert_accepted(&reply);
    assert_eq!(reply.body.len(), limit);
    let over = padded(limit + 1);
    for body in [
        Body::from(over.clone()),
        chunked(&[&over[..1000], &over[1000..]]),
    ] {
        let reply = send(&app, post(FORM, body)).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{reply:?}");
        assert_eq!(reply.body, "");
    }
    // The limit is the layer's, and applies to form posts only.
    let small = Router::new()
        .route("/", axum::routing::post(|body: Bytes| async move { body }))
        .route_layer(FormTokenLayer::new().max_body_bytes(10));
    let reply = send(&small, post(FORM, Body::from("a=123456789"))).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    let reply = send(&small, post("text/plain", Body::from("a=123456789"))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "a=123456789");
}

#[tokio::test]
async fn a_guard_reading_forms_without_the_form_layer_answers_500_and_says_why_once() {
    let logs = CapturedLogs::global();
    let issuer = TestIssuer::start().await;
    let token = issuer.token().sign();
    let missing = app(guard(&issuer, [TokenSource::form_body()]), false);
    // The layers in the wrong order: the form layer inside the guard.
    let misordered = Router::new()
        .route("/", get(|| async { "ok" }).post(|| async { "ok" }))
        .route_layer(FormTokenLayer::new())
        .route_layer(guard(&issuer, [TokenSource::form_body()]));
    for app in [&missing, &misordered] {
        for place in [Place::Authorization, Place::Form] {
            let reply = send3(app, || request_with(&token, &[place])).await;
            assert_eq!(
                reply.status,
                StatusCode::INTERNAL_SERVER_ERROR,
                "never a 401 for a valid token: {reply:?}"
            );
            assert_eq!(reply.kind, Some(ErrorKind::FormLayerMissing));
            assert_eq!(reply.www_authenticate, None);
        }
    }
    let said = logs
        .text()
        .matches("found no FormTokenLayer in front of it")
        .count();
    assert_eq!(said, 1, "{}", logs.text());
    assert!(
        logs.text().contains("ERROR bearer_guard"),
        "{}",
        logs.text()
    );
}

// ---------------------------------------------------------------------------------------------
// Cookies and custom headers

/// Builds GET `/` requests with one `name` header line per value.
fn with_headers(name: &'static str, values: Vec<String>) -> impl Fn() -> Request<Body> {
    move || {
        values
            .iter()
            .fold(Request::get("/"), |b, v| b.header(name, v))
            .body(Body::empty())
            .unwrap()
    }
}

#[tokio::test]
async fn cookies_are_read_from_every_cookie_header_and_never_ambiguously() {
    let issuer = TestIssuer::start().await;
    let app = app(guard(&issuer, [TokenSource::cookie(COOKIE)]), false);
    let token = issuer.token().sign();
    let with_cookies = |values| with_headers("cookie", values);
    for accepted in [
        vec![format!("{COOKIE}={token}")],
        vec![format!("a=1; {COOKIE}={token}; b=2")],
        vec![format!("a=1;{COOKIE}={token};b=2")],
        vec![format!("  {COOKIE} = {token} ;")],
        vec![format!("{COOKIE}=\"{token}\"")],
        vec![
            "a=1".to_owned(),
            format!("{COOKIE}={token}"),
            "b=2".to_owned(),
        ],
        vec![format!("flag; {COOKIE}={token}")],
    ] {
        let reply = send3(&app, with_cookies(accepted.clone())).await;
        assert_accepted(&reply);
    }
    for ignored in [
        vec![format!("AT={token}")],
        vec![format!("{COOKIE}x={token}")],
        vec![format!("x{COOKIE}={token}")],
        vec![format!("a={COOKIE}={token}")],
    ] {
        let reply = send3(&app, with_cookies(ignored.clone())).await;
        assert_ignored(&reply);
    }
    for malformed in [
        vec![format!("{COOKIE}={token}; {COOKIE}={token}")],
        vec![format!("{COOKIE}={token}"), format!("{COOKIE}={token}")],
        vec![format!("{COOKIE}=")],
        vec![format!("{COOKIE}=\"{token}")],
        vec![format!("{COOKIE}=Bearer {token}")],
    ] {
        let reply = send3(&app, with_cookies(malformed.clone())).await;
        assert_invalid_request(&reply);
    }
}

#[tokio::test]
async fn a_custom_header_holds_the_whole_token_once() {
    let issuer = TestIssuer::start().await;
    let app = app(guard(&issuer, [TokenSource::header(HEADER)]), false);
    let token = issuer.token().sign();
    let with_values = |values| with_headers("x-access-token", values);
    assert_accepted(&send3(&app, with_values(vec![token.clone()])).await);
    for malformed in [
        vec![token.clone(), token.clone()],
        vec![format!("Bearer {token}")],
        vec![String::new()],
    ] {
        assert_invalid_request(&send3(&app, with_values(malformed)).await);
    }
}

#[tokio::test]
async fn token_failures_are_the_same_whatever_the_source() {
    let issuer = TestIssuer::start().await;
    let app = app(guard(&issuer, every_source()), true);
    for (token, kind) in [
        (issuer.token().expired().sign(), ErrorKind::Expired),
        (
            issuer.token().audience("https://elsewhere.example").sign(),
            ErrorKind::InvalidAudience,
        ),
    ] {
        for place in PLACES {
            let reply = send3(&app, || request_with(&token, &[place])).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{place:?}: {reply:?}"
            );
            assert_eq!(reply.kind, Some(kind), "{place:?}");
        }
    }
}

#[tokio::test]
async fn tokens_never_reach_the_logs_whatever_the_source() {
    let logs = CapturedLogs::global();
    let issuer = TestIssuer::start().await;
    let app = app(guard(&issuer, every_source()), true);
    let tokens = [
        issuer.token().expired().sign(),
        issuer.token().sign(),
        issuer.token().signed_by_unknown_key().sign(),
    ];
    for token in &tokens {
        for place in PLACES {
            send(&app, request_with(token, &[place])).await;
            send(&app, request_with(token, &[place, Place::Cookie])).await;
        }
    }
    let text = logs.text();
    for token in &tokens {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!text.contains(signature), "a token reached the logs");
    }
    assert!(text.contains("more than one place"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[tokio::test]
async fn invalid_sources_are_refused_when_the_guard_is_built() {
    let issuer = TestIssuer::start().await;
    let build = |sources: Vec<TokenSource>| {
        sources
            .into_iter()
            .try_fold(
                GuardLayer::new(issuer.validator()),
                GuardLayer::token_source,
            )
            .map(drop)
    };
    for bad in [
        vec![TokenSource::header("Authorization")],
        vec![TokenSource::header("x token")],
        vec![TokenSource::header("cookie")],
        vec![TokenSource::cookie("a b")],
        vec![TokenSource::cookie("")],
        vec![TokenSource::cookie("t"), TokenSource::cookie("t")],
        vec![TokenSource::header("X-T"), TokenSource::header("x-t")],
        vec![TokenSource::form_body(), TokenSource::form_body()],
    ] {
        let error = build(bad.clone()).expect_err("refused");
        assert!(
            matches!(
                &error,
                ConfigError::InvalidTokenSource {
                    setting: "token_source",
                    ..
                }
            ),
            "{bad:?}: {error:?}"
        );
        assert!(error.to_string().starts_with("token_source "), "{error}");
    }
    assert!(build(every_source().into()).is_ok());
}
