//! JWK → verifying key (RFC 7517, RFC 7518 §6), and choosing the key for a token.
//!
//! Each JWK is judged on its own: one with an unknown `kty`/`crv`/`alg`, `use` other than
//! `sig`, `key_ops` without `verify`, an RSA modulus under 2048 bits, or malformed members is
//! skipped, and the rest of the set is used. Symmetric (`oct`) keys are never taken from a
//! JWKS: HMAC with a published key would be forgeable by anyone (alg confusion).
//!
//! The work a set costs is bounded whatever it holds: only its first [`MAX_INSPECTED`] entries
//! are looked at (the rest are skipped over as JSON, never parsed as keys), at most
//! [`MAX_KEYS`] usable keys are kept, and a load logs one `warn` line that counts what was
//! skipped, by reason, plus a `debug` line for each of the first few skipped keys.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{
    self, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents, VerificationAlgorithm,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::de::{Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The most keys taken from one set; the entries after the 64th usable key are ignored.
pub(crate) const MAX_KEYS: usize = 64;
/// The most JWK entries looked at in one set: the first ones, in document order. A usable key
/// after them is not used: identity providers publish a handful of keys, and a set of
/// thousands is a mistake or an attack that must not cost a key parse per entry.
pub(crate) const MAX_INSPECTED: usize = 256;
/// Skipped keys described one by one, at `debug`; the `warn` summary counts them all.
const MAX_SKIPS_DESCRIBED: usize = 8;
/// The most keys tried for a token without `kid`.
pub(crate) const MAX_KEYS_WITHOUT_KID: usize = 8;
/// Smallest RSA modulus accepted (RFC 7518 §3.3).
const MIN_RSA_BITS: usize = 2048;

/// A set of algorithms, as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct AlgSet(u16);

impl AlgSet {
    pub(crate) const RSA: Self = Self::of(&[
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ]);
    pub(crate) const HMAC: Self = Self::of(&[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]);

    pub(crate) const fn of(algs: &[Algorithm]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < algs.len() {
            bits |= bit(algs[i]);
            i += 1;
        }
        Self(bits)
    }

    pub(crate) const fn contains(self, alg: Algorithm) -> bool {
        self.0 & bit(alg) != 0
    }

    pub(crate) const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    pub(crate) const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub(crate) const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub(crate) const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

const fn bit(alg: Algorithm) -> u16 {
    1 << match alg {
        Algorithm::HS256 => 0,
        Algorithm::HS384 => 1,
        Algorithm::HS512 => 2,
        Algorithm::ES256 => 3,
        Algorithm::ES384 => 4,
        Algorithm::RS256 => 5,
        Algorithm::RS384 => 6,
        Algorithm::RS512 => 7,
        Algorithm::PS256 => 8,
        Algorithm::PS384 => 9,
        Algorithm::PS512 => 10,
        Algorithm::EdDSA => 11,
        // Algorithms added to jsonwebtoken later are in no set until named here.
        _ => return 0,
    }
}

/// The JOSE name of an algorithm, exactly as spelled in RFC 7518 / RFC 8037.
pub(crate) fn parse_alg(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        _ => return None,
    })
}

/// A public key (or the configured HMAC secret) ready to verify, with what it may verify.
#[derive(Clone)]
pub(crate) struct VerifyingKey {
    pub(crate) kid: Option<Box<str>>,
    /// Algorithms this key may verify: its type's (and curve's), narrowed by the JWK's `alg`.
    pub(crate) algs: AlgSet,
    pub(crate) key: DecodingKey,
    /// The key prepared once per algorithm it may verify, for aws-lc directly. jsonwebtoken's
    /// `verify` rebuilds the key from its bytes on every call (about 3 µs of a 28 µs RS256
    /// check), and goes through its process-wide `CryptoProvider`, which panics on every call
    /// when another crate in the build turns on jsonwebtoken's `rust_crypto` feature.
    parsed: Box<[(Algorithm, Prepared)]>,
}

