//! Orders: lines of products with a computed total, and their status lifecycle.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::payment::{Payment, PaymentMethod, RejectionReason};
use super::product::{MAX_PRICE, Product, ReservationLine};
use super::values::{Invalid, LengthBound, Money, OrderId, ProductId, Quantity, UserId};
use crate::error::{Error, FieldError};

/// Where an order is in its lifecycle. Serialised UPPERCASE, e.g. `"PENDING"`.
///
/// The transition table ([`OrderStatus::can_become`]):
///
/// | from | to |
/// |---|---|
/// | `PENDING` | `CONFIRMED`, `REJECTED` (set by the saga: stock reserved and payment captured, or not), `CANCELLED` |
/// | `CONFIRMED` | `SHIPPED`, `CANCELLED` |
/// | `SHIPPED` | `DELIVERED` |
/// | `REJECTED`, `DELIVERED`, `CANCELLED` | nothing (final) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderStatus {
    /// Placed, waiting for the stock reservation and the payment. Every order starts here.
    Pending,
    /// Stock is reserved for every line and the total is charged.
    Confirmed,
    /// Stock could not be reserved, or the charge was declined (see the order's
    /// `rejection_reason`); no stock is held and nothing is charged.
    Rejected,
    /// Handed to the carrier.
    Shipped,
    /// Received by the customer.
    Delivered,
    /// Cancelled before shipping; reserved stock is released and a charge refunded.
    Cancelled,
}

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [OrderStatus; 6] = [
        Self::Pending,
        Self::Confirmed,
        Self::Rejected,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
    ];

    /// The wire name, e.g. `PENDING`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Confirmed => "CONFIRMED",
            Self::Rejected => "REJECTED",
            Self::Shipped => "SHIPPED",
            Self::Delivered => "DELIVERED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Parses a wire name (exact, upper-case).
    ///
    /// # Errors
    /// [`Invalid`] listing the accepted names.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                Invalid(
                    "must be one of PENDING, CONFIRMED, REJECTED, SHIPPED, DELIVERED, CANCELLED"
                        .to_owned(),
                )
            })
    }

    /// Whether the transition table allows `self -> to` (see the type's docs).
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::{Cancelled, Confirmed, Delivered, Pending, Rejected, Shipped};
        matches!(
            (self, to),
            (Pending, Confirmed | Rejected | Cancelled)
                | (Confirmed, Shipped | Cancelled)
                | (Shipped, Delivered)
        )
    }

    /// Whether only the stock-reservation saga may move an order into this status: `CONFIRMED`
    /// and `REJECTED` say whether stock is held, so a client setting them would break the stock
    /// accounting.
    pub fn is_set_by_saga(self) -> bool {
        matches!(self, Self::Confirmed | Self::Rejected)
    }

    /// Checks `self -> to` for order `id`.
    ///
    /// # Errors
    /// [`Error::Conflict`] when the table does not allow it.
    pub fn check_transition(self, to: OrderStatus, id: &OrderId) -> Result<(), Error> {
        if self.can_become(to) {
            Ok(())
        } else {
            Err(Error::Conflict(format!(
                "order {id} is {self} and cannot become {to}"
            )))
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OrderStatus {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        Self::parse(raw)
    }
}

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

/// An order placed by a customer.
///
/// JSON (API response and stored item):
/// ```json
/// {"id":"<uuid v7>","customer_id":"<uuid v7>",
///  "items":[{"product_id":"SKU-1","quantity":2,"unit_price_cents":1999}],
///  "total_cents":3998,"status":"PENDING","payment_method":"tok_visa",
///  "created_at":"<RFC 3339>","updated_at":"<RFC 3339>"}
/// ```
/// plus, once the saga decided, `"payment":{"status":"CAPTURED","charge_id":"ch_…",
/// "amount_cents":3998}` (see [`Payment`]) and, for a `REJECTED` order, `"rejection_reason":
/// "OUT_OF_STOCK" | "PAYMENT_DECLINED"`. Absent fields are omitted.
/// Invariants: 1..=50 items, `total_cents` is the sum of the lines. Deserialising checks them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "OrderFields", into = "OrderFields")]
pub struct Order {
    id: OrderId,
    customer_id: UserId,
    items: Vec<OrderItem>,
    total: Money,
    status: OrderStatus,
    payment_method: Option<PaymentMethod>,
    payment: Option<Payment>,
    rejection_reason: Option<RejectionReason>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The serialised form of [`Order`]. The payment fields are optional: orders stored before
/// payments existed have none.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Order))]
struct OrderFields {
    /// The order's id (UUID v7).
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"))]
    id: OrderId,
    /// Whose order it is.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[47][0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"))]
    customer_id: UserId,
    /// The lines: 1..=50.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 50))]
    items: Vec<OrderItem>,
    /// The sum of the lines, in cents.
    total_cents: u64,
    /// Where the order is in its lifecycle.
    status: OrderStatus,
    /// The provider token charged, e.g. `tok_visa`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    payment_method: Option<PaymentMethod>,
    /// The payment, once the saga charged (or tried to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payment: Option<Payment>,
    /// Why a `REJECTED` order was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rejection_reason: Option<RejectionReason>,
    /// When it was placed (UTC).
    created_at: DateTime<Utc>,
    /// When it last changed (UTC).
    updated_at: DateTime<Utc>,
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Order {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <OrderFields as utoipa::PartialSchema>::schema()
    }
}

/// The schema of [`Order`] is its serialised form's.
#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Order {
    fn name() -> std::borrow::Cow<'static, str> {
        "Order".into()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <OrderFields as utoipa::ToSchema>::schemas(schemas);
    }
}

