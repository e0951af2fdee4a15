//! The guard layer and its settings.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::error::ConfigError;
use crate::guard::challenge::Challenge;
use crate::guard::credential::{TokenSource, TokenSources};
use crate::guard::dpop::{Dpop, DpopMode, DpopSettings};
use crate::guard::grpc::GrpcRejections;
use crate::guard::metadata::ResourceMetadata;
use crate::guard::response::DefaultRejection;
use crate::guard::service::Guard;
use crate::verify::claims::JsonClaims;
use crate::verify::predicate::ClaimPredicate;
use crate::verify::scope::{Requirements, ScopeRequirement, Scopes};
use crate::verify::validator::Validator;

/// Settings shared by every clone of the guard.
#[derive(Debug, Clone)]
pub(crate) struct GuardSettings {
    pub(crate) challenge: Challenge,
    pub(crate) optional: bool,
    pub(crate) requirements: Requirements,
    /// Where tokens are read besides the `Authorization` header.
    pub(crate) sources: TokenSources,
    /// The RFC 9728 metadata named by every challenge, if any.
    pub(crate) metadata: Option<ResourceMetadata>,
    /// DPoP proofs (RFC 9449), when allowed or required.
    pub(crate) dpop: Option<DpopSettings>,
    /// Which rejections are gRPC answers.
    pub(crate) grpc: GrpcRejections,
}

/// Wraps a service so that every request must carry a valid access token.
///
/// ```
/// use axum::{Router, routing::get};
/// use bearer_guard::{GuardLayer, Issuer, RequireScopeLayer, Validator};
///
/// # fn build() -> Result<Router, bearer_guard::ConfigError> {
/// let validator = Validator::builder()
///     .issuer(Issuer::new("https://idp.example.com").audience("https://orders.example.com"))
///     .build()?;
/// let app = Router::new()
///     .route("/orders", get(|| async { "orders" }))
///     .route_layer(RequireScopeLayer::all(["orders:read"]))
///     .route_layer(GuardLayer::new(validator).realm("orders")?);
/// # Ok(app) }
/// # build().unwrap();
/// ```
///
/// `route_layer` (rather than `layer`) keeps unknown paths answering 404 instead of 401.
/// Layers added later wrap earlier ones, so the guard runs first and the scope check second.
#[must_use]
pub struct GuardLayer<T = JsonClaims, H = DefaultRejection> {
    pub(crate) validator: Validator<T>,
    pub(crate) settings: Arc<GuardSettings>,
    pub(crate) on_rejection: H,
}

impl<T> GuardLayer<T> {
    /// A guard that requires a valid token on every request, with realm
    /// [`defaults::REALM`](crate::defaults::REALM).
    pub fn new(validator: Validator<T>) -> Self {
        Self {
            validator,
            settings: Arc::new(GuardSettings {
                challenge: Challenge::default(),
                optional: false,
                requirements: Requirements::default(),
                sources: TokenSources::new(),
                metadata: None,
                dpop: None,
                grpc: GrpcRejections::Auto,
            }),
            on_rejection: DefaultRejection,
        }
    }
}

impl<T, H> GuardLayer<T, H> {
    fn settings_mut(&mut self) -> &mut GuardSettings {
        // Settings only change while the layer is being built.
        Arc::make_mut(&mut self.settings)
    }

    /// The `realm` of every challenge.
    ///
    /// # Errors
    /// [`ConfigError::InvalidChallengeParam`] if the realm holds control characters or
    /// non-ASCII: it could not be sent in a header.
    pub fn realm(mut self, realm: &str) -> Result<Self, ConfigError> {
        let settings = self.settings_mut();
        settings.challenge = settings.challenge.clone().with_realm(realm)?;
        Ok(self)
    }

    /// Let requests without credentials through, anonymous (no [`Claims`](crate::Claims) in
    /// their extensions). A token that is presented is still validated: a bad one is rejected,
    /// not ignored. With a guard-wide [`require`](Self::require)ment, a request without
    /// credentials cannot meet it and is answered 401.
    pub fn optional(mut self) -> Self {
        self.settings_mut().optional = true;
        self
    }

