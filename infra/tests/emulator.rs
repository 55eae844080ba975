//! devstack against the real AWS API emulator (moto server on `AWS_ENDPOINT_URL`, started by
//! `make test`): provisioning from the template, the SQS event source mapping's failure
//! semantics and concurrency with a stand-in Invoke API, `devstack dlq` list and redrive, and
//! the LocalStack init script.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use devstack::esm::{Mapping, poll_once};
use devstack::invoke::Invoker;
use devstack::provision::{ProvisionOptions, Provisioned, provision_with, table_plans};
use devstack::template::Template;
use serde_json::{Value, json};

fn template() -> Template {
    Template::load(&devstack::workspace_root().join("template.yaml")).unwrap()
}

fn unique_prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

async fn provision(prefix: &str, visibility: Option<u32>) -> (aws_config::SdkConfig, Provisioned) {
    let sdk = devstack::aws::sdk_config().await;
    let options = ProvisionOptions {
        prefix: prefix.to_owned(),
        visibility_timeout_override: visibility,
        ..ProvisionOptions::default()
    };
    let p = provision_with(&template(), &sdk, &options).await.unwrap();
    (sdk, p)
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn provisioning_creates_every_table_and_queue_with_its_redrive_policy() {
    let prefix = unique_prefix();
    let (sdk, p) = provision(&prefix, None).await;

    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    for plan in table_plans(&template(), &prefix).unwrap() {
        let t = dynamo
            .describe_table()
            .table_name(&plan.name)
            .send()
            .await
            .unwrap();
        let key = &t.table.unwrap().key_schema.unwrap()[0];
        let declared = plan.create["KeySchema"][0]["AttributeName"]
            .as_str()
            .unwrap();
        assert_eq!(key.attribute_name, declared, "table {}", plan.name);
        assert!(["id", "name"].contains(&declared), "table {}", plan.name);
    }
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&p.queues["OrdersQueue"].url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let redrive: Value = serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["deadLetterTargetArn"],
        p.queues["OrdersDeadLetterQueue"].arn
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "5"
    );
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "60");
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn provisioning_again_reuses_the_existing_resources() {
    let prefix = unique_prefix();
    let (_, first) = provision(&prefix, None).await;
    let (_, second) = provision(&prefix, Some(5)).await;
    assert_eq!(first.tables, second.tables);
    assert_eq!(first.queues, second.queues);
}

/// A stand-in for `cargo lambda watch`: records bodies it sees; a record whose body has
/// `"fail"` is reported in `batchItemFailures`; a batch with `"crash"` is an invocation error.
#[derive(Clone, Default)]
struct FakeFunction {
    seen: Arc<Mutex<Vec<String>>>,
}

