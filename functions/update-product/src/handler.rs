//! `PUT /products/{id}` with `If-Match: "<version>"` and body
//! `{"name","description"?,"category","price_cents"}` -> `200` with the updated product and
//! its new `ETag`.
//!
//! The catalog fields are replaced (a missing `description` becomes `""`) and `version` goes
//! up by one. `stock` is not accepted here (`400`, `stock: is not allowed`): it changes only
//! through `PATCH /products/{id}/stock` and reservations, so an edit never races with them.
//! `If-Match: *` updates whatever version is stored.
//!
//! Errors: `400 VALIDATION_ERROR` (bad id, body or value; every bad field listed),
//! `404 NOT_FOUND`, `412 PRECONDITION_FAILED` (someone updated it since the client's GET:
//! read it again), `428 PRECONDITION_REQUIRED` (no `If-Match`), `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::Error;
use shared::domain::{ProductChanges, ProductId};
use shared::http::{
    HttpResult, if_match, json_response, parse_json, path_param, respond, with_etag,
};
use shared::ports::ProductUpdater;

/// The request body. The price is read as `i64` so that a negative value gets the domain's
/// message rather than a type error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateProductRequest {
    name: String,
    #[serde(default)]
    description: String,
    category: String,
    price_cents: i64,
}

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<U: ProductUpdater>(products: &U, req: Request) -> HttpResult {
    respond(update_product(products, &req).await)
}

async fn update_product<U: ProductUpdater>(
    products: &U,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let id: ProductId = path_param(req, "id")?;
    let precondition = if_match(req)?;
    let body: UpdateProductRequest = parse_json(req)?;
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
    use shared::domain::{NewProduct, Product, Version, now};
    use shared::memory::InMemoryProducts;

    const BODY: &str =
        r#"{"name":"Kettle","description":"Boils","category":"kitchen","price_cents":2500}"#;

    fn put_product(id: &str, if_match: Option<&str>, body: &str) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/apigw-http-v2-sample.json"))
                .unwrap();
        event["routeKey"] = json!("PUT /products/{id}");
        event["rawPath"] = json!(format!("/products/{id}"));
        event["rawQueryString"] = json!("");
        event["requestContext"]["http"]["method"] = json!("PUT");
        event["requestContext"]["http"]["path"] = json!(format!("/products/{id}"));
        event["pathParameters"] = json!({ "id": id });
        event["headers"] = match if_match {
            Some(tag) => json!({ "if-match": tag }),
            None => json!({}),
        };
        event["body"] = json!(body);
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    async fn send(
        products: &InMemoryProducts,
        if_match: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value, Response<Body>) {
        let Ok(response) = handle(products, put_product("SKU-1", if_match, body)).await;
        let json = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status(), json, response)
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

        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["name"], "Kettle");
        assert_eq!(body["price_cents"], 2500);
        assert_eq!(body["stock"], 7);
        assert_eq!(body["version"], 2);
        assert_eq!(response.headers()["etag"], "\"2\"");
        let stored = products.find(&sku1()).unwrap();
        assert_eq!(serde_json::to_value(&stored).unwrap(), body);
    }

    #[tokio::test]
    async fn a_stale_version_is_a_412_and_changes_nothing() {
        let products = InMemoryProducts::with([teapot()]);
        let (first, _, _) = send(&products, Some("\"1\""), BODY).await;

        let (second, body, _) = send(&products, Some("\"1\""), BODY).await;

        assert_eq!(first, StatusCode::OK);
        assert_eq!(second, StatusCode::PRECONDITION_FAILED);
        assert_eq!(body["error"]["code"], "PRECONDITION_FAILED");
        assert_eq!(products.find(&sku1()).unwrap().version, Version::new(2));
    }

    #[tokio::test]
    async fn without_if_match_the_update_is_a_428_and_changes_nothing() {
        let products = InMemoryProducts::with([teapot()]);
        let before = products.find(&sku1()).unwrap();

        let (status, body, _) = send(&products, None, BODY).await;

        assert_eq!(status, StatusCode::PRECONDITION_REQUIRED);
        assert_eq!(body["error"]["code"], "PRECONDITION_REQUIRED");
        assert_eq!(products.find(&sku1()).unwrap(), before);
    }

    #[tokio::test]
    async fn if_match_any_updates_whatever_version_is_stored() {
        let products = InMemoryProducts::with([teapot()]);

        let (status, body, _) = send(&products, Some("*"), BODY).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["version"], 2);
    }

    #[tokio::test]
    async fn stock_in_the_body_is_not_allowed() {
        let products = InMemoryProducts::with([teapot()]);
        let body = r#"{"name":"Kettle","category":"kitchen","price_cents":2500,"stock":99}"#;

        let (status, body, _) = send(&products, Some("\"1\""), body).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "stock", "message": "is not allowed"}])
        );
        assert_eq!(products.stock(&sku1()), Some(7));
    }

    #[tokio::test]
    async fn an_unknown_product_is_not_found() {
        let products = InMemoryProducts::new();

        let (status, body, _) = send(&products, Some("\"1\""), BODY).await;

        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["message"], "product SKU-1 not found");
    }

    #[tokio::test]
    async fn bad_values_are_reported_with_their_fields() {
        let products = InMemoryProducts::with([teapot()]);
        let body = r#"{"name":" ","category":"kitchen","price_cents":-5}"#;

        let (status, body, _) = send(&products, Some("\"1\""), body).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"]["details"],
            json!([
                {"field": "name", "message": "must not be empty"},
                {"field": "price_cents", "message": "must be between 0 and 100000000"}
            ])
        );
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let products = InMemoryProducts::with([teapot()]);
        products.fail_with("throttled");

        let (status, body, _) = send(&products, Some("\"1\""), BODY).await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["message"], "internal error");
    }
}
