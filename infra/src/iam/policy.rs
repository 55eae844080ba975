//! IAM identity-based policy documents and their evaluation for one request: explicit `Deny`
//! wins, else an `Allow` whose action, resource and conditions all match, else the implicit deny
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>).
//!
//! Matching follows the IAM JSON policy reference: actions compare case-insensitively, resources
//! case-sensitively, both with the `*` (any run of characters) and `?` (one character)
//! wildcards; `NotAction` / `NotResource` match what the list does not. Conditions: the string,
//! ARN, `Bool` and `Null` operators, with `…IfExists`; a key the request lacks makes a positive
//! operator false and a negated one true. Any other operator (numeric, date, IP, `ForAnyValue:`…)
//! makes its statement not apply, with a warning at load (never an accidental allow).

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use serde::Serialize;
use serde_json::Value;

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// `"Effect": "Allow"`.
    Allow,
    /// `"Effect": "Deny"`.
    Deny,
}

/// A list that matches by its patterns (`Action`, `Resource`) or by their complement
/// (`NotAction`, `NotResource`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Patterns {
    /// `Action` / `Resource`: matches what one pattern matches.
    Any(Vec<String>),
    /// `NotAction` / `NotResource`: matches what no pattern matches.
    Not(Vec<String>),
}

/// One condition: `"<operator>": {"<key>": [values]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// The operator as written, e.g. `StringEquals`, `ArnLikeIfExists`.
    pub operator: String,
    /// The condition key, e.g. `servicediscovery:NamespaceName` (compared case-insensitively).
    pub key: String,
    /// The values; the condition holds when the request's value matches one.
    pub values: Vec<String>,
}

/// One statement of a policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// `Sid`, when the statement has one.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Action` or `NotAction`.
    pub actions: Patterns,
    /// `Resource` or `NotResource`.
    pub resources: Patterns,
    /// `Condition`, every one of which must hold.
    pub conditions: Vec<Condition>,
}

/// A named policy document (inline, customer managed or AWS managed) of one role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Its name: the inline policy's `PolicyName`, the managed policy's logical id or AWS name.
    pub name: String,
    /// Its statements.
    pub statements: Vec<Statement>,
}

/// One authorization a request needs: an action on a resource, with the request's condition
/// keys. A resource of `None` means devstack cannot tell it for this operation; then only the
/// action is checked (and the statement's resource is taken to match).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authorization {
    /// `service:Action`, e.g. `dynamodb:GetItem`.
    pub action: String,
    /// The resource ARN, e.g. `arn:aws:dynamodb:us-east-1:123456789012:table/orders`.
    pub resource: Option<String>,
    /// Condition keys of the request, lowercase, e.g. `servicediscovery:namespacename`.
    pub context: BTreeMap<String, String>,
}

/// What the evaluation decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Decision {
    /// An `Allow` statement matches and no `Deny` does.
    Allowed {
        /// The policy of the first matching `Allow`.
        policy: String,
    },
    /// A `Deny` statement matches.
    ExplicitlyDenied {
        /// The policy holding it.
        policy: String,
    },
    /// No statement allows it.
    ImplicitlyDenied,
}

impl Decision {
    /// Whether the request may go on.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
}

/// Evaluates `auth` against every statement of `policies`.
pub fn evaluate(policies: &[Policy], auth: &Authorization) -> Decision {
    let mut allowed_by = None;
    for policy in policies {
        for statement in &policy.statements {
            if !statement.applies(auth) {
                continue;
            }
            match statement.effect {
                Effect::Deny => {
                    return Decision::ExplicitlyDenied {
                        policy: policy.name.clone(),
                    };
                }
                Effect::Allow => {
                    allowed_by.get_or_insert_with(|| policy.name.clone());
                }
            }
        }
    }
    match allowed_by {
        Some(policy) => Decision::Allowed { policy },
        None => Decision::ImplicitlyDenied,
    }
}

impl Statement {
    fn applies(&self, auth: &Authorization) -> bool {
        let action = match &self.actions {
            Patterns::Any(p) => p.iter().any(|p| wildcard(p, &auth.action, true)),
            Patterns::Not(p) => !p.iter().any(|p| wildcard(p, &auth.action, true)),
        };
        let resource = match (&self.resources, &auth.resource) {
            (_, None) => true,
            (Patterns::Any(p), Some(r)) => p.iter().any(|p| wildcard(p, r, false)),
            (Patterns::Not(p), Some(r)) => !p.iter().any(|p| wildcard(p, r, false)),
        };
        action && resource && self.conditions.iter().all(|c| c.holds(&auth.context))
    }
}

