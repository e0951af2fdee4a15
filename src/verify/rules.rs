//! Claim rules (RFC 7519 §4.1, RFC 9068 §4) and the `typ` policy (RFC 8725 §3.11).
//!
//! Times must be JSON numbers; `"exp": "999"` is refused, not parsed.

use serde_json::Value;

use crate::defaults;
use crate::error::ErrorKind;
use crate::verify::claims::Registered;
use crate::verify::json::{ClaimRef, ClaimSource};

/// Which `typ` header values are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TypPolicy {
    /// `at+jwt`, `application/at+jwt` (any case), `JWT` (any case), or no `typ`. Any other
    /// explicit value (an ID token's, a logout token's…) is refused: cross-JWT confusion.
    #[default]
    AccessTokenOrJwt,
    /// The strict RFC 9068 profile: `typ` must be `at+jwt` or `application/at+jwt` (any case),
    /// and `iss`, `exp`, `aud`, `sub`, `client_id`, `iat` and `jti` are all required.
    Rfc9068,
}

impl TypPolicy {
    pub(crate) fn accepts(self, typ: Option<&str>) -> bool {
        let is_at_jwt = |t: &str| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        };
        match (self, typ) {
            (Self::AccessTokenOrJwt, None) => true,
            (Self::AccessTokenOrJwt, Some(t)) => is_at_jwt(t) || t.eq_ignore_ascii_case("jwt"),
            (Self::Rfc9068, Some(t)) => is_at_jwt(t),
            (Self::Rfc9068, None) => false,
        }
    }

    fn requires_profile_claims(self) -> bool {
        self == Self::Rfc9068
    }
}

/// Time rules, with `now` and `leeway` in seconds.
pub(crate) fn check_times(r: &Registered, now: i64, leeway: i64) -> Result<(), ErrorKind> {
    if now >= r.exp.saturating_add(leeway) {
        return Err(ErrorKind::Expired);
    }
    if r.nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
        return Err(ErrorKind::NotYetValid);
    }
    if r.iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(ErrorKind::IssuedInFuture);
    }
    Ok(())
}

/// Whether the rules read the top-level claim `name` of every token: the registered claims,
/// `tid` ([`check_tenant`]), `cid` and `appid` ([`check_client`]), the scopes and `cnf`
/// (the DPoP binding). Add a claim here when a rule starts reading it: a JWT's payload is
/// judged on these members and on the first segments of the configured claim paths only.
pub(crate) fn is_read_by_the_rules(name: &str) -> bool {
    matches!(
        name,
        "iss"
            | "sub"
            | "aud"
            | "exp"
            | "nbf"
            | "iat"
            | "jti"
            | "client_id"
            | "azp"
            | "tid"
            | "cid"
            | "appid"
            | "scope"
            | "scp"
            | "cnf"
    )
}

/// Reads the registered claims, checking their JSON types. `iss` has been matched already.
pub(crate) fn registered_claims(
    claims: &dyn ClaimSource,
    iss: &str,
    policy: TypPolicy,
) -> Result<Registered, ErrorKind> {
    let exp = numeric_date(claims, "exp")?.ok_or(ErrorKind::InvalidClaim)?;
    let registered = Registered {
        iss: iss.to_owned(),
        sub: string(claims, "sub")?,
        aud: audience(claims)?,
        exp,
        nbf: numeric_date(claims, "nbf")?,
        iat: numeric_date(claims, "iat")?,
        jti: string(claims, "jti")?,
        client_id: string(claims, "client_id")?,
        azp: string(claims, "azp")?,
    };
    if policy.requires_profile_claims()
        && (registered.sub.is_none()
            || registered.client_id.is_none()
            || registered.iat.is_none()
            || registered.jti.is_none())
    {
        return Err(ErrorKind::InvalidClaim);
    }
    Ok(registered)
}

/// Whether `aud` holds one of `expected`. An issuer configured without audience accepts a
/// token with no `aud`; one that has an `aud` must still name an expected audience.
pub(crate) fn check_audience(
    aud: &[String],
    expected: &[String],
    without_audience: bool,
) -> Result<(), ErrorKind> {
    if (without_audience && aud.is_empty()) || aud.iter().any(|a| expected.contains(a)) {
        Ok(())
    } else {
        Err(ErrorKind::InvalidAudience)
    }
}

/// A multi-tenant issuer's token must name in `tid` the tenant its `iss` names.
pub(crate) fn check_tenant(claims: &dyn ClaimSource, tenant: &str) -> Result<(), ErrorKind> {
    match claims.claim("tid").and_then(ClaimRef::as_str) {
        Some(tid) if tid == tenant => Ok(()),
        _ => Err(ErrorKind::InvalidIssuer),
    }
}

