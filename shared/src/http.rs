//! HTTP helpers for the API Gateway (HTTP API, payload v2.0) functions: request parsing,
//! JSON responses and the one error → response mapping ([`problem`]).
//!
//! Handlers build a `Result<Response<Body>, Error>` and pass it through [`respond`], so an
//! expected error (400, 404, 409...) is an `Ok` response and nothing escapes as a Lambda error.

use std::convert::Infallible;
use std::str::FromStr;

use http::StatusCode;
use http::header::{CONTENT_TYPE, ETAG, HeaderValue, IF_MATCH, LOCATION, RETRY_AFTER};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::{ExpectedVersion, Invalid, Version};
use crate::error::{Error, FieldError};

pub mod problem;

pub use problem::{
    ErrorBody, ErrorDetail, ErrorResponse, RATE_LIMIT_RETRY_AFTER, SERVICE_UNAVAILABLE_RETRY_AFTER,
};

/// What every HTTP handler returns: always a response, never a Lambda error.
pub type HttpResult = Result<Response<Body>, Infallible>;

/// Turns a handler's outcome into a response: `Ok` as is, `Err` through [`error_response`].
pub fn respond(result: Result<Response<Body>, Error>) -> HttpResult {
    Ok(result.unwrap_or_else(|error| error_response(&error)))
}

/// Largest request body a function accepts, in bytes (64 KiB). API Gateway itself lets 10 MB
/// through; no request of this API needs more than a few KiB, so a bigger body is refused
/// before it is parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Deserialises the request body (JSON) into `T` and checks it with `T`'s validation rules
/// ([`garde`]): the one way a handler reads a body.
///
/// `T` is a request type with `#[serde(deny_unknown_fields)]` (fields the client may not
/// send, such as `role`, `version` or `status`, are refused with `is not allowed`) and
/// `#[derive(garde::Validate)]` rules for lengths and ranges.
///
/// # Errors
/// - [`Error::PayloadTooLarge`] (413) when the body exceeds [`MAX_BODY_BYTES`];
/// - [`Error::Validation`] as for [`parse_json`], then one entry per rule that failed, every
///   failure at once, named by path (`items[0].quantity`).
pub fn parse_body<T>(req: &Request) -> Result<T, Error>
where
    T: DeserializeOwned + garde::Validate<Context = ()>,
{
    let value: T = parse_json(req)?;
    validated(value)
}

/// `value` if it passes its [`garde`] rules.
///
/// # Errors
/// [`Error::Validation`] with one entry per failed rule, named by path, in the domain's words
/// ([`ApiMessages`](crate::validate::ApiMessages)).
pub fn validated<T: garde::Validate<Context = ()>>(value: T) -> Result<T, Error> {
    match garde::i18n::with_i18n(crate::validate::ApiMessages, || value.validate()) {
        Ok(()) => Ok(value),
        Err(report) => Err(Error::validation(
            report
                .iter()
                .map(|(path, error)| {
                    let field = path.to_string();
                    let field = if field.is_empty() {
                        "body".to_owned()
                    } else {
                        field
                    };
                    FieldError::new(field, error.message())
                })
                .collect(),
        )),
    }
}

/// Deserialises the request body (JSON) into `T`, without validation rules (prefer
/// [`parse_body`]).
///
/// Use `#[serde(deny_unknown_fields)]` on `T` so that unexpected fields are refused.
///
/// # Errors
/// [`Error::PayloadTooLarge`] (413) when the body exceeds [`MAX_BODY_BYTES`];
/// [`Error::Validation`] naming the offending field:
/// - `body`: body missing, empty, not JSON, or not the expected kind of value (e.g. an array);
/// - `<field>`: required field missing (`is required`), unknown field (`is not allowed`);
/// - `<path>`, e.g. `items[0].quantity`: a value of the wrong type.
pub fn parse_json<T: DeserializeOwned>(req: &Request) -> Result<T, Error> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge(format!(
            "the request body is {} bytes; at most {MAX_BODY_BYTES} are accepted",
            bytes.len()
        )));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid(
            "body",
            "is required and must be a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(json_error)?;
    deserializer
        .end()
        .map_err(|_| Error::invalid("body", "must be valid JSON"))?;
    Ok(value)
}

fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if !inner.is_data() {
        return Error::invalid("body", "must be valid JSON");
    }
    let message = without_position(&inner.to_string());
    let join = |name: &str| {
        if path == "." {
            name.to_owned()
        } else if path == name || path.ends_with(&format!(".{name}")) {
            path.clone()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(name) = backticked_after(&message, "missing field ") {
        return Error::invalid(join(name), "is required");
    }
    if let Some(name) = backticked_after(&message, "unknown field ") {
        return Error::invalid(join(name), "is not allowed");
    }
    let field = if path == "." { "body".to_owned() } else { path };
    Error::invalid(field, message)
}

/// serde_json appends ` at line L column C`; the client knows its own body.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// `name` from messages like ``missing field `name` `` / ``unknown field `name`, expected ...``.
fn backticked_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name)
}

/// The path parameter `name` (e.g. `id` of `/users/{id}`) parsed as a `T`.
///
/// # Errors
/// [`Error::Validation`] on field `name` when it is missing or does not parse.
pub fn path_param<T: FromStr<Err = Invalid>>(req: &Request, name: &str) -> Result<T, Error> {
    let raw = req
        .path_parameters_ref()
        .and_then(|params| params.first(name))
        .ok_or_else(|| Error::invalid(name, "is required"))?;
    raw.parse().map_err(|e: Invalid| Error::invalid(name, e.0))
}

/// The query string parsed into `T` and checked with its [`garde`] rules: the one way a handler
/// reads its query.
///
/// `T` has `#[serde(deny_unknown_fields)]` and optional fields; values arrive as strings, so
/// numbers are parsed (`limit=abc` is an error on `limit`). A parameter sent twice arrives
/// joined with a comma, as API Gateway joins it.
///
/// # Errors
/// [`Error::Validation`]: `<name>: is not allowed` for an unknown parameter, `<name>: ...` for
/// a value that does not parse or breaks a rule.
pub fn parse_query<T>(req: &Request) -> Result<T, Error>
where
    T: DeserializeOwned + garde::Validate<Context = ()>,
{
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(params) = req.query_string_parameters_ref() {
        let names: std::collections::BTreeSet<&str> = params.iter().map(|(name, _)| name).collect();
        for name in names {
            let values: Vec<&str> = params.all(name).unwrap_or_default();
            query.append_pair(name, &values.join(","));
        }
    }
    let query = query.finish();
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    let value: T = serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        if let Some(name) = backticked_after(&message, "unknown field ") {
            return Error::invalid(name, "is not allowed");
        }
        if let Some(name) = backticked_after(&message, "missing field ") {
            return Error::invalid(name, "is required");
        }
        let field = if path == "." {
            "query".to_owned()
        } else {
            path
        };
        Error::invalid(field, message)
    })?;
    validated(value)
}

/// The first value of query parameter `name`, if present (URL-decoded).
pub fn query_param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.query_string_parameters_ref()
        .and_then(|params| params.first(name))
}

/// The `If-Match` precondition of an update as the version the store must find: `*` is
/// [`ExpectedVersion::Any`], one strong entity tag as sent in `ETag` (e.g. `"3"`) is
/// [`ExpectedVersion::Exactly`]. A weak tag (`W/"3"`) never matches under If-Match's strong
/// comparison, so it is answered like a stale version.
///
/// # Errors
/// - [`Error::PreconditionRequired`] (428) when the header is missing or empty: updates use
///   optimistic locking, so a blind overwrite is refused;
/// - [`Error::PreconditionFailed`] (412) for a weak tag or a list of several tags;
/// - [`Error::Validation`] on field `If-Match` when it is not an entity tag at all.
pub fn if_match(req: &Request) -> Result<ExpectedVersion, Error> {
    let missing = || {
        Error::PreconditionRequired(
            "this update needs an If-Match header with the ETag from a GET".to_owned(),
        )
    };
    let Some(raw) = req.headers().get(IF_MATCH) else {
        return Err(missing());
    };
    let raw = raw
        .to_str()
        .map_err(|_| Error::invalid("If-Match", "must be an entity tag such as \"1\""))?
        .trim();
    // A list of only empty elements (`If-Match:`, `If-Match: ,`) names no tag: RFC 9110 §5.6.1
    // has recipients ignore empty list elements, so it reads as no header at all.
    if raw.split(',').all(|element| element.trim().is_empty()) {
        return Err(missing());
    }
    if raw == "*" {
        return Ok(ExpectedVersion::Any);
    }
    if raw.starts_with("W/") || raw.contains(',') {
        return Err(Error::PreconditionFailed(
            "If-Match must name exactly one current strong ETag".to_owned(),
        ));
    }
    raw.strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .and_then(|digits| digits.parse::<u64>().ok())
        .map(|n| ExpectedVersion::Exactly(Version::new(n)))
        .ok_or_else(|| Error::invalid("If-Match", "must be an entity tag such as \"1\""))
}

