//! gRPC: rejections answered the gRPC way, and scopes per gRPC method (rules L.64, L.65).
//!
//! gRPC runs over HTTP/2, so the guard serves a tonic server as it serves any other tower
//! stack (see the [crate docs](crate#grpc-with-tonic) for tonic itself). Two things differ:
//!
//! - **Rejections.** A gRPC client reads the outcome of a call from `grpc-status`, not from the
//!   HTTP status. A rejected gRPC request (`content-type: application/grpc` or
//!   `application/grpc+…`) is therefore answered with HTTP 200 and a trailers-only response:
//!   `grpc-status` ([`GrpcStatus`]), a percent-encoded `grpc-message`, an empty body, and the
//!   `WWW-Authenticate` challenges (and `DPoP-Nonce`, `Retry-After`) of the HTTP answer. The
//!   guard, [`RequireScopeLayer`](crate::RequireScopeLayer) and [`GrpcScopesLayer`] all do so;
//!   [`GuardLayer::grpc_rejections`](crate::GuardLayer::grpc_rejections) forces either form.
//!   gRPC-Web (`application/grpc-web…`) is not gRPC here: its trailers travel in the body, so
//!   put the guard inside the layer that translates it (tonic-web's), which hands the guard
//!   plain gRPC requests.
//! - **Scopes.** A gRPC method is a path, `/package.Service/Method`. [`GrpcScopesLayer`]
//!   declares the scopes of each method once, for a whole server or for one service.
//!
//! | HTTP answer | `grpc-status` |
//! |---|---|
//! | 401 (no token, any token failure, DPoP proof failures) | 16 `UNAUTHENTICATED` |
//! | 403 (scopes missing, a claim predicate failing) | 7 `PERMISSION_DENIED` |
//! | 400 (malformed credential, token sent twice) | 3 `INVALID_ARGUMENT` |
//! | 503 (keys, replay store or introspection unavailable) | 14 `UNAVAILABLE` |
//! | 500 (layers in the wrong order) | 13 `INTERNAL` |
//!
//! ```
//! use std::convert::Infallible;
//! use bearer_guard::{GrpcScopesLayer, GuardLayer, Issuer, ScopeRequirement, Validator};
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), bearer_guard::ConfigError> {
//! let validator = Validator::builder()
//!     .issuer(Issuer::new("https://idp.example.com").audience("api"))
//!     .build()?;
//! let scopes = GrpcScopesLayer::new()
//!     .method("/orders.v1.Orders/Read", ScopeRequirement::all(["orders:read"]))?
//!     .method("/orders.v1.Orders/Cancel", ScopeRequirement::all(["orders:write"]))?;
//! let server = ServiceBuilder::new()
//!     .layer(GuardLayer::new(validator)) // outermost: runs first
//!     .layer(scopes)
//!     .service(service_fn(|_: Request<String>| async {
//!         Ok::<_, Infallible>(Response::new(String::new()))
//!     }));
//!
//! // A gRPC call without a token.
//! let call = Request::post("/orders.v1.Orders/Read")
//!     .header("content-type", "application/grpc")
//!     .header("te", "trailers")
//!     .body(String::new())
//!     .unwrap();
//! let response = server.oneshot(call).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["content-type"], "application/grpc");
//! assert_eq!(response.headers()["grpc-status"], "16");
//! assert_eq!(response.headers()["grpc-message"], "No bearer token was presented");
//! assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="api""#);
//! assert!(response.body().is_empty());
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::ConfigError;
use crate::guard::future::RejectOr;
use crate::guard::metadata::ResourceMetadata;
use crate::guard::require_scope::check_route;
use crate::guard::response::{InheritRejection, OnRejection, respond};
use crate::verify::scope::{Requirements, ScopeRequirement};

/// Names the checks of this layer in the log, beside "route" and "guard-wide".
const WHOSE: &str = "grpc method";

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

// ---------------------------------------------------------------------------------------------
// Rejections
// ---------------------------------------------------------------------------------------------

/// Which rejections are answered the gRPC way (HTTP 200, `grpc-status` in a trailers-only
/// response) rather than with an HTTP status; set with
/// [`GuardLayer::grpc_rejections`](crate::GuardLayer::grpc_rejections). The
/// [`RequireScopeLayer`](crate::RequireScopeLayer)s and [`GrpcScopesLayer`]s under the guard
/// follow its setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum GrpcRejections {
    /// Those of gRPC requests: `content-type` `application/grpc` or `application/grpc+…`
    /// (`+proto`, `+json`, …), compared without regard to case, parameters ignored. Not
    /// gRPC-Web (`application/grpc-web…`). The default.
    #[default]
    Auto,
    /// Every rejection: for a server that speaks only gRPC, whatever its clients send.
    Always,
    /// None: plain HTTP statuses, for a proxy in front that maps them to gRPC statuses itself.
    Never,
}

