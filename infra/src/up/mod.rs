//! `devstack up`: starts (or reuses) the emulator and Redis, provisions the template, serves
//! the local payment provider's instances, runs the functions under `cargo lambda watch` behind
//! the fault proxy, serves the gateway, the event source mappings and the control API, then
//! supervises until Ctrl-C or SIGTERM.
//!
//! Survival: when the emulator or redis-server that devstack started exits, devstack says so and
//! keeps the gateway, the functions and the mappings up; `devstack restart <redis|emulator>`
//! starts it again (for the emulator: re-provisions, and the stream mappings move to the new
//! stream ARNs; SQS queue URLs do not change). Only `cargo lambda watch` exiting stops devstack.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::console::{self, Console};
use crate::control::{self, Command as ControlCommand, Dependency, DependencyState, Order, Status};
use crate::edge;
use crate::fault::{Faults, proxy::Proxy};
use crate::gateway::{self, Gateway, Routes};
use crate::iam::Iam;
use crate::invoke::Invoker;
use crate::payments::{self, Payments, Provider};
use crate::procs::{self, Exit, Recipe, Supervisor};
use crate::provision::{self, ProvisionOptions, Provisioned};
use crate::sandbox;
use crate::stack;
use crate::template::{Function, HttpApi, Template};
use crate::{esm, streams};

/// The emulator's child name.
pub const EMULATOR: &str = "moto server";
/// redis-server's child name.
pub const REDIS: &str = "redis-server";
/// `cargo lambda watch`'s child name.
pub const FUNCTIONS: &str = "cargo lambda watch";

/// How long a restarted emulator gets to open its port.
const EMULATOR_START: Duration = Duration::from_secs(60);
/// How long a restarted redis-server gets to open its port.
const REDIS_START: Duration = Duration::from_secs(20);

/// `devstack up`'s options (the CLI's flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// API Gateway emulation port.
    pub gateway_port: u16,
    /// Lambda Invoke API port of `cargo lambda watch`.
    pub lambda_port: u16,
    /// AWS API emulator port (ignored when `AWS_ENDPOINT_URL` names one).
    pub emulator_port: u16,
    /// Redis port.
    pub redis_port: u16,
    /// Fault proxy port: the functions' `AWS_ENDPOINT_URL`.
    pub proxy_port: u16,
    /// Control API port (`devstack fault …`).
    pub control_port: u16,
    /// The local payment provider's first instance port; the template's Cloud Map instances
    /// get this one and the ports after it, in template order.
    pub payments_port: u16,
    /// Every queue's VisibilityTimeout override, seconds.
    pub visibility_timeout: Option<u32>,
    /// `cargo lambda watch --ignore-changes`.
    pub no_reload: bool,
    /// Build and run the functions with the release profile (`cargo lambda watch --release`):
    /// the deployed build (LTO), for load runs; debug builds spend several ms of CPU per request.
    pub release: bool,
    /// No route throttling (for `make bench`; the template's limits would answer 429).
    pub no_throttle: bool,
    /// Every route's ThrottlingRateLimit and ThrottlingBurstLimit multiplied by this (> 0; 1 =
    /// the template's limits), for load tests (`--throttle-scale`). Ignored with `no_throttle`.
    pub throttle_scale: f64,
    /// Serve the gateway over HTTPS.
    pub tls: bool,
    /// Instances per function and batches in flight per queue.
    pub concurrency: u32,
    /// Template parameter overrides.
    pub parameter_overrides: Vec<(String, String)>,
}

/// What devstack does after a child exits on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterExit {
    /// Stop the whole local cloud, for this reason.
    Stop(String),
    /// Log this (what died, what stays up, how to bring it back) and keep running.
    KeepRunning(String),
}

