//! The SAM template as devstack reads it: functions with their routes, queue and stream events
//! and environment, tables and queues — and the resolution of the intrinsics (`!Ref`, `!GetAtt`,
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
/// SAM resource type of an API Gateway HTTP API.
pub const HTTP_API_TYPE: &str = "AWS::Serverless::HttpApi";

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
    /// The function's `DynamoDB` events (stream event source mappings).
    pub dynamodb_events: Vec<DynamoDbEvent>,
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
    /// `Auth.Authorizer` of the event.
    pub auth: RouteAuth,
    /// `Auth.AuthorizationScopes`: the token needs one of them (empty: the authorizer's own
    /// `AuthorizationScopes`, if any).
    pub scopes: Vec<String>,
}

impl HttpRoute {
    /// A route with the API's default authorization and no scopes.
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            auth: RouteAuth::ApiDefault,
            scopes: Vec::new(),
        }
    }

    /// `GET /users/{id}`, or `$default`: the key of `RouteSettings` and of the event's `routeKey`.
    pub fn route_key(&self) -> String {
        if self.path == "$default" {
            "$default".to_owned()
        } else {
            format!("{} {}", self.method, self.path)
        }
    }
}

/// Which authorizer guards a route (`Auth.Authorizer` of an `HttpApi` event).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RouteAuth {
    /// Not set: the API's `Auth.DefaultAuthorizer`, or none.
    #[default]
    ApiDefault,
    /// `Authorizer: NONE`: a public route, even when the API has a default authorizer.
    Public,
    /// `Authorizer: <name>`: one of the API's `Auth.Authorizers`.
    Named(String),
}

/// The template's `AWS::Serverless::HttpApi`: authorizers and throttling.
#[derive(Debug, Clone, Default)]
pub struct HttpApi {
    /// Logical id, e.g. `HttpApi`.
    pub logical_id: String,
    /// `Auth.Authorizers` by name (JWT authorizers only).
    pub authorizers: BTreeMap<String, JwtAuthorizerConfig>,
    /// `Auth.DefaultAuthorizer`: guards every route that does not say otherwise.
    pub default_authorizer: Option<String>,
    /// `DefaultRouteSettings` throttling: every route's own token bucket.
    pub default_throttle: Throttle,
    /// `RouteSettings` throttling by route key (`GET /health`), over the defaults.
    pub route_throttles: BTreeMap<String, Throttle>,
}

/// A JWT authorizer of the API (`Auth.Authorizers.<name>` with a `JwtConfiguration`).
#[derive(Debug, Clone, PartialEq)]
pub struct JwtAuthorizerConfig {
    /// `IdentitySource`, e.g. `$request.header.Authorization`.
    pub identity_source: String,
    /// `JwtConfiguration.issuer` (an expression, unresolved).
    pub issuer: Value,
    /// `JwtConfiguration.audience` entries (expressions, unresolved).
    pub audience: Vec<Value>,
    /// `AuthorizationScopes`: scopes every route of this authorizer needs unless the route
    /// gives its own.
    pub scopes: Vec<String>,
}

/// A route's throttling (`ThrottlingRateLimit`, `ThrottlingBurstLimit` of route settings): a
/// token bucket refilled at `rate_per_sec` holding at most `burst` requests. `None` is
/// unlimited (locally; in AWS the account's quota applies).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Throttle {
    /// `ThrottlingRateLimit`: steady-state requests per second.
    pub rate_per_sec: Option<f64>,
    /// `ThrottlingBurstLimit`: requests allowed at once.
    pub burst: Option<u32>,
}

impl Throttle {
    fn from_settings(v: &Value) -> Self {
        Self {
            rate_per_sec: v.get("ThrottlingRateLimit").and_then(Value::as_f64),
            burst: v
                .get("ThrottlingBurstLimit")
                .and_then(Value::as_u64)
                .and_then(|b| u32::try_from(b).ok()),
        }
    }

    /// `self`'s values where set, else `fallback`'s.
    pub fn or(self, fallback: Throttle) -> Throttle {
        Throttle {
            rate_per_sec: self.rate_per_sec.or(fallback.rate_per_sec),
            burst: self.burst.or(fallback.burst),
        }
    }
}

impl HttpApi {
    /// The name of the authorizer guarding `route`, or `None` for a public route.
    ///
    /// # Errors
    /// The route or the API names an authorizer the API does not define.
    pub fn authorizer_of<'a>(&'a self, route: &'a HttpRoute) -> Result<Option<&'a str>> {
        let name = match &route.auth {
            RouteAuth::Public => return Ok(None),
            RouteAuth::Named(name) => Some(name.as_str()),
            RouteAuth::ApiDefault => self.default_authorizer.as_deref(),
        };
        match name {
            Some(n) if !self.authorizers.contains_key(n) => bail!(
                "route {} uses authorizer {n}, which {} does not define",
                route.route_key(),
                self.logical_id
            ),
            other => Ok(other),
        }
    }

