//! The verified-token cache: a token seen before skips parsing and its signature check.
//!
//! Safety rests on three rules, each checked on every hit:
//! - **No false hit.** An entry keeps its whole token, compared byte for byte once the hash it
//!   is found by matches; a token differing in one byte is a different entry. Every entry is a
//!   compact JWS that passed validation, so its bytes are base64url and dots: a presented token
//!   equal to one is well-formed (the guard relies on it to skip its alphabet scan on a hit).
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
//! Size is bounded twice: by an entry count ([`crate::defaults::TOKEN_CACHE_CAPACITY`]) and by
//! the heap the entries hold ([`crate::defaults::TOKEN_CACHE_MAX_BYTES`]), since a token at
//! the size cap can hold a hundred times more than a typical one. Each entry is weighed by an
//! estimate of its heap from above (see [`entry_bytes`]), and weighs at least
//! `max_bytes / capacity`, so that one moka weight bounds both. Eviction is moka's (TinyLFU
//! admission, LRU eviction), applied at each insertion so that the budget holds at all times.
//!
//! A hit is answered from a small direct-mapped table in front of moka (the entry last found in
//! each slot), which a hit only reads: moka's own read bookkeeping (its clock, per-entry access
//! times, its read queue) writes to memory that every thread shares, and made two threads
//! serve hits no faster than one. The front holds only entries moka holds: moka's eviction
//! listener clears an entry's slot when moka drops it, so the budget above bounds both, and a
//! hit in the front runs every check a hit in moka does. moka still sees some of the front's
//! hits (one in [`Front::RECORD_EVERY`] per thread), so that its eviction keeps favouring the
//! tokens that keep coming back. A token found in moka takes an empty slot at once, and a slot
//! another token holds now and then ([`Front::REPLACE_EVERY`]).
//!
//! Entries are found by a 64-bit hash of the token's length and end, its signature (seeded at
//! random; see [`TokenCache::key`]), not by the token: moka
//! keeps the key of a removed entry until its table is next rebuilt, and 8 KiB tokens kept
//! that way doubled the heap of a full cache. Entries carry no timer: moka's per-entry expiry
//! costs a clock read and timer-wheel work on every hit, and the `exp` check above already
//! refuses expired entries, which eviction then clears.

use std::cell::Cell;
use std::hash::BuildHasher;
use std::mem::size_of;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use serde_json::{Map, Value};

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
    /// Its key in moka and its slot in the front.
    hash: u64,
    /// Shared with `claims`, which read their JSON map from it if asked for it.
    token: Arc<str>,
    claims: Claims<T>,
    binding: Binding,
    /// Its moka weight: its estimated heap, at least `max_bytes / capacity`.
    weight: u32,
}

type Store<T> = moka::sync::Cache<u64, Arc<Entry<T>>, foldhash::fast::RandomState>;

/// Verified tokens and their claims; owned by the validator's shared state.
pub(crate) struct TokenCache<T> {
    entries: Store<T>,
    /// What a hit reads first; shared with `entries`' eviction listener.
    front: Arc<Front<T>>,
    /// Seeded at random, so that no one can make tokens collide on purpose (see [`Self::key`]).
    hasher: foldhash::fast::RandomState,
    seen_once: SeenOnce,
    leeway: i64,
    /// The byte budget; an entry estimated above it is not remembered.
    max_bytes: u64,
    /// The least weight of an entry: `capacity` entries of it fill the budget, so that no
    /// more than `capacity` entries ever fit.
    least_weight: u32,
}

/// Hashes of tokens validated once, in sets of [`SeenOnce::WAYS`] slots (a token's set is
/// picked by its hash; a new hash takes an empty slot of it, or replaces one of the four
/// once it is full; a collision only forgets). A false "seen" merely caches a token that has just passed full validation.
///
/// Sets rather than one slot per hash: with one slot, two tokens of the same slot that
/// take turns each erased the other's mark, and were never cached (a third of 3 000 tokens
/// taking turns, a tenth of 1 000).
struct SeenOnce {
    slots: Box<[AtomicU64]>,
}

impl SeenOnce {
    /// Most slots: 512 KiB of hashes, whatever the capacity.
    const MAX_SLOTS: u64 = 1 << 16;

