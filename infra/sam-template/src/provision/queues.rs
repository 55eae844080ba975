//! The template's SQS queues: their plans (physical name, attributes, redrive policy) and
//! their creation on the emulator.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::resources::QueueProperties;
use crate::{Expr, Resolver, Template};

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

/// The `CreateQueue` attributes of `p` (CloudFormation properties of the same name).
fn attributes(p: &QueueProperties) -> BTreeMap<String, String> {
    let numbers = [
        ("DelaySeconds", p.delay_seconds),
        ("MaximumMessageSize", p.maximum_message_size),
        ("MessageRetentionPeriod", p.message_retention_period),
        (
            "ReceiveMessageWaitTimeSeconds",
            p.receive_message_wait_time_seconds,
        ),
        ("VisibilityTimeout", p.visibility_timeout),
    ];
    let flags = [
        ("FifoQueue", p.fifo_queue),
        ("ContentBasedDeduplication", p.content_based_deduplication),
    ];
    numbers
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_string())))
        .chain(
            flags
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_string()))),
        )
        .collect()
}

/// The queues the template declares, with physical names under `prefix`.
///
/// # Errors
/// A `RedrivePolicy` whose `deadLetterTargetArn` is not `!GetAtt <Queue>.Arn`, or a
/// `QueueName` that does not resolve before anything exists.
pub fn queue_plans(
    template: &Template,
    prefix: &str,
    visibility_timeout_override: Option<u32>,
) -> Result<Vec<QueuePlan>> {
    let resolver = Resolver::for_planning(template, prefix);
    template
        .queues()
        .map(|(id, props)| {
            let fifo = props.fifo_queue.unwrap_or(false);
            let given = props
                .queue_name
                .as_ref()
                .map(|n| resolver.string(n))
                .transpose()
                .with_context(|| format!("queue {id}: QueueName"))?;
            let name = match given {
                Some(n) => format!("{prefix}-{n}"),
                None if fifo => format!("{prefix}-{id}.fifo"),
                None => format!("{prefix}-{id}"),
            };
            let mut attributes = attributes(props);
            if let Some(secs) = visibility_timeout_override {
                attributes.insert("VisibilityTimeout".into(), secs.to_string());
            }
            let redrive = match &props.redrive_policy {
                None => None,
                Some(p) => match &p.dead_letter_target_arn {
                    Expr::GetAtt {
                        resource,
                        attribute,
                    } if attribute == "Arn" => Some((resource.clone(), p.max_receive_count)),
                    _ => bail!("queue {id}: deadLetterTargetArn must be !GetAtt <Queue>.Arn"),
                },
            };
            Ok(QueuePlan {
                logical_id: id.to_owned(),
                name,
                attributes,
                redrive,
            })
        })
        .collect()
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

/// Creates the queue (or updates the attributes of the existing one of that name).
pub(crate) async fn create_queue(
    client: &aws_sdk_sqs::Client,
    plan: &QueuePlan,
) -> Result<QueueInfo> {
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
