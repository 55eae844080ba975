//! The inventory side of the stock-reservation saga on DynamoDB: each event's effect on the
//! products and reservations tables, the resulting event (outbox) and the consumer's
//! de-duplication marker go in one `TransactWriteItems`, all or nothing.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::sdk_error;
use super::table::Table;
use super::transact::{Dedup, Outbox, failed_conditions, put_new};
use crate::config::{EventStoreConfig, ProductsConfig, ReservationsConfig};
use crate::domain::{
    INSUFFICIENT_STOCK, MAX_RESERVATION_PRODUCTS, OrderId, ProductId, Reservation, ReservationLine,
    ReservationStatus, merge_lines, now,
};
use crate::error::Error;
use crate::events::{Envelope, OrderPlaced, StockRejected, StockReserved};
use crate::ports::{ReleaseOutcome, ReserveOutcome, StockReservations};

/// The consumer name in de-duplication markers (`reserve-stock#<event id>`).
const CONSUMER: &str = "reserve-stock";

/// How many times a release re-reads the reservation after losing a race (another event
/// decided the reservation meanwhile, or a product was deleted) before reporting a failure.
const RELEASE_ATTEMPTS: usize = 4;

/// Stock reservations in DynamoDB.
///
/// Reservations table item (key `id` = the order id):
/// `{"id":"<order id>","status":"RESERVED"|"REJECTED"|"RELEASED"|"CANCELLED",
/// "items":[{"product_id","quantity"}],"updated_at":"<RFC 3339>"}` (see [`Reservation`]).
///
/// Needs `dynamodb:UpdateItem`/`ConditionCheckItem` on products, `GetItem`/`PutItem`/
/// `UpdateItem` on reservations and `PutItem` on the outbox and idempotency tables.
#[derive(Debug, Clone)]
pub struct DynamoReservations {
    client: Client,
    products_table: String,
    reservations: Table,
    outbox: Outbox,
    dedup: Dedup,
}

/// Which items of a transaction are what: the marker, the reservation, then one per product.
const DEDUP_INDEX: usize = 0;
const RESERVATION_INDEX: usize = 1;
const FIRST_PRODUCT_INDEX: usize = 2;

impl DynamoReservations {
    /// Reservations on the tables named in the configs, with a client built from `sdk`.
    pub fn new(
        sdk: &SdkConfig,
        products: &ProductsConfig,
        reservations: &ReservationsConfig,
        events: &EventStoreConfig,
    ) -> Self {
        Self::with_client(Client::new(sdk), products, reservations, events)
    }

    /// Reservations on the tables named in the configs, with an existing client.
    pub fn with_client(
        client: Client,
        products: &ProductsConfig,
        reservations: &ReservationsConfig,
        events: &EventStoreConfig,
    ) -> Self {
        Self {
            products_table: products.products_table.clone(),
            reservations: Table::new(client.clone(), &reservations.reservations_table),
            outbox: Outbox::new(&events.outbox_table),
            dedup: Dedup::new(&events.idempotency_table),
            client,
        }
    }

    fn context(&self, what: &str) -> String {
        format!(
            "DynamoDB TransactWriteItems ({what}) on tables {}, {}, {}, {}",
            self.products_table,
            self.reservations.name,
            self.outbox.table(),
            self.dedup.table()
        )
    }

    /// A `Put` of the reservation record, conditioned on the order having none yet.
    fn put_reservation(&self, reservation: &Reservation) -> Result<TransactWriteItem, Error> {
        let item = serde_dynamo::to_item(reservation)
            .map_err(|e| Error::internal("serialising a reservation", e))?;
        put_new(&self.reservations.name, item)
    }

