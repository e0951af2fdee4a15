//! Drives the `resource_server` example as a user would: the compiled binary, configured from
//! the environment, against a real discovery + JWKS server on loopback.
#![cfg(feature = "axum")]

mod common;

use std::path::PathBuf;
use std::process::Stdio;

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `target/<profile>/examples/resource_server`, built by `cargo test` beside the test binaries.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    profile_dir
        .join("examples")
        .join(format!("resource_server{}", std::env::consts::EXE_SUFFIX))
}

async fn start_example(issuer: &str) -> (Child, String) {
    let mut child = Command::new(example_binary())
        .env("OAUTH_ISSUER", issuer)
        .env("OAUTH_AUDIENCE", AUDIENCE)
        .env("BIND", "127.0.0.1:0")
        .env_remove("OAUTH_JWKS_URI")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the resource_server example is built by `cargo test --all-features`");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut first_line = String::new();
    BufReader::new(stdout)
        .read_line(&mut first_line)
        .await
        .expect("first line");
    let base = first_line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .to_owned();
    (child, base)
}

#[tokio::test]
async fn every_route_of_the_example_with_tokens_from_a_discovered_issuer() {
    let idp = IdpServer::start().await;
    let (_child, base) = start_example(&idp.issuer).await;
    let http = reqwest::Client::new();
    let with_scope = |scope: &str| {
        mint(
            &header("ES256", Key::EcP256.kid()),
            &payload_with(&idp.issuer, json!({ "scope": scope })),
            Key::EcP256,
            Key::EcP256.alg(),
        )
    };
    let all = with_scope("read write admin");
    let read_only = with_scope("read");

    // (method, path, token, status, body or challenge)
    let cases: [(&str, &str, Option<&str>, u16, &str); 9] = [
        ("GET", "/public", None, 200, "public"),
        ("GET", "/read", None, 401, r#"Bearer realm="api""#),
        ("GET", "/read", Some(&all), 200, "read ok"),
        ("POST", "/write", Some(&all), 200, "write ok"),
        ("GET", "/admin", Some(&all), 200, "admin ok"),
        (
            "POST",
            "/write",
            Some(&read_only),
            403,
            r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="write""#,
        ),
        (
            "GET",
            "/admin",
            Some("not.a.token"),
            401,
            r#"Bearer realm="api", error="invalid_token", error_description="The access token is invalid""#,
        ),
        ("GET", "/whoami", Some(&read_only), 200, ""),
        ("GET", "/nowhere", Some(&all), 404, ""),
    ];
    for (method, path, token, status, expected) in cases {
        let mut request = http.request(method.parse().unwrap(), format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let what = format!("{method} {path} token={}", token.is_some());
        assert_eq!(response.status().as_u16(), status, "{what}");
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        match status {
            200 if path == "/whoami" => {
                let whoami: Value = serde_json::from_str(&body).expect("JSON");
                assert_eq!(whoami["client_id"], "client-1", "{what}");
                assert_eq!(whoami["sub"], "client-1", "{what}");
                assert_eq!(whoami["scopes"], json!(["read"]), "{what}");
                assert!(whoami["exp"].as_i64().unwrap() > now(), "{what}");
            }
            200 => assert_eq!(body, expected, "{what}"),
            401 | 403 => assert_eq!(challenge.as_deref(), Some(expected), "{what}"),
            _ => {}
        }
    }
    assert_eq!(idp.discovery_hits(), 1, "keys found by discovery, once");
    assert_eq!(idp.jwks_hits(), 1);
    assert_eq!(idp.other_hits(), 0);
}
