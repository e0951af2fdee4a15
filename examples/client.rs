//! Run with `cargo run --example client --features client`
//!
//! Gets an access token with the client credentials grant and prints it on the first line of
//! stdout; with `TARGET_URL`, then calls that URL with the token (through [`BearerLayer`], so a
//! `401 invalid_token` is retried once with a new token) and prints the status and the body.
//! With `OAUTH_DPOP=1`, the token is DPoP-bound to a key generated at start and each call
//! carries a fresh proof (a `401 use_dpop_nonce` is retried once with the server's nonce).
//!
//! | variable | meaning |
//! |---|---|
//! | `OAUTH_TOKEN_URL` | the token endpoint, e.g. `https://idp.example.com/oauth2/token` |
//! | `OAUTH_ISSUER` | or: the issuer, whose metadata names the token endpoint (discovery) |
//! | `OAUTH_CLIENT_ID` | the client id (required) |
//! | `OAUTH_CLIENT_SECRET` | the client secret (required) |
//! | `OAUTH_SCOPE` | scopes to ask for, space-separated (default: the server's default) |
//! | `OAUTH_RESOURCE` | the API the token is for, RFC 8707 (optional) |
//! | `OAUTH_AUTH_METHOD` | `basic` (default: `client_secret_basic`) or `post` (`client_secret_post`) |
//! | `TARGET_URL` | a URL to GET with the token (optional) |
//! | `OAUTH_DPOP` | `1`: DPoP-bound token (RFC 9449) for a key generated at start; the call sends `Authorization: DPoP` with a proof (default `0`: a bearer token) |
//!
//! Exit codes: 0 done, 1 the token or the call failed, 2 bad configuration.
//!
//! ```sh
//! OAUTH_ISSUER=https://idp.example.com OAUTH_CLIENT_ID=reports OAUTH_CLIENT_SECRET=… \
//!   OAUTH_SCOPE="orders:read" TARGET_URL=https://api.example.com/orders \
//!   cargo run --example client --features client
//! ```

mod common;
mod logs;

use std::process::ExitCode;

use bearer_guard::client::{AuthMethod, BearerError, BearerLayer, TokenError, TokenSource};
use bearer_guard::dpop::DpopKey;
use bytes::Bytes;
use tower::{ServiceBuilder, ServiceExt, service_fn};

const PROGRAM: &str = "client";
/// Exit code for a failed token request or call.
const FAILURE: u8 = 1;
/// Exit code for a missing or invalid setting.
const USAGE: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    logs::init(PROGRAM, "warn");
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{PROGRAM}: {message}");
            return ExitCode::from(USAGE);
        }
    };
    let builder = TokenSource::builder(&config.client_id, &config.client_secret);
    let mut builder = match &config.endpoint {
        Endpoint::TokenUrl(url) => builder.token_endpoint(url),
        Endpoint::Issuer(issuer) => builder.issuer(issuer),
    };
    builder = builder.auth_method(config.auth_method);
    if let Some(scope) = &config.scope {
        builder = builder.scope(scope);
    }
    if let Some(resource) = &config.resource {
        builder = builder.resource(resource);
    }
    if config.dpop {
        // A key for this run only: the token is bound to it (`cnf.jkt`), and useless without it.
        builder = builder.dpop(DpopKey::generate());
    }
    let source = match builder.build() {
        Ok(source) => source,
        Err(error) => {
            eprintln!("{PROGRAM}: invalid configuration: {error}");
            return ExitCode::from(USAGE);
        }
    };

    let token = match source.token().await {
        Ok(token) => token,
        Err(error) => {
            report(&error);
            return ExitCode::from(FAILURE);
        }
    };
    // The point of this example: print the token. Never log one in a real service.
    println!("{}", token.secret());

    let Some(target) = config.target else {
        return ExitCode::SUCCESS;
    };
    match call(source, &target).await {
        Ok(response) => {
            println!("status: {}", response.status());
            println!("{}", String::from_utf8_lossy(response.body()));
            if response.status().is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(FAILURE)
            }
        }
        Err(BearerError::Token(error)) => {
            report(&error);
            ExitCode::from(FAILURE)
        }
        Err(BearerError::RelativeUri) => {
            eprintln!("{PROGRAM}: TARGET_URL must be an absolute http(s) URL");
            ExitCode::from(USAGE)
        }
        Err(error) => {
            eprintln!("{PROGRAM}: GET {target} failed: {error}");
            ExitCode::from(FAILURE)
        }
    }
}

