//! `ReserveStockFunction`: consumes `OrderPlaced`/`OrderCancelled` from the inventory queue,
//! reserving or releasing stock and reporting partial batch failures. The logic is in
//! [`handler`].

mod handler;

use lambda_runtime::Error;
use shared::aws::{self, DynamoReservations};
use shared::cache::{Cached, RedisCache};
use shared::config::{EventStoreConfig, ProductsConfig, ReservationsConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let products = ProductsConfig::from_env()?;
    let reservations = ReservationsConfig::from_env()?;
    let events = EventStoreConfig::from_env()?;
    let sdk = aws::load().await;
    let inventory = Cached::new(
        DynamoReservations::new(&sdk, &products, &reservations, &events),
        RedisCache::from_env(&sdk).await?,
    );
    shared::runtime::events(env!("CARGO_PKG_NAME"), |event| {
        handler::handle(&inventory, event)
    })
    .await
}
