//! The console's read side: the views `GET /console/api/functions` and `GET /console/api/metrics`
//! serve ([`FunctionView`], [`MetricsView`]), computed from the store under its lock (nearest-rank
//! quantiles, requests per route, gateway latency per time bucket, cache ratio, breaker states).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Console, Series, Store};

/// A route's function, latencies (ms) and counts by status class, while counting.
type RouteAcc = (String, Vec<f64>, BTreeMap<String, u64>);

/// The series of `metric` whose `Function` dimension is `function`.
fn of_function<'a>(
    s: &'a Store,
    metric: &'a str,
    function: &'a str,
) -> impl Iterator<Item = &'a Series> + 'a {
    s.series
        .iter()
        .filter(move |(k, _)| {
            k.name == metric && k.dimensions.get("Function").map(String::as_str) == Some(function)
        })
        .map(|(_, v)| v)
}

/// The nearest-rank `q`-quantile (0..=1) of `values`; `None` when empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// `GET /console/api/functions`: one function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionView {
    /// The binary name.
    pub function: String,
    /// Invocations (devstack's Invoker).
    pub invocations: u64,
    /// Function errors and Invoke API failures.
    pub errors: u64,
    /// Timeouts.
    pub timeouts: u64,
    /// Invocations in flight now (instances busy).
    pub in_flight: u64,
    /// Most in flight at once (instances used).
    pub peak_in_flight: u64,
    /// Invocation duration p50 and p99 as devstack measured it, ms.
    pub duration_p50_ms: Option<f64>,
    /// See `duration_p50_ms`.
    pub duration_p99_ms: Option<f64>,
    /// EMF `ColdStart` total.
    pub cold_starts: u64,
    /// EMF `Latency` (HTTP) or `BatchLatency` (consumers) p50 and p99, ms.
    pub latency_p50_ms: Option<f64>,
    /// See `latency_p50_ms`.
    pub latency_p99_ms: Option<f64>,
}

/// `GET /console/api/metrics`: one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesView {
    /// Metric name.
    pub name: String,
    /// Unit as declared.
    pub unit: String,
    /// Dimension values.
    pub dimensions: BTreeMap<String, String>,
    /// Values ever received.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The latest value.
    pub last: Option<f64>,
    /// The latest points `[ms since the epoch, value]`, oldest first (at most
    /// [`POINTS_SERVED`]).
    pub points: Vec<(i64, f64)>,
}

/// Points of a series served at most.
pub const POINTS_SERVED: usize = 200;

/// Requests of one route over the kept requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteView {
    /// Route key.
    pub route: String,
    /// The function behind it.
    pub function: String,
    /// Requests kept.
    pub requests: u64,
    /// By status class (`2xx`…`5xx`).
    pub status_classes: BTreeMap<String, u64>,
    /// Gateway latency p50 and p99, ms.
    pub p50_ms: Option<f64>,
    /// See `p50_ms`.
    pub p99_ms: Option<f64>,
}

/// Gateway latency over one time bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyBucket {
    /// Bucket start, ms since the epoch.
    pub time_ms: i64,
    /// Requests in it.
    pub requests: u64,
    /// p50 and p99 of their latency, ms.
    pub p50_ms: Option<f64>,
    /// See `p50_ms`.
    pub p99_ms: Option<f64>,
}

/// Cache hits and misses (EMF `CacheHits`, `CacheMisses`, `CacheErrors` totals).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheView {
    /// Hits.
    pub hits: f64,
    /// Misses.
    pub misses: f64,
    /// Errors.
    pub errors: f64,
    /// hits / (hits + misses); `None` before any.
    pub ratio: Option<f64>,
}

/// One breaker's state (EMF `BreakerState`: 0 closed, 1 half-open, 2 open).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerView {
    /// `Breaker` dimension.
    pub breaker: String,
    /// `Function` dimension.
    pub function: String,
    /// The latest value.
    pub value: f64,
    /// `closed`, `half_open`, `open`.
    pub state: String,
    /// When reported, ms since the epoch.
    pub time_ms: i64,
    /// Latest values `[ms, value]`, oldest first.
    pub points: Vec<(i64, f64)>,
}

/// `GET /console/api/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsView {
    /// EMF lines read.
    pub emf_lines: u64,
    /// Every series.
    pub series: Vec<SeriesView>,
    /// Requests per route.
    pub routes: Vec<RouteView>,
    /// Gateway latency per [`BUCKET_MS`] over the last [`BUCKETS`] buckets, oldest first.
    pub latency: Vec<LatencyBucket>,
    /// Cache.
    pub cache: CacheView,
    /// Breakers.
    pub breakers: Vec<BreakerView>,
}

