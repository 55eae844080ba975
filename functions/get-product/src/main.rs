//! `GET /products/{id}` (`GetProductFunction`): one product with its ETag.
//! The logic is in [`handler`].

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::catalog_http(env!("CARGO_PKG_NAME"), handler::handle).await
}
