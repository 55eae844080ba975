//! The payment provider's HTTP API (Stripe-style charges and refunds, idempotency keys) as a
//! [`PaymentProvider`], over the outside-service client ([`crate::outside`]): endpoints from
//! Cloud Map, retries with full jitter and a retry budget, failover between instances, and
//! the circuit breaker shared by every instance of the function ([`DynamoCircuit`]).
//!
//! Requests (`Authorization: Bearer <API key>`, `Idempotency-Key: <key>`):
//! - `POST v1/charges` `{"amount":<cents>,"currency":"usd","source":"<token>","metadata":{"order_id"}}`
//!   -> `200 {"id":"ch_…",…}` captured, `402 {"error":{"code":"card_declined","decline_code",
//!   "message","charge"}}` declined;
//! - `POST v1/refunds` `{"charge":"ch_…"}` -> `200 {"id":"re_…",…}`.
//!
//! Any other answer of the provider's own (another 4xx) is a bug on our side: the record fails
//! and, after `maxReceiveCount`, reaches the dead-letter queue.

use async_trait::async_trait;
use aws_config::SdkConfig;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::aws::sdk_error;
use crate::circuit::CircuitGate;
use crate::circuit::dynamo::DynamoCircuit;
use crate::config::PaymentsConfig;
use crate::domain::{OrderId, PaymentMethod};
use crate::error::Error;
use crate::outside::{
    CallError, ClientConfig, CloudMapDiscovery, Discovery, OutsideClient, OutsideRequest,
    OutsideResponse,
};
use crate::ports::{ChargeOutcome, PaymentProvider, ProviderError};

/// The breaker's name in the breakers table: one breaker for the provider, whichever instance.
pub const BREAKER_NAME: &str = "payment-provider";

/// The currency every order is charged in.
pub const CURRENCY: &str = "usd";

/// The provider's API over an [`OutsideClient`].
pub struct ProviderClient<D = CloudMapDiscovery, G = DynamoCircuit> {
    client: OutsideClient<D, G>,
    authorization: HeaderValue,
}

impl<D, G> std::fmt::Debug for ProviderClient<D, G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the API key.
        f.debug_struct("ProviderClient").finish_non_exhaustive()
    }
}

impl ProviderClient {
    /// The client `capture-payment`'s `main` builds, once per cold start: the API key read from
    /// Secrets Manager (`PAYMENTS_API_KEY_SECRET_ARN`, `secretsmanager:GetSecretValue`), the
    /// instances of `PAYMENTS_SERVICE` in Cloud Map namespace `PAYMENTS_NAMESPACE`, and the
    /// breaker [`BREAKER_NAME`] in `BREAKERS_TABLE`.
    ///
    /// # Errors
    /// A missing variable, or the secret cannot be read (the function then fails its init and
    /// Lambda retries it).
    pub async fn from_env(sdk: &SdkConfig, config: &PaymentsConfig) -> Result<Self, Error> {
        let secret = aws_sdk_secretsmanager::Client::new(sdk)
            .get_secret_value()
            .secret_id(&config.api_key_secret)
            .send()
            .await
            .map_err(|e| {
                sdk_error(
                    "Secrets Manager GetSecretValue (payment provider API key)",
                    e,
                )
            })?;
        let api_key = secret.secret_string().ok_or_else(|| {
            Error::internal(
                "Secrets Manager GetSecretValue (payment provider API key)",
                "the secret has no SecretString",
            )
        })?;
        let discovery = CloudMapDiscovery::new(
            sdk,
            &config.namespace,
            &config.service,
            CloudMapDiscovery::DEFAULT_TTL,
        );
        let gate = DynamoCircuit::from_env(sdk, BREAKER_NAME)
            .map_err(|e| Error::internal("the payment provider's circuit breaker", e))?;
        let client =
            OutsideClient::new("payment provider", discovery, gate, ClientConfig::default())?;
        Self::new(client, api_key.trim())
    }
}

