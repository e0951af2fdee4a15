//! [`McpToolScopesLayer`]: per-tool scopes for an MCP server over Streamable HTTP, enforced
//! before the tool runs (rule H.45): a `tools/call` for a tool whose scopes the token lacks is
//! answered 403 `insufficient_scope` naming them, with the guard's challenge
//! (`resource_metadata` included).
//!
//! Put it inside a [`GuardLayer`](crate::GuardLayer), like a
//! [`RequireScopeLayer`](crate::RequireScopeLayer) (in axum: an earlier `route_layer`). For a
//! `POST` with a JSON content type (`application/json` or `application/…+json`) it reads the
//! body, up to [`max_body_bytes`](McpToolScopesLayer::max_body_bytes) (default
//! [`defaults::MAX_MCP_BODY_BYTES`](crate::defaults::MAX_MCP_BODY_BYTES)), finds every
//! JSON-RPC request in it (one, or each of a batch) whose `method` is `tools/call`, and checks
//! the token against the requirement declared for the tool named by `params.name`, with the
//! very check the guard and `RequireScopeLayer` make. The body is then handed on byte for byte
//! as it came; every other request passes untouched, its body still streaming.
//!
//! | request | answer |
//! |---|---|
//! | `tools/call` of a declared tool, token meets its requirement | passed on |
//! | `tools/call` of a declared tool, token lacks its scopes | 403 `error="insufficient_scope", scope="…"` |
//! | `tools/call` of a declared tool, anonymous (an [`optional`](crate::GuardLayer::optional) guard) | 401 |
//! | other methods, undeclared tools, non-JSON or non-`POST` requests | passed on (the route's own requirement applies) |
//! | body that is not JSON | passed on, for the server to answer the parse error |
//! | JSON body over the limit | 413, empty body |
//! | JSON body with a `Content-Encoding` (other than `identity`) | 415, `Accept-Encoding: identity` |
//! | body that fails to arrive | 400, empty body |
//! | no guard in front of this layer | 500 (and an error in the log, once) |
//!
//! Rejections other than 400, 413 and 415 are shaped by the guard's
//! [`on_rejection`](crate::GuardLayer::on_rejection) handler unless the layer is given its own.
//!
//! The reading errs on the side of checking, so that a parser more lenient than this one
//! cannot run a tool this layer would have refused:
//!
//! - A batch (a JSON array) is checked call by call whatever the `MCP-Protocol-Version`
//!   header says. Versions after 2025-03-26 have no batches and their servers refuse them,
//!   so checking costs those nothing, and a server that takes batches whatever the header
//!   says cannot be reached around the check.
//! - A key sent twice (`"name"` twice in `params`) counts with each value, and `params`
//!   given as an array counts each of its strings as a tool name.
//! - In a body that is not valid JSON, the calls read before the error are checked all the
//!   same; the body is handed on if they pass.
//! - A compressed body is refused with 415 rather than passed on unread: decompress in front
//!   of this layer (tower-http's `RequestDecompressionLayer` as an outer layer), if at all.
//!
//! Declare the tool scopes in the [`ResourceMetadata`] with
//! [`declare_in`](McpToolScopesLayer::declare_in), so that `scopes_supported` lists them:
//! one declaration serves both.
//!
//! ```
//! # #[cfg(feature = "test-util")]
//! # mod test {
//! use axum::{Router, body::Body, routing::post};
//! use bearer_guard::testing::TestIssuer;
//! use bearer_guard::{GuardLayer, McpToolScopesLayer, ResourceMetadata, ScopeRequirement};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # pub
//! async fn tool_scopes() -> Result<(), bearer_guard::ConfigError> {
//!     let issuer = TestIssuer::start().await;
//!     let validator = issuer.validator();
//!     let metadata = ResourceMetadata::new("https://api.example.com/mcp", &validator)?;
//!     let tools = McpToolScopesLayer::new()
//!         .tool("list_orders", ScopeRequirement::all(["orders:read"]))?
//!         .tool("cancel_order", ScopeRequirement::all(["orders:write"]))?
//!         .declare_in(&metadata);
//!     let app = Router::new()
//!         .route("/mcp", post(|body: String| async move { body }))
//!         .route_layer(tools) // added before the guard, so it runs after it
//!         .route_layer(GuardLayer::new(validator).resource_metadata(&metadata)?);
//!
//!     let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"cancel_order"}}"#;
//!     let token = issuer.token().scope("orders:read").sign();
//!     let request = Request::post("/mcp")
//!         .header("authorization", format!("Bearer {token}"))
//!         .header("content-type", "application/json")
//!         .body(Body::from(call))
//!         .unwrap();
//!     let response = app.oneshot(request).await.unwrap();
//!     assert_eq!(response.status(), StatusCode::FORBIDDEN);
//!     assert_eq!(
//!         response.headers()["www-authenticate"],
//!         "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"The access \
//!          token lacks the required scope\", scope=\"orders:write\", resource_metadata=\
//!          \"https://api.example.com/.well-known/oauth-protected-resource/mcp\""
//!     );
//!     assert_eq!(metadata.document()["scopes_supported"], serde_json::json!(["orders:read", "orders:write"]));
//!     Ok(())
//! }
//! # }
//! # #[cfg(feature = "test-util")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
//! #     .block_on(test::tool_scopes()).unwrap();
//! ```
#![cfg_attr(docsrs, doc(cfg(feature = "mcp")))]

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{ConfigError, ErrorKind};
use crate::guard::challenge::Challenge;
use crate::guard::decision::{GuardContext, check_requirements};
use crate::guard::form::{Buffer, refuse, refuse_oversized};
use crate::guard::metadata::ResourceMetadata;
use crate::guard::response::{InheritRejection, OnRejection, Rejection, respond};
use crate::metrics::{self, Stage};
use crate::verify::scope::{Requirements, ScopeRequirement, Unmet};

