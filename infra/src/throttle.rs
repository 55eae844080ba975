//! API Gateway route throttling: one token bucket per route, sized by the template's
//! `DefaultRouteSettings` and `RouteSettings` (`ThrottlingRateLimit` requests per second,
//! `ThrottlingBurstLimit` at once). A request that finds the bucket empty is answered
//! 429 `{"message":"Too Many Requests"}` before the authorizer or the function runs.
//! See <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html>.
//!
//! The buckets are [`governor`]'s GCRA limiters, which behave as a token bucket refilled
//! continuously. The account-level quota AWS adds on top (10,000 requests per second) is not
//! emulated.
//!
//! For load tests, `devstack up --throttle-scale <factor>` multiplies every route's limits
//! ([`Throttles::scaled`]) and `--no-throttle` lifts them ([`Throttles::none`]).

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::template::Throttle;

/// What a route's throttling allows.
#[derive(Debug, Clone)]
enum Bucket {
    /// No limit set.
    Unlimited,
    /// A limit of 0: every request is throttled (API Gateway's way to switch a route off).
    Closed,
    /// A token bucket.
    Limited(Arc<DefaultDirectRateLimiter>),
}

/// The token buckets of every route, by route key (`GET /health`), with the settings each was
/// sized from (so [`Throttles::scaled`] can size them again).
#[derive(Debug, Clone, Default)]
pub struct Throttles {
    buckets: BTreeMap<String, (Throttle, Bucket)>,
}

impl Throttles {
    /// No route is throttled.
    pub fn none() -> Self {
        Self::default()
    }

    /// Sets the bucket of route `route_key` from its throttle settings.
    pub fn insert(&mut self, route_key: &str, throttle: Throttle) {
        self.buckets
            .insert(route_key.to_owned(), (throttle, bucket(throttle)));
    }

    /// Every route's limits multiplied by `factor` (see [`scale`]), in fresh (full) buckets.
    /// A factor of 1 sizes the buckets as the template does.
    pub fn scaled(&self, factor: f64) -> Self {
        let mut out = Self::none();
        for (route_key, (throttle, _)) in &self.buckets {
            out.insert(route_key, scale(*throttle, factor));
        }
        out
    }

    /// Takes one request's token from `route_key`'s bucket: `false` when the request must be
    /// answered 429.
    pub fn admit(&self, route_key: &str) -> bool {
        match self.buckets.get(route_key).map(|(_, b)| b) {
            None | Some(Bucket::Unlimited) => true,
            Some(Bucket::Closed) => false,
            Some(Bucket::Limited(limiter)) => limiter.check().is_ok(),
        }
    }
}

/// `throttle` with its rate (requests per second) and burst (requests) multiplied by `factor`,
/// for `devstack up --throttle-scale`. An unset limit stays unset and a limit of 0 stays 0 (the
/// route stays closed); a scaled burst is rounded up, at least 1, at most `u32::MAX`. A factor
/// that is not a positive finite number leaves `throttle` as it is (the CLI refuses those).
pub fn scale(throttle: Throttle, factor: f64) -> Throttle {
    if !(factor.is_finite() && factor > 0.0) {
        return throttle;
    }
    Throttle {
        rate_per_sec: throttle.rate_per_sec.map(|r| r * factor),
        burst: throttle.burst.map(|b| {
            if b == 0 {
                0
            } else {
                one_second_of(f64::from(b) * factor)
            }
        }),
    }
}

/// The bucket for `throttle` (see [`quota`]).
fn bucket(throttle: Throttle) -> Bucket {
    match quota(throttle) {
        Limit::Unlimited => Bucket::Unlimited,
        Limit::Closed => Bucket::Closed,
        Limit::Quota(quota) => Bucket::Limited(Arc::new(RateLimiter::direct(quota))),
    }
}

/// What [`quota`] makes of a route's throttle settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Unlimited,
    Closed,
    Quota(Quota),
}

/// The GCRA quota for `throttle`: refilled at `rate_per_sec`, holding `burst` (a missing rate
/// is `burst` per second, a missing burst is one second's worth of the rate, at least 1). A
/// rate or burst of 0 closes the route.
fn quota(throttle: Throttle) -> Limit {
    let (rate, burst) = match (throttle.rate_per_sec, throttle.burst) {
        (None, None) => return Limit::Unlimited,
        (Some(rate), burst) => (rate, burst.unwrap_or_else(|| one_second_of(rate))),
        (None, Some(burst)) => (f64::from(burst), burst),
    };
    let Some(burst) = NonZeroU32::new(burst) else {
        return Limit::Closed;
    };
    if !(rate.is_finite() && rate > 0.0) {
        return Limit::Closed;
    }
    // One token every 1/rate seconds; at least 1 ns so huge rates stay representable.
    let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
    match Quota::with_period(period) {
        Some(quota) => Limit::Quota(quota.allow_burst(burst)),
        None => Limit::Unlimited,
    }
}

