//! The adapters against a dependency that is hung, down or throttling, with no emulator: the
//! SDK config is [`shared::aws::load`]'s (timeouts, standard retry), only the endpoint points at
//! a local socket of the test's own. Each case must end in [`Error::ServiceUnavailable`] (a
//! 503, a failed consumer record) within the operation timeout, never in a 500 or a hang.
//!
//! The time bounds are limits (under 5 s, the promise to the functions whose timeout is 10 s),
//! not measurements.

// Setup helpers live outside `#[test]` functions, where `allow-unwrap-in-tests` does not reach;
// a failed setup should panic like a failed assertion.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test setup helpers panic on failure by design"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{Credentials, Region};
use shared::Error;
use shared::aws::{DynamoProducts, MAX_ATTEMPTS, OPERATION_TIMEOUT, SqsPublisher};
use shared::domain::{ProductId, now};
use shared::events::{Envelope, OrderCancelled};
use shared::ports::{EventPublisher, ProductReader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The promise: a hung or failing dependency is answered well within the 10 s function timeout.
const BOUND: Duration = Duration::from_secs(5);

/// `load()`'s config with test credentials and region (no environment needed).
async fn sdk() -> aws_config::SdkConfig {
    shared::aws::load()
        .await
        .into_builder()
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            Credentials::new("test", "test", None, None, "outage-test"),
        ))
        .build()
}

/// The products adapter on `endpoint`. The endpoint is set on the service config, which wins
/// over any `AWS_ENDPOINT_URL*` of the environment.
async fn products(endpoint: &str) -> DynamoProducts {
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk().await)
        .endpoint_url(endpoint)
        .build();
    DynamoProducts::with_client(aws_sdk_dynamodb::Client::from_conf(config), "products")
}

/// The SQS publisher on `endpoint`.
async fn publisher(endpoint: &str) -> SqsPublisher {
    let config = aws_sdk_sqs::config::Builder::from(&sdk().await)
        .endpoint_url(endpoint)
        .build();
    SqsPublisher::with_client(
        aws_sdk_sqs::Client::from_conf(config),
        format!("{endpoint}/000000000000/inventory"),
    )
}

fn product_id() -> ProductId {
    ProductId::parse("SKU-OUTAGE-1").unwrap()
}

fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::ServiceUnavailable(message)) => message,
        other => panic!("expected ServiceUnavailable, got {other:?}"),
    }
}

/// A listener that accepts every connection and never answers; counts the connections.
async fn hung_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held: Vec<TcpStream> = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (endpoint, accepted)
}

/// One canned HTTP answer.
#[derive(Clone)]
struct Answer {
    status: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
}

/// DynamoDB's throttling answer (awsJson1_0).
fn dynamodb_throttled() -> Answer {
    Answer {
        status: "400 Bad Request",
        headers: vec![
            ("x-amzn-RequestId", "OUTAGE0TEST0REQUEST0ID"),
            ("Content-Type", "application/x-amz-json-1.0"),
        ],
        body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#,
    }
}

/// DynamoDB's `GetItem` answer for a key with no item.
fn dynamodb_no_item() -> Answer {
    Answer {
        status: "200 OK",
        headers: vec![
            ("x-amzn-RequestId", "OUTAGE0TEST0REQUEST0OK"),
            ("Content-Type", "application/x-amz-json-1.0"),
        ],
        body: "{}",
    }
}

/// SQS's throttling answer in its JSON protocol (awsJson1_0, query-compatible error header).
fn sqs_throttled() -> Answer {
    Answer {
        status: "400 Bad Request",
        headers: vec![
            ("x-amzn-RequestId", "OUTAGE0TEST0SQS0REQUEST"),
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-query-error", "ThrottlingException;Sender"),
        ],
        body: r#"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}"#,
    }
}

/// A tiny HTTP/1.1 server: request `n` (from 0) gets `answers[n]`, or the last answer once
/// they run out. Counts the requests it answered.
async fn scripted_server(answers: Vec<Answer>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    let answers = Arc::new(answers);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, answers.clone(), count.clone()));
        }
    });
    (endpoint, requests)
}

