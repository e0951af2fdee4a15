//! Opaque access tokens, and what a resource server needs to use them: the introspection
//! endpoint (RFC 7662, with RFC 9701 signed answers) and the revocation endpoint (RFC 7009).
//!
//! The issuer keeps no token: it remembers each opaque token's claims, and each revoked token,
//! under the token's SHA-256.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use aws_lc_rs::digest::{SHA256, digest};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::keys::random_id;
use super::server::{
    Form, OAuthError, authenticated_client, json_response, no_store, oauth_error, post_only,
};
use super::{IntrospectionFault, Shared, unix_now};

/// The media type of an RFC 9701 answer, which a request asks for in `Accept`.
pub(crate) const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// The `typ` header of an RFC 9701 answer.
const JWT_TYP: &str = "token-introspection+jwt";

/// Random bytes in an opaque access token.
const OPAQUE_BYTES: usize = 32;

/// What the issuer remembers a token by: its SHA-256.
pub(crate) type TokenDigest = [u8; 32];

pub(crate) fn token_digest(token: &str) -> TokenDigest {
    digest(&SHA256, token.as_bytes())
        .as_ref()
        .try_into()
        .expect("SHA-256 has 32 bytes")
}

impl Shared {
    /// Remembers `claims` under a fresh opaque token, and returns the token.
    pub(crate) fn register_opaque(&self, claims: Map<String, Value>) -> String {
        let token = random_id(OPAQUE_BYTES);
        self.registry().opaque.insert(token_digest(&token), claims);
        token
    }

    /// Revocation: introspection answers `active: false` for `token` from now on.
    pub(crate) fn revoke(&self, token: &str) {
        self.registry().revoked.insert(token_digest(token));
    }

    /// The claims of `token` if this issuer considers it active: an opaque token it issued, or
    /// a JWT it signed (with its own `iss`, by a key it still publishes), not revoked and not
    /// past `exp`. Nothing else is checked: `nbf`, `aud` and the rest are the resource
    /// server's to judge.
    pub(crate) fn active_claims(&self, token: &str, now: i64) -> Option<Map<String, Value>> {
        let digest = token_digest(token);
        let opaque = {
            let registry = self.registry();
            if registry.revoked.contains(&digest) {
                return None;
            }
            registry.opaque.get(&digest).cloned()
        };
        let claims = match opaque {
            Some(claims) => claims,
            None => self.own_jwt_claims(token)?,
        };
        let expired = claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|exp| exp <= now);
        (!expired).then_some(claims)
    }

    /// The claims of a JWS this issuer signed with a key it publishes, and whose `iss` is
    /// this issuer.
    fn own_jwt_claims(&self, token: &str) -> Option<Map<String, Value>> {
        let mut segments = token.split('.');
        let (header, payload, signature) = (segments.next()?, segments.next()?, segments.next()?);
        if segments.next().is_some() {
            return None;
        }
        let header: Map<String, Value> = decode_segment(header)?;
        let kid = header.get("kid")?.as_str()?;
        let key = {
            let registry = self.registry();
            let entry = registry.entry(kid).filter(|e| e.published)?;
            Arc::clone(&entry.key)
        };
        if header.get("alg")?.as_str()? != key.alg.name() {
            return None;
        }
        let signed = &token[..token.len() - signature.len() - 1];
        if !key.verify(signed.as_bytes(), signature) {
            return None;
        }
        let claims: Map<String, Value> = decode_segment(payload)?;
        let ours = claims.get("iss").and_then(Value::as_str) == Some(self.issuer.as_str());
        ours.then_some(claims)
    }
}

fn decode_segment(segment: &str) -> Option<Map<String, Value>> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).ok()?).ok()
}

/// The RFC 7662 §2.2 answer: `{"active": false}`, or `active: true` with the token's claims
/// and its `token_type` (`DPoP` when it is bound to a key by `cnf.jkt`, RFC 9449 §6.2).
pub(crate) fn introspection_object(claims: Option<Map<String, Value>>) -> Value {
    let Some(claims) = claims else {
        return json!({ "active": false });
    };
    let bound = claims.get("cnf").and_then(|cnf| cnf.get("jkt")).is_some();
    let mut object = Map::new();
    object.insert("active".into(), json!(true));
    object.extend(claims);
    object.insert("active".into(), json!(true));
    object.insert(
        "token_type".into(),
        json!(if bound { "DPoP" } else { "Bearer" }),
    );
    Value::Object(object)
}

// ---------------------------------------------------------------------------------------------
// Introspection endpoint
// ---------------------------------------------------------------------------------------------

pub(super) async fn introspection_endpoint(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return post_only();
    }
    shared.introspection_requests.fetch_add(1, Ordering::SeqCst);
    let fault = shared.registry().introspection_fault;
    if let Some(response) = fault_response(&shared, fault).await {
        return response;
    }
    match introspect(&shared, &headers, &body) {
        Ok((client_id, object)) if wants_jwt(&headers) => jwt_response(&shared, &client_id, object),
        Ok((_, object)) => {
            let mut response = json_response(StatusCode::OK, &object);
            no_store(response.headers_mut());
            response
        }
        Err(error) => error.into_response(),
    }
}

