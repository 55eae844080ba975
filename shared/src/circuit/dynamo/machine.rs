//! The shared breaker's state machine, over any [`StateStore`] (DynamoDB in production, an
//! in-memory store in the unit tests below), with the instance's own memory of the state (what
//! it may trust without a read) and the per-instance fallback.
//!
//! Every transition is a conditional write on the store ([`Guard`]): the instance that read a
//! state acts on it only if it is still that state, so concurrent instances agree (one opens,
//! one claims the probe, ...). The store is the truth; the memory only saves reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::CircuitConfig;
use crate::breaker::{Breaker, BreakerConfig, BreakerState, Clock, Permit};
use crate::circuit::{Admission, Gate};
use crate::error::Error;

/// Wall-clock time in milliseconds since the Unix epoch: the shared breaker's times are
/// compared across instances (and machines), so they cannot be [`Instant`]s.
pub trait WallClock: Send + Sync {
    /// Now, in epoch ms.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock ([`SystemTime`]); 0 before 1970.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemWallClock;

impl WallClock for SystemWallClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, millis)
    }
}

/// A wall clock that moves only when told to ([`ManualWallClock::advance`]); for tests.
/// Several breakers may share one (`Arc<ManualWallClock>`), like instances sharing real time.
#[derive(Debug)]
pub struct ManualWallClock(AtomicU64);

impl ManualWallClock {
    /// A clock at `start_ms` (epoch ms).
    pub fn at(start_ms: u64) -> Self {
        Self(AtomicU64::new(start_ms))
    }

    /// A clock at the system's now.
    pub fn new() -> Self {
        Self::at(SystemWallClock.now_ms())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(millis(by), Ordering::SeqCst);
    }
}

impl Default for ManualWallClock {
    fn default() -> Self {
        Self::new()
    }
}

impl WallClock for ManualWallClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl<C: WallClock + ?Sized> WallClock for Arc<C> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

/// `duration` in whole ms, saturating.
pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The state names as stored (`"closed"`, `"open"`, `"half_open"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StateName {
    Closed,
    Open,
    HalfOpen,
}

impl StateName {
    /// The stored string.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// One breaker's stored state (the item without its key); times in epoch ms, 0 when unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) state: StateName,
    #[serde(default)]
    pub(crate) window_start: u64,
    #[serde(default)]
    pub(crate) calls: u64,
    #[serde(default)]
    pub(crate) failures: u64,
    #[serde(default)]
    pub(crate) open_until: u64,
    #[serde(default)]
    pub(crate) probe_until: u64,
    #[serde(default)]
    pub(crate) opened: u64,
    #[serde(default)]
    pub(crate) updated_at: u64,
}

/// The condition of a [`StateStore::transition`]: the state the writer read, still there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    /// Closed, counting in the window starting at this ms.
    ClosedInWindow(u64),
    /// Closed, counting in a window that started before this ms.
    ClosedBefore(u64),
    /// Open until exactly this ms.
    OpenUntil(u64),
    /// Half-open with the probe lease ending at exactly this ms.
    HalfOpenUntil(u64),
    /// Half-open, whatever the lease.
    HalfOpen,
}

#[cfg(test)]
impl Guard {
    /// Whether `record` meets the guard (an absent item meets none).
    pub(crate) fn holds(self, record: &Record) -> bool {
        match self {
            Self::ClosedInWindow(w) => {
                record.state == StateName::Closed && record.window_start == w
            }
            Self::ClosedBefore(w) => record.state == StateName::Closed && record.window_start < w,
            Self::OpenUntil(t) => record.state == StateName::Open && record.open_until == t,
            Self::HalfOpenUntil(t) => {
                record.state == StateName::HalfOpen && record.probe_until == t
            }
            Self::HalfOpen => record.state == StateName::HalfOpen,
        }
    }
}

/// The write of a [`StateStore::transition`] (each also sets `updated_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// A new counting window: `calls = 1`, `failures = failed as 0|1`.
    StartWindow { window_start: u64, failed: bool },
    /// Open until this ms; `opened += 1`, no probe lease.
    Open { until: u64 },
    /// Half-open: a probe holds the lease until this ms.
    Probe { until: u64 },
    /// Closed, counters at 0 in the window starting at this ms, no times.
    Close { window_start: u64 },
}

