//! Narrow async traits, one per operation, so that a function depends on exactly what it uses
//! (mirroring its least-privilege IAM policy in `template.yaml`).
//!
//! Implementations: [`crate::aws`] (DynamoDB, SQS) and [`crate::memory`] (fakes for tests).

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::domain::{Invalid, LengthBound, RangeBound};
use crate::error::Error;
use crate::events::Envelope;

mod orders;
mod payments;
mod products;
mod users;

pub use orders::*;
pub use payments::*;
pub use products::*;
pub use users::*;

/// Publishes an event (`sqs:SendMessage`).
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Sends `envelope`.
    ///
    /// # Errors
    /// [`Error::Internal`] on failure.
    async fn publish(&self, envelope: &Envelope) -> Result<(), Error>;
}

/// One page of a listing: `{"items":[...],"next":"<cursor>"|null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// Where the next page starts (pass it back as `cursor`); `null` on the last page.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub next: Option<Cursor>,
}

/// How many items a page may hold: 1..=100, 20 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u16);

impl PageLimit {
    /// Used when the request gives no limit.
    pub const DEFAULT: PageLimit = PageLimit(20);
    /// Largest limit accepted.
    pub const MAX: u16 = 100;
    /// Its range bound: 1..=[`PageLimit::MAX`].
    pub const RANGE: RangeBound = RangeBound::new(1, Self::MAX as i64);

    /// Parses a limit from a query string value.
    ///
    /// # Errors
    /// [`Invalid`] when it is not an integer (`must be an integer`) or not in 1..=100
    /// (`must be at least 1`, `must be at most 100`).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let n: i64 = raw
            .trim()
            .parse()
            .map_err(|_| Invalid("must be an integer".to_owned()))?;
        let n = Self::RANGE.check(n)?;
        u16::try_from(n)
            .map(Self)
            .map_err(|_| Invalid("must be an integer".to_owned()))
    }

    /// The limit.
    pub fn get(self) -> u16 {
        self.0
    }
}

/// A limit from an already typed number (e.g. a query parameter deserialised as `u16`).
impl TryFrom<u16> for PageLimit {
    type Error = Invalid;

    /// # Errors
    /// [`Invalid`] (the messages of [`PageLimit::RANGE`]) when `n` is not in 1..=100.
    fn try_from(n: u16) -> Result<Self, Invalid> {
        Self::RANGE.check(i64::from(n)).map(|_| Self(n))
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The page a listing asks for, from its typed query's `limit` and `cursor`: the limit (20
/// when absent) and the cursor (none when absent or empty).
///
/// # Errors
/// [`Error::Validation`] on field `limit` when it is not in 1..=100.
pub fn page_request(
    limit: Option<u16>,
    cursor: Option<String>,
) -> Result<(PageLimit, Option<Cursor>), Error> {
    let limit = limit
        .map(PageLimit::try_from)
        .transpose()
        .map_err(|e| Error::invalid("limit", e.0))?
        .unwrap_or_default();
    let cursor = cursor.filter(|c| !c.is_empty()).map(Cursor::from_client);
    Ok((limit, cursor))
}

/// An opaque pagination cursor: URL-safe base64 (no padding) of `{"id":"<last id>"}`.
///
/// Clients pass it back unchanged; only listers look inside ([`Cursor::after_id`]).
/// A cursor issued by one lister is refused by a lister of another id type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorKey {
    id: String,
}

impl Cursor {
    /// Longest cursor a client may send back, in bytes; a longer one was not issued by us and
    /// is refused before it is decoded. The longest issued is a users cursor that ends on an
    /// `EMAIL#<address>` guard key: the base64 of `{"id":"EMAIL#<254-byte address>"}`, about
    /// 360 characters.
    pub const MAX_LEN: usize = 512;
    /// Its length bound as sent back by a client: at most [`Cursor::MAX_LEN`] bytes.
    pub const LENGTH: LengthBound = LengthBound::bytes(0, Self::MAX_LEN);

    /// A cursor for the page that starts after `id`.
    pub fn after(id: impl fmt::Display) -> Self {
        let json = serde_json::json!({ "id": id.to_string() }).to_string();
        Self(URL_SAFE_NO_PAD.encode(json))
    }

    /// Takes a cursor string as received from a client; it is checked when used.
    pub fn from_client(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The cursor as sent to clients.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id the page starts after, parsed as a `T` (e.g. [`UserId`](crate::domain::UserId)).
    ///
    /// # Errors
    /// [`Error::Validation`] on field `cursor` when it is not one we issued for a `T`.
    pub fn after_id<T: FromStr>(&self) -> Result<T, Error> {
        let invalid = || Error::invalid("cursor", "is not a valid cursor");
        let bytes = URL_SAFE_NO_PAD.decode(&self.0).map_err(|_| invalid())?;
        let key: CursorKey = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        key.id.parse().map_err(|_| invalid())
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    #[test]
    fn a_page_request_defaults_the_limit_and_treats_an_empty_cursor_as_none() {
        let (limit, cursor) = page_request(None, Some(String::new())).unwrap();
        let (five, given) = page_request(Some(5), Some("abc".into())).unwrap();
        let error = page_request(Some(0), None).unwrap_err();

        assert_eq!((limit, cursor), (PageLimit::DEFAULT, None));
        assert_eq!(five.get(), 5);
        assert_eq!(given.unwrap().as_str(), "abc");
        assert_eq!(error.to_string(), "limit: must be at least 1");
    }

    #[test]
    fn a_cursor_round_trips_the_id_it_was_made_from() {
        let id = UserId::new();

        let cursor = Cursor::after(id);

        assert_eq!(
            Cursor::from_client(cursor.as_str())
                .after_id::<UserId>()
                .unwrap(),
            id
        );
        assert!(!cursor.as_str().contains('='), "no padding: {cursor}");
    }

    #[test]
    fn a_forged_or_garbled_cursor_is_a_validation_error_on_cursor() {
        let not_base64 = Cursor::from_client("%%%");
        let not_json = Cursor::from_client(URL_SAFE_NO_PAD.encode("hello"));
        let not_an_id = Cursor::from_client(URL_SAFE_NO_PAD.encode(r#"{"id":"x"}"#));

        for cursor in [not_base64, not_json, not_an_id] {
            let error = cursor.after_id::<UserId>().unwrap_err();

            assert_eq!(error.to_string(), "cursor: is not a valid cursor");
        }
    }

    #[test]
    fn a_page_limit_is_between_1_and_100() {
        assert_eq!(PageLimit::parse("1").unwrap().get(), 1);
        assert_eq!(PageLimit::parse("100").unwrap().get(), 100);
        assert_eq!(PageLimit::default().get(), 20);
        for raw in ["0", "101", "-1", "ten", ""] {
            assert!(PageLimit::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn a_page_limit_from_a_number_is_between_1_and_100_with_the_parse_message() {
        assert_eq!(PageLimit::try_from(1).unwrap().get(), 1);
        assert_eq!(PageLimit::try_from(100).unwrap().get(), 100);
        for (n, message) in [
            (0, "must be at least 1"),
            (101, "must be at most 100"),
            (u16::MAX, "must be at most 100"),
        ] {
            let error = PageLimit::try_from(n).unwrap_err();

            assert_eq!(error, PageLimit::parse(&n.to_string()).unwrap_err(), "{n}");
            assert_eq!(error.0, message, "{n}");
        }
    }
}
