//! An OAuth 2.0 authorization server in your test process: [`TestIssuer`] (feature
//! `test-util`).
//!
//! One line starts it on `127.0.0.1` with an ephemeral port. It issues client credentials
//! access tokens (RFC 6749 §4.4) as RFC 9068 JWTs, publishes its metadata and keys, rotates
//! keys and breaks its JWKS endpoint on demand, so that an API behind [`GuardLayer`] can be
//! tested end to end, the way it runs in production:
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use bearer_guard::testing::TestIssuer;
//! use bearer_guard::{GuardLayer, RequireScopeLayer};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let issuer = TestIssuer::start().await;
//! let app = Router::new()
//!     .route("/orders", get(|| async { "orders" }))
//!     .route_layer(RequireScopeLayer::all(["read"]))
//!     .route_layer(GuardLayer::new(issuer.validator()));
//!
//! let get_orders = |token: String| {
//!     Request::get("/orders")
//!         .header("authorization", format!("Bearer {token}"))
//!         .body(Body::empty())
//!         .unwrap()
//! };
//! let token = issuer.token().scope("read").sign();
//! let response = app.clone().oneshot(get_orders(token)).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! let token = issuer.token().scope("write").sign();
//! let response = app.oneshot(get_orders(token)).await.unwrap();
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! # }
//! ```
//!
//! [`TestIssuer::token`] mints directly, without HTTP, and can break any one rule
//! ([`expired`](TokenBuilder::expired), [`audience`](TokenBuilder::audience),
//! [`signed_by_unknown_key`](TokenBuilder::signed_by_unknown_key)…). Clients under test (or
//! this crate's `client` feature) get tokens over HTTP from [`TestIssuer::token_endpoint`].
//!
//! # What it serves
//!
//! | request | answer |
//! |---|---|
//! | `POST /token` | the token endpoint, below |
//! | `POST /introspect` | the introspection endpoint (RFC 7662, RFC 9701), see [Opaque tokens](#opaque-tokens-introspection-and-revocation), or the [`IntrospectionFault`] set |
//! | `POST /revoke` | the revocation endpoint (RFC 7009) |
//! | `GET /.well-known/openid-configuration` | metadata: `issuer`, `token_endpoint`, `jwks_uri`, `grant_types_supported` (`client_credentials`), `token_endpoint_auth_methods_supported` (`client_secret_basic`, `client_secret_post`, `private_key_jwt`), `token_endpoint_auth_signing_alg_values_supported` (RS256/384/512, PS256/384/512, ES256, ES384, EdDSA), `introspection_endpoint` and `revocation_endpoint` (with their `…_auth_methods_supported`, the same three), `introspection_signing_alg_values_supported` (the signing key's), `scopes_supported`, `response_types_supported` (empty), `access_token_signing_alg_values_supported` |
//! | `GET /.well-known/oauth-authorization-server` | the same document (RFC 8414) |
//! | `GET`/`POST /authorize` | only with [`authorization_endpoint`](TestIssuerBuilder::authorization_endpoint) (which also adds the member to the metadata): 400 `unsupported_response_type` |
//! | `GET /jwks` | the published keys, `Cache-Control: max-age=60` (see [`TestIssuerBuilder::jwks_max_age`]), or the [`JwksFault`] set |
//! | other paths | 404; other methods on these paths: 405 |
//!
//! # The token endpoint
//!
//! RFC 6749 §4.4 and §5, RFC 8707, RFC 9449 §5, checked in this order:
//!
//! 0. Only when the request has a `DPoP` header (see [DPoP](#dpop) below): exactly one, holding
//!    a proof that passes RFC 9449 §4.3 for `POST` to the token endpoint's URL, without `ath`,
//!    and not used before; else `invalid_dpop_proof`. With
//!    [`dpop_nonces`](TestIssuerBuilder::dpop_nonces), a proof without a current nonce of the
//!    issuer gets `use_dpop_nonce` and a `DPoP-Nonce` header.
//! 1. The body must be `application/x-www-form-urlencoded`, no parameter may repeat (except
//!    `resource`), and `grant_type` must be there; else `invalid_request`. Empty parameters count
//!    as absent (RFC 6749 §3.1).
//! 2. The client authenticates with exactly one of `client_secret_basic` (`Authorization: Basic`,
//!    with the id and secret form-urlencoded inside, RFC 6749 §2.3.1), `client_secret_post`
//!    (`client_id` and `client_secret` in the body) and `private_key_jwt` (below). Two at once,
//!    or several `Authorization` headers: `invalid_request`. None, an unknown client or a wrong
//!    secret: `invalid_client` with **401** and `WWW-Authenticate: Basic realm="bearer-guard
//!    test issuer", charset="UTF-8"`, whichever method was used (RFC 6749 §5.2 requires the
//!    challenge when Basic was used; RFC 9110 §15.5.2 wants one on every 401). A client may
//!    have several valid secrets at once (rotation without downtime, see
//!    [`TestIssuer::remove_client_secret`]).
//!
//!    `private_key_jwt` (RFC 7523 §2.2, RFC 7521 §4.2), for clients registered with
//!    [`TestClient::with_key`] or [`TestClient::with_jwks`] (which have no secret, as the
//!    others have no key): `client_assertion_type`
//!    `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` (else `invalid_request`) and
//!    `client_assertion`, a compact JWS with an asymmetric `alg`, verified with the client's
//!    keys (the one its `kid` names, or any of its `alg`); `iss` = `sub` = the client id (and
//!    = `client_id` when the form has one); `aud` naming the token endpoint's URL or the
//!    issuer (a string or an array); `exp` present and in the future; a `jti` this issuer has
//!    not accepted before for that client (until its `exp`). Anything else is 401
//!    `invalid_client`, with the check that failed in `error_description`.
//!    [`TestIssuer::last_client_auth_method`] tells which method the last client used.
//! 3. `grant_type` other than `client_credentials`: `unsupported_grant_type`; a client marked
//!    [`unauthorized`](TestClient::unauthorized): `unauthorized_client`.
//! 4. `scope`: every scope-token must be one the client is allowed, else `invalid_scope` (the
//!    request is refused, not silently narrowed). Without `scope`, the client's default scope is
//!    granted.
//! 5. `resource` (RFC 8707; may repeat): each must be an absolute URI without fragment and one
//!    of the issuer's [resources](TestIssuerBuilder::resource) (or, when
//!    [`allow_loopback_resources`](TestIssuerBuilder::allow_loopback_resources) is on, an
//!    `http`/`https` URL whose host is `127.0.0.1`, `localhost` or `[::1]`, with any port),
//!    else `invalid_target`; they become `aud` (a string for one, an array for several).
//!    Without `resource`, `aud` is the default [`audience`](TestIssuer::audience).
//!
//! Success is `200` with `{"access_token", "token_type": "Bearer", "expires_in", "scope"}`
//! (`"token_type": "DPoP"` when the request carried a proof);
//! `scope` is always there when a scope was granted (RFC 6749 §5.1 requires it only when it
//! differs from the request), and there is never a `refresh_token`. Errors are `400` (`401`
//! for `invalid_client`) with `{"error", "error_description"}`. Every answer of the token
//! endpoint carries `Cache-Control: no-store` and `Pragma: no-cache`.
//!
//! Access tokens are RFC 9068 JWTs: header `typ: at+jwt`, `alg` and `kid` of the signing key;
//! claims `iss`, `sub` and `client_id` (both the client's id), `aud`, `scope` (space-separated),
//! `iat`, `exp` and a random `jti`; and `cnf: {"jkt": …}`, the RFC 7638 thumbprint of the proof's
//! key, when the request carried a DPoP proof. Clients marked
//! [`opaque_tokens`](TestClient::opaque_tokens) (or all of them, with
//! [`TestIssuerBuilder::opaque_tokens`]) get opaque tokens instead, with the same claims kept
//! by the issuer; the response has the same members.
//!
//! # DPoP
//!
//! A token request with a `DPoP` proof (RFC 9449 §5) gets a DPoP-bound token: `token_type`
//! `DPoP` and the claim `cnf.jkt`. The proof is checked as an authorization server must: one
//! `DPoP` header, `typ` `dpop+jwt`, an asymmetric `alg` fitting a public `jwk`, a valid
//! signature, `htm` `POST`, `htu` the token endpoint (after RFC 3986 normalization), `iat`
//! within 5 minutes, no `ath`, and a `jti` not seen before. A refused proof is `400`
//! `{"error": "invalid_dpop_proof"}`, with the check that failed in `error_description`. The
//! metadata lists `dpop_signing_alg_values_supported`.
//!
//! A client's key is a [`DpopKey`](crate::dpop::DpopKey): `DpopKey::generate()` makes one,
//! and its [`proof`](crate::dpop::DpopKey::proof) builder signs proofs, right or wrong ones.
//! [`TokenBuilder::dpop_bound`] mints a bound token directly:
//!
//! ```
//! use bearer_guard::dpop::DpopKey;
//! use bearer_guard::testing::TestIssuer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let issuer = TestIssuer::start().await;
//! let key = DpopKey::generate();
//!
//! // Over HTTP, as a client does.
//! let (id, secret) = issuer.default_client();
//! let response = reqwest::Client::new()
//!     .post(issuer.token_endpoint())
//!     .basic_auth(&id, Some(&secret))
//!     .header("DPoP", key.proof("POST", &issuer.token_endpoint()).sign())
//!     .form(&[("grant_type", "client_credentials")])
//!     .send()
//!     .await
//!     .unwrap();
//! let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
//! assert_eq!(body["token_type"], "DPoP");
//! let claims = issuer.validator().validate(body["access_token"].as_str().unwrap()).await.unwrap();
//! assert_eq!(claims.json()["cnf"]["jkt"], key.thumbprint());
//!
//! // Or minted directly; the proof for a request to an API carries the token's hash.
//! let token = issuer.token().dpop_bound(&key).sign();
//! let proof = key
//!     .proof("GET", "https://api.example.com/orders")
//!     .access_token(&token)
//!     .sign();
//! # let _ = proof;
//! # }
//! ```
//!
//! # Opaque tokens, introspection and revocation
//!
//! An opaque access token is 32 random bytes, base64url: no dots, nothing to decode. The
//! issuer remembers the claims a JWT would have carried (`iss`, `sub`, `client_id`, `aud`,
//! `scope`, `iat`, `exp`, `jti`, `cnf` when DPoP-bound, `nbf` when minted
//! [not yet valid](TokenBuilder::not_yet_valid), and whatever [`TokenBuilder::claim`] added),
//! and tells them to whoever asks its introspection endpoint. The token endpoint issues them
//! to [some](TestClient::opaque_tokens) or [all](TestIssuerBuilder::opaque_tokens) clients;
//! [`TokenBuilder::sign_opaque`] mints them directly, right or wrong ones.
//!
//! `POST /introspect` (RFC 7662 §2) authenticates the client exactly like the token endpoint
//! (`client_secret_basic` or `client_secret_post`; none, an unknown client or a wrong secret is
//! 401 `invalid_client` with the `Basic` challenge) and takes the form parameter `token`
//! (`token_type_hint` is ignored, as §2.1 allows; a missing `token` is 400
//! `invalid_request`). Any registered client may introspect any token. The answer, with
//! `Cache-Control: no-store`, is
//!
//! * `{"active": true, …the token's claims, "token_type": "Bearer"}` (`"DPoP"` when the
//!   claims hold `cnf.jkt`) for an opaque token of this issuer that is not revoked and not
//!   past its `exp`, **and for a JWT of this issuer**: signed by a key it publishes, named by
//!   the header's `kid` and `alg` (a removed key's tokens are inactive), with its `iss`, not
//!   revoked, not expired. Real authorization
//!   servers introspect their own JWTs too, and a resource server that introspects every
//!   token can be tested with either kind.
//! * `{"active": false}` for anything else: unknown, expired, revoked, another issuer's.
//!
//! Only expiry and revocation make a token inactive: `aud`, `nbf`, `scope` and the rest are
//! answered as minted, so that a resource server's own checks of them can be tested.
//!
//! With `Accept: application/token-introspection+jwt` (RFC 9701), the answer is a JWT of that
//! `Content-Type`, signed by the issuer's current signing key (header `typ`
//! `token-introspection+jwt`, its `alg` and `kid`, verifiable with the JWKS), with the claims
//! `iss` (the issuer), `aud` (the client that asked), `iat` and `token_introspection` (the
//! object above).
//!
//! `POST /revoke` (RFC 7009) authenticates the client the same way and takes `token`: a
//! client's own token (opaque or JWT) is revoked, and introspection answers `active: false`
//! for it from then on. An unknown, expired or already revoked token is `200` as well
//! (§2.2); a token of another client is 400 `invalid_grant`. [`TestIssuer::revoke`] revokes
//! directly, [`TestIssuer::introspect`] answers without HTTP, and
//! [`TestIssuer::set_introspection_fault`] breaks the endpoint for outage tests.
//!
//! ```
//! use bearer_guard::testing::TestIssuer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let issuer = TestIssuer::builder().opaque_tokens().start().await;
//! let (id, secret) = issuer.default_client();
//! let http = reqwest::Client::new();
//! let json = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).unwrap();
//!
//! let response = http
//!     .post(issuer.token_endpoint())
//!     .basic_auth(&id, Some(&secret))
//!     .form(&[("grant_type", "client_credentials"), ("scope", "read")])
//!     .send()
//!     .await
//!     .unwrap();
//! let token = json(&response.bytes().await.unwrap())["access_token"]
//!     .as_str()
//!     .unwrap()
//!     .to_owned();
//!
//! // The resource server asks about it.
//! let introspect = || {
//!     http.post(issuer.introspection_endpoint())
//!         .basic_auth(&id, Some(&secret))
//!         .form(&[("token", &token)])
//!         .send()
//! };
//! let answer = json(&introspect().await.unwrap().bytes().await.unwrap());
//! assert_eq!(answer["active"], true);
//! assert_eq!(answer["scope"], "read");
//! assert_eq!(answer["aud"], issuer.audience());
//!
//! // The client revokes it.
//! let response = http
//!     .post(issuer.revocation_endpoint())
//!     .basic_auth(&id, Some(&secret))
//!     .form(&[("token", &token)])
//!     .send()
//!     .await
//!     .unwrap();
//! assert_eq!(response.status(), 200);
//! let answer = json(&introspect().await.unwrap().bytes().await.unwrap());
//! assert_eq!(answer, serde_json::json!({ "active": false }));
//! assert_eq!(issuer.introspection_requests(), 2);
//! # }
//! ```
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | client | id `test-client`, secret `test-secret`, allowed scopes `read write admin`, default scope: all allowed scopes |
//! | resources (audiences) | `https://api.example.com` |
//! | signing key | a fresh [`KeyAlgorithm::Rs256`] key (RSA 2048) |
//! | token lifetime | 1 hour |
//! | JWKS freshness | `Cache-Control: max-age=60` |
//!
//! # Key rotation and outages
//!
//! ```
//! use std::time::Duration;
//! use bearer_guard::testing::{JwksFault, KeyAlgorithm, TestIssuer};
//! use bearer_guard::{ErrorKind, Validator};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let issuer = TestIssuer::start().await;
//! let validator = issuer.validator();
//! let before = issuer.token().sign();
//! validator.validate(&before).await.unwrap();
//!
//! // A new key signs from now on; the old one stays published.
//! issuer.rotate_key(KeyAlgorithm::Es256);
//! let after = issuer.token().sign();
//! validator.validate(&after).await.unwrap(); // unknown kid: the validator refetches
//! validator.validate(&before).await.unwrap();
//!
//! // The identity provider goes down: a validator that has no keys yet answers 503.
//! issuer.set_jwks_fault(JwksFault::Status(500));
//! let fresh = Validator::builder().issuer(issuer.issuer_config()).build().unwrap();
//! let error = fresh.validate(&after).await.unwrap_err();
//! assert_eq!(error.kind(), ErrorKind::KeysUnavailable);
//! # }
//! ```
//!
//! # Lifetime
//!
//! [`TestIssuer`] is a cheap handle (clone it freely). When the last handle is dropped, the
//! server stops accepting connections and closes the open ones (requests held by
//! [`JwksFault::Hang`] are released with 503). It runs on the tokio runtime that started it.
//!
//! [`GuardLayer`]: crate::GuardLayer

