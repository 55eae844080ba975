//! The metrics every function emits, in CloudWatch Embedded Metric Format (EMF): the catalogue
//! ([`Metric`]), the only functions that emit ([`count`], [`record_ms`], [`gauge`] and the
//! typed helpers below), and the collector ([`init`], [`flush`]) that
//! [`crate::runtime`] installs at cold start and flushes to stdout after every invocation.
//!
//! The catalogue IS what the code emits: a metric name, its unit and its label names exist only
//! here, so the template's dashboard and alarms can be checked against [`catalogue`].
//!
//! # The lines
//! One JSON object per line and per label set (the `metrics_cloudwatch_embedded` collector), with
//! one dimension set: `Service`, `Function`, then the metric's labels in catalogue order.
//! Counters are a number (the increments since the last flush), histograms an array of the
//! values recorded since the last flush (at most 100, the EMF limit), gauges a number:
//!
//! ```text
//! {"_aws":{"Timestamp":1750000000000,"CloudWatchMetrics":[{"Namespace":"Shop","Dimensions":[["Service","Function","Route"]],"Metrics":[{"Name":"Latency","Unit":"Milliseconds"}]}]},"Function":"get-product","Route":"GET /products/{id}","Service":"shop","RequestId":"8f5c…","Latency":[3.2]}
//! {"_aws":{"Timestamp":1750000000000,"CloudWatchMetrics":[{"Namespace":"Shop","Dimensions":[["Service","Function","Route","StatusClass"]],"Metrics":[{"Name":"Requests","Unit":"Count"}]}]},"Function":"get-product","Route":"GET /products/{id}","Service":"shop","StatusClass":"2xx","RequestId":"8f5c…","Requests":1}
//! ```
//!
//! `RequestId` is a property (a root member no dimension names), never a dimension; no id is
//! ever a label value (label values are static strings, bounded enums or API Gateway's
//! `routeKey`). A metric without a unit in the EMF (`BreakerState`) is `None` to CloudWatch.
//!
//! Namespace: env `METRICS_NAMESPACE` (default `Shop`); `Service`: env `SERVICE_NAME` (default
//! `shop`); `Function`: the binary's name, from [`init`]. Specification:
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.
//!
//! Without a collector (handler unit tests, tools) every emission is a no-op.

use std::io;
use std::sync::OnceLock;

use metrics::{Key, KeyName, Label, Level, Metadata, SharedString};
use metrics_cloudwatch_embedded::{Builder, Collector};

use crate::domain::RejectionReason;

/// The namespace when `METRICS_NAMESPACE` is unset or invalid.
pub const DEFAULT_NAMESPACE: &str = "Shop";
/// The `Service` dimension when `SERVICE_NAME` is unset or invalid.
pub const DEFAULT_SERVICE: &str = "shop";
/// The static dimension naming the service (the stack), first in every dimension set.
pub const SERVICE_DIMENSION: &str = "Service";
/// The static dimension naming the function (its binary, `create-order`), second in every set.
pub const FUNCTION_DIMENSION: &str = "Function";
/// The property (not a dimension) carrying the invocation's Lambda request id.
pub const REQUEST_ID_PROPERTY: &str = "RequestId";
/// The label value used when the real one is missing, empty or too long (never free text).
pub const OTHER: &str = "other";
/// The longest label value kept (EMF: a dimension target has at most 1024 characters).
const MAX_LABEL_VALUE: usize = 1024;

