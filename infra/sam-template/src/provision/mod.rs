//! Creates the template's DynamoDB tables and SQS queues (with redrive policies), its caches'
//! replication groups, its Cloud Map namespaces, services and instances ([`discovery`]) and its
//! secrets ([`secrets`]) on the local emulator. One plan per resource ([`TablePlan`], [`QueuePlan`]) feeds both the SDK calls here
//! and devstack's LocalStack init script, so the two paths cannot drift apart.
//!
//! Physical names are `<prefix>-<LogicalId>` (or `<prefix>-<TableName|QueueName>` when the
//! template names the resource): `devstack up` uses the stack name as prefix, tests use a unique
//! prefix each and so never see each other's data.

mod caches;
pub mod discovery;
mod queues;
pub mod secrets;
mod tables;

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow};
use aws_sdk_sqs::types::QueueAttributeName;

pub use caches::{
    CachePlan, DEFAULT_CACHE_PORT, LOCAL_CACHE_ADDRESS, cache_plans, create_cache,
    replication_group_id,
};
pub use discovery::{DiscoveryPlans, InstancePlan, NamespaceInfo, ServiceInfo, discovery_plans};
pub use queues::{QueueInfo, QueuePlan, find_queue, queue_arn, queue_plans};
pub use secrets::{SecretInfo, SecretPlan, secret_plans};
pub use tables::{TablePlan, table_plans};

use crate::{Physical, Resolver, Template};

/// What to provision and how.
#[derive(Debug, Clone, Default)]
pub struct ProvisionOptions {
    /// Physical-name prefix (`<prefix>-<LogicalId>`).
    pub prefix: String,
    /// Replaces every queue's `VisibilityTimeout` (seconds). `None` keeps the template's value.
    /// A local convenience to see redrive to the DLQ in seconds instead of minutes.
    pub visibility_timeout_override: Option<u32>,
    /// Parameter values over the template's defaults (`--parameter-overrides`), used for every
    /// name and attribute and kept in the resolver.
    pub parameters: BTreeMap<String, String>,
    /// The `URL` attribute of Cloud Map instances, by the instance's logical id: devstack
    /// registers its local stand-ins (`http://127.0.0.1:<port>`) instead of the template's
    /// outside URLs. Instances not in the map keep the template's.
    pub instance_urls: BTreeMap<String, String>,
    /// The value of the template's secrets; `None`: each gets [`secrets::generate_value`].
    pub secret_value: Option<String>,
}

/// A Cloud Map instance as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// Its `InstanceId` (e.g. `provider-a`).
    pub instance_id: String,
    /// Logical id of its service.
    pub service: String,
    /// Its registered `URL` attribute (empty when it has none).
    pub url: String,
}

/// The Cloud Map resources created, by logical id.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// Namespaces.
    pub namespaces: BTreeMap<String, NamespaceInfo>,
    /// Services.
    pub services: BTreeMap<String, ServiceInfo>,
    /// Instances, in the template's order of their logical ids' plans (a `Vec`: the local
    /// stand-ins' ports follow this order).
    pub instances: Vec<(String, InstanceInfo)>,
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
    /// Cloud Map namespaces, services and instances. Resources whose creation failed are
    /// missing here (a warning said why) but still resolve, to placeholder ids.
    pub discovery: Discovered,
    /// Secrets by logical id (with their value).
    pub secrets: BTreeMap<String, SecretInfo>,
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
        ..ProvisionOptions::default()
    };
    provision_with(template, sdk, &options).await
}

/// Creates every table and queue of the template; existing ones of the same name are reused,
/// so a restart keeps local data.
///
/// Caches, Cloud Map resources and secrets whose creation fails are logged as warnings (the
/// emulator may lack their API) and resolve to placeholders.
///
/// # Errors
/// The emulator is unreachable or refuses a table or queue call (the error names the
/// resource), or the template has a property devstack cannot translate.
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
    resolver.parameters.extend(options.parameters.clone());

    let (tables, streams) = provision_tables(template, sdk, options, &mut resolver).await?;
    let queues = provision_queues(template, sdk, options, &mut resolver).await?;
    let caches = provision_caches(template, sdk, options, &mut resolver).await?;
    let discovery = provision_discovery(template, sdk, options, &mut resolver).await?;
    let secrets = provision_secrets(template, sdk, options, &mut resolver).await?;
    resolve_other_resources(template, options, &mut resolver);
    Ok(Provisioned {
        tables,
        streams,
        queues,
        caches,
        discovery,
        secrets,
        resolver,
    })
}

