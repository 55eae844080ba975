//! Client for the Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`), as
//! served by `cargo lambda watch`, and the reading of what a function answers to an event
//! source: the partial batch response (`batchItemFailures`) of the SQS and stream pollers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, anyhow};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_lambda_events::sqs::SqsBatchResponse;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::console::{Console, Ended};

/// Outcome of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// The function returned this payload (JSON bytes).
    Ok(Vec<u8>),
    /// The function reported an error, crashed or answered garbage; the text says which.
    FunctionError(String),
    /// No answer within the function's timeout.
    TimedOut,
    /// Lambda refused the invocation before running the function (the text is its error,
    /// e.g. a request over [`MAX_REQUEST_BYTES`]); API Gateway answers this `500`.
    Rejected(String),
}

/// Largest synchronous invocation request, bytes (Lambda quotas, "Invocation payload (request
/// and response): 6 MB each for request and response (synchronous)"; the Invoke API's
/// `RequestEntityTooLargeException` says "Request must be smaller than 6291456 bytes for the
/// InvokeFunction operation").
pub const MAX_REQUEST_BYTES: usize = 6_291_456;

/// Invokes functions by name on one Lambda Invoke API endpoint.
///
/// At most [`MAX_IN_FLIGHT_PER_FUNCTION`] invocations of one function are in flight at once;
/// more wait here (within their timeout), in order. An invocation whose caller timed out keeps
/// its slot until `cargo lambda watch` answers it (at most `ABANDONED_CALL_LIMIT`, 900 s).
#[derive(Debug, Clone)]
pub struct Invoker {
    base: String,
    http: reqwest::Client,
    in_flight: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    /// Where invocations are counted, and what the gateway and the mappings report to.
    console: Option<Console>,
}

/// Most invocations of one function devstack has in flight on `cargo lambda watch` at once.
///
/// cargo-lambda 1.9.2 queues a function's invocations in a channel of 100 and pushes into it
/// while holding the lock of every function's queue (`RequestCache::upsert`): with 100 waiting
/// for one function, the push blocks, nothing can pop, and every function hangs for good. Under
/// this bound the channel never fills; what is above it waits in devstack instead. A slot is
/// freed when cargo-lambda answers, not when the caller stops waiting: an invocation that timed
/// out here is still in cargo-lambda's queue or running. (Freeing it at the caller's timeout is
/// the likely cause of the hang of every function seen once with the load mix at 50 requests/s,
/// when `create-order` answered past its timeout.)
pub const MAX_IN_FLIGHT_PER_FUNCTION: usize = 64;

/// Extra time on top of a function's timeout for `cargo lambda watch` to (re)start it: the
/// first invocation after a code change recompiles the binary (seconds).
pub const COLD_START_SLACK: Duration = Duration::from_secs(120);

