//! Issuer configuration: who is trusted, which audiences its tokens must name, where its keys
//! come from, which algorithms and `typ` it may use.

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::Algorithm;

use crate::defaults;
use crate::error::ConfigError;
use crate::jwks::fetch::{Fetcher, check_url, has_userinfo, without_userinfo};
use crate::jwks::key::{AlgSet, KeySet, VerifyingKey};
use crate::jwks::{KeySource, KeyStore, RefreshPolicy};
use crate::verify::introspect::{Introspection, Introspector};
use crate::verify::predicate::ClaimPredicate;
use crate::verify::rules::TypPolicy;
use crate::verify::scope::ScopeClaim;

/// The placeholder of an [issuer template](Issuer::template).
pub(crate) const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// One trusted issuer: who it is, which audiences its tokens must name, where its keys are.
///
/// Keys come, in order of preference, from a static JWKS ([`Issuer::jwks`]), a configured
/// `jwks_uri` ([`Issuer::jwks_uri`]), or else the issuer's metadata (OpenID Connect Discovery,
/// then RFC 8414).
///
/// Beyond the signature and the registered claims, an issuer may say how its tokens are
/// shaped: where its scopes and roles are ([`scope_claim`](Self::scope_claim)), what every
/// token of it must hold ([`require_claim`](Self::require_claim)), which clients may call
/// ([`allowed_clients`](Self::allowed_clients)), and, for issuers that put no `aud` in access
/// tokens, [`without_audience`](Self::without_audience). See [`providers`](crate::providers)
/// for each provider's recipe.
#[derive(Clone)]
#[must_use]
pub struct Issuer {
    issuer: String,
    template: Option<Tenants>,
    audiences: Vec<String>,
    without_audience: bool,
    allowed_clients: Vec<String>,
    required_claims: Vec<ClaimPredicate>,
    scope_claims: Vec<ScopeClaim>,
    jwks_uri: Option<String>,
    static_jwks: Option<Vec<u8>>,
    hmac_secret: Option<Vec<u8>>,
    typ_policy: TypPolicy,
    algorithms: Option<Vec<Algorithm>>,
    introspection: Option<Introspection>,
}

/// The tenants an issuer template accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tenants {
    /// None configured yet: refused when built.
    Unset,
    Listed(Vec<String>),
    Any,
}

