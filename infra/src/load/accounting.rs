//! The accounting after a `mix` run (see the parent module's docs): the unanswered orders sent
//! again, every order settled and replayed, each customer's list, the stock, the reservations
//! and the payment ledger checked against what was placed; what did not add up is in [`Books`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use tokio::time::Instant;

use super::driver::bounded;
use super::report::Orders;
use super::scenario::{Caller, Placed, Product, expect_json};
use super::{Options, Stack};
use crate::control;
use crate::provision::table_plans;

/// The result of the accounting.
pub(super) struct Books {
    /// What became of the orders.
    pub(super) orders: Orders,
    /// What did not add up, one sentence each.
    pub(super) issues: Vec<String>,
}

/// The accounting of a `mix` run (see the `load` module docs): the steps below in turn, each
/// adding to the books what became of the orders and what did not add up.
pub(super) async fn account(
    opts: &Options,
    stack: &Stack,
    admin: &Caller,
    customers: &[Caller],
    products: &[Product],
    mut placed: Vec<Placed>,
    unanswered: Vec<Placed>,
) -> Books {
    let mut books = Books {
        orders: Orders::default(),
        issues: Vec::new(),
    };
    let gateway = opts.gateway.as_str();

    // 0. An order whose POST got no 201 is sent again with its key, as a client would, until
    // it is answered: its first attempt may have created it (answer lost), and then this
    // answers that order.
    let resent = books.resend(opts, customers, unanswered).await;
    books.orders.placed = placed.len() as u64;
    books.orders.resent = resent.len() as u64;
    placed.extend(resent);

    // 1. Every placed order settles.
    let status_of = books.settle(opts, customers, &placed).await;

    // 2. Placing an order again with its key answers the same order.
    books.replay(gateway, customers, &placed).await;

    // 3. Each customer's orders are exactly those placed.
    books.check_lists(gateway, customers, &placed).await;

    // 4. Stock == initial - confirmed units; 5. the reservations agree.
    let confirmed_units = confirmed_units(&placed, &status_of);
    books
        .check_stock(gateway, admin, products, &confirmed_units)
        .await;
    books
        .check_reservations(stack, &placed, &status_of, &confirmed_units)
        .await;

    // 6. The payment provider's ledger: one succeeded charge of the total per confirmed order.
    books.check_charges(stack, &placed, &status_of).await;
    books
}

