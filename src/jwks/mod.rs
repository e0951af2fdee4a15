//! Key sets: where an issuer's keys come from, and how they are kept current.
//!
//! Readers never wait for I/O when their key is known: the current set is behind one atomic
//! pointer ([`arc_swap`]) and replaced whole. Refreshes are single-flight: whatever triggers
//! them (first use, an unknown `kid`, age), at most one fetch per issuer runs at a time, in its
//! own task, and everyone who needs its result awaits that one fetch. An unknown `kid` may
//! trigger a refresh at most once per cooldown; inside the cooldown it is rejected at once.
//! A failed fetch never replaces a good set.

pub(crate) mod discovery;
pub(crate) mod fetch;
pub(crate) mod key;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use reqwest::Url;
use tokio::sync::watch;
use tokio::time::Instant;

pub use fetch::FetchError;
pub(crate) use key::{KeySet, VerifyingKey};

use crate::error::AuthError;
use crate::metrics::FetchOutcome;

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    /// `jwks_uri` from the issuer's metadata.
    Discovery { issuer_url: Url },
    /// A configured `jwks_uri`.
    JwksUri(Url),
    /// Keys given in code; never refreshed.
    Static(Arc<KeySet>),
}

/// How keys are refreshed; defaults in [`crate::defaults`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefreshPolicy {
    /// Freshness when the JWKS response says nothing (`Cache-Control`, `Expires`).
    pub(crate) default_ttl: Duration,
    /// Bounds on what the response may say.
    pub(crate) min_ttl: Duration,
    pub(crate) max_ttl: Duration,
    /// How long past its freshness a set stays usable while fetches fail.
    pub(crate) max_stale: Duration,
    pub(crate) unknown_kid_cooldown: Duration,
    pub(crate) min_retry: Duration,
    pub(crate) max_retry: Duration,
    pub(crate) allow_insecure_http: bool,
}

/// A key set and its lifetimes.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) keys: Arc<KeySet>,
    /// When a background refresh starts (a little before `fresh_until`, with jitter).
    refresh_at: Instant,
    fresh_until: Instant,
    usable_until: Instant,
    /// `refresh_at` and `usable_until` on the wall clock (since the Unix epoch), for
    /// [`KeyStore::still_serves`]: a cached token's check reads the wall clock once, for its
    /// `exp` and for its key alike.
    wall_refresh_at: Duration,
    wall_usable_until: Duration,
}

impl Loaded {
    fn new(keys: Arc<KeySet>, ttl: Duration, policy: &RefreshPolicy) -> Self {
        let (now, wall) = (Instant::now(), unix_time());
        // Refresh somewhere in the last quarter of the lifetime, so that a fleet started
        // together does not refresh in lockstep and the set is renewed before it goes stale.
        let ahead = jitter(ttl / 4, 0.5);
        let (refresh, usable) = (
            ttl.saturating_sub(ahead + ttl / 8),
            ttl.saturating_add(policy.max_stale),
        );
        Self {
            keys,
            refresh_at: later(now, refresh),
            fresh_until: later(now, ttl),
            usable_until: later(now, usable),
            wall_refresh_at: wall.saturating_add(refresh.min(FAR_FUTURE)),
            wall_usable_until: wall.saturating_add(usable.min(FAR_FUTURE)),
        }
    }

    fn never_expiring(keys: Arc<KeySet>) -> Self {
        let far = later(Instant::now(), FAR_FUTURE);
        let wall_far = unix_time().saturating_add(FAR_FUTURE);
        Self {
            keys,
            refresh_at: far,
            fresh_until: far,
            usable_until: far,
            wall_refresh_at: wall_far,
            wall_usable_until: wall_far,
        }
    }
}

/// The wall clock: the time since the Unix epoch (zero before it).
pub(crate) fn unix_time() -> Duration {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// What "never" is for deadlines: tokio's own far future (30 years), which any platform's
/// clock can add to now.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// `now + d`, at most [`FAR_FUTURE`] ahead: `Instant + Duration` panics on overflow, and the
/// durations come from settings and from servers.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(FAR_FUTURE)).unwrap_or(now)
}

