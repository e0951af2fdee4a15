//! [`Claims<T>`]: what a handler learns about the calling client.
//!
//! The guard puts the validated claims into the request extensions. Registered claims have typed
//! accessors; the whole claims object stays available as JSON ([`Claims::json`]); a
//! guard-wide type `T` is deserialized once, when the token is validated (by default `T` is
//! the JSON map itself, kept once), and a handler may read other types on demand with
//! [`Claims::extra_as`].
//!
//! Claims of a JWT do not keep the JSON map, which is most of their heap (about 2.4 KB of a
//! typical token's 4 KB) and most of the cost of reading them: the token is judged on the
//! members the rules read, and the whole map is read from the token's payload the first time
//! something asks for it, and kept from then on (the verified-token cache's copy starts
//! without it again). The registered claims, the scopes, the DPoP key binding and a
//! user-defined `T` are always kept.
//!
//! ```
//! use bearer_guard::Claims;
//! use http::Request;
//!
//! fn client_of<B>(req: &Request<B>) -> Option<&str> {
//!     req.extensions().get::<Claims>()?.client_id()
//! }
//! # assert_eq!(client_of(&Request::new(())), None);
//! ```

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::verify::json::{ClaimRef, ClaimSource, StrictObject};
use crate::verify::scope::Scopes;

/// The default extra-claims type: the whole claims object.
pub type JsonClaims = Map<String, Value>;

/// Validated claims of an access token. Cheap to clone (shared).
pub struct Claims<T = JsonClaims> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    registered: Registered,
    scopes: Scopes,
    /// `cnf.jkt` (RFC 9449 §6.1): the thumbprint of the key a DPoP token is bound to, read on
    /// every request, so kept apart from the JSON.
    bound_jkt: Option<Box<str>>,
    /// The whole claims object, as validated; for the claims of a JWT, read from `source` when
    /// first asked for.
    json: OnceLock<JsonClaims>,
    source: Source,
    /// `None` exactly when `T` is [`JsonClaims`]: then [`Claims::extra`] is `json`, not a
    /// second copy of it. Shared with the cache's copy of the claims.
    extra: Option<Arc<T>>,
}

/// What the JSON map of a JWT's claims is read from when first asked for.
enum Source {
    /// The map is kept from the start.
    Nothing,
    /// The decoded payload, as validation read it.
    Payload(Vec<u8>),
    /// The verified JWS, shared with the verified-token cache's entry.
    Token(Arc<str>),
}

impl<T> Inner<T> {
    fn json(&self) -> &JsonClaims {
        self.json.get_or_init(|| {
            // The payload passed validation (every member read, none twice), so it decodes
            // to a map; should it not, an empty map grants no claim.
            let read = match &self.source {
                Source::Nothing => return JsonClaims::new(),
                Source::Payload(json) => serde_json::from_slice::<StrictObject>(json).ok(),
                Source::Token(token) => token.split('.').nth(1).and_then(|payload| {
                    crate::verify::validator::decode_json::<StrictObject>(payload).ok()
                }),
            };
            read.map(|StrictObject(map)| map).unwrap_or_default()
        })
    }
}

/// What the tower side reads of any `Claims<T>` without knowing `T`: route requirements need
/// the scopes and claims, the extractors the name of the guard's type.
pub(crate) trait ClaimsView: ClaimSource + Send + Sync {
    fn scopes(&self) -> &Scopes;
    fn bound_jkt(&self) -> Option<&str>;
    // Read by the axum extractors only.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    fn type_name(&self) -> &'static str;
}

/// The claims a route's requirements read: the JSON map, built when a predicate first asks.
impl<T> ClaimSource for Inner<T> {
    fn claim(&self, name: &str) -> Option<ClaimRef<'_>> {
        self.json().claim(name)
    }
}

impl<T: Send + Sync> ClaimsView for Inner<T> {
    fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    fn bound_jkt(&self) -> Option<&str> {
        self.bound_jkt.as_deref()
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<Claims<T>>()
    }
}

/// The registered claims, read from the payload once.
#[derive(Clone, Debug, Default)]
pub(crate) struct Registered {
    pub(crate) iss: String,
    pub(crate) sub: Option<String>,
    pub(crate) aud: Vec<String>,
    pub(crate) exp: i64,
    pub(crate) nbf: Option<i64>,
    pub(crate) iat: Option<i64>,
    pub(crate) jti: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) azp: Option<String>,
}

