//! The template's ElastiCache replication groups: their plans and their creation on the
//! emulator's control plane (moto implements `CreateReplicationGroup`). The data plane is not
//! the emulator's: devstack points the functions at its local redis-server instead
//! ([`LOCAL_CACHE_ADDRESS`]).

use anyhow::{Context, Result};
use aws_sdk_elasticache::error::ProvideErrorMetadata;

use crate::resources::ReplicationGroupProperties;
use crate::{Resolver, Template};

/// What `!GetAtt <Cache>.PrimaryEndPoint.Address` resolves to locally: the local redis-server.
pub const LOCAL_CACHE_ADDRESS: &str = "127.0.0.1";

/// Redis's port, when the template gives none (and the local default).
pub const DEFAULT_CACHE_PORT: u16 = 6379;

/// Longest replication group id ElastiCache accepts.
const MAX_ID_LEN: usize = 40;

/// A replication group to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePlan {
    /// Logical id in the template.
    pub logical_id: String,
    /// Replication group id: `ReplicationGroupId`, else `<prefix>-<logical id>`, made valid
    /// (lowercase letters, digits and single hyphens, at most 40 characters, starting with a
    /// letter).
    pub name: String,
    /// `Engine` (`redis` when absent).
    pub engine: String,
    /// `EngineVersion`, if given.
    pub engine_version: Option<String>,
    /// `CacheNodeType`, resolved (`cache.t4g.micro` when absent).
    pub node_type: String,
    /// `NumCacheClusters` (1 when absent).
    pub num_cache_clusters: i32,
    /// `TransitEncryptionEnabled`.
    pub transit_encryption: bool,
}

/// One plan per `AWS::ElastiCache::ReplicationGroup`, in file order.
///
/// # Errors
/// A `ReplicationGroupId` or `CacheNodeType` that does not resolve.
pub fn cache_plans(template: &Template, prefix: &str) -> Result<Vec<CachePlan>> {
    let resolver = Resolver::for_planning(template, prefix);
    template
        .caches()
        .map(|(logical_id, p)| plan(&resolver, prefix, logical_id, p))
        .collect()
}

fn plan(
    resolver: &Resolver,
    prefix: &str,
    logical_id: &str,
    p: &ReplicationGroupProperties,
) -> Result<CachePlan> {
    let context = || format!("cache {logical_id}");
    let name = match &p.replication_group_id {
        Some(id) => resolver.string(id).with_context(context)?,
        None => format!("{prefix}-{logical_id}"),
    };
    let node_type = match &p.cache_node_type {
        Some(t) => resolver.string(t).with_context(context)?,
        None => "cache.t4g.micro".to_owned(),
    };
    Ok(CachePlan {
        logical_id: logical_id.to_owned(),
        name: replication_group_id(&name),
        engine: p.engine.clone().unwrap_or_else(|| "redis".to_owned()),
        engine_version: p.engine_version.clone(),
        node_type,
        num_cache_clusters: p.num_cache_clusters.unwrap_or(1),
        transit_encryption: p.transit_encryption_enabled.unwrap_or(false),
    })
}

/// `name` as a valid replication group id: lowercase; anything but a letter, digit or hyphen
/// becomes a hyphen; no doubled, leading or trailing hyphens; a leading `c` when it does not
/// start with a letter; at most 40 characters (ElastiCache's rules for the id).
pub fn replication_group_id(name: &str) -> String {
    let mut id = String::with_capacity(name.len());
    for c in name.chars().map(|c| c.to_ascii_lowercase()) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if c == '-' && (id.is_empty() || id.ends_with('-')) {
            continue;
        }
        id.push(c);
    }
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        id.insert(0, 'c');
    }
    id.truncate(MAX_ID_LEN);
    id.trim_end_matches('-').to_owned()
}

/// Creates the replication group of `plan` on the emulator (an existing one is kept) and
/// returns its status (`available`, `creating`…).
///
/// # Errors
/// The emulator refuses or cannot be reached.
pub async fn create_cache(
    client: &aws_sdk_elasticache::Client,
    plan: &CachePlan,
) -> Result<String> {
    let created = client
        .create_replication_group()
        .replication_group_id(&plan.name)
        .replication_group_description(format!("{} (devstack)", plan.logical_id))
        .engine(&plan.engine)
        .set_engine_version(plan.engine_version.clone())
        .cache_node_type(&plan.node_type)
        .num_cache_clusters(plan.num_cache_clusters)
        .transit_encryption_enabled(plan.transit_encryption)
        .send()
        .await;
    match created {
        Ok(out) => Ok(out
            .replication_group
            .and_then(|g| g.status)
            .unwrap_or_default()),
        Err(e) if e.code() == Some("ReplicationGroupAlreadyExists") => {
            let out = client
                .describe_replication_groups()
                .replication_group_id(&plan.name)
                .send()
                .await
                .with_context(|| format!("describing replication group {}", plan.name))?;
            Ok(out
                .replication_groups
                .unwrap_or_default()
                .into_iter()
                .next()
                .and_then(|g| g.status)
                .unwrap_or_default())
        }
        Err(e) => Err(aws_sdk_elasticache::Error::from(e))
            .with_context(|| format!("creating replication group {}", plan.name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_cache_is_planned_as_a_two_node_redis_group_named_after_the_stack() {
        let plans = cache_plans(&crate::tests::project_template(), "E2E_17").unwrap();

        assert_eq!(plans.len(), 1);
        let cache = &plans[0];
        assert_eq!(cache.logical_id, "Cache");
        assert_eq!(cache.name, "e2e-17-cache");
        assert_eq!(cache.engine, "redis");
        assert_eq!(cache.node_type, "cache.t4g.micro");
        assert_eq!(cache.num_cache_clusters, 2);
        assert!(cache.transit_encryption);
    }

    #[test]
    fn a_replication_group_id_follows_elasticache_rules() {
        assert_eq!(replication_group_id("Shop--Cache_1-"), "shop-cache-1");
        assert_eq!(replication_group_id("1-cache"), "c1-cache");
        let long = replication_group_id(&"a".repeat(60));
        assert_eq!(long.len(), 40);
    }
}
