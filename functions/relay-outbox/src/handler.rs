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
//! `REMOVE` records (TTL expiry) and `MODIFY` are ignored (the template's filter already drops
//! them). An item that is not an outbox item, or an event type with no consumer, is logged and
//! skipped: retrying could not make it publishable.

use std::convert::Infallible;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::LambdaEvent;
use shared::Error;
use shared::aws::transact::OutboxItem;
use shared::events::{Destination, Envelope};
use shared::http::ErrorResponse;
use shared::ports::EventPublisher;

/// The consumer queues, one publisher each.
#[derive(Debug)]
pub struct Queues<P> {
    /// `INVENTORY_QUEUE_URL`: `OrderPlaced`, `OrderCancelled`.
    pub inventory: P,
    /// `ORDERS_QUEUE_URL`: `StockReserved`, `StockRejected`.
    pub orders: P,
}

impl<P> Queues<P> {
    fn to(&self, destination: Destination) -> &P {
        match destination {
            Destination::Inventory => &self.inventory,
            Destination::Orders => &self.orders,
        }
    }
}

/// What to do with one stream record.
enum Outcome {
    Published,
    Skipped(&'static str),
}

/// Relays one batch; stops at the first record that fails and reports it (see the module docs).
pub async fn handle<P: EventPublisher>(
    queues: &Queues<P>,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Infallible> {
    let mut response = DynamoDbEventResponse::default();
    for record in &event.payload.records {
        let sequence_number = record.change.sequence_number.clone();
        match relay(queues, record).await {
            Ok(Outcome::Published) => {}
            Ok(Outcome::Skipped(why)) => {
                tracing::warn!(
                    event_name = record.event_name,
                    sequence_number,
                    why,
                    "stream record skipped"
                );
            }
            Err(error) => {
                tracing::error!(
                    sequence_number,
                    code = error.code(),
                    error = %error.chain(),
                    "publishing failed; reported so Lambda retries from this record"
                );
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = sequence_number;
                response.batch_item_failures.push(failure);
                break;
            }
        }
    }
    Ok(response)
}

async fn relay<P: EventPublisher>(
    queues: &Queues<P>,
    record: &EventRecord,
) -> Result<Outcome, Error> {
    if record.event_name != "INSERT" {
        return Ok(Outcome::Skipped("not an INSERT"));
    }
    let Ok(item) = serde_dynamo::from_item::<_, OutboxItem>(record.change.new_image.clone()) else {
        return Ok(Outcome::Skipped("NewImage is not an outbox item"));
    };
    let Ok(envelope) = Envelope::from_json(&item.envelope) else {
        return Ok(Outcome::Skipped("outbox item holds no event envelope"));
    };
    let Some(destination) = Destination::of(&envelope.event_type) else {
        return Ok(Outcome::Skipped("no consumer for this event type"));
    };
    queues.to(destination).publish(&envelope).await?;
    tracing::info!(
        event_id = %envelope.event_id,
        event_type = envelope.event_type,
        correlation_id = envelope.correlation_id,
        ?destination,
        "event relayed"
    );
    Ok(Outcome::Published)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use serde_json::{Value, json};
    use shared::aws::transact::Outbox;
    use shared::domain::{OrderId, now};
    use shared::events::StockReserved;
    use shared::memory::RecordingPublisher;

    fn queues() -> Queues<RecordingPublisher> {
        Queues {
            inventory: RecordingPublisher::new(),
            orders: RecordingPublisher::new(),
        }
    }

    fn envelope() -> Envelope {
        let event = StockReserved {
            order_id: OrderId::new(),
        };
        Envelope::wrap(&event, "req-1", now()).unwrap()
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

    fn event(records: Vec<Value>) -> LambdaEvent<Event> {
        let payload = serde_json::from_value(json!({ "Records": records })).unwrap();
        LambdaEvent::new(payload, Context::default())
    }

    #[tokio::test]
    async fn an_inserted_event_goes_to_its_consumers_queue_unchanged() {
        let queues = queues();
        let envelope = envelope();

        let Ok(response) = handle(&queues, event(vec![record("1", "INSERT", &envelope)])).await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(queues.orders.published(), [envelope]);
        assert!(queues.inventory.published().is_empty());
    }

    #[tokio::test]
    async fn removals_and_foreign_items_are_skipped() {
        let queues = queues();
        let mut foreign = record("2", "INSERT", &envelope());
        foreign["dynamodb"]["NewImage"] = json!({"id": {"S": "x"}});

        let Ok(response) = handle(
            &queues,
            event(vec![record("1", "REMOVE", &envelope()), foreign]),
        )
        .await;

        assert!(response.batch_item_failures.is_empty());
        assert!(queues.orders.published().is_empty());
    }

    #[tokio::test]
    async fn a_failed_publish_reports_its_sequence_number_and_stops_the_batch() {
        let queues = queues();
        queues.orders.fail_with("queue unavailable");

        let Ok(response) = handle(
            &queues,
            event(vec![
                record("11", "INSERT", &envelope()),
                record("12", "INSERT", &envelope()),
            ]),
        )
        .await;

        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "11"}]})
        );
    }
}
