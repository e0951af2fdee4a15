//! Metrics (feature `metrics`): counters, gauges and histograms through the [`metrics`](https://docs.rs/metrics)
//! facade, so that any of its exporters (Prometheus, OpenTelemetry, StatsD…) publishes them.
//!
//! Nothing is recorded until the application installs a recorder, and the recorder should be
//! installed before the [`Validator`](crate::Validator) is built: building one describes every
//! metric below (help text and unit) to the recorder installed at that time. [`describe`] does
//! it again, for a recorder installed later.
//!
//! | name | type | labels | meaning | unit |
//! |---|---|---|---|---|
//! | `bearer_guard_requests_allowed_total` | counter | `stage` | requests let through: by the guard to the inner service (`guard`), or by a route's requirement to the handler (`route`) | requests |
//! | `bearer_guard_requests_denied_total` | counter | `stage`, `reason` | requests refused, by the layer that refused them and why | requests |
//! | `bearer_guard_token_cache_hits_total` | counter | | tokens answered from the verified-token cache (or a remembered active introspection answer) without validation | lookups |
//! | `bearer_guard_token_cache_misses_total` | counter | | tokens the caches could not answer: validated in full (or introspected) | lookups |
//! | `bearer_guard_jwks_fetches_total` | counter | `issuer`, `outcome` | key-set fetches, by how they ended | fetches |
//! | `bearer_guard_jwks_fetch_duration_seconds` | histogram | `issuer` | time a key-set fetch took (metadata discovery included), whatever its outcome | seconds |
//! | `bearer_guard_jwks_age_seconds` | gauge | `issuer` | time since the key set was last fetched or confirmed unchanged (304); absent until the first success | seconds |
//! | `bearer_guard_jwks_last_success_timestamp_seconds` | gauge | `issuer` | when the key set was last fetched or confirmed unchanged, as a Unix time | seconds |
//! | `bearer_guard_jwks_state` | gauge | `issuer`, `state` | 1 for the state the issuer's keys are in, 0 for the two others | |
//! | `bearer_guard_dpop_replays_refused_total` | counter | | DPoP proofs refused because their key and `jti` were seen before | proofs |
//! | `bearer_guard_introspection_calls_total` | counter | `issuer`, `outcome` | calls to an introspection endpoint (RFC 7662), by their answer | calls |
//! | `bearer_guard_introspection_duration_seconds` | histogram | `issuer` | time an introspection call took, whatever its outcome | seconds |
//!
//! Every label has a closed set of values; none ever holds a token, a `kid`, a client id or
//! anything else a caller chose:
//!
//! | label | values |
//! |---|---|
//! | `stage` | `guard` ([`GuardLayer`](crate::GuardLayer)), `route` ([`RequireScopeLayer`](crate::RequireScopeLayer), and `McpToolScopesLayer` with feature `mcp`) |
//! | `reason` | the [`ErrorKind::code`](crate::ErrorKind::code) of the refusal: `missing_credentials`, `token_expired`, `insufficient_scope`… (33 codes, one per kind) |
//! | `issuer` | a trusted issuer exactly as configured; for an [issuer template](crate::Issuer::template), the template itself (`…/{tenantid}/v2.0`), never the tenant a token names |
//! | `outcome` (key sets) | `success` (a new set), `not_modified` (304: the set is unchanged), `failure` (unreachable, an error status, not a usable JWKS…) |
//! | `outcome` (introspection) | `active`, `inactive`, `failure` (unreachable, an error status, not an RFC 7662 answer) |
//! | `state` | `fresh`, `stale` (past its lifetime, kept while refreshes fail), `unavailable` (tokens get 503) — as in [`KeyState`](crate::KeyState) |
//!
//! # Allowed and denied
//!
//! Each layer counts its own decisions, so that for each `stage`, allowed plus denied is every
//! request that stage judged. A request the guard lets through and a route then refuses (a 403
//! for a missing scope) counts once as allowed with `stage="guard"` and once as denied with
//! `stage="route"`: the requests that reached a handler are
//! `allowed{stage="guard"} - denied{stage="route"}`. Requests let through anonymously by an
//! [optional](crate::GuardLayer::optional) guard count as allowed. `McpToolScopesLayer` judges
//! `tools/call` requests for the tools it knows; other MCP messages pass it uncounted.
//! Introspection calls skipped during an outage's backoff are not calls: they show as denials
//! with `reason="introspection_unavailable"`, like the failed calls themselves.
//!
//! # Key-set gauges
//!
//! The facade has no gauges that are read when scraped, so the key-set gauges are set when a
//! fetch ends and whenever [`Validator::key_status`](crate::Validator::key_status) is called
//! (as [`Validator::readiness`](crate::Validator::readiness) does on every probe).
//! Between those moments `bearer_guard_jwks_age_seconds` and `bearer_guard_jwks_state` keep
//! the value they were last set to: call `key_status` from the readiness probe (or on a timer)
//! to keep them current. `bearer_guard_jwks_last_success_timestamp_seconds` is exact at any
//! time (`time() - bearer_guard_jwks_last_success_timestamp_seconds` in PromQL).
//!
//! # Cost
//!
//! Without the feature nothing here is compiled and the crate does not depend on `metrics`.
//! With it, a request answered from the token cache increments two counters whose keys are
//! built at compile time; with no recorder installed that is a thread-local read and an
//! atomic load each. A denial builds its two labels (a small allocation, no string copied).
//!
//! # Example: Prometheus
//!
//! With [`metrics-exporter-prometheus`](https://docs.rs/metrics-exporter-prometheus) (default
//! features off suffice: serve `render()` from a route of your own):
//!
//! ```
//! use bearer_guard::{GuardLayer, Issuer, Validator};
//! use http::{Request, Response};
//! use metrics_exporter_prometheus::PrometheusBuilder;
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // First the recorder, then the validator (which describes the metrics to it).
//! let prometheus = PrometheusBuilder::new().install_recorder()?;
//! let validator = Validator::builder()
//!     .issuer(Issuer::new("https://idp.example.com").audience("https://api.example.com"))
//!     .build()?;
//! let api = service_fn(|_: Request<()>| async { Ok::<_, std::convert::Infallible>(Response::new(())) });
//! let guarded = GuardLayer::new(validator).layer(api);
//!
//! let response = guarded.oneshot(Request::new(())).await?;
//! assert_eq!(response.status(), 401);
//!
//! let text = prometheus.render(); // the body of your `GET /metrics`
//! assert!(text.contains(
//!     r#"bearer_guard_requests_denied_total{stage="guard",reason="missing_credentials"} 1"#
//! ));
//! assert!(text.contains("# HELP bearer_guard_requests_denied_total"));
//! # Ok(()) }
//! ```