async fn fake_invoke(
    State(f): State<FakeFunction>,
    Json(event): Json<Value>,
) -> axum::response::Response {
    let records = event["Records"].as_array().cloned().unwrap_or_default();
    let mut failures = Vec::new();
    let mut crash = false;
    for r in &records {
        let body = r["body"].as_str().unwrap_or_default().to_owned();
        crash |= body.contains("crash");
        if body.contains("fail") {
            failures.push(json!({ "itemIdentifier": r["messageId"] }));
        }
        f.seen.lock().unwrap().push(body);
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

fn mapping(p: &Provisioned) -> Mapping {
    let q = &p.queues["OrdersQueue"];
    Mapping {
        function_id: "ProcessOrdersFunction".into(),
        function: "process-orders".into(),
        timeout: Duration::from_secs(5),
        queue_id: "OrdersQueue".into(),
        queue_url: q.url.clone(),
        queue_arn: q.arn.clone(),
        batch_size: 10,
        batching_window: Duration::from_millis(300),
        report_batch_item_failures: true,
        region: "us-east-1".into(),
        max_concurrency: 1,
    }
}

async fn bodies_in(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    out.messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body)
        .collect()
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_reported_failure_is_retried_alone_and_reaches_the_dlq_after_max_receive_count() {
    let prefix = unique_prefix();
    let (sdk, p) = provision(&prefix, Some(1)).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (fake, invoker) = start_fake().await;
    let m = mapping(&p);
    for body in [r#"{"ok":1}"#, r#"{"fail":1}"#] {
        sqs.send_message()
            .queue_url(&m.queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    // Poll until the failing record has moved to the DLQ (5 receives, 1 s visibility each).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let dlq = &p.queues["OrdersDeadLetterQueue"].url;
    let mut dead = Vec::new();
    while dead.is_empty() && tokio::time::Instant::now() < deadline {
        poll_once(&m, &sqs, &invoker).await.unwrap();
        dead = bodies_in(&sqs, dlq).await;
    }

    assert_eq!(dead, vec![r#"{"fail":1}"#.to_owned()]);
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().filter(|b| b.contains("ok")).count(),
        1,
        "the good record ran once"
    );
    assert_eq!(
        seen.iter().filter(|b| b.contains("fail")).count(),
        5,
        "maxReceiveCount is 5"
    );
    assert!(bodies_in(&sqs, &m.queue_url).await.is_empty());
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn an_invocation_error_keeps_the_whole_batch_on_the_queue() {
    let prefix = unique_prefix();
    let (sdk, p) = provision(&prefix, Some(1)).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (_fake, invoker) = start_fake().await;
    let m = mapping(&p);
    for body in [r#"{"ok":2}"#, r#"{"crash":1}"#] {
        sqs.send_message()
            .queue_url(&m.queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let mut outcome = None;
    while outcome
        .as_ref()
        .is_none_or(|o: &devstack::esm::BatchOutcome| o.received < 2)
    {
        outcome = poll_once(&m, &sqs, &invoker).await.unwrap().or(outcome);
        if outcome.as_ref().is_some_and(|o| o.received < 2) {
            tokio::time::sleep(Duration::from_millis(1200)).await; // let both come back
            outcome = None;
        }
    }

    let o = outcome.unwrap();
    assert_eq!(o.deleted, 0);
    assert!(o.failure.unwrap().contains("invocation failed"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut back = bodies_in(&sqs, &m.queue_url).await;
    back.sort();
    assert_eq!(
        back,
        vec![r#"{"crash":1}"#.to_owned(), r#"{"ok":2}"#.to_owned()]
    );
}

/// A stand-in function that takes `delay` per invocation and records the most invocations
/// in flight at once.
#[derive(Clone, Default)]
struct SlowFunction {
    in_flight: Arc<Mutex<(usize, usize)>>,
    records: Arc<Mutex<usize>>,
}

async fn slow_invoke(
    State(f): State<SlowFunction>,
    Json(event): Json<Value>,
) -> axum::response::Response {
    {
        let mut g = f.in_flight.lock().unwrap();
        g.0 += 1;
        g.1 = g.1.max(g.0);
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    f.in_flight.lock().unwrap().0 -= 1;
    *f.records.lock().unwrap() += event["Records"].as_array().map_or(0, Vec::len);
    Json(json!({ "batchItemFailures": [] })).into_response()
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn the_sqs_mapping_runs_up_to_max_concurrency_batches_of_one_queue_at_once() {
    let prefix = unique_prefix();
    let (sdk, p) = provision(&prefix, None).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let slow = SlowFunction::default();
    let app = axum::Router::new()
        .route(
            "/2015-03-31/functions/{name}/invocations",
            axum::routing::post(slow_invoke),
        )
        .with_state(slow.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let m = Mapping {
        batch_size: 1,
        batching_window: Duration::ZERO,
        max_concurrency: 4,
        ..mapping(&p)
    };
    for i in 0..12 {
        sqs.send_message()
            .queue_url(&m.queue_url)
            .message_body(format!(r#"{{"n":{i}}}"#))
            .send()
            .await
            .unwrap();
    }

    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(devstack::esm::run(
        m,
        sqs.clone(),
        Invoker::new(&format!("http://{addr}")),
        rx,
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while *slow.records.lock().unwrap() < 12 {
        assert!(tokio::time::Instant::now() < deadline, "not all delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    let _ = task.await;

    let most = slow.in_flight.lock().unwrap().1;
    assert!((2..=4).contains(&most), "{most} batches in flight at most");
}

async fn devstack_cli(prefix: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_devstack"))
        .current_dir(devstack::workspace_root())
        .args(["--stack-name", prefix])
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "devstack {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_dead_message_is_listed_and_redriven_back_to_its_source_queue() {
    let prefix = unique_prefix();
    let (sdk, p) = provision(&prefix, None).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dlq_url = &p.queues["OrdersDeadLetterQueue"].url;
    let body = r#"{"type":"StockReserved","order_id":"o-1"}"#;
    let id = sqs
        .send_message()
        .queue_url(dlq_url)
        .message_body(body)
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap();

    // Listing by the source queue's name finds its DLQ; it shows the message and leaves it.
    let listed = devstack_cli(&prefix, &["dlq", "list", "OrdersQueue"]).await;
    assert!(listed.contains(&format!("message {id}")), "{listed}");
    assert!(listed.contains("receives 1"), "{listed}");
    assert!(listed.contains(r#""type": "StockReserved""#), "{listed}");
    assert!(
        listed.contains(&format!("1 message(s) in {prefix}-OrdersDeadLetterQueue")),
        "{listed}"
    );
    let again = devstack_cli(&prefix, &["dlq", "list", "OrdersDeadLetterQueue"]).await;
    assert!(
        again.contains("receives 2"),
        "listed again at once: {again}"
    );

    let redriven = devstack_cli(&prefix, &["dlq", "redrive", "OrdersDeadLetterQueue"]).await;
    assert!(
        redriven.contains("moved 1 message(s) from OrdersDeadLetterQueue (1 to OrdersQueue)"),
        "{redriven}"
    );
    assert_eq!(bodies_in(&sqs, &p.queues["OrdersQueue"].url).await, [body]);
    assert!(bodies_in(&sqs, dlq_url).await.is_empty());
    let empty = devstack_cli(&prefix, &["dlq", "list", "OrdersQueue"]).await;
    assert!(empty.contains("0 message(s)"), "{empty}");
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn redrive_moves_at_most_max_messages_and_names_a_queue_that_is_no_dlq() {
    let prefix = unique_prefix();
    let (sdk, p) = provision(&prefix, None).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dlq_url = &p.queues["InventoryDeadLetterQueue"].url;
    for i in 0..12 {
        sqs.send_message()
            .queue_url(dlq_url)
            .message_body(format!("plain {i}"))
            .send()
            .await
            .unwrap();
    }
    let template = template();
    let q = devstack::dlq::resolve(&template, &prefix, "InventoryQueue", &sqs)
        .await
        .unwrap();
    assert_eq!(q.dlq.logical_id, "InventoryDeadLetterQueue");

    let listed = devstack::dlq::list(&sqs, &q.dlq, None).await.unwrap();
    assert_eq!(listed.len(), 12, "more than one receive's worth");
    let moved = devstack::dlq::redrive(&sqs, &q, Some(11)).await.unwrap();
    assert_eq!(moved["InventoryQueue"], 11);
    let left = devstack::dlq::list(&sqs, &q.dlq, None).await.unwrap();
    assert_eq!(left.len(), 1);

    let err = devstack::dlq::resolve(&template, &prefix, "OrdersTable", &sqs)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no queue OrdersTable"), "{err}");
}

#[test]
fn the_committed_localstack_script_is_generated_from_the_current_template() {
    let path = devstack::workspace_root().join(devstack::localstack::SCRIPT_PATH);
    let committed = std::fs::read_to_string(&path).unwrap();
    let generated = devstack::localstack::init_script(&template()).unwrap();
    assert!(
        committed == generated,
        "{} is stale: run `cargo run -p devstack -- localstack-init > {}`",
        path.display(),
        devstack::localstack::SCRIPT_PATH
    );
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn the_localstack_script_creates_exactly_what_the_template_declares() {
    let prefix = unique_prefix();
    let root = devstack::workspace_root();
    let aws = format!(
        "{} --endpoint-url {} --region {}",
        root.join(".venv/bin/aws").display(),
        devstack::aws::endpoint(),
        devstack::aws::region()
    );
    let status = tokio::process::Command::new("bash")
        .arg(root.join(devstack::localstack::SCRIPT_PATH))
        .env("AWS", aws)
        .env("STACK_NAME", &prefix)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .status()
        .await
        .unwrap();
    assert!(status.success());

    // What the script made, compared with what devstack's own provisioning of the template
    // makes under another prefix.
    let sdk = devstack::aws::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let reference_prefix = unique_prefix();
    let (_, reference) = provision(&reference_prefix, None).await;
    let rename = |s: &str| s.replacen(&reference_prefix, &prefix, 1);

    let mut tables: Vec<String> = dynamo
        .list_tables()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.starts_with(&format!("{prefix}-")))
        .collect();
    tables.sort();
    let mut expected: Vec<String> = reference.tables.values().map(|t| rename(t)).collect();
    expected.sort();
    assert_eq!(tables, expected);
    for (reference_name, name) in reference.tables.values().map(|t| (t.clone(), rename(t))) {
        let a = dynamo
            .describe_table()
            .table_name(&reference_name)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let b = dynamo
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        assert_eq!(a.key_schema, b.key_schema, "{name}");
        assert_eq!(a.attribute_definitions, b.attribute_definitions, "{name}");
        assert_eq!(
            a.global_secondary_indexes, b.global_secondary_indexes,
            "{name}"
        );
        assert_eq!(a.stream_specification, b.stream_specification, "{name}");
        let ttl = |table: String| {
            let dynamo = dynamo.clone();
            async move {
                dynamo
                    .describe_time_to_live()
                    .table_name(table)
                    .send()
                    .await
                    .unwrap()
                    .time_to_live_description
                    .map(|t| (t.time_to_live_status, t.attribute_name))
            }
        };
        assert_eq!(ttl(reference_name).await, ttl(name.clone()).await, "{name}");
    }

    let mut queues: Vec<String> = sqs
        .list_queues()
        .queue_name_prefix(format!("{prefix}-"))
        .send()
        .await
        .unwrap()
        .queue_urls
        .unwrap_or_default();
    queues.sort();
    let mut expected: Vec<String> = reference.queues.values().map(|q| rename(&q.url)).collect();
    expected.sort();
    assert_eq!(queues, expected);
    for q in reference.queues.values() {
        let mine = queue_attributes(&sqs, &q.url, &reference_prefix, &prefix).await;
        let theirs = queue_attributes(&sqs, &rename(&q.url), &reference_prefix, &prefix).await;
        // moto may render the redrive policy's number as a string or a number: compare parsed.
        let norm = |m: &std::collections::BTreeMap<String, String>| {
            let mut m = m.clone();
            if let Some(r) = m.get_mut("RedrivePolicy") {
                let v: Value = serde_json::from_str(r).unwrap();
                *r = format!(
                    "{}|{}",
                    v["deadLetterTargetArn"],
                    v["maxReceiveCount"].to_string().trim_matches('"')
                );
            }
            m
        };
        assert_eq!(norm(&mine), norm(&theirs), "queue {}", q.name);
    }
}

/// A queue's attributes without the volatile ones, with `from` renamed to `to` in values.
async fn queue_attributes(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    from: &str,
    to: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut a = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    for volatile in [
        QueueAttributeName::CreatedTimestamp,
        QueueAttributeName::LastModifiedTimestamp,
        QueueAttributeName::QueueArn,
    ] {
        a.remove(&volatile);
    }
    a.into_iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.replace(from, to)))
        .collect()
}
