//! The users table (key `id` S, GSI `email-index` on `email`): one item per user, plus one
//! guard item per email that makes emails unique.
//!
//! Uniqueness is enforced by DynamoDB, not by a read before the write (AWS's "simulating unique
//! constraints with transactions"): creating a user puts the user and the guard
//! `{"id":"EMAIL#<email>","user_id":"<id>"}` in one `TransactWriteItems`, both with
//! `attribute_not_exists(id)`, so of two concurrent creates with the same email exactly one
//! commits. Guards have no `email` attribute, so they never appear in `email-index`; listing
//! filters them out with `attribute_exists(email)`, and their ids are not UUIDs, so `GET
//! /users/{id}` cannot reach them.
//!
//! Updates and deletes read the user (strongly consistent), check the caller's `If-Match`, and
//! write in one transaction conditioned on `version = <the version read>`, so a concurrent
//! change between read and write cancels the transaction (412) and nothing is lost.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::AsyncSleep;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::sdk_error;
use super::table::Table;
use super::transact::{failed_conditions, put_new};
use crate::config::{ConfigError, UsersConfig};
use crate::domain::ExpectedVersion;
use crate::domain::{Email, Invalid, User, UserChanges, UserId, Version, now};
use crate::error::Error;
use crate::ports::{
    Cursor, Page, PageLimit, UserByEmail, UserDeleter, UserLister, UserReader, UserUpdater,
    UserWriter,
};

/// The GSI on `email` (template.yaml).
const EMAIL_INDEX: &str = "email-index";
/// Prefix of the guard items' ids: `EMAIL#<normalised email>`.
const GUARD_PREFIX: &str = "EMAIL#";
/// How many times a transaction cancelled by a concurrent transaction on the same items
/// (`TransactionConflict`) is sent again before giving up with a 500.
const TRANSACTION_ATTEMPTS: u32 = 4;
/// How many read-check-write rounds an `If-Match: *` update or delete makes when a concurrent
/// change keeps beating it, before answering 412.
const ANY_VERSION_ATTEMPTS: u32 = 3;

/// The read-check-write rounds an update or delete under `expected` makes: one for a given
/// version (a conflict is the caller's 412), [`ANY_VERSION_ATTEMPTS`] for `*`.
fn rounds(expected: ExpectedVersion) -> u32 {
    match expected {
        ExpectedVersion::Any => ANY_VERSION_ATTEMPTS,
        ExpectedVersion::Exactly(_) => 1,
    }
}
/// Most `Scan` calls made for one page, when the filter keeps dropping guard items.
const MAX_SCAN_CALLS: usize = 8;

/// Users in DynamoDB.
///
/// User item: `{"id":S,"name":S,"email":S,"version":N,"created_at":S,"updated_at":S}`
/// (timestamps RFC 3339). Guard item: `{"id":"EMAIL#<email>","user_id":S}`.
#[derive(Debug, Clone)]
pub struct DynamoUsers {
    table: Table,
}

/// How a transaction ended, short of an error.
enum Outcome {
    Committed,
    /// Cancelled because conditions failed: for each item in request order, whether its
    /// condition failed.
    Refused(Vec<bool>),
}

impl DynamoUsers {
    /// A repository on `table` with a client built from `sdk`.
    pub fn new(sdk: &SdkConfig, table: impl Into<String>) -> Self {
        Self::with_client(Client::new(sdk), table)
    }

