//! Adapter tests of the stored order shape and the SQS publisher, against the local AWS emulator (moto server on 127.0.0.1:4566, or whatever
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

mod common;

use common::Stack;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::aws::{DynamoOrders, SqsPublisher};
use shared::domain::{Order, OrderId, OrderItem, UserId, now};
use shared::events::{Envelope, OrderPlaced};
use shared::ports::{EventPublisher, OrderPlacer, OrderReader};

impl Stack {
    fn orders_table(&self) -> &str {
        &self.resources.tables["OrdersTable"]
    }

    fn orders(&self) -> DynamoOrders {
        let tables = &self.resources.tables;
        DynamoOrders::new(&self.sdk, self.orders_table())
            .with_event_store(&tables["OutboxTable"], &tables["IdempotencyTable"])
    }
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
async fn a_stored_order_is_read_back_unchanged_with_snake_case_cents_attributes() {
    let stack = Stack::new().await;
    let orders = stack.orders();
    let order = an_order();

    let event = Envelope::wrap(&OrderPlaced::from(&order), "req-1", now()).unwrap();
    orders.place(&order, &event, None).await.unwrap();
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

#[tokio::test]
#[ignore = "needs the local emulator: run make test"]
async fn a_published_traced_event_is_received_with_its_aws_trace_header() {
    use aws_sdk_sqs::types::MessageSystemAttributeName;
    let stack = Stack::new().await;
    let queue_url = stack.resources.queues["OrdersQueue"].url.clone();
    let publisher = SqsPublisher::new(&stack.sdk, &queue_url);
    let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let envelope = Envelope::wrap(&OrderPlaced::from(&an_order()), "req-43", now())
        .unwrap()
        .with_trace_header(Some(header.to_owned()));

    publisher.publish(&envelope).await.unwrap();

    // What devstack's SQS event source mapping asks for (infra/src/esm.rs).
    let received = aws_sdk_sqs::Client::new(&stack.sdk)
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let messages = received.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let attributes = messages[0].attributes.as_ref().unwrap();
    assert_eq!(
        attributes
            .get(&MessageSystemAttributeName::AwsTraceHeader)
            .map(String::as_str),
        Some(header)
    );
    let body = Envelope::from_json(messages[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body.trace_header.as_deref(), Some(header));
}
