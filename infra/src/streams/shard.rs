//! Reading one shard of a table's stream in order: GetShardIterator/GetRecords (a new iterator
//! after an expired or trimmed one), `FilterCriteria` and `MaximumRecordAgeInSeconds`, batching
//! within `MaximumBatchingWindowInSeconds`, invoking the function and acting on its answer
//! (checkpoint, retry from the first reported failure, back off, discard).
//!
//! moto keeps every shard iterator it hands out in memory, so an idle shard is polled every
//! 500 ms (Lambda polls 4 times a second) to keep its growth small. A shard that returned
//! records is read again at once; an idle one also wakes when the fault proxy forwards a write
//! to its table ([`crate::fault::nudge`]), so a record does not wait out the idle poll.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use aws_lambda_events::dynamodb::EventRecord;
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use tokio::sync::watch;
use tokio::time::Instant;

use super::StreamMapping;
use super::checkpoint::Checkpoints;
use super::event;
use super::retry::{Decision, Retry};
use crate::console::{DeliveredRecord, Delivery, RecordOutcome, SourceKind, now_ms};
use crate::filter;
use crate::invoke::{COLD_START_SLACK, Invocation, Invoker};
use crate::template::StartingPosition;

/// How often a shard without new records is polled.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Most records one GetRecords returns (the API's limit).
const MAX_GET_RECORDS: i32 = 1000;
/// Delay after the Streams API or the Invoke API itself failed.
const API_ERROR_DELAY: Duration = Duration::from_secs(2);

/// Where a shard iterator is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Position {
    /// `AFTER_SEQUENCE_NUMBER`.
    After(String),
    /// `TRIM_HORIZON` or `LATEST`.
    Start(StartingPosition),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::After(seq) => write!(f, "after {seq}"),
            Self::Start(StartingPosition::TrimHorizon) => f.write_str("TRIM_HORIZON"),
            Self::Start(StartingPosition::Latest) => f.write_str("LATEST"),
        }
    }
}

/// A record read from the shard and not yet checkpointed.
#[derive(Debug, Clone)]
struct Pending {
    /// `dynamodb.SequenceNumber`.
    seq: String,
    /// The record as the function receives it.
    record: EventRecord,
    /// `ApproximateCreationDateTime` (seconds since the epoch).
    created: Option<f64>,
    /// Passes the filter and is not too old: to be delivered.
    deliver: bool,
}

/// Reads one shard in stream order: fetches records, drops what the filter or the record age
/// rules out, delivers batches and checkpoints what was processed.
pub(super) struct ShardReader {
    mapping: Arc<StreamMapping>,
    client: Client,
    invoker: Invoker,
    checkpoints: Arc<Checkpoints>,
    shard_id: String,
    /// Where to take a new iterator: after the last record read, else the starting position.
    start: Position,
    iterator: Option<String>,
    /// GetRecords returned no next iterator: the shard is closed and read to its end.
    closed: bool,
    pending: VecDeque<Pending>,
    /// Changes on each write to the table seen by the fault proxy (`None`: idle polls only).
    bell: Option<watch::Receiver<u64>>,
}

/// What ended an idle wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Woke {
    /// The idle poll came round.
    Timer,
    /// A write to the table was seen.
    Nudged,
}

/// Waits until the next idle poll, or until `bell` rings (a write seen since the last look
/// counts at once). A bell whose sender is gone is dropped: idle polls only from then on.
pub(super) async fn idle_wait(bell: &mut Option<watch::Receiver<u64>>, idle: Duration) -> Woke {
    let deadline = Instant::now() + idle;
    if let Some(rx) = bell {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return Woke::Timer,
            rang = rx.changed() => match rang {
                Ok(()) => return Woke::Nudged,
                Err(_) => *bell = None,
            },
        }
    }
    tokio::time::sleep_until(deadline).await;
    Woke::Timer
}

