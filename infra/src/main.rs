//! `devstack` CLI: `up` runs the local cloud from `template.yaml`; `token` prints a signed token
//! from its identity provider; `send` injects a message into a queue; `dlq list|redrive` shows
//! or moves back dead messages; `routes` prints what the template declares; `localstack-init`
//! prints the LocalStack init script.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use devstack::edge;
use devstack::gateway::{self, Gateway, Routes};
use devstack::idp::TokenRequest;
use devstack::invoke::Invoker;
use devstack::procs::{self, Supervisor};
use devstack::provision::{self, ProvisionOptions, find_queue, queue_plans};
use devstack::stack;
use devstack::template::{Function, HttpApi, Template};
use devstack::{dlq, esm, streams};
use tokio::process::Command;
use tokio::sync::watch;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Local cloud for this project, driven by template.yaml"
)]
struct Cli {
    /// The SAM template (its folder is the project root).
    #[arg(
        long,
        global = true,
        default_value = "template.yaml",
        env = "DEVSTACK_TEMPLATE"
    )]
    template: PathBuf,
    /// Stack name: physical names are `<stack-name>-<LogicalId>`.
    #[arg(
        long,
        global = true,
        default_value = "shop",
        env = "DEVSTACK_STACK_NAME"
    )]
    stack_name: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start (or reuse) the emulator and Redis, provision, run the functions, serve the gateway
    /// and the SQS and DynamoDB stream event source mappings. Ctrl-C stops what it started.
    Up(UpArgs),
    /// Print a signed RS256 access token from the running stack's identity provider, shaped
    /// like an Amazon Cognito user pool token (`sub`, `cognito:groups`, `client_id`, `scope`).
    ///
    /// Use it as `curl -H "Authorization: Bearer $(devstack token --sub <user id> --groups customer)"`.
    Token {
        /// The subject (`sub`): a user's id for a customer; any name for an admin.
        #[arg(long)]
        sub: String,
        /// Groups (`cognito:groups`): `admin`, `customer`, or both (`admin,customer`).
        #[arg(long, value_delimiter = ',', default_value = "customer")]
        groups: Vec<String>,
        /// Lifetime, e.g. `15m`, `1h`, `7d`.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// OAuth scopes (`scope`), comma-separated.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
    },
    /// Send a message to a queue of the template, by logical id (e.g. OrdersQueue).
    Send {
        /// Queue logical id.
        queue: String,
        /// Message body (JSON).
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        body: Option<String>,
        /// File whose contents are the message body (JSON).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Dead-letter queues: list their messages or move them back to their source queue.
    #[command(subcommand)]
    Dlq(DlqCmd),
    /// Load sample users, products and orders into the running stack (fixed ids: running it
    /// again changes nothing). The README's walkthrough uses them.
    Seed,
    /// Print the routes and event source mappings the template declares.
    Routes,
    /// Print the LocalStack init script generated from the template.
    LocalstackInit,
}