impl Issuer {
    /// The issuer identifier, compared byte for byte with `iss` (no trailing-slash
    /// normalizing).
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            template: None,
            audiences: Vec::new(),
            without_audience: false,
            allowed_clients: Vec::new(),
            required_claims: Vec::new(),
            scope_claims: Vec::new(),
            jwks_uri: None,
            static_jwks: None,
            hmac_secret: None,
            typ_policy: TypPolicy::default(),
            algorithms: None,
            introspection: None,
        }
    }

    /// A multi-tenant issuer: `template` holds the placeholder `{tenantid}` where
    /// each tenant's identifier goes, as Entra ID's
    /// `https://login.microsoftonline.com/{tenantid}/v2.0` does.
    ///
    /// A token's `iss` matches when it is the template with a tenant in place of the
    /// placeholder, that tenant is one of [`tenants`](Self::tenants) (or
    /// [`any_tenant`](Self::any_tenant) was chosen), and the token's `tid` claim is that same
    /// tenant; otherwise it is refused as [`InvalidIssuer`](crate::ErrorKind::InvalidIssuer)
    /// without any I/O. Every tenant shares the keys of the one configured
    /// [`jwks_uri`](Self::jwks_uri) (or static [`jwks`](Self::jwks)), which is required: keys
    /// are never fetched from a place a token names. An issuer configured exactly with
    /// [`Issuer::new`] is preferred to a template that also matches.
    ///
    /// ```
    /// use bearer_guard::{Issuer, Validator};
    ///
    /// let entra = Issuer::template("https://login.microsoftonline.com/{tenantid}/v2.0")
    ///     .tenants(["72f988bf-86f1-41af-91ab-2d7cd011db47"])
    ///     .jwks_uri("https://login.microsoftonline.com/common/discovery/v2.0/keys")
    ///     .audience("api://orders");
    /// let validator = Validator::builder().issuer(entra).build()?;
    /// # Ok::<(), bearer_guard::ConfigError>(())
    /// ```
    pub fn template(template: impl Into<String>) -> Self {
        Self {
            template: Some(Tenants::Unset),
            ..Self::new(template)
        }
    }

    /// The tenants an [issuer template](Self::template) accepts (added to any given
    /// before).
    pub fn tenants<S: Into<String>>(mut self, tenants: impl IntoIterator<Item = S>) -> Self {
        let mut listed = match self.template.take() {
            Some(Tenants::Listed(listed)) => listed,
            _ => Vec::new(),
        };
        listed.extend(tenants.into_iter().map(Into::into));
        self.template = Some(Tenants::Listed(listed));
        self
    }

    /// Accept every tenant of an [issuer template](Self::template): any organization with
    /// an account at the provider can then call, limited only by audience and requirements.
    /// Chosen explicitly, never by default.
    pub fn any_tenant(mut self) -> Self {
        self.template = Some(Tenants::Any);
        self
    }

    /// An audience this API answers to; `aud` must contain one of them. Required unless the
    /// issuer is [`without_audience`](Self::without_audience): there is no way to merely skip
    /// audience checks.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// For issuers whose access tokens carry no `aud` at all (AWS Cognito): instead of the
    /// audience, the calling client must be one of [`allowed_clients`](Self::allowed_clients)
    /// (required, or building fails with [`ConfigError::NoAllowedClients`]). A token that
    /// does carry `aud` must still name a configured [`audience`](Self::audience), so with
    /// none configured it is refused.
    ///
    /// For Cognito, also require `token_use` = `access`, so that an ID token of the same
    /// pool (whose `aud` is the client) is refused:
    ///
    /// ```
    /// use bearer_guard::{ClaimPredicate, Issuer};
    ///
    /// let cognito = Issuer::new("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123")
    ///     .without_audience()
    ///     .allowed_clients(["4b0mu8ru1mfi9ecf2e0rrq4c8i"])
    ///     .require_claim(ClaimPredicate::equals("token_use", "access"));
    /// ```
    pub fn without_audience(mut self) -> Self {
        self.without_audience = true;
        self
    }

    /// Only these clients may call: the token's `client_id`, else `azp`, else `cid`, else
    /// `appid` must be one of them (`sub` is not considered), or the token is refused with
    /// [`ClientNotAllowed`](crate::ErrorKind::ClientNotAllowed). Adds to any given before.
    pub fn allowed_clients<S: Into<String>>(
        mut self,
        clients: impl IntoIterator<Item = S>,
    ) -> Self {
        self.allowed_clients
            .extend(clients.into_iter().map(Into::into));
        self
    }

    /// A condition every token of this issuer must meet, or be refused with 401
    /// [`UnacceptedClaim`](crate::ErrorKind::UnacceptedClaim): `token_use` = `access` for
    /// Cognito, for instance. Checked when the token is validated, so it holds for every
    /// guard and route using the validator.
    pub fn require_claim(mut self, predicate: ClaimPredicate) -> Self {
        self.required_claims.push(predicate);
        self
    }

    /// A claim of this issuer's tokens whose values join the granted scopes (Keycloak's
    /// `realm_access.roles`, Zitadel's project roles); see [`ScopeClaim`]. A plain string
    /// names a top-level claim holding strings.
    /// [`ValidatorBuilder::scope_claim`](crate::ValidatorBuilder::scope_claim) sets one for
    /// every issuer.
    pub fn scope_claim(mut self, claim: impl Into<ScopeClaim>) -> Self {
        self.scope_claims.push(claim.into());
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
    ///
    /// The secret must be at least as long as the hash output (RFC 7518 §3.2): 32 bytes for
    /// HS256, 48 for HS384, 64 for HS512. Without an explicit [`algorithms`](Self::algorithms)
    /// list, the HMAC algorithms enabled are those the secret is long enough for (a 40-byte
    /// secret enables HS256 only). Building the validator fails with
    /// [`ConfigError::HmacSecretTooShort`] for a secret under 32 bytes (an empty one, as read
    /// from an unset environment variable, included) and for an explicit list naming an HMAC
    /// algorithm the secret is too short for. Use random bytes, not a password.
    pub fn hmac_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.hmac_secret = Some(secret.into());
        self
    }

    /// The `typ` policy; [`TypPolicy::Rfc9068`] is the strict profile.
    pub fn typ_policy(mut self, policy: TypPolicy) -> Self {
        self.typ_policy = policy;
        self
    }

    /// Also accept this issuer's opaque tokens, checked at its introspection endpoint (RFC
    /// 7662). Its JWTs are still verified locally with its keys: a token goes to
    /// introspection only when it is not a JWS naming a trusted issuer. With several issuers
    /// introspecting, they are asked in the order configured until one says `active: true`.
    /// Not for issuer templates (the endpoint would differ per tenant).
    pub fn introspection(mut self, introspection: Introspection) -> Self {
        self.introspection = Some(introspection);
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
            .field("tenants", &self.template)
            .field("audiences", &self.audiences)
            .field("without_audience", &self.without_audience)
            .field("allowed_clients", &self.allowed_clients)
            .field("required_claims", &self.required_claims)
            .field("scope_claims", &self.scope_claims)
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
    /// For a template: where the tenant goes, and which tenants are accepted.
    pub(crate) template: Option<Template>,
    pub(crate) audiences: Vec<String>,
    pub(crate) without_audience: bool,
    pub(crate) allowed_clients: Vec<String>,
    pub(crate) required_claims: Vec<ClaimPredicate>,
    pub(crate) scope_claims: Vec<ScopeClaim>,
    pub(crate) algorithms: AlgSet,
    pub(crate) typ_policy: TypPolicy,
    pub(crate) keys: Arc<KeyStore>,
    pub(crate) hmac: Option<Arc<VerifyingKey>>,
    /// Where this issuer's opaque tokens are introspected, if they are.
    pub(crate) introspection: Option<Arc<Introspector>>,
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
        check_identifier("issuer", &config.issuer)?;
        if config.audiences.is_empty() && !config.without_audience {
            return Err(ConfigError::NoAudience(config.issuer));
        }
        if config.without_audience && config.allowed_clients.is_empty() {
            return Err(ConfigError::NoAllowedClients(config.issuer));
        }
        for audience in &config.audiences {
            check_identifier("audience", audience)?;
        }
        for client in &config.allowed_clients {
            check_identifier("allowed_clients", client)?;
        }
        for predicate in &config.required_claims {
            predicate.check("require_claim")?;
        }
        for claim in &config.scope_claims {
            claim.check("scope_claim")?;
        }
        let template = match &config.template {
            Some(tenants) => Some(Template::build(
                &config.issuer,
                tenants,
                config.jwks_uri.is_some() || config.static_jwks.is_some(),
            )?),
            None => None,
        };
        let algorithms =
            allowed_algorithms(config.algorithms.as_deref(), config.hmac_secret.as_deref())?;
        if algorithms.is_empty() {
            return Err(ConfigError::Algorithms("no algorithm is allowed"));
        }
        let hmac = match config.hmac_secret {
            Some(secret) => Some(Arc::new(VerifyingKey::hmac(&secret, algorithms))),
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
        let introspection = match config.introspection {
            Some(_) if template.is_some() => {
                return Err(ConfigError::InvalidIntrospection {
                    setting: "introspection",
                    problem: "cannot be set on an issuer template",
                });
            }
            Some(introspection) => {
                Some(Arc::new(introspection.build(&issuer, fetcher, allow_http)?))
            }
            None => None,
        };
        Ok(Self {
            keys: Arc::new(KeyStore::new(
                Arc::clone(&issuer),
                source,
                fetcher.clone(),
                policy,
            )),
            issuer,
            template,
            audiences: config.audiences,
            without_audience: config.without_audience,
            allowed_clients: config.allowed_clients,
            required_claims: config.required_claims,
            scope_claims: config.scope_claims,
            algorithms,
            typ_policy: config.typ_policy,
            hmac,
            introspection,
        })
    }
}

