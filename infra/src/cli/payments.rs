//! `devstack payments …`: the local payment provider's ledger, access log and Cloud Map
//! instances (and their health), through the running stack's control API.

use anyhow::Result;

use super::{HealthArg, PaymentsCmd};
use crate::control;
use crate::payments::HealthChange;

/// Runs `devstack payments <cmd>` against the running stack: prints the ledger or the access
/// log (a table and a count, or one JSON array with `--json`), the health change's message, or
/// the instances. Errors: the control API's.
pub(super) async fn payments(client: &control::Client, cmd: PaymentsCmd) -> Result<()> {
    match cmd {
        PaymentsCmd::Ledger { json, order } => {
            let ledger = client.payments_ledger(order.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ledger)?);
                return Ok(());
            }
            for e in &ledger {
                println!(
                    "{:>5}  {:<6} {:<9} {:>9} {}  {}  order {}  {}  key {}  {}{}",
                    e.seq,
                    e.kind,
                    e.status,
                    e.amount,
                    e.currency,
                    e.id,
                    e.order_id.as_deref().unwrap_or("-"),
                    e.source.as_deref().or(e.charge.as_deref()).unwrap_or("-"),
                    e.idempotency_key,
                    e.instance,
                    e.decline_code
                        .as_deref()
                        .map_or_else(String::new, |d| format!("  ({d})")),
                );
            }
            let counts: Vec<String> = crate::payments::books::summary(&ledger)
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            println!(
                "{} entr{}{}",
                ledger.len(),
                if ledger.len() == 1 { "y" } else { "ies" },
                if counts.is_empty() {
                    String::new()
                } else {
                    format!(": {}", counts.join(", "))
                }
            );
        }
        PaymentsCmd::Log {
            json,
            instance,
            after,
        } => {
            let query = control::LogQuery { after, instance };
            let log = client.payments_log(&query).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&log)?);
                return Ok(());
            }
            for e in &log {
                println!(
                    "{:>6}  {}  {:<12} {:<4} {:<12} {:>3}  key {}{}",
                    e.seq,
                    e.at,
                    e.instance,
                    e.method,
                    e.path,
                    e.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    e.idempotency_key.as_deref().unwrap_or("-"),
                    e.fault.map_or_else(String::new, |f| format!("  fault {f}")),
                );
            }
            println!("{} request(s)", log.len());
        }
        PaymentsCmd::Health { instance, status } => {
            let change = HealthChange {
                instance,
                status: match status {
                    HealthArg::Healthy => "healthy",
                    HealthArg::Unhealthy => "unhealthy",
                }
                .to_owned(),
            };
            println!("{}", client.payments_health(&change).await?.message);
        }
        PaymentsCmd::Instances => {
            for i in client.payments_instances().await? {
                println!("{:<16} {:<28} {}", i.instance, i.url, i.health);
            }
        }
    }
    Ok(())
}
