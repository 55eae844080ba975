//! The public HTTP API's request and response bodies, in one place: the handlers
//! (de)serialise these very types, and (feature `openapi`) [`openapi()`] documents them.
//!
//! Requests are `#[serde(deny_unknown_fields)]` with [`garde`] rules whose bounds are the
//! domain's own (`UserName::LENGTH`, `PageLimit::RANGE`, ...); what the rules let through, the
//! domain parse refines (characters, UUID versions). The `#[schema]` / `#[param]` annotations
//! state the same bounds for the document, so a client (or schemathesis) reads the rules the
//! server applies. Responses are the domain's own values ([`User`](crate::domain::User),
//! [`Product`](crate::domain::Product), [`Order`](crate::domain::Order)), pages of them
//! ([`Page`]), the error body ([`ErrorBody`]) and the two health answers ([`Health`],
//! [`Report`]).

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

pub use crate::http::{ErrorBody, ErrorDetail};
pub use crate::ports::Page;

#[cfg(feature = "openapi")]
mod doc;
#[cfg(feature = "openapi")]
pub use doc::{ApiDoc, BEARER, openapi};

/// The pattern of a user id in the document: a UUID of version 4 or 7, hyphenated
/// ([`UserId`](crate::domain::UserId) also accepts other spellings of the same UUID).
pub const USER_ID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[47][0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// The pattern of an order id in the document: a UUID v7, hyphenated.
pub const ORDER_ID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// The pattern of a product id (SKU): 1..=64 of `A-Z a-z 0-9 _ -`
/// ([`ProductId::parse`](crate::domain::ProductId::parse)).
pub const PRODUCT_ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";

/// `GET /health`: `{"status":"ok","service":"shop","version":"0.1.0"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `ok`: the function is running.
    #[cfg_attr(feature = "openapi", schema(example = "ok"))]
    pub status: &'static str,
    /// The service's name, `shop`.
    #[cfg_attr(feature = "openapi", schema(example = "shop"))]
    pub service: &'static str,
    /// The function's crate version, fixed at build time.
    #[cfg_attr(feature = "openapi", schema(example = "0.1.0"))]
    pub version: &'static str,
}

/// What a readiness probe looks at; serialised lowercase (`"dynamodb"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A DynamoDB table (required).
    Dynamodb,
    /// An SQS queue (required).
    Sqs,
    /// The Redis cache itself (optional: reads fall through).
    Cache,
    /// The cache's control-plane status (optional).
    Elasticache,
}

impl Kind {
    /// Whether a down dependency of this kind makes the service unavailable.
    pub fn required(self) -> bool {
        matches!(self, Self::Dynamodb | Self::Sqs)
    }
}

/// A readiness check's state: `up` or `down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CheckStatus))]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Usable.
    Up,
    /// Not usable (or not known to be within the probe's timeout).
    Down,
}

/// One entry of [`Report::checks`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Check {
    /// What was probed, e.g. `PRODUCTS_TABLE` (the variable that names it).
    pub name: String,
    /// What kind of dependency it is.
    pub kind: Kind,
    /// Up or down.
    pub status: Status,
    /// How long the probe took, in milliseconds.
    pub latency_ms: u64,
    /// For a down check, a short opaque reason (`timeout`, `unavailable`, `error`,
    /// `status <control-plane status>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The readiness verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Everything is up.
    Ready,
    /// Everything required is up; an optional dependency (the cache) is down.
    Degraded,
    /// A required dependency is down.
    Unavailable,
}

/// `GET /health/ready`: `{"status":"ready"|"degraded"|"unavailable","checks":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Readiness))]
pub struct Report {
    /// The verdict.
    pub status: Verdict,
    /// One per probe, in probe order.
    pub checks: Vec<Check>,
}

