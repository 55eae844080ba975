//! Products and stock-reservation adapters against the local AWS emulator (moto server on
//! 127.0.0.1:4566, or whatever `AWS_ENDPOINT_URL` says). `make test` starts it and runs these
//! ignored tests.
//!
//! Each test provisions the template's tables under its own prefix, so tests run in parallel
//! and never see each other's data. Concurrency tests fire real concurrent requests; a call
//! that fails with a retryable error (e.g. a conflicting transaction) is retried, as SQS
//! would redeliver its message.

// Setup helpers live outside `#[test]` functions, where `allow-unwrap-in-tests` does not reach;
// a failed setup should panic like a failed assertion.
#![expect(
    clippy::unwrap_used,
    reason = "test setup helpers panic on failure by design"
)]

mod common;

use common::Stack;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use shared::Error;
use shared::aws::transact::OutboxItem;
use shared::aws::{DynamoProducts, DynamoReservations};
use shared::config::{EventStoreConfig, ProductsConfig, ReservationsConfig};
use shared::domain::ExpectedVersion;
use shared::domain::{
    Category, NewProduct, OrderId, OrderItem, OrderStatus, Product, ProductChanges, ProductId,
    Reservation, ReservationStatus, StockDelta, UserId, Version, now,
};
use shared::events::{Envelope, OrderCancelled, OrderPlaced, StockRejected, StockReserved};
use shared::http::ErrorResponse;
use shared::ports::{
    PageLimit, ProductBatchReader, ProductDeleter, ProductLister, ProductReader, ProductUpdater,
    ProductWriter, ReleaseOutcome, ReserveOutcome, StockAdjuster, StockReservations,
};

/// How often a call is retried after a retryable error (SQS would redeliver it).
const DELIVERIES: usize = 20;

impl Stack {
    fn products(&self) -> DynamoProducts {
        DynamoProducts::new(&self.sdk, self.table("ProductsTable"))
    }

    fn reservations(&self) -> DynamoReservations {
        DynamoReservations::new(
            &self.sdk,
            &ProductsConfig {
                products_table: self.table("ProductsTable"),
            },
            &ReservationsConfig {
                reservations_table: self.table("ReservationsTable"),
            },
            &EventStoreConfig {
                outbox_table: self.table("OutboxTable"),
                idempotency_table: self.table("IdempotencyTable"),
            },
        )
    }

