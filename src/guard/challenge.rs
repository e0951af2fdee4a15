//! `WWW-Authenticate: Bearer …` challenges (RFC 6750 §3, RFC 9110 §11.6.1).
//!
//! Every challenge carries at least `realm`, so a bare `Bearer` is never sent. Parameters are
//! `name="value"`, comma-separated, each name at most once, values quoted with `"` and `\`
//! escaped. Values that cannot be sent at all (control characters, non-ASCII) are refused when
//! the [`Challenge`] is built, never at request time.
//!
//! ```
//! use bearer_guard::challenge::Challenge;
//! use bearer_guard::ErrorKind;
//!
//! let challenge = Challenge::new("orders \"v2\"").unwrap();
//! assert_eq!(challenge.header(None), r#"Bearer realm="orders \"v2\"""#);
//! assert_eq!(
//!     challenge.header(Some(ErrorKind::Expired)),
//!     r#"Bearer realm="orders \"v2\"", error="invalid_token", error_description="The access token expired""#,
//! );
//! assert!(Challenge::new("bad\r\nrealm").is_err());
//! ```

use http::HeaderValue;

use crate::error::{ConfigError, ErrorKind};
use crate::verify::scope::{ScopeRequirement, Scopes};

/// The realm used when none is configured.
pub const DEFAULT_REALM: &str = "api";

/// A validated challenge (`Bearer realm="…"`, and the parameters every answer carries) from
/// which every answer is rendered.
///
/// Parameters come in this order: `realm`, `error`, `error_description`, `scope`, `algs`
/// (`DPoP` challenges only), `resource_metadata` (RFC 9728 §5.1, on every 401 and 403 once
/// set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `realm="…"`, escaped; every challenge starts with it, after its scheme.
    realm: String,
    /// `scope="…"` for 401s: what every request needs (the guard-wide requirement).
    unauthorized_scope: Option<String>,
    /// `, resource_metadata="…"`, or empty.
    suffix: String,
    /// The `DPoP` challenge, when the guard accepts DPoP.
    dpop: Option<DpopChallenge>,
}

/// How a guard with DPoP on answers (RFC 9449 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
struct DpopChallenge {
    /// Bearer is no longer accepted: only `DPoP` challenges.
    only: bool,
    /// `, algs="ES256 …"`.
    algs: String,
}

/// The scheme a request's credential came with, for the challenges it is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    Dpop,
}

impl Default for Challenge {
    fn default() -> Self {
        Self::new(DEFAULT_REALM).expect("the default realm is valid")
    }
}

impl Challenge {
    /// A challenge for `realm`.
    ///
    /// # Errors
    /// [`ConfigError::InvalidChallengeParam`] if the realm holds a control character or a
    /// character outside visible ASCII and space.
    pub fn new(realm: &str) -> Result<Self, ConfigError> {
        if !realm.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return Err(ConfigError::InvalidChallengeParam("realm"));
        }
        let mut param = String::with_capacity(realm.len() + 9);
        push_param(&mut param, "realm", realm);
        Ok(Self {
            realm: param,
            unauthorized_scope: None,
            suffix: String::new(),
            dpop: None,
        })
    }

    /// Answer with `DPoP` challenges naming `algs` as well (`only`: instead of `Bearer`
    /// ones); `None` for a guard without DPoP.
    pub(crate) fn with_dpop(mut self, dpop: Option<(bool, &[&str])>) -> Self {
        self.dpop = dpop.map(|(only, algs)| {
            let mut param = String::from(", ");
            push_param(&mut param, "algs", &algs.join(" "));
            DpopChallenge { only, algs: param }
        });
        self
    }

    /// The same challenge for another realm, its other parameters kept.
    pub(crate) fn with_realm(self, realm: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            realm: Self::new(realm)?.realm,
            ..self
        })
    }

    /// Add `resource_metadata="…"` (RFC 9728 §5.1) to every 401 and 403 answer.
    ///
    /// # Errors
    /// [`ConfigError::InvalidChallengeParam`] if the URL holds characters that cannot be
    /// sent in a header.
    pub fn with_resource_metadata(mut self, url: &str) -> Result<Self, ConfigError> {
        if !url.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::InvalidChallengeParam("resource_metadata"));
        }
        self.suffix = String::from(", ");
        push_param(&mut self.suffix, "resource_metadata", url);
        Ok(self)
    }

    /// Name `scope` (already checked scope-tokens, space-delimited) on 401 answers: what a
    /// token needs to be let through (RFC 6750 §3, MCP authorization).
    pub(crate) fn with_unauthorized_scope(mut self, scope: Option<String>) -> Self {
        self.unauthorized_scope = scope;
        self
    }

    /// The challenge for a rejection of `kind`; `None` is the challenge for a request without
    /// credentials (no `error` parameter, RFC 6750 §3.1).
    ///
    /// For [`ErrorKind::InsufficientScope`] use [`Challenge::insufficient_scope`], which names
    /// the scopes.
    pub fn header(&self, kind: Option<ErrorKind>) -> HeaderValue {
        self.render(false, kind, None)
    }

    /// One challenge: `DPoP` or `Bearer`, with the error of `kind` if any, and `scope` (the
    /// scopes missing for a 403; otherwise the guard-wide scopes, on 401s for the token).
    fn render(&self, dpop: bool, kind: Option<ErrorKind>, scope: Option<&str>) -> HeaderValue {
        let mut value = String::with_capacity(self.realm.len() + 128);
        value.push_str(if dpop { "DPoP " } else { "Bearer " });
        value.push_str(&self.realm);
        let kind = kind.filter(|k| *k != ErrorKind::MissingCredentials);
        if let Some(kind) = kind {
            push_error(&mut value, kind);
        }
        let unauthorized = kind.is_none_or(ErrorKind::is_invalid_token);
        let scope = scope.or(self.unauthorized_scope.as_deref().filter(|_| unauthorized));
        if let Some(scope) = scope {
            value.push_str(", ");
            push_param(&mut value, "scope", scope);
        }
        if let Some(dpop) = self.dpop.as_ref().filter(|_| dpop) {
            value.push_str(&dpop.algs);
        }
        value.push_str(&self.suffix);
        to_header(value)
    }

    /// Every challenge of an answer to a request that came with `scheme` (`None`: no
    /// credential, or one whose scheme is not known). Without DPoP, one `Bearer` challenge.
    /// With DPoP allowed, a `Bearer` and a `DPoP` challenge: the scheme the request used
    /// carries the error, the other none (both carry it when the scheme is not known).
    /// With DPoP required, one `DPoP` challenge.
    pub(crate) fn answer(
        &self,
        kind: Option<ErrorKind>,
        scope: Option<&str>,
        scheme: Option<Scheme>,
    ) -> Vec<HeaderValue> {
        match &self.dpop {
            None => vec![self.render(false, kind, scope)],
            Some(dpop) if dpop.only => vec![self.render(true, kind, scope)],
            Some(_) => {
                let for_bearer = scheme != Some(Scheme::Dpop);
                let for_dpop = scheme != Some(Scheme::Bearer);
                vec![
                    match for_bearer {
                        true => self.render(false, kind, scope),
                        false => self.render(false, None, None),
                    },
                    match for_dpop {
                        true => self.render(true, kind, scope),
                        false => self.render(true, None, None),
                    },
                ]
            }
        }
    }

    /// `error="insufficient_scope"` with `scope="…"` naming the scopes that would satisfy
    /// `required` for a token granting `granted`: the alternative the token is closest to,
    /// whole (see [`ScopeRequirement`]).
    pub fn insufficient_scope(&self, required: &ScopeRequirement, granted: &Scopes) -> HeaderValue {
        let scope = required.scope_param(granted);
        self.render(false, Some(ErrorKind::InsufficientScope), Some(&scope))
    }
}

