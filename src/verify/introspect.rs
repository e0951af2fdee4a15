//! Opaque tokens: asking the authorization server about them (RFC 7662 token introspection).
//!
//! A token that is not a JWS from a trusted issuer is sent to the introspection endpoint of
//! each issuer configured with [`Introspection`], in the order the issuers were configured,
//! until one answers `active: true`. The answer's members (`iss`, `aud`, `exp`, `scope`,
//! `client_id`, `cnf`…) then meet every rule a JWT's claims meet, and become the same
//! [`Claims`](crate::Claims).
//!
//! Answers are cached by a keyed SHA-256 of the token (never the token): an active one until
//! the sooner of its `exp` and [`Introspection::cache_for`], a refused one for
//! [`Introspection::inactive_cache_for`]. Concurrent requests with one new token share one
//! call. An endpoint that fails (unreachable, slow, 5xx, 401 to our credentials, not JSON) is
//! an outage, answered 503 with `Retry-After`, with backoff, never 401.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::defaults;
use crate::error::{AuthError, ConfigError, ErrorKind};
use crate::jwks::FetchError;
use crate::jwks::KeyStore;
use crate::jwks::discovery::{Endpoint, discover};
use crate::jwks::fetch::{Fetcher, check_url};
use crate::jwks::key::{AlgSet, parse_alg};
use crate::metrics::{self, IntrospectionOutcome};
use crate::verify::claims::Claims;
use crate::verify::json::StrictObject;
use crate::verify::validator::{decode_json, now};

/// How an issuer's opaque tokens are checked: its introspection endpoint (RFC 7662) and this
/// resource server's credentials there. Given to [`Issuer::introspection`](crate::Issuer::introspection).
///
/// ```
/// use bearer_guard::{Introspection, Issuer, Validator};
/// use std::time::Duration;
///
/// # fn build() -> Result<(), bearer_guard::ConfigError> {
/// let validator = Validator::builder()
///     .issuer(
///         Issuer::new("https://idp.example.com")
///             .audience("https://orders.example.com")
///             // Endpoint from the issuer's metadata (`introspection_endpoint`).
///             .introspection(
///                 Introspection::new("orders-api", "its-secret")
///                     .cache_for(Duration::from_secs(30)),
///             ),
///     )
///     .build()?;
/// # Ok(()) }
/// # build().unwrap();
/// ```
///
/// Its `Debug` never shows the secret.
#[derive(Clone)]
#[must_use]
pub struct Introspection {
    client_id: String,
    client_secret: String,
    endpoint: Option<String>,
    post: bool,
    cache_for: Duration,
    inactive_cache_for: Duration,
    signed: bool,
}