/// Every metric the shop emits. See the module doc and the table in [`Metric::ALL`]'s items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `ColdStart` (Count): the first invocation of an instance (every function).
    ColdStart,
    /// `Requests` (Count) by `Route`, `StatusClass` (`2xx`..`5xx`): every HTTP invocation.
    Requests,
    /// `Latency` (Milliseconds, histogram) by `Route`: the handler's time per HTTP invocation.
    Latency,
    /// `BatchSize` (Count): records per consumer invocation (SQS and the stream).
    BatchSize,
    /// `BatchLatency` (Milliseconds, histogram): a consumer's whole invocation.
    BatchLatency,
    /// `RecordsFailed` (Count): records a consumer reported in `batchItemFailures` (the whole
    /// batch when the invocation failed).
    RecordsFailed,
    /// `OrdersPlaced` (Count): a new order committed (create-order; not an idempotent replay).
    OrdersPlaced,
    /// `OrdersConfirmed` (Count): an order moved to `CONFIRMED` (process-orders).
    OrdersConfirmed,
    /// `OrdersRejected` (Count) by `Reason` (`OUT_OF_STOCK`, `PAYMENT_DECLINED`): process-orders.
    OrdersRejected,
    /// `OrdersCancelled` (Count): an order cancelled (cancel-order).
    OrdersCancelled,
    /// `PaymentsCaptured` (Count): a charge decided captured (capture-payment).
    PaymentsCaptured,
    /// `PaymentsDeclined` (Count): a charge decided declined (capture-payment).
    PaymentsDeclined,
    /// `RefundsIssued` (Count): a refund recorded (capture-payment).
    RefundsIssued,
    /// `EventsRelayed` (Count): messages the relay sent to a queue (one per destination).
    EventsRelayed,
    /// `EventsDeadLettered` (Count): stream records the relay sent to its dead-letter queue.
    EventsDeadLettered,
    /// `CacheHits` (Count): reads answered by the cache (a cached absence included).
    CacheHits,
    /// `CacheMisses` (Count): reads that went to the store.
    CacheMisses,
    /// `CacheErrors` (Count): cache calls that failed (the store answered instead).
    CacheErrors,
    /// `BreakerTransitions` (Count) by `Breaker`, `To` (`closed`, `open`, `half_open`).
    BreakerTransitions,
    /// `BreakerState` (None, gauge) by `Breaker`: 0 closed, 1 half-open, 2 open.
    BreakerState,
    /// `Retries` (Count) by `Target` (e.g. `payment-provider`): retried outside-call attempts.
    Retries,
}

/// The functions that read through the cache (`shared::cache::Cached` in their `main.rs`).
pub const CACHED: &[&str] = &[
    "adjust-stock",
    "check-readiness",
    "create-product",
    "create-user",
    "delete-product",
    "delete-user",
    "get-product",
    "get-user",
    "list-products",
    "reserve-stock",
    "update-product",
    "update-user",
];

/// Which functions emit a metric ([`Metric::emitted_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emitters {
    /// Every function (the runtime wrappers).
    Every,
    /// Every HTTP function ([`crate::runtime::http`]).
    Http,
    /// Every event consumer: the SQS consumers and the stream relay ([`crate::runtime::events`]).
    Consumers,
    /// Only these binaries.
    Only(&'static [&'static str]),
    /// The [`CACHED`] functions and one more.
    CachedAnd(&'static str),
}

impl Emitters {
    /// Whether `function` (a binary name) emits the metric; `http` says whether it is an HTTP
    /// function (an API route's) rather than an event consumer.
    pub fn includes(self, function: &str, http: bool) -> bool {
        match self {
            Self::Every => true,
            Self::Http => http,
            Self::Consumers => !http,
            Self::Only(names) => names.contains(&function),
            Self::CachedAnd(name) => name == function || CACHED.contains(&function),
        }
    }
}

/// How a metric aggregates between two flushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Increments summed since the last flush; a number in the EMF (omitted when 0).
    Counter,
    /// Every value since the last flush; an array of numbers in the EMF.
    Histogram,
    /// The last value set; a number in the EMF, on every flush once set.
    Gauge,
}

/// A metric's CloudWatch unit (the subset the catalogue uses; names as in `MetricDatum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// `Count`.
    Count,
    /// `Milliseconds`.
    Milliseconds,
    /// `None` (the EMF's default: the line carries no `Unit`).
    None,
}

impl Unit {
    /// The unit's CloudWatch/EMF string: `Count`, `Milliseconds`, `None`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::None => "None",
        }
    }

    /// The `metrics` crate's unit, which the collector writes; `None` for [`Unit::None`].
    const fn metrics_unit(self) -> Option<metrics::Unit> {
        match self {
            Self::Count => Some(metrics::Unit::Count),
            Self::Milliseconds => Some(metrics::Unit::Milliseconds),
            Self::None => None,
        }
    }
}

