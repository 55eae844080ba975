//! `devstack load`: a bounded load run against a running stack's gateway, then (for the `mix`
//! scenario) an accounting of every order it placed.
//!
//! The run is open-loop at a constant arrival rate: request `i` is scheduled at
//! `start + i / rate` whatever the answers before it took, and its latency is measured from that
//! scheduled time, not from when it was sent. A stack that falls behind so shows its queueing
//! delay in the latencies ("coordinated omission" corrected, as in wrk2 and Gil Tene's
//! HdrHistogram notes). At most [`Options::max_in_flight`] requests are outstanding; a request
//! due when the bound is reached is not sent and counted as the error `in_flight_bound`.
//!
//! Scenarios ([`Scenario`]):
//! - `get-product`: one product, created with an admin token and read once (the read fills the
//!   cache); every request is `GET /products/{id}`, a cache hit.
//! - `mix`: three products and [`Options::customers`] customers (created first; tokens from the
//!   stack's identity provider). One request in [`Options::order_every`] is a customer's
//!   `POST /orders` (unique `Idempotency-Key`, `payment_method` `tok_visa`), the others are
//!   `GET /products/{id}` over the three products. Order `k` (counting orders only) buys
//!   product `k % 3`, quantity `1 + (k / 3) % 3`. Products 0 and 1 have plenty of stock;
//!   product 2 holds half the units the run will ask of it, so the first orders on it are
//!   confirmed and the later ones rejected (`insufficient stock`) — both outcomes are exercised.
//!
//! After a `mix` run (`account`): an order whose `POST` was not answered `201` (a timeout, a
//! 5xx) is sent again with its `Idempotency-Key`, as a client would, with backoff until it is
//! answered (a `201`, or a final `4xx`; [`Options::settle_within`] at most), and accounted with
//! the others if that answers `201` (the run's errors still count the first failure); then every
//! placed order is polled until it settles
//! (`CONFIRMED`, `REJECTED` or `CANCELLED`; [`Options::settle_within`] at most); every order is
//! placed again with its key and body, which must answer the same order (idempotent replay);
//! each customer's orders (`GET /orders`, every page) must be exactly those placed (none lost,
//! none doubled); each product's stock must be its initial stock less the units of its
//! confirmed orders; each order's reservation (the inventory's record, read from the
//! emulator's reservations table) must be `RESERVED` with the order's lines when confirmed and
//! `REJECTED`/`RELEASED` otherwise; the payment provider's ledger must hold exactly one
//! succeeded charge of the order's total for each confirmed order and none for the others.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::control;
use crate::idp::TokenRequest;
use crate::provision::table_plans;
use crate::template::Template;

/// The payment token of every order (the local provider's always-succeeding card).
pub const PAYMENT_METHOD: &str = "tok_visa";

/// What the load run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Cached `GET /products/{id}` of one product.
    GetProduct,
    /// Cached `GET /products/{id}` over three products, and one request in
    /// [`Options::order_every`] a `POST /orders`; then the accounting.
    Mix,
}

impl Scenario {
    /// The CLI name: `get-product` or `mix`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::GetProduct => "get-product",
            Self::Mix => "mix",
        }
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The gateway's base URL, e.g. `http://127.0.0.1:3000` (`DEVSTACK_GATEWAY`).
    pub gateway: String,
    /// What to send.
    pub scenario: Scenario,
    /// Arrival rate, requests per second (> 0).
    pub rate: f64,
    /// How long requests are scheduled for; `rate × duration` requests in all.
    pub duration: Duration,
    /// Most requests outstanding at once; one due beyond it is an `in_flight_bound` error.
    pub max_in_flight: usize,
    /// Per-request timeout (an answer later than this is the error `timeout`).
    pub timeout: Duration,
    /// `mix`: how long the placed orders get to settle after the run (and, before that, the
    /// orders not answered during the run to be answered when sent again).
    pub settle_within: Duration,
    /// `mix`: one request in this many is `POST /orders` (≥ 1).
    pub order_every: u64,
    /// `mix`: how many customers place the orders (≥ 1).
    pub customers: usize,
}

impl Options {
    /// `scenario` at `rate` requests per second for `duration` against `gateway`, with the
    /// defaults: 512 in flight, 30 s timeout (API Gateway's longest integration timeout), 120 s to settle, 1 order in 10, 8 customers.
    pub fn new(gateway: &str, scenario: Scenario, rate: f64, duration: Duration) -> Self {
        Self {
            gateway: gateway.trim_end_matches('/').to_owned(),
            scenario,
            rate,
            duration,
            max_in_flight: 512,
            timeout: Duration::from_secs(30),
            settle_within: Duration::from_secs(120),
            order_every: 10,
            customers: 8,
        }
    }
}

/// The running stack the load goes to: where its identity provider's key and ready file are
/// (tokens, the control API) and the template with the stack name (the reservations table's
/// name in the emulator, reached through `AWS_ENDPOINT_URL`).
#[derive(Debug, Clone)]
pub struct Stack {
    /// The project's `.devstack` folder.
    pub state_dir: PathBuf,
    /// The stack name (`DEVSTACK_STACK_NAME`).
    pub name: String,
    /// The template the stack runs.
    pub template: Template,
}

/// Latency percentiles, milliseconds (from the scheduled send time).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
}

/// What became of the `mix` run's orders.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Orders {
    /// `POST /orders` answered `201`.
    pub placed: u64,
    /// Settled `CONFIRMED`.
    pub confirmed: u64,
    /// Settled `REJECTED`.
    pub rejected: u64,
    /// Settled `CANCELLED`.
    pub cancelled: u64,
    /// Still `PENDING` (or unreadable) when the settle deadline passed.
    pub pending: u64,
    /// Orders beyond those placed: listed for a customer but never answered `201`, or created
    /// again by an idempotent replay.
    pub doubled: u64,
    /// Placed orders missing from their customer's list.
    pub lost: u64,
    /// Orders not answered `201` during the run (timeouts, 5xx) that answered `201` when sent
    /// again with their `Idempotency-Key` afterwards; accounted with the placed ones (the
    /// run's errors still count them).
    pub resent: u64,
}

