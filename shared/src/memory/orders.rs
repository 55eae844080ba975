//! In-memory orders: the same contracts as [`crate::aws::DynamoOrders`] (conditional status
//! changes, events committed with the change, idempotency records, de-duplicated settlement).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use uuid::Uuid;

use super::{injected, lock};
use crate::domain::{Order, OrderId, OrderStatus, Payment, Settlement, now};
use crate::error::Error;
use crate::events::Envelope;
use crate::ports::{
    Cursor, IdempotencyReader, IdempotentResponse, OrderFilter, OrderLister, OrderPlacer,
    OrderReader, OrderSettlement, OrderTransitions, Page, PageLimit, Placement, Settled,
    Transitioned,
};

#[derive(Debug, Default, Clone)]
struct State {
    orders: BTreeMap<OrderId, Order>,
    outbox: Vec<Envelope>,
    responses: HashMap<String, IdempotentResponse>,
    applied: HashSet<String>,
}

impl State {
    /// Order `id` to apply the event of `marker` to; `None` when that event was applied before.
    fn unapplied(&mut self, marker: &str, id: &OrderId) -> Result<Option<&mut Order>, Error> {
        if self.applied.contains(marker) {
            return Ok(None);
        }
        self.orders
            .get_mut(id)
            .map(Some)
            .ok_or_else(|| Error::not_found("order", id))
    }
}

/// Orders in a map ordered by id (UUID v7 ids sort by creation time), with an outbox.
#[derive(Debug, Default)]
pub struct InMemoryOrders {
    state: Mutex<State>,
    failure: Mutex<Option<String>>,
    commit_failure: Mutex<Option<String>>,
}

impl InMemoryOrders {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `orders`.
    pub fn with(orders: impl IntoIterator<Item = Order>) -> Self {
        let store = Self::new();
        lock(&store.state)
            .orders
            .extend(orders.into_iter().map(|o| (o.id(), o)));
        store
    }

    /// From now on every call fails with an [`Error::Internal`] carrying `message`.
    pub fn fail_with(&self, message: &str) {
        *lock(&self.failure) = Some(message.to_owned());
    }

    /// From now on every write transaction ([`OrderPlacer::place`],
    /// [`OrderTransitions::transition`]) fails at commit with an [`Error::Internal`] carrying
    /// `message`, after its writes were staged: like a failed `TransactWriteItems`, none of them
    /// is kept. Reads keep working, so a test can look at the store afterwards.
    pub fn fail_commits_with(&self, message: &str) {
        *lock(&self.commit_failure) = Some(message.to_owned());
    }

    /// Commits `staged` (a copy of the state with a transaction's writes applied) unless
    /// commits are made to fail; then the staged writes are dropped.
    fn commit(&self, state: &mut State, staged: State) -> Result<(), Error> {
        injected(&self.commit_failure)?;
        *state = staged;
        Ok(())
    }

    /// The order with `id`, if stored.
    pub fn find(&self, id: &OrderId) -> Option<Order> {
        lock(&self.state).orders.get(id).cloned()
    }

    /// Every stored order, by id.
    pub fn all(&self) -> Vec<Order> {
        lock(&self.state).orders.values().cloned().collect()
    }

    /// Every event committed to the outbox, in order.
    pub fn outbox(&self) -> Vec<Envelope> {
        lock(&self.state).outbox.clone()
    }
}

