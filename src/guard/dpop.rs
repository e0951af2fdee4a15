//! The guard's DPoP settings ([`Dpop`]) and the checks it runs on a request that presents
//! `Authorization: DPoP` (RFC 9449 §7).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use jsonwebtoken::Algorithm;

use crate::defaults;
use crate::error::{AuthError, ConfigError, ErrorKind};
use crate::guard::challenge::Scheme;
use crate::guard::metadata::ResourceMetadata;
use crate::jwks::key::{ASYMMETRIC, AlgSet};
use crate::verify::claims::ClaimsView;
use crate::verify::dpop::{
    CheckedProof, Expected, ExternalUrl, MIN_NONCE_SECRET_BYTES, NonceKey, ProofKeys, ProofRules,
    check_expected,
};
use crate::verify::replay::{MemoryReplayStore, Recorded, ReplayError, ReplayKey, ReplayStore};

/// The `DPoP` request header that carries the proof.
pub(crate) static DPOP: HeaderName = HeaderName::from_static("dpop");
/// The `DPoP-Nonce` response header (RFC 9449 §8).
pub(crate) static DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// Which schemes a guard accepts (RFC 9449 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DpopMode {
    /// Bearer only: `Authorization: DPoP` is another scheme (401 without `error`). A
    /// DPoP-bound token sent as `Bearer` is still refused: this mode never lets a bound
    /// token be used without its key.
    Off,
    /// Both: `Bearer` tokens as before, and DPoP-bound tokens with their proofs. Challenges
    /// name both schemes. The default once [`Dpop`] is configured, so that clients move to
    /// DPoP one by one.
    Allowed,
    /// DPoP only: a `Bearer` credential is another scheme (401 with a `DPoP` challenge), and
    /// the metadata document says `dpop_bound_access_tokens_required`.
    Required,
}

/// The DPoP settings of a guard, given to [`GuardLayer::dpop`](crate::GuardLayer::dpop).
///
/// A guard without them accepts bearer tokens only ([`DpopMode::Off`]): checking a proof's
/// `htu` needs the URL clients use to reach the API, which only its operator knows (taking
/// it from the `Host` or `X-Forwarded-*` headers would let a client choose it). With them,
/// the mode is [`DpopMode::Allowed`] unless set otherwise.
///
/// ```
/// use bearer_guard::dpop::{Dpop, MemoryReplayStore};
/// use bearer_guard::{GuardLayer, Issuer, Validator};
/// use std::time::Duration;
///
/// # fn build() -> Result<(), bearer_guard::ConfigError> {
/// let validator = Validator::builder()
///     .issuer(Issuer::new("https://idp.example.com").audience("https://orders.example.com"))
///     .build()?;
/// let guard = GuardLayer::new(validator).dpop(
///     Dpop::new("https://orders.example.com")
///         .required()
///         .iat_window(Duration::from_secs(120))
///         .nonces(*b"a 32-byte secret shared by all!!")
///         .replay_store(MemoryReplayStore::new(100_000)),
/// )?;
/// # Ok(()) }
/// # build().unwrap();
/// ```
#[derive(Clone)]
#[must_use]
pub struct Dpop {
    mode: DpopMode,
    external_url: String,
    algorithms: Vec<Algorithm>,
    iat_window: Duration,
    max_jti_bytes: usize,
    nonce_secret: Option<Vec<u8>>,
    nonce_step: Duration,
    store: Option<Replay>,
}

impl Dpop {
    /// DPoP for an API that clients reach at `external_url` (scheme, host, port, and the
    /// path prefix a proxy strips, if any): a proof's `htu` must be this URL followed by the
    /// request's path, compared after RFC 3986 normalization, query and fragment ignored.
    ///
    /// The path is the one the guard sees: behind axum's `Router::nest("/v1", …)` it lacks
    /// `/v1`, so put the prefix in `external_url` (`https://api.example.com/v1`).
    ///
    /// Defaults: mode [`DpopMode::Allowed`]; every asymmetric algorithm the crate verifies;
    /// `iat` within [`defaults::DPOP_IAT_WINDOW`]; `jti` up to
    /// [`defaults::DPOP_MAX_JTI_BYTES`]; no server nonces; a [`MemoryReplayStore`] of
    /// [`defaults::DPOP_REPLAY_CAPACITY`] proofs.
    pub fn new(external_url: impl Into<String>) -> Self {
        Self {
            mode: DpopMode::Allowed,
            external_url: external_url.into(),
            algorithms: DPOP_ALGORITHMS.to_vec(),
            iat_window: defaults::DPOP_IAT_WINDOW,
            max_jti_bytes: defaults::DPOP_MAX_JTI_BYTES,
            nonce_secret: None,
            nonce_step: defaults::DPOP_NONCE_STEP,
            store: None,
        }
    }

