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
    /// `Bearer <token>`, marked sensitive; checked to be sendable when the token was received.
    header: HeaderValue,
    scope: Option<String>,
    expires_at: Instant,
}

const PREFIX: &str = "Bearer ";

impl AccessToken {
    /// `None` when the token cannot be sent in an `Authorization` header (RFC 6750 §2.1:
    /// visible ASCII only).
    pub(crate) fn new(secret: &str, scope: Option<String>, expires_at: Instant) -> Option<Self> {
        let sendable = !secret.is_empty() && secret.bytes().all(|b| b.is_ascii_graphic());
        if !sendable {
            return None;
        }
        let mut header = HeaderValue::from_str(&format!("{PREFIX}{secret}")).ok()?;
        header.set_sensitive(true);
        Some(Self(Arc::new(Inner {
            header,
            scope,
            expires_at,
        })))
    }

    /// The token itself, to send as `Authorization: Bearer <token>`.
    ///
    /// Anyone holding it can call the APIs it grants access to until it expires: never log it.
    pub fn secret(&self) -> &str {
        let header = self.0.header.to_str().expect("checked to be visible ASCII");
        &header[PREFIX.len()..]
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

    /// `Authorization: Bearer <token>`, marked sensitive so that HTTP libraries do not log it.
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
}
