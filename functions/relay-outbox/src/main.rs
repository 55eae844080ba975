//! `RelayOutboxFunction`: triggered by the outbox table's DynamoDB stream, publishes each new
//! outbox event to the queue of the service that consumes it, and every record it cannot
//! publish to its dead-letter queue. The logic is in [`handler`].

mod dead_letters;
mod handler;

use lambda_runtime::Error;
use shared::aws::{self, SqsPublisher};
use shared::config::RelayConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = RelayConfig::from_env()?;
    let sdk = aws::load().await;
    let queues = handler::Queues {
        inventory: SqsPublisher::new(&sdk, config.inventory_queue_url),
        payments: SqsPublisher::new(&sdk, config.payments_queue_url),
        orders: SqsPublisher::new(&sdk, config.orders_queue_url),
    };
    let dead_letters = dead_letters::SqsDeadLetterQueue::new(&sdk, config.dead_letter_queue_url);
    shared::runtime::events(env!("CARGO_PKG_NAME"), |event| {
        handler::handle(&queues, &dead_letters, event)
    })
    .await
}

/// `BatchSize` of a stream invocation: its records, publishable or poison.
impl shared::runtime::Batch for handler::StreamEvent {
    fn records(&self) -> usize {
        self.records.len()
    }
}
