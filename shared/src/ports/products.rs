//! Ports of the products service: the catalog (one trait per route, mirroring each
//! function's IAM policy) and the inventory side of the stock-reservation saga.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{Cursor, Page, PageLimit};
use crate::domain::ExpectedVersion;
use crate::domain::OrderId;
use crate::domain::{Category, Product, ProductChanges, ProductId, StockDelta};
use crate::error::Error;
use crate::events::{Envelope, OrderPlaced};

/// Stores a new product (`dynamodb:PutItem`).
#[async_trait]
pub trait ProductWriter: Send + Sync {
    /// Inserts `product`.
    ///
    /// # Errors
    /// [`Error::Conflict`] when a product with the same id exists; [`Error::Internal`] on
    /// failure.
    async fn insert(&self, product: &Product) -> Result<(), Error>;
}

/// Reads one product (`dynamodb:GetItem`).
#[async_trait]
pub trait ProductReader: Send + Sync {
    /// The product with `id`, or `None`.
    ///
    /// # Errors
    /// [`Error::Internal`] on failure.
    async fn get(&self, id: &ProductId) -> Result<Option<Product>, Error>;
}

/// Reads many products at once (`dynamodb:BatchGetItem`), e.g. to price an order.
#[async_trait]
pub trait ProductBatchReader: Send + Sync {
    /// The products among `ids` that exist, by id. Unknown ids are simply absent from the
    /// map; repeated ids are fine. Any number of ids (read 100 per request).
    ///
    /// # Errors
    /// [`Error::Internal`] on failure, including DynamoDB leaving keys unprocessed after a
    /// few retries with backoff.
    async fn get_many(&self, ids: &[ProductId]) -> Result<HashMap<ProductId, Product>, Error>;
}

/// Lists products page by page (`dynamodb:Scan`, `dynamodb:Query` on `category-index`).
#[async_trait]
pub trait ProductLister: Send + Sync {
    /// Up to `limit` products after `cursor` (from the start when `None`); only those of
    /// `category` when given (then in id order; otherwise in an unspecified but stable
    /// order). `next` is `None` on the last page; a page may be shorter than `limit` and
    /// still have a `next`.
    ///
    /// # Errors
    /// [`Error::Validation`] on field `cursor` when it was not issued by this lister (for
    /// this category); [`Error::Internal`] on failure.
    async fn list(
        &self,
        category: Option<&Category>,
        limit: PageLimit,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Product>, Error>;
}

/// Replaces a product's catalog fields under optimistic locking (`dynamodb:UpdateItem` only).
#[async_trait]
pub trait ProductUpdater: Send + Sync {
    /// Applies `changes` to product `id` if its stored version satisfies `precondition`;
    /// `version` goes up by one, `updated_at` becomes now, `stock` is untouched.
    ///
    /// Returns the product as stored after the update.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such product; [`Error::PreconditionFailed`] when
    /// its version is not the expected one; [`Error::Internal`] on failure.
    async fn update(
        &self,
        id: &ProductId,
        precondition: ExpectedVersion,
        changes: &ProductChanges,
    ) -> Result<Product, Error>;
}

/// Deletes a product (`dynamodb:DeleteItem`).
#[async_trait]
pub trait ProductDeleter: Send + Sync {
    /// Deletes product `id`.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such product; [`Error::Internal`] on failure.
    async fn delete(&self, id: &ProductId) -> Result<(), Error>;
}

/// Changes a product's stock by a signed amount, atomically (`dynamodb:UpdateItem` only).
#[async_trait]
pub trait StockAdjuster: Send + Sync {
    /// Adds `delta` (possibly negative) to product `id`'s stock, which never goes below zero.
    /// `version` and `updated_at` are untouched. Returns the product after the change.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such product; [`Error::Conflict`]
    /// (`insufficient stock: ...`) when the stock would go below zero; [`Error::Internal`]
    /// on failure.
    async fn adjust(&self, id: &ProductId, delta: StockDelta) -> Result<Product, Error>;
}

/// What handling an `OrderPlaced` event did. Every outcome acknowledges the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Stock for every line was taken; the reservation is `RESERVED` and a `StockReserved`
    /// event is in the outbox.
    Reserved,
    /// Some products were short or missing; nothing was taken, the reservation is `REJECTED`
    /// and a `StockRejected` event is in the outbox.
    Rejected {
        /// The products that failed (empty when the order was refused as a whole, e.g. for
        /// having too many distinct products).
        product_ids: Vec<ProductId>,
        /// Why, as written in the event: e.g. `insufficient stock`.
        reason: String,
    },
    /// This event was already applied (its de-duplication marker exists): nothing done.
    Duplicate,
    /// The order already has a reservation record (reserved or rejected by an earlier event,
    /// or cancelled before this one arrived): nothing done.
    AlreadyDecided,
}

/// What handling an `OrderCancelled` event did. Every outcome acknowledges the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The reserved stock was put back; the reservation is `RELEASED`.
    Released,
    /// No reservation existed yet (the cancellation overtook the `OrderPlaced`): one is now
    /// recorded as `CANCELLED`, so a later `OrderPlaced` reserves nothing.
    CancelledBeforeReservation,
    /// This event was already applied: nothing done.
    Duplicate,
    /// The reservation holds no stock (`REJECTED`, `RELEASED` or `CANCELLED`): nothing done.
    NothingToRelease,
}

/// The inventory side of the stock-reservation saga: each event's effect, its resulting
/// event (outbox) and its de-duplication marker are committed in one DynamoDB transaction.
#[async_trait]
pub trait StockReservations: Send + Sync {
    /// Reserves stock for every line of `placed` (carried by `envelope`), all or nothing.
    ///
    /// # Errors
    /// [`Error::Internal`] on a failure worth retrying (throttling, a conflicting concurrent
    /// transaction, an outage); the event is to be delivered again.
    async fn reserve(
        &self,
        envelope: &Envelope,
        placed: &OrderPlaced,
    ) -> Result<ReserveOutcome, Error>;

    /// Releases the stock reserved for order `order_id`, or records that none may be reserved
    /// any more; `envelope` carries the event that asks for it (`OrderCancelled`, or
    /// `PaymentDeclined`: the saga's compensation) and its id is the de-duplication key.
    ///
    /// # Errors
    /// [`Error::Internal`] on a failure worth retrying; the event is to be delivered again.
    async fn release(
        &self,
        envelope: &Envelope,
        order_id: OrderId,
    ) -> Result<ReleaseOutcome, Error>;
}
