//! The local console's data: what devstack saw, kept in bounded ring buffers and served as
//! JSON by [`api`] (on the control server) to the page in `infra/console/`.
//!
//! Sources (none of them function log text):
//! - the gateway: every request (method, path, route, status, latency, function, request id);
//! - the [`Invoker`](crate::invoke::Invoker): per function invocations, errors, durations;
//! - the SQS and stream event source mappings: every delivery with its records (read from the
//!   event envelope: `event_type`, `event_id`, `correlation_id`, `data.order_id`) and each
//!   record's outcome from `batchItemFailures`;
//! - `cargo lambda watch`'s stdout: EMF lines ([`emf`]) feed the metric store.
//!
//! A [`Console`] is a cheap clonable handle; the hooks hold an `Option<Console>` and do nothing
//! without one.

pub mod api;
pub mod emf;
pub mod ring;
pub mod saga;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::Value;

use ring::Ring;

/// Requests kept.
pub const REQUESTS: usize = 500;
/// Deliveries kept.
pub const DELIVERIES: usize = 2000;
/// Values kept per metric series (and durations per function).
pub const VALUES: usize = 1000;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One request the gateway answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestEntry {
    /// When it arrived, ms since the epoch.
    pub time_ms: i64,
    /// `POST`.
    pub method: String,
    /// `/orders`.
    pub path: String,
    /// The route key (`POST /orders`).
    pub route: String,
    /// The status answered.
    pub status: u16,
    /// Time from arrival to answer, ms.
    pub latency_ms: u64,
    /// The function's binary name (`create-order`; empty when none was invoked).
    pub function: String,
    /// The API Gateway request id (the events' correlation id).
    pub request_id: String,
}

/// Where a delivery came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// An SQS queue.
    Sqs,
    /// A DynamoDB stream.
    Stream,
}

/// What became of one delivered record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordOutcome {
    /// Processed (not in `batchItemFailures`).
    Ok,
    /// Reported failed, or the whole invocation failed.
    Failed,
}

/// One record of a delivery, as read from its event envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveredRecord {
    /// SQS `messageId` or the stream record's `SequenceNumber`.
    pub id: String,
    /// The envelope's `event_type` (`OrderPlaced`), else the stream's `eventName`.
    pub event_type: Option<String>,
    /// The envelope's `event_id`.
    pub event_id: Option<String>,
    /// The envelope's `correlation_id`.
    pub correlation_id: Option<String>,
    /// The envelope's `data.order_id`.
    pub order_id: Option<String>,
    /// The envelope's `trace_header`, else the SQS `AWSTraceHeader` attribute.
    pub trace_header: Option<String>,
    /// Its outcome.
    pub outcome: RecordOutcome,
}

impl DeliveredRecord {
    /// A record `id` whose envelope is `envelope` (any JSON: missing members stay `None`).
    pub fn from_envelope(id: &str, envelope: &Value) -> Self {
        let s = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        };
        Self {
            id: id.to_owned(),
            event_type: s(&envelope["event_type"]),
            event_id: s(&envelope["event_id"]),
            correlation_id: s(&envelope["correlation_id"]),
            order_id: s(&envelope["data"]["order_id"]),
            trace_header: s(&envelope["trace_header"]),
            outcome: RecordOutcome::Ok,
        }
    }

    /// An SQS record: the body is the envelope's JSON text.
    pub fn from_sqs(message_id: &str, body: &str, trace_header: Option<&str>) -> Self {
        let envelope = serde_json::from_str(body).unwrap_or(Value::Null);
        let mut r = Self::from_envelope(message_id, &envelope);
        if r.trace_header.is_none() {
            r.trace_header = trace_header.map(ToOwned::to_owned);
        }
        r
    }

    /// A stream record as Lambda sends it (`record_json`): the envelope is the `envelope`
    /// string attribute of its `NewImage` (the outbox's item), else only `eventName` is known.
    pub fn from_stream(sequence: &str, record: &Value) -> Self {
        let image = &record["dynamodb"]["NewImage"];
        let envelope = image["envelope"]["S"]
            .as_str()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or(Value::Null);
        let mut r = Self::from_envelope(sequence, &envelope);
        if r.event_type.is_none() {
            r.event_type = image["event_type"]["S"]
                .as_str()
                .or_else(|| record["eventName"].as_str())
                .map(ToOwned::to_owned);
        }
        r
    }
}

