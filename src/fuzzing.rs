//! Entry points for the fuzz targets in `fuzz/` to internal parsers that the public API does
//! not reach cheaply. Compiled only with `--cfg fuzzing` (cargo-fuzz sets it); not an API.
//!
//! Each function is a thin wrapper: it calls the parser as production code does and returns
//! what the target needs to check its invariants.

use crate::jwks::discovery::{self, endpoint_from, metadata_urls};
use crate::jwks::key::{ASYMMETRIC, KeySet};

/// [`KeySet::from_jwks`] on `document`; then every key it kept is offered `signature` over
/// `message` for each algorithm (as the validator does, by `kid` when given). Returns the
/// number of keys in the set and how many verifications succeeded, or `None` when the document
/// is refused.
pub fn key_set(
    document: &[u8],
    kid: Option<&str>,
    message: &[u8],
    signature: &str,
) -> Option<(usize, usize)> {
    let set = KeySet::from_jwks(document, "https://idp.example.com").ok()?;
    assert_eq!(set.kid_changes(&set), (0, 0));
    let mut verified = 0;
    for alg in ASYMMETRIC {
        for key in set.candidates(kid, alg) {
            assert!(set.contains(key));
            if let Some(kid) = kid {
                assert!(set.has_kid(kid));
            }
            verified += usize::from(key.verify(message, signature, alg));
        }
    }
    Some((set.len(), verified))
}

/// The `jwks_uri` (or, with `token_endpoint`, the `token_endpoint`) that the metadata document
/// `body` names for `issuer`, as discovery takes it.
pub fn discovery(
    body: &[u8],
    issuer: &str,
    token_endpoint: bool,
    allow_insecure_http: bool,
) -> Option<url::Url> {
    let endpoint = match token_endpoint {
        true => discovery::Endpoint::Token,
        false => discovery::Endpoint::Jwks,
    };
    endpoint_from(body, issuer, endpoint, allow_insecure_http).ok()
}

/// [`check_proof`](crate::verify::dpop::check_proof) on `proof` for a request `GET` to
/// `https://api.example.com/orders` with `token`, at `now`, under the guard's default rules;
/// the thumbprint of the proof's key when it passes. Also normalizes `htu` as a proof's is,
/// returning whether that gave a URL.
pub fn dpop_proof(proof: &str, token: &str, now: i64, htu: &str) -> (Option<String>, bool) {
    use crate::verify::dpop::{ProofRules, ProofTarget, check_proof, normalize_htu};
    let rules = ProofRules::default();
    let target = ProofTarget {
        method: "GET",
        htu: "https://api.example.com/orders",
        access_token: Some(token),
    };
    let normalized = normalize_htu(htu);
    if let Some(normalized) = &normalized {
        // Normalizing is idempotent.
        assert_eq!(
            normalize_htu(normalized).as_deref(),
            Some(normalized.as_str())
        );
    }
    let checked = check_proof(proof, &rules, target, now).ok().map(|c| c.jkt);
    (checked, normalized.is_some())
}

/// The two metadata locations of `issuer` (an absolute URL), when it is one.
pub fn metadata_locations(issuer: &str) -> Option<[url::Url; 2]> {
    url::Url::parse(issuer).ok().map(|url| metadata_urls(&url))
}

#[cfg(feature = "client")]
pub use self::client::*;

#[cfg(feature = "client")]
mod client {
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use http::HeaderMap;
    use tokio::time::Instant;

    use crate::client::challenge;
    use crate::client::endpoint::{
        AuthMethod, Client, Credential, Endpoint, Location, parse_response,
    };
    use crate::client::http::Http;
    use crate::client::{AccessToken, TokenError};

    /// The requested scope of [`token_response`]'s endpoint.
    pub const REQUESTED_SCOPE: &str = "read write";
    /// The lifetime [`token_response`] gives a token without `expires_in`.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
    /// The longest lifetime [`token_response`] gives a token.
    pub const MAX_LIFETIME: Duration = Duration::from_secs(86_400);

    const TOKEN_URL: &str = "https://idp.example.com/token";

    fn endpoint() -> &'static Endpoint {
        static ENDPOINT: OnceLock<Endpoint> = OnceLock::new();
        ENDPOINT.get_or_init(|| Endpoint {
            client: Arc::new(Client {
                location: Location::Url(TOKEN_URL.parse().expect("a URL")),
                client_id: "client".into(),
                credential: Credential::Secret(
                    crate::client::token::ClientSecret("secret".into()),
                    AuthMethod::Basic,
                ),
                default_lifetime: DEFAULT_LIFETIME,
                max_lifetime: MAX_LIFETIME,
                allow_insecure_http: false,
                dpop: None,
                http: Http::own(Duration::from_secs(1), 64 * 1024).expect("an HTTP client"),
            }),
            scope: Some(REQUESTED_SCOPE.into()),
            resources: Vec::new(),
        })
    }

    /// The token endpoint's answer (`status`, `body`) as the token source reads it, for a
    /// request sent at `sent_at`.
    pub fn token_response(
        status: u16,
        body: &[u8],
        sent_at: Instant,
    ) -> Result<AccessToken, TokenError> {
        let url = reqwest::Url::parse(TOKEN_URL).expect("a URL");
        parse_response(status, body, endpoint(), &url, sent_at)
    }

    /// The challenges of one `WWW-Authenticate` value: each scheme with its parameters.
    pub fn www_authenticate(value: &str) -> Vec<(&str, Vec<(&str, String)>)> {
        challenge::parse(value)
            .into_iter()
            .map(|c| (c.scheme, c.params))
            .collect()
    }

    /// Whether the response headers say the bearer token is invalid (the client's retry rule).
    pub fn says_invalid_token(headers: &HeaderMap) -> bool {
        challenge::says_invalid_token(headers)
    }
}

/// A JWT payload as validation reads it, the selected members (those the claim rules read,
/// here also `roles`) against the whole object: `(whole, selected)`, each `None` when
/// refused, the selected members as a map. The target checks that both refuse alike and
/// that the selected members are the whole object's.
pub fn claims_json(
    json: &[u8],
) -> (
    Option<serde_json::Map<String, serde_json::Value>>,
    Option<serde_json::Map<String, serde_json::Value>>,
    fn(&str) -> bool,
) {
    use crate::verify::json::{StrictObject, selected_members};
    fn keep(name: &str) -> bool {
        crate::verify::rules::is_read_by_the_rules(name) || name == "roles"
    }
    let whole = serde_json::from_slice::<StrictObject>(json)
        .ok()
        .map(|o| o.0);
    let selected = selected_members(json, keep).ok().map(|m| m.to_map());
    (whole, selected, keep)
}
