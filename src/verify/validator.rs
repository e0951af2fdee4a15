//! The validation core: [`Validator`], its builder, and the steps of one validation in order.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use foldhash::fast::RandomState;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Map, Value};

use crate::defaults;
use crate::error::{AuthError, ConfigError, ErrorKind};
use crate::jwks::fetch::Fetcher;
use crate::jwks::key::{AlgSet, parse_alg};
use crate::jwks::{KeyStatus, Readiness, RefreshPolicy, unix_time};
use crate::metrics;
use crate::verify::cache::{Binding, TokenCache};
use crate::verify::claim_path::ClaimPath;
use crate::verify::claims::{self, Claims, JsonClaims, Registered};
use crate::verify::introspect::{Answer, IntrospectionCache};
use crate::verify::issuer::{Issuer, IssuerEntry};
use crate::verify::json::{ClaimRef, ClaimSource, Text, selected_members};
use crate::verify::rules;
use crate::verify::rules::TypPolicy;
use crate::verify::scope::{ScopeClaim, Scopes, collect_claim};

/// Builds a [`Validator`]; see [`Validator::builder`].
#[must_use]
pub struct ValidatorBuilder<T = JsonClaims> {
    issuers: Vec<Issuer>,
    leeway: Duration,
    max_token_bytes: usize,
    scope_claims: Vec<ScopeClaim>,
    allow_insecure_http: bool,
    fetch_timeout: Duration,
    max_document_bytes: usize,
    refresh: RefreshPolicy,
    token_cache_capacity: u64,
    token_cache_max_bytes: u64,
    _claims: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for ValidatorBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorBuilder")
            .field("issuers", &self.issuers)
            .field("leeway", &self.leeway)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("scope_claims", &self.scope_claims)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("token_cache_capacity", &self.token_cache_capacity)
            .field("token_cache_max_bytes", &self.token_cache_max_bytes)
            .finish_non_exhaustive()
    }
}

impl<T> ValidatorBuilder<T> {
    /// Trusts an issuer. Several may be added: a token's `iss` selects exactly one of them.
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Clock skew tolerated on `exp`, `nbf`, `iat` (default [`defaults::LEEWAY`]). More than
    /// [`defaults::MAX_LEEWAY`] is refused by [`build`](Self::build) with
    /// [`ConfigError::TooLong`]: it would keep expired tokens working.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Largest token accepted (default [`defaults::MAX_TOKEN_BYTES`]).
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// A further claim whose values join the granted scopes, besides `scope` and `scp`, for
    /// every issuer (for example `roles` in Entra application tokens); see [`ScopeClaim`] for
    /// nested paths, object keys and prefixes, and
    /// [`Issuer::scope_claim`](crate::Issuer::scope_claim) for one issuer's.
    pub fn scope_claim(mut self, claim: impl Into<ScopeClaim>) -> Self {
        self.scope_claims.push(claim.into());
        self
    }

    /// Allow plain http to hosts that are not loopback. Off by default: keys fetched over
    /// http can be replaced by anyone on the path.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Timeout of one metadata or JWKS request (default [`defaults::FETCH_TIMEOUT`]). Any
    /// value is taken as it is; the first requests of an issuer wait for its first fetch, so
    /// they may wait that long.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Freshness of a key set whose JWKS response gives none
    /// (default [`defaults::JWKS_TTL`]); clamped to [`defaults::MAX_KEY_TIMING`].
    pub fn jwks_ttl(mut self, ttl: Duration) -> Self {
        self.refresh.default_ttl = ttl.min(defaults::MAX_KEY_TIMING);
        self
    }

