//! `POST /orders` (`CreateOrderFunction`): stores a `PENDING` order and publishes
//! `OrderPlaced`. The logic is in [`handler`].

mod handler;

use lambda_http::{Error, run, service_fn};
use shared::aws::{self, DynamoOrders, SqsPublisher};
use shared::config::{OrdersConfig, OrdersQueueConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let orders_config = OrdersConfig::from_env()?;
    let queue_config = OrdersQueueConfig::from_env()?;
    let sdk = aws::load().await;
    let orders = DynamoOrders::new(&sdk, orders_config.orders_table);
    let events = SqsPublisher::new(&sdk, queue_config.orders_queue_url);
    run(service_fn(|req| handler::handle(&orders, &events, req))).await
}
