//! The DPoP replay store of a fleet: Redis (feature `redis`, RFC 9449 §11.1).
//!
//! Every instance of an API behind a load balancer records the proofs it accepts in one
//! Redis, with one atomic `SET <namespace>:<hex of the key> <token> NX PX <ms until expiry>`:
//! `OK` is the first use, nil a replay, wherever the first use was. Redis drops each entry
//! itself once the proof could no longer be accepted anyway. The token (random per store, then
//! a counter) matters only when a connection drops between the `SET` and its reply: the one
//! retry on the new connection then reads the key back, and finds its own token if the first
//! `SET` had landed, so the proof is not refused as its own replay.
//!
//! The store connects on its first request, not when it is built, and reconnects by itself:
//! a guard starts while Redis is down and answers those requests 503 with `Retry-After`
//! until Redis is back. Each command is bounded by a timeout; any error or timeout is
//! [`ReplayError::Unavailable`], never a proof accepted unchecked.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ConnectionAddr, Value};

use crate::ConfigError;
use crate::verify::replay::{RecordFuture, Recorded, ReplayError, ReplayKey, ReplayStore};

/// The DPoP replay store shared by a fleet, in Redis: each proof is accepted once across
/// every instance that uses the same Redis (and namespace).
///
/// Built without connecting ([`new`](Self::new) only checks the URL), it connects on the
/// first proof it records and reconnects by itself after Redis restarts or the connection
/// drops. While Redis cannot answer within the [timeout](Self::timeout), requests that carry a
/// proof are answered 503 with `Retry-After` ([`ReplayError::Unavailable`]): the proof may be
/// fine, but cannot be told from a replay. Bearer requests are not affected.
///
/// Keys are `<namespace>:<64 hex digits>` (a SHA-256 of the proof's key thumbprint and `jti`;
/// never the proof), so a Redis ACL can confine the guard to `~<namespace>:*` and the commands
/// `SET` and `GET`. Each entry lives until the proof's `iat` plus the proof window, and takes
/// about 230 bytes of Redis memory (Redis 7.0: 100 000 entries, 23 MB): at 1 000 DPoP requests
/// a second and the default window of 5 minutes, about 70 MB.
///
/// The connection is made on the Tokio runtime of the first request, and each command uses the
/// one multiplexed connection: no pool to size.
///
/// ```no_run
/// use bearer_guard::dpop::{Dpop, RedisReplayStore};
/// use bearer_guard::{GuardLayer, Issuer, Validator};
/// use std::time::Duration;
///
/// # fn build() -> Result<(), bearer_guard::ConfigError> {
/// let validator = Validator::builder()
///     .issuer(Issuer::new("https://idp.example.com").audience("https://orders.example.com"))
///     .build()?;
/// // Does not connect: built while Redis is down, the guard starts and answers requests
/// // with a DPoP proof 503 until Redis is up.
/// let store = RedisReplayStore::new("rediss://:password@redis.internal:6380/0")?
///     .namespace("orders-api")
///     .timeout(Duration::from_millis(300));
/// let guard = GuardLayer::new(validator)
///     .dpop(Dpop::new("https://orders.example.com").replay_store(store))?;
/// # let _ = guard;
/// # Ok(()) }
/// ```
pub struct RedisReplayStore {
    client: Client,
    /// Made on the first record, so that building needs neither Redis nor a runtime.
    manager: OnceLock<ConnectionManager>,
    namespace: String,
    timeout: Duration,
    retry_after: Duration,
    /// Whether the last command succeeded: an outage is logged once at `warn` when it begins
    /// and once at `info` when it ends, not once per request.
    healthy: AtomicBool,
    /// With `counter`, the value written: tells a record that landed before its connection
    /// dropped from another instance's.
    id: u64,
    counter: AtomicU64,
}

impl RedisReplayStore {
    /// Namespace of the keys unless [`namespace`](Self::namespace) says otherwise.
    pub const DEFAULT_NAMESPACE: &'static str = "bearer-guard:dpop";

    /// Longest wait for Redis per proof (connecting included) unless
    /// [`timeout`](Self::timeout) says otherwise: far above a local round trip (well under
    /// a millisecond), short enough that an outage costs a client half a second, not a hung
    /// request.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

    /// `Retry-After` sent while Redis is unavailable unless
    /// [`retry_after`](Self::retry_after) says otherwise.
    pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

