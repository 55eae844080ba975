//! The one mapping of an [`Error`] to what an HTTP client sees: a status, a stable code and the
//! JSON body `{"error":{"code","message","details"?}}`.
//!
//! [`ErrorResponse`] adds that mapping to [`Error`] as methods (`error.status()`,
//! `error.code()`, `error.body()`); bring it into scope with `use shared::http::ErrorResponse;`.
//! A 5xx body is opaque (`"internal error"`, `"service unavailable"`); its details go to the
//! log. A 503 or 429 also says when to come back ([`ErrorResponse::retry_after`], sent as
//! `Retry-After` by [`crate::http::error_response`]).

use std::time::Duration;

use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::error::{Error, FieldError};

/// `Retry-After` of a `503 SERVICE_UNAVAILABLE`: 2 s. The dependency was already retried for
/// up to 4 s ([`crate::aws::OPERATION_TIMEOUT`]); throttling (DynamoDB adapts capacity within
/// seconds) and short outages (a restarted node, a failover) are usually over after a couple
/// of seconds more, and a longer hint would idle clients that could succeed. RFC 9110 §10.2.3
/// (delay in seconds).
pub const SERVICE_UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(2);

/// `Retry-After` of a `429 RATE_LIMIT_EXCEEDED`: 1 s, the gateway's token buckets refill every
/// second (template.yaml `ThrottlingRateLimit`). RFC 6585 §4.
pub const RATE_LIMIT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How an [`Error`] is answered over HTTP. Implemented for [`Error`] only.
///
/// | variant | status | code |
/// |---|---|---|
/// | [`Validation`](Error::Validation) | 400 | `VALIDATION_ERROR` |
/// | [`Unauthorized`](Error::Unauthorized) | 401 | `UNAUTHORIZED` |
/// | [`Forbidden`](Error::Forbidden) | 403 | `FORBIDDEN` |
/// | [`NotFound`](Error::NotFound) | 404 | `NOT_FOUND` |
/// | [`Conflict`](Error::Conflict) | 409 | `CONFLICT` |
/// | [`PreconditionFailed`](Error::PreconditionFailed) | 412 | `PRECONDITION_FAILED` |
/// | [`PayloadTooLarge`](Error::PayloadTooLarge) | 413 | `PAYLOAD_TOO_LARGE` |
/// | [`IdempotencyKeyReused`](Error::IdempotencyKeyReused) | 422 | `IDEMPOTENCY_KEY_REUSED` |
/// | [`PreconditionRequired`](Error::PreconditionRequired) | 428 | `PRECONDITION_REQUIRED` |
/// | [`RateLimitExceeded`](Error::RateLimitExceeded) | 429 | `RATE_LIMIT_EXCEEDED` |
/// | [`Internal`](Error::Internal) | 500 | `INTERNAL_ERROR` |
/// | [`ServiceUnavailable`](Error::ServiceUnavailable) | 503 | `SERVICE_UNAVAILABLE` |
pub trait ErrorResponse {
    /// The HTTP status: 400, 401, 403, 404, 409, 412, 413, 422, 428, 429, 500 or 503.
    fn status(&self) -> StatusCode;

    /// The stable, machine-readable code clients can match on, e.g. `VALIDATION_ERROR`.
    fn code(&self) -> &'static str;

    /// Whether this is a server-side failure (5xx): its details are logged, never shown.
    fn is_server_error(&self) -> bool {
        self.status().is_server_error()
    }

    /// When the client may try again, sent as `Retry-After: <seconds>` (RFC 9110 §10.2.3):
    /// [`SERVICE_UNAVAILABLE_RETRY_AFTER`] for a 503, [`RATE_LIMIT_RETRY_AFTER`] for a 429,
    /// `None` otherwise (retrying would not help).
    fn retry_after(&self) -> Option<Duration>;

    /// The JSON body clients receive. Server errors are opaque.
    ///
    /// ```json
    /// {"error":{"code":"VALIDATION_ERROR","message":"email: must be a valid email address",
    ///           "details":[{"field":"email","message":"must be a valid email address"}]}}
    /// ```
    fn body(&self) -> ErrorBody;
}