/// The decision for `exit` in stack `stack`: the emulator and Redis may die (the gateway and the
/// functions stay up, a restart command brings them back); anything else (`cargo lambda watch`)
/// stops devstack.
pub fn after_exit(exit: &Exit, stack: &str) -> AfterExit {
    let cli = format!("cargo run -p devstack -- --stack-name {stack}");
    match exit.name.as_str() {
        EMULATOR => AfterExit::KeepRunning(format!(
            "the AWS API emulator ({EMULATOR}) exited ({}). The gateway, the functions and the \
             mappings stay up; AWS calls fail until you run `{cli} restart emulator` (tables and \
             queues are re-created, empty)",
            exit.status
        )),
        REDIS => AfterExit::KeepRunning(format!(
            "{REDIS} exited ({}). The gateway and the functions stay up (reads fall through to \
             DynamoDB); start it again with `{cli} restart redis`",
            exit.status
        )),
        _ => AfterExit::Stop(format!("{} exited ({})", exit.name, exit.status)),
    }
}

/// The project root, where `.devstack/` lives and `cargo lambda watch` builds the functions:
/// the template's folder when it holds a `Cargo.toml`, else the workspace devstack was built
/// from (a modified copy of the template elsewhere, `devstack up -t /tmp/copy.yaml`, still runs
/// this project's functions).
///
/// # Errors
/// The template does not exist.
pub fn project_root(template_path: &Path) -> Result<PathBuf> {
    let folder = template_path
        .canonicalize()
        .with_context(|| format!("{} not found", template_path.display()))?
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if folder.join("Cargo.toml").exists() {
        Ok(folder)
    } else {
        Ok(crate::workspace_root())
    }
}

/// Runs the local cloud until Ctrl-C, SIGTERM or `cargo lambda watch` exits; stops what it
/// started.
///
/// # Errors
/// A port is taken, a tool is missing, provisioning or the functions' build fails.
pub async fn up(
    template_path: &Path,
    stack: &str,
    template: &Template,
    opts: Options,
) -> Result<()> {
    let root = project_root(template_path)?;
    let state = root.join(".devstack");
    std::fs::create_dir_all(state.join("logs"))?;
    let ready_file = state.join(format!("ready-{stack}.json"));
    let _ = std::fs::remove_file(&ready_file);
    let mut sup = Supervisor::default();
    let result = run(template_path, &root, stack, template, &opts, &mut sup).await;
    let _ = std::fs::remove_file(&ready_file);
    sup.stop_all().await;
    result
}

/// Whether devstack started a dependency (and so may stop and start it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ownership {
    Started,
    Reused,
}

/// What the supervision loop needs to stop and start dependencies.
struct Running<'a> {
    stack: &'a str,
    template: &'a Template,
    opts: &'a Options,
    sup: &'a mut Supervisor,
    redis: Ownership,
    emulator: Ownership,
    endpoint: String,
    emulator_port: u16,
    sdk: aws_config::SdkConfig,
    functions: Vec<Function>,
    provisioned: Provisioned,
    invoker: Invoker,
    checkpoints: PathBuf,
    streams: StreamTasks,
    status: watch::Sender<Status>,
    ready_file: PathBuf,
    ready: serde_json::Value,
    provision_options: ProvisionOptions,
    payments: Arc<Payments>,
    faults: Arc<Faults>,
}