#[derive(Debug, Subcommand)]
enum DlqCmd {
    /// Print each dead message: id, receive count, sent time and body.
    ///
    /// The body is printed as pretty JSON when it is JSON. Listing receives every message once:
    /// it counts as a receive (ApproximateReceiveCount goes up by one) and hides the messages
    /// for a moment (at most 30 s; they are made visible again as soon as the listing is done).
    /// Message attributes (e.g. the outbox relay's `reason`) are printed under the header.
    List {
        /// The dead-letter queue's logical id (e.g. OrdersDeadLetterQueue, or
        /// OutboxDeadLetterQueue, which the outbox relay writes to) or its source queue's (e.g.
        /// OrdersQueue, through its RedrivePolicy).
        queue: String,
        /// List at most this many messages.
        #[arg(long)]
        max: Option<usize>,
    },
    /// Move dead messages back to the queue they came from and print how many moved.
    ///
    /// Each batch of up to 10 is sent to the source queue, then deleted from the DLQ (a
    /// message that could not be sent stays). The source is the queue whose RedrivePolicy
    /// names the DLQ. A DLQ that only a function writes to (OutboxDeadLetterQueue) has no
    /// source queue and is refused, saying why.
    Redrive {
        /// The dead-letter queue's logical id (e.g. OrdersDeadLetterQueue) or its source
        /// queue's (e.g. OrdersQueue).
        queue: String,
        /// Move at most this many messages (default: all).
        #[arg(long)]
        max: Option<usize>,
    },
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// API Gateway emulation port.
    #[arg(long, default_value_t = 3000)]
    gateway_port: u16,
    /// Lambda Invoke API port of `cargo lambda watch`.
    #[arg(long, default_value_t = 9000)]
    lambda_port: u16,
    /// AWS API emulator port (moto server is started here unless something already listens).
    #[arg(long, default_value_t = 4566)]
    emulator_port: u16,
    /// Redis port (redis-server is started here unless something already listens).
    #[arg(long, default_value_t = 6379)]
    redis_port: u16,
    /// Override every queue's VisibilityTimeout (seconds), e.g. to see DLQ redrive quickly.
    #[arg(long)]
    visibility_timeout: Option<u32>,
    /// Do not reload functions on code changes.
    #[arg(long)]
    no_reload: bool,
    /// Serve the gateway over HTTPS with a self-signed certificate for localhost and
    /// 127.0.0.1 (created once in .devstack/tls/cert.pem: trust it with `curl --cacert`).
    #[arg(long)]
    tls: bool,
    /// Concurrent instances per function (`cargo lambda watch --concurrency`), and most
    /// batches of one queue in flight at once (capped by the event's
    /// ScalingConfig.MaximumConcurrency).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// Template parameter values, as `sam deploy --parameter-overrides` takes them:
    /// `Name=Value` pairs, e.g. `LogLevel=DEBUG` (the functions' AWS_LAMBDA_LOG_LEVEL).
    #[arg(long, num_args = 1.., value_parser = parameter_override)]
    parameter_overrides: Vec<(String, String)>,
}

/// `Name=Value` of `--parameter-overrides`.
fn parameter_override(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s}: expected Name=Value"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DEVSTACK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devstack: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let template = Template::load(&cli.template)?;
    match cli.command {
        Cmd::Up(args) => up(&cli.template, &cli.stack_name, &template, args).await,
        Cmd::Send { queue, body, file } => {
            let body = match (body, file) {
                (Some(b), _) => b,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?,
                (None, None) => bail!("give --body or --file"),
            };
            serde_json::from_str::<serde_json::Value>(&body).context("the body is not JSON")?;
            send(&template, &cli.stack_name, &queue, &body).await
        }
        Cmd::Dlq(cmd) => dead_letters(&template, &cli.stack_name, cmd).await,
        Cmd::Token {
            sub,
            groups,
            ttl,
            scopes,
        } => {
            let request = TokenRequest {
                subject: sub,
                groups,
                ttl,
                scopes,
            };
            let token = edge::token(
                &project_root(&cli.template)?.join(".devstack"),
                &cli.stack_name,
                &request,
            )?;
            println!("{token}");
            Ok(())
        }
        Cmd::Seed => {
            let sdk = devstack::aws::sdk_config().await;
            let report = devstack::seed::seed(&template, &sdk, &cli.stack_name).await?;
            for line in report.lines {
                println!("{line}");
            }
            Ok(())
        }
        Cmd::Routes => print_routes(&template.functions()?, template.http_api()?.as_ref()),
        Cmd::LocalstackInit => {
            print!("{}", devstack::localstack::init_script(&template)?);
            Ok(())
        }
    }
}

async fn send(template: &Template, stack: &str, queue: &str, body: &str) -> Result<()> {
    let plans = queue_plans(template, stack, None)?;
    let plan = find_queue(&plans, queue)?;
    let sqs = aws_sdk_sqs::Client::new(&devstack::aws::sdk_config().await);
    let url = sqs
        .get_queue_url()
        .queue_name(&plan.name)
        .send()
        .await
        .map_err(aws_sdk_sqs::Error::from)
        .with_context(|| format!("queue {} not found: is `make dev` running?", plan.name))?
        .queue_url
        .ok_or_else(|| anyhow!("no queue URL"))?;
    let out = sqs
        .send_message()
        .queue_url(&url)
        .message_body(body)
        .send()
        .await
        .map_err(aws_sdk_sqs::Error::from)?;
    println!("{}", out.message_id.unwrap_or_default());
    Ok(())
}