impl Introspection {
    /// Introspection as the client `client_id` with `client_secret` (`client_secret_basic`
    /// unless [`client_secret_post`](Self::client_secret_post)), at the endpoint the
    /// issuer's metadata names unless [`endpoint`](Self::endpoint) is given.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            endpoint: None,
            post: false,
            cache_for: defaults::INTROSPECTION_CACHE_FOR,
            inactive_cache_for: defaults::INTROSPECTION_INACTIVE_CACHE_FOR,
            signed: false,
        }
    }

    /// Ask for signed answers (RFC 9701: `Accept: application/token-introspection+jwt`) and
    /// trust one only once its signature verifies with the issuer's keys, its `typ` is
    /// `token-introspection+jwt`, its `iss` is the issuer, its `aud` names this resource
    /// server's client id and its `iat` is within a minute (or the leeway) of now. An answer
    /// that fails is treated as an outage (503), never as a verdict on the token.
    pub fn signed_responses(mut self) -> Self {
        self.signed = true;
        self
    }

    /// The introspection endpoint, instead of the metadata's `introspection_endpoint`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Send the credentials in the form body (`client_secret_post`) rather than in an
    /// `Authorization: Basic` header.
    pub fn client_secret_post(mut self) -> Self {
        self.post = true;
        self
    }

    /// How long an active answer is reused at most (default
    /// [`defaults::INTROSPECTION_CACHE_FOR`]; never past the token's `exp`; zero: every
    /// request asks). The trade-off: a token revoked at the authorization server keeps working
    /// here for up to this long.
    pub fn cache_for(mut self, ttl: Duration) -> Self {
        self.cache_for = ttl;
        self
    }

    /// How long a refused token (inactive, or active but failing a rule here) is answered
    /// from memory (default [`defaults::INTROSPECTION_INACTIVE_CACHE_FOR`]), so that a flood
    /// of made-up tokens does not become a flood on the authorization server.
    pub fn inactive_cache_for(mut self, ttl: Duration) -> Self {
        self.inactive_cache_for = ttl;
        self
    }

    /// The runtime part, for the issuer `issuer`.
    pub(crate) fn build(
        self,
        issuer: &Arc<str>,
        fetcher: &Fetcher,
        allow_insecure_http: bool,
    ) -> Result<Introspector, ConfigError> {
        let invalid = |setting, problem| ConfigError::InvalidIntrospection { setting, problem };
        if self.client_id.is_empty() {
            return Err(invalid("introspection.client_id", "is empty"));
        }
        if self.client_secret.is_empty() {
            return Err(invalid("introspection.client_secret", "is empty"));
        }
        for (setting, ttl) in [
            ("introspection.cache_for", self.cache_for),
            ("introspection.inactive_cache_for", self.inactive_cache_for),
        ] {
            if ttl > MAX_CACHE_FOR {
                return Err(ConfigError::TooLong {
                    setting,
                    max: MAX_CACHE_FOR,
                });
            }
        }
        let endpoint = match &self.endpoint {
            Some(url) => Some(check_url(
                "introspection.endpoint",
                url,
                allow_insecure_http,
            )?),
            None => None,
        };
        // `IssuerEntry::build` has refused an issuer URL with credentials already.
        let discovery = match &endpoint {
            Some(_) => None,
            None => Some(check_url("issuer", issuer, allow_insecure_http)?),
        };
        Ok(Introspector {
            issuer: Arc::clone(issuer),
            endpoint: match endpoint {
                Some(url) => OnceCell::new_with(Some(url)),
                None => OnceCell::new(),
            },
            discovery,
            client_id: self.client_id,
            client_secret: self.client_secret,
            post: self.post,
            fetcher: fetcher.clone(),
            allow_insecure_http,
            cache_for: self.cache_for,
            inactive_cache_for: self.inactive_cache_for,
            signed: self.signed,
            outage: Mutex::new(Outage::default()),
        })
    }
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspection")
            .field("client_id", &self.client_id)
            .field("endpoint", &self.endpoint)
            .field("client_secret_post", &self.post)
            .field("signed_responses", &self.signed)
            .field("cache_for", &self.cache_for)
            .field("inactive_cache_for", &self.inactive_cache_for)
            .finish_non_exhaustive()
    }
}

/// The media type of signed answers (RFC 9701 §4).
const SIGNED: &str = "application/token-introspection+jwt";

/// Longest cache time accepted: a revoked token must stop working within the hour.
const MAX_CACHE_FOR: Duration = Duration::from_secs(3600);

/// An issuer's introspection endpoint, its credentials there, and its health.
pub(crate) struct Introspector {
    pub(crate) issuer: Arc<str>,
    endpoint: OnceCell<Url>,
    /// The issuer's URL, when the endpoint comes from its metadata.
    discovery: Option<Url>,
    client_id: String,
    client_secret: String,
    post: bool,
    fetcher: Fetcher,
    allow_insecure_http: bool,
    pub(crate) cache_for: Duration,
    pub(crate) inactive_cache_for: Duration,
    signed: bool,
    outage: Mutex<Outage>,
}

/// Failures in a row, and until when requests are answered 503 without asking.
#[derive(Default)]
struct Outage {
    failures: u32,
    until: Option<Instant>,
}

impl fmt::Debug for Introspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspector")
            .field("issuer", &self.issuer)
            .field("endpoint", &self.endpoint.get())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// What an endpoint said of a token.