/// One invocation by an event source mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// When the function was invoked, ms since the epoch.
    pub time_ms: i64,
    /// SQS or stream.
    pub kind: SourceKind,
    /// The queue's or table's logical id (`InventoryQueue`, `OutboxTable`).
    pub source: String,
    /// The function's binary name.
    pub function: String,
    /// The records, in delivery order, with their outcome.
    pub records: Vec<DeliveredRecord>,
    /// How long the invocation took, ms.
    pub duration_ms: u64,
    /// Why the batch or some records failed.
    pub error: Option<String>,
}

/// Per function counts of the Invoker.
#[derive(Debug, Clone)]
struct FunctionStats {
    invocations: u64,
    errors: u64,
    timeouts: u64,
    in_flight: u64,
    peak_in_flight: u64,
    durations: Ring<f64>,
}

impl Default for FunctionStats {
    fn default() -> Self {
        Self {
            invocations: 0,
            errors: 0,
            timeouts: 0,
            in_flight: 0,
            peak_in_flight: 0,
            durations: Ring::new(VALUES),
        }
    }
}

/// How an invocation ended, for the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The function answered.
    Ok,
    /// It reported an error, crashed, or the Invoke API failed.
    Error,
    /// No answer in time.
    TimedOut,
}

/// A metric series: one metric name with one set of dimension values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey {
    name: String,
    dimensions: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct Series {
    unit: String,
    points: Ring<(i64, f64)>,
    count: u64,
    sum: f64,
}

#[derive(Debug)]
struct Store {
    requests: Ring<RequestEntry>,
    deliveries: Ring<Delivery>,
    functions: BTreeMap<String, FunctionStats>,
    series: BTreeMap<SeriesKey, Series>,
    emf_lines: u64,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            requests: Ring::new(REQUESTS),
            deliveries: Ring::new(DELIVERIES),
            functions: BTreeMap::new(),
            series: BTreeMap::new(),
            emf_lines: 0,
        }
    }
}

/// A route's function, latencies (ms) and counts by status class, while counting.
type RouteAcc = (String, Vec<f64>, BTreeMap<String, u64>);

/// The series of `metric` whose `Function` dimension is `function`.
fn of_function<'a>(
    s: &'a Store,
    metric: &'a str,
    function: &'a str,
) -> impl Iterator<Item = &'a Series> + 'a {
    s.series
        .iter()
        .filter(move |(k, _)| {
            k.name == metric && k.dimensions.get("Function").map(String::as_str) == Some(function)
        })
        .map(|(_, v)| v)
}

/// The console's store: a cheap clonable handle (one `Arc`).
#[derive(Debug, Clone, Default)]
pub struct Console {
    store: Arc<Mutex<Store>>,
}

/// The nearest-rank `q`-quantile (0..=1) of `values`; `None` when empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// `GET /console/api/functions`: one function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionView {
    /// The binary name.
    pub function: String,
    /// Invocations (devstack's Invoker).
    pub invocations: u64,
    /// Function errors and Invoke API failures.
    pub errors: u64,
    /// Timeouts.
    pub timeouts: u64,
    /// Invocations in flight now (instances busy).
    pub in_flight: u64,
    /// Most in flight at once (instances used).
    pub peak_in_flight: u64,
    /// Invocation duration p50 and p99 as devstack measured it, ms.
    pub duration_p50_ms: Option<f64>,
    /// See `duration_p50_ms`.
    pub duration_p99_ms: Option<f64>,
    /// EMF `ColdStart` total.
    pub cold_starts: u64,
    /// EMF `Latency` (HTTP) or `BatchLatency` (consumers) p50 and p99, ms.
    pub latency_p50_ms: Option<f64>,
    /// See `latency_p50_ms`.
    pub latency_p99_ms: Option<f64>,
}

