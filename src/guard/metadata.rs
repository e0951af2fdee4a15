//! Protected resource metadata (RFC 9728): the document that tells a client which
//! authorization servers issue tokens for this API and which scopes it knows, and the
//! `resource_metadata` parameter that points at it from every challenge.
//!
//! A client that knows only the API's URL (an MCP client, for one) calls it, gets a 401 whose
//! challenge names the metadata URL, reads the document, and asks one of its authorization
//! servers for a token for exactly this resource.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use bearer_guard::{GuardLayer, Issuer, ResourceMetadata, ScopeRequirement, Validator};
//!
//! # fn build() -> Result<Router, bearer_guard::ConfigError> {
//! let validator = Validator::builder()
//!     .issuer(Issuer::new("https://idp.example.com").audience("https://api.example.com/mcp"))
//!     .build()?;
//! // The identifier comes from configuration, never from the request's Host header.
//! let metadata = ResourceMetadata::new("https://api.example.com/mcp", &validator)?
//!     .resource_name("Orders");
//! assert_eq!(
//!     metadata.url(),
//!     "https://api.example.com/.well-known/oauth-protected-resource/mcp"
//! );
//! let mut app = Router::new()
//!     .route("/mcp", get(|| async { "tools" }))
//!     // Declared once: enforced here and listed in `scopes_supported`.
//!     .route_layer(metadata.require_scope(ScopeRequirement::all(["orders:read"])))
//!     .route_layer(GuardLayer::new(validator).resource_metadata(&metadata)?);
//! // Added after the guard: reachable without a token.
//! for path in metadata.paths() {
//!     app = app.route_service(path, metadata.service::<Body>());
//! }
//! # Ok(app) }
//! # build().unwrap();
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use tower_service::Service;

use crate::defaults;
use crate::error::ConfigError;
use crate::guard::require_scope::RequireScopeLayer;
use crate::jwks::fetch::check_url;
use crate::verify::scope::ScopeRequirement;
use crate::verify::validator::Validator;

/// The well-known path segment of RFC 9728 §3.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The protected resource metadata of one resource (RFC 9728). Cheap to clone: clones share
/// the scopes declared through [`require_scope`](Self::require_scope) and
/// [`declare`](Self::declare).
#[derive(Clone)]
#[must_use]
pub struct ResourceMetadata {
    config: Arc<Config>,
    declared: Arc<Mutex<Vec<String>>>,
    /// `dpop_signing_alg_values_supported` and whether DPoP is required, set by a guard
    /// with DPoP on.
    dpop: Arc<Mutex<Option<DpopDeclared>>>,
}

