//! The outcome of a load run: the [`Report`] `devstack load --json` writes, its latencies and
//! orders, and the readable summary table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// Latency percentiles, milliseconds (from the scheduled send time).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
}

/// What became of the `mix` run's orders.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Orders {
    /// `POST /orders` answered `201`.
    pub placed: u64,
    /// Settled `CONFIRMED`.
    pub confirmed: u64,
    /// Settled `REJECTED`.
    pub rejected: u64,
    /// Settled `CANCELLED`.
    pub cancelled: u64,
    /// Still `PENDING` (or unreadable) when the settle deadline passed.
    pub pending: u64,
    /// Orders beyond those placed: listed for a customer but never answered `201`, or created
    /// again by an idempotent replay.
    pub doubled: u64,
    /// Placed orders missing from their customer's list.
    pub lost: u64,
    /// Orders not answered `201` during the run (timeouts, 5xx) that answered `201` when sent
    /// again with their `Idempotency-Key` afterwards; accounted with the placed ones (the
    /// run's errors still count them).
    pub resent: u64,
}

/// The outcome of one load run: the JSON `devstack load --json` writes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// `get-product` or `mix`.
    pub scenario: String,
    /// Requests per second scheduled.
    pub rate: f64,
    /// Seconds of schedule.
    pub duration_s: f64,
    /// Requests scheduled (sent, or refused by the in-flight bound).
    pub sent: u64,
    /// Requests answered with the expected status (`200`; `201` for an order).
    pub ok: u64,
    /// Every other outcome, by status (`"500"`) or kind (`timeout`, `connect`,
    /// `in_flight_bound`, `request`).
    pub errors: BTreeMap<String, u64>,
    /// Answers per second: answered requests over the time from the first scheduled send to
    /// the last answer.
    pub throughput_rps: f64,
    /// Latency of every answered request.
    pub latency_ms: Latency,
    /// The orders (`mix` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders: Option<Orders>,
    /// The accounting held (`mix`; `true` for `get-product`, which places nothing).
    pub accounting_ok: bool,
    /// What did not add up, one sentence each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounting_issues: Vec<String>,
}

impl Report {
    /// Zero errors and the accounting held: `devstack load` exits 0.
    pub fn passed(&self) -> bool {
        self.errors.is_empty() && self.accounting_ok
    }

    /// A readable summary table.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "scenario {}: {} req/s for {} s",
            self.scenario, self.rate, self.duration_s
        );
        let _ = writeln!(
            s,
            "  {:>8} {:>8} {:>8} {:>12} {:>9} {:>9} {:>9} {:>9}",
            "sent", "ok", "errors", "throughput", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
        );
        let _ = writeln!(
            s,
            "  {:>8} {:>8} {:>8} {:>10.1}/s {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            self.sent,
            self.ok,
            self.errors.values().sum::<u64>(),
            self.throughput_rps,
            l.p50,
            l.p99,
            l.p999,
            l.max
        );
        for (kind, n) in &self.errors {
            let _ = writeln!(s, "  error {kind}: {n}");
        }
        if let Some(o) = &self.orders {
            let _ = writeln!(
                s,
                "  orders: {} placed (+{} resent after no answer), {} confirmed, {} rejected, {} cancelled, {} pending, {} doubled, {} lost",
                o.placed,
                o.resent,
                o.confirmed,
                o.rejected,
                o.cancelled,
                o.pending,
                o.doubled,
                o.lost
            );
        }
        let _ = writeln!(
            s,
            "  accounting: {}",
            if self.accounting_ok { "OK" } else { "MISMATCH" }
        );
        for issue in &self.accounting_issues {
            let _ = writeln!(s, "    - {issue}");
        }
        let _ = writeln!(
            s,
            "  result: {}",
            if self.passed() { "PASS" } else { "FAIL" }
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_with_an_error_or_a_mismatch_fails() {
        let clean = Report {
            accounting_ok: true,
            ..Report::default()
        };
        let mut errored = clean.clone();
        errored.errors.insert("503".into(), 1);
        let mismatched = Report::default();

        assert!(clean.passed());
        assert!(!errored.passed());
        assert!(!mismatched.passed());
        assert!(errored.summary().contains("error 503: 1"));
    }

    #[test]
    fn the_json_has_the_agreed_shape() {
        let report = Report {
            scenario: "mix".into(),
            orders: Some(Orders::default()),
            accounting_ok: true,
            ..Report::default()
        };

        let v = serde_json::to_value(&report).unwrap();

        for key in [
            "scenario",
            "rate",
            "duration_s",
            "sent",
            "ok",
            "errors",
            "throughput_rps",
            "latency_ms",
            "orders",
            "accounting_ok",
        ] {
            assert!(v.get(key).is_some(), "{key} missing from {v}");
        }
        for key in ["p50", "p99", "p999", "max"] {
            assert!(v["latency_ms"].get(key).is_some(), "latency_ms.{key}");
        }
        for key in [
            "placed",
            "confirmed",
            "rejected",
            "cancelled",
            "pending",
            "doubled",
        ] {
            assert!(v["orders"].get(key).is_some(), "orders.{key}");
        }
    }
}
