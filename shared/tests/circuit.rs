//! The shared circuit breaker ([`DynamoCircuit`]) against the local AWS emulator (moto server,
//! `AWS_ENDPOINT_URL`): several `DynamoCircuit` values on one table and breaker name act as
//! several Lambda instances, on one hand-driven clock. Each test creates its own table.
//!
//! And the fallback with no emulator: a client on a dead port still opens, locally, and never
//! fails or hangs.

// Setup helpers live outside `#[test]` functions, where `allow-unwrap-in-tests` does not reach;
// a failed setup should panic like a failed assertion.
#![expect(
    clippy::unwrap_used,
    reason = "test setup helpers panic on failure by design"
)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region, SharedCredentialsProvider};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use shared::breaker::BreakerState;
use shared::circuit::dynamo::{CircuitConfig, DynamoCircuit, ManualWallClock, WallClock};
use shared::circuit::{Admission, CircuitGate, Gate};

const NORMAL: Gate = Gate::Admitted(Admission::Normal);
const PROBE: Gate = Gate::Admitted(Admission::Probe);

/// The promise of the fallback: an unreachable table never holds a call longer than the SDK's
/// bounds (`shared::aws::load`: 4 s per operation).
const BOUND: Duration = Duration::from_secs(5);

fn config() -> CircuitConfig {
    CircuitConfig {
        window: Duration::from_secs(10),
        min_calls: 4,
        failure_rate: 0.5,
        open_for: Duration::from_secs(10),
        probe_lease: Duration::from_secs(5),
        cache_for: Duration::from_secs(1),
    }
}

/// A fresh breakers table (`name` S, on demand) on the emulator, and a unique breaker name.
struct Table {
    client: Client,
    table: String,
    name: String,
    clock: Arc<ManualWallClock>,
}