    /// A store for the Redis at `url`: `redis://[user][:password@]host[:port][/db]`,
    /// `rediss://…` for TLS (server certificate checked against the system's roots), or
    /// `unix:///path/to/redis.sock[?db=N&user=…&pass=…]`. Nothing is connected yet.
    ///
    /// Defaults: namespace [`DEFAULT_NAMESPACE`](Self::DEFAULT_NAMESPACE), timeout
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT), `Retry-After`
    /// [`DEFAULT_RETRY_AFTER`](Self::DEFAULT_RETRY_AFTER).
    ///
    /// # Errors
    /// [`ConfigError::InvalidDpop`] with setting `dpop.redis_url` when `url` is not such a
    /// URL. The error does not repeat the URL, which may hold a password.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let client = Client::open(url).map_err(|_| ConfigError::InvalidDpop {
            setting: "dpop.redis_url",
            problem: "must be redis://[user][:password@]host[:port][/db], rediss://… (TLS) or \
                      unix:///path[?db=N] (the value is not shown: it may hold a password)",
        })?;
        Ok(Self {
            client,
            manager: OnceLock::new(),
            namespace: Self::DEFAULT_NAMESPACE.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
            retry_after: Self::DEFAULT_RETRY_AFTER,
            healthy: AtomicBool::new(true),
            id: random_id(),
            counter: AtomicU64::new(0),
        })
    }

    /// The prefix of every key: `<namespace>:<hex>`. Instances that must refuse each
    /// other's proofs use the same namespace; any string will do.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Longest wait for one record, connecting included (default
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT); at least 1 ms). Past it the request is
    /// answered 503.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The `Retry-After` of the 503 answered while Redis is unavailable (default
    /// [`DEFAULT_RETRY_AFTER`](Self::DEFAULT_RETRY_AFTER); at least 1 s).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after.max(Duration::from_secs(1));
        self
    }

    fn key(&self, key: &ReplayKey) -> String {
        format!("{}:{}", self.namespace, key.to_hex())
    }

    /// The connection manager, made on first use (so inside the caller's runtime). It
    /// connects lazily and, on a dropped connection or a failed connect, starts a new
    /// attempt that the next command waits for.
    fn manager(&self) -> Result<ConnectionManager, redis::RedisError> {
        if let Some(manager) = self.manager.get() {
            return Ok(manager.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            // One attempt per reconnect: the next request starts the next one, so a Redis
            // that is back is used at once rather than after a backoff.
            .set_number_of_retries(0);
        let manager = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        // Two first requests racing both make one; the loser's is dropped unused.
        Ok(self.manager.get_or_init(|| manager).clone())
    }

    fn unavailable(&self, why: &dyn fmt::Display) -> ReplayError {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                redis = %Addr(self.client.get_connection_info().addr()),
                error = %why,
                "DPoP replay store unavailable: requests with a DPoP proof are answered 503"
            );
        } else {
            tracing::debug!(error = %why, "DPoP replay store still unavailable");
        }
        ReplayError::Unavailable {
            retry_after: self.retry_after,
        }
    }

    /// A value no other record writes: this store's random id and a counter.
    fn token(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}{n:x}", self.id)
    }

    /// `SET key token NX PX ttl`; after a dropped connection, once more on the new one.
    async fn set_nx_px(&self, key: String, ttl_ms: u64) -> Result<Recorded, redis::RedisError> {
        let token = self.token();
        let mut connection = self.manager()?;
        let mut set = redis::cmd("SET");
        set.arg(&key).arg(&token).arg("NX").arg("PX").arg(ttl_ms);
        match set.query_async::<Value>(&mut connection).await {
            Err(e) if e.is_io_error() || e.is_unrecoverable_error() => {
                // Redis restarted or failed over, or this idle connection was cut: the manager
                // is reconnecting, and the next try waits for it. The first SET may have landed
                // with only its reply lost: then the key holds this record's own token.
                tracing::debug!(error = %e, "DPoP replay store: connection lost, trying again");
                match reply(set.query_async::<Value>(&mut connection).await?)? {
                    Recorded::Seen => {
                        let held: Option<String> = redis::cmd("GET")
                            .arg(&key)
                            .query_async(&mut connection)
                            .await?;
                        Ok(if held == Some(token) {
                            Recorded::First
                        } else {
                            Recorded::Seen
                        })
                    }
                    Recorded::First => Ok(Recorded::First),
                }
            }
            first_try => reply(first_try?),
        }
    }

    async fn record_within_timeout(
        &self,
        key: String,
        ttl_ms: u64,
    ) -> Result<Recorded, ReplayError> {
        let recorded = match tokio::time::timeout(self.timeout, self.set_nx_px(key, ttl_ms)).await {
            Ok(Ok(recorded)) => recorded,
            Ok(Err(e)) => return Err(self.unavailable(&e)),
            Err(_) => {
                return Err(self.unavailable(&format_args!("no reply within {:?}", self.timeout)));
            }
        };
        if !self.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!("DPoP replay store available again");
        }
        Ok(recorded)
    }
}

