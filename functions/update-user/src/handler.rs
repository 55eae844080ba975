//! `PUT /users/{id}` with `If-Match: "<version>"` (the `ETag` of a `GET`, or `*`) and body
//! `{"name","email"}` (both required: a full replacement of the editable fields) -> `200` with
//! the updated user (version + 1, `updated_at` now) and its new `ETag`.
//!
//! Who may call (checked first, before the body is read or the store is touched):
//! - an **admin** updates any user;
//! - a **customer** updates their own record only (`id` = the token's `sub`). Another user's
//!   id is `404 NOT_FOUND`, the same answer as for an id that does not exist;
//! - anyone else: `401 UNAUTHORIZED` without a token, `403 FORBIDDEN` without one of those
//!   roles.
//!
//! The body is checked with its rules first (`name` 1..=100 characters, `email` a valid
//! address of at most 254 bytes, both after trimming), every broken rule reported at once;
//! then the domain parse. Fields the server sets (`id`, `role`, `version`, `created_at`,
//! `updated_at`) are refused with `is not allowed`.
//!
//! Errors: `400 VALIDATION_ERROR` (field `id`, `If-Match`, `body`, `name`, `email`, or an
//! unknown field such as `version`), `401 UNAUTHORIZED`, `403 FORBIDDEN`, `404 NOT_FOUND`,
//! `409 CONFLICT` (the new email belongs to another user), `412 PRECONDITION_FAILED` (the user
//! changed since that `ETag`: GET it again), `413 PAYLOAD_TOO_LARGE`,
//! `428 PRECONDITION_REQUIRED` (no `If-Match`), `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::api::UpdateUserRequest;
use shared::auth::Principal;
use shared::domain::{UserChanges, UserId};
use shared::http::{
    HttpResult, if_match, json_response, parse_body, path_param, respond, with_etag,
};
use shared::ports::UserUpdater;

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<U: UserUpdater>(users: &U, req: Request) -> HttpResult {
    respond(update_user(users, &req).await)
}

