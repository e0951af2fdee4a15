//! [`RequireScopeLayer`]: per-route requirements (scopes, and conditions on claims), answered
//! with 403 `insufficient_scope` naming the scopes that would do.
//!
//! Put it inside a [`GuardLayer`](crate::GuardLayer) (in axum: an earlier `route_layer`), which
//! supplies the token's [`Scopes`](crate::Scopes) and claims. A request the guard let through anonymously
//! ([`optional`](crate::GuardLayer::optional)) gets 401 with a challenge, as it must
//! authenticate first. A request that no guard has seen (the layers are in the wrong order)
//! gets 500 and an error in the log, once: never a 401 that would blame a valid token.
//!
//! Rejections are shaped by the guard's [`on_rejection`](crate::GuardLayer::on_rejection)
//! handler unless the layer is given its own. A gRPC request is refused the gRPC way
//! (`PERMISSION_DENIED`, …; see [`crate::grpc`]), as the guard in front is set to, or by its
//! content type when no guard is in front. For gRPC methods, [`GrpcScopesLayer`](crate::GrpcScopesLayer)
//! declares the scopes of every method of a service in one layer.
//!
//! ```
//! use axum::{Router, routing::{get, post}};
//! use bearer_guard::RequireScopeLayer;
//!
//! let routes: Router = Router::new()
//!     .route("/read", get(|| async { "read ok" }))
//!     .route_layer(RequireScopeLayer::all(["read"]))
//!     .merge(
//!         Router::new()
//!             .route("/write", post(|| async { "write ok" }))
//!             .route_layer(RequireScopeLayer::any(["write", "admin"])),
//!     );
//! ```
//!
//! Requirements nest: any-of alternatives, each an all-of list, and claim predicates that
//! are checked first (see [`ScopeRequirement`] for which alternative the 403 names):
//!
//! ```
//! use axum::{Router, routing::get};
//! use bearer_guard::{ClaimPredicate, RequireScopeLayer, ScopeRequirement};
//!
//! # fn build() -> Result<Router, bearer_guard::ConfigError> {
//! // (orders:read AND tenant:acme) OR admin, for tokens of the `acme` tenant only.
//! let required = ScopeRequirement::all(["orders:read", "tenant:acme"])
//!     .or(ScopeRequirement::all(["admin"]));
//! let routes: Router = Router::new()
//!     .route("/orders", get(|| async { "orders" }))
//!     .route_layer(
//!         RequireScopeLayer::new(required)
//!             .require_claim(ClaimPredicate::equals("tenant", "acme"))?,
//!     );
//! # Ok(routes) }
//! # build().unwrap();
//! ```

use std::fmt;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{ConfigError, ErrorKind};
use crate::guard::challenge::Challenge;
use crate::guard::decision::{GuardContext, check_requirements};
use crate::guard::future::RejectOr;
use crate::guard::grpc::GrpcRejections;
use crate::guard::response::{InheritRejection, OnRejection, Rejection, respond};
use crate::metrics::{self, Stage};
use crate::verify::predicate::ClaimPredicate;
use crate::verify::scope::{Requirements, ScopeRequirement};

/// A tower [`Layer`] that applies [`RequireScope`]. See the [module docs](crate::require_scope).
#[derive(Clone)]
#[must_use]
pub struct RequireScopeLayer<H = InheritRejection> {
    requirements: Requirements,
    on_rejection: H,
}

impl RequireScopeLayer {
    /// Requires a requirement built elsewhere.
    pub fn new(requirement: ScopeRequirement) -> Self {
        Self {
            requirements: Requirements {
                scopes: Some(requirement),
                claims: Vec::new(),
            },
            on_rejection: InheritRejection,
        }
    }

    /// Requires no scope, only that the token's claims meet `predicate` (add more with
    /// [`require_claim`](RequireScopeLayer::require_claim)).
    ///
    /// # Errors
    /// As [`require_claim`](RequireScopeLayer::require_claim).
    pub fn claim(predicate: ClaimPredicate) -> Result<Self, ConfigError> {
        let layer = Self {
            requirements: Requirements::default(),
            on_rejection: InheritRejection,
        };
        layer.require_claim(predicate)
    }

    /// Requires every one of `scopes`.
    ///
    /// # Panics
    /// As [`ScopeRequirement::all`].
    pub fn all<S: AsRef<str>>(scopes: impl IntoIterator<Item = S>) -> Self {
        Self::new(ScopeRequirement::all(scopes))
    }

    /// Requires at least one of `scopes`.
    ///
    /// # Panics
    /// As [`ScopeRequirement::any`].
    pub fn any<S: AsRef<str>>(scopes: impl IntoIterator<Item = S>) -> Self {
        Self::new(ScopeRequirement::any(scopes))
    }
}

impl<H> RequireScopeLayer<H> {
    /// Replace the rejection response of this layer alone; see [`crate::response`]. Without
    /// it, the handler of the guard in front shapes this layer's rejections too.
    pub fn on_rejection<H2>(self, handler: H2) -> RequireScopeLayer<H2> {
        RequireScopeLayer {
            requirements: self.requirements,
            on_rejection: handler,
        }
    }

