//! Every default in one place. The README's defaults table is written from this file.

use std::time::Duration;

use jsonwebtoken::Algorithm;

/// Asymmetric algorithms accepted unless configured otherwise (RFC 8725 §3.1): every one this
/// crate verifies (RS256/384/512, PS256/384/512, ES256, ES384, EdDSA). HMAC is never on by
/// default, and `none` can never be enabled.
pub const ALGORITHMS: &[Algorithm] = &crate::jwks::key::ASYMMETRIC;

/// Clock skew tolerated on `exp`, `nbf` and `iat`: enough for NTP-synced hosts, small enough
/// not to stretch a five-minute token noticeably.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// Largest leeway accepted: a builder with more is refused (`ConfigError::TooLong`). More
/// than any clock skew of hosts that sync their clocks, and beyond it an expired token would
/// stay accepted long enough that the setting is almost certainly a mistake.
pub const MAX_LEEWAY: Duration = Duration::from_secs(3600);

/// Largest token accepted, checked before any decoding work.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Longest `kid` accepted in a token header.
pub const MAX_KID_BYTES: usize = 256;

/// Largest form body [`FormTokenLayer`](crate::FormTokenLayer) reads to find an
/// `access_token` field (RFC 6750 §2.2); a larger one is answered 413. Form posts that carry
/// a token are small; 64 KiB leaves room for the rest of a form without letting every client
/// make the server buffer megabytes.
pub const MAX_FORM_BODY_BYTES: usize = 64 * 1024;

/// Latest time accepted in `exp`, `nbf` and `iat`: 9999-12-31T23:59:59Z, the last second
/// RFC 3339 can write. A later (or negative) time is refused as an invalid claim rather than
/// read as "never expires".
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// How long a fetched key set stays fresh when the JWKS response has no `Cache-Control:
/// max-age` or `Expires` (it is refreshed in the background shortly before).
pub const JWKS_TTL: Duration = Duration::from_secs(10 * 60);

/// Least freshness taken from a JWKS response (`max-age=0` would mean a fetch per request).
pub const MIN_JWKS_TTL: Duration = Duration::from_secs(60);

/// Most freshness taken from a JWKS response (a removed key must stop working in time).
pub const MAX_JWKS_TTL: Duration = Duration::from_secs(24 * 3600);

/// How long past its freshness a key set stays in use while every refresh fails: an identity
/// provider outage of up to this long costs no request.
pub const MAX_STALE: Duration = Duration::from_secs(6 * 3600);

/// Least time between two refreshes caused by unknown `kid`s.
pub const UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(30);

/// First wait after a failed fetch; doubles with each further failure (with jitter)…
pub const MIN_RETRY: Duration = Duration::from_secs(1);

/// …up to this.
pub const MAX_RETRY: Duration = Duration::from_secs(60);

/// Longest value the key-set timings take (`jwks_ttl`, `jwks_ttl_bounds`, `max_stale`,
/// `retry_backoff`, `unknown_kid_cooldown`): longer ones, up to `Duration::MAX`, are clamped
/// to it. A year outlasts any process, so clamping changes nothing a caller could see, and it
/// keeps every deadline computed from these settings far from overflowing.
pub const MAX_KEY_TIMING: Duration = Duration::from_secs(365 * 24 * 3600);

/// Timeout of one metadata or JWKS request.
pub const FETCH_TIMEOUT: Duration = super::jwks::fetch::DEFAULT_FETCH_TIMEOUT;

/// Largest metadata or JWKS document accepted.
pub const MAX_DOCUMENT_BYTES: usize = super::jwks::fetch::DEFAULT_MAX_DOCUMENT_BYTES;

/// The `realm` of challenges.
pub const REALM: &str = crate::guard::challenge::DEFAULT_REALM;

/// Verified tokens remembered, so that a token seen again skips parsing and its signature
/// check (`0` turns the cache off); client-credentials traffic rarely has more than a few
/// hundred live tokens. The heap they hold is bounded by [`TOKEN_CACHE_MAX_BYTES`] as well.
pub const TOKEN_CACHE_CAPACITY: u64 = 10_000;

/// Most heap the verified-token cache holds, by an estimate from above of each entry (the
/// token, its claims, the cache's bookkeeping); `0` turns the cache off. A typical entry (a
/// 900-byte token; 4 KB measured) is estimated at 6 KB, under the 6.7 KB share of each of
/// [`TOKEN_CACHE_CAPACITY`] entries, so for typical tokens the count binds first, as
/// before. Tokens at [`MAX_TOKEN_BYTES`] are estimated at 19 KB (one long claim) to 560 KB
/// (JSON written for the most heap per byte): the budget holds 3 500 to 120 of them, where
/// the count alone let them take up to 5 GB.
pub const TOKEN_CACHE_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// `Cache-Control: max-age` of the protected resource metadata document (RFC 9728).
pub const METADATA_MAX_AGE: Duration = Duration::from_secs(3600);

/// Largest JSON-RPC request body `McpToolScopesLayer` (feature `mcp`) reads to find the tools a request calls; a larger one is answered 413.
/// Tool arguments can be sizeable documents, so this is far above the form-body cap, while
/// still bounding what one request makes the server buffer.
pub const MAX_MCP_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How far a DPoP proof's `iat` may be from the server's clock, either way (RFC 9449 §11.1;
/// MCP's DPoP profile asks to accept ±5 minutes). A proof is remembered for replay until its
/// `iat` plus this.
pub const DPOP_IAT_WINDOW: Duration = Duration::from_secs(300);

/// Longest DPoP proof `jti` accepted, in bytes: a UUID is 36, a 128-bit random value in
/// base64url 22.
pub const DPOP_MAX_JTI_BYTES: usize = 256;

/// Longest DPoP proof accepted, in bytes: a proof with an RSA-4096 key is under 2 KiB.
pub const DPOP_MAX_PROOF_BYTES: usize = 8 * 1024;

/// Proofs the in-memory replay store remembers at most (about 80 bytes each: 40 MB when
/// full). With the default window a proof is remembered about 5 minutes, so this sustains
/// some 1 600 DPoP requests a second per instance; beyond that the store fails closed (503).
pub const DPOP_REPLAY_CAPACITY: usize = 500_000;

/// How long one DPoP server nonce is issued; a nonce is accepted for up to two steps.
pub const DPOP_NONCE_STEP: Duration = Duration::from_secs(300);

/// How long an active introspection answer is reused at most (never past the token's `exp`):
/// a token revoked at the authorization server keeps working up to this long. `0` asks on
/// every request.
pub const INTROSPECTION_CACHE_FOR: Duration = Duration::from_secs(60);

/// How long a refused opaque token (inactive, or failing a rule) is answered from memory, so
/// that made-up tokens do not each cost a call to the authorization server.
pub const INTROSPECTION_INACTIVE_CACHE_FOR: Duration = Duration::from_secs(10);

/// Introspection outcomes remembered at most.
pub const INTROSPECTION_CACHE_CAPACITY: u64 = 10_000;
