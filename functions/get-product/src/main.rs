//! `GET /products/{id}` (`GetProductFunction`): one product with its ETag.
//! The logic is in [`handler`].

mod handler;

use lambda_http::{Error, run, service_fn};
use shared::aws::{self, DynamoProducts};
use shared::config::ProductsConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = ProductsConfig::from_env()?;
    let products = DynamoProducts::new(&aws::load().await, config.products_table);
    run(service_fn(|req| handler::handle(&products, req))).await
}
