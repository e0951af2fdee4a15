//! Private keys that sign compact JWS (RFC 7515): DPoP proofs, client assertions (RFC 7523)
//! and the test issuer's tokens all sign here, with aws-lc-rs.
//!
//! Also reads such keys from PEM (PKCS#8, PKCS#1 RSA, SEC1 EC) and from private JWKs
//! (RFC 7518 §6), for the client's `private_key_jwt` keys.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RSA_PKCS1_SHA384,
    RSA_PKCS1_SHA512, RSA_PSS_SHA256, RSA_PSS_SHA384, RSA_PSS_SHA512, RsaEncoding, RsaKeyPair,
    RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A key pair of one of the kinds JOSE signs with.
pub(crate) enum Pair {
    Rsa(RsaKeyPair),
    /// P-256 or P-384, told apart by the length of the public point.
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// Length of an uncompressed P-256 point (0x04 ‖ x ‖ y).
const P256_POINT: usize = 65;

impl Pair {
    /// The algorithm a key of this kind signs with unless told otherwise.
    fn default_algorithm(&self) -> Algorithm {
        match self {
            Self::Rsa(_) => Algorithm::RS256,
            Self::Ec(pair) if pair.public_key().as_ref().len() == P256_POINT => Algorithm::ES256,
            Self::Ec(_) => Algorithm::ES384,
            Self::Ed(_) => Algorithm::EdDSA,
        }
    }

    /// Whether this key can sign with `alg` (RFC 7518 §3, RFC 8037).
    fn fits(&self, alg: Algorithm) -> bool {
        match self {
            Self::Rsa(_) => rsa_padding(alg).is_some(),
            Self::Ec(_) | Self::Ed(_) => alg == self.default_algorithm(),
        }
    }
}

fn rsa_padding(alg: Algorithm) -> Option<&'static dyn RsaEncoding> {
    Some(match alg {
        Algorithm::RS256 => &RSA_PKCS1_SHA256,
        Algorithm::RS384 => &RSA_PKCS1_SHA384,
        Algorithm::RS512 => &RSA_PKCS1_SHA512,
        Algorithm::PS256 => &RSA_PSS_SHA256,
        Algorithm::PS384 => &RSA_PSS_SHA384,
        Algorithm::PS512 => &RSA_PSS_SHA512,
        _ => return None,
    })
}

/// A private key and the algorithm it signs with. Its `Debug` never shows key material.
pub(crate) struct SigningKey {
    pair: Pair,
    alg: Algorithm,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key with the algorithm of its kind (RS256 for RSA).
    pub(crate) fn new(pair: Pair) -> Self {
        let alg = pair.default_algorithm();
        Self { pair, alg }
    }

    /// The key with `alg`; `None` when the key cannot sign with it.
    pub(crate) fn with_algorithm(pair: Pair, alg: Algorithm) -> Option<Self> {
        pair.fits(alg).then_some(Self { pair, alg })
    }

    /// Whether this key can sign with `alg`.
    pub(crate) fn fits(&self, alg: Algorithm) -> bool {
        self.pair.fits(alg)
    }

    /// Signs with `alg` from now on; the caller checked that it [`fits`](Self::fits).
    pub(crate) fn set_algorithm(&mut self, alg: Algorithm) {
        debug_assert!(self.fits(alg));
        self.alg = alg;
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The signature over `message` as JWS wants it: PKCS#1 v1.5 or PSS for RSA, fixed-length
    /// `R‖S` for ECDSA (RFC 7518 §3.4), Ed25519's own.
    ///
    /// # Panics
    /// If aws-lc-rs fails to sign (it does not on a working system).
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        let failed = |_| -> Vec<u8> { panic!("signing with {:?} failed", self.alg) };
        match &self.pair {
            Pair::Rsa(pair) => {
                let padding = rsa_padding(self.alg).expect("checked when the key was made");
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &rng, message, &mut signature)
                    .map(|()| signature)
                    .unwrap_or_else(failed)
            }
            Pair::Ec(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_else(failed),
            Pair::Ed(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }

    /// A compact JWS of `header` and `payload` (JSON objects), signed with this key. The header
    /// is sent as given: its `alg` is the caller's to set.
    pub(crate) fn sign_compact(&self, header: &Value, payload: &Value) -> String {
        let mut jws = b64(serde_json::to_vec(header).expect("JSON serializes"));
        jws.push('.');
        jws.push_str(&b64(serde_json::to_vec(payload).expect("JSON serializes")));
        let signature = self.sign(jws.as_bytes());
        jws.push('.');
        jws.push_str(&b64(signature));
        jws
    }

    /// The public key as a JWK with the members of its key type only (`kty`, `n`/`e`,
    /// `crv`/`x`/`y`).
    pub(crate) fn public_jwk(&self) -> Value {
        match &self.pair {
            Pair::Rsa(pair) => {
                let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({ "kty": "RSA", "n": b64(unsigned(&public.n)), "e": b64(unsigned(&public.e)) })
            }
            Pair::Ec(pair) => {
                // Uncompressed point: 0x04 ‖ x ‖ y.
                let point = &pair.public_key().as_ref()[1..];
                let (x, y) = point.split_at(point.len() / 2);
                let crv = if self.alg == Algorithm::ES256 {
                    "P-256"
                } else {
                    "P-384"
                };
                json!({ "kty": "EC", "crv": crv, "x": b64(x), "y": b64(y) })
            }
            Pair::Ed(pair) => {
                json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref()) })
            }
        }
    }
}

