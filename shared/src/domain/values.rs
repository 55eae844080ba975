//! Parsed value types: once constructed, a value is valid. Each `parse` says why it refused.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a raw value was refused, without the field name: e.g. `must be a valid email address`.
///
/// The caller knows which field it parsed and builds a [`crate::error::FieldError`] from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// What a [`LengthBound`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Unicode scalar values (`str::chars`).
    Chars,
    /// UTF-8 bytes (`str::len`).
    Bytes,
    /// Elements of a list.
    Items,
}

/// A length bound of a value: the one place where a field's length limits and their messages
/// are written. The value's `parse` checks it, and so do the request rules
/// (`shared::validate::length`), so the two cannot disagree.
///
/// Messages: `must not be empty` (below a minimum of 1), `must be at least <min> long`,
/// `must be at most <max> long`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthBound {
    /// Fewest accepted.
    pub min: usize,
    /// Most accepted.
    pub max: usize,
    /// What is counted.
    pub count: Count,
}

impl LengthBound {
    /// `min..=max` characters.
    pub const fn chars(min: usize, max: usize) -> Self {
        Self {
            min,
            max,
            count: Count::Chars,
        }
    }

    /// `min..=max` bytes.
    pub const fn bytes(min: usize, max: usize) -> Self {
        Self {
            min,
            max,
            count: Count::Bytes,
        }
    }

    /// `min..=max` elements.
    pub const fn items(min: usize, max: usize) -> Self {
        Self {
            min,
            max,
            count: Count::Items,
        }
    }

    /// Checks `text`'s length (in [`Count::Chars`] or, otherwise, bytes).
    ///
    /// # Errors
    /// [`Invalid`] when it is out of bounds.
    pub fn check(self, text: &str) -> Result<(), Invalid> {
        let n = match self.count {
            Count::Chars => text.chars().count(),
            Count::Bytes | Count::Items => text.len(),
        };
        self.check_len(n)
    }

    /// Checks a length `n` already counted (e.g. the number of items of a list).
    ///
    /// # Errors
    /// [`Invalid`] when it is out of bounds.
    pub fn check_len(self, n: usize) -> Result<(), Invalid> {
        if n < self.min {
            return Err(if self.min == 1 {
                Invalid::new("must not be empty")
            } else {
                Invalid(format!("must be at least {} long", self.min))
            });
        }
        if n > self.max {
            return Err(Invalid(format!("must be at most {} long", self.max)));
        }
        Ok(())
    }
}

/// An integer range bound of a value (inclusive): the one place where a number's limits and
/// their messages are written, checked by the value's `parse` and by the request rules
/// (`shared::validate::range`).
///
/// Messages: `must be at least <min>`, `must be at most <max>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeBound {
    /// Smallest accepted.
    pub min: i64,
    /// Largest accepted.
    pub max: i64,
}

impl RangeBound {
    /// `min..=max`.
    pub const fn new(min: i64, max: i64) -> Self {
        Self { min, max }
    }

    /// Checks `n`.
    ///
    /// # Errors
    /// [`Invalid`] when it is out of range.
    pub fn check(self, n: i64) -> Result<i64, Invalid> {
        if n < self.min {
            return Err(Invalid(format!("must be at least {}", self.min)));
        }
        if n > self.max {
            return Err(Invalid(format!("must be at most {}", self.max)));
        }
        Ok(n)
    }
}

