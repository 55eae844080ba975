//! Child processes of `devstack up` (emulator, redis-server, `cargo lambda watch`): each is
//! started in its own process group, so Ctrl-C reaches devstack alone and devstack stops exactly
//! what it started — and nothing it merely reused. A child started from a [`Recipe`] can be
//! stopped and started again by name (`devstack fault redis down|up`, `devstack restart`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
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

/// How to start a child again: program, arguments, working directory, extra environment and
/// log file.
#[derive(Debug, Clone, Default)]
pub struct Recipe {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Working directory (`None`: devstack's).
    pub dir: Option<PathBuf>,
    /// Variables added to devstack's environment.
    pub env: Vec<(OsString, OsString)>,
    /// Where stdout and stderr go (appended; `None`: inherited).
    pub log: Option<PathBuf>,
}

impl Recipe {
    /// A recipe running `program` with `args`.
    pub fn new<I, S>(program: impl Into<PathBuf>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The same recipe logging to `path`.
    #[must_use]
    pub fn log_to(mut self, path: &Path) -> Self {
        self.log = Some(path.to_path_buf());
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        cmd
    }
}

/// A child that has exited on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The name it was started under.
    pub name: String,
    /// Its exit status, as text (`exit status: 1`, `signal: 9 (SIGKILL)`).
    pub status: String,
}

/// The children devstack started, stopped together.
#[derive(Debug, Default)]
pub struct Supervisor {
    started: Vec<Started>,
    recipes: BTreeMap<String, Recipe>,
}

impl Supervisor {
    /// Starts `recipe` as `name` (remembered, so [`Supervisor::restart`] can start it again).
    ///
    /// # Errors
    /// The program cannot be started (the error names it), or `name` is already running.
    pub fn start(&mut self, name: &str, recipe: Recipe) -> Result<()> {
        if self.is_running(name) {
            bail!("{name} is already running");
        }
        self.spawn(name, recipe.command(), recipe.log.as_deref())?;
        self.recipes.insert(name.to_owned(), recipe);
        Ok(())
    }

    /// Starts `name` again from its recipe.
    ///
    /// # Errors
    /// `name` was never started from a recipe, is running, or cannot be started.
    pub fn restart(&mut self, name: &str) -> Result<()> {
        let recipe = self
            .recipes
            .get(name)
            .cloned()
            .with_context(|| format!("{name} was not started by devstack"))?;
        self.start(name, recipe)
    }

    /// Whether `name` is running (started and not yet reaped or stopped).
    pub fn is_running(&self, name: &str) -> bool {
        self.started.iter().any(|s| s.name == name)
    }

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

    /// Starts `cmd` like [`Supervisor::spawn`] with inherited stderr, but reads its stdout
    /// line by line: each line is echoed unchanged to devstack's stdout, then handed to
    /// `on_line` (lossy UTF-8, without its line ending). A closed devstack stdout does not
    /// stop the reading, so the child never blocks on a full pipe.
    ///
    /// # Errors
    /// The program cannot be started (the error names it).
    pub fn spawn_lines<F>(&mut self, name: &str, mut cmd: Command, mut on_line: F) -> Result<()>
    where
        F: FnMut(&str) + Send + 'static,
    {
        cmd.stdout(Stdio::piped());
        self.spawn(name, cmd, None)?;
        let stdout = self
            .started
            .last_mut()
            .and_then(|s| s.child.stdout.take())
            .with_context(|| format!("{name}: no stdout to read"))?;
        tokio::spawn(async move {
            use std::io::Write as _;
            use tokio::io::AsyncBufReadExt;
            let mut reader = tokio::io::BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(&line);
                        let _ = out.flush();
                        drop(out);
                        let text = String::from_utf8_lossy(&line);
                        on_line(text.trim_end_matches(['\n', '\r']));
                    }
                }
            }
        });
        Ok(())
    }

    /// A child that has exited, if any: reported once, then forgotten (its recipe is kept, so
    /// it can be restarted).
    pub fn reap(&mut self) -> Option<Exit> {
        let i = self
            .started
            .iter_mut()
            .position(|s| matches!(s.child.try_wait(), Ok(Some(_))))?;
        let mut s = self.started.remove(i);
        let status = match s.child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            _ => "exited".to_owned(),
        };
        Some(Exit {
            name: s.name,
            status,
        })
    }

    /// Stops `name` (SIGTERM to its process group, SIGKILL after a grace period); false when
    /// it is not running.
    pub async fn stop(&mut self, name: &str) -> bool {
        let Some(i) = self.started.iter().position(|s| s.name == name) else {
            return false;
        };
        let s = self.started.remove(i);
        terminate(s).await;
        true
    }

    /// SIGTERM to every child's process group, newest first; SIGKILL after a grace period.
    pub async fn stop_all(&mut self) {
        while let Some(s) = self.started.pop() {
            terminate(s).await;
        }
    }
}

async fn terminate(mut s: Started) {
    if let Some(pid) = s.child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
        if tokio::time::timeout(GRACE, s.child.wait()).await.is_err() {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = s.child.wait().await;
        }
    }
    tracing::info!(name = %s.name, "stopped");
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn reaped_within(sup: &mut Supervisor, timeout: Duration) -> Option<Exit> {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Some(exit) = sup.reap() {
                return Some(exit);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    #[tokio::test]
    async fn a_child_that_exits_is_reported_once_and_the_others_keep_running() {
        let mut sup = Supervisor::default();
        sup.start("short", Recipe::new("sh", ["-c", "exit 3"]))
            .unwrap();
        sup.start("long", Recipe::new("sleep", ["30"])).unwrap();
        let exit = reaped_within(&mut sup, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(exit.name, "short");
        assert!(exit.status.contains('3'), "{}", exit.status);
        assert!(sup.reap().is_none());
        assert!(sup.is_running("long"));
        assert!(!sup.is_running("short"));
        sup.stop_all().await;
    }

    #[tokio::test]
    async fn every_stdout_line_of_a_piped_child_reaches_the_callback_in_order() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut sup = Supervisor::default();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "printf 'one\\n{\"_aws\":{}}\\nlast'"]);
        sup.spawn_lines("printer", cmd, move |line| {
            let _ = tx.send(line.to_owned());
        })
        .unwrap();
        let mut lines = Vec::new();
        while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            lines.push(line);
        }
        assert_eq!(lines, vec!["one", "{\"_aws\":{}}", "last"]);
        sup.stop_all().await;
    }

    #[tokio::test]
    async fn a_stopped_child_can_be_started_again_from_its_recipe() {
        let mut sup = Supervisor::default();
        sup.start("sleeper", Recipe::new("sleep", ["30"])).unwrap();
        assert!(sup.start("sleeper", Recipe::new("sleep", ["30"])).is_err());
        assert!(sup.stop("sleeper").await);
        assert!(!sup.stop("sleeper").await);
        assert!(!sup.is_running("sleeper"));
        sup.restart("sleeper").unwrap();
        assert!(sup.is_running("sleeper"));
        assert!(sup.restart("never-started").is_err());
        sup.stop_all().await;
    }
}