    /// Bounds on the freshness a JWKS response may ask for with `Cache-Control: max-age` or
    /// `Expires` (default [`defaults::MIN_JWKS_TTL`] to [`defaults::MAX_JWKS_TTL`]). Both are
    /// clamped to [`defaults::MAX_KEY_TIMING`]; a `max` below `min` is taken as `min`.
    pub fn jwks_ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.refresh.min_ttl = min.min(defaults::MAX_KEY_TIMING);
        self.refresh.max_ttl = max.clamp(self.refresh.min_ttl, defaults::MAX_KEY_TIMING);
        self
    }

    /// How long past its freshness a key set stays in use while refreshes fail
    /// (default [`defaults::MAX_STALE`]). Past it, requests get 503. Clamped to
    /// [`defaults::MAX_KEY_TIMING`].
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.refresh.max_stale = max_stale.min(defaults::MAX_KEY_TIMING);
        self
    }

    /// Wait after a failed fetch: `min`, doubling per failure up to `max`, with jitter
    /// (default [`defaults::MIN_RETRY`] to [`defaults::MAX_RETRY`]). Both are clamped to
    /// [`defaults::MAX_KEY_TIMING`]; a `max` below `min` is taken as `min`.
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.refresh.min_retry = min.min(defaults::MAX_KEY_TIMING);
        self.refresh.max_retry = max.clamp(self.refresh.min_retry, defaults::MAX_KEY_TIMING);
        self
    }

    /// Least time between two refreshes caused by unknown `kid`s
    /// (default [`defaults::UNKNOWN_KID_COOLDOWN`]); clamped to [`defaults::MAX_KEY_TIMING`].
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.refresh.unknown_kid_cooldown = cooldown.min(defaults::MAX_KEY_TIMING);
        self
    }

    /// How many verified tokens to remember (default [`defaults::TOKEN_CACHE_CAPACITY`]);
    /// `0` turns the cache off.
    ///
    /// A remembered token skips parsing and its signature check, but never its expiry:
    /// `exp`, `nbf` and `iat` are checked again on every use, and a token whose key has left
    /// the issuer's set is validated afresh (and so rejected). Each entry holds the token and
    /// its claims; see [`token_cache_max_bytes`](Self::token_cache_max_bytes) for the bound on
    /// their size.
    pub fn token_cache_capacity(mut self, capacity: u64) -> Self {
        self.token_cache_capacity = capacity;
        self
    }

    /// Most heap the token cache may hold, in bytes (default
    /// [`defaults::TOKEN_CACHE_MAX_BYTES`]); `0` turns the cache off.
    ///
    /// Each entry is weighed by an estimate from above of what it holds: the token, its
    /// claims (for the default claims, the JSON map is walked; a user-defined type is charged
    /// what that map would hold), the allocator's rounding and the cache's bookkeeping. The
    /// sum stays within this bound at all times; an entry estimated above it is not cached.
    /// A 900-byte token is estimated at 6 KB (4 KB measured), one at
    /// [`defaults::MAX_TOKEN_BYTES`] at 19 KB to 560 KB depending on its JSON. moka's tables
    /// add a few tens of KB whatever the cache holds.
    pub fn token_cache_max_bytes(mut self, bytes: u64) -> Self {
        self.token_cache_max_bytes = bytes;
        self
    }

    /// Deserialize user-defined claims into `U` instead of a JSON map.
    pub fn extra_claims<U: DeserializeOwned>(self) -> ValidatorBuilder<U> {
        ValidatorBuilder {
            issuers: self.issuers,
            leeway: self.leeway,
            max_token_bytes: self.max_token_bytes,
            scope_claims: self.scope_claims,
            allow_insecure_http: self.allow_insecure_http,
            fetch_timeout: self.fetch_timeout,
            max_document_bytes: self.max_document_bytes,
            refresh: self.refresh,
            token_cache_capacity: self.token_cache_capacity,
            token_cache_max_bytes: self.token_cache_max_bytes,
            _claims: PhantomData,
        }
    }

    /// Checks the configuration and builds the validator. Nothing is fetched yet: keys are
    /// loaded on first use, so building does not need the identity provider to be up. With
    /// feature `metrics`, building describes the metrics to the recorder installed now.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting at fault.
    pub fn build(self) -> Result<Validator<T>, ConfigError>
    where
        T: Send + Sync + 'static,
    {
        if self.issuers.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        if self.leeway > defaults::MAX_LEEWAY {
            return Err(ConfigError::TooLong {
                setting: "leeway",
                max: defaults::MAX_LEEWAY,
            });
        }
        for claim in &self.scope_claims {
            claim.check("scope_claim")?;
        }
        let fetcher = Fetcher::new(self.fetch_timeout, self.max_document_bytes)?;
        let mut policy = self.refresh;
        policy.allow_insecure_http = self.allow_insecure_http;
        let mut issuers =
            HashMap::with_capacity_and_hasher(self.issuers.len(), RandomState::default());
        let mut templates: Vec<IssuerEntry> = Vec::new();
        let mut introspecting = Vec::new();
        let mut longest = Duration::ZERO;
        for issuer in self.issuers {
            let entry = IssuerEntry::build(issuer, &fetcher, policy)?;
            let name = entry.issuer.to_string();
            if let Some(introspector) = &entry.introspection {
                introspecting.push(name.clone());
                longest = longest
                    .max(introspector.cache_for)
                    .max(introspector.inactive_cache_for);
            }
            let duplicate = match entry.template {
                Some(_) if templates.iter().any(|t| t.issuer == entry.issuer) => true,
                Some(_) => {
                    templates.push(entry);
                    false
                }
                None => issuers.insert(name.clone(), entry).is_some(),
            };
            if duplicate {
                return Err(ConfigError::DuplicateIssuer(name));
            }
        }
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        let configured_roots =
            configured_roots(&self.scope_claims, issuers.values().chain(&templates));
        metrics::describe();
        Ok(Validator {
            shared: Arc::new(Shared {
                issuers,
                templates,
                leeway,
                max_token_bytes: self.max_token_bytes,
                scope_claims: self.scope_claims,
                configured_roots,
                cache: (self.token_cache_capacity > 0 && self.token_cache_max_bytes > 0).then(
                    || {
                        TokenCache::new(
                            self.token_cache_capacity,
                            self.token_cache_max_bytes,
                            leeway,
                        )
                    },
                ),
                introspection: (!introspecting.is_empty()).then(|| {
                    IntrospectionCache::new(defaults::INTROSPECTION_CACHE_CAPACITY, longest)
                }),
                introspecting,
            }),
        })
    }
}

struct Shared<T> {
    /// Keyed by configuration; looked up by every token's `iss` (foldhash: a lookup cannot
    /// flood a map it does not insert into, and SipHash cost more than the rest of the lookup).
    issuers: HashMap<String, IssuerEntry, RandomState>,
    /// Multi-tenant issuers, tried in order when no issuer matches `iss` exactly.
    templates: Vec<IssuerEntry>,
    leeway: i64,
    max_token_bytes: usize,
    scope_claims: Vec<ScopeClaim>,
    /// The top-level claims the configured claim paths start from (scope claims and claim
    /// predicates, of the validator and of every issuer), besides the rules' own.
    configured_roots: Vec<Box<str>>,
    cache: Option<TokenCache<T>>,
    /// Issuers whose opaque tokens are introspected, in the order configured.
    introspecting: Vec<String>,
    /// Their outcomes, when any issuer introspects.
    introspection: Option<IntrospectionCache<T>>,
}

impl<T> Shared<T> {
    /// Whether a JWT's claim `name` is read when its claims are judged; the others are
    /// checked but not built.
    fn judges(&self, name: &str) -> bool {
        rules::is_read_by_the_rules(name) || self.configured_roots.iter().any(|r| **r == *name)
    }
}

/// The first segments of the claim paths that scope claims and claim predicates read.
fn configured_roots<'a>(
    scope_claims: &'a [ScopeClaim],
    issuers: impl Iterator<Item = &'a IssuerEntry>,
) -> Vec<Box<str>> {
    let mut roots: Vec<Box<str>> = Vec::new();
    let mut add = |path: &ClaimPath| {
        if let Some(root) = path.root()
            && !rules::is_read_by_the_rules(root)
            && !roots.iter().any(|r| **r == *root)
        {
            roots.push(root.into());
        }
    };
    scope_claims.iter().for_each(|claim| add(claim.path()));
    for issuer in issuers {
        issuer
            .scope_claims
            .iter()
            .for_each(|claim| add(claim.path()));
        issuer.required_claims.iter().for_each(|p| add(p.path()));
    }
    roots
}

