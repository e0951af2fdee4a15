//! The client's side of DPoP: a key pair and the proofs it signs (RFC 9449 §4). Used by the
//! `client` module and by tests (`testing::TestIssuer`), and open to users' own tests.

pub(crate) mod signing;

use std::fmt;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::{Map, Value};

use crate::verify::dpop::{access_token_hash, jwk_thumbprint};
use signing::{Pair, SigningKey};

/// A DPoP key: an ES256 (P-256) key pair that signs proofs. Its [`thumbprint`](Self::thumbprint)
/// is the `cnf.jkt` of the tokens bound to it.
///
/// ```
/// use bearer_guard::dpop::DpopKey;
///
/// let key = DpopKey::generate();
/// let proof = key
///     .proof("GET", "https://api.example.com/orders?page=2")
///     .access_token("the.access.token")
///     .sign();
/// assert_eq!(proof.split('.').count(), 3);
/// assert_eq!(key.thumbprint().len(), 43);
/// ```
///
/// Its `Debug` shows the thumbprint, never the private key.
pub struct DpopKey {
    key: SigningKey,
    jwk: Value,
    thumbprint: String,
}

/// Why [`DpopKey::from_pkcs8`] refused a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidDpopKey;

impl fmt::Display for InvalidDpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a PKCS#8 P-256 (ES256) private key")
    }
}

impl std::error::Error for InvalidDpopKey {}

impl DpopKey {
    /// A new random key.
    ///
    /// # Panics
    /// If the system's random generator fails (aws-lc-rs does not on a working system).
    pub fn generate() -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .expect("generating a P-256 key pair");
        Self::from_pair(pair)
    }

    /// The key of a PKCS#8 DER document (a P-256 key), to keep one key across restarts.
    ///
    /// # Errors
    /// [`InvalidDpopKey`] for anything but a P-256 private key in PKCS#8.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, InvalidDpopKey> {
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map(Self::from_pair)
            .map_err(|_| InvalidDpopKey)
    }

    fn from_pair(pair: EcdsaKeyPair) -> Self {
        let key = SigningKey::new(Pair::Ec(pair));
        let jwk = key.public_jwk();
        let thumbprint = jwk_thumbprint(&jwk).expect("an EC JWK has a thumbprint");
        Self {
            key,
            jwk,
            thumbprint,
        }
    }

    /// The RFC 7638 thumbprint of the public key: the `cnf.jkt` of tokens bound to it, and
    /// the `dpop_jkt` a client may send.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The public key as a JWK (`kty`, `crv`, `x`, `y`).
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// The JWS algorithm of the proofs: `ES256`.
    pub fn algorithm(&self) -> &'static str {
        "ES256"
    }

    /// Starts a proof for a request: `htm` is `method`, `htu` is `url` without its query and
    /// fragment, `iat` is now and `jti` is 128 random bits, unless set otherwise.
    pub fn proof(&self, method: &str, url: &str) -> ProofBuilder<'_> {
        let htu = url.split(['?', '#']).next().unwrap_or(url);
        let mut claims = Map::new();
        claims.insert("jti".into(), Value::String(signing::random_id(16)));
        claims.insert("htm".into(), Value::String(method.to_owned()));
        claims.insert("htu".into(), Value::String(htu.to_owned()));
        claims.insert("iat".into(), Value::from(unix_now()));
        let mut header = Map::new();
        header.insert("typ".into(), Value::from("dpop+jwt"));
        header.insert("alg".into(), Value::from(self.algorithm()));
        header.insert("jwk".into(), self.jwk.clone());
        ProofBuilder {
            key: self,
            header,
            claims,
        }
    }
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.algorithm())
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

/// A proof being built; see [`DpopKey::proof`]. Tests can set any header member or claim,
/// including wrong ones, to see what a server answers.
#[must_use]
pub struct ProofBuilder<'k> {
    key: &'k DpopKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl ProofBuilder<'_> {
    /// `ath`: the hash of the access token sent with the proof (every request to a
    /// resource server; not at a token endpoint).
    pub fn access_token(self, token: &str) -> Self {
        self.claim("ath", access_token_hash(token))
    }

    /// `nonce`: the last `DPoP-Nonce` the server sent.
    pub fn nonce(self, nonce: &str) -> Self {
        self.claim("nonce", nonce)
    }

    /// `iat`, in seconds since the epoch (default: now).
    pub fn iat(self, iat: i64) -> Self {
        self.claim("iat", iat)
    }

    /// `jti` (default: 128 random bits, base64url).
    pub fn jti(self, jti: &str) -> Self {
        self.claim("jti", jti)
    }

    /// Sets a claim; `Value::Null` removes it.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        set(&mut self.claims, name, value.into());
        self
    }

    /// Sets a JOSE header member; `Value::Null` removes it. The signature is made with the
    /// key whatever `alg` says.
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        set(&mut self.header, name, value.into());
        self
    }

    /// The compact JWS to send in the `DPoP` header.
    ///
    /// # Panics
    /// If signing fails (aws-lc-rs does not on a working system).
    pub fn sign(self) -> String {
        self.key
            .key
            .sign_compact(&Value::Object(self.header), &Value::Object(self.claims))
    }
}

impl fmt::Debug for ProofBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofBuilder").finish_non_exhaustive()
    }
}

fn set(map: &mut Map<String, Value>, name: &str, value: Value) {
    if value.is_null() {
        map.remove(name);
    } else {
        map.insert(name.to_owned(), value);
    }
}

fn unix_now() -> i64 {
    crate::verify::validator::now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::dpop::{ProofRules, ProofTarget, check_proof};

    #[test]
    fn proofs_pass_the_checks_of_the_guard() {
        let key = DpopKey::generate();
        let proof = key
            .proof("POST", "https://api.example.com/orders?x=1#y")
            .access_token("tok")
            .sign();
        let rules = ProofRules::default();
        let target = ProofTarget {
            method: "POST",
            htu: "https://api.example.com/orders",
            access_token: Some("tok"),
        };
        let checked = check_proof(&proof, &rules, target, unix_now()).unwrap();
        assert_eq!(checked.jkt, key.thumbprint());
        let again = key
            .proof("POST", "https://api.example.com/orders")
            .access_token("tok")
            .sign();
        let second = check_proof(&again, &rules, target, unix_now()).unwrap();
        assert_ne!(checked.replay, second.replay, "each proof has its own jti");
    }

    #[test]
    fn a_key_survives_pkcs8_and_debug_hides_it() {
        let doc = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .unwrap()
            .to_pkcs8v1()
            .unwrap();
        let a = DpopKey::from_pkcs8(doc.as_ref()).unwrap();
        let b = DpopKey::from_pkcs8(doc.as_ref()).unwrap();
        assert_eq!(a.thumbprint(), b.thumbprint());
        assert_eq!(DpopKey::from_pkcs8(b"nope").unwrap_err(), InvalidDpopKey);
        let debug = format!("{a:?}");
        assert!(
            debug.contains(a.thumbprint()) && !debug.contains("pair"),
            "{debug}"
        );
    }
}