impl Table {
    async fn new() -> Self {
        let sdk = sam_template::aws::sdk_config().await;
        let client = Client::new(&sdk);
        let id = &uuid::Uuid::new_v4().simple().to_string()[..12];
        let table = format!("circuit-{id}-breakers");
        client
            .create_table()
            .table_name(&table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("name")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("name")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateTable failed; is the emulator running? {e:?}"));
        Self {
            client,
            table,
            name: format!("provider-{id}"),
            clock: Arc::new(ManualWallClock::new()),
        }
    }

    /// One more instance of the breaker.
    fn instance(&self) -> DynamoCircuit {
        DynamoCircuit::with_clock(
            self.client.clone(),
            &self.table,
            &self.name,
            config(),
            self.clock.clone(),
        )
    }

    async fn item(&self) -> HashMap<String, AttributeValue> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("name", AttributeValue::S(self.name.clone()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    }

    async fn number(&self, attribute: &str) -> u64 {
        match self.item().await.get(attribute) {
            Some(AttributeValue::N(n)) => n.parse().unwrap(),
            other => panic!("{attribute}: {other:?}"),
        }
    }

    async fn state(&self) -> String {
        match self.item().await.get("state") {
            Some(AttributeValue::S(s)) => s.clone(),
            other => panic!("state: {other:?}"),
        }
    }
}

async fn call(instance: &DynamoCircuit, success: bool) {
    match instance.acquire().await {
        Gate::Admitted(admission) => instance.record(admission, success).await,
        Gate::Rejected { .. } => panic!("the call was refused"),
    }
}

fn rejected_for(ms: u64) -> Gate {
    Gate::Rejected {
        retry_after: Duration::from_millis(ms),
    }
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn failures_recorded_by_one_instance_open_the_breaker_for_another() {
    let table = Table::new().await;
    let (a, b) = (table.instance(), table.instance());
    assert_eq!(b.acquire().await, NORMAL);

    for success in [true, false, false, true] {
        call(&a, success).await;
    }
    table.clock.advance(Duration::from_secs(1));

    assert_eq!(b.acquire().await, rejected_for(9_000));
    assert_eq!(b.state().await, BreakerState::Open);
    assert!(!b.on_fallback());
    assert_eq!(table.state().await, "open");
    assert_eq!(table.number("opened").await, 1);
    assert_eq!(
        table.number("open_until").await,
        table.clock.now_ms() + 9_000
    );
    assert_eq!(
        (table.number("calls").await, table.number("failures").await),
        (4, 2)
    );
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn fewer_failures_than_the_rate_keep_it_closed_and_a_new_window_starts_from_zero() {
    let table = Table::new().await;
    let a = table.instance();
    for success in [true, true, true, false, false, true, true] {
        call(&a, success).await;
    }
    assert_eq!(table.state().await, "closed");
    let first_window = table.number("window_start").await;

    table.clock.advance(Duration::from_secs(10));
    call(&a, false).await;

    assert_eq!(table.number("window_start").await, first_window + 10_000);
    assert_eq!(
        (table.number("calls").await, table.number("failures").await),
        (1, 1)
    );
    for _ in 0..3 {
        call(&a, false).await;
    }
    assert_eq!(table.state().await, "open");
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn after_open_for_exactly_one_of_many_concurrent_instances_probes_and_its_success_closes_it_for_all()
 {
    let table = Table::new().await;
    let a = table.instance();
    let others: Vec<DynamoCircuit> = (0..8).map(|_| table.instance()).collect();
    for _ in 0..4 {
        call(&a, false).await;
    }
    table.clock.advance(Duration::from_secs(10));

    let gates = futures::future::join_all(others.iter().map(DynamoCircuit::acquire)).await;

    assert_eq!(
        gates.iter().filter(|g| **g == PROBE).count(),
        1,
        "{gates:?}"
    );
    assert!(
        gates
            .iter()
            .all(|g| *g == PROBE || *g == rejected_for(5_000)),
        "{gates:?}"
    );
    assert_eq!(table.state().await, "half_open");
    let prober = &others[gates.iter().position(|g| *g == PROBE).unwrap()];

    prober.record(Admission::Probe, true).await;
    table.clock.advance(Duration::from_secs(1));

    assert_eq!(table.state().await, "closed");
    assert_eq!(a.acquire().await, NORMAL);
    for other in &others {
        assert_eq!(other.acquire().await, NORMAL);
    }
    assert_eq!(
        (table.number("calls").await, table.number("failures").await),
        (0, 0)
    );
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_failed_probe_opens_it_again_for_every_instance_and_a_lost_probe_is_replaced() {
    let table = Table::new().await;
    let (a, b) = (table.instance(), table.instance());
    for _ in 0..4 {
        call(&a, false).await;
    }
    table.clock.advance(Duration::from_secs(10));
    assert_eq!(b.acquire().await, PROBE);

    b.record(Admission::Probe, false).await;

    assert_eq!(a.acquire().await, rejected_for(10_000));
    assert_eq!(table.number("opened").await, 2);
    table.clock.advance(Duration::from_secs(10));
    assert_eq!(a.acquire().await, PROBE);
    table.clock.advance(Duration::from_millis(4_999));
    assert_eq!(b.acquire().await, rejected_for(1));
    table.clock.advance(Duration::from_millis(1));
    assert_eq!(b.acquire().await, PROBE, "a's probe never reported");
}

/// `load()`'s config with test credentials, its DynamoDB client on `endpoint`.
async fn client_on(endpoint: &str) -> Client {
    let sdk = shared::aws::load()
        .await
        .into_builder()
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test",
            "test",
            None,
            None,
            "circuit-test",
        )))
        .build();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

#[tokio::test]
async fn an_unreachable_table_falls_back_to_a_local_breaker_that_still_opens_and_never_hangs() {
    let clock = Arc::new(ManualWallClock::new());
    let circuit = DynamoCircuit::with_clock(
        client_on("http://127.0.0.1:9").await,
        "breakers",
        "provider",
        config(),
        clock.clone(),
    );

    for _ in 0..4 {
        let started = Instant::now();
        call(&circuit, false).await;
        assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
    }

    assert!(circuit.on_fallback());
    assert_eq!(circuit.state().await, BreakerState::Open);
    assert_eq!(circuit.acquire().await, rejected_for(10_000));
    clock.advance(Duration::from_secs(10));
    let started = Instant::now();
    assert_eq!(
        circuit.acquire().await,
        PROBE,
        "the local breaker probes after open_for"
    );
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
}

/// A listener that accepts every connection and never answers.
async fn hung_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    endpoint
}

#[tokio::test]
async fn a_hung_table_costs_one_bounded_wait_then_the_fallback_answers_at_once() {
    let circuit = DynamoCircuit::new(
        client_on(&hung_endpoint().await).await,
        "breakers",
        "provider",
        config(),
    );

    let started = Instant::now();
    assert_eq!(circuit.acquire().await, NORMAL);
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
    assert!(circuit.on_fallback());

    let started = Instant::now();
    circuit.record(Admission::Normal, false).await;
    assert_eq!(circuit.acquire().await, NORMAL);
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
}
