//! The orders table: one item per order, key `id` (S), lines embedded as a list; GSIs
//! `customer-index` (`customer_id`, `id`) and `status-index` (`status`, `id`).
//!
//! Every status change is a conditional write on the status read before it, and every change
//! that other services must hear about commits its event to the outbox in the same
//! `TransactWriteItems`.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::sdk_error;
use super::table::Table;
use super::transact::{Dedup, Outbox, expires_at, failed_conditions, put_new};
use crate::config::{ConfigError, EventStoreConfig, OrdersConfig};
use crate::domain::{Order, OrderId, OrderStatus, Payment, RejectionReason, Settlement, now};
use crate::error::Error;
use crate::events::Envelope;
use crate::ports::{
    Cursor, IdempotencyReader, IdempotentResponse, OrderFilter, OrderLister, OrderPlacer,
    OrderReader, OrderSettlement, OrderTransitions, Page, PageLimit, Placement, Settled,
    Transitioned,
};

/// How long a `POST /orders` response is kept for replay under its `Idempotency-Key`: 24 h
/// (the usual window, e.g. Stripe's).
pub const IDEMPOTENCY_KEY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Orders in DynamoDB. Item: the order's JSON shape (see [`Order`]) with numbers as `N`:
/// `{"id","customer_id","items":[{"product_id","quantity","unit_price_cents"}],"total_cents",
/// "status","created_at","updated_at"}`.
///
/// Operations that commit events or idempotency records need the outbox and idempotency tables
/// ([`DynamoOrders::with_event_store`]); without them they fail with an internal error.
#[derive(Debug, Clone)]
pub struct DynamoOrders {
    table: Table,
    outbox: Option<Outbox>,
    idempotency: Option<Dedup>,
}

/// The idempotency table item of a stored response.
#[derive(Serialize, Deserialize)]
struct StoredResponse {
    id: String,
    #[serde(flatten)]
    response: IdempotentResponse,
    expires_at: i64,
}

impl DynamoOrders {
    /// A repository on `table` with a client built from `sdk`.
    pub fn new(sdk: &SdkConfig, table: impl Into<String>) -> Self {
        Self::with_client(Client::new(sdk), table)
    }

