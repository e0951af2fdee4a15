//! The verified-token cache: a token seen before skips parsing and its signature check.
//!
//! Safety rests on three rules, each checked on every hit:
//! - **No false hit.** The key is the whole token, compared byte for byte after the hash
//!   matches; a token differing in one byte is a different entry.
//! - **Never past `exp`.** `exp`, `nbf` and `iat` are re-checked with the leeway on each hit;
//!   a hit that fails them is evicted and validated afresh (which gives the right error).
//! - **Never past its key.** An entry remembers the key that verified it. If a refresh
//!   removed that key, or the issuer's set is past its staleness limit, the hit is refused and
//!   the token goes through full validation (which then gives the right error).
//!
//! A token enters the cache on its second validation, not its first: a small table of hashes
//! remembers which tokens were seen once. A flood of one-off tokens then costs a hash and a
//! store each instead of a cache insertion (and cannot evict the tokens that keep coming back),
//! while a client's token, used again and again, pays for one extra validation in its life.
//!
//! Size is bounded by an entry count ([`crate::defaults::TOKEN_CACHE_CAPACITY`]); eviction is
//! moka's (TinyLFU admission, LRU eviction). Entries carry no timer: moka's per-entry expiry costs a clock
//! read and timer-wheel work on every hit, and the `exp` check above already refuses expired
//! entries, which capacity eviction then clears.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::jwks::{KeyStore, VerifyingKey};
use crate::verify::claims::Claims;
use crate::verify::rules;

/// What verified a cached token.
pub(crate) enum Binding {
    /// The issuer's configured HMAC secret, which never changes.
    Secret,
    /// A key of the issuer's set, which a refresh may remove.
    Published {
        store: Arc<KeyStore>,
        key: Arc<VerifyingKey>,
    },
}

struct Entry<T> {
    claims: Claims<T>,
    binding: Binding,
}

type Store<T> = moka::sync::Cache<Box<str>, Arc<Entry<T>>, foldhash::fast::RandomState>;

/// Verified tokens and their claims; owned by the validator's shared state.
pub(crate) struct TokenCache<T> {
    entries: Store<T>,
    seen_once: SeenOnce,
    leeway: i64,
}

/// Hashes of tokens validated once, one per slot (direct-mapped; a collision only forgets).
/// A false "seen" merely caches a token that has just passed full validation.
struct SeenOnce {
    slots: Box<[AtomicU64]>,
    hasher: foldhash::fast::RandomState,
}

impl SeenOnce {
    /// Most slots: 512 KiB of hashes, whatever the capacity.
    const MAX_SLOTS: u64 = 1 << 16;

