//! `ProcessOrdersFunction`: consumes `StockReserved`/`StockRejected` from the orders queue and
//! confirms or rejects the orders, reporting partial batch failures. The logic is in [`handler`].

mod handler;

use lambda_runtime::Error;
use shared::aws::{self, DynamoOrders};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let orders = DynamoOrders::with_event_store_from_env(&aws::load().await)?;
    shared::runtime::events(env!("CARGO_PKG_NAME"), |event| {
        handler::handle(&orders, event)
    })
    .await
}
