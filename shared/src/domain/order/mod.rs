//! Orders: lines of products with a computed total, and their status lifecycle.
//!
//! Here [`Order`] (with its serialised form) and [`Settlement`]; the status lifecycle is in
//! `status`, a priced line and [`merge_lines`] in `item`, an order as asked for and its pricing
//! in `new`.

mod item;
mod new;
mod status;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use item::{OrderItem, merge_lines};
pub use new::{NewOrder, OrderLine};
pub use status::OrderStatus;

use super::payment::{Payment, PaymentMethod, RejectionReason};
use super::values::{Invalid, LengthBound, Money, OrderId, UserId};
use crate::error::Error;

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
    fn a_transition_in_the_table_moves_the_order_and_touches_updated_at() {
        let mut order = pending_order();
        let later = at("2025-01-01T00:05:00Z");

        order.transition(OrderStatus::Confirmed, later).unwrap();

        assert_eq!(order.status(), OrderStatus::Confirmed);
        assert_eq!(order.updated_at(), later);
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
}
