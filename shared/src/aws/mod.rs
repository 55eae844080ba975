//! AWS adapters of the ports: DynamoDB repositories and the SQS publisher.
//!
//! The only module besides [`crate::http`] that knows AWS types. Clients come from one
//! [`aws_config::SdkConfig`] built by [`load`] once per cold start, which bounds every call
//! (timeouts, retries: see the constants), and every failed SDK call goes through the one
//! classifier [`sdk_error`], so an outage or throttling is [`Error::ServiceUnavailable`] (503,
//! a failed consumer record) and never a 500.

mod orders;
mod payments;
mod products;
mod reservations;
mod sqs;
mod table;
pub mod transact;
mod users;

pub use orders::DynamoOrders;
pub use payments::DynamoCharges;
pub use products::DynamoProducts;
pub use reservations::DynamoReservations;
pub use sqs::{SqsPublisher, SqsRedelivery, trace_attribute};
pub use users::DynamoUsers;

use std::any::Any;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

use crate::error::Error;

/// Longest wait for a TCP connection to an AWS endpoint: 1 s. An endpoint in the same region
/// (or the VPC endpoint) connects in milliseconds; a second means it is unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest single attempt (connect, send, the whole response): 2 s. A DynamoDB or SQS call
/// answers in tens of milliseconds; an attempt that takes 2 s is hung, and a fresh attempt
/// (new connection) is more likely to succeed than waiting on.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest whole operation, all attempts and backoffs included: 4 s. A function's `Timeout`
/// is 10 s (template.yaml `Globals`), so a hung dependency is answered `503` in under 5 s,
/// with time left for a second call (a read then a write) and the response.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(4);

/// Attempts per operation, the first one included: 3, the standard retry mode's default
/// (AWS SDKs and Tools reference guide, "Retry behavior"). Within [`OPERATION_TIMEOUT`].
pub const MAX_ATTEMPTS: u32 = 3;

/// Base of the exponential backoff after a throttling error: 250 ms, so the retries wait
/// `rand(0, 250 ms)` then `rand(0, 500 ms)` ("full jitter"). The SDK's default (1 s) could
/// spend most of [`OPERATION_TIMEOUT`] sleeping. Other transient errors (timeouts, refused
/// connections, 5xx) back off from the SDK's own 50 ms base (retry behavior 2.1).
pub const THROTTLING_BACKOFF: Duration = Duration::from_millis(250);

/// Longest single backoff: 1 s (the SDK's default is 20 s, beyond our budget).
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The SDK configuration from the environment: region, credentials and, when set,
/// `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_<SERVICE>`), so the same binary runs against the
/// local emulator and against AWS; with the timeouts [`CONNECT_TIMEOUT`], [`ATTEMPT_TIMEOUT`]
/// and [`OPERATION_TIMEOUT`], and the standard retry mode ([`MAX_ATTEMPTS`] attempts, full
/// jitter, retry quota; throttling codes are retried, after [`THROTTLING_BACKOFF`]).
///
/// These settings win over `AWS_MAX_ATTEMPTS`/`AWS_RETRY_MODE` and profile files: the bounds
/// are part of the functions' contract (a 503 before the Lambda timeout).
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeout_config())
        .retry_config(retry_config())
        .load()
        .await
}

