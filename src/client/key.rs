//! The client's private key for `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9), and
//! the client assertions it signs.

use std::fmt;

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};

use super::defaults;
use crate::dpop_key::signing::{self, SigningKey};
use crate::jwks::key::parse_alg;

/// A private key that authenticates the client to the token endpoint with `private_key_jwt`:
/// each token request carries a client assertion (a JWT) signed with it, and the
/// authorization server checks it with the public key registered for the client.
///
/// RSA (2048 bits or more; `RS256` by default, or `RS384`, `RS512`, `PS256`, `PS384`,
/// `PS512`), P-256 (`ES256`), P-384 (`ES384`) and Ed25519 (`EdDSA`) keys, read from PEM or
/// from a private JWK. Its `Debug` shows the key id and algorithm, never the key.
///
/// ```
/// use bearer_guard::client::ClientKey;
/// use bearer_guard::Algorithm;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
/// # let der = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?.to_pkcs8v1()?;
/// // let key = ClientKey::from_pem(&std::fs::read_to_string("/run/secrets/client-key.pem")?)?
/// let key = ClientKey::from_pkcs8_der(der.as_ref())?
///     .key_id("2026-05") // the `kid` the server knows the public key by
///     .algorithm(Algorithm::ES256); // the only one for P-256; RSA keys choose (RS256 default)
/// // What to register at the authorization server (or publish at your `jwks_uri`).
/// let jwk = key.public_jwk();
/// assert_eq!(jwk["kid"], "2026-05");
/// assert_eq!(jwk["alg"], "ES256");
/// assert!(jwk.get("d").is_none());
/// # Ok(()) }
/// ```
#[must_use]
pub struct ClientKey {
    key: SigningKey,
    /// As asked for; checked against the key when the token source is built.
    alg: Algorithm,
    kid: Option<String>,
}

/// Why [`ClientKey::from_pem`], [`from_pkcs8_der`](ClientKey::from_pkcs8_der) or
/// [`from_jwk`](ClientKey::from_jwk) refused a key. Never holds key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidClientKey {
    problem: &'static str,
}

impl InvalidClientKey {
    /// What is wrong with the key.
    pub fn problem(&self) -> &'static str {
        self.problem
    }
}

impl fmt::Display for InvalidClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid client key: {}", self.problem)
    }
}

impl std::error::Error for InvalidClientKey {}

fn invalid(problem: &'static str) -> InvalidClientKey {
    InvalidClientKey { problem }
}

impl ClientKey {
    /// The key of the first PEM block of `pem`: `PRIVATE KEY` (PKCS#8, as `openssl genpkey`
    /// writes), `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1). Not encrypted.
    ///
    /// # Errors
    /// [`InvalidClientKey`] when there is no such block, it is encrypted, or it holds no
    /// supported key.
    pub fn from_pem(pem: &str) -> Result<Self, InvalidClientKey> {
        signing::pair_from_pem(pem)
            .map(|pair| Self::new(SigningKey::new(pair), None))
            .map_err(invalid)
    }

