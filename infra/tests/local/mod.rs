//! Helpers of the tests that drive the running local cloud through the gateway and through the
//! `devstack` CLI (`fault`, `requests`, `restart`): `e2e.rs`, `cache.rs`, `dependencies.rs` and
//! `outage.rs`.

#![allow(
    dead_code,
    reason = "each test binary uses its own subset of these helpers"
)]

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

/// The running stack's gateway (`DEVSTACK_GATEWAY`, default `http://127.0.0.1:3000`).
pub fn gateway() -> String {
    std::env::var("DEVSTACK_GATEWAY").unwrap_or_else(|_| "http://127.0.0.1:3000".into())
}

/// The running stack's name (`DEVSTACK_STACK_NAME`, default `shop`).
pub fn stack_name() -> String {
    std::env::var("DEVSTACK_STACK_NAME").unwrap_or_else(|_| "shop".into())
}

/// A client whose every request carries an admin's bearer token; 30 s per request at most.
pub fn admin() -> reqwest::Client {
    client("cache-admin", &["admin"])
}

/// A client whose every request carries a token for `subject` in `groups`; 30 s per request.
pub fn client(subject: &str, groups: &[&str]) -> reqwest::Client {
    client_with(subject, groups, Duration::from_secs(30))
}

/// A client whose every request carries a token for `subject` in `groups` from the running
/// stack's identity provider, and may take `timeout`.
pub fn client_with(subject: &str, groups: &[&str], timeout: Duration) -> reqwest::Client {
    client_on(&stack_name(), subject, groups, timeout)
}

/// A client whose every request carries a token for `subject` in `groups` from the identity
/// provider of the running stack `stack`, and may take `timeout`.
pub fn client_on(
    stack: &str,
    subject: &str,
    groups: &[&str],
    timeout: Duration,
) -> reqwest::Client {
    let request = devstack::idp::TokenRequest {
        subject: subject.into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ttl: Duration::from_secs(3600),
        scopes: vec![],
    };
    let token = devstack::edge::token(
        &devstack::workspace_root().join(".devstack"),
        stack,
        &request,
    )
    .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .timeout(timeout)
        .default_headers(headers)
        .build()
        .unwrap()
}

/// Polls `GET /health/ready` (throttled at 2/s: a 429 is retried) until `done(status, body)`
/// holds, 30 s at most (answers are memoised 5 s per instance); the last status and body.
pub async fn readiness(c: &reqwest::Client, done: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body, _) = get(c, "/health/ready").await;
        if (status != 429 && done(status, &body)) || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
}

/// The `status` of the check named `name` in a readiness answer.
pub fn check<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == name))
        .map_or(&Value::Null, |c| &c["status"])
}

/// Runs the `devstack` CLI on the running stack; its stdout. Panics (with stderr) when it fails.
pub fn devstack(args: &[&str]) -> String {
    devstack_on(
        &devstack::workspace_root().join("template.yaml"),
        &stack_name(),
        args,
    )
}

