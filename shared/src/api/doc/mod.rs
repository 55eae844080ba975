//! The OpenAPI 3.1 document of the public API (feature `openapi`), generated with utoipa from
//! the request and response types of [`crate::api`] and the domain.
//!
//! One `#[utoipa::path]` per route of template.yaml's `HttpApi` events: method, path, auth
//! (the `CognitoJwt` bearer scheme, or none for the public routes), parameters, body, and
//! every status the handler documents (the answers all operations share are added by one
//! modifier, [`CommonResponses`]). Error answers are shared response components: the
//! functions' own `{"error":{...}}` ([`ErrorBody`]), and API Gateway's `{"message":"..."}`
//! ([`GatewayMessage`]) for what the gateway answers before a function runs (401 from the JWT
//! authorizer, 429 from throttling, 413 over 10 MB, 503 on a function timeout).

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Ref, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{
    AdjustStockRequest, CreateOrderRequest, CreateProductRequest, CreateUserRequest, ErrorBody,
    Health, ListOrdersQuery, ListProductsQuery, ListUsersQuery, Report, StatusRequest,
    UpdateProductRequest, UpdateUserRequest,
};
use crate::domain::{Order, Product, User};
use crate::ports::Page;

/// The name of the security scheme: the template's JWT authorizer (`CognitoJwt`, a bearer
/// token from the Cognito user pool; the `cognito:groups` claim carries the roles `admin` and
/// `customer`).
pub const BEARER: &str = "CognitoJwt";

/// The document: [`ApiDoc::openapi`] with its security scheme.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// API Gateway's own error body, `{"message":"Unauthorized"}`: what the gateway answers before
/// (or instead of) the function.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayMessage {
    /// e.g. `Unauthorized`, `Forbidden`, `Too Many Requests`, `Service Unavailable`.
    pub message: String,
}

fn schema_ref<T: ToSchema>() -> RefOr<utoipa::openapi::schema::Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

/// The schema of [`AdjustStockRequest::delta`](super::AdjustStockRequest): an integer in
/// -1 000 000..=1 000 000 other than 0 (`StockDelta::MAX_ABS`; the domain refuses a zero
/// change), written as `oneOf` the two ranges (utoipa has no `not`).
#[must_use]
#[expect(
    clippy::cast_precision_loss,
    reason = "MAX_ABS (10^6) is exact in an f64"
)]
pub fn stock_delta() -> Schema {
    let max = crate::domain::StockDelta::MAX_ABS as f64;
    let range = |min: f64, max: f64| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(min))
            .maximum(Some(max))
    };
    OneOfBuilder::new()
        .item(range(-max, -1.0))
        .item(range(1.0, max))
        .description(Some("Units to add (positive) or remove (negative), not 0."))
        .build()
        .into()
}

/// Control characters the domain refuses in one-line text (C0, DEL, C1), as a regex class body.
const CONTROL: &str = "\\u0000-\\u001F\\u007F-\\u009F";
/// The same for multi-line text: tab, line feed and carriage return are allowed.
const CONTROL_BUT_LINE_BREAKS: &str = "\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F";

/// A string schema whose pattern holds the domain's bounds on the *trimmed* value, as the
/// server checks them: `min_chars` (0 or 1) ..= `max_chars` characters of which none is in
/// `control`, with any padding of white space around them. A raw `maxLength` would refuse what
/// the server accepts (padding is trimmed before the bound is checked).
fn trimmed_text(
    description: &str,
    min_chars: usize,
    max_chars: usize,
    control: &str,
    example: Option<&str>,
) -> Schema {
    let edge = format!("[^\\s{control}]");
    let inner = format!(
        "(?:[^{control}]{{0,{}}}{edge})?",
        max_chars.saturating_sub(2)
    );
    let text = if min_chars == 0 {
        format!("(?:{edge}{inner})?")
    } else {
        format!("{edge}{inner}")
    };
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(format!("^\\s*{text}\\s*$")))
        .examples(example)
        .build()
        .into()
}

