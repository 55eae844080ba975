//! SQS consumer of the payments queue (`ReportBatchItemFailures`): the payments side of the
//! saga.
//!
//! Each record's body is an event [`Envelope`](shared::events::Envelope):
//! - `StockReserved`: charges the order's total with the provider under the idempotency key
//!   `order-<id>-charge` ([`charge_key`]), then records the decision with its event in one
//!   transaction: `CAPTURED` + `PaymentCaptured`, or `DECLINED` + `PaymentDeclined` (the
//!   inventory releases the stock, the order is rejected `PAYMENT_DECLINED`);
//! - `OrderCancelled`: refunds a captured charge (`order-<id>-refund`) and records `REFUNDED`
//!   + `RefundIssued`; with no charge yet, records `CANCELLED` so that none is ever made.
//!
//! The charge record ([`ChargeRecord`], payments table) is the guard: each decision is a write
//! conditioned on the status read before, so redeliveries and the race of a cancellation with a
//! charge each end in one decision. A charge that loses that race to a cancellation is refunded
//! at once (compensation). The provider's idempotency keys make a retried or redelivered charge
//! return the first one: an order is never charged twice.
//!
//! While the provider is unavailable (the circuit breaker is open, or every attempt failed), a
//! record is handed back to the queue with a growing delay ([`redelivery_delay`],
//! `ChangeMessageVisibility`) and reported as failed, so the outage costs one receive per delay
//! instead of one per visibility timeout, and the messages wait in the queue rather than in the
//! dead-letter queue. A record reached with less than [`TIME_NEEDED`] left in the invocation
//! is handed back the same way without a call, so a slow provider never times out a whole
//! batch. Anything else that fails (not an envelope, a misrouted type, a store
//! failure) is reported and retried after the visibility timeout; after `maxReceiveCount` it
//! goes to the dead-letter queue, where an alarm fires.

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use shared::Error;
use shared::consumer::{envelope, partial_batch};
use shared::domain::{ChargeRecord, ChargeStatus, OrderId, charge_key, now, refund_key};
use shared::events::{
    Envelope, Event, OrderCancelled, PaymentCaptured, PaymentDeclined, RefundIssued, StockReserved,
};
use shared::metrics::Metric;
use shared::ports::{
    ChargeOutcome, ChargeStore, Decided, PaymentProvider, ProviderError, Redelivery,
};

/// The first redelivery delay while the provider is out; it doubles with each receive.
pub const REDELIVERY_BASE: Duration = Duration::from_secs(1);

/// The longest redelivery delay, by receive count: 10 s for the first 30 receives (about five
/// minutes of outage), then 60 s up to 60 receives (30 more minutes), then 5 minutes. A short
/// outage is over for an order at most 10 s after the provider is back (plus the breaker's
/// probe); with the queue's `maxReceiveCount` (100 in the template) a message waits out about
/// four hours of outage before it reaches the dead-letter queue.
pub const REDELIVERY_CAPS: [(u32, Duration); 3] = [
    (30, Duration::from_secs(10)),
    (60, Duration::from_secs(60)),
    (u32::MAX, Duration::from_secs(300)),
];

/// The cap of [`REDELIVERY_CAPS`] for the `receives`-th receive.
fn redelivery_cap(receives: u32) -> Duration {
    REDELIVERY_CAPS
        .iter()
        .find(|(up_to, _)| receives <= *up_to)
        .map_or(Duration::from_secs(300), |(_, cap)| *cap)
}

/// The time a record needs left in the invocation to be worth starting: the client's worst case
/// (3 attempts of 2 s plus backoff, `shared::outside::ClientConfig::default`) and the table
/// writes. A record reached with less is handed back at once, so a slow provider costs a
/// record a delay, never the whole batch a timeout (the function's timeout is 10 s).
pub const TIME_NEEDED: Duration = Duration::from_secs(8);

/// How many times a decision re-reads the record after losing a race before failing the record.
const DECISION_ATTEMPTS: usize = 3;

/// What the handler needs: the provider, the charge records with the outbox, and the queue to
/// hand messages back to.
#[derive(Debug)]
pub struct Deps<'a, P, S, R> {
    /// The payment provider.
    pub provider: &'a P,
    /// The payments table.
    pub charges: &'a S,
    /// The payments queue (`ChangeMessageVisibility`).
    pub redelivery: &'a R,
}