/// The stream mapping tasks, stopped together (their ARNs change when the emulator restarts).
struct StreamTasks {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl StreamTasks {
    fn start(
        mappings: Vec<streams::StreamMapping>,
        sdk: &aws_config::SdkConfig,
        invoker: &Invoker,
        faults: &Faults,
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let client = aws_sdk_dynamodbstreams::Client::new(sdk);
        let tasks = mappings
            .into_iter()
            .map(|m| {
                let bell = crate::fault::nudge::table_of_stream_arn(&m.stream_arn)
                    .map(|table| faults.nudges.subscribe(table));
                tokio::spawn(streams::run_nudged(
                    m,
                    client.clone(),
                    invoker.clone(),
                    stop_rx.clone(),
                    bell,
                ))
            })
            .collect();
        Self { stop, tasks }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn run(
    template_path: &Path,
    root: &Path,
    stack: &str,
    template: &Template,
    opts: &Options,
    sup: &mut Supervisor,
) -> Result<()> {
    let state = root.join(".devstack");
    let logs = state.join("logs");
    let ready_file = state.join(format!("ready-{stack}.json"));
    let venv_bin = root.join(".venv/bin");
    let functions = template.functions()?;
    // What CloudFormation would refuse, refused before anything starts.
    template.check_event_source_timeouts()?;
    for (name, value) in &opts.parameter_overrides {
        template
            .check_parameter(name, value)
            .context("--parameter-overrides")?;
    }
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

    // 1. AWS API emulator and Redis: reuse what listens, else start our own.
    // AWS_ENDPOINT_URL, when set, names the emulator (LocalStack elsewhere, say).
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .unwrap_or_else(|_| format!("http://127.0.0.1:{}", opts.emulator_port));
    let emulator_port = port_of(&endpoint).unwrap_or(opts.emulator_port);
    let emulator = if procs::port_open(emulator_port).await {
        Ownership::Reused
    } else {
        let moto = venv_bin.join("moto_server");
        if !moto.exists() {
            bail!(
                "{} is missing: run scripts/bootstrap.sh (or `make dev`)",
                moto.display()
            );
        }
        // Through a wrapper that serialises DynamoDB requests: moto alone lets concurrent
        // conditional transactions both pass (see infra/moto/serialized_moto.py).
        let script = crate::workspace_root().join("infra/moto/serialized_moto.py");
        let port = emulator_port.to_string();
        let args: [std::ffi::OsString; 5] = [
            script.into(),
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.into(),
        ];
        let recipe = Recipe::new(venv_bin.join("python"), args).log_to(&logs.join("emulator.log"));
        sup.start(EMULATOR, recipe)?;
        procs::wait_for_port(EMULATOR, emulator_port, EMULATOR_START).await?;
        Ownership::Started
    };
    let redis = if procs::port_open(opts.redis_port).await {
        Ownership::Reused
    } else {
        let port = opts.redis_port.to_string();
        let recipe = Recipe::new(
            "redis-server",
            [
                "--bind",
                "127.0.0.1",
                "--port",
                &port,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        .log_to(&logs.join("redis.log"));
        sup.start(REDIS, recipe)
            .context("redis-server not found: run scripts/bootstrap.sh, or install it (apt-get install redis-server / brew install redis)")?;
        procs::wait_for_port(REDIS, opts.redis_port, REDIS_START).await?;
        Ownership::Started
    };
    let state_of = |o: Ownership| match o {
        Ownership::Started => DependencyState::Running,
        Ownership::Reused => DependencyState::Reused,
    };
    let (status, status_rx) = watch::channel(Status {
        redis: state_of(redis),
        emulator: state_of(emulator),
    });

    // 2. Tables, queues, caches, Cloud Map (the instances' URLs are the local provider's) and
    // secrets (the provider's API key).
    let sdk = emulator_sdk(&endpoint).await;
    let api_key = sam_template::provision::secrets::generate_value();
    let provision_options = ProvisionOptions {
        prefix: stack.to_owned(),
        visibility_timeout_override: opts.visibility_timeout,
        parameters: opts.parameter_overrides.iter().cloned().collect(),
        instance_urls: instance_plans
            .iter()
            .zip(&payment_ports)
            .map(|(plan, port)| (plan.logical_id.clone(), format!("http://127.0.0.1:{port}")))
            .collect(),
        secret_value: Some(api_key.clone()),
    };
    let provisioned = provision::provision_with(template, &sdk, &provision_options).await?;
    // Each function's execution role, as `sam deploy` would create it (see crate::iam).
    let iam = Arc::new(
        Iam::load(
            &venv_bin,
            template_path,
            stack,
            &provisioned.resolver,
            provisioned
                .secrets
                .values()
                .map(|s| s.arn.clone())
                .collect(),
            crate::iam::enforcement_from_env(),
        )
        .context("loading the functions' IAM policies")?,
    );
    if iam.enforced() {
        tracing::info!(
            roles = iam.roles().len(),
            "IAM enforced: each function's AWS calls are checked against its own role (DEVSTACK_IAM=off turns it off)"
        );
    } else {
        tracing::warn!("IAM not enforced (DEVSTACK_IAM=off): every function may call anything");
    }

    // 3. The fault proxy in front of the emulator, the payment provider's instances, and the
    // control API.
    let (stop_tx, stop_rx) = watch::channel(false);
    let faults = Arc::new(Faults::default());
    let provider = Arc::new(Provider::new(api_key, Arc::clone(&faults)));
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
        payment_target(&provisioned, &sdk),
    ));
    let proxy_url = format!("http://127.0.0.1:{}", opts.proxy_port);
    let proxy = Proxy::new(&endpoint, Arc::clone(&faults))?.with_iam(Arc::clone(&iam));
    let proxy_task = tokio::spawn(proxy.serve(proxy_listener, stop_rx.clone()));
    let (commands_tx, mut commands) = mpsc::channel::<ControlCommand>(8);
    let control_url = format!("http://127.0.0.1:{}", opts.control_port);
    let console = Console::new().with_functions(functions.iter().map(|f| f.binary.clone()));
    let app = control::router(control::Control {
        faults: Arc::clone(&faults),
        commands: commands_tx,
        status: status_rx,
        payments: Arc::clone(&payments),
        iam: Arc::clone(&iam),
    })
    .merge(console::api::router(console::api::ConsoleApi {
        console: console.clone(),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
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

    // 4. Functions under `cargo lambda watch`, with the template's environment; their AWS
    // calls go through the fault proxy.
    let env_file = state.join(format!("functions-{stack}.env"));
    let env = stack::function_environment(&functions, &provisioned, &proxy_url, opts.redis_port)?;
    std::fs::write(
        &env_file,
        env.iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect::<String>(),
    )?;
    // Each function's own execution environment (crate::sandbox): its Timeout, MemorySize and
    // credentials; cargo runs every function binary through `devstack sandbox`.
    let sandbox_dir = state.join(format!("sandbox-{stack}"));
    let _ = std::fs::remove_dir_all(&sandbox_dir);
    let own_names = |f: &Function| {
        let mut names: std::collections::BTreeSet<String> = f.environment.keys().cloned().collect();
        if f.log_format.is_some() {
            names.insert("AWS_LAMBDA_LOG_FORMAT".into());
        }
        if f.application_log_level.is_some() {
            names.insert("AWS_LAMBDA_LOG_LEVEL".into());
        }
        names
    };
    let every_name: std::collections::BTreeSet<String> =
        functions.iter().flat_map(own_names).collect();
    for f in &functions {
        let own = own_names(f);
        let env = iam
            .role(&f.logical_id)
            .map(|r| r.credentials.env().into_iter().collect())
            .unwrap_or_default();
        sandbox::Spec {
            function: f.logical_id.clone(),
            timeout_ms: f.timeout_secs.saturating_mul(1000),
            memory_mb: f.memory_size_mb,
            env,
            unset: every_name.difference(&own).cloned().collect(),
        }
        .write(&sandbox_dir, &f.binary)?;
    }
    let cargo_lambda = venv_bin.join("cargo-lambda");
    if !cargo_lambda.exists() {
        bail!(
            "{} is missing: run scripts/bootstrap.sh (or `make dev`)",
            cargo_lambda.display()
        );
    }
    tracing::info!("building the functions (first time: a few minutes)");
    // `--bin <function>` without `-p`, as `cargo lambda watch` runs them (`cargo run --bin`):
    // features resolved over the workspace's default members, so its first invocation of each
    // function finds the binary built (see the root Cargo.toml's `default-members`).
    let mut build = Command::new("cargo");
    build.current_dir(root).arg("build");
    if opts.release {
        build.arg("--release");
    }
    for f in &functions {
        build.args(["--bin", &f.binary]);
    }
    let built = build.status().await.context("running cargo build")?;
    if !built.success() {
        bail!("cargo build of the functions failed");
    }
    let path = std::env::join_paths(std::iter::once(venv_bin.clone()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let mut watch_cmd = Command::new("cargo");
    watch_cmd
        .current_dir(root)
        .env("PATH", path)
        .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &opts.lambda_port.to_string()])
        .args(["--concurrency", &opts.concurrency.to_string()])
        .arg("--env-file")
        .arg(&env_file);
    let sandbox_off = matches!(
        std::env::var("DEVSTACK_SANDBOX")
            .ok()
            .map(|v| v.to_ascii_lowercase())
            .as_deref(),
        Some("off" | "0" | "false")
    );
    match sandbox::host_runner_variable() {
        _ if sandbox_off => tracing::warn!(
            "DEVSTACK_SANDBOX=off: functions run as cargo-lambda runs them (one shared environment and credentials, no Timeout or MemorySize; IAM then checks nothing)"
        ),
        Some(runner) => {
            let exe = std::env::current_exe().context("locating the devstack binary")?;
            watch_cmd
                .env(runner, format!("{} sandbox", exe.display()))
                .env(sandbox::SANDBOX_DIR_ENV, &sandbox_dir);
        }
        None => tracing::warn!(
            "no cargo runner variable for this host: Timeout, MemorySize and per-function credentials are not applied"
        ),
    }
    if opts.no_reload {
        watch_cmd.arg("--ignore-changes");
    }
    if opts.release {
        watch_cmd.arg("--release");
    }
    // Its stdout is echoed line by line; the functions' EMF lines feed the console.
    let emf = console.clone();
    sup.spawn_lines(FUNCTIONS, watch_cmd, move |line| {
        emf.record_line(line);
    })?;
    procs::wait_for_port(FUNCTIONS, opts.lambda_port, Duration::from_secs(120)).await?;
    let invoker = Invoker::new(&format!("http://127.0.0.1:{}", opts.lambda_port))
        .with_console(console.clone());

    // 5. API Gateway emulation (routes, throttling, JWT authorizers trusting the local
    // identity provider) and event source mappings.
    let api = template.http_api()?;
    let routes = Routes::from_template(&functions, api.as_ref())?;
    let scheme = if opts.tls { "https" } else { "http" };
    let gateway_url = format!("{scheme}://127.0.0.1:{}", opts.gateway_port);
    let edge = edge::build(template, api.as_ref(), &routes, &state, &gateway_url)?;
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
        Some(edge::tls_certificate(&state)?)
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
    let mappings = stack::mappings(&functions, &provisioned, opts.concurrency)?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let esm_tasks: Vec<_> = mappings
        .iter()
        .cloned()
        .map(|m| tokio::spawn(esm::run(m, sqs.clone(), invoker.clone(), stop_rx.clone())))
        .collect();
    let checkpoints = state.join("checkpoints");
    let stream_tasks = StreamTasks::start(
        stack::stream_mappings(&functions, &provisioned, &checkpoints)?,
        &sdk,
        &invoker,
        &faults,
    );

    // 6. Ready.
    let owned = |o: Ownership, what: &str| match o {
        Ownership::Started => format!("{what} (started)"),
        Ownership::Reused => "reused".to_owned(),
    };
    println!("\ndevstack is up (stack {stack})");
    println!("  API Gateway (HTTP API v2.0)  {gateway_url}");
    if let Some((path, _, _)) = &certificate {
        println!("  TLS certificate (self-signed) {}", path.display());
    }
    println!("  identity provider (issuer)   {gateway_url}  client id {client_id}");
    println!(
        "    token: cargo run -p devstack -- --stack-name {stack} token --sub <user id> --groups customer"
    );
    println!(
        "  Lambda Invoke API            http://127.0.0.1:{}",
        opts.lambda_port
    );
    println!(
        "  AWS API emulator             {endpoint}  [{}]",
        owned(emulator, EMULATOR)
    );
    println!("  fault proxy (functions' AWS_ENDPOINT_URL) {proxy_url} -> {endpoint}");
    for i in &payments.instances {
        println!(
            "  payment provider {:<12} {}  (devstack payments ledger|log|instances|health)",
            i.instance, i.url
        );
    }
    println!(
        "  control API                  {control_url}  (devstack fault add|list|clear, restart, requests)"
    );
    println!("  console: {control_url}/console");
    println!(
        "  Redis                        redis://127.0.0.1:{}  [{}]",
        opts.redis_port,
        owned(redis, REDIS)
    );
    println!(
        "  tables: {}",
        provisioned
            .tables
            .values()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  queues: {}",
        provisioned
            .queues
            .values()
            .map(|q| q.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("routes and event source mappings:");
    print_routes(&functions, api.as_ref())?;
    println!("Ctrl-C stops what devstack started.\n");
    let ready = serde_json::json!({
        "gateway": gateway_url,
        "issuer": gateway_url,
        "client_id": client_id,
        "tls_certificate": certificate.as_ref().map(|(path, _, _)| path.display().to_string()),
        "lambda": format!("http://127.0.0.1:{}", opts.lambda_port),
        "endpoint": endpoint,
        "proxy": proxy_url,
        "control": control_url,
        "console": format!("{control_url}/console"),
        "redis_port": opts.redis_port,
        "stack_name": stack,
        "payments": payments.instances,
    });
    let mut running = Running {
        stack,
        template,
        opts,
        sup,
        redis,
        emulator,
        endpoint,
        emulator_port,
        sdk,
        functions,
        provisioned,
        invoker,
        checkpoints,
        streams: stream_tasks,
        status,
        ready_file,
        ready,
        provision_options,
        payments,
        faults,
    };
    running.write_ready_file()?;

    // 7. Until Ctrl-C, SIGTERM or `cargo lambda watch` exits; orders from the control API.
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let reason = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break "interrupted".to_owned(),
            _ = sigterm.recv() => break "terminated".to_owned(),
            Some(cmd) = commands.recv() => {
                let answer = running.obey(cmd.order).await;
                match &answer {
                    Ok(m) => tracing::info!("devstack: {m}"),
                    Err(e) => tracing::warn!("devstack: refused: {e}"),
                }
                let _ = cmd.reply.send(answer);
            }
            _ = tick.tick() => if let Some(reason) = running.reap() {
                break reason;
            },
        }
    };
    // Not println!: after Ctrl-C, a pipe on stdout (`make dev | tee`) may be gone.
    tracing::info!("devstack: stopping ({reason})");
    let _ = stop_tx.send(true);
    running.streams.stop().await;
    for t in esm_tasks {
        let _ = t.await;
    }
    let _ = gateway_task.await;
    let _ = control_task.await;
    let _ = proxy_task.await;
    for t in payment_tasks {
        let _ = t.await;
    }
    Ok(())
}

impl Running<'_> {
    fn write_ready_file(&mut self) -> Result<()> {
        self.ready["tables"] = serde_json::json!(self.provisioned.tables);
        self.ready["streams"] = serde_json::json!(self.provisioned.streams);
        self.ready["queues"] = serde_json::json!(
            self.provisioned
                .queues
                .iter()
                .map(|(k, q)| (
                    k.clone(),
                    serde_json::json!({"name": q.name, "url": q.url, "arn": q.arn})
                ))
                .collect::<BTreeMap<_, _>>()
        );
        std::fs::write(&self.ready_file, serde_json::to_vec_pretty(&self.ready)?)?;
        Ok(())
    }

    /// Reports every child that exited; the reason to stop, if one must.
    fn reap(&mut self) -> Option<String> {
        while let Some(exit) = self.sup.reap() {
            match after_exit(&exit, self.stack) {
                AfterExit::Stop(reason) => return Some(reason),
                AfterExit::KeepRunning(message) => {
                    tracing::error!("devstack: {message}");
                    let state = DependencyState::Exited {
                        status: exit.status,
                    };
                    self.status.send_modify(|s| match exit.name.as_str() {
                        EMULATOR => s.emulator = state,
                        _ => s.redis = state,
                    });
                }
            }
        }
        None
    }

    fn reused(&self, dependency: Dependency) -> Result<(), String> {
        let (ownership, what) = match dependency {
            Dependency::Redis => (
                self.redis,
                format!("Redis on 127.0.0.1:{}", self.opts.redis_port),
            ),
            Dependency::Emulator => (self.emulator, format!("the emulator at {}", self.endpoint)),
        };
        if ownership == Ownership::Reused {
            return Err(format!(
                "{what} was already running when devstack started (reused), so devstack did not start it and cannot stop or start it: stop it yourself, or let `devstack up` start its own"
            ));
        }
        Ok(())
    }

    async fn obey(&mut self, order: Order) -> Result<String, String> {
        let cli = format!("cargo run -p devstack -- --stack-name {}", self.stack);
        match order {
            Order::RedisDown => {
                self.reused(Dependency::Redis)?;
                if !self.sup.is_running(REDIS) {
                    return Err(format!(
                        "Redis is already down: `{cli} fault redis up` starts it"
                    ));
                }
                self.sup.stop(REDIS).await;
                self.status.send_modify(|s| s.redis = DependencyState::Down);
                Ok(format!(
                    "{REDIS} on 127.0.0.1:{} stopped; `{cli} fault redis up` (or `fault clear`) starts it again",
                    self.opts.redis_port
                ))
            }
            Order::RedisUp => {
                self.reused(Dependency::Redis)?;
                if self.sup.is_running(REDIS) {
                    return Err("Redis is already up".to_owned());
                }
                self.start_redis().await
            }
            Order::Restart(Dependency::Redis) => {
                self.reused(Dependency::Redis)?;
                self.sup.stop(REDIS).await;
                self.start_redis().await
            }
            Order::Restart(Dependency::Emulator) => {
                self.reused(Dependency::Emulator)?;
                self.restart_emulator().await.map_err(|e| format!("{e:#}"))
            }
        }
    }

    async fn start_redis(&mut self) -> Result<String, String> {
        self.status
            .send_modify(|s| s.redis = DependencyState::Restarting);
        let started = async {
            self.sup.restart(REDIS)?;
            procs::wait_for_port(REDIS, self.opts.redis_port, REDIS_START).await
        }
        .await;
        match started {
            Ok(()) => {
                self.status
                    .send_modify(|s| s.redis = DependencyState::Running);
                Ok(format!(
                    "{REDIS} started on 127.0.0.1:{}",
                    self.opts.redis_port
                ))
            }
            Err(e) => {
                let status = format!("did not start: {e:#}");
                self.status.send_modify(|s| {
                    s.redis = DependencyState::Exited {
                        status: status.clone(),
                    }
                });
                Err(format!("{REDIS} {status} (see .devstack/logs/redis.log)"))
            }
        }
    }

    async fn restart_emulator(&mut self) -> Result<String> {
        self.status
            .send_modify(|s| s.emulator = DependencyState::Restarting);
        let restarted = async {
            self.sup.stop(EMULATOR).await;
            // The stream mappings read the old stream ARNs: stop them before they change.
            let old = std::mem::replace(
                &mut self.streams,
                StreamTasks {
                    stop: watch::channel(false).0,
                    tasks: Vec::new(),
                },
            );
            old.stop().await;
            self.sup.restart(EMULATOR)?;
            procs::wait_for_port(EMULATOR, self.emulator_port, EMULATOR_START)
                .await
                .context("see .devstack/logs/emulator.log")?;
            self.provisioned =
                provision::provision_with(self.template, &self.sdk, &self.provision_options)
                    .await?;
            self.payments
                .set_target(payment_target(&self.provisioned, &self.sdk));
            let mappings =
                stack::stream_mappings(&self.functions, &self.provisioned, &self.checkpoints)?;
            let n = mappings.len();
            self.streams = StreamTasks::start(mappings, &self.sdk, &self.invoker, &self.faults);
            self.write_ready_file()?;
            anyhow::Ok(n)
        }
        .await;
        match restarted {
            Ok(streams) => {
                self.status
                    .send_modify(|s| s.emulator = DependencyState::Running);
                Ok(format!(
                    "the emulator restarted at {}: {} tables and {} queues re-created (empty: moto keeps data in memory); {streams} stream mapping(s) follow the new stream ARNs",
                    self.endpoint,
                    self.provisioned.tables.len(),
                    self.provisioned.queues.len()
                ))
            }
            Err(e) => {
                let status = format!("did not restart: {e:#}");
                self.status.send_modify(|s| {
                    s.emulator = DependencyState::Exited {
                        status: status.clone(),
                    }
                });
                Err(e)
            }
        }
    }
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

/// The Cloud Map service of the first registered instance, for `devstack payments health` and
/// `instances`.
fn payment_target(
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

/// SDK config pointing at the emulator itself (devstack's own clients bypass the fault proxy).
async fn emulator_sdk(endpoint: &str) -> aws_config::SdkConfig {
    let base = crate::aws::sdk_config().await;
    base.into_builder().endpoint_url(endpoint).build()
}

fn port_of(url: &str) -> Option<u16> {
    url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

/// Prints the routes (with authorizer and throttling) and the event source mappings.
///
/// # Errors
/// The template's routes cannot be read.
pub fn print_routes(functions: &[Function], api: Option<&HttpApi>) -> Result<()> {
    for r in Routes::from_template(functions, api)?.all() {
        let auth = r.authorizer.as_deref().map_or_else(
            || "public".to_owned(),
            |a| {
                if r.scopes.is_empty() {
                    format!("JWT {a}")
                } else {
                    format!("JWT {a}, scopes {}", r.scopes.join(" "))
                }
            },
        );
        let throttle = api.map(|a| a.throttle(&r.route_key)).unwrap_or_default();
        let throttle = match (throttle.rate_per_sec, throttle.burst) {
            (None, None) => String::new(),
            (rate, burst) => format!(
                ", {}/s burst {}",
                rate.map_or_else(|| "-".to_owned(), |r| r.to_string()),
                burst.map_or_else(|| "-".to_owned(), |b| b.to_string())
            ),
        };
        println!(
            "  {:<28} -> {} ({}) [{auth}{throttle}]",
            r.route_key, r.function_id, r.function
        );
    }
    for f in functions {
        for e in &f.sqs_events {
            println!(
                "  SQS {:<24} -> {} ({}), batch {}{}",
                e.name,
                f.logical_id,
                f.binary,
                e.batch_size,
                if e.report_batch_item_failures {
                    ", ReportBatchItemFailures"
                } else {
                    ""
                }
            );
        }
        for e in &f.dynamodb_events {
            println!(
                "  DynamoDB {:<19} -> {} ({}), batch {}{}{}",
                e.name,
                f.logical_id,
                f.binary,
                e.batch_size,
                if e.report_batch_item_failures {
                    ", ReportBatchItemFailures"
                } else {
                    ""
                },
                if e.enabled { "" } else { ", disabled" }
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(name: &str) -> Exit {
        Exit {
            name: name.into(),
            status: "signal: 9 (SIGKILL)".into(),
        }
    }

    #[test]
    fn the_emulator_exiting_keeps_devstack_up_and_says_how_to_restart_it() {
        let AfterExit::KeepRunning(message) = after_exit(&exit(EMULATOR), "ft") else {
            panic!("devstack would stop");
        };
        assert!(
            message.contains("--stack-name ft restart emulator"),
            "{message}"
        );
        assert!(message.contains("stay up"), "{message}");
        assert!(message.contains("SIGKILL"), "{message}");
    }

    #[test]
    fn redis_exiting_keeps_devstack_up_and_says_how_to_restart_it() {
        let AfterExit::KeepRunning(message) = after_exit(&exit(REDIS), "shop") else {
            panic!("devstack would stop");
        };
        assert!(message.contains("restart redis"), "{message}");
    }

    #[test]
    fn the_functions_exiting_stops_devstack() {
        assert_eq!(
            after_exit(&exit(FUNCTIONS), "shop"),
            AfterExit::Stop("cargo lambda watch exited (signal: 9 (SIGKILL))".into())
        );
    }

    #[test]
    fn a_template_outside_the_project_runs_in_the_workspace() {
        let copy = std::env::temp_dir().join(format!("devstack-root-{}.yaml", std::process::id()));
        std::fs::write(&copy, "Resources: {}\n").unwrap();
        let root = project_root(&copy);
        let _ = std::fs::remove_file(&copy);
        assert_eq!(root.unwrap(), crate::workspace_root());
        let own = crate::workspace_root().join("template.yaml");
        assert_eq!(
            project_root(&own).unwrap(),
            crate::workspace_root().canonicalize().unwrap()
        );
    }

    #[test]
    fn the_port_of_an_endpoint_is_read_from_its_url() {
        assert_eq!(port_of("http://127.0.0.1:4566"), Some(4566));
        assert_eq!(port_of("http://127.0.0.1:4566/"), Some(4566));
        assert_eq!(port_of("http://localhost"), None);
    }
}
