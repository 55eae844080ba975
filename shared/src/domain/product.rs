//! Products (the catalog) and the inventory's stock reservations.
//!
//! A product's catalog fields (`name`, `description`, `category`, `price_cents`) change only
//! through an update that bumps `version` (the `ETag`); its `stock` changes only through stock
//! adjustments and reservations, which leave `version` and `updated_at` alone, so an admin edit
//! never races with the saga.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::{Invalid, LengthBound, Money, OrderId, ProductId, RangeBound, Version};
use crate::error::{Error, FieldError};

impl ProductId {
    /// A fresh id for a product created through the API: a UUID v7 as its lowercase
    /// hyphenated string (36 characters, a valid SKU). Seed data may use any other SKU.
    pub fn generate() -> Self {
        let uuid = Uuid::now_v7().hyphenated().to_string();
        // Hex digits and hyphens, 36 long: always a valid SKU.
        Self::parse(&uuid).unwrap_or_else(|e| unreachable!("UUID {uuid} is not a SKU: {e}"))
    }
}

/// So that a product id parses as a path parameter or from a cursor.
impl std::str::FromStr for ProductId {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        Self::parse(raw)
    }
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(raw: String) -> Result<Self, Invalid> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

text_value!(
    /// A product's name: trimmed, 1..=200 characters, no control characters.
    ProductName
);
text_value!(
    /// A product's description: trimmed, 0..=2000 characters; line breaks and tabs are
    /// allowed, other control characters are not.
    Description
);
text_value!(
    /// A catalog category: trimmed and lowercased, 1..=50 characters of `a-z 0-9 -`
    /// (e.g. `books`, `garden-tools`). The partition key of the `category-index`.
    Category
);

impl ProductName {
    /// Longest name accepted, in characters.
    pub const MAX_CHARS: usize = 200;
    /// Its length bound after trimming: 1..=[`ProductName::MAX_CHARS`] characters.
    pub const LENGTH: LengthBound = LengthBound::chars(1, Self::MAX_CHARS);

    /// Parses a name: trims, then checks length and characters.
    ///
    /// # Errors
    /// [`Invalid`] when empty, longer than 200 characters or containing a control character.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        Self::LENGTH.check(name)?;
        if name.chars().any(char::is_control) {
            return Err(Invalid("must not contain control characters".to_owned()));
        }
        Ok(Self(name.to_owned()))
    }
}

impl Description {
    /// Longest description accepted, in characters.
    pub const MAX_CHARS: usize = 2000;
    /// Its length bound after trimming: at most [`Description::MAX_CHARS`] characters.
    pub const LENGTH: LengthBound = LengthBound::chars(0, Self::MAX_CHARS);

    /// Parses a description: trims, then checks length and characters.
    ///
    /// # Errors
    /// [`Invalid`] when longer than 2000 characters or containing a control character other
    /// than `\n`, `\r` and `\t`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let text = raw.trim();
        Self::LENGTH.check(text)?;
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Invalid(
                "must not contain control characters other than line breaks and tabs".to_owned(),
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

impl Category {
    /// Longest category accepted, in characters.
    pub const MAX_LEN: usize = 50;
    /// Its length bound after trimming: 1..=[`Category::MAX_LEN`] characters.
    pub const LENGTH: LengthBound = LengthBound::chars(1, Self::MAX_LEN);

    /// Parses a category: trims and lowercases, then checks length and characters.
    ///
    /// # Errors
    /// [`Invalid`] when empty, longer than 50 or containing anything but `a-z 0-9 -`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let category = raw.trim().to_lowercase();
        Self::LENGTH.check(&category)?;
        if !category
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(Invalid(
                "must contain only letters a-z, digits and '-'".to_owned(),
            ));
        }
        Ok(Self(category))
    }
}

/// Highest price accepted: 100 000 000 cents (one million); an order line's unit price has
/// the same bound ([`crate::domain::OrderItem::MAX_UNIT_PRICE`]).
pub const MAX_PRICE: Money = Money::from_cents(100_000_000);

/// Most units a product may be created with: 1 000 000.
pub const MAX_INITIAL_STOCK: u64 = 1_000_000;

/// The range bound of a price in cents: 0..=[`MAX_PRICE`].
pub const PRICE_RANGE: RangeBound = RangeBound::new(0, MAX_PRICE.cents() as i64);

/// The range bound of an initial stock in units: 0..=[`MAX_INITIAL_STOCK`].
pub const STOCK_RANGE: RangeBound = RangeBound::new(0, MAX_INITIAL_STOCK as i64);

/// Parses a price in cents. Takes `i64` so that a negative price gets the same message as
/// one that is too high.
///
/// # Errors
/// [`Invalid`] outside 0..=100 000 000.
pub fn parse_price(cents: i64) -> Result<Money, Invalid> {
    let cents = PRICE_RANGE.check(cents)?;
    u64::try_from(cents)
        .map(Money::from_cents)
        .map_err(|_| Invalid("must be a whole number of cents".to_owned()))
}

