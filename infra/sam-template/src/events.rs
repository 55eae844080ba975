//! A function's `Events` as serde types: `HttpApi` routes, `SQS` event source mappings and
//! `DynamoDB` stream event source mappings, with SAM's defaults applied. Other event types are
//! kept by name and type only.

use serde::{Deserialize, Deserializer};
use serde_norway::Value;

use crate::de::{self, limit, opt};
use crate::expr::Expr;

/// One entry of a function's `Events`, its `Properties` typed by its `Type`.
#[derive(Debug, Clone)]
pub enum Event {
    /// `Type: HttpApi`.
    HttpApi(HttpRoute),
    /// `Type: SQS`.
    Sqs(SqsEventProperties),
    /// `Type: DynamoDB`.
    DynamoDb(DynamoDbEventProperties),
    /// Any other type (devstack does not emulate it), by its `Type`.
    Other(String),
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Raw {
            #[serde(rename = "Type")]
            kind: String,
            #[serde(default)]
            properties: Value,
        }
        let raw = Raw::deserialize(d)?;
        let typed = |r: Result<Event, String>| r.map_err(serde::de::Error::custom);
        match raw.kind.as_str() {
            "HttpApi" => typed(
                de::nested::<HttpApiEventProperties>(raw.properties, "Properties")
                    .map(|p| Event::HttpApi(p.into())),
            ),
            "SQS" => typed(de::nested(raw.properties, "Properties").map(Event::Sqs)),
            "DynamoDB" => typed(de::nested(raw.properties, "Properties").map(Event::DynamoDb)),
            _ => Ok(Event::Other(raw.kind)),
        }
    }
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HttpApiEventProperties {
    path: Option<String>,
    method: Option<String>,
    auth: Option<EventAuth>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EventAuth {
    authorizer: Option<String>,
    #[serde(default)]
    authorization_scopes: Vec<String>,
}

impl From<HttpApiEventProperties> for HttpRoute {
    fn from(p: HttpApiEventProperties) -> Self {
        let mut route = match (&p.path, &p.method) {
            (Some(path), Some(method)) => HttpRoute::new(method, path),
            // An HttpApi event without Path and Method is the `$default` route.
            _ => HttpRoute::new("ANY", "$default"),
        };
        if let Some(auth) = p.auth {
            route.auth = match auth.authorizer.as_deref() {
                None => RouteAuth::ApiDefault,
                Some("NONE") => RouteAuth::Public,
                Some(name) => RouteAuth::Named(name.to_owned()),
            };
            route.scopes = auth.authorization_scopes;
        }
        route
    }
}

/// `ScalingConfig` of an SQS event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingConfig {
    /// `MaximumConcurrency`.
    #[serde(default, deserialize_with = "opt")]
    pub maximum_concurrency: Option<u32>,
}

/// `DestinationConfig` of an event source mapping.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationConfig {
    /// `OnFailure`: where records that failed every retry go.
    pub on_failure: Option<OnFailure>,
}

/// `DestinationConfig.OnFailure`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OnFailure {
    /// `Destination`: an SQS queue or SNS topic ARN (unresolved).
    pub destination: Expr,
}

/// The `Properties` of an `SQS` event, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SqsEventProperties {
    /// `Queue` (required): the queue's ARN.
    pub queue: Expr,
    /// `BatchSize`.
    #[serde(default, deserialize_with = "opt")]
    pub batch_size: Option<u32>,
    /// `MaximumBatchingWindowInSeconds`.
    #[serde(default, deserialize_with = "opt")]
    pub maximum_batching_window_in_seconds: Option<u64>,
    /// `FunctionResponseTypes`.
    #[serde(default)]
    pub function_response_types: Vec<String>,
    /// `ScalingConfig`.
    pub scaling_config: Option<ScalingConfig>,
    /// `DestinationConfig`.
    pub destination_config: Option<DestinationConfig>,
}

/// An `SQS` event: one event source mapping.
#[derive(Debug, Clone)]
pub struct SqsEvent {
    /// Event name in the template, e.g. `OrdersQueue`.
    pub name: String,
    /// `Queue` (an ARN expression, unresolved).
    pub queue: Expr,
    /// `BatchSize` (AWS default 10).
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds` (default 0).
    pub batching_window_secs: u64,
    /// `FunctionResponseTypes` contains `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
    /// `ScalingConfig.MaximumConcurrency`: most batches of this queue in flight at once
    /// (`None`: no cap beyond devstack's `--concurrency`).
    pub maximum_concurrency: Option<u32>,
    /// `DestinationConfig.OnFailure.Destination` (an ARN expression, unresolved), if set.
    pub on_failure: Option<Expr>,
}

impl SqsEvent {
    /// The event `name` with SAM's defaults for what `p` leaves out.
    pub fn new(name: &str, p: SqsEventProperties) -> Self {
        Self {
            name: name.to_owned(),
            queue: p.queue,
            batch_size: p.batch_size.unwrap_or(10),
            batching_window_secs: p.maximum_batching_window_in_seconds.unwrap_or(0),
            report_batch_item_failures: reports_item_failures(&p.function_response_types),
            maximum_concurrency: p.scaling_config.and_then(|s| s.maximum_concurrency),
            on_failure: on_failure(p.destination_config),
        }
    }
}

