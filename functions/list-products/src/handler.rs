//! `GET /products?category=&limit=&cursor=` -> `200` with
//! `{"items":[<product>...],"next":"<cursor>"|null}`.
//!
//! `category` (optional; lowercased like a stored category) lists only that category, in id
//! order, through the `category-index`; without it the whole catalog is scanned. `limit` is
//! 1..=100 (default 20); `cursor` is the `next` of the previous page with the same
//! `category`, passed back unchanged. An empty `category` or `cursor` counts as absent.
//! Errors: `400 VALIDATION_ERROR` on field `category`, `limit` or `cursor`,
//! `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::domain::Category;
use shared::http::{HttpResult, json_response, query_param, respond};
use shared::ports::{Cursor, PageLimit, ProductLister};

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<L: ProductLister>(products: &L, req: Request) -> HttpResult {
    respond(list_products(products, &req).await)
}

async fn list_products<L: ProductLister>(
    products: &L,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let category = query_param(req, "category")
        .filter(|c| !c.trim().is_empty())
        .map(Category::parse)
        .transpose()
        .map_err(|e| Error::invalid("category", e.0))?;
    let limit = query_param(req, "limit")
        .map(PageLimit::parse)
        .transpose()
        .map_err(|e| Error::invalid("limit", e.0))?
        .unwrap_or_default();
    let cursor = query_param(req, "cursor")
        .filter(|c| !c.is_empty())
        .map(Cursor::from_client);
    let page = products
        .list(category.as_ref(), limit, cursor.as_ref())
        .await?;
    Ok(json_response(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::{NewProduct, Product, ProductId, now};
    use shared::memory::InMemoryProducts;

    fn get_products(query: &str) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/apigw-http-v2-get.json")).unwrap();
        event["routeKey"] = json!("GET /products");
        event["rawPath"] = json!("/products");
        event["rawQueryString"] = json!(query);
        event["queryStringParameters"] = json!({});
        event["requestContext"]["http"]["path"] = json!("/products");
        event["pathParameters"] = json!({});
        event["body"] = Value::Null;
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    async fn send(products: &InMemoryProducts, query: &str) -> (StatusCode, Value) {
        let Ok(response) = handle(products, get_products(query)).await;
        let json = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status(), json)
    }

    fn product(id: &str, category: &str) -> Product {
        NewProduct::parse(id, "", category, 100, 1)
            .unwrap()
            .into_product(ProductId::parse(id).unwrap(), now())
    }

    fn ids(body: &Value) -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn without_a_limit_a_page_holds_20_products_and_a_cursor() {
        let products =
            InMemoryProducts::with((0..25).map(|i| product(&format!("SKU-{i:02}"), "misc")));

        let (status, body) = send(&products, "").await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(ids(&body).len(), 20);
        assert!(body["next"].is_string(), "{body}");
    }

    #[tokio::test]
    async fn a_category_lists_only_its_products_and_pages_through_them() {
        let products = InMemoryProducts::with([
            product("A", "books"),
            product("B", "games"),
            product("C", "books"),
            product("D", "books"),
        ]);

        let (status, first) = send(&products, "category=Books&limit=2").await;
        let next = first["next"].as_str().unwrap();
        let (_, second) = send(&products, &format!("category=books&limit=2&cursor={next}")).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(ids(&first), ["A", "C"]);
        assert_eq!(ids(&second), ["D"]);
        assert_eq!(second["next"], Value::Null);
    }

    #[tokio::test]
    async fn an_empty_category_lists_everything() {
        let products = InMemoryProducts::with([product("A", "books"), product("B", "games")]);

        let (status, body) = send(&products, "category=").await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(ids(&body), ["A", "B"]);
    }

    #[tokio::test]
    async fn a_malformed_category_is_a_validation_error_naming_category() {
        let products = InMemoryProducts::new();

        let (status, body) = send(&products, "category=no%20spaces").await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"][0]["field"], "category");
    }

    #[tokio::test]
    async fn a_limit_outside_1_to_100_is_a_validation_error_naming_limit() {
        let products = InMemoryProducts::new();

        for query in ["limit=0", "limit=101", "limit=abc"] {
            let (status, body) = send(&products, query).await;

            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(body["error"]["details"][0]["field"], "limit", "{query}");
        }
    }

    #[tokio::test]
    async fn a_cursor_we_did_not_issue_is_a_validation_error_naming_cursor() {
        let products = InMemoryProducts::with([product("A", "books")]);

        let (status, body) = send(&products, "cursor=bm90LWEtY3Vyc29y").await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"][0]["field"], "cursor");
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let products = InMemoryProducts::new();
        products.fail_with("throttled");

        let (status, body) = send(&products, "").await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["message"], "internal error");
    }
}
