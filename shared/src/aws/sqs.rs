//! SQS: the publisher (one message per event envelope) and the redelivery of a consumer's own
//! messages after a delay.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
};

use super::sdk_error;
use crate::error::Error;
use crate::events::Envelope;
use crate::ports::EventPublisher;

/// Publishes envelopes to one SQS queue: the body is the envelope's JSON, and the message
/// attribute `event_type` (String) repeats its type so that consumers can filter without
/// parsing the body. An envelope with a [`Envelope::trace_header`] goes with it as the
/// `AWSTraceHeader` system attribute (String), the one SQS passes on to X-Ray and Lambda passes
/// to the consumer as `attributes.AWSTraceHeader` (Amazon SQS developer guide, "Amazon SQS
/// message system attributes").
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
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(envelope.to_json()?)
            .message_attributes("event_type", event_type);
        if let Some(trace) = trace_attribute(envelope).map_err(|e| Error::internal(context(), e))? {
            request = request.message_system_attributes(
                MessageSystemAttributeNameForSends::AwsTraceHeader,
                trace,
            );
        }
        request.send().await.map_err(|e| sdk_error(context(), e))?;
        Ok(())
    }
}

/// The `AWSTraceHeader` system attribute for `envelope`: its trace header as a String, `None`
/// when it has none.
///
/// # Errors
/// The SDK's build error when the value cannot be built (never for a non-empty header).
pub fn trace_attribute(
    envelope: &Envelope,
) -> Result<Option<MessageSystemAttributeValue>, aws_sdk_sqs::error::BuildError> {
    envelope
        .trace_header
        .as_deref()
        .map(|header| {
            MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(header)
                .build()
        })
        .transpose()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        crate::testing::stock_rejected_envelope()
    }

    #[test]
    fn a_traced_envelope_is_sent_with_its_header_as_a_string_aws_trace_header() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let envelope = envelope().with_trace_header(Some(header.to_owned()));

        let attribute = trace_attribute(&envelope).unwrap().unwrap();

        assert_eq!(attribute.data_type(), "String");
        assert_eq!(attribute.string_value(), Some(header));
    }

    #[test]
    fn an_untraced_envelope_is_sent_without_aws_trace_header() {
        assert_eq!(trace_attribute(&envelope()).unwrap(), None);
    }
}