    /// Set the mode.
    pub fn mode(mut self, mode: DpopMode) -> Self {
        self.mode = mode;
        self
    }

    /// [`DpopMode::Required`]: DPoP only.
    pub fn required(self) -> Self {
        self.mode(DpopMode::Required)
    }

    /// Proof algorithms accepted (asymmetric ones only), also listed in the challenges'
    /// `algs` and the metadata's `dpop_signing_alg_values_supported`.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How far a proof's `iat` may be from now, either way (default
    /// [`defaults::DPOP_IAT_WINDOW`]; 1 s to 1 h).
    pub fn iat_window(mut self, window: Duration) -> Self {
        self.iat_window = window;
        self
    }

    /// Longest `jti` accepted (default [`defaults::DPOP_MAX_JTI_BYTES`]; 16 to 1024).
    pub fn max_jti_bytes(mut self, max: usize) -> Self {
        self.max_jti_bytes = max;
        self
    }

    /// Require server nonces (RFC 9449 §9): a proof must carry a `nonce` this guard issued,
    /// or it is answered 401 `use_dpop_nonce` with a fresh one in `DPoP-Nonce`. Nonces are a
    /// MAC of the time step under `secret` (at least 32 random bytes), so every instance
    /// given the same secret issues and accepts the same nonces: a fleet shares no state.
    pub fn nonces(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.nonce_secret = Some(secret.into());
        self
    }

    /// How long one nonce is issued (default [`defaults::DPOP_NONCE_STEP`]); a nonce is
    /// accepted in its step and the next.
    pub fn nonce_step(mut self, step: Duration) -> Self {
        self.nonce_step = step;
        self
    }

    /// Where proofs are remembered so that each is accepted once. Default: a
    /// [`MemoryReplayStore`], right for one instance; a fleet shares one store (feature
    /// `redis`: `RedisReplayStore`), or a proof can be replayed on the next instance.
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        // A memory store is asked directly, without the boxed future of the trait.
        let mut store = Some(store);
        let memory = (&mut store as &mut dyn std::any::Any)
            .downcast_mut::<Option<MemoryReplayStore>>()
            .and_then(Option::take);
        self.store = Some(match (memory, store) {
            (Some(memory), _) => Replay::Memory(Arc::new(memory)),
            (None, Some(store)) => Replay::Shared(Arc::new(store)),
            (None, None) => unreachable!("the store is taken only as a memory store"),
        });
        self
    }

    /// [`replay_store`](Self::replay_store) for a store shared with other guards.
    pub fn shared_replay_store(mut self, store: Arc<dyn ReplayStore>) -> Self {
        self.store = Some(Replay::Shared(store));
        self
    }

    /// Checks every setting and prepares them for requests.
    pub(crate) fn build(self) -> Result<DpopSettings, ConfigError> {
        let invalid = |setting, problem| ConfigError::InvalidDpop { setting, problem };
        let url = ExternalUrl::parse(&self.external_url).ok_or(invalid(
            "dpop.external_url",
            "must be an absolute http(s) URL without user name, password, query or fragment",
        ))?;
        if self.algorithms.is_empty() {
            return Err(invalid("dpop.algorithms", "names no algorithm"));
        }
        if self
            .algorithms
            .iter()
            .any(|a| !AlgSet::of(&ASYMMETRIC).contains(*a))
        {
            return Err(invalid(
                "dpop.algorithms",
                "names a symmetric or unsupported algorithm (proofs are signed with a public key)",
            ));
        }
        if self.iat_window < Duration::from_secs(1) || self.iat_window > Duration::from_secs(3600) {
            return Err(invalid("dpop.iat_window", "must be between 1 s and 1 h"));
        }
        if !(16..=1024).contains(&self.max_jti_bytes) {
            return Err(invalid("dpop.max_jti_bytes", "must be between 16 and 1024"));
        }
        let nonces = match &self.nonce_secret {
            None => None,
            Some(secret) if secret.len() < MIN_NONCE_SECRET_BYTES => {
                return Err(invalid("dpop.nonce_secret", "must be at least 32 bytes"));
            }
            Some(_)
                if self.nonce_step < Duration::from_secs(1)
                    || self.nonce_step > Duration::from_secs(3600) =>
            {
                return Err(invalid("dpop.nonce_step", "must be between 1 s and 1 h"));
            }
            Some(secret) => Some(NonceKey::new(secret, self.nonce_step)),
        };
        let algs = AlgSet::of(&self.algorithms);
        let names: Vec<&'static str> = DPOP_ALGORITHMS
            .iter()
            .filter(|a| algs.contains(**a))
            .map(|a| alg_name(*a))
            .collect();
        Ok(DpopSettings {
            mode: self.mode,
            url,
            rules: ProofRules {
                algs,
                window_secs: i64::try_from(self.iat_window.as_secs()).unwrap_or(3600),
                max_jti_bytes: self.max_jti_bytes,
                max_proof_bytes: defaults::DPOP_MAX_PROOF_BYTES,
                nonces,
            },
            algorithm_names: names,
            keys: Arc::new(ProofKeys::new()),
            store: self
                .store
                .unwrap_or_else(|| Replay::Memory(Arc::new(MemoryReplayStore::default()))),
        })
    }
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("mode", &self.mode)
            .field("external_url", &self.external_url)
            .field("algorithms", &self.algorithms)
            .field("iat_window", &self.iat_window)
            .field("nonces", &self.nonce_secret.is_some())
            .field("replay_store", &self.store)
            .finish_non_exhaustive()
    }
}

