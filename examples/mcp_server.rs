//! Run with `cargo run --example mcp_server --features rmcp-example`
//!
//! An MCP server (Streamable HTTP, built with [rmcp](https://docs.rs/rmcp)) that is an OAuth 2.0
//! protected resource, as the MCP authorization specification asks: `/mcp` needs an access
//! token whose `aud` names the server (RFC 8707), the protected resource metadata (RFC 9728)
//! tells clients where to get one, and each tool has its own scopes, checked before it runs.
//!
//! The feature `rmcp-example` is needed because rmcp is an optional dependency of this crate,
//! so that the other examples and the tests do not build it.
//!
//! With no configuration it starts its own authorization server (a
//! [`TestIssuer`](bearer_guard::testing::TestIssuer) on loopback, which grants tokens for any
//! loopback resource) and prints its clients, their secrets and a ready command. To guard the
//! server with your own identity provider, set:
//!
//! | variable | meaning |
//! |---|---|
//! | `OAUTH_ISSUER` | the issuer, compared byte for byte with `iss`; its keys are found by discovery. Unset: the embedded test issuer |
//! | `OAUTH_AUDIENCE` | optional: the audience tokens must name in `aud`, a comma-separated list for several; default the resource identifier, `{PUBLIC_URL}/mcp` |
//! | `OAUTH_JWKS_URI` | optional: fetch keys from here and skip discovery |
//! | `BIND` | optional: address to listen on, default `127.0.0.1:3001` |
//! | `PUBLIC_URL` | optional: the URL clients reach this server at, default `http://` and the bound address. The resource identifier is `{PUBLIC_URL}/mcp` |
//!
//! The first line printed on stdout is `listening on http://ADDR`, with the address actually
//! bound (so `BIND=127.0.0.1:0` reports the port the system chose).
//!
//! | path | answers |
//! |---|---|
//! | `POST /mcp` (and `GET`, `DELETE`: the Streamable HTTP transport) | any valid token for the resource; `tools/call` of `read_orders` needs `orders:read`, of `create_order` `orders:write` (403 `insufficient_scope` otherwise) |
//! | `GET /.well-known/oauth-protected-resource/mcp` | the RFC 9728 metadata, no token needed (also at `/.well-known/oauth-protected-resource`) |
//!
//! | tool | needs | does |
//! |---|---|---|
//! | `whoami` | any valid token | the caller's client id and granted scopes, from the validated token |
//! | `read_orders` | `orders:read` | lists the orders |
//! | `create_order` | `orders:write` | adds an order (`item`, `quantity`) |

mod common;
mod logs;

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{Claims, GuardLayer, McpToolScopesLayer, ResourceMetadata, ScopeRequirement};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde_json::json;

const PROGRAM: &str = "mcp_server";

/// The scopes of the tools that need one.
const READ: &str = "orders:read";
const WRITE: &str = "orders:write";

/// Clients of the embedded issuer: one with every scope, one that may only read.
const CLIENTS: [common::DemoClient; 2] = [
    ("mcp-admin", "mcp-admin-secret", &[READ, WRITE]),
    ("mcp-reader", "mcp-reader-secret", &[READ]),
];

