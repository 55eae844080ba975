//! Cache-aside on Redis (ElastiCache Redis OSS 7.1 in AWS, a local redis-server in devstack):
//! [`Cached`] wraps a store and implements the same ports, [`RedisCache`] talks to Redis.
//!
//! # What is cached
//! Product by id, user by id (TTL `CACHE_ITEM_TTL_SECONDS`, 300 s), a page of products of one
//! category per `(category, limit, cursor)` (`CACHE_LIST_TTL_SECONDS`, 60 s), and the absence
//! of a product or user (`CACHE_NEGATIVE_TTL_SECONDS`, 30 s). Entries are the JSON of the domain
//! type (`null` for an absence). Listings without a category are not cached.
//!
//! # Key layout
//! With `P` = `CACHE_KEY_PREFIX` (default `shop`), `S` the schema version of the entry's type
//! ([`PRODUCT_SCHEMA`], [`USER_SCHEMA`]), `G` the global generation and `L` the product-listing
//! generation:
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `P:{generation}` ([`generation_key`]) | `G`, an integer | none |
//! | `P:{generation}:previous` ([`previous_generation_key`]) | the `G` before the last bump | 2 × generation refresh |
//! | `P:products:list-generation` ([`list_generation_key`]) | `L`, an integer | none |
//! | `P:vS:gG:{product:<id>}` ([`product_key`]) | product JSON or `null` | item / negative |
//! | `P:vS:gG:{user:<id>}` ([`user_key`]) | user JSON or `null` | item / negative |
//! | `P:vS:gG:lL:{products:<category>}:<limit>:<cursor or ->` ([`product_list_key`]) | page JSON | list |
//! | `<value key>:lease` ([`lease_key`]) | a random token | [`CacheConfig::lease`] |
//!
//! A value and its lease share a hash tag (`{...}`), so the Lua scripts that touch both stay
//! valid on a cluster-mode or serverless cache. A deploy that changes a type bumps its schema
//! version and never reads the old shape. The generation keys have no TTL, so under
//! ElastiCache's default `maxmemory-policy` (`volatile-lru`) they are never evicted; when one is
//! missing anyway it is set to the current time in ms, and a bump sets `max(G + 1, now in ms)`,
//! so a generation never goes back to a value whose entries may still exist.
//!
//! # Reads: leases, no stale refill, one refill per key
//! A read runs one script: the value if present (a hit), else `SET <lease> <token> NX PX`. The
//! reader that got the lease reads the store and fills with a script that writes the value only
//! if its lease still holds its token, and deletes the lease. Every invalidation deletes the
//! value **and** the lease. So a reader whose store read began before a write cannot fill after
//! that write's invalidation: either the invalidation came after the lease was taken (the lease
//! is gone, the fill is refused) or before it (the store read began after the write and sees
//! it). Readers that find the lease taken poll for the value ([`CacheConfig::wait_for_fill`],
//! every [`CacheConfig::poll_every`]), then read the store without filling: one refill per key
//! at a time. This needs the store's reads to see completed writes (DynamoDB `GetItem` with
//! `ConsistentRead`). A category listing comes from a GSI, which is only eventually consistent:
//! a page is therefore not filled within [`CacheConfig::list_settle`] of the last product write
//! (`L` is that write's time in ms).
//!
//! # Writes
//! Every write port invalidates after the inner call returns, `Ok` or `Err` (a failed call may
//! still have written): product writes delete the product's entry and bump `L` (all listings);
//! user writes delete the user's entry; a reservation deletes every product of the order, a
//! release every product of the reservation ([`ReservationProducts`]). Creates delete the
//! negative entry of their id. Invalidations read `G` from Redis, never from the local copy.
//!
//! # Failing gracefully, and the guarantee
//! Every Redis call is bounded ([`CacheConfig::connect_timeout`], [`CacheConfig::response_timeout`])
//! and goes through a per-instance [`Breaker`](crate::breaker::Breaker): after
//! [`CacheConfig::breaker`]`.failure_threshold` consecutive failures it refuses calls for
//! `open_for` (5 s), then lets one probe through. While refused, reads go to the store and
//! writes succeed without invalidating. Every error is logged at WARN (`cache.op`, `cache.key`,
//! `cache.outcome = "error"`) and counted ([`RedisCache::stats`]).
//!
//! An instance that failed or skipped an invalidation, or whose breaker opened, bumps `G` with
//! its next Redis call (the half-open probe, after an outage); every key then changes, so
//! entries that missed invalidations are never read again. Instances read `G` through a local
//! copy refreshed every [`CacheConfig::generation_refresh`] (1 s); for twice that after a bump,
//! invalidations also delete under the generation before it ([`previous_generation_key`]), so an
//! instance that has not yet seen the bump never reads past a completed write. A Redis call
//! that fails on a connection Redis dropped (after a restart) is tried once more at once. Hence: **an entry missed by
//! an invalidation is served at most until the outage ends plus the generation refresh
//! interval, as long as one instance that saw the outage (or the failed invalidation) outlives
//! it; otherwise at most until the entry's TTL.** Outside outages, no read returns a value older
//! than the last completed write's invalidation, except a listing page, stale by at most the
//! GSI's propagation delay beyond [`CacheConfig::list_settle`].
//!
//! # Authentication and TLS
//! `CACHE_AUTH=iam` (default) signs an IAM token ([`iam`]) for `CACHE_USER` of `CACHE_NAME`
//! with the SDK's credentials, fresh for every connection and refreshed on a live one every 10
//! min; `CACHE_TLS=true` (default) connects with TLS (system roots). Locally devstack sets
//! `CACHE_AUTH=none` and `CACHE_TLS=false`: the same code talks to a plain redis-server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::breaker::BreakerConfig;
use crate::config::{ConfigError, required_env};
use crate::domain::{Category, ProductId, UserId};
use crate::ports::{Cursor, PageLimit};

