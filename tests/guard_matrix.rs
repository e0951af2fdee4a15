//! End-to-end matrix of the guard (standards.md sections A–F): every row is a request through a
//! real axum app whose validator discovers its keys from a real identity-provider server on
//! loopback, with the exact status, `WWW-Authenticate` and rejection kind expected.
#![cfg(feature = "axum")]

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Write as _;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response, header};
use bearer_guard::{
    Algorithm, AuthError, Claims, ConfigError, ErrorKind, GuardLayer, Issuer, Rejection,
    ScopeRequirement, TypPolicy, Validator,
};
use common::*;
use jsonwebtoken::EncodingKey;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Expected challenges, written out (not taken from the crate)
// ---------------------------------------------------------------------------------------------

const REALM_ONLY: &str = r#"Bearer realm="api""#;
const INVALID_REQUEST: &str = r#"Bearer realm="api", error="invalid_request", error_description="The request carries a malformed bearer credential""#;
const CUSTOM_REALM: &str = r#"custom "realm""#;
const CUSTOM_REALM_QUOTED: &str = r#"custom \"realm\""#;

const D_INVALID: &str = "The access token is invalid";
const D_EXPIRED: &str = "The access token expired";
const D_NOT_YET: &str = "The access token is not yet valid";
const D_AUDIENCE: &str = "The access token is not meant for this resource";
const D_ISSUER: &str = "The access token comes from an untrusted issuer";
const D_TOO_LARGE: &str = "The access token is too large";

