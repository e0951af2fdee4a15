//! Scopes (RFC 6749 §3.3, RFC 9068 §2.2.3): the normalized set a token grants, and what a route
//! requires of it.
//!
//! Scope tokens are case-sensitive and compared whole: `Read` does not satisfy `read`,
//! `readonly` does not satisfy `read`, and `read,write` is one scope, not two.
//!
//! ```
//! use bearer_guard::{ScopeRequirement, Scopes};
//!
//! let granted = Scopes::from_iter(["read", "write"]);
//! assert!(ScopeRequirement::all(["read", "write"]).is_satisfied_by(&granted));
//! assert!(ScopeRequirement::any(["admin", "write"]).is_satisfied_by(&granted));
//! assert!(!ScopeRequirement::all(["Read"]).is_satisfied_by(&granted));
//! ```

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::error::ConfigError;

/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// The scopes a token grants: one set built from `scope`, `scp` and any configured extra claims.
///
/// Cheap to clone (shared). Sorted and free of duplicates; strings that are not valid
/// scope-tokens are dropped, since no requirement can name them.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(Arc<[Box<str>]>);

impl Scopes {
    /// Whether the set holds `scope` (exact, case-sensitive).
    pub fn contains(&self, scope: &str) -> bool {
        self.0.binary_search_by(|s| (**s).cmp(scope)).is_ok()
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| &**s)
    }

    /// How many scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no scope is granted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: AsRef<str>> FromIterator<S> for Scopes {
    /// Collects scopes; each item may hold several space-delimited scopes.
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut all: Vec<Box<str>> = Vec::new();
        for item in iter {
            all.extend(
                item.as_ref()
                    .split(' ')
                    .filter(|s| is_scope_token(s))
                    .map(Box::from),
            );
        }
        all.sort_unstable();
        all.dedup();
        Self(all.into())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl serde::Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// Appends the scopes held by one claim value: a space-delimited string, or an array of strings
/// (as some servers send `scope`, and Azure sends `scp`/`roles`).
///
/// Returns `false` when the claim has another JSON type.
pub(crate) fn collect_claim<'a>(value: &'a Value, out: &mut Vec<&'a str>) -> bool {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(s) => out.push(s),
                    _ => return false,
                }
            }
        }
        _ => return false,
    }
    true
}

/// Which scopes a route (or the whole guard) requires.
#[derive(Clone, PartialEq, Eq)]
pub struct ScopeRequirement {
    all: bool,
    scopes: Arc<[Box<str>]>,
}

impl ScopeRequirement {
    /// Every one of `scopes` is required.
    ///
    /// # Panics
    /// If a scope is not a valid scope-token or no scope is given; see
    /// [`ScopeRequirement::try_all`] for the fallible form.
    pub fn all<S: AsRef<str>>(scopes: impl IntoIterator<Item = S>) -> Self {
        Self::try_all(scopes).unwrap_or_else(|e| panic!("{e}"))
    }

    /// At least one of `scopes` is required.
    ///
    /// # Panics
    /// As [`ScopeRequirement::all`]; see [`ScopeRequirement::try_any`].
    pub fn any<S: AsRef<str>>(scopes: impl IntoIterator<Item = S>) -> Self {
        Self::try_any(scopes).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Fallible form of [`ScopeRequirement::all`].
    ///
    /// # Errors
    /// [`ConfigError::InvalidScope`] or [`ConfigError::EmptyScopeRequirement`].
    pub fn try_all<S: AsRef<str>>(
        scopes: impl IntoIterator<Item = S>,
    ) -> Result<Self, ConfigError> {
        Self::build(true, scopes)
    }

    /// Fallible form of [`ScopeRequirement::any`].
    ///
    /// # Errors
    /// [`ConfigError::InvalidScope`] or [`ConfigError::EmptyScopeRequirement`].
    pub fn try_any<S: AsRef<str>>(
        scopes: impl IntoIterator<Item = S>,
    ) -> Result<Self, ConfigError> {
        Self::build(false, scopes)
    }

    fn build<S: AsRef<str>>(
        all: bool,
        scopes: impl IntoIterator<Item = S>,
    ) -> Result<Self, ConfigError> {
        let mut list: Vec<Box<str>> = Vec::new();
        for scope in scopes {
            let scope = scope.as_ref();
            if !is_scope_token(scope) {
                return Err(ConfigError::InvalidScope(scope.to_owned()));
            }
            if !list.iter().any(|s| &**s == scope) {
                list.push(Box::from(scope));
            }
        }
        if list.is_empty() {
            return Err(ConfigError::EmptyScopeRequirement);
        }
        Ok(Self {
            all,
            scopes: list.into(),
        })
    }

    /// Whether `granted` meets the requirement.
    pub fn is_satisfied_by(&self, granted: &Scopes) -> bool {
        let mut required = self.scopes.iter();
        if self.all {
            required.all(|s| granted.contains(s))
        } else {
            required.any(|s| granted.contains(s))
        }
    }

    /// The scopes named, in the order given.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(|s| &**s)
    }

    /// Whether all scopes are required (`true`) or any one (`false`).
    pub fn requires_all(&self) -> bool {
        self.all
    }

    /// The value of the challenge's `scope` parameter: the scopes, space-delimited.
    pub(crate) fn scope_param(&self) -> String {
        self.scopes().collect::<Vec<_>>().join(" ")
    }
}

impl fmt::Debug for ScopeRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.all { "All" } else { "Any" };
        f.debug_tuple(name).field(&self.scope_param()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_prefix_and_commas_are_not_normalized() {
        let granted = Scopes::from_iter(["Read readonly read,write"]);
        let read = ScopeRequirement::all(["read"]);
        assert!(!read.is_satisfied_by(&granted));
        assert!(granted.contains("read,write"));
        assert!(!granted.contains("write"));
    }

    #[test]
    fn strings_and_arrays_give_the_same_set() {
        let a = Scopes::from_iter(["read write"]);
        let b = Scopes::from_iter(["write", "read", "read"]);
        assert_eq!(a, b);
        assert_eq!(a.iter().collect::<Vec<_>>(), ["read", "write"]);
    }

    #[test]
    fn invalid_scope_tokens_are_dropped_from_grants_and_refused_in_requirements() {
        let granted = Scopes::from_iter(["a\"b  ok"]);
        assert_eq!(granted.iter().collect::<Vec<_>>(), ["ok"]);
        assert_eq!(
            ScopeRequirement::try_all(["a b"]),
            Err(ConfigError::InvalidScope("a b".into()))
        );
        assert_eq!(
            ScopeRequirement::try_any(Vec::<String>::new()),
            Err(ConfigError::EmptyScopeRequirement)
        );
    }

    #[test]
    fn any_of_needs_one() {
        let req = ScopeRequirement::any(["admin", "write"]);
        assert!(req.is_satisfied_by(&Scopes::from_iter(["write"])));
        assert!(!req.is_satisfied_by(&Scopes::from_iter(["read"])));
        assert_eq!(req.scope_param(), "admin write");
    }

    #[test]
    fn claim_values_of_other_types_are_refused() {
        let (array, string) = (serde_json::json!(["a", "b"]), serde_json::json!("c d"));
        let mut out = Vec::new();
        assert!(collect_claim(&array, &mut out));
        assert!(collect_claim(&string, &mut out));
        assert_eq!(out, ["a", "b", "c d"]);
        for bad in [serde_json::json!(5), serde_json::json!(["a", 1])] {
            assert!(!collect_claim(&bad, &mut Vec::new()), "{bad}");
        }
    }
}