/// Width of a latency bucket, ms.
pub const BUCKET_MS: i64 = 10_000;
/// Latency buckets served.
pub const BUCKETS: i64 = 30;

/// The name of a `BreakerState` value.
pub fn breaker_state(value: f64) -> &'static str {
    if value >= 1.5 {
        "open"
    } else if value >= 0.5 {
        "half_open"
    } else {
        "closed"
    }
}

impl Console {
    /// Every function seen (or listed), by name.
    pub fn functions(&self) -> Vec<FunctionView> {
        let s = self.lock();
        let mut names: Vec<String> = s.functions.keys().cloned().collect();
        for k in s.series.keys() {
            if let Some(f) = k.dimensions.get("Function")
                && !names.contains(f)
            {
                names.push(f.clone());
            }
        }
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let stats = s.functions.get(&name).cloned().unwrap_or_default();
                let durations: Vec<f64> = stats.durations.iter().copied().collect();
                let cold_starts = of_function(&s, "ColdStart", &name)
                    .map(|v| v.sum)
                    .sum::<f64>() as u64;
                let latencies: Vec<f64> = of_function(&s, "Latency", &name)
                    .chain(of_function(&s, "BatchLatency", &name))
                    .flat_map(|v| v.points.iter().map(|p| p.1))
                    .collect();
                FunctionView {
                    invocations: stats.invocations,
                    errors: stats.errors,
                    timeouts: stats.timeouts,
                    in_flight: stats.in_flight,
                    peak_in_flight: stats.peak_in_flight,
                    duration_p50_ms: quantile(&durations, 0.5),
                    duration_p99_ms: quantile(&durations, 0.99),
                    cold_starts,
                    latency_p50_ms: quantile(&latencies, 0.5),
                    latency_p99_ms: quantile(&latencies, 0.99),
                    function: name.clone(),
                }
            })
            .collect()
    }

    /// The charts' data, with latency buckets ending at `now_ms`.
    pub fn metrics(&self, now_ms: i64) -> MetricsView {
        let s = self.lock();
        let series: Vec<SeriesView> = s
            .series
            .iter()
            .map(|(k, v)| SeriesView {
                name: k.name.clone(),
                unit: v.unit.clone(),
                dimensions: k.dimensions.clone(),
                count: v.count,
                sum: v.sum,
                last: v.points.last().map(|p| p.1),
                points: v
                    .points
                    .iter()
                    .skip(v.points.len().saturating_sub(POINTS_SERVED))
                    .copied()
                    .collect(),
            })
            .collect();
        let total = |name: &str| {
            series
                .iter()
                .filter(|x| x.name == name)
                .map(|x| x.sum)
                .sum::<f64>()
        };
        let (hits, misses, errors) = (
            total("CacheHits"),
            total("CacheMisses"),
            total("CacheErrors"),
        );
        let cache = CacheView {
            hits,
            misses,
            errors,
            ratio: (hits + misses > 0.0).then(|| hits / (hits + misses)),
        };
        let breakers = series
            .iter()
            .filter(|x| x.name == "BreakerState")
            .filter_map(|x| {
                let (time_ms, value) = *x.points.last()?;
                Some(BreakerView {
                    breaker: x.dimensions.get("Breaker").cloned().unwrap_or_default(),
                    function: x.dimensions.get("Function").cloned().unwrap_or_default(),
                    value,
                    state: breaker_state(value).to_owned(),
                    time_ms,
                    points: x.points.clone(),
                })
            })
            .collect();
        let mut routes: BTreeMap<String, RouteAcc> = BTreeMap::new();
        for r in s.requests.iter() {
            let e = routes.entry(r.route.clone()).or_default();
            e.0.clone_from(&r.function);
            e.1.push(r.latency_ms as f64);
            *e.2.entry(format!("{}xx", r.status / 100)).or_default() += 1;
        }
        let routes = routes
            .into_iter()
            .map(|(route, (function, lat, classes))| RouteView {
                route,
                function,
                requests: lat.len() as u64,
                status_classes: classes,
                p50_ms: quantile(&lat, 0.5),
                p99_ms: quantile(&lat, 0.99),
            })
            .collect();
        let first = (now_ms / BUCKET_MS - (BUCKETS - 1)) * BUCKET_MS;
        let latency = (0..BUCKETS)
            .map(|i| {
                let start = first + i * BUCKET_MS;
                let lat: Vec<f64> = s
                    .requests
                    .iter()
                    .filter(|r| r.time_ms >= start && r.time_ms < start + BUCKET_MS)
                    .map(|r| r.latency_ms as f64)
                    .collect();
                LatencyBucket {
                    time_ms: start,
                    requests: lat.len() as u64,
                    p50_ms: quantile(&lat, 0.5),
                    p99_ms: quantile(&lat, 0.99),
                }
            })
            .collect();
        MetricsView {
            emf_lines: s.emf_lines,
            series,
            routes,
            latency,
            cache,
            breakers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::Ended;
    use crate::console::tests::request;

    #[test]
    fn the_nearest_rank_quantile_of_values_is_one_of_them() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&[7.0], 0.99), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn emf_lines_give_cold_starts_latency_cache_ratio_and_breaker_state() {
        let c = Console::new().with_functions(["create-order".to_owned()]);
        let line = |function: &str, body: &str, metrics: &str, dims: &str| {
            format!(
                r#"{{"_aws":{{"Timestamp":1000,"CloudWatchMetrics":[{{"Namespace":"Shop","Dimensions":[["Service","Function"{dims}]],"Metrics":[{metrics}]}}]}},"Service":"shop","Function":"{function}",{body}}}"#
            )
        };
        assert!(c.record_line(&line(
            "get-product",
            r#""ColdStart":1,"Latency":[2,4,6],"CacheHits":3,"CacheMisses":1"#,
            r#"{"Name":"ColdStart"},{"Name":"Latency"},{"Name":"CacheHits"},{"Name":"CacheMisses"}"#,
            ""
        )));
        assert!(c.record_line(&line(
            "capture-payment",
            r#""Breaker":"payment-provider","BreakerState":2"#,
            r#"{"Name":"BreakerState","Unit":"None"}"#,
            r#","Breaker""#
        )));
        assert!(!c.record_line(r#"{"level":"INFO","message":"request"}"#));

        let functions = c.functions();
        let names: Vec<&str> = functions.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            names,
            vec!["capture-payment", "create-order", "get-product"]
        );
        let gp = &functions[2];
        assert_eq!(gp.cold_starts, 1);
        assert_eq!(gp.latency_p50_ms, Some(4.0));
        assert_eq!(gp.latency_p99_ms, Some(6.0));

        let m = c.metrics(10_000);
        assert_eq!(m.emf_lines, 2);
        assert_eq!(m.cache.ratio, Some(0.75));
        assert_eq!(m.breakers.len(), 1);
        assert_eq!(m.breakers[0].state, "open");
        assert_eq!(m.breakers[0].breaker, "payment-provider");
    }

    #[test]
    fn invocations_count_errors_timeouts_and_instances_in_flight() {
        let c = Console::new();
        c.invocation_started("f");
        c.invocation_started("f");
        c.invocation_ended("f", 10.0, Ended::Ok);
        c.invocation_ended("f", 30.0, Ended::Error);
        c.invocation_started("f");
        c.invocation_ended("f", 20.0, Ended::TimedOut);
        let f = &c.functions()[0];
        assert_eq!(
            (
                f.invocations,
                f.errors,
                f.timeouts,
                f.in_flight,
                f.peak_in_flight
            ),
            (3, 1, 1, 0, 2)
        );
        assert_eq!(f.duration_p50_ms, Some(20.0));
    }

    #[test]
    fn requests_are_counted_per_route_and_latency_per_time_bucket() {
        let c = Console::new();
        c.record_request(request(1_000, "GET /x", 200, 5));
        c.record_request(request(2_000, "GET /x", 404, 15));
        c.record_request(request(12_000, "POST /y", 201, 40));
        let m = c.metrics(15_000);
        assert_eq!(m.routes.len(), 2);
        assert_eq!(m.routes[0].requests, 2);
        assert_eq!(m.routes[0].status_classes["2xx"], 1);
        assert_eq!(m.routes[0].status_classes["4xx"], 1);
        assert_eq!(m.latency.len(), BUCKETS as usize);
        let last_two: Vec<u64> = m.latency.iter().rev().take(2).map(|b| b.requests).collect();
        assert_eq!(last_two, vec![1, 2]);
        assert_eq!(m.latency.last().and_then(|b| b.p99_ms), Some(40.0));
    }
}
