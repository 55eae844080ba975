//! Creates the template's DynamoDB tables and SQS queues (with redrive policies) on the local
//! emulator. One plan feeds both the SDK calls here and the LocalStack init script
//! ([`crate::localstack`]), so the two paths cannot drift apart.
//!
//! Physical names are `<prefix>-<LogicalId>` (or `<prefix>-<TableName|QueueName>` when the
//! template names the resource): `devstack up` uses the stack name as prefix, tests use a unique
//! prefix each and so never see each other's data.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Map, Value as Json};
use serde_yaml::Value;

use crate::template::{Physical, QUEUE_TYPE, Resolver, TABLE_TYPE, Template};

/// What to provision and how.
#[derive(Debug, Clone)]
pub struct ProvisionOptions {
    /// Physical-name prefix (`<prefix>-<LogicalId>`).
    pub prefix: String,
    /// Replaces every queue's `VisibilityTimeout` (seconds). `None` keeps the template's value.
    /// A local convenience to see redrive to the DLQ in seconds instead of minutes.
    pub visibility_timeout_override: Option<u32>,
}

/// A created queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    /// Queue name.
    pub name: String,
    /// Queue URL (what `!Ref` returns).
    pub url: String,
    /// Queue ARN (what `!GetAtt Queue.Arn` returns).
    pub arn: String,
}

/// Everything created, by logical id, and a resolver that maps the template's intrinsics to it.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// Table names by logical id.
    pub tables: BTreeMap<String, String>,
    /// Latest stream ARN (`!GetAtt Table.StreamArn`) by table logical id, for the tables with a
    /// `StreamSpecification`.
    pub streams: BTreeMap<String, String>,
    /// Queues by logical id.
    pub queues: BTreeMap<String, QueueInfo>,
    /// Resolves `!Ref`/`!GetAtt`/`!Sub` to the resources above.
    pub resolver: Resolver,
}

impl Provisioned {
    /// The queue whose ARN is `arn`, with its logical id.
    pub fn queue_by_arn(&self, arn: &str) -> Option<(&str, &QueueInfo)> {
        self.queues
            .iter()
            .find(|(_, q)| q.arn == arn)
            .map(|(id, q)| (id.as_str(), q))
    }

    /// The logical id of the table whose stream ARN is `arn`.
    pub fn table_by_stream_arn(&self, arn: &str) -> Option<&str> {
        self.streams
            .iter()
            .find(|(_, s)| *s == arn)
            .map(|(id, _)| id.as_str())
    }
}

/// A table to create: the `CreateTable` input in the API's JSON shape, and its TTL attribute.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// Logical id in the template.
    pub logical_id: String,
    /// Physical table name.
    pub name: String,
    /// `CreateTable` request (AWS API JSON shape, as `aws dynamodb create-table --cli-input-json`).
    pub create: Json,
    /// `TimeToLiveSpecification.AttributeName`, when TTL is enabled.
    pub ttl_attribute: Option<String>,
}

/// A queue to create.
#[derive(Debug, Clone)]
pub struct QueuePlan {
    /// Logical id in the template.
    pub logical_id: String,
    /// Physical queue name.
    pub name: String,
    /// Attributes for `CreateQueue` (API names, string values), without `RedrivePolicy`.
    pub attributes: BTreeMap<String, String>,
    /// `RedrivePolicy` as (dead-letter queue's logical id, maxReceiveCount).
    pub redrive: Option<(String, u32)>,
}

/// CloudFormation `AWS::SQS::Queue` properties that are `CreateQueue` attributes of the same name.
const QUEUE_ATTRIBUTES: &[&str] = &[
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
];

/// CloudFormation `AWS::DynamoDB::Table` properties that are `CreateTable` parameters.
const TABLE_PARAMETERS: &[&str] = &[
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
];

