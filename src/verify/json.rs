//! JSON as a JWS carries it: objects only, and no member named twice at any depth.
//!
//! `serde_json` keeps the last of two members with the same name, so
//! `{"exp":1,"exp":9999999999}` would be read as a token that never expires by us and as an
//! expired one by a parser that keeps the first. RFC 7515 §4 and RFC 7519 §4 let a JWT
//! parser reject duplicate names or keep the last; where two readers may disagree we reject.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON object whose member names are unique, in it and in every object nested in it.
pub(crate) struct StrictObject(pub(crate) Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(StrictVisitor)
            .and_then(|value| match value {
                Value::Object(map) => Ok(Self(map)),
                _ => Err(de::Error::custom("expected a JSON object")),
            })
    }
}

/// A claims object as the claim rules read it: a JSON map (an introspection response, the
/// claims a handler holds) or the selected [`Members`] of a JWT's payload.
pub(crate) trait ClaimSource {
    /// The top-level claim `name`.
    fn claim(&self, name: &str) -> Option<ClaimRef<'_>>;
}

/// One claim: a string, or any JSON value.
#[derive(Clone, Copy)]
pub(crate) enum ClaimRef<'a> {
    Text(&'a str),
    Json(&'a Value),
}

impl<'a> ClaimRef<'a> {
    /// The claim if it is a string.
    pub(crate) fn as_str(self) -> Option<&'a str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Json(value) => value.as_str(),
        }
    }

    /// The claim as a JSON value (a string is copied into one).
    pub(crate) fn to_value(self) -> Cow<'a, Value> {
        match self {
            Self::Text(text) => Cow::Owned(Value::String(text.to_owned())),
            Self::Json(value) => Cow::Borrowed(value),
        }
    }
}

impl ClaimSource for Map<String, Value> {
    fn claim(&self, name: &str) -> Option<ClaimRef<'_>> {
        self.get(name).map(ClaimRef::Json)
    }
}

/// The members of a JSON object that a filter selected, strings borrowed from the input
/// where they hold no escape. See [`selected_members`].
#[derive(Default)]
pub(crate) struct Members<'de>(Vec<(Cow<'de, str>, Member<'de>)>);

enum Member<'de> {
    Text(Cow<'de, str>),
    Json(Value),
}

impl ClaimSource for Members<'_> {
    fn claim(&self, name: &str) -> Option<ClaimRef<'_>> {
        let (_, member) = self.0.iter().find(|(n, _)| n == name)?;
        Some(match member {
            Member::Text(text) => ClaimRef::Text(text),
            Member::Json(value) => ClaimRef::Json(value),
        })
    }
}

impl Members<'_> {
    /// The members as a JSON map.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn to_map(&self) -> Map<String, Value> {
        self.0
            .iter()
            .map(|(name, member)| {
                let value = match member {
                    Member::Text(text) => Value::String(text.to_string()),
                    Member::Json(value) => value.clone(),
                };
                (name.to_string(), value)
            })
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// The members of a JSON object that `keep` selects by name, with the object checked as
/// strictly as [`StrictObject`] checks it: every member is read, so bad syntax, a number out
/// of range or a name given twice at any depth refuses the object alike, but only the
/// selected members are built, and their strings are borrowed. A JWT's claims are judged on
/// the few members the rules read; the whole object is built later only if asked for.
pub(crate) fn selected_members<'de>(
    bytes: &'de [u8],
    keep: impl Fn(&str) -> bool,
) -> Result<Members<'de>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let members = SelectedMembers(keep).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(members)
}

struct SelectedMembers<F>(F);

impl<'de, F: Fn(&str) -> bool> DeserializeSeed<'de> for SelectedMembers<F> {
    type Value = Members<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F: Fn(&str) -> bool> Visitor<'de> for SelectedMembers<F> {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object without duplicate member names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut kept: Vec<(Cow<'de, str>, Member<'de>)> = Vec::with_capacity(16);
        // A name is kept or skipped wherever it appears, so a repeated name is found among
        // the kept members or among the skipped ones.
        let mut skipped = Vec::new();
        while let Some(Text(name)) = access.next_key()? {
            if (self.0)(&name) {
                let KeptMember(member) = access.next_value()?;
                if kept.iter().any(|(n, _)| *n == name) {
                    return Err(de::Error::custom("duplicate member name"));
                }
                kept.push((name, member));
            } else {
                access.next_value::<StrictlyChecked>()?;
                skipped.push(name);
            }
        }
        refuse_repeated(skipped)?;
        Ok(Members(kept))
    }
}