/// The proof algorithms of a guard with DPoP on, and whether it requires DPoP.
type DpopDeclared = (Vec<&'static str>, bool);

#[derive(Clone, Debug)]
struct Config {
    resource: String,
    url: String,
    path: String,
    query: Option<String>,
    authorization_servers: Vec<String>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    at_root: bool,
    max_age: Duration,
}

impl ResourceMetadata {
    /// The metadata of the resource `resource`: the URL clients call, exactly as they call it
    /// (it is the document's `resource` member, and should be the audience tokens carry).
    /// Authorization servers default to the issuers `validator` trusts (issuer templates are
    /// not listed: they name no one server).
    ///
    /// # Errors
    /// [`ConfigError`] naming `resource` if it is not an https URL (loopback http is
    /// allowed), holds a user name or password, or has a fragment.
    pub fn new<T>(resource: &str, validator: &Validator<T>) -> Result<Self, ConfigError> {
        let url = check_url("resource", resource, false)?;
        if url.fragment().is_some() || resource.contains('#') {
            return Err(ConfigError::InvalidUrl {
                setting: "resource",
                value: resource.to_owned(),
            });
        }
        let (origin, path, query) = split(resource);
        let path = format!("{WELL_KNOWN}{path}");
        let url = match &query {
            Some(query) => format!("{origin}{path}?{query}"),
            None => format!("{origin}{path}"),
        };
        Ok(Self {
            config: Arc::new(Config {
                resource: resource.to_owned(),
                url,
                path,
                query,
                authorization_servers: validator.exact_issuers(),
                resource_name: None,
                resource_documentation: None,
                at_root: true,
                max_age: defaults::METADATA_MAX_AGE,
            }),
            declared: Arc::default(),
            dpop: Arc::default(),
        })
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The authorization servers to list, instead of the validator's issuers.
    pub fn authorization_servers<S: Into<String>>(
        mut self,
        servers: impl IntoIterator<Item = S>,
    ) -> Self {
        self.config_mut().authorization_servers = servers.into_iter().map(Into::into).collect();
        self
    }

    /// `resource_name`: a name for people.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.config_mut().resource_name = Some(name.into());
        self
    }

    /// `resource_documentation`: a page about the API for developers.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.config_mut().resource_documentation = Some(url.into());
        self
    }

    /// Also serve the document at the root well-known URL, `/.well-known/oauth-protected-resource`,
    /// where some clients look first (default: on).
    pub fn serve_at_root(mut self, on: bool) -> Self {
        self.config_mut().at_root = on;
        self
    }

    /// `Cache-Control: max-age` of the document (default [`defaults::METADATA_MAX_AGE`]).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.config_mut().max_age = max_age;
        self
    }

    /// A [`RequireScopeLayer`] for `requirement`, whose scopes are listed in
    /// `scopes_supported`: one declaration for both.
    pub fn require_scope(&self, requirement: ScopeRequirement) -> RequireScopeLayer {
        self.declare(&requirement);
        RequireScopeLayer::new(requirement)
    }

    /// What a guard with DPoP on publishes (RFC 9728 §2).
    pub(crate) fn declare_dpop(&self, algs: &[&'static str], required: bool) {
        *self.dpop.lock().unwrap_or_else(PoisonError::into_inner) = Some((algs.to_vec(), required));
    }

    /// Lists the scopes of `requirement` in `scopes_supported` (for requirements enforced
    /// elsewhere, such as per MCP tool).
    pub fn declare(&self, requirement: &ScopeRequirement) {
        let mut declared = self.declared.lock().unwrap_or_else(PoisonError::into_inner);
        for scope in requirement.scopes() {
            if !declared.iter().any(|s| s == scope) {
                declared.push(scope.to_owned());
            }
        }
    }

    /// The resource identifier, as configured.
    pub fn resource(&self) -> &str {
        &self.config.resource
    }

    /// The metadata URL: the identifier with the well-known path inserted after the host
    /// (RFC 9728 §3.1).
    pub fn url(&self) -> &str {
        &self.config.url
    }

    /// The paths the document is served at: the inserted one, and the root one when on.
    pub fn paths(&self) -> Vec<&str> {
        let mut paths = vec![self.config.path.as_str()];
        if self.config.at_root && self.config.path != WELL_KNOWN {
            paths.push(WELL_KNOWN);
        }
        paths
    }

    /// The document (RFC 9728 §2), members without a value left out.
    pub fn document(&self) -> serde_json::Value {
        let config = &*self.config;
        let mut document = serde_json::Map::new();
        document.insert("resource".into(), config.resource.clone().into());
        if !config.authorization_servers.is_empty() {
            document.insert(
                "authorization_servers".into(),
                config.authorization_servers.clone().into(),
            );
        }
        let declared = self.declared.lock().unwrap_or_else(PoisonError::into_inner);
        // Never `offline_access`: there are no refresh tokens to offer.
        let scopes: Vec<&str> = declared
            .iter()
            .map(String::as_str)
            .filter(|s| *s != "offline_access")
            .collect();
        if !scopes.is_empty() {
            document.insert("scopes_supported".into(), scopes.into());
        }
        document.insert("bearer_methods_supported".into(), vec!["header"].into());
        let dpop = self
            .dpop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some((algs, required)) = dpop {
            document.insert("dpop_signing_alg_values_supported".into(), algs.into());
            if required {
                document.insert("dpop_bound_access_tokens_required".into(), true.into());
            }
        }
        for (name, value) in [
            ("resource_name", &config.resource_name),
            ("resource_documentation", &config.resource_documentation),
        ] {
            if let Some(value) = value {
                document.insert(name.into(), value.clone().into());
            }
        }
        serde_json::Value::Object(document)
    }

    /// A tower service answering GET at [`paths`](Self::paths) with the document; 405 for
    /// other methods there, 404 elsewhere. No token is needed: mount it outside the guard.
    pub fn service<ResBody>(&self) -> MetadataService<ResBody> {
        MetadataService {
            metadata: self.clone(),
            _body: PhantomData,
        }
    }

    /// Whether the request targets the document: an exact path (and the identifier's
    /// query, if it has one), never a prefix.
    fn serves(&self, path: &str, query: Option<&str>) -> bool {
        let config = &*self.config;
        (path == config.path && query == config.query.as_deref())
            || (config.at_root && path == WELL_KNOWN && query.is_none())
    }
}

