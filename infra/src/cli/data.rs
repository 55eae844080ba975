//! `devstack seed`, `send` and `dlq …`: the running stack's data: sample rows, a message
//! injected into a queue, the dead-letter queues' messages listed or moved back.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};

use super::DlqCmd;
use crate::dlq;
use crate::provision::{find_queue, queue_plans};
use crate::template::Template;

/// Runs `devstack seed`: loads the sample users, products and orders into stack `stack` and
/// prints the report's lines. Errors: the emulator's.
pub(super) async fn seed(template: &Template, stack: &str) -> Result<()> {
    let sdk = crate::aws::sdk_config().await;
    let report = crate::seed::seed(template, &sdk, stack).await?;
    for line in report.lines {
        println!("{line}");
    }
    Ok(())
}

/// Runs `devstack send`: sends `body` (or the contents of `file`) to the queue of logical id
/// `queue` and prints the message id. Errors: no body, an unreadable file, a body that is not
/// JSON, a queue the template lacks or the emulator does not have.
pub(super) async fn send(
    template: &Template,
    stack: &str,
    queue: &str,
    body: Option<String>,
    file: Option<PathBuf>,
) -> Result<()> {
    let body = match (body, file) {
        (Some(b), _) => b,
        (None, Some(f)) => {
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?
        }
        (None, None) => bail!("give --body or --file"),
    };
    serde_json::from_str::<serde_json::Value>(&body).context("the body is not JSON")?;
    let plans = queue_plans(template, stack, None)?;
    let plan = find_queue(&plans, queue)?;
    let sqs = aws_sdk_sqs::Client::new(&crate::aws::sdk_config().await);
    let url = sqs
        .get_queue_url()
        .queue_name(&plan.name)
        .send()
        .await
        .map_err(aws_sdk_sqs::Error::from)
        .with_context(|| format!("queue {} not found: is `make dev` running?", plan.name))?
        .queue_url
        .ok_or_else(|| anyhow!("no queue URL"))?;
    let out = sqs
        .send_message()
        .queue_url(&url)
        .message_body(body)
        .send()
        .await
        .map_err(aws_sdk_sqs::Error::from)?;
    println!("{}", out.message_id.unwrap_or_default());
    Ok(())
}

/// Runs `devstack dlq list|redrive`: prints each dead message and their count, or how many
/// moved back to which queue. Errors: a queue that is not (or has no) dead-letter queue, a
/// DLQ with no source queue to redrive to, the emulator's.
pub(super) async fn dead_letters(template: &Template, stack: &str, cmd: DlqCmd) -> Result<()> {
    let sqs = aws_sdk_sqs::Client::new(&crate::aws::sdk_config().await);
    match cmd {
        DlqCmd::List { queue, max } => {
            let q = dlq::resolve(template, stack, &queue, &sqs).await?;
            let messages = dlq::list(&sqs, &q.dlq, max).await?;
            for m in &messages {
                println!("{}", dlq::render(m));
            }
            println!("{} message(s) in {}", messages.len(), q.dlq.name);
        }
        DlqCmd::Redrive { queue, max } => {
            let q = dlq::resolve(template, stack, &queue, &sqs).await?;
            let moved = dlq::redrive(&sqs, &q, max).await?;
            let total: usize = moved.values().sum();
            let to: Vec<String> = moved.iter().map(|(id, n)| format!("{n} to {id}")).collect();
            println!(
                "moved {total} message(s) from {}{}",
                q.dlq.logical_id,
                if to.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", to.join(", "))
                }
            );
        }
    }
    Ok(())
}
