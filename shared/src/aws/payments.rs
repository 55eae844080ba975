//! The payments table: one [`ChargeRecord`] per order (key `id` = the order id), each decision
//! committed with its event (transactional outbox) in one `TransactWriteItems`, conditioned on
//! the status read before (optimistic locking).

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::sdk_error;
use super::table::Table;
use super::transact::{Outbox, failed_conditions};
use crate::config::{ConfigError, EventStoreConfig, PaymentsConfig};
use crate::domain::{ChargeRecord, ChargeStatus, OrderId};
use crate::error::Error;
use crate::events::Envelope;
use crate::ports::{ChargeStore, Decided};

/// Charge records in DynamoDB. Item: the [`ChargeRecord`] JSON shape,
/// `{"id","status","amount_cents","charge_id"?,"refund_id"?,"decline_code"?,"updated_at"}`.
///
/// Needs `dynamodb:GetItem`/`PutItem` on the payments table and `PutItem` on the outbox.
#[derive(Debug, Clone)]
pub struct DynamoCharges {
    table: Table,
    outbox: Outbox,
}

impl DynamoCharges {
    /// Records in `table`, events to `outbox_table`, with a client built from `sdk`.
    pub fn new(sdk: &SdkConfig, table: impl Into<String>, outbox_table: impl Into<String>) -> Self {
        Self {
            table: Table::new(Client::new(sdk), table),
            outbox: Outbox::new(outbox_table),
        }
    }

    /// The store a function's `main` builds: `PAYMENTS_TABLE` and `OUTBOX_TABLE`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first missing variable.
    pub fn from_env(sdk: &SdkConfig) -> Result<Self, ConfigError> {
        let payments = PaymentsConfig::from_env()?;
        let events = EventStoreConfig::from_env()?;
        Ok(Self::new(sdk, payments.payments_table, events.outbox_table))
    }

    /// A `Put` of `record` conditioned on the stored status being `expected` (or on there
    /// being no record).
    fn put(
        &self,
        record: &ChargeRecord,
        expected: Option<ChargeStatus>,
    ) -> Result<TransactWriteItem, Error> {
        let item = serde_dynamo::to_item(record)
            .map_err(|e| Error::internal(self.table.context("PutItem (serialising)"), e))?;
        let put = Put::builder()
            .table_name(&self.table.name)
            .set_item(Some(item));
        let put = match expected {
            None => put.condition_expression("attribute_not_exists(id)"),
            Some(status) => put
                .condition_expression("#status = :expected")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":expected", AttributeValue::S(status.to_string())),
        };
        let put = put
            .build()
            .map_err(|e| Error::internal(self.table.context("PutItem (building)"), e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

#[async_trait]
impl ChargeStore for DynamoCharges {
    async fn get(&self, order: &OrderId) -> Result<Option<ChargeRecord>, Error> {
        self.table.get(order).await
    }

    #[tracing::instrument(skip_all, fields(order_id = %record.id, status = %record.status))]
    async fn decide(
        &self,
        record: &ChargeRecord,
        expected: Option<ChargeStatus>,
        event: Option<&Envelope>,
    ) -> Result<Decided, Error> {
        let mut items = vec![self.put(record, expected)?];
        if let Some(event) = event {
            items.push(self.outbox.put(event)?);
        }
        let result = self
            .table
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let Err(error) = result else {
            return Ok(Decided::Written);
        };
        match failed_conditions(&error).as_deref() {
            Some([true, ..]) => Ok(Decided::Stale),
            _ => Err(sdk_error(
                format!(
                    "DynamoDB TransactWriteItems (charge decision) on tables {}, {}",
                    self.table.name,
                    self.outbox.table()
                ),
                error,
            )),
        }
    }
}
