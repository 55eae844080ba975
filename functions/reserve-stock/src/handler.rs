//! SQS consumer of the inventory queue (`ReportBatchItemFailures`): the inventory side of the
//! stock-reservation saga.
//!
//! Each record's body is an event [`Envelope`](shared::events::Envelope):
//! - `OrderPlaced` reserves stock for every line in one transaction, all or nothing, and
//!   emits `StockReserved`; if a product is short or missing, nothing is reserved and
//!   `StockRejected` is emitted instead;
//! - `OrderCancelled` puts reserved stock back, or, when the cancellation overtook the
//!   `OrderPlaced`, records the order as cancelled so that nothing is reserved for it later;
//! - `PaymentDeclined` puts reserved stock back: the saga's compensation for a charge the
//!   provider declined.
//!
//! Effects, events (outbox) and a de-duplication marker on the event id are committed
//! together, so a redelivered event has no second effect.
//!
//! A record that is not an envelope, of another event type (misrouted: nothing is acknowledged
//! unprocessed), or whose processing fails (malformed data, throttling, a
//! conflicting concurrent transaction, an outage), is reported in `batchItemFailures` by its
//! `messageId`: SQS re-delivers only those, and after `maxReceiveCount` moves them to the
//! dead-letter queue, where an alarm fires.
//!
//! Records are processed one after another: a batch holds at most 10, each costs one or two
//! transactions, and orders touching the same products would only conflict if run together.

use std::convert::Infallible;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use shared::Error;
use shared::consumer::{envelope, partial_batch};
use shared::events::{Event, OrderCancelled, OrderPlaced, PaymentDeclined};
use shared::ports::StockReservations;

