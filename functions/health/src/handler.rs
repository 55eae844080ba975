//! `GET /health` -> `200` with `{"status":"ok","service":"shop","version":"<crate version>"}`.
//!
//! Who may call: **anyone**. The route has no authorizer (`Auth: {Authorizer: NONE}`), so the
//! handler reads no principal; the gateway throttles it harder than the other routes.
//!
//! A liveness probe: it answers as soon as the function runs and touches no dependency (no
//! store, no queue, no environment variable), so a failing database does not make the
//! function look dead. It never fails.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::api::Health;
use shared::http::{HttpResult, json_response};

/// The service name in every answer.
pub const SERVICE: &str = "shop";

/// Handles one request: always `200` with the service's name and version.
pub async fn handle(_req: Request) -> HttpResult {
    Ok(health())
}

fn health() -> Response<Body> {
    json_response(
        StatusCode::OK,
        &Health {
            status: "ok",
            service: SERVICE,
            version: env!("CARGO_PKG_VERSION"),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::testing::{ApiRequest, status_and_json};

    #[tokio::test]
    async fn health_answers_ok_with_the_service_and_its_version_without_a_token() {
        let req = ApiRequest::new("GET", "/health").build();

        let Ok(response) = handle(req).await;

        let (status, body) = status_and_json(&response);
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"status": "ok", "service": "shop", "version": env!("CARGO_PKG_VERSION")})
        );
        assert_eq!(response.headers()["content-type"], "application/json");
    }

    #[tokio::test]
    async fn a_token_makes_no_difference_to_the_answer() {
        let anonymous = handle(ApiRequest::new("GET", "/health").build()).await;
        let admin = handle(ApiRequest::new("GET", "/health").as_admin().build()).await;

        let (Ok(anonymous), Ok(admin)) = (anonymous, admin);

        assert_eq!(status_and_json(&anonymous), status_and_json(&admin));
    }
}
