//! One trace per order, through the running local cloud (`make test`): the X-Ray trace header
//! of the `POST /orders` invocation (`cargo lambda watch` passes each invocation one, as Lambda
//! does, in `Lambda-Runtime-Trace-Id`) goes into `OrderPlaced`, every follow-on event of the
//! saga copies it with the correlation id, and the outbox relay sends it as each SQS message's
//! `AWSTraceHeader` system attribute.
//!
//! `DEVSTACK_GATEWAY` and `DEVSTACK_STACK_NAME` say which running stack to use; the emulator is
//! the one `AWS_ENDPOINT_URL` names.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod local;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use devstack::provision::{queue_plans, table_plans};
use devstack::template::Template;
use local::{admin, order_of_a_new_customer, poll_orders, receive_marked, stack_name};
use serde_json::{Value, json};
use shared::aws::transact::{Outbox, OutboxItem};
use shared::domain::{OrderId, now};
use shared::events::{Envelope, StockRejected, is_trace_id, trace_root};

/// The physical name of the stack's resource `logical_id` (a table or a queue).
fn physical(logical_id: &str) -> String {
    let template = Template::load(&devstack::workspace_root().join("template.yaml")).unwrap();
    let tables = table_plans(&template, &stack_name()).unwrap();
    let queues = queue_plans(&template, &stack_name(), None).unwrap();
    tables
        .into_iter()
        .map(|t| (t.logical_id, t.name))
        .chain(queues.into_iter().map(|q| (q.logical_id, q.name)))
        .find(|(id, _)| id == logical_id)
        .map(|(_, name)| name)
        .unwrap_or_else(|| panic!("no {logical_id} in the template"))
}

/// Every event in the outbox table whose envelope mentions `needle` (e.g. an order id).
async fn outbox_events(needle: &str) -> Vec<Envelope> {
    let dynamodb = aws_sdk_dynamodb::Client::new(&devstack::aws::sdk_config().await);
    let items: Vec<_> = dynamodb
        .scan()
        .table_name(physical("OutboxTable"))
        .filter_expression("contains(envelope, :needle)")
        .expression_attribute_values(":needle", AttributeValue::S(needle.to_owned()))
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .unwrap();
    items
        .into_iter()
        .map(|item| {
            let item: OutboxItem = serde_dynamo::from_item(item).unwrap();
            Envelope::from_json(&item.envelope).unwrap()
        })
        .collect()
}

/// A fresh, well-formed X-Ray trace header (`Root=1-<epoch s, 8 hex>-<24 hex>;...`).
fn fresh_trace_header() -> String {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=1",
        now().timestamp(),
        &unique[..24],
        &unique[16..32]
    )
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn every_event_of_a_confirmed_order_carries_one_trace_root_and_one_correlation_id() {
    let c = admin();
    let (_, _, order) = order_of_a_new_customer(&c, "tracing", 3, 1, "tok_visa").await;
    let id = order["id"].as_str().unwrap().to_owned();

    let settled = poll_orders(
        &c,
        std::slice::from_ref(&id),
        Duration::from_secs(120),
        |o| o["status"] != "PENDING",
    )
    .await;
    assert_eq!(settled[0]["status"], "CONFIRMED", "{}", settled[0]);

    let events = outbox_events(&id).await;
    let types: BTreeSet<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        BTreeSet::from(["OrderPlaced", "StockReserved", "PaymentCaptured"]),
        "{events:#?}"
    );
    let traces: BTreeMap<&str, Option<&str>> = events
        .iter()
        .map(|e| {
            let root = e.trace_header.as_deref().and_then(trace_root);
            (e.event_type.as_str(), root)
        })
        .collect();
    let roots: BTreeSet<Option<&str>> = traces.values().copied().collect();
    assert_eq!(roots.len(), 1, "one trace for the whole saga: {traces:?}");
    let root = roots.into_iter().next().flatten();
    assert!(
        root.is_some_and(is_trace_id),
        "a well-formed X-Ray trace id on every event: {traces:?}"
    );
    let correlation: BTreeSet<&str> = events.iter().map(|e| e.correlation_id.as_str()).collect();
    assert_eq!(correlation.len(), 1, "one correlation id: {correlation:?}");
    assert!(correlation.iter().all(|c| !c.is_empty()));
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn the_relay_sends_an_events_trace_header_as_the_messages_aws_trace_header() {
    // An event process-orders cannot read (its order id is no id): it fails every delivery and
    // lands in OrdersDeadLetterQueue, which nothing consumes, with the message's attributes.
    let marker = format!("tracing-{}", uuid::Uuid::new_v4().simple());
    let header = fresh_trace_header();
    let event = StockRejected {
        order_id: OrderId::new(),
        product_ids: Vec::new(),
        reason: "tracing test".to_owned(),
    };
    let mut envelope = Envelope::wrap(&event, "tracing-test", now())
        .unwrap()
        .with_trace_header(Some(header.clone()));
    envelope.data["order_id"] = json!(marker);
    let dynamodb = aws_sdk_dynamodb::Client::new(&devstack::aws::sdk_config().await);
    dynamodb
        .transact_write_items()
        .transact_items(Outbox::new(physical("OutboxTable")).put(&envelope).unwrap())
        .send()
        .await
        .unwrap();

    let sqs = aws_sdk_sqs::Client::new(&devstack::aws::sdk_config().await);
    let dlq = sqs
        .get_queue_url()
        .queue_name(physical("OrdersDeadLetterQueue"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    // The relay, then 5 receives at the test stack's 2 s visibility timeout, plus polling.
    let found = receive_marked(&sqs, &dlq, &marker, Duration::from_secs(120)).await;

    let message = found.expect("the unreadable event in OrdersDeadLetterQueue");
    let attributes = message.attributes().unwrap();
    assert_eq!(
        attributes
            .get(&MessageSystemAttributeName::AwsTraceHeader)
            .map(String::as_str),
        Some(header.as_str()),
        "{attributes:?}"
    );
    let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
    assert_eq!(body["trace_header"], header.as_str());
    assert_eq!(body["event_id"], envelope.event_id.to_string());
}
