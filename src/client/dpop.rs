//! DPoP on the calling side (RFC 9449): the proof sent with each token request and each API
//! request, and the nonces servers hand out (§8, §9), remembered per origin.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use http::{HeaderMap, HeaderValue};

use super::error::shown_url;
use crate::dpop_key::DpopKey;

/// The `DPoP-Nonce` response header.
const DPOP_NONCE: &str = "dpop-nonce";

/// Origins whose nonce is kept at once; past that, one is forgotten (its server asks again).
const MAX_ORIGINS: usize = 64;

/// Longest nonce kept (they are short: ours are 24 characters).
const MAX_NONCE_BYTES: usize = 512;

/// A key, and the latest nonce of each origin it sent proofs to.
pub(crate) struct DpopClient {
    key: Arc<DpopKey>,
    nonces: Mutex<HashMap<String, String>>,
}

/// Where a proof goes: its `htu` (the URL without query and fragment) and the origin whose
/// nonce it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) htu: String,
    pub(crate) origin: String,
}

impl Target {
    /// `None` unless `url` is an absolute `http` or `https` URL with a host.
    pub(crate) fn of(url: &str) -> Option<Self> {
        let url = url::Url::parse(url).ok()?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return None;
        }
        Some(Self {
            origin: url.origin().ascii_serialization(),
            // Query and fragment are never part of `htu` (§4.2); user names and passwords
            // are no part of it either.
            htu: shown_url(&url),
        })
    }
}

impl DpopClient {
    pub(crate) fn new(key: Arc<DpopKey>) -> Self {
        Self {
            key,
            nonces: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn key(&self) -> &DpopKey {
        &self.key
    }

    /// A fresh proof for `method` to `target`: new `jti`, `iat` now, `ath` of `token` when
    /// one is sent, and the origin's latest nonce if it gave one. Marked sensitive.
    pub(crate) fn proof(&self, method: &str, target: &Target, token: Option<&str>) -> HeaderValue {
        let mut proof = self.key.proof(method, &target.htu);
        if let Some(token) = token {
            proof = proof.access_token(token);
        }
        let nonce = self.lock().get(&target.origin).cloned();
        if let Some(nonce) = nonce {
            proof = proof.nonce(&nonce);
        }
        let mut value =
            HeaderValue::try_from(proof.sign()).expect("a compact JWS is a valid header value");
        value.set_sensitive(true);
        value
    }

    /// Keeps the `DPoP-Nonce` of a response from `target`'s origin. Whether the response had
    /// a usable one (exactly one header, of the characters RFC 9449 §8.1 allows).
    pub(crate) fn remember(&self, target: &Target, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(DPOP_NONCE).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return false;
        };
        let nonce = value.as_bytes();
        // NQCHAR = %x21 / %x23-5B / %x5D-7E
        let valid = !nonce.is_empty()
            && nonce.len() <= MAX_NONCE_BYTES
            && nonce
                .iter()
                .all(|&b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        let Ok(nonce) = value.to_str() else {
            return false;
        };
        if !valid {
            return false;
        }
        let mut nonces = self.lock();
        if nonces.len() >= MAX_ORIGINS && !nonces.contains_key(&target.origin) {
            let forget = nonces.keys().next().cloned();
            if let Some(forget) = forget {
                nonces.remove(&forget);
            }
        }
        nonces.insert(target.origin.clone(), nonce.to_owned());
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for DpopClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopClient")
            .field("key", &self.key)
            .field("nonces", &self.lock().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::dpop::{ProofRules, ProofTarget, check_proof};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::Value;

    fn claims(proof: &HeaderValue) -> Value {
        let payload = proof.to_str().unwrap().split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn targets_drop_query_fragment_and_credentials() {
        let target = Target::of("https://u:p@API.example.com:443/a/b?q=1#f").unwrap();
        assert_eq!(target.htu, "https://api.example.com/a/b");
        assert_eq!(target.origin, "https://api.example.com");
        let target = Target::of("http://127.0.0.1:8080").unwrap();
        assert_eq!(target.htu, "http://127.0.0.1:8080/");
        assert_eq!(target.origin, "http://127.0.0.1:8080");
        assert_eq!(Target::of("/relative"), None);
        assert_eq!(Target::of("ftp://h/x"), None);
    }

    #[test]
    fn proofs_carry_ath_and_the_origins_nonce() {
        let client = DpopClient::new(Arc::new(DpopKey::generate()));
        let api = Target::of("https://api.example.com/orders?page=2").unwrap();
        let other = Target::of("https://other.example.com/x").unwrap();
        let proof = client.proof("GET", &api, Some("tok"));
        assert!(proof.is_sensitive());
        let rules = ProofRules::default();
        let target = ProofTarget {
            method: "GET",
            htu: "https://api.example.com/orders",
            access_token: Some("tok"),
        };
        let now = crate::verify::replay::unix_secs(std::time::SystemTime::now()) as i64;
        let checked = check_proof(proof.to_str().unwrap(), &rules, target, now).unwrap();
        assert_eq!(checked.jkt, client.key().thumbprint());
        assert!(claims(&proof).get("nonce").is_none());

        let mut headers = HeaderMap::new();
        headers.insert(DPOP_NONCE, HeaderValue::from_static("n-1"));
        assert!(client.remember(&api, &headers));
        assert_eq!(claims(&client.proof("GET", &api, None))["nonce"], "n-1");
        assert!(
            claims(&client.proof("GET", &other, None))
                .get("nonce")
                .is_none()
        );
        let token_request = claims(&client.proof("POST", &api, None));
        assert!(token_request.get("ath").is_none());

        // Bad or doubled nonces are not kept.
        for bad in [&["a b"][..], &["a\"b"], &["x", "y"], &[]] {
            let mut headers = HeaderMap::new();
            for value in bad {
                headers.append(DPOP_NONCE, HeaderValue::from_str(value).unwrap());
            }
            assert!(!client.remember(&api, &headers), "{bad:?}");
        }
        assert_eq!(claims(&client.proof("GET", &api, None))["nonce"], "n-1");
        let debug = format!("{client:?}");
        assert!(
            !debug.contains("n-1") && debug.contains("thumbprint"),
            "{debug}"
        );
    }

    #[test]
    fn the_nonce_memory_is_bounded() {
        let client = DpopClient::new(Arc::new(DpopKey::generate()));
        let mut headers = HeaderMap::new();
        headers.insert(DPOP_NONCE, HeaderValue::from_static("n"));
        for port in 0..(MAX_ORIGINS as u16 + 10) {
            let target = Target::of(&format!("http://127.0.0.1:{}/", 1000 + port)).unwrap();
            assert!(client.remember(&target, &headers));
        }
        assert_eq!(client.lock().len(), MAX_ORIGINS);
    }
}
