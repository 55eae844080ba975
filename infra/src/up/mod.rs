//! `devstack up`: starts (or reuses) the emulator and Redis, provisions the template, serves
//! the local payment provider's instances, runs the functions under `cargo lambda watch` behind
//! the fault proxy, serves the gateway, the event source mappings and the control API, then
//! supervises until Ctrl-C or SIGTERM.
//!
//! Survival: when the emulator or redis-server that devstack started exits, devstack says so and
//! keeps the gateway, the functions and the mappings up; `devstack restart <redis|emulator>`
//! starts it again (for the emulator: re-provisions, and the stream mappings move to the new
//! stream ARNs; SQS queue URLs do not change). Only `cargo lambda watch` exiting stops devstack.
//!
//! [`up`] runs the steps in order, one module each: `preflight` (the template's checks, the
//! ports claimed), `backends` (emulator and Redis), `resources` (provisioning, IAM), `services`
//! (fault proxy, payment provider, control API), `lambda_watch` (the functions),
//! `http_api` (the gateway), `event_sources` (the mappings), `announce` (what is up, the ready
//! file) and `running` (supervision until shutdown, then the stop).

mod announce;
mod backends;
mod event_sources;
mod http_api;
mod lambda_watch;
mod preflight;
mod resources;
mod running;
mod services;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::procs::{Exit, Supervisor};
use crate::template::Template;

pub use announce::print_routes;
use running::{Running, Tasks};

/// The emulator's child name.
pub const EMULATOR: &str = "moto server";
/// redis-server's child name.
pub const REDIS: &str = "redis-server";
/// `cargo lambda watch`'s child name.
pub const FUNCTIONS: &str = "cargo lambda watch";

/// How long a restarted emulator gets to open its port.
const EMULATOR_START: Duration = Duration::from_secs(60);
/// How long a restarted redis-server gets to open its port.
const REDIS_START: Duration = Duration::from_secs(20);

/// `devstack up`'s options (the CLI's flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// API Gateway emulation port.
    pub gateway_port: u16,
    /// Lambda Invoke API port of `cargo lambda watch`.
    pub lambda_port: u16,
    /// AWS API emulator port (ignored when `AWS_ENDPOINT_URL` names one).
    pub emulator_port: u16,
    /// Redis port.
    pub redis_port: u16,
    /// Fault proxy port: the functions' `AWS_ENDPOINT_URL`.
    pub proxy_port: u16,
    /// Control API port (`devstack fault …`).
    pub control_port: u16,
    /// The local payment provider's first instance port; the template's Cloud Map instances
    /// get this one and the ports after it, in template order.
    pub payments_port: u16,
    /// Every queue's VisibilityTimeout override, seconds.
    pub visibility_timeout: Option<u32>,
    /// `cargo lambda watch --ignore-changes`.
    pub no_reload: bool,
    /// Build and run the functions with the release profile (`cargo lambda watch --release`):
    /// the deployed build (LTO), for load runs; debug builds spend several ms of CPU per request.
    pub release: bool,
    /// No route throttling (for `make bench`; the template's limits would answer 429).
    pub no_throttle: bool,
    /// Every route's ThrottlingRateLimit and ThrottlingBurstLimit multiplied by this (> 0; 1 =
    /// the template's limits), for load tests (`--throttle-scale`). Ignored with `no_throttle`.
    pub throttle_scale: f64,
    /// Serve the gateway over HTTPS.
    pub tls: bool,
    /// Instances per function and batches in flight per queue.
    pub concurrency: u32,
    /// Template parameter overrides.
    pub parameter_overrides: Vec<(String, String)>,
}

/// What devstack does after a child exits on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterExit {
    /// Stop the whole local cloud, for this reason.
    Stop(String),
    /// Log this (what died, what stays up, how to bring it back) and keep running.
    KeepRunning(String),
}

