//! What a request costs. Run with `cargo bench --bench validate` (about three minutes).
//!
//! - `repeated_token`: one token, again and again, through the tower service over a no-op
//!   inner service (target: ≤ 1 µs), next to the no-op service alone.
//! - `new_token/<alg>`: the bare signature check against full validation of tokens the
//!   validator has never seen (issue 15: ≤ 1.08 × the bare check), with and without the token
//!   cache. Two bare checks: jsonwebtoken's `crypto::verify` with a prebuilt `DecodingKey`
//!   (the baseline; it parses the key on every call), and aws-lc's `verify_sig` on a
//!   key parsed beforehand, after decoding the signature (what the validator does for it).
//! - `flood/<alg>`: distinct tokens only, cache on and off (target: on is no slower).
//!
//! Keys and tokens: `fixtures/` (the published JWKS, given statically, so nothing is fetched).
//!
//! On a shared machine, criterion's one-function-after-the-other timing moves with the
//! neighbours' load. `NEW_TOKEN_SIDE_BY_SIDE=1 cargo bench --bench validate` instead times the
//! four `new_token` variants in turn, in short batches of the same fresh tokens, round after
//! round (the order rotating), and prints the median per token of each and their ratios.

mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bearer_guard::GuardLayer;
use criterion::{BenchmarkId, Criterion, criterion_group};
use http::{HeaderValue, Request, Response};
use jsonwebtoken::Algorithm;
use tower::{Layer, Service, ServiceExt, service_fn};

use common::{BenchKey, validator};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn repeated_token(c: &mut Criterion) {
    let rt = runtime();
    let key = BenchKey::load(Algorithm::RS256);
    let bearer = HeaderValue::try_from(format!("Bearer {}", key.token())).expect("header");
    let noop = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let request = || common::request(&bearer);

    let mut group = c.benchmark_group("repeated_token");
    group.bench_function("noop_service_alone", |b| {
        let mut service = noop;
        b.iter_custom(|iters| time_calls(&rt, &mut service, iters, request));
    });
    for (name, capacity) in [("guard_cached", 10_000), ("guard_cache_off", 0)] {
        let mut service = GuardLayer::new(validator(capacity)).layer(noop);
        // One untimed request: the token is new the first time.
        let first = rt.block_on(async { service.ready().await.unwrap().call(request()).await });
        assert_eq!(first.expect("infallible").status(), 200);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| time_calls(&rt, &mut service, iters, request));
        });
    }
    group.finish();
}

/// Time of `iters` calls, each with a freshly built request, awaiting each response.
fn time_calls<S>(
    rt: &tokio::runtime::Runtime,
    service: &mut S,
    iters: u64,
    request: impl Fn() -> Request<()>,
) -> Duration
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            let response = service.ready().await.unwrap().call(request()).await;
            debug_assert!(response.as_ref().is_ok_and(|r| r.status() == 200));
            black_box(response).ok();
        }
        start.elapsed()
    })
}

/// Tokens no validator has seen: minted as needed (untimed), each validated once by a
/// validator built for the sample, so every timed validation is a first one.
struct FreshTokens {
    key: BenchKey,
    tokens: Vec<String>,
}

impl FreshTokens {
    fn new(alg: Algorithm) -> Self {
        Self {
            key: BenchKey::load(alg),
            tokens: Vec::new(),
        }
    }

    fn take(&mut self, n: usize) -> &[String] {
        while self.tokens.len() < n {
            self.tokens.push(self.key.token());
        }
        &self.tokens[..n]
    }

    /// Time of validating `iters` distinct tokens with a fresh validator.
    fn time(&mut self, rt: &tokio::runtime::Runtime, iters: u64, capacity: u64) -> Duration {
        let tokens = self.take(usize::try_from(iters).expect("fits"));
        let validator = validator(capacity);
        rt.block_on(async {
            let start = Instant::now();
            for token in tokens {
                black_box(validator.validate(token).await.expect("valid"));
            }
            start.elapsed()
        })
    }
}

/// The algorithms of target 2, in the order both new-token benches run them.
const NEW_TOKEN_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

