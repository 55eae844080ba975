//! The EMF lines the shop emits, validated against the Embedded Metric Format specification
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
//! its JSON Schema (`fixtures/emf.schema.json`, copied from the specification) plus the rules
//! the schema does not express. The lines come from the real code: the collector after every
//! catalogue metric, and the runtime wrappers' flush after an HTTP and an SQS invocation.
//!
//! The collector is the process's global `metrics` recorder and the cold start a process-wide
//! flag: these tests rely on one process per test (`cargo nextest`, the project's runner).

// The validator and fixtures live outside `#[test]` functions, where `allow-unwrap-in-tests`
// does not reach; a broken fixture should panic like a failed assertion.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design"
)]

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::FutureExt;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Context, LambdaEvent, Request, RequestExt, Response};
use serde_json::{Map, Value, json};
use shared::metrics::{self, Kind, Metric};
use shared::runtime;
use shared::testing::{ApiRequest, sqs_event};

// ---------------------------------------------------------------------------------------------
// The validator.

/// The units CloudWatch accepts (`MetricDatum`), as the schema's `Unit` pattern lists them.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

fn schema() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(include_str!("fixtures/emf.schema.json")).unwrap();
    jsonschema::draft7::new(&schema).unwrap()
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// CloudWatch namespaces (CloudWatch concepts, "Namespaces"): 1 to 255 ASCII characters among
/// letters, digits, `.-_/#:` and space, at least one not a space; `AWS/` is reserved.
fn namespace_ok(namespace: &str) -> bool {
    (1..=255).contains(&namespace.len())
        && !namespace.starts_with("AWS/")
        && namespace.chars().any(|c| c != ' ')
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c))
}

/// Every rule a line breaks; empty when it is a valid EMF document.
fn violations(validator: &jsonschema::Validator, line: &str) -> Vec<String> {
    let mut broken = Vec::new();
    let document: Value = match serde_json::from_str(line) {
        Ok(document) => document,
        Err(e) => return vec![format!("not JSON: {e}")],
    };
    let Some(root) = document.as_object() else {
        return vec!["the root is not an object".to_owned()];
    };
    broken.extend(
        validator
            .iter_errors(&document)
            .map(|e| format!("schema: {e} at {}", e.instance_path())),
    );
    let aws = &document["_aws"];
    // Timestamp: milliseconds since the epoch; CloudWatch takes up to 2 weeks back, 2 h ahead.
    match aws["Timestamp"].as_i64() {
        Some(ts) if (now_ms() - 14 * 86_400_000..=now_ms() + 7_200_000).contains(&ts) => {}
        other => broken.push(format!("Timestamp {other:?} is not now in epoch ms")),
    }
    let Some(directives) = aws["CloudWatchMetrics"].as_array() else {
        broken.push("no CloudWatchMetrics array".to_owned());
        return broken;
    };
    for directive in directives {
        let namespace = directive["Namespace"].as_str().unwrap_or_default();
        if !namespace_ok(namespace) {
            broken.push(format!("namespace {namespace:?} breaks CloudWatch's rules"));
        }
        let mut dimension_keys = HashSet::new();
        for set in directive["Dimensions"].as_array().into_iter().flatten() {
            let keys = set.as_array().cloned().unwrap_or_default();
            if keys.len() > 30 {
                broken.push(format!("a dimension set has {} keys (max 30)", keys.len()));
            }
            for key in keys {
                let key = key.as_str().unwrap_or_default().to_owned();
                match root.get(&key) {
                    Some(Value::String(value)) if !value.is_empty() && value.len() <= 1024 => {}
                    Some(other) => {
                        broken.push(format!("dimension {key} is {other}, not a 1..=1024 string"));
                    }
                    None => broken.push(format!("dimension {key} is not a root member")),
                }
                dimension_keys.insert(key);
            }
        }
        let definitions = directive["Metrics"].as_array().cloned().unwrap_or_default();
        if definitions.len() > 100 {
            broken.push(format!(
                "{} metrics in a directive (max 100)",
                definitions.len()
            ));
        }
        for definition in definitions {
            let name = definition["Name"].as_str().unwrap_or_default();
            if dimension_keys.contains(name) {
                broken.push(format!("{name} is both a metric and a dimension"));
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                Some(other) => broken.push(format!(
                    "metric {name} is {other}, not a number or up to 100 numbers"
                )),
                None => broken.push(format!("metric {name} is not a root member")),
            }
            if let Some(unit) = definition.get("Unit")
                && !unit.as_str().is_some_and(|u| UNITS.contains(&u))
            {
                broken.push(format!("metric {name} has unit {unit}"));
            }
        }
    }
    broken
}