impl Report {
    /// The report of `checks`: `unavailable` when a required one is down, else `degraded` when
    /// an optional one is, else `ready`.
    pub fn from_checks(checks: Vec<Check>) -> Self {
        let down = |required: bool| {
            checks
                .iter()
                .any(|c| c.status == Status::Down && c.kind.required() == required)
        };
        let status = if down(true) {
            Verdict::Unavailable
        } else if down(false) {
            Verdict::Degraded
        } else {
            Verdict::Ready
        };
        Self { status, checks }
    }
}

/// `POST /users` body: the editable fields only. The bounds are the domain's own
/// (`UserName::LENGTH`, `Email::LENGTH`); what they let through, the domain parse refines.
#[derive(Debug, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Display name, trimmed: 1..=100 characters, no control characters.
    #[serde(deserialize_with = "crate::validate::trimmed")]
    #[garde(custom(crate::validate::length(crate::domain::UserName::LENGTH)))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::api::doc::user_name))]
    pub name: String,
    /// Email address, trimmed (the domain lowercases it): at most 254 bytes.
    #[serde(deserialize_with = "crate::validate::trimmed")]
    #[garde(
        custom(crate::validate::email),
        custom(crate::validate::length(crate::domain::Email::LENGTH))
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::api::doc::email))]
    pub email: String,
}

/// `PUT /users/{id}` body: the editable fields only; `id`, `role`, `version` and timestamps are
/// refused. The bounds are the domain's own; what they let through, the domain parse refines.
#[derive(Debug, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// The new display name, trimmed: 1..=100 characters.
    #[serde(deserialize_with = "crate::validate::trimmed")]
    #[garde(custom(crate::validate::length(crate::domain::UserName::LENGTH)))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::api::doc::user_name))]
    pub name: String,
    /// The new email address, trimmed (the domain lowercases it): at most 254 bytes.
    #[serde(deserialize_with = "crate::validate::trimmed")]
    #[garde(
        custom(crate::validate::email),
        custom(crate::validate::length(crate::domain::Email::LENGTH))
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::api::doc::email))]
    pub email: String,
}

/// `GET /users` query. Every bound is the domain's own (`PageLimit::RANGE`, `Cursor::LENGTH`,
/// `Email::LENGTH`); the domain parse refines the email.
#[derive(Debug, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ListUsersQuery {
    /// Page size: 1..=100, 20 by default.
    #[garde(inner(custom(crate::validate::range(crate::ports::PageLimit::RANGE))))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<u16>,
    /// The `next` of the previous page, passed back unchanged: URL-safe base64 without padding,
    /// at most 512 characters ([`crate::ports::Cursor::MAX_LEN`]).
    #[garde(inner(custom(crate::validate::length(crate::ports::Cursor::LENGTH))))]
    #[cfg_attr(
        feature = "openapi",
        param(max_length = 512, pattern = "^[A-Za-z0-9_-]*$")
    )]
    pub cursor: Option<String>,
    /// One user by email, trimmed (the domain lowercases it); the page has 0 or 1 item, and a
    /// non-empty `cursor` with it is refused (`cursor: is not allowed with email`).
    #[serde(default, deserialize_with = "crate::validate::trimmed_opt")]
    #[garde(inner(
        custom(crate::validate::email),
        custom(crate::validate::length(crate::domain::Email::LENGTH))
    ))]
    #[cfg_attr(feature = "openapi", param(format = Email, max_length = 254))]
    pub email: Option<String>,
}

