//! `GET /users?limit=&cursor=` -> `200` with `{"items":[<user>...],"next":"<cursor>"|null}`;
//! `GET /users?email=` -> the same shape with the one user who has that email, or none.
//!
//! Who may call (checked first, before the query is read or the store is touched): **admins**
//! only. A customer is `403 FORBIDDEN` (they read their own record with `GET /users/{id}`); no
//! token is `401 UNAUTHORIZED`.
//!
//! The query is typed: `limit` is 1..=100 (default 20); `cursor` is the `next` of the previous
//! page, passed back unchanged (at most 512 characters; an empty `cursor` means the first
//! page). `email` is trimmed, checked as an address of at most 254 bytes, normalised like on
//! creation (lowercased) and looked up through the `email-index` GSI; its page has 0 or 1 item
//! and `next: null` (`limit` is still checked; a non-empty `cursor` is refused, `cursor: is not
//! allowed with email`). Any other parameter is refused (`<name>: is not allowed`).
//!
//! Errors: `400 VALIDATION_ERROR` on field `limit`, `cursor`, `email` or an unknown parameter,
//! `401 UNAUTHORIZED`, `403 FORBIDDEN`, `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::api::ListUsersQuery;
use shared::auth::Principal;
use shared::domain::Email;
use shared::http::{HttpResult, json_response, parse_query, respond};
use shared::ports::{Page, UserByEmail, UserLister, page_request};

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<L: UserLister + UserByEmail>(users: &L, req: Request) -> HttpResult {
    respond(list_users(users, &req).await)
}