/// The JSON-RPC method whose tools have scopes.
const TOOLS_CALL: &str = "tools/call";

/// Names the checks in the log, beside "route" and "guard-wide".
const WHOSE: &str = "mcp tool";

// ---------------------------------------------------------------------------------------------
// The layer
// ---------------------------------------------------------------------------------------------

/// A tower [`Layer`] that applies [`McpToolScopes`]: the scopes each MCP tool needs. See the
/// [module docs](crate::mcp).
#[derive(Clone)]
#[must_use]
pub struct McpToolScopesLayer<H = InheritRejection> {
    /// In the order declared.
    tools: Vec<(Box<str>, Requirements)>,
    max_body_bytes: usize,
    declared_in: Option<ResourceMetadata>,
    on_rejection: H,
}

impl McpToolScopesLayer {
    /// No tool declared yet; bodies of up to
    /// [`defaults::MAX_MCP_BODY_BYTES`](crate::defaults::MAX_MCP_BODY_BYTES).
    pub fn new() -> Self {
        Self {
            tools: Vec::new(),
            max_body_bytes: crate::defaults::MAX_MCP_BODY_BYTES,
            declared_in: None,
            on_rejection: InheritRejection,
        }
    }
}

impl Default for McpToolScopesLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<H> McpToolScopesLayer<H> {
    /// A `tools/call` of the tool `name` (compared byte for byte) needs `requirement`. Tools
    /// not declared need only what the route needs.
    ///
    /// # Errors
    /// [`ConfigError::DuplicateTool`] if `name` was declared before: a second declaration
    /// neither replaces nor widens the first, since which was meant cannot be told.
    pub fn tool(
        mut self,
        name: impl Into<String>,
        requirement: ScopeRequirement,
    ) -> Result<Self, ConfigError> {
        let name: Box<str> = name.into().into_boxed_str();
        if self.tools.iter().any(|(n, _)| *n == name) {
            return Err(ConfigError::DuplicateTool(name.into()));
        }
        if let Some(metadata) = &self.declared_in {
            metadata.declare(&requirement);
        }
        let requirements = Requirements {
            claims: Vec::new(),
            scopes: Some(requirement),
        };
        self.tools.push((name, requirements));
        Ok(self)
    }

