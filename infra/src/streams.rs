//! DynamoDB stream event source mapping emulation: reads every shard of a table's stream with
//! the DynamoDB Streams API, filters records with `FilterCriteria`, batches up to `BatchSize`
//! within `MaximumBatchingWindowInSeconds`, invokes the function with the `Records` event Lambda
//! builds, and checkpoints what succeeded.
//!
//! Semantics follow Lambda's stream poller
//! (<https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errorhandling.html>):
//! - records of one shard reach the function in stream order, one batch at a time; shards are
//!   read concurrently, a child shard only after its parent is read to the end (shard lineage);
//! - records the filter drops are never delivered and count as processed;
//! - with `ReportBatchItemFailures`, `{"batchItemFailures":[{"itemIdentifier":"<SequenceNumber>"}]}`
//!   checkpoints before the lowest reported record and the next batch starts at it; an empty or
//!   null list means success; an unparseable response or an identifier that is empty or not in
//!   the batch fails the whole batch;
//! - a function error or timeout retries the whole batch with exponential backoff (0.5 s doubling
//!   up to 10 s); `BisectBatchOnFunctionError` first halves the batch (not counted as a retry);
//!   after `MaximumRetryAttempts` retries (-1: never) the batch is discarded and logged, as are
//!   records older than `MaximumRecordAgeInSeconds`: there is no `OnFailure` destination locally.
//!
//! Checkpoints (the last processed sequence number of each shard) are saved to a JSON file per
//! stack and mapping under `.devstack/`, so that a restart of `devstack up` resumes after them
//! instead of replaying the stream from `TRIM_HORIZON`. The file names the stream ARN; a
//! recreated table has a new stream ARN and starts afresh from `StartingPosition`. Shards
//! without a checkpoint start at `StartingPosition` on the first start, and at `TRIM_HORIZON` when
//! they appear later (as Lambda does for child shards).
//!
//! moto keeps every shard iterator it hands out in memory, so an idle shard is polled every
//! 500 ms (Lambda polls 4 times a second) to keep its growth small.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::filter::{self, Pattern};
use crate::invoke::{COLD_START_SLACK, Invocation, Invoker};
use crate::template::StartingPosition;

/// How often a shard without new records is polled.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Most records one GetRecords returns (the API's limit).
const MAX_GET_RECORDS: i32 = 1000;
/// How often the stream is described to find new shards.
const SHARD_DISCOVERY: Duration = Duration::from_secs(10);
/// First retry delay after a failed batch; it doubles per retry up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(500);
/// Longest retry delay.
const RETRY_MAX: Duration = Duration::from_secs(10);
/// Delay after the Streams API or the Invoke API itself failed.
const API_ERROR_DELAY: Duration = Duration::from_secs(2);