impl GrpcRejections {
    /// Whether the rejection of a request with `headers` is answered the gRPC way: the one
    /// place this is decided.
    pub(crate) fn applies_to(self, headers: &HeaderMap) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => headers.get(CONTENT_TYPE).is_some_and(is_grpc_content_type),
        }
    }
}

/// `application/grpc` or `application/grpc+…`; type and subtype are case-insensitive
/// (RFC 9110 §8.3.1) and parameters do not change the media type.
fn is_grpc_content_type(value: &HeaderValue) -> bool {
    let essence = value.as_bytes().split(|&b| b == b';').next().unwrap_or(&[]);
    let essence = essence.trim_ascii();
    const GRPC: &[u8] = b"application/grpc";
    essence.len() >= GRPC.len()
        && essence[..GRPC.len()].eq_ignore_ascii_case(GRPC)
        && matches!(essence.get(GRPC.len()), None | Some(b'+'))
}

/// The gRPC status codes a rejection is answered with (gRPC's `statuscodes.md`), one per
/// HTTP status the guard answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrpcStatus {
    /// 3: the request is malformed (HTTP 400).
    InvalidArgument,
    /// 7: a valid token lacks a scope or fails a claim predicate (HTTP 403).
    PermissionDenied,
    /// 13: the layers are in the wrong order (HTTP 500).
    Internal,
    /// 14: keys, the DPoP replay store or the introspection endpoint cannot be had; retry
    /// (HTTP 503).
    Unavailable,
    /// 16: no token, or one that is not valid (HTTP 401).
    Unauthenticated,
}

impl GrpcStatus {
    /// The code sent in `grpc-status`.
    ///
    /// ```
    /// assert_eq!(bearer_guard::GrpcStatus::Unauthenticated.code(), 16);
    /// ```
    pub fn code(self) -> i32 {
        match self {
            Self::InvalidArgument => 3,
            Self::PermissionDenied => 7,
            Self::Internal => 13,
            Self::Unavailable => 14,
            Self::Unauthenticated => 16,
        }
    }

