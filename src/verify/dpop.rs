//! DPoP proofs (RFC 9449): the checks of §4.3, the JWK thumbprint of RFC 7638 that binds a
//! token to a key (`cnf.jkt`), the access-token hash `ath`, and self-validating nonces.
//!
//! Everything here is pure: a proof, the request's method and URL, the access token and the
//! time in, the proof's key thumbprint and replay key out. The guard (and the test
//! authorization server, which checks proofs at its token endpoint) decide what to answer.
//!
//! ```
//! use bearer_guard::dpop::{access_token_hash, jwk_thumbprint};
//! use serde_json::json;
//!
//! // RFC 9449 §7.1, figure 13: the `ath` of the example access token.
//! assert_eq!(
//!     access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
//!     "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo",
//! );
//! // RFC 9449 §6.1: the thumbprint of the example proof's key.
//! let jwk = json!({
//!     "kty": "EC",
//!     "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
//!     "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
//!     "crv": "P-256",
//! });
//! assert_eq!(jwk_thumbprint(&jwk).unwrap(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
//! ```

use std::borrow::Cow;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use aws_lc_rs::{constant_time, digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::ErrorKind;
use crate::jwks::key::{AlgSet, VerifyingKey, jwk_material, parse_alg};
use crate::verify::validator::{decode_json, is_base64url};

/// `base64url(SHA-256(token))`: the `ath` claim a proof carries for the access token sent
/// with it (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// Why a JWK has no thumbprint here: it is not a public RSA, EC (P-256, P-384) or OKP
/// (Ed25519) key with its required members as strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnsupportedJwk;

impl fmt::Display for UnsupportedJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a public RSA, EC or OKP JWK with its required members")
    }
}

impl std::error::Error for UnsupportedJwk {}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url: what `cnf.jkt` holds for a
/// token bound to that key. Only the required members count (`e`, `kty`, `n` for RSA; `crv`,
/// `kty`, `x`, `y` for EC; `crv`, `kty`, `x` for OKP), in that order, without whitespace.
///
/// # Errors
/// [`UnsupportedJwk`] for another key type or a required member that is not a string.
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, UnsupportedJwk> {
    let jwk = jwk.as_object().ok_or(UnsupportedJwk)?;
    thumbprint(jwk)
}

fn thumbprint(jwk: &Map<String, Value>) -> Result<String, UnsupportedJwk> {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err(UnsupportedJwk),
    };
    // The members in lexicographic order, no whitespace, strings escaped as JSON writes them
    // (RFC 7638 §3): written out rather than built as a map, as this runs on every request.
    let mut json = String::with_capacity(160);
    for (i, &name) in members.iter().enumerate() {
        let value = jwk
            .get(name)
            .and_then(Value::as_str)
            .ok_or(UnsupportedJwk)?;
        json.push(if i == 0 { '{' } else { ',' });
        json.push('"');
        json.push_str(name);
        json.push_str("\":");
        json.push_str(&Value::from(value).to_string());
    }
    json.push('}');
    Ok(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, json.as_bytes())))
}

/// The hash a (key, `jti`) pair is recorded under in a replay store: SHA-256 over the key's
/// thumbprint and the `jti`, so a store never holds what a proof said.
pub(crate) fn replay_digest(jkt: &str, jti: &str) -> [u8; 32] {
    // The thumbprint has a fixed length; the separator keeps the encoding unambiguous anyway.
    // Hashed in one buffer on the stack by aws-lc's one-shot SHA-256 (a streaming context
    // costs about as much again), unless the `jti` is long.
    let (jkt, jti) = (jkt.as_bytes(), jti.as_bytes());
    let mut buffer = [0u8; 320];
    let len = jkt.len() + 1 + jti.len();
    let digest = match buffer.get_mut(..len) {
        Some(input) => {
            input[..jkt.len()].copy_from_slice(jkt);
            input[jkt.len() + 1..].copy_from_slice(jti);
            digest::digest(&digest::SHA256, input)
        }
        None => {
            let mut context = digest::Context::new(&digest::SHA256);
            context.update(jkt);
            context.update(&[0]);
            context.update(jti);
            context.finish()
        }
    };
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

// ---------------------------------------------------------------------------------------------
// Nonces
// ---------------------------------------------------------------------------------------------

/// Server nonces (RFC 9449 §8, §9) that need no state: a nonce is a MAC of the current time
/// step under a secret, so every instance holding the secret issues and accepts the same
/// ones. A nonce of the current or the previous step is accepted.
#[derive(Clone)]
pub(crate) struct NonceKey {
    key: hmac::Key,
    step_secs: u64,
}

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceKey")
            .field("step_secs", &self.step_secs)
            .finish_non_exhaustive()
    }
}

/// Least secret accepted for nonces: 256 bits.
pub(crate) const MIN_NONCE_SECRET_BYTES: usize = 32;

impl NonceKey {
    pub(crate) fn new(secret: &[u8], step: Duration) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            step_secs: step.as_secs().max(1),
        }
    }

    fn step(&self, now: i64) -> u64 {
        u64::try_from(now).unwrap_or(0) / self.step_secs
    }

    fn for_step(&self, step: u64) -> [u8; 18] {
        let mut message = [0u8; 24];
        message[..16].copy_from_slice(b"bearer-guard/dpn");
        message[16..].copy_from_slice(&step.to_be_bytes());
        let tag = hmac::sign(&self.key, &message);
        let mut out = [0; 18];
        out.copy_from_slice(&tag.as_ref()[..18]);
        out
    }

    /// The nonce to hand out now (24 base64url characters).
    pub(crate) fn current(&self, now: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.for_step(self.step(now)))
    }

    /// Whether `nonce` was issued in this step or the one before.
    pub(crate) fn accepts(&self, nonce: &str, now: i64) -> bool {
        let mut decoded = [0u8; 18];
        if nonce.len() != 24 || URL_SAFE_NO_PAD.decode_slice(nonce, &mut decoded) != Ok(18) {
            return false;
        }
        let step = self.step(now);
        [step, step.saturating_sub(1)]
            .into_iter()
            .any(|s| constant_time::verify_slices_are_equal(&self.for_step(s), &decoded).is_ok())
    }
}

