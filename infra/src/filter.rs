//! Lambda event filtering (`FilterCriteria.Filters[].Pattern`) for the event source mapping
//! emulation: the EventBridge-style content filter that Lambda applies to each record before
//! batching (<https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html>).
//!
//! A pattern is a JSON object whose keys name fields of the record (as the function would see it
//! in the event) and whose values are either a nested pattern or a list of conditions, any of
//! which may match. Supported conditions: exact values (strings, numbers, booleans, `null`),
//! `prefix`, `suffix`, `equals-ignore-case`, `wildcard`, `anything-but` (values, `prefix`,
//! `suffix`), `exists` and `numeric` comparisons, plus a top-level `$or` of patterns. A record
//! field that is a list matches when any of its elements does. What devstack does not know
//! (`cidr`, say) is an error at load time, never a silent match.

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

/// A compiled filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// Every field condition must hold.
    fields: Vec<(String, Node)>,
    /// `$or`: at least one of these patterns must match too (empty: no `$or`).
    any_of: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A nested object pattern applied to the field's (object) value.
    Nested(Pattern),
    /// Any of these conditions holds for the field's value.
    AnyOf(Vec<Condition>),
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Equals(Value),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(String),
    Wildcard(String),
    AnythingBut(Vec<Condition>),
    Exists(bool),
    Numeric(Vec<(Comparison, f64)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Pattern {
    /// Compiles a pattern (the JSON of one `Filters[].Pattern`).
    ///
    /// # Errors
    /// Not an object, a field whose value is neither an object nor a list, or an unsupported
    /// condition (the message names it).
    pub fn parse(pattern: &Value) -> Result<Self> {
        let object = pattern
            .as_object()
            .ok_or_else(|| anyhow!("a filter pattern must be a JSON object, got {pattern}"))?;
        let mut fields = Vec::new();
        let mut any_of = Vec::new();
        for (key, value) in object {
            if key == "$or" {
                let list = value
                    .as_array()
                    .filter(|l| l.len() >= 2)
                    .ok_or_else(|| anyhow!("$or takes a list of at least two patterns"))?;
                any_of = list.iter().map(Self::parse).collect::<Result<_>>()?;
                continue;
            }
            let node = match value {
                Value::Object(_) => Node::Nested(Self::parse(value)?),
                Value::Array(conditions) => Node::AnyOf(
                    conditions
                        .iter()
                        .map(condition)
                        .collect::<Result<_>>()
                        .map_err(|e| anyhow!("field {key}: {e}"))?,
                ),
                other => {
                    bail!("field {key}: expected a list of conditions or an object, got {other}")
                }
            };
            fields.push((key.clone(), node));
        }
        Ok(Self { fields, any_of })
    }

    /// Whether `record` (the record's JSON as the function receives it) matches.
    pub fn matches(&self, record: &Value) -> bool {
        self.fields.iter().all(|(key, node)| {
            let value = record.as_object().and_then(|o| o.get(key));
            match node {
                Node::Nested(p) => match value {
                    Some(Value::Array(items)) => items.iter().any(|i| p.matches(i)),
                    Some(v @ Value::Object(_)) => p.matches(v),
                    // A nested pattern on an absent field holds only if it asks for absence.
                    _ => p.matches(&Value::Null),
                },
                Node::AnyOf(conditions) => conditions.iter().any(|c| c.holds(value)),
            }
        }) && (self.any_of.is_empty() || self.any_of.iter().any(|p| p.matches(record)))
    }
}

/// Whether `record` passes `FilterCriteria`: it matches any pattern, or there are none.
pub fn passes(patterns: &[Pattern], record: &Value) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| p.matches(record))
}

