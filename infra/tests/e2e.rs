//! End to end through the local cloud that `make test` starts (`devstack up`): HTTP requests to
//! the emulated API Gateway reach the functions under `cargo lambda watch`, which use the
//! emulator's DynamoDB and SQS. The stock-reservation saga runs for real: the outbox table's
//! stream (emulated event source mapping) feeds the relay, which publishes to the inventory and
//! orders queues, whose mappings feed their consumers. A poison message injected with
//! `devstack send` ends in the dead-letter queue; a poison record written straight into the
//! outbox table ends, whole, in the relay's own dead-letter queue.
//!
//! `DEVSTACK_GATEWAY` (default `http://127.0.0.1:3000`) and `DEVSTACK_STACK_NAME` (default
//! `shop`) say which running stack to use; `make dev` in another terminal works too. Requests
//! carry an admin token from the stack's identity provider (access rules have their own tests
//! in `security.rs`).

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod local;

use std::time::Duration;

use devstack::provision::queue_plans;
use devstack::template::Template;
use local::{gateway, receive_marked, stack_name};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A client whose every request carries an admin's bearer token.
fn client() -> reqwest::Client {
    local::client_with("e2e-admin", &["admin"], Duration::from_secs(180))
}

fn unique_email() -> String {
    format!("ada+{}@example.com", uuid::Uuid::new_v4().simple())
}

