//! `GET /orders` (`ListOrdersFunction`): orders filtered by customer and/or status, with cursor
//! pagination. The logic is in [`handler`].

mod handler;

use lambda_http::Error;
use shared::aws::{self, DynamoOrders};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let orders = DynamoOrders::from_env(&aws::load().await)?;
    shared::runtime::http(env!("CARGO_PKG_NAME"), |req| handler::handle(&orders, req)).await
}
