//! Orders adapter against the local AWS emulator (moto server on 127.0.0.1:4566, or whatever
//! `AWS_ENDPOINT_URL` says): the place transaction (order + outbox + idempotency record), the
//! GSI listings, conditional status changes and de-duplicated settlement. Each test provisions
//! the template's tables under its own prefix.

#![expect(
    clippy::unwrap_used,
    reason = "test setup helpers panic on failure by design"
)]

mod common;

use common::Stack;

use shared::aws::DynamoOrders;
use shared::aws::transact::OutboxItem;
use shared::domain::{
    Order, OrderId, OrderItem, OrderStatus, Payment, PaymentStatus, Settlement, UserId, now,
};
use shared::events::{Envelope, OrderCancelled, OrderPlaced};
use shared::http::ErrorResponse;
use shared::ports::{
    IdempotencyReader, IdempotentResponse, OrderFilter, OrderLister, OrderPlacer, OrderReader,
    OrderSettlement, OrderTransitions, PageLimit, Placement, Settled, Transitioned,
};
use uuid::Uuid;

impl Stack {
    fn orders(&self) -> DynamoOrders {
        let t = &self.resources.tables;
        DynamoOrders::new(&self.sdk, &t["OrdersTable"])
            .with_event_store(&t["OutboxTable"], &t["IdempotencyTable"])
    }

    /// Every outbox item, as envelopes.
    async fn outbox(&self) -> Vec<Envelope> {
        let out = aws_sdk_dynamodb::Client::new(&self.sdk)
            .scan()
            .table_name(&self.resources.tables["OutboxTable"])
            .send()
            .await
            .unwrap();
        let items: Vec<OutboxItem> = serde_dynamo::from_items(out.items.unwrap()).unwrap();
        items
            .iter()
            .map(|i| Envelope::from_json(&i.envelope).unwrap())
            .collect()
    }
}

/// A `CONFIRMED` settlement with a captured payment of `cents`.
fn captured(cents: u64) -> Settlement {
    Settlement::Confirmed {
        payment: Payment {
            status: PaymentStatus::Captured,
            charge_id: Some("ch_test".into()),
            refund_id: None,
            decline_code: None,
            amount_cents: cents,
        },
    }
}

fn an_order(customer: UserId) -> Order {
    let items = vec![OrderItem::parse("items[0]", "SKU-1", 3, 1999).unwrap()];
    Order::place(OrderId::new(), customer, items, now()).unwrap()
}