impl<T: DeserializeOwned + 'static> Claims<T> {
    /// Claims from a judged claims object (an introspection response) kept whole; `T` is
    /// read from it, by reference, unless `T` is the JSON map itself.
    pub(crate) fn from_json(
        registered: Registered,
        scopes: Scopes,
        json: JsonClaims,
    ) -> Result<Self, serde_json::Error> {
        let extra = typed_extra(|| T::deserialize(&json))?;
        let bound_jkt = bound_jkt(&json);
        Ok(Self {
            inner: Arc::new(Inner {
                registered,
                scopes,
                bound_jkt,
                json: OnceLock::from(json),
                source: Source::Nothing,
                extra,
            }),
        })
    }

    /// Claims of a verified JWS, judged on the members the rules read (see
    /// [`rules::is_read_by_the_rules`](crate::verify::rules::is_read_by_the_rules)), with
    /// its [`bound_jkt`]; they keep the decoded `payload` instead of the JSON map, which is
    /// built from it when first asked for. `T` is read from the payload unless `T` is the
    /// JSON map.
    pub(crate) fn from_payload(
        registered: Registered,
        scopes: Scopes,
        bound_jkt: Option<Box<str>>,
        payload: Vec<u8>,
    ) -> Result<Self, serde_json::Error> {
        let extra = typed_extra(|| serde_json::from_slice(&payload))?;
        Ok(Self {
            inner: Arc::new(Inner {
                registered,
                scopes,
                bound_jkt,
                json: OnceLock::new(),
                source: Source::Payload(payload),
                extra,
            }),
        })
    }
}

/// `T` read by `read`, or `None` when `T` is the JSON map (kept once, as the claims' JSON).
fn typed_extra<T: 'static>(
    read: impl FnOnce() -> Result<T, serde_json::Error>,
) -> Result<Option<Arc<T>>, serde_json::Error> {
    match std::any::TypeId::of::<T>() == std::any::TypeId::of::<JsonClaims>() {
        true => Ok(None),
        false => read().map(|extra| Some(Arc::new(extra))),
    }
}

/// `cnf.jkt`, the thumbprint a DPoP-bound token names.
pub(crate) fn bound_jkt(claims: &dyn ClaimSource) -> Option<Box<str>> {
    match claims.claim("cnf")? {
        ClaimRef::Json(cnf) => cnf.get("jkt")?.as_str().map(Box::from),
        ClaimRef::Text(_) => None,
    }
}

impl<T> Claims<T> {}

impl<T> Claims<T> {
    /// Whether the JSON map is held now (not to be read again from the token).
    #[cfg(test)]
    pub(crate) fn holds_json(&self) -> bool {
        self.inner.json.get().is_some()
    }

    /// The same claims for the verified-token cache to keep: without the JSON map, which is
    /// read again from `token` (the JWS they were validated from) if ever asked for.
    pub(crate) fn without_json(&self, token: Arc<str>) -> Self {
        let inner = &*self.inner;
        Self {
            inner: Arc::new(Inner {
                registered: inner.registered.clone(),
                scopes: inner.scopes.clone(),
                bound_jkt: inner.bound_jkt.clone(),
                json: OnceLock::new(),
                source: Source::Token(token),
                extra: inner.extra.clone(),
            }),
        }
    }
}

impl<T: Send + Sync + 'static> Claims<T> {
    /// The claims as the tower side sees them whatever `T` is; shares the allocation.
    pub(crate) fn view(&self) -> Arc<dyn ClaimsView> {
        Arc::clone(&self.inner) as Arc<dyn ClaimsView>
    }

    /// The same, borrowed.
    pub(crate) fn as_view(&self) -> &dyn ClaimsView {
        &*self.inner
    }
}

impl<T: 'static> Claims<T> {
    /// The guard-wide user-defined claims, read from the token once when it was validated
    /// (by default the whole claims object).
    pub fn extra(&self) -> &T {
        match &self.inner.extra {
            Some(extra) => extra,
            None => (self.inner.json() as &dyn Any)
                .downcast_ref::<T>()
                .expect("claims are kept once only when T is the JSON map"),
        }
    }
}

impl<T> Claims<T> {
    pub(crate) fn registered(&self) -> &Registered {
        &self.inner.registered
    }

    /// The size of the shared allocation: the reference counts and the claims in line.
    pub(crate) fn inline_bytes(&self) -> usize {
        2 * size_of::<usize>() + size_of::<Inner<T>>()
    }

    /// `iss`: the issuer, equal to one of the trusted issuers.
    pub fn issuer(&self) -> &str {
        &self.inner.registered.iss
    }

    /// `sub`: for client-credentials tokens, usually the client.
    pub fn subject(&self) -> Option<&str> {
        self.inner.registered.sub.as_deref()
    }

    /// `aud`, as a list (a single string becomes one entry).
    pub fn audience(&self) -> &[String] {
        &self.inner.registered.aud
    }

    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> i64 {
        self.inner.registered.exp
    }

    /// `nbf`, seconds since the Unix epoch.
    pub fn not_before(&self) -> Option<i64> {
        self.inner.registered.nbf
    }

    /// `iat`, seconds since the Unix epoch.
    pub fn issued_at(&self) -> Option<i64> {
        self.inner.registered.iat
    }

    /// `jti`: the token's identifier.
    pub fn jwt_id(&self) -> Option<&str> {
        self.inner.registered.jti.as_deref()
    }

    /// `client_id` (RFC 9068 §2.2) exactly as the token has it, with no fallback: use
    /// [`Claims::client`] for the usual "`client_id`, else `azp`, else `sub`" answer.
    pub fn client_id(&self) -> Option<&str> {
        self.inner.registered.client_id.as_deref()
    }