async fn update_user<U: UserUpdater>(users: &U, req: &Request) -> Result<Response<Body>, Error> {
    let principal = Principal::from_request(req)?;
    principal.require_role()?;
    let id: UserId = path_param(req, "id")?;
    principal.check_owner(&id, "user", id)?;
    let expected = if_match(req)?;
    let body: UpdateUserRequest = parse_body(req)?;
    let changes = UserChanges::parse(&body.name, &body.email)?;
    let user = users.update(&id, expected, &changes).await?;
    tracing::info!(user_id = %user.id, version = user.version.get(), "user updated");
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
    use shared::testing::{ApiRequest, error_details, not_found, status_and_json};

    const EVE: &str = r#"{"name":"Eve","email":"eve@example.com"}"#;

    /// `PUT /users/{id}` by an admin, with `If-Match` when given.
    fn put(id: impl ToString, if_match: Option<&str>, body: &str) -> ApiRequest {
        let req = ApiRequest::new("PUT", "/users/{id}")
            .path("id", id)
            .raw_body(body);
        match if_match {
            Some(tag) => req.header("if-match", tag),
            None => req,
        }
    }

    async fn send(users: &InMemoryUsers, req: ApiRequest) -> (u16, Value, Response<Body>) {
        let Ok(response) = handle(users, req.build()).await;
        let (status, json) = status_and_json(&response);
        (status, json, response)
    }

    /// An admin's `PUT`.
    async fn send_as_admin(
        users: &InMemoryUsers,
        id: impl ToString,
        if_match: Option<&str>,
        body: &str,
    ) -> (u16, Value, Response<Body>) {
        send(users, put(id, if_match, body).as_admin()).await
    }

    fn user(name: &str, email: &str) -> User {
        NewUser::parse(name, email)
            .unwrap()
            .into_user(UserId::new(), now())
    }

    /// Ada (`ada@example.com`, version 1), alone in the store.
    fn ada_alone() -> (User, InMemoryUsers) {
        let ada = user("Ada", "ada@example.com");
        let users = InMemoryUsers::with([ada.clone()]);
        (ada, users)
    }

    #[tokio::test]
    async fn an_update_with_the_current_etag_replaces_the_fields_and_returns_the_new_etag() {
        let (ada, users) = ada_alone();

        let (status, body, response) = send_as_admin(
            &users,
            ada.id,
            Some("\"1\""),
            r#"{"name":" Ada Lovelace ","email":"ADA@lovelace.org"}"#,
        )
        .await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(response.headers()["etag"], "\"2\"");
        assert_eq!(body["name"], "Ada Lovelace");
        assert_eq!(body["email"], "ada@lovelace.org");
        assert_eq!(body["version"], 2);
        assert_eq!(body["id"], ada.id.to_string());
        assert_eq!(body["created_at"], json!(ada.created_at));
        assert_eq!(serde_json::to_value(&users.all()[0]).unwrap(), body);
    }

    #[tokio::test]
    async fn a_customer_updates_their_own_record() {
        let (ada, users) = ada_alone();

        let (status, body, _) =
            send(&users, put(ada.id, Some("\"1\""), EVE).as_customer(ada.id)).await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(body["name"], "Eve");
        assert_eq!(users.all()[0].version, Version::new(2));
    }

    #[tokio::test]
    async fn another_customers_record_is_not_found_and_unchanged() {
        let (ada, users) = ada_alone();
        let stranger = UserId::new();

        let (status, body, _) = send(
            &users,
            put(ada.id, Some("\"1\""), EVE).as_customer(stranger),
        )
        .await;

        assert_eq!((status, body), not_found("user", ada.id));
        assert_eq!(users.all(), [ada]);
    }

    #[tokio::test]
    async fn another_customers_record_is_refused_before_the_body_is_read() {
        let (ada, users) = ada_alone();

        let (status, _, _) = send(
            &users,
            put(ada.id, None, "{not json").as_customer(UserId::new()),
        )
        .await;

        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn a_caller_without_a_token_or_a_role_is_refused_and_changes_nothing() {
        let (ada, users) = ada_alone();
        let request = || put(ada.id, Some("\"1\""), EVE);

        for (case, req, expected_status, code) in [
            ("no token", request(), 401, "UNAUTHORIZED"),
            (
                "a token without a role",
                request().principal(&ada.id.to_string(), &[]),
                403,
                "FORBIDDEN",
            ),
        ] {
            let (status, body, _) = send(&users, req).await;

            assert_eq!(status, expected_status, "{case}: {body}");
            assert_eq!(body["error"]["code"], code, "{case}");
            assert_eq!(users.all(), std::slice::from_ref(&ada), "{case}");
        }
    }

    #[tokio::test]
    async fn if_match_star_updates_whatever_version_is_stored() {
        let mut ada = user("Ada", "ada@example.com");
        ada.version = Version::new(5);
        let users = InMemoryUsers::with([ada.clone()]);

        let (status, _, response) = send_as_admin(&users, ada.id, Some("*"), EVE).await;

        assert_eq!(status, 200);
        assert_eq!(response.headers()["etag"], "\"6\"");
    }

    #[tokio::test]
    async fn a_missing_if_match_is_428_and_changes_nothing() {
        let (ada, users) = ada_alone();

        let (status, body, _) = send_as_admin(&users, ada.id, None, EVE).await;

        assert_eq!(status, 428);
        assert_eq!(body["error"]["code"], "PRECONDITION_REQUIRED");
        assert_eq!(users.all(), [ada]);
    }

    #[tokio::test]
    async fn a_stale_or_weak_etag_is_412_and_changes_nothing() {
        let mut ada = user("Ada", "ada@example.com");
        ada.version = Version::new(2);
        let users = InMemoryUsers::with([ada.clone()]);

        for etag in ["\"1\"", "W/\"2\"", "\"1\", \"2\""] {
            let (status, body, response) = send_as_admin(&users, ada.id, Some(etag), EVE).await;

            assert_eq!(status, 412, "{etag}");
            assert_eq!(body["error"]["code"], "PRECONDITION_FAILED", "{etag}");
            assert!(response.headers().get("etag").is_none());
        }
        assert_eq!(users.all(), [ada]);
    }

    #[tokio::test]
    async fn a_request_breaking_a_rule_is_refused_naming_each_field_and_changes_nothing() {
        let (ada, users) = ada_alone();
        let ada_id = ada.id.to_string();

        for (case, id, if_match, body, expected) in [
            (
                "an If-Match that is not an ETag",
                ada_id.as_str(),
                "one",
                EVE,
                vec![("If-Match", "must be an entity tag such as \"1\"")],
            ),
            (
                "a malformed id",
                "EMAIL#ada@example.com",
                "\"1\"",
                EVE,
                vec![("id", "must be a UUID")],
            ),
            (
                "a partial body names the missing field",
                ada_id.as_str(),
                "\"1\"",
                r#"{"name":"Ada"}"#,
                vec![("email", "is required")],
            ),
            (
                "every broken rule is reported at once",
                ada_id.as_str(),
                "\"1\"",
                r#"{"name":" ","email":"nope"}"#,
                vec![
                    ("email", "must be a valid email address"),
                    ("name", "must not be empty"),
                ],
            ),
            (
                "the domain parse still refuses what the rules let through",
                ada_id.as_str(),
                "\"1\"",
                r#"{"name":"Ada","email":"ada@localhost"}"#,
                vec![("email", "must be a valid email address")],
            ),
        ] {
            let (status, body, _) = send_as_admin(&users, id, Some(if_match), body).await;

            assert_eq!(status, 400, "{case}: {body}");
            assert_eq!(error_details(&body), expected, "{case}");
            assert_eq!(users.all(), std::slice::from_ref(&ada), "{case}");
        }
    }

    #[tokio::test]
    async fn an_email_of_another_user_is_a_conflict_and_changes_nothing() {
        let ada = user("Ada", "ada@example.com");
        let eve = user("Eve", "eve@example.com");
        let users = InMemoryUsers::with([ada.clone(), eve.clone()]);

        let (status, body, _) = send_as_admin(&users, ada.id, Some("\"1\""), EVE).await;

        assert_eq!(status, 409);
        assert_eq!(
            body["error"]["message"],
            "email eve@example.com is already registered"
        );
        assert_eq!(users.all(), [ada, eve]);
    }

    #[tokio::test]
    async fn keeping_ones_own_email_is_not_a_conflict() {
        let (ada, users) = ada_alone();
        let same_email = r#"{"name":"Ada L.","email":"ada@example.com"}"#;

        let (status, body, _) = send_as_admin(&users, ada.id, Some("\"1\""), same_email).await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(body["name"], "Ada L.");
    }

    #[tokio::test]
    async fn an_unknown_user_is_not_found() {
        let users = InMemoryUsers::new();
        let unknown = UserId::new();

        let (status, body, _) = send_as_admin(&users, unknown, Some("\"1\""), EVE).await;

        assert_eq!((status, body), not_found("user", unknown));
    }

    #[tokio::test]
    async fn fields_the_server_sets_are_refused_by_name() {
        let (ada, users) = ada_alone();

        for (field, value) in [
            ("role", json!("admin")),
            ("version", json!(9)),
            ("id", json!(ada.id.to_string())),
            ("created_at", json!("2025-01-01T00:00:00Z")),
            ("updated_at", json!("2025-01-01T00:00:00Z")),
        ] {
            let mut body = json!({"name": "Ada", "email": "ada@example.com"});
            body[field] = value;

            let (status, body, _) = send(
                &users,
                put(ada.id, Some("\"1\""), &body.to_string()).as_customer(ada.id),
            )
            .await;

            assert_eq!(status, 400, "{field}");
            assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "{field}");
            assert_eq!(error_details(&body), [(field, "is not allowed")], "{field}");
        }
        assert_eq!(users.all(), [ada]);
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let (ada, users) = ada_alone();
        users.fail_with("transaction failed");

        let (status, body, _) = send_as_admin(&users, ada.id, Some("\"1\""), EVE).await;

        assert_eq!(status, 500);
        assert_eq!(
            body,
            json!({"error": {"code": "INTERNAL_ERROR", "message": "internal error"}})
        );
    }
}
