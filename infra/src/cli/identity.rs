//! `devstack token` and `iam simulate`: who may call what in the running stack: a signed
//! access token from its identity provider, and whether a function's execution role allows an
//! action on a resource.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::control;
use crate::edge;
use crate::idp::TokenRequest;
use crate::up::project_root;

/// Runs `devstack token`: prints a token for `sub` in `groups` with `scopes`, valid for `ttl`,
/// signed by the identity provider of stack `stack` (its state under the project of
/// `template_path`). Errors: the stack is not running.
pub(super) fn token(
    template_path: &Path,
    stack: &str,
    sub: String,
    groups: Vec<String>,
    ttl: Duration,
    scopes: Vec<String>,
) -> Result<()> {
    let request = TokenRequest {
        subject: sub,
        groups,
        ttl,
        scopes,
    };
    let token = edge::token(
        &project_root(template_path)?.join(".devstack"),
        stack,
        &request,
    )?;
    println!("{token}");
    Ok(())
}

/// Runs `devstack iam simulate`: prints `allowed` or `denied` (and, on stderr, the policy that
/// decided and the role); exits the process with code 1 when denied. Errors: the control
/// API's (e.g. an unknown function).
pub(super) async fn simulate(
    client: &control::Client,
    function: String,
    action: String,
    resource: String,
) -> Result<()> {
    let answer = client
        .iam_simulate(&control::SimulateQuery {
            function,
            action,
            resource,
        })
        .await?;
    println!("{}", answer.decision);
    eprintln!("{} (role {})", answer.detail, answer.role);
    if answer.decision != "allowed" {
        std::process::exit(1);
    }
    Ok(())
}
