//! [`RequireScopeLayer`]: per-route scope requirements, answered with 403
//! `insufficient_scope` naming the required scopes.
//!
//! Put it inside a [`GuardLayer`](crate::GuardLayer) (in axum: an earlier `route_layer`), which
//! supplies the token's [`Scopes`]. A request the guard let through anonymously
//! ([`optional`](crate::GuardLayer::optional)) gets 401 with a challenge, as it must
//! authenticate first. A request that no guard has seen (the layers are in the wrong order)
//! gets 500 and an error in the log, once: never a 401 that would blame a valid token.
//!
//! Rejections are shaped by the guard's [`on_rejection`](crate::GuardLayer::on_rejection)
//! handler unless the layer is given its own.
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

use std::fmt;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::ErrorKind;
use crate::guard::challenge::Challenge;
use crate::guard::decision::GuardContext;
use crate::guard::future::RejectOr;
use crate::guard::response::{InheritRejection, OnRejection, Rejection, respond};
use crate::verify::scope::{ScopeRequirement, Scopes};

/// A tower [`Layer`] that applies [`RequireScope`]. See the [module docs](crate::require_scope).
#[derive(Clone)]
#[must_use]
pub struct RequireScopeLayer<H = InheritRejection> {
    requirement: ScopeRequirement,
    on_rejection: H,
}

impl RequireScopeLayer {
    /// Requires a requirement built elsewhere.
    pub fn new(requirement: ScopeRequirement) -> Self {
        Self {
            requirement,
            on_rejection: InheritRejection,
        }
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
            requirement: self.requirement,
            on_rejection: handler,
        }
    }

    /// The requirement.
    pub fn requirement(&self) -> &ScopeRequirement {
        &self.requirement
    }
}

impl<H> fmt::Debug for RequireScopeLayer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopeLayer")
            .field("requirement", &self.requirement)
            .finish_non_exhaustive()
    }
}

impl<S, H: Clone> Layer<S> for RequireScopeLayer<H> {
    type Service = RequireScope<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScope {
            inner,
            requirement: self.requirement.clone(),
            on_rejection: self.on_rejection.clone(),
        }
    }
}

/// Lets a request through only if its token grants the required scopes.
#[derive(Clone)]
pub struct RequireScope<S, H = InheritRejection> {
    inner: S,
    requirement: ScopeRequirement,
    on_rejection: H,
}

impl<S, H> RequireScope<S, H> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug, H> fmt::Debug for RequireScope<S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScope")
            .field("inner", &self.inner)
            .field("requirement", &self.requirement)
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
        let rejection = match request.extensions().get::<GuardContext>() {
            Some(GuardContext(settings)) => match request.extensions().get::<Scopes>() {
                Some(granted) if self.requirement.is_satisfied_by(granted) => {
                    return RejectOr::inner(self.inner.call(request));
                }
                Some(_) => {
                    tracing::debug!(
                        kind = ErrorKind::InsufficientScope.code(),
                        required = %self.requirement.scope_param(),
                        "request refused by the route's scope requirement"
                    );
                    Rejection::insufficient_scope(&settings.challenge, &self.requirement)
                }
                // Let through anonymously by an optional guard: it must authenticate first.
                None => {
                    tracing::debug!(
                        kind = ErrorKind::MissingCredentials.code(),
                        "anonymous request refused by the route's scope requirement"
                    );
                    Rejection::new(ErrorKind::MissingCredentials.into(), &settings.challenge)
                }
            },
            None => {
                guard_missing();
                Rejection::new(ErrorKind::GuardMissing.into(), &Challenge::default())
            }
        };
        RejectOr::rejected(respond(&self.on_rejection, rejection))
    }
}

/// No guard ran before this layer, so no token was ever checked: a server error, never a 401
/// that would send a client with a valid token to fetch another. Said once per process.
fn guard_missing() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::error!(
            "RequireScopeLayer found no GuardLayer in front of it and answers 500: add \
             GuardLayer after RequireScopeLayer (in axum, `.route_layer(RequireScopeLayer::…)` \
             then `.route_layer(GuardLayer::new(…))`; with tower's ServiceBuilder, the guard's \
             `.layer(…)` first)"
        );
    });
}