/// Why a private key could not be read.
pub(crate) type KeyProblem = &'static str;

/// The first PEM block of `text`: its label and its DER content.
fn pem_block(text: &str) -> Result<(&str, Vec<u8>), KeyProblem> {
    const NOT_PEM: &str = "not a PEM document (-----BEGIN … PRIVATE KEY-----)";
    let start = text.find("-----BEGIN ").ok_or(NOT_PEM)?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or(NOT_PEM)?;
    let label = &rest[..label_end];
    let body = &rest[label_end + "-----".len()..];
    let end = body
        .find(&format!("-----END {label}-----"))
        .ok_or(NOT_PEM)?;
    let body = &body[..end];
    if body.contains(':') {
        // RFC 1421 headers (Proc-Type, DEK-Info): an encrypted traditional key.
        return Err(ENCRYPTED);
    }
    let base64: String = body.split_whitespace().collect();
    let der = STANDARD.decode(base64).map_err(|_| NOT_PEM)?;
    Ok((label, der))
}

const ENCRYPTED: &str =
    "an encrypted private key: decrypt it first (`openssl pkcs8 -topk8 -nocrypt`)";
const UNSUPPORTED: &str = "not an RSA (2048 bits or more), P-256, P-384 or Ed25519 private key";

/// A key pair from the first PEM block of `pem`: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY`
/// (PKCS#1) or `EC PRIVATE KEY` (SEC1).
pub(crate) fn pair_from_pem(pem: &str) -> Result<Pair, KeyProblem> {
    let (label, der) = pem_block(pem)?;
    match label {
        "PRIVATE KEY" => pair_from_pkcs8(&der),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der)
            .map(Pair::Rsa)
            .map_err(|_| UNSUPPORTED),
        "EC PRIVATE KEY" => EC_CURVES
            .iter()
            .find_map(|curve| EcdsaKeyPair::from_private_key_der(curve, &der).ok())
            .map(Pair::Ec)
            .ok_or(UNSUPPORTED),
        "ENCRYPTED PRIVATE KEY" => Err(ENCRYPTED),
        _ => Err(
            "the PEM block is not a private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
        ),
    }
}

const EC_CURVES: [&EcdsaSigningAlgorithm; 2] = [
    &ECDSA_P256_SHA256_FIXED_SIGNING,
    &ECDSA_P384_SHA384_FIXED_SIGNING,
];

/// A key pair from an unencrypted PKCS#8 document (v1 or v2).
pub(crate) fn pair_from_pkcs8(der: &[u8]) -> Result<Pair, KeyProblem> {
    if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
        return Ok(Pair::Rsa(pair));
    }
    if let Some(pair) = EC_CURVES
        .iter()
        .find_map(|curve| EcdsaKeyPair::from_pkcs8(curve, der).ok())
    {
        return Ok(Pair::Ec(pair));
    }
    Ed25519KeyPair::from_pkcs8(der)
        .map(Pair::Ed)
        .map_err(|_| UNSUPPORTED)
}