mod assertion;
mod dpop;
mod introspection;
mod keys;
mod secret;
mod server;
mod token;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tokio::sync::watch;

pub use keys::KeyAlgorithm;
pub use token::TokenBuilder;

use introspection::TokenDigest;
use keys::TestKey;
use secret::SecretCheck;

use crate::jwks::KeySet;
use crate::{Issuer, Validator};

/// The default client's id.
pub const DEFAULT_CLIENT_ID: &str = "test-client";
/// The default client's secret.
pub const DEFAULT_CLIENT_SECRET: &str = "test-secret";
/// The default resource, the `aud` of tokens that ask for no resource.
pub const DEFAULT_AUDIENCE: &str = "https://api.example.com";
/// The scopes a [`TestClient`] may request unless told otherwise.
pub const DEFAULT_SCOPES: [&str; 3] = ["read", "write", "admin"];
/// The lifetime of access tokens unless told otherwise.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The `Cache-Control: max-age` of JWKS responses unless told otherwise.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(60);

/// How clients may authenticate at the token, introspection and revocation endpoints.
const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// The algorithms of `private_key_jwt` assertions the issuer verifies.
const ASSERTION_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// An OAuth 2.0 authorization server on loopback, for tests; see the [module docs](self).
///
/// A cheap handle: clones share the one server, which stops when the last handle is dropped.
#[derive(Clone)]
pub struct TestIssuer {
    inner: Arc<Inner>,
}

