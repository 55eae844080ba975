//! An in-memory [`Cache`]: the lease protocol on a map, for tests of [`crate::cache::Cached`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::lock;
use crate::cache::{
    Cache, CacheConfig, CacheError, CacheStats, Entry, EntryKeys, Lookup, lease_key,
};

#[derive(Debug, Default)]
struct State {
    /// Key -> (value, expiry).
    entries: HashMap<String, (String, Instant)>,
    generation: u64,
    list_generation: u64,
}

/// The cache on a map behind a mutex, with the same lease semantics as
/// [`RedisCache`](crate::cache::RedisCache); TTLs are honoured. It can be told to fail
/// ([`InMemoryCache::fail`]) like a dead Redis.
#[derive(Debug)]
pub struct InMemoryCache {
    config: CacheConfig,
    stats: CacheStats,
    state: Mutex<State>,
    failing: AtomicBool,
}

impl Default for InMemoryCache {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryCache {
    /// An empty cache with the default TTLs and bounds of [`CacheConfig::local`].
    pub fn new() -> Self {
        Self::with_config(CacheConfig::local("memory", 0))
    }

    /// An empty cache with `config`'s TTLs and bounds.
    pub fn with_config(config: CacheConfig) -> Self {
        Self {
            config,
            stats: CacheStats::default(),
            state: Mutex::new(State {
                generation: 1,
                list_generation: 1,
                ..State::default()
            }),
            failing: AtomicBool::new(false),
        }
    }

    /// From now on every call fails (`true`) or works again (`false`).
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// The live entry at `key`, if any.
    pub fn raw(&self, key: &str) -> Option<String> {
        let state = lock(&self.state);
        state
            .entries
            .get(key)
            .filter(|(_, expiry)| *expiry > Instant::now())
            .map(|(value, _)| value.clone())
    }

    /// The key `entry` has now.
    pub fn key_of(&self, entry: Entry<'_>) -> String {
        let state = lock(&self.state);
        entry.key(
            &self.config.key_prefix,
            state.generation,
            state.list_generation,
        )
    }

    /// The global generation.
    pub fn generation(&self) -> u64 {
        lock(&self.state).generation
    }

    fn check(&self) -> Result<(), CacheError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(CacheError::Setup("injected cache failure".to_owned()));
        }
        Ok(())
    }
}

impl State {
    fn live(&mut self, key: &str) -> Option<String> {
        let now = Instant::now();
        match self.entries.get(key) {
            Some((value, expiry)) if *expiry > now => Some(value.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }
}

#[async_trait]
impl Cache for InMemoryCache {
    fn config(&self) -> &CacheConfig {
        &self.config
    }

    fn stats(&self) -> &CacheStats {
        &self.stats
    }

    async fn resolve(&self, entry: Entry<'_>) -> Result<EntryKeys, CacheError> {
        self.check()?;
        let value = self.key_of(entry);
        Ok(EntryKeys {
            lease: lease_key(&value),
            value,
            fill_allowed: true,
        })
    }

    async fn lookup(&self, keys: &EntryKeys, token: &str) -> Result<Lookup, CacheError> {
        self.check()?;
        let mut state = lock(&self.state);
        if let Some(value) = state.live(&keys.value) {
            return Ok(Lookup::Hit(value));
        }
        if state.live(&keys.lease).is_some() {
            return Ok(Lookup::Busy);
        }
        let expiry = Instant::now() + self.config.lease;
        state
            .entries
            .insert(keys.lease.clone(), (token.to_owned(), expiry));
        Ok(Lookup::Leased)
    }

    async fn peek(&self, keys: &EntryKeys) -> Result<Option<String>, CacheError> {
        self.check()?;
        Ok(lock(&self.state).live(&keys.value))
    }

    async fn fill(
        &self,
        keys: &EntryKeys,
        token: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        self.check()?;
        let mut state = lock(&self.state);
        if state.live(&keys.lease).as_deref() != Some(token) {
            return Ok(false);
        }
        state.entries.remove(&keys.lease);
        state
            .entries
            .insert(keys.value.clone(), (value.to_owned(), Instant::now() + ttl));
        Ok(true)
    }

    async fn release(&self, keys: &EntryKeys, token: &str) -> Result<(), CacheError> {
        self.check()?;
        let mut state = lock(&self.state);
        if state.live(&keys.lease).as_deref() == Some(token) {
            state.entries.remove(&keys.lease);
        }
        Ok(())
    }

    async fn invalidate(&self, entries: &[Entry<'_>], listings: bool) -> Result<(), CacheError> {
        self.stats.add(crate::cache::Stat::Invalidation);
        self.check()?;
        let mut state = lock(&self.state);
        for entry in entries {
            let value = entry.key(&self.config.key_prefix, state.generation, 0);
            state.entries.remove(&lease_key(&value));
            state.entries.remove(&value);
        }
        if listings {
            state.list_generation += 1;
        }
        Ok(())
    }

    async fn invalidate_all(&self) -> Result<(), CacheError> {
        self.check()?;
        lock(&self.state).generation += 1;
        Ok(())
    }
}