/// The saga's decision on a `PENDING` order, applied by [`Order::settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Stock reserved and the total charged: `CONFIRMED`, with the payment.
    Confirmed {
        /// The captured payment.
        payment: Payment,
    },
    /// `REJECTED` for `reason`; with the declined payment when the charge was declined.
    Rejected {
        /// Why.
        reason: RejectionReason,
        /// The declined payment, if a charge was tried.
        payment: Option<Payment>,
    },
}

impl Settlement {
    /// The status it moves the order to.
    pub fn status(&self) -> OrderStatus {
        match self {
            Self::Confirmed { .. } => OrderStatus::Confirmed,
            Self::Rejected { .. } => OrderStatus::Rejected,
        }
    }

    /// The payment it records, if any.
    pub fn payment(&self) -> Option<&Payment> {
        match self {
            Self::Confirmed { payment } => Some(payment),
            Self::Rejected { payment, .. } => payment.as_ref(),
        }
    }

    /// The rejection reason it records, if any.
    pub fn rejection_reason(&self) -> Option<RejectionReason> {
        match self {
            Self::Confirmed { .. } => None,
            Self::Rejected { reason, .. } => Some(*reason),
        }
    }
}

impl Order {
    /// Most lines one order may have.
    pub const MAX_ITEMS: usize = 50;
    /// Its length bound: 1..=[`Order::MAX_ITEMS`] lines.
    pub const ITEMS: LengthBound = LengthBound::items(1, Self::MAX_ITEMS);

