//! Minting tokens directly, without the token endpoint: valid ones, and every kind of broken one.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::keys::{TestKey, random_id};
use super::{Shared, unix_now};
use crate::dpop_key::DpopKey;

/// Mints an access token of a [`TestIssuer`](super::TestIssuer) directly, without HTTP; see
/// [`TestIssuer::token`](super::TestIssuer::token).
///
/// Unchanged, it signs what the token endpoint issues to the default client that asks for no
/// particular scope or resource: an RFC 9068 JWT (`typ` `at+jwt`, the signing key's `alg` and
/// `kid`) with `iss`, `sub` and `client_id` (the client's id), `aud` (the default audience),
/// `scope` (the client's default scope), `iat`, `exp` (`iat` + the token lifetime) and a random
/// `jti`. Each setter changes one thing, so a test can break exactly one rule:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use bearer_guard::ErrorKind;
/// use bearer_guard::testing::TestIssuer;
///
/// let issuer = TestIssuer::start().await;
/// let validator = issuer.validator();
///
/// let claims = validator.validate(&issuer.token().scope("read").sign()).await.unwrap();
/// assert_eq!(claims.client_id(), Some("test-client"));
///
/// let expired = issuer.token().expired().sign();
/// assert_eq!(validator.validate(&expired).await.unwrap_err().kind(), ErrorKind::Expired);
/// let elsewhere = issuer.token().audience("https://other.example.com").sign();
/// assert_eq!(validator.validate(&elsewhere).await.unwrap_err().kind(), ErrorKind::InvalidAudience);
/// # }
/// ```
#[derive(Debug)]
#[must_use]
pub struct TokenBuilder<'a> {
    shared: &'a Shared,
    iss: Option<String>,
    client_id: Option<String>,
    subject: Option<String>,
    scope: Option<String>,
    audience: Option<Vec<String>>,
    lifetime: Option<Duration>,
    timing: Timing,
    typ: Option<String>,
    kid: Kid,
    key: KeyChoice,
    claims: Map<String, Value>,
    removed: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timing {
    Current,
    Expired,
    NotYetValid,
    IssuedInFuture,
}

#[derive(Debug)]
enum Kid {
    OfKey,
    Named(String),
    Absent,
}

#[derive(Debug)]
enum KeyChoice {
    Signer,
    Kid(String),
    Unknown,
}

/// How far in the past an expired token's `exp` lies, and in the future a premature `nbf` or
/// `iat`: well beyond any sensible leeway (the default is 30 s).
const FAR: i64 = 600;

impl<'a> TokenBuilder<'a> {
    pub(crate) fn new(shared: &'a Shared) -> Self {
        Self {
            shared,
            iss: None,
            client_id: None,
            subject: None,
            scope: None,
            audience: None,
            lifetime: None,
            timing: Timing::Current,
            typ: Some("at+jwt".to_owned()),
            kid: Kid::OfKey,
            key: KeyChoice::Signer,
            claims: Map::new(),
            removed: Vec::new(),
        }
    }

