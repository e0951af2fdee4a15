//! Drives the `mcp_server` example over real HTTP, as an MCP client would: the compiled binary
//! with its embedded test issuer, the RFC 9728 metadata, the 401 and 403 challenges, and
//! JSON-RPC `initialize`, `tools/list` and `tools/call` over Streamable HTTP with tokens from
//! the issuer for `resource` = the MCP URL. Then the official MCP TypeScript SDK against it
//! (`interop/mcp_client.mjs`, needs `npm ci --prefix interop`).
//!
//! rmcp is built only with the feature `rmcp-example`, and `cargo test --test …` builds no
//! example binary (`--examples` builds them as test harnesses), so:
//!
//! ```text
//! cargo build --example mcp_server --features rmcp-example
//! cargo test --features rmcp-example --test mcp_server_example
//! ```
//!
//! (a plain `cargo test --features rmcp-example` builds the binary and runs everything).
#![cfg(feature = "rmcp-example")]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use common::example_binary;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const PROTOCOL: &str = "2025-06-18";

/// The running example: its base URL, the MCP URL and the embedded issuer's token endpoint.
struct Example {
    _child: Child,
    base: String,
    mcp: String,
    issuer: String,
    token_endpoint: String,
}

/// Starts `mcp_server` on a free port with the embedded issuer, reading what it prints up to
/// its last line (the `node interop/mcp_client.mjs …` command).
async fn start_example() -> Example {
    let binary = example_binary("mcp_server");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mcp_server.rs");
    assert!(
        modified(&binary)
            .is_some_and(|built| modified(&source).is_none_or(|edited| built >= edited)),
        "{} is missing or older than its source: build it with \
         `cargo build --example mcp_server --features rmcp-example`",
        binary.display()
    );
    let mut child = Command::new(binary)
        .env("BIND", "127.0.0.1:0")
        .env_remove("OAUTH_ISSUER")
        .env_remove("OAUTH_AUDIENCE")
        .env_remove("OAUTH_JWKS_URI")
        .env_remove("PUBLIC_URL")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the mcp_server example starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut printed = Vec::new();
    while let Some(line) = stdout.next_line().await.expect("stdout") {
        let done = line.contains("node interop/mcp_client.mjs");
        printed.push(line);
        if done {
            break;
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    let base = printed[0]
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {:?}", printed[0]))
        .to_owned();
    let value = |label: &str| {
        printed
            .iter()
            .find_map(|line| line.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {label:?} line in {printed:#?}"))
    };
    let mcp = value("resource");
    assert_eq!(mcp, format!("{base}/mcp"));
    for client in [
        "mcp-admin / mcp-admin-secret",
        "mcp-reader / mcp-reader-secret",
    ] {
        assert!(
            printed.iter().any(|line| line.contains(client)),
            "{client} in {printed:#?}"
        );
    }
    Example {
        _child: child,
        base,
        mcp,
        issuer: value("issuer"),
        token_endpoint: value("token endpoint"),
    }
}

impl Example {
    fn metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.base)
    }

    /// A token for `client` (its secret is `{client}-secret`) for `resource`.
    async fn token(&self, http: &reqwest::Client, client: &str, resource: &str) -> String {
        let response = http
            .post(&self.token_endpoint)
            .basic_auth(client, Some(format!("{client}-secret")))
            .form(&[("grant_type", "client_credentials"), ("resource", resource)])
            .send()
            .await
            .expect("the issuer answers");
        assert_eq!(response.status(), 200, "token for {client}");
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        body["access_token"].as_str().expect("a token").to_owned()
    }
}

/// One answer of `/mcp`.
#[derive(Debug)]
struct Reply {
    status: u16,
    challenge: Option<String>,
    session: Option<String>,
    body: String,
}

impl Reply {
    /// The JSON-RPC response with id `id`, whether sent as JSON or as server-sent events.
    fn rpc(&self, id: u64) -> Value {
        let found = std::iter::once(self.body.as_str())
            .chain(
                self.body
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(str::trim),
            )
            .filter_map(|text| serde_json::from_str::<Value>(text).ok())
            .find(|message| message["id"] == json!(id));
        found.unwrap_or_else(|| panic!("no response with id {id} in {self:?}"))
    }
}

/// A JSON-RPC POST to `/mcp`.
async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    session: Option<&str>,
    message: &Value,
) -> Reply {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", PROTOCOL)
        .body(message.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let response = request.send().await.expect("the example answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Reply {
        status: response.status().as_u16(),
        challenge: header("www-authenticate"),
        session: header("mcp-session-id"),
        body: response.text().await.expect("a body"),
    }
}

/// An MCP session: `initialize`, then `notifications/initialized`.
async fn session(http: &reqwest::Client, url: &str, token: &str) -> String {
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": { "name": "bearer-guard-test", "version": "1" }
        }
    });
    let reply = post(http, url, Some(token), None, &initialize).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let result = &reply.rpc(1)["result"];
    assert_eq!(result["protocolVersion"], PROTOCOL, "{reply:?}");
    assert!(result["capabilities"]["tools"].is_object(), "{reply:?}");
    let session = reply.session.clone().expect("an mcp-session-id");
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let reply = post(http, url, Some(token), Some(&session), &initialized).await;
    assert_eq!(reply.status, 202, "{reply:?}");
    session
}

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": { "name": tool, "arguments": arguments }
    })
}

