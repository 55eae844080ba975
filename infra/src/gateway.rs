//! API Gateway HTTP API emulation: the template's `HttpApi` events become routes; a request
//! becomes a Lambda proxy event (payload format 2.0), is sent through the Lambda Invoke API, and
//! the function's response becomes the HTTP response.
//!
//! Route selection follows API Gateway's rule (most specific match wins: exact routes before
//! greedy `{proxy+}` routes before `$default`; a method beats `ANY`). A request then goes
//! through the route's throttling (429 `{"message":"Too Many Requests"}`) and its JWT
//! authorizer (401 `{"message":"Unauthorized"}`, 403 `{"message":"Forbidden"}` for a missing
//! scope) before the function is invoked; the verified claims reach the function in
//! `requestContext.authorizer.jwt`. Other error answers are API Gateway's own too: 404
//! `{"message":"Not Found"}` for no route, 413 for a body over 10 MB, 502 for a failed or
//! malformed invocation, 503 when the function does not answer within its timeout.
//! See <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html>.
//!
//! The gateway also serves the local identity provider's discovery document and JWKS
//! (`/.well-known/openid-configuration`, `/.well-known/jwks.json`), as the issuer's host does
//! in the cloud. It listens on plain HTTP, or HTTPS with a certificate ([`serve_tls`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription, ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body as LambdaBody;
use aws_lambda_events::query_map::QueryMap;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::serve::ListenerExt as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde_json::Value;

use crate::authorizer::{Authorized, JwtAuthorizer};
use crate::invoke::{self, COLD_START_SLACK, Invocation, Invoker};
use crate::template::{Function, HttpApi};
use crate::throttle::Throttles;

/// Largest request body API Gateway accepts (10 MB), in bytes.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// The API id reported in `requestContext.apiId` locally.
pub const LOCAL_API_ID: &str = "local";

/// One route: method + path pattern → function.
#[derive(Debug, Clone)]
pub struct Route {
    /// `GET /users/{id}`, or `$default`: what the event's `routeKey` carries.
    pub route_key: String,
    method: Option<String>,
    segments: Vec<Segment>,
    /// Logical id of the function (for logs).
    pub function_id: String,
    /// Binary name, which `cargo lambda watch` uses as the function name.
    pub function: String,
    /// The function's timeout.
    pub timeout: Duration,
    /// The JWT authorizer guarding the route (`None`: public).
    pub authorizer: Option<String>,
    /// Scopes the token needs one of (empty: none).
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param(String),
    Greedy(String),
}

/// A matched route with its path parameters.
#[derive(Debug)]
pub struct Matched<'a> {
    /// The route.
    pub route: &'a Route,
    /// `pathParameters` (name → percent-decoded value).
    pub params: HashMap<String, String>,
}

impl Route {
    /// Builds a route from a template method and path (`ANY` and `$default` allowed).
    pub fn new(method: &str, path: &str, function: &Function) -> Self {
        let (route_key, method, segments) = if path == "$default" {
            ("$default".to_owned(), None, Vec::new())
        } else {
            let segments = path
                .trim_start_matches('/')
                .split('/')
                .filter(|s| !s.is_empty())
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(p) => match p.strip_suffix('+') {
                            Some(g) => Segment::Greedy(g.to_owned()),
                            None => Segment::Param(p.to_owned()),
                        },
                        None => Segment::Static(s.to_owned()),
                    },
                )
                .collect();
            let m = method.to_ascii_uppercase();
            (format!("{m} {path}"), (m != "ANY").then_some(m), segments)
        };
        Self {
            route_key,
            method,
            segments,
            function_id: function.logical_id.clone(),
            function: function.binary.clone(),
            timeout: Duration::from_secs(function.timeout_secs),
            authorizer: None,
            scopes: Vec::new(),
        }
    }

    fn is_default(&self) -> bool {
        self.route_key == "$default"
    }

    /// Lower sorts first: exact before greedy before `$default`, static segments before
    /// parameters from the left, a method before `ANY`.
    fn rank(&self) -> (u8, Vec<u8>, u8) {
        let class = if self.is_default() {
            2
        } else if self
            .segments
            .iter()
            .any(|s| matches!(s, Segment::Greedy(_)))
        {
            1
        } else {
            0
        };
        let shape = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Static(_) => 0,
                Segment::Param(_) => 1,
                Segment::Greedy(_) => 2,
            })
            .collect();
        (class, shape, u8::from(self.method.is_none()))
    }

    fn matches(&self, method: &str, path: &str) -> Option<HashMap<String, String>> {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return None;
        }
        let mut params = HashMap::new();
        if self.is_default() {
            return Some(params);
        }
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let parts: Vec<&str> = if parts == [""] { Vec::new() } else { parts };
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Static(s) => {
                    if parts.get(i) != Some(&s.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let v = parts.get(i).filter(|v| !v.is_empty())?;
                    params.insert(name.clone(), percent_decode(v));
                }
                Segment::Greedy(name) => {
                    let rest = parts.get(i..).filter(|r| !r.is_empty())?.join("/");
                    params.insert(name.clone(), percent_decode(&rest));
                    return Some(params);
                }
            }
        }
        (parts.len() == self.segments.len()).then_some(params)
    }
}