/// One stream event source mapping: table stream → function.
#[derive(Debug, Clone)]
pub struct StreamMapping {
    /// Function logical id (for logs).
    pub function_id: String,
    /// Binary name (`cargo lambda watch` function name).
    pub function: String,
    /// Function timeout.
    pub timeout: Duration,
    /// Event name in the template (for logs).
    pub event_name: String,
    /// Table logical id (for logs).
    pub table_id: String,
    /// Stream ARN (`eventSourceARN` of the records).
    pub stream_arn: String,
    /// `StartingPosition`, for shards without a checkpoint on the first start.
    pub starting_position: StartingPosition,
    /// `BatchSize`: most records per invocation.
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds`: how long to gather records for a fuller batch.
    pub batching_window: Duration,
    /// `MaximumRetryAttempts` (`None`: retry forever).
    pub maximum_retry_attempts: Option<u32>,
    /// `MaximumRecordAgeInSeconds` (`None`: no limit).
    pub maximum_record_age: Option<Duration>,
    /// `BisectBatchOnFunctionError`.
    pub bisect_batch_on_function_error: bool,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// `FilterCriteria` patterns (empty: every record is delivered).
    pub filters: Vec<Pattern>,
    /// `awsRegion` of the records.
    pub region: String,
    /// Where checkpoints are kept across restarts (`None`: in memory only).
    pub checkpoint_file: Option<PathBuf>,
}

/// Reads the stream until `stop` turns true: one task per shard, shards discovered every 10 s.
pub async fn run(
    mapping: StreamMapping,
    client: Client,
    invoker: Invoker,
    mut stop: watch::Receiver<bool>,
) {
    let mapping = Arc::new(mapping);
    let checkpoints = Arc::new(Checkpoints::load(
        mapping.checkpoint_file.clone(),
        &mapping.stream_arn,
    ));
    let mut first_round = !checkpoints.resumed();
    let mut readers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        // Stop when told, or when nobody can tell any more (the sender is gone).
        if *stop.borrow() || stop.has_changed().is_err() {
            break;
        }
        match describe_shards(&client, &mapping.stream_arn).await {
            Ok(shards) => {
                readers.retain(|_, task| !task.is_finished());
                let described: HashMap<&str, &Shard> =
                    shards.iter().map(|s| (s.id.as_str(), s)).collect();
                for shard in &shards {
                    let saved = checkpoints.get(&shard.id);
                    let parent_pending = shard
                        .parent
                        .as_deref()
                        .is_some_and(|p| described.contains_key(p) && !checkpoints.get(p).finished);
                    if saved.finished || parent_pending || readers.contains_key(&shard.id) {
                        continue;
                    }
                    let start = match saved.sequence_number {
                        Some(seq) => Position::After(seq),
                        None if first_round => Position::Start(mapping.starting_position),
                        None => Position::Start(StartingPosition::TrimHorizon),
                    };
                    tracing::info!(
                        function = %mapping.function_id, table = %mapping.table_id,
                        shard = %shard.id, from = %start, "reading stream shard"
                    );
                    let reader = ShardReader {
                        mapping: Arc::clone(&mapping),
                        client: client.clone(),
                        invoker: invoker.clone(),
                        checkpoints: Arc::clone(&checkpoints),
                        shard_id: shard.id.clone(),
                        start,
                        iterator: None,
                        closed: false,
                        pending: VecDeque::new(),
                    };
                    readers.insert(shard.id.clone(), tokio::spawn(reader.run(stop.clone())));
                }
                first_round = false;
            }
            Err(e) => tracing::warn!(
                table = %mapping.table_id, error = %format!("{e:#}"),
                "describing the stream failed; retrying"
            ),
        }
        // A finished shard may unblock its children: look again soon after one ends.
        let wake = Instant::now() + SHARD_DISCOVERY;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if readers.values().any(tokio::task::JoinHandle::is_finished) {
                        break;
                    }
                }
                _ = stop.changed() => break,
            }
        }
    }
    for (_, task) in readers {
        let _ = task.await;
    }
}

/// A shard as DescribeStream lists it.
#[derive(Debug, Clone)]
struct Shard {
    id: String,
    parent: Option<String>,
}

async fn describe_shards(client: &Client, stream_arn: &str) -> Result<Vec<Shard>> {
    let mut shards = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let out = client
            .describe_stream()
            .stream_arn(stream_arn)
            .set_exclusive_start_shard_id(from.take())
            .send()
            .await
            .map_err(aws_sdk_dynamodbstreams::Error::from)
            .with_context(|| format!("DescribeStream {stream_arn}"))?;
        let description = out
            .stream_description
            .ok_or_else(|| anyhow!("DescribeStream returned no description"))?;
        for s in description.shards.unwrap_or_default() {
            if let Some(id) = s.shard_id {
                shards.push(Shard {
                    id,
                    parent: s.parent_shard_id,
                });
            }
        }
        match description.last_evaluated_shard_id {
            Some(last) => from = Some(last),
            None => return Ok(shards),
        }
    }
}

/// Where a shard iterator is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Position {
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
    record: Value,
    /// `ApproximateCreationDateTime` (seconds since the epoch).
    created: Option<f64>,
    /// Passes the filter and is not too old: to be delivered.
    deliver: bool,
}

struct ShardReader {
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
}

impl ShardReader {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
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
                tokio::time::sleep(IDLE_POLL).await;
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
        let record = event_record(r, &self.mapping.stream_arn, &self.mapping.region)?;
        let seq = record["dynamodb"]["SequenceNumber"]
            .as_str()
            .ok_or_else(|| anyhow!("a stream record has no SequenceNumber"))?
            .to_owned();
        let created = record["dynamodb"]["ApproximateCreationDateTime"].as_f64();
        let deliver = filter::passes(&self.mapping.filters, &record);
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
        // The span: pending records up to the `limit`-th deliverable one, plus the filtered-out
        // records right after it (they are checkpointed with the batch).
        let mut positions = Vec::new();
        let mut span = 0;
        for (i, p) in self.pending.iter().enumerate() {
            if p.deliver {
                if positions.len() == retry.limit {
                    break;
                }
                positions.push(i);
            }
            span = i + 1;
        }
        let records: Vec<Value> = positions
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
        let event = json!({ "Records": records });
        let invoked = self
            .invoker
            .invoke(&m.function, &event, m.timeout + COLD_START_SLACK)
            .await;
        let outcome = match invoked {
            Err(e) => {
                tracing::warn!(function = %m.function_id, error = %format!("{e:#}"), "invoke failed; retrying");
                tokio::time::sleep(API_ERROR_DELAY).await;
                return;
            }
            Ok(Invocation::Ok(payload)) if m.report_batch_item_failures => {
                match first_failure(&payload, &seqs) {
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
        };
        let decision = match &outcome {
            Outcome::Success => {
                tracing::info!(
                    function = %m.function_id, table = %m.table_id, shard = %self.shard_id,
                    records = records.len(), first = %first, last = %last, "stream batch"
                );
                self.checkpoint_through(span);
                retry.succeeded();
                return;
            }
            Outcome::Partial(index) => {
                let failed_at = positions[*index];
                tracing::info!(
                    function = %m.function_id, table = %m.table_id, shard = %self.shard_id,
                    records = records.len(), first = %first, last = %last,
                    failed = %self.pending[failed_at].seq, "stream batch: retrying from the first reported failure"
                );
                self.checkpoint_through(failed_at);
                span -= failed_at;
                retry.failed(failed_at > 0, false, records.len() - index)
            }
            Outcome::Failed {
                why,
                function_error,
            } => {
                tracing::warn!(
                    function = %m.function_id, table = %m.table_id, shard = %self.shard_id,
                    records = records.len(), first = %first, last = %last, failure = %why,
                    "stream batch failed; retrying"
                );
                retry.failed(false, *function_error, records.len())
            }
        };
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

/// What to do after a failed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Retry (from the checkpoint) after this delay.
    Retry(Duration),
    /// Give up on the batch's records: checkpoint past them.
    Discard,
}

/// Retry bookkeeping of one shard: attempts of the record at the head, and the batch size limit
/// (halved by `BisectBatchOnFunctionError`).
#[derive(Debug, Clone)]
struct Retry {
    attempts: u32,
    limit: usize,
    batch_size: usize,
    max_attempts: Option<u32>,
    bisect: bool,
}

impl Retry {
    fn new(batch_size: usize, max_attempts: Option<u32>, bisect: bool) -> Self {
        Self {
            attempts: 0,
            limit: batch_size,
            batch_size,
            max_attempts,
            bisect,
        }
    }

    fn retrying(&self) -> bool {
        self.attempts > 0 || self.limit < self.batch_size
    }

    fn succeeded(&mut self) {
        self.attempts = 0;
        self.limit = self.batch_size;
    }

    /// After a failure of a batch of `delivered` records. `progressed`: records before the
    /// failure were checkpointed, so the head of the next batch has not failed before.
    fn failed(&mut self, progressed: bool, function_error: bool, delivered: usize) -> Decision {
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

/// The index in the batch of the lowest sequence number a `StreamsEventResponse` reports
/// failed; `None` when the batch succeeded (no, an empty or a null `batchItemFailures`).
///
/// # Errors
/// The whole batch counts as failed (Lambda's rule): the response is not JSON, the list is not
/// a list, or an `itemIdentifier` is missing, empty or not in `batch_seqs`. The text says why.
pub fn first_failure(payload: &[u8], batch_seqs: &[&str]) -> Result<Option<usize>, String> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|e| format!("response is not JSON: {e}"))?;
    let list = match v.get("batchItemFailures") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(format!("batchItemFailures is not a list: {other}")),
    };
    let mut first: Option<usize> = None;
    for f in list {
        let id = f.get("itemIdentifier").and_then(Value::as_str);
        let index = id
            .and_then(|id| batch_seqs.iter().position(|s| *s == id))
            .ok_or_else(|| format!("invalid itemIdentifier {id:?}"))?;
        first = Some(first.map_or(index, |f: usize| f.min(index)));
    }
    Ok(first)
}

/// One record of the DynamoDB stream event, as Lambda builds it
/// (`eventID`, `eventName`, `eventVersion` 1.1, `eventSource` aws:dynamodb, `awsRegion`,
/// `dynamodb` with `ApproximateCreationDateTime` in epoch seconds, `Keys`, `NewImage`/`OldImage`
/// as the view type provides them, `SequenceNumber`, `SizeBytes` and `StreamViewType`, then
/// `eventSourceARN`; `userIdentity` for deletions by TTL).
///
/// # Errors
/// The record has no `dynamodb` part.
pub fn event_record(r: &Record, stream_arn: &str, region: &str) -> Result<Value> {
    use aws_lambda_events::dynamodb::{EventRecord, StreamRecord, UserIdentity};
    let d = r
        .dynamodb
        .as_ref()
        .ok_or_else(|| anyhow!("a stream record without its dynamodb part"))?;
    let mut change = StreamRecord::default();
    if let Some(t) = d.approximate_creation_date_time
        && let Some(at) = chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
    {
        change.approximate_creation_date_time = at;
    }
    change.keys = d.keys.clone().unwrap_or_default().into();
    change.new_image = d.new_image.clone().unwrap_or_default().into();
    change.old_image = d.old_image.clone().unwrap_or_default().into();
    change.sequence_number.clone_from(&d.sequence_number);
    change.size_bytes = d.size_bytes.unwrap_or_default();
    change.stream_view_type = d
        .stream_view_type
        .as_ref()
        .and_then(|v| serde_json::from_value(Value::String(v.as_str().to_owned())).ok());
    let mut e = EventRecord::default();
    e.aws_region = region.to_owned();
    e.change = change;
    e.event_id = r.event_id.clone().unwrap_or_default();
    e.event_name = r
        .event_name
        .as_ref()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    e.event_source = Some("aws:dynamodb".into());
    e.event_version = Some("1.1".into());
    e.event_source_arn = Some(stream_arn.to_owned());
    e.user_identity = r.user_identity.as_ref().map(|i| {
        let mut u = UserIdentity::default();
        u.type_ = i.r#type.clone().unwrap_or_default();
        u.principal_id = i.principal_id.clone().unwrap_or_default();
        u
    });
    let mut v = serde_json::to_value(e)?;
    // Lambda leaves out what a record does not have (no null fields, no empty images).
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, x| !x.is_null());
        if let Some(Value::Object(change)) = o.get_mut("dynamodb") {
            change.retain(|k, x| {
                !x.is_null() && !((k == "NewImage" || k == "OldImage") && x == &json!({}))
            });
        }
        if let Some(Value::Object(user)) = o.get_mut("userIdentity")
            && let Some(t) = user.remove("type_")
        {
            user.insert("type".into(), t);
        }
    }
    Ok(v)
}

/// A checkpoint file: the stream it belongs to and each shard's progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CheckpointFile {
    stream_arn: String,
    shards: BTreeMap<String, ShardCheckpoint>,
}

/// One shard's progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ShardCheckpoint {
    /// The last processed record's sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sequence_number: Option<String>,
    /// Read to its end (closed): never read again.
    #[serde(default)]
    finished: bool,
}

/// The mapping's checkpoints, saved to a file after every change when it has one.
#[derive(Debug)]
struct Checkpoints {
    path: Option<PathBuf>,
    resumed: bool,
    state: Mutex<CheckpointFile>,
}

impl Checkpoints {
    fn load(path: Option<PathBuf>, stream_arn: &str) -> Self {
        let saved = path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<CheckpointFile>(&b).ok());
        let (state, resumed) = match saved {
            Some(s) if s.stream_arn == stream_arn => (s, true),
            Some(s) => {
                tracing::info!(
                    old = %s.stream_arn, new = %stream_arn,
                    "the table's stream changed (table recreated): checkpoints start afresh"
                );
                (Self::fresh(stream_arn), false)
            }
            None => (Self::fresh(stream_arn), false),
        };
        Self {
            path,
            resumed,
            state: Mutex::new(state),
        }
    }

    fn fresh(stream_arn: &str) -> CheckpointFile {
        CheckpointFile {
            stream_arn: stream_arn.to_owned(),
            shards: BTreeMap::new(),
        }
    }

    /// The file held checkpoints of this stream.
    fn resumed(&self) -> bool {
        self.resumed
    }

    fn get(&self, shard: &str) -> ShardCheckpoint {
        self.lock().shards.get(shard).cloned().unwrap_or_default()
    }

    fn set(&self, shard: &str, seq: &str) {
        self.update(|s| {
            s.shards
                .entry(shard.to_owned())
                .or_default()
                .sequence_number = Some(seq.to_owned());
        });
    }

    fn finish(&self, shard: &str) {
        self.update(|s| s.shards.entry(shard.to_owned()).or_default().finished = true);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CheckpointFile> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, change: impl FnOnce(&mut CheckpointFile)) {
        let mut state = self.lock();
        change(&mut state);
        let Some(path) = &self.path else {
            return;
        };
        // Write a sibling and rename it: a crash never leaves half a file.
        let result = (|| -> Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&*state)?)?;
            std::fs::rename(&tmp, path)?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "saving the stream checkpoint failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, StreamViewType};

    fn record(seq: &str, name: OperationType) -> Record {
        let image = HashMap::from([
            ("id".to_owned(), AttributeValue::S("evt-1".into())),
            ("n".to_owned(), AttributeValue::N("3".into())),
        ]);
        Record::builder()
            .event_id("e1")
            .event_name(name)
            .event_version("1.0")
            .event_source("aws:dynamodb")
            .aws_region("us-east-1")
            .dynamodb(
                aws_sdk_dynamodbstreams::types::StreamRecord::builder()
                    .approximate_creation_date_time(aws_smithy_types_datetime(1_700_000_000))
                    .set_keys(Some(HashMap::from([(
                        "id".to_owned(),
                        AttributeValue::S("evt-1".into()),
                    )])))
                    .set_new_image(Some(image))
                    .sequence_number(seq)
                    .size_bytes(42)
                    .stream_view_type(StreamViewType::NewImage)
                    .build(),
            )
            .build()
    }

    fn aws_smithy_types_datetime(secs: i64) -> aws_sdk_dynamodbstreams::primitives::DateTime {
        aws_sdk_dynamodbstreams::primitives::DateTime::from_secs(secs)
    }

    #[test]
    fn a_record_is_shaped_like_lambdas_dynamodb_event() {
        let v = event_record(
            &record("111", OperationType::Insert),
            "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(v["eventVersion"], "1.1");
        assert_eq!(v["eventSource"], "aws:dynamodb");
        assert_eq!(v["awsRegion"], "eu-west-1");
        assert_eq!(v["eventName"], "INSERT");
        assert_eq!(
            v["eventSourceARN"],
            "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x"
        );
        assert_eq!(v["dynamodb"]["NewImage"]["n"], json!({"N": "3"}));
        assert_eq!(v["dynamodb"]["Keys"]["id"], json!({"S": "evt-1"}));
        assert_eq!(
            v["dynamodb"]["ApproximateCreationDateTime"],
            json!(1_700_000_000)
        );
        assert_eq!(v["dynamodb"]["StreamViewType"], "NEW_IMAGE");
        assert!(v["dynamodb"].get("OldImage").is_none() && v.get("userIdentity").is_none());
        assert!(v.get("tableName").is_none() && v.get("recordFormat").is_none());
        let parsed: aws_lambda_events::dynamodb::Event =
            serde_json::from_value(json!({ "Records": [v] })).unwrap();
        assert_eq!(
            parsed.records[0].change.sequence_number.as_deref(),
            Some("111")
        );
    }

    #[test]
    fn a_deletion_by_ttl_names_the_dynamodb_service_as_its_user() {
        let mut r = record("112", OperationType::Remove);
        r.user_identity = Some(
            aws_sdk_dynamodbstreams::types::Identity::builder()
                .r#type("Service")
                .principal_id("dynamodb.amazonaws.com")
                .build(),
        );
        let v = event_record(&r, "arn:s", "us-east-1").unwrap();
        assert_eq!(
            v["userIdentity"],
            json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
        );
    }

    #[test]
    fn the_lowest_reported_failure_is_where_the_retry_starts() {
        let batch = ["10", "11", "12"];
        let r = first_failure(
            br#"{"batchItemFailures":[{"itemIdentifier":"12"},{"itemIdentifier":"11"}]}"#,
            &batch,
        );
        assert_eq!(r, Ok(Some(1)));
        assert_eq!(
            first_failure(br#"{"batchItemFailures":[]}"#, &batch),
            Ok(None)
        );
        assert_eq!(first_failure(b"null", &batch), Ok(None));
        assert_eq!(first_failure(b"{}", &batch), Ok(None));
    }

    #[test]
    fn an_unknown_or_empty_identifier_fails_the_whole_batch() {
        let batch = ["10"];
        assert!(
            first_failure(br#"{"batchItemFailures":[{"itemIdentifier":"9"}]}"#, &batch).is_err()
        );
        assert!(
            first_failure(br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#, &batch).is_err()
        );
        assert!(first_failure(br#"{"batchItemFailures":[{}]}"#, &batch).is_err());
        assert!(first_failure(b"garbage", &batch).is_err());
    }

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

    #[test]
    fn checkpoints_survive_a_restart_only_for_the_same_stream() {
        let path = std::env::temp_dir().join(format!("devstack-cp-{}.json", uuid::Uuid::new_v4()));
        let c = Checkpoints::load(Some(path.clone()), "arn:s1");
        assert!(!c.resumed());
        c.set("shard-1", "100");
        c.finish("shard-0");

        let again = Checkpoints::load(Some(path.clone()), "arn:s1");
        assert!(again.resumed());
        assert_eq!(again.get("shard-1").sequence_number.as_deref(), Some("100"));
        assert!(again.get("shard-0").finished);

        let other = Checkpoints::load(Some(path.clone()), "arn:s2");
        assert!(!other.resumed());
        assert!(other.get("shard-1").sequence_number.is_none());
        let _ = std::fs::remove_file(path);
    }
}
