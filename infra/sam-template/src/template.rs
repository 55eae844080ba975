//! The template document: parameters, `Globals.Function` and `Resources`, each resource's
//! `Properties` typed by its `Type` at load time. A missing required property, a value of the
//! wrong type or an unsupported intrinsic in a property devstack reads is an error naming the
//! resource and the property; properties devstack does not read are not parsed.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

/// SQS's `VisibilityTimeout` when a queue does not set one (seconds; SQS API reference,
/// `CreateQueue`).
pub const SQS_DEFAULT_VISIBILITY_SECS: u32 = 30;
use indexmap::IndexMap;
use serde::Deserialize;
use serde_norway::Value;

use crate::de::{opt, typed};
use crate::expr::Expr;
use crate::function::{Function, FunctionMetadata, FunctionProperties, FunctionResource};
use crate::http_api::{HttpApi, HttpApiProperties};
use crate::resources::{
    DiscoveryInstanceProperties, DiscoveryServiceProperties, HttpNamespaceProperties,
    QueueProperties, ReplicationGroupProperties, SecretProperties, TableProperties,
};

/// CloudFormation resource type of a DynamoDB table.
pub const TABLE_TYPE: &str = "AWS::DynamoDB::Table";
/// CloudFormation resource type of an SQS queue.
pub const QUEUE_TYPE: &str = "AWS::SQS::Queue";
/// SAM resource type of a Lambda function.
pub const FUNCTION_TYPE: &str = "AWS::Serverless::Function";
/// SAM resource type of an API Gateway HTTP API.
pub const HTTP_API_TYPE: &str = "AWS::Serverless::HttpApi";

/// CloudFormation resource type of an ElastiCache replication group (the cache).
pub const CACHE_TYPE: &str = "AWS::ElastiCache::ReplicationGroup";

/// CloudFormation resource type of a Cloud Map HTTP namespace.
pub const HTTP_NAMESPACE_TYPE: &str = "AWS::ServiceDiscovery::HttpNamespace";
/// CloudFormation resource type of a Cloud Map service.
pub const DISCOVERY_SERVICE_TYPE: &str = "AWS::ServiceDiscovery::Service";
/// CloudFormation resource type of a Cloud Map service instance.
pub const DISCOVERY_INSTANCE_TYPE: &str = "AWS::ServiceDiscovery::Instance";
/// CloudFormation resource type of a Secrets Manager secret.
pub const SECRET_TYPE: &str = "AWS::SecretsManager::Secret";

/// Most `[` and `{` characters (flow sequences and mappings, `${}` of `!Sub` included) a
/// template may contain; the project's has under 400. libyaml's scanner costs time quadratic in
/// the nesting of flow collections (it walks its stack of possible simple keys on every token):
/// 20 000 nested `!Join [-, [` took 47 s to be refused by serde_norway's 128-level recursion
/// limit (found by the `template` fuzz target). Nesting is at most the number of openers, so
/// this bound caps the parse at well under a second.
pub const MAX_FLOW_COLLECTIONS: usize = 4096;

/// Refuses a text with more than [`MAX_FLOW_COLLECTIONS`] flow collection openers.
fn check_flow_collections(text: &str) -> Result<()> {
    let openers = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    if openers > MAX_FLOW_COLLECTIONS {
        anyhow::bail!(
            "the template has {openers} `[` and `{{`, more than the {MAX_FLOW_COLLECTIONS} accepted"
        );
    }
    Ok(())
}

/// A parsed SAM template.
#[derive(Debug, Clone)]
pub struct Template {
    /// `Resources`, by logical id, in file order.
    pub resources: Vec<Resource>,
    /// `Parameters` with their `Default` values, as strings (a parameter without one is absent).
    pub parameter_defaults: BTreeMap<String, String>,
    /// Every one of `Parameters`, by name, in file order.
    pub parameters: IndexMap<String, Parameter>,
    /// `Globals.Function`, under every function's own properties.
    pub function_globals: FunctionProperties,
}

/// One entry of `Resources`.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Logical id, e.g. `OrdersQueue`.
    pub logical_id: String,
    /// `Type`, e.g. `AWS::SQS::Queue`.
    pub kind: String,
    /// `Properties` (and a function's `Metadata`), typed by `kind`.
    pub properties: Properties,
}