/// `OK` is the first record, nil a replay; anything else is an error.
fn reply(value: Value) -> Result<Recorded, redis::RedisError> {
    match value {
        Value::Okay => Ok(Recorded::First),
        Value::SimpleString(s) if s == "OK" => Ok(Recorded::First),
        Value::Nil => Ok(Recorded::Seen),
        _ => Err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "SET NX answered neither OK nor nil",
        ))),
    }
}

fn random_id() -> u64 {
    let mut bytes = [0; 8];
    // Only uniqueness matters: were the generator to fail, the time still tells stores apart.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
        bytes = now.map_or(0, |d| d.as_nanos() as u64).to_le_bytes();
    }
    u64::from_le_bytes(bytes)
}

/// Milliseconds from now until `expires_at`, at least 1 (`PX 0` is an error in Redis).
fn ttl_ms(expires_at: SystemTime, now: SystemTime) -> u64 {
    expires_at.duration_since(now).map_or(1, |left| {
        u64::try_from(left.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, i64::MAX as u64 / 2)
    })
}

impl ReplayStore for RedisReplayStore {
    fn record(&self, key: ReplayKey, expires_at: SystemTime) -> RecordFuture<'_> {
        let key = self.key(&key);
        let ttl = ttl_ms(expires_at, SystemTime::now());
        Box::pin(self.record_within_timeout(key, ttl))
    }
}

/// Where Redis is, without user name, password or anything else from the URL.
struct Addr<'a>(&'a ConnectionAddr);

impl fmt::Display for Addr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ConnectionAddr::TcpTls { .. } => write!(f, "rediss://{}", self.0),
            ConnectionAddr::Unix(_) => write!(f, "unix://{}", self.0),
            _ => write!(f, "redis://{}", self.0),
        }
    }
}

impl fmt::Debug for RedisReplayStore {
    /// The address and database, never the user name or password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.client.get_connection_info();
        f.debug_struct("RedisReplayStore")
            .field("addr", &format_args!("{}", Addr(info.addr())))
            .field("db", &info.redis_settings().db())
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_when_built_and_never_repeated() {
        for url in [
            "http://redis.internal",
            "redis://:s3cret@redis.internal/notadb",
            "redis://user:s3cret@0.0.0.0",
            "not a url s3cret",
            "",
        ] {
            let error = RedisReplayStore::new(url).map(drop).unwrap_err();
            let shown = error.to_string();
            assert!(shown.starts_with("dpop.redis_url: "), "{shown}");
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        for url in [
            "redis://127.0.0.1",
            "redis://user:pw@redis.internal:6380/2",
            "rediss://redis.internal",
            "unix:///run/redis.sock?db=1",
        ] {
            assert!(RedisReplayStore::new(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn debug_shows_where_not_who() {
        let store = RedisReplayStore::new("rediss://alice:s3cret@redis.internal:6380/2")
            .unwrap()
            .namespace("orders-api");
        let shown = format!("{store:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("alice"),
            "{shown}"
        );
        assert!(shown.contains("rediss://redis.internal:6380"), "{shown}");
        assert!(
            shown.contains("db: 2") && shown.contains("orders-api"),
            "{shown}"
        );
        let unix = RedisReplayStore::new("unix:///run/redis.sock?pass=s3cret").unwrap();
        assert!(!format!("{unix:?}").contains("s3cret"));
    }

    #[test]
    fn keys_are_namespaced_hex() {
        let store = RedisReplayStore::new("redis://127.0.0.1").unwrap();
        let key = ReplayKey::new([0xab; 32]);
        assert_eq!(
            store.key(&key),
            format!("bearer-guard:dpop:{}", "ab".repeat(32))
        );
        let store = store.namespace("orders-api");
        assert_eq!(store.key(&key), format!("orders-api:{}", "ab".repeat(32)));
    }

    #[test]
    fn ttl_is_whole_milliseconds_and_at_least_one() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(ttl_ms(now + Duration::from_millis(1500), now), 1500);
        assert_eq!(ttl_ms(now + Duration::from_micros(10), now), 1);
        assert_eq!(ttl_ms(now, now), 1);
        assert_eq!(ttl_ms(now - Duration::from_secs(5), now), 1);
    }

    #[test]
    fn settings_have_floors() {
        let store = RedisReplayStore::new("redis://127.0.0.1")
            .unwrap()
            .timeout(Duration::ZERO)
            .retry_after(Duration::from_millis(10));
        assert_eq!(store.timeout, Duration::from_millis(1));
        assert_eq!(store.retry_after, Duration::from_secs(1));
    }
}
