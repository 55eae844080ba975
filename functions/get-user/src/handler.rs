//! `GET /users/{id}` -> `200` with `{"id","name","email","version","created_at","updated_at"}`
//! and `ETag: "<version>"`, to send back as `If-Match` on `PUT`/`DELETE /users/{id}`.
//!
//! Errors: `400 VALIDATION_ERROR` on field `id` (missing or not a UUID v7), `404 NOT_FOUND`,
//! `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::domain::UserId;
use shared::http::{HttpResult, json_response, path_param, respond, with_etag};
use shared::ports::UserReader;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<R: UserReader>(users: &R, req: Request) -> HttpResult {
    respond(get_user(users, &req).await)
}

async fn get_user<R: UserReader>(users: &R, req: &Request) -> Result<Response<Body>, Error> {
    let id: UserId = path_param(req, "id")?;
    let user = users
        .get(&id)
        .await?
        .ok_or_else(|| Error::not_found("user", id))?;
    Ok(with_etag(
        json_response(StatusCode::OK, &user),
        user.version,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::{NewUser, User, Version, now};
    use shared::memory::InMemoryUsers;

    fn get_users(path_parameters: Value) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/apigw-http-v2-get.json")).unwrap();
        let id = path_parameters["id"].as_str().unwrap_or("").to_owned();
        event["routeKey"] = json!("GET /users/{id}");
        event["rawPath"] = json!(format!("/users/{id}"));
        event["rawQueryString"] = json!("");
        event["requestContext"]["http"]["path"] = json!(format!("/users/{id}"));
        event["pathParameters"] = path_parameters;
        event["body"] = Value::Null;
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    async fn send(users: &InMemoryUsers, path_parameters: Value) -> (StatusCode, Value) {
        let (status, body, _) = send_for_headers(users, path_parameters).await;
        (status, body)
    }

    async fn send_for_headers(
        users: &InMemoryUsers,
        path_parameters: Value,
    ) -> (StatusCode, Value, Response<Body>) {
        let Ok(response) = handle(users, get_users(path_parameters)).await;
        let json = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status(), json, response)
    }

    fn ada() -> User {
        NewUser::parse("Ada", "ada@example.com")
            .unwrap()
            .into_user(UserId::new(), now())
    }

    #[tokio::test]
    async fn an_existing_user_is_returned_with_its_version_as_etag() {
        let mut user = ada();
        user.version = Version::new(3);
        let users = InMemoryUsers::with([user.clone()]);

        let (status, body, response) =
            send_for_headers(&users, json!({"id": user.id.to_string()})).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, serde_json::to_value(&user).unwrap());
        assert_eq!(body["version"], 3);
        assert_eq!(response.headers()["etag"], "\"3\"");
    }

    #[tokio::test]
    async fn an_email_guard_id_is_not_a_user_id() {
        let users = InMemoryUsers::with([ada()]);

        let (status, body) = send(&users, json!({"id": "EMAIL#ada@example.com"})).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"][0]["field"], "id");
    }

    #[tokio::test]
    async fn an_unknown_user_is_not_found() {
        let users = InMemoryUsers::with([ada()]);
        let unknown = UserId::new();

        let (status, body) = send(&users, json!({"id": unknown.to_string()})).await;

        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            json!({"error": {"code": "NOT_FOUND", "message": format!("user {unknown} not found")}})
        );
    }

    #[tokio::test]
    async fn a_malformed_id_is_a_validation_error_naming_id() {
        let users = InMemoryUsers::new();

        let (status, body) = send(&users, json!({"id": "not-a-uuid"})).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"][0]["field"], "id");
    }

    #[tokio::test]
    async fn a_missing_id_is_a_validation_error_naming_id() {
        let users = InMemoryUsers::new();

        let (status, body) = send(&users, json!({})).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "id", "message": "is required"}])
        );
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let users = InMemoryUsers::new();
        users.fail_with("throttled");

        let (status, body) = send(&users, json!({"id": UserId::new().to_string()})).await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["message"], "internal error");
    }
}
