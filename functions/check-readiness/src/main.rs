//! `GET /health/ready` (`CheckReadinessFunction`): admin-only readiness check of every table,
//! queue and the cache. The logic is in [`handler`], the probes in [`probes`].
//!
//! The probes come from the environment at cold start (every `*_TABLE`, `*_QUEUE_URL`,
//! `CACHE_ENDPOINT`/`CACHE_PORT`, `CACHE_NAME`; see [`probes::from_env`]), with the SDK config
//! of [`shared::aws::load`].

mod handler;
mod probes;

use lambda_http::Error;
use shared::aws;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let sdk = aws::load().await;
    let readiness = handler::Readiness::new(probes::from_env(
        &sdk,
        std::env::vars(),
        shared::cache::RedisCache::from_env(&sdk).await?,
    ));
    shared::runtime::http(env!("CARGO_PKG_NAME"), |req| {
        handler::handle(&readiness, req)
    })
    .await
}
