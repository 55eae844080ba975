//! End to end through the local cloud that `make test` starts (`devstack up`): HTTP requests to
//! the emulated API Gateway reach the functions under `cargo lambda watch`, which use the
//! emulator's DynamoDB and SQS; the orders queue's event source mapping confirms orders; a
//! poison message injected with `devstack send` ends in the dead-letter queue.
//!
//! `DEVSTACK_GATEWAY` (default `http://127.0.0.1:3000`) and `DEVSTACK_STACK_NAME` (default
//! `shop`) say which running stack to use; `make dev` in another terminal works too.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::time::Duration;

use devstack::provision::queue_plans;
use devstack::template::Template;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn gateway() -> String {
    std::env::var("DEVSTACK_GATEWAY").unwrap_or_else(|_| "http://127.0.0.1:3000".into())
}

fn stack_name() -> String {
    std::env::var("DEVSTACK_STACK_NAME").unwrap_or_else(|_| "shop".into())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(180))
        .build()
        .unwrap()
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

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn an_order_is_confirmed_by_the_queue_consumer_within_seconds() {
    let c = client();
    let user = create_user(&c).await;

    let resp = c
        .post(format!("{}/orders", gateway()))
        .json(&json!({
            "customer_id": user["id"],
            "items": [
                { "product_id": "sku-1", "quantity": 2, "unit_price_cents": 1250 },
                { "product_id": "sku-2", "quantity": 1, "unit_price_cents": 99 }
            ]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let order: Value = resp.json().await.unwrap();
    assert_eq!(order["status"], "PENDING");
    assert_eq!(order["total_cents"], 2599);
    let id = order["id"].as_str().unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut status = Value::Null;
    while tokio::time::Instant::now() < deadline {
        let fetched: Value = c
            .get(format!("{}/orders/{id}", gateway()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status = fetched["status"].clone();
        if status == "CONFIRMED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status, "CONFIRMED");
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_poison_message_sent_with_devstack_ends_in_the_dead_letter_queue() {
    let marker = uuid::Uuid::new_v4().to_string();
    let body = json!({ "poison": marker }).to_string();
    let root = devstack::workspace_root();

    let sent = tokio::process::Command::new(env!("CARGO_BIN_EXE_devstack"))
        .current_dir(&root)
        .args([
            "--stack-name",
            &stack_name(),
            "send",
            "OrdersQueue",
            "--body",
            &body,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );

    let template = Template::load(&root.join("template.yaml")).unwrap();
    let dlq_name = queue_plans(&template, &stack_name(), None)
        .unwrap()
        .into_iter()
        .find(|q| q.logical_id == "OrdersDeadLetterQueue")
        .unwrap()
        .name;
    let sqs = aws_sdk_sqs::Client::new(&devstack::aws::sdk_config().await);
    let dlq = sqs
        .get_queue_url()
        .queue_name(dlq_name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    // 5 receives at the test stack's 2 s visibility timeout, plus polling.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut found = None;
    while found.is_none() && tokio::time::Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        found = out
            .messages
            .unwrap_or_default()
            .into_iter()
            .find(|m| m.body().is_some_and(|b| b.contains(&marker)));
    }

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
