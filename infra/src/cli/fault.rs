//! `devstack fault …`, `restart` and `requests`: the fault proxy's rules, Redis's and the
//! emulator's state, and the requests the proxy saw, through the running stack's control API.

use anyhow::{Result, bail};

use super::{DependencyArg, FaultCmd, RedisState, ServiceArg};
use crate::control::{self, Dependency};
use crate::fault::{Action, RequestFilter, Rule, RuleSpec};

/// Runs `devstack fault <cmd>` against the running stack: prints the added rule's id, Redis's
/// new state, the rules (one [`describe`] line each) or how many rules were removed. Errors:
/// the control API's (unreachable, or a refused change).
pub(super) async fn fault(client: &control::Client, cmd: FaultCmd) -> Result<()> {
    match cmd {
        FaultCmd::Add(a) => {
            let action = if let Some(d) = a.latency {
                Action::Latency {
                    ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                }
            } else if a.hang {
                Action::Hang
            } else if a.down {
                Action::Down
            } else if a.throttle {
                Action::Throttle
            } else if let Some((status, code)) = a.error {
                Action::Error { status, code }
            } else {
                bail!("give one of --latency, --hang, --down, --throttle, --error");
            };
            let spec = RuleSpec {
                service: match a.service {
                    ServiceArg::Dynamodb => "dynamodb",
                    ServiceArg::Sqs => "sqs",
                    ServiceArg::Payments => crate::payments::SERVICE,
                }
                .to_owned(),
                operation: a.operation,
                body_contains: a.body_contains,
                action,
                count: a.count,
                instance: a.instance,
                rate: a.rate,
                after: a.after,
            };
            let rule = client.add_fault(&spec).await?;
            println!("{}", rule.id);
        }
        FaultCmd::Redis { state } => {
            let answer = match state {
                RedisState::Down => client.redis_down().await?,
                RedisState::Up => client.redis_up().await?,
            };
            println!("{}", answer.message);
        }
        FaultCmd::List => {
            let list = client.faults().await?;
            println!("redis: {}   emulator: {}", list.redis, list.emulator);
            if list.rules.is_empty() {
                println!("no fault rules");
            }
            for rule in &list.rules {
                println!("{}", describe(rule));
            }
        }
        FaultCmd::Clear { id } => {
            let cleared = match id {
                Some(id) => client.remove_fault(id).await?,
                None => client.clear_faults().await?,
            };
            println!("removed {} rule(s)", cleared.removed);
            if let Some(redis) = cleared.redis {
                println!("{redis}");
            }
        }
    }
    Ok(())
}

/// Runs `devstack restart <dependency>` and prints the control API's message. Errors: the
/// control API's (e.g. refused when devstack did not start that dependency).
pub(super) async fn restart(client: &control::Client, dependency: DependencyArg) -> Result<()> {
    let dependency = match dependency {
        DependencyArg::Redis => Dependency::Redis,
        DependencyArg::Emulator => Dependency::Emulator,
    };
    println!("{}", client.restart(dependency).await?.message);
    Ok(())
}

/// Runs `devstack requests` and prints the count of the fault proxy's requests that match
/// every given filter. Errors: the control API's.
pub(super) async fn requests(
    client: &control::Client,
    body_contains: Option<String>,
    operation: Option<String>,
    service: Option<String>,
) -> Result<()> {
    let filter = RequestFilter {
        service,
        operation,
        body_contains,
    };
    println!("{}", client.requests(&filter).await?);
    Ok(())
}

/// One line of `devstack fault list`.
fn describe(rule: &Rule) -> String {
    let s = &rule.spec;
    let action = match &s.action {
        Action::Latency { ms } => format!("latency {ms}ms"),
        Action::Hang => "hang".to_owned(),
        Action::Down => "down".to_owned(),
        Action::Throttle => "throttle".to_owned(),
        Action::Error { status, code } => match code {
            Some(c) => format!("error {status}:{c}"),
            None => format!("error {status}"),
        },
    };
    let left = match rule.remaining {
        None => String::new(),
        Some(0) => "  (spent)".to_owned(),
        Some(n) => format!("  ({n} left)"),
    };
    let mut only = String::new();
    if let Some(i) = &s.instance {
        only.push_str(&format!(" at {i}"));
    }
    if let Some(r) = s.rate {
        only.push_str(&format!(" rate {r}"));
    }
    if s.after {
        only.push_str(" after the work");
    }
    format!(
        "  {:>3}  {} {}{}{only}  {action}  hits {}{left}",
        rule.id,
        s.service,
        s.operation.as_deref().unwrap_or("*"),
        s.body_contains
            .as_deref()
            .map_or_else(String::new, |m| format!(" match {m:?}")),
        rule.hits
    )
}