fn placed(order: &Order) -> Envelope {
    Envelope::wrap(&OrderPlaced::from(order), "req-1", now()).unwrap()
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn placing_commits_the_order_and_its_event_together() {
    let stack = Stack::new().await;
    let orders = stack.orders();
    let order = an_order(UserId::new());
    let event = placed(&order);

    let outcome = orders.place(&order, &event, None).await.unwrap();
    let again = orders
        .place(&order, &placed(&order), None)
        .await
        .unwrap_err();

    assert_eq!(outcome, Placement::Placed);
    assert_eq!(
        OrderReader::get(&orders, &order.id()).await.unwrap(),
        Some(order)
    );
    assert_eq!(again.code(), "CONFLICT");
    assert_eq!(
        stack.outbox().await,
        [event],
        "the failed retry committed no event"
    );
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn an_idempotency_key_is_taken_by_the_first_placement_only() {
    let stack = Stack::new().await;
    let orders = stack.orders();
    let (first, second) = (an_order(UserId::new()), an_order(UserId::new()));
    let response = IdempotentResponse {
        key: "key-1".to_owned(),
        request: r#"{"a":1}"#.to_owned(),
        status: 201,
        response: "{}".to_owned(),
        location: Some("/orders/x".to_owned()),
    };

    let a = orders
        .place(&first, &placed(&first), Some(&response))
        .await
        .unwrap();
    let b = orders
        .place(&second, &placed(&second), Some(&response))
        .await
        .unwrap();

    assert_eq!((a, b), (Placement::Placed, Placement::KeyAlreadyUsed));
    assert_eq!(
        IdempotencyReader::get(&orders, "key-1").await.unwrap(),
        Some(response)
    );
    assert_eq!(OrderReader::get(&orders, &second.id()).await.unwrap(), None);
    assert_eq!(stack.outbox().await.len(), 1);
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_customers_orders_in_a_status_are_listed_page_by_page_through_the_index() {
    let stack = Stack::new().await;
    let orders = stack.orders();
    let alice = UserId::new();
    let mut alices = Vec::new();
    for _ in 0..5 {
        let order = an_order(alice);
        orders.place(&order, &placed(&order), None).await.unwrap();
        alices.push(order);
    }
    let other = an_order(UserId::new());
    orders.place(&other, &placed(&other), None).await.unwrap();
    let mut cancelled = alices[0].clone();
    cancelled.transition(OrderStatus::Cancelled, now()).unwrap();
    orders
        .transition(&cancelled, OrderStatus::Pending, None)
        .await
        .unwrap();

    let filter = OrderFilter {
        customer_id: Some(alice),
        status: Some(OrderStatus::Pending),
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = orders
            .list(filter, PageLimit::parse("2").unwrap(), cursor.as_ref())
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(Order::id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    let by_status = orders
        .list(
            OrderFilter {
                customer_id: None,
                status: Some(OrderStatus::Cancelled),
            },
            PageLimit::default(),
            None,
        )
        .await
        .unwrap();

    let expected: Vec<OrderId> = alices[1..].iter().map(Order::id).collect();
    assert_eq!(seen, expected, "oldest first, each once, only PENDING");
    assert_eq!(
        by_status.items.iter().map(Order::id).collect::<Vec<_>>(),
        [alices[0].id()]
    );
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_status_change_on_a_stale_read_writes_nothing() {
    let stack = Stack::new().await;
    let orders = stack.orders();
    let order = an_order(UserId::new());
    orders.place(&order, &placed(&order), None).await.unwrap();
    let mut cancelled = order.clone();
    cancelled.transition(OrderStatus::Cancelled, now()).unwrap();
    let event = Envelope::wrap(
        &OrderCancelled {
            order_id: order.id(),
            customer_id: order.customer_id(),
            previous_status: OrderStatus::Pending,
        },
        "req-2",
        now(),
    )
    .unwrap();

    let first = orders
        .transition(&cancelled, OrderStatus::Pending, Some(&event))
        .await
        .unwrap();
    let stale = orders
        .transition(&cancelled, OrderStatus::Pending, Some(&event))
        .await
        .unwrap();

    assert_eq!(first, Transitioned::Done(cancelled.clone()));
    assert_eq!(stale, Transitioned::Stale);
    let stored = OrderReader::get(&orders, &order.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status(), OrderStatus::Cancelled);
    let types: Vec<String> = stack
        .outbox()
        .await
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types.iter().filter(|t| *t == "OrderCancelled").count(), 1);
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn the_same_settlement_event_ten_times_at_once_applies_once() {
    let stack = Stack::new().await;
    let orders = stack.orders();
    let order = an_order(UserId::new());
    orders.place(&order, &placed(&order), None).await.unwrap();
    let event_id = Uuid::now_v7();
    let id = order.id();
    let settlement = captured(500);

    let outcomes = futures::future::join_all(
        (0..10).map(|_| orders.settle("test", event_id, &id, &settlement)),
    )
    .await;

    let outcomes: Vec<Settled> = outcomes.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == Settled::Applied).count(),
        1,
        "{outcomes:?}"
    );
    let stored = OrderReader::get(&orders, &order.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status(), OrderStatus::Confirmed);
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_settlement_for_a_cancelled_or_unknown_order_changes_nothing() {
    let stack = Stack::new().await;
    let orders = stack.orders();
    let order = an_order(UserId::new());
    orders.place(&order, &placed(&order), None).await.unwrap();
    let mut cancelled = order.clone();
    cancelled.transition(OrderStatus::Cancelled, now()).unwrap();
    orders
        .transition(&cancelled, OrderStatus::Pending, None)
        .await
        .unwrap();

    let on_cancelled = orders
        .settle("test", Uuid::now_v7(), &order.id(), &captured(500))
        .await
        .unwrap();
    let on_unknown = orders
        .settle("test", Uuid::now_v7(), &OrderId::new(), &captured(500))
        .await
        .unwrap_err();

    assert_eq!(on_cancelled, Settled::OrderCancelled);
    assert_eq!(on_unknown.code(), "NOT_FOUND");
}
