//! Per-tool scopes of an MCP server over Streamable HTTP (rules H.43 and H.45), end to end:
//! `McpToolScopesLayer` behind a real guard and `TestIssuer` tokens. A `tools/call` of a tool
//! whose scopes the token lacks is 403 with the guard's challenge (`resource_metadata`
//! included); everything else reaches the server with its body byte for byte as sent. Every
//! token is sent three times (cold, when it enters the verified-token cache, and from it),
//! and the three answers must be the same.
#![cfg(all(feature = "axum", feature = "test-util", feature = "mcp"))]

mod common;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use axum::routing::post;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{
    ConfigError, ErrorKind, GuardLayer, McpToolScopesLayer, ResourceMetadata, ScopeRequirement,
};
use common::logs::CapturedLogs;
use common::{Reply, send};
use hyper::body::{Body as HttpBody, Frame};
use serde_json::{Value, json};

const RESOURCE: &str = "https://mcp.example/mcp";
const METADATA_URL: &str = "https://mcp.example/.well-known/oauth-protected-resource/mcp";
const LIMIT: usize = 1024;
const LATEST: &str = "2025-06-18";

fn insufficient(scope: &str) -> String {
    format!(
        r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="{scope}", resource_metadata="{METADATA_URL}""#
    )
}

// ---------------------------------------------------------------------------------------------
// The app and its requests

/// The tools: `list_orders` needs `orders:read`, `cancel_order` `orders:write`, `refund`
/// (`orders:write` and `billing`) or `admin`; `echo` is not declared.
fn tools(metadata: &ResourceMetadata) -> McpToolScopesLayer {
    McpToolScopesLayer::new()
        .tool("list_orders", ScopeRequirement::all(["orders:read"]))
        .unwrap()
        .declare_in(metadata)
        // Declared after `declare_in`: listed all the same.
        .tool("cancel_order", ScopeRequirement::all(["orders:write"]))
        .unwrap()
        .tool(
            "refund",
            ScopeRequirement::all(["orders:write", "billing"]).or(ScopeRequirement::all(["admin"])),
        )
        .unwrap()
        .max_body_bytes(LIMIT)
}

struct Mcp {
    issuer: TestIssuer,
    metadata: ResourceMetadata,
    app: Router,
}

/// `POST /mcp` echoes the body it received; `GET /mcp` answers `stream`. The route needs
/// `mcp` (declared in the metadata too), each declared tool its own scopes; the metadata
/// document is served beside them.
async fn mcp() -> Mcp {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator();
    let metadata = ResourceMetadata::new(RESOURCE, &validator).unwrap();
    let mut app = Router::new()
        .route("/mcp", post(echo).get(|| async { "stream" }))
        .route_layer(tools(&metadata))
        .route_layer(metadata.require_scope(ScopeRequirement::all(["mcp"])))
        .route_layer(
            GuardLayer::new(validator)
                .resource_metadata(&metadata)
                .unwrap(),
        );
    for path in metadata.paths() {
        app = app.route_service(path, metadata.service::<Body>());
    }
    Mcp {
        issuer,
        metadata,
        app,
    }
}

async fn echo(body: Bytes) -> Bytes {
    body
}

impl Mcp {
    fn token(&self, scope: &str) -> String {
        self.issuer.token().scope(scope).sign()
    }
}

/// A JSON-RPC request.
fn rpc(id: u32, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn call(id: u32, tool: &str) -> Value {
    rpc(id, "tools/call", json!({"name": tool, "arguments": {}}))
}

/// A JSON `POST /mcp` with `headers` besides.
fn post_json(token: Option<&str>, headers: &[(&str, &str)], body: Body) -> Request<Body> {
    let mut builder = Request::post("/mcp").header("content-type", "application/json");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body).unwrap()
}

