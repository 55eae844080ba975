//! DynamoDB's idempotent transactions, which the emulator lacks: a `TransactWriteItems` call
//! carrying a `ClientRequestToken` that was already used answers as DynamoDB answers it,
//! instead of running the transaction again.
//!
//! The AWS SDK for Rust fills `ClientRequestToken` itself (the Smithy `@idempotencyToken`
//! trait) and sends the same bytes on every retry of one call. So in AWS, a transaction whose
//! first attempt committed but whose answer was lost (an attempt timeout) succeeds on the retry;
//! moto runs it again, and its `attribute_not_exists` conditions then fail. The rules, from the
//! DynamoDB API reference, `TransactWriteItems`, "ClientRequestToken":
//! - the same token and the same parameters within 10 minutes of the first call's completion:
//!   the same result, without side effects (here: the first call's answer, replayed);
//! - the same token with other parameters within that window: `400
//!   IdempotentParameterMismatchException`;
//! - the same token while the first call is still running: `400
//!   TransactionInProgressException`;
//! - after 10 minutes the token is new again.
//!
//! A call that failed left nothing behind, so its token is forgotten and a retry runs again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use hyper::body::Bytes;
use std::time::Instant;

/// How long a completed call's token is remembered (DynamoDB API reference: "valid for 10
/// minutes after the first request that uses it is completed").
pub const TOKEN_WINDOW: Duration = Duration::from_secs(600);

/// The operations DynamoDB makes idempotent by `ClientRequestToken`.
const OPERATIONS: &[&str] = &["TransactWriteItems"];

/// A buffered answer of the emulator, as the proxy replays it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers (hop-by-hop ones already removed).
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

/// What to do with a call, from its token.
#[derive(Debug)]
pub enum Begin {
    /// No token, or one not seen in the window: forward the call, then [`Tokens::finish`] it.
    Forward(Option<String>),
    /// The token's call completed with these parameters: answer this.
    Replay(Answer),
    /// The token's call is still running.
    InProgress,
    /// The token was used with other parameters.
    Mismatch,
}

#[derive(Debug)]
enum State {
    Running,
    Done { answer: Answer, at: Instant },
}

#[derive(Debug)]
struct Entry {
    /// The first call's body: a retry sends the same bytes (the token is part of it).
    body: Bytes,
    state: State,
}

/// The tokens of the idempotent calls the proxy forwarded.
#[derive(Debug, Default)]
pub struct Tokens {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Tokens {
    /// Decides what to do with a call to `service`'s `operation` with `body` (awsJson), and
    /// marks a new token's call as running.
    pub fn begin(&self, service: &str, operation: Option<&str>, body: &Bytes) -> Begin {
        self.begin_at(Instant::now(), service, operation, body)
    }

    fn begin_at(
        &self,
        now: Instant,
        service: &str,
        operation: Option<&str>,
        body: &Bytes,
    ) -> Begin {
        let Some(token) = client_request_token(service, operation, body) else {
            return Begin::Forward(None);
        };
        let mut entries = self.lock();
        entries.retain(|_, e| match &e.state {
            State::Running => true,
            State::Done { at, .. } => now.duration_since(*at) < TOKEN_WINDOW,
        });
        match entries.get(&token) {
            Some(e) if e.body != *body => Begin::Mismatch,
            Some(Entry {
                state: State::Running,
                ..
            }) => Begin::InProgress,
            Some(Entry {
                state: State::Done { answer, .. },
                ..
            }) => Begin::Replay(answer.clone()),
            None => {
                entries.insert(
                    token.clone(),
                    Entry {
                        body: body.clone(),
                        state: State::Running,
                    },
                );
                Begin::Forward(Some(token))
            }
        }
    }

    /// Records how `token`'s call ended: a success is remembered for [`TOKEN_WINDOW`], anything
    /// else (an error answer, no answer: `None`) forgets the token.
    pub fn finish(&self, token: &str, answer: Option<&Answer>) {
        self.finish_at(Instant::now(), token, answer);
    }

