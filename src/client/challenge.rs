//! Reading `WWW-Authenticate` (RFC 9110 §11.6.1) on the client side: does the API say that our
//! token is invalid (RFC 6750 §3.1, RFC 9449 §7.1 `error="invalid_token"`), or that the DPoP
//! proof needs its nonce (RFC 9449 §9 `error="use_dpop_nonce"`)?

use http::HeaderMap;
use http::header::WWW_AUTHENTICATE;

/// Whether a `Bearer` challenge in `headers` has `error="invalid_token"` (tests, fuzzing).
#[cfg(any(test, fuzzing))]
pub(crate) fn says_invalid_token(headers: &HeaderMap) -> bool {
    says(headers, "Bearer", "invalid_token")
}

/// Whether a challenge of `scheme` (case-insensitive) in `headers` has `error="<code>"`: for
/// DPoP (RFC 9449 §7.1, §9) `invalid_token` and `use_dpop_nonce`.
pub(crate) fn says(headers: &HeaderMap, scheme: &str, code: &str) -> bool {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(parse)
        .any(|challenge| {
            challenge.scheme.eq_ignore_ascii_case(scheme)
                && challenge
                    .params
                    .iter()
                    .any(|(name, value)| name.eq_ignore_ascii_case("error") && value == code)
        })
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Challenge<'a> {
    pub(crate) scheme: &'a str,
    /// Auth-params with quoted values unescaped; a token68 is left out.
    pub(crate) params: Vec<(&'a str, String)>,
}

/// `#challenge`, where `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`. Parsing is
/// lenient: an element that fits nowhere is skipped.
pub(crate) fn parse(header: &str) -> Vec<Challenge<'_>> {
    let mut challenges: Vec<Challenge<'_>> = Vec::new();
    let mut rest = header;
    loop {
        rest = skip_list_separators(rest);
        if rest.is_empty() {
            return challenges;
        }
        let (first, after) = token(rest);
        if first.is_empty() {
            // Not a token: skip to the next element.
            rest = skip_element(rest);
            continue;
        }
        let after_ws = after.trim_start_matches([' ', '\t']);
        if after_ws.starts_with('=') && !is_token68_tail(after_ws) {
            // `name = value`: a parameter of the current challenge.
            let (value, remaining) = param_value(&after_ws[1..]);
            if let (Some(challenge), Some(value)) = (challenges.last_mut(), value) {
                challenge.params.push((first, value));
            }
            rest = remaining;
            continue;
        }
        // A new challenge; what follows its scheme is a parameter, a token68, or nothing.
        let mut challenge = Challenge {
            scheme: first,
            params: Vec::new(),
        };
        rest = after;
        if after.starts_with([' ', '\t']) {
            let (name, after_name) = token(after_ws);
            let after_name_ws = after_name.trim_start_matches([' ', '\t']);
            if !name.is_empty() && after_name_ws.starts_with('=') && !is_token68_tail(after_name_ws)
            {
                let (value, remaining) = param_value(&after_name_ws[1..]);
                if let Some(value) = value {
                    challenge.params.push((name, value));
                }
                rest = remaining;
            } else {
                // token68 (or junk): up to the next comma.
                rest = skip_element(after_ws);
            }
        }
        challenges.push(challenge);
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn token(s: &str) -> (&str, &str) {
    let end = s.find(|c| !is_tchar(c)).unwrap_or(s.len());
    s.split_at(end)
}

/// `=` followed by more `=`, then the end of the element: the padding of a token68.
fn is_token68_tail(s: &str) -> bool {
    let after = s.trim_start_matches('=');
    let after = after.trim_start_matches([' ', '\t']);
    after.is_empty() || after.starts_with(',')
}

/// A token or quoted-string (after `=` and optional whitespace), and what follows it.
fn param_value(s: &str) -> (Option<String>, &str) {
    let s = s.trim_start_matches([' ', '\t']);
    if let Some(quoted) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return (Some(value), &quoted[i + 1..]),
                '\\' => match chars.next() {
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                },
                c => value.push(c),
            }
        }
        // Unterminated.
        (None, "")
    } else {
        let (value, rest) = token(s);
        ((!value.is_empty()).then(|| value.to_owned()), rest)
    }
}

fn skip_list_separators(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', ','])
}

/// Up to the next comma that is not inside a quoted string.
fn skip_element(s: &str) -> &str {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => return &s[i..],
            _ => {}
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn params(header: &str) -> Vec<(String, Vec<(String, String)>)> {
        parse(header)
            .into_iter()
            .map(|c| {
                (
                    c.scheme.to_owned(),
                    c.params
                        .into_iter()
                        .map(|(n, v)| (n.to_owned(), v))
                        .collect(),
                )
            })
            .collect()
    }

    fn p(scheme: &str, pairs: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
        (
            scheme.into(),
            pairs
                .iter()
                .map(|(n, v)| ((*n).into(), (*v).into()))
                .collect(),
        )
    }

    #[test]
    fn challenges_are_parsed() {
        assert_eq!(
            params(
                r#"Bearer realm="api", error="invalid_token", error_description="The \"token\", expired""#
            ),
            [p(
                "Bearer",
                &[
                    ("realm", "api"),
                    ("error", "invalid_token"),
                    ("error_description", "The \"token\", expired")
                ]
            )]
        );
        assert_eq!(
            params(
                r#"Basic realm="a, b", Bearer error=invalid_token ,, Negotiate abc==, DPoP algs="ES256""#
            ),
            [
                p("Basic", &[("realm", "a, b")]),
                p("Bearer", &[("error", "invalid_token")]),
                p("Negotiate", &[]),
                p("DPoP", &[("algs", "ES256")]),
            ]
        );
        assert_eq!(params("Bearer"), [p("Bearer", &[])]);
        assert_eq!(
            params("Bearer  error = \"x\""),
            [p("Bearer", &[("error", "x")])]
        );
        assert_eq!(params("Newauth abc="), [p("Newauth", &[])]);
        assert_eq!(params(""), []);
        assert_eq!(params(r#"Bearer error="unterminated"#), [p("Bearer", &[])]);
    }

    #[test]
    fn invalid_token_is_recognized() {
        let says = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(WWW_AUTHENTICATE, HeaderValue::from_str(value).unwrap());
            }
            says_invalid_token(&headers)
        };
        assert!(says(&[r#"Bearer realm="api", error="invalid_token""#]));
        assert!(says(&[r#"bearer error="invalid_token""#]));
        assert!(says(&[
            r#"Basic realm="x""#,
            r#"Bearer error="invalid_token""#
        ]));
        assert!(says(&[r#"Basic realm="x", Bearer error=invalid_token"#]));
        assert!(!says(&[r#"Bearer realm="api""#]));
        assert!(!says(&[r#"Bearer error="insufficient_scope""#]));
        assert!(!says(&[r#"DPoP error="invalid_token""#]));
        assert!(!says(&[r#"Bearer realm="error=\"invalid_token\"""#]));
        assert!(!says(&[]));
    }

    #[test]
    fn dpop_challenges_are_recognized() {
        let mut headers = HeaderMap::new();
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer realm="api", DPoP algs="ES256", error="use_dpop_nonce""#,
            ),
        );
        assert!(super::says(&headers, "DPoP", "use_dpop_nonce"));
        assert!(super::says(&headers, "dpop", "use_dpop_nonce"));
        assert!(!super::says(&headers, "Bearer", "use_dpop_nonce"));
        assert!(!super::says(&headers, "DPoP", "invalid_token"));
    }
}