/// Sends the request `build` makes three times; the answers must agree.
async fn send3(app: &Router, build: impl Fn() -> Request<Body>) -> Reply {
    let first = send(app, build()).await;
    for round in ["second", "cached"] {
        let again = send(app, build()).await;
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
            "{round} answer differs"
        );
    }
    first
}

/// Posts `body` as JSON three times and returns the answer.
async fn post3(app: &Router, token: Option<&str>, headers: &[(&str, &str)], body: &str) -> Reply {
    send3(app, || {
        post_json(token, headers, Body::from(body.to_owned()))
    })
    .await
}

/// A request body that arrives in the given chunks, its size unknown in advance.
struct Chunks(VecDeque<Bytes>);

impl HttpBody for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

fn chunked(body: &[u8], size: usize) -> Body {
    Body::new(Chunks(
        body.chunks(size).map(Bytes::copy_from_slice).collect(),
    ))
}

fn assert_passed(reply: &Reply, body: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body, body, "the server got the body as sent");
    assert_eq!(reply.kind, None);
}

// ---------------------------------------------------------------------------------------------
// Calls of declared tools

#[tokio::test]
async fn a_call_without_the_tools_scopes_is_403_naming_them() {
    let mcp = mcp().await;
    let reader = mcp.token("mcp orders:read");
    let writer = mcp.token("mcp orders:write");
    for (token, tool, scope) in [
        (&reader, "cancel_order", "orders:write"),
        // The alternative closest to the token's scopes, whole.
        (&reader, "refund", "admin"),
        (&writer, "refund", "orders:write billing"),
        (&writer, "list_orders", "orders:read"),
    ] {
        let body = call(1, tool).to_string();
        let reply = post3(&mcp.app, Some(token), &[], &body).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{tool}");
        assert_eq!(reply.www_authenticate, Some(insufficient(scope)), "{tool}");
        assert_eq!(reply.kind, Some(ErrorKind::InsufficientScope));
        assert_eq!(reply.body, "");
    }
}

#[tokio::test]
async fn a_call_with_the_tools_scopes_reaches_the_server_byte_for_byte() {
    let mcp = mcp().await;
    let token = mcp.token("mcp orders:read orders:write billing");
    // Odd spacing, escapes, non-ASCII, a member order of its own: nothing is re-serialized.
    let body = "{ \"params\" : {\"arguments\":{\"note\":\"caf\u{e9} \\u00e9 \\\"q\\\"\"},\"name\":\"refund\"},\n\t\"method\":\"tools/call\",\"id\":7,\"jsonrpc\":\"2.0\"}  ";
    assert_passed(&post3(&mcp.app, Some(&token), &[], body).await, body);
    for tool in ["list_orders", "cancel_order"] {
        let body = call(2, tool).to_string();
        assert_passed(&post3(&mcp.app, Some(&token), &[], &body).await, &body);
    }
    // In many chunks, its size unknown in advance.
    let reply = send3(&mcp.app, || {
        post_json(Some(&token), &[], chunked(body.as_bytes(), 5))
    })
    .await;
    assert_passed(&reply, body);
}

#[tokio::test]
async fn other_methods_and_undeclared_tools_pass_with_the_routes_requirement() {
    let mcp = mcp().await;
    let token = mcp.token("mcp");
    for body in [
        rpc(
            1,
            "initialize",
            json!({"protocolVersion": LATEST, "capabilities": {}, "clientInfo": {"name": "cancel_order", "version": "1"}}),
        ),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        rpc(2, "tools/list", json!({})),
        rpc(3, "prompts/get", json!({"name": "cancel_order"})),
        call(4, "echo"),
        json!({"jsonrpc": "2.0", "id": 5, "result": {}}),
    ] {
        let body = body.to_string();
        let reply = post3(
            &mcp.app,
            Some(&token),
            &[("mcp-protocol-version", LATEST)],
            &body,
        )
        .await;
        assert_passed(&reply, &body);
    }
    // The route's own requirement still holds.
    let reply = post3(
        &mcp.app,
        Some(&mcp.token("other")),
        &[],
        &call(1, "echo").to_string(),
    )
    .await;
    assert_eq!(reply.www_authenticate, Some(insufficient("mcp")));
}

