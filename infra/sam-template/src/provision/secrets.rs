//! The template's Secrets Manager secrets (`AWS::SecretsManager::Secret`): created on the
//! emulator under `<prefix>-<LogicalId>` (or their `Name`) with a value devstack chooses — the
//! template's `GenerateSecretString` is not followed: locally a secret is an API key of the
//! local stand-in service, `sk_test_<32 hex>` ([`generate_value`]), which that stand-in accepts.

use anyhow::{Context, Result, anyhow};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;

use crate::{Resolver, Template};

/// A secret to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPlan {
    /// Logical id in the template.
    pub logical_id: String,
    /// Its name: `Name`, resolved, else `<prefix>-<LogicalId>`.
    pub name: String,
}

/// A secret as created on the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    /// Its name.
    pub name: String,
    /// Its ARN: what `!Ref` returns (CloudFormation's `Ref` of a secret is its ARN).
    pub arn: String,
    /// Its value (`SecretString`).
    pub value: String,
}

/// One plan per `AWS::SecretsManager::Secret`, in file order.
///
/// # Errors
/// A `Name` that does not resolve.
pub fn secret_plans(
    template: &Template,
    resolver: &Resolver,
    prefix: &str,
) -> Result<Vec<SecretPlan>> {
    template
        .resources
        .iter()
        .filter_map(|r| match &r.properties {
            crate::Properties::Secret(p) => Some((r.logical_id.as_str(), p)),
            _ => None,
        })
        .map(|(logical_id, p)| {
            let name = match &p.name {
                Some(n) => resolver
                    .string(n)
                    .with_context(|| format!("secret {logical_id}"))?,
                None => format!("{prefix}-{logical_id}"),
            };
            Ok(SecretPlan {
                logical_id: logical_id.to_owned(),
                name,
            })
        })
        .collect()
}

/// A fresh local API key: `sk_test_` and 32 lowercase hex digits (a v4 UUID's 122 random bits).
pub fn generate_value() -> String {
    format!("sk_test_{}", uuid::Uuid::new_v4().simple())
}

/// Creates the secret `plan.name` holding `value`; a secret of that name that exists already
/// gets `value` as its current version (`PutSecretValue`), so the value is always `value`.
///
/// # Errors
/// The emulator refuses a call.
pub async fn create_secret(client: &Client, plan: &SecretPlan, value: &str) -> Result<SecretInfo> {
    let created = client
        .create_secret()
        .name(&plan.name)
        .secret_string(value)
        .description(format!("{} (devstack)", plan.logical_id))
        .send()
        .await;
    let arn = match created {
        Ok(out) => out.arn().map(ToOwned::to_owned),
        Err(e) if e.code() == Some("ResourceExistsException") => client
            .put_secret_value()
            .secret_id(&plan.name)
            .secret_string(value)
            .send()
            .await
            .map_err(aws_sdk_secretsmanager::Error::from)
            .with_context(|| format!("updating secret {}", plan.name))?
            .arn()
            .map(ToOwned::to_owned),
        Err(e) => {
            return Err(aws_sdk_secretsmanager::Error::from(e))
                .with_context(|| format!("creating secret {}", plan.name));
        }
    };
    Ok(SecretInfo {
        name: plan.name.clone(),
        arn: arn.ok_or_else(|| anyhow!("secret {}: the emulator answered no ARN", plan.name))?,
        value: value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_without_name_is_named_after_the_stack_and_its_logical_id() {
        let t = Template::parse(
            "Resources:\n  ApiKey:\n    Type: AWS::SecretsManager::Secret\n    Properties:\n      GenerateSecretString: { PasswordLength: 32, ExcludePunctuation: true }\n  Named:\n    Type: AWS::SecretsManager::Secret\n    Properties: { Name: !Sub \"${AWS::StackName}/key\" }\n",
        )
        .unwrap();
        let plans = secret_plans(&t, &Resolver::for_planning(&t, "shop"), "shop").unwrap();
        assert_eq!(plans[0].name, "shop-ApiKey");
        assert_eq!(plans[1].name, "shop/key");
    }

    #[test]
    fn a_generated_value_is_a_test_key_of_32_hex_digits() {
        let v = generate_value();
        let hex = v.strip_prefix("sk_test_").unwrap();
        assert_eq!(hex.len(), 32);
        assert!(
            hex.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(generate_value(), v);
    }
}
