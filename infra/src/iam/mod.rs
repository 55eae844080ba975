//! Per-function IAM in the local cloud: each function gets its own credentials, and every AWS
//! call it makes through the fault proxy is evaluated against its execution role's policies
//! (action and resource ARN, as AWS does) before it reaches the emulator.
//!
//! The policies are the ones `sam deploy` creates: the SAM translator (`expand_policies.py`,
//! run with the project's `.venv` Python) expands the template into each function's
//! `<Function>Role` with its inline policies (policy templates such as `DynamoDBCrudPolicy`
//! expanded), its customer managed policies (`!Ref` of an `AWS::IAM::ManagedPolicy`) and the AWS
//! managed ones SAM attaches (documents from moto's copy of them); devstack then resolves the
//! intrinsics against what it created. moto's own IAM enforcement is not used: it checks
//! DynamoDB, SNS and most services against resource `*` only (getmoto/moto#9581).
//!
//! A denied call is answered with the service's `AccessDeniedException` (`AccessDenied` for
//! SQS and awsQuery services) and logged once per call, naming the function, action, resource
//! and the role checked. `DEVSTACK_IAM=off` turns enforcement off (the policies are still loaded
//! for `devstack iam simulate`).

pub mod policy;
pub mod request;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fault::rules::Call;
use policy::{Authorization, Decision, Policy};

/// The translator script, run as `python - <template> <region>` (stdin).
const EXPAND_SCRIPT: &str = include_str!("expand_policies.py");

/// Temporary credentials of one function (what Lambda passes as `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// `ASIA…` access key id (20 characters), unique to the function in this stack.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token.
    pub session_token: String,
}

impl Credentials {
    /// The variables Lambda sets for them.
    pub fn env(&self) -> [(String, String); 3] {
        [
            ("AWS_ACCESS_KEY_ID".into(), self.access_key_id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                self.secret_access_key.clone(),
            ),
            ("AWS_SESSION_TOKEN".into(), self.session_token.clone()),
        ]
    }
}

/// One function's execution role: its identity and policies (intrinsics resolved).
#[derive(Debug, Clone, Serialize)]
pub struct Role {
    /// The function's logical id, e.g. `GetProductFunction`.
    pub function: String,
    /// The role's logical id as SAM names it, e.g. `GetProductFunctionRole`.
    pub role: String,
    /// The assumed-role principal, `arn:aws:sts::<account>:assumed-role/<stack>-<role>/<function>`.
    pub principal: String,
    /// The policies attached to the role.
    pub policies: Vec<Policy>,
    /// Its credentials.
    pub credentials: Credentials,
}

