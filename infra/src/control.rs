//! The control API of a running `devstack up` (HTTP JSON on `--control-port`, 127.0.0.1 only)
//! and its typed client, [`Client`], which the `devstack fault|restart|requests` commands and
//! the end-to-end tests use.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /faults` | | `200` [`FaultList`]: rules (spent ones too) with hits, Redis's and the emulator's state |
//! | `POST /faults` | [`RuleSpec`] | `201` [`Rule`] (with its `id`); `400` when the rule cannot work |
//! | `DELETE /faults` | | `200` [`Cleared`]: removes every rule and brings Redis back up if a fault took it down |
//! | `DELETE /faults/{id}` | | `200` [`Cleared`]; `404` no such rule |
//! | `POST /redis/down` | | `200` [`Message`]; `409` when Redis was reused (not started by devstack) or is down |
//! | `POST /redis/up` | | `200` [`Message`]; `409` when Redis was reused or is up |
//! | `POST /restart/{redis\|emulator}` | | `200` [`Message`] once it answers again (the emulator: re-provisioned, stream mappings on the new stream ARNs); `409` when reused |
//! | `GET /requests?service=&operation=&match=` | | `200` [`RequestCount`]: requests the proxy received (of its last 10 000) that pass every given filter; `match` is a substring of the body's first 4 KiB |
//! | `GET /status` | | `200` [`Status`] |
//! | `GET /payments/ledger?order=` | | `200` `[`[`LedgerEntry`]`]`: every charge and refund of the local payment provider (of one order) |
//! | `GET /payments/log?after=&instance=` | | `200` `[`[`AccessEntry`]`]`: the provider's access log after seq `after`, of one instance |
//! | `POST /payments/health` | [`HealthChange`] | `200` [`Message`]; `409` unknown instance, bad status, or no Cloud Map service |
//! | `GET /payments/instances` | | `200` `[`[`InstanceHealth`]`]` (id, URL, health in the emulator's Cloud Map); `409` no service |
//! | `GET /iam/simulate?function=&action=&resource=` | | `200` [`Simulation`]: the function's policies' decision (see `crate::iam`); `404` no such function |
//!
//! | `GET /console`, `/console/api/...` | | the local console's page and JSON ([`crate::console::api`], merged in by `devstack up`) |
//!
//! A rule (`RuleSpec`) is `{"service":"dynamodb","operation":"GetItem","match":"SKU-1",
//! "action":{"kind":"throttle"},"count":2}` with `operation`, `match` and `count` optional (and,
//! for the local payment provider, service `payments`: `"instance":"provider-b"`, `"rate":0.5`,
//! `"after":true`, see [`RuleSpec`]) and
//! `action` one of `{"kind":"latency","ms":800}`, `{"kind":"hang"}`, `{"kind":"down"}`,
//! `{"kind":"throttle"}`, `{"kind":"error","status":500,"code":"InternalServerError"}`.
//! Errors are `{"error":"<what went wrong and what to do>"}`.
//!
//! The control port and the proxy's are in the stack's ready file,
//! `.devstack/ready-<stack>.json` (`"control"`, `"proxy"`, and `"redis_port"`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::fault::{Faults, RequestFilter, Rule, RuleSpec};
use crate::payments::books::{AccessEntry, LedgerEntry};
use crate::payments::{HealthChange, InstanceHealth, Payments};

/// A dependency devstack can stop and start again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dependency {
    /// The redis-server.
    Redis,
    /// The AWS API emulator (moto server).
    Emulator,
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Redis => "redis",
            Self::Emulator => "emulator",
        })
    }
}

/// The state of a dependency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DependencyState {
    /// Started by devstack and running.
    Running,
    /// Stopped on purpose (`devstack fault redis down`).
    Down,
    /// Exited on its own.
    Exited {
        /// Its exit status, as text.
        status: String,
    },
    /// Being started again.
    Restarting,
    /// Already listening when devstack started: not devstack's to stop or start.
    Reused,
}

impl std::fmt::Display for DependencyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Running => f.write_str("running"),
            Self::Down => f.write_str("down (fault)"),
            Self::Exited { status } => write!(f, "exited ({status})"),
            Self::Restarting => f.write_str("restarting"),
            Self::Reused => f.write_str("reused (not started by devstack)"),
        }
    }
}

