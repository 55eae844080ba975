//! The API Gateway emulation as a server, in front of a stand-in Lambda Invoke API: what the
//! function receives, how its answers (or its crash) reach the client, and what never reaches
//! it: requests refused by the JWT authorizer or throttled. Also served over HTTPS.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use common::hostile;
use devstack::authorizer::JwtAuthorizer;
use devstack::gateway::{Gateway, Routes, serve, serve_tls};
use devstack::idp::{DISCOVERY_PATH, Idp, JWKS_PATH};
use devstack::invoke::Invoker;
use devstack::template::{Function, HttpApi, HttpRoute, JwtAuthorizerConfig, RouteAuth, Throttle};
use devstack::throttle::Throttles;
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
        memory_size_mb: 128,
        environment: Default::default(),
        http_routes: vec![HttpRoute::new(method, path)],
        sqs_events: vec![],
        dynamodb_events: vec![],
        log_format: None,
        application_log_level: None,
    }
}

/// The stand-in Lambda Invoke API: its address and what it was sent.
async fn start_lambda() -> (std::net::SocketAddr, Seen) {
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
    (lambda_addr, seen)
}

async fn start() -> (String, Seen) {
    let (lambda_addr, seen) = start_lambda().await;

    let gateway = Arc::new(Gateway::new(
        Routes::from_functions(&[
            function("echo", "PUT", "/things/{id}"),
            function("crash", "GET", "/crash"),
        ]),
        Invoker::new(&format!("http://{lambda_addr}")),
    ));
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

#[tokio::test]
async fn a_malformed_host_is_400_and_nothing_is_invoked_and_forwarding_headers_are_the_gateways() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (url, seen) = start().await;
    let addr = url.trim_start_matches("http://");

    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"PUT /things/42 HTTP/1.1\r\nhost: a b[\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.ends_with(r#"{"message":"Bad Request"}"#), "{answer}");

    // The same route with a well-formed Host and a spoofed scheme reaches the function, with
    // the gateway's own scheme and port: so the first request was refused, not lost.
    let resp = reqwest::Client::new()
        .put(format!("{url}/things/42"))
        .header("x-forwarded-proto", "gopher")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "only the well-formed request was invoked");
    let headers = &seen[0].1["headers"];
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(
        headers["x-forwarded-port"],
        addr.rsplit(':').next().unwrap()
    );
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
}

// ------------------------------------------------------------------ authorizer and throttling

const ISSUER: &str = "http://127.0.0.1:1";
const CLIENT_ID: &str = "test-client";

/// One identity provider per test binary (RSA key generation takes a moment), and another one
/// with a key of its own (a foreign issuer).
fn idps() -> &'static (Idp, Idp) {
    static IDPS: OnceLock<(Idp, Idp)> = OnceLock::new();
    IDPS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("gw-idp-{}", uuid::Uuid::new_v4()));
        (
            Idp::load_or_create(&dir.join("ours"), ISSUER, CLIENT_ID).unwrap(),
            Idp::load_or_create(&dir.join("theirs"), ISSUER, CLIENT_ID).unwrap(),
        )
    })
}

fn guarded(binary: &str, method: &str, path: &str, auth: RouteAuth, scopes: &[&str]) -> Function {
    let mut f = function(binary, method, path);
    f.http_routes[0].auth = auth;
    f.http_routes[0].scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    f
}

