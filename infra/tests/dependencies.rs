//! A failing dependency, end to end through the running local cloud (`make test`): DynamoDB
//! hung, down or throttling — injected by devstack's fault proxy for the requests that name one
//! product only, so other tests are not disturbed — gives `503 SERVICE_UNAVAILABLE` with
//! `Retry-After`, well within the function's timeout, and never a `500`; a throttle that passes
//! is retried away.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod local;

use std::time::Duration;

use local::{
    add_fault, admin, check, clear_fault, client, create_product, get, readiness, requests,
};
use serde_json::json;

/// The functions' `Timeout` in template.yaml (Globals).
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

/// A product that is in the table but not in the cache (never read yet); its path and id.
async fn uncached_product() -> (String, String) {
    let c = admin();
    let product = create_product(&c, "faults", 1).await;
    let id = product["id"].as_str().unwrap().to_owned();
    (format!("/products/{id}"), id)
}

/// What one read of an uncached product answered while its `GetItem` calls met `action`
/// (`devstack fault add` flags, e.g. `--hang`).
struct Faulted {
    path: String,
    id: String,
    status: u16,
    retry_after: Option<String>,
    body: serde_json::Value,
    took: Duration,
    /// How many `GetItem` calls for the product reached the proxy during the read.
    tries: u64,
}

async fn read_with_get_item_fault(action: &[&str]) -> Faulted {
    let (path, id) = uncached_product().await;
    let mut args = vec!["dynamodb", "--operation", "GetItem", "--match", &id];
    args.extend_from_slice(action);
    let rule = add_fault(&args);
    let before = requests("GetItem", &id);
    let (status, retry_after, body, took) = get(&admin(), &path).await;
    let tries = requests("GetItem", &id) - before;
    clear_fault(&rule);
    Faulted {
        path,
        id,
        status,
        retry_after,
        body,
        took,
        tries,
    }
}

fn assert_unavailable(status: u16, retry_after: Option<&str>, body: &serde_json::Value) {
    assert_eq!(status, 503, "{body}");
    let seconds: u64 = retry_after.unwrap_or_default().parse().unwrap_or(0);
    assert!(
        seconds >= 1,
        "a Retry-After of at least 1 s: {retry_after:?}"
    );
    assert_eq!(
        *body,
        json!({"error": {"code": "SERVICE_UNAVAILABLE", "message": "service unavailable"}})
    );
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_hung_dynamodb_answers_503_with_retry_after_well_within_the_function_timeout() {
    let hung = read_with_get_item_fault(&["--hang"]).await;

    assert_unavailable(hung.status, hung.retry_after.as_deref(), &hung.body);
    assert!(
        hung.took < FUNCTION_TIMEOUT / 2,
        "answered in {:?}, the function may run {FUNCTION_TIMEOUT:?}",
        hung.took
    );
    let (status, _, _, _) = get(&admin(), &hung.path).await;
    assert_eq!(status, 200, "the fault cleared, the read works again");
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn dynamodb_down_answers_503_not_500() {
    let down = read_with_get_item_fault(&["--down"]).await;

    assert_unavailable(down.status, down.retry_after.as_deref(), &down.body);
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_throttle_that_passes_is_retried_and_one_that_persists_is_a_503_after_the_retries() {
    let once = read_with_get_item_fault(&["--throttle", "--count", "1"]).await;
    let always = read_with_get_item_fault(&["--throttle"]).await;

    assert_eq!(once.status, 200, "retried past one throttle: {}", once.body);
    assert_eq!(once.tries, 2, "one throttled attempt, one that passed");
    assert_unavailable(always.status, always.retry_after.as_deref(), &always.body);
    assert_eq!(always.tries, 3, "the SDK's standard retry mode: 3 attempts");
    assert_eq!(requests("GetItem", &always.id), 3, "nothing after the 503");
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_slow_dynamodb_within_the_timeouts_still_answers_200() {
    let slow = read_with_get_item_fault(&["--latency", "300ms"]).await;

    assert_eq!(slow.status, 200);
    assert!(
        slow.took >= Duration::from_millis(300),
        "the latency was added: {:?}",
        slow.took
    );
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn the_readiness_check_reports_every_table_queue_and_the_cache_to_admins_only() {
    let (status, body) = readiness(&admin(), |status, _| status == 200).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready", "{body}");
    for name in [
        "PRODUCTS_TABLE",
        "USERS_TABLE",
        "ORDERS_TABLE",
        "RESERVATIONS_TABLE",
        "OUTBOX_TABLE",
        "IDEMPOTENCY_TABLE",
        "INVENTORY_QUEUE_URL",
        "ORDERS_QUEUE_URL",
        "CACHE_ENDPOINT",
        "CACHE_NAME",
    ] {
        assert_eq!(check(&body, name), "up", "{name} in {body}");
    }
    let (customer, _) = readiness(&client("someone", &["customer"]), |_, _| true).await;
    let (anonymous, _, _, _) = get(&reqwest::Client::new(), "/health/ready").await;
    assert_eq!(customer, 403);
    assert_eq!(anonymous, 401);
}