mod cached;
pub mod iam;
mod redis;

pub use cached::{Cached, ReservationProducts};
pub use redis::RedisCache;

use crate::aws::{DynamoProducts, DynamoUsers};

/// The catalog as the product functions' `main` builds it once per cold start: the table from
/// `PRODUCTS_TABLE` behind the cache from `CACHE_*` (no cache without `CACHE_ENDPOINT`).
///
/// # Errors
/// [`ConfigError`] naming the first variable missing or invalid.
pub async fn products_from_env(
    sdk: &aws_config::SdkConfig,
) -> Result<Cached<DynamoProducts>, ConfigError> {
    Ok(Cached::new(
        DynamoProducts::from_env(sdk)?,
        RedisCache::from_env(sdk).await?,
    ))
}

/// The users as the user functions' `main` builds them once per cold start: the table from
/// `USERS_TABLE` behind the cache from `CACHE_*` (no cache without `CACHE_ENDPOINT`).
///
/// # Errors
/// [`ConfigError`] naming the first variable missing or invalid.
pub async fn users_from_env(
    sdk: &aws_config::SdkConfig,
) -> Result<Cached<DynamoUsers>, ConfigError> {
    Ok(Cached::new(
        DynamoUsers::from_env(sdk)?,
        RedisCache::from_env(sdk).await?,
    ))
}

/// Schema version of the product entries (by id and listing pages). Bump it when
/// [`Product`](crate::domain::Product)'s JSON changes.
pub const PRODUCT_SCHEMA: u32 = 1;
/// Schema version of the user entries. Bump it when [`User`](crate::domain::User)'s JSON changes.
pub const USER_SCHEMA: u32 = 1;

/// How a function authenticates to the cache (`CACHE_AUTH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheAuth {
    /// `none`: no AUTH (a local redis-server).
    None,
    /// `iam`: an IAM token for `user` of cache `cache_name` ([`iam`]).
    Iam {
        /// The replication group id (`CACHE_NAME`), the host of the token.
        cache_name: String,
        /// The ElastiCache user id = user name (`CACHE_USER`).
        user: String,
    },
}