impl ShardReader {
    /// A reader of `shard_id` starting at `start`, woken early by `bell` when it is idle.
    pub(super) fn new(
        mapping: Arc<StreamMapping>,
        client: Client,
        invoker: Invoker,
        checkpoints: Arc<Checkpoints>,
        shard_id: String,
        start: Position,
        bell: Option<watch::Receiver<u64>>,
    ) -> Self {
        Self {
            mapping,
            client,
            invoker,
            checkpoints,
            shard_id,
            start,
            iterator: None,
            closed: false,
            pending: VecDeque::new(),
            bell,
        }
    }

    /// Reads until the shard is closed and done, or `stop` turns true.
    pub(super) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            () = self.read() => {}
            _ = stop.changed() => {}
        }
    }

    /// Reads, delivers and checkpoints until the shard is closed and done.
    async fn read(&mut self) {
        let m = Arc::clone(&self.mapping);
        let batch_size = usize::try_from(m.batch_size).unwrap_or(100).max(1);
        let mut retry = Retry::new(
            batch_size,
            m.maximum_retry_attempts,
            m.bisect_batch_on_function_error,
        );
        let mut window_start: Option<Instant> = None;
        loop {
            if self.deliverable() < batch_size
                && !self.closed
                && let Err(e) = self.fetch().await
            {
                tracing::warn!(
                    table = %m.table_id, shard = %self.shard_id, error = %format!("{e:#}"),
                    "reading the stream failed; retrying"
                );
                tokio::time::sleep(API_ERROR_DELAY).await;
                continue;
            }
            self.expire_old();
            let ready = self.deliverable();
            if ready == 0 {
                // Only filtered-out records (or none): they count as processed.
                self.checkpoint_through(self.pending.len());
                if self.closed {
                    self.checkpoints.finish(&self.shard_id);
                    tracing::info!(table = %m.table_id, shard = %self.shard_id, "shard read to its end");
                    return;
                }
                idle_wait(&mut self.bell, IDLE_POLL).await;
                continue;
            }
            if !retry.retrying() && ready < batch_size && !self.closed {
                let started = *window_start.get_or_insert_with(Instant::now);
                let waited = started.elapsed();
                if waited < m.batching_window {
                    tokio::time::sleep((m.batching_window - waited).min(IDLE_POLL)).await;
                    continue;
                }
            }
            window_start = None;
            self.deliver_batch(&mut retry).await;
        }
    }

    fn deliverable(&self) -> usize {
        self.pending.iter().filter(|p| p.deliver).count()
    }

    /// One GetRecords call; appends what it returns to `pending`.
    async fn fetch(&mut self) -> Result<()> {
        let iterator = match self.iterator.clone() {
            Some(i) => i,
            None => match self.acquire().await? {
                Some(i) => i,
                None => {
                    self.closed = true;
                    return Ok(());
                }
            },
        };
        let out = match self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(MAX_GET_RECORDS)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                // An expired iterator (15 minutes in AWS) or a lost one: take a new one next time.
                self.iterator = None;
                return Err(aws_sdk_dynamodbstreams::Error::from(e).into());
            }
        };
        self.iterator = out.next_shard_iterator;
        self.closed = self.iterator.is_none();
        for r in out.records.unwrap_or_default() {
            let p = self.pending_record(&r)?;
            self.start = Position::After(p.seq.clone());
            self.pending.push_back(p);
        }
        Ok(())
    }

    /// A new shard iterator at `start`; `None` when the shard has none to give (closed).
    async fn acquire(&mut self) -> Result<Option<String>> {
        let req = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.mapping.stream_arn)
            .shard_id(&self.shard_id);
        let req = match &self.start {
            Position::After(seq) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq),
            Position::Start(StartingPosition::TrimHorizon) => {
                req.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
            Position::Start(StartingPosition::Latest) => {
                req.shard_iterator_type(ShardIteratorType::Latest)
            }
        };
        match req.send().await {
            Ok(out) => Ok(out.shard_iterator),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_trimmed_data_access_exception()) =>
            {
                tracing::warn!(
                    table = %self.mapping.table_id, shard = %self.shard_id, from = %self.start,
                    "the checkpoint is older than the stream's retention: reading from TRIM_HORIZON"
                );
                self.start = Position::Start(StartingPosition::TrimHorizon);
                Err(anyhow!("checkpoint trimmed; retrying from TRIM_HORIZON"))
            }
            Err(e) => Err(aws_sdk_dynamodbstreams::Error::from(e))
                .with_context(|| format!("GetShardIterator {} {}", self.shard_id, self.start)),
        }
    }

    fn pending_record(&self, r: &Record) -> Result<Pending> {
        let record = event::event_record(r, &self.mapping.stream_arn, &self.mapping.region)?;
        let seq = record
            .change
            .sequence_number
            .clone()
            .ok_or_else(|| anyhow!("a stream record has no SequenceNumber"))?;
        let created = r
            .dynamodb
            .as_ref()
            .and_then(|d| d.approximate_creation_date_time)
            .map(|t| t.as_secs_f64());
        let deliver = filter::passes(&self.mapping.filters, &event::record_json(&record)?);
        Ok(Pending {
            seq,
            record,
            created,
            deliver,
        })
    }

    /// Drops records older than `MaximumRecordAgeInSeconds` from delivery (logged).
    fn expire_old(&mut self) {
        let Some(max_age) = self.mapping.maximum_record_age else {
            return;
        };
        let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        for p in self.pending.iter_mut().filter(|p| p.deliver) {
            if p.created.is_some_and(|c| now - c > max_age.as_secs_f64()) {
                p.deliver = false;
                tracing::warn!(
                    function = %self.mapping.function_id, table = %self.mapping.table_id,
                    shard = %self.shard_id, sequence_number = %p.seq,
                    "record discarded: older than MaximumRecordAgeInSeconds"
                );
            }
        }
    }

    /// Marks the first `n` pending records processed: saves the last one's sequence number.
    fn checkpoint_through(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let drained: Vec<Pending> = self.pending.drain(..n).collect();
        if let Some(last) = drained.last() {
            self.checkpoints.set(&self.shard_id, &last.seq);
        }
    }

    /// Forms one batch from the front of `pending`, invokes the function and acts on the result.
    async fn deliver_batch(&mut self, retry: &mut Retry) {
        let m = Arc::clone(&self.mapping);
        let (mut batch, records, seqs) = self.form_batch(retry.limit());
        let seen = self.seen(&records, &seqs);
        let started = Instant::now();
        let Some(outcome) = self.invoke_batch(&m, records, &seqs).await else {
            return;
        };
        self.record_delivery(&m, seen, &outcome, started);
        let Some(decision) = self.decide(&m, retry, &mut batch, &outcome) else {
            return;
        };
        self.act_on(&m, decision, batch.span).await;
    }

    /// The batch of at most `limit` deliverable records at the front of `pending`: its
    /// [`Batch`], the records as the function receives them and their sequence numbers.
    fn form_batch(&self, limit: usize) -> (Batch, Vec<EventRecord>, Vec<&str>) {
        // The span: pending records up to the `limit`-th deliverable one, plus the filtered-out
        // records right after it (they are checkpointed with the batch).
        let mut positions = Vec::new();
        let mut span = 0;
        for (i, p) in self.pending.iter().enumerate() {
            if p.deliver {
                if positions.len() == limit {
                    break;
                }
                positions.push(i);
            }
            span = i + 1;
        }
        let records: Vec<EventRecord> = positions
            .iter()
            .map(|&i| self.pending[i].record.clone())
            .collect();
        let seqs: Vec<&str> = positions
            .iter()
            .map(|&i| self.pending[i].seq.as_str())
            .collect();
        let (first, last) = (
            seqs.first().copied().unwrap_or_default().to_owned(),
            seqs.last().copied().unwrap_or_default().to_owned(),
        );
        let delivered = records.len();
        let batch = Batch {
            positions,
            span,
            first,
            last,
            delivered,
        };
        (batch, records, seqs)
    }

    /// The batch's records as the console shows them (`None` without a console).
    fn seen(&self, records: &[EventRecord], seqs: &[&str]) -> Option<Vec<DeliveredRecord>> {
        self.invoker.console().map(|_| {
            records
                .iter()
                .zip(seqs)
                .map(|(r, seq)| {
                    DeliveredRecord::from_stream(seq, &event::record_json(r).unwrap_or_default())
                })
                .collect()
        })
    }

    /// Invokes the function with `records` and reads its answer; `None` when the Invoke API
    /// itself failed (logged, then a wait of [`API_ERROR_DELAY`]; the batch is formed again).
    async fn invoke_batch(
        &self,
        m: &StreamMapping,
        records: Vec<EventRecord>,
        seqs: &[&str],
    ) -> Option<Outcome> {
        let invoked = match event::event_json(&event::event(records)) {
            Ok(event) => {
                self.invoker
                    .invoke(&m.function, &event, m.timeout + COLD_START_SLACK)
                    .await
            }
            Err(e) => Ok(Invocation::FunctionError(format!(
                "the event does not serialise: {e:#}"
            ))),
        };
        Some(match invoked {
            Err(e) => {
                tracing::warn!(function = %m.function_id, error = %format!("{e:#}"), "invoke failed; retrying");
                tokio::time::sleep(API_ERROR_DELAY).await;
                return None;
            }
            Ok(Invocation::Ok(payload)) if m.report_batch_item_failures => {
                match event::first_failure(&payload, seqs) {
                    Ok(None) => Outcome::Success,
                    Ok(Some(index)) => Outcome::Partial(index),
                    Err(why) => Outcome::Failed {
                        why,
                        function_error: false,
                    },
                }
            }
            Ok(Invocation::Ok(_)) => Outcome::Success,
            Ok(Invocation::FunctionError(e)) => Outcome::Failed {
                why: format!("invocation failed: {e}"),
                function_error: true,
            },
            Ok(Invocation::TimedOut) => Outcome::Failed {
                why: "invocation timed out".into(),
                function_error: true,
            },
            Ok(Invocation::Rejected(e)) => Outcome::Failed {
                why: format!("invocation refused: {e}"),
                function_error: false,
            },
        })
    }

    /// Shows the delivery on the console (when there is one, and so `seen`): the records from
    /// the first failed one on marked failed.
    fn record_delivery(
        &self,
        m: &StreamMapping,
        seen: Option<Vec<DeliveredRecord>>,
        outcome: &Outcome,
        started: Instant,
    ) {
        if let (Some(console), Some(mut records)) = (self.invoker.console(), seen) {
            let (failed_from, error) = match outcome {
                Outcome::Success => (records.len(), None),
                Outcome::Partial(index) => (*index, Some("records reported failed".to_owned())),
                Outcome::Failed { why, .. } => (0, Some(why.clone())),
            };
            for r in records.iter_mut().skip(failed_from) {
                r.outcome = RecordOutcome::Failed;
            }
            let elapsed = started.elapsed();
            console.record_delivery(Delivery {
                time_ms: now_ms() - i64::try_from(elapsed.as_millis()).unwrap_or(0),
                kind: SourceKind::Stream,
                source: m.table_id.clone(),
                function: m.function.clone(),
                records,
                duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                error,
            });
        }
    }

    /// Logs the batch's `outcome`, checkpoints what it processed and tells `retry`: after a
    /// success the whole span (`None`: nothing more to do); after a partial failure the records
    /// before the first reported one (`batch.span` shrinks to the rest). A partial or failed
    /// batch returns `retry`'s [`Decision`].
    fn decide(
        &mut self,
        m: &StreamMapping,
        retry: &mut Retry,
        batch: &mut Batch,
        outcome: &Outcome,
    ) -> Option<Decision> {
        let Batch {
            positions,
            span,
            first,
            last,
            delivered,
        } = batch;
        let delivered = *delivered;
        Some(match outcome {
            Outcome::Success => {
                tracing::info!(
                    function = %m.function_id, table = %m.table_id, shard = %self.shard_id,
                    records = delivered, first = %first, last = %last, "stream batch"
                );
                self.checkpoint_through(*span);
                retry.succeeded();
                return None;
            }
            Outcome::Partial(index) => {
                let failed_at = positions[*index];
                tracing::info!(
                    function = %m.function_id, table = %m.table_id, shard = %self.shard_id,
                    records = delivered, first = %first, last = %last,
                    failed = %self.pending[failed_at].seq, "stream batch: retrying from the first reported failure"
                );
                self.checkpoint_through(failed_at);
                *span -= failed_at;
                retry.failed(failed_at > 0, false, delivered - index)
            }
            Outcome::Failed {
                why,
                function_error,
            } => {
                tracing::warn!(
                    function = %m.function_id, table = %m.table_id, shard = %self.shard_id,
                    records = delivered, first = %first, last = %last, failure = %why,
                    "stream batch failed; retrying"
                );
                retry.failed(false, *function_error, delivered)
            }
        })
    }

    /// Carries out `retry`'s `decision` on the `span` pending records of a failed batch: waits
    /// before the retry, or discards them (logged) and checkpoints past them.
    async fn act_on(&mut self, m: &StreamMapping, decision: Decision, span: usize) {
        match decision {
            Decision::Retry(delay) => tokio::time::sleep(delay).await,
            Decision::Discard => {
                let seqs: Vec<&str> = self
                    .pending
                    .iter()
                    .take(span)
                    .filter(|p| p.deliver)
                    .map(|p| p.seq.as_str())
                    .collect();
                tracing::error!(
                    function = %m.function_id, table = %m.table_id, shard = %self.shard_id,
                    discarded = ?seqs, "records discarded after MaximumRetryAttempts retries"
                );
                self.checkpoint_through(span);
            }
        }
    }
}

