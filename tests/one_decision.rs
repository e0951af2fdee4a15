//! One decision per request, whatever path it takes: a token answered from the verified-token
//! cache meets every rule a cold one meets (the guard-wide requirement, optional mode, the
//! rejection handler), and every refusal can be explained from the logs.
#![cfg(feature = "axum")]

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Response};
use axum::routing::get;
use bearer_guard::{ErrorKind, GuardLayer, Rejection, RequireScopeLayer, ScopeRequirement};
use common::logs::CapturedLogs;
use common::*;
use jsonwebtoken::Algorithm;
use serde_json::json;

const NEEDS_ADMIN: &str = r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="admin""#;

fn strict_guard(validator: bearer_guard::Validator) -> GuardLayer {
    GuardLayer::new(validator).require(ScopeRequirement::all(["admin"]))
}

#[tokio::test]
async fn a_token_lacking_the_guard_wide_scope_is_refused_every_time() {
    let idp = IdpServer::start().await;
    let app = app_with(strict_guard(validator(&idp.issuer)));
    // "read write": valid, but not admin. Sent more often than it takes to enter the cache.
    let token = rs_token(&idp.issuer, json!({}));
    for attempt in 1..=5 {
        let reply = send(&app, request("/whoami", &[&bearer(&token)])).await;
        assert_eq!(reply.status, 403, "attempt {attempt}: {reply:?}");
        assert_eq!(reply.www_authenticate.as_deref(), Some(NEEDS_ADMIN));
        assert_eq!(reply.kind, Some(ErrorKind::InsufficientScope));
    }
    // The same guard admits a token that has the scope, cold and cached.
    let admin = rs_token(&idp.issuer, json!({"scope": "admin"}));
    for attempt in 1..=5 {
        let reply = send(&app, request("/whoami", &[&bearer(&admin)])).await;
        assert_eq!(reply.status, 200, "attempt {attempt}: {reply:?}");
    }
}

