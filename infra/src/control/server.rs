//! The control API's server side: the orders it sends `devstack up`'s loop ([`Order`],
//! [`Command`]), its state ([`Control`]), its routes ([`router`]) and their handlers.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tokio::sync::{mpsc, oneshot, watch};

use super::{
    Cleared, Dependency, DependencyState, ErrorBody, FaultList, LedgerQuery, LogQuery, Message,
    RequestCount, SimulateQuery, Simulation, Status,
};
use crate::fault::{Faults, RequestFilter, RuleSpec};
use crate::payments::books::{AccessEntry, LedgerEntry};
use crate::payments::{HealthChange, Payments};

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
