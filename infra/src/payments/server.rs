//! One HTTP/1.1 listener per provider instance: every request is read, matched against the
//! fault rules as a `payments` call made at that instance, answered from the shared books (or
//! faulted), and logged in the access log.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Provider;
use super::books::{self, AccessEntry, Answer, idempotency_key, operation};
use crate::fault::rules::{Action, Applied, Call, Protocol, random_fraction};

/// Largest request body read (a charge is a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why an instance closed a connection without an answer (the fault proxy's type).
pub use crate::fault::proxy::Closed as Dropped;

impl Provider {
    /// Serves instance `instance` on `listener` until `stop` turns true.
    pub async fn serve(
        self: Arc<Self>,
        instance: String,
        listener: TcpListener,
        mut stop: watch::Receiver<bool>,
    ) {
        let instance: Arc<str> = instance.into();
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, instance = %instance, "payment provider: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            let provider = Arc::clone(&self);
            let instance = Arc::clone(&instance);
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let provider = Arc::clone(&provider);
                    let instance = Arc::clone(&instance);
                    async move { provider.handle(&instance, req).await }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    // An error is a connection closed on purpose (a fault) or by the client.
                    _ = conn => {}
                    _ = stop.changed() => {}
                }
            });
        }
    }

    /// One request at `instance`: the first fault rule that applies, else the books' answer;
    /// logged either way.
    ///
    /// # Errors
    /// [`Dropped`]: the connection is to be closed without an answer (a `down` or `hang` rule,
    /// an unreadable body).
    pub async fn handle(
        &self,
        instance: &str,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Dropped> {
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let (parts, body) = req.into_parts();
        let mut entry = AccessEntry {
            seq: 0,
            at,
            instance: instance.to_owned(),
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            status: None,
            idempotency_key: idempotency_key(&parts.headers),
            fault: None,
        };
        let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.record(entry);
                return Err(Dropped(format!("reading the request body: {e}")));
            }
        };
        let call = Call {
            service: super::SERVICE.to_owned(),
            operation: operation(&parts.method, parts.uri.path()).map(ToOwned::to_owned),
            protocol: Protocol::Other,
        };
        let applied = self
            .faults
            .rules
            .apply_at(&call, &body, Some(instance), random_fraction);
        entry.fault = applied.as_ref().map(|a| a.rule);
        let process = || {
            self.process(books::Request {
                instance,
                method: &parts.method,
                path: parts.uri.path(),
                headers: &parts.headers,
                body: &body,
            })
        };
        let outcome = match applied {
            None => Ok(respond(&process(), None)),
            Some(a) => {
                let done = a.after.then(process);
                self.fault(instance, &a, done, process).await
            }
        };
        entry.status = outcome.as_ref().ok().map(|r| r.status().as_u16());
        self.record(entry);
        outcome
    }

    /// The answer of fault `a`; `done` is the books' answer when the work was done first.
    async fn fault(
        &self,
        instance: &str,
        a: &Applied,
        done: Option<Answer>,
        process: impl FnOnce() -> Answer,
    ) -> Result<Response<Full<Bytes>>, Dropped> {
        let rule = a.rule;
        match &a.action {
            Action::Latency { ms } => {
                tracing::debug!(rule, instance, ms, "payments fault: latency");
                tokio::time::sleep(Duration::from_millis(*ms)).await;
                Ok(respond(&done.unwrap_or_else(process), None))
            }
            Action::Hang => {
                tracing::debug!(rule, instance, "payments fault: hang");
                self.faults.rules.hang_while_present(rule).await;
                Err(Dropped(format!("hang rule {rule}")))
            }
            Action::Down => {
                tracing::debug!(rule, instance, "payments fault: down");
                Err(Dropped(format!("down rule {rule}")))
            }
            Action::Throttle => {
                tracing::debug!(rule, instance, "payments fault: throttle");
                let answer = books::error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    "rate_limit",
                    "Too many requests: retry after the Retry-After delay (injected by devstack fault)",
                    json!({}),
                );
                Ok(respond(&answer, Some(1)))
            }
            Action::Error { status, code } => {
                tracing::debug!(rule, instance, status, "payments fault: error");
                let status =
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let answer = books::error(
                    status,
                    "api_error",
                    code.as_deref().unwrap_or("injected_fault"),
                    crate::fault::answer::MESSAGE,
                    json!({}),
                );
                Ok(respond(&answer, None))
            }
        }
    }
}

/// The HTTP response of `answer` (JSON), with `Retry-After` when given (seconds).
fn respond(answer: &Answer, retry_after: Option<u32>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(answer.body.to_string())));
    *response.status_mut() = answer.status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(id) = HeaderValue::from_str(&format!("req_{}", uuid::Uuid::new_v4().simple())) {
        headers.insert("request-id", id);
    }
    if answer.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
