//! In-memory orders.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{injected, lock};
use crate::domain::{Confirmation, Order, OrderId, OrderStatus, now};
use crate::error::Error;
use crate::ports::{OrderReader, OrderStatusUpdater, OrderWriter};

/// Orders in a map.
#[derive(Debug, Default)]
pub struct InMemoryOrders {
    orders: Mutex<HashMap<OrderId, Order>>,
    failure: Mutex<Option<String>>,
}

impl InMemoryOrders {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `orders`.
    pub fn with(orders: impl IntoIterator<Item = Order>) -> Self {
        let store = Self::new();
        lock(&store.orders).extend(orders.into_iter().map(|o| (o.id(), o)));
        store
    }

    /// From now on every call fails with an [`Error::Internal`] carrying `message`.
    pub fn fail_with(&self, message: &str) {
        *lock(&self.failure) = Some(message.to_owned());
    }

    /// The stored order `id`, if any.
    pub fn find(&self, id: &OrderId) -> Option<Order> {
        lock(&self.orders).get(id).cloned()
    }

    /// All stored orders, in no particular order.
    pub fn all(&self) -> Vec<Order> {
        lock(&self.orders).values().cloned().collect()
    }

    /// The status of stored order `id`, if any.
    pub fn status(&self, id: &OrderId) -> Option<OrderStatus> {
        self.find(id).map(|o| o.status())
    }
}

#[async_trait]
impl OrderWriter for InMemoryOrders {
    async fn insert(&self, order: &Order) -> Result<(), Error> {
        injected(&self.failure)?;
        let mut orders = lock(&self.orders);
        if orders.contains_key(&order.id()) {
            return Err(Error::Conflict(format!(
                "order {} already exists",
                order.id()
            )));
        }
        orders.insert(order.id(), order.clone());
        Ok(())
    }
}

#[async_trait]
impl OrderReader for InMemoryOrders {
    async fn get(&self, id: &OrderId) -> Result<Option<Order>, Error> {
        injected(&self.failure)?;
        Ok(lock(&self.orders).get(id).cloned())
    }
}

#[async_trait]
impl OrderStatusUpdater for InMemoryOrders {
    async fn confirm(&self, id: &OrderId) -> Result<Confirmation, Error> {
        injected(&self.failure)?;
        let mut orders = lock(&self.orders);
        let order = orders
            .get_mut(id)
            .ok_or_else(|| Error::not_found("order", id))?;
        order.confirm(now())
    }
}
