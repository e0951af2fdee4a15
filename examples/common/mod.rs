//! What the examples share: their configuration from the environment.
// Each example uses a part of this module.
#![allow(dead_code)]

use std::process::ExitCode;

use bearer_guard::{Issuer, Validator};

/// Exit code for a missing or invalid setting.
const USAGE: u8 = 2;

/// A validator and an address, from `OAUTH_ISSUER`, `OAUTH_AUDIENCE`, `OAUTH_JWKS_URI` (optional)
/// and `BIND` (default `127.0.0.1:3000`). On a bad setting, says why on stderr and gives the
/// exit code to return.
pub(crate) fn from_env(program: &str) -> Result<(Validator, String), ExitCode> {
    let config = Config::from_env().map_err(|message| usage(program, &message))?;
    let issuer = config.issuer.ok_or_else(|| {
        usage(
            program,
            "OAUTH_ISSUER is not set: set it to the token issuer, for example https://idp.example.com",
        )
    })?;
    let validator = validator(program, &issuer, config.audience, config.jwks_uri)?;
    Ok((validator, config.bind))
}

/// Listens on `bind` and prints the first line every example prints,
/// `listening on http://ADDR`, with the address actually bound (so that `BIND=127.0.0.1:0`
/// reports the port the system chose). On failure, says why on stderr and gives the exit code.
pub(crate) async fn listen(
    program: &str,
    bind: &str,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), ExitCode> {
    let fail = |error: std::io::Error, what: &str| {
        eprintln!("{program}: {what}{error}");
        ExitCode::FAILURE
    };
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| fail(e, &format!("cannot listen on {bind}: ")))?;
    let address = listener.local_addr().map_err(|e| fail(e, ""))?;
    println!("listening on http://{address}");
    Ok((listener, address))
}

/// Says why the configuration is unusable; the exit code to return.
pub(crate) fn usage(program: &str, message: &str) -> ExitCode {
    eprintln!("{program}: {message}");
    ExitCode::from(USAGE)
}

/// A validator for one issuer and audience.
pub(crate) fn validator(
    program: &str,
    issuer: &str,
    audience: Option<String>,
    jwks_uri: Option<String>,
) -> Result<Validator, ExitCode> {
    let audience = audience.ok_or_else(|| {
        usage(
            program,
            "OAUTH_AUDIENCE is not set: set it to the audience this API expects in `aud`, for example https://api.example.com",
        )
    })?;
    // A comma-separated list: an API may answer to several names.
    let mut issuer = audience
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .fold(Issuer::new(issuer), Issuer::audience);
    if let Some(jwks_uri) = jwks_uri {
        issuer = issuer.jwks_uri(jwks_uri);
    }
    if let Some(introspection) = introspection_from_env().map_err(|m| usage(program, &m))? {
        issuer = issuer.introspection(introspection);
    }
    // Building checks the configuration only; keys are fetched on the first request that
    // needs them, so the API starts even while the issuer is down.
    Validator::builder()
        .issuer(issuer)
        .build()
        .map_err(|error| usage(program, &format!("invalid configuration: {error}")))
}

/// The settings, as given: which are required depends on the example.
pub(crate) struct Config {
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) bind: String,
    /// The URL clients call (`PUBLIC_URL`); default `http://` and the bound address.
    pub(crate) public_url: Option<String>,
}

impl Config {
    pub(crate) fn from_env() -> Result<Self, String> {
        Ok(Self {
            issuer: optional("OAUTH_ISSUER")?,
            audience: optional("OAUTH_AUDIENCE")?,
            jwks_uri: optional("OAUTH_JWKS_URI")?,
            bind: optional("BIND")?.unwrap_or_else(|| "127.0.0.1:3000".to_owned()),
            public_url: optional("PUBLIC_URL")?,
        })
    }
}

/// The DPoP settings from `OAUTH_DPOP` (`off`, the default as in the library; `allowed`;
/// `required`) and `OAUTH_DPOP_NONCE=1` (server nonces, under a secret made for this
/// process: every instance of a fleet would be given the same one), for an API that clients
/// reach at `public_url`. The replay store is the caller's to add.
pub(crate) fn dpop_from_env(public_url: &str) -> Result<Option<bearer_guard::dpop::Dpop>, String> {
    use bearer_guard::dpop::{Dpop, DpopMode};
    let mode = match optional("OAUTH_DPOP")?.as_deref().map(str::trim) {
        None | Some("off") => return Ok(None),
        Some("allowed") => DpopMode::Allowed,
        Some("required") => DpopMode::Required,
        Some(other) => {
            return Err(format!(
                "OAUTH_DPOP is `{other}`: set it to off, allowed or required"
            ));
        }
    };
    let mut dpop = Dpop::new(public_url).mode(mode);
    match optional("OAUTH_DPOP_NONCE")?.as_deref() {
        None | Some("0") => {}
        Some("1") => {
            let mut secret = [0u8; 32];
            aws_lc_rs::rand::fill(&mut secret).map_err(|_| "no random generator".to_owned())?;
            dpop = dpop.nonces(secret);
        }
        Some(other) => return Err(format!("OAUTH_DPOP_NONCE is `{other}`: set it to 1 or 0")),
    }
    Ok(Some(dpop))
}

