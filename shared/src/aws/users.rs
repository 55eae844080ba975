//! The users table: one item per user, key `id` (S).

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;

use super::table::{Put, Table};
use crate::domain::{User, UserId};
use crate::error::Error;
use crate::ports::{Cursor, Page, PageLimit, UserLister, UserReader, UserWriter};

/// Users in DynamoDB. Item: `{"id":S,"name":S,"email":S,"created_at":S (RFC 3339)}`.
#[derive(Debug, Clone)]
pub struct DynamoUsers {
    table: Table,
}

impl DynamoUsers {
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
}

#[async_trait]
impl UserWriter for DynamoUsers {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn insert(&self, user: &User) -> Result<(), Error> {
        match self.table.put_new(user).await? {
            Put::Created => Ok(()),
            Put::AlreadyExists => Err(Error::Conflict(format!("user {} already exists", user.id))),
        }
    }
}

#[async_trait]
impl UserReader for DynamoUsers {
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn get(&self, id: &UserId) -> Result<Option<User>, Error> {
        self.table.get(id).await
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
            .map(Table::key);
        let output = self
            .table
            .client
            .scan()
            .table_name(&self.table.name)
            .limit(i32::from(limit.get()) + 1)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::internal(self.table.context("Scan"), e))?;
        let more = output.last_evaluated_key.is_some();
        let mut items: Vec<User> = serde_dynamo::from_items(output.items.unwrap_or_default())
            .map_err(|e| Error::internal(self.table.context("Scan (reading users)"), e))?;
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
