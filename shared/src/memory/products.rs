//! In-memory products and stock reservations: the catalog ports and
//! [`StockReservations`] on one map of products, with the same contracts as
//! [`crate::aws::DynamoProducts`] and [`crate::aws::DynamoReservations`] (all-or-nothing
//! reservations, de-duplication on event id, outbox of resulting events).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{injected, lock};
use crate::domain::ExpectedVersion;
use crate::domain::{
    Category, INSUFFICIENT_STOCK, MAX_RESERVATION_PRODUCTS, OrderId, Product, ProductChanges,
    ProductId, Reservation, ReservationLine, ReservationStatus, StockDelta, merge_lines, now,
};
use crate::error::Error;
use crate::events::{Envelope, OrderPlaced, StockRejected, StockReserved};
use crate::ports::{
    Cursor, Page, PageLimit, ProductBatchReader, ProductDeleter, ProductLister, ProductReader,
    ProductUpdater, ProductWriter, ReleaseOutcome, ReserveOutcome, StockAdjuster,
    StockReservations,
};

/// The consumer name under which reservations de-duplicate events.
const CONSUMER: &str = "reserve-stock";

/// Products in a map ordered by id, plus the inventory's reservations, applied event ids and
/// outbox.
#[derive(Debug, Default)]
pub struct InMemoryProducts {
    state: Mutex<State>,
    failure: Mutex<Option<String>>,
}

#[derive(Debug, Default)]
struct State {
    products: BTreeMap<ProductId, Product>,
    reservations: HashMap<OrderId, Reservation>,
    applied: HashSet<String>,
    outbox: Vec<Envelope>,
}

impl InMemoryProducts {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `products`.
    pub fn with(products: impl IntoIterator<Item = Product>) -> Self {
        let store = Self::new();
        lock(&store.state)
            .products
            .extend(products.into_iter().map(|p| (p.id.clone(), p)));
        store
    }

    /// From now on every call fails with an [`Error::Internal`] carrying `message`.
    pub fn fail_with(&self, message: &str) {
        *lock(&self.failure) = Some(message.to_owned());
    }

    /// All stored products, by id.
    pub fn all(&self) -> Vec<Product> {
        lock(&self.state).products.values().cloned().collect()
    }

    /// The stored product `id`, if any.
    pub fn find(&self, id: &ProductId) -> Option<Product> {
        lock(&self.state).products.get(id).cloned()
    }

    /// The stock of product `id`, if it exists.
    pub fn stock(&self, id: &ProductId) -> Option<u64> {
        lock(&self.state).products.get(id).map(|p| p.stock)
    }

    /// The reservation record of order `id`, if any.
    pub fn reservation(&self, id: &OrderId) -> Option<Reservation> {
        lock(&self.state).reservations.get(id).cloned()
    }

    /// Every event written to the outbox so far, in order.
    pub fn outbox(&self) -> Vec<Envelope> {
        lock(&self.state).outbox.clone()
    }
}

#[async_trait]
impl ProductWriter for InMemoryProducts {
    async fn insert(&self, product: &Product) -> Result<(), Error> {
        injected(&self.failure)?;
        let mut state = lock(&self.state);
        if state.products.contains_key(&product.id) {
            return Err(Error::Conflict(format!(
                "product {} already exists",
                product.id
            )));
        }
        state.products.insert(product.id.clone(), product.clone());
        Ok(())
    }
}

#[async_trait]
impl ProductReader for InMemoryProducts {
    async fn get(&self, id: &ProductId) -> Result<Option<Product>, Error> {
        injected(&self.failure)?;
        Ok(self.find(id))
    }
}

#[async_trait]
impl ProductBatchReader for InMemoryProducts {
    async fn get_many(&self, ids: &[ProductId]) -> Result<HashMap<ProductId, Product>, Error> {
        injected(&self.failure)?;
        let state = lock(&self.state);
        Ok(ids
            .iter()
            .filter_map(|id| state.products.get(id))
            .map(|p| (p.id.clone(), p.clone()))
            .collect())
    }
}

#[async_trait]
impl ProductLister for InMemoryProducts {
    async fn list(
        &self,
        category: Option<&Category>,
        limit: PageLimit,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Product>, Error> {
        injected(&self.failure)?;
        let after = cursor.map(Cursor::after_id::<ProductId>).transpose()?;
        let state = lock(&self.state);
        let mut rest = state
            .products
            .values()
            .filter(|p| category.is_none_or(|c| &p.category == c))
            .filter(|p| after.as_ref().is_none_or(|after| &p.id > after))
            .peekable();
        let items: Vec<Product> = rest
            .by_ref()
            .take(usize::from(limit.get()))
            .cloned()
            .collect();
        let next = match (rest.peek(), items.last()) {
            (Some(_), Some(last)) => Some(Cursor::after(&last.id)),
            _ => None,
        };
        Ok(Page { items, next })
    }
}

#[async_trait]
impl ProductUpdater for InMemoryProducts {
    async fn update(
        &self,
        id: &ProductId,
        precondition: ExpectedVersion,
        changes: &ProductChanges,
    ) -> Result<Product, Error> {
        injected(&self.failure)?;
        let mut state = lock(&self.state);
        let product = state
            .products
            .get_mut(id)
            .ok_or_else(|| Error::not_found("product", id))?;
        if !precondition.matches(product.version) {
            return Err(Error::PreconditionFailed(format!(
                "product {id} is at version {}; read it again and retry",
                product.version
            )));
        }
        changes.apply_to(product, now());
        Ok(product.clone())
    }
}

#[async_trait]
impl ProductDeleter for InMemoryProducts {
    async fn delete(&self, id: &ProductId) -> Result<(), Error> {
        injected(&self.failure)?;
        lock(&self.state)
            .products
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| Error::not_found("product", id))
    }
}

