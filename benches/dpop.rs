//! What DPoP adds to a request. Run with `cargo bench --bench dpop` (about two minutes).
//!
//! - `dpop/bearer_cached`: a bearer token the guard has verified before, through a guard
//!   with DPoP allowed and a no-op inner service.
//! - `dpop/dpop_cached`: the same token, DPoP-bound, with a fresh ES256 proof per request
//!   (proofs signed before timing): the token comes from the cache, the proof is checked in
//!   full and recorded in the memory replay store.
//! - `dpop/dpop_cached_one_proof_again`: one proof again and again, through a store that
//!   never refuses it: `dpop_cached` with the proof's bytes warm in the CPU cache.
//! - `dpop/es256_verify_alone`: one ES256 signature check with aws-lc on a key parsed before
//!   (as the guard holds the key of a proof header it has seen), each time of another proof
//!   (as requests bring): the floor of any proof check.
//! - `dpop/es256_verify_one_signature_again`: the same signature each time (what this group
//!   measured as `es256_verify_alone` before: the branch predictor learns it).
//! - `dpop/es256_parse_then_verify`, `dpop/es256_unparsed_verify`: `es256_verify_alone` with
//!   the key's point parsed first (a client key the guard has not seen yet).
//!
//! Target (issue 15, target 7): `dpop_cached − bearer_cached − es256_verify_alone ≤ 3 µs`.
//! After criterion's groups, the components are timed again side by side, round after round
//! in turns, and that overhead is printed (`dpop overhead: …`), so that one run reads it off
//! under the same load. `cargo bench --bench dpop -- overhead` prints only that.

mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::GuardLayer;
use bearer_guard::dpop::{Dpop, DpopKey, MemoryReplayStore};
use criterion::Criterion;
use http::{HeaderValue, Request, Response};
use jsonwebtoken::Algorithm;
use serde_json::json;
use tower::{Layer, Service, ServiceExt, service_fn};

use common::{BenchKey, validator};

const URL: &str = "https://api.example.com";

/// Distinct proofs for the bare verify.
const SIGNATURES: usize = 1024;

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

/// Everything the measurements share.
struct World {
    rt: tokio::runtime::Runtime,
    dpop_key: DpopKey,
    bound: String,
    bearer: HeaderValue,
    dpop: HeaderValue,
    /// Signing inputs of real request proofs and their signatures, each another, for the
    /// bare verify; and the key's point.
    signed: Vec<(String, Vec<u8>)>,
    point: Vec<u8>,
}

impl World {
    fn new() -> Self {
        let key = BenchKey::load(Algorithm::RS256);
        let dpop_key = DpopKey::generate();
        let bound = key.token_with_claim(Some(("cnf", &json!({ "jkt": dpop_key.thumbprint() }))));
        let unbound = key.token();
        let bearer = HeaderValue::try_from(format!("Bearer {unbound}")).expect("header");
        let dpop = HeaderValue::try_from(format!("DPoP {bound}")).expect("header");
        // Real proofs' signing inputs: request proofs with `ath`. Each verify checks another
        // signature, as requests bring: verifying one again and again lets the branch
        // predictor learn aws-lc's variable-time scalar multiplication, which requests never
        // do (a few per cent faster: `dpop_cached_one_proof_again`, a whole request with one
        // proof again, comes out below `es256_verify_alone`).
        let signed = (0..SIGNATURES)
            .map(|_| {
                let proof = dpop_key
                    .proof("GET", &format!("{URL}/orders"))
                    .access_token(&bound)
                    .sign();
                let (input, signature) = proof.rsplit_once('.').expect("a JWS");
                let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
                (input.to_owned(), signature)
            })
            .collect();
        let jwk = dpop_key.public_jwk();
        let mut point = vec![4u8];
        for member in ["x", "y"] {
            let coordinate = jwk[member].as_str().expect("a coordinate");
            point.extend(URL_SAFE_NO_PAD.decode(coordinate).expect("base64url"));
        }
        Self {
            rt: runtime(),
            signed,
            point,
            dpop_key,
            bound,
            bearer,
            dpop,
        }
    }

    fn proof(&self) -> Option<HeaderValue> {
        let proof = self
            .dpop_key
            .proof("GET", &format!("{URL}/orders"))
            .access_token(&self.bound)
            .sign();
        Some(HeaderValue::try_from(proof).expect("header"))
    }

    /// A guard with DPoP allowed, a no-op inner service and room for every proof of the run
    /// (the store must not fill up and answer 503), having seen both tokens once.
    fn guard<S: bearer_guard::dpop::ReplayStore>(
        &self,
        store: S,
    ) -> impl Service<Request<()>, Response = Response<()>, Error = Infallible> + use<S> {
        let noop = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
        let mut service = GuardLayer::new(validator(10_000))
            .dpop(Dpop::new(URL).replay_store(store))
            .expect("valid DPoP settings")
            .layer(noop);
        // One untimed request each: the tokens are new the first time.
        for first in [
            request(&self.bearer, None),
            request(&self.dpop, self.proof()),
        ] {
            let response = self
                .rt
                .block_on(async { service.ready().await.unwrap().call(first).await });
            assert_eq!(response.expect("infallible").status(), 200);
        }
        service
    }