    /// The throttling of the route with key `route_key`: its `RouteSettings` over the
    /// `DefaultRouteSettings`.
    pub fn throttle(&self, route_key: &str) -> Throttle {
        self.route_throttles
            .get(route_key)
            .copied()
            .unwrap_or_default()
            .or(self.default_throttle)
    }
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
    /// `ScalingConfig.MaximumConcurrency`: most batches of this queue in flight at once
    /// (`None`: no cap beyond devstack's `--concurrency`).
    pub maximum_concurrency: Option<u32>,
}

/// Where a stream event source mapping starts reading a shard it has no checkpoint for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// `TRIM_HORIZON`: the oldest record still in the stream (24 hours back at most in AWS).
    TrimHorizon,
    /// `LATEST`: only records written after the mapping starts.
    Latest,
}

/// A `DynamoDB` event: one stream event source mapping.
#[derive(Debug, Clone)]
pub struct DynamoDbEvent {
    /// Event name in the template, e.g. `Outbox`.
    pub name: String,
    /// `Stream` (a stream ARN expression such as `!GetAtt Table.StreamArn`, unresolved).
    pub stream: Value,
    /// `StartingPosition` (required; `AT_TIMESTAMP` is not supported locally).
    pub starting_position: StartingPosition,
    /// `BatchSize` (AWS default 100).
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds` (default 0).
    pub batching_window_secs: u64,
    /// `MaximumRetryAttempts`: retries of a failed batch before its records are discarded;
    /// `None` for -1 or absent (retry until the record expires, i.e. forever locally).
    pub maximum_retry_attempts: Option<u32>,
    /// `MaximumRecordAgeInSeconds`: older records are discarded unprocessed; `None` for -1 or
    /// absent (no limit).
    pub maximum_record_age_secs: Option<u64>,
    /// `BisectBatchOnFunctionError`: split a batch in two after a function error.
    pub bisect_batch_on_function_error: bool,
    /// `FunctionResponseTypes` contains `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
    /// `FilterCriteria.Filters[].Pattern`, each parsed from its JSON text; a record is delivered
    /// when it matches any of them (or when there are none).
    pub filter_patterns: Vec<serde_json::Value>,
    /// `Enabled` (default true): a disabled mapping does not poll.
    pub enabled: bool,
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

