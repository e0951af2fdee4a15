//! The guard in front of a real tonic server, called by a real tonic client over loopback
//! (rules L.64, L.65): gRPC statuses for every kind of refusal, the challenge in the status
//! metadata, scopes per method, the claims inside a method, an unguarded health service, the
//! plain HTTP form when forced or for a request that is not gRPC. Run with
//! `cargo test --features grpc-example --test grpc_guard`.

use std::net::SocketAddr;

use bearer_guard::testing::{JwksFault, TestIssuer};
use bearer_guard::{
    Claims, GrpcRejections, GrpcScopesLayer, GrpcStatus, GuardLayer, RequireScopeLayer,
    ScopeRequirement,
};
use http::HeaderValue;
use tonic::body::Body;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::{Layer, ServiceExt};

#[allow(unreachable_pub, missing_docs)]
mod pb {
    tonic::include_proto!("orders.v1");
}

use pb::orders_client::OrdersClient;
use pb::orders_server::{Orders, OrdersServer};
use pb::{AdminRequest, ReadRequest, Reply, WhoAmIReply, WhoAmIRequest, WriteRequest};

/// Answers what its methods saw: WhoAmI the claims the guard put in the request.
#[derive(Debug, Clone, Copy)]
struct OrdersService;

#[tonic::async_trait]
impl Orders for OrdersService {
    async fn who_am_i(
        &self,
        request: Request<WhoAmIRequest>,
    ) -> Result<Response<WhoAmIReply>, Status> {
        let claims = request
            .extensions()
            .get::<Claims>()
            .ok_or_else(|| Status::internal("no claims in the request"))?;
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

/// The scopes of the orders methods, declared once for the service.
fn method_scopes() -> GrpcScopesLayer {
    GrpcScopesLayer::for_service("orders.v1.Orders")
        .unwrap()
        .method("Read", ScopeRequirement::all(["read"]))
        .unwrap()
        .method("Write", ScopeRequirement::all(["write"]))
        .unwrap()
        .method("Admin", ScopeRequirement::all(["admin"]))
        .unwrap()
}

/// A tonic server on loopback: the health service unguarded, the orders service behind
/// `guard` and `scopes`. Runs until the test ends.
async fn serve(guard: GuardLayer, scopes: GrpcScopesLayer) -> Channel {
    let orders = guard.layer(scopes.layer(OrdersServer::new(OrdersService)));
    let (_, health) = tonic_health::server::health_reporter();
    start(Server::builder().add_service(health).add_service(orders)).await
}

/// Serves `router` on a loopback port; a channel to it.
async fn start(router: tonic::transport::server::Router) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .expect("the server answers")
}

/// A request with these `authorization` values (none, one, or several header lines).
fn with_auth<T>(message: T, authorization: &[&str]) -> Request<T> {
    let mut request = Request::new(message);
    for value in authorization {
        request
            .metadata_mut()
            .append("authorization", value.parse().unwrap());
    }
    request
}

/// What a call came to: the reply's text (WhoAmI: `client scopes…`), or the status, its
/// message and its `www-authenticate` metadata.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ok(String),
    Refused {
        code: Code,
        message: String,
        challenge: Option<String>,
    },
}

fn outcome<T>(result: Result<Response<T>, Status>, text: impl Fn(T) -> String) -> Outcome {
    match result {
        Ok(response) => Outcome::Ok(text(response.into_inner())),
        Err(status) => Outcome::Refused {
            code: status.code(),
            message: status.message().to_owned(),
            challenge: status
                .metadata()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned()),
        },
    }
}

async fn call(channel: &Channel, method: &str, authorization: &[&str]) -> Outcome {
    let mut client = OrdersClient::new(channel.clone());
    let message = |reply: Reply| reply.message;
    match method {
        "WhoAmI" => outcome(
            client
                .who_am_i(with_auth(WhoAmIRequest {}, authorization))
                .await,
            |who: WhoAmIReply| format!("{} {}", who.client_id, who.scopes.join(" ")),
        ),
        "Read" => outcome(
            client.read(with_auth(ReadRequest {}, authorization)).await,
            message,
        ),
        "Write" => outcome(
            client
                .write(with_auth(WriteRequest {}, authorization))
                .await,
            message,
        ),
        "Admin" => outcome(
            client
                .admin(with_auth(AdminRequest {}, authorization))
                .await,
            message,
        ),
        other => panic!("no method {other}"),
    }
}

