//! The open-loop driver: request `i` is due at `start + i / rate`, sent through the scenario's
//! [`Plan`] unless [`Options::max_in_flight`] requests are outstanding, and timed from when it
//! was due; the answers are classified and tallied into what the run [`Measured`].

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use hdrhistogram::Histogram;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Options;
use super::report::{Latency, Report};

/// Requests scheduled: `rate × duration`, rounded, at least 1.
pub(super) fn scheduled(opts: &Options) -> u64 {
    let n = (opts.rate * opts.duration.as_secs_f64()).round();
    if n >= 1.0 {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "positive and rounded; a run of 2^64 requests is not a thing"
        )]
        let n = n as u64;
        n
    } else {
        1
    }
}

/// What a request's answer was.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The expected status.
    Ok,
    /// Another status, or a failure kind (`timeout`, `connect`, ...).
    Error(String),
}

/// One request of a scenario, by its index in the schedule.
pub(super) trait Plan: Send + Sync + 'static {
    /// Sends request `i`; what came of it.
    fn send(
        self: Arc<Self>,
        i: u64,
        http: reqwest::Client,
        gateway: Arc<str>,
    ) -> impl Future<Output = Outcome> + Send + 'static;
}

/// The outcome of a sent request (`expected` is the status that counts as ok) and its JSON
/// body (`null` unless ok and JSON).
pub(super) async fn classify(
    sent: Result<reqwest::Response, reqwest::Error>,
    expected: u16,
) -> (Outcome, Value) {
    match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            if status == expected {
                match resp.json::<Value>().await {
                    Ok(body) => (Outcome::Ok, body),
                    Err(e) => (Outcome::Error(error_kind(&e)), Value::Null),
                }
            } else {
                let _ = resp.bytes().await;
                (Outcome::Error(status.to_string()), Value::Null)
            }
        }
        Err(e) => (Outcome::Error(error_kind(&e)), Value::Null),
    }
}

/// `timeout`, `connect`, `body` or `request` for a failed request.
fn error_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    }
    .to_owned()
}

/// What the timed run measured.
pub(super) struct Measured {
    sent: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    /// Microseconds from the scheduled send to the answer.
    latency_us: Histogram<u64>,
    /// From the start to the last answer.
    elapsed: Duration,
}

impl Measured {
    /// The report of the timed run of `opts` (no orders, the accounting not yet held).
    pub(super) fn report(&self, opts: &Options) -> Report {
        let ms = |us: u64| {
            #[expect(
                clippy::cast_precision_loss,
                reason = "latencies are far below 2^52 µs"
            )]
            let us = us as f64;
            (us / 1000.0 * 1000.0).round() / 1000.0
        };
        let answered = self.latency_us.len();
        let secs = self.elapsed.as_secs_f64();
        #[expect(
            clippy::cast_precision_loss,
            reason = "request counts are far below 2^52"
        )]
        let throughput = if secs > 0.0 {
            answered as f64 / secs
        } else {
            0.0
        };
        let (p50, p99, p999, max) = if answered == 0 {
            (0, 0, 0, 0)
        } else {
            (
                self.latency_us.value_at_quantile(0.5),
                self.latency_us.value_at_quantile(0.99),
                self.latency_us.value_at_quantile(0.999),
                self.latency_us.max(),
            )
        };
        Report {
            scenario: opts.scenario.as_str().to_owned(),
            rate: opts.rate,
            duration_s: opts.duration.as_secs_f64(),
            sent: self.sent,
            ok: self.ok,
            errors: self.errors.clone(),
            throughput_rps: (throughput * 10.0).round() / 10.0,
            latency_ms: Latency {
                p50: ms(p50),
                p99: ms(p99),
                p999: ms(p999),
                max: ms(max),
            },
            orders: None,
            accounting_ok: false,
            accounting_issues: Vec::new(),
        }
    }
}

/// Tallies of the answered requests.
struct Tally {
    ok: u64,
    errors: BTreeMap<String, u64>,
    latency_us: Histogram<u64>,
    last: Instant,
}