impl Invoker {
    /// An invoker for the endpoint at `base`, e.g. `http://127.0.0.1:9000`.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            in_flight: Arc::default(),
            console: None,
        }
    }

    /// The same invoker, counting every invocation in `console` (and handing it to the
    /// gateway and the event source mappings that invoke through it).
    #[must_use]
    pub fn with_console(mut self, console: Console) -> Self {
        self.console = Some(console);
        self
    }

    /// The console this invoker reports to, if any.
    pub fn console(&self) -> Option<&Console> {
        self.console.as_ref()
    }

    /// The bound on `function`'s invocations in flight.
    fn permits(&self, function: &str) -> Arc<Semaphore> {
        let mut map = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(permits) = map.get(function) {
            return Arc::clone(permits);
        }
        let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_FUNCTION));
        map.insert(function.to_owned(), Arc::clone(&permits));
        permits
    }

    /// Invokes `function` with `event` (sent as JSON: an `aws_lambda_events` event) and waits
    /// up to `timeout`, including the wait for a slot ([`MAX_IN_FLIGHT_PER_FUNCTION`]).
    ///
    /// # Errors
    /// The Invoke API itself is unreachable, or the event does not serialise (not a function
    /// failure, which is [`Invocation::FunctionError`]).
    pub async fn invoke<E: Serialize + ?Sized>(
        &self,
        function: &str,
        event: &E,
        timeout: Duration,
    ) -> Result<Invocation> {
        let Some(console) = &self.console else {
            return self.invoke_uncounted(function, event, timeout).await;
        };
        let started = tokio::time::Instant::now();
        console.invocation_started(function);
        let result = self.invoke_uncounted(function, event, timeout).await;
        let ended = match &result {
            Ok(Invocation::Ok(_)) => Ended::Ok,
            Ok(Invocation::TimedOut) => Ended::TimedOut,
            Ok(Invocation::FunctionError(_) | Invocation::Rejected(_)) | Err(_) => Ended::Error,
        };
        console.invocation_ended(function, started.elapsed().as_secs_f64() * 1000.0, ended);
        result
    }

    async fn invoke_uncounted<E: Serialize + ?Sized>(
        &self,
        function: &str,
        event: &E,
        timeout: Duration,
    ) -> Result<Invocation> {
        let body = serde_json::to_vec(event)
            .map_err(|e| anyhow!("the event for {function} does not serialise: {e}"))?;
        if body.len() > MAX_REQUEST_BYTES {
            // What Lambda's Invoke API answers (413 RequestEntityTooLargeException); cargo-lambda
            // has no such limit.
            return Ok(Invocation::Rejected(format!(
                "RequestEntityTooLargeException: {} byte request: Request must be smaller than {MAX_REQUEST_BYTES} bytes for the InvokeFunction operation",
                body.len()
            )));
        }
        let permits = self.permits(function);
        let deadline = tokio::time::Instant::now() + timeout;
        let Ok(Ok(permit)) = tokio::time::timeout_at(deadline, permits.acquire_owned()).await
        else {
            return Ok(Invocation::TimedOut);
        };
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
        // The call runs on its own task, which keeps the slot until `cargo lambda watch` has
        // answered: an invocation the caller gave up on is still queued or running there, and
        // freeing its slot at the caller's timeout would let more than the bound pile up in
        // cargo-lambda's queue (the deadlock `MAX_IN_FLIGHT_PER_FUNCTION` is about).
        let (answer, answered) = tokio::sync::oneshot::channel();
        let http = self.http.clone();
        let target = url.clone();
        tokio::spawn(async move {
            let _slot = permit;
            let _ = answer.send(call(&http, &target, body).await);
        });
        match tokio::time::timeout_at(deadline, answered).await {
            Ok(Ok(result)) => result.map_err(|e| anyhow!("Lambda Invoke API at {url}: {e}")),
            Ok(Err(_)) => Err(anyhow!("Lambda Invoke API at {url}: the call's task ended")),
            Err(_) => Ok(Invocation::TimedOut),
        }
    }
}

/// Longest a call to the Invoke API may hold its slot after its caller gave up: Lambda's
/// largest function timeout (900 s). Past it `cargo lambda watch` is taken to have lost it.
const ABANDONED_CALL_LIMIT: Duration = Duration::from_secs(900);

/// One `POST` of `body` to the Invoke API at `url` and the reading of its answer; `Err` only
/// when the Invoke API itself cannot be reached.
async fn call(
    http: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> Result<Invocation, reqwest::Error> {
    let resp = match http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .timeout(ABANDONED_CALL_LIMIT)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Ok(Invocation::TimedOut),
        Err(e) => return Err(e),
    };
    let status = resp.status();
    let function_error = resp.headers().contains_key("x-amz-function-error");
    let body = match resp.bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) if e.is_timeout() => return Ok(Invocation::TimedOut),
        Err(e) => return Ok(Invocation::FunctionError(e.to_string())),
    };
    if status.is_success() && !function_error {
        Ok(Invocation::Ok(body))
    } else {
        Ok(Invocation::FunctionError(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body)
        )))
    }
}