/// `GET /console/api/metrics`: one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesView {
    /// Metric name.
    pub name: String,
    /// Unit as declared.
    pub unit: String,
    /// Dimension values.
    pub dimensions: BTreeMap<String, String>,
    /// Values ever received.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The latest value.
    pub last: Option<f64>,
    /// The latest points `[ms since the epoch, value]`, oldest first (at most
    /// [`POINTS_SERVED`]).
    pub points: Vec<(i64, f64)>,
}

/// Points of a series served at most.
pub const POINTS_SERVED: usize = 200;

/// Requests of one route over the kept requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteView {
    /// Route key.
    pub route: String,
    /// The function behind it.
    pub function: String,
    /// Requests kept.
    pub requests: u64,
    /// By status class (`2xx`…`5xx`).
    pub status_classes: BTreeMap<String, u64>,
    /// Gateway latency p50 and p99, ms.
    pub p50_ms: Option<f64>,
    /// See `p50_ms`.
    pub p99_ms: Option<f64>,
}

/// Gateway latency over one time bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyBucket {
    /// Bucket start, ms since the epoch.
    pub time_ms: i64,
    /// Requests in it.
    pub requests: u64,
    /// p50 and p99 of their latency, ms.
    pub p50_ms: Option<f64>,
    /// See `p50_ms`.
    pub p99_ms: Option<f64>,
}

/// Cache hits and misses (EMF `CacheHits`, `CacheMisses`, `CacheErrors` totals).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheView {
    /// Hits.
    pub hits: f64,
    /// Misses.
    pub misses: f64,
    /// Errors.
    pub errors: f64,
    /// hits / (hits + misses); `None` before any.
    pub ratio: Option<f64>,
}

/// One breaker's state (EMF `BreakerState`: 0 closed, 1 half-open, 2 open).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerView {
    /// `Breaker` dimension.
    pub breaker: String,
    /// `Function` dimension.
    pub function: String,
    /// The latest value.
    pub value: f64,
    /// `closed`, `half_open`, `open`.
    pub state: String,
    /// When reported, ms since the epoch.
    pub time_ms: i64,
    /// Latest values `[ms, value]`, oldest first.
    pub points: Vec<(i64, f64)>,
}

/// `GET /console/api/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsView {
    /// EMF lines read.
    pub emf_lines: u64,
    /// Every series.
    pub series: Vec<SeriesView>,
    /// Requests per route.
    pub routes: Vec<RouteView>,
    /// Gateway latency per [`BUCKET_MS`] over the last [`BUCKETS`] buckets, oldest first.
    pub latency: Vec<LatencyBucket>,
    /// Cache.
    pub cache: CacheView,
    /// Breakers.
    pub breakers: Vec<BreakerView>,
}

/// Width of a latency bucket, ms.
pub const BUCKET_MS: i64 = 10_000;
/// Latency buckets served.
pub const BUCKETS: i64 = 30;

/// The name of a `BreakerState` value.
pub fn breaker_state(value: f64) -> &'static str {
    if value >= 1.5 {
        "open"
    } else if value >= 0.5 {
        "half_open"
    } else {
        "closed"
    }
}