/// A user's display name ([`UserName`](crate::domain::UserName)): 1..=100 characters once
/// trimmed, no control characters.
#[must_use]
pub fn user_name() -> Schema {
    let max = crate::domain::UserName::MAX_CHARS;
    trimmed_text(
        &format!("Display name, trimmed: 1..={max} characters, no control characters."),
        1,
        max,
        CONTROL,
        Some("Ada"),
    )
}

/// An email address ([`Email`](crate::domain::Email)), trimmed (the domain lowercases it): at
/// most 254 bytes (RFC 5321 §4.5.3.1.3).
#[must_use]
pub fn email() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Email,
        )))
        .description(Some(
            "Email address, trimmed (the domain lowercases it): at most 254 bytes.",
        ))
        .max_length(Some(crate::domain::Email::MAX_LEN))
        .examples(["ada@example.com"])
        .build()
        .into()
}

/// A product's name ([`ProductName`](crate::domain::ProductName)): 1..=200 characters once
/// trimmed, no control characters.
#[must_use]
pub fn product_name() -> Schema {
    let max = crate::domain::ProductName::MAX_CHARS;
    trimmed_text(
        &format!("Display name, trimmed: 1..={max} characters, no control characters."),
        1,
        max,
        CONTROL,
        Some("Teapot"),
    )
}

/// A product's description ([`Description`](crate::domain::Description)): at most 2000
/// characters once trimmed, may be empty; line breaks and tabs allowed.
#[must_use]
pub fn product_description() -> Schema {
    let max = crate::domain::Description::MAX_CHARS;
    trimmed_text(
        &format!(
            "Free text, trimmed; may be empty (the default): at most {max} characters, line \
             breaks and tabs allowed."
        ),
        0,
        max,
        CONTROL_BUT_LINE_BREAKS,
        None,
    )
}

/// A catalog category ([`Category`](crate::domain::Category)): 1..=50 of `A-Z a-z 0-9 -`
/// once trimmed (the domain lowercases it).
#[must_use]
pub fn category() -> Schema {
    let max = crate::domain::Category::MAX_LEN;
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!(
            "Where it is listed, trimmed and lowercased: 1..={max} of `a-z 0-9 -`."
        )))
        .pattern(Some(format!("^\\s*[A-Za-z0-9-]{{1,{max}}}\\s*$")))
        .examples(["kitchen"])
        .build()
        .into()
}

/// A JSON response whose body is the functions' [`ErrorBody`], API Gateway's
/// [`GatewayMessage`], or either (`oneOf`), with a `Retry-After` header when `retry`.
fn error_response(description: &str, function: bool, gateway: bool, retry: bool) -> Response {
    let schema: RefOr<utoipa::openapi::schema::Schema> = match (function, gateway) {
        (true, true) => OneOfBuilder::new()
            .item(schema_ref::<ErrorBody>())
            .item(schema_ref::<GatewayMessage>())
            .into(),
        (false, true) => schema_ref::<GatewayMessage>(),
        _ => schema_ref::<ErrorBody>(),
    };
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(schema)).build(),
    );
    if retry {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                ))
                .description(Some(
                    "Seconds to wait before retrying (RFC 9110 §10.2.3); sent by the functions",
                ))
                .build(),
        );
    }
    response.build()
}

macro_rules! error_responses {
    ($($name:ident = $description:literal, function: $function:literal, gateway: $gateway:literal, retry: $retry:literal;)*) => {
        $(
            #[doc = $description]
            pub struct $name;

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), error_response($description, $function, $gateway, $retry).into())
                }
            }
        )*
    };
}

