//! Fault injection for the local cloud: a proxy in front of the AWS API emulator
//! ([`proxy::Proxy`]) that the functions' `AWS_ENDPOINT_URL` points at, the rules that add
//! latency to, hang, drop, throttle or fail requests by service, operation and body
//! ([`rules`]), service-shaped error answers ([`answer`]) and the log of requests that
//! `devstack requests` counts, and the wake-ups of the stream readers by the writes it forwards
//! ([`nudge`]), and DynamoDB's idempotent transactions, which the emulator lacks ([`tokens`]).
//!
//! devstack's own clients (provisioning, event source mappings, seed, dlq) talk to the emulator
//! directly: a fault reaches the functions only.

pub mod answer;
pub mod nudge;
pub mod proxy;
pub mod rules;
pub mod tokens;

pub use nudge::Nudges;
pub use rules::{Action, Call, RequestFilter, RequestLog, Rule, RuleSpec, Rules};

/// What the proxy and the control API share: the rules and the request log.
#[derive(Debug, Default)]
pub struct Faults {
    /// Active (and spent) rules.
    pub rules: Rules,
    /// The last requests the proxy received.
    pub log: RequestLog,
    /// The stream readers' bells, rung by the DynamoDB writes the proxy forwards.
    pub nudges: Nudges,
    /// The `ClientRequestToken`s of the idempotent DynamoDB calls forwarded ([`tokens`]).
    pub tokens: tokens::Tokens,
}
