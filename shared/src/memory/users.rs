//! In-memory users.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{injected, lock};
use crate::domain::{User, UserId};
use crate::error::Error;
use crate::ports::{Cursor, Page, PageLimit, UserLister, UserReader, UserWriter};

/// Users in a map ordered by id (UUID v7 ids sort by creation time).
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

    /// A store holding `users`.
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

#[async_trait]
impl UserWriter for InMemoryUsers {
    async fn insert(&self, user: &User) -> Result<(), Error> {
        injected(&self.failure)?;
        let mut users = lock(&self.users);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewUser, now};

    fn user(n: usize) -> User {
        NewUser::parse(&format!("User {n}"), &format!("u{n}@example.com"))
            .unwrap()
            .into_user(UserId::new(), now())
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
}
