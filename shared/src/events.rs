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

use crate::domain::{Order, OrderId, OrderItem, OrderStatus, ProductId, UserId};
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

/// An order was placed and stored as `PENDING`; the processor should confirm it.
///
/// `data`: `{"order_id","customer_id","items":[{"product_id","quantity","unit_price_cents"}],"total_cents"}`.
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
        }
    }
}

/// An order was cancelled (from `PENDING` or `CONFIRMED`); the inventory side releases any
/// stock it reserved for it, or remembers that it must not reserve any.
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

/// Stock for every line of an order was reserved in one transaction; the order may be
/// confirmed.
///
/// `data`: `{"order_id"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReserved {
    /// The order whose stock is held.
    pub order_id: OrderId,
}

impl Event for StockReserved {
    const TYPE: &'static str = "StockReserved";
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

/// Where the outbox relay sends an event: the queue of the service that consumes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The inventory queue (`INVENTORY_QUEUE_URL`): `OrderPlaced`, `OrderCancelled`.
    Inventory,
    /// The orders queue (`ORDERS_QUEUE_URL`): `StockReserved`, `StockRejected`.
    Orders,
}

impl Destination {
    /// The consumer queue for `event_type`, or `None` for a type nobody consumes.
    pub fn of(event_type: &str) -> Option<Self> {
        match event_type {
            t if t == OrderPlaced::TYPE || t == OrderCancelled::TYPE => Some(Self::Inventory),
            t if t == StockReserved::TYPE || t == StockRejected::TYPE => Some(Self::Orders),
            _ => None,
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
    fn every_saga_event_has_a_destination_queue() {
        assert_eq!(Destination::of("OrderPlaced"), Some(Destination::Inventory));
        assert_eq!(
            Destination::of("OrderCancelled"),
            Some(Destination::Inventory)
        );
        assert_eq!(Destination::of("StockReserved"), Some(Destination::Orders));
        assert_eq!(Destination::of("StockRejected"), Some(Destination::Orders));
        assert_eq!(Destination::of("Nope"), None);
    }

    #[test]
    fn an_unsupported_schema_version_is_refused() {
        let mut envelope = Envelope::wrap(&order_placed(), "req-1", now()).unwrap();
        envelope.schema_version = 2;

        let error = envelope.decode::<OrderPlaced>().unwrap_err();

        assert!(error.to_string().starts_with("schema_version:"), "{error}");
    }
}
