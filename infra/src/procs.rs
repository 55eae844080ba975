//! Child processes of `devstack up` (emulator, redis-server, `cargo lambda watch`): each is
//! started in its own process group, so Ctrl-C reaches devstack alone and devstack stops exactly
//! what it started — and nothing it merely reused.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// How long a child gets to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(8);

/// A started child.
#[derive(Debug)]
struct Started {
    name: String,
    child: Child,
}

/// The children devstack started, stopped together.
#[derive(Debug, Default)]
pub struct Supervisor {
    started: Vec<Started>,
}

impl Supervisor {
    /// Starts `cmd` in a new process group; output goes to `log` (appended) or is inherited.
    ///
    /// # Errors
    /// The program cannot be started (the error names it).
    pub fn spawn(&mut self, name: &str, mut cmd: Command, log: Option<&Path>) -> Result<()> {
        cmd.process_group(0).stdin(Stdio::null()).kill_on_drop(true);
        if let Some(path) = log {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            cmd.stdout(file.try_clone()?).stderr(file);
        }
        let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        self.started.push(Started {
            name: name.to_owned(),
            child,
        });
        Ok(())
    }

    /// The name and status of a child that has exited, if any.
    pub fn exited(&mut self) -> Option<(String, String)> {
        self.started
            .iter_mut()
            .find_map(|s| match s.child.try_wait() {
                Ok(Some(status)) => Some((s.name.clone(), status.to_string())),
                _ => None,
            })
    }

    /// SIGTERM to every child's process group, newest first; SIGKILL after a grace period.
    pub async fn stop_all(&mut self) {
        while let Some(mut s) = self.started.pop() {
            if let Some(pid) = s.child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
                if tokio::time::timeout(GRACE, s.child.wait()).await.is_err() {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                    let _ = s.child.wait().await;
                }
            }
            tracing::info!(name = %s.name, "stopped");
        }
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub async fn port_open(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// Waits until 127.0.0.1:`port` accepts connections.
///
/// # Errors
/// Still closed after `timeout` (the message names `what` and the port).
pub async fn wait_for_port(what: &str, port: u16, timeout: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if port_open(port).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "{what} did not open 127.0.0.1:{port} within {}s",
        timeout.as_secs()
    )
}
