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

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use reqwest::Url;
use tokio::sync::watch;

pub use fetch::FetchError;
pub(crate) use key::KeySet;

use crate::error::AuthError;

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    /// `jwks_uri` from the issuer's metadata.
    Discovery { issuer_url: Url },
    /// A configured `jwks_uri`.
    JwksUri(Url),
    /// Keys given in code; never refreshed.
    Static(KeySet),
}

/// How keys are refreshed; defaults in [`crate::defaults`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefreshPolicy {
    pub(crate) refresh_interval: Duration,
    pub(crate) unknown_kid_cooldown: Duration,
    pub(crate) min_retry: Duration,
    pub(crate) max_retry: Duration,
    pub(crate) allow_insecure_http: bool,
}

/// A key set and when it was obtained.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) keys: KeySet,
    fetched_at: Instant,
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
}

impl KeyStore {
    pub(crate) fn new(
        issuer: Arc<str>,
        source: KeySource,
        fetcher: fetch::Fetcher,
        policy: RefreshPolicy,
    ) -> Self {
        let current = match &source {
            KeySource::Static(keys) => Some(Arc::new(Loaded {
                keys: keys.clone(),
                fetched_at: Instant::now(),
            })),
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
        }
    }

    /// The key set to verify a token with this `kid`: the current one when it knows the kid
    /// (no waiting), else the outcome of at most one refresh.
    ///
    /// # Errors
    /// [`crate::ErrorKind::KeysUnavailable`] when there is no set at all.
    pub(crate) async fn keys_for(
        self: &Arc<Self>,
        kid: Option<&str>,
    ) -> Result<Arc<Loaded>, AuthError> {
        let Some(loaded) = self.current.load_full() else {
            return self.refresh_and_load(Trigger::Missing).await;
        };
        if loaded.fetched_at.elapsed() >= self.policy.refresh_interval {
            self.refresh_in_background();
        }
        match kid {
            Some(kid) if !loaded.keys.has_kid(kid) => {
                self.refresh_and_load(Trigger::UnknownKid).await
            }
            _ => Ok(loaded),
        }
    }

    async fn refresh_and_load(
        self: &Arc<Self>,
        trigger: Trigger,
    ) -> Result<Arc<Loaded>, AuthError> {
        match self.step(trigger) {
            Step::Lead(mut done) => {
                tokio::spawn(Arc::clone(self).refresh());
                let _ = done.changed().await;
            }
            Step::Wait(mut done) => {
                let _ = done.changed().await;
            }
            Step::Skip => {}
        }
        self.current
            .load_full()
            .ok_or_else(|| AuthError::keys_unavailable(self.retry_after()))
    }

    fn refresh_in_background(self: &Arc<Self>) {
        if let Step::Lead(_) = self.step(Trigger::Due) {
            tokio::spawn(Arc::clone(self).refresh());
        }
    }

    /// Decides, under the gate, whether this caller refreshes, waits, or goes on.
    fn step(&self, trigger: Trigger) -> Step {
        if matches!(self.source, KeySource::Static(_)) {
            return Step::Skip;
        }
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        if gate.in_flight {
            return if trigger == Trigger::Due {
                Step::Skip
            } else {
                Step::Wait(self.done.subscribe())
            };
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

    fn retry_after(&self) -> Duration {
        let gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        gate.retry_at
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
            .max(Duration::from_secs(1))
    }

    /// Fetches and swaps in a new set; runs in its own task so that a cancelled request cannot
    /// abandon it half-way.
    async fn refresh(self: Arc<Self>) {
        // Whatever happens below (even a panic), the gate is reopened and waiters woken.
        struct Reopen<'a>(&'a KeyStore);
        impl Drop for Reopen<'_> {
            fn drop(&mut self) {
                self.0
                    .gate
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .in_flight = false;
                self.0.done.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
        let _reopen = Reopen(&self);
        let started = Instant::now();
        let result = self.fetch().await;
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(keys) => {
                tracing::info!(
                    issuer = &*self.issuer,
                    key_count = keys.len(),
                    duration_ms = started.elapsed().as_millis() as u64,
                    "JWKS fetched"
                );
                self.current.store(Some(Arc::new(Loaded {
                    keys,
                    fetched_at: Instant::now(),
                })));
                gate.failures = 0;
                gate.retry_at = None;
                gate.last_error = None;
            }
            Err(error) => {
                let backoff = self
                    .policy
                    .min_retry
                    .saturating_mul(1 << gate.failures.min(16))
                    .min(self.policy.max_retry);
                gate.failures = gate.failures.saturating_add(1);
                gate.retry_at = Some(Instant::now() + backoff);
                // A failing JWKS location may have moved: look it up again next time.
                gate.jwks_uri = None;
                tracing::warn!(
                    issuer = &*self.issuer,
                    %error,
                    duration_ms = started.elapsed().as_millis() as u64,
                    retry_in_ms = backoff.as_millis() as u64,
                    "JWKS fetch failed; keeping the last good key set"
                );
                gate.last_error = Some(error);
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, FetchError> {
        let known = self
            .gate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .jwks_uri
            .clone();
        let jwks_uri = match (&self.source, known) {
            (_, Some(uri)) => uri,
            (KeySource::JwksUri(uri), None) => uri.clone(),
            (KeySource::Discovery { issuer_url }, None) => {
                let uri = discovery::discover_jwks_uri(
                    &self.fetcher,
                    &self.issuer,
                    issuer_url,
                    self.policy.allow_insecure_http,
                )
                .await?;
                self.gate.lock().unwrap_or_else(|e| e.into_inner()).jwks_uri = Some(uri.clone());
                uri
            }
            (KeySource::Static(keys), None) => return Ok(keys.clone()),
        };
        let body = self.fetcher.get(&jwks_uri, fetch::ACCEPT_JWKS).await?;
        KeySet::from_jwks(&body, &self.issuer).map_err(|e| match e {
            key::KeySetError::Malformed => FetchError::Invalid("not a JWKS"),
            key::KeySetError::NoUsableKey => FetchError::Invalid("no usable key"),
        })
    }
}
