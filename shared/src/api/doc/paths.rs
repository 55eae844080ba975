//! One `#[utoipa::path]` stub per route of template.yaml's `HttpApi` events (documentation
//! only: the handlers are the functions'); [`ApiDoc`](super::ApiDoc) gathers them.

use super::modifiers::{
    Conflict, IdempotencyKeyReused, NotFound, PayloadTooLarge, PreconditionFailed,
    PreconditionRequired,
};
use crate::api::{
    AdjustStockRequest, CreateOrderRequest, CreateProductRequest, CreateUserRequest, Health,
    ListOrdersQuery, ListProductsQuery, ListUsersQuery, Report, StatusRequest,
    UpdateProductRequest, UpdateUserRequest,
};
use crate::domain::{Order, Product, User};
use crate::ports::Page;

#[utoipa::path(
    get, path = "/health", tag = "health", operation_id = "health",
    summary = "Liveness: the function runs (touches no dependency). Public.",
    security(()),
    responses(
        (status = 200, description = "Alive", body = Health),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn health() {}

#[utoipa::path(
    get, path = "/health/ready", tag = "health", operation_id = "readiness",
    summary = "Readiness: each dependency's state. Role: admin.",
    security(("CognitoJwt" = [])),
    responses(
        (status = 200, description = "Every required dependency is up (`ready`, or `degraded` when the cache is down)", body = Report),
        (status = 503, description = "A required dependency is down (`unavailable`); retry after `Retry-After` seconds (the memo interval)",
            content(
                (Report = "application/json"),
            ),
            headers(("Retry-After" = u64, description = "Seconds until the answer is recomputed"))),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn readiness() {}

const USER_ID: &str = "A user id: UUID v4 (a Cognito `sub`) or v7";

#[utoipa::path(
    post, path = "/users", tag = "users", operation_id = "createUser",
    summary = "Create a user. Roles: admin (any user, fresh id) or customer (their own record, id = token `sub`).",
    security(("CognitoJwt" = [])),
    request_body(content = CreateUserRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created (version 1)", body = User, headers(
            ("Location" = String, description = "`/users/{id}`"),
            ("ETag" = String, description = "The version as a strong entity tag, `\"1\"`"),
        )),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn create_user() {}

#[utoipa::path(
    get, path = "/users/{id}", tag = "users", operation_id = "getUser",
    summary = "One user. Roles: admin (any) or customer (their own; another id is 404).",
    security(("CognitoJwt" = [])),
    params(("id" = String, Path, description = USER_ID, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[47][0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")),
    responses(
        (status = 200, description = "The user", body = User, headers(
            ("ETag" = String, description = "The version, e.g. `\"3\"`: send it back as `If-Match`"),
        )),
        (status = 404, response = NotFound),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn get_user() {}

#[utoipa::path(
    get, path = "/users", tag = "users", operation_id = "listUsers",
    summary = "A page of users, or the one user with `email`. Role: admin.",
    security(("CognitoJwt" = [])),
    params(ListUsersQuery),
    responses(
        (status = 200, description = "A page; `next` is null on the last", body = Page<User>),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn list_users() {}

#[utoipa::path(
    put, path = "/users/{id}", tag = "users", operation_id = "updateUser",
    summary = "Replace a user's editable fields. Roles: admin (any) or customer (their own).",
    security(("CognitoJwt" = [])),
    params(
        ("id" = String, Path, description = USER_ID, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[47][0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
        ("If-Match" = String, Header, description = "The `ETag` of a GET (`\"3\"`), or `*`", pattern = "^(\\*|\"[0-9]{1,19}\")$"),
    ),
    request_body(content = UpdateUserRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated (version + 1)", body = User, headers(
            ("ETag" = String, description = "The new version"),
        )),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 428, response = PreconditionRequired),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn update_user() {}

#[utoipa::path(
    delete, path = "/users/{id}", tag = "users", operation_id = "deleteUser",
    summary = "Delete a user (and the claim on its email). Role: admin.",
    security(("CognitoJwt" = [])),
    params(
        ("id" = String, Path, description = USER_ID, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[47][0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
        ("If-Match" = Option<String>, Header, description = "Optional: delete only at this version (`\"3\"`, or `*`)", pattern = "^(\\*|\"[0-9]{1,19}\")$"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn delete_user() {}

const PRODUCT_ID: &str = "A product id (SKU): 1..=64 of `A-Z a-z 0-9 _ -`";

#[utoipa::path(
    post, path = "/products", tag = "products", operation_id = "createProduct",
    summary = "Create a product (id generated, version 1). Role: admin.",
    security(("CognitoJwt" = [])),
    request_body(content = CreateProductRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Product, headers(
            ("Location" = String, description = "`/products/{id}`"),
            ("ETag" = String, description = "`\"1\"`"),
        )),
        (status = 413, response = PayloadTooLarge),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn create_product() {}

#[utoipa::path(
    get, path = "/products/{id}", tag = "products", operation_id = "getProduct",
    summary = "One product (cache-aside). Public.",
    security(()),
    params(("id" = String, Path, description = PRODUCT_ID, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The product", body = Product, headers(
            ("ETag" = String, description = "The catalog version: send it back as `If-Match`"),
        )),
        (status = 404, response = NotFound),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn get_product() {}

#[utoipa::path(
    get, path = "/products", tag = "products", operation_id = "listProducts",
    summary = "A page of the catalog, optionally one category. Public.",
    security(()),
    params(ListProductsQuery),
    responses(
        (status = 200, description = "A page; `next` is null on the last", body = Page<Product>),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn list_products() {}

#[utoipa::path(
    put, path = "/products/{id}", tag = "products", operation_id = "updateProduct",
    summary = "Replace a product's catalog fields (not `stock`). Role: admin.",
    security(("CognitoJwt" = [])),
    params(
        ("id" = String, Path, description = PRODUCT_ID, pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("If-Match" = String, Header, description = "The `ETag` of a GET (`\"3\"`), or `*`", pattern = "^(\\*|\"[0-9]{1,19}\")$"),
    ),
    request_body(content = UpdateProductRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated (version + 1)", body = Product, headers(
            ("ETag" = String, description = "The new version"),
        )),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 428, response = PreconditionRequired),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn update_product() {}

#[utoipa::path(
    delete, path = "/products/{id}", tag = "products", operation_id = "deleteProduct",
    summary = "Delete a product. Role: admin.",
    security(("CognitoJwt" = [])),
    params(("id" = String, Path, description = PRODUCT_ID, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = NotFound),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn delete_product() {}

#[utoipa::path(
    patch, path = "/products/{id}/stock", tag = "products", operation_id = "adjustStock",
    summary = "Add or remove stock atomically (never below zero). Role: admin.",
    security(("CognitoJwt" = [])),
    params(("id" = String, Path, description = PRODUCT_ID, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body(content = AdjustStockRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The product with its new stock (its `ETag` is unchanged)", body = Product, headers(
            ("ETag" = String, description = "The catalog version"),
        )),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn adjust_stock() {}

const ORDER_ID: &str = "An order id: UUID v7";

#[utoipa::path(
    post, path = "/orders", tag = "orders", operation_id = "createOrder",
    summary = "Place an order (PENDING; the saga reserves stock and charges). Roles: customer (for themselves) or admin (names `customer_id`).",
    security(("CognitoJwt" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "1..=255 visible ASCII characters; the same key and body replay the first response (draft-ietf-httpapi-idempotency-key-header)",
            min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$"),
    ),
    request_body(content = CreateOrderRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Placed", body = Order, headers(
            ("Location" = String, description = "`/orders/{id}`"),
            ("idempotent-replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`"),
        )),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = IdempotencyKeyReused),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn create_order() {}

#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders", operation_id = "getOrder",
    summary = "One order. Roles: admin (any) or customer (their own; another's is 404).",
    security(("CognitoJwt" = [])),
    params(("id" = String, Path, description = ORDER_ID, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")),
    responses(
        (status = 200, description = "The order", body = Order),
        (status = 404, response = NotFound),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn get_order() {}

#[utoipa::path(
    get, path = "/orders", tag = "orders", operation_id = "listOrders",
    summary = "A page of orders, oldest first within a customer or status. Roles: admin (any) or customer (their own).",
    security(("CognitoJwt" = [])),
    params(ListOrdersQuery),
    responses(
        (status = 200, description = "A page; `next` is null on the last", body = Page<Order>),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn list_orders() {}

#[utoipa::path(
    patch, path = "/orders/{id}/status", tag = "orders", operation_id = "updateOrderStatus",
    summary = "Move an order along its lifecycle (PENDING → CONFIRMED → SHIPPED → DELIVERED, or CANCELLED). Role: admin.",
    security(("CognitoJwt" = [])),
    params(("id" = String, Path, description = ORDER_ID, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")),
    request_body(content = StatusRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The order in its new status", body = Order),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn update_order_status() {}

#[utoipa::path(
    delete, path = "/orders/{id}", tag = "orders", operation_id = "cancelOrder",
    summary = "Cancel an order (from PENDING or CONFIRMED; stock released, charge refunded). Roles: admin (any) or customer (their own).",
    security(("CognitoJwt" = [])),
    params(("id" = String, Path, description = ORDER_ID, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")),
    responses(
        (status = 200, description = "The cancelled order", body = Order),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
#[expect(dead_code, reason = "documentation only")]
fn cancel_order() {}
