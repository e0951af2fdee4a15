//! Tokens of real identity providers (standards.md section K, issue 10 §5): for each provider
//! a client-credentials access token shaped exactly as that provider issues it, signed with a
//! fixture key and verified against a JWKS served over HTTP on loopback, with the recipe of
//! `src/providers.rs` (the same configuration; only `jwks_uri` points at the local server,
//! since the real issuers cannot be reached from here).
//!
//! Every check builds a fresh validator and sends its request three times through it: cold,
//! a second time (when the token enters the verified-token cache) and from the cache. The
//! three answers must be the same.
//!
//! Rules: K.59 (Keycloak's nested roles, Zitadel's object keys), K.60 (Cognito without `aud`),
//! K.61 (Entra templates, `tid`, the tenant allowlist), K.62 (the client from `azp`, `cid`,
//! `appid`).
//!
//! The token shapes and their sources are in `src/providers.rs`; each token below names its
//! source again. Header `kid`s are the fixture key's (`rsa-1`), not the provider's.
#![cfg(feature = "axum")]

mod common;

use axum::Router;
use axum::routing::get;
use bearer_guard::{
    ClaimPath, ClaimPredicate, Claims, ErrorKind, GuardLayer, Issuer, RequireScopeLayer,
    ScopeClaim, TypPolicy, Validator,
};
use common::*;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Expected challenges, written out
// ---------------------------------------------------------------------------------------------

const D_INVALID: &str = "The access token is invalid";
const D_AUDIENCE: &str = "The access token is not meant for this resource";
const D_ISSUER: &str = "The access token comes from an untrusted issuer";
const D_CLIENT: &str = "The client is not allowed to call this resource";
const FORBIDDEN_CLAIM: &str = r#"Bearer realm="api", error="insufficient_scope", error_description="The access token is not allowed on this resource""#;

fn invalid_token(description: &str) -> String {
    format!(r#"Bearer realm="api", error="invalid_token", error_description="{description}""#)
}

fn insufficient_scope(scope: &str) -> String {
    format!(
        r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="{scope}""#
    )
}

// ---------------------------------------------------------------------------------------------
// The app, and three sends per request
// ---------------------------------------------------------------------------------------------

/// `client|sub|scopes`, as the handler sees the claims.
async fn whoami(claims: Claims) -> String {
    format!(
        "{}|{}|{}",
        claims.client().unwrap_or("-"),
        claims.subject().unwrap_or("-"),
        claims.scopes().iter().collect::<Vec<_>>().join(" "),
    )
}

/// `/whoami` behind the guard alone, `/scoped` behind `layer` too.
fn app(validator: Validator, layer: RequireScopeLayer) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .merge(
            Router::new()
                .route("/scoped", get(|| async { "ok" }))
                .route_layer(layer),
        )
        .route_layer(GuardLayer::new(validator))
}

/// Sends `token` to `path` of a fresh app three times (cold, second sighting, cached) and
/// returns the answer, after checking that all three were the same.
async fn thrice(validator: Validator, layer: RequireScopeLayer, path: &str, token: &str) -> Reply {
    let app = app(validator, layer);
    let first = send(&app, request(path, &[&bearer(token)])).await;
    for attempt in 2..=3 {
        let again = send(&app, request(path, &[&bearer(token)])).await;
        assert_eq!(
            (
                again.status,
                &again.www_authenticate,
                again.kind,
                &again.body
            ),
            (
                first.status,
                &first.www_authenticate,
                first.kind,
                &first.body
            ),
            "{path}, attempt {attempt} differs from the first"
        );
    }
    first
}

/// The recipe accepts `token`: the handler sees `who` (`client|sub|scopes`), a route
/// requiring `has` answers 200, and one requiring any of `lacks` answers 403 naming it.
async fn accepts(
    recipe: impl Fn() -> Validator,
    token: &str,
    who: &str,
    has: &str,
    lacks: &[&str],
) {
    let reply = thrice(recipe(), RequireScopeLayer::all([has]), "/whoami", token).await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (200, who),
        "{reply:?}"
    );
    let reply = thrice(recipe(), RequireScopeLayer::all([has]), "/scoped", token).await;
    assert_eq!(reply.status, 200, "requiring {has}: {reply:?}");
    for lack in lacks {
        let reply = thrice(recipe(), RequireScopeLayer::all([lack]), "/scoped", token).await;
        assert_eq!(reply.status, 403, "requiring {lack}: {reply:?}");
        assert_eq!(reply.www_authenticate, Some(insufficient_scope(lack)));
        assert_eq!(reply.kind, Some(ErrorKind::InsufficientScope));
    }
}

