//! The peer comparison harness: bearer-guard next to tower-oauth2-resource-server, aliri_tower,
//! oauth-resource-server and axum-jwt-auth, each pair in one process and one run, with the same keys and tokens.
//!
//! ```text
//! peers mint               mint the token pools (once; reused while present)
//! peers bench OUT.tsv      measure, write result rows
//! peers table FILE.tsv...  print the combined markdown table
//! ```
//!
//! `benches/peers/run.sh` runs all of it, with the jwt-authorizer harness in between.

mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::GuardLayer;
use http::{Request, Response};
use serde::Deserialize;
use tower::{Layer, Service, service_fn};

use common::{
    AUDIENCE, Alg, ISSUER, JwksServer, Kind, Measured, PATH, Settings, Workload, alone, bearer,
    compare, data_dir, jwks_document, load_tokens, our_validator, pool_path, repeated_token_path,
    repo_root, report, row, scenario, selected, write_rows,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("mint") => mint(),
        Some("bench") => {
            let out = args
                .get(2)
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir().join("results").join("main.tsv"));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(bench(Settings::from_env(), out));
        }
        Some("table") => table(&args[2..]),
        _ => {
            eprintln!("usage: peers mint | peers bench [OUT.tsv] | peers table FILE.tsv...");
            std::process::exit(2);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Minting
// ---------------------------------------------------------------------------------------------

/// Mints, per algorithm, one token for the repeated scenario and a pool of `$PEERS_POOL`
/// (default 20 000) distinct ones (`jti` `pool-N`), all with the same header and claims
/// otherwise: `{alg, kid, typ: "at+jwt"}`, `iss`, `sub`, `aud`, `exp` in 2100, `iat`, `scope
/// "read"`, `client_id`, `jti`. A pool already on disk with enough tokens is kept (RSA signing
/// is slow), so every run and both harnesses use the very same tokens.
fn mint() {
    let pool_size: usize = std::env::var("PEERS_POOL")
        .ok()
        .map(|v| v.parse().expect("PEERS_POOL: a number"))
        .unwrap_or(20_000);
    std::fs::create_dir_all(common::tokens_dir()).expect("tokens directory");
    for alg in Alg::ALL {
        let existing = std::fs::read_to_string(pool_path(alg))
            .map(|text| text.lines().filter(|l| !l.is_empty()).count())
            .unwrap_or(0);
        if existing >= pool_size && repeated_token_path(alg).is_file() {
            eprintln!("{}: keeping {existing} minted tokens", alg.name());
            continue;
        }
        let pem = std::fs::read(repo_root().join("fixtures").join(alg.private_key()))
            .expect("fixture key");
        let (key, algorithm) = match alg {
            Alg::Rs256 => (
                jsonwebtoken::EncodingKey::from_rsa_pem(&pem),
                jsonwebtoken::Algorithm::RS256,
            ),
            Alg::Es256 => (
                jsonwebtoken::EncodingKey::from_ec_pem(&pem),
                jsonwebtoken::Algorithm::ES256,
            ),
        };
        let key = key.expect("fixture key parses");
        let mut header = jsonwebtoken::Header::new(algorithm);
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(alg.kid().to_owned());
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let sign = |jti: &str| {
            let claims = serde_json::json!({
                "iss": ISSUER,
                "sub": "client-1",
                "aud": AUDIENCE,
                "exp": 4_102_444_800u64,
                "iat": iat,
                "scope": "read",
                "client_id": "client-1",
                "jti": jti,
            });
            jsonwebtoken::encode(&header, &claims, &key).expect("signing")
        };
        eprintln!("{}: minting {pool_size} tokens...", alg.name());
        let repeated = sign("repeated");
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_thread = pool_size.div_ceil(threads);
        let pool: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let sign = &sign;
                    scope.spawn(move || {
                        let range = t * per_thread..((t + 1) * per_thread).min(pool_size);
                        range
                            .map(|i| sign(&format!("pool-{i}")))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("minting thread"))
                .collect()
        });
        std::fs::write(repeated_token_path(alg), format!("{repeated}\n")).expect("write token");
        std::fs::write(pool_path(alg), pool.join("\n") + "\n").expect("write pool");
    }
}

// ---------------------------------------------------------------------------------------------
// The stacks
// ---------------------------------------------------------------------------------------------

