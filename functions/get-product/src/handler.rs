//! `GET /products/{id}` -> `200` with the product and `ETag: "<version>"` (send it back in
//! `If-Match` to update the product).
//!
//! Errors: `400 VALIDATION_ERROR` on field `id` (missing or not a SKU), `404 NOT_FOUND`,
//! `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::domain::ProductId;
use shared::http::{HttpResult, json_response, path_param, respond, with_etag};
use shared::ports::ProductReader;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<R: ProductReader>(products: &R, req: Request) -> HttpResult {
    respond(get_product(products, &req).await)
}

async fn get_product<R: ProductReader>(
    products: &R,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let id: ProductId = path_param(req, "id")?;
    let product = products
        .get(&id)
        .await?
        .ok_or_else(|| Error::not_found("product", &id))?;
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

    fn get_products(path_parameters: Value) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/apigw-http-v2-get.json")).unwrap();
        let id = path_parameters["id"].as_str().unwrap_or("").to_owned();
        event["routeKey"] = json!("GET /products/{id}");
        event["rawPath"] = json!(format!("/products/{id}"));
        event["rawQueryString"] = json!("");
        event["requestContext"]["http"]["path"] = json!(format!("/products/{id}"));
        event["pathParameters"] = path_parameters;
        event["body"] = Value::Null;
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    async fn send(
        products: &InMemoryProducts,
        path_parameters: Value,
    ) -> (StatusCode, Value, Response<Body>) {
        let Ok(response) = handle(products, get_products(path_parameters)).await;
        let json = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status(), json, response)
    }

    fn teapot() -> Product {
        NewProduct::parse("Teapot", "", "kitchen", 1999, 3)
            .unwrap()
            .into_product(ProductId::parse("SKU-1").unwrap(), now())
    }

    #[tokio::test]
    async fn an_existing_product_is_returned_with_its_etag() {
        let product = teapot();
        let products = InMemoryProducts::with([product.clone()]);

        let (status, body, response) = send(&products, json!({"id": "SKU-1"})).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, serde_json::to_value(&product).unwrap());
        assert_eq!(response.headers()["etag"], "\"1\"");
    }

    #[tokio::test]
    async fn an_unknown_product_is_not_found() {
        let products = InMemoryProducts::with([teapot()]);

        let (status, body, _) = send(&products, json!({"id": "SKU-2"})).await;

        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            json!({"error": {"code": "NOT_FOUND", "message": "product SKU-2 not found"}})
        );
    }

    #[tokio::test]
    async fn a_malformed_id_is_a_validation_error_naming_id() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send(&products, json!({"id": "not a sku!"})).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"][0]["field"], "id");
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let products = InMemoryProducts::new();
        products.fail_with("throttled");

        let (status, body, _) = send(&products, json!({"id": "SKU-1"})).await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["message"], "internal error");
    }
}
