//! The SAM template as devstack reads it: functions with their routes, queue events and
//! environment, tables and queues — and the resolution of the intrinsics (`!Ref`, `!GetAtt`,
//! `!Sub`, `!Join`, `!Select`) to local names and URLs.
//!
//! Short-form tags (`!Ref X`) are normalised to their long form (`{"Ref": "X"}`) at load time,
//! so the rest of the code sees one shape. Nothing here restates the template: every route,
//! queue and variable comes from the file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde_yaml::{Mapping, Value};

/// CloudFormation resource type of a DynamoDB table.
pub const TABLE_TYPE: &str = "AWS::DynamoDB::Table";
/// CloudFormation resource type of an SQS queue.
pub const QUEUE_TYPE: &str = "AWS::SQS::Queue";
/// SAM resource type of a Lambda function.
pub const FUNCTION_TYPE: &str = "AWS::Serverless::Function";

/// Lambda's default timeout when neither the function nor `Globals` set one (seconds).
const DEFAULT_TIMEOUT_SECS: u64 = 3;

/// A parsed SAM template.
#[derive(Debug, Clone)]
pub struct Template {
    /// `Resources`, by logical id, in file order.
    pub resources: Vec<Resource>,
    /// `Parameters` with their `Default` values (a parameter without one is absent).
    pub parameter_defaults: BTreeMap<String, Value>,
    /// `Globals.Function`, merged under every function's properties.
    pub function_globals: Mapping,
}

/// One entry of `Resources`.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Logical id, e.g. `OrdersQueue`.
    pub logical_id: String,
    /// `Type`, e.g. `AWS::SQS::Queue`.
    pub kind: String,
    /// `Properties` (an empty mapping when absent), intrinsics in long form.
    pub properties: Mapping,
    /// `Metadata` (an empty mapping when absent).
    pub metadata: Mapping,
}

/// A Lambda function as the local cloud needs it.
#[derive(Debug, Clone)]
pub struct Function {
    /// Logical id, e.g. `CreateUserFunction`.
    pub logical_id: String,
    /// Cargo binary name from `Metadata.BuildProperties.Binary` (rust-cargolambda build).
    pub binary: String,
    /// `Timeout` in seconds (function, else `Globals`, else Lambda's default of 3).
    pub timeout_secs: u64,
    /// `Globals.Function.Environment.Variables` overlaid with the function's own, unresolved.
    pub environment: BTreeMap<String, Value>,
    /// The function's `HttpApi` events.
    pub http_routes: Vec<HttpRoute>,
    /// The function's `SQS` events (event source mappings).
    pub sqs_events: Vec<SqsEvent>,
    /// `LoggingConfig.LogFormat` (`JSON` or `Text`), if set.
    pub log_format: Option<String>,
}

/// An `HttpApi` event: one API Gateway route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// Upper-case method, or `ANY`.
    pub method: String,
    /// Path with `{param}` and a trailing `{proxy+}` allowed; `$default` for the catch-all route.
    pub path: String,
}

/// An `SQS` event: one event source mapping.
#[derive(Debug, Clone)]
pub struct SqsEvent {
    /// Event name in the template, e.g. `OrdersQueue`.
    pub name: String,
    /// `Queue` (an ARN expression, unresolved).
    pub queue: Value,
    /// `BatchSize` (AWS default 10).
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds` (default 0).
    pub batching_window_secs: u64,
    /// `FunctionResponseTypes` contains `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
}

