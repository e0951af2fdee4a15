//! [`ClaimPredicate`]: a condition on one claim's value, such as `tenant` = `acme`,
//! `token_use` = `access` or `azp` in a list of clients.
//!
//! Predicates are checked in three places, each with its own answer:
//!
//! | set on | a token failing it gets |
//! |---|---|
//! | [`Issuer::require_claim`](crate::Issuer::require_claim) | 401 `invalid_token` ([`ErrorKind::UnacceptedClaim`](crate::ErrorKind::UnacceptedClaim)): the token is not one this API accepts |
//! | [`GuardLayer::require_claim`](crate::GuardLayer::require_claim) | 403 `insufficient_scope` without `scope=` ([`ErrorKind::ForbiddenClaim`](crate::ErrorKind::ForbiddenClaim)) |
//! | [`RequireScopeLayer::require_claim`](crate::RequireScopeLayer::require_claim) | the same 403, for that route |
//!
//! A claim that is absent fails every predicate.
//!
//! ```
//! use bearer_guard::{ClaimPath, ClaimPredicate};
//! use serde_json::json;
//!
//! let claims = json!({
//!     "tenant": "acme",
//!     "aud": ["orders", "billing"],
//!     "azp": "reporting",
//!     "ext": {"tier": 2},
//! });
//! let claims = claims.as_object().unwrap();
//! assert!(ClaimPredicate::equals("tenant", "acme").is_satisfied_by(claims));
//! assert!(ClaimPredicate::contains("aud", "billing").is_satisfied_by(claims));
//! assert!(ClaimPredicate::one_of("azp", ["reporting", "billing-job"]).is_satisfied_by(claims));
//! assert!(ClaimPredicate::equals(ClaimPath::dotted("ext.tier"), 2).is_satisfied_by(claims));
//! assert!(!ClaimPredicate::equals("tenant", "ACME").is_satisfied_by(claims));
//! assert!(!ClaimPredicate::equals("token_use", "access").is_satisfied_by(claims));
//! ```

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::ConfigError;
use crate::verify::claim_path::ClaimPath;
use crate::verify::json::ClaimSource;

/// A condition on one claim. See the [module docs](crate::predicate).
///
/// Values are compared as JSON, exactly: strings case-sensitively, and the number `1` is not
/// the string `"1"`.
#[derive(Clone, PartialEq)]
pub struct ClaimPredicate {
    path: ClaimPath,
    test: Test,
}

#[derive(Clone, PartialEq)]
enum Test {
    Equals(Value),
    Contains(Value),
    OneOf(Arc<[Value]>),
}

impl ClaimPredicate {
    /// The claim at `path` equals `value`.
    pub fn equals(path: impl Into<ClaimPath>, value: impl Into<Value>) -> Self {
        Self {
            path: path.into(),
            test: Test::Equals(value.into()),
        }
    }

    /// The claim at `path` is an array holding `value`, or is `value` itself (so that `aud`,
    /// a string or an array, is handled either way).
    pub fn contains(path: impl Into<ClaimPath>, value: impl Into<Value>) -> Self {
        Self {
            path: path.into(),
            test: Test::Contains(value.into()),
        }
    }

    /// The claim at `path` equals one of `values` (an empty list is refused when built).
    pub fn one_of<V: Into<Value>>(
        path: impl Into<ClaimPath>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        Self {
            path: path.into(),
            test: Test::OneOf(values.into_iter().map(Into::into).collect()),
        }
    }

    /// The claim's path.
    pub fn path(&self) -> &ClaimPath {
        &self.path
    }

    /// Whether `claims` (the token's whole claims object) meets the predicate.
    pub fn is_satisfied_by(&self, claims: &Map<String, Value>) -> bool {
        self.is_met_by(claims)
    }

