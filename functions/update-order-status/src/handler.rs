//! `PATCH /orders/{id}/status`: body `{"status":"SHIPPED"}` -> `200` with the order.
//!
//! The transition table (see `shared::domain::OrderStatus`): `PENDING -> CONFIRMED -> SHIPPED
//! -> DELIVERED`, `PENDING/CONFIRMED -> CANCELLED`. `CONFIRMED` and `REJECTED` are set only by
//! the stock-reservation saga. A cancellation commits `OrderCancelled` with the change, so the
//! inventory releases the order's stock.
//!
//! Errors: `400 VALIDATION_ERROR` (`id`, `status`, unknown fields), `404 NOT_FOUND`, `409
//! CONFLICT` (not allowed by the table), `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::Error;
use shared::domain::{OrderId, OrderStatus};
use shared::http::{HttpResult, correlation_id, json_response, parse_json, path_param, respond};
use shared::ports::{OrderReader, OrderTransitions};
use shared::usecases::change_order_status;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusRequest {
    status: String,
}

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<S: OrderReader + OrderTransitions>(orders: &S, req: Request) -> HttpResult {
    respond(update_status(orders, &req).await)
}

async fn update_status<S: OrderReader + OrderTransitions>(
    orders: &S,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let id: OrderId = path_param(req, "id")?;
    let body: StatusRequest = parse_json(req)?;
    let to = OrderStatus::parse(&body.status).map_err(|e| Error::invalid("status", e.0))?;
    let order = change_order_status(orders, &id, to, &correlation_id(req)).await?;
    Ok(json_response(StatusCode::OK, &order))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::{Order, OrderItem, UserId, now};
    use shared::memory::InMemoryOrders;
    use shared::testing::{ApiRequest, status_and_json};

    fn confirmed_order() -> Order {
        let item = OrderItem::parse("items[0]", "SKU-1", 2, 500).unwrap();
        let mut order = Order::place(OrderId::new(), UserId::new(), vec![item], now()).unwrap();
        order.transition(OrderStatus::Confirmed, now()).unwrap();
        order
    }

    async fn patch(orders: &InMemoryOrders, id: &str, body: &Value) -> (u16, Value) {
        let req = ApiRequest::new("PATCH", "/orders/{id}/status")
            .path("id", id)
            .body(body)
            .build();
        let Ok(response) = handle(orders, req).await;
        status_and_json(&response)
    }

    #[tokio::test]
    async fn a_confirmed_order_ships_then_is_delivered() {
        let order = confirmed_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let id = order.id().to_string();

        let (shipped, body) = patch(&orders, &id, &json!({"status": "SHIPPED"})).await;
        let (delivered, last) = patch(&orders, &id, &json!({"status": "DELIVERED"})).await;

        assert_eq!((shipped, delivered), (200, 200), "{body} {last}");
        assert_eq!(body["status"], "SHIPPED");
        assert_eq!(last["status"], "DELIVERED");
        assert!(orders.outbox().is_empty());
    }

    #[tokio::test]
    async fn a_move_outside_the_table_is_a_409_and_changes_nothing() {
        let order = confirmed_order();
        let orders = InMemoryOrders::with([order.clone()]);

        let (status, body) = patch(
            &orders,
            &order.id().to_string(),
            &json!({"status": "DELIVERED"}),
        )
        .await;

        assert_eq!(status, 409);
        assert_eq!(body["error"]["code"], "CONFLICT");
        assert_eq!(orders.find(&order.id()).unwrap(), order);
    }

    #[tokio::test]
    async fn cancelling_commits_order_cancelled() {
        let order = confirmed_order();
        let orders = InMemoryOrders::with([order.clone()]);

        let (status, body) = patch(
            &orders,
            &order.id().to_string(),
            &json!({"status": "CANCELLED"}),
        )
        .await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(orders.outbox()[0].event_type, "OrderCancelled");
    }

    #[tokio::test]
    async fn bad_input_names_the_field() {
        let orders = InMemoryOrders::with([confirmed_order()]);
        let id = OrderId::new().to_string();

        let (lower, lower_body) = patch(&orders, &id, &json!({"status": "shipped"})).await;
        let (extra, extra_body) = patch(
            &orders,
            &id,
            &json!({"status": "SHIPPED", "total_cents": 1}),
        )
        .await;
        let (bad_id, bad_id_body) = patch(&orders, "42", &json!({"status": "SHIPPED"})).await;
        let (unknown, _) = patch(&orders, &id, &json!({"status": "SHIPPED"})).await;

        assert_eq!(lower, 400);
        assert_eq!(lower_body["error"]["details"][0]["field"], "status");
        assert_eq!(extra, 400);
        assert_eq!(extra_body["error"]["details"][0]["field"], "total_cents");
        assert_eq!(bad_id, 400);
        assert_eq!(bad_id_body["error"]["details"][0]["field"], "id");
        assert_eq!(unknown, 404);
    }
}