/// An issuer template, split around its placeholder.
#[derive(Debug)]
pub(crate) struct Template {
    prefix: String,
    suffix: String,
    /// `None`: any tenant.
    tenants: Option<Vec<String>>,
}

impl Template {
    fn build(template: &str, tenants: &Tenants, has_keys: bool) -> Result<Self, ConfigError> {
        let invalid = |problem| ConfigError::InvalidIssuerTemplate {
            template: template.to_owned(),
            problem,
        };
        let Some((prefix, suffix)) = template.split_once(TENANT_PLACEHOLDER) else {
            return Err(invalid("holds no `{tenantid}` placeholder"));
        };
        if suffix.contains(TENANT_PLACEHOLDER) {
            return Err(invalid("holds `{tenantid}` more than once"));
        }
        if !has_keys {
            return Err(invalid(
                "needs a `jwks_uri` or a static `jwks`: keys are never discovered from a \
                 tenant's issuer",
            ));
        }
        let tenants = match tenants {
            Tenants::Unset => {
                return Err(invalid("names no tenant; set `tenants` or `any_tenant`"));
            }
            Tenants::Listed(listed) => {
                for tenant in listed {
                    if !is_tenant(tenant) {
                        return Err(ConfigError::InvalidIdentifier {
                            setting: "tenants",
                            value: tenant.clone(),
                            problem: "is not a tenant identifier (letters, digits, `-`, `_`, `.`)",
                        });
                    }
                }
                Some(listed.clone())
            }
            Tenants::Any => None,
        };
        Ok(Self {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            tenants,
        })
    }

