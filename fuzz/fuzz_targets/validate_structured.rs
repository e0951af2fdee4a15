//! `Validator::validate` on tokens built from fuzzer-chosen header and claims, so that the
//! input gets past base64url and JSON to the key choice, the signature and the claim rules.
//! Some are signed for real (EdDSA, ES256, ES384 with the fixtures' keys, HS* with the
//! shared secret); the oracle is that nothing is accepted without a genuine signature by a
//! key its issuer trusts.

#![no_main]

mod common;

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Result, Unstructured};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Number, Value};

use common::{AUDIENCE, HMAC_ISSUER, HMAC_SECRET, JWKS_ISSUER};

/// A JSON value of bounded depth.
#[derive(Debug)]
struct Json(Value);

impl<'a> Arbitrary<'a> for Json {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        json(u, 3).map(Json)
    }
}

fn json(u: &mut Unstructured<'_>, depth: u8) -> Result<Value> {
    let kinds = if depth == 0 { 5 } else { 7 };
    Ok(match u.int_in_range(0..=kinds)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => Value::from(u.arbitrary::<u64>()?),
        4 => Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        5 => Value::String(u.arbitrary()?),
        6 => {
            let len = u.int_in_range(0..=4)?;
            Value::Array(
                (0..len)
                    .map(|_| json(u, depth - 1))
                    .collect::<Result<_>>()?,
            )
        }
        _ => {
            let len = u.int_in_range(0..=4)?;
            let mut object = Map::new();
            for _ in 0..len {
                object.insert(u.arbitrary()?, json(u, depth - 1)?);
            }
            Value::Object(object)
        }
    })
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    EdDsa,
    Es256,
    Es384,
    Rs256,
    Ps256,
    Hs256,
    Hs384,
    Hs512,
    None,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
            Self::None => "none",
        }
    }

    fn is_hmac(self) -> bool {
        matches!(self, Self::Hs256 | Self::Hs384 | Self::Hs512)
    }
}

#[derive(Arbitrary, Debug)]
enum Member<T> {
    Absent,
    Usual(T),
    Other(Json),
}

