//! The outbox relay: DynamoDB stream records of the outbox table -> SQS messages.
//!
//! Each `INSERT` record's `NewImage` is an `OutboxItem` (`shared::aws::transact`) holding an
//! event envelope; the envelope goes to its [`Destination`] queue. Delivery is at least once:
//! a record is acknowledged only after SQS accepted its message, and consumers de-duplicate on
//! the event id.
//!
//! Failure semantics follow Lambda's stream event source mapping with
//! `ReportBatchItemFailures`: records of a shard are handled in order; on the first record that
//! cannot be published, its `SequenceNumber` is reported and the rest of the batch is left
//! alone. Lambda checkpoints before that record and retries from it (with
//! `MaximumRetryAttempts: -1`, until it succeeds), so nothing is skipped and order is kept.
//!
//! **Nothing is dropped.** A record that retrying could never make publishable — its
//! `NewImage` is not an outbox item, the item holds no event envelope, the event type has no
//! consumer, or it is not an `INSERT` at all although the template's filter lets only inserts
//! through, or it is not even a stream record — is a [`Poison`] record. It goes whole and
//! unchanged (the record's JSON as Lambda delivered it: [`StreamEvent`] keeps each record as a
//! JSON value and parses a typed [`EventRecord`] from it, so no field the typed record lacks is
//! lost) as the body of one message to the relay's dead-letter queue (`OUTBOX_DEAD_LETTER_QUEUE_URL`), with message
//! attributes `reason` (a [`Poison::code`]), `detail` and `sequence_number`; it is logged at
//! error level, and an alarm watches that queue. It is acknowledged only once SQS accepted that
//! message: when the dead-letter send fails, the record is reported like a failed publish and
//! Lambda retries from it.
//!
//! A dead-lettered record is not redriven automatically (it has no source queue): fix the
//! cause, then write the outbox item again.

use std::convert::Infallible;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use shared::Error;
use shared::aws::transact::OutboxItem;
use shared::events::{Destination, Envelope};
use shared::ports::EventPublisher;
use tracing::Instrument;

/// The consumer queues, one publisher each (see [`Destination::of`] for which events go where).
#[derive(Debug)]
pub struct Queues<P> {
    /// `INVENTORY_QUEUE_URL`: `OrderPlaced`, `OrderCancelled`, `PaymentDeclined`.
    pub inventory: P,
    /// `PAYMENTS_QUEUE_URL`: `StockReserved`, `OrderCancelled`.
    pub payments: P,
    /// `ORDERS_QUEUE_URL`: `StockRejected`, `PaymentCaptured`, `PaymentDeclined`,
    /// `RefundIssued`.
    pub orders: P,
}

impl<P> Queues<P> {
    fn to(&self, destination: Destination) -> &P {
        match destination {
            Destination::Inventory => &self.inventory,
            Destination::Payments => &self.payments,
            Destination::Orders => &self.orders,
        }
    }
}

/// A DynamoDB stream event (`{"Records": [...]}`) with each record kept as the JSON Lambda
/// delivered, so that a poison record is dead-lettered exactly as received; each is parsed
/// into an `aws_lambda_events` [`EventRecord`] on its own.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamEvent {
    /// `Records`, oldest first within a shard.
    #[serde(rename = "Records", default)]
    pub records: Vec<Value>,
}

/// Why a stream record can never be published (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poison {
    /// The record does not deserialise as a DynamoDB stream record at all.
    NotAStreamRecord,
    /// `eventName` is not `INSERT` (a `MODIFY` or `REMOVE` past the template's filter).
    NotAnInsert,
    /// `NewImage` does not deserialise as an `OutboxItem`.
    NotAnOutboxItem,
    /// The outbox item's `envelope` is not an event envelope.
    NoEnvelope,
    /// No queue consumes the envelope's `event_type`.
    NoDestination,
}

impl Poison {
    /// The stable code sent as the `reason` message attribute, e.g. `NOT_AN_OUTBOX_ITEM`.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotAStreamRecord => "NOT_A_STREAM_RECORD",
            Self::NotAnInsert => "NOT_AN_INSERT",
            Self::NotAnOutboxItem => "NOT_AN_OUTBOX_ITEM",
            Self::NoEnvelope => "NO_ENVELOPE",
            Self::NoDestination => "NO_DESTINATION",
        }
    }
}