/// The proof algorithms, in the order challenges and metadata list them: the small, fast
/// ones first.
const DPOP_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
];

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        _ => "RS512",
    }
}

/// The checked, ready settings.
#[derive(Clone)]
pub(crate) struct DpopSettings {
    pub(crate) mode: DpopMode,
    url: ExternalUrl,
    rules: ProofRules,
    /// For `algs="…"` and `dpop_signing_alg_values_supported`.
    pub(crate) algorithm_names: Vec<&'static str>,
    /// The keys of the proof headers seen before, shared by every clone.
    keys: Arc<ProofKeys>,
    store: Replay,
}

/// Where a guard records proofs: its own memory store, answered without a future, or any
/// other store through the trait.
#[derive(Clone)]
enum Replay {
    Memory(Arc<MemoryReplayStore>),
    Shared(Arc<dyn ReplayStore>),
}

impl fmt::Debug for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory(store) => store.fmt(f),
            Self::Shared(store) => store.fmt(f),
        }
    }
}

impl fmt::Debug for DpopSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopSettings")
            .field("mode", &self.mode)
            .field("url", &self.url)
            .field("algorithms", &self.algorithm_names)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// A proof that passed, waiting for its token to be judged and its replay to be recorded.
#[derive(Debug)]
pub(crate) struct PendingProof {
    pub(crate) proof: CheckedProof,
    expires_at: SystemTime,
    store: Replay,
}

impl PendingProof {
    /// Records the proof; a replay or a store that cannot answer is a refusal.
    pub(crate) async fn record(&self) -> Result<(), AuthError> {
        let key = ReplayKey::new(self.proof.replay);
        let outcome = match &self.store {
            Replay::Memory(store) => store.record_now(key, self.expires_at),
            Replay::Shared(store) => store.record(key, self.expires_at).await,
        };
        match outcome {
            Ok(Recorded::First) => Ok(()),
            Ok(Recorded::Seen) => {
                crate::metrics::dpop_replay();
                tracing::debug!(
                    kind = ErrorKind::DpopProofReplayed.code(),
                    "DPoP proof refused: already used"
                );
                Err(ErrorKind::DpopProofReplayed.into())
            }
            Err(error) => {
                let (kind, retry_after) = match error {
                    ReplayError::Unavailable { retry_after } => {
                        (ErrorKind::ReplayStoreUnavailable, retry_after)
                    }
                    ReplayError::Full { retry_after } => (ErrorKind::ReplayStoreFull, retry_after),
                };
                tracing::warn!(kind = kind.code(), %error, "DPoP proof cannot be checked for replay");
                Err(AuthError::unavailable(kind, retry_after))
            }
        }
    }
}