impl Metric {
    /// The whole catalogue, in the order of the contract's table.
    pub const ALL: [Metric; 21] = [
        Metric::ColdStart,
        Metric::Requests,
        Metric::Latency,
        Metric::BatchSize,
        Metric::BatchLatency,
        Metric::RecordsFailed,
        Metric::OrdersPlaced,
        Metric::OrdersConfirmed,
        Metric::OrdersRejected,
        Metric::OrdersCancelled,
        Metric::PaymentsCaptured,
        Metric::PaymentsDeclined,
        Metric::RefundsIssued,
        Metric::EventsRelayed,
        Metric::EventsDeadLettered,
        Metric::CacheHits,
        Metric::CacheMisses,
        Metric::CacheErrors,
        Metric::BreakerTransitions,
        Metric::BreakerState,
        Metric::Retries,
    ];

    /// The CloudWatch metric name, e.g. `OrdersPlaced`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ColdStart => "ColdStart",
            Self::Requests => "Requests",
            Self::Latency => "Latency",
            Self::BatchSize => "BatchSize",
            Self::BatchLatency => "BatchLatency",
            Self::RecordsFailed => "RecordsFailed",
            Self::OrdersPlaced => "OrdersPlaced",
            Self::OrdersConfirmed => "OrdersConfirmed",
            Self::OrdersRejected => "OrdersRejected",
            Self::OrdersCancelled => "OrdersCancelled",
            Self::PaymentsCaptured => "PaymentsCaptured",
            Self::PaymentsDeclined => "PaymentsDeclined",
            Self::RefundsIssued => "RefundsIssued",
            Self::EventsRelayed => "EventsRelayed",
            Self::EventsDeadLettered => "EventsDeadLettered",
            Self::CacheHits => "CacheHits",
            Self::CacheMisses => "CacheMisses",
            Self::CacheErrors => "CacheErrors",
            Self::BreakerTransitions => "BreakerTransitions",
            Self::BreakerState => "BreakerState",
            Self::Retries => "Retries",
        }
    }

    /// The unit; [`Unit::as_str`] gives the EMF string.
    pub const fn unit(self) -> Unit {
        match self {
            Self::Latency | Self::BatchLatency => Unit::Milliseconds,
            Self::BreakerState => Unit::None,
            _ => Unit::Count,
        }
    }

    /// The label names (dimensions after `Service` and `Function`), in dimension order.
    pub const fn labels(self) -> &'static [&'static str] {
        match self {
            Self::Requests => &["Route", "StatusClass"],
            Self::Latency => &["Route"],
            Self::OrdersRejected => &["Reason"],
            Self::BreakerTransitions => &["Breaker", "To"],
            Self::BreakerState => &["Breaker"],
            Self::Retries => &["Target"],
            _ => &[],
        }
    }

    /// How it aggregates: histograms for the two latencies, a gauge for `BreakerState`,
    /// counters otherwise.
    pub const fn kind(self) -> Kind {
        match self {
            Self::Latency | Self::BatchLatency => Kind::Histogram,
            Self::BreakerState => Kind::Gauge,
            _ => Kind::Counter,
        }
    }

    /// Which functions emit it (the `Function` dimension values it can have): the dashboard
    /// and alarm cross-check (shared/tests/dashboard.rs) refuses a metric named with a function
    /// that never emits it, which would draw an empty graph.
    pub const fn emitted_by(self) -> Emitters {
        match self {
            Self::ColdStart => Emitters::Every,
            Self::Requests | Self::Latency => Emitters::Http,
            Self::BatchSize | Self::BatchLatency | Self::RecordsFailed => Emitters::Consumers,
            Self::OrdersPlaced => Emitters::Only(&["create-order"]),
            Self::OrdersConfirmed | Self::OrdersRejected => Emitters::Only(&["process-orders"]),
            Self::OrdersCancelled => Emitters::Only(&["cancel-order", "update-order-status"]),
            Self::PaymentsCaptured
            | Self::PaymentsDeclined
            | Self::RefundsIssued
            | Self::Retries => Emitters::Only(&["capture-payment"]),
            Self::EventsRelayed | Self::EventsDeadLettered => Emitters::Only(&["relay-outbox"]),
            Self::CacheHits | Self::CacheMisses | Self::CacheErrors => Emitters::Only(CACHED),
            // The cache's breaker (`cache`) and the payment provider's (`payment-provider`).
            Self::BreakerTransitions | Self::BreakerState => Emitters::CachedAnd("capture-payment"),
        }
    }

    /// Every dimension key of the metric: `Service`, `Function`, then [`Metric::labels`].
    pub fn dimensions(self) -> Vec<&'static str> {
        let mut keys = vec![SERVICE_DIMENSION, FUNCTION_DIMENSION];
        keys.extend_from_slice(self.labels());
        keys
    }
}