/// Owned by the handles only (the server task holds [`Shared`]), so that dropping the last
/// handle stops the server.
struct Inner {
    shared: Arc<Shared>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.stopped.send_replace(true);
    }
}

/// What the handles and the server share.
pub(crate) struct Shared {
    pub(crate) issuer: String,
    /// Known resources; the first is the default audience.
    pub(crate) resources: Vec<String>,
    /// Whether any loopback URL is a known resource too.
    pub(crate) loopback_resources: bool,
    pub(crate) token_lifetime: Duration,
    pub(crate) jwks_max_age: Option<Duration>,
    /// Publish `authorization_endpoint` (and serve it, refusing every request).
    pub(crate) authorization_endpoint: bool,
    pub(crate) default_client_id: String,
    /// Every client gets opaque access tokens from the token endpoint.
    pub(crate) opaque_tokens: bool,
    registry: Mutex<Registry>,
    secret_check: SecretCheck,
    key_serial: AtomicU32,
    pub(crate) jwks_fetches: AtomicUsize,
    pub(crate) token_requests: AtomicUsize,
    pub(crate) introspection_requests: AtomicUsize,
    pub(crate) revocation_requests: AtomicUsize,
    /// Proof checks of token requests that carry a `DPoP` header.
    pub(crate) dpop: dpop::TokenEndpointDpop,
    /// The `jti`s of the `private_key_jwt` assertions accepted.
    pub(crate) seen_assertions: assertion::SeenAssertions,
    /// How the last client that authenticated did it (`client_secret_basic`…).
    pub(crate) last_auth_method: Mutex<Option<&'static str>>,
    /// Becomes `true` when the last handle is dropped.
    pub(crate) stopped: watch::Sender<bool>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Clients, keys, tokens and the faults: what tests change at run time.
pub(crate) struct Registry {
    clients: BTreeMap<String, TestClient>,
    /// Every key the issuer ever had, oldest first.
    keys: Vec<KeyEntry>,
    pub(crate) signer: Arc<TestKey>,
    pub(crate) fault: JwksFault,
    pub(crate) introspection_fault: IntrospectionFault,
    /// The claims of each opaque access token issued, by the token's digest.
    opaque: HashMap<TokenDigest, Map<String, Value>>,
    /// The digests of revoked tokens (opaque ones or JWTs).
    revoked: HashSet<TokenDigest>,
}

struct KeyEntry {
    key: Arc<TestKey>,
    published: bool,
    retired: bool,
}

impl Registry {
    pub(crate) fn key(&self, kid: &str) -> Option<Arc<TestKey>> {
        self.entry(kid).map(|e| Arc::clone(&e.key))
    }