/// Where the cache is and how it behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Host (`CACHE_ENDPOINT`).
    pub endpoint: String,
    /// TCP port (`CACHE_PORT`, default 6379).
    pub port: u16,
    /// TLS to the cache (`CACHE_TLS`, default `true`).
    pub tls: bool,
    /// Authentication (`CACHE_AUTH`, default `iam`).
    pub auth: CacheAuth,
    /// First part of every key (`CACHE_KEY_PREFIX`, default `shop`); tests use a unique one.
    pub key_prefix: String,
    /// TTL of a product or user by id (`CACHE_ITEM_TTL_SECONDS`, default 300 s).
    pub item_ttl: Duration,
    /// TTL of a listing page (`CACHE_LIST_TTL_SECONDS`, default 60 s).
    pub list_ttl: Duration,
    /// TTL of a cached absence (`CACHE_NEGATIVE_TTL_SECONDS`, default 30 s).
    pub negative_ttl: Duration,
    /// Bound of one TCP + TLS + AUTH connect (`CACHE_CONNECT_TIMEOUT_MS`, default 200 ms).
    pub connect_timeout: Duration,
    /// Bound of one command's answer (`CACHE_RESPONSE_TIMEOUT_MS`, default 200 ms).
    pub response_timeout: Duration,
    /// How long a refill lease lives (default 5 s, above the SDK's 4 s operation timeout).
    pub lease: Duration,
    /// How long a miss waits for another reader's fill before reading the store (default 150 ms).
    pub wait_for_fill: Duration,
    /// How often a waiting miss looks for the fill (default 10 ms).
    pub poll_every: Duration,
    /// How long an instance trusts its copy of the generation (default 1 s).
    pub generation_refresh: Duration,
    /// No listing page is filled this soon after a product write (default 2 s; GSIs are
    /// eventually consistent).
    pub list_settle: Duration,
    /// The breaker on the cache (default: 3 failures, open 5 s).
    pub breaker: BreakerConfig,
}

impl CacheConfig {
    /// A plain local cache at `endpoint:port` (no TLS, no AUTH) with the default TTLs and
    /// timeouts and key prefix `shop`.
    pub fn local(endpoint: impl Into<String>, port: u16) -> Self {
        Self {
            endpoint: endpoint.into(),
            port,
            tls: false,
            auth: CacheAuth::None,
            key_prefix: "shop".to_owned(),
            item_ttl: Duration::from_secs(300),
            list_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(30),
            connect_timeout: Duration::from_millis(200),
            response_timeout: Duration::from_millis(200),
            lease: Duration::from_secs(5),
            wait_for_fill: Duration::from_millis(150),
            poll_every: Duration::from_millis(10),
            generation_refresh: Duration::from_secs(1),
            list_settle: Duration::from_secs(2),
            breaker: BreakerConfig::default(),
        }
    }

    /// The same with key prefix `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Reads the `CACHE_*` variables (module doc, and the table in the README); `None` when
    /// `CACHE_ENDPOINT` is unset or empty: the function then runs without a cache.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable when a number or flag does not parse, `CACHE_AUTH`
    /// is neither `iam` nor `none`, or `CACHE_NAME`/`CACHE_USER` is missing with `iam`.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        let Ok(endpoint) = required_env("CACHE_ENDPOINT") else {
            return Ok(None);
        };
        let mut config = Self::local(endpoint, optional("CACHE_PORT", 6379)?);
        config.tls = match optional_text("CACHE_TLS").as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(_) => return Err(invalid("CACHE_TLS", "neither true nor false")),
        };
        config.auth = match optional_text("CACHE_AUTH").as_deref() {
            None | Some("iam") => CacheAuth::Iam {
                cache_name: required_env("CACHE_NAME")?,
                user: required_env("CACHE_USER")?,
            },
            Some("none") => CacheAuth::None,
            Some(_) => return Err(invalid("CACHE_AUTH", "neither iam nor none")),
        };
        if let Some(prefix) = optional_text("CACHE_KEY_PREFIX") {
            config.key_prefix = prefix;
        }
        config.item_ttl = Duration::from_secs(optional("CACHE_ITEM_TTL_SECONDS", 300)?);
        config.list_ttl = Duration::from_secs(optional("CACHE_LIST_TTL_SECONDS", 60)?);
        config.negative_ttl = Duration::from_secs(optional("CACHE_NEGATIVE_TTL_SECONDS", 30)?);
        config.connect_timeout = Duration::from_millis(optional("CACHE_CONNECT_TIMEOUT_MS", 200)?);
        config.response_timeout =
            Duration::from_millis(optional("CACHE_RESPONSE_TIMEOUT_MS", 200)?);
        Ok(Some(config))
    }
}

