//! The circuit breaker whose state every instance of a function shares, kept in one DynamoDB
//! item per breaker ([`DynamoCircuit`]). An in-memory breaker sees only its own instance's
//! failures, and on Lambda every concurrent execution environment is an instance: ten
//! environments would each spend their own failures before opening, and each send its own
//! probes. Here they count into one window and one of them probes.
//!
//! # The table and the item
//! Table `BreakersTable` (env `BREAKERS_TABLE`): key `name` (S), no sort key,
//! `PAY_PER_REQUEST`. One item per breaker, times in epoch ms (0 when unset):
//!
//! | attribute      | type | meaning |
//! |----------------|------|---------|
//! | `name`         | S    | the breaker, e.g. `payment-provider` |
//! | `state`        | S    | `closed`, `open` or `half_open` |
//! | `window_start` | N    | start of the counting window (closed), a multiple of `window` |
//! | `calls`        | N    | outcomes counted in that window |
//! | `failures`     | N    | failures among them |
//! | `open_until`   | N    | open: no probe before this |
//! | `probe_until`  | N    | half-open: the probe's lease; another may probe after it |
//! | `opened`       | N    | how many times it opened (for dashboards) |
//! | `updated_at`   | N    | last write |
//!
//! # The protocol
//! Every transition is a conditional `UpdateItem` on the state the writer read (optimistic
//! locking on `state` and the times), so concurrent instances agree:
//! - **closed**: each outcome is `ADD calls 1, failures 0|1` on condition that the item counts
//!   in the current window (`window_start`); a call in a new window starts it (`calls = 1`).
//!   When `calls >= min_calls` and `failures / calls >= failure_rate`, the instance that saw
//!   it writes `open` (`open_until = now + open_for`) on condition the window is still the
//!   one it counted in: one instance opens it.
//! - **open**, after `open_until`: each instance that reads it tries to claim the probe
//!   (`half_open`, `probe_until = now + probe_lease`) on condition `open_until` is still the
//!   value it read: exactly one wins ([`Admission::Probe`]), the others are refused.
//! - **half-open**: the probe's success writes `closed` (counters reset), its failure `open`
//!   again for `open_for`, each on condition the item is still half-open. A probe that never
//!   reports (its Lambda timed out) is replaced once its lease is over, by the same claim on
//!   `probe_until`.
//!
//! # Cost
//! While closed, at most one `GetItem` per `acquire` (the state read is trusted for
//! `cache_for`); while open, none before `open_until` (the instance remembers it); one
//! `UpdateItem` per `record` (two when a window starts, one more for the transition it
//! causes).
//!
//! # When the table fails
//! A failed table call (timeout, throttling, unreachable; or a missing table or denied access,
//! which are logged the same way) never fails the call and never waits longer than the SDK's
//! own bounds ([`crate::aws::load`]: 1 s connect, 2 s attempt, 4 s operation): the instance
//! switches to a per-instance [`Breaker`](crate::breaker::Breaker) (opened by `min_calls`
//! consecutive failures, open for `open_for`), logs one warning, and asks the table again after
//! `open_for` (the table is probed like a dependency: not on every call). Once the table
//! answers, the shared state is used again (and an info line says so).
//!
//! # Metrics
//! The instance whose conditional write made a transition counts it
//! (`BreakerTransitions{Breaker=<name>, To}`, so each shared transition is counted once across
//! instances); every `acquire` and `record` sets the `BreakerState{Breaker}` gauge to the state
//! this instance knows ([`crate::metrics`]). The per-instance fallback's own transitions are not
//! counted; its state is the gauge's while it is in use.
//!
//! Time is wall-clock epoch ms ([`WallClock`]), comparable across instances; tests inject a
//! [`ManualWallClock`]. Instances whose clocks differ by a lot disagree on windows: such an
//! outcome is dropped rather than counted in the wrong window.

mod machine;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use machine::{Change, Guard, Machine, Record, StateName, StateStore};
pub use machine::{ManualWallClock, SystemWallClock, WallClock};

use crate::aws::{OPERATION_TIMEOUT, sdk_error};
use crate::breaker::BreakerState;
use crate::circuit::{Admission, CircuitGate, Gate};
use crate::config::{ConfigError, required_env};
use crate::error::Error;

/// The environment variable naming the breakers table: `BREAKERS_TABLE`.
pub const BREAKERS_TABLE_VAR: &str = "BREAKERS_TABLE";

/// When a shared breaker opens, for how long, and how long an instance trusts what it read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CircuitConfig {
    /// Outcomes are counted in fixed windows of this length (aligned on multiples of it since
    /// the epoch). Default 10 s.
    pub window: Duration,
    /// Fewer calls than this in a window never open the breaker. Default 5. Also the number of
    /// consecutive failures that open the per-instance fallback breaker.
    pub min_calls: u32,
    /// `failures / calls >= failure_rate` (with at least `min_calls` calls) opens it.
    /// Default 0.5.
    pub failure_rate: f64,
    /// How long an open breaker refuses calls before one probe may go. Default 10 s. Also how
    /// long the instance stays on its fallback before asking a failed table again.
    pub open_for: Duration,
    /// A probe that never reports is replaced after this. Default 5 s (longer than one
    /// logical call of the outside client).
    pub probe_lease: Duration,
    /// How long an instance trusts a closed (or half-open) state it read before reading again;
    /// an open state is trusted until its `open_until`. Default 1 s.
    pub cache_for: Duration,
}

