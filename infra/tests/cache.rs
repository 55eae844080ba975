//! The cache layer end to end, through the running local cloud (`make test`): the second read
//! of a product, a user or a category page is served from Redis — no second DynamoDB request
//! reaches the emulator (counted by devstack's fault proxy, `devstack requests`) — and every
//! write path (update, delete, stock adjustment, the saga's reservation and a cancellation's
//! release) shows on the next read.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod local;

use local::{admin, create_product, gateway, get, poll, requests};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A category no other test uses.
fn unique_category() -> String {
    format!("c{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_second_product_read_is_served_from_redis_and_each_catalog_write_shows_on_the_next_read()
{
    let c = admin();
    let product = create_product(&c, &unique_category(), 10).await;
    let id = product["id"].as_str().unwrap().to_owned();
    let path = format!("/products/{id}");

    let (first, _, body, _) = get(&c, &path).await;
    let after_first = requests("GetItem", &id);
    let (second, _, again, _) = get(&c, &path).await;
    let after_second = requests("GetItem", &id);

    assert_eq!((first, second), (200, 200));
    assert_eq!(again, body);
    assert!(after_first >= 1, "the first read reached the table");
    assert_eq!(after_second, after_first, "the second read was a cache hit");

    // PUT: the new name is read at once.
    let resp = c
        .put(format!("{}{path}", gateway()))
        .header("If-Match", "\"1\"")
        .json(
            &json!({"name": "Jacquard loom II", "description": "More cards.",
                      "category": body["category"], "price_cents": 1300}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, _, updated, _) = get(&c, &path).await;
    assert_eq!(updated["name"], "Jacquard loom II");
    assert_eq!(updated["version"], 2);

    // A stock adjustment.
    let resp = c
        .patch(format!("{}{path}/stock", gateway()))
        .json(&json!({"delta": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, _, adjusted, _) = get(&c, &path).await;
    assert_eq!(adjusted["stock"], 15);

    // DELETE: gone on the next read.
    let resp = c
        .delete(format!("{}{path}", gateway()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, _, _, _) = get(&c, &path).await;
    assert_eq!(status, 404);
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_reservation_and_a_cancellations_release_show_on_the_next_read() {
    let c = admin();
    let product = create_product(&c, &unique_category(), 7).await;
    let id = product["id"].as_str().unwrap().to_owned();
    let path = format!("/products/{id}");
    let (_, _, cached, _) = get(&c, &path).await;
    assert_eq!(cached["stock"], 7);
    let user: Value = c
        .post(format!("{}/users", gateway()))
        .json(&json!({"name": "Ada", "email": format!("ada+{}@example.com", uuid::Uuid::new_v4().simple())}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let order: Value = c
        .post(format!("{}/orders", gateway()))
        .json(&json!({"customer_id": user["id"], "items": [{"product_id": id, "quantity": 3}], "payment_method": "tok_visa"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The cached entry (stock 7) would otherwise be served for 300 s.
    let reserved = poll(&c, &path, |p| p["stock"] == 4).await;
    assert_eq!(
        reserved["stock"], 4,
        "the reservation shows on the next read"
    );
    let confirmed = poll(
        &c,
        &format!("/orders/{}", order["id"].as_str().unwrap()),
        |o| o["status"] != "PENDING",
    )
    .await;
    assert_eq!(confirmed["status"], "CONFIRMED");

    let resp = c
        .delete(format!(
            "{}/orders/{}",
            gateway(),
            order["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let released = poll(&c, &path, |p| p["stock"] == 7).await;
    assert_eq!(released["stock"], 7, "the release shows on the next read");
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_second_user_read_is_served_from_redis_and_an_update_shows_on_the_next_read() {
    let c = admin();
    let email = format!("grace+{}@example.com", uuid::Uuid::new_v4().simple());
    let user: Value = c
        .post(format!("{}/users", gateway()))
        .json(&json!({"name": "Grace", "email": email}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = user["id"].as_str().unwrap().to_owned();
    let path = format!("/users/{id}");

    get(&c, &path).await;
    let after_first = requests("GetItem", &id);
    let (status, _, _, _) = get(&c, &path).await;

    assert_eq!(status, 200);
    assert_eq!(requests("GetItem", &id), after_first, "a cache hit");

    let resp = c
        .put(format!("{}{path}", gateway()))
        .header("If-Match", "\"1\"")
        .json(&json!({"name": "Grace Hopper", "email": email}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, _, updated, _) = get(&c, &path).await;
    assert_eq!(updated["name"], "Grace Hopper");
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn an_unknown_product_read_twice_reaches_the_table_once() {
    let c = admin();
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let path = format!("/products/{id}");

    let (first, _, _, _) = get(&c, &path).await;
    let after_first = requests("GetItem", &id);
    let (second, _, _, _) = get(&c, &path).await;

    assert_eq!((first, second), (404, 404));
    assert_eq!(after_first, 1);
    assert_eq!(requests("GetItem", &id), 1, "the miss was cached");
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_category_page_read_twice_is_served_from_redis_and_a_new_product_shows_on_the_next_read()
{
    let c = admin();
    let category = unique_category();
    create_product(&c, &category, 1).await;
    let path = format!("/products?category={category}&limit=10");

    // A page is not filled within 2 s of a product write (the category index is eventually
    // consistent): read pairs until the second read of a pair sends no Query (10 s at most).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (page, hit) = loop {
        let (_, _, page, _) = get(&c, &path).await;
        let before = requests("Query", &category);
        let (_, _, again, _) = get(&c, &path).await;
        assert_eq!(again, page);
        if requests("Query", &category) == before {
            break (page, true);
        }
        if std::time::Instant::now() > deadline {
            break (page, false);
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };

    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(hit, "the page came from Redis");

    create_product(&c, &category, 2).await;
    let (_, _, grown, _) = get(&c, &path).await;
    assert_eq!(grown["items"].as_array().unwrap().len(), 2, "{grown}");
}
