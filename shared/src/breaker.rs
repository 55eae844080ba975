//! A small circuit breaker (closed / open / half-open) for a dependency whose failure must cost
//! one timeout per interval, not one per request (the cache today, payments later).
//!
//! - **Closed**: calls go through; `failure_threshold` consecutive failures open it.
//! - **Open**: calls are refused at once for `open_for`.
//! - **Half-open** (after `open_for`): one call, the probe, goes through; its success closes the
//!   breaker, its failure opens it again for `open_for`. A probe that never reports (its future
//!   was dropped) is replaced by another after `open_for`.
//!
//! Generic over a [`Clock`] so tests drive time by hand ([`ManualClock`]).
//!
//! A named breaker ([`Breaker::named`], e.g. `cache`) reports to [`crate::metrics`]: one
//! `BreakerTransitions{Breaker, To}` per state change and its `BreakerState{Breaker}` gauge after
//! each call's outcome. An unnamed one (the shared circuit's per-instance fallback) reports
//! nothing.
//! Written here rather than taken from a crate: the maintained ones (e.g. `failsafe`) read time
//! from a clock tests cannot inject, and we need the open -> closed transition reported
//! ([`Recovery::Recovered`]) to repair what was missed while open.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::{self, Metric};

/// Where time comes from.
pub trait Clock: Send + Sync {
    /// Now, monotonic.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to ([`ManualClock::advance`]); for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<Instant>);

impl ManualClock {
    /// A clock at an arbitrary start.
    pub fn new() -> Self {
        Self(Mutex::new(Instant::now()))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = crate::sync::lock(&self.0);
        *now += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *crate::sync::lock(&self.0)
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open a closed breaker (at least 1).
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before it lets one probe through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    /// 3 failures, open for 5 s.
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            open_for: Duration::from_secs(5),
        }
    }
}

/// The breaker's state, as reported by [`Breaker::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused.
    Open,
    /// One probe may go (or is in flight).
    HalfOpen,
}

impl BreakerState {
    /// The `To` label of a breaker state: `closed`, `open`, `half_open` (the breakers table's
    /// names).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// The `BreakerState` gauge value: 0 closed, 1 half-open, 2 open.
    pub const fn gauge_value(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }

    /// Counts one `BreakerTransitions` of breaker `breaker` (e.g. `payment-provider`) to this
    /// state, and sets its `BreakerState` gauge (EMF, [`crate::metrics`]).
    pub fn report_transition(self, breaker: &str) {
        metrics::count(Metric::BreakerTransitions, 1, &[breaker, self.as_str()]);
        self.report(breaker);
    }

    /// Sets the `BreakerState` gauge of breaker `breaker` to this state.
    pub fn report(self, breaker: &str) {
        metrics::gauge(Metric::BreakerState, self.gauge_value(), &[breaker]);
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_since: Instant },
}

/// Permission to make one call, from [`Breaker::try_acquire`]; hand it back with
/// [`Breaker::succeeded`] or [`Breaker::failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "report the call's outcome with Breaker::succeeded or Breaker::failed"]
pub enum Permit {
    /// A call while closed.
    Normal,
    /// The one call of a half-open breaker.
    Probe,
}

/// What a success did to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// It was closed and stays closed.
    Steady,
    /// The probe succeeded: the breaker was open (or half-open) and is now closed.
    Recovered,
}

/// A circuit breaker; see the module doc. Thread-safe; share it behind an `Arc`.
#[derive(Debug)]
pub struct Breaker<K = SystemClock> {
    config: BreakerConfig,
    clock: K,
    state: Mutex<State>,
    name: Option<&'static str>,
}

impl Breaker<SystemClock> {
    /// A closed breaker on the system clock.
    pub fn new(config: BreakerConfig) -> Self {
        Self::with_clock(config, SystemClock)
    }
}

impl<K: Clock> Breaker<K> {
    /// A closed breaker on `clock`.
    pub fn with_clock(config: BreakerConfig, clock: K) -> Self {
        Self {
            config,
            clock,
            state: Mutex::new(State::Closed { failures: 0 }),
            name: None,
        }
    }

    /// The same breaker reporting its transitions and state as breaker `name` (the
    /// `Breaker` label, a static name such as `cache`; see the module doc).
    #[must_use]
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// Reports a transition to `to` when named.
    fn transitioned(&self, to: BreakerState) {
        if let Some(name) = self.name {
            to.report_transition(name);
        }
    }

    /// Sets the state gauge when named (after a call's outcome).
    fn report_state(&self) {
        if let Some(name) = self.name {
            self.state().report(name);
        }
    }