/// The recipe refuses `token` with 401 `kind`.
async fn refuses(recipe: impl Fn() -> Validator, token: &str, kind: ErrorKind, description: &str) {
    let reply = thrice(
        recipe(),
        RequireScopeLayer::all(["unused"]),
        "/whoami",
        token,
    )
    .await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.kind, Some(kind), "{reply:?}");
    assert_eq!(reply.www_authenticate, Some(invalid_token(description)));
}

fn build(issuers: impl IntoIterator<Item = Issuer>) -> Validator {
    issuers
        .into_iter()
        .fold(Validator::builder(), |builder, issuer| {
            builder.issuer(issuer)
        })
        .build()
        .expect("the recipe builds")
}

/// `header.payload` signed by the published RSA key (RS256).
fn sign(header: Value, payload: &Value) -> String {
    mint(&header, payload, Key::Rsa2048, Algorithm::RS256)
}

/// `base` with `changes` merged in (`null` removes a member).
fn with(mut base: Value, changes: Value) -> Value {
    merge(&mut base, changes);
    base
}

// ---------------------------------------------------------------------------------------------
// Keycloak
// ---------------------------------------------------------------------------------------------

const KEYCLOAK_ISS: &str = "https://kc.example/realms/acme";

/// The recipe of `src/providers.rs`, keys from `jwks_uri`.
fn keycloak(jwks_uri: &str) -> Issuer {
    Issuer::new(KEYCLOAK_ISS)
        .jwks_uri(jwks_uri)
        .audience("orders-api")
        .scope_claim(ScopeClaim::values(ClaimPath::dotted("realm_access.roles")).prefix("realm:"))
        .scope_claim(
            ScopeClaim::values(ClaimPath::nested([
                "resource_access",
                "orders-api",
                "roles",
            ]))
            .prefix("orders-api:"),
        )
}

/// A service-account token of client `billing-job`, with an Audience mapper adding
/// `orders-api`. Shape: a decoded Keycloak 2x client-credentials token (published in the
/// walt.id docs), Keycloak server admin guide "Service accounts" and "Audience support".
fn keycloak_payload() -> Value {
    let now = now();
    json!({
        "exp": now + 300,
        "iat": now,
        "jti": "f73a4a37-9550-4f88-97ef-3b45abee06f1",
        "iss": KEYCLOAK_ISS,
        "aud": ["orders-api", "account"],
        "sub": "7ddaf89f-69eb-4ecf-a9ca-acba11211986",
        "typ": "Bearer",
        "azp": "billing-job",
        "acr": "1",
        "allowed-origins": ["/*"],
        "realm_access": {"roles": ["offline_access", "default-roles-acme", "uma_authorization", "auditor"]},
        "resource_access": {
            "orders-api": {"roles": ["orders.read"]},
            "account": {"roles": ["manage-account", "manage-account-links", "view-profile"]},
        },
        "scope": "profile email",
        "clientHost": "10.0.0.7",
        "email_verified": false,
        "preferred_username": "service-account-billing-job",
        "clientAddress": "10.0.0.7",
        "client_id": "billing-job",
    })
}

fn keycloak_token(payload: &Value) -> String {
    sign(
        json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}),
        payload,
    )
}

#[tokio::test]
async fn keycloak_service_account_token_with_an_audience_mapper() {
    let idp = IdpServer::start().await;
    let recipe = || build([keycloak(&idp.url("/jwks"))]);
    let scopes = "email orders-api:orders.read profile realm:auditor realm:default-roles-acme \
                  realm:offline_access realm:uma_authorization";
    let who = format!("billing-job|7ddaf89f-69eb-4ecf-a9ca-acba11211986|{scopes}");
    let token = keycloak_token(&keycloak_payload());
    accepts(
        recipe,
        &token,
        &who,
        "orders-api:orders.read",
        &["orders-api:orders.write"],
    )
    .await;
    // Before Keycloak 24 the claim was `clientId` (from memory): `azp` names the client anyway.
    let older = with(
        keycloak_payload(),
        json!({"client_id": null, "clientId": "billing-job"}),
    );
    let reply = thrice(
        recipe(),
        RequireScopeLayer::all(["unused"]),
        "/whoami",
        &keycloak_token(&older),
    )
    .await;
    assert_eq!(reply.body, who);
}

