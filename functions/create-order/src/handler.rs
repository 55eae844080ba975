//! `POST /orders`: body `{"customer_id"?,"items":[{"product_id","quantity"}],"payment_method"}`
//! (a provider token such as `tok_visa`, charged once the stock is reserved), optional
//! header `Idempotency-Key` -> `201` with the order (`PENDING`, catalog unit prices, computed
//! `total_cents`) and `location: /orders/{id}`.
//!
//! Who may call (checked first, before the body is read or any store is touched):
//! - a **customer** orders for themselves: the order's customer is the token's `sub`.
//!   `customer_id` may be left out; if sent it must be their own id (another id is
//!   `403 FORBIDDEN`);
//! - an **admin** orders for any customer and must name them in `customer_id`;
//! - anyone else: `401` without a token, `403` without one of those roles.
//!
//! The body:
//! - is checked as a whole first: `items` has 1..=50 lines, `quantity` is 1..=1000,
//!   `product_id` is 1..=64 bytes, `customer_id` a user id, `payment_method` a token
//!   (`tok_` and 1..=64 letters, digits or `_`); every broken rule is reported at
//!   once, named by path (`items[0].quantity`). Fields the client may not set (`status`,
//!   `total_cents`, `id`, `version`, ...) are refused with `is not allowed`;
//! - the customer must exist and every line must name an existing product; the unit price is
//!   the catalog's. A `unit_price_cents` sent by the client is accepted and ignored, so that a
//!   client cannot set the price even by accident.
//!
//! The order and its `OrderPlaced` event are committed in one transaction (transactional
//! outbox); the relay publishes the event. No event is lost, none is sent for an order that
//! was not stored.
//!
//! `Idempotency-Key`: keys are scoped to the caller (stored as `<sub>:<key>`), so a caller
//! never replays another caller's response. The first response is stored in the same
//! transaction. The same caller, key and body (compared as JSON) answers that response again,
//! with `idempotent-replayed: true`; another body is `422 IDEMPOTENCY_KEY_REUSED`.
//!
//! Errors: `400 VALIDATION_ERROR` (every bad field, e.g. `items[0].quantity`,
//! `items[1].product_id: does not exist`, `customer_id: is required` for an admin,
//! `customer_id: does not exist`), `401 UNAUTHORIZED`, `403 FORBIDDEN`, `413
//! PAYLOAD_TOO_LARGE`, `422 IDEMPOTENCY_KEY_REUSED`, `500 INTERNAL_ERROR`.

use lambda_http::{Body, Request, Response};
use shared::api::CreateOrderRequest;
use shared::auth::{Principal, Role};
use shared::domain::{
    NewOrder, OrderId, OrderLine, PaymentMethod, ProductId, Quantity, UserId, now,
};
use shared::events::{Envelope, OrderPlaced};
use shared::http::{HttpResult, correlation_id, created, parse_body, respond, trace_header};
use shared::idempotency::{NextAction, try_processing};
use shared::ports::{IdempotencyReader, OrderPlacer, Placement, ProductBatchReader, UserReader};
use shared::{Error, FieldError};