impl Console {
    /// An empty console.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same console, listing `functions` (binary names) before they are first invoked.
    #[must_use]
    pub fn with_functions<I: IntoIterator<Item = String>>(self, functions: I) -> Self {
        {
            let mut s = self.lock();
            for f in functions {
                s.functions.entry(f).or_default();
            }
        }
        self
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a request the gateway answered.
    pub fn record_request(&self, entry: RequestEntry) {
        self.lock().requests.push(entry);
    }

    /// Records a delivery of an event source mapping.
    pub fn record_delivery(&self, delivery: Delivery) {
        self.lock().deliveries.push(delivery);
    }

    /// An invocation of `function` starts.
    pub fn invocation_started(&self, function: &str) {
        let mut s = self.lock();
        let f = s.functions.entry(function.to_owned()).or_default();
        f.in_flight += 1;
        f.peak_in_flight = f.peak_in_flight.max(f.in_flight);
    }

    /// An invocation of `function` ended after `duration_ms`.
    pub fn invocation_ended(&self, function: &str, duration_ms: f64, ended: Ended) {
        let mut s = self.lock();
        let f = s.functions.entry(function.to_owned()).or_default();
        f.in_flight = f.in_flight.saturating_sub(1);
        f.invocations += 1;
        match ended {
            Ended::Ok => {}
            Ended::Error => f.errors += 1,
            Ended::TimedOut => f.timeouts += 1,
        }
        f.durations.push(duration_ms);
    }

    /// Reads one line of the functions' stdout: an EMF line feeds the metric store; anything
    /// else is ignored. Whether it was EMF.
    pub fn record_line(&self, line: &str) -> bool {
        // Cheap test first: most lines are logs.
        if !line.contains("\"_aws\"") {
            return false;
        }
        let Some(samples) = emf::parse(line) else {
            return false;
        };
        let now = now_ms();
        let mut s = self.lock();
        s.emf_lines += 1;
        for sample in samples {
            let time = if sample.timestamp_ms > 0 {
                sample.timestamp_ms
            } else {
                now
            };
            let series = s
                .series
                .entry(SeriesKey {
                    name: sample.name,
                    dimensions: sample.dimensions,
                })
                .or_insert_with(|| Series {
                    unit: sample.unit.clone(),
                    points: Ring::new(VALUES),
                    count: 0,
                    sum: 0.0,
                });
            for v in sample.values {
                series.points.push((time, v));
                series.count += 1;
                series.sum += v;
            }
        }
        true
    }

    /// The latest `limit` requests, newest first.
    pub fn requests(&self, limit: usize) -> Vec<RequestEntry> {
        self.lock()
            .requests
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }

    /// Every kept request and delivery, oldest first (for the saga timeline).
    pub fn history(&self) -> (Vec<RequestEntry>, Vec<Delivery>) {
        let s = self.lock();
        (
            s.requests.iter().cloned().collect(),
            s.deliveries.iter().cloned().collect(),
        )
    }

    /// The latest `limit` deliveries, newest first.
    pub fn deliveries(&self, limit: usize) -> Vec<Delivery> {
        self.lock()
            .deliveries
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }

    /// Every function seen (or listed), by name.
    pub fn functions(&self) -> Vec<FunctionView> {
        let s = self.lock();
        let mut names: Vec<String> = s.functions.keys().cloned().collect();
        for k in s.series.keys() {
            if let Some(f) = k.dimensions.get("Function")
                && !names.contains(f)
            {
                names.push(f.clone());
            }
        }
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let stats = s.functions.get(&name).cloned().unwrap_or_default();
                let durations: Vec<f64> = stats.durations.iter().copied().collect();
                let cold_starts = of_function(&s, "ColdStart", &name)
                    .map(|v| v.sum)
                    .sum::<f64>() as u64;
                let latencies: Vec<f64> = of_function(&s, "Latency", &name)
                    .chain(of_function(&s, "BatchLatency", &name))
                    .flat_map(|v| v.points.iter().map(|p| p.1))
                    .collect();
                FunctionView {
                    invocations: stats.invocations,
                    errors: stats.errors,
                    timeouts: stats.timeouts,
                    in_flight: stats.in_flight,
                    peak_in_flight: stats.peak_in_flight,
                    duration_p50_ms: quantile(&durations, 0.5),
                    duration_p99_ms: quantile(&durations, 0.99),
                    cold_starts,
                    latency_p50_ms: quantile(&latencies, 0.5),
                    latency_p99_ms: quantile(&latencies, 0.99),
                    function: name.clone(),
                }
            })
            .collect()
    }

    /// The charts' data, with latency buckets ending at `now_ms`.
    pub fn metrics(&self, now_ms: i64) -> MetricsView {
        let s = self.lock();
        let series: Vec<SeriesView> = s
            .series
            .iter()
            .map(|(k, v)| SeriesView {
                name: k.name.clone(),
                unit: v.unit.clone(),
                dimensions: k.dimensions.clone(),
                count: v.count,
                sum: v.sum,
                last: v.points.last().map(|p| p.1),
                points: v
                    .points
                    .iter()
                    .skip(v.points.len().saturating_sub(POINTS_SERVED))
                    .copied()
                    .collect(),
            })
            .collect();
        let total = |name: &str| {
            series
                .iter()
                .filter(|x| x.name == name)
                .map(|x| x.sum)
                .sum::<f64>()
        };
        let (hits, misses, errors) = (
            total("CacheHits"),
            total("CacheMisses"),
            total("CacheErrors"),
        );
        let cache = CacheView {
            hits,
            misses,
            errors,
            ratio: (hits + misses > 0.0).then(|| hits / (hits + misses)),
        };
        let breakers = series
            .iter()
            .filter(|x| x.name == "BreakerState")
            .filter_map(|x| {
                let (time_ms, value) = *x.points.last()?;
                Some(BreakerView {
                    breaker: x.dimensions.get("Breaker").cloned().unwrap_or_default(),
                    function: x.dimensions.get("Function").cloned().unwrap_or_default(),
                    value,
                    state: breaker_state(value).to_owned(),
                    time_ms,
                    points: x.points.clone(),
                })
            })
            .collect();
        let mut routes: BTreeMap<String, RouteAcc> = BTreeMap::new();
        for r in s.requests.iter() {
            let e = routes.entry(r.route.clone()).or_default();
            e.0.clone_from(&r.function);
            e.1.push(r.latency_ms as f64);
            *e.2.entry(format!("{}xx", r.status / 100)).or_default() += 1;
        }
        let routes = routes
            .into_iter()
            .map(|(route, (function, lat, classes))| RouteView {
                route,
                function,
                requests: lat.len() as u64,
                status_classes: classes,
                p50_ms: quantile(&lat, 0.5),
                p99_ms: quantile(&lat, 0.99),
            })
            .collect();
        let first = (now_ms / BUCKET_MS - (BUCKETS - 1)) * BUCKET_MS;
        let latency = (0..BUCKETS)
            .map(|i| {
                let start = first + i * BUCKET_MS;
                let lat: Vec<f64> = s
                    .requests
                    .iter()
                    .filter(|r| r.time_ms >= start && r.time_ms < start + BUCKET_MS)
                    .map(|r| r.latency_ms as f64)
                    .collect();
                LatencyBucket {
                    time_ms: start,
                    requests: lat.len() as u64,
                    p50_ms: quantile(&lat, 0.5),
                    p99_ms: quantile(&lat, 0.99),
                }
            })
            .collect();
        MetricsView {
            emf_lines: s.emf_lines,
            series,
            routes,
            latency,
            cache,
            breakers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(time_ms: i64, route: &str, status: u16, latency_ms: u64) -> RequestEntry {
        RequestEntry {
            time_ms,
            method: "GET".into(),
            path: "/x".into(),
            route: route.into(),
            status,
            latency_ms,
            function: "get-product".into(),
            request_id: format!("r{time_ms}"),
        }
    }

    #[test]
    fn the_nearest_rank_quantile_of_values_is_one_of_them() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&[7.0], 0.99), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn the_store_keeps_only_the_latest_requests() {
        let c = Console::new();
        for i in 0..(REQUESTS as i64 + 20) {
            c.record_request(request(i, "GET /x", 200, 1));
        }
        let kept = c.requests(usize::MAX);
        assert_eq!(kept.len(), REQUESTS);
        assert_eq!(kept[0].time_ms, REQUESTS as i64 + 19, "newest first");
    }

    #[test]
    fn emf_lines_give_cold_starts_latency_cache_ratio_and_breaker_state() {
        let c = Console::new().with_functions(["create-order".to_owned()]);
        let line = |function: &str, body: &str, metrics: &str, dims: &str| {
            format!(
                r#"{{"_aws":{{"Timestamp":1000,"CloudWatchMetrics":[{{"Namespace":"Shop","Dimensions":[["Service","Function"{dims}]],"Metrics":[{metrics}]}}]}},"Service":"shop","Function":"{function}",{body}}}"#
            )
        };
        assert!(c.record_line(&line(
            "get-product",
            r#""ColdStart":1,"Latency":[2,4,6],"CacheHits":3,"CacheMisses":1"#,
            r#"{"Name":"ColdStart"},{"Name":"Latency"},{"Name":"CacheHits"},{"Name":"CacheMisses"}"#,
            ""
        )));
        assert!(c.record_line(&line(
            "capture-payment",
            r#""Breaker":"payment-provider","BreakerState":2"#,
            r#"{"Name":"BreakerState","Unit":"None"}"#,
            r#","Breaker""#
        )));
        assert!(!c.record_line(r#"{"level":"INFO","message":"request"}"#));

        let functions = c.functions();
        let names: Vec<&str> = functions.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            names,
            vec!["capture-payment", "create-order", "get-product"]
        );
        let gp = &functions[2];
        assert_eq!(gp.cold_starts, 1);
        assert_eq!(gp.latency_p50_ms, Some(4.0));
        assert_eq!(gp.latency_p99_ms, Some(6.0));

        let m = c.metrics(10_000);
        assert_eq!(m.emf_lines, 2);
        assert_eq!(m.cache.ratio, Some(0.75));
        assert_eq!(m.breakers.len(), 1);
        assert_eq!(m.breakers[0].state, "open");
        assert_eq!(m.breakers[0].breaker, "payment-provider");
    }

    #[test]
    fn invocations_count_errors_timeouts_and_instances_in_flight() {
        let c = Console::new();
        c.invocation_started("f");
        c.invocation_started("f");
        c.invocation_ended("f", 10.0, Ended::Ok);
        c.invocation_ended("f", 30.0, Ended::Error);
        c.invocation_started("f");
        c.invocation_ended("f", 20.0, Ended::TimedOut);
        let f = &c.functions()[0];
        assert_eq!(
            (
                f.invocations,
                f.errors,
                f.timeouts,
                f.in_flight,
                f.peak_in_flight
            ),
            (3, 1, 1, 0, 2)
        );
        assert_eq!(f.duration_p50_ms, Some(20.0));
    }

    #[test]
    fn requests_are_counted_per_route_and_latency_per_time_bucket() {
        let c = Console::new();
        c.record_request(request(1_000, "GET /x", 200, 5));
        c.record_request(request(2_000, "GET /x", 404, 15));
        c.record_request(request(12_000, "POST /y", 201, 40));
        let m = c.metrics(15_000);
        assert_eq!(m.routes.len(), 2);
        assert_eq!(m.routes[0].requests, 2);
        assert_eq!(m.routes[0].status_classes["2xx"], 1);
        assert_eq!(m.routes[0].status_classes["4xx"], 1);
        assert_eq!(m.latency.len(), BUCKETS as usize);
        let last_two: Vec<u64> = m.latency.iter().rev().take(2).map(|b| b.requests).collect();
        assert_eq!(last_two, vec![1, 2]);
        assert_eq!(m.latency.last().and_then(|b| b.p99_ms), Some(40.0));
    }

    #[test]
    fn envelopes_in_sqs_bodies_and_outbox_stream_images_are_read() {
        let envelope = serde_json::json!({
            "event_id": "e1", "event_type": "OrderPlaced", "schema_version": 1,
            "correlation_id": "req-1", "data": {"order_id": "o-1"}
        });
        let sqs = DeliveredRecord::from_sqs("m1", &envelope.to_string(), Some("Root=1-a-b"));
        assert_eq!(sqs.event_type.as_deref(), Some("OrderPlaced"));
        assert_eq!(sqs.order_id.as_deref(), Some("o-1"));
        assert_eq!(sqs.correlation_id.as_deref(), Some("req-1"));
        assert_eq!(sqs.trace_header.as_deref(), Some("Root=1-a-b"));
        let stream = serde_json::json!({
            "eventName": "INSERT",
            "dynamodb": {"NewImage": {"envelope": {"S": envelope.to_string()}}}
        });
        let s = DeliveredRecord::from_stream("seq-1", &stream);
        assert_eq!(s.event_id.as_deref(), Some("e1"));
        assert_eq!(s.id, "seq-1");
        let garbage = DeliveredRecord::from_sqs("m2", "not json", None);
        assert_eq!(garbage.event_type, None);
        let other =
            DeliveredRecord::from_stream("seq-2", &serde_json::json!({"eventName": "REMOVE"}));
        assert_eq!(other.event_type.as_deref(), Some("REMOVE"));
    }
}
