//! `GET /products` (`ListProductsFunction`): products page by page, optionally of one category.
//! The logic is in [`handler`].

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::catalog_http(env!("CARGO_PKG_NAME"), handler::handle).await
}
