//! The users table: one item per user, key `id` (S).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::{User, UserId};
use crate::error::Error;
use crate::ports::{Cursor, Page, PageLimit, UserLister, UserReader, UserWriter};

/// Users in DynamoDB. Item: `{"id":S,"name":S,"email":S,"created_at":S (RFC 3339)}`.
#[derive(Debug, Clone)]
pub struct DynamoUsers {
    client: Client,
    table: String,
}

impl DynamoUsers {
    /// A repository on `table` with a client built from `sdk`.
    pub fn new(sdk: &SdkConfig, table: impl Into<String>) -> Self {
        Self::with_client(Client::new(sdk), table)
    }

    /// A repository on `table` with an existing client.
    pub fn with_client(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn context(&self, operation: &str) -> String {
        format!("DynamoDB {operation} on table {}", self.table)
    }
}

#[async_trait]
impl UserWriter for DynamoUsers {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn insert(&self, user: &User) -> Result<(), Error> {
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(user)
            .map_err(|e| Error::internal(self.context("PutItem (serialising user)"), e))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(Error::Conflict(format!("user {} already exists", user.id)))
            }
            Err(e) => Err(Error::internal(self.context("PutItem"), e)),
        }
    }
}

#[async_trait]
impl UserReader for DynamoUsers {
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn get(&self, id: &UserId) -> Result<Option<User>, Error> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .send()
            .await
            .map_err(|e| Error::internal(self.context("GetItem"), e))?;
        output
            .item
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|e| Error::internal(self.context("GetItem (reading user)"), e))
            })
            .transpose()
    }
}

#[async_trait]
impl UserLister for DynamoUsers {
    /// A `Scan` with `Limit = limit + 1`: the extra item tells whether another page exists,
    /// so the last page never comes back empty with a useless cursor.
    #[tracing::instrument(skip_all, fields(limit = limit.get()))]
    async fn list(&self, limit: PageLimit, cursor: Option<&Cursor>) -> Result<Page<User>, Error> {
        let start = cursor
            .map(|c| c.after_id::<UserId>())
            .transpose()?
            .map(|id| HashMap::from([("id".to_owned(), AttributeValue::S(id.to_string()))]));
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(i32::from(limit.get()) + 1)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::internal(self.context("Scan"), e))?;
        let more = output.last_evaluated_key.is_some();
        let mut items: Vec<User> = serde_dynamo::from_items(output.items.unwrap_or_default())
            .map_err(|e| Error::internal(self.context("Scan (reading users)"), e))?;
        let wanted = usize::from(limit.get());
        // More than `limit` came back: the page ends at `limit`. Otherwise there is a next page
        // only if DynamoDB stopped early (1 MB per call) and said so with LastEvaluatedKey.
        let next = if items.len() > wanted {
            items.truncate(wanted);
            items.last().map(|u| Cursor::after(u.id))
        } else if more {
            items.last().map(|u| Cursor::after(u.id))
        } else {
            None
        };
        Ok(Page { items, next })
    }
}
