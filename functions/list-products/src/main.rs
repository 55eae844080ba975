//! `GET /products` (`ListProductsFunction`): products page by page, optionally of one category.
//! The logic is in [`handler`].

mod handler;

use lambda_http::{Error, run, service_fn};
use shared::aws::{self, DynamoProducts};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let products = DynamoProducts::from_env(&aws::load().await)?;
    run(service_fn(|req| handler::handle(&products, req))).await
}
