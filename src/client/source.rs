use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::Url;
use tokio::sync::watch;
use tokio::time::Instant;

use super::defaults;
use super::dpop::DpopClient;
use super::endpoint::{AuthMethod, Endpoint, HttpSettings, Location};
use super::error::TokenError;
use super::token::{AccessToken, ClientSecret};
use crate::dpop_key::DpopKey;
use crate::error::ConfigError;
use crate::jwks::fetch::{check_url, has_userinfo, without_userinfo};
use crate::verify::scope::is_scope_token;

/// Access tokens from a token endpoint with the client credentials grant (RFC 6749 §4.4),
/// cached and renewed ahead of their expiry.
///
/// Cheap to clone: clones share one cache. Build it with [`TokenSource::builder`].
///
/// # Caching and renewal
///
/// A token is handed out until it is due for renewal: at 90% of its lifetime or 60 s before it
/// expires, whichever comes first, but not before half its lifetime (see [`defaults`]). From
/// then until it expires, callers still get it at once while one renewal runs in the
/// background; once it has expired (or was [invalidated](Self::invalidate)), callers wait for
/// the renewal. However many callers ask at once, one token request is in flight at a time, and
/// it runs in its own task, so it completes even when the caller that started it is cancelled.
///
/// Lifetimes come from `expires_in`, counted from when the request was sent; without one,
/// [`defaults::TOKEN_LIFETIME`] is assumed (see
/// [`default_lifetime`](TokenSourceBuilder::default_lifetime)). Times are
/// [`tokio::time::Instant`]s, so a paused tokio clock applies.
///
/// A failed renewal is logged; callers keep the current token while it is valid (the renewal is
/// tried again after [`defaults::RENEW_RETRY`]). When there is no valid token, the callers that
/// waited for the request get its error, and the next call tries again.
///
/// Needs a tokio runtime: the token request is spawned onto it.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    fetch: Fetch,
    /// The DPoP key and nonces, shared with the token request.
    dpop: Option<Arc<DpopClient>>,
    state: Mutex<State>,
}

/// How a token is obtained.
#[cfg_attr(test, allow(clippy::large_enum_variant))]
enum Fetch {
    Http(Endpoint),
    #[cfg(test)]
    Fake(tests::FakeFetch),
}

impl Fetch {
    async fn request_token(&self) -> Result<AccessToken, TokenError> {
        match self {
            Self::Http(endpoint) => endpoint.request_token().await,
            #[cfg(test)]
            Self::Fake(fake) => fake.request_token().await,
        }
    }
}

type Outcome = Option<Result<AccessToken, TokenError>>;

#[derive(Default)]
struct State {
    current: Option<Current>,
    /// The result of the token request in flight, once it is there.
    renewal: Option<watch::Receiver<Outcome>>,
    last_invalidation: Option<Instant>,
}

struct Current {
    token: AccessToken,
    renew_at: Instant,
}

impl TokenSource {
    /// A builder for a client with this id and secret. Set where the token endpoint is with
    /// [`token_endpoint`](TokenSourceBuilder::token_endpoint) or
    /// [`issuer`](TokenSourceBuilder::issuer).
    pub fn builder(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> TokenSourceBuilder<NoEndpoint> {
        TokenSourceBuilder {
            client_id: client_id.into(),
            secret: ClientSecret(client_secret.into().into()),
            endpoint: NoEndpoint,
            scope: None,
            resources: Vec::new(),
            auth: AuthMethod::default(),
            timeout: defaults::REQUEST_TIMEOUT,
            default_lifetime: defaults::TOKEN_LIFETIME,
            allow_insecure_http: false,
            dpop: None,
        }
    }

    /// The DPoP key, when tokens are DPoP-bound (see [`TokenSourceBuilder::dpop`]): its
    /// [`thumbprint`](DpopKey::thumbprint) is the tokens' `cnf.jkt`, and it signs the proofs
    /// of requests made without [`BearerLayer`](super::BearerLayer).
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.inner.dpop.as_deref().map(DpopClient::key)
    }