#[async_trait]
impl StockAdjuster for InMemoryProducts {
    async fn adjust(&self, id: &ProductId, delta: StockDelta) -> Result<Product, Error> {
        injected(&self.failure)?;
        let mut state = lock(&self.state);
        let product = state
            .products
            .get_mut(id)
            .ok_or_else(|| Error::not_found("product", id))?;
        product.stock = delta
            .apply_to(product.stock)
            .ok_or_else(|| delta.shortage(id, product.stock))?;
        Ok(product.clone())
    }
}

impl State {
    fn claimed(&self, envelope: &Envelope) -> bool {
        self.applied.contains(&crate::aws::transact::Dedup::key(
            CONSUMER,
            envelope.event_id,
        ))
    }

    fn claim(&mut self, envelope: &Envelope) {
        self.applied.insert(crate::aws::transact::Dedup::key(
            CONSUMER,
            envelope.event_id,
        ));
    }

    /// The products of `lines` that are missing or have less stock than the line needs.
    fn short_of(&self, lines: &[ReservationLine]) -> Vec<ProductId> {
        lines
            .iter()
            .filter(|line| {
                self.products
                    .get(&line.product_id)
                    .is_none_or(|p| p.stock < line.quantity)
            })
            .map(|line| line.product_id.clone())
            .collect()
    }

    fn record(&mut self, id: OrderId, status: ReservationStatus, items: Vec<ReservationLine>) {
        let reservation = Reservation {
            id,
            status,
            items,
            updated_at: now(),
        };
        self.reservations.insert(id, reservation);
    }
}

#[async_trait]
impl StockReservations for InMemoryProducts {
    async fn reserve(
        &self,
        envelope: &Envelope,
        placed: &OrderPlaced,
    ) -> Result<ReserveOutcome, Error> {
        injected(&self.failure)?;
        let lines =
            merge_lines(&placed.items).map_err(|e| Error::internal("merging order lines", e.0))?;
        let mut state = lock(&self.state);
        if state.claimed(envelope) {
            return Ok(ReserveOutcome::Duplicate);
        }
        if state.reservations.contains_key(&placed.order_id) {
            return Ok(ReserveOutcome::AlreadyDecided);
        }
        let rejection = if lines.len() > MAX_RESERVATION_PRODUCTS {
            let reason =
                format!("an order may hold at most {MAX_RESERVATION_PRODUCTS} distinct products");
            Some((Vec::new(), reason))
        } else {
            let short = state.short_of(&lines);
            (!short.is_empty()).then(|| (short, INSUFFICIENT_STOCK.to_owned()))
        };
        let Some((short, reason)) = rejection else {
            for line in &lines {
                if let Some(product) = state.products.get_mut(&line.product_id) {
                    product.stock -= line.quantity;
                }
            }
            let event = StockReserved::from(placed);
            let out = Envelope::follow(&event, envelope, now())?;
            state.claim(envelope);
            state.record(placed.order_id, ReservationStatus::Reserved, lines);
            state.outbox.push(out);
            return Ok(ReserveOutcome::Reserved);
        };
        let event = StockRejected {
            order_id: placed.order_id,
            product_ids: short.clone(),
            reason,
        };
        let out = Envelope::follow(&event, envelope, now())?;
        state.claim(envelope);
        state.record(placed.order_id, ReservationStatus::Rejected, Vec::new());
        state.outbox.push(out);
        Ok(ReserveOutcome::Rejected {
            product_ids: short,
            reason: event.reason,
        })
    }

    async fn release(
        &self,
        envelope: &Envelope,
        order_id: OrderId,
    ) -> Result<ReleaseOutcome, Error> {
        injected(&self.failure)?;
        let mut state = lock(&self.state);
        let status = state.reservations.get(&order_id).map(|r| r.status);
        match status {
            Some(ReservationStatus::Reserved) => {}
            Some(_) => return Ok(ReleaseOutcome::NothingToRelease),
            None if state.claimed(envelope) => return Ok(ReleaseOutcome::Duplicate),
            None => {
                state.claim(envelope);
                state.record(order_id, ReservationStatus::Cancelled, Vec::new());
                return Ok(ReleaseOutcome::CancelledBeforeReservation);
            }
        }
        if state.claimed(envelope) {
            return Ok(ReleaseOutcome::Duplicate);
        }
        let lines = state
            .reservations
            .get(&order_id)
            .map(|r| r.items.clone())
            .unwrap_or_default();
        for line in &lines {
            // A product deleted since the reservation gets nothing back, as in DynamoDB.
            if let Some(product) = state.products.get_mut(&line.product_id) {
                product.stock += line.quantity;
            }
        }
        state.claim(envelope);
        state.record(order_id, ReservationStatus::Released, lines);
        Ok(ReleaseOutcome::Released)
    }
}