    fn entry(&self, kid: &str) -> Option<&KeyEntry> {
        self.keys.iter().find(|e| e.key.kid == kid)
    }

    fn entry_mut(&mut self, kid: &str) -> &mut KeyEntry {
        self.keys
            .iter_mut()
            .find(|e| e.key.kid == kid)
            .unwrap_or_else(|| panic!("TestIssuer: no key with kid `{kid}`"))
    }

    /// If `kid` signs, signs with the newest other published key instead (preferring one
    /// that is not retired); with no other published key, `kid` keeps signing.
    fn stop_signing_with(&mut self, kid: &str) {
        if self.signer.kid != kid {
            return;
        }
        let others = || {
            self.keys
                .iter()
                .rev()
                .filter(|e| e.published && e.key.kid != kid)
        };
        let next = others()
            .find(|e| !e.retired)
            .or_else(|| others().next())
            .map(|e| Arc::clone(&e.key));
        if let Some(next) = next {
            self.signer = next;
        }
    }
}

impl Shared {
    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The client if `secret` is one of its secrets; an unknown id costs the same work.
    pub(crate) fn authenticate(&self, id: &str, secret: &str) -> Option<TestClient> {
        let registry = self.registry();
        let client = registry.clients.get(id);
        let stored = client.map(|c| c.secrets.as_slice());
        if self.secret_check.matches(secret.as_bytes(), stored) {
            client.cloned()
        } else {
            None
        }
    }

    /// The default client's default scope, space-separated.
    pub(crate) fn default_scope(&self) -> String {
        self.registry()
            .clients
            .get(&self.default_client_id)
            .map(|c| c.granted_by_default().join(" "))
            .unwrap_or_default()
    }

    /// An access token as the token endpoint issues it, a JWT or an `opaque` one; bound to
    /// the key of thumbprint `jkt` (`cnf.jkt`) when the request carried a DPoP proof.
    pub(crate) fn mint(
        &self,
        client_id: &str,
        scope: &str,
        audience: &[String],
        jkt: Option<&str>,
        opaque: bool,
    ) -> String {
        let token = TokenBuilder::new(self)
            .client_id(client_id)
            .scope(scope)
            .audiences(audience.iter().cloned());
        let token = match jkt {
            Some(jkt) => token.cnf_jkt(jkt),
            None => token,
        };
        if opaque {
            token.sign_opaque()
        } else {
            token.sign()
        }
    }

    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The metadata document (OpenID Connect Discovery / RFC 8414).
    pub(crate) fn metadata(&self) -> Value {
        let mut scopes: Vec<String> = self
            .registry()
            .clients
            .values()
            .flat_map(|c| c.scopes.iter().cloned())
            .collect();
        scopes.sort();
        scopes.dedup();
        let signing: Vec<&str> = {
            let registry = self.registry();
            let mut algs: Vec<&str> = registry
                .keys
                .iter()
                .filter(|e| e.published)
                .map(|e| e.key.alg.name())
                .collect();
            algs.sort_unstable();
            algs.dedup();
            algs
        };
        let mut metadata = json!({
            "issuer": self.issuer,
            "token_endpoint": self.endpoint("/token"),
            "jwks_uri": self.endpoint("/jwks"),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "introspection_endpoint": self.endpoint("/introspect"),
            "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
            "introspection_signing_alg_values_supported": [self.registry().signer.alg.name()],
            "revocation_endpoint": self.endpoint("/revoke"),
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "scopes_supported": scopes,
            "response_types_supported": [],
            "access_token_signing_alg_values_supported": signing,
            "dpop_signing_alg_values_supported": dpop::ALGORITHMS,
        });
        if self.authorization_endpoint {
            metadata["authorization_endpoint"] = json!(self.endpoint("/authorize"));
        }
        metadata
    }

    /// The JWKS document of the published keys.
    pub(crate) fn jwks(&self) -> Value {
        let keys: Vec<Arc<TestKey>> = self
            .registry()
            .keys
            .iter()
            .filter(|e| e.published)
            .map(|e| Arc::clone(&e.key))
            .collect();
        json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
    }