/// `POST /products` body. Every bound is the domain's own (`ProductName::LENGTH`,
/// `PRICE_RANGE`, ...); what the bounds let through, the domain parse refines (characters).
/// Numbers are read as `i64` so that a negative value gets a range message rather than a type
/// error.
#[derive(Debug, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateProductRequest {
    /// Display name, trimmed: 1..=200 characters.
    #[serde(deserialize_with = "crate::validate::trimmed")]
    #[garde(custom(crate::validate::length(crate::domain::ProductName::LENGTH)))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::api::doc::product_name))]
    pub name: String,
    /// Free text, trimmed; may be empty (the default): at most 2000 characters.
    #[serde(default, deserialize_with = "crate::validate::trimmed")]
    #[garde(custom(crate::validate::length(crate::domain::Description::LENGTH)))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::api::doc::product_description))]
    pub description: String,
    /// Where it is listed, trimmed and lowercased: 1..=50 of `a-z 0-9 -`. Its characters are
    /// the domain parse's check: garde's `pattern` rule would need the `regex` feature for one
    /// field.
    #[serde(deserialize_with = "crate::validate::trimmed")]
    #[garde(custom(crate::validate::length(crate::domain::Category::LENGTH)))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::api::doc::category))]
    pub category: String,
    /// Price of one unit, in cents: 0..=100 000 000.
    #[garde(custom(crate::validate::range(crate::domain::PRICE_RANGE)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100_000_000))]
    #[serde(deserialize_with = "crate::validate::whole")]
    pub price_cents: i64,
    /// Initial stock, in units: 0..=1 000 000, 0 by default.
    #[serde(default, deserialize_with = "crate::validate::whole")]
    #[garde(custom(crate::validate::range(crate::domain::STOCK_RANGE)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000))]
    pub stock: i64,
}

/// `PUT /products/{id}` body: the catalog fields only (`stock` changes only through
/// `PATCH /products/{id}/stock`). Bounds as for [`CreateProductRequest`].
#[derive(Debug, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateProductRequest {
    /// Display name, trimmed: 1..=200 characters.
    #[serde(deserialize_with = "crate::validate::trimmed")]
    #[garde(custom(crate::validate::length(crate::domain::ProductName::LENGTH)))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::api::doc::product_name))]
    pub name: String,
    /// Free text, trimmed; may be empty (the default): at most 2000 characters.
    #[serde(default, deserialize_with = "crate::validate::trimmed")]
    #[garde(custom(crate::validate::length(crate::domain::Description::LENGTH)))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::api::doc::product_description))]
    pub description: String,
    /// Where it is listed, trimmed and lowercased: 1..=50 of `a-z 0-9 -`.
    #[serde(deserialize_with = "crate::validate::trimmed")]
    #[garde(custom(crate::validate::length(crate::domain::Category::LENGTH)))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::api::doc::category))]
    pub category: String,
    /// Price of one unit, in cents: 0..=100 000 000.
    #[garde(custom(crate::validate::range(crate::domain::PRICE_RANGE)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100_000_000))]
    #[serde(deserialize_with = "crate::validate::whole")]
    pub price_cents: i64,
}

/// `GET /products` query. Every bound is the domain's own (`Category::LENGTH`,
/// `PageLimit::RANGE`, `Cursor::LENGTH`); the category's characters are the domain parse's.
#[derive(Debug, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ListProductsQuery {
    /// Only this category; trimmed, lowercased, and absent when empty: at most 50 of
    /// `a-z 0-9 -`.
    #[serde(default, deserialize_with = "crate::validate::trimmed_non_empty")]
    #[garde(inner(custom(crate::validate::length(crate::domain::Category::LENGTH))))]
    #[cfg_attr(feature = "openapi", param(pattern = "^\\s*[A-Za-z0-9-]{0,50}\\s*$"))]
    pub category: Option<String>,
    /// Page size: 1..=100, 20 by default.
    #[garde(inner(custom(crate::validate::range(crate::ports::PageLimit::RANGE))))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<u16>,
    /// The `next` of the previous page with the same `category`, passed back unchanged: URL-safe
    /// base64 without padding, at most 512 characters ([`crate::ports::Cursor::MAX_LEN`]).
    #[garde(inner(custom(crate::validate::length(crate::ports::Cursor::LENGTH))))]
    #[cfg_attr(
        feature = "openapi",
        param(max_length = 512, pattern = "^[A-Za-z0-9_-]*$")
    )]
    pub cursor: Option<String>,
}

