//! Code shared by the shop's Lambda functions: domain values, the one error type, HTTP helpers
//! (with the error -> response mapping), the Idempotency-Key protocol, narrow ports (traits)
//! with DynamoDB/SQS adapters and in-memory fakes, events, config and telemetry.
//!
//! [`domain`] and [`ports`] know neither HTTP, Lambda nor AWS types: the HTTP edge ([`http`],
//! [`auth`], [`idempotency`]) speaks Lambda's, [`aws`] the SDK's, and each maps to and from the
//! domain's values (e.g. `If-Match` to [`domain::ExpectedVersion`], [`Error`] to a status).

pub mod api;
pub mod auth;
pub mod aws;
pub mod backoff;
pub mod breaker;
pub mod cache;
pub mod circuit;
pub mod config;
pub mod consumer;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod idempotency;
/// In-memory fakes of the ports, for tests only: feature `testing` (functions and fuzz targets
/// enable it as a dev-dependency; no Lambda binary links it).
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod metrics;
pub mod outside;
pub mod ports;
pub mod provider;
pub mod runtime;
mod sync;
pub mod telemetry;
/// Payload v2.0 requests for handler tests (the sample event compiled in): feature `testing`.
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod usecases;
pub mod validate;

pub use auth::{Principal, Role};
pub use error::{Error, FieldError};
