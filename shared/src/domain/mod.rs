//! The shop's domain: parsed values, users, orders and their payments. Knows nothing of AWS or Lambda.
//!
//! JSON shapes (snake_case, money as integer cents, RFC 3339 timestamps) are defined here with
//! serde and are both the API's response bodies and the stored DynamoDB items.

mod order;
mod payment;
mod product;
mod user;
mod values;

use chrono::{DateTime, SubsecRound, Utc};

pub use order::{NewOrder, Order, OrderItem, OrderLine, OrderStatus, Settlement, merge_lines};
pub use payment::{
    ChargeRecord, ChargeStatus, Payment, PaymentMethod, PaymentStatus, RejectionReason, charge_key,
    refund_key,
};
pub use product::*;
pub use user::{NewUser, User, UserChanges};
pub use values::{
    Count, Email, ExpectedVersion, Invalid, LengthBound, Money, OrderId, ProductId, Quantity,
    RangeBound, UserId, UserName, Version,
};

/// The current time, truncated to milliseconds so that it prints the same in JSON and storage.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}
