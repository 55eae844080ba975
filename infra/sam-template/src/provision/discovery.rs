//! The template's AWS Cloud Map resources (`AWS::ServiceDiscovery::HttpNamespace`, `::Service`,
//! `::Instance`): their plans and their creation on the emulator (moto implements Cloud Map).
//!
//! Local names: a namespace is `<prefix>-<Name>` (every stack and every test on one emulator
//! gets its own namespace, so their instances never point at each other's ports). When the
//! template names it with `!Ref <Parameter>`, that parameter resolves to the local name too,
//! so a function's `!Ref PaymentsNamespaceName` is the namespace that exists. Services and
//! instances keep their names: they live inside the namespace.
//!
//! moto's Cloud Map neither refuses a second namespace or service of the same name nor replaces
//! a re-registered instance (it appends), so creation looks up what exists first and reuses it,
//! and an instance is deregistered before it is registered again.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_servicediscovery::Client;
use aws_sdk_servicediscovery::operation::list_instances::ListInstancesOutput;
use aws_sdk_servicediscovery::types::{CustomHealthStatus, HealthCheckCustomConfig};

use crate::expr::Expr;
use crate::{Resolver, Template};

/// The instance attribute holding an instance's base URL (what the outside-service client reads).
pub const URL_ATTRIBUTE: &str = "URL";

/// The reserved attribute giving a new instance's health (`HEALTHY` or `UNHEALTHY`).
pub const INIT_HEALTH_ATTRIBUTE: &str = "AWS_INIT_HEALTH_STATUS";

/// An HTTP namespace to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacePlan {
    /// Logical id in the template.
    pub logical_id: String,
    /// Local name: `<prefix>-<Name>` (kept when `Name` already starts with `<prefix>-`).
    pub name: String,
    /// The parameter `Name` is a `!Ref` to, if it is one: it resolves to [`Self::name`].
    pub name_parameter: Option<String>,
}

/// A service to create in a namespace of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// Logical id in the template.
    pub logical_id: String,
    /// `Name`, resolved.
    pub name: String,
    /// Logical id of its namespace (from `NamespaceId`).
    pub namespace: String,
    /// Whether it has a `HealthCheckCustomConfig` (health set by API calls).
    pub custom_health: bool,
}

/// An instance to register in a service of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancePlan {
    /// Logical id in the template.
    pub logical_id: String,
    /// `InstanceId`, resolved (e.g. `provider-a`).
    pub instance_id: String,
    /// Logical id of its service (from `ServiceId`).
    pub service: String,
    /// `InstanceAttributes`, resolved (the template's `URL`: devstack replaces it with the
    /// local stand-in's).
    pub attributes: BTreeMap<String, String>,
}

/// Every Cloud Map resource of the template, each kind in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryPlans {
    /// Namespaces.
    pub namespaces: Vec<NamespacePlan>,
    /// Services.
    pub services: Vec<ServicePlan>,
    /// Instances.
    pub instances: Vec<InstancePlan>,
}

/// The Cloud Map resources of the template under `prefix`, with `resolver`'s parameters.
///
/// # Errors
/// A name, id or attribute that does not resolve, or a `NamespaceId`/`ServiceId` that does not
/// name a namespace/service of the template (the message names the resource).
pub fn discovery_plans(
    template: &Template,
    resolver: &Resolver,
    prefix: &str,
) -> Result<DiscoveryPlans> {
    use crate::Properties;
    let mut plans = DiscoveryPlans::default();
    for r in &template.resources {
        let context = || format!("{} {}", r.kind, r.logical_id);
        match &r.properties {
            Properties::HttpNamespace(p) => {
                let resolved = resolver.string(&p.name).with_context(context)?;
                let own = format!("{prefix}-");
                let name = if resolved.starts_with(&own) {
                    resolved
                } else {
                    format!("{own}{resolved}")
                };
                let name_parameter = match &p.name {
                    Expr::Ref(param) if resolver.parameters.contains_key(param) => {
                        Some(param.clone())
                    }
                    _ => None,
                };
                plans.namespaces.push(NamespacePlan {
                    logical_id: r.logical_id.clone(),
                    name,
                    name_parameter,
                });
            }
            Properties::DiscoveryService(p) => plans.services.push(ServicePlan {
                logical_id: r.logical_id.clone(),
                name: resolver.string(&p.name).with_context(context)?,
                namespace: referenced(&p.namespace_id).with_context(context)?,
                custom_health: p.health_check_custom_config.is_some(),
            }),
            Properties::DiscoveryInstance(p) => {
                let attributes = p
                    .instance_attributes
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), resolver.string(v)?)))
                    .collect::<Result<BTreeMap<_, _>>>()
                    .with_context(context)?;
                plans.instances.push(InstancePlan {
                    logical_id: r.logical_id.clone(),
                    instance_id: resolver.string(&p.instance_id).with_context(context)?,
                    service: referenced(&p.service_id).with_context(context)?,
                    attributes,
                });
            }
            _ => {}
        }
    }
    for s in &plans.services {
        if !plans.namespaces.iter().any(|n| n.logical_id == s.namespace) {
            bail!(
                "service {}: NamespaceId names {}, which is not an HttpNamespace of the template",
                s.logical_id,
                s.namespace
            );
        }
    }
    for i in &plans.instances {
        if !plans.services.iter().any(|s| s.logical_id == i.service) {
            bail!(
                "instance {}: ServiceId names {}, which is not a ServiceDiscovery::Service of the template",
                i.logical_id,
                i.service
            );
        }
    }
    Ok(plans)
}