/// The validation core. It takes a token string and returns validated
/// [`Claims`] or an [`AuthError`]; it knows nothing of tower or HTTP responses, so gRPC
/// interceptors, websocket handshakes or queue consumers can call it directly.
///
/// ```no_run
/// use bearer_guard::{Issuer, Validator};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let validator = Validator::builder()
///     .issuer(Issuer::new("https://idp.example.com").audience("https://orders.example.com"))
///     .build()?;
/// let claims = validator.validate("eyJhbGciOi…").await?;
/// println!("called by {:?} with {:?}", claims.client(), claims.scopes());
/// # Ok(()) }
/// ```
pub struct Validator<T = JsonClaims> {
    // One `Arc` for everything: the guard clones its validator on every request.
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Validator<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> fmt::Debug for Validator<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("issuers", &self.shared.issuers.keys().collect::<Vec<_>>())
            .field(
                "templates",
                &self
                    .shared
                    .templates
                    .iter()
                    .map(|t| &t.issuer)
                    .collect::<Vec<_>>(),
            )
            .field("leeway", &self.shared.leeway)
            .field("max_token_bytes", &self.shared.max_token_bytes)
            .field("token_cache", &self.shared.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// A builder with the [defaults](crate::defaults).
    pub fn builder() -> ValidatorBuilder {
        ValidatorBuilder {
            issuers: Vec::new(),
            leeway: defaults::LEEWAY,
            max_token_bytes: defaults::MAX_TOKEN_BYTES,
            scope_claims: Vec::new(),
            allow_insecure_http: false,
            fetch_timeout: defaults::FETCH_TIMEOUT,
            max_document_bytes: defaults::MAX_DOCUMENT_BYTES,
            refresh: RefreshPolicy {
                default_ttl: defaults::JWKS_TTL,
                min_ttl: defaults::MIN_JWKS_TTL,
                max_ttl: defaults::MAX_JWKS_TTL,
                max_stale: defaults::MAX_STALE,
                unknown_kid_cooldown: defaults::UNKNOWN_KID_COOLDOWN,
                min_retry: defaults::MIN_RETRY,
                max_retry: defaults::MAX_RETRY,
                allow_insecure_http: false,
            },
            token_cache_capacity: defaults::TOKEN_CACHE_CAPACITY,
            token_cache_max_bytes: defaults::TOKEN_CACHE_MAX_BYTES,
            _claims: PhantomData,
        }
    }
}

/// The JOSE header members we read, borrowed from the decoded header; all others (`jku`,
/// `x5u`, `jwk`, `x5c`…) are ignored, so nothing in a token decides where keys come from.
#[derive(Deserialize)]
struct Header<'h> {
    #[serde(borrow)]
    alg: Text<'h>,
    #[serde(default, borrow)]
    kid: Option<Text<'h>>,
    #[serde(default, borrow)]
    typ: Option<Text<'h>>,
    /// Only whether it is there (with any value but `null`).
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// Room for a JOSE header decoded on the stack (real ones are well under 200 bytes); a
/// longer one is decoded to the heap.
const HEADER_ON_STACK: usize = 384;

/// A compact JWS split into its parts, its header decoded (into `'h`, a buffer of the
/// caller's); the payload is decoded only once the header passes.
struct Jws<'t, 'h> {
    header: Header<'h>,
    payload_b64: &'t str,
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'t [u8],
    signature: &'t str,
}

impl<'t, 'h> Jws<'t, 'h> {
    /// Size cap first, then exactly three segments and a canonical base64url JSON header,
    /// decoded into `stack` if it fits, else into `heap`.
    fn parse(
        token: &'t str,
        max_bytes: usize,
        stack: &'h mut [u8; HEADER_ON_STACK],
        heap: &'h mut Vec<u8>,
    ) -> Result<Self, ErrorKind> {
        if token.len() > max_bytes {
            return Err(ErrorKind::TokenTooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ErrorKind::Malformed);
        };
        let decoded = if header_b64.len() / 4 * 3 + 2 <= HEADER_ON_STACK {
            let len = URL_SAFE_NO_PAD
                .decode_slice(header_b64, stack)
                .map_err(|_| ErrorKind::Malformed)?;
            &stack[..len]
        } else {
            URL_SAFE_NO_PAD
                .decode_vec(header_b64, heap)
                .map_err(|_| ErrorKind::Malformed)?;
            &heap[..]
        };
        Ok(Self {
            header: json_object(decoded)?,
            payload_b64,
            signing_input: &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()],
            signature,
        })
    }

    /// The `alg`, if one we know (whether it is allowed is the issuer's business).
    fn alg(&self) -> Option<Algorithm> {
        parse_alg(&self.header.alg.0)
    }

    /// The `kid`, if within [`defaults::MAX_KID_BYTES`]: a longer one is never looked up,
    /// compared or logged.
    fn kid(&self) -> Option<&str> {
        self.header
            .kid
            .as_ref()
            .map(|kid| &*kid.0)
            .filter(|kid| kid.len() <= defaults::MAX_KID_BYTES)
    }
}

/// The debug event of a refused token: "why was my token refused" answered at
/// `RUST_LOG=bearer_guard=debug`. Only bounded values the token claimed; never the token.
fn refused(kind: ErrorKind, issuer: Option<&str>, kid: Option<&str>, alg: Option<Algorithm>) {
    tracing::debug!(
        kind = kind.code(),
        issuer,
        kid = kid.map(tracing::field::debug),
        alg = alg.map(tracing::field::debug),
        "token refused"
    );
}

impl<T> Validator<T> {
    /// The state of each trusted issuer's keys, as they are: reading it loads nothing. For a
    /// readiness probe, use [`readiness`](Self::readiness), which also loads them.
    ///
    /// With feature `metrics`, each call also sets the key-set gauges (age and state), which
    /// nothing else brings up to date while no fetch happens.
    pub fn key_status(&self) -> Vec<KeyStatus> {
        let mut all: Vec<KeyStatus> = self.entries().map(|i| i.keys.status()).collect();
        all.sort_by(|a, b| a.issuer.cmp(&b.issuer));
        // The key-set gauges have no other way to follow time (see `crate::metrics`).
        all.iter().for_each(metrics::key_status);
        all
    }