/// The calling client, `client_id`, else `azp`, else `cid`, else `appid` (never `sub`), must
/// be one of `allowed`.
pub(crate) fn check_client(
    registered: &Registered,
    claims: &dyn ClaimSource,
    allowed: &[String],
) -> Result<(), ErrorKind> {
    let client = registered
        .client_id
        .as_deref()
        .or(registered.azp.as_deref())
        .or_else(|| {
            ["cid", "appid"]
                .into_iter()
                .find_map(|name| claims.claim(name)?.as_str())
        });
    match client {
        Some(client) if allowed.iter().any(|a| a == client) => Ok(()),
        _ => Err(ErrorKind::ClientNotAllowed),
    }
}

/// NumericDate (RFC 7519 §2): a JSON number of seconds, possibly fractional, between 0 and
/// [`defaults::MAX_NUMERIC_DATE`]. Anything else is refused rather than clamped: an `exp` of
/// 1e300 saturated to `i64::MAX` would be a token that never expires.
fn numeric_date(claims: &dyn ClaimSource, name: &str) -> Result<Option<i64>, ErrorKind> {
    const RANGE: std::ops::RangeInclusive<i64> = 0..=defaults::MAX_NUMERIC_DATE;
    let Some(claim) = claims.claim(name) else {
        return Ok(None);
    };
    let seconds = match claim {
        ClaimRef::Json(Value::Number(n)) => match n.as_i64() {
            Some(whole) => Some(whole),
            // Compared as floats before any cast: a cast would saturate out-of-range values.
            None => n
                .as_f64()
                .filter(|f| (0.0..=defaults::MAX_NUMERIC_DATE as f64).contains(f))
                .map(|f| f.floor() as i64),
        },
        _ => None,
    };
    seconds
        .filter(|s| RANGE.contains(s))
        .map(Some)
        .ok_or(ErrorKind::InvalidClaim)
}

fn string(claims: &dyn ClaimSource, name: &str) -> Result<Option<String>, ErrorKind> {
    match claims.claim(name) {
        None => Ok(None),
        Some(claim) => claim
            .as_str()
            .map(|s| Some(s.to_owned()))
            .ok_or(ErrorKind::InvalidClaim),
    }
}

