//! Test support for handler tests: API Gateway HTTP API (payload v2.0) requests built from the
//! real sample event in `events/apigw-http-v2-sample.json`, changed only where a test says so.

use std::fmt::Display;

use lambda_http::Request;
use serde_json::{Value, json};

/// A request to build: `ApiRequest::new("PATCH", "/orders/{id}/status").path("id", id)
/// .body(json).header("if-match", "\"1\"").build()`.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    event: Value,
    route_path: String,
    trace_header: Option<String>,
}

impl ApiRequest {
    /// A `method` request on route `route` (e.g. `/orders/{id}`), without body or parameters.
    ///
    /// # Panics
    /// Never with the bundled fixture (it is valid JSON).
    pub fn new(method: &str, route: &str) -> Self {
        let mut event: Value =
            serde_json::from_str(include_str!("../../events/apigw-http-v2-sample.json"))
                .unwrap_or_default();
        event["routeKey"] = json!(format!("{method} {route}"));
        event["requestContext"]["routeKey"] = event["routeKey"].clone();
        event["requestContext"]["http"]["method"] = json!(method);
        event["requestContext"]["requestId"] = json!("req-test");
        event["pathParameters"] = json!({});
        event["queryStringParameters"] = json!({});
        event["rawQueryString"] = json!("");
        event["headers"] = json!({"content-type": "application/json"});
        event["cookies"] = json!([]);
        event["body"] = Value::Null;
        event["isBase64Encoded"] = json!(false);
        // No caller until a test says who it is (`principal`, `as_admin`, `as_customer`).
        if let Some(context) = event["requestContext"].as_object_mut() {
            context.remove("authorizer");
        }
        Self {
            event,
            route_path: route.to_owned(),
            trace_header: None,
        }
    }

    /// Sets path parameter `name` (and fills it into the raw path).
    #[must_use]
    pub fn path(mut self, name: &str, value: impl ToString) -> Self {
        let value = value.to_string();
        self.event["pathParameters"][name] = json!(value);
        self.route_path = self.route_path.replace(&format!("{{{name}}}"), &value);
        self
    }

    /// Adds query parameter `name=value`.
    #[must_use]
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.event["queryStringParameters"][name] = json!(value);
        let raw = self.event["rawQueryString"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let pair: String = form_urlencoded::Serializer::new(String::new())
            .append_pair(name, value)
            .finish();
        self.event["rawQueryString"] = json!(if raw.is_empty() {
            pair
        } else {
            format!("{raw}&{pair}")
        });
        self
    }

    /// Adds every `(name, value)` query parameter, in order.
    #[must_use]
    pub fn queries(self, pairs: &[(&str, &str)]) -> Self {
        pairs
            .iter()
            .fold(self, |req, (name, value)| req.query(name, value))
    }

    /// Sets header `name` (lower-case, as API Gateway delivers them).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.event["headers"][name.to_ascii_lowercase()] = json!(value);
        self
    }

    /// Puts the caller's JWT claims where API Gateway's JWT authorizer does
    /// (`requestContext.authorizer.jwt.claims`), flattened as it flattens them: `sub` and
    /// `cognito:groups` as `"[g1 g2]"`.
    #[must_use]
    pub fn principal(mut self, subject: &str, groups: &[&str]) -> Self {
        self.event["requestContext"]["authorizer"] = json!({
            "jwt": {
                "claims": {
                    "sub": subject,
                    "cognito:groups": format!("[{}]", groups.join(" ")),
                    "iss": "http://127.0.0.1:3000",
                    "client_id": "shop-local",
                    "token_use": "access",
                },
                "scopes": null
            }
        });
        self
    }

    /// The caller is an admin (subject `admin-test`).
    #[must_use]
    pub fn as_admin(self) -> Self {
        self.principal("admin-test", &["admin"])
    }

    /// The caller is the customer whose user id is `id`.
    #[must_use]
    pub fn as_customer(self, id: impl ToString) -> Self {
        self.principal(&id.to_string(), &["customer"])
    }

    /// Sets the body to `body` as JSON text.
    #[must_use]
    pub fn body(mut self, body: &Value) -> Self {
        self.event["body"] = json!(body.to_string());
        self
    }

    /// Sets the body to `text` exactly.
    #[must_use]
    pub fn raw_body(mut self, text: &str) -> Self {
        self.event["body"] = json!(text);
        self
    }

    /// With `header` as the invocation's X-Ray trace header (the lambda `Context`'s
    /// `xray_trace_id`, as the runtime sets it from `Lambda-Runtime-Trace-Id`).
    pub fn trace_header(mut self, header: &str) -> Self {
        self.trace_header = Some(header.to_owned());
        self
    }

    /// The `lambda_http` request, as the runtime would hand it to a handler.
    ///
    /// # Panics
    /// When the event no longer deserialises (a bug in the test).
    pub fn build(mut self) -> Request {
        self.event["rawPath"] = json!(self.route_path);
        self.event["requestContext"]["http"]["path"] = json!(self.route_path);
        let request = match lambda_http::request::from_str(&self.event.to_string()) {
            Ok(request) => request,
            Err(e) => panic!("test request does not deserialise: {e}"),
        };
        match self.trace_header {
            Some(header) => {
                let mut context = lambda_http::Context::default();
                context.xray_trace_id = Some(header);
                lambda_http::RequestExt::with_lambda_context(request, context)
            }
            None => request,
        }
    }
}

