//! Building blocks of the `TransactWriteItems` calls that keep state changes, their events and
//! consumer de-duplication in one all-or-nothing commit:
//!
//! - [`Outbox::put`]: the transactional outbox item for an event (the relay publishes it);
//! - [`Dedup::claim`]: a consumer's "event already applied" marker, with a TTL;
//! - [`failed_conditions`]: which items of a cancelled transaction failed their condition.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;
use crate::events::Envelope;

/// How long outbox items stay after being written: 7 days (kept for audit and replay; the
/// relay publishes them within seconds through the table's stream).
pub const OUTBOX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a consumer remembers an applied event id: 7 days, longer than the queues' 4-day
/// retention, so a duplicate can no longer arrive once its marker expires.
pub const DEDUP_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// One item of the outbox table (key `id` = the event id; TTL attribute `expires_at`).
///
/// `{"id":"<event id>","event_type":"OrderPlaced","envelope":"<envelope JSON>",
/// "created_at":"<RFC 3339>","expires_at":<epoch seconds>}`. `envelope` is the exact SQS
/// message body the relay sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// The event id.
    pub id: Uuid,
    /// The event type, e.g. `OrderPlaced` (to route it without parsing `envelope`).
    pub event_type: String,
    /// The event envelope as JSON text.
    pub envelope: String,
    /// When the item was written.
    pub created_at: DateTime<Utc>,
    /// DynamoDB TTL: epoch seconds after which the item may be deleted.
    pub expires_at: i64,
}

/// The outbox table of a service.
#[derive(Debug, Clone)]
pub struct Outbox {
    table: String,
}

impl Outbox {
    /// The outbox in table `table` (from `OUTBOX_TABLE`).
    pub fn new(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// A `Put` of `envelope` as an [`OutboxItem`], conditioned on its id being new.
    ///
    /// # Errors
    /// [`Error::Internal`] when the envelope cannot be serialised (a bug).
    pub fn put(&self, envelope: &Envelope) -> Result<TransactWriteItem, Error> {
        let item = OutboxItem {
            id: envelope.event_id,
            event_type: envelope.event_type.clone(),
            envelope: envelope.to_json()?,
            created_at: envelope.occurred_at,
            expires_at: expires_at(envelope.occurred_at, OUTBOX_TTL),
        };
        let item = serde_dynamo::to_item(&item)
            .map_err(|e| Error::internal("serialising outbox item", e))?;
        put_new(&self.table, item)
    }
}

/// The table where consumers record which event ids they applied (key `id`, TTL `expires_at`).
#[derive(Debug, Clone)]
pub struct Dedup {
    table: String,
}

impl Dedup {
    /// De-duplication markers in `table` (from `IDEMPOTENCY_TABLE`).
    pub fn new(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The marker key of `event_id` for `consumer`: `"<consumer>#<event id>"`, so that two
    /// consumers of the same event each apply it once.
    pub fn key(consumer: &str, event_id: Uuid) -> String {
        format!("{consumer}#{event_id}")
    }

    /// A `Put` of the marker `{"id":"<consumer>#<event id>","expires_at":<epoch s>}` that fails
    /// its condition when the marker exists, i.e. when the event was already applied. Put it
    /// in the same transaction as the event's effect: then "applied" and "marked" cannot
    /// disagree.
    ///
    /// # Errors
    /// [`Error::Internal`] when the request cannot be built (a bug).
    pub fn claim(
        &self,
        consumer: &str,
        event_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, Error> {
        let item = HashMap::from([
            (
                "id".to_owned(),
                AttributeValue::S(Self::key(consumer, event_id)),
            ),
            (
                "expires_at".to_owned(),
                AttributeValue::N(expires_at(now, DEDUP_TTL).to_string()),
            ),
        ]);
        put_new(&self.table, item)
    }
}

/// `now + ttl` in epoch seconds, the format of a DynamoDB TTL attribute.
pub fn expires_at(now: DateTime<Utc>, ttl: Duration) -> i64 {
    now.timestamp()
        .saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX))
}

/// A `Put` of `item` with `attribute_not_exists(id)`.
///
/// # Errors
/// [`Error::Internal`] when the request cannot be built (a bug).
pub fn put_new(
    table: &str,
    item: HashMap<String, AttributeValue>,
) -> Result<TransactWriteItem, Error> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(id)")
        .build()
        .map_err(|e| Error::internal("building a transactional Put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// For a transaction that DynamoDB cancelled, whether each item (in request order) failed its
/// condition (`ConditionalCheckFailed`). `None` for any other error, including a cancellation
/// for another reason (throttling, a conflicting concurrent transaction), which the caller
/// treats as a failure to retry.
pub fn failed_conditions(error: &SdkError<TransactWriteItemsError>) -> Option<Vec<bool>> {
    let TransactWriteItemsError::TransactionCanceledException(cancelled) =
        error.as_service_error()?
    else {
        return None;
    };
    let reasons: Vec<Option<&str>> = cancelled
        .cancellation_reasons()
        .iter()
        .map(|r| r.code())
        .collect();
    let only_conditions = reasons
        .iter()
        .all(|code| matches!(code, None | Some("None" | "ConditionalCheckFailed")));
    if reasons.is_empty() || !only_conditions {
        return None;
    }
    Some(
        reasons
            .iter()
            .map(|code| *code == Some("ConditionalCheckFailed"))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::now;
    use crate::events::OrderPlaced;

    #[test]
    fn an_outbox_put_carries_the_envelope_and_a_ttl() {
        let envelope = Envelope {
            event_id: Uuid::now_v7(),
            event_type: <OrderPlaced as crate::events::Event>::TYPE.to_owned(),
            schema_version: 1,
            occurred_at: now(),
            correlation_id: "req-1".to_owned(),
            trace_header: Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".to_owned()),
            data: serde_json::json!({}),
        };

        let put = Outbox::new("outbox").put(&envelope).unwrap();

        let put = put.put().unwrap();
        assert_eq!(put.table_name(), "outbox");
        assert_eq!(put.condition_expression(), Some("attribute_not_exists(id)"));
        let item: OutboxItem = serde_dynamo::from_item(put.item().clone()).unwrap();
        assert_eq!(item.id, envelope.event_id);
        assert_eq!(
            Envelope::from_json(&item.envelope).unwrap(),
            envelope,
            "trace header included"
        );
        assert_eq!(
            item.expires_at,
            envelope.occurred_at.timestamp() + 7 * 24 * 3600
        );
    }

    #[test]
    fn a_dedup_marker_is_keyed_by_consumer_and_event() {
        let event_id = Uuid::now_v7();

        let put = Dedup::new("idem")
            .claim("reserve-stock", event_id, now())
            .unwrap();

        let put = put.put().unwrap();
        assert_eq!(
            put.item().get("id"),
            Some(&AttributeValue::S(format!("reserve-stock#{event_id}")))
        );
        assert!(put.item().contains_key("expires_at"));
    }
}