impl Books {
    /// Step 0: sends each of `unanswered` again with its key until it is answered
    /// ([`Caller::place_until_answered`], [`Options::settle_within`] at most); those answered
    /// `201`, with the id and total of that answer.
    async fn resend(
        &mut self,
        opts: &Options,
        customers: &[Caller],
        unanswered: Vec<Placed>,
    ) -> Vec<Placed> {
        let gateway = &opts.gateway;
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
            self.issues.push(format!(
                "{} of {retries} unanswered order(s) were not answered 201 when sent again with \
                 their key within {} s (last answers: {last_answers:?})",
                retries - resent.len() as u64,
                opts.settle_within.as_secs()
            ));
        }
        resent
    }

    /// Step 1: polls each of `placed` until it settles ([`Options::settle_within`] at most) and
    /// counts how each ended; each order's status by id (empty when it could not be read).
    async fn settle(
        &mut self,
        opts: &Options,
        customers: &[Caller],
        placed: &[Placed],
    ) -> HashMap<String, String> {
        let gateway = &opts.gateway;
        let deadline = Instant::now() + opts.settle_within;
        let statuses = bounded(placed.to_vec(), 16, |p| {
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
        let orders = &mut self.orders;
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
            self.issues.push(format!(
                "{} order(s) still PENDING {} s after the run",
                orders.pending,
                opts.settle_within.as_secs()
            ));
        }
        status_of
    }

    /// Step 2: places each of `placed` again with its key and body; each must answer `201`
    /// with the same order (another id counts as doubled).
    async fn replay(&mut self, gateway: &str, customers: &[Caller], placed: &[Placed]) {
        let replays = bounded(placed.to_vec(), 8, |p| {
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
                    self.orders.doubled += 1;
                    replay_issues += 1;
                }
                _ => replay_issues += 1,
            }
        }
        if replays.len() != placed.len() || replay_issues > 0 {
            self.issues.push(format!(
                "{replay_issues} idempotent replay(s) did not answer their order (201, same id)"
            ));
        }
    }

    /// Step 3: each customer's listed orders (`GET /orders`) must be exactly those of `placed`
    /// it placed; the others count as doubled, the missing ones as lost.
    async fn check_lists(&mut self, gateway: &str, customers: &[Caller], placed: &[Placed]) {
        for (c, caller) in customers.iter().enumerate() {
            let expected: BTreeSet<&str> = placed
                .iter()
                .filter(|p| p.customer == c)
                .map(|p| p.id.as_str())
                .collect();
            match list_orders(gateway, caller).await {
                Ok(listed) => {
                    let listed: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
                    let extra = listed.difference(&expected).count() as u64;
                    let missing = expected.difference(&listed).count() as u64;
                    self.orders.doubled += extra;
                    self.orders.lost += missing;
                    if extra > 0 || missing > 0 {
                        self.issues.push(format!(
                            "customer {}: {extra} order(s) listed that were not placed, {missing} placed order(s) not listed",
                            caller.subject
                        ));
                    }
                }
                Err(e) => self.issues.push(format!(
                    "listing customer {}'s orders: {e:#}",
                    caller.subject
                )),
            }
        }
    }

    /// Step 4: each product's stock (`GET /products/{id}`) must be its initial stock less its
    /// `confirmed_units`.
    async fn check_stock(
        &mut self,
        gateway: &str,
        admin: &Caller,
        products: &[Product],
        confirmed_units: &BTreeMap<&str, u64>,
    ) {
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
                        self.issues.push(format!(
                            "product {}: stock {stock:?}, expected {} - {units} confirmed = {expected}",
                            product.id, product.stock
                        ));
                    }
                }
                Err(e) => self
                    .issues
                    .push(format!("reading product {}: {e:#}", product.id)),
            }
        }
    }

    /// Step 5: each order's reservation must be `RESERVED` with its line when confirmed,
    /// `REJECTED`/`RELEASED`/`CANCELLED` when rejected or cancelled, and absent only when it
    /// never settled; the units reserved per product must be the `confirmed_units`.
    async fn check_reservations(
        &mut self,
        stack: &Stack,
        placed: &[Placed],
        status_of: &HashMap<String, String>,
        confirmed_units: &BTreeMap<&str, u64>,
    ) {
        let found = match reservations(stack, placed).await {
            Ok(found) => found,
            Err(e) => {
                self.issues.push(format!("reading the reservations: {e:#}"));
                return;
            }
        };
        let mut wrong = 0u64;
        let mut first = None;
        for p in placed {
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
            self.issues.push(format!(
                "{wrong} order(s) whose reservation disagrees, e.g. {first}"
            ));
        }
        let mut reserved: BTreeMap<&str, u64> = BTreeMap::new();
        for r in found.values().filter(|r| r.status == "RESERVED") {
            for (product, quantity) in &r.items {
                *reserved.entry(product.as_str()).or_default() += quantity;
            }
        }
        if reserved != *confirmed_units {
            self.issues.push(format!(
                "reserved units per product {reserved:?} != confirmed units {confirmed_units:?}"
            ));
        }
    }

    /// Step 6: the payment provider's ledger must hold exactly one succeeded charge of the
    /// order's total for each confirmed order and none for a rejected or cancelled one.
    async fn check_charges(
        &mut self,
        stack: &Stack,
        placed: &[Placed],
        status_of: &HashMap<String, String>,
    ) {
        let charged = match charges(stack, placed).await {
            Ok(charged) => charged,
            Err(e) => {
                self.issues
                    .push(format!("reading the payment ledger: {e:#}"));
                return;
            }
        };
        let mut wrong = 0u64;
        let mut first = None;
        for p in placed {
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
            self.issues.push(format!(
                "{wrong} order(s) whose charges disagree, e.g. {first}"
            ));
        }
    }
}

/// The units of each product (by id) in the orders of `placed` whose status is `CONFIRMED`.
fn confirmed_units<'a>(
    placed: &'a [Placed],
    status_of: &HashMap<String, String>,
) -> BTreeMap<&'a str, u64> {
    let mut confirmed_units: BTreeMap<&str, u64> = BTreeMap::new();
    for p in placed {
        if status_of.get(&p.id).map(String::as_str) == Some("CONFIRMED") {
            *confirmed_units.entry(p.product.as_str()).or_default() += u64::from(p.quantity);
        }
    }
    confirmed_units
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
