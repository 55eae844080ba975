//! The one error type of the service: what went wrong, in the domain's terms.
//!
//! Every fallible operation in `shared` and in the functions returns [`Error`]. The HTTP layer
//! maps it to a status, a stable code and a body ([`crate::http::ErrorResponse`]); a 5xx body
//! is opaque (`"internal error"`) and the full source chain ([`Error::chain`]) goes to the log.

use std::error::Error as StdError;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A boxed error that can cross threads: the `source` of [`Error::Internal`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// One rejected input field: `{"field": "items[0].quantity", "message": "must be between 1 and 1000"}`.
///
/// `field` is a path into the request: a JSON field name, `items[2].product_id` for nested
/// values, `body` for the whole body, or a path/query parameter name such as `id` or `limit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
/// The HTTP layer answers each variant with its own status and stable code: see
/// [`crate::http::ErrorResponse`] for the table.
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

    /// A dependency is temporarily unavailable: down, hung past its timeout, or throttling us
    /// (built by [`crate::aws::sdk_error`] for AWS calls). The client may retry (`503` with
    /// `Retry-After`); a consumer fails the record so that it comes back. The message (what
    /// was called and the SDK's whole error chain) is logged, the client sees only `service
    /// unavailable`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_lists_the_context_then_every_source() {
        let error = Error::internal("dynamodb GetItem on table users", "connection refused");

        assert_eq!(
            error.chain(),
            "dynamodb GetItem on table users: connection refused"
        );
    }

    #[test]
    fn a_validation_error_displays_its_fields_joined() {
        let one = Error::invalid("email", "must be a valid email address");
        let two = Error::validation(vec![
            FieldError::new("name", "must not be empty"),
            FieldError::new("email", "is required"),
        ]);

        assert_eq!(one.to_string(), "email: must be a valid email address");
        assert_eq!(
            two.to_string(),
            "name: must not be empty; email: is required"
        );
        assert_eq!(Error::validation(vec![]).to_string(), "invalid request");
    }
}