/// Creates the tables (or reuses those of the same name); returns the table names and the
/// latest stream ARNs of the tables with a stream, both by logical id.
///
/// # Errors
/// A table call fails (the error names the table), or a `TableName` does not resolve (see
/// [`table_plans`]).
async fn provision_tables(
    template: &Template,
    sdk: &aws_config::SdkConfig,
    options: &ProvisionOptions,
    resolver: &mut Resolver,
) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>)> {
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
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
    Ok((tables, streams))
}

/// Creates the queues (or reuses those of the same name), then sets their redrive policies;
/// returns them by logical id.
///
/// # Errors
/// A queue call fails (the error names the queue), or the template's queues cannot be planned
/// (see [`queue_plans`]) or redriven (see [`set_redrive_policies`]).
async fn provision_queues(
    template: &Template,
    sdk: &aws_config::SdkConfig,
    options: &ProvisionOptions,
    resolver: &mut Resolver,
) -> Result<BTreeMap<String, QueueInfo>> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
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
    set_redrive_policies(&sqs, &plans, &queues).await?;
    Ok(queues)
}

/// Sets the redrive policy of each of `plans` that has one, to its dead-letter queue among
/// `queues` (the queues created, by logical id).
///
/// # Errors
/// A dead-letter queue or the queue itself is not in `queues`, or SetQueueAttributes fails.
async fn set_redrive_policies(
    sqs: &aws_sdk_sqs::Client,
    plans: &[QueuePlan],
    queues: &BTreeMap<String, QueueInfo>,
) -> Result<()> {
    for plan in plans {
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
    Ok(())
}

/// Creates the caches' replication groups (a failure is a warning); returns the replication
/// group ids by logical id.
///
/// # Errors
/// A cache's `ReplicationGroupId` or `CacheNodeType` does not resolve (see [`cache_plans`]).
async fn provision_caches(
    template: &Template,
    sdk: &aws_config::SdkConfig,
    options: &ProvisionOptions,
    resolver: &mut Resolver,
) -> Result<BTreeMap<String, String>> {
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
    Ok(caches)
}

/// Resolves the resources not created above to `<prefix>-<LogicalId>`.
fn resolve_other_resources(
    template: &Template,
    options: &ProvisionOptions,
    resolver: &mut Resolver,
) {
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
}

/// Creates the Cloud Map namespaces, services and instances (see [`discovery`]); a failure is
/// a warning and the resource resolves to a placeholder id.
async fn provision_discovery(
    template: &Template,
    sdk: &aws_config::SdkConfig,
    options: &ProvisionOptions,
    resolver: &mut Resolver,
) -> Result<Discovered> {
    let plans = discovery_plans(template, resolver, &options.prefix)?;
    let client = aws_sdk_servicediscovery::Client::new(sdk);
    let mut out = Discovered::default();
    for plan in &plans.namespaces {
        let created = discovery::create_namespace(&client, &plan.name).await;
        let info = kept_or(created, &mut out.namespaces, &plan.logical_id, |e| {
            tracing::warn!(namespace = %plan.name, error = format!("{e:#}"), "the emulator did not create the Cloud Map namespace");
            NamespaceInfo {
                id: format!("ns-unavailable-{}", plan.logical_id),
                name: plan.name.clone(),
                arn: String::new(),
            }
        });
        if let Some(param) = &plan.name_parameter {
            resolver.parameters.insert(param.clone(), plan.name.clone());
        }
        resolver.resources.insert(
            plan.logical_id.clone(),
            Physical {
                reference: info.id.clone(),
                attributes: BTreeMap::from([
                    ("Id".to_owned(), info.id.clone()),
                    ("Arn".to_owned(), info.arn.clone()),
                ]),
            },
        );
    }
    for plan in &plans.services {
        let namespace = out.namespaces.get(&plan.namespace).cloned();
        let created = match &namespace {
            Some(ns) => discovery::create_service(&client, plan, ns).await,
            None => Err(anyhow!("its namespace {} was not created", plan.namespace)),
        };
        let info = kept_or(created, &mut out.services, &plan.logical_id, |e| {
            tracing::warn!(service = %plan.name, error = format!("{e:#}"), "the emulator did not create the Cloud Map service");
            ServiceInfo {
                id: format!("srv-unavailable-{}", plan.logical_id),
                name: plan.name.clone(),
                arn: String::new(),
                namespace_name: namespace.map(|n| n.name).unwrap_or_default(),
            }
        });
        resolver.resources.insert(
            plan.logical_id.clone(),
            Physical {
                reference: info.id.clone(),
                attributes: BTreeMap::from([
                    ("Id".to_owned(), info.id.clone()),
                    ("Name".to_owned(), info.name.clone()),
                    ("Arn".to_owned(), info.arn.clone()),
                ]),
            },
        );
    }
    for plan in &plans.instances {
        let mut attributes = plan.attributes.clone();
        if let Some(url) = options.instance_urls.get(&plan.logical_id) {
            attributes.insert(discovery::URL_ATTRIBUTE.to_owned(), url.clone());
        }
        let registered = match out.services.get(&plan.service) {
            Some(service) => {
                discovery::register_instance(&client, &service.id, &plan.instance_id, &attributes)
                    .await
            }
            None => Err(anyhow!("its service {} was not created", plan.service)),
        };
        match registered {
            Ok(()) => out.instances.push((
                plan.logical_id.clone(),
                InstanceInfo {
                    instance_id: plan.instance_id.clone(),
                    service: plan.service.clone(),
                    url: attributes
                        .get(discovery::URL_ATTRIBUTE)
                        .cloned()
                        .unwrap_or_default(),
                },
            )),
            Err(e) => {
                tracing::warn!(instance = %plan.instance_id, error = format!("{e:#}"), "the emulator did not register the Cloud Map instance");
            }
        }
        resolver.resources.insert(
            plan.logical_id.clone(),
            Physical {
                reference: plan.instance_id.clone(),
                attributes: BTreeMap::new(),
            },
        );
    }
    Ok(out)
}

/// The resource `created`, also kept in `found` under `logical_id`; or, when its creation
/// failed, what `unavailable` makes of the error (it warns, and gives the placeholder the
/// resource resolves to).
fn kept_or<T: Clone>(
    created: Result<T>,
    found: &mut BTreeMap<String, T>,
    logical_id: &str,
    unavailable: impl FnOnce(anyhow::Error) -> T,
) -> T {
    match created {
        Ok(info) => {
            found.insert(logical_id.to_owned(), info.clone());
            info
        }
        Err(e) => unavailable(e),
    }
}

/// Creates the secrets (see [`secrets`]); a failure is a warning and `!Ref` resolves to the ARN
/// the secret would have.
async fn provision_secrets(
    template: &Template,
    sdk: &aws_config::SdkConfig,
    options: &ProvisionOptions,
    resolver: &mut Resolver,
) -> Result<BTreeMap<String, SecretInfo>> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let mut out = BTreeMap::new();
    for plan in secret_plans(template, resolver, &options.prefix)? {
        let value = options
            .secret_value
            .clone()
            .unwrap_or_else(secrets::generate_value);
        let arn = match secrets::create_secret(&client, &plan, &value).await {
            Ok(info) => {
                let arn = info.arn.clone();
                out.insert(plan.logical_id.clone(), info);
                arn
            }
            Err(e) => {
                tracing::warn!(secret = %plan.name, error = format!("{e:#}"), "the emulator did not create the secret");
                format!(
                    "arn:aws:secretsmanager:{}:{}:secret:{}",
                    resolver.region, resolver.account_id, plan.name
                )
            }
        };
        resolver.resources.insert(
            plan.logical_id.clone(),
            Physical {
                reference: arn.clone(),
                attributes: BTreeMap::from([("Id".to_owned(), arn)]),
            },
        );
    }
    Ok(out)
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