/// The lines of `out`, each asserted valid EMF.
fn valid_lines(out: &[u8]) -> Vec<Map<String, Value>> {
    let validator = schema();
    let text = std::str::from_utf8(out).unwrap();
    assert!(!text.is_empty(), "nothing was flushed");
    text.lines()
        .map(|line| {
            let broken = violations(&validator, line);
            assert!(broken.is_empty(), "{line}\n{broken:#?}");
            serde_json::from_str(line).unwrap()
        })
        .collect()
}

/// The line that carries metric `name`.
fn line_of<'a>(lines: &'a [Map<String, Value>], name: &str) -> &'a Map<String, Value> {
    lines
        .iter()
        .find(|line| line.contains_key(name))
        .unwrap_or_else(|| panic!("no line carries {name}: {lines:#?}"))
}

/// The metric definitions and dimension set of a line: `[(name, unit)]`, `[key]`.
fn directive(line: &Map<String, Value>) -> (Vec<(String, Option<String>)>, Vec<String>) {
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    let metrics = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Name"].as_str().unwrap().to_owned(),
                m["Unit"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let dimensions = directive["Dimensions"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    (metrics, dimensions)
}

/// A representative value for each label of the catalogue.
fn sample(label: &str) -> &'static str {
    match label {
        "Route" => "GET /products/{id}",
        "StatusClass" => "2xx",
        "Reason" => "OUT_OF_STOCK",
        "Breaker" => "payment-provider",
        "To" => "open",
        "Target" => "payment-provider",
        other => panic!("no sample for label {other}: add one"),
    }
}

/// A valid line to break in the negative tests.
fn good_line() -> Value {
    json!({
        "_aws": {
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": "Shop",
                "Dimensions": [["Service", "Function", "Route"]],
                "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]
            }]
        },
        "Service": "shop",
        "Function": "get-product",
        "Route": "GET /products/{id}",
        "RequestId": "r-1",
        "Latency": [3.2, 4.1]
    })
}

// ---------------------------------------------------------------------------------------------
// The validator itself.

#[test]
fn the_validator_accepts_the_specifications_own_shape() {
    let validator = schema();

    let broken = violations(&validator, &good_line().to_string());

    assert!(broken.is_empty(), "{broken:#?}");
}

/// A change that breaks one rule of a valid line.
type Mutation = dyn Fn(&mut Value);

