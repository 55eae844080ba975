//! `AWS::DynamoDB::Table`, `AWS::SQS::Queue`, the cache, the Cloud Map resources and the secret
//! as serde types: the properties provisioning reads. A table's types serialise back in the
//! `CreateTable` API's JSON shape (same names).

use serde::{Deserialize, Serialize};

use crate::de::{opt, req};
use crate::expr::Expr;

/// The `Properties` of a DynamoDB table (what devstack creates of it).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableProperties {
    /// `TableName`; absent: `<prefix>-<LogicalId>`.
    #[serde(default, skip_serializing)]
    pub table_name: Option<Expr>,
    /// `AttributeDefinitions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attribute_definitions: Vec<AttributeDefinition>,
    /// `KeySchema` (required).
    pub key_schema: Vec<KeySchemaElement>,
    /// `BillingMode`: `PAY_PER_REQUEST` or `PROVISIONED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_mode: Option<String>,
    /// `ProvisionedThroughput`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_throughput: Option<Throughput>,
    /// `GlobalSecondaryIndexes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub global_secondary_indexes: Vec<SecondaryIndex>,
    /// `LocalSecondaryIndexes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_secondary_indexes: Vec<SecondaryIndex>,
    /// `StreamSpecification`: the table has a stream.
    #[serde(default, skip_serializing)]
    pub stream_specification: Option<StreamSpecification>,
    /// `TimeToLiveSpecification`.
    #[serde(default, skip_serializing)]
    pub time_to_live_specification: Option<TimeToLive>,
}

/// One of `AttributeDefinitions`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    /// `AttributeName`.
    pub attribute_name: String,
    /// `AttributeType`: `S`, `N` or `B`.
    pub attribute_type: String,
}

/// One of a `KeySchema`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    /// `AttributeName`.
    pub attribute_name: String,
    /// `KeyType`: `HASH` or `RANGE`.
    pub key_type: String,
}

/// `ProvisionedThroughput` (capacity units).
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Throughput {
    /// `ReadCapacityUnits`.
    #[serde(deserialize_with = "req")]
    pub read_capacity_units: i64,
    /// `WriteCapacityUnits`.
    #[serde(deserialize_with = "req")]
    pub write_capacity_units: i64,
}

/// One of `GlobalSecondaryIndexes` or `LocalSecondaryIndexes`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecondaryIndex {
    /// `IndexName`.
    pub index_name: String,
    /// `KeySchema`.
    pub key_schema: Vec<KeySchemaElement>,
    /// `Projection`.
    pub projection: Projection,
    /// `ProvisionedThroughput` (global indexes of a `PROVISIONED` table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_throughput: Option<Throughput>,
}

/// `Projection` of an index.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    /// `ProjectionType`: `ALL` (the default), `KEYS_ONLY` or `INCLUDE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection_type: Option<String>,
    /// `NonKeyAttributes` (with `INCLUDE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_key_attributes: Vec<String>,
}

/// `StreamSpecification` of a table.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpecification {
    /// `StreamViewType`: `NEW_IMAGE`, `OLD_IMAGE`, `NEW_AND_OLD_IMAGES` or `KEYS_ONLY`.
    pub stream_view_type: String,
}

/// `TimeToLiveSpecification` of a table.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLive {
    /// `AttributeName`: the epoch-seconds attribute.
    pub attribute_name: String,
    /// `Enabled`.
    #[serde(deserialize_with = "req")]
    pub enabled: bool,
}

/// The `Properties` of an SQS queue (what devstack creates of it).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueProperties {
    /// `QueueName`; absent: `<prefix>-<LogicalId>` (`.fifo` appended for a FIFO queue).
    pub queue_name: Option<Expr>,
    /// `DelaySeconds`.
    #[serde(default, deserialize_with = "opt")]
    pub delay_seconds: Option<u32>,
    /// `MaximumMessageSize` (bytes).
    #[serde(default, deserialize_with = "opt")]
    pub maximum_message_size: Option<u32>,
    /// `MessageRetentionPeriod` (seconds).
    #[serde(default, deserialize_with = "opt")]
    pub message_retention_period: Option<u32>,
    /// `ReceiveMessageWaitTimeSeconds`.
    #[serde(default, deserialize_with = "opt")]
    pub receive_message_wait_time_seconds: Option<u32>,
    /// `VisibilityTimeout` (seconds).
    #[serde(default, deserialize_with = "opt")]
    pub visibility_timeout: Option<u32>,
    /// `FifoQueue`.
    #[serde(default, deserialize_with = "opt")]
    pub fifo_queue: Option<bool>,
    /// `ContentBasedDeduplication`.
    #[serde(default, deserialize_with = "opt")]
    pub content_based_deduplication: Option<bool>,
    /// `RedrivePolicy`.
    pub redrive_policy: Option<RedrivePolicy>,
}