/// The logical id an id property names: `!Ref X`, `!GetAtt X.Id`.
fn referenced(e: &Expr) -> Result<String> {
    match e {
        Expr::Ref(id) => Ok(id.clone()),
        Expr::GetAtt {
            resource,
            attribute,
        } if attribute == "Id" => Ok(resource.clone()),
        other => Err(anyhow!(
            "expected !Ref <Resource> or !GetAtt <Resource>.Id, got {other:?}"
        )),
    }
}

/// A namespace as created (or found) on the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    /// Its id (`ns-…`): `!Ref` and `!GetAtt .Id`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its ARN: `!GetAtt .Arn`.
    pub arn: String,
}

/// Creates the HTTP namespace `name`, or finds the one of that name.
///
/// # Errors
/// The emulator refuses the call or does not list the namespace after creating it.
pub async fn create_namespace(client: &Client, name: &str) -> Result<NamespaceInfo> {
    if let Some(found) = find_namespace(client, name).await? {
        return Ok(found);
    }
    client
        .create_http_namespace()
        .name(name)
        .creator_request_id(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .map_err(aws_sdk_servicediscovery::Error::from)
        .with_context(|| format!("creating namespace {name}"))?;
    // CreateHttpNamespace is asynchronous (an operation id); moto finishes it at once.
    for _ in 0..50 {
        if let Some(found) = find_namespace(client, name).await? {
            return Ok(found);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bail!("namespace {name} was created but is not listed after 5 s")
}

async fn find_namespace(client: &Client, name: &str) -> Result<Option<NamespaceInfo>> {
    let mut pages = client.list_namespaces().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(aws_sdk_servicediscovery::Error::from)
            .context("listing namespaces")?;
        if let Some(ns) = page.namespaces().iter().find(|n| n.name() == Some(name)) {
            return Ok(Some(NamespaceInfo {
                id: ns.id().unwrap_or_default().to_owned(),
                name: name.to_owned(),
                arn: ns.arn().unwrap_or_default().to_owned(),
            }));
        }
    }
    Ok(None)
}

/// A service as created (or found) on the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Its id (`srv-…`): `!Ref` and `!GetAtt .Id`.
    pub id: String,
    /// Its name: `!GetAtt .Name`.
    pub name: String,
    /// Its ARN: `!GetAtt .Arn`.
    pub arn: String,
    /// Its namespace's name (what `DiscoverInstances` takes).
    pub namespace_name: String,
}

/// Creates the service of `plan` in namespace `namespace`, or finds the one of that name there.
///
/// # Errors
/// The emulator refuses the call.
pub async fn create_service(
    client: &Client,
    plan: &ServicePlan,
    namespace: &NamespaceInfo,
) -> Result<ServiceInfo> {
    let info = |id: Option<&str>, arn: Option<&str>| ServiceInfo {
        id: id.unwrap_or_default().to_owned(),
        name: plan.name.clone(),
        arn: arn.unwrap_or_default().to_owned(),
        namespace_name: namespace.name.clone(),
    };
    let mut pages = client.list_services().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(aws_sdk_servicediscovery::Error::from)
            .context("listing services")?;
        // moto's ListServices ignores filters and its summaries omit the namespace: ask each.
        for s in page.services() {
            if s.name() != Some(plan.name.as_str()) {
                continue;
            }
            let Some(id) = s.id() else { continue };
            let full = client
                .get_service()
                .id(id)
                .send()
                .await
                .map_err(aws_sdk_servicediscovery::Error::from)
                .with_context(|| format!("reading service {id}"))?;
            if full.service().and_then(|s| s.namespace_id()) == Some(namespace.id.as_str()) {
                return Ok(info(Some(id), s.arn()));
            }
        }
    }
    let mut create = client
        .create_service()
        .name(&plan.name)
        .namespace_id(&namespace.id)
        .creator_request_id(uuid::Uuid::new_v4().to_string())
        .r#type(aws_sdk_servicediscovery::types::ServiceTypeOption::Http);
    if plan.custom_health {
        create = create.health_check_custom_config(HealthCheckCustomConfig::builder().build());
    }
    let out = create
        .send()
        .await
        .map_err(aws_sdk_servicediscovery::Error::from)
        .with_context(|| format!("creating service {}", plan.name))?;
    let s = out
        .service()
        .ok_or_else(|| anyhow!("CreateService {} answered no service", plan.name))?;
    Ok(info(s.id(), s.arn()))
}

