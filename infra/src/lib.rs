//! `devstack`: the project's local cloud, driven by `template.yaml`.
//!
//! It provisions the template's tables and queues on an AWS API emulator (moto server, or
//! LocalStack), runs the functions under `cargo lambda watch`, emulates API Gateway HTTP API
//! routes (payload v2.0) and SQS and DynamoDB stream event source mappings in front of them,
//! injects messages, lists or redrives dead-letter queues and seeds sample data. The functions
//! reach the emulator through a fault proxy ([`fault`]) that `devstack fault …` drives through
//! the control API ([`control`]); the emulator and Redis can die and be restarted ([`up`]).
//! A local payment provider ([`payments`]) stands in for the outside service the template
//! registers in Cloud Map.
//! The library half is also what the tests use to provision resources under unique names.

pub mod authorizer;
pub mod aws;
/// The `devstack` command line (the binary calls [`cli::main`]).
pub mod cli;
pub mod console;
pub mod control;
pub mod dlq;
pub mod edge;
pub mod esm;
pub mod fault;
pub mod filter;
pub mod gateway;
pub mod iam;
pub mod idp;
pub mod invoke;
pub mod load;
pub mod localstack;
pub mod openapi;
pub mod payments;
pub mod procs;
pub mod provision;
pub mod sandbox;
pub mod seed;
pub mod stack;
pub mod streams;
pub mod template;
pub mod throttle;
pub mod up;

use std::path::PathBuf;

/// The workspace root (where `template.yaml` lives), from this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}
