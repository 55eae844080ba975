//! An order's status and its transition table: which status may follow which.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::values::{Invalid, OrderId};
use crate::error::Error;

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_status_parses_from_its_upper_case_name_only() {
        assert_eq!(OrderStatus::parse("SHIPPED").unwrap(), OrderStatus::Shipped);
        assert!(OrderStatus::parse("shipped").is_err());
        assert!(OrderStatus::parse("LOST").is_err());
    }
}
