//! SQS consumer of the orders queue (`ReportBatchItemFailures`): the orders side of the
//! stock-reservation saga.
//!
//! Each record's body is an event [`Envelope`](shared::events::Envelope). `StockReserved` moves the order `PENDING ->
//! CONFIRMED`, `StockRejected` moves it `PENDING -> REJECTED`; both in one transaction with a
//! de-duplication marker on the event id, so a redelivered event has no second effect. An
//! order cancelled meanwhile is left alone (its `OrderCancelled` releases the stock).
//!
//! A record that is not an envelope, of another event type (misrouted: nothing is acknowledged
//! unprocessed), or whose processing fails (unknown order, an order in a
//! status that cannot take the outcome, a store failure), is reported in `batchItemFailures` by
//! its `messageId`: SQS re-delivers only those, and after `maxReceiveCount` moves them to the
//! dead-letter queue, where an alarm fires.

use std::convert::Infallible;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use shared::Error;
use shared::consumer::{envelope, partial_batch};
use shared::domain::OrderStatus;
use shared::events::{Event, StockRejected, StockReserved};
use shared::ports::OrderSettlement;

/// The consumer's name in de-duplication markers (`process-orders#<event id>`).
pub const CONSUMER: &str = "process-orders";

/// Handles one batch. Never fails as a whole: per-record failures go in the response (see
/// [`shared::consumer::partial_batch`]).
pub async fn handle<S: OrderSettlement>(
    orders: &S,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Infallible> {
    Ok(partial_batch(&event.payload.records, |record| process(orders, record)).await)
}

async fn process<S: OrderSettlement>(orders: &S, record: &SqsMessage) -> Result<(), Error> {
    let envelope = envelope(record)?;
    let (order_id, to) = if envelope.is::<StockReserved>() {
        (
            envelope.decode::<StockReserved>()?.order_id,
            OrderStatus::Confirmed,
        )
    } else if envelope.is::<StockRejected>() {
        (
            envelope.decode::<StockRejected>()?.order_id,
            OrderStatus::Rejected,
        )
    } else {
        return Err(Error::invalid(
            "event_type",
            format!(
                "{} is not consumed here (expected {} or {})",
                envelope.event_type,
                StockReserved::TYPE,
                StockRejected::TYPE
            ),
        ));
    };
    let outcome = orders
        .settle(CONSUMER, envelope.event_id, &order_id, to)
        .await?;
    tracing::info!(
        %order_id,
        event_id = %envelope.event_id,
        correlation_id = envelope.correlation_id,
        %to,
        ?outcome,
        "stock reservation outcome applied"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use serde_json::{Value, json};
    use shared::domain::{Order, OrderId, OrderItem, ProductId, UserId, now};
    use shared::events::Envelope;
    use shared::memory::InMemoryOrders;
    use shared::testing::failed_ids;

    fn pending_order() -> Order {
        let item = OrderItem::parse("items[0]", "SKU-1", 2, 1000).unwrap();
        Order::place(OrderId::new(), UserId::new(), vec![item], now()).unwrap()
    }

    fn reserved(order: &Order) -> String {
        let event = StockReserved {
            order_id: order.id(),
        };
        Envelope::wrap(&event, "req-1", now())
            .unwrap()
            .to_json()
            .unwrap()
    }

    fn rejected(order: &Order) -> String {
        let event = StockRejected {
            order_id: order.id(),
            product_ids: vec![ProductId::parse("SKU-1").unwrap()],
            reason: "insufficient stock".to_owned(),
        };
        Envelope::wrap(&event, "req-1", now())
            .unwrap()
            .to_json()
            .unwrap()
    }

    /// An SQS event from the fixture, one record per `(message_id, body)`.
    fn sqs_event(records: &[(&str, &str)]) -> LambdaEvent<SqsEvent> {
        LambdaEvent::new(shared::testing::sqs_event(records), Context::default())
    }

    fn status(orders: &InMemoryOrders, order: &Order) -> OrderStatus {
        orders.find(&order.id()).unwrap().status()
    }

    #[tokio::test]
    async fn stock_reserved_confirms_and_stock_rejected_rejects() {
        let (a, b) = (pending_order(), pending_order());
        let orders = InMemoryOrders::with([a.clone(), b.clone()]);

        let Ok(response) = handle(
            &orders,
            sqs_event(&[("m1", &reserved(&a)), ("m2", &rejected(&b))]),
        )
        .await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(status(&orders, &a), OrderStatus::Confirmed);
        assert_eq!(status(&orders, &b), OrderStatus::Rejected);
    }

    #[tokio::test]
    async fn only_the_bad_record_of_a_batch_is_reported() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let event = sqs_event(&[("good-1", &reserved(&order)), ("bad-2", "Hello from SQS!")]);

        let Ok(response) = handle(&orders, event).await;

        assert_eq!(failed_ids(&response), ["bad-2"]);
        assert_eq!(status(&orders, &order), OrderStatus::Confirmed);
    }

    #[tokio::test]
    async fn the_same_event_delivered_ten_times_has_one_effect() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let body = reserved(&order);

        for n in 0..10 {
            let Ok(response) = handle(&orders, sqs_event(&[(&format!("m{n}"), &body)])).await;
            assert!(response.batch_item_failures.is_empty());
        }

        assert_eq!(status(&orders, &order), OrderStatus::Confirmed);
    }

    #[tokio::test]
    async fn an_outcome_for_a_cancelled_order_is_acknowledged_and_changes_nothing() {
        let mut order = pending_order();
        order.transition(OrderStatus::Cancelled, now()).unwrap();
        let orders = InMemoryOrders::with([order.clone()]);

        let Ok(response) = handle(&orders, sqs_event(&[("m1", &reserved(&order))])).await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(status(&orders, &order), OrderStatus::Cancelled);
    }

    #[tokio::test]
    async fn an_unknown_event_type_is_reported_not_skipped() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let mut envelope: Value = serde_json::from_str(&reserved(&order)).unwrap();
        envelope["event_type"] = json!("OrderShipped");

        let Ok(response) = handle(&orders, sqs_event(&[("m1", &envelope.to_string())])).await;

        assert_eq!(failed_ids(&response), ["m1"]);
        assert_eq!(status(&orders, &order), OrderStatus::Pending);
    }

    #[tokio::test]
    async fn an_event_for_an_unknown_order_or_with_malformed_data_is_reported() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let mut malformed: Value = serde_json::from_str(&reserved(&order)).unwrap();
        malformed["data"]["order_id"] = json!("not-an-id");
        let event = sqs_event(&[
            ("m1", &reserved(&pending_order())),
            ("m2", &malformed.to_string()),
        ]);

        let Ok(response) = handle(&orders, event).await;

        assert_eq!(failed_ids(&response), ["m1", "m2"]);
        assert_eq!(status(&orders, &order), OrderStatus::Pending);
    }

    #[tokio::test]
    async fn a_store_outage_reports_every_record() {
        let (a, b) = (pending_order(), pending_order());
        let orders = InMemoryOrders::with([a.clone(), b.clone()]);
        orders.fail_with("throttled");
        let event = sqs_event(&[("m1", &reserved(&a)), ("m2", &reserved(&b))]);

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