async fn create_user(c: &reqwest::Client) -> Value {
    let resp = c
        .post(format!("{}/users", gateway()))
        .json(&json!({ "name": "Ada Lovelace", "email": unique_email() }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.unwrap()
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_user_created_through_the_gateway_can_be_fetched_by_id() {
    let c = client();

    let created = create_user(&c).await;
    let id = created["id"].as_str().unwrap();
    let resp = c
        .get(format!("{}/users/{id}", gateway()))
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let fetched: Value = resp.json().await.unwrap();
    assert_eq!(fetched, created);
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn users_are_listed_page_by_page_with_an_opaque_cursor() {
    let c = client();
    for _ in 0..3 {
        create_user(&c).await;
    }

    let first: Value = c
        .get(format!("{}/users?limit=2", gateway()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let next = first["next"]
        .as_str()
        .expect("a next cursor after a full page");
    let second = c
        .get(format!("{}/users", gateway()))
        .query(&[("limit", "2"), ("cursor", next)])
        .send()
        .await
        .unwrap();

    assert_eq!(second.status(), StatusCode::OK);
    let second: Value = second.json().await.unwrap();
    let page_one: Vec<&Value> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| &u["id"])
        .collect();
    assert!(
        second["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| !page_one.contains(&&u["id"]))
    );
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn bad_input_gets_a_stable_error_code_naming_the_field() {
    let c = client();
    let post = |body: &'static str| {
        c.post(format!("{}/users", gateway()))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let not_json = post("{not json").await.unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let body: Value = not_json.json().await.unwrap();
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"][0]["field"], "body");

    let no_email = post(r#"{"name":"Ada"}"#).await.unwrap();
    assert_eq!(no_email.status(), StatusCode::BAD_REQUEST);
    let body: Value = no_email.json().await.unwrap();
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"][0]["field"], "email");
    assert!(body["error"]["message"].as_str().unwrap().contains("email"));

    let unknown_user = c
        .get(format!("{}/users/{}", gateway(), uuid::Uuid::now_v7()))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_user.status(), StatusCode::NOT_FOUND);
    let body: Value = unknown_user.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn an_unknown_route_answers_like_api_gateway() {
    let resp = client()
        .get(format!("{}/nope", gateway()))
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({ "message": "Not Found" }));
}

async fn create_product(c: &reqwest::Client, price_cents: u64, stock: u64) -> Value {
    let resp = c
        .post(format!("{}/products", gateway()))
        .json(&json!({
            "name": "Analytical Engine",
            "description": "Steam-powered, Turing complete.",
            "category": "machines",
            "price_cents": price_cents,
            "stock": stock
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.unwrap()
}

async fn get_json(c: &reqwest::Client, path: &str) -> Value {
    let resp = c.get(format!("{}{path}", gateway())).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
    resp.json().await.unwrap()
}

async fn place_order(
    c: &reqwest::Client,
    customer: &Value,
    product: &Value,
    quantity: u32,
) -> Value {
    let resp = c
        .post(format!("{}/orders", gateway()))
        .json(&json!({
            "customer_id": customer["id"],
            "items": [{ "product_id": product["id"], "quantity": quantity }],
            "payment_method": "tok_visa"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.unwrap()
}

/// Polls `GET /orders/{id}` until its status is no longer `PENDING` (60 s at most).
async fn settled_status(c: &reqwest::Client, id: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let order = get_json(c, &format!("/orders/{id}")).await;
        let status = order["status"].as_str().unwrap().to_owned();
        if status != "PENDING" || tokio::time::Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls `GET /products/{id}` until `stock` equals `expected` (60 s at most); its last value.
async fn stock_becomes(c: &reqwest::Client, id: &str, expected: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stock = get_json(c, &format!("/products/{id}")).await["stock"]
            .as_u64()
            .unwrap();
        if stock == expected || tokio::time::Instant::now() > deadline {
            return stock;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn an_order_is_priced_from_the_catalog_confirmed_and_cancelling_restores_the_stock() {
    let c = client();
    let user = create_user(&c).await;
    let product = create_product(&c, 1250, 3).await;
    let product_id = product["id"].as_str().unwrap();

    let resp = c
        .post(format!("{}/orders", gateway()))
        .json(&json!({
            "customer_id": user["id"],
            "items": [{ "product_id": product_id, "quantity": 2, "unit_price_cents": 1 }],
            "payment_method": "tok_visa"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let order: Value = resp.json().await.unwrap();
    let id = order["id"].as_str().unwrap();

    assert_eq!(order["status"], "PENDING");
    assert_eq!(
        order["items"][0]["unit_price_cents"], 1250,
        "client price ignored"
    );
    assert_eq!(order["total_cents"], 2500);
    assert_eq!(settled_status(&c, id).await, "CONFIRMED");
    assert_eq!(stock_becomes(&c, product_id, 1).await, 1);

    let cancelled = c
        .delete(format!("{}/orders/{id}", gateway()))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::OK);
    assert_eq!(
        cancelled.json::<Value>().await.unwrap()["status"],
        "CANCELLED"
    );
    assert_eq!(stock_becomes(&c, product_id, 3).await, 3, "stock released");
    let again = c
        .delete(format!("{}/orders/{id}", gateway()))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn twenty_concurrent_orders_for_the_last_five_units_confirm_exactly_five() {
    let c = client();
    let user = create_user(&c).await;
    let product = create_product(&c, 999, 5).await;
    let product_id = product["id"].as_str().unwrap().to_owned();

    let orders =
        futures::future::join_all((0..20).map(|_| place_order(&c, &user, &product, 1))).await;
    let ids: Vec<String> = orders
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    let mut statuses = Vec::new();
    for id in &ids {
        statuses.push(settled_status(&c, id).await);
    }

    let confirmed = statuses.iter().filter(|s| *s == "CONFIRMED").count();
    let rejected = statuses.iter().filter(|s| *s == "REJECTED").count();
    assert_eq!((confirmed, rejected), (5, 15), "{statuses:?}");
    assert_eq!(stock_becomes(&c, &product_id, 0).await, 0);
    let listed = get_json(
        &c,
        &format!(
            "/orders?customer_id={}&status=CONFIRMED&limit=100",
            user["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 5);
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn an_idempotency_key_replays_the_first_response_and_refuses_another_body() {
    let c = client();
    let user = create_user(&c).await;
    let product = create_product(&c, 500, 10).await;
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "customer_id": user["id"],
        "items": [{ "product_id": product["id"], "quantity": 1 }],
        "payment_method": "tok_visa"
    });
    let post = |body: Value| {
        c.post(format!("{}/orders", gateway()))
            .header("idempotency-key", key.clone())
            .json(&body)
            .send()
    };

    let first = post(body.clone()).await.unwrap();
    let first_status = first.status();
    let first_body: Value = first.json().await.unwrap();
    let retry = post(body.clone()).await.unwrap();
    let retry_replayed = retry.headers().get("idempotent-replayed").cloned();
    let retry_status = retry.status();
    let retry_body: Value = retry.json().await.unwrap();
    let mut other = body.clone();
    other["items"][0]["quantity"] = json!(2);
    let different = post(other).await.unwrap();

    assert_eq!(first_status, StatusCode::CREATED);
    assert_eq!(retry_status, StatusCode::CREATED);
    assert_eq!(retry_body, first_body, "same order, same response");
    assert_eq!(retry_replayed.unwrap(), "true");
    assert_eq!(different.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        different.json::<Value>().await.unwrap()["error"]["code"],
        "IDEMPOTENCY_KEY_REUSED"
    );
    let listed = get_json(
        &c,
        &format!("/orders?customer_id={}", user["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "one order stored"
    );
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn the_same_order_placed_event_delivered_ten_times_reserves_stock_once() {
    let c = client();
    let product = create_product(&c, 100, 10).await;
    let product_id = product["id"].as_str().unwrap();
    // An OrderPlaced for an order the orders service never stored: only the inventory's
    // reservation is observed here (the resulting StockReserved is charged, and the
    // PaymentCaptured fails on the orders side for an unknown order, as it should, and ends in
    // that DLQ).
    let envelope = json!({
        "event_id": uuid::Uuid::now_v7(),
        "event_type": "OrderPlaced",
        "schema_version": 1,
        "occurred_at": "2026-01-01T00:00:00Z",
        "correlation_id": "e2e-duplicates",
        "data": {
            "order_id": uuid::Uuid::now_v7(),
            "customer_id": uuid::Uuid::now_v7(),
            "items": [{ "product_id": product_id, "quantity": 3, "unit_price_cents": 100 }],
            "total_cents": 300,
            "payment_method": "tok_visa"
        }
    })
    .to_string();

    for _ in 0..10 {
        devstack_cli(&["send", "InventoryQueue", "--body", &envelope]).await;
    }

    assert_eq!(stock_becomes(&c, product_id, 7).await, 7);
    // Every copy is consumed (deleted after its batch succeeded, or moved to the DLQ) once the
    // queue holds nothing, visible or in flight; a copy applied twice would show by then.
    assert_drained(&queue_url("InventoryQueue").await).await;
    assert_eq!(
        get_json(&c, &format!("/products/{product_id}")).await["stock"],
        7
    );
}

/// The URL of queue `logical_id` of the stack under test.
async fn queue_url(logical_id: &str) -> String {
    let template = Template::load(&devstack::workspace_root().join("template.yaml")).unwrap();
    let name = queue_plans(&template, &stack_name(), None)
        .unwrap()
        .into_iter()
        .find(|q| q.logical_id == logical_id)
        .unwrap()
        .name;
    sqs()
        .await
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&devstack::aws::sdk_config().await)
}

/// Polls the queue until it holds no message, visible, in flight or delayed (90 s at most;
/// other tests may be feeding it meanwhile), and fails if it never does.
async fn assert_drained(url: &str) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let sqs = sqs().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let out = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .unwrap();
        let attributes = out.attributes.unwrap_or_default();
        let count = |a: A| -> u64 { attributes.get(&a).map_or(0, |v| v.parse().unwrap()) };
        let counts = [
            count(A::ApproximateNumberOfMessages),
            count(A::ApproximateNumberOfMessagesNotVisible),
            count(A::ApproximateNumberOfMessagesDelayed),
        ];
        if counts == [0, 0, 0] {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} still holds (visible, in flight, delayed) {counts:?} messages"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn two_concurrent_updates_with_the_same_version_one_wins_the_other_gets_412() {
    let c = client();
    let user = create_user(&c).await;
    let id = user["id"].as_str().unwrap();
    let etag = c
        .get(format!("{}/users/{id}", gateway()))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let put = |name: &'static str| {
        c.put(format!("{}/users/{id}", gateway()))
            .header("if-match", etag.clone())
            .json(&json!({ "name": name, "email": user["email"] }))
            .send()
    };

    let (a, b) = tokio::join!(put("Ada A"), put("Ada B"));

    let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412]);
    let stored = get_json(&c, &format!("/users/{id}")).await;
    assert!(["Ada A", "Ada B"].contains(&stored["name"].as_str().unwrap()));
    assert_eq!(stored["version"], 2);
}

/// Runs the `devstack` binary against the stack under test and asserts it succeeded.
async fn devstack_cli(args: &[&str]) -> String {
    let out = devstack_run(args).await;
    assert!(
        out.status.success(),
        "devstack {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_poison_message_sent_with_devstack_ends_in_the_dead_letter_queue() {
    let marker = uuid::Uuid::new_v4().to_string();
    let body = json!({ "poison": marker }).to_string();

    devstack_cli(&["send", "OrdersQueue", "--body", &body]).await;

    let dlq = queue_url("OrdersDeadLetterQueue").await;
    let sqs = sqs().await;
    // 5 receives at the test stack's 2 s visibility timeout, plus polling.
    let found = receive_marked(&sqs, &dlq, &marker, Duration::from_secs(90)).await;

    let message = found.expect("the poison message in the DLQ");
    let receives: u32 = message.attributes().unwrap()
        [&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount]
        .parse()
        .unwrap();
    assert!(
        receives >= 5,
        "moved after maxReceiveCount (5) receives, saw {receives}"
    );
}

/// Runs the `devstack` binary against the stack under test, whatever its exit status.
async fn devstack_run(args: &[&str]) -> std::process::Output {
    let stack = stack_name();
    let mut all = vec!["--stack-name", &stack];
    all.extend_from_slice(args);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_devstack"))
        .current_dir(devstack::workspace_root())
        .args(&all)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_poison_outbox_record_lands_whole_in_the_outbox_dead_letter_queue_and_the_saga_goes_on() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let root = devstack::workspace_root();
    let template = Template::load(&root.join("template.yaml")).unwrap();
    let outbox = devstack::provision::table_plans(&template, &stack_name())
        .unwrap()
        .into_iter()
        .find(|t| t.logical_id == "OutboxTable")
        .unwrap()
        .name;
    let marker = uuid::Uuid::new_v4().to_string();
    let id = format!("poison-{marker}");
    // Not an outbox item: no event_type, envelope, created_at or expires_at.
    let written = json!({
        "id": {"S": id},
        "note": {"S": "written by hand, not by a service"},
        "attempt": {"N": "3"}
    });
    let c = client();
    let user = create_user(&c).await;
    let product = create_product(&c, 700, 2).await;

    let dynamodb = aws_sdk_dynamodb::Client::new(&devstack::aws::sdk_config().await);
    dynamodb
        .put_item()
        .table_name(&outbox)
        .item("id", AttributeValue::S(id.clone()))
        .item(
            "note",
            AttributeValue::S("written by hand, not by a service".into()),
        )
        .item("attempt", AttributeValue::N("3".into()))
        .send()
        .await
        .unwrap();
    // Behind the poison record on the stream: the relay must get past it.
    let order = place_order(&c, &user, &product, 1).await;

    let sqs = sqs().await;
    let dlq = devstack::dlq::resolve(&template, &stack_name(), "OutboxDeadLetterQueue", &sqs)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let dead = loop {
        let listed = devstack::dlq::list(&sqs, &dlq.dlq, None).await.unwrap();
        if let Some(m) = listed.into_iter().find(|m| m.body.contains(&marker)) {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the poison record never reached OutboxDeadLetterQueue"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    let record: Value = serde_json::from_str(&dead.body).unwrap();
    assert_eq!(record["eventName"], "INSERT");
    assert_eq!(record["eventSource"], "aws:dynamodb");
    assert_eq!(record["dynamodb"]["Keys"], json!({"id": {"S": id}}));
    assert_eq!(record["dynamodb"]["NewImage"], written, "the record whole");
    assert!(record["dynamodb"]["SequenceNumber"].is_string());
    assert_eq!(dead.attributes["reason"], "NOT_AN_OUTBOX_ITEM");
    assert_eq!(
        Some(&dead.attributes["sequence_number"]),
        record["dynamodb"]["SequenceNumber"]
            .as_str()
            .map(str::to_owned)
            .as_ref()
    );
    let order_id = order["id"].as_str().unwrap();
    assert_eq!(settled_status(&c, order_id).await, "CONFIRMED");

    let listed = devstack_cli(&["dlq", "list", "OutboxDeadLetterQueue"]).await;
    assert!(listed.contains(&marker), "{listed}");
    assert!(listed.contains("reason: NOT_AN_OUTBOX_ITEM"), "{listed}");
    let redrive = devstack_run(&["dlq", "redrive", "OutboxDeadLetterQueue"]).await;
    assert!(
        !redrive.status.success(),
        "redrive has nowhere to send them"
    );
    let stderr = String::from_utf8_lossy(&redrive.stderr);
    assert!(stderr.contains("has no source queue"), "{stderr}");
}