    /// Lists the scopes of every tool in `metadata`'s `scopes_supported`: those declared so
    /// far, and those declared later with [`tool`](Self::tool).
    pub fn declare_in(mut self, metadata: &ResourceMetadata) -> Self {
        for requirement in self.tools.iter().filter_map(|(_, r)| r.scopes.as_ref()) {
            metadata.declare(requirement);
        }
        self.declared_in = Some(metadata.clone());
        self
    }

    /// The largest JSON body read; a larger one is answered 413 without calling the service.
    /// Only `POST` requests with a JSON content type are limited: other bodies pass untouched.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Replace the rejection response of this layer alone; see [`crate::response`]. Without
    /// it, the handler of the guard in front shapes this layer's 401, 403 and 500 too.
    pub fn on_rejection<H2>(self, handler: H2) -> McpToolScopesLayer<H2> {
        McpToolScopesLayer {
            tools: self.tools,
            max_body_bytes: self.max_body_bytes,
            declared_in: self.declared_in,
            on_rejection: handler,
        }
    }

    /// The requirement of the tool `name`, if it was declared.
    pub fn requirement(&self, name: &str) -> Option<&ScopeRequirement> {
        let (_, requirements) = self.tools.iter().find(|(n, _)| &**n == name)?;
        requirements.scopes.as_ref()
    }

    /// The declared tools, by name, in the order declared.
    pub fn tools(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|(name, _)| &**name)
    }
}

impl<H> fmt::Debug for McpToolScopesLayer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpToolScopesLayer")
            .field("tools", &Tools(self.tools.iter().map(|(n, r)| (n, r))))
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

/// The tools and their scopes, for `Debug`.
struct Tools<I>(I);

impl<'a, I> fmt::Debug for Tools<I>
where
    I: Iterator<Item = (&'a Box<str>, &'a Requirements)> + Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.clone().map(|(name, r)| (name, &r.scopes)))
            .finish()
    }
}

impl<S, H: Clone> Layer<S> for McpToolScopesLayer<H> {
    type Service = McpToolScopes<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        McpToolScopes {
            inner,
            shared: Arc::new(Shared {
                tools: self.tools.iter().cloned().collect(),
                max_body_bytes: self.max_body_bytes,
                on_rejection: self.on_rejection.clone(),
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

/// Lets a `tools/call` through only if its token grants the tool's scopes; built by
/// [`McpToolScopesLayer`].
pub struct McpToolScopes<S, H = InheritRejection> {
    inner: S,
    shared: Arc<Shared<H>>,
}

/// What every request of one service reads.
struct Shared<H> {
    /// Looked up by the names clients send: no hashing to attack.
    tools: BTreeMap<Box<str>, Requirements>,
    max_body_bytes: usize,
    on_rejection: H,
}

impl<S, H> McpToolScopes<S, H> {
    inner_service_accessors!();
}

impl<S: Clone, H> Clone for McpToolScopes<S, H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, H> fmt::Debug for McpToolScopes<S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpToolScopes")
            .field("inner", &self.inner)
            .field("tools", &Tools(self.shared.tools.iter()))
            .field("max_body_bytes", &self.shared.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for McpToolScopes<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    H: OnRejection<ResBody>,
    ReqBody: Body + From<Bytes>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, H>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let Some(context) = request.extensions().get::<GuardContext>() else {
            guard_missing();
            let rejection = Rejection::new(ErrorKind::GuardMissing.into(), &Challenge::default());
            metrics::denied(Stage::Route, rejection.kind());
            return ResponseFuture::refused(respond(&self.shared.on_rejection, rejection));
        };
        // The clone that was polled ready goes into the future; a fresh clone stays behind.
        let inner = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, inner);
        if self.shared.tools.is_empty() || !is_json_post(&request) {
            return ResponseFuture::calling(inner.call(request));
        }
        if is_encoded(&request) {
            tracing::debug!("compressed MCP request body refused with 415");
            let mut response = refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE);
            response
                .headers_mut()
                .insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
            return ResponseFuture::refused(response);
        }
        let max = self.shared.max_body_bytes;
        if let Some(response) = refuse_oversized(request.body(), max, "MCP request") {
            return ResponseFuture::refused(response);
        }
        let context = context.clone();
        let (parts, body) = request.into_parts();
        ResponseFuture {
            state: State::Reading {
                body,
                reading: Some(Reading {
                    parts,
                    inner,
                    buffer: Buffer::Empty,
                    context,
                    shared: Arc::clone(&self.shared),
                }),
            },
        }
    }
}

/// A `POST` whose `Content-Type` (any of them, if sent several times) is JSON:
/// `application/json` or `application/…+json`, with any parameters.
fn is_json_post<B>(request: &Request<B>) -> bool {
    request.method() == Method::POST
        && request.headers().get_all(CONTENT_TYPE).iter().any(|value| {
            let essence = value.as_bytes().split(|&b| b == b';').next().unwrap_or(&[]);
            let essence = essence.trim_ascii().to_ascii_lowercase();
            essence == b"application/json"
                || (essence.starts_with(b"application/") && essence.ends_with(b"+json"))
        })
}

/// Whether the body is sent with a content coding (RFC 9110 §8.4), which this layer does not
/// undo: the bytes it would read are not the JSON the server reads.
fn is_encoded<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get_all(CONTENT_ENCODING)
        .iter()
        .any(|value| {
            value
                .as_bytes()
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity"))
        })
}