#[tokio::test]
async fn duplicate_tool_names_are_a_configuration_error() {
    let result = McpToolScopesLayer::new()
        .tool("a", ScopeRequirement::all(["read"]))
        .and_then(|layer| layer.tool("a", ScopeRequirement::all(["admin"])));
    assert_eq!(result.unwrap_err(), ConfigError::DuplicateTool("a".into()));
}

// ---------------------------------------------------------------------------------------------
// Batches

#[tokio::test]
async fn a_batch_with_one_forbidden_call_is_403_naming_all_it_needs() {
    let mcp = mcp().await;
    let token = mcp.token("mcp orders:read");
    let batch = json!([
        rpc(1, "tools/list", json!({})),
        call(2, "list_orders"),
        call(3, "cancel_order")
    ])
    .to_string();
    for version in [None, Some("2025-03-26"), Some(LATEST)] {
        let headers: Vec<_> = version
            .map(|v| ("mcp-protocol-version", v))
            .into_iter()
            .collect();
        let reply = post3(&mcp.app, Some(&token), &headers, &batch).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{version:?}");
        // Everything the batch needs: the allowed call's scope too, or a token with only
        // `orders:write` would fail the next try.
        assert_eq!(
            reply.www_authenticate,
            Some(insufficient("orders:read orders:write")),
            "{version:?}"
        );
    }
}

#[tokio::test]
async fn batches_of_allowed_calls_pass_untouched_under_every_version() {
    let mcp = mcp().await;
    let token = mcp.token("mcp orders:read");
    let batch = json!([
        call(1, "list_orders"),
        call(2, "echo"),
        rpc(3, "ping", json!({}))
    ])
    .to_string();
    for version in [None, Some("2025-03-26"), Some(LATEST)] {
        let headers: Vec<_> = version
            .map(|v| ("mcp-protocol-version", v))
            .into_iter()
            .collect();
        assert_passed(
            &post3(&mcp.app, Some(&token), &headers, &batch).await,
            &batch,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies that are not read, or not JSON-RPC

#[tokio::test]
async fn an_oversized_body_is_413_whether_its_length_is_known_or_not() {
    let mcp = mcp().await;
    let token = mcp.token("mcp orders:read orders:write");
    let padded = |len: usize| {
        let body = call(1, "echo").to_string();
        format!("{body}{}", " ".repeat(len - body.len()))
    };
    let at_limit = padded(LIMIT);
    assert_passed(
        &post3(&mcp.app, Some(&token), &[], &at_limit).await,
        &at_limit,
    );
    let over = padded(LIMIT + 1);
    let reply = post3(&mcp.app, Some(&token), &[], &over).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "")
    );
    let reply = send3(&mcp.app, || {
        post_json(Some(&token), &[], chunked(over.as_bytes(), 100))
    })
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn invalid_json_reaches_the_server_unchanged() {
    let mcp = mcp().await;
    let token = mcp.token("mcp");
    for body in [
        "not json",
        r#"{"jsonrpc": "2.0", "method": "tools/call", "params": "#,
        "",
        "\u{feff}{}",
    ] {
        assert_passed(&post3(&mcp.app, Some(&token), &[], body).await, body);
    }
    // What was read before the error is checked all the same.
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"cancel_order"},"x":NaN}"#;
    let reply = post3(&mcp.app, Some(&token), &[], body).await;
    assert_eq!(reply.www_authenticate, Some(insufficient("orders:write")));
}