/// The dependencies' states, published by `devstack up`'s loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// redis-server.
    pub redis: DependencyState,
    /// The AWS API emulator.
    pub emulator: DependencyState,
}

/// `GET /faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultList {
    /// Every rule, in the order added (the first active match applies).
    pub rules: Vec<Rule>,
    /// redis-server's state.
    pub redis: DependencyState,
    /// The emulator's state.
    pub emulator: DependencyState,
}

/// `DELETE /faults[/{id}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleared {
    /// Rules removed.
    pub removed: usize,
    /// What was done to Redis, when a fault had taken it down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<String>,
}

/// A one-line answer (what was done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// What was done.
    pub message: String,
}

/// `GET /requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCount {
    /// Matching requests.
    pub count: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct ErrorBody {
    error: String,
}

/// What the control API asks of `devstack up`'s loop, which owns the processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Stop the redis-server devstack started.
    RedisDown,
    /// Start it again.
    RedisUp,
    /// Stop (if running) and start a dependency again.
    Restart(Dependency),
}

/// An [`Order`] with where to send the answer: `Ok(message)` or `Err(reason)` (a refusal, e.g.
/// a reused Redis, or a failure).
#[derive(Debug)]
pub struct Command {
    /// What to do.
    pub order: Order,
    /// The answer.
    pub reply: oneshot::Sender<Result<String, String>>,
}

/// The control API's state.
#[derive(Debug, Clone)]
pub struct Control {
    /// Rules and request log, shared with the proxy.
    pub faults: Arc<Faults>,
    /// Orders to `devstack up`'s loop.
    pub commands: mpsc::Sender<Command>,
    /// The dependencies' states.
    pub status: watch::Receiver<Status>,
    /// The local payment provider and its Cloud Map service.
    pub payments: Arc<Payments>,
    /// Every function's expanded policies (`GET /iam/simulate`).
    pub iam: Arc<crate::iam::Iam>,
}

impl Control {
    async fn order(&self, order: Order) -> Result<String, String> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command { order, reply })
            .await
            .map_err(|_| "devstack is stopping".to_owned())?;
        answer
            .await
            .map_err(|_| "devstack is stopping".to_owned())?
    }
}

/// The control API's routes (see the module docs).
pub fn router(control: Control) -> axum::Router {
    axum::Router::new()
        .route("/faults", get(list).post(add).delete(clear))
        .route("/faults/{id}", delete(remove))
        .route("/redis/down", post(redis_down))
        .route("/redis/up", post(redis_up))
        .route("/restart/{dependency}", post(restart))
        .route("/requests", get(requests))
        .route("/status", get(status))
        .route("/payments/ledger", get(payments_ledger))
        .route("/payments/log", get(payments_log))
        .route("/payments/health", post(payments_health))
        .route("/payments/instances", get(payments_instances))
        .route("/iam/simulate", get(iam_simulate))
        .with_state(control)
}

fn refused(status: StatusCode, error: String) -> Response {
    (status, Json(ErrorBody { error })).into_response()
}

async fn list(State(c): State<Control>) -> Json<FaultList> {
    let status = c.status.borrow().clone();
    Json(FaultList {
        rules: c.faults.rules.list(),
        redis: status.redis,
        emulator: status.emulator,
    })
}

async fn add(State(c): State<Control>, Json(spec): Json<RuleSpec>) -> Response {
    match c.faults.rules.add(spec) {
        Ok(rule) => {
            tracing::info!(id = rule.id, rule = %serde_json::to_string(&rule.spec).unwrap_or_default(), "fault added");
            (StatusCode::CREATED, Json(rule)).into_response()
        }
        Err(e) => refused(StatusCode::BAD_REQUEST, e),
    }
}

async fn clear(State(c): State<Control>) -> Response {
    let removed = c.faults.rules.clear();
    tracing::info!(removed, "faults cleared");
    let down = c.status.borrow().redis == DependencyState::Down;
    let redis = if down {
        match c.order(Order::RedisUp).await {
            Ok(m) => Some(m),
            Err(e) => return refused(StatusCode::INTERNAL_SERVER_ERROR, e),
        }
    } else {
        None
    };
    Json(Cleared { removed, redis }).into_response()
}

