//! Dead-letter queue operations for `devstack dlq`: list the dead messages of a queue of the
//! template, and redrive them to the queue they came from.
//!
//! A queue is a dead-letter queue when the template says so in one of two ways:
//! - a source queue's `RedrivePolicy` names it (`deadLetterTargetArn: !GetAtt <Queue>.Arn`):
//!   SQS moves a message there after `maxReceiveCount` receives (`OrdersDeadLetterQueue`);
//! - a function writes to it itself: an environment variable of the function whose name ends
//!   in `DEAD_LETTER_QUEUE_URL` is `!Ref <Queue>` (the outbox relay's
//!   `OUTBOX_DEAD_LETTER_QUEUE_URL: !Ref OutboxDeadLetterQueue`). Such a queue has no source
//!   queue: its messages are records the function could never handle (a stream record, whole,
//!   for the relay), so [`redrive`] refuses it and says why.
//!
//! A queue is named by logical id: the dead-letter queue itself (`OrdersDeadLetterQueue`) or a
//! source queue whose `RedrivePolicy` names it (`OrdersQueue`). Physical names follow
//! [`crate::provision`] (`<stack>-<LogicalId>`).
//!
//! Listing receives the messages (so each listing adds one to their `ApproximateReceiveCount`)
//! under a short visibility timeout and makes them visible again at once when done. Redrive
//! sends each message to its source queue (the one in its `DeadLetterQueueSourceArn` attribute
//! when SQS sets it, else the only queue whose redrive policy names the DLQ) and deletes it
//! from the DLQ only once the send succeeded, in batches of 10. It does not use
//! `StartMessageMoveTask`: moto server (the default emulator) does not implement it, and the
//! send-then-delete path gives an exact count and `--max` on every emulator.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::provision::{find_queue, queue_arn, queue_plans};
use crate::template::{QUEUE_TYPE, Template};

/// How long listing and redrive hide a received message (seconds). Listing makes them visible
/// again as soon as it is done; this bounds the hiding if devstack dies meanwhile.
pub const RECEIVE_VISIBILITY_SECS: i32 = 30;
/// Long-poll wait of each receive (seconds): an empty queue answers after this long.
const RECEIVE_WAIT_SECS: i32 = 1;

/// A queue as it exists on the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRef {
    /// Logical id in the template.
    pub logical_id: String,
    /// Physical queue name.
    pub name: String,
    /// Queue URL.
    pub url: String,
    /// Queue ARN.
    pub arn: String,
}

/// A dead-letter queue and the queues that redrive into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterQueue {
    /// The DLQ.
    pub dlq: QueueRef,
    /// Queues whose `RedrivePolicy` names it (none for a queue only functions write to).
    pub sources: Vec<QueueRef>,
    /// Functions that write to it themselves (at least one when `sources` is empty).
    pub writers: Vec<Writer>,
}

/// A function that writes dead letters itself, through an environment variable naming the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    /// The function's logical id, e.g. `RelayOutboxFunction`.
    pub function: String,
    /// The variable, e.g. `OUTBOX_DEAD_LETTER_QUEUE_URL`.
    pub variable: String,
    /// The queue's logical id, e.g. `OutboxDeadLetterQueue`.
    pub queue: String,
}

/// How an environment variable that names a dead-letter queue a function writes to ends.
pub const WRITER_VARIABLE_SUFFIX: &str = "DEAD_LETTER_QUEUE_URL";

/// The functions of the template that write dead letters themselves: every environment
/// variable ending in [`WRITER_VARIABLE_SUFFIX`] whose value is `!Ref <Queue>`.
///
/// # Errors
/// The template's functions cannot be read, or such a variable is not `!Ref` of a queue of
/// the template.
pub fn writers(template: &Template) -> Result<Vec<Writer>> {
    let queues: Vec<&str> = template
        .of_kind(QUEUE_TYPE)
        .map(|r| r.logical_id.as_str())
        .collect();
    let mut found = Vec::new();
    for function in template.functions()? {
        for (variable, value) in &function.environment {
            if !variable.ends_with(WRITER_VARIABLE_SUFFIX) {
                continue;
            }
            let queue = value
                .as_ref_name()
                .filter(|id| queues.contains(id))
                .ok_or_else(|| {
                    anyhow!(
                        "function {}: {variable} must be !Ref <Queue> of a queue of the template",
                        function.logical_id
                    )
                })?;
            found.push(Writer {
                function: function.logical_id.clone(),
                variable: variable.clone(),
                queue: queue.to_owned(),
            });
        }
    }
    Ok(found)
}

