//! `devstack sandbox`: one function instance's execution environment as Lambda enforces it —
//! the template's `Timeout` (the deadline the function reads, and the end of a run past it),
//! its `MemorySize` (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, and a kill past it), Lambda's 6 MB
//! response limit, and the function's own environment (its IAM credentials, see `crate::iam`).
//!
//! `cargo lambda watch` runs each function as `cargo run --bin <function>`; `devstack up` makes
//! `devstack sandbox` cargo's target runner (`CARGO_TARGET_<TRIPLE>_RUNNER`), so cargo starts
//! `devstack sandbox <binary> [args]`. The sandbox reads the function's [`Spec`] from
//! `$DEVSTACK_SANDBOX_DIR/<binary name>.json`, starts the binary with `AWS_LAMBDA_RUNTIME_API`
//! pointing at itself and relays the Lambda Runtime API to cargo-lambda's, rewriting what
//! cargo-lambda does not emulate (its deadline header is a fixed `600000`, its memory size a
//! fixed 4096). Without a spec it runs the binary unchanged.
//!
//! What Lambda does, and so what the sandbox does (AWS Lambda Developer Guide, "Lambda
//! execution environment" and "Troubleshoot invocation issues"):
//! - past the deadline the invocation ends with `Sandbox.Timedout`, "RequestId: <id> Error: Task
//!   timed out after 1.00 seconds", and the environment is restarted (init runs again);
//! - past `MemorySize` the runtime is killed: `Runtime.OutOfMemory`, "RequestId: <id> Error:
//!   Runtime exited with error: signal: killed";
//! - a runtime that exits mid-invocation: `Runtime.ExitError`;
//! - a response over 6,291,556 bytes: `Function.ResponseSizeTooLarge`, and the Runtime API
//!   answers the runtime `413`.
//!
//! Each of these is posted to cargo-lambda as the invocation's error (so the invoker sees a
//! function error: the gateway answers `502`, an SQS batch is retried per its redrive policy),
//! and logged as Lambda logs it, with a `REPORT` line.

mod supervisor;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The environment variable naming the folder of the functions' [`Spec`] files.
pub const SANDBOX_DIR_ENV: &str = "DEVSTACK_SANDBOX_DIR";

/// Largest synchronous invocation response, bytes (Lambda quotas: "6 MB each for request and
/// response"; the Invoke API's error names the exact figure, "exceeded maximum allowed payload
/// size (6291556 bytes)").
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// Largest body relayed between the runtime and cargo-lambda, bytes: above Lambda's limits, so
/// the limit checks see the real size.
const RELAY_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// One function's execution environment, written by `devstack up` for each function binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    /// The function's logical id in the template, e.g. `GetProductFunction`.
    pub function: String,
    /// The template's `Timeout`, ms.
    pub timeout_ms: u64,
    /// The template's `MemorySize`, MB (MiB).
    pub memory_mb: u64,
    /// Variables of this function alone (its credentials), over what cargo-lambda passes.
    pub env: BTreeMap<String, String>,
    /// Variables cargo-lambda passes that are other functions' and not this one's (cargo lambda
    /// watch gives every function the union of the template's variables; Lambda gives each
    /// function its own): removed.
    #[serde(default)]
    pub unset: Vec<String>,
}

impl Spec {
    /// Where the spec of `binary` lives under `dir`.
    pub fn path(dir: &Path, binary: &str) -> PathBuf {
        dir.join(format!("{binary}.json"))
    }

