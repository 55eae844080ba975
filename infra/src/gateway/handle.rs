//! The gateway's request handler: a request through API Gateway's steps in order (its `Host`,
//! the documents served as they are, route selection and throttling, the JWT authorizer, the
//! body limit, the payload v2.0 event, the invocation and its response), then the access log
//! line and the console's request list.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::Instant;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::response::{document_response, message, to_response};
use super::{Gateway, Listening, MAX_BODY_BYTES, Matched, RequestParts, Route};
use crate::authorizer::Authorized;
use crate::invoke::{COLD_START_SLACK, Invocation};

/// Answers one request: API Gateway's own answer (400, 404, 429, 401/403, 413) when a step
/// stops it, else the function's response (502/500/503 when the invocation fails).
pub(super) async fn handle(
    State(listening): State<Listening>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let request_id = request_id();
    let gw = &listening.gateway;
    let (parts, body) = req.into_parts();
    if let Some(host) = parts.headers.get(http::header::HOST)
        && !is_valid_host(host)
    {
        // API Gateway picks the API by its Host: a request with a malformed one never
        // reaches a route (and would panic lambda_http's URL building in the function).
        tracing::info!(host = ?host, "malformed Host header: 400");
        return message(StatusCode::BAD_REQUEST, "Bad Request", &request_id);
    }
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    if method == "GET"
        && let Some(answer) = served_as_is(gw, &path, &parts.headers, &request_id)
    {
        return answer;
    }
    let matched = match admit(gw, &method, &path, &request_id) {
        ControlFlow::Continue(matched) => matched,
        ControlFlow::Break(answer) => return answer,
    };
    let route = matched.route;
    let authorized = match authorize(gw, route, &parts.headers, &method, &path, &request_id) {
        ControlFlow::Continue(authorized) => authorized,
        ControlFlow::Break(answer) => return answer,
    };
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request Entity Too Large",
                &request_id,
            );
        }
    };
    let event = RequestParts {
        method: &parts.method,
        path: &path,
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: &body,
        source_ip: peer.ip().to_string(),
        scheme: listening.scheme,
        port: listening.port,
        request_id: &request_id,
        authorizer: authorized.as_ref().map(Authorized::to_context),
    }
    .to_event(&matched);
    let response = invoke(gw, route, &event, &request_id).await;
    log_request(gw, started, method, path, route, &response, request_id);
    response
}

/// What the gateway serves as it is at a `GET` path before route matching: one of its documents
/// (the identity provider's discovery document and JWKS), or the OpenAPI description. `None`:
/// the request goes on to the routes.
fn served_as_is(
    gw: &Gateway,
    path: &str,
    headers: &HeaderMap,
    request_id: &str,
) -> Option<Response> {
    if let Some(document) = gw.documents.get(path) {
        return Some(document_response(document, request_id));
    }
    crate::openapi::serve(path, headers)
}

/// The route API Gateway picks for the request, once the route's throttling admits it; else
/// [`ControlFlow::Break`] with the answer instead: 404 `Not Found` for no route, 429
/// `Too Many Requests` when the route's token bucket is empty.
fn admit<'a>(
    gw: &'a Gateway,
    method: &str,
    path: &str,
    request_id: &str,
) -> ControlFlow<Response, Matched<'a>> {
    let Some(matched) = gw.routes.find(method, path) else {
        tracing::info!(%method, %path, "no route: 404");
        return ControlFlow::Break(message(StatusCode::NOT_FOUND, "Not Found", request_id));
    };
    let route = matched.route;
    if !gw.throttles.admit(&route.route_key) {
        tracing::info!(%method, %path, route = %route.route_key, "throttled: 429");
        return ControlFlow::Break(message(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            request_id,
        ));
    }
    ControlFlow::Continue(matched)
}

/// The route's JWT authorizer on the request's `Authorization` header: the verified claims and
/// scopes (`None` for a public route); else [`ControlFlow::Break`] with the answer instead,
/// with its `WWW-Authenticate` challenge: 401 `Unauthorized` (no or a bad token, or an
/// authorizer the gateway does not have), 403 `Forbidden` (none of the scopes).
fn authorize(
    gw: &Gateway,
    route: &Route,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    request_id: &str,
) -> ControlFlow<Response, Option<Authorized>> {
    match &route.authorizer {
        None => ControlFlow::Continue(None),
        Some(name) => {
            let outcome = match gw.authorizers.get(name) {
                Some(authorizer) => authorizer
                    .authorize(headers.get(http::header::AUTHORIZATION), &route.scopes)
                    .map_err(|denied| {
                        (
                            denied.status(),
                            denied.message(),
                            denied.challenge(),
                            denied.to_string(),
                        )
                    }),
                None => Err((
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "Bearer",
                    format!("authorizer {name} is not configured"),
                )),
            };
            match outcome {
                Ok(authorized) => ControlFlow::Continue(Some(authorized)),
                Err((status, text, challenge, reason)) => {
                    tracing::info!(
                        %method, %path, route = %route.route_key, authorizer = %name, %reason,
                        status = status.as_u16(), "not authorized: function not invoked"
                    );
                    let mut answer = message(status, text, request_id);
                    answer.headers_mut().insert(
                        http::header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(challenge),
                    );
                    ControlFlow::Break(answer)
                }
            }
        }
    }
}