/// The operators [`Condition::holds`] evaluates (without `IfExists`).
const OPERATORS: [&str; 12] = [
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Bool",
    "Null",
];

impl Condition {
    /// Whether devstack evaluates this operator (else the statement never applies).
    pub fn supported(&self) -> bool {
        let op = self
            .operator
            .strip_suffix("IfExists")
            .unwrap_or(&self.operator);
        OPERATORS.contains(&op)
    }

    fn holds(&self, context: &BTreeMap<String, String>) -> bool {
        if !self.supported() {
            return false;
        }
        let (op, if_exists) = match self.operator.strip_suffix("IfExists") {
            Some(op) => (op, true),
            None => (self.operator.as_str(), false),
        };
        let value = context.get(&self.key.to_ascii_lowercase());
        if op == "Null" {
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return want_absent == value.is_none();
        }
        let negated = op.contains("Not");
        let Some(value) = value else {
            return if_exists || negated;
        };
        let matches = self.values.iter().any(|v| match op {
            "StringEquals" | "StringNotEquals" | "ArnEquals" | "ArnNotEquals" => v == value,
            "StringEqualsIgnoreCase" | "StringNotEqualsIgnoreCase" => v.eq_ignore_ascii_case(value),
            "StringLike" | "StringNotLike" | "ArnLike" | "ArnNotLike" => wildcard(v, value, false),
            "Bool" => v.eq_ignore_ascii_case(value),
            _ => false,
        });
        matches != negated
    }
}

/// IAM's wildcard match of `value` against `pattern`: `*` is any run of characters (also
/// none), `?` exactly one.
pub fn wildcard(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let eq = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], v[vi]))) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A string or a list of strings (`"Action": "x"` or `"Action": ["x", "y"]`).
fn strings(v: &Value, field: &str) -> Result<Vec<String>> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Bool(b) => Ok(vec![b.to_string()]),
        Value::Number(n) => Ok(vec![n.to_string()]),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                Value::Bool(b) => Ok(b.to_string()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(anyhow!("{field}: expected strings, got {other}")),
            })
            .collect(),
        other => Err(anyhow!("{field}: expected a string or a list, got {other}")),
    }
}

fn patterns(statement: &Value, positive: &str, negative: &str) -> Result<Patterns> {
    match (statement.get(positive), statement.get(negative)) {
        (Some(v), None) => Ok(Patterns::Any(strings(v, positive)?)),
        (None, Some(v)) => Ok(Patterns::Not(strings(v, negative)?)),
        (Some(_), Some(_)) => Err(anyhow!("a statement has both {positive} and {negative}")),
        (None, None) => Err(anyhow!("a statement has neither {positive} nor {negative}")),
    }
}

