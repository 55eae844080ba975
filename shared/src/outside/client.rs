//! [`OutsideClient`]: one logical call = one breaker admission, up to `max_attempts` HTTP
//! attempts across the discovered endpoints, one outcome recorded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use tower::retry::budget::{Budget, TpsBudget};

use super::retry::{is_retryable_status, retry_after};
use super::{CallError, Discovery, Endpoint, OutsideRequest, OutsideResponse};
use crate::backoff::full_jitter_backoff;
use crate::circuit::{Admission, CircuitGate, Gate};
use crate::error::Error;

/// The bounds of an [`OutsideClient`]. The defaults fit a payment call from a Lambda consumer
/// (10 s function timeout): worst case 3 attempts of 2 s plus two backoffs of at most 1 s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientConfig {
    /// Longest wait for a TCP (and TLS) connection: default 500 ms.
    pub connect_timeout: Duration,
    /// Longest single HTTP attempt, connect, headers and whole body: default 2 s.
    pub attempt_timeout: Duration,
    /// Attempts per call, the first one included: default 3 (first try + 2 retries). At least 1.
    pub max_attempts: u32,
    /// Base of the exponential backoff: default 50 ms (retry `n` waits `rand(0, min(max, base * 2^n))`).
    pub backoff_min: Duration,
    /// Longest backoff: default 1 s.
    pub backoff_max: Duration,
    /// Longest `Retry-After` waited for: default 3 s. A longer one stops the call
    /// ([`CallError::Unavailable`] carrying it), so the caller can come back later.
    pub retry_after_max: Duration,
    /// Retries may add at most this fraction to the calls: default 0.2 (20 %). 0 to 1000.
    pub budget_ratio: f32,
    /// Retries allowed per second on top of the ratio: default 2.
    pub budget_min_per_sec: u32,
    /// How long a call counts towards the budget: default 10 s; 1 to 60 s (tower's
    /// [`TpsBudget`], after Finagle's `RetryBudget`).
    pub budget_window: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_millis(500),
            attempt_timeout: Duration::from_secs(2),
            max_attempts: 3,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            retry_after_max: Duration::from_secs(3),
            budget_ratio: 0.2,
            budget_min_per_sec: 2,
            budget_window: Duration::from_secs(10),
        }
    }
}

impl ClientConfig {
    /// The wait before retry number `past_retries + 1`: full jitter, uniform in
    /// `[0, min(backoff_max, backoff_min * 2^past_retries)]` ([`crate::backoff::full_jitter_backoff`]).
    pub fn backoff(&self, past_retries: u32) -> Duration {
        full_jitter_backoff(self.backoff_min, self.backoff_max, past_retries)
    }

    fn validate(&self) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1".to_owned());
        }
        if self.backoff_min > self.backoff_max {
            return Err("backoff_min must not exceed backoff_max".to_owned());
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&self.budget_window) {
            return Err("budget_window must be between 1 and 60 s".to_owned());
        }
        if !(0.0..=1000.0).contains(&self.budget_ratio) {
            return Err("budget_ratio must be between 0 and 1000".to_owned());
        }
        if self.budget_min_per_sec >= i32::MAX as u32 {
            return Err("budget_min_per_sec is too large".to_owned());
        }
        Ok(())
    }
}

/// The HTTP client for one outside service: discovery `D`, circuit breaker `G`. Build it once
/// per cold start and share it (`&self` methods; connections are pooled).
pub struct OutsideClient<D, G> {
    service: &'static str,
    /// The `Target` label of `Retries`: `service` with hyphens for spaces (`payment-provider`).
    target: String,
    discovery: D,
    gate: G,
    config: ClientConfig,
    http: reqwest::Client,
    budget: TpsBudget,
    next: AtomicUsize,
}

impl<D, G> std::fmt::Debug for OutsideClient<D, G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutsideClient")
            .field("service", &self.service)
            .field("config", &self.config)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// One failed attempt: why, and the answer's `Retry-After` if it had one.
struct Failure {
    detail: String,
    retry_after: Option<Duration>,
}

