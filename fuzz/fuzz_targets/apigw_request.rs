//! Fuzz target `apigw_request`: an API Gateway HTTP API event (payload v2.0) as the Lambda
//! runtime hands it to a function — JSON → `lambda_http::request::LambdaRequest` →
//! `lambda_http::Request` with the invocation's `Context` — then every `shared::http` parser a
//! handler uses (path parameters, typed query and body with their `garde` rules and the
//! domain parse behind them, `If-Match`, `Idempotency-Key`, the request and trace ids, the
//! caller's `Principal`) and the error → response mapping.
//!
//! Input: first byte even, the rest is the event's JSON as sent (seeds: real AWS samples);
//! odd, the rest drives a structured event (`arbitrary`): method, path, path parameters,
//! query, headers, claims and body placed into a valid v2.0 envelope, so the parsers are
//! reached on every run. Property: nothing of ours panics.
//!
//! One panic is tolerated, and only there: `lambda_http`'s conversion of the event into a
//! `Request` (`into_api_gateway_v2_request`) unwraps `Url::parse` of `https://<Host><path>`,
//! so a `Host` header (or `domainName`) that is not a valid host — e.g. IDNA-invalid — panics
//! inside the runtime's adapter. The runtime's panic layer turns that into an invocation error
//! (a 502), and API Gateway only ever sends its own domain as `Host` (devstack's gateway
//! answers 400 to a malformed one and sets `x-forwarded-proto` itself), so it is an upstream
//! limitation (reported in the fuzzing notes), not a crash of ours: the target runs the
//! conversion under `catch_unwind` with the libFuzzer panic hook silenced for that call only.

#![no_main]

use std::cell::Cell;
use std::sync::Once;

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine as _;
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, Request, RequestExt};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use shared::auth::Principal;
use shared::domain::{
    Category, Description, Email, NewProduct, OrderId, OrderItem, OrderStatus, PaymentMethod,
    ProductChanges, ProductId, ProductName, Quantity, UserId, UserName,
};
use shared::http::{
    correlation_id, error_response, idempotency_key, if_match, parse_body, parse_json, parse_query,
    path_param, query_param, request_id, respond, trace_header,
};
use shared::ports::{Cursor, PageLimit, page_request};

/// The create-order body, as `functions/create-order` declares it.
#[derive(Debug, Deserialize, garde::Validate)]
#[serde(deny_unknown_fields)]
struct CreateOrder {
    #[serde(default)]
    #[garde(inner(custom(shared::validate::parses::<UserId>)))]
    customer_id: Option<String>,
    #[garde(custom(shared::validate::count(shared::domain::Order::ITEMS)), dive)]
    items: Vec<Item>,
    #[garde(custom(shared::validate::parses::<PaymentMethod>))]
    payment_method: String,
}

#[derive(Debug, Deserialize, garde::Validate)]
#[serde(deny_unknown_fields)]
struct Item {
    #[garde(custom(shared::validate::length(ProductId::LENGTH)))]
    product_id: String,
    #[garde(custom(shared::validate::range(Quantity::RANGE)))]
    quantity: i64,
    #[serde(default, rename = "unit_price_cents")]
    #[garde(skip)]
    _client_price: Option<serde::de::IgnoredAny>,
}

/// The create/update-product body, as `functions/create-product` and `update-product` declare it.
#[derive(Debug, Deserialize, garde::Validate)]
#[serde(deny_unknown_fields)]
struct Product {
    #[serde(deserialize_with = "shared::validate::trimmed")]
    #[garde(custom(shared::validate::length(ProductName::LENGTH)))]
    name: String,
    #[serde(default, deserialize_with = "shared::validate::trimmed")]
    #[garde(custom(shared::validate::length(Description::LENGTH)))]
    description: String,
    #[serde(deserialize_with = "shared::validate::trimmed")]
    #[garde(custom(shared::validate::length(Category::LENGTH)))]
    category: String,
    #[garde(skip)]
    price_cents: i64,
    #[serde(default)]
    #[garde(skip)]
    stock: Option<i64>,
}

/// The create/update-user body.
#[derive(Debug, Deserialize, garde::Validate)]
#[serde(deny_unknown_fields)]
struct User {
    #[serde(deserialize_with = "shared::validate::trimmed")]
    #[garde(custom(shared::validate::length(UserName::LENGTH)))]
    name: String,
    #[serde(deserialize_with = "shared::validate::trimmed")]
    #[garde(custom(shared::validate::length(Email::LENGTH)))]
    email: String,
}

/// The order-status body.
#[derive(Debug, Deserialize, garde::Validate)]
#[serde(deny_unknown_fields)]
struct Status {
    #[garde(skip)]
    status: String,
}

/// A listing's query, as `functions/list-products` declares it.
#[derive(Debug, Deserialize, garde::Validate)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default, deserialize_with = "shared::validate::trimmed_non_empty")]
    #[garde(inner(custom(shared::validate::length(Category::LENGTH))))]
    category: Option<String>,
    #[garde(inner(custom(shared::validate::range(PageLimit::RANGE))))]
    limit: Option<u16>,
    #[garde(inner(custom(shared::validate::length(Cursor::LENGTH))))]
    cursor: Option<String>,
}

