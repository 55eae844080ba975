//! In-memory users, with the same contract as [`crate::aws::DynamoUsers`]: unique emails,
//! optimistic locking on `version`, opaque cursors.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{injected, lock};
use crate::domain::ExpectedVersion;
use crate::domain::{Email, User, UserChanges, UserId, now};
use crate::error::Error;
use crate::ports::{
    Cursor, Page, PageLimit, UserByEmail, UserDeleter, UserLister, UserReader, UserUpdater,
    UserWriter,
};

/// Users in a map ordered by id (UUID v7 ids sort by creation time). Every operation runs
/// under one lock, so the email check and the write are atomic, like the DynamoDB
/// transaction.
#[derive(Debug, Default)]
pub struct InMemoryUsers {
    users: Mutex<BTreeMap<UserId, User>>,
    failure: Mutex<Option<String>>,
}

impl InMemoryUsers {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `users` (stored as given: neither emails nor ids are checked).
    pub fn with(users: impl IntoIterator<Item = User>) -> Self {
        let store = Self::new();
        lock(&store.users).extend(users.into_iter().map(|u| (u.id, u)));
        store
    }

    /// From now on every call fails with an [`Error::Internal`] carrying `message`.
    pub fn fail_with(&self, message: &str) {
        *lock(&self.failure) = Some(message.to_owned());
    }

    /// All stored users, by id.
    pub fn all(&self) -> Vec<User> {
        lock(&self.users).values().cloned().collect()
    }
}

/// Whether a user other than `except` has `email`.
fn taken_by_another(users: &BTreeMap<UserId, User>, email: &Email, except: UserId) -> bool {
    users.values().any(|u| u.id != except && u.email == *email)
}

/// The stored user `id`, checked against `expected`.
fn current<'a>(
    users: &'a BTreeMap<UserId, User>,
    id: &UserId,
    expected: ExpectedVersion,
) -> Result<&'a User, Error> {
    let user = users.get(id).ok_or_else(|| Error::not_found("user", id))?;
    if expected.matches(user.version) {
        Ok(user)
    } else {
        Err(User::modified(id))
    }
}

#[async_trait]
impl UserWriter for InMemoryUsers {
    async fn insert(&self, user: &User) -> Result<(), Error> {
        injected(&self.failure)?;
        let mut users = lock(&self.users);
        if taken_by_another(&users, &user.email, user.id)
            || users.get(&user.id).is_some_and(|u| u.email == user.email)
        {
            return Err(User::email_taken(&user.email));
        }
        if users.contains_key(&user.id) {
            return Err(Error::Conflict(format!("user {} already exists", user.id)));
        }
        users.insert(user.id, user.clone());
        Ok(())
    }
}

#[async_trait]
impl UserReader for InMemoryUsers {
    async fn get(&self, id: &UserId) -> Result<Option<User>, Error> {
        injected(&self.failure)?;
        Ok(lock(&self.users).get(id).cloned())
    }
}

#[async_trait]
impl UserLister for InMemoryUsers {
    async fn list(&self, limit: PageLimit, cursor: Option<&Cursor>) -> Result<Page<User>, Error> {
        injected(&self.failure)?;
        let after = cursor.map(Cursor::after_id::<UserId>).transpose()?;
        let users = lock(&self.users);
        let mut rest = users
            .values()
            .filter(|u| after.is_none_or(|after| u.id > after))
            .peekable();
        let items: Vec<User> = rest
            .by_ref()
            .take(usize::from(limit.get()))
            .cloned()
            .collect();
        let next = match (rest.peek(), items.last()) {
            (Some(_), Some(last)) => Some(Cursor::after(last.id)),
            _ => None,
        };
        Ok(Page { items, next })
    }
}

#[async_trait]
impl UserByEmail for InMemoryUsers {
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, Error> {
        injected(&self.failure)?;
        Ok(lock(&self.users)
            .values()
            .find(|u| u.email == *email)
            .cloned())
    }
}

#[async_trait]
impl UserUpdater for InMemoryUsers {
    async fn update(
        &self,
        id: &UserId,
        expected: ExpectedVersion,
        changes: &UserChanges,
    ) -> Result<User, Error> {
        injected(&self.failure)?;
        let mut users = lock(&self.users);
        let updated = current(&users, id, expected)?.with_changes(changes, now());
        if taken_by_another(&users, &updated.email, *id) {
            return Err(User::email_taken(&updated.email));
        }
        users.insert(*id, updated.clone());
        Ok(updated)
    }
}