// ---------------------------------------------------------------------------------------------
// The target URI
// ---------------------------------------------------------------------------------------------

/// An absolute http(s) URI after RFC 3986 §6.2.2 normalization, without query and
/// fragment: scheme and host in lower case, the default port dropped, `.` and `..` segments
/// removed, percent-encodings in upper case and unreserved characters decoded, an empty path
/// as `/`. `None` for anything else (a relative reference, userinfo, another scheme).
pub(crate) fn normalize_htu(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let host = url.host_str()?;
    let mut out = String::with_capacity(uri.len());
    out.push_str(url.scheme());
    out.push_str("://");
    out.push_str(host);
    if let Some(port) = url.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    normalize_percent(url.path(), &mut out);
    Some(out)
}

/// Copies `path`, with each `%xx` in upper case, or decoded when it encodes an unreserved
/// character (RFC 3986 §2.3, §6.2.2.2).
fn normalize_percent(path: &str, out: &mut String) {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            let decoded = u8::try_from(h * 16 + l).unwrap_or(0);
            if decoded.is_ascii_alphanumeric() || matches!(decoded, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(decoded));
            } else {
                out.push('%');
                out.push(char::from(bytes[i + 1]).to_ascii_uppercase());
                out.push(char::from(bytes[i + 2]).to_ascii_uppercase());
            }
            i += 3;
        } else if bytes[i] == b'%' {
            // A `%` that starts no `%xx` is a literal percent sign: written `%25`, so that a
            // decoded character after it cannot make a new `%xx` (`%%66F` would become
            // `%fF`, which a second pass reads differently).
            out.push_str("%25");
            i += 1;
        } else {
            // `url` has already percent-encoded everything outside ASCII.
            out.push(char::from(bytes[i]));
            i += 1;
        }
    }
}

/// The API's external URL (scheme, host, port, and a path prefix if a proxy strips one),
/// normalized once; a request's expected `htu` is this plus the request's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExternalUrl {
    /// Normalized, without a trailing `/`.
    base: String,
}

impl ExternalUrl {
    /// `None` unless `url` is an absolute http(s) URL without userinfo, query or fragment.
    pub(crate) fn parse(url: &str) -> Option<Self> {
        if url.contains(['?', '#']) {
            return None;
        }
        let mut base = normalize_htu(url)?;
        while base.ends_with('/') {
            base.pop();
        }
        Some(Self { base })
    }

    /// The normalized `htu` a proof for a request to `path` must carry.
    #[cfg(test)]
    pub(crate) fn for_path(&self, path: &str) -> Option<String> {
        match self.expected(path)? {
            ExpectedHtu::Joined { base, path } => Some(format!("{base}{path}")),
            ExpectedHtu::Normalized(htu) => Some(htu),
        }
    }

    /// What [`for_path`](Self::for_path) gives, without joining the URL and the path when
    /// the path is normal already (as most are: no percent-encoding to case or decode, no
    /// dot segments, only characters `url` leaves as they are). The others are normalized.
    pub(crate) fn expected<'a>(&'a self, path: &'a str) -> Option<ExpectedHtu<'a>> {
        if is_normal_path(path) {
            return Some(ExpectedHtu::Joined {
                base: &self.base,
                path,
            });
        }
        let mut joined = String::with_capacity(self.base.len() + path.len() + 1);
        joined.push_str(&self.base);
        if !path.starts_with('/') {
            joined.push('/');
        }
        joined.push_str(path);
        normalize_htu(&joined).map(ExpectedHtu::Normalized)
    }
}

/// The `htu` a request's proof must carry (see [`ExternalUrl::expected`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExpectedHtu<'a> {
    /// The external URL followed by a normal path.
    Joined { base: &'a str, path: &'a str },
    /// A path that had to be normalized, joined.
    Normalized(String),
}

impl ExpectedHtu<'_> {
    pub(crate) fn htu(&self) -> Htu<'_> {
        match self {
            Self::Joined { base, path } => Htu::Joined { base, path },
            Self::Normalized(htu) => Htu::Whole(htu),
        }
    }
}

/// A normalized `htu`, whole or in two parts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Htu<'a> {
    Whole(&'a str),
    /// `base` then `path`.
    Joined {
        base: &'a str,
        path: &'a str,
    },
}

impl Htu<'_> {
    /// Whether `htu` is this URI, byte for byte.
    fn is(self, htu: &str) -> bool {
        match self {
            Self::Whole(whole) => htu == whole,
            // The lengths add up, so prefix and suffix do not overlap.
            Self::Joined { base, path } => {
                htu.len() == base.len() + path.len() && htu.starts_with(base) && htu.ends_with(path)
            }
        }
    }
}

/// Whether `path` is what [`normalize_htu`] would make of it: a `/`, then only unreserved
/// characters, `/` and the sub-delims `url` keeps as they are, and no `.` or `..` segment.
fn is_normal_path(path: &str) -> bool {
    let kept = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'/' | b'-'
                    | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
            )
    };
    path.starts_with('/')
        && path.bytes().all(kept)
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

// ---------------------------------------------------------------------------------------------
// The proof
// ---------------------------------------------------------------------------------------------

/// What a proof is checked against, beyond the request.
#[derive(Debug, Clone)]
pub(crate) struct ProofRules {
    /// Proof algorithms accepted: asymmetric only.
    pub(crate) algs: AlgSet,
    /// How far `iat` may be from now, either way.
    pub(crate) window_secs: i64,
    /// Longest `jti` accepted, in bytes.
    pub(crate) max_jti_bytes: usize,
    /// Longest proof accepted, in bytes.
    pub(crate) max_proof_bytes: usize,
    /// Server nonces, when required.
    pub(crate) nonces: Option<NonceKey>,
}