    /// The repository a function's `main` builds: the table from `USERS_TABLE`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable when it is missing.
    pub fn from_env(sdk: &SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(sdk, UsersConfig::from_env()?.users_table))
    }

    /// A repository on `table` with an existing client.
    pub fn with_client(client: Client, table: impl Into<String>) -> Self {
        Self {
            table: Table::new(client, table),
        }
    }

    /// The latest user ([`Self::read_latest`]) checked against `expected`.
    ///
    /// # Errors
    /// `404 NOT_FOUND` when there is none, `412 PRECONDITION_FAILED` ([`User::modified`]) when
    /// its version is not the expected one, or the read's error.
    async fn read_expected(&self, id: &UserId, expected: ExpectedVersion) -> Result<User, Error> {
        let current = self
            .read_latest(id)
            .await?
            .ok_or_else(|| Error::not_found("user", id))?;
        if !expected.matches(current.version) {
            return Err(User::modified(id));
        }
        Ok(current)
    }

    /// `GetItem` with `ConsistentRead`, so the version checked is the latest committed one.
    async fn read_latest(&self, id: &UserId) -> Result<Option<User>, Error> {
        let output = self
            .table
            .client
            .get_item()
            .table_name(&self.table.name)
            .set_key(Some(Table::key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(self.table.context("GetItem"), e))?;
        output
            .item
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|e| Error::internal(self.table.context("GetItem (reading user)"), e))
            })
            .transpose()
    }

    /// Puts `user` whole, only if the stored version is still `read`.
    fn put_if_version(&self, user: &User, read: Version) -> Result<TransactWriteItem, Error> {
        let item = serde_dynamo::to_item(user)
            .map_err(|e| Error::internal(self.table.context("Put (serialising user)"), e))?;
        let put = Put::builder()
            .table_name(&self.table.name)
            .set_item(Some(item))
            .condition_expression("#version = :read_version")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":read_version", version_value(read))
            .build()
            .map_err(|e| Error::internal("building a transactional Put", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Deletes `user`, only if the stored version is still the one in `user`.
    fn delete_if_version(&self, user: &User) -> Result<TransactWriteItem, Error> {
        let delete = Delete::builder()
            .table_name(&self.table.name)
            .set_key(Some(Table::key(user.id)))
            .condition_expression("#version = :read_version")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":read_version", version_value(user.version))
            .build()
            .map_err(|e| Error::internal("building a transactional Delete", e))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// The guard claiming `user`'s email, new (`attribute_not_exists(id)`: fails if taken).
    fn claim(&self, user: &User) -> Result<TransactWriteItem, Error> {
        let item = HashMap::from([
            ("id".to_owned(), AttributeValue::S(guard_id(&user.email))),
            ("user_id".to_owned(), AttributeValue::S(user.id.to_string())),
        ]);
        put_new(&self.table.name, item)
    }

    /// Deletes the guard of `user`'s email, unless it belongs to someone else. A missing
    /// guard is tolerated, so that users stored before guards existed can still change their
    /// email or be deleted.
    fn release(&self, user: &User) -> Result<TransactWriteItem, Error> {
        let delete = Delete::builder()
            .table_name(&self.table.name)
            .set_key(Some(Table::key(guard_id(&user.email))))
            .condition_expression("attribute_not_exists(id) OR user_id = :user_id")
            .expression_attribute_values(":user_id", AttributeValue::S(user.id.to_string()))
            .build()
            .map_err(|e| Error::internal("building a transactional Delete", e))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Sends one `TransactWriteItems`, again after a short pause while DynamoDB cancels it
    /// for a conflicting concurrent transaction (which then usually makes a condition fail).
    async fn transact(
        &self,
        operation: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Outcome, Error> {
        let mut attempt = 1;
        loop {
            let result = self
                .table
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(Outcome::Committed),
                Err(error) => error,
            };
            if let Some(failed) = failed_conditions(&error) {
                return Ok(Outcome::Refused(failed));
            }
            if attempt < TRANSACTION_ATTEMPTS && is_transaction_conflict(&error) {
                tracing::info!(attempt, operation, "transaction conflict; retrying");
                self.pause(attempt).await;
                attempt += 1;
                continue;
            }
            return Err(sdk_error(
                self.table
                    .context(&format!("TransactWriteItems ({operation})")),
                error,
            ));
        }
    }

    /// Full jitter ([`crate::backoff::full_jitter_backoff`]): uniform in `[0, min(200 ms,
    /// 25 ms × 2^(attempt - 1))]`, on the SDK's own async sleep.
    async fn pause(&self, attempt: u32) {
        let delay = crate::backoff::full_jitter_backoff(
            Duration::from_millis(25),
            Duration::from_millis(200),
            attempt.saturating_sub(1),
        );
        if let Some(sleep) = self.table.client.config().sleep_impl() {
            sleep.sleep(delay).await;
        }
    }
}

fn version_value(version: Version) -> AttributeValue {
    AttributeValue::N(version.get().to_string())
}

fn guard_id(email: &Email) -> String {
    format!("{GUARD_PREFIX}{email}")
}

/// Whether DynamoDB cancelled the transaction because another transaction was using one of
/// its items at the same time.
fn is_transaction_conflict(error: &SdkError<TransactWriteItemsError>) -> bool {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .any(|reason| reason.code() == Some("TransactionConflict")),
        _ => false,
    }
}

/// Whether item `index` of a refused transaction failed its condition.
fn failed_at(failed: &[bool], index: usize) -> bool {
    failed.get(index).copied().unwrap_or(false)
}

/// Where a scan resumes, as carried in a cursor: a user id or, when DynamoDB stopped on a
/// guard item, that guard's id. Anything else was not issued by us.
struct ScanStart(String);

impl FromStr for ScanStart {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Invalid> {
        match raw.strip_prefix(GUARD_PREFIX) {
            Some(email) => Email::parse(email).map(|email| Self(guard_id(&email))),
            None => UserId::parse(raw).map(|id| Self(id.to_string())),
        }
    }
}

#[async_trait]
impl UserWriter for DynamoUsers {
    /// One transaction: the user and its email guard, each `attribute_not_exists(id)`.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn insert(&self, user: &User) -> Result<(), Error> {
        let item = serde_dynamo::to_item(user)
            .map_err(|e| Error::internal(self.table.context("Put (serialising user)"), e))?;
        let items = vec![put_new(&self.table.name, item)?, self.claim(user)?];
        match self.transact("create user", items).await? {
            Outcome::Committed => Ok(()),
            Outcome::Refused(failed) if failed_at(&failed, 1) => {
                Err(User::email_taken(&user.email))
            }
            Outcome::Refused(failed) if failed_at(&failed, 0) => {
                Err(Error::Conflict(format!("user {} already exists", user.id)))
            }
            Outcome::Refused(failed) => Err(Error::internal(
                self.table.context("TransactWriteItems (create user)"),
                format!("cancelled without a failed condition: {failed:?}"),
            )),
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
    /// `Scan` with `FilterExpression attribute_exists(email)` (skips guards) and
    /// `Limit = limit + 1`. DynamoDB applies `Limit` before the filter, so while a call comes
    /// back short with a `LastEvaluatedKey`, the scan goes on (at most 8 calls) to fill the
    /// page; `Table::page` then cuts it and picks the cursor.
    #[tracing::instrument(skip_all, fields(limit = limit.get()))]
    async fn list(&self, limit: PageLimit, cursor: Option<&Cursor>) -> Result<Page<User>, Error> {
        let mut start = cursor
            .map(|c| c.after_id::<ScanStart>())
            .transpose()?
            .map(|start| Table::key(start.0));
        let wanted = usize::from(limit.get()) + 1;
        let mut items = Vec::new();
        let mut last_key = None;
        for _ in 0..MAX_SCAN_CALLS {
            let remaining = i32::try_from(wanted - items.len()).unwrap_or(i32::MAX);
            let output = self
                .table
                .client
                .scan()
                .table_name(&self.table.name)
                .filter_expression("attribute_exists(email)")
                .limit(remaining)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(self.table.context("Scan"), e))?;
            items.extend(output.items.unwrap_or_default());
            last_key = output.last_evaluated_key;
            if items.len() >= wanted || last_key.is_none() {
                break;
            }
            start.clone_from(&last_key);
        }
        self.table
            .page(Some(items), last_key.as_ref(), limit, |user: &User| {
                user.id.to_string()
            })
    }
}

#[async_trait]
impl UserByEmail for DynamoUsers {
    /// `Query` on `email-index` (`email = :email`).
    #[tracing::instrument(skip_all)]
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, Error> {
        let output = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .index_name(EMAIL_INDEX)
            .key_condition_expression("email = :email")
            .expression_attribute_values(":email", AttributeValue::S(email.to_string()))
            .send()
            .await
            .map_err(|e| sdk_error(self.table.context("Query (email-index)"), e))?;
        let users: Vec<User> = serde_dynamo::from_items(output.items.unwrap_or_default())
            .map_err(|e| Error::internal(self.table.context("Query (reading users)"), e))?;
        Ok(users.into_iter().next())
    }
}

#[async_trait]
impl UserUpdater for DynamoUsers {
    /// Consistent `GetItem`, version check, then one transaction: the new user item
    /// (`version = :read_version`) and, if the email changed, the old guard's delete and the
    /// new guard's put (`attribute_not_exists(id)`).
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn update(
        &self,
        id: &UserId,
        expected: ExpectedVersion,
        changes: &UserChanges,
    ) -> Result<User, Error> {
        for _ in 0..rounds(expected) {
            let current = self.read_expected(id, expected).await?;
            let updated = current.with_changes(changes, now());
            let email_changed = updated.email != current.email;
            let mut items = vec![self.put_if_version(&updated, current.version)?];
            if email_changed {
                items.push(self.release(&current)?);
                items.push(self.claim(&updated)?);
            }
            match self.transact("update user", items).await? {
                Outcome::Committed => return Ok(updated),
                // Changed since the read: 412 for a given version, another round for `*`.
                Outcome::Refused(failed) if failed_at(&failed, 0) => {}
                Outcome::Refused(failed) if failed_at(&failed, 2) => {
                    return Err(User::email_taken(&updated.email));
                }
                Outcome::Refused(failed) => {
                    return Err(Error::internal(
                        self.table.context("TransactWriteItems (update user)"),
                        format!("the old email's guard belongs to another user: {failed:?}"),
                    ));
                }
            }
        }
        Err(User::modified(id))
    }
}

#[async_trait]
impl UserDeleter for DynamoUsers {
    /// Consistent `GetItem`, version check, then one transaction deleting the user
    /// (`version = :read_version`) and its email guard.
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn delete(&self, id: &UserId, expected: ExpectedVersion) -> Result<(), Error> {
        for _ in 0..rounds(expected) {
            let current = self.read_expected(id, expected).await?;
            let items = vec![self.delete_if_version(&current)?, self.release(&current)?];
            match self.transact("delete user", items).await? {
                Outcome::Committed => return Ok(()),
                Outcome::Refused(failed) if failed_at(&failed, 0) => {}
                Outcome::Refused(failed) => {
                    return Err(Error::internal(
                        self.table.context("TransactWriteItems (delete user)"),
                        format!("the email's guard belongs to another user: {failed:?}"),
                    ));
                }
            }
        }
        Err(User::modified(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_resumes_after_a_user_id_or_a_guard_id_and_nothing_else() {
        let id = UserId::new();

        let after_user: ScanStart = Cursor::after(id).after_id().unwrap();
        let after_guard: ScanStart = Cursor::after("EMAIL#ada@example.com").after_id().unwrap();

        assert_eq!(after_user.0, id.to_string());
        assert_eq!(after_guard.0, "EMAIL#ada@example.com");
        for forged in ["123", "EMAIL#not-an-email", "USER#x", ""] {
            let error = Cursor::after(forged).after_id::<ScanStart>().err();
            assert_eq!(
                error.map(|e| e.to_string()).as_deref(),
                Some("cursor: is not a valid cursor"),
                "{forged:?}"
            );
        }
    }
}