// Without the feature this module is private and every function in it is empty: the call
// sites stay free of `cfg`, and the optimizer removes the calls.
#![cfg_attr(
    not(feature = "metrics"),
    allow(dead_code, unused_variables, unreachable_pub)
)]

use std::sync::Arc;
use std::time::Duration;

use crate::error::ErrorKind;
use crate::jwks::KeyStatus;

const REQUESTS_ALLOWED: &str = "bearer_guard_requests_allowed_total";
const REQUESTS_DENIED: &str = "bearer_guard_requests_denied_total";
const TOKEN_CACHE_HITS: &str = "bearer_guard_token_cache_hits_total";
const TOKEN_CACHE_MISSES: &str = "bearer_guard_token_cache_misses_total";
const JWKS_FETCHES: &str = "bearer_guard_jwks_fetches_total";
const JWKS_FETCH_DURATION: &str = "bearer_guard_jwks_fetch_duration_seconds";
const JWKS_AGE: &str = "bearer_guard_jwks_age_seconds";
const JWKS_LAST_SUCCESS: &str = "bearer_guard_jwks_last_success_timestamp_seconds";
const JWKS_STATE: &str = "bearer_guard_jwks_state";
const DPOP_REPLAYS: &str = "bearer_guard_dpop_replays_refused_total";
const INTROSPECTION_CALLS: &str = "bearer_guard_introspection_calls_total";
const INTROSPECTION_DURATION: &str = "bearer_guard_introspection_duration_seconds";