#[tokio::test]
async fn get_and_posts_of_other_types_pass_unread() {
    let mcp = mcp().await;
    let token = mcp.token("mcp");
    let reply = send3(&mcp.app, || {
        Request::get("/mcp")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    })
    .await;
    assert_passed(&reply, "stream");
    let body = call(1, "cancel_order").to_string();
    let reply = send3(&mcp.app, || {
        Request::post("/mcp")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "text/plain")
            .body(Body::from(body.clone()))
            .unwrap()
    })
    .await;
    assert_passed(&reply, &body);
}

#[tokio::test]
async fn a_compressed_json_body_is_415() {
    let mcp = mcp().await;
    let token = mcp.token("mcp orders:write");
    let reply = post3(
        &mcp.app,
        Some(&token),
        &[("content-encoding", "gzip")],
        "\u{1f}",
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(reply.headers["accept-encoding"], "identity");
}

// ---------------------------------------------------------------------------------------------
// Without a guard, and behind an optional one

#[tokio::test]
async fn without_a_guard_in_front_every_request_is_500() {
    let issuer = TestIssuer::start().await;
    let metadata = ResourceMetadata::new(RESOURCE, &issuer.validator()).unwrap();
    let app = Router::new()
        .route("/mcp", post(echo))
        .route_layer(tools(&metadata));
    let token = issuer.token().scope("mcp orders:write").sign();
    for body in [call(1, "cancel_order"), rpc(2, "tools/list", json!({}))] {
        let reply = post3(&app, Some(&token), &[], &body.to_string()).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(reply.kind, Some(ErrorKind::GuardMissing));
        assert_eq!(reply.www_authenticate, None);
    }
}

#[tokio::test]
async fn an_anonymous_call_of_a_declared_tool_behind_an_optional_guard_is_401() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator();
    let metadata = ResourceMetadata::new(RESOURCE, &validator).unwrap();
    let app = Router::new()
        .route("/mcp", post(echo))
        .route_layer(tools(&metadata))
        .route_layer(
            GuardLayer::new(validator)
                .optional()
                .resource_metadata(&metadata)
                .unwrap(),
        );
    let reply = post3(&app, None, &[], &call(1, "cancel_order").to_string()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.www_authenticate.as_deref(),
        Some(format!(r#"Bearer realm="api", resource_metadata="{METADATA_URL}""#).as_str())
    );
    assert_eq!(reply.kind, Some(ErrorKind::MissingCredentials));
    for body in [call(1, "echo"), rpc(2, "tools/list", json!({}))] {
        let body = body.to_string();
        assert_passed(&post3(&app, None, &[], &body).await, &body);
    }
}

// ---------------------------------------------------------------------------------------------
// Metadata and logs

#[tokio::test]
async fn declared_tool_scopes_are_listed_in_scopes_supported() {
    let mcp = mcp().await;
    let reply = send3(&mcp.app, || {
        Request::get("/.well-known/oauth-protected-resource/mcp")
            .body(Body::empty())
            .unwrap()
    })
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let document: Value = serde_json::from_str(&reply.body).unwrap();
    let listed = json!(["orders:read", "orders:write", "billing", "admin", "mcp"]);
    assert_eq!(document["scopes_supported"], listed);
    assert_eq!(mcp.metadata.document()["scopes_supported"], listed);
}

#[tokio::test]
async fn logs_name_the_tool_and_the_kind_never_the_token_or_the_body() {
    let logs = CapturedLogs::global();
    let mcp = mcp().await;
    let token = mcp.token("mcp orders:read");
    let body = rpc(
        1,
        "tools/call",
        json!({"name": "cancel_order", "arguments": {"secret": "body-secret-8d1f"}}),
    )
    .to_string();
    let reply = post3(&mcp.app, Some(&token), &[], &body).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("tools/call refused") && l.contains("cancel_order"))
        .unwrap_or_else(|| panic!("no line for the refusal in {text}"));
    assert!(line.contains("insufficient_scope"), "{line}");
    assert!(!text.contains(&token), "a token in the logs");
    assert!(!text.contains("body-secret-8d1f"), "the body in the logs");
}