    /// Scopes every request must have, whatever the route (403 `insufficient_scope`). A
    /// second call replaces the first; combine alternatives with [`ScopeRequirement::or`].
    ///
    /// Its scopes are also named in the `scope` parameter of every 401, so that a client
    /// without a token learns what to ask for (the first alternative with the fewest scopes).
    pub fn require(mut self, requirement: ScopeRequirement) -> Self {
        let settings = self.settings_mut();
        let scope = requirement.scope_param(&Scopes::default());
        settings.challenge = settings
            .challenge
            .clone()
            .with_unauthorized_scope(Some(scope));
        if let Some(metadata) = &settings.metadata {
            metadata.declare(&requirement);
        }
        settings.requirements.scopes = Some(requirement);
        self
    }

    /// Point every 401 and 403 at `metadata` (RFC 9728 §5.1: `resource_metadata="…"`), also
    /// when no token was sent, and list the guard-wide scopes in its `scopes_supported`.
    /// The [`RequireScopeLayer`](crate::RequireScopeLayer)s under the guard answer with the
    /// same challenge. See [`ResourceMetadata`] for serving the document.
    ///
    /// # Errors
    /// [`ConfigError::InvalidChallengeParam`] if the metadata URL cannot be sent in a header.
    pub fn resource_metadata(mut self, metadata: &ResourceMetadata) -> Result<Self, ConfigError> {
        let settings = self.settings_mut();
        settings.challenge = settings
            .challenge
            .clone()
            .with_resource_metadata(metadata.url())?;
        if let Some(required) = &settings.requirements.scopes {
            metadata.declare(required);
        }
        if let Some(dpop) = &settings.dpop {
            dpop.declare_in(metadata);
        }
        settings.metadata = Some(metadata.clone());
        Ok(self)
    }

    /// Accept DPoP-bound tokens (RFC 9449) as [`Dpop`] says: `Authorization: DPoP <token>`
    /// with a `DPoP` proof header, checked on every request (the verified-token cache skips
    /// the token's signature, never the proof). Without this call the guard accepts bearer
    /// tokens only, and still refuses a DPoP-bound token (one with `cnf.jkt`) sent as
    /// `Bearer`.
    ///
    /// ```
    /// use bearer_guard::dpop::Dpop;
    /// use bearer_guard::{GuardLayer, Issuer, Validator};
    ///
    /// # fn build() -> Result<(), bearer_guard::ConfigError> {
    /// let validator = Validator::builder()
    ///     .issuer(Issuer::new("https://idp.example.com").audience("https://orders.example.com"))
    ///     .build()?;
    /// // Clients reach the API at https://orders.example.com; both schemes accepted.
    /// let guard = GuardLayer::new(validator).dpop(Dpop::new("https://orders.example.com"))?;
    /// # Ok(()) }
    /// # build().unwrap();
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::InvalidDpop`] naming the setting: an external URL that is not an
    /// absolute http(s) URL (or has a query, fragment or user name), no or a symmetric proof
    /// algorithm, a nonce secret under 32 bytes, a window or nonce step outside 1 s to 1 h.
    pub fn dpop(mut self, dpop: Dpop) -> Result<Self, ConfigError> {
        let dpop = dpop.build()?;
        let settings = self.settings_mut();
        let on = dpop.mode != DpopMode::Off;
        settings.challenge = settings.challenge.clone().with_dpop(on.then(|| {
            (
                dpop.mode == DpopMode::Required,
                dpop.algorithm_names.as_slice(),
            )
        }));
        settings.sources.dpop = on;
        if let Some(metadata) = &settings.metadata {
            dpop.declare_in(metadata);
        }
        settings.dpop = on.then_some(dpop);
        Ok(self)
    }

    /// A condition on the claims every request's token must meet, whatever the route: 403
    /// `insufficient_scope` without `scope=` when it fails ([`ErrorKind::ForbiddenClaim`]).
    /// Checked before the scopes; each call adds one.
    ///
    /// ```
    /// use bearer_guard::{ClaimPredicate, GuardLayer, Issuer, Validator};
    ///
    /// # fn build() -> Result<(), bearer_guard::ConfigError> {
    /// let validator = Validator::builder()
    ///     .issuer(Issuer::new("https://idp.example.com").audience("https://orders.example.com"))
    ///     .build()?;
    /// let guard = GuardLayer::new(validator)
    ///     .require_claim(ClaimPredicate::equals("tenant", "acme"))?
    ///     .require_claim(ClaimPredicate::one_of("azp", ["billing", "reporting"]))?;
    /// # Ok(()) }
    /// # build().unwrap();
    /// ```
    ///
    /// [`ErrorKind::ForbiddenClaim`]: crate::ErrorKind::ForbiddenClaim
    ///
    /// # Errors
    /// [`ConfigError::InvalidClaimPath`] or [`ConfigError::EmptyClaimPredicate`].
    pub fn require_claim(mut self, predicate: ClaimPredicate) -> Result<Self, ConfigError> {
        predicate.check("require_claim")?;
        self.settings_mut().requirements.claims.push(predicate);
        Ok(self)
    }