async fn remove(State(c): State<Control>, UrlPath(id): UrlPath<u64>) -> Response {
    if c.faults.rules.remove(id) {
        tracing::info!(id, "fault removed");
        Json(Cleared {
            removed: 1,
            redis: None,
        })
        .into_response()
    } else {
        refused(
            StatusCode::NOT_FOUND,
            format!("no fault rule {id}: `devstack fault list` shows the ids"),
        )
    }
}

async fn answer(c: &Control, order: Order) -> Response {
    match c.order(order).await {
        Ok(message) => Json(Message { message }).into_response(),
        Err(e) => refused(StatusCode::CONFLICT, e),
    }
}

async fn redis_down(State(c): State<Control>) -> Response {
    answer(&c, Order::RedisDown).await
}

async fn redis_up(State(c): State<Control>) -> Response {
    answer(&c, Order::RedisUp).await
}

async fn restart(State(c): State<Control>, UrlPath(dependency): UrlPath<Dependency>) -> Response {
    answer(&c, Order::Restart(dependency)).await
}

async fn requests(
    State(c): State<Control>,
    Query(filter): Query<RequestFilter>,
) -> Json<RequestCount> {
    Json(RequestCount {
        count: c.faults.log.count(&filter),
    })
}

/// `GET /iam/simulate`'s query: one function, action and resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimulateQuery {
    /// The function's logical id, e.g. `GetProductFunction`.
    pub function: String,
    /// `service:Action`, e.g. `dynamodb:GetItem`.
    pub action: String,
    /// The resource ARN (`*` for an action that takes none).
    pub resource: String,
}

/// `GET /iam/simulate`'s answer, the local `aws iam simulate-principal-policy`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Simulation {
    /// `allowed` or `denied`.
    pub decision: String,
    /// Why: the policy that allowed or explicitly denied, or that none allows.
    pub detail: String,
    /// The role checked and its policies.
    pub role: String,
}

async fn iam_simulate(State(c): State<Control>, Query(q): Query<SimulateQuery>) -> Response {
    use crate::iam::policy::Decision;
    let decision = match c
        .iam
        .simulate(&q.function, &q.action, &q.resource, Default::default())
    {
        Ok(d) => d,
        Err(e) => return refused(StatusCode::NOT_FOUND, format!("{e:#}")),
    };
    let role = c
        .iam
        .role(&q.function)
        .map(|r| format!("{} ({})", r.role, r.policy_names()))
        .unwrap_or_default();
    let (verdict, detail) = match &decision {
        Decision::Allowed { policy } => ("allowed", format!("allowed by {policy}")),
        Decision::ExplicitlyDenied { policy } => {
            ("denied", format!("explicitly denied by {policy}"))
        }
        Decision::ImplicitlyDenied => (
            "denied",
            "implicitly denied: no statement of the role's policies allows it".to_owned(),
        ),
    };
    Json(Simulation {
        decision: verdict.to_owned(),
        detail,
        role,
    })
    .into_response()
}

async fn status(State(c): State<Control>) -> Json<Status> {
    Json(c.status.borrow().clone())
}

/// `GET /payments/ledger`'s query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerQuery {
    /// Only this order's charges and refunds (`metadata.order_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

/// `GET /payments/log`'s query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogQuery {
    /// Only entries with a seq above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// Only this instance's entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

async fn payments_ledger(
    State(c): State<Control>,
    Query(q): Query<LedgerQuery>,
) -> Json<Vec<LedgerEntry>> {
    Json(c.payments.provider.ledger(q.order.as_deref()))
}

async fn payments_log(
    State(c): State<Control>,
    Query(q): Query<LogQuery>,
) -> Json<Vec<AccessEntry>> {
    Json(c.payments.provider.log(q.after, q.instance.as_deref()))
}

async fn payments_health(State(c): State<Control>, Json(change): Json<HealthChange>) -> Response {
    match c.payments.set_health(&change).await {
        Ok(message) => {
            tracing::info!("{message}");
            Json(Message { message }).into_response()
        }
        Err(e) => refused(StatusCode::CONFLICT, format!("{e:#}")),
    }
}

async fn payments_instances(State(c): State<Control>) -> Response {
    match c.payments.instances().await {
        Ok(list) => Json(list).into_response(),
        Err(e) => refused(StatusCode::CONFLICT, format!("{e:#}")),
    }
}

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