/// Parses an initial stock in units. Takes `i64` so that a negative stock gets the same
/// message as one that is too high.
///
/// # Errors
/// [`Invalid`] outside 0..=1 000 000.
pub fn parse_stock(units: i64) -> Result<u64, Invalid> {
    let units = STOCK_RANGE.check(units)?;
    u64::try_from(units).map_err(|_| Invalid("must be a whole number of units".to_owned()))
}

/// A signed change of a product's stock, in units: non-zero, at most 1 000 000 either way.
/// Serialised as a JSON integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct StockDelta(i64);

impl StockDelta {
    /// Largest change accepted either way, in units.
    pub const MAX_ABS: i64 = 1_000_000;

    /// Parses a delta.
    ///
    /// # Errors
    /// [`Invalid`] when zero or outside -1 000 000..=1 000 000.
    pub fn parse(delta: i64) -> Result<Self, Invalid> {
        if delta == 0 {
            return Err(Invalid("must not be zero".to_owned()));
        }
        if delta.unsigned_abs() > Self::MAX_ABS.unsigned_abs() {
            return Err(Invalid(format!(
                "must be between -{0} and {0}",
                Self::MAX_ABS
            )));
        }
        Ok(Self(delta))
    }

    /// The change (negative: units removed).
    pub const fn get(self) -> i64 {
        self.0
    }

    /// How many units must be in stock for the change to leave it at zero or more: `-delta`
    /// for a removal, `0` for an addition.
    pub const fn needed(self) -> u64 {
        if self.0 < 0 { self.0.unsigned_abs() } else { 0 }
    }

    /// `stock + delta`, or `None` when that would be negative (or overflow).
    pub fn apply_to(self, stock: u64) -> Option<u64> {
        stock.checked_add_signed(self.0)
    }

    /// The `409 CONFLICT` for applying this delta to product `id` that has only `stock`
    /// units: `insufficient stock: product SKU-1 has 2, cannot remove 3`.
    pub fn shortage(self, id: &ProductId, stock: u64) -> Error {
        Error::Conflict(format!(
            "insufficient stock: product {id} has {stock}, cannot remove {}",
            self.needed()
        ))
    }
}

impl TryFrom<i64> for StockDelta {
    type Error = Invalid;
    fn try_from(delta: i64) -> Result<Self, Invalid> {
        Self::parse(delta)
    }
}

impl From<StockDelta> for i64 {
    fn from(delta: StockDelta) -> i64 {
        delta.0
    }
}

/// A product of the catalog, with its stock.
///
/// JSON (API response and stored DynamoDB item):
/// ```json
/// {"id":"SKU-1","name":"Teapot","description":"Holds 1 l","category":"kitchen",
///  "price_cents":1999,"stock":12,"version":3,
///  "created_at":"<RFC 3339>","updated_at":"<RFC 3339>"}
/// ```
/// `version` counts catalog edits (it is the `ETag`); `updated_at` is the time of the last
/// one. Stock movements change neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Product {
    /// The SKU; a UUID v7 string for products created through the API.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,64}$"))]
    pub id: ProductId,
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 1, max_length = 200))]
    pub name: ProductName,
    /// Free text, possibly empty.
    #[cfg_attr(feature = "openapi", schema(value_type = String, max_length = 2000))]
    pub description: Description,
    /// Where it is listed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[a-z0-9-]{1,50}$"))]
    pub category: Category,
    /// Price of one unit, in cents (0..=100 000 000).
    #[serde(rename = "price_cents")]
    #[cfg_attr(feature = "openapi", schema(value_type = u64, maximum = 100_000_000))]
    pub price: Money,
    /// Units available to reserve; never negative.
    pub stock: u64,
    /// Optimistic-locking version: 1 at creation, +1 per catalog update.
    #[cfg_attr(feature = "openapi", schema(value_type = u64, minimum = 1))]
    pub version: Version,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When its catalog fields last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// The catalog fields of a product, parsed from a request: what a create sets and what an
/// update replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductChanges {
    /// Display name.
    pub name: ProductName,
    /// Free text, possibly empty.
    pub description: Description,
    /// Where it is listed.
    pub category: Category,
    /// Price of one unit, in cents.
    pub price: Money,
}