macro_rules! uuid_v7_id {
    ($(#[$doc:meta])* $name:ident) => {
        uuid_v7_id!($(#[$doc])* $name, accepts [7], "must be a version 7 UUID");
    };
    ($(#[$doc:meta])* $name:ident, accepts [$($version:literal),+], $wrong_version:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUID v7).
            #[expect(clippy::new_without_default, reason = "a fresh random id is not a default value")]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses a UUID of an accepted version in any case, hyphenated (`0190a0e4-…`) or
            /// simple; it is printed back lowercase and hyphenated.
            ///
            /// # Errors
            /// [`Invalid`] when `raw` is not a UUID, or is a UUID of another version.
            pub fn parse(raw: &str) -> Result<Self, Invalid> {
                let uuid = Uuid::try_parse(raw.trim())
                    .map_err(|_| Invalid::new("must be a UUID"))?;
                if ![$($version),+].contains(&uuid.get_version_num()) {
                    return Err(Invalid::new($wrong_version));
                }
                Ok(Self(uuid))
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = Invalid;
            fn from_str(raw: &str) -> Result<Self, Invalid> {
                Self::parse(raw)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(raw: String) -> Result<Self, Invalid> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
    };
}

uuid_v7_id!(
    /// Identifies a user: a UUID v7 when this service creates the record, or the UUID v4 that
    /// an Amazon Cognito user pool gave as the token's `sub` when a customer creates their own
    /// record (so that the record's id is the caller's identity). Serialised as its lowercase
    /// hyphenated string.
    UserId, accepts [4, 7], "must be a version 4 or 7 UUID"
);
uuid_v7_id!(
    /// Identifies an order: a UUID v7, serialised as its lowercase hyphenated string.
    OrderId
);

/// An email address, trimmed and lowercased, at most 254 bytes, shaped `local@domain.tld`.
///
/// Serialised as its string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Longest address accepted, in bytes (RFC 5321 path limit minus the angle brackets).
    pub const MAX_LEN: usize = 254;
    /// Its length bound: at most [`Email::MAX_LEN`] bytes.
    pub const LENGTH: LengthBound = LengthBound::bytes(0, Self::MAX_LEN);

    /// Parses an address: trims, lowercases, then checks `local@domain.tld`.
    ///
    /// The local part is 1..=64 characters of letters, digits, `.` (not first, last or doubled)
    /// and ``!#$%&'*+/=?^_`{|}~-``. The domain has at least two dot-separated labels of
    /// letters, digits and inner `-`, each 1..=63 long; the last label is not all digits.
    ///
    /// # Errors
    /// [`Invalid`] with `must be a valid email address`, or `must be at most 254 long`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        Self::LENGTH.check(&email)?;
        if !looks_like_email(&email) {
            return Err(Invalid::new("must be a valid email address"));
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()));
    local_ok && domain_ok
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

/// A person's display name: trimmed, 1..=100 characters (Unicode scalar values), no control
/// characters. Serialised as its string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

impl UserName {
    /// Longest name accepted, in characters.
    pub const MAX_CHARS: usize = 100;
    /// Its length bound after trimming: 1..=[`UserName::MAX_CHARS`] characters.
    pub const LENGTH: LengthBound = LengthBound::chars(1, Self::MAX_CHARS);

    /// Parses a name: trims surrounding whitespace, then checks its length and characters.
    ///
    /// # Errors
    /// [`Invalid`] when empty after trimming, longer than 100 characters, or containing a
    /// control character.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        Self::LENGTH.check(name)?;
        if name.chars().any(char::is_control) {
            return Err(Invalid::new("must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for UserName {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<UserName> for String {
    fn from(name: UserName) -> String {
        name.0
    }
}

/// An amount of money in integer cents (no floats, no currency: the shop has one).
///
/// Serialised as a plain JSON integer of cents. Arithmetic is checked: `None` on overflow.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(u64);

impl Money {
    /// Zero cents.
    pub const ZERO: Money = Money(0);

    /// `cents` cents; every `u64` is a valid amount.
    pub const fn from_cents(cents: u64) -> Self {
        Self(cents)
    }

    /// The amount in cents.
    pub const fn cents(self) -> u64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// `self * quantity`, or `None` on overflow.
    pub fn checked_mul(self, quantity: Quantity) -> Option<Money> {
        self.0.checked_mul(u64::from(quantity.get())).map(Money)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cents", self.0)
    }
}

/// How many units of a product an order line has: 1..=1000. Serialised as a JSON integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    /// Smallest quantity accepted.
    pub const MIN: u32 = 1;
    /// Largest quantity accepted.
    pub const MAX: u32 = 1000;
    /// Its range bound: [`Quantity::MIN`]..=[`Quantity::MAX`].
    pub const RANGE: RangeBound = RangeBound::new(Self::MIN as i64, Self::MAX as i64);

    /// Parses a quantity. Takes `i64` so that negative input gets the same message as zero.
    ///
    /// # Errors
    /// [`Invalid`] outside 1..=1000 (`must be at least 1`, `must be at most 1000`).
    pub fn parse(raw: i64) -> Result<Self, Invalid> {
        let n = Self::RANGE.check(raw)?;
        u32::try_from(n)
            .map(Self)
            .map_err(|_| Invalid::new("must be a whole number of units"))
    }

    /// The quantity.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = Invalid;
    fn try_from(raw: i64) -> Result<Self, Invalid> {
        Self::parse(raw)
    }
}

impl From<Quantity> for u32 {
    fn from(quantity: Quantity) -> u32 {
        quantity.0
    }
}

/// A product identifier (SKU): 1..=64 characters of `A-Z a-z 0-9 _ -`. Serialised as its string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductId(String);

impl ProductId {
    /// Longest product id accepted, in characters.
    pub const MAX_LEN: usize = 64;
    /// Its length bound: 1..=[`ProductId::MAX_LEN`] bytes.
    pub const LENGTH: LengthBound = LengthBound::bytes(1, Self::MAX_LEN);

    /// Parses a product id as given (no trimming: a space is an error).
    ///
    /// # Errors
    /// [`Invalid`] when empty, longer than 64, or containing another character.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::LENGTH.check(raw)?;
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Invalid::new(
                "must contain only letters, digits, '_' and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ProductId {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<ProductId> for String {
    fn from(id: ProductId) -> String {
        id.0
    }
}

/// The optimistic-locking version of a stored item: 1 when created, +1 on every update.
///
/// Sent to clients as a strong `ETag` (`"3"`, RFC 9110 §8.8.3) and expected back in `If-Match`
/// on updates; the store writes only if its `version` still equals the one the client read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(u64);

impl Version {
    /// The version of a newly created item.
    pub const FIRST: Version = Version(1);

    /// A version number as stored.
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The version after one more update (saturating; 2^64 updates do not happen).
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The strong entity tag for this version: `"3"` (with the quotes).
    pub fn etag(self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which stored version a conditional write expects (optimistic locking). The HTTP layer reads
/// it from `If-Match`; the stores only compare versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Whatever version is stored (the item must exist).
    Any,
    /// Only this version: a write against any other is refused as stale.
    Exactly(Version),
}

impl ExpectedVersion {
    /// Whether a stored `current` version satisfies this expectation.
    pub fn matches(self, current: Version) -> bool {
        match self {
            Self::Any => true,
            Self::Exactly(expected) => expected == current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expected_version_matches_any_version_or_exactly_its_own() {
        let three = Version::new(3);

        assert!(ExpectedVersion::Any.matches(three));
        assert!(ExpectedVersion::Exactly(three).matches(three));
        assert!(!ExpectedVersion::Exactly(Version::FIRST).matches(three));
    }

    #[test]
    fn a_new_user_id_round_trips_through_parse() {
        let id = UserId::new();

        let parsed = UserId::parse(&id.to_string()).unwrap();

        assert_eq!(parsed, id);
    }

    #[test]
    fn an_id_is_printed_lowercase_and_hyphenated_whatever_the_input_case() {
        let id = OrderId::new().to_string();

        let parsed = OrderId::parse(&id.to_uppercase()).unwrap();

        assert_eq!(parsed.to_string(), id);
    }

    #[test]
    fn an_id_that_is_not_a_uuid_is_refused() {
        assert_eq!(
            UserId::parse("not-a-uuid"),
            Err(Invalid("must be a UUID".into()))
        );
        assert!(UserId::parse("").is_err());
    }

    #[test]
    fn a_user_id_is_a_uuid_v7_of_ours_or_a_cognito_v4_sub() {
        let v4 = Uuid::new_v4().to_string();
        let v1 = "c232ab00-9414-11ec-b3c8-9f6bdeced846";

        assert_eq!(UserId::parse(&v4).unwrap().to_string(), v4);
        assert_eq!(
            UserId::parse(v1),
            Err(Invalid("must be a version 4 or 7 UUID".into()))
        );
    }

    #[test]
    fn a_uuid_of_another_version_is_refused() {
        let v4 = Uuid::new_v4().to_string();

        assert_eq!(
            OrderId::parse(&v4),
            Err(Invalid("must be a version 7 UUID".into()))
        );
    }

    #[test]
    fn an_email_is_trimmed_and_lowercased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();

        assert_eq!(email.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn common_valid_emails_are_accepted() {
        for raw in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "x_y-z@xn--p1ai.xn--p1ai",
        ] {
            assert!(Email::parse(raw).is_ok(), "{raw}");
        }
    }

    #[test]
    fn malformed_emails_are_refused() {
        for raw in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@b.c",
            "a@@b.com",
            "a b@example.com",
            ".a@example.com",
            "a..b@example.com",
            "a@-b.com",
            "a@b..com",
            "a@example.123",
        ] {
            assert_eq!(
                Email::parse(raw),
                Err(Invalid("must be a valid email address".into())),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn an_email_longer_than_254_bytes_is_refused() {
        let raw = format!(
            "{}@{}.com",
            "a".repeat(64),
            "b".repeat(63) + "." + &"c".repeat(130)
        );

        assert_eq!(
            Email::parse(&raw),
            Err(Invalid("must be at most 254 long".into()))
        );
    }

    #[test]
    fn a_user_name_is_trimmed_and_between_1_and_100_characters() {
        assert_eq!(UserName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(UserName::parse(&"é".repeat(100)).is_ok());
        assert!(UserName::parse(&"é".repeat(101)).is_err());
        assert!(UserName::parse("   ").is_err());
        assert!(UserName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn a_quantity_is_between_1_and_1000() {
        assert_eq!(Quantity::parse(1).unwrap().get(), 1);
        assert_eq!(Quantity::parse(1000).unwrap().get(), 1000);
        for (raw, message) in [
            (0, "must be at least 1"),
            (-1, "must be at least 1"),
            (1001, "must be at most 1000"),
            (i64::MAX, "must be at most 1000"),
        ] {
            assert_eq!(Quantity::parse(raw), Err(Invalid(message.into())), "{raw}");
        }
    }

    #[test]
    fn a_length_bound_names_the_limit_it_breaks() {
        let name = LengthBound::chars(1, 3);
        let code = LengthBound::bytes(2, 3);

        assert_eq!(name.check("ééé"), Ok(()));
        assert_eq!(name.check(""), Err(Invalid("must not be empty".into())));
        assert_eq!(
            name.check("abcd"),
            Err(Invalid("must be at most 3 long".into()))
        );
        assert_eq!(code.check("é"), Ok(()));
        assert_eq!(
            code.check("a"),
            Err(Invalid("must be at least 2 long".into()))
        );
        assert_eq!(
            code.check("éé"),
            Err(Invalid("must be at most 3 long".into()))
        );
    }

    #[test]
    fn a_range_bound_names_the_limit_it_breaks() {
        let range = RangeBound::new(-2, 5);

        assert_eq!(range.check(-2), Ok(-2));
        assert_eq!(range.check(5), Ok(5));
        assert_eq!(range.check(-3), Err(Invalid("must be at least -2".into())));
        assert_eq!(range.check(6), Err(Invalid("must be at most 5".into())));
    }

    #[test]
    fn money_arithmetic_is_checked() {
        let price = Money::from_cents(250);
        let three = Quantity::parse(3).unwrap();

        assert_eq!(price.checked_mul(three), Some(Money::from_cents(750)));
        assert_eq!(
            Money::from_cents(u64::MAX).checked_add(Money::from_cents(1)),
            None
        );
        assert_eq!(Money::from_cents(u64::MAX).checked_mul(three), None);
    }

    #[test]
    fn a_product_id_allows_only_letters_digits_underscore_and_hyphen() {
        assert!(ProductId::parse("SKU_123-abc").is_ok());
        assert!(ProductId::parse(&"a".repeat(64)).is_ok());
        assert!(ProductId::parse(&"a".repeat(65)).is_err());
        assert!(ProductId::parse("").is_err());
        assert!(ProductId::parse("sku 1").is_err());
        assert!(ProductId::parse("sku/1").is_err());
    }

    #[test]
    fn values_deserialise_only_when_valid() {
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
        assert!(serde_json::from_str::<Quantity>("0").is_err());
        assert_eq!(
            serde_json::from_str::<Quantity>("5").unwrap(),
            Quantity::parse(5).unwrap()
        );
        assert_eq!(serde_json::to_string(&Money::from_cents(42)).unwrap(), "42");
    }
}