#[derive(Arbitrary, Debug)]
enum Kid {
    Matching,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Iss {
    Jwks,
    Hmac,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Aud {
    Ours,
    List(Vec<bool>),
    Other(String),
}

/// A time claim, relative to now.
#[derive(Arbitrary, Debug)]
enum Time {
    Seconds(i32),
    Fraction(f32),
}

#[derive(Arbitrary, Debug)]
enum Typ {
    AtJwt,
    Jwt,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Scope {
    String(String),
    List(Vec<String>),
}

#[derive(Arbitrary, Debug)]
enum Segment {
    Json,
    /// Raw bytes instead of the JSON object.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Signature {
    /// By the key that fits `alg` (for RS256, PS256 and `none`: by no key, so garbage).
    Genuine,
    /// Genuine, then one byte of its base64url changed.
    Tampered(u16, u8),
    /// ES256 by a key nobody trusts.
    Attacker,
    Bytes(Vec<u8>),
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum Encoding {
    Canonical,
    Padded,
    /// The standard alphabet (`+/`) with padding.
    Standard,
}

#[derive(Arbitrary, Debug)]
struct Input {
    alg: Member<Alg>,
    kid: Member<Kid>,
    typ: Member<Typ>,
    crit: Option<Json>,
    header_extra: Vec<(String, Json)>,
    header_segment: Segment,
    iss: Member<Iss>,
    aud: Member<Aud>,
    exp: Member<Time>,
    nbf: Member<Time>,
    iat: Member<Time>,
    scope: Member<Scope>,
    scp: Member<Scope>,
    client_id: Member<String>,
    claims_extra: Vec<(String, Json)>,
    payload_segment: Segment,
    signature: Signature,
    encoding: Encoding,
    extra_segment: Option<String>,
}

fn set<T>(
    object: &mut Map<String, Value>,
    name: &str,
    member: Member<T>,
    f: impl FnOnce(T) -> Value,
) {
    match member {
        Member::Absent => {}
        Member::Usual(value) => {
            object.insert(name.into(), f(value));
        }
        Member::Other(Json(value)) => {
            object.insert(name.into(), value);
        }
    }
}

fn time(now: i64, t: Time) -> Value {
    match t {
        Time::Seconds(s) => Value::from(now + i64::from(s)),
        Time::Fraction(f) => {
            Number::from_f64(now as f64 + f64::from(f)).map_or(Value::Null, Value::Number)
        }
    }
}

fn scope(s: Scope) -> Value {
    match s {
        Scope::String(s) => Value::String(s),
        Scope::List(list) => Value::from(list),
    }
}

fn kid_of(alg: Alg) -> &'static str {
    match alg {
        Alg::EdDsa => "ed-1",
        Alg::Es256 => "ec-p256-1",
        Alg::Es384 => "ec-p384-1",
        Alg::Rs256 | Alg::Ps256 => "rsa-1",
        _ => "hmac",
    }
}

struct Keys {
    ed25519: Ed25519KeyPair,
    p256: EcdsaKeyPair,
    p384: EcdsaKeyPair,
    attacker: EcdsaKeyPair,
    rng: SystemRandom,
}

fn der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("PEM")
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let ec = |alg, pem| EcdsaKeyPair::from_pkcs8(alg, &der(pem)).expect("an EC key");
        Keys {
            ed25519: Ed25519KeyPair::from_pkcs8(&der(include_str!("../../fixtures/ed25519.pem")))
                .expect("an Ed25519 key"),
            p256: ec(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                include_str!("../../fixtures/ec-p256.pem"),
            ),
            p384: ec(
                &ECDSA_P384_SHA384_FIXED_SIGNING,
                include_str!("../../fixtures/ec-p384.pem"),
            ),
            attacker: ec(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                include_str!("../../fixtures/attacker-ec-p256.pem"),
            ),
            rng: SystemRandom::new(),
        }
    })
}

/// The genuine signature for `alg`, if we hold its key.
fn sign(alg: Alg, message: &[u8]) -> Option<Vec<u8>> {
    let keys = keys();
    let mac = |algorithm| {
        hmac::sign(&hmac::Key::new(algorithm, HMAC_SECRET), message)
            .as_ref()
            .to_vec()
    };
    Some(match alg {
        Alg::EdDsa => keys.ed25519.sign(message).as_ref().to_vec(),
        Alg::Es256 => keys.p256.sign(&keys.rng, message).ok()?.as_ref().to_vec(),
        Alg::Es384 => keys.p384.sign(&keys.rng, message).ok()?.as_ref().to_vec(),
        Alg::Hs256 => mac(hmac::HMAC_SHA256),
        Alg::Hs384 => mac(hmac::HMAC_SHA384),
        Alg::Hs512 => mac(hmac::HMAC_SHA512),
        Alg::Rs256 | Alg::Ps256 | Alg::None => return None,
    })
}