fn invalid(name: &str, problem: &'static str) -> ConfigError {
    ConfigError {
        name: name.to_owned(),
        problem,
    }
}

fn optional_text(name: &str) -> Option<String> {
    required_env(name).ok()
}

fn optional<T: std::str::FromStr>(name: &str, default: T) -> Result<T, ConfigError> {
    match optional_text(name) {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|_| invalid(name, "not a valid number")),
    }
}

/// What went wrong talking to the cache. Never reaches a client: the caller falls through to
/// the store.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The breaker is open: the call was not made.
    #[error("cache breaker open")]
    Open,
    /// Redis failed or answered with an error.
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// No answer within the bound.
    #[error("redis: no answer within {0:?}")]
    Timeout(Duration),
    /// An entry did not (de)serialise.
    #[error("cache entry: {0}")]
    Json(#[from] serde_json::Error),
    /// The client cannot be set up (e.g. IAM auth without a region): every call fails.
    #[error("cache client: {0}")]
    Setup(String),
}

/// Counters of one cache instance (shared by its clones); [`CacheStats::snapshot`] reads them.
#[derive(Debug, Default)]
pub struct CacheStats {
    hits: AtomicU64,
    negative_hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    bypassed: AtomicU64,
    fills: AtomicU64,
    fills_refused: AtomicU64,
    waits: AtomicU64,
    invalidations: AtomicU64,
    generation_bumps: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStatsSnapshot {
    /// Reads answered with a cached value.
    pub hits: u64,
    /// Reads answered with a cached absence.
    pub negative_hits: u64,
    /// Reads that found nothing and took the lease (then read the store).
    pub misses: u64,
    /// Redis calls that failed or timed out.
    pub errors: u64,
    /// Redis calls not made because the breaker was open.
    pub bypassed: u64,
    /// Entries written by a lease holder.
    pub fills: u64,
    /// Fills refused because the lease was gone (an invalidation came first).
    pub fills_refused: u64,
    /// Misses that found another reader's lease and waited.
    pub waits: u64,
    /// Invalidations sent (one per write).
    pub invalidations: u64,
    /// Global generation bumps made by this instance.
    pub generation_bumps: u64,
}

/// Which counter to move.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stat {
    Hit,
    NegativeHit,
    Miss,
    Error,
    Bypassed,
    Fill,
    FillRefused,
    Wait,
    Invalidation,
    GenerationBump,
}

