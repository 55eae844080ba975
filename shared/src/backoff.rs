//! The one backoff policy of the project: exponential with full jitter (AWS Architecture Blog,
//! "Exponential Backoff And Jitter"), computed by retry-policies' [`ExponentialBackoff`]. Used by
//! the outside-service client's retries ([`crate::outside`]), the users table's transaction
//! conflict retries ([`crate::aws`]) and devstack's own waits.

use std::time::{Duration, SystemTime};

use retry_policies::policies::ExponentialBackoff;
use retry_policies::{Jitter, RetryDecision, RetryPolicy};

/// The wait before retry number `past_retries + 1` ("full jitter", AWS Architecture Blog,
/// "Exponential Backoff And Jitter"): uniform in `[0, min(max, min_interval * 2^past_retries)]`.
///
/// retry-policies' [`ExponentialBackoff`] with [`Jitter::Full`] computes it; it answers an
/// instant, turned here into a duration from now. `min_interval` above `max` is clamped to
/// `max`.
pub fn full_jitter_backoff(min_interval: Duration, max: Duration, past_retries: u32) -> Duration {
    let policy = ExponentialBackoff::builder()
        .retry_bounds(min_interval.min(max), max)
        .jitter(Jitter::Full)
        .base(2)
        .build_with_max_retries(u32::MAX);
    match policy.should_retry(SystemTime::now(), past_retries) {
        RetryDecision::Retry { execute_after } => execute_after
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
        RetryDecision::DoNotRetry => max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_min_interval_above_the_max_is_clamped_instead_of_panicking() {
        let delay = full_jitter_backoff(Duration::from_secs(5), Duration::from_millis(10), 0);

        assert!(delay <= Duration::from_millis(10), "{delay:?}");
    }
}