/// Invokes the route's function with the event (within its timeout plus the cold start slack)
/// and maps the outcome: the function's response, or 502 `Internal Server Error` (a malformed
/// response, a function error, a failed invoke), 500 (Lambda refused the invocation), 503
/// `Service Unavailable` (no answer in time).
async fn invoke(
    gw: &Gateway,
    route: &Route,
    event: &ApiGatewayV2httpRequest,
    request_id: &str,
) -> Response {
    let invoked = gw
        .invoker
        .invoke(&route.function, event, route.timeout + COLD_START_SLACK)
        .await;
    match invoked {
        Ok(Invocation::Ok(payload)) => match to_response(&payload, request_id) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(function = %route.function_id, error = %e, "malformed Lambda response: 502");
                message(StatusCode::BAD_GATEWAY, "Internal Server Error", request_id)
            }
        },
        Ok(Invocation::FunctionError(e)) => {
            tracing::error!(function = %route.function_id, error = %e, "function failed: 502");
            message(StatusCode::BAD_GATEWAY, "Internal Server Error", request_id)
        }
        Ok(Invocation::Rejected(e)) => {
            // "If the Lambda API rejects the invocation request, API Gateway returns a 500
            // error code" (Lambda Developer Guide, "Handling Lambda errors with an API Gateway
            // API"); a function error is the 502 above.
            tracing::error!(function = %route.function_id, error = %e, "Lambda refused the invocation: 500");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                request_id,
            )
        }
        Ok(Invocation::TimedOut) => {
            tracing::error!(function = %route.function_id, "function timed out: 503");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                request_id,
            )
        }
        Err(e) => {
            tracing::error!(function = %route.function_id, error = %e, "invoke failed: 502");
            message(StatusCode::BAD_GATEWAY, "Internal Server Error", request_id)
        }
    }
}

/// The request's access log line, and its entry in the console's request list when a console
/// is attached (arrival time, route, status, latency in ms, function, request id).
fn log_request(
    gw: &Gateway,
    started: Instant,
    method: String,
    path: String,
    route: &Route,
    response: &Response,
    request_id: String,
) {
    tracing::info!(
        %method, %path, route = %route.route_key, function = %route.function_id,
        status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64,
        "request"
    );
    if let Some(console) = gw.invoker.console() {
        console.record_request(crate::console::RequestEntry {
            time_ms: crate::console::now_ms()
                - i64::try_from(started.elapsed().as_millis()).unwrap_or(0),
            method,
            path,
            route: route.route_key.clone(),
            status: response.status().as_u16(),
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            function: route.function.clone(),
            request_id,
        });
    }
}

/// Whether a `Host` header is one a request can be routed by: an authority (RFC 9110 §7.2:
/// `uri-host [ ":" port ]`, no user info) that also parses as the host of an `https` URL,
/// which is how lambda_http builds the request URI (it panics on one that does not).
fn is_valid_host(host: &HeaderValue) -> bool {
    let Ok(host) = host.to_str() else {
        return false;
    };
    !host.is_empty()
        && !host.contains('@')
        && host.parse::<http::uri::Authority>().is_ok()
        && reqwest::Url::parse(&format!("https://{host}/")).is_ok_and(|u| u.has_host())
}

/// A request id shaped like API Gateway's (base64 of random bytes, 16 characters).
fn request_id() -> String {
    let bytes = uuid::Uuid::new_v4();
    B64.encode(&bytes.as_bytes()[..11])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_host_a_request_can_be_routed_by_is_valid() {
        for good in [
            "localhost",
            "127.0.0.1:3000",
            "api.example.com",
            "[::1]:3000",
        ] {
            assert!(is_valid_host(&HeaderValue::from_static(good)), "{good}");
        }
        for bad in [
            "",
            "a b",
            "[",
            "user@host",
            "host:port",
            "a/b",
            "%zz",
            "h\\x",
        ] {
            assert!(!is_valid_host(&HeaderValue::from_static(bad)), "{bad:?}");
        }
    }
}