#[derive(Clone)]
enum Prepared {
    Public(ParsedPublicKey),
    /// Boxed: an aws-lc HMAC context is over a kilobyte, and there is one per issuer.
    Hmac(Box<hmac::Key>),
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("algs", &self.algs)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// A key for `algs`, parsed now for each asymmetric one.
    ///
    /// # Errors
    /// [`SkipReason::InvalidKey`] when the crypto library refuses the key material (an EC
    /// point off its curve, say): better found when the set is loaded than at each request.
    pub(crate) fn new(
        kid: Option<Box<str>>,
        algs: AlgSet,
        key: DecodingKey,
    ) -> Result<Self, SkipReason> {
        use jsonwebtoken::DecodingKeyKind::{RsaModulusExponent, SecretOrDer};
        let mut parsed = Vec::new();
        for alg in ASYMMETRIC.into_iter().filter(|alg| algs.contains(*alg)) {
            let key = match (key.kind(), aws_lc_algorithm(alg)) {
                (RsaModulusExponent { n, e }, Verifier::Rsa(params)) => {
                    RsaPublicKeyComponents { n, e }.to_parsed_public_key(params)
                }
                (SecretOrDer(bytes), Verifier::Other(algorithm)) => {
                    ParsedPublicKey::new(algorithm, bytes)
                }
                _ => return Err(SkipReason::InvalidKey),
            };
            let key = key.map_err(|_| SkipReason::InvalidKey)?;
            parsed.push((alg, Prepared::Public(key)));
        }
        Ok(Self {
            kid,
            algs,
            key,
            parsed: parsed.into_boxed_slice(),
        })
    }

    /// The configured HMAC secret, for those of HS256/384/512 that `algs` holds.
    pub(crate) fn hmac(secret: &[u8], algs: AlgSet) -> Self {
        let parsed = [
            (Algorithm::HS256, hmac::HMAC_SHA256),
            (Algorithm::HS384, hmac::HMAC_SHA384),
            (Algorithm::HS512, hmac::HMAC_SHA512),
        ]
        .into_iter()
        .filter(|(alg, _)| algs.contains(*alg))
        .map(|(alg, digest)| {
            (
                alg,
                Prepared::Hmac(Box::new(hmac::Key::new(digest, secret))),
            )
        })
        .collect();
        Self {
            kid: None,
            algs: algs.intersection(AlgSet::HMAC),
            key: DecodingKey::from_secret(secret),
            parsed,
        }
    }

    /// Verifies `signature` (base64url) over `message` with `alg`.
    pub(crate) fn verify(&self, message: &[u8], signature: &str, alg: Algorithm) -> bool {
        if !self.algs.contains(alg) {
            return false;
        }
        let Some((_, key)) = self.parsed.iter().find(|(a, _)| *a == alg) else {
            return false;
        };
        // Large enough for an RSA-8192 signature, the largest aws-lc verifies.
        let mut decoded = [0u8; 1024];
        let Ok(len) = URL_SAFE_NO_PAD.decode_slice(signature, &mut decoded) else {
            return false;
        };
        let decoded = &decoded[..len];
        match key {
            Prepared::Public(key) => key.verify_sig(message, decoded).is_ok(),
            // Recomputes the tag and compares in constant time.
            Prepared::Hmac(key) => hmac::verify(key, message, decoded).is_ok(),
        }
    }

    /// The same key: equal `kid`, algorithms and key material. A refreshed set rebuilds its
    /// keys, so identity has to be decided by content.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        use jsonwebtoken::DecodingKeyKind::{RsaModulusExponent, SecretOrDer};
        let same_material = match (self.key.kind(), other.key.kind()) {
            (SecretOrDer(a), SecretOrDer(b)) => a == b,
            (RsaModulusExponent { n, e }, RsaModulusExponent { n: n2, e: e2 }) => {
                n == n2 && e == e2
            }
            _ => false,
        };
        self.kid == other.kid
            && self.algs == other.algs
            && self.key.family() == other.key.family()
            && same_material
    }
}

