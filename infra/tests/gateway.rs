//! The API Gateway emulation as a server, in front of a stand-in Lambda Invoke API: what the
//! function receives, and how its answers (or its crash) reach the client.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use devstack::gateway::{Gateway, Routes, serve};
use devstack::invoke::Invoker;
use devstack::template::{Function, HttpRoute};
use serde_json::{Value, json};

type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// `echo` answers 200 with the event it got; `crash` answers like a failed invocation.
async fn invoke(
    State(seen): State<Seen>,
    Path(name): Path<String>,
    Json(event): Json<Value>,
) -> axum::response::Response {
    seen.lock().unwrap().push((name.clone(), event.clone()));
    match name.as_str() {
        "crash" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("x-amz-function-error", "Unhandled")],
            r#"{"errorType":"Panic","errorMessage":"boom"}"#,
        )
            .into_response(),
        _ => Json(json!({
            "statusCode": 201,
            "headers": { "content-type": "application/json", "x-route": event["routeKey"] },
            "body": json!({ "id": event["pathParameters"]["id"] }).to_string(),
            "isBase64Encoded": false
        }))
        .into_response(),
    }
}

fn function(binary: &str, method: &str, path: &str) -> Function {
    Function {
        logical_id: format!("{binary}Function"),
        binary: binary.into(),
        timeout_secs: 3,
        environment: Default::default(),
        http_routes: vec![HttpRoute {
            method: method.into(),
            path: path.into(),
        }],
        sqs_events: vec![],
        dynamodb_events: vec![],
        log_format: None,
    }
}

async fn start() -> (String, Seen) {
    let seen = Seen::default();
    let lambda = axum::Router::new()
        .route(
            "/2015-03-31/functions/{name}/invocations",
            axum::routing::post(invoke),
        )
        .with_state(seen.clone());
    let lambda_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lambda_addr = lambda_listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(lambda_listener, lambda).await });

    let gateway = Arc::new(Gateway {
        routes: Routes::from_functions(&[
            function("echo", "PUT", "/things/{id}"),
            function("crash", "GET", "/crash"),
        ]),
        invoker: Invoker::new(&format!("http://{lambda_addr}")),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(gateway, listener, std::future::pending()));
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn a_request_reaches_its_function_as_a_v2_event_and_the_response_comes_back() {
    let (url, seen) = start().await;

    let resp = reqwest::Client::new()
        .put(format!("{url}/things/42?x=1"))
        .header("content-type", "application/json")
        .body(r#"{"a":1}"#)
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-route"], "PUT /things/{id}");
    assert!(resp.headers().contains_key("apigw-requestid"));
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({ "id": "42" }));
    let (name, event) = seen.lock().unwrap()[0].clone();
    assert_eq!(name, "echo");
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["rawQueryString"], "x=1");
    assert_eq!(event["body"], r#"{"a":1}"#);
    assert_eq!(event["requestContext"]["http"]["method"], "PUT");
}

#[tokio::test]
async fn a_crashed_function_answers_502_without_leaking_its_error() {
    let (url, _) = start().await;

    let resp = reqwest::get(format!("{url}/crash")).await.unwrap();

    assert_eq!(resp.status(), 502);
    let body = resp.text().await.unwrap();
    assert_eq!(body, r#"{"message":"Internal Server Error"}"#);
}

#[tokio::test]
async fn a_method_the_route_does_not_declare_is_not_found_and_nothing_is_invoked() {
    let (url, seen) = start().await;

    let resp = reqwest::get(format!("{url}/things/42")).await.unwrap();

    assert_eq!(resp.status(), 404);
    assert_eq!(resp.text().await.unwrap(), r#"{"message":"Not Found"}"#);
    assert!(seen.lock().unwrap().is_empty());
}