#[tokio::test]
async fn keycloak_realm_and_client_roles_keep_their_own_prefixes() {
    let idp = IdpServer::start().await;
    let recipe = || build([keycloak(&idp.url("/jwks"))]);
    let token = keycloak_token(&keycloak_payload());
    accepts(
        recipe,
        &token,
        "billing-job|7ddaf89f-69eb-4ecf-a9ca-acba11211986|email orders-api:orders.read profile \
         realm:auditor realm:default-roles-acme realm:offline_access realm:uma_authorization",
        "realm:auditor",
        &[
            // Unprefixed, a role grants nothing of its name.
            "auditor",
            "orders.read",
            // A client role is not a realm role, nor the reverse.
            "realm:orders.read",
            "orders-api:auditor",
            // Roles of another client (`account`) are not mapped at all.
            "orders-api:manage-account",
            "realm:manage-account",
        ],
    )
    .await;
}

#[tokio::test]
async fn keycloak_token_for_the_account_console_only_is_refused() {
    // Keycloak's default: no Audience mapper, so `aud` names only its account console.
    let idp = IdpServer::start().await;
    let recipe = || build([keycloak(&idp.url("/jwks"))]);
    let default_aud = with(keycloak_payload(), json!({"aud": "account"}));
    refuses(
        recipe,
        &keycloak_token(&default_aud),
        ErrorKind::InvalidAudience,
        D_AUDIENCE,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Microsoft Entra ID
// ---------------------------------------------------------------------------------------------

const CONTOSO: &str = "9c1d2a6e-0d7b-4c43-9a3e-5b2f8e4d1c70";
const FABRIKAM: &str = "e3b0c442-98fc-4c14-9afb-f4c8996fb924";
const OUTSIDER: &str = "0d5a7f1e-3c2b-4a19-8e6d-2f4b9c7a1e53";
/// The API's application (client) id: the v2 audience.
const API_APP_ID: &str = "6e3f1c9a-2b7d-4e8f-a1c5-9d0b3e7f2a64";
/// The API's App ID URI: the v1 audience.
const API_APP_ID_URI: &str = "api://orders-api";
/// The calling application's id, and its service principal's object id.
const CLIENT_APP_ID: &str = "b7a4e2d1-5c3f-4a8b-9e6d-1f0c2b3a4d5e";
const CLIENT_SP_OID: &str = "3f8e2c1a-7b6d-4e5f-8a9b-0c1d2e3f4a5b";

fn entra_v2_iss(tenant: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant}/v2.0")
}

fn entra_v1_iss(tenant: &str) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

/// Single tenant, v2.
fn entra_v2(tenant: &str, jwks_uri: &str) -> Issuer {
    Issuer::new(entra_v2_iss(tenant))
        .jwks_uri(jwks_uri)
        .audience(API_APP_ID)
        .scope_claim("roles")
}

/// Multi-tenant, v2: Contoso and Fabrikam.
fn entra_v2_multi_tenant(jwks_uri: &str) -> Issuer {
    Issuer::template("https://login.microsoftonline.com/{tenantid}/v2.0")
        .tenants([CONTOSO, FABRIKAM])
        .jwks_uri(jwks_uri)
        .audience(API_APP_ID)
        .scope_claim("roles")
}

/// v1, beside [`entra_v2`].
fn entra_v1(tenant: &str, jwks_uri: &str) -> Issuer {
    Issuer::new(entra_v1_iss(tenant))
        .jwks_uri(jwks_uri)
        .audience(API_APP_ID_URI)
        .scope_claim("roles")
}

/// A v2 app-only token (client credentials) of tenant `tenant`. Shape: "Access token claims
/// reference", learn.microsoft.com/entra/identity-platform/access-token-claims-reference
/// (`azp`/`azpacr` v2 only, `roles` for the client credentials flow, no `scp`), `idtyp`
/// left out (an optional claim).
fn entra_v2_payload(tenant: &str) -> Value {
    let now = now();
    json!({
        "aud": API_APP_ID,
        "iss": entra_v2_iss(tenant),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "aio": "k2BgYDi8Z9pVtx3aJ3/7xQUAAA==",
        "azp": CLIENT_APP_ID,
        "azpacr": "1",
        "oid": CLIENT_SP_OID,
        "rh": "0.AXEAbc1d2a6e0d7bTEOaPlsvjk0ccJocP25O6KHFnQs-fypkAAA.",
        "roles": ["Orders.Read"],
        "sub": CLIENT_SP_OID,
        "tid": tenant,
        "uti": "qZ8yJ1mRz0iC6m1p2S0AAQ",
        "ver": "2.0",
    })
}

/// A v1 app-only token: same reference (`appid`/`appidacr`/`idp` v1 only, `x5t` in the
/// header of v1 tokens only).
fn entra_v1_payload(tenant: &str) -> Value {
    let now = now();
    json!({
        "aud": API_APP_ID_URI,
        "iss": entra_v1_iss(tenant),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "aio": "E2ZgYPjT8f7r2nB8QxS5bzsAAA==",
        "appid": CLIENT_APP_ID,
        "appidacr": "1",
        "idp": entra_v1_iss(tenant),
        "oid": CLIENT_SP_OID,
        "rh": "0.AXEAbc1d2a6e0d7bTEOaPlsvjk0ccJocP25O6KHFnQs-fypkAAA.",
        "roles": ["Orders.Read"],
        "sub": CLIENT_SP_OID,
        "tid": tenant,
        "uti": "Vx3c0nN1lEa9YbLq8dYBAA",
        "ver": "1.0",
    })
}

fn entra_v2_token(payload: &Value) -> String {
    sign(
        json!({"typ": "JWT", "alg": "RS256", "kid": "rsa-1"}),
        payload,
    )
}

fn entra_v1_token(payload: &Value) -> String {
    // Entra's `x5t` equals its `kid`; ours is a made-up thumbprint, and `x5t` is not read.
    let header =
        json!({"typ": "JWT", "alg": "RS256", "x5t": "nOo3ZDrODXEK1jKWhXslHR_KXEg", "kid": "rsa-1"});
    sign(header, payload)
}

#[tokio::test]
async fn entra_v2_single_tenant_app_token() {
    let idp = IdpServer::start().await;
    let recipe = || build([entra_v2(CONTOSO, &idp.url("/jwks"))]);
    let token = entra_v2_token(&entra_v2_payload(CONTOSO));
    let who = format!("{CLIENT_APP_ID}|{CLIENT_SP_OID}|Orders.Read");
    accepts(
        recipe,
        &token,
        &who,
        "Orders.Read",
        &["Orders.Write", "orders.read"],
    )
    .await;
}

#[tokio::test]
async fn entra_v2_multi_tenant_accepts_each_listed_tenant() {
    let idp = IdpServer::start().await;
    let recipe = || build([entra_v2_multi_tenant(&idp.url("/jwks"))]);
    let who = format!("{CLIENT_APP_ID}|{CLIENT_SP_OID}|Orders.Read");
    for tenant in [CONTOSO, FABRIKAM] {
        let token = entra_v2_token(&entra_v2_payload(tenant));
        accepts(recipe, &token, &who, "Orders.Read", &["Orders.Write"]).await;
    }
}

#[tokio::test]
async fn entra_tid_not_matching_the_tenant_in_iss_is_refused() {
    let idp = IdpServer::start().await;
    let recipe = || build([entra_v2_multi_tenant(&idp.url("/jwks"))]);
    // Both tenants are allowed, but the token's `iss` names one and its `tid` the other.
    let crossed = with(entra_v2_payload(CONTOSO), json!({"tid": FABRIKAM}));
    refuses(
        recipe,
        &entra_v2_token(&crossed),
        ErrorKind::InvalidIssuer,
        D_ISSUER,
    )
    .await;
    let without_tid = with(entra_v2_payload(CONTOSO), json!({"tid": null}));
    refuses(
        recipe,
        &entra_v2_token(&without_tid),
        ErrorKind::InvalidIssuer,
        D_ISSUER,
    )
    .await;
}

#[tokio::test]
async fn entra_tenant_outside_the_allowlist_is_refused_without_fetching_keys() {
    let idp = IdpServer::start().await;
    let recipe = || build([entra_v2_multi_tenant(&idp.url("/jwks"))]);
    let token = entra_v2_token(&entra_v2_payload(OUTSIDER));
    refuses(recipe, &token, ErrorKind::InvalidIssuer, D_ISSUER).await;
    // Nine requests through three validators, and not one request to the identity provider.
    assert_eq!(
        (idp.jwks_hits(), idp.discovery_hits(), idp.other_hits()),
        (0, 0, 0)
    );
    // The same server does serve the keys for a listed tenant.
    let listed = entra_v2_token(&entra_v2_payload(FABRIKAM));
    let reply = thrice(
        recipe(),
        RequireScopeLayer::all(["unused"]),
        "/whoami",
        &listed,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(idp.jwks_hits(), 1);
}

#[tokio::test]
async fn entra_v1_and_v2_side_by_side_each_with_its_own_audience() {
    let idp = IdpServer::start().await;
    let jwks = idp.url("/jwks");
    let recipe = || build([entra_v1(CONTOSO, &jwks), entra_v2(CONTOSO, &jwks)]);
    let v1 = entra_v1_token(&entra_v1_payload(CONTOSO));
    let v2 = entra_v2_token(&entra_v2_payload(CONTOSO));
    // v1 names the client in `appid`, v2 in `azp`: the same client either way.
    let who = format!("{CLIENT_APP_ID}|{CLIENT_SP_OID}|Orders.Read");
    accepts(recipe, &v1, &who, "Orders.Read", &["Orders.Write"]).await;
    accepts(recipe, &v2, &who, "Orders.Read", &["Orders.Write"]).await;
    // A v1 token naming the v2 issuer's audience, and the reverse: each issuer expects only
    // the audience of its own version.
    let v1_to_v2 = with(entra_v1_payload(CONTOSO), json!({"aud": API_APP_ID}));
    refuses(
        recipe,
        &entra_v1_token(&v1_to_v2),
        ErrorKind::InvalidAudience,
        D_AUDIENCE,
    )
    .await;
    let v2_to_v1 = with(entra_v2_payload(CONTOSO), json!({"aud": API_APP_ID_URI}));
    refuses(
        recipe,
        &entra_v2_token(&v2_to_v1),
        ErrorKind::InvalidAudience,
        D_AUDIENCE,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Auth0
// ---------------------------------------------------------------------------------------------

const AUTH0_ISS: &str = "https://acme.eu.auth0.com/";
const AUTH0_CLIENT: &str = "Xk1Qz0m4T7rB9sYcV2nH5uJ8aL3eD6fG";

fn auth0(issuer: &str, jwks_uri: &str) -> Issuer {
    Issuer::new(issuer)
        .jwks_uri(jwks_uri)
        .audience("https://orders.example.com")
        .scope_claim("permissions")
}

/// A machine-to-machine token with RBAC and "Add Permissions in the Access Token" on. Shape:
/// Auth0 docs "Access Token Profiles" and "Enable Role-Based Access Control for APIs" (from
/// memory), and decoded M2M tokens (`gty`, `sub` = `{client_id}@clients`).
fn auth0_payload() -> Value {
    let now = now();
    json!({
        "iss": AUTH0_ISS,
        "sub": format!("{AUTH0_CLIENT}@clients"),
        "aud": "https://orders.example.com",
        "iat": now,
        "exp": now + 300,
        "scope": "read:orders",
        "gty": "client-credentials",
        "azp": AUTH0_CLIENT,
        "permissions": ["read:orders"],
    })
}

fn auth0_token(payload: &Value) -> String {
    sign(
        json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}),
        payload,
    )
}

#[tokio::test]
async fn auth0_client_credentials_token() {
    let idp = IdpServer::start().await;
    let recipe = || build([auth0(AUTH0_ISS, &idp.url("/jwks"))]);
    // The client is `azp`, not the `@clients` subject.
    let who = format!("{AUTH0_CLIENT}|{AUTH0_CLIENT}@clients|read:orders");
    let token = auth0_token(&auth0_payload());
    accepts(recipe, &token, &who, "read:orders", &["write:orders"]).await;
}

#[tokio::test]
async fn auth0_issuer_without_the_trailing_slash_is_another_issuer() {
    let idp = IdpServer::start().await;
    let recipe = || build([auth0(AUTH0_ISS, &idp.url("/jwks"))]);
    let no_slash = with(auth0_payload(), json!({"iss": "https://acme.eu.auth0.com"}));
    refuses(
        recipe,
        &auth0_token(&no_slash),
        ErrorKind::InvalidIssuer,
        D_ISSUER,
    )
    .await;
    // Configured without the slash, the real token is refused the same way.
    let mistaken = || build([auth0("https://acme.eu.auth0.com", &idp.url("/jwks"))]);
    refuses(
        mistaken,
        &auth0_token(&auth0_payload()),
        ErrorKind::InvalidIssuer,
        D_ISSUER,
    )
    .await;
    assert_eq!(idp.jwks_hits(), 0, "an unknown issuer costs no fetch");
}

// ---------------------------------------------------------------------------------------------
// Okta
// ---------------------------------------------------------------------------------------------

const OKTA_ISS: &str = "https://acme.okta.com/oauth2/aus8x1y2z3AbCdEf4h7";
const OKTA_CLIENT: &str = "0oa9k2m4n6p8q0r1s3t5";

fn okta(jwks_uri: &str) -> Issuer {
    Issuer::new(OKTA_ISS)
        .jwks_uri(jwks_uri)
        .audience("api://orders")
}

/// A custom authorization server's client-credentials token. Shape: Okta developer guides
/// ("Validate access tokens", decoded tokens in Okta's own tutorials: `ver` 1, `jti` `AT.…`,
/// `cid`, `scp` array; `sub` is the client id for client credentials).
fn okta_payload() -> Value {
    let now = now();
    json!({
        "ver": 1,
        "jti": "AT.EmHCGDFHE18hC5j3stjbarVonh46twW7tWutB9v8hsw",
        "iss": OKTA_ISS,
        "aud": "api://orders",
        "iat": now,
        "exp": now + 300,
        "cid": OKTA_CLIENT,
        "scp": ["orders.read"],
        "sub": OKTA_CLIENT,
    })
}

fn okta_token() -> String {
    // No `typ` in the header.
    sign(json!({"kid": "rsa-1", "alg": "RS256"}), &okta_payload())
}

#[tokio::test]
async fn okta_custom_authorization_server_token_without_typ() {
    let idp = IdpServer::start().await;
    let recipe = || build([okta(&idp.url("/jwks"))]);
    let who = format!("{OKTA_CLIENT}|{OKTA_CLIENT}|orders.read");
    accepts(
        recipe,
        &okta_token(),
        &who,
        "orders.read",
        &["orders.write"],
    )
    .await;
    // The strict RFC 9068 profile would refuse it: keep the default policy for Okta.
    let strict = || build([okta(&idp.url("/jwks")).typ_policy(TypPolicy::Rfc9068)]);
    refuses(strict, &okta_token(), ErrorKind::InvalidType, D_INVALID).await;
}

// ---------------------------------------------------------------------------------------------
// AWS Cognito
// ---------------------------------------------------------------------------------------------

const COGNITO_ISS: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123";
const COGNITO_CLIENT: &str = "4b0mu8ru1mfi9ecf2e0rrq4c8i";

fn cognito(jwks_uri: &str) -> Issuer {
    Issuer::new(COGNITO_ISS)
        .jwks_uri(jwks_uri)
        .without_audience()
        .allowed_clients([COGNITO_CLIENT])
        .require_claim(ClaimPredicate::equals("token_use", "access"))
}

/// A client-credentials access token: no `aud`. Shape: Cognito developer guide "Understanding
/// the access token" (`token_use`, `scope`, `client_id`, no `aud`) and "Defining resource
/// servers" (`{identifier}/{scope}`); `version` from decoded tokens.
fn cognito_access_payload(client: &str) -> Value {
    let now = now();
    json!({
        "sub": client,
        "token_use": "access",
        "scope": "orders/read",
        "auth_time": now,
        "iss": COGNITO_ISS,
        "exp": now + 300,
        "iat": now,
        "version": 2,
        "jti": "d49208e7-e619-40c7-a0b4-bb3c9607effa",
        "client_id": client,
    })
}

/// An ID token of a user of the same pool and app client: `aud` is the app client. Shape:
/// Cognito developer guide "Understanding the identity (ID) token".
fn cognito_id_payload() -> Value {
    let now = now();
    json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "aud": COGNITO_CLIENT,
        "email_verified": true,
        "token_use": "id",
        "auth_time": now,
        "iss": COGNITO_ISS,
        "cognito:username": "janedoe",
        "exp": now + 300,
        "iat": now,
        "jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "origin_jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "email": "janedoe@example.com",
    })
}