    /// An `Update` of one product's stock by `sign` × the line's quantity (`-` takes, `+`
    /// gives back). Taking is conditioned on `stock >= quantity`; both on the product
    /// existing, so that a deleted product is never recreated as a bare `{id, stock}`.
    fn stock_update(&self, line: &ReservationLine, take: bool) -> Result<TransactWriteItem, Error> {
        let (expression, condition) = if take {
            (
                "SET stock = stock - :q",
                "attribute_exists(id) AND stock >= :q",
            )
        } else {
            ("SET stock = stock + :q", "attribute_exists(id)")
        };
        let update = Update::builder()
            .table_name(&self.products_table)
            .set_key(Some(Table::key(&line.product_id)))
            .update_expression(expression)
            .condition_expression(condition)
            .expression_attribute_values(":q", AttributeValue::N(line.quantity.to_string()))
            .build()
            .map_err(|e| Error::internal("building a stock update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Commits `items`. `Ok(None)`: committed; `Ok(Some(flags))`: cancelled because the
    /// items flagged `true` failed their conditions; `Err`: any other failure (to retry).
    async fn commit(
        &self,
        items: Vec<TransactWriteItem>,
        what: &str,
    ) -> Result<Option<Vec<bool>>, Error> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(None),
            Err(error) => match failed_conditions(&error) {
                Some(flags) => Ok(Some(flags)),
                None => Err(sdk_error(self.context(what), error)),
            },
        }
    }

    /// The reservation of order `id`, read strongly consistently.
    pub(crate) async fn find(&self, id: OrderId) -> Result<Option<Reservation>, Error> {
        let output = self
            .client
            .get_item()
            .table_name(&self.reservations.name)
            .set_key(Some(Table::key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(self.reservations.context("GetItem"), e))?;
        output
            .item
            .map(|item| {
                serde_dynamo::from_item(item).map_err(|e| {
                    Error::internal(self.reservations.context("GetItem (reading item)"), e)
                })
            })
            .transpose()
    }

    /// The second transaction of a failed reservation: marker, `REJECTED` record and a
    /// `StockRejected` event.
    async fn reject(
        &self,
        envelope: &Envelope,
        placed: &OrderPlaced,
        product_ids: Vec<ProductId>,
        reason: &str,
    ) -> Result<ReserveOutcome, Error> {
        let now = now();
        let record = Reservation {
            id: placed.order_id,
            status: ReservationStatus::Rejected,
            items: Vec::new(),
            updated_at: now,
        };
        let event = StockRejected {
            order_id: placed.order_id,
            product_ids,
            reason: reason.to_owned(),
        };
        let out = Envelope::follow(&event, envelope, now)?;
        let items = vec![
            self.dedup.claim(CONSUMER, envelope.event_id, now)?,
            self.put_reservation(&record)?,
            self.outbox.put(&out)?,
        ];
        match self.commit(items, "reject").await? {
            None => Ok(ReserveOutcome::Rejected {
                product_ids: event.product_ids,
                reason: event.reason,
            }),
            Some(failed) if flagged(&failed, DEDUP_INDEX) => Ok(ReserveOutcome::Duplicate),
            Some(failed) if flagged(&failed, RESERVATION_INDEX) => {
                Ok(ReserveOutcome::AlreadyDecided)
            }
            Some(failed) => Err(unexpected(&self.context("reject"), &failed)),
        }
    }
}

fn flagged(failed: &[bool], index: usize) -> bool {
    failed.get(index).copied().unwrap_or(false)
}

/// A cancellation whose failed conditions we cannot explain (e.g. an outbox id collision).
fn unexpected(context: &str, failed: &[bool]) -> Error {
    Error::internal(
        context.to_owned(),
        format!("transaction cancelled by unexpected conditions: {failed:?}"),
    )
}

#[async_trait]
impl StockReservations for DynamoReservations {
    /// Transaction 1: [marker, `RESERVED` record, one stock decrement per distinct product,
    /// `StockReserved`]. If only product conditions failed, transaction 2 (see `reject`)
    /// records the rejection with the failed products. A failed marker means a duplicate, a
    /// failed record an order already decided (or cancelled first): both are acknowledged.
    #[tracing::instrument(skip_all, fields(order_id = %placed.order_id, event_id = %envelope.event_id))]
    async fn reserve(
        &self,
        envelope: &Envelope,
        placed: &OrderPlaced,
    ) -> Result<ReserveOutcome, Error> {
        let lines =
            merge_lines(&placed.items).map_err(|e| Error::internal("merging order lines", e.0))?;
        if lines.len() > MAX_RESERVATION_PRODUCTS {
            let reason =
                format!("an order may hold at most {MAX_RESERVATION_PRODUCTS} distinct products");
            return self.reject(envelope, placed, Vec::new(), &reason).await;
        }
        let now = now();
        let record = Reservation {
            id: placed.order_id,
            status: ReservationStatus::Reserved,
            items: lines.clone(),
            updated_at: now,
        };
        let event = StockReserved::from(placed);
        let out = Envelope::follow(&event, envelope, now)?;
        let mut items = vec![
            self.dedup.claim(CONSUMER, envelope.event_id, now)?,
            self.put_reservation(&record)?,
        ];
        for line in &lines {
            items.push(self.stock_update(line, true)?);
        }
        items.push(self.outbox.put(&out)?);
        let Some(failed) = self.commit(items, "reserve").await? else {
            return Ok(ReserveOutcome::Reserved);
        };
        if flagged(&failed, DEDUP_INDEX) {
            return Ok(ReserveOutcome::Duplicate);
        }
        if flagged(&failed, RESERVATION_INDEX) {
            return Ok(ReserveOutcome::AlreadyDecided);
        }
        let short: Vec<ProductId> = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| flagged(&failed, FIRST_PRODUCT_INDEX + i))
            .map(|(_, line)| line.product_id.clone())
            .collect();
        if short.is_empty() {
            return Err(unexpected(&self.context("reserve"), &failed));
        }
        tracing::info!(short = short.len(), "stock short; rejecting the order");
        self.reject(envelope, placed, short, INSUFFICIENT_STOCK)
            .await
    }

    /// Reads the reservation, then: none -> \[marker, `CANCELLED` record\]; `RESERVED` ->
    /// \[marker, `RESERVED` -> `RELEASED`, one stock increment per product\]; anything else ->
    /// nothing. A lost race (the record appeared or changed meanwhile) reads again; a product
    /// deleted since the reservation is left out of the increments.
    #[tracing::instrument(skip_all, fields(%order_id, event_id = %envelope.event_id))]
    async fn release(
        &self,
        envelope: &Envelope,
        order_id: OrderId,
    ) -> Result<ReleaseOutcome, Error> {
        let mut deleted: BTreeSet<ProductId> = BTreeSet::new();
        for attempt in 0..RELEASE_ATTEMPTS {
            let now = now();
            let claim = self.dedup.claim(CONSUMER, envelope.event_id, now)?;
            let Some(reservation) = self.find(order_id).await? else {
                let record = Reservation {
                    id: order_id,
                    status: ReservationStatus::Cancelled,
                    items: Vec::new(),
                    updated_at: now,
                };
                let items = vec![claim, self.put_reservation(&record)?];
                match self.commit(items, "cancel before reservation").await? {
                    None => return Ok(ReleaseOutcome::CancelledBeforeReservation),
                    Some(failed) if flagged(&failed, DEDUP_INDEX) => {
                        return Ok(ReleaseOutcome::Duplicate);
                    }
                    Some(failed) if flagged(&failed, RESERVATION_INDEX) => {
                        tracing::info!(
                            attempt,
                            "the reservation appeared meanwhile; reading again"
                        );
                        continue;
                    }
                    Some(failed) => {
                        return Err(unexpected(&self.context("cancel"), &failed));
                    }
                }
            };
            if reservation.status != ReservationStatus::Reserved {
                return Ok(ReleaseOutcome::NothingToRelease);
            }
            let lines: Vec<&ReservationLine> = reservation
                .items
                .iter()
                .filter(|line| !deleted.contains(&line.product_id))
                .collect();
            let mut items = vec![claim, self.mark_released(order_id, now)?];
            for line in &lines {
                items.push(self.stock_update(line, false)?);
            }
            let Some(failed) = self.commit(items, "release").await? else {
                return Ok(ReleaseOutcome::Released);
            };
            if flagged(&failed, DEDUP_INDEX) {
                return Ok(ReleaseOutcome::Duplicate);
            }
            if flagged(&failed, RESERVATION_INDEX) {
                tracing::info!(attempt, "the reservation changed meanwhile; reading again");
                continue;
            }
            let gone: Vec<&ProductId> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| flagged(&failed, FIRST_PRODUCT_INDEX + i))
                .map(|(_, line)| &line.product_id)
                .collect();
            if gone.is_empty() {
                return Err(unexpected(&self.context("release"), &failed));
            }
            tracing::warn!(products = ?gone, "products deleted since the reservation; releasing without them");
            deleted.extend(gone.into_iter().cloned());
        }
        Err(Error::internal(
            self.context("release"),
            format!(
                "the reservation of order {order_id} kept changing; gave up after {RELEASE_ATTEMPTS} attempts"
            ),
        ))
    }
}

impl DynamoReservations {
    /// An `Update` of the reservation `RESERVED` -> `RELEASED`, conditioned on it being
    /// `RESERVED` still.
    fn mark_released(
        &self,
        order_id: OrderId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<TransactWriteItem, Error> {
        let updated_at = serde_dynamo::to_attribute_value(now)
            .map_err(|e| Error::internal("serialising a timestamp", e))?;
        let values = HashMap::from([
            (
                ":reserved".to_owned(),
                AttributeValue::S(ReservationStatus::Reserved.as_str().to_owned()),
            ),
            (
                ":released".to_owned(),
                AttributeValue::S(ReservationStatus::Released.as_str().to_owned()),
            ),
            (":now".to_owned(), updated_at),
        ]);
        let update = Update::builder()
            .table_name(&self.reservations.name)
            .set_key(Some(Table::key(order_id)))
            .update_expression("SET #status = :released, updated_at = :now")
            .condition_expression("#status = :reserved")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| Error::internal("building a reservation update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}