#[async_trait]
impl OrderPlacer for InMemoryOrders {
    async fn place(
        &self,
        order: &Order,
        event: &Envelope,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<Placement, Error> {
        injected(&self.failure)?;
        let mut state = lock(&self.state);
        if idempotent.is_some_and(|r| state.responses.contains_key(&r.key)) {
            return Ok(Placement::KeyAlreadyUsed);
        }
        if state.orders.contains_key(&order.id()) {
            return Err(Error::Conflict(format!(
                "order {} already exists",
                order.id()
            )));
        }
        let mut staged = state.clone();
        staged.orders.insert(order.id(), order.clone());
        staged.outbox.push(event.clone());
        if let Some(response) = idempotent {
            staged
                .responses
                .insert(response.key.clone(), response.clone());
        }
        self.commit(&mut state, staged)?;
        Ok(Placement::Placed)
    }
}

#[async_trait]
impl IdempotencyReader for InMemoryOrders {
    async fn get(&self, key: &str) -> Result<Option<IdempotentResponse>, Error> {
        injected(&self.failure)?;
        Ok(lock(&self.state).responses.get(key).cloned())
    }
}

#[async_trait]
impl OrderReader for InMemoryOrders {
    async fn get(&self, id: &OrderId) -> Result<Option<Order>, Error> {
        injected(&self.failure)?;
        Ok(self.find(id))
    }
}

#[async_trait]
impl OrderLister for InMemoryOrders {
    async fn list(
        &self,
        filter: OrderFilter,
        limit: PageLimit,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Order>, Error> {
        injected(&self.failure)?;
        let after = cursor.map(|c| c.after_id::<OrderId>()).transpose()?;
        let state = lock(&self.state);
        let mut matching = state
            .orders
            .values()
            .filter(|o| after.is_none_or(|a| o.id() > a))
            .filter(|o| filter.customer_id.is_none_or(|c| o.customer_id() == c))
            .filter(|o| filter.status.is_none_or(|s| o.status() == s));
        let items: Vec<Order> = matching
            .by_ref()
            .take(usize::from(limit.get()))
            .cloned()
            .collect();
        let next = match matching.next() {
            Some(_) => items.last().map(|o| Cursor::after(o.id())),
            None => None,
        };
        Ok(Page { items, next })
    }
}

#[async_trait]
impl OrderTransitions for InMemoryOrders {
    async fn transition(
        &self,
        updated: &Order,
        from: OrderStatus,
        event: Option<&Envelope>,
    ) -> Result<Transitioned, Error> {
        injected(&self.failure)?;
        let mut state = lock(&self.state);
        match state.orders.get(&updated.id()) {
            Some(stored) if stored.status() == from => {}
            _ => return Ok(Transitioned::Stale),
        }
        let mut staged = state.clone();
        staged.orders.insert(updated.id(), updated.clone());
        staged.outbox.extend(event.cloned());
        self.commit(&mut state, staged)?;
        Ok(Transitioned::Done(updated.clone()))
    }
}

#[async_trait]
impl OrderSettlement for InMemoryOrders {
    async fn settle(
        &self,
        consumer: &str,
        event_id: Uuid,
        id: &OrderId,
        settlement: &Settlement,
    ) -> Result<Settled, Error> {
        injected(&self.failure)?;
        let to = settlement.status();
        let mut state = lock(&self.state);
        let marker = format!("{consumer}#{event_id}");
        let Some(order) = state.unapplied(&marker, id)? else {
            return Ok(Settled::Duplicate);
        };
        let outcome = match order.status() {
            OrderStatus::Pending => {
                order.settle(settlement, now())?;
                Settled::Applied
            }
            status if status == to => return Ok(Settled::AlreadyApplied),
            OrderStatus::Cancelled => return Ok(Settled::OrderCancelled),
            status => {
                return Err(Error::Conflict(format!(
                    "order {id} is {status} and cannot become {to}"
                )));
            }
        };
        state.applied.insert(marker);
        Ok(outcome)
    }

    async fn record_payment(
        &self,
        consumer: &str,
        event_id: Uuid,
        id: &OrderId,
        payment: &Payment,
    ) -> Result<Settled, Error> {
        injected(&self.failure)?;
        let mut state = lock(&self.state);
        let marker = format!("{consumer}#{event_id}");
        let Some(order) = state.unapplied(&marker, id)? else {
            return Ok(Settled::Duplicate);
        };
        order.record_payment(payment.clone(), now());
        state.applied.insert(marker);
        Ok(Settled::Applied)
    }
}