const TOWER_OAUTH2: &str = "tower-oauth2-resource-server 0.12.5";
const ALIRI: &str = "aliri_tower 0.6.1";
const AXUM_JWT_AUTH: &str = "axum-jwt-auth 0.7.0";
const OAUTH_RS: &str = "oauth-resource-server 0.3.1";

/// The inner service of every layer stack: an empty 200.
async fn noop(_request: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::empty()))
}

/// `GuardLayer` over the no-op service.
fn ours_layer(
    jwks_url: &str,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> {
    GuardLayer::new(our_validator(jwks_url)).layer(service_fn(noop))
}

async fn ours_handler(claims: bearer_guard::Claims) -> &'static str {
    black_box(&claims);
    "ok"
}

/// The same shape as the axum-jwt-auth stack: an axum 0.8 Router whose handler takes the
/// validated claims (our `Claims` extractor, behind `GuardLayer` as a route layer).
fn ours_axum(jwks_url: &str) -> Router {
    Router::new()
        .route(PATH, get(ours_handler))
        .route_layer(GuardLayer::new(our_validator(jwks_url)))
}

/// tower-oauth2-resource-server: one tenant with a `jwks_url` (no discovery), claims checks
/// set to what we check: `iss`, `aud`, `exp` (its default spec without discovery checks no
/// `iss`). Default claims type, default algorithms, default refresh (a background fetch every
/// 60 s).
async fn tower_oauth2(
    jwks_url: &str,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> {
    use tower_oauth2_resource_server::claims::DefaultClaims;
    use tower_oauth2_resource_server::server::OAuth2ResourceServer;
    use tower_oauth2_resource_server::tenant::TenantConfiguration;
    use tower_oauth2_resource_server::validation::ClaimsValidationSpec;

    let tenant = TenantConfiguration::builder(ISSUER)
        .jwks_url(jwks_url)
        .audiences(&[AUDIENCE])
        .claims_validation(
            ClaimsValidationSpec::new()
                .iss(ISSUER)
                .exp(true)
                .aud(&vec![AUDIENCE.to_owned()]),
        )
        .build()
        .await
        .expect("tower-oauth2-resource-server tenant");
    let server = OAuth2ResourceServer::<DefaultClaims>::builder()
        .add_tenant(tenant)
        .build()
        .await
        .expect("tower-oauth2-resource-server");
    server.into_layer::<Body>().layer(service_fn(noop))
}

/// aliri_tower: `Oauth2Authorizer::jwt_layer` with an `aliri_oauth2::Authority` loaded from the
/// JWKS URL, a `CoreValidator` requiring our `iss` and `aud` (it checks `exp` by default),
/// RS256 and ES256 approved, the default claims type (`BasicClaimsWithScope`), the terse error
/// handler. No scope layer (the others check no scope either).
async fn aliri(
    jwks_url: &str,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> {
    use aliri::{jwa, jwt};

    let validator = jwt::CoreValidator::default()
        .add_approved_algorithm(jwa::Algorithm::RS256)
        .add_approved_algorithm(jwa::Algorithm::ES256)
        .add_allowed_audience(jwt::Audience::from_static(AUDIENCE))
        .require_issuer(jwt::Issuer::from_static(ISSUER));
    let authority = aliri_oauth2::Authority::new_from_url(jwks_url.to_owned(), validator)
        .await
        .expect("aliri authority");
    let authorizer = aliri_tower::Oauth2Authorizer::new().with_terse_error_handler::<Body>();
    authorizer
        .jwt_layer::<Body>(authority)
        .layer(service_fn(noop))
}

/// oauth-resource-server: an `OAuthConfig` with our issuer, audience and the loopback
/// `jwks_uri` (no discovery), `resource` set (it is required; it only feeds the challenge and
/// the metadata document), no required scope (`allow_unscoped_tokens`, as no other stack
/// checks one), everything else default (all asymmetric algorithms, 60 s leeway, `typ` not
/// required); one `OAuthValidator` with its background refresh (first load now, then hourly),
/// `AuthLayer::builder().oauth(..).build()` (the `Authorization: Bearer` source) over the
/// no-op service. It caches keys, not verified tokens: every request runs
/// `jsonwebtoken::decode` (jsonwebtoken 9, ring).
async fn oauth_rs(
    jwks_url: &str,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> {
    use oauth_resource_server::axum::AuthLayer;
    use oauth_resource_server::{KeyNaming, OAuthConfig, OAuthValidator};

    let config = OAuthConfig {
        enabled: true,
        issuer: ISSUER.to_owned(),
        jwks_uri: Some(jwks_url.to_owned()),
        audience: AUDIENCE.to_owned(),
        resource: AUDIENCE.to_owned(),
        allow_unscoped_tokens: true,
        ..OAuthConfig::default()
    }
    .resolve(KeyNaming::Dotted("oauth"))
    .expect("oauth-resource-server config")
    .expect("enabled");
    let validator =
        Arc::new(OAuthValidator::new(&config).expect("oauth-resource-server validator"));
    // Its recommended setup. The task holds only a weak reference between passes, so it ends
    // with the stack. Waiting for its first load keeps it to one JWKS fetch per stack (a
    // warming request sent before would fetch, and the task's first pass fetch again).
    drop(validator.spawn_background_refresh());
    while !validator.is_ready() {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    AuthLayer::builder()
        .oauth(validator)
        .build()
        .expect("oauth-resource-server layer")
        .layer(service_fn(noop))
}

/// The claims axum-jwt-auth deserializes (it has no claims type of its own): what the tokens
/// carry.
#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
struct PeerClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    scope: String,
    client_id: String,
    jti: String,
}

async fn axum_jwt_auth_handler(claims: axum_jwt_auth::Claims<PeerClaims>) -> &'static str {
    black_box(&claims.claims);
    "ok"
}

/// axum-jwt-auth: an extractor, not a layer, so an axum 0.8 Router whose handler takes its
/// `Claims`, with a `RemoteJwksDecoder` (initialized: keys fetched, hourly refresh) as the
/// state. Its `Validation` (jsonwebtoken 10) takes one key family, so one decoder per algorithm;
/// `iss` and `aud` set, `exp` checked by default.
async fn axum_jwt_auth(alg: Alg, jwks_url: &str) -> Router {
    use axum_jwt_auth::{Decoder, RemoteJwksDecoder};

    let mut validation = jsonwebtoken10::Validation::new(match alg {
        Alg::Rs256 => jsonwebtoken10::Algorithm::RS256,
        Alg::Es256 => jsonwebtoken10::Algorithm::ES256,
    });
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);
    let decoder = RemoteJwksDecoder::builder()
        .jwks_url(jwks_url.to_owned())
        .validation(validation)
        .build()
        .expect("axum-jwt-auth decoder");
    let decoder = Arc::new(decoder);
    // The returned token only stops the refresh task when cancelled; dropping it does not.
    let _refresh = decoder
        .initialize()
        .await
        .expect("axum-jwt-auth initialize");
    let decoder: Decoder<PeerClaims> = decoder;
    Router::new()
        .route(PATH, get(axum_jwt_auth_handler))
        .with_state(decoder)
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

async fn bench(settings: Settings, out: PathBuf) {
    let server = JwksServer::start(jwks_document());
    let url = server.url.clone();
    eprintln!("main harness: {settings:?}, keys at {url}");
    let mut rows = Vec::new();

    for alg in Alg::ALL {
        let tokens = load_tokens(alg);
        for kind in Kind::ALL {
            let scenario = scenario(alg, kind);
            let workload = Workload::new(&tokens, kind, &settings);

            if selected(&scenario, TOWER_OAUTH2) {
                let (p, o) = compare(
                    TOWER_OAUTH2,
                    &mut tower_oauth2(&url).await,
                    &mut ours_layer(&url),
                    &workload,
                    &settings,
                )
                .await;
                report(&scenario, TOWER_OAUTH2, p, o);
                rows.push(row(&scenario, TOWER_OAUTH2, p, Some(o), "layer"));
            }
            if selected(&scenario, ALIRI) {
                let (p, o) = compare(
                    ALIRI,
                    &mut aliri(&url).await,
                    &mut ours_layer(&url),
                    &workload,
                    &settings,
                )
                .await;
                report(&scenario, ALIRI, p, o);
                rows.push(row(&scenario, ALIRI, p, Some(o), "layer"));
            }
            if selected(&scenario, OAUTH_RS) {
                let (p, o) = compare(
                    OAUTH_RS,
                    &mut oauth_rs(&url).await,
                    &mut ours_layer(&url),
                    &workload,
                    &settings,
                )
                .await;
                report(&scenario, OAUTH_RS, p, o);
                rows.push(row(&scenario, OAUTH_RS, p, Some(o), "layer"));
            }
            if selected(&scenario, AXUM_JWT_AUTH) {
                let (p, o) = compare::<_, _, Body, _, _>(
                    AXUM_JWT_AUTH,
                    &mut axum_jwt_auth(alg, &url).await,
                    &mut ours_axum(&url),
                    &workload,
                    &settings,
                )
                .await;
                report(&scenario, AXUM_JWT_AUTH, p, o);
                rows.push(row(&scenario, AXUM_JWT_AUTH, p, Some(o), "axum08"));
            }
        }
    }

    // The floor: what building the request and the stack without any auth cost.
    if selected("floor", "floor") {
        let header = bearer(&load_tokens(Alg::Rs256).repeated);
        let floor: Measured = alone(&mut service_fn(noop), &header, &settings).await;
        rows.push(row("floor", "floor", floor, None, "layer"));
        let mut router = Router::new().route(PATH, get(|| async { "ok" }));
        let floor = alone::<_, Body, _>(&mut router, &header, &settings).await;
        rows.push(row("floor", "floor", floor, None, "axum08"));
    }

    eprintln!("JWKS documents served: {}", server.hits());
    write_rows(&out, &rows);
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

struct Row {
    scenario: String,
    peer: String,
    peer_ns: f64,
    ours_ns: Option<f64>,
    shape: String,
}

fn scenario_title(key: &str) -> &'static str {
    match key {
        "rs256-repeated" => "RS256, repeated token",
        "rs256-new" => "RS256, new tokens",
        "es256-repeated" => "ES256, repeated token",
        "es256-new" => "ES256, new tokens",
        _ => "?",
    }
}

fn shape_title(key: &str) -> &'static str {
    match key {
        "layer" => "Layer over a no-op service (axum 0.8 body)",
        "axum08" => "axum 0.8 Router, claims extractor in the handler",
        "layer07" => "Layer over a no-op service (axum 0.7 body)",
        _ => "?",
    }
}

fn floor_title(key: &str) -> &'static str {
    match key {
        "layer" => "no-op service, axum 0.8 body",
        "axum08" => "axum 0.8 Router, handler without extractor",
        "layer07" => "no-op service, axum 0.7 body",
        _ => "?",
    }
}

