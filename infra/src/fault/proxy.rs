//! The fault proxy: an HTTP/1.1 server that the functions' `AWS_ENDPOINT_URL` points at. It
//! forwards every request unchanged to the emulator (method, path, query, every header including
//! `Host` and the SigV4 `Authorization`, so a signature stays valid) and streams the answer back,
//! unless a fault rule applies ([`super::rules::Rules::apply`]). Every request is logged
//! ([`super::rules::RequestLog`]); a DynamoDB write the emulator accepted rings the written
//! tables' bells ([`super::nudge`]). A `TransactWriteItems` retried with its
//! `ClientRequestToken` is answered as DynamoDB answers it ([`super::tokens`]); such a call runs
//! to its end even when its caller gives up, as it would in DynamoDB.
//!
//! When the emulator is unreachable the proxy closes the client's connection without an answer,
//! as a dead endpoint would (the SDK sees a dispatch failure, not an HTTP error).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Request, Response, StatusCode, Uri, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Faults;
use super::answer;
use super::rules::{Action, identify};
use super::tokens::{self, Begin};

/// Largest request body forwarded (DynamoDB's largest request, BatchWriteItem, is 16 MB).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Why the proxy (or the local payment provider, [`crate::payments`]) closed a connection
/// without an answer.
#[derive(Debug)]
pub struct Closed(pub(crate) String);

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connection closed without an answer: {}", self.0)
    }
}

impl std::error::Error for Closed {}

/// The proxy in front of one upstream (the emulator).
#[derive(Debug, Clone)]
pub struct Proxy {
    upstream: Uri,
    faults: Arc<Faults>,
    /// Per-function IAM: each call is checked against its caller's policies before the rules.
    iam: Option<Arc<crate::iam::Iam>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Proxy {
    /// A proxy forwarding to `upstream` (`http://host:port`; only the scheme and authority are
    /// used), applying the rules and logging into `faults`.
    ///
    /// # Errors
    /// `upstream` is not an `http://host:port` URL.
    pub fn new(upstream: &str, faults: Arc<Faults>) -> anyhow::Result<Self> {
        let upstream: Uri = upstream.parse()?;
        if upstream.scheme_str() != Some("http") || upstream.authority().is_none() {
            anyhow::bail!("{upstream}: the fault proxy forwards to an http://host:port emulator");
        }
        Ok(Self {
            upstream,
            faults,
            iam: None,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// The same proxy, answering a call its caller's policies do not allow as AWS does
    /// (`AccessDeniedException`, see `crate::iam`) instead of forwarding it.
    #[must_use]
    pub fn with_iam(mut self, iam: Arc<crate::iam::Iam>) -> Self {
        self.iam = Some(iam);
        self
    }

    /// Serves connections from `listener` until `stop` turns true (or its sender is gone).
    pub async fn serve(self, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        let proxy = Arc::new(self);
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "fault proxy: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            let proxy = Arc::clone(&proxy);
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let proxy = Arc::clone(&proxy);
                    async move { proxy.handle(req).await }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    // An error here is a connection the proxy closed on purpose or the client
                    // dropped: nothing to report.
                    _ = conn => {}
                    _ = stop.changed() => {}
                }
            });
        }
    }