/// A resource's properties, by resource type.
#[derive(Debug, Clone)]
pub enum Properties {
    /// [`FUNCTION_TYPE`].
    Function(Box<FunctionResource>),
    /// [`TABLE_TYPE`].
    Table(Box<TableProperties>),
    /// [`QUEUE_TYPE`].
    Queue(Box<QueueProperties>),
    /// [`HTTP_API_TYPE`].
    HttpApi(Box<HttpApiProperties>),
    /// [`CACHE_TYPE`].
    Cache(Box<ReplicationGroupProperties>),
    /// [`HTTP_NAMESPACE_TYPE`].
    HttpNamespace(Box<HttpNamespaceProperties>),
    /// [`DISCOVERY_SERVICE_TYPE`].
    DiscoveryService(Box<DiscoveryServiceProperties>),
    /// [`DISCOVERY_INSTANCE_TYPE`].
    DiscoveryInstance(Box<DiscoveryInstanceProperties>),
    /// [`SECRET_TYPE`].
    Secret(Box<SecretProperties>),
    /// A type devstack does not read (alarms, policies…).
    Other,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document {
    #[serde(default)]
    parameters: IndexMap<String, Parameter>,
    #[serde(default)]
    globals: Globals,
    resources: IndexMap<String, RawResource>,
}

/// One of `Parameters` (what devstack reads of it).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    /// `Default`, as a string.
    #[serde(default, deserialize_with = "opt")]
    pub default: Option<String>,
    /// `AllowedValues` (empty: any value).
    #[serde(default)]
    pub allowed_values: Vec<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Globals {
    #[serde(default)]
    function: FunctionProperties,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawResource {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(default)]
    properties: Value,
    #[serde(default)]
    metadata: Value,
}

impl Template {
    /// Reads and parses a template file.
    ///
    /// # Errors
    /// The file cannot be read, or does not parse (see [`Template::parse`]).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading template {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing template {}", path.display()))
    }

    /// Parses template text.
    ///
    /// # Errors
    /// Not YAML; no `Resources`; or a resource devstack reads (function, table, queue, HTTP
    /// API) misses a required property, has one of the wrong type, or uses an intrinsic
    /// devstack does not support. The message names the resource and the property, e.g.
    /// `resource Fn (AWS::Serverless::Function): property Events.Jobs: Properties: missing field `Queue``.
    /// More than [`MAX_FLOW_COLLECTIONS`] `[` and `{` in the text is an error before parsing.
    pub fn parse(text: &str) -> Result<Self> {
        check_flow_collections(text)?;
        let doc: Document = typed(serde_norway::from_str::<Value>(text)?)?;
        let mut resources = Vec::new();
        for (logical_id, raw) in doc.resources {
            let properties = match raw.kind.as_str() {
                FUNCTION_TYPE => typed(raw.properties)
                    .and_then(|p| {
                        let metadata: FunctionMetadata =
                            typed(raw.metadata).map_err(|e| anyhow::anyhow!("Metadata: {e}"))?;
                        FunctionResource::new(p, metadata)
                    })
                    .map(|f| Properties::Function(Box::new(f))),
                TABLE_TYPE => typed(raw.properties).map(|p| Properties::Table(Box::new(p))),
                QUEUE_TYPE => typed(raw.properties).map(|p| Properties::Queue(Box::new(p))),
                HTTP_API_TYPE => typed(raw.properties).map(|p| Properties::HttpApi(Box::new(p))),
                CACHE_TYPE => typed(raw.properties).map(|p| Properties::Cache(Box::new(p))),
                HTTP_NAMESPACE_TYPE => {
                    typed(raw.properties).map(|p| Properties::HttpNamespace(Box::new(p)))
                }
                DISCOVERY_SERVICE_TYPE => {
                    typed(raw.properties).map(|p| Properties::DiscoveryService(Box::new(p)))
                }
                DISCOVERY_INSTANCE_TYPE => {
                    typed(raw.properties).map(|p| Properties::DiscoveryInstance(Box::new(p)))
                }
                SECRET_TYPE => typed(raw.properties).map(|p| Properties::Secret(Box::new(p))),
                _ => Ok(Properties::Other),
            }
            .with_context(|| format!("resource {logical_id} ({})", raw.kind))?;
            resources.push(Resource {
                logical_id,
                kind: raw.kind,
                properties,
            });
        }
        let parameter_defaults = doc
            .parameters
            .iter()
            .filter_map(|(name, p)| Some((name.clone(), p.default.clone()?)))
            .collect();
        Ok(Self {
            resources,
            parameter_defaults,
            parameters: doc.parameters,
            function_globals: doc.globals.function,
        })
    }

    /// Checks a value given for parameter `name` (as `sam deploy --parameter-overrides` would).
    ///
    /// # Errors
    /// The template has no such parameter, or the value is not one of its `AllowedValues`.
    pub fn check_parameter(&self, name: &str, value: &str) -> Result<()> {
        let Some(p) = self.parameters.get(name) else {
            let known: Vec<_> = self.parameters.keys().map(String::as_str).collect();
            anyhow::bail!(
                "the template has no parameter {name} (parameters: {})",
                known.join(", ")
            );
        };
        if !p.allowed_values.is_empty() && !p.allowed_values.iter().any(|v| v == value) {
            anyhow::bail!(
                "parameter {name}: {value:?} is not one of {}",
                p.allowed_values.join(", ")
            );
        }
        Ok(())
    }

