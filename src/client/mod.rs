//! The calling side (feature `client`): access tokens from the client credentials grant
//! (RFC 6749 §4.4, RFC 8707), and a tower layer that sends them with outgoing requests.
//!
//! [`TokenSource`] asks the token endpoint for a token, caches it and renews it ahead of its
//! expiry, with one request in flight however many callers wait. [`BearerLayer`] puts
//! `Authorization: Bearer …` on every request of a tower HTTP client and, when the API answers
//! `401 invalid_token`, renews the token and retries once if the body can be sent again.
//!
//! ```
//! # #[cfg(feature = "test-util")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let issuer = bearer_guard::testing::TestIssuer::start().await;
//! # let token_endpoint = issuer.token_endpoint();
//! use bearer_guard::GuardLayer;
//! use bearer_guard::client::{BearerLayer, TokenSource};
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! let source = TokenSource::builder("test-client", "test-secret")
//!     .token_endpoint(token_endpoint) // or .issuer("https://idp.example.com") to discover it
//!     .scope("read")
//!     .resource("https://api.example.com")
//!     .build()?;
//!
//! // A token, for any use (cached: asking again costs nothing until it is due for renewal).
//! let token = source.token().await?;
//! assert_eq!(token.scope(), Some("read"));
//!
//! // Or the layer, on any tower HTTP client. Here the "network" is an API behind the guard.
//! let api = ServiceBuilder::new()
//!     .layer(GuardLayer::new(issuer.validator()))
//!     .service(service_fn(|_: Request<String>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(String::from("orders")))
//!     }));
//! let client = ServiceBuilder::new()
//!     .layer(BearerLayer::new(source))
//!     .service(api);
//! let response = client.oneshot(Request::new(String::new())).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(()) }
//! # #[cfg(not(feature = "test-util"))]
//! # fn main() {}
//! ```
//!
//! With reqwest, [`ReqwestService`] is the service to put the layer in front of:
//! `ServiceBuilder::new().layer(BearerLayer::new(source)).service(ReqwestService::new(client))`.
//! A client that calls several APIs gets a token per API with [`TokenSource::for_resource`]
//! and [`BearerLayer::by_origin`].
//!
//! # Client authentication
//!
//! With a secret ([`TokenSource::builder`]): `client_secret_basic` (the default) or
//! `client_secret_post` ([`AuthMethod`]). With a private key
//! ([`TokenSource::builder_with_key`] and a [`ClientKey`]): `private_key_jwt` (RFC 7523), a
//! fresh signed client assertion with each token request, as many enterprises and FAPI
//! require instead of shared secrets.
//!
//! # Your own HTTP client
//!
//! [`TokenSourceBuilder::http_client`] sends the token requests through a `reqwest::Client`
//! you built (proxy, private CA, client certificate, a shared pool); its documentation says
//! which rules still hold. Failures are [`EndpointError`]s: their kind (unreachable, TLS,
//! timeout, HTTP status, invalid answer…), the URL, the status and the cause.
//!
//! # DPoP
//!
//! With a key ([`TokenSourceBuilder::dpop`], or
//! [`generate_dpop_key`](TokenSourceBuilder::generate_dpop_key)), tokens are DPoP-bound
//! (RFC 9449): token requests carry a proof and must get `token_type` `DPoP`, and
//! [`BearerLayer`] sends `Authorization: DPoP <token>` with a fresh proof per request,
//! handling the servers' `use_dpop_nonce` answers with one retry. See [`Bearer`].
//!
//! # Secrets
//!
//! The client secret and private key, the client assertions, the tokens and the DPoP proofs
//! never appear in a `Debug` output, an error or a log line: [`AccessToken`] shows
//! `[redacted]` and has no `Display`; read it with [`AccessToken::secret`]. The
//! `Authorization` and `DPoP` headers sent are marked sensitive.
//!
//! # Defaults
//!
//! All in [`defaults`]: tokens renewed at 90% of their lifetime or 60 s before expiry
//! (whichever comes first), 5 minutes assumed when `expires_in` is missing, 10 s request
//! timeout, 64 KiB response cap, https except for loopback hosts, no redirects.

pub(crate) mod challenge;
pub mod defaults;
mod dpop;
pub(crate) mod endpoint;
mod error;
mod future;
pub(crate) mod http;
mod key;
mod layer;
mod replay;
mod reqwest_service;
mod service;
mod source;
pub(crate) mod token;

pub use endpoint::{AssertionAudience, AuthMethod};
pub use error::{
    BearerError, EndpointError, EndpointErrorKind, ErrorCode, ErrorResponse, TokenError,
};
pub use future::ResponseFuture;
pub use key::{ClientKey, InvalidClientKey};
pub use layer::BearerLayer;
pub use replay::ReplayBody;
pub use reqwest_service::{IntoReqwestBody, ReqwestFuture, ReqwestService};
pub use service::Bearer;
pub use source::{NoEndpoint, TokenSource, TokenSourceBuilder, WithEndpoint};
pub use token::AccessToken;
