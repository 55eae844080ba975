//! `GET /orders` (`ListOrdersFunction`): orders filtered by customer and/or status, with cursor
//! pagination. The logic is in [`handler`].

mod handler;

use lambda_http::{Error, run, service_fn};
use shared::aws::{self, DynamoOrders};
use shared::config::OrdersConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = OrdersConfig::from_env()?;
    let orders = DynamoOrders::new(&aws::load().await, config.orders_table);
    run(service_fn(|req| handler::handle(&orders, req))).await
}
