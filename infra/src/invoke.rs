//! Client for the Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`), as
//! served by `cargo lambda watch`.

use std::time::Duration;

use anyhow::{Result, anyhow};

/// Outcome of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// The function returned this payload (JSON bytes).
    Ok(Vec<u8>),
    /// The function reported an error, crashed or answered garbage; the text says which.
    FunctionError(String),
    /// No answer within the function's timeout.
    TimedOut,
}

/// Invokes functions by name on one Lambda Invoke API endpoint.
#[derive(Debug, Clone)]
pub struct Invoker {
    base: String,
    http: reqwest::Client,
}

/// Extra time on top of a function's timeout for `cargo lambda watch` to (re)start it: the
/// first invocation after a code change recompiles the binary (seconds).
pub const COLD_START_SLACK: Duration = Duration::from_secs(120);

impl Invoker {
    /// An invoker for the endpoint at `base`, e.g. `http://127.0.0.1:9000`.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Invokes `function` with `payload` (JSON) and waits up to `timeout`.
    ///
    /// # Errors
    /// The Invoke API itself is unreachable (not a function failure, which is
    /// [`Invocation::FunctionError`]).
    pub async fn invoke(
        &self,
        function: &str,
        payload: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Invocation> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
        let sent = self
            .http
            .post(&url)
            .json(payload)
            .timeout(timeout)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Ok(Invocation::TimedOut),
            Err(e) => return Err(anyhow!("Lambda Invoke API at {url}: {e}")),
        };
        let status = resp.status();
        let function_error = resp.headers().contains_key("x-amz-function-error");
        let body = match resp.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) if e.is_timeout() => return Ok(Invocation::TimedOut),
            Err(e) => return Ok(Invocation::FunctionError(e.to_string())),
        };
        if status.is_success() && !function_error {
            Ok(Invocation::Ok(body))
        } else {
            Ok(Invocation::FunctionError(format!(
                "{status}: {}",
                String::from_utf8_lossy(&body)
            )))
        }
    }
}
