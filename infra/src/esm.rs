//! SQS event source mapping emulation: long-polls a queue, batches up to `BatchSize` within
//! `MaximumBatchingWindowInSeconds`, invokes the function with an SQS event, and deletes only
//! the records that succeeded.
//!
//! The batching window bounds how long a poller gathers a batch. A poller that has just
//! delivered a batch gathers the next one for the window: it rests that long before it
//! receives again, and then takes what the queue holds (up to `BatchSize`) at once, so records
//! that came meanwhile form one batch; an idle poller (one whose window is over) delivers what
//! its long poll returns at once. A record thus waits at most the window, and one arriving at an
//! idle queue is not held back by a poller that happens to have just finished a batch. Like Lambda's scaling SQS pollers, up to `max_concurrency`
//! batches of one queue are in flight at once (devstack's `--concurrency`, capped by the
//! template's `ScalingConfig.MaximumConcurrency`), so concurrent messages really race.
//!
//! Semantics follow Lambda's poller (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html>):
//! - an invocation error or timeout fails the whole batch: nothing is deleted;
//! - with `ReportBatchItemFailures`, the `batchItemFailures` listed stay on the queue and the rest
//!   are deleted; an empty or null response means all succeeded; an unparseable response or an
//!   `itemIdentifier` that is empty or not in the batch fails the whole batch;
//! - failed records are not touched: they reappear after the visibility timeout and the queue's
//!   redrive policy moves them to the DLQ after `maxReceiveCount` receives.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use tokio::sync::watch;

use crate::console;
use crate::invoke::{self, COLD_START_SLACK, Invocation, Invoker};

/// Longest SQS long poll (seconds); the poller waits this long for a first message.
const LONG_POLL_SECS: i32 = 5;
/// Most messages one ReceiveMessage returns.
const MAX_RECEIVE: u32 = 10;

