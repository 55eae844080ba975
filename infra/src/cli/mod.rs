//! The `devstack` command line: its clap definitions (every command, flag and help text) and
//! the dispatch of each command to its module: [`up`](self::up) runs the local cloud;
//! `fault`, `restart` and `requests` ([`fault`](self::fault)) and `payments`
//! ([`payments`](self::payments)) drive a running one; `token` and `iam simulate`
//! ([`identity`]) ask who may call what; `seed`, `send` and `dlq` ([`data`]) put data in and
//! take dead messages out; `load` ([`load`](self::load)) runs a bounded load; `routes`,
//! `openapi` and `localstack-init` ([`print`]) print what the template declares. The
//! flags' value parsers are in [`parse`]; the binary (`src/main.rs`) only calls [`main`].

mod data;
mod fault;
mod identity;
mod load;
mod parse;
mod payments;
mod print;
mod up;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::control;
use crate::template::Template;
use crate::up::project_root;
use parse::{parameter_override, rate, status_and_code, throttle_scale};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Local cloud for this project, driven by template.yaml"
)]
struct Cli {
    /// The SAM template, as `sam local … -t` takes it; a copy outside the project (no
    /// `Cargo.toml` beside it) still runs this workspace's functions.
    #[arg(
        short = 't',
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
    /// Fault injection into the running stack: add latency to, hang, drop, throttle or fail
    /// the functions' DynamoDB or SQS calls (through the fault proxy in front of the emulator)
    /// or the local payment provider's requests (per instance, at a rate, or after the work),
    /// take Redis down and up, list and clear faults.
    #[command(subcommand)]
    Fault(FaultCmd),
    /// Start a dependency of the running stack again: `redis` (same port, empty), or
    /// `emulator` (tables and queues re-created empty, since moto keeps data in memory; the
    /// stream mappings move to the new stream ARNs; queue URLs do not change).
    ///
    /// Refused when devstack did not start it (it was already listening: reused).
    Restart {
        /// What to restart.
        dependency: DependencyArg,
    },
    /// Count the requests the fault proxy received from the functions (of its last 10 000),
    /// e.g. `devstack requests --match SKU-1 --operation GetItem` to see whether a read reached
    /// DynamoDB.
    Requests {
        /// Substring of the request body (its first 4 KiB), e.g. a key.
        #[arg(long = "match")]
        body_contains: Option<String>,
        /// Operation, e.g. GetItem, Query, SendMessage.
        #[arg(long)]
        operation: Option<String>,
        /// Service: dynamodb, sqs, ...
        #[arg(long)]
        service: Option<String>,
    },
    /// The local payment provider of the running stack: its ledger of charges and refunds,
    /// its access log, and its instances in the emulator's Cloud Map (list them, mark one
    /// healthy or unhealthy). Faults: `devstack fault add payments …`.
    #[command(subcommand)]
    Payments(PaymentsCmd),
    /// A bounded load run against the running stack's gateway (`DEVSTACK_GATEWAY`): open-loop
    /// at a constant arrival rate (latency from each request's scheduled time), p50/p99/p99.9,
    /// errors by status; for `mix`, every placed order's settlement and the accounting (none
    /// lost or doubled; stock, reservations and charges add up). Exits non-zero on any error
    /// or mismatch. Lift the throttling first: `devstack up --no-throttle` (or
    /// `--throttle-scale`), else the template's 50 requests/s per route answer 429.
    Load(LoadArgs),
    /// Per-function IAM of the running stack: `simulate` prints whether a function's execution
    /// role allows an action on a resource, from the evaluator the fault proxy uses.
    #[command(subcommand)]
    Iam(IamCmd),
    /// Run one function binary in its Lambda execution environment (Timeout, MemorySize,
    /// response size, its own credentials). `devstack up` makes this cargo's target runner
    /// for `cargo lambda watch`; not for direct use.
    #[command(hide = true)]
    Sandbox {
        /// The function binary cargo built.
        binary: PathBuf,
        /// Its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Print the routes and event source mappings the template declares.
    Routes,
    /// Print the LocalStack init script generated from the template.
    LocalstackInit,
    /// Print the API's OpenAPI 3.1 document (the gateway serves it at `/openapi.json`, and a
    /// docs page at `/docs`).
    Openapi {
        /// The `servers` URL written into the document.
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        server: String,
    },
}

#[derive(Debug, Subcommand)]
enum IamCmd {
    /// Print `allowed` or `denied` (exit 0 or 1) for a function doing an action on a resource,
    /// with the policy that decided: the local `aws iam simulate-principal-policy`.
    ///
    /// Example:
    ///   devstack iam simulate --function GetProductFunction --action dynamodb:GetItem \
    ///     --resource arn:aws:dynamodb:us-east-1:123456789012:table/shop-ProductsTable
    #[command(verbatim_doc_comment)]
    Simulate {
        /// The function's logical id in the template.
        #[arg(long)]
        function: String,
        /// `service:Action`, e.g. `dynamodb:GetItem`.
        #[arg(long)]
        action: String,
        /// The resource ARN; `*` for an action that takes none.
        #[arg(long, default_value = "*")]
        resource: String,
    },
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

#[derive(Debug, Subcommand)]
enum PaymentsCmd {
    /// Print every charge and refund (seq, kind, status, amount, id, order, source or charge,
    /// idempotency key, instance), then the counts by kind and status.
    Ledger {
        /// Print one JSON array instead.
        #[arg(long)]
        json: bool,
        /// Only this order's (the charge's metadata.order_id).
        #[arg(long)]
        order: Option<String>,
    },
    /// Print the provider's access log: every request an instance received, faulted and
    /// refused ones included (status `-` when the connection was closed without an answer).
    Log {
        /// Print one JSON array instead.
        #[arg(long)]
        json: bool,
        /// Only this instance's requests (e.g. provider-b).
        #[arg(long)]
        instance: Option<String>,
        /// Only entries after this seq.
        #[arg(long)]
        after: Option<u64>,
    },
    /// Mark an instance healthy or unhealthy in the emulator's Cloud Map
    /// (UpdateInstanceCustomHealthStatus): discovery stops or starts returning it.
    Health {
        /// The instance id, e.g. provider-b.
        instance: String,
        /// `healthy` or `unhealthy`.
        status: HealthArg,
    },
    /// Print the instances registered in the emulator's Cloud Map: id, URL, health.
    Instances,
}

/// A custom health status.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum HealthArg {
    /// HEALTHY.
    Healthy,
    /// UNHEALTHY.
    Unhealthy,
}

#[derive(Debug, Subcommand)]
enum FaultCmd {
    /// Add a rule and print its id. The first active rule matching a request applies.
    ///
    /// Examples:
    ///   devstack fault add dynamodb --operation GetItem --throttle
    ///   devstack fault add dynamodb --latency 800ms --count 5
    ///   devstack fault add sqs --operation SendMessage --error 500:InternalError
    ///   devstack fault add dynamodb --match SKU-1 --hang
    ///   devstack fault add payments --instance provider-b --down
    ///   devstack fault add payments --error 503 --rate 0.5
    ///   devstack fault add payments --operation CreateCharge --down --after --count 1
    #[command(verbatim_doc_comment)]
    Add(FaultAddArgs),
    /// Stop (`down`) or start again (`up`) the redis-server devstack started.
    Redis {
        /// `down` or `up`.
        state: RedisState,
    },
    /// Print the rules with their hit counts, and Redis's and the emulator's state.
    List,
    /// Remove every rule (and start Redis again if a fault took it down), or only rule <ID>.
    Clear {
        /// A rule id from `devstack fault list`.
        id: Option<u64>,
    },
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["latency", "hang", "down", "throttle", "error"])))]
struct FaultAddArgs {
    /// The service whose calls the rule matches.
    service: ServiceArg,
    /// Only this operation (e.g. GetItem, PutItem, Query, TransactWriteItems, SendMessage).
    #[arg(long)]
    operation: Option<String>,
    /// Only requests whose body contains this substring (e.g. a key such as SKU-1).
    #[arg(long = "match")]
    body_contains: Option<String>,
    /// Wait this long, then forward (e.g. 800ms, 2s).
    #[arg(long, value_parser = humantime::parse_duration)]
    latency: Option<Duration>,
    /// Never answer (the caller's timeout fires).
    #[arg(long)]
    hang: bool,
    /// Close the connection without an answer (as if the service were down).
    #[arg(long)]
    down: bool,
    /// Answer the service's throttling error (DynamoDB ProvisionedThroughputExceededException,
    /// SQS ThrottlingException).
    #[arg(long)]
    throttle: bool,
    /// Answer this HTTP status with an error code, as <status>[:<code>] (e.g. 500,
    /// 503:ServiceUnavailable).
    #[arg(long, value_parser = status_and_code)]
    error: Option<(u16, Option<String>)>,
    /// Apply to the next N matching requests only.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    count: Option<u32>,
    /// Only requests to this instance of the payment provider (e.g. provider-b).
    #[arg(long)]
    instance: Option<String>,
    /// Apply to this fraction of the matching requests, at random (0 < rate <= 1, e.g. 0.5).
    #[arg(long, value_parser = rate)]
    rate: Option<f64>,
    /// Payments only: do the work first, then answer the fault (the charge exists but its
    /// answer is lost).
    #[arg(long)]
    after: bool,
}

