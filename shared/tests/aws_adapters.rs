//! Adapter tests against the local AWS emulator (moto server on 127.0.0.1:4566, or whatever
//! `AWS_ENDPOINT_URL` says). `make test` starts it and runs these ignored tests.
//!
//! Each test provisions the template's tables and queues under its own prefix, so tests run in
//! parallel and never see each other's data.

// Setup helpers live outside `#[test]` functions, where `allow-unwrap-in-tests` does not reach;
// a failed setup should panic like a failed assertion.
#![expect(
    clippy::unwrap_used,
    reason = "test setup helpers panic on failure by design"
)]

use std::collections::HashSet;
use std::path::Path;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use devstack::provision::{Provisioned, provision};
use devstack::template::Template;
use shared::aws::{DynamoOrders, DynamoUsers, SqsPublisher};
use shared::domain::{
    Confirmation, NewUser, Order, OrderId, OrderItem, OrderStatus, User, UserId, now,
};
use shared::events::{Envelope, OrderPlaced};
use shared::ports::{
    Cursor, EventPublisher, OrderReader, OrderStatusUpdater, OrderWriter, PageLimit, UserLister,
    UserReader, UserWriter,
};

/// The template's resources, freshly created under a unique prefix.
struct Stack {
    sdk: SdkConfig,
    resources: Provisioned,
}

impl Stack {
    async fn new() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let template = Template::load(Path::new(path)).unwrap();
        let sdk = devstack::aws::sdk_config().await;
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let resources = provision(&template, &sdk, &prefix)
            .await
            .unwrap_or_else(|e| panic!("provisioning failed; is the emulator running? {e:#}"));
        Self { sdk, resources }
    }

    fn users_table(&self) -> &str {
        &self.resources.tables["UsersTable"]
    }

    fn orders_table(&self) -> &str {
        &self.resources.tables["OrdersTable"]
    }

    fn users(&self) -> DynamoUsers {
        DynamoUsers::new(&self.sdk, self.users_table())
    }

    fn orders(&self) -> DynamoOrders {
        DynamoOrders::new(&self.sdk, self.orders_table())
    }

    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }
}

fn a_user(n: usize) -> User {
    NewUser::parse(&format!("User {n}"), &format!("user{n}@example.com"))
        .unwrap()
        .into_user(UserId::new(), now())
}