    /// Writes the spec of `binary` under `dir`.
    ///
    /// # Errors
    /// The folder cannot be written.
    pub fn write(&self, dir: &Path, binary: &str) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let path = Self::path(dir, binary);
        std::fs::write(&path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// The target triple of the machine devstack was built for: the runner variable is
/// `CARGO_TARGET_<TRIPLE>_RUNNER`, and `cargo lambda watch` builds for the host.
pub fn host_runner_variable() -> Option<&'static str> {
    if cfg!(all(
        target_arch = "x86_64",
        target_os = "linux",
        target_env = "gnu"
    )) {
        Some("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER")
    } else if cfg!(all(
        target_arch = "aarch64",
        target_os = "linux",
        target_env = "gnu"
    )) {
        Some("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER")
    } else if cfg!(all(target_arch = "aarch64", target_os = "macos")) {
        Some("CARGO_TARGET_AARCH64_APPLE_DARWIN_RUNNER")
    } else if cfg!(all(target_arch = "x86_64", target_os = "macos")) {
        Some("CARGO_TARGET_X86_64_APPLE_DARWIN_RUNNER")
    } else {
        None
    }
}

/// Runs `binary` with `args` in its sandbox until SIGTERM or SIGINT (what `cargo lambda watch`
/// sends when it restarts or stops the function).
///
/// # Errors
/// The spec is unreadable, `AWS_LAMBDA_RUNTIME_API` is missing, or the binary cannot start.
pub async fn run(binary: &Path, args: Vec<OsString>) -> Result<()> {
    // Ends with `cargo run`, its parent: when `cargo lambda watch` stops, no sandbox (and no
    // function) is left behind.
    #[cfg(target_os = "linux")]
    {
        let parent = nix::unistd::getppid();
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)?;
        if nix::unistd::getppid() != parent {
            return Ok(());
        }
    }
    let name = binary
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{}: not a binary path", binary.display()))?
        .to_owned();
    let spec = match std::env::var_os(SANDBOX_DIR_ENV) {
        Some(dir) if Spec::path(Path::new(&dir), &name).exists() => {
            let path = Spec::path(Path::new(&dir), &name);
            let text = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
            Some(
                serde_json::from_slice::<Spec>(&text)
                    .with_context(|| format!("{}", path.display()))?,
            )
        }
        _ => None,
    };
    let Some(spec) = spec else {
        // Not one of the template's functions (a bench reference, a test binary): as it is.
        use std::os::unix::process::CommandExt;
        let error = std::process::Command::new(binary).args(&args).exec();
        return Err(anyhow!("starting {}: {error}", binary.display()));
    };
    let upstream = std::env::var("AWS_LAMBDA_RUNTIME_API").context(
        "AWS_LAMBDA_RUNTIME_API is not set: devstack sandbox runs under cargo lambda watch",
    )?;
    let upstream = Upstream::parse(&upstream)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let relay_api = format!("http://{}{}", listener.local_addr()?, upstream.prefix);
    let shared = Arc::new(Shared {
        spec: spec.clone(),
        upstream,
        http: reqwest::Client::new(),
        current: Mutex::new(None),
        changed: Notify::new(),
        initialized: std::sync::atomic::AtomicBool::new(false),
        gone: Notify::new(),
    });
    let app = axum::Router::new()
        .fallback(relay)
        .with_state(Arc::clone(&shared));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    supervisor::supervise(&shared, binary, &args, &relay_api).await
}

/// cargo-lambda's Runtime API for this function: `http://127.0.0.1:9000/.rt/<function>`.
#[derive(Debug, Clone)]
struct Upstream {
    /// `http://host:port`.
    origin: String,
    /// The path before `/2018-06-01/…`, e.g. `/.rt/get-product` (may be empty).
    prefix: String,
}

