//! Step 3 of `devstack up`: what devstack serves itself before the functions start: the fault
//! proxy in front of the emulator, the local payment provider's instances, and the control API
//! (with the console's API).

use std::sync::Arc;

use anyhow::Result;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::Setup;
use super::preflight::Listeners;
use super::resources::Resources;
use crate::console::{self, Console};
use crate::control::{self, Command as ControlCommand, Status};
use crate::fault::{Faults, proxy::Proxy};
use crate::payments::{self, Payments, Provider};
use crate::provision::Provisioned;
use crate::template::Function;

/// What step 3 serves, and the stop signal every server and mapping task of devstack obeys.
pub(super) struct Services {
    /// Sending `true` stops every server and mapping task (step 7).
    pub(super) stop_tx: watch::Sender<bool>,
    /// The stop signal; each task gets a clone.
    pub(super) stop_rx: watch::Receiver<bool>,
    /// The fault rules (the proxy's and the payment provider's) and the tables' nudges.
    pub(super) faults: Arc<Faults>,
    /// The payment provider and its served instances.
    pub(super) payments: Arc<Payments>,
    /// One server task per payment instance.
    pub(super) payment_tasks: Vec<JoinHandle<()>>,
    /// `http://127.0.0.1:<--proxy-port>`: the functions' `AWS_ENDPOINT_URL`.
    pub(super) proxy_url: String,
    /// The fault proxy's server task.
    pub(super) proxy_task: JoinHandle<()>,
    /// The control API's orders (Redis down and up, restarts), for the supervision loop.
    pub(super) commands: mpsc::Receiver<ControlCommand>,
    /// `http://127.0.0.1:<--control-port>`.
    pub(super) control_url: String,
    /// The control API's server task.
    pub(super) control_task: JoinHandle<std::io::Result<()>>,
    /// The console's state, fed by the functions' EMF lines and their invocations.
    pub(super) console: Console,
}

/// Serves the payment provider's instances on their listeners, the fault proxy in front of the
/// emulator at `endpoint` and the control API (answering with `status_rx` for the
/// dependencies), until [`Services::stop_tx`] sends `true`.
///
/// # Errors
/// The fault proxy cannot be made for `endpoint`.
pub(super) fn serve(
    setup: &Setup<'_>,
    functions: &[Function],
    endpoint: &str,
    resources: &Resources,
    listeners: Listeners,
    status_rx: watch::Receiver<Status>,
) -> Result<Services> {
    let (template, stack, opts) = (setup.template, setup.stack, setup.opts);
    let Resources {
        sdk,
        api_key,
        provisioned,
        iam,
        ..
    } = resources;
    let Listeners {
        instance_plans,
        payment_ports,
        payments: payment_listeners,
        proxy: proxy_listener,
        control: control_listener,
    } = listeners;
    let (stop_tx, stop_rx) = watch::channel(false);
    let faults = Arc::new(Faults::default());
    let provider = Arc::new(Provider::new(api_key.clone(), Arc::clone(&faults)));
    let mut served = Vec::new();
    let mut payment_tasks = Vec::new();
    for ((plan, port), listener) in instance_plans
        .iter()
        .zip(&payment_ports)
        .zip(payment_listeners)
    {
        served.push(payments::Instance {
            instance: plan.instance_id.clone(),
            url: format!("http://127.0.0.1:{port}"),
        });
        payment_tasks.push(tokio::spawn(Arc::clone(&provider).serve(
            plan.instance_id.clone(),
            listener,
            stop_rx.clone(),
        )));
    }
    let payments = Arc::new(Payments::new(
        provider,
        served,
        payment_target(provisioned, sdk),
    ));
    let proxy_url = format!("http://127.0.0.1:{}", opts.proxy_port);
    let proxy = Proxy::new(endpoint, Arc::clone(&faults))?.with_iam(Arc::clone(iam));
    let proxy_task = tokio::spawn(proxy.serve(proxy_listener, stop_rx.clone()));
    let (commands_tx, commands) = mpsc::channel::<ControlCommand>(8);
    let control_url = format!("http://127.0.0.1:{}", opts.control_port);
    let console = Console::new().with_functions(functions.iter().map(|f| f.binary.clone()));
    let app = control::router(control::Control {
        faults: Arc::clone(&faults),
        commands: commands_tx,
        status: status_rx,
        payments: Arc::clone(&payments),
        iam: Arc::clone(iam),
    })
    .merge(console::api::router(console::api::ConsoleApi {
        console: console.clone(),
        sqs: aws_sdk_sqs::Client::new(sdk),
        dynamodb: aws_sdk_dynamodb::Client::new(sdk),
        template: Arc::new(template.clone()),
        stack: stack.to_owned(),
        queues: provisioned.queues.clone(),
        orders_table: provisioned.tables.get("OrdersTable").cloned(),
    }));
    let mut control_stop = stop_rx.clone();
    let control_task = tokio::spawn(async move {
        axum::serve(control_listener, app)
            .with_graceful_shutdown(async move {
                let _ = control_stop.changed().await;
            })
            .await
    });
    Ok(Services {
        stop_tx,
        stop_rx,
        faults,
        payments,
        payment_tasks,
        proxy_url,
        proxy_task,
        commands,
        control_url,
        control_task,
        console,
    })
}

/// The Cloud Map service of the first registered instance, for `devstack payments health` and
/// `instances`.
pub(super) fn payment_target(
    provisioned: &Provisioned,
    sdk: &aws_config::SdkConfig,
) -> Option<payments::Target> {
    let (_, first) = provisioned.discovery.instances.first()?;
    let service = provisioned.discovery.services.get(&first.service)?;
    Some(payments::Target {
        client: aws_sdk_servicediscovery::Client::new(sdk),
        service_id: service.id.clone(),
        service: service.name.clone(),
        namespace: service.namespace_name.clone(),
    })
}
