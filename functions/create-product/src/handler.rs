//! `POST /products`: body `{"name","description"?,"category","price_cents","stock"?}` ->
//! `201` with the product, `ETag: "1"` and `location: /products/{id}`.
//!
//! Who may call (checked first, before the body is read or the store is touched): **admins**
//! only. A customer is `403 FORBIDDEN`; no token is `401 UNAUTHORIZED`.
//!
//! The id is generated (a UUID v7 string). `description` defaults to `""` and `stock` to `0`.
//! The body is checked with its rules first (`name` 1..=200 characters, `description` at most
//! 2000, `category` 1..=50, all after trimming; `price_cents` 0..=100 000 000; `stock`
//! 0..=1 000 000), every broken rule reported at once; then the domain parse (control
//! characters, the category's `a-z 0-9 -`). Fields the server sets (`id`, `version`,
//! `created_at`, `updated_at`) are refused with `is not allowed`.
//!
//! Errors: `400 VALIDATION_ERROR` (bad body, unknown field or bad value), `401 UNAUTHORIZED`,
//! `403 FORBIDDEN`, `413 PAYLOAD_TOO_LARGE`, `500 INTERNAL_ERROR` (store failed).

use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::api::CreateProductRequest;
use shared::auth::Principal;
use shared::domain::{NewProduct, ProductId, now};
use shared::http::{HttpResult, created, parse_body, respond, with_etag};
use shared::ports::ProductWriter;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<W: ProductWriter>(products: &W, req: Request) -> HttpResult {
    respond(create_product(products, &req).await)
}

