//! What every SQS consumer does around its own logic: one record at a time, each failure
//! logged and reported in `batchItemFailures` (`ReportBatchItemFailures`), so SQS re-delivers
//! only the failed records and moves them to the dead-letter queue after `maxReceiveCount`.
//!
//! Every error fails its record, whatever its kind: a dependency outage or throttling
//! ([`Error::ServiceUnavailable`], from [`crate::aws::sdk_error`]) above all, since the
//! record will succeed once the dependency is back. Nothing is acknowledged unprocessed.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};

use crate::error::Error;
use crate::events::Envelope;
use crate::http::ErrorResponse;

/// Runs `process` on each record in order and reports the ones that failed by `messageId`.
///
/// A record without a `messageId` (never seen in practice) that fails is reported with an
/// empty identifier, which makes Lambda treat the whole batch as failed: retrying everything
/// is safe because consumers are idempotent.
pub async fn partial_batch<'a, F, Fut>(
    records: &'a [SqsMessage],
    mut process: F,
) -> SqsBatchResponse
where
    F: FnMut(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let mut response = SqsBatchResponse::default();
    for record in records {
        let message_id = record.message_id.clone().unwrap_or_default();
        if let Err(error) = process(record).await {
            tracing::error!(
                message_id,
                code = error.code(),
                error = %error.chain(),
                "record failed; reported for retry"
            );
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// The event envelope in a record's body.
///
/// # Errors
/// [`Error::Validation`] on field `body` when it is missing or not an envelope.
pub fn envelope(record: &SqsMessage) -> Result<Envelope, Error> {
    let body = record
        .body
        .as_deref()
        .ok_or_else(|| Error::invalid("body", "is missing"))?;
    Envelope::from_json(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{failed_ids, sqs_event};

    #[tokio::test]
    async fn an_outage_fails_the_record_and_the_others_are_acknowledged() {
        let event = sqs_event(&[("m-1", "one"), ("m-2", "two"), ("m-3", "three")]);

        let response = partial_batch(&event.records, |record| async move {
            match record.body.as_deref() {
                Some("two") => Err(Error::ServiceUnavailable(
                    "DynamoDB TransactWriteItems: ThrottlingError".into(),
                )),
                Some("three") => Err(Error::internal("a bug", "boom")),
                _ => Ok(()),
            }
        })
        .await;

        assert_eq!(failed_ids(&response), ["m-2", "m-3"]);
    }
}