/// `aud`: a string or an array of strings; whether it must be there is
/// [`check_audience`]'s business.
fn audience(claims: &dyn ClaimSource) -> Result<Vec<String>, ErrorKind> {
    let Some(claim) = claims.claim("aud") else {
        return Ok(Vec::new());
    };
    if let Some(single) = claim.as_str() {
        return Ok(vec![single.to_owned()]);
    }
    match claim {
        ClaimRef::Json(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(ErrorKind::InvalidClaim))
            .collect(),
        _ => Err(ErrorKind::InvalidClaim),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reg(v: Value) -> Result<Registered, ErrorKind> {
        registered_claims(v.as_object().unwrap(), "i", TypPolicy::AccessTokenOrJwt)
    }

    #[test]
    fn typ_policies() {
        let default = TypPolicy::AccessTokenOrJwt;
        for ok in [
            None,
            Some("at+jwt"),
            Some("AT+JWT"),
            Some("application/at+jwt"),
            Some("JWT"),
            Some("jwt"),
        ] {
            assert!(default.accepts(ok), "{ok:?}");
        }
        for bad in [
            Some("id_token+jwt"),
            Some("logout+jwt"),
            Some(""),
            Some("dpop+jwt"),
        ] {
            assert!(!default.accepts(bad), "{bad:?}");
        }
        assert!(TypPolicy::Rfc9068.accepts(Some("Application/AT+JWT")));
        assert!(!TypPolicy::Rfc9068.accepts(Some("JWT")));
        assert!(!TypPolicy::Rfc9068.accepts(None));
    }

    #[test]
    fn times_must_be_numbers() {
        assert_eq!(
            reg(json!({"aud": "a", "exp": "999"})).unwrap_err(),
            ErrorKind::InvalidClaim
        );
        assert_eq!(
            reg(json!({"aud": "a"})).unwrap_err(),
            ErrorKind::InvalidClaim
        );
        assert_eq!(
            reg(json!({"aud": "a", "exp": 10, "nbf": true})).unwrap_err(),
            ErrorKind::InvalidClaim
        );
        assert_eq!(reg(json!({"aud": "a", "exp": 10.9})).unwrap().exp, 10);
    }

    #[test]
    fn absurd_times_are_refused_not_saturated() {
        let max = defaults::MAX_NUMERIC_DATE;
        assert_eq!(reg(json!({"aud": "a", "exp": max})).unwrap().exp, max);
        assert_eq!(reg(json!({"aud": "a", "exp": 0})).unwrap().exp, 0);
        for exp in [
            json!(1e300),
            json!(max + 1),
            json!(max as f64 + 1.5),
            json!(u64::MAX),
            json!(i64::MAX),
            json!(-1),
            json!(-0.5),
            json!(-1e300),
        ] {
            assert_eq!(
                reg(json!({"aud": "a", "exp": exp})).unwrap_err(),
                ErrorKind::InvalidClaim,
                "exp {exp}"
            );
            for other in ["nbf", "iat"] {
                assert_eq!(
                    reg(json!({"aud": "a", "exp": 10, other: exp})).unwrap_err(),
                    ErrorKind::InvalidClaim,
                    "{other} {exp}"
                );
            }
        }
    }

    #[test]
    fn time_rules_with_leeway() {
        let r = |exp, nbf, iat| Registered {
            exp,
            nbf,
            iat,
            ..Registered::default()
        };
        assert_eq!(check_times(&r(100, None, None), 99, 0), Ok(()));
        assert_eq!(
            check_times(&r(100, None, None), 100, 0),
            Err(ErrorKind::Expired)
        );
        assert_eq!(check_times(&r(100, None, None), 105, 10), Ok(()));
        assert_eq!(
            check_times(&r(100, Some(50), None), 40, 5),
            Err(ErrorKind::NotYetValid)
        );
        assert_eq!(check_times(&r(100, Some(50), None), 45, 5), Ok(()));
        assert_eq!(
            check_times(&r(100, None, Some(60)), 50, 5),
            Err(ErrorKind::IssuedInFuture)
        );
        // At the edge of the leeway, every rule still accepts.
        assert_eq!(check_times(&r(100, None, Some(55)), 50, 5), Ok(()));
        assert_eq!(check_times(&r(100, Some(55), None), 50, 5), Ok(()));
        assert_eq!(check_times(&r(100, None, None), 104, 5), Ok(()));
        assert_eq!(check_times(&r(i64::MAX, None, None), 0, 30), Ok(()));
    }

    #[test]
    fn audience_string_or_array() {
        assert_eq!(
            reg(json!({"aud": ["x", "y"], "exp": 1})).unwrap().aud,
            ["x", "y"]
        );
        assert_eq!(
            reg(json!({"aud": 5, "exp": 1})).unwrap_err(),
            ErrorKind::InvalidClaim
        );
        assert!(reg(json!({"exp": 1})).unwrap().aud.is_empty());
        assert_eq!(
            check_audience(&["x".into()], &["y".into()], false),
            Err(ErrorKind::InvalidAudience)
        );
        assert_eq!(
            check_audience(&[], &["y".into()], false),
            Err(ErrorKind::InvalidAudience)
        );
    }

    #[test]
    fn without_audience_a_token_may_have_none_but_not_a_wrong_one() {
        assert_eq!(check_audience(&[], &[], true), Ok(()));
        assert_eq!(
            check_audience(&["x".into()], &[], true),
            Err(ErrorKind::InvalidAudience)
        );
        assert_eq!(check_audience(&["y".into()], &["y".into()], true), Ok(()));
    }

    #[test]
    fn the_tenant_must_be_tid() {
        let c = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(check_tenant(&c(json!({"tid": "t1"})), "t1"), Ok(()));
        for bad in [json!({"tid": "t2"}), json!({}), json!({"tid": ["t1"]})] {
            assert_eq!(check_tenant(&c(bad), "t1"), Err(ErrorKind::InvalidIssuer));
        }
    }

    #[test]
    fn the_allowed_client_is_client_id_else_azp_else_cid_else_appid_never_sub() {
        let allowed = ["ok".to_owned()];
        let check = |v: Value| {
            let claims = v.as_object().cloned().unwrap();
            let registered = reg(Value::Object(claims.clone())).unwrap();
            check_client(&registered, &claims, &allowed)
        };
        for ok in [
            json!({"exp": 1, "client_id": "ok", "azp": "no"}),
            json!({"exp": 1, "azp": "ok", "cid": "no"}),
            json!({"exp": 1, "cid": "ok", "appid": "no"}),
            json!({"exp": 1, "appid": "ok"}),
        ] {
            assert_eq!(check(ok.clone()), Ok(()), "{ok}");
        }
        for bad in [
            json!({"exp": 1, "client_id": "no", "azp": "ok"}),
            json!({"exp": 1, "sub": "ok"}),
            json!({"exp": 1}),
        ] {
            assert_eq!(
                check(bad.clone()),
                Err(ErrorKind::ClientNotAllowed),
                "{bad}"
            );
        }
    }

    #[test]
    fn strict_profile_requires_its_claims() {
        let full =
            json!({"aud": "a", "exp": 1, "sub": "c", "client_id": "c", "iat": 0, "jti": "j"});
        assert!(registered_claims(full.as_object().unwrap(), "i", TypPolicy::Rfc9068).is_ok());
        let mut partial = full.clone();
        partial.as_object_mut().unwrap().remove("jti");
        assert_eq!(
            registered_claims(partial.as_object().unwrap(), "i", TypPolicy::Rfc9068).unwrap_err(),
            ErrorKind::InvalidClaim
        );
    }
}
