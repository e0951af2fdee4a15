//! RFC 9728 protected resource metadata over real HTTP on loopback (rules H.39–43): the
//! document, where it is served and where not, and the `resource_metadata` and `scope`
//! parameters of every 401 and 403.
#![cfg(feature = "axum")]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{GuardLayer, ResourceMetadata, ScopeRequirement, Validator};
use serde_json::{Value, json};

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

struct Server {
    base: String,
    resource: String,
    issuer: TestIssuer,
    http: reqwest::Client,
}

/// `/mcp` (guard-wide `mcp`) and `/mcp/admin` (also `admin`) behind the guard, the metadata
/// beside them; served on loopback. The resource identifier is configured as
/// `http://127.0.0.1:PORT/mcp`; the tokens name it as their audience.
async fn serve() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let resource = format!("{base}/mcp");
    let issuer = TestIssuer::start().await;
    let validator = Validator::builder()
        .issuer(bearer_guard::Issuer::new(issuer.issuer()).audience(&resource))
        .build()
        .unwrap();
    let metadata = ResourceMetadata::new(&resource, &validator)
        .unwrap()
        .resource_name("Orders MCP");
    let mut app = Router::new()
        .route(
            "/mcp",
            get(|| async { "tools" }).post(|| async { "called" }),
        )
        .merge(
            Router::new()
                .route("/mcp/admin", get(|| async { "admin" }))
                .route_layer(metadata.require_scope(ScopeRequirement::all(["admin"]))),
        )
        .route_layer(
            GuardLayer::new(validator)
                .require(ScopeRequirement::all(["mcp"]))
                .resource_metadata(&metadata)
                .unwrap(),
        );
    for path in metadata.paths() {
        app = app.route_service(path, metadata.service::<Body>());
    }
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        base,
        resource,
        issuer,
        http: reqwest::Client::new(),
    }
}

impl Server {
    fn metadata_url(&self) -> String {
        format!("{}{WELL_KNOWN}/mcp", self.base)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    fn token(&self, scope: &str) -> String {
        self.issuer
            .token()
            .audience(&self.resource)
            .scope(scope)
            .sign()
    }
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_document_is_served_at_the_inserted_and_the_root_path() {
    let server = serve().await;
    for path in [format!("{WELL_KNOWN}/mcp"), WELL_KNOWN.to_owned()] {
        let response = server.get(&path, None).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "max-age=3600");
        let document: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(
            document,
            json!({
                "resource": server.resource,
                "authorization_servers": [server.issuer.issuer()],
                "scopes_supported": ["admin", "mcp"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Orders MCP",
            }),
            "{path}"
        );
    }
}

#[tokio::test]
async fn only_get_at_exact_paths_and_never_from_the_host_header() {
    let server = serve().await;
    let response = server
        .http
        .post(server.metadata_url())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    for path in [
        format!("{WELL_KNOWN}/mcp/admin"),
        format!("{WELL_KNOWN}/mc"),
        format!("{WELL_KNOWN}/mcpx"),
        format!("{WELL_KNOWN}x"),
    ] {
        assert_eq!(server.get(&path, None).await.status(), 404, "{path}");
    }
    // A forged Host changes nothing: the identifier comes from configuration.
    let response = server
        .http
        .get(server.metadata_url())
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    let document: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(document["resource"], server.resource.as_str());
    let response = server
        .http
        .get(format!("{}/mcp", server.base))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert!(challenge(&response).contains(&server.metadata_url()));
}

#[tokio::test]
async fn every_401_and_403_points_at_the_metadata_and_names_the_scope() {
    let server = serve().await;
    let metadata = format!(r#"resource_metadata="{}""#, server.metadata_url());
    let expired = server
        .issuer
        .token()
        .audience(&server.resource)
        .scope("mcp")
        .expired()
        .sign();
    let other_resource = server
        .issuer
        .token()
        .audience("https://other.example")
        .scope("mcp")
        .sign();
    let cases = [
        (
            None,
            "/mcp",
            401,
            format!(r#"Bearer realm="api", scope="mcp", {metadata}"#),
        ),
        (
            Some(expired.as_str()),
            "/mcp",
            401,
            format!(
                r#"Bearer realm="api", error="invalid_token", error_description="The access token expired", scope="mcp", {metadata}"#
            ),
        ),
        (
            Some(other_resource.as_str()),
            "/mcp",
            401,
            format!(
                r#"Bearer realm="api", error="invalid_token", error_description="The access token is not meant for this resource", scope="mcp", {metadata}"#
            ),
        ),
    ];
    for (token, path, status, expected) in cases {
        for _ in 0..3 {
            let response = server.get(path, token).await;
            assert_eq!(response.status(), status);
            assert_eq!(challenge(&response), expected);
        }
    }
    // 403: the guard-wide requirement, then the route's, each with the metadata.
    let read = server.token("read");
    let mcp = server.token("mcp");
    for (token, path, scope) in [(&read, "/mcp", "mcp"), (&mcp, "/mcp/admin", "admin")] {
        for _ in 0..3 {
            let response = server.get(path, Some(token)).await;
            assert_eq!(response.status(), 403);
            assert_eq!(
                challenge(&response),
                format!(
                    r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="{scope}", {metadata}"#
                )
            );
        }
    }
    let response = server.get("/mcp", Some(&mcp)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "tools");
}