impl Upstream {
    fn parse(value: &str) -> Result<Self> {
        let rest = value
            .strip_prefix("http://")
            .unwrap_or(value)
            .trim_end_matches('/');
        let (authority, prefix) = match rest.find('/') {
            Some(k) => (&rest[..k], &rest[k..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("AWS_LAMBDA_RUNTIME_API {value:?}: no host");
        }
        Ok(Self {
            origin: format!("http://{authority}"),
            prefix: prefix.to_owned(),
        })
    }
}

/// The invocation the runtime is working on.
#[derive(Debug, Clone)]
struct Current {
    request_id: String,
    started: Instant,
    deadline: Instant,
}

struct Shared {
    spec: Spec,
    upstream: Upstream,
    http: reqwest::Client,
    current: Mutex<Option<Current>>,
    /// Rung when an invocation starts, so the supervisor arms its deadline.
    changed: Notify,
    /// Whether the running runtime has asked for an invocation (its init is done).
    initialized: std::sync::atomic::AtomicBool,
    /// Rung when cargo-lambda's Runtime API refuses connections: it has stopped, and so does
    /// the sandbox.
    gone: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Current>> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the current invocation if it is `request_id` (the runtime answered it first).
    fn finish(&self, request_id: &str) -> Option<Current> {
        let mut current = self.lock();
        if current.as_ref().is_some_and(|c| c.request_id == request_id) {
            current.take()
        } else {
            None
        }
    }

    /// After a runtime died during init: takes the invocation waiting for it, if any, and fails
    /// it as Lambda fails an invoke whose init failed (`Runtime.ExitError`), so its caller gets
    /// an answer instead of waiting for a runtime that cannot start.
    async fn fail_waiting_invocation(&self, status: std::process::ExitStatus) {
        let url = format!(
            "{}{}/2018-06-01/runtime/invocation/next",
            self.upstream.origin, self.upstream.prefix
        );
        let Ok(answer) = self.http.get(&url).send().await else {
            return;
        };
        if answer.status() != reqwest::StatusCode::OK {
            return;
        }
        let Some(request_id) = answer
            .headers()
            .get("lambda-runtime-aws-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
        else {
            return;
        };
        let message = format!("RequestId: {request_id} Error: Runtime exited with error: {status}");
        eprintln!(
            "{} {request_id} INIT_REPORT Status: error Error Type: Runtime.ExitError\n{message}",
            self.spec.function
        );
        self.post_error(&request_id, "Runtime.ExitError", &message)
            .await;
    }

    /// Posts `error_type` / `message` to cargo-lambda as `request_id`'s error.
    async fn post_error(&self, request_id: &str, error_type: &str, message: &str) {
        let url = format!(
            "{}{}/2018-06-01/runtime/invocation/{request_id}/error",
            self.upstream.origin, self.upstream.prefix
        );
        let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
        if let Err(e) = self
            .http
            .post(&url)
            .header("lambda-runtime-function-error-type", error_type)
            .json(&body)
            .send()
            .await
        {
            eprintln!("devstack sandbox: posting {error_type} for {request_id} to {url}: {e}");
        }
    }
}

/// The resident memory of process `pid` (`VmRSS` in `/proc/<pid>/status`), bytes; `None` where
/// there is no `/proc` (macOS: MemorySize is then not enforced).
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

/// `VmRSS:   12345 kB` → bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Milliseconds since the Unix epoch, as `Lambda-Runtime-Deadline-Ms` counts.
fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// Relays one Runtime API request from the runtime to cargo-lambda, applying the function's
/// limits: the deadline of a new invocation, the size of a response.
async fn relay(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    match relay_inner(&shared, request).await {
        Ok(response) => response,
        Err(e) => {
            if e.downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_connect)
            {
                // cargo lambda watch has stopped: nothing will invoke this function again.
                shared.gone.notify_one();
            }
            eprintln!("devstack sandbox: Runtime API relay: {e:#}");
            plain(502, "the Runtime API relay could not reach cargo-lambda")
        }
    }
}

async fn relay_inner(shared: &Shared, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let body = axum::body::to_bytes(body, RELAY_BODY_LIMIT)
        .await
        .map_err(|e| anyhow!("reading the runtime's request: {e}"))?;
    let invocation = path
        .split("/2018-06-01/runtime/invocation/")
        .nth(1)
        .map(|rest| rest.trim_end_matches('/').to_owned());
    if let Some(rest) = &invocation
        && let Some((request_id, verb)) = rest.split_once('/')
        && (verb == "response" || verb == "error")
    {
        if shared.finish(request_id).is_none() {
            // Already ended by the sandbox (timed out): Lambda drops a late answer.
            return Ok(plain(202, ""));
        }
        if verb == "response" && body.len() > MAX_RESPONSE_BYTES {
            let message = format!(
                "Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
                body.len()
            );
            eprintln!("{} {request_id} {message}", shared.spec.function);
            shared
                .post_error(request_id, "Function.ResponseSizeTooLarge", &message)
                .await;
            return Ok(plain(413, &message));
        }
    }
    if invocation.as_deref() == Some("next") {
        shared
            .initialized
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    let url = format!("{}{path}", shared.upstream.origin);
    let mut upstream = shared.http.request(parts.method.clone(), &url);
    for (name, value) in &parts.headers {
        if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.body(body).send().await?;
    let status = answer.status();
    let mut headers = answer.headers().clone();
    let bytes = answer.bytes().await?;
    if invocation.as_deref() == Some("next") && status == reqwest::StatusCode::OK {
        let request_id = headers
            .get("lambda-runtime-aws-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let now = Instant::now();
        let timeout = Duration::from_millis(shared.spec.timeout_ms);
        let deadline_ms = epoch_ms().saturating_add(shared.spec.timeout_ms);
        if let Ok(value) = http::HeaderValue::from_str(&deadline_ms.to_string()) {
            headers.insert("lambda-runtime-deadline-ms", value);
        }
        *shared.lock() = Some(Current {
            request_id,
            started: now,
            deadline: now + timeout,
        });
        shared.changed.notify_one();
    }
    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in &headers {
        if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    Ok(response.body(Body::from(bytes))?)
}

fn plain(status: u16, text: &str) -> Response {
    Response::builder()
        .status(status)
        .body(Body::from(text.to_owned()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_runtime_api_keeps_its_function_prefix() {
        let u = Upstream::parse("http://127.0.0.1:9000/.rt/get-product").unwrap();
        assert_eq!(u.origin, "http://127.0.0.1:9000");
        assert_eq!(u.prefix, "/.rt/get-product");
        let bare = Upstream::parse("127.0.0.1:9001").unwrap();
        assert_eq!(bare.origin, "http://127.0.0.1:9001");
        assert_eq!(bare.prefix, "");
        assert!(Upstream::parse("http:///x").is_err());
    }

    #[test]
    fn resident_memory_is_read_from_proc_status_in_bytes() {
        let status = "Name:\tprobe\nVmPeak:\t  300000 kB\nVmRSS:\t  204800 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(204_800 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        // This very process has a resident size on Linux.
        if cfg!(target_os = "linux") {
            assert!(resident_bytes(std::process::id()).is_some_and(|b| b > 0));
        }
    }

    #[test]
    fn a_spec_round_trips_through_its_file() {
        let dir = std::env::temp_dir().join(format!("sandbox-spec-{}", std::process::id()));
        let spec = Spec {
            function: "GetProductFunction".into(),
            timeout_ms: 1000,
            memory_mb: 128,
            env: BTreeMap::from([("AWS_ACCESS_KEY_ID".into(), "ASIAEXAMPLE".into())]),
            unset: vec!["BREAKERS_TABLE".into()],
        };
        spec.write(&dir, "get-product").unwrap();
        let read: Spec =
            serde_json::from_slice(&std::fs::read(Spec::path(&dir, "get-product")).unwrap())
                .unwrap();
        assert_eq!(read, spec);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