fuzz_target!(|input: Input| {
    let now = common::now();
    let chosen_alg = match input.alg {
        Member::Usual(alg) => Some(alg),
        _ => None,
    };

    let mut header = Map::new();
    for (name, Json(value)) in input.header_extra {
        header.insert(name, value);
    }
    set(&mut header, "alg", input.alg, |alg| Value::from(alg.name()));
    set(&mut header, "kid", input.kid, |kid| match kid {
        Kid::Matching => Value::from(chosen_alg.map_or("ed-1", kid_of)),
        Kid::Other(kid) => Value::from(kid),
    });
    set(&mut header, "typ", input.typ, |typ| match typ {
        Typ::AtJwt => Value::from("at+jwt"),
        Typ::Jwt => Value::from("JWT"),
        Typ::Other(typ) => Value::from(typ),
    });
    if let Some(Json(crit)) = input.crit {
        header.insert("crit".into(), crit);
    }

    let mut claims = Map::new();
    for (name, Json(value)) in input.claims_extra {
        claims.insert(name, value);
    }
    set(&mut claims, "iss", input.iss, |iss| match iss {
        Iss::Jwks => Value::from(JWKS_ISSUER),
        Iss::Hmac => Value::from(HMAC_ISSUER),
        Iss::Other(iss) => Value::from(iss),
    });
    set(&mut claims, "aud", input.aud, |aud| match aud {
        Aud::Ours => Value::from(AUDIENCE),
        Aud::List(list) => Value::from(
            list.into_iter()
                .map(|ours| {
                    if ours {
                        AUDIENCE
                    } else {
                        "https://elsewhere.example.com"
                    }
                })
                .collect::<Vec<_>>(),
        ),
        Aud::Other(aud) => Value::from(aud),
    });
    set(&mut claims, "exp", input.exp, |t| time(now, t));
    set(&mut claims, "nbf", input.nbf, |t| time(now, t));
    set(&mut claims, "iat", input.iat, |t| time(now, t));
    set(&mut claims, "scope", input.scope, scope);
    set(&mut claims, "scp", input.scp, scope);
    set(&mut claims, "client_id", input.client_id, Value::from);

    let bytes = |segment, object: Map<String, Value>| match segment {
        Segment::Json => serde_json::to_vec(&object).expect("serializable"),
        Segment::Raw(bytes) => bytes,
    };
    let header_bytes = bytes(input.header_segment, header);
    let payload_bytes = bytes(input.payload_segment, claims);
    let encode = |bytes: &[u8]| match input.encoding {
        Encoding::Canonical => URL_SAFE_NO_PAD.encode(bytes),
        Encoding::Padded => URL_SAFE.encode(bytes),
        Encoding::Standard => STANDARD.encode(bytes),
    };
    let signing_input = format!("{}.{}", encode(&header_bytes), encode(&payload_bytes));

    let genuine = || {
        chosen_alg
            .and_then(|alg| sign(alg, signing_input.as_bytes()))
            .map(|signature| URL_SAFE_NO_PAD.encode(signature))
    };
    let (signature, is_genuine) = match input.signature {
        Signature::Genuine => match genuine() {
            Some(signature) => (signature, true),
            None => (String::new(), false),
        },
        Signature::Tampered(at, byte) => {
            let mut signature = genuine().unwrap_or_default().into_bytes();
            if signature.is_empty() {
                return;
            }
            let at = usize::from(at) % signature.len();
            if signature[at] == byte || !byte.is_ascii() {
                return;
            }
            signature[at] = byte;
            (String::from_utf8(signature).expect("ASCII"), false)
        }
        Signature::Attacker => {
            let keys = keys();
            let signature = keys
                .attacker
                .sign(&keys.rng, signing_input.as_bytes())
                .expect("signed");
            (URL_SAFE_NO_PAD.encode(signature.as_ref()), false)
        }
        Signature::Bytes(bytes) => (URL_SAFE_NO_PAD.encode(bytes), false),
        Signature::Text(text) => (text, false),
    };
    let mut token = format!("{signing_input}.{signature}");
    if let Some(extra) = input.extra_segment {
        token.push('.');
        token.push_str(&extra);
    }

    let before = common::now();
    let result = common::validate(&token);
    if let Ok(claims) = result {
        common::check_accepted(&claims, before, common::now());
        // Nothing is accepted without a genuine signature by a key its issuer trusts.
        assert!(is_genuine, "accepted without a genuine signature: {token}");
        let alg = chosen_alg.expect("signed, so chosen");
        let trusted = match claims.issuer() {
            JWKS_ISSUER => !alg.is_hmac(),
            HMAC_ISSUER => alg.is_hmac(),
            _ => false,
        };
        assert!(trusted, "{} accepted for {}", alg.name(), claims.issuer());
    }
});