impl Default for CircuitConfig {
    /// Windows of 10 s, 5 calls, 50 % failures; open 10 s; probe lease 5 s; cache 1 s.
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            min_calls: 5,
            failure_rate: 0.5,
            open_for: Duration::from_secs(10),
            probe_lease: Duration::from_secs(5),
            cache_for: Duration::from_secs(1),
        }
    }
}

/// A circuit breaker whose state lives in a DynamoDB item, shared by every instance that uses
/// the same table and name; see the module doc. Thread-safe: share one per cold start (behind
/// an `Arc` if several clients use it).
pub struct DynamoCircuit {
    machine: Machine<DynamoStore>,
}

impl std::fmt::Debug for DynamoCircuit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoCircuit")
            .field("table", &self.machine_store().table)
            .field("name", &self.machine_store().name)
            .finish_non_exhaustive()
    }
}

impl DynamoCircuit {
    /// The breaker `name` (e.g. `"payment-provider"`) in `table`, on the system clock.
    pub fn new(
        client: Client,
        table: impl Into<String>,
        name: impl Into<String>,
        config: CircuitConfig,
    ) -> Self {
        Self::with_clock(client, table, name, config, Arc::new(SystemWallClock))
    }

    /// The same on `clock` (tests drive time with a [`ManualWallClock`]).
    pub fn with_clock(
        client: Client,
        table: impl Into<String>,
        name: impl Into<String>,
        config: CircuitConfig,
        clock: Arc<dyn WallClock>,
    ) -> Self {
        let name = name.into();
        let store = DynamoStore {
            client,
            table: table.into(),
            name: name.clone(),
        };
        Self {
            machine: Machine::new(store, name, config, clock),
        }
    }

    /// The breaker `name` in the table named by `BREAKERS_TABLE`, with the default
    /// [`CircuitConfig`].
    ///
    /// # Errors
    /// [`ConfigError`] when `BREAKERS_TABLE` is missing or empty.
    pub fn from_env(sdk: &aws_config::SdkConfig, name: &str) -> Result<Self, ConfigError> {
        let table = required_env(BREAKERS_TABLE_VAR)?;
        Ok(Self::new(
            Client::new(sdk),
            table,
            name,
            CircuitConfig::default(),
        ))
    }

    /// The state as last known by this instance (for logs and tests), without a request:
    /// `Closed` before anything was read, `HalfOpen` for an open state whose `open_until` is
    /// over; the per-instance breaker's state while on the fallback.
    pub async fn state(&self) -> BreakerState {
        self.machine.state()
    }

    /// Whether the instance is on its per-instance fallback (the table failed last time).
    pub fn on_fallback(&self) -> bool {
        self.machine.on_fallback()
    }

    fn machine_store(&self) -> &DynamoStore {
        self.machine.store()
    }
}

#[async_trait]
impl CircuitGate for DynamoCircuit {
    /// Also sets the `BreakerState` gauge ([`crate::metrics`]) to the state it decided on.
    async fn acquire(&self) -> Gate {
        let gate = self.machine.acquire().await;
        self.machine.report_state();
        gate
    }

    /// Also sets the `BreakerState` gauge to the state after the outcome.
    async fn record(&self, admission: Admission, success: bool) {
        self.machine.record(admission, success).await;
        self.machine.report_state();
    }
}

/// One breaker's item in the table.
struct DynamoStore {
    client: Client,
    table: String,
    name: String,
}

/// Expression attribute names: every attribute is aliased (`name` and `state` are reserved
/// words). No token is a prefix of another, so [`DynamoStore::names`] can find them by search.
const NAMES: &[(&str, &str)] = &[
    ("#name", "name"),
    ("#state", "state"),
    ("#wstart", "window_start"),
    ("#calls", "calls"),
    ("#fails", "failures"),
    ("#openu", "open_until"),
    ("#probeu", "probe_until"),
    ("#opened", "opened"),
    ("#upd", "updated_at"),
];

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(state: StateName) -> AttributeValue {
    AttributeValue::S(state.as_str().to_owned())
}

impl DynamoStore {
    fn context(&self, operation: &str) -> String {
        format!(
            "DynamoDB {operation} of breaker {} on table {}",
            self.name, self.table
        )
    }

    /// `request`, bounded by [`OPERATION_TIMEOUT`] even when the client was built without
    /// [`crate::aws::load`]'s timeouts: a hung table must not hold the call it guards.
    async fn bounded<T>(
        &self,
        operation: &str,
        request: impl Future<Output = T>,
    ) -> Result<T, Error> {
        tokio::time::timeout(OPERATION_TIMEOUT, request)
            .await
            .map_err(|_elapsed| {
                Error::ServiceUnavailable(format!(
                    "{}: no answer within {OPERATION_TIMEOUT:?}",
                    self.context(operation)
                ))
            })
    }