/// The outcome of one load run: the JSON `devstack load --json` writes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// `get-product` or `mix`.
    pub scenario: String,
    /// Requests per second scheduled.
    pub rate: f64,
    /// Seconds of schedule.
    pub duration_s: f64,
    /// Requests scheduled (sent, or refused by the in-flight bound).
    pub sent: u64,
    /// Requests answered with the expected status (`200`; `201` for an order).
    pub ok: u64,
    /// Every other outcome, by status (`"500"`) or kind (`timeout`, `connect`,
    /// `in_flight_bound`, `request`).
    pub errors: BTreeMap<String, u64>,
    /// Answers per second: answered requests over the time from the first scheduled send to
    /// the last answer.
    pub throughput_rps: f64,
    /// Latency of every answered request.
    pub latency_ms: Latency,
    /// The orders (`mix` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders: Option<Orders>,
    /// The accounting held (`mix`; `true` for `get-product`, which places nothing).
    pub accounting_ok: bool,
    /// What did not add up, one sentence each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounting_issues: Vec<String>,
}

impl Report {
    /// Zero errors and the accounting held: `devstack load` exits 0.
    pub fn passed(&self) -> bool {
        self.errors.is_empty() && self.accounting_ok
    }

    /// A readable summary table.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "scenario {}: {} req/s for {} s",
            self.scenario, self.rate, self.duration_s
        );
        let _ = writeln!(
            s,
            "  {:>8} {:>8} {:>8} {:>12} {:>9} {:>9} {:>9} {:>9}",
            "sent", "ok", "errors", "throughput", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
        );
        let _ = writeln!(
            s,
            "  {:>8} {:>8} {:>8} {:>10.1}/s {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            self.sent,
            self.ok,
            self.errors.values().sum::<u64>(),
            self.throughput_rps,
            l.p50,
            l.p99,
            l.p999,
            l.max
        );
        for (kind, n) in &self.errors {
            let _ = writeln!(s, "  error {kind}: {n}");
        }
        if let Some(o) = &self.orders {
            let _ = writeln!(
                s,
                "  orders: {} placed (+{} resent after no answer), {} confirmed, {} rejected, {} cancelled, {} pending, {} doubled, {} lost",
                o.placed,
                o.resent,
                o.confirmed,
                o.rejected,
                o.cancelled,
                o.pending,
                o.doubled,
                o.lost
            );
        }
        let _ = writeln!(
            s,
            "  accounting: {}",
            if self.accounting_ok { "OK" } else { "MISMATCH" }
        );
        for issue in &self.accounting_issues {
            let _ = writeln!(s, "    - {issue}");
        }
        let _ = writeln!(
            s,
            "  result: {}",
            if self.passed() { "PASS" } else { "FAIL" }
        );
        s
    }
}

/// Runs `opts` against `stack`: setup, the timed run, and (mix) the accounting.
///
/// # Errors
/// Bad options (rate or duration not positive), the stack is not running (no ready file, no
/// identity provider), or the setup's requests (creating products and users) fail. Errors of
/// the run itself are in the report, not here.
pub async fn run(opts: &Options, stack: &Stack) -> Result<Report> {
    if !(opts.rate.is_finite() && opts.rate > 0.0) {
        bail!("--rate: expected requests per second above 0");
    }
    if opts.duration.is_zero() || opts.max_in_flight == 0 {
        bail!("--duration and --max-in-flight must be above 0");
    }
    let http = reqwest::Client::builder()
        .timeout(opts.timeout)
        .pool_max_idle_per_host(opts.max_in_flight)
        .tcp_nodelay(true)
        .build()
        .context("building the HTTP client")?;
    // Setup and accounting may meet cold function instances (`cargo run` per instance).
    let slow = reqwest::Client::builder()
        .timeout(SETUP_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let admin = Caller::new(&slow, stack, "load-admin", "admin")?;
    match opts.scenario {
        Scenario::GetProduct => {
            let product = admin.create_product(&opts.gateway, 1_000).await?;
            warm(&slow, &opts.gateway, std::slice::from_ref(&product.id)).await?;
            let plan = Arc::new(GetPlan {
                products: vec![product.id],
            });
            let outcome = drive(opts, &http, plan).await?;
            let mut report = outcome.report(opts);
            report.accounting_ok = true;
            Ok(report)
        }
        Scenario::Mix => {
            let order_every = opts.order_every.max(1);
            let total = scheduled(opts);
            let orders = total.div_ceil(order_every);
            let mut products = Vec::new();
            for k in 0..3u64 {
                let stock = if k == 2 {
                    (demand(orders, 2) / 2).max(1)
                } else {
                    1_000_000
                };
                products.push(admin.create_product(&opts.gateway, stock).await?);
            }
            let mut customers = Vec::new();
            for _ in 0..opts.customers.max(1) {
                let id = admin.create_user(&opts.gateway).await?;
                customers.push(Caller::new(&slow, stack, &id, "customer")?);
            }
            let ids: Vec<String> = products.iter().map(|p| p.id.clone()).collect();
            warm(&slow, &opts.gateway, &ids).await?;
            let mut placed = warm_saga(opts, &customers, &ids[0]).await?;
            let plan = Arc::new(MixPlan {
                products: ids,
                customers: customers.iter().map(|c| c.using(&http)).collect(),
                order_every,
                placed: Mutex::new(Vec::new()),
                unanswered: Mutex::new(Vec::new()),
            });
            let outcome = drive(opts, &http, plan.clone()).await?;
            let mut report = outcome.report(opts);
            placed.extend(
                plan.placed
                    .lock()
                    .map_err(|_| anyhow!("a request task panicked"))?
                    .iter()
                    .cloned(),
            );
            let unanswered = plan
                .unanswered
                .lock()
                .map_err(|_| anyhow!("a request task panicked"))?
                .clone();
            let books = tokio::time::timeout(
                accounting_deadline(opts),
                account(
                    opts, stack, &admin, &customers, &products, placed, unanswered,
                ),
            )
            .await
            .unwrap_or_else(|_| Books {
                orders: Orders::default(),
                issues: vec![format!(
                    "the accounting did not finish within {} s: the stack stopped answering",
                    accounting_deadline(opts).as_secs()
                )],
            });
            report.orders = Some(books.orders);
            report.accounting_ok = books.issues.is_empty();
            report.accounting_issues = books.issues;
            Ok(report)
        }
    }
}

/// How long the whole accounting may take: the resending of unanswered orders and the settling
/// ([`Options::settle_within`] each at most), then a few rounds of requests.
fn accounting_deadline(opts: &Options) -> Duration {
    2 * opts.settle_within + 3 * SETUP_TIMEOUT
}

/// The timeout of the setup's and the accounting's requests, which may start function
/// instances (`cargo lambda watch` runs `cargo run` for each new one).
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

/// Orders placed (product 0, one unit each) and settled before the clock starts, so the saga's
/// functions have warm instances: as many as `cargo lambda watch` runs per function by default.
const WARM_ORDERS: usize = 4;

/// Places [`WARM_ORDERS`] orders of `product` at once and waits until they settle; they are
/// accounted with the others.
///
/// # Errors
/// An order is not answered `201`, or does not settle within [`Options::settle_within`].
async fn warm_saga(opts: &Options, customers: &[Caller], product: &str) -> Result<Vec<Placed>> {
    let settle_within = opts.settle_within;
    let mut set = JoinSet::new();
    for k in 0..WARM_ORDERS {
        let customer = k % customers.len().max(1);
        let caller = customers.get(customer).cloned().context("no customer")?;
        let gateway = opts.gateway.clone();
        let product = product.to_owned();
        set.spawn(async move {
            let key = uuid::Uuid::new_v4().to_string();
            let body = json!({
                "items": [{"product_id": product, "quantity": 1}],
                "payment_method": PAYMENT_METHOD,
            });
            let order = expect_json(
                caller
                    .post(&format!("{gateway}/orders"))
                    .header("Idempotency-Key", &key)
                    .json(&body),
                201,
                "warming POST /orders",
            )
            .await?;
            let id = order["id"]
                .as_str()
                .context("an order without id")?
                .to_owned();
            let deadline = Instant::now() + settle_within;
            loop {
                let got = expect_json(
                    caller.get(&format!("{gateway}/orders/{id}")),
                    200,
                    "GET /orders/{id}",
                )
                .await?;
                if got["status"] != "PENDING" {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "warming order {id} still PENDING after {} s",
                        settle_within.as_secs()
                    );
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(Placed {
                customer,
                key,
                body,
                product,
                quantity: 1,
                total_cents: order["total_cents"].as_u64().unwrap_or(0),
                id,
            })
        });
    }
    let mut placed = Vec::new();
    while let Some(done) = set.join_next().await {
        placed.push(done??);
    }
    Ok(placed)
}

/// Requests scheduled: `rate × duration`, rounded, at least 1.
fn scheduled(opts: &Options) -> u64 {
    let n = (opts.rate * opts.duration.as_secs_f64()).round();
    if n >= 1.0 {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "positive and rounded; a run of 2^64 requests is not a thing"
        )]
        let n = n as u64;
        n
    } else {
        1
    }
}

