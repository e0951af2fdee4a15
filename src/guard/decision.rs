//! The one decision the guard makes about a request once its credential has been judged.
//!
//! A request reaches [`GuardSettings::decide`] by one of three paths: no credential at all, a
//! token answered from the verified-token cache inside `Guard::call`, or a token validated in
//! full inside the response future. Every rule that depends on the guard rather than on the
//! token (the guard-wide requirement, optional mode, and later proof binding and claim
//! predicates) lives here and nowhere else, so the paths cannot disagree: the cache only saves
//! the work of validation, never a decision.

use std::sync::Arc;

use http::{Request, Response};
use tower_service::Service;

use crate::error::{AuthError, ErrorKind};
use crate::guard::layer::GuardSettings;
use crate::guard::response::{OnRejection, Rejection, respond};
use crate::verify::claims::Claims;

/// Put into the extensions of every request the guard lets through, so that
/// [`RequireScope`](crate::RequireScope) answers with the same realm.
#[derive(Debug, Clone)]
pub(crate) struct GuardContext(pub(crate) Arc<GuardSettings>);

impl GuardSettings {
    /// What happens to a request whose credential was judged: `Ok(None)` is a request that
    /// carried none; `Ok(Some(claims))` a valid token; `Err` a refused credential.
    pub(crate) fn decide<T>(
        &self,
        judged: Result<Option<Claims<T>>, AuthError>,
    ) -> Result<Option<Claims<T>>, Rejection> {
        match judged {
            Err(error) => {
                // The validator logs the tokens it refuses, with their issuer, kid and alg; a
                // malformed credential never reached it.
                if error.kind() == ErrorKind::InvalidRequest {
                    tracing::debug!(kind = error.kind().code(), "malformed credential refused");
                }
                Err(Rejection::new(error, &self.challenge))
            }
            // Anonymous requests pass only an optional guard with nothing to require: a
            // guard-wide requirement cannot be met without a token (as `RequireScope` answers).
            Ok(None) if self.optional && self.required.is_none() => Ok(None),
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
            Ok(Some(claims)) => match &self.required {
                Some(required) if !required.is_satisfied_by(claims.scopes()) => {
                    tracing::debug!(
                        kind = ErrorKind::InsufficientScope.code(),
                        issuer = claims.issuer(),
                        "request refused by the guard-wide scope requirement"
                    );
                    Err(Rejection::insufficient_scope(&self.challenge, required))
                }
                _ => Ok(Some(claims)),
            },
        }
    }
}

/// Decides and carries the decision out: the inner service's future for an admitted request,
/// or the rejection response. The one place both paths of the guard end in.
pub(crate) fn conclude<S, ReqBody, ResBody, T, H>(
    judged: Result<Option<Claims<T>>, AuthError>,
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
    match settings.decide(judged) {
        Ok(claims) => {
            let extensions = request.extensions_mut();
            if let Some(claims) = claims {
                extensions.insert(claims.scopes().clone());
                extensions.insert(claims);
            }
            extensions.insert(GuardContext(Arc::clone(settings)));
            Ok(inner.call(request))
        }
        Err(rejection) => Err(respond(on_rejection, rejection)),
    }
}