/// Why a JWK was skipped; logged, never sent to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkipReason {
    NotAnObject,
    UnsupportedKeyType,
    SymmetricKey,
    UnsupportedCurve,
    UnsupportedAlgorithm,
    AlgorithmDoesNotFitKey,
    NotForSignatures,
    NoVerifyOperation,
    BadMember(&'static str),
    RsaKeyTooSmall,
    InvalidKey,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnObject => f.write_str("not an object"),
            Self::UnsupportedKeyType => f.write_str("unsupported kty"),
            Self::SymmetricKey => f.write_str("symmetric key"),
            Self::UnsupportedCurve => f.write_str("unsupported crv"),
            Self::UnsupportedAlgorithm => f.write_str("unsupported alg"),
            Self::AlgorithmDoesNotFitKey => f.write_str("alg does not fit the key"),
            Self::NotForSignatures => f.write_str("use is not sig"),
            Self::NoVerifyOperation => f.write_str("key_ops without verify"),
            Self::BadMember(name) => write!(f, "missing or bad {name}"),
            Self::RsaKeyTooSmall => f.write_str("RSA modulus under 2048 bits"),
            Self::InvalidKey => f.write_str("key material refused"),
        }
    }
}

/// Skipped keys, counted by reason, for the one summary line of a load.
#[derive(Debug, Default)]
struct Skipped {
    count: usize,
    /// Few distinct reasons exist, so a list is enough.
    by_reason: Vec<(SkipReason, usize)>,
}

impl Skipped {
    fn add(&mut self, reason: SkipReason) {
        self.count += 1;
        match self.by_reason.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.by_reason.push((reason, 1)),
        }
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (reason, n)) in self.by_reason.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            write!(f, "{separator}{reason}: {n}")?;
        }
        Ok(())
    }
}

/// A JWKS document as far as it is read: the first [`MAX_INSPECTED`] entries of `keys` and how
/// many there are in all. Other members are ignored.
#[derive(serde::Deserialize)]
struct Document {
    keys: FirstEntries,
}

struct FirstEntries {
    entries: Vec<Value>,
    total: usize,
}

impl<'de> Deserialize<'de> for FirstEntries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = FirstEntries;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of JWKs")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstEntries, A::Error> {
                let mut entries = Vec::new();
                while entries.len() < MAX_INSPECTED {
                    match seq.next_element::<Value>()? {
                        Some(entry) => entries.push(entry),
                        None => {
                            let total = entries.len();
                            return Ok(FirstEntries { entries, total });
                        }
                    }
                }
                // Past the bound, entries are only skipped over: checked as JSON, never built.
                let mut total = entries.len();
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    total += 1;
                }
                Ok(FirstEntries { entries, total })
            }
        }
        deserializer.deserialize_seq(Entries)
    }
}

/// The asymmetric algorithms, each verified with a pre-parsed key.
pub(crate) const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

enum Verifier {
    Rsa(&'static RsaParameters),
    Other(&'static dyn VerificationAlgorithm),
}

/// aws-lc's verification algorithm for a JWS `alg` (RFC 7518 §3): PKCS#1 v1.5 and PSS with
/// 2048 to 8192-bit moduli, ECDSA with fixed-size `r ‖ s` signatures, Ed25519.
fn aws_lc_algorithm(alg: Algorithm) -> Verifier {
    match alg {
        Algorithm::RS256 => Verifier::Rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => Verifier::Rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => Verifier::Rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => Verifier::Rsa(&signature::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => Verifier::Rsa(&signature::RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => Verifier::Rsa(&signature::RSA_PSS_2048_8192_SHA512),
        Algorithm::ES256 => Verifier::Other(&signature::ECDSA_P256_SHA256_FIXED),
        Algorithm::ES384 => Verifier::Other(&signature::ECDSA_P384_SHA384_FIXED),
        _ => Verifier::Other(&signature::ED25519),
    }
}

/// Turns one JWK into a verifying key, or says why it cannot be used.
pub(crate) fn parse_jwk(jwk: &Value) -> Result<VerifyingKey, SkipReason> {
    let jwk = jwk.as_object().ok_or(SkipReason::NotAnObject)?;
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(Box::from(kid.as_str())),
        Some(_) => return Err(SkipReason::BadMember("kid")),
    };
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(Value::String(_)) => return Err(SkipReason::NotForSignatures),
        Some(_) => return Err(SkipReason::BadMember("use")),
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops.as_array().ok_or(SkipReason::BadMember("key_ops"))?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err(SkipReason::NoVerifyOperation);
        }
    }
    let (type_algs, key) = jwk_material(jwk)?;
    let algs = match jwk.get("alg") {
        None => type_algs,
        Some(Value::String(name)) => {
            let alg = parse_alg(name).ok_or(SkipReason::UnsupportedAlgorithm)?;
            if !type_algs.contains(alg) {
                return Err(SkipReason::AlgorithmDoesNotFitKey);
            }
            AlgSet::of(&[alg])
        }
        Some(_) => return Err(SkipReason::BadMember("alg")),
    };
    VerifyingKey::new(kid, algs, key)
}

/// The public key material of a JWK and the algorithms its type (and curve) allows.
pub(crate) fn jwk_material(jwk: &Map<String, Value>) -> Result<(AlgSet, DecodingKey), SkipReason> {
    match string_member(jwk, "kty")? {
        "RSA" => rsa_key(jwk),
        "EC" => ec_key(jwk),
        "OKP" => okp_key(jwk),
        "oct" => Err(SkipReason::SymmetricKey),
        _ => Err(SkipReason::UnsupportedKeyType),
    }
}

fn string_member<'a>(
    jwk: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, SkipReason> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or(SkipReason::BadMember(name))
}

