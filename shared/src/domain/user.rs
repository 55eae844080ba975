//! Users: who places orders.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{Email, UserId, UserName, Version};
use crate::error::{Error, FieldError};

/// A registered user.
///
/// JSON (API body and stored item alike): `{"id":"<uuid v7>","name":"Ada",
/// "email":"ada@example.com","version":1,"created_at":"<RFC 3339>","updated_at":"<RFC 3339>"}`.
/// `version` is the optimistic-locking version, sent as the `ETag` (`"1"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Assigned at creation.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[47][0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"))]
    pub id: UserId,
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 1, max_length = 100))]
    pub name: UserName,
    /// Normalised (lowercase) email address; no two users share one.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Email))]
    pub email: Email,
    /// [`Version::FIRST`] at creation, +1 on every update.
    #[cfg_attr(feature = "openapi", schema(value_type = u64, minimum = 1))]
    pub version: Version,
    /// When the user was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When the user was last changed (UTC); equals `created_at` until the first update.
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// This user with `changes` applied at `at`: the version is incremented and `updated_at`
    /// set; `id` and `created_at` are kept.
    #[must_use]
    pub fn with_changes(&self, changes: &UserChanges, at: DateTime<Utc>) -> User {
        User {
            id: self.id,
            name: changes.name.clone(),
            email: changes.email.clone(),
            version: self.version.next(),
            created_at: self.created_at,
            updated_at: at,
        }
    }

    /// The error of every user store for an email that belongs to another user:
    /// [`Error::Conflict`] (409) `email <email> is already registered`.
    pub fn email_taken(email: &Email) -> Error {
        Error::Conflict(format!("email {email} is already registered"))
    }

    /// The error of every user store for an `If-Match` version that is no longer current:
    /// [`Error::PreconditionFailed`] (412) naming the user.
    pub fn modified(id: &UserId) -> Error {
        Error::PreconditionFailed(format!(
            "user {id} has been modified since it was read; GET it again for the current ETag"
        ))
    }
}

/// A user to be created: validated input, no id yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Display name.
    pub name: UserName,
    /// Email address.
    pub email: Email,
}

impl NewUser {
    /// Parses the raw `name` and `email` of a request.
    ///
    /// # Errors
    /// [`Error::Validation`] listing every bad field (`name`, `email`), not just the first.
    pub fn parse(name: &str, email: &str) -> Result<Self, Error> {
        let (name, email) = parse_fields(name, email)?;
        Ok(Self { name, email })
    }

    /// The user this becomes once it has an id and a creation time: version
    /// [`Version::FIRST`], `updated_at` = `created_at`.
    pub fn into_user(self, id: UserId, created_at: DateTime<Utc>) -> User {
        User {
            id,
            name: self.name,
            email: self.email,
            version: Version::FIRST,
            created_at,
            updated_at: created_at,
        }
    }
}

/// The editable fields of a user, as a full replacement (`PUT /users/{id}`): validated input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserChanges {
    /// The new display name.
    pub name: UserName,
    /// The new email address (may equal the current one).
    pub email: Email,
}

impl UserChanges {
    /// Parses the raw `name` and `email` of an update request.
    ///
    /// # Errors
    /// [`Error::Validation`] listing every bad field (`name`, `email`), not just the first.
    pub fn parse(name: &str, email: &str) -> Result<Self, Error> {
        let (name, email) = parse_fields(name, email)?;
        Ok(Self { name, email })
    }
}

fn parse_fields(name: &str, email: &str) -> Result<(UserName, Email), Error> {
    let name = UserName::parse(name).map_err(|e| FieldError::new("name", e.0));
    let email = Email::parse(email).map_err(|e| FieldError::new("email", e.0));
    match (name, email) {
        (Ok(name), Ok(email)) => Ok((name, email)),
        (name, email) => Err(Error::validation(
            [name.err(), email.err()].into_iter().flatten().collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    #[test]
    fn a_new_user_is_parsed_from_raw_name_and_email() {
        let new_user = NewUser::parse(" Ada ", "ADA@example.com").unwrap();

        assert_eq!(new_user.name.as_str(), "Ada");
        assert_eq!(new_user.email.as_str(), "ada@example.com");
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        for error in [
            NewUser::parse("", "nope").unwrap_err(),
            UserChanges::parse("", "nope").unwrap_err(),
        ] {
            let Error::Validation(fields) = error else {
                panic!("expected a validation error, got {error:?}");
            };
            let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, ["name", "email"]);
        }
    }

    #[test]
    fn a_new_user_starts_at_version_1_updated_when_created() {
        let created_at = at("2025-01-02T03:04:05.678Z");

        let user = NewUser::parse("Ada", "ada@example.com")
            .unwrap()
            .into_user(UserId::new(), created_at);

        assert_eq!(user.version, Version::FIRST);
        assert_eq!(user.updated_at, created_at);
    }

    #[test]
    fn a_user_serialises_to_the_api_shape() {
        let id = UserId::new();
        let created_at = at("2025-01-02T03:04:05.678Z");
        let user = NewUser::parse("Ada", "ada@example.com")
            .unwrap()
            .into_user(id, created_at);

        let value = serde_json::to_value(&user).unwrap();

        assert_eq!(
            value,
            json!({
                "id": id.to_string(),
                "name": "Ada",
                "email": "ada@example.com",
                "version": 1,
                "created_at": "2025-01-02T03:04:05.678Z",
                "updated_at": "2025-01-02T03:04:05.678Z"
            })
        );
        assert_eq!(serde_json::from_value::<User>(value).unwrap(), user);
    }

    #[test]
    fn changes_replace_name_and_email_and_bump_the_version() {
        let user = NewUser::parse("Ada", "ada@example.com")
            .unwrap()
            .into_user(UserId::new(), at("2025-01-02T03:04:05Z"));
        let changes = UserChanges::parse("Ada L.", "ADA@lovelace.org").unwrap();
        let later = at("2025-02-01T00:00:00Z");

        let changed = user.with_changes(&changes, later);

        assert_eq!(changed.id, user.id);
        assert_eq!(changed.name.as_str(), "Ada L.");
        assert_eq!(changed.email.as_str(), "ada@lovelace.org");
        assert_eq!(changed.version, Version::new(2));
        assert_eq!(changed.created_at, user.created_at);
        assert_eq!(changed.updated_at, later);
    }

    #[test]
    fn a_taken_email_is_a_conflict_naming_it() {
        let email = Email::parse("ada@example.com").unwrap();

        let error = User::email_taken(&email);

        assert!(matches!(error, Error::Conflict(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            "email ada@example.com is already registered"
        );
    }
}
