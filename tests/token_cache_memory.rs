//! The verified-token cache stays within its byte budget in real heap, not only by its own
//! estimate: tokens at the size cap, with the JSON shapes that hold the most heap per byte,
//! fill a validator's cache while dhat counts every byte allocated.
//!
//! One test in this binary: dhat's counts are global to the process.

use std::time::{SystemTime, UNIX_EPOCH};

use bearer_guard::{Issuer, Validator, ValidatorBuilder, defaults};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const SECRET: &[u8] = b"a shared secret of thirty-two bytes!";
// Big enough for one typed entry of the worst shape (its JSON map and `T`, ~1.1 MB).
const BUDGET: u64 = 2 * 1024 * 1024;
/// What the cache allocates once, whatever it holds (moka's tables and queues), and what the
/// runtime allocates meanwhile.
const FIXED: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy)]
enum Shape {
    /// One long string: the shape of a large real token.
    LongString,
    /// `[0,0,…]`: 32 bytes of heap per 2 bytes of JSON, and a vector that grew by doubling.
    Numbers,
    /// `[{"":0},…]`: a B-tree node per 7 bytes of JSON, the most heap per byte there is.
    TinyObjects,
}

fn token(jti: usize, shape: Shape, filler: usize) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let pad = match shape {
        Shape::LongString => json!("x".repeat(filler)),
        Shape::Numbers => json!(vec![0; filler]),
        Shape::TinyObjects => json!(vec![json!({"": 0}); filler]),
    };
    let claims = json!({"iss": "https://idp", "aud": "api", "exp": now + 600,
        "jti": format!("{jti:08}"), "scope": "read write", "pad": pad});
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("signs")
}

/// Tokens of `shape` as large as the size cap allows.
fn max_size_tokens(shape: Shape, count: usize) -> Vec<String> {
    let fits = |filler| token(0, shape, filler).len() <= defaults::MAX_TOKEN_BYTES;
    let (mut low, mut high) = (0, defaults::MAX_TOKEN_BYTES);
    while low + 1 < high {
        let middle = (low + high) / 2;
        if fits(middle) {
            low = middle;
        } else {
            high = middle;
        }
    }
    let tokens: Vec<String> = (0..count).map(|jti| token(jti, shape, low)).collect();
    assert!(
        tokens
            .iter()
            .all(|t| t.len() + 64 > defaults::MAX_TOKEN_BYTES)
    );
    tokens
}

/// User-defined claims that keep the padding.
#[derive(serde::Deserialize)]
struct Typed {
    #[allow(dead_code)]
    pad: Value,
}

fn builder() -> ValidatorBuilder {
    Validator::builder()
        .issuer(
            Issuer::new("https://idp")
                .audience("api")
                .hmac_secret(SECRET),
        )
        .token_cache_max_bytes(BUDGET)
}

/// Live heap after validating each token twice (a token is cached on its second
/// validation), then once more reading its claims' JSON map (which a cached entry keeps only
/// from then on), minus live heap before.
async fn heap_growth<T>(validator: &Validator<T>, tokens: &[String]) -> u64
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let before = dhat::HeapStats::get().curr_bytes;
    for token in tokens {
        for _ in 0..2 {
            validator.validate(token).await.expect("valid");
        }
        let cached = validator.validate(token).await.expect("valid");
        assert!(!cached.json().is_empty());
    }
    let after = dhat::HeapStats::get().curr_bytes;
    (after as u64).saturating_sub(before as u64)
}

#[tokio::test(flavor = "current_thread")]
async fn tokens_at_the_size_cap_keep_the_cache_within_its_byte_budget() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // Enough of each to hold twice the budget, were it not enforced.
    for (shape, count) in [
        (Shape::LongString, 300),
        (Shape::Numbers, 40),
        (Shape::TinyObjects, 12),
    ] {
        let tokens = max_size_tokens(shape, count);

        // What one entry really holds: a few tokens, all cached.
        let roomy = builder()
            .token_cache_max_bytes(u64::MAX)
            .build()
            .expect("valid configuration");
        let few = &tokens[..4];
        heap_growth(&roomy, &few[..1]).await;
        let per_entry = heap_growth(&roomy, &few[1..]).await / 3;
        eprintln!("{shape:?}: one entry holds {per_entry} bytes");

        // Within budget: the real heap of a full cache, whatever the claims type.
        let json = builder().build().expect("valid configuration");
        let json_growth = heap_growth(&json, &tokens).await;
        let typed = builder()
            .extra_claims::<Typed>()
            .build()
            .expect("valid configuration");
        let typed_growth = heap_growth(&typed, &tokens).await;
        for (claims, growth) in [("JSON map", json_growth), ("typed", typed_growth)] {
            eprintln!("{shape:?}, {claims}: a full cache holds {growth} bytes");
            assert!(growth <= BUDGET + FIXED, "{shape:?}, {claims}: {growth}");
            assert!(
                growth > BUDGET / 4,
                "{shape:?}, {claims}: {growth}: nothing cached?"
            );
        }
    }
}