    /// The name gRPC gives the code, such as `UNAUTHENTICATED`.
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::Internal => "INTERNAL",
            Self::Unavailable => "UNAVAILABLE",
            Self::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The gRPC status of a rejection answered `status` in HTTP: the kind of a rejection
    /// decides its HTTP status in one place, and this maps that, so both cannot disagree.
    pub(crate) fn for_http(status: StatusCode) -> Self {
        match status {
            StatusCode::BAD_REQUEST => Self::InvalidArgument,
            StatusCode::UNAUTHORIZED => Self::Unauthenticated,
            StatusCode::FORBIDDEN => Self::PermissionDenied,
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

impl fmt::Display for GrpcStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
impl From<GrpcStatus> for tonic::Code {
    fn from(status: GrpcStatus) -> Self {
        tonic::Code::from_i32(status.code())
    }
}

/// Makes `headers` those of a trailers-only gRPC response with `status` and `message`.
pub(crate) fn trailers_only(headers: &mut HeaderMap, status: GrpcStatus, message: &'static str) {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(GRPC_STATUS, HeaderValue::from(status.code()));
    let message = match percent_encode(message) {
        Cow::Borrowed(message) => HeaderValue::from_static(message),
        Cow::Owned(encoded) => {
            HeaderValue::try_from(encoded).expect("percent-encoded text is visible ASCII")
        }
    };
    headers.insert(GRPC_MESSAGE, message);
}

/// `grpc-message` encoding (gRPC over HTTP/2, "Responses"): every byte of the UTF-8 text
/// outside space to `~`, and `%` itself, as `%XX`.
fn percent_encode(message: &str) -> Cow<'_, str> {
    let plain = |b: u8| (b' '..=b'~').contains(&b) && b != b'%';
    if message.bytes().all(plain) {
        return Cow::Borrowed(message);
    }
    let mut encoded = String::with_capacity(message.len() + 8);
    for b in message.bytes() {
        if plain(b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(encoded)
}

// ---------------------------------------------------------------------------------------------
// Scopes per method
// ---------------------------------------------------------------------------------------------

/// A tower [`Layer`] that applies [`GrpcScopes`]: the scopes each gRPC method needs, by its
/// path `/package.Service/Method` (rule L.65). See the [module docs](crate::grpc).
///
/// Put it inside a [`GuardLayer`](crate::GuardLayer), like a
/// [`RequireScopeLayer`](crate::RequireScopeLayer): it judges the token the guard let
/// through, with the very check the guard and `RequireScopeLayer` make, and answers a token
/// that falls short with 403 (`PERMISSION_DENIED` to a gRPC client) naming the scopes that
/// would do. Declare the methods of the whole server with [`new`](Self::new) and full paths, or
/// those of one service with [`for_service`](Self::for_service) and method names:
///
/// ```
/// use bearer_guard::{GrpcScopesLayer, ScopeRequirement};
///
/// # fn build() -> Result<(), bearer_guard::ConfigError> {
/// // For a whole server (tonic's `Server::builder().layer(…)`), by full path.
/// let server_wide = GrpcScopesLayer::new()
///     .method("/orders.v1.Orders/Read", ScopeRequirement::all(["read"]))?
///     .method("/billing.v1.Invoices/Issue", ScopeRequirement::all(["billing"]))?;
///
/// // For one service (the service given to `add_service`), by method name.
/// let orders = GrpcScopesLayer::for_service("orders.v1.Orders")?
///     .method("Read", ScopeRequirement::all(["read"]))?
///     .method("Write", ScopeRequirement::any(["write", "admin"]))?;
/// assert_eq!(orders.requirement("/orders.v1.Orders/Write").unwrap().scopes().count(), 2);
///
/// // Paths that tonic would never route are refused when the layer is built.
/// assert!(GrpcScopesLayer::new().method("orders.v1.Orders/Read", ScopeRequirement::all(["read"])).is_err());
/// assert!(orders.method("/orders.v1.Orders/Read", ScopeRequirement::all(["read"])).is_err());
/// # Ok(()) }
/// # build().unwrap();
/// ```
///
/// **Methods not declared** need only what the guard needs (any valid token, or the guard's
/// [`require`](crate::GuardLayer::require)ment), as routes without a `RequireScopeLayer` do;
/// [`unlisted`](Self::unlisted) requires something of them all, so that a method added to the
/// service later and forgotten here is closed rather than open.
///
/// **Matching is exact**: the request's path, byte for byte, as tonic's generated servers
/// route it. No percent-decoding, case folding, prefix or trailing-slash matching: a path that
/// differs in any way from a declared one is not that method for tonic either (it answers
/// `UNIMPLEMENTED`), and is judged as an unlisted method here.
#[derive(Clone)]
#[must_use]
pub struct GrpcScopesLayer<H = InheritRejection> {
    /// The service of a layer made by [`for_service`](Self::for_service).
    service: Option<Box<str>>,
    /// By full path, in the order declared.
    methods: Vec<(Box<str>, Requirements)>,
    unlisted: Option<Requirements>,
    declared_in: Option<ResourceMetadata>,
    on_rejection: H,
}

impl GrpcScopesLayer {
    /// A layer for a whole server: [`method`](Self::method) takes full paths,
    /// `/package.Service/Method`.
    pub fn new() -> Self {
        Self {
            service: None,
            methods: Vec::new(),
            unlisted: None,
            declared_in: None,
            on_rejection: InheritRejection,
        }
    }

    /// A layer for the service `service` (`package.Service`, such as `orders.v1.Orders`, as in
    /// tonic's `NamedService::NAME`): [`method`](Self::method) takes method names.
    ///
    /// # Errors
    /// [`ConfigError::InvalidGrpcMethod`] (setting `grpc service`) if `service` is not
    /// dot-separated protobuf identifiers.
    pub fn for_service(service: &str) -> Result<Self, ConfigError> {
        if !is_service_name(service) {
            return Err(invalid(
                "grpc service",
                service,
                "is not a service name such as `orders.v1.Orders`",
            ));
        }
        Ok(Self {
            service: Some(service.into()),
            ..Self::new()
        })
    }
}

impl Default for GrpcScopesLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<H> GrpcScopesLayer<H> {
    /// The method `method` needs `requirement`: on a layer made by [`new`](Self::new), its
    /// full path (`/orders.v1.Orders/Read`); on one made by [`for_service`](Self::for_service),
    /// its name (`Read`).
    ///
    /// # Errors
    /// [`ConfigError::InvalidGrpcMethod`] (setting `grpc method`) for a path that is not
    /// `/package.Service/Method` (or a name that is not a protobuf identifier) and for a
    /// method declared twice: which of the two was meant cannot be told.
    pub fn method(
        mut self,
        method: &str,
        requirement: ScopeRequirement,
    ) -> Result<Self, ConfigError> {
        let path: Box<str> = match &self.service {
            None if is_method_path(method) => method.into(),
            None => {
                return Err(invalid(
                    "grpc method",
                    method,
                    "is not a method path such as `/orders.v1.Orders/Read`",
                ));
            }
            Some(service) if is_identifier(method) => format!("/{service}/{method}").into(),
            Some(_) => {
                return Err(invalid(
                    "grpc method",
                    method,
                    "is not a method name such as `Read` (the layer is for one service)",
                ));
            }
        };
        if self.methods.iter().any(|(p, _)| *p == path) {
            return Err(invalid(
                "grpc method",
                &path,
                "is given a scope requirement twice",
            ));
        }
        if let Some(metadata) = &self.declared_in {
            metadata.declare(&requirement);
        }
        self.methods.push((path, only(requirement)));
        Ok(self)
    }

    /// Every method not declared with [`method`](Self::method) needs `requirement` (beside
    /// what the guard needs). Without this call they need only what the guard needs.
    pub fn unlisted(mut self, requirement: ScopeRequirement) -> Self {
        if let Some(metadata) = &self.declared_in {
            metadata.declare(&requirement);
        }
        self.unlisted = Some(only(requirement));
        self
    }

    /// Lists the scopes of every method in `metadata`'s `scopes_supported`: those declared
    /// so far, and those declared later.
    pub fn declare_in(mut self, metadata: &ResourceMetadata) -> Self {
        let declared = self.methods.iter().map(|(_, r)| r).chain(&self.unlisted);
        for requirement in declared.filter_map(|r| r.scopes.as_ref()) {
            metadata.declare(requirement);
        }
        self.declared_in = Some(metadata.clone());
        self
    }

    /// Replace the rejection response of this layer alone; see [`crate::response`]. Without
    /// it, the handler of the guard in front shapes this layer's rejections too.
    pub fn on_rejection<H2>(self, handler: H2) -> GrpcScopesLayer<H2> {
        GrpcScopesLayer {
            service: self.service,
            methods: self.methods,
            unlisted: self.unlisted,
            declared_in: self.declared_in,
            on_rejection: handler,
        }
    }

    /// The requirement of the method at `path` (a full path), if it was declared.
    pub fn requirement(&self, path: &str) -> Option<&ScopeRequirement> {
        let (_, requirements) = self.methods.iter().find(|(p, _)| &**p == path)?;
        requirements.scopes.as_ref()
    }

    /// The declared methods, by full path, in the order declared.
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        self.methods.iter().map(|(path, _)| &**path)
    }
}

impl<H> fmt::Debug for GrpcScopesLayer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcScopesLayer")
            .field("service", &self.service)
            .field(
                "methods",
                &Methods(self.methods.iter().map(|(p, r)| (p, r))),
            )
            .field("unlisted", &self.unlisted.as_ref().map(|r| &r.scopes))
            .finish_non_exhaustive()
    }
}

/// The methods and their scopes, for `Debug`.
struct Methods<I>(I);

impl<'a, I> fmt::Debug for Methods<I>
where
    I: Iterator<Item = (&'a Box<str>, &'a Requirements)> + Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.clone().map(|(path, r)| (path, &r.scopes)))
            .finish()
    }
}

