//! `GET /health` (`HealthFunction`): public liveness probe. The logic is in [`handler`].
//!
//! Nothing is read from the environment and no AWS client is built, so a cold start is only the
//! runtime's own.

mod handler;

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    shared::runtime::http(env!("CARGO_PKG_NAME"), handler::handle).await
}