/// No guard ran before this layer, so no token was ever checked: a server error, never a 401
/// that would send a client with a valid token to fetch another. Said once per process.
fn guard_missing() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::error!(
            "McpToolScopesLayer found no GuardLayer in front of it and answers 500: add \
             GuardLayer after McpToolScopesLayer (in axum, `.route_layer(McpToolScopesLayer…)` \
             then `.route_layer(GuardLayer::new(…))`; with tower's ServiceBuilder, the guard's \
             `.layer(…)` first)"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// The decision
// ---------------------------------------------------------------------------------------------

/// Judges the calls in `body`: `Err` with the rejection if the token may not make one of
/// them.
fn judge<H>(shared: &Shared<H>, context: &GuardContext, body: &[u8]) -> Result<(), Rejection> {
    // The declared tools called, each once, in the order first called.
    let mut called: Vec<(&str, &Requirements)> = Vec::new();
    for message in scan(body) {
        if !message.calls_tool {
            continue;
        }
        for name in &message.names {
            if let Some((name, requirements)) = shared.tools.get_key_value(name.as_str())
                && !called.iter().any(|(n, _)| *n == &**name)
            {
                called.push((name, requirements));
            }
        }
    }
    let Some(&(first, _)) = called.first() else {
        return Ok(());
    };
    let GuardContext {
        settings,
        claims,
        scheme,
    } = context;
    let Some(claims) = claims else {
        // Let through anonymously by an optional guard: it must authenticate first.
        tracing::debug!(
            tool = first,
            kind = ErrorKind::MissingCredentials.code(),
            "anonymous tools/call refused by the tool's requirement"
        );
        return Err(Rejection::new(
            ErrorKind::MissingCredentials.into(),
            &settings.challenge,
        ));
    };
    let mut refused = None;
    for (name, requirements) in &called {
        if let Err(rejection) =
            check_requirements(requirements, &settings.challenge, *scheme, &**claims, WHOSE)
        {
            tracing::debug!(
                tool = name,
                kind = rejection.kind().code(),
                "tools/call refused"
            );
            refused.get_or_insert(rejection);
        }
    }
    let Some(rejection) = refused else {
        // Counted here, where a tool's requirements were met: messages calling no declared
        // tool were not judged.
        metrics::allowed(Stage::Route);
        return Ok(());
    };
    if called.len() == 1 {
        return Err(rejection);
    }
    // A batch calling several declared tools: the challenge names every scope the whole
    // batch needs (rule H.43), each tool's alternative closest to the token's scopes.
    let granted = claims.scopes();
    let mut scopes: Vec<String> = Vec::new();
    for (_, requirements) in &called {
        let Some(required) = &requirements.scopes else {
            continue;
        };
        for scope in required.scope_param(granted).split(' ') {
            if !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
    }
    Err(match ScopeRequirement::try_all(&scopes) {
        Ok(all) => Rejection::unmet(&settings.challenge, Unmet::Scopes(&all), granted, *scheme),
        Err(_) => rejection,
    })
}

// ---------------------------------------------------------------------------------------------
// The future
// ---------------------------------------------------------------------------------------------

/// A body being read: the request's parts and what judging it and calling the service take.
struct Reading<S, H> {
    parts: Parts,
    inner: S,
    buffer: Buffer,
    context: GuardContext,
    shared: Arc<Shared<H>>,
}

pin_project! {
    /// The future of [`McpToolScopes`].
    pub struct ResponseFuture<S, ReqBody, H>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, H>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, H>
    where
        S: Service<Request<ReqBody>>,
    {
        Reading {
            #[pin]
            body: ReqBody,
            reading: Option<Reading<S, H>>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Refused {
            response: Option<S::Response>,
        },
    }
}

impl<S, ReqBody, H> ResponseFuture<S, ReqBody, H>
where
    S: Service<Request<ReqBody>>,
{
    fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
        }
    }

    fn refused(response: S::Response) -> Self {
        Self {
            state: State::Refused {
                response: Some(response),
            },
        }
    }
}

impl<S, ReqBody, H, ResBody> Future for ResponseFuture<S, ReqBody, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    H: OnRejection<ResBody>,
    ReqBody: Body + From<Bytes>,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Reading { mut body, reading } => {
                    let read = reading.as_mut().expect("polled after completion");
                    let max = read.shared.max_body_bytes;
                    let complete =
                        ready!(read.buffer.poll_fill(body.as_mut(), max, "MCP request", cx));
                    let Reading {
                        parts,
                        mut inner,
                        buffer,
                        context,
                        shared,
                    } = reading.take().expect("polled after completion");
                    if let Err(response) = complete {
                        return Poll::Ready(Ok(response));
                    }
                    let body = buffer.freeze();
                    if let Err(rejection) = judge(&shared, &context, &body) {
                        metrics::denied(Stage::Route, rejection.kind());
                        return Poll::Ready(Ok(respond(&shared.on_rejection, rejection)));
                    }
                    let request = Request::from_parts(parts, ReqBody::from(body));
                    state.set(State::Calling {
                        future: inner.call(request),
                    });
                }
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Refused { response } => {
                    return Poll::Ready(Ok(response.take().expect("polled after completion")));
                }
            }
        }
    }
}