#[cfg(test)]
impl Change {
    /// `record` after the change at `now`.
    pub(crate) fn apply(self, record: &mut Record, now: u64) {
        match self {
            Self::StartWindow {
                window_start,
                failed,
            } => {
                record.window_start = window_start;
                record.calls = 1;
                record.failures = u64::from(failed);
            }
            Self::Open { until } => {
                record.state = StateName::Open;
                record.open_until = until;
                record.probe_until = 0;
                record.opened += 1;
            }
            Self::Probe { until } => {
                record.state = StateName::HalfOpen;
                record.probe_until = until;
            }
            Self::Close { window_start } => {
                *record = Record {
                    state: StateName::Closed,
                    window_start,
                    calls: 0,
                    failures: 0,
                    open_until: 0,
                    probe_until: 0,
                    opened: record.opened,
                    updated_at: now,
                };
            }
        }
        record.updated_at = now;
    }
}

/// Where one breaker's state is kept. Every method is one request to the store; an `Err` is
/// the store failing (unreachable, throttled, misconfigured), never a condition not met.
#[async_trait]
pub(crate) trait StateStore: Send + Sync {
    /// The stored state; `None` before the first write.
    async fn get(&self) -> Result<Option<Record>, Error>;

    /// Counts one outcome in the closed window starting at `window_start`: `calls += 1`,
    /// `failures += failed`, creating a closed item if there is none. `None` (nothing written)
    /// when the breaker is not closed or counts in another window.
    async fn count(
        &self,
        window_start: u64,
        failed: bool,
        now: u64,
    ) -> Result<Option<Record>, Error>;

    /// Applies `change` if `guard` holds; `false` (nothing written) when it does not.
    async fn transition(&self, guard: Guard, change: Change, now: u64) -> Result<bool, Error>;
}

/// What this instance remembers of the shared state, and until when it may trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Memory {
    /// Nothing trusted: read the store.
    Unknown,
    /// Closed as read (or written) at `at`: trusted for `cache_for`.
    Closed { at: u64 },
    /// Open until `until`: trusted until then.
    Open { until: u64 },
    /// Half-open with a probe leased until `probe_until` (this instance's or another's), as
    /// read at `at`: trusted for `cache_for`, and never past the lease.
    HalfOpen { probe_until: u64, at: u64 },
}

/// The per-instance breaker used while the store fails.
struct Fallback {
    breaker: Breaker<FallbackClock>,
    /// When the local breaker opened last, until when (epoch ms): its `retry_after`.
    open_until: u64,
    /// When to ask the store again (epoch ms).
    retry_store_at: u64,
    /// [`CircuitConfig::open_for`] in ms.
    open_for: u64,
}

/// The [`WallClock`] as the monotonic [`Clock`] the per-instance [`Breaker`] wants.
struct FallbackClock {
    clock: Arc<dyn WallClock>,
    base: Instant,
    base_ms: u64,
}

impl Clock for FallbackClock {
    fn now(&self) -> Instant {
        let since = self.clock.now_ms().saturating_sub(self.base_ms);
        self.base + Duration::from_millis(since)
    }
}

struct Local {
    memory: Memory,
    fallback: Option<Fallback>,
}

/// The breaker: state machine, memory, fallback. See the module doc of [`super`].
pub(crate) struct Machine<S> {
    store: S,
    name: String,
    config: CircuitConfig,
    clock: Arc<dyn WallClock>,
    local: Mutex<Local>,
}

/// Refused until `until` (epoch ms): `retry_after` is the time left, at least 1 ms.
fn rejected(until: u64, now: u64) -> Gate {
    Gate::Rejected {
        retry_after: Duration::from_millis(until.saturating_sub(now).max(1)),
    }
}

/// What the memory says about an `acquire`.
enum Recall {
    Decided(Gate),
    AskStore,
}

