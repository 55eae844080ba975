//! The users store against the local AWS emulator (moto server on 127.0.0.1:4566, or whatever
//! `AWS_ENDPOINT_URL` says): unique emails enforced by DynamoDB transactions, lookup through
//! the `email-index` GSI, cursor pagination that never shows guard items, and optimistic
//! locking on `version`.
//!
//! Each test provisions the template's tables under its own prefix, so tests run in parallel
//! and never see each other's data.

// Setup helpers live outside `#[test]` functions, where `allow-unwrap-in-tests` does not reach;
// a failed setup should panic like a failed assertion.
#![expect(
    clippy::unwrap_used,
    reason = "test setup helpers panic on failure by design"
)]

mod common;

use common::Stack;

use std::collections::HashSet;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::Error;
use shared::aws::DynamoUsers;
use shared::domain::ExpectedVersion;
use shared::domain::{Email, NewUser, User, UserChanges, UserId, Version, now};
use shared::http::ErrorResponse;
use shared::ports::{
    Cursor, PageLimit, UserByEmail, UserDeleter, UserLister, UserReader, UserUpdater, UserWriter,
};

impl Stack {
    fn users_table(&self) -> &str {
        &self.resources.tables["UsersTable"]
    }

    fn users(&self) -> DynamoUsers {
        DynamoUsers::new(&self.sdk, self.users_table())
    }

    /// Every raw item of the users table, users and guards alike.
    async fn raw_items(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        aws_sdk_dynamodb::Client::new(&self.sdk)
            .scan()
            .table_name(self.users_table())
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }

    /// The ids of the guard items, i.e. the emails claimed: `EMAIL#<email>` -> `user_id`.
    async fn claimed_emails(&self) -> Vec<(String, String)> {
        let mut claimed: Vec<(String, String)> = self
            .raw_items()
            .await
            .into_iter()
            .filter_map(|item| {
                let id = item["id"].as_s().unwrap();
                let email = id.strip_prefix("EMAIL#")?.to_owned();
                Some((email, item["user_id"].as_s().unwrap().clone()))
            })
            .collect();
        claimed.sort();
        claimed
    }
}

fn a_user(n: usize) -> User {
    NewUser::parse(&format!("User {n}"), &format!("user{n}@example.com"))
        .unwrap()
        .into_user(UserId::new(), now())
}

