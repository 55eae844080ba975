//! [`Cached`]: cache-aside around a store, implementing the store's own ports (module doc of
//! [`crate::cache`] for the protocol and its guarantee).
//!
//! Metrics ([`crate::metrics`]): `CacheHits` per read the cache answered (a cached absence
//! included), `CacheMisses` per read that went to the store (leased, or after waiting for
//! another reader's fill in vain), `CacheErrors` per failed cache call (an open cache breaker
//! is a bypass, not an error).

use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Cache, CacheError, Entry, EntryKeys, Lookup, RedisCache, Stat};
use crate::domain::{
    Category, ExpectedVersion, OrderId, Product, ProductChanges, ProductId, StockDelta, User,
    UserChanges, UserId,
};
use crate::error::Error;
use crate::events::{Envelope, OrderPlaced};
use crate::metrics::{self, Metric};
use crate::ports::{
    Cursor, Page, PageLimit, ProductDeleter, ProductLister, ProductReader, ProductUpdater,
    ProductWriter, ReleaseOutcome, ReserveOutcome, StockAdjuster, StockReservations, UserDeleter,
    UserReader, UserUpdater, UserWriter,
};

/// A store `S` with a cache `C` in front: implements the read ports cache-aside and the write
/// ports with invalidation after the inner call (`Ok` or `Err`). Without a cache (`None`)
/// every call goes straight to `S`.
#[derive(Debug, Clone)]
pub struct Cached<S, C = RedisCache> {
    inner: S,
    cache: Option<C>,
}

impl<S, C: Cache> Cached<S, C> {
    /// `inner` behind `cache` (`None`: pass-through).
    pub fn new(inner: S, cache: Option<C>) -> Self {
        Self { inner, cache }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The cache, if any.
    pub fn cache(&self) -> Option<&C> {
        self.cache.as_ref()
    }
}

/// Names the products of a reservation, so that a release can invalidate them: the release
/// event (`OrderCancelled`) carries only the order id.
#[async_trait]
pub trait ReservationProducts: Send + Sync {
    /// The products reservation `order_id` holds or held; empty when there is none.
    ///
    /// # Errors
    /// [`Error::Internal`] (or [`Error::ServiceUnavailable`]) when the store fails.
    async fn reservation_products(&self, order_id: OrderId) -> Result<Vec<ProductId>, Error>;
}

#[async_trait]
impl ReservationProducts for crate::aws::DynamoReservations {
    /// `GetItem` (consistent) of the reservation.
    async fn reservation_products(&self, order_id: OrderId) -> Result<Vec<ProductId>, Error> {
        Ok(self
            .find(order_id)
            .await?
            .map(|r| r.items.into_iter().map(|line| line.product_id).collect())
            .unwrap_or_default())
    }
}

fn warn(op: &'static str, key: &str, error: &CacheError) {
    match error {
        CacheError::Open => {
            tracing::debug!(
                cache.op = op,
                cache.key = key,
                cache.outcome = "bypass",
                "cache breaker open"
            );
        }
        error => {
            metrics::incr(Metric::CacheErrors);
            tracing::warn!(cache.op = op, cache.key = key, cache.outcome = "error", error = %error, "cache error; using the store");
        }
    }
}

fn outcome(op: &'static str, key: &str, outcome: &'static str) {
    tracing::debug!(
        cache.op = op,
        cache.key = key,
        cache.outcome = outcome,
        "cache {outcome}"
    );
}

/// Cache-aside read of `entry`; `load` reads the store. `negative_ttl`: cache an absence for
/// that long (`None`: never absent, e.g. a page).
async fn read_through<T, C, F, Fut>(
    cache: &C,
    op: &'static str,
    entry: Entry<'_>,
    ttl: Duration,
    negative_ttl: Option<Duration>,
    load: F,
) -> Result<Option<T>, Error>
where
    T: Serialize + DeserializeOwned + Send,
    C: Cache,
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = Result<Option<T>, Error>> + Send,
{
    let keys = match cache.resolve(entry).await {
        Ok(keys) => keys,
        Err(e) => {
            warn(op, "-", &e);
            return load().await;
        }
    };
    let token = uuid::Uuid::new_v4().to_string();
    match cache.lookup(&keys, &token).await {
        Ok(Lookup::Hit(json)) => match decoded(cache, op, &keys, &json) {
            Some(value) => Ok(value),
            None => load().await,
        },
        Ok(Lookup::Leased) => {
            cache.stats().add(Stat::Miss);
            metrics::incr(Metric::CacheMisses);
            outcome(op, &keys.value, "miss");
            let loaded = load().await;
            let fill = match &loaded {
                Ok(Some(value)) if keys.fill_allowed => Some((serde_json::to_string(value), ttl)),
                Ok(None) if keys.fill_allowed => negative_ttl.map(|t| (Ok("null".to_owned()), t)),
                _ => None,
            };
            match fill {
                Some((Ok(json), ttl)) => match cache.fill(&keys, &token, &json, ttl).await {
                    Ok(true) => cache.stats().add(Stat::Fill),
                    Ok(false) => {
                        cache.stats().add(Stat::FillRefused);
                        outcome(op, &keys.value, "fill_refused");
                    }
                    Err(e) => warn(op, &keys.value, &e),
                },
                Some((Err(e), _)) => {
                    warn(op, &keys.value, &CacheError::Json(e));
                    release(cache, op, &keys, &token).await;
                }
                None => release(cache, op, &keys, &token).await,
            }
            loaded
        }
        Ok(Lookup::Busy) => {
            cache.stats().add(Stat::Wait);
            outcome(op, &keys.value, "wait");
            if let Some(value) = wait_for_fill(cache, op, &keys).await {
                return Ok(value);
            }
            metrics::incr(Metric::CacheMisses);
            load().await
        }
        Err(e) => {
            warn(op, &keys.value, &e);
            load().await
        }
    }
}

/// Decodes a hit (`null` = a cached absence); `None` (logged) when it does not decode.
fn decoded<T: DeserializeOwned, C: Cache>(
    cache: &C,
    op: &'static str,
    keys: &EntryKeys,
    json: &str,
) -> Option<Option<T>> {
    match serde_json::from_str::<Option<T>>(json) {
        Ok(Some(value)) => {
            cache.stats().add(Stat::Hit);
            metrics::incr(Metric::CacheHits);
            outcome(op, &keys.value, "hit");
            Some(Some(value))
        }
        Ok(None) => {
            cache.stats().add(Stat::NegativeHit);
            metrics::incr(Metric::CacheHits);
            outcome(op, &keys.value, "negative_hit");
            Some(None)
        }
        Err(e) => {
            warn(op, &keys.value, &CacheError::Json(e));
            None
        }
    }
}

/// Polls for another reader's fill; `None` when none came within the bound.
async fn wait_for_fill<T: DeserializeOwned, C: Cache>(
    cache: &C,
    op: &'static str,
    keys: &EntryKeys,
) -> Option<Option<T>> {
    let config = cache.config();
    let deadline = Instant::now() + config.wait_for_fill;
    while Instant::now() < deadline {
        tokio::time::sleep(config.poll_every).await;
        match cache.peek(keys).await {
            Ok(Some(json)) => return decoded(cache, op, keys, &json),
            Ok(None) => {}
            Err(e) => {
                warn(op, &keys.value, &e);
                return None;
            }
        }
    }
    None
}

async fn release<C: Cache>(cache: &C, op: &'static str, keys: &EntryKeys, token: &str) {
    if let Err(e) = cache.release(keys, token).await {
        warn(op, &keys.lease, &e);
    }
}

impl<S: Send + Sync, C: Cache> Cached<S, C> {
    /// Invalidates `entries` (and with `listings` every listing page) after a write.
    async fn invalidate(&self, op: &'static str, entries: &[Entry<'_>], listings: bool) {
        let Some(cache) = &self.cache else {
            return;
        };
        match cache.invalidate(entries, listings).await {
            Ok(()) => outcome(op, "-", "invalidated"),
            Err(e) => warn(op, "-", &e),
        }
    }
}