impl<S: StateStore> Machine<S> {
    pub(crate) fn new(
        store: S,
        name: String,
        config: CircuitConfig,
        clock: Arc<dyn WallClock>,
    ) -> Self {
        Self {
            store,
            name,
            config,
            clock,
            local: Mutex::new(Local {
                memory: Memory::Unknown,
                fallback: None,
            }),
        }
    }

    /// The store (for `Debug`).
    pub(crate) fn store(&self) -> &S {
        &self.store
    }

    fn ms(duration: Duration) -> u64 {
        millis(duration)
    }

    fn window_of(&self, now: u64) -> u64 {
        let window = Self::ms(self.config.window).max(1);
        now - now % window
    }

    fn remember(&self, memory: Memory) {
        crate::sync::lock(&self.local).memory = memory;
    }

    /// Remembers closed after a counting write succeeded, unless a concurrent acquire of this
    /// instance has meanwhile seen the breaker open or half-open (newer news).
    fn remember_counted(&self, now: u64) {
        let mut local = crate::sync::lock(&self.local);
        if matches!(local.memory, Memory::Closed { .. } | Memory::Unknown) {
            local.memory = Memory::Closed { at: now };
        }
    }

    /// Whether the call may go: see [`crate::circuit::CircuitGate::acquire`].
    pub(crate) async fn acquire(&self) -> Gate {
        let now = self.clock.now_ms();
        if let Recall::Decided(gate) = self.recall(now) {
            return gate;
        }
        let record = match self.store.get().await {
            Ok(record) => record,
            Err(error) => return self.fail_over(&error, now, |fallback| fallback.acquire(now)),
        };
        self.store_answered();
        let Some(record) = record else {
            self.remember(Memory::Closed { at: now });
            return Gate::Admitted(Admission::Normal);
        };
        match record.state {
            StateName::Closed => {
                self.remember(Memory::Closed { at: now });
                Gate::Admitted(Admission::Normal)
            }
            StateName::Open if now < record.open_until => {
                self.remember(Memory::Open {
                    until: record.open_until,
                });
                rejected(record.open_until, now)
            }
            StateName::HalfOpen if now < record.probe_until => {
                self.remember(Memory::HalfOpen {
                    probe_until: record.probe_until,
                    at: now,
                });
                rejected(record.probe_until, now)
            }
            // Open and over, or a probe whose lease ran out: claim the probe.
            StateName::Open => self.claim(Guard::OpenUntil(record.open_until), now).await,
            StateName::HalfOpen => {
                self.claim(Guard::HalfOpenUntil(record.probe_until), now)
                    .await
            }
        }
    }

    /// The memory's (or the fallback's) answer, when it has one.
    fn recall(&self, now: u64) -> Recall {
        let mut local = crate::sync::lock(&self.local);
        if let Some(fallback) = local.fallback.as_mut()
            && now < fallback.retry_store_at
        {
            return Recall::Decided(fallback.acquire(now));
        }
        let cache_for = Self::ms(self.config.cache_for);
        match local.memory {
            Memory::Closed { at } if now < at.saturating_add(cache_for) => {
                Recall::Decided(Gate::Admitted(Admission::Normal))
            }
            Memory::Open { until } if now < until => Recall::Decided(rejected(until, now)),
            Memory::HalfOpen { probe_until, at }
                if now < probe_until && now < at.saturating_add(cache_for) =>
            {
                Recall::Decided(rejected(probe_until, now))
            }
            _ => Recall::AskStore,
        }
    }

    /// Claims the probe of a breaker read as `guard`: one conditional write, so of all the
    /// instances that read the same state exactly one gets [`Admission::Probe`].
    async fn claim(&self, guard: Guard, now: u64) -> Gate {
        let until = now.saturating_add(Self::ms(self.config.probe_lease));
        match self
            .store
            .transition(guard, Change::Probe { until }, now)
            .await
        {
            Ok(claimed) => {
                self.remember(Memory::HalfOpen {
                    probe_until: until,
                    at: now,
                });
                if claimed {
                    BreakerState::HalfOpen.report_transition(&self.name);
                    tracing::info!(circuit = %self.name, "circuit half-open: this instance probes");
                    Gate::Admitted(Admission::Probe)
                } else {
                    // Another instance claimed it (or the state moved on): its lease is at most
                    // `probe_lease` from now.
                    rejected(until, now)
                }
            }
            Err(error) => self.fail_over(&error, now, |fallback| fallback.acquire(now)),
        }
    }