#[tokio::main]
async fn main() -> ExitCode {
    logs::init(PROGRAM, "info");
    let config = match common::Config::from_env() {
        Ok(config) => config,
        Err(message) => return common::usage(PROGRAM, &message),
    };
    let bind = match common::optional("BIND") {
        Ok(bind) => bind.unwrap_or_else(|| "127.0.0.1:3001".to_owned()),
        Err(message) => return common::usage(PROGRAM, &message),
    };
    if config.issuer.is_none() && config.jwks_uri.is_some() {
        return common::usage(PROGRAM, "OAUTH_JWKS_URI needs OAUTH_ISSUER");
    }

    let (listener, address) = match common::listen(PROGRAM, &bind).await {
        Ok(bound) => bound,
        Err(code) => return code,
    };

    // The resource identifier comes from configuration (or the bound address), never from a
    // request's Host header (rule H.39).
    let public_url = config
        .public_url
        .unwrap_or_else(|| format!("http://{address}"));
    let resource = format!("{}/mcp", public_url.trim_end_matches('/'));
    let audience = config.audience.unwrap_or_else(|| resource.clone());

    // With no issuer configured, bring one: it lives as long as this process.
    let embedded = match config.issuer {
        Some(_) => None,
        None => Some(embedded_issuer(&audience).await),
    };
    let issuer = match (&config.issuer, &embedded) {
        (Some(issuer), _) => issuer.clone(),
        (None, Some(embedded)) => embedded.issuer().to_owned(),
        (None, None) => unreachable!("an issuer is configured or embedded"),
    };
    let validator = match common::validator(PROGRAM, &issuer, Some(audience), config.jwks_uri) {
        Ok(validator) => validator,
        Err(code) => return code,
    };

    let app = match app(validator, &resource) {
        Ok(app) => app,
        Err(error) => return common::usage(PROGRAM, &format!("PUBLIC_URL: {error}")),
    };
    if let Some(issuer) = &embedded {
        print_try_it(issuer, &resource);
    }
    // Whoever started us may be waiting for these lines on a pipe.
    let _ = std::io::stdout().flush();

    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async {
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

/// The routes: `/mcp` behind the guard and the per-tool scopes, the metadata open.
fn app(validator: bearer_guard::Validator, resource: &str) -> Result<Router, String> {
    let metadata = ResourceMetadata::new(resource, &validator)
        .map_err(|e| e.to_string())?
        .resource_name("Orders (bearer-guard MCP example)");
    // One declaration per tool: enforced before the tool runs, and listed in
    // `scopes_supported`. `whoami`, `initialize`, `tools/list`… need only a valid token.
    let tool_scopes = McpToolScopesLayer::new()
        .tool("read_orders", ScopeRequirement::all([READ]))
        .and_then(|layer| layer.tool("create_order", ScopeRequirement::all([WRITE])))
        .map_err(|e| e.to_string())?
        .declare_in(&metadata);

    // rmcp checks the Host header against loopback names by default (DNS rebinding); the
    // public host is allowed too.
    let mut allowed_hosts = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
    if let Some(host) = url::Url::parse(resource)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
    {
        allowed_hosts.push(host.trim_matches(['[', ']']).to_owned());
    }
    let orders = Orders::default();
    let mcp = StreamableHttpService::new(
        move || Ok(OrdersServer::new(orders.clone())),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts),
    );

    let guard = GuardLayer::new(validator)
        .resource_metadata(&metadata)
        .map_err(|e| e.to_string())?;
    let mut app = Router::new()
        .route_service("/mcp", mcp)
        // Added before the guard, so it runs after it, with the validated token.
        .route_layer(tool_scopes)
        .route_layer(guard);
    // Added after the guard: reachable without a token.
    for path in metadata.paths() {
        app = app.route_service(path, metadata.service::<Body>());
    }
    Ok(app)
}

/// The orders, shared by every MCP session.
#[derive(Clone, Default)]
struct Orders(Arc<Mutex<Vec<serde_json::Value>>>);

/// The MCP server of one session.
#[derive(Clone)]
struct OrdersServer {
    orders: Orders,
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct NewOrder {
    /// What to order.
    item: String,
    /// How many (default 1).
    quantity: Option<u32>,
}

#[tool_router]
impl OrdersServer {
    fn new(orders: Orders) -> Self {
        Self {
            orders,
            tool_router: Self::tool_router(),
        }
    }

    /// The validated token's claims: the guard put them in the HTTP request's extensions,
    /// and rmcp hands the request's parts to tools.
    #[tool(description = "Who is calling: the client id and the scopes granted to its token")]
    fn whoami(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<String, ErrorData> {
        let claims = parts
            .extensions
            .get::<Claims>()
            .ok_or_else(|| ErrorData::internal_error("no validated token", None))?;
        Ok(json!({
            "client_id": claims.client_id(),
            "scopes": claims.scopes(),
        })
        .to_string())
    }

    #[tool(description = "List the orders (needs the scope orders:read)")]
    fn read_orders(&self) -> String {
        let orders = self.orders.0.lock().unwrap_or_else(PoisonError::into_inner);
        json!({ "orders": *orders }).to_string()
    }

    #[tool(description = "Place an order (needs the scope orders:write)")]
    fn create_order(&self, Parameters(order): Parameters<NewOrder>) -> String {
        let mut orders = self.orders.0.lock().unwrap_or_else(PoisonError::into_inner);
        let order = json!({
            "id": orders.len() + 1,
            "item": order.item,
            "quantity": order.quantity.unwrap_or(1),
        });
        orders.push(order.clone());
        json!({ "created": order }).to_string()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for OrdersServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("Orders, guarded by OAuth 2.0 (bearer-guard example)")
    }
}

async fn embedded_issuer(audience: &str) -> TestIssuer {
    // The audiences are known resources (the first is the default `aud`); any other loopback
    // URL is accepted too, for clients that ask for a token for the URL they call. Some MCP
    // clients (the TypeScript SDK, for one) require `authorization_endpoint` in the issuer's
    // metadata, even for client credentials.
    let builder = audience
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .fold(TestIssuer::builder(), |builder, audience| {
            builder.resource(audience)
        })
        .allow_loopback_resources()
        .authorization_endpoint();
    common::with_clients(builder, &CLIENTS).start().await
}

fn print_try_it(issuer: &TestIssuer, resource: &str) {
    let token_url = issuer.token_endpoint();
    common::print_embedded_issuer(issuer, ("resource", resource), &CLIENTS);
    let (id, secret, _) = CLIENTS[0];
    println!();
    println!("Try it:");
    println!(
        "  TOKEN=$(curl -s -u {id}:{secret} -d grant_type=client_credentials --data-urlencode resource={resource} {token_url} | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')"
    );
    println!(
        "  curl -i -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"1\"}}}}}}' {resource}"
    );
    println!("With the MCP TypeScript SDK (Node.js 20+):");
    println!("  npm ci --prefix interop && node interop/mcp_client.mjs {resource} {id} {secret}");
}