fn an_order() -> Order {
    let items = vec![
        OrderItem::parse("items[0]", "SKU-1", 3, 1999).unwrap(),
        OrderItem::parse("items[1]", "SKU-2", 1, 500).unwrap(),
    ];
    Order::place(OrderId::new(), UserId::new(), items, now()).unwrap()
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_stored_user_is_read_back_unchanged() {
    let stack = Stack::new().await;
    let users = stack.users();
    let user = a_user(1);

    users.insert(&user).await.unwrap();
    let read = users.get(&user.id).await.unwrap();

    assert_eq!(read, Some(user));
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn an_unknown_user_reads_as_none() {
    let stack = Stack::new().await;

    let read = stack.users().get(&UserId::new()).await.unwrap();

    assert_eq!(read, None);
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn inserting_a_user_whose_id_exists_is_a_conflict_and_keeps_the_first() {
    let stack = Stack::new().await;
    let users = stack.users();
    let first = a_user(1);
    users.insert(&first).await.unwrap();
    let mut second = a_user(2);
    second.id = first.id;

    let error = users.insert(&second).await.unwrap_err();

    assert_eq!(error.code(), "CONFLICT", "{error:?}");
    assert_eq!(users.get(&first.id).await.unwrap(), Some(first));
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn listing_follows_the_cursor_across_pages_and_sees_every_user_once() {
    let stack = Stack::new().await;
    let users = stack.users();
    let stored: Vec<User> = (0..5).map(a_user).collect();
    for user in &stored {
        users.insert(user).await.unwrap();
    }
    let limit = PageLimit::parse("2").unwrap();

    let mut seen = Vec::new();
    let mut page_sizes = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for _ in 0..10 {
        let page = users.list(limit, cursor.as_ref()).await.unwrap();
        page_sizes.push(page.items.len());
        seen.extend(page.items.into_iter().map(|u| u.id));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }

    assert_eq!(page_sizes, [2, 2, 1]);
    let seen_set: HashSet<UserId> = seen.iter().copied().collect();
    assert_eq!(
        seen_set.len(),
        seen.len(),
        "a user was listed twice: {seen:?}"
    );
    assert_eq!(seen_set, stored.iter().map(|u| u.id).collect());
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_page_as_large_as_the_table_has_no_next_cursor() {
    let stack = Stack::new().await;
    let users = stack.users();
    for user in (0..3).map(a_user) {
        users.insert(&user).await.unwrap();
    }

    let page = users
        .list(PageLimit::parse("3").unwrap(), None)
        .await
        .unwrap();

    assert_eq!(page.items.len(), 3);
    assert_eq!(page.next, None);
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_forged_cursor_is_a_validation_error_on_cursor() {
    let stack = Stack::new().await;
    let forged = Cursor::from_client("eyJpZCI6IjEyMyJ9"); // {"id":"123"}

    let error = stack
        .users()
        .list(PageLimit::DEFAULT, Some(&forged))
        .await
        .unwrap_err();

    assert_eq!(error.to_string(), "cursor: is not a valid cursor");
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_stored_order_is_read_back_unchanged_with_snake_case_cents_attributes() {
    let stack = Stack::new().await;
    let orders = stack.orders();
    let order = an_order();

    orders.insert(&order).await.unwrap();
    let read = orders.get(&order.id()).await.unwrap();

    assert_eq!(read, Some(order.clone()));
    let raw = stack
        .dynamodb()
        .get_item()
        .table_name(stack.orders_table())
        .key("id", AttributeValue::S(order.id().to_string()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        raw["total_cents"],
        AttributeValue::N((3 * 1999 + 500).to_string())
    );
    assert_eq!(raw["status"], AttributeValue::S("PENDING".into()));
    assert_eq!(
        raw["customer_id"],
        AttributeValue::S(order.customer_id().to_string())
    );
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn inserting_an_order_whose_id_exists_is_a_conflict() {
    let stack = Stack::new().await;
    let orders = stack.orders();
    let order = an_order();
    orders.insert(&order).await.unwrap();

    let error = orders.insert(&order).await.unwrap_err();

    assert_eq!(error.code(), "CONFLICT", "{error:?}");
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn confirming_a_pending_order_confirms_it_and_confirming_again_changes_nothing() {
    let stack = Stack::new().await;
    let orders = stack.orders();
    let order = an_order();
    orders.insert(&order).await.unwrap();

    let first = orders.confirm(&order.id()).await.unwrap();
    let after_first = orders.get(&order.id()).await.unwrap().unwrap();
    let second = orders.confirm(&order.id()).await.unwrap();
    let after_second = orders.get(&order.id()).await.unwrap().unwrap();

    assert_eq!(first, Confirmation::Confirmed);
    assert_eq!(after_first.status(), OrderStatus::Confirmed);
    assert!(after_first.updated_at() >= order.created_at());
    assert_eq!(after_first.items(), order.items());
    assert_eq!(second, Confirmation::AlreadyConfirmed);
    assert_eq!(after_second, after_first);
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn confirming_an_unknown_order_is_not_found_and_creates_nothing() {
    let stack = Stack::new().await;
    let orders = stack.orders();
    let id = OrderId::new();

    let error = orders.confirm(&id).await.unwrap_err();

    assert_eq!(error.code(), "NOT_FOUND", "{error:?}");
    assert_eq!(orders.get(&id).await.unwrap(), None);
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn confirming_a_cancelled_order_is_a_conflict_and_leaves_it_cancelled() {
    let stack = Stack::new().await;
    let orders = stack.orders();
    let order = an_order();
    orders.insert(&order).await.unwrap();
    stack
        .dynamodb()
        .update_item()
        .table_name(stack.orders_table())
        .key("id", AttributeValue::S(order.id().to_string()))
        .update_expression("SET #status = :cancelled")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":cancelled", AttributeValue::S("CANCELLED".into()))
        .send()
        .await
        .unwrap();

    let error = orders.confirm(&order.id()).await.unwrap_err();

    assert_eq!(error.code(), "CONFLICT", "{error:?}");
    let status = orders.get(&order.id()).await.unwrap().unwrap().status();
    assert_eq!(status, OrderStatus::Cancelled);
}

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_published_event_is_received_with_its_envelope_and_event_type_attribute() {
    let stack = Stack::new().await;
    let queue_url = stack.resources.queues["OrdersQueue"].url.clone();
    let publisher = SqsPublisher::new(&stack.sdk, &queue_url);
    let envelope = Envelope::wrap(&OrderPlaced::from(&an_order()), "req-42", now()).unwrap();

    publisher.publish(&envelope).await.unwrap();

    let received = aws_sdk_sqs::Client::new(&stack.sdk)
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let messages = received.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let body = messages[0].body.as_deref().unwrap();
    assert_eq!(Envelope::from_json(body).unwrap(), envelope);
    let attributes = messages[0].message_attributes.as_ref().unwrap();
    assert_eq!(
        attributes["event_type"].string_value.as_deref(),
        Some("OrderPlaced")
    );
    assert_eq!(attributes["event_type"].data_type, "String");
}
