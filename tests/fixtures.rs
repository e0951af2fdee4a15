//! The key fixtures agree with each other: `fixtures/jwks.json` and the `*.pub.pem` files are
//! the public halves of the committed private keys.
//!
//! Regenerate `fixtures/jwks.json` with `BLESS=1 cargo test --test fixtures`.

mod common;

use common::{Key, alg_name, b64, derive_fixture_jwks, fixture_path, sign_raw};
use jsonwebtoken::{Algorithm, DecodingKey};

#[test]
fn jwks_fixture_is_derived_from_the_private_keys() {
    let derived = derive_fixture_jwks();
    let text = serde_json::to_string_pretty(&derived).expect("JSON") + "\n";
    let path = fixture_path("jwks.json");
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &text).expect("writing fixtures/jwks.json");
    }
    let committed = std::fs::read_to_string(&path)
        .expect("fixtures/jwks.json is missing: run `BLESS=1 cargo test --test fixtures`");
    assert_eq!(
        committed, text,
        "fixtures/jwks.json is stale: run `BLESS=1 cargo test --test fixtures`"
    );
}

#[test]
fn jwks_fixture_has_the_documented_keys() {
    let jwks = common::fixture_jwks();
    let keys = jwks["keys"].as_array().expect("keys array");
    let summary: Vec<(&str, &str, &str, &str)> = keys
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap(),
                k["kty"].as_str().unwrap(),
                k["alg"].as_str().unwrap(),
                k["use"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("rsa-1", "RSA", "RS256", "sig"),
            ("ec-p256-1", "EC", "ES256", "sig"),
            ("ec-p384-1", "EC", "ES384", "sig"),
            ("ed-1", "OKP", "EdDSA", "sig"),
        ]
    );
    assert_eq!(keys[1]["crv"], "P-256");
    assert_eq!(keys[2]["crv"], "P-384");
    assert_eq!(keys[3]["crv"], "Ed25519");
    // No private member may leak into the published set.
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "{private} in {key}");
        }
    }
}

#[test]
fn rsa_fixtures_have_their_sizes() {
    let modulus_bits = |key: Key| {
        let n = key.jwk()["n"].as_str().unwrap().to_owned();
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            n.as_bytes(),
        )
        .unwrap();
        bytes.iter().skip_while(|b| **b == 0).count() * 8
    };
    // The DER reader used for the RSA-1024 JWK agrees with jsonwebtoken's derivation.
    let via_pem = common::rsa_jwk_from_spki_pem(&Key::Rsa2048.public_pem());
    assert_eq!(via_pem["n"], Key::Rsa2048.jwk()["n"]);
    assert_eq!(via_pem["e"], Key::Rsa2048.jwk()["e"]);
    assert_eq!(modulus_bits(Key::Rsa2048), 2048);
    assert_eq!(modulus_bits(Key::Rsa1024), 1024);
}

fn decoding_key(key: Key) -> DecodingKey {
    let pem = key.public_pem();
    match key {
        Key::Rsa2048 | Key::Rsa1024 => DecodingKey::from_rsa_pem(&pem),
        Key::EcP256 | Key::EcP384 | Key::Attacker => DecodingKey::from_ec_pem(&pem),
        Key::Ed25519 => DecodingKey::from_ed_pem(&pem),
    }
    .unwrap_or_else(|e| panic!("{}.pub.pem: {e}", key.stem()))
}

#[test]
fn public_pems_are_the_halves_of_the_private_keys() {
    // RSA-1024 is left out: aws-lc neither signs nor verifies with it (see `rsa1024.jwt`).
    let all = [
        Key::Rsa2048,
        Key::EcP256,
        Key::EcP384,
        Key::Ed25519,
        Key::Attacker,
    ];
    let message = b"fixture check";
    for signer in all {
        let signature = b64(sign_raw(message, &signer.encoding_key(), signer.alg()));
        for verifier in all.iter().filter(|v| v.alg() == signer.alg()) {
            let verified = jsonwebtoken::crypto::verify(
                &signature,
                message,
                &decoding_key(*verifier),
                signer.alg(),
            )
            .unwrap_or(false);
            assert_eq!(
                verified,
                *verifier == signer,
                "{} signature checked with {}.pub.pem ({})",
                signer.stem(),
                verifier.stem(),
                alg_name(signer.alg())
            );
        }
    }
    // The two P-256 keys really differ (the attacker's key is not a copy of ours).
    assert_ne!(Key::EcP256.jwk()["x"], Key::Attacker.jwk()["x"]);
    let _ = Algorithm::ES256;
}