/// One event source mapping: queue → function.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Function logical id (for logs).
    pub function_id: String,
    /// Binary name (`cargo lambda watch` function name).
    pub function: String,
    /// Function timeout.
    pub timeout: Duration,
    /// Queue logical id (for logs).
    pub queue_id: String,
    /// Queue URL.
    pub queue_url: String,
    /// Queue ARN (`eventSourceARN`).
    pub queue_arn: String,
    /// `BatchSize`.
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds`.
    pub batching_window: Duration,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// `awsRegion` of the records.
    pub region: String,
    /// Most batches in flight at once: one poller each (at least 1).
    pub max_concurrency: u32,
}

/// What one batch came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Records delivered.
    pub received: usize,
    /// Records deleted (succeeded).
    pub deleted: usize,
    /// Why the batch or some records failed, if they did.
    pub failure: Option<String>,
}

/// Polls with `max_concurrency` pollers until `stop` turns true.
pub async fn run(
    mapping: Mapping,
    sqs: aws_sdk_sqs::Client,
    invoker: Invoker,
    stop: watch::Receiver<bool>,
) {
    let pollers: Vec<_> = (0..mapping.max_concurrency.max(1))
        .map(|_| {
            tokio::spawn(poll_loop(
                mapping.clone(),
                sqs.clone(),
                invoker.clone(),
                stop.clone(),
            ))
        })
        .collect();
    for p in pollers {
        let _ = p.await;
    }
}

/// One poller: receives, invokes and deletes, one batch at a time.
async fn poll_loop(
    mapping: Mapping,
    sqs: aws_sdk_sqs::Client,
    invoker: Invoker,
    mut stop: watch::Receiver<bool>,
) {
    // Until then the poller gathers (rests); it starts idle.
    let mut window_end = tokio::time::Instant::now();
    loop {
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(window_end) => {}
            _ = stop.changed() => return,
        }
        tokio::select! {
            res = poll_gathered(&mapping, &sqs, &invoker, window_end) => match res {
                Ok(Some(o)) => {
                    window_end = tokio::time::Instant::now() + mapping.batching_window;
                    tracing::info!(
                        function = %mapping.function_id, queue = %mapping.queue_id,
                        received = o.received, deleted = o.deleted, failure = o.failure.as_deref(),
                        "sqs batch"
                    );
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(queue = %mapping.queue_id, error = %e, "poll failed; retrying in 2s");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            },
            _ = stop.changed() => return,
        }
    }
}

/// Receives one batch (gathering for the batching window from now), invokes the function and
/// deletes what succeeded. `None`: no messages.
///
/// # Errors
/// SQS or the Invoke API is unreachable.
pub async fn poll_once(
    mapping: &Mapping,
    sqs: &aws_sdk_sqs::Client,
    invoker: &Invoker,
) -> Result<Option<BatchOutcome>> {
    let window_end = tokio::time::Instant::now() + mapping.batching_window;
    poll_gathered(mapping, sqs, invoker, window_end).await
}

/// [`poll_once`], gathering until `window_end` (at once when it has passed).
async fn poll_gathered(
    mapping: &Mapping,
    sqs: &aws_sdk_sqs::Client,
    invoker: &Invoker,
    window_end: tokio::time::Instant,
) -> Result<Option<BatchOutcome>> {
    let batch = receive_batch(mapping, sqs, window_end).await?;
    if batch.is_empty() {
        return Ok(None);
    }
    let event = event(mapping, &batch);
    let ids: Vec<&str> = batch.iter().filter_map(|m| m.message_id()).collect();
    let started = tokio::time::Instant::now();
    let invoked = invoker
        .invoke(
            &mapping.function,
            &event,
            mapping.timeout + COLD_START_SLACK,
        )
        .await?;
    let (failed, failure): (HashSet<String>, Option<String>) = match invoked {
        Invocation::Ok(payload) if mapping.report_batch_item_failures => {
            match batch_item_failures(&payload, &ids) {
                Ok(f) if f.is_empty() => (f, None),
                Ok(f) => {
                    let why = format!("{} record(s) reported failed", f.len());
                    (f, Some(why))
                }
                Err(why) => (all(&ids), Some(why)),
            }
        }
        Invocation::Ok(_) => (HashSet::new(), None),
        Invocation::FunctionError(e) => (all(&ids), Some(format!("invocation failed: {e}"))),
        Invocation::TimedOut => (all(&ids), Some("invocation timed out".into())),
        Invocation::Rejected(e) => (all(&ids), Some(format!("invocation refused: {e}"))),
    };
    if let Some(console) = invoker.console() {
        console.record_delivery(delivery(
            mapping,
            &batch,
            &failed,
            failure.as_deref(),
            started,
        ));
    }
    let entries: Vec<DeleteMessageBatchRequestEntry> = batch
        .iter()
        .filter(|m| m.message_id().is_some_and(|id| !failed.contains(id)))
        .enumerate()
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .set_receipt_handle(m.receipt_handle.clone())
                .build()
                .ok()
        })
        .collect();
    let deleted = entries.len();
    for chunk in entries.chunks(10) {
        sqs.delete_message_batch()
            .queue_url(&mapping.queue_url)
            .set_entries(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(aws_sdk_sqs::Error::from)?;
    }
    Ok(Some(BatchOutcome {
        received: batch.len(),
        deleted,
        failure,
    }))
}

/// What the console keeps of one delivered batch: each record's envelope and outcome.
fn delivery(
    mapping: &Mapping,
    batch: &[Message],
    failed: &HashSet<String>,
    failure: Option<&str>,
    started: tokio::time::Instant,
) -> console::Delivery {
    let elapsed = started.elapsed();
    console::Delivery {
        time_ms: console::now_ms() - i64::try_from(elapsed.as_millis()).unwrap_or(0),
        kind: console::SourceKind::Sqs,
        source: mapping.queue_id.clone(),
        function: mapping.function.clone(),
        records: batch
            .iter()
            .map(|m| {
                let id = m.message_id().unwrap_or_default();
                let trace = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::AwsTraceHeader))
                    .map(String::as_str);
                let mut r =
                    console::DeliveredRecord::from_sqs(id, m.body().unwrap_or_default(), trace);
                if failed.contains(id) {
                    r.outcome = console::RecordOutcome::Failed;
                }
                r
            })
            .collect(),
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        error: failure.map(ToOwned::to_owned),
    }
}

fn all(ids: &[&str]) -> HashSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

/// The message ids a `SQSBatchResponse` reports failed (read by
/// [`invoke::batch_item_failures`]).
///
/// # Errors
/// The whole batch counts as failed (Lambda's rule): the text says why.
pub fn batch_item_failures(payload: &[u8], batch_ids: &[&str]) -> Result<HashSet<String>, String> {
    Ok(
        invoke::batch_item_failures::<SqsBatchResponse>(payload, batch_ids)?
            .into_iter()
            .map(|i| batch_ids[i].to_owned())
            .collect(),
    )
}

async fn receive_batch(
    mapping: &Mapping,
    sqs: &aws_sdk_sqs::Client,
    window_end: tokio::time::Instant,
) -> Result<Vec<Message>> {
    let mut batch: Vec<Message> = Vec::new();
    loop {
        let want = (mapping.batch_size - u32::try_from(batch.len()).unwrap_or(0)).min(MAX_RECEIVE);
        // Long-poll for the first message; afterwards only fill the batching window.
        let wait = if batch.is_empty() { LONG_POLL_SECS } else { 0 };
        let out = sqs
            .receive_message()
            .queue_url(&mapping.queue_url)
            .max_number_of_messages(i32::try_from(want).unwrap_or(10))
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(aws_sdk_sqs::Error::from)?;
        let got = out.messages.unwrap_or_default();
        let empty = got.is_empty();
        batch.extend(got);
        match next_step(
            batch.len(),
            mapping.batch_size as usize,
            empty,
            tokio::time::Instant::now(),
            window_end,
        ) {
            Step::Deliver => return Ok(batch),
            Step::Receive => {}
            Step::WaitThenReceive => tokio::time::sleep(GATHER_POLL).await,
        }
    }
}

/// How often a poller gathering a batch looks for more records within the window.
const GATHER_POLL: Duration = Duration::from_millis(100);

/// What a poller does after a receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Invoke with the batch (or return empty-handed from a long poll).
    Deliver,
    /// Receive again at once: the last receive returned records, more may be waiting.
    Receive,
    /// Within the window and the queue is empty for now: look again shortly.
    WaitThenReceive,
}

/// The step after a receive that left `len` records in a batch of `size` at most (`empty`: the
/// receive returned none), at `now`, the window ending at `window_end`: deliver an empty (timed
/// out) or full batch; take what the queue holds right now; gather more until the window ends.
fn next_step(
    len: usize,
    size: usize,
    empty: bool,
    now: tokio::time::Instant,
    window_end: tokio::time::Instant,
) -> Step {
    if len == 0 || len >= size {
        Step::Deliver
    } else if !empty {
        Step::Receive
    } else if now >= window_end {
        Step::Deliver
    } else {
        Step::WaitThenReceive
    }
}

/// The SQS event of one batch (`Records`, in the order received).
fn event(mapping: &Mapping, batch: &[Message]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = batch.iter().map(|m| record(mapping, m)).collect();
    event
}

/// One record of the SQS event, as Lambda builds it: `messageId`, `receiptHandle`, `body`,
/// `attributes` (the system attributes), `messageAttributes`, `md5OfBody`,
/// `md5OfMessageAttributes`, `eventSource` `aws:sqs`, `eventSourceARN`, `awsRegion`.
fn record(mapping: &Mapping, m: &Message) -> SqsMessage {
    let mut r = SqsMessage::default();
    r.message_id = m.message_id.clone();
    r.receipt_handle = m.receipt_handle.clone();
    r.body = Some(m.body().unwrap_or_default().to_owned());
    r.md5_of_body = m.md5_of_body.clone();
    r.md5_of_message_attributes = m.md5_of_message_attributes.clone();
    r.attributes = m
        .attributes()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
        .collect();
    r.message_attributes = m
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let mut a = SqsMessageAttribute::default();
            a.string_value = v.string_value.clone();
            a.binary_value = v.binary_value().map(|b| base64_data(b.as_ref()));
            a.string_list_values = v.string_list_values().to_vec();
            a.binary_list_values = v
                .binary_list_values()
                .iter()
                .map(|b| base64_data(b.as_ref()))
                .collect();
            a.data_type = Some(v.data_type().to_owned());
            (k.clone(), a)
        })
        .collect();
    r.event_source = Some("aws:sqs".into());
    r.event_source_arn = Some(mapping.queue_arn.clone());
    r.aws_region = Some(mapping.region.clone());
    r
}

/// Bytes that serialise as base64 (`Base64Data` can only be built empty).
fn base64_data(bytes: &[u8]) -> Base64Data {
    let mut data = Base64Data::default();
    data.extend_from_slice(bytes);
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_failures_are_the_only_ones_retried() {
        let f = batch_item_failures(
            br#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#,
            &["a", "b"],
        );
        assert_eq!(f.unwrap(), HashSet::from(["b".to_owned()]));
    }

    #[test]
    fn an_empty_or_null_response_means_every_record_succeeded() {
        assert!(batch_item_failures(b"null", &["a"]).unwrap().is_empty());
        assert!(
            batch_item_failures(br#"{"batchItemFailures":[]}"#, &["a"])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_unknown_or_empty_identifier_fails_the_whole_batch() {
        assert!(
            batch_item_failures(
                br#"{"batchItemFailures":[{"itemIdentifier":"zz"}]}"#,
                &["a"]
            )
            .is_err()
        );
        assert!(
            batch_item_failures(br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#, &["a"])
                .is_err()
        );
        assert!(batch_item_failures(b"garbage", &["a"]).is_err());
    }

    #[test]
    fn a_batch_is_delivered_full_or_when_the_window_ends_and_the_queue_is_drained() {
        let now = tokio::time::Instant::now();
        let later = now + Duration::from_secs(1);
        let cases = [
            (0, true, now, later, Step::Deliver, "long poll ended empty"),
            (10, false, now, later, Step::Deliver, "full"),
            (3, false, now, later, Step::Receive, "more may wait"),
            (
                3,
                false,
                later,
                now,
                Step::Receive,
                "drain after the window",
            ),
            (3, true, now, later, Step::WaitThenReceive, "gathering"),
            (3, true, later, now, Step::Deliver, "window over"),
            (3, true, now, now, Step::Deliver, "no window"),
        ];
        for (len, empty, now, window_end, step, case) in cases {
            assert_eq!(next_step(len, 10, empty, now, window_end), step, "{case}");
        }
    }

    #[test]
    fn a_record_is_shaped_like_lambdas_sqs_event() {
        let mapping = Mapping {
            function_id: "F".into(),
            function: "f".into(),
            timeout: Duration::from_secs(1),
            queue_id: "Q".into(),
            queue_url: "http://q".into(),
            queue_arn: "arn:aws:sqs:us-east-1:123456789012:q".into(),
            batch_size: 10,
            batching_window: Duration::ZERO,
            report_batch_item_failures: true,
            region: "us-east-1".into(),
            max_concurrency: 1,
        };
        let m = Message::builder()
            .message_id("id-1")
            .receipt_handle("rh")
            .body("{}")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
            .message_attributes(
                "blob",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("Binary")
                    .binary_value(aws_sdk_sqs::primitives::Blob::new(vec![0, 255]))
                    .build()
                    .unwrap(),
            )
            .build();
        let sent = serde_json::to_value(event(&mapping, &[m])).unwrap();
        assert_eq!(sent["Records"][0]["messageId"], "id-1");
        assert_eq!(sent["Records"][0]["eventSource"], "aws:sqs");
        assert_eq!(sent["Records"][0]["body"], "{}");
        assert_eq!(
            sent["Records"][0]["messageAttributes"]["blob"]["binaryValue"],
            "AP8="
        );
        let parsed: SqsEvent = serde_json::from_value(sent).unwrap();
        let r = &parsed.records[0];
        assert_eq!(r.message_id.as_deref(), Some("id-1"));
        assert_eq!(
            r.event_source_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:q")
        );
        assert_eq!(r.attributes["ApproximateReceiveCount"], "1");
        let blob = &r.message_attributes["blob"];
        assert_eq!(blob.data_type.as_deref(), Some("Binary"));
        assert_eq!(blob.binary_value.as_deref(), Some(&vec![0, 255]));
    }
}