    /// Its state now (an open breaker whose interval is over reads as half-open).
    pub fn state(&self) -> BreakerState {
        match *crate::sync::lock(&self.state) {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if self.clock.now() < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// May a call go now? `None`: refused (open, or half-open with its probe in flight).
    pub fn try_acquire(&self) -> Option<Permit> {
        let now = self.clock.now();
        let mut state = crate::sync::lock(&self.state);
        match *state {
            State::Closed { .. } => Some(Permit::Normal),
            State::Open { until } if now < until => None,
            State::HalfOpen { probe_since } if now < probe_since + self.config.open_for => None,
            State::Open { .. } | State::HalfOpen { .. } => {
                let was_open = matches!(*state, State::Open { .. });
                *state = State::HalfOpen { probe_since: now };
                drop(state);
                if was_open {
                    self.transitioned(BreakerState::HalfOpen);
                }
                Some(Permit::Probe)
            }
        }
    }

    /// The call made under `permit` succeeded.
    pub fn succeeded(&self, permit: Permit) -> Recovery {
        let mut state = crate::sync::lock(&self.state);
        let recovered = match (*state, permit) {
            (State::Closed { .. }, _) => Recovery::Steady,
            // A normal call that started before the breaker opened says nothing about now.
            (State::Open { .. } | State::HalfOpen { .. }, Permit::Normal) => {
                drop(state);
                self.report_state();
                return Recovery::Steady;
            }
            (State::Open { .. } | State::HalfOpen { .. }, Permit::Probe) => Recovery::Recovered,
        };
        *state = State::Closed { failures: 0 };
        drop(state);
        if recovered == Recovery::Recovered {
            self.transitioned(BreakerState::Closed);
        }
        self.report_state();
        recovered
    }

    /// The call made under `permit` failed. Returns `true` when this failure opened the
    /// breaker.
    pub fn failed(&self, permit: Permit) -> bool {
        let now = self.clock.now();
        let mut state = crate::sync::lock(&self.state);
        let open = State::Open {
            until: now + self.config.open_for,
        };
        let opened = match (*state, permit) {
            (State::Closed { failures }, _) => {
                let failures = failures.saturating_add(1);
                if failures >= self.config.failure_threshold.max(1) {
                    *state = open;
                    true
                } else {
                    *state = State::Closed { failures };
                    false
                }
            }
            (State::HalfOpen { .. }, Permit::Probe) => {
                *state = open;
                true
            }
            (State::Open { .. } | State::HalfOpen { .. }, _) => false,
        };
        drop(state);
        if opened {
            self.transitioned(BreakerState::Open);
        }
        self.report_state();
        opened
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn breaker() -> (Breaker<Arc<ManualClock>>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        let config = BreakerConfig {
            failure_threshold: 2,
            open_for: Duration::from_secs(5),
        };
        (Breaker::with_clock(config, clock.clone()), clock)
    }

    #[test]
    fn a_closed_breaker_opens_after_the_threshold_of_consecutive_failures() {
        let (breaker, _) = breaker();

        let first = breaker.try_acquire().unwrap();
        assert!(!breaker.failed(first));
        assert_eq!(breaker.state(), BreakerState::Closed);
        let second = breaker.try_acquire().unwrap();
        assert!(breaker.failed(second));

        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.try_acquire(), None);
    }

    #[test]
    fn a_success_resets_the_count_of_consecutive_failures() {
        let (breaker, _) = breaker();

        let permit = breaker.try_acquire().unwrap();
        breaker.failed(permit);
        let permit = breaker.try_acquire().unwrap();
        assert_eq!(breaker.succeeded(permit), Recovery::Steady);
        let permit = breaker.try_acquire().unwrap();
        breaker.failed(permit);

        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn an_open_breaker_lets_one_probe_through_after_its_interval() {
        let (breaker, clock) = breaker();
        for _ in 0..2 {
            let permit = breaker.try_acquire().unwrap();
            breaker.failed(permit);
        }

        clock.advance(Duration::from_millis(4_999));
        assert_eq!(breaker.try_acquire(), None);
        clock.advance(Duration::from_millis(1));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        let probe = breaker.try_acquire();

        assert_eq!(probe, Some(Permit::Probe));
        assert_eq!(breaker.try_acquire(), None, "only one probe at a time");
    }

    #[test]
    fn a_successful_probe_closes_the_breaker_and_reports_the_recovery() {
        let (breaker, clock) = breaker();
        for _ in 0..2 {
            let permit = breaker.try_acquire().unwrap();
            breaker.failed(permit);
        }
        clock.advance(Duration::from_secs(5));
        let probe = breaker.try_acquire().unwrap();

        assert_eq!(breaker.succeeded(probe), Recovery::Recovered);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.try_acquire(), Some(Permit::Normal));
    }

    #[test]
    fn a_failed_probe_opens_the_breaker_for_another_interval() {
        let (breaker, clock) = breaker();
        for _ in 0..2 {
            let permit = breaker.try_acquire().unwrap();
            breaker.failed(permit);
        }
        clock.advance(Duration::from_secs(5));
        let probe = breaker.try_acquire().unwrap();

        assert!(breaker.failed(probe));
        assert_eq!(breaker.state(), BreakerState::Open);
        clock.advance(Duration::from_millis(4_999));
        assert_eq!(breaker.try_acquire(), None);
        clock.advance(Duration::from_millis(1));
        assert_eq!(breaker.try_acquire(), Some(Permit::Probe));
    }

    #[test]
    fn a_probe_that_never_reports_is_replaced_after_an_interval() {
        let (breaker, clock) = breaker();
        for _ in 0..2 {
            let permit = breaker.try_acquire().unwrap();
            breaker.failed(permit);
        }
        clock.advance(Duration::from_secs(5));
        let _lost = breaker.try_acquire().unwrap();

        clock.advance(Duration::from_secs(5));

        assert_eq!(breaker.try_acquire(), Some(Permit::Probe));
    }

    #[test]
    fn a_late_success_of_a_call_made_while_closed_does_not_close_an_open_breaker() {
        let (breaker, _) = breaker();
        let slow = breaker.try_acquire().unwrap();
        for _ in 0..2 {
            let permit = breaker.try_acquire().unwrap();
            breaker.failed(permit);
        }

        assert_eq!(breaker.succeeded(slow), Recovery::Steady);
        assert_eq!(breaker.state(), BreakerState::Open);
    }
}