    fn new(capacity: u64) -> Self {
        let slots = capacity
            .clamp(Self::WAYS as u64, Self::MAX_SLOTS)
            .next_power_of_two();
        Self {
            slots: (0..slots).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Slots per set.
    const WAYS: usize = 4;

    /// Whether the token of this hash was seen before; if not, remembers it.
    fn seen_before(&self, hash: u64) -> bool {
        // Never 0, which marks an empty slot.
        let hash = hash | 1;
        // The low bits pick the set (the slot count is a power of two, at least `WAYS`
        // once rounded: see `new`), the high bits the slot a new hash replaces.
        let bits = usize::try_from(hash).unwrap_or(usize::MAX);
        let first = bits & (self.slots.len() - 1) & !(Self::WAYS - 1);
        let set = &self.slots[first..first + Self::WAYS];
        if set.iter().any(|slot| slot.load(Ordering::Relaxed) == hash) {
            return true;
        }
        // An empty slot of the set if there is one, else one picked by the hash.
        let slot = set
            .iter()
            .find(|slot| slot.load(Ordering::Relaxed) == 0)
            .unwrap_or(&set[usize::try_from(hash >> 62).unwrap_or(0) % Self::WAYS]);
        slot.store(hash, Ordering::Relaxed);
        false
    }
}

/// Entries of `entries` recently found, one per slot, picked by the low bits of their hash (a
/// collision only sends the next lookup to moka). Never holds an entry moka no longer holds,
/// for longer than it takes to find out (see [`TokenCache::promote`]).
struct Front<T> {
    slots: Box<[ArcSwapOption<Entry<T>>]>,
}

impl<T> Front<T> {
    /// Most slots: 128 KiB of pointers (as many as `SeenOnce` holds for the default capacity),
    /// whatever the capacity.
    const MAX_SLOTS: u64 = 1 << 14;
    /// One hit in this many, per thread, is also a read in moka.
    const RECORD_EVERY: u32 = 64;
    /// A token found in moka takes a slot another entry holds once in this many times, per
    /// thread: when more tokens take turns than there are slots, most lookups miss the front
    /// anyway, and a write to a shared slot each time made them slower than moka alone.
    const REPLACE_EVERY: u32 = 8;

    fn new(capacity: u64) -> Self {
        let slots = capacity.clamp(1, Self::MAX_SLOTS).next_power_of_two();
        Self {
            slots: (0..slots).map(|_| ArcSwapOption::empty()).collect(),
        }
    }

    fn slot(&self, hash: u64) -> &ArcSwapOption<Entry<T>> {
        // The slot count is a power of two.
        let index = usize::try_from(hash).unwrap_or(usize::MAX) & (self.slots.len() - 1);
        &self.slots[index]
    }

    /// Empties the slot of `entry`, if it still holds it.
    fn forget(&self, entry: &Arc<Entry<T>>) {
        let slot = self.slot(entry.hash);
        let current = slot.load();
        if current
            .as_ref()
            .is_some_and(|held| Arc::ptr_eq(held, entry))
        {
            slot.compare_and_swap(&current, None);
        }
    }

    /// True once in `n` calls on this thread (`n` a power of two): a sample without a shared
    /// counter or a random number.
    fn one_in(n: u32) -> bool {
        thread_local! {
            static CALLS: Cell<u32> = const { Cell::new(0) };
        }
        CALLS.with(|calls| {
            let count = calls.get().wrapping_add(1);
            calls.set(count);
            count & (n - 1) == 0
        })
    }
}

impl<T: Send + Sync + 'static> TokenCache<T> {
    /// A cache of at most `capacity` tokens holding at most `max_bytes` of heap (both
    /// non-zero); `leeway` in seconds, as for validation.
    pub(crate) fn new(capacity: u64, max_bytes: u64, leeway: i64) -> Self {
        let capacity = capacity.max(1);
        // A weight is a u32: keep `max_bytes / capacity` within one.
        let max_bytes = max_bytes.min(capacity.saturating_mul(u64::from(u32::MAX)));
        let front = Arc::new(Front::new(capacity));
        let evicted = Arc::clone(&front);
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, entry: &Arc<Entry<T>>| entry.weight)
                // Whatever moka drops (evicted, replaced, invalidated) leaves the front too.
                .eviction_listener(move |_, entry: Arc<Entry<T>>, _| evicted.forget(&entry))
                .build_with_hasher(foldhash::fast::RandomState::default()),
            front,
            // foldhash rather than SipHash: hashing is on every request, and the random seed
            // keeps hash flooding impractical.
            hasher: foldhash::fast::RandomState::default(),
            seen_once: SeenOnce::new(capacity),
            leeway,
            max_bytes,
            least_weight: u32::try_from(max_bytes.div_ceil(capacity)).unwrap_or(u32::MAX),
        }
    }

    /// The claims of `token` if it was verified before and every rule above still holds at
    /// `now`, the wall clock ([`unix_time`](crate::jwks::unix_time)): read once, for the
    /// token's times and its key's.
    pub(crate) fn get(&self, token: &[u8], now: Duration) -> Option<Claims<T>> {
        let hash = self.key(token);
        let slot = self.front.slot(hash);
        let front = slot.load();
        let from_moka;
        let entry = match front.as_ref() {
            Some(entry) if entry.hash == hash && entry.token.as_bytes() == token => {
                if Front::<T>::one_in(Front::<T>::RECORD_EVERY) {
                    self.entries.get(&hash);
                }
                entry
            }
            _ => {
                from_moka = self
                    .entries
                    .get(&hash)
                    .filter(|e| e.token.as_bytes() == token)?;
                if front.is_none() || Front::<T>::one_in(Front::<T>::REPLACE_EVERY) {
                    self.promote(slot, &from_moka);
                }
                &from_moka
            }
        };
        let seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let still_valid = rules::check_times(entry.claims.registered(), seconds, self.leeway)
            .is_ok()
            && match &entry.binding {
                Binding::Secret => true,
                Binding::Published { store, key } => store.still_serves(key, now),
            };
        if still_valid {
            Some(entry.claims.clone())
        } else {
            self.entries.invalidate(&hash);
            self.front.forget(entry);
            None
        }
    }

    /// The key of `token` in moka and in the front: a seeded hash of its length and its last
    /// [`Self::KEYED_BYTES`] bytes, not of all of it (hashing a kilobyte was the largest cost
    /// of a hit). In a compact JWS, they are the signature or MAC (43 characters at least,
    /// 342 for RS256): two tokens that passed validation share them only if one signature
    /// is valid for two payloads. Lookups compare the whole token, so a shared key can only
    /// make two tokens take turns in one entry, never answer one for the other.
    fn key(&self, token: &[u8]) -> u64 {
        let tail = &token[token.len().saturating_sub(Self::KEYED_BYTES)..];
        self.hasher.hash_one((token.len(), tail))
    }

    /// How much of a token's end [`Self::key`] hashes.
    const KEYED_BYTES: usize = 64;

    /// Puts an entry just found in moka into its front slot. Should moka have dropped it
    /// meanwhile (its listener then found the slot not yet holding it), it is taken out again:
    /// moka's removal precedes its listener, so either the listener sees the entry in the slot
    /// or this check sees it gone from moka.
    fn promote(&self, slot: &ArcSwapOption<Entry<T>>, entry: &Arc<Entry<T>>) {
        slot.store(Some(Arc::clone(entry)));
        if !self.entries.contains_key(&entry.hash) {
            self.front.forget(entry);
        }
    }

    /// Remembers a token that has just passed full validation, if it is its second time.
    pub(crate) fn insert(&self, token: &str, claims: &Claims<T>, binding: Binding) {
        // By its bytes, as `get` looks it up.
        let hash = self.key(token.as_bytes());
        if !self.seen_once.seen_before(hash) {
            return;
        }
        // An entry heavier than the whole budget is not remembered.
        let Some(bytes) = entry_bytes(token, claims).filter(|b| *b <= self.max_bytes) else {
            return;
        };
        let token: Arc<str> = token.into();
        let entry = Entry {
            hash,
            claims: claims.without_json(Arc::clone(&token)),
            token,
            binding,
            weight: u32::try_from(bytes)
                .unwrap_or(u32::MAX)
                .max(self.least_weight),
        };
        self.entries.insert(hash, Arc::new(entry));
        // moka evicts in batches, up to 64 insertions late, and frees what it evicted two
        // epochs later (crossbeam-epoch), each housekeeping run advancing the epoch once when
        // no other thread is inside the cache. Three runs now evict and reclaim, so that the
        // heap stays within the budget; insertions are rare (once in a token's life).
        for _ in 0..3 {
            self.entries.run_pending_tasks();
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    /// How many entries the front holds, and whether moka holds every one of them.
    #[cfg(test)]
    pub(crate) fn front_held_by_moka(&self) -> (usize, bool) {
        self.entries.run_pending_tasks();
        let held: Vec<_> = self
            .front
            .slots
            .iter()
            .filter_map(|s| s.load_full())
            .collect();
        let all = held.iter().all(|e| {
            self.entries
                .get(&e.hash)
                .is_some_and(|in_moka| Arc::ptr_eq(&in_moka, e))
        });
        (held.len(), all)
    }

    #[cfg(test)]
    pub(crate) fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }
}

