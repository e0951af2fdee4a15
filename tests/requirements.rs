//! Requirements beyond one scope list, end to end: nested any-of/all-of scopes, claim
//! predicates on the guard and on routes, mapped role claims, the caller's identity and typed
//! claims in handlers. Every token is sent three times (cold, when it enters the verified-token
//! cache, and from it), and the three answers must be the same.
//!
//! Rules: K.59 (mapped and prefixed roles), K.62 (the caller: `client_id`, `azp`, `cid`,
//! `appid`, `sub`), K.63 (fractional NumericDates).
#![cfg(feature = "axum")]

mod common;

use axum::Router;
use axum::routing::get;
use bearer_guard::{
    ClaimPath, ClaimPredicate, Claims, ErrorKind, GuardLayer, Issuer, RequireScopeLayer,
    ScopeClaim, ScopeRequirement, Validator,
};
use common::logs::CapturedLogs;
use common::*;
use serde_json::{Value, json};

const FORBIDDEN_CLAIM: &str = r#"Bearer realm="api", error="insufficient_scope", error_description="The access token is not allowed on this resource""#;

fn insufficient(scope: &str) -> String {
    format!(
        r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="{scope}""#
    )
}

/// The validator of these tests: Keycloak-style realm roles, prefixed, join the scopes.
fn mapped_validator(issuer: &str) -> Validator {
    Validator::builder()
        .issuer(Issuer::new(issuer).audience(AUDIENCE).scope_claim(
            ScopeClaim::values(ClaimPath::dotted("realm_access.roles")).prefix("role:"),
        ))
        .build()
        .expect("validator builds")
}

async fn ok() -> &'static str {
    "ok"
}

fn route(path: &str, layer: RequireScopeLayer) -> Router {
    Router::new().route(path, get(ok)).route_layer(layer)
}

fn routes() -> Router {
    let orders =
        ScopeRequirement::all(["orders:read", "tenant:acme"]).or(ScopeRequirement::all(["admin"]));
    Router::new()
        .route("/open", get(ok))
        .merge(route("/orders", RequireScopeLayer::new(orders)))
        .merge(route(
            "/acme",
            RequireScopeLayer::claim(ClaimPredicate::equals("tenant", "acme")).unwrap(),
        ))
        .merge(route(
            "/acme-read",
            RequireScopeLayer::all(["read"])
                .require_claim(ClaimPredicate::equals("tenant", "acme"))
                .unwrap(),
        ))
        .merge(route(
            "/jobs",
            RequireScopeLayer::claim(ClaimPredicate::one_of("azp", ["billing", "reporting"]))
                .unwrap(),
        ))
        .merge(route("/role-admin", RequireScopeLayer::all(["role:admin"])))
        .merge(route("/admin", RequireScopeLayer::all(["admin"])))
}

struct Row {
    name: &'static str,
    guard_wide: bool,
    path: &'static str,
    claims: Value,
    status: u16,
    challenge: Option<String>,
    kind: Option<ErrorKind>,
}

fn row(name: &'static str, path: &'static str, claims: Value, status: u16) -> Row {
    Row {
        name,
        guard_wide: false,
        path,
        claims,
        status,
        challenge: None,
        kind: None,
    }
}

impl Row {
    fn refused(mut self, challenge: impl Into<String>, kind: ErrorKind) -> Self {
        self.challenge = Some(challenge.into());
        self.kind = Some(kind);
        self
    }

    fn on_guard_wide(mut self) -> Self {
        self.guard_wide = true;
        self
    }
}

