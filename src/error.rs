//! Errors: [`AuthError`] for a rejected request, [`ConfigError`] for a guard that cannot be built.
//!
//! Neither ever carries token content, a secret or an `Authorization` header: only a fixed
//! [`ErrorKind`] and, for configuration, the name of the setting at fault.

use std::fmt;
use std::time::Duration;

/// Why a request was not let through.
///
/// The kind is stable and cheap to copy; the guard also puts it into the extensions of every
/// rejection response so that outer layers (logging, metrics) can count rejections by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No bearer credential in the request (absent, or another scheme such as `Basic`).
    MissingCredentials,
    /// The request is malformed (RFC 6750 `invalid_request`): an empty or badly formed
    /// `Bearer` credential, several `Authorization` headers, or a token in the query string.
    InvalidRequest,
    /// The token is larger than the configured size cap.
    TokenTooLarge,
    /// Not a compact JWS: wrong number of segments, bad base64url, padding, or non-JSON parts.
    Malformed,
    /// `alg` is not on the allowlist (this includes `none` in any spelling).
    AlgorithmNotAllowed,
    /// The header names a `crit` extension that is not implemented.
    UnsupportedCriticalHeader,
    /// `typ` is not accepted by the configured policy.
    InvalidType,
    /// No key of the token's issuer fits the token's `kid` and `alg`, even after a refresh.
    UnknownKey,
    /// The signature does not verify.
    InvalidSignature,
    /// `iss` is missing or not one of the trusted issuers.
    InvalidIssuer,
    /// `aud` is missing or holds none of the configured audiences.
    InvalidAudience,
    /// The token has expired.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is in the future.
    IssuedInFuture,
    /// A required claim is missing, or a claim has the wrong JSON type.
    InvalidClaim,
    /// The token is valid but lacks the scopes the route requires.
    InsufficientScope,
    /// No usable key set could be had for the issuer (never loaded, or too stale).
    KeysUnavailable,
    /// A [`RequireScopeLayer`](crate::RequireScopeLayer) (or, with feature `mcp`, an
    /// `McpToolScopesLayer`) found no guard in front of it: the
    /// layers are in the wrong order (answered 500, and logged once as an error).
    GuardMissing,
    /// A valid token whose claims fail a [`ClaimPredicate`](crate::ClaimPredicate) of the
    /// guard or the route (`tenant` = `acme`): 403 `insufficient_scope` naming no scope, since
    /// more scopes would not help.
    ForbiddenClaim,
    /// A claim fails a predicate of its issuer ([`Issuer::require_claim`](crate::Issuer::require_claim)),
    /// such as a Cognito ID token's `token_use` = `id`: not a token this API accepts (401).
    UnacceptedClaim,
    /// The calling client is not on the issuer's
    /// [`allowed_clients`](crate::Issuer::allowed_clients) list (401).
    ClientNotAllowed,
    /// A `Claims<U>` extractor asked for another claims type than the guard's `Claims<T>`: a
    /// server misconfiguration (500, logged as an error naming both types).
    ClaimsTypeMismatch,
    /// A guard that reads tokens from form bodies
    /// ([`TokenSource::form_body`](crate::TokenSource::form_body)) found no
    /// [`FormTokenLayer`](crate::FormTokenLayer) in front of it: the layer is missing or in
    /// the wrong order (answered 500, and logged once as an error).
    FormLayerMissing,
    /// The DPoP proof (RFC 9449 §4.3) fails a check: missing or sent twice, not a
    /// `dpop+jwt` JWS, an algorithm not allowed, a `jwk` with private members, a bad
    /// signature, or `htm`, `htu`, `iat`, `jti` or `ath` that do not fit the request (401
    /// `invalid_dpop_proof`; the debug log names the check).
    InvalidDpopProof,
    /// The DPoP proof was already used: its key and `jti` were seen within the proof window
    /// (401 `invalid_dpop_proof`).
    DpopProofReplayed,
    /// Server nonces are on and the proof carries none, or a stale one (401
    /// `use_dpop_nonce` with a fresh `DPoP-Nonce` header).
    DpopNonceRequired,
    /// The token's `cnf.jkt` is not the thumbprint of the proof's key: the token is bound to
    /// another key (401 `invalid_token`).
    DpopKeyMismatch,
    /// A DPoP-bound token (one with `cnf.jkt`) presented as a bearer token (RFC 9449 §7.2):
    /// whoever holds it without the key must not use it (401 `invalid_token`).
    DpopBoundToken,
    /// A token without `cnf.jkt` presented with the `DPoP` scheme: nothing binds it to the
    /// proof's key (401 `invalid_token`).
    DpopUnboundToken,
    /// The DPoP replay store cannot be reached (Redis down): the proof cannot be checked for
    /// replay (503 with `Retry-After`; the client keeps its key and retries).
    ReplayStoreUnavailable,
    /// The in-memory DPoP replay store is full: it refuses rather than forget proofs it
    /// must remember (503 with `Retry-After`).
    ReplayStoreFull,
    /// The authorization server says the opaque token is not active (RFC 7662: unknown,
    /// expired, revoked, or not for us) (401 `invalid_token`).
    TokenInactive,
    /// No introspection endpoint could answer (unreachable, slow, an error status, an answer
    /// that is not RFC 7662): the token cannot be judged (503 with `Retry-After`).
    IntrospectionUnavailable,
}

