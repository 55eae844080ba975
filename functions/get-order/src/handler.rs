//! `GET /orders/{id}` -> `200` with the order
//! `{"id","customer_id","items":[...],"total_cents","status","created_at","updated_at"}`.
//!
//! Who may call: an **admin** (any order) or the **customer** who placed the order. The role
//! is checked before the store is read; ownership after, on the order read. Another customer's
//! order answers `404 NOT_FOUND`, exactly as an id that does not exist, so that ids cannot be
//! probed.
//!
//! Errors: `400 VALIDATION_ERROR` on field `id` (missing or not a UUID v7), `401 UNAUTHORIZED`
//! (no token), `403 FORBIDDEN` (neither admin nor customer), `404 NOT_FOUND` (no such order,
//! or not the caller's), `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::auth::Principal;
use shared::domain::OrderId;
use shared::http::{HttpResult, json_response, path_param, respond};
use shared::ports::OrderReader;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<R: OrderReader>(orders: &R, req: Request) -> HttpResult {
    respond(get_order(orders, &req).await)
}

async fn get_order<R: OrderReader>(orders: &R, req: &Request) -> Result<Response<Body>, Error> {
    let principal = Principal::from_request(req)?;
    principal.require_role()?;
    let id: OrderId = path_param(req, "id")?;
    let order = orders
        .get(&id)
        .await?
        .ok_or_else(|| Error::not_found("order", id))?;
    principal.check_owner(&order.customer_id(), "order", id)?;
    Ok(json_response(StatusCode::OK, &order))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::{Order, OrderItem, UserId, now};
    use shared::memory::InMemoryOrders;
    use shared::testing::{ApiRequest, not_found, status_and_json};

    fn get(id: impl ToString) -> ApiRequest {
        ApiRequest::new("GET", "/orders/{id}").path("id", id)
    }

    async fn send(orders: &InMemoryOrders, req: ApiRequest) -> (u16, Value) {
        let Ok(response) = handle(orders, req.build()).await;
        status_and_json(&response)
    }

    fn an_order() -> Order {
        let items = vec![
            OrderItem::parse("items[0]", "SKU-1", 2, 1250).unwrap(),
            OrderItem::parse("items[1]", "SKU-2", 1, 99).unwrap(),
        ];
        Order::place(OrderId::new(), UserId::new(), items, now()).unwrap()
    }

    #[tokio::test]
    async fn an_admin_gets_any_order_with_cents_and_status() {
        let order = an_order();
        let orders = InMemoryOrders::with([order.clone()]);

        let (status, body) = send(&orders, get(order.id()).as_admin()).await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total_cents"], 2599);
        assert_eq!(body["status"], "PENDING");
        assert_eq!(
            body["items"][0],
            json!({"product_id": "SKU-1", "quantity": 2, "unit_price_cents": 1250})
        );
        assert_eq!(body, serde_json::to_value(&order).unwrap());
    }

    #[tokio::test]
    async fn the_customer_who_placed_an_order_gets_it() {
        let order = an_order();
        let orders = InMemoryOrders::with([order.clone()]);

        let (status, body) = send(&orders, get(order.id()).as_customer(order.customer_id())).await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(body, serde_json::to_value(&order).unwrap());
    }

    #[tokio::test]
    async fn another_customers_order_looks_exactly_like_a_missing_one() {
        let order = an_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let stranger = UserId::new();
        let unknown = OrderId::new();

        let theirs = send(&orders, get(order.id()).as_customer(stranger)).await;
        let missing = send(&orders, get(unknown).as_customer(stranger)).await;

        assert_eq!(theirs, not_found("order", order.id()));
        assert_eq!(missing, not_found("order", unknown));
    }

    #[tokio::test]
    async fn a_request_without_a_token_is_401() {
        let order = an_order();
        let orders = InMemoryOrders::with([order.clone()]);

        let (status, body) = send(&orders, get(order.id())).await;

        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
    }

    #[tokio::test]
    async fn a_caller_without_a_role_is_forbidden_even_for_their_own_order() {
        let order = an_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let req = get(order.id()).principal(&order.customer_id().to_string(), &["guests"]);

        let (status, body) = send(&orders, req).await;

        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "FORBIDDEN");
    }

    #[tokio::test]
    async fn a_malformed_id_is_a_validation_error_naming_id() {
        let orders = InMemoryOrders::new();

        let (status, body) = send(&orders, get("42").as_admin()).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "id", "message": "must be a UUID"}])
        );
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let orders = InMemoryOrders::new();
        orders.fail_with("throttled");

        let (status, body) = send(&orders, get(OrderId::new()).as_admin()).await;

        assert_eq!(status, 500);
        assert_eq!(body["error"]["code"], "INTERNAL_ERROR");
    }
}