async fn create_product<W: ProductWriter>(
    products: &W,
    req: &Request,
) -> Result<Response<Body>, Error> {
    Principal::from_request(req)?.require_admin()?;
    let body: CreateProductRequest = parse_body(req)?;
    let product = NewProduct::parse(
        &body.name,
        &body.description,
        &body.category,
        body.price_cents,
        body.stock,
    )?
    .into_product(ProductId::generate(), now());
    products.insert(&product).await?;
    tracing::info!(product_id = %product.id, "product created");
    let response = created(&format!("/products/{}", product.id), &product);
    Ok(with_etag(response, product.version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::UserId;
    use shared::domain::{Category, Description, PRICE_RANGE, ProductName, STOCK_RANGE};
    use shared::memory::InMemoryProducts;
    use shared::testing::{ApiRequest, status_and_json};
    /// Highest `price_cents` accepted (the domain's bound).
    const MAX_PRICE_CENTS: i64 = PRICE_RANGE.max;
    /// Highest initial `stock` accepted (the domain's bound).
    const MAX_STOCK: i64 = STOCK_RANGE.max;

    const TEAPOT: &str = r#"{"name":"T","category":"k","price_cents":1}"#;

    fn post(body: &str) -> ApiRequest {
        ApiRequest::new("POST", "/products").raw_body(body)
    }

    async fn send(products: &InMemoryProducts, req: ApiRequest) -> (u16, Value, Response<Body>) {
        let Ok(response) = handle(products, req.build()).await;
        let (status, json) = status_and_json(&response);
        (status, json, response)
    }

    /// An admin's `POST /products`.
    async fn send_as_admin(
        products: &InMemoryProducts,
        body: &str,
    ) -> (u16, Value, Response<Body>) {
        send(products, post(body).as_admin()).await
    }

    #[tokio::test]
    async fn an_admin_creates_a_product_with_its_location_and_etag() {
        let products = InMemoryProducts::new();

        let (status, body, response) = send_as_admin(
            &products,
            r#"{"name":" Teapot ","description":"Holds 1 l","category":"Kitchen","price_cents":1999,"stock":12}"#,
        )
        .await;

        assert_eq!(status, 201);
        let id = body["id"].as_str().unwrap();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(body["name"], "Teapot");
        assert_eq!(body["category"], "kitchen");
        assert_eq!(body["price_cents"], 1999);
        assert_eq!(body["stock"], 12);
        assert_eq!(body["version"], 1);
        assert_eq!(
            response.headers()["location"],
            format!("/products/{id}").as_str()
        );
        assert_eq!(response.headers()["etag"], "\"1\"");
        let stored = products.all();
        assert_eq!(stored.len(), 1);
        assert_eq!(serde_json::to_value(&stored[0]).unwrap(), body);
    }

    #[tokio::test]
    async fn a_customer_may_not_create_a_product() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send(&products, post(TEAPOT).as_customer(UserId::new())).await;

        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert!(products.all().is_empty());
    }

    #[tokio::test]
    async fn a_request_without_a_token_is_401_before_the_body_is_read() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send(&products, post("{not json")).await;

        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        assert!(products.all().is_empty());
    }

    #[tokio::test]
    async fn description_and_stock_may_be_left_out() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send_as_admin(
            &products,
            r#"{"name":"Teapot","category":"kitchen","price_cents":0}"#,
        )
        .await;

        assert_eq!(status, 201, "{body}");
        assert_eq!(body["description"], "");
        assert_eq!(body["stock"], 0);
    }

    #[tokio::test]
    async fn every_broken_rule_is_reported_with_its_field() {
        let products = InMemoryProducts::new();
        let body = json!({
            "name": "",
            "description": "x".repeat(Description::MAX_CHARS + 1),
            "category": "c".repeat(Category::MAX_LEN + 1),
            "price_cents": -1,
            "stock": MAX_STOCK + 1,
        });

        let (status, body, _) = send(&products, post(&body.to_string()).as_admin()).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([
                {"field": "category", "message": "must be at most 50 long"},
                {"field": "description", "message": "must be at most 2000 long"},
                {"field": "name", "message": "must not be empty"},
                {"field": "price_cents", "message": "must be at least 0"},
                {"field": "stock", "message": "must be at most 1000000"}
            ])
        );
        assert!(products.all().is_empty());
    }

    #[tokio::test]
    async fn the_bounds_are_inclusive_and_measured_after_trimming() {
        let products = InMemoryProducts::new();
        let body = json!({
            "name": format!(" {} ", "é".repeat(ProductName::MAX_CHARS)),
            "category": "c".repeat(Category::MAX_LEN),
            "price_cents": MAX_PRICE_CENTS,
            "stock": MAX_STOCK,
        });

        let (status, body, _) = send(&products, post(&body.to_string()).as_admin()).await;

        assert_eq!(status, 201, "{body}");
    }

    #[tokio::test]
    async fn the_domain_parse_still_refuses_what_the_rules_let_through() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send_as_admin(
            &products,
            r#"{"name":"Tea\u0007pot","category":"no spaces","price_cents":1}"#,
        )
        .await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([
                {"field": "name", "message": "must not contain control characters"},
                {"field": "category", "message": "must contain only letters a-z, digits and '-'"}
            ])
        );
        assert!(products.all().is_empty());
    }

    #[tokio::test]
    async fn fields_the_server_sets_are_refused_by_name() {
        let products = InMemoryProducts::new();

        for (field, value) in [
            ("id", json!("SKU-1")),
            ("version", json!(3)),
            ("role", json!("admin")),
            ("created_at", json!("2025-01-01T00:00:00Z")),
            ("updated_at", json!("2025-01-01T00:00:00Z")),
        ] {
            let mut body = json!({"name": "T", "category": "k", "price_cents": 1});
            body[field] = value;

            let (status, body, _) = send(&products, post(&body.to_string()).as_admin()).await;

            assert_eq!(status, 400, "{field}");
            assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "{field}");
            assert_eq!(
                body["error"]["details"],
                json!([{"field": field, "message": "is not allowed"}])
            );
        }
        assert!(products.all().is_empty());
    }

    #[tokio::test]
    async fn a_missing_price_is_named() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send_as_admin(&products, r#"{"name":"T","category":"k"}"#).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "price_cents", "message": "is required"}])
        );
    }

    #[tokio::test]
    async fn a_fractional_price_is_a_validation_error_on_price_cents() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send_as_admin(
            &products,
            r#"{"name":"T","category":"k","price_cents":19.99}"#,
        )
        .await;

        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["field"], "price_cents");
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_a_validation_error_on_body() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send_as_admin(&products, "{\"name\": ").await;

        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["field"], "body");
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let products = InMemoryProducts::new();
        products.fail_with("dynamodb is down");

        let (status, body, _) = send_as_admin(&products, TEAPOT).await;

        assert_eq!(status, 500);
        assert_eq!(
            body,
            json!({"error": {"code": "INTERNAL_ERROR", "message": "internal error"}})
        );
    }
}