impl<P, S, R> Clone for Deps<'_, P, S, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P, S, R> Copy for Deps<'_, P, S, R> {}

/// Handles one batch. Never fails as a whole: per-record failures go in the response.
pub async fn handle<P, S, R>(
    deps: Deps<'_, P, S, R>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Infallible>
where
    P: PaymentProvider,
    S: ChargeStore,
    R: Redelivery,
{
    // The runtime's deadline (epoch ms). One that has already passed when the batch starts is
    // not a deadline: unit tests have 0, and `cargo lambda watch` sends a constant 600000.
    let deadline = Some(UNIX_EPOCH + Duration::from_millis(event.context.deadline))
        .filter(|deadline| *deadline > SystemTime::now());
    Ok(partial_batch(&event.payload.records, |record| {
        process(deps, record, deadline)
    })
    .await)
}

/// How long a record waits before its next receive while the provider is out: `REDELIVERY_BASE
/// × 2^(receives − 1)`, at least the provider's or the breaker's `retry_after`, at most the cap
/// of [`REDELIVERY_CAPS`] for that receive, plus `jitter` (a fraction in `0..1` of one second,
/// so the records of an outage come back spread out rather than as one wave).
pub fn redelivery_delay(receives: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let exponent = receives.saturating_sub(1).min(16);
    let grown = REDELIVERY_BASE.saturating_mul(1 << exponent);
    let wait = grown
        .max(retry_after.unwrap_or_default())
        .min(redelivery_cap(receives));
    wait + Duration::from_secs_f64(jitter.clamp(0.0, 1.0))
}

/// SQS's `ApproximateReceiveCount` of a record (1 on the first receive).
fn receives(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

async fn process<P, S, R>(
    deps: Deps<'_, P, S, R>,
    record: &SqsMessage,
    deadline: Option<SystemTime>,
) -> Result<(), Error>
where
    P: PaymentProvider,
    S: ChargeStore,
    R: Redelivery,
{
    let envelope = envelope(record)?;
    let time_left = deadline.map(|d| d.duration_since(SystemTime::now()).unwrap_or_default());
    let result = if time_left.is_some_and(|left| left < TIME_NEEDED) {
        Err(ProviderError::Unavailable {
            retry_after: None,
            breaker_open: false,
            detail: "too little time left in this invocation".to_owned(),
        })
    } else if envelope.is::<StockReserved>() {
        let reserved: StockReserved = envelope.decode()?;
        capture(deps, &envelope, &reserved).await
    } else if envelope.is::<OrderCancelled>() {
        let cancelled: OrderCancelled = envelope.decode()?;
        cancel(deps, &envelope, cancelled.order_id).await
    } else {
        return Err(Error::invalid(
            "event_type",
            format!(
                "{} is not consumed here (expected {} or {})",
                envelope.event_type,
                StockReserved::TYPE,
                OrderCancelled::TYPE
            ),
        ));
    };
    let Err(ProviderError::Unavailable {
        retry_after,
        breaker_open,
        detail,
    }) = result
    else {
        return result.map_err(Error::from);
    };
    let receives = receives(record);
    let delay = redelivery_delay(receives, retry_after, rand::random::<f64>());
    let message_id = record.message_id.as_deref().unwrap_or_default();
    match record.receipt_handle.as_deref() {
        Some(handle) => match deps.redelivery.delay(handle, delay).await {
            Ok(()) => tracing::warn!(
                message_id,
                event_id = %envelope.event_id,
                receives,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                breaker_open,
                detail,
                "payment provider unavailable; message handed back to the queue"
            ),
            Err(e) => tracing::error!(
                message_id,
                error = %e.chain(),
                "cannot delay the message; it comes back after the visibility timeout"
            ),
        },
        None => tracing::warn!(message_id, "no receipt handle; cannot delay the message"),
    }
    Err(Error::ServiceUnavailable(format!(
        "payment provider unavailable ({detail}); retried in {} s",
        delay.as_secs()
    )))
}

/// `StockReserved`: charge once, then record the outcome.
async fn capture<P, S, R>(
    deps: Deps<'_, P, S, R>,
    envelope: &Envelope,
    reserved: &StockReserved,
) -> Result<(), ProviderError>
where
    P: PaymentProvider,
    S: ChargeStore,
{
    let order = reserved.order_id;
    if let Some(record) = deps.charges.get(&order).await? {
        tracing::info!(%order, status = %record.status, "already decided; nothing to charge");
        return Ok(());
    }
    let outcome = match &reserved.payment_method {
        Some(method) => {
            deps.provider
                .charge(&order, reserved.total_cents, method, &charge_key(&order))
                .await?
        }
        None => ChargeOutcome::Declined {
            decline_code: "no_payment_method".to_owned(),
            message: "the order was placed without a payment method".to_owned(),
            charge_id: None,
        },
    };
    let now = now();
    let (record, event) = match outcome {
        ChargeOutcome::Captured { charge_id } => {
            let event = PaymentCaptured {
                order_id: order,
                charge_id: charge_id.clone(),
                amount_cents: reserved.total_cents,
            };
            let record = ChargeRecord {
                id: order,
                status: ChargeStatus::Captured,
                amount_cents: reserved.total_cents,
                charge_id: Some(charge_id),
                refund_id: None,
                decline_code: None,
                updated_at: now,
            };
            (record, Envelope::follow(&event, envelope, now)?)
        }
        ChargeOutcome::Declined {
            decline_code,
            message,
            charge_id,
        } => {
            let record = ChargeRecord {
                id: order,
                status: ChargeStatus::Declined,
                amount_cents: reserved.total_cents,
                charge_id: charge_id.clone(),
                refund_id: None,
                decline_code: Some(decline_code.clone()),
                updated_at: now,
            };
            let event = PaymentDeclined {
                order_id: order,
                amount_cents: reserved.total_cents,
                decline_code,
                message,
                charge_id,
            };
            (record, Envelope::follow(&event, envelope, now)?)
        }
    };
    match deps.charges.decide(&record, None, Some(&event)).await? {
        Decided::Written => {
            shared::metrics::incr(match record.status {
                ChargeStatus::Captured => Metric::PaymentsCaptured,
                _ => Metric::PaymentsDeclined,
            });
            tracing::info!(%order, status = %record.status, charge_id = ?record.charge_id, "charge decided");
            Ok(())
        }
        Decided::Stale => {
            // Decided meanwhile: by a duplicate of this event (same charge, thanks to the
            // key), or by a cancellation that came first. Then the charge must go back.
            match deps.charges.get(&order).await? {
                Some(stored) if stored.status == ChargeStatus::Cancelled => {
                    if let (ChargeStatus::Captured, Some(charge_id)) =
                        (record.status, record.charge_id.as_deref())
                    {
                        tracing::warn!(%order, charge_id, "cancelled while charging; refunding (compensation)");
                        refund(deps, envelope, &stored, charge_id, record.amount_cents).await?;
                    }
                    Ok(())
                }
                _ => Ok(()),
            }
        }
    }
}

/// `OrderCancelled`: refund a captured charge, or block any future one.
async fn cancel<P, S, R>(
    deps: Deps<'_, P, S, R>,
    envelope: &Envelope,
    order: OrderId,
) -> Result<(), ProviderError>
where
    P: PaymentProvider,
    S: ChargeStore,
{
    for attempt in 0..DECISION_ATTEMPTS {
        let stored = deps.charges.get(&order).await?;
        let Some(stored) = stored else {
            let record = ChargeRecord {
                id: order,
                status: ChargeStatus::Cancelled,
                amount_cents: 0,
                charge_id: None,
                refund_id: None,
                decline_code: None,
                updated_at: now(),
            };
            match deps.charges.decide(&record, None, None).await? {
                Decided::Written => {
                    tracing::info!(%order, "cancelled before any charge; none will be made");
                    return Ok(());
                }
                Decided::Stale => {
                    tracing::info!(%order, attempt, "a charge was decided meanwhile; reading again");
                    continue;
                }
            }
        };
        let (ChargeStatus::Captured, Some(charge_id)) = (stored.status, stored.charge_id.clone())
        else {
            tracing::info!(%order, status = %stored.status, "nothing to refund");
            return Ok(());
        };
        if refund(deps, envelope, &stored, &charge_id, stored.amount_cents).await? {
            return Ok(());
        }
    }
    Err(Error::Conflict(format!(
        "order {order}: the charge record kept changing during the cancellation"
    ))
    .into())
}

/// Refunds `charge_id` (of `amount_cents`) and records `REFUNDED` + `RefundIssued` over
/// `stored` (conditioned on its status). `Ok(false)` when the record changed meanwhile (read
/// again).
async fn refund<P, S, R>(
    deps: Deps<'_, P, S, R>,
    envelope: &Envelope,
    stored: &ChargeRecord,
    charge_id: &str,
    amount_cents: u64,
) -> Result<bool, ProviderError>
where
    P: PaymentProvider,
    S: ChargeStore,
{
    let order = stored.id;
    let refund_id = deps.provider.refund(charge_id, &refund_key(&order)).await?;
    let now = now();
    let record = ChargeRecord {
        status: ChargeStatus::Refunded,
        amount_cents,
        charge_id: Some(charge_id.to_owned()),
        refund_id: Some(refund_id.clone()),
        updated_at: now,
        ..stored.clone()
    };
    let event = RefundIssued {
        order_id: order,
        charge_id: charge_id.to_owned(),
        refund_id,
        amount_cents,
    };
    let event = Envelope::follow(&event, envelope, now)?;
    match deps
        .charges
        .decide(&record, Some(stored.status), Some(&event))
        .await?
    {
        Decided::Written => {
            shared::metrics::incr(Metric::RefundsIssued);
            tracing::info!(%order, charge_id, "charge refunded");
            Ok(true)
        }
        Decided::Stale => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;
    use async_trait::async_trait;
    use lambda_runtime::Context;
    use shared::domain::{PaymentMethod, UserId};
    use shared::memory::InMemoryCharges;
    use shared::testing::failed_ids;

    /// A provider that remembers charges by idempotency key, like the real one; it can be
    /// made unavailable.
    #[derive(Debug, Default)]
    struct FakeProvider {
        charges: Mutex<HashMap<String, ChargeOutcome>>,
        refunds: Mutex<HashMap<String, String>>,
        calls: Mutex<u32>,
        down: Mutex<Option<Duration>>,
    }

    impl FakeProvider {
        fn down(&self, retry_after: Duration) {
            *self.down.lock().unwrap() = Some(retry_after);
        }
        fn charge_count(&self) -> usize {
            self.charges.lock().unwrap().len()
        }
        fn refund_count(&self) -> usize {
            self.refunds.lock().unwrap().len()
        }
        fn calls(&self) -> u32 {
            *self.calls.lock().unwrap()
        }
        fn unavailable(&self) -> Result<(), ProviderError> {
            *self.calls.lock().unwrap() += 1;
            match *self.down.lock().unwrap() {
                Some(retry_after) => Err(ProviderError::Unavailable {
                    retry_after: Some(retry_after),
                    breaker_open: true,
                    detail: "circuit open".into(),
                }),
                None => Ok(()),
            }
        }
    }

    #[async_trait]
    impl PaymentProvider for FakeProvider {
        async fn charge(
            &self,
            order: &OrderId,
            _amount_cents: u64,
            method: &PaymentMethod,
            key: &str,
        ) -> Result<ChargeOutcome, ProviderError> {
            self.unavailable()?;
            let mut charges = self.charges.lock().unwrap();
            let outcome = charges.entry(key.to_owned()).or_insert_with(|| {
                if method.as_str() == "tok_declined" {
                    ChargeOutcome::Declined {
                        decline_code: "generic_decline".into(),
                        message: "Your card was declined.".into(),
                        charge_id: Some(format!("ch_{order}")),
                    }
                } else {
                    ChargeOutcome::Captured {
                        charge_id: format!("ch_{order}"),
                    }
                }
            });
            Ok(outcome.clone())
        }

        async fn refund(&self, charge_id: &str, key: &str) -> Result<String, ProviderError> {
            self.unavailable()?;
            let mut refunds = self.refunds.lock().unwrap();
            Ok(refunds
                .entry(key.to_owned())
                .or_insert_with(|| format!("re_{charge_id}"))
                .clone())
        }
    }

    /// Records each delay asked for.
    #[derive(Debug, Default)]
    struct RecordingRedelivery(Mutex<Vec<(String, Duration)>>);

    #[async_trait]
    impl Redelivery for RecordingRedelivery {
        async fn delay(&self, receipt_handle: &str, delay: Duration) -> Result<(), Error> {
            self.0
                .lock()
                .unwrap()
                .push((receipt_handle.to_owned(), delay));
            Ok(())
        }
    }

    struct World {
        provider: FakeProvider,
        charges: InMemoryCharges,
        redelivery: RecordingRedelivery,
    }

    impl World {
        fn new() -> Self {
            Self {
                provider: FakeProvider::default(),
                charges: InMemoryCharges::default(),
                redelivery: RecordingRedelivery::default(),
            }
        }

        async fn send(&self, records: &[(&str, &str)]) -> SqsBatchResponse {
            let deps = Deps {
                provider: &self.provider,
                charges: &self.charges,
                redelivery: &self.redelivery,
            };
            let event = LambdaEvent::new(shared::testing::sqs_event(records), Context::default());
            let Ok(response) = handle(deps, event).await;
            response
        }

        fn status(&self, order: &OrderId) -> Option<ChargeStatus> {
            self.charges.record(order).map(|r| r.status)
        }

        fn events(&self) -> Vec<String> {
            self.charges
                .outbox()
                .into_iter()
                .map(|e| e.event_type)
                .collect()
        }
    }

    fn reserved(order: OrderId, token: &str) -> String {
        let event = StockReserved {
            order_id: order,
            total_cents: 4200,
            payment_method: Some(PaymentMethod::parse(token).unwrap()),
        };
        Envelope::wrap(&event, "req-1", now())
            .unwrap()
            .to_json()
            .unwrap()
    }

    fn cancelled(order: OrderId) -> String {
        let event = OrderCancelled {
            order_id: order,
            customer_id: UserId::new(),
            previous_status: shared::domain::OrderStatus::Confirmed,
        };
        Envelope::wrap(&event, "req-2", now())
            .unwrap()
            .to_json()
            .unwrap()
    }

    #[tokio::test]
    async fn a_reserved_order_is_charged_once_however_often_it_is_delivered() {
        let world = World::new();
        let order = OrderId::new();
        let body = reserved(order, "tok_visa");

        for n in 0..5 {
            let response = world.send(&[(&format!("m{n}"), &body)]).await;
            assert!(response.batch_item_failures.is_empty());
        }

        assert_eq!(world.status(&order), Some(ChargeStatus::Captured));
        assert_eq!(world.provider.charge_count(), 1);
        assert_eq!(world.events(), ["PaymentCaptured"]);
    }

    #[tokio::test]
    async fn a_declined_card_is_recorded_and_emits_payment_declined() {
        let world = World::new();
        let order = OrderId::new();

        let response = world
            .send(&[("m1", &reserved(order, "tok_declined"))])
            .await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(world.status(&order), Some(ChargeStatus::Declined));
        assert_eq!(world.events(), ["PaymentDeclined"]);
        let declined: PaymentDeclined = world.charges.outbox()[0].decode().unwrap();
        assert_eq!(declined.decline_code, "generic_decline");
    }

    #[tokio::test]
    async fn cancelling_a_charged_order_refunds_it_once() {
        let world = World::new();
        let order = OrderId::new();
        world.send(&[("m1", &reserved(order, "tok_visa"))]).await;

        for n in 0..3 {
            let response = world.send(&[(&format!("c{n}"), &cancelled(order))]).await;
            assert!(response.batch_item_failures.is_empty());
        }

        assert_eq!(world.status(&order), Some(ChargeStatus::Refunded));
        assert_eq!(world.provider.refund_count(), 1);
        assert_eq!(world.events(), ["PaymentCaptured", "RefundIssued"]);
    }

    #[tokio::test]
    async fn a_cancellation_before_the_charge_blocks_it() {
        let world = World::new();
        let order = OrderId::new();
        world.send(&[("c1", &cancelled(order))]).await;

        let response = world.send(&[("m1", &reserved(order, "tok_visa"))]).await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(world.status(&order), Some(ChargeStatus::Cancelled));
        assert_eq!(world.provider.calls(), 0);
        assert!(world.events().is_empty());
    }

    #[tokio::test]
    async fn a_charge_that_loses_the_race_to_a_cancellation_is_refunded() {
        let world = World::new();
        let order = OrderId::new();
        // The cancellation lands between the charge's read and its write.
        world.charges.before_next_decide(ChargeRecord {
            id: order,
            status: ChargeStatus::Cancelled,
            amount_cents: 0,
            charge_id: None,
            refund_id: None,
            decline_code: None,
            updated_at: now(),
        });

        let response = world.send(&[("m1", &reserved(order, "tok_visa"))]).await;

        assert!(response.batch_item_failures.is_empty());
        assert_eq!(world.status(&order), Some(ChargeStatus::Refunded));
        assert_eq!(world.provider.charge_count(), 1);
        assert_eq!(world.provider.refund_count(), 1);
        assert_eq!(world.events(), ["RefundIssued"]);
    }

    #[tokio::test]
    async fn while_the_provider_is_out_messages_go_back_with_a_delay_and_nothing_is_decided() {
        let world = World::new();
        let (a, b) = (OrderId::new(), OrderId::new());
        world.send(&[("m0", &reserved(b, "tok_visa"))]).await;
        world.provider.down(Duration::from_secs(7));

        let response = world
            .send(&[("m1", &reserved(a, "tok_visa")), ("m2", &cancelled(b))])
            .await;

        assert_eq!(failed_ids(&response), ["m1", "m2"]);
        let delays = world.redelivery.0.lock().unwrap().clone();
        assert_eq!(delays.len(), 2);
        for (_, delay) in delays {
            assert!(
                delay >= Duration::from_secs(7) && delay <= Duration::from_secs(8),
                "{delay:?}"
            );
        }
        assert_eq!(world.status(&a), None);
        assert_eq!(world.status(&b), Some(ChargeStatus::Captured));
        assert_eq!(world.provider.refund_count(), 0);
    }

    #[tokio::test]
    async fn a_misrouted_event_is_reported_not_skipped() {
        let world = World::new();
        let event = PaymentCaptured {
            order_id: OrderId::new(),
            charge_id: "ch_1".into(),
            amount_cents: 1,
        };
        let body = Envelope::wrap(&event, "req", now())
            .unwrap()
            .to_json()
            .unwrap();

        let response = world.send(&[("m1", &body), ("m2", "not json")]).await;

        assert_eq!(failed_ids(&response), ["m1", "m2"]);
        assert!(world.redelivery.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_record_reached_too_close_to_the_deadline_is_handed_back_without_a_call() {
        let world = World::new();
        let mut context = Context::default();
        let soon = SystemTime::now() + Duration::from_secs(2);
        context.deadline =
            u64::try_from(soon.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
        let deps = Deps {
            provider: &world.provider,
            charges: &world.charges,
            redelivery: &world.redelivery,
        };
        let body = reserved(OrderId::new(), "tok_visa");
        let event = LambdaEvent::new(shared::testing::sqs_event(&[("m1", &body)]), context);

        let Ok(response) = handle(deps, event).await;

        assert_eq!(failed_ids(&response), ["m1"]);
        assert_eq!(world.provider.calls(), 0);
        assert_eq!(world.redelivery.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_redelivery_delay_grows_with_receives_and_stays_bounded() {
        let no_jitter = |n, after| redelivery_delay(n, after, 0.0);
        assert_eq!(no_jitter(1, None), Duration::from_secs(1));
        assert_eq!(no_jitter(2, None), Duration::from_secs(2));
        assert_eq!(no_jitter(4, None), Duration::from_secs(8));
        assert_eq!(no_jitter(5, None), Duration::from_secs(10));
        assert_eq!(no_jitter(30, None), Duration::from_secs(10));
        assert_eq!(no_jitter(31, None), Duration::from_secs(60));
        assert_eq!(no_jitter(61, None), Duration::from_secs(300));
        assert_eq!(no_jitter(u32::MAX, None), Duration::from_secs(300));
        assert_eq!(
            no_jitter(1, Some(Duration::from_secs(9))),
            Duration::from_secs(9)
        );
        assert_eq!(
            no_jitter(1, Some(Duration::from_secs(600))),
            Duration::from_secs(10)
        );
        assert_eq!(redelivery_delay(1, None, 0.5), Duration::from_millis(1500));
    }
}
