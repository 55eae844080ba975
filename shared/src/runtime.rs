//! The Lambda runtime as every function runs it: [`http`] replaces
//! `lambda_http::run(service_fn(..))`, [`events`] replaces `lambda_runtime::run(service_fn(..))`.
//! Both run the runtime unchanged (its `Lambda runtime invoke` span with `requestId` and
//! `xrayTraceId` included) around the handler, and per invocation:
//!
//! - install the EMF collector once ([`crate::metrics::init`], at the first call of the
//!   wrapper: before the first invocation, no I/O);
//! - count `ColdStart` on the instance's first invocation;
//! - set the `RequestId` property (the Lambda request id);
//! - HTTP: open the span `http_request{correlation_id, route}` around the handler (the API
//!   Gateway request id, [`crate::http::correlation_id`]; `routeKey`), then record
//!   `Latency{Route}` (ms) and count `Requests{Route, StatusClass}`; a handler error or panic
//!   counts as `5xx` (the runtime reports it to Lambda, API Gateway answers 500);
//! - events: count `BatchSize` (records in the event, [`Batch`]), record `BatchLatency` (ms),
//!   count `RecordsFailed` (the response's `batchItemFailures`, [`BatchOutcome`]; the whole
//!   batch when the handler fails or panics, as Lambda then retries it all);
//! - flush the EMF to stdout after EVERY invocation, success, error or panic (the runtime
//!   catches a panic while unwinding, which drops the flush guard).
//!
//! `Route` is the request context's `routeKey` (`GET /products/{id}`), [`OTHER_ROUTE`] when
//! there is none: never the raw path, never free text.
//!
//! Invocations are sequential (the classic runtime): the `RequestId` property is per process.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_http::lambda_runtime::{self, Diagnostic, LambdaEvent};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::metrics::{self, Metric};

/// The `Route` label of a request without a `routeKey` (a direct invocation).
pub const OTHER_ROUTE: &str = metrics::OTHER;

/// Set by the first invocation of this instance.
static WARM: AtomicBool = AtomicBool::new(false);

/// Counts `ColdStart` if this is the instance's first invocation.
fn count_cold_start() {
    if !WARM.swap(true, Ordering::Relaxed) {
        metrics::incr(Metric::ColdStart);
    }
}

/// Milliseconds since `started`.
fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// Runs an HTTP function: the runtime with `handler` for each request, wrapped as the module
/// doc says. Call as `shared::runtime::http(env!("CARGO_PKG_NAME"), |req| handler::handle(&x,
/// req)).await`; `function` is the `Function` dimension.
///
/// # Errors
/// The runtime's (it cannot reach the Runtime API).
pub async fn http<F, Fut, E>(function: &'static str, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, E>> + Send,
    E: Debug + Into<Diagnostic>,
{
    metrics::init(function);
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let invocation = HttpInvocation::begin(&req);
        invocation.run(handler(req), StdoutSink::default())
    }))
    .await
}

/// The catalog every product function serves: the table from `PRODUCTS_TABLE` behind the cache
/// from `CACHE_*` ([`crate::cache::products_from_env`]).
pub type Catalog = crate::cache::Cached<crate::aws::DynamoProducts>;

/// The whole `main` of a product function (`adjust-stock`, `create-product`, `delete-product`,
/// `get-product`, `list-products`, `update-product`): telemetry, the SDK configuration and the
/// [`Catalog`] built once per cold start, then [`http`] with `handler(&catalog, request)` per
/// request. Call as `shared::runtime::catalog_http(env!("CARGO_PKG_NAME"), handler::handle)`.
///
/// The catalog lives as long as the process (one execution environment), so it is leaked once
/// to lend every invocation a `&'static` reference.
///
/// # Errors
/// The cold start's [`crate::config::ConfigError`] naming the first variable missing or
/// invalid, or the runtime's (it cannot reach the Runtime API).
pub async fn catalog_http<F, Fut, E>(
    function: &'static str,
    handler: F,
) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static Catalog, Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, E>> + Send,
    E: Debug + Into<Diagnostic>,
{
    crate::telemetry::init();
    let sdk = crate::aws::load().await;
    let catalog: &'static Catalog =
        Box::leak(Box::new(crate::cache::products_from_env(&sdk).await?));
    http(function, move |req| handler(catalog, req)).await
}

/// One HTTP invocation exactly as [`http`] runs it, with the EMF flushed to `out` instead of
/// stdout (tests; the collector must be installed, [`metrics::init`]). Must run inside the
/// caller's span for the `http_request` span to have it as parent, as the runtime's.
pub async fn serve_http<F, Fut, E, W>(
    handler: &F,
    req: Request,
    out: W,
) -> Result<Response<Body>, E>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, E>>,
    W: io::Write,
{
    let invocation = HttpInvocation::begin(&req);
    invocation.run(handler(req), out).await
}

/// What an HTTP invocation knows before its handler runs.
struct HttpInvocation {
    route: String,
    span: tracing::Span,
    started: Instant,
}

impl HttpInvocation {
    /// Reads the request (route, ids), counts the cold start and opens the span. Runs inside
    /// the runtime's span (the service is called synchronously in it), which becomes the
    /// parent of `http_request`.
    fn begin(req: &Request) -> Self {
        let route = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context.route_key.clone(),
            _ => None,
        }
        .filter(|route| !route.trim().is_empty())
        .unwrap_or_else(|| OTHER_ROUTE.to_owned());
        let correlation_id = crate::http::correlation_id(req);
        let span = tracing::info_span!("http_request", correlation_id, route = route.as_str());
        if let Some(context) = req.lambda_context_ref() {
            metrics::set_request_id(&context.request_id);
        }
        count_cold_start();
        Self {
            route,
            span,
            started: Instant::now(),
        }
    }

    /// Runs `response` in the span and records the outcome; the guard flushes even on panic.
    async fn run<Fut, E, W>(self, response: Fut, out: W) -> Result<Response<Body>, E>
    where
        Fut: Future<Output = Result<Response<Body>, E>>,
        W: io::Write,
    {
        let mut guard = HttpGuard {
            route: self.route,
            started: self.started,
            status: None,
            out,
        };
        let result = response.instrument(self.span).await;
        guard.status = Some(match &result {
            Ok(response) => response.status().as_u16(),
            Err(_) => 500,
        });
        result
    }
}

