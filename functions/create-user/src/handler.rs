//! `POST /users`: body `{"name","email"}` -> `201` with the user (version 1),
//! `location: /users/{id}` and `ETag: "1"`.
//!
//! Errors: `400 VALIDATION_ERROR` (bad body or field, unknown field), `409 CONFLICT` (the email
//! is already registered; enforced by the store, so concurrent requests cannot both win),
//! `500 INTERNAL_ERROR` (store failed).

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::Error;
use shared::domain::{NewUser, UserId, now};
use shared::http::{HttpResult, created, parse_json, respond, with_etag};
use shared::ports::UserWriter;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUserRequest {
    name: String,
    email: String,
}

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<W: UserWriter>(users: &W, req: Request) -> HttpResult {
    respond(create_user(users, &req).await)
}

async fn create_user<W: UserWriter>(users: &W, req: &Request) -> Result<Response<Body>, Error> {
    let body: CreateUserRequest = parse_json(req)?;
    let user = NewUser::parse(&body.name, &body.email)?.into_user(UserId::new(), now());
    users.insert(&user).await?;
    tracing::info!(user_id = %user.id, "user created");
    Ok(with_etag(
        created(&format!("/users/{}", user.id), &user),
        user.version,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::StatusCode;
    use serde_json::{Value, json};
    use shared::memory::InMemoryUsers;

    fn post_users(body: &str) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/apigw-http-v2-sample.json"))
                .unwrap();
        event["routeKey"] = json!("POST /users");
        event["rawPath"] = json!("/users");
        event["rawQueryString"] = json!("");
        event["requestContext"]["http"]["path"] = json!("/users");
        event["pathParameters"] = json!({});
        event["body"] = json!(body);
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    async fn send(users: &InMemoryUsers, body: &str) -> (StatusCode, Value, Response<Body>) {
        let Ok(response) = handle(users, post_users(body)).await;
        let json = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status(), json, response)
    }

    #[tokio::test]
    async fn a_valid_user_is_created_and_returned_with_its_location() {
        let users = InMemoryUsers::new();

        let (status, body, response) = send(
            &users,
            r#"{"name":" Ada Lovelace ","email":"Ada@Example.com"}"#,
        )
        .await;

        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body["name"], "Ada Lovelace");
        assert_eq!(body["email"], "ada@example.com");
        let id = body["id"].as_str().unwrap();
        assert!(UserId::parse(id).is_ok(), "{id}");
        assert!(body["created_at"].as_str().is_some());
        assert_eq!(body["updated_at"], body["created_at"]);
        assert_eq!(body["version"], 1);
        assert_eq!(response.headers()["etag"], "\"1\"");
        assert_eq!(
            response.headers()["location"],
            format!("/users/{id}").as_str()
        );
        assert_eq!(response.headers()["content-type"], "application/json");
        let stored = users.all();
        assert_eq!(stored.len(), 1);
        assert_eq!(serde_json::to_value(&stored[0]).unwrap(), body);
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_a_validation_error_on_body() {
        let users = InMemoryUsers::new();

        let (status, body, _) = send(&users, "{\"name\": ").await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"][0]["field"], "body");
        assert!(users.all().is_empty());
    }

    #[tokio::test]
    async fn a_missing_body_is_a_validation_error_on_body() {
        let users = InMemoryUsers::new();

        let (status, body, _) = send(&users, "").await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"][0]["field"], "body");
    }

    #[tokio::test]
    async fn a_missing_email_is_a_validation_error_naming_email() {
        let users = InMemoryUsers::new();

        let (status, body, _) = send(&users, r#"{"name":"Ada"}"#).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({"error": {
                "code": "VALIDATION_ERROR",
                "message": "email: is required",
                "details": [{"field": "email", "message": "is required"}]
            }})
        );
    }

    #[tokio::test]
    async fn an_unknown_field_is_refused_by_name() {
        let users = InMemoryUsers::new();

        let (status, body, _) = send(
            &users,
            r#"{"name":"Ada","email":"ada@example.com","role":"admin"}"#,
        )
        .await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "role", "message": "is not allowed"}])
        );
        assert!(users.all().is_empty());
    }

    #[tokio::test]
    async fn a_field_of_the_wrong_type_is_named() {
        let users = InMemoryUsers::new();

        let (status, body, _) = send(&users, r#"{"name":42,"email":"ada@example.com"}"#).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"][0]["field"], "name");
    }

    #[tokio::test]
    async fn an_invalid_email_and_an_empty_name_are_both_reported() {
        let users = InMemoryUsers::new();

        let (status, body, _) = send(&users, r#"{"name":"  ","email":"not-an-email"}"#).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"]["details"],
            json!([
                {"field": "name", "message": "must not be empty"},
                {"field": "email", "message": "must be a valid email address"}
            ])
        );
    }

    #[tokio::test]
    async fn an_email_already_registered_is_a_conflict_naming_it() {
        let users = InMemoryUsers::new();
        let (first, _, _) = send(&users, r#"{"name":"Ada","email":"ada@example.com"}"#).await;

        let (status, body, response) =
            send(&users, r#"{"name":"Eve","email":" ADA@example.com"}"#).await;

        assert_eq!(first, StatusCode::CREATED);
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            body,
            json!({"error": {
                "code": "CONFLICT",
                "message": "email ada@example.com is already registered"
            }})
        );
        assert!(response.headers().get("etag").is_none());
        assert_eq!(users.all().len(), 1);
    }

    #[tokio::test]
    async fn server_managed_fields_in_the_body_are_refused() {
        let users = InMemoryUsers::new();

        for field in [
            r#""version":7"#,
            r#""id":"x""#,
            r#""created_at":"2025-01-01T00:00:00Z""#,
        ] {
            let body = format!(r#"{{"name":"Ada","email":"ada@example.com",{field}}}"#);

            let (status, body, _) = send(&users, &body).await;

            assert_eq!(status, StatusCode::BAD_REQUEST, "{field}");
            assert_eq!(body["error"]["details"][0]["message"], "is not allowed");
        }
        assert!(users.all().is_empty());
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let users = InMemoryUsers::new();
        users.fail_with("dynamodb is down");

        let (status, body, _) = send(&users, r#"{"name":"Ada","email":"ada@example.com"}"#).await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            json!({"error": {"code": "INTERNAL_ERROR", "message": "internal error"}})
        );
    }
}