/// `RedrivePolicy` of a queue (camel-case keys, as SQS spells them).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedrivePolicy {
    /// `deadLetterTargetArn` (required): `!GetAtt <Queue>.Arn` of a queue of the template.
    pub dead_letter_target_arn: Expr,
    /// `maxReceiveCount` (required): receives before a message moves to the dead-letter queue.
    #[serde(deserialize_with = "req")]
    pub max_receive_count: u32,
}

/// The `Properties` of an `AWS::ElastiCache::ReplicationGroup` (what devstack creates of it on
/// the emulator; the functions reach the local redis-server instead).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicationGroupProperties {
    /// `ReplicationGroupId`; absent: `<prefix>-<logical id>`, lowercase.
    #[serde(default)]
    pub replication_group_id: Option<Expr>,
    /// `ReplicationGroupDescription` (required by CloudFormation).
    #[serde(default)]
    pub replication_group_description: Option<String>,
    /// `Engine`: `redis` or `valkey`.
    #[serde(default)]
    pub engine: Option<String>,
    /// `EngineVersion`, e.g. `7.1`.
    #[serde(default, deserialize_with = "opt")]
    pub engine_version: Option<String>,
    /// `CacheNodeType`, e.g. `cache.t4g.micro` (often `!Ref` to a parameter).
    #[serde(default)]
    pub cache_node_type: Option<Expr>,
    /// `NumCacheClusters`: the primary and its replicas.
    #[serde(default, deserialize_with = "opt")]
    pub num_cache_clusters: Option<i32>,
    /// `TransitEncryptionEnabled`.
    #[serde(default, deserialize_with = "opt")]
    pub transit_encryption_enabled: Option<bool>,
    /// `Port` (6379 when absent).
    #[serde(default, deserialize_with = "opt")]
    pub port: Option<i32>,
}

/// The `Properties` of an `AWS::ServiceDiscovery::HttpNamespace` (a Cloud Map namespace whose
/// instances are found by API calls only, `DiscoverInstances`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpNamespaceProperties {
    /// `Name` (required), often `!Ref` to a parameter.
    pub name: Expr,
}

/// `HealthCheckCustomConfig` of a Cloud Map service: the health status is set by API calls
/// (`UpdateInstanceCustomHealthStatus`), not by Route 53 checks.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheckCustomConfig {
    /// `FailureThreshold` (deprecated by AWS, always 1).
    #[serde(default, deserialize_with = "opt")]
    pub failure_threshold: Option<i32>,
}

/// The `Properties` of an `AWS::ServiceDiscovery::Service`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiscoveryServiceProperties {
    /// `Name` (required by devstack; CloudFormation would generate one).
    pub name: Expr,
    /// `NamespaceId`: `!GetAtt <Namespace>.Id` or `!Ref <Namespace>` of a namespace of the
    /// template.
    pub namespace_id: Expr,
    /// `Type`: `HTTP` for a service of an HTTP namespace.
    #[serde(default, rename = "Type", deserialize_with = "opt")]
    pub service_type: Option<String>,
    /// `HealthCheckCustomConfig`.
    #[serde(default)]
    pub health_check_custom_config: Option<HealthCheckCustomConfig>,
}

/// The `Properties` of an `AWS::ServiceDiscovery::Instance`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiscoveryInstanceProperties {
    /// `ServiceId`: `!Ref <Service>` or `!GetAtt <Service>.Id` of a service of the template.
    pub service_id: Expr,
    /// `InstanceId` (required by devstack; CloudFormation would generate one).
    pub instance_id: Expr,
    /// `InstanceAttributes`, e.g. `URL` and `AWS_INIT_HEALTH_STATUS`.
    #[serde(default)]
    pub instance_attributes: std::collections::BTreeMap<String, Expr>,
}

/// The `Properties` of an `AWS::SecretsManager::Secret` (what devstack reads of it: the value
/// is always generated locally).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretProperties {
    /// `Name`; absent: `<prefix>-<LogicalId>`.
    #[serde(default)]
    pub name: Option<Expr>,
}
