//! `GET /products?category=&limit=&cursor=` -> `200` with
//! `{"items":[<product>...],"next":"<cursor>"|null}`.
//!
//! Who may call: **anyone**. The catalog is public: the route has no authorizer
//! (`Auth: {Authorizer: NONE}`), so the handler reads no principal, and a token, if sent, makes
//! no difference.
//!
//! The query is typed. `category` (optional; trimmed, 1..=50 characters, lowercased like a
//! stored category) lists only that category, in id order, through the `category-index`;
//! without it the whole catalog is scanned. `limit` is 1..=100 (default 20); `cursor` is the
//! `next` of the previous page with the same `category`, passed back unchanged (at most 512
//! characters). An empty `category` or `cursor` counts as absent. Any other parameter is
//! refused (`<name>: is not allowed`).
//!
//! Errors: `400 VALIDATION_ERROR` on field `category`, `limit`, `cursor` or an unknown
//! parameter, `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::api::ListProductsQuery;
use shared::domain::Category;
use shared::http::{HttpResult, json_response, parse_query, respond};
use shared::ports::{ProductLister, page_request};

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<L: ProductLister>(products: &L, req: Request) -> HttpResult {
    respond(list_products(products, &req).await)
}

async fn list_products<L: ProductLister>(
    products: &L,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let query: ListProductsQuery = parse_query(req)?;
    let category = query
        .category
        .as_deref()
        .map(Category::parse)
        .transpose()
        .map_err(|e| Error::invalid("category", e.0))?;
    let (limit, cursor) = page_request(query.limit, query.cursor)?;
    let page = products
        .list(category.as_ref(), limit, cursor.as_ref())
        .await?;
    Ok(json_response(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::{NewProduct, Product, ProductId, UserId, now};
    use shared::memory::InMemoryProducts;
    use shared::ports::Cursor;
    use shared::testing::{ApiRequest, status_and_json};

    /// `GET /products?<query>` without a token.
    fn get(query: &[(&str, &str)]) -> ApiRequest {
        ApiRequest::new("GET", "/products").queries(query)
    }

    async fn send(products: &InMemoryProducts, query: &[(&str, &str)]) -> (u16, Value) {
        send_request(products, get(query)).await
    }

    async fn send_request(products: &InMemoryProducts, req: ApiRequest) -> (u16, Value) {
        let Ok(response) = handle(products, req.build()).await;
        status_and_json(&response)
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
    async fn anyone_lists_a_page_of_20_products_and_a_cursor_without_a_token() {
        let products =
            InMemoryProducts::with((0..25).map(|i| product(&format!("SKU-{i:02}"), "misc")));

        let (status, body) = send(&products, &[]).await;

        assert_eq!(status, 200);
        assert_eq!(ids(&body).len(), 20);
        assert!(body["next"].is_string(), "{body}");
    }

    #[tokio::test]
    async fn a_token_makes_no_difference_to_the_answer() {
        let products = InMemoryProducts::with([product("A", "books"), product("B", "games")]);
        let (_, anonymous) = send(&products, &[]).await;

        for req in [
            get(&[]).as_customer(UserId::new()),
            get(&[]).as_admin(),
            get(&[]).principal("someone", &[]),
        ] {
            let (status, body) = send_request(&products, req).await;

            assert_eq!(status, 200);
            assert_eq!(body, anonymous);
        }
    }

    #[tokio::test]
    async fn a_category_lists_only_its_products_and_pages_through_them() {
        let products = InMemoryProducts::with([
            product("A", "books"),
            product("B", "games"),
            product("C", "books"),
            product("D", "books"),
        ]);

        let (status, first) = send(&products, &[("category", " Books "), ("limit", "2")]).await;
        let next = first["next"].as_str().unwrap();
        let (_, second) = send(
            &products,
            &[("category", "books"), ("limit", "2"), ("cursor", next)],
        )
        .await;

        assert_eq!(status, 200);
        assert_eq!(ids(&first), ["A", "C"]);
        assert_eq!(ids(&second), ["D"]);
        assert_eq!(second["next"], Value::Null);
    }

    #[tokio::test]
    async fn an_empty_category_or_cursor_lists_everything() {
        let products = InMemoryProducts::with([product("A", "books"), product("B", "games")]);

        for query in [[("category", "")], [("category", "  ")], [("cursor", "")]] {
            let (status, body) = send(&products, &query).await;

            assert_eq!(status, 200, "{query:?}");
            assert_eq!(ids(&body), ["A", "B"], "{query:?}");
        }
    }

    #[tokio::test]
    async fn a_malformed_category_is_a_validation_error_naming_category() {
        let products = InMemoryProducts::new();

        let (status, body) = send(&products, &[("category", "no spaces")]).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "category", "message": "must contain only letters a-z, digits and '-'"}])
        );
    }

    #[tokio::test]
    async fn a_category_longer_than_the_domain_allows_is_refused_by_its_rule() {
        let products = InMemoryProducts::new();
        let category = "c".repeat(Category::MAX_LEN + 1);

        let (status, body) = send(&products, &[("category", &category)]).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "category", "message": "must be at most 50 long"}])
        );
    }

    #[tokio::test]
    async fn a_limit_outside_1_to_100_is_a_validation_error_naming_limit() {
        let products = InMemoryProducts::new();

        for limit in ["0", "101", "abc", "-1", ""] {
            let (status, body) = send(&products, &[("limit", limit)]).await;

            assert_eq!(status, 400, "{limit}");
            assert_eq!(body["error"]["details"][0]["field"], "limit", "{limit}");
        }
    }

    #[tokio::test]
    async fn an_unknown_query_parameter_is_refused_by_name() {
        let products = InMemoryProducts::new();

        let (status, body) = send(&products, &[("limit", "5"), ("sort", "price")]).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "sort", "message": "is not allowed"}])
        );
    }

    #[tokio::test]
    async fn a_cursor_we_did_not_issue_is_a_validation_error_naming_cursor() {
        let products = InMemoryProducts::with([product("A", "books")]);

        let (status, body) = send(&products, &[("cursor", "bm90LWEtY3Vyc29y")]).await;

        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["field"], "cursor");
    }

    #[tokio::test]
    async fn an_overlong_cursor_is_refused_before_it_is_decoded() {
        let products = InMemoryProducts::with([product("A", "books")]);
        let cursor = "A".repeat(Cursor::MAX_LEN + 1);

        let (status, body) = send(&products, &[("cursor", &cursor)]).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "cursor", "message": "must be at most 512 long"}])
        );
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let products = InMemoryProducts::new();
        products.fail_with("throttled");

        let (status, body) = send(&products, &[]).await;

        assert_eq!(status, 500);
        assert_eq!(body["error"]["message"], "internal error");
    }
}
