//! Ports of the orders service: one narrow trait per operation, mirroring each function's IAM
//! policy in `template.yaml`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Cursor, Page, PageLimit};
use crate::domain::{Order, OrderId, OrderStatus, Payment, Settlement, UserId};
use crate::error::Error;
use crate::events::Envelope;

/// A saved response to a `POST` with an `Idempotency-Key`, committed with the work it answers
/// and replayed for a retry with the same key and body ([`crate::idempotency`] owns the
/// protocol: the key's scope, the body comparison, the replay).
///
/// Item in the idempotency table: `{"id":"idempotency#<key>","request":<body JSON text>,
/// "status":201,"response":<body JSON text>,"location":"/orders/<id>","expires_at":<epoch s>}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotentResponse {
    /// The key as the protocol chose it: scoped to the caller, `<sub>:<Idempotency-Key>`
    /// ([`crate::idempotency::scoped_key`]), not the header value alone.
    pub key: String,
    /// The request body, as JSON text, compared (as parsed JSON) with a retry's body.
    pub request: String,
    /// The HTTP status answered the first time.
    pub status: u16,
    /// The response body answered the first time (JSON text).
    pub response: String,
    /// The `Location` header answered the first time, if any.
    pub location: Option<String>,
}

/// What [`OrderPlacer::place`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The order, its `OrderPlaced` event and the idempotency record were committed together.
    Placed,
    /// Another request with the same idempotency key committed first; nothing was written.
    /// Read the stored response and replay it.
    KeyAlreadyUsed,
}

/// Places an order: the order, its event (transactional outbox) and, with an idempotency key,
/// the response to replay — in one `TransactWriteItems` (`dynamodb:PutItem` on the orders,
/// outbox and idempotency tables).
#[async_trait]
pub trait OrderPlacer: Send + Sync {
    /// Commits `order` (new, `PENDING`), `event` and `idempotent` (if any) all or nothing.
    ///
    /// # Errors
    /// [`Error::Conflict`] when an order with the same id exists; [`Error::Internal`] on failure.
    async fn place(
        &self,
        order: &Order,
        event: &Envelope,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<Placement, Error>;
}

/// Reads stored idempotent responses (`dynamodb:GetItem` on the idempotency table).
#[async_trait]
pub trait IdempotencyReader: Send + Sync {
    /// The response stored for `key`, or `None` (never used, or expired).
    ///
    /// # Errors
    /// [`Error::Internal`] on failure.
    async fn get(&self, key: &str) -> Result<Option<IdempotentResponse>, Error>;
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

/// Which orders a listing returns. Both fields optional; both given = both must match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Only this customer's orders (the `customer-index` GSI).
    pub customer_id: Option<UserId>,
    /// Only orders in this status (the `status-index` GSI, or a filter on the customer's).
    pub status: Option<OrderStatus>,
}

/// Lists orders page by page, oldest first within an index (`dynamodb:Query`/`Scan`).
#[async_trait]
pub trait OrderLister: Send + Sync {
    /// Up to `limit` orders matching `filter` after `cursor`. A page may be shorter than
    /// `limit` and still have a `next` (a status filter on a customer's orders drops items).
    ///
    /// # Errors
    /// [`Error::Validation`] on field `cursor` for a cursor not issued by this lister;
    /// [`Error::Internal`] on failure.
    async fn list(
        &self,
        filter: OrderFilter,
        limit: PageLimit,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Order>, Error>;
}

/// What [`OrderTransitions::transition`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per request, returned and matched at once: boxing would only add an allocation"
)]
pub enum Transitioned {
    /// The order moved; here it is as stored now.
    Done(Order),
    /// The stored status was no longer the one read (a concurrent change); nothing was
    /// written. Re-read and decide again.
    Stale,
}

/// Moves an order between statuses with a conditional write, committing the change's event in
/// the same transaction (`dynamodb:UpdateItem` on orders, `dynamodb:PutItem` on the outbox).
#[async_trait]
pub trait OrderTransitions: Send + Sync {
    /// Writes `updated` (an order read with status `from` and moved in memory) only if the
    /// stored status is still `from`, together with `event` when given.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the order no longer exists; [`Error::Internal`] on failure.
    async fn transition(
        &self,
        updated: &Order,
        from: OrderStatus,
        event: Option<&Envelope>,
    ) -> Result<Transitioned, Error>;
}

/// What [`OrderSettlement::settle`] did with the saga's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The order went from `PENDING` to the outcome's status (or, for
    /// [`OrderSettlement::record_payment`], its payment was recorded).
    Applied,
    /// This event id was applied before (a redelivery); nothing changed.
    Duplicate,
    /// The order is already in the outcome's status; nothing changed.
    AlreadyApplied,
    /// The order was cancelled meanwhile; nothing changed (the cancellation releases stock).
    OrderCancelled,
}

/// Applies the saga's outcome (stock rejected, payment captured or declined, refund issued) to
/// an order, once per event id: one `TransactWriteItems` with the consumer's de-duplication
/// marker and the conditional update (`dynamodb:PutItem` on the idempotency table,
/// `UpdateItem`/`GetItem` on orders).
#[async_trait]
pub trait OrderSettlement: Send + Sync {
    /// Moves order `id` from `PENDING` as `settlement` says (`CONFIRMED` with its payment, or
    /// `REJECTED` with its reason) unless event `event_id` was already applied by `consumer`.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown order; [`Error::Conflict`] when it is in a status
    /// that cannot take the outcome (other than cancelled); [`Error::Internal`] on failure.
    async fn settle(
        &self,
        consumer: &str,
        event_id: Uuid,
        id: &OrderId,
        settlement: &Settlement,
    ) -> Result<Settled, Error>;

    /// Records `payment` on order `id` whatever its status (a refund of a cancelled order),
    /// unless event `event_id` was already applied by `consumer`.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown order; [`Error::Internal`] on failure.
    async fn record_payment(
        &self,
        consumer: &str,
        event_id: Uuid,
        id: &OrderId,
        payment: &Payment,
    ) -> Result<Settled, Error>;
}