/// The catalogue for cross-checks (the template's dashboard and alarms): per metric, in
/// [`Metric::ALL`] order, `(name, EMF unit string, dimension keys)` where the keys are
/// `["Service", "Function", labels...]`, e.g.
/// `("Requests", "Count", ["Service", "Function", "Route", "StatusClass"])`.
pub fn catalogue() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    Metric::ALL
        .iter()
        .map(|m| (m.name(), m.unit().as_str(), m.dimensions()))
        .collect()
}

/// The installed collector; `None` before [`init`] or when it could not be installed.
static COLLECTOR: OnceLock<Option<&'static Collector>> = OnceLock::new();

fn collector() -> Option<&'static Collector> {
    COLLECTOR.get().copied().flatten()
}

/// Installs the EMF collector as the process's `metrics` recorder, once (later calls do
/// nothing): namespace from env `METRICS_NAMESPACE` (default [`DEFAULT_NAMESPACE`]; an invalid
/// one is logged and replaced by the default), static dimensions `Service` (env `SERVICE_NAME`,
/// default [`DEFAULT_SERVICE`]) and `Function` = `function` (the binary's name). Cheap: two
/// environment reads and one small allocation, no I/O. Never fails: when another recorder is
/// already installed it logs a warning and metrics stay no-ops.
pub fn init(function: &'static str) {
    COLLECTOR.get_or_init(|| install(function));
}

