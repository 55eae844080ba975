//! Deserialisation helpers shared by the typed model: errors that name the property path,
//! CloudFormation's lenient scalars (`5` and `"5"` are the same number) and its `-1`-means-no-limit
//! integers.

use std::fmt::Display;
use std::str::FromStr;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_norway::Value;

/// Deserialises `value` into `T`; the error names the property path inside `value`
/// (`property Events.Jobs: …`).
pub(crate) fn typed<T: DeserializeOwned>(value: Value) -> anyhow::Result<T> {
    typed_at(value).map_err(|(path, e)| match path {
        None => anyhow::anyhow!("{e}"),
        Some(path) => anyhow::anyhow!("property {path}: {e}"),
    })
}

/// Like [`typed`] for a nested value `name` (an event's `Properties`), as a plain message
/// for a `serde` error: `Properties.Queue: …`, or `Properties: missing field …`.
pub(crate) fn nested<T: DeserializeOwned>(value: Value, name: &str) -> Result<T, String> {
    typed_at(value).map_err(|(path, e)| match path {
        None => format!("{name}: {e}"),
        Some(path) => format!("{name}.{path}: {e}"),
    })
}

/// `T` from `value`, or the path of the failing property (`None` at the root) and the error.
fn typed_at<T: DeserializeOwned>(value: Value) -> Result<T, (Option<String>, serde_norway::Error)> {
    // An absent `Properties`/`Metadata` reads as an empty mapping, so all-optional structs parse.
    let value = match value {
        Value::Null => Value::Mapping(serde_norway::Mapping::new()),
        other => other,
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = (path != ".").then_some(path);
        (path, e.into_inner())
    })
}

/// A scalar as CloudFormation stringifies it (`5` -> "5", `true` -> "true"), or `None` for a
/// list, mapping, tag or null.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A short description of a value for error messages.
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(t) => format!("{} ...", t.tag),
        other => scalar_text(other).unwrap_or_default(),
    }
}

fn parse<T: FromStr, E: serde::de::Error>(v: &Value) -> Result<T, E> {
    scalar_text(v).and_then(|s| s.parse().ok()).ok_or_else(|| {
        E::custom(format!(
            "expected {}, got {}",
            std::any::type_name::<T>(),
            show(v)
        ))
    })
}

/// An optional number or boolean written as itself or as a string (`deserialize_with`, with
/// `default`).
pub(crate) fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
{
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse(&v).map(Some),
    }
}

/// A required number or boolean written as itself or as a string (`deserialize_with`).
pub(crate) fn req<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
{
    parse(&Value::deserialize(d)?)
}

/// An optional limit where `-1` (or absence) means "no limit": `None`; otherwise a
/// non-negative integer (`deserialize_with`, with `default`).
pub(crate) fn limit<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
    T::Error: Display,
{
    match opt::<D, i64>(d)? {
        None | Some(-1) => Ok(None),
        Some(n) if n >= 0 => T::try_from(n).map(Some).map_err(D::Error::custom),
        Some(n) => Err(D::Error::custom(format!(
            "must be -1 or a non-negative integer, got {n}"
        ))),
    }
}
