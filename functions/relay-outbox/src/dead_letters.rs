//! The SQS adapter of the relay's [`DeadLetterQueue`] port: one message per poison record.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;
use shared::Error;
use shared::aws::sdk_error;

use crate::handler::{DeadLetter, DeadLetterQueue};

/// Sends dead letters to one SQS queue (`OUTBOX_DEAD_LETTER_QUEUE_URL`): the body is the stream
/// record's JSON as is; String message attributes `reason` (e.g. `NOT_AN_OUTBOX_ITEM`),
/// `detail` and, when the record has one, `sequence_number`.
#[derive(Debug, Clone)]
pub struct SqsDeadLetterQueue {
    client: Client,
    queue_url: String,
}

impl SqsDeadLetterQueue {
    /// A dead-letter queue at `queue_url` with a client built from `sdk`.
    pub fn new(sdk: &SdkConfig, queue_url: impl Into<String>) -> Self {
        Self {
            client: Client::new(sdk),
            queue_url: queue_url.into(),
        }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, Error> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| Error::internal("building a dead-letter message attribute", e))
}

#[async_trait]
impl DeadLetterQueue for SqsDeadLetterQueue {
    #[tracing::instrument(skip_all, fields(reason = letter.reason.code()))]
    async fn send(&self, letter: &DeadLetter) -> Result<(), Error> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&letter.body)
            .message_attributes("reason", attribute(letter.reason.code())?)
            // SQS refuses an empty attribute value.
            .message_attributes("detail", attribute(non_empty(&letter.detail))?);
        if let Some(sequence_number) = &letter.sequence_number {
            request = request.message_attributes("sequence_number", attribute(sequence_number)?);
        }
        request
            .send()
            .await
            .map_err(|e| sdk_error(format!("SQS SendMessage to {}", self.queue_url), e))?;
        Ok(())
    }
}

fn non_empty(text: &str) -> &str {
    if text.trim().is_empty() { "-" } else { text }
}