fn changes(name: &str, email: &str) -> UserChanges {
    UserChanges::parse(name, email).unwrap()
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn a_stored_user_is_read_back_unchanged() {
    let stack = Stack::new().await;
    let users = stack.users();
    let user = a_user(1);

    users.insert(&user).await.unwrap();
    let read = users.get(&user.id).await.unwrap();

    assert_eq!(read, Some(user));
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn an_unknown_user_reads_as_none() {
    let stack = Stack::new().await;

    let read = stack.users().get(&UserId::new()).await.unwrap();

    assert_eq!(read, None);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn creating_a_user_stores_it_and_a_guard_claiming_its_email() {
    let stack = Stack::new().await;
    let user = a_user(1);

    stack.users().insert(&user).await.unwrap();

    assert_eq!(
        stack.claimed_emails().await,
        [("user1@example.com".to_owned(), user.id.to_string())]
    );
    let guard = stack
        .raw_items()
        .await
        .into_iter()
        .find(|item| item["id"].as_s().unwrap().starts_with("EMAIL#"))
        .unwrap();
    assert!(
        !guard.contains_key("email"),
        "a guard must stay out of the GSI: {guard:?}"
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn inserting_a_user_whose_id_exists_is_a_conflict_and_keeps_the_first() {
    let stack = Stack::new().await;
    let users = stack.users();
    let first = a_user(1);
    users.insert(&first).await.unwrap();
    let mut second = a_user(2);
    second.id = first.id;

    let error = users.insert(&second).await.unwrap_err();

    assert_eq!(error.code(), "CONFLICT", "{error:?}");
    assert_eq!(users.get(&first.id).await.unwrap(), Some(first));
    assert_eq!(
        stack.claimed_emails().await.len(),
        1,
        "user2's email stays free"
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn a_duplicate_email_on_create_is_a_conflict_naming_it_and_writes_nothing() {
    let stack = Stack::new().await;
    let users = stack.users();
    let first = a_user(1);
    users.insert(&first).await.unwrap();
    let mut second = a_user(2);
    second.email = first.email.clone();

    let error = users.insert(&second).await.unwrap_err();

    assert!(matches!(error, Error::Conflict(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "email user1@example.com is already registered"
    );
    assert_eq!(users.get(&second.id).await.unwrap(), None);
    assert_eq!(
        stack.raw_items().await.len(),
        2,
        "first user and its guard only"
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn of_concurrent_creates_with_the_same_email_exactly_one_wins() {
    let stack = Stack::new().await;
    let users = stack.users();
    let contenders: Vec<User> = (0..4)
        .map(|n| {
            let mut user = a_user(n);
            user.email = email("same@example.com");
            user
        })
        .collect();

    let results = insert_all_at_once(&users, &contenders).await;

    let winners: Vec<&User> = contenders
        .iter()
        .zip(&results)
        .filter(|(_, result)| result.is_ok())
        .map(|(user, _)| user)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for result in &results {
        if let Err(error) = result {
            assert!(matches!(error, Error::Conflict(_)), "{error:?}");
        }
    }
    assert_eq!(
        stack.claimed_emails().await,
        [("same@example.com".to_owned(), winners[0].id.to_string())]
    );
    let page = users.list(PageLimit::DEFAULT, None).await.unwrap();
    assert_eq!(page.items, [winners[0].clone()]);
}

/// Inserts every user at the same time (all requests in flight together).
async fn insert_all_at_once(users: &DynamoUsers, all: &[User]) -> Vec<Result<(), Error>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, user) in all.iter().cloned().enumerate() {
        let users = users.clone();
        tasks.spawn(async move { (index, users.insert(&user).await) });
    }
    let mut results: Vec<Option<Result<(), Error>>> = all.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.unwrap();
        results[index] = Some(result);
    }
    results.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn of_two_concurrent_updates_from_the_same_version_exactly_one_wins_and_nothing_is_lost() {
    let stack = Stack::new().await;
    let users = stack.users();
    let user = a_user(1);
    users.insert(&user).await.unwrap();
    let read = ExpectedVersion::Exactly(user.version);
    let (ada, eve) = (
        changes("Ada", "ada@example.com"),
        changes("Eve", "eve@example.com"),
    );

    let (first, second) = tokio::join!(
        users.update(&user.id, read, &ada),
        users.update(&user.id, read, &eve)
    );

    let (winner, loser, winning_changes) = match (first, second) {
        (Ok(winner), Err(loser)) => (winner, loser, ada),
        (Err(loser), Ok(winner)) => (winner, loser, eve),
        other => panic!("expected exactly one winner, got {other:?}"),
    };
    assert!(matches!(loser, Error::PreconditionFailed(_)), "{loser:?}");
    let stored = users.get(&user.id).await.unwrap().unwrap();
    assert_eq!(stored, winner);
    assert_eq!(stored.version, Version::new(2));
    assert_eq!(stored.name, winning_changes.name);
    assert_eq!(stored.email, winning_changes.email);
    assert_eq!(stored.created_at, user.created_at);
    assert_eq!(
        stack.claimed_emails().await,
        [(stored.email.to_string(), user.id.to_string())],
        "only the winner's email is claimed; the original one is free"
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn an_update_with_a_stale_version_is_refused_and_changes_nothing() {
    let stack = Stack::new().await;
    let users = stack.users();
    let user = a_user(1);
    users.insert(&user).await.unwrap();
    users
        .update(
            &user.id,
            ExpectedVersion::Exactly(Version::FIRST),
            &changes("A", "a@example.com"),
        )
        .await
        .unwrap();
    let before = users.get(&user.id).await.unwrap();

    let error = users
        .update(
            &user.id,
            ExpectedVersion::Exactly(Version::FIRST),
            &changes("B", "b@example.com"),
        )
        .await
        .unwrap_err();

    assert!(matches!(error, Error::PreconditionFailed(_)), "{error:?}");
    assert_eq!(users.get(&user.id).await.unwrap(), before);
    assert!(
        users
            .find_by_email(&email("b@example.com"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn updates_with_if_match_star_apply_to_whatever_version_is_stored() {
    let stack = Stack::new().await;
    let users = stack.users();
    let user = a_user(1);
    users.insert(&user).await.unwrap();

    let (ada, eve) = (
        changes("Ada", "user1@example.com"),
        changes("Eve", "user1@example.com"),
    );

    let (first, second) = tokio::join!(
        users.update(&user.id, ExpectedVersion::Any, &ada),
        users.update(&user.id, ExpectedVersion::Any, &eve)
    );

    assert!(first.is_ok() && second.is_ok(), "{first:?} {second:?}");
    let stored = users.get(&user.id).await.unwrap().unwrap();
    assert_eq!(stored.version, Version::new(3));
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn changing_the_email_frees_the_old_one_and_takes_the_new_one() {
    let stack = Stack::new().await;
    let users = stack.users();
    let (one, two) = (a_user(1), a_user(2));
    users.insert(&one).await.unwrap();
    users.insert(&two).await.unwrap();

    let updated = users
        .update(
            &one.id,
            ExpectedVersion::Exactly(Version::FIRST),
            &changes("One", "new@example.com"),
        )
        .await
        .unwrap();
    let mut reuse_old = a_user(3);
    reuse_old.email = one.email.clone();
    users.insert(&reuse_old).await.unwrap();
    let mut take_new = a_user(4);
    take_new.email = email("new@example.com");
    let taken = users.insert(&take_new).await.unwrap_err();

    assert_eq!(updated.version, Version::new(2));
    assert_eq!(updated.email, email("new@example.com"));
    assert!(updated.updated_at >= one.updated_at);
    assert_eq!(
        taken.to_string(),
        "email new@example.com is already registered"
    );
    assert_eq!(
        users
            .find_by_email(&email("new@example.com"))
            .await
            .unwrap(),
        Some(updated)
    );
    assert_eq!(
        users.find_by_email(&one.email).await.unwrap().map(|u| u.id),
        Some(reuse_old.id)
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn an_update_to_another_users_email_is_a_conflict_and_changes_nothing() {
    let stack = Stack::new().await;
    let users = stack.users();
    let (one, two) = (a_user(1), a_user(2));
    users.insert(&one).await.unwrap();
    users.insert(&two).await.unwrap();
    let claimed_before = stack.claimed_emails().await;

    let error = users
        .update(
            &one.id,
            ExpectedVersion::Exactly(Version::FIRST),
            &changes("One", "user2@example.com"),
        )
        .await
        .unwrap_err();

    assert!(matches!(error, Error::Conflict(_)), "{error:?}");
    assert_eq!(users.get(&one.id).await.unwrap(), Some(one));
    assert_eq!(stack.claimed_emails().await, claimed_before);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn updating_or_deleting_an_unknown_user_is_not_found() {
    let stack = Stack::new().await;
    let users = stack.users();
    let id = UserId::new();

    let update = users
        .update(&id, ExpectedVersion::Any, &changes("A", "a@example.com"))
        .await
        .unwrap_err();
    let delete = users.delete(&id, ExpectedVersion::Any).await.unwrap_err();

    assert_eq!(update.code(), "NOT_FOUND", "{update:?}");
    assert_eq!(delete.code(), "NOT_FOUND", "{delete:?}");
    assert!(stack.raw_items().await.is_empty());
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn deleting_a_user_frees_its_email() {
    let stack = Stack::new().await;
    let users = stack.users();
    let user = a_user(1);
    users.insert(&user).await.unwrap();

    users
        .delete(&user.id, ExpectedVersion::Exactly(Version::FIRST))
        .await
        .unwrap();

    assert_eq!(users.get(&user.id).await.unwrap(), None);
    assert!(
        stack.raw_items().await.is_empty(),
        "user and guard are both gone"
    );
    let mut again = a_user(2);
    again.email = user.email.clone();
    users.insert(&again).await.unwrap();
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn deleting_with_a_stale_version_is_refused_and_keeps_the_user() {
    let stack = Stack::new().await;
    let users = stack.users();
    let user = a_user(1);
    users.insert(&user).await.unwrap();
    let updated = users
        .update(
            &user.id,
            ExpectedVersion::Any,
            &changes("A", "user1@example.com"),
        )
        .await
        .unwrap();

    let error = users
        .delete(&user.id, ExpectedVersion::Exactly(Version::FIRST))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::PreconditionFailed(_)), "{error:?}");
    assert_eq!(users.get(&user.id).await.unwrap(), Some(updated));
    assert_eq!(stack.claimed_emails().await.len(), 1);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn an_email_is_looked_up_through_the_gsi() {
    let stack = Stack::new().await;
    let users = stack.users();
    let stored: Vec<User> = (0..3).map(a_user).collect();
    for user in &stored {
        users.insert(user).await.unwrap();
    }

    let found = users
        .find_by_email(&email("USER1@example.com"))
        .await
        .unwrap();
    let missing = users
        .find_by_email(&email("nobody@example.com"))
        .await
        .unwrap();

    assert_eq!(found, Some(stored[1].clone()));
    assert_eq!(missing, None);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn listing_pages_through_every_user_exactly_once_and_never_returns_a_guard() {
    let stack = Stack::new().await;
    let users = stack.users();
    let stored: Vec<User> = (0..7).map(a_user).collect();
    for user in &stored {
        users.insert(user).await.unwrap();
    }
    assert_eq!(stack.raw_items().await.len(), 14, "7 users and 7 guards");
    let limit = PageLimit::parse("3").unwrap();

    let mut seen = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<Cursor> = None;
    for _ in 0..20 {
        let page = users.list(limit, cursor.as_ref()).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 3, "{page:?}");
        seen.extend(page.items);
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }

    assert!(cursor.is_none(), "the listing never ended");
    assert_eq!(pages, 3, "pages are filled despite the guards in between");
    let seen_ids: Vec<UserId> = seen.iter().map(|u| u.id).collect();
    let unique: HashSet<UserId> = seen_ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        seen_ids.len(),
        "a user was listed twice: {seen_ids:?}"
    );
    assert_eq!(unique, stored.iter().map(|u| u.id).collect());
    for user in &seen {
        assert_eq!(Some(user), stored.iter().find(|s| s.id == user.id));
    }
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn a_page_as_large_as_the_table_has_no_next_cursor() {
    let stack = Stack::new().await;
    let users = stack.users();
    for user in (0..3).map(a_user) {
        users.insert(&user).await.unwrap();
    }

    let page = users
        .list(PageLimit::parse("3").unwrap(), None)
        .await
        .unwrap();

    assert_eq!(page.items.len(), 3);
    assert_eq!(page.next, None);
}

#[tokio::test]
#[ignore = "needs the local AWS emulator"]
async fn a_forged_cursor_is_a_validation_error_on_cursor() {
    let stack = Stack::new().await;
    let forged = Cursor::from_client("eyJpZCI6IjEyMyJ9"); // {"id":"123"}

    let error = stack
        .users()
        .list(PageLimit::DEFAULT, Some(&forged))
        .await
        .unwrap_err();

    assert_eq!(error.to_string(), "cursor: is not a valid cursor");
}
