//! `devstack` CLI: `up` runs the local cloud from `template.yaml`; `fault`, `restart`,
//! `requests` and `payments` drive a running one (fault injection, dependency restarts, the
//! proxy's request log, the local payment provider's ledger, access log and Cloud Map health); `token` prints a signed token from its identity provider; `send` injects a message into
//! a queue; `dlq list|redrive` shows or moves back dead messages; `routes` prints what the
//! template declares; `localstack-init` prints the LocalStack init script.
//!
//! The commands themselves are the library's [`devstack::cli`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    devstack::cli::main().await
}