fn cognito_token(payload: &Value) -> String {
    // No `typ` in the header.
    sign(json!({"kid": "rsa-1", "alg": "RS256"}), payload)
}

#[tokio::test]
async fn cognito_client_credentials_token_without_aud() {
    let idp = IdpServer::start().await;
    let recipe = || build([cognito(&idp.url("/jwks"))]);
    let token = cognito_token(&cognito_access_payload(COGNITO_CLIENT));
    let who = format!("{COGNITO_CLIENT}|{COGNITO_CLIENT}|orders/read");
    accepts(recipe, &token, &who, "orders/read", &["orders/write"]).await;
}

#[tokio::test]
async fn cognito_id_token_is_refused_for_its_audience() {
    let idp = IdpServer::start().await;
    let recipe = || build([cognito(&idp.url("/jwks"))]);
    // The audience is checked before the issuer's claim requirements: an ID token carries an
    // `aud` (its app client), and an issuer without audience accepts only tokens without one.
    // So the refusal is InvalidAudience, although `token_use` = `id` fails the recipe too.
    let id_token = cognito_token(&cognito_id_payload());
    refuses(recipe, &id_token, ErrorKind::InvalidAudience, D_AUDIENCE).await;
    // The `token_use` requirement on its own: an ID-token-like token without `aud`.
    let no_aud = with(
        cognito_access_payload(COGNITO_CLIENT),
        json!({"token_use": "id"}),
    );
    refuses(
        recipe,
        &cognito_token(&no_aud),
        ErrorKind::UnacceptedClaim,
        D_INVALID,
    )
    .await;
}