impl fmt::Debug for ResourceMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceMetadata")
            .field("resource", &self.config.resource)
            .field("url", &self.config.url)
            .field("authorization_servers", &self.config.authorization_servers)
            .finish_non_exhaustive()
    }
}

/// Splits an identifier into its origin (`scheme://authority`), its path with a lone `/`
/// after the host dropped (RFC 9728 §3.1), and its query.
fn split(resource: &str) -> (&str, &str, Option<String>) {
    let after_scheme = resource.find("://").map_or(0, |i| i + 3);
    let end = resource[after_scheme..]
        .find(['/', '?'])
        .map_or(resource.len(), |i| after_scheme + i);
    let (origin, rest) = resource.split_at(end);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (rest, None),
    };
    let path = if path == "/" { "" } else { path };
    (origin, path, query)
}

/// Serves a [`ResourceMetadata`] document; see [`ResourceMetadata::service`].
pub struct MetadataService<ResBody> {
    metadata: ResourceMetadata,
    _body: PhantomData<fn() -> ResBody>,
}

impl<ResBody> Clone for MetadataService<ResBody> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            _body: PhantomData,
        }
    }
}

impl<ResBody> fmt::Debug for MetadataService<ResBody> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataService")
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl<B, ResBody: From<Bytes>> Service<Request<B>> for MetadataService<ResBody> {
    type Response = Response<ResBody>;
    type Error = Infallible;
    type Future = Ready<Result<Response<ResBody>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let uri = request.uri();
        let response = if !self.metadata.serves(uri.path(), uri.query()) {
            status(StatusCode::NOT_FOUND)
        } else if request.method() != Method::GET {
            let mut response = status(StatusCode::METHOD_NOT_ALLOWED);
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            response
        } else {
            let body = self.metadata.document().to_string();
            let mut response = Response::new(ResBody::from(Bytes::from(body)));
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let max_age = format!("max-age={}", self.metadata.config.max_age.as_secs());
            if let Ok(value) = HeaderValue::try_from(max_age) {
                headers.insert(CACHE_CONTROL, value);
            }
            response
        };
        ready(Ok(response))
    }
}

