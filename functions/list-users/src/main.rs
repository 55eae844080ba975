//! `GET /users` (`ListUsersFunction`): users page by page, or the one with `?email=`. The logic
//! is in [`handler`].

mod handler;

use lambda_http::Error;
use shared::aws::{self, DynamoUsers};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let users = DynamoUsers::from_env(&aws::load().await)?;
    shared::runtime::http(env!("CARGO_PKG_NAME"), |req| handler::handle(&users, req)).await
}