async fn dead_letters(template: &Template, stack: &str, cmd: DlqCmd) -> Result<()> {
    let sqs = aws_sdk_sqs::Client::new(&devstack::aws::sdk_config().await);
    match cmd {
        DlqCmd::List { queue, max } => {
            let q = dlq::resolve(template, stack, &queue, &sqs).await?;
            let messages = dlq::list(&sqs, &q.dlq, max).await?;
            for m in &messages {
                println!("{}", dlq::render(m));
            }
            println!("{} message(s) in {}", messages.len(), q.dlq.name);
        }
        DlqCmd::Redrive { queue, max } => {
            let q = dlq::resolve(template, stack, &queue, &sqs).await?;
            let moved = dlq::redrive(&sqs, &q, max).await?;
            let total: usize = moved.values().sum();
            let to: Vec<String> = moved.iter().map(|(id, n)| format!("{n} to {id}")).collect();
            println!(
                "moved {total} message(s) from {}{}",
                q.dlq.logical_id,
                if to.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", to.join(", "))
                }
            );
        }
    }
    Ok(())
}

fn print_routes(functions: &[Function], api: Option<&HttpApi>) -> Result<()> {
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

/// The folder of the template: the project root, where `.devstack/` lives.
fn project_root(template_path: &Path) -> Result<PathBuf> {
    Ok(template_path
        .canonicalize()
        .with_context(|| format!("{} not found", template_path.display()))?
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf))
}