#[async_trait]
impl crate::cache::ReservationProducts for InMemoryProducts {
    async fn reservation_products(
        &self,
        order_id: crate::domain::OrderId,
    ) -> Result<Vec<crate::domain::ProductId>, Error> {
        Ok(self
            .reservation(&order_id)
            .map(|r| r.items.into_iter().map(|line| line.product_id).collect())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewProduct, OrderItem, UserId};
    use crate::events::OrderCancelled;

    fn product(id: &str, category: &str, stock: i64) -> Product {
        NewProduct::parse(id, "", category, 100, stock)
            .unwrap()
            .into_product(ProductId::parse(id).unwrap(), now())
    }

    fn placed(lines: &[(&str, i64)]) -> (Envelope, OrderPlaced) {
        let items = lines
            .iter()
            .map(|(id, q)| OrderItem::parse("items[0]", id, *q, 100).unwrap())
            .collect();
        let event = OrderPlaced {
            order_id: OrderId::new(),
            customer_id: UserId::new(),
            items,
            total_cents: 0,
            payment_method: None,
        };
        (Envelope::wrap(&event, "req-1", now()).unwrap(), event)
    }

    #[tokio::test]
    async fn listing_a_category_pages_through_its_products_only() {
        let store = InMemoryProducts::with([
            product("A", "books", 1),
            product("B", "games", 1),
            product("C", "books", 1),
            product("D", "books", 1),
        ]);
        let books = Category::parse("books").unwrap();
        let two = PageLimit::parse("2").unwrap();

        let first = store.list(Some(&books), two, None).await.unwrap();
        let second = store
            .list(Some(&books), two, first.next.as_ref())
            .await
            .unwrap();

        let ids = |page: &Page<Product>| -> Vec<String> {
            page.items.iter().map(|p| p.id.to_string()).collect()
        };
        assert_eq!(ids(&first), ["A", "C"]);
        assert_eq!(ids(&second), ["D"]);
        assert_eq!(second.next, None);
    }

    #[tokio::test]
    async fn a_short_line_rejects_the_whole_order() {
        let store = InMemoryProducts::with([product("A", "x", 5), product("B", "x", 1)]);
        let (envelope, event) = placed(&[("A", 2), ("B", 2)]);

        let outcome = store.reserve(&envelope, &event).await.unwrap();

        assert_eq!(
            outcome,
            ReserveOutcome::Rejected {
                product_ids: vec![ProductId::parse("B").unwrap()],
                reason: "insufficient stock".to_owned()
            }
        );
        assert_eq!(store.stock(&ProductId::parse("A").unwrap()), Some(5));
        assert_eq!(store.outbox()[0].event_type, "StockRejected");
    }

    #[tokio::test]
    async fn reserved_and_rejected_events_carry_the_trace_of_the_order_placed() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
        let store = InMemoryProducts::with([product("A", "x", 1)]);
        let (first, first_event) = placed(&[("A", 1)]);
        let (second, second_event) = placed(&[("A", 1)]);
        let traced = |e: Envelope| e.with_trace_header(Some(header.to_owned()));
        let (first, second) = (traced(first), traced(second));

        store.reserve(&first, &first_event).await.unwrap();
        store.reserve(&second, &second_event).await.unwrap();

        let outbox = store.outbox();
        let seen: Vec<_> = outbox
            .iter()
            .map(|e| {
                (
                    e.event_type.as_str(),
                    e.trace_header.as_deref(),
                    e.correlation_id.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("StockReserved", Some(header), "req-1"),
                ("StockRejected", Some(header), "req-1")
            ]
        );
    }

    #[tokio::test]
    async fn a_cancellation_before_the_reservation_blocks_it() {
        let store = InMemoryProducts::with([product("A", "x", 5)]);
        let (placed_envelope, event) = placed(&[("A", 2)]);
        let cancelled = OrderCancelled {
            order_id: event.order_id,
            customer_id: event.customer_id,
            previous_status: crate::domain::OrderStatus::Pending,
        };
        let cancel_envelope = Envelope::wrap(&cancelled, "req-2", now()).unwrap();

        let released = store
            .release(&cancel_envelope, cancelled.order_id)
            .await
            .unwrap();
        let reserved = store.reserve(&placed_envelope, &event).await.unwrap();

        assert_eq!(released, ReleaseOutcome::CancelledBeforeReservation);
        assert_eq!(reserved, ReserveOutcome::AlreadyDecided);
        assert_eq!(store.stock(&ProductId::parse("A").unwrap()), Some(5));
        assert!(store.outbox().is_empty());
    }
}
