//! Ports of the users service: one narrow trait per operation, mirroring each function's IAM
//! policy in `template.yaml`.
//!
//! Contract shared by every implementation ([`crate::aws::DynamoUsers`],
//! [`crate::memory::InMemoryUsers`]):
//! - an email belongs to at most one user, enforced by the store itself (not by a read before
//!   the write), so two concurrent creates or updates cannot both take it
//!   ([`User::email_taken`], 409);
//! - an update or delete applies only to the version the caller read (optimistic locking): a
//!   stale `If-Match` or a concurrent change between read and write is
//!   [`User::modified`] (412) and nothing is written.

use async_trait::async_trait;

use super::{Cursor, Page, PageLimit};
use crate::domain::ExpectedVersion;
use crate::domain::{Email, User, UserChanges, UserId};
use crate::error::Error;

/// Stores a new user and claims its email (`dynamodb:PutItem`, in one transaction).
#[async_trait]
pub trait UserWriter: Send + Sync {
    /// Inserts `user` (normally at [`crate::domain::Version::FIRST`]).
    ///
    /// # Errors
    /// [`Error::Conflict`] when the email is taken ([`User::email_taken`]) or a user with the
    /// same id exists; [`Error::Internal`] on failure.
    async fn insert(&self, user: &User) -> Result<(), Error>;
}

/// Reads one user (`dynamodb:GetItem`).
#[async_trait]
pub trait UserReader: Send + Sync {
    /// The user with `id`, or `None`.
    ///
    /// # Errors
    /// [`Error::Internal`] on failure.
    async fn get(&self, id: &UserId) -> Result<Option<User>, Error>;
}

/// Lists users page by page (`dynamodb:Scan`). Order is unspecified but stable across pages.
#[async_trait]
pub trait UserLister: Send + Sync {
    /// Up to `limit` users after `cursor` (from the start when `None`). `next` is `None` on
    /// the last page; a page may be shorter than `limit` and still have a `next`.
    ///
    /// # Errors
    /// [`Error::Validation`] on field `cursor` when it was not issued by this lister;
    /// [`Error::Internal`] on failure.
    async fn list(&self, limit: PageLimit, cursor: Option<&Cursor>) -> Result<Page<User>, Error>;
}

/// Finds a user by email (`dynamodb:Query` on the `email-index` GSI, eventually consistent).
#[async_trait]
pub trait UserByEmail: Send + Sync {
    /// The user whose (normalised) email is `email`, or `None`.
    ///
    /// # Errors
    /// [`Error::Internal`] on failure.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, Error>;
}

/// Replaces a user's editable fields under optimistic locking (`dynamodb:GetItem`, then
/// `PutItem` + `DeleteItem` of the old email's claim + `PutItem` of the new one, in one
/// transaction).
#[async_trait]
pub trait UserUpdater: Send + Sync {
    /// Applies `changes` to user `id` if its stored version satisfies `expected`, and returns
    /// the user as stored: version + 1, `updated_at` now. A changed email frees the old one.
    ///
    /// With [`ExpectedVersion::Any`] a concurrent change is retried a few times on the fresh version;
    /// with [`ExpectedVersion::Exactly`] it is a 412 at once.
    ///
    /// # Errors
    /// - [`Error::NotFound`] (`user`) when there is no such user;
    /// - [`Error::PreconditionFailed`] ([`User::modified`]) when the stored version is not
    ///   `expected`, or changed between the read and the write;
    /// - [`Error::Conflict`] ([`User::email_taken`]) when the new email belongs to another user;
    /// - [`Error::Internal`] on failure.
    async fn update(
        &self,
        id: &UserId,
        expected: ExpectedVersion,
        changes: &UserChanges,
    ) -> Result<User, Error>;
}

/// Deletes a user and frees its email (`dynamodb:GetItem`, then two `DeleteItem` in one
/// transaction).
#[async_trait]
pub trait UserDeleter: Send + Sync {
    /// Deletes user `id` if its stored version satisfies `expected` (pass [`ExpectedVersion::Any`]
    /// when the client sent no `If-Match`). Its email can then be registered again.
    ///
    /// # Errors
    /// - [`Error::NotFound`] (`user`) when there is no such user;
    /// - [`Error::PreconditionFailed`] ([`User::modified`]) when the stored version is not
    ///   `expected`, or changed between the read and the delete;
    /// - [`Error::Internal`] on failure.
    async fn delete(&self, id: &UserId, expected: ExpectedVersion) -> Result<(), Error>;
}