    fn key(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([("name".to_owned(), AttributeValue::S(self.name.clone()))])
    }

    /// The aliases used in `expressions` (DynamoDB rejects unused ones).
    fn names(expressions: &[&str]) -> HashMap<String, String> {
        NAMES
            .iter()
            .filter(|(token, _)| expressions.iter().any(|e| e.contains(token)))
            .map(|(token, name)| ((*token).to_owned(), (*name).to_owned()))
            .collect()
    }

    /// An `UpdateItem` of this item with `update` on `condition`, and `values`.
    fn update(
        &self,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> UpdateItemFluentBuilder {
        let values = values
            .into_iter()
            .map(|(token, value)| (token.to_owned(), value))
            .collect();
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key()))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(Self::names(&[update, condition])))
            .set_expression_attribute_values(Some(values))
    }

    fn record(&self, item: HashMap<String, AttributeValue>) -> Result<Record, Error> {
        serde_dynamo::from_item(item)
            .map_err(|e| Error::internal(self.context("GetItem (reading the breaker's item)"), e))
    }
}

#[async_trait]
impl StateStore for DynamoStore {
    async fn get(&self) -> Result<Option<Record>, Error> {
        let request = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key()))
            .consistent_read(true)
            .send();
        let output = self
            .bounded("GetItem", request)
            .await?
            .map_err(|e| sdk_error(self.context("GetItem"), e))?;
        output.item.map(|item| self.record(item)).transpose()
    }

    async fn count(
        &self,
        window_start: u64,
        failed: bool,
        now: u64,
    ) -> Result<Option<Record>, Error> {
        let update = "ADD #calls :one, #fails :f \
             SET #state = if_not_exists(#state, :closed), #wstart = :w, #upd = :now, \
             #openu = if_not_exists(#openu, :zero), #probeu = if_not_exists(#probeu, :zero), \
             #opened = if_not_exists(#opened, :zero)";
        let condition = "attribute_not_exists(#name) OR (#state = :closed AND #wstart = :w)";
        let values = vec![
            (":one", n(1)),
            (":f", n(u64::from(failed))),
            (":closed", s(StateName::Closed)),
            (":w", n(window_start)),
            (":now", n(now)),
            (":zero", n(0)),
        ];
        let request = self
            .update(update, condition, values)
            .return_values(ReturnValue::AllNew)
            .send();
        let result = self.bounded("UpdateItem (count)", request).await?;
        match result {
            Ok(output) => match output.attributes {
                Some(item) => self.record(item).map(Some),
                None => Err(Error::internal(
                    self.context("UpdateItem"),
                    "no attributes returned with ReturnValues ALL_NEW",
                )),
            },
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_error(self.context("UpdateItem (count)"), e)),
        }
    }

    async fn transition(&self, guard: Guard, change: Change, now: u64) -> Result<bool, Error> {
        let (condition, guard_state, guard_time) = match guard {
            Guard::ClosedInWindow(w) => {
                ("#state = :gs AND #wstart = :gt", StateName::Closed, Some(w))
            }
            Guard::ClosedBefore(w) => {
                ("#state = :gs AND #wstart < :gt", StateName::Closed, Some(w))
            }
            Guard::OpenUntil(t) => ("#state = :gs AND #openu = :gt", StateName::Open, Some(t)),
            Guard::HalfOpenUntil(t) => (
                "#state = :gs AND #probeu = :gt",
                StateName::HalfOpen,
                Some(t),
            ),
            Guard::HalfOpen => ("#state = :gs", StateName::HalfOpen, None),
        };
        let mut values = vec![(":gs", s(guard_state)), (":now", n(now))];
        if let Some(time) = guard_time {
            values.push((":gt", n(time)));
        }
        let update = match change {
            Change::StartWindow {
                window_start,
                failed,
            } => {
                values.extend([
                    (":w", n(window_start)),
                    (":one", n(1)),
                    (":f", n(u64::from(failed))),
                ]);
                "SET #wstart = :w, #calls = :one, #fails = :f, #upd = :now"
            }
            Change::Open { until } => {
                values.extend([
                    (":ns", s(StateName::Open)),
                    (":until", n(until)),
                    (":zero", n(0)),
                    (":one", n(1)),
                ]);
                "SET #state = :ns, #openu = :until, #probeu = :zero, #upd = :now ADD #opened :one"
            }
            Change::Probe { until } => {
                values.extend([(":ns", s(StateName::HalfOpen)), (":until", n(until))]);
                "SET #state = :ns, #probeu = :until, #upd = :now"
            }
            Change::Close { window_start } => {
                values.extend([
                    (":ns", s(StateName::Closed)),
                    (":w", n(window_start)),
                    (":zero", n(0)),
                ]);
                "SET #state = :ns, #wstart = :w, #calls = :zero, #fails = :zero, \
                 #openu = :zero, #probeu = :zero, #upd = :now"
            }
        };
        let request = self.update(update, condition, values).send();
        match self.bounded("UpdateItem (transition)", request).await? {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error(self.context("UpdateItem (transition)"), e)),
        }
    }
}
