//! Identity providers: a recipe per provider for its client-credentials access tokens.
//!
//! Every provider signs its access tokens as a JWT, but each puts the client, the scopes and
//! the roles somewhere of its own, and some leave out `aud` or `typ`. Each recipe below is
//! the [`Issuer`](crate::Issuer) configuration for one provider, a token of the shape it
//! issues, where the scopes and roles land in [`Claims::scopes`](crate::Claims::scopes), and
//! the quirks to know. `tests/providers.rs` signs a token of exactly each shape and sends it
//! through the guard with the same configuration (only `jwks_uri` points at a local server).
//!
//! | provider | `iss` | `aud` | client ([`Claims::client`](crate::Claims::client)) | scopes and roles |
//! |---|---|---|---|---|
//! | [Keycloak](#keycloak) | `https://kc.example/realms/{realm}` | `account` unless an Audience mapper adds yours | `azp` (and `client_id`) | `scope`; `realm_access.roles`; `resource_access.{client}.roles` |
//! | [Entra ID v2](#microsoft-entra-id) | `https://login.microsoftonline.com/{tenant}/v2.0` | the API's application (client) id | `azp` | `roles` |
//! | [Entra ID v1](#microsoft-entra-id) | `https://sts.windows.net/{tenant}/` | the App ID URI (`api://…`) | `appid` | `roles` |
//! | [Auth0](#auth0) | `https://{tenant}.auth0.com/` (trailing `/`) | the API identifier | `azp` (`sub` is `{client}@clients`) | `scope`; `permissions` with RBAC |
//! | [Okta](#okta) | `https://{org}.okta.com/oauth2/{serverId}` | the authorization server's audience | `cid` | `scp` (array) |
//! | [AWS Cognito](#aws-cognito) | `https://cognito-idp.{region}.amazonaws.com/{poolId}` | none | `client_id` | `scope` |
//! | [Ory Hydra](#ory-hydra) | as configured, e.g. `https://hydra.example/` | the requested audience (array) | `client_id` | `scp` (array) |
//! | [Zitadel](#zitadel) | `https://{instance}.zitadel.cloud` | the project id (and client ids) | `client_id` | `scope`; keys of `urn:zitadel:iam:org:project:roles` |
//!
//! Some rules hold for every provider:
//!
//! - `iss` is compared byte for byte: copy it from the provider's discovery document
//!   (`/.well-known/openid-configuration`), trailing slash and all.
//! - Setting [`jwks_uri`](crate::Issuer::jwks_uri) skips discovery; without it the keys'
//!   location is discovered from the issuer. Building the validator fetches nothing.
//! - The default [`TypPolicy`](crate::TypPolicy) accepts `typ` `at+jwt`, `JWT` or none, which
//!   covers every provider here. [`TypPolicy::Rfc9068`](crate::TypPolicy::Rfc9068) requires
//!   `at+jwt` and a `client_id` claim, which none of them sends by default (Auth0 does with its
//!   RFC 9068 token profile): keep the default policy for these providers.
//! - Roles join the one scope set. Give them a [`prefix`](crate::ScopeClaim::prefix) when a
//!   role and a scope could share a name but should not grant the same thing.
//!
//! The token shapes come from each provider's documentation, cited in each section, and from
//! decoded tokens published by their users. Where a detail is not documented (or changed
//! between versions), the section says so; such details never matter to the configuration
//! shown, only to what else a handler may find in [`Claims::json`](crate::Claims::json).
//!
//! # Keycloak
//!
//! A confidential client with "Service accounts roles" on gets tokens from
//! `https://kc.example/realms/{realm}/protocol/openid-connect/token`:
//!
//! ```text
//! header  {"alg": "RS256", "typ": "JWT", "kid": "…"}
//! payload {"iss": "https://kc.example/realms/acme", "aud": ["orders-api", "account"],
//!          "sub": "<service-account user id>", "typ": "Bearer", "azp": "billing-job",
//!          "client_id": "billing-job", "preferred_username": "service-account-billing-job",
//!          "scope": "profile email",
//!          "realm_access": {"roles": ["offline_access", "default-roles-acme", "auditor"]},
//!          "resource_access": {"orders-api": {"roles": ["orders.read"]},
//!                              "account": {"roles": ["manage-account", "view-profile"]}},
//!          "exp": …, "iat": …, "jti": "…", "acr": "1", …}
//! ```
//!
//! ```
//! use bearer_guard::{ClaimPath, Issuer, ScopeClaim, Validator};
//!
//! let keycloak = Issuer::new("https://kc.example/realms/acme")
//!     .jwks_uri("https://kc.example/realms/acme/protocol/openid-connect/certs")
//!     .audience("orders-api")
//!     // Realm roles become `realm:auditor`, this API's client roles `orders-api:orders.read`.
//!     .scope_claim(ScopeClaim::values(ClaimPath::dotted("realm_access.roles")).prefix("realm:"))
//!     .scope_claim(
//!         ScopeClaim::values(ClaimPath::nested(["resource_access", "orders-api", "roles"]))
//!             .prefix("orders-api:"),
//!     );
//! let validator = Validator::builder().issuer(keycloak).build()?;
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```
//!
//! - **Audience.** Out of the box `aud` is `account` (or absent), which names Keycloak's
//!   account console, not your API: such a token is refused with
//!   [`InvalidAudience`](crate::ErrorKind::InvalidAudience), and must be. Add an *Audience*
//!   mapper (Client scopes → the client's dedicated scope → Add mapper → By configuration →
//!   Audience, "Included Client Audience" = your API's client) so that `aud` names your API.
//!   Giving the service account a client role of the API's client also adds it, through the
//!   default "Audience Resolve" mapper.
//! - **Client.** `azp` is the client. Keycloak also writes a `client_id` claim for service
//!   accounts (`clientId` before version 24, from memory: either way `azp` has it).
//! - **Roles.** Realm roles are in `realm_access.roles`, client roles in
//!   `resource_access.{client}.roles`. Write the client id as a
//!   [`nested`](crate::ClaimPath::nested) segment when it holds a dot.
//! - **`typ`.** The `typ: "Bearer"` *claim* is Keycloak's own and is not the JOSE `typ`
//!   header (which is `JWT`); nothing checks it.
//!
//! Sources: <https://www.keycloak.org/docs/latest/server_admin/#_service_accounts>,
//! <https://www.keycloak.org/docs/latest/server_admin/#audience-support> (from memory; the
//! payload above matches decoded Keycloak 2x tokens published by users).
//!
//! # Microsoft Entra ID
//!
//! An application calling an API with the client credentials grant gets *application
//! permissions* (app roles) in `roles`; `scp` is only in tokens for a user. Whether the token
//! is v1 or v2 is decided by the **API's** manifest (`accessTokenAcceptedVersion`: `null` or
//! `1` for v1, `2` for v2), not by the endpoint the client called.
//!
//! ```text
//! v2  header  {"typ": "JWT", "alg": "RS256", "kid": "…"}
//!     payload {"iss": "https://login.microsoftonline.com/{tenant}/v2.0", "tid": "{tenant}",
//!              "aud": "<API application id>", "azp": "<client application id>", "azpacr": "1",
//!              "roles": ["Orders.Read"], "sub": "<client service principal oid>", "oid": "…",
//!              "ver": "2.0", "iat": …, "nbf": …, "exp": …, "aio": "…", "rh": "…", "uti": "…"}
//! v1  header  {"typ": "JWT", "alg": "RS256", "x5t": "…", "kid": "…"}
//!     payload {"iss": "https://sts.windows.net/{tenant}/", "tid": "{tenant}",
//!              "aud": "api://orders-api", "appid": "<client application id>", "appidacr": "1",
//!              "idp": "https://sts.windows.net/{tenant}/", "roles": ["Orders.Read"],
//!              "ver": "1.0", …}
//! ```
//!
//! Single tenant, v2:
//!
//! ```
//! use bearer_guard::{Issuer, Validator};
//!
//! const TENANT: &str = "9c1d2a6e-0d7b-4c43-9a3e-5b2f8e4d1c70";
//! let entra = Issuer::new(format!("https://login.microsoftonline.com/{TENANT}/v2.0"))
//!     .jwks_uri(format!("https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys"))
//!     .audience("6e3f1c9a-2b7d-4e8f-a1c5-9d0b3e7f2a64") // the API's application (client) id
//!     .scope_claim("roles");
//! let validator = Validator::builder().issuer(entra).build()?;
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```
//!
//! Multi-tenant, v2: one [template](crate::Issuer::template) for every tenant allowed. A
//! token is accepted only when the tenant in its `iss` is listed **and** its `tid` is that
//! same tenant; any other tenant is refused as
//! [`InvalidIssuer`](crate::ErrorKind::InvalidIssuer) before anything is fetched.
//!
//! ```
//! use bearer_guard::{Issuer, Validator};
//!
//! let entra = Issuer::template("https://login.microsoftonline.com/{tenantid}/v2.0")
//!     .tenants([
//!         "9c1d2a6e-0d7b-4c43-9a3e-5b2f8e4d1c70", // Contoso
//!         "e3b0c442-98fc-4c14-9afb-f4c8996fb924", // Fabrikam
//!     ])
//!     .jwks_uri("https://login.microsoftonline.com/common/discovery/v2.0/keys")
//!     .audience("6e3f1c9a-2b7d-4e8f-a1c5-9d0b3e7f2a64")
//!     .scope_claim("roles");
//! let validator = Validator::builder().issuer(entra).build()?;
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```
//!
//! v1 and v2 side by side (while clients or the manifest move from one to the other): two
//! issuers, each with the audience its version uses, so that neither version's token is
//! accepted with the other's audience.
//!
//! ```
//! use bearer_guard::{Issuer, Validator};
//!
//! const TENANT: &str = "9c1d2a6e-0d7b-4c43-9a3e-5b2f8e4d1c70";
//! let v1 = Issuer::new(format!("https://sts.windows.net/{TENANT}/"))
//!     .jwks_uri("https://login.microsoftonline.com/common/discovery/keys")
//!     .audience("api://orders-api") // the App ID URI
//!     .scope_claim("roles");
//! let v2 = Issuer::new(format!("https://login.microsoftonline.com/{TENANT}/v2.0"))
//!     .jwks_uri("https://login.microsoftonline.com/common/discovery/v2.0/keys")
//!     .audience("6e3f1c9a-2b7d-4e8f-a1c5-9d0b3e7f2a64") // the application (client) id
//!     .scope_claim("roles");
//! let validator = Validator::builder().issuer(v1).issuer(v2).build()?;
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```
//!
//! - **Audience.** v2 tokens always name the API by its application id (a GUID). v1 tokens
//!   name it as the client asked: the App ID URI when the client asked for
//!   `api://orders-api/.default`, the GUID when it asked for `{GUID}/.default`; add the GUID
//!   to the v1 issuer's audiences if your clients do the latter.
//! - **Client.** v2: `azp`; v1: `appid`. [`Claims::client`](crate::Claims::client) reads
//!   either, and [`allowed_clients`](crate::Issuer::allowed_clients) checks either.
//! - **Roles.** App roles are in `roles` (an array), the same claim in v1 and v2. They are
//!   meant as permissions, so the recipe adds them unprefixed.
//! - **Tenant.** A single-tenant API can use [`Issuer::new`](crate::Issuer::new) with its
//!   tenant in the URL; with a template, `tid` must equal the tenant in `iss`.
//!
//! Sources: <https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference>
//! (read for this recipe: `appid` v1 only, `azp` v2 only, `roles` for the client credentials
//! flow, `scp` for user tokens only),
//! <https://learn.microsoft.com/entra/identity-platform/access-tokens> (token versions, from
//! memory), <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>.
//!
//! # Auth0
//!
//! ```text
//! header  {"alg": "RS256", "typ": "JWT", "kid": "…"}
//! payload {"iss": "https://acme.eu.auth0.com/", "sub": "Xk1Qz0m4T7rB9sYcV2nH5uJ8aL3eD6fG@clients",
//!          "aud": "https://orders.example.com", "azp": "Xk1Qz0m4T7rB9sYcV2nH5uJ8aL3eD6fG",
//!          "gty": "client-credentials", "scope": "read:orders",
//!          "permissions": ["read:orders"], "iat": …, "exp": …}
//! ```
//!
//! ```
//! use bearer_guard::{Issuer, Validator};
//!
//! let auth0 = Issuer::new("https://acme.eu.auth0.com/") // the trailing slash is part of it
//!     .jwks_uri("https://acme.eu.auth0.com/.well-known/jwks.json")
//!     .audience("https://orders.example.com") // the API's Identifier
//!     .scope_claim("permissions");
//! let validator = Validator::builder().issuer(auth0).build()?;
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```
//!
//! - **Issuer.** Auth0's `iss` ends with `/`; `https://acme.eu.auth0.com` (no slash) is
//!   another issuer and refused as [`InvalidIssuer`](crate::ErrorKind::InvalidIssuer). With a
//!   custom domain, `iss` is the domain the token was requested from.
//! - **Client.** `azp`; `sub` is `{client_id}@clients` and is not the client id.
//! - **Scopes.** `scope` holds the granted scopes. With RBAC on and "Add Permissions in the
//!   Access Token", `permissions` holds the same names as an array; mapping it costs nothing
//!   and keeps working if `scope` is ever trimmed.
//! - With the "RFC 9068" token profile chosen for the API, the header `typ` is `at+jwt` and a
//!   `client_id` claim is added (from memory); the recipe is unchanged.
//!
//! Sources: <https://auth0.com/docs/secure/tokens/access-tokens/access-token-profiles>,
//! <https://auth0.com/docs/get-started/apis/enable-role-based-access-control-for-apis>,
//! <https://auth0.com/docs/get-started/authentication-and-authorization-flow/client-credentials-flow>
//! (all from memory; `gty` and `{client_id}@clients` are widely seen in decoded tokens).
//!
//! # Okta
//!
//! A *custom* authorization server (the org authorization server's tokens are meant for Okta's
//! own APIs and cannot be verified by yours):
//!
//! ```text
//! header  {"kid": "…", "alg": "RS256"}            (no typ)
//! payload {"ver": 1, "jti": "AT.…", "iss": "https://acme.okta.com/oauth2/aus8x1y2z3AbCdEf4h7",
//!          "aud": "api://orders", "iat": …, "exp": …, "cid": "0oa9k2m4n6p8q0r1s3t5",
//!          "scp": ["orders.read"], "sub": "0oa9k2m4n6p8q0r1s3t5"}
//! ```
//!
//! ```
//! use bearer_guard::{Issuer, Validator};
//!
//! let okta = Issuer::new("https://acme.okta.com/oauth2/aus8x1y2z3AbCdEf4h7")
//!     .jwks_uri("https://acme.okta.com/oauth2/aus8x1y2z3AbCdEf4h7/v1/keys")
//!     .audience("api://orders"); // the authorization server's Audience setting
//! let validator = Validator::builder().issuer(okta).build()?;
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```
//!
//! - **Client.** `cid`; for client credentials `sub` is the client id too.
//! - **Scopes.** `scp`, an array, read without configuration.
//! - **`typ`.** The header has none: accepted by the default policy, refused by
//!   [`TypPolicy::Rfc9068`](crate::TypPolicy::Rfc9068).
//! - The `default` server's issuer is `https://{org}.okta.com/oauth2/default`.
//!
//! Sources: <https://developer.okta.com/docs/guides/validate-access-tokens/main/>,
//! <https://developer.okta.com/docs/concepts/auth-servers/> (from memory; the payload above
//! matches decoded tokens published in Okta's own guides).
//!
//! # AWS Cognito
//!
//! Cognito access tokens carry **no `aud`**. The recipe checks instead that the client is one
//! you allow and that the token is an access token (an ID token of the same pool is signed by
//! the same keys):
//!
//! ```text
//! header  {"kid": "…", "alg": "RS256"}            (no typ)
//! payload {"sub": "4b0mu8ru1mfi9ecf2e0rrq4c8i", "token_use": "access",
//!          "scope": "orders/read", "auth_time": …,
//!          "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
//!          "exp": …, "iat": …, "version": 2, "jti": "…",
//!          "client_id": "4b0mu8ru1mfi9ecf2e0rrq4c8i"}
//! ```
//!
//! ```
//! use bearer_guard::{ClaimPredicate, Issuer, Validator};
//!
//! let cognito = Issuer::new("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123")
//!     .jwks_uri(
//!         "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123/.well-known/jwks.json",
//!     )
//!     .without_audience()
//!     .allowed_clients(["4b0mu8ru1mfi9ecf2e0rrq4c8i"])
//!     .require_claim(ClaimPredicate::equals("token_use", "access"));
//! let validator = Validator::builder().issuer(cognito).build()?;
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```
//!
//! - **Audience.** [`without_audience`](crate::Issuer::without_audience) must be chosen, and
//!   needs [`allowed_clients`](crate::Issuer::allowed_clients). A token that does carry an
//!   `aud` (an ID token, whose `aud` is the app client) is still refused, as
//!   [`InvalidAudience`](crate::ErrorKind::InvalidAudience): no audience is configured.
//! - **`token_use`.** Required to be `access`, refused as
//!   [`UnacceptedClaim`](crate::ErrorKind::UnacceptedClaim) otherwise.
//! - **Scopes.** Custom scopes are `{resource server identifier}/{scope name}`:
//!   `orders/read`, or `https://orders.example.com/read` when the identifier is a URL.
//!   `cognito:groups` (user tokens only) can be mapped with
//!   [`scope_claim`](crate::Issuer::scope_claim) if needed.
//! - **Client.** `client_id`; for client credentials `sub` is the client id too.
//!
//! Sources: <https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html>
//! and <https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pools-define-resource-servers.html>
//! (both read for this recipe: no `aud`, `client_id`, `token_use`, the scope format);
//! `version: 2` is from decoded tokens.
//!
//! # Ory Hydra
//!
//! With `strategies.access_token: jwt` (the default strategy issues opaque tokens, which need
//! introspection instead):
//!
//! ```text
//! header  {"alg": "RS256", "kid": "…", "typ": "JWT"}
//! payload {"iss": "https://hydra.example/", "aud": ["https://orders.example.com"],
//!          "client_id": "billing-job", "sub": "billing-job", "scp": ["orders.read"],
//!          "ext": {"tenant": "acme"}, "iat": …, "nbf": …, "exp": …, "jti": "…"}
//! ```
//!
//! ```
//! use bearer_guard::{ClaimPath, ClaimPredicate, Issuer, RequireScopeLayer, Validator};
//!
//! let hydra = Issuer::new("https://hydra.example/") // as `urls.self.issuer` says
//!     .jwks_uri("https://hydra.example/.well-known/jwks.json")
//!     .audience("https://orders.example.com");
//! let validator = Validator::builder().issuer(hydra).build()?;
//!
//! // Session data set at consent is under `ext`: a route can require a value of it.
//! let acme_only = RequireScopeLayer::all(["orders.read"])
//!     .require_claim(ClaimPredicate::equals(ClaimPath::dotted("ext.tenant"), "acme"))?;
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```
//!
//! - **Issuer.** Exactly `urls.self.issuer`; Hydra's own examples end it with `/`.
//! - **Audience.** `aud` holds the audiences the client asked for (`audience=` on the token
//!   request), from those its registration allows; it is empty when the client asked for
//!   none, and such a token is refused.
//! - **Scopes.** `scp`, an array by default (`strategies.jwt.scope_claim` can switch it to a
//!   `scope` string, or both); either is read without configuration.
//! - **`typ`.** `JWT` (not checked against every version; a header without `typ` is
//!   accepted too).
//!
//! Sources: <https://www.ory.sh/docs/oauth2-oidc/jwt-access-token>,
//! <https://github.com/ory/hydra/discussions/3430> (`scp` is an array; read for this recipe).
//!
//! # Zitadel
//!
//! A service user with a client secret (or a JWT profile key) and access token type "JWT".
//! The project id joins `aud` when the token request asks for the scope
//! `urn:zitadel:iam:org:project:id:{projectId}:aud`; roles are asserted when the project says
//! so or the request asks for `urn:zitadel:iam:org:projects:roles`.
//!
//! ```text
//! header  {"alg": "RS256", "kid": "…"}
//! payload {"iss": "https://acme-x1y2z3.zitadel.cloud", "sub": "284735882910447993",
//!          "aud": ["284734591220384567"], "client_id": "billing-job",
//!          "scope": "openid urn:zitadel:iam:org:project:id:284734591220384567:aud urn:zitadel:iam:org:projects:roles",
//!          "urn:zitadel:iam:org:project:roles": {"orders.reader": {"284733990881650743": "acme.zitadel.cloud"}},
//!          "urn:zitadel:iam:org:project:284734591220384567:roles": {…the same…},
//!          "iat": …, "nbf": …, "exp": …, "jti": "…"}
//! ```
//!
//! ```
//! use bearer_guard::{Issuer, ScopeClaim, Validator};
//!
//! let zitadel = Issuer::new("https://acme-x1y2z3.zitadel.cloud")
//!     .jwks_uri("https://acme-x1y2z3.zitadel.cloud/oauth/v2/keys")
//!     .audience("284734591220384567") // the project id
//!     // The roles are the keys of an object (each maps organization ids to domains).
//!     .scope_claim(ScopeClaim::keys("urn:zitadel:iam:org:project:roles").prefix("role:"));
//! let validator = Validator::builder().issuer(zitadel).build()?;
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```
//!
//! - **Roles.** Object keys, hence [`ScopeClaim::keys`](crate::ScopeClaim::keys); the prefix
//!   keeps `role:orders.reader` apart from the OpenID scopes in `scope`. The claim is a
//!   top-level name holding colons, given whole.
//! - **Client.** `client_id`, the service user's client id.
//! - Not checked against a live instance: whether `azp` is also set and whether the header
//!   carries `typ: JWT` (the default policy accepts either). Older versions wrote `scope` as
//!   an array; both forms are read.
//!
//! Sources: <https://zitadel.com/docs/apis/openidoauth/claims> and
//! <https://zitadel.com/docs/apis/openidoauth/scopes> (read for this recipe),
//! <https://zitadel.com/docs/guides/integrate/service-users/client-credentials>.