    /// Whether the guard can verify tokens now, for a readiness probe; never waits.
    ///
    /// Each call also keeps the keys loaded: an issuer whose keys are not loaded gets a
    /// background task that fetches them, retrying with the configured backoff until the
    /// identity provider answers, and keys due for a refresh are refreshed. So a probe on a
    /// service without traffic turns ready as soon as the keys can be fetched, instead of
    /// waiting for a token that the load balancer will not send before the probe passes.
    /// Serve it over HTTP with [`ReadinessService`](crate::ReadinessService).
    ///
    /// Outside a tokio runtime nothing is started; the state is only reported.
    ///
    /// ```
    /// # async fn probe() -> Result<(), bearer_guard::ConfigError> {
    /// use bearer_guard::{Issuer, Validator};
    ///
    /// let validator = Validator::builder()
    ///     .issuer(Issuer::new("https://idp.example.com").audience("https://api.example.com"))
    ///     .build()?;
    /// // Not ready before the first fetch completes; the call has started it.
    /// assert!(!validator.readiness().is_ready());
    /// # Ok(()) }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(probe()).unwrap();
    /// ```
    pub fn readiness(&self) -> Readiness {
        for issuer in self.entries() {
            issuer.keys.keep_loaded();
        }
        Readiness {
            issuers: self.key_status(),
        }
    }

    /// Loads every issuer's keys now, awaiting the fetches (building the validator fetches
    /// nothing). Optional: without it, the first request of each issuer loads its keys.
    ///
    /// # Errors
    /// [`ErrorKind::KeysUnavailable`] if an issuer's keys could not be loaded; the others
    /// are loaded all the same, and later requests try again.
    pub async fn warm_up(&self) -> Result<(), AuthError> {
        let mut outcome = Ok(());
        for issuer in self.entries() {
            if let Err(error) = issuer.keys.warm_up().await {
                outcome = Err(error);
            }
        }
        outcome
    }
}

impl<T> Validator<T> {
    /// The identifiers of the issuers trusted exactly (not templates), sorted.
    pub(crate) fn exact_issuers(&self) -> Vec<String> {
        let mut all: Vec<String> = self.shared.issuers.keys().cloned().collect();
        all.sort();
        all
    }

    /// Every trusted issuer, exact ones and templates.
    fn entries(&self) -> impl Iterator<Item = &IssuerEntry> {
        self.shared.issuers.values().chain(&self.shared.templates)
    }