impl<S, H: Clone> Layer<S> for GrpcScopesLayer<H> {
    type Service = GrpcScopes<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcScopes {
            inner,
            shared: Arc::new(Shared {
                methods: self.methods.iter().cloned().collect(),
                unlisted: self.unlisted.clone(),
                on_rejection: self.on_rejection.clone(),
            }),
        }
    }
}

/// Lets a gRPC call through only if its token grants the method's scopes; built by
/// [`GrpcScopesLayer`].
pub struct GrpcScopes<S, H = InheritRejection> {
    inner: S,
    shared: Arc<Shared<H>>,
}

/// What every request of one service reads.
struct Shared<H> {
    /// Looked up by the paths clients send: no hashing to attack.
    methods: BTreeMap<Box<str>, Requirements>,
    unlisted: Option<Requirements>,
    on_rejection: H,
}

impl<S, H> GrpcScopes<S, H> {
    inner_service_accessors!();
}

impl<S: Clone, H> Clone for GrpcScopes<S, H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, H> fmt::Debug for GrpcScopes<S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcScopes")
            .field("inner", &self.inner)
            .field("methods", &Methods(self.shared.methods.iter()))
            .field(
                "unlisted",
                &self.shared.unlisted.as_ref().map(|r| &r.scopes),
            )
            .finish_non_exhaustive()
    }
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcScopes<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    H: OnRejection<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RejectOr<S::Future, Response<ResBody>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Every request is judged by its path, whatever its content type: a caller cannot
        // step around a method's scopes by not looking like gRPC.
        let shared = &self.shared;
        let requirements = shared
            .methods
            .get(request.uri().path())
            .or(shared.unlisted.as_ref());
        match check_route(&request, requirements, WHOSE, "GrpcScopesLayer") {
            Ok(()) => RejectOr::inner(self.inner.call(request)),
            Err(rejection) => RejectOr::rejected(respond(&shared.on_rejection, rejection)),
        }
    }
}