impl ProductChanges {
    /// Parses the raw catalog fields of a request.
    ///
    /// # Errors
    /// [`Error::Validation`] listing every bad field (`name`, `description`, `category`,
    /// `price_cents`), not just the first.
    pub fn parse(
        name: &str,
        description: &str,
        category: &str,
        price_cents: i64,
    ) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let changes = Self::parse_into(name, description, category, price_cents, &mut errors);
        match changes {
            Some(changes) if errors.is_empty() => Ok(changes),
            _ => Err(Error::validation(errors)),
        }
    }

    fn parse_into(
        name: &str,
        description: &str,
        category: &str,
        price_cents: i64,
        errors: &mut Vec<FieldError>,
    ) -> Option<Self> {
        let mut field = |name: &str, e: Invalid| errors.push(FieldError::new(name, e.0));
        let name = ProductName::parse(name).map_err(|e| field("name", e)).ok();
        let description = Description::parse(description)
            .map_err(|e| field("description", e))
            .ok();
        let category = Category::parse(category)
            .map_err(|e| field("category", e))
            .ok();
        let price = parse_price(price_cents)
            .map_err(|e| field("price_cents", e))
            .ok();
        Some(Self {
            name: name?,
            description: description?,
            category: category?,
            price: price?,
        })
    }

    /// Applies these changes to `product`: its catalog fields are replaced, `version` goes
    /// up by one and `updated_at` becomes `now`. Stock is left alone.
    pub fn apply_to(&self, product: &mut Product, now: DateTime<Utc>) {
        product.name = self.name.clone();
        product.description = self.description.clone();
        product.category = self.category.clone();
        product.price = self.price;
        product.version = product.version.next();
        product.updated_at = now;
    }
}

/// A product to be created: validated input, no id yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// Its catalog fields.
    pub fields: ProductChanges,
    /// Initial stock in units (0..=1 000 000).
    pub stock: u64,
}

