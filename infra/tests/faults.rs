//! The fault proxy in process, in front of the real emulator (`AWS_ENDPOINT_URL`; `#[ignore]`
//! tests, run by `make test`) or a fake upstream: the AWS SDK works through it unchanged, and
//! each rule is seen by the SDK the way the real failure would be. Also the control API with its
//! typed client.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use devstack::control::{self, Command, Control, DependencyState, Order, Status};
use devstack::fault::proxy::Proxy;
use devstack::fault::{Action, Faults, RequestFilter, RuleSpec};
use tokio::sync::{mpsc, watch};

/// A proxy on an ephemeral port in front of `upstream`; stops when the sender drops.
struct Running {
    url: String,
    faults: Arc<Faults>,
    _stop: watch::Sender<bool>,
}

async fn proxy_to(upstream: &str) -> Running {
    let faults = Arc::new(Faults::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stop_rx) = watch::channel(false);
    let proxy = Proxy::new(upstream, Arc::clone(&faults)).unwrap();
    tokio::spawn(proxy.serve(listener, stop_rx));
    Running {
        url,
        faults,
        _stop: stop,
    }
}

async fn proxy() -> Running {
    proxy_to(&devstack::aws::endpoint()).await
}

/// SDK config through the proxy: `attempts` attempts with a 10 ms backoff, `timeout` per attempt.
async fn through(p: &Running, attempts: u32, timeout: Duration) -> aws_config::SdkConfig {
    devstack::aws::sdk_config()
        .await
        .into_builder()
        .endpoint_url(&p.url)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(50)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(timeout)
                .build(),
        )
        .build()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

fn rule(service: &str, operation: &str, action: Action, count: Option<u32>) -> RuleSpec {
    RuleSpec {
        service: service.into(),
        operation: Some(operation.into()),
        body_contains: None,
        action,
        count,
        instance: None,
        rate: None,
        after: false,
    }
}

fn get_items(p: &Running, table: &str) -> usize {
    p.faults.log.count(&RequestFilter {
        service: Some("dynamodb".into()),
        operation: Some("GetItem".into()),
        body_contains: Some(table.into()),
    })
}

/// A table with one item `{id: "k", v: "1"}`, created and written through the proxy.
async fn table_with_item(p: &Running) -> (aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(&through(p, 1, Duration::from_secs(5)).await);
    let table = unique("faults");
    create_table(&client, &table).await;
    client
        .put_item()
        .table_name(&table)
        .item("id", AttributeValue::S("k".into()))
        .item("v", AttributeValue::S("1".into()))
        .send()
        .await
        .unwrap();
    (client, table)
}

