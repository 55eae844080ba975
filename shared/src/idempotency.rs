//! The `Idempotency-Key` protocol of a `POST` (draft-ietf-httpapi-idempotency-key-header), after
//! zero-to-production's `idempotency` module: [`try_processing`] says whether to do the work or
//! to answer a saved response, and [`Attempt::save_response`] is the record the handler commits
//! in the same transaction as the work, so that a response is saved exactly when its work is.
//!
//! ```text
//! match try_processing(store, &req, principal.subject()).await? {
//!     NextAction::ReturnSavedResponse(saved) => return Ok(saved),
//!     NextAction::StartProcessing(attempt) => { /* work; commit attempt.save_response(&r) */ }
//! }
//! ```
//!
//! Rules:
//! - keys are scoped to the caller ([`scoped_key`]: `<sub>:<key>`), so that a caller never
//!   replays another caller's response, even with the same header value;
//! - a retry with the same key and the same body (compared as JSON: whitespace and key order do
//!   not matter) gets the saved status, body and `Location` again, with
//!   `idempotent-replayed: true`;
//! - the same key with another body is [`Error::IdempotencyKeyReused`] (422);
//! - without the header every request is processed.

use lambda_http::http::StatusCode;
use lambda_http::http::header::{CONTENT_TYPE, LOCATION};
use lambda_http::{Body, Request, Response};

use crate::error::Error;
use crate::http::idempotency_key;
use crate::ports::{IdempotencyReader, IdempotentResponse};

/// Header set on a replayed response: `idempotent-replayed: true`.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// What the handler does next, from [`try_processing`].
#[derive(Debug)]
pub enum NextAction {
    /// Nothing is saved for this key (or no key was sent): do the work and commit
    /// [`Attempt::save_response`] with it.
    StartProcessing(Attempt),
    /// This caller already sent this request under this key: answer this again.
    ReturnSavedResponse(Response<Body>),
}

/// A request being processed, with the key it came with (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The caller-scoped key, `None` without an `Idempotency-Key` header.
    key: Option<String>,
    /// The request body as received, to save with the response.
    request: String,
}

/// The key a response is saved and looked up under: `<subject>:<key>`, the caller's token `sub`
/// and the `Idempotency-Key` header value as sent.
pub fn scoped_key(subject: &str, key: &str) -> String {
    format!("{subject}:{key}")
}

/// Reads `req`'s `Idempotency-Key` (scoped to `subject`, the caller's token `sub`) and the
/// response saved under it.
///
/// # Errors
/// [`Error::Validation`] on field `Idempotency-Key` for a malformed header;
/// [`Error::IdempotencyKeyReused`] when a response is saved under the key for another body;
/// [`Error::Internal`] when the store fails or the saved response cannot be rebuilt.
pub async fn try_processing<S: IdempotencyReader>(
    store: &S,
    req: &Request,
    subject: &str,
) -> Result<NextAction, Error> {
    let key = idempotency_key(req)?.map(|key| scoped_key(subject, &key));
    let request = String::from_utf8_lossy(req.body().as_ref()).into_owned();
    if let Some(key) = &key
        && let Some(saved) = store.get(key).await?
    {
        return replay(&saved, &request).map(NextAction::ReturnSavedResponse);
    }
    Ok(NextAction::StartProcessing(Attempt { key, request }))
}

impl Attempt {
    /// The record that saves `response` under this attempt's key, to commit in the same
    /// transaction as the work; `None` when the request came without a key. Keeps the status,
    /// the body (as text) and the `Location` header.
    pub fn save_response(&self, response: &Response<Body>) -> Option<IdempotentResponse> {
        let key = self.key.as_ref()?;
        Some(IdempotentResponse {
            key: key.clone(),
            request: self.request.clone(),
            status: response.status().as_u16(),
            response: String::from_utf8_lossy(response.body().as_ref()).into_owned(),
            location: response
                .headers()
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        })
    }

    /// The response saved by a concurrent request that took the key first (the store refused
    /// this attempt's record and committed nothing): replayed as for [`try_processing`].
    ///
    /// # Errors
    /// [`Error::IdempotencyKeyReused`] when that request had another body;
    /// [`Error::Internal`] when there is no key or the saved response is gone.
    pub async fn saved_by_another<S: IdempotencyReader>(
        self,
        store: &S,
    ) -> Result<Response<Body>, Error> {
        let Some(key) = self.key else {
            return Err(Error::internal(
                "idempotency record",
                "the store reported a used key for a request without one",
            ));
        };
        let saved = store
            .get(&key)
            .await?
            .ok_or_else(|| Error::internal("idempotency record", format!("key {key} vanished")))?;
        replay(&saved, &self.request)
    }
}