impl Template {
    /// Reads and parses a template file.
    ///
    /// # Errors
    /// The file cannot be read, is not YAML, or has no `Resources` mapping.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading template {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing template {}", path.display()))
    }

    /// Parses template text (see [`Template::load`]).
    ///
    /// # Errors
    /// Not YAML, or no `Resources` mapping.
    pub fn parse(text: &str) -> Result<Self> {
        let root = normalise_tags(serde_yaml::from_str::<Value>(text)?)?;
        let resources_map = root
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| anyhow!("the template has no Resources mapping"))?;
        let mut resources = Vec::new();
        for (id, body) in resources_map {
            let logical_id = id
                .as_str()
                .ok_or_else(|| anyhow!("a resource id is not a string"))?
                .to_owned();
            let kind = body
                .get("Type")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("resource {logical_id} has no Type"))?
                .to_owned();
            resources.push(Resource {
                logical_id,
                kind,
                properties: mapping_at(body, "Properties"),
                metadata: mapping_at(body, "Metadata"),
            });
        }
        let mut parameter_defaults = BTreeMap::new();
        if let Some(params) = root.get("Parameters").and_then(Value::as_mapping) {
            for (name, body) in params {
                if let (Some(name), Some(default)) = (name.as_str(), body.get("Default")) {
                    parameter_defaults.insert(name.to_owned(), default.clone());
                }
            }
        }
        let function_globals = root
            .get("Globals")
            .map(|g| mapping_at(g, "Function"))
            .unwrap_or_default();
        Ok(Self {
            resources,
            parameter_defaults,
            function_globals,
        })
    }

    /// Resources of one type, in file order.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.resources.iter().filter(move |r| r.kind == kind)
    }

    /// The resource with this logical id.
    pub fn resource(&self, logical_id: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.logical_id == logical_id)
    }

    /// Every `AWS::Serverless::Function`, with `Globals.Function` applied.
    ///
    /// # Errors
    /// A function without `Metadata.BuildProperties.Binary`, or an event without its required
    /// properties.
    pub fn functions(&self) -> Result<Vec<Function>> {
        self.of_kind(FUNCTION_TYPE)
            .map(|r| self.function(r))
            .collect()
    }

    fn function(&self, r: &Resource) -> Result<Function> {
        let id = &r.logical_id;
        let prop = |key: &str| {
            r.properties
                .get(key)
                .or_else(|| self.function_globals.get(key))
        };
        let binary = r
            .metadata
            .get("BuildProperties")
            .and_then(|b| b.get("Binary"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                anyhow!(
                    "function {id}: Metadata.BuildProperties.Binary (the cargo binary) is missing"
                )
            })?
            .to_owned();
        let timeout_secs = prop("Timeout")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_TIMEOUT_SECS);
        let mut environment = BTreeMap::new();
        for source in [
            self.function_globals.get("Environment"),
            r.properties.get("Environment"),
        ] {
            if let Some(vars) = source
                .and_then(|e| e.get("Variables"))
                .and_then(Value::as_mapping)
            {
                for (k, v) in vars {
                    let k = k
                        .as_str()
                        .ok_or_else(|| anyhow!("function {id}: variable name"))?;
                    environment.insert(k.to_owned(), v.clone());
                }
            }
        }
        let log_format = prop("LoggingConfig")
            .and_then(|l| l.get("LogFormat"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut http_routes = Vec::new();
        let mut sqs_events = Vec::new();
        if let Some(events) = r.properties.get("Events").and_then(Value::as_mapping) {
            for (name, event) in events {
                let name = name.as_str().unwrap_or_default().to_owned();
                let props = event.get("Properties").cloned().unwrap_or(Value::Null);
                match event.get("Type").and_then(Value::as_str) {
                    Some("HttpApi") => {
                        let path = props.get("Path").and_then(Value::as_str);
                        let method = props.get("Method").and_then(Value::as_str);
                        http_routes.push(match (path, method) {
                            (Some(p), Some(m)) => HttpRoute {
                                method: m.to_ascii_uppercase(),
                                path: p.to_owned(),
                            },
                            // An HttpApi event without Path and Method is the `$default` route.
                            _ => HttpRoute {
                                method: "ANY".into(),
                                path: "$default".into(),
                            },
                        });
                    }
                    Some("SQS") => {
                        let queue = props
                            .get("Queue")
                            .cloned()
                            .ok_or_else(|| anyhow!("function {id}, event {name}: no Queue"))?;
                        sqs_events.push(SqsEvent {
                            name,
                            queue,
                            batch_size: props
                                .get("BatchSize")
                                .and_then(Value::as_u64)
                                .map_or(10, |b| u32::try_from(b).unwrap_or(10)),
                            batching_window_secs: props
                                .get("MaximumBatchingWindowInSeconds")
                                .and_then(Value::as_u64)
                                .unwrap_or(0),
                            report_batch_item_failures: props
                                .get("FunctionResponseTypes")
                                .and_then(Value::as_sequence)
                                .is_some_and(|s| {
                                    s.iter()
                                        .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
                                }),
                        });
                    }
                    _ => {}
                }
            }
        }
        Ok(Function {
            logical_id: id.clone(),
            binary,
            timeout_secs,
            environment,
            http_routes,
            sqs_events,
            log_format,
        })
    }
}

