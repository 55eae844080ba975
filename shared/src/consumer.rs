//! What every SQS consumer does around its own logic: one record at a time, each failure
//! logged and reported in `batchItemFailures` (`ReportBatchItemFailures`), so SQS re-delivers
//! only the failed records and moves them to the dead-letter queue after `maxReceiveCount`.
//!
//! Every error fails its record, whatever its kind: a dependency outage or throttling
//! ([`Error::ServiceUnavailable`], from [`crate::aws::sdk_error`]) above all, since the
//! record will succeed once the dependency is back. Nothing is acknowledged unprocessed.
//!
//! Each record is processed inside a span `record{message_id, correlation_id, trace_id}` (so
//! every line logged meanwhile carries them, see [`crate::telemetry`]) and ends with one line
//! `"record processed"` with `event_type`, `order_id` (when the payload has one) and `outcome`
//! (`ok` or `failed`).

use std::borrow::Cow;
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use serde::Deserialize;
use tracing::Instrument;

use crate::error::Error;
use crate::events::{Envelope, trace_root};
use crate::http::ErrorResponse;

/// The SQS system attribute holding the message's X-Ray trace header (set by the sender,
/// passed on by Lambda in the record's `attributes`).
pub const AWS_TRACE_HEADER: &str = "AWSTraceHeader";

