//! `private_key_jwt` at the test issuer's endpoints (RFC 7523 §2.2, §3; RFC 7521 §4.2): a
//! client assertion, checked with the public keys registered for the client.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

pub(crate) use crate::dpop_key::signing::JWT_BEARER;

use super::server::{OAuthError, oauth_error};
use super::{Shared, TestClient};
use crate::jwks::key::parse_alg;

/// Assertions kept for replay checks at once; past that, expired ones are dropped first and
/// then the request is refused (a test that signs this many is broken).
const MAX_REMEMBERED: usize = 100_000;

/// The `jti`s of the assertions accepted, per client, until their `exp`.
#[derive(Debug, Default)]
pub(crate) struct SeenAssertions(Mutex<HashMap<(String, String), i64>>);

impl SeenAssertions {
    /// Records `jti` of `client` until `exp`; `false` if it was seen before (and has not
    /// expired since) or there is no room.
    fn first_use(&self, client: &str, jti: &str, exp: i64, now: i64) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = (client.to_owned(), jti.to_owned());
        if seen.get(&key).is_some_and(|&until| until >= now) {
            return false;
        }
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, until| *until >= now);
            if seen.len() >= MAX_REMEMBERED {
                return false;
            }
        }
        seen.insert(key, exp);
        true
    }
}

fn refused(description: &'static str) -> OAuthError {
    oauth_error("invalid_client", description)
}

fn json_part(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The client whose assertion this is, if it passes every check: a compact JWS with an
/// asymmetric `alg`, signed by one of the client's registered keys (by `kid` when there is
/// one); `iss` and `sub` the client id (and `client_id`, when sent, too); `aud` naming the
/// token endpoint or the issuer; `exp` present and not past; a `jti` not used before.
pub(crate) fn authenticate(
    shared: &Shared,
    assertion: &str,
    client_id: Option<&str>,
    now: i64,
) -> Result<TestClient, OAuthError> {
    let malformed = || refused("The client assertion is not a signed JWT");
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(malformed());
    };
    let header = json_part(header).ok_or_else(malformed)?;
    let claims = json_part(payload).ok_or_else(malformed)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(parse_alg)
        .filter(|alg| !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        .ok_or_else(|| refused("The client assertion's alg is not an asymmetric JWS algorithm"))?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let subject = text("sub").ok_or_else(|| refused("The client assertion has no sub"))?;
    if text("iss") != Some(subject) {
        return Err(refused("The client assertion's iss differs from its sub"));
    }
    if client_id.is_some_and(|id| id != subject) {
        return Err(refused("client_id differs from the client assertion's sub"));
    }
    let client = shared.registry().clients.get(subject).cloned();
    let Some(client) = client.filter(|c| c.keys.is_some()) else {
        return Err(refused(
            "The client is unknown, or has no key registered for private_key_jwt",
        ));
    };
    let keys = client.keys.as_ref().expect("filtered on");
    let kid = header.get("kid").and_then(Value::as_str);
    let signed = &assertion[..assertion.len() - signature.len() - 1];
    if !keys
        .candidates(kid, alg)
        .any(|key| key.verify(signed.as_bytes(), signature, alg))
    {
        return Err(refused(
            "The client assertion's signature does not verify with the client's keys",
        ));
    }
    let endpoints = [shared.endpoint("/token"), shared.issuer.clone()];
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => endpoints.contains(aud),
        Some(Value::Array(auds)) => auds.iter().any(|aud| {
            aud.as_str()
                .is_some_and(|aud| endpoints.iter().any(|e| e == aud))
        }),
        _ => false,
    };
    if !audience_ok {
        return Err(refused(
            "The client assertion's aud names neither the token endpoint nor the issuer",
        ));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| refused("The client assertion has no exp"))?;
    if exp <= now {
        return Err(refused("The client assertion has expired"));
    }
    let jti = text("jti").ok_or_else(|| refused("The client assertion has no jti"))?;
    if !shared.seen_assertions.first_use(subject, jti, exp, now) {
        return Err(refused("The client assertion was used before (jti)"));
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_accepted_once_until_it_expires() {
        let seen = SeenAssertions::default();
        assert!(seen.first_use("a", "j1", 100, 50));
        assert!(!seen.first_use("a", "j1", 100, 60), "replayed");
        assert!(seen.first_use("b", "j1", 100, 60), "another client's");
        assert!(seen.first_use("a", "j1", 200, 101), "the first expired");
    }
}