error_responses! {
    BadRequest = "`VALIDATION_ERROR`: a bad path parameter, query, header or body; `details` names every rejected field", function: true, gateway: false, retry: false;
    Unauthorized = "No valid bearer token: the JWT authorizer refused the request (`WWW-Authenticate: Bearer`)", function: true, gateway: true, retry: false;
    Forbidden = "`FORBIDDEN`: the caller's role (`cognito:groups`) may not do this", function: true, gateway: true, retry: false;
    NotFound = "`NOT_FOUND`: no such resource (or, for a customer, not theirs)", function: true, gateway: false, retry: false;
    Conflict = "`CONFLICT`: the request contradicts the resource's state", function: true, gateway: false, retry: false;
    PreconditionFailed = "`PRECONDITION_FAILED`: `If-Match` names a version that is no longer current; GET it again", function: true, gateway: false, retry: false;
    PayloadTooLarge = "`PAYLOAD_TOO_LARGE`: the body is over 64 KiB (the function) or 10 MB (the gateway)", function: true, gateway: true, retry: false;
    IdempotencyKeyReused = "`IDEMPOTENCY_KEY_REUSED`: this `Idempotency-Key` was used with another body", function: true, gateway: false, retry: false;
    PreconditionRequired = "`PRECONDITION_REQUIRED`: an update needs `If-Match` (the `ETag` of a GET, or `*`)", function: true, gateway: false, retry: false;
    TooManyRequests = "Throttled by the route's rate limit (`{\"message\":\"Too Many Requests\"}`)", function: false, gateway: true, retry: false;
    InternalError = "`INTERNAL_ERROR`: opaque; the cause is in the log", function: true, gateway: false, retry: false;
    ServiceUnavailable = "`SERVICE_UNAVAILABLE`: a dependency is down or throttled; retry after `Retry-After` seconds", function: true, gateway: true, retry: true;
}