#[tokio::test]
async fn a_token_warmed_through_another_guard_is_still_refused_by_the_strict_one() {
    let idp = IdpServer::start().await;
    let shared = validator(&idp.issuer);
    let lenient = app(shared.clone());
    let strict = app_with(strict_guard(shared));
    let token = rs_token(&idp.issuer, json!({}));
    for _ in 0..3 {
        let reply = send(&lenient, request("/whoami", &[&bearer(&token)])).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    // The token is in the shared validator's cache now; the strict guard still decides.
    for attempt in 1..=5 {
        let reply = send(&strict, request("/whoami", &[&bearer(&token)])).await;
        assert_eq!(reply.status, 403, "attempt {attempt}: {reply:?}");
        assert_eq!(reply.kind, Some(ErrorKind::InsufficientScope));
    }
}

#[tokio::test]
async fn optional_with_a_guard_wide_requirement_needs_a_token() {
    let idp = IdpServer::start().await;
    let app = app_with(strict_guard(validator(&idp.issuer)).optional());
    for _ in 0..2 {
        let reply = send(&app, request("/hello", &[])).await;
        assert_eq!(reply.status, 401, "{reply:?}");
        // The 401 names what the guard requires, so the client knows what to ask for.
        assert_eq!(
            reply.www_authenticate.as_deref(),
            Some(r#"Bearer realm="api", scope="admin""#)
        );
        assert_eq!(reply.kind, Some(ErrorKind::MissingCredentials));
    }
    let admin = rs_token(&idp.issuer, json!({"scope": "admin"}));
    let lacking = rs_token(&idp.issuer, json!({}));
    for _ in 0..3 {
        assert_eq!(
            send(&app, request("/hello", &[&bearer(&admin)])).await.body,
            "hello client-1"
        );
        let reply = send(&app, request("/hello", &[&bearer(&lacking)])).await;
        assert_eq!(reply.status, 403, "{reply:?}");
    }
    // Without a requirement, optional still means anonymous access.
    let open = app_with(GuardLayer::new(validator(&idp.issuer)).optional());
    assert_eq!(send(&open, request("/hello", &[])).await.body, "anonymous");
}

fn json_rejection(rejection: Rejection) -> Response<Body> {
    let mut response = rejection.to_response::<Body>();
    *response.body_mut() = Body::from(format!(r#"{{"error":"{}"}}"#, rejection.kind().code()));
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

#[tokio::test]
async fn the_guard_handler_shapes_the_scope_layers_unless_they_have_their_own() {
    let idp = IdpServer::start().await;
    let own = |rejection: Rejection| {
        let mut response = rejection.to_response::<Body>();
        *response.body_mut() = Body::from("the layer's own");
        response
    };
    let app = Router::new()
        .route("/read", get(|| async { "ok" }))
        .route_layer(RequireScopeLayer::all(["admin"]))
        .merge(
            Router::new()
                .route("/write", get(|| async { "ok" }))
                .route_layer(RequireScopeLayer::all(["admin"]).on_rejection(own)),
        )
        .route_layer(GuardLayer::new(validator(&idp.issuer)).on_rejection(json_rejection));
    let token = rs_token(&idp.issuer, json!({}));
    for _ in 0..3 {
        let reply = send(&app, request("/read", &[&bearer(&token)])).await;
        assert_eq!(reply.status, 403);
        assert_eq!(reply.body, r#"{"error":"insufficient_scope"}"#);
        assert_eq!(reply.headers["content-type"], "application/json");
        assert_eq!(reply.www_authenticate.as_deref(), Some(NEEDS_ADMIN));
        assert_eq!(reply.kind, Some(ErrorKind::InsufficientScope));

        let reply = send(&app, request("/write", &[&bearer(&token)])).await;
        assert_eq!(reply.status, 403);
        assert_eq!(reply.body, "the layer's own");
        assert_eq!(reply.www_authenticate.as_deref(), Some(NEEDS_ADMIN));
    }
    // The guard's own rejections use the same handler.
    let reply = send(&app, request("/read", &[])).await;
    assert_eq!(reply.body, r#"{"error":"missing_credentials"}"#);
}

#[tokio::test]
async fn a_scope_layer_without_a_guard_answers_500_and_says_why_once() {
    let logs = CapturedLogs::global();
    let idp = IdpServer::start().await;
    // The layers in the wrong order: the scope check outside (after) the guard.
    let app = Router::new()
        .route("/read", get(|| async { "ok" }))
        .route_layer(GuardLayer::new(validator(&idp.issuer)))
        .route_layer(RequireScopeLayer::all(["read"]));
    let token = rs_token(&idp.issuer, json!({}));
    for _ in 0..3 {
        let reply = send(&app, request("/read", &[&bearer(&token)])).await;
        assert_eq!(
            reply.status, 500,
            "never a 401 for a valid token: {reply:?}"
        );
        assert_eq!(reply.www_authenticate, None);
        assert_eq!(reply.kind, Some(ErrorKind::GuardMissing));
    }
    let said = logs
        .text()
        .matches("RequireScopeLayer found no GuardLayer in front of it")
        .count();
    assert_eq!(said, 1, "{}", logs.text());
    assert!(
        logs.text().contains("ERROR bearer_guard"),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn every_refusal_is_explained_at_debug_without_the_token() {
    let logs = CapturedLogs::global();
    let idp = IdpServer::start().await;
    let app = app_with(strict_guard(validator(&idp.issuer)));
    let expired = rs_token(
        &idp.issuer,
        json!({"exp": now() - 3600, "jti": "explain-expired"}),
    );
    let untrusted = rs_token("https://elsewhere.example", json!({"jti": "explain-iss"}));
    let lacking = rs_token(&idp.issuer, json!({"jti": "explain-scope"}));
    for token in [&expired, &untrusted, &lacking] {
        send(&app, request("/whoami", &[&bearer(token)])).await;
    }
    send(&app, request("/whoami", &[])).await;
    send(&app, request("/whoami", &["Bearer a b"])).await;
    let per_route = app_with(GuardLayer::new(validator(&idp.issuer)));
    send(&per_route, request("/admin", &[&bearer(&lacking)])).await;

    let text = logs.text();
    let lines: Vec<&str> = text.lines().collect();
    let line_with = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no log line with {needle:?} in:\n{text}"))
            .to_string()
    };
    let expired_line = line_with("kind=\"token_expired\"");
    assert!(
        expired_line.starts_with("DEBUG bearer_guard"),
        "{expired_line}"
    );
    for field in [
        &format!("issuer={:?}", idp.issuer),
        "kid=\"rsa-1\"",
        "alg=RS256",
    ] {
        assert!(expired_line.contains(field), "{field} in {expired_line}");
    }
    let untrusted_line = line_with("kind=\"invalid_issuer\"");
    assert!(!untrusted_line.contains("issuer="), "{untrusted_line}");
    assert!(untrusted_line.contains("kid=\"rsa-1\""), "{untrusted_line}");
    line_with("kind=\"insufficient_scope\"");
    let route_line = line_with("requirement=\"route\"");
    assert!(route_line.contains("scopes missing"), "{route_line}");
    assert!(
        route_line.contains(r#"required=All("admin")"#),
        "{route_line}"
    );
    line_with("kind=\"missing_credentials\"");
    line_with("kind=\"invalid_request\"");
    for token in [&expired, &untrusted, &lacking] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!text.contains(signature), "a token reached the logs");
    }
}

/// A token whose payload is this exact JSON text.
fn token_with_payload_text(payload: &str) -> String {
    let input = format!("{}.{}", b64_json(&header("RS256", "rsa-1")), b64(payload));
    let signature = sign_raw(
        input.as_bytes(),
        &Key::Rsa2048.encoding_key(),
        Algorithm::RS256,
    );
    format!("{input}.{}", b64(signature))
}

#[tokio::test]
async fn payloads_with_a_member_named_twice_are_refused() {
    let idp = IdpServer::start().await;
    let app = app(validator(&idp.issuer));
    let iss = &idp.issuer;
    let (past, future) = (now() - 60, now() + 600);
    let head = format!(r#""iss":"{iss}","aud":"{AUDIENCE}","scope":"read""#);
    // Read as the last `exp` wins, this would be valid; read as the first, expired.
    let twice = token_with_payload_text(&format!(r#"{{{head},"exp":{past},"exp":{future}}}"#));
    let nested = token_with_payload_text(&format!(
        r#"{{{head},"exp":{future},"realm_access":{{"roles":["x"],"roles":["admin"]}}}}"#
    ));
    let control = token_with_payload_text(&format!(r#"{{{head},"exp":{future}}}"#));
    for _ in 0..3 {
        for token in [&twice, &nested] {
            let reply = send(&app, request("/read", &[&bearer(token)])).await;
            assert_eq!(reply.status, 401, "{reply:?}");
            assert_eq!(reply.kind, Some(ErrorKind::Malformed));
        }
        let reply = send(&app, request("/read", &[&bearer(&control)])).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
}

#[tokio::test]
async fn absurd_times_are_refused() {
    let idp = IdpServer::start().await;
    let app = app(validator(&idp.issuer));
    for exp in [json!(1e300), json!(u64::MAX), json!(253_402_300_800_i64)] {
        let token = rs_token(&idp.issuer, json!({ "exp": exp }));
        for _ in 0..3 {
            let reply = send(&app, request("/read", &[&bearer(&token)])).await;
            assert_eq!(reply.status, 401, "exp {exp}: {reply:?}");
            assert_eq!(reply.kind, Some(ErrorKind::InvalidClaim));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tower contract: readiness is the inner service's

/// An inner service that is never ready: its `poll_ready` fails.
#[derive(Clone)]
struct NeverReady;

impl tower::Service<axum::http::Request<Body>> for NeverReady {
    type Response = Response<Body>;
    type Error = &'static str;
    type Future = std::future::Ready<Result<Response<Body>, &'static str>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Err("inner service not ready"))
    }

    fn call(&mut self, _: axum::http::Request<Body>) -> Self::Future {
        std::future::ready(Ok(Response::new(Body::empty())))
    }
}

#[tokio::test]
async fn both_layers_forward_the_inner_services_readiness() {
    use tower::{Layer, ServiceExt};
    let idp = IdpServer::start().await;
    let guard = GuardLayer::new(validator(&idp.issuer)).layer(NeverReady);
    assert_eq!(
        guard.oneshot(request("/", &[])).await.unwrap_err(),
        "inner service not ready"
    );
    let scope = RequireScopeLayer::all(["read"]).layer(NeverReady);
    assert_eq!(
        scope.oneshot(request("/", &[])).await.unwrap_err(),
        "inner service not ready"
    );
}

/// A cached token skips the scan of its alphabet (being byte for byte a token that passed
/// validation proves it well-formed): a token that differs from it in any way is scanned and
/// judged as if nothing were cached.
#[tokio::test]
async fn a_token_near_a_cached_one_is_judged_as_if_nothing_were_cached() {
    let idp = IdpServer::start().await;
    let app = app(validator(&idp.issuer));
    let token = rs_token(&idp.issuer, json!({}));
    let middle = token.len() / 2;
    let malformed = [
        format!("{token}!"),
        format!("{}!{}", &token[..middle], &token[middle + 1..]),
        format!("{} {}", &token[..middle], &token[middle..]),
        format!("{token}\t"),
    ];
    // Twice before the token is cached, twice after (a token is cached on its second
    // validation): the same answers.
    for round in 1..=4 {
        let reply = send(&app, request("/whoami", &[&bearer(&token)])).await;
        assert_eq!(reply.status, 200, "round {round}: {reply:?}");
        // Another spelling of the same token: extra spaces after the scheme.
        let spaced = format!("Bearer   {token}");
        let reply = send(&app, request("/whoami", &[&spaced])).await;
        assert_eq!(reply.status, 200, "round {round}: {reply:?}");
        for value in &malformed {
            let reply = send(&app, request("/whoami", &[&bearer(value)])).await;
            assert_eq!(reply.status, 400, "round {round}: {reply:?}");
            assert_eq!(reply.kind, Some(ErrorKind::InvalidRequest));
        }
        // Well-formed, one byte longer: judged by validation.
        let padded = format!("{token}=");
        let reply = send(&app, request("/whoami", &[&bearer(&padded)])).await;
        assert_eq!(reply.status, 401, "round {round}: {reply:?}");
        // The cached token twice is still two credentials.
        let reply = send(
            &app,
            request("/whoami", &[&bearer(&token), &bearer(&token)]),
        )
        .await;
        assert_eq!(reply.status, 400, "round {round}: {reply:?}");
    }
}