    fn new_key(&self, alg: KeyAlgorithm) -> Arc<TestKey> {
        let serial = self.key_serial.fetch_add(1, Ordering::SeqCst);
        Arc::new(TestKey::generate(alg, serial))
    }
}

impl TestIssuer {
    /// Starts an issuer with the defaults (see the [module docs](self)).
    ///
    /// # Panics
    /// If no port can be bound on `127.0.0.1`, or outside a tokio runtime.
    pub async fn start() -> TestIssuer {
        Self::builder().start().await
    }

    /// An issuer with other clients, resources, key or token lifetime.
    pub fn builder() -> TestIssuerBuilder {
        TestIssuerBuilder {
            clients: Vec::new(),
            resources: Vec::new(),
            loopback_resources: false,
            signing_key: KeyAlgorithm::Rs256,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            jwks_max_age: Some(DEFAULT_JWKS_MAX_AGE),
            authorization_endpoint: false,
            dpop_nonces: false,
            opaque_tokens: false,
        }
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// The issuer identifier, `http://127.0.0.1:PORT` (no trailing slash): the exact `iss`.
    pub fn issuer(&self) -> &str {
        &self.shared().issuer
    }

    /// `{issuer}/token`.
    pub fn token_endpoint(&self) -> String {
        self.shared().endpoint("/token")
    }

    /// `{issuer}/jwks`.
    pub fn jwks_uri(&self) -> String {
        self.shared().endpoint("/jwks")
    }

    /// `{issuer}/introspect`, the introspection endpoint (RFC 7662; see
    /// [Opaque tokens](self#opaque-tokens-introspection-and-revocation)).
    pub fn introspection_endpoint(&self) -> String {
        self.shared().endpoint("/introspect")
    }

    /// `{issuer}/revoke`, the revocation endpoint (RFC 7009).
    pub fn revocation_endpoint(&self) -> String {
        self.shared().endpoint("/revoke")
    }

    /// `{issuer}/.well-known/openid-configuration`.
    pub fn metadata_url(&self) -> String {
        self.shared().endpoint("/.well-known/openid-configuration")
    }

    /// The default resource: the `aud` of tokens that ask for no resource (default
    /// `https://api.example.com`).
    pub fn audience(&self) -> &str {
        &self.shared().resources[0]
    }

    /// Every resource the issuer knows, the default first.
    pub fn resources(&self) -> &[String] {
        &self.shared().resources
    }

    /// This issuer for a [`Validator`]: `Issuer::new(issuer)` with every resource as an
    /// audience; keys are found by discovery (plain http is allowed for loopback).
    pub fn issuer_config(&self) -> Issuer {
        self.resources()
            .iter()
            .fold(Issuer::new(self.issuer()), |issuer, resource| {
                issuer.audience(resource)
            })
    }

    /// A validator trusting this issuer with the defaults.
    pub fn validator(&self) -> Validator {
        Validator::builder()
            .issuer(self.issuer_config())
            .build()
            .expect("a validator for a loopback test issuer builds")
    }

    /// Mints a token directly (no HTTP); see [`TokenBuilder`].
    pub fn token(&self) -> TokenBuilder<'_> {
        TokenBuilder::new(self.shared())
    }

    /// Registers a client, or replaces the one with its id.
    pub fn add_client(&self, client: TestClient) {
        self.shared()
            .registry()
            .clients
            .insert(client.id.clone(), client);
    }

    /// Unregisters a client (no-op if unknown).
    pub fn remove_client(&self, client_id: &str) {
        self.shared().registry().clients.remove(client_id);
    }

    /// Retires one secret of a client; its other secrets stay valid (secret rotation: add the
    /// new one with [`TestClient::secret`] and [`add_client`](Self::add_client), then retire
    /// the old one). No-op if the client or secret is unknown.
    pub fn remove_client_secret(&self, client_id: &str, secret: &str) {
        if let Some(client) = self.shared().registry().clients.get_mut(client_id) {
            client.secrets.retain(|s| s != secret);
        }
    }

    /// The default client's id and (first) secret, for requests to the token endpoint.
    ///
    /// # Panics
    /// If the default client was removed or has no secret left.
    pub fn default_client(&self) -> (String, String) {
        let shared = self.shared();
        let registry = shared.registry();
        let secret = registry
            .clients
            .get(&shared.default_client_id)
            .and_then(|c| c.secrets.first())
            .expect("TestIssuer: the default client was removed or has no secret")
            .clone();
        (shared.default_client_id.clone(), secret)
    }

    /// Generates a key and publishes it, without signing with it yet; returns its kid.
    pub fn add_key(&self, alg: KeyAlgorithm) -> String {
        let key = self.shared().new_key(alg);
        let kid = key.kid.clone();
        self.shared().registry().keys.push(KeyEntry {
            key,
            published: true,
            retired: false,
        });
        kid
    }

    /// Generates a key, publishes it and signs new tokens with it from now on; the previous
    /// key stays published. Returns the new kid.
    pub fn rotate_key(&self, alg: KeyAlgorithm) -> String {
        let key = self.shared().new_key(alg);
        let kid = key.kid.clone();
        let mut registry = self.shared().registry();
        registry.keys.push(KeyEntry {
            key: Arc::clone(&key),
            published: true,
            retired: false,
        });
        registry.signer = key;
        kid
    }

    /// Makes one of the issuer's keys (say one added with [`add_key`](Self::add_key)) the
    /// signing key from now on. A removed key is not published again.
    ///
    /// # Panics
    /// If the issuer has no key with this kid.
    pub fn sign_with(&self, kid: &str) {
        let mut registry = self.shared().registry();
        let entry = registry.entry_mut(kid);
        entry.retired = false;
        let key = Arc::clone(&entry.key);
        registry.signer = key;
    }

    /// Stops signing with a key; it stays published. If it was the signing key, the newest
    /// other published key (one not retired if there is one) signs from now on; if there is no
    /// other, it goes on signing.
    ///
    /// # Panics
    /// If the issuer has no key with this kid.
    pub fn retire_key(&self, kid: &str) {
        let mut registry = self.shared().registry();
        registry.entry_mut(kid).retired = true;
        registry.stop_signing_with(kid);
    }