/// A selected member: a string borrowed where it can be, any other value built.
struct KeptMember<'de>(Member<'de>);

impl<'de> Deserialize<'de> for KeptMember<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeptVisitor)
    }
}

struct KeptVisitor;

impl<'de> Visitor<'de> for KeptVisitor {
    type Value = KeptMember<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        StrictVisitor.expecting(f)
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(KeptMember(Member::Text(Cow::Borrowed(v))))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(KeptMember(Member::Text(Cow::Owned(v.to_owned()))))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        StrictVisitor.visit_bool(v).map(kept_json)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        StrictVisitor.visit_i64(v).map(kept_json)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        StrictVisitor.visit_u64(v).map(kept_json)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        StrictVisitor.visit_f64(v).map(kept_json)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        StrictVisitor.visit_unit().map(kept_json)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        StrictVisitor.visit_seq(seq).map(kept_json)
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Self::Value, A::Error> {
        StrictVisitor.visit_map(access).map(kept_json)
    }
}

fn kept_json<'de>(value: Value) -> KeptMember<'de> {
    KeptMember(Member::Json(value))
}

/// A JSON value read to the end and checked as [`StrictValue`] would build it, but not built.
struct StrictlyChecked;

impl<'de> Deserialize<'de> for StrictlyChecked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckVisitor)
    }
}

struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = StrictlyChecked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without duplicate member names")
    }

    fn visit_bool<E>(self, _: bool) -> Result<StrictlyChecked, E> {
        Ok(StrictlyChecked)
    }

    fn visit_i64<E>(self, _: i64) -> Result<StrictlyChecked, E> {
        Ok(StrictlyChecked)
    }

    fn visit_u64<E>(self, _: u64) -> Result<StrictlyChecked, E> {
        Ok(StrictlyChecked)
    }

    fn visit_f64<E>(self, _: f64) -> Result<StrictlyChecked, E> {
        Ok(StrictlyChecked)
    }

    fn visit_str<E>(self, _: &str) -> Result<StrictlyChecked, E> {
        Ok(StrictlyChecked)
    }

    fn visit_unit<E>(self) -> Result<StrictlyChecked, E> {
        Ok(StrictlyChecked)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictlyChecked, A::Error> {
        while seq.next_element::<StrictlyChecked>()?.is_some() {}
        Ok(StrictlyChecked)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictlyChecked, A::Error> {
        let mut names = Vec::new();
        while let Some(Text(name)) = access.next_key()? {
            access.next_value::<StrictlyChecked>()?;
            names.push(name);
        }
        refuse_repeated(names)?;
        Ok(StrictlyChecked)
    }
}

/// Refuses a list of member names holding one twice. Sorted, not compared pairwise: an
/// object of a few thousand members costs a sort, not millions of comparisons.
fn refuse_repeated<E: de::Error>(mut names: Vec<Cow<'_, str>>) -> Result<(), E> {
    names.sort_unstable();
    match names.windows(2).any(|pair| pair[0] == pair[1]) {
        true => Err(E::custom("duplicate member name")),
        false => Ok(()),
    }
}

/// A JSON string borrowed from the input when it has no escapes, owned otherwise. serde's
/// derive borrows a `Cow<str>` field only when it is not wrapped (in an `Option`, say).
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Builds a [`Value`] as serde_json would, refusing a repeated member name.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Self)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without duplicate member names")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity; serde_json maps an overflowing literal to an error.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            let StrictValue(value) = access.next_value()?;
            if map.insert(name, value).is_some() {
                return Err(de::Error::custom("duplicate member name"));
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Option<Map<String, Value>> {
        serde_json::from_str::<StrictObject>(json).ok().map(|o| o.0)
    }

    #[test]
    fn the_same_as_serde_json_without_duplicates() {
        let json = r#"{"a":1,"b":-2,"c":1.5,"d":"x\u00e9","e":[true,null,{"f":18446744073709551615}],"g":{}}"#;
        let expected: Map<String, Value> = serde_json::from_str(json).unwrap();
        assert_eq!(parse(json), Some(expected));
    }

    #[test]
    fn a_repeated_member_is_refused_at_any_depth() {
        assert!(parse(r#"{"exp":1,"exp":9999999999}"#).is_none());
        assert!(parse(r#"{"a":{"roles":["x"],"roles":["admin"]}}"#).is_none());
        assert!(parse(r#"{"a":[{"k":1,"k":1}]}"#).is_none());
        // Escapes that spell the same name are the same name.
        assert!(parse(r#"{"exp":1,"\u0065xp":2}"#).is_none());
        // Different names, and the same name in different objects, are fine.
        assert!(parse(r#"{"a":{"k":1},"b":{"k":1}}"#).is_some());
    }

    /// `selected_members` refuses exactly what `StrictObject` refuses, and keeps exactly the
    /// selected members of what it accepts.
    #[test]
    fn selected_members_are_judged_as_the_whole_object() {
        let keep = |name: &str| matches!(name, "exp" | "aud" | "cnf");
        let inputs: &[&[u8]] = &[
            br#"{"exp":1,"aud":["a","b"],"cnf":{"jkt":"x"},"other":{"k":[1,2,{"m":null}]}}"#,
            br#"{}"#,
            br#" {"exp":1} "#,
            // Repeated names: among kept members, among skipped ones, nested in either.
            br#"{"exp":1,"exp":2}"#,
            br#"{"exp":1,"\u0065xp":2}"#,
            br#"{"a":1,"a":2}"#,
            br#"{"a":1,"b":2,"\u0061":3}"#,
            br#"{"a":{"k":1,"k":2}}"#,
            br#"{"a":[{"k":1},{"k":1,"k":1}]}"#,
            br#"{"cnf":{"jkt":"x","jkt":"y"}}"#,
            br#"{"a":{"k":1},"b":{"k":1}}"#,
            // Numbers and strings serde_json refuses, in a skipped member.
            br#"{"a":1e400}"#,
            br#"{"a":-1e400,"exp":1}"#,
            br#"{"a":"\ud800"}"#,
            br#"{"a":"\x"}"#,
            b"{\"a\":\"\xff\"}",
            b"{\"\xff\":1}",
            br#"{"a":18446744073709551616}"#,
            br#"{"a":1.5e300,"b":-0,"c":true,"d":false,"e":null,"f":"\u00e9"}"#,
            // Not an object, or not only one.
            br#"[]"#,
            br#"1"#,
            br#"{"a":1}{"#,
            br#"{"a":1} x"#,
            br#"{"a":[1,}"#,
            b"",
        ];
        for input in inputs {
            let whole = serde_json::from_slice::<StrictObject>(input)
                .ok()
                .map(|o| o.0);
            let selected = selected_members(input, keep).ok().map(|m| m.to_map());
            let expected = whole.map(|mut map| {
                map.retain(|name, _| keep(name));
                map
            });
            assert_eq!(selected, expected, "{}", String::from_utf8_lossy(input));
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert!(
            selected_members(deep.as_bytes(), keep).is_err(),
            "depth is bounded"
        );
        let wide: String = (0..3000).map(|i| format!("\"m{i}\":{i},")).collect();
        assert!(selected_members(format!("{{{wide}\"m9\":0}}").as_bytes(), keep).is_err());
        assert!(selected_members(format!("{{{wide}\"m\":0}}").as_bytes(), keep).is_ok());
    }

    #[test]
    fn text_borrows_unless_escaped() {
        let plain: Text<'_> = serde_json::from_str(r#""kid-1""#).unwrap();
        assert!(matches!(plain.0, Cow::Borrowed("kid-1")));
        let escaped: Text<'_> = serde_json::from_str(r#""kid\u002d1""#).unwrap();
        assert!(matches!(escaped.0, Cow::Owned(ref s) if s == "kid-1"));
        assert!(serde_json::from_str::<Text<'_>>("1").is_err());
        assert!(serde_json::from_str::<Text<'_>>("null").is_err());
    }

    #[test]
    fn only_objects() {
        assert!(parse("[]").is_none());
        assert!(parse("1").is_none());
        assert!(parse(r#""{}""#).is_none());
    }
}