pub(crate) enum Answer {
    /// `active: true`, with the response's other members.
    Active(Map<String, Value>),
    /// `active: false`.
    Inactive,
}

impl Introspector {
    /// Asks the endpoint about `token`; signed answers are verified with `keys` (the
    /// issuer's) for `algs`. During an outage's backoff, answers 503 at once.
    pub(crate) async fn ask(
        &self,
        token: &str,
        keys: &Arc<KeyStore>,
        algs: AlgSet,
        leeway: i64,
    ) -> Result<Answer, AuthError> {
        if let Some(wait) = self.backing_off() {
            return Err(AuthError::unavailable(
                ErrorKind::IntrospectionUnavailable,
                wait,
            ));
        }
        let started = metrics::Started::now();
        let answer = self.call(token, keys, algs, leeway).await;
        let outcome = match &answer {
            Ok(Answer::Active(_)) => IntrospectionOutcome::Active,
            Ok(Answer::Inactive) => IntrospectionOutcome::Inactive,
            Err(_) => IntrospectionOutcome::Failure,
        };
        metrics::introspection(&self.issuer, outcome, started);
        match answer {
            Ok(answer) => {
                self.recovered();
                Ok(answer)
            }
            Err(error) => {
                let wait = self.failed(&error);
                Err(AuthError::unavailable(
                    ErrorKind::IntrospectionUnavailable,
                    wait,
                ))
            }
        }
    }

