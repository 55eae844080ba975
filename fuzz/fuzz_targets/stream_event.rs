//! Fuzz target `stream_event`: DynamoDB stream records on both sides of the wire.
//!
//! - The outbox relay (`functions/relay-outbox/src/handler.rs`, compiled in here as a module,
//!   with in-memory queues) handles the event JSON as Lambda delivers it: every record must
//!   end up published or dead-lettered — with the fakes never failing, no record is reported
//!   for retry and none is dropped — and a dead letter's body is the record as received.
//! - devstack's stream mapping (`devstack::streams`): each record parsed as
//!   `aws_lambda_events::dynamodb::EventRecord` is rebuilt as the Streams API's record, shaped
//!   back into the Lambda event (`event_record`, `record_json`, `event_json`), which must parse
//!   as an `EventRecord` again with the same keys, images and sequence number; and a function's
//!   answer is read as a partial batch response (`first_failure`).
//!
//! Input: first byte even, the rest is the stream event's JSON (seeds: AWS's sample, the
//! relay's fixtures); odd, the rest is a function's answer to a batch of three records.
//! Property: nothing panics, and the above.

#![no_main]

#[path = "../../functions/relay-outbox/src/handler.rs"]
mod handler;

use std::sync::Mutex;

use async_trait::async_trait;
use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_sdk_dynamodbstreams::types::{
    Identity, OperationType, Record, StreamRecord, StreamViewType,
};
use handler::{DeadLetter, DeadLetterQueue, Queues, StreamEvent};
use lambda_runtime::{Context, LambdaEvent};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shared::memory::RecordingPublisher;

/// Keeps every dead letter; never fails.
#[derive(Default)]
struct Letters(Mutex<Vec<DeadLetter>>);

#[async_trait]
impl DeadLetterQueue for Letters {
    async fn send(&self, letter: &DeadLetter) -> Result<(), shared::Error> {
        self.0
            .lock()
            .map_err(|_| shared::Error::internal("lock", "poisoned"))?
            .push(letter.clone());
        Ok(())
    }
}

fn relay(payload: &[u8]) {
    let Ok(event) = serde_json::from_slice::<StreamEvent>(payload) else {
        return;
    };
    let queues = Queues {
        inventory: RecordingPublisher::new(),
        payments: RecordingPublisher::new(),
        orders: RecordingPublisher::new(),
    };
    let letters = Letters::default();
    let records = event.records.clone();
    let response = futures::executor::block_on(handler::handle(
        &queues,
        &letters,
        LambdaEvent::new(event, Context::default()),
    ))
    .unwrap_or_else(|never| match never {});
    assert!(
        response.batch_item_failures.is_empty(),
        "a record was reported for retry although every send succeeded: {response:?}"
    );
    let letters = letters.0.into_inner().unwrap_or_else(|e| e.into_inner());
    let published = [&queues.inventory, &queues.payments, &queues.orders]
        .iter()
        .map(|q| q.published().len())
        .sum::<usize>();
    assert!(letters.len() <= records.len());
    assert!(
        letters.len() + published >= records.len(),
        "a record was neither published nor dead-lettered: {} records, {} letters, {published} sent",
        records.len(),
        letters.len()
    );
    for letter in &letters {
        let body: Value = serde_json::from_str(&letter.body).expect("a dead letter's body is JSON");
        assert!(
            records.contains(&body),
            "a dead letter is not a record as received"
        );
        assert!(!letter.detail.is_empty() && !letter.reason.code().is_empty());
    }
}

/// The Streams API's record for a record of the Lambda event (what devstack reads).
fn sdk_record(r: &EventRecord) -> Record {
    let change = &r.change;
    let mut builder = StreamRecord::builder()
        .set_keys(Some(change.keys.clone().into()))
        .set_new_image(Some(change.new_image.clone().into()))
        .set_old_image(Some(change.old_image.clone().into()))
        .set_sequence_number(change.sequence_number.clone())
        .size_bytes(change.size_bytes)
        .approximate_creation_date_time(aws_sdk_dynamodbstreams::primitives::DateTime::from_secs(
            change.approximate_creation_date_time.timestamp(),
        ));
    if let Some(view) = change
        .stream_view_type
        .as_ref()
        .and_then(|v| serde_json::to_value(v).ok())
    {
        if let Some(view) = view.as_str() {
            builder = builder.stream_view_type(StreamViewType::from(view));
        }
    }
    let mut record = Record::builder()
        .event_id(r.event_id.clone())
        .event_name(OperationType::from(r.event_name.as_str()))
        .dynamodb(builder.build());
    if let Some(user) = &r.user_identity {
        record = record.user_identity(
            Identity::builder()
                .principal_id(user.principal_id.clone())
                .r#type(user.type_.clone())
                .build(),
        );
    }
    record.build()
}

fn mapping(payload: &[u8]) {
    let Ok(event) = serde_json::from_slice::<Event>(payload) else {
        return;
    };
    let mut rebuilt = Vec::new();
    for record in &event.records {
        let sdk = sdk_record(record);
        let Ok(typed) = devstack::streams::event_record(
            &sdk,
            "arn:aws:dynamodb:us-east-1:1:table/t/stream/s",
            "us-east-1",
        ) else {
            continue;
        };
        let json = devstack::streams::record_json(&typed).expect("a record prints as JSON");
        let back: EventRecord = serde_json::from_value(json.clone()).unwrap_or_else(|e| {
            panic!("devstack sent a record Lambda's type cannot read: {e}: {json}")
        });
        assert_eq!(
            back.change.keys, record.change.keys,
            "keys changed on the way"
        );
        assert_eq!(
            back.change.new_image, record.change.new_image,
            "NewImage changed on the way"
        );
        assert_eq!(
            back.change.old_image, record.change.old_image,
            "OldImage changed on the way"
        );
        assert_eq!(back.change.sequence_number, record.change.sequence_number);
        rebuilt.push(typed);
    }
    let sent = devstack::streams::event_json(&devstack::streams::event(rebuilt))
        .expect("an event prints as JSON");
    let _: Event = serde_json::from_value(sent).expect("devstack's event reads as Lambda's type");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        relay(rest);
        mapping(rest);
    } else {
        let batch = ["111", "112", "113"];
        if let Ok(Some(first)) = devstack::streams::first_failure(rest, &batch) {
            assert!(first < batch.len(), "a failure index outside the batch");
        }
    }
});
