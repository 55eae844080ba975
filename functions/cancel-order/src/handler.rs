//! `DELETE /orders/{id}` -> `200` with the cancelled order. Cancelling is allowed from
//! `PENDING` and `CONFIRMED`; the change commits `OrderCancelled`, on which the inventory
//! releases whatever stock it reserved for the order (or, if the cancellation overtook the
//! reservation, never reserves any).
//!
//! Who may call: an **admin** (any order) or the **customer** who placed the order. The role
//! is checked before the store is read; ownership on the order read before it is changed
//! ([`change_order_status`]).
//! Another customer's order answers `404 NOT_FOUND`, exactly as an id that does not exist, so
//! that ids cannot be probed.
//!
//! Errors: `400 VALIDATION_ERROR` (`id`), `401 UNAUTHORIZED` (no token), `403 FORBIDDEN`
//! (neither admin nor customer), `404 NOT_FOUND` (no such order, or not the caller's), `409
//! CONFLICT` (already shipped, delivered, rejected or cancelled), `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::auth::Principal;
use shared::domain::{OrderId, OrderStatus};
use shared::http::{HttpResult, correlation_id, json_response, path_param, respond, trace_header};
use shared::ports::{OrderReader, OrderTransitions};
use shared::usecases::change_order_status;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<S: OrderReader + OrderTransitions>(orders: &S, req: Request) -> HttpResult {
    respond(cancel(orders, &req).await)
}

async fn cancel<S: OrderReader + OrderTransitions>(
    orders: &S,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let principal = Principal::from_request(req)?;
    principal.require_role()?;
    let id: OrderId = path_param(req, "id")?;
    let order = change_order_status(
        orders,
        &principal,
        &id,
        OrderStatus::Cancelled,
        &correlation_id(req),
        trace_header(req).as_deref(),
    )
    .await?;
    shared::metrics::incr(shared::metrics::Metric::OrdersCancelled);
    Ok(json_response(StatusCode::OK, &order))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use shared::domain::{Order, OrderItem, UserId, now};
    use shared::events::OrderCancelled;
    use shared::memory::InMemoryOrders;
    use shared::testing::{ApiRequest, not_found, status_and_json};

    fn pending_order() -> Order {
        let item = OrderItem::parse("items[0]", "SKU-1", 1, 500).unwrap();
        Order::place(OrderId::new(), UserId::new(), vec![item], now()).unwrap()
    }

    fn delete(id: impl ToString) -> ApiRequest {
        ApiRequest::new("DELETE", "/orders/{id}").path("id", id)
    }

    async fn send(orders: &InMemoryOrders, req: ApiRequest) -> (u16, Value) {
        let Ok(response) = handle(orders, req.build()).await;
        status_and_json(&response)
    }

    #[tokio::test]
    async fn the_customer_who_placed_a_pending_order_cancels_it_and_order_cancelled_is_committed() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);

        let (status, body) =
            send(&orders, delete(order.id()).as_customer(order.customer_id())).await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "CANCELLED");
        let event: OrderCancelled = orders.outbox()[0].decode().unwrap();
        assert_eq!(event.order_id, order.id());
        assert_eq!(event.customer_id, order.customer_id());
        assert_eq!(event.previous_status, OrderStatus::Pending);
    }

    #[tokio::test]
    async fn an_admin_cancels_any_order() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);

        let (status, body) = send(&orders, delete(order.id()).as_admin()).await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "CANCELLED");
        assert_eq!(orders.outbox().len(), 1);
    }

    #[tokio::test]
    async fn another_customers_order_looks_missing_and_is_left_alone() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let stranger = UserId::new();
        let unknown = OrderId::new();

        let theirs = send(&orders, delete(order.id()).as_customer(stranger)).await;
        let missing = send(&orders, delete(unknown).as_customer(stranger)).await;

        assert_eq!(theirs, not_found("order", order.id()));
        assert_eq!(missing, not_found("order", unknown));
        assert_eq!(orders.find(&order.id()).unwrap(), order);
        assert!(orders.outbox().is_empty());
    }

    #[tokio::test]
    async fn a_request_without_a_token_is_401_and_changes_nothing() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);

        let (status, body) = send(&orders, delete(order.id())).await;

        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        assert_eq!(orders.find(&order.id()).unwrap(), order);
    }

    #[tokio::test]
    async fn a_caller_without_a_role_is_forbidden_even_for_their_own_order() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let req = delete(order.id()).principal(&order.customer_id().to_string(), &[]);

        let (status, body) = send(&orders, req).await;

        assert_eq!(status, 403, "{body}");
        assert_eq!(orders.find(&order.id()).unwrap(), order);
    }

    #[tokio::test]
    async fn cancelling_twice_is_a_conflict_and_commits_one_event() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);
        let as_owner = || delete(order.id()).as_customer(order.customer_id());

        send(&orders, as_owner()).await;
        let (status, body) = send(&orders, as_owner()).await;

        assert_eq!(status, 409);
        assert_eq!(body["error"]["code"], "CONFLICT");
        assert_eq!(orders.outbox().len(), 1);
    }

    #[tokio::test]
    async fn an_unknown_order_is_404_and_a_bad_id_is_400() {
        let orders = InMemoryOrders::new();

        let (unknown, _) = send(&orders, delete(OrderId::new()).as_admin()).await;
        let (bad, bad_body) = send(&orders, delete("nope").as_admin()).await;

        assert_eq!((unknown, bad), (404, 400));
        assert_eq!(bad_body["error"]["details"][0]["field"], "id");
    }
}
