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
//! | `OAUTH_CLIENT_SECRET` | the client secret (required, except with `private_key_jwt`) |
//! | `OAUTH_SCOPE` | scopes to ask for, space-separated (default: the server's default) |
//! | `OAUTH_RESOURCE` | the API the token is for, RFC 8707 (optional) |
//! | `OAUTH_AUTH_METHOD` | `basic` (default: `client_secret_basic`), `post` (`client_secret_post`) or `private_key_jwt` (RFC 7523: a client assertion signed with `OAUTH_CLIENT_KEY`, no secret) |
//! | `OAUTH_CLIENT_KEY` | with `private_key_jwt`: the path of the client's private key, PEM (PKCS#8, or PKCS#1 RSA, or SEC1 EC; unencrypted); RSA signs with RS256, P-256 with ES256, Ed25519 with EdDSA |
//! | `OAUTH_CLIENT_KEY_ID` | with `private_key_jwt`: the `kid` the server knows the key by (optional) |
//! | `TARGET_URL` | a URL to GET with the token (optional) |
//! | `OAUTH_DPOP` | `1`: DPoP-bound token (RFC 9449) for a key generated at start; the call sends `Authorization: DPoP` with a proof (default `0`: a bearer token) |
//!
//! Exit codes: 0 done, 1 the token or the call failed, 2 bad configuration.
//!
//! ```sh
//! OAUTH_ISSUER=https://idp.example.com OAUTH_CLIENT_ID=reports OAUTH_CLIENT_SECRET=… \
//!   OAUTH_SCOPE="orders:read" TARGET_URL=https://api.example.com/orders \
//!   cargo run --example client --features client
//!
//! # With a key instead of a secret (register its public half at the server first):
//! openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out client-key.pem
//! OAUTH_ISSUER=https://idp.example.com OAUTH_CLIENT_ID=reports \
//!   OAUTH_AUTH_METHOD=private_key_jwt OAUTH_CLIENT_KEY=client-key.pem \
//!   cargo run --example client --features client
//! ```

mod common;
mod logs;

use std::process::ExitCode;

use bearer_guard::client::{
    AuthMethod, BearerError, BearerLayer, ClientKey, ReqwestService, TokenError, TokenSource,
};
use bearer_guard::dpop::DpopKey;
use bytes::Bytes;
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt};

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
    let builder = match config.credential {
        Credential::Secret(secret, method) => {
            TokenSource::builder(&config.client_id, secret).auth_method(method)
        }
        Credential::Key(key) => TokenSource::builder_with_key(&config.client_id, key),
    };
    let mut builder = match &config.endpoint {
        Endpoint::TokenUrl(url) => builder.token_endpoint(url),
        Endpoint::Issuer(issuer) => builder.issuer(issuer),
    };
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

/// GETs `target` with reqwest, through the bearer layer; the answer read whole.
async fn call(
    source: TokenSource,
    target: &http::Uri,
) -> Result<http::Response<Bytes>, BearerError<reqwest::Error>> {
    let client = ServiceBuilder::new()
        .layer(BearerLayer::new(source))
        .service(ReqwestService::new(reqwest::Client::new()));
    let request = http::Request::get(target.clone())
        .body(())
        .expect("a valid request");
    let (parts, body) = client.oneshot(request).await?.into_parts();
    let body = body.collect().await.map_err(BearerError::Service)?;
    Ok(http::Response::from_parts(parts, body.to_bytes()))
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

enum Credential {
    Secret(String, AuthMethod),
    Key(ClientKey),
}

struct Config {
    endpoint: Endpoint,
    client_id: String,
    credential: Credential,
    scope: Option<String>,
    resource: Option<String>,
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
        let secret = || common::required("OAUTH_CLIENT_SECRET", "the client secret");
        let credential = match common::optional("OAUTH_AUTH_METHOD")?.as_deref() {
            None => Credential::Secret(secret()?, AuthMethod::Basic),
            Some(m) if m.eq_ignore_ascii_case("basic") => {
                Credential::Secret(secret()?, AuthMethod::Basic)
            }
            Some(m) if m.eq_ignore_ascii_case("post") => {
                Credential::Secret(secret()?, AuthMethod::Post)
            }
            Some(m) if m.eq_ignore_ascii_case("private_key_jwt") => Credential::Key(client_key()?),
            Some(other) => {
                return Err(format!(
                    "OAUTH_AUTH_METHOD is `{other}`: set it to `basic`, `post` or \
                     `private_key_jwt`"
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
            credential,
            scope: common::optional("OAUTH_SCOPE")?,
            resource: common::optional("OAUTH_RESOURCE")?,
            target: common::optional("TARGET_URL")?
                .map(absolute_url)
                .transpose()?,
        })
    }
}

/// The key of `OAUTH_CLIENT_KEY` (a PEM file), with `OAUTH_CLIENT_KEY_ID` as its `kid`.
fn client_key() -> Result<ClientKey, String> {
    let path = common::required(
        "OAUTH_CLIENT_KEY",
        "the path of the client's private key (PEM) for private_key_jwt",
    )?;
    // The error names the file and the problem, never the contents.
    let pem = std::fs::read_to_string(&path)
        .map_err(|e| format!("OAUTH_CLIENT_KEY `{path}` cannot be read: {e}"))?;
    let key = ClientKey::from_pem(&pem).map_err(|e| format!("OAUTH_CLIENT_KEY `{path}`: {e}"))?;
    Ok(match common::optional("OAUTH_CLIENT_KEY_ID")? {
        Some(kid) => key.key_id(kid),
        None => key,
    })
}

fn absolute_url(value: String) -> Result<http::Uri, String> {
    match value.parse::<http::Uri>() {
        Ok(uri) if uri.scheme().is_some() && uri.host().is_some() => Ok(uri),
        _ => Err(format!(
            "TARGET_URL `{value}` is not an absolute http(s) URL"
        )),
    }
}
