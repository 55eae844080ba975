//! `DELETE /users/{id}` -> `204 No Content`: the user and the claim on its email are deleted
//! together, so the email can be registered again.
//!
//! Who may call (checked first, before the store is touched): **admins** only. A customer is
//! `403 FORBIDDEN`, even for their own id; no token is `401 UNAUTHORIZED`.
//!
//! `If-Match` is optional: when sent (the `ETag` of a `GET`, or `*`) the user is deleted only at
//! that version. Errors: `400 VALIDATION_ERROR` (field `id` or `If-Match`), `401 UNAUTHORIZED`,
//! `403 FORBIDDEN`, `404 NOT_FOUND`, `412 PRECONDITION_FAILED` (the user changed since that
//! `ETag`), `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::auth::Principal;
use shared::domain::ExpectedVersion;
use shared::domain::UserId;
use shared::http::{HttpResult, if_match, path_param, respond};
use shared::ports::UserDeleter;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<D: UserDeleter>(users: &D, req: Request) -> HttpResult {
    respond(delete_user(users, &req).await)
}

async fn delete_user<D: UserDeleter>(users: &D, req: &Request) -> Result<Response<Body>, Error> {
    Principal::from_request(req)?.require_admin()?;
    let id: UserId = path_param(req, "id")?;
    let expected = match if_match(req) {
        Ok(expected) => expected,
        // Unlike updates, a delete without If-Match is allowed: it deletes whatever is stored.
        Err(Error::PreconditionRequired(_)) => ExpectedVersion::Any,
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
    use shared::testing::{ApiRequest, status_and_json};

    /// `DELETE /users/{id}` with `If-Match` when given, from no one yet.
    fn delete(id: impl ToString, if_match: Option<&str>) -> ApiRequest {
        let req = ApiRequest::new("DELETE", "/users/{id}").path("id", id);
        match if_match {
            Some(tag) => req.header("if-match", tag),
            None => req,
        }
    }

    /// The status and, when there is one, the JSON body (`null` otherwise).
    async fn send(users: &InMemoryUsers, req: ApiRequest) -> (u16, Value) {
        let Ok(response) = handle(users, req.build()).await;
        status_and_json(&response)
    }

    /// An admin's `DELETE`.
    async fn send_as_admin(
        users: &InMemoryUsers,
        id: &str,
        if_match: Option<&str>,
    ) -> (u16, Value) {
        send(users, delete(id, if_match).as_admin()).await
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

        let (status, body) = send_as_admin(&users, &user.id.to_string(), None).await;

        assert_eq!(status, 204);
        assert_eq!(body, Value::Null);
        assert!(users.all().is_empty());
        let newcomer = NewUser::parse("Newcomer", "ada@example.com")
            .unwrap()
            .into_user(UserId::new(), now());
        users.insert(&newcomer).await.unwrap();
    }

    #[tokio::test]
    async fn a_customer_may_not_delete_even_their_own_record() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);

        let (status, body) = send(&users, delete(user.id, None).as_customer(user.id)).await;

        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert_eq!(users.all(), [user]);
    }

    #[tokio::test]
    async fn a_customer_may_not_delete_another_users_record() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);

        let (status, _) = send(&users, delete(user.id, None).as_customer(UserId::new())).await;

        assert_eq!(status, 403);
        assert_eq!(users.all(), [user]);
    }

    #[tokio::test]
    async fn a_request_without_a_token_is_401_and_deletes_nothing() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);

        let (status, body) = send(&users, delete(user.id, None)).await;

        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        assert_eq!(users.all(), [user]);
    }

    #[tokio::test]
    async fn a_user_is_deleted_with_its_current_etag_or_star() {
        for etag in ["\"1\"", "*"] {
            let user = ada();
            let users = InMemoryUsers::with([user.clone()]);

            let (status, _) = send_as_admin(&users, &user.id.to_string(), Some(etag)).await;

            assert_eq!(status, 204, "{etag}");
            assert!(users.all().is_empty(), "{etag}");
        }
    }

    #[tokio::test]
    async fn a_stale_etag_is_412_and_keeps_the_user() {
        let mut user = ada();
        user.version = Version::new(2);
        let users = InMemoryUsers::with([user.clone()]);

        let (status, body) = send_as_admin(&users, &user.id.to_string(), Some("\"1\"")).await;

        assert_eq!(status, 412);
        assert_eq!(body["error"]["code"], "PRECONDITION_FAILED");
        assert_eq!(users.all(), [user]);
    }

    #[tokio::test]
    async fn an_empty_if_match_is_no_precondition_and_the_user_is_deleted() {
        // Found by schemathesis: `If-Match:` (empty) answered 400; RFC 9110 §5.6.1 has empty
        // list elements ignored, so it is the same as no header.
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);

        for empty in ["", " ", ","] {
            let users = InMemoryUsers::with([user.clone()]);
            let (status, _) = send_as_admin(&users, &user.id.to_string(), Some(empty)).await;
            assert_eq!((empty, status), (empty, 204));
            assert!(users.all().is_empty());
        }
        assert_eq!(users.all(), [user]);
    }

    #[tokio::test]
    async fn an_if_match_that_is_not_an_etag_is_a_validation_error_naming_it() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);

        let (status, body) = send_as_admin(&users, &user.id.to_string(), Some("1")).await;

        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["field"], "If-Match");
        assert_eq!(users.all(), [user]);
    }

    #[tokio::test]
    async fn an_unknown_user_is_not_found() {
        let users = InMemoryUsers::with([ada()]);
        let unknown = UserId::new();

        let (status, body) = send_as_admin(&users, &unknown.to_string(), None).await;

        assert_eq!(status, 404);
        assert_eq!(
            body,
            json!({"error": {"code": "NOT_FOUND", "message": format!("user {unknown} not found")}})
        );
    }

    #[tokio::test]
    async fn deleting_twice_is_not_found_the_second_time() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);

        let (first, _) = send_as_admin(&users, &user.id.to_string(), None).await;
        let (second, _) = send_as_admin(&users, &user.id.to_string(), None).await;

        assert_eq!(first, 204);
        assert_eq!(second, 404);
    }

    #[tokio::test]
    async fn a_malformed_id_is_a_validation_error_naming_id() {
        let users = InMemoryUsers::new();

        let (status, body) = send_as_admin(&users, "not-a-uuid", None).await;

        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["field"], "id");
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);
        users.fail_with("throttled");

        let (status, body) = send_as_admin(&users, &user.id.to_string(), None).await;

        assert_eq!(status, 500);
        assert_eq!(body["error"]["message"], "internal error");
    }
}
