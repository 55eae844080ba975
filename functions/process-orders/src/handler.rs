//! SQS consumer of the orders queue (`ReportBatchItemFailures`): the orders side of the saga.
//!
//! Each record's body is an event [`Envelope`](shared::events::Envelope):
//! - `PaymentCaptured` moves the order `PENDING -> CONFIRMED` with its payment;
//! - `StockRejected` moves it `PENDING -> REJECTED`, reason `OUT_OF_STOCK`;
//! - `PaymentDeclined` moves it `PENDING -> REJECTED`, reason `PAYMENT_DECLINED`, with the
//!   declined payment (the inventory releases the stock on the same event);
//! - `RefundIssued` records the refund on a cancelled order.
//!
//! Each in one transaction with a de-duplication marker on the event id, so a redelivered event
//! has no second effect. An order cancelled meanwhile is left alone (its `OrderCancelled`
//! releases the stock and refunds the charge).
//!
//! A record that is not an envelope, of another event type (misrouted: nothing is acknowledged
//! unprocessed), or whose processing fails (unknown order, an order in a status that cannot
//! take the outcome, a store failure), is reported in `batchItemFailures` by its `messageId`:
//! SQS re-delivers only those, and after `maxReceiveCount` moves them to the dead-letter queue,
//! where an alarm fires.

