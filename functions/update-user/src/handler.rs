//! `PUT /users/{id}` with `If-Match: "<version>"` (the `ETag` of a `GET`, or `*`) and body
//! `{"name","email"}` (both required: a full replacement of the editable fields) -> `200` with
//! the updated user (version + 1, `updated_at` now) and its new `ETag`.
//!
//! Errors: `400 VALIDATION_ERROR` (field `id`, `If-Match`, `body`, `name`, `email`, or an
//! unknown field such as `version`), `404 NOT_FOUND`, `409 CONFLICT` (the new email belongs to
//! another user), `412 PRECONDITION_FAILED` (the user changed since that `ETag`: GET it again),
//! `428 PRECONDITION_REQUIRED` (no `If-Match`), `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::Error;
use shared::domain::{UserChanges, UserId};
use shared::http::{
    HttpResult, if_match, json_response, parse_json, path_param, respond, with_etag,
};
use shared::ports::UserUpdater;

/// The request body: the editable fields only; `id`, `version` and timestamps are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUserRequest {
    name: String,
    email: String,
}

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<U: UserUpdater>(users: &U, req: Request) -> HttpResult {
    respond(update_user(users, &req).await)
}

async fn update_user<U: UserUpdater>(users: &U, req: &Request) -> Result<Response<Body>, Error> {
    let id: UserId = path_param(req, "id")?;
    let expected = if_match(req)?;
    let body: UpdateUserRequest = parse_json(req)?;
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

    fn put_user(id: &str, if_match: Option<&str>, body: &str) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/apigw-http-v2-sample.json"))
                .unwrap();
        event["routeKey"] = json!("PUT /users/{id}");
        event["rawPath"] = json!(format!("/users/{id}"));
        event["rawQueryString"] = json!("");
        event["requestContext"]["http"]["method"] = json!("PUT");
        event["requestContext"]["http"]["path"] = json!(format!("/users/{id}"));
        event["pathParameters"] = json!({ "id": id });
        event["headers"] = match if_match {
            Some(value) => json!({ "if-match": value }),
            None => json!({}),
        };
        event["body"] = json!(body);
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    async fn send(
        users: &InMemoryUsers,
        id: &str,
        if_match: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value, Response<Body>) {
        let Ok(response) = handle(users, put_user(id, if_match, body)).await;
        let json = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status(), json, response)
    }

    fn user(name: &str, email: &str) -> User {
        NewUser::parse(name, email)
            .unwrap()
            .into_user(UserId::new(), now())
    }

    const EVE: &str = r#"{"name":"Eve","email":"eve@example.com"}"#;

    #[tokio::test]
    async fn an_update_with_the_current_etag_replaces_the_fields_and_returns_the_new_etag() {
        let ada = user("Ada", "ada@example.com");
        let users = InMemoryUsers::with([ada.clone()]);

        let (status, body, response) = send(
            &users,
            &ada.id.to_string(),
            Some("\"1\""),
            r#"{"name":" Ada Lovelace ","email":"ADA@lovelace.org"}"#,
        )
        .await;

        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(response.headers()["etag"], "\"2\"");
        assert_eq!(body["name"], "Ada Lovelace");
        assert_eq!(body["email"], "ada@lovelace.org");
        assert_eq!(body["version"], 2);
        assert_eq!(body["id"], ada.id.to_string());
        assert_eq!(body["created_at"], json!(ada.created_at));
        assert_eq!(serde_json::to_value(&users.all()[0]).unwrap(), body);
    }

    #[tokio::test]
    async fn if_match_star_updates_whatever_version_is_stored() {
        let mut ada = user("Ada", "ada@example.com");
        ada.version = Version::new(5);
        let users = InMemoryUsers::with([ada.clone()]);

        let (status, _, response) = send(&users, &ada.id.to_string(), Some("*"), EVE).await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(response.headers()["etag"], "\"6\"");
    }

    #[tokio::test]
    async fn a_missing_if_match_is_428_and_changes_nothing() {
        let ada = user("Ada", "ada@example.com");
        let users = InMemoryUsers::with([ada.clone()]);

        let (status, body, _) = send(&users, &ada.id.to_string(), None, EVE).await;

        assert_eq!(status, StatusCode::PRECONDITION_REQUIRED);
        assert_eq!(body["error"]["code"], "PRECONDITION_REQUIRED");
        assert_eq!(users.all(), [ada]);
    }

    #[tokio::test]
    async fn a_stale_or_weak_etag_is_412_and_changes_nothing() {
        let mut ada = user("Ada", "ada@example.com");
        ada.version = Version::new(2);
        let users = InMemoryUsers::with([ada.clone()]);

        for etag in ["\"1\"", "W/\"2\"", "\"1\", \"2\""] {
            let (status, body, response) = send(&users, &ada.id.to_string(), Some(etag), EVE).await;

            assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{etag}");
            assert_eq!(body["error"]["code"], "PRECONDITION_FAILED", "{etag}");
            assert!(response.headers().get("etag").is_none());
        }
        assert_eq!(users.all(), [ada]);
    }

    #[tokio::test]
    async fn an_if_match_that_is_not_an_etag_is_a_validation_error_naming_it() {
        let ada = user("Ada", "ada@example.com");
        let users = InMemoryUsers::with([ada.clone()]);

        let (status, body, _) = send(&users, &ada.id.to_string(), Some("one"), EVE).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"][0]["field"], "If-Match");
    }

    #[tokio::test]
    async fn an_email_of_another_user_is_a_conflict_and_changes_nothing() {
        let ada = user("Ada", "ada@example.com");
        let eve = user("Eve", "eve@example.com");
        let users = InMemoryUsers::with([ada.clone(), eve.clone()]);

        let (status, body, _) = send(&users, &ada.id.to_string(), Some("\"1\""), EVE).await;

        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            body["error"]["message"],
            "email eve@example.com is already registered"
        );
        assert_eq!(users.all(), [ada, eve]);
    }

    #[tokio::test]
    async fn keeping_ones_own_email_is_not_a_conflict() {
        let ada = user("Ada", "ada@example.com");
        let users = InMemoryUsers::with([ada.clone()]);

        let (status, body, _) = send(
            &users,
            &ada.id.to_string(),
            Some("\"1\""),
            r#"{"name":"Ada L.","email":"ada@example.com"}"#,
        )
        .await;

        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["name"], "Ada L.");
    }

    #[tokio::test]
    async fn an_unknown_user_is_not_found() {
        let users = InMemoryUsers::new();
        let unknown = UserId::new();

        let (status, body, _) = send(&users, &unknown.to_string(), Some("\"1\""), EVE).await;

        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body["error"]["message"],
            format!("user {unknown} not found")
        );
    }

    #[tokio::test]
    async fn server_managed_fields_are_refused_by_name() {
        let ada = user("Ada", "ada@example.com");
        let users = InMemoryUsers::with([ada.clone()]);

        for (field, value) in [
            ("version", json!(9)),
            ("id", json!(ada.id.to_string())),
            ("created_at", json!("2025-01-01T00:00:00Z")),
            ("updated_at", json!("2025-01-01T00:00:00Z")),
        ] {
            let mut body = json!({"name": "Ada", "email": "ada@example.com"});
            body[field] = value;

            let (status, body, _) = send(
                &users,
                &ada.id.to_string(),
                Some("\"1\""),
                &body.to_string(),
            )
            .await;

            assert_eq!(status, StatusCode::BAD_REQUEST, "{field}");
            assert_eq!(
                body["error"]["details"],
                json!([{"field": field, "message": "is not allowed"}])
            );
        }
        assert_eq!(users.all(), [ada]);
    }

    #[tokio::test]
    async fn a_partial_body_is_refused_naming_the_missing_field() {
        let ada = user("Ada", "ada@example.com");
        let users = InMemoryUsers::with([ada.clone()]);

        let (status, body, _) = send(
            &users,
            &ada.id.to_string(),
            Some("\"1\""),
            r#"{"name":"Ada"}"#,
        )
        .await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "email", "message": "is required"}])
        );
    }

    #[tokio::test]
    async fn invalid_fields_are_all_reported() {
        let ada = user("Ada", "ada@example.com");
        let users = InMemoryUsers::with([ada.clone()]);

        let (status, body, _) = send(
            &users,
            &ada.id.to_string(),
            Some("\"1\""),
            r#"{"name":" ","email":"nope"}"#,
        )
        .await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        let fields: Vec<&str> = body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["name", "email"]);
    }

    #[tokio::test]
    async fn a_malformed_id_is_a_validation_error_naming_id() {
        let users = InMemoryUsers::new();

        let (status, body, _) = send(&users, "EMAIL#ada@example.com", Some("\"1\""), EVE).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"][0]["field"], "id");
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let ada = user("Ada", "ada@example.com");
        let users = InMemoryUsers::with([ada.clone()]);
        users.fail_with("transaction failed");

        let (status, body, _) = send(&users, &ada.id.to_string(), Some("\"1\""), EVE).await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            json!({"error": {"code": "INTERNAL_ERROR", "message": "internal error"}})
        );
    }
}
