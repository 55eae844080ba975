//! `DELETE /users/{id}` -> `204 No Content`: the user and the claim on its email are deleted
//! together, so the email can be registered again.
//!
//! `If-Match` is optional: when sent (the `ETag` of a `GET`, or `*`) the user is deleted only at
//! that version. Errors: `400 VALIDATION_ERROR` (field `id` or `If-Match`), `404 NOT_FOUND`,
//! `412 PRECONDITION_FAILED` (the user changed since that `ETag`), `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::domain::UserId;
use shared::http::{HttpResult, IfMatch, if_match, path_param, respond};
use shared::ports::UserDeleter;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<D: UserDeleter>(users: &D, req: Request) -> HttpResult {
    respond(delete_user(users, &req).await)
}

async fn delete_user<D: UserDeleter>(users: &D, req: &Request) -> Result<Response<Body>, Error> {
    let id: UserId = path_param(req, "id")?;
    let expected = match if_match(req) {
        Ok(expected) => expected,
        // Unlike updates, a delete without If-Match is allowed: it deletes whatever is stored.
        Err(Error::PreconditionRequired(_)) => IfMatch::Any,
        Err(other) => return Err(other),
    };
    users.delete(&id, expected).await?;
    tracing::info!(user_id = %id, "user deleted");
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::{NewUser, User, Version, now};
    use shared::memory::InMemoryUsers;
    use shared::ports::UserWriter;

    fn delete_request(id: &str, if_match: Option<&str>) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/apigw-http-v2-get.json")).unwrap();
        event["routeKey"] = json!("DELETE /users/{id}");
        event["rawPath"] = json!(format!("/users/{id}"));
        event["rawQueryString"] = json!("");
        event["requestContext"]["http"]["method"] = json!("DELETE");
        event["requestContext"]["http"]["path"] = json!(format!("/users/{id}"));
        event["pathParameters"] = json!({ "id": id });
        event["headers"] = match if_match {
            Some(value) => json!({ "if-match": value }),
            None => json!({}),
        };
        event["body"] = Value::Null;
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    /// The status and, when there is one, the JSON body.
    async fn send(users: &InMemoryUsers, id: &str, if_match: Option<&str>) -> (StatusCode, Value) {
        let Ok(response) = handle(users, delete_request(id, if_match)).await;
        let bytes: &[u8] = response.body().as_ref();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(bytes).unwrap()
        };
        (response.status(), json)
    }

    fn ada() -> User {
        NewUser::parse("Ada", "ada@example.com")
            .unwrap()
            .into_user(UserId::new(), now())
    }

    #[tokio::test]
    async fn a_user_is_deleted_without_if_match_and_its_email_can_be_registered_again() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);

        let (status, body) = send(&users, &user.id.to_string(), None).await;

        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(body, Value::Null);
        assert!(users.all().is_empty());
        let newcomer = NewUser::parse("Newcomer", "ada@example.com")
            .unwrap()
            .into_user(UserId::new(), now());
        users.insert(&newcomer).await.unwrap();
    }

    #[tokio::test]
    async fn a_user_is_deleted_with_its_current_etag_or_star() {
        for etag in ["\"1\"", "*"] {
            let user = ada();
            let users = InMemoryUsers::with([user.clone()]);

            let (status, _) = send(&users, &user.id.to_string(), Some(etag)).await;

            assert_eq!(status, StatusCode::NO_CONTENT, "{etag}");
            assert!(users.all().is_empty(), "{etag}");
        }
    }

    #[tokio::test]
    async fn a_stale_etag_is_412_and_keeps_the_user() {
        let mut user = ada();
        user.version = Version::new(2);
        let users = InMemoryUsers::with([user.clone()]);

        let (status, body) = send(&users, &user.id.to_string(), Some("\"1\"")).await;

        assert_eq!(status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(body["error"]["code"], "PRECONDITION_FAILED");
        assert_eq!(users.all(), [user]);
    }

    #[tokio::test]
    async fn an_if_match_that_is_not_an_etag_is_a_validation_error_naming_it() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);

        let (status, body) = send(&users, &user.id.to_string(), Some("1")).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"][0]["field"], "If-Match");
        assert_eq!(users.all(), [user]);
    }

    #[tokio::test]
    async fn an_unknown_user_is_not_found() {
        let users = InMemoryUsers::with([ada()]);
        let unknown = UserId::new();

        let (status, body) = send(&users, &unknown.to_string(), None).await;

        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            json!({"error": {"code": "NOT_FOUND", "message": format!("user {unknown} not found")}})
        );
    }

    #[tokio::test]
    async fn deleting_twice_is_not_found_the_second_time() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);

        let (first, _) = send(&users, &user.id.to_string(), None).await;
        let (second, _) = send(&users, &user.id.to_string(), None).await;

        assert_eq!(first, StatusCode::NO_CONTENT);
        assert_eq!(second, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn a_malformed_id_is_a_validation_error_naming_id() {
        let users = InMemoryUsers::new();

        let (status, body) = send(&users, "not-a-uuid", None).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"][0]["field"], "id");
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);
        users.fail_with("throttled");

        let (status, body) = send(&users, &user.id.to_string(), None).await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["message"], "internal error");
    }
}