/// Answers the requests of one (keep-alive) connection in turn.
async fn serve(mut stream: TcpStream, answers: Arc<Vec<Answer>>, count: Arc<AtomicUsize>) {
    let mut buffer = Vec::new();
    loop {
        let Some(request_len) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        buffer.drain(..request_len);
        let n = count.fetch_add(1, Ordering::SeqCst);
        let answer = answers
            .get(n)
            .or(answers.last())
            .cloned()
            .expect("at least one answer");
        let mut head = format!("HTTP/1.1 {}\r\n", answer.status);
        for (name, value) in &answer.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", answer.body.len()));
        let written = async {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(answer.body.as_bytes()).await?;
            stream.flush().await
        };
        if written.await.is_err() {
            return;
        }
    }
}

/// Reads until `buffer` holds one whole request (head and `Content-Length` body); its length,
/// or `None` when the client closed the connection.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let body_len: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            let total = end + 4 + body_len;
            if buffer.len() >= total {
                return Some(total);
            }
        }
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
}

fn envelope() -> Envelope {
    let event = OrderCancelled {
        order_id: shared::domain::OrderId::new(),
        customer_id: shared::domain::UserId::new(),
        previous_status: shared::domain::OrderStatus::Pending,
    };
    Envelope::wrap(&event, "outage-test", now()).unwrap()
}

#[tokio::test]
async fn a_hung_dynamodb_is_unavailable_within_the_operation_timeout() {
    let (endpoint, accepted) = hung_server().await;
    let products = products(&endpoint).await;

    let started = Instant::now();
    let result = products.get(&product_id()).await;
    let elapsed = started.elapsed();

    let message = assert_unavailable(result);
    assert!(elapsed < BOUND, "took {elapsed:?}");
    assert!(
        elapsed >= OPERATION_TIMEOUT.mul_f32(0.9),
        "gave up after {elapsed:?}, before the operation timeout: {message}"
    );
    assert!(
        accepted.load(Ordering::SeqCst) >= 2,
        "a timed-out attempt is retried on a new connection"
    );
    assert!(message.contains("GetItem on table products"), "{message}");
}

#[tokio::test]
async fn a_closed_port_is_unavailable_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let products = products(&endpoint).await;

    let started = Instant::now();
    let result = products.get(&product_id()).await;

    assert_unavailable(result);
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
}

#[tokio::test]
async fn dynamodb_throttling_is_tried_three_times_then_unavailable() {
    let (endpoint, requests) = scripted_server(vec![dynamodb_throttled()]).await;
    let products = products(&endpoint).await;

    let started = Instant::now();
    let result = products.get(&product_id()).await;

    let message = assert_unavailable(result);
    assert_eq!(requests.load(Ordering::SeqCst), MAX_ATTEMPTS as usize);
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    assert!(
        message.contains("ProvisionedThroughputExceededException"),
        "{message}"
    );
}

#[tokio::test]
async fn dynamodb_throttling_that_passes_is_retried_into_a_success() {
    let (endpoint, requests) =
        scripted_server(vec![dynamodb_throttled(), dynamodb_no_item()]).await;
    let products = products(&endpoint).await;

    let found = products.get(&product_id()).await;

    assert!(matches!(found, Ok(None)), "{found:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn sqs_throttling_is_tried_three_times_then_unavailable() {
    let (endpoint, requests) = scripted_server(vec![sqs_throttled()]).await;
    let publisher = publisher(&endpoint).await;

    let started = Instant::now();
    let result = publisher.publish(&envelope()).await;

    let message = assert_unavailable(result);
    assert_eq!(requests.load(Ordering::SeqCst), MAX_ATTEMPTS as usize);
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    assert!(message.contains("SQS SendMessage"), "{message}");
}

#[tokio::test]
async fn a_hung_sqs_is_unavailable_within_the_operation_timeout() {
    let (endpoint, _) = hung_server().await;
    let publisher = publisher(&endpoint).await;

    let started = Instant::now();
    let result = publisher.publish(&envelope()).await;

    assert_unavailable(result);
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
}