    pub(crate) fn dpop(&self) -> Option<&Arc<DpopClient>> {
        self.inner.dpop.as_ref()
    }

    /// A valid access token: the cached one, or a new one.
    ///
    /// # Errors
    /// When no valid token is cached and the token request fails: the server's §5.2 error, or
    /// why it could not be reached or understood.
    ///
    /// # Panics
    /// Outside a tokio runtime, when a token request has to be started (it is spawned).
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let mut outcome = {
            let mut state = self.inner.lock();
            let now = Instant::now();
            match &state.current {
                Some(current) if now < current.renew_at => return Ok(current.token.clone()),
                Some(current) if now < current.token.expires_at() => {
                    let token = current.token.clone();
                    self.renewal(&mut state);
                    return Ok(token);
                }
                _ => self.renewal(&mut state),
            }
        };
        match outcome.wait_for(Option::is_some).await {
            Ok(result) => result.clone().unwrap_or(Err(TokenError::Aborted)),
            Err(_) => Err(TokenError::Aborted),
        }
    }

    /// Drops `token` from the cache, so that the next call to [`token`](Self::token) asks for a
    /// new one; for when an API rejected it (`401` with `error="invalid_token"`).
    ///
    /// Does nothing, and returns `false`, when the cached token is another one (it was renewed
    /// already), or when a token was invalidated less than
    /// [`defaults::MIN_INVALIDATION_INTERVAL`] ago (an API that rejects every token would
    /// otherwise cause a token request per call).
    pub fn invalidate(&self, token: &AccessToken) -> bool {
        let mut state = self.inner.lock();
        let now = Instant::now();
        let recently = state
            .last_invalidation
            .is_some_and(|at| now < at + defaults::MIN_INVALIDATION_INTERVAL);
        let cached = state.current.as_ref().is_some_and(|c| c.token == *token);
        if !cached || recently {
            return false;
        }
        tracing::debug!("access token invalidated");
        state.current = None;
        state.last_invalidation = Some(now);
        true
    }

    /// The result of the token request in flight, starting one if there is none.
    fn renewal(&self, state: &mut State) -> watch::Receiver<Outcome> {
        if let Some(outcome) = &state.renewal
            && outcome.has_changed().is_ok()
        {
            return outcome.clone();
        }
        let (sender, outcome) = watch::channel(None);
        state.renewal = Some(outcome.clone());
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let started = Instant::now();
            let result = inner.fetch.request_token().await;
            {
                let mut state = inner.lock();
                state.renewal = None;
                match &result {
                    Ok(token) => {
                        tracing::debug!(
                            expires_in = ?token.expires_at().saturating_duration_since(started),
                            scope = token.scope(),
                            "access token obtained"
                        );
                        state.current = Some(Current {
                            token: token.clone(),
                            renew_at: renew_at(started, token.expires_at()),
                        });
                    }
                    Err(error) => {
                        tracing::warn!(%error, "token request failed");
                        if let Some(current) = &mut state.current {
                            // Never past the expiry: an expired token is not handed out.
                            current.renew_at = (Instant::now() + defaults::RENEW_RETRY)
                                .min(current.token.expires_at());
                        }
                    }
                }
            }
            sender.send_replace(Some(result));
        });
        outcome
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// When a token obtained at `issued` and expiring at `expires` is due for renewal.
fn renew_at(issued: Instant, expires: Instant) -> Instant {
    let lifetime = expires.saturating_duration_since(issued);
    let by_share = lifetime / 100 * defaults::RENEW_AT_PERCENT_OF_LIFETIME;
    let by_margin = lifetime.saturating_sub(defaults::RENEW_BEFORE_EXPIRY);
    issued + by_share.min(by_margin).max(lifetime / 2)
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("TokenSource");
        #[cfg_attr(not(test), allow(irrefutable_let_patterns))]
        if let Fetch::Http(endpoint) = &self.inner.fetch {
            debug
                .field("client_id", &endpoint.client_id)
                .field("client_secret", &endpoint.secret)
                .field("location", &endpoint.location)
                .field("auth_method", &endpoint.auth)
                .field("scope", &endpoint.scope)
                .field("resources", &endpoint.resources);
        }
        let state = self.inner.lock();
        debug
            .field("dpop", &self.inner.dpop)
            .field("token", &state.current.as_ref().map(|c| &c.token))
            .field("renewing", &state.renewal.is_some())
            .finish()
    }
}

