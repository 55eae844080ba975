//! The console's HTTP side, merged into the control server (127.0.0.1 only):
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /console` | | the page (`infra/console/index.html`, embedded), with `console.js`, `console.css` beside it |
//! | `GET /console/api/requests?limit=` | | `200` `{"requests":[`[`RequestEntry`]`],"deliveries":[`[`Delivery`]`]}`, newest first (100 by default) |
//! | `GET /console/api/functions` | | `200` `[`[`FunctionView`]`]` |
//! | `GET /console/api/queues` | | `200` `[`[`QueueView`]`]`: every queue of the template with its depth |
//! | `GET /console/api/queues/{id}/messages` | | `200` [`Peek`]: the DLQ's messages, left in place (each listing adds one receive) |
//! | `POST /console/api/queues/{id}/redrive` | | `200` [`Redriven`]; `409` when it has no source queue |
//! | `POST /console/api/queues/{id}/inject` | `{"body":"<JSON text>"}` | `200` `{"message_id"}`; `400` not JSON |
//! | `GET /console/api/saga?order_id=\|correlation_id=` | | `200` [`Timeline`] |
//! | `GET /console/api/metrics` | | `200` [`MetricsView`] |
//!
//! Queues are named by logical id (`InventoryDeadLetterQueue`), as for `devstack dlq`. The
//! faults are the control API's own `/faults` endpoints. Errors are `{"error":"..."}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::saga::{self, SagaQuery, Timeline};
use super::{Console, Delivery, FunctionView, MetricsView, RequestEntry, now_ms};
use crate::dlq;
use crate::provision::{QueueInfo, queue_plans};
use crate::template::Template;

const PAGE: &str = include_str!("../../console/index.html");
const SCRIPT: &str = include_str!("../../console/console.js");
const STYLE: &str = include_str!("../../console/console.css");

/// What the console's endpoints read and act on.
#[derive(Debug, Clone)]
pub struct ConsoleApi {
    /// The store the hooks fill.
    pub console: Console,
    /// SQS on the emulator (not through the fault proxy).
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB on the emulator.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The template (queues, their redrive policies, dead-letter writers).
    pub template: Arc<Template>,
    /// The stack name (physical names' prefix).
    pub stack: String,
    /// Queues by logical id, as provisioned (URLs survive an emulator restart).
    pub queues: BTreeMap<String, QueueInfo>,
    /// The orders table's physical name (`OrdersTable`), when the template has one.
    pub orders_table: Option<String>,
}

