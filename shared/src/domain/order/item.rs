//! An order's priced line ([`OrderItem`], serialised through `ItemFields`) and [`merge_lines`],
//! the lines merged per product for the stock reservation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::product::{MAX_PRICE, ReservationLine};
use crate::domain::values::{Invalid, Money, ProductId, Quantity};
use crate::error::FieldError;

/// One line of an order: `{"product_id":"SKU-1","quantity":2,"unit_price_cents":1999}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ItemFields", into = "ItemFields")]
pub struct OrderItem {
    product_id: ProductId,
    quantity: Quantity,
    unit_price: Money,
}

/// The serialised form of [`OrderItem`]; deserialising goes through [`OrderItem::new`].
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = OrderItem))]
#[serde(deny_unknown_fields)]
struct ItemFields {
    /// The product's id (SKU).
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,64}$"))]
    product_id: ProductId,
    /// Units: 1..=1000.
    #[cfg_attr(feature = "openapi", schema(value_type = u32, minimum = 1, maximum = 1000))]
    quantity: Quantity,
    /// The catalog's unit price when the order was placed, in cents.
    #[cfg_attr(feature = "openapi", schema(maximum = 100_000_000))]
    unit_price_cents: u64,
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for OrderItem {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <ItemFields as utoipa::PartialSchema>::schema()
    }
}

/// The schema of [`OrderItem`] is its serialised form's.
#[cfg(feature = "openapi")]
impl utoipa::ToSchema for OrderItem {
    fn name() -> std::borrow::Cow<'static, str> {
        "OrderItem".into()
    }
}

impl OrderItem {
    /// Highest unit price accepted: 1,000,000.00 in cents.
    pub const MAX_UNIT_PRICE: Money = MAX_PRICE;

    /// A line of `quantity` × `product_id` at `unit_price` each.
    ///
    /// # Errors
    /// [`Invalid`] when `unit_price` exceeds [`OrderItem::MAX_UNIT_PRICE`].
    pub fn new(
        product_id: ProductId,
        quantity: Quantity,
        unit_price: Money,
    ) -> Result<Self, Invalid> {
        if unit_price > Self::MAX_UNIT_PRICE {
            return Err(Invalid(format!(
                "must be between 0 and {}",
                Self::MAX_UNIT_PRICE.cents()
            )));
        }
        Ok(Self {
            product_id,
            quantity,
            unit_price,
        })
    }

    /// Parses a raw line; field errors are named `<prefix>.product_id`, `<prefix>.quantity`,
    /// `<prefix>.unit_price_cents` (e.g. with prefix `items[0]`).
    ///
    /// Numbers are `i64` so that negative input gets a domain message rather than a type error.
    ///
    /// # Errors
    /// Every bad field of the line.
    pub fn parse(
        prefix: &str,
        product_id: &str,
        quantity: i64,
        unit_price_cents: i64,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let product_id = ProductId::parse(product_id)
            .map_err(|e| errors.push(FieldError::new(format!("{prefix}.product_id"), e.0)))
            .ok();
        let quantity = Quantity::parse(quantity)
            .map_err(|e| errors.push(FieldError::new(format!("{prefix}.quantity"), e.0)))
            .ok();
        let price_field = format!("{prefix}.unit_price_cents");
        let unit_price = match u64::try_from(unit_price_cents) {
            Ok(cents) => Some(Money::from_cents(cents)),
            Err(_) => {
                errors.push(FieldError::new(
                    price_field.clone(),
                    format!("must be between 0 and {}", Self::MAX_UNIT_PRICE.cents()),
                ));
                None
            }
        };
        match (product_id, quantity, unit_price) {
            (Some(product_id), Some(quantity), Some(unit_price)) if errors.is_empty() => {
                Self::new(product_id, quantity, unit_price)
                    .map_err(|e| vec![FieldError::new(price_field, e.0)])
            }
            _ => Err(errors),
        }
    }

    /// The product.
    pub fn product_id(&self) -> &ProductId {
        &self.product_id
    }

    /// How many units.
    pub fn quantity(&self) -> Quantity {
        self.quantity
    }

    /// Price of one unit, in cents.
    pub fn unit_price(&self) -> Money {
        self.unit_price
    }

    /// `unit_price × quantity`, or `None` on overflow.
    pub fn line_total(&self) -> Option<Money> {
        self.unit_price.checked_mul(self.quantity)
    }
}

impl TryFrom<ItemFields> for OrderItem {
    type Error = Invalid;
    fn try_from(fields: ItemFields) -> Result<Self, Invalid> {
        Self::new(
            fields.product_id,
            fields.quantity,
            Money::from_cents(fields.unit_price_cents),
        )
    }
}

impl From<OrderItem> for ItemFields {
    fn from(item: OrderItem) -> Self {
        Self {
            product_id: item.product_id,
            quantity: item.quantity,
            unit_price_cents: item.unit_price.cents(),
        }
    }
}

/// An order's lines merged per product (a transaction may touch an item only once), in
/// product id order.
///
/// # Errors
/// [`Invalid`] when the quantities of one product overflow `u64` (cannot happen with
/// [`crate::domain::Quantity`]'s bounds).
pub fn merge_lines(items: &[OrderItem]) -> Result<Vec<ReservationLine>, Invalid> {
    let mut merged: BTreeMap<&ProductId, u64> = BTreeMap::new();
    for item in items {
        let units = merged.entry(item.product_id()).or_default();
        *units = units
            .checked_add(u64::from(item.quantity().get()))
            .ok_or_else(|| Invalid(format!("quantity of {} overflows", item.product_id())))?;
    }
    Ok(merged
        .into_iter()
        .map(|(product_id, quantity)| ReservationLine {
            product_id: product_id.clone(),
            quantity,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bad_line_reports_each_bad_field_under_its_prefix() {
        let errors = OrderItem::parse("items[3]", "bad sku", 0, -1).unwrap_err();

        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "items[3].product_id",
                "items[3].quantity",
                "items[3].unit_price_cents"
            ]
        );
    }

    #[test]
    fn a_unit_price_above_one_million_is_refused_and_one_million_is_accepted() {
        assert!(OrderItem::parse("items[0]", "SKU", 1, 100_000_000).is_ok());
        assert!(OrderItem::parse("items[0]", "SKU", 1, 0).is_ok());

        let errors = OrderItem::parse("items[0]", "SKU", 1, 100_000_001).unwrap_err();

        assert_eq!(
            errors,
            [FieldError::new(
                "items[0].unit_price_cents",
                "must be between 0 and 100000000"
            )]
        );
    }

    #[test]
    fn lines_of_the_same_product_are_merged() {
        let items = [
            OrderItem::parse("items[0]", "B", 2, 1).unwrap(),
            OrderItem::parse("items[1]", "A", 1, 1).unwrap(),
            OrderItem::parse("items[2]", "B", 1000, 1).unwrap(),
        ];

        let lines = merge_lines(&items).unwrap();

        assert_eq!(
            serde_json::to_value(&lines).unwrap(),
            json!([
                {"product_id": "A", "quantity": 1},
                {"product_id": "B", "quantity": 1002}
            ])
        );
    }
}