impl Default for ProofRules {
    /// The crate's defaults: every asymmetric algorithm verified, `iat` within
    /// [`defaults::DPOP_IAT_WINDOW`](crate::defaults::DPOP_IAT_WINDOW), `jti` and proof
    /// within their caps, no nonces.
    fn default() -> Self {
        Self {
            algs: AlgSet::of(&crate::jwks::key::ASYMMETRIC),
            window_secs: i64::try_from(crate::defaults::DPOP_IAT_WINDOW.as_secs()).unwrap_or(300),
            max_jti_bytes: crate::defaults::DPOP_MAX_JTI_BYTES,
            max_proof_bytes: crate::defaults::DPOP_MAX_PROOF_BYTES,
            nonces: None,
        }
    }
}

/// The request a proof must describe.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProofTarget<'a> {
    /// The request method, exactly as sent (`htm`).
    pub(crate) method: &'a str,
    /// The normalized `htu` expected (see [`ExternalUrl::expected`]).
    pub(crate) htu: &'a str,
    /// The access token sent with the proof, whose hash `ath` must carry; `None` at a token
    /// endpoint, where a proof carries no `ath`.
    pub(crate) access_token: Option<&'a str>,
}

/// [`ProofTarget`] with the `htu` as the guard knows it: the external URL and the request's
/// path side by side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected<'a> {
    pub(crate) method: &'a str,
    pub(crate) htu: Htu<'a>,
    pub(crate) access_token: Option<&'a str>,
}

impl<'a> From<ProofTarget<'a>> for Expected<'a> {
    fn from(target: ProofTarget<'a>) -> Self {
        Self {
            method: target.method,
            htu: Htu::Whole(target.htu),
            access_token: target.access_token,
        }
    }
}

/// A proof that passed every check: what binds it to the token and what the replay store
/// records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckedProof {
    /// RFC 7638 thumbprint of the proof's key.
    pub(crate) jkt: String,
    /// The replay key: a hash of `jkt` and `jti`.
    pub(crate) replay: [u8; 32],
    /// The proof's `iat`, in seconds since the epoch.
    pub(crate) iat: i64,
}

/// Why a proof was refused: the kind answered and a fixed reason for the debug log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProofFailure {
    pub(crate) kind: ErrorKind,
    pub(crate) reason: &'static str,
}

fn invalid(reason: &'static str) -> ProofFailure {
    ProofFailure {
        kind: ErrorKind::InvalidDpopProof,
        reason,
    }
}

#[derive(Deserialize)]
struct ProofHeader {
    typ: Option<String>,
    alg: String,
    jwk: Option<Value>,
    crit: Option<Value>,
}

/// JWK members that only a private (or symmetric) key has (RFC 7517, RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Checks a proof as RFC 9449 §4.3 lists, in its order: one well-formed JWS with
/// `typ: dpop+jwt`, an allowed asymmetric `alg` fitting its public `jwk`, a signature that
/// verifies with that key, then `jti`, `htm`, `htu`, `iat`, the nonce and `ath`.
// The guard checks through its remembered keys; the test issuer, the client's tests and the
// fuzz target call this.
#[cfg_attr(
    not(any(test, fuzzing, feature = "client", feature = "test-util")),
    allow(dead_code)
)]
pub(crate) fn check_proof(
    proof: &str,
    rules: &ProofRules,
    target: ProofTarget<'_>,
    now: i64,
) -> Result<CheckedProof, ProofFailure> {
    check_expected(proof, rules, None, target.into(), now)
}

/// [`check_proof`], for the `htu` as the guard knows it, with the keys of the proof headers
/// seen before (`keys`, the guard's): a header seen before is not decoded, checked, parsed
/// into a key or hashed into a thumbprint again. Every check of the proof's claims and its
/// signature runs on every proof.
pub(crate) fn check_expected(
    proof: &str,
    rules: &ProofRules,
    keys: Option<&ProofKeys>,
    expected: Expected<'_>,
    now: i64,
) -> Result<CheckedProof, ProofFailure> {
    if proof.len() > rules.max_proof_bytes {
        return Err(invalid("proof too large"));
    }
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a compact JWS"));
    };
    // A header seen before passed the header checks below under these rules; the algorithm
    // is looked at again all the same, as it is free.
    let seen = keys
        .and_then(|keys| keys.get(header_b64))
        .filter(|key| rules.algs.contains(key.alg));
    let (key, seen) = match seen {
        Some(key) => (key, true),
        None => (Arc::new(proof_key(header_b64, rules)?), false),
    };
    if signature.is_empty() || !is_base64url(signature) {
        return Err(invalid("malformed signature"));
    }
    let signing_input = &proof.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    if !key.key.verify(signing_input, signature, key.alg) {
        return Err(invalid("signature does not verify"));
    }
    // Remembered only once it has signed something: made-up headers do not churn the keys.
    if let Some(keys) = keys
        && !seen
    {
        keys.insert(&key);
    }
    let mut buffer = [0u8; 1024];
    let mut heap = Vec::new();
    let claims: ProofClaims<'_> =
        decode_borrowed(payload_b64, &mut buffer, &mut heap).ok_or(invalid("malformed claims"))?;
    let jti = claims
        .jti
        .as_ref()
        .and_then(Member::as_str)
        .filter(|jti| !jti.is_empty())
        .ok_or(invalid("no jti"))?;
    if jti.len() > rules.max_jti_bytes {
        return Err(invalid("jti too long"));
    }
    if claims.htm.as_ref().and_then(Member::as_str) != Some(expected.method) {
        return Err(invalid("htm does not match the method"));
    }
    let htu = claims
        .htu
        .as_ref()
        .and_then(Member::as_str)
        .ok_or(invalid("no htu"))?;
    // The common case, a client that sends the URL as configured, needs no parsing.
    if !expected.htu.is(htu) && !normalize_htu(htu).is_some_and(|htu| expected.htu.is(&htu)) {
        return Err(invalid("htu does not match the URL"));
    }
    let iat = claims
        .iat
        .as_ref()
        .and_then(Member::as_i64)
        .ok_or(invalid("no integer iat"))?;
    if iat.abs_diff(now) > rules.window_secs.unsigned_abs() {
        return Err(invalid("iat outside the window"));
    }
    if let Some(nonces) = &rules.nonces {
        let fresh = claims
            .nonce
            .as_ref()
            .and_then(Member::as_str)
            .is_some_and(|nonce| nonces.accepts(nonce, now));
        if !fresh {
            return Err(ProofFailure {
                kind: ErrorKind::DpopNonceRequired,
                reason: "nonce missing or stale",
            });
        }
    }
    match (expected.access_token, &claims.ath) {
        (None, None) => {}
        (Some(token), Some(Member::Str(ath)))
            if key.is_access_token_hash(ath, token, keys.is_some()) => {}
        (None, Some(_)) => return Err(invalid("ath without an access token")),
        (Some(_), _) => return Err(invalid("ath does not match the access token")),
    }
    Ok(CheckedProof {
        replay: replay_digest(&key.jkt, jti),
        jkt: key.jkt.clone(),
        iat,
    })
}

