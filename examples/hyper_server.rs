//! Run with `cargo run --example hyper_server`
//!
//! The guard in front of a plain hyper 1 server, without axum: the same routes and the same
//! environment variables as the `resource_server` example (`OAUTH_ISSUER`, `OAUTH_AUDIENCE`,
//! optional `OAUTH_JWKS_URI` and `BIND`), and the same first line on stdout.
//!
//! The guard is generic over body types: here requests carry hyper's [`Incoming`] body and
//! responses a [`Full<Bytes>`]. Rejections are built with `Full::default()` (an empty body),
//! since the guard only needs the response body to implement `Default`.
//!
//! Each protected route is its own tower stack (`GuardLayer`, then `RequireScopeLayer`, then
//! the handler); a small hand-written router picks the stack by method and path.

mod common;
mod logs;

use std::convert::Infallible;
use std::io::Write;
use std::process::ExitCode;

use bearer_guard::{Claims, GuardLayer, RequireScopeLayer};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt, service_fn};

type Body = Full<Bytes>;
/// One route: a guarded tower stack, boxed so that all routes share one type.
type Route = BoxCloneSyncService<Request<Incoming>, Response<Body>, Infallible>;

#[tokio::main]
async fn main() -> ExitCode {
    logs::init("hyper_server", "info");
    let (validator, bind) = match common::from_env("hyper_server") {
        Ok(setup) => setup,
        Err(code) => return code,
    };
    let routes = Routes::new(&GuardLayer::new(validator));

    let (listener, _address) = match common::listen("hyper_server", &bind).await {
        Ok(bound) => bound,
        Err(code) => return code,
    };
    let _ = std::io::stdout().flush();

    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    eprintln!("hyper_server: accept: {error}");
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
        };
        let routes = routes.clone();
        let service = service_fn(move |request| routes.clone().dispatch(request));
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(error) = connection.await {
                eprintln!("hyper_server: connection: {error}");
            }
        });
    }
}

#[derive(Clone)]
struct Routes {
    read: Route,
    write: Route,
    admin: Route,
    whoami: Route,
}

impl Routes {
    fn new(guard: &GuardLayer) -> Self {
        Self {
            read: protected(guard, Some("read"), |_| text("read ok")),
            write: protected(guard, Some("write"), |_| text("write ok")),
            admin: protected(guard, Some("admin"), |_| text("admin ok")),
            whoami: protected(guard, None, whoami),
        }
    }

    async fn dispatch(self, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let route = match (request.method(), request.uri().path()) {
            (&Method::GET, "/public") => return Ok(text("public")),
            (&Method::GET, "/read") => self.read,
            (&Method::POST, "/write") => self.write,
            (&Method::GET, "/admin") => self.admin,
            (&Method::GET, "/whoami") => self.whoami,
            _ => {
                let mut response = Response::new(Body::default());
                *response.status_mut() = StatusCode::NOT_FOUND;
                return Ok(response);
            }
        };
        route.oneshot(request).await
    }
}

/// `handler` behind the guard and, if `scope` is given, behind a scope check. The guard has
/// validated the token and put the [`Claims`] into the request before the handler runs.
fn protected(
    guard: &GuardLayer,
    scope: Option<&str>,
    handler: fn(Request<Incoming>) -> Response<Body>,
) -> Route {
    let scope = scope.map(|scope| RequireScopeLayer::all([scope]));
    let stack = ServiceBuilder::new()
        .layer(guard.clone())
        .option_layer(scope)
        .service_fn(move |request| async move { Ok::<_, Infallible>(handler(request)) });
    BoxCloneSyncService::new(stack)
}

fn whoami(request: Request<Incoming>) -> Response<Body> {
    let Some(claims) = request.extensions().get::<Claims>() else {
        // Unreachable behind the guard; a 500 says the server is misconfigured.
        let mut response = Response::new(Body::default());
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        return response;
    };
    let body = serde_json::json!({
        "client_id": claims.client_id(),
        "sub": claims.subject(),
        "scopes": claims.scopes(),
        "exp": claims.expires_at(),
    });
    let mut response = Response::new(Body::from(body.to_string()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn text(body: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
