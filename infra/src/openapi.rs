//! The API's OpenAPI 3.1 document and its docs page, served by the gateway itself (like
//! `/.well-known/*`): `GET /openapi.json` is [`shared::api::openapi()`] with `servers` set to
//! the gateway's own URL, `GET /docs` a self-contained HTML page (no CDN: vanilla JS that
//! fetches `/openapi.json` and renders the operations, their auth, parameters, bodies and
//! responses).

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/openapi.json";
/// Where the docs page is served.
pub const DOCS_PATH: &str = "/docs";

/// The docs page: one HTML file with inline CSS and JS.
const DOCS_HTML: &str = include_str!("../openapi/docs.html");

/// The document as JSON with `servers: [{"url": server_url}]` (e.g. `http://127.0.0.1:3000`).
pub fn document(server_url: &str) -> Value {
    let mut doc = shared::api::openapi();
    doc.servers = Some(vec![
        utoipa::openapi::ServerBuilder::new()
            .url(server_url)
            .description(Some("this devstack gateway"))
            .build(),
    ]);
    serde_json::to_value(&doc).unwrap_or(Value::Null)
}

/// The gateway's own URL as the client reached it: `http://<Host>` (or the scheme of
/// `X-Forwarded-Proto`), `http://localhost` without a `Host` header.
pub fn server_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|s| matches!(*s, "http" | "https"))
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

/// The answer to `GET path` when `path` is [`DOCUMENT_PATH`] or [`DOCS_PATH`]; `None` for any
/// other path (the gateway routes it).
pub fn serve(path: &str, headers: &HeaderMap) -> Option<Response> {
    let (content_type, body) = match path {
        DOCUMENT_PATH => (
            "application/json",
            document(&server_url(headers)).to_string(),
        ),
        DOCS_PATH => ("text/html; charset=utf-8", DOCS_HTML.to_owned()),
        _ => return None,
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_the_gateway_it_was_fetched_from() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3300"));

        let doc = document(&server_url(&headers));

        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "http://127.0.0.1:3300");
    }

    #[test]
    fn the_docs_page_loads_nothing_from_elsewhere() {
        let response = serve(DOCS_PATH, &HeaderMap::new()).unwrap();

        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(DOCS_HTML.contains("openapi.json"));
        assert!(!DOCS_HTML.contains("http://") && !DOCS_HTML.contains("https://"));
    }

    #[test]
    fn other_paths_are_left_to_the_routes() {
        assert!(serve("/users", &HeaderMap::new()).is_none());
    }
}
