//! The template's expressions: literals and the intrinsic functions devstack resolves
//! (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Select`), parsed from both the short tags
//! (`!Ref X`) and the long forms (`{"Ref": X}`, `{"Fn::GetAtt": [R, A]}`).
//!
//! Any other intrinsic (`!FindInMap`, `Fn::ImportValue`…) in a property devstack reads is an
//! error at load time, naming it; properties devstack does not read are never parsed.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_norway::Value;

use crate::de::{scalar_text, show};

/// An expression as the template writes it, unresolved (see [`crate::Resolver`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A string, number or boolean, as CloudFormation stringifies it (`5` is `"5"`).
    Literal(String),
    /// A list (`[a, !Ref B]`): what `Fn::Join` joins and `Fn::Select` picks from.
    List(Vec<Expr>),
    /// `!Ref Name`: a parameter, a pseudo parameter (`AWS::Region`) or a resource.
    Ref(String),
    /// `!GetAtt Resource.Attribute`, e.g. `OrdersQueue.Arn`.
    GetAtt {
        /// Logical id of the resource.
        resource: String,
        /// Attribute name (`Arn`, `StreamArn`, `QueueName`…).
        attribute: String,
    },
    /// `!Sub text` or `!Sub [text, {name: expr}]`: `${Name}`, `${Res.Attr}` and `${!Literal}`
    /// in `text` are substituted when resolved.
    Sub {
        /// The text with its `${…}` placeholders.
        text: String,
        /// The explicit variables of the two-element form.
        variables: BTreeMap<String, Expr>,
    },
    /// `!Join [separator, list]`.
    Join {
        /// Put between the items.
        separator: String,
        /// The items (a [`Expr::List`] or an expression resolving to one).
        list: Box<Expr>,
    },
    /// `!Select [index, list]`.
    Select {
        /// Zero-based index (an expression resolving to a number).
        index: Box<Expr>,
        /// The list to pick from.
        list: Box<Expr>,
    },
}

/// Why a YAML value is not an [`Expr`]: the message names the intrinsic or the shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExprError(String);

fn fail<T>(message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError(message.into()))
}

/// The intrinsics [`Expr`] knows, for error messages.
const SUPPORTED: &str = "Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select";

impl From<&str> for Expr {
    fn from(s: &str) -> Self {
        Expr::Literal(s.to_owned())
    }
}

impl From<String> for Expr {
    fn from(s: String) -> Self {
        Expr::Literal(s)
    }
}

impl Expr {
    /// The name of a `!Ref`, if this is one.
    pub fn as_ref_name(&self) -> Option<&str> {
        match self {
            Expr::Ref(name) => Some(name),
            _ => None,
        }
    }
}

impl TryFrom<Value> for Expr {
    type Error = ExprError;