    /// The outcome of a call `acquire` admitted: see [`crate::circuit::CircuitGate::record`].
    pub(crate) async fn record(&self, admission: Admission, success: bool) {
        let now = self.clock.now_ms();
        {
            let mut local = crate::sync::lock(&self.local);
            if let Some(fallback) = local.fallback.as_mut() {
                fallback.record(admission, success, now);
                return;
            }
        }
        let result = match admission {
            Admission::Normal => self.count(success, now).await,
            Admission::Probe => self.settle_probe(success, now).await,
        };
        if let Err(error) = result {
            self.fail_over(&error, now, |fallback| {
                fallback.record(admission, success, now);
            });
        }
    }

    /// Counts a normal call's outcome in the current window; opens the breaker when the
    /// window's failure rate reaches the threshold. A call that ended after this instance saw
    /// the breaker leave closed says nothing about now: not counted.
    async fn count(&self, success: bool, now: u64) -> Result<(), Error> {
        let memory = crate::sync::lock(&self.local).memory;
        if !matches!(memory, Memory::Closed { .. } | Memory::Unknown) {
            return Ok(());
        }
        let failed = !success;
        let window = self.window_of(now);
        // At most three writes: count; else start this window; else (another instance just
        // started it) count again.
        for attempt in 0..2 {
            if let Some(record) = self.store.count(window, failed, now).await? {
                self.remember_counted(now);
                return self
                    .open_if_over(record.calls, record.failures, window, now)
                    .await;
            }
            if attempt == 1 {
                break;
            }
            // Not closed, or closed counting in an older window: start this one.
            let start = Change::StartWindow {
                window_start: window,
                failed,
            };
            if self
                .store
                .transition(Guard::ClosedBefore(window), start, now)
                .await?
            {
                self.remember_counted(now);
                return self.open_if_over(1, u64::from(failed), window, now).await;
            }
        }
        // Not closed any more (or another instance's clock is ahead): ask again next time.
        self.remember(Memory::Unknown);
        Ok(())
    }

