//! `GET /products` (`ListProductsFunction`): products page by page, optionally of one category.
//! The logic is in [`handler`].

mod handler;

use lambda_http::Error;
use shared::{aws, cache};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let products = cache::products_from_env(&aws::load().await).await?;
    shared::runtime::http(env!("CARGO_PKG_NAME"), |req| {
        handler::handle(&products, req)
    })
    .await
}