/// The decision for `exit` in stack `stack`: the emulator and Redis may die (the gateway and the
/// functions stay up, a restart command brings them back); anything else (`cargo lambda watch`)
/// stops devstack.
pub fn after_exit(exit: &Exit, stack: &str) -> AfterExit {
    let cli = format!("cargo run -p devstack -- --stack-name {stack}");
    match exit.name.as_str() {
        EMULATOR => AfterExit::KeepRunning(format!(
            "the AWS API emulator ({EMULATOR}) exited ({}). The gateway, the functions and the \
             mappings stay up; AWS calls fail until you run `{cli} restart emulator` (tables and \
             queues are re-created, empty)",
            exit.status
        )),
        REDIS => AfterExit::KeepRunning(format!(
            "{REDIS} exited ({}). The gateway and the functions stay up (reads fall through to \
             DynamoDB); start it again with `{cli} restart redis`",
            exit.status
        )),
        _ => AfterExit::Stop(format!("{} exited ({})", exit.name, exit.status)),
    }
}

/// The project root, where `.devstack/` lives and `cargo lambda watch` builds the functions:
/// the template's folder when it holds a `Cargo.toml`, else the workspace devstack was built
/// from (a modified copy of the template elsewhere, `devstack up -t /tmp/copy.yaml`, still runs
/// this project's functions).
///
/// # Errors
/// The template does not exist.
pub fn project_root(template_path: &Path) -> Result<PathBuf> {
    let folder = template_path
        .canonicalize()
        .with_context(|| format!("{} not found", template_path.display()))?
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if folder.join("Cargo.toml").exists() {
        Ok(folder)
    } else {
        Ok(crate::workspace_root())
    }
}

/// Runs the local cloud until Ctrl-C, SIGTERM or `cargo lambda watch` exits; stops what it
/// started.
///
/// # Errors
/// A port is taken, a tool is missing, provisioning or the functions' build fails.
pub async fn up(
    template_path: &Path,
    stack: &str,
    template: &Template,
    opts: Options,
) -> Result<()> {
    let root = project_root(template_path)?;
    let state = root.join(".devstack");
    std::fs::create_dir_all(state.join("logs"))?;
    let ready_file = state.join(format!("ready-{stack}.json"));
    let _ = std::fs::remove_file(&ready_file);
    let mut sup = Supervisor::default();
    let result = run(template_path, &root, stack, template, &opts, &mut sup).await;
    let _ = std::fs::remove_file(&ready_file);
    sup.stop_all().await;
    result
}

/// Whether devstack started a dependency (and so may stop and start it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ownership {
    Started,
    Reused,
}

/// What every step reads: the command's inputs and where devstack keeps its files.
struct Setup<'a> {
    /// The template file (`devstack up -t`).
    template_path: &'a Path,
    /// The project root ([`project_root`]): where the functions are built.
    root: &'a Path,
    /// The stack name: the resources' name prefix.
    stack: &'a str,
    /// The parsed template.
    template: &'a Template,
    /// The CLI's flags.
    opts: &'a Options,
    /// `<root>/.devstack`: logs, env files, sandboxes, checkpoints, the identity provider's key.
    state: PathBuf,
    /// `<state>/logs`: the started children's logs.
    logs: PathBuf,
    /// `<state>/ready-<stack>.json`: what is up, written once it is (see [`up`]).
    ready_file: PathBuf,
    /// `<root>/.venv/bin`: moto_server, python, cargo-lambda.
    venv_bin: PathBuf,
}