impl<S, ReqBody, H> fmt::Debug for ResponseFuture<S, ReqBody, H>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Reading { .. } => "Reading",
            State::Calling { .. } => "Calling",
            State::Refused { .. } => "Refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading JSON-RPC
// ---------------------------------------------------------------------------------------------

/// One JSON-RPC message (an object), as far as tool scopes go.
#[derive(Debug, Default, PartialEq)]
struct Message {
    /// Whether its `method` is `tools/call` (or one of its values, if sent twice).
    calls_tool: bool,
    /// Every string `params` could be read as naming a tool with: each value of its `name`
    /// member, or each string of a by-position `params` array.
    names: Vec<String>,
}

/// The messages of a body: one object, the objects of a batch, and those of any further JSON
/// values after the first. Whatever was read before a syntax error counts too.
fn scan(body: &[u8]) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut json = serde_json::Deserializer::from_slice(body);
    loop {
        let top = Top {
            messages: &mut messages,
            in_batch: false,
        };
        if top.deserialize(&mut json).is_err() {
            break;
        }
    }
    messages
}

/// A JSON value at the top of the body (a message, a batch, or something to ignore) or, with
/// `in_batch`, an element of a batch (a message, or something to ignore: a batch in a batch
/// is no message).
struct Top<'a> {
    messages: &'a mut Vec<Message>,
    in_batch: bool,
}