/// Which product order `k` buys (an index into the three) and how many units.
pub const fn order_line(k: u64) -> (usize, u32) {
    let product = (k % 3) as usize;
    let quantity = 1 + ((k / 3) % 3) as u32;
    (product, quantity)
}

/// The units the first `orders` orders ask of product `product` (see [`order_line`]).
pub fn demand(orders: u64, product: usize) -> u64 {
    (0..orders)
        .map(order_line)
        .filter(|(p, _)| *p == product)
        .map(|(_, q)| u64::from(q))
        .sum()
}

/// A product the run created.
#[derive(Debug, Clone)]
struct Product {
    id: String,
    stock: u64,
}

/// A placed order: what was sent, and the `201`'s body.
#[derive(Debug, Clone)]
struct Placed {
    customer: usize,
    key: String,
    body: Value,
    product: String,
    quantity: u32,
    id: String,
    total_cents: u64,
}

/// A client with a bearer token of the stack's identity provider.
#[derive(Debug, Clone)]
struct Caller {
    http: reqwest::Client,
    subject: String,
    bearer: String,
}

impl Caller {
    fn new(http: &reqwest::Client, stack: &Stack, subject: &str, group: &str) -> Result<Self> {
        let request = TokenRequest {
            subject: subject.to_owned(),
            groups: vec![group.to_owned()],
            ttl: Duration::from_secs(6 * 3600),
            scopes: vec![],
        };
        let token = crate::edge::token(&stack.state_dir, &stack.name, &request)
            .with_context(|| format!("a token from stack {}'s identity provider", stack.name))?;
        Ok(Self {
            http: http.clone(),
            subject: subject.to_owned(),
            bearer: format!("Bearer {token}"),
        })
    }

