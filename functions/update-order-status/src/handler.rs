//! `PATCH /orders/{id}/status`: body `{"status":"SHIPPED"}` -> `200` with the order.
//!
//! Who may call: **admins only**. Anyone else is refused before the body is read or the order
//! is looked at: `401` without a token, `403` with any other role (a customer cannot move
//! even their own order; they cancel it with `DELETE /orders/{id}`).
//!
//! The transition table (see `shared::domain::OrderStatus`): `PENDING -> CONFIRMED -> SHIPPED
//! -> DELIVERED`, `PENDING/CONFIRMED -> CANCELLED`. `CONFIRMED` and `REJECTED` are set only by
//! the stock-reservation saga. A cancellation commits `OrderCancelled` with the change, so the
//! inventory releases the order's stock.
//!
//! Errors: `400 VALIDATION_ERROR` (`id`, `status` not one of the upper-case statuses, any
//! other field such as `total_cents` or `version`: `is not allowed`), `401 UNAUTHORIZED`, `403
//! FORBIDDEN`, `404 NOT_FOUND`, `409 CONFLICT` (not allowed by the table), `413
//! PAYLOAD_TOO_LARGE`, `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::api::StatusRequest;
use shared::auth::Principal;
use shared::domain::{OrderId, OrderStatus};
use shared::http::{
    HttpResult, correlation_id, json_response, parse_body, path_param, respond, trace_header,
};
use shared::ports::{OrderReader, OrderTransitions};
use shared::usecases::change_order_status;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<S: OrderReader + OrderTransitions>(orders: &S, req: Request) -> HttpResult {
    respond(update_status(orders, &req).await)
}

async fn update_status<S: OrderReader + OrderTransitions>(
    orders: &S,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let principal = Principal::from_request(req)?;
    principal.require_admin()?;
    let id: OrderId = path_param(req, "id")?;
    let body: StatusRequest = parse_body(req)?;
    let to = OrderStatus::parse(&body.status).map_err(|e| Error::invalid("status", e.0))?;
    let trace = trace_header(req);
    let order = change_order_status(
        orders,
        &principal,
        &id,
        to,
        &correlation_id(req),
        trace.as_deref(),
    )
    .await?;
    if to == OrderStatus::Cancelled {
        shared::metrics::incr(shared::metrics::Metric::OrdersCancelled);
    }
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

    fn request(id: &str, body: &Value) -> ApiRequest {
        ApiRequest::new("PATCH", "/orders/{id}/status")
            .path("id", id)
            .body(body)
    }

    async fn send(orders: &InMemoryOrders, req: ApiRequest) -> (u16, Value) {
        let Ok(response) = handle(orders, req.build()).await;
        status_and_json(&response)
    }

    async fn patch(orders: &InMemoryOrders, id: &str, body: &Value) -> (u16, Value) {
        send(orders, request(id, body).as_admin()).await
    }

    #[tokio::test]
    async fn an_admin_ships_a_confirmed_order_then_delivers_it() {
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
    async fn a_request_without_a_token_is_401_and_changes_nothing() {
        let order = confirmed_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let req = request(&order.id().to_string(), &json!({"status": "SHIPPED"}));

        let (status, body) = send(&orders, req).await;

        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        assert_eq!(orders.find(&order.id()).unwrap(), order);
    }

    #[tokio::test]
    async fn a_customer_is_forbidden_even_on_their_own_order_before_anything_is_read() {
        let order = confirmed_order();
        let orders = InMemoryOrders::with([order.clone()]);
        // A store that fails on any call: a 403 proves the order was never read.
        orders.fail_with("must not be called");
        let req = request(&order.id().to_string(), &json!({"status": "CANCELLED"}))
            .as_customer(order.customer_id());

        let (status, body) = send(&orders, req).await;

        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert_eq!(orders.find(&order.id()).unwrap(), order);
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
    async fn a_status_that_is_not_one_of_ours_is_named_with_the_accepted_values() {
        let orders = InMemoryOrders::with([confirmed_order()]);
        let id = OrderId::new().to_string();

        let (status, body) = patch(&orders, &id, &json!({"status": "shipped"})).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{
                "field": "status",
                "message": "must be one of PENDING, CONFIRMED, REJECTED, SHIPPED, DELIVERED, CANCELLED"
            }])
        );
    }

    #[tokio::test]
    async fn fields_other_than_status_are_refused() {
        let order = confirmed_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let id = order.id().to_string();

        for field in ["total_cents", "version", "id", "customer_id"] {
            let (status, body) = patch(&orders, &id, &json!({"status": "SHIPPED", field: 1})).await;

            assert_eq!(status, 400, "{field}: {body}");
            assert_eq!(
                body["error"]["details"],
                json!([{"field": field, "message": "is not allowed"}])
            );
        }
        assert_eq!(orders.find(&order.id()).unwrap(), order);
    }

    #[tokio::test]
    async fn a_bad_id_is_400_and_an_unknown_one_404() {
        let orders = InMemoryOrders::with([confirmed_order()]);

        let (bad_id, bad_id_body) = patch(&orders, "42", &json!({"status": "SHIPPED"})).await;
        let (unknown, _) = patch(
            &orders,
            &OrderId::new().to_string(),
            &json!({"status": "SHIPPED"}),
        )
        .await;

        assert_eq!(bad_id, 400);
        assert_eq!(bad_id_body["error"]["details"][0]["field"], "id");
        assert_eq!(unknown, 404);
    }
}