/// One message for the dead-letter queue: a stream record the relay cannot publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message body: the stream record as JSON (see the module docs).
    pub body: String,
    /// Why it cannot be published.
    pub reason: Poison,
    /// What exactly was wrong, for people (a parse error, the unknown event type…); never empty.
    pub detail: String,
    /// The record's `SequenceNumber`, when it has one.
    pub sequence_number: Option<String>,
}

/// Where the relay puts the records it cannot publish (port of the relay's dead-letter queue).
#[async_trait]
pub trait DeadLetterQueue: Send + Sync {
    /// Stores `letter`; `Ok` only once it is durably accepted.
    ///
    /// # Errors
    /// [`Error::ServiceUnavailable`] when the queue cannot be reached or throttles,
    /// [`Error::Internal`] when it refuses the message.
    async fn send(&self, letter: &DeadLetter) -> Result<(), Error>;
}

/// Relays one batch; stops at the first record that fails and reports it (see the module docs).
///
/// Each record is handled in a span `record{sequence_number, correlation_id, trace_id}`
/// (`trace_id`: the `Root` of the envelope's trace header, which [`EventPublisher`]s pass on,
/// e.g. as SQS's `AWSTraceHeader`) and ends with one line `"record processed"` with
/// `event_type`, `order_id` (when known) and `outcome`: `ok` (published), `dead_lettered` or
/// `failed` (reported for retry).
pub async fn handle<P: EventPublisher, D: DeadLetterQueue>(
    queues: &Queues<P>,
    dead_letters: &D,
    event: LambdaEvent<StreamEvent>,
) -> Result<DynamoDbEventResponse, Infallible> {
    let mut response = DynamoDbEventResponse::default();
    for raw in &event.payload.records {
        let sequence_number = raw
            .pointer("/dynamodb/SequenceNumber")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let routed = route(raw);
        let envelope = routed.as_ref().ok().map(|(_, envelope)| envelope);
        let span = tracing::info_span!(
            "record",
            sequence_number = sequence_number.as_deref(),
            correlation_id = envelope.map(|e| e.correlation_id.as_str()),
            trace_id = envelope.and_then(Envelope::trace_id),
        );
        let event_type = envelope.map(|e| e.event_type.clone());
        let order_id = envelope
            .and_then(|e| e.data.get("order_id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let result = async {
            match routed {
                Ok((destinations, envelope)) => publish(queues, destinations, &envelope)
                    .await
                    .map(|()| "ok"),
                Err((reason, detail)) => {
                    dead_letter(dead_letters, raw, sequence_number.clone(), reason, detail)
                        .await
                        .map(|()| "dead_lettered")
                }
            }
        }
        .instrument(span.clone())
        .await;
        let _entered = span.enter();
        match &result {
            Ok(outcome) => tracing::info!(event_type, order_id, outcome, "record processed"),
            Err(_) => tracing::error!(event_type, order_id, outcome = "failed", "record processed"),
        }
        if let Err(error) = result {
            tracing::error!(
                sequence_number,
                error = %error.chain(),
                "relaying failed; reported so Lambda retries from this record"
            );
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = sequence_number;
            response.batch_item_failures.push(failure);
            break;
        }
    }
    Ok(response)
}

/// The queues and envelope of a publishable record, or why it is poison (with the detail).
fn route(raw: &Value) -> Result<(&'static [Destination], Envelope), (Poison, String)> {
    let record = EventRecord::deserialize(raw)
        .map_err(|e| (Poison::NotAStreamRecord, format!("record: {e}")))?;
    if record.event_name != "INSERT" {
        return Err((
            Poison::NotAnInsert,
            format!("eventName is {:?}", record.event_name),
        ));
    }
    let item = serde_dynamo::from_item::<_, OutboxItem>(record.change.new_image)
        .map_err(|e| (Poison::NotAnOutboxItem, format!("NewImage: {e}")))?;
    let envelope = Envelope::from_json(&item.envelope)
        .map_err(|e| (Poison::NoEnvelope, format!("envelope: {}", e.chain())))?;
    let destinations = Destination::of(&envelope.event_type);
    if destinations.is_empty() {
        return Err((
            Poison::NoDestination,
            format!("no queue consumes event type {:?}", envelope.event_type),
        ));
    }
    Ok((destinations, envelope))
}

/// Sends the envelope to each of its queues, in order. A failure fails the record, which is
/// retried whole: a queue that already got it gets it again, which its consumer's
/// de-duplication on the event id absorbs.
async fn publish<P: EventPublisher>(
    queues: &Queues<P>,
    destinations: &[Destination],
    envelope: &Envelope,
) -> Result<(), Error> {
    for &destination in destinations {
        queues.to(destination).publish(envelope).await?;
        shared::metrics::incr(shared::metrics::Metric::EventsRelayed);
        tracing::info!(
            event_id = %envelope.event_id,
            event_type = envelope.event_type,
            ?destination,
            "event relayed"
        );
    }
    Ok(())
}

async fn dead_letter<D: DeadLetterQueue>(
    dead_letters: &D,
    raw: &Value,
    sequence_number: Option<String>,
    reason: Poison,
    detail: String,
) -> Result<(), Error> {
    let letter = DeadLetter {
        body: raw.to_string(),
        reason,
        detail,
        sequence_number,
    };
    let text = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_owned);
    let (event_id, event_name) = (text("eventID"), text("eventName"));
    tracing::error!(
        event_id,
        event_name,
        sequence_number = letter.sequence_number,
        reason = reason.code(),
        detail = letter.detail,
        "stream record cannot be published; sending it whole to the dead-letter queue"
    );
    dead_letters.send(&letter).await?;
    shared::metrics::incr(shared::metrics::Metric::EventsDeadLettered);
    tracing::info!(
        sequence_number = letter.sequence_number,
        "stream record dead-lettered"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use lambda_runtime::Context;
    use serde_json::{Value, json};
    use shared::aws::transact::Outbox;
    use shared::domain::{OrderId, now};
    use shared::events::OrderCancelled;
    use shared::memory::RecordingPublisher;

    /// Records dead letters instead of sending them; can be told to fail.
    #[derive(Debug, Default)]
    struct RecordingDeadLetters {
        sent: Mutex<Vec<DeadLetter>>,
        failure: Mutex<Option<String>>,
    }

    impl RecordingDeadLetters {
        fn fail_with(&self, message: &str) {
            *self.failure.lock().unwrap() = Some(message.to_owned());
        }

        fn sent(&self) -> Vec<DeadLetter> {
            self.sent.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl DeadLetterQueue for RecordingDeadLetters {
        async fn send(&self, letter: &DeadLetter) -> Result<(), Error> {
            if let Some(message) = self.failure.lock().unwrap().clone() {
                return Err(Error::internal("injected failure", message));
            }
            self.sent.lock().unwrap().push(letter.clone());
            Ok(())
        }
    }

    fn queues() -> Queues<RecordingPublisher> {
        Queues {
            inventory: RecordingPublisher::new(),
            payments: RecordingPublisher::new(),
            orders: RecordingPublisher::new(),
        }
    }

    fn envelope() -> Envelope {
        shared::testing::stock_rejected_envelope()
    }

    /// A stream record as Lambda delivers it, with the outbox item of `envelope` as NewImage
    /// (built exactly as the orders and inventory services write it).
    fn record(sequence: &str, event_name: &str, envelope: &Envelope) -> Value {
        let put = Outbox::new("outbox").put(envelope).unwrap();
        let item = put.put().unwrap().item().clone();
        let image: serde_dynamo::Item = item.into();
        json!({
            "eventID": format!("e-{sequence}"),
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_700_000_000,
                "Keys": {"id": {"S": envelope.event_id.to_string()}},
                "NewImage": image,
                "SequenceNumber": sequence,
                "SizeBytes": 100,
                "StreamViewType": "NEW_IMAGE"
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/outbox/stream/2025"
        })
    }

    /// An inserted item that is not an outbox item.
    fn foreign(sequence: &str) -> Value {
        let mut foreign = record(sequence, "INSERT", &envelope());
        foreign["dynamodb"]["NewImage"] = json!({"id": {"S": "x"}, "note": {"S": "hand-written"}});
        foreign
    }

    /// The event as the runtime hands it over: deserialised from the invocation's bytes.
    fn event(records: Vec<Value>) -> LambdaEvent<StreamEvent> {
        let bytes = json!({ "Records": records }).to_string();
        let payload = serde_json::from_str(&bytes).unwrap();
        LambdaEvent::new(payload, Context::default())
    }

    #[tokio::test]
    async fn an_inserted_event_goes_to_its_consumers_queue_unchanged() {
        let queues = queues();
        let dead_letters = RecordingDeadLetters::default();
        let envelope = envelope();

        let Ok(response) = handle(
            &queues,
            &dead_letters,
            event(vec![record("1", "INSERT", &envelope)]),
        )
        .await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(queues.orders.published(), [envelope]);
        assert!(queues.inventory.published().is_empty());
        assert!(dead_letters.sent().is_empty());
    }

    #[tokio::test]
    async fn a_traced_event_is_published_with_its_trace_header_as_aws_trace_header() {
        let queues = queues();
        let dead_letters = RecordingDeadLetters::default();
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let envelope = envelope().with_trace_header(Some(header.to_owned()));

        let Ok(response) = handle(
            &queues,
            &dead_letters,
            event(vec![record("1", "INSERT", &envelope)]),
        )
        .await;

        assert!(response.batch_item_failures.is_empty());
        let published = queues.orders.published();
        assert_eq!(
            published,
            [envelope],
            "the trace header survives the outbox item"
        );
        let attribute = shared::aws::trace_attribute(&published[0])
            .unwrap()
            .unwrap();
        assert_eq!(attribute.string_value(), Some(header));
        assert_eq!(attribute.data_type(), "String");
    }

    #[tokio::test]
    async fn an_event_with_two_consumers_goes_to_both_queues() {
        let queues = queues();
        let dead_letters = RecordingDeadLetters::default();
        let cancelled = OrderCancelled {
            order_id: OrderId::new(),
            customer_id: shared::domain::UserId::new(),
            previous_status: shared::domain::OrderStatus::Confirmed,
        };
        let envelope = Envelope::wrap(&cancelled, "req-1", now()).unwrap();

        let Ok(response) = handle(
            &queues,
            &dead_letters,
            event(vec![record("1", "INSERT", &envelope)]),
        )
        .await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(
            queues.inventory.published(),
            std::slice::from_ref(&envelope)
        );
        assert_eq!(queues.payments.published(), [envelope]);
        assert!(queues.orders.published().is_empty());
    }

    /// Found by the `stream_event` fuzz target: a number beyond `u64` is read as an `f64`, and
    /// with serde_json's default (best-effort) float parsing, printing it and reading it back
    /// gave another number, so the dead letter was not the record as received. The workspace
    /// enables serde_json's `float_roundtrip`.
    #[tokio::test]
    async fn a_dead_letter_keeps_a_number_beyond_u64_as_received() {
        let queues = queues();
        let dead_letters = RecordingDeadLetters::default();
        let text = foreign("7").to_string().replace(
            "\"SizeBytes\":",
            &format!("\"SizeBytes\":3{},\"was\":", "0".repeat(91)),
        );
        let poison: Value = serde_json::from_str(&text).unwrap();
        let payload = serde_json::from_str(&format!(r#"{{"Records":[{text}]}}"#)).unwrap();

        let Ok(response) = handle(
            &queues,
            &dead_letters,
            LambdaEvent::new(payload, Context::default()),
        )
        .await;

        assert!(response.batch_item_failures.is_empty());
        let sent = dead_letters.sent();
        assert_eq!(sent.len(), 1);
        let body: Value = serde_json::from_str(&sent[0].body).unwrap();
        assert_eq!(body, poison, "every field, unchanged");
    }

    #[tokio::test]
    async fn an_item_that_is_not_an_outbox_item_goes_whole_to_the_dead_letter_queue() {
        let queues = queues();
        let dead_letters = RecordingDeadLetters::default();
        let poison = foreign("7");

        let Ok(response) = handle(&queues, &dead_letters, event(vec![poison.clone()])).await;

        assert!(response.batch_item_failures.is_empty());
        let sent = dead_letters.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].reason, Poison::NotAnOutboxItem);
        assert_eq!(sent[0].sequence_number.as_deref(), Some("7"));
        assert!(!sent[0].detail.is_empty());
        let body: Value = serde_json::from_str(&sent[0].body).unwrap();
        assert_eq!(body, poison, "every field, unchanged");
    }

    #[tokio::test]
    async fn every_kind_of_poison_record_is_dead_lettered_with_its_reason() {
        let queues = queues();
        let dead_letters = RecordingDeadLetters::default();
        let mut no_envelope = record("2", "INSERT", &envelope());
        no_envelope["dynamodb"]["NewImage"]["envelope"] = json!({"S": "not json"});
        let mut unknown_type = envelope();
        unknown_type.event_type = "PaymentTaken".into();
        let not_a_record = json!({"eventName": 42, "dynamodb": {"SequenceNumber": "5"}});

        let Ok(response) = handle(
            &queues,
            &dead_letters,
            event(vec![
                record("1", "REMOVE", &envelope()),
                no_envelope,
                record("3", "INSERT", &unknown_type),
                foreign("4"),
                not_a_record.clone(),
            ]),
        )
        .await;

        assert!(response.batch_item_failures.is_empty());
        let reasons: Vec<_> = dead_letters
            .sent()
            .iter()
            .map(|l| (l.sequence_number.clone().unwrap(), l.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                ("1".to_owned(), Poison::NotAnInsert),
                ("2".to_owned(), Poison::NoEnvelope),
                ("3".to_owned(), Poison::NoDestination),
                ("4".to_owned(), Poison::NotAnOutboxItem),
                ("5".to_owned(), Poison::NotAStreamRecord),
            ]
        );
        let last: Value = serde_json::from_str(&dead_letters.sent()[4].body).unwrap();
        assert_eq!(last, not_a_record, "kept as delivered");
        assert!(queues.orders.published().is_empty());
        assert!(queues.inventory.published().is_empty());
    }

    #[tokio::test]
    async fn the_batch_goes_on_after_a_dead_lettered_record() {
        let queues = queues();
        let dead_letters = RecordingDeadLetters::default();
        let (first, last) = (envelope(), envelope());

        let Ok(response) = handle(
            &queues,
            &dead_letters,
            event(vec![
                record("1", "INSERT", &first),
                foreign("2"),
                record("3", "INSERT", &last),
            ]),
        )
        .await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(dead_letters.sent().len(), 1);
        assert_eq!(queues.orders.published(), [first, last]);
    }

    #[tokio::test]
    async fn a_failed_dead_letter_send_reports_its_sequence_number_and_stops_the_batch() {
        let queues = queues();
        let dead_letters = RecordingDeadLetters::default();
        dead_letters.fail_with("dead-letter queue unavailable");

        let Ok(response) = handle(
            &queues,
            &dead_letters,
            event(vec![
                record("21", "INSERT", &envelope()),
                foreign("22"),
                record("23", "INSERT", &envelope()),
            ]),
        )
        .await;

        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "22"}]})
        );
        assert_eq!(
            queues.orders.published().len(),
            1,
            "only the record before it"
        );
    }

    #[tokio::test]
    async fn a_failed_publish_reports_its_sequence_number_and_stops_the_batch() {
        let queues = queues();
        let dead_letters = RecordingDeadLetters::default();
        queues.orders.fail_with("queue unavailable");

        let Ok(response) = handle(
            &queues,
            &dead_letters,
            event(vec![record("11", "INSERT", &envelope()), foreign("12")]),
        )
        .await;

        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "11"}]})
        );
        assert!(dead_letters.sent().is_empty(), "nothing after the failure");
    }

    #[test]
    fn reason_codes_are_stable() {
        let codes = [
            Poison::NotAStreamRecord,
            Poison::NotAnInsert,
            Poison::NotAnOutboxItem,
            Poison::NoEnvelope,
            Poison::NoDestination,
        ]
        .map(Poison::code);

        assert_eq!(
            codes,
            [
                "NOT_A_STREAM_RECORD",
                "NOT_AN_INSERT",
                "NOT_AN_OUTBOX_ITEM",
                "NO_ENVELOPE",
                "NO_DESTINATION"
            ]
        );
    }
}
