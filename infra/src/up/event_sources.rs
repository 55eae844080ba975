//! Step 5 of `devstack up`, the event source mappings: the SQS pollers, and the DynamoDB stream
//! readers ([`StreamTasks`], restarted with the emulator since their stream ARNs change).

use std::path::PathBuf;

use anyhow::Result;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Setup;
use super::resources::Resources;
use crate::esm;
use crate::fault::Faults;
use crate::invoke::Invoker;
use crate::stack;
use crate::streams;
use crate::template::Function;

/// The mappings as step 5 started them.
pub(super) struct EventSources {
    /// The SQS mappings' tasks (they stop with the stop signal).
    pub(super) esm_tasks: Vec<JoinHandle<()>>,
    /// `.devstack/checkpoints`: the stream mappings' shard positions.
    pub(super) checkpoints: PathBuf,
    /// The DynamoDB stream mappings' tasks.
    pub(super) streams: StreamTasks,
}

/// Starts `functions`' SQS mappings (stopped by `stop_rx`) and stream mappings (nudged by
/// `faults`' table nudges), invoking through `invoker`.
///
/// # Errors
/// A mapping of the template does not resolve against what was provisioned.
pub(super) fn start(
    setup: &Setup<'_>,
    functions: &[Function],
    resources: &Resources,
    invoker: &Invoker,
    stop_rx: &watch::Receiver<bool>,
    faults: &Faults,
) -> Result<EventSources> {
    let Resources {
        sdk, provisioned, ..
    } = resources;
    let mappings = stack::mappings(functions, provisioned, setup.opts.concurrency)?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let esm_tasks: Vec<_> = mappings
        .iter()
        .cloned()
        .map(|m| tokio::spawn(esm::run(m, sqs.clone(), invoker.clone(), stop_rx.clone())))
        .collect();
    let checkpoints = setup.state.join("checkpoints");
    let stream_tasks = StreamTasks::start(
        stack::stream_mappings(functions, provisioned, &checkpoints)?,
        sdk,
        invoker,
        faults,
    );
    Ok(EventSources {
        esm_tasks,
        checkpoints,
        streams: stream_tasks,
    })
}

/// The stream mapping tasks, stopped together (their ARNs change when the emulator restarts).
pub(super) struct StreamTasks {
    /// Sending `true` stops these tasks (and only these).
    pub(super) stop: watch::Sender<bool>,
    /// One task per stream mapping.
    pub(super) tasks: Vec<JoinHandle<()>>,
}

impl StreamTasks {
    /// One task per mapping of `mappings`, reading with `sdk`'s client, invoking through
    /// `invoker`, woken by `faults`' nudges of the mapping's table.
    pub(super) fn start(
        mappings: Vec<streams::StreamMapping>,
        sdk: &aws_config::SdkConfig,
        invoker: &Invoker,
        faults: &Faults,
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let client = aws_sdk_dynamodbstreams::Client::new(sdk);
        let tasks = mappings
            .into_iter()
            .map(|m| {
                let bell = crate::fault::nudge::table_of_stream_arn(&m.stream_arn)
                    .map(|table| faults.nudges.subscribe(table));
                tokio::spawn(streams::run_nudged(
                    m,
                    client.clone(),
                    invoker.clone(),
                    stop_rx.clone(),
                    bell,
                ))
            })
            .collect();
        Self { stop, tasks }
    }

    /// Stops the tasks and waits for each.
    pub(super) async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
