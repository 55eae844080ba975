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
use shared::Error;
use shared::api::CreateUserRequest;
use shared::auth::{Principal, Role};
use shared::domain::{NewUser, UserId, now};
use shared::http::{HttpResult, created, parse_body, respond, with_etag};
use shared::ports::UserWriter;

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
    use shared::domain::{Email, UserName};
    use shared::memory::InMemoryUsers;
    use shared::testing::{ApiRequest, error_details, status_and_json};
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

    /// The fields a validation error names, in order.
    fn fields(body: &Value) -> Vec<&str> {
        error_details(body)
            .into_iter()
            .map(|(field, _)| field)
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
        assert_eq!(error_details(&body), [("id", "is not allowed")]);
        assert!(users.all().is_empty());
    }

    #[tokio::test]
    async fn a_caller_who_may_not_create_users_is_refused_and_nothing_is_stored() {
        let users = InMemoryUsers::new();

        for (case, req, expected_status, code) in [
            (
                "no token, refused before the body is read",
                post().raw_body("{not json"),
                401,
                "UNAUTHORIZED",
            ),
            (
                "a caller without a role",
                post()
                    .principal(&cognito_sub().to_string(), &["guests"])
                    .raw_body(ADA),
                403,
                "FORBIDDEN",
            ),
            (
                "a customer whose subject is not a user id",
                post()
                    .principal("machine-client", &["customer"])
                    .raw_body(ADA),
                403,
                "FORBIDDEN",
            ),
        ] {
            let (status, body, _) = send(&users, req).await;

            assert_eq!(status, expected_status, "{case}: {body}");
            assert_eq!(body["error"]["code"], code, "{case}");
            assert!(users.all().is_empty(), "{case}");
        }
    }

    #[tokio::test]
    async fn a_body_that_cannot_be_read_is_a_validation_error_naming_where() {
        let users = InMemoryUsers::new();

        for (case, body, field) in [
            ("a body that is not JSON", "{\"name\": ", "body"),
            ("a missing body", "", "body"),
            (
                "a field of the wrong type",
                r#"{"name":42,"email":"ada@example.com"}"#,
                "name",
            ),
        ] {
            let (status, body, _) = send_as_admin(&users, body).await;

            assert_eq!(status, 400, "{case}: {body}");
            assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "{case}");
            assert_eq!(fields(&body), [field], "{case}");
            assert!(users.all().is_empty(), "{case}");
        }
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
            assert_eq!(error_details(&body), [(field, "is not allowed")], "{field}");
        }
        assert!(users.all().is_empty());
    }

    #[tokio::test]
    async fn a_body_breaking_a_rule_is_refused_naming_each_field_and_nothing_is_stored() {
        let users = InMemoryUsers::new();

        for (case, body, expected) in [
            (
                "an invalid email and an empty name are both reported",
                json!({"name": "  ", "email": "not-an-email"}),
                vec![
                    ("email", "must be a valid email address"),
                    ("name", "must not be empty"),
                ],
            ),
            (
                "a name and an email over the domain bounds",
                json!({
                    "name": "é".repeat(UserName::MAX_CHARS + 1),
                    "email": format!("a@{}.com", "b".repeat(Email::MAX_LEN)),
                }),
                vec![
                    ("email", "must be a valid email address"),
                    ("email", "must be at most 254 long"),
                    ("name", "must be at most 100 long"),
                ],
            ),
            (
                "the domain parse still refuses what the rules let through",
                json!({"name": "Ada\u{7}", "email": "ada@localhost"}),
                vec![
                    ("name", "must not contain control characters"),
                    ("email", "must be a valid email address"),
                ],
            ),
        ] {
            let (status, body, _) = send(&users, post().as_admin().body(&body)).await;

            assert_eq!(status, 400, "{case}: {body}");
            assert_eq!(error_details(&body), expected, "{case}");
            assert!(users.all().is_empty(), "{case}");
        }
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
