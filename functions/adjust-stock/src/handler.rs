//! `PATCH /products/{id}/stock` with body `{"delta": <signed integer>}` -> `200` with the
//! product (and its `ETag`, which a stock change does not alter).
//!
//! `delta` is non-zero and at most 1 000 000 either way; the change is one atomic update, so
//! concurrent adjustments and reservations never lose units and stock never goes below zero.
//!
//! Errors: `400 VALIDATION_ERROR` (bad id or body; field `delta`), `404 NOT_FOUND`,
//! `409 CONFLICT` (`insufficient stock: product <id> has N, cannot remove M`),
//! `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::Error;
use shared::domain::{ProductId, StockDelta};
use shared::http::{HttpResult, json_response, parse_json, path_param, respond, with_etag};
use shared::ports::StockAdjuster;

/// The request body; `delta` is read as `i64` and parsed into a [`StockDelta`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustStockRequest {
    delta: i64,
}

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<A: StockAdjuster>(products: &A, req: Request) -> HttpResult {
    respond(adjust_stock(products, &req).await)
}

async fn adjust_stock<A: StockAdjuster>(
    products: &A,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let id: ProductId = path_param(req, "id")?;
    let body: AdjustStockRequest = parse_json(req)?;
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
    use shared::domain::{NewProduct, Product, now};
    use shared::memory::InMemoryProducts;

    fn patch_stock(id: &str, body: &str) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/apigw-http-v2-sample.json"))
                .unwrap();
        event["routeKey"] = json!("PATCH /products/{id}/stock");
        event["rawPath"] = json!(format!("/products/{id}/stock"));
        event["rawQueryString"] = json!("");
        event["requestContext"]["http"]["method"] = json!("PATCH");
        event["requestContext"]["http"]["path"] = json!(format!("/products/{id}/stock"));
        event["pathParameters"] = json!({ "id": id });
        event["body"] = json!(body);
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    async fn send(products: &InMemoryProducts, body: &str) -> (StatusCode, Value) {
        let Ok(response) = handle(products, patch_stock("SKU-1", body)).await;
        let json = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status(), json)
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

        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["stock"], 7);
        assert_eq!(body["version"], 1);
        assert_eq!(products.stock(&sku1()), Some(7));
    }

    #[tokio::test]
    async fn a_negative_delta_may_take_the_stock_down_to_zero() {
        let products = InMemoryProducts::with([teapot(3)]);

        let (status, body) = send(&products, r#"{"delta":-3}"#).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["stock"], 0);
    }

    #[tokio::test]
    async fn taking_more_than_the_stock_is_a_409_and_changes_nothing() {
        let products = InMemoryProducts::with([teapot(2)]);

        let (status, body) = send(&products, r#"{"delta":-3}"#).await;

        assert_eq!(status, StatusCode::CONFLICT);
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

        for delta in ["0", "1000001", "-1000001"] {
            let (status, body) = send(&products, &format!(r#"{{"delta":{delta}}}"#)).await;

            assert_eq!(status, StatusCode::BAD_REQUEST, "{delta}");
            assert_eq!(body["error"]["details"][0]["field"], "delta", "{delta}");
        }
        assert_eq!(products.stock(&sku1()), Some(2));
    }

    #[tokio::test]
    async fn a_missing_delta_or_an_extra_field_is_named() {
        let products = InMemoryProducts::with([teapot(2)]);

        let (_, missing) = send(&products, "{}").await;
        let (_, extra) = send(&products, r#"{"delta":1,"stock":5}"#).await;

        assert_eq!(
            missing["error"]["details"],
            json!([{"field": "delta", "message": "is required"}])
        );
        assert_eq!(
            extra["error"]["details"],
            json!([{"field": "stock", "message": "is not allowed"}])
        );
    }

    #[tokio::test]
    async fn an_unknown_product_is_not_found() {
        let products = InMemoryProducts::new();

        let (status, body) = send(&products, r#"{"delta":1}"#).await;

        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "NOT_FOUND");
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let products = InMemoryProducts::with([teapot(2)]);
        products.fail_with("throttled");

        let (status, body) = send(&products, r#"{"delta":1}"#).await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["message"], "internal error");
    }
}
