//! The DynamoDB stream event source mapping against the real emulator (moto server on
//! `AWS_ENDPOINT_URL`) with a stand-in Invoke API: order and shape of the records, partial
//! batch failures, function errors and retry limits, filtering, and checkpoints across restarts.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use devstack::filter::Pattern;
use devstack::invoke::Invoker;
use devstack::provision::{Provisioned, provision};
use devstack::streams::{StreamMapping, run};
use devstack::template::{StartingPosition, Template};
use serde_json::{Value, json};
use tokio::sync::watch;

fn unique_prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// A stand-in for `cargo lambda watch`. Per record id (`id` of the item): `fail-once*` is
/// reported in `batchItemFailures` the first time, `crash-once*` makes the first invocation
/// that carries it an error, `crash-always*` makes every one an error.
#[derive(Clone, Default)]
struct FakeFunction {
    batches: Arc<Mutex<Vec<Vec<Value>>>>,
    failed_once: Arc<Mutex<HashSet<String>>>,
}

impl FakeFunction {
    /// Item ids in delivery order, one per delivered record.
    fn ids(&self) -> Vec<String> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .map(item_id)
            .collect()
    }

    fn batch_ids(&self) -> Vec<Vec<String>> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .map(|b| b.iter().map(item_id).collect())
            .collect()
    }
}

fn item_id(record: &Value) -> String {
    let d = &record["dynamodb"];
    d["NewImage"]["id"]["S"]
        .as_str()
        .or_else(|| d["Keys"]["id"]["S"].as_str())
        .unwrap_or_default()
        .to_owned()
}