impl DpopSettings {
    /// The proof checks of a request presenting `Authorization: DPoP <token>`: exactly one
    /// `DPoP` header, and a proof that passes RFC 9449 §4.3 for this method, URL and token.
    pub(crate) fn check(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        token: &str,
        now: i64,
    ) -> Result<PendingProof, AuthError> {
        let refuse = |kind: ErrorKind, reason: &'static str| {
            tracing::debug!(kind = kind.code(), reason, "DPoP proof refused");
            AuthError::from(kind)
        };
        let mut proofs = headers.get_all(&DPOP).iter();
        let proof = match (proofs.next(), proofs.next()) {
            (Some(proof), None) => proof
                .to_str()
                .map_err(|_| refuse(ErrorKind::InvalidDpopProof, "proof is not ASCII"))?,
            (None, _) => return Err(refuse(ErrorKind::InvalidDpopProof, "no DPoP header")),
            (Some(_), Some(_)) => {
                return Err(refuse(ErrorKind::InvalidDpopProof, "two DPoP headers"));
            }
        };
        let htu = self
            .url
            .expected(uri.path())
            .ok_or_else(|| refuse(ErrorKind::InvalidDpopProof, "request path not a URL path"))?;
        let expected = Expected {
            method: method.as_str(),
            htu: htu.htu(),
            access_token: Some(token),
        };
        let proof = check_expected(proof, &self.rules, Some(&self.keys), expected, now)
            .map_err(|failure| refuse(failure.kind, failure.reason))?;
        let expires = u64::try_from(proof.iat.saturating_add(self.rules.window_secs)).unwrap_or(0);
        Ok(PendingProof {
            proof,
            expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(expires),
            store: self.store.clone(),
        })
    }

    /// Lists the proof algorithms (and, in required mode, that DPoP is required) in the
    /// protected resource metadata document.
    pub(crate) fn declare_in(&self, metadata: &ResourceMetadata) {
        metadata.declare_dpop(&self.algorithm_names, self.mode == DpopMode::Required);
    }

    /// A fresh `DPoP-Nonce` value, when nonces are on.
    pub(crate) fn nonce(&self, now: i64) -> Option<HeaderValue> {
        let nonce = self.rules.nonces.as_ref()?.current(now);
        HeaderValue::try_from(nonce).ok()
    }
}

/// How the credential of a request was presented, for the binding check and the challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Presented {
    /// No credential the guard accepts.
    Nothing,
    /// A bearer token (`Authorization: Bearer` or another token source).
    Bearer,
    /// `Authorization: DPoP` with a proof whose key has this thumbprint.
    Dpop { jkt: String },
}

impl Presented {
    pub(crate) fn scheme(&self) -> Option<Scheme> {
        match self {
            Self::Nothing => None,
            Self::Bearer => Some(Scheme::Bearer),
            Self::Dpop { .. } => Some(Scheme::Dpop),
        }
    }
}

/// The binding rule (RFC 9449 §7, rule I.49): a token with `cnf.jkt` needs a proof by that
/// key, and a DPoP-presented token needs `cnf.jkt`. Other `cnf` members are tolerated. A
/// refusal is logged at debug.
pub(crate) fn check_binding(
    claims: &dyn ClaimsView,
    presented: &Presented,
) -> Result<(), ErrorKind> {
    let bound = claims.bound_jkt();
    let refused = match (presented, bound) {
        (Presented::Dpop { jkt }, Some(bound)) if bound == jkt => return Ok(()),
        (Presented::Dpop { .. }, Some(_)) => ErrorKind::DpopKeyMismatch,
        (Presented::Dpop { .. }, None) => ErrorKind::DpopUnboundToken,
        (_, Some(_)) => ErrorKind::DpopBoundToken,
        (_, None) => return Ok(()),
    };
    tracing::debug!(kind = refused.code(), "token refused: DPoP binding");
    Err(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(dpop: Dpop) -> &'static str {
        match dpop.build() {
            Err(ConfigError::InvalidDpop { setting, .. }) => setting,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn misconfigurations_name_the_setting() {
        let ok = || Dpop::new("https://api.example.com");
        assert!(ok().build().is_ok());
        assert_eq!(problem(Dpop::new("api.example.com")), "dpop.external_url");
        assert_eq!(
            problem(Dpop::new("https://api.example.com/?x")),
            "dpop.external_url"
        );
        assert_eq!(problem(ok().algorithms([])), "dpop.algorithms");
        assert_eq!(
            problem(ok().algorithms([Algorithm::HS256])),
            "dpop.algorithms"
        );
        assert_eq!(problem(ok().iat_window(Duration::ZERO)), "dpop.iat_window");
        assert_eq!(
            problem(ok().iat_window(Duration::from_secs(3601))),
            "dpop.iat_window"
        );
        assert_eq!(problem(ok().max_jti_bytes(8)), "dpop.max_jti_bytes");
        assert_eq!(problem(ok().nonces([0u8; 31])), "dpop.nonce_secret");
        assert_eq!(
            problem(ok().nonces([0u8; 32]).nonce_step(Duration::ZERO)),
            "dpop.nonce_step"
        );
        let settings = ok()
            .algorithms([Algorithm::RS256, Algorithm::ES256])
            .build()
            .unwrap();
        assert_eq!(settings.algorithm_names, ["ES256", "RS256"]);
    }

    #[test]
    fn debug_shows_no_secret() {
        let debug = format!(
            "{:?}",
            Dpop::new("https://a.example").nonces(*b"0123456789abcdef0123456789abcdef")
        );
        assert!(!debug.contains("0123456789"), "{debug}");
    }
}