impl ErrorKind {
    /// A stable, machine-readable name of the kind, in snake_case, for JSON bodies, logs and
    /// metrics labels. Codes never change meaning; new kinds bring new codes.
    ///
    /// | kind | code |
    /// |---|---|
    /// | `MissingCredentials` | `missing_credentials` |
    /// | `InvalidRequest` | `invalid_request` |
    /// | `TokenTooLarge` | `token_too_large` |
    /// | `Malformed` | `malformed_token` |
    /// | `AlgorithmNotAllowed` | `algorithm_not_allowed` |
    /// | `UnsupportedCriticalHeader` | `unsupported_critical_header` |
    /// | `InvalidType` | `invalid_token_type` |
    /// | `UnknownKey` | `unknown_key` |
    /// | `InvalidSignature` | `invalid_signature` |
    /// | `InvalidIssuer` | `invalid_issuer` |
    /// | `InvalidAudience` | `invalid_audience` |
    /// | `Expired` | `token_expired` |
    /// | `NotYetValid` | `token_not_yet_valid` |
    /// | `IssuedInFuture` | `issued_in_future` |
    /// | `InvalidClaim` | `invalid_claim` |
    /// | `InsufficientScope` | `insufficient_scope` |
    /// | `KeysUnavailable` | `keys_unavailable` |
    /// | `GuardMissing` | `guard_missing` |
    /// | `ForbiddenClaim` | `forbidden_claim` |
    /// | `UnacceptedClaim` | `unaccepted_claim` |
    /// | `ClientNotAllowed` | `client_not_allowed` |
    /// | `ClaimsTypeMismatch` | `claims_type_mismatch` |
    /// | `FormLayerMissing` | `form_layer_missing` |
    /// | `InvalidDpopProof` | `invalid_dpop_proof` |
    /// | `DpopProofReplayed` | `dpop_proof_replayed` |
    /// | `DpopNonceRequired` | `use_dpop_nonce` |
    /// | `DpopKeyMismatch` | `dpop_key_mismatch` |
    /// | `DpopBoundToken` | `dpop_bound_token` |
    /// | `DpopUnboundToken` | `dpop_unbound_token` |
    /// | `ReplayStoreUnavailable` | `replay_store_unavailable` |
    /// | `ReplayStoreFull` | `replay_store_full` |
    /// | `TokenInactive` | `token_inactive` |
    /// | `IntrospectionUnavailable` | `introspection_unavailable` |
    ///
    /// ```
    /// assert_eq!(bearer_guard::ErrorKind::Expired.code(), "token_expired");
    /// ```
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidRequest => "invalid_request",
            Self::TokenTooLarge => "token_too_large",
            Self::Malformed => "malformed_token",
            Self::AlgorithmNotAllowed => "algorithm_not_allowed",
            Self::UnsupportedCriticalHeader => "unsupported_critical_header",
            Self::InvalidType => "invalid_token_type",
            Self::UnknownKey => "unknown_key",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidIssuer => "invalid_issuer",
            Self::InvalidAudience => "invalid_audience",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::InvalidClaim => "invalid_claim",
            Self::InsufficientScope => "insufficient_scope",
            Self::KeysUnavailable => "keys_unavailable",
            Self::GuardMissing => "guard_missing",
            Self::ForbiddenClaim => "forbidden_claim",
            Self::UnacceptedClaim => "unaccepted_claim",
            Self::ClientNotAllowed => "client_not_allowed",
            Self::ClaimsTypeMismatch => "claims_type_mismatch",
            Self::FormLayerMissing => "form_layer_missing",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::DpopProofReplayed => "dpop_proof_replayed",
            Self::DpopNonceRequired => "use_dpop_nonce",
            Self::DpopKeyMismatch => "dpop_key_mismatch",
            Self::DpopBoundToken => "dpop_bound_token",
            Self::DpopUnboundToken => "dpop_unbound_token",
            Self::ReplayStoreUnavailable => "replay_store_unavailable",
            Self::ReplayStoreFull => "replay_store_full",
            Self::TokenInactive => "token_inactive",
            Self::IntrospectionUnavailable => "introspection_unavailable",
        }
    }

    /// The fixed, client-safe sentence used as `error_description`.
    ///
    /// Descriptions never echo token content or internal detail (RFC 6750 §3).
    pub fn description(self) -> &'static str {
        match self {
            Self::MissingCredentials => "No bearer token was presented",
            Self::InvalidRequest => "The request carries a malformed bearer credential",
            Self::TokenTooLarge => "The access token is too large",
            Self::Expired => "The access token expired",
            Self::NotYetValid => "The access token is not yet valid",
            Self::InvalidAudience => "The access token is not meant for this resource",
            Self::InvalidIssuer => "The access token comes from an untrusted issuer",
            Self::InsufficientScope => "The access token lacks the required scope",
            Self::KeysUnavailable => "The signing keys are temporarily unavailable",
            Self::GuardMissing | Self::ClaimsTypeMismatch | Self::FormLayerMissing => {
                "The server cannot check access tokens on this route"
            }
            Self::ForbiddenClaim => "The access token is not allowed on this resource",
            Self::ClientNotAllowed => "The client is not allowed to call this resource",
            Self::InvalidDpopProof => "The DPoP proof is invalid",
            Self::DpopProofReplayed => "The DPoP proof was already used",
            Self::DpopNonceRequired => "The DPoP proof needs the server nonce",
            Self::DpopKeyMismatch => "The access token is bound to another key",
            Self::DpopBoundToken => "The access token is bound to a key and needs a DPoP proof",
            Self::DpopUnboundToken => "The access token is not bound to a key",
            Self::ReplayStoreUnavailable | Self::ReplayStoreFull => {
                "DPoP proofs cannot be checked right now"
            }
            Self::TokenInactive => "The access token is not active",
            Self::IntrospectionUnavailable => "The access token cannot be checked right now",
            Self::Malformed
            | Self::AlgorithmNotAllowed
            | Self::UnsupportedCriticalHeader
            | Self::InvalidType
            | Self::UnknownKey
            | Self::InvalidSignature
            | Self::IssuedInFuture
            | Self::InvalidClaim
            | Self::UnacceptedClaim => "The access token is invalid",
        }
    }

    /// Whether the cause lies with the token (RFC 6750 `invalid_token`, answered with 401).
    pub fn is_invalid_token(self) -> bool {
        !matches!(
            self,
            Self::MissingCredentials
                | Self::InvalidRequest
                | Self::InsufficientScope
                | Self::KeysUnavailable
                | Self::GuardMissing
                | Self::ForbiddenClaim
                | Self::ClaimsTypeMismatch
                | Self::FormLayerMissing
                | Self::InvalidDpopProof
                | Self::DpopProofReplayed
                | Self::DpopNonceRequired
                | Self::ReplayStoreUnavailable
                | Self::ReplayStoreFull
                | Self::IntrospectionUnavailable
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// A request that failed authentication or authorization.
///
/// Opaque on purpose: match on [`AuthError::kind`]. It holds no token content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    kind: ErrorKind,
    retry_after: Option<Duration>,
}

impl AuthError {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            retry_after: None,
        }
    }

    pub(crate) fn keys_unavailable(retry_after: Duration) -> Self {
        Self {
            kind: ErrorKind::KeysUnavailable,
            retry_after: Some(retry_after),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub(crate) fn unavailable(kind: ErrorKind, retry_after: Duration) -> Self {
        Self {
            kind,
            retry_after: Some(retry_after),
        }
    }

    /// For [`ErrorKind::KeysUnavailable`], [`ErrorKind::ReplayStoreUnavailable`],
    /// [`ErrorKind::ReplayStoreFull`] and [`ErrorKind::IntrospectionUnavailable`]: when it is
    /// worth trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl From<ErrorKind> for AuthError {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl std::error::Error for AuthError {}

/// A guard, validator or requirement that cannot be built as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No trusted issuer was configured.
    NoIssuer,
    /// The same issuer was configured twice.
    DuplicateIssuer(String),
    /// An issuer has no audience: audience checking cannot be switched off.
    NoAudience(String),
    /// A URL could not be parsed.
    InvalidUrl {
        /// Which setting (`issuer`, `jwks_uri`).
        setting: &'static str,
        /// The value as configured, with anything that may be a user name or password
        /// replaced by `[redacted]`.
        value: String,
    },
    /// Plain http for a host that is not loopback, without the explicit opt-out.
    InsecureUrl {
        /// Which setting (`issuer`, `jwks_uri`).
        setting: &'static str,
        /// The value as configured, with anything that may be a user name or password
        /// replaced by `[redacted]`.
        value: String,
    },
    /// The algorithm allowlist is empty, or names HMAC without a shared secret.
    Algorithms(&'static str),
    /// A static key set has no usable key.
    NoUsableKey,
    /// A scope is not a valid RFC 6749 §3.3 scope-token.
    InvalidScope(String),
    /// A scope requirement names no scope.
    EmptyScopeRequirement,
    /// A challenge parameter (such as the realm) holds characters that cannot be sent.
    InvalidChallengeParam(&'static str),
    /// The HTTP client for key fetching could not be built.
    HttpClient,
    /// `hmac_secret` is shorter than an enabled HMAC algorithm needs (RFC 7518 §3.2), or
    /// shorter than 32 bytes, the least any needs. The secret itself is never shown.
    HmacSecretTooShort {
        /// The algorithm, such as `HS384`.
        algorithm: &'static str,
        /// Its minimum length in bytes: 32, 48 or 64.
        minimum: usize,
    },
    /// An issuer identifier or audience is empty, has leading or trailing whitespace, or
    /// holds control characters: no token's `iss` or `aud` should match it.
    InvalidIdentifier {
        /// Which setting (`issuer`, `audience`).
        setting: &'static str,
        /// The value as configured.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A duration setting is longer than it may be.
    TooLong {
        /// Which setting (`leeway`).
        setting: &'static str,
        /// The most it may be.
        max: Duration,
    },
    /// A URL holds a user name or a password. Neither is kept in the error.
    CredentialsInUrl {
        /// Which setting (`issuer`, `jwks_uri`, `token_endpoint`, `resource`).
        setting: &'static str,
    },
    /// A [`ClaimPath`](crate::ClaimPath) with no segment or an empty one.
    InvalidClaimPath {
        /// Which setting (`scope_claim`, `require_claim`).
        setting: &'static str,
        /// The path as configured.
        path: String,
    },
    /// A [`ClaimPredicate::one_of`](crate::ClaimPredicate::one_of) with an empty list: no
    /// token could meet it.
    EmptyClaimPredicate {
        /// Which setting (`require_claim`).
        setting: &'static str,
        /// The claim's path.
        path: String,
    },
    /// An issuer without audience ([`Issuer::without_audience`](crate::Issuer::without_audience))
    /// names no allowed client: any client of that issuer could call.
    NoAllowedClients(String),
    /// An issuer template ([`Issuer::template`](crate::Issuer::template)) is not usable as
    /// configured.
    InvalidIssuerTemplate {
        /// The template as configured.
        template: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A [`TokenSource`](crate::TokenSource) that cannot be used: a cookie or header name
    /// that is not valid, the `Authorization` or `Cookie` header, or a source added twice.
    InvalidTokenSource {
        /// Which setting (`token_source`).
        setting: &'static str,
        /// The source as configured, such as `header "X Token"`.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// An MCP tool given a scope requirement twice (`McpToolScopesLayer::tool`, feature
    /// `mcp`): which of the two was meant cannot be told.
    DuplicateTool(String),
    /// A DPoP setting that cannot work: an external URL that is not an absolute http(s)
    /// URL, no allowed proof algorithm or a symmetric one, a nonce secret shorter than 32
    /// bytes, a zero or too long proof window.
    InvalidDpop {
        /// Which setting (`dpop.external_url`, `dpop.algorithms`, `dpop.nonce_secret`,
        /// `dpop.iat_window`, `dpop.max_jti_bytes`, `dpop.replay_capacity`).
        setting: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// An [`Introspection`](crate::Introspection) setting that cannot work: an empty client
    /// id or secret, or introspection on an issuer template (whose endpoint would differ per
    /// tenant).
    InvalidIntrospection {
        /// Which setting (`introspection.client_id`, `introspection.client_secret`,
        /// `introspection`).
        setting: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A [`GrpcScopesLayer`](crate::GrpcScopesLayer) method that is not
    /// `/package.Service/Method` (or, on a layer for one service, not a method name), a
    /// service name that is not `package.Service`, or a method declared twice.
    InvalidGrpcMethod {
        /// Which setting (`grpc method`, `grpc service`).
        setting: &'static str,
        /// The path or name as configured.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// How a [`client::TokenSource`](crate::client::TokenSource) (feature `client`)
    /// authenticates cannot work: a method that does not fit its credential (a secret
    /// method with a key, `private_key_jwt` with a secret), a key algorithm the key cannot
    /// sign with, an assertion audience it cannot know.
    InvalidClientAuth {
        /// Which setting (`auth_method`, `client_key.algorithm`, `assertion_audience`).
        setting: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// An origin given to [`client::BearerLayer::by_origin`](crate::client::BearerLayer::by_origin)
    /// (feature `client`) is not an `http`/`https` origin (scheme, host, port; nothing
    /// more), is given twice, or none is given.
    InvalidOrigin {
        /// The origin as given, with anything that may be a user name or password replaced
        /// by `[redacted]`.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoIssuer => f.write_str("no trusted issuer is configured"),
            Self::DuplicateIssuer(iss) => write!(f, "issuer `{iss}` is configured twice"),
            Self::NoAudience(iss) => write!(
                f,
                "issuer `{iss}` has no audience; set the audience this API expects"
            ),
            Self::InvalidUrl { setting, value } => write!(f, "{setting} `{value}` is not a URL"),
            Self::InsecureUrl { setting, value } => write!(
                f,
                "{setting} `{value}` must use https (plain http is allowed for loopback hosts, \
                 or with `allow_insecure_http`)"
            ),
            Self::Algorithms(why) => write!(f, "algorithm allowlist: {why}"),
            Self::NoUsableKey => f.write_str("the static key set has no usable key"),
            Self::InvalidScope(scope) => write!(f, "`{scope}` is not a valid scope token"),
            Self::EmptyScopeRequirement => f.write_str("a scope requirement names no scope"),
            Self::InvalidChallengeParam(name) => write!(
                f,
                "the challenge parameter `{name}` holds characters that cannot be sent"
            ),
            Self::HttpClient => f.write_str("the HTTP client for key fetching could not be built"),
            Self::HmacSecretTooShort { algorithm, minimum } => write!(
                f,
                "hmac_secret is too short for {algorithm}: it needs at least {minimum} random \
                 bytes (RFC 7518 §3.2)"
            ),
            // Debug formatting, so that whitespace and control characters show escaped.
            Self::InvalidIdentifier {
                setting,
                value,
                problem,
            } => write!(f, "{setting} {value:?} {problem}"),
            Self::TooLong { setting, max } => {
                write!(f, "{setting} may be at most {} s", max.as_secs())
            }
            Self::InvalidClaimPath { setting, path } => write!(
                f,
                "{setting}: the claim path `{path}` is empty or has an empty segment"
            ),
            Self::EmptyClaimPredicate { setting, path } => write!(
                f,
                "{setting}: the list of values allowed for `{path}` is empty"
            ),
            Self::NoAllowedClients(iss) => write!(
                f,
                "issuer `{iss}` accepts tokens without audience but names no allowed client; \
                 set `allowed_clients`"
            ),
            Self::InvalidIssuerTemplate { template, problem } => {
                write!(f, "issuer template `{template}` {problem}")
            }
            Self::InvalidTokenSource {
                setting,
                value,
                problem,
            } => write!(f, "{setting} {value} {problem}"),
            Self::CredentialsInUrl { setting } => write!(
                f,
                "{setting} holds a user name or password; remove them from the URL (they \
                 would be sent to the server and shown in logs)"
            ),
            Self::DuplicateTool(name) => {
                write!(f, "tool `{name}` is given a scope requirement twice")
            }
            Self::InvalidDpop { setting, problem }
            | Self::InvalidIntrospection { setting, problem }
            | Self::InvalidClientAuth { setting, problem } => {
                write!(f, "{setting}: {problem}")
            }
            // Debug formatting, so that whitespace and control characters show escaped.
            Self::InvalidGrpcMethod {
                setting,
                value,
                problem,
            } => write!(f, "{setting} {value:?} {problem}"),
            Self::InvalidOrigin { value, problem } => write!(f, "origin `{value}` {problem}"),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
impl ErrorKind {
    /// Every kind, for tests that go through them all.
    pub(crate) const ALL: [Self; 33] = [
        Self::MissingCredentials,
        Self::InvalidRequest,
        Self::TokenTooLarge,
        Self::Malformed,
        Self::AlgorithmNotAllowed,
        Self::UnsupportedCriticalHeader,
        Self::InvalidType,
        Self::UnknownKey,
        Self::InvalidSignature,
        Self::InvalidIssuer,
        Self::InvalidAudience,
        Self::Expired,
        Self::NotYetValid,
        Self::IssuedInFuture,
        Self::InvalidClaim,
        Self::InsufficientScope,
        Self::KeysUnavailable,
        Self::GuardMissing,
        Self::ForbiddenClaim,
        Self::UnacceptedClaim,
        Self::ClientNotAllowed,
        Self::ClaimsTypeMismatch,
        Self::FormLayerMissing,
        Self::InvalidDpopProof,
        Self::DpopProofReplayed,
        Self::DpopNonceRequired,
        Self::DpopKeyMismatch,
        Self::DpopBoundToken,
        Self::DpopUnboundToken,
        Self::ReplayStoreUnavailable,
        Self::ReplayStoreFull,
        Self::TokenInactive,
        Self::IntrospectionUnavailable,
    ];
}

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            let code = kind.code();
            assert!(seen.insert(code), "{code} twice");
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    && !code.starts_with('_')
                    && !code.ends_with('_'),
                "{code}"
            );
        }
    }
}
