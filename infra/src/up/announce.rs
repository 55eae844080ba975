//! Step 6 of `devstack up`: what is up, printed (the URLs, the routes and mappings), and the
//! ready file's content (the same, as JSON, for the tests and the CLI).

use anyhow::Result;

use super::backends::Backends;
use super::http_api::Served;
use super::services::Services;
use super::{EMULATOR, Ownership, REDIS, Setup};
use crate::gateway::Routes;
use crate::provision::Provisioned;
use crate::template::{Function, HttpApi};

/// Prints what is up: each URL (and whether the emulator and Redis were started or reused),
/// the tables and queues, the routes and event source mappings.
///
/// # Errors
/// The template's routes cannot be read.
pub(super) fn print(
    setup: &Setup<'_>,
    functions: &[Function],
    backends: &Backends,
    provisioned: &Provisioned,
    services: &Services,
    gateway: &Served,
) -> Result<()> {
    let (stack, opts) = (setup.stack, setup.opts);
    let Backends {
        endpoint,
        emulator,
        redis,
        ..
    } = backends;
    let Services {
        proxy_url,
        control_url,
        payments,
        ..
    } = services;
    let Served {
        api,
        url: gateway_url,
        client_id,
        certificate,
        ..
    } = gateway;
    let owned = |o: Ownership, what: &str| match o {
        Ownership::Started => format!("{what} (started)"),
        Ownership::Reused => "reused".to_owned(),
    };
    println!("\ndevstack is up (stack {stack})");
    println!("  API Gateway (HTTP API v2.0)  {gateway_url}");
    if let Some((path, _, _)) = certificate {
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
        owned(*emulator, EMULATOR)
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
        owned(*redis, REDIS)
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
    print_routes(functions, api.as_ref())?;
    println!("Ctrl-C stops what devstack started.\n");
    Ok(())
}

/// The ready file's content without the resources (`Running::write_ready_file` adds the
/// tables, streams and queues): the URLs, the client id, the certificate's path, the Redis
/// port, the stack name and the payment instances.
pub(super) fn ready(
    setup: &Setup<'_>,
    backends: &Backends,
    services: &Services,
    gateway: &Served,
) -> serde_json::Value {
    let (stack, opts) = (setup.stack, setup.opts);
    let endpoint = &backends.endpoint;
    let Services {
        proxy_url,
        control_url,
        payments,
        ..
    } = services;
    let Served {
        url: gateway_url,
        client_id,
        certificate,
        ..
    } = gateway;
    serde_json::json!({
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
    })
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