fn mapping_at(v: &Value, key: &str) -> Mapping {
    v.get(key)
        .and_then(Value::as_mapping)
        .cloned()
        .unwrap_or_default()
}

/// Rewrites short-form intrinsic tags into their long form, recursively.
fn normalise_tags(v: Value) -> Result<Value> {
    Ok(match v {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = normalise_tags(tagged.value)?;
            let (key, value) = match name {
                "Ref" => ("Ref".to_owned(), inner),
                "GetAtt" => {
                    // `!GetAtt Res.Attr` is a string; the long form is a two-element list.
                    let value = match inner {
                        Value::String(s) => {
                            let (res, attr) = s.split_once('.').ok_or_else(|| {
                                anyhow!("!GetAtt {s}: expected Resource.Attribute")
                            })?;
                            Value::Sequence(vec![res.into(), attr.into()])
                        }
                        other => other,
                    };
                    ("Fn::GetAtt".to_owned(), value)
                }
                other => (format!("Fn::{other}"), inner),
            };
            let mut m = Mapping::new();
            m.insert(Value::String(key), value);
            Value::Mapping(m)
        }
        Value::Mapping(m) => Value::Mapping(
            m.into_iter()
                .map(|(k, v)| Ok((k, normalise_tags(v)?)))
                .collect::<Result<_>>()?,
        ),
        Value::Sequence(s) => {
            Value::Sequence(s.into_iter().map(normalise_tags).collect::<Result<_>>()?)
        }
        other => other,
    })
}

/// What a logical id stands for once created locally.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    /// What `!Ref` returns (table name, queue URL, API id…).
    pub reference: String,
    /// What `!GetAtt Id.Attr` returns, by attribute name (`Arn`, `QueueName`, `QueueUrl`…).
    pub attributes: BTreeMap<String, String>,
}