/// One message of a DLQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadMessage {
    /// `MessageId`.
    pub message_id: String,
    /// `ApproximateReceiveCount` (this listing's receive included).
    pub receive_count: Option<u32>,
    /// `SentTimestamp` (when first sent, to the source queue).
    pub sent: Option<DateTime<Utc>>,
    /// `DeadLetterQueueSourceArn`, when SQS sets it.
    pub source_arn: Option<String>,
    /// Its String message attributes by name (e.g. the relay's `reason`, `detail`,
    /// `sequence_number`).
    pub attributes: BTreeMap<String, String>,
    /// The body as sent.
    pub body: String,
}

/// Finds the DLQ that `queue` (a logical id: the DLQ itself or a source queue) stands for, and
/// looks up the URLs and ARNs of it and its sources.
///
/// # Errors
/// No such queue in the template, a queue without a dead-letter queue that is not one either,
/// or the queues do not exist on the emulator (is `devstack up` running?).
pub async fn resolve(
    template: &Template,
    stack: &str,
    queue: &str,
    sqs: &Client,
) -> Result<DeadLetterQueue> {
    let plans = queue_plans(template, stack, None)?;
    let plan = find_queue(&plans, queue)?;
    let dlq_id = match &plan.redrive {
        Some((dlq, _)) => dlq.clone(),
        None => plan.logical_id.clone(),
    };
    let sources: Vec<_> = plans
        .iter()
        .filter(|q| q.redrive.as_ref().is_some_and(|(d, _)| *d == dlq_id))
        .collect();
    let writers: Vec<Writer> = writers(template)?
        .into_iter()
        .filter(|w| w.queue == dlq_id)
        .collect();
    if sources.is_empty() && writers.is_empty() {
        bail!(
            "{queue} has no RedrivePolicy, no queue redrives into it and no function's \
             *{WRITER_VARIABLE_SUFFIX} variable names it: not a dead-letter queue"
        );
    }
    let dlq_plan = plans
        .iter()
        .find(|q| q.logical_id == dlq_id)
        .ok_or_else(|| anyhow!("dead-letter queue {dlq_id} is not a queue of the template"))?;
    let mut refs = Vec::new();
    for p in sources {
        refs.push(lookup(sqs, &p.logical_id, &p.name).await?);
    }
    Ok(DeadLetterQueue {
        dlq: lookup(sqs, &dlq_plan.logical_id, &dlq_plan.name).await?,
        sources: refs,
        writers,
    })
}

async fn lookup(sqs: &Client, logical_id: &str, name: &str) -> Result<QueueRef> {
    let url = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(aws_sdk_sqs::Error::from)
        .with_context(|| format!("queue {name} not found: is `devstack up` running?"))?
        .queue_url
        .ok_or_else(|| anyhow!("GetQueueUrl returned no URL for {name}"))?;
    let arn = queue_arn(sqs, &url).await?;
    Ok(QueueRef {
        logical_id: logical_id.to_owned(),
        name: name.to_owned(),
        url,
        arn,
    })
}