/// Builds a [`TokenSource`]; from [`TokenSource::builder`].
///
/// `E` says whether the token endpoint is set yet ([`NoEndpoint`] or [`WithEndpoint`]): only a
/// builder that knows it can [`build`](TokenSourceBuilder::build).
#[must_use]
#[derive(Clone)]
pub struct TokenSourceBuilder<E = WithEndpoint> {
    client_id: String,
    secret: ClientSecret,
    endpoint: E,
    scope: Option<String>,
    resources: Vec<String>,
    auth: AuthMethod,
    timeout: Duration,
    default_lifetime: Duration,
    allow_insecure_http: bool,
    dpop: Option<Arc<DpopKey>>,
}

impl<E: fmt::Debug> fmt::Debug for TokenSourceBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resources: Vec<_> = self.resources.iter().map(|r| without_userinfo(r)).collect();
        f.debug_struct("TokenSourceBuilder")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.secret)
            .field("endpoint", &self.endpoint)
            .field("scope", &self.scope)
            .field("resources", &resources)
            .field("auth_method", &self.auth)
            .field("timeout", &self.timeout)
            .field("default_lifetime", &self.default_lifetime)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("dpop", &self.dpop)
            .finish()
    }
}

/// State of a [`TokenSourceBuilder`] that does not know the token endpoint yet.
#[derive(Debug, Clone, Copy)]
pub struct NoEndpoint;

/// State of a [`TokenSourceBuilder`] that knows where the token endpoint is (or how to find it).
#[derive(Debug, Clone)]
pub struct WithEndpoint(Where);

#[derive(Clone)]
enum Where {
    Url(String),
    Issuer(String),
}

impl fmt::Debug for Where {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(url) => f.debug_tuple("Url").field(&without_userinfo(url)).finish(),
            Self::Issuer(url) => f
                .debug_tuple("Issuer")
                .field(&without_userinfo(url))
                .finish(),
        }
    }
}

impl TokenSourceBuilder<NoEndpoint> {
    /// The token endpoint's URL. It must be https, except for loopback hosts (see
    /// [`allow_insecure_http`](TokenSourceBuilder::allow_insecure_http)).
    pub fn token_endpoint(self, url: impl Into<String>) -> TokenSourceBuilder<WithEndpoint> {
        self.with(Where::Url(url.into()))
    }

    /// Find the token endpoint in the metadata of this issuer, on first use: OpenID Connect
    /// Discovery (`{issuer}/.well-known/openid-configuration`), then RFC 8414
    /// (`/.well-known/oauth-authorization-server{/path}`). The document's `issuer` must equal
    /// this one exactly, and its `token_endpoint` obeys the same https rule.
    pub fn issuer(self, issuer: impl Into<String>) -> TokenSourceBuilder<WithEndpoint> {
        self.with(Where::Issuer(issuer.into()))
    }

    fn with(self, endpoint: Where) -> TokenSourceBuilder<WithEndpoint> {
        TokenSourceBuilder {
            client_id: self.client_id,
            secret: self.secret,
            endpoint: WithEndpoint(endpoint),
            scope: self.scope,
            resources: self.resources,
            auth: self.auth,
            timeout: self.timeout,
            default_lifetime: self.default_lifetime,
            allow_insecure_http: self.allow_insecure_http,
            dpop: self.dpop,
        }
    }
}

