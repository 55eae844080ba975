//! `GET /orders?customer_id=&status=&limit=&cursor=` -> `200` with
//! `{"items":[<order>...],"next":"<cursor>"|null}`, oldest first within a customer or status.
//!
//! Errors: `400 VALIDATION_ERROR` on `customer_id` (not a UUID v7), `status` (not one of the
//! upper-case statuses), `limit` (not 1..=100), `cursor` (not issued by this API); `500
//! INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::domain::{OrderStatus, UserId};
use shared::http::{HttpResult, json_response, query_param, respond};
use shared::ports::{Cursor, OrderFilter, OrderLister, PageLimit};
use shared::{Error, FieldError};

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<L: OrderLister>(orders: &L, req: Request) -> HttpResult {
    respond(list(orders, &req).await)
}

async fn list<L: OrderLister>(orders: &L, req: &Request) -> Result<Response<Body>, Error> {
    let mut errors = Vec::new();
    let customer_id = query_param(req, "customer_id")
        .map(|raw| UserId::parse(raw).map_err(|e| FieldError::new("customer_id", e.0)))
        .transpose()
        .unwrap_or_else(|e| {
            errors.push(e);
            None
        });
    let status = query_param(req, "status")
        .map(|raw| OrderStatus::parse(raw).map_err(|e| FieldError::new("status", e.0)))
        .transpose()
        .unwrap_or_else(|e| {
            errors.push(e);
            None
        });
    let limit = query_param(req, "limit")
        .map(|raw| PageLimit::parse(raw).map_err(|e| FieldError::new("limit", e.0)))
        .transpose()
        .unwrap_or_else(|e| {
            errors.push(e);
            None
        })
        .unwrap_or_default();
    if !errors.is_empty() {
        return Err(Error::validation(errors));
    }
    let cursor = query_param(req, "cursor").map(Cursor::from_client);
    let filter = OrderFilter {
        customer_id,
        status,
    };
    let page = orders.list(filter, limit, cursor.as_ref()).await?;
    Ok(json_response(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use shared::domain::{Order, OrderId, OrderItem, now};
    use shared::memory::InMemoryOrders;
    use shared::testing::{ApiRequest, status_and_json};

    fn order(customer: UserId) -> Order {
        let item = OrderItem::parse("items[0]", "SKU-1", 1, 100).unwrap();
        Order::place(OrderId::new(), customer, vec![item], now()).unwrap()
    }

    async fn get(orders: &InMemoryOrders, query: &[(&str, &str)]) -> (u16, Value) {
        let mut req = ApiRequest::new("GET", "/orders");
        for (name, value) in query {
            req = req.query(name, value);
        }
        let Ok(response) = handle(orders, req.build()).await;
        status_and_json(&response)
    }

    #[tokio::test]
    async fn a_customers_orders_in_a_status_page_by_page() {
        let alice = UserId::new();
        let mut shipped = order(alice);
        shipped.transition(OrderStatus::Cancelled, now()).unwrap();
        let all = [order(alice), order(alice), order(UserId::new()), shipped];
        let orders = InMemoryOrders::with(all.clone());
        let alice_id = alice.to_string();

        let (status, first) = get(
            &orders,
            &[
                ("customer_id", &alice_id),
                ("status", "PENDING"),
                ("limit", "1"),
            ],
        )
        .await;
        let cursor = first["next"].as_str().unwrap().to_owned();
        let (_, second) = get(
            &orders,
            &[
                ("customer_id", &alice_id),
                ("status", "PENDING"),
                ("limit", "1"),
                ("cursor", &cursor),
            ],
        )
        .await;

        assert_eq!(status, 200);
        assert_eq!(first["items"].as_array().unwrap().len(), 1);
        assert_eq!(second["items"].as_array().unwrap().len(), 1);
        assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
        assert!(second["next"].is_null());
        for page in [&first, &second] {
            assert_eq!(page["items"][0]["customer_id"], alice_id.as_str());
            assert_eq!(page["items"][0]["status"], "PENDING");
        }
    }

    #[tokio::test]
    async fn every_bad_parameter_is_named() {
        let orders = InMemoryOrders::new();

        let (status, body) = get(
            &orders,
            &[("customer_id", "bob"), ("status", "LOST"), ("limit", "0")],
        )
        .await;

        assert_eq!(status, 400);
        let fields: Vec<&str> = body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["customer_id", "status", "limit"]);
    }
}
