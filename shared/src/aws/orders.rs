//! The orders table: one item per order, key `id` (S), lines embedded as a list.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde::Deserialize;

use super::table::{Put, Table};
use crate::domain::{Confirmation, Order, OrderId, OrderStatus, now};
use crate::error::Error;
use crate::ports::{OrderReader, OrderStatusUpdater, OrderWriter};

/// Orders in DynamoDB. Item: the order's JSON shape (see [`Order`]) with numbers as `N`:
/// `{"id","customer_id","items":[{"product_id","quantity","unit_price_cents"}],"total_cents",
/// "status","created_at","updated_at"}`.
#[derive(Debug, Clone)]
pub struct DynamoOrders {
    table: Table,
}

/// Just the status of a stored order, read back from a failed conditional update.
#[derive(Deserialize)]
struct StoredStatus {
    status: OrderStatus,
}

impl DynamoOrders {
    /// A repository on `table` with a client built from `sdk`.
    pub fn new(sdk: &SdkConfig, table: impl Into<String>) -> Self {
        Self::with_client(Client::new(sdk), table)
    }

    /// A repository on `table` with an existing client.
    pub fn with_client(client: Client, table: impl Into<String>) -> Self {
        Self {
            table: Table::new(client, table),
        }
    }

    fn context(&self, operation: &str) -> String {
        self.table.context(operation)
    }
}

#[async_trait]
impl OrderWriter for DynamoOrders {
    #[tracing::instrument(skip_all, fields(order_id = %order.id()))]
    async fn insert(&self, order: &Order) -> Result<(), Error> {
        match self.table.put_new(order).await? {
            Put::Created => Ok(()),
            Put::AlreadyExists => Err(Error::Conflict(format!(
                "order {} already exists",
                order.id()
            ))),
        }
    }
}

#[async_trait]
impl OrderReader for DynamoOrders {
    #[tracing::instrument(skip_all, fields(order_id = %id))]
    async fn get(&self, id: &OrderId) -> Result<Option<Order>, Error> {
        self.table.get(id).await
    }
}

#[async_trait]
impl OrderStatusUpdater for DynamoOrders {
    /// One `UpdateItem` conditioned on `#status = :pending`. When the condition fails, the old
    /// item comes back with the error (`ReturnValuesOnConditionCheckFailure = ALL_OLD`), so no
    /// read (and no `dynamodb:GetItem` permission) is needed to tell apart: no item
    /// (`NotFound`), already `CONFIRMED` (a no-op that leaves `updated_at` alone) and any other
    /// status (`Conflict`).
    #[tracing::instrument(skip_all, fields(order_id = %id))]
    async fn confirm(&self, id: &OrderId) -> Result<Confirmation, Error> {
        let to_value = |value| {
            serde_dynamo::to_attribute_value(value)
                .map_err(|e| Error::internal(self.context("UpdateItem (serialising values)"), e))
        };
        let result = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .set_key(Some(Table::key(id)))
            .update_expression("SET #status = :confirmed, updated_at = :now")
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(
                ":pending",
                AttributeValue::S(OrderStatus::Pending.as_str().to_owned()),
            )
            .expression_attribute_values(
                ":confirmed",
                AttributeValue::S(OrderStatus::Confirmed.as_str().to_owned()),
            )
            .expression_attribute_values(":now", to_value(now())?)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(Confirmation::Confirmed),
            Err(error) => error,
        };
        let Some(UpdateItemError::ConditionalCheckFailedException(failed)) =
            error.as_service_error()
        else {
            return Err(Error::internal(self.context("UpdateItem"), error));
        };
        let Some(old) = failed.item() else {
            return Err(Error::not_found("order", id));
        };
        let stored: StoredStatus = serde_dynamo::from_item(old.clone())
            .map_err(|e| Error::internal(self.context("UpdateItem (reading old status)"), e))?;
        match stored.status.confirm(id)? {
            Confirmation::AlreadyConfirmed => Ok(Confirmation::AlreadyConfirmed),
            // The condition said "not PENDING" but the old item says PENDING: cannot happen
            // with DynamoDB's conditional writes; fail loudly rather than claim success.
            Confirmation::Confirmed => Err(Error::internal(
                self.context("UpdateItem"),
                format!("condition on {id} failed although the order is PENDING"),
            )),
        }
    }
}
