//! Creates the template's DynamoDB tables and SQS queues (with redrive policies) on the local
//! emulator. One plan per resource ([`TablePlan`], [`QueuePlan`]) feeds both the SDK calls here
//! and devstack's LocalStack init script, so the two paths cannot drift apart.
//!
//! Physical names are `<prefix>-<LogicalId>` (or `<prefix>-<TableName|QueueName>` when the
//! template names the resource): `devstack up` uses the stack name as prefix, tests use a unique
//! prefix each and so never see each other's data.

mod caches;
mod queues;
mod tables;

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow};
use aws_sdk_sqs::types::QueueAttributeName;

pub use caches::{
    CachePlan, DEFAULT_CACHE_PORT, LOCAL_CACHE_ADDRESS, cache_plans, create_cache,
    replication_group_id,
};
pub use queues::{QueueInfo, QueuePlan, find_queue, queue_arn, queue_plans};
pub use tables::{TablePlan, table_plans};

use crate::{Physical, Resolver, Template};

/// What to provision and how.
#[derive(Debug, Clone)]
pub struct ProvisionOptions {
    /// Physical-name prefix (`<prefix>-<LogicalId>`).
    pub prefix: String,
    /// Replaces every queue's `VisibilityTimeout` (seconds). `None` keeps the template's value.
    /// A local convenience to see redrive to the DLQ in seconds instead of minutes.
    pub visibility_timeout_override: Option<u32>,
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
    /// Caches (replication group ids) by logical id. Locally `!GetAtt <id>.PrimaryEndPoint.Address`
    /// is [`LOCAL_CACHE_ADDRESS`] and `.Port` is [`DEFAULT_CACHE_PORT`] (devstack then points it
    /// at its redis-server's port).
    pub caches: BTreeMap<String, String>,
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
        let created = tables::create_table(&dynamo, &plan)
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
        let info = queues::create_queue(&sqs, plan)
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
        let url = &queues
            .get(&plan.logical_id)
            .ok_or_else(|| anyhow!("queue {} was not created", plan.logical_id))?
            .url;
        sqs.set_queue_attributes()
            .queue_url(url)
            .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
            .send()
            .await
            .with_context(|| format!("setting the redrive policy of {}", plan.name))?;
    }

    // Caches: the replication group on the emulator's control plane; the endpoint is the
    // local redis-server.
    let elasticache = aws_sdk_elasticache::Client::new(sdk);
    let mut caches = BTreeMap::new();
    for plan in cache_plans(template, &options.prefix)? {
        // The functions use the local redis-server either way: an emulator without the
        // ElastiCache API (LocalStack's free edition) costs only the readiness check's
        // control-plane status.
        if let Err(e) = create_cache(&elasticache, &plan).await {
            tracing::warn!(
                cache = %plan.name,
                error = format!("{e:#}"),
                "the emulator did not create the cache's replication group; the functions use the local redis-server anyway"
            );
        }
        resolver.resources.insert(
            plan.logical_id.clone(),
            Physical {
                reference: plan.name.clone(),
                attributes: BTreeMap::from([
                    (
                        "PrimaryEndPoint.Address".to_owned(),
                        LOCAL_CACHE_ADDRESS.to_owned(),
                    ),
                    (
                        "PrimaryEndPoint.Port".to_owned(),
                        DEFAULT_CACHE_PORT.to_string(),
                    ),
                    (
                        "ReaderEndPoint.Address".to_owned(),
                        LOCAL_CACHE_ADDRESS.to_owned(),
                    ),
                    (
                        "ReaderEndPoint.Port".to_owned(),
                        DEFAULT_CACHE_PORT.to_string(),
                    ),
                ]),
            },
        );
        caches.insert(plan.logical_id, plan.name);
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
        caches,
        resolver,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        crate::tests::project_template()
    }

    #[test]
    fn the_orders_queue_redrives_to_its_dead_letter_queue_after_five_receives() {
        let plans = queue_plans(&template(), "p", None).unwrap();
        let orders = find_queue(&plans, "OrdersQueue").unwrap();
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
        assert!(
            users
                .create
                .get("PointInTimeRecoverySpecification")
                .is_none()
        );
    }

    #[test]
    fn a_table_with_a_stream_and_ttl_plans_both_and_names_from_table_name() {
        let t = Template::parse(
            r#"
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-things"
      KeySchema: [{ AttributeName: id, KeyType: HASH }]
      StreamSpecification: { StreamViewType: NEW_IMAGE }
      TimeToLiveSpecification: { AttributeName: expires_at, Enabled: "true" }
"#,
        )
        .unwrap();
        let plan = &table_plans(&t, "p").unwrap()[0];
        assert_eq!(plan.name, "p-p-things");
        assert_eq!(
            plan.create["StreamSpecification"],
            serde_json::json!({"StreamEnabled": true, "StreamViewType": "NEW_IMAGE"})
        );
        assert_eq!(plan.ttl_attribute.as_deref(), Some("expires_at"));
    }

    #[test]
    fn a_redrive_policy_not_naming_a_queue_arn_is_an_error_naming_the_queue() {
        let t = Template::parse(
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy: { deadLetterTargetArn: arn:x, maxReceiveCount: 3 }\n",
        )
        .unwrap();
        let err = queue_plans(&t, "p", None).unwrap_err().to_string();
        assert!(
            err.contains("queue Q") && err.contains("deadLetterTargetArn"),
            "{err}"
        );
    }
}