fn condition(c: &Value) -> Result<Condition> {
    let Value::Object(o) = c else {
        if c.is_array() {
            bail!("a condition cannot be a list: {c}");
        }
        return Ok(Condition::Equals(c.clone()));
    };
    let [(op, arg)] = o.iter().collect::<Vec<_>>()[..] else {
        bail!("a condition object has exactly one operator: {c}");
    };
    let text = || {
        arg.as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{op} takes a string, got {arg}"))
    };
    Ok(match op.as_str() {
        "prefix" => Condition::Prefix(text()?),
        "suffix" => Condition::Suffix(text()?),
        "equals-ignore-case" => Condition::EqualsIgnoreCase(text()?),
        "wildcard" => Condition::Wildcard(text()?),
        "exists" => Condition::Exists(
            arg.as_bool()
                .ok_or_else(|| anyhow!("exists takes true or false, got {arg}"))?,
        ),
        "anything-but" => Condition::AnythingBut(match arg {
            Value::Array(values) => values
                .iter()
                .map(|v| match v {
                    Value::Object(_) | Value::Array(_) => {
                        bail!("anything-but takes values, got {v}")
                    }
                    v => Ok(Condition::Equals(v.clone())),
                })
                .collect::<Result<_>>()?,
            Value::Object(_) => match condition(arg)? {
                c @ (Condition::Prefix(_)
                | Condition::Suffix(_)
                | Condition::EqualsIgnoreCase(_)
                | Condition::Wildcard(_)) => vec![c],
                _ => bail!(
                    "anything-but supports prefix, suffix, equals-ignore-case and wildcard, got {arg}"
                ),
            },
            v => vec![Condition::Equals(v.clone())],
        }),
        "numeric" => {
            let list = arg
                .as_array()
                .filter(|l| !l.is_empty() && l.len() % 2 == 0)
                .ok_or_else(|| anyhow!("numeric takes [op, number, ...], got {arg}"))?;
            let mut comparisons = Vec::new();
            for pair in list.chunks(2) {
                let cmp = match pair[0].as_str() {
                    Some("<") => Comparison::Lt,
                    Some("<=") => Comparison::Le,
                    Some("=") => Comparison::Eq,
                    Some(">=") => Comparison::Ge,
                    Some(">") => Comparison::Gt,
                    _ => bail!("numeric: unknown operator {}", pair[0]),
                };
                let n = pair[1]
                    .as_f64()
                    .ok_or_else(|| anyhow!("numeric: {} is not a number", pair[1]))?;
                comparisons.push((cmp, n));
            }
            Condition::Numeric(comparisons)
        }
        other => bail!("devstack does not support the filter operator {other:?}"),
    })
}

impl Condition {
    /// Whether the condition holds for a field's value (`None`: the field is absent).
    fn holds(&self, value: Option<&Value>) -> bool {
        match (self, value) {
            (Self::Exists(want), v) => *want == v.is_some(),
            (_, Some(Value::Array(items))) => items.iter().any(|i| self.holds(Some(i))),
            (Self::AnythingBut(excluded), Some(v)) => !excluded.iter().any(|c| c.holds(Some(v))),
            (_, None) => false,
            (Self::Equals(want), Some(v)) => equal(want, v),
            (Self::Prefix(p), Some(Value::String(s))) => s.starts_with(p.as_str()),
            (Self::Suffix(p), Some(Value::String(s))) => s.ends_with(p.as_str()),
            (Self::EqualsIgnoreCase(p), Some(Value::String(s))) => {
                s.to_lowercase() == p.to_lowercase()
            }
            (Self::Wildcard(p), Some(Value::String(s))) => wildcard(p, s),
            (Self::Numeric(comparisons), Some(v)) => v.as_f64().is_some_and(|n| {
                comparisons.iter().all(|(cmp, bound)| match cmp {
                    Comparison::Lt => n < *bound,
                    Comparison::Le => n <= *bound,
                    Comparison::Eq => (n - bound).abs() < f64::EPSILON,
                    Comparison::Ge => n >= *bound,
                    Comparison::Gt => n > *bound,
                })
            }),
            _ => false,
        }
    }
}

/// JSON equality, numbers compared by value (`1` equals `1.0`).
fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => (x - y).abs() < f64::EPSILON,
        _ => a == b,
    }
}

