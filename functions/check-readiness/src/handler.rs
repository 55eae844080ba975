//! `GET /health/ready` -> each dependency's state: `200` when every required one is up,
//! `503` with `Retry-After` when one is down.
//!
//! Who may call (checked first, before anything is probed): **admins** only. A customer is
//! `403 FORBIDDEN`; no token is `401 UNAUTHORIZED`. The answer names the tables and queues, and
//! probing costs control-plane calls: neither is for the public (`GET /health` is).
//!
//! Body: `{"status":"ready"|"degraded"|"unavailable","checks":[{"name","kind","status",
//! "latency_ms","error"?}]}`, checks in the order of the probes:
//! - `name`: what was probed, e.g. `PRODUCTS_TABLE` (the variable that names it);
//! - `kind`: `dynamodb` (DescribeTable), `sqs` (GetQueueAttributes), `cache` (PING),
//!   `elasticache` (the cache's control-plane status);
//! - `status`: `up` or `down`; `latency_ms`: how long the probe took, in ms;
//! - `error`: for a down check, a short opaque reason (`timeout`, `unavailable`, `error`,
//!   `status <what the control plane says>`); the full error is logged at WARN.
//!
//! Tables and queues are required: one down is `503 unavailable` (`Retry-After`: the memo
//! interval). The cache is not: reads fall through to DynamoDB, so a cache down is `200
//! degraded`.
//!
//! The probes run concurrently, each bounded by [`PROBE_TIMEOUT`], and the answer is memoised
//! per instance for [`MEMO_TTL`], so polling the check in an outage adds at most one round of
//! probes per instance every 5 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::auth::Principal;
use shared::http::{HttpResult, json_response, respond, with_retry_after};
use tokio::sync::Mutex;

/// Longest a single probe may take: 1 s. Longer counts as down (`timeout`): a dependency that
/// slow would make the functions time out too.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long an answer is reused: 5 s. Also the `Retry-After` of a `503`.
pub const MEMO_TTL: Duration = Duration::from_secs(5);

pub use shared::api::{Check, Kind, Report, Status, Verdict};

/// Why a probe failed: a short reason for the answer and the full story for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure {
    /// Short and opaque, safe to show: `unavailable`, `error`, `status CREATING`.
    pub reason: String,
    /// Everything known (the SDK error chain), logged only.
    pub detail: String,
}

impl ProbeFailure {
    /// A failure from the service's one error type: `unavailable` for a 503-class error
    /// (down, hung, throttling), `error` for anything else.
    pub fn from_error(error: &Error) -> Self {
        let reason = match error {
            Error::ServiceUnavailable(_) => "unavailable",
            _ => "error",
        };
        Self {
            reason: reason.to_owned(),
            detail: error.chain(),
        }
    }

    /// The dependency answered but is not usable, e.g. a table that is `CREATING`.
    pub fn status(status: &str) -> Self {
        Self {
            reason: format!("status {status}"),
            detail: format!("the control plane reports status {status}"),
        }
    }
}

/// One dependency to check.
#[async_trait]
pub trait Probe: Send + Sync {
    /// The name in the answer, e.g. `PRODUCTS_TABLE`.
    fn name(&self) -> &str;

    /// What it is.
    fn kind(&self) -> Kind;

    /// Looks at the dependency once. `Ok` when it is usable.
    ///
    /// # Errors
    /// [`ProbeFailure`] saying why it is not.
    async fn probe(&self) -> Result<(), ProbeFailure>;
}

/// Where "now" comes from (a fake in tests).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The probes, their bound, and the memoised last answer of this instance.
pub struct Readiness {
    probes: Vec<Box<dyn Probe>>,
    timeout: Duration,
    ttl: Duration,
    clock: Clock,
    last: Mutex<Option<(Instant, Report)>>,
}

impl Readiness {
    /// Readiness over `probes` with [`PROBE_TIMEOUT`], [`MEMO_TTL`] and the real clock.
    pub fn new(probes: Vec<Box<dyn Probe>>) -> Self {
        Self::with(probes, PROBE_TIMEOUT, MEMO_TTL, Arc::new(Instant::now))
    }

    /// Readiness with its bound, memo interval and clock chosen (tests).
    pub fn with(
        probes: Vec<Box<dyn Probe>>,
        timeout: Duration,
        ttl: Duration,
        clock: Clock,
    ) -> Self {
        Self {
            probes,
            timeout,
            ttl,
            clock,
            last: Mutex::new(None),
        }
    }

