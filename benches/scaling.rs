//! Scaling with cores (BENCHMARKS.md, target 6): requests per second of the repeated-token
//! path from one thread, then from two threads at once sharing one guard (one validator, one
//! verified-token cache), each thread on its own single-threaded tokio runtime.
//!
//! ```sh
//! cargo bench --bench scaling                  # 7 rounds of 1 s per measurement
//! SCALING_ROUNDS=3 SCALING_MS=500 cargo bench --bench scaling
//! ```
//!
//! Two threads send either the same token (one client, the worst case: both threads touch the
//! same cache entry) or one token each (two clients). The same is measured for the no-op
//! service alone: what two threads of this machine reach
//! when nothing is shared (two vCPUs may be two hyperthreads of one core), the ceiling of the
//! guard's ratio. Rounds alternate one and two threads, so that drift hits both; the table
//! shows medians.

mod common;

use std::convert::Infallible;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use bearer_guard::GuardLayer;
use http::{HeaderValue, Request, Response};
use jsonwebtoken::Algorithm;
use tower::{Layer, Service, ServiceExt, service_fn};

use common::{BenchKey, request, validator};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Requests per second of `threads` threads at once, each calling its own clone of `service`
/// for `duration`.
fn throughput<S>(service: &S, bearers: &[HeaderValue], threads: usize, duration: Duration) -> f64
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible> + Clone + Send,
    S::Future: Send,
{
    let start = Barrier::new(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let mut service = service.clone();
                // A copy of its own: clones of one `HeaderValue` share a reference count,
                // which two threads would contend for in the request building alone.
                let bearer = HeaderValue::from_bytes(bearers[thread % bearers.len()].as_bytes())
                    .expect("header");
                let start = &start;
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .expect("runtime");
                    rt.block_on(async {
                        start.wait();
                        let began = Instant::now();
                        let mut count = 0u64;
                        // Checking the clock every 256 requests keeps its cost out of the loop.
                        while began.elapsed() < duration {
                            for _ in 0..256 {
                                let response = service
                                    .ready()
                                    .await
                                    .expect("infallible")
                                    .call(request(&bearer))
                                    .await
                                    .expect("infallible");
                                assert_eq!(response.status(), 200);
                            }
                            count += 256;
                        }
                        count as f64 / began.elapsed().as_secs_f64()
                    })
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("worker"))
            .sum()
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let rounds = env_or("SCALING_ROUNDS", 7);
    let duration = Duration::from_millis(env_or("SCALING_MS", 1000));
    let key = BenchKey::load(Algorithm::RS256);
    let bearer = |token: String| HeaderValue::try_from(format!("Bearer {token}")).expect("header");
    let (one_token, two_tokens) = {
        let first = bearer(key.token());
        (vec![first.clone()], vec![first, bearer(key.token())])
    };
    let noop = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let guard = GuardLayer::new(validator(10_000)).layer(noop);
    // Twice untimed: a token enters the cache on its second validation.
    let warm = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for bearer in two_tokens.iter().chain(&two_tokens) {
        let response = warm.block_on(guard.clone().oneshot(request(bearer)));
        assert_eq!(response.expect("infallible").status(), 200);
    }

    // `SCALING_REQUESTS=n`: n requests on this thread and nothing else, for a counter of
    // cycles or instructions (`perf stat -e cycles:u`), steadier on a busy machine than
    // timings; run it with two values of n and take the difference. `SCALING_TOKENS=k`: the
    // requests take turns among k cached tokens (many clients) instead of one.
    if let Some(n) = std::env::var("SCALING_REQUESTS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let k = env_or("SCALING_TOKENS", 1).max(1);
        let tokens: Vec<HeaderValue> = match k {
            1 => one_token,
            k => (0..k).map(|_| bearer(key.token())).collect(),
        };
        let mut service = guard.clone();
        warm.block_on(async {
            for bearer in tokens.iter().chain(&tokens) {
                service.ready().await.expect("infallible");
                let _ = service.call(request(bearer)).await;
            }
            let began = Instant::now();
            for i in 0..n {
                let response = service
                    .ready()
                    .await
                    .expect("infallible")
                    .call(request(&tokens[i % tokens.len()]))
                    .await
                    .expect("infallible");
                assert_eq!(response.status(), 200);
            }
            let per_request = began.elapsed().as_nanos() / n.max(1) as u128;
            eprintln!("{per_request} ns per request ({k} tokens taking turns)");
        });
        return;
    }
    println!(
        "{} rounds of {} ms, {} CPUs",
        rounds,
        duration.as_millis(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| service | 1 thread, req/s | 2 threads, req/s | 2 ÷ 1 |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, one: Vec<f64>, two: Vec<f64>| {
        let (one, two) = (median(one), median(two));
        println!("| {name} | {one:.0} | {two:.0} | {:.2} |", two / one);
    };
    let [
        mut noop_one,
        mut noop_two,
        mut guard_one,
        mut guard_two,
        mut distinct_two,
    ] = [(); 5].map(|()| Vec::new());
    for _ in 0..rounds {
        noop_one.push(throughput(&noop, &one_token, 1, duration));
        guard_one.push(throughput(&guard, &one_token, 1, duration));
        guard_two.push(throughput(&guard, &one_token, 2, duration));
        distinct_two.push(throughput(&guard, &two_tokens, 2, duration));
        noop_two.push(throughput(&noop, &one_token, 2, duration));
    }
    row("no-op service alone", noop_one, noop_two);
    row(
        "guard, one cached token for both threads",
        guard_one.clone(),
        guard_two,
    );
    row(
        "guard, a cached token per thread (two clients)",
        guard_one,
        distinct_two,
    );
}