    /// The template's HTTP API (the first `AWS::Serverless::HttpApi`), if it has one.
    ///
    /// # Errors
    /// An authorizer that is not a JWT authorizer (devstack emulates JWT authorizers only) or
    /// without an issuer.
    pub fn http_api(&self) -> Result<Option<HttpApi>> {
        let Some(r) = self.of_kind(HTTP_API_TYPE).next() else {
            return Ok(None);
        };
        let props = Value::Mapping(r.properties.clone());
        let auth = props.get("Auth").cloned().unwrap_or(Value::Null);
        let mut authorizers = BTreeMap::new();
        if let Some(map) = auth.get("Authorizers").and_then(Value::as_mapping) {
            for (name, body) in map {
                let name = name.as_str().unwrap_or_default().to_owned();
                let jwt = body.get("JwtConfiguration").ok_or_else(|| {
                    anyhow!("authorizer {name}: devstack emulates JWT authorizers only (no JwtConfiguration)")
                })?;
                let issuer = jwt
                    .get("issuer")
                    .cloned()
                    .ok_or_else(|| anyhow!("authorizer {name}: JwtConfiguration has no issuer"))?;
                let audience = match jwt.get("audience") {
                    Some(Value::Sequence(items)) => items.clone(),
                    Some(one) => vec![one.clone()],
                    None => Vec::new(),
                };
                authorizers.insert(
                    name,
                    JwtAuthorizerConfig {
                        identity_source: body
                            .get("IdentitySource")
                            .and_then(Value::as_str)
                            .unwrap_or("$request.header.Authorization")
                            .to_owned(),
                        issuer,
                        audience,
                        scopes: strings(body.get("AuthorizationScopes")),
                    },
                );
            }
        }
        let route_throttles = props
            .get("RouteSettings")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), Throttle::from_settings(v))))
            .collect();
        Ok(Some(HttpApi {
            logical_id: r.logical_id.clone(),
            authorizers,
            default_authorizer: auth
                .get("DefaultAuthorizer")
                .and_then(Value::as_str)
                .map(str::to_owned),
            default_throttle: props
                .get("DefaultRouteSettings")
                .map(Throttle::from_settings)
                .unwrap_or_default(),
            route_throttles,
        }))
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
        let mut dynamodb_events = Vec::new();
        if let Some(events) = r.properties.get("Events").and_then(Value::as_mapping) {
            for (name, event) in events {
                let name = name.as_str().unwrap_or_default().to_owned();
                let props = event.get("Properties").cloned().unwrap_or(Value::Null);
                match event.get("Type").and_then(Value::as_str) {
                    Some("HttpApi") => {
                        let path = props.get("Path").and_then(Value::as_str);
                        let method = props.get("Method").and_then(Value::as_str);
                        let mut route = match (path, method) {
                            (Some(p), Some(m)) => HttpRoute::new(m, p),
                            // An HttpApi event without Path and Method is the `$default` route.
                            _ => HttpRoute::new("ANY", "$default"),
                        };
                        if let Some(auth) = props.get("Auth") {
                            route.auth = match auth.get("Authorizer").and_then(Value::as_str) {
                                None => RouteAuth::ApiDefault,
                                Some("NONE") => RouteAuth::Public,
                                Some(name) => RouteAuth::Named(name.to_owned()),
                            };
                            route.scopes = strings(auth.get("AuthorizationScopes"));
                        }
                        http_routes.push(route);
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
                            report_batch_item_failures: report_batch_item_failures(&props),
                            maximum_concurrency: props
                                .get("ScalingConfig")
                                .and_then(|s| s.get("MaximumConcurrency"))
                                .and_then(Value::as_u64)
                                .and_then(|n| u32::try_from(n).ok()),
                        });
                    }
                    Some("DynamoDB") => {
                        dynamodb_events.push(
                            dynamodb_event(&name, &props)
                                .with_context(|| format!("function {id}, event {name}"))?,
                        );
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
            dynamodb_events,
            log_format,
        })
    }
}

/// A list of plain strings (`[a, b]`), or empty.
fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// `FunctionResponseTypes` of an event contains `ReportBatchItemFailures`.
fn report_batch_item_failures(props: &Value) -> bool {
    props
        .get("FunctionResponseTypes")
        .and_then(Value::as_sequence)
        .is_some_and(|s| {
            s.iter()
                .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
        })
}

