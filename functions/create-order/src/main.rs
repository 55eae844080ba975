//! `POST /orders` (`CreateOrderFunction`): prices the order from the catalog and commits it with
//! its `OrderPlaced` event (transactional outbox). The logic is in [`handler`].

mod handler;

use lambda_http::{Error, run, service_fn};
use shared::aws::{self, DynamoOrders, DynamoProducts, DynamoUsers};
use shared::config::{EventStoreConfig, OrdersConfig, ProductsConfig, UsersConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let orders_config = OrdersConfig::from_env()?;
    let store = EventStoreConfig::from_env()?;
    let users_config = UsersConfig::from_env()?;
    let products_config = ProductsConfig::from_env()?;
    let sdk = aws::load().await;
    let orders = DynamoOrders::new(&sdk, orders_config.orders_table)
        .with_event_store(store.outbox_table, store.idempotency_table);
    let users = DynamoUsers::new(&sdk, users_config.users_table);
    let products = DynamoProducts::new(&sdk, products_config.products_table);
    run(service_fn(|req| {
        let deps = handler::Deps {
            orders: &orders,
            users: &users,
            products: &products,
        };
        handler::handle(deps, req)
    }))
    .await
}