    /// The same caller on another client (e.g. with another timeout).
    fn using(&self, http: &reqwest::Client) -> Self {
        Self {
            http: http.clone(),
            ..self.clone()
        }
    }

    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.http
            .get(url)
            .header(reqwest::header::AUTHORIZATION, &self.bearer)
    }

    fn post(&self, url: &str) -> reqwest::RequestBuilder {
        self.http
            .post(url)
            .header(reqwest::header::AUTHORIZATION, &self.bearer)
    }

    /// `POST /orders` (at `url`) with `placed`'s body and `Idempotency-Key` again: the status
    /// and the body (`null` when it is not JSON), or `None` when no answer came.
    async fn place_again(&self, url: &str, placed: &Placed) -> Option<(u16, Value)> {
        let resp = self
            .post(url)
            .header("Idempotency-Key", &placed.key)
            .json(&placed.body)
            .send()
            .await
            .ok()?;
        let status = resp.status().as_u16();
        Some((status, resp.json().await.unwrap_or(Value::Null)))
    }

    /// [`Caller::place_again`] until the answer is final: `201`, or a `4xx` other than `409`
    /// and `429` (the request itself is refused; sending it again gets the same). No answer, a
    /// `5xx`, a `409` (the first attempt still holds the key) and a `429` are sent again after
    /// a full-jitter backoff (up to 250 ms doubling to 5 s), until `give_up_at`. The last
    /// answer, `None` when none came.
    async fn place_until_answered(
        &self,
        url: &str,
        placed: &Placed,
        give_up_at: Instant,
    ) -> Option<(u16, Value)> {
        let mut last = None;
        for past_retries in 0u32.. {
            last = self.place_again(url, placed).await.or(last);
            let final_answer = matches!(&last, Some((s, _)) if *s < 500 && *s != 409 && *s != 429);
            let wait = shared::backoff::full_jitter_backoff(
                Duration::from_millis(250),
                Duration::from_secs(5),
                past_retries,
            );
            if final_answer || Instant::now() + wait > give_up_at {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        last
    }

    /// `POST /products` with `stock` units; the product.
    async fn create_product(&self, gateway: &str, stock: u64) -> Result<Product> {
        let body = json!({
            "name": "Load test gear",
            "description": "Made by devstack load.",
            "category": "load",
            "price_cents": 250,
            "stock": stock,
        });
        let created = expect_json(
            self.post(&format!("{gateway}/products")).json(&body),
            201,
            "POST /products",
        )
        .await?;
        let id = created["id"]
            .as_str()
            .context("POST /products answered no id")?
            .to_owned();
        Ok(Product { id, stock })
    }

    /// `POST /users` (a unique e-mail); the user's id.
    async fn create_user(&self, gateway: &str) -> Result<String> {
        let body = json!({
            "email": format!("load-{}@example.com", uuid::Uuid::new_v4().simple()),
            "name": "Load Customer",
        });
        let created = expect_json(
            self.post(&format!("{gateway}/users")).json(&body),
            201,
            "POST /users",
        )
        .await?;
        Ok(created["id"]
            .as_str()
            .context("POST /users answered no id")?
            .to_owned())
    }
}

/// Sends `request`; its JSON body when the status is `status`, else an error naming `what`.
async fn expect_json(request: reqwest::RequestBuilder, status: u16, what: &str) -> Result<Value> {
    let resp = request.send().await.with_context(|| what.to_owned())?;
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if got != status {
        bail!("{what}: expected {status}, got {got}: {body}");
    }
    Ok(body)
}

/// Reads each product a few times at once, so the cache holds it and several function
/// instances are started before the clock runs.
async fn warm(http: &reqwest::Client, gateway: &str, products: &[String]) -> Result<()> {
    for id in products {
        let url = format!("{gateway}/products/{id}");
        expect_json(http.get(&url), 200, "warming GET /products/{id}").await?;
        let mut set = JoinSet::new();
        for _ in 0..8 {
            let request = http.get(&url);
            set.spawn(async move { expect_json(request, 200, "warming GET /products/{id}").await });
        }
        while let Some(done) = set.join_next().await {
            done??;
        }
    }
    Ok(())
}

/// What a request's answer was.
#[derive(Debug)]
enum Outcome {
    /// The expected status.
    Ok,
    /// Another status, or a failure kind (`timeout`, `connect`, ...).
    Error(String),
}

/// One request of a scenario, by its index in the schedule.
trait Plan: Send + Sync + 'static {
    /// Sends request `i`; what came of it.
    fn send(
        self: Arc<Self>,
        i: u64,
        http: reqwest::Client,
        gateway: Arc<str>,
    ) -> impl Future<Output = Outcome> + Send + 'static;
}

/// `get-product`: `GET /products/{id}`, round-robin over `products`.
struct GetPlan {
    products: Vec<String>,
}

impl Plan for GetPlan {
    async fn send(self: Arc<Self>, i: u64, http: reqwest::Client, gateway: Arc<str>) -> Outcome {
        let url = format!("{gateway}/products/{}", pick(&self.products, i));
        classify(http.get(url).send().await, 200).await.0
    }
}

/// `mix`: one request in `order_every` a `POST /orders`, the others `GET /products/{id}`.
struct MixPlan {
    products: Vec<String>,
    customers: Vec<Caller>,
    order_every: u64,
    placed: Mutex<Vec<Placed>>,
    /// Orders sent but not answered `201` (timeouts, 5xx): placed again with the same key
    /// after the run, as a client would, so the accounting knows what became of them.
    unanswered: Mutex<Vec<Placed>>,
}

impl Plan for MixPlan {
    async fn send(self: Arc<Self>, i: u64, http: reqwest::Client, gateway: Arc<str>) -> Outcome {
        if !i.is_multiple_of(self.order_every) {
            let url = format!("{gateway}/products/{}", pick(&self.products, i));
            return classify(http.get(url).send().await, 200).await.0;
        }
        let k = i / self.order_every;
        let (p, quantity) = order_line(k);
        let product = pick(&self.products, p as u64).to_owned();
        let customer = usize::try_from(k).unwrap_or(0) % self.customers.len().max(1);
        let Some(caller) = self.customers.get(customer) else {
            return Outcome::Error("no customer".to_owned());
        };
        let key = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "items": [{"product_id": product, "quantity": quantity}],
            "payment_method": PAYMENT_METHOD,
        });
        let sent = caller
            .post(&format!("{gateway}/orders"))
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await;
        let (outcome, answer) = classify(sent, 201).await;
        let mut order = Placed {
            customer,
            key,
            body,
            product,
            quantity,
            id: String::new(),
            total_cents: answer["total_cents"].as_u64().unwrap_or(0),
        };
        let id = answer["id"].as_str().map(ToOwned::to_owned);
        match (&outcome, id) {
            (Outcome::Ok, Some(id)) => {
                order.id = id;
                if let Ok(mut placed) = self.placed.lock() {
                    placed.push(order);
                }
                outcome
            }
            (outcome, _) => {
                if let Ok(mut unanswered) = self.unanswered.lock() {
                    unanswered.push(order);
                }
                match outcome {
                    Outcome::Ok => Outcome::Error("201_without_id".to_owned()),
                    Outcome::Error(kind) => Outcome::Error(kind.clone()),
                }
            }
        }
    }
}

fn pick(items: &[String], i: u64) -> &str {
    let n = items.len().max(1) as u64;
    usize::try_from(i % n)
        .ok()
        .and_then(|k| items.get(k))
        .map_or("", String::as_str)
}

