//! Tests only: bearer-guard verifies tokens in a build where jsonwebtoken has both crypto
//! features and so no usable process-wide provider (see Cargo.toml).

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::time::{SystemTime, UNIX_EPOCH};

    use aws_lc_rs::hmac;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use bearer_guard::testing::{KeyAlgorithm, TestIssuer};
    use bearer_guard::{Algorithm, ErrorKind, Issuer, Validator};
    use serde_json::json;

    const ISSUER: &str = "https://idp.example.com";
    const AUDIENCE: &str = "https://api.example.com";
    /// 64 bytes: long enough for HS512 (RFC 7518 §3.2), so all three HS algorithms are on.
    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const OTHER_SECRET: &[u8] = b"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    fn validator() -> Validator {
        Validator::builder()
            .issuer(Issuer::new(ISSUER).audience(AUDIENCE).hmac_secret(SECRET))
            .build()
            .expect("valid configuration")
    }

    /// A compact JWS signed with HMAC through aws-lc, not through jsonwebtoken.
    fn hmac_token(alg: &str, secret: &[u8]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = json!({"alg": alg, "typ": "at+jwt"});
        let claims =
            json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "c", "iat": now, "exp": now + 300});
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
        token.push_str(&URL_SAFE_NO_PAD.encode(tag.as_ref()));
        token
    }

    #[test]
    fn this_build_has_no_jsonwebtoken_provider() {
        // The premise: were bearer-guard to call jsonwebtoken's crypto, it would panic here.
        let key = jsonwebtoken::DecodingKey::from_secret(SECRET);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            jsonwebtoken::crypto::verify("AAAA", b"m", &key, Algorithm::HS256)
        }));
        assert!(
            outcome.is_err(),
            "jsonwebtoken picked a provider: the test proves nothing"
        );
    }

    #[tokio::test]
    async fn hmac_tokens_are_verified_without_jsonwebtoken_crypto() {
        let validator = validator();
        for alg in ["HS256", "HS384", "HS512"] {
            let good = hmac_token(alg, SECRET);
            let claims = validator.validate(&good).await;
            assert!(claims.is_ok(), "{alg}: {claims:?}");

            let forged = hmac_token(alg, OTHER_SECRET);
            let error = validator.validate(&forged).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidSignature, "{alg}");
        }
    }

    #[tokio::test]
    async fn asymmetric_tokens_are_verified_without_jsonwebtoken_crypto() {
        for alg in [
            KeyAlgorithm::Rs256,
            KeyAlgorithm::Ps256,
            KeyAlgorithm::Es256,
            KeyAlgorithm::Es384,
            KeyAlgorithm::EdDsa,
        ] {
            // The issuer signs with aws-lc, and the validator fetches its JWKS over HTTP.
            let issuer = TestIssuer::builder().signing_key(alg).start().await;
            let validator = issuer.validator();
            let claims = validator.validate(&issuer.token().sign()).await;
            assert!(claims.is_ok(), "{alg}: {claims:?}");

            let mut forged = issuer.token().sign();
            let last = forged.pop().unwrap();
            forged.push(if last == 'A' { 'B' } else { 'A' });
            let error = validator.validate(&forged).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidSignature, "{alg}");
        }
    }
}