/// `31234.4` as `31,234`.
fn ns(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn table(files: &[String]) {
    let mut rows = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {file}: {e}"));
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 9, "a result row has 9 fields: {line}");
            rows.push(Row {
                scenario: f[0].to_owned(),
                peer: f[1].to_owned(),
                peer_ns: f[2].parse().expect("a number"),
                ours_ns: f[5].parse().ok(),
                shape: f[8].to_owned(),
            });
        }
    }
    let order = ["rs256-repeated", "rs256-new", "es256-repeated", "es256-new"];
    println!(
        "| scenario | peer | stack (same for both) | peer ns/request | bearer-guard ns/request | peer ÷ bearer-guard |"
    );
    println!("|---|---|---|--:|--:|--:|");
    for key in order {
        for r in rows.iter().filter(|r| r.scenario == key) {
            let ours = r.ours_ns.expect("a comparison row has our number");
            let ratio = r.peer_ns / ours;
            // Two decimals near parity, where the side matters; one above.
            let ratio = if ratio < 10.0 {
                format!("{ratio:.2}×")
            } else {
                format!("{ratio:.1}×")
            };
            println!(
                "| {} | {} | {} | {} | {} | {ratio} |",
                scenario_title(key),
                r.peer,
                shape_title(&r.shape),
                ns(r.peer_ns),
                ns(ours),
            );
        }
    }
    let floors: Vec<String> = rows
        .iter()
        .filter(|r| r.scenario == "floor")
        .map(|r| format!("{}: {} ns", floor_title(&r.shape), ns(r.peer_ns)))
        .collect();
    if !floors.is_empty() {
        println!();
        println!(
            "Floor (building the request and calling the stack without any auth; part of every number above): {}.",
            floors.join("; ")
        );
    }
}
