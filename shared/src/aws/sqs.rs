//! SQS: the publisher (one message per event envelope) and the redelivery of a consumer's own
//! messages after a delay.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;

use super::sdk_error;
use crate::error::Error;
use crate::events::Envelope;
use crate::ports::EventPublisher;

/// Publishes envelopes to one SQS queue: the body is the envelope's JSON, and the message
/// attribute `event_type` (String) repeats its type so that consumers can filter without
/// parsing the body.
#[derive(Debug, Clone)]
pub struct SqsPublisher {
    client: Client,
    queue_url: String,
}

impl SqsPublisher {
    /// A publisher to `queue_url` with a client built from `sdk`.
    pub fn new(sdk: &SdkConfig, queue_url: impl Into<String>) -> Self {
        Self::with_client(Client::new(sdk), queue_url)
    }

    /// A publisher to `queue_url` with an existing client.
    pub fn with_client(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl EventPublisher for SqsPublisher {
    #[tracing::instrument(skip_all, fields(event_id = %envelope.event_id, event_type = %envelope.event_type))]
    async fn publish(&self, envelope: &Envelope) -> Result<(), Error> {
        let context = || format!("SQS SendMessage to {}", self.queue_url);
        let event_type = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&envelope.event_type)
            .build()
            .map_err(|e| Error::internal(context(), e))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(envelope.to_json()?)
            .message_attributes("event_type", event_type)
            .send()
            .await
            .map_err(|e| sdk_error(context(), e))?;
        Ok(())
    }
}

/// Hands messages back to one SQS queue for later (`sqs:ChangeMessageVisibility` on it).
#[derive(Debug, Clone)]
pub struct SqsRedelivery {
    client: Client,
    queue_url: String,
}

impl SqsRedelivery {
    /// For the queue at `queue_url`, with a client built from `sdk`.
    pub fn new(sdk: &SdkConfig, queue_url: impl Into<String>) -> Self {
        Self {
            client: Client::new(sdk),
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl crate::ports::Redelivery for SqsRedelivery {
    async fn delay(&self, receipt_handle: &str, delay: std::time::Duration) -> Result<(), Error> {
        // SQS takes whole seconds, 0..=43200 (12 h); round up so a delay is never shortened.
        let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        let seconds = i32::try_from(seconds.min(43_200)).unwrap_or(43_200);
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| {
                sdk_error(
                    format!("SQS ChangeMessageVisibility on {}", self.queue_url),
                    e,
                )
            })?;
        Ok(())
    }
}