    /// A new `PENDING` order; `created_at` and `updated_at` are `now`, the total is computed.
    ///
    /// # Errors
    /// [`Error::Validation`] on field `items` when there are no lines, more than 50, or the
    /// total overflows.
    pub fn place(
        id: OrderId,
        customer_id: UserId,
        items: Vec<OrderItem>,
        now: DateTime<Utc>,
    ) -> Result<Self, Error> {
        let total = total_of(&items).map_err(|e| Error::invalid("items", e.0))?;
        Ok(Self {
            id,
            customer_id,
            items,
            total,
            status: OrderStatus::Pending,
            payment_method: None,
            payment: None,
            rejection_reason: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// The same order, to be paid with `method`.
    #[must_use]
    pub fn with_payment_method(mut self, method: PaymentMethod) -> Self {
        self.payment_method = Some(method);
        self
    }

    /// How it is to be paid (`None` only for orders placed before payments existed).
    pub fn payment_method(&self) -> Option<&PaymentMethod> {
        self.payment_method.as_ref()
    }

    /// Its payment, once the payments service decided (captured, declined, refunded).
    pub fn payment(&self) -> Option<&Payment> {
        self.payment.as_ref()
    }

    /// Why it was rejected (only for `REJECTED` orders).
    pub fn rejection_reason(&self) -> Option<RejectionReason> {
        self.rejection_reason
    }

    /// Applies the saga's decision: `PENDING` -> `CONFIRMED` or `REJECTED`, with the payment
    /// and the rejection reason; `updated_at` becomes `now`.
    ///
    /// # Errors
    /// [`Error::Conflict`] when the order is not `PENDING` (it is unchanged).
    pub fn settle(&mut self, settlement: &Settlement, now: DateTime<Utc>) -> Result<(), Error> {
        self.transition(settlement.status(), now)?;
        if let Some(payment) = settlement.payment() {
            self.payment = Some(payment.clone());
        }
        self.rejection_reason = settlement.rejection_reason();
        Ok(())
    }

    /// Records a payment change that does not move the order (a refund of a cancelled order);
    /// `updated_at` becomes `now`.
    pub fn record_payment(&mut self, payment: Payment, now: DateTime<Utc>) {
        self.payment = Some(payment);
        self.updated_at = now;
    }

    /// The order's id.
    pub fn id(&self) -> OrderId {
        self.id
    }

    /// Who placed it.
    pub fn customer_id(&self) -> UserId {
        self.customer_id
    }

    /// Its lines, in the order given (never empty).
    pub fn items(&self) -> &[OrderItem] {
        &self.items
    }

    /// Sum of `unit_price × quantity` over the lines, in cents.
    pub fn total(&self) -> Money {
        self.total
    }

    /// Current status.
    pub fn status(&self) -> OrderStatus {
        self.status
    }

    /// When it was placed.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When its status last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// Moves the order to `to` following the transition table; `updated_at` becomes `now`.
    ///
    /// # Errors
    /// [`Error::Conflict`] when the table does not allow it (the order is unchanged).
    pub fn transition(&mut self, to: OrderStatus, now: DateTime<Utc>) -> Result<(), Error> {
        self.status.check_transition(to, &self.id)?;
        self.status = to;
        self.updated_at = now;
        Ok(())
    }
}

fn total_of(items: &[OrderItem]) -> Result<Money, Invalid> {
    Order::ITEMS.check_len(items.len())?;
    items
        .iter()
        .try_fold(Money::ZERO, |sum, item| {
            item.line_total().and_then(|line| sum.checked_add(line))
        })
        .ok_or_else(|| Invalid("order total is too large".to_owned()))
}

impl TryFrom<OrderFields> for Order {
    type Error = Invalid;
    fn try_from(fields: OrderFields) -> Result<Self, Invalid> {
        let total = total_of(&fields.items)?;
        if total.cents() != fields.total_cents {
            return Err(Invalid(format!(
                "total_cents is {} but the items add up to {}",
                fields.total_cents,
                total.cents()
            )));
        }
        Ok(Self {
            id: fields.id,
            customer_id: fields.customer_id,
            items: fields.items,
            total,
            status: fields.status,
            payment_method: fields.payment_method,
            payment: fields.payment,
            rejection_reason: fields.rejection_reason,
            created_at: fields.created_at,
            updated_at: fields.updated_at,
        })
    }
}

impl From<Order> for OrderFields {
    fn from(order: Order) -> Self {
        Self {
            id: order.id,
            customer_id: order.customer_id,
            items: order.items,
            total_cents: order.total.cents(),
            status: order.status,
            payment_method: order.payment_method,
            payment: order.payment,
            rejection_reason: order.rejection_reason,
            created_at: order.created_at,
            updated_at: order.updated_at,
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

    fn item(product: &str, quantity: i64, cents: i64) -> OrderItem {
        OrderItem::parse("items[0]", product, quantity, cents).unwrap()
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    fn pending_order() -> Order {
        Order::place(
            OrderId::new(),
            UserId::new(),
            vec![item("SKU-1", 2, 1999), item("SKU-2", 1, 500)],
            at("2025-01-01T00:00:00Z"),
        )
        .unwrap()
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

    #[test]
    fn a_placed_order_is_pending_and_its_total_is_the_sum_of_its_lines() {
        let order = pending_order();

        assert_eq!(order.status(), OrderStatus::Pending);
        assert_eq!(order.total(), Money::from_cents(2 * 1999 + 500));
        assert_eq!(order.created_at(), order.updated_at());
    }

    #[test]
    fn an_order_without_items_is_refused() {
        let error = Order::place(
            OrderId::new(),
            UserId::new(),
            vec![],
            at("2025-01-01T00:00:00Z"),
        )
        .unwrap_err();

        assert!(matches!(error, Error::Validation(_)), "{error:?}");
        assert_eq!(error.to_string(), "items: must not be empty");
    }

    #[test]
    fn an_order_with_more_than_50_items_is_refused() {
        let items = vec![item("SKU-1", 1, 1); 51];

        let result = Order::place(
            OrderId::new(),
            UserId::new(),
            items,
            at("2025-01-01T00:00:00Z"),
        );

        assert!(matches!(result, Err(Error::Validation(_))));
    }

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
    fn a_transition_in_the_table_moves_the_order_and_touches_updated_at() {
        let mut order = pending_order();
        let later = at("2025-01-01T00:05:00Z");

        order.transition(OrderStatus::Confirmed, later).unwrap();

        assert_eq!(order.status(), OrderStatus::Confirmed);
        assert_eq!(order.updated_at(), later);
    }

    #[test]
    fn the_transition_table_allows_exactly_the_documented_moves() {
        use OrderStatus::*;
        let allowed = [
            (Pending, Confirmed),
            (Pending, Rejected),
            (Pending, Cancelled),
            (Confirmed, Shipped),
            (Confirmed, Cancelled),
            (Shipped, Delivered),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn a_transition_outside_the_table_is_a_conflict_and_changes_nothing() {
        let mut order = pending_order();
        let before = order.clone();

        let error = order
            .transition(OrderStatus::Delivered, at("2025-01-01T00:05:00Z"))
            .unwrap_err();

        assert!(matches!(error, Error::Conflict(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            format!(
                "order {} is PENDING and cannot become DELIVERED",
                order.id()
            )
        );
        assert_eq!(order, before);
    }

    #[test]
    fn a_declined_payment_rejects_the_order_with_its_reason_and_payment() {
        let mut order = pending_order();
        let declined = Payment {
            status: crate::domain::PaymentStatus::Declined,
            charge_id: Some("ch_1".into()),
            refund_id: None,
            decline_code: Some("generic_decline".into()),
            amount_cents: order.total().cents(),
        };

        order
            .settle(
                &Settlement::Rejected {
                    reason: RejectionReason::PaymentDeclined,
                    payment: Some(declined.clone()),
                },
                at("2025-01-01T00:05:00Z"),
            )
            .unwrap();

        assert_eq!(order.status(), OrderStatus::Rejected);
        assert_eq!(
            order.rejection_reason(),
            Some(RejectionReason::PaymentDeclined)
        );
        assert_eq!(order.payment(), Some(&declined));
        let value = serde_json::to_value(&order).unwrap();
        assert_eq!(value["rejection_reason"], "PAYMENT_DECLINED");
        assert_eq!(value["payment"]["decline_code"], "generic_decline");
        assert_eq!(serde_json::from_value::<Order>(value).unwrap(), order);
    }

    #[test]
    fn a_settled_order_cannot_be_settled_again() {
        let mut order = pending_order();
        let payment = Payment {
            status: crate::domain::PaymentStatus::Captured,
            charge_id: Some("ch_1".into()),
            refund_id: None,
            decline_code: None,
            amount_cents: order.total().cents(),
        };
        let confirmed = Settlement::Confirmed { payment };
        order
            .settle(&confirmed, at("2025-01-01T00:05:00Z"))
            .unwrap();

        let error = order
            .settle(&confirmed, at("2025-01-01T00:06:00Z"))
            .unwrap_err();

        assert!(matches!(error, Error::Conflict(_)), "{error:?}");
    }

    #[test]
    fn a_status_parses_from_its_upper_case_name_only() {
        assert_eq!(OrderStatus::parse("SHIPPED").unwrap(), OrderStatus::Shipped);
        assert!(OrderStatus::parse("shipped").is_err());
        assert!(OrderStatus::parse("LOST").is_err());
    }

    #[test]
    fn an_order_serialises_with_cents_and_an_uppercase_status() {
        let order = pending_order();

        let value = serde_json::to_value(&order).unwrap();

        assert_eq!(
            value,
            json!({
                "id": order.id().to_string(),
                "customer_id": order.customer_id().to_string(),
                "items": [
                    {"product_id": "SKU-1", "quantity": 2, "unit_price_cents": 1999},
                    {"product_id": "SKU-2", "quantity": 1, "unit_price_cents": 500}
                ],
                "total_cents": 4498,
                "status": "PENDING",
                "created_at": "2025-01-01T00:00:00Z",
                "updated_at": "2025-01-01T00:00:00Z"
            })
        );
        assert_eq!(serde_json::from_value::<Order>(value).unwrap(), order);
    }

    #[test]
    fn a_stored_order_whose_total_does_not_match_its_items_is_refused() {
        let mut value = serde_json::to_value(pending_order()).unwrap();
        value["total_cents"] = json!(1);

        let result = serde_json::from_value::<Order>(value);

        assert!(result.is_err());
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