#[tokio::test]
async fn nested_requirements_and_claim_predicates_decide_the_same_cold_and_cached() {
    let idp = IdpServer::start().await;
    let plain = routes().route_layer(GuardLayer::new(mapped_validator(&idp.issuer)));
    let guard_wide = routes().route_layer(
        GuardLayer::new(mapped_validator(&idp.issuer))
            .require_claim(ClaimPredicate::equals("tenant", "acme"))
            .unwrap()
            .require(ScopeRequirement::any(["read", "admin"])),
    );
    let rows = [
        // (orders:read AND tenant:acme) OR admin
        row(
            "both scopes of the first alternative",
            "/orders",
            json!({"scope": "orders:read tenant:acme"}),
            200,
        ),
        row(
            "the second alternative",
            "/orders",
            json!({"scope": "admin"}),
            200,
        ),
        row(
            "half of the first: it is named whole",
            "/orders",
            json!({"scope": "orders:read"}),
            403,
        )
        .refused(
            insufficient("orders:read tenant:acme"),
            ErrorKind::InsufficientScope,
        ),
        row(
            "no scope: the closest alternative, admin",
            "/orders",
            json!({"scope": "other"}),
            403,
        )
        .refused(insufficient("admin"), ErrorKind::InsufficientScope),
        // Claim predicates on routes.
        row("tenant acme", "/acme", json!({"tenant": "acme"}), 200),
        row("another tenant", "/acme", json!({"tenant": "globex"}), 403)
            .refused(FORBIDDEN_CLAIM, ErrorKind::ForbiddenClaim),
        row(
            "tenant of another case",
            "/acme",
            json!({"tenant": "ACME"}),
            403,
        )
        .refused(FORBIDDEN_CLAIM, ErrorKind::ForbiddenClaim),
        row("no tenant", "/acme", json!({}), 403)
            .refused(FORBIDDEN_CLAIM, ErrorKind::ForbiddenClaim),
        row(
            "tenant as an array",
            "/acme",
            json!({"tenant": ["acme"]}),
            403,
        )
        .refused(FORBIDDEN_CLAIM, ErrorKind::ForbiddenClaim),
        row(
            "predicate before scopes: no scope= for the wrong tenant",
            "/acme-read",
            json!({"tenant": "globex", "scope": "write"}),
            403,
        )
        .refused(FORBIDDEN_CLAIM, ErrorKind::ForbiddenClaim),
        row(
            "right tenant, scope missing",
            "/acme-read",
            json!({"tenant": "acme", "scope": "write"}),
            403,
        )
        .refused(insufficient("read"), ErrorKind::InsufficientScope),
        row(
            "right tenant and scope",
            "/acme-read",
            json!({"tenant": "acme"}),
            200,
        ),
        row("azp on the list", "/jobs", json!({"azp": "reporting"}), 200),
        row("azp off the list", "/jobs", json!({"azp": "web"}), 403)
            .refused(FORBIDDEN_CLAIM, ErrorKind::ForbiddenClaim),
        // Mapped roles, prefixed: a role and a scope of the same name stay apart.
        row(
            "realm role admin",
            "/role-admin",
            json!({"realm_access": {"roles": ["admin"]}}),
            200,
        ),
        row(
            "the scope admin is not the role",
            "/role-admin",
            json!({"scope": "admin"}),
            403,
        )
        .refused(insufficient("role:admin"), ErrorKind::InsufficientScope),
        row(
            "the role admin is not the scope",
            "/admin",
            json!({"realm_access": {"roles": ["admin"]}}),
            403,
        )
        .refused(insufficient("admin"), ErrorKind::InsufficientScope),
        row(
            "roles of the wrong shape grant nothing, the token stays valid",
            "/role-admin",
            json!({"realm_access": {"roles": {"admin": true}}}),
            403,
        )
        .refused(insufficient("role:admin"), ErrorKind::InsufficientScope),
        row(
            "roles of the wrong shape do not spoil a route without scopes",
            "/open",
            json!({"realm_access": "admin"}),
            200,
        ),
        // Guard-wide: tenant acme, and read or admin, on every route.
        row(
            "guard-wide: all met",
            "/open",
            json!({"tenant": "acme"}),
            200,
        )
        .on_guard_wide(),
        row(
            "guard-wide: wrong tenant",
            "/open",
            json!({"tenant": "globex"}),
            403,
        )
        .refused(FORBIDDEN_CLAIM, ErrorKind::ForbiddenClaim)
        .on_guard_wide(),
        row(
            "guard-wide: wrong tenant and no scope, the claim is told",
            "/open",
            json!({"tenant": "globex", "scope": "x"}),
            403,
        )
        .refused(FORBIDDEN_CLAIM, ErrorKind::ForbiddenClaim)
        .on_guard_wide(),
        row(
            "guard-wide: right tenant, no scope",
            "/open",
            json!({"tenant": "acme", "scope": "x"}),
            403,
        )
        .refused(insufficient("read"), ErrorKind::InsufficientScope)
        .on_guard_wide(),
        row(
            "guard-wide met, then the route's own claim",
            "/jobs",
            json!({"tenant": "acme", "azp": "web"}),
            403,
        )
        .refused(FORBIDDEN_CLAIM, ErrorKind::ForbiddenClaim)
        .on_guard_wide(),
        row(
            "guard-wide and route met",
            "/jobs",
            json!({"tenant": "acme", "azp": "billing"}),
            200,
        )
        .on_guard_wide(),
    ];
    let mut failures = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let app = if row.guard_wide { &guard_wide } else { &plain };
        let mut claims = row.claims.clone();
        merge(&mut claims, json!({"jti": format!("row-{index}")}));
        let token = rs_token(&idp.issuer, claims);
        for pass in ["cold", "second", "cached"] {
            let reply = send(app, request(row.path, &[&bearer(&token)])).await;
            let got = (
                reply.status.as_u16(),
                reply.www_authenticate.clone(),
                reply.kind,
            );
            let want = (row.status, row.challenge.clone(), row.kind);
            if got != want {
                failures.push(format!("{} ({pass}): got {got:?}, want {want:?}", row.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn an_optional_guard_with_a_claim_requirement_needs_a_token() {
    let idp = IdpServer::start().await;
    let app = routes().route_layer(
        GuardLayer::new(mapped_validator(&idp.issuer))
            .optional()
            .require_claim(ClaimPredicate::equals("tenant", "acme"))
            .unwrap(),
    );
    let reply = send(&app, request("/open", &[])).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.www_authenticate.as_deref(),
        Some(r#"Bearer realm="api""#)
    );
    // A route predicate on an anonymous request through a plain optional guard: 401 too.
    let lenient = routes().route_layer(GuardLayer::new(mapped_validator(&idp.issuer)).optional());
    assert_eq!(send(&lenient, request("/open", &[])).await.status, 200);
    assert_eq!(send(&lenient, request("/acme", &[])).await.status, 401);
}

#[test]
fn claim_requirements_that_no_token_could_meet_are_refused_when_built() {
    let idp_free = || {
        Validator::builder()
            .issuer(Issuer::new("https://idp.example").audience("a").jwks(r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#))
            .build()
            .unwrap()
    };
    let empty = ClaimPredicate::one_of("azp", Vec::<String>::new());
    let error = GuardLayer::new(idp_free())
        .require_claim(empty.clone())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "require_claim: the list of values allowed for `azp` is empty"
    );
    assert!(RequireScopeLayer::claim(empty).is_err());
    let error = RequireScopeLayer::all(["read"])
        .require_claim(ClaimPredicate::equals(ClaimPath::dotted("ext..tier"), 1))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"require_claim: the claim path `ext."".tier` is empty or has an empty segment"#
    );
    let error = Validator::builder()
        .issuer(Issuer::new("https://idp.example").audience("a"))
        .scope_claim(ScopeClaim::values("roles").prefix("my role:"))
        .build()
        .unwrap_err();
    assert_eq!(error.to_string(), "`my role:` is not a valid scope token");
    let error = Validator::builder()
        .issuer(
            Issuer::new("https://idp.example")
                .audience("a")
                .require_claim(ClaimPredicate::equals("", "x")),
        )
        .build()
        .unwrap_err();
    assert!(error.to_string().starts_with("require_claim:"), "{error}");
}

#[derive(serde::Deserialize)]
struct Tenant {
    tenant: String,
}

#[tokio::test]
async fn the_caller_and_typed_claims_reach_the_handler() {
    let idp = IdpServer::start().await;
    let app = Router::new()
        .route(
            "/who",
            get(|claims: Claims| async move {
                let tenant = claims.extra_as::<Tenant>().map(|t| t.tenant);
                format!(
                    "{}|{}|{}",
                    claims.client().unwrap_or("-"),
                    tenant.unwrap_or_else(|e| format!("error: {e}")),
                    claims.json()["ver"],
                )
            }),
        )
        .route_layer(GuardLayer::new(mapped_validator(&idp.issuer)));
    let no_client_id = json!({"client_id": null, "tenant": "acme", "ver": 1});
    for (changes, body) in [
        (json!({"tenant": "acme", "ver": 1}), "client-1|acme|1"),
        (json!({"azp": "kc-client"}), "kc-client|"),
        (json!({"cid": "okta-client"}), "okta-client|"),
        (json!({"appid": "entra-v1-app"}), "entra-v1-app|"),
        (
            json!({"sub": "auth0-client@clients"}),
            "auth0-client@clients|",
        ),
    ] {
        let mut claims = no_client_id.clone();
        merge(&mut claims, changes);
        let token = rs_token(&idp.issuer, claims);
        for _ in 0..3 {
            let reply = send(&app, request("/who", &[&bearer(&token)])).await;
            assert_eq!(reply.status, 200, "{reply:?}");
            assert!(reply.body.starts_with(body), "{} vs {body}", reply.body);
        }
    }
    // A tenant of the wrong type: `extra_as` says so; the token itself stays valid.
    let token = rs_token(&idp.issuer, json!({"tenant": 5, "ver": 1}));
    let reply = send(&app, request("/who", &[&bearer(&token)])).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.starts_with("client-1|error: invalid type"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn non_integer_times_are_accepted() {
    let idp = IdpServer::start().await;
    let app = app(mapped_validator(&idp.issuer));
    let now = now() as f64;
    let token = rs_token(
        &idp.issuer,
        json!({"exp": now + 300.75, "iat": now - 0.5, "nbf": now - 1.25}),
    );
    for _ in 0..3 {
        assert_eq!(
            send(&app, request("/read", &[&bearer(&token)]))
                .await
                .status,
            200
        );
    }
    let expired = rs_token(&idp.issuer, json!({"exp": now - 120.5}));
    let reply = send(&app, request("/read", &[&bearer(&expired)])).await;
    assert_eq!(reply.kind, Some(ErrorKind::Expired));
}

#[tokio::test]
async fn a_claims_extractor_of_another_type_is_a_logged_500_not_an_anonymous_request() {
    let logs = CapturedLogs::global();
    let idp = IdpServer::start().await;
    let typed = Validator::builder()
        .issuer(Issuer::new(&idp.issuer).audience(AUDIENCE))
        .extra_claims::<Tenant>()
        .build()
        .unwrap();
    let app = Router::new()
        .route("/default", get(|_: Claims| async { "never" }))
        .route(
            "/optional",
            get(|claims: Option<Claims>| async move { format!("{}", claims.is_some()) }),
        )
        .route(
            "/typed",
            get(|claims: Claims<Tenant>| async move {
                let json = claims.extra_as::<bearer_guard::JsonClaims>().unwrap();
                format!("{}|{}", claims.extra().tenant, json["tenant"])
            }),
        )
        .route_layer(GuardLayer::new(typed));
    let token = rs_token(&idp.issuer, json!({"tenant": "acme"}));
    for path in ["/default", "/optional"] {
        for _ in 0..3 {
            let reply = send(&app, request(path, &[&bearer(&token)])).await;
            assert_eq!(reply.status, 500, "{path}: {reply:?}");
            assert_eq!(reply.kind, Some(ErrorKind::ClaimsTypeMismatch), "{path}");
            assert_eq!(reply.body, ErrorKind::ClaimsTypeMismatch.description());
            assert!(
                !reply.body.contains("Tenant"),
                "no type names to the client"
            );
        }
    }
    let reply = send(&app, request("/typed", &[&bearer(&token)])).await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (200, r#"acme|"acme""#)
    );
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.starts_with("ERROR") && l.contains("another type than the guard validates"))
        .unwrap_or_else(|| panic!("no error line in:\n{text}"));
    assert!(line.contains("requirements::Tenant>"), "{line}");
    assert!(line.contains(r#"extractor="bearer_guard::"#), "{line}");
    // A token without the typed claim does not fit the guard's type: refused at validation.
    let untyped = rs_token(&idp.issuer, json!({}));
    let reply = send(&app, request("/typed", &[&bearer(&untyped)])).await;
    assert_eq!(reply.kind, Some(ErrorKind::InvalidClaim));
}