/// `response` with `ETag: "<version>"`.
pub fn with_etag(mut response: Response<Body>, version: Version) -> Response<Body> {
    if let Ok(value) = HeaderValue::try_from(version.etag()) {
        response.headers_mut().insert(ETAG, value);
    }
    response
}

/// The `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header), if sent.
///
/// # Errors
/// [`Error::Validation`] on field `Idempotency-Key` unless it is 1..=255 visible ASCII
/// characters.
pub fn idempotency_key(req: &Request) -> Result<Option<String>, Error> {
    let Some(raw) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = || {
        Error::invalid(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )
    };
    let key = raw.to_str().map_err(|_| invalid())?.trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
}

/// API Gateway's request id (`requestContext.requestId`), when the request came through it.
pub fn request_id(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    }
}

/// The id that ties logs and events to this request: API Gateway's request id when present,
/// otherwise a fresh UUID (e.g. for a direct invocation).
pub fn correlation_id(req: &Request) -> String {
    request_id(req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// The X-Ray trace header of this invocation, as Lambda passes it
/// (`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`): the
/// runtime's `Lambda-Runtime-Trace-Id` (`Context::xray_trace_id`, which `lambda_http` puts in
/// the request's extensions), else the `_X_AMZN_TRACE_ID` environment variable (which the
/// runtime also sets, outside its concurrent mode). `None` when neither is set or both are blank
/// (tracing off, a request built by hand). Events the request writes carry it (see
/// [`crate::events::Envelope::with_trace_header`]).
pub fn trace_header(req: &Request) -> Option<String> {
    let non_blank = |h: &String| !h.trim().is_empty();
    req.lambda_context_ref()
        .and_then(|context| context.xray_trace_id.clone())
        .filter(non_blank)
        .or_else(|| std::env::var("_X_AMZN_TRACE_ID").ok().filter(non_blank))
}

/// A JSON response with `status` and `content-type: application/json`.
///
/// If `body` cannot be serialised (a bug) the response is a logged, opaque 500.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    match serde_json::to_string(body) {
        Ok(json) => json_text(status, json),
        Err(e) => error_response(&Error::internal("serialising response body", e)),
    }
}

/// `201 Created` with `location` and `body` as JSON.
pub fn created<T: Serialize>(location: &str, body: &T) -> Response<Body> {
    let mut response = json_response(StatusCode::CREATED, body);
    if response.status() == StatusCode::CREATED {
        match HeaderValue::try_from(location) {
            Ok(value) => {
                response.headers_mut().insert(LOCATION, value);
            }
            Err(e) => tracing::warn!(error = %e, "location is not a valid header value"),
        }
    }
    response
}

/// The response for `error`: its status and `{"error":{"code","message","details"?}}`, and
/// for a 503 or 429 `Retry-After: <seconds>` ([`ErrorResponse::retry_after`]).
///
/// A 5xx is logged with `tracing::error!` and its full source chain; its body is opaque.
/// A 4xx is logged at `info` with its code only (messages may echo client input).
pub fn error_response(error: &Error) -> Response<Body> {
    let status = error.status();
    if error.is_server_error() {
        tracing::error!(status = status.as_u16(), code = error.code(), error = %error.chain(), "request failed");
    } else {
        tracing::info!(
            status = status.as_u16(),
            code = error.code(),
            "request rejected"
        );
    }
    let json = serde_json::to_string(&error.body()).unwrap_or_else(|_| {
        r#"{"error":{"code":"INTERNAL_ERROR","message":"internal error"}}"#.to_owned()
    });
    let mut response = json_text(status, json);
    if let Some(delay) = error.retry_after() {
        with_retry_after(&mut response, delay);
    }
    response
}