async fn fake_invoke(
    State(f): State<FakeFunction>,
    Json(event): Json<Value>,
) -> axum::response::Response {
    let records = event["Records"].as_array().cloned().unwrap_or_default();
    f.batches.lock().unwrap().push(records.clone());
    let mut failures = Vec::new();
    let mut crash = false;
    for r in &records {
        let id = item_id(r);
        let first_time = f.failed_once.lock().unwrap().insert(id.clone());
        crash |= id.starts_with("crash-always") || (id.starts_with("crash-once") && first_time);
        if id.starts_with("fail-once") && first_time {
            failures.push(json!({ "itemIdentifier": r["dynamodb"]["SequenceNumber"] }));
        }
    }
    if crash {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    Json(json!({ "batchItemFailures": failures })).into_response()
}

async fn start_fake() -> (FakeFunction, Invoker) {
    let fake = FakeFunction::default();
    let app = axum::Router::new()
        .route(
            "/2015-03-31/functions/{name}/invocations",
            axum::routing::post(fake_invoke),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, Invoker::new(&format!("http://{addr}")))
}

struct Fixture {
    sdk: aws_config::SdkConfig,
    provisioned: Provisioned,
}

impl Fixture {
    async fn new() -> Self {
        let sdk = devstack::aws::sdk_config().await;
        let template = Template::load(&devstack::workspace_root().join("template.yaml")).unwrap();
        let provisioned = provision(&template, &sdk, &unique_prefix()).await.unwrap();
        Self { sdk, provisioned }
    }

    fn table(&self) -> &str {
        &self.provisioned.tables["OutboxTable"]
    }

    fn mapping(&self) -> StreamMapping {
        StreamMapping {
            function_id: "RelayOutboxFunction".into(),
            function: "relay-outbox".into(),
            timeout: Duration::from_secs(5),
            event_name: "Outbox".into(),
            table_id: "OutboxTable".into(),
            stream_arn: self.provisioned.streams["OutboxTable"].clone(),
            starting_position: StartingPosition::TrimHorizon,
            batch_size: 100,
            batching_window: Duration::ZERO,
            maximum_retry_attempts: None,
            maximum_record_age: None,
            bisect_batch_on_function_error: false,
            report_batch_item_failures: true,
            filters: vec![],
            region: "us-east-1".into(),
            checkpoint_file: None,
        }
    }

    async fn put(&self, id: &str, n: i64) {
        aws_sdk_dynamodb::Client::new(&self.sdk)
            .put_item()
            .table_name(self.table())
            .item("id", AttributeValue::S(id.into()))
            .item("n", AttributeValue::N(n.to_string()))
            .send()
            .await
            .unwrap();
    }

    async fn delete(&self, id: &str) {
        aws_sdk_dynamodb::Client::new(&self.sdk)
            .delete_item()
            .table_name(self.table())
            .key("id", AttributeValue::S(id.into()))
            .send()
            .await
            .unwrap();
    }

    fn streams_client(&self) -> aws_sdk_dynamodbstreams::Client {
        aws_sdk_dynamodbstreams::Client::new(&self.sdk)
    }
}

/// A running mapping, stopped on [`Running::stop`].
struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(f: &Fixture, mapping: StreamMapping, invoker: &Invoker) -> Self {
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(run(mapping, f.streams_client(), invoker.clone(), rx));
        Self { stop, task }
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn records_reach_the_function_in_stream_order_shaped_like_lambdas_dynamodb_event() {
    let f = Fixture::new().await;
    let (fake, invoker) = start_fake().await;
    for i in 1..=3 {
        f.put(&format!("a{i}"), i).await;
    }

    let running = Running::start(&f, f.mapping(), &invoker);
    until("3 records", || fake.ids().len() >= 3).await;
    f.put("a4", 4).await;
    f.put("a5", 5).await;
    until("5 records", || fake.ids().len() >= 5).await;
    running.stop().await;

    assert_eq!(fake.ids(), ["a1", "a2", "a3", "a4", "a5"]);
    let records: Vec<Value> = fake.batches.lock().unwrap().concat();
    let event: aws_lambda_events::dynamodb::Event =
        serde_json::from_value(json!({ "Records": records })).unwrap();
    let stream_arn = &f.provisioned.streams["OutboxTable"];
    let mut last_seq = 0u128;
    for (i, r) in event.records.iter().enumerate() {
        assert_eq!(r.event_name, "INSERT");
        assert_eq!(r.event_source.as_deref(), Some("aws:dynamodb"));
        assert_eq!(r.event_version.as_deref(), Some("1.1"));
        assert_eq!(r.event_source_arn.as_deref(), Some(stream_arn.as_str()));
        assert_eq!(r.aws_region, "us-east-1");
        assert!(!r.event_id.is_empty());
        let n: i64 = serde_dynamo::from_attribute_value(r.change.new_image["n"].clone()).unwrap();
        assert_eq!(n, i64::try_from(i).unwrap() + 1);
        assert_eq!(
            r.change.stream_view_type,
            Some(aws_lambda_events::dynamodb::StreamViewType::NewImage)
        );
        assert!(r.change.size_bytes > 0);
        let seq: u128 = r
            .change
            .sequence_number
            .as_deref()
            .unwrap()
            .parse()
            .unwrap();
        assert!(seq > last_seq, "sequence numbers increase");
        last_seq = seq;
    }
    // The raw JSON has exactly the fields Lambda sends.
    let mut keys: Vec<&str> = records[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "awsRegion",
            "dynamodb",
            "eventID",
            "eventName",
            "eventSource",
            "eventSourceARN",
            "eventVersion"
        ]
    );
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_reported_failure_is_redelivered_from_its_sequence_number_and_earlier_records_are_not() {
    let f = Fixture::new().await;
    let (fake, invoker) = start_fake().await;
    for (i, id) in ["b1", "fail-once-b2", "b3"].iter().enumerate() {
        f.put(id, i64::try_from(i).unwrap()).await;
    }

    let running = Running::start(&f, f.mapping(), &invoker);
    until("the retry", || fake.ids().len() >= 5).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // nothing more may come
    running.stop().await;

    assert_eq!(
        fake.batch_ids(),
        [vec!["b1", "fail-once-b2", "b3"], vec!["fail-once-b2", "b3"]]
    );
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_function_error_retries_the_whole_batch_and_a_retry_limit_discards_it() {
    let f = Fixture::new().await;
    let (fake, invoker) = start_fake().await;
    f.put("crash-once-c1", 1).await;
    f.put("c2", 2).await;

    let running = Running::start(&f, f.mapping(), &invoker);
    until("the retry", || fake.ids().len() >= 4).await;
    running.stop().await;
    assert_eq!(
        fake.batch_ids(),
        [vec!["crash-once-c1", "c2"], vec!["crash-once-c1", "c2"]]
    );

    // With MaximumRetryAttempts 1, a batch that always fails is tried twice, then skipped.
    let f = Fixture::new().await;
    let (fake, invoker) = start_fake().await;
    f.put("crash-always-d1", 1).await;
    let mapping = StreamMapping {
        maximum_retry_attempts: Some(1),
        ..f.mapping()
    };
    let running = Running::start(&f, mapping, &invoker);
    until("two attempts", || fake.ids().len() >= 2).await;
    f.put("d2", 2).await;
    until("the next record", || fake.ids().contains(&"d2".to_owned())).await;
    running.stop().await;
    assert_eq!(
        fake.batch_ids(),
        [vec!["crash-always-d1"], vec!["crash-always-d1"], vec!["d2"]]
    );
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn bisecting_isolates_the_record_that_makes_the_function_fail() {
    let f = Fixture::new().await;
    let (fake, invoker) = start_fake().await;
    for (i, id) in ["e1", "e2", "e3", "crash-always-e4"].iter().enumerate() {
        f.put(id, i64::try_from(i).unwrap()).await;
    }
    let mapping = StreamMapping {
        maximum_retry_attempts: Some(0),
        bisect_batch_on_function_error: true,
        ..f.mapping()
    };

    let running = Running::start(&f, mapping, &invoker);
    f.put("e5", 5).await;
    // Records of the batches the function took without failing.
    let delivered_ok = || -> Vec<String> {
        fake.batch_ids()
            .iter()
            .filter(|b| !b.iter().any(|id| id.starts_with("crash")))
            .flatten()
            .cloned()
            .collect()
    };
    until("the record after the bad one", || {
        delivered_ok().contains(&"e5".to_owned())
    })
    .await;
    running.stop().await;

    let batches = fake.batch_ids();
    let delivered_ok = delivered_ok();
    assert_eq!(delivered_ok, ["e1", "e2", "e3", "e5"], "{batches:?}");
    assert_eq!(
        batches
            .iter()
            .filter(|b| **b == ["crash-always-e4"])
            .count(),
        1,
        "alone, the bad record fails once (no retry) and is discarded: {batches:?}"
    );
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_filter_drops_modify_and_remove_and_a_restart_resumes_after_the_checkpoint() {
    let f = Fixture::new().await;
    let (fake, invoker) = start_fake().await;
    let checkpoint: PathBuf =
        std::env::temp_dir().join(format!("devstack-test-{}.json", uuid::Uuid::new_v4()));
    let mapping = StreamMapping {
        filters: vec![Pattern::parse(&json!({"eventName": ["INSERT"]})).unwrap()],
        checkpoint_file: Some(checkpoint.clone()),
        ..f.mapping()
    };
    f.put("f1", 1).await; // INSERT
    f.put("f1", 2).await; // MODIFY
    f.put("f2", 1).await; // INSERT
    f.delete("f1").await; // REMOVE

    let running = Running::start(&f, mapping.clone(), &invoker);
    until("two inserts", || fake.ids().len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    running.stop().await;
    let names: Vec<String> = fake
        .batches
        .lock()
        .unwrap()
        .concat()
        .iter()
        .map(|r| r["eventName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fake.ids(), ["f1", "f2"]);
    assert_eq!(names, ["INSERT", "INSERT"]);

    // A restart (TRIM_HORIZON) continues after the checkpoint: nothing old comes again.
    let running = Running::start(&f, mapping, &invoker);
    f.put("f3", 1).await;
    until("the new insert", || fake.ids().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    running.stop().await;
    assert_eq!(fake.ids(), ["f1", "f2", "f3"]);
    let saved: Value = serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert_eq!(
        saved["stream_arn"],
        json!(f.provisioned.streams["OutboxTable"])
    );
    let _ = std::fs::remove_file(checkpoint);
}
