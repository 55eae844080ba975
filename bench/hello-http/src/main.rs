//! The runtime floor of `make bench`'s cold-start table: a `lambda_http` hello world (payload
//! v2.0 in, `200 hello` out). No SDK, no telemetry: its init, first response and peak RSS are
//! what `lambda_http` itself costs, below which no function can go.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(hello)).await
}

/// `200 hello` (text/plain) to any request.
///
/// # Errors
/// None in practice: building this response cannot fail.
async fn hello(_request: Request) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(Body::from("hello"))?)
}
