//! Signing keys of the test issuer: generated at run time with aws-lc-rs, published as JWKs,
//! used to sign compact JWS.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

#[cfg(test)]
use crate::dpop_key::signing::b64;
pub(crate) use crate::dpop_key::signing::random_id;
use crate::dpop_key::signing::{Pair, SigningKey};

/// The kind of a test issuer's signing key, and the JWS algorithm it signs with.
///
/// Keys are generated when asked for (RSA keys are 2048 bits), never read from files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA 2048 with RSASSA-PKCS1-v1_5 and SHA-256 (`RS256`), the most common choice.
    #[default]
    Rs256,
    /// RSA 2048 with RSASSA-PSS and SHA-256 (`PS256`).
    Ps256,
    /// ECDSA on P-256 with SHA-256 (`ES256`).
    Es256,
    /// ECDSA on P-384 with SHA-384 (`ES384`).
    Es384,
    /// Ed25519 (`EdDSA`, RFC 8037).
    EdDsa,
}

impl KeyAlgorithm {
    /// The JOSE name, as written in a token's `alg` header and a JWK's `alg`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithm as [`crate::Algorithm`] (for [`Issuer::algorithms`](crate::Issuer::algorithms)).
    pub fn algorithm(self) -> crate::Algorithm {
        match self {
            Self::Rs256 => crate::Algorithm::RS256,
            Self::Ps256 => crate::Algorithm::PS256,
            Self::Es256 => crate::Algorithm::ES256,
            Self::Es384 => crate::Algorithm::ES384,
            Self::EdDsa => crate::Algorithm::EdDSA,
        }
    }

    /// Prefix of the key ids generated for this algorithm.
    fn kid_prefix(self) -> &'static str {
        match self {
            Self::Rs256 => "rs256",
            Self::Ps256 => "ps256",
            Self::Es256 => "es256",
            Self::Es384 => "es384",
            Self::EdDsa => "eddsa",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A private key with its id and algorithm.
pub(crate) struct TestKey {
    pub(crate) kid: String,
    pub(crate) alg: KeyAlgorithm,
    key: SigningKey,
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl TestKey {
    /// Generates a key; `serial` makes the kid unique within one issuer.
    pub(crate) fn generate(alg: KeyAlgorithm, serial: u32) -> Self {
        Self::generate_with_kid(alg, format!("{}-{serial}", alg.kid_prefix()))
    }

    /// Generates a key with this kid.
    ///
    /// # Panics
    /// If aws-lc-rs cannot generate a key (it does not fail on a working system).
    pub(crate) fn generate_with_kid(alg: KeyAlgorithm, kid: String) -> Self {
        let failed = |_| -> Pair { panic!("TestIssuer: generating a {alg} key failed") };
        let pair = match alg {
            KeyAlgorithm::Rs256 | KeyAlgorithm::Ps256 => rsa_key_pair().map(Pair::Rsa),
            KeyAlgorithm::Es256 => {
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map(Pair::Ec)
            }
            KeyAlgorithm::Es384 => {
                EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).map(Pair::Ec)
            }
            KeyAlgorithm::EdDsa => Ed25519KeyPair::generate().map(Pair::Ed),
        }
        .unwrap_or_else(failed);
        let key = SigningKey::with_algorithm(pair, alg.algorithm())
            .expect("each algorithm's key is generated for it");
        Self { kid, alg, key }
    }

    /// The public JWK: `kty`, `crv`/`n`/`e`/`x`/`y`, `kid`, `alg`, `"use":"sig"`.
    pub(crate) fn jwk(&self) -> Value {
        let mut jwk = self.key.public_jwk();
        let members = jwk.as_object_mut().expect("a JWK is an object");
        members.insert("kid".into(), json!(self.kid));
        members.insert("alg".into(), json!(self.alg.name()));
        members.insert("use".into(), json!("sig"));
        jwk
    }

    /// The signature over `message` (raw bytes: PKCS#1/PSS, or fixed-length `R‖S`, or Ed25519).
    #[cfg(test)]
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message)
    }

    /// Whether `signature` (base64url) is this key's signature over `message`: the check a
    /// resource server makes with the published JWK, done the same way.
    pub(crate) fn verify(&self, message: &[u8], signature: &str) -> bool {
        crate::jwks::key::parse_jwk(&self.jwk())
            .is_ok_and(|key| key.verify(message, signature, self.alg.algorithm()))
    }

    /// A compact JWS of `header` and `payload` (both JSON objects) signed with this key.
    pub(crate) fn sign_compact(&self, header: &Value, payload: &Value) -> String {
        self.key.sign_compact(header, payload)
    }
}

