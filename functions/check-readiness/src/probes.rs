//! The real probes and which ones the environment asks for ([`from_env`]).
//!
//! - every variable ending `_TABLE`: DynamoDB `DescribeTable` (up when `ACTIVE` or `UPDATING`);
//! - every variable ending `_QUEUE_URL`: SQS `GetQueueAttributes` of `QueueArn`;
//! - the cache (`CACHE_ENDPOINT`, given as the functions' [`RedisCache`]): it answers `PING`
//!   ([`CachePing`]);
//! - `CACHE_NAME`: ElastiCache `DescribeReplicationGroups` (up when `available`, `modifying`
//!   or `snapshotting`: the group serves in all three).
//!
//! Every SDK error goes through [`shared::aws::sdk_error`], so "down or throttling" and "a bug
//! or a missing permission" are told apart in the log.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::TableStatus;
use aws_sdk_sqs::types::QueueAttributeName;
use shared::Error;
use shared::aws::sdk_error;
use shared::cache::RedisCache;

use crate::handler::{Kind, Probe, ProbeFailure};

/// The probes the environment `vars` asks for: tables, then queues (each by variable name),
/// then the cache and its control-plane status.
pub fn from_env(
    sdk: &SdkConfig,
    vars: impl IntoIterator<Item = (String, String)>,
    cache: Option<RedisCache>,
) -> Vec<Box<dyn Probe>> {
    let mut vars: Vec<(String, String)> = vars.into_iter().collect();
    vars.sort();
    let get = |name: &str| {
        vars.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let mut probes: Vec<Box<dyn Probe>> = Vec::new();
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    for (name, table) in vars.iter().filter(|(name, _)| name.ends_with("_TABLE")) {
        probes.push(Box::new(TableProbe {
            name: name.clone(),
            table: table.clone(),
            client: dynamodb.clone(),
        }));
    }
    let sqs = aws_sdk_sqs::Client::new(sdk);
    for (name, url) in vars.iter().filter(|(name, _)| name.ends_with("_QUEUE_URL")) {
        probes.push(Box::new(QueueProbe {
            name: name.clone(),
            url: url.clone(),
            client: sqs.clone(),
        }));
    }
    if let Some(cache) = cache {
        probes.push(Box::new(CacheProbe {
            name: "CACHE_ENDPOINT".to_owned(),
            cache,
        }));
    }
    if let Some(group) = get("CACHE_NAME") {
        probes.push(Box::new(CacheStatusProbe {
            name: "CACHE_NAME".to_owned(),
            group,
            client: aws_sdk_elasticache::Client::new(sdk),
        }));
    }
    probes
}

/// `DescribeTable` of one table.
struct TableProbe {
    name: String,
    table: String,
    client: aws_sdk_dynamodb::Client,
}

#[async_trait]
impl Probe for TableProbe {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> Kind {
        Kind::Dynamodb
    }

    async fn probe(&self) -> Result<(), ProbeFailure> {
        let output = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| {
                ProbeFailure::from_error(&sdk_error(
                    format!("DynamoDB DescribeTable on table {}", self.table),
                    e,
                ))
            })?;
        match output.table().and_then(|t| t.table_status()) {
            Some(TableStatus::Active | TableStatus::Updating) => Ok(()),
            Some(status) => Err(ProbeFailure::status(status.as_str())),
            None => Err(ProbeFailure::status("unknown")),
        }
    }
}

/// `GetQueueAttributes` (`QueueArn`) of one queue.
struct QueueProbe {
    name: String,
    url: String,
    client: aws_sdk_sqs::Client,
}

#[async_trait]
impl Probe for QueueProbe {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> Kind {
        Kind::Sqs
    }

    async fn probe(&self) -> Result<(), ProbeFailure> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| {
                ProbeFailure::from_error(&sdk_error(
                    format!("SQS GetQueueAttributes of {}", self.url),
                    e,
                ))
            })?;
        Ok(())
    }
}

/// `DescribeReplicationGroups` of the cache's replication group.
struct CacheStatusProbe {
    name: String,
    group: String,
    client: aws_sdk_elasticache::Client,
}

#[async_trait]
impl Probe for CacheStatusProbe {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> Kind {
        Kind::Elasticache
    }

    async fn probe(&self) -> Result<(), ProbeFailure> {
        let output = self
            .client
            .describe_replication_groups()
            .replication_group_id(&self.group)
            .send()
            .await
            .map_err(|e| {
                ProbeFailure::from_error(&sdk_error(
                    format!("ElastiCache DescribeReplicationGroups of {}", self.group),
                    e,
                ))
            })?;
        let status = output
            .replication_groups()
            .first()
            .and_then(|group| group.status())
            .unwrap_or("unknown");
        match status {
            "available" | "modifying" | "snapshotting" => Ok(()),
            other => Err(ProbeFailure::status(other)),
        }
    }
}