impl<D: Discovery, G: CircuitGate> ProviderClient<D, G> {
    /// The provider's API through `client`, authenticated with `api_key`.
    ///
    /// # Errors
    /// [`Error::Internal`] when the key cannot be a header value.
    pub fn new(client: OutsideClient<D, G>, api_key: &str) -> Result<Self, Error> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {api_key}"))
            .map_err(|e| Error::internal("the payment provider's API key", e))?;
        authorization.set_sensitive(true);
        Ok(Self {
            client,
            authorization,
        })
    }

    async fn post(
        &self,
        path: &str,
        idempotency_key: &str,
        body: serde_json::Value,
    ) -> Result<OutsideResponse, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, self.authorization.clone());
        headers.insert(
            "idempotency-key",
            HeaderValue::from_str(idempotency_key)
                .map_err(|e| Error::internal("an idempotency key", e))?,
        );
        let request = OutsideRequest {
            method: Method::POST,
            path: path.to_owned(),
            headers,
            body: Some(body),
        };
        self.client.send(&request).await.map_err(unavailable)
    }
}

fn unavailable(error: CallError) -> ProviderError {
    ProviderError::Unavailable {
        retry_after: error.retry_after(),
        breaker_open: matches!(error, CallError::BreakerOpen { .. }),
        detail: error.to_string(),
    }
}

/// `{"id": "..."}` of a charge or a refund.
#[derive(Deserialize)]
struct Created {
    id: String,
}

/// `{"error": {...}}` of a 4xx.
#[derive(Deserialize)]
struct Failure {
    error: FailureDetail,
}

#[derive(Deserialize)]
struct FailureDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    charge: Option<String>,
}

/// An answer we did not expect: our bug or the provider's, never retried.
fn unexpected(operation: &str, response: &OutsideResponse) -> ProviderError {
    let excerpt: String = String::from_utf8_lossy(&response.body)
        .chars()
        .take(300)
        .collect();
    ProviderError::Failed(Error::internal(
        format!(
            "payment provider {operation} (instance {})",
            response.instance_id
        ),
        format!("answered {}: {excerpt}", response.status),
    ))
}

#[async_trait]
impl<D: Discovery, G: CircuitGate> PaymentProvider for ProviderClient<D, G> {
    #[tracing::instrument(skip_all, fields(%order, amount_cents))]
    async fn charge(
        &self,
        order: &OrderId,
        amount_cents: u64,
        method: &PaymentMethod,
        idempotency_key: &str,
    ) -> Result<ChargeOutcome, ProviderError> {
        let body = json!({
            "amount": amount_cents,
            "currency": CURRENCY,
            "source": method.as_str(),
            "metadata": {"order_id": order.to_string()},
        });
        let response = self.post("v1/charges", idempotency_key, body).await?;
        match response.status {
            StatusCode::OK | StatusCode::CREATED => {
                let created: Created = response.json()?;
                Ok(ChargeOutcome::Captured {
                    charge_id: created.id,
                })
            }
            StatusCode::PAYMENT_REQUIRED => {
                let failure: Failure = response.json()?;
                Ok(ChargeOutcome::Declined {
                    decline_code: failure
                        .error
                        .decline_code
                        .or(failure.error.code)
                        .unwrap_or_else(|| "card_declined".to_owned()),
                    message: failure
                        .error
                        .message
                        .unwrap_or_else(|| "The card was declined.".to_owned()),
                    charge_id: failure.error.charge,
                })
            }
            _ => Err(unexpected("charge", &response)),
        }
    }

    #[tracing::instrument(skip_all, fields(charge_id))]
    async fn refund(
        &self,
        charge_id: &str,
        idempotency_key: &str,
    ) -> Result<String, ProviderError> {
        let response = self
            .post("v1/refunds", idempotency_key, json!({"charge": charge_id}))
            .await?;
        match response.status {
            StatusCode::OK | StatusCode::CREATED => Ok(response.json::<Created>()?.id),
            _ => Err(unexpected("refund", &response)),
        }
    }
}
