//! Ports of the payments service: the provider it charges (an outside HTTP API), its own
//! record of each order's charge, and the queue it hands messages back to while the provider
//! is out.

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{ChargeRecord, ChargeStatus, OrderId, PaymentMethod};
use crate::error::Error;
use crate::events::Envelope;

/// What the provider answered to a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Charged: the provider's charge id (`ch_…`).
    Captured {
        /// The charge.
        charge_id: String,
    },
    /// Declined by the card's issuer (HTTP 402 at the provider): final, never retried.
    Declined {
        /// `generic_decline`, `insufficient_funds`, …
        decline_code: String,
        /// For people.
        message: String,
        /// The failed charge's id, when the provider gives one.
        charge_id: Option<String>,
    },
}

/// Why the provider gave no answer of its own.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Not reachable, failing, or refused by the circuit breaker: try again later.
    /// `retry_after` is the soonest worth trying (the breaker's open time left, or the
    /// provider's `Retry-After`).
    #[error("payment provider unavailable: {detail}")]
    Unavailable {
        /// When to try again, if known.
        retry_after: Option<Duration>,
        /// Whether the circuit breaker refused the call (nothing was sent).
        breaker_open: bool,
        /// What happened, for logs.
        detail: String,
    },
    /// Anything else (an answer we cannot read, a 4xx that is our bug): fails the message.
    #[error(transparent)]
    Failed(#[from] Error),
}

impl From<ProviderError> for Error {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::Unavailable { .. } => Error::ServiceUnavailable(error.to_string()),
            ProviderError::Failed(error) => error,
        }
    }
}

/// The payment provider's API.
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// Charges `amount_cents` to `method` for `order`. `idempotency_key` makes a retry or a
    /// redelivery return the first charge instead of making a second one.
    ///
    /// # Errors
    /// [`ProviderError`]; a decline is an outcome, not an error.
    async fn charge(
        &self,
        order: &OrderId,
        amount_cents: u64,
        method: &PaymentMethod,
        idempotency_key: &str,
    ) -> Result<ChargeOutcome, ProviderError>;

    /// Refunds charge `charge_id` in full; returns the refund id (`re_…`). Idempotent under
    /// `idempotency_key` like [`PaymentProvider::charge`].
    ///
    /// # Errors
    /// [`ProviderError`].
    async fn refund(&self, charge_id: &str, idempotency_key: &str)
    -> Result<String, ProviderError>;
}

/// What [`ChargeStore::decide`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    /// The record (and its event) were committed.
    Written,
    /// The stored record was no longer in the expected status; nothing was written. Re-read.
    Stale,
}

/// The payments table (one [`ChargeRecord`] per order) with the outbox: every decision and
/// its event are committed together (`dynamodb:GetItem`/`PutItem` on the payments table,
/// `PutItem` on the outbox).
#[async_trait]
pub trait ChargeStore: Send + Sync {
    /// The record of `order`, read strongly consistently.
    ///
    /// # Errors
    /// [`Error::ServiceUnavailable`] or [`Error::Internal`] on failure.
    async fn get(&self, order: &OrderId) -> Result<Option<ChargeRecord>, Error>;

    /// Writes `record` and `event` (if any) in one transaction, only if the stored record's
    /// status is `expected` (`None`: only if there is no record yet).
    ///
    /// # Errors
    /// [`Error::ServiceUnavailable`] or [`Error::Internal`] on failure.
    async fn decide(
        &self,
        record: &ChargeRecord,
        expected: Option<ChargeStatus>,
        event: Option<&Envelope>,
    ) -> Result<Decided, Error>;
}

/// Hands an SQS message back to its queue for later (`sqs:ChangeMessageVisibility`): while the
/// provider is out, a message waits in the queue instead of being received again at once.
#[async_trait]
pub trait Redelivery: Send + Sync {
    /// Makes the message with `receipt_handle` invisible for `delay` (0–12 h; SQS rounds to
    /// whole seconds).
    ///
    /// # Errors
    /// [`Error::ServiceUnavailable`] or [`Error::Internal`] on failure.
    async fn delay(&self, receipt_handle: &str, delay: Duration) -> Result<(), Error>;
}
