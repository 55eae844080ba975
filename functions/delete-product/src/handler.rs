//! `DELETE /products/{id}` -> `204` with no body.
//!
//! Errors: `400 VALIDATION_ERROR` on field `id`, `404 NOT_FOUND` (never existed or already
//! deleted), `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::domain::ProductId;
use shared::http::{HttpResult, path_param, respond};
use shared::ports::ProductDeleter;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<D: ProductDeleter>(products: &D, req: Request) -> HttpResult {
    respond(delete_product(products, &req).await)
}

async fn delete_product<D: ProductDeleter>(
    products: &D,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let id: ProductId = path_param(req, "id")?;
    products.delete(&id).await?;
    tracing::info!(product_id = %id, "product deleted");
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::{NewProduct, Product, now};
    use shared::memory::InMemoryProducts;

    fn delete_products(id: &str) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/apigw-http-v2-get.json")).unwrap();
        event["routeKey"] = json!("DELETE /products/{id}");
        event["rawPath"] = json!(format!("/products/{id}"));
        event["rawQueryString"] = json!("");
        event["requestContext"]["http"]["method"] = json!("DELETE");
        event["requestContext"]["http"]["path"] = json!(format!("/products/{id}"));
        event["pathParameters"] = json!({ "id": id });
        event["body"] = Value::Null;
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    async fn send(products: &InMemoryProducts, id: &str) -> Response<Body> {
        let Ok(response) = handle(products, delete_products(id)).await;
        response
    }

    fn json_of(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    fn teapot() -> Product {
        NewProduct::parse("Teapot", "", "kitchen", 1999, 3)
            .unwrap()
            .into_product(ProductId::parse("SKU-1").unwrap(), now())
    }

    #[tokio::test]
    async fn an_existing_product_is_deleted_with_204_and_no_body() {
        let products = InMemoryProducts::with([teapot()]);

        let response = send(&products, "SKU-1").await;

        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.body().is_empty());
        assert!(products.all().is_empty());
    }

    #[tokio::test]
    async fn deleting_twice_is_a_404_the_second_time() {
        let products = InMemoryProducts::with([teapot()]);
        send(&products, "SKU-1").await;

        let response = send(&products, "SKU-1").await;

        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            json_of(&response),
            json!({"error": {"code": "NOT_FOUND", "message": "product SKU-1 not found"}})
        );
    }

    #[tokio::test]
    async fn a_malformed_id_is_a_validation_error_naming_id() {
        let products = InMemoryProducts::with([teapot()]);

        let response = send(&products, "bad id").await;

        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json_of(&response)["error"]["details"][0]["field"], "id");
        assert_eq!(products.all().len(), 1);
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let products = InMemoryProducts::with([teapot()]);
        products.fail_with("throttled");

        let response = send(&products, "SKU-1").await;

        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json_of(&response)["error"]["message"], "internal error");
    }
}