/// The outcome of a sent request (`expected` is the status that counts as ok) and its JSON
/// body (`null` unless ok and JSON).
async fn classify(
    sent: Result<reqwest::Response, reqwest::Error>,
    expected: u16,
) -> (Outcome, Value) {
    match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            if status == expected {
                match resp.json::<Value>().await {
                    Ok(body) => (Outcome::Ok, body),
                    Err(e) => (Outcome::Error(error_kind(&e)), Value::Null),
                }
            } else {
                let _ = resp.bytes().await;
                (Outcome::Error(status.to_string()), Value::Null)
            }
        }
        Err(e) => (Outcome::Error(error_kind(&e)), Value::Null),
    }
}

/// `timeout`, `connect`, `body` or `request` for a failed request.
fn error_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    }
    .to_owned()
}

/// What the timed run measured.
struct Measured {
    sent: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    /// Microseconds from the scheduled send to the answer.
    latency_us: Histogram<u64>,
    /// From the start to the last answer.
    elapsed: Duration,
}

impl Measured {
    fn report(&self, opts: &Options) -> Report {
        let ms = |us: u64| {
            #[expect(
                clippy::cast_precision_loss,
                reason = "latencies are far below 2^52 µs"
            )]
            let us = us as f64;
            (us / 1000.0 * 1000.0).round() / 1000.0
        };
        let answered = self.latency_us.len();
        let secs = self.elapsed.as_secs_f64();
        #[expect(
            clippy::cast_precision_loss,
            reason = "request counts are far below 2^52"
        )]
        let throughput = if secs > 0.0 {
            answered as f64 / secs
        } else {
            0.0
        };
        let (p50, p99, p999, max) = if answered == 0 {
            (0, 0, 0, 0)
        } else {
            (
                self.latency_us.value_at_quantile(0.5),
                self.latency_us.value_at_quantile(0.99),
                self.latency_us.value_at_quantile(0.999),
                self.latency_us.max(),
            )
        };
        Report {
            scenario: opts.scenario.as_str().to_owned(),
            rate: opts.rate,
            duration_s: opts.duration.as_secs_f64(),
            sent: self.sent,
            ok: self.ok,
            errors: self.errors.clone(),
            throughput_rps: (throughput * 10.0).round() / 10.0,
            latency_ms: Latency {
                p50: ms(p50),
                p99: ms(p99),
                p999: ms(p999),
                max: ms(max),
            },
            orders: None,
            accounting_ok: false,
            accounting_issues: Vec::new(),
        }
    }
}

/// Tallies of the answered requests.
struct Tally {
    ok: u64,
    errors: BTreeMap<String, u64>,
    latency_us: Histogram<u64>,
    last: Instant,
}

/// Runs the schedule of `opts` through `plan`.
///
/// # Errors
/// A request task panicked (its tally is lost).
async fn drive<P: Plan>(opts: &Options, http: &reqwest::Client, plan: Arc<P>) -> Result<Measured> {
    let total = scheduled(opts);
    let gateway: Arc<str> = Arc::from(opts.gateway.as_str());
    // 1 µs to 1 h, 3 significant digits; longer values saturate at the top.
    let histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
        .context("creating the latency histogram")?;
    let start = Instant::now();
    let tally = Arc::new(Mutex::new(Tally {
        ok: 0,
        errors: BTreeMap::new(),
        latency_us: histogram,
        last: start,
    }));
    let bound = Arc::new(Semaphore::new(opts.max_in_flight));
    let mut refused = 0u64;
    let mut tasks = JoinSet::new();
    for i in 0..total {
        #[expect(
            clippy::cast_precision_loss,
            reason = "request indexes are far below 2^52"
        )]
        let due = start + Duration::from_secs_f64(i as f64 / opts.rate);
        tokio::time::sleep_until(due).await;
        let Ok(permit) = bound.clone().try_acquire_owned() else {
            refused += 1;
            continue;
        };
        let plan = plan.clone();
        let http = http.clone();
        let gateway = gateway.clone();
        let tally = tally.clone();
        tasks.spawn(async move {
            let outcome = plan.send(i, http, gateway).await;
            let now = Instant::now();
            let us = u64::try_from(now.duration_since(due).as_micros()).unwrap_or(u64::MAX);
            drop(permit);
            if let Ok(mut t) = tally.lock() {
                t.latency_us.saturating_record(us.max(1));
                t.last = t.last.max(now);
                match outcome {
                    Outcome::Ok => t.ok += 1,
                    Outcome::Error(kind) => *t.errors.entry(kind).or_default() += 1,
                }
            }
        });
        // Reap finished tasks as we go, so the set does not hold the whole run.
        while let Some(done) = tasks.try_join_next() {
            done.context("a request task panicked")?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a request task panicked")?;
    }
    let t = tally
        .lock()
        .map_err(|_| anyhow!("a request task panicked"))?;
    let mut errors = t.errors.clone();
    if refused > 0 {
        tracing::error!(
            refused,
            max_in_flight = opts.max_in_flight,
            "requests not sent: --max-in-flight requests were outstanding (the stack does not keep up with the rate)"
        );
        errors.insert("in_flight_bound".to_owned(), refused);
    }
    Ok(Measured {
        sent: total,
        ok: t.ok,
        errors,
        latency_us: t.latency_us.clone(),
        elapsed: t.last.duration_since(start),
    })
}

/// The result of the accounting.
struct Books {
    orders: Orders,
    issues: Vec<String>,
}

/// Runs `f` over `items` with at most `limit` at once; the outputs in `items`' order.
async fn bounded<T, O, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Vec<O>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = O> + Send + 'static,
    O: Send + 'static,
{
    let n = items.len();
    let gate = Arc::new(Semaphore::new(limit.max(1)));
    let mut set = JoinSet::new();
    for (k, item) in items.into_iter().enumerate() {
        let fut = f(item);
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            (k, fut.await)
        });
    }
    let mut out: Vec<Option<O>> = (0..n).map(|_| None).collect();
    while let Some(Ok((k, o))) = set.join_next().await {
        if let Some(slot) = out.get_mut(k) {
            *slot = Some(o);
        }
    }
    out.into_iter().flatten().collect()
}