    /// One request: log it, apply the first matching rule, else forward it.
    ///
    /// # Errors
    /// [`Closed`]: the connection is to be closed without an answer (a `down` or `hang` rule,
    /// an unreachable emulator, an unreadable body).
    pub async fn handle(&self, req: Request<Incoming>) -> Result<Response<Body>, Closed> {
        let (parts, body) = req.into_parts();
        let body = Limited::new(body, MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| Closed(format!("reading the request body: {e}")))?
            .to_bytes();
        let call = identify(&parts.headers, parts.uri.query(), &body);
        self.faults.log.record(&call, &body);
        let operation = call.operation.as_deref().unwrap_or("-");
        match self.faults.rules.apply(&call, &body) {
            None => {}
            Some((id, Action::Latency { ms })) => {
                tracing::debug!(rule = id, service = %call.service, operation, ms, "fault: latency");
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Some((id, Action::Hang)) => {
                tracing::debug!(rule = id, service = %call.service, operation, "fault: hang");
                self.faults.rules.hang_while_present(id).await;
                return Err(Closed(format!("hang rule {id}")));
            }
            Some((id, Action::Down)) => {
                tracing::debug!(rule = id, service = %call.service, operation, "fault: down");
                return Err(Closed(format!("down rule {id}")));
            }
            Some((id, Action::Throttle)) => {
                tracing::debug!(rule = id, service = %call.service, operation, "fault: throttle");
                return Ok(full(answer::throttle(&call)));
            }
            Some((id, Action::Error { status, code })) => {
                tracing::debug!(rule = id, service = %call.service, operation, status, "fault: error");
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return Ok(full(answer::error(&call, status, code.as_deref())));
            }
        }
        // What the service itself answers: a caller its policies do not allow is refused.
        if let Some(iam) = &self.iam
            && let Some(denial) = iam.check(&parts.headers, parts.uri.query(), &body, &call)
        {
            return Ok(full(answer::access_denied(&call, &denial.message)));
        }
        let token = match self
            .faults
            .tokens
            .begin(&call.service, call.operation.as_deref(), &body)
        {
            Begin::Forward(token) => token,
            Begin::Replay(answer) => {
                tracing::debug!(
                    operation,
                    "DynamoDB ClientRequestToken: the first call's answer, replayed"
                );
                return Ok(buffered(answer));
            }
            Begin::InProgress => {
                return Ok(full(answer::service_error(
                    &call,
                    StatusCode::BAD_REQUEST,
                    "TransactionInProgressException",
                    "The transaction with the given request token is already in progress.",
                )));
            }
            Begin::Mismatch => {
                return Ok(full(answer::service_error(
                    &call,
                    StatusCode::BAD_REQUEST,
                    "IdempotentParameterMismatchException",
                    "DynamoDB rejected the request because you retried a request with a different payload but with an idempotent token that was already used.",
                )));
            }
        };
        let Some(token) = token else {
            let forwarded = self.forward(parts, &body).await;
            if forwarded.as_ref().is_ok_and(|r| r.status().is_success()) {
                self.ring(&call, &body);
            }
            return forwarded;
        };
        // Detached: a caller whose attempt timed out does not cancel the transaction, so its
        // retry finds the token's outcome.
        let proxy = self.clone();
        let (sent, answered) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let answer = proxy.forward_buffered(parts, &body).await;
            proxy.faults.tokens.finish(&token, answer.as_ref().ok());
            if answer.as_ref().is_ok_and(|a| a.status.is_success()) {
                proxy.ring(&call, &body);
            }
            let _ = sent.send(answer);
        });
        answered
            .await
            .map_err(|_| Closed("the forwarding task ended without an answer".into()))?
            .map(buffered)
    }

    /// The emulator has applied a write (it answers after): its stream records exist.
    fn ring(&self, call: &super::Call, body: &Bytes) {
        self.faults
            .nudges
            .ring_for(&call.service, call.operation.as_deref(), body);
    }

    async fn forward_buffered(
        &self,
        parts: http::request::Parts,
        body: &Bytes,
    ) -> Result<tokens::Answer, Closed> {
        let (parts, body) = self.forward(parts, body).await?.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| Closed(format!("reading the emulator's answer: {e}")))?
            .to_bytes();
        Ok(tokens::Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    async fn forward(
        &self,
        parts: http::request::Parts,
        body: &Bytes,
    ) -> Result<Response<Body>, Closed> {
        let mut uri = http::uri::Builder::new()
            .scheme("http")
            .authority(self.upstream.authority().map_or("", |a| a.as_str()));
        uri = uri.path_and_query(parts.uri.path_and_query().map_or("/", |p| p.as_str()));
        let uri = uri
            .build()
            .map_err(|e| Closed(format!("building the upstream URL: {e}")))?;
        let mut req = Request::builder()
            .method(parts.method)
            .uri(uri)
            .body(Full::new(body.clone()))
            .map_err(|e| Closed(format!("building the upstream request: {e}")))?;
        *req.headers_mut() = parts.headers;
        strip_hop_by_hop(req.headers_mut());
        let resp = self.client.request(req).await.map_err(|e| {
            tracing::warn!(upstream = %self.upstream, error = %e, "fault proxy: the emulator is unreachable; closing the connection");
            Closed(format!("upstream: {e}"))
        })?;
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(
            parts,
            body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                .boxed(),
        ))
    }
}