/// A service the fault proxy can fault.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ServiceArg {
    /// Amazon DynamoDB.
    Dynamodb,
    /// Amazon SQS.
    Sqs,
    /// The local payment provider (operations CreateCharge, CreateRefund, Health).
    Payments,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RedisState {
    /// Stop it.
    Down,
    /// Start it again.
    Up,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DependencyArg {
    /// redis-server.
    Redis,
    /// The AWS API emulator (moto server).
    Emulator,
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// What to send: `get-product` (cached GET /products/{id}) or `mix` (cached reads and one
    /// POST /orders in --order-every, then the accounting).
    #[arg(long, value_enum)]
    scenario: crate::load::Scenario,
    /// Arrival rate, requests per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// How long to send, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Write the report as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The gateway's base URL.
    #[arg(
        long,
        env = "DEVSTACK_GATEWAY",
        default_value = "http://127.0.0.1:3000"
    )]
    gateway: String,
    /// Most requests outstanding at once; a request due beyond it is not sent and counts as
    /// the error `in_flight_bound`.
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    /// Per-request timeout (API Gateway HTTP APIs time out integrations at 30 s at most).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// mix: one request in this many is POST /orders.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    order_every: u64,
    /// mix: how many customers place the orders.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1000))]
    customers: u64,
    /// mix: how long the placed orders get to settle after the run.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    settle_within: Duration,
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
    /// Fault proxy port: the functions' AWS_ENDPOINT_URL; it forwards to the emulator
    /// (`devstack fault add` injects faults there).
    #[arg(long, default_value_t = 4567)]
    proxy_port: u16,
    /// Control API port (`devstack fault`, `restart`, `requests` talk to it).
    #[arg(long, default_value_t = 4599)]
    control_port: u16,
    /// The local payment provider's first port: the template's Cloud Map instances are served
    /// on it and the ports after it, in template order (provider-a 4610, provider-b 4611).
    #[arg(long, default_value_t = crate::payments::DEFAULT_PORT)]
    payments_port: u16,
    /// Override every queue's VisibilityTimeout (seconds), e.g. to see DLQ redrive quickly.
    #[arg(long)]
    visibility_timeout: Option<u32>,
    /// Do not reload functions on code changes.
    #[arg(long)]
    no_reload: bool,
    /// Build and run the functions with the release profile, as deployed (LTO; the first build
    /// takes several minutes): for load runs such as `make load`. Debug builds by default.
    #[arg(long)]
    release: bool,
    /// Do not throttle any route (the template's ThrottlingRateLimit/BurstLimit are ignored):
    /// for load tests such as `make bench`, which would otherwise measure 429s.
    #[arg(long)]
    no_throttle: bool,
    /// Multiply every route's ThrottlingRateLimit and ThrottlingBurstLimit by this factor
    /// (> 0; e.g. 10 turns the default 50/s, burst 100 into 500/s, burst 1000): for load tests
    /// that should still see throttling. 1 keeps the template's limits.
    #[arg(long, default_value_t = 1.0, value_parser = throttle_scale, conflicts_with = "no_throttle")]
    throttle_scale: f64,
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