/// The accounting of a `mix` run (see the module docs).
async fn account(
    opts: &Options,
    stack: &Stack,
    admin: &Caller,
    customers: &[Caller],
    products: &[Product],
    mut placed: Vec<Placed>,
    unanswered: Vec<Placed>,
) -> Books {
    let mut issues = Vec::new();
    let gateway = opts.gateway.clone();

    // 0. An order whose POST got no 201 is sent again with its key, as a client would, until
    // it is answered: its first attempt may have created it (answer lost), and then this
    // answers that order.
    let retries = unanswered.len() as u64;
    let give_up_at = Instant::now() + opts.settle_within;
    let resent = bounded(unanswered, 8, |mut p| {
        let caller = customers.get(p.customer).cloned();
        let url = format!("{gateway}/orders");
        async move {
            let Some(caller) = caller else {
                return Err("no caller".to_owned());
            };
            match caller.place_until_answered(&url, &p, give_up_at).await {
                Some((201, body)) => {
                    let Some(id) = body["id"].as_str() else {
                        return Err("201 without an id".to_owned());
                    };
                    p.id = id.to_owned();
                    p.total_cents = body["total_cents"].as_u64().unwrap_or(0);
                    Ok(p)
                }
                Some((status, _)) => Err(status.to_string()),
                None => Err("no answer".to_owned()),
            }
        }
    })
    .await;
    let mut last_answers: BTreeMap<String, u64> = BTreeMap::new();
    let resent: Vec<Placed> = resent
        .into_iter()
        .filter_map(|r| {
            r.map_err(|why| *last_answers.entry(why).or_default() += 1)
                .ok()
        })
        .collect();
    if (resent.len() as u64) < retries {
        issues.push(format!(
            "{} of {retries} unanswered order(s) were not answered 201 when sent again with \
             their key within {} s (last answers: {last_answers:?})",
            retries - resent.len() as u64,
            opts.settle_within.as_secs()
        ));
    }
    let mut orders = Orders {
        placed: placed.len() as u64,
        resent: resent.len() as u64,
        ..Orders::default()
    };
    placed.extend(resent);

    // 1. Every placed order settles.
    let deadline = Instant::now() + opts.settle_within;
    let statuses = bounded(placed.clone(), 16, |p| {
        let caller = customers.get(p.customer).cloned();
        let url = format!("{gateway}/orders/{}", p.id);
        async move {
            let caller = caller?;
            loop {
                let status = match caller.get(&url).send().await {
                    Ok(resp) if resp.status().as_u16() == 200 => resp
                        .json::<Value>()
                        .await
                        .ok()
                        .and_then(|b| b["status"].as_str().map(ToOwned::to_owned)),
                    _ => None,
                };
                if let Some(s) = &status
                    && s != "PENDING"
                {
                    return status;
                }
                if Instant::now() > deadline {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    })
    .await;
    let mut status_of: HashMap<String, String> = HashMap::new();
    for (p, status) in placed.iter().zip(&statuses) {
        match status.as_deref() {
            Some("CONFIRMED") => orders.confirmed += 1,
            Some("REJECTED") => orders.rejected += 1,
            Some("CANCELLED") => orders.cancelled += 1,
            _ => orders.pending += 1,
        }
        status_of.insert(p.id.clone(), status.clone().unwrap_or_default());
    }
    if orders.pending > 0 {
        issues.push(format!(
            "{} order(s) still PENDING {} s after the run",
            orders.pending,
            opts.settle_within.as_secs()
        ));
    }

    // 2. Placing an order again with its key answers the same order.
    let replays = bounded(placed.clone(), 8, |p| {
        let caller = customers.get(p.customer).cloned();
        let url = format!("{gateway}/orders");
        async move {
            let (status, body) = caller?.place_again(&url, &p).await?;
            Some((status, body["id"].as_str().unwrap_or_default().to_owned()))
        }
    })
    .await;
    let mut replay_issues = 0u64;
    for (p, replay) in placed.iter().zip(&replays) {
        match replay {
            Some((201, id)) if *id == p.id => {}
            Some((201, _)) => {
                orders.doubled += 1;
                replay_issues += 1;
            }
            _ => replay_issues += 1,
        }
    }
    if replays.len() != placed.len() || replay_issues > 0 {
        issues.push(format!(
            "{replay_issues} idempotent replay(s) did not answer their order (201, same id)"
        ));
    }

    // 3. Each customer's orders are exactly those placed.
    for (c, caller) in customers.iter().enumerate() {
        let expected: BTreeSet<&str> = placed
            .iter()
            .filter(|p| p.customer == c)
            .map(|p| p.id.as_str())
            .collect();
        match list_orders(&gateway, caller).await {
            Ok(listed) => {
                let listed: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
                let extra = listed.difference(&expected).count() as u64;
                let missing = expected.difference(&listed).count() as u64;
                orders.doubled += extra;
                orders.lost += missing;
                if extra > 0 || missing > 0 {
                    issues.push(format!(
                        "customer {}: {extra} order(s) listed that were not placed, {missing} placed order(s) not listed",
                        caller.subject
                    ));
                }
            }
            Err(e) => issues.push(format!(
                "listing customer {}'s orders: {e:#}",
                caller.subject
            )),
        }
    }

    // 4. Stock == initial - confirmed units; 5. the reservations agree.
    let mut confirmed_units: BTreeMap<&str, u64> = BTreeMap::new();
    for p in &placed {
        if status_of.get(&p.id).map(String::as_str) == Some("CONFIRMED") {
            *confirmed_units.entry(p.product.as_str()).or_default() += u64::from(p.quantity);
        }
    }
    for product in products {
        let units = confirmed_units
            .get(product.id.as_str())
            .copied()
            .unwrap_or(0);
        let expected = product.stock.saturating_sub(units);
        let url = format!("{gateway}/products/{}", product.id);
        match expect_json(admin.get(&url), 200, "GET /products/{id}").await {
            Ok(body) => {
                let stock = body["stock"].as_u64();
                if stock != Some(expected) {
                    issues.push(format!(
                        "product {}: stock {stock:?}, expected {} - {units} confirmed = {expected}",
                        product.id, product.stock
                    ));
                }
            }
            Err(e) => issues.push(format!("reading product {}: {e:#}", product.id)),
        }
    }
    match reservations(stack, &placed).await {
        Ok(found) => {
            let mut wrong = 0u64;
            let mut first = None;
            for p in &placed {
                let status = status_of.get(&p.id).map_or("", String::as_str);
                let reservation = found.get(&p.id);
                let fine = match (status, reservation) {
                    ("CONFIRMED", Some(r)) => {
                        r.status == "RESERVED"
                            && r.items == [(p.product.clone(), u64::from(p.quantity))]
                    }
                    ("REJECTED" | "CANCELLED", Some(r)) => {
                        matches!(r.status.as_str(), "REJECTED" | "RELEASED" | "CANCELLED")
                    }
                    // No reservation is only fine for an order that never settled (counted).
                    (_, None) => status == "PENDING" || status.is_empty(),
                    _ => false,
                };
                if !fine {
                    wrong += 1;
                    first.get_or_insert_with(|| {
                        format!("order {} is {status}, reservation {reservation:?}", p.id)
                    });
                }
            }
            if let Some(first) = first {
                issues.push(format!(
                    "{wrong} order(s) whose reservation disagrees, e.g. {first}"
                ));
            }
            let mut reserved: BTreeMap<&str, u64> = BTreeMap::new();
            for r in found.values().filter(|r| r.status == "RESERVED") {
                for (product, quantity) in &r.items {
                    *reserved.entry(product.as_str()).or_default() += quantity;
                }
            }
            if reserved != confirmed_units {
                issues.push(format!(
                    "reserved units per product {reserved:?} != confirmed units {confirmed_units:?}"
                ));
            }
        }
        Err(e) => issues.push(format!("reading the reservations: {e:#}")),
    }

    // 6. The payment provider's ledger: one succeeded charge of the total per confirmed order.
    match charges(stack, &placed).await {
        Ok(charged) => {
            let mut wrong = 0u64;
            let mut first = None;
            for p in &placed {
                let status = status_of.get(&p.id).map_or("", String::as_str);
                let got = charged.get(&p.id).cloned().unwrap_or_default();
                let fine = match status {
                    "CONFIRMED" => got == [p.total_cents],
                    "REJECTED" | "CANCELLED" => got.is_empty(),
                    _ => true,
                };
                if !fine {
                    wrong += 1;
                    first.get_or_insert_with(|| {
                        format!(
                            "order {} is {status} (total {}), net charges {got:?}",
                            p.id, p.total_cents
                        )
                    });
                }
            }
            if let Some(first) = first {
                issues.push(format!(
                    "{wrong} order(s) whose charges disagree, e.g. {first}"
                ));
            }
        }
        Err(e) => issues.push(format!("reading the payment ledger: {e:#}")),
    }
    Books { orders, issues }
}

/// Every order id of `caller` (`GET /orders`, all pages).
async fn list_orders(gateway: &str, caller: &Caller) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{gateway}/orders?limit=100");
        if let Some(c) = &cursor {
            url.push_str("&cursor=");
            url.extend(form_urlencoded::byte_serialize(c.as_bytes()));
        }
        let page = expect_json(caller.get(&url), 200, "GET /orders").await?;
        for item in page["items"].as_array().into_iter().flatten() {
            if let Some(id) = item["id"].as_str() {
                ids.push(id.to_owned());
            }
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(ids),
        }
    }
}

/// A reservation as stored: status and `(product id, units)` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    status: String,
    items: Vec<(String, u64)>,
}