/// A path segment percent-decoded as API Gateway passes path parameters (RFC 3986 §2.1: `%XX`
/// only; `+` stays `+`, it means a space only in a query string). Invalid UTF-8 becomes U+FFFD.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The routing table, from the template's functions.
#[derive(Debug, Clone, Default)]
pub struct Routes(Vec<Route>);

impl Routes {
    /// Every `HttpApi` event of every function, most specific first.
    pub fn from_functions(functions: &[Function]) -> Self {
        let mut routes: Vec<Route> = functions
            .iter()
            .flat_map(|f| {
                f.http_routes
                    .iter()
                    .map(move |r| Route::new(&r.method, &r.path, f))
            })
            .collect();
        routes.sort_by_key(Route::rank);
        Self(routes)
    }

    /// Every `HttpApi` event of every function with its authorization from `api`: the
    /// authorizer the route names, else the API's default; scopes from the route, else from
    /// the authorizer.
    ///
    /// # Errors
    /// A route names an authorizer the API does not define.
    pub fn from_template(functions: &[Function], api: Option<&HttpApi>) -> Result<Self> {
        let mut routes = Vec::new();
        for f in functions {
            for r in &f.http_routes {
                let mut route = Route::new(&r.method, &r.path, f);
                if let Some(api) = api
                    && let Some(name) = api.authorizer_of(r)?
                {
                    route.scopes = if r.scopes.is_empty() {
                        api.authorizers
                            .get(name)
                            .map(|a| a.scopes.clone())
                            .unwrap_or_default()
                    } else {
                        r.scopes.clone()
                    };
                    route.authorizer = Some(name.to_owned());
                }
                routes.push(route);
            }
        }
        routes.sort_by_key(Route::rank);
        Ok(Self(routes))
    }

    /// The routes, most specific first.
    pub fn all(&self) -> &[Route] {
        &self.0
    }

    /// The route API Gateway would pick for this request.
    pub fn find(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        self.0.iter().find_map(|route| {
            route
                .matches(method, path)
                .map(|params| Matched { route, params })
        })
    }
}

/// Shared state of the gateway server.
#[derive(Debug)]
pub struct Gateway {
    /// Routing table.
    pub routes: Routes,
    /// Where functions are invoked.
    pub invoker: Invoker,
    /// JWT authorizers by name (a route naming a missing one is answered 401).
    pub authorizers: BTreeMap<String, JwtAuthorizer>,
    /// Token buckets by route key.
    pub throttles: Throttles,
    /// Documents served as they are at their path (`GET` only), before route matching: the
    /// local identity provider's discovery document and JWKS.
    pub documents: BTreeMap<String, Value>,
}

impl Gateway {
    /// A gateway with these routes, no authorizers, no throttling and no documents.
    pub fn new(routes: Routes, invoker: Invoker) -> Self {
        Self {
            routes,
            invoker,
            authorizers: BTreeMap::new(),
            throttles: Throttles::none(),
            documents: BTreeMap::new(),
        }
    }
}

/// Serves the gateway on `addr` until `shutdown` resolves.
///
/// # Errors
/// The address cannot be bound.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listening = Listening {
        gateway,
        scheme: "http",
        port: listener.local_addr()?.port(),
    };
    let app = axum::Router::new().fallback(handle).with_state(listening);
    // Answers are written as soon as they are ready: no Nagle wait behind a delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// Serves the gateway over HTTPS (TLS 1.2/1.3, rustls) with the PEM certificate chain and
