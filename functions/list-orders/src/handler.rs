//! `GET /orders?customer_id=&status=&limit=&cursor=` -> `200` with
//! `{"items":[<order>...],"next":"<cursor>"|null}`, oldest first within a customer or status.
//!
//! Who may call (checked first, before the query is read or the store is touched):
//! - an **admin** lists any orders, filtered by `customer_id` and/or `status` or not at all;
//! - a **customer** lists only their own orders: `customer_id` defaults to their own id
//!   (the token's `sub`), and naming another customer is `403 FORBIDDEN`; `status` still
//!   filters (both filters apply together);
//! - anyone else: `401` without a token, `403` without one of those roles.
//!
//! Errors: `400 VALIDATION_ERROR`, every bad parameter at once: `customer_id` (not a user id),
//! `status` (not one of the upper-case statuses), `limit` (not 1..=100), `cursor` (longer than
//! 512 characters, or not issued by this API), any other parameter (`is not allowed`); `401
//! UNAUTHORIZED`; `403 FORBIDDEN`; `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::api::ListOrdersQuery;
use shared::auth::{Principal, Role};
use shared::domain::{OrderStatus, UserId};
use shared::http::{HttpResult, json_response, parse_query, respond};
use shared::ports::{OrderFilter, OrderLister, page_request};

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<L: OrderLister>(orders: &L, req: Request) -> HttpResult {
    respond(list(orders, &req).await)
}