/// The steps of `devstack up`, in order; the first error stops it (then [`up`] stops what the
/// supervisor started).
async fn run(
    template_path: &Path,
    root: &Path,
    stack: &str,
    template: &Template,
    opts: &Options,
    sup: &mut Supervisor,
) -> Result<()> {
    let state = root.join(".devstack");
    let setup = Setup {
        template_path,
        root,
        stack,
        template,
        opts,
        logs: state.join("logs"),
        ready_file: state.join(format!("ready-{stack}.json")),
        venv_bin: root.join(".venv/bin"),
        state,
    };
    let functions = preflight::check_template(&setup)?;
    let listeners = preflight::claim_ports(&setup).await?;

    // 1. AWS API emulator and Redis: reuse what listens, else start our own.
    let backends = backends::start_or_reuse(&setup, sup).await?;
    let (status, status_rx) = backends.status();

    // 2. Tables, queues, caches, Cloud Map (the instances' URLs are the local provider's) and
    // secrets (the provider's API key).
    let resources = resources::provision(&setup, &backends.endpoint, &listeners).await?;

    // 3. The fault proxy in front of the emulator, the payment provider's instances, and the
    // control API.
    let mut services = services::serve(
        &setup,
        &functions,
        &backends.endpoint,
        &resources,
        listeners,
        status_rx,
    )?;

    // 4. Functions under `cargo lambda watch`, with the template's environment; their AWS
    // calls go through the fault proxy.
    let invoker = lambda_watch::start(&setup, sup, &functions, &resources, &services).await?;

    // 5. API Gateway emulation (routes, throttling, JWT authorizers trusting the local
    // identity provider) and event source mappings.
    let gateway = http_api::serve(&setup, &functions, &invoker, &services.stop_rx)?;
    let sources = event_sources::start(
        &setup,
        &functions,
        &resources,
        &invoker,
        &services.stop_rx,
        &services.faults,
    )?;

    // 6. Ready.
    announce::print(
        &setup,
        &functions,
        &backends,
        &resources.provisioned,
        &services,
        &gateway,
    )?;
    let ready = announce::ready(&setup, &backends, &services, &gateway);
    let mut running = Running {
        stack,
        template,
        opts,
        sup,
        redis: backends.redis,
        emulator: backends.emulator,
        endpoint: backends.endpoint,
        emulator_port: backends.emulator_port,
        sdk: resources.sdk,
        functions,
        provisioned: resources.provisioned,
        invoker,
        checkpoints: sources.checkpoints,
        streams: sources.streams,
        status,
        ready_file: setup.ready_file,
        ready,
        provision_options: resources.provision_options,
        payments: services.payments,
        faults: services.faults,
    };
    running.write_ready_file()?;

    // 7. Until Ctrl-C, SIGTERM or `cargo lambda watch` exits; orders from the control API.
    let reason = running.serve_until_shutdown(&mut services.commands).await?;
    running
        .shut_down(
            &reason,
            Tasks {
                stop: services.stop_tx,
                esm: sources.esm_tasks,
                gateway: gateway.task,
                control: services.control_task,
                proxy: services.proxy_task,
                payments: services.payment_tasks,
            },
        )
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(name: &str) -> Exit {
        Exit {
            name: name.into(),
            status: "signal: 9 (SIGKILL)".into(),
        }
    }

    #[test]
    fn the_emulator_exiting_keeps_devstack_up_and_says_how_to_restart_it() {
        let AfterExit::KeepRunning(message) = after_exit(&exit(EMULATOR), "ft") else {
            panic!("devstack would stop");
        };
        assert!(
            message.contains("--stack-name ft restart emulator"),
            "{message}"
        );
        assert!(message.contains("stay up"), "{message}");
        assert!(message.contains("SIGKILL"), "{message}");
    }

    #[test]
    fn redis_exiting_keeps_devstack_up_and_says_how_to_restart_it() {
        let AfterExit::KeepRunning(message) = after_exit(&exit(REDIS), "shop") else {
            panic!("devstack would stop");
        };
        assert!(message.contains("restart redis"), "{message}");
    }

    #[test]
    fn the_functions_exiting_stops_devstack() {
        assert_eq!(
            after_exit(&exit(FUNCTIONS), "shop"),
            AfterExit::Stop("cargo lambda watch exited (signal: 9 (SIGKILL))".into())
        );
    }

    #[test]
    fn a_template_outside_the_project_runs_in_the_workspace() {
        let copy = std::env::temp_dir().join(format!("devstack-root-{}.yaml", std::process::id()));
        std::fs::write(&copy, "Resources: {}\n").unwrap();
        let root = project_root(&copy);
        let _ = std::fs::remove_file(&copy);
        assert_eq!(root.unwrap(), crate::workspace_root());
        let own = crate::workspace_root().join("template.yaml");
        assert_eq!(
            project_root(&own).unwrap(),
            crate::workspace_root().canonicalize().unwrap()
        );
    }
}
