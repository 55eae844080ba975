//! The function's answer as the HTTP response (payload 2.0 response rules), and API Gateway's
//! own answers: its `{"message":...}` error bodies and the documents it serves as they are.

use anyhow::{Result, anyhow};
use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::Value;

use crate::invoke;

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

/// A document served as it is: 200 with its JSON text and the `apigw-requestid` header.
pub(super) fn document_response(document: &Value, request_id: &str) -> Response {
    let mut r = message(StatusCode::OK, "", request_id);
    *r.body_mut() = Body::from(document.to_string());
    r
}

/// API Gateway's own error body: `{"message":"Not Found"}`.
#[derive(Debug, Serialize)]
struct Message<'a> {
    message: &'a str,
}

/// API Gateway's own answer: `status` with the JSON body [`Message`] of `text` and the
/// `apigw-requestid` header.
pub(super) fn message(status: StatusCode, text: &str, request_id: &str) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
