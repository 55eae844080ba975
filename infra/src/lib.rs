//! `devstack`: the project's local cloud, driven by `template.yaml`.
//!
//! It provisions the template's tables and queues on an AWS API emulator (moto server, or
//! LocalStack), runs the functions under `cargo lambda watch`, emulates API Gateway HTTP API
//! routes (payload v2.0) and SQS event source mappings in front of them, and injects messages.
//! The library half is also what the tests use to provision resources under unique names.

pub mod aws;
pub mod esm;
pub mod gateway;
pub mod invoke;
pub mod localstack;
pub mod procs;
pub mod provision;
pub mod stack;
pub mod template;

use std::path::PathBuf;

/// The workspace root (where `template.yaml` lives), from this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}
