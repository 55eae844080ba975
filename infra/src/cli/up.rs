//! `devstack up`: the flags of [`UpArgs`] turned into [`up::Options`], then the stack runs until
//! Ctrl-C.

use std::path::Path;

use anyhow::Result;

use super::UpArgs;
use crate::template::Template;
use crate::up;

/// Runs the local cloud from `template` (read from `template_path`) under stack name `stack`
/// until Ctrl-C; errors are `up::up`'s (a port taken, provisioning failed, ...).
pub(super) async fn run(
    template_path: &Path,
    stack: &str,
    template: &Template,
    args: UpArgs,
) -> Result<()> {
    let options = up::Options {
        gateway_port: args.gateway_port,
        lambda_port: args.lambda_port,
        emulator_port: args.emulator_port,
        redis_port: args.redis_port,
        proxy_port: args.proxy_port,
        control_port: args.control_port,
        payments_port: args.payments_port,
        visibility_timeout: args.visibility_timeout,
        no_reload: args.no_reload,
        release: args.release,
        no_throttle: args.no_throttle,
        throttle_scale: args.throttle_scale,
        tls: args.tls,
        concurrency: args.concurrency,
        parameter_overrides: args.parameter_overrides,
    };
    up::up(template_path, stack, template, options).await
}