/// What the handler needs: the orders store (place + stored responses), the users store (the
/// customer exists) and the catalog (prices).
pub struct Deps<'a, O, U, P> {
    /// Orders, outbox and idempotency records.
    pub orders: &'a O,
    /// Users, to check the customer.
    pub users: &'a U,
    /// Products, for the unit prices.
    pub products: &'a P,
}

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<O, U, P>(deps: Deps<'_, O, U, P>, req: Request) -> HttpResult
where
    O: OrderPlacer + IdempotencyReader,
    U: UserReader,
    P: ProductBatchReader,
{
    respond(create_order(&deps, &req).await)
}

async fn create_order<O, U, P>(
    deps: &Deps<'_, O, U, P>,
    req: &Request,
) -> Result<Response<Body>, Error>
where
    O: OrderPlacer + IdempotencyReader,
    U: UserReader,
    P: ProductBatchReader,
{
    let principal = Principal::from_request(req)?;
    // A customer always orders for themselves; an admin names the customer in the body.
    let caller = match principal.require_role()? {
        Role::Customer => Some(principal.user_id()?),
        Role::Admin => None,
    };
    let attempt = match try_processing(deps.orders, req, principal.subject()).await? {
        NextAction::ReturnSavedResponse(saved) => return Ok(saved),
        NextAction::StartProcessing(attempt) => attempt,
    };
    let asked = parse(&parse_body(req)?, caller)?;
    if deps.users.get(&asked.customer_id).await?.is_none() {
        return Err(Error::invalid("customer_id", "does not exist"));
    }
    let catalog = deps.products.get_many(&asked.product_ids()).await?;
    let now = now();
    let order = asked.price(&catalog, OrderId::new(), now)?;
    let correlation_id = correlation_id(req);
    let event = Envelope::wrap(&OrderPlaced::from(&order), &correlation_id, now)?
        .with_trace_header(trace_header(req));
    let response = created(&format!("/orders/{}", order.id()), &order);
    let saved = attempt.save_response(&response);
    match deps.orders.place(&order, &event, saved.as_ref()).await? {
        Placement::Placed => {
            shared::metrics::incr(shared::metrics::Metric::OrdersPlaced);
            tracing::info!(
                order_id = %order.id(),
                event_id = %event.event_id,
                correlation_id,
                total_cents = order.total().cents(),
                "order placed"
            );
            Ok(response)
        }
        // A concurrent request with the same key won the race: answer what it answered.
        Placement::KeyAlreadyUsed => attempt.saved_by_another(deps.orders).await,
    }
}

/// The order asked for, or every bad field at once.
///
/// `caller` is the calling customer's id (`None` for an admin): a customer's order is theirs,
/// and naming anyone else is [`Error::Forbidden`]; an admin must name the customer.
fn parse(body: &CreateOrderRequest, caller: Option<UserId>) -> Result<NewOrder, Error> {
    let mut errors = Vec::new();
    let customer = match (caller, body.customer_id.as_deref()) {
        (Some(own), None) => Some(own),
        (Some(own), Some(raw)) => {
            if UserId::parse(raw).is_ok_and(|named| named == own) {
                Some(own)
            } else {
                return Err(Error::Forbidden(
                    "customers place orders for themselves only".to_owned(),
                ));
            }
        }
        (None, Some(raw)) => UserId::parse(raw)
            .map_err(|e| errors.push(FieldError::new("customer_id", e.0)))
            .ok(),
        (None, None) => {
            errors.push(FieldError::new("customer_id", "is required"));
            None
        }
    };
    let mut lines = Vec::with_capacity(body.items.len());
    for (index, item) in body.items.iter().enumerate() {
        let product_id = ProductId::parse(&item.product_id)
            .map_err(|e| errors.push(FieldError::new(format!("items[{index}].product_id"), e.0)))
            .ok();
        let quantity = Quantity::parse(item.quantity)
            .map_err(|e| errors.push(FieldError::new(format!("items[{index}].quantity"), e.0)))
            .ok();
        if let (Some(product_id), Some(quantity)) = (product_id, quantity) {
            lines.push(OrderLine {
                product_id,
                quantity,
            });
        }
    }
    let payment_method = PaymentMethod::parse(&body.payment_method)
        .map_err(|e| errors.push(FieldError::new("payment_method", e.0)))
        .ok();
    match (customer, payment_method) {
        (Some(customer_id), Some(payment_method)) if errors.is_empty() => Ok(NewOrder {
            customer_id,
            lines,
            payment_method,
        }),
        _ => Err(Error::validation(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::Order;
    use shared::domain::{NewProduct, NewUser, OrderStatus, Product, User};
    use shared::memory::{InMemoryOrders, InMemoryProducts, InMemoryUsers};
    use shared::testing::{ApiRequest, status_and_json};

    struct World {
        orders: InMemoryOrders,
        users: InMemoryUsers,
        products: InMemoryProducts,
        customer: User,
        other: User,
    }

    fn product(sku: &str, price_cents: i64) -> Product {
        NewProduct::parse("Thing", "", "things", price_cents, 10)
            .unwrap()
            .into_product(ProductId::parse(sku).unwrap(), now())
    }

    fn user(name: &str, email: &str) -> User {
        NewUser::parse(name, email)
            .unwrap()
            .into_user(UserId::new(), now())
    }

    impl World {
        fn new() -> Self {
            let customer = user("Ada", "ada@example.com");
            let other = user("Grace", "grace@example.com");
            let (cheap, dear) = (product("SKU-1", 250), product("SKU-2", 1999));
            Self {
                orders: InMemoryOrders::new(),
                users: InMemoryUsers::with([customer.clone(), other.clone()]),
                products: InMemoryProducts::with([cheap, dear]),
                customer,
                other,
            }
        }

        async fn send(&self, req: ApiRequest) -> (u16, Value, Response<Body>) {
            let deps = Deps {
                orders: &self.orders,
                users: &self.users,
                products: &self.products,
            };
            let Ok(response) = handle(deps, req.build()).await;
            let (status, json) = status_and_json(&response);
            (status, json, response)
        }

        /// `POST /orders` with `body`, as the customer Ada.
        async fn post(&self, body: &Value) -> (u16, Value, Response<Body>) {
            self.send(
                ApiRequest::new("POST", "/orders")
                    .as_customer(self.customer.id)
                    .body(body),
            )
            .await
        }

        /// `POST /orders` with `body`, as an admin.
        async fn post_as_admin(&self, body: &Value) -> (u16, Value, Response<Body>) {
            self.send(ApiRequest::new("POST", "/orders").as_admin().body(body))
                .await
        }

        /// A body for Ada's order, naming her explicitly.
        fn body(&self, items: Value) -> Value {
            json!({"customer_id": self.customer.id.to_string(), "items": items, "payment_method": "tok_visa"})
        }
    }

    fn one_line() -> Value {
        json!([{"product_id": "SKU-1", "quantity": 1}])
    }

    fn fields(body: &Value) -> Vec<String> {
        body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn an_order_is_priced_from_the_catalog_and_committed_with_order_placed() {
        let world = World::new();
        let items = json!([
            {"product_id": "SKU-1", "quantity": 3},
            {"product_id": "SKU-2", "quantity": 1}
        ]);

        let (status, body, response) = world.post(&world.body(items)).await;

        assert_eq!(status, 201, "{body}");
        assert_eq!(body["status"], "PENDING");
        assert_eq!(body["total_cents"], 3 * 250 + 1999);
        assert_eq!(body["items"][1]["unit_price_cents"], 1999);
        let id = OrderId::parse(body["id"].as_str().unwrap()).unwrap();
        assert_eq!(
            response.headers()["location"],
            format!("/orders/{id}").as_str()
        );
        assert_eq!(
            world.orders.find(&id).unwrap().status(),
            OrderStatus::Pending
        );
        let outbox = world.orders.outbox();
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].correlation_id, "req-test");
        let event: OrderPlaced = outbox[0].decode().unwrap();
        assert_eq!(event.order_id, id);
        assert_eq!(event.total_cents, 3 * 250 + 1999);
    }

    #[tokio::test]
    async fn order_placed_carries_the_trace_header_of_the_request_that_placed_it() {
        let world = World::new();
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

        let (status, body, _) = world
            .send(
                ApiRequest::new("POST", "/orders")
                    .as_customer(world.customer.id)
                    .trace_header(header)
                    .body(&world.body(one_line())),
            )
            .await;

        assert_eq!(status, 201, "{body}");
        let outbox = world.orders.outbox();
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].trace_header.as_deref(), Some(header));
        assert_eq!(outbox[0].correlation_id, "req-test");
    }

    #[tokio::test]
    async fn a_request_without_a_token_is_401_before_the_body_is_read() {
        let world = World::new();

        let (status, body, _) = world
            .send(ApiRequest::new("POST", "/orders").raw_body("{not json"))
            .await;

        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        assert!(world.orders.all().is_empty());
    }

    #[tokio::test]
    async fn a_caller_who_is_neither_admin_nor_customer_is_forbidden() {
        let world = World::new();
        let req = ApiRequest::new("POST", "/orders")
            .principal(&world.customer.id.to_string(), &["guests"])
            .body(&world.body(one_line()));

        let (status, body, _) = world.send(req).await;

        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert!(world.orders.all().is_empty());
    }

    #[tokio::test]
    async fn a_customer_who_leaves_out_customer_id_orders_for_themselves() {
        let world = World::new();

        let (status, body, _) = world
            .post(&json!({"items": one_line(), "payment_method": "tok_visa"}))
            .await;

        assert_eq!(status, 201, "{body}");
        assert_eq!(body["customer_id"], world.customer.id.to_string());
    }

    #[tokio::test]
    async fn a_customer_naming_their_own_id_is_accepted() {
        let world = World::new();

        let (status, body, _) = world.post(&world.body(one_line())).await;

        assert_eq!(status, 201, "{body}");
        assert_eq!(body["customer_id"], world.customer.id.to_string());
    }

    #[tokio::test]
    async fn a_customer_ordering_for_someone_else_is_forbidden_and_nothing_is_stored() {
        let world = World::new();
        let body = json!({"customer_id": world.other.id.to_string(), "items": one_line(), "payment_method": "tok_visa"});

        let (status, body, _) = world.post(&body).await;

        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert_eq!(
            body["error"]["message"],
            "customers place orders for themselves only"
        );
        assert!(world.orders.all().is_empty());
        assert!(world.orders.outbox().is_empty());
    }

    #[tokio::test]
    async fn an_admin_orders_for_the_customer_named_in_the_body() {
        let world = World::new();
        let body = json!({"customer_id": world.other.id.to_string(), "items": one_line(), "payment_method": "tok_visa"});

        let (status, body, _) = world.post_as_admin(&body).await;

        assert_eq!(status, 201, "{body}");
        assert_eq!(body["customer_id"], world.other.id.to_string());
    }

    #[tokio::test]
    async fn an_admin_must_name_the_customer() {
        let world = World::new();

        let (status, body, _) = world
            .post_as_admin(&json!({"items": one_line(), "payment_method": "tok_visa"}))
            .await;

        assert_eq!(status, 400, "{body}");
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "customer_id", "message": "is required"}])
        );
        assert!(world.orders.all().is_empty());
    }

    #[tokio::test]
    async fn a_client_supplied_price_is_ignored() {
        let world = World::new();
        let items = json!([{"product_id": "SKU-2", "quantity": 2, "unit_price_cents": 1}]);

        let (status, body, _) = world.post(&world.body(items)).await;

        assert_eq!(status, 201, "{body}");
        assert_eq!(body["items"][0]["unit_price_cents"], 1999);
        assert_eq!(body["total_cents"], 3998);
    }

    #[tokio::test]
    async fn fields_the_server_sets_are_refused() {
        let world = World::new();

        for field in ["status", "total_cents", "id", "version"] {
            let mut body = world.body(one_line());
            body[field] = json!(1);

            let (status, body, _) = world.post(&body).await;

            assert_eq!(status, 400, "{field}: {body}");
            assert_eq!(
                body["error"]["details"],
                json!([{"field": field, "message": "is not allowed"}]),
                "{field}"
            );
        }
        assert!(world.orders.all().is_empty());
    }

    #[tokio::test]
    async fn an_unknown_customer_or_product_is_a_validation_error_naming_it() {
        let world = World::new();
        let unknown_customer = json!({
            "customer_id": UserId::new().to_string(),
            "items": one_line(),
            "payment_method": "tok_visa"
        });
        let unknown_product =
            world.body(json!([{"product_id": "SKU-1", "quantity": 1}, {"product_id": "SKU-404", "quantity": 1}]));

        let (customer_status, customer_body, _) = world.post_as_admin(&unknown_customer).await;
        let (product_status, product_body, _) = world.post(&unknown_product).await;

        assert_eq!((customer_status, product_status), (400, 400));
        assert_eq!(fields(&customer_body), ["customer_id"]);
        assert_eq!(
            customer_body["error"]["details"][0]["message"],
            "does not exist"
        );
        assert_eq!(fields(&product_body), ["items[1].product_id"]);
        assert_eq!(
            product_body["error"]["details"][0]["message"],
            "does not exist"
        );
        assert!(world.orders.all().is_empty());
        assert!(world.orders.outbox().is_empty());
    }

    #[tokio::test]
    async fn a_customer_whose_user_record_is_gone_cannot_order() {
        let world = World::new();
        let ghost = UserId::new();
        let req = ApiRequest::new("POST", "/orders")
            .as_customer(ghost)
            .body(&json!({"items": one_line(), "payment_method": "tok_visa"}));

        let (status, body, _) = world.send(req).await;

        assert_eq!(status, 400, "{body}");
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "customer_id", "message": "does not exist"}])
        );
    }

    #[tokio::test]
    async fn every_broken_rule_is_reported_at_once_with_its_path() {
        let world = World::new();
        let body = json!({
            "customer_id": "nobody",
            "payment_method": "visa",
            "items": [
                {"product_id": "", "quantity": 1},
                {"product_id": "SKU-1", "quantity": 0},
                {"product_id": "x".repeat(ProductId::MAX_LEN + 1), "quantity": 1001}
            ]
        });

        let (status, body, _) = world.post_as_admin(&body).await;

        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        let mut details: Vec<(String, String)> = body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["field"].to_string(), d["message"].to_string()))
            .collect();
        details.sort();
        let expected = [
            ("customer_id", "must be a UUID"),
            ("items[0].product_id", "must not be empty"),
            ("items[1].quantity", "must be at least 1"),
            ("items[2].product_id", "must be at most 64 long"),
            ("items[2].quantity", "must be at most 1000"),
            (
                "payment_method",
                "must be a payment token: tok_ followed by 1 to 64 letters, digits or _",
            ),
        ]
        .map(|(field, message)| (json!(field).to_string(), json!(message).to_string()));
        assert_eq!(details, expected);
        assert!(world.orders.all().is_empty());
    }

    #[tokio::test]
    async fn the_number_of_lines_is_bounded() {
        let world = World::new();
        let too_many: Vec<Value> = (0..=Order::MAX_ITEMS)
            .map(|_| json!({"product_id": "SKU-1", "quantity": 1}))
            .collect();

        let (empty, empty_body, _) = world.post(&world.body(json!([]))).await;
        let (many, many_body, _) = world.post(&world.body(json!(too_many))).await;

        assert_eq!((empty, many), (400, 400));
        assert_eq!(fields(&empty_body), ["items"]);
        assert_eq!(fields(&many_body), ["items"]);
    }

    #[tokio::test]
    async fn a_product_id_the_catalog_cannot_hold_is_named_by_the_domain_parse() {
        let world = World::new();
        let body = world.body(json!([{"product_id": "bad sku!", "quantity": 1}]));

        let (status, body, _) = world.post(&body).await;

        assert_eq!(status, 400, "{body}");
        assert_eq!(fields(&body), ["items[0].product_id"]);
    }

    #[tokio::test]
    async fn an_unknown_field_in_a_line_is_refused() {
        let world = World::new();
        let body = world.body(json!([{"product_id": "SKU-1", "quantity": 1, "discount": 5}]));

        let (status, body, _) = world.post(&body).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "items[0].discount", "message": "is not allowed"}])
        );
    }

    #[tokio::test]
    async fn the_same_idempotency_key_and_body_replays_the_first_response() {
        let world = World::new();
        let body = world.body(one_line());
        let req = || {
            ApiRequest::new("POST", "/orders")
                .as_customer(world.customer.id)
                .header("idempotency-key", "k-1")
                .body(&body)
        };

        let (first_status, first, _) = world.send(req()).await;
        // Same JSON, other formatting and key order: still the same request.
        let reordered = format!(
            "{{ \"payment_method\": \"tok_visa\", \"items\": [{{\"quantity\": 1, \"product_id\": \"SKU-1\"}}], \"customer_id\": \"{}\" }}",
            world.customer.id
        );
        let (again_status, again, response) = world
            .send(
                ApiRequest::new("POST", "/orders")
                    .as_customer(world.customer.id)
                    .header("idempotency-key", "k-1")
                    .raw_body(&reordered),
            )
            .await;

        assert_eq!((first_status, again_status), (201, 201));
        assert_eq!(again, first);
        assert_eq!(response.headers()["idempotent-replayed"], "true");
        assert_eq!(world.orders.all().len(), 1);
        assert_eq!(world.orders.outbox().len(), 1);
    }

    #[tokio::test]
    async fn two_customers_using_the_same_idempotency_key_each_get_their_own_order() {
        let world = World::new();
        let post_as = |user: &User| {
            ApiRequest::new("POST", "/orders")
                .as_customer(user.id)
                .header("idempotency-key", "same-key")
                .body(&json!({"items": one_line(), "payment_method": "tok_visa"}))
        };

        let (first_status, first, _) = world.send(post_as(&world.customer)).await;
        let (second_status, second, response) = world.send(post_as(&world.other)).await;

        assert_eq!((first_status, second_status), (201, 201), "{second}");
        assert!(response.headers().get("idempotent-replayed").is_none());
        assert_ne!(first["id"], second["id"]);
        assert_eq!(first["customer_id"], world.customer.id.to_string());
        assert_eq!(second["customer_id"], world.other.id.to_string());
        assert_eq!(world.orders.all().len(), 2);
        for user in [&world.customer, &world.other] {
            let scoped = format!("{}:same-key", user.id);
            assert!(
                world.orders.get(&scoped).await.unwrap().is_some(),
                "{scoped}"
            );
        }
        assert!(world.orders.get("same-key").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_same_idempotency_key_with_another_body_is_a_422() {
        let world = World::new();
        let one = world.body(json!([{"product_id": "SKU-1", "quantity": 1}]));
        let two = world.body(json!([{"product_id": "SKU-1", "quantity": 2}]));
        let post = |body: &Value| {
            ApiRequest::new("POST", "/orders")
                .as_customer(world.customer.id)
                .header("idempotency-key", "k-2")
                .body(body)
        };

        world.send(post(&one)).await;
        let (status, body, _) = world.send(post(&two)).await;

        assert_eq!(status, 422);
        assert_eq!(body["error"]["code"], "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(world.orders.all().len(), 1);
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500_and_commits_nothing() {
        // Each store fails in turn; the others keep working, so anything the handler had
        // committed would still be there to see.
        type Fail = fn(&World);
        let failures: [(&str, Fail); 3] = [
            ("users read", |w| w.users.fail_with("table does not exist")),
            ("catalog read", |w| {
                w.products.fail_with("table does not exist")
            }),
            ("order commit", |w| {
                w.orders.fail_commits_with("transaction cancelled")
            }),
        ];
        for (failing, fail) in failures {
            let world = World::new();
            fail(&world);
            let req = ApiRequest::new("POST", "/orders")
                .as_customer(world.customer.id)
                .header("idempotency-key", "k-500")
                .body(&world.body(one_line()));

            let (status, body, _) = world.send(req).await;

            assert_eq!(status, 500, "{failing}: {body}");
            assert_eq!(
                body,
                json!({"error": {"code": "INTERNAL_ERROR", "message": "internal error"}}),
                "{failing}"
            );
            assert!(world.orders.all().is_empty(), "{failing}");
            assert!(world.orders.outbox().is_empty(), "{failing}");
            let scoped = format!("{}:k-500", world.customer.id);
            assert!(
                world.orders.get(&scoped).await.unwrap().is_none(),
                "{failing}: no response saved"
            );
        }
    }
}
