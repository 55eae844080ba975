//! Use cases shared by more than one function, written against the ports only.

use crate::auth::Principal;
use crate::domain::{Order, OrderId, OrderStatus, now};
use crate::error::Error;
use crate::events::{Envelope, OrderCancelled};
use crate::ports::{OrderReader, OrderTransitions, Transitioned};

/// How often [`change_order_status`] re-reads after losing a race before giving up.
const MAX_ATTEMPTS: usize = 3;

/// Moves order `id` to `to` through the API (`PATCH /orders/{id}/status`, `DELETE
/// /orders/{id}`) for `caller`: read, check that the caller owns or administers the order,
/// check the transition table, write conditioned on the status read.
/// A cancellation commits `OrderCancelled` with the change, so the inventory releases the
/// stock. A lost race (someone changed the status in between) is decided again on a fresh
/// read, up to 3 times. `correlation_id` and `trace_header` (the request's, see
/// [`crate::http::correlation_id`] and [`crate::http::trace_header`]) go on the event.
///
/// # Errors
/// - [`Error::NotFound`] for an unknown order, or one that is not the caller's (the same
///   answer, see [`Principal::check_owner`]);
/// - [`Error::Conflict`] when the transition table does not allow it, or `to` is `CONFIRMED` or
///   `REJECTED` (only the stock-reservation saga sets those), or the order kept changing;
/// - [`Error::Internal`] on a store failure.
pub async fn change_order_status<S>(
    store: &S,
    caller: &Principal,
    id: &OrderId,
    to: OrderStatus,
    correlation_id: &str,
    trace_header: Option<&str>,
) -> Result<Order, Error>
where
    S: OrderReader + OrderTransitions,
{
    if to.is_set_by_saga() {
        return Err(Error::Conflict(format!(
            "{to} is set by the stock reservation, not through the API"
        )));
    }
    for _ in 0..MAX_ATTEMPTS {
        let mut order = store
            .get(id)
            .await?
            .ok_or_else(|| Error::not_found("order", id))?;
        caller.check_owner(&order.customer_id(), "order", id)?;
        let from = order.status();
        let now = now();
        order.transition(to, now)?;
        let event = if to == OrderStatus::Cancelled {
            let cancelled = OrderCancelled {
                order_id: order.id(),
                customer_id: order.customer_id(),
                previous_status: from,
            };
            Some(
                Envelope::wrap(&cancelled, correlation_id, now)?
                    .with_trace_header(trace_header.map(str::to_owned)),
            )
        } else {
            None
        };
        match store.transition(&order, from, event.as_ref()).await? {
            Transitioned::Done(order) => {
                tracing::info!(order_id = %id, %from, %to, "order status changed");
                return Ok(order);
            }
            Transitioned::Stale => {
                tracing::info!(order_id = %id, %from, %to, "order changed meanwhile; re-reading");
            }
        }
    }
    Err(Error::Conflict(format!(
        "order {id} is changing concurrently; try again"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderItem, UserId};
    use crate::http::ErrorResponse;
    use crate::memory::InMemoryOrders;

    fn order(status_path: &[OrderStatus]) -> Order {
        let item = OrderItem::parse("items[0]", "SKU-1", 1, 100).unwrap();
        let mut order = Order::place(OrderId::new(), UserId::new(), vec![item], now()).unwrap();
        for status in status_path {
            order.transition(*status, now()).unwrap();
        }
        order
    }

    #[tokio::test]
    async fn cancelling_a_confirmed_order_commits_order_cancelled_with_the_change_and_the_trace() {
        let order = order(&[OrderStatus::Confirmed]);
        let store = InMemoryOrders::with([order.clone()]);

        let changed = change_order_status(
            &store,
            &admin(),
            &order.id(),
            OrderStatus::Cancelled,
            "req-1",
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
        )
        .await
        .unwrap();

        assert_eq!(changed.status(), OrderStatus::Cancelled);
        let outbox = store.outbox();
        assert_eq!(outbox.len(), 1);
        let event: OrderCancelled = outbox[0].decode().unwrap();
        assert_eq!(event.previous_status, OrderStatus::Confirmed);
        assert_eq!(outbox[0].correlation_id, "req-1");
        assert_eq!(
            outbox[0].trace_id(),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
    }

    #[tokio::test]
    async fn shipping_commits_no_event_and_a_move_outside_the_table_is_a_conflict() {
        let order = order(&[OrderStatus::Confirmed]);
        let store = InMemoryOrders::with([order.clone()]);

        change_order_status(
            &store,
            &admin(),
            &order.id(),
            OrderStatus::Shipped,
            "r",
            None,
        )
        .await
        .unwrap();
        let error = change_order_status(
            &store,
            &admin(),
            &order.id(),
            OrderStatus::Cancelled,
            "r",
            None,
        )
        .await
        .unwrap_err();

        assert_eq!(error.code(), "CONFLICT");
        assert!(store.outbox().is_empty());
        assert_eq!(
            store.find(&order.id()).unwrap().status(),
            OrderStatus::Shipped
        );
    }

    #[tokio::test]
    async fn only_the_saga_confirms_or_rejects() {
        let order = order(&[]);
        let store = InMemoryOrders::with([order.clone()]);

        for to in [OrderStatus::Confirmed, OrderStatus::Rejected] {
            let error = change_order_status(&store, &admin(), &order.id(), to, "r", None)
                .await
                .unwrap_err();

            assert_eq!(error.code(), "CONFLICT", "{to}");
        }
        assert_eq!(
            store.find(&order.id()).unwrap().status(),
            OrderStatus::Pending
        );
    }

    fn admin() -> Principal {
        Principal::new("ops", ["admin"])
    }

    #[tokio::test]
    async fn another_customers_order_is_not_found_and_left_alone() {
        let order = order(&[]);
        let store = InMemoryOrders::with([order.clone()]);
        let stranger = Principal::new(UserId::new().to_string(), ["customer"]);
        let owner = Principal::new(order.customer_id().to_string(), ["customer"]);

        let error = change_order_status(
            &store,
            &stranger,
            &order.id(),
            OrderStatus::Cancelled,
            "r",
            None,
        )
        .await
        .unwrap_err();
        let cancelled = change_order_status(
            &store,
            &owner,
            &order.id(),
            OrderStatus::Cancelled,
            "r",
            None,
        )
        .await;

        assert_eq!(error.code(), "NOT_FOUND");
        assert_eq!(cancelled.unwrap().status(), OrderStatus::Cancelled);
        assert_eq!(store.outbox().len(), 1, "only the owner's cancellation");
    }

    #[tokio::test]
    async fn an_unknown_order_is_not_found() {
        let store = InMemoryOrders::new();

        let error = change_order_status(
            &store,
            &admin(),
            &OrderId::new(),
            OrderStatus::Cancelled,
            "r",
            None,
        )
        .await
        .unwrap_err();

        assert_eq!(error.code(), "NOT_FOUND");
    }
}