    async fn call(
        &self,
        token: &str,
        keys: &Arc<KeyStore>,
        algs: AlgSet,
        leeway: i64,
    ) -> Result<Answer, FetchError> {
        let endpoint = self
            .endpoint
            .get_or_try_init(|| async {
                let issuer_url = self.discovery.as_ref().ok_or(FetchError::Unreachable)?;
                discover(
                    &self.fetcher,
                    &self.issuer,
                    issuer_url,
                    Endpoint::Introspection,
                    self.allow_insecure_http,
                )
                .await
            })
            .await?;
        let mut form = vec![("token", token), ("token_type_hint", "access_token")];
        let basic = match self.post {
            true => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", &self.client_secret));
                None
            }
            false => Some((self.client_id.as_str(), self.client_secret.as_str())),
        };
        let accept = match self.signed {
            true => SIGNED,
            false => "application/json",
        };
        let (body, _) = self
            .fetcher
            .post_form(endpoint, accept, &form, basic)
            .await?;
        let mut response = match self.signed {
            true => self.verify_signed(&body, keys, algs, leeway).await?,
            false => serde_json::from_slice(&body)
                .map_err(|_| FetchError::Invalid("introspection response is not a JSON object"))?,
        };
        match response.remove("active") {
            Some(Value::Bool(true)) => Ok(Answer::Active(response)),
            Some(Value::Bool(false)) => Ok(Answer::Inactive),
            _ => Err(FetchError::Invalid(
                "introspection response has no boolean `active`",
            )),
        }
    }

    /// The RFC 7662 answer inside a signed one (RFC 9701 §5), once every check passes.
    async fn verify_signed(
        &self,
        body: &[u8],
        keys: &Arc<KeyStore>,
        algs: AlgSet,
        leeway: i64,
    ) -> Result<Map<String, Value>, FetchError> {
        #[derive(Deserialize)]
        struct Header {
            alg: String,
            kid: Option<String>,
            typ: Option<String>,
            crit: Option<Value>,
        }
        let invalid = FetchError::Invalid;
        let jwt = std::str::from_utf8(body)
            .map_err(|_| invalid("signed introspection response is not a JWT"))?
            .trim();
        let mut parts = jwt.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("signed introspection response is not a JWT"));
        };
        let header: Header = decode_json(header_b64)
            .map_err(|_| invalid("signed introspection response has a malformed header"))?;
        let typ_ok = header.typ.as_deref().is_some_and(|typ| {
            let typ = typ.strip_prefix("application/").unwrap_or(typ);
            typ.eq_ignore_ascii_case("token-introspection+jwt")
        });
        if !typ_ok || header.crit.is_some() {
            return Err(invalid("signed introspection response has the wrong typ"));
        }
        let alg = parse_alg(&header.alg)
            .filter(|alg| algs.contains(*alg) && !AlgSet::HMAC.contains(*alg))
            .ok_or(invalid(
                "signed introspection response uses an algorithm not allowed",
            ))?;
        let kid = header.kid.as_deref();
        let loaded = keys
            .keys_for(kid)
            .await
            .map_err(|_| invalid("no keys to verify the signed introspection response"))?;
        let message = &jwt.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        if !loaded
            .keys
            .candidates(kid, alg)
            .any(|key| key.verify(message, signature, alg))
        {
            return Err(invalid("signed introspection response does not verify"));
        }
        let StrictObject(mut claims) = decode_json(payload_b64)
            .map_err(|_| invalid("signed introspection response has malformed claims"))?;
        if claims.get("iss").and_then(Value::as_str) != Some(&*self.issuer) {
            return Err(invalid(
                "signed introspection response is from another issuer",
            ));
        }
        let for_us = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.client_id,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&self.client_id)),
            _ => false,
        };
        if !for_us {
            return Err(invalid(
                "signed introspection response is for another client",
            ));
        }
        let fresh = claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_some_and(|iat| iat.abs_diff(now()) <= leeway.max(60).unsigned_abs());
        if !fresh {
            return Err(invalid("signed introspection response is not fresh"));
        }
        match claims.remove("token_introspection") {
            Some(Value::Object(answer)) => Ok(answer),
            _ => Err(invalid(
                "signed introspection response has no token_introspection",
            )),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Outage> {
        self.outage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The time left to wait, during an outage's backoff.
    fn backing_off(&self) -> Option<Duration> {
        let until = self.lock().until?;
        until.checked_duration_since(Instant::now())
    }

    fn recovered(&self) {
        let mut outage = self.lock();
        if outage.failures > 0 {
            tracing::info!(issuer = %self.issuer, "introspection endpoint answers again");
        }
        *outage = Outage::default();
    }

    /// Counts a failure and returns the backoff before the next call: 1 s, doubling up to
    /// 60 s (`defaults::MIN_RETRY`, `defaults::MAX_RETRY`).
    fn failed(&self, error: &FetchError) -> Duration {
        let mut outage = self.lock();
        outage.failures = outage.failures.saturating_add(1);
        let wait = defaults::MIN_RETRY
            .saturating_mul(1 << (outage.failures - 1).min(16))
            .min(defaults::MAX_RETRY);
        outage.until = Some(Instant::now() + wait);
        tracing::warn!(
            issuer = %self.issuer,
            %error,
            failures = outage.failures,
            backoff_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "introspection failed: answering 503 until the endpoint answers"
        );
        wait
    }
}

// ---------------------------------------------------------------------------------------------
// The cache of answers
// ---------------------------------------------------------------------------------------------

/// A remembered outcome, good until `until` (seconds since the epoch).
enum Remembered<T> {
    Active { claims: Claims<T>, until: i64 },
    Refused { kind: ErrorKind, until: i64 },
}

// Not derived: a derive would ask `T: Clone`, and `Claims<T>` is cheap to clone whatever `T`.
impl<T> Clone for Remembered<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Active { claims, until } => Self::Active {
                claims: claims.clone(),
                until: *until,
            },
            Self::Refused { kind, until } => Self::Refused {
                kind: *kind,
                until: *until,
            },
        }
    }
}

type Outcome<T> = Result<Claims<T>, AuthError>;

/// The outcome of the one call in flight for a token, awaited by every request with it.
type InFlight<T> = Arc<OnceCell<Outcome<T>>>;

