//! The event envelope shared by producers and consumers, and the event payloads.
//!
//! On the wire (an SQS message body):
//! ```json
//! {"event_id":"<uuid>","event_type":"OrderPlaced","schema_version":1,
//!  "occurred_at":"<RFC 3339>","correlation_id":"<request id>","data":{...}}
//! ```

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Order, OrderId, OrderItem, OrderStatus, PaymentMethod, ProductId, UserId};
use crate::error::Error;

/// A payload that travels in an [`Envelope`].
pub trait Event: Serialize + DeserializeOwned {
    /// The `event_type` it travels under, e.g. `OrderPlaced`.
    const TYPE: &'static str;
    /// The `schema_version` of its `data` this code writes and reads.
    const SCHEMA_VERSION: u32;
}

/// Metadata around every event; `data` is the payload as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique per event (UUID v7); consumers may use it to spot duplicates.
    pub event_id: Uuid,
    /// Which payload `data` is, e.g. `OrderPlaced`.
    pub event_type: String,
    /// Version of `data`'s schema for this `event_type`; starts at 1.
    pub schema_version: u32,
    /// When the fact happened (UTC).
    pub occurred_at: DateTime<Utc>,
    /// Ties the event to the request that caused it (the API Gateway request id).
    pub correlation_id: String,
    /// The payload.
    pub data: serde_json::Value,
}

impl Envelope {
    /// Wraps `event` with a fresh `event_id`.
    ///
    /// # Errors
    /// [`Error::Internal`] if the payload cannot be serialised (a bug).
    pub fn wrap<E: Event>(
        event: &E,
        correlation_id: impl Into<String>,
        occurred_at: DateTime<Utc>,
    ) -> Result<Self, Error> {
        let data = serde_json::to_value(event)
            .map_err(|e| Error::internal(format!("serialising {} event", E::TYPE), e))?;
        Ok(Self {
            event_id: Uuid::now_v7(),
            event_type: E::TYPE.to_owned(),
            schema_version: E::SCHEMA_VERSION,
            occurred_at,
            correlation_id: correlation_id.into(),
            data,
        })
    }

    /// Parses an envelope from a message body.
    ///
    /// # Errors
    /// [`Error::Validation`] on field `body` when it is not an envelope.
    pub fn from_json(body: &str) -> Result<Self, Error> {
        serde_json::from_str(body)
            .map_err(|e| Error::invalid("body", format!("is not an event envelope: {e}")))
    }

    /// The envelope as a JSON string (for a message body).
    ///
    /// # Errors
    /// [`Error::Internal`] if it cannot be serialised (a bug).
    pub fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string(self).map_err(|e| Error::internal("serialising event envelope", e))
    }

    /// Whether `data` is an `E`, judging by `event_type`.
    pub fn is<E: Event>(&self) -> bool {
        self.event_type == E::TYPE
    }

    /// The payload as an `E`.
    ///
    /// # Errors
    /// [`Error::Validation`] when `event_type` is not `E::TYPE`, `schema_version` is not
    /// `E::SCHEMA_VERSION`, or `data` does not match `E`.
    pub fn decode<E: Event>(&self) -> Result<E, Error> {
        if !self.is::<E>() {
            return Err(Error::invalid(
                "event_type",
                format!("expected {}, got {}", E::TYPE, self.event_type),
            ));
        }
        if self.schema_version != E::SCHEMA_VERSION {
            return Err(Error::invalid(
                "schema_version",
                format!(
                    "{} version {} is not supported (expected {})",
                    E::TYPE,
                    self.schema_version,
                    E::SCHEMA_VERSION
                ),
            ));
        }
        E::deserialize(&self.data).map_err(|e| Error::invalid("data", e.to_string()))
    }
}

/// An order was placed and stored as `PENDING`; the inventory reserves its stock.
///
/// `data`: `{"order_id","customer_id","items":[{"product_id","quantity","unit_price_cents"}],
/// "total_cents","payment_method"}`. `payment_method` was added without a version change (an
/// optional field: a version-1 reader that predates it ignores it, and an event without it
/// still reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    /// The order to confirm.
    pub order_id: OrderId,
    /// Who placed it.
    pub customer_id: UserId,
    /// Its lines.
    pub items: Vec<OrderItem>,
    /// Its total, in cents.
    pub total_cents: u64,
    /// How it is to be paid (`None` for orders placed before payments existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<PaymentMethod>,
}

impl Event for OrderPlaced {
    const TYPE: &'static str = "OrderPlaced";
    const SCHEMA_VERSION: u32 = 1;
}