    /// Verifies the `i`th signature (modulo their number).
    fn es256_verify(&self, key: &ParsedPublicKey, i: usize) {
        let (input, signature) = &self.signed[i % self.signed.len()];
        key.verify_sig(black_box(input.as_bytes()), black_box(signature))
            .expect("verifies");
    }
}

fn dpop(c: &mut Criterion, world: &World) {
    let rt = &world.rt;
    let mut service = world.guard(MemoryReplayStore::new(50_000_000));
    let mut group = c.benchmark_group("dpop");
    group.bench_function("bearer_cached", |b| {
        b.iter_custom(|iters| {
            let requests = (0..iters).map(|_| request(&world.bearer, None)).collect();
            time_calls(rt, &mut service, requests)
        });
    });
    group.bench_function("dpop_cached", |b| {
        b.iter_custom(|iters| {
            let requests = (0..iters)
                .map(|_| request(&world.dpop, world.proof()))
                .collect();
            time_calls(rt, &mut service, requests)
        });
    });
    let mut warm = world.guard(Forgetful);
    let one_proof = world.proof();
    group.bench_function("dpop_cached_one_proof_again", |b| {
        b.iter_custom(|iters| {
            let requests = (0..iters)
                .map(|_| request(&world.dpop, one_proof.clone()))
                .collect();
            time_calls(rt, &mut warm, requests)
        });
    });
    let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &world.point).expect("a point");
    let mut i = 0;
    group.bench_function("es256_verify_alone", |b| {
        b.iter(|| {
            i += 1;
            world.es256_verify(black_box(&parsed), i);
        });
    });
    group.bench_function("es256_verify_one_signature_again", |b| {
        b.iter(|| world.es256_verify(black_box(&parsed), 0));
    });
    group.bench_function("es256_parse_then_verify", |b| {
        b.iter(|| {
            i += 1;
            let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, black_box(&world.point))
                .expect("a P-256 point");
            world.es256_verify(&key, i);
        });
    });
    group.bench_function("es256_unparsed_verify", |b| {
        b.iter(|| {
            i += 1;
            let (input, signature) = &world.signed[i % world.signed.len()];
            let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, black_box(&world.point));
            key.verify(black_box(input.as_bytes()), black_box(signature))
                .expect("verifies")
        });
    });
    group.finish();
}

/// The components of target 7 timed in turns, in small batches, round after round: a
/// neighbour's load hits the rounds, not one component. Each round's overhead is computed
/// from its own figures; prints the medians, and the fastest decile's (what is left when the
/// machine is quiet).
fn overhead(world: &World) {
    const ROUNDS: usize = 101;
    let rt = &world.rt;
    let mut service = world.guard(MemoryReplayStore::new(50_000_000));
    let mut warm = world.guard(Forgetful);
    let one_proof = world.proof();
    let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &world.point).expect("a point");
    let per = |elapsed: Duration, n: u32| elapsed.as_secs_f64() * 1e6 / f64::from(n);
    let mut rounds: [Vec<f64>; 5] = Default::default();
    let mut signature = 0;
    for _ in 0..ROUNDS {
        let n = 2_000;
        let requests = (0..n).map(|_| request(&world.bearer, None)).collect();
        let bearer = per(time_calls(rt, &mut service, requests), n);
        let n = 100;
        let requests = (0..n)
            .map(|_| request(&world.dpop, world.proof()))
            .collect();
        let dpop = per(time_calls(rt, &mut service, requests), n);
        let requests = (0..n)
            .map(|_| request(&world.dpop, one_proof.clone()))
            .collect();
        let again = per(time_calls(rt, &mut warm, requests), n);
        let start = Instant::now();
        for _ in 0..n {
            signature += 1;
            world.es256_verify(black_box(&parsed), signature);
        }
        let verify = per(start.elapsed(), n);
        for (figures, figure) in
            rounds
                .iter_mut()
                .zip([bearer, dpop, again, verify, dpop - bearer - verify])
        {
            figures.push(figure);
        }
    }
    let at = |figures: &mut Vec<f64>, quantile: usize| {
        figures.sort_by(f64::total_cmp);
        figures[figures.len() * quantile / 100]
    };
    for (what, quantile) in [("medians", 50), ("fastest decile", 10)] {
        let [b, d, a, v, paired] = rounds.each_mut().map(|figures| at(figures, quantile));
        // The median of the rounds' own overheads; the fastest decile's from its components.
        let o = if quantile == 50 { paired } else { d - b - v };
        println!(
            "dpop overhead ({ROUNDS} rounds side by side, {what}): bearer_cached {b:.2} µs, \
             dpop_cached {d:.2} µs, es256_verify_alone {v:.2} µs \
             (dpop_cached_one_proof_again {a:.2} µs); \
             dpop_cached − bearer_cached − es256_verify_alone = {o:.2} µs (target ≤ 3 µs)"
        );
    }
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

fn main() {
    // `cargo bench --bench dpop -- overhead`: only the side-by-side summary. `--test` (as
    // `cargo test --benches` runs it) and `--profile-time`: only criterion's groups.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only_overhead = args.iter().any(|a| a == "overhead");
    let profiling_or_testing = args
        .iter()
        .any(|a| a == "--test" || a == "--list" || a.starts_with("--profile-time"));
    let world = World::new();
    if !only_overhead {
        let mut criterion = Criterion::default().configure_from_args();
        dpop(&mut criterion, &world);
        criterion.final_summary();
    }
    if only_overhead || !profiling_or_testing {
        overhead(&world);
    }
}