/// The validator's cache of introspection outcomes, and the calls in flight.
pub(crate) struct IntrospectionCache<T> {
    /// Keyed by SHA-256(secret salt ‖ token): the token itself is never kept. The keys are
    /// hashes already, unpredictable without the salt: foldhash rather than SipHash to place
    /// them.
    entries: moka::sync::Cache<[u8; 32], Remembered<T>, foldhash::fast::RandomState>,
    salt: [u8; 32],
    in_flight: Mutex<HashMap<[u8; 32], InFlight<T>>>,
}

impl<T: Send + Sync + 'static> IntrospectionCache<T> {
    pub(crate) fn new(capacity: u64, longest: Duration) -> Self {
        let mut salt = [0u8; 32];
        aws_lc_rs::rand::fill(&mut salt).expect("the system random generator works");
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity.max(1))
                .time_to_live(longest.max(Duration::from_secs(1)))
                .build_with_hasher(foldhash::fast::RandomState::default()),
            salt,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn key(&self, token: &str) -> [u8; 32] {
        // An opaque token is short: salt and token in one buffer on the stack, hashed by
        // aws-lc's one-shot SHA-256, which spares the streaming context (an EVP context made,
        // fed twice and finished: about half the cost of a key). Longer ones are streamed.
        let mut buffer = [0u8; 256];
        let digest = match buffer.get_mut(32..32 + token.len()) {
            Some(rest) => {
                rest.copy_from_slice(token.as_bytes());
                buffer[..32].copy_from_slice(&self.salt);
                digest::digest(&digest::SHA256, &buffer[..32 + token.len()])
            }
            None => {
                let mut context = digest::Context::new(&digest::SHA256);
                context.update(&self.salt);
                context.update(token.as_bytes());
                context.finish()
            }
        };
        let mut key = [0; 32];
        key.copy_from_slice(digest.as_ref());
        key
    }

    /// A remembered outcome still good at `now`.
    pub(crate) fn get(&self, key: &[u8; 32], now: i64) -> Option<Outcome<T>> {
        match self.entries.get(key)? {
            Remembered::Active { claims, until } if now < until => Some(Ok(claims)),
            Remembered::Refused { kind, until } if now < until => Some(Err(kind.into())),
            _ => {
                self.entries.invalidate(key);
                None
            }
        }
    }

    /// The claims of an active token remembered at `now` (the guard's fast path).
    pub(crate) fn active(&self, token: &str, now: i64) -> Option<Claims<T>> {
        self.get(&self.key(token), now)?.ok()
    }

    /// Remembers `outcome` at `now` as `introspector` allows: an active token until the
    /// sooner of its `exp` and `cache_for`, a refused one for `inactive_cache_for`, an outage
    /// not at all.
    pub(crate) fn remember(
        &self,
        key: [u8; 32],
        outcome: &Outcome<T>,
        now: i64,
        cache_for: Duration,
        inactive_cache_for: Duration,
    ) {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let remembered = match outcome {
            Ok(claims) => Remembered::Active {
                until: now
                    .saturating_add(secs(cache_for))
                    .min(claims.registered().exp),
                claims: claims.clone(),
            },
            Err(error) if error.retry_after().is_some() => return,
            Err(error) => Remembered::Refused {
                kind: error.kind(),
                until: now.saturating_add(secs(inactive_cache_for)),
            },
        };
        let until = match &remembered {
            Remembered::Active { until, .. } | Remembered::Refused { until, .. } => *until,
        };
        if until > now {
            self.entries.insert(key, remembered);
        }
    }

    /// The one call in flight for `key`: the first caller's `ask` runs, the others await its
    /// outcome.
    pub(crate) async fn once<F, Fut>(&self, key: [u8; 32], ask: F) -> Outcome<T>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Outcome<T>>,
    {
        let cell = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Arc::clone(in_flight.entry(key).or_default())
        };
        let outcome = cell.get_or_init(ask).await.clone();
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if in_flight.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            in_flight.remove(&key);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::claims::{JsonClaims, Registered};
    use crate::verify::scope::Scopes;

    fn claims(exp: i64) -> Claims<JsonClaims> {
        let registered = Registered {
            exp,
            ..Registered::default()
        };
        Claims::from_json(registered, Scopes::default(), Map::new()).unwrap()
    }

    const MINUTE: Duration = Duration::from_secs(60);
    const TEN: Duration = Duration::from_secs(10);

    #[test]
    fn an_active_answer_lasts_until_the_sooner_of_exp_and_the_bound() {
        let cache = IntrospectionCache::new(10, MINUTE);
        let key = cache.key("token");
        cache.remember(key, &Ok(claims(1_030)), 1_000, MINUTE, TEN);
        assert!(cache.get(&key, 1_029).is_some_and(|o| o.is_ok()));
        // The guard's fast path finds it by the token.
        assert!(cache.active("token", 1_029).is_some());
        assert!(cache.active("other", 1_029).is_none());
        assert!(cache.get(&key, 1_030).is_none(), "not at exp");
        let key = cache.key("long-lived");
        cache.remember(key, &Ok(claims(9_999)), 1_000, MINUTE, TEN);
        assert!(cache.get(&key, 1_059).is_some());
        assert!(cache.get(&key, 1_060).is_none(), "not past the bound");
    }

    #[test]
    fn refusals_last_briefly_and_outages_not_at_all() {
        let cache: IntrospectionCache<JsonClaims> = IntrospectionCache::new(10, MINUTE);
        let key = cache.key("made-up");
        cache.remember(
            key,
            &Err(ErrorKind::TokenInactive.into()),
            1_000,
            MINUTE,
            TEN,
        );
        let kind = |o: Option<Outcome<JsonClaims>>| o.map(|o| o.err().map(|e| e.kind()));
        assert_eq!(
            kind(cache.get(&key, 1_009)),
            Some(Some(ErrorKind::TokenInactive))
        );
        assert_eq!(kind(cache.get(&key, 1_010)), None);
        let down = AuthError::unavailable(ErrorKind::IntrospectionUnavailable, TEN);
        let key = cache.key("while-down");
        cache.remember(key, &Err(down), 1_000, MINUTE, TEN);
        assert!(cache.get(&key, 1_000).is_none());
        // A zero bound remembers nothing.
        let key = cache.key("uncached");
        cache.remember(key, &Ok(claims(9_999)), 1_000, Duration::ZERO, TEN);
        assert!(cache.get(&key, 1_000).is_none());
    }

    #[test]
    fn backoff_doubles_from_one_second_to_a_minute_and_ends_on_success() {
        let fetcher = Fetcher::new(Duration::from_secs(1), 1024).unwrap();
        let issuer: Arc<str> = Arc::from("http://127.0.0.1");
        let introspector = Introspection::new("c", "s")
            .endpoint("http://127.0.0.1:1/introspect")
            .build(&issuer, &fetcher, false)
            .unwrap();
        assert!(introspector.backing_off().is_none());
        let waits: Vec<u64> = (0..8)
            .map(|_| introspector.failed(&FetchError::Unreachable).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert!(introspector.backing_off().is_some());
        introspector.recovered();
        assert!(introspector.backing_off().is_none());
        assert_eq!(introspector.failed(&FetchError::Unreachable).as_secs(), 1);
    }

    #[test]
    fn keys_are_salted_per_cache() {
        let a: IntrospectionCache<JsonClaims> = IntrospectionCache::new(1, MINUTE);
        let b: IntrospectionCache<JsonClaims> = IntrospectionCache::new(1, MINUTE);
        assert_eq!(a.key("t"), a.key("t"));
        assert_ne!(a.key("t"), a.key("u"));
        assert_ne!(a.key("t"), b.key("t"));
        // Short tokens are hashed in one buffer, long ones streamed: the same SHA-256.
        for len in [0, 1, 43, 223, 224, 225, 1000] {
            let token = "t".repeat(len);
            let mut context = digest::Context::new(&digest::SHA256);
            context.update(&a.salt);
            context.update(token.as_bytes());
            assert_eq!(a.key(&token), context.finish().as_ref(), "{len}");
        }
    }
}
