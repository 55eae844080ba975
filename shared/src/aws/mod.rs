//! AWS adapters of the ports: DynamoDB repositories and the SQS publisher.
//!
//! The only module besides [`crate::http`] that knows AWS types. Clients come from one
//! [`aws_config::SdkConfig`] built by [`load`] once per cold start.

mod orders;
mod products;
mod reservations;
mod sqs;
mod table;
pub mod transact;
mod users;

pub use orders::DynamoOrders;
pub use products::DynamoProducts;
pub use reservations::DynamoReservations;
pub use sqs::SqsPublisher;
pub use users::DynamoUsers;

use aws_config::SdkConfig;

/// The SDK configuration from the environment: region, credentials and, when set,
/// `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_<SERVICE>`), so the same binary runs against the
/// local emulator and against AWS.
pub async fn load() -> SdkConfig {
    aws_config::load_from_env().await
}