/// A `DynamoDB` event's properties (SAM defaults where absent).
fn dynamodb_event(name: &str, props: &Value) -> Result<DynamoDbEvent> {
    let stream = props
        .get("Stream")
        .cloned()
        .ok_or_else(|| anyhow!("no Stream"))?;
    let starting_position = match props.get("StartingPosition").and_then(Value::as_str) {
        Some("TRIM_HORIZON") => StartingPosition::TrimHorizon,
        Some("LATEST") => StartingPosition::Latest,
        Some(other) => {
            bail!("StartingPosition {other} is not supported locally (TRIM_HORIZON or LATEST)")
        }
        None => bail!("no StartingPosition (TRIM_HORIZON or LATEST)"),
    };
    // -1 (or absent) means "no limit" for both.
    let limit = |key: &str| -> Result<Option<u64>> {
        match props.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_i64() {
                Some(-1) => Ok(None),
                Some(n) if n >= 0 => Ok(u64::try_from(n).ok()),
                _ => bail!("{key} must be -1 or a non-negative integer, got {v:?}"),
            },
        }
    };
    let maximum_retry_attempts = limit("MaximumRetryAttempts")?
        .map(u32::try_from)
        .transpose()?;
    let maximum_record_age_secs = limit("MaximumRecordAgeInSeconds")?;
    let mut filter_patterns = Vec::new();
    if let Some(filters) = props
        .get("FilterCriteria")
        .and_then(|f| f.get("Filters"))
        .and_then(Value::as_sequence)
    {
        for f in filters {
            let text = f
                .get("Pattern")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("FilterCriteria.Filters[].Pattern must be a JSON string"))?;
            let pattern: serde_json::Value = serde_json::from_str(text)
                .with_context(|| format!("filter pattern {text} is not JSON"))?;
            crate::filter::Pattern::parse(&pattern)
                .with_context(|| format!("filter pattern {text}"))?;
            filter_patterns.push(pattern);
        }
    }
    Ok(DynamoDbEvent {
        name: name.to_owned(),
        stream,
        starting_position,
        batch_size: props
            .get("BatchSize")
            .and_then(Value::as_u64)
            .map_or(100, |b| u32::try_from(b).unwrap_or(100)),
        batching_window_secs: props
            .get("MaximumBatchingWindowInSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        maximum_retry_attempts,
        maximum_record_age_secs,
        bisect_batch_on_function_error: props
            .get("BisectBatchOnFunctionError")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        report_batch_item_failures: report_batch_item_failures(props),
        filter_patterns,
        enabled: props
            .get("Enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    })
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
    /// What `!GetAtt Id.Attr` returns, by attribute name (`Arn`, `QueueName`, `QueueUrl`,
    /// a table's `StreamArn`…).
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
  T:
    Type: AWS::DynamoDB::Table
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
            ScalingConfig: { MaximumConcurrency: 3 }
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt T.StreamArn
            StartingPosition: LATEST
            BatchSize: 25
            MaximumBatchingWindowInSeconds: 2
            MaximumRetryAttempts: 4
            MaximumRecordAgeInSeconds: 3600
            BisectBatchOnFunctionError: true
            FunctionResponseTypes: [ReportBatchItemFailures]
            FilterCriteria:
              Filters:
                - Pattern: '{"eventName": ["INSERT"]}'
                - Pattern: '{"dynamodb": {"NewImage": {"kind": {"S": ["urgent"]}}}}'
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
        r.resources.insert(
            "T".into(),
            Physical {
                reference: "shop-T".into(),
                attributes: [
                    ("Arn", "arn:t"),
                    ("StreamArn", "arn:t/stream/2024-01-01T00:00:00.000"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            },
        );
        r
    }

    const API_TEMPLATE: &str = r#"
Parameters:
  Issuer: { Type: String }
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            AuthorizationScopes: [shop/read]
            JwtConfiguration: { issuer: !Ref Issuer, audience: [client-a, client-b] }
      DefaultRouteSettings: { ThrottlingBurstLimit: 100, ThrottlingRateLimit: 50 }
      RouteSettings:
        "GET /health": { ThrottlingBurstLimit: 10 }
  Fn:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: my-fn } }
    Properties:
      Events:
        Private: { Type: HttpApi, Properties: { Path: /orders, Method: post } }
        Public: { Type: HttpApi, Properties: { Path: /health, Method: get, Auth: { Authorizer: NONE } } }
        Scoped:
          Type: HttpApi
          Properties: { Path: /admin, Method: get, Auth: { Authorizer: Jwt, AuthorizationScopes: [shop/admin] } }
        Broken: { Type: HttpApi, Properties: { Path: /x, Method: get, Auth: { Authorizer: Nope } } }
"#;

    #[test]
    fn the_http_api_gives_jwt_authorizers_and_route_authorization() {
        let t = Template::parse(API_TEMPLATE).unwrap();
        let api = t.http_api().unwrap().unwrap();
        let routes = &t.functions().unwrap()[0].http_routes;

        let jwt = &api.authorizers["Jwt"];
        assert_eq!(jwt.audience.len(), 2);
        assert_eq!(jwt.scopes, ["shop/read"]);
        assert_eq!(api.authorizer_of(&routes[0]).unwrap(), Some("Jwt"));
        assert_eq!(api.authorizer_of(&routes[1]).unwrap(), None);
        assert_eq!(routes[1].auth, RouteAuth::Public);
        assert_eq!(routes[2].scopes, ["shop/admin"]);
        let error = api.authorizer_of(&routes[3]).unwrap_err().to_string();
        assert!(error.contains("Nope"), "{error}");
    }

    #[test]
    fn route_settings_override_the_default_throttling_field_by_field() {
        let api = Template::parse(API_TEMPLATE)
            .unwrap()
            .http_api()
            .unwrap()
            .unwrap();

        assert_eq!(
            api.throttle("GET /health"),
            Throttle {
                rate_per_sec: Some(50.0),
                burst: Some(10)
            }
        );
        assert_eq!(
            api.throttle("POST /orders"),
            Throttle {
                rate_per_sec: Some(50.0),
                burst: Some(100)
            }
        );
    }

    #[test]
    fn a_non_jwt_authorizer_is_refused_by_name() {
        let t = Template::parse(
            "Resources:\n  Api:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n      Auth:\n        Authorizers:\n          Lambda: { FunctionArn: arn }\n",
        )
        .unwrap();

        let error = t.http_api().unwrap_err().to_string();

        assert!(error.contains("Lambda") && error.contains("JWT"), "{error}");
    }

    #[test]
    fn the_project_template_guards_every_route_but_health_and_catalog_reads() {
        let t = Template::load(&crate::workspace_root().join("template.yaml")).unwrap();
        let api = t.http_api().unwrap().unwrap();
        let mut public = Vec::new();
        for f in t.functions().unwrap() {
            for r in &f.http_routes {
                match api.authorizer_of(r).unwrap() {
                    None => public.push(r.route_key()),
                    Some(name) => assert_eq!(name, "CognitoJwt", "{}", r.route_key()),
                }
            }
        }
        public.sort();
        assert_eq!(
            public,
            ["GET /health", "GET /products", "GET /products/{id}"]
        );
        assert!(api.throttle("GET /health").burst < api.throttle("POST /orders").burst);
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
        assert_eq!(f.http_routes, vec![HttpRoute::new("GET", "/things/{id}")]);
        let sqs = &f.sqs_events[0];
        assert_eq!((sqs.batch_size, sqs.report_batch_item_failures), (5, true));
        assert_eq!(resolver(&t).string(&sqs.queue).unwrap(), "arn:q");
    }

    #[test]
    fn a_dynamodb_event_becomes_a_stream_mapping_with_its_properties() {
        let t = Template::parse(TEMPLATE).unwrap();
        let f = &t.functions().unwrap()[0];
        assert_eq!(f.sqs_events[0].maximum_concurrency, Some(3));
        let e = &f.dynamodb_events[0];
        assert_eq!(e.name, "Changes");
        assert_eq!(e.starting_position, StartingPosition::Latest);
        assert_eq!((e.batch_size, e.batching_window_secs), (25, 2));
        assert_eq!(e.maximum_retry_attempts, Some(4));
        assert_eq!(e.maximum_record_age_secs, Some(3600));
        assert!(e.bisect_batch_on_function_error && e.report_batch_item_failures && e.enabled);
        assert_eq!(
            e.filter_patterns,
            vec![
                serde_json::json!({"eventName": ["INSERT"]}),
                serde_json::json!({"dynamodb": {"NewImage": {"kind": {"S": ["urgent"]}}}}),
            ]
        );
        assert_eq!(
            resolver(&t).string(&e.stream).unwrap(),
            "arn:t/stream/2024-01-01T00:00:00.000"
        );
    }

    #[test]
    fn minus_one_and_absent_limits_mean_no_limit_and_defaults_follow_aws() {
        let t = Template::parse(
            r#"
Resources:
  F:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: f } }
    Properties:
      Events:
        S:
          Type: DynamoDB
          Properties:
            Stream: arn:s
            StartingPosition: TRIM_HORIZON
            MaximumRetryAttempts: -1
"#,
        )
        .unwrap();
        let e = &t.functions().unwrap()[0].dynamodb_events[0];
        assert_eq!(e.starting_position, StartingPosition::TrimHorizon);
        assert_eq!((e.batch_size, e.batching_window_secs), (100, 0));
        assert_eq!(
            (e.maximum_retry_attempts, e.maximum_record_age_secs),
            (None, None)
        );
        assert!(!e.bisect_batch_on_function_error && !e.report_batch_item_failures);
        assert!(e.filter_patterns.is_empty());
    }

    #[test]
    fn the_project_template_relays_outbox_inserts_from_the_start_of_the_stream_forever() {
        let t = Template::load(&crate::workspace_root().join("template.yaml")).unwrap();
        let functions = t.functions().unwrap();
        let relay = functions
            .iter()
            .find(|f| f.logical_id == "RelayOutboxFunction")
            .unwrap();
        let e = &relay.dynamodb_events[0];
        assert_eq!(e.starting_position, StartingPosition::TrimHorizon);
        assert_eq!(e.maximum_retry_attempts, None);
        assert!(e.report_batch_item_failures);
        assert_eq!(
            e.filter_patterns,
            vec![serde_json::json!({"eventName": ["INSERT"]})]
        );
    }

    #[test]
    fn a_stream_event_without_a_starting_position_or_with_a_bad_pattern_is_rejected() {
        let event = |extra: &str| {
            format!(
                "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: {{ BuildProperties: {{ Binary: f }} }}\n    Properties:\n      Events:\n        S: {{ Type: DynamoDB, Properties: {{ Stream: arn:s{extra} }} }}\n"
            )
        };
        let err = |extra: &str| {
            format!(
                "{:#}",
                Template::parse(&event(extra))
                    .unwrap()
                    .functions()
                    .unwrap_err()
            )
        };
        assert!(err("").contains("StartingPosition"), "{}", err(""));
        let bad = r#", StartingPosition: LATEST, FilterCriteria: { Filters: [ { Pattern: "{eventName" } ] }"#;
        assert!(err(bad).contains("not JSON"), "{}", err(bad));
        assert!(err(", StartingPosition: AT_TIMESTAMP").contains("AT_TIMESTAMP"));
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
