//! The products table: one item per product, key `id` (S); GSI `category-index` (hash
//! `category`, range `id`) lists a category in id order.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::AsyncSleep;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure,
};
use serde::Deserialize;

use super::sdk_error;
use super::table::{Put, Table};
use crate::config::{ConfigError, ProductsConfig};
use crate::domain::ExpectedVersion;
use crate::domain::{Category, Product, ProductChanges, ProductId, StockDelta, Version, now};
use crate::error::Error;
use crate::ports::{
    Cursor, Page, PageLimit, ProductBatchReader, ProductDeleter, ProductLister, ProductReader,
    ProductUpdater, ProductWriter, StockAdjuster,
};

/// The GSI that lists one category: hash `category`, range `id`.
const CATEGORY_INDEX: &str = "category-index";

/// Keys per `BatchGetItem` request (DynamoDB's limit).
const BATCH_GET_MAX_KEYS: usize = 100;

/// How many times unprocessed keys are asked for again before giving up.
const BATCH_GET_RETRIES: u32 = 6;

/// Products in DynamoDB. Item: the product's JSON shape (see [`Product`]) with numbers as
/// `N`: `{"id","name","description","category","price_cents","stock","version",
/// "created_at","updated_at"}`.
#[derive(Debug, Clone)]
pub struct DynamoProducts {
    table: Table,
}

/// The version and stock of a stored product, read back from a failed conditional update.
#[derive(Deserialize)]
struct Stored {
    version: Version,
    stock: u64,
}

impl DynamoProducts {
    /// A repository on `table` with a client built from `sdk`.
    pub fn new(sdk: &SdkConfig, table: impl Into<String>) -> Self {
        Self::with_client(Client::new(sdk), table)
    }

    /// The repository a function's `main` builds: the table from `PRODUCTS_TABLE`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable when it is missing.
    pub fn from_env(sdk: &SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(sdk, ProductsConfig::from_env()?.products_table))
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

    fn value<T: serde::Serialize>(&self, value: &T) -> Result<AttributeValue, Error> {
        serde_dynamo::to_attribute_value(value)
            .map_err(|e| Error::internal(self.context("UpdateItem (serialising values)"), e))
    }

    /// What a conditional `UpdateItem` that failed found stored (`ALL_OLD`): the old product's
    /// version and stock, for the caller's 412 or 409.
    ///
    /// # Errors
    /// `404 NOT_FOUND` when there was no item; any other failure of the call is internal.
    fn refused(&self, id: &ProductId, error: SdkError<UpdateItemError>) -> Result<Stored, Error> {
        let old = match error.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                failed.item().cloned()
            }
            _ => return Err(sdk_error(self.context("UpdateItem"), error)),
        };
        let old = old.ok_or_else(|| Error::not_found("product", id))?;
        serde_dynamo::from_item(old)
            .map_err(|e| Error::internal(self.context("UpdateItem (reading old item)"), e))
    }

    fn read_product(
        &self,
        item: Option<HashMap<String, AttributeValue>>,
    ) -> Result<Product, Error> {
        let item = item
            .ok_or_else(|| Error::internal(self.context("UpdateItem"), "no attributes returned"))?;
        serde_dynamo::from_item(item)
            .map_err(|e| Error::internal(self.context("UpdateItem (reading new item)"), e))
    }

    async fn pause(&self, attempt: u32) {
        // 25 ms, 50 ms, 100 ms ... (about 1.6 s in all), as the SDK's own retries do.
        let delay = Duration::from_millis(25u64 << attempt.min(8));
        if let Some(sleep) = self.table.client.config().sleep_impl() {
            sleep.sleep(delay).await;
        }
    }
}

#[async_trait]
impl ProductWriter for DynamoProducts {
    #[tracing::instrument(skip_all, fields(product_id = %product.id))]
    async fn insert(&self, product: &Product) -> Result<(), Error> {
        match self.table.put_new(product).await? {
            Put::Created => Ok(()),
            Put::AlreadyExists => Err(Error::Conflict(format!(
                "product {} already exists",
                product.id
            ))),
        }
    }
}

#[async_trait]
impl ProductReader for DynamoProducts {
    #[tracing::instrument(skip_all, fields(product_id = %id))]
    async fn get(&self, id: &ProductId) -> Result<Option<Product>, Error> {
        self.table.get(id).await
    }
}