/// Runs the `devstack` command line of this process (`std::env::args`) and returns its exit
/// code: success, or failure after printing `devstack: <error and its causes>` on stderr.
///
/// Logs go through `tracing` to stderr at the `DEVSTACK_LOG` filter (default `info`). Bad
/// arguments, `--help` and `--version` end the process from clap (exit 2, 0, 0), and a denied
/// `iam simulate` ends it with 1.
pub async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DEVSTACK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devstack: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    // The sandbox runs a function: no template of its own to read.
    if let Cmd::Sandbox { binary, args } = cli.command {
        return crate::sandbox::run(&binary, args).await;
    }
    let template = Template::load(&cli.template)?;
    let (path, stack) = (cli.template.as_path(), cli.stack_name.as_str());
    match cli.command {
        Cmd::Sandbox { .. } => unreachable!("handled above"),
        Cmd::Iam(IamCmd::Simulate {
            function,
            action,
            resource,
        }) => identity::simulate(&client(path, stack)?, function, action, resource).await,
        Cmd::Up(args) => up::run(path, stack, &template, args).await,
        Cmd::Fault(cmd) => fault::fault(&client(path, stack)?, cmd).await,
        Cmd::Restart { dependency } => fault::restart(&client(path, stack)?, dependency).await,
        Cmd::Requests {
            body_contains,
            operation,
            service,
        } => fault::requests(&client(path, stack)?, body_contains, operation, service).await,
        Cmd::Payments(cmd) => payments::payments(&client(path, stack)?, cmd).await,
        Cmd::Send { queue, body, file } => data::send(&template, stack, &queue, body, file).await,
        Cmd::Dlq(cmd) => data::dead_letters(&template, stack, cmd).await,
        Cmd::Token {
            sub,
            groups,
            ttl,
            scopes,
        } => identity::token(path, stack, sub, groups, ttl, scopes),
        Cmd::Seed => data::seed(&template, stack).await,
        Cmd::Load(args) => load::load(path, stack, template, args).await,
        Cmd::Routes => print::routes(&template),
        Cmd::Openapi { server } => print::openapi(&server),
        Cmd::LocalstackInit => print::localstack_init(&template),
    }
}

