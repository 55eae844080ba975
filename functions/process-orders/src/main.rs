//! `ProcessOrdersFunction`: consumes `StockReserved`/`StockRejected` from the orders queue and
//! confirms or rejects the orders, reporting partial batch failures. The logic is in [`handler`].

mod handler;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::aws::{self, DynamoOrders};
use shared::config::{EventStoreConfig, OrdersConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = OrdersConfig::from_env()?;
    let store = EventStoreConfig::from_env()?;
    let orders = DynamoOrders::new(&aws::load().await, config.orders_table)
        .with_event_store(store.outbox_table, store.idempotency_table);
    run(service_fn(|event: LambdaEvent<_>| {
        handler::handle(&orders, event)
    }))
    .await
}
