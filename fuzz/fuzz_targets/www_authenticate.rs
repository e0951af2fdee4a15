//! The client's `WWW-Authenticate` parsing (RFC 9110 §11.6.1): one value, and several headers
//! (one per line of the input).

#![no_main]

use bearer_guard::fuzzing::{says_invalid_token, www_authenticate};
use http::HeaderMap;
use http::header::{HeaderValue, WWW_AUTHENTICATE};
use libfuzzer_sys::fuzz_target;

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// Whether `part` is a slice of `whole`.
fn within(part: &str, whole: &str) -> bool {
    let (start, end) = (
        whole.as_ptr() as usize,
        whole.as_ptr() as usize + whole.len(),
    );
    let p = part.as_ptr() as usize;
    p >= start && p + part.len() <= end
}

fn says(value: &str) -> bool {
    www_authenticate(value).iter().any(|(scheme, params)| {
        scheme.eq_ignore_ascii_case("bearer")
            && params
                .iter()
                .any(|(name, value)| name.eq_ignore_ascii_case("error") && value == "invalid_token")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (scheme, params) in www_authenticate(text) {
        assert!(is_token(scheme) && within(scheme, text), "{scheme:?}");
        for (name, value) in params {
            assert!(is_token(name) && within(name, text), "{name:?}");
            assert!(value.len() <= text.len());
        }
    }

    let mut headers = HeaderMap::new();
    let mut expected = false;
    for line in text.split('\n') {
        if let Ok(value) = HeaderValue::from_str(line) {
            // The client reads only values that are visible ASCII.
            expected |= value.to_str().is_ok_and(says);
            headers.append(WWW_AUTHENTICATE, value);
        }
    }
    assert_eq!(says_invalid_token(&headers), expected);
});