/// The reservations of `placed` orders, by order id, read strongly consistently from the
/// emulator's reservations table (see `shared::aws::DynamoReservations`).
async fn reservations(stack: &Stack, placed: &[Placed]) -> Result<HashMap<String, Stored>> {
    let table = table_plans(&stack.template, &stack.name)?
        .into_iter()
        .find(|t| t.logical_id == "ReservationsTable")
        .map(|t| t.name)
        .context("template.yaml has no ReservationsTable")?;
    let client = aws_sdk_dynamodb::Client::new(&crate::aws::sdk_config().await);
    let ids: Vec<String> = placed.iter().map(|p| p.id.clone()).collect();
    let read = bounded(ids, 8, |id| {
        let client = client.clone();
        let table = table.clone();
        async move {
            let out = client
                .get_item()
                .table_name(&table)
                .key("id", AttributeValue::S(id.clone()))
                .consistent_read(true)
                .send()
                .await
                .map_err(aws_sdk_dynamodb::Error::from)
                .with_context(|| format!("GetItem {table} {id}"))?;
            Ok::<_, anyhow::Error>((id, out.item.map(|item| stored(&item))))
        }
    })
    .await;
    let mut found = HashMap::new();
    for r in read {
        let (id, item) = r?;
        if let Some(item) = item {
            found.insert(id, item?);
        }
    }
    Ok(found)
}

/// A reservations table item: `{"id","status","items":[{"product_id","quantity"}],...}`.
fn stored(item: &HashMap<String, AttributeValue>) -> Result<Stored> {
    let status = item
        .get("status")
        .and_then(|v| v.as_s().ok())
        .context("a reservation without status")?
        .clone();
    let mut items = Vec::new();
    if let Some(AttributeValue::L(lines)) = item.get("items") {
        for line in lines {
            let m = line
                .as_m()
                .map_err(|_| anyhow!("a reservation line is not a map"))?;
            let product = m
                .get("product_id")
                .and_then(|v| v.as_s().ok())
                .context("a reservation line without product_id")?
                .clone();
            let quantity = m
                .get("quantity")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
                .context("a reservation line without quantity")?;
            items.push((product, quantity));
        }
    }
    Ok(Stored { status, items })
}

