//! Charge records in memory (the payments table and its outbox), for handler tests.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{injected, lock};
use crate::domain::{ChargeRecord, ChargeStatus, OrderId};
use crate::error::Error;
use crate::events::Envelope;
use crate::ports::{ChargeStore, Decided};

/// The payments table in a map, with the events its decisions committed.
#[derive(Debug, Default)]
pub struct InMemoryCharges {
    state: Mutex<State>,
    failure: Mutex<Option<String>>,
}

#[derive(Debug, Default)]
struct State {
    records: HashMap<OrderId, ChargeRecord>,
    outbox: Vec<Envelope>,
    /// A write by "another instance" that lands just before the next decision.
    interleaved: Option<ChargeRecord>,
}

impl InMemoryCharges {
    /// The record of `order`, if any.
    pub fn record(&self, order: &OrderId) -> Option<ChargeRecord> {
        lock(&self.state).records.get(order).cloned()
    }

    /// Every event committed so far, in order.
    pub fn outbox(&self) -> Vec<Envelope> {
        lock(&self.state).outbox.clone()
    }

    /// Stores `record` just before the next [`ChargeStore::decide`] runs, as a concurrent
    /// consumer would (a race test).
    pub fn before_next_decide(&self, record: ChargeRecord) {
        lock(&self.state).interleaved = Some(record);
    }

    /// Makes every call fail with an internal error carrying `message`.
    pub fn fail_with(&self, message: &str) {
        *lock(&self.failure) = Some(message.to_owned());
    }
}

#[async_trait]
impl ChargeStore for InMemoryCharges {
    async fn get(&self, order: &OrderId) -> Result<Option<ChargeRecord>, Error> {
        injected(&self.failure)?;
        Ok(self.record(order))
    }

    async fn decide(
        &self,
        record: &ChargeRecord,
        expected: Option<ChargeStatus>,
        event: Option<&Envelope>,
    ) -> Result<Decided, Error> {
        injected(&self.failure)?;
        let mut state = lock(&self.state);
        if let Some(other) = state.interleaved.take() {
            state.records.insert(other.id, other);
        }
        let current = state.records.get(&record.id).map(|r| r.status);
        if current != expected {
            return Ok(Decided::Stale);
        }
        state.records.insert(record.id, record.clone());
        if let Some(event) = event {
            state.outbox.push(event.clone());
        }
        Ok(Decided::Written)
    }
}