    /// The tenant `iss` names, if it is this template's and an accepted tenant.
    pub(crate) fn tenant<'i>(&self, iss: &'i str) -> Option<&'i str> {
        let tenant = iss
            .strip_prefix(self.prefix.as_str())?
            .strip_suffix(self.suffix.as_str())?;
        let accepted = match &self.tenants {
            Some(listed) => listed.iter().any(|t| t == tenant),
            None => is_tenant(tenant),
        };
        accepted.then_some(tenant)
    }
}

/// A tenant identifier: a GUID or a name such as `contoso.onmicrosoft.com`; never a `/`, so
/// that a token cannot slide another path into the template.
fn is_tenant(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 128
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Refuses an identifier that no token could match as intended: `iss` and `aud` are compared
/// byte for byte, so an empty value, stray whitespace (a copied line, a `.env` file) or a
/// control character is a configuration mistake, not a value to trust.
fn check_identifier(setting: &'static str, value: &str) -> Result<(), ConfigError> {
    let problem = if value.is_empty() {
        "is empty"
    } else if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        "has leading or trailing whitespace"
    } else if value.chars().any(char::is_control) {
        "holds control characters"
    } else {
        return Ok(());
    };
    Err(ConfigError::InvalidIdentifier {
        setting,
        value: value.to_owned(),
        problem,
    })
}

/// The shortest HMAC secret for each algorithm: the size of its hash output (RFC 7518 §3.2).
/// Longest first, so that an explicit list is told the strictest minimum it names.
const HMAC_MIN_SECRET: [(Algorithm, &str, usize); 3] = [
    (Algorithm::HS512, "HS512", 64),
    (Algorithm::HS384, "HS384", 48),
    (Algorithm::HS256, "HS256", 32),
];

