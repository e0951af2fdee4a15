//! Issuer configuration: who is trusted, which audiences its tokens must name, where its keys
//! come from, which algorithms and `typ` it may use.

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

use crate::defaults;
use crate::error::ConfigError;
use crate::jwks::fetch::{Fetcher, check_url, has_userinfo, without_userinfo};
use crate::jwks::key::{AlgSet, KeySet, VerifyingKey};
use crate::jwks::{KeySource, KeyStore, RefreshPolicy};
use crate::verify::rules::TypPolicy;

/// One trusted issuer: who it is, which audiences its tokens must name, where its keys are.
///
/// Keys come, in order of preference, from a static JWKS ([`Issuer::jwks`]), a configured
/// `jwks_uri` ([`Issuer::jwks_uri`]), or else the issuer's metadata (OpenID Connect Discovery,
/// then RFC 8414).
#[derive(Clone)]
#[must_use]
pub struct Issuer {
    issuer: String,
    audiences: Vec<String>,
    jwks_uri: Option<String>,
    static_jwks: Option<Vec<u8>>,
    hmac_secret: Option<Vec<u8>>,
    typ_policy: TypPolicy,
    algorithms: Option<Vec<Algorithm>>,
}

impl Issuer {
    /// The issuer identifier, compared byte for byte with `iss` (no trailing-slash
    /// normalizing).
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: Vec::new(),
            jwks_uri: None,
            static_jwks: None,
            hmac_secret: None,
            typ_policy: TypPolicy::default(),
            algorithms: None,
        }
    }

    /// An audience this API answers to; `aud` must contain one of them. Required: there is
    /// no way to skip audience checks.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Fetch keys from this URL instead of discovering it from the metadata.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }

    /// Use this JWKS document (JSON), given in code, and never fetch.
    pub fn jwks(mut self, document: impl AsRef<[u8]>) -> Self {
        self.static_jwks = Some(document.as_ref().to_vec());
        self
    }

    /// Accept HS256/384/512 tokens verified with this shared secret. HMAC is never used with
    /// keys from a JWKS; this explicit secret is the only way to enable it.
    pub fn hmac_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.hmac_secret = Some(secret.into());
        self
    }

    /// The `typ` policy; [`TypPolicy::Rfc9068`] is the strict profile.
    pub fn typ_policy(mut self, policy: TypPolicy) -> Self {
        self.typ_policy = policy;
        self
    }

    /// The algorithm allowlist (default: [`defaults::ALGORITHMS`]).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &without_userinfo(&self.issuer))
            .field("audiences", &self.audiences)
            .field("jwks_uri", &self.jwks_uri.as_deref().map(without_userinfo))
            .field("static_jwks", &self.static_jwks.is_some())
            .field(
                "hmac_secret",
                &self.hmac_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("typ_policy", &self.typ_policy)
            .field("algorithms", &self.algorithms)
            .finish()
    }
}

/// An issuer as the validator uses it: checked, with its key store built.
pub(crate) struct IssuerEntry {
    pub(crate) issuer: Arc<str>,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: AlgSet,
    pub(crate) typ_policy: TypPolicy,
    pub(crate) keys: Arc<KeyStore>,
    pub(crate) hmac: Option<Arc<VerifyingKey>>,
}

impl IssuerEntry {
    pub(crate) fn build(
        config: Issuer,
        fetcher: &Fetcher,
        policy: RefreshPolicy,
    ) -> Result<Self, ConfigError> {
        // First, so that no later error shows them: an issuer is not always fetched from.
        if url::Url::parse(&config.issuer).is_ok_and(|url| has_userinfo(&url)) {
            return Err(ConfigError::CredentialsInUrl { setting: "issuer" });
        }
        if config.audiences.is_empty() {
            return Err(ConfigError::NoAudience(config.issuer));
        }
        let algorithms = match (&config.algorithms, &config.hmac_secret) {
            (Some(list), _) => AlgSet::of(list),
            (None, Some(_)) => AlgSet::of(defaults::ALGORITHMS).union(AlgSet::HMAC),
            (None, None) => AlgSet::of(defaults::ALGORITHMS),
        };
        if algorithms.is_empty() {
            return Err(ConfigError::Algorithms("no algorithm is allowed"));
        }
        let hmac = match config.hmac_secret {
            Some(secret) => Some(Arc::new(
                VerifyingKey::new(None, AlgSet::HMAC, DecodingKey::from_secret(&secret))
                    .map_err(|_| ConfigError::Algorithms("HMAC secret refused"))?,
            )),
            None if algorithms.intersects(AlgSet::HMAC) => {
                return Err(ConfigError::Algorithms(
                    "HMAC needs an explicit `hmac_secret`",
                ));
            }
            None => None,
        };
        let allow_http = policy.allow_insecure_http;
        let source = if let Some(document) = &config.static_jwks {
            let keys = KeySet::from_jwks(document, &config.issuer)
                .map_err(|_| ConfigError::NoUsableKey)?;
            KeySource::Static(Arc::new(keys))
        } else if let Some(uri) = &config.jwks_uri {
            KeySource::JwksUri(check_url("jwks_uri", uri, allow_http)?)
        } else if hmac.is_some() {
            KeySource::Static(Arc::default())
        } else {
            KeySource::Discovery {
                issuer_url: check_url("issuer", &config.issuer, allow_http)?,
            }
        };
        let issuer: Arc<str> = config.issuer.into();
        Ok(Self {
            keys: Arc::new(KeyStore::new(
                Arc::clone(&issuer),
                source,
                fetcher.clone(),
                policy,
            )),
            issuer,
            audiences: config.audiences,
            algorithms,
            typ_policy: config.typ_policy,
            hmac,
        })
    }
}