/// Parses a function's answer `value` as `T`, an `aws_lambda_events` response type, reading
/// each member of `lists` that is absent or `null` as an empty list: AWS documents them
/// optional (`cookies` of a payload 2.0 response, `batchItemFailures` of a partial batch
/// response) where the crate's types require them.
///
/// # Errors
/// `value` does not have the shape of `T` (the text says where).
pub fn from_answer<T: DeserializeOwned>(mut value: Value, lists: &[&str]) -> Result<T, String> {
    if let Some(obj) = value.as_object_mut() {
        for name in lists {
            let entry = obj.entry(*name).or_insert(Value::Null);
            if entry.is_null() {
                *entry = Value::Array(Vec::new());
            }
        }
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// A partial batch response type of `aws_lambda_events`
/// (`{"batchItemFailures":[{"itemIdentifier":"..."}]}`).
pub trait BatchResponse: DeserializeOwned {
    /// The reported `itemIdentifier`s in the order listed (`None`: an entry without one).
    fn item_identifiers(self) -> Vec<Option<String>>;
}

/// The SQS poller's: `itemIdentifier` is a `messageId`.
impl BatchResponse for SqsBatchResponse {
    fn item_identifiers(self) -> Vec<Option<String>> {
        self.batch_item_failures
            .into_iter()
            .map(|f| Some(f.item_identifier))
            .collect()
    }
}

/// The DynamoDB stream poller's: `itemIdentifier` is a `SequenceNumber`.
impl BatchResponse for DynamoDbEventResponse {
    fn item_identifiers(self) -> Vec<Option<String>> {
        self.batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }
}

/// Reads a partial batch response `R` the way Lambda does: the positions in `batch` (the
/// batch's identifiers, in delivery order) of the records reported failed, in the order the
/// response lists them. Empty: the batch succeeded (a `null` answer, no, a `null` or an empty
/// `batchItemFailures`).
///
/// # Errors
/// The whole batch counts as failed (Lambda's rule): the answer is not JSON or not an `R`, or
/// an `itemIdentifier` is missing, empty or not in `batch`. The text says why.
pub fn batch_item_failures<R: BatchResponse>(
    payload: &[u8],
    batch: &[&str],
) -> Result<Vec<usize>, String> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| format!("response is not JSON: {e}"))?;
    if value.is_null() {
        return Ok(Vec::new());
    }
    let response: R = from_answer(value, &["batchItemFailures"])
        .map_err(|e| format!("response is not a partial batch response: {e}"))?;
    response
        .item_identifiers()
        .into_iter()
        .map(|id| {
            id.as_deref()
                .and_then(|id| batch.iter().position(|b| *b == id))
                .ok_or_else(|| format!("invalid itemIdentifier {id:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Invocations in progress at a stand-in Invoke API, the most at once, and those done.
    #[derive(Default)]
    struct Load {
        now: AtomicUsize,
        max: AtomicUsize,
        done: AtomicUsize,
    }

    /// An invoker on a stand-in Invoke API whose function answers `{}` after `takes`.
    async fn slow_function(takes: Duration) -> (Invoker, Arc<Load>) {
        let load = Arc::new(Load::default());
        let seen = load.clone();
        let app = axum::Router::new().route(
            "/2015-03-31/functions/{name}/invocations",
            axum::routing::post(move || {
                let load = seen.clone();
                async move {
                    let now = load.now.fetch_add(1, Ordering::SeqCst) + 1;
                    load.max.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(takes).await;
                    load.now.fetch_sub(1, Ordering::SeqCst);
                    load.done.fetch_add(1, Ordering::SeqCst);
                    "{}"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (Invoker::new(&base), load)
    }

    #[tokio::test]
    async fn at_most_the_bound_of_one_functions_invocations_are_in_flight_and_the_rest_wait() {
        let (invoker, load) = slow_function(Duration::from_millis(50)).await;

        let calls = (0..3 * MAX_IN_FLIGHT_PER_FUNCTION).map(|_| {
            let invoker = invoker.clone();
            async move {
                invoker
                    .invoke("f", &serde_json::json!({}), Duration::from_secs(30))
                    .await
            }
        });
        let results = futures::future::join_all(calls).await;

        assert!(results.iter().all(|r| matches!(r, Ok(Invocation::Ok(_)))));
        assert_eq!(
            load.done.load(Ordering::SeqCst),
            3 * MAX_IN_FLIGHT_PER_FUNCTION
        );
        assert_eq!(load.max.load(Ordering::SeqCst), MAX_IN_FLIGHT_PER_FUNCTION);
    }

    #[tokio::test]
    async fn an_invocation_the_caller_gave_up_on_keeps_its_slot_until_the_function_answers() {
        let (invoker, load) = slow_function(Duration::from_millis(400)).await;

        // Twice the bound, each caller waiting 100 ms for a function that takes 400 ms: every
        // call times out, and the second half must not reach the function while the first
        // half still runs there.
        let calls = (0..2 * MAX_IN_FLIGHT_PER_FUNCTION).map(|_| {
            let invoker = invoker.clone();
            async move {
                invoker
                    .invoke("f", &serde_json::json!({}), Duration::from_millis(100))
                    .await
            }
        });
        let results = futures::future::join_all(calls).await;
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(Invocation::TimedOut)))
        );

        // The abandoned calls finish at the function, then free their slots: a new call gets
        // through, and the function never had more than the bound at once.
        let fresh = invoker
            .invoke("f", &serde_json::json!({}), Duration::from_secs(30))
            .await;
        assert!(matches!(fresh, Ok(Invocation::Ok(_))), "{fresh:?}");
        assert_eq!(load.max.load(Ordering::SeqCst), MAX_IN_FLIGHT_PER_FUNCTION);
        assert_eq!(
            load.done.load(Ordering::SeqCst),
            MAX_IN_FLIGHT_PER_FUNCTION + 1,
            "the callers that timed out waiting for a slot were never sent"
        );
    }

    fn sqs(payload: &[u8], batch: &[&str]) -> Result<Vec<usize>, String> {
        batch_item_failures::<SqsBatchResponse>(payload, batch)
    }

    fn streams(payload: &[u8], batch: &[&str]) -> Result<Vec<usize>, String> {
        batch_item_failures::<DynamoDbEventResponse>(payload, batch)
    }

    #[test]
    fn reported_failures_are_their_positions_in_the_batch_in_the_order_listed() {
        let payload = br#"{"batchItemFailures":[{"itemIdentifier":"c"},{"itemIdentifier":"b"}]}"#;
        assert_eq!(sqs(payload, &["a", "b", "c"]), Ok(vec![2, 1]));
        assert_eq!(streams(payload, &["a", "b", "c"]), Ok(vec![2, 1]));
    }

    #[test]
    fn a_null_an_empty_or_a_missing_list_means_the_batch_succeeded() {
        for payload in [
            &b"null"[..],
            b"{}",
            br#"{"batchItemFailures":null}"#,
            br#"{"batchItemFailures":[]}"#,
        ] {
            let text = String::from_utf8_lossy(payload);
            assert_eq!(sqs(payload, &["a"]), Ok(vec![]), "{text}");
            assert_eq!(streams(payload, &["a"]), Ok(vec![]), "{text}");
        }
    }

    #[test]
    fn a_bad_answer_or_identifier_fails_the_whole_batch() {
        for payload in [
            &b"garbage"[..],
            br#""ok""#,
            br#"{"batchItemFailures":"a"}"#,
            br#"{"batchItemFailures":[{"itemIdentifier":"zz"}]}"#,
            br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#,
            br#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
            br#"{"batchItemFailures":[{}]}"#,
        ] {
            let text = String::from_utf8_lossy(payload);
            assert!(sqs(payload, &["a"]).is_err(), "{text}");
            assert!(streams(payload, &["a"]).is_err(), "{text}");
        }
    }

    #[test]
    fn an_absent_or_null_list_reads_as_empty_and_a_present_one_as_it_is() {
        #[derive(serde::Deserialize)]
        struct Lists {
            a: Vec<u8>,
            b: Vec<u8>,
        }
        let parsed: Lists =
            from_answer(serde_json::json!({"a": null, "c": 1}), &["a", "b"]).unwrap();
        assert!(parsed.a.is_empty() && parsed.b.is_empty());
        let kept: Lists =
            from_answer(serde_json::json!({"a": [1], "b": [2]}), &["a", "b"]).unwrap();
        assert_eq!((kept.a, kept.b), (vec![1], vec![2]));
        assert!(from_answer::<Lists>(serde_json::json!({"a": 1}), &["a", "b"]).is_err());
    }
}
