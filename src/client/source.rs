use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::Url;
use tokio::sync::watch;
use tokio::time::Instant;

use super::defaults;
use super::dpop::DpopClient;
use super::endpoint::{AssertionAudience, AuthMethod, Client, Credential, Endpoint, Location};
use super::error::TokenError;
use super::http::Http;
use super::key::ClientKey;
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
        Self::builder_for(
            client_id.into(),
            Secret::Secret(ClientSecret(client_secret.into().into())),
        )
    }

    /// A builder for a client that authenticates with `private_key_jwt` (RFC 7523 §2.2): each
    /// token request carries a client assertion, a JWT signed with `key`, instead of a
    /// shared secret. Set where the token endpoint is with
    /// [`token_endpoint`](TokenSourceBuilder::token_endpoint) or
    /// [`issuer`](TokenSourceBuilder::issuer).
    ///
    /// The assertion (OpenID Connect Core §9): header `alg` (the key's, see
    /// [`ClientKey::algorithm`]), `typ` `JWT`, `kid` when the key has one; claims `iss` and
    /// `sub` the client id, `aud` the token endpoint's URL (see
    /// [`assertion_audience`](TokenSourceBuilder::assertion_audience)), a random `jti`, `iat`
    /// now and `exp` a minute later ([`defaults::ASSERTION_LIFETIME`]). It is sent as
    /// `client_assertion`, with `client_assertion_type`
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and `client_id` (RFC 7521
    /// §4.2). A new one is signed for every token request.
    ///
    /// ```
    /// # #[cfg(feature = "test-util")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use bearer_guard::client::{ClientKey, TokenSource};
    /// use bearer_guard::testing::{TestClient, TestIssuer};
    ///
    /// # use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    /// # let der = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?.to_pkcs8v1()?;
    /// // let key = ClientKey::from_pem(&std::fs::read_to_string("/run/secrets/client-key.pem")?)?
    /// let key = ClientKey::from_pkcs8_der(der.as_ref())?.key_id("reports-1");
    /// // The authorization server knows the public key (here: registered at a test issuer).
    /// let issuer = TestIssuer::builder()
    ///     .client(TestClient::with_key("reports", key.public_jwk()))
    ///     .start()
    ///     .await;
    ///
    /// let source = TokenSource::builder_with_key("reports", key)
    ///     .token_endpoint(issuer.token_endpoint())
    ///     .build()?;
    /// let token = source.token().await?;
    /// issuer.validator().validate(token.secret()).await?;
    /// assert_eq!(issuer.last_client_auth_method().as_deref(), Some("private_key_jwt"));
    /// # Ok(()) }
    /// # #[cfg(not(feature = "test-util"))]
    /// # fn main() {}
    /// ```
    pub fn builder_with_key(
        client_id: impl Into<String>,
        key: ClientKey,
    ) -> TokenSourceBuilder<NoEndpoint> {
        Self::builder_for(client_id.into(), Secret::Key(Arc::new(key)))
    }

    fn builder_for(client_id: String, credential: Secret) -> TokenSourceBuilder<NoEndpoint> {
        TokenSourceBuilder {
            client_id,
            credential,
            endpoint: NoEndpoint,
            scope: None,
            resources: Vec::new(),
            auth: None,
            assertion_audience: AssertionAudience::default(),
            timeout: defaults::REQUEST_TIMEOUT,
            default_lifetime: defaults::TOKEN_LIFETIME,
            allow_insecure_http: false,
            dpop: None,
            http_client: None,
        }
    }

    /// A source of the same client (credential, token endpoint, HTTP client, DPoP key) for
    /// tokens of another resource (RFC 8707), replacing the resources of this one; its scope
    /// stays. It has a cache of its own: each source's token is cached and renewed on its own.
    ///
    /// ```
    /// # #[cfg(feature = "test-util")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use bearer_guard::client::TokenSource;
    /// use bearer_guard::testing::TestIssuer;
    ///
    /// let issuer = TestIssuer::builder()
    ///     .resource("https://orders.example.com")
    ///     .resource("https://billing.example.com")
    ///     .start()
    ///     .await;
    /// let orders = TokenSource::builder("test-client", "test-secret")
    ///     .token_endpoint(issuer.token_endpoint())
    ///     .resource("https://orders.example.com")
    ///     .build()?;
    /// let billing = orders.for_resource("https://billing.example.com")?.with_scope("read")?;
    ///
    /// let validator = issuer.validator();
    /// let claims = validator.validate(billing.token().await?.secret()).await?;
    /// assert_eq!(claims.audience(), ["https://billing.example.com"]);
    /// let claims = validator.validate(orders.token().await?.secret()).await?;
    /// assert_eq!(claims.audience(), ["https://orders.example.com"]);
    /// # Ok(()) }
    /// # #[cfg(not(feature = "test-util"))]
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::InvalidUrl`] or [`ConfigError::CredentialsInUrl`] for a resource that is
    /// not an absolute URI without fragment, user name or password.
    pub fn for_resource(&self, resource: impl Into<String>) -> Result<TokenSource, ConfigError> {
        let resource = resource.into();
        check_resource(&resource)?;
        Ok(self.sibling(|endpoint| Endpoint {
            client: Arc::clone(&endpoint.client),
            scope: endpoint.scope.clone(),
            resources: vec![resource],
        }))
    }

    /// A source of the same client for tokens of another scope (space-delimited), with the
    /// same resources; cached and renewed on its own (see [`for_resource`](Self::for_resource)).
    ///
    /// # Errors
    /// [`ConfigError::InvalidScope`] for a scope that is not an RFC 6749 §3.3 scope-token.
    pub fn with_scope(&self, scope: &str) -> Result<TokenSource, ConfigError> {
        let scope = normalize_scope(scope)?;
        Ok(self.sibling(|endpoint| Endpoint {
            client: Arc::clone(&endpoint.client),
            scope,
            resources: endpoint.resources.clone(),
        }))
    }

    fn sibling(&self, endpoint: impl FnOnce(&Endpoint) -> Endpoint) -> TokenSource {
        match &self.inner.fetch {
            Fetch::Http(this) => {
                TokenSource::from_fetch(Fetch::Http(endpoint(this)), self.inner.dpop.clone())
            }
            #[cfg(test)]
            Fetch::Fake(_) => unimplemented!("fake sources have no siblings"),
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
            let client = &endpoint.client;
            debug
                .field("client_id", &client.client_id)
                .field("credential", &client.credential)
                .field("location", &client.location)
                .field("auth_method", &client.auth_method())
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
    credential: Secret,
    endpoint: E,
    scope: Option<String>,
    resources: Vec<String>,
    /// As set; `None`: the credential's own method.
    auth: Option<AuthMethod>,
    assertion_audience: AssertionAudience,
    timeout: Duration,
    default_lifetime: Duration,
    allow_insecure_http: bool,
    dpop: Option<Arc<DpopKey>>,
    http_client: Option<reqwest::Client>,
}

/// The builder's credential (the key shared, so that the builder stays `Clone`).
#[derive(Clone, Debug)]
enum Secret {
    Secret(ClientSecret),
    Key(Arc<ClientKey>),
}

impl<E: fmt::Debug> fmt::Debug for TokenSourceBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resources: Vec<_> = self.resources.iter().map(|r| without_userinfo(r)).collect();
        f.debug_struct("TokenSourceBuilder")
            .field("client_id", &self.client_id)
            .field("credential", &self.credential)
            .field("endpoint", &self.endpoint)
            .field("scope", &self.scope)
            .field("resources", &resources)
            .field("auth_method", &self.auth)
            .field("assertion_audience", &self.assertion_audience)
            .field("timeout", &self.timeout)
            .field("default_lifetime", &self.default_lifetime)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("dpop", &self.dpop)
            .field("http_client", &self.http_client.is_some())
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
            credential: self.credential,
            endpoint: WithEndpoint(endpoint),
            scope: self.scope,
            resources: self.resources,
            auth: self.auth,
            assertion_audience: self.assertion_audience,
            timeout: self.timeout,
            default_lifetime: self.default_lifetime,
            allow_insecure_http: self.allow_insecure_http,
            dpop: self.dpop,
            http_client: self.http_client,
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

    /// How the client authenticates. Default: [`AuthMethod::Basic`] for a source built with a
    /// secret ([`AuthMethod::Post`] is the other choice), [`AuthMethod::PrivateKeyJwt`] for
    /// one built with a key (the only choice). A method that does not fit the credential is
    /// refused by [`build`](TokenSourceBuilder::build).
    pub fn auth_method(mut self, method: AuthMethod) -> Self {
        self.auth = Some(method);
        self
    }

    /// The `aud` of the `private_key_jwt` client assertions. Default:
    /// [`AssertionAudience::TokenEndpoint`]. [`AssertionAudience::Issuer`] needs the issuer:
    /// a source configured with [`token_endpoint`](TokenSourceBuilder::token_endpoint) is
    /// refused by [`build`](TokenSourceBuilder::build) (give it as
    /// [`AssertionAudience::Custom`]). No effect with a client secret.
    pub fn assertion_audience(mut self, audience: AssertionAudience) -> Self {
        self.assertion_audience = audience;
        self
    }

    /// Timeout of one token or metadata request, from connecting to the end of the answer.
    /// Default: [`defaults::REQUEST_TIMEOUT`]. It holds on a client given with
    /// [`http_client`](Self::http_client) too (it is set on each request).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Send the token and metadata requests through this client: for a proxy, a private CA
    /// (`tls_certs_merge`), a client certificate (`identity`), or a connection pool shared
    /// with the rest of the application. Default: a client of the source's own, which follows
    /// no redirects.
    ///
    /// What still holds with your client: the [`timeout`](Self::timeout), set on each request;
    /// the cap on the size of answers ([`defaults::MAX_RESPONSE_BYTES`]); https for the
    /// endpoint, the issuer and the discovered endpoint (unless
    /// [`allow_insecure_http`](Self::allow_insecure_http)); the secret, assertions and tokens
    /// kept out of errors and logs.
    ///
    /// What cannot: its redirect policy is yours, and a request cannot switch it off. A client
    /// that follows redirects would send the token request, credentials included (the form
    /// body on a 307 or 308), wherever the endpoint redirects to; the answer is then refused
    /// ([`EndpointErrorKind::Redirected`](super::EndpointErrorKind::Redirected)), but the
    /// request has gone. Build yours with `redirect(reqwest::redirect::Policy::none())`, as
    /// the source's own client is. Its other settings (headers, cookies, default timeouts)
    /// apply as you set them.
    ///
    /// ```
    /// # #[cfg(feature = "test-util")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let issuer = bearer_guard::testing::TestIssuer::start().await;
    /// use bearer_guard::client::TokenSource;
    ///
    /// let http = reqwest::Client::builder()
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     // .proxy(reqwest::Proxy::https("http://proxy.internal:3128")?)
    ///     // .tls_certs_merge([reqwest::Certificate::from_pem(&ca_pem)?])
    ///     .build()?;
    /// let source = TokenSource::builder("test-client", "test-secret")
    ///     .token_endpoint(issuer.token_endpoint())
    ///     .http_client(http.clone()) // clones share the pool
    ///     .build()?;
    /// source.token().await?;
    /// # Ok(()) }
    /// # #[cfg(not(feature = "test-util"))]
    /// # fn main() {}
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
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
        let credential = credential(self.credential, self.auth, self.assertion_audience)?;
        if let Credential::Key(_, AssertionAudience::Issuer) = &credential
            && matches!(location, Location::Url(_))
        {
            return Err(ConfigError::InvalidClientAuth {
                setting: "assertion_audience",
                problem: "is the issuer, which a source configured with token_endpoint does \
                          not know; configure issuer, or give the audience as Custom",
            });
        }
        let http = match self.http_client {
            Some(client) => Http::given(client, self.timeout, defaults::MAX_RESPONSE_BYTES),
            None => Http::own(self.timeout, defaults::MAX_RESPONSE_BYTES)?,
        };
        let dpop = self.dpop.map(|key| Arc::new(DpopClient::new(key)));
        let client = Client {
            location,
            client_id: self.client_id,
            credential,
            default_lifetime: self.default_lifetime,
            max_lifetime: defaults::MAX_TOKEN_LIFETIME,
            allow_insecure_http: self.allow_insecure_http,
            dpop: dpop.clone(),
            http,
        };
        let endpoint = Endpoint {
            client: Arc::new(client),
            scope,
            resources: self.resources,
        };
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

/// The credential with its method, if they fit each other and the key its algorithm.
fn credential(
    secret: Secret,
    auth: Option<AuthMethod>,
    audience: AssertionAudience,
) -> Result<Credential, ConfigError> {
    let refused = |problem| ConfigError::InvalidClientAuth {
        setting: "auth_method",
        problem,
    };
    match (secret, auth) {
        (Secret::Secret(secret), None) => Ok(Credential::Secret(secret, AuthMethod::Basic)),
        (Secret::Secret(_), Some(AuthMethod::PrivateKeyJwt)) => Err(refused(
            "is private_key_jwt, which needs a key: build the source with \
             TokenSource::builder_with_key",
        )),
        (Secret::Secret(secret), Some(method)) => Ok(Credential::Secret(secret, method)),
        (Secret::Key(key), None | Some(AuthMethod::PrivateKeyJwt)) => {
            if !key.fits() {
                return Err(ConfigError::InvalidClientAuth {
                    setting: "client_key.algorithm",
                    problem: "does not fit the key (RSA: RS256, RS384, RS512, PS256, PS384, \
                              PS512; P-256: ES256; P-384: ES384; Ed25519: EdDSA)",
                });
            }
            Ok(Credential::Key(key, audience))
        }
        (Secret::Key(_), Some(_)) => Err(refused(
            "is a client secret method, and the source was built with a key \
             (private_key_jwt)",
        )),
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
    use crate::client::{EndpointError, EndpointErrorKind};

    fn failure(kind: EndpointErrorKind, status: Option<u16>) -> TokenError {
        let url = Url::parse("https://idp.example.com/token").unwrap();
        let error = EndpointError::new(kind, &url);
        TokenError::Endpoint(match status {
            Some(status) => error.with_status(status),
            None => error,
        })
    }

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
                Err(failure(EndpointErrorKind::Unreachable, None))
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
            Err(failure(EndpointErrorKind::Unreachable, None)),
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
                Err(failure(EndpointErrorKind::Status, Some(503)))
            } else {
                Ok(3600 * SEC)
            }
        });
        let (a, b) = tokio::join!(source.token(), source.token());
        assert_eq!(a, Err(failure(EndpointErrorKind::Status, Some(503))));
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

    #[test]
    fn the_method_must_fit_the_credential() {
        let key = || {
            crate::client::ClientKey::from_pem(include_str!("../../fixtures/ed25519.pem")).unwrap()
        };
        let setting = |result: Result<TokenSource, ConfigError>| match result {
            Err(ConfigError::InvalidClientAuth { setting, .. }) => setting,
            other => panic!("{other:?}"),
        };
        let url = "https://idp.example.com/token";
        assert_eq!(
            setting(
                TokenSource::builder("id", "secret")
                    .token_endpoint(url)
                    .auth_method(AuthMethod::PrivateKeyJwt)
                    .build()
            ),
            "auth_method"
        );
        for method in [AuthMethod::Basic, AuthMethod::Post] {
            assert_eq!(
                setting(
                    TokenSource::builder_with_key("id", key())
                        .token_endpoint(url)
                        .auth_method(method)
                        .build()
                ),
                "auth_method"
            );
        }
        assert_eq!(
            setting(
                TokenSource::builder_with_key("id", key())
                    .token_endpoint(url)
                    .assertion_audience(AssertionAudience::Issuer)
                    .build()
            ),
            "assertion_audience"
        );
        let source = TokenSource::builder_with_key("id", key())
            .issuer("https://idp.example.com")
            .assertion_audience(AssertionAudience::Issuer)
            .auth_method(AuthMethod::PrivateKeyJwt)
            .build()
            .unwrap();
        let debug = format!("{source:?}");
        assert!(debug.contains("PrivateKeyJwt"), "{debug}");
    }
}