/// `base64url(SHA-256(token))` (43 characters), without allocating.
fn encoded_token_hash(token: &str) -> [u8; 43] {
    let digest = digest::digest(&digest::SHA256, token.as_bytes());
    let mut encoded = [0u8; 43];
    // 32 bytes are 43 base64url characters without padding: this cannot fail.
    let _ = URL_SAFE_NO_PAD.encode_slice(digest.as_ref(), &mut encoded);
    encoded
}

/// The access token last sent with a key's proofs, and its `ath`.
struct TokenHash {
    token: Box<str>,
    ath: [u8; 43],
}

/// What a proof header gives once it has passed its checks: the key, ready to verify
/// signatures of `alg`, and its thumbprint.
pub(crate) struct ProofKey {
    /// The header's base64url segment.
    header: Box<str>,
    alg: Algorithm,
    key: VerifyingKey,
    jkt: String,
    /// Once remembered in [`ProofKeys`]: the access token last sent with this key. A client
    /// sends one token with many proofs, so its hash is computed once per token (about 0.6 µs
    /// for a 1 KB token), not once per proof.
    last_token: ArcSwapOption<TokenHash>,
}

impl ProofKey {
    /// Whether `ath` is the hash of `token`, compared in constant time. With `remember`, the
    /// hash of the token last sent with this key is reused when `token` is that one again.
    fn is_access_token_hash(&self, ath: &str, token: &str, remember: bool) -> bool {
        let expected = match &*self.last_token.load() {
            // Comparing tokens need not be constant-time: the proof's signature has verified,
            // so whoever sent it holds the key, and the token is theirs.
            Some(last) if remember && *last.token == *token => last.ath,
            _ => {
                let ath = encoded_token_hash(token);
                if remember {
                    self.last_token.store(Some(Arc::new(TokenHash {
                        token: Box::from(token),
                        ath,
                    })));
                }
                ath
            }
        };
        constant_time::verify_slices_are_equal(ath.as_bytes(), &expected).is_ok()
    }
}

/// Decodes and checks a proof's header (`typ`, `crit`, `alg`, a public `jwk` that fits it),
/// and prepares its key and thumbprint.
fn proof_key(header_b64: &str, rules: &ProofRules) -> Result<ProofKey, ProofFailure> {
    let header: ProofHeader = decode_json(header_b64).map_err(|_| invalid("malformed header"))?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(invalid("typ is not dpop+jwt"));
    }
    if header.crit.is_some() {
        return Err(invalid("crit header"));
    }
    let alg = parse_alg(&header.alg)
        .filter(|alg| rules.algs.contains(*alg))
        .ok_or(invalid("alg not allowed"))?;
    let jwk = header
        .jwk
        .as_ref()
        .and_then(Value::as_object)
        .ok_or(invalid("no jwk"))?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(invalid("jwk holds private key members"));
    }
    let (fits, material) = jwk_material(jwk).map_err(|_| invalid("unusable jwk"))?;
    if !fits.contains(alg) {
        return Err(invalid("alg does not fit the jwk"));
    }
    let key = VerifyingKey::new(None, AlgSet::of(&[alg]), material)
        .map_err(|_| invalid("unusable jwk"))?;
    let jkt = thumbprint(jwk).map_err(|_| invalid("jwk has no thumbprint"))?;
    Ok(ProofKey {
        header: Box::from(header_b64),
        alg,
        key,
        jkt,
        last_token: ArcSwapOption::empty(),
    })
}

/// Slots of [`ProofKeys`]: one per client key in use at once, give or take collisions.
const PROOF_KEY_SLOTS: usize = 256;

/// The keys of the proof headers a guard has seen, by the header's exact bytes: a client
/// signs every proof with one key, under one header (`typ`, `alg`, `jwk`), so its first
/// proof pays for decoding the header, parsing the key and its thumbprint, and the next ones
/// for one comparison. Bounded: one header per slot, the newest one kept.
pub(crate) struct ProofKeys {
    slots: Box<[Mutex<Option<Arc<ProofKey>>>]>,
    hasher: foldhash::fast::RandomState,
}