/// The `params` of a message: pushes the names it could mean.
struct Params<'a>(&'a mut Vec<String>);

/// A value, and the string it is if it is one.
struct MaybeStr(Option<String>);

/// The members of a message or of `params` that matter; any other is skipped unread.
enum Key {
    Method,
    Params,
    Name,
    Other,
}

/// Visits of scalars that mean nothing here.
macro_rules! scalars {
    ($value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.in_batch {
            true => "a JSON-RPC message",
            false => "a JSON-RPC message or batch",
        })
    }

    scalars!(());

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        message(self.messages, map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.in_batch {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        loop {
            let element = Top {
                messages: &mut *self.messages,
                in_batch: true,
            };
            if seq.next_element_seed(element)?.is_none() {
                break;
            }
        }
        Ok(())
    }
}

/// Reads one message into `messages`, member by member, so that what was read before a
/// syntax error is kept.
fn message<'de, A: MapAccess<'de>>(
    messages: &mut Vec<Message>,
    mut map: A,
) -> Result<(), A::Error> {
    messages.push(Message::default());
    let message = messages.last_mut().expect("just pushed");
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::Method => {
                if map.next_value::<MaybeStr>()?.0.as_deref() == Some(TOOLS_CALL) {
                    message.calls_tool = true;
                }
            }
            Key::Params => map.next_value_seed(Params(&mut message.names))?,
            Key::Name | Key::Other => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(())
}

impl<'de> DeserializeSeed<'de> for Params<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Params<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON-RPC params")
    }

    scalars!(());

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            if matches!(key, Key::Name) {
                self.0.extend(map.next_value::<MaybeStr>()?.0);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    // By position: a deserializer of the server's may take the name from any place.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(MaybeStr(value)) = seq.next_element()? {
            self.0.extend(value);
        }
        Ok(())
    }
}

impl<'de> de::Deserialize<'de> for MaybeStr {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MaybeStrVisitor)
    }
}

struct MaybeStrVisitor;

impl<'de> Visitor<'de> for MaybeStrVisitor {
    type Value = MaybeStr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalars!(MaybeStr(None));