impl CacheStats {
    pub(crate) fn add(&self, stat: Stat) {
        let counter = match stat {
            Stat::Hit => &self.hits,
            Stat::NegativeHit => &self.negative_hits,
            Stat::Miss => &self.misses,
            Stat::Error => &self.errors,
            Stat::Bypassed => &self.bypassed,
            Stat::Fill => &self.fills,
            Stat::FillRefused => &self.fills_refused,
            Stat::Wait => &self.waits,
            Stat::Invalidation => &self.invalidations,
            Stat::GenerationBump => &self.generation_bumps,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> CacheStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStatsSnapshot {
            hits: get(&self.hits),
            negative_hits: get(&self.negative_hits),
            misses: get(&self.misses),
            errors: get(&self.errors),
            bypassed: get(&self.bypassed),
            fills: get(&self.fills),
            fills_refused: get(&self.fills_refused),
            waits: get(&self.waits),
            invalidations: get(&self.invalidations),
            generation_bumps: get(&self.generation_bumps),
        }
    }
}

/// One cached thing, before its key is built (the key needs the generations).
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    /// A product by id.
    Product(&'a ProductId),
    /// A user by id.
    User(&'a UserId),
    /// A page of the products of one category.
    ProductList {
        /// The category.
        category: &'a Category,
        /// The page size.
        limit: PageLimit,
        /// Where the page starts.
        cursor: Option<&'a Cursor>,
    },
}

impl Entry<'_> {
    /// Its key under global generation `generation` and listing generation `list_generation`
    /// (ignored by entries other than listings).
    pub fn key(&self, prefix: &str, generation: u64, list_generation: u64) -> String {
        match *self {
            Entry::Product(id) => product_key(prefix, generation, id),
            Entry::User(id) => user_key(prefix, generation, id),
            Entry::ProductList {
                category,
                limit,
                cursor,
            } => product_list_key(prefix, generation, list_generation, category, limit, cursor),
        }
    }

    /// Whether its key holds the listing generation.
    pub fn is_listing(&self) -> bool {
        matches!(self, Entry::ProductList { .. })
    }
}

/// What a [`Cache::lookup`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The entry's JSON.
    Hit(String),
    /// Nothing; this reader now holds the refill lease (its token).
    Leased,
    /// Nothing, and another reader holds the lease.
    Busy,
}

/// An entry's keys under the current generations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryKeys {
    /// Where the value is.
    pub value: String,
    /// Where its refill lease is ([`lease_key`]).
    pub lease: String,
    /// Whether a lease holder may fill it (`false` for a listing within
    /// [`CacheConfig::list_settle`] of a product write).
    pub fill_allowed: bool,
}

/// The cache as [`Cached`] uses it: the lease protocol of the module doc, in primitives.
/// Implemented by [`RedisCache`] and by [`InMemoryCache`](crate::memory::InMemoryCache).
#[async_trait::async_trait]
pub trait Cache: Send + Sync {
    /// TTLs, lease and wait bounds.
    fn config(&self) -> &CacheConfig;

    /// The counters.
    fn stats(&self) -> &CacheStats;