/// Sets `Retry-After: <seconds>` on `response` (RFC 9110 §10.2.3: delay-seconds, a whole
/// number; a fraction is rounded up so the client never comes back early).
pub fn with_retry_after(response: &mut Response<Body>, delay: std::time::Duration) {
    let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
}

fn json_text(status: StatusCode, json: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(json));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;
    use crate::error::FieldError;
    use serde::Deserialize;
    use serde_json::{Value, json};

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialised to exercise error paths")]
    struct Dto {
        name: String,
        items: Vec<Line>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialised to exercise error paths")]
    struct Line {
        quantity: i64,
    }

    fn request_with_body(body: &str) -> Request {
        let mut event: Value =
            serde_json::from_str(include_str!("../../events/apigw-http-v2-sample.json")).unwrap();
        event["body"] = json!(body);
        event["isBase64Encoded"] = json!(false);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn field_errors(result: Result<Dto, Error>) -> Vec<FieldError> {
        match result {
            Err(Error::Validation(fields)) => fields,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn the_trace_header_is_the_invocations_xray_trace_id() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let req = crate::testing::ApiRequest::new("POST", "/orders")
            .trace_header(header)
            .build();

        assert_eq!(trace_header(&req).as_deref(), Some(header));
    }

    #[test]
    fn without_a_trace_in_the_context_or_the_environment_there_is_no_trace_header() {
        // `_X_AMZN_TRACE_ID` is only set inside Lambda.
        let req = crate::testing::ApiRequest::new("POST", "/orders").build();

        assert_eq!(trace_header(&req), None);
    }

    #[test]
    fn a_valid_body_is_parsed() {
        let req = request_with_body(r#"{"name":"a","items":[{"quantity":1}]}"#);

        assert!(parse_json::<Dto>(&req).is_ok());
    }

    #[test]
    fn an_empty_or_non_json_body_is_a_validation_error_on_body() {
        for body in [
            "",
            "   ",
            "{not json",
            r#"{"name":"a","items":[]} trailing"#,
            "[]",
        ] {
            let fields = field_errors(parse_json(&request_with_body(body)));

            assert_eq!(fields.len(), 1, "{body:?}");
            assert_eq!(fields[0].field, "body", "{body:?}");
        }
    }

    #[test]
    fn a_missing_field_is_named() {
        let fields = field_errors(parse_json(&request_with_body(r#"{"items":[]}"#)));

        assert_eq!(fields, [FieldError::new("name", "is required")]);
    }

    #[test]
    fn a_missing_nested_field_is_named_with_its_path() {
        let fields = field_errors(parse_json(&request_with_body(
            r#"{"name":"a","items":[{}]}"#,
        )));

        assert_eq!(
            fields,
            [FieldError::new("items[0].quantity", "is required")]
        );
    }

    #[test]
    fn an_unknown_field_is_named() {
        let body = r#"{"name":"a","items":[],"admin":true}"#;

        let fields = field_errors(parse_json(&request_with_body(body)));

        assert_eq!(fields, [FieldError::new("admin", "is not allowed")]);
    }

    #[test]
    fn a_wrongly_typed_field_is_named_with_its_path() {
        let body = r#"{"name":"a","items":[{"quantity":"two"}]}"#;

        let fields = field_errors(parse_json(&request_with_body(body)));

        assert_eq!(fields[0].field, "items[0].quantity");
        assert!(
            fields[0].message.starts_with("invalid type"),
            "{}",
            fields[0].message
        );
        assert!(!fields[0].message.contains("line"), "{}", fields[0].message);
    }

    #[derive(Debug, Deserialize, garde::Validate)]
    #[serde(deny_unknown_fields)]
    struct Checked {
        #[garde(length(min = 1, max = 5))]
        name: String,
        #[garde(dive, length(min = 1))]
        items: Vec<CheckedLine>,
    }

    #[derive(Debug, Deserialize, garde::Validate)]
    #[serde(deny_unknown_fields)]
    struct CheckedLine {
        #[garde(range(min = 1, max = 10))]
        quantity: i64,
    }

    #[derive(Debug, Deserialize, garde::Validate)]
    #[serde(deny_unknown_fields)]
    struct Query {
        #[garde(range(min = 1, max = 100))]
        limit: Option<u16>,
        #[garde(skip)]
        status: Option<String>,
    }

    #[test]
    fn every_broken_rule_is_reported_with_its_path() {
        let req =
            request_with_body(r#"{"name":"toolong","items":[{"quantity":1},{"quantity":11}]}"#);

        let fields = match parse_body::<Checked>(&req) {
            Err(Error::Validation(fields)) => fields,
            other => panic!("expected a validation error, got {other:?}"),
        };

        assert_eq!(
            fields,
            [
                FieldError::new("items[1].quantity", "must be at most 10"),
                FieldError::new("name", "must be at most 5 long"),
            ]
        );
    }

    #[test]
    fn a_body_over_the_cap_is_413_before_parsing() {
        let big = format!(r#"{{"name":"{}","items":[]}}"#, "x".repeat(MAX_BODY_BYTES));

        let error = parse_body::<Checked>(&request_with_body(&big)).unwrap_err();

        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(error.code(), "PAYLOAD_TOO_LARGE");
    }

    fn request_with_query(pairs: &[(&str, &str)]) -> Request {
        crate::testing::ApiRequest::new("GET", "/orders")
            .queries(pairs)
            .build()
    }

    #[test]
    fn a_query_is_typed_and_checked() {
        let query: Query = parse_query(&request_with_query(&[
            ("limit", "5"),
            ("status", "PENDING"),
        ]))
        .unwrap();
        assert_eq!(
            (query.limit, query.status.as_deref()),
            (Some(5), Some("PENDING"))
        );

        let unknown = parse_query::<Query>(&request_with_query(&[("admin", "true")]));
        let not_a_number = parse_query::<Query>(&request_with_query(&[("limit", "abc")]));
        let too_big = parse_query::<Query>(&request_with_query(&[("limit", "1000")]));

        assert_eq!(unknown.unwrap_err().to_string(), "admin: is not allowed");
        assert!(not_a_number.unwrap_err().to_string().starts_with("limit: "));
        assert!(too_big.unwrap_err().to_string().starts_with("limit: "));
    }

    #[test]
    fn a_missing_path_parameter_is_a_validation_error_naming_it() {
        let req = request_with_body("");

        let error = path_param::<UserId>(&req, "id").unwrap_err();

        assert_eq!(error.to_string(), "id: is required");
    }

    #[test]
    fn an_error_response_has_the_status_code_and_json_body() {
        let response = error_response(&Error::not_found("user", "42"));

        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(
            body,
            json!({"error": {"code": "NOT_FOUND", "message": "user 42 not found"}})
        );
    }

    #[test]
    fn a_503_says_when_to_retry_and_hides_its_cause() {
        let error = Error::ServiceUnavailable(
            "DynamoDB GetItem on table products: request has timed out".into(),
        );

        let response = error_response(&error);

        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(
            body,
            json!({"error": {"code": "SERVICE_UNAVAILABLE", "message": "service unavailable"}})
        );
    }

    #[test]
    fn a_429_says_when_to_retry_and_other_errors_do_not() {
        let throttled = error_response(&Error::RateLimitExceeded("slow down".into()));
        let internal = error_response(&Error::internal("x", "y"));
        let missing = error_response(&Error::not_found("user", "42"));

        assert_eq!(throttled.headers()[RETRY_AFTER], "1");
        assert!(!internal.headers().contains_key(RETRY_AFTER));
        assert!(!missing.headers().contains_key(RETRY_AFTER));
    }

    #[test]
    fn retry_after_rounds_a_fraction_of_a_second_up() {
        let mut response = Response::new(Body::Empty);

        with_retry_after(&mut response, std::time::Duration::from_millis(1500));

        assert_eq!(response.headers()[RETRY_AFTER], "2");
    }

    #[test]
    fn the_request_id_comes_from_the_request_context() {
        let req = request_with_body("");

        assert_eq!(request_id(&req).as_deref(), Some("id"));
    }
}
