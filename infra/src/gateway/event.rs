//! The payload v2.0 event: the parts of an HTTP request API Gateway passes to a function, as the
//! `ApiGatewayV2httpRequest` the Lambda Invoke API is sent.

use std::collections::HashMap;

use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription,
};
use aws_lambda_events::query_map::QueryMap;
use axum::body::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderValue, Method};

use super::{LOCAL_API_ID, Matched};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::routes::tests::routes;
    use serde_json::{Value, json};

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
}
