//! `AWS::Serverless::Function` as serde types, and the merged view devstack runs: the function's
//! own settings over `Globals.Function`, its binary, environment and events.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use indexmap::IndexMap;
use serde::Deserialize;

use crate::de::opt;
use crate::events::{DynamoDbEvent, Event, HttpRoute, SqsEvent};
use crate::expr::Expr;

/// Lambda's default timeout when neither the function nor `Globals` set one (seconds).
const DEFAULT_TIMEOUT_SECS: u64 = 3;
/// Lambda's default memory when neither the function nor `Globals` set `MemorySize` (MB;
/// `AWS::Lambda::Function` `MemorySize`, "Default: 128").
const DEFAULT_MEMORY_SIZE_MB: u64 = 128;

/// The `Properties` of a function as written; also the shape of `Globals.Function` (which has
/// no `Events`). Properties devstack does not read (`Policies`, `Runtime`…) are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionProperties {
    /// `Timeout` in seconds.
    #[serde(default, deserialize_with = "opt")]
    pub timeout: Option<u64>,
    /// `MemorySize` in MB (Lambda's MB are MiB: 128 MB is 134,217,728 bytes).
    #[serde(default, deserialize_with = "opt")]
    pub memory_size: Option<u64>,
    /// `Environment`.
    pub environment: Option<Environment>,
    /// `LoggingConfig`.
    pub logging_config: Option<LoggingConfig>,
    /// `Events` by name, in file order.
    #[serde(default)]
    pub events: IndexMap<String, Event>,
}

/// `Environment` of a function.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    /// `Variables` by name, in file order.
    #[serde(default)]
    pub variables: IndexMap<String, Expr>,
}

/// `LoggingConfig` of a function.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    /// `LogFormat`: `JSON` or `Text`.
    pub log_format: Option<String>,
    /// `ApplicationLogLevel`: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `FATAL`.
    pub application_log_level: Option<Expr>,
}

/// The `Metadata` of a function (`rust-cargolambda` build).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionMetadata {
    /// `BuildProperties`.
    pub build_properties: Option<BuildProperties>,
}

/// `Metadata.BuildProperties` of a function.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BuildProperties {
    /// `Binary`: the cargo binary.
    pub binary: Option<String>,
}

/// A function resource as written: its properties and metadata.
#[derive(Debug, Clone)]
pub struct FunctionResource {
    /// `Properties`.
    pub properties: FunctionProperties,
    /// The cargo binary, from `Metadata.BuildProperties.Binary` (checked at load).
    pub binary: String,
}

impl FunctionResource {
    /// The resource from its `Properties` and `Metadata`.
    ///
    /// # Errors
    /// No `Metadata.BuildProperties.Binary`.
    pub fn new(properties: FunctionProperties, metadata: FunctionMetadata) -> Result<Self> {
        let binary = metadata
            .build_properties
            .and_then(|b| b.binary)
            .ok_or_else(|| {
                anyhow!("property Metadata.BuildProperties.Binary (the cargo binary) is missing")
            })?;
        Ok(Self { properties, binary })
    }
}

/// A Lambda function as the local cloud needs it.
#[derive(Debug, Clone, Default)]
pub struct Function {
    /// Logical id, e.g. `CreateUserFunction`.
    pub logical_id: String,
    /// Cargo binary name from `Metadata.BuildProperties.Binary` (rust-cargolambda build).
    pub binary: String,
    /// `Timeout` in seconds (function, else `Globals`, else Lambda's default of 3).
    pub timeout_secs: u64,
    /// `MemorySize` in MB (function, else `Globals`, else Lambda's default of 128).
    pub memory_size_mb: u64,
    /// `Globals.Function.Environment.Variables` overlaid with the function's own, unresolved.
    pub environment: BTreeMap<String, Expr>,
    /// The function's `HttpApi` events.
    pub http_routes: Vec<HttpRoute>,
    /// The function's `SQS` events (event source mappings).
    pub sqs_events: Vec<SqsEvent>,
    /// The function's `DynamoDB` events (stream event source mappings).
    pub dynamodb_events: Vec<DynamoDbEvent>,
    /// `LoggingConfig.LogFormat` (`JSON` or `Text`; function, else `Globals`), if set.
    pub log_format: Option<String>,
    /// `LoggingConfig.ApplicationLogLevel` (function, else `Globals`; unresolved), if set:
    /// Lambda passes it to the function as `AWS_LAMBDA_LOG_LEVEL`.
    pub application_log_level: Option<Expr>,
}

impl Function {
    /// The function `logical_id` of `resource`, with `globals` under its own settings (SAM
    /// merges maps key by key: variables and logging settings the function does not set
    /// come from `Globals`).
    pub fn new(
        logical_id: &str,
        resource: &FunctionResource,
        globals: &FunctionProperties,
    ) -> Self {
        let own = &resource.properties;
        let mut environment = BTreeMap::new();
        for source in [&globals.environment, &own.environment] {
            for (k, v) in source.iter().flat_map(|e| &e.variables) {
                environment.insert(k.clone(), v.clone());
            }
        }
        let own_log = own.logging_config.as_ref();
        let global_log = globals.logging_config.as_ref();
        let mut function = Function {
            logical_id: logical_id.to_owned(),
            binary: resource.binary.clone(),
            timeout_secs: own
                .timeout
                .or(globals.timeout)
                .unwrap_or(DEFAULT_TIMEOUT_SECS),
            memory_size_mb: own
                .memory_size
                .or(globals.memory_size)
                .unwrap_or(DEFAULT_MEMORY_SIZE_MB),
            environment,
            log_format: own_log
                .and_then(|l| l.log_format.clone())
                .or_else(|| global_log.and_then(|l| l.log_format.clone())),
            application_log_level: own_log
                .and_then(|l| l.application_log_level.clone())
                .or_else(|| global_log.and_then(|l| l.application_log_level.clone())),
            ..Function::default()
        };
        for (name, event) in &own.events {
            match event {
                Event::HttpApi(route) => function.http_routes.push(route.clone()),
                Event::Sqs(p) => function.sqs_events.push(SqsEvent::new(name, p.clone())),
                Event::DynamoDb(p) => function
                    .dynamodb_events
                    .push(DynamoDbEvent::new(name, p.clone())),
                Event::Other(_) => {}
            }
        }
        function
    }
}