/// A gateway whose API has a default JWT authorizer trusting `idps().0`:
/// `GET /private/{id}` (guarded), `GET /admin` (needs scope `shop/admin`), `GET /open`
/// (public) and `GET /limited` (public, burst 3, refilled once an hour).
/// `https`: served over TLS, and the certificate (PEM) to trust is returned.
async fn start_guarded(url_scheme: &str) -> (String, Seen, Option<Vec<u8>>) {
    let (idp, _) = idps();
    let (lambda_addr, seen) = start_lambda().await;

    let api = HttpApi {
        logical_id: "Api".into(),
        authorizers: BTreeMap::from([(
            "Jwt".to_owned(),
            JwtAuthorizerConfig {
                identity_source: "$request.header.Authorization".into(),
                issuer: ISSUER.into(),
                audience: vec![CLIENT_ID.into()],
                scopes: vec![],
            },
        )]),
        default_authorizer: Some("Jwt".into()),
        ..HttpApi::default()
    };
    let functions = [
        guarded("echo", "GET", "/private/{id}", RouteAuth::ApiDefault, &[]),
        guarded(
            "echo",
            "GET",
            "/admin",
            RouteAuth::Named("Jwt".into()),
            &["shop/admin"],
        ),
        guarded("echo", "GET", "/open", RouteAuth::Public, &[]),
        guarded("echo", "GET", "/limited", RouteAuth::Public, &[]),
    ];
    let mut throttles = Throttles::none();
    throttles.insert(
        "GET /limited",
        Throttle {
            rate_per_sec: Some(1.0 / 3600.0),
            burst: Some(3),
        },
    );
    let gateway = Arc::new(Gateway {
        routes: Routes::from_template(&functions, Some(&api)).unwrap(),
        invoker: Invoker::new(&format!("http://{lambda_addr}")),
        authorizers: BTreeMap::from([(
            "Jwt".to_owned(),
            JwtAuthorizer::new(
                "Jwt",
                ISSUER,
                vec![CLIENT_ID.to_owned()],
                idp.jwks().clone(),
            ),
        )]),
        throttles,
        documents: BTreeMap::from([
            (DISCOVERY_PATH.to_owned(), idp.discovery()),
            (
                JWKS_PATH.to_owned(),
                serde_json::to_value(idp.jwks()).unwrap(),
            ),
        ]),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    if url_scheme == "https" {
        let dir = std::env::temp_dir().join(format!("gw-tls-{}", uuid::Uuid::new_v4()));
        let (_, cert, key) = devstack::edge::tls_certificate(&dir).unwrap();
        tokio::spawn(serve_tls(
            gateway,
            listener,
            cert.clone(),
            key,
            std::future::pending(),
        ));
        (
            format!("https://localhost:{}", addr.port()),
            seen,
            Some(cert),
        )
    } else {
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        tokio::spawn(serve(gateway, listener, std::future::pending()));
        (format!("http://{addr}"), seen, None)
    }
}

#[tokio::test]
async fn every_hostile_token_is_401_and_nothing_is_invoked() {
    let (url, seen, _) = start_guarded("http").await;
    let (idp, other) = idps();
    let cases = hostile::cases(
        idp,
        other,
        "0193a000-0000-7000-8000-00000000ada1",
        &["customer"],
    );
    assert!(cases.len() >= 15, "{} cases", cases.len());
    let client = reqwest::Client::new();

    for (case, authorization) in &cases {
        let mut req = client.get(format!("{url}/private/42"));
        if let Some(value) = authorization {
            req = req.header("authorization", value);
        }
        let resp = req.send().await.unwrap();

        assert_eq!(resp.status(), 401, "{case}");
        let challenge = resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{case}: {challenge}");
        assert_eq!(
            resp.text().await.unwrap(),
            r#"{"message":"Unauthorized"}"#,
            "{case}"
        );
    }

    assert!(
        seen.lock().unwrap().is_empty(),
        "no hostile request was invoked"
    );
}

#[tokio::test]
async fn a_valid_token_reaches_the_function_with_its_claims_as_api_gateway_passes_them() {
    let (url, seen, _) = start_guarded("http").await;
    let token = hostile::valid(&idps().0, "user-1", &["admin", "customer"]);

    let resp = reqwest::Client::new()
        .get(format!("{url}/private/42"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status(), 201);
    let (_, event) = seen.lock().unwrap()[0].clone();
    let jwt = &event["requestContext"]["authorizer"]["jwt"];
    assert_eq!(jwt["claims"]["sub"], "user-1");
    assert_eq!(jwt["claims"]["cognito:groups"], "[admin customer]");
    assert_eq!(jwt["claims"]["iss"], ISSUER);
    assert!(
        jwt["claims"]["exp"].is_string(),
        "numbers arrive as strings"
    );
    let parsed: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
        serde_json::from_value(event).unwrap();
    let claims = &parsed
        .request_context
        .authorizer
        .unwrap()
        .jwt
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "user-1");
}

#[tokio::test]
async fn a_token_without_the_routes_scope_is_403_and_a_public_route_needs_no_token() {
    let (url, seen, _) = start_guarded("http").await;
    let token = hostile::valid(&idps().0, "user-1", &["admin"]);
    let client = reqwest::Client::new();

    let scoped = client
        .get(format!("{url}/admin"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let open = client.get(format!("{url}/open")).send().await.unwrap();

    assert_eq!(scoped.status(), 403);
    assert_eq!(
        scoped.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope""#
    );
    assert_eq!(scoped.text().await.unwrap(), r#"{"message":"Forbidden"}"#);
    assert_eq!(open.status(), 201);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].1["requestContext"].get("authorizer").is_none());
}

#[tokio::test]
async fn a_burst_above_the_routes_limit_is_429_and_only_the_burst_is_invoked() {
    let (url, seen, _) = start_guarded("http").await;
    let client = reqwest::Client::new();

    let answers = futures::future::join_all((0..12).map(|_| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let resp = client.get(format!("{url}/limited")).send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    }))
    .await;

    let ok = answers.iter().filter(|(s, _)| *s == 201).count();
    let throttled: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!((ok, throttled.len()), (3, 9), "{answers:?}");
    assert_eq!(throttled[0].1, r#"{"message":"Too Many Requests"}"#);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn the_identity_providers_discovery_document_and_jwks_are_served() {
    let (url, _, _) = start_guarded("http").await;

    let discovery: Value = reqwest::get(format!("{url}{DISCOVERY_PATH}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks: Value = reqwest::get(format!("{url}{JWKS_PATH}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(discovery["issuer"], ISSUER);
    assert_eq!(jwks["keys"][0]["kid"], idps().0.kid());
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
}

#[tokio::test]
async fn the_gateway_serves_https_with_its_self_signed_certificate() {
    let (url, _, cert) = start_guarded("https").await;
    // A client that trusts only the usual roots refuses the self-signed certificate...
    let strict = reqwest::Client::new();
    assert!(strict.get(format!("{url}/open")).send().await.is_err());
    // ...and one told to trust it gets through.
    let cert = cert.unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).unwrap())
        .build()
        .unwrap();

    let resp = trusting.get(format!("{url}/open")).send().await.unwrap();

    assert_eq!(resp.status(), 201);
}
