//! `ProcessOrdersFunction`: consumes `StockReserved`/`StockRejected` from the orders queue and
//! confirms or rejects the orders, reporting partial batch failures. The logic is in [`handler`].

mod handler;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::aws::{self, DynamoOrders};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let orders = DynamoOrders::with_event_store_from_env(&aws::load().await)?;
    run(service_fn(|event: LambdaEvent<_>| {
        handler::handle(&orders, event)
    }))
    .await
}