#[async_trait]
impl ProductBatchReader for DynamoProducts {
    /// `BatchGetItem` of the distinct ids, 100 keys per request. Keys DynamoDB leaves
    /// unprocessed (throttling, the 16 MB response limit) are asked for again after a pause
    /// that doubles each time, up to 6 times.
    #[tracing::instrument(skip_all, fields(ids = ids.len()))]
    async fn get_many(&self, ids: &[ProductId]) -> Result<HashMap<ProductId, Product>, Error> {
        let distinct: BTreeSet<&ProductId> = ids.iter().collect();
        let distinct: Vec<&ProductId> = distinct.into_iter().collect();
        let mut found = HashMap::with_capacity(distinct.len());
        for chunk in distinct.chunks(BATCH_GET_MAX_KEYS) {
            let keys = chunk.iter().map(Table::key).collect();
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .build()
                .map_err(|e| Error::internal(self.context("BatchGetItem (building request)"), e))?;
            let mut attempt = 0;
            loop {
                let output = self
                    .table
                    .client
                    .batch_get_item()
                    .request_items(&self.table.name, request)
                    .send()
                    .await
                    .map_err(|e| sdk_error(self.context("BatchGetItem"), e))?;
                let items = output
                    .responses
                    .and_then(|mut r| r.remove(&self.table.name))
                    .unwrap_or_default();
                let products: Vec<Product> = serde_dynamo::from_items(items).map_err(|e| {
                    Error::internal(self.context("BatchGetItem (reading items)"), e)
                })?;
                found.extend(products.into_iter().map(|p| (p.id.clone(), p)));
                let unprocessed = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table.name))
                    .filter(|k| !k.keys().is_empty());
                let Some(rest) = unprocessed else { break };
                if attempt >= BATCH_GET_RETRIES {
                    // Unprocessed keys are DynamoDB throttling us: an outage answer (503).
                    return Err(Error::ServiceUnavailable(format!(
                        "{}: {} keys still unprocessed after {BATCH_GET_RETRIES} retries",
                        self.context("BatchGetItem"),
                        rest.keys().len()
                    )));
                }
                tracing::warn!(
                    unprocessed = rest.keys().len(),
                    attempt,
                    "BatchGetItem left keys unprocessed; retrying"
                );
                self.pause(attempt).await;
                attempt += 1;
                request = rest;
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl ProductLister for DynamoProducts {
    /// With a category: a `Query` of `category-index`; otherwise a `Scan`. Either is called
    /// with `Limit = limit + 1` (see `Table::page`); the cursor's id plus the category rebuild
    /// `ExclusiveStartKey`.
    #[tracing::instrument(skip_all, fields(limit = limit.get(), category = category.map(Category::as_str)))]
    async fn list(
        &self,
        category: Option<&Category>,
        limit: PageLimit,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Product>, Error> {
        let after = cursor.map(|c| c.after_id::<ProductId>()).transpose()?;
        let mut start = after.map(Table::key);
        let (items, last_key) = match category {
            Some(category) => {
                if let Some(key) = start.as_mut() {
                    key.insert(
                        "category".to_owned(),
                        AttributeValue::S(category.as_str().to_owned()),
                    );
                }
                let output = self
                    .table
                    .client
                    .query()
                    .table_name(&self.table.name)
                    .index_name(CATEGORY_INDEX)
                    .key_condition_expression("#category = :category")
                    .expression_attribute_names("#category", "category")
                    .expression_attribute_values(
                        ":category",
                        AttributeValue::S(category.as_str().to_owned()),
                    )
                    .limit(i32::from(limit.get()) + 1)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| {
                        let invalid_start = cursor.is_some()
                            && e.as_service_error()
                                .and_then(|s| s.meta().code())
                                .is_some_and(|code| code == "ValidationException");
                        if invalid_start {
                            Error::invalid("cursor", "is not a valid cursor")
                        } else {
                            sdk_error(self.context("Query"), e)
                        }
                    })?;
                (output.items, output.last_evaluated_key)
            }
            None => {
                let output = self
                    .table
                    .client
                    .scan()
                    .table_name(&self.table.name)
                    .limit(i32::from(limit.get()) + 1)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| sdk_error(self.context("Scan"), e))?;
                (output.items, output.last_evaluated_key)
            }
        };
        self.table
            .page(items, last_key.as_ref(), limit, |p: &Product| {
                p.id.to_string()
            })
    }
}

#[async_trait]
impl ProductUpdater for DynamoProducts {
    /// One `UpdateItem` that sets the catalog fields and `version = version + 1`, conditioned
    /// on `version = :expected` (or only on existence for `If-Match: *`). When the condition
    /// fails the old item comes back with the error (`ALL_OLD`): none means 404, otherwise its
    /// version was not the expected one (412). No read, no `dynamodb:GetItem` permission.
    #[tracing::instrument(skip_all, fields(product_id = %id))]
    async fn update(
        &self,
        id: &ProductId,
        precondition: ExpectedVersion,
        changes: &ProductChanges,
    ) -> Result<Product, Error> {
        let mut request = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .set_key(Some(Table::key(id)))
            .update_expression(
                "SET #name = :name, #description = :description, #category = :category, \
                 #price = :price, #version = #version + :one, #updated_at = :now",
            )
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#description", "description")
            .expression_attribute_names("#category", "category")
            .expression_attribute_names("#price", "price_cents")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":name", self.value(&changes.name)?)
            .expression_attribute_values(":description", self.value(&changes.description)?)
            .expression_attribute_values(":category", self.value(&changes.category)?)
            .expression_attribute_values(":price", self.value(&changes.price)?)
            .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
            .expression_attribute_values(":now", self.value(&now())?)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        request = match precondition {
            ExpectedVersion::Any => request.condition_expression("attribute_exists(#id)"),
            ExpectedVersion::Exactly(expected) => request
                .condition_expression("attribute_exists(#id) AND #version = :expected")
                .expression_attribute_values(":expected", self.value(&expected)?),
        };
        let stored = match request.send().await {
            Ok(output) => return self.read_product(output.attributes),
            Err(error) => self.refused(id, error)?,
        };
        let expected = match precondition {
            ExpectedVersion::Exactly(expected) => expected.to_string(),
            ExpectedVersion::Any => "any".to_owned(),
        };
        Err(Error::PreconditionFailed(format!(
            "product {id} is at version {}, not {expected}; read it again and retry",
            stored.version
        )))
    }
}

