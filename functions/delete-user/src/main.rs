//! `DELETE /users/{id}` (`DeleteUserFunction`): deletes a user and frees its email. The logic
//! is in [`handler`].

mod handler;

use lambda_http::{Error, run, service_fn};
use shared::aws::{self, DynamoUsers};
use shared::config::UsersConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = UsersConfig::from_env()?;
    let users = DynamoUsers::new(&aws::load().await, config.users_table);
    run(service_fn(|req| handler::handle(&users, req))).await
}
