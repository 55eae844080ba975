//! Users: who places orders.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{Email, UserId, UserName};
use crate::error::{Error, FieldError};

/// A registered user.
///
/// JSON: `{"id":"<uuid v7>","name":"Ada","email":"ada@example.com","created_at":"<RFC 3339>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Assigned at creation.
    pub id: UserId,
    /// Display name.
    pub name: UserName,
    /// Normalised (lowercase) email address.
    pub email: Email,
    /// When the user was created (UTC).
    pub created_at: DateTime<Utc>,
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
        let name = UserName::parse(name).map_err(|e| FieldError::new("name", e.0));
        let email = Email::parse(email).map_err(|e| FieldError::new("email", e.0));
        match (name, email) {
            (Ok(name), Ok(email)) => Ok(Self { name, email }),
            (name, email) => Err(Error::validation(
                [name.err(), email.err()].into_iter().flatten().collect(),
            )),
        }
    }

    /// The user this becomes once it has an id and a creation time.
    pub fn into_user(self, id: UserId, created_at: DateTime<Utc>) -> User {
        User {
            id,
            name: self.name,
            email: self.email,
            created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_new_user_is_parsed_from_raw_name_and_email() {
        let new_user = NewUser::parse(" Ada ", "ADA@example.com").unwrap();

        assert_eq!(new_user.name.as_str(), "Ada");
        assert_eq!(new_user.email.as_str(), "ada@example.com");
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let error = NewUser::parse("", "nope").unwrap_err();

        let Error::Validation(fields) = error else {
            panic!("expected a validation error, got {error:?}");
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["name", "email"]);
    }

    #[test]
    fn a_user_serialises_to_the_api_shape() {
        let id = UserId::new();
        let created_at = DateTime::parse_from_rfc3339("2025-01-02T03:04:05.678Z")
            .unwrap()
            .to_utc();
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
                "created_at": "2025-01-02T03:04:05.678Z"
            })
        );
        assert_eq!(serde_json::from_value::<User>(value).unwrap(), user);
    }
}
