//! [`RedisCache`]: the lease protocol of the module doc on Redis, behind a breaker.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisResult, Script};

use super::iam::IamCredentials;
use super::{
    Cache, CacheAuth, CacheConfig, CacheError, CacheStats, Entry, EntryKeys, Lookup, Stat,
    generation_key, lease_key, list_generation_key, previous_generation_key,
};
use crate::breaker::{Breaker, Recovery};
use crate::config::ConfigError;
use crate::error::Error;
use crate::sync::lock;

/// KEYS: value, lease; ARGV: token, lease ms. `{1, value}` (hit), `{2, ''}` (lease taken),
/// `{3, ''}` (another reader's lease).
static LOOKUP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2, ''} end
return {3, ''}",
    )
});

/// KEYS: value, lease; ARGV: token, value, ttl ms. 1 when written, 0 when the lease is gone.
static FILL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0",
    )
});

/// KEYS: lease; ARGV: token. Drops the lease if it is still ours.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0",
    )
});

/// KEYS: a generation; ARGV: now in ms. Its value, set to now when missing.
static GENERATION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local g = redis.call('GET', KEYS[1])
if not g then
  redis.call('SET', KEYS[1], ARGV[1])
  g = ARGV[1]
end
return tonumber(g)",
    )
});

/// KEYS: a generation; ARGV: now in ms. Sets it to max(value + 1, now) and returns it.
const BUMP_LUA: &str = r"local g = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = math.max(g + 1, tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%.0f', n))
return n";
/// Bumps the global generation (`KEYS[1]`) like [`BUMP_LUA`] and keeps the one it replaces
/// in `KEYS[2]` for `ARGV[2]` ms (instances read under it until their copy is refreshed).
const GENERATION_BUMP_LUA: &str = r"local g = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = math.max(g + 1, tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%.0f', n))
if g > 0 then redis.call('SET', KEYS[2], string.format('%.0f', g), 'PX', ARGV[2]) end
return n";
static BUMP: LazyLock<Script> = LazyLock::new(|| Script::new(GENERATION_BUMP_LUA));

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The cache on Redis: one multiplexed connection per instance (redis-rs
/// [`ConnectionManager`], reconnecting), opened on first use, every call bounded and behind a
/// per-instance [`Breaker`]. Cheap to clone (an `Arc` inside); clones share the connection,
/// the breaker and the counters.
#[derive(Clone)]
pub struct RedisCache {
    inner: Arc<Inner>,
}

struct Inner {
    config: CacheConfig,
    /// `Err`: IAM auth was asked for but cannot work (logged once, every call fails).
    iam: Result<Option<IamCredentials>, String>,
    manager: Mutex<Option<ConnectionManager>>,
    breaker: Breaker,
    stats: CacheStats,
    /// The local copy of the global generation and when it was read.
    generation: Mutex<Option<(u64, Instant)>>,
    /// An invalidation was missed or the breaker opened: bump the generation first.
    needs_bump: AtomicBool,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("config", &self.inner.config)
            .field("breaker", &self.inner.breaker.state())
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A cache for `config`, authenticating (with `CACHE_AUTH=iam`) with `sdk`'s region and
    /// credentials. Never connects and never fails: the connection opens on first use, and a
    /// setup problem (IAM without a region) makes every call fail, logged.
    pub fn new(config: CacheConfig, sdk: &SdkConfig) -> Self {
        let iam = match &config.auth {
            CacheAuth::None => Ok(None),
            CacheAuth::Iam { cache_name, user } => IamCredentials::new(cache_name, user, sdk)
                .map(Some)
                .map_err(|e| {
                    tracing::error!(error = %e.chain(), "the cache cannot authenticate; running without it");
                    e.chain()
                }),
        };
        Self {
            inner: Arc::new(Inner {
                breaker: Breaker::new(config.breaker).named("cache"),
                config,
                iam,
                manager: Mutex::new(None),
                stats: CacheStats::default(),
                generation: Mutex::new(None),
                needs_bump: AtomicBool::new(false),
            }),
        }
    }

    /// [`RedisCache::new`] on [`CacheConfig::from_env`]; `None` when `CACHE_ENDPOINT` is unset.
    ///
    /// # Errors
    /// [`ConfigError`] naming a `CACHE_*` variable that does not parse.
    pub async fn from_env(sdk: &SdkConfig) -> Result<Option<Self>, ConfigError> {
        Ok(CacheConfig::from_env()?.map(|config| Self::new(config, sdk)))
    }

    /// Round trip of a `PING`, for readiness; bounded by the timeouts, refused at once while
    /// the breaker is open.
    ///
    /// # Errors
    /// [`Error::ServiceUnavailable`] when Redis does not answer.
    pub async fn ping(&self) -> Result<Duration, Error> {
        let start = Instant::now();
        self.run(
            |mut conn| async move { redis::cmd("PING").query_async::<String>(&mut conn).await },
        )
        .await
        .map(|_| start.elapsed())
        .map_err(|e| Error::ServiceUnavailable(format!("cache: {e}")))
    }

    /// The counters of this instance.
    pub fn stats(&self) -> &CacheStats {
        &self.inner.stats
    }

    /// The breaker's state (for tests and readiness).
    pub fn breaker_state(&self) -> crate::breaker::BreakerState {
        self.inner.breaker.state()
    }

    /// The global generation as Redis has it now (not the local copy).
    ///
    /// # Errors
    /// [`CacheError`] when Redis cannot be asked.
    pub async fn current_generation(&self) -> Result<u64, CacheError> {
        let key = generation_key(&self.inner.config.key_prefix);
        let generation = self
            .run(|mut conn| {
                let key = key.clone();
                async move { read_generation(&mut conn, key).await }
            })
            .await?;
        self.remember(generation);
        Ok(generation)
    }

    fn remember(&self, generation: u64) {
        *lock(&self.inner.generation) = Some((generation, Instant::now()));
    }

    /// The global generation through the local copy.
    async fn generation(&self) -> Result<u64, CacheError> {
        if !self.inner.needs_bump.load(Ordering::SeqCst)
            && let Some((generation, at)) = *lock(&self.inner.generation)
            && at.elapsed() < self.inner.config.generation_refresh
        {
            return Ok(generation);
        }
        self.current_generation().await
    }

    fn connection(&self) -> Result<ConnectionManager, CacheError> {
        let mut manager = lock(&self.inner.manager);
        if let Some(manager) = manager.as_ref() {
            return Ok(manager.clone());
        }
        let config = &self.inner.config;
        let scheme = if config.tls { "rediss" } else { "redis" };
        let client = Client::open(format!("{scheme}://{}:{}", config.endpoint, config.port))?;
        let mut settings = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.response_timeout))
            // The breaker decides when to try again; a request never waits for retries.
            .set_number_of_retries(0);
        match &self.inner.iam {
            Ok(Some(iam)) => settings = settings.set_credentials_provider(iam.clone()),
            Ok(None) => {}
            Err(problem) => return Err(CacheError::Setup(problem.clone())),
        }
        let created = ConnectionManager::new_lazy_with_config(client, settings)?;
        *manager = Some(created.clone());
        Ok(created)
    }

    /// Runs `call` on the connection, bounded, behind the breaker; bumps the generation first
    /// when one is owed.
    async fn run<T, F, Fut>(&self, call: F) -> Result<T, CacheError>
    where
        F: Fn(ConnectionManager) -> Fut + Send + Sync,
        Fut: Future<Output = RedisResult<T>> + Send,
    {
        let inner = &self.inner;
        let Some(permit) = inner.breaker.try_acquire() else {
            inner.stats.add(Stat::Bypassed);
            return Err(CacheError::Open);
        };
        let bound = inner.config.connect_timeout + inner.config.response_timeout * 3;
        let attempt = async {
            let mut conn = self.connection()?;
            if inner.needs_bump.swap(false, Ordering::SeqCst) {
                let key = generation_key(&inner.config.key_prefix);
                match BUMP
                    .key(&key)
                    .key(previous_generation_key(&inner.config.key_prefix))
                    .arg(now_ms())
                    .arg(millis(inner.config.generation_refresh * 2))
                    .invoke_async::<u64>(&mut conn)
                    .await
                {
                    Ok(generation) => {
                        inner.stats.add(Stat::GenerationBump);
                        self.remember(generation);
                        tracing::info!(
                            cache.op = "bump",
                            cache.key = %key,
                            generation,
                            "cache generation bumped: entries that missed invalidations are dropped"
                        );
                    }
                    Err(e) => {
                        inner.needs_bump.store(true, Ordering::SeqCst);
                        return Err(CacheError::from(e));
                    }
                }
            }
            match call(conn.clone()).await {
                // A connection Redis dropped (it restarted, or closed an idle connection)
                // fails its first command; the manager reconnects for the next: try once more.
                Err(e) if e.is_connection_dropped() || e.is_io_error() => {
                    call(conn).await.map_err(CacheError::from)
                }
                other => other.map_err(CacheError::from),
            }
        };
        let result = match tokio::time::timeout(bound, attempt).await {
            Ok(result) => result,
            Err(_) => Err(CacheError::Timeout(bound)),
        };
        match result {
            Ok(value) => {
                if inner.breaker.succeeded(permit) == Recovery::Recovered {
                    tracing::info!("cache reachable again: breaker closed");
                }
                Ok(value)
            }
            Err(e) => {
                inner.stats.add(Stat::Error);
                if inner.breaker.failed(permit) {
                    inner.needs_bump.store(true, Ordering::SeqCst);
                    tracing::warn!(
                        cache.op = "breaker",
                        cache.outcome = "error",
                        open_for_ms = millis(inner.config.breaker.open_for),
                        error = %e,
                        "cache breaker opened: reads go to the store"
                    );
                }
                Err(e)
            }
        }
    }
}