fn buffered(answer: tokens::Answer) -> Response<Body> {
    let mut resp = Response::new(answer.body);
    *resp.status_mut() = answer.status;
    *resp.headers_mut() = answer.headers;
    full(resp)
}

fn full(resp: Response<Bytes>) -> Response<Body> {
    resp.map(|b| Full::new(b).map_err(|e: Infallible| match e {}).boxed())
}

/// Removes the headers that describe one connection, not the message (RFC 9110 §7.6.1), and
/// those the connection names in `Connection`.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_and_signed_ones_stay() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:4567".parse().unwrap());
        h.insert(header::AUTHORIZATION, "AWS4-HMAC-SHA256 x".parse().unwrap());
        h.insert(header::CONNECTION, "keep-alive, x-private".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(http::HeaderName::as_str).collect();
        assert_eq!(left, vec!["host", "authorization"]);
    }

    /// An emulator that takes 300 ms per call and counts them, the proxy in front of it.
    async fn slow_emulator_behind_a_proxy() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let app = axum::Router::new().fallback(move || {
            let counted = Arc::clone(&counted);
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                "{}"
            }
        });
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_url = format!("http://{}", upstream.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(upstream, app).await });
        let proxy = Proxy::new(&upstream_url, Arc::new(Faults::default())).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            proxy.serve(listener, stopped).await;
            drop(stop);
        });
        (url, calls)
    }

    #[tokio::test]
    async fn a_transaction_retried_with_its_token_after_a_timeout_runs_once_and_succeeds() {
        let (url, calls) = slow_emulator_behind_a_proxy().await;
        let client = reqwest::Client::new();
        let send = |body: &'static str| {
            client
                .post(&url)
                .header("x-amz-target", "DynamoDB_20120810.TransactWriteItems")
                .header("content-type", "application/x-amz-json-1.0")
                .body(body)
        };
        let body = r#"{"ClientRequestToken":"tok-1","TransactItems":[]}"#;
        // The first attempt gives up before the emulator answers, as an SDK attempt timeout does.
        let first = send(body).timeout(Duration::from_millis(50)).send().await;
        assert!(first.is_err_and(|e| e.is_timeout()));
        let retry = send(body).send().await.unwrap();
        assert_eq!(retry.status(), StatusCode::BAD_REQUEST);
        assert!(
            retry
                .text()
                .await
                .unwrap()
                .contains("TransactionInProgressException")
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let replayed = loop {
            let answer = send(body).send().await.unwrap();
            if answer.status() == StatusCode::OK {
                break answer.text().await.unwrap();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no replay within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(replayed, "{}");
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "ran once"
        );
        let other = send(r#"{"ClientRequestToken":"tok-1","TransactItems":[{}]}"#)
            .send()
            .await
            .unwrap();
        assert!(
            other
                .text()
                .await
                .unwrap()
                .contains("IdempotentParameterMismatchException")
        );
        let untokened = send(r#"{"TransactItems":[]}"#).send().await.unwrap();
        assert_eq!(untokened.status(), StatusCode::OK);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn only_an_http_upstream_is_accepted() {
        let faults = Arc::new(Faults::default());
        assert!(Proxy::new("http://127.0.0.1:4566", Arc::clone(&faults)).is_ok());
        assert!(Proxy::new("https://example.com", Arc::clone(&faults)).is_err());
        assert!(Proxy::new("/relative", faults).is_err());
    }
}