fn new_token(c: &mut Criterion) {
    let rt = runtime();
    for alg in NEW_TOKEN_ALGORITHMS {
        let mut fresh = FreshTokens::new(alg);
        let mut group = c.benchmark_group(format!("new_token/{alg:?}"));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(2));
        // The same distinct tokens as the validations below, so that both sides see cold
        // tokens: only the signature check, with the key already parsed into a DecodingKey.
        group.bench_function("jsonwebtoken_verify", |b| {
            b.iter_custom(|iters| {
                let n = usize::try_from(iters).expect("fits");
                fresh.take(n);
                let (tokens, verifying) = (&fresh.tokens[..n], &fresh.key.verifying);
                let start = Instant::now();
                for token in tokens {
                    let (message, signature) = token.rsplit_once('.').expect("three segments");
                    let ok =
                        jsonwebtoken::crypto::verify(signature, message.as_bytes(), verifying, alg);
                    assert!(ok.expect("verifies"));
                }
                start.elapsed()
            });
        });
        group.bench_function("aws_lc_verify", |b| {
            b.iter_custom(|iters| {
                let n = usize::try_from(iters).expect("fits");
                fresh.take(n);
                let (tokens, key) = (&fresh.tokens[..n], &fresh.key);
                let start = Instant::now();
                for token in tokens {
                    assert!(key.bare_verify(black_box(token)));
                }
                start.elapsed()
            });
        });
        for (name, capacity) in [("validate_cache_on", 10_000), ("validate_cache_off", 0)] {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| fresh.time(&rt, iters, capacity));
            });
        }
        group.finish();
    }
}

fn flood(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("flood");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(2));
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let mut fresh = FreshTokens::new(alg);
        // A small cache, so that the flood runs far past its capacity and evicts all along.
        for (name, capacity) in [("cache_on_capacity_1000", 1_000), ("cache_off", 0)] {
            group.bench_function(BenchmarkId::new(format!("{alg:?}"), name), |b| {
                b.iter_custom(|iters| fresh.time(&rt, iters, capacity));
            });
        }
    }
    group.finish();
}

/// The `new_token` comparison interleaved: see the module documentation.
fn new_token_side_by_side() {
    const ROUNDS: usize = 150;
    const BATCH: usize = 16;
    const VARIANTS: [&str; 4] = [
        "jsonwebtoken_verify",
        "aws_lc_verify",
        "validate_cache_on",
        "validate_cache_off",
    ];
    let rt = runtime();
    println!(
        "| alg | {} | on / jwt | off / jwt | on / aws-lc | off / aws-lc |",
        VARIANTS.join(" | ")
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for alg in NEW_TOKEN_ALGORITHMS {
        let mut fresh = FreshTokens::new(alg);
        fresh.take(ROUNDS * BATCH);
        let mut times: [Vec<f64>; 4] = Default::default();
        // One validator of each kind for all rounds, as a server has: every token is new to
        // it all the same, and a new cache's first operations are not what is measured.
        let validators = [validator(10_000), validator(0)];
        for round in 0..ROUNDS {
            let tokens = &fresh.tokens[round * BATCH..(round + 1) * BATCH];
            for turn in 0..VARIANTS.len() {
                let variant = (round + turn) % VARIANTS.len();
                let start = Instant::now();
                match variant {
                    0 => {
                        for token in tokens {
                            let (message, signature) =
                                token.rsplit_once('.').expect("three segments");
                            let ok = jsonwebtoken::crypto::verify(
                                signature,
                                message.as_bytes(),
                                &fresh.key.verifying,
                                alg,
                            );
                            assert!(ok.expect("verifies"));
                        }
                    }
                    1 => {
                        for token in tokens {
                            assert!(fresh.key.bare_verify(black_box(token)));
                        }
                    }
                    _ => rt.block_on(async {
                        for token in tokens {
                            let validated = validators[variant - 2].validate(token).await;
                            black_box(validated.expect("valid"));
                        }
                    }),
                }
                times[variant].push(start.elapsed().as_secs_f64() * 1e6 / BATCH as f64);
            }
        }
        let [jwt, aws, on, off] = times.map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        });
        println!(
            "| {alg:?} | {jwt:.1} µs | {aws:.1} µs | {on:.1} µs | {off:.1} µs | {:.3} | {:.3} | {:.3} | {:.3} |",
            on / jwt,
            off / jwt,
            on / aws,
            off / aws
        );
    }
}

criterion_group!(benches, repeated_token, new_token, flood);

fn main() {
    if std::env::var_os("NEW_TOKEN_SIDE_BY_SIDE").is_some() {
        new_token_side_by_side();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
