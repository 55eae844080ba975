//! SQS consumer of the orders queue (`ReportBatchItemFailures`).
//!
//! Each record's body is an event [`Envelope`]. `OrderPlaced` confirms the order (`PENDING` ->
//! `CONFIRMED`); an already confirmed order is a no-op, so a re-delivered message succeeds.
//! Other event types are logged and skipped. A record that is not an envelope, or whose
//! processing fails (unknown order, order in another status, store failure), is reported in
//! `batchItemFailures` by its `messageId`: SQS re-delivers only those, and after
//! `maxReceiveCount` moves them to the dead-letter queue, where an alarm fires.
//!
//! Records are processed one after another: a batch holds at most 10, each costs one
//! conditional `UpdateItem` (a few milliseconds), so concurrency would save little against the
//! 10 s timeout while making logs interleave and bursting DynamoDB writes.

use std::convert::Infallible;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use shared::Error;
use shared::domain::Confirmation;
use shared::events::{Envelope, OrderPlaced};
use shared::ports::OrderStatusUpdater;

/// Handles one batch. Never fails as a whole: per-record failures go in the response.
///
/// A record without a `messageId` (never seen in practice) that fails is reported with an
/// empty identifier, which makes Lambda treat the whole batch as failed: retrying everything
/// is safe because processing is idempotent.
pub async fn handle<U: OrderStatusUpdater>(
    orders: &U,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Infallible> {
    let mut response = SqsBatchResponse::default();
    for record in &event.payload.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        if let Err(error) = process(orders, record).await {
            tracing::error!(
                message_id,
                code = error.code(),
                error = %error.chain(),
                "record failed; reported for retry"
            );
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}

async fn process<U: OrderStatusUpdater>(orders: &U, record: &SqsMessage) -> Result<(), Error> {
    let body = record
        .body
        .as_deref()
        .ok_or_else(|| Error::invalid("body", "is missing"))?;
    let envelope = Envelope::from_json(body)?;
    if !envelope.is::<OrderPlaced>() {
        tracing::warn!(
            event_id = %envelope.event_id,
            event_type = envelope.event_type,
            "unknown event type; skipped"
        );
        return Ok(());
    }
    let event: OrderPlaced = envelope.decode()?;
    let outcome = orders.confirm(&event.order_id).await?;
    tracing::info!(
        order_id = %event.order_id,
        event_id = %envelope.event_id,
        correlation_id = envelope.correlation_id,
        already_confirmed = outcome == Confirmation::AlreadyConfirmed,
        "order confirmed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use serde_json::{Value, json};
    use shared::domain::{Order, OrderId, OrderItem, OrderStatus, UserId, now};
    use shared::memory::InMemoryOrders;

    fn pending_order() -> Order {
        let item = OrderItem::parse("items[0]", "SKU-1", 2, 1000).unwrap();
        Order::place(OrderId::new(), UserId::new(), vec![item], now()).unwrap()
    }

    fn order_in(status: &str) -> Order {
        let mut value = serde_json::to_value(pending_order()).unwrap();
        value["status"] = json!(status);
        serde_json::from_value(value).unwrap()
    }

    fn order_placed_body(order: &Order) -> String {
        Envelope::wrap(&OrderPlaced::from(order), "req-1", now())
            .unwrap()
            .to_json()
            .unwrap()
    }

    /// An SQS event from the fixture, one record per `(message_id, body)`.
    fn sqs_event(records: &[(&str, &str)]) -> LambdaEvent<SqsEvent> {
        let fixture: Value =
            serde_json::from_str(include_str!("../../../events/sqs-receive-message.json")).unwrap();
        let template = fixture["Records"][0].clone();
        let records: Vec<Value> = records
            .iter()
            .map(|(id, body)| {
                let mut record = template.clone();
                record["messageId"] = json!(id);
                record["body"] = json!(body);
                record
            })
            .collect();
        let payload = serde_json::from_value(json!({ "Records": records })).unwrap();
        LambdaEvent::new(payload, Context::default())
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn order_placed_confirms_the_order() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);

        let Ok(response) = handle(&orders, sqs_event(&[("m1", &order_placed_body(&order))])).await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(orders.status(&order.id()), Some(OrderStatus::Confirmed));
    }

    #[tokio::test]
    async fn only_the_bad_record_of_a_batch_is_reported() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let event = sqs_event(&[
            ("good-1", &order_placed_body(&order)),
            ("bad-2", "Hello from SQS!"),
        ]);

        let Ok(response) = handle(&orders, event).await;

        assert_eq!(failed_ids(&response), ["bad-2"]);
        assert_eq!(orders.status(&order.id()), Some(OrderStatus::Confirmed));
    }

    #[tokio::test]
    async fn a_duplicate_delivery_succeeds_and_changes_nothing() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let body = order_placed_body(&order);
        let Ok(first) = handle(&orders, sqs_event(&[("m1", &body)])).await;
        let after_first = orders.find(&order.id()).unwrap();

        let Ok(second) = handle(&orders, sqs_event(&[("m1", &body), ("m1-again", &body)])).await;

        assert!(first.batch_item_failures.is_empty());
        assert!(second.batch_item_failures.is_empty());
        assert_eq!(orders.find(&order.id()).unwrap(), after_first);
        assert_eq!(after_first.status(), OrderStatus::Confirmed);
    }

    #[tokio::test]
    async fn an_unknown_event_type_is_skipped_without_failure() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let mut envelope: Value = serde_json::from_str(&order_placed_body(&order)).unwrap();
        envelope["event_type"] = json!("OrderShipped");

        let Ok(response) = handle(&orders, sqs_event(&[("m1", &envelope.to_string())])).await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(orders.status(&order.id()), Some(OrderStatus::Pending));
    }

    #[tokio::test]
    async fn an_event_for_an_unknown_order_is_reported() {
        let orders = InMemoryOrders::new();

        let Ok(response) = handle(
            &orders,
            sqs_event(&[("m1", &order_placed_body(&pending_order()))]),
        )
        .await;

        assert_eq!(failed_ids(&response), ["m1"]);
    }

    #[tokio::test]
    async fn an_event_for_a_cancelled_order_is_reported_and_the_order_left_alone() {
        let order = order_in("CANCELLED");
        let orders = InMemoryOrders::with([order.clone()]);

        let Ok(response) = handle(&orders, sqs_event(&[("m1", &order_placed_body(&order))])).await;

        assert_eq!(failed_ids(&response), ["m1"]);
        assert_eq!(orders.status(&order.id()), Some(OrderStatus::Cancelled));
    }

    #[tokio::test]
    async fn an_order_placed_with_malformed_data_is_reported() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let mut envelope: Value = serde_json::from_str(&order_placed_body(&order)).unwrap();
        envelope["data"]["order_id"] = json!("not-an-id");

        let Ok(response) = handle(&orders, sqs_event(&[("m1", &envelope.to_string())])).await;

        assert_eq!(failed_ids(&response), ["m1"]);
        assert_eq!(orders.status(&order.id()), Some(OrderStatus::Pending));
    }

    #[tokio::test]
    async fn a_store_outage_reports_every_record() {
        let (a, b) = (pending_order(), pending_order());
        let orders = InMemoryOrders::with([a.clone(), b.clone()]);
        orders.fail_with("throttled");
        let event = sqs_event(&[
            ("m1", &order_placed_body(&a)),
            ("m2", &order_placed_body(&b)),
        ]);

        let Ok(response) = handle(&orders, event).await;

        assert_eq!(failed_ids(&response), ["m1", "m2"]);
    }

    #[tokio::test]
    async fn the_response_serialises_as_lambda_expects() {
        let orders = InMemoryOrders::new();

        let Ok(response) = handle(&orders, sqs_event(&[("m1", "{}")])).await;

        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
        );
    }
}