impl ErrorResponse for Error {
    fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::IdempotencyKeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            Self::RateLimitExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "VALIDATION_ERROR",
            Self::Unauthorized(_) => "UNAUTHORIZED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::PreconditionFailed(_) => "PRECONDITION_FAILED",
            Self::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Self::IdempotencyKeyReused(_) => "IDEMPOTENCY_KEY_REUSED",
            Self::PreconditionRequired(_) => "PRECONDITION_REQUIRED",
            Self::RateLimitExceeded(_) => "RATE_LIMIT_EXCEEDED",
            Self::Internal { .. } => "INTERNAL_ERROR",
            Self::ServiceUnavailable(_) => "SERVICE_UNAVAILABLE",
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::ServiceUnavailable(_) => Some(SERVICE_UNAVAILABLE_RETRY_AFTER),
            Self::RateLimitExceeded(_) => Some(RATE_LIMIT_RETRY_AFTER),
            _ => None,
        }
    }

    fn body(&self) -> ErrorBody {
        let message = match self {
            Self::Internal { .. } => "internal error".to_owned(),
            Self::ServiceUnavailable(_) => "service unavailable".to_owned(),
            other => other.to_string(),
        };
        let details = match self {
            Self::Validation(fields) => fields.clone(),
            _ => Vec::new(),
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message,
                details,
            },
        }
    }
}

/// The body of every error response: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`]: `{"code","message","details"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable code, e.g. `NOT_FOUND`; see [`ErrorResponse`] for the list.
    #[cfg_attr(feature = "openapi", schema(example = "VALIDATION_ERROR"))]
    pub code: String,
    /// Human-readable summary; `internal error` / `service unavailable` for 5xx.
    pub message: String,
    /// Rejected fields, only for `VALIDATION_ERROR`; omitted from JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_validation_error_lists_its_fields_in_message_and_details() {
        let error = Error::invalid("email", "must be a valid email address");

        let body = serde_json::to_value(error.body()).unwrap();

        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({"error": {
                "code": "VALIDATION_ERROR",
                "message": "email: must be a valid email address",
                "details": [{"field": "email", "message": "must be a valid email address"}]
            }})
        );
    }

    #[test]
    fn an_internal_error_body_hides_its_cause() {
        let error = Error::internal("dynamodb GetItem on table users", "connection refused");

        let body = serde_json::to_value(error.body()).unwrap();

        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            json!({"error": {"code": "INTERNAL_ERROR", "message": "internal error"}})
        );
        assert_eq!(
            error.chain(),
            "dynamodb GetItem on table users: connection refused"
        );
    }

    #[test]
    fn each_variant_has_its_own_status_and_code() {
        let cases = [
            (Error::validation(vec![]), 400, "VALIDATION_ERROR"),
            (Error::Unauthorized("no token".into()), 401, "UNAUTHORIZED"),
            (Error::Forbidden("not yours".into()), 403, "FORBIDDEN"),
            (Error::not_found("user", "x"), 404, "NOT_FOUND"),
            (Error::Conflict("cancelled".into()), 409, "CONFLICT"),
            (
                Error::PreconditionFailed("stale".into()),
                412,
                "PRECONDITION_FAILED",
            ),
            (
                Error::IdempotencyKeyReused("other body".into()),
                422,
                "IDEMPOTENCY_KEY_REUSED",
            ),
            (
                Error::PreconditionRequired("no If-Match".into()),
                428,
                "PRECONDITION_REQUIRED",
            ),
            (
                Error::RateLimitExceeded("slow down".into()),
                429,
                "RATE_LIMIT_EXCEEDED",
            ),
            (Error::internal("x", "y"), 500, "INTERNAL_ERROR"),
            (
                Error::ServiceUnavailable("down".into()),
                503,
                "SERVICE_UNAVAILABLE",
            ),
        ];

        for (error, status, code) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.code(), code, "{error:?}");
        }
    }

    #[test]
    fn only_a_503_or_a_429_says_when_to_retry() {
        let unavailable = Error::ServiceUnavailable("DynamoDB GetItem: timed out".into());
        let throttled = Error::RateLimitExceeded("slow down".into());

        assert_eq!(unavailable.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(1)));
        assert_eq!(Error::internal("x", "y").retry_after(), None);
        assert_eq!(Error::not_found("user", "x").retry_after(), None);
    }

    #[test]
    fn a_service_unavailable_body_hides_its_cause() {
        let error =
            Error::ServiceUnavailable("DynamoDB GetItem on table products: throttled".into());

        let body = serde_json::to_value(error.body()).unwrap();

        assert_eq!(
            body,
            json!({"error": {"code": "SERVICE_UNAVAILABLE", "message": "service unavailable"}})
        );
    }

    #[test]
    fn a_not_found_error_names_the_resource_and_id() {
        let body = Error::not_found("order", "0190").body();

        assert_eq!(body.error.message, "order 0190 not found");
        assert!(body.error.details.is_empty());
    }
}
