//! `POST /orders` (`CreateOrderFunction`): prices the order from the catalog and commits it with
//! its `OrderPlaced` event (transactional outbox). The logic is in [`handler`].

mod handler;

use lambda_http::Error;
use shared::aws::{self, DynamoOrders, DynamoProducts, DynamoUsers};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let sdk = aws::load().await;
    let orders = DynamoOrders::with_event_store_from_env(&sdk)?;
    let users = DynamoUsers::from_env(&sdk)?;
    let products = DynamoProducts::from_env(&sdk)?;
    shared::runtime::http(env!("CARGO_PKG_NAME"), |req| {
        let deps = handler::Deps {
            orders: &orders,
            users: &users,
            products: &products,
        };
        handler::handle(deps, req)
    })
    .await
}
