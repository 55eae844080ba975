//! `PUT /products/{id}` (`UpdateProductFunction`): replaces a product's catalog fields under If-Match.
//! The logic is in [`handler`].

mod handler;

use lambda_http::{Error, run, service_fn};
use shared::aws::{self, DynamoProducts};
use shared::cache::{Cached, RedisCache};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let sdk = aws::load().await;
    let products = Cached::new(
        DynamoProducts::from_env(&sdk)?,
        RedisCache::from_env(&sdk).await?,
    );
    run(service_fn(|req| handler::handle(&products, req))).await
}