    /// The current report: the memoised one while younger than the memo interval, otherwise
    /// a fresh round of probes (one round at a time: a caller arriving meanwhile waits for it
    /// and shares it).
    pub async fn report(&self) -> Report {
        let mut last = self.last.lock().await;
        if let Some((at, report)) = last.as_ref()
            && (self.clock)().saturating_duration_since(*at) < self.ttl
        {
            return report.clone();
        }
        let checks =
            futures::future::join_all(self.probes.iter().map(|p| self.check(p.as_ref()))).await;
        let report = Report::from_checks(checks);
        *last = Some(((self.clock)(), report.clone()));
        report
    }

    async fn check(&self, probe: &dyn Probe) -> Check {
        let started = Instant::now();
        let outcome = match tokio::time::timeout(self.timeout, probe.probe()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ProbeFailure {
                reason: "timeout".to_owned(),
                detail: format!("no answer within {} ms", self.timeout.as_millis()),
            }),
        };
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, error) = match outcome {
            Ok(()) => (Status::Up, None),
            Err(failure) => {
                tracing::warn!(
                    check = probe.name(),
                    kind = ?probe.kind(),
                    reason = failure.reason,
                    error = failure.detail,
                    "readiness probe failed"
                );
                (Status::Down, Some(failure.reason))
            }
        };
        Check {
            name: probe.name().to_owned(),
            kind: probe.kind(),
            status,
            latency_ms,
            error,
        }
    }
}

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle(readiness: &Readiness, req: Request) -> HttpResult {
    respond(check_readiness(readiness, &req).await)
}