    /// Also require the token's claims to meet `predicate`: 403 `insufficient_scope` without
    /// `scope=` when they do not ([`ErrorKind::ForbiddenClaim`]). Predicates are checked
    /// before the scopes.
    ///
    /// # Errors
    /// [`ConfigError::InvalidClaimPath`] or [`ConfigError::EmptyClaimPredicate`].
    pub fn require_claim(mut self, predicate: ClaimPredicate) -> Result<Self, ConfigError> {
        predicate.check("require_claim")?;
        self.requirements.claims.push(predicate);
        Ok(self)
    }

    /// The scope requirement, if any.
    pub fn requirement(&self) -> Option<&ScopeRequirement> {
        self.requirements.scopes.as_ref()
    }

    /// The claim predicates.
    pub fn required_claims(&self) -> &[ClaimPredicate] {
        &self.requirements.claims
    }
}

impl<H> fmt::Debug for RequireScopeLayer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopeLayer")
            .field("requirements", &self.requirements)
            .finish_non_exhaustive()
    }
}

impl<S, H: Clone> Layer<S> for RequireScopeLayer<H> {
    type Service = RequireScope<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScope {
            inner,
            requirements: self.requirements.clone(),
            on_rejection: self.on_rejection.clone(),
        }
    }
}

/// Lets a request through only if its token grants the required scopes.
#[derive(Clone)]
pub struct RequireScope<S, H = InheritRejection> {
    inner: S,
    requirements: Requirements,
    on_rejection: H,
}

impl<S, H> RequireScope<S, H> {
    inner_service_accessors!();
}

impl<S: fmt::Debug, H> fmt::Debug for RequireScope<S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScope")
            .field("inner", &self.inner)
            .field("requirements", &self.requirements)
            .finish_non_exhaustive()
    }
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScope<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    H: OnRejection<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RejectOr<S::Future, Response<ResBody>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match check_route(
            &request,
            Some(&self.requirements),
            "route",
            "RequireScopeLayer",
        ) {
            Ok(()) => RejectOr::inner(self.inner.call(request)),
            Err(rejection) => RejectOr::rejected(respond(&self.on_rejection, rejection)),
        }
    }
}

/// The check of a layer under the guard ([`RequireScope`], and `GrpcScopes` by gRPC method):
/// `requirements` (`None`: nothing beyond the guard's) against the token the guard let
/// through, the rejection in the form the request is answered in. `whose` names the
/// requirement in the log, `layer` the layer when no guard is in front.
pub(crate) fn check_route<B>(
    request: &Request<B>,
    requirements: Option<&Requirements>,
    whose: &'static str,
    layer: &'static str,
) -> Result<(), Rejection> {
    let context = request.extensions().get::<GuardContext>();
    let judged = match (context, requirements) {
        (None, _) => {
            guard_missing(layer);
            Err(Rejection::new(
                ErrorKind::GuardMissing.into(),
                &Challenge::default(),
            ))
        }
        (Some(_), None) => Ok(()),
        (
            Some(GuardContext {
                settings,
                claims: Some(claims),
                scheme,
            }),
            Some(requirements),
        ) => check_requirements(requirements, &settings.challenge, *scheme, &**claims, whose),
        // Let through anonymously by an optional guard: it must authenticate first.
        (
            Some(GuardContext {
                settings,
                claims: None,
                ..
            }),
            Some(_),
        ) => {
            tracing::debug!(
                kind = ErrorKind::MissingCredentials.code(),
                requirement = whose,
                "anonymous request refused by a requirement"
            );
            Err(Rejection::new(
                ErrorKind::MissingCredentials.into(),
                &settings.challenge,
            ))
        }
    };
    match &judged {
        // Counted as a route's decision only where a requirement was checked.
        Ok(()) if requirements.is_some() => metrics::allowed(Stage::Route),
        Ok(()) => {}
        Err(rejection) => metrics::denied(Stage::Route, rejection.kind()),
    }
    // Without a guard in front, its setting is unknown: the default, by content type.
    let grpc = context.map_or(GrpcRejections::Auto, |c| c.settings.grpc);
    judged.map_err(|rejection| rejection.for_request(grpc, request.headers()))
}

/// No guard ran before this layer, so no token was ever checked: a server error, never a 401
/// that would send a client with a valid token to fetch another. Said once per process, by
/// the first layer to find it.
fn guard_missing(layer: &'static str) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::error!(
            "{layer} found no GuardLayer in front of it and answers 500: add GuardLayer after \
             {layer} (in axum, `.route_layer({layer}::…)` then `.route_layer(GuardLayer::new(…))`; \
             with tower's ServiceBuilder or tonic's Server::builder, the guard's `.layer(…)` \
             first; with tonic's add_service, `GuardLayer::new(…).layer({layer}….layer(svc))`)"
        );
    });
}
