//! In-memory fakes of the ports, for handler tests: plain maps behind a mutex, same contracts
//! as the AWS adapters (conflict on duplicate ids, conditional confirm, opaque cursors).
//!
//! Each fake can also be told to fail ([`InMemoryUsers::fail_with`] etc.) to test 5xx paths.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::Error;
use crate::events::Envelope;
use crate::ports::EventPublisher;

mod cache;
mod orders;
mod payments;
mod products;
mod users;

pub use cache::*;
pub use orders::*;
pub use payments::*;
pub use products::*;
pub use users::*;

pub(crate) use crate::sync::lock;

pub(crate) fn injected(failure: &Mutex<Option<String>>) -> Result<(), Error> {
    match lock(failure).as_ref() {
        Some(message) => Err(Error::internal("injected failure", message.clone())),
        None => Ok(()),
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