/// Adds the bearer scheme and the shared headers' descriptions.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT from the Cognito user pool (locally: `devstack token --sub <id> \
                         --groups admin|customer`). Roles come from `cognito:groups`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Makes every optional parameter a plain (non-nullable) schema.
///
/// utoipa renders an `Option<String>` header parameter as `type: ["string","null"]`, but an
/// HTTP header or query value is always a string: an absent parameter is expressed by
/// `required: false`, never by a JSON `null` (OpenAPI 3.1 §4.8.12: parameters are serialized
/// strings; schemathesis would send the header `If-Match: null`).
struct NonNullableParameters;

impl Modify for NonNullableParameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let parameters = operations_mut(openapi)
            .filter_map(|operation| operation.parameters.as_mut())
            .flatten();
        for parameter in parameters {
            let RefOr::T(parameter) = parameter else {
                continue;
            };
            if let Some(RefOr::T(Schema::Object(object))) = parameter.schema.as_mut()
                && let SchemaType::Array(types) = &object.schema_type
            {
                let types: Vec<Type> = types
                    .iter()
                    .filter(|t| **t != Type::Null)
                    .cloned()
                    .collect();
                object.schema_type = match types.as_slice() {
                    [single] => SchemaType::Type(single.clone()),
                    _ => SchemaType::Array(types),
                };
            }
        }
    }
}

/// Every operation of the document (the methods this API uses).
fn operations_mut(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .filter_map(Option::as_mut)
    })
}

/// Adds the answers every operation shares, where the operation does not document its own:
/// `429` (the gateway's throttling) everywhere; `401` and `403` (the JWT authorizer and the
/// roles) on every secured operation; `400`, `500` and `503` on every operation that runs a
/// function touching a dependency (all but the `health` tag's).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let shared = |name: &str| RefOr::Ref(Ref::from_response_name(name));
        for operation in operations_mut(openapi) {
            let secured = operation.security.iter().flatten().any(|requirement| {
                serde_json::to_value(requirement)
                    .is_ok_and(|v| v.as_object().is_some_and(|o| o.contains_key(BEARER)))
            });
            let health = operation
                .tags
                .iter()
                .flatten()
                .any(|tag| tag.as_str() == "health");
            let mut common = vec![("429", "TooManyRequests")];
            if secured {
                common.extend([("401", "Unauthorized"), ("403", "Forbidden")]);
            }
            if !health {
                common.extend([
                    ("400", "BadRequest"),
                    ("500", "InternalError"),
                    ("503", "ServiceUnavailable"),
                ]);
            }
            let responses = &mut operation.responses.responses;
            for (status, name) in common {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| shared(name));
            }
        }
    }
}

/// The derive that gathers the paths and components; use [`openapi()`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "shop",
        description = "The shop's public HTTP API (API Gateway HTTP API → Lambda). Every error \
            from a function is `{\"error\":{\"code\",\"message\",\"details\"?}}`; the gateway's \
            own are `{\"message\"}`. Updates use optimistic locking: send the `ETag` of a GET \
            back as `If-Match`. Lists are pages `{\"items\":[...],\"next\":<cursor>|null}`: \
            pass `next` back as `cursor`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        health, readiness,
        create_user, get_user, list_users, update_user, delete_user,
        create_product, get_product, list_products, update_product, delete_product, adjust_stock,
        create_order, get_order, list_orders, update_order_status, cancel_order,
    ),
    components(
        schemas(ErrorBody, GatewayMessage, Page<User>, Page<Product>, Page<Order>),
        responses(
            BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PreconditionFailed,
            PayloadTooLarge, IdempotencyKeyReused, PreconditionRequired, TooManyRequests,
            InternalError, ServiceUnavailable,
        ),
    ),
    modifiers(&Security, &NonNullableParameters, &CommonResponses),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "users", description = "Users (customers and admins)"),
        (name = "products", description = "The catalog (public reads) and its stock"),
        (name = "orders", description = "Orders and their saga"),
    ),
)]
pub struct ApiDoc;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_the_bearer_scheme() {
        let doc = serde_json::to_value(openapi()).unwrap();

        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(
            doc["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
        let operations: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(operations, 18);
    }

    #[test]
    fn error_responses_name_their_schemas() {
        let (name, response) = <ServiceUnavailable as utoipa::ToResponse>::response();
        let json = serde_json::to_value(response).unwrap();

        assert_eq!(name, "ServiceUnavailable");
        assert!(json["headers"]["Retry-After"].is_object());
    }

    #[test]
    fn every_operation_has_the_shared_answers_and_its_own_503_wins() {
        let doc = serde_json::to_value(openapi()).unwrap();

        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                let secured = operation["security"][0].get(BEARER).is_some();
                let mut expected = vec!["429"];
                if secured {
                    expected.extend(["401", "403"]);
                }
                if !path.starts_with("/health") {
                    expected.extend(["400", "500", "503"]);
                }
                for status in expected {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
                assert_eq!(secured, responses.contains_key("401"), "{method} {path}");
            }
        }
        // /health/ready documents its own 503 (the report), which the shared one must not replace.
        let ready = &doc["paths"]["/health/ready"]["get"]["responses"]["503"];
        assert!(ready.get("$ref").is_none(), "{ready}");
        assert!(
            doc["paths"]["/health"]["get"]["responses"]
                .get("500")
                .is_none()
        );
    }

    #[test]
    fn no_parameter_is_nullable() {
        let doc = serde_json::to_value(openapi()).unwrap();

        let mut seen = 0;
        for item in doc["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    seen += 1;
                    assert!(
                        !parameter["schema"]["type"].is_array(),
                        "{parameter} has a nullable schema"
                    );
                }
            }
        }
        assert!(seen > 0);
    }

    #[test]
    fn every_cursor_parameter_is_bounded_like_the_domain_cursor() {
        let doc = serde_json::to_value(openapi()).unwrap();

        for path in ["/users", "/products", "/orders"] {
            let parameters = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            let cursor = parameters.iter().find(|p| p["name"] == "cursor").unwrap();
            assert_eq!(
                cursor["schema"]["maxLength"],
                crate::ports::Cursor::MAX_LEN,
                "{path}"
            );
            assert_eq!(cursor["schema"]["pattern"], "^[A-Za-z0-9_-]*$", "{path}");
        }
    }
}