/// The timeouts [`load`] sets.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The retry configuration [`load`] sets: standard mode, [`MAX_ATTEMPTS`], [`THROTTLING_BACKOFF`],
/// [`MAX_BACKOFF`].
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(THROTTLING_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// Error codes that mean "too many requests, slow down", across DynamoDB, SQS and the control
/// planes (the codes the SDK's own retry classifier treats as throttling, `aws-runtime`
/// `THROTTLING_ERRORS`), plus the transient `RequestTimeout`s and DynamoDB's
/// `TransactionConflictException` (a write raced a transaction on the same item; retryable).
const UNAVAILABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "Throttling",
    "RequestThrottled",
    "RequestThrottledException",
    "ThrottledException",
    "TooManyRequestsException",
    "TransactionInProgressException",
    "TransactionConflictException",
    "LimitExceededException",
    "BandwidthLimitExceeded",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Cancellation reasons of a DynamoDB transaction that a later attempt may not meet: throttled
/// (`ThrottlingError`, `ProvisionedThroughputExceeded`) or raced by another transaction
/// (`TransactionConflict`). DynamoDB developer guide, "TransactWriteItems" error handling.
const RETRYABLE_CANCELLATIONS: &[&str] = &[
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "TransactionConflict",
];

/// The one mapping of a failed SDK call to an [`Error`]. `context` says what was called, e.g.
/// `DynamoDB GetItem on table products`.
///
/// [`Error::ServiceUnavailable`] (503; a consumer fails the record) when the dependency is
/// down, hung or throttling, so the caller may retry later:
/// - a timeout (attempt or operation, [`load`]'s bounds);
/// - a dispatch failure: refused, reset, DNS, TLS, connect timeout (all but a request the
///   client itself could not send, which is a bug);
/// - a response that could not be read (the server hung up mid-answer);
/// - a service error with a throttling code (`ProvisionedThroughputExceededException`,
///   `ThrottlingException`, `RequestLimitExceeded`, ... see `UNAVAILABLE_CODES`; an SQS code
///   `AWS.SimpleQueueService.<Code>` counts as `<Code>`), HTTP 429 or any 5xx;
/// - a cancelled `TransactWriteItems` when one of its reasons is throttling or
///   `TransactionConflict`.
///
/// [`Error::Internal`] (500) otherwise: validation errors, missing tables, access denied,
/// requests that could not be built. Service-specific outcomes that mean something in the
/// domain (`ConditionalCheckFailedException`, a transaction cancelled by conditions) are told
/// apart by the caller *before* it calls this.
///
/// Either way the message keeps `context` and the SDK's whole chain ([`DisplayErrorContext`]:
/// code, message, request id, the I/O cause) for the log; the client sees none of it.
pub fn sdk_error<E>(context: impl Into<String>, error: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let context = context.into();
    if is_unavailable(&error) {
        Error::ServiceUnavailable(format!("{context}: {}", DisplayErrorContext(&error)))
    } else {
        Error::internal(context, error)
    }
}

/// Whether `error` is a dependency being down, hung or throttling (see [`sdk_error`]).
pub fn is_unavailable<E>(error: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(failure) => !failure.is_user(),
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            status == 429
                || (500..600).contains(&status)
                || service
                    .err()
                    .code()
                    .is_some_and(|code| UNAVAILABLE_CODES.contains(&unqualified(code)))
                || retryable_cancellation(service.err())
        }
        // ConstructionFailure (a bug) and future variants.
        _ => false,
    }
}

/// `RequestThrottled` for SQS's `AWS.SimpleQueueService.RequestThrottled` (its query-compatible
/// codes); other codes as they are (the SDK already strips DynamoDB's `com.amazonaws...#`).
fn unqualified(code: &str) -> &str {
    code.rsplit('.').next().unwrap_or(code)
}

