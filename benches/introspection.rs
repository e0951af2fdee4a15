//! What an opaque token costs once its introspection answer is cached. Run with
//! `cargo bench --bench introspection` (under a minute).
//!
//! - `introspection/opaque_cached`: an opaque token whose RFC 7662 answer is cached, through
//!   the guard and a no-op inner service (target: ≤ 1 µs, the order of a cached JWT).
//! - `introspection/jwt_cached`: a JWT seen before, through the same guard (issuers that
//!   introspect do not slow the JWT path).
//!
//! The introspection endpoint is a small axum server on loopback; only the first request of
//! each token reaches it.

mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::routing::post;
use axum::{Json, Router};
use bearer_guard::{GuardLayer, Introspection, Issuer, Validator};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response};
use jsonwebtoken::Algorithm;
use serde_json::json;
use tower::{Layer, Service, ServiceExt, service_fn};

use common::{AUDIENCE, BenchKey, ISSUER, fixture};

fn introspection(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let endpoint = format!(
        "http://{}/introspect",
        listener.local_addr().expect("bound")
    );
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 3600;
    let app = Router::new().route(
        "/introspect",
        post(move || async move {
            Json(
                json!({ "active": true, "iss": "https://opaque.example", "aud": AUDIENCE,
                "exp": exp, "client_id": "billing", "sub": "billing",
                "scope": "orders:read orders:write invoices:read customers:read" }),
            )
        }),
    );
    rt.spawn(async move { axum::serve(listener, app).await });

    let validator = Validator::builder()
        .issuer(
            Issuer::new(ISSUER)
                .audience(AUDIENCE)
                .jwks(fixture("jwks.json")),
        )
        .issuer(
            Issuer::new("https://opaque.example")
                .audience(AUDIENCE)
                .introspection(
                    Introspection::new("rs", "rs-secret")
                        .endpoint(&endpoint)
                        .cache_for(Duration::from_secs(3600)),
                ),
        )
        .allow_insecure_http(true)
        .build()
        .expect("valid configuration");
    let noop = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let mut service = GuardLayer::new(validator).layer(noop);
    let opaque = HeaderValue::from_static("Bearer c2VjcmV0LW9wYXF1ZS10b2tlbi1vZi00My1jaGFycw");
    let jwt = HeaderValue::try_from(format!(
        "Bearer {}",
        BenchKey::load(Algorithm::RS256).token()
    ))
    .expect("header");
    // Untimed: the opaque token's first request calls the endpoint; the JWT's first two
    // fill the JWT cache.
    for bearer in [&opaque, &jwt, &jwt] {
        let response = rt.block_on(async {
            service
                .ready()
                .await
                .unwrap()
                .call(common::request(bearer))
                .await
        });
        assert_eq!(response.expect("infallible").status(), 200);
    }

    let mut group = c.benchmark_group("introspection");
    for (name, bearer) in [("opaque_cached", &opaque), ("jwt_cached", &jwt)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let response = service
                            .ready()
                            .await
                            .unwrap()
                            .call(common::request(bearer))
                            .await;
                        debug_assert!(response.as_ref().is_ok_and(|r| r.status() == 200));
                        black_box(response).ok();
                    }
                    start.elapsed()
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, introspection);
criterion_main!(benches);