/// `/package.Service/Method`.
fn is_method_path(path: &str) -> bool {
    let Some((service, method)) = path.strip_prefix('/').and_then(|rest| rest.split_once('/'))
    else {
        return false;
    };
    is_service_name(service) && is_identifier(method)
}

/// `package.Service`: protobuf identifiers joined by dots (a service in no package is one
/// identifier).
fn is_service_name(name: &str) -> bool {
    name.split('.').all(is_identifier)
}

/// A protobuf identifier: ASCII letters, digits and `_`, not starting with a digit.
fn is_identifier(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| !b.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A requirement of scopes alone.
fn only(requirement: ScopeRequirement) -> Requirements {
    Requirements {
        claims: Vec::new(),
        scopes: Some(requirement),
    }
}

fn invalid(setting: &'static str, value: &str, problem: &'static str) -> ConfigError {
    ConfigError::InvalidGrpcMethod {
        setting,
        value: value.to_owned(),
        problem,
    }
}

// ---------------------------------------------------------------------------------------------
// tonic's NamedService
// ---------------------------------------------------------------------------------------------

/// A guarded tonic service keeps its name, so that `Server::add_service` routes to it.
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
impl<S: tonic::server::NamedService, T, H> tonic::server::NamedService
    for crate::guard::service::Guard<S, T, H>
{
    const NAME: &'static str = S::NAME;
}

/// A tonic service with route requirements keeps its name, so that `Server::add_service`
/// routes to it.
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
impl<S: tonic::server::NamedService, H> tonic::server::NamedService
    for crate::guard::require_scope::RequireScope<S, H>
{
    const NAME: &'static str = S::NAME;
}

/// A tonic service with method scopes keeps its name, so that `Server::add_service` routes to
/// it.
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
impl<S: tonic::server::NamedService, H> tonic::server::NamedService for GrpcScopes<S, H> {
    const NAME: &'static str = S::NAME;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::guard::challenge::Challenge;
    use crate::guard::response::Rejection;
    use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        headers
    }

    #[test]
    fn grpc_requests_are_told_by_their_content_type() {
        for grpc in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc+json",
            "Application/GRPC+Proto",
            "application/grpc ; charset=utf-8",
            " application/grpc",
        ] {
            assert!(GrpcRejections::Auto.applies_to(&headers(grpc)), "{grpc}");
            assert!(!GrpcRejections::Never.applies_to(&headers(grpc)), "{grpc}");
        }
        for other in [
            "application/grpc-web",
            "application/grpc-web+proto",
            "application/grpc-web-text",
            "application/grpcx",
            "application/json",
            "text/plain; x=application/grpc",
            "application/gr",
            "",
        ] {
            assert!(!GrpcRejections::Auto.applies_to(&headers(other)), "{other}");
            assert!(
                GrpcRejections::Always.applies_to(&headers(other)),
                "{other}"
            );
        }
        assert!(!GrpcRejections::Auto.applies_to(&HeaderMap::new()));
        assert!(GrpcRejections::Always.applies_to(&HeaderMap::new()));
    }

    #[test]
    fn every_kind_maps_its_status_class_to_one_grpc_status() {
        let challenge = Challenge::default();
        let grpc = headers("application/grpc");
        for kind in ErrorKind::ALL {
            let error = match kind {
                ErrorKind::KeysUnavailable => {
                    crate::AuthError::keys_unavailable(std::time::Duration::from_secs(2))
                }
                kind => kind.into(),
            };
            let rejection =
                Rejection::new(error, &challenge).for_request(GrpcRejections::Auto, &grpc);
            let expected = match rejection.status().as_u16() {
                400 => (3, "INVALID_ARGUMENT"),
                401 => (16, "UNAUTHENTICATED"),
                403 => (7, "PERMISSION_DENIED"),
                500 => (13, "INTERNAL"),
                503 => (14, "UNAVAILABLE"),
                other => panic!("{kind:?}: unexpected status {other}"),
            };
            assert_eq!(
                (
                    rejection.grpc_status().code(),
                    rejection.grpc_status().name()
                ),
                expected,
                "{kind:?}"
            );
            assert!(rejection.is_grpc());
            let response = rejection.to_response::<String>();
            assert_eq!(response.status(), StatusCode::OK, "{kind:?}");
            assert!(response.body().is_empty());
            let h = response.headers();
            assert_eq!(h[CONTENT_TYPE], "application/grpc", "{kind:?}");
            assert_eq!(h[GRPC_STATUS], expected.0.to_string().as_str(), "{kind:?}");
            assert_eq!(h[GRPC_MESSAGE], kind.description(), "{kind:?}");
            // The challenges of the HTTP answer are kept, one for one.
            let plain = Rejection::new(kind.into(), &challenge).to_response::<String>();
            assert_eq!(
                h.get_all(WWW_AUTHENTICATE).iter().collect::<Vec<_>>(),
                plain
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .collect::<Vec<_>>(),
                "{kind:?}"
            );
            assert_eq!(response.extensions().get::<ErrorKind>(), Some(&kind));
        }
    }

    #[test]
    fn each_status_class_has_its_own_grpc_status() {
        let cases = [
            (ErrorKind::InvalidRequest, GrpcStatus::InvalidArgument),
            (ErrorKind::MissingCredentials, GrpcStatus::Unauthenticated),
            (ErrorKind::Expired, GrpcStatus::Unauthenticated),
            (ErrorKind::InvalidDpopProof, GrpcStatus::Unauthenticated),
            (ErrorKind::InsufficientScope, GrpcStatus::PermissionDenied),
            (ErrorKind::ForbiddenClaim, GrpcStatus::PermissionDenied),
            (ErrorKind::GuardMissing, GrpcStatus::Internal),
            (ErrorKind::KeysUnavailable, GrpcStatus::Unavailable),
            (ErrorKind::IntrospectionUnavailable, GrpcStatus::Unavailable),
        ];
        let challenge = Challenge::default();
        for (kind, status) in cases {
            assert_eq!(
                Rejection::new(kind.into(), &challenge).grpc_status(),
                status,
                "{kind:?}"
            );
        }
        // What logs and custom handlers print: gRPC's own names.
        assert_eq!(GrpcStatus::Unauthenticated.to_string(), "UNAUTHENTICATED");
        assert_eq!(
            GrpcStatus::PermissionDenied.to_string(),
            "PERMISSION_DENIED"
        );
    }

    #[test]
    fn unavailable_keeps_retry_after_and_the_plain_form_stays_plain() {
        let challenge = Challenge::default();
        let error = crate::AuthError::keys_unavailable(std::time::Duration::from_millis(1500));
        let grpc = Rejection::new(error.clone(), &challenge)
            .for_request(GrpcRejections::Always, &HeaderMap::new())
            .to_response::<()>();
        assert_eq!(grpc.status(), 200);
        assert_eq!(grpc.headers()[GRPC_STATUS], "14");
        assert_eq!(grpc.headers()[RETRY_AFTER], "2");

        let plain = Rejection::new(error, &challenge)
            .for_request(GrpcRejections::Never, &headers("application/grpc"))
            .to_response::<()>();
        assert_eq!(plain.status(), 503);
        assert!(plain.headers().get(GRPC_STATUS).is_none());
        assert!(plain.headers().get(CONTENT_TYPE).is_none());
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert!(matches!(
            percent_encode("The access token expired"),
            Cow::Borrowed(_)
        ));
        assert_eq!(percent_encode("100% sure"), "100%25 sure");
        assert_eq!(percent_encode("tab\there\r\n"), "tab%09here%0D%0A");
        assert_eq!(percent_encode("ünï ~"), "%C3%BCn%C3%AF ~");
        assert_eq!(percent_encode("\u{7f}"), "%7F");
        // Every description the guard can send goes out unchanged: they are plain ASCII.
        for kind in ErrorKind::ALL {
            assert_eq!(percent_encode(kind.description()), kind.description());
        }
    }

    #[test]
    fn method_paths_are_checked_when_the_layer_is_built() {
        let read = || ScopeRequirement::all(["read"]);
        for good in ["/orders.v1.Orders/Read", "/Orders/Read", "/a_1.B/_c9"] {
            assert!(
                GrpcScopesLayer::new().method(good, read()).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "orders.v1.Orders/Read",
            "/orders.v1.Orders/",
            "/orders.v1.Orders",
            "//Read",
            "/orders..Orders/Read",
            "/orders.v1.Orders/Read/",
            "/orders.v1.Orders/Re%61d",
            "/orders.v1.Orders/Read?x",
            "/orders.v1.Orders/*",
            "/1orders.Orders/Read",
            "/orders.v1.Orders/Re ad",
            "",
        ] {
            let error = GrpcScopesLayer::new().method(bad, read()).unwrap_err();
            assert!(
                matches!(
                    error,
                    ConfigError::InvalidGrpcMethod {
                        setting: "grpc method",
                        ..
                    }
                ),
                "{bad}: {error:?}"
            );
        }
        let orders = GrpcScopesLayer::for_service("orders.v1.Orders").unwrap();
        assert!(orders.clone().method("Read", read()).is_ok());
        for bad in ["/orders.v1.Orders/Read", "Re.ad", "", "Read/"] {
            assert!(orders.clone().method(bad, read()).is_err(), "{bad}");
        }
        for bad in ["", "orders/v1", "orders.", ".Orders", "orders v1"] {
            let error = GrpcScopesLayer::for_service(bad).unwrap_err();
            assert!(
                matches!(
                    error,
                    ConfigError::InvalidGrpcMethod {
                        setting: "grpc service",
                        ..
                    }
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_method_declared_twice_is_refused_in_either_form() {
        let read = || ScopeRequirement::all(["read"]);
        let twice = GrpcScopesLayer::new()
            .method("/orders.v1.Orders/Read", read())
            .unwrap()
            .method("/orders.v1.Orders/Read", ScopeRequirement::all(["admin"]));
        assert!(matches!(
            twice,
            Err(ConfigError::InvalidGrpcMethod { ref value, .. }) if value == "/orders.v1.Orders/Read"
        ));
        let layer = GrpcScopesLayer::for_service("orders.v1.Orders")
            .unwrap()
            .method("Read", read())
            .unwrap();
        assert_eq!(
            layer.methods().collect::<Vec<_>>(),
            ["/orders.v1.Orders/Read"]
        );
        assert!(layer.method("Read", read()).is_err());
    }

    #[test]
    fn declared_requirements_are_found_by_full_path_and_shown_in_debug() {
        let layer = GrpcScopesLayer::for_service("orders.v1.Orders")
            .unwrap()
            .method("Read", ScopeRequirement::all(["read"]))
            .unwrap()
            .unlisted(ScopeRequirement::all(["admin"]));
        assert_eq!(
            layer.requirement("/orders.v1.Orders/Read"),
            Some(&ScopeRequirement::all(["read"]))
        );
        assert_eq!(layer.requirement("/orders.v1.Orders/Write"), None);
        assert_eq!(layer.requirement("Read"), None, "full paths only");
        for debug in [
            format!("{layer:?}"),
            format!("{:?}", layer.layer(NeverReady)),
        ] {
            assert!(debug.contains("/orders.v1.Orders/Read"), "{debug}");
            assert!(debug.contains("read") && debug.contains("admin"), "{debug}");
        }
    }

    /// A service that is never ready.
    #[derive(Debug, Clone)]
    struct NeverReady;

    impl Service<Request<()>> for NeverReady {
        type Response = Response<()>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Response<()>, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Pending
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            std::future::ready(Ok(Response::new(())))
        }
    }

    #[test]
    fn readiness_is_the_inner_service_s() {
        let mut service = GrpcScopesLayer::new().layer(NeverReady);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(Service::<Request<()>>::poll_ready(&mut service, &mut cx).is_pending());
    }
}
