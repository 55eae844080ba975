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
mod views;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::Value;

use ring::Ring;
pub use views::{
    BUCKET_MS, BUCKETS, BreakerView, CacheView, FunctionView, LatencyBucket, MetricsView,
    POINTS_SERVED, RouteView, SeriesView, breaker_state, quantile,
};

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

/// The console's store: a cheap clonable handle (one `Arc`).
#[derive(Debug, Clone, Default)]
pub struct Console {
    store: Arc<Mutex<Store>>,
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
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(super) fn request(time_ms: i64, route: &str, status: u16, latency_ms: u64) -> RequestEntry {
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
