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
use crate::verify::claim_path::ClaimPath;
use crate::verify::json::{ClaimRef, ClaimSource};
use crate::verify::predicate::ClaimPredicate;

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
pub struct Scopes(
    /// The scopes in order, one space between two (a scope-token holds no space): one
    /// allocation, kept by every cached token.
    Arc<str>,
);

impl Scopes {
    /// Whether the set holds `scope` (exact, case-sensitive).
    pub fn contains(&self, scope: &str) -> bool {
        // In order: past the place `scope` would have, it is not there.
        self.iter()
            .find(|s| *s >= scope)
            .is_some_and(|s| s == scope)
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|s| !s.is_empty())
    }

    /// How many scopes.
    pub fn len(&self) -> usize {
        match self.0.is_empty() {
            true => 0,
            false => self.0.bytes().filter(|b| *b == b' ').count() + 1,
        }
    }

    /// Whether no scope is granted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes of the shared text (for the token cache's weigher).
    pub(crate) fn text_len(&self) -> usize {
        self.0.len()
    }
}

impl<S: AsRef<str>> FromIterator<S> for Scopes {
    /// Collects scopes; each item may hold several space-delimited scopes.
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let items: Vec<S> = iter.into_iter().collect();
        let mut all: Vec<&str> = items
            .iter()
            .flat_map(|item| item.as_ref().split(' '))
            .filter(|s| is_scope_token(s))
            .collect();
        all.sort_unstable();
        all.dedup();
        Self(all.join(" ").into())
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

/// Appends the scopes held by one `scope` or `scp` value: a space-delimited string, or an
/// array of such strings (as some servers send `scope`, and Azure sends `scp`).
///
/// Returns `false` when the claim has another JSON type.
pub(crate) fn collect_claim<'a>(claim: ClaimRef<'a>, out: &mut Vec<&'a str>) -> bool {
    if let Some(single) = claim.as_str() {
        out.push(single);
        return true;
    }
    match claim {
        ClaimRef::Json(Value::Array(items)) => {
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

/// A further claim whose values join the granted scopes: roles, groups, permissions, wherever
/// the identity provider puts them.
///
/// ```
/// use bearer_guard::{ClaimPath, ScopeClaim};
///
/// // Entra app roles: `"roles": ["Orders.Read"]`.
/// let entra = ScopeClaim::values("roles");
/// // Keycloak realm roles, told apart from scopes: `role:admin`.
/// let keycloak = ScopeClaim::values(ClaimPath::dotted("realm_access.roles")).prefix("role:");
/// // Zitadel project roles are the keys of an object claim.
/// let zitadel = ScopeClaim::keys("urn:zitadel:iam:org:project:roles").prefix("role:");
/// # let _ = (entra, keycloak, zitadel);
/// ```
///
/// - [`values`](Self::values): the claim is a string (space-delimited, as `scope` is) or an
///   array of strings (each item whole).
/// - [`keys`](Self::keys): the claim is an object, and its member names are the values.
///
/// Without a [`prefix`](Self::prefix), the values join the one granted set as they are: a
/// role named `admin` and a scope named `admin` become the same grant, and either satisfies a
/// requirement of `admin`. That is what most APIs mean (Entra puts application permissions in
/// `roles` on purpose), but where roles and scopes are managed by different people, give the
/// roles a prefix so that each can only be named as what it is.
///
/// A claim with another shape (a number, an array holding a non-string, an object where
/// values were expected) contributes nothing and is logged at `debug`; it does not make the
/// token invalid, since a custom claim is the identity provider's business. Values that are
/// not valid scope-tokens (RFC 6749 §3.3: a space, a `"` or a `\`) are dropped, since no
/// requirement can name them.
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub struct ScopeClaim {
    path: ClaimPath,
    keys: bool,
    prefix: Option<Box<str>>,
}

impl ScopeClaim {
    /// Strings at `path`: a space-delimited string, or an array of strings.
    pub fn values(path: impl Into<ClaimPath>) -> Self {
        Self {
            path: path.into(),
            keys: false,
            prefix: None,
        }
    }

    /// The member names of the object at `path`.
    pub fn keys(path: impl Into<ClaimPath>) -> Self {
        Self {
            path: path.into(),
            keys: true,
            prefix: None,
        }
    }

    /// Put `prefix` before each value (`role:` turns `admin` into `role:admin`). It must be
    /// made of scope-token characters; checked when the validator is built.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into().into_boxed_str());
        self
    }

    /// The claim's path.
    pub fn path(&self) -> &ClaimPath {
        &self.path
    }

    pub(crate) fn check(&self, setting: &'static str) -> Result<(), ConfigError> {
        self.path.check(setting)?;
        match &self.prefix {
            Some(prefix) if !is_scope_token(prefix) => {
                Err(ConfigError::InvalidScope(prefix.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// Appends this claim's values, prefixed, to `out`.
    pub(crate) fn collect(&self, claims: &dyn ClaimSource, out: &mut Vec<Box<str>>) {
        self.path.read(claims, |value| {
            let mut push = |item: &str| {
                let item = match &self.prefix {
                    Some(prefix) => [&**prefix, item].concat().into_boxed_str(),
                    None => item.into(),
                };
                if is_scope_token(&item) {
                    out.push(item);
                }
            };
            match (self.keys, value) {
                (true, Value::Object(members)) => members.keys().for_each(|k| push(k)),
                (false, Value::String(s)) => s.split(' ').for_each(push),
                (false, Value::Array(items)) if items.iter().all(Value::is_string) => {
                    items.iter().filter_map(Value::as_str).for_each(push);
                }
                _ => tracing::debug!(
                    claim = %self.path,
                    expected = if self.keys { "an object" } else { "a string or an array of strings" },
                    "a scope claim of another shape grants nothing"
                ),
            }
        });
    }
}

impl From<&str> for ScopeClaim {
    /// [`ScopeClaim::values`] of the top-level claim so named.
    fn from(name: &str) -> Self {
        Self::values(name)
    }
}

impl From<String> for ScopeClaim {
    /// [`ScopeClaim::values`] of the top-level claim so named.
    fn from(name: String) -> Self {
        Self::values(name)
    }
}

impl fmt::Debug for ScopeClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(if self.keys { "Keys" } else { "Values" })
            .field("path", &self.path)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Which scopes a route (or the whole guard) requires: one or more alternatives, each a list
/// of scopes that must all be granted.
///
/// ```
/// use bearer_guard::{ScopeRequirement, Scopes};
///
/// // (orders:read AND tenant:acme) OR admin
/// let required = ScopeRequirement::all(["orders:read", "tenant:acme"])
///     .or(ScopeRequirement::all(["admin"]));
/// assert!(required.is_satisfied_by(&Scopes::from_iter(["orders:read tenant:acme"])));
/// assert!(required.is_satisfied_by(&Scopes::from_iter(["admin"])));
/// assert!(!required.is_satisfied_by(&Scopes::from_iter(["orders:read"])));
/// ```
///
/// # The `scope` of the 403 challenge
/// RFC 6750 §3.1 lets the 403 name "the scope necessary to access the protected resource",
/// as one space-delimited list: it cannot say "this or that". The challenge names one
/// alternative, whole, so that a client that asks for exactly those scopes gets a token the
/// route accepts: the alternative the presented token is closest to (fewest scopes missing),
/// and among equally close ones the first listed. List the least-privileged alternative first:
/// for the requirement above, a token with no scope is told `orders:read tenant:acme`, never
/// `admin`. (A union of all alternatives would also satisfy the route, but would send clients
/// to ask for every privilege at once.)
#[derive(Clone, PartialEq, Eq)]
pub struct ScopeRequirement {
    alternatives: Arc<[Box<[Box<str>]>]>,
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
        let list = checked(scopes)?;
        Ok(Self {
            alternatives: Arc::new([list.into_boxed_slice()]),
        })
    }

    /// Fallible form of [`ScopeRequirement::any`].
    ///
    /// # Errors
    /// [`ConfigError::InvalidScope`] or [`ConfigError::EmptyScopeRequirement`].
    pub fn try_any<S: AsRef<str>>(
        scopes: impl IntoIterator<Item = S>,
    ) -> Result<Self, ConfigError> {
        let list = checked(scopes)?;
        Ok(Self {
            alternatives: list.into_iter().map(|s| Box::from([s])).collect(),
        })
    }

    /// Either this requirement or `other`: their alternatives, this one's first. An
    /// alternative listed twice is kept once.
    pub fn or(self, other: Self) -> Self {
        let mut alternatives: Vec<Box<[Box<str>]>> = self.alternatives.to_vec();
        for alternative in other.alternatives.iter() {
            if !alternatives.iter().any(|a| same_scopes(a, alternative)) {
                alternatives.push(alternative.clone());
            }
        }
        Self {
            alternatives: alternatives.into(),
        }
    }

    /// Whether `granted` meets the requirement: it holds every scope of some alternative.
    pub fn is_satisfied_by(&self, granted: &Scopes) -> bool {
        self.alternatives
            .iter()
            .any(|alternative| alternative.iter().all(|s| granted.contains(s)))
    }

    /// The alternatives, in the order given, each with its scopes in the order given.
    pub fn alternatives(&self) -> impl Iterator<Item = impl Iterator<Item = &str>> {
        self.alternatives
            .iter()
            .map(|alternative| alternative.iter().map(|s| &**s))
    }

    /// Every scope named, once each, in the order first given (for metadata such as RFC 9728
    /// `scopes_supported`).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        let mut seen: Vec<&str> = Vec::new();
        for scope in self.alternatives.iter().flat_map(|a| a.iter()) {
            if !seen.contains(&&**scope) {
                seen.push(scope);
            }
        }
        seen.into_iter()
    }

    /// The value of the 403 challenge's `scope` parameter for a token granting `granted`:
    /// the closest alternative, whole (see the type's docs).
    pub(crate) fn scope_param(&self, granted: &Scopes) -> String {
        let missing =
            |alternative: &[Box<str>]| alternative.iter().filter(|s| !granted.contains(s)).count();
        // `min_by_key` keeps the first of equal keys.
        self.alternatives
            .iter()
            .min_by_key(|alternative| missing(alternative))
            .map(|alternative| alternative.join(" "))
            .unwrap_or_default()
    }
}

/// The scopes, checked and without repeats; at least one.
fn checked<S: AsRef<str>>(
    scopes: impl IntoIterator<Item = S>,
) -> Result<Vec<Box<str>>, ConfigError> {
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
    Ok(list)
}

fn same_scopes(a: &[Box<str>], b: &[Box<str>]) -> bool {
    a.len() == b.len() && a.iter().all(|s| b.contains(s))
}

impl fmt::Debug for ScopeRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all = |alternative: &[Box<str>]| format!("All({:?})", alternative.join(" "));
        match &*self.alternatives {
            [one] => f.write_str(&all(one)),
            many if many.iter().all(|a| a.len() == 1) => {
                let names: Vec<&str> = many.iter().map(|a| &*a[0]).collect();
                write!(f, "Any({:?})", names.join(" "))
            }
            many => {
                let shown: Vec<String> = many.iter().map(|a| all(a)).collect();
                write!(f, "[{}]", shown.join(", "))
            }
        }
    }
}

/// What a route or the guard requires of a valid token: its claim predicates, then its
/// scopes. Written once and used by both, so that the guard-wide and per-route checks cannot
/// drift apart.
#[derive(Clone, Debug, Default)]
pub(crate) struct Requirements {
    pub(crate) claims: Vec<ClaimPredicate>,
    pub(crate) scopes: Option<ScopeRequirement>,
}

/// The first requirement a token failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Unmet<'r> {
    /// A claim predicate: more scopes would not help, so the 403 names none.
    Claim(&'r ClaimPredicate),
    /// The scopes.
    Scopes(&'r ScopeRequirement),
}

impl Requirements {
    /// Whether nothing is required.
    pub(crate) fn is_empty(&self) -> bool {
        self.claims.is_empty() && self.scopes.is_none()
    }

    /// Checks the predicates first (a token for the wrong tenant is not helped by more
    /// scopes), then the scopes.
    pub(crate) fn check(
        &self,
        granted: &Scopes,
        claims: &dyn ClaimSource,
    ) -> Result<(), Unmet<'_>> {
        if let Some(failed) = self.claims.iter().find(|p| !p.is_met_by(claims)) {
            return Err(Unmet::Claim(failed));
        }
        match &self.scopes {
            Some(required) if !required.is_satisfied_by(granted) => Err(Unmet::Scopes(required)),
            _ => Ok(()),
        }
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
    fn a_set_answers_for_every_scope_before_between_and_after_its_own() {
        let granted = Scopes::from_iter(["orders:write b", "a orders:read", "b"]);
        assert_eq!(granted.len(), 4);
        assert_eq!(
            granted.iter().collect::<Vec<_>>(),
            ["a", "b", "orders:read", "orders:write"]
        );
        for held in ["a", "b", "orders:read", "orders:write"] {
            assert!(granted.contains(held), "{held}");
        }
        for absent in [
            "",
            " ",
            "0",
            "aa",
            "b ",
            "c",
            "orders",
            "orders:",
            "orders:reads",
            "z",
        ] {
            assert!(!granted.contains(absent), "{absent:?}");
        }
        let none = Scopes::from_iter(["", "  "]);
        assert_eq!(
            (none.is_empty(), none.len(), none.contains("")),
            (true, 0, false)
        );
        assert_eq!(none, Scopes::default());
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
        // A token with neither is told the first listed; one alternative is enough.
        assert_eq!(req.scope_param(&Scopes::from_iter(["read"])), "admin");
    }

    #[test]
    fn nested_any_of_all_of() {
        let req = ScopeRequirement::all(["orders:read", "tenant:acme"])
            .or(ScopeRequirement::any(["admin", "root"]));
        let granted = |s: &str| Scopes::from_iter([s]);
        for (scopes, ok) in [
            ("orders:read tenant:acme", true),
            ("admin", true),
            ("root other", true),
            ("orders:read", false),
            ("tenant:acme", false),
            ("", false),
        ] {
            assert_eq!(req.is_satisfied_by(&granted(scopes)), ok, "{scopes:?}");
        }
        assert_eq!(
            req.alternatives()
                .map(|a| a.collect::<Vec<_>>())
                .collect::<Vec<_>>(),
            [
                vec!["orders:read", "tenant:acme"],
                vec!["admin"],
                vec!["root"]
            ]
        );
        assert_eq!(
            req.scopes().collect::<Vec<_>>(),
            ["orders:read", "tenant:acme", "admin", "root"]
        );
        assert_eq!(
            format!("{req:?}"),
            r#"[All("orders:read tenant:acme"), All("admin"), All("root")]"#
        );
    }

    #[test]
    fn the_challenge_names_the_closest_alternative_whole_first_listed_on_a_tie() {
        let req = ScopeRequirement::all(["orders:read", "tenant:acme"])
            .or(ScopeRequirement::all(["admin"]))
            .or(ScopeRequirement::all(["a", "b", "c"]));
        let param = |s: &str| req.scope_param(&Scopes::from_iter([s]));
        // Nothing granted: two missing against one; the fewest missing wins, not the first.
        assert_eq!(param(""), "admin");
        // Half-way along the first: one missing each; the first listed wins the tie.
        assert_eq!(param("orders:read"), "orders:read tenant:acme");
        // Two of three: one missing, against one for admin, which comes first.
        assert_eq!(param("a b"), "admin");
        let least_privilege_first =
            ScopeRequirement::all(["read"]).or(ScopeRequirement::all(["admin"]));
        assert_eq!(
            least_privilege_first.scope_param(&Scopes::default()),
            "read"
        );
    }

    #[test]
    fn or_keeps_an_alternative_once_and_debug_names_the_shape() {
        let req = ScopeRequirement::all(["a", "b"]).or(ScopeRequirement::all(["b", "a"]));
        assert_eq!(req.alternatives().count(), 1);
        assert_eq!(format!("{req:?}"), r#"All("a b")"#);
        assert_eq!(
            format!("{:?}", ScopeRequirement::any(["a", "b"])),
            r#"Any("a b")"#
        );
    }

    fn mapped(claim: ScopeClaim, claims: Value) -> Vec<String> {
        let mut out = Vec::new();
        claim.collect(claims.as_object().unwrap(), &mut out);
        out.into_iter().map(String::from).collect()
    }

    #[test]
    fn mapped_claims_values_keys_and_prefixes() {
        let keycloak = serde_json::json!({
            "realm_access": {"roles": ["admin", "offline access", "uma_authorization"]},
            "resource_access": {"orders-api": {"roles": ["reader"]}},
        });
        assert_eq!(
            mapped(
                ScopeClaim::values(ClaimPath::dotted("realm_access.roles")).prefix("role:"),
                keycloak.clone()
            ),
            ["role:admin", "role:uma_authorization"],
            "an item with a space is one value, not a valid scope-token, and dropped"
        );
        assert_eq!(
            mapped(
                ScopeClaim::values(ClaimPath::dotted("resource_access.orders-api.roles")),
                keycloak
            ),
            ["reader"]
        );
        let zitadel = serde_json::json!({
            "urn:zitadel:iam:org:project:roles": {"editor": {"1": "acme"}, "viewer": {}},
        });
        assert_eq!(
            mapped(
                ScopeClaim::keys("urn:zitadel:iam:org:project:roles").prefix("role:"),
                zitadel
            ),
            ["role:editor", "role:viewer"]
        );
        assert_eq!(
            mapped(
                ScopeClaim::values("groups"),
                serde_json::json!({"groups": "a b"})
            ),
            ["a", "b"],
            "a string is space-delimited, as scope is"
        );
    }

    #[test]
    fn a_mapped_claim_of_the_wrong_shape_contributes_nothing() {
        for (claim, claims) in [
            (
                ScopeClaim::values("roles"),
                serde_json::json!({"roles": {"admin": {}}}),
            ),
            (
                ScopeClaim::values("roles"),
                serde_json::json!({"roles": ["admin", 1]}),
            ),
            (ScopeClaim::values("roles"), serde_json::json!({"roles": 5})),
            (
                ScopeClaim::keys("roles"),
                serde_json::json!({"roles": ["admin"]}),
            ),
            (
                ScopeClaim::keys("roles"),
                serde_json::json!({"roles": "admin"}),
            ),
            (
                ScopeClaim::values(ClaimPath::dotted("a.roles")),
                serde_json::json!({"a": ["roles"]}),
            ),
        ] {
            assert!(
                mapped(claim.clone(), claims.clone()).is_empty(),
                "{claim:?} {claims}"
            );
        }
    }

    #[test]
    fn a_prefix_must_be_made_of_scope_token_characters() {
        assert_eq!(
            ScopeClaim::values("roles")
                .prefix("my role:")
                .check("scope_claim"),
            Err(ConfigError::InvalidScope("my role:".into()))
        );
        assert!(
            ScopeClaim::values("roles")
                .prefix("role:")
                .check("scope_claim")
                .is_ok()
        );
        assert!(ScopeClaim::values("").check("scope_claim").is_err());
    }

    #[test]
    fn requirements_check_claims_before_scopes() {
        let requirements = Requirements {
            claims: vec![ClaimPredicate::equals("tenant", "acme")],
            scopes: Some(ScopeRequirement::all(["read"])),
        };
        let claims = |v: Value| v.as_object().cloned().unwrap();
        let none = Scopes::default();
        let read = Scopes::from_iter(["read"]);
        assert_eq!(
            requirements.check(&none, &claims(serde_json::json!({"tenant": "other"}))),
            Err(Unmet::Claim(&requirements.claims[0]))
        );
        assert_eq!(
            requirements.check(&none, &claims(serde_json::json!({"tenant": "acme"}))),
            Err(Unmet::Scopes(requirements.scopes.as_ref().unwrap()))
        );
        assert_eq!(
            requirements.check(&read, &claims(serde_json::json!({"tenant": "acme"}))),
            Ok(())
        );
        assert!(Requirements::default().is_empty());
    }

    #[test]
    fn claim_values_of_other_types_are_refused() {
        let (array, string) = (serde_json::json!(["a", "b"]), serde_json::json!("c d"));
        let mut out = Vec::new();
        assert!(collect_claim(ClaimRef::Json(&array), &mut out));
        assert!(collect_claim(ClaimRef::Json(&string), &mut out));
        assert_eq!(out, ["a", "b", "c d"]);
        for bad in [serde_json::json!(5), serde_json::json!(["a", 1])] {
            assert!(
                !collect_claim(ClaimRef::Json(&bad), &mut Vec::new()),
                "{bad}"
            );
        }
    }
}