    /// Every item of table `logical_id` (following `LastEvaluatedKey`).
    async fn scan(&self, logical_id: &str) -> Vec<HashMap<String, AttributeValue>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .dynamodb()
                .scan()
                .table_name(self.table(logical_id))
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return items,
            }
        }
    }

    /// The envelopes in the outbox table.
    async fn outbox(&self) -> Vec<Envelope> {
        self.scan("OutboxTable")
            .await
            .into_iter()
            .map(|item| {
                let item: OutboxItem = serde_dynamo::from_item(item).unwrap();
                Envelope::from_json(&item.envelope).unwrap()
            })
            .collect()
    }

    /// The reservation record of `order`.
    async fn reservation(&self, order: OrderId) -> Option<Reservation> {
        self.dynamodb()
            .get_item()
            .table_name(self.table("ReservationsTable"))
            .key("id", AttributeValue::S(order.to_string()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .map(|item| serde_dynamo::from_item(item).unwrap())
    }

    /// The raw `stock` attribute of product `id` (as stored, so a negative number would show).
    async fn raw_stock(&self, id: &str) -> i64 {
        let item = self
            .dynamodb()
            .get_item()
            .table_name(self.table("ProductsTable"))
            .key("id", AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        item["stock"].as_n().unwrap().parse().unwrap()
    }

    /// Stores a product `id` in `category` with `stock` units.
    async fn product(&self, id: &str, category: &str, stock: i64) -> Product {
        let product = NewProduct::parse(&format!("Product {id}"), "", category, 100, stock)
            .unwrap()
            .into_product(ProductId::parse(id).unwrap(), now());
        self.products().insert(&product).await.unwrap();
        product
    }
}

fn pid(raw: &str) -> ProductId {
    ProductId::parse(raw).unwrap()
}

/// An `OrderPlaced` for `lines` (`(product, quantity)`) in a fresh envelope.
fn placed(lines: &[(&str, i64)]) -> (Envelope, OrderPlaced) {
    let items: Vec<OrderItem> = lines
        .iter()
        .map(|(product, quantity)| OrderItem::parse("items[0]", product, *quantity, 100).unwrap())
        .collect();
    let event = OrderPlaced {
        order_id: OrderId::new(),
        customer_id: UserId::new(),
        total_cents: items.iter().map(|i| i.line_total().unwrap().cents()).sum(),
        payment_method: None,
        items,
    };
    (Envelope::wrap(&event, "req-placed", now()).unwrap(), event)
}

/// An `OrderCancelled` of `order` in a fresh envelope.
fn cancelled(order: &OrderPlaced) -> (Envelope, OrderCancelled) {
    let event = OrderCancelled {
        order_id: order.order_id,
        customer_id: order.customer_id,
        previous_status: OrderStatus::Pending,
    };
    (
        Envelope::wrap(&event, "req-cancelled", now()).unwrap(),
        event,
    )
}

/// `reserve`, retried on errors as SQS redelivery would.
async fn reserve(
    inventory: &DynamoReservations,
    envelope: &Envelope,
    event: &OrderPlaced,
) -> ReserveOutcome {
    let mut last = None;
    for _ in 0..DELIVERIES {
        match inventory.reserve(envelope, event).await {
            Ok(outcome) => return outcome,
            Err(error) => last = Some(error.chain()),
        }
    }
    panic!("reserve kept failing: {last:?}");
}

/// `release`, retried on errors as SQS redelivery would.
async fn release(
    inventory: &DynamoReservations,
    envelope: &Envelope,
    event: &OrderCancelled,
) -> ReleaseOutcome {
    let mut last = None;
    for _ in 0..DELIVERIES {
        match inventory.release(envelope, event.order_id).await {
            Ok(outcome) => return outcome,
            Err(error) => last = Some(error.chain()),
        }
    }
    panic!("release kept failing: {last:?}");
}

fn count<T>(items: &[T], pred: impl Fn(&T) -> bool) -> usize {
    items.iter().filter(|i| pred(i)).count()
}

// ------------------------------------------------------------------------ reservations

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local AWS emulator"]
async fn twenty_concurrent_orders_for_a_stock_of_five_reserve_exactly_five() {
    let stack = Stack::new().await;
    stack.product("HOT", "misc", 5).await;
    let inventory = stack.reservations();
    let orders: Vec<(Envelope, OrderPlaced)> = (0..20).map(|_| placed(&[("HOT", 1)])).collect();

    let outcomes = join_all(
        orders
            .iter()
            .map(|(envelope, event)| reserve(&inventory, envelope, event)),
    )
    .await;

    let reserved = count(&outcomes, |o| *o == ReserveOutcome::Reserved);
    let rejected = count(
        &outcomes,
        |o| matches!(o, ReserveOutcome::Rejected { product_ids, .. } if *product_ids == [pid("HOT")]),
    );
    assert_eq!((reserved, rejected), (5, 15), "{outcomes:?}");
    assert_eq!(stack.raw_stock("HOT").await, 0);
    let outbox = stack.outbox().await;
    assert_eq!(outbox.len(), 20);
    assert_eq!(count(&outbox, |e| e.is::<StockReserved>()), 5);
    assert_eq!(count(&outbox, |e| e.is::<StockRejected>()), 15);
    assert!(outbox.iter().all(|e| e.correlation_id == "req-placed"));
    for (_, event) in &orders {
        let reservation = stack.reservation(event.order_id).await.unwrap();
        assert!(matches!(
            reservation.status,
            ReservationStatus::Reserved | ReservationStatus::Rejected
        ));
    }
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn the_same_envelope_delivered_ten_times_in_a_row_reserves_once() {
    let stack = Stack::new().await;
    stack.product("A", "misc", 10).await;
    let inventory = stack.reservations();
    let (envelope, event) = placed(&[("A", 3)]);

    let mut outcomes = Vec::new();
    for _ in 0..10 {
        outcomes.push(reserve(&inventory, &envelope, &event).await);
    }

    assert_eq!(outcomes[0], ReserveOutcome::Reserved);
    assert!(
        outcomes[1..]
            .iter()
            .all(|o| *o == ReserveOutcome::Duplicate),
        "{outcomes:?}"
    );
    assert_eq!(stack.raw_stock("A").await, 7);
    let outbox = stack.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        outbox[0].decode::<StockReserved>().unwrap().order_id,
        event.order_id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local AWS emulator"]
async fn the_same_envelope_delivered_ten_times_at_once_reserves_once() {
    let stack = Stack::new().await;
    stack.product("A", "misc", 10).await;
    let inventory = stack.reservations();
    let (envelope, event) = placed(&[("A", 3)]);

    let outcomes = join_all((0..10).map(|_| reserve(&inventory, &envelope, &event))).await;

    assert_eq!(
        count(&outcomes, |o| *o == ReserveOutcome::Reserved),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        count(&outcomes, |o| *o == ReserveOutcome::Duplicate),
        9,
        "{outcomes:?}"
    );
    assert_eq!(stack.raw_stock("A").await, 7);
    assert_eq!(stack.outbox().await.len(), 1);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn an_order_with_one_short_product_reserves_nothing_at_all() {
    let stack = Stack::new().await;
    stack.product("A", "misc", 10).await;
    stack.product("B", "misc", 1).await;
    stack.product("C", "misc", 10).await;
    let inventory = stack.reservations();
    let (envelope, event) = placed(&[("A", 2), ("B", 2), ("C", 1), ("A", 1)]);

    let outcome = reserve(&inventory, &envelope, &event).await;

    assert_eq!(
        outcome,
        ReserveOutcome::Rejected {
            product_ids: vec![pid("B")],
            reason: "insufficient stock".to_owned()
        }
    );
    assert_eq!(stack.raw_stock("A").await, 10);
    assert_eq!(stack.raw_stock("B").await, 1);
    assert_eq!(stack.raw_stock("C").await, 10);
    let reservation = stack.reservation(event.order_id).await.unwrap();
    assert_eq!(reservation.status, ReservationStatus::Rejected);
    let outbox = stack.outbox().await;
    assert_eq!(outbox.len(), 1);
    let rejected: StockRejected = outbox[0].decode().unwrap();
    assert_eq!(rejected.product_ids, [pid("B")]);
    assert_eq!(outbox[0].correlation_id, "req-placed");
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn an_order_for_a_missing_product_is_rejected_and_names_it() {
    let stack = Stack::new().await;
    stack.product("A", "misc", 10).await;
    let inventory = stack.reservations();
    let (envelope, event) = placed(&[("A", 1), ("GHOST", 1)]);

    let outcome = reserve(&inventory, &envelope, &event).await;

    assert!(
        matches!(&outcome, ReserveOutcome::Rejected { product_ids, .. } if *product_ids == [pid("GHOST")]),
        "{outcome:?}"
    );
    assert_eq!(stack.raw_stock("A").await, 10);
    assert_eq!(stack.products().get(&pid("GHOST")).await.unwrap(), None);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn lines_of_one_product_are_merged_and_reserved_together() {
    let stack = Stack::new().await;
    stack.product("A", "misc", 5).await;
    let inventory = stack.reservations();
    let (envelope, event) = placed(&[("A", 2), ("A", 3)]);

    let outcome = reserve(&inventory, &envelope, &event).await;

    assert_eq!(outcome, ReserveOutcome::Reserved);
    assert_eq!(stack.raw_stock("A").await, 0);
    let reservation = stack.reservation(event.order_id).await.unwrap();
    assert_eq!(reservation.items.len(), 1);
    assert_eq!(reservation.items[0].quantity, 5);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn a_release_after_a_reservation_restores_the_stock_once() {
    let stack = Stack::new().await;
    stack.product("A", "misc", 10).await;
    stack.product("B", "misc", 4).await;
    let inventory = stack.reservations();
    let (placed_envelope, order) = placed(&[("A", 3), ("B", 4)]);
    assert_eq!(
        reserve(&inventory, &placed_envelope, &order).await,
        ReserveOutcome::Reserved
    );
    let (envelope, event) = cancelled(&order);

    let first = release(&inventory, &envelope, &event).await;
    let again = release(&inventory, &envelope, &event).await;
    let (other_envelope, other_event) = cancelled(&order);
    let another_cancellation = release(&inventory, &other_envelope, &other_event).await;

    assert_eq!(first, ReleaseOutcome::Released);
    assert!(
        matches!(
            again,
            ReleaseOutcome::Duplicate | ReleaseOutcome::NothingToRelease
        ),
        "{again:?}"
    );
    assert_eq!(another_cancellation, ReleaseOutcome::NothingToRelease);
    assert_eq!(stack.raw_stock("A").await, 10);
    assert_eq!(stack.raw_stock("B").await, 4);
    let reservation = stack.reservation(order.order_id).await.unwrap();
    assert_eq!(reservation.status, ReservationStatus::Released);
    assert_eq!(stack.outbox().await.len(), 1, "only the StockReserved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local AWS emulator"]
async fn concurrent_releases_of_one_reservation_restore_the_stock_once() {
    let stack = Stack::new().await;
    stack.product("A", "misc", 10).await;
    let inventory = stack.reservations();
    let (placed_envelope, order) = placed(&[("A", 3)]);
    reserve(&inventory, &placed_envelope, &order).await;
    let (envelope, event) = cancelled(&order);

    let outcomes = join_all((0..5).map(|_| release(&inventory, &envelope, &event))).await;

    assert_eq!(
        count(&outcomes, |o| *o == ReleaseOutcome::Released),
        1,
        "{outcomes:?}"
    );
    assert_eq!(stack.raw_stock("A").await, 10);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn a_release_before_the_reservation_makes_the_later_reservation_a_no_op() {
    let stack = Stack::new().await;
    stack.product("A", "misc", 10).await;
    let inventory = stack.reservations();
    let (placed_envelope, order) = placed(&[("A", 3)]);
    let (envelope, event) = cancelled(&order);

    let released = release(&inventory, &envelope, &event).await;
    let reserved = reserve(&inventory, &placed_envelope, &order).await;

    assert_eq!(released, ReleaseOutcome::CancelledBeforeReservation);
    assert_eq!(reserved, ReserveOutcome::AlreadyDecided);
    assert_eq!(stack.raw_stock("A").await, 10);
    let reservation = stack.reservation(order.order_id).await.unwrap();
    assert_eq!(reservation.status, ReservationStatus::Cancelled);
    assert!(stack.outbox().await.is_empty());
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn releasing_a_rejected_reservation_changes_nothing() {
    let stack = Stack::new().await;
    stack.product("A", "misc", 1).await;
    let inventory = stack.reservations();
    let (placed_envelope, order) = placed(&[("A", 3)]);
    reserve(&inventory, &placed_envelope, &order).await;
    let (envelope, event) = cancelled(&order);

    let outcome = release(&inventory, &envelope, &event).await;

    assert_eq!(outcome, ReleaseOutcome::NothingToRelease);
    assert_eq!(stack.raw_stock("A").await, 1);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn a_release_skips_a_product_deleted_since_the_reservation() {
    let stack = Stack::new().await;
    stack.product("A", "misc", 10).await;
    stack.product("B", "misc", 10).await;
    let inventory = stack.reservations();
    let (placed_envelope, order) = placed(&[("A", 3), ("B", 2)]);
    reserve(&inventory, &placed_envelope, &order).await;
    stack.products().delete(&pid("B")).await.unwrap();
    let (envelope, event) = cancelled(&order);

    let outcome = release(&inventory, &envelope, &event).await;

    assert_eq!(outcome, ReleaseOutcome::Released);
    assert_eq!(stack.raw_stock("A").await, 10);
    assert_eq!(stack.products().get(&pid("B")).await.unwrap(), None);
}

// ------------------------------------------------------------------------ stock adjustments

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn an_adjustment_never_takes_the_stock_below_zero() {
    let stack = Stack::new().await;
    let product = stack.product("A", "misc", 3).await;
    let products = stack.products();

    let too_much = products
        .adjust(&pid("A"), StockDelta::parse(-4).unwrap())
        .await
        .unwrap_err();
    let all = products
        .adjust(&pid("A"), StockDelta::parse(-3).unwrap())
        .await
        .unwrap();
    let more = products
        .adjust(&pid("A"), StockDelta::parse(2).unwrap())
        .await
        .unwrap();

    assert_eq!(too_much.status().as_u16(), 409);
    assert_eq!(
        too_much.to_string(),
        "insufficient stock: product A has 3, cannot remove 4"
    );
    assert_eq!(all.stock, 0);
    assert_eq!(more.stock, 2);
    assert_eq!(
        more.version, product.version,
        "stock moves keep the version"
    );
    assert_eq!(more.updated_at, product.updated_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local AWS emulator"]
async fn concurrent_removals_stop_at_zero() {
    let stack = Stack::new().await;
    stack.product("A", "misc", 3).await;
    let products = stack.products();
    let minus_one = StockDelta::parse(-1).unwrap();
    let id = pid("A");

    let results = join_all((0..8).map(|_| products.adjust(&id, minus_one))).await;

    assert_eq!(count(&results, Result::is_ok), 3);
    assert_eq!(count(&results, |r| matches!(r, Err(Error::Conflict(_)))), 5);
    assert_eq!(stack.raw_stock("A").await, 0);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn adjusting_an_unknown_product_is_not_found_and_creates_nothing() {
    let stack = Stack::new().await;
    let products = stack.products();

    let error = products
        .adjust(&pid("NOPE"), StockDelta::parse(5).unwrap())
        .await
        .unwrap_err();

    assert_eq!(error.code(), "NOT_FOUND");
    assert!(stack.scan("ProductsTable").await.is_empty());
}

// ------------------------------------------------------------------------ catalog

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local AWS emulator"]
async fn concurrent_updates_with_the_same_version_let_exactly_one_through() {
    let stack = Stack::new().await;
    stack.product("A", "misc", 3).await;
    let products = stack.products();
    let changes: Vec<ProductChanges> = (0..2)
        .map(|i| ProductChanges::parse(&format!("Name {i}"), "", "misc", 100 + i).unwrap())
        .collect();
    let id = pid("A");

    let results = join_all(
        changes
            .iter()
            .map(|c| products.update(&id, ExpectedVersion::Exactly(Version::FIRST), c)),
    )
    .await;

    assert_eq!(count(&results, Result::is_ok), 1, "{results:?}");
    assert_eq!(
        count(&results, |r| matches!(r, Err(Error::PreconditionFailed(_)))),
        1,
        "{results:?}"
    );
    let stored = products.get(&pid("A")).await.unwrap().unwrap();
    assert_eq!(stored.version, Version::new(2));
    assert_eq!(stored.stock, 3);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn an_update_replaces_the_catalog_fields_and_tells_404_from_412() {
    let stack = Stack::new().await;
    let before = stack.product("A", "misc", 3).await;
    let products = stack.products();
    let changes = ProductChanges::parse("Kettle", "Boils", "Kitchen", 2500).unwrap();

    let updated = products
        .update(
            &pid("A"),
            ExpectedVersion::Exactly(Version::FIRST),
            &changes,
        )
        .await
        .unwrap();
    let stale = products
        .update(
            &pid("A"),
            ExpectedVersion::Exactly(Version::FIRST),
            &changes,
        )
        .await
        .unwrap_err();
    let any = products
        .update(&pid("A"), ExpectedVersion::Any, &changes)
        .await
        .unwrap();
    let missing = products
        .update(&pid("NOPE"), ExpectedVersion::Any, &changes)
        .await
        .unwrap_err();

    assert_eq!(updated.name.as_str(), "Kettle");
    assert_eq!(updated.category.as_str(), "kitchen");
    assert_eq!(updated.version, Version::new(2));
    assert_eq!(updated.stock, 3);
    assert_eq!(updated.created_at, before.created_at);
    assert_eq!(
        products.get(&pid("A")).await.unwrap().unwrap().version,
        Version::new(3)
    );
    assert_eq!(stale.code(), "PRECONDITION_FAILED", "{stale:?}");
    assert_eq!(any.version, Version::new(3));
    assert_eq!(missing.code(), "NOT_FOUND");
    assert_eq!(
        stack.scan("ProductsTable").await.len(),
        1,
        "no item created"
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn a_product_is_stored_read_back_and_deleted() {
    let stack = Stack::new().await;
    let products = stack.products();
    let product = stack.product("A", "misc", 3).await;

    let read = products.get(&pid("A")).await.unwrap();
    let duplicate = products.insert(&product).await.unwrap_err();
    products.delete(&pid("A")).await.unwrap();
    let again = products.delete(&pid("A")).await.unwrap_err();

    assert_eq!(read, Some(product));
    assert_eq!(duplicate.code(), "CONFLICT");
    assert_eq!(again.code(), "NOT_FOUND");
    assert_eq!(products.get(&pid("A")).await.unwrap(), None);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn get_many_returns_the_existing_products_across_several_batches() {
    let stack = Stack::new().await;
    for i in 0..130 {
        stack.product(&format!("P{i:03}"), "misc", i).await;
    }
    let mut ids: Vec<ProductId> = (0..130).map(|i| pid(&format!("P{i:03}"))).collect();
    ids.push(pid("P000"));
    ids.push(pid("GHOST"));

    let found = stack.products().get_many(&ids).await.unwrap();

    assert_eq!(found.len(), 130);
    assert_eq!(found[&pid("P042")].stock, 42);
    assert!(!found.contains_key(&pid("GHOST")));
    assert!(stack.products().get_many(&[]).await.unwrap().is_empty());
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn listing_pages_visit_every_product_once_with_and_without_a_category() {
    let stack = Stack::new().await;
    for i in 0..7 {
        let category = if i % 2 == 0 { "even" } else { "odd" };
        stack.product(&format!("P{i}"), category, 1).await;
    }
    let products = stack.products();
    let limit = PageLimit::parse("2").unwrap();

    let walk = |category: Option<Category>| {
        let products = products.clone();
        async move {
            let mut seen = Vec::new();
            let mut cursor = None;
            for _ in 0..20 {
                let page = products
                    .list(category.as_ref(), limit, cursor.as_ref())
                    .await
                    .unwrap();
                assert!(page.items.len() <= 2);
                seen.extend(page.items.into_iter().map(|p| p.id.to_string()));
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            seen
        }
    };
    let even = walk(Some(Category::parse("even").unwrap())).await;
    let mut all = walk(None).await;

    assert_eq!(even, ["P0", "P2", "P4", "P6"], "in id order");
    all.sort();
    assert_eq!(all, ["P0", "P1", "P2", "P3", "P4", "P5", "P6"]);
}