/// The tables the template declares, with physical names under `prefix`.
///
/// # Errors
/// A property uses an intrinsic devstack cannot resolve before anything exists.
pub fn table_plans(template: &Template, prefix: &str) -> Result<Vec<TablePlan>> {
    let resolver = Resolver::new(
        template,
        crate::aws::DEFAULT_REGION,
        crate::aws::ACCOUNT_ID,
        prefix,
    );
    template
        .of_kind(TABLE_TYPE)
        .map(|r| {
            let props = resolver.value(&Value::Mapping(r.properties.clone()))?;
            let base = props
                .get("TableName")
                .and_then(Value::as_str)
                .unwrap_or(&r.logical_id);
            let name = format!("{prefix}-{base}");
            let mut create = Map::new();
            create.insert("TableName".into(), Json::String(name.clone()));
            for key in TABLE_PARAMETERS {
                if let Some(v) = props.get(*key) {
                    create.insert((*key).into(), serde_json::to_value(v)?);
                }
            }
            if let Some(view) = props
                .get("StreamSpecification")
                .and_then(|s| s.get("StreamViewType"))
            {
                create.insert(
                    "StreamSpecification".into(),
                    serde_json::json!({ "StreamEnabled": true, "StreamViewType": view }),
                );
            }
            let ttl = props.get("TimeToLiveSpecification");
            let ttl_attribute = ttl
                .filter(|t| t.get("Enabled").and_then(Value::as_bool).unwrap_or(false))
                .and_then(|t| t.get("AttributeName"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            Ok(TablePlan {
                logical_id: r.logical_id.clone(),
                name,
                create: Json::Object(create),
                ttl_attribute,
            })
        })
        .collect()
}

/// The ARN of the queue at `url` (`GetQueueAttributes QueueArn`).
///
/// # Errors
/// When SQS fails or does not return the attribute.
pub async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(aws_sdk_sqs::Error::from)?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| anyhow!("GetQueueAttributes returned no QueueArn for {url}"))
}

/// The plan of queue `logical_id` among `plans`.
///
/// # Errors
/// No such queue in the template; the message lists the queues it has.
pub fn find_queue<'a>(plans: &'a [QueuePlan], logical_id: &str) -> Result<&'a QueuePlan> {
    plans
        .iter()
        .find(|q| q.logical_id == logical_id)
        .ok_or_else(|| {
            let known: Vec<_> = plans.iter().map(|q| q.logical_id.as_str()).collect();
            anyhow!(
                "no queue {logical_id} in the template (queues: {})",
                known.join(", ")
            )
        })
}

/// The queues the template declares, with physical names under `prefix`.
///
/// # Errors
/// A `RedrivePolicy` whose `deadLetterTargetArn` is not `!GetAtt <Queue>.Arn` of a queue in
/// the template, or without `maxReceiveCount`.
pub fn queue_plans(
    template: &Template,
    prefix: &str,
    visibility_timeout_override: Option<u32>,
) -> Result<Vec<QueuePlan>> {
    template
        .of_kind(QUEUE_TYPE)
        .map(|r| {
            let id = &r.logical_id;
            let props = &r.properties;
            let fifo = props
                .get("FifoQueue")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let name = match props.get("QueueName").and_then(Value::as_str) {
                Some(n) => format!("{prefix}-{n}"),
                None if fifo => format!("{prefix}-{id}.fifo"),
                None => format!("{prefix}-{id}"),
            };
            let mut attributes = BTreeMap::new();
            for key in QUEUE_ATTRIBUTES {
                if let Some(v) = props.get(*key) {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => bail!("queue {id}: {key} must be a scalar"),
                    };
                    attributes.insert((*key).to_owned(), v);
                }
            }
            if let Some(secs) = visibility_timeout_override {
                attributes.insert("VisibilityTimeout".into(), secs.to_string());
            }
            let redrive = props
                .get("RedrivePolicy")
                .map(|p| {
                    let dlq = p
                        .get("deadLetterTargetArn")
                        .and_then(|a| a.get("Fn::GetAtt"))
                        .and_then(Value::as_sequence)
                        .and_then(|s| s.first())
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            anyhow!("queue {id}: deadLetterTargetArn must be !GetAtt <Queue>.Arn")
                        })?;
                    let max = p
                        .get("maxReceiveCount")
                        .and_then(|m| m.as_u64().or_else(|| m.as_str()?.parse().ok()))
                        .ok_or_else(|| {
                            anyhow!("queue {id}: RedrivePolicy needs maxReceiveCount")
                        })?;
                    Ok::<_, anyhow::Error>((dlq.to_owned(), u32::try_from(max)?))
                })
                .transpose()?;
            Ok(QueuePlan {
                logical_id: id.clone(),
                name,
                attributes,
                redrive,
            })
        })
        .collect()
}

