//! The event envelope shared by producers and consumers, and the event payloads.
//!
//! On the wire (an SQS message body):
//! ```json
//! {"event_id":"<uuid>","event_type":"OrderPlaced","schema_version":1,
//!  "occurred_at":"<RFC 3339>","correlation_id":"<request id>",
//!  "trace_header":"Root=1-...;Parent=...;Sampled=1","data":{...}}
//! ```
//!
//! `trace_header` (optional) is the X-Ray trace header of the request that started the saga:
//! events written by consumers copy it and `correlation_id` from the event that caused them
//! ([`Envelope::follow`]), and the outbox relay sends it as the SQS message's `AWSTraceHeader`
//! system attribute, so one order's saga is one trace.

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
    /// The X-Ray trace header of the request that started the saga, as Lambda passes it
    /// (`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`); `None`
    /// when there was none (tracing off, or an event written before this field existed).
    /// Omitted from the JSON when `None`, and an envelope without it still parses, so no
    /// `schema_version` change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_header: Option<String>,
    /// The payload.
    pub data: serde_json::Value,
}

impl Envelope {
    /// Wraps `event` with a fresh `event_id` and no trace header (see
    /// [`Envelope::with_trace_header`] for an event a request starts, [`Envelope::follow`]
    /// for one another event causes).
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
            trace_header: None,
            data,
        })
    }

    /// Wraps `event`, caused by the event in `cause`: a fresh `event_id`, and the
    /// `correlation_id` and `trace_header` of `cause`, so the saga keeps one correlation id and
    /// one trace from the request that started it.
    ///
    /// # Errors
    /// [`Error::Internal`] if the payload cannot be serialised (a bug).
    pub fn follow<E: Event>(
        event: &E,
        cause: &Envelope,
        occurred_at: DateTime<Utc>,
    ) -> Result<Self, Error> {
        Ok(
            Self::wrap(event, cause.correlation_id.clone(), occurred_at)?
                .with_trace_header(cause.trace_header.clone()),
        )
    }

    /// The envelope with `trace_header` set (e.g. from [`crate::http::trace_header`]); a blank
    /// header counts as none.
    #[must_use]
    pub fn with_trace_header(mut self, trace_header: Option<String>) -> Self {
        self.trace_header = trace_header.filter(|h| !h.trim().is_empty());
        self
    }

    /// The X-Ray trace id (`Root=`) of [`Envelope::trace_header`], when it has a well-formed one.
    pub fn trace_id(&self) -> Option<&str> {
        self.trace_header.as_deref().and_then(trace_root)
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

/// The trace id of an X-Ray trace header: the value of its `Root` field, e.g.
/// `1-5759e988-bd862e3fe1be46a994272793` in
/// `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`.
///
/// The header is `;`-separated `key=value` fields in any order (spaces around them allowed);
/// the id is `1-` (version 1), 8 hex digits (the epoch seconds it was made) `-` 24 hex digits
/// (AWS X-Ray developer guide, "Tracing header" and "Trace IDs"). `None` when the header has no
/// `Root`, or one that is not such an id.
pub fn trace_root(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|field| field.trim().split_once('='))
        .find(|(key, _)| key.trim() == "Root")
        .map(|(_, value)| value.trim())
        .filter(|root| is_trace_id(root))
}

/// Whether `id` is a well-formed X-Ray trace id: `1-` + 8 hex digits + `-` + 24 hex digits.
pub fn is_trace_id(id: &str) -> bool {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut parts = id.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("1"), Some(time), Some(unique), None) if hex(time, 8) && hex(unique, 24)
    )
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

    const TRACE: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[test]
    fn an_envelope_with_a_trace_header_round_trips_and_carries_it_by_name() {
        let envelope = Envelope::wrap(&order_placed(), "req-1", now())
            .unwrap()
            .with_trace_header(Some(TRACE.to_owned()));

        let json = envelope.to_json().unwrap();
        let parsed = Envelope::from_json(&json).unwrap();

        assert_eq!(parsed, envelope);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json).unwrap()["trace_header"],
            TRACE
        );
        assert_eq!(
            parsed.trace_id(),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
    }

    #[test]
    fn an_envelope_without_a_trace_header_omits_it_and_an_old_one_still_parses() {
        let envelope = Envelope::wrap(&order_placed(), "req-1", now()).unwrap();

        let value = serde_json::to_value(&envelope).unwrap();
        let parsed = Envelope::from_json(&envelope.to_json().unwrap()).unwrap();

        assert!(value.get("trace_header").is_none(), "{value}");
        assert_eq!(parsed, envelope);
        assert_eq!(parsed.trace_header, None);
        let old = r#"{"event_id":"0190b4c0-0000-7000-8000-000000000000","event_type":"OrderPlaced","schema_version":1,"occurred_at":"2024-07-01T00:00:00Z","correlation_id":"req-0","data":{}}"#;
        assert_eq!(Envelope::from_json(old).unwrap().trace_header, None);
    }

    #[test]
    fn a_follow_on_event_carries_its_causes_correlation_id_and_trace() {
        let cause = Envelope::wrap(&order_placed(), "req-7", now())
            .unwrap()
            .with_trace_header(Some(TRACE.to_owned()));
        let placed: OrderPlaced = cause.decode().unwrap();

        let next = Envelope::follow(&StockReserved::from(&placed), &cause, now()).unwrap();

        assert_eq!(next.event_type, "StockReserved");
        assert_ne!(next.event_id, cause.event_id);
        assert_eq!(next.correlation_id, "req-7");
        assert_eq!(next.trace_header.as_deref(), Some(TRACE));
    }

    #[test]
    fn a_blank_trace_header_counts_as_none() {
        let envelope = Envelope::wrap(&order_placed(), "req-1", now())
            .unwrap()
            .with_trace_header(Some("  ".to_owned()));

        assert_eq!(envelope.trace_header, None);
    }

    #[test]
    fn the_trace_root_is_read_from_any_position_of_the_header() {
        assert_eq!(
            trace_root(TRACE),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(
            trace_root("Sampled=0; Root=1-67687c5a-a1b2c3d4e5f67890abcdef01"),
            Some("1-67687c5a-a1b2c3d4e5f67890abcdef01")
        );
        assert_eq!(trace_root("Parent=53995c3f42cd8ad8;Sampled=1"), None);
        assert_eq!(trace_root("Root=2-5759e988-bd862e3fe1be46a994272793"), None);
        assert_eq!(trace_root("Root=1-5759e98-bd862e3fe1be46a994272793"), None);
        assert_eq!(trace_root("Root=1-5759e988-bd862e3fe1be46a99427279z"), None);
        assert_eq!(trace_root(""), None);
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