/// Runs the `devstack` CLI on the running stack `stack` of `template`; its stdout. Panics (with
/// stderr) when it fails.
pub fn devstack_on(template: &std::path::Path, stack: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_devstack"))
        .current_dir(devstack::workspace_root())
        .arg("--template")
        .arg(template)
        .args(["--stack-name", stack])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "devstack {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Adds a fault rule (`devstack fault add …`); its id.
pub fn add_fault(args: &[&str]) -> String {
    let mut all = vec!["fault", "add"];
    all.extend_from_slice(args);
    devstack(&all).trim().to_owned()
}

/// Removes one fault rule.
pub fn clear_fault(id: &str) {
    devstack(&["fault", "clear", id]);
}

/// How many DynamoDB `operation` requests whose body contains `needle` the fault proxy forwarded.
pub fn requests(operation: &str, needle: &str) -> u64 {
    let out = devstack(&["requests", "--match", needle, "--operation", operation]);
    out.split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {out:?}"))
}

/// A new product in `category` (unique id); its JSON.
pub async fn create_product(c: &reqwest::Client, category: &str, stock: u64) -> Value {
    let resp = c
        .post(format!("{}/products", gateway()))
        .json(&json!({
            "name": "Jacquard loom",
            "description": "Punched cards.",
            "category": category,
            "price_cents": 1200,
            "stock": stock
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.unwrap()
}

/// `GET path`: status, `Retry-After` (if any), body (JSON or null) and how long it took.
pub async fn get(c: &reqwest::Client, path: &str) -> (u16, Option<String>, Value, Duration) {
    let started = Instant::now();
    let resp = c.get(format!("{}{path}", gateway())).send().await.unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, retry_after, body, started.elapsed())
}

/// Polls `GET path` until `done(body)` holds (60 s at most); the last 200 body.
pub async fn poll(c: &reqwest::Client, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, body, _) = get(c, path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        if done(&body) || Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `q`-quantile (0..=1) of `samples`, in ms.
pub fn quantile_ms(samples: &mut [Duration], q: f64) -> u128 {
    if samples.is_empty() {
        return 0;
    }
    samples.sort();
    let rank = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[rank].as_millis()
}

/// A new user (unique e-mail); its JSON.
pub async fn create_user(c: &reqwest::Client) -> Value {
    let resp = c
        .post(format!("{}/users", gateway()))
        .json(&json!({
            "email": format!("payer-{}@example.com", uuid::Uuid::new_v4().simple()),
            "name": "Payer"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.unwrap()
}

/// `POST /orders` for `customer`: `quantity` × `product`, paid with `token`; the order (201).
pub async fn place_order(
    c: &reqwest::Client,
    customer: &str,
    product: &str,
    quantity: u32,
    token: &str,
) -> Value {
    let resp = c
        .post(format!("{}/orders", gateway()))
        .json(&json!({
            "customer_id": customer,
            "items": [{"product_id": product, "quantity": quantity}],
            "payment_method": token
        }))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Polls every order in `ids` until each satisfies `done` or `within` passes; the last body of
/// each, in `ids` order.
pub async fn poll_orders(
    c: &reqwest::Client,
    ids: &[String],
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    let mut last: Vec<Value> = vec![Value::Null; ids.len()];
    loop {
        for (i, id) in ids.iter().enumerate() {
            if last[i] != Value::Null && done(&last[i]) {
                continue;
            }
            let (status, _, body, _) = get(c, &format!("/orders/{id}")).await;
            if status == 200 {
                last[i] = body;
            }
        }
        if last.iter().all(|b| *b != Value::Null && done(b)) || Instant::now() > deadline {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The provider's ledger entries (`devstack payments ledger --json`), optionally one order's.
pub fn ledger(order: Option<&str>) -> Vec<Value> {
    let mut args = vec!["payments", "ledger", "--json"];
    if let Some(order) = order {
        args.extend(["--order", order]);
    }
    serde_json::from_str(&devstack(&args)).unwrap()
}

/// The provider's access log after sequence number `after` (`devstack payments log --json`).
pub fn provider_log(after: u64) -> Vec<Value> {
    let after = after.to_string();
    serde_json::from_str(&devstack(&["payments", "log", "--json", "--after", &after])).unwrap()
}

/// The sequence number of the provider's latest access-log entry (0 when empty).
pub fn provider_log_seq() -> u64 {
    provider_log(0)
        .last()
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or(0)
}

/// Every message of dead-letter queue `dlq` (logical id), as `devstack dlq list` prints them.
pub fn dlq_messages(dlq: &str) -> String {
    devstack(&["dlq", "list", dlq])
}

/// Polls `GET /products/{id}` until its stock is `stock` (60 s at most); the last stock seen.
pub async fn stock_becomes(c: &reqwest::Client, id: &str, stock: u64) -> u64 {
    poll(c, &format!("/products/{id}"), |p| p["stock"] == stock).await["stock"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

/// A new customer and a new product (`category`, stock `stock`), and one order of `quantity`
/// of it paid with `token`: `(user, product, order)` as the API answered them.
pub async fn order_of_a_new_customer(
    c: &reqwest::Client,
    category: &str,
    stock: u64,
    quantity: u32,
    token: &str,
) -> (Value, Value, Value) {
    let user = create_user(c).await;
    let product = create_product(c, category, stock).await;
    let order = place_order(
        c,
        user["id"].as_str().unwrap(),
        product["id"].as_str().unwrap(),
        quantity,
        token,
    )
    .await;
    (user, product, order)
}

/// The first message of the queue at `url` whose body contains `marker`, received (with its
/// system attributes) within `within`; `None` when none came. Others' messages stay visible
/// (visibility timeout 0).
pub async fn receive_marked(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    marker: &str,
    within: Duration,
) -> Option<aws_sdk_sqs::types::Message> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(0)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let found = out
            .messages
            .unwrap_or_default()
            .into_iter()
            .find(|m| m.body().is_some_and(|b| b.contains(marker)));
        if found.is_some() {
            return found;
        }
    }
    None
}