    /// `azp`: the authorized party, where issuers such as Keycloak and Auth0 name the client.
    pub fn authorized_party(&self) -> Option<&str> {
        self.inner.registered.azp.as_deref()
    }

    /// Who is calling, wherever the issuer put it: `client_id` (RFC 9068), else `azp`
    /// (Keycloak, Auth0, Entra v2), else `cid` (Okta), else `appid` (Entra v1), else `sub`.
    /// A `cid` or `appid` that is not a string is passed over.
    pub fn client(&self) -> Option<&str> {
        self.client_id()
            .or_else(|| self.authorized_party())
            .or_else(|| self.client_without_registered_name())
            .or_else(|| self.subject())
    }

    /// Whether a user-defined `T` is held besides the JSON map (for the cache's weigher).
    pub(crate) fn has_typed_extra(&self) -> bool {
        self.inner.extra.is_some()
    }

    /// `cid`, else `appid`: the client where the issuer names it outside RFC 9068.
    pub(crate) fn client_without_registered_name(&self) -> Option<&str> {
        ["cid", "appid"]
            .into_iter()
            .find_map(|name| self.inner.json().get(name)?.as_str())
    }

    /// The whole claims object, as validated: every claim, registered or not.
    pub fn json(&self) -> &JsonClaims {
        self.inner.json()
    }

    /// The claims read as `U`, on demand: a handler's own view of the token next to the
    /// guard-wide `T`. Deserialized on every call; keep the result if it is used often.
    ///
    /// ```
    /// # use bearer_guard::Claims;
    /// #[derive(serde::Deserialize)]
    /// struct Tenant {
    ///     tid: String,
    /// }
    ///
    /// fn tenant_of(claims: &Claims) -> Option<String> {
    ///     claims.extra_as::<Tenant>().ok().map(|t| t.tid)
    /// }
    /// ```
    ///
    /// # Errors
    /// The deserialization error if the claims do not fit `U`; it names the claim, never its
    /// value.
    pub fn extra_as<U: DeserializeOwned>(&self) -> Result<U, serde_json::Error> {
        U::deserialize(self.inner.json())
    }

    /// The normalized scopes granted (`scope`, `scp` and configured extra claims).
    pub fn scopes(&self) -> &Scopes {
        &self.inner.scopes
    }
}

impl<T> Clone for Claims<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for Claims<T> {
    /// Shows the registered claims and scopes; user-defined claims are not shown, since they may
    /// hold personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.inner.registered;
        f.debug_struct("Claims")
            .field("iss", &r.iss)
            .field("sub", &r.sub)
            .field("aud", &r.aud)
            .field("exp", &r.exp)
            .field("client_id", &r.client_id)
            .field("azp", &r.azp)
            .field("scopes", &self.inner.scopes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn claims(json: Value) -> Claims {
        let json = json.as_object().cloned().unwrap();
        let string = |name: &str| json.get(name).and_then(Value::as_str).map(String::from);
        let registered = Registered {
            client_id: string("client_id"),
            azp: string("azp"),
            sub: string("sub"),
            ..Registered::default()
        };
        Claims::from_json(registered, Scopes::default(), json).unwrap()
    }

    #[test]
    fn the_client_is_client_id_else_azp_else_cid_else_appid_else_sub() {
        let full = json!({"client_id": "c", "azp": "a", "cid": "o", "appid": "e", "sub": "s"});
        let mut chain = full.as_object().cloned().unwrap();
        for expected in ["c", "a", "o", "e", "s"] {
            assert_eq!(
                claims(Value::Object(chain.clone())).client(),
                Some(expected)
            );
            let name = match expected {
                "c" => "client_id",
                "a" => "azp",
                "o" => "cid",
                "e" => "appid",
                _ => "sub",
            };
            chain.remove(name);
        }
        assert_eq!(claims(json!({})).client(), None);
        // Not a string: passed over, not an error.
        assert_eq!(claims(json!({"cid": 7, "appid": "e"})).client(), Some("e"));
        // `client_id()` itself never falls back.
        assert_eq!(claims(json!({"azp": "a"})).client_id(), None);
    }

    #[test]
    fn extra_is_the_json_for_the_default_type_and_typed_otherwise() {
        let default = claims(json!({"tid": "t1", "n": 2}));
        assert_eq!(default.extra(), default.json());
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct Tenant {
            tid: String,
        }
        assert_eq!(
            default.extra_as::<Tenant>().unwrap(),
            Tenant { tid: "t1".into() }
        );
        let error = default.extra_as::<(String, u8)>().unwrap_err().to_string();
        assert!(!error.contains("t1"), "{error}");
        let typed = Claims::<Tenant>::from_json(
            Registered::default(),
            Scopes::default(),
            json!({"tid": "t2"}).as_object().cloned().unwrap(),
        )
        .unwrap();
        assert_eq!(typed.extra().tid, "t2");
        assert_eq!(typed.json()["tid"], "t2");
        assert!(
            Claims::<Tenant>::from_json(Registered::default(), Scopes::default(), Map::new())
                .is_err()
        );
        assert!(typed.view().type_name().ends_with("::Tenant>"));
        assert!(typed.has_typed_extra() && !default.has_typed_extra());
    }
}
