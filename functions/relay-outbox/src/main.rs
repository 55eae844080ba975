//! `RelayOutboxFunction`: triggered by the outbox table's DynamoDB stream, publishes each new
//! outbox event to the queue of the service that consumes it, and every record it cannot
//! publish to its dead-letter queue. The logic is in [`handler`].

mod dead_letters;
mod handler;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
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
    run(service_fn(|event: LambdaEvent<_>| {
        handler::handle(&queues, &dead_letters, event)
    }))
    .await
}