/// The allowlist: the configured one, or the defaults plus the HMAC algorithms the secret is
/// long enough for.
fn allowed_algorithms(
    list: Option<&[Algorithm]>,
    secret: Option<&[u8]>,
) -> Result<AlgSet, ConfigError> {
    let mut algorithms = AlgSet::of(list.unwrap_or(defaults::ALGORITHMS));
    if let Some(secret) = secret {
        for (alg, name, minimum) in HMAC_MIN_SECRET {
            let long_enough = secret.len() >= minimum;
            if list.is_none() && long_enough {
                algorithms = algorithms.union(AlgSet::of(&[alg]));
            }
            // Under 32 bytes fits no HMAC algorithm: refused whatever the list says, since a
            // configured secret that short is a mistake (often an unset variable).
            if !long_enough && (algorithms.contains(alg) || alg == Algorithm::HS256) {
                return Err(ConfigError::HmacSecretTooShort {
                    algorithm: name,
                    minimum,
                });
            }
        }
    }
    Ok(algorithms)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::hmac;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;
    use crate::verify::validator::now;
    use crate::{ErrorKind, Validator};

    fn build(issuer: Issuer) -> Result<Validator, ConfigError> {
        Validator::builder().issuer(issuer).build()
    }

    fn with_secret(secret: &[u8]) -> Issuer {
        Issuer::new("https://idp")
            .audience("api")
            .hmac_secret(secret)
    }

    fn too_short(algorithm: &'static str, minimum: usize) -> ConfigError {
        ConfigError::HmacSecretTooShort { algorithm, minimum }
    }

    /// A token for `https://idp` / `api` signed with HMAC through aws-lc.
    fn hmac_token(alg: &str, secret: &[u8]) -> String {
        let digest = match alg {
            "HS256" => hmac::HMAC_SHA256,
            "HS384" => hmac::HMAC_SHA384,
            _ => hmac::HMAC_SHA512,
        };
        let claims = json!({"iss": "https://idp", "aud": "api", "exp": now() + 60});
        let mut token = URL_SAFE_NO_PAD.encode(json!({ "alg": alg }).to_string());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let tag = hmac::sign(&hmac::Key::new(digest, secret), token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(tag));
        token
    }

    #[test]
    fn an_hmac_secret_under_32_bytes_is_refused_without_showing_it() {
        let secret = b"0123456789abcdefghijklmnopqrstu"; // 31 bytes
        let error = build(with_secret(secret)).unwrap_err();
        assert_eq!(error, too_short("HS256", 32));
        let shown = error.to_string();
        assert!(
            shown.contains("hmac_secret") && shown.contains("32"),
            "{shown}"
        );
        assert!(!shown.contains("0123456789"), "{shown}");
        assert!(!format!("{error:?}").contains("0123456789"));
        // Whatever the allowlist: a secret that short fits no HMAC algorithm.
        let asymmetric_only = with_secret(secret).algorithms([Algorithm::RS256]);
        assert_eq!(build(asymmetric_only).unwrap_err(), too_short("HS256", 32));
        assert!(build(with_secret(&[b'k'; 32])).is_ok());
    }

    #[test]
    fn an_empty_hmac_secret_is_refused() {
        // As from `std::env::var("SECRET").unwrap_or_default()` with the variable unset.
        assert_eq!(build(with_secret(b"")).unwrap_err(), too_short("HS256", 32));
    }

    #[test]
    fn an_explicit_allowlist_naming_hmac_needs_a_secret_long_enough_for_each() {
        let secret = [b'k'; 40];
        let only = |algs: &[Algorithm]| with_secret(&secret).algorithms(algs.iter().copied());
        assert!(build(only(&[Algorithm::HS256])).is_ok());
        assert_eq!(
            build(only(&[Algorithm::HS256, Algorithm::HS384])).unwrap_err(),
            too_short("HS384", 48)
        );
        assert_eq!(
            build(only(&[Algorithm::HS384, Algorithm::HS512])).unwrap_err(),
            too_short("HS512", 64),
            "the strictest minimum named"
        );
        assert!(build(with_secret(&[b'k'; 64]).algorithms([Algorithm::HS512])).is_ok());
    }

    #[test]
    fn without_an_allowlist_hmac_algorithms_follow_the_secret_length() {
        let hmac_of = |len: usize| {
            allowed_algorithms(None, Some(&vec![b'k'; len]))
                .map(|set| set.intersection(AlgSet::HMAC))
        };
        assert_eq!(hmac_of(32), Ok(AlgSet::of(&[Algorithm::HS256])));
        assert_eq!(hmac_of(47), Ok(AlgSet::of(&[Algorithm::HS256])));
        assert_eq!(
            hmac_of(48),
            Ok(AlgSet::of(&[Algorithm::HS256, Algorithm::HS384]))
        );
        assert_eq!(hmac_of(64), Ok(AlgSet::HMAC));
        let defaults = AlgSet::of(defaults::ALGORITHMS);
        assert_eq!(allowed_algorithms(None, None), Ok(defaults));
        assert_eq!(
            allowed_algorithms(None, Some(&[b'k'; 40])),
            Ok(defaults.union(AlgSet::of(&[Algorithm::HS256])))
        );
    }

    #[tokio::test]
    async fn a_40_byte_secret_verifies_hs256_and_refuses_hs384_and_hs512() {
        let secret = [b'k'; 40];
        let validator = build(with_secret(&secret)).expect("valid configuration");
        assert!(
            validator
                .validate(&hmac_token("HS256", &secret))
                .await
                .is_ok()
        );
        for alg in ["HS384", "HS512"] {
            let error = validator
                .validate(&hmac_token(alg, &secret))
                .await
                .unwrap_err();
            assert_eq!(error.kind(), ErrorKind::AlgorithmNotAllowed, "{alg}");
        }
    }

    #[test]
    fn an_issuer_that_is_empty_padded_or_holds_control_characters_is_refused() {
        for (value, problem) in [
            ("", "is empty"),
            (" https://idp", "has leading or trailing whitespace"),
            ("https://idp\n", "has leading or trailing whitespace"),
            ("https://idp\u{a0}", "has leading or trailing whitespace"),
            ("https://i\u{0}dp", "holds control characters"),
            ("https://i\u{7f}dp", "holds control characters"),
        ] {
            let error = build(Issuer::new(value).audience("api").jwks(r#"{"keys":[]}"#));
            assert_eq!(
                error.unwrap_err(),
                ConfigError::InvalidIdentifier {
                    setting: "issuer",
                    value: value.to_owned(),
                    problem,
                },
                "{value:?}"
            );
        }
    }

    #[test]
    fn an_audience_that_is_empty_padded_or_holds_control_characters_is_refused() {
        for (value, problem) in [
            ("", "is empty"),
            ("api ", "has leading or trailing whitespace"),
            ("\tapi", "has leading or trailing whitespace"),
            ("a\rpi", "holds control characters"),
        ] {
            // A valid audience first: every one is checked, not only the first.
            let issuer = with_secret(&[b'k'; 32]).audience(value);
            let error = build(issuer).unwrap_err();
            assert_eq!(
                error,
                ConfigError::InvalidIdentifier {
                    setting: "audience",
                    value: value.to_owned(),
                    problem,
                },
                "{value:?}"
            );
            let shown = error.to_string();
            assert!(shown.starts_with("audience \""), "{shown}");
            assert!(!shown.contains(['\r', '\t']), "escaped: {shown}");
        }
        // Inner spaces are an identifier's own business.
        assert!(build(with_secret(&[b'k'; 32]).audience("my api")).is_ok());
    }

    const ENTRA: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
    const KEYS: &str = "https://login.microsoftonline.com/common/discovery/v2.0/keys";

    fn template_error(issuer: Issuer, problem: &'static str) {
        let template = issuer.issuer.clone();
        assert_eq!(
            build(issuer).unwrap_err(),
            ConfigError::InvalidIssuerTemplate { template, problem }
        );
    }

    #[test]
    fn templates_need_one_placeholder_a_key_source_and_tenants() {
        let entra = || Issuer::template(ENTRA).audience("api");
        template_error(
            Issuer::template("https://idp/v2.0")
                .audience("api")
                .any_tenant()
                .jwks_uri(KEYS),
            "holds no `{tenantid}` placeholder",
        );
        template_error(
            Issuer::template("https://idp/{tenantid}/{tenantid}")
                .audience("api")
                .any_tenant()
                .jwks_uri(KEYS),
            "holds `{tenantid}` more than once",
        );
        template_error(
            entra().tenants(["t1"]),
            "needs a `jwks_uri` or a static `jwks`: keys are never discovered from a tenant's \
             issuer",
        );
        template_error(
            entra().jwks_uri(KEYS),
            "names no tenant; set `tenants` or `any_tenant`",
        );
        assert!(matches!(
            build(entra().jwks_uri(KEYS).tenants(["t1/../t2"])).unwrap_err(),
            ConfigError::InvalidIdentifier {
                setting: "tenants",
                ..
            }
        ));
        assert!(build(entra().jwks_uri(KEYS).tenants(["t1"])).is_ok());
        assert!(build(entra().jwks_uri(KEYS).any_tenant()).is_ok());
        let twice = Validator::builder()
            .issuer(entra().jwks_uri(KEYS).any_tenant())
            .issuer(entra().jwks_uri(KEYS).tenants(["t1"]))
            .build();
        assert_eq!(
            twice.unwrap_err(),
            ConfigError::DuplicateIssuer(ENTRA.into())
        );
    }

    #[test]
    fn a_template_matches_listed_tenants_only_and_never_a_path() {
        let tenants = Tenants::Listed(vec!["t1".into(), "contoso.onmicrosoft.com".into()]);
        let listed = Template::build(ENTRA, &tenants, true).unwrap();
        let any = Template::build(ENTRA, &Tenants::Any, true).unwrap();
        let iss = |tenant: &str| ENTRA.replace(TENANT_PLACEHOLDER, tenant);
        assert_eq!(listed.tenant(&iss("t1")), Some("t1"));
        assert_eq!(
            listed.tenant(&iss("contoso.onmicrosoft.com")),
            Some("contoso.onmicrosoft.com")
        );
        for refused in ["t2", "", "T1", "t1/x", "t1 "] {
            assert_eq!(listed.tenant(&iss(refused)), None, "{refused:?}");
        }
        assert_eq!(any.tenant(&iss("t2")), Some("t2"));
        for refused in ["", "a/b", "a?b", "a%2fb"] {
            assert_eq!(any.tenant(&iss(refused)), None, "{refused:?}");
        }
        assert_eq!(
            any.tenant("https://login.microsoftonline.com/t1/v2.0/"),
            None
        );
        assert_eq!(any.tenant("https://sts.windows.net/t1/"), None);
    }

    #[test]
    fn without_audience_needs_allowed_clients() {
        let cognito = || Issuer::new("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x");
        assert_eq!(
            build(cognito().jwks_uri(KEYS)).unwrap_err(),
            ConfigError::NoAudience(
                "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x".into()
            )
        );
        let error = build(cognito().without_audience().jwks_uri(KEYS)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "issuer `https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x` accepts tokens \
             without audience but names no allowed client; set `allowed_clients`"
        );
        assert!(
            build(
                cognito()
                    .without_audience()
                    .allowed_clients(["c1"])
                    .jwks_uri(KEYS)
            )
            .is_ok()
        );
        assert!(matches!(
            build(
                cognito()
                    .without_audience()
                    .allowed_clients([" c1"])
                    .jwks_uri(KEYS)
            ),
            Err(ConfigError::InvalidIdentifier {
                setting: "allowed_clients",
                ..
            })
        ));
    }
}
