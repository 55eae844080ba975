//! The sandbox's supervisor: starts the function's runtime, ends it at its invocation's
//! deadline or past its `MemorySize`, reports the invocation's end as Lambda does, and starts
//! the runtime again.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::process::{Child, Command};
use tokio::signal::unix::Signal;
use tokio::time::Instant;

use super::{Current, Shared, Spec, resident_bytes};

/// How often the runtime's resident memory is read, ms.
const RSS_POLL: Duration = Duration::from_millis(20);

/// Wait before starting again a runtime that exited outside an invocation (a crash at init),
/// so a binary that cannot start does not spin.
const RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// Why the runtime stopped.
enum End {
    Exited(std::process::ExitStatus),
    TimedOut(Current),
    OutOfMemory(u64),
    Stop,
}

/// Starts the runtime, ends it at a deadline or past its memory, starts it again; returns on
/// SIGTERM or SIGINT.
///
/// # Errors
/// A signal handler cannot be installed, the binary cannot start, or waiting for it fails.
pub(super) async fn supervise(
    shared: &Arc<Shared>,
    binary: &Path,
    args: &[OsString],
    relay_api: &str,
) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let spec = &shared.spec;
    let memory_limit = spec.memory_mb.saturating_mul(1024 * 1024);
    loop {
        let mut child = start(spec, binary, args, relay_api)?;
        shared
            .initialized
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let end = wait_for_end(shared, &mut child, memory_limit, &mut term, &mut interrupt).await?;
        stop(&mut child).await;
        match end {
            End::Stop => return Ok(()),
            End::TimedOut(current) => timed_out(shared, &current).await,
            End::OutOfMemory(rss) => out_of_memory(shared, rss).await,
            End::Exited(status) => exited(shared, status).await,
        }
    }
}

/// Starts `binary` with `args` in `spec`'s environment, its Runtime API at `relay_api`.
fn start(spec: &Spec, binary: &Path, args: &[OsString], relay_api: &str) -> Result<Child> {
    let mut command = Command::new(binary);
    for name in &spec.unset {
        command.env_remove(name);
    }
    command
        .args(args)
        .envs(&spec.env)
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        )
        .env("AWS_LAMBDA_RUNTIME_API", relay_api)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

/// Waits until the runtime exits, passes its invocation's deadline, uses more than
/// `memory_limit` bytes, or the sandbox is to stop (cargo-lambda gone, SIGTERM, SIGINT).
async fn wait_for_end(
    shared: &Shared,
    child: &mut Child,
    memory_limit: u64,
    term: &mut Signal,
    interrupt: &mut Signal,
) -> Result<End> {
    let pid = child.id();
    Ok(loop {
        let deadline = shared.lock().as_ref().map(|c| c.deadline);
        tokio::select! {
            status = child.wait() => break End::Exited(status?),
            () = sleep_until_some(deadline) => {
                let mut current = shared.lock();
                if current.as_ref().is_some_and(|c| c.deadline <= Instant::now())
                    && let Some(c) = current.take()
                {
                    break End::TimedOut(c);
                }
            }
            () = tokio::time::sleep(RSS_POLL) => {
                if let Some(rss) = pid.and_then(resident_bytes)
                    && rss > memory_limit
                {
                    break End::OutOfMemory(rss);
                }
            }
            () = shared.changed.notified() => {}
            () = shared.gone.notified() => break End::Stop,
            _ = term.recv() => break End::Stop,
            _ = interrupt.recv() => break End::Stop,
        }
    })
}

/// The invocation `current` passed its deadline: `Sandbox.Timedout`.
async fn timed_out(shared: &Shared, current: &Current) {
    let spec = &shared.spec;
    let seconds = format!("{:.2}", spec.timeout_ms as f64 / 1000.0);
    let message = format!(
        "RequestId: {} Error: Task timed out after {seconds} seconds",
        current.request_id
    );
    fail(shared, current, "Sandbox.Timedout", &message, None).await;
}

/// The runtime was killed at `rss` bytes: `Runtime.OutOfMemory` for its invocation, if any.
async fn out_of_memory(shared: &Shared, rss: u64) {
    let spec = &shared.spec;
    let taken = shared.lock().take();
    match taken {
        Some(current) => {
            let message = format!(
                "RequestId: {} Error: Runtime exited with error: signal: killed",
                current.request_id
            );
            fail(shared, &current, "Runtime.OutOfMemory", &message, Some(rss)).await;
        }
        None => eprintln!(
            "devstack sandbox: {} used {} MB of its {} MB (MemorySize) outside an \
             invocation: killed, starting again",
            spec.function,
            rss / (1024 * 1024),
            spec.memory_mb
        ),
    }
}

/// The runtime exited with `status`: `Runtime.ExitError` for its invocation; outside one, the
/// invocation waiting for a runtime that failed its init is failed, and the restart waits
/// [`RESTART_BACKOFF`].
async fn exited(shared: &Shared, status: std::process::ExitStatus) {
    let spec = &shared.spec;
    let taken = shared.lock().take();
    match taken {
        Some(current) => {
            let message = format!(
                "RequestId: {} Error: Runtime exited with error: {status}",
                current.request_id
            );
            fail(shared, &current, "Runtime.ExitError", &message, None).await;
        }
        None => {
            eprintln!(
                "devstack sandbox: {} exited ({status}) outside an invocation; \
                 starting it again in {} s",
                spec.function,
                RESTART_BACKOFF.as_secs()
            );
            if !shared.initialized.load(std::sync::atomic::Ordering::SeqCst) {
                shared.fail_waiting_invocation(status).await;
            }
            tokio::time::sleep(RESTART_BACKOFF).await;
        }
    }
}

/// Ends invocation `current` with `error_type` and `message`: Lambda's log lines (with `rss`,
/// the runtime's resident bytes when it was killed past its memory), then the error posted to
/// cargo-lambda.
async fn fail(
    shared: &Shared,
    current: &Current,
    error_type: &str,
    message: &str,
    rss: Option<u64>,
) {
    log_end(&shared.spec, current, message, rss);
    shared
        .post_error(&current.request_id, error_type, message)
        .await;
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Kills the runtime (SIGKILL, as Lambda ends a timed-out or out-of-memory environment) and
/// reaps it.
async fn stop(child: &mut Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// Lambda's log lines for an invocation that did not end well: the error, then `REPORT`.
fn log_end(spec: &Spec, current: &Current, message: &str, rss: Option<u64>) {
    let duration_ms = current.started.elapsed().as_secs_f64() * 1000.0;
    let used = rss.map_or_else(
        || "-".to_owned(),
        |b| format!("{}", (b / (1024 * 1024)).min(spec.memory_mb)),
    );
    eprintln!(
        "{} {} {message}\nREPORT RequestId: {}\tDuration: {duration_ms:.2} ms\tMemory Size: {} MB\tMax Memory Used: {used} MB\tStatus: {}",
        spec.function,
        current.request_id,
        current.request_id,
        spec.memory_mb,
        if rss.is_some() { "error" } else { "timeout" }
    );
}