fn bytes_member(jwk: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, SkipReason> {
    URL_SAFE_NO_PAD
        .decode(string_member(jwk, name)?)
        .map_err(|_| SkipReason::BadMember(name))
}

fn rsa_key(jwk: &Map<String, Value>) -> Result<(AlgSet, DecodingKey), SkipReason> {
    let n = bytes_member(jwk, "n")?;
    let e = bytes_member(jwk, "e")?;
    let significant = n.iter().skip_while(|b| **b == 0).count();
    if significant * 8 < MIN_RSA_BITS {
        return Err(SkipReason::RsaKeyTooSmall);
    }
    if e.is_empty() || e.len() > 8 {
        return Err(SkipReason::BadMember("e"));
    }
    Ok((AlgSet::RSA, DecodingKey::from_rsa_raw_components(&n, &e)))
}

fn ec_key(jwk: &Map<String, Value>) -> Result<(AlgSet, DecodingKey), SkipReason> {
    let (alg, len) = match string_member(jwk, "crv")? {
        "P-256" => (Algorithm::ES256, 32),
        "P-384" => (Algorithm::ES384, 48),
        _ => return Err(SkipReason::UnsupportedCurve),
    };
    let x = bytes_member(jwk, "x")?;
    let y = bytes_member(jwk, "y")?;
    if x.len() != len {
        return Err(SkipReason::BadMember("x"));
    }
    if y.len() != len {
        return Err(SkipReason::BadMember("y"));
    }
    // Uncompressed SEC1 point: 0x04 ‖ x ‖ y.
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok((AlgSet::of(&[alg]), DecodingKey::from_ec_der(&point)))
}

fn okp_key(jwk: &Map<String, Value>) -> Result<(AlgSet, DecodingKey), SkipReason> {
    if string_member(jwk, "crv")? != "Ed25519" {
        return Err(SkipReason::UnsupportedCurve);
    }
    let x = bytes_member(jwk, "x")?;
    if x.len() != 32 {
        return Err(SkipReason::BadMember("x"));
    }
    Ok((
        AlgSet::of(&[Algorithm::EdDSA]),
        DecodingKey::from_ed_der(&x),
    ))
}

/// The usable keys of one issuer. Immutable: a change is a new set, swapped in whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
}

/// A JWKS document that cannot serve at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeySetError {
    /// Not JSON, or no `keys` array.
    Malformed,
    /// Parsed, but not one key is usable.
    NoUsableKey,
}

