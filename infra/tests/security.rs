//! Security end to end, through the local cloud that `make test` starts: the template's JWT
//! authorizer (emulated by the gateway, trusting devstack's identity provider), the functions'
//! role and ownership rules, and the template's throttling.
//!
//! `DEVSTACK_GATEWAY` and `DEVSTACK_STACK_NAME` say which running stack to use (see `e2e.rs`).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::hostile;
use devstack::idp::Idp;
use devstack::template::Template;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn gateway() -> String {
    std::env::var("DEVSTACK_GATEWAY").unwrap_or_else(|_| "http://127.0.0.1:3000".into())
}

fn stack_name() -> String {
    std::env::var("DEVSTACK_STACK_NAME").unwrap_or_else(|_| "shop".into())
}

fn state_dir() -> std::path::PathBuf {
    devstack::workspace_root().join(".devstack")
}

fn idp() -> Idp {
    devstack::edge::stack_idp(&state_dir(), &stack_name()).unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// A caller: a bearer token (or none) and the requests it sends.
struct Caller {
    token: Option<String>,
    subject: String,
}

impl Caller {
    fn anonymous() -> Self {
        Self {
            token: None,
            subject: String::new(),
        }
    }

    fn admin() -> Self {
        let subject = "security-admin".to_owned();
        Self {
            token: Some(hostile::valid(&idp(), &subject, &["admin"])),
            subject,
        }
    }

    /// A new customer, as a Cognito user pool would issue one (`sub` a UUID v4), who created
    /// their own user record.
    async fn new_customer() -> Self {
        let subject = uuid::Uuid::new_v4().to_string();
        let me = Self {
            token: Some(hostile::valid(&idp(), &subject, &["customer"])),
            subject,
        };
        let email = format!("c+{}@example.com", uuid::Uuid::new_v4().simple());
        let (status, body) = me
            .send(
                Method::POST,
                "/users",
                Some(json!({"name": "Customer", "email": email})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(
            body["id"], me.subject,
            "a customer's record has their own id"
        );
        me
    }

    /// Sends a request; a 429 (the burst test shares the gateway's buckets) is retried after
    /// a pause, as a well-behaved client would.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        for _ in 0..20 {
            let answer = self.send_once(method.clone(), path, body.clone()).await;
            if answer.0 != StatusCode::TOO_MANY_REQUESTS {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.send_once(method, path, body).await
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = http().request(method, format!("{}{path}", gateway()));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        if path.starts_with("/users/") || path.starts_with("/products/") {
            req = req.header("if-match", "*");
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

async fn create_product(admin: &Caller) -> Value {
    let (status, product) = admin
        .send(
            Method::POST,
            "/products",
            Some(json!({
                "name": "Difference Engine", "description": "", "category": "machines",
                "price_cents": 1250, "stock": 100
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    product
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn every_hostile_token_is_401_and_the_function_never_runs() {
    let idp = idp();
    let other_dir = std::env::temp_dir().join(format!("other-idp-{}", uuid::Uuid::new_v4()));
    let other = Idp::load_or_create(&other_dir, idp.issuer(), idp.audience()).unwrap();
    let admin = Caller::admin();
    let product = create_product(&admin).await;
    let victim = Caller::new_customer().await;
    let cases = hostile::cases(&idp, &other, &victim.subject, &["customer", "admin"]);
    assert!(cases.len() >= 15, "{} cases", cases.len());

    for (case, authorization) in &cases {
        let mut req = http()
            .post(format!("{}/orders", gateway()))
            .json(&json!({"items": [{"product_id": product["id"], "quantity": 1}], "payment_method": "tok_visa"}));
        if let Some(value) = authorization {
            req = req.header("authorization", value);
        }
        let resp = req.send().await.unwrap();

        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(
            resp.json::<Value>().await.unwrap(),
            json!({"message": "Unauthorized"}),
            "{case}"
        );
    }

    // Had create-order run even once, the victim would have an order.
    let (status, orders) = admin
        .send(
            Method::GET,
            &format!("/orders?customer_id={}", victim.subject),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        orders["items"],
        json!([]),
        "no hostile request reached create-order"
    );
    let _ = std::fs::remove_dir_all(other_dir);
}

/// How a customer who does not own the resource is answered on each guarded route.
fn expected_denial(route_key: &str) -> Option<StatusCode> {
    Some(match route_key {
        // Another customer's resource named by id: looks missing (one rule: 404).
        "GET /users/{id}" | "PUT /users/{id}" | "GET /orders/{id}" | "DELETE /orders/{id}" => {
            StatusCode::NOT_FOUND
        }
        // Admin routes, and naming another customer where a customer may only name themselves.
        "GET /users"
        | "DELETE /users/{id}"
        | "POST /products"
        | "PUT /products/{id}"
        | "DELETE /products/{id}"
        | "PATCH /products/{id}/stock"
        | "PATCH /orders/{id}/status"
        | "POST /orders"
        | "GET /orders" => StatusCode::FORBIDDEN,
        // A customer creates their own record: nothing of anyone else's to reach.
        "POST /users" => return None,
        _ => return None,
    })
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_customer_cannot_reach_another_customers_resources_or_admin_routes() {
    let admin = Caller::admin();
    let product = create_product(&admin).await;
    let owner = Caller::new_customer().await;
    let intruder = Caller::new_customer().await;
    let (status, order) = owner
        .send(
            Method::POST,
            "/orders",
            Some(json!({"items": [{"product_id": product["id"], "quantity": 1}], "payment_method": "tok_visa"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["customer_id"], owner.subject);
    let (user_id, order_id, product_id) = (
        &owner.subject,
        order["id"].as_str().unwrap(),
        product["id"].as_str().unwrap(),
    );
    let item = json!({"items": [{"product_id": product_id, "quantity": 1}]});
    let attempts: Vec<(&str, Method, String, Option<Value>)> = vec![
        ("GET /users", Method::GET, "/users".into(), None),
        (
            "GET /users/{id}",
            Method::GET,
            format!("/users/{user_id}"),
            None,
        ),
        (
            "PUT /users/{id}",
            Method::PUT,
            format!("/users/{user_id}"),
            Some(json!({"name": "Mallory", "email": "m@example.com"})),
        ),
        (
            "DELETE /users/{id}",
            Method::DELETE,
            format!("/users/{user_id}"),
            None,
        ),
        (
            "POST /products",
            Method::POST,
            "/products".into(),
            Some(
                json!({"name": "x", "description": "", "category": "x", "price_cents": 1, "stock": 1}),
            ),
        ),
        (
            "PUT /products/{id}",
            Method::PUT,
            format!("/products/{product_id}"),
            Some(json!({"name": "x", "description": "", "category": "x", "price_cents": 1})),
        ),
        (
            "DELETE /products/{id}",
            Method::DELETE,
            format!("/products/{product_id}"),
            None,
        ),
        (
            "PATCH /products/{id}/stock",
            Method::PATCH,
            format!("/products/{product_id}/stock"),
            Some(json!({"delta": 5})),
        ),
        (
            "POST /orders",
            Method::POST,
            "/orders".into(),
            Some(
                json!({"customer_id": user_id, "items": item["items"], "payment_method": "tok_visa"}),
            ),
        ),
        (
            "GET /orders",
            Method::GET,
            format!("/orders?customer_id={user_id}"),
            None,
        ),
        (
            "GET /orders/{id}",
            Method::GET,
            format!("/orders/{order_id}"),
            None,
        ),
        (
            "PATCH /orders/{id}/status",
            Method::PATCH,
            format!("/orders/{order_id}/status"),
            Some(json!({"status": "SHIPPED"})),
        ),
        (
            "DELETE /orders/{id}",
            Method::DELETE,
            format!("/orders/{order_id}"),
            None,
        ),
    ];

    // Every guarded route of the template has a rule here: a new route must say how it is denied.
    let template = Template::load(&devstack::workspace_root().join("template.yaml")).unwrap();
    let api = template.http_api().unwrap().unwrap();
    let guarded: BTreeSet<String> = template
        .functions()
        .unwrap()
        .iter()
        .flat_map(|f| f.http_routes.clone())
        .filter(|r| api.authorizer_of(r).unwrap().is_some())
        .map(|r| r.route_key())
        .filter(|k| expected_denial(k).is_some())
        .collect();
    let tried: BTreeSet<String> = attempts.iter().map(|a| a.0.to_owned()).collect();
    assert_eq!(guarded, tried, "every guarded route is tried");

    for (route, method, path, body) in attempts {
        let expected = expected_denial(route).unwrap();

        let (status, answer) = intruder.send(method, &path, body).await;

        assert_eq!(status, expected, "{route}: {answer}");
        let code = if expected == StatusCode::NOT_FOUND {
            "NOT_FOUND"
        } else {
            "FORBIDDEN"
        };
        assert_eq!(answer["error"]["code"], code, "{route}");
    }

    // Nothing changed: the owner still sees their record and their (not cancelled) order.
    let (_, me) = owner
        .send(Method::GET, &format!("/users/{user_id}"), None)
        .await;
    assert_eq!(me["name"], "Customer");
    let (_, mine) = owner
        .send(Method::GET, &format!("/orders/{order_id}"), None)
        .await;
    assert_ne!(mine["status"], "CANCELLED");
    let (status, _) = admin
        .send(Method::GET, &format!("/products/{product_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn the_owner_and_an_admin_may_do_what_a_stranger_may_not() {
    let admin = Caller::admin();
    let product = create_product(&admin).await;
    let owner = Caller::new_customer().await;
    let (_, order) = owner
        .send(
            Method::POST,
            "/orders",
            Some(json!({"items": [{"product_id": product["id"], "quantity": 1}], "payment_method": "tok_visa"})),
        )
        .await;
    let order_id = order["id"].as_str().unwrap();

    let (own_read, _) = owner
        .send(Method::GET, &format!("/orders/{order_id}"), None)
        .await;
    let (own_list, listed) = owner.send(Method::GET, "/orders", None).await;
    let (admin_read, _) = admin
        .send(Method::GET, &format!("/orders/{order_id}"), None)
        .await;
    let (own_cancel, cancelled) = owner
        .send(Method::DELETE, &format!("/orders/{order_id}"), None)
        .await;

    assert_eq!(
        (own_read, own_list, admin_read),
        (StatusCode::OK, StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(own_cancel, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "CANCELLED");
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn public_routes_need_no_token_and_others_do() {
    let anonymous = Caller::anonymous();

    let (health, body) = anonymous.send(Method::GET, "/health", None).await;
    let (catalog, _) = anonymous.send(Method::GET, "/products", None).await;
    let (write, denied) = anonymous
        .send(Method::POST, "/products", Some(json!({"name": "x"})))
        .await;

    assert_eq!(health, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(catalog, StatusCode::OK);
    assert_eq!(write, StatusCode::UNAUTHORIZED);
    assert_eq!(denied, json!({"message": "Unauthorized"}));
}

#[tokio::test]
#[ignore = "needs the running local cloud: run make test"]
async fn a_burst_above_the_route_limit_gets_429s_and_no_5xx() {
    let template = Template::load(&devstack::workspace_root().join("template.yaml")).unwrap();
    let limit = template
        .http_api()
        .unwrap()
        .unwrap()
        .throttle("GET /health");
    let burst = usize::try_from(limit.burst.expect("GET /health has a burst limit")).unwrap();
    let rate = limit.rate_per_sec.expect("GET /health has a rate limit");
    let client = http();
    let started = std::time::Instant::now();

    let answers = futures::future::join_all((0..burst * 5).map(|_| {
        let client = client.clone();
        async move {
            let resp = client
                .get(format!("{}/health", gateway()))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.text().await.unwrap())
        }
    }))
    .await;

    // The bucket refills at `rate` while the burst is in flight.
    let refilled = (rate * started.elapsed().as_secs_f64()).ceil() as usize;
    let throttled: Vec<&(StatusCode, String)> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert!(
        answers.iter().all(|(s, _)| !s.is_server_error()),
        "no 5xx: {answers:?}"
    );
    assert!(
        ok >= 1 && ok <= burst + refilled + 1,
        "{ok} admitted for a burst of {burst} (+{refilled} refilled)"
    );
    assert_eq!(ok + throttled.len(), answers.len(), "only 200s and 429s");
    assert_eq!(throttled[0].1, r#"{"message":"Too Many Requests"}"#);
}
