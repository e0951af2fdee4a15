//! DPoP at the token endpoint (RFC 9449 §5): the proof a token request carries, checked as
//! an authorization server must, and the nonces it may require (§8).

use std::fmt;
use std::time::Duration;

use axum::http::HeaderMap;

use crate::guard::dpop::DPOP;
use crate::verify::dpop::{NonceKey, ProofRules, ProofTarget, check_proof, normalize_htu};
use crate::verify::replay::{MemoryReplayStore, Recorded, ReplayKey};

/// The proof algorithms the token endpoint accepts, as its metadata lists them
/// (`dpop_signing_alg_values_supported`).
pub(crate) const ALGORITHMS: [&str; 9] = [
    "ES256", "ES384", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512",
];

/// Proofs remembered at once; a test issuer sees far fewer.
const REPLAY_CAPACITY: usize = 10_000;

/// How long one issuer nonce is handed out.
const NONCE_STEP: Duration = Duration::from_secs(300);

/// The token endpoint's proof checks.
pub(crate) struct TokenEndpointDpop {
    /// The token endpoint's URL, normalized: the `htu` every proof must carry.
    htu: String,
    rules: ProofRules,
    replay: MemoryReplayStore,
}

/// Why a token request's proof was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `invalid_dpop_proof`, and what was wrong.
    Invalid(&'static str),
    /// `use_dpop_nonce`, with the nonce to use.
    NonceRequired(String),
}

impl TokenEndpointDpop {
    /// Checks for proofs to `token_endpoint`; with `nonces`, a proof must carry a nonce of
    /// this issuer (a MAC under a random secret).
    pub(crate) fn new(token_endpoint: &str, nonces: bool) -> Self {
        let nonces = nonces.then(|| {
            let mut secret = [0u8; 32];
            aws_lc_rs::rand::fill(&mut secret).expect("the system random generator works");
            NonceKey::new(&secret, NONCE_STEP)
        });
        Self {
            htu: normalize_htu(token_endpoint).expect("the token endpoint is an http URL"),
            rules: ProofRules {
                nonces,
                ..ProofRules::default()
            },
            replay: MemoryReplayStore::new(REPLAY_CAPACITY),
        }
    }

    /// Whether the issuer requires its nonces in proofs.
    pub(crate) fn nonces(&self) -> bool {
        self.rules.nonces.is_some()
    }

    /// The nonce to hand out now, when nonces are on.
    pub(crate) fn fresh_nonce(&self, now: i64) -> Option<String> {
        self.rules.nonces.as_ref().map(|key| key.current(now))
    }

    /// The thumbprint of the proof's key, for a token request with a `DPoP` header; `None`
    /// without one. A proof that passes is recorded, so it is accepted once.
    pub(crate) fn check(&self, headers: &HeaderMap, now: i64) -> Result<Option<String>, Refusal> {
        let mut proofs = headers.get_all(&DPOP).iter();
        let proof = match (proofs.next(), proofs.next()) {
            (None, _) => return Ok(None),
            (Some(_), Some(_)) => return Err(Refusal::Invalid("two DPoP headers")),
            (Some(proof), None) => proof
                .to_str()
                .map_err(|_| Refusal::Invalid("the proof is not ASCII"))?,
        };
        let target = ProofTarget {
            method: "POST",
            htu: &self.htu,
            access_token: None,
        };
        let checked = check_proof(proof, &self.rules, target, now).map_err(|failure| {
            match (&self.rules.nonces, failure.kind) {
                (Some(key), crate::ErrorKind::DpopNonceRequired) => {
                    Refusal::NonceRequired(key.current(now))
                }
                _ => Refusal::Invalid(failure.reason),
            }
        })?;
        let expires = checked.iat.saturating_add(self.rules.window_secs);
        let recorded = self.replay.record_at(
            ReplayKey::new(checked.replay),
            u64::try_from(expires).unwrap_or(0),
            u64::try_from(now).unwrap_or(0),
        );
        match recorded {
            Ok(Recorded::First) => Ok(Some(checked.jkt)),
            Ok(Recorded::Seen) => Err(Refusal::Invalid("the proof was already used")),
            Err(_) => Err(Refusal::Invalid("too many proofs to remember")),
        }
    }
}

impl fmt::Debug for TokenEndpointDpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpointDpop")
            .field("htu", &self.htu)
            .field("nonces", &self.nonces())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpop_key::DpopKey;
    use crate::testing::unix_now;
    use axum::http::HeaderValue;

    const URL: &str = "http://127.0.0.1:8080/token";

    fn headers(proofs: &[String]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for proof in proofs {
            headers.append(&DPOP, HeaderValue::from_str(proof).unwrap());
        }
        headers
    }

    #[test]
    fn a_proof_binds_once() {
        let dpop = TokenEndpointDpop::new(URL, false);
        let key = DpopKey::generate();
        let now = unix_now();
        assert_eq!(dpop.check(&headers(&[]), now), Ok(None));
        let proof = key.proof("POST", URL).sign();
        assert_eq!(
            dpop.check(&headers(std::slice::from_ref(&proof)), now),
            Ok(Some(key.thumbprint().to_owned()))
        );
        assert_eq!(
            dpop.check(&headers(&[proof]), now),
            Err(Refusal::Invalid("the proof was already used"))
        );
        let two = [key.proof("POST", URL).sign(), key.proof("POST", URL).sign()];
        assert_eq!(
            dpop.check(&headers(&two), now),
            Err(Refusal::Invalid("two DPoP headers"))
        );
        let with_ath = key.proof("POST", URL).access_token("t").sign();
        assert_eq!(
            dpop.check(&headers(&[with_ath]), now),
            Err(Refusal::Invalid("ath without an access token"))
        );
    }

    #[test]
    fn nonces_are_required_when_on() {
        let dpop = TokenEndpointDpop::new(URL, true);
        let key = DpopKey::generate();
        let now = unix_now();
        let Err(Refusal::NonceRequired(nonce)) =
            dpop.check(&headers(&[key.proof("POST", URL).sign()]), now)
        else {
            panic!("a nonce is required");
        };
        assert_eq!(Some(&nonce), dpop.fresh_nonce(now).as_ref());
        let proof = key.proof("POST", URL).nonce(&nonce).sign();
        assert!(dpop.check(&headers(&[proof]), now).unwrap().is_some());
        assert!(format!("{dpop:?}").contains("nonces: true"));
    }
}
