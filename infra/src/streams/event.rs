//! The wire shapes of a stream mapping: the DynamoDB stream `Event` Lambda sends
//! (`aws_lambda_events::dynamodb`), built from the Streams API's records, and the
//! `DynamoDbEventResponse` it reads back.

use anyhow::{Result, anyhow};
use aws_lambda_events::dynamodb::{Event, EventRecord, StreamRecord, UserIdentity};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::Record;
use serde_json::Value;

use crate::invoke;

/// One record of the DynamoDB stream event, as Lambda builds it
/// (`eventID`, `eventName`, `eventVersion` 1.1, `eventSource` aws:dynamodb, `awsRegion`,
/// `dynamodb` with `ApproximateCreationDateTime` in epoch seconds, `Keys`, `NewImage`/`OldImage`
/// as the view type provides them, `SequenceNumber`, `SizeBytes` and `StreamViewType`, then
/// `eventSourceARN`; `userIdentity` for deletions by TTL). [`record_json`] gives its wire form.
///
/// # Errors
/// The record has no `dynamodb` part.
pub fn event_record(r: &Record, stream_arn: &str, region: &str) -> Result<EventRecord> {
    let d = r
        .dynamodb
        .as_ref()
        .ok_or_else(|| anyhow!("a stream record without its dynamodb part"))?;
    let mut change = StreamRecord::default();
    if let Some(t) = d.approximate_creation_date_time
        && let Some(at) = chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
    {
        change.approximate_creation_date_time = at;
    }
    change.keys = d.keys.clone().unwrap_or_default().into();
    change.new_image = d.new_image.clone().unwrap_or_default().into();
    change.old_image = d.old_image.clone().unwrap_or_default().into();
    change.sequence_number.clone_from(&d.sequence_number);
    change.size_bytes = d.size_bytes.unwrap_or_default();
    change.stream_view_type = d
        .stream_view_type
        .as_ref()
        .and_then(|v| serde_json::from_value(Value::String(v.as_str().to_owned())).ok());
    let mut e = EventRecord::default();
    e.aws_region = region.to_owned();
    e.change = change;
    e.event_id = r.event_id.clone().unwrap_or_default();
    e.event_name = r
        .event_name
        .as_ref()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    e.event_source = Some("aws:dynamodb".into());
    e.event_version = Some("1.1".into());
    e.event_source_arn = Some(stream_arn.to_owned());
    e.user_identity = r.user_identity.as_ref().map(|i| {
        let mut u = UserIdentity::default();
        u.type_ = i.r#type.clone().unwrap_or_default();
        u.principal_id = i.principal_id.clone().unwrap_or_default();
        u
    });
    Ok(e)
}

/// The event of one batch: `Records` in stream order.
pub fn event(records: Vec<EventRecord>) -> Event {
    let mut event = Event::default();
    event.records = records;
    event
}

/// One record as the function receives it, and as `FilterCriteria` patterns see it: the
/// serialised [`EventRecord`] without what Lambda leaves out of a record that lacks it (no
/// `null` members, no empty `NewImage`/`OldImage`, no `tableName`/`recordFormat`), and
/// `userIdentity.type` spelled so (`aws_lambda_events` writes `type_`).
///
/// # Errors
/// The record does not serialise.
pub fn record_json(record: &EventRecord) -> Result<Value> {
    let mut v = serde_json::to_value(record)?;
    as_lambda_sends_it(&mut v);
    Ok(v)
}

/// The event as sent: the serialised [`Event`], each record as [`record_json`] gives it.
///
/// # Errors
/// The event does not serialise.
pub fn event_json(event: &Event) -> Result<Value> {
    let mut v = serde_json::to_value(event)?;
    if let Some(Value::Array(records)) = v.get_mut("Records") {
        records.iter_mut().for_each(as_lambda_sends_it);
    }
    Ok(v)
}

fn as_lambda_sends_it(record: &mut Value) {
    let Some(o) = record.as_object_mut() else {
        return;
    };
    o.retain(|_, x| !x.is_null());
    if let Some(Value::Object(change)) = o.get_mut("dynamodb") {
        change.retain(|k, x| {
            !x.is_null()
                && !((k == "NewImage" || k == "OldImage")
                    && x.as_object().is_some_and(|m| m.is_empty()))
        });
    }
    if let Some(Value::Object(user)) = o.get_mut("userIdentity")
        && let Some(t) = user.remove("type_")
    {
        user.insert("type".into(), t);
    }
}