/// The JSON a tool answered with, as its text content.
fn tool_json(reply: &Reply, id: u64) -> Value {
    assert_eq!(reply.status, 200, "{reply:?}");
    let result = &reply.rpc(id)["result"];
    assert_ne!(result["isError"], json!(true), "{reply:?}");
    let text = result["content"][0]["text"].as_str().expect("text content");
    serde_json::from_str(text).expect("JSON text")
}

#[tokio::test]
async fn metadata_challenges_and_tools_over_streamable_http() {
    let example = start_example().await;
    let http = reqwest::Client::new();
    let mcp = example.mcp.as_str();

    // RFC 9728 metadata, at the inserted path and the root one, without a token.
    let expected = json!({
        "resource": mcp,
        "authorization_servers": [example.issuer],
        "scopes_supported": ["orders:read", "orders:write"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Orders (bearer-guard MCP example)",
    });
    for url in [
        example.metadata_url(),
        format!("{}/.well-known/oauth-protected-resource", example.base),
    ] {
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let document: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(document, expected, "{url}");
    }

    // No token: 401 pointing at the metadata (rule H.42), no `error`.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
    let reply = post(&http, mcp, None, None, &initialize).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    let metadata_param = format!(r#"resource_metadata="{}""#, example.metadata_url());
    assert_eq!(
        reply.challenge,
        Some(format!(r#"Bearer realm="api", {metadata_param}"#))
    );

    // A token for another resource (the issuer grants any loopback resource): 401 (H.44).
    let elsewhere = example
        .token(&http, "mcp-admin", &format!("{}/other", example.base))
        .await;
    let reply = post(&http, mcp, Some(&elsewhere), None, &initialize).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    let challenge = reply.challenge.unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(challenge.contains(&metadata_param), "{challenge}");

    // The admin: every tool.
    let admin = example.token(&http, "mcp-admin", mcp).await;
    let session_id = session(&http, mcp, &admin).await;
    let session_id = Some(session_id.as_str());
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let reply = post(&http, mcp, Some(&admin), session_id, &list).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let mut names: Vec<String> = reply.rpc(2)["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["create_order", "read_orders", "whoami"]);

    let reply = post(
        &http,
        mcp,
        Some(&admin),
        session_id,
        &call(3, "whoami", json!({})),
    )
    .await;
    assert_eq!(
        tool_json(&reply, 3),
        json!({"client_id": "mcp-admin", "scopes": ["orders:read", "orders:write"]})
    );
    let order = json!({"item": "widget", "quantity": 3});
    let reply = post(
        &http,
        mcp,
        Some(&admin),
        session_id,
        &call(4, "create_order", order),
    )
    .await;
    assert_eq!(
        tool_json(&reply, 4),
        json!({"created": {"id": 1, "item": "widget", "quantity": 3}})
    );
    let reply = post(
        &http,
        mcp,
        Some(&admin),
        session_id,
        &call(5, "read_orders", json!({})),
    )
    .await;
    assert_eq!(
        tool_json(&reply, 5),
        json!({"orders": [{"id": 1, "item": "widget", "quantity": 3}]})
    );

    // The reader: initialize, tools/list, whoami and read_orders; create_order refused with
    // the 403 challenge before the tool runs (H.43, H.45).
    let reader = example.token(&http, "mcp-reader", mcp).await;
    let session_id = session(&http, mcp, &reader).await;
    let session_id = Some(session_id.as_str());
    let reply = post(&http, mcp, Some(&reader), session_id, &list).await;
    assert_eq!(reply.rpc(2)["result"]["tools"].as_array().unwrap().len(), 3);
    let reply = post(
        &http,
        mcp,
        Some(&reader),
        session_id,
        &call(3, "whoami", json!({})),
    )
    .await;
    assert_eq!(
        tool_json(&reply, 3),
        json!({"client_id": "mcp-reader", "scopes": ["orders:read"]})
    );
    let reply = post(
        &http,
        mcp,
        Some(&reader),
        session_id,
        &call(4, "read_orders", json!({})),
    )
    .await;
    assert_eq!(tool_json(&reply, 4)["orders"].as_array().unwrap().len(), 1);
    let order = json!({"item": "gadget"});
    let reply = post(
        &http,
        mcp,
        Some(&reader),
        session_id,
        &call(5, "create_order", order),
    )
    .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(
        reply.challenge,
        Some(format!(
            r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="orders:write", {metadata_param}"#
        ))
    );
    // The tool did not run: still one order.
    let reply = post(
        &http,
        mcp,
        Some(&reader),
        session_id,
        &call(6, "read_orders", json!({})),
    )
    .await;
    assert_eq!(tool_json(&reply, 6)["orders"].as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// The official MCP TypeScript SDK against the example
// ---------------------------------------------------------------------------------------------

/// Whether `interop/node_modules` is there; if not, fails under CI and skips (loudly) elsewhere.
fn interop_ready(interop: &Path) -> bool {
    if interop
        .join("node_modules/@modelcontextprotocol/sdk")
        .is_dir()
    {
        return true;
    }
    let message = format!(
        "{} has no node_modules: run `npm ci --prefix interop` (needs Node.js 20+)",
        interop.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    // Straight to stderr, past the test harness's capture: a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: the MCP TypeScript SDK interop test: {message}"
    );
    false
}

/// Runs `node interop/mcp_client.mjs URL CLIENT SECRET`: its exit status and stdout lines.
async fn run_sdk_client(mcp: &str, client: &str) -> (bool, Vec<String>) {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop");
    let output = Command::new("node")
        .arg(interop.join("mcp_client.mjs"))
        .args([mcp, client, &format!("{client}-secret")])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("node runs (Node.js 20+ must be installed)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("--- node mcp_client.mjs {mcp} {client}\n{stdout}{stderr}");
    (
        output.status.success(),
        stdout.lines().map(str::to_owned).collect(),
    )
}

#[tokio::test]
async fn the_typescript_sdk_discovers_authenticates_and_calls_the_tools() {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop");
    if !interop_ready(&interop) {
        return;
    }
    let example = start_example().await;
    let mcp = example.mcp.as_str();
    let metadata = example.metadata_url();
    let token_endpoint = &example.token_endpoint;

    let (ok, lines) = run_sdk_client(mcp, "mcp-admin").await;
    assert!(ok, "the SDK client failed: {lines:#?}");
    let expected_in_order = [
        format!("> POST {mcp} initialize"),
        format!(r#"< 401  www-authenticate: Bearer realm="api", resource_metadata="{metadata}""#),
        format!("> GET {metadata}"),
        format!("> POST {token_endpoint} [Basic] grant_type=client_credentials resource={mcp}"),
        format!("> POST {mcp} [Bearer] initialize"),
        "ok a token was obtained with the client credentials grant".to_owned(),
        "ok tools/list: create_order, read_orders, whoami".to_owned(),
        "ok tools/call whoami: client_id=mcp-admin scopes=orders:read orders:write".to_owned(),
        "ok tools/call read_orders: 0 order(s)".to_owned(),
        "ok tools/call create_order: created order 1".to_owned(),
        "done".to_owned(),
    ];
    assert_in_order(&lines, &expected_in_order);

    let (ok, lines) = run_sdk_client(mcp, "mcp-reader").await;
    assert!(ok, "the SDK client failed: {lines:#?}");
    let expected_in_order = [
        format!("> POST {token_endpoint} [Basic] grant_type=client_credentials resource={mcp}"),
        "ok tools/list: create_order, read_orders, whoami".to_owned(),
        "ok tools/call whoami: client_id=mcp-reader scopes=orders:read".to_owned(),
        "ok tools/call read_orders: 1 order(s)".to_owned(),
        format!("> POST {mcp} [Bearer] tools/call create_order"),
        format!(
            r#"< 403  www-authenticate: Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="orders:write", resource_metadata="{metadata}""#
        ),
        "ok tools/call create_order without orders:write is refused".to_owned(),
        "< the SDK threw StreamableHTTPError: Streamable HTTP error: Server returned 403 after trying upscoping".to_owned(),
        "ok the refusal was the 403 insufficient_scope challenge naming orders:write and resource_metadata".to_owned(),
        "done".to_owned(),
    ];
    assert_in_order(&lines, &expected_in_order);
}

/// Each of `expected` is a line of `lines`, in this order.
fn assert_in_order(lines: &[String], expected: &[String]) {
    let mut rest = lines.iter();
    for want in expected {
        assert!(
            rest.any(|line| line == want),
            "missing (or out of order): {want:?}\nin {lines:#?}"
        );
    }
}
