//! The scenarios' side of a run: the callers (bearer tokens of the stack's identity provider),
//! the products and customers the setup creates, the warm-up before the clock starts, and the
//! plans ([`GetPlan`], [`MixPlan`]) that send request `i` of the schedule.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::driver::{Outcome, Plan, classify};
use super::{Options, PAYMENT_METHOD, Stack};
use crate::idp::TokenRequest;

/// Orders placed (product 0, one unit each) and settled before the clock starts, so the saga's
/// functions have warm instances: as many as `cargo lambda watch` runs per function by default.
const WARM_ORDERS: usize = 4;

/// Places [`WARM_ORDERS`] orders of `product` at once and waits until they settle; they are
/// accounted with the others.
///
/// # Errors
/// An order is not answered `201`, or does not settle within [`Options::settle_within`].
pub(super) async fn warm_saga(
    opts: &Options,
    customers: &[Caller],
    product: &str,
) -> Result<Vec<Placed>> {
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
pub(super) struct Product {
    /// Its id.
    pub(super) id: String,
    /// The units it was created with.
    pub(super) stock: u64,
}

/// A placed order: what was sent, and the `201`'s body.
#[derive(Debug, Clone)]
pub(super) struct Placed {
    /// The index of the customer who placed it.
    pub(super) customer: usize,
    /// Its `Idempotency-Key`.
    pub(super) key: String,
    /// The request body sent.
    pub(super) body: Value,
    /// The product bought.
    pub(super) product: String,
    /// Units bought.
    pub(super) quantity: u32,
    /// The order id answered (empty until a `201` answers one).
    pub(super) id: String,
    /// The order total the `201` answered, cents.
    pub(super) total_cents: u64,
}

/// A client with a bearer token of the stack's identity provider.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    http: reqwest::Client,
    /// The token's subject (the user id, for a customer).
    pub(super) subject: String,
    bearer: String,
}

impl Caller {
    pub(super) fn new(
        http: &reqwest::Client,
        stack: &Stack,
        subject: &str,
        group: &str,
    ) -> Result<Self> {
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
    pub(super) fn using(&self, http: &reqwest::Client) -> Self {
        Self {
            http: http.clone(),
            ..self.clone()
        }
    }

    pub(super) fn get(&self, url: &str) -> reqwest::RequestBuilder {
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
    pub(super) async fn place_again(&self, url: &str, placed: &Placed) -> Option<(u16, Value)> {
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
    pub(super) async fn place_until_answered(
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
    pub(super) async fn create_product(&self, gateway: &str, stock: u64) -> Result<Product> {
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
    pub(super) async fn create_user(&self, gateway: &str) -> Result<String> {
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
pub(super) async fn expect_json(
    request: reqwest::RequestBuilder,
    status: u16,
    what: &str,
) -> Result<Value> {
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
pub(super) async fn warm(http: &reqwest::Client, gateway: &str, products: &[String]) -> Result<()> {
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

/// `get-product`: `GET /products/{id}`, round-robin over `products`.
pub(super) struct GetPlan {
    /// The product ids read.
    pub(super) products: Vec<String>,
}

impl Plan for GetPlan {
    async fn send(self: Arc<Self>, i: u64, http: reqwest::Client, gateway: Arc<str>) -> Outcome {
        let url = format!("{gateway}/products/{}", pick(&self.products, i));
        classify(http.get(url).send().await, 200).await.0
    }
}

/// `mix`: one request in `order_every` a `POST /orders`, the others `GET /products/{id}`.
pub(super) struct MixPlan {
    /// The three product ids (read, and bought by [`order_line`]).
    pub(super) products: Vec<String>,
    /// The customers placing the orders, in turn.
    pub(super) customers: Vec<Caller>,
    /// One request in this many is `POST /orders` (≥ 1).
    pub(super) order_every: u64,
    /// Orders answered `201`.
    pub(super) placed: Mutex<Vec<Placed>>,
    /// Orders sent but not answered `201` (timeouts, 5xx): placed again with the same key
    /// after the run, as a client would, so the accounting knows what became of them.
    pub(super) unanswered: Mutex<Vec<Placed>>,
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
