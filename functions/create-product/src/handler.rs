//! `POST /products`: body `{"name","description"?,"category","price_cents","stock"?}` ->
//! `201` with the product, `ETag: "1"` and `location: /products/{id}`.
//!
//! The id is generated (a UUID v7 string). `description` defaults to `""` and `stock` to `0`.
//! Errors: `400 VALIDATION_ERROR` (bad body, unknown field or bad value, every bad field
//! listed), `500 INTERNAL_ERROR` (store failed).

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::Error;
use shared::domain::{NewProduct, ProductId, now};
use shared::http::{HttpResult, created, parse_json, respond, with_etag};
use shared::ports::ProductWriter;

/// The request body. Numbers are read as `i64` so that a negative value gets the domain's
/// message (`must be between 0 and ...`) rather than a type error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateProductRequest {
    name: String,
    #[serde(default)]
    description: String,
    category: String,
    price_cents: i64,
    #[serde(default)]
    stock: i64,
}

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<W: ProductWriter>(products: &W, req: Request) -> HttpResult {
    respond(create_product(products, &req).await)
}

async fn create_product<W: ProductWriter>(
    products: &W,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let body: CreateProductRequest = parse_json(req)?;
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
    use lambda_http::http::StatusCode;
    use serde_json::{Value, json};
    use shared::memory::InMemoryProducts;

    fn post_products(body: &str) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/apigw-http-v2-sample.json"))
                .unwrap();
        event["routeKey"] = json!("POST /products");
        event["rawPath"] = json!("/products");
        event["rawQueryString"] = json!("");
        event["requestContext"]["http"]["path"] = json!("/products");
        event["pathParameters"] = json!({});
        event["body"] = json!(body);
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    async fn send(products: &InMemoryProducts, body: &str) -> (StatusCode, Value, Response<Body>) {
        let Ok(response) = handle(products, post_products(body)).await;
        let json = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status(), json, response)
    }

    #[tokio::test]
    async fn a_valid_product_is_created_with_its_location_and_etag() {
        let products = InMemoryProducts::new();

        let (status, body, response) = send(
            &products,
            r#"{"name":" Teapot ","description":"Holds 1 l","category":"Kitchen","price_cents":1999,"stock":12}"#,
        )
        .await;

        assert_eq!(status, StatusCode::CREATED);
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
    async fn description_and_stock_may_be_left_out() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send(
            &products,
            r#"{"name":"Teapot","category":"kitchen","price_cents":0}"#,
        )
        .await;

        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["description"], "");
        assert_eq!(body["stock"], 0);
    }

    #[tokio::test]
    async fn every_bad_value_is_reported_with_its_field() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send(
            &products,
            r#"{"name":"","category":"no spaces","price_cents":-1,"stock":-2}"#,
        )
        .await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"]["details"],
            json!([
                {"field": "name", "message": "must not be empty"},
                {"field": "category", "message": "must contain only letters a-z, digits and '-'"},
                {"field": "price_cents", "message": "must be between 0 and 100000000"},
                {"field": "stock", "message": "must be between 0 and 1000000"}
            ])
        );
        assert!(products.all().is_empty());
    }

    #[tokio::test]
    async fn an_unknown_field_is_refused_by_name() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send(
            &products,
            r#"{"name":"T","category":"k","price_cents":1,"id":"SKU-1"}"#,
        )
        .await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "id", "message": "is not allowed"}])
        );
    }

    #[tokio::test]
    async fn a_missing_price_is_named() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send(&products, r#"{"name":"T","category":"k"}"#).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "price_cents", "message": "is required"}])
        );
    }

    #[tokio::test]
    async fn a_fractional_price_is_a_validation_error_on_price_cents() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send(
            &products,
            r#"{"name":"T","category":"k","price_cents":19.99}"#,
        )
        .await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"][0]["field"], "price_cents");
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_a_validation_error_on_body() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send(&products, "{\"name\": ").await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"][0]["field"], "body");
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let products = InMemoryProducts::new();
        products.fail_with("dynamodb is down");

        let (status, body, _) =
            send(&products, r#"{"name":"T","category":"k","price_cents":1}"#).await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            json!({"error": {"code": "INTERNAL_ERROR", "message": "internal error"}})
        );
    }
}