/// The answer of a faulty endpoint, or `None` when it works.
async fn fault_response(shared: &Shared, fault: IntrospectionFault) -> Option<Response> {
    match fault {
        IntrospectionFault::None => None,
        IntrospectionFault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(status.into_response())
        }
        IntrospectionFault::Hang => {
            let mut stopped = shared.stopped.subscribe();
            let _ = stopped.wait_for(|stopped| *stopped).await;
            Some(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
        IntrospectionFault::Garbage => Some(
            (
                [(header::CONTENT_TYPE, "application/json")],
                "<html><body>502 Bad Gateway</body></html>",
            )
                .into_response(),
        ),
    }
}

/// The authenticated client's id and the RFC 7662 answer, or the error.
fn introspect(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, Value), OAuthError> {
    let form = Form::parse(headers, body)?;
    let client = authenticated_client(shared, headers, &form)?;
    // `token_type_hint` may be ignored (RFC 7662 §2.1): every kind of token is looked for.
    let token = form
        .get("token")
        .ok_or(oauth_error("invalid_request", "token is missing"))?;
    let claims = shared.active_claims(token, unix_now());
    Ok((client.id().to_owned(), introspection_object(claims)))
}

/// Whether `Accept` lists the RFC 9701 media type (parameters aside, not with `q=0`).
fn wants_jwt(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let media_type = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|parameter| {
                parameter.split_once('=').is_some_and(|(name, value)| {
                    name.trim().eq_ignore_ascii_case("q")
                        && value.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                })
            });
            media_type.eq_ignore_ascii_case(JWT_MEDIA_TYPE) && !refused
        })
}

/// RFC 9701 §5: the answer as a JWT signed by the current signing key, for `client_id`.
fn jwt_response(shared: &Shared, client_id: &str, object: Value) -> Response {
    let key = Arc::clone(&shared.registry().signer);
    let header = json!({ "alg": key.alg.name(), "kid": key.kid, "typ": JWT_TYP });
    let claims = json!({
        "iss": shared.issuer,
        "aud": client_id,
        "iat": unix_now(),
        "token_introspection": object,
    });
    let mut response = Response::new(Body::from(key.sign_compact(&header, &claims)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JWT_MEDIA_TYPE),
    );
    no_store(response.headers_mut());
    response
}

// ---------------------------------------------------------------------------------------------
// Revocation endpoint
// ---------------------------------------------------------------------------------------------

pub(super) async fn revocation_endpoint(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return post_only();
    }
    shared.revocation_requests.fetch_add(1, Ordering::SeqCst);
    match revoke(&shared, &headers, &body) {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(error) => error.into_response(),
    }
}

/// RFC 7009 §2.1: a client revokes its own tokens; unknown, expired or already revoked tokens
/// are fine (§2.2: 200 all the same).
fn revoke(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let form = Form::parse(headers, body)?;
    let client = authenticated_client(shared, headers, &form)?;
    let token = form
        .get("token")
        .ok_or(oauth_error("invalid_request", "token is missing"))?;
    let Some(claims) = shared.active_claims(token, unix_now()) else {
        return Ok(());
    };
    if claims.get("client_id").and_then(Value::as_str) != Some(client.id()) {
        return Err(oauth_error(
            "invalid_grant",
            "The token was issued to another client",
        ));
    }
    shared.revoke(token);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_jwt_answer_is_asked_for_in_accept() {
        assert!(!wants_jwt(&accept(&[])));
        assert!(!wants_jwt(&accept(&["application/json"])));
        assert!(wants_jwt(&accept(&[JWT_MEDIA_TYPE])));
        assert!(wants_jwt(&accept(&["Application/Token-Introspection+JWT"])));
        assert!(wants_jwt(&accept(&[
            "application/json;q=0.5, application/token-introspection+jwt ; q=1"
        ])));
        assert!(wants_jwt(&accept(&["application/json", JWT_MEDIA_TYPE])));
        assert!(!wants_jwt(&accept(&[
            "application/token-introspection+jwt;q=0"
        ])));
        assert!(!wants_jwt(&accept(&["application/jwt"])));
    }

    #[test]
    fn the_answer_carries_the_claims_and_the_token_type() {
        assert_eq!(introspection_object(None), json!({ "active": false }));
        let claims = |value: Value| value.as_object().unwrap().clone();
        assert_eq!(
            introspection_object(Some(claims(json!({ "sub": "a", "active": false })))),
            json!({ "active": true, "sub": "a", "token_type": "Bearer" })
        );
        assert_eq!(
            introspection_object(Some(claims(json!({ "cnf": { "jkt": "x" } }))))["token_type"],
            "DPoP"
        );
    }

    #[test]
    fn digests_are_sha256() {
        let digest = token_digest("abc");
        assert_eq!(
            URL_SAFE_NO_PAD.encode(digest),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }
}