/// Something that can tell whether the cache answers, and how fast.
#[async_trait]
pub trait CachePing: Send + Sync {
    /// One round trip to the cache.
    ///
    /// # Errors
    /// [`Error::ServiceUnavailable`] when it does not answer.
    async fn ping(&self) -> Result<Duration, Error>;
}

/// The cache probe over any [`CachePing`].
struct CacheProbe<C> {
    name: String,
    cache: C,
}

#[async_trait]
impl<C: CachePing> Probe for CacheProbe<C> {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> Kind {
        Kind::Cache
    }

    async fn probe(&self) -> Result<(), ProbeFailure> {
        self.cache
            .ping()
            .await
            .map(|_| ())
            .map_err(|e| ProbeFailure::from_error(&e))
    }
}

/// The functions' own client: TLS and IAM auth as configured, under its breaker (an open
/// breaker answers at once: the cache is down).
#[async_trait]
impl CachePing for RedisCache {
    async fn ping(&self) -> Result<Duration, Error> {
        RedisCache::ping(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::cache::CacheConfig;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn sdk() -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build()
    }

    #[test]
    fn every_table_and_queue_variable_and_the_cache_get_a_probe_in_order() {
        let probes = from_env(
            &sdk(),
            vars(&[
                ("PRODUCTS_TABLE", "t-products"),
                ("ORDERS_QUEUE_URL", "http://q/orders"),
                ("USERS_TABLE", "t-users"),
                ("CACHE_ENDPOINT", "127.0.0.1"),
                ("CACHE_PORT", "6391"),
                ("CACHE_TLS", "false"),
                ("CACHE_AUTH", "none"),
                ("CACHE_NAME", "shop-cache"),
                ("AWS_REGION", "us-east-1"),
                ("CACHE_ITEM_TTL_SECONDS", "300"),
            ]),
            Some(RedisCache::new(
                CacheConfig::local("127.0.0.1", 6391),
                &sdk(),
            )),
        );

        let seen: Vec<(&str, Kind)> = probes.iter().map(|p| (p.name(), p.kind())).collect();
        assert_eq!(
            seen,
            [
                ("PRODUCTS_TABLE", Kind::Dynamodb),
                ("USERS_TABLE", Kind::Dynamodb),
                ("ORDERS_QUEUE_URL", Kind::Sqs),
                ("CACHE_ENDPOINT", Kind::Cache),
                ("CACHE_NAME", Kind::Elasticache),
            ]
        );
    }

    #[test]
    fn without_cache_variables_there_is_no_cache_probe() {
        let probes = from_env(&sdk(), vars(&[("ORDERS_TABLE", "t-orders")]), None);

        let names: Vec<&str> = probes.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["ORDERS_TABLE"]);
    }

    #[tokio::test]
    async fn a_cache_that_does_not_answer_is_down() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let cache = RedisCache::new(CacheConfig::local("127.0.0.1", port), &sdk());

        let probes = from_env(&sdk(), vars(&[]), Some(cache));
        let failure = probes[0].probe().await.unwrap_err();

        assert_eq!(probes[0].kind(), Kind::Cache);
        assert_eq!(failure.reason, "unavailable");
    }

    /// Against the emulator (`AWS_ENDPOINT_URL`): a table and a queue made for the test are up;
    /// a table, a queue and a cache that do not exist are down.
    #[tokio::test]
    #[ignore = "needs the emulator: AWS_ENDPOINT_URL=http://127.0.0.1:4570"]
    async fn real_probes_see_what_exists_in_the_emulator() {
        let sdk = shared::aws::load().await;
        let suffix = &uuid_like();
        let table = format!("ready-{suffix}");
        aws_sdk_dynamodb::Client::new(&sdk)
            .create_table()
            .table_name(&table)
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .attribute_definitions(
                aws_sdk_dynamodb::types::AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                aws_sdk_dynamodb::types::KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let queue = aws_sdk_sqs::Client::new(&sdk)
            .create_queue()
            .queue_name(format!("ready-{suffix}"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let missing_queue = queue.replace("ready-", "missing-");

        let probes = from_env(
            &sdk,
            vars(&[
                ("A_TABLE", table.as_str()),
                ("B_TABLE", "no-such-table"),
                ("A_QUEUE_URL", queue.as_str()),
                ("B_QUEUE_URL", missing_queue.as_str()),
                ("CACHE_NAME", "no-such-cache"),
            ]),
            None,
        );
        let mut outcomes = Vec::new();
        for probe in &probes {
            outcomes.push((probe.name().to_owned(), probe.probe().await.is_ok()));
        }

        assert_eq!(
            outcomes,
            [
                ("A_TABLE".to_owned(), true),
                ("B_TABLE".to_owned(), false),
                ("A_QUEUE_URL".to_owned(), true),
                ("B_QUEUE_URL".to_owned(), false),
                ("CACHE_NAME".to_owned(), false),
            ]
        );
    }

    fn uuid_like() -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{nanos:x}")
    }
}