#[derive(Debug, Arbitrary)]
struct Event {
    method: String,
    raw_path: String,
    raw_query: String,
    path_parameters: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    claims: Option<Vec<(String, String)>>,
    body: Option<String>,
    base64: bool,
    trace_id: Option<String>,
}

impl Event {
    fn json(self) -> Value {
        let map = |pairs: Vec<(String, String)>| -> Map<String, Value> {
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect()
        };
        let mut event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": self.raw_path,
            "rawQueryString": self.raw_query,
            "headers": map(self.headers),
            "queryStringParameters": map(self.query),
            "pathParameters": map(self.path_parameters),
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api-id",
                "domainName": "id.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "id",
                "http": {
                    "method": self.method,
                    "path": "/",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "192.168.0.1",
                    "userAgent": "agent"
                },
                "requestId": "id",
                "routeKey": "$default",
                "stage": "$default",
                "time": "12/Mar/2020:19:03:58 +0000",
                "timeEpoch": 1583348638390_i64
            },
            "isBase64Encoded": self.base64,
        });
        if let Some(claims) = self.claims {
            event["requestContext"]["authorizer"] = json!({"jwt": {"claims": map(claims)}});
        }
        if let Some(body) = self.body {
            event["body"] = Value::String(if self.base64 {
                base64::engine::general_purpose::STANDARD.encode(body)
            } else {
                body
            });
        }
        event
    }
}

thread_local! {
    /// Set while `lambda_http` converts the event: a panic then is the runtime's to catch.
    static IN_CONVERSION: Cell<bool> = const { Cell::new(false) };
}

/// Wraps libFuzzer's panic hook (which aborts) so that it stays quiet during the conversion.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CONVERSION.with(Cell::get) {
                fuzzer_hook(info);
            }
        }));
    });
}

/// What the runtime does with an invocation: the payload through `LambdaRequest`, then the
/// context into the request's extensions. `None` when the payload is not an event, or when
/// `lambda_http`'s conversion panics (see the module docs).
fn request(payload: &[u8], trace_id: Option<String>) -> Option<Request> {
    let event: LambdaRequest = serde_json::from_slice(payload).ok()?;
    let mut context = Context::default();
    context.xray_trace_id = trace_id;
    install_hook();
    IN_CONVERSION.with(|c| c.set(true));
    let converted = std::panic::catch_unwind(|| Request::from(event));
    IN_CONVERSION.with(|c| c.set(false));
    Some(converted.ok()?.with_lambda_context(context))
}

fn swallow<T>(result: Result<T, shared::Error>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            let response = error_response(&error);
            let _ = (response.status(), error.chain());
            let _ = respond(Err(error));
            None
        }
    }
}

fn parse_all(req: &Request) {
    for name in ["id", "order_id", "product_id"] {
        swallow(path_param::<UserId>(req, name));
        swallow(path_param::<OrderId>(req, name));
        swallow(path_param::<ProductId>(req, name));
    }
    if let Some(query) = swallow(parse_query::<ListQuery>(req)) {
        if let Some(cursor) = query.cursor.clone() {
            swallow(Cursor::from_client(cursor).after_id::<ProductId>());
        }
        if let Some((_limit, Some(cursor))) = swallow(page_request(query.limit, query.cursor)) {
            swallow(cursor.after_id::<UserId>());
        }
        if let Some(category) = query.category {
            let _ = Category::parse(&category);
        }
    }
    let _ = (query_param(req, "limit"), query_param(req, "cursor"));
    if let Some(order) = swallow(parse_body::<CreateOrder>(req)) {
        for (i, item) in order.items.iter().enumerate() {
            let _ = OrderItem::parse(&format!("items[{i}]"), &item.product_id, item.quantity, 0);
        }
        let _ = PaymentMethod::parse(&order.payment_method);
    }
    if let Some(product) = swallow(parse_body::<Product>(req)) {
        let _ = ProductChanges::parse(
            &product.name,
            &product.description,
            &product.category,
            product.price_cents,
        );
        let _ = NewProduct::parse(
            &product.name,
            &product.description,
            &product.category,
            product.price_cents,
            product.stock.unwrap_or_default(),
        );
    }
    if let Some(user) = swallow(parse_body::<User>(req)) {
        let _ = shared::domain::NewUser::parse(&user.name, &user.email);
    }
    if let Some(status) = swallow(parse_body::<Status>(req)) {
        let _ = status.status.parse::<OrderStatus>();
    }
    swallow(parse_json::<Value>(req));
    swallow(if_match(req));
    swallow(idempotency_key(req));
    let _ = (request_id(req), correlation_id(req), trace_header(req));
    if let Some(principal) = swallow(Principal::from_request(req)) {
        let _ = (
            principal.role(),
            principal.is_admin(),
            principal.groups().count(),
        );
        swallow(principal.require_admin());
        swallow(principal.require_role());
        if let Some(id) = swallow(principal.user_id()) {
            let _ = principal.owns_or_admin(&id);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let req = if mode % 2 == 0 {
        request(rest, None)
    } else {
        let Ok(event) = Event::arbitrary_take_rest(Unstructured::new(rest)) else {
            return;
        };
        let trace_id = event.trace_id.clone();
        request(event.json().to_string().as_bytes(), trace_id)
    };
    if let Some(req) = req {
        parse_all(&req);
    }
});