    /// The key of an unencrypted PKCS#8 DER document.
    ///
    /// # Errors
    /// [`InvalidClientKey`] when it holds no supported key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, InvalidClientKey> {
        signing::pair_from_pkcs8(der)
            .map(|pair| Self::new(SigningKey::new(pair), None))
            .map_err(invalid)
    }

    /// The key of a private JWK (JSON text; RFC 7518 §6, RFC 8037): `RSA` with `n`, `e`, `d`,
    /// `p`, `q`, `dp`, `dq`, `qi`; `EC` (`P-256`, `P-384`) with `x`, `y`, `d`; `OKP`
    /// (`Ed25519`) with `x`, `d`. Its `kid` becomes the [key id](Self::key_id), its `alg` the
    /// [algorithm](Self::algorithm).
    ///
    /// # Errors
    /// [`InvalidClientKey`] when it is not JSON, not a private key of those kinds, or its `alg`
    /// is not a JWS algorithm.
    pub fn from_jwk(jwk: &str) -> Result<Self, InvalidClientKey> {
        let jwk: Map<String, Value> =
            serde_json::from_str(jwk).map_err(|_| invalid("not a JWK (a JSON object)"))?;
        let key = SigningKey::new(signing::pair_from_jwk(&jwk).map_err(invalid)?);
        let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
        let mut this = Self::new(key, kid);
        if let Some(alg) = jwk.get("alg") {
            let alg = alg.as_str().and_then(parse_alg);
            this = this.algorithm(alg.ok_or(invalid("its `alg` is not a JWS algorithm"))?);
        }
        Ok(this)
    }

    fn new(key: SigningKey, kid: Option<String>) -> Self {
        Self {
            alg: key.algorithm(),
            key,
            kid,
        }
    }

    /// The `kid` header of the assertions: the id the authorization server knows the public
    /// key by (default: the JWK's `kid`, or none, which servers holding one key per client
    /// accept).
    pub fn key_id(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The algorithm the assertions are signed with. Default: `RS256` for RSA keys (the one
    /// every server supports), the only one of its kind for the others. A token source refuses
    /// to build with an algorithm the key cannot sign with.
    pub fn algorithm(mut self, alg: Algorithm) -> Self {
        self.alg = alg;
        if self.key.fits(alg) {
            self.key.set_algorithm(alg);
        }
        self
    }

    /// The public key as a JWK, with `kid` (when set), `alg` and `"use": "sig"`: what to
    /// register for the client at the authorization server.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.key.public_jwk();
        let members = jwk.as_object_mut().expect("a JWK is an object");
        if let Some(kid) = &self.kid {
            members.insert("kid".into(), json!(kid));
        }
        members.insert("alg".into(), json!(self.alg_name()));
        members.insert("use".into(), json!("sig"));
        jwk
    }

    /// Whether the key can sign with the algorithm asked for.
    pub(crate) fn fits(&self) -> bool {
        self.key.algorithm() == self.alg
    }

    fn alg_name(&self) -> String {
        // jsonwebtoken's `Algorithm` prints its JOSE name through Debug.
        format!("{:?}", self.alg)
    }

    /// A fresh client assertion (RFC 7523 §3): `iss` and `sub` the client id, `aud` the
    /// authorization server, a random `jti`, `iat` now (`now`, seconds since the epoch) and a
    /// short `exp`.
    pub(crate) fn assertion(&self, client_id: &str, audience: &str, now: i64) -> String {
        let mut header = json!({ "alg": self.alg_name(), "typ": "JWT" });
        if let Some(kid) = &self.kid {
            header["kid"] = json!(kid);
        }
        let lifetime = defaults::ASSERTION_LIFETIME.as_secs() as i64;
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": signing::random_id(16),
            "iat": now,
            "exp": now + lifetime,
        });
        debug_assert!(self.fits(), "checked when the source was built");
        self.key.sign_compact(&header, &claims)
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::TokenSource;
    use crate::error::ConfigError;
    use crate::jwks::key::parse_jwk;

    const PRIVATE_JWKS: &str = include_str!("../../fixtures/private-jwks.json");

    fn private_jwk(kid: &str) -> String {
        let jwks: Value = serde_json::from_str(PRIVATE_JWKS).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        keys.iter().find(|k| k["kid"] == kid).unwrap().to_string()
    }

    #[test]
    fn a_private_jwk_is_the_same_key_as_its_pem_twin() {
        for (kid, pem, alg) in [
            (
                "rsa2048",
                include_str!("../../fixtures/rsa2048.pem"),
                Algorithm::RS256,
            ),
            (
                "ec-p256",
                include_str!("../../fixtures/ec-p256.pem"),
                Algorithm::ES256,
            ),
            (
                "ed25519",
                include_str!("../../fixtures/ed25519.pem"),
                Algorithm::EdDSA,
            ),
        ] {
            let from_jwk = ClientKey::from_jwk(&private_jwk(kid)).unwrap();
            let from_pem = ClientKey::from_pem(pem).unwrap();
            assert_eq!(from_jwk.kid.as_deref(), Some(kid), "the JWK's kid is kept");
            assert_eq!(from_pem.kid, None);
            let mut public = from_pem.public_jwk();
            public["kid"] = json!(kid);
            assert_eq!(from_jwk.public_jwk(), public, "{kid}");
            assert_eq!(from_jwk.alg, alg);
            // The assertion verifies with the public key, as a server checks it.
            let assertion = from_jwk.assertion("c", "https://idp/token", 1000);
            let (signed, signature) = assertion.rsplit_once('.').unwrap();
            let key = parse_jwk(&from_pem.public_jwk()).unwrap();
            assert!(key.verify(signed.as_bytes(), signature, alg), "{kid}");
        }
    }

    #[test]
    fn bad_keys_are_refused_without_showing_them() {
        for (jwk, problem) in [
            ("not json", "not a JWK"),
            (r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}"#, "private"),
            (r#"{"kty":"oct","k":"c2VjcmV0"}"#, "not an RSA"),
        ] {
            let error = ClientKey::from_jwk(jwk).unwrap_err();
            assert!(error.problem().contains(problem), "{jwk}: {error}");
        }
        let mut with_alg: Value = serde_json::from_str(&private_jwk("ec-p256")).unwrap();
        with_alg["alg"] = json!("none");
        assert!(ClientKey::from_jwk(&with_alg.to_string()).is_err());
        let key = ClientKey::from_jwk(&private_jwk("ec-p256")).unwrap();
        let d = serde_json::from_str::<Value>(&private_jwk("ec-p256")).unwrap()["d"]
            .as_str()
            .unwrap()
            .to_owned();
        let debug = format!("{key:?}");
        assert!(debug.contains("ec-p256") && !debug.contains(&d), "{debug}");
        assert!(key.public_jwk().get("d").is_none());
    }

    #[test]
    fn an_algorithm_the_key_cannot_sign_with_is_refused_at_build() {
        let build = |key: ClientKey| {
            TokenSource::builder_with_key("c", key)
                .token_endpoint("https://idp.example.com/token")
                .build()
                .map(|_| ())
        };
        let ec = || ClientKey::from_pem(include_str!("../../fixtures/ec-p256.pem")).unwrap();
        let rsa = || ClientKey::from_pem(include_str!("../../fixtures/rsa2048.pem")).unwrap();
        assert!(build(rsa().algorithm(Algorithm::PS256)).is_ok());
        for key in [
            ec().algorithm(Algorithm::RS256),
            ec().algorithm(Algorithm::ES384),
            rsa().algorithm(Algorithm::ES256),
            rsa().algorithm(Algorithm::HS256),
        ] {
            assert!(
                matches!(
                    build(key),
                    Err(ConfigError::InvalidClientAuth {
                        setting: "client_key.algorithm",
                        ..
                    })
                ),
                "refused"
            );
        }
        let mut ps = rsa().algorithm(Algorithm::PS256);
        assert_eq!(ps.public_jwk()["alg"], "PS256");
        ps = ps.algorithm(Algorithm::ES256);
        assert!(!ps.fits(), "the last one asked for counts");
    }
}
