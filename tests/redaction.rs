//! Nothing shows the token (standards.md §B.9): the Debug and Display output of the public types
//! and every tracing event emitted while tokens are validated and rejected.
//!
//! Alone in its binary: it installs the global tracing subscriber.
#![cfg(feature = "axum")]

mod common;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use bearer_guard::{Algorithm, Claims, GuardLayer, Rejection};
use common::*;
use serde_json::{Value, json};

/// The RSA-1024 key makes the validator log a skipped key.
fn jwks_with_a_skipped_key() -> Value {
    let mut jwks = fixture_jwks();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .push(Key::Rsa1024.jwk());
    jwks
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Visitor<'a>(&'a mut String);

impl tracing::field::Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut out = self.0.lock().unwrap();
        out.push_str(span.metadata().name());
        span.record(&mut Visitor(&mut out));
        out.push('\n');
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Visitor(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut out = self.0.lock().unwrap();
        let _ = write!(
            out,
            "{} {}: ",
            event.metadata().level(),
            event.metadata().target()
        );
        event.record(&mut Visitor(&mut out));
        out.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_and_tracing_never_show_the_token() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(capture.clone()).expect("first subscriber");

    // The RSA-1024 key in the set makes the validator log a skipped key.
    let server = IdpServer::start_with_jwks(&jwks_with_a_skipped_key()).await;
    let iss = server.issuer.clone();
    let v = validator(&iss);
    let app = app(v.clone());
    let now = now();
    let tokens = [
        token(Key::Rsa2048, &iss),
        rs_token(&iss, json!({"exp": now - 120})),
        rs_token(&iss, json!({"aud": "https://other.test"})),
        mint(
            &header("RS256", "unknown-kid"),
            &payload(&iss),
            Key::Rsa2048,
            Algorithm::RS256,
        ),
        mint(
            &header("ES256", "ec-p256-1"),
            &payload(&iss),
            Key::Attacker,
            Algorithm::ES256,
        ),
    ];
    let mut shown = String::new();
    for t in &tokens {
        let reply = send(&app, request("/read", &[&bearer(t)])).await;
        let error = v.validate(t).await.err();
        assert_eq!(reply.status == 200, error.is_none(), "{reply:?} {error:?}");
        let _ = write!(shown, "{reply:?} {error:?} {v:?} ");
        if let Some(e) = &error {
            let _ = write!(shown, "{e} {:?}", e.kind());
        }
    }
    // A Rejection, as a custom handler sees it.
    let seen = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&seen);
    let custom = app_with(
        GuardLayer::new(v.clone()).on_rejection(move |r: Rejection| {
            let _ = write!(sink.lock().unwrap(), "{r:?} {:?} {}", r.error(), r.error());
            r.to_response::<Body>()
        }),
    );
    for t in &tokens[1..] {
        let reply = send(&custom, request("/read", &[&bearer(t)])).await;
        assert_eq!(reply.status, 401);
    }
    let claims: Claims = v.validate(&tokens[0]).await.unwrap();
    let _ = write!(shown, "{claims:?} {}", seen.lock().unwrap());

    let logged = capture.0.lock().unwrap().clone();
    assert!(
        logged.contains("JWKS fetched"),
        "the capture works: {logged}"
    );
    assert!(logged.contains("skipping unusable JWK"), "{logged}");
    assert!(shown.contains("Rejection"), "{shown}");
    for t in &tokens {
        let signature = t.rsplit('.').next().unwrap();
        let payload = t.split('.').nth(1).unwrap();
        for (what, text) in [
            ("Debug/Display output", &shown),
            ("tracing output", &logged),
        ] {
            assert!(!text.contains(signature), "{what} shows a token signature");
            assert!(!text.contains(payload), "{what} shows a token payload");
        }
    }
}