/// Gives every metric its help text and unit in the recorder installed now.
///
/// [`ValidatorBuilder::build`](crate::ValidatorBuilder::build) calls it; call it yourself only
/// for a recorder installed after the validator was built. Describing twice is harmless.
///
/// ```
/// use metrics_util::debugging::DebuggingRecorder;
///
/// let recorder = DebuggingRecorder::new();
/// metrics::with_local_recorder(&recorder, bearer_guard::metrics::describe);
/// ```
#[cfg(feature = "metrics")]
pub fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS_ALLOWED,
        "Requests let through, by the layer that judged them (stage: guard, route)"
    );
    describe_counter!(
        REQUESTS_DENIED,
        "Requests refused, by the layer that refused them (stage) and the error code (reason)"
    );
    describe_counter!(
        TOKEN_CACHE_HITS,
        "Tokens answered from the verified-token cache without validation"
    );
    describe_counter!(
        TOKEN_CACHE_MISSES,
        "Tokens not in the cache, validated in full or introspected"
    );
    describe_counter!(
        JWKS_FETCHES,
        "Key-set fetches by outcome (success, not_modified, failure)"
    );
    describe_histogram!(
        JWKS_FETCH_DURATION,
        Unit::Seconds,
        "Time a key-set fetch took, discovery included"
    );
    describe_gauge!(
        JWKS_AGE,
        Unit::Seconds,
        "Time since the key set was last fetched or confirmed, as of the last fetch or key_status call"
    );
    describe_gauge!(
        JWKS_LAST_SUCCESS,
        Unit::Seconds,
        "Unix time the key set was last fetched or confirmed unchanged"
    );
    describe_gauge!(
        JWKS_STATE,
        "1 for the state of the issuer's keys (fresh, stale, unavailable), 0 for the others"
    );
    describe_counter!(
        DPOP_REPLAYS,
        "DPoP proofs refused because they were used before"
    );
    describe_counter!(
        INTROSPECTION_CALLS,
        "Token introspection calls by outcome (active, inactive, failure)"
    );
    describe_histogram!(
        INTROSPECTION_DURATION,
        Unit::Seconds,
        "Time a token introspection call took"
    );
}

#[cfg(not(feature = "metrics"))]
pub(crate) fn describe() {}

/// The layer that decided about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// [`GuardLayer`](crate::GuardLayer).
    Guard,
    /// A requirement behind the guard: `RequireScopeLayer`, `McpToolScopesLayer`.
    Route,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Self::Guard => "guard",
            Self::Route => "route",
        }
    }
}

/// How a key-set fetch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchOutcome {
    Success,
    NotModified,
    Failure,
}

impl FetchOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::NotModified => "not_modified",
            Self::Failure => "failure",
        }
    }
}

/// What an introspection call answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntrospectionOutcome {
    Active,
    Inactive,
    Failure,
}

impl IntrospectionOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Failure => "failure",
        }
    }
}

/// When something timed began; holds nothing without the feature, so that no clock is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started {
    #[cfg(feature = "metrics")]
    at: std::time::Instant,
}

impl Started {
    pub(crate) fn now() -> Self {
        Self {
            #[cfg(feature = "metrics")]
            at: std::time::Instant::now(),
        }
    }
}

/// The keys of the per-request counters, built at compile time: the fast path neither
/// hashes nor allocates to count.
#[cfg(feature = "metrics")]
mod fixed {
    use ::metrics::{Key, Label, Level, Metadata};