/// The console's routes (see the module docs).
pub fn router(api: ConsoleApi) -> axum::Router {
    axum::Router::new()
        .route(
            "/console",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/console/",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/console/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/console/console.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/console/api/requests", get(requests))
        .route("/console/api/functions", get(functions))
        .route("/console/api/queues", get(queues))
        .route("/console/api/queues/{id}/messages", get(messages))
        .route("/console/api/queues/{id}/redrive", post(redrive))
        .route("/console/api/queues/{id}/inject", post(inject))
        .route("/console/api/saga", get(saga_timeline))
        .route("/console/api/metrics", get(metrics))
        .with_state(api)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

#[derive(Debug, Serialize)]
struct ErrorBody {
    error: String,
}

fn refused(status: StatusCode, error: String) -> Response {
    (status, Json(ErrorBody { error })).into_response()
}

/// `GET /console/api/requests`'s query.
#[derive(Debug, Deserialize)]
struct Limit {
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /console/api/requests`.
#[derive(Debug, Serialize)]
pub struct Recent {
    /// Latest requests, newest first.
    pub requests: Vec<RequestEntry>,
    /// Latest deliveries, newest first.
    pub deliveries: Vec<Delivery>,
}

async fn requests(State(api): State<ConsoleApi>, Query(q): Query<Limit>) -> Json<Recent> {
    let limit = q.limit.unwrap_or(100);
    Json(Recent {
        requests: api.console.requests(limit),
        deliveries: api.console.deliveries(limit),
    })
}

async fn functions(State(api): State<ConsoleApi>) -> Json<Vec<FunctionView>> {
    Json(api.console.functions())
}

async fn metrics(State(api): State<ConsoleApi>) -> Json<MetricsView> {
    Json(api.console.metrics(now_ms()))
}

/// One queue of the template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueView {
    /// Logical id.
    pub id: String,
    /// Physical name.
    pub name: String,
    /// `ApproximateNumberOfMessages` (`None`: the emulator did not answer).
    pub messages: Option<u64>,
    /// `ApproximateNumberOfMessagesNotVisible` (in flight).
    pub in_flight: Option<u64>,
    /// `ApproximateNumberOfMessagesDelayed`.
    pub delayed: Option<u64>,
    /// Whether it is a dead-letter queue (a redrive policy names it, or a function writes
    /// dead letters to it).
    pub dead_letter: bool,
    /// Whether the console can redrive it (a source queue redrives into it).
    pub redrivable: bool,
    /// Its own dead-letter queue's logical id.
    pub dead_letter_queue: Option<String>,
    /// Why the attributes could not be read.
    pub error: Option<String>,
}

async fn queues(State(api): State<ConsoleApi>) -> Response {
    let plans = match queue_plans(&api.template, &api.stack, None) {
        Ok(p) => p,
        Err(e) => return refused(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    };
    let writers = dlq::writers(&api.template).unwrap_or_default();
    let mut out = Vec::new();
    for plan in &plans {
        let sources = plans.iter().any(|p| {
            p.redrive
                .as_ref()
                .is_some_and(|(d, _)| *d == plan.logical_id)
        });
        let written = writers.iter().any(|w| w.queue == plan.logical_id);
        let mut view = QueueView {
            id: plan.logical_id.clone(),
            name: plan.name.clone(),
            messages: None,
            in_flight: None,
            delayed: None,
            dead_letter: sources || written,
            redrivable: sources,
            dead_letter_queue: plan.redrive.as_ref().map(|(d, _)| d.clone()),
            error: None,
        };
        match api.queues.get(&plan.logical_id) {
            Some(info) => match depth(&api.sqs, &info.url).await {
                Ok((m, f, d)) => {
                    view.messages = m;
                    view.in_flight = f;
                    view.delayed = d;
                }
                Err(e) => view.error = Some(e),
            },
            None => view.error = Some("not provisioned".to_owned()),
        }
        out.push(view);
    }
    Json(out).into_response()
}

type Depth = (Option<u64>, Option<u64>, Option<u64>);

async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Depth, String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::Error::from(e).to_string())?;
    let attrs = out.attributes.unwrap_or_default();
    let n = |a: QueueAttributeName| attrs.get(&a).and_then(|v| v.parse().ok());
    Ok((
        n(QueueAttributeName::ApproximateNumberOfMessages),
        n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        n(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    ))
}

/// One message of a peeked DLQ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeekedMessage {
    /// `MessageId`.
    pub message_id: String,
    /// `ApproximateReceiveCount` (this peek's receive included).
    pub receive_count: Option<u32>,
    /// `SentTimestamp`, RFC 3339.
    pub sent: Option<String>,
    /// `DeadLetterQueueSourceArn`.
    pub source_arn: Option<String>,
    /// String message attributes.
    pub attributes: BTreeMap<String, String>,
    /// The body.
    pub body: String,
}

/// `GET /console/api/queues/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peek {
    /// The DLQ's logical id (the one asked for, or the DLQ of a source queue).
    pub queue: String,
    /// Its messages (at most [`PEEK_MAX`]).
    pub messages: Vec<PeekedMessage>,
}

/// Messages one peek lists at most.
pub const PEEK_MAX: usize = 50;

async fn messages(State(api): State<ConsoleApi>, Path(id): Path<String>) -> Response {
    let q = match dlq::resolve(&api.template, &api.stack, &id, &api.sqs).await {
        Ok(q) => q,
        Err(e) => return refused(StatusCode::BAD_REQUEST, format!("{e:#}")),
    };
    match dlq::list(&api.sqs, &q.dlq, Some(PEEK_MAX)).await {
        Ok(list) => Json(Peek {
            queue: q.dlq.logical_id,
            messages: list
                .into_iter()
                .map(|m| PeekedMessage {
                    message_id: m.message_id,
                    receive_count: m.receive_count,
                    sent: m
                        .sent
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                    source_arn: m.source_arn,
                    attributes: m.attributes,
                    body: m.body,
                })
                .collect(),
        })
        .into_response(),
        Err(e) => refused(StatusCode::BAD_GATEWAY, format!("{e:#}")),
    }
}

/// `POST /console/api/queues/{id}/redrive`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redriven {
    /// The DLQ's logical id.
    pub queue: String,
    /// Messages moved.
    pub moved: usize,
    /// Per source queue logical id.
    pub to: BTreeMap<String, usize>,
}

async fn redrive(State(api): State<ConsoleApi>, Path(id): Path<String>) -> Response {
    let q = match dlq::resolve(&api.template, &api.stack, &id, &api.sqs).await {
        Ok(q) => q,
        Err(e) => return refused(StatusCode::BAD_REQUEST, format!("{e:#}")),
    };
    if q.sources.is_empty() {
        return refused(StatusCode::CONFLICT, dlq::no_source_queue(&q));
    }
    match dlq::redrive(&api.sqs, &q, None).await {
        Ok(to) => {
            let moved = to.values().sum();
            tracing::info!(queue = %q.dlq.logical_id, moved, "console: redrive");
            Json(Redriven {
                queue: q.dlq.logical_id,
                moved,
                to,
            })
            .into_response()
        }
        Err(e) => refused(StatusCode::CONFLICT, format!("{e:#}")),
    }
}

/// `POST /console/api/queues/{id}/inject`'s body.
#[derive(Debug, Deserialize)]
struct Inject {
    body: String,
}

#[derive(Debug, Serialize)]
struct Injected {
    message_id: String,
}

async fn inject(
    State(api): State<ConsoleApi>,
    Path(id): Path<String>,
    Json(req): Json<Inject>,
) -> Response {
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&req.body) {
        return refused(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        );
    }
    let Some(info) = api.queues.get(&id) else {
        return refused(
            StatusCode::NOT_FOUND,
            format!("no queue {id} in the template (give a logical id, e.g. OrdersQueue)"),
        );
    };
    match api
        .sqs
        .send_message()
        .queue_url(&info.url)
        .message_body(&req.body)
        .send()
        .await
    {
        Ok(out) => {
            tracing::info!(queue = %id, "console: message injected");
            Json(Injected {
                message_id: out.message_id.unwrap_or_default(),
            })
            .into_response()
        }
        Err(e) => refused(
            StatusCode::BAD_GATEWAY,
            aws_sdk_sqs::Error::from(e).to_string(),
        ),
    }
}

async fn saga_timeline(
    State(api): State<ConsoleApi>,
    Query(q): Query<SagaQuery>,
) -> Json<Timeline> {
    let (requests, deliveries) = api.console.history();
    let timeline = saga::assemble(&q, &requests, &deliveries);
    let status = match (&timeline.order_id, &api.orders_table) {
        (Some(id), Some(table)) => order_status(&api.dynamodb, table, id).await,
        _ => None,
    };
    Json(timeline.with_status(status))
}

/// The `status` of order `id` (`GetItem` on the orders table, key `id`); `None` when absent
/// or unreadable.
async fn order_status(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &str,
) -> Option<String> {
    let out = dynamodb
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S(id.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| tracing::debug!(error = %aws_sdk_dynamodb::Error::from(e), "console: reading the order"))
        .ok()?;
    out.item?.get("status")?.as_s().ok().cloned()
}
