//! Step 2 of `devstack up`: the template's resources on the emulator (tables, queues, caches,
//! Cloud Map with the local payment provider's URLs, secrets holding the provider's API key)
//! and each function's execution role.

use std::sync::Arc;

use anyhow::{Context, Result};

use super::Setup;
use super::preflight::Listeners;
use crate::iam::Iam;
use crate::provision::{self, ProvisionOptions, Provisioned};

/// What step 2 provisioned, and how (an emulator restart provisions again the same way).
pub(super) struct Resources {
    /// devstack's own SDK config: straight to the emulator, not through the fault proxy.
    pub(super) sdk: aws_config::SdkConfig,
    /// The payment provider's API key (the template's secret holds it).
    pub(super) api_key: String,
    /// The stack prefix, overrides, the instances' URLs and the secret's value.
    pub(super) provision_options: ProvisionOptions,
    /// The template's resources as created on the emulator.
    pub(super) provisioned: Provisioned,
    /// Each function's execution role.
    pub(super) iam: Arc<Iam>,
}

/// Provisions the template on the emulator at `endpoint` (the Cloud Map instances' URLs are
/// the payment listeners' of `listeners`) and loads the functions' IAM policies.
///
/// # Errors
/// Provisioning fails, or the functions' IAM policies cannot be loaded.
pub(super) async fn provision(
    setup: &Setup<'_>,
    endpoint: &str,
    listeners: &Listeners,
) -> Result<Resources> {
    let (template, stack, opts) = (setup.template, setup.stack, setup.opts);
    let (instance_plans, payment_ports) = (&listeners.instance_plans, &listeners.payment_ports);
    let sdk = emulator_sdk(endpoint).await;
    let api_key = sam_template::provision::secrets::generate_value();
    let provision_options = ProvisionOptions {
        prefix: stack.to_owned(),
        visibility_timeout_override: opts.visibility_timeout,
        parameters: opts.parameter_overrides.iter().cloned().collect(),
        instance_urls: instance_plans
            .iter()
            .zip(payment_ports)
            .map(|(plan, port)| (plan.logical_id.clone(), format!("http://127.0.0.1:{port}")))
            .collect(),
        secret_value: Some(api_key.clone()),
    };
    let provisioned = provision::provision_with(template, &sdk, &provision_options).await?;
    // Each function's execution role, as `sam deploy` would create it (see crate::iam).
    let iam = Arc::new(
        Iam::load(
            &setup.venv_bin,
            setup.template_path,
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
    Ok(Resources {
        sdk,
        api_key,
        provision_options,
        provisioned,
        iam,
    })
}

/// SDK config pointing at the emulator itself (devstack's own clients bypass the fault proxy).
async fn emulator_sdk(endpoint: &str) -> aws_config::SdkConfig {
    let base = crate::aws::sdk_config().await;
    base.into_builder().endpoint_url(endpoint).build()
}
