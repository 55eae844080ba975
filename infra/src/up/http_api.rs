//! Step 5 of `devstack up`, the gateway: API Gateway HTTP API emulation (the template's routes,
//! throttling, JWT authorizers trusting the local identity provider), over HTTP or HTTPS.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Setup;
use crate::edge;
use crate::gateway::{self, Gateway, Routes};
use crate::invoke::Invoker;
use crate::template::{Function, HttpApi};

/// The gateway as step 5 left it serving.
pub(super) struct Served {
    /// The template's HTTP API (its routes' throttling, for the route list).
    pub(super) api: Option<HttpApi>,
    /// `http(s)://127.0.0.1:<--gateway-port>`: the gateway, and the identity provider's issuer.
    pub(super) url: String,
    /// The identity provider's audience: the tokens' client id.
    pub(super) client_id: String,
    /// With `--tls`: the self-signed certificate's path, its PEM chain and key.
    pub(super) certificate: Option<(PathBuf, Vec<u8>, Vec<u8>)>,
    /// The gateway's server task.
    pub(super) task: JoinHandle<Result<()>>,
}

/// Serves the gateway for `functions` on `--gateway-port`, invoking through `invoker`, until
/// `stop_rx` changes.
///
/// # Errors
/// The HTTP API or its routes do not parse, the edge (authorizers, identity provider) cannot be
/// built, the port cannot be bound, or (`--tls`) the certificate cannot be made.
pub(super) fn serve(
    setup: &Setup<'_>,
    functions: &[Function],
    invoker: &Invoker,
    stop_rx: &watch::Receiver<bool>,
) -> Result<Served> {
    let (template, opts, state) = (setup.template, setup.opts, &setup.state);
    let api = template.http_api()?;
    let routes = Routes::from_template(functions, api.as_ref())?;
    let scheme = if opts.tls { "https" } else { "http" };
    let gateway_url = format!("{scheme}://127.0.0.1:{}", opts.gateway_port);
    let edge = edge::build(template, api.as_ref(), &routes, state, &gateway_url)?;
    let client_id = edge.idp.audience().to_owned();
    let gw = Arc::new(Gateway {
        routes,
        invoker: invoker.clone(),
        authorizers: edge.authorizers,
        throttles: if opts.no_throttle {
            tracing::info!("route throttling off (--no-throttle)");
            crate::throttle::Throttles::none()
        } else if (opts.throttle_scale - 1.0).abs() > f64::EPSILON {
            tracing::info!(
                factor = opts.throttle_scale,
                "route throttling limits scaled (--throttle-scale)"
            );
            edge.throttles.scaled(opts.throttle_scale)
        } else {
            edge.throttles
        },
        documents: edge.documents,
    });
    let listener = std::net::TcpListener::bind(("127.0.0.1", opts.gateway_port))
        .with_context(|| format!("binding the gateway on 127.0.0.1:{}", opts.gateway_port))?;
    let mut gw_stop = stop_rx.clone();
    let gw_shutdown = async move {
        let _ = gw_stop.changed().await;
    };
    let certificate = if opts.tls {
        Some(edge::tls_certificate(state)?)
    } else {
        None
    };
    let gateway_task = match &certificate {
        Some((_, cert, key)) => tokio::spawn(gateway::serve_tls(
            gw,
            listener,
            cert.clone(),
            key.clone(),
            gw_shutdown,
        )),
        None => {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            tokio::spawn(gateway::serve(gw, listener, gw_shutdown))
        }
    };
    Ok(Served {
        api,
        url: gateway_url,
        client_id,
        certificate,
        task: gateway_task,
    })
}
