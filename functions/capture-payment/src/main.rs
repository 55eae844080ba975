//! `CapturePaymentFunction`: consumes `StockReserved`/`OrderCancelled` from the payments queue,
//! charging or refunding with the payment provider (discovered in Cloud Map, called through
//! the shared circuit breaker) and reporting partial batch failures. The logic is in
//! [`handler`].

mod handler;

use lambda_runtime::Error;
use shared::aws::{self, DynamoCharges, SqsRedelivery};
use shared::config::PaymentsConfig;
use shared::provider::ProviderClient;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = PaymentsConfig::from_env()?;
    let sdk = aws::load().await;
    // Once per cold start: the API key (Secrets Manager) and the clients; discovery and the
    // breaker's state are read lazily, per call.
    let provider = ProviderClient::from_env(&sdk, &config).await?;
    let charges = DynamoCharges::from_env(&sdk)?;
    let redelivery = SqsRedelivery::new(&sdk, &config.payments_queue_url);
    let deps = handler::Deps {
        provider: &provider,
        charges: &charges,
        redelivery: &redelivery,
    };
    shared::runtime::events(env!("CARGO_PKG_NAME"), |event| handler::handle(deps, event)).await
}