    fn visit_str<E: de::Error>(self, value: &str) -> Result<MaybeStr, E> {
        Ok(MaybeStr(Some(value.to_owned())))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MaybeStr, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(MaybeStr(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MaybeStr, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(MaybeStr(None))
    }
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    // Escapes are undone before the comparison: `"na\u006de"` is `name`.
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "method" => Key::Method,
            "params" => Key::Params,
            "name" => Key::Name,
            _ => Key::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tools each message of `body` calls (`None` for a message calling none).
    fn calls(body: &str) -> Vec<Option<Vec<String>>> {
        scan(body.as_bytes())
            .into_iter()
            .map(|m| m.calls_tool.then_some(m.names))
            .collect()
    }

    fn named(names: &[&str]) -> Option<Vec<String>> {
        Some(names.iter().map(|&n| n.to_owned()).collect())
    }

    #[test]
    fn single_requests_and_batches() {
        let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"name":"x"}}}"#;
        assert_eq!(calls(call), [named(&["a"])]);
        assert_eq!(
            calls(&format!(
                r#"[{call}, {{"method":"tools/list"}}, 5, [{call}]]"#
            )),
            [named(&["a"]), None]
        );
        assert_eq!(
            calls(r#"{"method":"initialize","params":{"name":"a"}}"#),
            [None]
        );
        assert_eq!(calls(r#""tools/call""#), []);
        assert_eq!(calls(r#"{"method":"tools/call"}"#), [named(&[])]);
        assert_eq!(
            calls(r#"{"method":"tools/call","params":{"name":7}}"#),
            [named(&[])]
        );
    }

    #[test]
    fn ambiguous_messages_count_every_reading() {
        // A key sent twice: every value counts, whichever a server would keep.
        assert_eq!(
            calls(r#"{"method":"tools/call","params":{"name":"a","name":"b"}}"#),
            [named(&["a", "b"])]
        );
        assert_eq!(
            calls(r#"{"method":"ping","method":"tools/call","params":{"name":"a"}}"#),
            [named(&["a"])]
        );
        assert_eq!(
            calls(r#"{"method":"tools/call","params":{"name":"a"},"params":{"name":"b"}}"#),
            [named(&["a", "b"])]
        );
        // By-position params, escaped member names and method.
        assert_eq!(
            calls(r#"{"method":"tools/call","params":[{"x":1},"a",2,"b"]}"#),
            [named(&["a", "b"])]
        );
        assert_eq!(
            calls(r#"{"me\u0074hod":"tools\/call","params":{"na\u006de":"a"}}"#),
            [named(&["a"])]
        );
        // Case matters, as in JSON-RPC.
        assert_eq!(
            calls(r#"{"Method":"tools/call","params":{"name":"a"}}"#),
            [None]
        );
    }

    #[test]
    fn what_was_read_before_an_error_or_after_the_first_value_counts() {
        assert_eq!(
            calls(r#"{"method":"tools/call","params":{"name":"a"},"x":NaN}"#),
            [named(&["a"])]
        );
        assert_eq!(
            calls(
                r#"{"method":"tools/call","params":{"name":"a"}} {"method":"tools/call","params":{"name":"b"}}"#
            ),
            [named(&["a"]), named(&["b"])]
        );
        assert_eq!(calls("not json"), []);
        assert_eq!(calls(""), []);
    }

    #[test]
    fn only_posts_of_json_bodies_are_read() {
        let request = |method: Method, types: &[&str]| {
            let mut builder = Request::builder().method(method).uri("/");
            for t in types {
                builder = builder.header(CONTENT_TYPE, *t);
            }
            builder.body(()).unwrap()
        };
        for json in [
            "application/json",
            "Application/JSON; charset=utf-8",
            " application/json-rpc+json ",
        ] {
            assert!(is_json_post(&request(Method::POST, &[json])), "{json}");
            assert!(is_json_post(&request(Method::POST, &["text/plain", json])));
            assert!(!is_json_post(&request(Method::GET, &[json])));
            assert!(!is_json_post(&request(Method::PUT, &[json])));
        }
        for other in [&["text/plain"][..], &["application/jsonx"], &["json"], &[]] {
            assert!(!is_json_post(&request(Method::POST, other)), "{other:?}");
        }
    }

    #[test]
    fn content_codings_other_than_identity_are_seen() {
        let request = |codings: &[&str]| {
            let mut builder = Request::builder().method(Method::POST).uri("/");
            for c in codings {
                builder = builder.header(CONTENT_ENCODING, *c);
            }
            builder.body(()).unwrap()
        };
        assert!(!is_encoded(&request(&[])));
        assert!(!is_encoded(&request(&["identity", "Identity"])));
        assert!(is_encoded(&request(&["gzip"])));
        assert!(is_encoded(&request(&["identity, br"])));
    }

    #[test]
    fn duplicate_tools_are_a_configuration_error() {
        let read = || ScopeRequirement::all(["read"]);
        let layer = McpToolScopesLayer::new().tool("a", read()).unwrap();
        assert_eq!(
            layer.clone().tool("a", read()).unwrap_err(),
            ConfigError::DuplicateTool("a".into())
        );
        assert_eq!(
            ConfigError::DuplicateTool("a".into()).to_string(),
            "tool `a` is given a scope requirement twice"
        );
        assert_eq!(layer.requirement("a"), Some(&read()));
        assert_eq!(
            format!("{layer:?}"),
            r#"McpToolScopesLayer { tools: {"a": Some(All("read"))}, max_body_bytes: 4194304, .. }"#
        );
    }
}
