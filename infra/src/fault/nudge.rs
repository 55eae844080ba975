//! Wake-ups from the fault proxy to the stream pollers: the functions' AWS calls go through the
//! proxy, so a DynamoDB write it forwards names the tables whose streams just got records. The
//! proxy rings each table's bell ([`Nudges::ring`]) once the emulator has answered; a stream
//! reader waiting out its idle poll on that table wakes at once and reads the new records. The
//! idle poll stays as the fallback for writes that do not pass the proxy (devstack's own
//! clients, tests writing to the emulator directly), so a nudge only ever shortens a wait.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::watch;

/// DynamoDB operations that write items (and so stream records), per the DynamoDB API
/// reference: <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Operations_Amazon_DynamoDB.html>.
pub const DYNAMODB_WRITES: [&str; 7] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
];

/// One bell per table name: a counter that every write seen bumps.
#[derive(Debug, Default)]
pub struct Nudges {
    bells: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Nudges {
    fn bell(&self, table: &str) -> watch::Sender<u64> {
        let mut bells = self
            .bells
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        bells
            .entry(table.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .clone()
    }

    /// A receiver that changes on every write to `table` (a table name, not a logical id) from
    /// now on: `changed().await` returns at once when one came since the last look, so a write
    /// made while the reader was busy is not lost.
    pub fn subscribe(&self, table: &str) -> watch::Receiver<u64> {
        self.bell(table).subscribe()
    }

    /// Wakes every reader of `table`'s stream.
    pub fn ring(&self, table: &str) {
        self.bell(table).send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Rings the tables a successful DynamoDB `operation` with JSON `body` wrote to
    /// ([`written_tables`]); anything else rings nothing.
    pub fn ring_for(&self, service: &str, operation: Option<&str>, body: &[u8]) {
        if service != "dynamodb" || !operation.is_some_and(|op| DYNAMODB_WRITES.contains(&op)) {
            return;
        }
        for table in written_tables(body) {
            self.ring(&table);
        }
    }
}

/// The table names a DynamoDB write request names: `TableName` (PutItem, UpdateItem,
/// DeleteItem), the keys of `RequestItems` (BatchWriteItem), `TransactItems[].{Put,Update,
/// Delete,ConditionCheck}.TableName` (TransactWriteItems), and the quoted table of a PartiQL
/// `Statement` (`INSERT INTO "t"`, `UPDATE "t"`, `DELETE FROM "t"`). Empty when the body is
/// not JSON.
pub fn written_tables(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let mut tables = Vec::new();
    let mut add = |t: &str| {
        if !t.is_empty() && !tables.iter().any(|k: &String| k == t) {
            tables.push(t.to_owned());
        }
    };
    if let Some(t) = v.get("TableName").and_then(Value::as_str) {
        add(t);
    }
    if let Some(items) = v.get("RequestItems").and_then(Value::as_object) {
        items.keys().for_each(|t| add(t));
    }
    for item in v
        .get("TransactItems")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(op) = item.as_object() {
            op.values()
                .filter_map(|o| o.get("TableName").and_then(Value::as_str))
                .for_each(&mut add);
        }
    }
    let statements = v
        .get("Statement")
        .into_iter()
        .chain(
            v.get("Statements")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.get("Statement")),
        )
        .filter_map(Value::as_str);
    for s in statements {
        if let Some(t) = s.split('"').nth(1) {
            add(t);
        }
    }
    tables
}

/// The table name in a stream ARN
/// (`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`).
pub fn table_of_stream_arn(arn: &str) -> Option<&str> {
    let rest = arn.split_once(":table/")?.1;
    let (table, _) = rest.split_once("/stream/")?;
    (!table.is_empty()).then_some(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_tables_of_every_kind_of_write_are_found() {
        let put = br#"{"TableName":"orders","Item":{}}"#;
        assert_eq!(written_tables(put), ["orders"]);
        let batch = br#"{"RequestItems":{"a":[],"b":[]}}"#;
        assert_eq!(written_tables(batch), ["a", "b"]);
        let transact = br#"{"TransactItems":[{"Put":{"TableName":"orders"}},
            {"Update":{"TableName":"outbox"}},{"ConditionCheck":{"TableName":"orders"}}]}"#;
        assert_eq!(written_tables(transact), ["orders", "outbox"]);
        let partiql = br#"{"Statements":[{"Statement":"INSERT INTO \"outbox\" VALUE {}"}]}"#;
        assert_eq!(written_tables(partiql), ["outbox"]);
        assert!(written_tables(b"not json").is_empty());
    }

    #[test]
    fn the_table_is_read_from_a_stream_arn() {
        let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/s-Outbox/stream/2026-12-01T19:29";
        assert_eq!(table_of_stream_arn(arn), Some("s-Outbox"));
        assert_eq!(table_of_stream_arn("arn:aws:sqs:us-east-1:1:q"), None);
    }

    #[tokio::test]
    async fn a_write_made_before_the_reader_waits_is_not_lost() {
        let nudges = Nudges::default();
        let mut bell = nudges.subscribe("outbox");

        nudges.ring_for("dynamodb", Some("PutItem"), br#"{"TableName":"outbox"}"#);

        let woke = tokio::time::timeout(Duration::from_secs(5), bell.changed()).await;
        assert!(matches!(woke, Ok(Ok(()))));
    }

    #[test]
    fn reads_and_writes_to_other_tables_ring_nothing() {
        let nudges = Nudges::default();
        let bell = nudges.subscribe("outbox");

        nudges.ring_for("dynamodb", Some("GetItem"), br#"{"TableName":"outbox"}"#);
        nudges.ring_for("dynamodb", Some("PutItem"), br#"{"TableName":"orders"}"#);
        nudges.ring_for("sqs", Some("SendMessage"), br#"{"TableName":"outbox"}"#);
        nudges.ring_for("dynamodb", None, br#"{"TableName":"outbox"}"#);

        // Ringing is synchronous: a ring would be visible now.
        assert!(!bell.has_changed().unwrap(), "a bell rang");
        nudges.ring("outbox");
        assert!(bell.has_changed().unwrap(), "the control ring is seen");
    }
}
