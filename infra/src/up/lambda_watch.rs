//! Step 4 of `devstack up`: the functions under `cargo lambda watch`, with the template's
//! environment (an env file), each in its own execution environment (crate::sandbox: its
//! Timeout, MemorySize and credentials); their AWS calls go through the fault proxy.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::process::Command;

use super::resources::Resources;
use super::services::Services;
use super::{FUNCTIONS, Setup};
use crate::iam::Iam;
use crate::invoke::Invoker;
use crate::procs::{self, Supervisor};
use crate::provision::Provisioned;
use crate::sandbox;
use crate::stack;
use crate::template::Function;

/// Writes the functions' environment and sandboxes, builds them, starts `cargo lambda watch`
/// and waits (up to 120 s) for its Invoke API on `--lambda-port`; the invoker for it.
///
/// # Errors
/// A file cannot be written, cargo-lambda is missing, the build fails, `cargo lambda watch`
/// does not start or open its port in time.
pub(super) async fn start(
    setup: &Setup<'_>,
    sup: &mut Supervisor,
    functions: &[Function],
    resources: &Resources,
    services: &Services,
) -> Result<Invoker> {
    let opts = setup.opts;
    let env_file = write_environment(
        setup,
        functions,
        &resources.provisioned,
        &services.proxy_url,
    )?;
    let sandbox_dir = write_sandboxes(setup, functions, &resources.iam)?;
    build(setup, functions).await?;
    let watch_cmd = watch_command(setup, &env_file, &sandbox_dir)?;
    // Its stdout is echoed line by line; the functions' EMF lines feed the console.
    let emf = services.console.clone();
    sup.spawn_lines(FUNCTIONS, watch_cmd, move |line| {
        emf.record_line(line);
    })?;
    procs::wait_for_port(FUNCTIONS, opts.lambda_port, Duration::from_secs(120)).await?;
    let invoker = Invoker::new(&format!("http://127.0.0.1:{}", opts.lambda_port))
        .with_console(services.console.clone());
    Ok(invoker)
}

/// Writes `.devstack/functions-<stack>.env`: every function's environment, `AWS_ENDPOINT_URL`
/// the fault proxy at `proxy_url`; its path.
fn write_environment(
    setup: &Setup<'_>,
    functions: &[Function],
    provisioned: &Provisioned,
    proxy_url: &str,
) -> Result<PathBuf> {
    let (state, stack, opts) = (&setup.state, setup.stack, setup.opts);
    let env_file = state.join(format!("functions-{stack}.env"));
    let env = stack::function_environment(functions, provisioned, proxy_url, opts.redis_port)?;
    std::fs::write(
        &env_file,
        env.iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect::<String>(),
    )?;
    Ok(env_file)
}

/// Writes `.devstack/sandbox-<stack>/` afresh: each function's sandbox spec (Timeout,
/// MemorySize, its role's credentials, the other functions' variables unset); its path.
fn write_sandboxes(setup: &Setup<'_>, functions: &[Function], iam: &Iam) -> Result<PathBuf> {
    let (state, stack) = (&setup.state, setup.stack);
    // Each function's own execution environment (crate::sandbox): its Timeout, MemorySize and
    // credentials; cargo runs every function binary through `devstack sandbox`.
    let sandbox_dir = state.join(format!("sandbox-{stack}"));
    let _ = std::fs::remove_dir_all(&sandbox_dir);
    let own_names = |f: &Function| {
        let mut names: BTreeSet<String> = f.environment.keys().cloned().collect();
        if f.log_format.is_some() {
            names.insert("AWS_LAMBDA_LOG_FORMAT".into());
        }
        if f.application_log_level.is_some() {
            names.insert("AWS_LAMBDA_LOG_LEVEL".into());
        }
        names
    };
    let every_name: BTreeSet<String> = functions.iter().flat_map(own_names).collect();
    for f in functions {
        let own = own_names(f);
        let env = iam
            .role(&f.logical_id)
            .map(|r| r.credentials.env().into_iter().collect())
            .unwrap_or_default();
        sandbox::Spec {
            function: f.logical_id.clone(),
            timeout_ms: f.timeout_secs.saturating_mul(1000),
            memory_mb: f.memory_size_mb,
            env,
            unset: every_name.difference(&own).cloned().collect(),
        }
        .write(&sandbox_dir, &f.binary)?;
    }
    Ok(sandbox_dir)
}

/// Checks cargo-lambda is installed, then builds every function binary (`--release` with
/// `opts.release`) before `cargo lambda watch` runs them.
///
/// # Errors
/// cargo-lambda is missing, or the build fails.
async fn build(setup: &Setup<'_>, functions: &[Function]) -> Result<()> {
    let (root, opts) = (setup.root, setup.opts);
    let cargo_lambda = setup.venv_bin.join("cargo-lambda");
    if !cargo_lambda.exists() {
        bail!(
            "{} is missing: run scripts/bootstrap.sh (or `make dev`)",
            cargo_lambda.display()
        );
    }
    tracing::info!("building the functions (first time: a few minutes)");
    // `--bin <function>` without `-p`, as `cargo lambda watch` runs them (`cargo run --bin`):
    // features resolved over the workspace's default members, so its first invocation of each
    // function finds the binary built (see the root Cargo.toml's `default-members`).
    let mut build = Command::new("cargo");
    build.current_dir(root).arg("build");
    if opts.release {
        build.arg("--release");
    }
    for f in functions {
        build.args(["--bin", &f.binary]);
    }
    let built = build.status().await.context("running cargo build")?;
    if !built.success() {
        bail!("cargo build of the functions failed");
    }
    Ok(())
}

/// `cargo lambda watch` on the Invoke port with `env_file`, its function binaries run through
/// `devstack sandbox` (specs in `sandbox_dir`) unless `DEVSTACK_SANDBOX=off` or the host has
/// no cargo runner variable.
///
/// # Errors
/// `PATH` cannot be joined, or the devstack binary cannot be located.
fn watch_command(setup: &Setup<'_>, env_file: &Path, sandbox_dir: &Path) -> Result<Command> {
    let (root, opts, venv_bin) = (setup.root, setup.opts, &setup.venv_bin);
    let path = std::env::join_paths(std::iter::once(venv_bin.clone()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let mut watch_cmd = Command::new("cargo");
    watch_cmd
        .current_dir(root)
        .env("PATH", path)
        .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &opts.lambda_port.to_string()])
        .args(["--concurrency", &opts.concurrency.to_string()])
        .arg("--env-file")
        .arg(env_file);
    let sandbox_off = matches!(
        std::env::var("DEVSTACK_SANDBOX")
            .ok()
            .map(|v| v.to_ascii_lowercase())
            .as_deref(),
        Some("off" | "0" | "false")
    );
    match sandbox::host_runner_variable() {
        _ if sandbox_off => tracing::warn!(
            "DEVSTACK_SANDBOX=off: functions run as cargo-lambda runs them (one shared environment and credentials, no Timeout or MemorySize; IAM then checks nothing)"
        ),
        Some(runner) => {
            let exe = std::env::current_exe().context("locating the devstack binary")?;
            watch_cmd
                .env(runner, format!("{} sandbox", exe.display()))
                .env(sandbox::SANDBOX_DIR_ENV, sandbox_dir);
        }
        None => tracing::warn!(
            "no cargo runner variable for this host: Timeout, MemorySize and per-function credentials are not applied"
        ),
    }
    if opts.no_reload {
        watch_cmd.arg("--ignore-changes");
    }
    if opts.release {
        watch_cmd.arg("--release");
    }
    Ok(watch_cmd)
}