impl<E> TokenSourceBuilder<E> {
    /// The scopes to ask for, space-delimited (`"read write"`). Default: none, so the server
    /// grants its default scope for the client.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// A resource the token is meant for (RFC 8707: an absolute URI without a fragment; it
    /// usually becomes the token's `aud`). May be called more than once. Default: none.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// How the client authenticates. Default: [`AuthMethod::Basic`].
    pub fn auth_method(mut self, method: AuthMethod) -> Self {
        self.auth = method;
        self
    }

    /// Timeout of one token or metadata request. Default: [`defaults::REQUEST_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The lifetime assumed when a token response has no `expires_in`. Default:
    /// [`defaults::TOKEN_LIFETIME`].
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// Allow plain http to hosts that are not loopback (the client secret then crosses the
    /// network in clear). Default: `false`.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Ask for DPoP-bound tokens (RFC 9449) and prove possession of `key`. Default: none,
    /// bearer tokens.
    ///
    /// Each token request then carries a `DPoP` proof (`htm` `POST`, `htu` the token
    /// endpoint), and the answer must be a token of type `DPoP` (compared case-insensitively;
    /// a `Bearer` token is refused with [`TokenError::DpopNotGranted`]). A `use_dpop_nonce`
    /// refusal is retried once with the nonce the server sent, and the latest nonce of each
    /// server is put in later proofs. [`BearerLayer`](super::BearerLayer) sends
    /// `Authorization: DPoP <token>` and a fresh proof with every request.
    ///
    /// ```
    /// # #[cfg(feature = "test-util")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let issuer = bearer_guard::testing::TestIssuer::start().await;
    /// use bearer_guard::client::TokenSource;
    /// use bearer_guard::dpop::DpopKey;
    ///
    /// let source = TokenSource::builder("test-client", "test-secret")
    ///     .token_endpoint(issuer.token_endpoint())
    ///     .dpop(DpopKey::generate())
    ///     .build()?;
    /// let token = source.token().await?;
    /// assert_eq!(token.token_type(), "DPoP");
    /// let claims = issuer.validator().validate(token.secret()).await?;
    /// assert_eq!(claims.json()["cnf"]["jkt"], source.dpop_key().unwrap().thumbprint());
    /// # Ok(()) }
    /// # #[cfg(not(feature = "test-util"))]
    /// # fn main() {}
    /// ```
    pub fn dpop(mut self, key: DpopKey) -> Self {
        self.dpop = Some(Arc::new(key));
        self
    }

    /// [`dpop`](Self::dpop) with a new random ES256 (P-256) key, kept in memory only: tokens
    /// bound to it are useless to anyone who steals them, and to this process after a
    /// restart (it then gets new ones). Use [`DpopKey::from_pkcs8`] to keep one key.
    pub fn generate_dpop_key(self) -> Self {
        self.dpop(DpopKey::generate())
    }
}

impl TokenSourceBuilder<WithEndpoint> {
    /// Checks the settings and builds the source. No request is made until the first
    /// [`token`](TokenSource::token).
    ///
    /// # Errors
    /// [`ConfigError::InvalidUrl`], [`ConfigError::InsecureUrl`] or
    /// [`ConfigError::CredentialsInUrl`] for the token endpoint, issuer or a resource; [`ConfigError::InvalidScope`] for a scope that is not an RFC 6749
    /// §3.3 scope-token; [`ConfigError::HttpClient`] if the HTTP client cannot be built.
    pub fn build(self) -> Result<TokenSource, ConfigError> {
        let location = match &self.endpoint.0 {
            Where::Url(url) => {
                Location::Url(check_url("token_endpoint", url, self.allow_insecure_http)?)
            }
            Where::Issuer(issuer) => Location::Issuer {
                url: check_url("issuer", issuer, self.allow_insecure_http)?,
                issuer: issuer.clone(),
                found: Mutex::new(None),
            },
        };
        let scope = match &self.scope {
            Some(scope) => normalize_scope(scope)?,
            None => None,
        };
        for resource in &self.resources {
            check_resource(resource)?;
        }
        let dpop = self.dpop.map(|key| Arc::new(DpopClient::new(key)));
        let mut endpoint = Endpoint::new(
            location,
            self.client_id,
            self.secret,
            self.auth,
            scope,
            self.resources,
            self.default_lifetime,
            defaults::MAX_TOKEN_LIFETIME,
            self.allow_insecure_http,
            HttpSettings {
                timeout: self.timeout,
                max_response_bytes: defaults::MAX_RESPONSE_BYTES,
            },
        )?;
        endpoint.dpop = dpop.clone();
        Ok(TokenSource::from_fetch(Fetch::Http(endpoint), dpop))
    }
}

