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
//! The modules split it by concern: this one supervises a mapping (shard discovery and
//! lineage, one `shard` reader per shard); `shard` reads one shard in order and batches;
//! `retry` decides what follows a failed batch; `checkpoint` keeps the progress across
//! restarts; `event` holds the wire shapes (`aws_lambda_events`' `Event` sent,
//! `DynamoDbEventResponse` read).

mod checkpoint;
mod event;
mod retry;
mod shard;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use aws_sdk_dynamodbstreams::Client;
use tokio::sync::watch;
use tokio::time::Instant;

pub use event::{event, event_json, event_record, first_failure, record_json};

use checkpoint::Checkpoints;
use shard::{Position, ShardReader};

use crate::filter::Pattern;
use crate::invoke::Invoker;
use crate::template::StartingPosition;

/// How often the stream is described to find new shards.
const SHARD_DISCOVERY: Duration = Duration::from_secs(10);

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
    stop: watch::Receiver<bool>,
) {
    run_nudged(mapping, client, invoker, stop, None).await;
}

/// [`run`], with idle shards also woken by `bell` (from [`crate::fault::Nudges::subscribe`]
/// on the stream's table): a write seen by the fault proxy is read at once instead of at the
/// next idle poll.
pub async fn run_nudged(
    mapping: StreamMapping,
    client: Client,
    invoker: Invoker,
    mut stop: watch::Receiver<bool>,
    bell: Option<watch::Receiver<u64>>,
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
                    let reader = ShardReader::new(
                        Arc::clone(&mapping),
                        client.clone(),
                        invoker.clone(),
                        Arc::clone(&checkpoints),
                        shard.id.clone(),
                        start,
                        bell.clone(),
                    );
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
