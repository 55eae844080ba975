//! `DELETE /orders/{id}` -> `200` with the cancelled order. Cancelling is allowed from
//! `PENDING` and `CONFIRMED`; the change commits `OrderCancelled`, on which the inventory
//! releases whatever stock it reserved for the order (or, if the cancellation overtook the
//! reservation, never reserves any).
//!
//! Errors: `400 VALIDATION_ERROR` (`id`), `404 NOT_FOUND`, `409 CONFLICT` (already shipped,
//! delivered, rejected or cancelled), `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::domain::{OrderId, OrderStatus};
use shared::http::{HttpResult, correlation_id, json_response, path_param, respond};
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
    let id: OrderId = path_param(req, "id")?;
    let order =
        change_order_status(orders, &id, OrderStatus::Cancelled, &correlation_id(req)).await?;
    Ok(json_response(StatusCode::OK, &order))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::{Order, OrderItem, UserId, now};
    use shared::events::OrderCancelled;
    use shared::memory::InMemoryOrders;
    use shared::testing::{ApiRequest, status_and_json};

    fn pending_order() -> Order {
        let item = OrderItem::parse("items[0]", "SKU-1", 1, 500).unwrap();
        Order::place(OrderId::new(), UserId::new(), vec![item], now()).unwrap()
    }

    async fn delete(orders: &InMemoryOrders, id: &str) -> (u16, serde_json::Value) {
        let req = ApiRequest::new("DELETE", "/orders/{id}")
            .path("id", id)
            .build();
        let Ok(response) = handle(orders, req).await;
        status_and_json(&response)
    }

    #[tokio::test]
    async fn a_pending_order_is_cancelled_and_order_cancelled_is_committed() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);

        let (status, body) = delete(&orders, &order.id().to_string()).await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "CANCELLED");
        let event: OrderCancelled = orders.outbox()[0].decode().unwrap();
        assert_eq!(event.order_id, order.id());
        assert_eq!(event.previous_status, OrderStatus::Pending);
    }

    #[tokio::test]
    async fn cancelling_twice_is_a_conflict_and_commits_one_event() {
        let order = pending_order();
        let orders = InMemoryOrders::with([order.clone()]);

        delete(&orders, &order.id().to_string()).await;
        let (status, body) = delete(&orders, &order.id().to_string()).await;

        assert_eq!(status, 409);
        assert_eq!(body["error"]["code"], "CONFLICT");
        assert_eq!(orders.outbox().len(), 1);
    }

    #[tokio::test]
    async fn an_unknown_order_is_404_and_a_bad_id_is_400() {
        let orders = InMemoryOrders::new();

        let (unknown, _) = delete(&orders, &OrderId::new().to_string()).await;
        let (bad, _) = delete(&orders, "nope").await;

        assert_eq!((unknown, bad), (404, 400));
    }
}