/// Creates every table and queue of the template under `prefix` (see [`provision_with`]).
///
/// # Errors
/// See [`provision_with`].
pub async fn provision(
    template: &Template,
    sdk: &aws_config::SdkConfig,
    prefix: &str,
) -> Result<Provisioned> {
    let options = ProvisionOptions {
        prefix: prefix.to_owned(),
        visibility_timeout_override: None,
    };
    provision_with(template, sdk, &options).await
}

/// Creates every table and queue of the template; existing ones of the same name are reused,
/// so a restart keeps local data.
///
/// # Errors
/// The emulator is unreachable or refuses a call (the error names the resource), or the
/// template has a property devstack cannot translate.
pub async fn provision_with(
    template: &Template,
    sdk: &aws_config::SdkConfig,
    options: &ProvisionOptions,
) -> Result<Provisioned> {
    let region = sdk.region().map_or_else(
        || crate::aws::DEFAULT_REGION.to_owned(),
        ToString::to_string,
    );
    let account = crate::aws::ACCOUNT_ID;
    let mut resolver = Resolver::new(template, &region, account, &options.prefix);
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);

    let mut tables = BTreeMap::new();
    let mut streams = BTreeMap::new();
    for plan in table_plans(template, &options.prefix)? {
        let created = create_table(&dynamo, &plan)
            .await
            .with_context(|| format!("creating table {} ({})", plan.name, plan.logical_id))?;
        let mut attributes = BTreeMap::from([("Arn".to_owned(), created.arn)]);
        if let Some(stream) = created.stream_arn {
            attributes.insert("StreamArn".to_owned(), stream.clone());
            streams.insert(plan.logical_id.clone(), stream);
        }
        resolver.resources.insert(
            plan.logical_id.clone(),
            Physical {
                reference: plan.name.clone(),
                attributes,
            },
        );
        tables.insert(plan.logical_id, plan.name);
    }

    let plans = queue_plans(
        template,
        &options.prefix,
        options.visibility_timeout_override,
    )?;
    let mut queues = BTreeMap::new();
    for plan in &plans {
        let info = create_queue(&sqs, plan)
            .await
            .with_context(|| format!("creating queue {} ({})", plan.name, plan.logical_id))?;
        resolver.resources.insert(
            plan.logical_id.clone(),
            Physical {
                reference: info.url.clone(),
                attributes: BTreeMap::from([
                    ("Arn".to_owned(), info.arn.clone()),
                    ("QueueName".to_owned(), info.name.clone()),
                    ("QueueUrl".to_owned(), info.url.clone()),
                ]),
            },
        );
        queues.insert(plan.logical_id.clone(), info);
    }
    for plan in &plans {
        let Some((dlq, max)) = &plan.redrive else {
            continue;
        };
        let dlq_arn = &queues
            .get(dlq)
            .ok_or_else(|| {
                anyhow!(
                    "queue {}: dead-letter queue {dlq} is not a queue",
                    plan.logical_id
                )
            })?
            .arn;
        let policy = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max });
        let url = &queues[&plan.logical_id].url;
        sqs.set_queue_attributes()
            .queue_url(url)
            .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
            .send()
            .await
            .with_context(|| format!("setting the redrive policy of {}", plan.name))?;
    }

    // Other resources a function may reference: the API id and function names.
    for r in &template.resources {
        resolver
            .resources
            .entry(r.logical_id.clone())
            .or_insert_with(|| Physical {
                reference: format!("{}-{}", options.prefix, r.logical_id),
                attributes: BTreeMap::new(),
            });
    }
    Ok(Provisioned {
        tables,
        streams,
        queues,
        resolver,
    })
}