/// `PATCH /products/{id}/stock` body; `delta` is read as `i64` and parsed into a
/// [`StockDelta`](crate::domain::StockDelta) after its rule.
#[derive(Debug, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AdjustStockRequest {
    /// Units to add (positive) or remove (negative): -1 000 000..=1 000 000, not 0. That it
    /// is non-zero is the domain parse's check, which runs right after.
    #[garde(range(
        min = -crate::domain::StockDelta::MAX_ABS,
        max = crate::domain::StockDelta::MAX_ABS
    ))]
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::api::doc::stock_delta)
    )]
    #[serde(deserialize_with = "crate::validate::whole")]
    pub delta: i64,
}

/// `POST /orders` body. Every bound is the domain's own (`Order::ITEMS`, `ProductId::LENGTH`,
/// `Quantity::RANGE`); what they let through, the domain parse refines (SKU characters).
#[derive(Debug, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    /// Whose order: required from an admin; a customer's own id or absent from a customer.
    #[serde(default)]
    #[garde(inner(custom(crate::validate::parses::<crate::domain::UserId>)))]
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[47][0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
        )
    )]
    pub customer_id: Option<String>,
    /// The lines: 1..=50.
    #[garde(custom(crate::validate::count(crate::domain::Order::ITEMS)), dive)]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 50))]
    pub items: Vec<ItemRequest>,
    /// The provider token to charge: `tok_` and 1..=64 letters, digits or `_`.
    #[garde(custom(crate::validate::parses::<crate::domain::PaymentMethod>))]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^tok_[A-Za-z0-9_]{1,64}$", example = "tok_visa")
    )]
    pub payment_method: String,
}

/// One line of [`CreateOrderRequest`]. `quantity` is `i64` so that negatives get a range
/// message rather than a type error.
#[derive(Debug, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    /// An existing product's id.
    #[garde(custom(crate::validate::length(crate::domain::ProductId::LENGTH)))]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{1,64}$"))]
    pub product_id: String,
    /// Units: 1..=1000.
    #[garde(custom(crate::validate::range(crate::domain::Quantity::RANGE)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    #[serde(deserialize_with = "crate::validate::whole")]
    pub quantity: i64,
    /// Accepted for compatibility and ignored: the catalog sets the price.
    #[serde(default, rename = "unit_price_cents")]
    #[garde(skip)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, deprecated))]
    pub client_price: Option<IgnoredAny>,
}

/// `GET /orders` query. Unknown parameters are refused.
#[derive(Debug, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ListOrdersQuery {
    /// Only this customer's orders (a customer may name only their own id).
    #[garde(inner(custom(crate::validate::parses::<crate::domain::UserId>)))]
    #[cfg_attr(
        feature = "openapi",
        param(
            pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[47][0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
        )
    )]
    pub customer_id: Option<String>,
    /// Only orders in this status.
    #[garde(inner(custom(crate::validate::parses::<crate::domain::OrderStatus>)))]
    #[cfg_attr(feature = "openapi", param(value_type = Option<crate::domain::OrderStatus>))]
    pub status: Option<String>,
    /// Page size: 1..=100, 20 by default.
    #[garde(range(min = 1, max = crate::ports::PageLimit::MAX))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<u16>,
    /// Where the page starts, as returned in `next`: URL-safe base64 without padding, 1..=512
    /// characters ([`crate::ports::Cursor::MAX_LEN`]).
    #[garde(length(min = 1, max = crate::ports::Cursor::MAX_LEN))]
    #[cfg_attr(
        feature = "openapi",
        param(min_length = 1, max_length = 512, pattern = "^[A-Za-z0-9_-]*$")
    )]
    pub cursor: Option<String>,
}

/// `PATCH /orders/{id}/status` body.
#[derive(Debug, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// The status to move to, e.g. `SHIPPED`.
    #[garde(custom(crate::validate::parses::<crate::domain::OrderStatus>))]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::domain::OrderStatus))]
    pub status: String,
}
