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

mod accounting;
mod driver;
mod report;
mod scenario;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::template::Template;

use accounting::{Books, account};
use driver::{drive, scheduled};
pub use report::{Latency, Orders, Report};
use scenario::{Caller, GetPlan, MixPlan, warm, warm_saga};
pub use scenario::{demand, order_line};

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