    /// [`Self::is_satisfied_by`] of any claims the rules read.
    pub(crate) fn is_met_by(&self, claims: &dyn ClaimSource) -> bool {
        self.path
            .read(claims, |value| match &self.test {
                Test::Equals(expected) => value == expected,
                Test::Contains(expected) => match value {
                    Value::Array(items) => items.contains(expected),
                    single => single == expected,
                },
                Test::OneOf(allowed) => allowed.contains(value),
            })
            .unwrap_or(false)
    }

    /// Refuses a predicate that no token could meet as meant, naming `setting`.
    pub(crate) fn check(&self, setting: &'static str) -> Result<(), ConfigError> {
        self.path.check(setting)?;
        match &self.test {
            Test::OneOf(allowed) if allowed.is_empty() => Err(ConfigError::EmptyClaimPredicate {
                setting,
                path: self.path.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for ClaimPredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = &self.path;
        match &self.test {
            Test::Equals(value) => write!(f, "{path} == {value}"),
            Test::Contains(value) => write!(f, "{path} contains {value}"),
            Test::OneOf(values) => {
                write!(f, "{path} in [")?;
                for (i, value) in values.iter().enumerate() {
                    let separator = if i == 0 { "" } else { ", " };
                    write!(f, "{separator}{value}")?;
                }
                f.write_str("]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn equality_is_exact_json_equality() {
        let c = claims(json!({"tenant": "acme", "tier": 1, "flag": true}));
        assert!(ClaimPredicate::equals("tenant", "acme").is_satisfied_by(&c));
        for (path, value) in [
            ("tenant", json!("Acme")),
            ("tenant", json!(["acme"])),
            ("tier", json!("1")),
            ("tier", json!(1.5)),
            ("flag", json!("true")),
            ("missing", json!(null)),
        ] {
            assert!(
                !ClaimPredicate::equals(path, value.clone()).is_satisfied_by(&c),
                "{path} == {value}"
            );
        }
        assert!(ClaimPredicate::equals("tier", 1).is_satisfied_by(&c));
    }

    #[test]
    fn contains_takes_an_array_or_a_single_value() {
        let c = claims(json!({"aud": ["a", "b"], "single": "a", "nested": [["a"]]}));
        assert!(ClaimPredicate::contains("aud", "b").is_satisfied_by(&c));
        assert!(ClaimPredicate::contains("single", "a").is_satisfied_by(&c));
        assert!(!ClaimPredicate::contains("aud", "c").is_satisfied_by(&c));
        assert!(!ClaimPredicate::contains("nested", "a").is_satisfied_by(&c));
        assert!(!ClaimPredicate::contains("missing", "a").is_satisfied_by(&c));
    }

    #[test]
    fn one_of_an_allowlist() {
        let c = claims(json!({"azp": "job", "ext": {"region": "eu"}}));
        assert!(ClaimPredicate::one_of("azp", ["web", "job"]).is_satisfied_by(&c));
        assert!(!ClaimPredicate::one_of("azp", ["web"]).is_satisfied_by(&c));
        assert!(
            ClaimPredicate::one_of(ClaimPath::dotted("ext.region"), ["eu", "us"])
                .is_satisfied_by(&c)
        );
    }

    #[test]
    fn an_empty_allowlist_or_path_is_refused_when_built() {
        let empty = ClaimPredicate::one_of("azp", Vec::<String>::new());
        assert_eq!(
            empty.check("require_claim"),
            Err(ConfigError::EmptyClaimPredicate {
                setting: "require_claim",
                path: "azp".into()
            })
        );
        assert!(matches!(
            ClaimPredicate::equals("", "x").check("require_claim"),
            Err(ConfigError::InvalidClaimPath { .. })
        ));
    }

    #[test]
    fn debug_shows_the_condition() {
        assert_eq!(
            format!("{:?}", ClaimPredicate::one_of("azp", ["a", "b"])),
            r#"azp in ["a", "b"]"#
        );
        assert_eq!(
            format!("{:?}", ClaimPredicate::equals("token_use", "access")),
            r#"token_use == "access""#
        );
    }
}
