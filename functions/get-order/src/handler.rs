//! `GET /orders/{id}` -> `200` with the order
//! `{"id","customer_id","items":[...],"total_cents","status","created_at","updated_at"}`.
//!
//! Errors: `400 VALIDATION_ERROR` on field `id` (missing or not a UUID v7), `404 NOT_FOUND`,
//! `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::domain::OrderId;
use shared::http::{HttpResult, json_response, path_param, respond};
use shared::ports::OrderReader;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<R: OrderReader>(orders: &R, req: Request) -> HttpResult {
    respond(get_order(orders, &req).await)
}

async fn get_order<R: OrderReader>(orders: &R, req: &Request) -> Result<Response<Body>, Error> {
    let id: OrderId = path_param(req, "id")?;
    let order = orders
        .get(&id)
        .await?
        .ok_or_else(|| Error::not_found("order", id))?;
    Ok(json_response(StatusCode::OK, &order))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::{Order, OrderItem, UserId, now};
    use shared::memory::InMemoryOrders;

    fn get_orders(path_parameters: Value) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/apigw-http-v2-get.json")).unwrap();
        let id = path_parameters["id"].as_str().unwrap_or("").to_owned();
        event["routeKey"] = json!("GET /orders/{id}");
        event["rawPath"] = json!(format!("/orders/{id}"));
        event["rawQueryString"] = json!("");
        event["requestContext"]["http"]["path"] = json!(format!("/orders/{id}"));
        event["pathParameters"] = path_parameters;
        event["body"] = Value::Null;
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    async fn send(orders: &InMemoryOrders, path_parameters: Value) -> (StatusCode, Value) {
        let Ok(response) = handle(orders, get_orders(path_parameters)).await;
        let json = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status(), json)
    }

    fn an_order() -> Order {
        let items = vec![
            OrderItem::parse("items[0]", "SKU-1", 2, 1250).unwrap(),
            OrderItem::parse("items[1]", "SKU-2", 1, 99).unwrap(),
        ];
        Order::place(OrderId::new(), UserId::new(), items, now()).unwrap()
    }

    #[tokio::test]
    async fn an_existing_order_is_returned_with_cents_and_status() {
        let order = an_order();
        let orders = InMemoryOrders::with([order.clone()]);

        let (status, body) = send(&orders, json!({"id": order.id().to_string()})).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["total_cents"], 2599);
        assert_eq!(body["status"], "PENDING");
        assert_eq!(
            body["items"][0],
            json!({"product_id": "SKU-1", "quantity": 2, "unit_price_cents": 1250})
        );
        assert_eq!(body, serde_json::to_value(&order).unwrap());
    }

    #[tokio::test]
    async fn an_unknown_order_is_not_found() {
        let orders = InMemoryOrders::with([an_order()]);
        let unknown = OrderId::new();

        let (status, body) = send(&orders, json!({"id": unknown.to_string()})).await;

        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            json!({"error": {"code": "NOT_FOUND", "message": format!("order {unknown} not found")}})
        );
    }

    #[tokio::test]
    async fn a_malformed_id_is_a_validation_error_naming_id() {
        let orders = InMemoryOrders::new();

        let (status, body) = send(&orders, json!({"id": "42"})).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "id", "message": "must be a UUID"}])
        );
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let orders = InMemoryOrders::new();
        orders.fail_with("throttled");

        let (status, body) = send(&orders, json!({"id": OrderId::new().to_string()})).await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "INTERNAL_ERROR");
    }
}