    /// The issuer `iss` names, and for a template the tenant: an exact issuer first, then
    /// the templates in the order configured. Nothing here does I/O.
    fn issuer_for<'i>(&self, iss: &'i str) -> Option<(&IssuerEntry, Option<&'i str>)> {
        if let Some(exact) = self.shared.issuers.get(iss) {
            return Some((exact, None));
        }
        self.shared.templates.iter().find_map(|entry| {
            let template = entry.template.as_ref()?;
            Some((entry, Some(template.tenant(iss)?)))
        })
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> Validator<T> {
    /// Validates `token` (the compact JWS, without `Bearer `).
    ///
    /// Awaits I/O only when the issuer's keys are not loaded yet or the token names an
    /// unknown `kid`; must run inside a tokio runtime. A token validated before is answered
    /// from the [token cache](ValidatorBuilder::token_cache_capacity) with its time claims
    /// and key checked again.
    ///
    /// # Errors
    /// An [`AuthError`] whose [`kind`](AuthError::kind) says what failed.
    pub async fn validate(&self, token: &str) -> Result<Claims<T>, AuthError> {
        match self.cached(token) {
            Some(claims) => Ok(claims),
            None => self.validate_uncached(token).await,
        }
    }

    /// Full validation, remembering the token for next time; for callers that have just
    /// looked it up in the cache (the guard), so that a miss costs one lookup, not two.
    pub(crate) async fn validate_uncached(&self, token: &str) -> Result<Claims<T>, AuthError> {
        if let Some(introspection) = &self.shared.introspection
            && !self.verifies_locally(token)
        {
            return self.introspect(introspection, token).await;
        }
        let (claims, binding) = self.verify(token).await?;
        if let Some(cache) = &self.shared.cache {
            cache.insert(token, &claims, binding);
        }
        Ok(claims)
    }

    /// The claims of a token validated before, if they still hold; no I/O, no parsing.
    pub(crate) fn cached(&self, token: &str) -> Option<Claims<T>> {
        let claims = self.remembered(token);
        metrics::token_cache(claims.is_some());
        claims
    }

    /// The lookup of [`Self::cached`], in the verified-token cache, then in the remembered
    /// active introspection answers.
    fn remembered(&self, token: &str) -> Option<Claims<T>> {
        self.verified_before(token.as_bytes())
            .or_else(|| self.introspected_before(token))
    }

    /// The claims of `token` from the verified-token cache alone (no metric): only compact
    /// JWS that passed validation are in it, so a hit is also proof that `token` is
    /// well-formed.
    pub(crate) fn verified_before(&self, token: &[u8]) -> Option<Claims<T>> {
        let cache = self.shared.cache.as_ref()?;
        cache.get(token, unix_time())
    }

    /// The rest of [`Self::cached`] for a token [`Self::verified_before`] did not know: the
    /// remembered introspection answers; counts the lookup's outcome.
    pub(crate) fn cached_after_miss(&self, token: &str) -> Option<Claims<T>> {
        let claims = self.introspected_before(token);
        metrics::token_cache(claims.is_some());
        claims
    }

    /// The remembered active introspection answer for `token`, if any.
    fn introspected_before(&self, token: &str) -> Option<Claims<T>> {
        let introspection = self.shared.introspection.as_ref()?;
        // A JWS (the shape of the tokens verified locally) is not hashed on each request; an
        // introspected one is still answered from the cache, a step later, in `introspect`.
        if token.bytes().filter(|b| *b == b'.').count() == 2 {
            return None;
        }
        introspection.active(token, now())
    }

    /// Whether `token` is a JWS whose `iss` names a trusted issuer: verified with its keys,
    /// never introspected.
    fn verifies_locally(&self, token: &str) -> bool {
        #[derive(Deserialize)]
        struct Iss {
            iss: Option<String>,
        }
        let mut parts = token.split('.');
        let (Some(_), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        match decode_json::<Iss>(payload) {
            Ok(Iss { iss: Some(iss) }) => self.issuer_for(&iss).is_some(),
            _ => false,
        }
    }

    /// An opaque token (or a JWS of an issuer not trusted here): the remembered outcome, or
    /// one call to the introspecting issuers shared by every request with this token.
    async fn introspect(
        &self,
        introspection: &IntrospectionCache<T>,
        token: &str,
    ) -> Result<Claims<T>, AuthError> {
        if token.len() > self.shared.max_token_bytes {
            refused(ErrorKind::TokenTooLarge, None, None, None);
            return Err(ErrorKind::TokenTooLarge.into());
        }
        let key = introspection.key(token);
        if let Some(outcome) = introspection.get(&key, now()) {
            return outcome;
        }
        introspection
            .once(key, || async {
                // A call that ended while this one waited for its turn left its outcome.
                if let Some(outcome) = introspection.get(&key, now()) {
                    return outcome;
                }
                let (outcome, ttl) = self.ask_introspecting_issuers(token).await;
                if let Some((cache_for, inactive_cache_for)) = ttl {
                    introspection.remember(key, &outcome, now(), cache_for, inactive_cache_for);
                }
                outcome
            })
            .await
    }

    /// Asks each introspecting issuer in turn until one says `active: true`; the outcome,
    /// and how long it may be remembered (`None`: not at all, an outage).
    async fn ask_introspecting_issuers(
        &self,
        token: &str,
    ) -> (Result<Claims<T>, AuthError>, Option<(Duration, Duration)>) {
        let mut outage = None;
        let mut ttl = None;
        for name in &self.shared.introspecting {
            let Some(entry) = self.shared.issuers.get(name) else {
                continue;
            };
            let Some(introspector) = &entry.introspection else {
                continue;
            };
            ttl = Some((introspector.cache_for, introspector.inactive_cache_for));
            let asked = introspector
                .ask(token, &entry.keys, entry.algorithms, self.shared.leeway)
                .await;
            match asked {
                Ok(Answer::Active(response)) => {
                    let judged = self.judge_introspected(entry, response);
                    if let Err(kind) = judged {
                        refused(kind, Some(&entry.issuer), None, None);
                    }
                    return (judged.map_err(AuthError::from), ttl);
                }
                Ok(Answer::Inactive) => {}
                Err(error) => outage = Some(error),
            }
        }
        match outage {
            // Nobody said active, and one could not be asked: the token may be theirs.
            Some(error) => (Err(error), None),
            None => {
                refused(ErrorKind::TokenInactive, None, None, None);
                (Err(ErrorKind::TokenInactive.into()), ttl)
            }
        }
    }

    /// An active introspection response judged by the rules a JWT's claims meet. RFC 7662
    /// makes `iss` optional: absent, it is the issuer that answered; present, it must be.
    fn judge_introspected(
        &self,
        issuer: &IssuerEntry,
        mut response: Map<String, Value>,
    ) -> Result<Claims<T>, ErrorKind> {
        let iss = match response.get("iss") {
            None => issuer.issuer.to_string(),
            Some(Value::String(iss)) if **iss == *issuer.issuer => iss.clone(),
            Some(_) => return Err(ErrorKind::InvalidIssuer),
        };
        response.insert("iss".into(), Value::String(iss.clone()));
        let (registered, scopes) =
            self.judge_claims(&response, &iss, issuer, None, TypPolicy::AccessTokenOrJwt)?;
        Claims::from_json(registered, scopes, response).map_err(|_| ErrorKind::InvalidClaim)
    }

    #[cfg(test)]
    pub(crate) fn cache(&self) -> Option<&TokenCache<T>> {
        self.shared.cache.as_ref()
    }

    /// Full validation: parse, pick the key, check the signature and the claims. A refusal is
    /// logged at debug with what the token claimed to be (never the token itself).
    async fn verify(&self, token: &str) -> Result<(Claims<T>, Binding), AuthError> {
        let (mut stack, mut heap) = ([0; HEADER_ON_STACK], Vec::new());
        let jws = match Jws::parse(token, self.shared.max_token_bytes, &mut stack, &mut heap) {
            Ok(jws) => jws,
            Err(kind) => {
                refused(kind, None, None, None);
                return Err(kind.into());
            }
        };
        let mut issuer = None;
        let outcome = self.verify_jws(&jws, &mut issuer).await;
        if let Err(error) = &outcome {
            refused(error.kind(), issuer, jws.kid(), jws.alg());
        }
        outcome
    }

    /// The steps after parsing, in order; `trusted` learns the issuer once it is known.
    async fn verify_jws<'s>(
        &'s self,
        jws: &Jws<'_, '_>,
        trusted: &mut Option<&'s str>,
    ) -> Result<(Claims<T>, Binding), AuthError> {
        let header = &jws.header;
        let alg = jws.alg().ok_or(ErrorKind::AlgorithmNotAllowed)?;
        if header.crit.is_some() {
            // We implement no JWS extension, so any `crit` (even an empty one, which RFC 7515
            // §4.1.11 forbids) makes the token unacceptable.
            return Err(ErrorKind::UnsupportedCriticalHeader.into());
        }
        let kid = jws.kid();
        if header.kid.is_some() && kid.is_none() {
            return Err(ErrorKind::Malformed.into());
        }
        if jws.signature.is_empty() || !is_base64url(jws.signature) {
            return Err(ErrorKind::Malformed.into());
        }
        // Judged on the members the rules read; the rest is checked (duplicate names, syntax)
        // but not built: the claims build the whole map only if asked for it.
        let decoded = decode_segment(jws.payload_b64)?;
        let payload = selected_members(&decoded, |name| self.shared.judges(name))
            .map_err(|_| ErrorKind::Malformed)?;
        let iss = payload
            .claim("iss")
            .and_then(ClaimRef::as_str)
            .ok_or(ErrorKind::InvalidIssuer)?;
        let (issuer, tenant) = self.issuer_for(iss).ok_or(ErrorKind::InvalidIssuer)?;
        *trusted = Some(&issuer.issuer);
        if !issuer.algorithms.contains(alg) {
            return Err(ErrorKind::AlgorithmNotAllowed.into());
        }
        if !issuer
            .typ_policy
            .accepts(header.typ.as_ref().map(|typ| &*typ.0))
        {
            return Err(ErrorKind::InvalidType.into());
        }

        let (message, signature) = (jws.signing_input, jws.signature);
        let binding = match &issuer.hmac {
            Some(hmac) if AlgSet::HMAC.contains(alg) => hmac
                .verify(message, signature, alg)
                .then_some(Binding::Secret),
            _ => {
                let loaded = issuer.keys.keys_for(kid).await?;
                let mut candidates = loaded.keys.candidates(kid, alg).peekable();
                if candidates.peek().is_none() {
                    return Err(ErrorKind::UnknownKey.into());
                }
                candidates
                    .find(|key| key.verify(message, signature, alg))
                    .map(|key| Binding::Published {
                        store: Arc::clone(&issuer.keys),
                        key: Arc::clone(key),
                    })
            }
        };
        let binding = binding.ok_or(ErrorKind::InvalidSignature)?;
        let (registered, scopes) =
            self.judge_claims(&payload, iss, issuer, tenant, issuer.typ_policy)?;
        let bound_jkt = claims::bound_jkt(&payload);
        let claims = Claims::from_payload(registered, scopes, bound_jkt, decoded)
            .map_err(|_| ErrorKind::InvalidClaim)?;
        Ok((claims, binding))
    }

    /// The rules every token's claims meet, whether they come from a verified JWT or from an
    /// introspection response: types of the registered claims, times, tenant, audience,
    /// allowed clients, the issuer's claim predicates, scopes. `iss` has been matched to
    /// `issuer` (and `tenant`) already. Reads only the members [`Shared::judges`].
    pub(crate) fn judge_claims(
        &self,
        payload: &dyn ClaimSource,
        iss: &str,
        issuer: &IssuerEntry,
        tenant: Option<&str>,
        policy: TypPolicy,
    ) -> Result<(Registered, Scopes), ErrorKind> {
        let shared = &*self.shared;
        let registered = rules::registered_claims(payload, iss, policy)?;
        rules::check_times(&registered, now(), shared.leeway)?;
        if let Some(tenant) = tenant {
            rules::check_tenant(payload, tenant)?;
        }
        rules::check_audience(&registered.aud, &issuer.audiences, issuer.without_audience)?;
        if !issuer.allowed_clients.is_empty() {
            rules::check_client(&registered, payload, &issuer.allowed_clients)?;
        }
        if let Some(failed) = issuer
            .required_claims
            .iter()
            .find(|p| !p.is_met_by(payload))
        {
            tracing::debug!(predicate = ?failed, "a claim fails the issuer's requirement");
            return Err(ErrorKind::UnacceptedClaim);
        }
        let scopes = self.scopes(payload, issuer)?;
        Ok((registered, scopes))
    }

    /// `scope` and `scp`, which must be strings or arrays of strings, then the mapped claims
    /// of the validator and of the issuer, which grant nothing when shaped otherwise.
    fn scopes(&self, payload: &dyn ClaimSource, issuer: &IssuerEntry) -> Result<Scopes, ErrorKind> {
        let mut found = Vec::new();
        for name in ["scope", "scp"] {
            if let Some(claim) = payload.claim(name)
                && !collect_claim(claim, &mut found)
            {
                return Err(ErrorKind::InvalidClaim);
            }
        }
        let mut mapped = Vec::new();
        for claim in self.shared.scope_claims.iter().chain(&issuer.scope_claims) {
            claim.collect(payload, &mut mapped);
        }
        Ok(Scopes::from_iter(
            found.into_iter().chain(mapped.iter().map(|s| &**s)),
        ))
    }
}

/// Whether `s` uses only the base64url alphabet. Branch-free per byte (`fold` with `&`, no
/// early exit) so that the loop over a kilobyte of token vectorizes.
pub(crate) fn is_base64url(s: &str) -> bool {
    s.bytes().fold(true, |ok, b| {
        let letter = (b | 0x20).wrapping_sub(b'a') < 26;
        let digit = b.wrapping_sub(b'0') < 10;
        ok & (letter | digit | (b == b'-') | (b == b'_'))
    })
}

/// Decodes one base64url segment (no padding, canonical) holding a JSON object.
///
/// The engine refuses what [`is_base64url`] would (any byte outside the alphabet, `=`
/// padding) and non-canonical trailing bits, so the segment is read once, not twice.
pub(crate) fn decode_json<D: DeserializeOwned>(segment: &str) -> Result<D, ErrorKind> {
    json_object(&decode_segment(segment)?)
}

/// Decodes one base64url segment (no padding, canonical, not empty).
fn decode_segment(segment: &str) -> Result<Vec<u8>, ErrorKind> {
    if segment.is_empty() {
        return Err(ErrorKind::Malformed);
    }
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| ErrorKind::Malformed)
}

