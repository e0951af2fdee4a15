use std::fmt;
use std::sync::Arc;

use http::HeaderValue;
use tokio::time::Instant;

/// An access token, as issued by the token endpoint.
///
/// Cheap to clone (shared). Its `Debug` never shows the token, and it has no `Display`: read it
/// with [`secret`](Self::secret) where it is sent, and nowhere else. Two tokens are equal when
/// their token strings are.
#[derive(Clone)]
pub struct AccessToken(Arc<Inner>);

struct Inner {
    /// `Bearer <token>` or `DPoP <token>`, marked sensitive; checked to be sendable when the
    /// token was received.
    header: HeaderValue,
    dpop: bool,
    scope: Option<String>,
    expires_at: Instant,
}

const BEARER: &str = "Bearer";
const DPOP: &str = "DPoP";

impl AccessToken {
    /// A bearer token; `None` when the token cannot be sent in an `Authorization` header
    /// (RFC 6750 §2.1: visible ASCII only).
    #[cfg(test)]
    pub(crate) fn new(secret: &str, scope: Option<String>, expires_at: Instant) -> Option<Self> {
        Self::of_type(secret, false, scope, expires_at)
    }

    /// A bearer token, or (`dpop`) a DPoP-bound one (RFC 9449 §5), sent with proofs.
    pub(crate) fn of_type(
        secret: &str,
        dpop: bool,
        scope: Option<String>,
        expires_at: Instant,
    ) -> Option<Self> {
        let sendable = !secret.is_empty() && secret.bytes().all(|b| b.is_ascii_graphic());
        if !sendable {
            return None;
        }
        let scheme = if dpop { DPOP } else { BEARER };
        let mut header = HeaderValue::from_str(&format!("{scheme} {secret}")).ok()?;
        header.set_sensitive(true);
        Some(Self(Arc::new(Inner {
            header,
            dpop,
            scope,
            expires_at,
        })))
    }

    /// The token itself, to send as `Authorization: Bearer <token>` (or `DPoP <token>`, see
    /// [`token_type`](Self::token_type)).
    ///
    /// Anyone holding it can call the APIs it grants access to until it expires: never log it.
    pub fn secret(&self) -> &str {
        let header = self.0.header.to_str().expect("checked to be visible ASCII");
        &header[self.token_type().len() + 1..]
    }

    /// `"Bearer"`, or `"DPoP"` for a token bound to the source's DPoP key (see
    /// [`TokenSourceBuilder::dpop`](super::TokenSourceBuilder::dpop)): each request then needs
    /// a proof by that key besides `Authorization: DPoP <token>`.
    pub fn token_type(&self) -> &'static str {
        if self.0.dpop { DPOP } else { BEARER }
    }

    /// The scopes granted: the response's `scope`, or the requested scope when the response
    /// has none (RFC 6749 §5.1: then they are the same).
    pub fn scope(&self) -> Option<&str> {
        self.0.scope.as_deref()
    }

    /// When the token expires, by the response's `expires_in` counted from when the request was
    /// sent (or the source's default lifetime when the response has none).
    pub fn expires_at(&self) -> Instant {
        self.0.expires_at
    }

    /// `Authorization: Bearer <token>` (`DPoP <token>` for a DPoP-bound token), marked
    /// sensitive so that HTTP libraries do not log it.
    pub fn authorization(&self) -> HeaderValue {
        self.0.header.clone()
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.header == other.0.header
    }
}

impl Eq for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &Redacted)
            .field("token_type", &self.token_type())
            .field("scope", &self.0.scope)
            .field("expires_at", &self.0.expires_at)
            .finish()
    }
}

/// A client secret: shown as `[redacted]` by `Debug`.
#[derive(Clone)]
pub(crate) struct ClientSecret(pub(crate) Arc<str>);

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Redacted, f)
    }
}

pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_never_shown() {
        let token = AccessToken::new("eyJ.abc.def", Some("read".into()), Instant::now()).unwrap();
        assert_eq!(token.secret(), "eyJ.abc.def");
        assert_eq!(token.authorization(), "Bearer eyJ.abc.def");
        assert!(token.authorization().is_sensitive());
        let debug = format!("{token:?}");
        assert!(!debug.contains("abc"), "{debug}");
        assert!(
            debug.contains("[redacted]") && debug.contains("read"),
            "{debug}"
        );
        assert!(!format!("{:?}", ClientSecret("s3cr3t".into())).contains("s3cr3t"));
    }

    #[test]
    fn unsendable_tokens_are_refused() {
        let now = Instant::now();
        assert!(AccessToken::new("", None, now).is_none());
        assert!(AccessToken::new("a b", None, now).is_none());
        assert!(AccessToken::new("a\r\nb", None, now).is_none());
        assert!(AccessToken::new("tökén", None, now).is_none());
        assert!(AccessToken::new("a-._~+/=", None, now).is_some());
    }

    #[test]
    fn dpop_tokens_have_their_scheme() {
        let token = AccessToken::of_type("eyJ.abc.def", true, None, Instant::now()).unwrap();
        assert_eq!(token.secret(), "eyJ.abc.def");
        assert_eq!(token.token_type(), "DPoP");
        assert_eq!(token.authorization(), "DPoP eyJ.abc.def");
        assert!(token.authorization().is_sensitive());
        assert!(!format!("{token:?}").contains("abc"));
        let bearer = AccessToken::new("eyJ.abc.def", None, Instant::now()).unwrap();
        assert_ne!(token, bearer);
    }
}