/// Net succeeded charges (cents) of each of `placed`, from the local payment provider's
/// ledger (the control API): one entry per succeeded charge not refunded.
async fn charges(stack: &Stack, placed: &[Placed]) -> Result<HashMap<String, Vec<u64>>> {
    let root = stack
        .state_dir
        .parent()
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let client = control::Client::from_ready_file(&root, &stack.name)?;
    let ledger = client.payments_ledger(None).await?;
    let ours: BTreeSet<&str> = placed.iter().map(|p| p.id.as_str()).collect();
    let refunded: BTreeSet<&str> = ledger
        .iter()
        .filter(|e| e.kind == "refund" && e.status == "succeeded")
        .filter_map(|e| e.charge.as_deref())
        .collect();
    let mut out: HashMap<String, Vec<u64>> = HashMap::new();
    for e in &ledger {
        let Some(order) = e.order_id.as_deref() else {
            continue;
        };
        if e.kind == "charge"
            && e.status == "succeeded"
            && ours.contains(order)
            && !refunded.contains(e.id.as_str())
        {
            out.entry(order.to_owned())
                .or_default()
                .push(u64::try_from(e.amount).unwrap_or(0));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_cycle_over_three_products_and_three_quantities() {
        let lines: Vec<(usize, u32)> = (0..9).map(order_line).collect();

        assert_eq!(
            lines,
            [
                (0, 1),
                (1, 1),
                (2, 1),
                (0, 2),
                (1, 2),
                (2, 2),
                (0, 3),
                (1, 3),
                (2, 3)
            ]
        );
        assert_eq!(demand(9, 2), 6);
        assert_eq!(demand(0, 2), 0);
    }

    #[test]
    fn the_schedule_holds_rate_times_duration_requests() {
        let opts = Options::new("http://x/", Scenario::Mix, 300.0, Duration::from_secs(60));

        assert_eq!(scheduled(&opts), 18_000);
        assert_eq!(opts.gateway, "http://x");
        assert_eq!(
            scheduled(&Options::new(
                "http://x",
                Scenario::Mix,
                0.1,
                Duration::from_secs(1)
            )),
            1
        );
    }

    #[test]
    fn a_report_with_an_error_or_a_mismatch_fails() {
        let clean = Report {
            accounting_ok: true,
            ..Report::default()
        };
        let mut errored = clean.clone();
        errored.errors.insert("503".into(), 1);
        let mismatched = Report::default();

        assert!(clean.passed());
        assert!(!errored.passed());
        assert!(!mismatched.passed());
        assert!(errored.summary().contains("error 503: 1"));
    }

    #[test]
    fn the_json_has_the_agreed_shape() {
        let report = Report {
            scenario: "mix".into(),
            orders: Some(Orders::default()),
            accounting_ok: true,
            ..Report::default()
        };

        let v = serde_json::to_value(&report).unwrap();

        for key in [
            "scenario",
            "rate",
            "duration_s",
            "sent",
            "ok",
            "errors",
            "throughput_rps",
            "latency_ms",
            "orders",
            "accounting_ok",
        ] {
            assert!(v.get(key).is_some(), "{key} missing from {v}");
        }
        for key in ["p50", "p99", "p999", "max"] {
            assert!(v["latency_ms"].get(key).is_some(), "latency_ms.{key}");
        }
        for key in [
            "placed",
            "confirmed",
            "rejected",
            "cancelled",
            "pending",
            "doubled",
        ] {
            assert!(v["orders"].get(key).is_some(), "orders.{key}");
        }
    }

    #[tokio::test]
    async fn answers_beyond_the_in_flight_bound_are_refused_and_timed_from_their_schedule() {
        // Every answer takes 320 ms: at 20 req/s about 7 would be in flight; allow 3.
        struct Slow;
        impl Plan for Slow {
            async fn send(self: Arc<Self>, _: u64, _: reqwest::Client, _: Arc<str>) -> Outcome {
                tokio::time::sleep(Duration::from_millis(320)).await;
                Outcome::Ok
            }
        }
        let mut opts = Options::new(
            "http://x",
            Scenario::GetProduct,
            20.0,
            Duration::from_secs(1),
        );
        opts.max_in_flight = 3;

        let m = drive(&opts, &reqwest::Client::new(), Arc::new(Slow))
            .await
            .unwrap();

        let refused = m.errors.get("in_flight_bound").copied().unwrap_or(0);
        assert_eq!(m.sent, 20);
        assert_eq!(m.ok + refused, 20);
        assert!(refused >= 5, "only {refused} refused");
        assert!(m.ok >= 3, "only {} answered", m.ok);
        assert!(
            m.latency_us.min() >= 320_000,
            "min {} µs",
            m.latency_us.min()
        );
    }

    /// A `POST /orders` stand-in answering `answers` in turn (the last one from then on); the
    /// caller placing one order through it, and the count of requests it got.
    async fn orders_answering(
        answers: Vec<u16>,
    ) -> (Caller, String, Placed, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let got = Arc::new(AtomicUsize::new(0));
        let seen = got.clone();
        let app = axum::Router::new().route(
            "/orders",
            axum::routing::post(move || {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let status = answers[n.min(answers.len() - 1)];
                async move {
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        axum::Json(json!({"id": "o-1", "total_cents": 700})),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/orders", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let caller = Caller {
            http: reqwest::Client::new(),
            subject: "c".into(),
            bearer: "Bearer t".into(),
        };
        let placed = Placed {
            customer: 0,
            key: "k-1".into(),
            body: json!({"lines": []}),
            product: "p".into(),
            quantity: 1,
            id: String::new(),
            total_cents: 0,
        };
        (caller, url, placed, got)
    }

    #[tokio::test]
    async fn an_unanswered_order_is_sent_again_until_it_is_answered() {
        let (caller, url, placed, got) = orders_answering(vec![503, 409, 201]).await;

        let answer = caller
            .place_until_answered(&url, &placed, Instant::now() + Duration::from_secs(20))
            .await;

        assert_eq!(
            answer.map(|(s, b)| (s, b["id"].clone())),
            Some((201, json!("o-1")))
        );
        assert_eq!(got.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_refused_order_is_not_sent_again_and_retrying_stops_at_the_deadline() {
        let (caller, url, placed, got) = orders_answering(vec![422]).await;
        let answer = caller
            .place_until_answered(&url, &placed, Instant::now() + Duration::from_secs(20))
            .await;
        assert_eq!(answer.map(|(s, _)| s), Some(422));
        assert_eq!(got.load(std::sync::atomic::Ordering::SeqCst), 1);

        let (caller, url, placed, got) = orders_answering(vec![503]).await;
        let answer = caller
            .place_until_answered(&url, &placed, Instant::now() + Duration::from_secs(1))
            .await;
        assert_eq!(answer.map(|(s, _)| s), Some(503));
        let sent = got.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=12).contains(&sent), "{sent} attempts in 1 s");
    }
}