/// The control API client of the running stack `stack` of the project of `template_path`
/// (from its ready file). Errors: the stack is not running.
fn client(template_path: &Path, stack: &str) -> Result<control::Client> {
    control::Client::from_ready_file(&project_root(template_path)?, stack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_scale_is_a_positive_factor_and_excludes_no_throttle() {
        assert_eq!(throttle_scale("10"), Ok(10.0));
        assert_eq!(throttle_scale("0.5"), Ok(0.5));
        assert!(throttle_scale("0").is_err());
        assert!(throttle_scale("-2").is_err());
        assert!(throttle_scale("inf").is_err());
        assert!(
            Cli::try_parse_from(["devstack", "up", "--no-throttle", "--throttle-scale", "2"])
                .is_err()
        );
    }

    #[test]
    fn load_needs_a_scenario() {
        assert!(Cli::try_parse_from(["devstack", "load"]).is_err());
        assert!(
            Cli::try_parse_from(["devstack", "load", "--scenario", "mix", "--rate", "300"]).is_ok()
        );
    }

    #[test]
    fn fault_add_needs_exactly_one_action() {
        assert!(Cli::try_parse_from(["devstack", "fault", "add", "dynamodb"]).is_err());
        assert!(
            Cli::try_parse_from(["devstack", "fault", "add", "dynamodb", "--hang", "--down"])
                .is_err()
        );
        assert!(
            Cli::try_parse_from([
                "devstack",
                "fault",
                "add",
                "dynamodb",
                "--operation",
                "GetItem",
                "--throttle",
                "--count",
                "1"
            ])
            .is_ok()
        );
    }
}