/// `rate` rounded up to a whole number of requests, at least 1.
fn one_second_of(rate: f64) -> u32 {
    let ceil = rate.ceil();
    if ceil >= f64::from(u32::MAX) {
        u32::MAX
    } else if ceil >= 1.0 {
        // In range and whole: the cast is exact.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked above"
        )]
        let n = ceil as u32;
        n
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttles(rate: Option<f64>, burst: Option<u32>) -> Throttles {
        let mut t = Throttles::none();
        t.insert(
            "GET /health",
            Throttle {
                rate_per_sec: rate,
                burst,
            },
        );
        t
    }

    fn admitted(t: &Throttles, n: usize) -> usize {
        (0..n).filter(|_| t.admit("GET /health")).count()
    }

    #[test]
    fn a_burst_above_the_limit_is_cut_at_the_burst_size() {
        // 1 request per hour: no refill during the test.
        let t = throttles(Some(1.0 / 3600.0), Some(10));

        assert_eq!(admitted(&t, 50), 10);
    }

    #[test]
    fn the_bucket_refills_at_the_rate() {
        // The route's quota on a clock the test moves, so no pause of the test machine can
        // refill the bucket between two checks.
        let Limit::Quota(quota) = quota(Throttle {
            rate_per_sec: Some(1000.0),
            burst: Some(1),
        }) else {
            panic!("a rate and a burst make a quota");
        };
        let clock = governor::clock::FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
        assert!(limiter.check().is_ok());
        assert!(limiter.check().is_err());

        clock.advance(Duration::from_micros(999));
        assert!(limiter.check().is_err(), "refilled before 1 ms at 1000/s");
        clock.advance(Duration::from_micros(1));

        assert!(limiter.check().is_ok());
    }

    #[test]
    fn a_zero_limit_closes_the_route_and_no_settings_leave_it_open() {
        assert_eq!(admitted(&throttles(Some(0.0), Some(5)), 3), 0);
        assert_eq!(admitted(&throttles(Some(5.0), Some(0)), 3), 0);
        assert_eq!(admitted(&throttles(None, None), 1000), 1000);
        assert!(Throttles::none().admit("GET /anything"));
    }

    #[test]
    fn scaling_multiplies_the_rate_and_rounds_the_burst_up() {
        let template = Throttle {
            rate_per_sec: Some(50.0),
            burst: Some(100),
        };

        assert_eq!(
            scale(template, 20.0),
            Throttle {
                rate_per_sec: Some(1000.0),
                burst: Some(2000)
            }
        );
        assert_eq!(
            scale(template, 0.001),
            Throttle {
                rate_per_sec: Some(0.05),
                burst: Some(1)
            }
        );
        assert_eq!(scale(template, 1.0), template);
    }

    #[test]
    fn scaling_keeps_unset_and_zero_limits() {
        let unset = Throttle::default();
        let closed = Throttle {
            rate_per_sec: Some(0.0),
            burst: Some(0),
        };

        assert_eq!(scale(unset, 10.0), unset);
        assert_eq!(scale(closed, 10.0), closed);
        assert_eq!(admitted(&throttles(Some(0.0), Some(0)).scaled(10.0), 3), 0);
    }

    #[test]
    fn a_scaled_route_admits_a_burst_of_the_scaled_size() {
        // 1 request per hour, burst 10: no refill during the test.
        let t = throttles(Some(1.0 / 3600.0), Some(10));

        assert_eq!(admitted(&t.scaled(3.0), 50), 30);
        assert_eq!(admitted(&t.scaled(0.5), 50), 5);
        assert_eq!(admitted(&t.scaled(1.0), 50), 10);
    }

    #[test]
    fn routes_have_buckets_of_their_own() {
        let mut t = throttles(Some(1.0 / 3600.0), Some(1));
        t.insert(
            "GET /other",
            Throttle {
                rate_per_sec: Some(1.0 / 3600.0),
                burst: Some(1),
            },
        );

        assert!(t.admit("GET /health"));
        assert!(!t.admit("GET /health"));
        assert!(t.admit("GET /other"));
    }
}
