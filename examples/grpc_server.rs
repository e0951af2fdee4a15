//! Run with `cargo run --example grpc_server --features grpc-example`
//!
//! A tonic gRPC server that accepts client-credentials access tokens from one issuer: the
//! service `orders.v1.Orders` (`examples/proto/orders.proto`) behind the guard, with scopes
//! per method, and the standard health service (`grpc.health.v1.Health`) beside it, unguarded.
//!
//! | method | needs |
//! |---|---|
//! | `orders.v1.Orders/WhoAmI` | any valid token; answers the client id and the token's scopes |
//! | `orders.v1.Orders/Read` | scope `read` |
//! | `orders.v1.Orders/Write` | scope `write` |
//! | `orders.v1.Orders/Admin` | scope `admin` |
//! | `grpc.health.v1.Health/Check`, `Watch` | nothing |
//!
//! Refusals are gRPC statuses: `UNAUTHENTICATED` (no token, or an invalid one),
//! `PERMISSION_DENIED` (a scope missing), `INVALID_ARGUMENT` (a malformed `authorization`),
//! `UNAVAILABLE` (the issuer's keys cannot be had), each with the `www-authenticate` challenge
//! in its metadata.
//!
//! With no configuration it starts its own authorization server (a
//! [`TestIssuer`](bearer_guard::testing::TestIssuer) on loopback) and prints its clients and
//! how to get a token. To guard the API with your own identity provider, set:
//!
//! | variable | meaning |
//! |---|---|
//! | `OAUTH_ISSUER` | the issuer, compared byte for byte with `iss`; its keys are found by discovery. Unset: the embedded test issuer |
//! | `OAUTH_AUDIENCE` | the audience this API answers to (`aud` must name one); a comma-separated list for several; required with `OAUTH_ISSUER`, default `https://api.example.com` without |
//! | `OAUTH_JWKS_URI` | optional: fetch keys from here and skip discovery |
//! | `BIND` | optional: address to listen on, default `127.0.0.1:50051` |
//!
//! Plain http is accepted for a loopback issuer (such as a local test issuer); anything else
//! needs https. The server itself speaks plaintext HTTP/2 (h2c), as a server behind a
//! TLS-terminating proxy or mesh does.
//!
//! The first line printed on stdout is `listening on http://ADDR`, with the address actually
//! bound (so `BIND=127.0.0.1:0` reports the port the system chose). `RUST_LOG` sets what is
//! logged to stderr (default `info`; `RUST_LOG=bearer_guard=debug,info` adds each refusal).

mod common;
mod logs;

use std::io::Write;
use std::process::ExitCode;

use bearer_guard::testing::TestIssuer;
use bearer_guard::{
    Claims, DefaultRejection, GrpcScopes, GrpcScopesLayer, Guard, GuardLayer, JsonClaims,
    ScopeRequirement, Validator,
};
use tonic::server::NamedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tower::Layer;

// The code tonic-prost-build generated from examples/proto/orders.proto (see build.rs).
#[allow(unreachable_pub, missing_docs)]
mod pb {
    tonic::include_proto!("orders.v1");
}

use pb::orders_server::{Orders, OrdersServer};
use pb::{AdminRequest, ReadRequest, Reply, WhoAmIReply, WhoAmIRequest, WriteRequest};

const PROGRAM: &str = "grpc_server";

/// The orders service: its methods run only for calls the guard and the scopes let through.
#[derive(Debug, Default)]
struct OrdersService;

#[tonic::async_trait]
impl Orders for OrdersService {
    async fn who_am_i(
        &self,
        request: Request<WhoAmIRequest>,
    ) -> Result<Response<WhoAmIReply>, Status> {
        // The guard put the validated claims into the HTTP request's extensions; tonic hands
        // them on in the `tonic::Request`.
        let claims = request
            .extensions()
            .get::<Claims>()
            .ok_or_else(|| Status::internal("no claims: the guard is not in front"))?;
        let mut scopes: Vec<String> = claims.scopes().iter().map(str::to_owned).collect();
        scopes.sort();
        Ok(Response::new(WhoAmIReply {
            client_id: claims.client().unwrap_or_default().to_owned(),
            scopes,
        }))
    }

    async fn read(&self, _: Request<ReadRequest>) -> Result<Response<Reply>, Status> {
        Ok(reply("read ok"))
    }

    async fn write(&self, _: Request<WriteRequest>) -> Result<Response<Reply>, Status> {
        Ok(reply("write ok"))
    }

    async fn admin(&self, _: Request<AdminRequest>) -> Result<Response<Reply>, Status> {
        Ok(reply("admin ok"))
    }
}