    /// The keys of `entry` now (reads the generations).
    ///
    /// # Errors
    /// [`CacheError`] when the cache cannot be asked.
    async fn resolve(&self, entry: Entry<'_>) -> Result<EntryKeys, CacheError>;

    /// The value, or the lease taken with `token` ([`CacheConfig::lease`]), or busy.
    ///
    /// # Errors
    /// [`CacheError`] when the cache cannot be asked.
    async fn lookup(&self, keys: &EntryKeys, token: &str) -> Result<Lookup, CacheError>;

    /// The value if present (no lease).
    ///
    /// # Errors
    /// [`CacheError`] when the cache cannot be asked.
    async fn peek(&self, keys: &EntryKeys) -> Result<Option<String>, CacheError>;

    /// Writes `value` for `ttl` only if the lease still holds `token`, and drops the lease.
    /// `Ok(false)`: the lease was gone (invalidated or expired), nothing written.
    ///
    /// # Errors
    /// [`CacheError`] when the cache cannot be asked.
    async fn fill(
        &self,
        keys: &EntryKeys,
        token: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, CacheError>;

    /// Drops the lease if it still holds `token` (the store read failed: let others fill).
    ///
    /// # Errors
    /// [`CacheError`] when the cache cannot be asked.
    async fn release(&self, keys: &EntryKeys, token: &str) -> Result<(), CacheError>;

    /// Deletes the values and leases of `entries` under the current generation (read fresh),
    /// and with `listings` bumps the listing generation.
    ///
    /// # Errors
    /// [`CacheError`] when the cache cannot be asked; the implementation then repairs it
    /// later (module doc).
    async fn invalidate(&self, entries: &[Entry<'_>], listings: bool) -> Result<(), CacheError>;

    /// Drops every entry at once by bumping the global generation (when a write cannot name
    /// what it changed).
    ///
    /// # Errors
    /// [`CacheError`] when the cache cannot be asked; repaired later as for
    /// [`Cache::invalidate`].
    async fn invalidate_all(&self) -> Result<(), CacheError>;
}

fn escape(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `<prefix>:{generation}`: the global generation.
pub fn generation_key(prefix: &str) -> String {
    format!("{prefix}:{{generation}}")
}

/// `<prefix>:{generation}:previous`: the generation before the last bump, kept for twice
/// [`CacheConfig::generation_refresh`]: instances may still read under it that long, so
/// invalidations delete under it too. Same hash tag as [`generation_key`] (one script sets both).
pub fn previous_generation_key(prefix: &str) -> String {
    format!("{prefix}:{{generation}}:previous")
}

/// `<prefix>:products:list-generation`: the product-listing generation (the time in ms of the
/// last product write).
pub fn list_generation_key(prefix: &str) -> String {
    format!("{prefix}:products:list-generation")
}

/// `<prefix>:v<PRODUCT_SCHEMA>:g<generation>:{product:<id>}`.
pub fn product_key(prefix: &str, generation: u64, id: &ProductId) -> String {
    format!(
        "{prefix}:v{PRODUCT_SCHEMA}:g{generation}:{{product:{}}}",
        escape(id.as_str())
    )
}

/// `<prefix>:v<USER_SCHEMA>:g<generation>:{user:<id>}`.
pub fn user_key(prefix: &str, generation: u64, id: &UserId) -> String {
    format!("{prefix}:v{USER_SCHEMA}:g{generation}:{{user:{id}}}")
}

/// `<prefix>:v<PRODUCT_SCHEMA>:g<generation>:l<list_generation>:{products:<category>}:<limit>:<cursor or ->`.
pub fn product_list_key(
    prefix: &str,
    generation: u64,
    list_generation: u64,
    category: &Category,
    limit: PageLimit,
    cursor: Option<&Cursor>,
) -> String {
    let cursor = cursor.map_or_else(|| "-".to_owned(), |c| escape(c.as_str()));
    format!(
        "{prefix}:v{PRODUCT_SCHEMA}:g{generation}:l{list_generation}:{{products:{category}}}:{}:{cursor}",
        limit.get()
    )
}

/// `<value key>:lease`: the refill lease of an entry (same hash tag as the value).
pub fn lease_key(value_key: &str) -> String {
    format!("{value_key}:lease")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_key_holds_the_prefix_the_schema_version_the_generation_and_a_hash_tag() {
        let id = ProductId::parse("sku-1").unwrap();

        let key = product_key("shop", 7, &id);

        assert_eq!(key, format!("shop:v{PRODUCT_SCHEMA}:g7:{{product:sku-1}}"));
        assert_eq!(lease_key(&key), format!("{key}:lease"));
        assert_ne!(product_key("shop", 8, &id), key);
    }

    #[test]
    fn a_listing_key_holds_both_generations_the_category_the_limit_and_the_cursor() {
        let category = Category::parse("books").unwrap();
        let limit = PageLimit::try_from(5).unwrap();
        let cursor = Cursor::from_client("abc");

        let first = product_list_key("p", 3, 9, &category, limit, None);
        let next = product_list_key("p", 3, 9, &category, limit, Some(&cursor));

        assert_eq!(
            first,
            format!("p:v{PRODUCT_SCHEMA}:g3:l9:{{products:books}}:5:-")
        );
        assert_eq!(
            next,
            format!("p:v{PRODUCT_SCHEMA}:g3:l9:{{products:books}}:5:abc")
        );
        assert_ne!(product_list_key("p", 3, 10, &category, limit, None), first);
    }

    #[test]
    fn a_user_key_differs_from_a_product_key_of_the_same_text() {
        let user = UserId::new();
        let product = ProductId::parse(&user.to_string()).unwrap();

        assert_ne!(user_key("shop", 1, &user), product_key("shop", 1, &product));
        assert!(user_key("shop", 1, &user).starts_with(&format!("shop:v{USER_SCHEMA}:g1:")));
    }
}