/// Introspection of opaque tokens (RFC 7662), when `OAUTH_INTROSPECTION_CLIENT_ID` and
/// `OAUTH_INTROSPECTION_CLIENT_SECRET` are set: at `OAUTH_INTROSPECTION_URL`, or the issuer
/// metadata's `introspection_endpoint`; answers cached up to `OAUTH_INTROSPECTION_CACHE_SECS`.
pub(crate) fn introspection_from_env() -> Result<Option<bearer_guard::Introspection>, String> {
    let id = optional("OAUTH_INTROSPECTION_CLIENT_ID")?;
    let secret = optional("OAUTH_INTROSPECTION_CLIENT_SECRET")?;
    let (id, secret) = match (id, secret) {
        (None, None) => return Ok(None),
        (Some(id), Some(secret)) => (id, secret),
        _ => {
            return Err(
                "OAUTH_INTROSPECTION_CLIENT_ID and OAUTH_INTROSPECTION_CLIENT_SECRET go together"
                    .into(),
            );
        }
    };
    let mut introspection = bearer_guard::Introspection::new(id, secret);
    if let Some(url) = optional("OAUTH_INTROSPECTION_URL")? {
        introspection = introspection.endpoint(url);
    }
    if let Some(secs) = optional("OAUTH_INTROSPECTION_CACHE_SECS")? {
        let secs: u64 = secs.trim().parse().map_err(|_| {
            format!("OAUTH_INTROSPECTION_CACHE_SECS is `{secs}`: set it to a number of seconds")
        })?;
        introspection = introspection.cache_for(std::time::Duration::from_secs(secs));
    }
    Ok(Some(introspection))
}

/// A variable that must be set; `what` says what to set it to.
pub(crate) fn required(name: &str, what: &str) -> Result<String, String> {
    optional(name)?.ok_or_else(|| format!("{name} is not set: set it to {what}"))
}

/// An unset or empty variable is `None`.
pub(crate) fn optional(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

/// `METRICS=1`: records the guard's metrics (feature `metrics`) for Prometheus, to be served
/// by [`Metrics::route`]. Call it before building the validator, which describes the metrics
/// (their help text) to the recorder installed then.
pub(crate) fn metrics_from_env() -> Result<Option<Metrics>, String> {
    match optional("METRICS")?.as_deref().map(str::trim) {
        None | Some("0") => Ok(None),
        Some("1") => Metrics::install().map(Some),
        Some(other) => Err(format!("METRICS is `{other}`: set it to 1 or 0")),
    }
}

/// The Prometheus recorder, installed for the whole process.
pub(crate) struct Metrics(metrics_exporter_prometheus::PrometheusHandle);

impl Metrics {
    fn install() -> Result<Self, String> {
        // Buckets in seconds for the two latency histograms (key-set fetches, introspection
        // calls), which would otherwise be rendered as summaries.
        const BUCKETS: [f64; 11] = [
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .and_then(|builder| builder.install_recorder())
            .map_err(|error| format!("METRICS: {error}"))?;
        // Without the exporter's own HTTP listener, its upkeep (draining histograms that no
        // one scrapes) is ours to schedule.
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                upkeep.run_upkeep();
            }
        });
        Ok(Self(handle))
    }

    /// `GET /metrics` in the Prometheus text format, for a router outside the guard (a
    /// scraper has no token). Each scrape asks `validator` for its key status first: that is
    /// what brings the key-set age and state gauges up to date.
    pub(crate) fn route(self, validator: Validator) -> axum::Router {
        let Self(handle) = self;
        let scrape = move || {
            validator.key_status();
            let text = handle.render();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    text,
                )
            }
        };
        axum::Router::new().route("/metrics", axum::routing::get(scrape))
    }
}

/// A client of an example's embedded test issuer: id, secret, the scopes it may ask for.
#[cfg(feature = "test-util")]
pub(crate) type DemoClient = (&'static str, &'static str, &'static [&'static str]);

/// The clients of the `resource_server` and `grpc_server` examples' embedded issuer: one with
/// every scope, one that may only read.
#[cfg(feature = "test-util")]
pub(crate) const DEMO_CLIENTS: [DemoClient; 2] = [
    (
        "demo-admin",
        "demo-admin-secret",
        &["read", "write", "admin"],
    ),
    ("demo-reader", "demo-reader-secret", &["read"]),
];

/// `builder` with `clients` registered.
#[cfg(feature = "test-util")]
pub(crate) fn with_clients(
    builder: bearer_guard::testing::TestIssuerBuilder,
    clients: &[DemoClient],
) -> bearer_guard::testing::TestIssuerBuilder {
    clients
        .iter()
        .fold(builder, |builder, (id, secret, scopes)| {
            builder.client(
                bearer_guard::testing::TestClient::new(*id, *secret).scopes(scopes.iter().copied()),
            )
        })
}

/// What an example prints first about its embedded issuer: where it is, what tokens are for
/// (`for_what`: a label and a value, such as the audience), and its clients.
#[cfg(feature = "test-util")]
pub(crate) fn print_embedded_issuer(
    issuer: &bearer_guard::testing::TestIssuer,
    for_what: (&str, &str),
    clients: &[DemoClient],
) {
    println!();
    println!("No OAUTH_ISSUER set: tokens come from an embedded test issuer.");
    println!("  issuer          {}", issuer.issuer());
    println!("  token endpoint  {}", issuer.token_endpoint());
    println!("  {:<15} {}", for_what.0, for_what.1);
    for (id, secret, scopes) in clients {
        println!(
            "  client          {id} / {secret}  (scopes: {})",
            scopes.join(" ")
        );
    }
}