/// Handles one batch. Never fails as a whole: per-record failures go in the response (see
/// [`shared::consumer::partial_batch`]).
pub async fn handle<S: StockReservations>(
    inventory: &S,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Infallible> {
    Ok(partial_batch(&event.payload.records, |record| process(inventory, record)).await)
}

async fn process<S: StockReservations>(inventory: &S, record: &SqsMessage) -> Result<(), Error> {
    let envelope = envelope(record)?;
    if envelope.is::<OrderPlaced>() {
        let placed: OrderPlaced = envelope.decode()?;
        let outcome = inventory.reserve(&envelope, &placed).await?;
        tracing::info!(
            order_id = %placed.order_id,
            event_id = %envelope.event_id,
            correlation_id = envelope.correlation_id,
            ?outcome,
            "order placed: reservation decided"
        );
    } else if envelope.is::<OrderCancelled>() {
        let cancelled: OrderCancelled = envelope.decode()?;
        let outcome = inventory.release(&envelope, cancelled.order_id).await?;
        tracing::info!(
            order_id = %cancelled.order_id,
            event_id = %envelope.event_id,
            correlation_id = envelope.correlation_id,
            ?outcome,
            "order cancelled: reservation released"
        );
    } else if envelope.is::<PaymentDeclined>() {
        let declined: PaymentDeclined = envelope.decode()?;
        let outcome = inventory.release(&envelope, declined.order_id).await?;
        tracing::info!(
            order_id = %declined.order_id,
            event_id = %envelope.event_id,
            correlation_id = envelope.correlation_id,
            ?outcome,
            "payment declined: reservation released (compensation)"
        );
    } else {
        return Err(Error::invalid(
            "event_type",
            format!(
                "{} is not consumed here (expected {}, {} or {})",
                envelope.event_type,
                OrderPlaced::TYPE,
                OrderCancelled::TYPE,
                PaymentDeclined::TYPE
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use serde_json::{Value, json};
    use shared::domain::{
        NewProduct, OrderId, OrderItem, OrderStatus, Product, ProductId, ReservationStatus, UserId,
        now,
    };
    use shared::events::Envelope;
    use shared::events::{StockRejected, StockReserved};
    use shared::memory::InMemoryProducts;
    use shared::testing::failed_ids;

    fn product(id: &str, stock: i64) -> Product {
        NewProduct::parse(id, "", "misc", 100, stock)
            .unwrap()
            .into_product(ProductId::parse(id).unwrap(), now())
    }

    fn id(raw: &str) -> ProductId {
        ProductId::parse(raw).unwrap()
    }

    fn order_placed(lines: &[(&str, i64)]) -> (OrderPlaced, String) {
        let items: Vec<OrderItem> = lines
            .iter()
            .enumerate()
            .map(|(i, (product, quantity))| {
                OrderItem::parse(&format!("items[{i}]"), product, *quantity, 100).unwrap()
            })
            .collect();
        let event = OrderPlaced {
            order_id: OrderId::new(),
            customer_id: UserId::new(),
            total_cents: items.iter().map(|i| i.line_total().unwrap().cents()).sum(),
            items,
            payment_method: None,
        };
        let body = Envelope::wrap(&event, "req-1", now())
            .unwrap()
            .to_json()
            .unwrap();
        (event, body)
    }

    fn order_cancelled(placed: &OrderPlaced) -> String {
        let event = OrderCancelled {
            order_id: placed.order_id,
            customer_id: placed.customer_id,
            previous_status: OrderStatus::Pending,
        };
        Envelope::wrap(&event, "req-2", now())
            .unwrap()
            .to_json()
            .unwrap()
    }

    /// An SQS event from the fixture, one record per `(message_id, body)`.
    fn sqs_event(records: &[(&str, &str)]) -> LambdaEvent<SqsEvent> {
        LambdaEvent::new(shared::testing::sqs_event(records), Context::default())
    }

    #[tokio::test]
    async fn order_placed_reserves_the_stock_and_emits_stock_reserved() {
        let inventory = InMemoryProducts::with([product("A", 5), product("B", 2)]);
        let (placed, body) = order_placed(&[("A", 2), ("B", 2), ("A", 1)]);

        let Ok(response) = handle(&inventory, sqs_event(&[("m1", &body)])).await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(inventory.stock(&id("A")), Some(2));
        assert_eq!(inventory.stock(&id("B")), Some(0));
        let reservation = inventory.reservation(&placed.order_id).unwrap();
        assert_eq!(reservation.status, ReservationStatus::Reserved);
        let outbox = inventory.outbox();
        assert_eq!(outbox.len(), 1);
        assert_eq!(
            outbox[0].decode::<StockReserved>().unwrap().order_id,
            placed.order_id
        );
        assert_eq!(outbox[0].correlation_id, "req-1");
    }

    #[tokio::test]
    async fn a_short_product_rejects_the_whole_order_and_emits_stock_rejected() {
        let inventory = InMemoryProducts::with([product("A", 5), product("B", 1)]);
        let (placed, body) = order_placed(&[("A", 2), ("B", 2)]);

        let Ok(response) = handle(&inventory, sqs_event(&[("m1", &body)])).await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(inventory.stock(&id("A")), Some(5));
        assert_eq!(inventory.stock(&id("B")), Some(1));
        let rejected: StockRejected = inventory.outbox()[0].decode().unwrap();
        assert_eq!(rejected.order_id, placed.order_id);
        assert_eq!(rejected.product_ids, [id("B")]);
        assert_eq!(rejected.reason, "insufficient stock");
        assert_eq!(
            inventory.reservation(&placed.order_id).unwrap().status,
            ReservationStatus::Rejected
        );
    }

    #[tokio::test]
    async fn a_redelivered_order_placed_reserves_once() {
        let inventory = InMemoryProducts::with([product("A", 5)]);
        let (_, body) = order_placed(&[("A", 2)]);

        let Ok(first) = handle(&inventory, sqs_event(&[("m1", &body)])).await;
        let Ok(second) = handle(&inventory, sqs_event(&[("m1", &body), ("m2", &body)])).await;

        assert!(first.batch_item_failures.is_empty());
        assert!(second.batch_item_failures.is_empty());
        assert_eq!(inventory.stock(&id("A")), Some(3));
        assert_eq!(inventory.outbox().len(), 1);
    }

    #[tokio::test]
    async fn order_cancelled_puts_the_reserved_stock_back() {
        let inventory = InMemoryProducts::with([product("A", 5)]);
        let (placed, body) = order_placed(&[("A", 2)]);
        let Ok(_) = handle(&inventory, sqs_event(&[("m1", &body)])).await;

        let Ok(response) =
            handle(&inventory, sqs_event(&[("m2", &order_cancelled(&placed))])).await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(inventory.stock(&id("A")), Some(5));
        assert_eq!(
            inventory.reservation(&placed.order_id).unwrap().status,
            ReservationStatus::Released
        );
    }

    #[tokio::test]
    async fn a_declined_payment_puts_the_reserved_stock_back_once() {
        let inventory = InMemoryProducts::with([product("A", 5)]);
        let (placed, body) = order_placed(&[("A", 2)]);
        let Ok(_) = handle(&inventory, sqs_event(&[("m1", &body)])).await;
        let declined = shared::events::PaymentDeclined {
            order_id: placed.order_id,
            amount_cents: placed.total_cents,
            decline_code: "generic_decline".to_owned(),
            message: "Your card was declined.".to_owned(),
            charge_id: None,
        };
        let declined = Envelope::wrap(&declined, "req-3", now())
            .unwrap()
            .to_json()
            .unwrap();

        for n in 0..3 {
            let Ok(response) =
                handle(&inventory, sqs_event(&[(&format!("m{n}"), &declined)])).await;
            assert!(response.batch_item_failures.is_empty());
        }

        assert_eq!(inventory.stock(&id("A")), Some(5));
        assert_eq!(
            inventory.reservation(&placed.order_id).unwrap().status,
            ReservationStatus::Released
        );
    }

    #[tokio::test]
    async fn a_cancellation_that_overtakes_the_order_blocks_its_reservation() {
        let inventory = InMemoryProducts::with([product("A", 5)]);
        let (placed, body) = order_placed(&[("A", 2)]);

        let Ok(response) = handle(
            &inventory,
            sqs_event(&[("m1", &order_cancelled(&placed)), ("m2", &body)]),
        )
        .await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(inventory.stock(&id("A")), Some(5));
        assert_eq!(
            inventory.reservation(&placed.order_id).unwrap().status,
            ReservationStatus::Cancelled
        );
        assert!(inventory.outbox().is_empty());
    }

    #[tokio::test]
    async fn only_the_garbage_record_of_a_batch_is_reported() {
        let inventory = InMemoryProducts::with([product("A", 5)]);
        let (_, body) = order_placed(&[("A", 1)]);

        let Ok(response) = handle(
            &inventory,
            sqs_event(&[("good-1", &body), ("bad-2", "Hello from SQS!")]),
        )
        .await;

        assert_eq!(failed_ids(&response), ["bad-2"]);
        assert_eq!(inventory.stock(&id("A")), Some(4));
    }

    #[tokio::test]
    async fn an_order_placed_with_malformed_data_is_reported() {
        let inventory = InMemoryProducts::with([product("A", 5)]);
        let (_, body) = order_placed(&[("A", 1)]);
        let mut envelope: Value = serde_json::from_str(&body).unwrap();
        envelope["data"]["items"][0]["quantity"] = json!(0);

        let Ok(response) = handle(&inventory, sqs_event(&[("m1", &envelope.to_string())])).await;

        assert_eq!(failed_ids(&response), ["m1"]);
        assert_eq!(inventory.stock(&id("A")), Some(5));
    }

    #[tokio::test]
    async fn an_unknown_event_type_is_reported_not_skipped() {
        let inventory = InMemoryProducts::with([product("A", 5)]);
        let (_, body) = order_placed(&[("A", 1)]);
        let mut envelope: Value = serde_json::from_str(&body).unwrap();
        envelope["event_type"] = json!("OrderShipped");

        let Ok(response) = handle(&inventory, sqs_event(&[("m1", &envelope.to_string())])).await;

        assert_eq!(failed_ids(&response), ["m1"]);
        assert_eq!(inventory.stock(&id("A")), Some(5));
    }

    #[tokio::test]
    async fn a_store_outage_reports_every_record() {
        let inventory = InMemoryProducts::with([product("A", 5)]);
        inventory.fail_with("throttled");
        let (placed, first) = order_placed(&[("A", 1)]);
        let second = order_cancelled(&placed);

        let Ok(response) = handle(&inventory, sqs_event(&[("m1", &first), ("m2", &second)])).await;

        assert_eq!(failed_ids(&response), ["m1", "m2"]);
    }

    #[tokio::test]
    async fn the_response_serialises_as_lambda_expects() {
        let inventory = InMemoryProducts::new();

        let Ok(response) = handle(&inventory, sqs_event(&[("m1", "{}")])).await;

        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
        );
    }
}
