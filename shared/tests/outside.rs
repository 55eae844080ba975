//! The outside-service client ([`shared::outside`]) against stand-in servers of the test's own
//! (axum on `127.0.0.1:0`) that count every request: which answers are retried and which are
//! not, failover, round robin, `Retry-After`, the jitter's bounds, the retry budget, and what
//! the circuit breaker is asked and told. The Cloud Map discovery test (`#[ignore]`) needs the
//! emulator (`AWS_ENDPOINT_URL`, moto).
//!
//! Time bounds are limits with margins, never fixed sleeps before an assertion.

// Setup helpers live outside `#[test]` functions, where `allow-unwrap-in-tests` does not reach;
// a failed setup should panic like a failed assertion.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test setup helpers panic on failure by design"
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::json;
use shared::Error;
use shared::circuit::{Admission, CircuitGate, Gate, NoCircuit};
use shared::outside::{
    CallError, ClientConfig, CloudMapDiscovery, Discovery, Endpoint, OutsideClient, OutsideRequest,
    StaticEndpoints,
};

/// One request a stand-in server received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A stand-in server: answers request number `n` (from 0) with `reply(n)`, records them all.
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn endpoint(&self, id: &str) -> Endpoint {
        Endpoint::new(id, self.url.clone())
    }
}

/// What a stand-in answers: a status with headers, or nothing for a long time (a hung server).
#[derive(Clone)]
enum Reply {
    Status(u16, Vec<(&'static str, String)>),
    Hang,
}

fn status(code: u16) -> Reply {
    Reply::Status(code, Vec::new())
}

async fn serve(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Server {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reply = Arc::new(reply);
    let recorded = seen.clone();
    let app = axum::Router::new().fallback(move |request: Request| {
        let recorded = recorded.clone();
        let reply = reply.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec();
            let n = {
                let mut seen = recorded.lock().unwrap();
                seen.push(Seen {
                    method: parts.method,
                    path: parts.uri.path().to_owned(),
                    headers: parts.headers,
                    body,
                });
                seen.len() - 1
            };
            match reply(n) {
                Reply::Status(code, headers) => {
                    let mut response = Response::builder().status(code);
                    for (name, value) in headers {
                        response = response.header(name, value);
                    }
                    response.body(Body::from(r#"{"ok":true}"#)).unwrap()
                }
                Reply::Hang => {
                    // Never answers; the connection's task ends when the client gives up.
                    std::future::pending::<Response>().await
                }
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server { url, seen }
}

/// A URL where nothing listens: a port bound then released.
async fn refused_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// Fast retries so the tests are quick; everything else the defaults.
fn fast() -> ClientConfig {
    ClientConfig {
        backoff_min: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        ..ClientConfig::default()
    }
}

/// A gate that answers `answer` and records every call.
struct RecordingGate {
    answer: Gate,
    acquired: AtomicUsize,
    recorded: Mutex<Vec<(Admission, bool)>>,
}

impl RecordingGate {
    fn new(answer: Gate) -> Arc<Self> {
        Arc::new(Self {
            answer,
            acquired: AtomicUsize::new(0),
            recorded: Mutex::new(Vec::new()),
        })
    }

    fn recorded(&self) -> Vec<(Admission, bool)> {
        self.recorded.lock().unwrap().clone()
    }
}

#[async_trait]
impl CircuitGate for RecordingGate {
    async fn acquire(&self) -> Gate {
        self.acquired.fetch_add(1, Ordering::SeqCst);
        self.answer
    }

    async fn record(&self, admission: Admission, success: bool) {
        self.recorded.lock().unwrap().push((admission, success));
    }
}

fn client<D: Discovery, G: CircuitGate>(
    discovery: D,
    gate: G,
    config: ClientConfig,
) -> OutsideClient<D, G> {
    OutsideClient::new("payment provider", discovery, gate, config).unwrap()
}

fn charge() -> OutsideRequest {
    let mut request = OutsideRequest::new(Method::POST, "/v1/charges");
    request.headers.insert(
        "idempotency-key",
        HeaderValue::from_static("order-1-charge"),
    );
    request.body = Some(json!({"amount": 1250, "currency": "usd", "source": "tok_visa"}));
    request
}

#[tokio::test]
async fn a_2xx_is_returned_after_one_attempt_with_the_request_as_sent() {
    let server = serve(|_| status(200)).await;
    let base = format!("{}/", server.url);
    let client = client(
        StaticEndpoints(vec![Endpoint::new("provider-a", base)]),
        NoCircuit,
        fast(),
    );

    let response = client.send(&charge()).await.unwrap();

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.instance_id, "provider-a");
    assert_eq!(response.attempts, 1);
    assert_eq!(
        response.json::<serde_json::Value>().unwrap(),
        json!({"ok": true})
    );
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(seen[0].path, "/v1/charges", "one '/' between base and path");
    assert_eq!(seen[0].headers["idempotency-key"], "order-1-charge");
    assert_eq!(seen[0].headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(body["amount"], 1250);
}

#[tokio::test]
async fn a_402_decline_or_a_400_is_the_answer_and_is_never_retried() {
    for code in [402, 400, 404, 409] {
        let server = serve(move |_| status(code)).await;
        let other = serve(|_| status(200)).await;
        let gate = RecordingGate::new(Gate::Admitted(Admission::Normal));
        let client = client(
            StaticEndpoints(vec![server.endpoint("a"), other.endpoint("b")]),
            gate.clone(),
            fast(),
        );

        let response = client.send(&charge()).await.unwrap();

        assert_eq!(response.status.as_u16(), code);
        assert_eq!(response.attempts, 1);
        assert_eq!(server.hits(), 1, "{code} must not be retried");
        assert_eq!(other.hits(), 0, "{code} must not fail over");
        assert_eq!(
            gate.recorded(),
            vec![(Admission::Normal, true)],
            "a {code} is the service's own answer: a success for the breaker"
        );
    }
}

#[tokio::test]
async fn a_5xx_fails_over_to_the_other_endpoint() {
    let broken = serve(|_| status(503)).await;
    let healthy = serve(|_| status(200)).await;
    let client = client(
        StaticEndpoints(vec![broken.endpoint("a"), healthy.endpoint("b")]),
        NoCircuit,
        fast(),
    );

    let first = client.send(&charge()).await.unwrap();
    let second = client.send(&charge()).await.unwrap();

    // The first call starts at a (503) and fails over to b; the second starts at b.
    assert_eq!((first.instance_id.as_str(), first.attempts), ("b", 2));
    assert_eq!((second.instance_id.as_str(), second.attempts), ("b", 1));
    assert_eq!(broken.hits(), 1);
    assert_eq!(healthy.hits(), 2);
}

#[tokio::test]
async fn a_refused_connection_fails_over_to_the_other_endpoint() {
    let healthy = serve(|_| status(201)).await;
    let client = client(
        StaticEndpoints(vec![
            Endpoint::new("down", refused_url().await),
            healthy.endpoint("up"),
        ]),
        NoCircuit,
        fast(),
    );

    let response = client.send(&charge()).await.unwrap();

    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(
        (response.instance_id.as_str(), response.attempts),
        ("up", 2)
    );
    assert_eq!(healthy.hits(), 1);
}

#[tokio::test]
async fn a_hung_instance_times_out_and_the_call_fails_over() {
    let hung = serve(|_| Reply::Hang).await;
    let healthy = serve(|_| status(200)).await;
    let config = ClientConfig {
        attempt_timeout: Duration::from_millis(300),
        ..fast()
    };
    let client = client(
        StaticEndpoints(vec![hung.endpoint("hung"), healthy.endpoint("up")]),
        NoCircuit,
        config,
    );
    let started = Instant::now();

    let response = client.send(&charge()).await.unwrap();

    assert_eq!(response.instance_id, "up");
    assert_eq!(hung.hits(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the attempt timeout (300 ms) bounds the hung attempt: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn calls_are_spread_round_robin_across_the_endpoints() {
    let a = serve(|_| status(200)).await;
    let b = serve(|_| status(200)).await;
    let c = serve(|_| status(200)).await;
    let client = client(
        StaticEndpoints(vec![a.endpoint("a"), b.endpoint("b"), c.endpoint("c")]),
        NoCircuit,
        fast(),
    );

    for _ in 0..9 {
        client.send(&charge()).await.unwrap();
    }

    assert_eq!((a.hits(), b.hits(), c.hits()), (3, 3, 3));
}

#[tokio::test]
async fn every_attempt_failing_is_unavailable_after_max_attempts_and_a_failure_for_the_breaker() {
    let broken = serve(|_| status(500)).await;
    let gate = RecordingGate::new(Gate::Admitted(Admission::Normal));
    let client = client(
        StaticEndpoints(vec![broken.endpoint("a")]),
        gate.clone(),
        fast(),
    );

    let error = client.send(&charge()).await.unwrap_err();

    match &error {
        CallError::Unavailable {
            attempts, detail, ..
        } => {
            assert_eq!(*attempts, 3);
            assert!(detail.starts_with("payment provider: a: 500"), "{detail}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(broken.hits(), 3);
    assert_eq!(gate.acquired.load(Ordering::SeqCst), 1);
    assert_eq!(gate.recorded(), vec![(Admission::Normal, false)]);
    assert!(matches!(
        Error::from(error),
        Error::ServiceUnavailable(message) if message.contains("payment provider")
    ));
}

#[tokio::test]
async fn retry_after_is_honoured_before_the_next_attempt() {
    let server = serve(|n| {
        if n == 0 {
            Reply::Status(429, vec![("retry-after", "1".to_owned())])
        } else {
            status(200)
        }
    })
    .await;
    let client = client(
        StaticEndpoints(vec![server.endpoint("a")]),
        NoCircuit,
        fast(),
    );
    let started = Instant::now();

    let response = client.send(&charge()).await.unwrap();

    let waited = started.elapsed();
    assert_eq!((response.status, response.attempts), (StatusCode::OK, 2));
    assert!(
        waited >= Duration::from_secs(1),
        "Retry-After: 1 not waited for: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(2500),
        "waited far longer than Retry-After: {waited:?}"
    );
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured_too() {
    let server = serve(|n| {
        if n == 0 {
            let at = std::time::SystemTime::now() + Duration::from_secs(2);
            Reply::Status(503, vec![("retry-after", httpdate::fmt_http_date(at))])
        } else {
            status(200)
        }
    })
    .await;
    let client = client(
        StaticEndpoints(vec![server.endpoint("a")]),
        NoCircuit,
        fast(),
    );
    let started = Instant::now();

    let response = client.send(&charge()).await.unwrap();

    // An HTTP-date has whole seconds: the wait is between 1 and 2 s.
    let waited = started.elapsed();
    assert_eq!(response.attempts, 2);
    assert!(waited >= Duration::from_millis(1000), "{waited:?}");
    assert!(waited < Duration::from_millis(3500), "{waited:?}");
}

#[tokio::test]
async fn a_retry_after_longer_than_the_maximum_stops_the_call_at_once() {
    let server = serve(|_| Reply::Status(503, vec![("retry-after", "30".to_owned())])).await;
    let client = client(
        StaticEndpoints(vec![server.endpoint("a")]),
        NoCircuit,
        fast(),
    );
    let started = Instant::now();

    let error = client.send(&charge()).await.unwrap_err();

    assert!(
        matches!(error, CallError::Unavailable { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(server.hits(), 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn the_full_jitter_stays_within_its_bounds_and_spreads_over_them() {
    let config = ClientConfig {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_secs(1),
        ..ClientConfig::default()
    };
    for past_retries in 0..8u32 {
        // min(max, base * 2^n): 50, 100, 200, 400, 800, then 1000 ms.
        let cap = (Duration::from_millis(50) * 2u32.pow(past_retries)).min(Duration::from_secs(1));
        let samples: Vec<Duration> = (0..2000).map(|_| config.backoff(past_retries)).collect();

        assert!(
            samples.iter().all(|delay| *delay <= cap),
            "retry {past_retries}: a delay above {cap:?}"
        );
        let low = samples.iter().filter(|d| **d < cap / 4).count();
        let high = samples.iter().filter(|d| **d > cap * 3 / 4).count();
        // Uniform on [0, cap]: about 500 of 2000 in each quarter; a fixed or bounded jitter
        // would leave the lowest quarter empty.
        assert!(
            low > 300 && high > 300,
            "retry {past_retries}: low {low}, high {high}"
        );
        let mean = samples.iter().sum::<Duration>() / 2000;
        assert!(
            mean > cap * 2 / 5 && mean < cap * 3 / 5,
            "retry {past_retries}: mean {mean:?} of cap {cap:?}"
        );
    }
}

#[tokio::test]
async fn the_retry_budget_stops_a_retry_storm() {
    let server = serve(|_| status(503)).await;
    let config = fast();
    let client = client(
        StaticEndpoints(vec![server.endpoint("a")]),
        NoCircuit,
        config,
    );
    let sends = 200u32;

    let mut attempts = Vec::new();
    for _ in 0..sends {
        match client.send(&charge()).await {
            Err(CallError::Unavailable { attempts: n, .. }) => attempts.push(n),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    // Finagle's bound: first tries + ratio * calls + min_per_sec * window (all within the
    // 10 s window: the test takes well under a second).
    let bound = f64::from(sends) * (1.0 + f64::from(config.budget_ratio))
        + f64::from(config.budget_min_per_sec) * config.budget_window.as_secs_f64();
    let total = server.hits();
    assert!(
        (total as f64) <= bound,
        "{total} requests for {sends} calls, above the budget's {bound}"
    );
    assert!(
        total < (sends * config.max_attempts) as usize / 2,
        "{total} requests: the budget did not stop the storm"
    );
    // Once the reserve is spent, retries run at the ratio: about one per five calls.
    let late_retries: u32 = attempts[100..].iter().map(|n| n - 1).sum();
    assert!(
        f64::from(late_retries) <= 100.0 * f64::from(config.budget_ratio) + 1.0,
        "{late_retries} retries in the last 100 calls"
    );
}

#[tokio::test]
async fn an_open_breaker_refuses_the_call_and_nothing_is_sent() {
    let server = serve(|_| status(200)).await;
    let gate = RecordingGate::new(Gate::Rejected {
        retry_after: Duration::from_secs(7),
    });
    let client = client(
        StaticEndpoints(vec![server.endpoint("a")]),
        gate.clone(),
        fast(),
    );

    let error = client.send(&charge()).await.unwrap_err();

    assert!(matches!(error, CallError::BreakerOpen { .. }), "{error:?}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(server.hits(), 0);
    assert_eq!(gate.acquired.load(Ordering::SeqCst), 1);
    assert!(gate.recorded().is_empty(), "a refused call has no outcome");
}

#[tokio::test]
async fn a_half_open_probe_tries_each_endpoint_once_and_no_more() {
    let a = serve(|_| status(503)).await;
    let b = serve(|_| status(503)).await;
    let gate = RecordingGate::new(Gate::Admitted(Admission::Probe));
    let client = client(
        StaticEndpoints(vec![a.endpoint("a"), b.endpoint("b")]),
        gate.clone(),
        fast(),
    );

    let error = client.send(&charge()).await.unwrap_err();

    assert!(
        matches!(error, CallError::Unavailable { attempts: 2, .. }),
        "{error:?}"
    );
    assert_eq!(
        (a.hits(), b.hits()),
        (1, 1),
        "max_attempts is 3, a probe makes 2"
    );
    assert_eq!(gate.recorded(), vec![(Admission::Probe, false)]);
}

#[tokio::test]
async fn the_breaker_is_asked_once_per_call_and_told_its_outcome_with_the_admission() {
    let broken = serve(|_| status(502)).await;
    let healthy = serve(|_| status(200)).await;
    let gate = RecordingGate::new(Gate::Admitted(Admission::Probe));
    let client = client(
        StaticEndpoints(vec![broken.endpoint("a"), healthy.endpoint("b")]),
        gate.clone(),
        fast(),
    );

    let response = client.send(&charge()).await.unwrap();

    assert_eq!(response.attempts, 2, "a 502 then the failover's 200");
    assert_eq!(gate.acquired.load(Ordering::SeqCst), 1);
    assert_eq!(gate.recorded(), vec![(Admission::Probe, true)]);
}

#[tokio::test]
async fn no_endpoint_is_unavailable_without_an_attempt() {
    let gate = RecordingGate::new(Gate::Admitted(Admission::Normal));
    let client = client(StaticEndpoints(Vec::new()), gate.clone(), fast());

    let error = client.send(&charge()).await.unwrap_err();

    assert!(
        matches!(&error, CallError::Unavailable { attempts: 0, detail, .. } if detail.contains("no healthy endpoint")),
        "{error:?}"
    );
    assert_eq!(gate.recorded(), vec![(Admission::Normal, false)]);
}

#[tokio::test]
async fn a_body_that_is_not_the_expected_json_is_an_internal_error_naming_the_instance() {
    let server = serve(|_| status(200)).await;
    let client = client(
        StaticEndpoints(vec![server.endpoint("provider-a")]),
        NoCircuit,
        fast(),
    );
    let response = client.send(&charge()).await.unwrap();

    let error = response.json::<Vec<u32>>().unwrap_err();

    assert!(
        matches!(&error, Error::Internal { context, .. } if context.contains("provider-a")),
        "{error:?}"
    );
}

#[test]
fn a_config_out_of_bounds_is_refused() {
    for config in [
        ClientConfig {
            max_attempts: 0,
            ..ClientConfig::default()
        },
        ClientConfig {
            budget_window: Duration::from_millis(500),
            ..ClientConfig::default()
        },
        ClientConfig {
            backoff_min: Duration::from_secs(2),
            ..ClientConfig::default()
        },
    ] {
        let built = OutsideClient::new(
            "payment provider",
            StaticEndpoints(Vec::new()),
            NoCircuit,
            config,
        );
        assert!(matches!(built, Err(Error::Internal { .. })), "{config:?}");
    }
}

// --- Cloud Map (emulator) ---------------------------------------------------------------

/// A Cloud Map namespace and service of the test's own (unique names) with two instances,
/// removed at the end (best effort).
struct CloudMap {
    admin: aws_sdk_servicediscovery::Client,
    namespace: String,
    namespace_id: String,
    service: String,
    service_id: String,
}

impl CloudMap {
    async fn new(sdk: &aws_config::SdkConfig) -> Self {
        use aws_sdk_servicediscovery::types::{
            HealthCheckCustomConfig, NamespaceFilter, NamespaceFilterName,
        };
        let admin = aws_sdk_servicediscovery::Client::new(sdk);
        let unique = &uuid::Uuid::new_v4().simple().to_string()[..10];
        let namespace = format!("outside-test-{unique}");
        let service = format!("provider-{unique}");
        admin
            .create_http_namespace()
            .name(&namespace)
            .send()
            .await
            .expect("CreateHttpNamespace: is the emulator running (AWS_ENDPOINT_URL)?");
        let namespaces = admin
            .list_namespaces()
            .filters(
                NamespaceFilter::builder()
                    .name(NamespaceFilterName::Name)
                    .values(&namespace)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let namespace_id = namespaces
            .namespaces()
            .iter()
            .find(|n| n.name() == Some(namespace.as_str()))
            .and_then(|n| n.id())
            .expect("the new namespace is listed")
            .to_owned();
        let created = admin
            .create_service()
            .name(&service)
            .namespace_id(&namespace_id)
            .health_check_custom_config(HealthCheckCustomConfig::builder().build())
            .send()
            .await
            .unwrap();
        let service_id = created.service().and_then(|s| s.id()).unwrap().to_owned();
        Self {
            admin,
            namespace,
            namespace_id,
            service,
            service_id,
        }
    }

    async fn register(&self, instance_id: &str, attributes: &[(&str, &str)]) {
        let mut request = self
            .admin
            .register_instance()
            .service_id(&self.service_id)
            .instance_id(instance_id);
        for (name, value) in attributes {
            request = request.attributes(*name, *value);
        }
        request.send().await.unwrap();
    }

    async fn mark(&self, instance_id: &str, healthy: bool) {
        use aws_sdk_servicediscovery::types::CustomHealthStatus;
        self.admin
            .update_instance_custom_health_status()
            .service_id(&self.service_id)
            .instance_id(instance_id)
            .status(if healthy {
                CustomHealthStatus::Healthy
            } else {
                CustomHealthStatus::Unhealthy
            })
            .send()
            .await
            .unwrap();
    }

    async fn remove(self, instance_ids: &[&str]) {
        for id in instance_ids {
            let _ = self
                .admin
                .deregister_instance()
                .service_id(&self.service_id)
                .instance_id(*id)
                .send()
                .await;
        }
        let _ = self
            .admin
            .delete_service()
            .id(&self.service_id)
            .send()
            .await;
        let _ = self
            .admin
            .delete_namespace()
            .id(&self.namespace_id)
            .send()
            .await;
    }
}

fn ids(endpoints: &[Endpoint]) -> Vec<&str> {
    endpoints.iter().map(|e| e.instance_id.as_str()).collect()
}

#[tokio::test]
#[ignore = "needs the AWS emulator (moto) at AWS_ENDPOINT_URL"]
async fn cloud_map_discovery_serves_the_healthy_instances_and_follows_health_changes() {
    let sdk = sam_template::aws::sdk_config().await;
    let map = CloudMap::new(&sdk).await;
    let a = serve(|_| status(200)).await;
    let b = serve(|_| status(200)).await;
    map.register(
        "provider-a",
        &[("URL", &a.url), ("AWS_INIT_HEALTH_STATUS", "HEALTHY")],
    )
    .await;
    map.register(
        "provider-b",
        &[("URL", &b.url), ("AWS_INIT_HEALTH_STATUS", "HEALTHY")],
    )
    .await;
    map.register("no-url", &[("AWS_INIT_HEALTH_STATUS", "HEALTHY")])
        .await;
    // A long TTL: only invalidate() makes it look again.
    let discovery = Arc::new(CloudMapDiscovery::new(
        &sdk,
        &map.namespace,
        &map.service,
        Duration::from_secs(600),
    ));

    // Both instances with a URL, through the emulator (the `data-` host prefix removed).
    let found = discovery.endpoints().await.unwrap();
    assert_eq!(
        ids(&found),
        ["provider-a", "provider-b"],
        "no-url is skipped"
    );
    let urls: HashMap<_, _> = found
        .iter()
        .map(|e| (e.instance_id.clone(), e.base_url.clone()))
        .collect();
    assert_eq!(urls["provider-b"], b.url);

    // Unhealthy: still cached until invalidated, then gone.
    map.mark("provider-b", false).await;
    assert_eq!(
        ids(&discovery.endpoints().await.unwrap()).len(),
        2,
        "cached"
    );
    discovery.invalidate();
    assert_eq!(ids(&discovery.endpoints().await.unwrap()), ["provider-a"]);

    // The client no longer calls it.
    let client = client(discovery.clone(), NoCircuit, fast());
    for _ in 0..4 {
        assert_eq!(
            client.send(&charge()).await.unwrap().instance_id,
            "provider-a"
        );
    }
    assert_eq!((a.hits(), b.hits()), (4, 0));

    // Healthy again: it gets calls again after the next lookup.
    map.mark("provider-b", true).await;
    discovery.invalidate();
    for _ in 0..4 {
        client.send(&charge()).await.unwrap();
    }
    assert_eq!((a.hits(), b.hits()), (6, 2));

    map.remove(&["provider-a", "provider-b", "no-url"]).await;
}

#[tokio::test]
#[ignore = "needs the AWS emulator (moto) at AWS_ENDPOINT_URL"]
async fn cloud_map_discovery_serves_the_last_list_when_a_lookup_fails() {
    let sdk = sam_template::aws::sdk_config().await;
    let map = CloudMap::new(&sdk).await;
    map.register(
        "provider-a",
        &[
            ("URL", "http://127.0.0.1:1"),
            ("AWS_INIT_HEALTH_STATUS", "HEALTHY"),
        ],
    )
    .await;
    let discovery =
        CloudMapDiscovery::new(&sdk, &map.namespace, &map.service, Duration::from_secs(600));
    assert_eq!(ids(&discovery.endpoints().await.unwrap()), ["provider-a"]);

    // The service is gone: the lookup fails, the stale list is served.
    let map_namespace = map.namespace.clone();
    map.remove(&["provider-a"]).await;
    discovery.invalidate();
    assert_eq!(
        ids(&discovery.endpoints().await.unwrap()),
        ["provider-a"],
        "stale list served when the lookup fails ({map_namespace})"
    );

    // With nothing cached, the failure is returned.
    let fresh = CloudMapDiscovery::new(
        &sdk,
        &map_namespace,
        "no-such-service",
        Duration::from_secs(600),
    );
    assert!(fresh.endpoints().await.is_err());
}
