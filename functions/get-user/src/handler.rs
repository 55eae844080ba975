//! `GET /users/{id}` -> `200` with `{"id","name","email","version","created_at","updated_at"}`
//! and `ETag: "<version>"`, to send back as `If-Match` on `PUT`/`DELETE /users/{id}`.
//!
//! Who may call (checked first, before the store is read):
//! - an **admin** reads any user;
//! - a **customer** reads their own record only (`id` = the token's `sub`). Another user's id
//!   is `404 NOT_FOUND`, the same answer as for an id that does not exist, so ids cannot be
//!   probed; no store read is made for it;
//! - anyone else: `401 UNAUTHORIZED` without a token, `403 FORBIDDEN` without one of those
//!   roles.
//!
//! Errors: `400 VALIDATION_ERROR` on field `id` (missing or not a UUID v4/v7),
//! `401 UNAUTHORIZED`, `403 FORBIDDEN`, `404 NOT_FOUND`, `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::auth::Principal;
use shared::domain::UserId;
use shared::http::{HttpResult, json_response, path_param, respond, with_etag};
use shared::ports::UserReader;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<R: UserReader>(users: &R, req: Request) -> HttpResult {
    respond(get_user(users, &req).await)
}

async fn get_user<R: UserReader>(users: &R, req: &Request) -> Result<Response<Body>, Error> {
    let principal = Principal::from_request(req)?;
    principal.require_role()?;
    let id: UserId = path_param(req, "id")?;
    principal.check_owner(&id, "user", id)?;
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
    use shared::testing::{ApiRequest, status_and_json};

    fn get(id: impl ToString) -> ApiRequest {
        ApiRequest::new("GET", "/users/{id}").path("id", id)
    }

    async fn send(users: &InMemoryUsers, req: ApiRequest) -> (u16, Value, Response<Body>) {
        let Ok(response) = handle(users, req.build()).await;
        let (status, json) = status_and_json(&response);
        (status, json, response)
    }

    fn ada() -> User {
        NewUser::parse("Ada", "ada@example.com")
            .unwrap()
            .into_user(UserId::new(), now())
    }

    #[tokio::test]
    async fn an_admin_reads_any_user_with_its_version_as_etag() {
        let mut user = ada();
        user.version = Version::new(3);
        let users = InMemoryUsers::with([user.clone()]);

        let (status, body, response) = send(&users, get(user.id).as_admin()).await;

        assert_eq!(status, 200);
        assert_eq!(body, serde_json::to_value(&user).unwrap());
        assert_eq!(body["version"], 3);
        assert_eq!(response.headers()["etag"], "\"3\"");
    }

    #[tokio::test]
    async fn a_customer_reads_their_own_record() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);

        let (status, body, _) = send(&users, get(user.id).as_customer(user.id)).await;

        assert_eq!(status, 200);
        assert_eq!(body, serde_json::to_value(&user).unwrap());
    }

    #[tokio::test]
    async fn another_customers_record_looks_exactly_like_a_missing_one() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);
        let stranger = UserId::new();
        let missing = UserId::new();

        let (status, body, _) = send(&users, get(user.id).as_customer(stranger)).await;
        let (_, missing_body, _) = send(&users, get(missing).as_admin()).await;

        assert_eq!(status, 404);
        assert_eq!(
            body,
            json!({"error": {"code": "NOT_FOUND", "message": format!("user {} not found", user.id)}})
        );
        assert_eq!(
            missing_body,
            json!({"error": {"code": "NOT_FOUND", "message": format!("user {missing} not found")}})
        );
    }

    #[tokio::test]
    async fn another_customers_record_is_denied_without_reading_the_store() {
        let users = InMemoryUsers::with([ada()]);
        users.fail_with("must not be called");

        let (status, _, _) = send(&users, get(UserId::new()).as_customer(UserId::new())).await;

        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn a_request_without_a_token_is_401() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);

        let (status, body, _) = send(&users, get(user.id)).await;

        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
    }

    #[tokio::test]
    async fn a_caller_without_a_role_is_forbidden_even_for_their_own_id() {
        let user = ada();
        let users = InMemoryUsers::with([user.clone()]);

        let (status, body, _) = send(
            &users,
            get(user.id).principal(&user.id.to_string(), &["guests"]),
        )
        .await;

        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "FORBIDDEN");
    }

    #[tokio::test]
    async fn an_email_guard_id_is_not_a_user_id() {
        let users = InMemoryUsers::with([ada()]);

        let (status, body, _) = send(&users, get("EMAIL#ada@example.com").as_admin()).await;

        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["field"], "id");
    }

    #[tokio::test]
    async fn an_unknown_user_is_not_found() {
        let users = InMemoryUsers::with([ada()]);
        let unknown = UserId::new();

        let (status, body, _) = send(&users, get(unknown).as_admin()).await;

        assert_eq!(status, 404);
        assert_eq!(
            body,
            json!({"error": {"code": "NOT_FOUND", "message": format!("user {unknown} not found")}})
        );
    }

    #[tokio::test]
    async fn a_malformed_id_is_a_validation_error_naming_id() {
        let users = InMemoryUsers::new();

        let (status, body, _) = send(&users, get("not-a-uuid").as_admin()).await;

        assert_eq!(status, 400);
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"][0]["field"], "id");
    }

    #[tokio::test]
    async fn a_missing_id_is_a_validation_error_naming_id() {
        let users = InMemoryUsers::new();

        let (status, body, _) = send(&users, ApiRequest::new("GET", "/users/").as_admin()).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "id", "message": "is required"}])
        );
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let users = InMemoryUsers::new();
        users.fail_with("throttled");

        let (status, body, _) = send(&users, get(UserId::new()).as_admin()).await;

        assert_eq!(status, 500);
        assert_eq!(body["error"]["message"], "internal error");
    }
}
