//! The one decision the guard makes about a request once its credential has been judged.
//!
//! A request reaches [`GuardSettings::decide`] by one of three paths: no credential at all, a
//! token answered from the verified-token cache inside `Guard::call`, or a token validated in
//! full inside the response future. Every rule that depends on the guard rather than on the
//! token (the guard-wide scopes and claim predicates, optional mode, the DPoP binding between
//! token and proof) lives here and nowhere else, so the paths cannot disagree: the cache only
//! saves the work of validation, never a decision. [`check_requirements`] is also what
//! [`RequireScope`](crate::RequireScope) calls, so a route decides as the guard does.

use std::sync::Arc;

use http::{Request, Response};
use tower_service::Service;

use crate::error::{AuthError, ErrorKind};
use crate::guard::challenge::{Challenge, Scheme};
use crate::guard::dpop::{Presented, check_binding};
use crate::guard::layer::GuardSettings;
use crate::guard::response::{OnRejection, Rejection, respond};
use crate::metrics::{self, Stage};
use crate::verify::claims::{Claims, ClaimsView};
use crate::verify::scope::{Requirements, Unmet};
use crate::verify::validator::now;

/// Put into the extensions of every request the guard lets through, so that
/// [`RequireScope`](crate::RequireScope) answers with the same realm and judges the same
/// claims, whatever the guard's claims type.
#[derive(Clone)]
pub(crate) struct GuardContext {
    pub(crate) settings: Arc<GuardSettings>,
    /// `None` for a request let through anonymously.
    pub(crate) claims: Option<Arc<dyn ClaimsView>>,
    /// How the token was presented, for the challenges of later refusals.
    pub(crate) scheme: Option<Scheme>,
}

/// Checks a valid token against the requirements of the guard (`whose` = "guard-wide") or of
/// a route: the one place both are decided.
pub(crate) fn check_requirements(
    requirements: &Requirements,
    challenge: &Challenge,
    scheme: Option<Scheme>,
    claims: &dyn ClaimsView,
    whose: &'static str,
) -> Result<(), Rejection> {
    let Err(unmet) = requirements.check(claims.scopes(), claims) else {
        return Ok(());
    };
    match unmet {
        Unmet::Claim(predicate) => tracing::debug!(
            kind = ErrorKind::ForbiddenClaim.code(),
            requirement = whose,
            ?predicate,
            "request refused: a claim fails the requirement"
        ),
        Unmet::Scopes(required) => tracing::debug!(
            kind = ErrorKind::InsufficientScope.code(),
            requirement = whose,
            ?required,
            "request refused: scopes missing"
        ),
    }
    Err(Rejection::unmet(challenge, unmet, claims.scopes(), scheme))
}

impl GuardSettings {
    /// What happens to a request whose credential was judged: `Ok(None)` is a request that
    /// carried none; `Ok(Some(claims))` a valid token (and, presented with DPoP, a valid proof
    /// recorded against replay); `Err` a refused credential. `presented` says how.
    pub(crate) fn decide<T: Send + Sync + 'static>(
        &self,
        judged: Result<Option<Claims<T>>, AuthError>,
        presented: &Presented,
    ) -> Result<Option<Claims<T>>, Rejection> {
        let scheme = presented.scheme();
        match judged {
            Err(error) => {
                // The validator logs the tokens it refuses, with their issuer, kid and alg; a
                // malformed credential never reached it.
                if error.kind() == ErrorKind::InvalidRequest {
                    tracing::debug!(kind = error.kind().code(), "malformed credential refused");
                }
                let nonce = match error.kind() {
                    ErrorKind::DpopNonceRequired => self.dpop.as_ref().and_then(|d| d.nonce(now())),
                    _ => None,
                };
                Err(Rejection::for_scheme(error, &self.challenge, scheme).with_dpop_nonce(nonce))
            }
            // Anonymous requests pass only an optional guard with nothing to require: a
            // guard-wide requirement cannot be met without a token (as `RequireScope` answers).
            Ok(None) if self.optional && self.requirements.is_empty() => Ok(None),
            Ok(None) => {
                tracing::debug!(
                    kind = ErrorKind::MissingCredentials.code(),
                    "request without credentials refused"
                );
                Err(Rejection::new(
                    ErrorKind::MissingCredentials.into(),
                    &self.challenge,
                ))
            }
            Ok(Some(claims)) => {
                if let Err(kind) = check_binding(claims.as_view(), presented) {
                    return Err(Rejection::for_scheme(kind.into(), &self.challenge, scheme));
                }
                check_requirements(
                    &self.requirements,
                    &self.challenge,
                    scheme,
                    claims.as_view(),
                    "guard-wide",
                )?;
                Ok(Some(claims))
            }
        }
    }
}

/// Decides and carries the decision out: the inner service's future for an admitted request,
/// or the rejection response. The one place both paths of the guard end in.
pub(crate) fn conclude<S, ReqBody, ResBody, T, H>(
    judged: Result<Option<Claims<T>>, AuthError>,
    presented: &Presented,
    mut request: Request<ReqBody>,
    inner: &mut S,
    settings: &Arc<GuardSettings>,
    on_rejection: &H,
) -> Result<S::Future, Response<ResBody>>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    T: Send + Sync + 'static,
    H: OnRejection<ResBody>,
{
    match settings.decide(judged, presented) {
        Ok(claims) => {
            metrics::allowed(Stage::Guard);
            let extensions = request.extensions_mut();
            let view = claims.as_ref().map(Claims::view);
            if let Some(claims) = claims {
                extensions.insert(claims.scopes().clone());
                extensions.insert(claims);
            }
            extensions.insert(GuardContext {
                settings: Arc::clone(settings),
                claims: view,
                scheme: presented.scheme(),
            });
            Ok(inner.call(request))
        }
        Err(rejection) => {
            metrics::denied(Stage::Guard, rejection.kind());
            let rejection = rejection.for_request(settings.grpc, request.headers());
            Err(respond(on_rejection, rejection))
        }
    }
}