    fn finish_at(&self, now: Instant, token: &str, answer: Option<&Answer>) {
        let mut entries = self.lock();
        match answer {
            Some(answer) if answer.status.is_success() => {
                if let Some(e) = entries.get_mut(token) {
                    e.state = State::Done {
                        answer: answer.clone(),
                        at: now,
                    };
                }
            }
            _ => {
                entries.remove(token);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The `ClientRequestToken` of an idempotent DynamoDB call, if it has one.
fn client_request_token(service: &str, operation: Option<&str>, body: &[u8]) -> Option<String> {
    if service != "dynamodb" || !operation.is_some_and(|op| OPERATIONS.contains(&op)) {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Input {
        #[serde(rename = "ClientRequestToken")]
        client_request_token: Option<String>,
    }
    serde_json::from_slice::<Input>(body)
        .ok()?
        .client_request_token
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(token: &str, table: &str) -> Bytes {
        Bytes::from(format!(
            r#"{{"ClientRequestToken":"{token}","TransactItems":[{{"Put":{{"TableName":"{table}"}}}}]}}"#
        ))
    }

    fn ok() -> Answer {
        Answer {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"{}"),
        }
    }

    fn begin(tokens: &Tokens, body: &Bytes) -> Begin {
        tokens.begin("dynamodb", Some("TransactWriteItems"), body)
    }

    #[test]
    fn a_retry_of_a_committed_transaction_gets_its_answer_and_does_not_run_again() {
        let tokens = Tokens::default();
        let first = body("t-1", "orders");
        let Begin::Forward(Some(token)) = begin(&tokens, &first) else {
            panic!("a new token is forwarded");
        };
        assert!(matches!(begin(&tokens, &first), Begin::InProgress));
        tokens.finish(&token, Some(&ok()));
        match begin(&tokens, &first) {
            Begin::Replay(a) => assert_eq!((a.status, &a.body[..]), (StatusCode::OK, &b"{}"[..])),
            other => panic!("expected a replay, got {other:?}"),
        }
        assert!(matches!(
            begin(&tokens, &body("t-1", "users")),
            Begin::Mismatch
        ));
    }

    #[test]
    fn a_failed_call_forgets_its_token_and_other_calls_have_none() {
        let tokens = Tokens::default();
        let first = body("t-2", "orders");
        let Begin::Forward(Some(token)) = begin(&tokens, &first) else {
            panic!("a new token is forwarded");
        };
        let cancelled = Answer {
            status: StatusCode::BAD_REQUEST,
            ..ok()
        };
        tokens.finish(&token, Some(&cancelled));
        assert!(matches!(begin(&tokens, &first), Begin::Forward(Some(_))));
        assert!(matches!(
            tokens.begin("dynamodb", Some("PutItem"), &first),
            Begin::Forward(None)
        ));
        assert!(matches!(
            begin(&tokens, &Bytes::from_static(b"{\"TransactItems\":[]}")),
            Begin::Forward(None)
        ));
    }

    #[test]
    fn a_token_is_new_again_ten_minutes_after_its_call_completed() {
        let tokens = Tokens::default();
        let first = body("t-3", "orders");
        let op = Some("TransactWriteItems");
        let done = Instant::now();
        let Begin::Forward(Some(token)) = tokens.begin_at(done, "dynamodb", op, &first) else {
            panic!("a new token is forwarded");
        };
        tokens.finish_at(done, &token, Some(&ok()));
        let almost = done + TOKEN_WINDOW - Duration::from_secs(1);
        assert!(matches!(
            tokens.begin_at(almost, "dynamodb", op, &first),
            Begin::Replay(_)
        ));
        let past = done + TOKEN_WINDOW + Duration::from_secs(1);
        assert!(matches!(
            tokens.begin_at(past, "dynamodb", op, &first),
            Begin::Forward(Some(_))
        ));
    }
}