/// A response's status and JSON body (`Value::Null` when empty or not JSON).
pub fn status_and_json(response: &lambda_http::Response<lambda_http::Body>) -> (u16, Value) {
    let json = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (response.status().as_u16(), json)
}

/// The `(field, message)` pairs of a `VALIDATION_ERROR` body's `error.details`, in order and
/// borrowed from `body`, to compare with a list such as `[("email", "is required")]`.
///
/// # Panics
/// When `body` has no `error.details` array, or when a detail is not exactly
/// `{"field": <string>, "message": <string>}` (so that comparing the pairs says as much as
/// comparing the JSON).
pub fn error_details(body: &Value) -> Vec<(&str, &str)> {
    let Some(details) = body["error"]["details"].as_array() else {
        panic!("no error.details array in {body}");
    };
    details
        .iter()
        .map(|detail| {
            let pair = detail
                .as_object()
                .filter(|d| d.len() == 2)
                .and_then(|d| Some((d.get("field")?.as_str()?, d.get("message")?.as_str()?)));
            match pair {
                Some(pair) => pair,
                None => panic!("not a {{\"field\", \"message\"}} detail: {detail}"),
            }
        })
        .collect()
}

/// What a handler answers for `resource` `id` that does not exist, and for one the caller may
/// not see (the two look alike on purpose): status `404` and
/// `{"error": {"code": "NOT_FOUND", "message": "<resource> <id> not found"}}`, to compare with
/// a test's `(status, body)`.
pub fn not_found(resource: &str, id: impl Display) -> (u16, Value) {
    let message = format!("{resource} {id} not found");
    (
        404,
        json!({"error": {"code": "NOT_FOUND", "message": message}}),
    )
}

/// An SQS event from the real sample in `events/sqs-receive-message.json`, one record per
/// `(message_id, body)`.
///
/// # Panics
/// Never with the bundled fixture.
pub fn sqs_event(records: &[(&str, &str)]) -> aws_lambda_events::event::sqs::SqsEvent {
    let fixture: Value =
        serde_json::from_str(include_str!("../../events/sqs-receive-message.json"))
            .unwrap_or_default();
    let template = fixture["Records"][0].clone();
    let records: Vec<Value> = records
        .iter()
        .map(|(id, body)| {
            let mut record = template.clone();
            record["messageId"] = json!(id);
            record["body"] = json!(body);
            record
        })
        .collect();
    match serde_json::from_value(json!({ "Records": records })) {
        Ok(event) => event,
        Err(e) => panic!("the SQS fixture does not deserialise: {e}"),
    }
}

/// The `itemIdentifier`s of a partial batch response, in order.
pub fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

/// A `StockRejected` envelope for a fresh order (correlation id `req-1`): the event fixture of
/// the publisher and relay tests.
///
/// # Panics
/// Never in practice: the event always serialises.
#[expect(clippy::expect_used, reason = "a test fixture")]
pub fn stock_rejected_envelope() -> crate::events::Envelope {
    let event = crate::events::StockRejected {
        order_id: crate::domain::OrderId::new(),
        product_ids: Vec::new(),
        reason: "insufficient stock".to_owned(),
    };
    crate::events::Envelope::wrap(&event, "req-1", crate::domain::now())
        .expect("a StockRejected serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_details_are_the_field_and_message_pairs_in_order() {
        let body = json!({"error": {"code": "VALIDATION_ERROR", "message": "two fields", "details": [
            {"field": "email", "message": "is required"},
            {"field": "name", "message": "must not be empty"}
        ]}});

        let details = error_details(&body);

        assert_eq!(
            details,
            [("email", "is required"), ("name", "must not be empty")]
        );
    }

    #[test]
    #[should_panic(expected = "not a {\"field\", \"message\"} detail")]
    fn a_detail_with_more_than_a_field_and_a_message_is_refused() {
        let body = json!({"error": {"details": [
            {"field": "email", "message": "is required", "hint": "add one"}
        ]}});

        error_details(&body);
    }

    #[test]
    #[should_panic(expected = "no error.details array")]
    fn a_body_without_details_is_refused() {
        error_details(&json!({"error": {"code": "NOT_FOUND", "message": "gone"}}));
    }

    #[test]
    fn not_found_is_the_404_body_naming_the_resource_and_id() {
        let expected = json!({"error": {"code": "NOT_FOUND", "message": "order 42 not found"}});

        assert_eq!(not_found("order", 42), (404, expected));
    }
}
