//! [`Claims<T>`]: what a handler learns about the calling client.
//!
//! The guard puts the validated claims into the request extensions. Registered claims have typed
//! accessors; anything else is deserialized once into `T` (by default the whole claims object as
//! a JSON map).
//!
//! ```
//! use bearer_guard::Claims;
//! use http::Request;
//!
//! fn client_of<B>(req: &Request<B>) -> Option<&str> {
//!     req.extensions().get::<Claims>()?.client_id()
//! }
//! # assert_eq!(client_of(&Request::new(())), None);
//! ```

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::verify::scope::Scopes;

/// The default extra-claims type: the whole claims object.
pub type JsonClaims = Map<String, Value>;

/// Validated claims of an access token. Cheap to clone (shared).
pub struct Claims<T = JsonClaims> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    registered: Registered,
    scopes: Scopes,
    extra: T,
}

/// The registered claims, read from the payload once.
#[derive(Clone, Debug, Default)]
pub(crate) struct Registered {
    pub(crate) iss: String,
    pub(crate) sub: Option<String>,
    pub(crate) aud: Vec<String>,
    pub(crate) exp: i64,
    pub(crate) nbf: Option<i64>,
    pub(crate) iat: Option<i64>,
    pub(crate) jti: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) azp: Option<String>,
}

impl<T> Claims<T> {
    pub(crate) fn new(registered: Registered, scopes: Scopes, extra: T) -> Self {
        Self {
            inner: Arc::new(Inner {
                registered,
                scopes,
                extra,
            }),
        }
    }

    pub(crate) fn registered(&self) -> &Registered {
        &self.inner.registered
    }

    /// The size of the shared allocation: the reference counts and the claims in line.
    pub(crate) fn inline_bytes(&self) -> usize {
        2 * size_of::<usize>() + size_of::<Inner<T>>()
    }

    /// `iss`: the issuer, equal to one of the trusted issuers.
    pub fn issuer(&self) -> &str {
        &self.inner.registered.iss
    }

    /// `sub`: for client-credentials tokens, usually the client.
    pub fn subject(&self) -> Option<&str> {
        self.inner.registered.sub.as_deref()
    }

    /// `aud`, as a list (a single string becomes one entry).
    pub fn audience(&self) -> &[String] {
        &self.inner.registered.aud
    }

    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> i64 {
        self.inner.registered.exp
    }

    /// `nbf`, seconds since the Unix epoch.
    pub fn not_before(&self) -> Option<i64> {
        self.inner.registered.nbf
    }

    /// `iat`, seconds since the Unix epoch.
    pub fn issued_at(&self) -> Option<i64> {
        self.inner.registered.iat
    }

    /// `jti`: the token's identifier.
    pub fn jwt_id(&self) -> Option<&str> {
        self.inner.registered.jti.as_deref()
    }

    /// `client_id` (RFC 9068 §2.2) exactly as the token has it, with no fallback: use
    /// [`Claims::client`] for the usual "`client_id`, else `azp`, else `sub`" answer.
    pub fn client_id(&self) -> Option<&str> {
        self.inner.registered.client_id.as_deref()
    }

    /// `azp`: the authorized party, where issuers such as Keycloak and Auth0 name the client.
    pub fn authorized_party(&self) -> Option<&str> {
        self.inner.registered.azp.as_deref()
    }

    /// Who is calling: `client_id` if present, else `azp`, else `sub`.
    pub fn client(&self) -> Option<&str> {
        self.client_id()
            .or_else(|| self.authorized_party())
            .or_else(|| self.subject())
    }

    /// The normalized scopes granted (`scope`, `scp` and configured extra claims).
    pub fn scopes(&self) -> &Scopes {
        &self.inner.scopes
    }

    /// The user-defined claims.
    pub fn extra(&self) -> &T {
        &self.inner.extra
    }
}

impl<T> Clone for Claims<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for Claims<T> {
    /// Shows the registered claims and scopes; user-defined claims are not shown, since they may
    /// hold personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.inner.registered;
        f.debug_struct("Claims")
            .field("iss", &r.iss)
            .field("sub", &r.sub)
            .field("aud", &r.aud)
            .field("exp", &r.exp)
            .field("client_id", &r.client_id)
            .field("azp", &r.azp)
            .field("scopes", &self.inner.scopes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(client_id: Option<&str>, azp: Option<&str>, sub: Option<&str>) -> Claims<()> {
        let registered = Registered {
            client_id: client_id.map(Into::into),
            azp: azp.map(Into::into),
            sub: sub.map(Into::into),
            ..Registered::default()
        };
        Claims::new(registered, Scopes::default(), ())
    }

    #[test]
    fn the_client_is_client_id_else_azp_else_sub() {
        assert_eq!(claims(Some("c"), Some("a"), Some("s")).client(), Some("c"));
        assert_eq!(claims(None, Some("a"), Some("s")).client(), Some("a"));
        assert_eq!(claims(None, None, Some("s")).client(), Some("s"));
        assert_eq!(claims(None, None, None).client(), None);
        // `client_id()` itself never falls back.
        assert_eq!(claims(None, Some("a"), Some("s")).client_id(), None);
    }
}