#[tokio::test]
async fn cognito_client_not_on_the_allowlist_is_refused() {
    let idp = IdpServer::start().await;
    let recipe = || build([cognito(&idp.url("/jwks"))]);
    let other = cognito_token(&cognito_access_payload("7qa1bm5v2lq1qg3l4s0dn6k2oh"));
    refuses(recipe, &other, ErrorKind::ClientNotAllowed, D_CLIENT).await;
}

// ---------------------------------------------------------------------------------------------
// Ory Hydra
// ---------------------------------------------------------------------------------------------

const HYDRA_ISS: &str = "https://hydra.example/";

fn hydra(jwks_uri: &str) -> Issuer {
    Issuer::new(HYDRA_ISS)
        .jwks_uri(jwks_uri)
        .audience("https://orders.example.com")
}

/// A JWT access token (`strategies.access_token: jwt`) of client `billing-job`, with session
/// data under `ext`. Shape: Ory docs "JSON Web Token access tokens" (from memory) and
/// ory/hydra discussion #3430 (`scp` is an array).
fn hydra_payload() -> Value {
    let now = now();
    json!({
        "aud": ["https://orders.example.com"],
        "client_id": "billing-job",
        "exp": now + 300,
        "ext": {"tenant": "acme"},
        "iat": now,
        "iss": HYDRA_ISS,
        "jti": "2d5d6bd8-6a3e-4f6c-9a3c-7d4b1c2e0f91",
        "nbf": now,
        "scp": ["orders.read"],
        "sub": "billing-job",
    })
}

