//! `PATCH /products/{id}/stock` with body `{"delta": <signed integer>}` -> `200` with the
//! product (and its `ETag`, which a stock change does not alter).
//!
//! Who may call (checked first, before the body is read or the store is touched): **admins**
//! only. A customer is `403 FORBIDDEN`; no token is `401 UNAUTHORIZED`.
//!
//! `delta` is -1 000 000..=1 000 000 (its rule) and non-zero (the domain parse); the change is
//! one atomic update, so concurrent adjustments and reservations never lose units and stock
//! never goes below zero. Any other field (`stock`, `version`, ...) is refused with
//! `is not allowed`: the stock is only ever changed by a delta.
//!
//! Errors: `400 VALIDATION_ERROR` (bad id or body; field `delta`), `401 UNAUTHORIZED`,
//! `403 FORBIDDEN`, `404 NOT_FOUND`, `409 CONFLICT` (`insufficient stock: product <id> has N,
//! cannot remove M`), `413 PAYLOAD_TOO_LARGE`, `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::api::AdjustStockRequest;
use shared::auth::Principal;
use shared::domain::{ProductId, StockDelta};
use shared::http::{HttpResult, json_response, parse_body, path_param, respond, with_etag};
use shared::ports::StockAdjuster;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<A: StockAdjuster>(products: &A, req: Request) -> HttpResult {
    respond(adjust_stock(products, &req).await)
}

async fn adjust_stock<A: StockAdjuster>(
    products: &A,
    req: &Request,
) -> Result<Response<Body>, Error> {
    Principal::from_request(req)?.require_admin()?;
    let id: ProductId = path_param(req, "id")?;
    let body: AdjustStockRequest = parse_body(req)?;
    let delta = StockDelta::parse(body.delta).map_err(|e| Error::invalid("delta", e.0))?;
    let product = products.adjust(&id, delta).await?;
    tracing::info!(product_id = %id, delta = delta.get(), stock = product.stock, "stock adjusted");
    Ok(with_etag(
        json_response(StatusCode::OK, &product),
        product.version,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::{NewProduct, Product, UserId, now};
    use shared::memory::InMemoryProducts;
    use shared::testing::{ApiRequest, status_and_json};

    /// `PATCH /products/SKU-1/stock` with `body`, from no one yet.
    fn patch(body: &str) -> ApiRequest {
        ApiRequest::new("PATCH", "/products/{id}/stock")
            .path("id", "SKU-1")
            .raw_body(body)
    }

    async fn send_request(products: &InMemoryProducts, req: ApiRequest) -> (u16, Value) {
        let Ok(response) = handle(products, req.build()).await;
        status_and_json(&response)
    }

    /// An admin's `PATCH /products/SKU-1/stock`.
    async fn send(products: &InMemoryProducts, body: &str) -> (u16, Value) {
        send_request(products, patch(body).as_admin()).await
    }

    fn teapot(stock: i64) -> Product {
        NewProduct::parse("Teapot", "", "kitchen", 1999, stock)
            .unwrap()
            .into_product(ProductId::parse("SKU-1").unwrap(), now())
    }

    fn sku1() -> ProductId {
        ProductId::parse("SKU-1").unwrap()
    }

    #[tokio::test]
    async fn a_positive_delta_adds_stock_without_changing_the_version() {
        let products = InMemoryProducts::with([teapot(3)]);

        let (status, body) = send(&products, r#"{"delta":4}"#).await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(body["stock"], 7);
        assert_eq!(body["version"], 1);
        assert_eq!(products.stock(&sku1()), Some(7));
    }

    #[tokio::test]
    async fn a_customer_may_not_adjust_stock() {
        let products = InMemoryProducts::with([teapot(3)]);

        let (status, body) = send_request(
            &products,
            patch(r#"{"delta":4}"#).as_customer(UserId::new()),
        )
        .await;

        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert_eq!(products.stock(&sku1()), Some(3));
    }

    #[tokio::test]
    async fn a_request_without_a_token_is_401_before_the_body_is_read() {
        let products = InMemoryProducts::with([teapot(3)]);

        let (status, body) = send_request(&products, patch("{not json")).await;

        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        assert_eq!(products.stock(&sku1()), Some(3));
    }

    #[tokio::test]
    async fn a_negative_delta_may_take_the_stock_down_to_zero() {
        let products = InMemoryProducts::with([teapot(3)]);

        let (status, body) = send(&products, r#"{"delta":-3}"#).await;

        assert_eq!(status, 200);
        assert_eq!(body["stock"], 0);
    }

    #[tokio::test]
    async fn taking_more_than_the_stock_is_a_409_and_changes_nothing() {
        let products = InMemoryProducts::with([teapot(2)]);

        let (status, body) = send(&products, r#"{"delta":-3}"#).await;

        assert_eq!(status, 409);
        assert_eq!(
            body,
            json!({"error": {
                "code": "CONFLICT",
                "message": "insufficient stock: product SKU-1 has 2, cannot remove 3"
            }})
        );
        assert_eq!(products.stock(&sku1()), Some(2));
    }

    #[tokio::test]
    async fn a_zero_or_too_large_delta_is_a_validation_error_naming_delta() {
        let products = InMemoryProducts::with([teapot(2)]);

        for (delta, message) in [
            ("0", "must not be zero"),
            ("1000001", "must be at most 1000000"),
            ("-1000001", "must be at least -1000000"),
        ] {
            let (status, body) = send(&products, &format!(r#"{{"delta":{delta}}}"#)).await;

            assert_eq!(status, 400, "{delta}");
            assert_eq!(
                body["error"]["details"],
                json!([{"field": "delta", "message": message}]),
                "{delta}"
            );
        }
        assert_eq!(products.stock(&sku1()), Some(2));
    }

    #[tokio::test]
    async fn a_missing_delta_is_named() {
        let products = InMemoryProducts::with([teapot(2)]);

        let (status, body) = send(&products, "{}").await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "delta", "message": "is required"}])
        );
    }

    #[tokio::test]
    async fn any_field_but_delta_is_refused_by_name() {
        let products = InMemoryProducts::with([teapot(2)]);

        for field in ["stock", "version", "id", "role"] {
            let body = json!({"delta": 1, field: 5});

            let (status, body) = send(&products, &body.to_string()).await;

            assert_eq!(status, 400, "{field}");
            assert_eq!(
                body["error"]["details"],
                json!([{"field": field, "message": "is not allowed"}])
            );
        }
        assert_eq!(products.stock(&sku1()), Some(2));
    }

    #[tokio::test]
    async fn an_unknown_product_is_not_found() {
        let products = InMemoryProducts::new();

        let (status, body) = send(&products, r#"{"delta":1}"#).await;

        assert_eq!(status, 404);
        assert_eq!(body["error"]["code"], "NOT_FOUND");
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let products = InMemoryProducts::with([teapot(2)]);
        products.fail_with("throttled");

        let (status, body) = send(&products, r#"{"delta":1}"#).await;

        assert_eq!(status, 500);
        assert_eq!(body["error"]["message"], "internal error");
    }
}