    /// Also read tokens from `source`; call it once per source. The `Authorization: Bearer`
    /// header is always read, and first; a request with a token in two places is refused with
    /// 400 `invalid_request`. See [`TokenSource`] for each source and its rules.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use bearer_guard::{FormTokenLayer, GuardLayer, Issuer, TokenSource, Validator};
    ///
    /// # fn build() -> Result<Router, bearer_guard::ConfigError> {
    /// let validator = Validator::builder()
    ///     .issuer(Issuer::new("https://idp.example.com").audience("https://orders.example.com"))
    ///     .build()?;
    /// let guard = GuardLayer::new(validator)
    ///     .token_source(TokenSource::cookie("access_token"))?
    ///     .token_source(TokenSource::form_body())?;
    /// let app = Router::new()
    ///     .route("/orders", get(|| async { "orders" }).post(|| async { "created" }))
    ///     .route_layer(guard)
    ///     // The form source needs this layer in front of the guard: added after, runs before.
    ///     .route_layer(FormTokenLayer::new());
    /// # Ok(app) }
    /// # build().unwrap();
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::InvalidTokenSource`] (setting `token_source`) for a cookie name that is
    /// not an RFC 6265 token, a header name that is not a valid field name, the header
    /// `Authorization` (always read) or `Cookie`, and a source added twice.
    pub fn token_source(mut self, source: TokenSource) -> Result<Self, ConfigError> {
        self.settings_mut().sources.add(source)?;
        Ok(self)
    }

    /// Which rejections are answered the gRPC way (HTTP 200 with `grpc-status` 16
    /// UNAUTHENTICATED, 7 PERMISSION_DENIED, …; see [`crate::grpc`]) rather than with an HTTP
    /// status. By default ([`GrpcRejections::Auto`]) those of gRPC requests, told by their
    /// `content-type`. The [`RequireScopeLayer`](crate::RequireScopeLayer)s and
    /// [`GrpcScopesLayer`](crate::GrpcScopesLayer)s under the guard follow this setting.
    ///
    /// ```
    /// use bearer_guard::{GrpcRejections, GuardLayer, Issuer, Validator};
    ///
    /// # fn build() -> Result<(), bearer_guard::ConfigError> {
    /// let validator = Validator::builder()
    ///     .issuer(Issuer::new("https://idp.example.com").audience("https://orders.example.com"))
    ///     .build()?;
    /// // A proxy in front maps HTTP statuses to gRPC ones itself.
    /// let guard = GuardLayer::new(validator).grpc_rejections(GrpcRejections::Never);
    /// # Ok(()) }
    /// # build().unwrap();
    /// ```
    pub fn grpc_rejections(mut self, mode: GrpcRejections) -> Self {
        self.settings_mut().grpc = mode;
        self
    }

    /// Replace the rejection response; see [`crate::response`]. It also shapes the rejections
    /// of the [`RequireScopeLayer`](crate::RequireScopeLayer)s under this guard that have no
    /// handler of their own.
    pub fn on_rejection<H2>(self, handler: H2) -> GuardLayer<T, H2> {
        GuardLayer {
            validator: self.validator,
            settings: self.settings,
            on_rejection: handler,
        }
    }

    /// The validator in use.
    pub fn validator(&self) -> &Validator<T> {
        &self.validator
    }
}

impl<T, H: Clone> Clone for GuardLayer<T, H> {
    fn clone(&self) -> Self {
        Self {
            validator: self.validator.clone(),
            settings: Arc::clone(&self.settings),
            on_rejection: self.on_rejection.clone(),
        }
    }
}

impl<T, H> fmt::Debug for GuardLayer<T, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardLayer")
            .field("validator", &self.validator)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<S, T, H: Clone> Layer<S> for GuardLayer<T, H> {
    type Service = Guard<S, T, H>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard::new(inner, self.clone())
    }
}
