//! An order as asked for ([`NewOrder`], its [`OrderLine`]s) and its pricing against the catalog.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::Order;
use super::item::OrderItem;
use crate::domain::payment::PaymentMethod;
use crate::domain::product::Product;
use crate::domain::values::{OrderId, ProductId, Quantity, UserId};
use crate::error::{Error, FieldError};

/// One line of an order as asked for, before the catalog prices it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// The product asked for.
    pub product_id: ProductId,
    /// How many units.
    pub quantity: Quantity,
}

/// An order as asked for: whose it is and its lines, not yet priced. [`NewOrder::price`]
/// turns it into an [`Order`] at the catalog's prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Whose order it is.
    pub customer_id: UserId,
    /// The lines, in the order asked.
    pub lines: Vec<OrderLine>,
    /// How it is to be paid.
    pub payment_method: PaymentMethod,
}

impl NewOrder {
    /// The distinct products the lines name, sorted: what to read from the catalog.
    pub fn product_ids(&self) -> Vec<ProductId> {
        self.lines
            .iter()
            .map(|line| line.product_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// The order placed now (`PENDING`, id `id`) with each line at the unit price of its
    /// product in `catalog` (the products found by id; a client never sets a price).
    ///
    /// # Errors
    /// [`Error::Validation`] with `items[<i>].product_id: does not exist` for every line whose
    /// product is not in `catalog` (or whose price no order line can hold), all at once; then
    /// as for [`Order::place`].
    pub fn price(
        self,
        catalog: &HashMap<ProductId, Product>,
        id: OrderId,
        now: DateTime<Utc>,
    ) -> Result<Order, Error> {
        let mut items = Vec::with_capacity(self.lines.len());
        let mut errors = Vec::new();
        for (index, line) in self.lines.into_iter().enumerate() {
            let field = || format!("items[{index}].product_id");
            let Some(product) = catalog.get(&line.product_id) else {
                errors.push(FieldError::new(field(), "does not exist"));
                continue;
            };
            match OrderItem::new(line.product_id, line.quantity, product.price) {
                Ok(item) => items.push(item),
                Err(e) => errors.push(FieldError::new(field(), e.0)),
            }
        }
        if !errors.is_empty() {
            return Err(Error::validation(errors));
        }
        Ok(
            Order::place(id, self.customer_id, items, now)?
                .with_payment_method(self.payment_method),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Money, OrderStatus};

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    fn product(sku: &str, price_cents: i64) -> Product {
        crate::domain::NewProduct::parse("Thing", "", "things", price_cents, 10)
            .unwrap()
            .into_product(ProductId::parse(sku).unwrap(), at("2025-01-01T00:00:00Z"))
    }

    fn line(sku: &str, quantity: i64) -> OrderLine {
        OrderLine {
            product_id: ProductId::parse(sku).unwrap(),
            quantity: Quantity::parse(quantity).unwrap(),
        }
    }

    #[test]
    fn a_new_order_is_priced_from_the_catalog() {
        let catalog: HashMap<ProductId, Product> = [product("SKU-1", 250), product("SKU-2", 1999)]
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let asked = NewOrder {
            customer_id: UserId::new(),
            lines: vec![line("SKU-2", 1), line("SKU-1", 3), line("SKU-2", 2)],
            payment_method: PaymentMethod::parse("tok_visa").unwrap(),
        };

        let ids = asked.product_ids();
        let order = asked
            .price(&catalog, OrderId::new(), at("2025-01-01T00:00:00Z"))
            .unwrap();

        assert_eq!(
            ids,
            [line("SKU-1", 1).product_id, line("SKU-2", 1).product_id]
        );
        assert_eq!(order.status(), OrderStatus::Pending);
        assert_eq!(order.payment_method().unwrap().as_str(), "tok_visa");
        assert_eq!(order.items()[1].unit_price(), Money::from_cents(250));
        assert_eq!(order.total(), Money::from_cents(3 * 1999 + 3 * 250));
    }

    #[test]
    fn every_line_naming_a_product_missing_from_the_catalog_is_reported() {
        let catalog: HashMap<ProductId, Product> = [product("SKU-1", 250)]
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let asked = NewOrder {
            customer_id: UserId::new(),
            lines: vec![line("SKU-404", 1), line("SKU-1", 1), line("SKU-405", 1)],
            payment_method: PaymentMethod::parse("tok_visa").unwrap(),
        };

        let error = asked
            .price(&catalog, OrderId::new(), at("2025-01-01T00:00:00Z"))
            .unwrap_err();

        let Error::Validation(fields) = error else {
            panic!("expected a validation error, got {error:?}");
        };
        assert_eq!(
            fields,
            [
                FieldError::new("items[0].product_id", "does not exist"),
                FieldError::new("items[2].product_id", "does not exist"),
            ]
        );
    }
}