fn hydra_token(typ: Option<&str>, payload: &Value) -> String {
    let mut header = json!({"alg": "RS256", "kid": "rsa-1"});
    if let Some(typ) = typ {
        header["typ"] = json!(typ);
    }
    sign(header, payload)
}

#[tokio::test]
async fn hydra_jwt_access_token_with_or_without_typ() {
    let idp = IdpServer::start().await;
    let recipe = || build([hydra(&idp.url("/jwks"))]);
    for typ in [Some("JWT"), None] {
        let token = hydra_token(typ, &hydra_payload());
        accepts(
            recipe,
            &token,
            "billing-job|billing-job|orders.read",
            "orders.read",
            &["orders.write"],
        )
        .await;
    }
}

#[tokio::test]
async fn hydra_ext_claims_can_be_required_by_a_route() {
    let idp = IdpServer::start().await;
    let recipe = || build([hydra(&idp.url("/jwks"))]);
    let token = hydra_token(Some("JWT"), &hydra_payload());
    let tenant = |name: &str| {
        RequireScopeLayer::all(["orders.read"])
            .require_claim(ClaimPredicate::equals(
                ClaimPath::dotted("ext.tenant"),
                name,
            ))
            .expect("a valid predicate")
    };
    let reply = thrice(recipe(), tenant("acme"), "/scoped", &token).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let reply = thrice(recipe(), tenant("globex"), "/scoped", &token).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(reply.kind, Some(ErrorKind::ForbiddenClaim));
    assert_eq!(reply.www_authenticate.as_deref(), Some(FORBIDDEN_CLAIM));
}