/// `d` scaled by a random factor in `[1 - spread, 1]`.
fn jitter(d: Duration, spread: f64) -> Duration {
    let random = RandomState::new().hash_one(Instant::now().into_std());
    let unit = (random >> 11) as f64 / (1u64 << 53) as f64;
    // Not `mul_f64`: it panics when the product rounds up past `Duration::MAX`, as
    // `Duration::MAX * 1.0` does.
    Duration::try_from_secs_f64(d.as_secs_f64() * (1.0 - spread * unit))
        .map_or(d, |scaled| scaled.min(d))
}

/// Milliseconds for a log field.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The state of one issuer's keys, for readiness probes and dashboards.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyStatus {
    /// The issuer.
    pub issuer: String,
    /// Usable keys in the current set.
    pub key_count: usize,
    /// Fresh, stale (kept through failed refreshes) or unavailable.
    pub state: KeyState,
    /// When the set was last fetched or confirmed unchanged.
    pub last_success: Option<SystemTime>,
    /// Why the last fetch failed, if it did.
    pub last_error: Option<FetchError>,
    /// Failed fetches in a row.
    pub consecutive_failures: u32,
}

/// What a readiness probe needs: whether every trusted issuer's keys can serve, and each
/// one's [`KeyStatus`]. Returned by [`Validator::readiness`](crate::Validator::readiness).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Readiness {
    /// Each trusted issuer's keys, sorted by issuer.
    pub issuers: Vec<KeyStatus>,
}

impl Readiness {
    /// Whether tokens of every trusted issuer can be verified now: no issuer's keys are
    /// [`KeyState::Unavailable`] (stale keys still serve).
    pub fn is_ready(&self) -> bool {
        self.issuers
            .iter()
            .all(|issuer| issuer.state != KeyState::Unavailable)
    }
}

/// Whether an issuer's keys can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyState {
    /// Within the lifetime the JWKS response gave.
    Fresh,
    /// Past it, kept because refreshes fail; still used until the staleness limit.
    Stale,
    /// Never loaded, or past the staleness limit: tokens get 503.
    Unavailable,
}

impl KeyState {
    /// The stable name reports and metric labels use: `fresh`, `stale`, `unavailable`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Fresh => "fresh",
            Self::Stale => "stale",
            Self::Unavailable => "unavailable",
        }
    }
}

/// What a caller is told to do about a refresh.
enum Step {
    /// Await the refresh in flight.
    Wait(watch::Receiver<u64>),
    /// Start one (and await it, unless in the background).
    Lead(watch::Receiver<u64>),
    /// Do not refresh now: use what is there.
    Skip,
}

#[derive(Debug, Default)]
struct Gate {
    in_flight: bool,
    last_unknown_kid_refresh: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
    jwks_uri: Option<Url>,
    validators: fetch::Validators,
    last_success: Option<SystemTime>,
    last_error: Option<FetchError>,
}

/// Why a refresh is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Missing,
    UnknownKid,
    Due,
}

/// One issuer's keys.
#[derive(Debug)]
pub(crate) struct KeyStore {
    issuer: Arc<str>,
    source: KeySource,
    fetcher: fetch::Fetcher,
    policy: RefreshPolicy,
    current: ArcSwapOption<Loaded>,
    gate: Mutex<Gate>,
    done: watch::Sender<u64>,
    /// Whether a background task is loading the keys for a readiness probe.
    loading: AtomicBool,
    /// A fault for tests: every fetch panics once its answer is in.
    #[cfg(test)]
    panic_in_fetch: std::sync::atomic::AtomicBool,
}