fn reply(message: &str) -> Response<Reply> {
    Response::new(Reply {
        message: message.to_owned(),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    logs::init(PROGRAM, "info");
    let config = match common::Config::from_env() {
        Ok(config) => config,
        Err(message) => return common::usage(PROGRAM, &message),
    };
    // `common::Config` defaults to the HTTP examples' port; gRPC's customary one here.
    let bind = match common::optional("BIND") {
        Ok(bind) => bind.unwrap_or_else(|| "127.0.0.1:50051".to_owned()),
        Err(message) => return common::usage(PROGRAM, &message),
    };
    // With no issuer configured, bring one: it lives as long as this process.
    let (validator, embedded) = match &config.issuer {
        Some(issuer) => {
            match common::validator(PROGRAM, issuer, config.audience, config.jwks_uri) {
                Ok(validator) => (validator, None),
                Err(code) => return code,
            }
        }
        None if config.jwks_uri.is_some() => {
            return common::usage(PROGRAM, "OAUTH_JWKS_URI needs OAUTH_ISSUER");
        }
        None => {
            let issuer = embedded_issuer(config.audience).await;
            match Validator::builder().issuer(issuer.issuer_config()).build() {
                Ok(validator) => (validator, Some(issuer)),
                Err(error) => {
                    return common::usage(PROGRAM, &format!("invalid configuration: {error}"));
                }
            }
        }
    };
    let orders = match guarded_orders(validator) {
        Ok(orders) => orders,
        Err(error) => return common::usage(PROGRAM, &format!("invalid configuration: {error}")),
    };

    let (listener, address) = match common::listen(PROGRAM, &bind).await {
        Ok(bound) => bound,
        Err(code) => return code,
    };
    if let Some(issuer) = &embedded {
        print_try_it(issuer, &address.to_string());
    }
    // Whoever started us may be waiting for these lines on a pipe.
    let _ = std::io::stdout().flush();

    // The standard health service, added beside the guarded service and so not guarded:
    // load balancers and orchestrators probe it without a token.
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status(
            OrdersServer::<OrdersService>::NAME,
            tonic_health::ServingStatus::Serving,
        )
        .await;

    let result = Server::builder()
        .add_service(health)
        .add_service(orders)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{PROGRAM}: {error}");
            ExitCode::FAILURE
        }
    }
}

type GuardedOrders = Guard<GrpcScopes<OrdersServer<OrdersService>>, JsonClaims, DefaultRejection>;

/// The orders service behind the guard, with the scopes of its methods declared once; the
/// guard and the scope layer keep the service's name, so `add_service` routes to them.
fn guarded_orders(validator: Validator) -> Result<GuardedOrders, bearer_guard::ConfigError> {
    let scopes = GrpcScopesLayer::for_service(OrdersServer::<OrdersService>::NAME)?
        .method("Read", ScopeRequirement::all(["read"]))?
        .method("Write", ScopeRequirement::all(["write"]))?
        .method("Admin", ScopeRequirement::all(["admin"]))?;
    // WhoAmI is not listed: any valid token will do.
    Ok(GuardLayer::new(validator).layer(scopes.layer(OrdersServer::new(OrdersService))))
}

async fn embedded_issuer(audience: Option<String>) -> TestIssuer {
    let mut builder = common::with_clients(TestIssuer::builder(), &common::DEMO_CLIENTS);
    if let Some(audience) = audience {
        builder = builder.resource(audience);
    }
    builder.start().await
}

fn print_try_it(issuer: &TestIssuer, address: &str) {
    let token_url = issuer.token_endpoint();
    common::print_embedded_issuer(
        issuer,
        ("audience", issuer.audience()),
        &common::DEMO_CLIENTS,
    );
    let (id, secret, _) = common::DEMO_CLIENTS[1];
    let grpcurl = "grpcurl -plaintext -import-path examples/proto -proto orders.proto";
    println!();
    println!("Try it (grpcurl, from the crate's directory):");
    println!(
        "  TOKEN=$(curl -s -u {id}:{secret} -d grant_type=client_credentials -d scope=read {token_url} | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')"
    );
    println!(
        "  {grpcurl} -H \"authorization: Bearer $TOKEN\" {address} orders.v1.Orders/WhoAmI  # who you are"
    );
    println!(
        "  {grpcurl} -H \"authorization: Bearer $TOKEN\" {address} orders.v1.Orders/Read    # read ok"
    );
    println!(
        "  {grpcurl} -H \"authorization: Bearer $TOKEN\" {address} orders.v1.Orders/Write   # PermissionDenied"
    );
    println!(
        "  {grpcurl} {address} orders.v1.Orders/Read                              # Unauthenticated"
    );
    println!(
        "  grpc_health_probe -addr {address}                                    # SERVING, no token"
    );
}