/// Where a stream event source mapping starts reading a shard it has no checkpoint for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum StartingPosition {
    /// `TRIM_HORIZON`: the oldest record still in the stream (24 hours back at most in AWS).
    #[serde(rename = "TRIM_HORIZON")]
    TrimHorizon,
    /// `LATEST`: only records written after the mapping starts (`AT_TIMESTAMP` is not
    /// supported locally).
    #[serde(rename = "LATEST")]
    Latest,
}

/// `FilterCriteria` of an event source mapping.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FilterCriteria {
    /// `Filters`.
    #[serde(default)]
    pub filters: Vec<Filter>,
}

/// One of `FilterCriteria.Filters`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    /// `Pattern`, parsed from its JSON text.
    #[serde(deserialize_with = "json_text")]
    pub pattern: serde_json::Value,
}

fn json_text<'de, D: Deserializer<'de>>(d: D) -> Result<serde_json::Value, D::Error> {
    let text = String::deserialize(d)?;
    serde_json::from_str(&text)
        .map_err(|e| serde::de::Error::custom(format!("filter pattern {text} is not JSON: {e}")))
}

/// The `Properties` of a `DynamoDB` event, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DynamoDbEventProperties {
    /// `Stream` (required): the stream's ARN.
    pub stream: Expr,
    /// `StartingPosition` (required).
    pub starting_position: StartingPosition,
    /// `BatchSize`.
    #[serde(default, deserialize_with = "opt")]
    pub batch_size: Option<u32>,
    /// `MaximumBatchingWindowInSeconds`.
    #[serde(default, deserialize_with = "opt")]
    pub maximum_batching_window_in_seconds: Option<u64>,
    /// `MaximumRetryAttempts` (`None` for -1 or absent).
    #[serde(default, deserialize_with = "limit")]
    pub maximum_retry_attempts: Option<u32>,
    /// `MaximumRecordAgeInSeconds` (`None` for -1 or absent).
    #[serde(default, deserialize_with = "limit")]
    pub maximum_record_age_in_seconds: Option<u64>,
    /// `BisectBatchOnFunctionError`.
    #[serde(default, deserialize_with = "opt")]
    pub bisect_batch_on_function_error: Option<bool>,
    /// `FunctionResponseTypes`.
    #[serde(default)]
    pub function_response_types: Vec<String>,
    /// `FilterCriteria`.
    pub filter_criteria: Option<FilterCriteria>,
    /// `Enabled`.
    #[serde(default, deserialize_with = "opt")]
    pub enabled: Option<bool>,
    /// `DestinationConfig`.
    pub destination_config: Option<DestinationConfig>,
}

/// A `DynamoDB` event: one stream event source mapping.
#[derive(Debug, Clone)]
pub struct DynamoDbEvent {
    /// Event name in the template, e.g. `Outbox`.
    pub name: String,
    /// `Stream` (a stream ARN expression such as `!GetAtt Table.StreamArn`, unresolved).
    pub stream: Expr,
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
    /// when it matches any of them (or when there are none). Whether devstack supports a
    /// pattern's operators is checked where the mapping is built (devstack's `stack`).
    pub filter_patterns: Vec<serde_json::Value>,
    /// `Enabled` (default true): a disabled mapping does not poll.
    pub enabled: bool,
    /// `DestinationConfig.OnFailure.Destination` (an ARN expression, unresolved): where the
    /// records that exhausted their retries go, if set.
    pub on_failure: Option<Expr>,
}

impl DynamoDbEvent {
    /// The event `name` with SAM's defaults for what `p` leaves out.
    pub fn new(name: &str, p: DynamoDbEventProperties) -> Self {
        Self {
            name: name.to_owned(),
            stream: p.stream,
            starting_position: p.starting_position,
            batch_size: p.batch_size.unwrap_or(100),
            batching_window_secs: p.maximum_batching_window_in_seconds.unwrap_or(0),
            maximum_retry_attempts: p.maximum_retry_attempts,
            maximum_record_age_secs: p.maximum_record_age_in_seconds,
            bisect_batch_on_function_error: p.bisect_batch_on_function_error.unwrap_or(false),
            report_batch_item_failures: reports_item_failures(&p.function_response_types),
            filter_patterns: p
                .filter_criteria
                .map(|f| f.filters.into_iter().map(|f| f.pattern).collect())
                .unwrap_or_default(),
            enabled: p.enabled.unwrap_or(true),
            on_failure: on_failure(p.destination_config),
        }
    }
}

fn reports_item_failures(types: &[String]) -> bool {
    types.iter().any(|t| t == "ReportBatchItemFailures")
}

fn on_failure(config: Option<DestinationConfig>) -> Option<Expr> {
    config?.on_failure.map(|o| o.destination)
}