impl ProofKeys {
    pub(crate) fn new() -> Self {
        Self {
            slots: (0..PROOF_KEY_SLOTS).map(|_| Mutex::new(None)).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn slot(&self, header: &str) -> &Mutex<Option<Arc<ProofKey>>> {
        let hash = usize::try_from(self.hasher.hash_one(header) % PROOF_KEY_SLOTS as u64);
        &self.slots[hash.unwrap_or(0)]
    }

    fn get(&self, header: &str) -> Option<Arc<ProofKey>> {
        let slot = self
            .slot(header)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        slot.as_ref()
            .filter(|key| *key.header == *header)
            .map(Arc::clone)
    }

    fn insert(&self, key: &Arc<ProofKey>) {
        *self
            .slot(&key.header)
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(key));
    }
}

impl fmt::Debug for ProofKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofKeys")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// The proof's claims, borrowed
// ---------------------------------------------------------------------------------------------

/// Decodes one base64url segment (no padding, canonical) holding a JSON object into `D`,
/// borrowing from `buffer` (or from `heap` when the segment does not fit).
fn decode_borrowed<'b, D: Deserialize<'b>>(
    segment: &str,
    buffer: &'b mut [u8],
    heap: &'b mut Vec<u8>,
) -> Option<D> {
    if segment.is_empty() || !is_base64url(segment) {
        return None;
    }
    let bytes: &'b [u8] = if segment.len() / 4 * 3 + 3 <= buffer.len() {
        let len = URL_SAFE_NO_PAD.decode_slice(segment, buffer).ok()?;
        &buffer[..len]
    } else {
        *heap = URL_SAFE_NO_PAD.decode(segment).ok()?;
        heap
    };
    // Only objects, as `decode_json` reads them.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

/// The claims a proof check reads. A member is kept whatever its type (`ath: null` is an
/// `ath`, not a missing one), and the object is as strict as
/// [`StrictObject`](crate::verify::json::StrictObject) makes a JWT's claims: a member named
/// twice, at any depth, makes it malformed.
#[derive(Default)]
struct ProofClaims<'a> {
    jti: Option<Member<'a>>,
    htm: Option<Member<'a>>,
    htu: Option<Member<'a>>,
    iat: Option<Member<'a>>,
    nonce: Option<Member<'a>>,
    ath: Option<Member<'a>>,
}

/// One member's value: a string (borrowed unless escapes forced a copy), an integer that
/// fits an `i64`, or anything else.
enum Member<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Other,
}

impl Member<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// A member name, unescaped.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

impl<'de> Deserialize<'de> for ProofClaims<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ClaimsVisitor;
        impl<'de> Visitor<'de> for ClaimsVisitor {
            type Value = ProofClaims<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object without duplicate member names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut claims = ProofClaims::default();
                // Names of the members not read, to refuse them twice as well.
                let mut others: Vec<Cow<'de, str>> = Vec::new();
                while let Some(Name(name)) = map.next_key()? {
                    let slot = match &*name {
                        "jti" => &mut claims.jti,
                        "htm" => &mut claims.htm,
                        "htu" => &mut claims.htu,
                        "iat" => &mut claims.iat,
                        "nonce" => &mut claims.nonce,
                        "ath" => &mut claims.ath,
                        _ => {
                            if others.contains(&name) {
                                return Err(de::Error::custom("duplicate member name"));
                            }
                            map.next_value::<Strict>()?;
                            others.push(name);
                            continue;
                        }
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom("duplicate member name"));
                    }
                    *slot = Some(map.next_value()?);
                }
                Ok(claims)
            }
        }
        deserializer.deserialize_map(ClaimsVisitor)
    }
}