/// Resolves intrinsics against local names: pseudo parameters, parameter defaults and the
/// physical resources devstack created.
#[derive(Debug, Clone)]
pub struct Resolver {
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId` (moto's and LocalStack's default is `000000000000`/`123456789012`).
    pub account_id: String,
    /// `AWS::StackName`.
    pub stack_name: String,
    /// Parameter values (defaults from the template, possibly overridden).
    pub parameters: BTreeMap<String, String>,
    /// Created resources by logical id.
    pub resources: BTreeMap<String, Physical>,
}

impl Resolver {
    /// A resolver with the template's parameter defaults and no resources yet.
    pub fn new(template: &Template, region: &str, account_id: &str, stack_name: &str) -> Self {
        let parameters = template
            .parameter_defaults
            .iter()
            .map(|(k, v)| (k.clone(), scalar_string(v).unwrap_or_default()))
            .collect();
        Self {
            region: region.to_owned(),
            account_id: account_id.to_owned(),
            stack_name: stack_name.to_owned(),
            parameters,
            resources: BTreeMap::new(),
        }
    }

    /// Resolves an expression to a string.
    ///
    /// # Errors
    /// An unknown logical id or attribute, or an intrinsic devstack does not support (the
    /// message names it).
    pub fn string(&self, v: &Value) -> Result<String> {
        match self.value(v)? {
            Value::Sequence(_) | Value::Mapping(_) => bail!("expected a string, got {v:?}"),
            other => scalar_string(&other).ok_or_else(|| anyhow!("expected a string, got {v:?}")),
        }
    }

    /// Resolves every intrinsic inside `v`.
    ///
    /// # Errors
    /// See [`Resolver::string`].
    pub fn value(&self, v: &Value) -> Result<Value> {
        match v {
            Value::Mapping(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().ok_or_else(|| anyhow!("empty mapping"))?;
                match k.as_str() {
                    Some("Ref") => self.reference(arg).map(Value::String),
                    Some("Fn::GetAtt") => self.get_att(arg).map(Value::String),
                    Some("Fn::Sub") => self.sub(arg).map(Value::String),
                    Some("Fn::Join") => self.join(arg).map(Value::String),
                    Some("Fn::Select") => self.select(arg),
                    Some(f) if f.starts_with("Fn::") => bail!("devstack does not support {f}"),
                    _ => Ok(Value::Mapping(self.mapping(m)?)),
                }
            }
            Value::Mapping(m) => Ok(Value::Mapping(self.mapping(m)?)),
            Value::Sequence(s) => Ok(Value::Sequence(
                s.iter().map(|x| self.value(x)).collect::<Result<_>>()?,
            )),
            other => Ok(other.clone()),
        }
    }

    fn mapping(&self, m: &Mapping) -> Result<Mapping> {
        m.iter()
            .map(|(k, v)| Ok((k.clone(), self.value(v)?)))
            .collect()
    }

    fn reference(&self, arg: &Value) -> Result<String> {
        let name = arg.as_str().ok_or_else(|| anyhow!("Ref takes a name"))?;
        self.name(name)
    }

    fn name(&self, name: &str) -> Result<String> {
        Ok(match name {
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => self.account_id.clone(),
            "AWS::StackName" => self.stack_name.clone(),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::NoValue" => String::new(),
            _ => {
                if let Some(p) = self.parameters.get(name) {
                    p.clone()
                } else if let Some(r) = self.resources.get(name) {
                    r.reference.clone()
                } else {
                    bail!("Ref {name}: no such parameter or resource created locally")
                }
            }
        })
    }

    fn get_att(&self, arg: &Value) -> Result<String> {
        let parts: Vec<String> = match arg {
            Value::Sequence(s) => s.iter().map(|x| self.string(x)).collect::<Result<_>>()?,
            Value::String(s) => s.splitn(2, '.').map(str::to_owned).collect(),
            _ => bail!("GetAtt takes [Resource, Attribute]"),
        };
        let [res, attr] = parts.as_slice() else {
            bail!("GetAtt takes [Resource, Attribute], got {parts:?}");
        };
        self.resources
            .get(res)
            .and_then(|p| p.attributes.get(attr))
            .cloned()
            .ok_or_else(|| anyhow!("GetAtt {res}.{attr}: not available locally"))
    }

    fn sub(&self, arg: &Value) -> Result<String> {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), BTreeMap::new()),
            Value::Sequence(s) => {
                let text = s
                    .first()
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("Sub"))?;
                let mut vars = BTreeMap::new();
                if let Some(m) = s.get(1).and_then(Value::as_mapping) {
                    for (k, v) in m {
                        vars.insert(k.as_str().unwrap_or_default().to_owned(), self.string(v)?);
                    }
                }
                (text, vars)
            }
            _ => bail!("Sub takes a string or [string, variables]"),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| anyhow!("Sub: unclosed ${{ in {text}"))?;
            let var = &after[..end];
            if let Some(literal) = var.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(var) {
                out.push_str(v);
            } else if let Some((res, attr)) =
                var.split_once('.').filter(|_| !var.starts_with("AWS::"))
            {
                out.push_str(&self.get_att(&Value::Sequence(vec![res.into(), attr.into()]))?);
            } else {
                out.push_str(&self.name(var)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn join(&self, arg: &Value) -> Result<String> {
        let s = arg
            .as_sequence()
            .ok_or_else(|| anyhow!("Join takes [sep, list]"))?;
        let sep = s.first().and_then(Value::as_str).unwrap_or_default();
        let list = match s.get(1).map(|l| self.value(l)).transpose()? {
            Some(Value::Sequence(items)) => items,
            _ => bail!("Join takes [sep, list]"),
        };
        let parts: Vec<String> = list.iter().map(|x| self.string(x)).collect::<Result<_>>()?;
        Ok(parts.join(sep))
    }

    fn select(&self, arg: &Value) -> Result<Value> {
        let s = arg
            .as_sequence()
            .ok_or_else(|| anyhow!("Select takes [index, list]"))?;
        let index: usize = self
            .string(s.first().ok_or_else(|| anyhow!("Select index"))?)?
            .parse()
            .context("Select index")?;
        match s.get(1).map(|l| self.value(l)).transpose()? {
            Some(Value::Sequence(items)) => items
                .get(index)
                .cloned()
                .ok_or_else(|| anyhow!("Select: index {index} out of range")),
            _ => bail!("Select takes [index, list]"),
        }
    }
}

/// A YAML scalar as CloudFormation would stringify it.
fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  LogLevel: { Type: String, Default: debug }
Globals:
  Function:
    Timeout: 7
    LoggingConfig: { LogFormat: JSON }
    Environment: { Variables: { RUST_LOG: !Ref LogLevel, SHARED: global } }
Resources:
  Q:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: my-fn } }
    Properties:
      Environment:
        Variables:
          SHARED: own
          URL: !Ref Q
          ARN: !GetAtt Q.Arn
          SUB: !Sub "${Q.QueueName}@${AWS::Region}/${LogLevel}"
          JOINED: !Join ["-", [a, !Ref LogLevel]]
      Events:
        Get: { Type: HttpApi, Properties: { Path: "/things/{id}", Method: get } }
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Q.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
"#;

    fn resolver(t: &Template) -> Resolver {
        let mut r = Resolver::new(t, "eu-west-1", "123456789012", "shop");
        r.resources.insert(
            "Q".into(),
            Physical {
                reference: "http://q-url".into(),
                attributes: [("Arn", "arn:q"), ("QueueName", "shop-Q")]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            },
        );
        r
    }

    #[test]
    fn a_function_takes_globals_and_overrides_them_with_its_own_values() {
        let t = Template::parse(TEMPLATE).unwrap();
        let f = &t.functions().unwrap()[0];
        assert_eq!(f.binary, "my-fn");
        assert_eq!(f.timeout_secs, 7);
        assert_eq!(f.log_format.as_deref(), Some("JSON"));
        assert_eq!(f.environment["SHARED"], Value::from("own"));
        assert!(f.environment.contains_key("RUST_LOG"));
    }

    #[test]
    fn short_form_intrinsics_resolve_to_local_names() {
        let t = Template::parse(TEMPLATE).unwrap();
        let f = &t.functions().unwrap()[0];
        let r = resolver(&t);
        let env = |k: &str| r.string(&f.environment[k]).unwrap();
        assert_eq!(env("RUST_LOG"), "debug");
        assert_eq!(env("URL"), "http://q-url");
        assert_eq!(env("ARN"), "arn:q");
        assert_eq!(env("SUB"), "shop-Q@eu-west-1/debug");
        assert_eq!(env("JOINED"), "a-debug");
    }

    #[test]
    fn events_become_routes_and_event_source_mappings() {
        let t = Template::parse(TEMPLATE).unwrap();
        let f = &t.functions().unwrap()[0];
        assert_eq!(
            f.http_routes,
            vec![HttpRoute {
                method: "GET".into(),
                path: "/things/{id}".into()
            }]
        );
        let sqs = &f.sqs_events[0];
        assert_eq!((sqs.batch_size, sqs.report_batch_item_failures), (5, true));
        assert_eq!(resolver(&t).string(&sqs.queue).unwrap(), "arn:q");
    }

    #[test]
    fn an_unknown_reference_is_an_error_naming_it() {
        let t = Template::parse(TEMPLATE).unwrap();
        let err = resolver(&t).string(&serde_yaml::from_str("{Ref: Nope}").unwrap());
        assert!(err.unwrap_err().to_string().contains("Nope"));
    }

    #[test]
    fn a_function_without_a_binary_name_is_rejected() {
        let t = Template::parse(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {}\n",
        )
        .unwrap();
        assert!(t.functions().unwrap_err().to_string().contains("Binary"));
    }
}