impl Policy {
    /// The policy `name` from its document (intrinsics already resolved to strings).
    ///
    /// # Errors
    /// The document is not an IAM policy: no `Statement`, a statement without `Effect`,
    /// `Action`/`NotAction` or `Resource`/`NotResource`, or values that are not strings.
    pub fn from_document(name: &str, document: &Value) -> Result<Self> {
        let statements = match document.get("Statement") {
            Some(Value::Array(s)) => s.clone(),
            Some(s @ Value::Object(_)) => vec![s.clone()],
            _ => return Err(anyhow!("policy {name}: no Statement")),
        };
        let statements = statements
            .iter()
            .map(|s| {
                let effect = match s.get("Effect").and_then(Value::as_str) {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    other => return Err(anyhow!("Effect must be Allow or Deny, got {other:?}")),
                };
                let mut conditions = Vec::new();
                if let Some(Value::Object(ops)) = s.get("Condition") {
                    for (operator, keys) in ops {
                        let Value::Object(keys) = keys else {
                            return Err(anyhow!("Condition {operator}: expected a mapping"));
                        };
                        for (key, values) in keys {
                            conditions.push(Condition {
                                operator: operator.clone(),
                                key: key.clone(),
                                values: strings(values, key)?,
                            });
                        }
                    }
                }
                Ok(Statement {
                    sid: s.get("Sid").and_then(Value::as_str).map(str::to_owned),
                    effect,
                    actions: patterns(s, "Action", "NotAction")?,
                    resources: patterns(s, "Resource", "NotResource")?,
                    conditions,
                })
            })
            .collect::<Result<Vec<_>>>()
            .map_err(|e| anyhow!("policy {name}: {e}"))?;
        Ok(Self {
            name: name.to_owned(),
            statements,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn auth(action: &str, resource: &str) -> Authorization {
        Authorization {
            action: action.into(),
            resource: Some(resource.into()),
            context: BTreeMap::new(),
        }
    }

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/products";

    #[test]
    fn wildcards_match_as_iam_documents_them() {
        assert!(wildcard("dynamodb:Get*", "dynamodb:GetItem", true));
        assert!(wildcard("DynamoDB:getitem", "dynamodb:GetItem", true));
        assert!(!wildcard("dynamodb:Get*", "dynamodb:PutItem", true));
        assert!(wildcard(
            "arn:aws:sqs:*:*:orders-?",
            "arn:aws:sqs:us-east-1:1:orders-1",
            false
        ));
        assert!(!wildcard(
            "arn:aws:sqs:*:*:Orders",
            "arn:aws:sqs:us-east-1:1:orders",
            false
        ));
        assert!(wildcard("*", "", false));
        assert!(wildcard("a*b*c", "axxbyyc", false));
        assert!(!wildcard("a*b*c", "axxbyy", false));
    }

    #[test]
    fn allow_needs_action_and_resource_and_deny_wins() {
        let p = Policy::from_document(
            "p",
            &json!({"Statement": [
                {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": [TABLE]},
                {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*",
                 "Condition": {"StringEquals": {"aws:RequestTag/x": "y"}}}
            ]}),
        )
        .unwrap();
        let policies = [p];
        assert!(evaluate(&policies, &auth("dynamodb:GetItem", TABLE)).allowed());
        assert_eq!(
            evaluate(&policies, &auth("dynamodb:PutItem", TABLE)),
            Decision::ImplicitlyDenied
        );
        assert_eq!(
            evaluate(
                &policies,
                &auth(
                    "dynamodb:GetItem",
                    "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
                )
            ),
            Decision::ImplicitlyDenied
        );
        let mut tagged = auth("dynamodb:GetItem", TABLE);
        tagged.context.insert("aws:requesttag/x".into(), "y".into());
        assert_eq!(
            evaluate(&policies, &tagged),
            Decision::ExplicitlyDenied { policy: "p".into() }
        );
    }

    #[test]
    fn conditions_compare_the_request_keys() {
        let p = Policy::from_document(
            "discover",
            &json!({"Statement": {"Effect": "Allow", "Action": "servicediscovery:DiscoverInstances",
                "Resource": "*", "Condition": {"StringEquals": {
                    "servicediscovery:NamespaceName": "shop.local",
                    "servicediscovery:ServiceName": "payments"}}}}),
        )
        .unwrap();
        let policies = [p];
        let mut a = auth("servicediscovery:DiscoverInstances", "*");
        assert_eq!(
            evaluate(&policies, &a),
            Decision::ImplicitlyDenied,
            "keys absent"
        );
        a.context
            .insert("servicediscovery:namespacename".into(), "shop.local".into());
        a.context
            .insert("servicediscovery:servicename".into(), "payments".into());
        assert!(evaluate(&policies, &a).allowed());
        a.context
            .insert("servicediscovery:servicename".into(), "other".into());
        assert_eq!(evaluate(&policies, &a), Decision::ImplicitlyDenied);
    }

    #[test]
    fn not_action_and_not_resource_match_the_complement() {
        let p = Policy::from_document(
            "p",
            &json!({"Statement": [{"Effect": "Allow", "NotAction": "sqs:DeleteQueue",
                "NotResource": "arn:aws:sqs:*:*:secret"}]}),
        )
        .unwrap();
        let policies = [p];
        assert!(evaluate(&policies, &auth("sqs:SendMessage", "arn:aws:sqs:r:1:q")).allowed());
        assert!(!evaluate(&policies, &auth("sqs:DeleteQueue", "arn:aws:sqs:r:1:q")).allowed());
        assert!(
            !evaluate(
                &policies,
                &auth("sqs:SendMessage", "arn:aws:sqs:r:1:secret")
            )
            .allowed()
        );
    }

    #[test]
    fn an_unsupported_operator_never_allows() {
        let p = Policy::from_document(
            "p",
            &json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}}]}),
        )
        .unwrap();
        assert!(!p.statements[0].conditions[0].supported());
        assert!(!evaluate(&[p], &auth("sqs:SendMessage", "*")).allowed());
    }

    #[test]
    fn a_malformed_document_is_an_error_naming_the_policy() {
        let err = Policy::from_document("bad", &json!({"Statement": [{"Effect": "Maybe"}]}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad") && err.contains("Effect"), "{err}");
    }
}
