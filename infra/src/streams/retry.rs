//! What a stream mapping does after a failed batch: retry with exponential backoff (0.5 s
//! doubling up to 10 s), halve the batch first with `BisectBatchOnFunctionError` (not counted
//! as a retry), and give up after `MaximumRetryAttempts` retries (`None`: never).

use std::time::Duration;

/// First retry delay after a failed batch; it doubles per retry up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(500);
/// Longest retry delay.
const RETRY_MAX: Duration = Duration::from_secs(10);

/// What to do after a failed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Retry (from the checkpoint) after this delay.
    Retry(Duration),
    /// Give up on the batch's records: checkpoint past them.
    Discard,
}

/// Retry bookkeeping of one shard: attempts of the record at the head, and the batch size limit
/// (halved by `BisectBatchOnFunctionError`).
#[derive(Debug, Clone)]
pub(super) struct Retry {
    attempts: u32,
    limit: usize,
    batch_size: usize,
    max_attempts: Option<u32>,
    bisect: bool,
}

impl Retry {
    /// Bookkeeping for batches of at most `batch_size` records.
    pub(super) fn new(batch_size: usize, max_attempts: Option<u32>, bisect: bool) -> Self {
        Self {
            attempts: 0,
            limit: batch_size,
            batch_size,
            max_attempts,
            bisect,
        }
    }

    /// The batch size to deliver next: the mapping's, or less while bisecting.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// A failed batch is being retried (no batching window then).
    pub(super) fn retrying(&self) -> bool {
        self.attempts > 0 || self.limit < self.batch_size
    }

    /// The batch at the head succeeded (or was given up): counting starts again.
    pub(super) fn succeeded(&mut self) {
        self.attempts = 0;
        self.limit = self.batch_size;
    }

    /// After a failure of a batch of `delivered` records. `progressed`: records before the
    /// failure were checkpointed, so the head of the next batch has not failed before.
    pub(super) fn failed(
        &mut self,
        progressed: bool,
        function_error: bool,
        delivered: usize,
    ) -> Decision {
        if progressed {
            self.attempts = 0;
        }
        if function_error && self.bisect && delivered > 1 {
            // Splitting does not count as a retry (Lambda's rule).
            self.limit = delivered / 2;
            return Decision::Retry(RETRY_FIRST);
        }
        self.attempts += 1;
        if self.max_attempts.is_some_and(|max| self.attempts > max) {
            self.succeeded();
            return Decision::Discard;
        }
        let factor = 2u32.saturating_pow(self.attempts.saturating_sub(1).min(16));
        Decision::Retry(RETRY_FIRST.saturating_mul(factor).min(RETRY_MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop_after_the_maximum_when_one_is_set() {
        let mut forever = Retry::new(10, None, false);
        assert_eq!(
            forever.failed(false, true, 10),
            Decision::Retry(RETRY_FIRST)
        );
        assert_eq!(
            forever.failed(false, true, 10),
            Decision::Retry(RETRY_FIRST * 2)
        );
        for _ in 0..20 {
            assert_ne!(forever.failed(false, true, 10), Decision::Discard);
        }
        assert_eq!(forever.failed(false, true, 10), Decision::Retry(RETRY_MAX));

        let mut twice = Retry::new(10, Some(2), false);
        assert!(matches!(twice.failed(false, true, 10), Decision::Retry(_)));
        assert!(matches!(twice.failed(false, true, 10), Decision::Retry(_)));
        assert_eq!(twice.failed(false, true, 10), Decision::Discard);
        assert!(!twice.retrying());
    }
    #[test]
    fn progress_past_a_partial_failure_starts_the_count_again() {
        let mut r = Retry::new(10, Some(1), false);
        assert!(matches!(r.failed(false, false, 3), Decision::Retry(_)));
        assert!(matches!(r.failed(true, false, 2), Decision::Retry(_)));
        assert_eq!(r.failed(false, false, 2), Decision::Discard);
    }
    #[test]
    fn bisecting_halves_the_batch_without_counting_as_a_retry() {
        let mut r = Retry::new(8, Some(0), true);
        assert_eq!(r.failed(false, true, 8), Decision::Retry(RETRY_FIRST));
        assert_eq!(r.limit, 4);
        assert_eq!(r.failed(false, true, 4), Decision::Retry(RETRY_FIRST));
        assert_eq!(r.failed(false, true, 2), Decision::Retry(RETRY_FIRST));
        assert_eq!(r.limit, 1);
        assert_eq!(r.failed(false, true, 1), Decision::Discard);
        assert_eq!(r.limit, 8);
    }
}
