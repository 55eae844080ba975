//! Payments as the orders see them: the payment method a customer gives, the payment an order
//! shows, why an order was rejected, and the payments service's own record of an order's
//! charge (the payments table item).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{Invalid, OrderId};

/// A payment method: the provider's token for a card, e.g. `tok_visa` (Stripe-style test
/// tokens; a real client gets one from the provider's own checkout form, never card numbers).
///
/// Accepted: `tok_` followed by 1–64 ASCII letters, digits or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PaymentMethod(String);

impl PaymentMethod {
    /// Longest token after the `tok_` prefix.
    pub const MAX_LEN: usize = 64;

    /// Parses a token.
    ///
    /// # Errors
    /// [`Invalid`] saying what a token looks like.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let rest = raw.strip_prefix("tok_").unwrap_or("");
        if rest.is_empty()
            || rest.len() > Self::MAX_LEN
            || !rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(Invalid(format!(
                "must be a payment token: tok_ followed by 1 to {} letters, digits or _",
                Self::MAX_LEN
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The token as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PaymentMethod {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<PaymentMethod> for String {
    fn from(method: PaymentMethod) -> Self {
        method.0
    }
}

impl std::str::FromStr for PaymentMethod {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        Self::parse(raw)
    }
}

impl fmt::Display for PaymentMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an order ended `REJECTED`. Serialised UPPERCASE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectionReason {
    /// Stock could not be reserved for every line (`StockRejected`).
    OutOfStock,
    /// The provider declined the charge (`PaymentDeclined`); the reserved stock was released.
    PaymentDeclined,
}

impl RejectionReason {
    /// The wire name, e.g. `OUT_OF_STOCK`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutOfStock => "OUT_OF_STOCK",
            Self::PaymentDeclined => "PAYMENT_DECLINED",
        }
    }
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an order's payment is, as the order shows it. Serialised UPPERCASE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum PaymentStatus {
    /// The total was charged.
    Captured,
    /// The provider declined the charge.
    Declined,
    /// The charge was refunded in full (the order was cancelled).
    Refunded,
}

/// An order's payment: `{"status":"CAPTURED","charge_id":"ch_…","amount_cents":3998}`, plus
/// `"refund_id"` once refunded and `"decline_code"` when declined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    /// Where it is.
    pub status: PaymentStatus,
    /// The provider's charge id (`ch_…`); a declined charge has one too when the provider
    /// says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_id: Option<String>,
    /// The provider's refund id (`re_…`), once refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    /// The provider's decline code (`generic_decline`, `insufficient_funds`), when declined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
    /// The amount charged (or asked for, when declined), in cents.
    pub amount_cents: u64,
}

/// Where the payments service is with an order's charge (the payments table's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChargeStatus {
    /// Charged; `PaymentCaptured` was emitted.
    Captured,
    /// Declined; `PaymentDeclined` was emitted (the inventory releases the stock).
    Declined,
    /// Charged, then refunded; `RefundIssued` was emitted.
    Refunded,
    /// The order was cancelled before any charge: none may be made for it any more.
    Cancelled,
}

impl fmt::Display for ChargeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Captured => "CAPTURED",
            Self::Declined => "DECLINED",
            Self::Refunded => "REFUNDED",
            Self::Cancelled => "CANCELLED",
        })
    }
}

/// The payments service's record of one order (payments table item, key `id` = the order id):
/// `{"id","status","amount_cents","charge_id"?,"refund_id"?,"decline_code"?,"updated_at"}`.
///
/// It is the saga's guard on the payments side: it is written with a condition on the status
/// read before (optimistic locking), so a charge, a decline, a refund and a cancellation are
/// each decided once, whatever the redeliveries and races.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeRecord {
    /// The order.
    pub id: OrderId,
    /// Where it is.
    pub status: ChargeStatus,
    /// The order's total, in cents.
    pub amount_cents: u64,
    /// The provider's charge id, when there was a charge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_id: Option<String>,
    /// The provider's refund id, once refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    /// The provider's decline code, when declined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The idempotency key of an order's charge at the provider: `order-<order id>-charge`. Derived
/// from the order id alone, so every retry and redelivery asks for the same charge.
pub fn charge_key(order: &OrderId) -> String {
    format!("order-{order}-charge")
}

/// The idempotency key of an order's refund at the provider: `order-<order id>-refund`.
pub fn refund_key(order: &OrderId) -> String {
    format!("order-{order}-refund")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_method_is_a_provider_token() {
        assert_eq!(
            PaymentMethod::parse("tok_visa").unwrap().as_str(),
            "tok_visa"
        );
        assert!(PaymentMethod::parse("tok_insufficient_funds").is_ok());
        for bad in [
            "",
            "tok_",
            "visa",
            "tok_vi sa",
            "tok_é",
            &format!("tok_{}", "a".repeat(65)),
        ] {
            assert!(PaymentMethod::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_rejection_reason_and_a_payment_serialise_as_documented() {
        assert_eq!(
            serde_json::to_value(RejectionReason::PaymentDeclined).unwrap(),
            "PAYMENT_DECLINED"
        );
        let payment = Payment {
            status: PaymentStatus::Captured,
            charge_id: Some("ch_1".into()),
            refund_id: None,
            decline_code: None,
            amount_cents: 500,
        };
        assert_eq!(
            serde_json::to_value(&payment).unwrap(),
            serde_json::json!({"status": "CAPTURED", "charge_id": "ch_1", "amount_cents": 500})
        );
    }

    #[test]
    fn the_idempotency_keys_depend_on_the_order_alone() {
        let order = OrderId::new();
        assert_eq!(charge_key(&order), charge_key(&order));
        assert_ne!(charge_key(&order), refund_key(&order));
        assert!(charge_key(&order).contains(&order.to_string()));
    }
}
