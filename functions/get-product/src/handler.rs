//! `GET /products/{id}` -> `200` with the product and `ETag: "<version>"` (send it back in
//! `If-Match` to update the product).
//!
//! Who may call: **anyone**. The catalog is public: the route has no authorizer
//! (`Auth: {Authorizer: NONE}`), so the handler reads no principal, and a token, if sent, makes
//! no difference.
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
    use shared::domain::{NewProduct, Product, UserId, now};
    use shared::memory::InMemoryProducts;
    use shared::testing::{ApiRequest, status_and_json};

    /// `GET /products/{id}` without a token.
    fn get(id: &str) -> ApiRequest {
        ApiRequest::new("GET", "/products/{id}").path("id", id)
    }

    async fn send(products: &InMemoryProducts, req: ApiRequest) -> (u16, Value, Response<Body>) {
        let Ok(response) = handle(products, req.build()).await;
        let (status, json) = status_and_json(&response);
        (status, json, response)
    }

    fn teapot() -> Product {
        NewProduct::parse("Teapot", "", "kitchen", 1999, 3)
            .unwrap()
            .into_product(ProductId::parse("SKU-1").unwrap(), now())
    }

    #[tokio::test]
    async fn anyone_reads_a_product_with_its_etag_without_a_token() {
        let product = teapot();
        let products = InMemoryProducts::with([product.clone()]);

        let (status, body, response) = send(&products, get("SKU-1")).await;

        assert_eq!(status, 200);
        assert_eq!(body, serde_json::to_value(&product).unwrap());
        assert_eq!(response.headers()["etag"], "\"1\"");
    }

    #[tokio::test]
    async fn a_token_makes_no_difference_to_the_answer() {
        let products = InMemoryProducts::with([teapot()]);
        let (_, anonymous, _) = send(&products, get("SKU-1")).await;

        for req in [
            get("SKU-1").as_customer(UserId::new()),
            get("SKU-1").as_admin(),
            get("SKU-1").principal("someone", &[]),
        ] {
            let (status, body, _) = send(&products, req).await;

            assert_eq!(status, 200);
            assert_eq!(body, anonymous);
        }
    }

    #[tokio::test]
    async fn an_unknown_product_is_not_found() {
        let products = InMemoryProducts::with([teapot()]);

        let (status, body, _) = send(&products, get("SKU-2")).await;

        assert_eq!(status, 404);
        assert_eq!(
            body,
            json!({"error": {"code": "NOT_FOUND", "message": "product SKU-2 not found"}})
        );
    }

    #[tokio::test]
    async fn a_malformed_id_is_a_validation_error_naming_id() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send(&products, get("not a sku!")).await;

        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["field"], "id");
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let products = InMemoryProducts::new();
        products.fail_with("throttled");

        let (status, body, _) = send(&products, get("SKU-1")).await;

        assert_eq!(status, 500);
        assert_eq!(body["error"]["message"], "internal error");
    }
}
