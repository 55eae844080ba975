//! The one error type of the service and its mapping to an HTTP status, a stable code and a body.
//!
//! Every fallible operation in `shared` and in the functions returns [`Error`]. The HTTP layer
//! turns it into a response with [`Error::status`], [`Error::code`] and [`Error::body`]; a 5xx
//! body is opaque (`"internal error"`) and the full source chain goes to the log instead.

use std::error::Error as StdError;
use std::fmt;

use http::StatusCode;
use serde::{Deserialize, Serialize};

/// A boxed error that can cross threads: the `source` of [`Error::Internal`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// One rejected input field: `{"field": "items[0].quantity", "message": "must be between 1 and 1000"}`.
///
/// `field` is a path into the request: a JSON field name, `items[2].product_id` for nested
/// values, `body` for the whole body, or a path/query parameter name such as `id` or `limit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Path of the rejected field, e.g. `email` or `items[0].quantity`.
    pub field: String,
    /// Why it was rejected, e.g. `must be a valid email address`.
    pub message: String,
}

impl FieldError {
    /// A rejection of `field` with a human-readable `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Everything that can go wrong, from a bad request field to a failed AWS call.
///
/// | variant | status | code |
/// |---|---|---|
/// | [`Validation`](Error::Validation) | 400 | `VALIDATION_ERROR` |
/// | [`Unauthorized`](Error::Unauthorized) | 401 | `UNAUTHORIZED` |
/// | [`Forbidden`](Error::Forbidden) | 403 | `FORBIDDEN` |
/// | [`NotFound`](Error::NotFound) | 404 | `NOT_FOUND` |
/// | [`Conflict`](Error::Conflict) | 409 | `CONFLICT` |
/// | [`PreconditionFailed`](Error::PreconditionFailed) | 412 | `PRECONDITION_FAILED` |
/// | [`IdempotencyKeyReused`](Error::IdempotencyKeyReused) | 422 | `IDEMPOTENCY_KEY_REUSED` |
/// | [`PayloadTooLarge`](Error::PayloadTooLarge) | 413 | `PAYLOAD_TOO_LARGE` |
/// | [`PreconditionRequired`](Error::PreconditionRequired) | 428 | `PRECONDITION_REQUIRED` |
/// | [`RateLimitExceeded`](Error::RateLimitExceeded) | 429 | `RATE_LIMIT_EXCEEDED` |
/// | [`Internal`](Error::Internal) | 500 | `INTERNAL_ERROR` |
/// | [`ServiceUnavailable`](Error::ServiceUnavailable) | 503 | `SERVICE_UNAVAILABLE` |
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; one entry per rejected field (never empty when built with
    /// [`Error::validation`] or [`Error::invalid`]).
    #[error("{}", join_fields(.0))]
    Validation(Vec<FieldError>),

    /// The caller is not authenticated.
    #[error("{0}")]
    Unauthorized(String),

    /// The caller is authenticated but may not do this.
    #[error("{0}")]
    Forbidden(String),

    /// No `resource` (e.g. `user`) has this `id`.
    #[error("{resource} {id} not found")]
    NotFound {
        /// Kind of thing looked up, lowercase: `user`, `order`.
        resource: &'static str,
        /// The identifier that was looked up.
        id: String,
    },

    /// The request conflicts with the current state, e.g. confirming a cancelled order.
    #[error("{0}")]
    Conflict(String),

    /// An `If-Match` version is stale: someone else updated the resource first (RFC 9110
    /// §13.1.1). The client re-reads (new `ETag`) and retries.
    #[error("{0}")]
    PreconditionFailed(String),

    /// The request body is larger than the function accepts (RFC 9110 §15.5.14).
    #[error("{0}")]
    PayloadTooLarge(String),

    /// An `Idempotency-Key` was reused with a different request body (IETF
    /// draft-ietf-httpapi-idempotency-key-header §2.7: 422).
    #[error("{0}")]
    IdempotencyKeyReused(String),

    /// An update came without `If-Match`; optimistic locking needs it (RFC 6585 §3).
    #[error("{0}")]
    PreconditionRequired(String),

    /// The caller sent too many requests.
    #[error("{0}")]
    RateLimitExceeded(String),

    /// A bug or a failed dependency. The client sees only `internal error`; `context` and the
    /// `source` chain are logged.
    #[error("{context}")]
    Internal {
        /// What we were doing, e.g. `dynamodb PutItem on table users`.
        context: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },

    /// A dependency is temporarily unavailable; the client may retry. The message is logged,
    /// the client sees only `service unavailable`.
    #[error("{0}")]
    ServiceUnavailable(String),
}

fn join_fields(fields: &[FieldError]) -> String {
    if fields.is_empty() {
        return "invalid request".to_owned();
    }
    fields
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// A validation error for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// A validation error for several fields at once.
    pub fn validation(fields: Vec<FieldError>) -> Self {
        Self::Validation(fields)
    }

    /// `resource` with `id` does not exist.
    pub fn not_found(resource: &'static str, id: impl fmt::Display) -> Self {
        Self::NotFound {
            resource,
            id: id.to_string(),
        }
    }

    /// An internal error: `context` says what we were doing, `source` is why it failed.
    pub fn internal(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Internal {
            context: context.into(),
            source: source.into(),
        }
    }

    /// The HTTP status for this error: 400, 401, 403, 404, 409, 412, 413, 422, 428, 429, 500 or 503.
    pub fn status(&self) -> StatusCode {
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

    /// The stable, machine-readable code clients can match on, e.g. `VALIDATION_ERROR`.
    pub fn code(&self) -> &'static str {
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

    /// Whether this is a server-side failure (5xx): its details are logged, never shown.
    pub fn is_server_error(&self) -> bool {
        self.status().is_server_error()
    }

    /// The JSON body clients receive. Server errors are opaque.
    ///
    /// ```json
    /// {"error":{"code":"VALIDATION_ERROR","message":"email: must be a valid email address",
    ///           "details":[{"field":"email","message":"must be a valid email address"}]}}
    /// ```
    pub fn body(&self) -> ErrorBody {
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

    /// This error and all its sources, outermost first, joined with `: `. For logs only.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut source = StdError::source(self);
        while let Some(cause) = source {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            source = cause.source();
        }
        out
    }
}

/// The body of every error response: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`]: `{"code","message","details"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable code, e.g. `NOT_FOUND`; see [`Error`] for the list.
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
    fn a_not_found_error_names_the_resource_and_id() {
        let body = Error::not_found("order", "0190").body();

        assert_eq!(body.error.message, "order 0190 not found");
        assert!(body.error.details.is_empty());
    }
}
