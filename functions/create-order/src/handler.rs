//! `POST /orders`: body
//! `{"customer_id","items":[{"product_id","quantity","unit_price_cents"}]}` -> stores the order
//! as `PENDING`, publishes `OrderPlaced`, answers `201` with the order and
//! `location: /orders/{id}`.
//!
//! Errors: `400 VALIDATION_ERROR` (every bad field, e.g. `items[0].quantity`), `500
//! INTERNAL_ERROR` (store or queue failed). The order is written before the event is sent; if
//! sending fails the client gets a 500 and the order stays `PENDING` (there is no outbox yet).

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::domain::{Order, OrderId, OrderItem, UserId, now};
use shared::events::{Envelope, OrderPlaced};
use shared::http::{HttpResult, correlation_id, created, parse_json, respond};
use shared::ports::{EventPublisher, OrderWriter};
use shared::{Error, FieldError};

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOrderRequest {
    customer_id: String,
    items: Vec<ItemRequest>,
}

/// One line of the request. Numbers are `i64` so negatives get a domain message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemRequest {
    product_id: String,
    quantity: i64,
    unit_price_cents: i64,
}

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<W, P>(orders: &W, events: &P, req: Request) -> HttpResult
where
    W: OrderWriter,
    P: EventPublisher,
{
    respond(create_order(orders, events, &req).await)
}

async fn create_order<W, P>(orders: &W, events: &P, req: &Request) -> Result<Response<Body>, Error>
where
    W: OrderWriter,
    P: EventPublisher,
{
    let body: CreateOrderRequest = parse_json(req)?;
    let now = now();
    let order = Order::place(
        OrderId::new(),
        parse_customer(&body)?,
        parse_items(&body)?,
        now,
    )?;
    orders.insert(&order).await?;
    let correlation_id = correlation_id(req);
    let envelope = Envelope::wrap(&OrderPlaced::from(&order), &correlation_id, now)?;
    events.publish(&envelope).await?;
    tracing::info!(
        order_id = %order.id(),
        event_id = %envelope.event_id,
        correlation_id,
        total_cents = order.total().cents(),
        "order placed"
    );
    Ok(created(&format!("/orders/{}", order.id()), &order))
}

/// The customer id, or — so that the client sees every problem at once — the customer id's
/// error together with the lines' errors.
fn parse_customer(body: &CreateOrderRequest) -> Result<UserId, Error> {
    UserId::parse(&body.customer_id).map_err(|e| {
        let mut fields = vec![FieldError::new("customer_id", e.0)];
        if let Err(Error::Validation(item_fields)) = parse_items(body) {
            fields.extend(item_fields);
        }
        Error::validation(fields)
    })
}

