#![allow(dead_code)] // each target uses part of it

//! The validator the `validate*` targets share: built once, with a static JWKS (the fixtures'
//! key set) for one issuer and an HMAC secret for another, so that nothing is ever fetched.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use bearer_guard::{AuthError, Claims, Issuer, Validator};
use tokio::runtime::{Builder, Runtime};

/// Trusts the keys of `fixtures/jwks.json`: `rsa-1` (RS256), `ec-p256-1` (ES256),
/// `ec-p384-1` (ES384), `ed-1` (EdDSA).
pub const JWKS_ISSUER: &str = "https://idp.example.com";
/// Trusts only [`HMAC_SECRET`] (HS256, HS384, HS512).
pub const HMAC_ISSUER: &str = "https://hmac.example.com";
pub const AUDIENCE: &str = "https://api.example.com";
pub const HMAC_SECRET: &[u8] = b"fuzzing: a shared secret of 32+ bytes";
/// The validator's leeway (the default), in seconds.
pub const LEEWAY: i64 = 30;

const JWKS: &[u8] = include_bytes!("../../../fixtures/jwks.json");

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        Validator::builder()
            .issuer(Issuer::new(JWKS_ISSUER).audience(AUDIENCE).jwks(JWKS))
            .issuer(
                Issuer::new(HMAC_ISSUER)
                    .audience(AUDIENCE)
                    .audience("https://other.example.com")
                    .hmac_secret(HMAC_SECRET),
            )
            .build()
            .expect("a valid configuration")
    })
}

/// `Validator::validate`, twice: the second call is answered by the token cache when the
/// first succeeded.
pub fn validate(token: &str) -> Result<Claims, AuthError> {
    let validator = validator();
    let first = runtime().block_on(validator.validate(token));
    let _ = runtime().block_on(validator.validate(token));
    first
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// What must hold of any claims the validator accepts.
pub fn check_accepted(claims: &Claims, before: i64, after: i64) {
    assert!(
        claims.issuer() == JWKS_ISSUER || claims.issuer() == HMAC_ISSUER,
        "{}",
        claims.issuer()
    );
    assert!(claims.audience().iter().any(|a| a == AUDIENCE));
    assert!(claims.expires_at() >= before - LEEWAY - 1);
    if let Some(nbf) = claims.not_before() {
        assert!(nbf <= after + LEEWAY + 1);
    }
}
