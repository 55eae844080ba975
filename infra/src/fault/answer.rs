//! Error answers shaped like the real service's, so the AWS SDK parses the injected code exactly
//! as it would in AWS.
//!
//! - DynamoDB (awsJson1_0): `400`, `Content-Type: application/x-amz-json-1.0`,
//!   `{"__type":"com.amazonaws.dynamodb.v20120810#<Code>","message":"…"}` and `x-amzn-RequestId`
//!   (DynamoDB API reference, "Error handling": the SDK takes the code after `#`).
//! - SQS (JSON protocol, awsJson1_0 with awsQueryCompatible): the same body with the
//!   `com.amazonaws.sqs#` prefix, plus `x-amzn-query-error: <Code>;Sender` (`Receiver` for a
//!   5xx), which the SDK prefers for the code (aws-sdk-sqs `parse_http_error_metadata`).
//! - awsQuery services: the XML `<ErrorResponse><Error><Type/><Code/><Message/></Error>`.

use http::{HeaderValue, Response, StatusCode};
use hyper::body::Bytes;

use super::rules::{Call, Protocol};

/// The message of every injected error.
pub const MESSAGE: &str = "injected by devstack fault";

/// The service's throttling error for `call`: DynamoDB `ProvisionedThroughputExceededException`,
/// SQS `ThrottlingException` (400), `Throttling` for an awsQuery service.
pub fn throttle(call: &Call) -> Response<Bytes> {
    let code = match (call.service.as_str(), call.protocol) {
        ("dynamodb", _) => "ProvisionedThroughputExceededException",
        (_, Protocol::Query) => "Throttling",
        _ => "ThrottlingException",
    };
    error(call, StatusCode::BAD_REQUEST, Some(code))
}

/// A service-shaped error with `status` and `code`; without a code, one by status:
/// 503 `ServiceUnavailable`, other 5xx `InternalServerError` (SQS: `InternalError`), 4xx
/// `ValidationException` (SQS: `InvalidParameterValue`).
pub fn error(call: &Call, status: StatusCode, code: Option<&str>) -> Response<Bytes> {
    let sqs = call.service == "sqs";
    let code = code.unwrap_or(match status.as_u16() {
        503 => "ServiceUnavailable",
        500..=599 if sqs => "InternalError",
        500..=599 => "InternalServerError",
        _ if sqs => "InvalidParameterValue",
        _ => "ValidationException",
    });
    shaped(call, status, code, MESSAGE)
}

/// The service's answer to a call its caller's policies do not allow, with IAM's `message`
/// ("User: <principal> is not authorized to perform: <action> on resource: <arn> because …"):
/// `400 AccessDeniedException` for the JSON services (DynamoDB, Secrets Manager, Cloud Map),
/// `403 AccessDenied` for SQS (its `x-amzn-query-error` code) and awsQuery services.
pub fn access_denied(call: &Call, message: &str) -> Response<Bytes> {
    if call.service == "sqs" || call.protocol == Protocol::Query {
        shaped(call, StatusCode::FORBIDDEN, "AccessDenied", message)
    } else {
        shaped(
            call,
            StatusCode::BAD_REQUEST,
            "AccessDeniedException",
            message,
        )
    }
}

/// The service's own error `code` with `message` (the service's, not an injected one): what the
/// service answers where the emulator lacks a rule (see [`super::tokens`]).
pub fn service_error(
    call: &Call,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response<Bytes> {
    shaped(call, status, code, message)
}

fn shaped(call: &Call, status: StatusCode, code: &str, message: &str) -> Response<Bytes> {
    let sqs = call.service == "sqs";
    let fault = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut builder = Response::builder()
        .status(status)
        .header("x-amzn-RequestId", &request_id);
    let body = match call.protocol {
        Protocol::Query => {
            builder = builder.header(http::header::CONTENT_TYPE, "text/xml");
            format!(
                "<ErrorResponse><Error><Type>{fault}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                xml_escape(code),
                xml_escape(message)
            )
        }
        Protocol::Json | Protocol::Other => {
            builder = builder.header(http::header::CONTENT_TYPE, "application/x-amz-json-1.0");
            let namespace = match call.service.as_str() {
                "dynamodb" | "dynamodbstreams" => "com.amazonaws.dynamodb.v20120810#",
                "sqs" => "com.amazonaws.sqs#",
                _ => "",
            };
            if sqs && let Ok(v) = HeaderValue::from_str(&format!("{code};{fault}")) {
                builder = builder.header("x-amzn-query-error", v);
            }
            serde_json::json!({ "__type": format!("{namespace}{code}"), "message": message })
                .to_string()
        }
    };
    builder
        .body(Bytes::from(body))
        .unwrap_or_else(|_| Response::new(Bytes::new()))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: &str, protocol: Protocol) -> Call {
        Call {
            service: service.into(),
            operation: Some("Op".into()),
            protocol,
        }
    }

    #[test]
    fn dynamodb_throttling_is_the_provisioned_throughput_error_of_dynamodb() {
        let r = throttle(&call("dynamodb", Protocol::Json));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().contains_key("x-amzn-requestid"));
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            body["__type"],
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
        );
    }

    #[test]
    fn access_denied_is_each_services_own_code_with_iams_message() {
        let message = "User: arn:aws:sts::123456789012:assumed-role/shop-R/F is not authorized";
        let r = access_denied(&call("dynamodb", Protocol::Json), message);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            body["__type"],
            "com.amazonaws.dynamodb.v20120810#AccessDeniedException"
        );
        assert_eq!(body["message"], message);
        let r = access_denied(&call("sqs", Protocol::Json), message);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.headers()["x-amzn-query-error"], "AccessDenied;Sender");
        let r = access_denied(&call("elasticache", Protocol::Query), "a < b");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let xml = String::from_utf8(r.body().to_vec()).unwrap();
        assert!(
            xml.contains("<Code>AccessDenied</Code><Message>a &lt; b</Message>"),
            "{xml}"
        );
    }

    #[test]
    fn sqs_throttling_carries_the_query_compatible_code_header() {
        let r = throttle(&call("sqs", Protocol::Json));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.headers()["x-amzn-query-error"],
            "ThrottlingException;Sender"
        );
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["__type"], "com.amazonaws.sqs#ThrottlingException");
    }

    #[test]
    fn an_error_without_code_gets_one_by_status_and_a_query_service_gets_xml() {
        let r = error(
            &call("elasticache", Protocol::Query),
            StatusCode::SERVICE_UNAVAILABLE,
            None,
        );
        let body = String::from_utf8(r.body().to_vec()).unwrap();
        assert!(body.contains("<Code>ServiceUnavailable</Code>"), "{body}");
        assert!(body.contains("<Type>Receiver</Type>"), "{body}");
    }
}
