//! `DELETE /products/{id}` -> `204` with no body.
//!
//! Who may call (checked first, before the store is touched): **admins** only. A customer is
//! `403 FORBIDDEN`; no token is `401 UNAUTHORIZED`.
//!
//! Errors: `400 VALIDATION_ERROR` on field `id`, `401 UNAUTHORIZED`, `403 FORBIDDEN`,
//! `404 NOT_FOUND` (never existed or already deleted), `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::auth::Principal;
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
    Principal::from_request(req)?.require_admin()?;
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
    use shared::domain::{NewProduct, Product, UserId, now};
    use shared::memory::InMemoryProducts;
    use shared::testing::{ApiRequest, status_and_json};

    /// `DELETE /products/{id}` from no one yet.
    fn delete(id: &str) -> ApiRequest {
        ApiRequest::new("DELETE", "/products/{id}").path("id", id)
    }

    async fn send_request(products: &InMemoryProducts, req: ApiRequest) -> (u16, Value) {
        let Ok(response) = handle(products, req.build()).await;
        status_and_json(&response)
    }

    /// An admin's `DELETE /products/{id}`: the status and the JSON body (`null` when none).
    async fn send(products: &InMemoryProducts, id: &str) -> (u16, Value) {
        send_request(products, delete(id).as_admin()).await
    }

    fn teapot() -> Product {
        NewProduct::parse("Teapot", "", "kitchen", 1999, 3)
            .unwrap()
            .into_product(ProductId::parse("SKU-1").unwrap(), now())
    }

    #[tokio::test]
    async fn an_admin_deletes_a_product_with_204_and_no_body() {
        let products = InMemoryProducts::with([teapot()]);

        let (status, body) = send(&products, "SKU-1").await;

        assert_eq!(status, 204);
        assert_eq!(body, Value::Null);
        assert!(products.all().is_empty());
    }

    #[tokio::test]
    async fn a_customer_may_not_delete_a_product() {
        let products = InMemoryProducts::with([teapot()]);

        let (status, body) =
            send_request(&products, delete("SKU-1").as_customer(UserId::new())).await;

        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert_eq!(products.all().len(), 1);
    }

    #[tokio::test]
    async fn a_request_without_a_token_is_401_and_deletes_nothing() {
        let products = InMemoryProducts::with([teapot()]);

        let (status, body) = send_request(&products, delete("SKU-1")).await;

        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        assert_eq!(products.all().len(), 1);
    }

    #[tokio::test]
    async fn deleting_twice_is_a_404_the_second_time() {
        let products = InMemoryProducts::with([teapot()]);
        send(&products, "SKU-1").await;

        let (status, body) = send(&products, "SKU-1").await;

        assert_eq!(status, 404);
        assert_eq!(
            body,
            json!({"error": {"code": "NOT_FOUND", "message": "product SKU-1 not found"}})
        );
    }

    #[tokio::test]
    async fn a_malformed_id_is_a_validation_error_naming_id() {
        let products = InMemoryProducts::with([teapot()]);

        let (status, body) = send(&products, "bad id").await;

        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["field"], "id");
        assert_eq!(products.all().len(), 1);
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let products = InMemoryProducts::with([teapot()]);
        products.fail_with("throttled");

        let (status, body) = send(&products, "SKU-1").await;

        assert_eq!(status, 500);
        assert_eq!(body["error"]["message"], "internal error");
    }
}