use std::convert::Infallible;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use shared::Error;
use shared::consumer::{envelope, partial_batch};
use shared::domain::{Payment, PaymentStatus, RejectionReason, Settlement};
use shared::events::{Event, PaymentCaptured, PaymentDeclined, RefundIssued, StockRejected};
use shared::ports::{OrderSettlement, Settled};

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
    let (order_id, settlement) = if envelope.is::<PaymentCaptured>() {
        let captured: PaymentCaptured = envelope.decode()?;
        let payment = Payment {
            status: PaymentStatus::Captured,
            charge_id: Some(captured.charge_id),
            refund_id: None,
            decline_code: None,
            amount_cents: captured.amount_cents,
        };
        (captured.order_id, Settlement::Confirmed { payment })
    } else if envelope.is::<StockRejected>() {
        let rejected: StockRejected = envelope.decode()?;
        let settlement = Settlement::Rejected {
            reason: RejectionReason::OutOfStock,
            payment: None,
        };
        (rejected.order_id, settlement)
    } else if envelope.is::<PaymentDeclined>() {
        let declined: PaymentDeclined = envelope.decode()?;
        let payment = Payment {
            status: PaymentStatus::Declined,
            charge_id: declined.charge_id,
            refund_id: None,
            decline_code: Some(declined.decline_code),
            amount_cents: declined.amount_cents,
        };
        let settlement = Settlement::Rejected {
            reason: RejectionReason::PaymentDeclined,
            payment: Some(payment),
        };
        (declined.order_id, settlement)
    } else if envelope.is::<RefundIssued>() {
        let refund: RefundIssued = envelope.decode()?;
        let payment = Payment {
            status: PaymentStatus::Refunded,
            charge_id: Some(refund.charge_id),
            refund_id: Some(refund.refund_id),
            decline_code: None,
            amount_cents: refund.amount_cents,
        };
        let outcome = orders
            .record_payment(CONSUMER, envelope.event_id, &refund.order_id, &payment)
            .await?;
        tracing::info!(
            order_id = %refund.order_id,
            event_id = %envelope.event_id,
            correlation_id = envelope.correlation_id,
            ?outcome,
            "refund recorded"
        );
        return Ok(());
    } else {
        return Err(Error::invalid(
            "event_type",
            format!(
                "{} is not consumed here (expected {}, {}, {} or {})",
                envelope.event_type,
                PaymentCaptured::TYPE,
                StockRejected::TYPE,
                PaymentDeclined::TYPE,
                RefundIssued::TYPE
            ),
        ));
    };
    let outcome = orders
        .settle(CONSUMER, envelope.event_id, &order_id, &settlement)
        .await?;
    if outcome == Settled::Applied {
        match settlement.rejection_reason() {
            None => shared::metrics::incr(shared::metrics::Metric::OrdersConfirmed),
            Some(reason) => shared::metrics::order_rejected(reason),
        }
    }
    tracing::info!(
        %order_id,
        event_id = %envelope.event_id,
        correlation_id = envelope.correlation_id,
        to = %settlement.status(),
        reason = ?settlement.rejection_reason(),
        ?outcome,
        "saga outcome applied"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use serde_json::{Value, json};
    use shared::domain::{Order, OrderId, OrderItem, OrderStatus, ProductId, UserId, now};
    use shared::events::Envelope;
    use shared::memory::InMemoryOrders;
    use shared::testing::failed_ids;

    fn pending_order() -> Order {
        let item = OrderItem::parse("items[0]", "SKU-1", 2, 1000).unwrap();
        Order::place(OrderId::new(), UserId::new(), vec![item], now()).unwrap()
    }

    fn reserved(order: &Order) -> String {
        let event = PaymentCaptured {
            order_id: order.id(),
            charge_id: "ch_1".to_owned(),
            amount_cents: order.total().cents(),
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

    fn declined(order: &Order) -> String {
        let event = PaymentDeclined {
            order_id: order.id(),
            amount_cents: order.total().cents(),
            decline_code: "insufficient_funds".to_owned(),
            message: "Your card has insufficient funds.".to_owned(),
            charge_id: Some("ch_2".to_owned()),
        };
        Envelope::wrap(&event, "req-1", now())
            .unwrap()
            .to_json()
            .unwrap()
    }

    #[tokio::test]
    async fn a_decline_rejects_with_its_reason_and_a_refund_is_recorded_on_a_cancelled_order() {
        let (a, mut b) = (pending_order(), pending_order());
        b.transition(OrderStatus::Confirmed, now()).unwrap();
        b.transition(OrderStatus::Cancelled, now()).unwrap();
        let orders = InMemoryOrders::with([a.clone(), b.clone()]);
        let refund = RefundIssued {
            order_id: b.id(),
            charge_id: "ch_3".to_owned(),
            refund_id: "re_3".to_owned(),
            amount_cents: b.total().cents(),
        };
        let refund = Envelope::wrap(&refund, "req-2", now())
            .unwrap()
            .to_json()
            .unwrap();

        let Ok(response) = handle(
            &orders,
            sqs_event(&[("m1", &declined(&a)), ("m2", &refund)]),
        )
        .await;

        assert!(response.batch_item_failures.is_empty());
        let a = orders.find(&a.id()).unwrap();
        assert_eq!(a.status(), OrderStatus::Rejected);
        assert_eq!(a.rejection_reason(), Some(RejectionReason::PaymentDeclined));
        assert_eq!(
            a.payment().unwrap().decline_code.as_deref(),
            Some("insufficient_funds")
        );
        let b = orders.find(&b.id()).unwrap();
        assert_eq!(b.status(), OrderStatus::Cancelled);
        assert_eq!(b.payment().unwrap().status, PaymentStatus::Refunded);
        assert_eq!(b.payment().unwrap().refund_id.as_deref(), Some("re_3"));
    }

    #[tokio::test]
    async fn payment_captured_confirms_and_stock_rejected_rejects_out_of_stock() {
        let (a, b) = (pending_order(), pending_order());
        let orders = InMemoryOrders::with([a.clone(), b.clone()]);

        let Ok(response) = handle(
            &orders,
            sqs_event(&[("m1", &reserved(&a)), ("m2", &rejected(&b))]),
        )
        .await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(status(&orders, &a), OrderStatus::Confirmed);
        let payment = orders.find(&a.id()).unwrap().payment().cloned().unwrap();
        assert_eq!(payment.charge_id.as_deref(), Some("ch_1"));
        assert_eq!(status(&orders, &b), OrderStatus::Rejected);
        assert_eq!(
            orders.find(&b.id()).unwrap().rejection_reason(),
            Some(RejectionReason::OutOfStock)
        );
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
