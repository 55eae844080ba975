//! One HTTP client for outside services (the payment provider): timeouts, retries with
//! exponential backoff and full jitter on retryable outcomes only, a retry budget, a circuit
//! breaker asked once per logical call, service discovery (AWS Cloud Map) and client-side
//! failover across the discovered instances.
//!
//! A logical call ([`OutsideClient::send`]) goes:
//! 1. [`CircuitGate::acquire`](crate::circuit::CircuitGate::acquire): refused ->
//!    [`CallError::BreakerOpen`], nothing sent;
//! 2. [`Discovery::endpoints`]: the healthy instances (cached for a TTL);
//! 3. attempts, round robin: each call starts at the next endpoint and attempt `i` goes to
//!    endpoint `(start + i) % n`, so a retry fails over to another instance;
//! 4. one [`CircuitGate::record`](crate::circuit::CircuitGate::record) with the outcome.
//!
//! Which outcomes are retried ([`retry::is_retryable_status`]): connection errors, timeouts,
//! `5xx` and `429` (honouring `Retry-After`, RFC 9110 §10.2.3). Any other answer — `2xx`, `3xx`
//! (redirects are not followed), a `402` card decline or another `4xx` — is the service's own
//! and is returned as `Ok`, never retried. A retried `POST` must therefore carry an
//! `Idempotency-Key` (the provider replays the first answer), so a retry can never charge twice.

mod client;
mod discovery;
pub mod retry;

use std::time::Duration;

use async_trait::async_trait;

use crate::error::Error;

pub use client::{ClientConfig, OutsideClient};
pub use discovery::CloudMapDiscovery;

/// One instance of an outside service: `{instance_id: "provider-a", base_url:
/// "http://127.0.0.1:4610"}`. Request paths are joined to `base_url` with one `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The instance's id (Cloud Map `InstanceId`), for logs and [`OutsideResponse::instance_id`].
    pub instance_id: String,
    /// Scheme, host, port and an optional path prefix, e.g. `https://api.payments.example.com`.
    pub base_url: String,
}

impl Endpoint {
    /// An endpoint from its id and base URL.
    pub fn new(instance_id: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self {
            instance_id: instance_id.into(),
            base_url: base_url.into(),
        }
    }

    /// `base_url` and `path` joined with exactly one `/`: `http://h:1/` + `/v1/charges` ->
    /// `http://h:1/v1/charges`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

/// Where the instances of an outside service are: a fixed list ([`StaticEndpoints`]) or AWS
/// Cloud Map ([`CloudMapDiscovery`]).
#[async_trait]
pub trait Discovery: Send + Sync {
    /// The healthy endpoints, from a cache refreshed every TTL. Error::ServiceUnavailable when the
    /// lookup fails and nothing is cached (a stale list is served when the refresh fails).
    async fn endpoints(&self) -> Result<Vec<Endpoint>, Error>;

    /// Drop the cache: the next endpoints() looks up again (called after a failed attempt).
    fn invalidate(&self);
}

/// A fixed list of endpoints (tests, or a service without discovery); `invalidate` does nothing.
#[derive(Debug, Clone, Default)]
pub struct StaticEndpoints(pub Vec<Endpoint>);

#[async_trait]
impl Discovery for StaticEndpoints {
    async fn endpoints(&self) -> Result<Vec<Endpoint>, Error> {
        Ok(self.0.clone())
    }

    fn invalidate(&self) {}
}

#[async_trait]
impl<D: Discovery + ?Sized> Discovery for std::sync::Arc<D> {
    async fn endpoints(&self) -> Result<Vec<Endpoint>, Error> {
        (**self).endpoints().await
    }

    fn invalidate(&self) {
        (**self).invalidate();
    }
}

/// One request to an outside service, sent to whichever endpoint an attempt picks.
#[derive(Debug, Clone)]
pub struct OutsideRequest {
    /// `POST`, `GET`, ...
    pub method: http::Method,
    /// Relative to the endpoint's base URL, e.g. `v1/charges` (a leading `/` is fine).
    pub path: String,
    /// Sent with every attempt, e.g. `Authorization` and `Idempotency-Key`.
    pub headers: http::HeaderMap,
    /// A JSON body (`Content-Type: application/json`), or none.
    pub body: Option<serde_json::Value>,
}

impl OutsideRequest {
    /// A request with no headers and no body.
    pub fn new(method: http::Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: http::HeaderMap::new(),
            body: None,
        }
    }
}

/// The service's own answer (any status that is not retryable: `2xx`, `3xx`, a `4xx` other
/// than `429`).
#[derive(Debug, Clone)]
pub struct OutsideResponse {
    /// The status, e.g. `200` or `402` for a declined card.
    pub status: http::StatusCode,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The whole body, as received.
    pub body: Vec<u8>,
    /// Which instance answered ([`Endpoint::instance_id`]).
    pub instance_id: String,
    /// Attempts this call took, the answering one included (1 = no retry).
    pub attempts: u32,
}

impl OutsideResponse {
    /// The body parsed as JSON into `T`.
    ///
    /// # Errors
    /// [`Error::Internal`] naming the answering instance and the status when the body is not
    /// `T` as JSON (the service broke its contract: retrying would not help).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|error| {
            Error::internal(
                format!(
                    "outside service instance {}: {} response body is not the expected JSON",
                    self.instance_id, self.status
                ),
                error,
            )
        })
    }
}

/// Why [`OutsideClient::send`] has no answer from the service.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The circuit breaker refused the call: nothing was sent.
    #[error("circuit breaker open: nothing sent, retry after {} ms", .retry_after.as_millis())]
    BreakerOpen {
        /// How long until the breaker admits a probe.
        retry_after: Duration,
    },
    /// No answer that is the service's own: every attempt failed retryably (connect error,
    /// timeout, 5xx, 429), or the retry budget or a too-long Retry-After stopped the retries,
    /// or discovery found no endpoint.
    #[error("unavailable after {attempts} attempt(s): {detail}")]
    Unavailable {
        /// Attempts made (0 when discovery found no endpoint).
        attempts: u32,
        /// The last answer's `Retry-After`, if it had one.
        retry_after: Option<Duration>,
        /// What failed, naming the service and the last instance, e.g. `payment provider:
        /// provider-b: 503 Service Unavailable`.
        detail: String,
    },
}

impl CallError {
    /// When to come back: the breaker's wait, or the last answer's `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::BreakerOpen { retry_after } => Some(*retry_after),
            Self::Unavailable { retry_after, .. } => *retry_after,
        }
    }
}

impl From<CallError> for Error {
    fn from(error: CallError) -> Self {
        Error::ServiceUnavailable(error.to_string())
    }
}
