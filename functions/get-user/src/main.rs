//! `GET /users/{id}` (`GetUserFunction`): one user. The logic is in [`handler`].

mod handler;

use lambda_http::{Error, run, service_fn};
use shared::aws::{self, DynamoUsers};
use shared::cache::{Cached, RedisCache};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let sdk = aws::load().await;
    let users = Cached::new(
        DynamoUsers::from_env(&sdk)?,
        RedisCache::from_env(&sdk).await?,
    );
    run(service_fn(|req| handler::handle(&users, req))).await
}