/// Runs `process` on each record in order and reports the ones that failed by `messageId`.
///
/// Each record runs in a span `record{message_id, correlation_id, trace_id}`: `correlation_id`
/// from its envelope, `trace_id` the `Root` of its `attributes.AWSTraceHeader`, else of its
/// envelope's `trace_header` (see [`crate::events::trace_root`]); a field is left out when the
/// record does not have it. A `"record processed"` line closes each record (see the module
/// docs).
///
/// A record without a `messageId` (never seen in practice) that fails is reported with an
/// empty identifier, which makes Lambda treat the whole batch as failed: retrying everything
/// is safe because consumers are idempotent.
pub async fn partial_batch<'a, F, Fut>(
    records: &'a [SqsMessage],
    mut process: F,
) -> SqsBatchResponse
where
    F: FnMut(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let mut response = SqsBatchResponse::default();
    for record in records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let peek = Peek::of(record);
        let trace_id = record
            .attributes
            .get(AWS_TRACE_HEADER)
            .and_then(|header| trace_root(header))
            .or_else(|| peek.trace_header.as_deref().and_then(trace_root));
        let span = tracing::info_span!(
            "record",
            message_id,
            correlation_id = peek.correlation_id.as_deref(),
            trace_id,
        );
        let result = process(record).instrument(span.clone()).await;
        let _entered = span.enter();
        let (event_type, order_id) = (peek.event_type.as_deref(), peek.order_id());
        match result {
            Ok(()) => tracing::info!(event_type, order_id, outcome = "ok", "record processed"),
            Err(error) => {
                tracing::error!(
                    event_type,
                    order_id,
                    outcome = "failed",
                    code = error.code(),
                    error = %error.chain(),
                    "record processed"
                );
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}

/// The few envelope fields the log lines need, read from a record's body without building the
/// whole envelope (unknown fields and the rest of `data` are skipped); all `None` when the body
/// is missing or not JSON of that shape.
#[derive(Debug, Default, Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    correlation_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    trace_header: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<PeekData<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct PeekData<'a> {
    #[serde(borrow, default)]
    order_id: Option<Cow<'a, str>>,
}

impl<'a> Peek<'a> {
    fn of(record: &'a SqsMessage) -> Self {
        record
            .body
            .as_deref()
            .and_then(|body| serde_json::from_str(body).ok())
            .unwrap_or_default()
    }

    fn order_id(&self) -> Option<&str> {
        self.data.as_ref()?.order_id.as_deref()
    }
}

/// The event envelope in a record's body.
///
/// # Errors
/// [`Error::Validation`] on field `body` when it is missing or not an envelope.
pub fn envelope(record: &SqsMessage) -> Result<Envelope, Error> {
    let body = record
        .body
        .as_deref()
        .ok_or_else(|| Error::invalid("body", "is missing"))?;
    Envelope::from_json(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderId, now};
    use crate::events::StockRejected;
    use crate::telemetry::capture::Captured;
    use crate::testing::{failed_ids, sqs_event};
    use serde_json::{Value, json};

    const HEADER: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

    fn rejected(order_id: OrderId, trace_header: Option<&str>) -> String {
        let event = StockRejected {
            order_id,
            product_ids: Vec::new(),
            reason: "insufficient stock".to_owned(),
        };
        Envelope::wrap(&event, "req-9", now())
            .unwrap()
            .with_trace_header(trace_header.map(str::to_owned))
            .to_json()
            .unwrap()
    }

    fn processed_lines(captured: &Captured) -> Vec<Value> {
        captured
            .lines()
            .into_iter()
            .filter(|l| l["message"] == "record processed")
            .collect()
    }

    #[tokio::test]
    async fn each_record_is_logged_once_inside_its_record_span_with_its_outcome() {
        let (first, second) = (OrderId::new(), OrderId::new());
        let mut event = sqs_event(&[
            ("m-1", &rejected(first, Some(HEADER))),
            ("m-2", &rejected(second, None)),
            ("m-3", "Hello from SQS!"),
        ]);
        let other = "Root=1-67687c5a-a1b2c3d4e5f67890abcdef01;Sampled=1";
        event.records[1]
            .attributes
            .insert(AWS_TRACE_HEADER.to_owned(), other.to_owned());
        let captured = Captured::default();
        let _default = tracing::subscriber::set_default(captured.subscriber());

        let response = partial_batch(&event.records, |record| async move {
            tracing::info!("working");
            match record.message_id.as_deref() {
                Some("m-2") => Err(Error::internal("a bug", "boom")),
                _ => Ok(()),
            }
        })
        .await;

        assert_eq!(failed_ids(&response), ["m-2"]);
        let lines = processed_lines(&captured);
        assert_eq!(lines.len(), 3, "{lines:?}");
        let span = |line: &Value| line["spans"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            span(&lines[0]),
            json!({"name": "record", "message_id": "m-1", "correlation_id": "req-9", "trace_id": ROOT})
        );
        assert_eq!(lines[0]["event_type"], "StockRejected");
        assert_eq!(lines[0]["order_id"], first.to_string());
        assert_eq!(lines[0]["outcome"], "ok");
        assert_eq!(
            span(&lines[1])["trace_id"],
            "1-67687c5a-a1b2c3d4e5f67890abcdef01",
            "the record's AWSTraceHeader wins over the envelope's"
        );
        assert_eq!(lines[1]["order_id"], second.to_string());
        assert_eq!(lines[1]["outcome"], "failed");
        assert_eq!(lines[1]["level"], "ERROR");
        assert_eq!(
            span(&lines[2]),
            json!({"name": "record", "message_id": "m-3"}),
            "a body that is not an envelope has no correlation or trace id"
        );
        assert!(lines[2].get("event_type").is_none(), "{}", lines[2]);
        let working: Vec<Value> = captured
            .lines()
            .into_iter()
            .filter(|l| l["message"] == "working")
            .map(|l| span(&l)["message_id"].clone())
            .collect();
        assert_eq!(
            working,
            ["m-1", "m-2", "m-3"],
            "the work runs in the record's span"
        );
    }

    #[tokio::test]
    async fn an_outage_fails_the_record_and_the_others_are_acknowledged() {
        let event = sqs_event(&[("m-1", "one"), ("m-2", "two"), ("m-3", "three")]);

        let response = partial_batch(&event.records, |record| async move {
            match record.body.as_deref() {
                Some("two") => Err(Error::ServiceUnavailable(
                    "DynamoDB TransactWriteItems: ThrottlingError".into(),
                )),
                Some("three") => Err(Error::internal("a bug", "boom")),
                _ => Ok(()),
            }
        })
        .await;

        assert_eq!(failed_ids(&response), ["m-2", "m-3"]);
    }
}