async fn up(template_path: &Path, stack: &str, template: &Template, args: UpArgs) -> Result<()> {
    let root = project_root(template_path)?;
    let state = root.join(".devstack");
    let logs = state.join("logs");
    std::fs::create_dir_all(&logs)?;
    let ready_file = state.join(format!("ready-{stack}.json"));
    let _ = std::fs::remove_file(&ready_file);
    let venv_bin = root.join(".venv/bin");
    let functions = template.functions()?;
    for (name, value) in &args.parameter_overrides {
        template
            .check_parameter(name, value)
            .context("--parameter-overrides")?;
    }
    let mut sup = Supervisor::default();

    let result = async {
        // Ports only devstack's own processes may hold: refuse before starting or building
        // anything, so a second `devstack up` fails at once and leaves the first one alone.
        for (port, flag) in [(args.lambda_port, "--lambda-port"), (args.gateway_port, "--gateway-port")] {
            if procs::port_open(port).await {
                bail!("127.0.0.1:{port} is in use (another devstack?): stop it or pass {flag}");
            }
        }
        // 1. AWS API emulator and Redis: reuse what listens, else start our own.
        // AWS_ENDPOINT_URL, when set, names the emulator (LocalStack elsewhere, say).
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .unwrap_or_else(|_| format!("http://127.0.0.1:{}", args.emulator_port));
        let emulator_port = port_of(&endpoint).unwrap_or(args.emulator_port);
        let emulator = if procs::port_open(emulator_port).await {
            "reused".to_owned()
        } else {
            let moto = venv_bin.join("moto_server");
            if !moto.exists() {
                bail!("{} is missing: run scripts/bootstrap.sh (or `make dev`)", moto.display());
            }
            // Through a wrapper that serialises DynamoDB requests: moto alone lets concurrent
            // conditional transactions both pass (see infra/moto/serialized_moto.py).
            let mut cmd = Command::new(venv_bin.join("python"));
            cmd.arg(devstack::workspace_root().join("infra/moto/serialized_moto.py"))
                .args(["-H", "127.0.0.1", "-p", &emulator_port.to_string()]);
            sup.spawn("moto server", cmd, Some(&logs.join("emulator.log")))?;
            procs::wait_for_port("moto server", emulator_port, Duration::from_secs(60)).await?;
            "moto server (started)".to_owned()
        };
        let redis = if procs::port_open(args.redis_port).await {
            "reused".to_owned()
        } else {
            let mut cmd = Command::new("redis-server");
            cmd.args(["--bind", "127.0.0.1", "--port", &args.redis_port.to_string()])
                .args(["--save", "", "--appendonly", "no"]);
            sup.spawn("redis-server", cmd, Some(&logs.join("redis.log")))
                .context("redis-server not found: run scripts/bootstrap.sh, or install it (apt-get install redis-server / brew install redis)")?;
            procs::wait_for_port("redis-server", args.redis_port, Duration::from_secs(20)).await?;
            "redis-server (started)".to_owned()
        };

        // 2. Tables and queues.
        let sdk = devstack_sdk(&endpoint).await;
        let options = ProvisionOptions {
            prefix: stack.to_owned(),
            visibility_timeout_override: args.visibility_timeout,
        };
        let mut provisioned = provision::provision_with(template, &sdk, &options).await?;
        // The function environment (e.g. LogLevel -> AWS_LAMBDA_LOG_LEVEL) uses the overrides.
        for (name, value) in &args.parameter_overrides {
            provisioned.resolver.parameters.insert(name.clone(), value.clone());
        }

        // 3. Functions under `cargo lambda watch`, with the template's environment.
        let env_file = state.join(format!("functions-{stack}.env"));
        let env = stack::function_environment(&functions, &provisioned, &endpoint, args.redis_port)?;
        std::fs::write(&env_file, env.iter().map(|(k, v)| format!("{k}={v}\n")).collect::<String>())?;
        let cargo_lambda = venv_bin.join("cargo-lambda");
        if !cargo_lambda.exists() {
            bail!("{} is missing: run scripts/bootstrap.sh (or `make dev`)", cargo_lambda.display());
        }
        tracing::info!("building the functions (first time: a few minutes)");
        let mut build = Command::new("cargo");
        build.current_dir(&root).args(["build", "--bins"]);
        for f in &functions {
            build.args(["-p", &f.binary]);
        }
        let status = build.status().await.context("running cargo build")?;
        if !status.success() {
            bail!("cargo build of the functions failed");
        }
        let path = std::env::join_paths(
            std::iter::once(venv_bin.clone()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )?;
        let mut watch_cmd = Command::new("cargo");
        watch_cmd
            .current_dir(&root)
            .env("PATH", path)
            .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &args.lambda_port.to_string()])
            .args(["--concurrency", &args.concurrency.to_string()])
            .arg("--env-file")
            .arg(&env_file);
        if args.no_reload {
            watch_cmd.arg("--ignore-changes");
        }
        sup.spawn("cargo lambda watch", watch_cmd, None)?;
        procs::wait_for_port("cargo lambda watch", args.lambda_port, Duration::from_secs(120)).await?;
        let invoker = Invoker::new(&format!("http://127.0.0.1:{}", args.lambda_port));

        // 4. API Gateway emulation (routes, throttling, JWT authorizers trusting the local
        // identity provider) and event source mappings.
        let (stop_tx, stop_rx) = watch::channel(false);
        let api = template.http_api()?;
        let routes = Routes::from_template(&functions, api.as_ref())?;
        let scheme = if args.tls { "https" } else { "http" };
        let gateway_url = format!("{scheme}://127.0.0.1:{}", args.gateway_port);
        let edge = edge::build(template, api.as_ref(), &routes, &state, &gateway_url)?;
        let client_id = edge.idp.audience().to_owned();
        let gw = Arc::new(Gateway {
            routes,
            invoker: invoker.clone(),
            authorizers: edge.authorizers,
            throttles: edge.throttles,
            documents: edge.documents,
        });
        let listener = std::net::TcpListener::bind(("127.0.0.1", args.gateway_port))
            .with_context(|| format!("binding the gateway on 127.0.0.1:{}", args.gateway_port))?;
        let mut gw_stop = stop_rx.clone();
        let gw_shutdown = async move {
            let _ = gw_stop.changed().await;
        };
        let certificate = if args.tls {
            let (path, cert, key) = edge::tls_certificate(&state)?;
            Some((path, cert, key))
        } else {
            None
        };
        let gateway_task = match &certificate {
            Some((_, cert, key)) => tokio::spawn(gateway::serve_tls(gw, listener, cert.clone(), key.clone(), gw_shutdown)),
            None => {
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                tokio::spawn(gateway::serve(gw, listener, gw_shutdown))
            }
        };
        let mappings = stack::mappings(&functions, &provisioned, args.concurrency)?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let mut esm_tasks: Vec<_> = mappings
            .iter()
            .cloned()
            .map(|m| tokio::spawn(esm::run(m, sqs.clone(), invoker.clone(), stop_rx.clone())))
            .collect();
        let stream_mappings = stack::stream_mappings(&functions, &provisioned, &state.join("checkpoints"))?;
        let dynamodb_streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
        esm_tasks.extend(stream_mappings.into_iter().map(|m| {
            tokio::spawn(streams::run(m, dynamodb_streams.clone(), invoker.clone(), stop_rx.clone()))
        }));

        // 5. Ready.
        println!("\ndevstack is up (stack {stack})");
        println!("  API Gateway (HTTP API v2.0)  {gateway_url}");
        if let Some((path, _, _)) = &certificate {
            println!("  TLS certificate (self-signed) {}", path.display());
        }
        println!("  identity provider (issuer)   {gateway_url}  client id {client_id}");
        println!("    token: cargo run -p devstack -- --stack-name {stack} token --sub <user id> --groups customer");
        println!("  Lambda Invoke API            http://127.0.0.1:{}", args.lambda_port);
        println!("  AWS API emulator             {endpoint}  [{emulator}]");
        println!("  Redis                        redis://127.0.0.1:{}  [{redis}]", args.redis_port);
        println!("  tables: {}", provisioned.tables.values().cloned().collect::<Vec<_>>().join(", "));
        println!("  queues: {}", provisioned.queues.values().map(|q| q.name.clone()).collect::<Vec<_>>().join(", "));
        println!("routes and event source mappings:");
        print_routes(&functions, api.as_ref())?;
        println!("Ctrl-C stops what devstack started.\n");
        let ready = serde_json::json!({
            "gateway": gateway_url,
            "issuer": gateway_url,
            "client_id": client_id,
            "tls_certificate": certificate.as_ref().map(|(path, _, _)| path.display().to_string()),
            "lambda": format!("http://127.0.0.1:{}", args.lambda_port),
            "endpoint": endpoint,
            "stack_name": stack,
            "tables": provisioned.tables,
            "streams": provisioned.streams,
            "queues": provisioned.queues.iter().map(|(k, q)| (k.clone(), serde_json::json!({"name": q.name, "url": q.url, "arn": q.arn}))).collect::<BTreeMap<_, _>>(),
        });
        std::fs::write(&ready_file, serde_json::to_vec_pretty(&ready)?)?;

        // 6. Until Ctrl-C, SIGTERM or a child dies.
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let reason = loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break "interrupted".to_owned(),
                _ = sigterm.recv() => break "terminated".to_owned(),
                _ = tick.tick() => if let Some((name, status)) = sup.exited() {
                    break format!("{name} exited ({status})");
                },
            }
        };
        // Not println!: after Ctrl-C, a pipe on stdout (`make dev | tee`) may be gone.
        tracing::info!("devstack: stopping ({reason})");
        let _ = stop_tx.send(true);
        for t in esm_tasks {
            let _ = t.await;
        }
        let _ = gateway_task.await;
        Ok(())
    }
    .await;
    let _ = std::fs::remove_file(&ready_file);
    sup.stop_all().await;
    result
}

/// SDK config pointing at `endpoint`.
async fn devstack_sdk(endpoint: &str) -> aws_config::SdkConfig {
    let base = devstack::aws::sdk_config().await;
    base.into_builder().endpoint_url(endpoint).build()
}

fn port_of(url: &str) -> Option<u16> {
    url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}