/// key `cert_pem`/`key_pem` until `shutdown` resolves; open connections get 5 s to finish.
///
/// # Errors
/// The certificate or key does not parse, or the listener cannot be used.
pub async fn serve_tls(
    gateway: Arc<Gateway>,
    listener: std::net::TcpListener,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(cert_pem, key_pem).await?;
    let listening = Listening {
        gateway,
        scheme: "https",
        port: listener.local_addr()?.port(),
    };
    let app = axum::Router::new().fallback(handle).with_state(listening);
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    listener.set_nonblocking(true)?;
    axum_server::from_tcp_rustls(listener, config)?
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await?;
    Ok(())
}

/// A gateway as one listener serves it: what `x-forwarded-proto` and `x-forwarded-port` say.
#[derive(Clone)]
struct Listening {
    gateway: Arc<Gateway>,
    /// `http` or `https`.
    scheme: &'static str,
    /// The port the listener is bound to.
    port: u16,
}

async fn handle(
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
        && let Some(document) = gw.documents.get(&path)
    {
        return document_response(document, &request_id);
    }
    if method == "GET"
        && let Some(answer) = crate::openapi::serve(&path, &parts.headers)
    {
        return answer;
    }
    let Some(matched) = gw.routes.find(&method, &path) else {
        tracing::info!(%method, %path, "no route: 404");
        return message(StatusCode::NOT_FOUND, "Not Found", &request_id);
    };
    let route = matched.route;
    if !gw.throttles.admit(&route.route_key) {
        tracing::info!(%method, %path, route = %route.route_key, "throttled: 429");
        return message(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            &request_id,
        );
    }
    let authorized: Option<Authorized> = match &route.authorizer {
        None => None,
        Some(name) => {
            let outcome = match gw.authorizers.get(name) {
                Some(authorizer) => authorizer
                    .authorize(
                        parts.headers.get(http::header::AUTHORIZATION),
                        &route.scopes,
                    )
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
                Ok(authorized) => Some(authorized),
                Err((status, text, challenge, reason)) => {
                    tracing::info!(
                        %method, %path, route = %route.route_key, authorizer = %name, %reason,
                        status = status.as_u16(), "not authorized: function not invoked"
                    );
                    let mut answer = message(status, text, &request_id);
                    answer.headers_mut().insert(
                        http::header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(challenge),
                    );
                    return answer;
                }
            }
        }
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
    let invoked = gw
        .invoker
        .invoke(&route.function, &event, route.timeout + COLD_START_SLACK)
        .await;
    let response = match invoked {
        Ok(Invocation::Ok(payload)) => match to_response(&payload, &request_id) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(function = %route.function_id, error = %e, "malformed Lambda response: 502");
                message(
                    StatusCode::BAD_GATEWAY,
                    "Internal Server Error",
                    &request_id,
                )
            }
        },
        Ok(Invocation::FunctionError(e)) => {
            tracing::error!(function = %route.function_id, error = %e, "function failed: 502");
            message(
                StatusCode::BAD_GATEWAY,
                "Internal Server Error",
                &request_id,
            )
        }
        Ok(Invocation::Rejected(e)) => {
            // "If the Lambda API rejects the invocation request, API Gateway returns a 500
            // error code" (Lambda Developer Guide, "Handling Lambda errors with an API Gateway
            // API"); a function error is the 502 above.
            tracing::error!(function = %route.function_id, error = %e, "Lambda refused the invocation: 500");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                &request_id,
            )
        }
        Ok(Invocation::TimedOut) => {
            tracing::error!(function = %route.function_id, "function timed out: 503");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                &request_id,
            )
        }
        Err(e) => {
            tracing::error!(function = %route.function_id, error = %e, "invoke failed: 502");
            message(
                StatusCode::BAD_GATEWAY,
                "Internal Server Error",
                &request_id,
            )
        }
    };
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
    response
}