/// A created (or found) table's ARNs, as the emulator reports them.
struct CreatedTable {
    arn: String,
    /// `LatestStreamArn`, when the table has a stream.
    stream_arn: Option<String>,
}

/// Creates the table (or finds it) and returns its ARNs. An existing table that lacks the
/// stream the template declares gets it enabled (its other settings are left alone).
async fn create_table(client: &aws_sdk_dynamodb::Client, plan: &TablePlan) -> Result<CreatedTable> {
    let c = &plan.create;
    let mut req = client.create_table().table_name(&plan.name);
    for a in list(c, "AttributeDefinitions") {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(str_at(a, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(str_at(a, "AttributeType")?))
                .build()?,
        );
    }
    for k in key_schema(c)? {
        req = req.key_schema(k);
    }
    let billing = c
        .get("BillingMode")
        .and_then(Json::as_str)
        .unwrap_or("PROVISIONED");
    req = req.billing_mode(BillingMode::from(billing));
    if let Some(t) = c.get("ProvisionedThroughput") {
        req = req.provisioned_throughput(throughput(t)?);
    }
    for g in list(c, "GlobalSecondaryIndexes") {
        let mut b = GlobalSecondaryIndex::builder()
            .index_name(str_at(g, "IndexName")?)
            .set_key_schema(Some(key_schema(g)?))
            .projection(projection(g)?);
        if let Some(t) = g.get("ProvisionedThroughput") {
            b = b.provisioned_throughput(throughput(t)?);
        }
        req = req.global_secondary_indexes(b.build()?);
    }
    for l in list(c, "LocalSecondaryIndexes") {
        req = req.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(str_at(l, "IndexName")?)
                .set_key_schema(Some(key_schema(l)?))
                .projection(projection(l)?)
                .build()?,
        );
    }
    let stream = c
        .get("StreamSpecification")
        .map(|s| {
            Ok::<_, anyhow::Error>(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(str_at(s, "StreamViewType")?))
                    .build()?,
            )
        })
        .transpose()?;
    req = req.set_stream_specification(stream.clone());
    match req.send().await {
        Ok(out) => {
            if let Some(t) = out.table_description
                && let Some(arn) = t.table_arn
            {
                set_ttl(client, plan).await?;
                return Ok(CreatedTable {
                    arn,
                    stream_arn: t.latest_stream_arn,
                });
            }
        }
        // Exists: reuse it, keeping its data.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(aws_sdk_dynamodb::Error::from(e).into()),
    }
    let table = client
        .describe_table()
        .table_name(&plan.name)
        .send()
        .await
        .map_err(aws_sdk_dynamodb::Error::from)?
        .table
        .ok_or_else(|| anyhow!("DescribeTable returned no table"))?;
    let arn = table
        .table_arn
        .clone()
        .ok_or_else(|| anyhow!("DescribeTable returned no TableArn"))?;
    let enabled = table
        .stream_specification
        .as_ref()
        .is_some_and(|s| s.stream_enabled);
    let stream_arn = match stream {
        Some(spec) if !enabled => client
            .update_table()
            .table_name(&plan.name)
            .stream_specification(spec)
            .send()
            .await
            .map_err(aws_sdk_dynamodb::Error::from)
            .context("enabling the table's stream")?
            .table_description
            .and_then(|t| t.latest_stream_arn),
        _ => table.latest_stream_arn,
    };
    Ok(CreatedTable { arn, stream_arn })
}

async fn set_ttl(client: &aws_sdk_dynamodb::Client, plan: &TablePlan) -> Result<()> {
    if let Some(attr) = &plan.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(&plan.name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(attr)
                    .build()?,
            )
            .send()
            .await
            .map_err(aws_sdk_dynamodb::Error::from)?;
    }
    Ok(())
}