    async fn open_if_over(
        &self,
        calls: u64,
        failures: u64,
        window: u64,
        now: u64,
    ) -> Result<(), Error> {
        let min_calls = u64::from(self.config.min_calls.max(1));
        #[expect(
            clippy::cast_precision_loss,
            reason = "call counts in one window are far below 2^52"
        )]
        let rate = failures as f64 / calls.max(1) as f64;
        if calls < min_calls || failures == 0 || rate < self.config.failure_rate {
            return Ok(());
        }
        let until = now.saturating_add(Self::ms(self.config.open_for));
        if self
            .store
            .transition(Guard::ClosedInWindow(window), Change::Open { until }, now)
            .await?
        {
            BreakerState::Open.report_transition(&self.name);
            tracing::warn!(
                circuit = %self.name,
                calls,
                failures,
                open_for_ms = Self::ms(self.config.open_for),
                "circuit opened: failure rate over the threshold"
            );
            self.remember(Memory::Open { until });
        } else {
            self.remember(Memory::Unknown);
        }
        Ok(())
    }

    /// The probe's outcome: success closes the breaker (counters reset), failure opens it
    /// again for `open_for`. Either only if it is still half-open.
    async fn settle_probe(&self, success: bool, now: u64) -> Result<(), Error> {
        let (change, memory) = if success {
            let window_start = self.window_of(now);
            (Change::Close { window_start }, Memory::Closed { at: now })
        } else {
            let until = now.saturating_add(Self::ms(self.config.open_for));
            (Change::Open { until }, Memory::Open { until })
        };
        if self.store.transition(Guard::HalfOpen, change, now).await? {
            let to = if success {
                BreakerState::Closed
            } else {
                BreakerState::Open
            };
            to.report_transition(&self.name);
            if success {
                tracing::info!(circuit = %self.name, "circuit closed: the probe succeeded");
            } else {
                tracing::warn!(circuit = %self.name, "circuit re-opened: the probe failed");
            }
            self.remember(memory);
        } else {
            self.remember(Memory::Unknown);
        }
        Ok(())
    }

    /// The store failed: switch to (or stay on) the per-instance breaker and let it answer.
    fn fail_over<T>(&self, error: &Error, now: u64, answer: impl FnOnce(&mut Fallback) -> T) -> T {
        let open_for = Self::ms(self.config.open_for);
        let mut local = crate::sync::lock(&self.local);
        let fallback = local.fallback.get_or_insert_with(|| {
            tracing::warn!(
                circuit = %self.name,
                error = %error.chain(),
                retry_in_ms = open_for,
                "circuit state store failed: falling back to a per-instance breaker"
            );
            let clock = FallbackClock {
                clock: self.clock.clone(),
                base: Instant::now(),
                base_ms: now,
            };
            let config = BreakerConfig {
                failure_threshold: self.config.min_calls.max(1),
                open_for: self.config.open_for,
            };
            Fallback {
                breaker: Breaker::with_clock(config, clock),
                open_until: 0,
                retry_store_at: 0,
                open_for,
            }
        });
        tracing::debug!(circuit = %self.name, error = %error.chain(), "circuit state store failed");
        fallback.retry_store_at = now.saturating_add(open_for);
        answer(fallback)
    }

    /// The store answered: leave the fallback if on it.
    fn store_answered(&self) {
        let mut local = crate::sync::lock(&self.local);
        if local.fallback.take().is_some() {
            tracing::info!(
                circuit = %self.name,
                "circuit state store answers again: back to the shared breaker"
            );
        }
    }

    /// The state as last known, without a request.
    pub(crate) fn state(&self) -> BreakerState {
        let now = self.clock.now_ms();
        let local = crate::sync::lock(&self.local);
        if let Some(fallback) = local.fallback.as_ref() {
            return fallback.breaker.state();
        }
        match local.memory {
            Memory::Unknown | Memory::Closed { .. } => BreakerState::Closed,
            Memory::Open { until } if now < until => BreakerState::Open,
            Memory::Open { .. } | Memory::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Sets the `BreakerState` gauge of this breaker to [`Machine::state`].
    pub(crate) fn report_state(&self) {
        self.state().report(&self.name);
    }

    /// Whether the per-instance fallback is in use.
    pub(crate) fn on_fallback(&self) -> bool {
        crate::sync::lock(&self.local).fallback.is_some()
    }
}

impl Fallback {
    fn acquire(&mut self, now: u64) -> Gate {
        match self.breaker.try_acquire() {
            Some(Permit::Normal) => Gate::Admitted(Admission::Normal),
            Some(Permit::Probe) => Gate::Admitted(Admission::Probe),
            None if now < self.open_until => rejected(self.open_until, now),
            // Half-open with its probe out: a lost probe is replaced after `open_for`.
            None => rejected(now.saturating_add(self.open_for), now),
        }
    }

    fn record(&mut self, admission: Admission, success: bool, now: u64) {
        let permit = match admission {
            Admission::Normal => Permit::Normal,
            Admission::Probe => Permit::Probe,
        };
        if success {
            let _recovery = self.breaker.succeeded(permit);
        } else if self.breaker.failed(permit) {
            self.open_until = now.saturating_add(self.open_for);
            tracing::warn!(
                open_for_ms = self.open_for,
                "per-instance fallback breaker opened"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    use super::*;

    /// The store as one item in memory; counts requests; can be made to fail. `get` yields
    /// once, so concurrent acquires all read before any of them writes (the race the
    /// conditional writes must settle).
    #[derive(Debug, Default)]
    struct MemoryStore {
        item: Mutex<Option<Record>>,
        gets: AtomicUsize,
        writes: AtomicUsize,
        down: AtomicBool,
    }

    impl MemoryStore {
        fn check(&self) -> Result<(), Error> {
            if self.down.load(Ordering::SeqCst) {
                Err(Error::ServiceUnavailable("the test's store is down".into()))
            } else {
                Ok(())
            }
        }

        fn item(&self) -> Option<Record> {
            *crate::sync::lock(&self.item)
        }

        fn gets(&self) -> usize {
            self.gets.load(Ordering::SeqCst)
        }

        fn writes(&self) -> usize {
            self.writes.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl StateStore for Arc<MemoryStore> {
        async fn get(&self) -> Result<Option<Record>, Error> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            self.check()?;
            let item = self.item();
            tokio::task::yield_now().await;
            Ok(item)
        }

        async fn count(
            &self,
            window_start: u64,
            failed: bool,
            now: u64,
        ) -> Result<Option<Record>, Error> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.check()?;
            let mut item = crate::sync::lock(&self.item);
            let record = item.get_or_insert(Record {
                state: StateName::Closed,
                window_start,
                calls: 0,
                failures: 0,
                open_until: 0,
                probe_until: 0,
                opened: 0,
                updated_at: now,
            });
            if record.state != StateName::Closed || record.window_start != window_start {
                return Ok(None);
            }
            record.calls += 1;
            record.failures += u64::from(failed);
            record.updated_at = now;
            Ok(Some(*record))
        }

        async fn transition(&self, guard: Guard, change: Change, now: u64) -> Result<bool, Error> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.check()?;
            let mut item = crate::sync::lock(&self.item);
            match item.as_mut() {
                Some(record) if guard.holds(record) => {
                    change.apply(record, now);
                    Ok(true)
                }
                _ => Ok(false),
            }
        }
    }

    type Instance = Machine<Arc<MemoryStore>>;

    /// A multiple of the 10 s window, plus 1 s: no test crosses a window by accident.
    const START: u64 = 1_700_000_001_000;

    fn config() -> CircuitConfig {
        CircuitConfig {
            window: Duration::from_secs(10),
            min_calls: 4,
            failure_rate: 0.5,
            open_for: Duration::from_secs(10),
            probe_lease: Duration::from_secs(5),
            cache_for: Duration::from_secs(1),
        }
    }

    /// `n` instances of one breaker on one store and one clock.
    fn instances(n: usize) -> (Vec<Instance>, Arc<MemoryStore>, Arc<ManualWallClock>) {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualWallClock::at(START));
        let instances = (0..n)
            .map(|_| Machine::new(store.clone(), "test".to_owned(), config(), clock.clone()))
            .collect();
        (instances, store, clock)
    }

    async fn call(instance: &Instance, success: bool) {
        match instance.acquire().await {
            Gate::Admitted(admission) => instance.record(admission, success).await,
            Gate::Rejected { .. } => panic!("the call was refused"),
        }
    }

    /// Opens the breaker through `instance`: 4 failed calls.
    async fn open(instance: &Instance) {
        for _ in 0..4 {
            call(instance, false).await;
        }
        assert_eq!(instance.state(), BreakerState::Open);
    }

    fn rejected_for(ms: u64) -> Gate {
        Gate::Rejected {
            retry_after: Duration::from_millis(ms),
        }
    }

    const NORMAL: Gate = Gate::Admitted(Admission::Normal);
    const PROBE: Gate = Gate::Admitted(Admission::Probe);

    #[tokio::test]
    async fn fewer_calls_than_min_calls_never_open_it_whatever_they_say() {
        let (instances, store, _) = instances(1);

        for _ in 0..3 {
            call(&instances[0], false).await;
        }

        assert_eq!(instances[0].acquire().await, NORMAL);
        assert_eq!(store.item().map(|r| (r.calls, r.failures)), Some((3, 3)));
        assert_eq!(store.item().map(|r| r.state), Some(StateName::Closed));
    }

    #[tokio::test]
    async fn a_failure_rate_at_the_threshold_opens_it_for_every_instance() {
        let (instances, store, _) = instances(2);
        let (a, b) = (&instances[0], &instances[1]);

        call(a, true).await;
        call(b, false).await;
        call(a, true).await;
        call(b, false).await;

        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(a.acquire().await, NORMAL, "a trusts its read for cache_for");
        let record = store.item().unwrap();
        assert_eq!(
            (record.state, record.open_until, record.opened),
            (StateName::Open, START + 10_000, 1)
        );
    }

    #[tokio::test]
    async fn an_instance_that_reads_the_open_state_refuses_until_open_until() {
        let (instances, _, clock) = instances(2);
        let (a, b) = (&instances[0], &instances[1]);
        open(a).await;

        clock.advance(Duration::from_secs(3));

        assert_eq!(b.acquire().await, rejected_for(7_000));
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test]
    async fn a_failure_rate_under_the_threshold_keeps_it_closed() {
        let (instances, store, _) = instances(1);

        for success in [true, true, false, true, false, true] {
            call(&instances[0], success).await;
        }

        assert_eq!(store.item().map(|r| r.state), Some(StateName::Closed));
        assert_eq!(instances[0].acquire().await, NORMAL);
    }

    #[tokio::test]
    async fn outcomes_of_an_earlier_window_do_not_count() {
        let (instances, store, clock) = instances(1);
        for _ in 0..3 {
            call(&instances[0], false).await;
        }

        clock.advance(Duration::from_secs(10));
        call(&instances[0], false).await;

        let record = store.item().unwrap();
        assert_eq!(record.state, StateName::Closed);
        assert_eq!(
            (record.window_start, record.calls, record.failures),
            (START - 1_000 + 10_000, 1, 1)
        );
    }

    #[tokio::test]
    async fn an_open_breaker_is_not_read_again_before_open_until() {
        let (instances, store, clock) = instances(2);
        let (a, b) = (&instances[0], &instances[1]);
        open(a).await;
        let _ = b.acquire().await;
        let gets = store.gets();

        clock.advance(Duration::from_millis(9_999));
        for _ in 0..10 {
            assert_eq!(a.acquire().await, rejected_for(1));
            assert_eq!(b.acquire().await, rejected_for(1));
        }

        assert_eq!(store.gets(), gets);
    }

    #[tokio::test]
    async fn a_closed_state_is_read_at_most_once_per_cache_for() {
        let (instances, store, clock) = instances(1);

        for _ in 0..10 {
            assert_eq!(instances[0].acquire().await, NORMAL);
        }
        assert_eq!(store.gets(), 1);
        clock.advance(Duration::from_millis(999));
        assert_eq!(instances[0].acquire().await, NORMAL);
        assert_eq!(store.gets(), 1);
        clock.advance(Duration::from_millis(1));
        assert_eq!(instances[0].acquire().await, NORMAL);

        assert_eq!(store.gets(), 2);
    }

    #[tokio::test]
    async fn a_record_is_one_write_while_the_window_lasts() {
        let (instances, store, _) = instances(1);
        call(&instances[0], true).await;
        let writes = store.writes();

        call(&instances[0], true).await;

        assert_eq!(store.writes(), writes + 1);
    }

    #[tokio::test]
    async fn after_open_for_exactly_one_of_many_concurrent_acquires_gets_the_probe() {
        let (instances, _, clock) = instances(8);
        open(&instances[0]).await;
        clock.advance(Duration::from_secs(10));

        let gates = futures::future::join_all(instances.iter().map(Instance::acquire)).await;

        assert_eq!(
            gates.iter().filter(|g| **g == PROBE).count(),
            1,
            "{gates:?}"
        );
        assert!(
            gates
                .iter()
                .all(|g| *g == PROBE || *g == rejected_for(5_000)),
            "{gates:?}"
        );
    }

    #[tokio::test]
    async fn a_successful_probe_closes_it_for_every_instance_with_counters_reset() {
        let (instances, store, clock) = instances(2);
        let (a, b) = (&instances[0], &instances[1]);
        open(a).await;
        let _ = b.acquire().await;
        clock.advance(Duration::from_secs(10));

        assert_eq!(a.acquire().await, PROBE);
        assert_eq!(b.acquire().await, rejected_for(5_000));
        a.record(Admission::Probe, true).await;
        clock.advance(Duration::from_secs(1));

        assert_eq!(a.state(), BreakerState::Closed);
        assert_eq!(b.acquire().await, NORMAL);
        let record = store.item().unwrap();
        assert_eq!(
            (record.state, record.calls, record.failures),
            (StateName::Closed, 0, 0)
        );
        assert_eq!((record.open_until, record.probe_until), (0, 0));
    }

    #[tokio::test]
    async fn a_failed_probe_opens_it_again_for_open_for() {
        let (instances, store, clock) = instances(2);
        let (a, b) = (&instances[0], &instances[1]);
        open(a).await;
        clock.advance(Duration::from_secs(10));

        assert_eq!(b.acquire().await, PROBE);
        clock.advance(Duration::from_secs(2));
        b.record(Admission::Probe, false).await;

        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(a.acquire().await, rejected_for(10_000));
        assert_eq!(store.item().map(|r| r.opened), Some(2));
        clock.advance(Duration::from_millis(9_999));
        assert_eq!(a.acquire().await, rejected_for(1));
        clock.advance(Duration::from_millis(1));
        assert_eq!(a.acquire().await, PROBE);
    }

    #[tokio::test]
    async fn a_probe_that_never_reports_is_replaced_after_its_lease() {
        let (instances, _, clock) = instances(2);
        let (a, b) = (&instances[0], &instances[1]);
        open(a).await;
        clock.advance(Duration::from_secs(10));
        assert_eq!(a.acquire().await, PROBE);

        clock.advance(Duration::from_millis(4_999));
        assert_eq!(b.acquire().await, rejected_for(1));
        clock.advance(Duration::from_millis(1));

        assert_eq!(b.acquire().await, PROBE);
    }

    #[tokio::test]
    async fn a_late_success_of_a_call_admitted_while_closed_does_not_close_an_open_breaker() {
        let (instances, store, clock) = instances(2);
        let (a, b) = (&instances[0], &instances[1]);
        let slow = a.acquire().await;
        open(b).await;
        clock.advance(Duration::from_secs(1));
        assert_eq!(a.acquire().await, rejected_for(9_000));
        let writes = store.writes();

        if let Gate::Admitted(admission) = slow {
            a.record(admission, true).await;
        }

        assert_eq!(store.item().map(|r| r.state), Some(StateName::Open));
        assert_eq!(store.writes(), writes, "not even counted");
    }

    #[tokio::test]
    async fn a_failing_store_falls_back_to_a_per_instance_breaker_that_still_opens() {
        let (instances, store, _) = instances(1);
        let a = &instances[0];
        store.down.store(true, Ordering::SeqCst);

        for _ in 0..4 {
            call(a, false).await;
        }

        assert!(a.on_fallback());
        assert_eq!(a.acquire().await, rejected_for(10_000));
        assert_eq!(a.state(), BreakerState::Open);
    }

    #[tokio::test]
    async fn on_the_fallback_the_store_is_asked_again_only_after_open_for() {
        let (instances, store, clock) = instances(1);
        let a = &instances[0];
        store.down.store(true, Ordering::SeqCst);
        assert_eq!(a.acquire().await, NORMAL);
        let requests = store.gets() + store.writes();

        a.record(Admission::Normal, true).await;
        for _ in 0..5 {
            assert_eq!(a.acquire().await, NORMAL);
        }
        assert_eq!(store.gets() + store.writes(), requests);

        store.down.store(false, Ordering::SeqCst);
        clock.advance(Duration::from_millis(9_999));
        assert_eq!(a.acquire().await, NORMAL);
        assert!(a.on_fallback());
        clock.advance(Duration::from_millis(1));
        assert_eq!(a.acquire().await, NORMAL);

        assert!(
            !a.on_fallback(),
            "the store answered: back to the shared state"
        );
        assert_eq!(store.gets(), requests + 1);
    }

    #[tokio::test]
    async fn a_store_that_fails_again_on_the_recheck_keeps_the_local_state() {
        let (instances, store, clock) = instances(1);
        let a = &instances[0];
        store.down.store(true, Ordering::SeqCst);
        for _ in 0..4 {
            call(a, false).await;
        }

        clock.advance(Duration::from_secs(10));
        let gate = a.acquire().await;

        assert_eq!(gate, PROBE, "the local breaker probes after open_for");
        assert!(a.on_fallback());
    }
}