fn refused(code: Code, message: &str, challenge: Option<&str>) -> Outcome {
    Outcome::Refused {
        code,
        message: message.to_owned(),
        challenge: challenge.map(str::to_owned),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The token with one character of its signature changed.
fn tampered(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

const INVALID_TOKEN: &str = r#"Bearer realm="api", error="invalid_token", error_description="#;

#[tokio::test]
async fn every_refusal_is_the_right_grpc_status_cold_and_cached() {
    let issuer = TestIssuer::start().await;
    let channel = serve(GuardLayer::new(issuer.validator()), method_scopes()).await;

    let token = |scope: &str| {
        issuer
            .token()
            .client_id("orders-client")
            .scope(scope)
            .sign()
    };
    let reader = bearer(&token("read"));
    let admin = bearer(&token("read write admin"));
    let expired = bearer(&issuer.token().scope("read").expired().sign());
    let bad_signature = bearer(&tampered(&token("read")));
    let other_audience = bearer(
        &issuer
            .token()
            .scope("read")
            .audience("https://elsewhere.test")
            .sign(),
    );
    let unauthenticated = |what: &str| {
        refused(
            Code::Unauthenticated,
            what,
            Some(&format!(r#"{INVALID_TOKEN}"{what}""#)),
        )
    };
    let malformed = refused(
        Code::InvalidArgument,
        "The request carries a malformed bearer credential",
        Some(
            r#"Bearer realm="api", error="invalid_request", error_description="The request carries a malformed bearer credential""#,
        ),
    );
    let cases: Vec<(&str, Vec<&str>, Outcome)> = vec![
        (
            "Read",
            vec![],
            refused(
                Code::Unauthenticated,
                "No bearer token was presented",
                Some(r#"Bearer realm="api""#),
            ),
        ),
        (
            "Read",
            vec!["Basic b3JkZXJzOnNlY3JldA=="],
            refused(
                Code::Unauthenticated,
                "No bearer token was presented",
                Some(r#"Bearer realm="api""#),
            ),
        ),
        (
            "Read",
            vec![&expired],
            unauthenticated("The access token expired"),
        ),
        (
            "Read",
            vec![&bad_signature],
            unauthenticated("The access token is invalid"),
        ),
        (
            "Read",
            vec![&other_audience],
            unauthenticated("The access token is not meant for this resource"),
        ),
        ("Read", vec![&reader, &reader], malformed.clone()),
        ("Read", vec!["Bearer a b"], malformed.clone()),
        ("Read", vec!["Bearer"], malformed.clone()),
        (
            "Write",
            vec![&reader],
            refused(
                Code::PermissionDenied,
                "The access token lacks the required scope",
                Some(
                    r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="write""#,
                ),
            ),
        ),
        (
            "Admin",
            vec![&reader],
            refused(
                Code::PermissionDenied,
                "The access token lacks the required scope",
                Some(
                    r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required scope", scope="admin""#,
                ),
            ),
        ),
        ("Read", vec![&reader], Outcome::Ok("read ok".into())),
        ("Write", vec![&admin], Outcome::Ok("write ok".into())),
        ("Admin", vec![&admin], Outcome::Ok("admin ok".into())),
        // Not listed: any valid token; the claims reach the method.
        (
            "WhoAmI",
            vec![&reader],
            Outcome::Ok("orders-client read".into()),
        ),
        (
            "WhoAmI",
            vec![&admin],
            Outcome::Ok("orders-client admin read write".into()),
        ),
    ];

    let mut fetches = Vec::new();
    for pass in ["cold", "cached"] {
        for (method, authorization, expected) in &cases {
            let answered = call(&channel, method, authorization).await;
            assert_eq!(
                &answered,
                expected,
                "{pass}: {method} with {} authorization value(s)",
                authorization.len()
            );
        }
        fetches.push(issuer.jwks_fetches());
    }
    // The second pass took its valid tokens from the cache: no key fetch, same answers.
    assert!(fetches[0] >= 1);
    assert_eq!(fetches[0], fetches[1], "key fetches after each pass");

    // The health service answers without a token.
    let mut health = HealthClient::new(channel.clone());
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
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

#[tokio::test]
async fn keys_that_cannot_be_fetched_are_unavailable_with_retry_after() {
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_fault(JwksFault::Status(500));
    let channel = serve(GuardLayer::new(issuer.validator()), method_scopes()).await;
    let token = bearer(&issuer.token().scope("read").sign());

    let mut client = OrdersClient::new(channel.clone());
    let status = client
        .read(with_auth(ReadRequest {}, &[&token]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        status.message(),
        "The signing keys are temporarily unavailable"
    );
    let retry_after: u64 = status
        .metadata()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    // The client's token may be fine: no challenge that would send it for another.
    assert!(status.metadata().get("www-authenticate").is_none());

    // Once the keys can be had, the same token passes.
    issuer.set_jwks_fault(JwksFault::None);
    let mut answered = call(&channel, "Read", &[&token]).await;
    for _ in 0..50 {
        if answered == Outcome::Ok("read ok".into()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        answered = call(&channel, "Read", &[&token]).await;
    }
    assert_eq!(answered, Outcome::Ok("read ok".into()));
}

/// A raw HTTP/2 request through the channel: status, headers.
async fn raw(
    channel: &Channel,
    path: &str,
    content_type: &str,
    authorization: Option<&str>,
) -> http::Response<Body> {
    let mut request = http::Request::post(format!("http://127.0.0.1{path}"))
        .header("content-type", content_type)
        .header("te", "trailers");
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let request = request.body(Body::empty()).unwrap();
    channel.clone().oneshot(request).await.expect("an answer")
}

fn header<'r>(response: &'r http::Response<Body>, name: &str) -> Option<&'r HeaderValue> {
    response.headers().get(name)
}

#[tokio::test]
async fn plain_http_answers_when_forced_or_when_the_request_is_not_grpc() {
    let issuer = TestIssuer::start().await;
    let reader = bearer(&issuer.token().scope("read").sign());

    // The same layer answers a request that is not gRPC with HTTP 401 and a challenge.
    let auto = serve(GuardLayer::new(issuer.validator()), method_scopes()).await;
    let response = raw(&auto, "/orders.v1.Orders/Read", "application/json", None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(&response, "www-authenticate").unwrap(),
        r#"Bearer realm="api""#
    );
    assert!(header(&response, "grpc-status").is_none());
    // gRPC-Web is not gRPC here.
    let response = raw(
        &auto,
        "/orders.v1.Orders/Read",
        "application/grpc-web+proto",
        None,
    )
    .await;
    assert_eq!(response.status(), 401);
    // And a gRPC one, by any spelling of its content type, the gRPC way.
    for content_type in ["application/grpc", "application/GRPC+proto"] {
        let response = raw(
            &auto,
            "/orders.v1.Orders/Write",
            content_type,
            Some(&reader),
        )
        .await;
        assert_eq!(response.status(), 200, "{content_type}");
        assert_eq!(
            header(&response, "grpc-status").unwrap(),
            "7",
            "{content_type}"
        );
        assert_eq!(
            header(&response, "content-type").unwrap(),
            "application/grpc"
        );
    }

    // Forced off: plain HTTP statuses for gRPC requests too.
    let never = serve(
        GuardLayer::new(issuer.validator()).grpc_rejections(GrpcRejections::Never),
        method_scopes(),
    )
    .await;
    for (path, authorization, status) in [
        ("/orders.v1.Orders/Read", None, 401),
        ("/orders.v1.Orders/Read", Some("Bearer a b"), 400),
        ("/orders.v1.Orders/Write", Some(reader.as_str()), 403),
    ] {
        let response = raw(&never, path, "application/grpc", authorization).await;
        assert_eq!(response.status(), status, "{path}");
        assert!(header(&response, "grpc-status").is_none(), "{path}");
        assert!(header(&response, "www-authenticate").is_some(), "{path}");
    }
    // What a tonic client makes of it: a status guessed from the HTTP one.
    let status = OrdersClient::new(never.clone())
        .read(ReadRequest {})
        .await
        .unwrap_err();
    assert!(
        status.message().contains("grpc-status header missing"),
        "{status:?}"
    );

    // Forced on: a gRPC answer whatever the content type.
    let always = serve(
        GuardLayer::new(issuer.validator()).grpc_rejections(GrpcRejections::Always),
        method_scopes(),
    )
    .await;
    let response = raw(&always, "/orders.v1.Orders/Read", "application/json", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "grpc-status").unwrap(),
        GrpcStatus::Unauthenticated.code().to_string().as_str()
    );
    assert_eq!(
        header(&response, "www-authenticate").unwrap(),
        r#"Bearer realm="api""#
    );
}

#[tokio::test]
async fn method_paths_match_exactly_and_unlisted_methods_can_be_closed() {
    let issuer = TestIssuer::start().await;
    let reader = bearer(&issuer.token().scope("read").sign());
    let open = serve(GuardLayer::new(issuer.validator()), method_scopes()).await;

    // Spellings of Write that are not its path are not Write for tonic either: they never
    // reach the method (UNIMPLEMENTED), whatever the scope layer made of them.
    for path in [
        "/orders.v1.Orders/%57rite",
        "/orders.v1.Orders/write",
        "/orders.v1.Orders/Write/",
        "/orders.v1.Orders//Write",
    ] {
        let response = raw(&open, path, "application/grpc", Some(&reader)).await;
        let status = header(&response, "grpc-status").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(status.as_deref(), Some("12"), "{path}");
    }

    // Unlisted methods closed: WhoAmI now needs `admin`.
    let closed = serve(
        GuardLayer::new(issuer.validator()),
        method_scopes().unlisted(ScopeRequirement::all(["admin"])),
    )
    .await;
    let answered = call(&closed, "WhoAmI", &[&reader]).await;
    assert!(
        matches!(&answered, Outcome::Refused { code: Code::PermissionDenied, challenge: Some(c), .. } if c.ends_with(r#"scope="admin""#)),
        "{answered:?}"
    );
    assert_eq!(
        call(&closed, "Read", &[&reader]).await,
        Outcome::Ok("read ok".into())
    );
    let response = raw(
        &closed,
        "/orders.v1.Orders/%57rite",
        "application/grpc",
        Some(&reader),
    )
    .await;
    assert_eq!(header(&response, "grpc-status").unwrap(), "7");

    // The whole-server form, by full path, as `Server::layer` would see every service.
    let server_wide = GrpcScopesLayer::new()
        .method(
            "/orders.v1.Orders/Read",
            ScopeRequirement::all(["orders:read"]),
        )
        .unwrap();
    let channel = serve(GuardLayer::new(issuer.validator()), server_wide).await;
    let answered = call(&channel, "Read", &[&reader]).await;
    assert!(
        matches!(
            &answered,
            Outcome::Refused {
                code: Code::PermissionDenied,
                ..
            }
        ),
        "{answered:?}"
    );
}

#[tokio::test]
async fn route_layers_answer_grpc_too_with_or_without_a_guard() {
    let issuer = TestIssuer::start().await;
    let writer = bearer(
        &issuer
            .token()
            .client_id("orders-client")
            .scope("write")
            .sign(),
    );

    // RequireScopeLayer under the guard: 403 as PERMISSION_DENIED, naming the scope.
    let orders = GuardLayer::new(issuer.validator())
        .layer(RequireScopeLayer::all(["read"]).layer(OrdersServer::new(OrdersService)));
    let channel = start(Server::builder().add_service(orders)).await;
    let answered = call(&channel, "WhoAmI", &[&writer]).await;
    assert!(
        matches!(&answered, Outcome::Refused { code: Code::PermissionDenied, challenge: Some(c), .. } if c.ends_with(r#"scope="read""#)),
        "{answered:?}"
    );

    // No guard in front (layers in the wrong order): INTERNAL, never UNAUTHENTICATED.
    let unguarded = RequireScopeLayer::all(["read"]).layer(OrdersServer::new(OrdersService));
    let channel = start(Server::builder().add_service(unguarded)).await;
    let answered = call(&channel, "WhoAmI", &[&writer]).await;
    assert!(
        matches!(
            &answered,
            Outcome::Refused {
                code: Code::Internal,
                challenge: None,
                ..
            }
        ),
        "{answered:?}"
    );
    let unguarded = method_scopes().layer(OrdersServer::new(OrdersService));
    let channel = start(Server::builder().add_service(unguarded)).await;
    let answered = call(&channel, "Read", &[&writer]).await;
    assert!(
        matches!(
            &answered,
            Outcome::Refused {
                code: Code::Internal,
                ..
            }
        ),
        "{answered:?}"
    );

    // The whole-server form guards every service, the health service included.
    let (_, health) = tonic_health::server::health_reporter();
    let server_wide = GrpcScopesLayer::new()
        .method("/orders.v1.Orders/Read", ScopeRequirement::all(["read"]))
        .unwrap();
    // The first layer runs first: the guard, then the scopes.
    let router = Server::builder()
        .layer(GuardLayer::new(issuer.validator()))
        .layer(server_wide)
        .add_service(health)
        .add_service(OrdersServer::new(OrdersService));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        call(&channel, "WhoAmI", &[&writer]).await,
        Outcome::Ok("orders-client write".into())
    );
    let answered = call(&channel, "Read", &[&writer]).await;
    assert!(
        matches!(
            &answered,
            Outcome::Refused {
                code: Code::PermissionDenied,
                ..
            }
        ),
        "{answered:?}"
    );
}
