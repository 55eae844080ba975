//! A stream mapping's checkpoints (the last processed sequence number of each shard, and the
//! shards read to their end), saved to a JSON file per stack and mapping under `.devstack/` so
//! that a restart resumes after them. The file names the stream ARN: a recreated table has a new
//! stream and starts afresh.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use anyhow::Result;
use serde::{Deserialize, Serialize};

/// A checkpoint file: the stream it belongs to and each shard's progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CheckpointFile {
    stream_arn: String,
    shards: BTreeMap<String, ShardCheckpoint>,
}

/// One shard's progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct ShardCheckpoint {
    /// The last processed record's sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sequence_number: Option<String>,
    /// Read to its end (closed): never read again.
    #[serde(default)]
    pub(super) finished: bool,
}

/// The mapping's checkpoints, saved to a file after every change when it has one.
#[derive(Debug)]
pub(super) struct Checkpoints {
    path: Option<PathBuf>,
    resumed: bool,
    state: Mutex<CheckpointFile>,
}

impl Checkpoints {
    /// The checkpoints saved at `path` for `stream_arn`; none when the file is missing,
    /// unreadable or names another stream (`None`: kept in memory only).
    pub(super) fn load(path: Option<PathBuf>, stream_arn: &str) -> Self {
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
    pub(super) fn resumed(&self) -> bool {
        self.resumed
    }

    /// The shard's progress (none yet: the default).
    pub(super) fn get(&self, shard: &str) -> ShardCheckpoint {
        self.lock().shards.get(shard).cloned().unwrap_or_default()
    }

    /// Records `seq` as the shard's last processed sequence number, and saves.
    pub(super) fn set(&self, shard: &str, seq: &str) {
        self.update(|s| {
            s.shards
                .entry(shard.to_owned())
                .or_default()
                .sequence_number = Some(seq.to_owned());
        });
    }

    /// Marks the shard read to its end, and saves.
    pub(super) fn finish(&self, shard: &str) {
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
