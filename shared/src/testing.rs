//! Test support for handler tests: API Gateway HTTP API (payload v2.0) requests built from the
//! real sample event in `events/apigw-http-v2-sample.json`, changed only where a test says so.

use lambda_http::Request;
use serde_json::{Value, json};

/// A request to build: `ApiRequest::new("PATCH", "/orders/{id}/status").path("id", id)
/// .body(json).header("if-match", "\"1\"").build()`.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    event: Value,
    route_path: String,
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

    /// The `lambda_http` request, as the runtime would hand it to a handler.
    ///
    /// # Panics
    /// When the event no longer deserialises (a bug in the test).
    pub fn build(mut self) -> Request {
        self.event["rawPath"] = json!(self.route_path);
        self.event["requestContext"]["http"]["path"] = json!(self.route_path);
        match lambda_http::request::from_str(&self.event.to_string()) {
            Ok(request) => request,
            Err(e) => panic!("test request does not deserialise: {e}"),
        }
    }
}

/// A response's status and JSON body (`Value::Null` when empty or not JSON).
pub fn status_and_json(response: &lambda_http::Response<lambda_http::Body>) -> (u16, Value) {
    let json = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (response.status().as_u16(), json)
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