    fn try_from(value: Value) -> Result<Self, ExprError> {
        match value {
            Value::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let name = tag.trim_start_matches('!');
                let function = if name == "Ref" {
                    "Ref".to_owned()
                } else {
                    format!("Fn::{name}")
                };
                intrinsic(&function, tagged.value)
            }
            Value::Mapping(m) if m.len() == 1 => {
                let Some((Value::String(key), arg)) = m.into_iter().next() else {
                    return fail(
                        "expected a string, number, boolean, list or intrinsic, got a mapping",
                    );
                };
                if key == "Ref" || key.starts_with("Fn::") {
                    intrinsic(&key, arg)
                } else {
                    fail(format!(
                        "expected a string, number, boolean, list or intrinsic, got a mapping with key {key}"
                    ))
                }
            }
            Value::Sequence(items) => Ok(Expr::List(
                items
                    .into_iter()
                    .map(Expr::try_from)
                    .collect::<Result<_, _>>()?,
            )),
            other => match scalar_text(&other) {
                Some(s) => Ok(Expr::Literal(s)),
                None => fail(format!(
                    "expected a string, number, boolean, list or intrinsic, got {}",
                    show(&other)
                )),
            },
        }
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Expr::try_from(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A string argument of an intrinsic (`!Ref Name`, `GetAtt` parts, `Sub` text).
fn text(function: &str, v: Value) -> Result<String, ExprError> {
    match v {
        Value::String(s) => Ok(s),
        other => fail(format!("{function} takes a string, got {}", show(&other))),
    }
}

/// The two elements of `[a, b]` (`Join`, `Select`, `GetAtt`, two-element `Sub`).
fn pair(function: &str, v: Value, shape: &str) -> Result<(Value, Value), ExprError> {
    match v {
        Value::Sequence(s) if s.len() == 2 => {
            let mut it = s.into_iter();
            match (it.next(), it.next()) {
                (Some(a), Some(b)) => Ok((a, b)),
                _ => fail(format!("{function} takes {shape}")),
            }
        }
        other => fail(format!("{function} takes {shape}, got {}", show(&other))),
    }
}

fn intrinsic(function: &str, arg: Value) -> Result<Expr, ExprError> {
    match function {
        "Ref" => Ok(Expr::Ref(text(function, arg)?)),
        "Fn::GetAtt" => {
            let (resource, attribute) = match arg {
                Value::String(s) => match s.split_once('.') {
                    Some((r, a)) => (r.to_owned(), a.to_owned()),
                    None => return fail(format!("GetAtt {s}: expected Resource.Attribute")),
                },
                other => {
                    let (r, a) = pair(function, other, "[Resource, Attribute]")?;
                    (text(function, r)?, text(function, a)?)
                }
            };
            Ok(Expr::GetAtt {
                resource,
                attribute,
            })
        }
        "Fn::Sub" => match arg {
            Value::String(text) => Ok(Expr::Sub {
                text,
                variables: BTreeMap::new(),
            }),
            other => {
                let (t, vars) = pair(function, other, "a string or [string, {variables}]")?;
                let Value::Mapping(vars) = vars else {
                    return fail("Fn::Sub variables must be a mapping");
                };
                let variables = vars
                    .into_iter()
                    .map(|(k, v)| Ok((text(function, k)?, Expr::try_from(v)?)))
                    .collect::<Result<_, ExprError>>()?;
                Ok(Expr::Sub {
                    text: text(function, t)?,
                    variables,
                })
            }
        },
        "Fn::Join" => {
            let (sep, list) = pair(function, arg, "[separator, list]")?;
            Ok(Expr::Join {
                separator: text(function, sep)?,
                list: Box::new(Expr::try_from(list)?),
            })
        }
        "Fn::Select" => {
            let (index, list) = pair(function, arg, "[index, list]")?;
            Ok(Expr::Select {
                index: Box::new(Expr::try_from(index)?),
                list: Box::new(Expr::try_from(list)?),
            })
        }
        other => fail(format!(
            "devstack does not support the intrinsic {other} (it resolves {SUPPORTED})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Expr, ExprError> {
        Expr::try_from(serde_norway::from_str::<Value>(yaml).unwrap())
    }

    #[test]
    fn short_tags_and_long_forms_parse_to_the_same_expression() {
        let pairs = [
            ("!Ref Q", "{Ref: Q}"),
            ("!GetAtt Q.Arn", "{Fn::GetAtt: [Q, Arn]}"),
            ("!Sub 'x-${Q}'", "{Fn::Sub: 'x-${Q}'}"),
            (
                "!Join ['-', [a, !Ref B]]",
                "{Fn::Join: ['-', [a, {Ref: B}]]}",
            ),
            ("!Select [1, [a, b]]", "{Fn::Select: [1, [a, b]]}"),
        ];
        for (short, long) in pairs {
            assert_eq!(parse(short).unwrap(), parse(long).unwrap(), "{short}");
        }
        assert_eq!(
            parse("!GetAtt Q.Arn").unwrap(),
            Expr::GetAtt {
                resource: "Q".into(),
                attribute: "Arn".into()
            }
        );
    }

    #[test]
    fn scalars_become_literals_as_cloudformation_stringifies_them() {
        assert_eq!(parse("5").unwrap(), Expr::from("5"));
        assert_eq!(parse("true").unwrap(), Expr::from("true"));
        assert_eq!(parse("text").unwrap(), Expr::from("text"));
    }

    #[test]
    fn an_unknown_intrinsic_is_an_error_naming_it_in_either_form() {
        for yaml in ["!FindInMap [M, a, b]", "{Fn::ImportValue: x}"] {
            let err = parse(yaml).unwrap_err().to_string();
            assert!(
                err.contains("FindInMap") || err.contains("ImportValue"),
                "{err}"
            );
            assert!(err.contains("does not support"), "{err}");
        }
    }

    #[test]
    fn a_malformed_intrinsic_is_an_error_saying_what_it_takes() {
        let err = parse("!GetAtt NoDot").unwrap_err().to_string();
        assert!(err.contains("Resource.Attribute"), "{err}");
        let err = parse("!Join [only-one]").unwrap_err().to_string();
        assert!(err.contains("[separator, list]"), "{err}");
    }
}