/// The parts of an HTTP request that go into a payload v2.0 event.
#[derive(Debug)]
pub struct RequestParts<'a> {
    /// The method.
    pub method: &'a Method,
    /// Raw path (`rawPath`).
    pub path: &'a str,
    /// Raw query string without `?` (`rawQueryString`).
    pub query: &'a str,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Request body bytes.
    pub body: &'a Bytes,
    /// Client address (`requestContext.http.sourceIp`, appended to `x-forwarded-for`).
    pub source_ip: String,
    /// `http` or `https`: the gateway's own scheme, sent as `x-forwarded-proto`.
    pub scheme: &'a str,
    /// The gateway's port, sent as `x-forwarded-port`.
    pub port: u16,
    /// `requestContext.requestId`.
    pub request_id: &'a str,
    /// `requestContext.authorizer` (`{"jwt":{"claims":{...},"scopes":[...]}}`) when a JWT
    /// authorizer let the request through.
    pub authorizer: Option<ApiGatewayRequestAuthorizer>,
}

impl RequestParts<'_> {
    /// The API Gateway HTTP API proxy event, payload format version 2.0: `version` `2.0`,
    /// `routeKey`, `rawPath`, `rawQueryString`, `cookies` (the `Cookie` header split on `;`,
    /// absent without one), `headers` (lower-case names, repeated ones joined with `,`;
    /// `x-forwarded-proto` and `x-forwarded-port` are the gateway's own, whatever the client
    /// sent, and `x-forwarded-for` ends with the client's address, as API Gateway sets them),
    /// `queryStringParameters` (repeated ones joined with `,`) and `pathParameters` (absent
    /// when empty), `requestContext` (`http` description, `requestId`, `time`, `timeEpoch` in
    /// ms, `authorizer`), `body` (absent when empty; base64 with `isBase64Encoded` unless the
    /// content type is text).
    pub fn to_event(&self, matched: &Matched<'_>) -> ApiGatewayV2httpRequest {
        let mut joined: Vec<(&http::HeaderName, String)> = Vec::new();
        let mut cookies = Vec::new();
        for (name, value) in self.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            if name == X_FORWARDED_PROTO || name == X_FORWARDED_PORT {
                continue; // the gateway's own, below
            }
            if name == http::header::COOKIE {
                cookies.extend(value.split(';').map(|c| c.trim().to_owned()));
            } else if let Some((_, all)) = joined.iter_mut().find(|(n, _)| *n == name) {
                all.push(',');
                all.push_str(&value);
            } else {
                joined.push((name, value.into_owned()));
            }
        }
        match joined.iter_mut().find(|(n, _)| *n == X_FORWARDED_FOR) {
            Some((_, all)) => {
                all.push_str(", ");
                all.push_str(&self.source_ip);
            }
            None => joined.push((&X_FORWARDED_FOR, self.source_ip.clone())),
        }
        joined.push((&X_FORWARDED_PROTO, self.scheme.to_owned()));
        joined.push((&X_FORWARDED_PORT, self.port.to_string()));
        // `aws_lambda_events` writes one value per name: each carries its joined values.
        let mut headers = HeaderMap::new();
        for (name, value) in joined {
            // Lossy UTF-8 of valid header values, joined with `,`, is a valid header value.
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.insert(name.clone(), value);
            }
        }
        let mut query: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in form_urlencoded::parse(self.query.as_bytes()) {
            query
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
        let host = self
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let now = chrono::Utc::now();

        let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
        http.method = self.method.clone();
        http.path = Some(self.path.to_owned());
        http.protocol = Some("HTTP/1.1".into());
        http.source_ip = Some(self.source_ip.clone());
        http.user_agent = Some(
            self.headers
                .get(http::header::USER_AGENT)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        );
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.account_id = Some(crate::aws::ACCOUNT_ID.into());
        context.apiid = Some(LOCAL_API_ID.into());
        context.domain_name = Some(host.to_owned());
        context.domain_prefix = Some(host.split('.').next().unwrap_or(host).to_owned());
        context.http = http;
        context.request_id = Some(self.request_id.to_owned());
        context.route_key = Some(matched.route.route_key.clone());
        context.stage = Some("$default".into());
        context.time = Some(now.format("%d/%b/%Y:%H:%M:%S %z").to_string());
        context.time_epoch = now.timestamp_millis();
        context.authorizer.clone_from(&self.authorizer);

        let mut event = ApiGatewayV2httpRequest::default();
        event.version = Some("2.0".into());
        event.route_key = Some(matched.route.route_key.clone());
        event.raw_path = Some(self.path.to_owned());
        event.raw_query_string = Some(self.query.to_owned());
        event.cookies = (!cookies.is_empty()).then_some(cookies);
        event.headers = headers;
        event.query_string_parameters = QueryMap::from(query);
        event.path_parameters.clone_from(&matched.params);
        // Not in a payload 2.0 event, but `aws_lambda_events` writes it: let it be true.
        #[expect(deprecated, reason = "the field is serialised whether set or not")]
        {
            event.http_method = self.method.clone();
        }
        event.request_context = context;
        if !self.body.is_empty() {
            let content_type = self
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            match std::str::from_utf8(self.body) {
                Ok(text) if is_text(content_type) => event.body = Some(text.to_owned()),
                _ => {
                    event.body = Some(B64.encode(self.body));
                    event.is_base64_encoded = true;
                }
            }
        }
        event
    }
}