impl KeyStore {
    pub(crate) fn new(
        issuer: Arc<str>,
        source: KeySource,
        fetcher: fetch::Fetcher,
        policy: RefreshPolicy,
    ) -> Self {
        let current = match &source {
            KeySource::Static(keys) => Some(Arc::new(Loaded::never_expiring(Arc::clone(keys)))),
            _ => None,
        };
        Self {
            issuer,
            source,
            fetcher,
            policy,
            current: ArcSwapOption::new(current),
            gate: Mutex::new(Gate::default()),
            done: watch::channel(0).0,
            loading: AtomicBool::new(false),
            #[cfg(test)]
            panic_in_fetch: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current set if it may still be used.
    fn usable(&self) -> Option<Arc<Loaded>> {
        self.current
            .load_full()
            .filter(|loaded| Instant::now() < loaded.usable_until)
    }

    /// The key set to verify a token with this `kid`: the current one when it knows the kid
    /// (no waiting), else the outcome of at most one refresh.
    ///
    /// # Errors
    /// [`crate::ErrorKind::KeysUnavailable`] when there is no usable set.
    pub(crate) async fn keys_for(
        self: &Arc<Self>,
        kid: Option<&str>,
    ) -> Result<Arc<Loaded>, AuthError> {
        // Which refreshes had completed when we looked: if another completes before we decide
        // to fetch, its result is what we need, and no second fetch is started.
        let seen = *self.done.borrow();
        let Some(loaded) = self.usable() else {
            return self.refresh_and_load(Trigger::Missing, seen).await;
        };
        if Instant::now() >= loaded.refresh_at {
            self.refresh_in_background();
        }
        match kid {
            Some(kid) if !loaded.keys.has_kid(kid) => {
                self.refresh_and_load(Trigger::UnknownKid, seen).await
            }
            _ => Ok(loaded),
        }
    }

    /// Whether `key` is in the current usable set: the check a cached token passes instead
    /// of a signature. Like [`Self::keys_for`], it starts a background refresh when one is due,
    /// so a service that only sees cached tokens still notices rotations.
    ///
    /// `now` is the wall clock ([`unix_time`]) the caller read for the token's `exp`: the
    /// set's deadlines were also set on the wall clock when it was loaded, so a cached token
    /// costs one clock read.
    pub(crate) fn still_serves(self: &Arc<Self>, key: &VerifyingKey, now: Duration) -> bool {
        let current = self.current.load();
        let Some(loaded) = current.as_ref() else {
            return false;
        };
        if now >= loaded.wall_usable_until {
            return false;
        }
        if now >= loaded.wall_refresh_at && tokio::runtime::Handle::try_current().is_ok() {
            self.refresh_in_background();
        }
        loaded.keys.contains(key)
    }

    async fn refresh_and_load(
        self: &Arc<Self>,
        trigger: Trigger,
        seen: u64,
    ) -> Result<Arc<Loaded>, AuthError> {
        match self.step(trigger, seen) {
            Step::Lead(mut done) => {
                tokio::spawn(Arc::clone(self).refresh());
                let _ = done.changed().await;
            }
            Step::Wait(mut done) => {
                let _ = done.changed().await;
            }
            Step::Skip => {}
        }
        self.usable()
            .ok_or_else(|| AuthError::keys_unavailable(self.retry_after()))
    }

    fn refresh_in_background(self: &Arc<Self>) {
        // Read apart: a `watch::Ref` alive during `step` would hold the channel's lock while
        // taking the gate, the reverse of a finishing refresh's order.
        let seen = *self.done.borrow();
        if let Step::Lead(_) = self.step(Trigger::Due, seen) {
            tokio::spawn(Arc::clone(self).refresh());
        }
    }

    /// Decides, under the gate, whether this caller refreshes, waits, or goes on.
    fn step(&self, trigger: Trigger, seen: u64) -> Step {
        if matches!(self.source, KeySource::Static(_)) {
            return Step::Skip;
        }
        let mut gate = self.gate();
        if gate.in_flight {
            return if trigger == Trigger::Due {
                Step::Skip
            } else {
                Step::Wait(self.done.subscribe())
            };
        }
        if *self.done.borrow() != seen {
            // A refresh finished since the caller looked at the set: use its outcome.
            return Step::Skip;
        }
        let now = Instant::now();
        if gate.retry_at.is_some_and(|at| now < at) {
            return Step::Skip;
        }
        if trigger == Trigger::UnknownKid {
            if gate
                .last_unknown_kid_refresh
                .is_some_and(|at| now.duration_since(at) < self.policy.unknown_kid_cooldown)
            {
                return Step::Skip;
            }
            gate.last_unknown_kid_refresh = Some(now);
        }
        gate.in_flight = true;
        Step::Lead(self.done.subscribe())
    }

    /// For a 503's `Retry-After`: whole seconds, so at least one.
    fn retry_after(&self) -> Duration {
        self.until_retry().max(Duration::from_secs(1))
    }

    /// How long the backoff holds the next fetch back.
    fn until_retry(&self) -> Duration {
        self.gate()
            .retry_at
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }

    /// Loads the keys if they are not loaded yet, awaiting the fetch.
    pub(crate) async fn warm_up(self: &Arc<Self>) -> Result<(), AuthError> {
        self.keys_for(None).await.map(drop)
    }

    /// For readiness probes, without waiting: when the keys are not loaded, makes sure a
    /// background task is loading them, retrying with backoff until it succeeds; when they
    /// are due for a refresh, starts it. A service without traffic thus loads its keys as
    /// soon as the identity provider answers, and keeps them fresh while it is probed.
    pub(crate) fn keep_loaded(self: &Arc<Self>) {
        if matches!(self.source, KeySource::Static(_))
            || tokio::runtime::Handle::try_current().is_err()
        {
            return;
        }
        match self.usable() {
            Some(loaded) if Instant::now() >= loaded.refresh_at => self.refresh_in_background(),
            Some(_) => {}
            None => {
                if !self.loading.swap(true, Ordering::AcqRel) {
                    tokio::spawn(Self::load_until_usable(Arc::downgrade(self)));
                }
            }
        }
    }

    /// Loads the keys, retrying as the backoff allows, until they are usable or the store
    /// is dropped (holding it only weakly in between, so a dropped validator stops it).
    async fn load_until_usable(store: Weak<Self>) {
        loop {
            let wait = {
                let Some(store) = store.upgrade() else { return };
                if store.usable().is_some() {
                    store.loading.store(false, Ordering::Release);
                    // A probe that ran between the check and the store found the flag set:
                    // nothing is lost, the keys are usable.
                    return;
                }
                let seen = *store.done.borrow();
                match store.step(Trigger::Missing, seen) {
                    Step::Lead(_) => {
                        // In its own task, like every refresh, so that it always settles.
                        let _ = tokio::spawn(Arc::clone(&store).refresh()).await;
                        continue;
                    }
                    Step::Wait(mut done) => {
                        drop(store);
                        let _ = done.changed().await;
                        continue;
                    }
                    // Never a busy loop, whatever the configured backoff.
                    Step::Skip => store.until_retry().max(Duration::from_millis(10)),
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    pub(crate) fn status(&self) -> KeyStatus {
        let now = Instant::now();
        let current = self.current.load_full();
        let gate = self.gate();
        let state = match &current {
            Some(l) if now < l.fresh_until => KeyState::Fresh,
            Some(l) if now < l.usable_until => KeyState::Stale,
            _ => KeyState::Unavailable,
        };
        KeyStatus {
            issuer: self.issuer.to_string(),
            key_count: current.map_or(0, |l| l.keys.len()),
            state,
            last_success: gate.last_success,
            last_error: gate.last_error.clone(),
            consecutive_failures: gate.failures,
        }
    }

    /// Fetches and swaps in a new set; runs in its own task so that a cancelled request cannot
    /// abandon it half-way.
    async fn refresh(self: Arc<Self>) {
        // Whatever happens below, even a panic, the gate is reopened and waiters woken. A
        // refresh that ends without an outcome counts as a failed one, so that its backoff
        // holds: otherwise every request after a panicking refresh would start a fetch.
        struct Reopen<'a> {
            store: &'a KeyStore,
            started: Instant,
            settled: bool,
        }
        impl Drop for Reopen<'_> {
            fn drop(&mut self) {
                // All under the gate, so no caller sees the gate open before the count moves.
                let mut gate = self.store.gate();
                if !self.settled {
                    self.store
                        .record_failure(&mut gate, FetchError::Aborted, self.started);
                }
                gate.in_flight = false;
                self.store.done.send_modify(|n| *n = n.wrapping_add(1));
                drop(gate);
                // Every refresh ends here: the key-set gauges follow its outcome.
                #[cfg(feature = "metrics")]
                crate::metrics::key_status(&self.store.status());
            }
        }
        let started = Instant::now();
        let mut reopen = Reopen {
            store: &self,
            started,
            settled: false,
        };
        let result = self.fetch().await;
        let duration = started.elapsed();
        let outcome = match &result {
            Ok((_, Some(_))) => FetchOutcome::Success,
            Ok((_, None)) => FetchOutcome::NotModified,
            Err(_) => FetchOutcome::Failure,
        };
        crate::metrics::key_fetch(&self.issuer, outcome, duration);
        let duration_ms = millis(duration);
        let issuer = &*self.issuer;
        let mut gate = self.gate();
        match result {
            Ok((fetched, keys)) => {
                let previous = self.current.load_full();
                let keys = match (keys, &previous) {
                    (Some(keys), _) => Arc::new(keys),
                    (None, Some(previous)) => Arc::clone(&previous.keys),
                    (None, None) => {
                        // 304 without a set to keep: forget the validators and fetch afresh.
                        gate.validators = fetch::Validators::default();
                        reopen.settled = true;
                        return;
                    }
                };
                let ttl = fetched
                    .max_age
                    .unwrap_or(self.policy.default_ttl)
                    .clamp(self.policy.min_ttl, self.policy.max_ttl);
                let status = if fetched.body.is_some() { "200" } else { "304" };
                if let Some(previous) = &previous
                    && !Arc::ptr_eq(&previous.keys, &keys)
                {
                    let (added, removed) = keys.kid_changes(&previous.keys);
                    if added + removed > 0 {
                        tracing::info!(
                            issuer,
                            added,
                            removed,
                            key_count = keys.len(),
                            "JWKS rotated"
                        );
                    }
                }
                tracing::info!(
                    issuer,
                    status,
                    key_count = keys.len(),
                    duration_ms,
                    ttl_s = ttl.as_secs(),
                    "JWKS fetched"
                );
                self.current
                    .store(Some(Arc::new(Loaded::new(keys, ttl, &self.policy))));
                gate.validators = fetched.validators;
                gate.failures = 0;
                gate.retry_at = None;
                gate.last_error = None;
                gate.last_success = Some(SystemTime::now());
            }
            Err(error) => self.record_failure(&mut gate, error, started),
        }
        reopen.settled = true;
    }

    /// Counts a failed refresh and sets when the next may start: `min_retry`, doubling with
    /// each failure in a row up to `max_retry`, with jitter.
    fn record_failure(&self, gate: &mut Gate, error: FetchError, started: Instant) {
        let backoff = jitter(
            self.policy
                .min_retry
                .saturating_mul(1 << gate.failures.min(16))
                .min(self.policy.max_retry),
            0.25,
        );
        gate.failures = gate.failures.saturating_add(1);
        gate.retry_at = Some(later(Instant::now(), backoff));
        // A failing JWKS location may have moved: look it up again next time.
        gate.jwks_uri = None;
        let status = match error {
            FetchError::Status(code) => code,
            _ => 0,
        };
        tracing::warn!(
            issuer = &*self.issuer,
            status,
            %error,
            duration_ms = millis(started.elapsed()),
            retry_in_ms = millis(backoff),
            "JWKS fetch failed; keeping the last good key set"
        );
        gate.last_error = Some(error);
    }

    /// One fetch: the set (`None` when the server answered 304) and its cache headers.
    async fn fetch(&self) -> Result<(fetch::Fetched, Option<KeySet>), FetchError> {
        let (known, validators) = {
            let gate = self.gate();
            (gate.jwks_uri.clone(), gate.validators.clone())
        };
        let jwks_uri = match (&self.source, known) {
            (_, Some(uri)) => uri,
            (KeySource::JwksUri(uri), None) => uri.clone(),
            (KeySource::Discovery { issuer_url }, None) => {
                let uri = discovery::discover(
                    &self.fetcher,
                    &self.issuer,
                    issuer_url,
                    discovery::Endpoint::Jwks,
                    self.policy.allow_insecure_http,
                )
                .await?;
                self.gate().jwks_uri = Some(uri.clone());
                uri
            }
            (KeySource::Static(_), None) => return Err(FetchError::Invalid("static key set")),
        };
        let fetched = self
            .fetcher
            .get_conditional(&jwks_uri, fetch::ACCEPT_JWKS, &validators)
            .await?;
        #[cfg(test)]
        if self
            .panic_in_fetch
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            panic!("a fault injected by a test");
        }
        let keys = match &fetched.body {
            None => None,
            Some(body) => Some(KeySet::from_jwks(body, &self.issuer).map_err(|e| match e {
                key::KeySetError::Malformed => FetchError::Invalid("not a JWKS"),
                key::KeySetError::NoUsableKey => FetchError::Invalid("no usable key"),
            })?),
        };
        Ok((fetched, keys))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::ErrorKind;

    // RFC 7515 appendix A.3's P-256 key.
    const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

    fn policy() -> RefreshPolicy {
        RefreshPolicy {
            default_ttl: Duration::from_secs(60),
            min_ttl: Duration::from_secs(1),
            max_ttl: Duration::from_secs(60),
            max_stale: Duration::from_secs(60),
            unknown_kid_cooldown: Duration::from_secs(30),
            min_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(10),
            allow_insecure_http: false,
        }
    }

    /// A JWKS endpoint on loopback, and how many times it was asked.
    async fn serve_jwks() -> (Url, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let router = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { JWKS }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}/jwks", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        (Url::parse(&url).expect("a URL"), hits)
    }

    fn store(url: Url) -> Arc<KeyStore> {
        let fetcher = fetch::Fetcher::new(Duration::from_secs(2), 64 * 1024).expect("client");
        Arc::new(KeyStore::new(
            "https://idp.test".into(),
            KeySource::JwksUri(url),
            fetcher,
            policy(),
        ))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_refresh_still_sets_its_retry_delay() {
        let (url, hits) = serve_jwks().await;
        let store = store(url);
        store.panic_in_fetch.store(true, Ordering::Relaxed);
        for _ in 0..5 {
            let error = store.keys_for(Some("k1")).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::KeysUnavailable);
            let retry = error.retry_after().expect("a retry hint");
            assert!(retry > Duration::from_secs(5), "{retry:?}");
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "one fetch, then the backoff"
        );
        let status = store.status();
        assert_eq!(status.last_error, Some(FetchError::Aborted));
        assert_eq!(status.consecutive_failures, 1);
        assert!(!store.gate().in_flight, "the gate is open again");

        // Past the backoff, the next refresh may run, and succeeds once the fault is gone.
        store.panic_in_fetch.store(false, Ordering::Relaxed);
        store.gate().retry_at = None;
        let loaded = store.keys_for(Some("k1")).await.expect("loads");
        assert!(loaded.keys.has_kid("k1"));
        assert_eq!(store.status().consecutive_failures, 0);
    }

    #[test]
    fn lifetimes_and_backoffs_saturate_instead_of_overflowing() {
        let keys = Arc::new(KeySet::default());
        let mut policy = policy();
        policy.max_stale = Duration::MAX;
        for ttl in [Duration::MAX, Duration::from_secs(u64::MAX), Duration::ZERO] {
            let loaded = Loaded::new(Arc::clone(&keys), ttl, &policy);
            assert!(loaded.refresh_at <= loaded.fresh_until);
            assert!(loaded.fresh_until <= loaded.usable_until);
            assert!(loaded.wall_refresh_at <= loaded.wall_usable_until);
        }
        for d in [Duration::MAX, Duration::from_secs(u64::MAX), Duration::ZERO] {
            // A factor of exactly 1 (spread 0, or a random 0) is the edge: `Duration::MAX`
            // in `f64` seconds rounds up past it.
            assert_eq!(jitter(d, 0.0), d);
            assert!(jitter(d, 0.25) <= d);
            assert!(jitter(d, 1.0) <= d);
        }
        let now = Instant::now();
        assert!(later(now, Duration::MAX) > now);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