/// A decoded segment read as a JSON object (`D` may borrow from it).
fn json_object<'de, D: Deserialize<'de>>(bytes: &'de [u8]) -> Result<D, ErrorKind> {
    // Only objects: a derived struct would also accept a JSON array.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ErrorKind::Malformed);
    }
    serde_json::from_slice(bytes).map_err(|_| ErrorKind::Malformed)
}

/// The wall clock in whole seconds since the Unix epoch, as the claim rules count time.
pub(crate) fn now() -> i64 {
    i64::try_from(unix_time().as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JWT's claims are judged on the members `Shared::judges` selects; every decision
    /// and every claim read must be what judging the whole object gives, whatever the
    /// configuration reads (templates and tenants, allowed clients, predicates, mapped scopes).
    #[test]
    fn judging_the_selected_members_decides_as_judging_the_whole_object() {
        use crate::{ClaimPredicate, ScopeClaim};
        use serde_json::json;
        let validator = Validator::builder()
            .issuer(
                Issuer::new("https://idp")
                    .audience("api")
                    .hmac_secret(b"0123456789abcdef0123456789abcdef".to_vec())
                    .allowed_clients(["c1"])
                    .require_claim(ClaimPredicate::contains(
                        ClaimPath::nested(["realm_access", "roles"]),
                        "svc",
                    ))
                    .scope_claim(ScopeClaim::values("roles_claim")),
            )
            .issuer(
                Issuer::template("https://login.example/{tenantid}/v2.0")
                    .tenants(["t1"])
                    .audience("api")
                    .jwks_uri("https://login.example/keys")
                    .typ_policy(TypPolicy::Rfc9068),
            )
            .scope_claim(ScopeClaim::keys("perm"))
            .build()
            .expect("valid configuration");
        let soon = now() + 600;
        let options: [(&str, Vec<Value>); 12] = [
            (
                "exp",
                vec![
                    json!(soon),
                    json!("x"),
                    json!(-1),
                    json!(now() - 999),
                    Value::Null,
                ],
            ),
            (
                "aud",
                vec![json!("api"), json!(["x", "api"]), json!(5), Value::Null],
            ),
            (
                "client_id",
                vec![json!("c1"), json!("c2"), json!(3), Value::Null],
            ),
            ("azp", vec![json!("c2"), Value::Null]),
            ("cid", vec![json!("c1"), Value::Null]),
            ("appid", vec![json!("c1"), Value::Null]),
            ("tid", vec![json!("t1"), json!("t2"), Value::Null]),
            (
                "scope",
                vec![json!("read write"), json!(["a"]), json!(7), Value::Null],
            ),
            (
                "realm_access",
                vec![
                    json!({"roles": ["svc"]}),
                    json!({"roles": "x"}),
                    Value::Null,
                ],
            ),
            (
                "roles_claim",
                vec![json!(["r1", "r2"]), json!("r3"), Value::Null],
            ),
            (
                "perm",
                vec![json!({"p1": 1, "p2": [2]}), json!(["p3"]), Value::Null],
            ),
            (
                "cnf",
                vec![json!({"jkt": "thumb"}), json!({"jkt": 1}), Value::Null],
            ),
        ];
        let fixed = json!({"sub": "s", "iat": now(), "jti": "j",
            "unrelated": [1, {"k": 2}], "scp": ["x"]});
        let combinations: usize = options.iter().map(|(_, values)| values.len()).product();
        let (mut judged, mut admitted) = (0, 0);
        // Every 23rd combination (each option of each claim comes up), for each issuer; the
        // last option of a claim is its absence.
        for n in (0..combinations).step_by(23) {
            let mut payload = fixed.as_object().expect("an object").clone();
            let mut rest = n;
            for (name, values) in &options {
                let value = &values[rest % values.len()];
                rest /= values.len();
                if !value.is_null() {
                    payload.insert((*name).into(), value.clone());
                }
            }
            for iss in ["https://idp", "https://login.example/t1/v2.0"] {
                payload.insert("iss".into(), json!(iss));
                let bytes = serde_json::to_vec(&payload).expect("serializes");
                let selected =
                    selected_members(&bytes, |name| validator.shared.judges(name)).expect("json");
                assert!(selected.len() < payload.len(), "some members are not built");
                let (issuer, tenant) = validator.issuer_for(iss).expect("trusted");
                let policy = issuer.typ_policy;
                // What the claims hold beside the JSON: registered claims, scopes, `cnf.jkt`.
                let shown = |claims: Claims| {
                    let jkt = claims.as_view().bound_jkt().map(str::to_owned);
                    format!("{:?} {:?} {jkt:?}", claims.registered(), claims.scopes())
                };
                let whole = validator
                    .judge_claims(&payload, iss, issuer, tenant, policy)
                    .map(|(registered, scopes)| {
                        shown(Claims::from_json(registered, scopes, payload.clone()).unwrap())
                    });
                let lean = validator
                    .judge_claims(&selected, iss, issuer, tenant, policy)
                    .map(|(registered, scopes)| {
                        let jkt = claims::bound_jkt(&selected);
                        let claims = Claims::from_payload(registered, scopes, jkt, bytes.clone());
                        shown(claims.unwrap())
                    });
                assert_eq!(lean, whole, "{payload:?}");
                judged += 1;
                admitted += usize::from(whole.is_ok());
            }
        }
        // The matrix reaches both outcomes on both issuers.
        assert!(
            admitted > 50 && admitted < judged / 4,
            "{admitted} of {judged}"
        );
    }

    #[test]
    fn configuration_errors() {
        assert_eq!(
            Validator::builder().build().unwrap_err(),
            ConfigError::NoIssuer
        );
        assert_eq!(
            Validator::builder()
                .issuer(Issuer::new("https://idp"))
                .build()
                .unwrap_err(),
            ConfigError::NoAudience("https://idp".into())
        );
        assert!(matches!(
            Validator::builder()
                .issuer(Issuer::new("http://idp.example.com").audience("a"))
                .build()
                .unwrap_err(),
            ConfigError::InsecureUrl {
                setting: "issuer",
                ..
            }
        ));
        assert_eq!(
            Validator::builder()
                .issuer(
                    Issuer::new("https://idp")
                        .audience("a")
                        .algorithms([Algorithm::HS256])
                )
                .build()
                .unwrap_err(),
            ConfigError::Algorithms("HMAC needs an explicit `hmac_secret`")
        );
        assert_eq!(
            Validator::builder()
                .issuer(Issuer::new("https://idp").audience("a"))
                .issuer(Issuer::new("https://idp").audience("b"))
                .build()
                .unwrap_err(),
            ConfigError::DuplicateIssuer("https://idp".into())
        );
        assert_eq!(
            Validator::builder()
                .issuer(
                    Issuer::new("https://idp")
                        .audience("a")
                        .jwks(r#"{"keys":[]}"#)
                )
                .build()
                .unwrap_err(),
            ConfigError::NoUsableKey
        );
    }

    #[test]
    fn segments_must_be_canonical_base64url_json_objects() {
        assert_eq!(decode_json::<Value>("e30").unwrap(), serde_json::json!({}));
        assert_eq!(
            decode_json::<Value>("e30=").unwrap_err(),
            ErrorKind::Malformed
        );
        assert_eq!(
            decode_json::<Value>("e31").unwrap_err(),
            ErrorKind::Malformed
        );
        assert_eq!(decode_json::<Value>("").unwrap_err(), ErrorKind::Malformed);
        // `[]` and `"x"` are JSON but not objects.
        assert_eq!(
            decode_json::<Map<String, Value>>("W10").unwrap_err(),
            ErrorKind::Malformed
        );
        assert_eq!(
            decode_json::<Map<String, Value>>("Ingi").unwrap_err(),
            ErrorKind::Malformed
        );
    }

    #[test]
    fn a_header_is_read_alike_on_the_stack_and_on_the_heap() {
        let b64 = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let padding = "x".repeat(HEADER_ON_STACK);
        for (header, on_stack) in [
            (
                r#"{"alg":"ES256","kid":"k\u002d1","typ":"at+jwt"}"#.to_owned(),
                true,
            ),
            (
                format!(r#"{{"alg":"ES256","kid":"k\u002d1","typ":"at+jwt","x":"{padding}"}}"#),
                false,
            ),
        ] {
            let token = format!("{}.{}.c2ln", b64(&header), b64("{}"));
            let (mut stack, mut heap) = ([0; HEADER_ON_STACK], Vec::new());
            let jws = Jws::parse(&token, usize::MAX, &mut stack, &mut heap)
                .unwrap_or_else(|_| panic!("{header}"));
            assert_eq!(jws.alg(), Some(Algorithm::ES256));
            assert_eq!(jws.kid(), Some("k-1"));
            assert_eq!(jws.header.typ.as_ref().map(|t| &*t.0), Some("at+jwt"));
            assert!(jws.header.crit.is_none());
            assert_eq!(jws.signature, "c2ln");
            assert_eq!(heap.is_empty(), on_stack, "{header}");
        }
        // As before: `crit` counts whatever its value but `null`; members are strings.
        for (header, crit) in [
            (r#"{"alg":"ES256","crit":[]}"#, true),
            (r#"{"alg":"ES256","crit":null}"#, false),
        ] {
            let token = format!("{}.{}.c2ln", b64(header), b64("{}"));
            let (mut stack, mut heap) = ([0; HEADER_ON_STACK], Vec::new());
            let jws = Jws::parse(&token, usize::MAX, &mut stack, &mut heap)
                .ok()
                .unwrap();
            assert_eq!(jws.header.crit.is_some(), crit, "{header}");
        }
        for header in [
            r#"{"alg":5}"#,
            r#"{"kid":"k"}"#,
            r#"{"alg":"ES256","kid":1}"#,
            r#"{"alg":"ES256","alg":"ES256"}"#,
            r#"["alg"]"#,
        ] {
            let token = format!("{}.{}.c2ln", b64(header), b64("{}"));
            let (mut stack, mut heap) = ([0; HEADER_ON_STACK], Vec::new());
            assert!(
                matches!(
                    Jws::parse(&token, usize::MAX, &mut stack, &mut heap),
                    Err(ErrorKind::Malformed)
                ),
                "{header}"
            );
        }
    }

    #[test]
    fn the_base64url_alphabet_exactly() {
        for b in 0..=u8::MAX {
            let expected = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            let s = [b];
            let text = std::str::from_utf8(&s).unwrap_or("\u{80}");
            assert_eq!(is_base64url(text), expected, "byte {b:#04x}");
        }
    }

    #[test]
    fn a_leeway_past_its_bound_is_refused_and_key_timings_are_clamped() {
        let issuer = || {
            Issuer::new("https://idp")
                .audience("a")
                .jwks(r#"{"keys":[]}"#)
        };
        for leeway in [defaults::MAX_LEEWAY + Duration::from_secs(1), Duration::MAX] {
            let error = Validator::builder()
                .issuer(issuer())
                .leeway(leeway)
                .build()
                .unwrap_err();
            assert_eq!(
                error,
                ConfigError::TooLong {
                    setting: "leeway",
                    max: defaults::MAX_LEEWAY
                }
            );
            assert_eq!(error.to_string(), "leeway may be at most 3600 s");
        }
        let builder = Validator::builder()
            .jwks_ttl(Duration::MAX)
            .jwks_ttl_bounds(Duration::MAX, Duration::ZERO)
            .max_stale(Duration::MAX)
            .retry_backoff(Duration::MAX, Duration::MAX)
            .unknown_kid_cooldown(Duration::MAX);
        let most = defaults::MAX_KEY_TIMING;
        let policy = builder.refresh;
        assert_eq!(
            [
                policy.default_ttl,
                policy.min_ttl,
                policy.max_ttl,
                policy.max_stale,
                policy.min_retry,
                policy.max_retry,
                policy.unknown_kid_cooldown
            ],
            [most; 7]
        );
    }

    #[test]
    fn credentials_in_the_issuer_or_jwks_uri_are_refused_and_never_shown() {
        const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        let with_creds = "https://alice:s3cret@idp.example.com";
        let cases = [
            ("issuer", Issuer::new(with_creds).audience("a")),
            ("issuer", Issuer::new(with_creds)),
            (
                "issuer",
                Issuer::new(with_creds)
                    .audience("a")
                    .jwks_uri("https://idp.example.com/keys"),
            ),
            ("issuer", Issuer::new(with_creds).audience("a").jwks(JWKS)),
            (
                "issuer",
                Issuer::new("https://alice@idp.example.com").audience("a"),
            ),
            (
                "jwks_uri",
                Issuer::new("https://idp.example.com")
                    .audience("a")
                    .jwks_uri("https://alice:s3cret@idp.example.com/keys"),
            ),
            (
                "jwks_uri",
                Issuer::new("https://idp.example.com")
                    .audience("a")
                    .jwks_uri("http://alice:s3cret@idp.example.com/keys"),
            ),
        ];
        for (setting, issuer) in cases {
            let builder = Validator::builder().issuer(issuer);
            let shown = format!("{builder:?}");
            assert!(
                !shown.contains("alice") && !shown.contains("s3cret"),
                "{shown}"
            );
            let error = builder.build().unwrap_err();
            assert_eq!(error, ConfigError::CredentialsInUrl { setting });
            let shown = format!("{error} {error:?}");
            assert!(shown.contains(setting), "{shown}");
            assert!(
                !shown.contains("alice") && !shown.contains("s3cret"),
                "{shown}"
            );
        }
    }

    #[test]
    fn debug_hides_the_hmac_secret() {
        let shown = format!("{:?}", Issuer::new("i").hmac_secret("hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
