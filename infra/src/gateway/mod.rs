//! API Gateway HTTP API emulation: the template's `HttpApi` events become routes; a request
//! becomes a Lambda proxy event (payload format 2.0), is sent through the Lambda Invoke API, and
//! the function's response becomes the HTTP response.
//!
//! Route selection follows API Gateway's rule (most specific match wins: exact routes before
//! greedy `{proxy+}` routes before `$default`; a method beats `ANY`). A request then goes
//! through the route's throttling (429 `{"message":"Too Many Requests"}`) and its JWT
//! authorizer (401 `{"message":"Unauthorized"}`, 403 `{"message":"Forbidden"}` for a missing
//! scope) before the function is invoked; the verified claims reach the function in
//! `requestContext.authorizer.jwt`. Other error answers are API Gateway's own too: 404
//! `{"message":"Not Found"}` for no route, 413 for a body over 10 MB, 502 for a failed or
//! malformed invocation, 503 when the function does not answer within its timeout.
//! See <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html>.
//!
//! The gateway also serves the local identity provider's discovery document and JWKS
//! (`/.well-known/openid-configuration`, `/.well-known/jwks.json`), as the issuer's host does
//! in the cloud. It listens on plain HTTP, or HTTPS with a certificate ([`serve_tls`]).

mod event;
mod handle;
mod response;
mod routes;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use axum::serve::ListenerExt as _;
use serde_json::Value;

use crate::authorizer::JwtAuthorizer;
use crate::invoke::Invoker;
use crate::throttle::Throttles;
use handle::handle;

pub use event::RequestParts;
pub use response::to_response;
pub use routes::{Matched, Route, Routes};

/// Largest request body API Gateway accepts (10 MB), in bytes.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// The API id reported in `requestContext.apiId` locally.
pub const LOCAL_API_ID: &str = "local";

/// Shared state of the gateway server.
#[derive(Debug)]
pub struct Gateway {
    /// Routing table.
    pub routes: Routes,
    /// Where functions are invoked.
    pub invoker: Invoker,
    /// JWT authorizers by name (a route naming a missing one is answered 401).
    pub authorizers: BTreeMap<String, JwtAuthorizer>,
    /// Token buckets by route key.
    pub throttles: Throttles,
    /// Documents served as they are at their path (`GET` only), before route matching: the
    /// local identity provider's discovery document and JWKS.
    pub documents: BTreeMap<String, Value>,
}

impl Gateway {
    /// A gateway with these routes, no authorizers, no throttling and no documents.
    pub fn new(routes: Routes, invoker: Invoker) -> Self {
        Self {
            routes,
            invoker,
            authorizers: BTreeMap::new(),
            throttles: Throttles::none(),
            documents: BTreeMap::new(),
        }
    }
}

/// Serves the gateway on `addr` until `shutdown` resolves.
///
/// # Errors
/// The address cannot be bound.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listening = Listening {
        gateway,
        scheme: "http",
        port: listener.local_addr()?.port(),
    };
    let app = axum::Router::new().fallback(handle).with_state(listening);
    // Answers are written as soon as they are ready: no Nagle wait behind a delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// Serves the gateway over HTTPS (TLS 1.2/1.3, rustls) with the PEM certificate chain and
/// key `cert_pem`/`key_pem` until `shutdown` resolves; open connections get 5 s to finish.
///
/// # Errors
/// The certificate or key does not parse, or the listener cannot be used.
pub async fn serve_tls(
    gateway: Arc<Gateway>,
    listener: std::net::TcpListener,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(cert_pem, key_pem).await?;
    let listening = Listening {
        gateway,
        scheme: "https",
        port: listener.local_addr()?.port(),
    };
    let app = axum::Router::new().fallback(handle).with_state(listening);
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    listener.set_nonblocking(true)?;
    axum_server::from_tcp_rustls(listener, config)?
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await?;
    Ok(())
}

/// A gateway as one listener serves it: what `x-forwarded-proto` and `x-forwarded-port` say.
#[derive(Clone)]
struct Listening {
    gateway: Arc<Gateway>,
    /// `http` or `https`.
    scheme: &'static str,
    /// The port the listener is bound to.
    port: u16,
}
