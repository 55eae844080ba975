//! The circuit breaker an outside-service call asks first ([`CircuitGate`]), and its shared
//! implementation: state kept in DynamoDB so every instance of a function sees the same
//! breaker ([`dynamo::DynamoCircuit`]), with a per-instance fallback while that table is
//! unreachable.
//!
//! States (the usual closed / open / half-open model, e.g. Nygard, *Release It!*):
//! - **closed**: calls go through; the failure rate over a window opens it;
//! - **open**: calls are refused for a while (`Gate::Rejected { retry_after }`);
//! - **half-open**: one probe call at a time goes through, across all instances; its success
//!   closes the breaker, its failure opens it again.

use std::time::Duration;

use async_trait::async_trait;

pub mod dynamo;

/// What kind of call [`CircuitGate::acquire`] let through; hand it back to
/// [`CircuitGate::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A call while the breaker is closed.
    Normal,
    /// The half-open breaker's probe: its outcome closes or re-opens the breaker.
    Probe,
}

/// The answer of [`CircuitGate::acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Make the call, then report its outcome with [`CircuitGate::record`].
    Admitted(Admission),
    /// Do not call: the breaker is open (or half-open with a probe in flight). `retry_after`
    /// is how long until a probe may be admitted (at least 1 ms).
    Rejected {
        /// Time until the breaker admits a probe.
        retry_after: Duration,
    },
}

/// A circuit breaker as the outside-service client ([`crate::outside`]) sees it: one
/// [`acquire`](CircuitGate::acquire) before a logical call (all its attempts), one
/// [`record`](CircuitGate::record) after it.
#[async_trait]
pub trait CircuitGate: Send + Sync {
    /// Whether a call may be made now. Never fails: an unreachable state store falls back to
    /// a per-instance breaker.
    async fn acquire(&self) -> Gate;

    /// The outcome of a call `acquire` admitted: `success` is false when the dependency
    /// failed (every attempt a connection error, timeout, 5xx or 429), true for any answer
    /// that is the dependency's own (2xx, or a 4xx such as a card decline).
    async fn record(&self, admission: Admission, success: bool);
}

/// A gate that admits every call and forgets every outcome: for tests and for callers that
/// want no breaker.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCircuit;

#[async_trait]
impl CircuitGate for NoCircuit {
    async fn acquire(&self) -> Gate {
        Gate::Admitted(Admission::Normal)
    }

    async fn record(&self, _admission: Admission, _success: bool) {}
}

#[async_trait]
impl<G: CircuitGate + ?Sized> CircuitGate for std::sync::Arc<G> {
    async fn acquire(&self) -> Gate {
        (**self).acquire().await
    }

    async fn record(&self, admission: Admission, success: bool) {
        (**self).record(admission, success).await;
    }
}