impl From<&Order> for OrderPlaced {
    fn from(order: &Order) -> Self {
        Self {
            order_id: order.id(),
            customer_id: order.customer_id(),
            items: order.items().to_vec(),
            total_cents: order.total().cents(),
            payment_method: order.payment_method().cloned(),
        }
    }
}

/// An order was cancelled (from `PENDING` or `CONFIRMED`); the inventory side releases any
/// stock it reserved for it, or remembers that it must not reserve any, and the payments side
/// refunds a charge, or remembers that it must not charge.
///
/// `data`: `{"order_id","customer_id","previous_status"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// The cancelled order.
    pub order_id: OrderId,
    /// Who placed it.
    pub customer_id: UserId,
    /// Its status before the cancellation: `PENDING` or `CONFIRMED`.
    pub previous_status: OrderStatus,
}

impl Event for OrderCancelled {
    const TYPE: &'static str = "OrderCancelled";
    const SCHEMA_VERSION: u32 = 1;
}

/// Stock for every line of an order was reserved in one transaction; the payments service
/// charges the order's total.
///
/// `data`: `{"order_id","total_cents","payment_method"}`. Version 2: version 1 had only
/// `order_id`, too little to charge, and is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReserved {
    /// The order whose stock is held.
    pub order_id: OrderId,
    /// The amount to charge, in cents.
    pub total_cents: u64,
    /// How to pay (`None` for an order placed before payments existed: it is declined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<PaymentMethod>,
}

impl Event for StockReserved {
    const TYPE: &'static str = "StockReserved";
    const SCHEMA_VERSION: u32 = 2;
}

impl From<&OrderPlaced> for StockReserved {
    fn from(placed: &OrderPlaced) -> Self {
        Self {
            order_id: placed.order_id,
            total_cents: placed.total_cents,
            payment_method: placed.payment_method.clone(),
        }
    }
}

/// The provider charged the order's total; the order is confirmed.
///
/// `data`: `{"order_id","charge_id","amount_cents"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCaptured {
    /// The paid order.
    pub order_id: OrderId,
    /// The provider's charge id (`ch_…`).
    pub charge_id: String,
    /// The amount charged, in cents.
    pub amount_cents: u64,
}

impl Event for PaymentCaptured {
    const TYPE: &'static str = "PaymentCaptured";
    const SCHEMA_VERSION: u32 = 1;
}

/// The provider declined the charge: the order is rejected (`PAYMENT_DECLINED`) and the
/// inventory releases its stock (the saga's compensation).
///
/// `data`: `{"order_id","amount_cents","decline_code","message","charge_id"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDeclined {
    /// The order that is not paid.
    pub order_id: OrderId,
    /// The amount asked for, in cents.
    pub amount_cents: u64,
    /// The provider's decline code, e.g. `generic_decline`, `insufficient_funds`.
    pub decline_code: String,
    /// The provider's message, for people.
    pub message: String,
    /// The provider's id of the failed charge, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_id: Option<String>,
}

impl Event for PaymentDeclined {
    const TYPE: &'static str = "PaymentDeclined";
    const SCHEMA_VERSION: u32 = 1;
}

/// A cancelled order's charge was refunded in full.
///
/// `data`: `{"order_id","charge_id","refund_id","amount_cents"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundIssued {
    /// The cancelled order.
    pub order_id: OrderId,
    /// The refunded charge (`ch_…`).
    pub charge_id: String,
    /// The provider's refund id (`re_…`).
    pub refund_id: String,
    /// The amount refunded, in cents.
    pub amount_cents: u64,
}

impl Event for RefundIssued {
    const TYPE: &'static str = "RefundIssued";
    const SCHEMA_VERSION: u32 = 1;
}

/// Stock could not be reserved (a product ran short or no longer exists); nothing was
/// reserved and the order is to be rejected.
///
/// `data`: `{"order_id","product_ids":["..."],"reason"}`; `product_ids` lists the lines that
/// failed their condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRejected {
    /// The order that gets no stock.
    pub order_id: OrderId,
    /// The products that were short or missing.
    pub product_ids: Vec<ProductId>,
    /// Why, for people: e.g. `insufficient stock`.
    pub reason: String,
}

impl Event for StockRejected {
    const TYPE: &'static str = "StockRejected";
    const SCHEMA_VERSION: u32 = 1;
}