/// Registers instance `instance_id` in service `service_id` with `attributes` (replacing an
/// earlier registration of the same id); `AWS_INIT_HEALTH_STATUS: UNHEALTHY` is applied with
/// `UpdateInstanceCustomHealthStatus` (moto ignores the attribute).
///
/// # Errors
/// The emulator refuses a call.
pub async fn register_instance(
    client: &Client,
    service_id: &str,
    instance_id: &str,
    attributes: &BTreeMap<String, String>,
) -> Result<()> {
    let existing = list_instances(client, service_id).await?;
    let copies = existing
        .instances()
        .iter()
        .filter(|i| i.id() == Some(instance_id))
        .count();
    for _ in 0..copies {
        client
            .deregister_instance()
            .service_id(service_id)
            .instance_id(instance_id)
            .send()
            .await
            .map_err(aws_sdk_servicediscovery::Error::from)
            .with_context(|| format!("deregistering the earlier instance {instance_id}"))?;
    }
    let mut register = client
        .register_instance()
        .service_id(service_id)
        .instance_id(instance_id)
        .creator_request_id(uuid::Uuid::new_v4().to_string());
    for (k, v) in attributes {
        register = register.attributes(k, v);
    }
    register
        .send()
        .await
        .map_err(aws_sdk_servicediscovery::Error::from)
        .with_context(|| format!("registering instance {instance_id}"))?;
    if attributes.get(INIT_HEALTH_ATTRIBUTE).map(String::as_str) == Some("UNHEALTHY") {
        set_health(client, service_id, instance_id, false).await?;
    }
    Ok(())
}

/// The instances of service `service_id` (one `ListInstances` call: its first page).
///
/// # Errors
/// The emulator refuses the call.
async fn list_instances(client: &Client, service_id: &str) -> Result<ListInstancesOutput> {
    client
        .list_instances()
        .service_id(service_id)
        .send()
        .await
        .map_err(aws_sdk_servicediscovery::Error::from)
        .context("listing instances")
}

/// Sets an instance's custom health status (`UpdateInstanceCustomHealthStatus`).
///
/// # Errors
/// No such service or instance, or the service has no custom health check.
pub async fn set_health(
    client: &Client,
    service_id: &str,
    instance_id: &str,
    healthy: bool,
) -> Result<()> {
    client
        .update_instance_custom_health_status()
        .service_id(service_id)
        .instance_id(instance_id)
        .status(if healthy {
            CustomHealthStatus::Healthy
        } else {
            CustomHealthStatus::Unhealthy
        })
        .send()
        .await
        .map_err(aws_sdk_servicediscovery::Error::from)
        .with_context(|| format!("setting the health of instance {instance_id}"))?;
    Ok(())
}

/// One registered instance with its health, as `devstack payments instances` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstanceHealth {
    /// Instance id.
    pub instance: String,
    /// Its `URL` attribute (empty when it has none).
    pub url: String,
    /// `HEALTHY`, `UNHEALTHY` or `UNKNOWN`.
    pub health: String,
}

