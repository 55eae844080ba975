//! Ports of the orders service.

use async_trait::async_trait;

use crate::domain::{Confirmation, Order, OrderId};
use crate::error::Error;

/// Stores a new order (`dynamodb:PutItem`).
#[async_trait]
pub trait OrderWriter: Send + Sync {
    /// Inserts `order`.
    ///
    /// # Errors
    /// [`Error::Conflict`] when an order with the same id exists; [`Error::Internal`] on failure.
    async fn insert(&self, order: &Order) -> Result<(), Error>;
}

/// Reads one order (`dynamodb:GetItem`).
#[async_trait]
pub trait OrderReader: Send + Sync {
    /// The order with `id`, or `None`.
    ///
    /// # Errors
    /// [`Error::Internal`] on failure.
    async fn get(&self, id: &OrderId) -> Result<Option<Order>, Error>;
}

/// Moves an order's status with a conditional write (`dynamodb:UpdateItem` only).
#[async_trait]
pub trait OrderStatusUpdater: Send + Sync {
    /// Confirms order `id`: `PENDING` becomes `CONFIRMED`; an already `CONFIRMED` order is left
    /// untouched and reported as [`Confirmation::AlreadyConfirmed`] (safe to repeat).
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such order; [`Error::Conflict`] when it is in
    /// another status; [`Error::Internal`] on failure.
    async fn confirm(&self, id: &OrderId) -> Result<Confirmation, Error>;
}