/// The saved response again, or 422 when `body` is not the saved request's.
fn replay(saved: &IdempotentResponse, body: &str) -> Result<Response<Body>, Error> {
    if !same_request(&saved.request, body) {
        return Err(Error::IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request body".to_owned(),
        ));
    }
    let status = StatusCode::from_u16(saved.status)
        .map_err(|e| Error::internal("stored idempotent response", e))?;
    let mut builder = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .header(REPLAYED_HEADER, "true");
    if let Some(location) = &saved.location {
        builder = builder.header(LOCATION, location);
    }
    builder
        .body(Body::Text(saved.response.clone()))
        .map_err(|e| Error::internal("building replayed response", e))
}

/// Whether two bodies are the same request: equal as JSON values, so whitespace and key order
/// do not matter. A body that is not JSON never matches.
fn same_request(saved: &str, body: &str) -> bool {
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
    matches!((parse(saved), parse(body)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ErrorResponse;
    use crate::memory::InMemoryOrders;
    use crate::testing::ApiRequest;
    use serde_json::json;

    fn post(key: Option<&str>, body: &serde_json::Value) -> Request {
        let req = ApiRequest::new("POST", "/orders").body(body);
        match key {
            Some(key) => req.header("idempotency-key", key),
            None => req,
        }
        .build()
    }

    fn attempt(next: NextAction) -> Attempt {
        match next {
            NextAction::StartProcessing(attempt) => attempt,
            NextAction::ReturnSavedResponse(r) => panic!("expected to process, got {r:?}"),
        }
    }

    fn saved(key: &str, request: &str) -> IdempotentResponse {
        IdempotentResponse {
            key: key.to_owned(),
            request: request.to_owned(),
            status: 201,
            response: r#"{"id":"1"}"#.to_owned(),
            location: Some("/orders/1".to_owned()),
        }
    }

    #[test]
    fn an_idempotency_key_is_scoped_to_the_caller() {
        let alice = scoped_key("alice", "retry-1");
        let bob = scoped_key("bob", "retry-1");

        assert_eq!(alice, "alice:retry-1");
        assert_ne!(alice, bob);
    }

    #[tokio::test]
    async fn a_request_without_a_key_is_processed_and_saves_nothing() {
        let store = InMemoryOrders::new();

        let attempt = attempt(
            try_processing(&store, &post(None, &json!({"a": 1})), "alice")
                .await
                .unwrap(),
        );

        assert_eq!(attempt.save_response(&Response::new(Body::Empty)), None);
    }

    #[tokio::test]
    async fn a_new_key_is_processed_and_its_response_saved_under_the_scoped_key() {
        let store = InMemoryOrders::new();
        let req = post(Some("k-1"), &json!({"a": 1}));
        let response = crate::http::created("/orders/1", &json!({"id": "1"}));

        let attempt = attempt(try_processing(&store, &req, "alice").await.unwrap());
        let record = attempt.save_response(&response).unwrap();

        assert_eq!(record.key, "alice:k-1");
        assert_eq!(record.status, 201);
        assert_eq!(record.response, r#"{"id":"1"}"#);
        assert_eq!(record.location.as_deref(), Some("/orders/1"));
        assert!(same_request(&record.request, r#"{"a":1}"#));
    }

    #[test]
    fn the_same_json_in_another_layout_is_the_same_request_and_non_json_never_is() {
        assert!(same_request(
            r#"{"a":1,"b":[2]}"#,
            r#"{ "b": [2], "a": 1 }"#
        ));
        assert!(!same_request(r#"{"a":1}"#, r#"{"a":2}"#));
        assert!(!same_request("not json", "not json"));
    }

    #[test]
    fn a_saved_response_is_replayed_with_its_status_location_and_marker() {
        let response = replay(&saved("alice:k", r#"{"a":1}"#), r#"{"a":1}"#).unwrap();

        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()[LOCATION], "/orders/1");
        assert_eq!(response.headers()[REPLAYED_HEADER], "true");
        assert_eq!(response.body().as_ref(), br#"{"id":"1"}"#);
    }

    #[test]
    fn a_saved_key_with_another_body_is_a_422() {
        let error = replay(&saved("alice:k", r#"{"a":1}"#), r#"{"a":2}"#).unwrap_err();

        assert_eq!(error.code(), "IDEMPOTENCY_KEY_REUSED");
    }

    #[tokio::test]
    async fn losing_the_race_for_a_key_without_a_saved_response_is_an_internal_error() {
        let store = InMemoryOrders::new();
        let attempt = attempt(
            try_processing(&store, &post(Some("k"), &json!({})), "alice")
                .await
                .unwrap(),
        );

        let error = attempt.saved_by_another(&store).await.unwrap_err();

        assert_eq!(error.code(), "INTERNAL_ERROR");
    }
}
