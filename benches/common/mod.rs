//! What the benchmarks share: the fixture keys, tokens shaped like real ones, the validator.
// Each benchmark uses a part of this module.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bearer_guard::{Issuer, Validator};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::json;

pub const ISSUER: &str = "https://idp.example.com";
pub const AUDIENCE: &str = "https://api.example.com";

/// A fixture key pair and how the published JWKS names it.
pub struct BenchKey {
    pub alg: Algorithm,
    pub kid: &'static str,
    pub signing: EncodingKey,
    pub verifying: DecodingKey,
}

impl BenchKey {
    pub fn load(alg: Algorithm) -> Self {
        let (stem, kid) = match alg {
            Algorithm::RS256 => ("rsa2048", "rsa-1"),
            Algorithm::ES256 => ("ec-p256", "ec-p256-1"),
            Algorithm::EdDSA => ("ed25519", "ed-1"),
            _ => unreachable!("not benchmarked"),
        };
        let private = fixture(&format!("{stem}.pem"));
        let public = fixture(&format!("{stem}.pub.pem"));
        let (signing, verifying) = match alg {
            Algorithm::RS256 => (
                EncodingKey::from_rsa_pem(&private),
                DecodingKey::from_rsa_pem(&public),
            ),
            Algorithm::ES256 => (
                EncodingKey::from_ec_pem(&private),
                DecodingKey::from_ec_pem(&public),
            ),
            _ => (
                EncodingKey::from_ed_pem(&private),
                DecodingKey::from_ed_pem(&public),
            ),
        };
        Self {
            alg,
            kid,
            signing: signing.expect("fixture private key"),
            verifying: verifying.expect("fixture public key"),
        }
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

pub fn validator(cache_capacity: u64) -> Validator {
    Validator::builder()
        .issuer(
            Issuer::new(ISSUER)
                .audience(AUDIENCE)
                .jwks(fixture("jwks.json")),
        )
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