    /// Unpublishes a key: tokens it signed fail at a guard once the guard has refreshed its
    /// key set. If it was the signing key, another is chosen as in
    /// [`retire_key`](Self::retire_key).
    ///
    /// # Panics
    /// If the issuer has no key with this kid.
    pub fn remove_key(&self, kid: &str) {
        let mut registry = self.shared().registry();
        let entry = registry.entry_mut(kid);
        entry.published = false;
        entry.retired = true;
        registry.stop_signing_with(kid);
    }

    /// The kid of the key that signs new tokens.
    pub fn signing_kid(&self) -> String {
        self.shared().registry().signer.kid.clone()
    }

    /// The kids of the published keys, oldest first.
    pub fn published_kids(&self) -> Vec<String> {
        self.shared()
            .registry()
            .keys
            .iter()
            .filter(|e| e.published)
            .map(|e| e.key.kid.clone())
            .collect()
    }

    /// The JWKS document as `/jwks` serves it without a fault (for
    /// [`Issuer::jwks`](crate::Issuer::jwks), say).
    pub fn jwks(&self) -> String {
        self.shared().jwks().to_string()
    }

    /// How `GET /jwks` misbehaves from now on ([`JwksFault::None`] to heal it).
    pub fn set_jwks_fault(&self, fault: JwksFault) {
        self.shared().registry().fault = fault;
    }

    /// How many `GET /jwks` requests came so far (faulty answers included).
    pub fn jwks_fetches(&self) -> usize {
        self.shared().jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many `POST /token` requests came so far (failed ones included).
    pub fn token_requests(&self) -> usize {
        self.shared().token_requests.load(Ordering::SeqCst)
    }

    /// How the last client that authenticated (at the token, introspection or revocation
    /// endpoint) did it: `client_secret_basic`, `client_secret_post` or `private_key_jwt`;
    /// `None` before any did. Refused attempts do not count.
    pub fn last_client_auth_method(&self) -> Option<String> {
        let method = *self
            .shared()
            .last_auth_method
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        method.map(str::to_owned)
    }

    /// How `POST /introspect` misbehaves from now on ([`IntrospectionFault::None`] to heal
    /// it): a resource server's answer to an introspection outage can be tested.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bearer_guard::testing::{IntrospectionFault, TestIssuer};
    ///
    /// let issuer = TestIssuer::start().await;
    /// let (id, secret) = issuer.default_client();
    /// let introspect = || {
    ///     reqwest::Client::new()
    ///         .post(issuer.introspection_endpoint())
    ///         .basic_auth(&id, Some(&secret))
    ///         .form(&[("token", "whatever")])
    ///         .send()
    /// };
    /// issuer.set_introspection_fault(IntrospectionFault::Status(500));
    /// assert_eq!(introspect().await.unwrap().status(), 500);
    /// issuer.set_introspection_fault(IntrospectionFault::None);
    /// assert_eq!(introspect().await.unwrap().status(), 200);
    /// assert_eq!(issuer.introspection_requests(), 2);
    /// # }
    /// ```
    pub fn set_introspection_fault(&self, fault: IntrospectionFault) {
        self.shared().registry().introspection_fault = fault;
    }

    /// How many `POST /introspect` requests came so far (faulty answers and refused requests
    /// included).
    pub fn introspection_requests(&self) -> usize {
        self.shared().introspection_requests.load(Ordering::SeqCst)
    }

    /// How many `POST /revoke` requests came so far (refused ones included).
    pub fn revocation_requests(&self) -> usize {
        self.shared().revocation_requests.load(Ordering::SeqCst)
    }

    /// Revokes a token, as its client would at the [revocation
    /// endpoint](Self::revocation_endpoint): introspection answers `{"active": false}` for it
    /// from now on. Any token can be revoked, an opaque one or a JWT (a JWT still passes a
    /// [`Validator`], which does not ask the issuer); unknown strings too, to no effect.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bearer_guard::testing::TestIssuer;
    ///
    /// let issuer = TestIssuer::start().await;
    /// let token = issuer.token().sign_opaque();
    /// assert!(issuer.introspect(&token)["active"] == true);
    /// issuer.revoke(&token);
    /// assert_eq!(issuer.introspect(&token), serde_json::json!({ "active": false }));
    /// # }
    /// ```
    pub fn revoke(&self, token: &str) {
        self.shared().revoke(token);
    }

    /// The RFC 7662 answer the introspection endpoint would give for `token` now, without HTTP
    /// (and without counting as a request).
    pub fn introspect(&self, token: &str) -> Value {
        let claims = self.shared().active_claims(token, unix_now());
        introspection::introspection_object(claims)
    }
}

impl fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.shared();
        let registry = shared.registry();
        f.debug_struct("TestIssuer")
            .field("issuer", &shared.issuer)
            .field("resources", &shared.resources)
            .field("clients", &registry.clients.keys().collect::<Vec<_>>())
            .field("signing_kid", &registry.signer.kid)
            .field("jwks_fault", &registry.fault)
            .field("introspection_fault", &registry.introspection_fault)
            .field("opaque_tokens", &registry.opaque.len())
            .field("revoked_tokens", &registry.revoked.len())
            .finish_non_exhaustive()
    }
}

/// Builds a [`TestIssuer`]; see [`TestIssuer::builder`].
#[derive(Debug)]
#[must_use]
pub struct TestIssuerBuilder {
    clients: Vec<TestClient>,
    resources: Vec<String>,
    loopback_resources: bool,
    signing_key: KeyAlgorithm,
    token_lifetime: Duration,
    jwks_max_age: Option<Duration>,
    authorization_endpoint: bool,
    dpop_nonces: bool,
    opaque_tokens: bool,
}

impl TestIssuerBuilder {
    /// Registers a client. The first one given is the default client (of
    /// [`TestIssuer::default_client`] and [`TestIssuer::token`]) and replaces the built-in
    /// `test-client`.
    pub fn client(mut self, client: TestClient) -> Self {
        self.clients.push(client);
        self
    }