fn parse_items(body: &CreateOrderRequest) -> Result<Vec<OrderItem>, Error> {
    let mut items = Vec::with_capacity(body.items.len());
    let mut errors = Vec::new();
    for (index, item) in body.items.iter().enumerate() {
        let prefix = format!("items[{index}]");
        match OrderItem::parse(
            &prefix,
            &item.product_id,
            item.quantity,
            item.unit_price_cents,
        ) {
            Ok(item) => items.push(item),
            Err(fields) => errors.extend(fields),
        }
    }
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(Error::validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::StatusCode;
    use serde_json::{Value, json};
    use shared::domain::OrderStatus;
    use shared::memory::{InMemoryOrders, RecordingPublisher};

    fn post_orders(body: &str) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/apigw-http-v2-sample.json"))
                .unwrap();
        event["routeKey"] = json!("POST /orders");
        event["rawPath"] = json!("/orders");
        event["rawQueryString"] = json!("");
        event["requestContext"]["http"]["path"] = json!("/orders");
        event["requestContext"]["requestId"] = json!("req-7f3a");
        event["pathParameters"] = json!({});
        event["body"] = json!(body);
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    struct World {
        orders: InMemoryOrders,
        events: RecordingPublisher,
    }

    impl World {
        fn new() -> Self {
            Self {
                orders: InMemoryOrders::new(),
                events: RecordingPublisher::new(),
            }
        }

        async fn post(&self, body: &Value) -> (StatusCode, Value, Response<Body>) {
            let Ok(response) =
                handle(&self.orders, &self.events, post_orders(&body.to_string())).await;
            let json = serde_json::from_slice(response.body().as_ref()).unwrap();
            (response.status(), json, response)
        }
    }

    fn order_body(items: Value) -> Value {
        json!({"customer_id": UserId::new().to_string(), "items": items})
    }

    fn two_lines() -> Value {
        json!([
            {"product_id": "SKU-1", "quantity": 3, "unit_price_cents": 1999},
            {"product_id": "SKU-2", "quantity": 1, "unit_price_cents": 500}
        ])
    }

    fn details(body: &Value) -> Vec<(String, String)> {
        body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["field"].as_str().unwrap().to_owned(),
                    d["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn a_valid_order_is_stored_pending_with_its_total_computed() {
        let world = World::new();
        let request = order_body(two_lines());

        let (status, body, response) = world.post(&request).await;

        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["total_cents"], 3 * 1999 + 500);
        assert_eq!(body["status"], "PENDING");
        assert_eq!(body["customer_id"], request["customer_id"]);
        assert_eq!(body["items"], two_lines());
        assert_eq!(body["created_at"], body["updated_at"]);
        let id = OrderId::parse(body["id"].as_str().unwrap()).unwrap();
        assert_eq!(
            response.headers()["location"],
            format!("/orders/{id}").as_str()
        );
        assert_eq!(world.orders.status(&id), Some(OrderStatus::Pending));
        assert_eq!(serde_json::to_value(world.orders.find(&id)).unwrap(), body);
    }

    #[tokio::test]
    async fn a_placed_order_publishes_order_placed_correlated_with_the_request() {
        let world = World::new();

        let (_, body, _) = world.post(&order_body(two_lines())).await;

        let published = world.events.published();
        assert_eq!(published.len(), 1);
        let envelope = &published[0];
        assert_eq!(envelope.event_type, "OrderPlaced");
        assert_eq!(envelope.schema_version, 1);
        assert_eq!(envelope.correlation_id, "req-7f3a");
        let event: OrderPlaced = envelope.decode().unwrap();
        assert_eq!(event.order_id.to_string(), body["id"].as_str().unwrap());
        assert_eq!(event.total_cents, 3 * 1999 + 500);
        assert_eq!(event.items.len(), 2);
    }

    #[tokio::test]
    async fn an_order_with_zero_items_is_a_validation_error_on_items() {
        let world = World::new();

        let (status, body, _) = world.post(&order_body(json!([]))).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            details(&body),
            [(
                "items".to_owned(),
                "must contain between 1 and 50 items".to_owned()
            )]
        );
        assert!(world.orders.all().is_empty());
        assert!(world.events.published().is_empty());
    }

    #[tokio::test]
    async fn a_quantity_of_zero_is_a_validation_error_naming_the_line() {
        let world = World::new();
        let items = json!([
            {"product_id": "SKU-1", "quantity": 1, "unit_price_cents": 100},
            {"product_id": "SKU-2", "quantity": 0, "unit_price_cents": 100}
        ]);

        let (status, body, _) = world.post(&order_body(items)).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(
            details(&body),
            [(
                "items[1].quantity".to_owned(),
                "must be between 1 and 1000".to_owned()
            )]
        );
        assert!(world.orders.all().is_empty());
    }

    #[tokio::test]
    async fn a_negative_or_too_high_price_is_refused() {
        let world = World::new();
        let items = json!([
            {"product_id": "SKU-1", "quantity": 1, "unit_price_cents": -1},
            {"product_id": "SKU-2", "quantity": 1, "unit_price_cents": 100_000_001}
        ]);

        let (status, body, _) = world.post(&order_body(items)).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        let fields: Vec<String> = details(&body).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            ["items[0].unit_price_cents", "items[1].unit_price_cents"]
        );
    }

    #[tokio::test]
    async fn a_bad_customer_id_and_bad_lines_are_reported_together() {
        let world = World::new();
        let body = json!({
            "customer_id": "nobody",
            "items": [{"product_id": "bad sku!", "quantity": 1, "unit_price_cents": 1}]
        });

        let (status, body, _) = world.post(&body).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        let fields: Vec<String> = details(&body).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["customer_id", "items[0].product_id"]);
    }

    #[tokio::test]
    async fn an_unknown_field_in_a_line_is_refused_by_its_path() {
        let world = World::new();
        let items = json!([
            {"product_id": "SKU-1", "quantity": 1, "unit_price_cents": 100, "discount": 5}
        ]);

        let (status, body, _) = world.post(&order_body(items)).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            details(&body),
            [("items[0].discount".to_owned(), "is not allowed".to_owned())]
        );
    }

    #[tokio::test]
    async fn a_missing_field_in_a_line_is_named_by_its_path() {
        let world = World::new();
        let items = json!([{"product_id": "SKU-1", "quantity": 1}]);

        let (status, body, _) = world.post(&order_body(items)).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            details(&body),
            [(
                "items[0].unit_price_cents".to_owned(),
                "is required".to_owned()
            )]
        );
    }

    #[tokio::test]
    async fn a_queue_failure_is_an_opaque_500() {
        let world = World::new();
        world.events.fail_with("queue does not exist");

        let (status, body, _) = world.post(&order_body(two_lines())).await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            json!({"error": {"code": "INTERNAL_ERROR", "message": "internal error"}})
        );
    }

    #[tokio::test]
    async fn a_store_failure_publishes_nothing() {
        let world = World::new();
        world.orders.fail_with("table does not exist");

        let (status, _, _) = world.post(&order_body(two_lines())).await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(world.events.published().is_empty());
    }
}
