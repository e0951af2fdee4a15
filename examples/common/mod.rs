//! What the examples share: their configuration from the environment.

use std::process::ExitCode;

use bearer_guard::{Issuer, Validator};

/// Exit code for a missing or invalid setting.
const USAGE: u8 = 2;

/// A validator and an address, from `OAUTH_ISSUER`, `OAUTH_AUDIENCE`, `OAUTH_JWKS_URI` (optional)
/// and `BIND` (default `127.0.0.1:3000`). On a bad setting, says why on stderr and gives the
/// exit code to return.
pub(crate) fn from_env(program: &str) -> Result<(Validator, String), ExitCode> {
    let config = Config::from_env().map_err(|message| {
        eprintln!("{program}: {message}");
        ExitCode::from(USAGE)
    })?;
    let mut issuer = Issuer::new(&config.issuer).audience(&config.audience);
    if let Some(jwks_uri) = &config.jwks_uri {
        issuer = issuer.jwks_uri(jwks_uri);
    }
    // Building checks the configuration only; keys are fetched on the first request that
    // needs them, so the API starts even while the issuer is down.
    let validator = Validator::builder()
        .issuer(issuer)
        .build()
        .map_err(|error| {
            eprintln!("{program}: invalid configuration: {error}");
            ExitCode::from(USAGE)
        })?;
    Ok((validator, config.bind))
}

struct Config {
    issuer: String,
    audience: String,
    jwks_uri: Option<String>,
    bind: String,
}

impl Config {
    fn from_env() -> Result<Self, String> {
        Ok(Self {
            issuer: required(
                "OAUTH_ISSUER",
                "the token issuer, for example https://idp.example.com",
            )?,
            audience: required(
                "OAUTH_AUDIENCE",
                "the audience this API expects in `aud`, for example https://api.example.com",
            )?,
            jwks_uri: optional("OAUTH_JWKS_URI")?,
            bind: optional("BIND")?.unwrap_or_else(|| "127.0.0.1:3000".to_owned()),
        })
    }
}

fn required(name: &str, what: &str) -> Result<String, String> {
    optional(name)?.ok_or_else(|| format!("{name} is not set: set it to {what}"))
}

/// An unset or empty variable is `None`.
fn optional(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}