/// Whether `error` is a `TransactionCanceledException` with a throttling or conflict reason.
/// Only `TransactWriteItems` has those reasons, so only its error type is looked into.
fn retryable_cancellation<E: 'static>(error: &E) -> bool {
    let error: &dyn Any = error;
    match error.downcast_ref::<TransactWriteItemsError>() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .filter_map(|reason| reason.code())
            .any(|code| RETRYABLE_CANCELLATIONS.contains(&code)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_sdk_sqs::operation::send_message::SendMessageError;

    fn response(status: u16) -> HttpResponse {
        let status = http::StatusCode::from_u16(status).unwrap();
        HttpResponse::new(status.into(), "{}".into())
    }

    fn service_error(status: u16, code: &str) -> SdkError<GetItemError, HttpResponse> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("from the test")
            .build();
        SdkError::service_error(GetItemError::generic(meta), response(status))
    }

    fn cancelled(reasons: &[&str]) -> SdkError<TransactWriteItemsError, HttpResponse> {
        let reasons = reasons
            .iter()
            .map(|code| CancellationReason::builder().code(*code).build())
            .collect();
        let cancelled = TransactionCanceledException::builder()
            .set_cancellation_reasons(Some(reasons))
            .message("Transaction cancelled")
            .build();
        SdkError::service_error(
            TransactWriteItemsError::TransactionCanceledException(cancelled),
            response(400),
        )
    }

    fn is_503(error: &Error) -> bool {
        matches!(error, Error::ServiceUnavailable(_))
    }

    fn is_500(error: &Error) -> bool {
        matches!(error, Error::Internal { .. })
    }

    #[test]
    fn a_timeout_is_unavailable() {
        let error: SdkError<GetItemError, HttpResponse> = SdkError::timeout_error("took too long");

        assert!(is_503(&sdk_error("DynamoDB GetItem", error)));
    }

    #[test]
    fn a_refused_reset_or_timed_out_connection_is_unavailable() {
        let failures = [
            ConnectorError::io("connection refused".into()),
            ConnectorError::io("connection reset by peer".into()),
            ConnectorError::timeout("connect timed out".into()),
            ConnectorError::other("dns error".into(), None),
        ];

        for failure in failures {
            let error: SdkError<GetItemError, HttpResponse> = SdkError::dispatch_failure(failure);

            assert!(is_503(&sdk_error("DynamoDB GetItem", error)));
        }
    }

    #[test]
    fn a_request_the_client_could_not_send_or_build_is_internal() {
        let user: SdkError<GetItemError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::user("invalid header".into()));
        let construction: SdkError<GetItemError, HttpResponse> =
            SdkError::construction_failure("missing table name");

        assert!(is_500(&sdk_error("DynamoDB GetItem", user)));
        assert!(is_500(&sdk_error("DynamoDB GetItem", construction)));
    }

    #[test]
    fn an_unreadable_response_is_unavailable() {
        let error: SdkError<GetItemError, HttpResponse> =
            SdkError::response_error("connection closed before message completed", response(200));

        assert!(is_503(&sdk_error("DynamoDB GetItem", error)));
    }

    #[test]
    fn throttling_codes_are_unavailable() {
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "Throttling",
            "RequestThrottled",
            "TooManyRequestsException",
        ] {
            let error = sdk_error("DynamoDB GetItem", service_error(400, code));

            assert!(is_503(&error), "{code}: {error:?}");
        }
    }

    #[test]
    fn an_sqs_query_compatible_throttling_code_is_unavailable() {
        let meta = ErrorMetadata::builder()
            .code("AWS.SimpleQueueService.RequestThrottled")
            .build();
        let error = SdkError::service_error(SendMessageError::generic(meta), response(400));

        assert!(is_503(&sdk_error("SQS SendMessage", error)));
    }

    #[test]
    fn server_errors_and_429_are_unavailable_whatever_their_code() {
        for status in [500, 502, 503, 504, 429] {
            let error = sdk_error(
                "DynamoDB GetItem",
                service_error(status, "InternalServerError"),
            );

            assert!(is_503(&error), "{status}");
        }
    }

    #[test]
    fn client_errors_are_internal() {
        for code in [
            "ValidationException",
            "ResourceNotFoundException",
            "AccessDeniedException",
        ] {
            let error = sdk_error("DynamoDB GetItem", service_error(400, code));

            assert!(is_500(&error), "{code}");
        }
    }

    #[test]
    fn a_transaction_cancelled_by_throttling_or_a_conflict_is_unavailable() {
        for reasons in [
            &["None", "ThrottlingError"][..],
            &["ProvisionedThroughputExceeded"][..],
            &["TransactionConflict", "None"][..],
        ] {
            let error = sdk_error("DynamoDB TransactWriteItems", cancelled(reasons));

            assert!(is_503(&error), "{reasons:?}");
        }
    }

    #[test]
    fn a_transaction_cancelled_for_other_reasons_is_internal() {
        for reasons in [
            &["ValidationError"][..],
            &["ItemCollectionSizeLimitExceeded"][..],
        ] {
            let error = sdk_error("DynamoDB TransactWriteItems", cancelled(reasons));

            assert!(is_500(&error), "{reasons:?}");
        }
    }

    #[test]
    fn the_message_keeps_the_context_code_and_message_for_the_log() {
        let error = sdk_error(
            "DynamoDB GetItem on table products",
            service_error(400, "ProvisionedThroughputExceededException"),
        );

        let chain = error.chain();
        assert!(
            chain.starts_with("DynamoDB GetItem on table products: "),
            "{chain}"
        );
        assert!(
            chain.contains("ProvisionedThroughputExceededException"),
            "{chain}"
        );
        assert!(chain.contains("from the test"), "{chain}");
    }

    #[test]
    fn load_bounds_every_call_within_the_functions_timeout() {
        let timeouts = timeout_config();
        let retries = retry_config();

        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert!(OPERATION_TIMEOUT <= Duration::from_secs(4));
        assert_eq!(retries.mode(), aws_config::retry::RetryMode::Standard);
        assert_eq!(retries.max_attempts(), 3);
    }
}