/// One batch formed from the front of `pending`.
#[derive(Debug)]
struct Batch {
    /// The indexes in `pending` of the records delivered.
    positions: Vec<usize>,
    /// How many pending records the batch covers: up to its last delivered record, plus the
    /// filtered-out records right after it (they are checkpointed with the batch).
    span: usize,
    /// The sequence numbers of the first and last records delivered (empty without any).
    first: String,
    last: String,
    /// How many records are delivered.
    delivered: usize,
}

/// What one invocation came to.
#[derive(Debug)]
enum Outcome {
    Success,
    /// The record at this index of the batch is the first reported failure.
    Partial(usize),
    Failed {
        why: String,
        function_error: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wait no test lets run out: a test that ends by a ring ends long before it.
    const NEVER: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn an_idle_shard_waits_for_the_idle_poll_without_a_write() {
        let (_tx, rx) = watch::channel(0_u64);
        let mut bell = Some(rx);
        let idle = Duration::from_millis(50);
        let started = Instant::now();

        let woke = idle_wait(&mut bell, idle).await;

        assert_eq!(woke, Woke::Timer);
        assert!(started.elapsed() >= idle);
    }

    #[tokio::test]
    async fn a_write_seen_before_the_wait_ends_it_at_once() {
        let (tx, rx) = watch::channel(0_u64);
        let mut bell = Some(rx);
        tx.send_modify(|n| *n += 1);

        let woke = tokio::time::timeout(Duration::from_secs(5), idle_wait(&mut bell, NEVER)).await;

        assert_eq!(woke, Ok(Woke::Nudged));
    }

    #[tokio::test]
    async fn a_write_seen_during_the_wait_ends_it() {
        let (tx, rx) = watch::channel(0_u64);
        let mut bell = Some(rx);
        let ring = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send_modify(|n| *n += 1);
            tx
        });

        let woke = tokio::time::timeout(Duration::from_secs(5), idle_wait(&mut bell, NEVER)).await;

        assert_eq!(woke, Ok(Woke::Nudged));
        drop(ring.await);
    }

    #[tokio::test]
    async fn a_bell_without_a_sender_falls_back_to_the_idle_poll() {
        let (tx, rx) = watch::channel(0_u64);
        drop(tx);
        let mut bell = Some(rx);
        let idle = Duration::from_millis(50);
        let started = Instant::now();

        assert_eq!(idle_wait(&mut bell, idle).await, Woke::Timer);
        assert!(started.elapsed() >= idle);
        assert!(bell.is_none());
    }
}