#[async_trait]
impl ProductDeleter for DynamoProducts {
    /// `DeleteItem` conditioned on `attribute_exists(id)`: a failed condition means 404.
    #[tracing::instrument(skip_all, fields(product_id = %id))]
    async fn delete(&self, id: &ProductId) -> Result<(), Error> {
        let result = self
            .table
            .client
            .delete_item()
            .table_name(&self.table.name)
            .set_key(Some(Table::key(id)))
            .condition_expression("attribute_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(Error::not_found("product", id))
            }
            Err(e) => Err(sdk_error(self.context("DeleteItem"), e)),
        }
    }
}

#[async_trait]
impl StockAdjuster for DynamoProducts {
    /// One `UpdateItem` `SET stock = stock + :delta`, conditioned on the item existing and,
    /// for a removal, on `stock >= -delta`. On a failed condition the old item (`ALL_OLD`)
    /// tells 404 (none) from 409 (its stock was too low).
    #[tracing::instrument(skip_all, fields(product_id = %id, delta = delta.get()))]
    async fn adjust(&self, id: &ProductId, delta: StockDelta) -> Result<Product, Error> {
        let mut request = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .set_key(Some(Table::key(id)))
            .update_expression("SET stock = stock + :delta")
            .expression_attribute_values(":delta", AttributeValue::N(delta.get().to_string()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        request = if delta.needed() > 0 {
            request
                .condition_expression("attribute_exists(id) AND stock >= :needed")
                .expression_attribute_values(
                    ":needed",
                    AttributeValue::N(delta.needed().to_string()),
                )
        } else {
            request.condition_expression("attribute_exists(id)")
        };
        let stored = match request.send().await {
            Ok(output) => return self.read_product(output.attributes),
            Err(error) => self.refused(id, error)?,
        };
        Err(delta.shortage(id, stored.stock))
    }
}