impl KeySet {
    /// Parses a JWKS document: the usable keys among its first [`MAX_INSPECTED`] entries, at
    /// most [`MAX_KEYS`] of them. Whatever is skipped or not looked at is counted in one
    /// `warn` line.
    pub(crate) fn from_jwks(document: &[u8], issuer: &str) -> Result<Self, KeySetError> {
        // Only an object: a derived struct would also accept a JSON array.
        if document.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(KeySetError::Malformed);
        }
        let Document {
            keys: FirstEntries { entries, total },
        } = serde_json::from_slice(document).map_err(|_| KeySetError::Malformed)?;
        let mut keys = Vec::with_capacity(entries.len().min(MAX_KEYS));
        let mut skipped = Skipped::default();
        let mut inspected = 0;
        for (index, jwk) in entries.iter().enumerate() {
            if keys.len() == MAX_KEYS {
                break;
            }
            inspected += 1;
            match parse_jwk(jwk) {
                Ok(key) => keys.push(Arc::new(key)),
                Err(reason) => {
                    if skipped.count < MAX_SKIPS_DESCRIBED {
                        let kid = jwk.get("kid").and_then(Value::as_str);
                        tracing::debug!(issuer, index, kid, %reason, "skipping unusable JWK");
                    }
                    skipped.add(reason);
                }
            }
        }
        let not_inspected = total - inspected;
        if skipped.count > 0 || not_inspected > 0 {
            tracing::warn!(
                issuer,
                entries = total,
                usable = keys.len(),
                skipped = skipped.count,
                reasons = %skipped,
                not_inspected,
                max_inspected = MAX_INSPECTED,
                max_keys = MAX_KEYS,
                "JWKS entries skipped as unusable, or not inspected past the limits"
            );
        }
        if keys.is_empty() {
            return Err(KeySetError::NoUsableKey);
        }
        Ok(Self { keys })
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// How many kids this set has that `previous` lacks, and the reverse.
    pub(crate) fn kid_changes(&self, previous: &KeySet) -> (usize, usize) {
        let kids = |set: &KeySet| -> Vec<Option<Box<str>>> {
            set.keys.iter().map(|k| k.kid.clone()).collect()
        };
        let (new, old) = (kids(self), kids(previous));
        let added = new.iter().filter(|k| !old.contains(k)).count();
        let removed = old.iter().filter(|k| !new.contains(k)).count();
        (added, removed)
    }

    /// Whether this set still holds `key` (the same one, or one equal to it).
    pub(crate) fn contains(&self, key: &VerifyingKey) -> bool {
        self.keys
            .iter()
            .any(|k| std::ptr::eq(&**k, key) || k.same_as(key))
    }

