//! Fuzz target `sqs_event`: an SQS event as Lambda delivers it to the saga's consumers —
//! JSON → `aws_lambda_events::sqs::SqsEvent` → `shared::consumer::partial_batch` with each
//! record's `shared::consumer::envelope` (`Envelope::from_json`) decoded as every event type.
//!
//! Input: first byte even, the rest is the whole event's JSON (seeds: AWS's sample, the
//! project's fixtures); odd, the rest is one record's body inside a valid event, so envelope
//! parsing is reached on every run.
//!
//! Properties: nothing panics; `partial_batch` reports exactly the records whose processing
//! failed, by `messageId`, in order; an envelope that parses prints as JSON that parses back to
//! the same JSON.

#![no_main]

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use shared::consumer::{envelope, partial_batch};
use shared::events::{
    Envelope, OrderCancelled, OrderPlaced, PaymentCaptured, PaymentDeclined, RefundIssued,
    StockRejected, StockReserved, trace_root,
};

/// What a consumer does with a record, in short: its envelope, then the payload of its type.
fn process(record: &SqsMessage) -> Result<(), shared::Error> {
    let envelope = envelope(record)?;
    let _ = envelope.trace_id();
    let decoded = [
        envelope.decode::<OrderPlaced>().map(drop),
        envelope.decode::<OrderCancelled>().map(drop),
        envelope.decode::<StockReserved>().map(drop),
        envelope.decode::<StockRejected>().map(drop),
        envelope.decode::<PaymentCaptured>().map(drop),
        envelope.decode::<PaymentDeclined>().map(drop),
        envelope.decode::<RefundIssued>().map(drop),
    ];
    let _ = shared::events::Destination::of(&envelope.event_type);
    // Printed and read back, an envelope is stable (the outbox prints it, a consumer reads it).
    let printed = envelope.to_json()?;
    let again = Envelope::from_json(&printed)?;
    assert_eq!(
        again.to_json()?,
        printed,
        "an envelope changed when printed and read back"
    );
    // Only the envelope fails a record here; which payload type it is, is the consumer's.
    drop(decoded);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let event: SqsEvent = if mode % 2 == 0 {
        match serde_json::from_slice(rest) {
            Ok(event) => event,
            Err(_) => return,
        }
    } else {
        let body = String::from_utf8_lossy(rest);
        let event = json!({"Records": [{
            "messageId": "m-1",
            "receiptHandle": "r",
            "body": body,
            "attributes": {"AWSTraceHeader": body},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
            "awsRegion": "us-east-1"
        }]});
        match serde_json::from_value(event) {
            Ok(event) => event,
            Err(_) => return,
        }
    };
    for record in &event.records {
        if let Some(header) = record.attributes.get("AWSTraceHeader") {
            let _ = trace_root(header);
        }
    }
    let expected: Vec<String> = event
        .records
        .iter()
        .filter(|r| process(r).is_err())
        .map(|r| r.message_id.clone().unwrap_or_default())
        .collect();
    let response = futures::executor::block_on(partial_batch(&event.records, |record| {
        std::future::ready(process(record))
    }));
    let reported: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        reported, expected,
        "partial_batch reported other records than failed"
    );
    let _ = serde_json::to_string(&response);
});
