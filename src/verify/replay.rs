//! Where DPoP proofs are remembered, so that each is accepted once (RFC 9449 §11.1).
//!
//! A proof is recorded under a [`ReplayKey`] (a hash of its key's thumbprint and its `jti`)
//! until it could no longer be accepted anyway: its `iat` plus the proof window. The guard
//! records a proof only once the proof and the token have passed every other check, so a
//! store holds one entry per accepted request, not per attempt.
//!
//! [`MemoryReplayStore`] (the default) serves one instance. A fleet behind a load balancer
//! must share one store, or a proof replayed to the next instance is accepted there: with
//! feature `redis`, `RedisReplayStore` is that store. Any other shared store implements
//! [`ReplayStore`].

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The future of [`ReplayStore::record`].
pub type RecordFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Recorded, ReplayError>> + Send + 'a>>;

/// What a proof is remembered by: SHA-256 over its key's thumbprint and its `jti`. A store
/// never sees the proof, its `jti` or its key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey([u8; 32]);

impl ReplayKey {
    pub(crate) fn new(digest: [u8; 32]) -> Self {
        Self(digest)
    }

    /// A key from its 32 bytes, for testing a store of your own.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash in lower-case hex (64 characters), for stores keyed by strings.
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash of public values, but nothing a reader of logs needs.
        f.write_str("ReplayKey(..)")
    }
}

/// The answer of a [`ReplayStore`]: the first time, or seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Not seen before; now recorded until its expiry.
    First,
    /// Already recorded and not yet expired: a replay.
    Seen,
}

/// Why a store could not answer. The guard answers 503 with `Retry-After`: the proof may be
/// fine, but it cannot be told from a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayError {
    /// The store cannot be reached (a network store down or timing out).
    Unavailable {
        /// When trying again is worth it.
        retry_after: Duration,
    },
    /// The store is at capacity and would have to forget live entries to go on.
    Full {
        /// When entries will have expired.
        retry_after: Duration,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable { .. } => f.write_str("the DPoP replay store is unavailable"),
            Self::Full { .. } => f.write_str("the DPoP replay store is full"),
        }
    }
}

impl std::error::Error for ReplayError {}

/// A store of DPoP proofs already used: "record this key until `expires_at`, or say it was
/// seen". Checking and recording must be one atomic step (two requests racing with one
/// proof: exactly one gets [`Recorded::First`]).
///
/// ```
/// use bearer_guard::dpop::{MemoryReplayStore, RecordFuture, Recorded, ReplayKey, ReplayStore};
/// use std::time::SystemTime;
///
/// /// Counts what it is asked, and lets another store decide.
/// #[derive(Debug)]
/// struct Counting(MemoryReplayStore, std::sync::atomic::AtomicU64);
///
/// impl ReplayStore for Counting {
///     fn record(&self, key: ReplayKey, expires_at: SystemTime) -> RecordFuture<'_> {
///         self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         self.0.record(key, expires_at)
///     }
/// }
/// ```
pub trait ReplayStore: fmt::Debug + Send + Sync + 'static {
    /// Records `key` until `expires_at` and answers [`Recorded::First`], or answers
    /// [`Recorded::Seen`] if it is recorded and has not expired.
    ///
    /// # Errors
    /// [`ReplayError`] when the store cannot tell: the guard answers 503.
    fn record(&self, key: ReplayKey, expires_at: SystemTime) -> RecordFuture<'_>;
}

/// The in-memory replay store: bounded, exact, and shared by every clone of a guard (not by
/// other processes: a fleet shares a store such as `RedisReplayStore`, feature `redis`).
///
/// Holds up to a capacity of entries (default
/// [`defaults::DPOP_REPLAY_CAPACITY`](crate::defaults::DPOP_REPLAY_CAPACITY)), each about
/// 80 bytes. Expired entries are dropped as new ones come. When it is full of live entries
/// it **fails closed**: the request is answered 503 rather than the store forgetting a proof
/// that could then be replayed.
pub struct MemoryReplayStore {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Key (the first 16 bytes of the hash: collisions are out of reach) → expiry (seconds).
    live: HashMap<u128, u64, foldhash::fast::RandomState>,
    /// The same entries by expiry, soonest first.
    by_expiry: BinaryHeap<Reverse<(u64, u128)>>,
}

