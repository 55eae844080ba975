//! The control API of a running `devstack up` (HTTP JSON on `--control-port`, 127.0.0.1 only)
//! and its typed client, [`Client`], which the `devstack fault|restart|requests` commands and
//! the end-to-end tests use.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /faults` | | `200` [`FaultList`]: rules (spent ones too) with hits, Redis's and the emulator's state |
//! | `POST /faults` | [`RuleSpec`] | `201` [`Rule`] (with its `id`); `400` when the rule cannot work |
//! | `DELETE /faults` | | `200` [`Cleared`]: removes every rule and brings Redis back up if a fault took it down |
//! | `DELETE /faults/{id}` | | `200` [`Cleared`]; `404` no such rule |
//! | `POST /redis/down` | | `200` [`Message`]; `409` when Redis was reused (not started by devstack) or is down |
//! | `POST /redis/up` | | `200` [`Message`]; `409` when Redis was reused or is up |
//! | `POST /restart/{redis\|emulator}` | | `200` [`Message`] once it answers again (the emulator: re-provisioned, stream mappings on the new stream ARNs); `409` when reused |
//! | `GET /requests?service=&operation=&match=` | | `200` [`RequestCount`]: requests the proxy received (of its last 10 000) that pass every given filter; `match` is a substring of the body's first 4 KiB |
//! | `GET /status` | | `200` [`Status`] |
//! | `GET /payments/ledger?order=` | | `200` `[`[`LedgerEntry`]`]`: every charge and refund of the local payment provider (of one order) |
//! | `GET /payments/log?after=&instance=` | | `200` `[`[`AccessEntry`]`]`: the provider's access log after seq `after`, of one instance |
//! | `POST /payments/health` | [`HealthChange`] | `200` [`Message`]; `409` unknown instance, bad status, or no Cloud Map service |
//! | `GET /payments/instances` | | `200` `[`[`InstanceHealth`]`]` (id, URL, health in the emulator's Cloud Map); `409` no service |
//! | `GET /iam/simulate?function=&action=&resource=` | | `200` [`Simulation`]: the function's policies' decision (see `crate::iam`); `404` no such function |
//!
//! | `GET /console`, `/console/api/...` | | the local console's page and JSON ([`crate::console::api`], merged in by `devstack up`) |
//!
//! A rule (`RuleSpec`) is `{"service":"dynamodb","operation":"GetItem","match":"SKU-1",
//! "action":{"kind":"throttle"},"count":2}` with `operation`, `match` and `count` optional (and,
//! for the local payment provider, service `payments`: `"instance":"provider-b"`, `"rate":0.5`,
//! `"after":true`, see [`RuleSpec`]) and
//! `action` one of `{"kind":"latency","ms":800}`, `{"kind":"hang"}`, `{"kind":"down"}`,
//! `{"kind":"throttle"}`, `{"kind":"error","status":500,"code":"InternalServerError"}`.
//! Errors are `{"error":"<what went wrong and what to do>"}`.
//!
//! The control port and the proxy's are in the stack's ready file,
//! `.devstack/ready-<stack>.json` (`"control"`, `"proxy"`, and `"redis_port"`).
//!
//! This module holds the API's shapes (what the requests and answers carry); [`router`] and its
//! handlers are in `server`, the [`Client`] in `client`.
//!
//! [`RuleSpec`]: crate::fault::RuleSpec
//! [`LedgerEntry`]: crate::payments::books::LedgerEntry
//! [`AccessEntry`]: crate::payments::books::AccessEntry
//! [`HealthChange`]: crate::payments::HealthChange
//! [`InstanceHealth`]: crate::payments::InstanceHealth

mod client;
mod server;

use serde::{Deserialize, Serialize};

use crate::fault::Rule;

pub use client::{CLIENT_TIMEOUT, Client};
pub use server::{Command, Control, Order, router};

/// A dependency devstack can stop and start again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dependency {
    /// The redis-server.
    Redis,
    /// The AWS API emulator (moto server).
    Emulator,
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Redis => "redis",
            Self::Emulator => "emulator",
        })
    }
}

/// The state of a dependency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DependencyState {
    /// Started by devstack and running.
    Running,
    /// Stopped on purpose (`devstack fault redis down`).
    Down,
    /// Exited on its own.
    Exited {
        /// Its exit status, as text.
        status: String,
    },
    /// Being started again.
    Restarting,
    /// Already listening when devstack started: not devstack's to stop or start.
    Reused,
}

impl std::fmt::Display for DependencyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Running => f.write_str("running"),
            Self::Down => f.write_str("down (fault)"),
            Self::Exited { status } => write!(f, "exited ({status})"),
            Self::Restarting => f.write_str("restarting"),
            Self::Reused => f.write_str("reused (not started by devstack)"),
        }
    }
}

/// The dependencies' states, published by `devstack up`'s loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// redis-server.
    pub redis: DependencyState,
    /// The AWS API emulator.
    pub emulator: DependencyState,
}

/// `GET /faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultList {
    /// Every rule, in the order added (the first active match applies).
    pub rules: Vec<Rule>,
    /// redis-server's state.
    pub redis: DependencyState,
    /// The emulator's state.
    pub emulator: DependencyState,
}

/// `DELETE /faults[/{id}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleared {
    /// Rules removed.
    pub removed: usize,
    /// What was done to Redis, when a fault had taken it down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<String>,
}

/// A one-line answer (what was done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// What was done.
    pub message: String,
}

/// `GET /requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCount {
    /// Matching requests.
    pub count: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct ErrorBody {
    error: String,
}

/// `GET /iam/simulate`'s query: one function, action and resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimulateQuery {
    /// The function's logical id, e.g. `GetProductFunction`.
    pub function: String,
    /// `service:Action`, e.g. `dynamodb:GetItem`.
    pub action: String,
    /// The resource ARN (`*` for an action that takes none).
    pub resource: String,
}

/// `GET /iam/simulate`'s answer, the local `aws iam simulate-principal-policy`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Simulation {
    /// `allowed` or `denied`.
    pub decision: String,
    /// Why: the policy that allowed or explicitly denied, or that none allows.
    pub detail: String,
    /// The role checked and its policies.
    pub role: String,
}

/// `GET /payments/ledger`'s query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerQuery {
    /// Only this order's charges and refunds (`metadata.order_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

/// `GET /payments/log`'s query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogQuery {
    /// Only entries with a seq above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// Only this instance's entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}