static X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: http::HeaderName = http::HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_PORT: http::HeaderName = http::HeaderName::from_static("x-forwarded-port");

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

/// Content types API Gateway passes as text; anything else (or no type) is base64-encoded.
fn is_text(content_type: &str) -> bool {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.ends_with("+json")
        || ct.ends_with("+xml")
        || matches!(
            ct.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
                | ""
        )
}

/// Turns a Lambda payload into the HTTP response, per the payload 2.0 response rules: an object
/// with `statusCode` is a full response (an `ApiGatewayV2httpResponse`: `headers`, then the
/// `multiValueHeaders` of names `headers` lacks, one `set-cookie` per `cookies` entry, `body`
/// base64-decoded when `isBase64Encoded`); anything else is a 200 JSON body.
///
/// # Errors
/// The payload is not JSON, or not a valid response (a field of the wrong type, a status
/// outside 100..=999, a header that is not one, a body that is not base64 when it says so).
pub fn to_response(payload: &[u8], request_id: &str) -> Result<Response> {
    let v: Value = serde_json::from_slice(payload)?;
    let mut builder = Response::builder().header("apigw-requestid", request_id);
    if v.get("statusCode").is_none() {
        return Ok(builder
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(payload.to_vec()))?);
    }
    let reply: ApiGatewayV2httpResponse =
        invoke::from_answer(v, &["cookies"]).map_err(|e| anyhow!("malformed response: {e}"))?;
    let status = u16::try_from(reply.status_code)
        .map_err(|_| anyhow!("statusCode {} is not a status", reply.status_code))?;
    builder = builder.status(StatusCode::from_u16(status)?);
    let headers = builder
        .headers_mut()
        .ok_or_else(|| anyhow!("bad response"))?;
    for (name, value) in &reply.headers {
        headers.append(name, value.clone());
    }
    for name in reply.multi_value_headers.keys() {
        if headers.contains_key(name) {
            continue; // `headers` already carried it
        }
        for value in reply.multi_value_headers.get_all(name) {
            headers.append(name, value.clone());
        }
    }
    for c in &reply.cookies {
        headers.append(http::header::SET_COOKIE, HeaderValue::try_from(c.as_str())?);
    }
    let body = match reply.body {
        None | Some(LambdaBody::Empty) => Vec::new(),
        Some(b) if reply.is_base64_encoded => B64.decode(b.as_ref())?,
        Some(LambdaBody::Text(s)) => s.into_bytes(),
        Some(LambdaBody::Binary(b)) => b,
        Some(_) => return Err(anyhow!("a response body of an unknown kind")),
    };
    Ok(builder.body(Body::from(body))?)
}

fn document_response(document: &Value, request_id: &str) -> Response {
    let mut r = message(StatusCode::OK, "", request_id);
    *r.body_mut() = Body::from(document.to_string());
    r
}

/// API Gateway's own error body: `{"message":"Not Found"}`.
#[derive(Debug, Serialize)]
struct Message<'a> {
    message: &'a str,
}

fn message(status: StatusCode, text: &str, request_id: &str) -> Response {
    let body = serde_json::to_string(&Message { message: text }).unwrap_or_default();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(id) = HeaderValue::try_from(request_id) {
        h.insert("apigw-requestid", id);
    }
    r
}