async fn check_readiness(readiness: &Readiness, req: &Request) -> Result<Response<Body>, Error> {
    Principal::from_request(req)?.require_admin()?;
    let report = readiness.report().await;
    if report.status == Verdict::Unavailable {
        let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, &report);
        with_retry_after(&mut response, readiness.ttl);
        return Ok(response);
    }
    Ok(json_response(StatusCode::OK, &report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::testing::{ApiRequest, status_and_json};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A probe with a fixed outcome that counts its calls; `hang` makes it never answer.
    struct Fake {
        name: &'static str,
        kind: Kind,
        up: bool,
        hang: bool,
        calls: Arc<AtomicUsize>,
    }

    impl Fake {
        fn new(name: &'static str, kind: Kind, up: bool) -> Self {
            Self {
                name,
                kind,
                up,
                hang: false,
                calls: Arc::new(AtomicUsize::new(0)),
            }
        }
    }

    #[async_trait]
    impl Probe for Fake {
        fn name(&self) -> &str {
            self.name
        }

        fn kind(&self) -> Kind {
            self.kind
        }

        async fn probe(&self) -> Result<(), ProbeFailure> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.hang {
                std::future::pending::<()>().await;
            }
            if self.up {
                Ok(())
            } else {
                Err(ProbeFailure::from_error(&Error::ServiceUnavailable(
                    "DynamoDB DescribeTable: connection refused".into(),
                )))
            }
        }
    }

    fn all_up() -> Vec<Box<dyn Probe>> {
        vec![
            Box::new(Fake::new("PRODUCTS_TABLE", Kind::Dynamodb, true)),
            Box::new(Fake::new("INVENTORY_QUEUE_URL", Kind::Sqs, true)),
            Box::new(Fake::new("CACHE_ENDPOINT", Kind::Cache, true)),
        ]
    }

    async fn get(readiness: &Readiness, req: ApiRequest) -> (u16, Value, Response<Body>) {
        let Ok(response) = handle(readiness, req.build()).await;
        let (status, body) = status_and_json(&response);
        (status, body, response)
    }

    fn as_admin() -> ApiRequest {
        ApiRequest::new("GET", "/health/ready").as_admin()
    }

    fn statuses(body: &Value) -> Vec<(&str, &str)> {
        body["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap(), c["status"].as_str().unwrap()))
            .collect()
    }

    #[tokio::test]
    async fn everything_up_is_ready_with_each_check_and_its_latency() {
        let readiness = Readiness::new(all_up());

        let (status, body, _) = get(&readiness, as_admin()).await;

        assert_eq!(status, 200);
        assert_eq!(body["status"], "ready");
        assert_eq!(
            body["checks"][0],
            json!({"name": "PRODUCTS_TABLE", "kind": "dynamodb", "status": "up",
                   "latency_ms": body["checks"][0]["latency_ms"]})
        );
        assert!(body["checks"][0]["latency_ms"].is_u64());
        assert_eq!(
            statuses(&body),
            [
                ("PRODUCTS_TABLE", "up"),
                ("INVENTORY_QUEUE_URL", "up"),
                ("CACHE_ENDPOINT", "up")
            ]
        );
    }

    #[tokio::test]
    async fn a_table_down_is_503_with_retry_after_and_names_the_check() {
        let readiness = Readiness::new(vec![
            Box::new(Fake::new("PRODUCTS_TABLE", Kind::Dynamodb, false)),
            Box::new(Fake::new("ORDERS_TABLE", Kind::Dynamodb, true)),
        ]);

        let (status, body, response) = get(&readiness, as_admin()).await;

        assert_eq!(status, 503);
        assert_eq!(response.headers()["retry-after"], "5");
        assert_eq!(body["status"], "unavailable");
        assert_eq!(
            statuses(&body),
            [("PRODUCTS_TABLE", "down"), ("ORDERS_TABLE", "up")]
        );
        assert_eq!(body["checks"][0]["error"], "unavailable");
        assert!(body["checks"][1].get("error").is_none());
        assert!(
            !body.to_string().contains("connection refused"),
            "the reason is opaque: {body}"
        );
    }

    #[tokio::test]
    async fn the_cache_down_is_degraded_not_unavailable() {
        let readiness = Readiness::new(vec![
            Box::new(Fake::new("PRODUCTS_TABLE", Kind::Dynamodb, true)),
            Box::new(Fake::new("CACHE_ENDPOINT", Kind::Cache, false)),
            Box::new(Fake::new("CACHE_NAME", Kind::Elasticache, false)),
        ]);

        let (status, body, response) = get(&readiness, as_admin()).await;

        assert_eq!(status, 200);
        assert_eq!(body["status"], "degraded");
        assert!(!response.headers().contains_key("retry-after"));
        assert_eq!(
            statuses(&body),
            [
                ("PRODUCTS_TABLE", "up"),
                ("CACHE_ENDPOINT", "down"),
                ("CACHE_NAME", "down")
            ]
        );
    }

    #[tokio::test]
    async fn the_answer_is_memoised_for_the_interval_then_probed_again() {
        let probe = Fake::new("PRODUCTS_TABLE", Kind::Dynamodb, true);
        let calls = probe.calls.clone();
        let start = Instant::now();
        let offset = Arc::new(std::sync::Mutex::new(Duration::ZERO));
        let now = offset.clone();
        let clock: Clock = Arc::new(move || start + *now.lock().unwrap());
        let readiness = Readiness::with(vec![Box::new(probe)], PROBE_TIMEOUT, MEMO_TTL, clock);

        get(&readiness, as_admin()).await;
        *offset.lock().unwrap() = Duration::from_millis(4_900);
        get(&readiness, as_admin()).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "within 5 s: memoised");

        *offset.lock().unwrap() = Duration::from_millis(5_000);
        get(&readiness, as_admin()).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "after 5 s: probed again");
    }

    #[tokio::test]
    async fn a_probe_that_hangs_is_down_after_the_probe_timeout() {
        let mut hung = Fake::new("PRODUCTS_TABLE", Kind::Dynamodb, true);
        hung.hang = true;
        let readiness = Readiness::with(
            vec![
                Box::new(hung),
                Box::new(Fake::new("ORDERS_TABLE", Kind::Dynamodb, true)),
            ],
            Duration::from_millis(50),
            MEMO_TTL,
            Arc::new(Instant::now),
        );

        let started = Instant::now();
        let (status, body, _) = get(&readiness, as_admin()).await;

        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(status, 503);
        assert_eq!(body["checks"][0]["error"], "timeout");
        assert_eq!(body["checks"][1]["status"], "up");
    }

    #[tokio::test]
    async fn only_an_admin_may_ask_and_nothing_is_probed_otherwise() {
        let probe = Fake::new("PRODUCTS_TABLE", Kind::Dynamodb, true);
        let calls = probe.calls.clone();
        let readiness = Readiness::new(vec![Box::new(probe)]);

        let (customer, body, _) = get(
            &readiness,
            ApiRequest::new("GET", "/health/ready").as_customer(shared::domain::UserId::new()),
        )
        .await;
        let (anonymous, _, _) = get(&readiness, ApiRequest::new("GET", "/health/ready")).await;

        assert_eq!(customer, 403);
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert_eq!(anonymous, 401);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}