async fn create_queue(client: &aws_sdk_sqs::Client, plan: &QueuePlan) -> Result<QueueInfo> {
    let mut req = client.create_queue().queue_name(&plan.name);
    for (k, v) in &plan.attributes {
        req = req.attributes(QueueAttributeName::from(k.as_str()), v);
    }
    let url = match req.send().await {
        Ok(out) => out
            .queue_url
            .ok_or_else(|| anyhow!("CreateQueue returned no URL"))?,
        // Same name, other attributes (e.g. a changed timeout): keep the queue, update it.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_queue_name_exists()) =>
        {
            let url = client
                .get_queue_url()
                .queue_name(&plan.name)
                .send()
                .await
                .map_err(aws_sdk_sqs::Error::from)?
                .queue_url
                .ok_or_else(|| anyhow!("GetQueueUrl returned no URL"))?;
            let mut set = client.set_queue_attributes().queue_url(&url);
            for (k, v) in plan
                .attributes
                .iter()
                .filter(|(k, _)| k.as_str() != "FifoQueue")
            {
                set = set.attributes(QueueAttributeName::from(k.as_str()), v);
            }
            set.send().await.map_err(aws_sdk_sqs::Error::from)?;
            url
        }
        Err(e) => return Err(aws_sdk_sqs::Error::from(e).into()),
    };
    let arn = queue_arn(client, &url).await?;
    Ok(QueueInfo {
        name: plan.name.clone(),
        url,
        arn,
    })
}

fn list<'a>(v: &'a Json, key: &str) -> impl Iterator<Item = &'a Json> + 'a {
    v.get(key).and_then(Json::as_array).into_iter().flatten()
}

fn str_at<'a>(v: &'a Json, key: &str) -> Result<&'a str> {
    v.get(key)
        .and_then(Json::as_str)
        .ok_or_else(|| anyhow!("{key} is missing or not a string in {v}"))
}

fn key_schema(v: &Json) -> Result<Vec<KeySchemaElement>> {
    list(v, "KeySchema")
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(str_at(k, "AttributeName")?)
                .key_type(KeyType::from(str_at(k, "KeyType")?))
                .build()?)
        })
        .collect()
}

fn projection(v: &Json) -> Result<Projection> {
    let p = v
        .get("Projection")
        .ok_or_else(|| anyhow!("index without Projection: {v}"))?;
    let mut b = Projection::builder().projection_type(ProjectionType::from(
        p.get("ProjectionType")
            .and_then(Json::as_str)
            .unwrap_or("ALL"),
    ));
    for a in list(p, "NonKeyAttributes") {
        b = b.non_key_attributes(a.as_str().unwrap_or_default());
    }
    Ok(b.build())
}

fn throughput(t: &Json) -> Result<ProvisionedThroughput> {
    let units = |k: &str| -> Result<i64> {
        t.get(k)
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
            .ok_or_else(|| anyhow!("ProvisionedThroughput.{k} missing"))
    };
    Ok(ProvisionedThroughput::builder()
        .read_capacity_units(units("ReadCapacityUnits")?)
        .write_capacity_units(units("WriteCapacityUnits")?)
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        Template::load(&crate::workspace_root().join("template.yaml")).unwrap()
    }

    #[test]
    fn the_orders_queue_redrives_to_its_dead_letter_queue_after_five_receives() {
        let plans = queue_plans(&template(), "p", None).unwrap();
        let orders = plans
            .iter()
            .find(|q| q.logical_id == "OrdersQueue")
            .unwrap();
        assert_eq!(orders.name, "p-OrdersQueue");
        assert_eq!(
            orders.redrive,
            Some(("OrdersDeadLetterQueue".to_owned(), 5))
        );
        assert_eq!(orders.attributes["VisibilityTimeout"], "60");
    }

    #[test]
    fn a_visibility_timeout_override_replaces_the_template_value() {
        let plans = queue_plans(&template(), "p", Some(2)).unwrap();
        assert!(
            plans
                .iter()
                .all(|q| q.attributes["VisibilityTimeout"] == "2")
        );
    }

    #[test]
    fn table_plans_carry_the_key_schema_under_the_prefixed_name() {
        let plans = table_plans(&template(), "p").unwrap();
        let users = plans.iter().find(|t| t.logical_id == "UsersTable").unwrap();
        assert_eq!(users.create["TableName"], "p-UsersTable");
        assert_eq!(users.create["KeySchema"][0]["AttributeName"], "id");
        assert_eq!(users.create["BillingMode"], "PAY_PER_REQUEST");
    }
}
