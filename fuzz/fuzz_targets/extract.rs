//! Credential extraction (RFC 6750 §2.1) from arbitrary `Authorization` values, several
//! headers and query strings, checked against a plain reading of the grammar; then the same
//! request with every other token source enabled (cookie, custom header, websocket query),
//! which must answer with a b64token or `invalid_request`, never a panic.

#![no_main]

use arbitrary::Arbitrary;
use bearer_guard::token::{
    Credential, TokenSource, TokenSources, extract, extract_parts, extract_with,
};
use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Uri};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Extra headers: `true` for `Authorization`, `false` for another one.
    others: Vec<(bool, &'a [u8])>,
    query: Option<&'a str>,
    /// A `Cookie` value, an `X-Access-Token` value, and whether the request is a websocket
    /// upgrade: for the other token sources.
    cookie: Option<&'a [u8]>,
    custom: Option<&'a [u8]>,
    upgrade: bool,
    /// The first `Authorization` value; last, so it takes the rest of the input.
    value: &'a [u8],
}

/// What RFC 6750 §2.1 and the crate's documented rules say, written plainly.
fn expected(value: &[u8]) -> Result<Option<&[u8]>, ()> {
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        let visible = value
            .iter()
            .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b));
        return if visible { Ok(None) } else { Err(()) };
    }
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let token = &rest[start..];
    let end = token.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let body = &token[..end];
    let ok = !body.is_empty()
        && body
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if ok { Ok(Some(token)) } else { Err(()) }
}

fn has_access_token(query: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair.split('=').next() == Some("access_token"))
}

fn shape(
    result: Result<Option<Credential<'_>>, bearer_guard::AuthError>,
) -> Result<Option<&[u8]>, ()> {
    match result {
        Ok(None) => Ok(None),
        Ok(Some(Credential::Bearer(token))) => Ok(Some(token.as_bytes())),
        Ok(Some(_)) => panic!("only Bearer is extracted"),
        Err(error) => {
            assert_eq!(error.kind(), bearer_guard::ErrorKind::InvalidRequest);
            Err(())
        }
    }
}

fuzz_target!(|input: Input<'_>| {
    let Ok(value) = HeaderValue::from_bytes(input.value) else {
        return;
    };
    // One header, no query.
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value.clone());
    let single = shape(extract_parts(&headers, &Uri::from_static("/")));
    assert_eq!(single, expected(value.as_bytes()), "{value:?}");

    // Several headers and a query string.
    let mut count = 1;
    for (authorization, bytes) in input.others {
        let Ok(other) = HeaderValue::from_bytes(bytes) else {
            continue;
        };
        if authorization {
            headers.append(AUTHORIZATION, other);
            count += 1;
        } else {
            headers.append(HeaderName::from_static("x-other"), other);
        }
    }
    let uri = match input.query {
        Some(query) => match Uri::try_from(format!("/path?{query}")) {
            Ok(uri) => uri,
            Err(_) => return,
        },
        None => Uri::from_static("/path"),
    };
    let refused_query = uri.query().is_some_and(has_access_token);
    let want = if refused_query || count > 1 {
        Err(())
    } else {
        expected(value.as_bytes())
    };
    assert_eq!(shape(extract_parts(&headers, &uri)), want);

    let mut request = Request::builder().uri(uri).body(()).expect("a request");
    *request.headers_mut() = headers;
    assert_eq!(shape(extract(&request)), want);

    // Every other source enabled: whatever is found must be a token of the grammar.
    let headers = request.headers_mut();
    for (name, value) in [("cookie", input.cookie), ("x-access-token", input.custom)] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_bytes(v).ok()) {
            headers.append(HeaderName::from_static(name), value);
        }
    }
    if input.upgrade {
        headers.insert("connection", HeaderValue::from_static("Upgrade"));
        headers.insert("upgrade", HeaderValue::from_static("websocket"));
    }
    let sources = [
        TokenSource::cookie("access_token"),
        TokenSource::header("x-access-token"),
        TokenSource::websocket_query(),
    ]
    .into_iter()
    .try_fold(TokenSources::new(), TokenSources::with)
    .expect("valid sources");
    match extract_with(&request, &sources) {
        Ok(None) => {}
        Ok(Some(found)) => {
            let token = found.token().as_bytes();
            let end = token.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
            assert!(end > 0, "an empty token was extracted");
            assert!(
                token[..end]
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)),
                "not a b64token"
            );
        }
        Err(error) => assert_eq!(error.kind(), bearer_guard::ErrorKind::InvalidRequest),
    }
});
