//! `POST /users`: body `{"name","email"}` -> `201` with the user (version 1),
//! `location: /users/{id}` and `ETag: "1"`.
//!
//! Who may call (checked first, before the body is read or the store is touched):
//! - an **admin** creates any user; the record gets a fresh id (UUID v7);
//! - a **customer** creates their own record: its id is the token's `sub`, so a customer
//!   cannot create a record for anyone else. A second create for the same `sub` is
//!   `409 CONFLICT` (the store's insert is conditional on a new id);
//! - anyone else: `401 UNAUTHORIZED` without a token, `403 FORBIDDEN` without one of those
//!   roles (or, for a customer, when `sub` is not a user id).
//!
//! The body is checked with its rules first (`name` 1..=100 characters, `email` a valid
//! address of at most 254 bytes, both after trimming), every broken rule reported at once;
//! then the domain parse (control characters, the exact email shape). Fields the server sets
//! (`id`, `role`, `version`, `created_at`, `updated_at`) are refused with `is not allowed`.
//!
//! Errors: `400 VALIDATION_ERROR` (bad body or field, unknown field), `401 UNAUTHORIZED`,
//! `403 FORBIDDEN`, `409 CONFLICT` (the email is already registered, or the customer's record
//! exists; enforced by the store, so concurrent requests cannot both win),
//! `413 PAYLOAD_TOO_LARGE`, `500 INTERNAL_ERROR` (store failed).

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::Error;
use shared::auth::{Principal, Role};
use shared::domain::{Email, NewUser, UserId, UserName, now};
use shared::http::{HttpResult, created, parse_body, respond, with_etag};
use shared::ports::UserWriter;

/// The request body: the editable fields only. Rules mirror the domain's bounds; the domain
/// parse still runs after.
#[derive(Debug, Deserialize, garde::Validate)]
#[serde(deny_unknown_fields)]
struct CreateUserRequest {
    /// Display name, trimmed.
    #[serde(deserialize_with = "shared::validate::trimmed")]
    #[garde(length(chars, min = 1, max = UserName::MAX_CHARS))]
    name: String,
    /// Email address, trimmed (the domain lowercases it).
    #[serde(deserialize_with = "shared::validate::trimmed")]
    #[garde(email, length(bytes, max = Email::MAX_LEN))]
    email: String,
}

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<W: UserWriter>(users: &W, req: Request) -> HttpResult {
    respond(create_user(users, &req).await)
}

