//! Getting the credential out of a request (RFC 6750 §2, RFC 9110 §11.6.2).
//!
//! Only the `Authorization: Bearer` method is accepted. Query-string tokens (§2.3) are refused
//! with `invalid_request` rather than ignored, so a client that leaks its token into URLs learns
//! about it at once. The extracted token borrows from the request: nothing is copied.
//!
//! ```
//! use bearer_guard::token::{extract, Credential};
//! use http::Request;
//!
//! let req = Request::get("/").header("authorization", "bearer abc.def.ghi").body(()).unwrap();
//! let Some(Credential::Bearer(token)) = extract(&req).unwrap() else { panic!() };
//! assert_eq!(token, "abc.def.ghi");
//! ```

use http::header::AUTHORIZATION;
use http::{HeaderMap, Request, Uri};

use crate::error::{AuthError, ErrorKind};

/// A credential found in a request, with its scheme.
///
/// Only `Bearer` exists today; the enum leaves room for `DPoP` (RFC 9449).
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential<'a> {
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
}

impl std::fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer([redacted])"),
        }
    }
}

/// Finds the bearer credential of a request.
///
/// - `Ok(Some(_))`: exactly one well-formed `Authorization: Bearer` header.
/// - `Ok(None)`: no credential, or another scheme (`Basic …`): answered 401 without `error`.
/// - `Err(_)` with [`ErrorKind::InvalidRequest`]: several `Authorization` headers, a `Bearer`
///   credential that does not follow the b64token grammar, or an `access_token` query parameter.
pub fn extract<B>(request: &Request<B>) -> Result<Option<Credential<'_>>, AuthError> {
    extract_parts(request.headers(), request.uri())
}

/// [`extract`] on the parts of a request.
pub fn extract_parts<'a>(
    headers: &'a HeaderMap,
    uri: &Uri,
) -> Result<Option<Credential<'a>>, AuthError> {
    if uri.query().is_some_and(has_access_token_param) {
        return Err(ErrorKind::InvalidRequest.into());
    }
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ErrorKind::InvalidRequest.into());
    }
    parse_authorization(value.as_bytes())
}

/// Parses one `Authorization` field value.
///
/// This runs on every request over a value of about a kilobyte, so the token is checked in
/// one branch-free pass (which the compiler vectorizes) instead of a `to_str` pass followed
/// by a grammar pass.
fn parse_authorization(value: &[u8]) -> Result<Option<Credential<'_>>, AuthError> {
    let invalid = || AuthError::new(ErrorKind::InvalidRequest);
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        // Another scheme is no bearer credential, but a header that is not visible ASCII is
        // malformed whatever its scheme.
        return match value
            .iter()
            .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            true => Ok(None),
            false => Err(invalid()),
        };
    }
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    let token = &rest[spaces..];
    if !is_b64token(token) {
        return Err(invalid());
    }
    // All bytes are ASCII by now, so this cannot fail; it is the safe way to a `&str`.
    std::str::from_utf8(token)
        .map(|token| Some(Credential::Bearer(token)))
        .map_err(|_| invalid())
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1).
fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    // `fold` with `&` rather than `all`: no early exit, so the loop vectorizes.
    !body.is_empty() && body.iter().fold(true, |ok, &b| ok & is_b64token_char(b))
}

fn is_b64token_char(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter
        | digit
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

fn has_access_token_param(query: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair.split('=').next() == Some("access_token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Option<&str>, ErrorKind> {
        parse_authorization(value.as_bytes())
            .map(|c| c.map(|Credential::Bearer(t)| t))
            .map_err(|e| e.kind())
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            assert_eq!(parse(&format!("{scheme} a.b.c")), Ok(Some("a.b.c")));
        }
    }

    #[test]
    fn one_or_more_spaces_after_the_scheme() {
        assert_eq!(parse("Bearer   a.b.c"), Ok(Some("a.b.c")));
    }

    #[test]
    fn grammar_violations_are_invalid_request() {
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\"b",
            "Bearer ===",
            "Bearer a=b",
            "Bearer a,b",
        ] {
            assert_eq!(parse(bad), Err(ErrorKind::InvalidRequest), "{bad:?}");
        }
    }

    #[test]
    fn trailing_equals_signs_are_part_of_the_grammar() {
        assert_eq!(parse("Bearer abc=="), Ok(Some("abc==")));
    }

    #[test]
    fn the_token_alphabet_is_exactly_the_b64token_one() {
        for b in 0..=u8::MAX {
            let expected = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_b64token_char(b), expected, "byte {b:#04x}");
        }
    }

    #[test]
    fn a_header_that_is_not_visible_ascii_is_invalid_whatever_its_scheme() {
        assert_eq!(
            parse_authorization(b"Basic \xff\xfe")
                .map(|c| c.is_some())
                .map_err(|e| e.kind()),
            Err(ErrorKind::InvalidRequest)
        );
        assert_eq!(parse("Bearer a\tb"), Err(ErrorKind::InvalidRequest));
        assert_eq!(parse("Basic a\tb"), Ok(None));
    }

    #[test]
    fn other_schemes_are_no_credential() {
        assert_eq!(parse("Basic dXNlcjpwYXNz"), Ok(None));
        assert_eq!(parse("Bearerx abc"), Ok(None));
        assert_eq!(parse("DPoP abc"), Ok(None));
    }

    #[test]
    fn two_authorization_headers_are_invalid_request() {
        let req = Request::get("/")
            .header(AUTHORIZATION, "Bearer a")
            .header(AUTHORIZATION, "Bearer a")
            .body(())
            .unwrap();
        assert_eq!(extract(&req).unwrap_err().kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn query_tokens_are_refused() {
        let req = Request::get("/x?a=1&access_token=abc").body(()).unwrap();
        assert_eq!(extract(&req).unwrap_err().kind(), ErrorKind::InvalidRequest);
        let req = Request::get("/x?my_access_token=abc").body(()).unwrap();
        assert_eq!(extract(&req).unwrap(), None);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!("{:?}", Credential::Bearer("secret-token"));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