/// GETs `target` with reqwest, through the bearer layer.
async fn call(
    source: TokenSource,
    target: &http::Uri,
) -> Result<http::Response<Bytes>, BearerError<reqwest::Error>> {
    let http = reqwest::Client::new();
    // reqwest's client speaks `reqwest::Request`; the layer speaks `http::Request`.
    let reqwest_service = service_fn(move |request: http::Request<reqwest::Body>| {
        let http = http.clone();
        async move {
            let response = http.execute(reqwest::Request::try_from(request)?).await?;
            let mut converted = http::Response::builder()
                .status(response.status())
                .version(response.version());
            if let Some(headers) = converted.headers_mut() {
                *headers = response.headers().clone();
            }
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>(converted.body(body).expect("parts of a valid response"))
        }
    });
    let client = ServiceBuilder::new()
        .layer(BearerLayer::new(source))
        .service(reqwest_service);
    let request = http::Request::get(target.clone())
        .body(reqwest::Body::from(""))
        .expect("a valid request");
    client.oneshot(request).await
}

/// A token error on stderr: for a refusal, the server's error code and description.
fn report(error: &TokenError) {
    match error {
        TokenError::Rejected(refusal) => {
            eprintln!(
                "{PROGRAM}: the token endpoint refused the request (HTTP {})",
                refusal.status()
            );
            eprintln!("  error: {}", refusal.code());
            if let Some(description) = refusal.description() {
                eprintln!("  error_description: {description}");
            }
            if let Some(uri) = refusal.uri() {
                eprintln!("  error_uri: {uri}");
            }
        }
        other => eprintln!("{PROGRAM}: no access token: {other}"),
    }
}

enum Endpoint {
    TokenUrl(String),
    Issuer(String),
}

struct Config {
    endpoint: Endpoint,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
    resource: Option<String>,
    auth_method: AuthMethod,
    target: Option<http::Uri>,
    dpop: bool,
}

impl Config {
    fn from_env() -> Result<Self, String> {
        let endpoint = match (
            common::optional("OAUTH_TOKEN_URL")?,
            common::optional("OAUTH_ISSUER")?,
        ) {
            (Some(url), None) => Endpoint::TokenUrl(url),
            (None, Some(issuer)) => Endpoint::Issuer(issuer),
            (Some(_), Some(_)) => {
                return Err("set either OAUTH_TOKEN_URL or OAUTH_ISSUER, not both".to_owned());
            }
            (None, None) => {
                return Err(
                    "set OAUTH_TOKEN_URL to the token endpoint, or OAUTH_ISSUER to \
                            the issuer to discover it from"
                        .to_owned(),
                );
            }
        };
        let auth_method = match common::optional("OAUTH_AUTH_METHOD")?.as_deref() {
            None => AuthMethod::Basic,
            Some(m) if m.eq_ignore_ascii_case("basic") => AuthMethod::Basic,
            Some(m) if m.eq_ignore_ascii_case("post") => AuthMethod::Post,
            Some(other) => {
                return Err(format!(
                    "OAUTH_AUTH_METHOD is `{other}`: set it to `basic` or `post`"
                ));
            }
        };
        let dpop = match common::optional("OAUTH_DPOP")?.as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => return Err(format!("OAUTH_DPOP is `{other}`: set it to `1` or `0`")),
        };
        Ok(Self {
            dpop,
            endpoint,
            client_id: common::required("OAUTH_CLIENT_ID", "the client id")?,
            client_secret: common::required("OAUTH_CLIENT_SECRET", "the client secret")?,
            scope: common::optional("OAUTH_SCOPE")?,
            resource: common::optional("OAUTH_RESOURCE")?,
            auth_method,
            target: common::optional("TARGET_URL")?
                .map(absolute_url)
                .transpose()?,
        })
    }
}

fn absolute_url(value: String) -> Result<http::Uri, String> {
    match value.parse::<http::Uri>() {
        Ok(uri) if uri.scheme().is_some() && uri.host().is_some() => Ok(uri),
        _ => Err(format!(
            "TARGET_URL `{value}` is not an absolute http(s) URL"
        )),
    }
}