    /// `sub` (default: the client id).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// `client_id`, and `sub` unless [`subject`](Self::subject) is set (default: the default
    /// client's id). The client need not be registered.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// `scope`, space-separated (default: the default client's default scope). Any scope can be
    /// minted here, allowed to the client or not.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// `aud`, as a single string (default: [`TestIssuer::audience`](super::TestIssuer::audience)).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(vec![audience.into()]);
        self
    }

    /// `aud` as an array of these audiences.
    pub fn audiences<S: Into<String>>(mut self, audiences: impl IntoIterator<Item = S>) -> Self {
        self.audience = Some(audiences.into_iter().map(Into::into).collect());
        self
    }

    /// `exp` − `iat` (default: the issuer's token lifetime, 1 h unless configured).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Expired long ago: `exp` is 10 minutes in the past, far beyond the validator's leeway.
    pub fn expired(mut self) -> Self {
        self.timing = Timing::Expired;
        self
    }

    /// Not valid yet: `nbf` is 10 minutes in the future.
    pub fn not_yet_valid(mut self) -> Self {
        self.timing = Timing::NotYetValid;
        self
    }

    /// Issued in the future: `iat` is 10 minutes ahead (and `exp` a lifetime after it).
    pub fn issued_in_future(mut self) -> Self {
        self.timing = Timing::IssuedInFuture;
        self
    }

    /// `iss` (default: [`TestIssuer::issuer`](super::TestIssuer::issuer)); anything else is a token of another issuer.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }

    /// Sets a claim, replacing the default one of that name if there is one.
    pub fn claim(mut self, name: impl Into<String>, value: Value) -> Self {
        let name = name.into();
        self.removed.retain(|removed| *removed != name);
        self.claims.insert(name, value);
        self
    }

    /// Binds the token to a DPoP key (RFC 9449 §6): `cnf: {"jkt": <the key's thumbprint>}`, as
    /// the token endpoint issues it to a request with a proof by `key`. A guard then wants a
    /// proof by that key with each request.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bearer_guard::dpop::DpopKey;
    /// use bearer_guard::testing::TestIssuer;
    ///
    /// let issuer = TestIssuer::start().await;
    /// let key = DpopKey::generate();
    /// let token = issuer.token().dpop_bound(&key).sign();
    /// let claims = issuer.validator().validate(&token).await.unwrap();
    /// assert_eq!(claims.json()["cnf"]["jkt"], key.thumbprint());
    /// # }
    /// ```
    pub fn dpop_bound(self, key: &DpopKey) -> Self {
        self.cnf_jkt(key.thumbprint())
    }

    /// `cnf: {"jkt": jkt}`: bound to the key of this RFC 7638 thumbprint (any string, to test
    /// a binding to a key that does not sign the proofs).
    pub fn cnf_jkt(self, jkt: impl Into<String>) -> Self {
        self.claim("cnf", json!({ "jkt": jkt.into() }))
    }

    /// Leaves a claim out (a default one, or one set with [`claim`](Self::claim)).
    pub fn without_claim(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.claims.remove(&name);
        self.removed.push(name);
        self
    }

    /// The `typ` header (default `Some("at+jwt")`); `None` leaves it out.
    pub fn typ(mut self, typ: Option<&str>) -> Self {
        self.typ = typ.map(str::to_owned);
        self
    }

    /// Writes this `kid` into the header, whatever key signs.
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Kid::Named(kid.into());
        self
    }

    /// Leaves `kid` out of the header.
    pub fn without_kid(mut self) -> Self {
        self.kid = Kid::Absent;
        self
    }

    /// Signs with this key of the issuer (published, retired or removed) instead of the
    /// current signing key; the header names its `kid` and `alg`.
    ///
    /// # Panics
    /// [`sign`](Self::sign) panics if the issuer never had a key with this kid.
    pub fn signed_with(mut self, kid: impl Into<String>) -> Self {
        self.key = KeyChoice::Kid(kid.into());
        self
    }

    /// Signs with a freshly generated key of the signing key's algorithm that is published
    /// nowhere; its `kid` is one the issuer never used. Validation fails with
    /// [`ErrorKind::UnknownKey`](crate::ErrorKind::UnknownKey).
    pub fn signed_by_unknown_key(mut self) -> Self {
        self.key = KeyChoice::Unknown;
        self
    }

    /// The claims to sign (times taken now, a fresh `jti`).
    fn payload(&self) -> Map<String, Value> {
        let shared = self.shared;
        let now = unix_now();
        let lifetime =
            i64::try_from(self.lifetime.unwrap_or(shared.token_lifetime).as_secs()).unwrap_or(0);
        let (iat, nbf) = match self.timing {
            Timing::Current => (now, None),
            Timing::Expired => (now - FAR - lifetime, None),
            Timing::NotYetValid => (now, Some(now + FAR)),
            Timing::IssuedInFuture => (now + FAR, None),
        };
        let default_client = shared.default_client_id.clone();
        let client_id = self.client_id.clone().unwrap_or(default_client);
        let scope = match &self.scope {
            Some(scope) => scope.clone(),
            None => shared.default_scope(),
        };
        let audience = match &self.audience {
            Some(list) if list.len() == 1 => json!(list[0]),
            Some(list) => json!(list),
            None => json!(shared.resources[0]),
        };
        let mut claims = Map::new();
        claims.insert(
            "iss".into(),
            json!(self.iss.as_deref().unwrap_or(&shared.issuer)),
        );
        claims.insert(
            "sub".into(),
            json!(self.subject.as_deref().unwrap_or(&client_id)),
        );
        claims.insert("aud".into(), audience);
        claims.insert("client_id".into(), json!(client_id));
        if !scope.is_empty() {
            claims.insert("scope".into(), json!(scope));
        }
        claims.insert("iat".into(), json!(iat));
        if let Some(nbf) = nbf {
            claims.insert("nbf".into(), json!(nbf));
        }
        claims.insert("exp".into(), json!(iat + lifetime));
        claims.insert("jti".into(), json!(random_id(16)));
        for (name, value) in &self.claims {
            claims.insert(name.clone(), value.clone());
        }
        for name in &self.removed {
            claims.remove(name);
        }
        claims
    }

    /// The compact JWS.
    ///
    /// # Panics
    /// If [`signed_with`](Self::signed_with) names a key the issuer never had.
    pub fn sign(self) -> String {
        let claims = self.payload();
        let shared = self.shared;
        let key: Arc<TestKey> = match &self.key {
            KeyChoice::Signer => shared.registry().signer.clone(),
            KeyChoice::Kid(kid) => shared
                .registry()
                .key(kid)
                .unwrap_or_else(|| panic!("TestIssuer: no key with kid `{kid}`")),
            KeyChoice::Unknown => {
                let alg = shared.registry().signer.alg;
                Arc::new(TestKey::generate_with_kid(
                    alg,
                    format!("unknown-{}", random_id(9)),
                ))
            }
        };
        let mut header = Map::new();
        header.insert("alg".into(), json!(key.alg.name()));
        if let Some(typ) = &self.typ {
            header.insert("typ".into(), json!(typ));
        }
        match &self.kid {
            Kid::OfKey => {
                header.insert("kid".into(), json!(key.kid));
            }
            Kid::Named(kid) => {
                header.insert("kid".into(), json!(kid));
            }
            Kid::Absent => {}
        }
        key.sign_compact(&Value::Object(header), &Value::Object(claims))
    }

    /// An opaque access token instead of a JWT: 32 random bytes, base64url (43 characters,
    /// no dots), which the issuer remembers with the claims a JWT would carry. Only its
    /// [introspection endpoint](super::TestIssuer::introspection_endpoint) reveals them. The
    /// claim setters apply ([`expired`](Self::expired), [`audience`](Self::audience),
    /// [`scope`](Self::scope), [`dpop_bound`](Self::dpop_bound)…); the ones about the JWS
    /// header and key ([`typ`](Self::typ), [`kid`](Self::kid),
    /// [`signed_with`](Self::signed_with)…) have nothing to act on and are ignored.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bearer_guard::testing::TestIssuer;
    ///
    /// let issuer = TestIssuer::start().await;
    /// let token = issuer.token().scope("read").sign_opaque();
    /// assert_eq!(token.len(), 43);
    /// assert!(!token.contains('.'));
    ///
    /// let (id, secret) = issuer.default_client();
    /// let introspection = |token: String| {
    ///     reqwest::Client::new()
    ///         .post(issuer.introspection_endpoint())
    ///         .basic_auth(&id, Some(&secret))
    ///         .form(&[("token", token)])
    ///         .send()
    /// };
    /// let response = introspection(token).await.unwrap();
    /// let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    /// assert_eq!(body["active"], true);
    /// assert_eq!(body["scope"], "read");
    ///
    /// let expired = issuer.token().expired().sign_opaque();
    /// let response = introspection(expired).await.unwrap();
    /// let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    /// assert_eq!(body, serde_json::json!({ "active": false }));
    /// # }
    /// ```
    pub fn sign_opaque(self) -> String {
        let claims = self.payload();
        self.shared.register_opaque(claims)
    }
}