#[test]
fn the_validator_rejects_every_kind_of_broken_line() {
    let validator = schema();
    let mutations: Vec<(&str, Box<Mutation>)> = vec![
        ("no _aws", Box::new(|l| l["_aws"] = Value::Null)),
        (
            "a metric that is not a root member",
            Box::new(|l| {
                l.as_object_mut().unwrap().remove("Latency");
            }),
        ),
        (
            "a dimension that is not a root member",
            Box::new(|l| {
                l.as_object_mut().unwrap().remove("Route");
            }),
        ),
        (
            "a dimension that is a number",
            Box::new(|l| l["Route"] = json!(7)),
        ),
        (
            "a metric value that is text",
            Box::new(|l| l["Latency"] = json!("3.2")),
        ),
        (
            "101 values",
            Box::new(|l| l["Latency"] = json!(vec![1.0; 101])),
        ),
        (
            "31 dimensions",
            Box::new(|l| {
                let keys: Vec<String> = (0..31).map(|i| format!("D{i}")).collect();
                for key in &keys {
                    l[key.as_str()] = json!("x");
                }
                l["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([keys]);
            }),
        ),
        (
            "101 metrics",
            Box::new(|l| {
                let names: Vec<Value> = (0..101)
                    .map(|i| {
                        l[format!("M{i}").as_str()] = json!(1);
                        json!({"Name": format!("M{i}")})
                    })
                    .collect();
                l["_aws"]["CloudWatchMetrics"][0]["Metrics"] = Value::Array(names);
            }),
        ),
        (
            "an unknown unit",
            Box::new(|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("ms")),
        ),
        (
            "a reserved namespace",
            Box::new(|l| l["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!("AWS/Lambda")),
        ),
        (
            "an empty namespace",
            Box::new(|l| l["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!("")),
        ),
        (
            "a timestamp in seconds",
            Box::new(|l| l["_aws"]["Timestamp"] = json!(now_ms() / 1000)),
        ),
        (
            "a timestamp that is text",
            Box::new(|l| l["_aws"]["Timestamp"] = json!("2025-01-01")),
        ),
        (
            "no dimension set",
            Box::new(|l| l["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([])),
        ),
    ];

    for (what, mutate) in mutations {
        let mut line = good_line();
        mutate(&mut line);

        let broken = violations(&validator, &line.to_string());

        assert!(!broken.is_empty(), "{what} was accepted: {line}");
    }
}

// ---------------------------------------------------------------------------------------------
// The lines of the real code.

#[test]
fn every_catalogue_metric_flushes_as_a_valid_emf_line_with_its_unit_and_dimensions() {
    metrics::init("emf-test");
    for metric in Metric::ALL {
        let labels: Vec<&str> = metric.labels().iter().map(|l| sample(l)).collect();
        match metric.kind() {
            Kind::Counter => metrics::count(metric, 2, &labels),
            Kind::Histogram => metrics::record_ms(metric, 12.5, &labels),
            Kind::Gauge => metrics::gauge(metric, 2.0, &labels),
        }
    }
    metrics::set_request_id("req-emf");
    let mut out = Vec::new();

    metrics::flush(&mut out).unwrap();

    let lines = valid_lines(&out);
    for metric in Metric::ALL {
        let line = line_of(&lines, metric.name());
        let (definitions, dimensions) = directive(line);
        let unit = definitions
            .iter()
            .find(|(name, _)| name == metric.name())
            .map(|(_, unit)| unit.clone().unwrap_or_else(|| "None".to_owned()));
        assert_eq!(
            unit.as_deref(),
            Some(metric.unit().as_str()),
            "{}",
            metric.name()
        );
        assert_eq!(dimensions, metric.dimensions(), "{}", metric.name());
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Shop");
        assert_eq!(line["Service"], "shop");
        assert_eq!(line["Function"], "emf-test");
        assert_eq!(line["RequestId"], "req-emf");
        match metric.kind() {
            Kind::Histogram => assert_eq!(line[metric.name()], json!([12.5])),
            Kind::Counter => assert_eq!(line[metric.name()], json!(2)),
            Kind::Gauge => assert_eq!(line[metric.name()], json!(2.0)),
        }
    }
}

#[test]
fn a_flush_resets_counters_and_histograms() {
    metrics::init("emf-test");
    metrics::incr(Metric::OrdersPlaced);
    metrics::record_ms(Metric::BatchLatency, 1.0, &[]);
    metrics::flush(std::io::sink()).unwrap();
    let mut out = Vec::new();

    metrics::flush(&mut out).unwrap();

    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
}

#[test]
fn an_emission_against_the_catalogue_is_dropped() {
    metrics::init("emf-test");
    metrics::count(Metric::Requests, 1, &["GET /x"]); // one label short
    metrics::count(Metric::Latency, 1, &["GET /x"]); // a histogram counted
    metrics::gauge(Metric::OrdersPlaced, 1.0, &[]); // a counter set
    let mut out = Vec::new();

    metrics::flush(&mut out).unwrap();

    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
}

/// `GET /products/{id}` through API Gateway, or (`routed` false) a bare request without a
/// request context; with a Lambda context either way.
fn request(routed: bool) -> Request {
    let req = if routed {
        ApiRequest::new("GET", "/products/{id}")
            .path("id", "p-1")
            .build()
    } else {
        lambda_http::Request::new(Body::Empty)
    };
    let mut context = Context::default();
    context.request_id = "lambda-req-1".to_owned();
    req.with_lambda_context(context)
}

async fn not_found(_req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    Ok(Response::builder()
        .status(StatusCode::NOT_FOUND)
        .body(Body::Empty)
        .unwrap())
}

#[tokio::test]
async fn the_http_wrapper_flushes_valid_emf_with_the_route_and_status_class() {
    metrics::init("get-product");
    let mut out = Vec::new();

    let response = runtime::serve_http(&not_found, request(true), &mut out)
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let lines = valid_lines(&out);
    let requests = line_of(&lines, "Requests");
    assert_eq!(requests["Route"], "GET /products/{id}");
    assert_eq!(requests["StatusClass"], "4xx");
    assert_eq!(requests["Requests"], 1);
    assert_eq!(requests["RequestId"], "lambda-req-1");
    assert_eq!(requests["Function"], "get-product");
    let latency = line_of(&lines, "Latency");
    assert_eq!(latency["Route"], "GET /products/{id}");
    assert_eq!(latency["Latency"].as_array().unwrap().len(), 1);
    assert_eq!(line_of(&lines, "ColdStart")["ColdStart"], 1);
}

#[tokio::test]
async fn only_the_first_invocation_of_an_instance_counts_a_cold_start() {
    metrics::init("get-product");
    let mut first = Vec::new();
    let mut second = Vec::new();

    runtime::serve_http(&not_found, request(true), &mut first)
        .await
        .unwrap();
    runtime::serve_http(&not_found, request(true), &mut second)
        .await
        .unwrap();

    assert_eq!(line_of(&valid_lines(&first), "ColdStart")["ColdStart"], 1);
    let second = valid_lines(&second);
    assert!(
        second.iter().all(|l| !l.contains_key("ColdStart")),
        "{second:#?}"
    );
    assert_eq!(line_of(&second, "Requests")["Requests"], 1);
}

#[tokio::test]
async fn a_request_without_a_route_key_is_counted_as_route_other() {
    metrics::init("health");
    let mut out = Vec::new();

    runtime::serve_http(&not_found, request(false), &mut out)
        .await
        .unwrap();

    assert_eq!(line_of(&valid_lines(&out), "Requests")["Route"], "other");
}

async fn panics(_req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    panic!("a handler bug")
}

#[tokio::test]
async fn a_failing_or_panicking_http_handler_still_flushes_a_5xx() {
    metrics::init("get-product");
    let failing = |_req: Request| async { Err::<Response<Body>, _>("boom") };
    let mut failed = Vec::new();
    let mut panicked = Vec::new();

    let error = runtime::serve_http(&failing, request(true), &mut failed).await;
    let unwound =
        std::panic::AssertUnwindSafe(runtime::serve_http(&panics, request(true), &mut panicked))
            .catch_unwind()
            .await;

    assert!(error.is_err());
    assert!(unwound.is_err(), "the handler should have panicked");
    assert_eq!(
        line_of(&valid_lines(&failed), "Requests")["StatusClass"],
        "5xx"
    );
    assert_eq!(
        line_of(&valid_lines(&panicked), "Requests")["StatusClass"],
        "5xx"
    );
}

fn sqs(records: usize) -> LambdaEvent<SqsEvent> {
    let ids: Vec<String> = (0..records).map(|i| format!("m-{i}")).collect();
    let records: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "{}")).collect();
    let mut context = Context::default();
    context.request_id = "lambda-req-2".to_owned();
    LambdaEvent::new(sqs_event(&records), context)
}

async fn fail_the_second(
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, std::convert::Infallible> {
    let mut response = SqsBatchResponse::default();
    if let Some(id) = event
        .payload
        .records
        .get(1)
        .and_then(|r| r.message_id.clone())
    {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}

#[tokio::test]
async fn the_events_wrapper_flushes_valid_emf_with_batch_size_latency_and_failures() {
    metrics::init("process-orders");
    let mut out = Vec::new();

    let response = runtime::serve_events(&fail_the_second, sqs(3), &mut out)
        .await
        .unwrap();

    assert_eq!(response.batch_item_failures.len(), 1);
    let lines = valid_lines(&out);
    let batch = line_of(&lines, "BatchSize");
    assert_eq!(batch["BatchSize"], 3);
    assert_eq!(batch["RecordsFailed"], 1);
    assert_eq!(batch["RequestId"], "lambda-req-2");
    assert_eq!(batch["Function"], "process-orders");
    assert_eq!(batch["BatchLatency"].as_array().unwrap().len(), 1);
    assert_eq!(line_of(&lines, "ColdStart")["ColdStart"], 1);
}

#[tokio::test]
async fn a_failing_consumer_counts_its_whole_batch_as_failed() {
    metrics::init("reserve-stock");
    let failing = |_event: LambdaEvent<SqsEvent>| async { Err::<SqsBatchResponse, _>("boom") };
    let mut out = Vec::new();

    let result = runtime::serve_events(&failing, sqs(4), &mut out).await;

    assert!(result.is_err());
    assert_eq!(
        line_of(&valid_lines(&out), "RecordsFailed")["RecordsFailed"],
        4
    );
}

/// One span opened: its name, its fields (`(name, value)`) and its parent's name.
type OpenedSpan = (String, Vec<(String, String)>, Option<String>);

/// Every span opened.
#[derive(Clone, Default)]
struct Spans(std::sync::Arc<std::sync::Mutex<Vec<OpenedSpan>>>);

struct Fields(Vec<(String, String)>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl<S> tracing_subscriber::Layer<S> for Spans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = Fields(Vec::new());
        attrs.record(&mut fields);
        let parent = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|parent| parent.name().to_owned());
        self.0
            .lock()
            .unwrap()
            .push((attrs.metadata().name().to_owned(), fields.0, parent));
    }
}

#[tokio::test]
async fn the_http_wrapper_runs_the_handler_in_an_http_request_span_under_the_runtimes() {
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;

    metrics::init("get-product");
    let spans = Spans::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let handler = |req: Request| async move {
        let _inner = tracing::info_span!("inside_the_handler").entered();
        not_found(req).await
    };
    // What lambda_runtime's TracingLayer opens around every invocation.
    let runtime_span = tracing::info_span!("Lambda runtime invoke", requestId = "lambda-req-1");

    runtime::serve_http(&handler, request(true), std::io::sink())
        .instrument(runtime_span)
        .await
        .unwrap();

    let spans = spans.0.lock().unwrap().clone();
    let (_, fields, parent) = spans
        .iter()
        .find(|(name, _, _)| name == "http_request")
        .unwrap_or_else(|| panic!("no http_request span: {spans:?}"));
    assert_eq!(parent.as_deref(), Some("Lambda runtime invoke"));
    assert!(
        fields.contains(&("route".to_owned(), "GET /products/{id}".to_owned())),
        "{fields:?}"
    );
    // The sample event's API Gateway request id (ApiRequest sets `req-test`).
    assert!(
        fields.contains(&("correlation_id".to_owned(), "req-test".to_owned())),
        "{fields:?}"
    );
    let inner = spans
        .iter()
        .find(|(name, _, _)| name == "inside_the_handler")
        .unwrap();
    assert_eq!(inner.2.as_deref(), Some("http_request"));
}
