//! The SDK floor of `make bench`'s cold-start table: a Lambda function whose handler does only
//! one DynamoDB `GetItem` (key `id` from the payload v2.0 path parameter, table from
//! `PRODUCTS_TABLE`) and answers a payload v2.0 response — 200 with the item's attributes as
//! JSON names, or 404.
//!
//! No telemetry, no cache, no HTTP routing or validation: what is left is the runtime
//! (`lambda_runtime`), the SDK configuration the functions use ([`shared::aws::load`]:
//! `AWS_ENDPOINT_URL`, timeouts, retries) and one SDK call. A function's first response is
//! compared with this binary's (issue 13: at most 1.25×; peak RSS at most 1.3×).

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let table = std::env::var("PRODUCTS_TABLE").map_err(|_| "PRODUCTS_TABLE is not set")?;
    let client = aws_sdk_dynamodb::Client::new(&shared::aws::load().await);
    lambda_runtime::run(service_fn(|event| get_item(&client, &table, event))).await
}

/// One `GetItem` of `id` (the `id` path parameter; empty when absent) on `table`: 200 with the
/// item's attribute names, 404 when there is none.
///
/// # Errors
/// The SDK's error when the call fails (the runtime reports it as the invocation's error).
async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    event: LambdaEvent<ApiGatewayV2httpRequest>,
) -> Result<ApiGatewayV2httpResponse, Error> {
    let id = event
        .payload
        .path_parameters
        .get("id")
        .cloned()
        .unwrap_or_default();
    let output = client
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S(id))
        .consistent_read(true)
        .send()
        .await?;
    let (status, body) = match output.item {
        Some(item) => {
            let names: Vec<&String> = item.keys().collect();
            (200, serde_json::to_string(&names)?)
        }
        None => (404, r#"{"error":"NOT_FOUND"}"#.to_owned()),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // `#[non_exhaustive]`: built from its default, field by field.
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = status;
    response.headers = headers;
    response.body = Some(Body::Text(body));
    Ok(response)
}