/// A key pair from a private JWK (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2).
pub(crate) fn pair_from_jwk(jwk: &Map<String, Value>) -> Result<Pair, KeyProblem> {
    const NOT_PRIVATE: &str = "not a private JWK: members missing or not base64url";
    let member = |name: &str| -> Result<Vec<u8>, KeyProblem> {
        let text = jwk.get(name).and_then(Value::as_str).ok_or(NOT_PRIVATE)?;
        URL_SAFE_NO_PAD.decode(text).map_err(|_| NOT_PRIVATE)
    };
    match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => {
            if jwk.contains_key("oth") {
                return Err("multi-prime RSA keys are not supported");
            }
            let components = KeyPairComponents {
                public_key: PublicKeyComponents {
                    n: member("n")?,
                    e: member("e")?,
                },
                d: member("d")?,
                p: member("p")?,
                q: member("q")?,
                dP: member("dp")?,
                dQ: member("dq")?,
                qInv: member("qi")?,
            };
            RsaKeyPair::from_components(&components)
                .map(Pair::Rsa)
                .map_err(|_| UNSUPPORTED)
        }
        Some("EC") => {
            let curve = match jwk.get("crv").and_then(Value::as_str) {
                Some("P-256") => &ECDSA_P256_SHA256_FIXED_SIGNING,
                Some("P-384") => &ECDSA_P384_SHA384_FIXED_SIGNING,
                _ => return Err(UNSUPPORTED),
            };
            let mut point = vec![0x04];
            point.extend(member("x")?);
            point.extend(member("y")?);
            EcdsaKeyPair::from_private_key_and_public_key(curve, &member("d")?, &point)
                .map(Pair::Ec)
                .map_err(|_| UNSUPPORTED)
        }
        Some("OKP") if jwk.get("crv").and_then(Value::as_str) == Some("Ed25519") => {
            Ed25519KeyPair::from_seed_and_public_key(&member("d")?, &member("x")?)
                .map(Pair::Ed)
                .map_err(|_| UNSUPPORTED)
        }
        _ => Err(UNSUPPORTED),
    }
}

/// An unsigned big-endian integer without leading zero bytes (RFC 7518 §6.3.1).
fn unsigned(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[start..]
}

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `n` random bytes, base64url.
pub(crate) fn random_id(n: usize) -> String {
    let mut bytes = vec![0; n];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator works");
    b64(bytes)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};

    use super::*;
    use crate::jwks::key::parse_jwk;

    /// PKCS#8 documents of an RSA 2048, a P-256, a P-384 and an Ed25519 key.
    pub(crate) fn pkcs8_documents() -> [Vec<u8>; 4] {
        let rsa = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let rsa: Pkcs8V1Der<'_> = rsa.as_der().unwrap();
        let ec = |curve| EcdsaKeyPair::generate(curve).unwrap().to_pkcs8v1().unwrap();
        [
            rsa.as_ref().to_vec(),
            ec(&ECDSA_P256_SHA256_FIXED_SIGNING).as_ref().to_vec(),
            ec(&ECDSA_P384_SHA384_FIXED_SIGNING).as_ref().to_vec(),
            Ed25519KeyPair::generate()
                .unwrap()
                .to_pkcs8()
                .unwrap()
                .as_ref()
                .to_vec(),
        ]
    }

    #[test]
    fn signatures_verify_with_the_public_jwk_as_the_guard_reads_it() {
        let expected = [
            &[
                Algorithm::RS256,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
            ][..],
            &[Algorithm::ES256],
            &[Algorithm::ES384],
            &[Algorithm::EdDSA],
        ];
        for (der, algs) in pkcs8_documents().iter().zip(expected) {
            let key = SigningKey::new(pair_from_pkcs8(der).unwrap());
            assert_eq!(key.algorithm(), algs[0], "the default of its kind");
            for &alg in algs {
                let key = SigningKey::with_algorithm(pair_from_pkcs8(der).unwrap(), alg).unwrap();
                let verifying = parse_jwk(&key.public_jwk()).unwrap();
                let signature = b64(key.sign(b"message"));
                assert!(verifying.verify(b"message", &signature, alg), "{alg:?}");
                assert!(!verifying.verify(b"massage", &signature, alg), "{alg:?}");
            }
        }
    }

    #[test]
    fn algorithms_must_fit_the_key() {
        let [rsa, p256, p384, ed] = pkcs8_documents().map(|der| pair_from_pkcs8(&der).unwrap());
        assert!(SigningKey::with_algorithm(rsa, Algorithm::ES256).is_none());
        assert!(SigningKey::with_algorithm(p256, Algorithm::ES384).is_none());
        assert!(SigningKey::with_algorithm(p384, Algorithm::ES384).is_some());
        assert!(SigningKey::with_algorithm(ed, Algorithm::HS256).is_none());
    }

    #[test]
    fn pem_documents() {
        let der = &pkcs8_documents()[1];
        let pem = format!(
            "junk before\n-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der)
        );
        let key = SigningKey::new(pair_from_pem(&pem).unwrap());
        assert_eq!(key.algorithm(), Algorithm::ES256);
        assert_eq!(
            key.public_jwk(),
            SigningKey::new(pair_from_pkcs8(der).unwrap()).public_jwk()
        );
        for (text, problem) in [
            ("no pem here", "not a PEM"),
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----",
                "encrypted",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----",
                "encrypted",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
                "not a private key",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
                "not an RSA",
            ),
        ] {
            let error = pair_from_pem(text).err().unwrap();
            assert!(error.contains(problem), "{text}: {error}");
        }
    }
}