/// `*` matches any run of characters (`\*` a literal star).
fn wildcard(pattern: &str, text: &str) -> bool {
    let mut parts: Vec<String> = vec![String::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(last)) = (chars.next(), parts.last_mut()) {
                    last.push(next);
                }
            }
            '*' => parts.push(String::new()),
            c => {
                if let Some(last) = parts.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    let (first, rest) = parts
        .split_first()
        .map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part.as_str()) {
            Some(i) => remaining = &remaining[i + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matches(pattern: Value, record: Value) -> bool {
        Pattern::parse(&pattern).unwrap().matches(&record)
    }

    fn insert() -> Value {
        json!({
            "eventName": "INSERT",
            "dynamodb": {
                "Keys": { "id": { "S": "evt-1" } },
                "NewImage": { "id": { "S": "evt-1" }, "kind": { "S": "OrderPlaced" }, "n": { "N": "3" }, "tags": { "SS": ["a", "b"] } },
                "SizeBytes": 120
            }
        })
    }

    #[test]
    fn an_equality_pattern_keeps_inserts_and_drops_modifies_and_removes() {
        let p = json!({"eventName": ["INSERT"]});
        assert!(matches(p.clone(), insert()));
        assert!(!matches(p.clone(), json!({"eventName": "MODIFY"})));
        assert!(!matches(p, json!({"eventName": "REMOVE"})));
    }

    #[test]
    fn nested_fields_and_list_values_match_like_eventbridge() {
        assert!(matches(
            json!({"dynamodb": {"NewImage": {"kind": {"S": ["OrderCancelled", "OrderPlaced"]}}}}),
            insert()
        ));
        assert!(matches(
            json!({"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}}),
            insert()
        ));
        assert!(!matches(
            json!({"dynamodb": {"OldImage": {"kind": {"S": ["OrderPlaced"]}}}}),
            insert()
        ));
    }

    #[test]
    fn content_filters_compare_strings_numbers_and_presence() {
        let r = insert();
        let m = |p: Value| matches(p, r.clone());
        assert!(m(json!({"eventName": [{"prefix": "INS"}]})));
        assert!(m(json!({"eventName": [{"suffix": "ERT"}]})));
        assert!(m(json!({"eventName": [{"equals-ignore-case": "insert"}]})));
        assert!(m(json!({"eventName": [{"wildcard": "I*R*"}]})));
        assert!(!m(json!({"eventName": [{"wildcard": "I*X"}]})));
        assert!(m(
            json!({"eventName": [{"anything-but": ["REMOVE", "MODIFY"]}]})
        ));
        assert!(!m(
            json!({"eventName": [{"anything-but": {"prefix": "IN"}}]})
        ));
        assert!(m(json!({"dynamodb": {"OldImage": [{"exists": false}]}})));
        assert!(m(json!({"dynamodb": {"NewImage": [{"exists": true}]}})));
        assert!(m(
            json!({"dynamodb": {"SizeBytes": [{"numeric": [">", 100, "<=", 120]}]}})
        ));
        assert!(m(json!({"dynamodb": {"SizeBytes": [120.0]}})));
        assert!(!m(
            json!({"dynamodb": {"SizeBytes": [{"numeric": ["<", 100]}]}})
        ));
        assert!(m(
            json!({"$or": [{"eventName": ["REMOVE"]}, {"dynamodb": {"SizeBytes": [120]}}]})
        ));
    }

    #[test]
    fn without_patterns_every_record_passes_and_with_several_any_may_match() {
        assert!(passes(&[], &insert()));
        let ps: Vec<Pattern> = [
            json!({"eventName": ["REMOVE"]}),
            json!({"eventName": ["INSERT"]}),
        ]
        .iter()
        .map(|p| Pattern::parse(p).unwrap())
        .collect();
        assert!(passes(&ps, &insert()));
        assert!(!passes(&ps[..1], &insert()));
    }

    #[test]
    fn unsupported_or_malformed_patterns_are_errors() {
        for bad in [
            json!(["INSERT"]),
            json!({"eventName": "INSERT"}),
            json!({"ip": [{"cidr": "10.0.0.0/24"}]}),
            json!({"n": [{"numeric": [">"]}]}),
            json!({"n": [{"prefix": "a", "suffix": "b"}]}),
        ] {
            assert!(Pattern::parse(&bad).is_err(), "{bad}");
        }
    }
}