impl<D: Discovery, G: CircuitGate> OutsideClient<D, G> {
    /// `service` names the service in logs and errors (e.g. "payment provider"); with hyphens
    /// for spaces it is the `Target` label of the `Retries` metric, counted once per retried
    /// attempt ([`crate::metrics::retry`]).
    ///
    /// # Errors
    /// [`Error::Internal`] when `config` is out of its documented bounds or the HTTP client
    /// cannot be built (no TLS backend).
    pub fn new(
        service: &'static str,
        discovery: D,
        gate: G,
        config: ClientConfig,
    ) -> Result<Self, Error> {
        config.validate().map_err(|problem| {
            Error::internal(format!("{service} client configuration"), problem)
        })?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.attempt_timeout)
            // A 3xx is the service's answer, returned to the caller: never follow a redirect
            // with a payment body.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| Error::internal(format!("{service} HTTP client"), error))?;
        Ok(Self {
            service,
            target: service.replace(' ', "-"),
            discovery,
            gate,
            budget: TpsBudget::new(
                config.budget_window,
                config.budget_min_per_sec,
                config.budget_ratio,
            ),
            config,
            http,
            next: AtomicUsize::new(0),
        })
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// One logical call: acquire the gate once; attempts; record once.
    ///
    /// `Ok` is the service's own answer, whatever its status (a `402` decline included);
    /// see the module documentation for which failures are retried.
    ///
    /// # Errors
    /// [`CallError::BreakerOpen`] when the gate refuses (nothing sent);
    /// [`CallError::Unavailable`] when no attempt got an answer of the service's own.
    pub async fn send(&self, request: &OutsideRequest) -> Result<OutsideResponse, CallError> {
        let admission = match self.gate.acquire().await {
            Gate::Admitted(admission) => admission,
            Gate::Rejected { retry_after } => {
                tracing::debug!(
                    service = self.service,
                    retry_after_ms = retry_after.as_millis() as u64,
                    "circuit breaker open: call not sent"
                );
                return Err(CallError::BreakerOpen { retry_after });
            }
        };
        let outcome = self.attempts(request, admission == Admission::Probe).await;
        self.gate.record(admission, outcome.is_ok()).await;
        outcome
    }

    /// The attempts of one call. A half-open breaker's `probe` tries each endpoint at most once
    /// (no second try of the same one): it only asks whether the service is back, and during an
    /// outage every probe's attempts reach the failing service.
    async fn attempts(
        &self,
        request: &OutsideRequest,
        probe: bool,
    ) -> Result<OutsideResponse, CallError> {
        self.budget.deposit();
        let endpoints = match self.discovery.endpoints().await {
            Ok(endpoints) if !endpoints.is_empty() => endpoints,
            Ok(_) => return Err(self.unavailable(0, None, "no healthy endpoint".to_owned())),
            Err(error) => {
                return Err(self.unavailable(
                    0,
                    None,
                    format!("discovery failed: {}", error.chain()),
                ));
            }
        };
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let max_attempts = if probe {
            u32::try_from(endpoints.len())
                .unwrap_or(u32::MAX)
                .min(self.config.max_attempts)
        } else {
            self.config.max_attempts
        };
        let mut attempt: u32 = 0;
        loop {
            let endpoint = &endpoints[(start + attempt as usize) % endpoints.len()];
            attempt += 1;
            let failure = match self.attempt(endpoint, request).await {
                Ok(response) if !is_retryable_status(response.status) => {
                    tracing::debug!(service = self.service, instance_id = %endpoint.instance_id, attempt, status = response.status.as_u16(), "outside call answered");
                    return Ok(OutsideResponse {
                        attempts: attempt,
                        ..response
                    });
                }
                Ok(response) => Failure {
                    detail: format!("{}: {}", endpoint.instance_id, response.status),
                    retry_after: retry_after(&response.headers, SystemTime::now()),
                },
                Err(detail) => Failure {
                    detail: format!("{}: {detail}", endpoint.instance_id),
                    retry_after: None,
                },
            };
            tracing::warn!(service = self.service, instance_id = %endpoint.instance_id, attempt, error = %failure.detail, "outside call attempt failed");
            self.discovery.invalidate();

            if attempt >= max_attempts {
                return Err(self.unavailable(attempt, failure.retry_after, failure.detail));
            }
            if let Some(wait) = failure.retry_after
                && wait > self.config.retry_after_max
            {
                let detail = format!(
                    "{} (Retry-After {} ms is longer than {} ms)",
                    failure.detail,
                    wait.as_millis(),
                    self.config.retry_after_max.as_millis()
                );
                return Err(self.unavailable(attempt, Some(wait), detail));
            }
            if !self.budget.withdraw() {
                let detail = format!("{} (retry budget exhausted)", failure.detail);
                return Err(self.unavailable(attempt, failure.retry_after, detail));
            }
            crate::metrics::retry(&self.target);
            let backoff = self.config.backoff(attempt - 1);
            let wait = failure
                .retry_after
                .map_or(backoff, |after| after.max(backoff));
            tokio::time::sleep(wait).await;
        }
    }

    /// One HTTP attempt: `Ok` with any status, `Err` naming the transport failure.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        request: &OutsideRequest,
    ) -> Result<OutsideResponse, String> {
        let mut builder = self
            .http
            .request(request.method.clone(), endpoint.url(&request.path))
            .headers(request.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let response = builder.send().await.map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport_error)?;
        Ok(OutsideResponse {
            status,
            headers,
            body: body.to_vec(),
            instance_id: endpoint.instance_id.clone(),
            attempts: 0,
        })
    }

    fn unavailable(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        detail: String,
    ) -> CallError {
        CallError::Unavailable {
            attempts,
            retry_after,
            detail: format!("{}: {detail}", self.service),
        }
    }
}

/// A transport failure's kind and chain, e.g. `timeout: error sending request ...`.
fn transport_error(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connection error"
    } else if error.is_body() || error.is_decode() {
        "body error"
    } else {
        "request error"
    };
    let mut out = format!("{kind}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