impl TokenSource {
    fn from_fetch(fetch: Fetch, dpop: Option<Arc<DpopClient>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                fetch,
                dpop,
                state: Mutex::new(State::default()),
            }),
        }
    }
}

/// Single spaces between valid scope-tokens; `None` when there is none.
fn normalize_scope(scope: &str) -> Result<Option<String>, ConfigError> {
    let tokens: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    if let Some(bad) = tokens.iter().find(|s| !is_scope_token(s)) {
        return Err(ConfigError::InvalidScope((*bad).to_owned()));
    }
    Ok((!tokens.is_empty()).then(|| tokens.join(" ")))
}

/// RFC 8707 §2: an absolute URI without a fragment; and, as it is sent to the authorization
/// server and usually becomes the token's `aud`, without a user name or password.
fn check_resource(resource: &str) -> Result<(), ConfigError> {
    match Url::parse(resource) {
        Ok(url) if has_userinfo(&url) => Err(ConfigError::CredentialsInUrl {
            setting: "resource",
        }),
        Ok(url) if url.fragment().is_none() => Ok(()),
        _ => Err(ConfigError::InvalidUrl {
            setting: "resource",
            value: without_userinfo(resource).into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::jwks::FetchError;

    type Script = dyn Fn(usize) -> Result<Duration, TokenError> + Send + Sync;

    /// Answers token requests after `delay`, with a token of the lifetime `script(n)` gives.
    pub(super) struct FakeFetch {
        requests: Arc<AtomicUsize>,
        delay: Duration,
        script: Box<Script>,
    }

    impl FakeFetch {
        pub(super) fn request_token(
            &self,
        ) -> Pin<Box<dyn Future<Output = Result<AccessToken, TokenError>> + Send + '_>> {
            Box::pin(async move {
                let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
                let sent = Instant::now();
                tokio::time::sleep(self.delay).await;
                let lifetime = (self.script)(n)?;
                Ok(AccessToken::new(&format!("token-{n}"), None, sent + lifetime).unwrap())
            })
        }
    }

    fn fake(
        delay: Duration,
        script: impl Fn(usize) -> Result<Duration, TokenError> + Send + Sync + 'static,
    ) -> (TokenSource, Arc<AtomicUsize>) {
        let requests = Arc::new(AtomicUsize::new(0));
        let source = TokenSource::from_fetch(
            Fetch::Fake(FakeFetch {
                requests: Arc::clone(&requests),
                delay,
                script: Box::new(script),
            }),
            None,
        );
        (source, requests)
    }

    const SEC: Duration = Duration::from_secs(1);

    async fn secret(source: &TokenSource) -> String {
        source.token().await.unwrap().secret().to_owned()
    }

    /// Lets a spawned request start.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn renewal_schedule() {
        let t0 = Instant::now();
        let at = |lifetime: u64| renew_at(t0, t0 + SEC * lifetime as u32).duration_since(t0);
        assert_eq!(at(3600), 3240 * SEC, "90% of an hour");
        assert_eq!(at(300), 240 * SEC, "60 s before the end of five minutes");
        assert_eq!(at(100), 50 * SEC, "not before half the lifetime");
        assert_eq!(at(30), 15 * SEC);
        assert_eq!(at(0), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn cached_until_due_then_renewed_in_the_background() {
        let (source, requests) = fake(SEC, |_| Ok(300 * SEC));
        assert_eq!(secret(&source).await, "token-1");
        // The request took 1 s: the token is due 240 s after it was sent.
        tokio::time::sleep(238 * SEC).await;
        assert_eq!(secret(&source).await, "token-1");
        assert_eq!(requests.load(Ordering::SeqCst), 1);

        tokio::time::sleep(2 * SEC).await;
        // Due: handed out at once while one renewal runs.
        assert_eq!(secret(&source).await, "token-1");
        assert_eq!(secret(&source).await, "token-1");
        settle().await;
        assert_eq!(requests.load(Ordering::SeqCst), 2);
        tokio::time::sleep(2 * SEC).await;
        assert_eq!(secret(&source).await, "token-2");
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_token_is_never_handed_out() {
        // Renewals fail after the first token: it is used until it expires, never after.
        let (source, requests) = fake(SEC, |n| {
            if n == 1 {
                Ok(100 * SEC)
            } else {
                Err(TokenError::Endpoint(FetchError::Unreachable))
            }
        });
        assert_eq!(secret(&source).await, "token-1");
        tokio::time::sleep(60 * SEC).await;
        assert_eq!(secret(&source).await, "token-1", "due, renewal fails");
        settle().await;
        tokio::time::sleep(2 * SEC).await;
        assert_eq!(requests.load(Ordering::SeqCst), 2);
        assert_eq!(secret(&source).await, "token-1", "retry waits");
        assert_eq!(requests.load(Ordering::SeqCst), 2);
        tokio::time::sleep(4 * SEC).await;
        assert_eq!(secret(&source).await, "token-1");
        settle().await;
        assert_eq!(
            requests.load(Ordering::SeqCst),
            3,
            "retried after RENEW_RETRY"
        );

        // A renewal that fails shortly before the expiry: the retry is not scheduled past it.
        tokio::time::sleep(29 * SEC).await;
        assert_eq!(secret(&source).await, "token-1");
        settle().await;
        assert_eq!(requests.load(Ordering::SeqCst), 4);
        // It failed at 97 s; the token expires at 100 s; now is 101 s.
        tokio::time::sleep(5 * SEC).await;
        assert_eq!(
            source.token().await,
            Err(TokenError::Endpoint(FetchError::Unreachable)),
            "expired: callers wait for the request and get its error"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_request_that_survives_cancellation() {
        let (source, requests) = fake(5 * SEC, |_| Ok(3600 * SEC));
        // The first caller gives up; the request goes on.
        let first = tokio::time::timeout(SEC, source.token()).await;
        assert!(first.is_err());
        let callers: Vec<_> = (0..100)
            .map(|_| {
                let source = source.clone();
                tokio::spawn(async move { secret(&source).await })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.unwrap(), "token-1");
        }
        assert_eq!(requests.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_reach_every_waiter_and_the_next_call_tries_again() {
        let (source, requests) = fake(SEC, |n| {
            if n == 1 {
                Err(TokenError::Endpoint(FetchError::Status(503)))
            } else {
                Ok(3600 * SEC)
            }
        });
        let (a, b) = tokio::join!(source.token(), source.token());
        assert_eq!(a, Err(TokenError::Endpoint(FetchError::Status(503))));
        assert_eq!(b, a);
        assert_eq!(secret(&source).await, "token-2");
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_only_the_cached_token_and_not_too_often() {
        let (source, requests) = fake(Duration::ZERO, |_| Ok(3600 * SEC));
        let first = source.token().await.unwrap();
        assert!(source.invalidate(&first));
        assert!(!source.invalidate(&first), "already gone");
        let second = source.token().await.unwrap();
        assert_eq!(second.secret(), "token-2");
        assert!(
            !source.invalidate(&second),
            "within MIN_INVALIDATION_INTERVAL"
        );
        assert_eq!(secret(&source).await, "token-2");
        tokio::time::sleep(10 * SEC).await;
        assert!(!source.invalidate(&first), "not the cached one");
        assert!(source.invalidate(&second));
        assert_eq!(secret(&source).await, "token-3");
        assert_eq!(requests.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn settings_are_checked() {
        let build = |b: TokenSourceBuilder| b.build().map(|_| ());
        let base = || TokenSource::builder("id", "secret");
        assert!(build(base().token_endpoint("https://idp.example.com/token")).is_ok());
        assert!(build(base().token_endpoint("http://127.0.0.1:8080/token")).is_ok());
        assert_eq!(
            build(base().token_endpoint("http://idp.example.com/token")),
            Err(ConfigError::InsecureUrl {
                setting: "token_endpoint",
                value: "http://idp.example.com/token".into()
            })
        );
        assert!(
            build(
                base()
                    .allow_insecure_http(true)
                    .token_endpoint("http://idp.example.com/token")
            )
            .is_ok()
        );
        assert!(matches!(
            build(base().issuer("http://idp.example.com")),
            Err(ConfigError::InsecureUrl {
                setting: "issuer",
                ..
            })
        ));
        let endpoint = || base().token_endpoint("https://idp.example.com/token");
        assert_eq!(
            build(endpoint().scope("read \"write\"")),
            Err(ConfigError::InvalidScope("\"write\"".into()))
        );
        for bad in ["/relative", "https://api.example.com/#frag"] {
            assert_eq!(
                build(endpoint().resource(bad)),
                Err(ConfigError::InvalidUrl {
                    setting: "resource",
                    value: bad.into()
                })
            );
        }
        assert_eq!(
            normalize_scope("  read   write ").unwrap().unwrap(),
            "read write"
        );
        assert_eq!(normalize_scope("  ").unwrap(), None);
    }

    #[test]
    fn credentials_in_urls_are_refused_and_never_shown() {
        let base = || TokenSource::builder("id", "secret");
        let with_creds = "https://alice:s3cret@idp.example.com/token";
        let endpoint = || base().token_endpoint("https://idp.example.com/token");
        for (setting, builder) in [
            ("token_endpoint", base().token_endpoint(with_creds)),
            (
                "token_endpoint",
                base()
                    .allow_insecure_http(true)
                    .token_endpoint("http://alice:s3cret@idp.example.com/token"),
            ),
            (
                "issuer",
                base().issuer("https://alice:s3cret@idp.example.com"),
            ),
            ("issuer", base().issuer("https://alice@idp.example.com")),
            ("resource", endpoint().resource("https://alice:s3cret@api")),
        ] {
            let shown = format!("{builder:?}");
            assert!(
                !shown.contains("alice") && !shown.contains("s3cret"),
                "{shown}"
            );
            let error = builder.build().map(|_| ()).unwrap_err();
            assert_eq!(error, ConfigError::CredentialsInUrl { setting });
            let shown = format!("{error} {error:?}");
            assert!(shown.contains(setting), "{shown}");
            assert!(
                !shown.contains("alice") && !shown.contains("s3cret"),
                "{shown}"
            );
        }
        let error = endpoint()
            .resource("https://alice:s3cret@api/#frag")
            .build()
            .map(|_| ())
            .unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(
            !shown.contains("alice") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn the_secret_is_never_shown() {
        let builder = TokenSource::builder("my-client", "hunter2-secret")
            .token_endpoint("https://idp.example.com/token");
        let debug = format!("{builder:?}");
        assert!(
            debug.contains("my-client") && !debug.contains("hunter2"),
            "{debug}"
        );
        let source = builder.build().unwrap();
        let debug = format!("{source:?}");
        assert!(
            debug.contains("my-client") && !debug.contains("hunter2"),
            "{debug}"
        );
    }
}