/// The index in the batch of the lowest sequence number a `DynamoDbEventResponse` reports
/// failed (read by [`invoke::batch_item_failures`]); `None` when the batch succeeded (a `null`
/// answer, no, an empty or a null `batchItemFailures`).
///
/// # Errors
/// The whole batch counts as failed (Lambda's rule): the response is not JSON, not a
/// `DynamoDbEventResponse`, or an `itemIdentifier` is missing, empty or not in `batch_seqs`.
/// The text says why.
pub fn first_failure(payload: &[u8], batch_seqs: &[&str]) -> Result<Option<usize>, String> {
    Ok(
        invoke::batch_item_failures::<DynamoDbEventResponse>(payload, batch_seqs)?
            .into_iter()
            .min(),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, StreamViewType};
    use serde_json::json;

    use super::*;

    fn record(seq: &str, name: OperationType) -> Record {
        let image = HashMap::from([
            ("id".to_owned(), AttributeValue::S("evt-1".into())),
            ("n".to_owned(), AttributeValue::N("3".into())),
        ]);
        Record::builder()
            .event_id("e1")
            .event_name(name)
            .event_version("1.0")
            .event_source("aws:dynamodb")
            .aws_region("us-east-1")
            .dynamodb(
                aws_sdk_dynamodbstreams::types::StreamRecord::builder()
                    .approximate_creation_date_time(aws_smithy_types_datetime(1_700_000_000))
                    .set_keys(Some(HashMap::from([(
                        "id".to_owned(),
                        AttributeValue::S("evt-1".into()),
                    )])))
                    .set_new_image(Some(image))
                    .sequence_number(seq)
                    .size_bytes(42)
                    .stream_view_type(StreamViewType::NewImage)
                    .build(),
            )
            .build()
    }

    fn aws_smithy_types_datetime(secs: i64) -> aws_sdk_dynamodbstreams::primitives::DateTime {
        aws_sdk_dynamodbstreams::primitives::DateTime::from_secs(secs)
    }

    fn wire(r: &Record) -> Value {
        let typed = event_record(
            r,
            "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
            "eu-west-1",
        )
        .unwrap();
        record_json(&typed).unwrap()
    }

    #[test]
    fn a_record_is_shaped_like_lambdas_dynamodb_event() {
        let v = wire(&record("111", OperationType::Insert));
        assert_eq!(v["eventVersion"], "1.1");
        assert_eq!(v["eventSource"], "aws:dynamodb");
        assert_eq!(v["awsRegion"], "eu-west-1");
        assert_eq!(v["eventName"], "INSERT");
        assert_eq!(
            v["eventSourceARN"],
            "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x"
        );
        assert_eq!(v["dynamodb"]["NewImage"]["n"], json!({"N": "3"}));
        assert_eq!(v["dynamodb"]["Keys"]["id"], json!({"S": "evt-1"}));
        assert_eq!(
            v["dynamodb"]["ApproximateCreationDateTime"],
            json!(1_700_000_000)
        );
        assert_eq!(v["dynamodb"]["StreamViewType"], "NEW_IMAGE");
        assert!(v["dynamodb"].get("OldImage").is_none() && v.get("userIdentity").is_none());
        assert!(v.get("tableName").is_none() && v.get("recordFormat").is_none());
        let parsed: Event = serde_json::from_value(json!({ "Records": [v] })).unwrap();
        assert_eq!(
            parsed.records[0].change.sequence_number.as_deref(),
            Some("111")
        );
    }

    #[test]
    fn the_event_sends_its_records_in_order_as_record_json_gives_them() {
        let records = [
            record("111", OperationType::Insert),
            record("112", OperationType::Modify),
        ];
        let typed: Vec<EventRecord> = records
            .iter()
            .map(|r| event_record(r, "arn:s", "us-east-1").unwrap())
            .collect();
        let expected: Vec<Value> = typed.iter().map(|r| record_json(r).unwrap()).collect();

        let sent = event_json(&event(typed)).unwrap();

        assert_eq!(sent, json!({ "Records": expected }));
        assert_eq!(sent["Records"][1]["dynamodb"]["SequenceNumber"], "112");
    }

    #[test]
    fn a_deletion_by_ttl_names_the_dynamodb_service_as_its_user() {
        let mut r = record("112", OperationType::Remove);
        r.user_identity = Some(
            aws_sdk_dynamodbstreams::types::Identity::builder()
                .r#type("Service")
                .principal_id("dynamodb.amazonaws.com")
                .build(),
        );
        let v = wire(&r);
        assert_eq!(
            v["userIdentity"],
            json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
        );
    }

    #[test]
    fn the_lowest_reported_failure_is_where_the_retry_starts() {
        let batch = ["10", "11", "12"];
        let r = first_failure(
            br#"{"batchItemFailures":[{"itemIdentifier":"12"},{"itemIdentifier":"11"}]}"#,
            &batch,
        );
        assert_eq!(r, Ok(Some(1)));
        assert_eq!(
            first_failure(br#"{"batchItemFailures":[]}"#, &batch),
            Ok(None)
        );
        assert_eq!(first_failure(b"null", &batch), Ok(None));
        assert_eq!(first_failure(b"{}", &batch), Ok(None));
    }

    #[test]
    fn an_unknown_or_empty_identifier_fails_the_whole_batch() {
        let batch = ["10"];
        assert!(
            first_failure(br#"{"batchItemFailures":[{"itemIdentifier":"9"}]}"#, &batch).is_err()
        );
        assert!(
            first_failure(br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#, &batch).is_err()
        );
        assert!(first_failure(br#"{"batchItemFailures":[{}]}"#, &batch).is_err());
        assert!(first_failure(b"garbage", &batch).is_err());
    }
}