#[async_trait]
impl<S: ProductReader, C: Cache> ProductReader for Cached<S, C> {
    async fn get(&self, id: &ProductId) -> Result<Option<Product>, Error> {
        let Some(cache) = &self.cache else {
            return self.inner.get(id).await;
        };
        let config = cache.config();
        read_through(
            cache,
            "get_product",
            Entry::Product(id),
            config.item_ttl,
            Some(config.negative_ttl),
            || self.inner.get(id),
        )
        .await
    }
}

#[async_trait]
impl<S: UserReader, C: Cache> UserReader for Cached<S, C> {
    async fn get(&self, id: &UserId) -> Result<Option<User>, Error> {
        let Some(cache) = &self.cache else {
            return self.inner.get(id).await;
        };
        let config = cache.config();
        read_through(
            cache,
            "get_user",
            Entry::User(id),
            config.item_ttl,
            Some(config.negative_ttl),
            || self.inner.get(id),
        )
        .await
    }
}

#[async_trait]
impl<S: ProductLister, C: Cache> ProductLister for Cached<S, C> {
    /// Cached per `(category, limit, cursor)` when a category is given; otherwise the store's.
    async fn list(
        &self,
        category: Option<&Category>,
        limit: PageLimit,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Product>, Error> {
        let (Some(cache), Some(category)) = (&self.cache, category) else {
            return self.inner.list(category, limit, cursor).await;
        };
        let entry = Entry::ProductList {
            category,
            limit,
            cursor,
        };
        let load = || async {
            self.inner
                .list(Some(category), limit, cursor)
                .await
                .map(Some)
        };
        let page = read_through(
            cache,
            "list_products",
            entry,
            cache.config().list_ttl,
            None,
            load,
        )
        .await?;
        match page {
            Some(page) => Ok(page),
            // Only a corrupt `null` entry could get here; read the store.
            None => self.inner.list(Some(category), limit, cursor).await,
        }
    }
}

#[async_trait]
impl<S: ProductWriter, C: Cache> ProductWriter for Cached<S, C> {
    /// Then clears the id's negative entry and every listing.
    async fn insert(&self, product: &Product) -> Result<(), Error> {
        let result = self.inner.insert(product).await;
        self.invalidate("insert_product", &[Entry::Product(&product.id)], true)
            .await;
        result
    }
}

#[async_trait]
impl<S: ProductUpdater, C: Cache> ProductUpdater for Cached<S, C> {
    async fn update(
        &self,
        id: &ProductId,
        precondition: ExpectedVersion,
        changes: &ProductChanges,
    ) -> Result<Product, Error> {
        let result = self.inner.update(id, precondition, changes).await;
        self.invalidate("update_product", &[Entry::Product(id)], true)
            .await;
        result
    }
}

#[async_trait]
impl<S: ProductDeleter, C: Cache> ProductDeleter for Cached<S, C> {
    async fn delete(&self, id: &ProductId) -> Result<(), Error> {
        let result = self.inner.delete(id).await;
        self.invalidate("delete_product", &[Entry::Product(id)], true)
            .await;
        result
    }
}

#[async_trait]
impl<S: StockAdjuster, C: Cache> StockAdjuster for Cached<S, C> {
    async fn adjust(&self, id: &ProductId, delta: StockDelta) -> Result<Product, Error> {
        let result = self.inner.adjust(id, delta).await;
        self.invalidate("adjust_stock", &[Entry::Product(id)], true)
            .await;
        result
    }
}

#[async_trait]
impl<S: UserWriter, C: Cache> UserWriter for Cached<S, C> {
    /// Then clears the id's negative entry.
    async fn insert(&self, user: &User) -> Result<(), Error> {
        let result = self.inner.insert(user).await;
        self.invalidate("insert_user", &[Entry::User(&user.id)], false)
            .await;
        result
    }
}

#[async_trait]
impl<S: UserUpdater, C: Cache> UserUpdater for Cached<S, C> {
    async fn update(
        &self,
        id: &UserId,
        expected: ExpectedVersion,
        changes: &UserChanges,
    ) -> Result<User, Error> {
        let result = self.inner.update(id, expected, changes).await;
        self.invalidate("update_user", &[Entry::User(id)], false)
            .await;
        result
    }
}

#[async_trait]
impl<S: UserDeleter, C: Cache> UserDeleter for Cached<S, C> {
    async fn delete(&self, id: &UserId, expected: ExpectedVersion) -> Result<(), Error> {
        let result = self.inner.delete(id, expected).await;
        self.invalidate("delete_user", &[Entry::User(id)], false)
            .await;
        result
    }
}

#[async_trait]
impl<S: StockReservations + ReservationProducts, C: Cache> StockReservations for Cached<S, C> {
    /// Then invalidates every product of the order (their stock may have changed).
    async fn reserve(
        &self,
        envelope: &Envelope,
        placed: &OrderPlaced,
    ) -> Result<ReserveOutcome, Error> {
        let result = self.inner.reserve(envelope, placed).await;
        let ids: Vec<ProductId> = placed
            .items
            .iter()
            .map(|item| item.product_id().clone())
            .collect();
        let entries: Vec<Entry<'_>> = ids.iter().map(Entry::Product).collect();
        self.invalidate("reserve_stock", &entries, true).await;
        result
    }

    /// Then, when stock may have come back (`Released` or an error), invalidates every
    /// product of the reservation, read from the store ([`ReservationProducts`]); when that
    /// read fails, the whole cache (generation bump).
    async fn release(
        &self,
        envelope: &Envelope,
        order_id: OrderId,
    ) -> Result<ReleaseOutcome, Error> {
        let result = self.inner.release(envelope, order_id).await;
        if self.cache.is_none()
            || matches!(result, Ok(ref outcome) if *outcome != ReleaseOutcome::Released)
        {
            return result;
        }
        match self.inner.reservation_products(order_id).await {
            Ok(ids) => {
                let entries: Vec<Entry<'_>> = ids.iter().map(Entry::Product).collect();
                self.invalidate("release_stock", &entries, true).await;
            }
            Err(e) => {
                tracing::warn!(
                    cache.op = "release_stock",
                    cache.outcome = "error",
                    error = %e.chain(),
                    "cannot name the released products; dropping the whole cache"
                );
                if let Some(cache) = &self.cache
                    && let Err(e) = cache.invalidate_all().await
                {
                    warn("release_stock", "-", &e);
                }
            }
        }
        result
    }
}
