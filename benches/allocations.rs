//! Heap allocations per request, and heap kept per cached token. Run with
//! `cargo bench --bench allocations`; prints a table (counts, not times: no criterion).
//!
//! Counting is done by dhat's global allocator wrapper, so the figures are exact.

mod common;

use std::convert::Infallible;

use bearer_guard::GuardLayer;
use http::{HeaderValue, Request, Response};
use jsonwebtoken::Algorithm;
use tower::{Layer, Service, ServiceExt, service_fn};

use common::{BenchKey, request, validator};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const ROUNDS: u64 = 1_000;

/// Allocations and bytes allocated per round of `work`, after one untimed round.
async fn per_round<F: AsyncFnMut(u64)>(mut work: F) -> (f64, f64) {
    // Twice: a token enters the cache on its second validation.
    work(0).await;
    work(0).await;
    let before = dhat::HeapStats::get();
    for round in 1..=ROUNDS {
        work(round).await;
    }
    let after = dhat::HeapStats::get();
    (
        (after.total_blocks - before.total_blocks) as f64 / ROUNDS as f64,
        (after.total_bytes - before.total_bytes) as f64 / ROUNDS as f64,
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let key = BenchKey::load(Algorithm::RS256);
    let tokens: Vec<String> = (0..=ROUNDS).map(|_| key.token()).collect();
    let noop = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let bearer = HeaderValue::try_from(format!("Bearer {}", tokens[0])).expect("header");
    let mut rows = Vec::new();

    let mut bare = noop;
    let row = per_round(async |_| {
        let _ = bare.ready().await.unwrap().call(request(&bearer)).await;
    })
    .await;
    rows.push(("no-op service alone, request built", row));

    for (name, capacity) in [
        ("guard, repeated token, cache on", 10_000),
        ("guard, repeated token, cache off", 0),
    ] {
        let mut guard = GuardLayer::new(validator(capacity)).layer(noop);
        let row = per_round(async |_| {
            let response = guard.ready().await.unwrap().call(request(&bearer)).await;
            assert_eq!(response.expect("infallible").status(), 200);
        })
        .await;
        rows.push((name, row));
    }

    // The same in an axum Router, whose routing already gives the request an extension map:
    // the difference between the last two rows is what the guard adds to a real stack.
    let handler = || async { "ok" };
    // A route_layer that passes requests through isolates what axum's route_layer costs.
    let pass_through = tower::util::MapRequestLayer::new(|r: Request<axum::body::Body>| r);
    for (name, layer) in [
        ("axum Router, route without layer", 0),
        ("axum Router, route_layer passing requests through", 1),
        ("axum Router, route_layer guard, repeated token", 2),
    ] {
        let route = axum::Router::new().route("/read", axum::routing::get(handler));
        let mut router = match layer {
            0 => route,
            1 => route.route_layer(pass_through.clone()),
            _ => route.route_layer(GuardLayer::new(validator(10_000))),
        };
        let row = per_round(async |_| {
            let mut request = request(&bearer).map(|()| axum::body::Body::empty());
            *request.uri_mut() = http::Uri::from_static("/read");
            let response = ServiceExt::<Request<axum::body::Body>>::ready(&mut router)
                .await
                .unwrap()
                .call(request)
                .await;
            assert_eq!(response.expect("infallible").status(), 200);
        })
        .await;
        rows.push((name, row));
    }

    for (name, capacity) in [
        ("validate, new token, cache on", 10_000),
        ("validate, new token, cache off", 0),
    ] {
        let validator = validator(capacity);
        let row = per_round(async |round| {
            let token = &tokens[usize::try_from(round).expect("fits")];
            validator.validate(token).await.expect("valid");
        })
        .await;
        rows.push((name, row));
    }

    // What the cache keeps: live heap after filling it, minus live heap before.
    let per_token = async |tokens: &[String]| {
        let validator = validator(10_000);
        let before = dhat::HeapStats::get().curr_bytes;
        for token in tokens {
            // Twice: a token enters the cache on its second validation.
            validator.validate(token).await.expect("valid");
            validator.validate(token).await.expect("valid");
        }
        let after = dhat::HeapStats::get().curr_bytes;
        (after as f64 - before as f64) / tokens.len() as f64
    };
    let mut kept = vec![(
        tokens[0].len(),
        "typical",
        tokens.len(),
        per_token(&tokens).await,
    )];
    // Tokens at the size cap, all cached (the default byte budget holds 50 of the heaviest):
    // one long string, numbers in an array, one-entry objects in an array (the most heap
    // per byte of JSON).
    for (shape, element) in [
        ("one long string", None),
        ("numbers", Some(serde_json::json!(0))),
        ("one-entry objects", Some(serde_json::json!({"": 0}))),
    ] {
        let pad = |n: usize| match &element {
            None => serde_json::json!("x".repeat(n)),
            Some(element) => serde_json::json!(vec![element.clone(); n]),
        };
        let fits =
            |n| key.token_with(Some(&pad(n))).len() <= bearer_guard::defaults::MAX_TOKEN_BYTES;
        let (mut low, mut high) = (0, bearer_guard::defaults::MAX_TOKEN_BYTES);
        while low + 1 < high {
            let middle = (low + high) / 2;
            if fits(middle) {
                low = middle;
            } else {
                high = middle;
            }
        }
        let large: Vec<String> = (0..50).map(|_| key.token_with(Some(&pad(low)))).collect();
        kept.push((large[0].len(), shape, large.len(), per_token(&large).await));
    }

    println!("| path | allocations per request | bytes allocated per request |");
    println!("|---|---:|---:|");
    for (name, (blocks, bytes)) in rows {
        println!("| {name} | {blocks:.1} | {bytes:.0} |");
    }
    println!();
    println!("| token | heap kept per cached token |");
    println!("|---|---:|");
    for (len, shape, count, bytes) in kept {
        println!("| {len} bytes, {shape} ({count} entries) | {bytes:.0} |");
    }
}