/// A request id shaped like API Gateway's (base64 of random bytes, 16 characters).
fn request_id() -> String {
    let bytes = uuid::Uuid::new_v4();
    B64.encode(&bytes.as_bytes()[..11])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{HttpRoute, Template};
    use serde_json::json;

    fn function(binary: &str, routes: &[(&str, &str)]) -> Function {
        Function {
            logical_id: format!("{binary}Function"),
            binary: binary.into(),
            timeout_secs: 3,
            memory_size_mb: 128,
            environment: Default::default(),
            http_routes: routes.iter().map(|(m, p)| HttpRoute::new(m, p)).collect(),
            sqs_events: vec![],
            dynamodb_events: vec![],
            log_format: None,
            application_log_level: None,
        }
    }

    fn routes() -> Routes {
        Routes::from_functions(&[
            function("list", &[("GET", "/users")]),
            function("get", &[("GET", "/users/{id}")]),
            function("me", &[("GET", "/users/me")]),
            function("proxy", &[("ANY", "/files/{proxy+}")]),
            function("fallback", &[("ANY", "$default")]),
        ])
    }

    #[test]
    fn a_static_route_beats_a_path_parameter() {
        let r = routes();
        assert_eq!(r.find("GET", "/users/me").unwrap().route.function, "me");
        let m = r.find("GET", "/users/42").unwrap();
        assert_eq!(m.route.function, "get");
        assert_eq!(m.params["id"], "42");
    }

    #[test]
    fn a_greedy_variable_takes_the_rest_of_the_path() {
        let m = routes()
            .find("DELETE", "/files/a/b%20c.txt")
            .unwrap()
            .params;
        assert_eq!(m["proxy"], "a/b c.txt");
    }

    #[test]
    fn a_path_parameter_is_percent_decoded_and_a_plus_stays_a_plus() {
        let m = routes()
            .find("DELETE", "/files/C%2B%2B+notes%E2%9C%93%ff")
            .unwrap()
            .params;
        assert_eq!(m["proxy"], "C+++notes\u{2713}\u{fffd}");
    }

    #[test]
    fn the_default_route_catches_what_nothing_else_matches() {
        assert_eq!(
            routes().find("POST", "/users").unwrap().route.function,
            "fallback"
        );
        let strict = Routes::from_functions(&[function("list", &[("GET", "/users")])]);
        assert!(strict.find("POST", "/users").is_none());
        assert!(strict.find("GET", "/users/1").is_none());
        assert!(strict.find("GET", "/").is_none());
    }

    #[test]
    fn the_project_template_routes_every_http_function() {
        let t = Template::load(&crate::workspace_root().join("template.yaml")).unwrap();
        let r = Routes::from_functions(&t.functions().unwrap());
        assert_eq!(
            r.find("POST", "/users").unwrap().route.function,
            "create-user"
        );
        assert_eq!(
            r.find("GET", "/orders/x").unwrap().route.function,
            "get-order"
        );
        assert!(r.find("GET", "/nope").is_none());
    }

    /// `GET /users/42?<query>` from 127.0.0.1 to a plain-HTTP gateway on port 3000.
    fn get_user_42<'a>(
        query: &'a str,
        headers: &'a HeaderMap,
        body: &'a Bytes,
    ) -> RequestParts<'a> {
        RequestParts {
            method: &Method::GET,
            path: "/users/42",
            query,
            headers,
            body,
            source_ip: "127.0.0.1".into(),
            scheme: "http",
            port: 3000,
            request_id: "rid",
            authorizer: None,
        }
    }

    #[test]
    fn the_event_is_a_payload_v2_that_lambda_http_parses() {
        let r = routes();
        let m = r.find("GET", "/users/42").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        headers.insert("cookie", HeaderValue::from_static("a=1; b=2"));
        let body = Bytes::from_static(br#"{"k":1}"#);
        let event = get_user_42("limit=2&tag=x&tag=y", &headers, &body).to_event(&m);
        let event = serde_json::to_value(event).unwrap();
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["routeKey"], "GET /users/{id}");
        assert_eq!(event["rawPath"], "/users/42");
        assert_eq!(event["rawQueryString"], "limit=2&tag=x&tag=y");
        assert_eq!(event["requestContext"]["http"]["method"], "GET");
        assert_eq!(event["requestContext"]["routeKey"], "GET /users/{id}");
        assert_eq!(event["requestContext"]["stage"], "$default");
        assert!(event["requestContext"]["timeEpoch"].as_i64().unwrap() > 1_700_000_000_000);
        assert!(event["requestContext"].get("authorizer").is_none());
        assert_eq!(event["pathParameters"]["id"], "42");
        assert_eq!(event["queryStringParameters"]["tag"], "x,y");
        assert_eq!(event["headers"]["x-multi"], "a,b");
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(event["body"], r#"{"k":1}"#);
        assert_eq!(event["isBase64Encoded"], false);
        let parsed: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
            serde_json::from_value(event).unwrap();
        assert_eq!(parsed.request_context.request_id.as_deref(), Some("rid"));
        assert_eq!(parsed.path_parameters["id"], "42");
    }

    #[test]
    fn forwarding_headers_are_the_gateways_own_and_lambda_http_builds_the_request_uri() {
        let r = routes();
        let m = r.find("GET", "/users/42").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("api.example.com:8443"));
        // What a client sends here must not reach the function: lambda_http builds the
        // request URI from `x-forwarded-proto` and unwraps the parse.
        headers.insert(
            "x-forwarded-proto",
            HeaderValue::from_static("no such scheme"),
        );
        headers.insert("x-forwarded-port", HeaderValue::from_static("1"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        let body = Bytes::new();
        let event = RequestParts {
            source_ip: "127.0.0.9".into(),
            scheme: "https",
            port: 3443,
            ..get_user_42("a=1", &headers, &body)
        }
        .to_event(&m);
        let json = serde_json::to_string(&event).unwrap();
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["headers"]["x-forwarded-proto"], "https");
        assert_eq!(value["headers"]["x-forwarded-port"], "3443");
        assert_eq!(value["headers"]["x-forwarded-for"], "10.0.0.1, 127.0.0.9");
        let request = lambda_http::request::from_str(&json).unwrap();
        assert_eq!(
            request.uri().to_string(),
            "https://api.example.com:8443/users/42?a=1"
        );
    }

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

    #[test]
    fn a_binary_body_is_base64_encoded() {
        let r = routes();
        let m = r.find("GET", "/users/42").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("image/png"));
        let body = Bytes::from_static(&[0, 159, 146, 150]);
        let event = get_user_42("", &headers, &body).to_event(&m);
        let event = serde_json::to_value(event).unwrap();
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(
            B64.decode(event["body"].as_str().unwrap()).unwrap(),
            [0, 159, 146, 150]
        );
    }

    #[test]
    fn a_lambda_proxy_response_becomes_the_http_response() {
        let payload = json!({
            "statusCode": 201,
            "headers": {"content-type": "application/json", "location": "/users/1"},
            "cookies": ["s=1"],
            "body": "{\"id\":\"1\"}",
            "isBase64Encoded": false
        });
        let r = to_response(payload.to_string().as_bytes(), "rid").unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["location"], "/users/1");
        assert_eq!(r.headers()["set-cookie"], "s=1");
    }

    #[test]
    fn multi_value_headers_add_only_names_headers_lack_and_a_base64_body_is_decoded() {
        let payload = json!({
            "statusCode": 200,
            "headers": {"x-one": "h"},
            "multiValueHeaders": {"x-one": ["m"], "x-many": ["a", "b"]},
            "body": B64.encode([0, 159, 146, 150]),
            "isBase64Encoded": true
        });

        let r = to_response(payload.to_string().as_bytes(), "rid").unwrap();

        let values = |name: &str| -> Vec<&str> {
            r.headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect()
        };
        assert_eq!(values("x-one"), ["h"]);
        assert_eq!(values("x-many"), ["a", "b"]);
        assert!(r.headers().get("set-cookie").is_none());
        let body = body_bytes(r);
        assert_eq!(body, [0, 159, 146, 150]);
    }

    fn body_bytes(r: Response) -> Vec<u8> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(r.into_body(), usize::MAX))
            .unwrap()
            .to_vec()
    }

    #[test]
    fn a_response_with_a_field_of_the_wrong_type_is_malformed() {
        for payload in [
            json!({"statusCode": "200"}),
            json!({"statusCode": 70000}),
            json!({"statusCode": 200, "headers": {"x": ["a", 1]}}),
            json!({"statusCode": 200, "cookies": "s=1"}),
            json!({"statusCode": 200, "body": "%%%", "isBase64Encoded": true}),
        ] {
            assert!(
                to_response(payload.to_string().as_bytes(), "rid").is_err(),
                "{payload}"
            );
        }
    }

    #[test]
    fn a_payload_without_status_code_is_a_200_json_body() {
        let r = to_response(br#"{"hello":"world"}"#, "rid").unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
    }

    #[test]
    fn a_payload_that_is_not_json_is_rejected() {
        assert!(to_response(b"not json", "rid").is_err());
    }
}