fn install(function: &'static str) -> Option<&'static Collector> {
    let namespace = match std::env::var("METRICS_NAMESPACE") {
        Ok(ns) if valid_namespace(&ns) => ns,
        Ok(ns) => {
            tracing::warn!(
                namespace = ns,
                default = DEFAULT_NAMESPACE,
                "METRICS_NAMESPACE is not a CloudWatch namespace; using the default"
            );
            DEFAULT_NAMESPACE.to_owned()
        }
        Err(_) => DEFAULT_NAMESPACE.to_owned(),
    };
    let service = std::env::var("SERVICE_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty() && s.len() <= MAX_LABEL_VALUE)
        .unwrap_or_else(|| DEFAULT_SERVICE.to_owned());
    let installed = Builder::new()
        .cloudwatch_namespace(namespace)
        .with_dimension(SERVICE_DIMENSION, service)
        .with_dimension(FUNCTION_DIMENSION, function)
        .init();
    match installed {
        Ok(collector) => {
            describe_units();
            Some(collector)
        }
        Err(error) => {
            tracing::warn!(%error, "metrics collector not installed; metrics are not emitted");
            None
        }
    }
}

/// Tells the collector each metric's unit (it keys units by name).
fn describe_units() {
    metrics::with_recorder(|recorder| {
        for metric in Metric::ALL {
            let name = KeyName::from_const_str(metric.name());
            let unit = metric.unit().metrics_unit();
            let description = SharedString::const_str("");
            match metric.kind() {
                Kind::Counter => recorder.describe_counter(name, unit, description),
                Kind::Histogram => recorder.describe_histogram(name, unit, description),
                Kind::Gauge => recorder.describe_gauge(name, unit, description),
            }
        }
    });
}

/// Whether `namespace` is a namespace CloudWatch accepts (CloudWatch concepts, "Namespaces"):
/// 1 to 255 ASCII characters among letters, digits, `.`, `-`, `_`, `/`, `#`, `:` and space, at
/// least one not a space, not starting with the reserved `AWS/`.
pub fn valid_namespace(namespace: &str) -> bool {
    (1..=255).contains(&namespace.len())
        && !namespace.starts_with("AWS/")
        && namespace.bytes().any(|b| b != b' ')
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_/#: ".contains(&b))
}

/// Writes every metric emitted since the last flush to `out`, one EMF line per label set, and
/// resets counters and histograms (gauges keep their value). Nothing is written without a
/// collector or without metrics.
///
/// # Errors
/// The writer's.
pub fn flush(out: impl io::Write) -> io::Result<()> {
    match collector() {
        Some(collector) => collector.flush(out),
        None => Ok(()),
    }
}

/// Sets the `RequestId` property written with every line until the next call (the runtime
/// sets it per invocation). No-op without a collector.
pub fn set_request_id(request_id: &str) {
    if let Some(collector) = collector() {
        collector.set_property(REQUEST_ID_PROPERTY, request_id.to_owned());
    }
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The key of `metric` with `values` for its labels (in [`Metric::labels`] order); `None`
/// (logged) when the kind or the number of values is not the catalogue's.
fn key(metric: Metric, kind: Kind, values: &[&str]) -> Option<Key> {
    let names = metric.labels();
    if metric.kind() != kind || names.len() != values.len() {
        tracing::error!(
            metric = metric.name(),
            kind = ?kind,
            labels = values.len(),
            expected_kind = ?metric.kind(),
            expected_labels = names.len(),
            "metric emitted against the catalogue; dropped"
        );
        return None;
    }
    if names.is_empty() {
        return Some(Key::from_static_name(metric.name()));
    }
    let labels: Vec<Label> = names
        .iter()
        .zip(values)
        .map(|(name, value)| Label::new(*name, label_value(value)))
        .collect();
    Some(Key::from_parts(metric.name(), labels))
}

/// A label value as emitted: `value`, or [`OTHER`] when it is empty or longer than 1024 bytes.
fn label_value(value: &str) -> String {
    if value.trim().is_empty() || value.len() > MAX_LABEL_VALUE {
        OTHER.to_owned()
    } else {
        value.to_owned()
    }
}

/// Adds `n` to counter `metric` with `labels` (values in [`Metric::labels`] order, e.g.
/// `count(Metric::Requests, 1, &["GET /products/{id}", "2xx"])`). A call that does not match
/// the catalogue (not a counter, wrong number of labels) is logged and dropped.
pub fn count(metric: Metric, n: u64, labels: &[&str]) {
    if collector().is_none() {
        return;
    }
    if let Some(key) = key(metric, Kind::Counter, labels) {
        metrics::with_recorder(|r| r.register_counter(&key, &METADATA).increment(n));
    }
}

/// Records `ms` milliseconds in histogram `metric` (`Latency`, `BatchLatency`) with `labels`.
/// A call that does not match the catalogue is logged and dropped.
pub fn record_ms(metric: Metric, ms: f64, labels: &[&str]) {
    if collector().is_none() {
        return;
    }
    if let Some(key) = key(metric, Kind::Histogram, labels) {
        metrics::with_recorder(|r| r.register_histogram(&key, &METADATA).record(ms));
    }
}

/// Sets gauge `metric` (`BreakerState`) with `labels` to `value`. A call that does not match
/// the catalogue is logged and dropped.
pub fn gauge(metric: Metric, value: f64, labels: &[&str]) {
    if collector().is_none() {
        return;
    }
    if let Some(key) = key(metric, Kind::Gauge, labels) {
        metrics::with_recorder(|r| r.register_gauge(&key, &METADATA).set(value));
    }
}

/// Counts one of a label-less counter (`OrdersPlaced`, `CacheHits`, ...).
pub fn incr(metric: Metric) {
    count(metric, 1, &[]);
}

/// Counts one `OrdersRejected` with `Reason` = the reason's wire name (`OUT_OF_STOCK`).
pub fn order_rejected(reason: RejectionReason) {
    count(Metric::OrdersRejected, 1, &[reason.as_str()]);
}

/// Counts one `Retries` of outside service `target` (e.g. `payment-provider`).
pub fn retry(target: &str) {
    count(Metric::Retries, 1, &[target]);
}

/// The `StatusClass` label of an HTTP status: `2xx` (also below 200: API Gateway sends no
/// 1xx), `3xx`, `4xx`, `5xx` (also above 599).
pub const fn status_class(status: u16) -> &'static str {
    match status {
        0..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn catalogue_names_are_unique() {
        let names: HashSet<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Metric::ALL.len());
    }

    #[test]
    fn labels_are_non_empty_names_and_never_a_static_dimension() {
        for metric in Metric::ALL {
            for label in metric.labels() {
                assert!(!label.trim().is_empty(), "{}", metric.name());
                assert!(label.bytes().all(|b| b.is_ascii_alphanumeric()), "{label}");
                assert_ne!(*label, SERVICE_DIMENSION, "{}", metric.name());
                assert_ne!(*label, FUNCTION_DIMENSION, "{}", metric.name());
                assert_ne!(*label, REQUEST_ID_PROPERTY, "{}", metric.name());
            }
        }
    }

    #[test]
    fn no_label_name_is_a_metric_name() {
        // Both are root members of a line: one would overwrite the other.
        let names: HashSet<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        for metric in Metric::ALL {
            for label in metric.labels() {
                assert!(!names.contains(label), "{label}");
            }
        }
    }

    #[test]
    fn the_catalogue_matches_the_contract_table() {
        let by_name = |name: &str| {
            catalogue()
                .into_iter()
                .find(|(n, _, _)| *n == name)
                .unwrap()
        };
        assert_eq!(
            by_name("Requests"),
            (
                "Requests",
                "Count",
                vec!["Service", "Function", "Route", "StatusClass"]
            )
        );
        assert_eq!(
            by_name("Latency"),
            (
                "Latency",
                "Milliseconds",
                vec!["Service", "Function", "Route"]
            )
        );
        assert_eq!(
            by_name("BreakerState"),
            (
                "BreakerState",
                "None",
                vec!["Service", "Function", "Breaker"]
            )
        );
        assert_eq!(
            by_name("BreakerTransitions").2,
            vec!["Service", "Function", "Breaker", "To"]
        );
        assert_eq!(by_name("OrdersRejected").2[2], "Reason");
        assert_eq!(by_name("Retries").2[2], "Target");
        assert_eq!(by_name("ColdStart").2, vec!["Service", "Function"]);
    }

    #[test]
    fn status_classes_cover_every_status() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(304), "3xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(500), "5xx");
        assert_eq!(status_class(503), "5xx");
    }

    #[test]
    fn cloudwatch_namespace_rules_are_enforced() {
        assert!(valid_namespace("Shop"));
        assert!(valid_namespace("shop-dev/orders.v2"));
        assert!(!valid_namespace(""));
        assert!(!valid_namespace("   "));
        assert!(!valid_namespace("AWS/Lambda"));
        assert!(!valid_namespace("Shop\u{e9}"));
        assert!(!valid_namespace(&"a".repeat(256)));
    }

    #[test]
    fn emitting_without_a_collector_is_a_no_op() {
        count(Metric::OrdersPlaced, 1, &[]);
        record_ms(Metric::Latency, 1.0, &["GET /x"]);
        gauge(Metric::BreakerState, 2.0, &["cache"]);
        set_request_id("r");
        let mut out = Vec::new();
        flush(&mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn an_empty_or_huge_label_value_becomes_other() {
        assert_eq!(label_value(""), OTHER);
        assert_eq!(label_value(&"x".repeat(1025)), OTHER);
        assert_eq!(label_value("GET /x"), "GET /x");
    }
}