async fn list_users<L: UserLister + UserByEmail>(
    users: &L,
    req: &Request,
) -> Result<Response<Body>, Error> {
    Principal::from_request(req)?.require_admin()?;
    let query: ListUsersQuery = parse_query(req)?;
    let (limit, cursor) = page_request(query.limit, query.cursor)?;
    if let Some(raw) = query.email {
        // The lookup is one page: a cursor would be ignored, so one is refused rather than
        // accepted unchecked (found by schemathesis: a malformed cursor answered 200).
        if cursor.is_some() {
            return Err(Error::invalid("cursor", "is not allowed with email"));
        }
        let email = Email::parse(&raw).map_err(|e| Error::invalid("email", e.0))?;
        let user = users.find_by_email(&email).await?;
        let page = Page {
            items: user.into_iter().collect(),
            next: None,
        };
        return Ok(json_response(StatusCode::OK, &page));
    }
    let page = users.list(limit, cursor.as_ref()).await?;
    Ok(json_response(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::{NewUser, User, UserId, now};
    use shared::memory::InMemoryUsers;
    use shared::ports::Cursor;
    use shared::testing::{ApiRequest, status_and_json};

    /// `GET /users` with `query`, from no one yet.
    fn get(query: &[(&str, &str)]) -> ApiRequest {
        ApiRequest::new("GET", "/users").queries(query)
    }

    async fn send(users: &InMemoryUsers, req: ApiRequest) -> (u16, Value) {
        let Ok(response) = handle(users, req.build()).await;
        status_and_json(&response)
    }

    /// An admin's `GET /users?<query>`.
    async fn send_as_admin(users: &InMemoryUsers, query: &[(&str, &str)]) -> (u16, Value) {
        send(users, get(query).as_admin()).await
    }

    fn some_users(n: usize) -> Vec<User> {
        (0..n)
            .map(|i| {
                NewUser::parse(&format!("User {i}"), &format!("user{i}@example.com"))
                    .unwrap()
                    .into_user(UserId::new(), now())
            })
            .collect()
    }

    fn ids(body: &Value) -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn without_a_limit_a_page_holds_20_users_and_a_cursor() {
        let users = InMemoryUsers::with(some_users(25));

        let (status, body) = send_as_admin(&users, &[]).await;

        assert_eq!(status, 200);
        assert_eq!(ids(&body).len(), 20);
        assert!(body["next"].is_string(), "{body}");
    }

    #[tokio::test]
    async fn a_customer_may_not_list_users() {
        let all = some_users(2);
        let users = InMemoryUsers::with(all.clone());

        let (status, body) = send(&users, get(&[]).as_customer(all[0].id)).await;

        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "FORBIDDEN");
    }

    #[tokio::test]
    async fn a_customer_may_not_look_anyone_up_by_email_either() {
        let all = some_users(2);
        let users = InMemoryUsers::with(all.clone());

        let (status, _) = send(
            &users,
            get(&[("email", "user1@example.com")]).as_customer(all[0].id),
        )
        .await;

        assert_eq!(status, 403);
    }

    #[tokio::test]
    async fn a_request_without_a_token_is_401_before_the_query_is_read() {
        let users = InMemoryUsers::with(some_users(1));

        let (status, body) = send(&users, get(&[("limit", "abc")])).await;

        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
    }

    #[tokio::test]
    async fn following_next_visits_every_user_exactly_once() {
        let all = some_users(5);
        let users = InMemoryUsers::with(all.clone());
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;

        for _ in 0..10 {
            let mut query = vec![("limit", "2")];
            if let Some(next) = &cursor {
                query.push(("cursor", next));
            }
            let (status, body) = send_as_admin(&users, &query).await;
            assert_eq!(status, 200, "{body}");
            seen.extend(ids(&body));
            match body["next"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }

        let mut expected: Vec<String> = all.iter().map(|u| u.id.to_string()).collect();
        expected.sort();
        seen.sort();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn the_last_page_has_a_null_next() {
        let users = InMemoryUsers::with(some_users(2));

        let (status, body) = send_as_admin(&users, &[("limit", "5")]).await;

        assert_eq!(status, 200);
        assert_eq!(ids(&body).len(), 2);
        assert_eq!(body["next"], Value::Null);
    }

    #[tokio::test]
    async fn an_empty_cursor_means_the_first_page() {
        let users = InMemoryUsers::with(some_users(2));

        let (status, body) = send_as_admin(&users, &[("cursor", "")]).await;

        assert_eq!(status, 200);
        assert_eq!(ids(&body).len(), 2);
    }

    #[tokio::test]
    async fn a_limit_outside_1_to_100_is_a_validation_error_naming_limit() {
        let users = InMemoryUsers::with(some_users(1));

        for (limit, message) in [
            ("0", Some("must be at least 1")),
            ("101", Some("must be at most 100")),
        ]
        .into_iter()
        .chain(["abc", "-3", ""].map(|limit| (limit, None)))
        {
            let (status, body) = send_as_admin(&users, &[("limit", limit)]).await;

            assert_eq!(status, 400, "{limit}");
            let details = body["error"]["details"].as_array().unwrap();
            assert_eq!(details.len(), 1, "{limit}");
            assert_eq!(details[0]["field"], "limit", "{limit}");
            if let Some(message) = message {
                assert_eq!(details[0]["message"], message, "{limit}");
            }
        }
    }

    #[tokio::test]
    async fn an_unknown_query_parameter_is_refused_by_name() {
        let users = InMemoryUsers::with(some_users(1));

        let (status, body) = send_as_admin(&users, &[("role", "admin")]).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "role", "message": "is not allowed"}])
        );
    }

    #[tokio::test]
    async fn a_cursor_we_did_not_issue_is_a_validation_error_naming_cursor() {
        let users = InMemoryUsers::with(some_users(3));

        let (status, body) = send_as_admin(&users, &[("cursor", "bm90LWEtY3Vyc29y")]).await;

        assert_eq!(status, 400);
        assert_eq!(body["error"]["details"][0]["field"], "cursor");
    }

    #[tokio::test]
    async fn an_overlong_cursor_is_refused_before_it_is_decoded() {
        let users = InMemoryUsers::with(some_users(1));
        let cursor = "A".repeat(Cursor::MAX_LEN + 1);

        let (status, body) = send_as_admin(&users, &[("cursor", &cursor)]).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "cursor", "message": "must be at most 512 long"}])
        );
    }

    #[tokio::test]
    async fn an_empty_store_gives_an_empty_last_page() {
        let users = InMemoryUsers::new();

        let (status, body) = send_as_admin(&users, &[]).await;

        assert_eq!(status, 200);
        assert_eq!(body, json!({"items": [], "next": null}));
    }

    #[tokio::test]
    async fn an_email_finds_the_one_user_who_has_it_normalised() {
        let all = some_users(3);
        let users = InMemoryUsers::with(all.clone());

        let (status, body) =
            send_as_admin(&users, &[("email", " USER1@Example.com"), ("cursor", "")]).await;

        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"items": [serde_json::to_value(&all[1]).unwrap()], "next": null})
        );
    }

    #[tokio::test]
    async fn a_cursor_with_an_email_is_refused_naming_cursor() {
        let users = InMemoryUsers::with(some_users(2));

        let (status, body) =
            send_as_admin(&users, &[("email", "user1@example.com"), ("cursor", "è]p")]).await;

        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "cursor", "message": "is not allowed with email"}])
        );
    }

    #[tokio::test]
    async fn an_email_nobody_has_gives_an_empty_page() {
        let users = InMemoryUsers::with(some_users(2));

        let (status, body) = send_as_admin(&users, &[("email", "nobody@example.com")]).await;

        assert_eq!(status, 200);
        assert_eq!(body, json!({"items": [], "next": null}));
    }

    #[tokio::test]
    async fn an_invalid_email_is_a_validation_error_naming_email() {
        let users = InMemoryUsers::with(some_users(1));

        for (email, message) in [
            ("not-an-email", "must be a valid email address"),
            ("", "must be a valid email address"),
            ("ada@localhost", "must be a valid email address"),
        ] {
            let (status, body) = send_as_admin(&users, &[("email", email)]).await;

            assert_eq!(status, 400, "{email}");
            assert_eq!(
                body["error"]["details"],
                json!([{"field": "email", "message": message}]),
                "{email}"
            );
        }
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let users = InMemoryUsers::with(some_users(1));
        users.fail_with("scan failed");

        for query in [vec![], vec![("email", "user0@example.com")]] {
            let (status, body) = send_as_admin(&users, &query).await;

            assert_eq!(status, 500, "{query:?}");
            assert_eq!(
                body,
                json!({"error": {"code": "INTERNAL_ERROR", "message": "internal error"}})
            );
        }
    }
}