fn status<ResBody: From<Bytes>>(status: StatusCode) -> Response<ResBody> {
    let mut response = Response::new(ResBody::from(Bytes::new()));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Issuer;

    fn validator() -> Validator {
        Validator::builder()
            .issuer(
                Issuer::new("https://idp.example")
                    .audience("a")
                    .hmac_secret([b'k'; 32]),
            )
            .issuer(
                Issuer::new("https://another.example/")
                    .audience("a")
                    .hmac_secret([b'k'; 32]),
            )
            .build()
            .unwrap()
    }

    fn url_of(resource: &str) -> String {
        ResourceMetadata::new(resource, &validator())
            .unwrap()
            .url()
            .to_owned()
    }

    #[test]
    fn the_well_known_path_is_inserted_after_the_host() {
        // RFC 9728 §3.1 and its examples.
        for (resource, url) in [
            (
                "https://resource.example.com",
                "https://resource.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://resource.example.com/",
                "https://resource.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://resource.example.com/resource1",
                "https://resource.example.com/.well-known/oauth-protected-resource/resource1",
            ),
            (
                "https://h.example/mcp/",
                "https://h.example/.well-known/oauth-protected-resource/mcp/",
            ),
            (
                "https://h.example/a/b?x=1",
                "https://h.example/.well-known/oauth-protected-resource/a/b?x=1",
            ),
            (
                "https://h.example/?x=1",
                "https://h.example/.well-known/oauth-protected-resource?x=1",
            ),
            (
                "https://h.example:8443/mcp",
                "https://h.example:8443/.well-known/oauth-protected-resource/mcp",
            ),
            (
                "http://127.0.0.1:3001/mcp",
                "http://127.0.0.1:3001/.well-known/oauth-protected-resource/mcp",
            ),
        ] {
            assert_eq!(url_of(resource), url, "{resource}");
        }
    }

    #[test]
    fn the_identifier_must_be_https_without_credentials_or_fragment() {
        let error = |resource| ResourceMetadata::new(resource, &validator()).unwrap_err();
        assert!(matches!(
            error("http://api.example.com/mcp"),
            ConfigError::InsecureUrl {
                setting: "resource",
                ..
            }
        ));
        assert_eq!(
            error("https://u:p@api.example.com/mcp"),
            ConfigError::CredentialsInUrl {
                setting: "resource"
            }
        );
        assert!(matches!(
            error("https://api.example.com/mcp#x"),
            ConfigError::InvalidUrl {
                setting: "resource",
                ..
            }
        ));
        assert!(matches!(
            error("not a url"),
            ConfigError::InvalidUrl {
                setting: "resource",
                ..
            }
        ));
    }

    #[test]
    fn the_document_lists_what_is_configured_and_omits_what_is_not() {
        let metadata = ResourceMetadata::new("https://api.example/mcp", &validator()).unwrap();
        assert_eq!(
            metadata.document(),
            serde_json::json!({
                "resource": "https://api.example/mcp",
                "authorization_servers": ["https://another.example/", "https://idp.example"],
                "bearer_methods_supported": ["header"],
            })
        );
        let _layer =
            metadata.require_scope(ScopeRequirement::all(["orders:read", "offline_access"]));
        metadata.declare(&ScopeRequirement::any(["orders:write", "orders:read"]));
        let metadata = metadata
            .authorization_servers(["https://as.example"])
            .resource_name("Orders")
            .resource_documentation("https://docs.example/orders");
        assert_eq!(
            metadata.document(),
            serde_json::json!({
                "resource": "https://api.example/mcp",
                "authorization_servers": ["https://as.example"],
                "scopes_supported": ["orders:read", "orders:write"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Orders",
                "resource_documentation": "https://docs.example/orders",
            })
        );
        let none = metadata.clone().authorization_servers(Vec::<String>::new());
        assert!(none.document().get("authorization_servers").is_none());
    }

    #[test]
    fn only_the_exact_paths_are_served() {
        let metadata = ResourceMetadata::new("https://api.example/mcp", &validator()).unwrap();
        assert_eq!(
            metadata.paths(),
            ["/.well-known/oauth-protected-resource/mcp", WELL_KNOWN]
        );
        assert!(metadata.serves("/.well-known/oauth-protected-resource/mcp", None));
        assert!(metadata.serves(WELL_KNOWN, None));
        for (path, query) in [
            ("/.well-known/oauth-protected-resource/mcp/", None),
            ("/.well-known/oauth-protected-resource/mcpx", None),
            ("/.well-known/oauth-protected-resource/mcp/tools", None),
            ("/.well-known/oauth-protected-resource/mcp", Some("x=1")),
            ("/.well-known/oauth-protected-resourcex", None),
            ("/mcp", None),
        ] {
            assert!(!metadata.serves(path, query), "{path} {query:?}");
        }
        let no_root = metadata.serve_at_root(false);
        assert!(!no_root.serves(WELL_KNOWN, None));
        assert_eq!(
            no_root.paths(),
            ["/.well-known/oauth-protected-resource/mcp"]
        );
        let with_query = ResourceMetadata::new("https://api.example/a?v=2", &validator()).unwrap();
        assert!(with_query.serves("/.well-known/oauth-protected-resource/a", Some("v=2")));
        assert!(!with_query.serves("/.well-known/oauth-protected-resource/a", None));
    }
}