#[tokio::test]
async fn hydra_token_requested_without_an_audience_is_refused() {
    let idp = IdpServer::start().await;
    let recipe = || build([hydra(&idp.url("/jwks"))]);
    let no_audience = with(hydra_payload(), json!({"aud": []}));
    refuses(
        recipe,
        &hydra_token(Some("JWT"), &no_audience),
        ErrorKind::InvalidAudience,
        D_AUDIENCE,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Zitadel
// ---------------------------------------------------------------------------------------------

const ZITADEL_ISS: &str = "https://acme-x1y2z3.zitadel.cloud";
const ZITADEL_PROJECT: &str = "284734591220384567";

fn zitadel(jwks_uri: &str) -> Issuer {
    Issuer::new(ZITADEL_ISS)
        .jwks_uri(jwks_uri)
        .audience(ZITADEL_PROJECT)
        .scope_claim(ScopeClaim::keys("urn:zitadel:iam:org:project:roles").prefix("role:"))
}

/// A service user's JWT access token (client credentials) asking for the project audience and
/// its roles. Shape: Zitadel docs "Claims" and "Scopes" (roles as an object keyed by role,
/// each mapping organization ids to domains); `scope` as a string per zitadel/oidc v3
/// (`SpaceDelimitedArray`).
fn zitadel_payload() -> Value {
    let now = now();
    let roles = json!({"orders.reader": {"284733990881650743": "acme.zitadel.cloud"}});
    json!({
        "iss": ZITADEL_ISS,
        "sub": "284735882910447993",
        "aud": [ZITADEL_PROJECT],
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": "V2_284736001267581114-at_284736001267646650",
        "client_id": "billing-job",
        "scope": format!(
            "openid urn:zitadel:iam:org:project:id:{ZITADEL_PROJECT}:aud urn:zitadel:iam:org:projects:roles"
        ),
        "urn:zitadel:iam:org:project:roles": roles.clone(),
        format!("urn:zitadel:iam:org:project:{ZITADEL_PROJECT}:roles"): roles,
    })
}

#[tokio::test]
async fn zitadel_service_user_token_with_project_roles_as_object_keys() {
    let idp = IdpServer::start().await;
    let recipe = || build([zitadel(&idp.url("/jwks"))]);
    let token = sign(json!({"alg": "RS256", "kid": "rsa-1"}), &zitadel_payload());
    let who = format!(
        "billing-job|284735882910447993|openid role:orders.reader \
         urn:zitadel:iam:org:project:id:{ZITADEL_PROJECT}:aud urn:zitadel:iam:org:projects:roles"
    );
    // Unprefixed, the role names nothing; the organization ids under it are not roles.
    let lacks = [
        "role:orders.writer",
        "orders.reader",
        "role:284733990881650743",
    ];
    accepts(recipe, &token, &who, "role:orders.reader", &lacks).await;
}