/// Pre-generated RSA 2048 keys (PKCS#8 DER, base64, one a line).
///
/// Generating an RSA key takes a quarter of a second or more in a debug build (aws-lc is
/// compiled without optimizations there), which every `TestIssuer::start` would pay. These
/// keys are only for test issuers: they are public, since they are in the crate's source.
const RSA_POOL: &str = include_str!("rsa2048.pkcs8.b64");

/// How many keys of [`RSA_POOL`] were handed out in this process.
static RSA_POOL_TAKEN: AtomicUsize = AtomicUsize::new(0);

/// A fresh RSA 2048 key pair: the next unused key of [`RSA_POOL`], each handed out at most
/// once per process (so no two keys of any issuers are the same), then generated ones.
fn rsa_key_pair() -> Result<RsaKeyPair, aws_lc_rs::error::Unspecified> {
    let next = RSA_POOL_TAKEN.fetch_add(1, Ordering::Relaxed);
    if let Some(line) = RSA_POOL.lines().nth(next)
        && let Ok(der) = STANDARD.decode(line.trim())
        && let Ok(pair) = RsaKeyPair::from_pkcs8(&der)
    {
        return Ok(pair);
    }
    RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_have_the_members_of_their_key_type() {
        for (alg, kty, fields) in [
            (KeyAlgorithm::Rs256, "RSA", &["n", "e"][..]),
            (KeyAlgorithm::Es256, "EC", &["crv", "x", "y"][..]),
            (KeyAlgorithm::Es384, "EC", &["crv", "x", "y"][..]),
            (KeyAlgorithm::EdDsa, "OKP", &["crv", "x"][..]),
        ] {
            let jwk = TestKey::generate(alg, 7).jwk();
            assert_eq!(jwk["kty"], kty);
            assert_eq!(jwk["alg"], alg.name());
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["kid"], format!("{}-7", alg.kid_prefix()));
            for field in fields {
                assert!(jwk.get(*field).is_some(), "{alg}: {field} in {jwk}");
            }
            assert!(jwk.get("d").is_none(), "no private member");
        }
        let rsa = TestKey::generate(KeyAlgorithm::Rs256, 1).jwk();
        assert_eq!(rsa["e"], "AQAB");
        assert_eq!(rsa["n"].as_str().unwrap().len(), 342, "2048-bit modulus");
        let p384 = TestKey::generate(KeyAlgorithm::Es384, 1).jwk();
        assert_eq!(p384["crv"], "P-384");
        assert_eq!(p384["x"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn signatures_have_the_raw_sizes() {
        for (alg, len) in [
            (KeyAlgorithm::Rs256, 256),
            (KeyAlgorithm::Ps256, 256),
            (KeyAlgorithm::Es256, 64),
            (KeyAlgorithm::Es384, 96),
            (KeyAlgorithm::EdDsa, 64),
        ] {
            assert_eq!(TestKey::generate(alg, 1).sign(b"m").len(), len, "{alg}");
        }
    }

    #[test]
    fn pooled_rsa_keys_are_all_different_and_load() {
        let mut moduli: Vec<Value> = RSA_POOL
            .lines()
            .map(|line| {
                let der = STANDARD.decode(line).unwrap();
                let pair = RsaKeyPair::from_pkcs8(&der).unwrap();
                assert_eq!(pair.public_modulus_len(), 256);
                let jwk = TestKey {
                    kid: String::new(),
                    alg: KeyAlgorithm::Rs256,
                    key: SigningKey::new(Pair::Rsa(pair)),
                }
                .jwk();
                jwk["n"].clone()
            })
            .collect();
        assert_eq!(moduli.len(), 16);
        moduli.sort_by_key(|n| n.to_string());
        moduli.dedup();
        assert_eq!(moduli.len(), 16);
    }

    #[test]
    fn keys_verify_their_own_signatures_only() {
        for alg in [
            KeyAlgorithm::Rs256,
            KeyAlgorithm::Ps256,
            KeyAlgorithm::Es256,
            KeyAlgorithm::Es384,
            KeyAlgorithm::EdDsa,
        ] {
            let key = TestKey::generate(alg, 1);
            let other = TestKey::generate(alg, 2);
            let signature = b64(key.sign(b"message"));
            assert!(key.verify(b"message", &signature), "{alg}");
            assert!(!key.verify(b"massage", &signature), "{alg}");
            assert!(!other.verify(b"message", &signature), "{alg}");
            assert!(!key.verify(b"message", "not base64!"), "{alg}");
        }
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = TestKey::generate(KeyAlgorithm::EdDsa, 1);
        assert_eq!(
            format!("{key:?}"),
            r#"TestKey { kid: "eddsa-1", alg: EdDsa, .. }"#
        );
    }
}
