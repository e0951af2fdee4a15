//! The pure core: a token string in, [`Claims`](crate::Claims) or an
//! [`AuthError`](crate::AuthError) out. Nothing here knows tower or HTTP responses, so gRPC
//! interceptors, websocket handshakes and queue consumers can call it directly.

pub(crate) mod cache;
pub mod claim_path;
pub(crate) mod claims;
pub(crate) mod dpop;
pub(crate) mod introspect;
pub(crate) mod issuer;
pub(crate) mod json;
pub mod predicate;
pub(crate) mod replay;
#[cfg(feature = "redis")]
pub(crate) mod replay_redis;
pub(crate) mod rules;
pub mod scope;
pub(crate) mod validator;