fn invalid_token_in(realm: &str, description: &str) -> String {
    format!(r#"Bearer realm="{realm}", error="invalid_token", error_description="{description}""#)
}

fn insufficient_scope_in(realm: &str, scope: &str) -> String {
    format!(
        r#"Bearer realm="{realm}", error="insufficient_scope", error_description="The access token lacks the required scope", scope="{scope}""#
    )
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/// Which app a row is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    /// Default validator, discovery from the IdP server.
    Main,
    /// `TypPolicy::Rfc9068`.
    Strict,
    /// `scope_claim("roles")`.
    Roles,
    /// `GuardLayer::optional()`.
    Optional,
    /// Custom realm and `on_rejection` handler.
    Custom,
    /// Issuer on a closed loopback port.
    Down,
    /// Static JWKS (`Issuer::jwks`) for `https://idp.example` holding rsa-1 and rsa-1024.
    Static,
    /// `GuardLayer::require(all ["read"])` on every route.
    Required,
}

struct Case {
    name: String,
    target: Target,
    path: String,
    authorization: Vec<String>,
    status: u16,
    challenge: Option<String>,
    kind: Option<ErrorKind>,
    body: Option<String>,
    /// Extra requests to `/jwks` this row causes.
    jwks_fetches: usize,
    retry_after: bool,
}

fn case(name: impl Into<String>, path: &str, authorization: &[&str]) -> Case {
    Case {
        name: name.into(),
        target: Target::Main,
        path: path.to_owned(),
        authorization: authorization.iter().map(|a| (*a).to_owned()).collect(),
        status: 200,
        challenge: None,
        kind: None,
        body: Some("ok".into()),
        jwks_fetches: 0,
        retry_after: false,
    }
}

fn bearer_case(name: impl Into<String>, path: &str, token: &str) -> Case {
    case(name, path, &[&bearer(token)])
}

impl Case {
    fn on(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    fn reject(mut self, status: u16, challenge: Option<String>, kind: ErrorKind) -> Self {
        self.status = status;
        self.challenge = challenge;
        self.kind = Some(kind);
        self.body = Some(String::new());
        self
    }

    fn missing(self) -> Self {
        self.reject(401, Some(REALM_ONLY.into()), ErrorKind::MissingCredentials)
    }

    fn bad_request(self) -> Self {
        self.reject(400, Some(INVALID_REQUEST.into()), ErrorKind::InvalidRequest)
    }

    fn invalid(self, kind: ErrorKind, description: &str) -> Self {
        self.reject(401, Some(invalid_token_in("api", description)), kind)
    }

    fn forbidden(self, scope: &str) -> Self {
        self.reject(
            403,
            Some(insufficient_scope_in("api", scope)),
            ErrorKind::InsufficientScope,
        )
    }

    fn unavailable(mut self) -> Self {
        self = self.reject(503, None, ErrorKind::KeysUnavailable);
        self.retry_after = true;
        self
    }

    fn challenge(mut self, challenge: String) -> Self {
        self.challenge = Some(challenge);
        self
    }

    fn fetches(mut self, n: usize) -> Self {
        self.jwks_fetches = n;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// The world the table runs in
// ---------------------------------------------------------------------------------------------

struct World {
    server: IdpServer,
    iss: String,
    down_iss: String,
    apps: HashMap<Target, Router>,
}

/// The JWKS the IdP serves for the matrix: the fixture set plus rsa2048 again as `rsa-ps`
/// (alg PS256) and `rsa-any` (no alg), and the unusable RSA-1024 key.
fn matrix_jwks() -> Value {
    let mut jwks = fixture_jwks();
    let keys = jwks["keys"].as_array_mut().expect("keys");
    keys.push(Key::Rsa2048.jwk_with("rsa-ps", Some(Algorithm::PS256)));
    keys.push(Key::Rsa2048.jwk_with("rsa-any", None));
    keys.push(Key::Rsa1024.jwk());
    jwks
}

fn custom_rejection(rejection: Rejection) -> Response<Body> {
    let mut response = rejection.to_response::<Body>();
    *response.body_mut() = Body::from(format!("rejected: {}", rejection.kind()));
    response
        .headers_mut()
        .insert("x-custom", HeaderValue::from_static("1"));
    response
}

impl World {
    async fn new() -> Self {
        let server = IdpServer::start_with_jwks(&matrix_jwks()).await;
        let iss = server.issuer.clone();
        let down_iss = format!("http://{}", closed_loopback_addr());
        let build = |issuer: Issuer| {
            Validator::builder()
                .issuer(issuer.audience(AUDIENCE))
                .build()
                .expect("validator builds")
        };
        let roles = Validator::builder()
            .issuer(Issuer::new(&iss).audience(AUDIENCE))
            .scope_claim("roles")
            .build()
            .expect("validator builds");
        let static_jwks = json!({ "keys": [Key::Rsa2048.jwk(), Key::Rsa1024.jwk()] });
        let mut apps = HashMap::new();
        apps.insert(Target::Main, app(validator(&iss)));
        apps.insert(
            Target::Strict,
            app(build(Issuer::new(&iss).typ_policy(TypPolicy::Rfc9068))),
        );
        apps.insert(Target::Roles, app(roles));
        apps.insert(
            Target::Optional,
            app_with(GuardLayer::new(validator(&iss)).optional()),
        );
        apps.insert(
            Target::Custom,
            app_with(
                GuardLayer::new(validator(&iss))
                    .realm(CUSTOM_REALM)
                    .expect("a realm that can be sent")
                    .on_rejection(custom_rejection),
            ),
        );
        apps.insert(Target::Down, app(validator(&down_iss)));
        apps.insert(
            Target::Required,
            app_with(GuardLayer::new(validator(&iss)).require(ScopeRequirement::all(["read"]))),
        );
        apps.insert(
            Target::Static,
            app(build(
                Issuer::new("https://idp.example").jwks(static_jwks.to_string()),
            )),
        );
        Self {
            server,
            iss,
            down_iss,
            apps,
        }
    }

    /// Loads the keys of every app that uses the IdP, so that rows count only their own fetches.
    async fn warm_up(&self) {
        for target in [
            Target::Main,
            Target::Strict,
            Target::Roles,
            Target::Optional,
            Target::Custom,
            Target::Required,
        ] {
            let token = mint(
                &header("RS256", "rsa-1"),
                &payload_with(&self.iss, json!({"jti": "warm-up"})),
                Key::Rsa2048,
                Algorithm::RS256,
            );
            let reply = send(&self.apps[&target], request("/read", &[&bearer(&token)])).await;
            assert_eq!(reply.status, 200, "warm-up of {target:?}: {reply:?}");
        }
        assert_eq!(
            self.server.discovery_hits(),
            6,
            "one discovery per validator"
        );
        assert_eq!(self.server.jwks_hits(), 6, "one JWKS fetch per validator");
    }

    /// Sends every row once. `pass` 0 is the cold run, whose JWKS fetches are counted; later
    /// passes send the very same tokens again, now answered from the verified-token cache
    /// (a token enters it on its second validation), and must get the same answers.
    async fn run(&self, cases: &[Case], pass: usize) -> Vec<String> {
        let mut failures = Vec::new();
        for case in cases {
            let jwks_before = self.server.jwks_hits();
            let authorization: Vec<&str> = case.authorization.iter().map(String::as_str).collect();
            let reply = send(
                &self.apps[&case.target],
                request(&case.path, &authorization),
            )
            .await;
            let jwks_delta = self.server.jwks_hits() - jwks_before;
            let mut problems = String::new();
            if reply.status.as_u16() != case.status {
                let _ = write!(problems, " status {} != {};", reply.status, case.status);
            }
            if reply.www_authenticate != case.challenge {
                let _ = write!(
                    problems,
                    " WWW-Authenticate {:?} != {:?};",
                    reply.www_authenticate, case.challenge
                );
            }
            if reply.kind != case.kind {
                let _ = write!(problems, " kind {:?} != {:?};", reply.kind, case.kind);
            }
            if let Some(body) = case.body.as_ref().filter(|b| **b != reply.body) {
                let _ = write!(problems, " body {:?} != {body:?};", reply.body);
            }
            if pass == 0 && jwks_delta != case.jwks_fetches {
                let _ = write!(
                    problems,
                    " JWKS fetches {jwks_delta} != {};",
                    case.jwks_fetches
                );
            }
            match (&reply.retry_after, case.retry_after) {
                (Some(s), true) => match s.parse::<u64>() {
                    Ok(1..=60) => {}
                    _ => {
                        let _ = write!(problems, " Retry-After {s:?} not 1..=60 s;");
                    }
                },
                (None, false) => {}
                (got, want) => {
                    let _ = write!(problems, " Retry-After {got:?}, wanted: {want};");
                }
            }
            if self.server.other_hits() != 0 {
                let _ = write!(
                    problems,
                    " {} request(s) reached a URL taken from a token;",
                    self.server.other_hits()
                );
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "pass {pass} [{:?}] {}:{problems}",
                    case.target, case.name
                ));
            }
        }
        failures
    }
}

// ---------------------------------------------------------------------------------------------
// The rows
// ---------------------------------------------------------------------------------------------

fn cases(w: &World) -> Vec<Case> {
    let iss = w.iss.as_str();
    let rs = |payload: &Value| {
        mint(
            &header("RS256", "rsa-1"),
            payload,
            Key::Rsa2048,
            Algorithm::RS256,
        )
    };
    let claims = |changes: Value| rs(&payload_with(iss, changes));
    let with_header = |changes: Value| {
        let mut h = header("RS256", "rsa-1");
        merge(&mut h, changes);
        mint(&h, &payload(iss), Key::Rsa2048, Algorithm::RS256)
    };
    let scoped = |changes: Value| {
        let mut p = payload_with(iss, json!({"scope": null}));
        merge(&mut p, changes);
        rs(&p)
    };
    let valid = rs(&payload(iss));
    let mut rows = Vec::new();

    // --- Valid tokens of every default algorithm (§C.15) ---------------------------------------
    for (alg, kid, key) in [
        (Algorithm::RS256, "rsa-1", Key::Rsa2048),
        (Algorithm::RS384, "rsa-any", Key::Rsa2048),
        (Algorithm::RS512, "rsa-any", Key::Rsa2048),
        (Algorithm::PS256, "rsa-ps", Key::Rsa2048),
        (Algorithm::PS256, "rsa-any", Key::Rsa2048),
        (Algorithm::PS384, "rsa-any", Key::Rsa2048),
        (Algorithm::PS512, "rsa-any", Key::Rsa2048),
        (Algorithm::ES256, "ec-p256-1", Key::EcP256),
        (Algorithm::ES384, "ec-p384-1", Key::EcP384),
        (Algorithm::EdDSA, "ed-1", Key::Ed25519),
    ] {
        let name = alg_name(alg);
        let t = mint(&header(name, kid), &payload(iss), key, alg);
        rows.push(bearer_case(format!("valid {name} kid {kid}"), "/read", &t));
    }
    let no_kid = mint(
        &json!({"alg": "ES256", "typ": "at+jwt"}),
        &payload(iss),
        Key::EcP256,
        Algorithm::ES256,
    );
    rows.push(bearer_case("valid ES256 without kid", "/read", &no_kid));

    // --- Getting the credential (§A) -----------------------------------------------------------
    rows.push(case("no Authorization header", "/read", &[]).missing());
    rows.push(case("Basic scheme", "/read", &["Basic dXNlcjpwYXNz"]).missing());
    rows.push(case("Bearerx scheme", "/read", &[&format!("Bearerx {valid}")]).missing());
    rows.push(case("Bearer without token", "/read", &["Bearer"]).bad_request());
    rows.push(case("Bearer and a space", "/read", &["Bearer "]).bad_request());
    rows.push(case("Bearer a b", "/read", &["Bearer a b"]).bad_request());
    rows.push(case("Bearer a\"b", "/read", &["Bearer a\"b"]).bad_request());
    rows.push(case("Bearer a,b", "/read", &["Bearer a,b"]).bad_request());
    rows.push(case(
        "lowercase bearer",
        "/read",
        &[&format!("bearer {valid}")],
    ));
    rows.push(case(
        "uppercase BEARER",
        "/read",
        &[&format!("BEARER {valid}")],
    ));
    rows.push(case(
        "several spaces",
        "/read",
        &[&format!("Bearer    {valid}")],
    ));
    rows.push(
        case(
            "two Authorization headers",
            "/read",
            &[&bearer(&valid), &bearer(&valid)],
        )
        .bad_request(),
    );
    rows.push(
        case(
            "Bearer and Basic headers",
            "/read",
            &[&bearer(&valid), "Basic dXNlcjpwYXNz"],
        )
        .bad_request(),
    );
    rows.push(
        case(
            "query access_token",
            &format!("/read?access_token={valid}"),
            &[],
        )
        .bad_request(),
    );
    rows.push(
        case(
            "query access_token and header",
            &format!("/read?x=1&access_token={valid}"),
            &[&bearer(&valid)],
        )
        .bad_request(),
    );
    rows.push(case(
        "other query parameter",
        &format!("/read?my_access_token={valid}"),
        &[&bearer(&valid)],
    ));

    // --- Algorithm `none` in every spelling, three shapes (§C.15) -------------------------------
    for spelling in ["none", "None", "NONE", "nOnE"] {
        let h = json!({"alg": spelling, "typ": "at+jwt"});
        let input = signing_input(&h, &payload(iss));
        let signature = b64(sign_raw(
            input.as_bytes(),
            &Key::Rsa2048.encoding_key(),
            Algorithm::RS256,
        ));
        rows.push(
            bearer_case(
                format!("alg {spelling}, empty signature"),
                "/read",
                &format!("{input}."),
            )
            .invalid(ErrorKind::AlgorithmNotAllowed, D_INVALID),
        );
        rows.push(
            bearer_case(
                format!("alg {spelling}, no signature segment"),
                "/read",
                &input,
            )
            .invalid(ErrorKind::Malformed, D_INVALID),
        );
        rows.push(
            bearer_case(
                format!("alg {spelling}, with a signature"),
                "/read",
                &format!("{input}.{signature}"),
            )
            .invalid(ErrorKind::AlgorithmNotAllowed, D_INVALID),
        );
    }

    // --- Algorithm confusion and key/alg binding (§C.15, §C.16) ---------------------------------
    let public_jwk_text = Key::Rsa2048.jwk().to_string();
    let modulus = Key::Rsa2048.jwk()["n"].as_str().unwrap().to_owned();
    for (what, secret) in [
        ("public PEM", Key::Rsa2048.public_pem()),
        ("public JWK JSON", public_jwk_text.into_bytes()),
        ("modulus text", modulus.into_bytes()),
    ] {
        for (alg, name) in [(Algorithm::HS256, "HS256"), (Algorithm::HS512, "HS512")] {
            let t = mint_with(
                &header(name, "rsa-1"),
                &payload(iss),
                &EncodingKey::from_secret(&secret),
                alg,
            );
            rows.push(
                bearer_case(format!("{name} with the RSA {what} as secret"), "/read", &t)
                    .invalid(ErrorKind::AlgorithmNotAllowed, D_INVALID),
            );
        }
    }
    let t = mint(
        &header("RS256", "ec-p256-1"),
        &payload(iss),
        Key::Rsa2048,
        Algorithm::RS256,
    );
    rows.push(
        bearer_case("RS256 with the EC key's kid", "/read", &t)
            .invalid(ErrorKind::UnknownKey, D_INVALID),
    );
    let t = mint(
        &header("PS256", "rsa-1"),
        &payload(iss),
        Key::Rsa2048,
        Algorithm::PS256,
    );
    rows.push(
        bearer_case("PS256 on a JWK with alg RS256", "/read", &t)
            .invalid(ErrorKind::UnknownKey, D_INVALID),
    );
    let t = mint(
        &header("RS256", "rsa-ps"),
        &payload(iss),
        Key::Rsa2048,
        Algorithm::RS256,
    );
    rows.push(
        bearer_case("RS256 on a JWK with alg PS256", "/read", &t)
            .invalid(ErrorKind::UnknownKey, D_INVALID),
    );
    let t = mint(
        &header("ES384", "ec-p256-1"),
        &payload(iss),
        Key::EcP384,
        Algorithm::ES384,
    );
    rows.push(
        bearer_case("ES384 on the P-256 key", "/read", &t)
            .invalid(ErrorKind::UnknownKey, D_INVALID),
    );
    let t = mint(
        &header("EdDSA", "rsa-1"),
        &payload(iss),
        Key::Ed25519,
        Algorithm::EdDSA,
    );
    rows.push(
        bearer_case("EdDSA on the RSA key", "/read", &t).invalid(ErrorKind::UnknownKey, D_INVALID),
    );
    let t = mint(
        &header("ES256", "ec-p256-1"),
        &payload(iss),
        Key::Attacker,
        Algorithm::ES256,
    );
    rows.push(
        bearer_case("ES256 signed by another P-256 key", "/read", &t)
            .invalid(ErrorKind::InvalidSignature, D_INVALID),
    );
    let mut forged = valid.split('.').map(str::to_owned).collect::<Vec<_>>();
    forged[1] = b64_json(&payload_with(iss, json!({"scope": "admin"})));
    rows.push(
        bearer_case("payload swapped after signing", "/admin", &forged.join("."))
            .invalid(ErrorKind::InvalidSignature, D_INVALID),
    );

    // --- ECDSA signature encoding (§C.17) -------------------------------------------------------
    let input = signing_input(&header("ES256", "ec-p256-1"), &payload(iss));
    let raw = sign_raw(
        input.as_bytes(),
        &Key::EcP256.encoding_key(),
        Algorithm::ES256,
    );
    assert_eq!(
        raw.len(),
        64,
        "ES256 signatures from jsonwebtoken are raw R‖S"
    );
    rows.push(bearer_case(
        "ES256 raw R‖S (control)",
        "/read",
        &format!("{input}.{}", b64(&raw)),
    ));
    rows.push(
        bearer_case(
            "ES256 DER-encoded signature",
            "/read",
            &format!("{input}.{}", b64(ecdsa_raw_to_der(&raw))),
        )
        .invalid(ErrorKind::InvalidSignature, D_INVALID),
    );

    // --- Key selection and refresh (§F.33, §F.34); order matters: the first unknown kid
    //     refreshes once, the next ones fall in the 30 s cooldown ---------------------------------
    let t = mint(
        &header("RS256", "no-such-kid"),
        &payload(iss),
        Key::Rsa2048,
        Algorithm::RS256,
    );
    rows.push(
        bearer_case("unknown kid: one refresh", "/read", &t)
            .invalid(ErrorKind::UnknownKey, D_INVALID)
            .fetches(1),
    );
    let t = mint(
        &header("RS256", "other-unknown"),
        &payload(iss),
        Key::Rsa2048,
        Algorithm::RS256,
    );
    rows.push(
        bearer_case("second unknown kid: cooldown, no refresh", "/read", &t)
            .invalid(ErrorKind::UnknownKey, D_INVALID),
    );
    let t = mint(
        &header("RS256", "RSA-1"),
        &payload(iss),
        Key::Rsa2048,
        Algorithm::RS256,
    );
    rows.push(
        bearer_case("kid compared case-sensitively", "/read", &t)
            .invalid(ErrorKind::UnknownKey, D_INVALID),
    );
    let t = mint(
        &header("RS256", "rsa-1 "),
        &payload(iss),
        Key::Rsa2048,
        Algorithm::RS256,
    );
    rows.push(
        bearer_case("kid compared exactly (trailing space)", "/read", &t)
            .invalid(ErrorKind::UnknownKey, D_INVALID),
    );
    let long_kid = "k".repeat(300);
    let t = mint(
        &header("RS256", &long_kid),
        &payload(iss),
        Key::Rsa2048,
        Algorithm::RS256,
    );
    rows.push(
        bearer_case("kid of 300 bytes", "/read", &t).invalid(ErrorKind::Malformed, D_INVALID),
    );
    // aws-lc cannot sign with RSA-1024: the signature is a placeholder of the right length. The
    // point is the kind: a skipped key is no candidate (UnknownKey), not a failed verification.
    let input = signing_input(&header("RS256", "rsa-1024"), &payload(iss));
    rows.push(
        bearer_case(
            "kid of the skipped RSA-1024 key",
            "/read",
            &format!("{input}.{}", b64([7u8; 128])),
        )
        .invalid(ErrorKind::UnknownKey, D_INVALID),
    );

    // --- Keys only from the issuer: jku, x5u, jwk, x5c ignored (§C.19) -------------------------
    let attacker_jwk = Key::Attacker.jwk_with("attacker", Some(Algorithm::ES256));
    let url_headers = json!({
        "jku": w.server.url("/attacker/jwks.json"),
        "x5u": w.server.url("/attacker/cert.pem"),
    });
    rows.push(bearer_case(
        "valid token with jku and x5u",
        "/read",
        &with_header(url_headers.clone()),
    ));
    let mut h = header("ES256", "ec-p256-1");
    merge(&mut h, url_headers.clone());
    merge(&mut h, json!({"jwk": attacker_jwk, "x5c": ["MIIBfake"]}));
    let t = mint(&h, &payload(iss), Key::Attacker, Algorithm::ES256);
    rows.push(
        bearer_case("attacker key via jku/x5u/jwk/x5c, our kid", "/read", &t)
            .invalid(ErrorKind::InvalidSignature, D_INVALID),
    );
    let mut h = json!({"alg": "ES256", "typ": "at+jwt"});
    merge(&mut h, url_headers);
    merge(
        &mut h,
        json!({"jwk": Key::Attacker.jwk_with("attacker", Some(Algorithm::ES256))}),
    );
    let t = mint(&h, &payload(iss), Key::Attacker, Algorithm::ES256);
    rows.push(
        bearer_case("attacker key via jku/x5u/jwk, no kid", "/read", &t)
            .invalid(ErrorKind::InvalidSignature, D_INVALID),
    );

    // --- Shape of the JWS (§C.13, §C.14, §C.21) ------------------------------------------------
    let parts: Vec<&str> = valid.split('.').collect();
    rows.push(
        bearer_case(
            "two segments",
            "/read",
            &format!("{}.{}", parts[0], parts[1]),
        )
        .invalid(ErrorKind::Malformed, D_INVALID),
    );
    rows.push(
        bearer_case("four segments", "/read", &format!("{valid}.{}", parts[2]))
            .invalid(ErrorKind::Malformed, D_INVALID),
    );
    let jwe_header = b64_json(&json!({"alg": "RSA-OAEP", "enc": "A256GCM"}));
    rows.push(
        bearer_case(
            "JWE, five segments",
            "/read",
            &format!("{jwe_header}.AAAA.AAAA.AAAA.AAAA"),
        )
        .invalid(ErrorKind::Malformed, D_INVALID),
    );
    rows.push(
        bearer_case("padding on the signature", "/read", &format!("{valid}="))
            .invalid(ErrorKind::Malformed, D_INVALID),
    );
    rows.push(
        case(
            "padding inside the token (not b64token)",
            "/read",
            &[&format!("Bearer {}=.{}.{}", parts[0], parts[1], parts[2])],
        )
        .bad_request(),
    );
    rows.push(
        bearer_case(
            "standard base64 '+' in the header",
            "/read",
            &format!("{}+.{}.{}", parts[0], parts[1], parts[2]),
        )
        .invalid(ErrorKind::Malformed, D_INVALID),
    );
    let h64 = b64_json(&header("RS256", "rsa-1"));
    let signed = |h: &str, p: &str| {
        let input = format!("{h}.{p}");
        format!(
            "{input}.{}",
            b64(sign_raw(
                input.as_bytes(),
                &Key::Rsa2048.encoding_key(),
                Algorithm::RS256
            ))
        )
    };
    rows.push(
        bearer_case("payload not JSON", "/read", &signed(&h64, &b64("not json")))
            .invalid(ErrorKind::Malformed, D_INVALID),
    );
    rows.push(
        bearer_case(
            "payload a JSON array",
            "/read",
            &signed(&h64, &b64("[1,2]")),
        )
        .invalid(ErrorKind::Malformed, D_INVALID),
    );
    rows.push(
        bearer_case(
            "header a JSON array",
            "/read",
            &signed(&b64(r#"["RS256","rsa-1"]"#), parts[1]),
        )
        .invalid(ErrorKind::Malformed, D_INVALID),
    );
    rows.push(
        bearer_case(
            "header not UTF-8",
            "/read",
            &signed(&b64([0xff, 0xfe, 0x7b]), parts[1]),
        )
        .invalid(ErrorKind::Malformed, D_INVALID),
    );
    rows.push(
        bearer_case("garbage a.b.c", "/read", "a.b.c").invalid(ErrorKind::Malformed, D_INVALID),
    );
    let big = claims(json!({"pad": "x".repeat(9000)}));
    assert!(big.len() > 8 * 1024);
    rows.push(
        bearer_case("token over 8 KiB", "/read", &big)
            .invalid(ErrorKind::TokenTooLarge, D_TOO_LARGE),
    );

    // --- crit (§C.18) ---------------------------------------------------------------------------
    rows.push(
        bearer_case(
            "crit naming an unknown extension",
            "/read",
            &with_header(json!({"crit": ["exp"], "exp": 1})),
        )
        .invalid(ErrorKind::UnsupportedCriticalHeader, D_INVALID),
    );
    rows.push(
        bearer_case(
            "crit b64",
            "/read",
            &with_header(json!({"crit": ["b64"], "b64": false})),
        )
        .invalid(ErrorKind::UnsupportedCriticalHeader, D_INVALID),
    );
    rows.push(bearer_case(
        "unknown header member without crit",
        "/read",
        &with_header(json!({"x-vendor": 1})),
    ));

    // --- Claims (§D) ---------------------------------------------------------------------------
    let now = now();
    rows.push(
        bearer_case("expired", "/read", &claims(json!({"exp": now - 120})))
            .invalid(ErrorKind::Expired, D_EXPIRED),
    );
    rows.push(bearer_case(
        "expired within the leeway",
        "/read",
        &claims(json!({"exp": now - 10})),
    ));
    rows.push(
        bearer_case(
            "nbf in the future",
            "/read",
            &claims(json!({"nbf": now + 120})),
        )
        .invalid(ErrorKind::NotYetValid, D_NOT_YET),
    );
    rows.push(bearer_case(
        "nbf within the leeway",
        "/read",
        &claims(json!({"nbf": now + 10})),
    ));
    rows.push(
        bearer_case(
            "iat in the future",
            "/read",
            &claims(json!({"iat": now + 120})),
        )
        .invalid(ErrorKind::IssuedInFuture, D_INVALID),
    );
    rows.push(
        bearer_case("missing exp", "/read", &claims(json!({"exp": null})))
            .invalid(ErrorKind::InvalidClaim, D_INVALID),
    );
    rows.push(
        bearer_case(
            "exp as a string",
            "/read",
            &claims(json!({"exp": (now + 300).to_string()})),
        )
        .invalid(ErrorKind::InvalidClaim, D_INVALID),
    );
    rows.push(
        bearer_case("nbf as a string", "/read", &claims(json!({"nbf": "0"})))
            .invalid(ErrorKind::InvalidClaim, D_INVALID),
    );
    rows.push(bearer_case(
        "exp fractional",
        "/read",
        &claims(json!({"exp": now as f64 + 300.5})),
    ));
    rows.push(
        bearer_case(
            "iss with a trailing slash",
            "/read",
            &claims(json!({"iss": format!("{iss}/")})),
        )
        .invalid(ErrorKind::InvalidIssuer, D_ISSUER),
    );
    rows.push(
        bearer_case(
            "iss untrusted",
            "/read",
            &claims(json!({"iss": "https://evil.example"})),
        )
        .invalid(ErrorKind::InvalidIssuer, D_ISSUER),
    );
    rows.push(
        bearer_case("iss missing", "/read", &claims(json!({"iss": null})))
            .invalid(ErrorKind::InvalidIssuer, D_ISSUER),
    );
    rows.push(
        bearer_case(
            "wrong aud",
            "/read",
            &claims(json!({"aud": "https://other.test"})),
        )
        .invalid(ErrorKind::InvalidAudience, D_AUDIENCE),
    );
    rows.push(
        bearer_case(
            "aud with a trailing slash",
            "/read",
            &claims(json!({"aud": "https://api.test/"})),
        )
        .invalid(ErrorKind::InvalidAudience, D_AUDIENCE),
    );
    rows.push(
        bearer_case(
            "aud array without ours",
            "/read",
            &claims(json!({"aud": ["https://a.test", "https://b.test"]})),
        )
        .invalid(ErrorKind::InvalidAudience, D_AUDIENCE),
    );
    rows.push(bearer_case(
        "aud array with ours",
        "/read",
        &claims(json!({"aud": ["https://a.test", AUDIENCE]})),
    ));
    rows.push(
        bearer_case("aud missing", "/read", &claims(json!({"aud": null})))
            .invalid(ErrorKind::InvalidAudience, D_AUDIENCE),
    );

    // --- typ (§D.25) -----------------------------------------------------------------------------
    for typ in ["JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt"] {
        rows.push(bearer_case(
            format!("typ {typ}"),
            "/read",
            &with_header(json!({"typ": typ})),
        ));
    }
    rows.push(bearer_case(
        "typ absent",
        "/read",
        &with_header(json!({"typ": null})),
    ));
    for typ in ["id_token+jwt", "logout+jwt", "dpop+jwt", ""] {
        rows.push(
            bearer_case(
                format!("typ {typ:?}"),
                "/read",
                &with_header(json!({"typ": typ})),
            )
            .invalid(ErrorKind::InvalidType, D_INVALID),
        );
    }
    let strict = |h: Value, p: Value| mint(&h, &p, Key::Rsa2048, Algorithm::RS256);
    let full = payload_with(iss, json!({"jti": "j-1"}));
    rows.push(
        bearer_case(
            "strict: at+jwt with every claim",
            "/read",
            &strict(header("RS256", "rsa-1"), full.clone()),
        )
        .on(Target::Strict),
    );
    rows.push(
        bearer_case(
            "strict: application/at+jwt",
            "/read",
            &strict(
                json!({"alg": "RS256", "kid": "rsa-1", "typ": "application/at+jwt"}),
                full.clone(),
            ),
        )
        .on(Target::Strict),
    );
    rows.push(
        bearer_case(
            "strict: typ JWT",
            "/read",
            &strict(
                json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}),
                full.clone(),
            ),
        )
        .on(Target::Strict)
        .invalid(ErrorKind::InvalidType, D_INVALID),
    );
    rows.push(
        bearer_case(
            "strict: typ absent",
            "/read",
            &strict(json!({"alg": "RS256", "kid": "rsa-1"}), full.clone()),
        )
        .on(Target::Strict)
        .invalid(ErrorKind::InvalidType, D_INVALID),
    );
    for missing in ["jti", "sub", "client_id", "iat"] {
        let mut p = full.clone();
        merge(&mut p, json!({ missing: null }));
        rows.push(
            bearer_case(
                format!("strict: no {missing}"),
                "/read",
                &strict(header("RS256", "rsa-1"), p),
            )
            .on(Target::Strict)
            .invalid(ErrorKind::InvalidClaim, D_INVALID),
        );
    }

    // --- Scopes (§E) -----------------------------------------------------------------------------
    rows.push(bearer_case(
        "scope string grants read",
        "/read",
        &scoped(json!({"scope": "read"})),
    ));
    rows.push(bearer_case(
        "scope array grants read",
        "/read",
        &scoped(json!({"scope": ["read"]})),
    ));
    rows.push(bearer_case(
        "scp string grants read",
        "/read",
        &scoped(json!({"scp": "read"})),
    ));
    rows.push(bearer_case(
        "scp array grants read",
        "/read",
        &scoped(json!({"scp": ["read"]})),
    ));
    rows.push(bearer_case(
        "scope and scp are merged",
        "/rw",
        &scoped(json!({"scope": "read", "scp": ["write"]})),
    ));
    rows.push(
        bearer_case(
            "Read does not grant read",
            "/read",
            &scoped(json!({"scope": "Read"})),
        )
        .forbidden("read"),
    );
    rows.push(
        bearer_case(
            "readonly does not grant read",
            "/read",
            &scoped(json!({"scope": "readonly"})),
        )
        .forbidden("read"),
    );
    rows.push(
        bearer_case(
            "read,write does not grant write",
            "/write",
            &scoped(json!({"scope": "read,write"})),
        )
        .forbidden("write"),
    );
    rows.push(
        bearer_case(
            "read,write does not grant read",
            "/read",
            &scoped(json!({"scope": "read,write"})),
        )
        .forbidden("read"),
    );
    rows.push(bearer_case("no scope claim", "/read", &scoped(json!({}))).forbidden("read"));
    rows.push(
        bearer_case(
            "/rw with only read",
            "/rw",
            &scoped(json!({"scope": "read"})),
        )
        .forbidden("read write"),
    );
    rows.push(bearer_case(
        "/rw with write read (order-free)",
        "/rw",
        &scoped(json!({"scope": "write read"})),
    ));
    rows.push(bearer_case(
        "/any with write",
        "/any",
        &scoped(json!({"scope": "write"})),
    ));
    rows.push(
        // Any of `admin write`: one alternative suffices, so the challenge names the first.
        bearer_case("/any with read", "/any", &scoped(json!({"scope": "read"}))).forbidden("admin"),
    );
    rows.push(bearer_case("/admin with read write", "/admin", &valid).forbidden("admin"));
    rows.push(
        bearer_case(
            "scope of the wrong JSON type",
            "/read",
            &scoped(json!({"scope": 42})),
        )
        .invalid(ErrorKind::InvalidClaim, D_INVALID),
    );
    rows.push(
        bearer_case(
            "roles ignored unless configured",
            "/admin",
            &scoped(json!({"roles": ["admin"]})),
        )
        .forbidden("admin"),
    );
    rows.push(
        bearer_case(
            "roles claim grants admin",
            "/admin",
            &scoped(json!({"roles": ["admin"]})),
        )
        .on(Target::Roles),
    );
    rows.push(
        bearer_case(
            "roles string grants admin",
            "/admin",
            &scoped(json!({"roles": "admin"})),
        )
        .on(Target::Roles),
    );
    // A mapped claim of another shape grants nothing; it does not invalidate the token.
    for (name, roles) in [
        ("roles as an object grants nothing", json!({"admin": {}})),
        ("roles with a number grants nothing", json!(["admin", 1])),
    ] {
        rows.push(
            bearer_case(name, "/admin", &scoped(json!({ "roles": roles })))
                .on(Target::Roles)
                .forbidden("admin"),
        );
    }
    rows.push(
        bearer_case(
            "roles do not grant other scopes",
            "/write",
            &scoped(json!({"roles": ["admin"]})),
        )
        .on(Target::Roles)
        .forbidden("write"),
    );

    // --- Claims reach the handler -----------------------------------------------------------------
    rows.push(
        bearer_case("whoami", "/whoami", &valid)
            .body(format!("client-1|client-1|{iss}|read write")),
    );
    rows.push(
        bearer_case(
            "whoami, distinct client_id and sub",
            "/whoami",
            &scoped(
                json!({"client_id": "svc-9", "sub": "sub-9", "scp": ["write", "read", "read"]}),
            ),
        )
        .body(format!("svc-9|sub-9|{iss}|read write")),
    );
    rows.push(
        bearer_case("whoami without scopes", "/whoami", &scoped(json!({})))
            .body(format!("client-1|client-1|{iss}|")),
    );
    rows.push(case("whoami without token", "/whoami", &[]).missing());

    // --- Routes outside the guard -----------------------------------------------------------------
    rows.push(case("public without token", "/public", &[]).body("public"));
    rows.push(case("public with garbage", "/public", &["Bearer a.b.c"]).body("public"));
    let mut not_found = case("unknown path stays 404", "/nope", &[]);
    not_found.status = 404;
    not_found.body = None;
    rows.push(not_found);

    // --- Optional guard ---------------------------------------------------------------------------
    rows.push(
        case("optional: no token is anonymous", "/hello", &[])
            .on(Target::Optional)
            .body("anonymous"),
    );
    rows.push(
        bearer_case("optional: valid token", "/hello", &valid)
            .on(Target::Optional)
            .body("hello client-1"),
    );
    rows.push(
        bearer_case(
            "optional: expired token still rejected",
            "/hello",
            &claims(json!({"exp": now - 120})),
        )
        .on(Target::Optional)
        .invalid(ErrorKind::Expired, D_EXPIRED),
    );
    rows.push(
        case(
            "optional: malformed credential still 400",
            "/hello",
            &["Bearer a b"],
        )
        .on(Target::Optional)
        .bad_request(),
    );
    rows.push(
        case("optional: scoped route needs a token", "/read", &[])
            .on(Target::Optional)
            .missing(),
    );

    // --- Custom realm and rejection handler ---------------------------------------------------------
    rows.push(
        bearer_case(
            "custom: expired",
            "/read",
            &claims(json!({"exp": now - 120})),
        )
        .on(Target::Custom)
        .invalid(ErrorKind::Expired, D_EXPIRED)
        .challenge(invalid_token_in(CUSTOM_REALM_QUOTED, D_EXPIRED))
        .body(format!("rejected: {D_EXPIRED}")),
    );
    rows.push(
        case("custom: no token", "/read", &[])
            .on(Target::Custom)
            .missing()
            .challenge(format!(r#"Bearer realm="{CUSTOM_REALM_QUOTED}""#))
            .body("rejected: No bearer token was presented"),
    );
    rows.push(
        bearer_case(
            "custom: scope check uses the guard's realm and handler",
            "/admin",
            &valid,
        )
        .on(Target::Custom)
        .forbidden("admin")
        .challenge(insufficient_scope_in(CUSTOM_REALM_QUOTED, "admin"))
        .body("rejected: The access token lacks the required scope"),
    );
    rows.push(bearer_case("custom: valid", "/read", &valid).on(Target::Custom));

    // --- Scopes required by the guard itself ---------------------------------------------------------
    rows.push(
        bearer_case("guard-wide requirement met", "/whoami", &valid)
            .on(Target::Required)
            .body(format!("client-1|client-1|{iss}|read write")),
    );
    rows.push(
        bearer_case(
            "guard-wide requirement unmet",
            "/whoami",
            &scoped(json!({"scope": "write"})),
        )
        .on(Target::Required)
        .forbidden("read"),
    );
    rows.push(
        bearer_case(
            "guard-wide and route requirements",
            "/write",
            &scoped(json!({"scope": "read"})),
        )
        .on(Target::Required)
        .forbidden("write"),
    );

    // --- Keys unavailable (§B.12) -------------------------------------------------------------------
    let down = mint(
        &header("RS256", "rsa-1"),
        &payload(&w.down_iss),
        Key::Rsa2048,
        Algorithm::RS256,
    );
    rows.push(
        bearer_case("JWKS unreachable: 503", "/read", &down)
            .on(Target::Down)
            .unavailable(),
    );
    rows.push(
        bearer_case("JWKS unreachable again: 503", "/read", &down)
            .on(Target::Down)
            .unavailable(),
    );
    rows.push(
        case("JWKS unreachable, no token: still 401", "/read", &[])
            .on(Target::Down)
            .missing(),
    );

    // --- Static key set with an RSA-1024 key (§C.17, §F.32) ------------------------------------------
    let rsa1024_jwt = String::from_utf8(read_fixture("rsa1024.jwt")).unwrap();
    rows.push(
        bearer_case(
            "static: token signed by RSA-1024",
            "/read",
            rsa1024_jwt.trim(),
        )
        .on(Target::Static)
        .invalid(ErrorKind::UnknownKey, D_INVALID),
    );
    let t = mint(
        &header("RS256", "rsa-1"),
        &payload("https://idp.example"),
        Key::Rsa2048,
        Algorithm::RS256,
    );
    rows.push(bearer_case("static: rsa-1 beside it works", "/read", &t).on(Target::Static));
    let t = mint(
        &header("PS256", "rsa-1"),
        &payload("https://idp.example"),
        Key::Rsa2048,
        Algorithm::PS256,
    );
    rows.push(
        bearer_case("static: PS256 on the RS256 JWK", "/read", &t)
            .on(Target::Static)
            .invalid(ErrorKind::UnknownKey, D_INVALID),
    );
    rows.push(
        bearer_case("static: token of the other issuer", "/read", &valid)
            .on(Target::Static)
            .invalid(ErrorKind::InvalidIssuer, D_ISSUER),
    );

    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_matrix() {
    let world = World::new().await;
    world.warm_up().await;
    let rows = cases(&world);
    let mut names = std::collections::HashSet::new();
    for row in &rows {
        assert!(
            names.insert(row.name.clone()),
            "duplicate row name {:?}",
            row.name
        );
    }
    let total = rows.len();
    // Cold, second sighting (the token enters the cache), cached: one decision each time.
    for pass in 0..3 {
        let failures = world.run(&rows, pass).await;
        assert!(
            failures.is_empty(),
            "{} of {total} rows failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    assert_eq!(
        world.server.other_hits(),
        0,
        "a URL from a token was fetched"
    );
}

// ---------------------------------------------------------------------------------------------
// Key rotation and single-flight refresh (§F.34)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_refresh_picks_up_a_rotated_key_once() {
    let mut jwks = fixture_jwks();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] != "ed-1");
    let server = IdpServer::start_with_jwks(&jwks).await;
    let app = app(validator(&server.issuer));
    let ed = token(Key::Ed25519, &server.issuer);

    let reply = send(&app, request("/read", &[&bearer(&ed)])).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.kind, Some(ErrorKind::UnknownKey));
    assert_eq!((server.discovery_hits(), server.jwks_hits()), (1, 1));

    server.set_jwks(&fixture_jwks());
    // Many requests at once with the new kid: one refresh serves them all.
    let replies = futures_join_all((0..16).map(|_| {
        let app = app.clone();
        let auth = bearer(&ed);
        async move { send(&app, request("/read", &[&auth])).await }
    }))
    .await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    assert_eq!(server.jwks_hits(), 2, "exactly one refresh for the new kid");
    assert_eq!(server.discovery_hits(), 1, "jwks_uri is remembered");

    // Another unknown kid inside the cooldown: rejected without a fetch.
    let t = mint(
        &header("EdDSA", "ed-2"),
        &payload(&server.issuer),
        Key::Ed25519,
        Algorithm::EdDSA,
    );
    let reply = send(&app, request("/read", &[&bearer(&t)])).await;
    assert_eq!(reply.status, 401);
    assert_eq!(server.jwks_hits(), 2);
    assert_eq!(server.other_hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_keeps_the_last_good_key_set() {
    let server = IdpServer::start().await;
    let app = app(validator(&server.issuer));
    let valid = token(Key::Rsa2048, &server.issuer);
    assert_eq!(
        send(&app, request("/read", &[&bearer(&valid)]))
            .await
            .status,
        200
    );

    server.set_jwks_raw("<html>not a key set</html>");
    let t = mint(
        &header("RS256", "new-kid"),
        &payload(&server.issuer),
        Key::Rsa2048,
        Algorithm::RS256,
    );
    let reply = send(&app, request("/read", &[&bearer(&t)])).await;
    assert_eq!(server.jwks_hits(), 2, "the unknown kid caused one refresh");
    assert_eq!(
        reply.status, 401,
        "cached keys are usable: not 503 ({reply:?})"
    );
    assert_eq!(reply.kind, Some(ErrorKind::UnknownKey));
    let reply = send(&app, request("/read", &[&bearer(&valid)])).await;
    assert_eq!(
        reply.status, 200,
        "the good set survived the failed fetch: {reply:?}"
    );
}

#[tokio::test]
async fn key_sets_of_different_issuers_never_mix() {
    let a = "https://a.example";
    let b = "https://b.example";
    let only = |key: Key| json!({ "keys": [key.jwk()] }).to_string();
    let v = Validator::builder()
        .issuer(Issuer::new(a).audience(AUDIENCE).jwks(only(Key::Rsa2048)))
        .issuer(Issuer::new(b).audience(AUDIENCE).jwks(only(Key::EcP256)))
        .build()
        .unwrap();
    assert!(v.validate(&token(Key::Rsa2048, a)).await.is_ok());
    assert!(v.validate(&token(Key::EcP256, b)).await.is_ok());
    assert_eq!(
        v.validate(&token(Key::EcP256, a)).await.unwrap_err().kind(),
        ErrorKind::UnknownKey,
        "issuer a's token signed with issuer b's key"
    );
    assert_eq!(
        v.validate(&token(Key::Rsa2048, b))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::UnknownKey
    );
    let no_kid = mint(
        &json!({"alg": "ES256"}),
        &payload(a),
        Key::EcP256,
        Algorithm::ES256,
    );
    assert_eq!(
        v.validate(&no_kid).await.unwrap_err().kind(),
        ErrorKind::UnknownKey
    );
}

#[test]
fn realms_that_cannot_be_sent_are_refused_when_building() {
    for bad in ["a\r\nb", "a\nb", "caf\u{e9}"] {
        let v = Validator::builder()
            .issuer(Issuer::new("https://idp.example").audience(AUDIENCE))
            .build()
            .unwrap();
        // An error naming the setting, not a panic.
        assert_eq!(
            GuardLayer::new(v).realm(bad).unwrap_err(),
            ConfigError::InvalidChallengeParam("realm"),
            "realm {bad:?}"
        );
    }
}

/// `join_all` without the futures crate: spawn each on the runtime.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn recovers_after_the_idp_comes_back_only_after_backoff() {
    // Unreachable first: 503 with Retry-After and no fetch storm.
    let down = closed_loopback_addr();
    let issuer = format!("http://{down}");
    let app = app(validator(&issuer));
    let t = token(Key::Rsa2048, &issuer);
    for _ in 0..3 {
        let reply = send(&app, request("/read", &[&bearer(&t)])).await;
        assert_eq!(reply.status, 503, "{reply:?}");
        assert!(reply.www_authenticate.is_none());
        assert_eq!(reply.kind, Some(ErrorKind::KeysUnavailable));
        let seconds: u64 = reply.retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=60).contains(&seconds), "{seconds}");
    }
}

// ---------------------------------------------------------------------------------------------
// Static key sets and the validator on its own
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn static_jwks_and_direct_validation() {
    let only_small = json!({ "keys": [Key::Rsa1024.jwk()] }).to_string();
    assert_eq!(
        Validator::builder()
            .issuer(
                Issuer::new("https://idp.example")
                    .audience(AUDIENCE)
                    .jwks(only_small)
            )
            .build()
            .unwrap_err(),
        ConfigError::NoUsableKey,
        "a set holding only an RSA-1024 key has no usable key"
    );

    let issuer = "https://idp.example";
    let v = Validator::builder()
        .issuer(
            Issuer::new(issuer)
                .audience(AUDIENCE)
                .jwks(fixture_jwks().to_string()),
        )
        .build()
        .unwrap();
    let claims = v
        .validate(&mint(
            &header("ES384", "ec-p384-1"),
            &payload_with(issuer, json!({"jti": "j-7", "aud": ["x", AUDIENCE]})),
            Key::EcP384,
            Algorithm::ES384,
        ))
        .await
        .expect("valid");
    assert_eq!(claims.issuer(), issuer);
    assert_eq!(claims.audience(), ["x", AUDIENCE]);
    assert_eq!(claims.jwt_id(), Some("j-7"));
    assert_eq!(claims.client(), Some("client-1"));
    assert!(claims.scopes().contains("read") && claims.scopes().contains("write"));
    assert!(!claims.scopes().contains("admin"));
    assert!(claims.expires_at() > now());

    let err = v
        .validate(&mint(
            &header("PS256", "rsa-1"),
            &payload(issuer),
            Key::Rsa2048,
            Algorithm::PS256,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::UnknownKey,
        "JWK alg RS256 binds the key"
    );

    // An explicitly configured HMAC secret works, and a token "signed" with the RSA public key
    // as HMAC secret still fails against it.
    let secret = b"an explicit shared secret of 32+ bytes!!".to_vec();
    let v = Validator::builder()
        .issuer(
            Issuer::new(issuer)
                .audience(AUDIENCE)
                .hmac_secret(secret.clone()),
        )
        .build()
        .unwrap();
    let good = mint_with(
        &header("HS256", "h"),
        &payload(issuer),
        &EncodingKey::from_secret(&secret),
        Algorithm::HS256,
    );
    assert!(v.validate(&good).await.is_ok());
    let confused = mint_with(
        &header("HS256", "h"),
        &payload(issuer),
        &EncodingKey::from_secret(&Key::Rsa2048.public_pem()),
        Algorithm::HS256,
    );
    assert_eq!(
        v.validate(&confused).await.unwrap_err().kind(),
        ErrorKind::InvalidSignature
    );
}

// ---------------------------------------------------------------------------------------------
// Error values (Debug, tracing: see tests/redaction.rs)
// ---------------------------------------------------------------------------------------------

#[test]
fn auth_error_debug_and_display_are_fixed() {
    let error = AuthError::from(ErrorKind::Expired);
    assert_eq!(error.to_string(), D_EXPIRED);
    assert_eq!(error.kind(), ErrorKind::Expired);
    assert!(error.retry_after().is_none());
}

// ---------------------------------------------------------------------------------------------
// Plain hyper: the guard is generic over body types
// ---------------------------------------------------------------------------------------------

async fn raw_http(
    addr: std::net::SocketAddr,
    request: String,
) -> (u16, HashMap<String, String>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_hyper_server_over_tcp() {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Incoming;
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceBuilder;

    let idp = IdpServer::start().await;
    let service = ServiceBuilder::new()
        .layer(GuardLayer::new(validator(&idp.issuer)))
        .service(tower::service_fn(|request: Request<Incoming>| async move {
            let client = request
                .extensions()
                .get::<Claims>()
                .and_then(|c| c.client().map(str::to_owned))
                .unwrap_or_default();
            let body = request
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let text = format!("hello {client}, {} body bytes", body.len());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let valid = token(Key::EcP256, &idp.issuer);
    let expired = rs_token(&idp.issuer, json!({"exp": now() - 120}));
    let get = |auth: Option<&str>| {
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!("GET /x HTTP/1.1\r\nHost: test\r\n{auth}Connection: close\r\n\r\n")
    };

    let (status, headers, _) = raw_http(addr, get(None)).await;
    assert_eq!(status, 401);
    assert_eq!(
        headers.get("www-authenticate").map(String::as_str),
        Some(REALM_ONLY)
    );

    let (status, headers, _) = raw_http(addr, get(Some(&bearer(&expired)))).await;
    assert_eq!(status, 401);
    assert_eq!(
        headers.get("www-authenticate"),
        Some(&invalid_token_in("api", D_EXPIRED))
    );

    let (status, headers, _) = raw_http(addr, get(Some("Bearer a b"))).await;
    assert_eq!(status, 400);
    assert_eq!(
        headers.get("www-authenticate").map(String::as_str),
        Some(INVALID_REQUEST)
    );

    let (status, headers, body) = raw_http(addr, get(Some(&bearer(&valid)))).await;
    assert_eq!(status, 200, "{headers:?} {body}");
    assert!(!headers.contains_key("www-authenticate"));
    assert_eq!(body, "hello client-1, 0 body bytes");

    let post = format!(
        "POST /x HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {valid}\r\nContent-Length: 7\r\nConnection: close\r\n\r\npayload"
    );
    let (status, _, body) = raw_http(addr, post).await;
    assert_eq!(status, 200);
    assert_eq!(body, "hello client-1, 7 body bytes");

    assert_eq!(idp.jwks_hits(), 1);
    server.abort();
    let _ = header::AUTHORIZATION;
}