/// The messages in the DLQ (up to `max`), oldest receive first. Each is received once (its
/// `ApproximateReceiveCount` goes up by one) and made visible again before this returns.
///
/// # Errors
/// SQS refuses a call.
pub async fn list(sqs: &Client, dlq: &QueueRef, max: Option<usize>) -> Result<Vec<DeadMessage>> {
    let mut seen: Vec<DeadMessage> = Vec::new();
    let mut handles: Vec<String> = Vec::new();
    let result = async {
        while max.is_none_or(|m| seen.len() < m) {
            let batch = receive(sqs, &dlq.url, 10).await?;
            let mut new = 0;
            for m in &batch {
                handles.extend(m.receipt_handle.clone());
                let dead = dead_message(m);
                if !seen.iter().any(|s| s.message_id == dead.message_id) {
                    new += 1;
                    seen.push(dead);
                }
            }
            // Empty, or only messages seen before (they came back): every message is listed.
            if new == 0 {
                break;
            }
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    release(sqs, &dlq.url, &handles).await?;
    result?;
    if let Some(m) = max {
        seen.truncate(m);
    }
    Ok(seen)
}

/// Moves up to `max` messages (all when `None`) from the DLQ back to their source queue: send
/// (body and message attributes), then delete from the DLQ what was sent. Returns how many
/// moved, per source queue logical id.
///
/// # Errors
/// The DLQ has no source queue (functions write to it: see [`no_source_queue`]), SQS refuses
/// a call, or a message's source cannot be told (the DLQ serves several queues and SQS did not
/// record `DeadLetterQueueSourceArn`). Messages not sent stay in the DLQ.
pub async fn redrive(
    sqs: &Client,
    dlq: &DeadLetterQueue,
    max: Option<usize>,
) -> Result<BTreeMap<String, usize>> {
    if dlq.sources.is_empty() {
        bail!("{}", no_source_queue(dlq));
    }
    let mut moved: BTreeMap<String, usize> = BTreeMap::new();
    let mut total = 0;
    while max.is_none_or(|m| total < m) {
        let want = max.map_or(10, |m| (m - total).min(10));
        let batch = receive(sqs, &dlq.dlq.url, i32::try_from(want).unwrap_or(10)).await?;
        if batch.is_empty() {
            break;
        }
        // Group by destination, keeping the DLQ receipt handles to delete after the send.
        let mut by_source: BTreeMap<usize, Vec<&Message>> = BTreeMap::new();
        for m in &batch {
            let source = source_of(dlq, m);
            match source {
                Some(i) => by_source.entry(i).or_default().push(m),
                None => {
                    let handles: Vec<String> = batch
                        .iter()
                        .filter_map(|m| m.receipt_handle.clone())
                        .collect();
                    release(sqs, &dlq.dlq.url, &handles).await?;
                    bail!(
                        "message {} has no DeadLetterQueueSourceArn and {} redrives into several queues: cannot tell where it came from",
                        m.message_id().unwrap_or_default(),
                        dlq.dlq.logical_id
                    );
                }
            }
        }
        let mut sent_any = false;
        for (i, messages) in by_source {
            let source = &dlq.sources[i];
            let entries: Vec<SendMessageBatchRequestEntry> = messages
                .iter()
                .enumerate()
                .map(|(n, m)| send_entry(n, m))
                .collect::<Result<_>>()?;
            let out = sqs
                .send_message_batch()
                .queue_url(&source.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(aws_sdk_sqs::Error::from)
                .with_context(|| format!("sending to {}", source.name))?;
            let mut delete = Vec::new();
            let mut unsent = Vec::new();
            for (n, m) in messages.iter().enumerate() {
                let id = n.to_string();
                let ok = out.successful.iter().any(|s| s.id == id);
                match (&m.receipt_handle, ok) {
                    (Some(h), true) => delete.push(
                        DeleteMessageBatchRequestEntry::builder()
                            .id(id)
                            .receipt_handle(h)
                            .build()?,
                    ),
                    (Some(h), false) => unsent.push(h.clone()),
                    (None, _) => {}
                }
            }
            for f in &out.failed {
                tracing::warn!(queue = %source.name, id = %f.id, code = %f.code, message = ?f.message, "redrive: send failed; the message stays in the DLQ");
            }
            release(sqs, &dlq.dlq.url, &unsent).await?;
            let count = delete.len();
            if count > 0 {
                sqs.delete_message_batch()
                    .queue_url(&dlq.dlq.url)
                    .set_entries(Some(delete))
                    .send()
                    .await
                    .map_err(aws_sdk_sqs::Error::from)
                    .with_context(|| format!("deleting redriven messages from {}", dlq.dlq.name))?;
                sent_any = true;
            }
            *moved.entry(source.logical_id.clone()).or_default() += count;
            total += count;
        }
        if !sent_any {
            bail!("no message of the batch could be sent back: see the warnings above");
        }
    }
    Ok(moved)
}

/// Why a DLQ that only functions write to cannot be redriven, and what to do instead.
pub fn no_source_queue(dlq: &DeadLetterQueue) -> String {
    let writers: Vec<String> = dlq
        .writers
        .iter()
        .map(|w| format!("{} (through {})", w.function, w.variable))
        .collect();
    format!(
        "{} has no source queue to redrive to: its messages were written by {}, each a record \
         it could never handle, whole, with a `reason` attribute (for the outbox relay: a \
         stream record of the outbox table). Sending it again would fail the same way: fix the \
         cause, then write the record again (for the relay: re-insert the outbox item), and \
         delete the message",
        dlq.dlq.logical_id,
        writers.join(", ")
    )
}

/// The index in `dlq.sources` a message goes back to.
fn source_of(dlq: &DeadLetterQueue, m: &Message) -> Option<usize> {
    let recorded = m
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::DeadLetterQueueSourceArn));
    match recorded {
        Some(arn) => dlq.sources.iter().position(|s| s.arn == *arn),
        None if dlq.sources.len() == 1 => Some(0),
        None => None,
    }
}

fn send_entry(n: usize, m: &Message) -> Result<SendMessageBatchRequestEntry> {
    let attr = |k: MessageSystemAttributeName| m.attributes().and_then(|a| a.get(&k)).cloned();
    Ok(SendMessageBatchRequestEntry::builder()
        .id(n.to_string())
        .message_body(m.body().unwrap_or_default())
        .set_message_attributes(m.message_attributes.clone())
        // FIFO queues: keep the group, and the deduplication id if there was one.
        .set_message_group_id(attr(MessageSystemAttributeName::MessageGroupId))
        .set_message_deduplication_id(attr(MessageSystemAttributeName::MessageDeduplicationId))
        .build()?)
}

async fn receive(sqs: &Client, url: &str, max: i32) -> Result<Vec<Message>> {
    Ok(sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(max.clamp(1, 10))
        .visibility_timeout(RECEIVE_VISIBILITY_SECS)
        .wait_time_seconds(RECEIVE_WAIT_SECS)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .map_err(aws_sdk_sqs::Error::from)
        .context("receiving from the dead-letter queue")?
        .messages
        .unwrap_or_default())
}

/// Makes received messages visible again at once.
async fn release(sqs: &Client, url: &str, handles: &[String]) -> Result<()> {
    for chunk in handles.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, h)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(h)
                    .visibility_timeout(0)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        sqs.change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(aws_sdk_sqs::Error::from)
            .context("making listed messages visible again")?;
    }
    // Let the change land before another receive on the same queue.
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}