#[async_trait]
impl UserDeleter for InMemoryUsers {
    async fn delete(&self, id: &UserId, expected: ExpectedVersion) -> Result<(), Error> {
        injected(&self.failure)?;
        let mut users = lock(&self.users);
        current(&users, id, expected)?;
        users.remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewUser, Version};
    use crate::http::ErrorResponse;

    fn user(n: usize) -> User {
        NewUser::parse(&format!("User {n}"), &format!("u{n}@example.com"))
            .unwrap()
            .into_user(UserId::new(), now())
    }

    fn changes(name: &str, email: &str) -> UserChanges {
        UserChanges::parse(name, email).unwrap()
    }

    async fn list_all(store: &InMemoryUsers, limit: PageLimit) -> (Vec<User>, usize) {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut cursor = None;
        loop {
            let page = store.list(limit, cursor.as_ref()).await.unwrap();
            pages += 1;
            seen.extend(page.items);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return (seen, pages),
            }
        }
    }

    #[tokio::test]
    async fn listing_with_the_cursor_visits_every_user_once() {
        let users: Vec<User> = (0..5).map(user).collect();
        let store = InMemoryUsers::with(users.clone());

        let (seen, pages) = list_all(&store, PageLimit::parse("2").unwrap()).await;

        assert_eq!(pages, 3);
        let mut expected: Vec<UserId> = users.iter().map(|u| u.id).collect();
        expected.sort();
        assert_eq!(seen.iter().map(|u| u.id).collect::<Vec<_>>(), expected);
    }

    #[tokio::test]
    async fn inserting_the_same_user_twice_is_a_conflict() {
        let store = InMemoryUsers::new();
        let user = user(1);
        store.insert(&user).await.unwrap();

        let error = store.insert(&user).await.unwrap_err();

        assert_eq!(error.code(), "CONFLICT");
    }

    #[tokio::test]
    async fn a_second_user_with_a_taken_email_is_a_conflict_naming_the_email() {
        let store = InMemoryUsers::new();
        let first = user(1);
        store.insert(&first).await.unwrap();
        let mut second = user(2);
        second.email = first.email.clone();

        let error = store.insert(&second).await.unwrap_err();

        assert_eq!(
            error.to_string(),
            "email u1@example.com is already registered"
        );
        assert_eq!(store.all(), [first]);
    }

    #[tokio::test]
    async fn an_update_with_the_current_version_bumps_it_and_a_stale_one_is_refused() {
        let ada = user(1);
        let store = InMemoryUsers::with([ada.clone()]);

        let updated = store
            .update(
                &ada.id,
                ExpectedVersion::Exactly(Version::FIRST),
                &changes("Ada", "ada@example.com"),
            )
            .await
            .unwrap();
        let stale = store
            .update(
                &ada.id,
                ExpectedVersion::Exactly(Version::FIRST),
                &changes("Eve", "eve@example.com"),
            )
            .await
            .unwrap_err();

        assert_eq!(updated.version, Version::new(2));
        assert_eq!(stale.code(), "PRECONDITION_FAILED");
        assert_eq!(store.all(), [updated]);
    }

    #[tokio::test]
    async fn an_update_to_another_users_email_is_a_conflict_and_changing_email_frees_the_old_one() {
        let (one, two) = (user(1), user(2));
        let store = InMemoryUsers::with([one.clone(), two.clone()]);

        let taken = store
            .update(
                &one.id,
                ExpectedVersion::Any,
                &changes("One", "u2@example.com"),
            )
            .await
            .unwrap_err();
        store
            .update(
                &one.id,
                ExpectedVersion::Any,
                &changes("One", "new@example.com"),
            )
            .await
            .unwrap();
        let reuse = store
            .update(
                &two.id,
                ExpectedVersion::Any,
                &changes("Two", "u1@example.com"),
            )
            .await;

        assert_eq!(taken.code(), "CONFLICT");
        assert!(reuse.is_ok(), "{reuse:?}");
    }

    #[tokio::test]
    async fn deleting_frees_the_email_and_a_second_delete_is_not_found() {
        let ada = user(1);
        let store = InMemoryUsers::with([ada.clone()]);

        store.delete(&ada.id, ExpectedVersion::Any).await.unwrap();
        let again = store
            .delete(&ada.id, ExpectedVersion::Any)
            .await
            .unwrap_err();
        let mut newcomer = user(2);
        newcomer.email = ada.email.clone();

        assert_eq!(again.code(), "NOT_FOUND");
        store.insert(&newcomer).await.unwrap();
        assert_eq!(
            store.find_by_email(&ada.email).await.unwrap(),
            Some(newcomer)
        );
    }
}
