//! Every default of the token source, in one place.

use std::time::Duration;

/// A token is renewed at the latest this long before it expires…
pub const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(60);

/// …or once this share (in percent) of its lifetime has passed, whichever comes first; but never
/// before half of its lifetime (so that a 30 s token is not renewed on every call).
pub const RENEW_AT_PERCENT_OF_LIFETIME: u32 = 90;

/// Lifetime assumed when the token response has no `expires_in` (RFC 6749 §5.1 only
/// recommends it). Short, so that a token of unknown lifetime is not used long past its end;
/// [`BearerLayer`](super::BearerLayer) also renews on a 401 `invalid_token`.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// A token is never kept longer than this, whatever its `expires_in`.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// After a renewal fails while the current token is still valid, the next attempt waits this
/// long (callers keep the current token meanwhile).
pub const RENEW_RETRY: Duration = Duration::from_secs(5);

/// [`TokenSource::invalidate`](super::TokenSource::invalidate) drops a token at most once in
/// this interval, so that an API that rejects every token does not turn each of its calls into
/// a token request.
pub const MIN_INVALIDATION_INTERVAL: Duration = Duration::from_secs(10);

/// Timeout of one token or metadata request (connecting included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest token response or metadata document accepted.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// `exp` − `iat` of a `private_key_jwt` client assertion (RFC 7523 §3: an expiry is required;
/// short, since a fresh one is signed for each token request).
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);
