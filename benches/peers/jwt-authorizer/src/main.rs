//! The jwt-authorizer half of the peer comparison (it needs axum 0.7): jwt-authorizer and
//! bearer-guard, side by side in one process, with the tokens the main harness minted.
//!
//! ```text
//! peers-jwt-authorizer bench OUT.tsv
//! ```

#[path = "../../src/common.rs"]
mod common;

use std::convert::Infallible;
use std::path::PathBuf;

use axum::body::Body;
use axum::response::Response;
use bearer_guard::GuardLayer;
use http::Request;
use jwt_authorizer::{IntoLayer, JwtAuthorizer, RegisteredClaims, Validation};
use tower::{Layer, Service, service_fn};

use common::{
    AUDIENCE, Alg, ISSUER, JwksServer, Kind, Settings, Workload, alone, bearer, compare, data_dir,
    jwks_document, load_tokens, our_validator, report, row, scenario, selected, write_rows,
};

const JWT_AUTHORIZER: &str = "jwt-authorizer 0.15.0";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some("bench") {
        eprintln!("usage: peers-jwt-authorizer bench [OUT.tsv]");
        std::process::exit(2);
    }
    let out = args
        .get(2)
        .map(PathBuf::from)
        .unwrap_or_else(|| data_dir().join("results").join("jwt-authorizer.tsv"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench(Settings::from_env(), out));
}

/// The inner service: an empty 200 (axum 0.7's `Response`, which jwt-authorizer's service
/// needs: it builds its rejections with `From<AuthError>`).
async fn noop(_request: Request<Body>) -> Result<Response, Infallible> {
    Ok(Response::new(Body::empty()))
}

/// bearer-guard with default settings, keys from the loopback JWKS URL, over the same no-op.
fn ours(jwks_url: &str) -> impl Service<Request<Body>, Response = Response, Error = Infallible> {
    let validator = our_validator(jwks_url);
    GuardLayer::new(validator).layer(service_fn(noop))
}

/// jwt-authorizer: `JwtAuthorizer::from_jwks_url` (default refresh strategy: fetch when a
/// `kid` is unknown), `Validation` with our `iss` and `aud` (`exp` checked by default),
/// `RegisteredClaims`, as a layer (`into_layer`).
async fn jwt_authorizer(
    jwks_url: &str,
) -> impl Service<Request<Body>, Response = Response, Error = Infallible> {
    let authorizer = JwtAuthorizer::<RegisteredClaims>::from_jwks_url(jwks_url)
        .validation(Validation::new().iss(&[ISSUER]).aud(&[AUDIENCE]))
        .build()
        .await
        .expect("jwt-authorizer");
    vec![authorizer].into_layer().layer(service_fn(noop))
}

async fn bench(settings: Settings, out: PathBuf) {
    let server = JwksServer::start(jwks_document());
    let url = server.url.clone();
    eprintln!("jwt-authorizer harness: {settings:?}, keys at {url}");
    let mut rows = Vec::new();
    for alg in Alg::ALL {
        let tokens = load_tokens(alg);
        for kind in Kind::ALL {
            let scenario = scenario(alg, kind);
            if !selected(&scenario, JWT_AUTHORIZER) {
                continue;
            }
            let workload = Workload::new(&tokens, kind, &settings);
            let (p, o) = compare(
                JWT_AUTHORIZER,
                &mut jwt_authorizer(&url).await,
                &mut ours(&url),
                &workload,
                &settings,
            )
            .await;
            report(&scenario, JWT_AUTHORIZER, p, o);
            rows.push(row(&scenario, JWT_AUTHORIZER, p, Some(o), "layer07"));
        }
    }
    if selected("floor", "floor") {
        let header = bearer(&load_tokens(Alg::Rs256).repeated);
        let floor = alone(&mut service_fn(noop), &header, &settings).await;
        rows.push(row("floor", "floor", floor, None, "layer07"));
    }
    eprintln!("JWKS documents served: {}", server.hits());
    write_rows(&out, &rows);
}