/// moka's own bookkeeping per entry: its key `Arc`, entry, entry info and access-order node,
/// its share of the hash table and of the frequency sketch. Measured with dhat: about 250
/// bytes an entry in a cache of 1 000 entries or more, up to 1 KB in a cache of a few (its
/// tables' first allocations, shared by few).
const MOKA_BYTES_PER_ENTRY: usize = 1024;

/// A heap block of `n` bytes as the allocator takes it, from above: rounded up to 16 bytes,
/// plus 16 for its header.
fn block(n: usize) -> usize {
    match n {
        0 => 0,
        n => (n.saturating_add(15) & !15).saturating_add(16),
    }
}

/// An estimate from above of the heap one entry holds: the token, the claims (registered
/// claims, scopes, user-defined claims) and moka's bookkeeping. `None` when it cannot be
/// estimated (then the entry is not remembered).
///
/// The claims' JSON map is counted although an entry does not keep it: it is read again from
/// the token, and then kept, when a request asks for it (a route's claim predicate, a handler
/// reading [`Claims::json`](crate::Claims::json)), so the budget must hold it.
///
/// The claims object, a JSON map kept whatever `T` is, is walked. A user-defined `T` cannot
/// be looked into: it is charged what that JSON map holds once more, which assumes that `T`
/// holds no more than the JSON it is read from (true of plain structs, strings and vectors; a
/// type that allocates ahead is under-counted).
fn entry_bytes<T: 'static>(token: &str, claims: &Claims<T>) -> Option<u64> {
    let r = claims.registered();
    let strings = [
        Some(&r.iss),
        r.sub.as_ref(),
        r.jti.as_ref(),
        r.client_id.as_ref(),
        r.azp.as_ref(),
    ]
    .into_iter()
    .flatten()
    .chain(&r.aud)
    .map(|s| block(s.capacity()))
    .sum::<usize>();
    let audiences = block(r.aud.capacity().saturating_mul(size_of::<String>()));
    let scopes = claims.scopes();
    let scope_text = block(2 * size_of::<usize>() + scopes.text_len());
    let total = [
        MOKA_BYTES_PER_ENTRY,
        block(2 * size_of::<usize>() + token.len()),
        block(2 * size_of::<usize>() + size_of::<Entry<T>>()),
        block(claims.inline_bytes()),
        strings,
        audiences,
        scope_text,
        json_bytes(claims),
    ]
    .into_iter()
    .fold(0usize, usize::saturating_add);
    u64::try_from(total).ok()
}