async fn list<L: OrderLister>(orders: &L, req: &Request) -> Result<Response<Body>, Error> {
    let principal = Principal::from_request(req)?;
    // A customer sees only their own orders; an admin sees any.
    let caller = match principal.require_role()? {
        Role::Customer => Some(principal.user_id()?),
        Role::Admin => None,
    };
    let query: ListOrdersQuery = parse_query(req)?;
    let named = query
        .customer_id
        .as_deref()
        .map(UserId::parse)
        .transpose()
        .map_err(|e| Error::invalid("customer_id", e.0))?;
    let customer_id = match (caller, named) {
        (None, named) => named,
        (Some(own), None) => Some(own),
        (Some(own), Some(named)) if named == own => Some(own),
        (Some(_), Some(_)) => {
            return Err(Error::Forbidden(
                "customers list their own orders only".to_owned(),
            ));
        }
    };
    let status = query
        .status
        .as_deref()
        .map(OrderStatus::parse)
        .transpose()
        .map_err(|e| Error::invalid("status", e.0))?;
    let (limit, cursor) = page_request(query.limit, query.cursor)?;
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
    use serde_json::{Value, json};
    use shared::domain::{Order, OrderId, OrderItem, now};
    use shared::memory::InMemoryOrders;
    use shared::ports::Cursor;
    use shared::testing::{ApiRequest, status_and_json};

    fn order(customer: UserId) -> Order {
        let item = OrderItem::parse("items[0]", "SKU-1", 1, 100).unwrap();
        Order::place(OrderId::new(), customer, vec![item], now()).unwrap()
    }

    fn cancelled(customer: UserId) -> Order {
        let mut order = order(customer);
        order.transition(OrderStatus::Cancelled, now()).unwrap();
        order
    }

    async fn send(
        orders: &InMemoryOrders,
        req: ApiRequest,
        query: &[(&str, &str)],
    ) -> (u16, Value) {
        let Ok(response) = handle(orders, req.queries(query).build()).await;
        status_and_json(&response)
    }

    async fn as_admin(orders: &InMemoryOrders, query: &[(&str, &str)]) -> (u16, Value) {
        send(orders, ApiRequest::new("GET", "/orders").as_admin(), query).await
    }

    async fn as_customer(
        orders: &InMemoryOrders,
        customer: UserId,
        query: &[(&str, &str)],
    ) -> (u16, Value) {
        let req = ApiRequest::new("GET", "/orders").as_customer(customer);
        send(orders, req, query).await
    }

    fn customer_ids(page: &Value) -> Vec<&str> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["customer_id"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn an_admin_pages_through_a_customers_orders_in_a_status() {
        let alice = UserId::new();
        let all = [
            order(alice),
            order(alice),
            order(UserId::new()),
            cancelled(alice),
        ];
        let orders = InMemoryOrders::with(all);
        let alice_id = alice.to_string();
        let filter = [
            ("customer_id", alice_id.as_str()),
            ("status", "PENDING"),
            ("limit", "1"),
        ];

        let (status, first) = as_admin(&orders, &filter).await;
        let cursor = first["next"].as_str().unwrap().to_owned();
        let mut next = filter.to_vec();
        next.push(("cursor", &cursor));
        let (_, second) = as_admin(&orders, &next).await;

        assert_eq!(status, 200, "{first}");
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
    async fn an_admin_without_filters_sees_every_customers_orders() {
        let (alice, bob) = (UserId::new(), UserId::new());
        let orders = InMemoryOrders::with([order(alice), order(bob)]);

        let (status, page) = as_admin(&orders, &[]).await;

        assert_eq!(status, 200, "{page}");
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_customer_sees_only_their_own_orders_by_default() {
        let (alice, bob) = (UserId::new(), UserId::new());
        let orders = InMemoryOrders::with([order(alice), order(bob), order(alice)]);
        let alice_id = alice.to_string();

        let (status, page) = as_customer(&orders, alice, &[]).await;

        assert_eq!(status, 200, "{page}");
        assert_eq!(customer_ids(&page), [alice_id.as_str(), alice_id.as_str()]);
    }

    #[tokio::test]
    async fn a_customer_may_name_themselves_and_filter_by_status() {
        let (alice, bob) = (UserId::new(), UserId::new());
        let orders = InMemoryOrders::with([order(alice), cancelled(alice), cancelled(bob)]);
        let alice_id = alice.to_string();

        let (status, page) = as_customer(
            &orders,
            alice,
            &[("customer_id", &alice_id), ("status", "CANCELLED")],
        )
        .await;

        assert_eq!(status, 200, "{page}");
        assert_eq!(customer_ids(&page), [alice_id.as_str()]);
        assert_eq!(page["items"][0]["status"], "CANCELLED");
    }

    #[tokio::test]
    async fn a_customer_naming_another_customer_is_forbidden() {
        let (alice, bob) = (UserId::new(), UserId::new());
        let orders = InMemoryOrders::with([order(bob)]);

        let (status, body) =
            as_customer(&orders, alice, &[("customer_id", &bob.to_string())]).await;

        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "FORBIDDEN");
    }

    #[tokio::test]
    async fn a_request_without_a_token_is_401() {
        let orders = InMemoryOrders::with([order(UserId::new())]);

        let (status, body) = send(&orders, ApiRequest::new("GET", "/orders"), &[]).await;

        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
    }

    #[tokio::test]
    async fn a_caller_without_a_role_is_forbidden_before_the_query_is_read() {
        let orders = InMemoryOrders::with([order(UserId::new())]);
        let req = ApiRequest::new("GET", "/orders").principal(&UserId::new().to_string(), &[]);

        let (status, body) = send(&orders, req, &[("limit", "oops")]).await;

        assert_eq!(status, 403, "{body}");
    }

    #[tokio::test]
    async fn every_bad_parameter_is_named() {
        let orders = InMemoryOrders::new();
        let long_cursor = "c".repeat(Cursor::MAX_LEN + 1);

        let (status, body) = as_admin(
            &orders,
            &[
                ("customer_id", "bob"),
                ("status", "LOST"),
                ("limit", "0"),
                ("cursor", &long_cursor),
            ],
        )
        .await;

        assert_eq!(status, 400, "{body}");
        let mut details: Vec<(&str, &str)> = body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["field"].as_str().unwrap(), d["message"].as_str().unwrap()))
            .collect();
        details.sort_unstable();
        assert_eq!(
            details,
            [
                ("cursor", "must be at most 512 long"),
                ("customer_id", "must be a UUID"),
                ("limit", "must be at least 1"),
                (
                    "status",
                    "must be one of PENDING, CONFIRMED, REJECTED, SHIPPED, DELIVERED, CANCELLED"
                ),
            ]
        );
    }

    #[tokio::test]
    async fn a_limit_over_100_or_not_a_number_is_refused() {
        let orders = InMemoryOrders::new();

        let (over, over_body) = as_admin(&orders, &[("limit", "101")]).await;
        let (text, text_body) = as_admin(&orders, &[("limit", "ten")]).await;

        assert_eq!((over, text), (400, 400));
        assert_eq!(
            over_body["error"]["details"],
            json!([{"field": "limit", "message": "must be at most 100"}])
        );
        assert_eq!(text_body["error"]["details"][0]["field"], "limit");
    }

    #[tokio::test]
    async fn an_unknown_parameter_is_refused() {
        let orders = InMemoryOrders::new();

        let (status, body) = as_admin(&orders, &[("owner", "me")]).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "owner", "message": "is not allowed"}])
        );
    }

    #[tokio::test]
    async fn a_cursor_not_issued_by_this_api_is_a_validation_error() {
        let orders = InMemoryOrders::with([order(UserId::new())]);

        let (status, body) = as_admin(&orders, &[("cursor", "forged")]).await;

        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["details"][0]["field"], "cursor");
    }
}
