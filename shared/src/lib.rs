//! Code shared by the shop's Lambda functions: domain values, the one error type, HTTP helpers,
//! narrow ports (traits) with DynamoDB/SQS adapters and in-memory fakes, events, config and
//! telemetry.
//!
//! Only [`http`] knows Lambda types and only [`aws`] knows AWS SDK types; [`domain`] knows
//! neither.

pub mod auth;
pub mod aws;
pub mod config;
pub mod consumer;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod idempotency;
pub mod memory;
pub mod ports;
pub mod telemetry;
pub mod testing;
pub mod usecases;
pub mod validate;

pub use auth::{Principal, Role};
pub use error::{Error, FieldError};
