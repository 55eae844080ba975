//! `PUT /products/{id}` with `If-Match: "<version>"` and body
//! `{"name","description"?,"category","price_cents"}` -> `200` with the updated product and
//! its new `ETag`.
//!
//! Who may call (checked first, before the body is read or the store is touched): **admins**
//! only. A customer is `403 FORBIDDEN`; no token is `401 UNAUTHORIZED`.
//!
//! The catalog fields are replaced (a missing `description` becomes `""`) and `version` goes
//! up by one. `stock` is not accepted here (`400`, `stock: is not allowed`): it changes only
//! through `PATCH /products/{id}/stock` and reservations, so an edit never races with them.
//! Nor are the fields the server sets (`id`, `version`, `created_at`, `updated_at`).
//! `If-Match: *` updates whatever version is stored.
//!
//! The body is checked with its rules first (`name` 1..=200 characters, `description` at most
//! 2000, `category` 1..=50, all after trimming; `price_cents` 0..=100 000 000), every broken
//! rule reported at once; then the domain parse (control characters, the category's
//! `a-z 0-9 -`).
//!
//! Errors: `400 VALIDATION_ERROR` (bad id, body or value), `401 UNAUTHORIZED`,
//! `403 FORBIDDEN`, `404 NOT_FOUND`, `412 PRECONDITION_FAILED` (someone updated it since the
//! client's GET: read it again), `413 PAYLOAD_TOO_LARGE`, `428 PRECONDITION_REQUIRED` (no
//! `If-Match`), `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::api::UpdateProductRequest;
use shared::auth::Principal;
use shared::domain::{ProductChanges, ProductId};
use shared::http::{
    HttpResult, if_match, json_response, parse_body, path_param, respond, with_etag,
};
use shared::ports::ProductUpdater;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<U: ProductUpdater>(products: &U, req: Request) -> HttpResult {
    respond(update_product(products, &req).await)
}

