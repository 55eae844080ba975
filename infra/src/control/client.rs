//! The control API's typed client, [`Client`]: one method per route, an answer's
//! `{"error":...}` as the error's message.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use super::{
    Cleared, Dependency, ErrorBody, FaultList, LedgerQuery, LogQuery, Message, RequestCount,
    SimulateQuery, Simulation, Status,
};
use crate::fault::{RequestFilter, Rule, RuleSpec};
use crate::payments::books::{AccessEntry, LedgerEntry};
use crate::payments::{HealthChange, InstanceHealth};

/// Typed client of a running devstack's control API.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

/// How long the client waits for an answer (a restart of the emulator re-provisions).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);

impl Client {
    /// A client of the control API at `base` (`http://127.0.0.1:4599`).
    ///
    /// # Errors
    /// The HTTP client cannot be built (no TLS backend is needed: plain HTTP).
    pub fn new(base: &str) -> Result<Self> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(CLIENT_TIMEOUT)
                .no_proxy()
                .build()?,
        })
    }

    /// The client of the stack `stack` started from the project at `root`: reads `"control"`
    /// from `<root>/.devstack/ready-<stack>.json`.
    ///
    /// # Errors
    /// No ready file (the stack is not running; the message says how to start it), or it has
    /// no control URL (started by an older devstack).
    pub fn from_ready_file(root: &Path, stack: &str) -> Result<Self> {
        let path = root.join(".devstack").join(format!("ready-{stack}.json"));
        let text = std::fs::read_to_string(&path).map_err(|_| {
            anyhow!(
                "no running stack {stack} (no {}): start it with `make dev` (or `devstack --stack-name {stack} up`)",
                path.display()
            )
        })?;
        let ready: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        let control = ready["control"].as_str().ok_or_else(|| {
            anyhow!(
                "{} has no control URL: the stack was started by an older devstack; restart it",
                path.display()
            )
        })?;
        Self::new(control)
    }

    /// The control API's URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T> {
        let resp = req.send().await.map_err(|e| {
            anyhow!(
                "devstack does not answer on {} ({e}): is it still running? (`make dev` starts it)",
                self.base
            )
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            let why = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            bail!("{why}");
        }
        serde_json::from_slice(&bytes).context("the control API answered something unexpected")
    }

    /// Adds a fault rule; returns it with its id.
    ///
    /// # Errors
    /// The rule cannot work (the message says why) or devstack does not answer.
    pub async fn add_fault(&self, spec: &RuleSpec) -> Result<Rule> {
        self.send(self.http.post(format!("{}/faults", self.base)).json(spec))
            .await
    }

    /// Every rule with its hits, and the dependencies' states.
    ///
    /// # Errors
    /// devstack does not answer.
    pub async fn faults(&self) -> Result<FaultList> {
        self.send(self.http.get(format!("{}/faults", self.base)))
            .await
    }

    /// Removes every rule and brings Redis back up if a fault took it down.
    ///
    /// # Errors
    /// devstack does not answer, or Redis does not start again.
    pub async fn clear_faults(&self) -> Result<Cleared> {
        self.send(self.http.delete(format!("{}/faults", self.base)))
            .await
    }

    /// Removes rule `id`.
    ///
    /// # Errors
    /// No such rule, or devstack does not answer.
    pub async fn remove_fault(&self, id: u64) -> Result<Cleared> {
        self.send(self.http.delete(format!("{}/faults/{id}", self.base)))
            .await
    }

    /// Stops the redis-server devstack started.
    ///
    /// # Errors
    /// Redis was reused or is already down (the message says so), or devstack does not answer.
    pub async fn redis_down(&self) -> Result<Message> {
        self.send(self.http.post(format!("{}/redis/down", self.base)))
            .await
    }

    /// Starts it again.
    ///
    /// # Errors
    /// Redis was reused or is already up, or it does not start.
    pub async fn redis_up(&self) -> Result<Message> {
        self.send(self.http.post(format!("{}/redis/up", self.base)))
            .await
    }

    /// Starts `dependency` again (stopping it first if it runs); for the emulator, also
    /// re-provisions and moves the stream mappings to the new stream ARNs.
    ///
    /// # Errors
    /// It was reused, does not start, or provisioning fails (the message says which).
    pub async fn restart(&self, dependency: Dependency) -> Result<Message> {
        self.send(
            self.http
                .post(format!("{}/restart/{dependency}", self.base)),
        )
        .await
    }

    /// How many of the proxy's last 10 000 requests pass `filter`.
    ///
    /// # Errors
    /// devstack does not answer.
    pub async fn requests(&self, filter: &RequestFilter) -> Result<usize> {
        let r: RequestCount = self
            .send(
                self.http
                    .get(format!("{}/requests", self.base))
                    .query(filter),
            )
            .await?;
        Ok(r.count)
    }

    /// The running stack's decision for one function, action and resource (`devstack iam
    /// simulate`).
    ///
    /// # Errors
    /// No such function, or devstack does not answer.
    pub async fn iam_simulate(&self, query: &SimulateQuery) -> Result<Simulation> {
        self.send(
            self.http
                .get(format!("{}/iam/simulate", self.base))
                .query(query),
        )
        .await
    }

    /// The dependencies' states.
    ///
    /// # Errors
    /// devstack does not answer.
    pub async fn status(&self) -> Result<Status> {
        self.send(self.http.get(format!("{}/status", self.base)))
            .await
    }

    /// The local payment provider's ledger (of one order when `order` is given).
    ///
    /// # Errors
    /// devstack does not answer.
    pub async fn payments_ledger(&self, order: Option<&str>) -> Result<Vec<LedgerEntry>> {
        let query = LedgerQuery {
            order: order.map(ToOwned::to_owned),
        };
        self.send(
            self.http
                .get(format!("{}/payments/ledger", self.base))
                .query(&query),
        )
        .await
    }

    /// The provider's access log after seq `after` (of one instance when given).
    ///
    /// # Errors
    /// devstack does not answer.
    pub async fn payments_log(&self, query: &LogQuery) -> Result<Vec<AccessEntry>> {
        self.send(
            self.http
                .get(format!("{}/payments/log", self.base))
                .query(query),
        )
        .await
    }

    /// Marks a provider instance healthy or unhealthy in the emulator's Cloud Map.
    ///
    /// # Errors
    /// No such instance, a bad status, no Cloud Map service, or devstack does not answer.
    pub async fn payments_health(&self, change: &HealthChange) -> Result<Message> {
        self.send(
            self.http
                .post(format!("{}/payments/health", self.base))
                .json(change),
        )
        .await
    }

    /// The provider's instances in the emulator's Cloud Map: id, URL, health.
    ///
    /// # Errors
    /// No Cloud Map service, or devstack does not answer.
    pub async fn payments_instances(&self) -> Result<Vec<InstanceHealth>> {
        self.send(self.http.get(format!("{}/payments/instances", self.base)))
            .await
    }
}