    /// A resource (RFC 8707) clients may ask tokens for. The first one given is the default
    /// audience and replaces the built-in `https://api.example.com`.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// Also accept, as RFC 8707 `resource`, any loopback URL: `http` or `https`, host
    /// `127.0.0.1`, `localhost` or `[::1]`, any port and path, no fragment, no user name or
    /// password (default: off, only the [resources](Self::resource) given). For a server on a
    /// port chosen at run time, such as an MCP server whose clients ask for a token for its URL
    /// (`http://127.0.0.1:PORT/mcp`). The token's `aud` is the URL as sent. Other URLs stay
    /// `invalid_target`; without `resource`, `aud` is still the default
    /// [`audience`](TestIssuer::audience).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bearer_guard::testing::TestIssuer;
    ///
    /// let issuer = TestIssuer::builder().allow_loopback_resources().start().await;
    /// let (id, secret) = issuer.default_client();
    /// let response = reqwest::Client::new()
    ///     .post(issuer.token_endpoint())
    ///     .basic_auth(&id, Some(&secret))
    ///     .form(&[("grant_type", "client_credentials"), ("resource", "http://127.0.0.1:3001/mcp")])
    ///     .send()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(response.status(), 200);
    /// # }
    /// ```
    pub fn allow_loopback_resources(mut self) -> Self {
        self.loopback_resources = true;
        self
    }

    /// Publish `authorization_endpoint` (`{issuer}/authorize`) in the metadata, and serve it:
    /// `GET` and `POST` answer 400 `{"error": "unsupported_response_type"}`, since this issuer
    /// grants client credentials only (`response_types_supported` stays empty). Default: off,
    /// the member left out, as RFC 8414 §2 allows when no grant type uses the endpoint.
    ///
    /// For clients that require the member whatever the grant: the MCP TypeScript SDK (1.32)
    /// refuses authorization server metadata without it.
    pub fn authorization_endpoint(mut self) -> Self {
        self.authorization_endpoint = true;
        self
    }

    /// Require issuer nonces in the DPoP proofs of token requests (RFC 9449 §8; default: off).
    /// A token request whose proof has no nonce, or one this issuer did not issue in the last
    /// 5 to 10 minutes, gets 400 `{"error": "use_dpop_nonce"}` with a fresh nonce in the
    /// `DPoP-Nonce` header; successful DPoP token responses carry one too. Nonces are a MAC of
    /// the time under a random secret of this issuer. Token requests without a `DPoP` header
    /// are not affected.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bearer_guard::dpop::DpopKey;
    /// use bearer_guard::testing::TestIssuer;
    ///
    /// let issuer = TestIssuer::builder().dpop_nonces().start().await;
    /// let key = DpopKey::generate();
    /// let (id, secret) = issuer.default_client();
    /// let request = |proof: String| {
    ///     reqwest::Client::new()
    ///         .post(issuer.token_endpoint())
    ///         .basic_auth(&id, Some(&secret))
    ///         .header("DPoP", proof)
    ///         .form(&[("grant_type", "client_credentials")])
    ///         .send()
    /// };
    /// let refused = request(key.proof("POST", &issuer.token_endpoint()).sign()).await.unwrap();
    /// assert_eq!(refused.status(), 400);
    /// let nonce = refused.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    /// let body: serde_json::Value = serde_json::from_slice(&refused.bytes().await.unwrap()).unwrap();
    /// assert_eq!(body["error"], "use_dpop_nonce");
    ///
    /// let proof = key.proof("POST", &issuer.token_endpoint()).nonce(&nonce).sign();
    /// let granted = request(proof).await.unwrap();
    /// assert_eq!(granted.status(), 200);
    /// # }
    /// ```
    pub fn dpop_nonces(mut self) -> Self {
        self.dpop_nonces = true;
        self
    }

    /// The token endpoint issues opaque access tokens to every client (default: JWTs, except
    /// to clients marked [`TestClient::opaque_tokens`]); see
    /// [Opaque tokens](self#opaque-tokens-introspection-and-revocation).
    /// [`TestIssuer::token`] still mints JWTs with [`sign`](TokenBuilder::sign) and opaque
    /// tokens with [`sign_opaque`](TokenBuilder::sign_opaque).
    pub fn opaque_tokens(mut self) -> Self {
        self.opaque_tokens = true;
        self
    }

    /// The algorithm of the first signing key (default [`KeyAlgorithm::Rs256`]).
    pub fn signing_key(mut self, alg: KeyAlgorithm) -> Self {
        self.signing_key = alg;
        self
    }

    /// `exp` − `iat` of access tokens, and `expires_in` (default 1 hour).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// `Cache-Control: max-age` of JWKS responses (default 60 s); `None` sends no
    /// `Cache-Control`, leaving the freshness to the validator's
    /// [`jwks_ttl`](crate::ValidatorBuilder::jwks_ttl).
    pub fn jwks_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Panics
    /// If no port can be bound on `127.0.0.1`, or outside a tokio runtime.
    pub async fn start(self) -> TestIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("TestIssuer: cannot bind 127.0.0.1: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("TestIssuer: no local address: {e}"));
        let mut clients = self.clients;
        if clients.is_empty() {
            clients.push(TestClient::new(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET));
        }
        let mut resources = self.resources;
        if resources.is_empty() {
            resources.push(DEFAULT_AUDIENCE.to_owned());
        }
        let signer = Arc::new(TestKey::generate(self.signing_key, 1));
        let issuer = format!("http://{addr}");
        let dpop = dpop::TokenEndpointDpop::new(&format!("{issuer}/token"), self.dpop_nonces);
        let shared = Arc::new(Shared {
            issuer,
            resources,
            loopback_resources: self.loopback_resources,
            token_lifetime: self.token_lifetime,
            jwks_max_age: self.jwks_max_age,
            authorization_endpoint: self.authorization_endpoint,
            default_client_id: clients[0].id.clone(),
            opaque_tokens: self.opaque_tokens,
            registry: Mutex::new(Registry {
                clients: clients.into_iter().map(|c| (c.id.clone(), c)).collect(),
                keys: vec![KeyEntry {
                    key: Arc::clone(&signer),
                    published: true,
                    retired: false,
                }],
                signer,
                fault: JwksFault::None,
                introspection_fault: IntrospectionFault::None,
                opaque: HashMap::new(),
                revoked: HashSet::new(),
            }),
            secret_check: SecretCheck::new(),
            key_serial: AtomicU32::new(2),
            jwks_fetches: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            introspection_requests: AtomicUsize::new(0),
            revocation_requests: AtomicUsize::new(0),
            dpop,
            seen_assertions: assertion::SeenAssertions::default(),
            last_auth_method: Mutex::new(None),
            stopped: watch::channel(false).0,
        });
        let mut stopped = shared.stopped.subscribe();
        let router = server::router(Arc::clone(&shared));
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stopped| *stopped).await;
            };
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await;
        });
        TestIssuer {
            inner: Arc::new(Inner { shared }),
        }
    }
}