/// `GetItem` of the item `table_with_item` wrote (`id = "k"`).
async fn get_k(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<
    aws_sdk_dynamodb::operation::get_item::GetItemOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError>,
> {
    client
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S("k".into()))
        .send()
        .await
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn the_sdk_works_through_the_proxy_as_against_the_emulator() {
    let p = proxy().await;
    let (client, table) = table_with_item(&p).await;

    let got = get_k(&client, &table).await.unwrap();

    assert_eq!(
        got.item.unwrap().get("v"),
        Some(&AttributeValue::S("1".into()))
    );
    assert_eq!(get_items(&p, &table), 1);
    let puts = p.faults.log.count(&RequestFilter {
        operation: Some("PutItem".into()),
        body_contains: Some(table.clone()),
        ..RequestFilter::default()
    });
    assert_eq!(puts, 1);
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_throttle_rule_is_provisioned_throughput_exceeded_on_every_attempt() {
    let p = proxy().await;
    let (_, table) = table_with_item(&p).await;
    let client = aws_sdk_dynamodb::Client::new(&through(&p, 3, Duration::from_secs(5)).await);
    p.faults
        .rules
        .add(rule("dynamodb", "GetItem", Action::Throttle, None))
        .unwrap();

    let err = get_k(&client, &table).await.unwrap_err();

    assert_eq!(
        err.code(),
        Some("ProvisionedThroughputExceededException"),
        "{err:?}"
    );
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_provisioned_throughput_exceeded_exception()),
        "{err:?}"
    );
    assert_eq!(p.faults.rules.list()[0].hits, 3, "one hit per SDK attempt");
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_throttle_counted_once_lets_the_sdks_retry_through() {
    let p = proxy().await;
    let (_, table) = table_with_item(&p).await;
    let client = aws_sdk_dynamodb::Client::new(&through(&p, 3, Duration::from_secs(5)).await);
    p.faults
        .rules
        .add(rule("dynamodb", "GetItem", Action::Throttle, Some(1)))
        .unwrap();

    let got = get_k(&client, &table).await.unwrap();

    assert!(got.item.is_some());
    assert_eq!(p.faults.rules.list()[0].hits, 1);
    assert!(!p.faults.rules.list()[0].active());
    assert_eq!(
        get_items(&p, &table),
        2,
        "the throttled attempt and the retry"
    );
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_latency_rule_delays_the_answer_and_forwards_it() {
    let p = proxy().await;
    let (client, table) = table_with_item(&p).await;
    p.faults
        .rules
        .add(rule(
            "dynamodb",
            "GetItem",
            Action::Latency { ms: 400 },
            None,
        ))
        .unwrap();

    let started = Instant::now();
    let got = get_k(&client, &table).await.unwrap();

    assert!(got.item.is_some());
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_hang_rule_ends_in_the_clients_own_timeout() {
    let p = proxy().await;
    let (_, table) = table_with_item(&p).await;
    let client = aws_sdk_dynamodb::Client::new(&through(&p, 1, Duration::from_millis(300)).await);
    p.faults
        .rules
        .add(rule("dynamodb", "GetItem", Action::Hang, None))
        .unwrap();

    let started = Instant::now();
    let err = get_k(&client, &table).await.unwrap_err();

    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        p.faults.rules.list()[0].hits,
        1,
        "the request reached the rule"
    );
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_down_rule_is_a_dispatch_failure_on_every_attempt() {
    let p = proxy().await;
    let (_, table) = table_with_item(&p).await;
    let client = aws_sdk_dynamodb::Client::new(&through(&p, 2, Duration::from_secs(5)).await);
    p.faults
        .rules
        .add(rule("dynamodb", "GetItem", Action::Down, None))
        .unwrap();

    let err = get_k(&client, &table).await.unwrap_err();

    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
    assert_eq!(p.faults.rules.list()[0].hits, 2);
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn an_error_rule_answers_its_status_and_code() {
    let p = proxy().await;
    let (client, table) = table_with_item(&p).await;
    p.faults
        .rules
        .add(rule(
            "dynamodb",
            "GetItem",
            Action::Error {
                status: 500,
                code: Some("InternalServerError".into()),
            },
            None,
        ))
        .unwrap();

    let err = get_k(&client, &table).await.unwrap_err();

    assert_eq!(err.code(), Some("InternalServerError"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn sqs_throttling_is_seen_as_throttling_exception_by_aws_sdk_sqs() {
    let p = proxy().await;
    let sqs = aws_sdk_sqs::Client::new(&through(&p, 2, Duration::from_secs(5)).await);
    let url = sqs
        .create_queue()
        .queue_name(unique("faults"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    p.faults
        .rules
        .add(rule("sqs", "SendMessage", Action::Throttle, None))
        .unwrap();

    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("{}")
        .send()
        .await
        .unwrap_err();

    assert_eq!(
        aws_sdk_sqs::error::ProvideErrorMetadata::code(&err),
        Some("ThrottlingException"),
        "{err:?}"
    );
    assert_eq!(p.faults.rules.list()[0].hits, 2, "throttling is retried");
    // Other operations of the queue pass.
    sqs.get_queue_attributes()
        .queue_url(&url)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_proxy_forwards_host_and_signed_headers_unchanged() {
    // A fake upstream that echoes what it received.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_url = format!("http://{}", upstream.local_addr().unwrap());
    let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
        let h = req.headers();
        let get = |k: &str| {
            h.get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        axum::Json(serde_json::json!({
            "host": get("host"),
            "authorization": get("authorization"),
            "target": get("x-amz-target"),
            "path": req.uri().to_string(),
        }))
    });
    tokio::spawn(async move { axum::serve(upstream, app).await });
    let p = proxy_to(&upstream_url).await;

    let echoed: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/a/b?x=1", p.url))
        .header("host", "dynamodb.example:4567")
        .header("authorization", "AWS4-HMAC-SHA256 Credential=k/20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=s")
        .header("x-amz-target", "DynamoDB_20120810.GetItem")
        .body("{}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(echoed["host"], "dynamodb.example:4567");
    assert!(
        echoed["authorization"]
            .as_str()
            .unwrap()
            .ends_with("Signature=s")
    );
    assert_eq!(echoed["target"], "DynamoDB_20120810.GetItem");
    assert_eq!(echoed["path"], "/a/b?x=1");
    assert_eq!(get_items(&p, "{}"), 1);
}

#[tokio::test]
async fn an_unreachable_emulator_is_a_closed_connection() {
    // A port nothing listens on: bind, read the port, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = proxy_to(&format!("http://127.0.0.1:{port}")).await;

    let err = reqwest::Client::new()
        .post(&p.url)
        .header("x-amz-target", "DynamoDB_20120810.GetItem")
        .body("{}")
        .send()
        .await
        .unwrap_err();

    assert!(!err.is_status(), "{err:?}");
    assert_eq!(get_items(&p, ""), 1, "the request was received and logged");
}

/// The control API on an ephemeral port, with a stand-in for `devstack up`'s loop that
/// answers every order and takes Redis down and up in the published status.
async fn control_api() -> (control::Client, Arc<Faults>) {
    let faults = Arc::new(Faults::default());
    let (status, status_rx) = watch::channel(Status {
        redis: DependencyState::Running,
        emulator: DependencyState::Reused,
    });
    let (commands, mut orders) = mpsc::channel::<Command>(4);
    tokio::spawn(async move {
        while let Some(cmd) = orders.recv().await {
            let answer = match cmd.order {
                Order::RedisDown => {
                    status.send_modify(|s| s.redis = DependencyState::Down);
                    Ok("redis down".to_owned())
                }
                Order::RedisUp => {
                    status.send_modify(|s| s.redis = DependencyState::Running);
                    Ok("redis up".to_owned())
                }
                Order::Restart(d) => Err(format!("{d} was reused")),
            };
            let _ = cmd.reply.send(answer);
        }
    });
    let app = control::router(Control {
        faults: Arc::clone(&faults),
        commands,
        status: status_rx,
        payments: Arc::new(devstack::payments::Payments::new(
            Arc::new(devstack::payments::Provider::new(
                "sk_test_x",
                Arc::clone(&faults),
            )),
            Vec::new(),
            None,
        )),
        iam: Arc::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (control::Client::new(&url).unwrap(), faults)
}

#[tokio::test]
async fn the_control_client_adds_lists_and_clears_rules_and_brings_redis_back() {
    let (client, faults) = control_api().await;

    let added = client
        .add_fault(&rule("dynamodb", "GetItem", Action::Throttle, Some(2)))
        .await
        .unwrap();
    client.redis_down().await.unwrap();
    let listed = client.faults().await.unwrap();
    let cleared = client.clear_faults().await.unwrap();

    assert_eq!(listed.rules.len(), 1);
    assert_eq!(listed.rules[0].id, added.id);
    assert_eq!(listed.rules[0].remaining, Some(2));
    assert_eq!(listed.redis, DependencyState::Down);
    assert_eq!(cleared.removed, 1);
    assert_eq!(cleared.redis.as_deref(), Some("redis up"));
    assert_eq!(
        client.status().await.unwrap().redis,
        DependencyState::Running
    );
    assert!(faults.rules.list().is_empty());
}

#[tokio::test]
async fn the_control_client_reports_refusals_and_bad_rules_with_their_reason() {
    let (client, faults) = control_api().await;

    let bad = client
        .add_fault(&rule(
            "dynamodb",
            "GetItem",
            Action::Error {
                status: 200,
                code: None,
            },
            None,
        ))
        .await
        .unwrap_err();
    let refused = client
        .restart(control::Dependency::Emulator)
        .await
        .unwrap_err();
    let missing = client.remove_fault(42).await.unwrap_err();

    assert!(bad.to_string().contains("400-599"), "{bad}");
    assert_eq!(refused.to_string(), "emulator was reused");
    assert!(
        missing.to_string().contains("no fault rule 42"),
        "{missing}"
    );
    assert!(faults.rules.list().is_empty());
}

#[tokio::test]
async fn the_control_client_counts_logged_requests_by_match_and_operation() {
    let (client, faults) = control_api().await;
    let call = devstack::fault::Call {
        service: "dynamodb".into(),
        operation: Some("GetItem".into()),
        protocol: devstack::fault::rules::Protocol::Json,
    };
    faults.log.record(&call, br#"{"Key":{"id":{"S":"SKU-1"}}}"#);
    faults.log.record(&call, br#"{"Key":{"id":{"S":"SKU-2"}}}"#);

    let one = client
        .requests(&RequestFilter {
            operation: Some("GetItem".into()),
            body_contains: Some("SKU-1".into()),
            ..RequestFilter::default()
        })
        .await
        .unwrap();
    let none = client
        .requests(&RequestFilter {
            operation: Some("PutItem".into()),
            ..RequestFilter::default()
        })
        .await
        .unwrap();

    assert_eq!((one, none), (1, 0));
}

#[test]
fn a_stack_without_a_ready_file_says_how_to_start_it() {
    let dir = std::env::temp_dir().join(unique("no-stack"));
    let err = control::Client::from_ready_file(&dir, "nope").unwrap_err();
    assert!(err.to_string().contains("no running stack nope"), "{err}");
    assert!(err.to_string().contains("make dev"), "{err}");
}