/// Where the outbox relay sends an event: the queue of each service that consumes it (one
/// event may go to several, like an SNS fan-out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The inventory queue (`INVENTORY_QUEUE_URL`): `OrderPlaced`, `OrderCancelled`,
    /// `PaymentDeclined`.
    Inventory,
    /// The payments queue (`PAYMENTS_QUEUE_URL`): `StockReserved`, `OrderCancelled`.
    Payments,
    /// The orders queue (`ORDERS_QUEUE_URL`): `StockRejected`, `PaymentCaptured`,
    /// `PaymentDeclined`, `RefundIssued`.
    Orders,
}

impl Destination {
    /// The consumer queues for `event_type`; empty for a type nobody consumes.
    pub fn of(event_type: &str) -> &'static [Self] {
        const INVENTORY: &[Destination] = &[Destination::Inventory];
        const PAYMENTS: &[Destination] = &[Destination::Payments];
        const ORDERS: &[Destination] = &[Destination::Orders];
        match event_type {
            t if t == OrderPlaced::TYPE => INVENTORY,
            t if t == OrderCancelled::TYPE => &[Self::Inventory, Self::Payments],
            t if t == StockReserved::TYPE => PAYMENTS,
            t if t == StockRejected::TYPE
                || t == PaymentCaptured::TYPE
                || t == RefundIssued::TYPE =>
            {
                ORDERS
            }
            t if t == PaymentDeclined::TYPE => &[Self::Orders, Self::Inventory],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderItem, now};
    use crate::http::ErrorResponse;
    use serde_json::json;

    fn order_placed() -> OrderPlaced {
        let item = OrderItem::parse("items[0]", "SKU-1", 3, 250).unwrap();
        let order = Order::place(OrderId::new(), UserId::new(), vec![item], now()).unwrap();
        OrderPlaced::from(&order)
    }

    #[test]
    fn an_event_round_trips_through_its_envelope_json() {
        let event = order_placed();
        let envelope = Envelope::wrap(&event, "req-1", now()).unwrap();

        let parsed = Envelope::from_json(&envelope.to_json().unwrap()).unwrap();

        assert_eq!(parsed, envelope);
        assert_eq!(parsed.decode::<OrderPlaced>().unwrap(), event);
    }

    #[test]
    fn the_envelope_has_the_documented_shape() {
        let event = order_placed();
        let envelope = Envelope::wrap(&event, "req-1", now()).unwrap();

        let value = serde_json::to_value(&envelope).unwrap();

        assert_eq!(value["event_type"], "OrderPlaced");
        assert_eq!(value["schema_version"], 1);
        assert_eq!(value["correlation_id"], "req-1");
        assert_eq!(value["data"]["total_cents"], 750);
        assert_eq!(
            value["data"]["items"],
            json!([{"product_id": "SKU-1", "quantity": 3, "unit_price_cents": 250}])
        );
    }

    #[test]
    fn a_body_that_is_not_an_envelope_is_refused() {
        let error = Envelope::from_json("Hello from SQS!").unwrap_err();

        assert_eq!(error.code(), "VALIDATION_ERROR");
    }

    #[test]
    fn every_saga_event_has_its_destination_queues() {
        use Destination::{Inventory, Orders, Payments};
        assert_eq!(Destination::of("OrderPlaced"), [Inventory]);
        assert_eq!(Destination::of("OrderCancelled"), [Inventory, Payments]);
        assert_eq!(Destination::of("StockReserved"), [Payments]);
        assert_eq!(Destination::of("StockRejected"), [Orders]);
        assert_eq!(Destination::of("PaymentCaptured"), [Orders]);
        assert_eq!(Destination::of("PaymentDeclined"), [Orders, Inventory]);
        assert_eq!(Destination::of("RefundIssued"), [Orders]);
        assert!(Destination::of("Nope").is_empty());
    }

    #[test]
    fn an_order_placed_without_a_payment_method_still_reads() {
        let mut envelope = Envelope::wrap(&order_placed(), "req-1", now()).unwrap();
        envelope
            .data
            .as_object_mut()
            .unwrap()
            .remove("payment_method");

        let placed = envelope.decode::<OrderPlaced>().unwrap();

        assert_eq!(placed.payment_method, None);
    }

    #[test]
    fn an_unsupported_schema_version_is_refused() {
        let mut envelope = Envelope::wrap(&order_placed(), "req-1", now()).unwrap();
        envelope.schema_version = 2;

        let error = envelope.decode::<OrderPlaced>().unwrap_err();

        assert!(error.to_string().starts_with("schema_version:"), "{error}");
    }
}