    /// Resources of one type, in file order.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.resources.iter().filter(move |r| r.kind == kind)
    }

    /// The resource with this logical id.
    pub fn resource(&self, logical_id: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.logical_id == logical_id)
    }

    /// The tables, as `(logical id, properties)`, in file order.
    pub fn tables(&self) -> impl Iterator<Item = (&str, &TableProperties)> + '_ {
        self.resources.iter().filter_map(|r| match &r.properties {
            Properties::Table(p) => Some((r.logical_id.as_str(), p.as_ref())),
            _ => None,
        })
    }

    /// The queues, as `(logical id, properties)`, in file order.
    pub fn queues(&self) -> impl Iterator<Item = (&str, &QueueProperties)> + '_ {
        self.resources.iter().filter_map(|r| match &r.properties {
            Properties::Queue(p) => Some((r.logical_id.as_str(), p.as_ref())),
            _ => None,
        })
    }

    /// The caches (ElastiCache replication groups), as `(logical id, properties)`, in file
    /// order.
    pub fn caches(&self) -> impl Iterator<Item = (&str, &ReplicationGroupProperties)> + '_ {
        self.resources.iter().filter_map(|r| match &r.properties {
            Properties::Cache(p) => Some((r.logical_id.as_str(), p.as_ref())),
            _ => None,
        })
    }

    /// The template's HTTP API (the first `AWS::Serverless::HttpApi`), if it has one.
    ///
    /// # Errors
    /// An authorizer that is not a JWT authorizer (devstack emulates JWT authorizers only).
    pub fn http_api(&self) -> Result<Option<HttpApi>> {
        self.resources
            .iter()
            .find_map(|r| match &r.properties {
                Properties::HttpApi(p) => Some(HttpApi::new(&r.logical_id, p)),
                _ => None,
            })
            .transpose()
    }

    /// Checks the rule Lambda applies when it creates an SQS event source mapping: the queue's
    /// `VisibilityTimeout` (SQS default 30 s) must be at least the consuming function's
    /// `Timeout`, else `CreateEventSourceMapping` fails and so does the stack
    /// (Lambda developer guide, "Using Lambda with Amazon SQS": "set the source queue's
    /// visibility timeout to at least six times the timeout that you configure on your
    /// function"; the API refuses one below the function timeout). Queues named by something
    /// other than `!GetAtt <Queue>.Arn` of this template are not checked.
    ///
    /// # Errors
    /// The first mapping that breaks the rule, with the message CloudFormation shows for the
    /// mapping's resource (`<FunctionId><EventName>`, as SAM names it).
    pub fn check_event_source_timeouts(&self) -> Result<()> {
        let queues: BTreeMap<&str, &QueueProperties> = self.queues().collect();
        for f in self.functions()? {
            for e in &f.sqs_events {
                let Expr::GetAtt {
                    resource,
                    attribute,
                } = &e.queue
                else {
                    continue;
                };
                let Some(queue) = queues.get(resource.as_str()).filter(|_| attribute == "Arn")
                else {
                    continue;
                };
                let visibility = queue
                    .visibility_timeout
                    .unwrap_or(SQS_DEFAULT_VISIBILITY_SECS);
                if u64::from(visibility) < f.timeout_secs {
                    anyhow::bail!(
                        "{}{} (AWS::Lambda::EventSourceMapping) CREATE_FAILED: Resource handler returned message: \"Invalid request provided: Queue visibility timeout: {visibility} seconds is less than Function timeout: {} seconds\" (queue {resource}, function {}: raise the queue's VisibilityTimeout or lower the function's Timeout)",
                        f.logical_id,
                        e.name,
                        f.timeout_secs,
                        f.logical_id
                    );
                }
            }
        }
        Ok(())
    }

    /// Every `AWS::Serverless::Function`, with `Globals.Function` applied, in file order.
    ///
    /// # Errors
    /// None today: everything is checked at load. The `Result` keeps callers unchanged when
    /// a later check needs both a function and the rest of the template.
    pub fn functions(&self) -> Result<Vec<Function>> {
        Ok(self
            .resources
            .iter()
            .filter_map(|r| match &r.properties {
                Properties::Function(f) => {
                    Some(Function::new(&r.logical_id, f, &self.function_globals))
                }
                _ => None,
            })
            .collect())
    }
}