impl Role {
    /// The names of its policies, comma-separated (for log lines).
    pub fn policy_names(&self) -> String {
        self.policies
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A denied call: what the log line and the error answer say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The function whose role was checked.
    pub function: String,
    /// The denied authorization.
    pub authorization: Authorization,
    /// The decision (explicit or implicit deny).
    pub decision: Decision,
    /// AWS's message, e.g. `User: arn:aws:sts::… is not authorized to perform: dynamodb:GetItem
    /// on resource: arn:aws:dynamodb:… because no identity-based policy allows the
    /// dynamodb:GetItem action`.
    pub message: String,
}

/// Every function's role in one stack, and whether calls are enforced.
#[derive(Debug, Clone, Default)]
pub struct Iam {
    roles: BTreeMap<String, Role>,
    by_access_key: HashMap<String, String>,
    secret_arns: Vec<String>,
    account: String,
    enforce: bool,
}

/// Whether `DEVSTACK_IAM` asks for enforcement: anything but `off` / `0` / `false`.
pub fn enforcement_from_env() -> bool {
    !matches!(
        std::env::var("DEVSTACK_IAM")
            .ok()
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("off" | "0" | "false")
    )
}

/// A 20-character `ASIA` access key id for `function` of `stack`: stable for the pair, so the
/// proxy and the function agree without a shared store, and distinct between functions.
fn access_key_id(stack: &str, function: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    // FNV-1a 64, twice (two seeds): 80 bits of id.
    let hash = |seed: u64| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
        for b in stack.bytes().chain([0]).chain(function.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    let (a, b) = (hash(1), hash(2));
    let mut id = String::from("ASIA");
    for i in 0..16u32 {
        let word = if i < 12 {
            a >> (i * 5)
        } else {
            b >> ((i - 12) * 5)
        };
        id.push(char::from(
            ALPHABET[usize::try_from(word & 31).unwrap_or(0)],
        ));
    }
    id
}

impl Iam {
    /// Loads every function's policies from `template` with the SAM translator
    /// (`<venv_bin>/python`), resolving their intrinsics with `resolver`.
    ///
    /// # Errors
    /// The translator cannot run or rejects the template (its message is included), or a
    /// policy document is not one.
    pub fn load(
        venv_bin: &Path,
        template: &Path,
        stack: &str,
        resolver: &sam_template::Resolver,
        secret_arns: Vec<String>,
        enforce: bool,
    ) -> Result<Self> {
        let python = venv_bin.join("python");
        let output = std::process::Command::new(&python)
            .arg("-c")
            .arg(EXPAND_SCRIPT)
            .arg(template)
            .arg(&resolver.region)
            .output()
            .with_context(|| {
                format!(
                    "running {} (scripts/bootstrap.sh installs it)",
                    python.display()
                )
            })?;
        if !output.status.success() {
            bail!(
                "the SAM translator could not expand the template's policies: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let expanded: BTreeMap<String, ExpandedRole> = serde_json::from_slice(&output.stdout)
            .context("reading the SAM translator's output")?;
        Self::from_expanded(expanded, stack, resolver, secret_arns, enforce)
    }

    fn from_expanded(
        expanded: BTreeMap<String, ExpandedRole>,
        stack: &str,
        resolver: &sam_template::Resolver,
        secret_arns: Vec<String>,
        enforce: bool,
    ) -> Result<Self> {
        let mut iam = Iam {
            secret_arns,
            account: resolver.account_id.clone(),
            enforce,
            ..Iam::default()
        };
        for (function, role) in expanded {
            let role_name = role.role.unwrap_or_else(|| format!("{function}Role"));
            let mut policies = Vec::new();
            for p in role.policies {
                let mut unresolved = Vec::new();
                let document = resolve(&p.document, resolver, &mut unresolved);
                if !unresolved.is_empty() {
                    tracing::debug!(function, policy = %p.name, unresolved = ?unresolved, "IAM: intrinsics not resolvable locally (those statements match nothing here)");
                }
                policies.push(Policy::from_document(&p.name, &document)?);
            }
            for p in &policies {
                for s in &p.statements {
                    for c in s.conditions.iter().filter(|c| !c.supported()) {
                        tracing::warn!(function, policy = %p.name, operator = %c.operator, "IAM: condition operator not evaluated locally; its statement never applies here");
                    }
                }
            }
            let key = access_key_id(stack, &function);
            let credentials = Credentials {
                access_key_id: key.clone(),
                secret_access_key: uuid::Uuid::new_v4().simple().to_string(),
                session_token: format!("devstack-{}", uuid::Uuid::new_v4().simple()),
            };
            iam.by_access_key.insert(key, function.clone());
            iam.roles.insert(
                function.clone(),
                Role {
                    principal: format!(
                        "arn:aws:sts::{}:assumed-role/{stack}-{role_name}/{function}",
                        resolver.account_id
                    ),
                    function,
                    role: role_name,
                    policies,
                    credentials,
                },
            );
        }
        Ok(iam)
    }

    /// Whether calls are enforced (`DEVSTACK_IAM` is not `off`).
    pub fn enforced(&self) -> bool {
        self.enforce
    }

    /// The role of `function` (logical id).
    pub fn role(&self, function: &str) -> Option<&Role> {
        self.roles.get(function)
    }

    /// Every role, by function logical id.
    pub fn roles(&self) -> &BTreeMap<String, Role> {
        &self.roles
    }

    /// The decision for `function` doing `action` on `resource` (`*` when the action takes no
    /// resource), the way the proxy decides a call: the local `simulate-principal-policy`.
    ///
    /// # Errors
    /// No such function in the template.
    pub fn simulate(
        &self,
        function: &str,
        action: &str,
        resource: &str,
        context: BTreeMap<String, String>,
    ) -> Result<Decision> {
        let role = self.roles.get(function).ok_or_else(|| {
            anyhow!(
                "no function {function} in the template (functions: {})",
                self.roles.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        let auth = Authorization {
            action: action.to_owned(),
            resource: Some(resource.to_owned()),
            context: context
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        };
        Ok(policy::evaluate(&role.policies, &auth))
    }

    /// Checks one proxied call. `None`: the call goes on (not a function's credentials,
    /// enforcement off, or allowed); `Some`: denied, already logged.
    pub fn check(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        body: &[u8],
        call: &Call,
    ) -> Option<Denial> {
        if !self.enforce {
            return None;
        }
        let (key, region) = credential_scope(headers, query)?;
        let function = self.by_access_key.get(&key)?;
        let role = self.roles.get(function)?;
        let scope = request::Scope {
            region: &region,
            account: &self.account,
            secret_arns: &self.secret_arns,
        };
        for auth in request::authorizations(call, query, body, &scope) {
            let decision = policy::evaluate(&role.policies, &auth);
            if decision.allowed() {
                continue;
            }
            let resource = auth.resource.clone().unwrap_or_else(|| "*".into());
            let why = match &decision {
                Decision::ExplicitlyDenied { .. } => {
                    "with an explicit deny in an identity-based policy".to_string()
                }
                _ => format!(
                    "because no identity-based policy allows the {} action",
                    auth.action
                ),
            };
            let message = format!(
                "User: {} is not authorized to perform: {} on resource: {resource} {why}",
                role.principal, auth.action
            );
            tracing::warn!(
                "IAM denied: {function} may not {} on {resource} (checked role {}: {}; {})",
                auth.action,
                role.role,
                role.policy_names(),
                match &decision {
                    Decision::ExplicitlyDenied { policy } => format!("explicit Deny in {policy}"),
                    _ => "no statement allows it".to_owned(),
                }
            );
            return Some(Denial {
                function: function.clone(),
                authorization: auth,
                decision,
                message,
            });
        }
        None
    }
}

/// The access key id and region of the request's SigV4 credential scope
/// (`Credential=<key>/<date>/<region>/<service>/aws4_request`).
fn credential_scope(headers: &HeaderMap, query: Option<&str>) -> Option<(String, String)> {
    let credential = crate::fault::rules::sigv4_credential(headers, query)?;
    let mut parts = credential.split('/');
    let key = parts.next()?.to_owned();
    let _date = parts.next()?;
    let region = parts.next()?.to_owned();
    Some((key, region))
}

/// One function's role as the translator script prints it.
#[derive(Debug, Deserialize)]
struct ExpandedRole {
    role: Option<String>,
    policies: Vec<ExpandedPolicy>,
}

#[derive(Debug, Deserialize)]
struct ExpandedPolicy {
    name: String,
    document: Value,
}

/// `document` with every intrinsic (`{"Ref": …}`, `{"Fn::…": …}`) replaced by its resolved
/// string; one that does not resolve locally becomes `unresolved:<why>` (it matches no real
/// ARN) and is listed in `unresolved`.
fn resolve(
    document: &Value,
    resolver: &sam_template::Resolver,
    unresolved: &mut Vec<String>,
) -> Value {
    match document {
        Value::Object(map)
            if map.len() == 1 && map.keys().all(|k| k == "Ref" || k.starts_with("Fn::")) =>
        {
            let resolved = serde_norway::to_value(document)
                .map_err(anyhow::Error::from)
                .and_then(|y| sam_template::Expr::try_from(y).map_err(anyhow::Error::from))
                .and_then(|e| resolver.string(&e));
            match resolved {
                Ok(s) => Value::String(s),
                Err(e) => {
                    unresolved.push(e.to_string());
                    Value::String(format!("unresolved:{e}"))
                }
            }
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), resolve(v, resolver, unresolved)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve(v, resolver, unresolved))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_keys_are_stable_per_function_and_distinct_between_them() {
        let a = access_key_id("dev", "GetProductFunction");
        assert_eq!(a, access_key_id("dev", "GetProductFunction"));
        assert_ne!(a, access_key_id("dev", "GetUserFunction"));
        assert_ne!(a, access_key_id("e2e", "GetProductFunction"));
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("ASIA"));
    }

    #[test]
    fn the_credential_scope_gives_the_key_and_region() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=ASIAXYZ/20261206/eu-west-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            credential_scope(&h, None),
            Some(("ASIAXYZ".into(), "eu-west-1".into()))
        );
    }

    #[test]
    fn intrinsics_resolve_and_the_unresolvable_match_nothing() {
        let mut resolver = sam_template::Resolver {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            stack_name: "dev".into(),
            parameters: BTreeMap::new(),
            resources: BTreeMap::new(),
        };
        resolver.resources.insert(
            "ProductsTable".into(),
            sam_template::Physical {
                reference: "dev-products".into(),
                attributes: [(
                    "Arn".to_owned(),
                    "arn:aws:dynamodb:us-east-1:123456789012:table/dev-products".to_owned(),
                )]
                .into(),
            },
        );
        let doc = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem",
            "Resource": [{"Fn::GetAtt": ["ProductsTable", "Arn"]}, {"Ref": "Nope"}]}]});
        let mut unresolved = Vec::new();
        let out = resolve(&doc, &resolver, &mut unresolved);
        assert_eq!(
            out["Statement"][0]["Resource"][0],
            "arn:aws:dynamodb:us-east-1:123456789012:table/dev-products"
        );
        assert!(
            out["Statement"][0]["Resource"][1]
                .as_str()
                .unwrap()
                .starts_with("unresolved:")
        );
        assert_eq!(unresolved.len(), 1);
    }
}