/// A client of a [`TestIssuer`]: id, secrets and the scopes it may ask for.
///
/// ```
/// use bearer_guard::testing::TestClient;
///
/// let reporting = TestClient::new("reporting", "s3cret")
///     .secret("next-s3cret") // both secrets are valid
///     .scopes(["reports:read", "reports:write"])
///     .default_scope("reports:read");
/// assert!(!format!("{reporting:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct TestClient {
    id: String,
    secrets: Vec<String>,
    /// The public keys of a `private_key_jwt` client (which then has no secret).
    keys: Option<KeySet>,
    scopes: Vec<String>,
    default_scope: Option<Vec<String>>,
    unauthorized: bool,
    opaque_tokens: bool,
}

impl TestClient {
    /// A client with one secret, allowed the scopes `read write admin` (see
    /// [`scopes`](Self::scopes)), granted all of them when it asks for none.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secrets: vec![secret.into()],
            keys: None,
            scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            default_scope: None,
            unauthorized: false,
            opaque_tokens: false,
        }
    }

    /// A client that authenticates with `private_key_jwt` (RFC 7523 §2.2) only, with
    /// assertions signed by the private half of this public JWK (say
    /// [`ClientKey::public_jwk`](crate::client::ClientKey::public_jwk)); allowed the scopes
    /// `read write admin`. It has no secret: [`secret`](Self::secret) adds none.
    ///
    /// # Panics
    /// If `jwk` is not a usable public signing key (as a guard would judge it in a JWKS).
    pub fn with_key(id: impl Into<String>, jwk: Value) -> Self {
        Self::with_jwks(id, &json!({ "keys": [jwk] }))
    }

    /// A `private_key_jwt` client with the keys of this JWKS document (several, for key
    /// rotation: an assertion may be signed by any of them; by the one its `kid` names when
    /// it names one).
    ///
    /// # Panics
    /// If the document holds no usable public signing key.
    pub fn with_jwks(id: impl Into<String>, jwks: &Value) -> Self {
        let id = id.into();
        let keys = KeySet::from_jwks(jwks.to_string().as_bytes(), &id)
            .unwrap_or_else(|_| panic!("TestClient {id}: the JWKS has no usable key"));
        Self {
            secrets: Vec::new(),
            keys: Some(keys),
            ..Self::new(id, "")
        }
    }

    /// Another valid secret: a client may hold several at once (not a client registered with
    /// a key, whose only credential is its key).
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        if self.keys.is_none() {
            self.secrets.push(secret.into());
        }
        self
    }

    /// The scopes the client may request, replacing the default `read write admin`.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The scope granted when a request has no `scope` (space-separated; default: every
    /// allowed scope).
    pub fn default_scope(mut self, scope: impl Into<String>) -> Self {
        let scope = scope.into();
        self.default_scope = Some(
            scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        );
        self
    }

    /// The client authenticates but may not use the client credentials grant: its token
    /// requests get `unauthorized_client`.
    pub fn unauthorized(mut self) -> Self {
        self.unauthorized = true;
        self
    }

    /// The token endpoint issues this client opaque access tokens rather than JWTs (see
    /// [Opaque tokens](self#opaque-tokens-introspection-and-revocation)); other clients keep
    /// getting JWTs unless the whole issuer is [`opaque_tokens`](TestIssuerBuilder::opaque_tokens).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bearer_guard::testing::{TestClient, TestIssuer};
    ///
    /// let issuer = TestIssuer::builder()
    ///     .client(TestClient::new("legacy", "s3cret").opaque_tokens())
    ///     .start()
    ///     .await;
    /// let response = reqwest::Client::new()
    ///     .post(issuer.token_endpoint())
    ///     .basic_auth("legacy", Some("s3cret"))
    ///     .form(&[("grant_type", "client_credentials")])
    ///     .send()
    ///     .await
    ///     .unwrap();
    /// let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    /// let token = body["access_token"].as_str().unwrap();
    /// assert!(!token.contains('.'));
    /// assert_eq!(issuer.introspect(token)["client_id"], "legacy");
    /// # }
    /// ```
    pub fn opaque_tokens(mut self) -> Self {
        self.opaque_tokens = true;
        self
    }

    /// The client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn granted_by_default(&self) -> Vec<String> {
        self.default_scope
            .clone()
            .unwrap_or_else(|| self.scopes.clone())
    }
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("id", &self.id)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("keys", &self.keys.as_ref().map(KeySet::len))
            .field("scopes", &self.scopes)
            .field("default_scope", &self.default_scope)
            .field("unauthorized", &self.unauthorized)
            .field("opaque_tokens", &self.opaque_tokens)
            .finish()
    }
}

/// How the JWKS endpoint of a [`TestIssuer`] misbehaves; see [`TestIssuer::set_jwks_fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum JwksFault {
    /// It works.
    #[default]
    None,
    /// It answers this status with an empty body (500 if the number is not a status code).
    Status(u16),
    /// It never answers (until the issuer stops); clients time out.
    Hang,
    /// It answers `200` with a body that is not JSON.
    Garbage,
}

/// How the introspection endpoint of a [`TestIssuer`] misbehaves; see
/// [`TestIssuer::set_introspection_fault`]. Only `POST /introspect` is affected (the token and
/// revocation endpoints work), and the fault comes before client authentication, as when the
/// service is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IntrospectionFault {
    /// It works.
    #[default]
    None,
    /// It answers this status with an empty body (500 if the number is not a status code).
    Status(u16),
    /// It never answers (until the issuer stops); clients time out.
    Hang,
    /// It answers `200` (`Content-Type: application/json`) with a body that is not JSON.
    Garbage,
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
