//! [`ClaimPath`]: where in the claims object a value is read from.
//!
//! Identity providers put scopes, roles, tenants and clients in places of their own: Keycloak
//! nests roles in `realm_access.roles` and `resource_access.<client>.roles`, Zitadel names a
//! claim `urn:zitadel:iam:org:project:roles`, Auth0 namespaces custom claims with a URL
//! (`https://example.com/roles`). A path is a list of member names, one per level of nesting,
//! so that no name ever needs escaping:
//!
//! ```
//! use bearer_guard::ClaimPath;
//!
//! // A top-level claim, named as it is: colons and dots are part of the name.
//! let zitadel = ClaimPath::from("urn:zitadel:iam:org:project:roles");
//! let auth0 = ClaimPath::from("https://example.com/roles");
//! // Nested members, one segment per level.
//! let keycloak = ClaimPath::nested(["resource_access", "orders-api", "roles"]);
//! // The same, written with dots: for names that hold no dot themselves.
//! assert_eq!(ClaimPath::dotted("resource_access.orders-api.roles"), keycloak);
//! assert_eq!(keycloak.to_string(), "resource_access.orders-api.roles");
//! # let _ = (zitadel, auth0);
//! ```

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::error::ConfigError;
use crate::verify::json::ClaimSource;

/// A claim, or a member nested in claims, named segment by segment. See the
/// [module docs](crate::claim_path).
///
/// Built infallibly; a path with no segment or an empty one is refused when the validator or
/// layer using it is built, with [`ConfigError::InvalidClaimPath`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClaimPath(Arc<[Box<str>]>);

impl ClaimPath {
    /// Members nested in one another: `["realm_access", "roles"]` is
    /// `{"realm_access": {"roles": …}}`.
    pub fn nested<S: AsRef<str>>(segments: impl IntoIterator<Item = S>) -> Self {
        Self(segments.into_iter().map(|s| s.as_ref().into()).collect())
    }

    /// A path written with `.` between segments: `realm_access.roles`. No escape exists: a
    /// name that holds a dot is given whole with [`ClaimPath::from`] or
    /// [`ClaimPath::nested`].
    pub fn dotted(path: &str) -> Self {
        Self::nested(path.split('.'))
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| &**s)
    }

    /// The top-level claim the path starts from.
    pub(crate) fn root(&self) -> Option<&str> {
        self.0.first().map(|s| &**s)
    }

    /// `read` of the value at this path, if every level is an object holding the next
    /// segment.
    pub(crate) fn read<R>(
        &self,
        claims: &dyn ClaimSource,
        read: impl FnOnce(&Value) -> R,
    ) -> Option<R> {
        let (first, rest) = self.0.split_first()?;
        let root = claims.claim(first)?.to_value();
        let mut value = &*root;
        for segment in rest {
            value = value.as_object()?.get(&**segment)?;
        }
        Some(read(value))
    }

    /// Refuses a path that names nothing: no segment, or an empty one (`a..b`, a trailing dot).
    pub(crate) fn check(&self, setting: &'static str) -> Result<(), ConfigError> {
        if self.0.is_empty() || self.0.iter().any(|s| s.is_empty()) {
            return Err(ConfigError::InvalidClaimPath {
                setting,
                path: self.to_string(),
            });
        }
        Ok(())
    }
}

impl From<&str> for ClaimPath {
    /// One top-level claim, named exactly (dots and colons included).
    fn from(name: &str) -> Self {
        Self(Arc::new([name.into()]))
    }
}

impl From<String> for ClaimPath {
    /// One top-level claim, named exactly (dots and colons included).
    fn from(name: String) -> Self {
        Self(Arc::new([name.into_boxed_str()]))
    }
}

impl fmt::Display for ClaimPath {
    /// The segments joined with `.`; a segment that holds a dot or is empty is quoted, so
    /// that the shown path is never ambiguous.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            if segment.is_empty() || segment.contains('.') {
                write!(f, "{segment:?}")?;
            } else {
                f.write_str(segment)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimPath({self})")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims() -> serde_json::Map<String, Value> {
        json!({
            "realm_access": {"roles": ["admin"]},
            "resource_access": {"orders-api": {"roles": ["reader"]}, "a.b": {"c": 1}},
            "urn:zitadel:iam:org:project:roles": {"editor": {}},
            "scope": "read",
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    #[test]
    fn paths_reach_nested_members_and_names_with_dots_and_colons() {
        let claims = claims();
        let at = |path: ClaimPath| path.read(&claims, Value::clone);
        assert_eq!(
            at(ClaimPath::dotted("realm_access.roles")),
            Some(json!(["admin"]))
        );
        assert_eq!(
            at(ClaimPath::dotted("resource_access.orders-api.roles")),
            Some(json!(["reader"]))
        );
        assert_eq!(
            at(ClaimPath::from("urn:zitadel:iam:org:project:roles")),
            Some(json!({"editor": {}}))
        );
        assert_eq!(
            at(ClaimPath::nested(["resource_access", "a.b", "c"])),
            Some(json!(1))
        );
        // The dotted form splits at every dot: it cannot name `a.b`.
        assert_eq!(at(ClaimPath::dotted("resource_access.a.b.c")), None);
        // A level that is not an object, or a member that is absent, is no value.
        assert_eq!(at(ClaimPath::dotted("scope.x")), None);
        assert_eq!(at(ClaimPath::dotted("realm_access.missing")), None);
        assert_eq!(at(ClaimPath::nested(Vec::<String>::new())), None);
    }

    #[test]
    fn segments_are_given_back_as_configured() {
        let segments = |p: ClaimPath| p.segments().map(String::from).collect::<Vec<_>>();
        assert_eq!(segments(ClaimPath::dotted("a.b")), ["a", "b"]);
        assert_eq!(segments(ClaimPath::from("a.b")), ["a.b"]);
        assert_eq!(segments(ClaimPath::nested(["x:y", "z"])), ["x:y", "z"]);
    }

    #[test]
    fn empty_paths_and_segments_are_refused_naming_the_setting() {
        for bad in [
            ClaimPath::nested(Vec::<&str>::new()),
            ClaimPath::dotted("a..b"),
            ClaimPath::dotted("a."),
            ClaimPath::from(""),
        ] {
            let error = bad.check("scope_claim").unwrap_err();
            assert!(
                matches!(
                    &error,
                    ConfigError::InvalidClaimPath {
                        setting: "scope_claim",
                        ..
                    }
                ),
                "{error:?}"
            );
        }
        assert!(ClaimPath::dotted("a.b").check("scope_claim").is_ok());
    }

    #[test]
    fn display_quotes_segments_that_would_be_ambiguous() {
        assert_eq!(ClaimPath::nested(["a.b", "c"]).to_string(), r#""a.b".c"#);
        assert_eq!(ClaimPath::dotted("a..b").to_string(), r#"a."".b"#);
        assert_eq!(
            ClaimPath::from("urn:zitadel:iam:org:project:roles").to_string(),
            "urn:zitadel:iam:org:project:roles"
        );
    }
}