/// Every instance of service `service_id` with its URL and health (`ListInstances` and
/// `GetInstancesHealthStatus`: the same answer as `DiscoverInstances` with `HealthStatus=ALL`,
/// without its `data-` host prefix, which a local endpoint cannot resolve).
///
/// # Errors
/// The emulator refuses a call.
pub async fn instances(client: &Client, service_id: &str) -> Result<Vec<InstanceHealth>> {
    let listed = list_instances(client, service_id).await?;
    let health = client
        .get_instances_health_status()
        .service_id(service_id)
        .send()
        .await
        .map_err(aws_sdk_servicediscovery::Error::from)
        .context("reading the instances' health")?;
    let statuses = health.status().cloned().unwrap_or_default();
    Ok(listed
        .instances()
        .iter()
        .map(|i| {
            let id = i.id().unwrap_or_default().to_owned();
            InstanceHealth {
                url: i
                    .attributes()
                    .and_then(|a| a.get(URL_ATTRIBUTE))
                    .cloned()
                    .unwrap_or_default(),
                health: statuses
                    .get(&id)
                    .map_or_else(|| "UNKNOWN".to_owned(), |h| h.as_str().to_owned()),
                instance: id,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  PaymentsNamespaceName: { Type: String, Default: shop-payments }
  PaymentProviderServiceName: { Type: String, Default: provider }
  PaymentProviderPrimaryUrl: { Type: String, Default: "https://api.payments.example.com" }
Resources:
  PaymentsNamespace:
    Type: AWS::ServiceDiscovery::HttpNamespace
    Properties: { Name: !Ref PaymentsNamespaceName, Description: !Sub "payments of ${AWS::StackName}" }
  PaymentProviderService:
    Type: AWS::ServiceDiscovery::Service
    Properties:
      Name: !Ref PaymentProviderServiceName
      NamespaceId: !GetAtt PaymentsNamespace.Id
      Type: HTTP
      HealthCheckCustomConfig: { FailureThreshold: 1 }
  PaymentProviderInstanceA:
    Type: AWS::ServiceDiscovery::Instance
    Properties:
      ServiceId: !Ref PaymentProviderService
      InstanceId: provider-a
      InstanceAttributes: { URL: !Ref PaymentProviderPrimaryUrl, AWS_INIT_HEALTH_STATUS: HEALTHY }
"#;

    fn plans(text: &str) -> Result<DiscoveryPlans> {
        let t = Template::parse(text).unwrap();
        discovery_plans(&t, &Resolver::for_planning(&t, "e2e-1"), "e2e-1")
    }

    #[test]
    fn the_namespace_is_named_after_the_stack_and_its_parameter_follows() {
        let p = plans(TEMPLATE).unwrap();
        assert_eq!(
            p.namespaces,
            vec![NamespacePlan {
                logical_id: "PaymentsNamespace".into(),
                name: "e2e-1-shop-payments".into(),
                name_parameter: Some("PaymentsNamespaceName".into()),
            }]
        );
    }

    #[test]
    fn services_and_instances_name_their_parents_by_logical_id() {
        let p = plans(TEMPLATE).unwrap();
        assert_eq!(p.services[0].name, "provider");
        assert_eq!(p.services[0].namespace, "PaymentsNamespace");
        assert!(p.services[0].custom_health);
        let a = &p.instances[0];
        assert_eq!(a.instance_id, "provider-a");
        assert_eq!(a.service, "PaymentProviderService");
        assert_eq!(a.attributes["URL"], "https://api.payments.example.com");
        assert_eq!(a.attributes[INIT_HEALTH_ATTRIBUTE], "HEALTHY");
    }

    #[test]
    fn an_instance_of_a_service_the_template_lacks_is_an_error_naming_it() {
        let text = TEMPLATE.replace(
            "ServiceId: !Ref PaymentProviderService",
            "ServiceId: !Ref Elsewhere",
        );
        let err = plans(&text).unwrap_err().to_string();
        assert!(
            err.contains("PaymentProviderInstanceA") && err.contains("Elsewhere"),
            "{err}"
        );
    }

    #[test]
    fn a_template_without_cloud_map_resources_plans_nothing() {
        let p = plans("Resources:\n  Q: { Type: AWS::SQS::Queue }\n").unwrap();
        assert_eq!(p, DiscoveryPlans::default());
    }
}
