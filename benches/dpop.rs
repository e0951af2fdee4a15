//! What DPoP adds to a request. Run with `cargo bench --bench dpop` (about a minute).
//!
//! - `dpop/bearer_cached`: a bearer token the guard has verified before, through a guard
//!   with DPoP allowed and a no-op inner service.
//! - `dpop/dpop_cached`: the same token, DPoP-bound, with a fresh ES256 proof per request
//!   (proofs signed before timing): the token comes from the cache, the proof is checked in
//!   full and recorded in the memory replay store.
//! - `dpop/es256_verify_alone`: one ES256 signature check with aws-lc (key parsed from its
//!   point, as from a proof's `jwk`), the floor of any proof check.
//!
//! Target: `dpop_cached − bearer_cached ≤ es256_verify_alone + 3 µs`.

mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::GuardLayer;
use bearer_guard::dpop::{Dpop, DpopKey, MemoryReplayStore};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response};
use jsonwebtoken::Algorithm;
use serde_json::json;
use tower::{Layer, Service, ServiceExt, service_fn};

use common::{BenchKey, validator};

const URL: &str = "https://api.example.com";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn request(authorization: &HeaderValue, proof: Option<HeaderValue>) -> Request<()> {
    let mut request = Request::get(format!("{URL}/orders"))
        .body(())
        .expect("request");
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, authorization.clone());
    if let Some(proof) = proof {
        request.headers_mut().insert("dpop", proof);
    }
    request
}

/// Time of `requests.len()` calls, awaiting each response.
fn time_calls<S>(
    rt: &tokio::runtime::Runtime,
    service: &mut S,
    requests: Vec<Request<()>>,
) -> Duration
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    rt.block_on(async {
        let start = Instant::now();
        for request in requests {
            let response = service.ready().await.unwrap().call(request).await;
            debug_assert!(response.as_ref().is_ok_and(|r| r.status() == 200));
            black_box(response).ok();
        }
        start.elapsed()
    })
}

fn dpop(c: &mut Criterion) {
    let rt = runtime();
    let key = BenchKey::load(Algorithm::RS256);
    let dpop_key = DpopKey::generate();
    let bound = key.token_with_claim(Some(("cnf", &json!({ "jkt": dpop_key.thumbprint() }))));
    let unbound = key.token();
    let noop = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    // Room for every proof of the run: the store must not fill up and answer 503.
    let settings = Dpop::new(URL).replay_store(MemoryReplayStore::new(50_000_000));
    let mut service = GuardLayer::new(validator(10_000))
        .dpop(settings)
        .expect("valid DPoP settings")
        .layer(noop);
    let bearer = HeaderValue::try_from(format!("Bearer {unbound}")).expect("header");
    let dpop = HeaderValue::try_from(format!("DPoP {bound}")).expect("header");
    let proof = || {
        let proof = dpop_key
            .proof("GET", &format!("{URL}/orders"))
            .access_token(&bound)
            .sign();
        Some(HeaderValue::try_from(proof).expect("header"))
    };
    // One untimed request each: the tokens are new the first time.
    for first in [request(&bearer, None), request(&dpop, proof())] {
        let response = rt.block_on(async { service.ready().await.unwrap().call(first).await });
        assert_eq!(response.expect("infallible").status(), 200);
    }

    let mut group = c.benchmark_group("dpop");
    group.bench_function("bearer_cached", |b| {
        b.iter_custom(|iters| {
            let requests = (0..iters).map(|_| request(&bearer, None)).collect();
            time_calls(&rt, &mut service, requests)
        });
    });
    group.bench_function("dpop_cached", |b| {
        b.iter_custom(|iters| {
            let requests = (0..iters).map(|_| request(&dpop, proof())).collect();
            time_calls(&rt, &mut service, requests)
        });
    });
    // The same proof again and again, with a store that never refuses it: what is left of
    // `dpop_cached` when the proof's bytes are warm in the cache.
    let mut warm = GuardLayer::new(validator(10_000))
        .dpop(Dpop::new(URL).replay_store(Forgetful))
        .expect("valid DPoP settings")
        .layer(noop);
    let one_proof = proof();
    group.bench_function("dpop_cached_one_proof_again", |b| {
        b.iter_custom(|iters| {
            let requests = (0..iters)
                .map(|_| request(&dpop, one_proof.clone()))
                .collect();
            time_calls(&rt, &mut warm, requests)
        });
    });
    let sample = dpop_key.proof("GET", URL).sign();
    let (input, signature) = sample.rsplit_once('.').expect("a JWS");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    let jwk = dpop_key.public_jwk();
    let mut point = vec![4u8];
    for member in ["x", "y"] {
        let coordinate = jwk[member].as_str().expect("a coordinate");
        point.extend(URL_SAFE_NO_PAD.decode(coordinate).expect("base64url"));
    }
    group.bench_function("es256_verify_alone", |b| {
        b.iter(|| {
            let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, black_box(&point));
            key.verify(black_box(input.as_bytes()), black_box(&signature))
                .expect("verifies")
        });
    });
    group.bench_function("es256_parse_then_verify", |b| {
        b.iter(|| {
            let key = aws_lc_rs::signature::ParsedPublicKey::new(
                &ECDSA_P256_SHA256_FIXED,
                black_box(&point),
            )
            .expect("a P-256 point");
            key.verify_sig(black_box(input.as_bytes()), black_box(&signature))
                .expect("verifies")
        });
    });
    group.finish();
}

/// A replay store that records nothing (for the warm-proof measurement only).
#[derive(Debug)]
struct Forgetful;

impl bearer_guard::dpop::ReplayStore for Forgetful {
    fn record(
        &self,
        _: bearer_guard::dpop::ReplayKey,
        _: std::time::SystemTime,
    ) -> bearer_guard::dpop::RecordFuture<'_> {
        Box::pin(std::future::ready(Ok(bearer_guard::dpop::Recorded::First)))
    }
}

criterion_group!(benches, dpop);
criterion_main!(benches);