impl NewProduct {
    /// Parses the raw fields of a create request.
    ///
    /// # Errors
    /// [`Error::Validation`] listing every bad field (`name`, `description`, `category`,
    /// `price_cents`, `stock`), not just the first.
    pub fn parse(
        name: &str,
        description: &str,
        category: &str,
        price_cents: i64,
        stock: i64,
    ) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let fields =
            ProductChanges::parse_into(name, description, category, price_cents, &mut errors);
        let stock = parse_stock(stock)
            .map_err(|e| errors.push(FieldError::new("stock", e.0)))
            .ok();
        match (fields, stock) {
            (Some(fields), Some(stock)) if errors.is_empty() => Ok(Self { fields, stock }),
            _ => Err(Error::validation(errors)),
        }
    }

    /// The product this becomes with an id and a creation time: version 1, `updated_at` =
    /// `created_at` = `now`.
    pub fn into_product(self, id: ProductId, now: DateTime<Utc>) -> Product {
        Product {
            id,
            name: self.fields.name,
            description: self.fields.description,
            category: self.fields.category,
            price: self.fields.price,
            stock: self.stock,
            version: Version::FIRST,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Where an order's reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    /// The order's stock is held (taken off the products' `stock`).
    Reserved,
    /// Some product was short or missing; nothing was taken.
    Rejected,
    /// The order was cancelled after its stock was reserved; the stock was put back.
    Released,
    /// The order was cancelled before its `OrderPlaced` was handled: nothing may be reserved
    /// for it any more.
    Cancelled,
}

impl ReservationStatus {
    /// The stored form: `RESERVED`, `REJECTED`, `RELEASED` or `CANCELLED`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "RESERVED",
            Self::Rejected => "REJECTED",
            Self::Released => "RELEASED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for ReservationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many units of one product a reservation holds: `{"product_id","quantity"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReservationLine {
    /// The product.
    pub product_id: ProductId,
    /// Units, summed over the order's lines for this product (so it may exceed 1000).
    pub quantity: u64,
}

/// The inventory's record of one order (an item of the reservations table).
///
/// JSON: `{"id":"<order id>","status":"RESERVED","items":[{"product_id","quantity"}],
/// "updated_at":"<RFC 3339>"}`; `items` is empty unless stock was reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The order.
    pub id: OrderId,
    /// Where it stands.
    pub status: ReservationStatus,
    /// What is (or was) held, one line per distinct product.
    pub items: Vec<ReservationLine>,
    /// When `status` last changed.
    pub updated_at: DateTime<Utc>,
}

/// Most distinct products one reservation may hold: a DynamoDB transaction has at most 100
/// items, and a reservation also writes its de-duplication marker, its record and its event.
pub const MAX_RESERVATION_PRODUCTS: usize = 96;

/// The `reason` of a `StockRejected` event for a product that is short or missing.
pub const INSUFFICIENT_STOCK: &str = "insufficient stock";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    fn teapot() -> Product {
        NewProduct::parse(" Teapot ", "Holds 1 l", "Kitchen", 1999, 12)
            .unwrap()
            .into_product(
                ProductId::parse("SKU-1").unwrap(),
                at("2025-01-01T00:00:00Z"),
            )
    }

    #[test]
    fn a_generated_product_id_is_a_uuid_v7_string() {
        let id = ProductId::generate();

        let uuid = Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        assert_eq!(id.as_str().len(), 36);
    }

    #[test]
    fn a_new_product_is_parsed_trimmed_and_lowercased() {
        let product = teapot();

        assert_eq!(product.name.as_str(), "Teapot");
        assert_eq!(product.category.as_str(), "kitchen");
        assert_eq!(product.price, Money::from_cents(1999));
        assert_eq!(product.stock, 12);
        assert_eq!(product.version, Version::FIRST);
        assert_eq!(product.created_at, product.updated_at);
    }

    #[test]
    fn every_bad_field_of_a_new_product_is_reported_at_once() {
        let error = NewProduct::parse("", &"x".repeat(2001), "Not OK!", -1, -5).unwrap_err();

        let Error::Validation(fields) = error else {
            panic!("expected a validation error, got {error:?}");
        };
        assert_eq!(
            fields,
            [
                FieldError::new("name", "must not be empty"),
                FieldError::new("description", "must be at most 2000 long"),
                FieldError::new("category", "must contain only letters a-z, digits and '-'"),
                FieldError::new("price_cents", "must be at least 0"),
                FieldError::new("stock", "must be at least 0"),
            ]
        );
    }

    #[test]
    fn bounds_of_the_product_fields_are_inclusive() {
        assert!(ProductName::parse(&"é".repeat(200)).is_ok());
        assert!(ProductName::parse(&"é".repeat(201)).is_err());
        assert!(Description::parse("").is_ok());
        assert!(Description::parse("two\nlines\tand a tab").is_ok());
        assert!(Description::parse("bell\u{7}").is_err());
        assert!(Category::parse(&"a".repeat(50)).is_ok());
        assert!(Category::parse(&"a".repeat(51)).is_err());
        assert!(Category::parse("  ").is_err());
        assert_eq!(parse_price(0), Ok(Money::ZERO));
        assert_eq!(parse_price(100_000_000), Ok(Money::from_cents(100_000_000)));
        assert!(parse_price(100_000_001).is_err());
        assert_eq!(parse_stock(1_000_000), Ok(1_000_000));
        assert!(parse_stock(1_000_001).is_err());
    }

    #[test]
    fn a_stock_delta_is_non_zero_and_at_most_a_million_either_way() {
        assert_eq!(StockDelta::parse(-1_000_000).unwrap().needed(), 1_000_000);
        assert_eq!(StockDelta::parse(5).unwrap().needed(), 0);
        for raw in [0, 1_000_001, -1_000_001, i64::MIN, i64::MAX] {
            assert!(StockDelta::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn a_stock_delta_never_takes_stock_below_zero() {
        let minus_three = StockDelta::parse(-3).unwrap();

        assert_eq!(minus_three.apply_to(3), Some(0));
        assert_eq!(minus_three.apply_to(2), None);
        assert_eq!(StockDelta::parse(4).unwrap().apply_to(1), Some(5));
    }

    #[test]
    fn changes_replace_the_catalog_fields_and_bump_the_version_but_not_the_stock() {
        let mut product = teapot();
        let changes = ProductChanges::parse("Kettle", "", "kitchen-tools", 2500).unwrap();
        let later = at("2025-01-02T00:00:00Z");

        changes.apply_to(&mut product, later);

        assert_eq!(product.name.as_str(), "Kettle");
        assert_eq!(product.description.as_str(), "");
        assert_eq!(product.category.as_str(), "kitchen-tools");
        assert_eq!(product.price, Money::from_cents(2500));
        assert_eq!(product.stock, 12);
        assert_eq!(product.version, Version::new(2));
        assert_eq!(product.updated_at, later);
    }

    #[test]
    fn a_product_serialises_to_the_api_shape() {
        let product = teapot();

        let value = serde_json::to_value(&product).unwrap();

        assert_eq!(
            value,
            json!({
                "id": "SKU-1",
                "name": "Teapot",
                "description": "Holds 1 l",
                "category": "kitchen",
                "price_cents": 1999,
                "stock": 12,
                "version": 1,
                "created_at": "2025-01-01T00:00:00Z",
                "updated_at": "2025-01-01T00:00:00Z"
            })
        );
        assert_eq!(serde_json::from_value::<Product>(value).unwrap(), product);
    }

    #[test]
    fn a_reservation_serialises_with_an_uppercase_status() {
        let reservation = Reservation {
            id: OrderId::new(),
            status: ReservationStatus::Cancelled,
            items: vec![],
            updated_at: at("2025-01-01T00:00:00Z"),
        };

        let value = serde_json::to_value(&reservation).unwrap();

        assert_eq!(value["status"], "CANCELLED");
        assert_eq!(
            serde_json::from_value::<Reservation>(value).unwrap(),
            reservation
        );
    }
}