impl<'de> Deserialize<'de> for Member<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MemberVisitor;
        impl<'de> Visitor<'de> for MemberVisitor {
            type Value = Member<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON without duplicate member names")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Member<'de>, E> {
                Ok(Member::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Member<'de>, E> {
                Ok(Member::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Member<'de>, E> {
                Ok(Member::Str(Cow::Owned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Member<'de>, E> {
                Ok(Member::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Member<'de>, E> {
                Ok(i64::try_from(v).map_or(Member::Other, Member::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Member<'de>, E> {
                Ok(Member::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Member<'de>, E> {
                Ok(Member::Other)
            }
            fn visit_unit<E>(self) -> Result<Member<'de>, E> {
                Ok(Member::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Member<'de>, A::Error> {
                StrictVisitor.visit_seq(seq).map(|()| Member::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Member<'de>, A::Error> {
                StrictVisitor.visit_map(map).map(|()| Member::Other)
            }
        }
        deserializer.deserialize_any(MemberVisitor)
    }
}

/// Any JSON value, skipped, refused if an object in it names a member twice.
struct Strict;

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(|()| Self)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without duplicate member names")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut names: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Name(name)) = map.next_key()? {
            if names.contains(&name) {
                return Err(de::Error::custom("duplicate member name"));
            }
            map.next_value::<Strict>()?;
            names.push(name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 9449 §4.1, figure 2: a proof for a token request, signed by the example key.
    const RFC_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
    const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    const RFC_IAT: i64 = 1_562_262_616;

    fn rules() -> ProofRules {
        ProofRules::default()
    }

    fn token_request(htu: &str) -> ProofTarget<'_> {
        ProofTarget {
            method: "POST",
            htu,
            access_token: None,
        }
    }

    #[test]
    fn rfc7638_section_3_1_thumbprint() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rfc8037_appendix_a3_okp_thumbprint() {
        let jwk = json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        });
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn replay_digests_are_sha256_of_jkt_a_zero_and_jti_however_long() {
        for len in [0, 1, 16, 275, 276, 277, 1024] {
            let jti = "j".repeat(len);
            let mut input = RFC_JKT.as_bytes().to_vec();
            input.push(0);
            input.extend_from_slice(jti.as_bytes());
            let expected = digest::digest(&digest::SHA256, &input);
            assert_eq!(replay_digest(RFC_JKT, &jti), expected.as_ref(), "{len}");
        }
    }

    #[test]
    fn thumbprints_need_the_required_members() {
        assert_eq!(
            jwk_thumbprint(&json!({"kty": "oct", "k": "AA"})),
            Err(UnsupportedJwk)
        );
        assert_eq!(
            jwk_thumbprint(&json!({"kty": "EC", "crv": "P-256", "x": "AA"})),
            Err(UnsupportedJwk)
        );
        assert_eq!(
            jwk_thumbprint(&json!({"kty": "OKP", "crv": "Ed25519", "x": 1})),
            Err(UnsupportedJwk)
        );
        assert_eq!(jwk_thumbprint(&json!([])), Err(UnsupportedJwk));
    }

    #[test]
    fn the_rfc_9449_example_proof_passes_at_its_time_and_binds_to_its_jkt() {
        let checked = check_proof(
            RFC_PROOF,
            &rules(),
            token_request("https://server.example.com/token"),
            RFC_IAT,
        )
        .unwrap();
        assert_eq!(checked.jkt, RFC_JKT);
        assert_eq!(checked.iat, RFC_IAT);
        assert_eq!(checked.replay, replay_digest(RFC_JKT, "-BwC3ESc6acc2lTc"));
    }

    #[test]
    fn the_rfc_example_fails_each_request_check() {
        let failure = |target, now, rules: &ProofRules| {
            check_proof(RFC_PROOF, rules, target, now)
                .unwrap_err()
                .reason
        };
        let rules = rules();
        let url = "https://server.example.com/token";
        assert_eq!(
            failure(
                ProofTarget {
                    method: "GET",
                    ..token_request(url)
                },
                RFC_IAT,
                &rules
            ),
            "htm does not match the method"
        );
        assert_eq!(
            failure(
                token_request("https://server.example.com/other"),
                RFC_IAT,
                &rules
            ),
            "htu does not match the URL"
        );
        assert_eq!(
            failure(token_request(url), RFC_IAT + 301, &rules),
            "iat outside the window"
        );
        assert_eq!(
            failure(token_request(url), RFC_IAT - 301, &rules),
            "iat outside the window"
        );
        // The window's edges are inside it.
        assert!(check_proof(RFC_PROOF, &rules, token_request(url), RFC_IAT + 300).is_ok());
        assert!(check_proof(RFC_PROOF, &rules, token_request(url), RFC_IAT - 300).is_ok());
        assert_eq!(
            failure(
                ProofTarget {
                    access_token: Some("a token"),
                    ..token_request(url)
                },
                RFC_IAT,
                &rules
            ),
            "ath does not match the access token"
        );
        let es384_only = ProofRules {
            algs: AlgSet::of(&[Algorithm::ES384]),
            ..rules.clone()
        };
        assert_eq!(
            failure(token_request(url), RFC_IAT, &es384_only),
            "alg not allowed"
        );
        // Both caps are inclusive: the RFC proof's `jti` is 16 bytes.
        let exact = ProofRules {
            max_jti_bytes: 16,
            max_proof_bytes: RFC_PROOF.len(),
            ..rules.clone()
        };
        assert!(check_proof(RFC_PROOF, &exact, token_request(url), RFC_IAT).is_ok());
        let (head, _) = RFC_PROOF.rsplit_once('.').unwrap();
        let not_base64 = format!("{head}.not*base64");
        assert_eq!(
            check_proof(&not_base64, &rules, token_request(url), RFC_IAT)
                .unwrap_err()
                .reason,
            "malformed signature"
        );
        let short_jti = ProofRules {
            max_jti_bytes: 15,
            ..rules.clone()
        };
        assert_eq!(
            failure(token_request(url), RFC_IAT, &short_jti),
            "jti too long"
        );
        let small = ProofRules {
            max_proof_bytes: 100,
            ..rules.clone()
        };
        assert_eq!(
            failure(token_request(url), RFC_IAT, &small),
            "proof too large"
        );
        let nonces = ProofRules {
            nonces: Some(NonceKey::new(&[7; 32], Duration::from_secs(60))),
            ..rules
        };
        let refused = check_proof(RFC_PROOF, &nonces, token_request(url), RFC_IAT).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::DpopNonceRequired);
    }

    #[test]
    fn a_tampered_signature_fails() {
        let (head, sig) = RFC_PROOF.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        sig[0] ^= 1;
        let tampered = format!("{head}.{}", URL_SAFE_NO_PAD.encode(sig));
        let refused = check_proof(
            &tampered,
            &rules(),
            token_request("https://server.example.com/token"),
            RFC_IAT,
        )
        .unwrap_err();
        assert_eq!(refused.reason, "signature does not verify");
    }

    #[test]
    fn htu_normalization() {
        let n = |s: &str| normalize_htu(s);
        assert_eq!(
            n("HTTPS://Server.Example.COM:443/a/./b/../c").as_deref(),
            Some("https://server.example.com/a/c")
        );
        assert_eq!(n("http://h:80").as_deref(), Some("http://h/"));
        assert_eq!(
            n("http://h:8080/x?q=1#f").as_deref(),
            Some("http://h:8080/x")
        );
        assert_eq!(
            n("http://h/%7euser/%2f%2F").as_deref(),
            Some("http://h/~user/%2F%2F")
        );
        assert_eq!(
            n("http://h/caf\u{e9}").as_deref(),
            Some("http://h/caf%C3%A9")
        );
        // A stray `%` is a literal one, and normalizing twice changes nothing (found by
        // fuzzing: `%%66F` gave `%fF`, which a second pass made `%FF`).
        assert_eq!(n("http://h/%%66F").as_deref(), Some("http://h/%25fF"));
        assert_eq!(n("http://h/%").as_deref(), Some("http://h/%25"));
        assert_eq!(n("http://h/%4").as_deref(), Some("http://h/%254"));
        for uri in [
            "http://h/%%66F",
            "http://h/%",
            "http://h/a%2",
            "http://h/%%%41%",
        ] {
            let once = n(uri).unwrap();
            assert_eq!(n(&once).as_deref(), Some(once.as_str()), "{uri}");
        }
        assert_eq!(n("http://u:p@h/"), None);
        assert_eq!(n("ftp://h/"), None);
        assert_eq!(n("/relative"), None);
    }

    #[test]
    fn normal_paths_are_what_normalization_makes_of_them() {
        let base = ExternalUrl::parse("https://api.example.com").unwrap();
        for path in [
            "/",
            "/orders",
            "/a/b.c/d~e_f-g",
            "/x!$&'()*+,;=:@",
            "/a/./b",
            "/a/../b",
            "/.",
            "/%7e",
            "/%2F",
            "/caf\u{e9}",
            "/a b",
            "/a\\b",
            "/a|b",
            "/a^b",
            "/a{b}",
            "/a..b",
        ] {
            let joined = format!("https://api.example.com{path}");
            assert_eq!(base.for_path(path), normalize_htu(&joined), "{path:?}");
            // The shortcut is taken for the ordinary paths, and only for them.
            let ordinary = !path.contains(['%', ' ', '\\', '|', '^', '{', '}', '\u{e9}'])
                && !path.split('/').any(|s| s == "." || s == "..");
            assert_eq!(is_normal_path(path), ordinary, "{path:?}");
            if is_normal_path(path) {
                assert_eq!(
                    normalize_htu(&joined).as_deref(),
                    Some(joined.as_str()),
                    "{path:?}"
                );
            }
        }
    }

    #[test]
    fn external_urls_join_the_request_path() {
        let base = ExternalUrl::parse("https://API.example.com/prefix/").unwrap();
        assert_eq!(
            base.for_path("/orders/1").as_deref(),
            Some("https://api.example.com/prefix/orders/1")
        );
        let root = ExternalUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            root.for_path("/").as_deref(),
            Some("http://127.0.0.1:8080/")
        );
        assert_eq!(ExternalUrl::parse("https://h/?q"), None);
        assert_eq!(ExternalUrl::parse("h:8080"), None);
    }

    /// A key that signs raw JSON, for proofs `DpopKey` would not write.
    struct RawSigner {
        key: crate::dpop_key::signing::SigningKey,
        header: String,
    }

    impl RawSigner {
        fn new() -> Self {
            let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            )
            .unwrap();
            let key =
                crate::dpop_key::signing::SigningKey::new(crate::dpop_key::signing::Pair::Ec(pair));
            let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk()});
            Self {
                key,
                header: header.to_string(),
            }
        }

        fn jkt(&self) -> String {
            jwk_thumbprint(&self.key.public_jwk()).unwrap()
        }

        fn sign(&self, header: &str, claims: &str) -> String {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(claims)
            );
            let signature = URL_SAFE_NO_PAD.encode(self.key.sign(input.as_bytes()));
            format!("{input}.{signature}")
        }

        fn proof(&self, claims: &str) -> String {
            self.sign(&self.header, claims)
        }
    }

    fn get_orders(token: Option<&str>) -> ProofTarget<'_> {
        ProofTarget {
            method: "GET",
            htu: "https://api.example.com/orders",
            access_token: token,
        }
    }

    fn claims_with(extra: &str) -> String {
        format!(
            r#"{{"jti":"j-1","htm":"GET","htu":"https://api.example.com/orders","iat":{RFC_IAT}{extra}}}"#
        )
    }

    #[test]
    fn a_member_named_twice_makes_the_claims_malformed() {
        let signer = RawSigner::new();
        let check = |claims: &str| {
            check_proof(&signer.proof(claims), &rules(), get_orders(None), RFC_IAT)
                .map(|c| c.jkt)
                .map_err(|f| f.reason)
        };
        assert_eq!(check(&claims_with("")), Ok(signer.jkt()));
        for extra in [
            r#","jti":"j-2""#,
            r#","\u006ati":"j-2""#,
            r#","other":1,"other":2"#,
            r#","other":{"k":1,"k":2}"#,
            r#","other":[{"k":[{"k":1,"k":1}]}]"#,
        ] {
            assert_eq!(
                check(&claims_with(extra)),
                Err("malformed claims"),
                "{extra}"
            );
        }
        // Names unescaped, the same name in two objects, nested values of every type.
        assert!(
            check(&claims_with(
                r#","a":{"k":1},"b":{"k":[1,-2,1.5,true,null,"\u00e9"]}"#
            ))
            .is_ok()
        );
        assert_eq!(check(r#"{"\u006ati":"j","htm":"GET","htu":"https://api.example.com/orders","iat":1562262616}"#).map(|_| ()), Ok(()));
        assert_eq!(check("[]"), Err("malformed claims"));
        assert_eq!(
            check(&format!("{} x", claims_with(""))),
            Err("malformed claims")
        );
    }

    #[test]
    fn claims_of_another_type_are_missing_or_wrong_as_before() {
        let signer = RawSigner::new();
        let check = |claims: &str, token| {
            check_proof(&signer.proof(claims), &rules(), get_orders(token), RFC_IAT)
                .map(|_| ())
                .map_err(|f| f.reason)
        };
        let base = r#""htm":"GET","htu":"https://api.example.com/orders","iat":1562262616"#;
        assert_eq!(
            check(&format!(r#"{{"jti":7,{base}}}"#), None),
            Err("no jti")
        );
        assert_eq!(
            check(&format!(r#"{{"jti":"",{base}}}"#), None),
            Err("no jti")
        );
        let no_iat = r#"{"jti":"j","htm":"GET","htu":"https://api.example.com/orders","iat":"#;
        for iat in [
            "1562262616.0",
            "\"1562262616\"",
            "18446744073709551615",
            "null",
        ] {
            assert_eq!(
                check(&format!("{no_iat}{iat}}}"), None),
                Err("no integer iat"),
                "{iat}"
            );
        }
        // An escaped string is a string all the same.
        assert_eq!(
            check(&claims_with("").replace("GET", "\\u0047ET"), None),
            Ok(())
        );
        // `ath: null` is an `ath`: refused where no access token is sent, and not a match.
        assert_eq!(
            check(&claims_with(r#","ath":null"#), None),
            Err("ath without an access token")
        );
        assert_eq!(
            check(&claims_with(r#","ath":null"#), Some("t")),
            Err("ath does not match the access token")
        );
        let ath = access_token_hash("t");
        assert_eq!(
            check(&claims_with(&format!(r#","ath":"{ath}""#)), Some("t")),
            Ok(())
        );
        assert_eq!(
            check(&claims_with(&format!(r#","ath":"{ath}""#)), Some("u")),
            Err("ath does not match the access token")
        );
        assert_eq!(
            check(&claims_with(&format!(r#","ath":"{ath}=""#)), Some("t")),
            Err("ath does not match the access token")
        );
        // A large payload (beyond the stack buffer) is decoded all the same.
        let pad = "p".repeat(4000);
        assert_eq!(
            check(&claims_with(&format!(r#","pad":"{pad}""#)), None),
            Ok(())
        );
    }

    #[test]
    fn a_header_seen_before_gives_the_same_key_and_checks_every_claim_again() {
        let keys = ProofKeys::new();
        let signer = RawSigner::new();
        let check = |proof: &str, token: Option<&str>| {
            check_expected(
                proof,
                &rules(),
                Some(&keys),
                get_orders(token).into(),
                RFC_IAT,
            )
        };
        let first = check(&signer.proof(&claims_with("")), None).unwrap();
        // Another signature (ECDSA's are randomized) under the same header.
        let again = check(&signer.proof(&claims_with("")), None).unwrap();
        assert_eq!(first, again);
        assert_eq!(again.jkt, signer.jkt());
        let second = signer.proof(&claims_with("").replace("j-1", "j-2"));
        assert_eq!(
            check(&second, None).unwrap().replay,
            replay_digest(&signer.jkt(), "j-2")
        );
        let fail = |proof: &str, token| check(proof, token).unwrap_err().reason;
        assert_eq!(
            fail(&signer.proof(&claims_with("").replace("GET", "PUT")), None),
            "htm does not match the method"
        );
        assert_eq!(
            fail(&signer.proof(&claims_with("")), Some("t")),
            "ath does not match the access token"
        );
        // The header of a key that signs under it, copied by another key: its signature is
        // checked with the header's key, remembered or not.
        let thief = RawSigner::new();
        let forged = thief.sign(&signer.header, &claims_with(""));
        assert_eq!(fail(&forged, None), "signature does not verify");
        let proof = signer.proof(&claims_with(""));
        let (head, signature) = proof.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let tampered = format!("{head}.{flipped}{}", &signature[1..]);
        assert_eq!(fail(&tampered, None), "signature does not verify");
        // The token last sent with the key is remembered with its hash: a proof for one token
        // is good with that token only, whichever was sent last.
        let for_token = |token: &str| {
            let ath = access_token_hash(token);
            signer.proof(&claims_with(&format!(r#","ath":"{ath}""#)))
        };
        for (proof_for, sent) in [("t", "t"), ("t", "t"), ("u", "u"), ("t", "t"), ("u", "u")] {
            assert!(check(&for_token(proof_for), Some(sent)).is_ok());
        }
        for (proof_for, sent) in [("t", "u"), ("u", "t"), ("t", "tt"), ("t", "")] {
            assert_eq!(
                fail(&for_token(proof_for), Some(sent)),
                "ath does not match the access token"
            );
        }
        // Rules narrower than the key's algorithm refuse it even when remembered.
        let es384_only = ProofRules {
            algs: AlgSet::of(&[Algorithm::ES384]),
            ..rules()
        };
        let refused = check_expected(
            &signer.proof(&claims_with("")),
            &es384_only,
            Some(&keys),
            get_orders(None).into(),
            RFC_IAT,
        );
        assert_eq!(refused.unwrap_err().reason, "alg not allowed");
        // A header refused is not remembered, and stays refused.
        let bad_header = signer.header.replace("dpop+jwt", "JWT");
        for _ in 0..2 {
            assert_eq!(
                fail(&signer.sign(&bad_header, &claims_with("")), None),
                "typ is not dpop+jwt"
            );
        }
    }

    #[test]
    fn expected_htus_match_without_joining() {
        let base = ExternalUrl::parse("https://api.example.com/v1").unwrap();
        let expected = base.expected("/orders").unwrap();
        assert_eq!(
            expected,
            ExpectedHtu::Joined {
                base: "https://api.example.com/v1",
                path: "/orders"
            }
        );
        let htu = expected.htu();
        assert!(htu.is("https://api.example.com/v1/orders"));
        for other in [
            "https://api.example.com/v1/orders/",
            "https://api.example.com/v1/order",
            "https://api.example.com/orders",
            "https://api.example.com/v1/v1/orders",
            "https://api.example.com/v1",
            "/orders",
            "",
        ] {
            assert!(!htu.is(other), "{other}");
        }
        let odd = base.expected("/a/../%6Frders").unwrap();
        assert_eq!(
            odd,
            ExpectedHtu::Normalized("https://api.example.com/v1/orders".into())
        );
        assert!(odd.htu().is("https://api.example.com/v1/orders"));
    }

    #[test]
    fn nonces_rotate_each_step_and_the_previous_step_is_accepted() {
        let key = NonceKey::new(&[1; 32], Duration::from_secs(60));
        let nonce = key.current(600);
        assert_eq!(nonce.len(), 24);
        assert!(key.accepts(&nonce, 600));
        assert!(key.accepts(&nonce, 659));
        assert!(key.accepts(&nonce, 719));
        assert!(!key.accepts(&nonce, 720));
        assert_ne!(key.current(660), nonce);
        assert!(!NonceKey::new(&[2; 32], Duration::from_secs(60)).accepts(&nonce, 600));
        assert!(!key.accepts("short", 600));
    }
}
