//! Drives the `grpc_server` example as a user would: the compiled binary, configured from the
//! environment, called by a tonic client, with tokens from the test issuer it embeds or from a
//! loopback issuer named by `OAUTH_ISSUER`. The binary is built by
//! `cargo test --features grpc-example` (or `… --test grpc_server_example --example grpc_server`).

mod common;

use bearer_guard::testing::TestIssuer;
use serde_json::Value;
use tokio::process::{Child, Command};
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[allow(unreachable_pub, missing_docs)]
mod pb {
    tonic::include_proto!("orders.v1");
}

use pb::orders_client::OrdersClient;
use pb::{AdminRequest, ReadRequest, WhoAmIRequest, WriteRequest};

/// Starts `grpc_server` with `env`; the child, its address (`http://…`) and what it printed
/// up to a line that starts with `until` (`None`: only the first line).
async fn start_example(env: &[(&str, &str)], until: Option<&str>) -> (Child, String, Vec<String>) {
    let mut command = Command::new(common::example_binary("grpc_server"));
    command
        .env_remove("OAUTH_ISSUER")
        .env_remove("OAUTH_AUDIENCE")
        .env_remove("OAUTH_JWKS_URI")
        .env("BIND", "127.0.0.1:0")
        .envs(env.iter().copied());
    let running = common::spawn_server_example(command, until).await;
    (running.child, running.base, running.printed)
}

/// The value printed after `label` on a line of `lines`.
fn printed<'a>(lines: &'a [String], label: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` line in {lines:#?}"))
        .trim()
}

fn authorized<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

/// The code of each method called with `token` (`Code::Ok` for an answer).
async fn codes(channel: &Channel, token: Option<&str>) -> [Code; 4] {
    let mut client = OrdersClient::new(channel.clone());
    fn code<T>(result: Result<T, tonic::Status>) -> Code {
        result.map_or_else(|status| status.code(), |_| Code::Ok)
    }
    [
        code(client.who_am_i(authorized(WhoAmIRequest {}, token)).await),
        code(client.read(authorized(ReadRequest {}, token)).await),
        code(client.write(authorized(WriteRequest {}, token)).await),
        code(client.admin(authorized(AdminRequest {}, token)).await),
    ]
}

async fn who_am_i(channel: &Channel, token: &str) -> (String, Vec<String>) {
    let reply = OrdersClient::new(channel.clone())
        .who_am_i(authorized(WhoAmIRequest {}, Some(token)))
        .await
        .expect("WhoAmI")
        .into_inner();
    (reply.client_id, reply.scopes)
}

async fn connect(base: &str) -> Channel {
    Channel::from_shared(base.to_owned())
        .unwrap()
        .connect()
        .await
        .expect("the example answers")
}

/// The health service answers without a token.
async fn assert_serving(channel: &Channel) {
    let status = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "orders.v1.Orders".into(),
        })
        .await
        .expect("health without a token")
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

use Code::{Ok as Pass, PermissionDenied as Denied, Unauthenticated};

#[tokio::test]
async fn every_method_with_tokens_from_the_embedded_issuer() {
    let (_child, base, lines) = start_example(&[], Some("client          demo-reader")).await;
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let token_url = printed(&lines, "token endpoint");
    let channel = connect(&base).await;

    // Tokens from the embedded issuer's token endpoint, as a client would get them.
    let http = reqwest::Client::new();
    let token = async |client: &str, scope: &str| -> String {
        let response = http
            .post(token_url)
            .basic_auth(client, Some(format!("{client}-secret")))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 200, "token for {client} {scope}");
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    };
    let reader = token("demo-reader", "read").await;
    let admin = token("demo-admin", "read write admin").await;
    let writer = token("demo-admin", "write").await;

    assert_eq!(codes(&channel, None).await, [Unauthenticated; 4]);
    assert_eq!(
        codes(&channel, Some("not.a.token")).await,
        [Unauthenticated; 4]
    );
    assert_eq!(
        codes(&channel, Some(&reader)).await,
        [Pass, Pass, Denied, Denied]
    );
    assert_eq!(
        codes(&channel, Some(&writer)).await,
        [Pass, Denied, Pass, Denied]
    );
    assert_eq!(codes(&channel, Some(&admin)).await, [Pass; 4]);
    assert_eq!(
        who_am_i(&channel, &reader).await,
        ("demo-reader".to_owned(), vec!["read".to_owned()])
    );
    assert_eq!(
        who_am_i(&channel, &admin).await,
        (
            "demo-admin".to_owned(),
            vec!["admin".into(), "read".into(), "write".into()]
        )
    );

    // The refusal carries the challenge naming the scope.
    let status = OrdersClient::new(channel.clone())
        .admin(authorized(AdminRequest {}, Some(&reader)))
        .await
        .unwrap_err();
    assert_eq!(
        status.metadata().get("www-authenticate").unwrap(),
        r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="admin""#
    );
    assert_serving(&channel).await;
}

#[tokio::test]
async fn every_method_with_tokens_from_a_loopback_issuer() {
    let issuer = TestIssuer::start().await;
    let (_child, base, lines) = start_example(
        &[
            ("OAUTH_ISSUER", issuer.issuer()),
            ("OAUTH_AUDIENCE", issuer.audience()),
        ],
        None,
    )
    .await;
    assert_eq!(
        lines.len(),
        1,
        "nothing about an embedded issuer: {lines:?}"
    );
    let channel = connect(&base).await;
    let token = |scope: &str| issuer.token().client_id("billing").scope(scope).sign();
    let reader = token("read");
    let admin = token("admin");
    let elsewhere = issuer
        .token()
        .scope("read")
        .audience("https://elsewhere.test")
        .sign();
    let expired = issuer.token().scope("read").expired().sign();

    assert_eq!(codes(&channel, None).await, [Unauthenticated; 4]);
    assert_eq!(
        codes(&channel, Some(&reader)).await,
        [Pass, Pass, Denied, Denied]
    );
    assert_eq!(
        codes(&channel, Some(&admin)).await,
        [Pass, Denied, Denied, Pass]
    );
    assert_eq!(
        codes(&channel, Some(&elsewhere)).await,
        [Unauthenticated; 4]
    );
    assert_eq!(codes(&channel, Some(&expired)).await, [Unauthenticated; 4]);
    assert_eq!(
        who_am_i(&channel, &reader).await,
        ("billing".to_owned(), vec!["read".to_owned()])
    );
    assert_serving(&channel).await;
}