async fn update_product<U: ProductUpdater>(
    products: &U,
    req: &Request,
) -> Result<Response<Body>, Error> {
    Principal::from_request(req)?.require_admin()?;
    let id: ProductId = path_param(req, "id")?;
    let precondition = if_match(req)?;
    let body: UpdateProductRequest = parse_body(req)?;
    let changes = ProductChanges::parse(
        &body.name,
        &body.description,
        &body.category,
        body.price_cents,
    )?;
    let product = products.update(&id, precondition, &changes).await?;
    tracing::info!(product_id = %id, version = %product.version, "product updated");
    Ok(with_etag(
        json_response(StatusCode::OK, &product),
        product.version,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::{Description, PRICE_RANGE};
    use shared::domain::{NewProduct, Product, UserId, Version, now};
    use shared::memory::InMemoryProducts;
    use shared::testing::{ApiRequest, status_and_json};
    /// Highest `price_cents` accepted (the domain's bound).
    const MAX_PRICE_CENTS: i64 = PRICE_RANGE.max;

    const BODY: &str =
        r#"{"name":"Kettle","description":"Boils","category":"kitchen","price_cents":2500}"#;

    /// `PUT /products/SKU-1` with `If-Match` when given, from no one yet.
    fn put(if_match: Option<&str>, body: &str) -> ApiRequest {
        let req = ApiRequest::new("PUT", "/products/{id}")
            .path("id", "SKU-1")
            .raw_body(body);
        match if_match {
            Some(tag) => req.header("if-match", tag),
            None => req,
        }
    }

    async fn send_request(
        products: &InMemoryProducts,
        req: ApiRequest,
    ) -> (u16, Value, Response<Body>) {
        let Ok(response) = handle(products, req.build()).await;
        let (status, json) = status_and_json(&response);
        (status, json, response)
    }

    /// An admin's `PUT /products/SKU-1`.
    async fn send(
        products: &InMemoryProducts,
        if_match: Option<&str>,
        body: &str,
    ) -> (u16, Value, Response<Body>) {
        send_request(products, put(if_match, body).as_admin()).await
    }

    fn teapot() -> Product {
        NewProduct::parse("Teapot", "", "kitchen", 1999, 7)
            .unwrap()
            .into_product(ProductId::parse("SKU-1").unwrap(), now())
    }

    fn sku1() -> ProductId {
        ProductId::parse("SKU-1").unwrap()
    }

    #[tokio::test]
    async fn a_matching_version_updates_the_product_and_returns_the_new_etag() {
        let products = InMemoryProducts::with([teapot()]);

        let (status, body, response) = send(&products, Some("\"1\""), BODY).await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(body["name"], "Kettle");
        assert_eq!(body["price_cents"], 2500);
        assert_eq!(body["stock"], 7);
        assert_eq!(body["version"], 2);
        assert_eq!(response.headers()["etag"], "\"2\"");
        let stored = products.find(&sku1()).unwrap();
        assert_eq!(serde_json::to_value(&stored).unwrap(), body);
    }

    #[tokio::test]
    async fn a_customer_may_not_update_a_product() {
        let products = InMemoryProducts::with([teapot()]);
        let before = products.find(&sku1()).unwrap();

        let (status, body, _) = send_request(
            &products,
            put(Some("\"1\""), BODY).as_customer(UserId::new()),
        )
        .await;

        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert_eq!(products.find(&sku1()).unwrap(), before);
    }

    #[tokio::test]
    async fn a_request_without_a_token_is_401_before_the_body_is_read() {
        let products = InMemoryProducts::with([teapot()]);

        let (status, body, _) = send_request(&products, put(None, "{not json")).await;

        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        assert_eq!(products.find(&sku1()).unwrap().version, Version::FIRST);
    }

    #[tokio::test]
    async fn a_stale_version_is_a_412_and_changes_nothing() {
        let products = InMemoryProducts::with([teapot()]);
        let (first, _, _) = send(&products, Some("\"1\""), BODY).await;

        let (second, body, _) = send(&products, Some("\"1\""), BODY).await;

        assert_eq!(first, 200);
        assert_eq!(second, 412);
        assert_eq!(body["error"]["code"], "PRECONDITION_FAILED");
        assert_eq!(products.find(&sku1()).unwrap().version, Version::new(2));
    }

    #[tokio::test]
    async fn without_if_match_the_update_is_a_428_and_changes_nothing() {
        let products = InMemoryProducts::with([teapot()]);
        let before = products.find(&sku1()).unwrap();

        let (status, body, _) = send(&products, None, BODY).await;

        assert_eq!(status, 428);
        assert_eq!(body["error"]["code"], "PRECONDITION_REQUIRED");
        assert_eq!(products.find(&sku1()).unwrap(), before);
    }

    #[tokio::test]
    async fn if_match_any_updates_whatever_version_is_stored() {
        let products = InMemoryProducts::with([teapot()]);

        let (status, body, _) = send(&products, Some("*"), BODY).await;

        assert_eq!(status, 200);
        assert_eq!(body["version"], 2);
    }

    #[tokio::test]
    async fn stock_and_the_fields_the_server_sets_are_not_allowed() {
        let products = InMemoryProducts::with([teapot()]);
        let before = products.find(&sku1()).unwrap();

        for (field, value) in [
            ("stock", json!(99)),
            ("id", json!("SKU-2")),
            ("version", json!(5)),
            ("role", json!("admin")),
            ("created_at", json!("2025-01-01T00:00:00Z")),
            ("updated_at", json!("2025-01-01T00:00:00Z")),
        ] {
            let mut body = json!({"name": "Kettle", "category": "kitchen", "price_cents": 2500});
            body[field] = value;

            let (status, body, _) = send(&products, Some("\"1\""), &body.to_string()).await;

            assert_eq!(status, 400, "{field}");
            assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "{field}");
            assert_eq!(
                body["error"]["details"],
                json!([{"field": field, "message": "is not allowed"}])
            );
        }
        assert_eq!(products.find(&sku1()).unwrap(), before);
    }

    #[tokio::test]
    async fn an_unknown_product_is_not_found() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send(&products, Some("\"1\""), BODY).await;

        assert_eq!(status, 404);
        assert_eq!(body["error"]["message"], "product SKU-1 not found");
    }

    #[tokio::test]
    async fn every_broken_rule_is_reported_with_its_field() {
        let products = InMemoryProducts::with([teapot()]);
        let body = json!({
            "name": " ",
            "description": "x".repeat(Description::MAX_CHARS + 1),
            "category": "",
            "price_cents": MAX_PRICE_CENTS + 1,
        });

        let (status, body, _) = send(&products, Some("\"1\""), &body.to_string()).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([
                {"field": "category", "message": "must not be empty"},
                {"field": "description", "message": "must be at most 2000 long"},
                {"field": "name", "message": "must not be empty"},
                {"field": "price_cents", "message": "must be at most 100000000"}
            ])
        );
        assert_eq!(products.find(&sku1()).unwrap().version, Version::FIRST);
    }

    #[tokio::test]
    async fn the_domain_parse_still_refuses_what_the_rules_let_through() {
        let products = InMemoryProducts::with([teapot()]);
        let body = r#"{"name":"Kettle","category":"Kitchen Tools","price_cents":0}"#;

        let (status, body, _) = send(&products, Some("\"1\""), body).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "category", "message": "must contain only letters a-z, digits and '-'"}])
        );
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let products = InMemoryProducts::with([teapot()]);
        products.fail_with("throttled");

        let (status, body, _) = send(&products, Some("\"1\""), BODY).await;

        assert_eq!(status, 500);
        assert_eq!(body["error"]["message"], "internal error");
    }
}
