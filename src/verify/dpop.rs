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

use std::fmt;
use std::time::Duration;

use aws_lc_rs::{constant_time, digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ErrorKind;
use crate::jwks::key::{AlgSet, VerifyingKey, jwk_material, parse_alg};
use crate::verify::json::StrictObject;
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
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(jkt.as_bytes());
    // The thumbprint has a fixed length; the separator keeps the encoding unambiguous anyway.
    context.update(&[0]);
    context.update(jti.as_bytes());
    let mut out = [0; 32];
    out.copy_from_slice(context.finish().as_ref());
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
    pub(crate) fn for_path(&self, path: &str) -> Option<String> {
        let mut joined = String::with_capacity(self.base.len() + path.len() + 1);
        joined.push_str(&self.base);
        if !path.starts_with('/') {
            joined.push('/');
        }
        joined.push_str(path);
        // Most paths are normal already: no percent-encoding to case or decode, no dot
        // segments, only characters `url` leaves as they are. The others are normalized.
        if is_normal_path(path) {
            Some(joined)
        } else {
            normalize_htu(&joined)
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
    /// The normalized `htu` expected (see [`ExternalUrl::for_path`]).
    pub(crate) htu: &'a str,
    /// The access token sent with the proof, whose hash `ath` must carry; `None` at a token
    /// endpoint, where a proof carries no `ath`.
    pub(crate) access_token: Option<&'a str>,
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
pub(crate) fn check_proof(
    proof: &str,
    rules: &ProofRules,
    target: ProofTarget<'_>,
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
    let key = proof_key(jwk, alg)?;
    if signature.is_empty() || !is_base64url(signature) {
        return Err(invalid("malformed signature"));
    }
    let signing_input = &proof.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verify(signing_input, signature, alg) {
        return Err(invalid("signature does not verify"));
    }
    let StrictObject(claims) = decode_json(payload_b64).map_err(|_| invalid("malformed claims"))?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|jti| !jti.is_empty())
        .ok_or(invalid("no jti"))?;
    if jti.len() > rules.max_jti_bytes {
        return Err(invalid("jti too long"));
    }
    if claims.get("htm").and_then(Value::as_str) != Some(target.method) {
        return Err(invalid("htm does not match the method"));
    }
    let htu = claims
        .get("htu")
        .and_then(Value::as_str)
        .ok_or(invalid("no htu"))?;
    // The common case, a client that sends the URL as configured, needs no parsing.
    if htu != target.htu && normalize_htu(htu).as_deref() != Some(target.htu) {
        return Err(invalid("htu does not match the URL"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(invalid("no integer iat"))?;
    if iat.abs_diff(now) > rules.window_secs.unsigned_abs() {
        return Err(invalid("iat outside the window"));
    }
    if let Some(nonces) = &rules.nonces {
        let fresh = claims
            .get("nonce")
            .and_then(Value::as_str)
            .is_some_and(|nonce| nonces.accepts(nonce, now));
        if !fresh {
            return Err(ProofFailure {
                kind: ErrorKind::DpopNonceRequired,
                reason: "nonce missing or stale",
            });
        }
    }
    match (target.access_token, claims.get("ath")) {
        (None, None) => {}
        (Some(token), Some(Value::String(ath)))
            if constant_time::verify_slices_are_equal(
                ath.as_bytes(),
                access_token_hash(token).as_bytes(),
            )
            .is_ok() => {}
        (None, Some(_)) => return Err(invalid("ath without an access token")),
        (Some(_), _) => return Err(invalid("ath does not match the access token")),
    }
    let jkt = thumbprint(jwk).map_err(|_| invalid("jwk has no thumbprint"))?;
    Ok(CheckedProof {
        replay: replay_digest(&jkt, jti),
        jkt,
        iat,
    })
}

/// The proof's key, prepared for its `alg` only.
fn proof_key(jwk: &Map<String, Value>, alg: Algorithm) -> Result<VerifyingKey, ProofFailure> {
    let (fits, material) = jwk_material(jwk).map_err(|_| invalid("unusable jwk"))?;
    if !fits.contains(alg) {
        return Err(invalid("alg does not fit the jwk"));
    }
    VerifyingKey::new(None, AlgSet::of(&[alg]), material).map_err(|_| invalid("unusable jwk"))
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