/// The heap of the claims object and the user-defined claims, from above; see
/// [`entry_bytes`].
fn json_bytes<T>(claims: &Claims<T>) -> usize {
    let json = map_bytes(claims.json());
    match claims.has_typed_extra() {
        true => json.saturating_mul(2),
        false => json,
    }
}

/// A JSON value's heap, from above. Numbers hold none (serde_json without its
/// `arbitrary_precision` feature). Recursion is as deep as the JSON, which serde_json limits
/// to 128 levels.
fn value_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => block(s.capacity()),
        Value::Array(items) => items.iter().fold(
            block(items.capacity().saturating_mul(size_of::<Value>())),
            |sum, item| sum.saturating_add(value_bytes(item)),
        ),
        Value::Object(map) => map_bytes(map),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// A JSON map's heap, from above: its B-tree nodes (std's: at most 11 entries in line per
/// node, at least 5 in every node but the root, so at most `len / 5 + 1` nodes, each
/// counted at the size of an internal node), then its keys and values.
fn map_bytes(map: &Map<String, Value>) -> usize {
    const CAPACITY: usize = 11;
    const MIN_LEN: usize = 5;
    let header = 2 * size_of::<usize>();
    let in_line = CAPACITY * (size_of::<String>() + size_of::<Value>());
    let edges = (CAPACITY + 1) * size_of::<usize>();
    let nodes = match map.len() {
        0 => 0,
        1..=CAPACITY => block(header + in_line),
        len => (len / MIN_LEN + 1).saturating_mul(block(header + in_line + edges)),
    };
    map.iter().fold(nodes, |sum, (key, value)| {
        sum.saturating_add(block(key.capacity()))
            .saturating_add(value_bytes(value))
    })
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    use crate::verify::validator::now;
    use crate::{ErrorKind, Issuer, Validator, defaults};

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

    /// What fills a token up to the size cap: one long string, or the JSON that holds the most
    /// heap per byte (numbers in an array; one-entry objects in an array).
    #[derive(Debug, Clone, Copy)]
    enum Shape {
        LongString,
        Numbers,
        TinyObjects,
    }

    fn filled_token(jti: u64, shape: Shape, filler: usize) -> String {
        let pad = match shape {
            Shape::LongString => json!("x".repeat(filler)),
            Shape::Numbers => json!(vec![0; filler]),
            Shape::TinyObjects => json!(vec![json!({"": 0}); filler]),
        };
        let claims = json!({"iss": "https://idp", "aud": "api", "exp": now() + 600,
            "jti": format!("{jti:08}"), "scope": "read write", "pad": pad});
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("signs")
    }

    /// The largest filler with which a token of `shape` stays within the size cap.
    fn max_filler(shape: Shape) -> usize {
        let fits = |filler| filled_token(0, shape, filler).len() <= defaults::MAX_TOKEN_BYTES;
        let (mut low, mut high) = (0, defaults::MAX_TOKEN_BYTES);
        while low + 1 < high {
            let middle = (low + high) / 2;
            if fits(middle) {
                low = middle;
            } else {
                high = middle;
            }
        }
        low
    }

    #[derive(serde::Deserialize)]
    struct Typed {
        #[allow(dead_code)]
        pad: serde_json::Value,
    }

    #[tokio::test]
    async fn tokens_at_the_size_cap_fill_the_cache_up_to_its_byte_budget_only() {
        // Big enough for one typed entry of the worst shape: its JSON map and `T`, ~1.1 MB.
        const BUDGET: u64 = 2 * 1024 * 1024;
        let builder = || {
            Validator::builder()
                .issuer(
                    Issuer::new("https://idp")
                        .audience("api")
                        .hmac_secret(SECRET),
                )
                .token_cache_max_bytes(BUDGET)
        };
        for shape in [Shape::LongString, Shape::Numbers, Shape::TinyObjects] {
            let filler = max_filler(shape);
            let tokens: Vec<String> = (0..300)
                .map(|jti| filled_token(jti, shape, filler))
                .collect();
            assert!(
                tokens
                    .iter()
                    .all(|t| t.len() + 64 > defaults::MAX_TOKEN_BYTES)
            );
            let json = builder().build().expect("valid configuration");
            let typed = builder()
                .extra_claims::<Typed>()
                .build()
                .expect("valid configuration");
            for token in tokens.iter().chain(&tokens) {
                json.validate(token).await.expect("valid");
                typed.validate(token).await.expect("valid");
            }
            let json = json.cache().expect("on");
            let typed = typed.cache().expect("on");
            for (claims, entries, weight) in [
                ("JSON map", json.len(), json.weighted_size()),
                ("typed", typed.len(), typed.weighted_size()),
            ] {
                eprintln!(
                    "{shape:?}, {claims}: {entries} entries, {} bytes each",
                    weight / entries.max(1)
                );
                assert!(weight <= BUDGET, "{shape:?}, {claims}: {weight}");
                assert!(
                    entries > 0 && entries < 200,
                    "{shape:?}, {claims}: {entries}"
                );
            }
        }
    }

    #[tokio::test]
    async fn tokens_taking_turns_are_cached_on_their_second_validation() {
        // A cache of the default capacity; 4 000 clients, far fewer than it holds, each
        // validated twice in turn. With one mark per slot, a tenth to a third of them erased
        // each other's first mark and were never cached.
        let validator = Validator::builder()
            .issuer(
                Issuer::new("https://idp")
                    .audience("api")
                    .hmac_secret(SECRET),
            )
            .build()
            .expect("valid configuration");
        for (round, k) in [1_000u64, 3_000].into_iter().enumerate() {
            let base = (round as u64 + 1) * 10_000;
            let tokens: Vec<String> = (0..k).map(|jti| token(now() + 600, base + jti)).collect();
            for token in tokens.iter().chain(&tokens) {
                validator.validate(token).await.expect("valid");
            }
            let hits = tokens
                .iter()
                .filter(|t| validator.cached(t).is_some())
                .count();
            assert!(hits as u64 * 100 >= k * 99, "{hits} of {k} cached");
        }
    }

    #[tokio::test]
    async fn an_entry_weighs_at_least_its_share_of_the_budget() {
        let validator = Validator::builder()
            .issuer(
                Issuer::new("https://idp")
                    .audience("api")
                    .hmac_secret(SECRET),
            )
            .token_cache_capacity(10)
            .token_cache_max_bytes(1_000_000)
            .build()
            .expect("valid configuration");
        let cache = validator.cache().expect("on");
        let token = token(now() + 600, 1);
        for _ in 0..2 {
            validator.validate(&token).await.expect("valid");
        }
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.weighted_size(),
            100_000,
            "a small token weighs a tenth"
        );
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
    async fn cached_claims_read_their_json_from_the_token_only_when_asked() {
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct Tenant {
            tid: String,
        }
        let claims = json!({"iss": "https://idp", "aud": "api", "exp": now() + 600,
            "tid": "t1", "cid": "okta-client", "cnf": {"jkt": "thumb"}, "scope": "read",
            "nested": {"a": [1, 2.5, "x"]}});
        let token = encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("signs");
        let typed = Validator::builder()
            .issuer(
                Issuer::new("https://idp")
                    .audience("api")
                    .hmac_secret(SECRET),
            )
            .extra_claims::<Tenant>()
            .build()
            .expect("valid configuration");
        let json = validator(100);
        let fresh = json.validate(&token).await.expect("valid");
        let fresh_typed = typed.validate(&token).await.expect("valid");
        assert!(
            !fresh.holds_json(),
            "validation judges without building the map"
        );
        assert!(!fresh_typed.holds_json());
        json.validate(&token).await.expect("valid");
        typed.validate(&token).await.expect("valid");

        let cached = json.cached(&token).expect("remembered");
        assert!(!cached.holds_json(), "the cache keeps no JSON map");
        // What is read on every request is kept apart from the JSON.
        assert_eq!(cached.as_view().bound_jkt(), Some("thumb"));
        assert_eq!(cached.scopes(), fresh.scopes());
        assert!(!cached.holds_json());
        // Read again from the token, equal to what validation gave, then kept.
        assert_eq!(cached.json(), fresh.json());
        assert_eq!(&serde_json::Value::Object(fresh.json().clone()), &claims);
        assert_eq!(cached.client(), Some("okta-client"));
        assert!(cached.holds_json());
        assert!(
            json.cached(&token).expect("remembered").holds_json(),
            "kept in the shared entry once read"
        );

        let cached_typed = typed.cached(&token).expect("remembered");
        assert_eq!(cached_typed.extra(), fresh_typed.extra());
        assert!(!cached_typed.holds_json(), "a typed T is kept, not re-read");
        assert_eq!(cached_typed.json()["nested"], claims["nested"]);
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
        // Hits on every token still cached fill the front; what moka evicted left it.
        for token in &tokens {
            validator.validate(token).await.expect("valid");
        }
        let (in_front, all_in_moka) = cache.front_held_by_moka();
        assert!(in_front > 0, "hits go through the front");
        assert!(all_in_moka, "the front holds nothing moka dropped");

        let again = token(now() + 600, 1);
        let no_bytes = Validator::builder()
            .issuer(
                Issuer::new("https://idp")
                    .audience("api")
                    .hmac_secret(SECRET),
            )
            .token_cache_max_bytes(0)
            .build()
            .expect("valid configuration");
        for off in [self::validator(0), no_bytes] {
            for _ in 0..3 {
                off.validate(&again).await.expect("valid");
            }
            assert!(off.cached(&again).is_none());
        }
    }
}
