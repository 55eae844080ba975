//! One DynamoDB table as the repositories use it: items are serde values keyed by `id` (S);
//! creating is conditional, so an existing item is never overwritten.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;

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
            Err(e) => Err(Error::internal(self.context("PutItem"), e)),
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
            .send()
            .await
            .map_err(|e| Error::internal(self.context("GetItem"), e))?;
        output
            .item
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|e| Error::internal(self.context("GetItem (reading item)"), e))
            })
            .transpose()
    }
}