/// Runs the schedule of `opts` through `plan`.
///
/// # Errors
/// A request task panicked (its tally is lost).
pub(super) async fn drive<P: Plan>(
    opts: &Options,
    http: &reqwest::Client,
    plan: Arc<P>,
) -> Result<Measured> {
    let total = scheduled(opts);
    let gateway: Arc<str> = Arc::from(opts.gateway.as_str());
    // 1 µs to 1 h, 3 significant digits; longer values saturate at the top.
    let histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
        .context("creating the latency histogram")?;
    let start = Instant::now();
    let tally = Arc::new(Mutex::new(Tally {
        ok: 0,
        errors: BTreeMap::new(),
        latency_us: histogram,
        last: start,
    }));
    let bound = Arc::new(Semaphore::new(opts.max_in_flight));
    let mut refused = 0u64;
    let mut tasks = JoinSet::new();
    for i in 0..total {
        #[expect(
            clippy::cast_precision_loss,
            reason = "request indexes are far below 2^52"
        )]
        let due = start + Duration::from_secs_f64(i as f64 / opts.rate);
        tokio::time::sleep_until(due).await;
        let Ok(permit) = bound.clone().try_acquire_owned() else {
            refused += 1;
            continue;
        };
        let plan = plan.clone();
        let http = http.clone();
        let gateway = gateway.clone();
        let tally = tally.clone();
        tasks.spawn(async move {
            let outcome = plan.send(i, http, gateway).await;
            let now = Instant::now();
            let us = u64::try_from(now.duration_since(due).as_micros()).unwrap_or(u64::MAX);
            drop(permit);
            if let Ok(mut t) = tally.lock() {
                t.latency_us.saturating_record(us.max(1));
                t.last = t.last.max(now);
                match outcome {
                    Outcome::Ok => t.ok += 1,
                    Outcome::Error(kind) => *t.errors.entry(kind).or_default() += 1,
                }
            }
        });
        // Reap finished tasks as we go, so the set does not hold the whole run.
        while let Some(done) = tasks.try_join_next() {
            done.context("a request task panicked")?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a request task panicked")?;
    }
    let t = tally
        .lock()
        .map_err(|_| anyhow!("a request task panicked"))?;
    let mut errors = t.errors.clone();
    if refused > 0 {
        tracing::error!(
            refused,
            max_in_flight = opts.max_in_flight,
            "requests not sent: --max-in-flight requests were outstanding (the stack does not keep up with the rate)"
        );
        errors.insert("in_flight_bound".to_owned(), refused);
    }
    Ok(Measured {
        sent: total,
        ok: t.ok,
        errors,
        latency_us: t.latency_us.clone(),
        elapsed: t.last.duration_since(start),
    })
}

/// Runs `f` over `items` with at most `limit` at once; the outputs in `items`' order.
pub(super) async fn bounded<T, O, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Vec<O>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = O> + Send + 'static,
    O: Send + 'static,
{
    let n = items.len();
    let gate = Arc::new(Semaphore::new(limit.max(1)));
    let mut set = JoinSet::new();
    for (k, item) in items.into_iter().enumerate() {
        let fut = f(item);
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            (k, fut.await)
        });
    }
    let mut out: Vec<Option<O>> = (0..n).map(|_| None).collect();
    while let Some(Ok((k, o))) = set.join_next().await {
        if let Some(slot) = out.get_mut(k) {
            *slot = Some(o);
        }
    }
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Scenario;

    #[test]
    fn the_schedule_holds_rate_times_duration_requests() {
        let opts = Options::new("http://x/", Scenario::Mix, 300.0, Duration::from_secs(60));

        assert_eq!(scheduled(&opts), 18_000);
        assert_eq!(opts.gateway, "http://x");
        assert_eq!(
            scheduled(&Options::new(
                "http://x",
                Scenario::Mix,
                0.1,
                Duration::from_secs(1)
            )),
            1
        );
    }

    #[tokio::test]
    async fn answers_beyond_the_in_flight_bound_are_refused_and_timed_from_their_schedule() {
        // Every answer takes 320 ms: at 20 req/s about 7 would be in flight; allow 3.
        struct Slow;
        impl Plan for Slow {
            async fn send(self: Arc<Self>, _: u64, _: reqwest::Client, _: Arc<str>) -> Outcome {
                tokio::time::sleep(Duration::from_millis(320)).await;
                Outcome::Ok
            }
        }
        let mut opts = Options::new(
            "http://x",
            Scenario::GetProduct,
            20.0,
            Duration::from_secs(1),
        );
        opts.max_in_flight = 3;

        let m = drive(&opts, &reqwest::Client::new(), Arc::new(Slow))
            .await
            .unwrap();

        let refused = m.errors.get("in_flight_bound").copied().unwrap_or(0);
        assert_eq!(m.sent, 20);
        assert_eq!(m.ok + refused, 20);
        assert!(refused >= 5, "only {refused} refused");
        assert!(m.ok >= 3, "only {} answered", m.ok);
        assert!(
            m.latency_us.min() >= 320_000,
            "min {} µs",
            m.latency_us.min()
        );
    }
}