    /// The repository a function's `main` builds: the table from `ORDERS_TABLE`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable when it is missing.
    pub fn from_env(sdk: &SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(sdk, OrdersConfig::from_env()?.orders_table))
    }

    /// [`DynamoOrders::from_env`] that also commits events and idempotency records: the
    /// tables from `OUTBOX_TABLE` and `IDEMPOTENCY_TABLE` ([`DynamoOrders::with_event_store`]).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first missing variable.
    pub fn with_event_store_from_env(sdk: &SdkConfig) -> Result<Self, ConfigError> {
        let store = EventStoreConfig::from_env()?;
        Ok(Self::from_env(sdk)?.with_event_store(store.outbox_table, store.idempotency_table))
    }

    /// A repository on `table` with an existing client.
    pub fn with_client(client: Client, table: impl Into<String>) -> Self {
        Self {
            table: Table::new(client, table),
            outbox: None,
            idempotency: None,
        }
    }

    /// The same repository, committing events to `outbox_table` and idempotency records (and
    /// consumer markers) to `idempotency_table`.
    #[must_use]
    pub fn with_event_store(
        mut self,
        outbox_table: impl Into<String>,
        idempotency_table: impl Into<String>,
    ) -> Self {
        self.outbox = Some(Outbox::new(outbox_table));
        self.idempotency = Some(Dedup::new(idempotency_table));
        self
    }

    fn context(&self, operation: &str) -> String {
        self.table.context(operation)
    }

    fn outbox(&self) -> Result<&Outbox, Error> {
        self.outbox
            .as_ref()
            .ok_or_else(|| Error::internal(self.context("outbox"), "no outbox table configured"))
    }

    fn idempotency(&self) -> Result<&Dedup, Error> {
        self.idempotency.as_ref().ok_or_else(|| {
            Error::internal(
                self.context("idempotency"),
                "no idempotency table configured",
            )
        })
    }

    /// The idempotency table id of a stored response: `idempotency#<key>`, where `<key>` is
    /// whatever key the idempotency protocol chose (already scoped to its caller).
    fn idempotency_id(key: &str) -> String {
        format!("idempotency#{key}")
    }

    /// An `Update` of the order's status (and `updated_at`) conditioned on its current status.
    fn status_update(
        &self,
        id: &OrderId,
        from: OrderStatus,
        to: OrderStatus,
    ) -> Result<TransactWriteItem, Error> {
        self.status_change(id, from, to, None, None)
    }

    /// The settlement's `Update`: `PENDING` to its status, plus `payment` and
    /// `rejection_reason` when the settlement has them.
    fn settlement_update(
        &self,
        id: &OrderId,
        settlement: &Settlement,
    ) -> Result<TransactWriteItem, Error> {
        self.status_change(
            id,
            OrderStatus::Pending,
            settlement.status(),
            settlement.payment(),
            settlement.rejection_reason(),
        )
    }

    /// `SET status = to, updated_at = now` (and `payment`, `rejection_reason` when given) on
    /// the condition that the order exists and its status is `from`.
    fn status_change(
        &self,
        id: &OrderId,
        from: OrderStatus,
        to: OrderStatus,
        payment: Option<&Payment>,
        reason: Option<RejectionReason>,
    ) -> Result<TransactWriteItem, Error> {
        let mut set = vec!["#status = :to", "updated_at = :now"];
        let mut update = Update::builder()
            .table_name(&self.table.name)
            .set_key(Some(Table::key(id)))
            .condition_expression("attribute_exists(id) AND #status = :from")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":from", AttributeValue::S(from.as_str().to_owned()))
            .expression_attribute_values(":to", AttributeValue::S(to.as_str().to_owned()))
            .expression_attribute_values(":now", AttributeValue::S(now().to_rfc3339()));
        if let Some(payment) = payment {
            set.push("payment = :payment");
            update = update.expression_attribute_values(":payment", self.payment_value(payment)?);
        }
        if let Some(reason) = reason {
            set.push("rejection_reason = :reason");
            update = update
                .expression_attribute_values(":reason", AttributeValue::S(reason.as_str().into()));
        }
        let update = update
            .update_expression(format!("SET {}", set.join(", ")))
            .build()
            .map_err(|e| Error::internal(self.context("UpdateItem (building)"), e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn payment_value(&self, payment: &Payment) -> Result<AttributeValue, Error> {
        serde_dynamo::to_attribute_value(payment)
            .map_err(|e| Error::internal(self.context("UpdateItem (serialising payment)"), e))
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<
        (),
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        >,
    > {
        self.table
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl OrderPlacer for DynamoOrders {
    #[tracing::instrument(skip_all, fields(order_id = %order.id()))]
    async fn place(
        &self,
        order: &Order,
        event: &Envelope,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<Placement, Error> {
        let item = serde_dynamo::to_item(order)
            .map_err(|e| Error::internal(self.context("PutItem (serialising order)"), e))?;
        let mut items = vec![put_new(&self.table.name, item)?, self.outbox()?.put(event)?];
        if let Some(response) = idempotent {
            let stored = StoredResponse {
                id: Self::idempotency_id(&response.key),
                response: response.clone(),
                expires_at: expires_at(now(), IDEMPOTENCY_KEY_TTL),
            };
            let item = serde_dynamo::to_item(&stored).map_err(|e| {
                Error::internal(self.context("PutItem (serialising idempotency record)"), e)
            })?;
            items.push(put_new(self.idempotency()?.table(), item)?);
        }
        let Err(error) = self.transact(items).await else {
            return Ok(Placement::Placed);
        };
        match failed_conditions(&error).as_deref() {
            Some([_, _, true]) => Ok(Placement::KeyAlreadyUsed),
            Some([true, ..]) => Err(Error::Conflict(format!(
                "order {} already exists",
                order.id()
            ))),
            _ => Err(sdk_error(
                self.context("TransactWriteItems (place order)"),
                error,
            )),
        }
    }
}

#[async_trait]
impl IdempotencyReader for DynamoOrders {
    async fn get(&self, key: &str) -> Result<Option<IdempotentResponse>, Error> {
        let table = Table::new(self.table.client.clone(), self.idempotency()?.table());
        let stored: Option<StoredResponse> = table.get(Self::idempotency_id(key)).await?;
        // TTL deletion is lazy (up to days late): an expired record counts as absent.
        Ok(stored
            .filter(|s| s.expires_at > now().timestamp())
            .map(|s| s.response))
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
impl OrderLister for DynamoOrders {
    /// With `customer_id`: `Query` on `customer-index` (status as a filter). With only
    /// `status`: `Query` on `status-index`. With neither: `Scan`. Always `Limit = limit + 1`
    /// (see `Table::page`); the cursor's id plus the filter rebuild `ExclusiveStartKey`.
    #[tracing::instrument(skip_all, fields(limit = limit.get()))]
    async fn list(
        &self,
        filter: OrderFilter,
        limit: PageLimit,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Order>, Error> {
        let after = cursor.map(|c| c.after_id::<OrderId>()).transpose()?;
        let s = |v: String| AttributeValue::S(v);
        let mut start = after.map(Table::key);
        let page_size = i32::from(limit.get()) + 1;
        let (items, last) = match (filter.customer_id, filter.status) {
            (Some(customer), status) => {
                if let Some(key) = start.as_mut() {
                    key.insert("customer_id".to_owned(), s(customer.to_string()));
                }
                let mut query = self
                    .table
                    .client
                    .query()
                    .table_name(&self.table.name)
                    .index_name("customer-index")
                    .key_condition_expression("customer_id = :customer")
                    .expression_attribute_values(":customer", s(customer.to_string()))
                    .limit(page_size)
                    .set_exclusive_start_key(start);
                if let Some(status) = status {
                    query = query
                        .filter_expression("#status = :status")
                        .expression_attribute_names("#status", "status")
                        .expression_attribute_values(":status", s(status.as_str().to_owned()));
                }
                let out = query
                    .send()
                    .await
                    .map_err(|e| sdk_error(self.context("Query customer-index"), e))?;
                (out.items, out.last_evaluated_key)
            }
            (None, Some(status)) => {
                if let Some(key) = start.as_mut() {
                    key.insert("status".to_owned(), s(status.as_str().to_owned()));
                }
                let out = self
                    .table
                    .client
                    .query()
                    .table_name(&self.table.name)
                    .index_name("status-index")
                    .key_condition_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(status.as_str().to_owned()))
                    .limit(page_size)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| sdk_error(self.context("Query status-index"), e))?;
                (out.items, out.last_evaluated_key)
            }
            (None, None) => {
                let out = self
                    .table
                    .client
                    .scan()
                    .table_name(&self.table.name)
                    .limit(page_size)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| sdk_error(self.context("Scan"), e))?;
                (out.items, out.last_evaluated_key)
            }
        };
        self.table
            .page(items, last.as_ref(), limit, |o: &Order| o.id().to_string())
    }
}

#[async_trait]
impl OrderTransitions for DynamoOrders {
    #[tracing::instrument(skip_all, fields(order_id = %updated.id(), from = %from, to = %updated.status()))]
    async fn transition(
        &self,
        updated: &Order,
        from: OrderStatus,
        event: Option<&Envelope>,
    ) -> Result<Transitioned, Error> {
        let mut items = vec![self.status_update(&updated.id(), from, updated.status())?];
        if let Some(event) = event {
            items.push(self.outbox()?.put(event)?);
        }
        let Err(error) = self.transact(items).await else {
            return Ok(Transitioned::Done(updated.clone()));
        };
        match failed_conditions(&error).as_deref() {
            Some([true, ..]) => Ok(Transitioned::Stale),
            _ => Err(sdk_error(
                self.context("TransactWriteItems (status change)"),
                error,
            )),
        }
    }
}

#[async_trait]
impl OrderSettlement for DynamoOrders {
    #[tracing::instrument(skip_all, fields(order_id = %id, to = %settlement.status(), event_id = %event_id))]
    async fn settle(
        &self,
        consumer: &str,
        event_id: Uuid,
        id: &OrderId,
        settlement: &Settlement,
    ) -> Result<Settled, Error> {
        let to = settlement.status();
        let items = vec![
            self.idempotency()?.claim(consumer, event_id, now())?,
            self.settlement_update(id, settlement)?,
        ];
        let Err(error) = self.transact(items).await else {
            return Ok(Settled::Applied);
        };
        match failed_conditions(&error).as_deref() {
            Some([true, _]) => Ok(Settled::Duplicate),
            Some([false, true]) => {
                let order: Option<Order> = self.table.get(id).await?;
                let Some(order) = order else {
                    return Err(Error::not_found("order", id));
                };
                match order.status() {
                    status if status == to => Ok(Settled::AlreadyApplied),
                    OrderStatus::Cancelled => Ok(Settled::OrderCancelled),
                    status => Err(Error::Conflict(format!(
                        "order {id} is {status} and cannot become {to}"
                    ))),
                }
            }
            _ => Err(sdk_error(
                self.context("TransactWriteItems (settle order)"),
                error,
            )),
        }
    }

    #[tracing::instrument(skip_all, fields(order_id = %id, event_id = %event_id))]
    async fn record_payment(
        &self,
        consumer: &str,
        event_id: Uuid,
        id: &OrderId,
        payment: &Payment,
    ) -> Result<Settled, Error> {
        let update = Update::builder()
            .table_name(&self.table.name)
            .set_key(Some(Table::key(id)))
            .update_expression("SET payment = :payment, updated_at = :now")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_values(":payment", self.payment_value(payment)?)
            .expression_attribute_values(":now", AttributeValue::S(now().to_rfc3339()))
            .build()
            .map_err(|e| Error::internal(self.context("UpdateItem (building)"), e))?;
        let items = vec![
            self.idempotency()?.claim(consumer, event_id, now())?,
            TransactWriteItem::builder().update(update).build(),
        ];
        let Err(error) = self.transact(items).await else {
            return Ok(Settled::Applied);
        };
        match failed_conditions(&error).as_deref() {
            Some([true, _]) => Ok(Settled::Duplicate),
            Some([false, true]) => Err(Error::not_found("order", id)),
            _ => Err(sdk_error(
                self.context("TransactWriteItems (record payment)"),
                error,
            )),
        }
    }
}