impl MemoryReplayStore {
    /// A store for up to `capacity` live proofs.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    /// Live entries now (expired ones still held count until the next record).
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters more than refusing every proof would.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The atomic check-and-record, at `now` (seconds since the epoch).
    pub(crate) fn record_at(
        &self,
        key: ReplayKey,
        expires_at: u64,
        now: u64,
    ) -> Result<Recorded, ReplayError> {
        let short = u128::from_be_bytes(key.0[..16].try_into().unwrap_or_default());
        let mut state = self.lock();
        let State { live, by_expiry } = &mut *state;
        while let Some(Reverse((expiry, old))) = by_expiry.peek().copied() {
            if expiry > now {
                break;
            }
            by_expiry.pop();
            // A key recorded again after it expired has a later expiry: keep that one.
            if live.get(&old) == Some(&expiry) {
                live.remove(&old);
            }
        }
        let full = live.len() >= self.capacity;
        // One lookup: the entries left all expire after now, so one held is a replay.
        let vacant = match live.entry(short) {
            Entry::Occupied(_) => return Ok(Recorded::Seen),
            Entry::Vacant(vacant) => vacant,
        };
        if full {
            let soonest = by_expiry
                .peek()
                .map_or(1, |Reverse((e, _))| e.saturating_sub(now));
            return Err(ReplayError::Full {
                retry_after: Duration::from_secs(soonest.max(1)),
            });
        }
        vacant.insert(expires_at);
        by_expiry.push(Reverse((expires_at, short)));
        Ok(Recorded::First)
    }

    /// [`record`](ReplayStore::record) without its future, now.
    pub(crate) fn record_now(
        &self,
        key: ReplayKey,
        expires_at: SystemTime,
    ) -> Result<Recorded, ReplayError> {
        self.record_at(key, unix_secs(expires_at), unix_secs(SystemTime::now()))
    }
}

impl Default for MemoryReplayStore {
    /// [`defaults::DPOP_REPLAY_CAPACITY`](crate::defaults::DPOP_REPLAY_CAPACITY) entries.
    fn default() -> Self {
        Self::new(crate::defaults::DPOP_REPLAY_CAPACITY)
    }
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

pub(crate) fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl ReplayStore for MemoryReplayStore {
    fn record(&self, key: ReplayKey, expires_at: SystemTime) -> RecordFuture<'_> {
        Box::pin(std::future::ready(self.record_now(key, expires_at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> ReplayKey {
        ReplayKey([n; 32])
    }

    #[test]
    fn a_key_is_first_once_until_it_expires() {
        let store = MemoryReplayStore::new(10);
        assert_eq!(store.record_at(key(1), 110, 100), Ok(Recorded::First));
        assert_eq!(store.record_at(key(1), 110, 109), Ok(Recorded::Seen));
        assert_eq!(store.record_at(key(2), 110, 109), Ok(Recorded::First));
        // At its expiry the entry is gone.
        assert_eq!(store.record_at(key(1), 120, 110), Ok(Recorded::First));
        assert_eq!(store.len(), 1);
        assert_eq!(store.record_at(key(1), 120, 119), Ok(Recorded::Seen));
    }

    #[test]
    fn a_full_store_fails_closed_until_entries_expire() {
        let store = MemoryReplayStore::new(2);
        assert_eq!(store.record_at(key(1), 130, 100), Ok(Recorded::First));
        assert_eq!(store.record_at(key(2), 140, 100), Ok(Recorded::First));
        assert_eq!(
            store.record_at(key(3), 140, 100),
            Err(ReplayError::Full {
                retry_after: Duration::from_secs(30)
            })
        );
        // Still seen while full: a replay is a replay.
        assert_eq!(store.record_at(key(1), 130, 101), Ok(Recorded::Seen));
        assert_eq!(store.record_at(key(3), 160, 130), Ok(Recorded::First));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn keys_show_as_hex_and_hide_in_debug() {
        assert_eq!(key(0xab).to_hex(), "ab".repeat(32));
        assert_eq!(format!("{:?}", key(1)), "ReplayKey(..)");
    }
}
