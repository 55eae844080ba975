//! One DynamoDB table as the repositories use it: items are serde values keyed by `id` (S);
//! creating is conditional, so an existing item is never overwritten.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::sdk_error;
use crate::error::Error;
use crate::ports::{Cursor, Page, PageLimit};

/// A table name with its client.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) client: Client,
    pub(crate) name: String,
}

/// What [`Table::put_new`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Put {
    /// The item was written.
    Created,
    /// An item with that `id` exists; nothing was written.
    AlreadyExists,
}

impl Table {
    pub(crate) fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    /// `"DynamoDB <operation> on table <name>"`, the context of an internal error.
    pub(crate) fn context(&self, operation: &str) -> String {
        format!("DynamoDB {operation} on table {}", self.name)
    }

    /// The key `{"id": S}`.
    pub(crate) fn key(id: impl ToString) -> HashMap<String, AttributeValue> {
        HashMap::from([("id".to_owned(), AttributeValue::S(id.to_string()))])
    }

    /// `PutItem` with `attribute_not_exists(id)`.
    ///
    /// # Errors
    /// [`Error::Internal`] when the item cannot be serialised or DynamoDB fails.
    pub(crate) async fn put_new<T: Serialize>(&self, item: &T) -> Result<Put, Error> {
        let item = serde_dynamo::to_item(item)
            .map_err(|e| Error::internal(self.context("PutItem (serialising item)"), e))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Put::Created),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(Put::AlreadyExists)
            }
            Err(e) => Err(sdk_error(self.context("PutItem"), e)),
        }
    }

    /// `GetItem` by `id`; `None` when there is no such item.
    ///
    /// # Errors
    /// [`Error::Internal`] when DynamoDB fails or the stored item does not deserialise.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        id: impl ToString,
    ) -> Result<Option<T>, Error> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(Self::key(id)))
            // Strongly consistent: the cache fills from this read, and an eventually
            // consistent one could bring back an item older than a write it has just
            // invalidated (shared::cache, "no stale refill").
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(self.context("GetItem"), e))?;
        output
            .item
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|e| Error::internal(self.context("GetItem (reading item)"), e))
            })
            .transpose()
    }

    /// A [`Page`] from one `Query`/`Scan` call made with `Limit = limit + 1`.
    ///
    /// More than `limit` items came back: the page ends at `limit` and the cursor is after its
    /// last item. Otherwise there is a next page only if DynamoDB stopped early (1 MB per call,
    /// or a `FilterExpression` dropped items) and said so with `LastEvaluatedKey`: the cursor is
    /// then after that key's `id`. The caller rebuilds `ExclusiveStartKey` from the cursor's id
    /// plus the index's partition key, which it knows from the request.
    ///
    /// # Errors
    /// [`Error::Internal`] when an item does not deserialise.
    pub(crate) fn page<T: DeserializeOwned>(
        &self,
        items: Option<Vec<HashMap<String, AttributeValue>>>,
        last_evaluated_key: Option<&HashMap<String, AttributeValue>>,
        limit: PageLimit,
        id_of: impl Fn(&T) -> String,
    ) -> Result<Page<T>, Error> {
        let mut items: Vec<T> = serde_dynamo::from_items(items.unwrap_or_default())
            .map_err(|e| Error::internal(self.context("Query/Scan (reading items)"), e))?;
        let wanted = usize::from(limit.get());
        let next = if items.len() > wanted {
            items.truncate(wanted);
            items.last().map(|item| Cursor::after(id_of(item)))
        } else {
            last_evaluated_key
                .and_then(|key| key.get("id"))
                .and_then(|id| id.as_s().ok())
                .map(Cursor::after)
        };
        Ok(Page { items, next })
    }
}
