//! The `resource_server` example with `METRICS=1`: the compiled binary, guarding its API with
//! keys from a discovery + JWKS server on loopback, serves the guard's metrics at
//! `GET /metrics` in the Prometheus text format, without a token.
#![cfg(all(feature = "metrics", feature = "axum", feature = "test-util"))]

mod common;

use std::process::Stdio;

use common::*;
use serde_json::json;
use tokio::process::{Child, Command};

/// The example, configured for `issuer` with `METRICS` set to `metrics`.
fn example(issuer: &str, metrics: &str) -> Command {
    let mut command = Command::new(example_binary("resource_server"));
    command
        .env("OAUTH_ISSUER", issuer)
        .env("OAUTH_AUDIENCE", AUDIENCE)
        .env("BIND", "127.0.0.1:0")
        .env("METRICS", metrics)
        .env_remove("OAUTH_JWKS_URI")
        .env_remove("OAUTH_DPOP")
        .env_remove("REDIS_URL")
        .kill_on_drop(true);
    command
}

/// Starts the example; it and the base URL its first line names.
async fn start(issuer: &str) -> (Child, String) {
    let running = spawn_server_example(example(issuer, "1"), None).await;
    (running.child, running.base)
}

#[tokio::test]
async fn metrics_count_what_the_example_allowed_and_denied() {
    let idp = IdpServer::start().await;
    let (_child, base) = start(&idp.issuer).await;
    let http = reqwest::Client::new();
    let reader = mint(
        &header("ES256", Key::EcP256.kid()),
        &payload_with(&idp.issuer, json!({ "scope": "read" })),
        Key::EcP256,
        Key::EcP256.alg(),
    );
    let status = |request: reqwest::RequestBuilder| async move {
        request.send().await.expect("request").status().as_u16()
    };
    assert_eq!(
        status(http.get(format!("{base}/read")).bearer_auth(&reader)).await,
        200
    );
    assert_eq!(status(http.get(format!("{base}/read"))).await, 401);
    // Let through by the guard, refused by the route.
    assert_eq!(
        status(http.post(format!("{base}/write")).bearer_auth(&reader)).await,
        403
    );

    let response = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    let issuer = &idp.issuer;
    for line in [
        r#"bearer_guard_requests_allowed_total{stage="guard"} 2"#.to_owned(),
        r#"bearer_guard_requests_allowed_total{stage="route"} 1"#.to_owned(),
        r#"bearer_guard_requests_denied_total{stage="guard",reason="missing_credentials"} 1"#
            .to_owned(),
        r#"bearer_guard_requests_denied_total{stage="route",reason="insufficient_scope"} 1"#
            .to_owned(),
        format!(r#"bearer_guard_jwks_fetches_total{{issuer="{issuer}",outcome="success"}} 1"#),
        format!(r#"bearer_guard_jwks_state{{issuer="{issuer}",state="fresh"}} 1"#),
        format!(r#"bearer_guard_jwks_fetch_duration_seconds_count{{issuer="{issuer}"}} 1"#),
        "# TYPE bearer_guard_jwks_fetch_duration_seconds histogram".to_owned(),
        "# HELP bearer_guard_requests_denied_total Requests refused".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&line)),
            "no line {line:?} in\n{text}"
        );
    }
    assert!(
        text.contains(&format!(
            r#"bearer_guard_jwks_age_seconds{{issuer="{issuer}"}}"#
        )),
        "{text}"
    );
    // The token never reaches a label.
    assert!(!text.contains(&reader[..40]), "{text}");
    assert!(!text.contains("bearer_guard_requests_denied_total{stage=\"guard\",reason=\"token"));
}

#[tokio::test]
async fn an_unknown_metrics_value_is_a_usage_error() {
    let output = example("http://127.0.0.1:9", "yes")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("METRICS is `yes`"), "{stderr}");
}