fn dead_message(m: &Message) -> DeadMessage {
    let attr = |k: MessageSystemAttributeName| m.attributes().and_then(|a| a.get(&k)).cloned();
    DeadMessage {
        message_id: m.message_id().unwrap_or_default().to_owned(),
        receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|c| c.parse().ok()),
        sent: attr(MessageSystemAttributeName::SentTimestamp)
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(DateTime::from_timestamp_millis),
        source_arn: attr(MessageSystemAttributeName::DeadLetterQueueSourceArn),
        attributes: m
            .message_attributes()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_owned())))
            .collect(),
        body: m.body().unwrap_or_default().to_owned(),
    }
}

/// A message for people: a header line (id, receive count, sent time), one `  name: value`
/// line per message attribute, and the body, pretty JSON when it is JSON, as is otherwise.
pub fn render(m: &DeadMessage) -> String {
    let mut s = format!("message {}", m.message_id);
    if let Some(c) = m.receive_count {
        let _ = write!(s, "  receives {c}");
    }
    if let Some(t) = m.sent {
        let _ = write!(
            s,
            "  sent {}",
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
    }
    if let Some(arn) = &m.source_arn {
        let _ = write!(s, "  from {arn}");
    }
    s.push('\n');
    for (name, value) in &m.attributes {
        let _ = writeln!(s, "  {name}: {value}");
    }
    let body = serde_json::from_str::<Value>(&m.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| m.body.clone());
    s.push_str(&body);
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> DeadMessage {
        DeadMessage {
            message_id: "m-1".into(),
            receive_count: Some(6),
            sent: DateTime::from_timestamp_millis(1_700_000_000_123),
            source_arn: None,
            attributes: BTreeMap::new(),
            body: body.into(),
        }
    }

    #[test]
    fn a_json_body_is_printed_pretty_under_its_id_count_and_time() {
        let text = render(&message(r#"{"order_id":"o-1","type":"StockReserved"}"#));
        assert_eq!(
            text,
            "message m-1  receives 6  sent 2023-11-14T22:13:20.123Z\n{\n  \"order_id\": \"o-1\",\n  \"type\": \"StockReserved\"\n}\n"
        );
    }

    #[test]
    fn a_body_that_is_not_json_is_printed_as_is() {
        assert!(render(&message("not json")).ends_with("\nnot json\n"));
    }

    #[test]
    fn a_recorded_source_arn_picks_the_source_queue() {
        let q = |id: &str| QueueRef {
            logical_id: id.into(),
            name: id.into(),
            url: format!("http://{id}"),
            arn: format!("arn:{id}"),
        };
        let dlq = DeadLetterQueue {
            dlq: q("D"),
            sources: vec![q("A"), q("B")],
            writers: vec![],
        };
        let m = Message::builder()
            .attributes(
                MessageSystemAttributeName::DeadLetterQueueSourceArn,
                "arn:B",
            )
            .build();
        assert_eq!(source_of(&dlq, &m), Some(1));
        assert_eq!(source_of(&dlq, &Message::builder().build()), None);
        let single = DeadLetterQueue {
            dlq: q("D"),
            sources: vec![q("A")],
            writers: vec![],
        };
        assert_eq!(source_of(&single, &Message::builder().build()), Some(0));
    }

    #[test]
    fn message_attributes_are_printed_one_per_line_under_the_header() {
        let mut m = message("{}");
        m.attributes
            .insert("reason".into(), "NOT_AN_OUTBOX_ITEM".into());
        m.attributes.insert("sequence_number".into(), "42".into());

        let text = render(&m);

        assert!(
            text.contains("\n  reason: NOT_AN_OUTBOX_ITEM\n  sequence_number: 42\n{}\n"),
            "{text}"
        );
    }

    #[test]
    fn the_template_declares_the_relays_dead_letter_queue_as_written_by_the_relay() {
        let template = Template::load(&crate::workspace_root().join("template.yaml")).unwrap();

        let writers = writers(&template).unwrap();

        assert_eq!(
            writers,
            [Writer {
                function: "RelayOutboxFunction".into(),
                variable: "OUTBOX_DEAD_LETTER_QUEUE_URL".into(),
                queue: "OutboxDeadLetterQueue".into(),
            }]
        );
    }

    #[test]
    fn a_dead_letter_variable_that_names_no_queue_is_an_error_naming_it() {
        let template = Template::parse(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildProperties:\n        Binary: f\n    Properties:\n      Environment:\n        Variables:\n          MY_DEAD_LETTER_QUEUE_URL: http://nowhere\n",
        )
        .unwrap();

        let error = writers(&template).unwrap_err().to_string();

        assert!(
            error.contains("function F: MY_DEAD_LETTER_QUEUE_URL"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_queue_only_functions_write_to_cannot_be_redriven_and_the_refusal_says_what_to_do() {
        let q = QueueRef {
            logical_id: "OutboxDeadLetterQueue".into(),
            name: "s-OutboxDeadLetterQueue".into(),
            url: "http://q".into(),
            arn: "arn:q".into(),
        };
        let dlq = DeadLetterQueue {
            dlq: q,
            sources: vec![],
            writers: vec![Writer {
                function: "RelayOutboxFunction".into(),
                variable: "OUTBOX_DEAD_LETTER_QUEUE_URL".into(),
                queue: "OutboxDeadLetterQueue".into(),
            }],
        };

        // Never reached: the refusal comes before any call.
        let sqs = Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version_latest()
                .region(aws_sdk_sqs::config::Region::new("us-east-1"))
                .endpoint_url("http://127.0.0.1:9")
                .build(),
        );

        let text = redrive(&sqs, &dlq, None).await.unwrap_err().to_string();

        assert!(
            text.starts_with("OutboxDeadLetterQueue has no source queue"),
            "{text}"
        );
        assert!(text.contains("RelayOutboxFunction (through OUTBOX_DEAD_LETTER_QUEUE_URL)"));
        assert!(text.contains("re-insert the outbox item"));
    }
}
