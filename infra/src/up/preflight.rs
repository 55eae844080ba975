//! Before anything starts: what CloudFormation would refuse in the template, and the ports only
//! devstack's own processes may hold (checked free, then bound), so a second `devstack up`
//! fails at once and leaves the first one alone.

use anyhow::{Context, Result, bail};
use tokio::net::TcpListener;

use super::{Options, Setup};
use crate::procs;
use crate::provision;
use crate::template::{Function, Template};

/// The listeners bound before anything starts; step 3 serves them.
pub(super) struct Listeners {
    /// The template's Cloud Map instances, in template order.
    pub(super) instance_plans: Vec<provision::InstancePlan>,
    /// Each instance's port (same order): `--payments-port` and the ports after it.
    pub(super) payment_ports: Vec<u16>,
    /// Each instance's listener on 127.0.0.1 (same order).
    pub(super) payments: Vec<TcpListener>,
    /// The fault proxy's listener on 127.0.0.1:`--proxy-port`.
    pub(super) proxy: TcpListener,
    /// The control API's listener on 127.0.0.1:`--control-port`.
    pub(super) control: TcpListener,
}

/// The template's functions, once the template passes what CloudFormation would check (the
/// event sources' timeouts, `--parameter-overrides`).
///
/// # Errors
/// The functions do not parse, an event source's timeout or a parameter override is refused.
pub(super) fn check_template(setup: &Setup<'_>) -> Result<Vec<Function>> {
    let (template, opts) = (setup.template, setup.opts);
    let functions = template.functions()?;
    // What CloudFormation would refuse, refused before anything starts.
    template.check_event_source_timeouts()?;
    for (name, value) in &opts.parameter_overrides {
        template
            .check_parameter(name, value)
            .context("--parameter-overrides")?;
    }
    Ok(functions)
}

/// Refuses a port that is in use (the Lambda, gateway, proxy, control and payment ports), then
/// binds the payment provider's, the fault proxy's and the control API's listeners.
///
/// # Errors
/// A Cloud Map resource does not resolve, `--payments-port` is too high for every instance, a
/// port is in use or cannot be bound (each error names the flag to pass).
pub(super) async fn claim_ports(setup: &Setup<'_>) -> Result<Listeners> {
    let (template, stack, opts) = (setup.template, setup.stack, setup.opts);
    // Ports only devstack's own processes may hold: refuse before starting or building
    // anything, so a second `devstack up` fails at once and leaves the first one alone.
    let instance_plans = payment_instances(template, stack, opts)?;
    let payment_ports = instance_plans
        .iter()
        .enumerate()
        .map(|(k, _)| {
            u16::try_from(k)
                .ok()
                .and_then(|k| opts.payments_port.checked_add(k))
                .context("--payments-port: too high for every Cloud Map instance of the template")
        })
        .collect::<Result<Vec<u16>>>()?;
    for (port, flag) in [
        (opts.lambda_port, "--lambda-port"),
        (opts.gateway_port, "--gateway-port"),
        (opts.proxy_port, "--proxy-port"),
        (opts.control_port, "--control-port"),
    ]
    .into_iter()
    .chain(payment_ports.iter().map(|p| (*p, "--payments-port")))
    {
        if procs::port_open(port).await {
            bail!("127.0.0.1:{port} is in use (another devstack?): stop it or pass {flag}");
        }
    }
    let mut payment_listeners = Vec::new();
    for port in &payment_ports {
        payment_listeners.push(
            tokio::net::TcpListener::bind(("127.0.0.1", *port))
                .await
                .with_context(|| {
                    format!(
                        "binding the payment provider on 127.0.0.1:{port}: pass --payments-port"
                    )
                })?,
        );
    }
    let proxy_listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.proxy_port))
        .await
        .with_context(|| {
            format!(
                "binding the fault proxy on 127.0.0.1:{}: pass --proxy-port",
                opts.proxy_port
            )
        })?;
    let control_listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.control_port))
        .await
        .with_context(|| {
            format!(
                "binding the control API on 127.0.0.1:{}: pass --control-port",
                opts.control_port
            )
        })?;
    Ok(Listeners {
        instance_plans,
        payment_ports,
        payments: payment_listeners,
        proxy: proxy_listener,
        control: control_listener,
    })
}

/// The template's Cloud Map instances (in template order), each served by one listener of the
/// local payment provider.
///
/// # Errors
/// A Cloud Map resource of the template does not resolve.
fn payment_instances(
    template: &Template,
    stack: &str,
    opts: &Options,
) -> Result<Vec<provision::InstancePlan>> {
    let mut resolver = crate::template::Resolver::for_planning(template, stack);
    resolver
        .parameters
        .extend(opts.parameter_overrides.iter().cloned());
    Ok(provision::discovery_plans(template, &resolver, stack)?.instances)
}
