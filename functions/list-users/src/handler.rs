//! `GET /users?limit=&cursor=` -> `200` with `{"items":[<user>...],"next":"<cursor>"|null}`;
//! `GET /users?email=` -> the same shape with the one user who has that email, or none.
//!
//! `limit` is 1..=100 (default 20); `cursor` is the `next` of the previous page, passed back
//! unchanged (an empty `cursor` means the first page). `email` is normalised like on creation
//! (trimmed, lowercased) and looked up through the `email-index` GSI; its page has 0 or 1 item
//! and `next: null` (`limit` is still checked, `cursor` is ignored). Errors:
//! `400 VALIDATION_ERROR` on field `limit`, `cursor` or `email`, `500 INTERNAL_ERROR`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::Error;
use shared::domain::Email;
use shared::http::{HttpResult, json_response, query_param, respond};
use shared::ports::{Cursor, Page, PageLimit, UserByEmail, UserLister};

/// Handles one request; every outcome is a response (see [`shared::http::respond`]).
pub async fn handle<L: UserLister + UserByEmail>(users: &L, req: Request) -> HttpResult {
    respond(list_users(users, &req).await)
}

async fn list_users<L: UserLister + UserByEmail>(
    users: &L,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let limit = query_param(req, "limit")
        .map(PageLimit::parse)
        .transpose()
        .map_err(|e| Error::invalid("limit", e.0))?
        .unwrap_or_default();
    if let Some(raw) = query_param(req, "email") {
        let email = Email::parse(raw).map_err(|e| Error::invalid("email", e.0))?;
        let user = users.find_by_email(&email).await?;
        let page = Page {
            items: user.into_iter().collect(),
            next: None,
        };
        return Ok(json_response(StatusCode::OK, &page));
    }
    let cursor = query_param(req, "cursor")
        .filter(|c| !c.is_empty())
        .map(Cursor::from_client);
    let page = users.list(limit, cursor.as_ref()).await?;
    Ok(json_response(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::{NewUser, User, UserId, now};
    use shared::memory::InMemoryUsers;

    fn get_users(query: &str) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/apigw-http-v2-get.json")).unwrap();
        event["routeKey"] = json!("GET /users");
        event["rawPath"] = json!("/users");
        event["rawQueryString"] = json!(query);
        event["queryStringParameters"] = json!({});
        event["requestContext"]["http"]["path"] = json!("/users");
        event["pathParameters"] = json!({});
        event["body"] = Value::Null;
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    async fn send(users: &InMemoryUsers, query: &str) -> (StatusCode, Value) {
        let Ok(response) = handle(users, get_users(query)).await;
        let json = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status(), json)
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

        let (status, body) = send(&users, "").await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(ids(&body).len(), 20);
        assert!(body["next"].is_string(), "{body}");
    }

    #[tokio::test]
    async fn following_next_visits_every_user_exactly_once() {
        let all = some_users(5);
        let users = InMemoryUsers::with(all.clone());
        let mut seen = Vec::new();
        let mut query = "limit=2".to_owned();

        for _ in 0..10 {
            let (status, body) = send(&users, &query).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            seen.extend(ids(&body));
            match body["next"].as_str() {
                Some(next) => query = format!("limit=2&cursor={next}"),
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

        let (status, body) = send(&users, "limit=5").await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(ids(&body).len(), 2);
        assert_eq!(body["next"], Value::Null);
    }

    #[tokio::test]
    async fn a_limit_outside_1_to_100_is_a_validation_error_naming_limit() {
        let users = InMemoryUsers::with(some_users(1));

        for query in ["limit=0", "limit=101", "limit=abc", "limit=-3", "limit="] {
            let (status, body) = send(&users, query).await;

            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(
                body["error"]["details"],
                json!([{"field": "limit", "message": "must be an integer between 1 and 100"}]),
                "{query}"
            );
        }
    }

    #[tokio::test]
    async fn a_cursor_we_did_not_issue_is_a_validation_error_naming_cursor() {
        let users = InMemoryUsers::with(some_users(3));

        let (status, body) = send(&users, "cursor=bm90LWEtY3Vyc29y").await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["details"][0]["field"], "cursor");
    }

    #[tokio::test]
    async fn an_empty_store_gives_an_empty_last_page() {
        let users = InMemoryUsers::new();

        let (status, body) = send(&users, "").await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"items": [], "next": null}));
    }

    #[tokio::test]
    async fn an_email_finds_the_one_user_who_has_it_normalised() {
        let all = some_users(3);
        let users = InMemoryUsers::with(all.clone());

        let (status, body) = send(&users, "email=%20USER1%40Example.com&cursor=ignored").await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"items": [serde_json::to_value(&all[1]).unwrap()], "next": null})
        );
    }

    #[tokio::test]
    async fn an_email_nobody_has_gives_an_empty_page() {
        let users = InMemoryUsers::with(some_users(2));

        let (status, body) = send(&users, "email=nobody%40example.com").await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"items": [], "next": null}));
    }

    #[tokio::test]
    async fn an_invalid_email_is_a_validation_error_naming_email() {
        let users = InMemoryUsers::with(some_users(1));

        for query in ["email=not-an-email", "email="] {
            let (status, body) = send(&users, query).await;

            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(
                body["error"]["details"],
                json!([{"field": "email", "message": "must be a valid email address"}]),
                "{query}"
            );
        }
    }

    #[tokio::test]
    async fn a_store_failure_is_an_opaque_500() {
        let users = InMemoryUsers::with(some_users(1));
        users.fail_with("scan failed");

        for query in ["", "email=user0%40example.com"] {
            let (status, body) = send(&users, query).await;

            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{query}");
            assert_eq!(
                body,
                json!({"error": {"code": "INTERNAL_ERROR", "message": "internal error"}})
            );
        }
    }
}