async fn create_user<W: UserWriter>(users: &W, req: &Request) -> Result<Response<Body>, Error> {
    let principal = Principal::from_request(req)?;
    let id = match principal.require_role()? {
        Role::Admin => UserId::new(),
        // A customer's record is their identity: its id is the token's `sub`.
        Role::Customer => principal.user_id()?,
    };
    let body: CreateUserRequest = parse_body(req)?;
    let user = NewUser::parse(&body.name, &body.email)?.into_user(id, now());
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
    use serde_json::{Value, json};
    use shared::memory::InMemoryUsers;
    use shared::testing::{ApiRequest, status_and_json};
    use uuid::Uuid;

    const ADA: &str = r#"{"name":"Ada","email":"ada@example.com"}"#;

    fn post() -> ApiRequest {
        ApiRequest::new("POST", "/users")
    }

    async fn send(users: &InMemoryUsers, req: ApiRequest) -> (u16, Value, Response<Body>) {
        let Ok(response) = handle(users, req.build()).await;
        let (status, json) = status_and_json(&response);
        (status, json, response)
    }

    async fn send_as_admin(users: &InMemoryUsers, body: &str) -> (u16, Value, Response<Body>) {
        send(users, post().as_admin().raw_body(body)).await
    }

    /// A Cognito-style subject: a UUID v4.
    fn cognito_sub() -> UserId {
        UserId::parse(&Uuid::new_v4().to_string()).unwrap()
    }

    fn fields(body: &Value) -> Vec<&str> {
        body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn an_admin_creates_a_user_with_a_new_id_and_its_location() {
        let users = InMemoryUsers::new();

        let (status, body, response) = send_as_admin(
            &users,
            r#"{"name":" Ada Lovelace ","email":"Ada@Example.com"}"#,
        )
        .await;

        assert_eq!(status, 201);
        assert_eq!(body["name"], "Ada Lovelace");
        assert_eq!(body["email"], "ada@example.com");
        let id = UserId::parse(body["id"].as_str().unwrap()).unwrap();
        assert_eq!(id.as_uuid().get_version_num(), 7);
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
    async fn a_customer_creates_their_own_record_under_their_token_subject() {
        let users = InMemoryUsers::new();
        let me = cognito_sub();

        let (status, body, response) = send(&users, post().as_customer(me).raw_body(ADA)).await;

        assert_eq!(status, 201, "{body}");
        assert_eq!(body["id"], me.to_string());
        assert_eq!(
            response.headers()["location"],
            format!("/users/{me}").as_str()
        );
        assert_eq!(users.all()[0].id, me);
    }

    #[tokio::test]
    async fn a_customer_whose_record_exists_gets_a_conflict() {
        let users = InMemoryUsers::new();
        let me = cognito_sub();
        let (first, _, _) = send(&users, post().as_customer(me).raw_body(ADA)).await;

        let (status, body, _) = send(
            &users,
            post()
                .as_customer(me)
                .raw_body(r#"{"name":"Ada","email":"other@example.com"}"#),
        )
        .await;

        assert_eq!(first, 201);
        assert_eq!(status, 409);
        assert_eq!(
            body,
            json!({"error": {"code": "CONFLICT", "message": format!("user {me} already exists")}})
        );
        assert_eq!(users.all().len(), 1);
    }

    #[tokio::test]
    async fn a_customer_cannot_choose_the_id_of_their_record() {
        let users = InMemoryUsers::new();
        let me = cognito_sub();
        let body =
            json!({"id": UserId::new().to_string(), "name": "Ada", "email": "ada@example.com"});

        let (status, body, _) = send(&users, post().as_customer(me).body(&body)).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "id", "message": "is not allowed"}])
        );
        assert!(users.all().is_empty());
    }

    #[tokio::test]
    async fn a_request_without_a_token_is_401_before_the_body_is_read() {
        let users = InMemoryUsers::new();

        let (status, body, _) = send(&users, post().raw_body("{not json")).await;

        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        assert!(users.all().is_empty());
    }

    #[tokio::test]
    async fn a_caller_without_a_role_is_forbidden() {
        let users = InMemoryUsers::new();
        let req = post()
            .principal(&cognito_sub().to_string(), &["guests"])
            .raw_body(ADA);

        let (status, body, _) = send(&users, req).await;

        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert!(users.all().is_empty());
    }

    #[tokio::test]
    async fn a_customer_whose_subject_is_not_a_user_id_is_forbidden() {
        let users = InMemoryUsers::new();
        let req = post()
            .principal("machine-client", &["customer"])
            .raw_body(ADA);

        let (status, body, _) = send(&users, req).await;

        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "FORBIDDEN");
        assert!(users.all().is_empty());
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_a_validation_error_on_body() {
        let users = InMemoryUsers::new();

        let (status, body, _) = send_as_admin(&users, "{\"name\": ").await;

        assert_eq!(status, 400);
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"][0]["field"], "body");
        assert!(users.all().is_empty());
    }

    #[tokio::test]
    async fn a_missing_body_is_a_validation_error_on_body() {
        let users = InMemoryUsers::new();

        let (status, body, _) = send_as_admin(&users, "").await;

        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["field"], "body");
    }

    #[tokio::test]
    async fn a_missing_email_is_a_validation_error_naming_email() {
        let users = InMemoryUsers::new();

        let (status, body, _) = send_as_admin(&users, r#"{"name":"Ada"}"#).await;

        assert_eq!(status, 400);
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
    async fn fields_the_server_sets_are_refused_by_name() {
        let users = InMemoryUsers::new();

        for (field, value) in [
            ("role", json!("admin")),
            ("version", json!(7)),
            ("id", json!(UserId::new().to_string())),
            ("created_at", json!("2025-01-01T00:00:00Z")),
            ("updated_at", json!("2025-01-01T00:00:00Z")),
        ] {
            let mut body = json!({"name": "Ada", "email": "ada@example.com"});
            body[field] = value;

            let (status, body, _) = send(&users, post().as_admin().body(&body)).await;

            assert_eq!(status, 400, "{field}");
            assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "{field}");
            assert_eq!(
                body["error"]["details"],
                json!([{"field": field, "message": "is not allowed"}])
            );
        }
        assert!(users.all().is_empty());
    }

    #[tokio::test]
    async fn a_field_of_the_wrong_type_is_named() {
        let users = InMemoryUsers::new();

        let (status, body, _) =
            send_as_admin(&users, r#"{"name":42,"email":"ada@example.com"}"#).await;

        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["field"], "name");
    }

    #[tokio::test]
    async fn an_invalid_email_and_an_empty_name_are_both_reported() {
        let users = InMemoryUsers::new();

        let (status, body, _) =
            send_as_admin(&users, r#"{"name":"  ","email":"not-an-email"}"#).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([
                {"field": "email", "message": "not a valid email: value is missing `@`"},
                {"field": "name", "message": "length is lower than 1"}
            ])
        );
        assert!(users.all().is_empty());
    }

    #[tokio::test]
    async fn a_name_or_email_over_the_domain_bounds_is_refused() {
        let users = InMemoryUsers::new();
        let body = json!({
            "name": "é".repeat(UserName::MAX_CHARS + 1),
            "email": format!("a@{}.com", "b".repeat(Email::MAX_LEN)),
        });

        let (status, body, _) = send(&users, post().as_admin().body(&body)).await;

        assert_eq!(status, 400);
        assert_eq!(fields(&body), ["email", "email", "name"]);
        assert_eq!(
            body["error"]["details"][2]["message"],
            "length is greater than 100"
        );
    }

    #[tokio::test]
    async fn a_name_of_exactly_the_maximum_length_after_trimming_is_accepted() {
        let users = InMemoryUsers::new();
        let body = json!({
            "name": format!("  {}  ", "é".repeat(UserName::MAX_CHARS)),
            "email": " ada@example.com ",
        });

        let (status, body, _) = send(&users, post().as_admin().body(&body)).await;

        assert_eq!(status, 201, "{body}");
    }

    #[tokio::test]
    async fn the_domain_parse_still_refuses_what_the_rules_let_through() {
        let users = InMemoryUsers::new();

        let (status, body, _) =
            send_as_admin(&users, r#"{"name":"Ada\u0007","email":"ada@localhost"}"#).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([
                {"field": "name", "message": "must not contain control characters"},
                {"field": "email", "message": "must be a valid email address"}
            ])
        );
    }

    #[tokio::test]
    async fn an_email_already_registered_is_a_conflict_naming_it() {
        let users = InMemoryUsers::new();
        let (first, _, _) = send_as_admin(&users, ADA).await;

        let (status, body, response) =
            send_as_admin(&users, r#"{"name":"Eve","email":" ADA@example.com"}"#).await;

        assert_eq!(first, 201);
        assert_eq!(status, 409);
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
    async fn a_store_failure_is_an_opaque_500() {
        let users = InMemoryUsers::new();
        users.fail_with("dynamodb is down");

        let (status, body, _) = send_as_admin(&users, ADA).await;

        assert_eq!(status, 500);
        assert_eq!(
            body,
            json!({"error": {"code": "INTERNAL_ERROR", "message": "internal error"}})
        );
    }
}