async fn read_generation(conn: &mut ConnectionManager, key: String) -> RedisResult<u64> {
    GENERATION.key(key).arg(now_ms()).invoke_async(conn).await
}

#[async_trait]
impl Cache for RedisCache {
    fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    fn stats(&self) -> &CacheStats {
        &self.inner.stats
    }

    async fn resolve(&self, entry: Entry<'_>) -> Result<EntryKeys, CacheError> {
        let config = &self.inner.config;
        let generation = self.generation().await?;
        let (list_generation, fill_allowed) = if entry.is_listing() {
            let key = list_generation_key(&config.key_prefix);
            let list_generation = self
                .run(|mut conn| {
                    let key = key.clone();
                    async move { read_generation(&mut conn, key).await }
                })
                .await?;
            let since_write = now_ms().saturating_sub(list_generation);
            (list_generation, since_write >= millis(config.list_settle))
        } else {
            (0, true)
        };
        let value = entry.key(&config.key_prefix, generation, list_generation);
        Ok(EntryKeys {
            lease: lease_key(&value),
            value,
            fill_allowed,
        })
    }

    async fn lookup(&self, keys: &EntryKeys, token: &str) -> Result<Lookup, CacheError> {
        let lease_ms = millis(self.inner.config.lease);
        let (kind, value): (i64, String) = self
            .run(|mut conn| async move {
                LOOKUP
                    .key(&keys.value)
                    .key(&keys.lease)
                    .arg(token)
                    .arg(lease_ms)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(match kind {
            1 => Lookup::Hit(value),
            2 => Lookup::Leased,
            _ => Lookup::Busy,
        })
    }

    async fn peek(&self, keys: &EntryKeys) -> Result<Option<String>, CacheError> {
        self.run(|mut conn| async move {
            redis::cmd("GET")
                .arg(&keys.value)
                .query_async(&mut conn)
                .await
        })
        .await
    }

    async fn fill(
        &self,
        keys: &EntryKeys,
        token: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let written: i64 = self
            .run(|mut conn| async move {
                FILL.key(&keys.value)
                    .key(&keys.lease)
                    .arg(token)
                    .arg(value)
                    .arg(millis(ttl))
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(written == 1)
    }

    async fn release(&self, keys: &EntryKeys, token: &str) -> Result<(), CacheError> {
        self.run(|mut conn| async move {
            RELEASE
                .key(&keys.lease)
                .arg(token)
                .invoke_async::<i64>(&mut conn)
                .await
        })
        .await
        .map(|_| ())
    }

    async fn invalidate(&self, entries: &[Entry<'_>], listings: bool) -> Result<(), CacheError> {
        self.inner.stats.add(Stat::Invalidation);
        let prefix = self.inner.config.key_prefix.clone();
        let entries: Vec<Entry<'_>> = entries.to_vec();
        let result = self
            .run(|mut conn| {
                let (prefix, entries) = (prefix.clone(), entries.clone());
                async move {
                    let generation = read_generation(&mut conn, generation_key(&prefix)).await?;
                    // Instances that have not yet seen a recent bump still read under the
                    // generation before it: delete there too.
                    let previous: Option<u64> = redis::cmd("GET")
                        .arg(previous_generation_key(&prefix))
                        .query_async(&mut conn)
                        .await?;
                    let mut pipe = redis::pipe();
                    for g in
                        std::iter::once(generation).chain(previous.filter(|p| *p != generation))
                    {
                        for entry in &entries {
                            let value = entry.key(&prefix, g, 0);
                            pipe.del(&[lease_key(&value), value]).ignore();
                        }
                    }
                    if listings {
                        pipe.cmd("EVAL")
                            .arg(BUMP_LUA)
                            .arg(1)
                            .arg(list_generation_key(&prefix))
                            .arg(now_ms())
                            .ignore();
                    }
                    pipe.query_async::<()>(&mut conn).await
                }
            })
            .await;
        if result.is_err() {
            // Repaired by the generation bump of this instance's next successful call.
            self.inner.needs_bump.store(true, Ordering::SeqCst);
        }
        result
    }

    async fn invalidate_all(&self) -> Result<(), CacheError> {
        self.inner.stats.add(Stat::Invalidation);
        // The bump is owed; the call below pays it first (and on failure it stays owed).
        self.inner.needs_bump.store(true, Ordering::SeqCst);
        self.run(
            |mut conn| async move { redis::cmd("PING").query_async::<String>(&mut conn).await },
        )
        .await
        .map(|_| ())
    }
}