    static GUARD: [Label; 1] = [Label::from_static_parts("stage", "guard")];
    static ROUTE: [Label; 1] = [Label::from_static_parts("stage", "route")];
    pub(super) static ALLOWED_GUARD: Key = Key::from_static_parts(super::REQUESTS_ALLOWED, &GUARD);
    pub(super) static ALLOWED_ROUTE: Key = Key::from_static_parts(super::REQUESTS_ALLOWED, &ROUTE);
    pub(super) static CACHE_HITS: Key = Key::from_static_name(super::TOKEN_CACHE_HITS);
    pub(super) static CACHE_MISSES: Key = Key::from_static_name(super::TOKEN_CACHE_MISSES);
    static METADATA: Metadata<'static> =
        Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

    pub(super) fn increment(key: &'static Key) {
        ::metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA)).increment(1);
    }
}

/// A request let through by `stage`.
#[inline]
pub(crate) fn allowed(stage: Stage) {
    #[cfg(feature = "metrics")]
    fixed::increment(match stage {
        Stage::Guard => &fixed::ALLOWED_GUARD,
        Stage::Route => &fixed::ALLOWED_ROUTE,
    });
}

/// A request refused by `stage` for `kind`.
#[inline]
pub(crate) fn denied(stage: Stage, kind: ErrorKind) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(REQUESTS_DENIED, "stage" => stage.label(), "reason" => kind.code())
        .increment(1);
}

/// A lookup in the token caches, answered (`hit`) or not.
#[inline]
pub(crate) fn token_cache(hit: bool) {
    #[cfg(feature = "metrics")]
    fixed::increment(match hit {
        true => &fixed::CACHE_HITS,
        false => &fixed::CACHE_MISSES,
    });
}

/// A key-set fetch for `issuer` (as configured) that ended with `outcome` after `took`.
#[inline]
pub(crate) fn key_fetch(issuer: &Arc<str>, outcome: FetchOutcome, took: Duration) {
    #[cfg(feature = "metrics")]
    {
        let issuer = ::metrics::SharedString::from(Arc::clone(issuer));
        ::metrics::counter!(JWKS_FETCHES, "issuer" => issuer.clone(), "outcome" => outcome.label())
            .increment(1);
        ::metrics::histogram!(JWKS_FETCH_DURATION, "issuer" => issuer).record(took.as_secs_f64());
    }
}

/// The gauges of one issuer's keys, from its current status.
#[inline]
pub(crate) fn key_status(status: &KeyStatus) {
    #[cfg(feature = "metrics")]
    {
        use crate::jwks::KeyState;
        use std::time::{SystemTime, UNIX_EPOCH};

        let issuer = ::metrics::SharedString::from(status.issuer.clone());
        for state in [KeyState::Fresh, KeyState::Stale, KeyState::Unavailable] {
            ::metrics::gauge!(JWKS_STATE, "issuer" => issuer.clone(), "state" => state.name())
                .set(f64::from(u8::from(status.state == state)));
        }
        if let Some(at) = status.last_success {
            let unix = at.duration_since(UNIX_EPOCH).unwrap_or_default();
            ::metrics::gauge!(JWKS_LAST_SUCCESS, "issuer" => issuer.clone())
                .set(unix.as_secs_f64());
            let age = SystemTime::now().duration_since(at).unwrap_or_default();
            ::metrics::gauge!(JWKS_AGE, "issuer" => issuer).set(age.as_secs_f64());
        }
    }
}

/// A DPoP proof refused as a replay.
#[inline]
pub(crate) fn dpop_replay() {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(DPOP_REPLAYS).increment(1);
}

/// An introspection call to `issuer`'s endpoint, begun at `started`, that answered `outcome`.
#[inline]
pub(crate) fn introspection(issuer: &Arc<str>, outcome: IntrospectionOutcome, started: Started) {
    #[cfg(feature = "metrics")]
    {
        let issuer = ::metrics::SharedString::from(Arc::clone(issuer));
        ::metrics::counter!(INTROSPECTION_CALLS, "issuer" => issuer.clone(), "outcome" => outcome.label())
            .increment(1);
        ::metrics::histogram!(INTROSPECTION_DURATION, "issuer" => issuer)
            .record(started.at.elapsed().as_secs_f64());
    }
}