    fn new(capacity: u64) -> Self {
        let slots = capacity.clamp(1, Self::MAX_SLOTS).next_power_of_two();
        Self {
            slots: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Whether `token` was seen before; if not, remembers it.
    fn seen_before(&self, token: &str) -> bool {
        // Never 0, which marks an empty slot.
        let hash = self.hasher.hash_one(token) | 1;
        // The low bits pick the slot: the slot count is a power of two.
        let index = usize::try_from(hash).unwrap_or(usize::MAX) & (self.slots.len() - 1);
        let slot = &self.slots[index];
        if slot.load(Ordering::Relaxed) == hash {
            return true;
        }
        slot.store(hash, Ordering::Relaxed);
        false
    }
}

impl<T: Send + Sync + 'static> TokenCache<T> {
    /// A cache of at most `capacity` tokens; `leeway` in seconds, as for validation.
    pub(crate) fn new(capacity: u64, leeway: i64) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                // foldhash rather than SipHash: hashing a ~1 KB token is most of a hit's cost,
                // and the hasher's random seed keeps hash flooding impractical.
                .build_with_hasher(foldhash::fast::RandomState::default()),
            seen_once: SeenOnce::new(capacity),
            leeway,
        }
    }

    /// The claims of `token` if it was verified before and every rule above still holds.
    pub(crate) fn get(&self, token: &str, now: i64) -> Option<Claims<T>> {
        let entry = self.entries.get(token)?;
        let still_valid = rules::check_times(entry.claims.registered(), now, self.leeway).is_ok()
            && match &entry.binding {
                Binding::Secret => true,
                Binding::Published { store, key } => store.still_serves(key),
            };
        if still_valid {
            Some(entry.claims.clone())
        } else {
            self.entries.invalidate(token);
            None
        }
    }

    /// Remembers a token that has just passed full validation, if it is its second time.
    pub(crate) fn insert(&self, token: &str, claims: &Claims<T>, binding: Binding) {
        if !self.seen_once.seen_before(token) {
            return;
        }
        let entry = Entry {
            claims: claims.clone(),
            binding,
        };
        self.entries.insert(token.into(), Arc::new(entry));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    use crate::verify::validator::now;
    use crate::{ErrorKind, Issuer, Validator};

    const SECRET: &[u8] = b"a shared secret of thirty-two bytes!";

    fn validator(capacity: u64) -> Validator {
        Validator::builder()
            .issuer(
                Issuer::new("https://idp")
                    .audience("api")
                    .hmac_secret(SECRET),
            )
            .leeway(std::time::Duration::ZERO)
            .token_cache_capacity(capacity)
            .build()
            .expect("valid configuration")
    }

    fn token(exp: i64, jti: u64) -> String {
        let claims =
            json!({"iss": "https://idp", "aud": "api", "exp": exp, "jti": jti.to_string()});
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("signs")
    }

    #[tokio::test]
    async fn a_validated_token_is_remembered_and_only_that_exact_token() {
        let validator = validator(100);
        let good = token(now() + 600, 1);
        assert!(
            validator.cached(&good).is_none(),
            "nothing before validation"
        );
        validator.validate(&good).await.expect("valid");
        assert!(
            validator.cached(&good).is_none(),
            "cached the second time only"
        );
        let claims = validator.validate(&good).await.expect("valid");
        let hit = validator.cached(&good).expect("remembered");
        assert_eq!(hit.jwt_id(), claims.jwt_id());

        // The same header and payload with one signature character changed: a different
        // key in the cache, so it is verified, and fails.
        let mut forged = good.clone();
        let last = forged.pop().expect("non-empty");
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert!(validator.cached(&forged).is_none());
        for _ in 0..2 {
            let error = validator.validate(&forged).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidSignature);
        }
        assert!(
            validator.cached(&forged).is_none(),
            "failures are not remembered"
        );
    }

    #[tokio::test]
    async fn a_remembered_token_is_refused_once_expired() {
        let validator = validator(100);
        let short = token(now() + 1, 2);
        for _ in 0..2 {
            validator
                .validate(&short)
                .await
                .expect("valid for a second");
        }
        assert!(validator.cached(&short).is_some());
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert!(validator.cached(&short).is_none(), "never served past exp");
        let error = validator.validate(&short).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Expired);
    }

    #[tokio::test]
    async fn the_cache_is_bounded_by_its_capacity_and_can_be_switched_off() {
        let validator = validator(50);
        let cache = validator.cache().expect("on by default");
        let tokens: Vec<String> = (0..500).map(|jti| token(now() + 600, jti)).collect();
        for token in &tokens {
            validator.validate(token).await.expect("valid");
        }
        assert_eq!(cache.len(), 0, "one-off tokens are not cached");
        for token in &tokens {
            validator.validate(token).await.expect("valid");
            validator.validate(token).await.expect("valid again");
        }
        assert!(cache.len() <= 50, "{} entries", cache.len());
        assert!(cache.len() > 0, "tokens seen again are cached");

        let off = self::validator(0);
        let again = token(now() + 600, 1);
        for _ in 0..3 {
            off.validate(&again).await.expect("valid");
        }
        assert!(off.cached(&again).is_none());
    }
}