fn error_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "invalid_request",
        ErrorKind::InvalidDpopProof | ErrorKind::DpopProofReplayed => "invalid_dpop_proof",
        ErrorKind::DpopNonceRequired => "use_dpop_nonce",
        ErrorKind::InsufficientScope | ErrorKind::ForbiddenClaim => "insufficient_scope",
        _ => "invalid_token",
    }
}

fn push_error(value: &mut String, kind: ErrorKind) {
    value.push_str(", ");
    push_param(value, "error", error_code(kind));
    value.push_str(", ");
    push_param(value, "error_description", kind.description());
}

fn push_param(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

fn to_header(value: String) -> HeaderValue {
    // Every part was checked to be visible ASCII or space: the realm in `new`, scopes by the
    // scope-token grammar, codes and descriptions are fixed strings.
    HeaderValue::try_from(value).expect("challenge values are checked when built")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ERROR_CHARS: fn(u8) -> bool = |b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E);

    #[test]
    fn descriptions_use_only_the_allowed_characters() {
        for kind in ErrorKind::ALL {
            assert!(kind.description().bytes().all(ERROR_CHARS), "{kind:?}");
            assert!(error_code(kind).bytes().all(ERROR_CHARS), "{kind:?}");
        }
    }

    #[test]
    fn realm_is_escaped_and_control_characters_refused() {
        let c = Challenge::new(r#"a\b"c"#).unwrap();
        assert_eq!(c.header(None), r#"Bearer realm="a\\b\"c""#);
        for bad in ["a\rb", "a\nb", "a\tb", "caf\u{e9}", "\u{7f}"] {
            assert_eq!(
                Challenge::new(bad),
                Err(ConfigError::InvalidChallengeParam("realm")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn missing_credentials_have_no_error_param() {
        let c = Challenge::default();
        assert_eq!(c.header(None), r#"Bearer realm="api""#);
        assert_eq!(
            c.header(Some(ErrorKind::MissingCredentials)),
            r#"Bearer realm="api""#
        );
    }

    #[test]
    fn insufficient_scope_names_the_required_scopes() {
        let c = Challenge::default();
        let req = ScopeRequirement::all(["read", "write"]);
        assert_eq!(
            c.insufficient_scope(&req, &Scopes::from_iter(["read"])),
            r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="read write""#
        );
    }

    #[test]
    fn a_failed_claim_requirement_is_insufficient_scope_without_a_scope() {
        assert_eq!(
            Challenge::default().header(Some(ErrorKind::ForbiddenClaim)),
            r#"Bearer realm="api", error="insufficient_scope", error_description="The access token is not allowed on this resource""#
        );
    }

    #[test]
    fn a_new_realm_keeps_the_other_parameters() {
        let c = Challenge::default()
            .with_resource_metadata("https://api.example/.well-known/oauth-protected-resource")
            .unwrap()
            .with_unauthorized_scope(Some("read".into()))
            .with_realm("orders")
            .unwrap();
        assert_eq!(
            c.header(None),
            r#"Bearer realm="orders", scope="read", resource_metadata="https://api.example/.well-known/oauth-protected-resource""#
        );
        assert_eq!(
            Challenge::default().with_realm("bad\nrealm"),
            Err(ConfigError::InvalidChallengeParam("realm"))
        );
        assert_eq!(
            Challenge::default().with_resource_metadata("https://a b"),
            Err(ConfigError::InvalidChallengeParam("resource_metadata"))
        );
    }
}
