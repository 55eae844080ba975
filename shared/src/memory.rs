//! In-memory fakes of the ports, for handler tests: plain maps behind a mutex, same contracts
//! as the AWS adapters (conflict on duplicate ids, conditional confirm, opaque cursors).
//!
//! Each fake can also be told to fail ([`InMemoryUsers::fail_with`] etc.) to test 5xx paths.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::domain::{Confirmation, Order, OrderId, OrderStatus, User, UserId, now};
use crate::error::Error;
use crate::events::Envelope;
use crate::ports::{
    Cursor, EventPublisher, OrderReader, OrderStatusUpdater, OrderWriter, Page, PageLimit,
    UserLister, UserReader, UserWriter,
};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another test thread must not cascade: the data is still usable.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn injected(failure: &Mutex<Option<String>>) -> Result<(), Error> {
    match lock(failure).as_ref() {
        Some(message) => Err(Error::internal("injected failure", message.clone())),
        None => Ok(()),
    }
}

/// Users in a map ordered by id (UUID v7 ids sort by creation time).
#[derive(Debug, Default)]
pub struct InMemoryUsers {
    users: Mutex<BTreeMap<UserId, User>>,
    failure: Mutex<Option<String>>,
}

impl InMemoryUsers {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `users`.
    pub fn with(users: impl IntoIterator<Item = User>) -> Self {
        let store = Self::new();
        lock(&store.users).extend(users.into_iter().map(|u| (u.id, u)));
        store
    }

    /// From now on every call fails with an [`Error::Internal`] carrying `message`.
    pub fn fail_with(&self, message: &str) {
        *lock(&self.failure) = Some(message.to_owned());
    }

    /// All stored users, by id.
    pub fn all(&self) -> Vec<User> {
        lock(&self.users).values().cloned().collect()
    }
}

#[async_trait]
impl UserWriter for InMemoryUsers {
    async fn insert(&self, user: &User) -> Result<(), Error> {
        injected(&self.failure)?;
        let mut users = lock(&self.users);
        if users.contains_key(&user.id) {
            return Err(Error::Conflict(format!("user {} already exists", user.id)));
        }
        users.insert(user.id, user.clone());
        Ok(())
    }
}

#[async_trait]
impl UserReader for InMemoryUsers {
    async fn get(&self, id: &UserId) -> Result<Option<User>, Error> {
        injected(&self.failure)?;
        Ok(lock(&self.users).get(id).cloned())
    }
}

#[async_trait]
impl UserLister for InMemoryUsers {
    async fn list(&self, limit: PageLimit, cursor: Option<&Cursor>) -> Result<Page<User>, Error> {
        injected(&self.failure)?;
        let after = cursor.map(Cursor::after_id::<UserId>).transpose()?;
        let users = lock(&self.users);
        let mut rest = users
            .values()
            .filter(|u| after.is_none_or(|after| u.id > after))
            .peekable();
        let items: Vec<User> = rest
            .by_ref()
            .take(usize::from(limit.get()))
            .cloned()
            .collect();
        let next = match (rest.peek(), items.last()) {
            (Some(_), Some(last)) => Some(Cursor::after(last.id)),
            _ => None,
        };
        Ok(Page { items, next })
    }
}

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

/// Records published envelopes instead of sending them.
#[derive(Debug, Default)]
pub struct RecordingPublisher {
    published: Mutex<Vec<Envelope>>,
    failure: Mutex<Option<String>>,
}

impl RecordingPublisher {
    /// A publisher that has published nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on every publish fails with an [`Error::Internal`] carrying `message`.
    pub fn fail_with(&self, message: &str) {
        *lock(&self.failure) = Some(message.to_owned());
    }

    /// Everything published so far, in order.
    pub fn published(&self) -> Vec<Envelope> {
        lock(&self.published).clone()
    }
}

#[async_trait]
impl EventPublisher for RecordingPublisher {
    async fn publish(&self, envelope: &Envelope) -> Result<(), Error> {
        injected(&self.failure)?;
        lock(&self.published).push(envelope.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NewUser;

    fn user(n: usize) -> User {
        NewUser::parse(&format!("User {n}"), &format!("u{n}@example.com"))
            .unwrap()
            .into_user(UserId::new(), now())
    }

    async fn list_all(store: &InMemoryUsers, limit: PageLimit) -> (Vec<User>, usize) {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut cursor = None;
        loop {
            let page = store.list(limit, cursor.as_ref()).await.unwrap();
            pages += 1;
            seen.extend(page.items);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return (seen, pages),
            }
        }
    }

    #[tokio::test]
    async fn listing_with_the_cursor_visits_every_user_once() {
        let users: Vec<User> = (0..5).map(user).collect();
        let store = InMemoryUsers::with(users.clone());

        let (seen, pages) = list_all(&store, PageLimit::parse("2").unwrap()).await;

        assert_eq!(pages, 3);
        let mut expected: Vec<UserId> = users.iter().map(|u| u.id).collect();
        expected.sort();
        assert_eq!(seen.iter().map(|u| u.id).collect::<Vec<_>>(), expected);
    }

    #[tokio::test]
    async fn inserting_the_same_user_twice_is_a_conflict() {
        let store = InMemoryUsers::new();
        let user = user(1);
        store.insert(&user).await.unwrap();

        let error = store.insert(&user).await.unwrap_err();

        assert_eq!(error.code(), "CONFLICT");
    }
}
