//! What the benchmarks share: the fixture keys, tokens shaped like real ones, the validator.
// Each benchmark uses a part of this module.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::{Issuer, Validator};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey, Header};
use serde_json::json;

pub const ISSUER: &str = "https://idp.example.com";
pub const AUDIENCE: &str = "https://api.example.com";

/// A fixture key pair and how the published JWKS names it.
pub struct BenchKey {
    pub alg: Algorithm,
    pub kid: &'static str,
    pub signing: EncodingKey,
    pub verifying: DecodingKey,
    /// The public key parsed once for aws-lc, as the validator keeps its keys: the bare
    /// signature check without jsonwebtoken's per-call key parsing.
    pub parsed: ParsedPublicKey,
}

impl BenchKey {
    pub fn load(alg: Algorithm) -> Self {
        let (stem, kid) = match alg {
            Algorithm::RS256 => ("rsa2048", "rsa-1"),
            // The same RSA key, published a second time for PS256 (see `jwks`).
            Algorithm::PS256 => ("rsa2048", PS256_KID),
            Algorithm::ES256 => ("ec-p256", "ec-p256-1"),
            Algorithm::ES384 => ("ec-p384", "ec-p384-1"),
            Algorithm::EdDSA => ("ed25519", "ed-1"),
            _ => unreachable!("not benchmarked"),
        };
        let private = fixture(&format!("{stem}.pem"));
        let public = fixture(&format!("{stem}.pub.pem"));
        let (signing, verifying) = match alg {
            Algorithm::RS256 | Algorithm::PS256 => (
                EncodingKey::from_rsa_pem(&private),
                DecodingKey::from_rsa_pem(&public),
            ),
            Algorithm::ES256 | Algorithm::ES384 => (
                EncodingKey::from_ec_pem(&private),
                DecodingKey::from_ec_pem(&public),
            ),
            _ => (
                EncodingKey::from_ed_pem(&private),
                DecodingKey::from_ed_pem(&public),
            ),
        };
        let verifying = verifying.expect("fixture public key");
        let DecodingKeyKind::SecretOrDer(der) = verifying.kind() else {
            unreachable!("PEM keys are DER")
        };
        let algorithm: &'static dyn VerificationAlgorithm = match alg {
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            _ => &signature::ED25519,
        };
        Self {
            alg,
            kid,
            signing: signing.expect("fixture private key"),
            parsed: ParsedPublicKey::new(algorithm, der).expect("aws-lc parses the fixture key"),
            verifying,
        }
    }

    /// What the validator does for the signature alone: the base64url signature decoded into
    /// a stack buffer, then aws-lc's check with the key parsed beforehand.
    pub fn bare_verify(&self, token: &str) -> bool {
        let (message, signature) = token.rsplit_once('.').expect("three segments");
        let mut decoded = [0u8; 512];
        let len = URL_SAFE_NO_PAD
            .decode_slice(signature, &mut decoded)
            .expect("base64url signature");
        self.parsed
            .verify_sig(message.as_bytes(), &decoded[..len])
            .is_ok()
    }

    /// A token shaped like a real client-credentials access token (about 900 bytes with an
    /// RS256 signature), unique by its `jti`.
    pub fn token(&self) -> String {
        self.token_with(None)
    }

    /// [`Self::token`] with a `pad` claim added.
    pub fn token_with(&self, pad: Option<&serde_json::Value>) -> String {
        self.token_with_claim(pad.map(|pad| ("pad", pad)))
    }

    /// [`Self::token`] with one more claim.
    pub fn token_with_claim(&self, extra: Option<(&str, &serde_json::Value)>) -> String {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        let mut claims = json!({
            "iss": ISSUER,
            "sub": "billing-service",
            "client_id": "billing-service",
            "aud": AUDIENCE,
            "scope": "orders:read orders:write invoices:read customers:read",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "jti": format!("{serial:016x}-5a1c-4e0e-9f6b-{serial:012x}"),
            "tenant": "acme-corporation-eu-west",
            "azp": "billing-service",
            "auth_time": now,
        });
        if let Some((name, value)) = extra {
            claims[name] = value.clone();
        }
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.to_owned());
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(&header, &claims, &self.signing).expect("signs")
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `kid` of `rsa2048.pem` published for PS256.
pub const PS256_KID: &str = "rsa-ps-1";

/// `fixtures/jwks.json` plus the RSA key again as a PS256 key (kid [`PS256_KID`]): the
/// published `rsa-1` says `"alg": "RS256"`, which a PS256 token may not use.
pub fn jwks() -> Vec<u8> {
    let mut jwks: serde_json::Value =
        serde_json::from_slice(&fixture("jwks.json")).expect("fixtures/jwks.json");
    let keys = jwks["keys"].as_array_mut().expect("keys");
    let mut pss = keys
        .iter()
        .find(|k| k["kid"] == "rsa-1")
        .expect("rsa-1")
        .clone();
    pss["kid"] = json!(PS256_KID);
    pss["alg"] = json!("PS256");
    keys.push(pss);
    serde_json::to_vec(&jwks).expect("serializes")
}

pub fn validator(cache_capacity: u64) -> Validator {
    Validator::builder()
        .issuer(Issuer::new(ISSUER).audience(AUDIENCE).jwks(jwks()))
        .token_cache_capacity(cache_capacity)
        .build()
        .expect("valid configuration")
}

/// A request carrying `bearer` (a reference-counted clone, as hyper hands a header over).
pub fn request(bearer: &HeaderValue) -> Request<()> {
    let mut request = Request::new(());
    request.headers_mut().insert(AUTHORIZATION, bearer.clone());
    request
}
