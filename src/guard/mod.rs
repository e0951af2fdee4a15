//! The tower side: requests in, responses out. Credential extraction, the guard's layer,
//! service and future, per-route scope requirements, rejections and challenges, extractors.
//! The only part of the crate that speaks HTTP statuses (and gRPC ones).

pub mod challenge;
pub mod credential;
pub(crate) mod decision;
pub(crate) mod dpop;
#[cfg(feature = "axum")]
pub mod extract;
pub mod form;
pub(crate) mod future;
pub mod grpc;
pub(crate) mod layer;
pub mod metadata;
pub mod readiness;
pub mod require_scope;
pub mod response;
pub(crate) mod service;
