//! Ports of the users service.

use async_trait::async_trait;

use super::{Cursor, Page, PageLimit};
use crate::domain::{User, UserId};
use crate::error::Error;

/// Stores a new user (`dynamodb:PutItem`).
#[async_trait]
pub trait UserWriter: Send + Sync {
    /// Inserts `user`.
    ///
    /// # Errors
    /// [`Error::Conflict`] when a user with the same id exists; [`Error::Internal`] on failure.
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