    /// Whether any key carries this `kid` (whatever its type).
    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The keys that may verify a token with this `kid` and `alg`: exact `kid` match (a kid is
    /// an opaque string), narrowed by algorithm; without `kid`, the first few alg-compatible keys.
    pub(crate) fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a Arc<VerifyingKey>> + 'a {
        let limit = if kid.is_some() {
            MAX_KEYS
        } else {
            MAX_KEYS_WITHOUT_KID
        };
        self.keys
            .iter()
            .filter(move |k| k.algs.contains(alg) && (kid.is_none() || k.kid.as_deref() == kid))
            .take(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // RFC 7515 appendix A.2: RS256.
    const A2_JWK: &str = r#"{"kty":"RSA",
      "n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
      "e":"AQAB"}"#;
    const A2_SIGNING_INPUT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const A2_SIGNATURE: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

    // RFC 7515 appendix A.3: ES256.
    const A3_JWK: &str = r#"{"kty":"EC","crv":"P-256",
      "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
      "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    const A3_SIGNING_INPUT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const A3_SIGNATURE: &str =
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

    fn key(jwk: &str) -> Result<VerifyingKey, SkipReason> {
        parse_jwk(&serde_json::from_str(jwk).unwrap())
    }

    #[test]
    fn rfc7515_a2_rs256_verifies_and_tampering_fails() {
        let k = key(A2_JWK).unwrap();
        assert!(k.verify(A2_SIGNING_INPUT.as_bytes(), A2_SIGNATURE, Algorithm::RS256));
        let mut tampered = A2_SIGNING_INPUT.to_owned();
        tampered.push('x');
        assert!(!k.verify(tampered.as_bytes(), A2_SIGNATURE, Algorithm::RS256));
        // The same signature claimed as PS256 fails: the alg decides the padding.
        assert!(!k.verify(A2_SIGNING_INPUT.as_bytes(), A2_SIGNATURE, Algorithm::PS256));
    }

    #[test]
    fn rfc7515_a3_es256_verifies_and_is_bound_to_its_curve() {
        let k = key(A3_JWK).unwrap();
        assert!(k.verify(A3_SIGNING_INPUT.as_bytes(), A3_SIGNATURE, Algorithm::ES256));
        assert!(!k.verify(A3_SIGNING_INPUT.as_bytes(), A3_SIGNATURE, Algorithm::ES384));
        assert!(!k.verify(A3_SIGNING_INPUT.as_bytes(), A3_SIGNATURE, Algorithm::RS256));
    }

    #[test]
    fn rfc7515_a1_hs256_verifies_with_aws_lc_and_tampering_fails() {
        let secret = URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        let input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let signature = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let k = VerifyingKey::hmac(&secret, AlgSet::of(&[Algorithm::HS256, Algorithm::RS256]));
        assert_eq!(
            k.algs,
            AlgSet::of(&[Algorithm::HS256]),
            "HMAC algorithms only"
        );
        assert!(k.verify(input.as_bytes(), signature, Algorithm::HS256));
        assert!(!k.verify(b"x", signature, Algorithm::HS256));
        assert!(!k.verify(input.as_bytes(), &signature[..20], Algorithm::HS256));
        assert!(!k.verify(input.as_bytes(), "", Algorithm::HS256));
        // Not enabled for this key, so not tried.
        assert!(!k.verify(input.as_bytes(), signature, Algorithm::HS384));
    }

    #[test]
    fn rfc7515_a1_hmac_key_is_never_taken_from_a_jwks() {
        // RFC 7515 A.1's symmetric key, as published.
        let jwk = r#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;
        assert_eq!(key(jwk).unwrap_err(), SkipReason::SymmetricKey);
    }

    #[test]
    fn each_key_is_judged_alone() {
        let doc = json!({"keys": [
            {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
            {"kty": "EC", "crv": "P-256", "use": "enc", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "crv": "P-256", "key_ops": ["encrypt"], "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "crv": "P-256", "alg": "ES384", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "XYZ"},
            "not an object",
            {"kty": "EC", "crv": "P-256", "kid": "good", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]});
        let set = KeySet::from_jwks(doc.to_string().as_bytes(), "test").unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.has_kid("good"));
    }

    #[test]
    fn rejection_reasons() {
        let cases = [
            (
                json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
                SkipReason::RsaKeyTooSmall,
            ),
            (
                json!({"kty": "OKP", "crv": "X25519", "x": "AA"}),
                SkipReason::UnsupportedCurve,
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}),
                SkipReason::BadMember("x"),
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "alg": "HS256"}),
                SkipReason::AlgorithmDoesNotFitKey,
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "alg": "none"}),
                SkipReason::UnsupportedAlgorithm,
            ),
            (json!({"kid": 5, "kty": "EC"}), SkipReason::BadMember("kid")),
            // RFC 7515 A.3's point with y altered: off the curve.
            (
                json!({"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "y_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}),
                SkipReason::InvalidKey,
            ),
        ];
        for (jwk, reason) in cases {
            assert_eq!(parse_jwk(&jwk).unwrap_err(), reason, "{jwk}");
        }
    }

    #[test]
    fn a_set_without_usable_keys_or_keys_array_is_an_error() {
        assert_eq!(
            KeySet::from_jwks(b"{\"keys\":[]}", "t").unwrap_err(),
            KeySetError::NoUsableKey
        );
        assert_eq!(
            KeySet::from_jwks(b"<html>", "t").unwrap_err(),
            KeySetError::Malformed
        );
        assert_eq!(
            KeySet::from_jwks(b"{}", "t").unwrap_err(),
            KeySetError::Malformed
        );
    }

    /// Counts the events at each level logged on this thread while `f` runs.
    fn logs<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        #[derive(Default)]
        struct Count {
            warn: AtomicUsize,
            debug: AtomicUsize,
        }
        struct Counter(Arc<Count>);
        impl tracing::Subscriber for Counter {
            fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
                tracing::span::Id::from_u64(1)
            }
            fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
            fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
            fn event(&self, event: &tracing::Event<'_>) {
                match *event.metadata().level() {
                    tracing::Level::WARN => self.0.warn.fetch_add(1, Ordering::SeqCst),
                    tracing::Level::DEBUG => self.0.debug.fetch_add(1, Ordering::SeqCst),
                    _ => 0,
                };
            }
            fn enter(&self, _: &tracing::span::Id) {}
            fn exit(&self, _: &tracing::span::Id) {}
        }
        let count = Arc::new(Count::default());
        // Interest is cached per call site across threads: rebuilt inside, so that another
        // test's thread, which saw no subscriber, cannot have muted our events.
        let result = tracing::subscriber::with_default(Counter(Arc::clone(&count)), || {
            tracing::callsite::rebuild_interest_cache();
            f()
        });
        let warn = count.warn.load(Ordering::SeqCst);
        (result, warn, count.debug.load(Ordering::SeqCst))
    }

    /// `unusable` keys of three kinds, with the A.3 key (kid `good`) at `good_at`.
    fn crowded_jwks(unusable: usize, good_at: usize) -> Vec<u8> {
        let mut good: Value = serde_json::from_str(A3_JWK).unwrap();
        good["kid"] = json!("good");
        let mut keys: Vec<Value> = (0..unusable)
            .map(|i| match i % 3 {
                0 => json!({"kty": "XYZ", "kid": format!("k{i}")}),
                1 => json!({"kty": "oct", "k": "AA"}),
                _ => json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            })
            .collect();
        keys.insert(good_at, good);
        json!({ "keys": keys }).to_string().into_bytes()
    }

    #[test]
    fn thousands_of_unusable_keys_cost_bounded_work_and_one_warning() {
        // The good key among the first MAX_INSPECTED entries: used.
        for good_at in [0, 100, MAX_INSPECTED - 1] {
            let doc = crowded_jwks(10_000, good_at);
            let (set, warn, debug) = logs(|| KeySet::from_jwks(&doc, "t"));
            let set = set.expect("the good key is used");
            assert_eq!(set.len(), 1);
            assert!(set.has_kid("good"));
            assert_eq!(warn, 1, "one summary line");
            assert!(debug <= MAX_SKIPS_DESCRIBED, "{debug} debug lines");
        }
        // Past them: not even looked at.
        for good_at in [MAX_INSPECTED, 10_000] {
            let doc = crowded_jwks(10_000, good_at);
            let (set, warn, debug) = logs(|| KeySet::from_jwks(&doc, "t"));
            assert_eq!(set.unwrap_err(), KeySetError::NoUsableKey);
            assert_eq!(warn, 1, "one summary line");
            assert!(debug <= MAX_SKIPS_DESCRIBED, "{debug} debug lines");
        }
        // A clean set logs nothing.
        let (set, warn, _) = logs(|| KeySet::from_jwks(&crowded_jwks(0, 0), "t"));
        assert_eq!(set.unwrap().len(), 1);
        assert_eq!(warn, 0);
        // Reasons are counted, not listed one by one.
        let mut skipped = Skipped::default();
        for reason in [
            SkipReason::SymmetricKey,
            SkipReason::BadMember("x"),
            SkipReason::SymmetricKey,
        ] {
            skipped.add(reason);
        }
        assert_eq!(skipped.to_string(), "symmetric key: 2, missing or bad x: 1");
    }

    #[test]
    fn at_most_max_keys_usable_keys_are_kept() {
        let mut jwk: Value = serde_json::from_str(A3_JWK).unwrap();
        let keys: Vec<Value> = (0..MAX_KEYS + 10)
            .map(|i| {
                jwk["kid"] = json!(format!("k{i}"));
                jwk.clone()
            })
            .collect();
        let doc = json!({ "keys": keys }).to_string();
        let (set, warn, _) = logs(|| KeySet::from_jwks(doc.as_bytes(), "t"));
        assert_eq!(set.unwrap().len(), MAX_KEYS);
        assert_eq!(warn, 1);
        assert_eq!(
            KeySet::from_jwks(b"[{\"keys\": []}]", "t").unwrap_err(),
            KeySetError::Malformed
        );
    }

    #[test]
    fn candidates_match_kid_exactly_and_filter_by_alg() {
        let ec: Value = serde_json::from_str(A3_JWK).unwrap();
        let rsa: Value = serde_json::from_str(A2_JWK).unwrap();
        let mut a = ec.clone();
        a["kid"] = json!("k1");
        let mut b = rsa.clone();
        b["kid"] = json!("k1");
        let set = KeySet::from_jwks(json!({"keys": [a, b]}).to_string().as_bytes(), "t").unwrap();
        assert_eq!(set.candidates(Some("k1"), Algorithm::ES256).count(), 1);
        assert_eq!(set.candidates(Some("k1"), Algorithm::RS256).count(), 1);
        assert_eq!(set.candidates(Some("K1"), Algorithm::RS256).count(), 0);
        assert_eq!(set.candidates(None, Algorithm::EdDSA).count(), 0);
        assert_eq!(set.candidates(None, Algorithm::PS256).count(), 1);
    }
}