/// Records `Requests`/`Latency` and flushes when dropped: after the handler, or while a panic
/// unwinds (then `status` is `None`: a 5xx).
struct HttpGuard<W: io::Write> {
    route: String,
    started: Instant,
    status: Option<u16>,
    out: W,
}

impl<W: io::Write> Drop for HttpGuard<W> {
    fn drop(&mut self) {
        let class = metrics::status_class(self.status.unwrap_or(500));
        metrics::record_ms(Metric::Latency, elapsed_ms(self.started), &[&self.route]);
        metrics::count(Metric::Requests, 1, &[&self.route, class]);
        write_metrics(&mut self.out);
    }
}

/// An event whose records a consumer processes: `BatchSize` is [`Batch::records`].
pub trait Batch {
    /// How many records the event carries.
    fn records(&self) -> usize;
}

impl Batch for SqsEvent {
    fn records(&self) -> usize {
        self.records.len()
    }
}

/// A consumer's response: `RecordsFailed` is [`BatchOutcome::failed_records`].
pub trait BatchOutcome {
    /// How many records the response reports as failed (`batchItemFailures`).
    fn failed_records(&self) -> usize;
}

impl BatchOutcome for SqsBatchResponse {
    fn failed_records(&self) -> usize {
        self.batch_item_failures.len()
    }
}

impl BatchOutcome for DynamoDbEventResponse {
    fn failed_records(&self) -> usize {
        self.batch_item_failures.len()
    }
}

/// Runs an event function (SQS consumers, the stream relay): the runtime with `handler` for
/// each event, wrapped as the module doc says. Call as
/// `shared::runtime::events(env!("CARGO_PKG_NAME"), |event| handler::handle(&x, event)).await`.
///
/// # Errors
/// The runtime's (it cannot reach the Runtime API).
pub async fn events<Ev, R, E, F, Fut>(
    function: &'static str,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    F: Fn(LambdaEvent<Ev>) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    Ev: DeserializeOwned + Batch,
    R: Serialize + BatchOutcome,
    E: Debug + Into<Diagnostic>,
{
    metrics::init(function);
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<Ev>| {
        let invocation = EventInvocation::begin(&event);
        invocation.run(handler(event), StdoutSink::default())
    }))
    .await
}

/// One event invocation exactly as [`events`] runs it, with the EMF flushed to `out` (tests;
/// the collector must be installed, [`metrics::init`]).
pub async fn serve_events<Ev, R, E, F, Fut, W>(
    handler: &F,
    event: LambdaEvent<Ev>,
    out: W,
) -> Result<R, E>
where
    F: Fn(LambdaEvent<Ev>) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    Ev: Batch,
    R: BatchOutcome,
    W: io::Write,
{
    let invocation = EventInvocation::begin(&event);
    invocation.run(handler(event), out).await
}

/// What an event invocation knows before its handler runs.
struct EventInvocation {
    records: usize,
    started: Instant,
}

impl EventInvocation {
    fn begin<Ev: Batch>(event: &LambdaEvent<Ev>) -> Self {
        metrics::set_request_id(&event.context.request_id);
        count_cold_start();
        Self {
            records: event.payload.records(),
            started: Instant::now(),
        }
    }

    async fn run<Fut, R, E, W>(self, response: Fut, out: W) -> Result<R, E>
    where
        Fut: Future<Output = Result<R, E>>,
        R: BatchOutcome,
        W: io::Write,
    {
        let mut guard = EventGuard {
            records: self.records,
            started: self.started,
            failed: None,
            out,
        };
        let result = response.await;
        guard.failed = Some(match &result {
            Ok(response) => response.failed_records(),
            Err(_) => self.records,
        });
        result
    }
}

/// Records `BatchSize`/`BatchLatency`/`RecordsFailed` and flushes when dropped: after the
/// handler, or while a panic unwinds (then every record failed).
struct EventGuard<W: io::Write> {
    records: usize,
    started: Instant,
    failed: Option<usize>,
    out: W,
}

impl<W: io::Write> Drop for EventGuard<W> {
    fn drop(&mut self) {
        let failed = self.failed.unwrap_or(self.records);
        metrics::count(Metric::BatchSize, as_count(self.records), &[]);
        metrics::record_ms(Metric::BatchLatency, elapsed_ms(self.started), &[]);
        metrics::count(Metric::RecordsFailed, as_count(failed), &[]);
        write_metrics(&mut self.out);
    }
}

/// Flushes the metrics into `out`, then `out` itself; an error is logged, never returned.
fn write_metrics(out: &mut impl io::Write) {
    if let Err(error) = metrics::flush(&mut *out).and_then(|()| out.flush()) {
        tracing::warn!(%error, "metrics could not be written");
    }
}

/// Stdout, written once per flush under its lock ([`io::Write::flush`]), so that no log line of
/// another task interleaves with an EMF line.
#[derive(Debug, Default)]
struct StdoutSink(Vec<u8>);

impl io::Write for StdoutSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut stdout = io::stdout().lock();
        stdout.write_all(&self.0)?;
        self.0.clear();
        stdout.flush()
    }
}

fn as_count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
