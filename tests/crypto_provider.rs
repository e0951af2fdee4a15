//! No request path calls jsonwebtoken's crypto (issue 9).
//!
//! jsonwebtoken verifies through one process-wide `CryptoProvider`; when another crate in a
//! user's build turns on its `rust_crypto` feature next to our `aws_lc_rs`, that provider
//! panics on every call. Here (a process of its own) we install a provider that panics the
//! same way, then validate tokens of every kind: nothing may reach it. The real unified build
//! is exercised by compat/rust-crypto (.ci/rust_crypto_compat.sh).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::testing::{KeyAlgorithm, TestIssuer};
use bearer_guard::{ErrorKind, Issuer, Validator};
use jsonwebtoken::crypto::{CryptoProvider, KeyUtils};
use serde_json::json;

static PANICKING: CryptoProvider = CryptoProvider {
    signer_factory: |_, _| panic!("jsonwebtoken's CryptoProvider was asked to sign"),
    verifier_factory: |_, _| panic!("jsonwebtoken's CryptoProvider was asked to verify"),
    key_utils: KeyUtils::new_unimplemented(),
};

fn install_panicking_provider() {
    // Several tests in this process: the first installs it, the others find it there.
    let _ = PANICKING.install_default();
}

const ISSUER: &str = "https://idp.example.com";
const AUDIENCE: &str = "https://api.example.com";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A compact JWS with HMAC, signed with aws-lc (jsonwebtoken's `encode` would panic here).
fn hmac_token(alg: &str, secret: &[u8]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let header = json!({"alg": alg});
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300});
    let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let digest = match alg {
        "HS256" => hmac::HMAC_SHA256,
        "HS384" => hmac::HMAC_SHA384,
        _ => hmac::HMAC_SHA512,
    };
    let tag = hmac::sign(&hmac::Key::new(digest, secret), token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(tag));
    token
}

#[tokio::test]
async fn hmac_tokens_never_reach_jsonwebtoken_crypto() {
    install_panicking_provider();
    let validator = Validator::builder()
        .issuer(Issuer::new(ISSUER).audience(AUDIENCE).hmac_secret(SECRET))
        .build()
        .expect("valid configuration");
    let mut other = SECRET.to_vec();
    other[0] ^= 1;
    for alg in ["HS256", "HS384", "HS512"] {
        let good = hmac_token(alg, SECRET);
        assert!(validator.validate(&good).await.is_ok(), "{alg}");
        let forged = hmac_token(alg, &other);
        assert_eq!(
            validator.validate(&forged).await.unwrap_err().kind(),
            ErrorKind::InvalidSignature,
            "{alg}"
        );
        // A truncated tag: the wrong length is refused, not a panic.
        let (head, tag) = good.rsplit_once('.').expect("three segments");
        let short = format!("{head}.{}", &tag[..tag.len() / 2]);
        assert_eq!(
            validator.validate(&short).await.unwrap_err().kind(),
            ErrorKind::InvalidSignature,
            "{alg}"
        );
    }
}

#[tokio::test]
async fn asymmetric_tokens_and_the_test_issuer_never_reach_jsonwebtoken_crypto() {
    install_panicking_provider();
    for alg in [
        KeyAlgorithm::Rs256,
        KeyAlgorithm::Ps256,
        KeyAlgorithm::Es256,
        KeyAlgorithm::Es384,
        KeyAlgorithm::EdDsa,
    ] {
        let issuer = TestIssuer::builder().signing_key(alg).start().await;
        let validator = issuer.validator();
        assert!(
            validator.validate(&issuer.token().sign()).await.is_ok(),
            "{alg}"
        );
    }
}
