//! The cache: reads, writes and their policies. The parts live in files of their own:
//! `builder` (settings), `store` (the values held and eviction), `flight` (single flight,
//! stale-if-error), `derived` (values computed from a raw value).

mod ahead;
mod builder;
mod derived;
mod flight;
mod store;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

pub use builder::CacheBuilder;
use builder::{Config, JITTER_ONE};
use store::{Erased, Store, Stored, Writer};

use crate::clock::{Clock, Instant, duration_nanos};
use crate::entry::{Entry, Fetched, Inner, Validator};
use crate::error::{CacheError, LoadError};
use crate::key::{Key, Lookup, OwnedKey};
use crate::policy::{Policy, StaleIfError};
use crate::stats::{Counters, Stats};

/// The service name under which [`Cache::get_or_load`] keys its values.
pub const GENERIC_SERVICE: &str = "generic";

/// A concurrent keyed cache of values fetched from any backend.
///
/// Cloning is cheap and clones share the same entries. Reads name a [`Key`], a [`Policy`] and a
/// loader; the loader runs only when no fresh value is held, and at most once at a time per key
/// (concurrent readers wait for the running fetch and share its result). Errors are never
/// stored; a failed refresh leaves the previous value in place.
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_core::Cache;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cache = Cache::builder().capacity(100).build()?;
/// let users = cache
///     .get_or_load("users", Duration::from_secs(60), || async {
///         Ok::<_, std::io::Error>(vec!["ada", "grace"])
///     })
///     .await?;
/// assert_eq!(users.len(), 2);
/// // A second read within max_age is answered from memory.
/// let again = cache
///     .get_or_load("users", Duration::from_secs(60), || async {
///         Ok::<_, std::io::Error>(vec!["never", "called"])
///     })
///     .await?;
/// assert_eq!(again[0], "ada");
/// assert_eq!(cache.stats().fetches, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Cache {
    shared: Arc<Shared>,
}

struct Shared {
    /// The values held, readable without a lock, and the writers' state behind one.
    store: Store,
    clock: Clock,
    config: Config,
    counters: Counters,
    next_flight: AtomicU64,
    #[cfg(feature = "shared")]
    tier: Option<Arc<dyn crate::shared::SharedTier>>,
}

/// The future of [`Cache::get_or_fetch`]: a hit already answered, or the boxed miss path.
enum Answer<V, M> {
    Hit(Option<Entry<V>>),
    Miss(Pin<Box<M>>),
}

impl<V, E, M: Future<Output = Result<Entry<V>, E>>> Future for Answer<V, M> {
    type Output = Result<Entry<V>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `Answer` is `Unpin`: an `Entry` is a pointer and the miss future is boxed.
        match self.get_mut() {
            Answer::Hit(entry) => match entry.take() {
                Some(entry) => Poll::Ready(Ok(entry)),
                None => panic!("Cache::get_or_fetch polled after it completed"),
            },
            Answer::Miss(miss) => miss.as_mut().poll(cx),
        }
    }
}

impl Cache {
    /// The default capacity in entries.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// How long a background refresh may run by default before it is given up (see
    /// [`CacheBuilder::refresh_timeout`]).
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Cache::DEFAULT_REFRESH_TIMEOUT.as_secs(), 10);
    /// ```
    pub const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(10);

    /// The largest capacity a cache accepts: 1,048,576 entries. A cache sets aside 8 bytes per
    /// entry of capacity when built (8 MiB at this bound), so a setting read from the
    /// environment cannot reserve memory without end by mistake; a larger one is refused with
    /// [`ConfigError::CapacityTooLarge`](crate::ConfigError::CapacityTooLarge).
    ///
    /// ```
    /// use lambda_cache_core::{Cache, ConfigError};
    /// assert!(Cache::builder().capacity(Cache::MAX_CAPACITY).build().is_ok());
    /// assert_eq!(
    ///     Cache::builder().capacity(Cache::MAX_CAPACITY + 1).build().unwrap_err(),
    ///     ConfigError::CapacityTooLarge(Cache::MAX_CAPACITY + 1)
    /// );
    /// ```
    pub const MAX_CAPACITY: usize = 1 << 20;

    /// Starts configuring a cache.
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder().build().unwrap();
    /// assert!(cache.is_empty());
    /// ```
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// The process-wide cache that the service crates' free functions (`ssm::get_entry` and the
    /// like) use: default settings, real clock, built on first use.
    ///
    /// ```
    /// let a = lambda_cache_core::Cache::global();
    /// let b = lambda_cache_core::Cache::global();
    /// assert!(a.same_as(b));
    /// ```
    pub fn global() -> &'static Cache {
        static GLOBAL: once_cell::sync::Lazy<Cache> = once_cell::sync::Lazy::new(|| {
            Cache::builder()
                .build()
                .unwrap_or_else(|error| unreachable!("the default settings are valid: {error}"))
        });
        &GLOBAL
    }

    /// True if `other` is this cache or a clone of it.
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder().build().unwrap();
    /// assert!(cache.same_as(&cache.clone()));
    /// ```
    pub fn same_as(&self, other: &Cache) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The cache's clock.
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder().build().unwrap();
    /// let _now = cache.clock().now();
    /// ```
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The value under `key` if one is held that satisfies `max_age`, without fetching.
    ///
    /// This is the hit path: no lock, no allocation, no await, and no write to memory that
    /// other readers share but the value's own reference count.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, Key};
    /// let cache = Cache::builder().build().unwrap();
    /// assert!(cache.get_fresh::<String>(Key::new("generic", "x"), Duration::from_secs(60)).is_none());
    /// ```
    #[inline]
    pub fn get_fresh<V: Send + Sync + 'static>(
        &self,
        key: Key<'_>,
        max_age: Duration,
    ) -> Option<Entry<V>> {
        self.hit(&Lookup::raw::<V>(key), max_age)
    }

    /// A fresh value under `lookup`, counted as a hit: the hit path of every read.
    #[inline]
    fn hit<V: Send + Sync + 'static>(
        &self,
        lookup: &Lookup<'_>,
        max_age: Duration,
    ) -> Option<Entry<V>> {
        let entry = self.lookup_fresh(lookup, max_age, self.shared.clock.now());
        if entry.is_some() {
            self.shared.counters.hits.inc();
        }
        entry
    }

    fn lookup_fresh<V: Send + Sync + 'static>(
        &self,
        lookup: &Lookup<'_>,
        max_age: Duration,
        now: Instant,
    ) -> Option<Entry<V>> {
        let erased = self.shared.store.read(lookup, |stored| {
            if !is_fresh(stored, max_age, now) {
                return None;
            }
            stored.touch(now);
            Some(Arc::clone(&stored.entry))
        })??;
        erased.downcast::<Inner<V>>().ok().map(Entry::from_inner)
    }

    /// The value under `key`: from memory if one is held that satisfies the policy's max_age,
    /// otherwise from `fetch`, which is handed the previous entry (for revalidation) and runs at
    /// most once at a time per key. Concurrent readers of a key being fetched wait for that fetch
    /// and share its result, error included.
    ///
    /// A hit is looked up when this is called, not when the future is first polled: the
    /// future is then a ready answer of two words (the service crates call this from inside
    /// their own `async fn`s, so for their users the lookup happens at the first poll). A miss
    /// looks again under the writers' lock when polled.
    ///
    /// On failure the previous value stays in the cache. If the error is transient and the
    /// policy's stale-if-error allows it, the previous value is returned instead of the error
    /// (and counted in [`Stats::stale_served`]).
    ///
    /// # Errors
    /// The loader's error, unless stale-if-error covered it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, Fetched, Key, LoadError, Policy, Validator};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = Cache::builder().build()?;
    /// let key = Key::new("inventory", "sku-42").variant("v2");
    /// let entry = cache
    ///     .get_or_fetch(key, Policy::new(Duration::from_secs(30)), |previous| async move {
    ///         assert!(previous.is_none());
    ///         Ok::<_, LoadError<std::io::Error>>(
    ///             Fetched::new(17_u32).with_validator(Validator::from(1_i64)),
    ///         )
    ///     })
    ///     .await?;
    /// assert_eq!(*entry, 17);
    /// assert_eq!(entry.validator().token(), Some("1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn get_or_fetch<'c, V, E, F, Fut>(
        &'c self,
        key: Key<'c>,
        policy: impl Into<Policy>,
        fetch: F,
    ) -> impl Future<Output = Result<Entry<V>, E>> + 'c
    where
        V: Send + Sync + 'static,
        E: CacheError,
        F: FnOnce(Option<Entry<V>>) -> Fut + 'c,
        Fut: Future<Output = Result<Fetched<V>, E>> + 'c,
    {
        let policy = policy.into();
        // A hit is answered here, when called: the future returned is then two words, with no
        // state machine to build, move or poll. A miss boxes its path (waiting, leading, the
        // loader's future, which for an SDK call can be kilobytes).
        match self.get_fresh::<V>(key, policy.max_age()) {
            Some(entry) => Answer::Hit(Some(entry)),
            None => Answer::Miss(Box::pin(self.miss(Lookup::raw::<V>(key), policy, fetch))),
        }
    }

    /// As [`Cache::get_or_fetch`], with the cache's shared tier (if it has one, see
    /// [`CacheBuilder::shared_tier`]) between this cache and `fetch`: a miss reads the tier
    /// first, and only one cache of those sharing it fetches an expired key from the backend
    /// while the others wait for its value (see [`crate::shared`]'s module docs). Without a
    /// tier this is `get_or_fetch`.
    ///
    /// # Errors
    /// The loader's error, unless stale-if-error covered it. A failing or slow tier is never
    /// an error: the read goes on to the backend.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, Fetched, Key, LoadError};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = Cache::builder().build()?;
    /// let entry = cache
    ///     .get_or_fetch_shared(Key::new("inventory", "sku-42"), Duration::from_secs(30), |_| async {
    ///         Ok::<_, LoadError<std::io::Error>>(Fetched::new(String::from("17")))
    ///     })
    ///     .await?;
    /// assert_eq!(*entry, "17");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "shared")]
    pub fn get_or_fetch_shared<'c, V, E, F, Fut>(
        &'c self,
        key: Key<'c>,
        policy: impl Into<Policy>,
        fetch: F,
    ) -> impl Future<Output = Result<Entry<V>, E>> + 'c
    where
        V: crate::shared::SharedValue,
        E: CacheError,
        F: FnOnce(Option<Entry<V>>) -> Fut + 'c,
        Fut: Future<Output = Result<Fetched<V>, E>> + 'c,
    {
        self.get_or_fetch_shared_with(key, policy, crate::shared::Codec::of(), fetch)
    }

    /// As [`Cache::get_or_fetch_shared`], for a value that travels through the tier by `codec`
    /// (a type that cannot implement [`SharedValue`](crate::SharedValue) where it is cached).
    ///
    /// # Errors
    /// As [`Cache::get_or_fetch_shared`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, Fetched, Key, LoadError, shared::Codec};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = Cache::builder().build()?;
    /// let codec: Codec<String> = Codec::of();
    /// let entry = cache
    ///     .get_or_fetch_shared_with(Key::new("inventory", "sku-7"), Duration::from_secs(30), codec, |_| async {
    ///         Ok::<_, LoadError<std::io::Error>>(Fetched::new(String::from("3")))
    ///     })
    ///     .await?;
    /// assert_eq!(*entry, "3");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "shared")]
    pub fn get_or_fetch_shared_with<'c, V, E, F, Fut>(
        &'c self,
        key: Key<'c>,
        policy: impl Into<Policy>,
        codec: crate::shared::Codec<V>,
        fetch: F,
    ) -> impl Future<Output = Result<Entry<V>, E>> + 'c
    where
        V: Send + Sync + 'static,
        E: CacheError,
        F: FnOnce(Option<Entry<V>>) -> Fut + 'c,
        Fut: Future<Output = Result<Fetched<V>, E>> + 'c,
    {
        let policy = policy.into();
        match self.get_fresh::<V>(key, policy.max_age()) {
            Some(entry) => Answer::Hit(Some(entry)),
            None => Answer::Miss(Box::pin(async move {
                let lookup = Lookup::raw::<V>(key);
                match self.shared_tier() {
                    None => self.miss(lookup, policy, fetch).await,
                    Some(tier) => {
                        let cache = (&self.shared.counters, &self.shared.clock);
                        self.miss(lookup, policy, move |previous| {
                            crate::shared::through(tier, codec, cache, key, policy, previous, fetch)
                        })
                        .await
                    }
                }
            })),
        }
    }

    /// A loader's body that reads the cache's shared tier before `fetch` (the steps of
    /// [`Cache::get_or_fetch_shared`]'s miss), for a loader given to another read, such as
    /// [`Cache::get_or_refresh`]'s background refreshes. Without a tier, `fetch(previous)`.
    ///
    /// # Errors
    /// `fetch`'s error.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, Fetched, Key, LoadError, shared::Codec};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = Cache::builder().build()?;
    /// let fetched = cache
    ///     .fetch_through_tier_with(Key::new("ssm", "/a"), Duration::from_secs(60), Codec::<String>::of(), None, |_| async {
    ///         Ok::<_, LoadError<std::io::Error>>(Fetched::new("1".to_owned()))
    ///     })
    ///     .await?;
    /// assert!(matches!(fetched, Fetched::New { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "shared")]
    pub async fn fetch_through_tier_with<V, E, F, Fut>(
        &self,
        key: Key<'_>,
        policy: impl Into<Policy>,
        codec: crate::shared::Codec<V>,
        previous: Option<Entry<V>>,
        fetch: F,
    ) -> Result<Fetched<V>, E>
    where
        V: Send + Sync + 'static,
        E: CacheError,
        F: FnOnce(Option<Entry<V>>) -> Fut,
        Fut: Future<Output = Result<Fetched<V>, E>>,
    {
        match self.shared_tier() {
            None => fetch(previous).await,
            Some(tier) => {
                let cache = (&self.shared.counters, &self.shared.clock);
                crate::shared::through(tier, codec, cache, key, policy.into(), previous, fetch)
                    .await
            }
        }
    }

    /// For a batch's names missing locally (of one `service`), through the cache's shared
    /// tier if it has one: one tier read for all of them; for those not there (or too old
    /// for `policy`), the leases in one call; one `fetch` of the names whose lease this cache
    /// took, their values written back (releasing the leases) in one call; the names another
    /// cache holds are polled for until their values come, their leases come free (taken,
    /// then fetched together), or the deadline ([`crate::LeaseSettings::wait`]), then fetched
    /// together. Without a tier, one `fetch` of every name. The caller stores what comes back
    /// (with its age: [`Batch::insert_aged`]).
    ///
    /// `fetch` gets names and answers their values (age zero) and the names the backend does
    /// not know. It is called once per round: at most twice when other caches hold some of the
    /// leases.
    ///
    /// # Errors
    /// The first error of `fetch`; the leases this cache took for it are released.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, TierValue, Validator, shared::Codec};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = Cache::builder().build().unwrap();
    /// let (found, missing) = cache
    ///     .fetch_many_shared("ssm", &["/a", "/b"], Duration::from_secs(60), Codec::<String>::of(), |names| async move {
    ///         let found = names.iter().filter(|n| *n == "/a").map(|n| TierValue {
    ///             name: n.clone(), value: "1".to_owned(), validator: Validator::none(), age: Duration::ZERO,
    ///         }).collect();
    ///         Ok::<_, std::io::Error>((found, vec!["/b".to_owned()]))
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!((found.len(), missing), (1, vec!["/b".to_owned()]));
    /// # });
    /// ```
    #[cfg(feature = "shared")]
    pub async fn fetch_many_shared<V, E, F, Fut>(
        &self,
        service: &'static str,
        names: &[&str],
        policy: impl Into<Policy>,
        codec: crate::shared::Codec<V>,
        mut fetch: F,
    ) -> Result<crate::shared::ManyFound<V>, E>
    where
        V: Send + Sync + 'static,
        F: FnMut(Vec<String>) -> Fut,
        Fut: Future<Output = Result<crate::shared::ManyFound<V>, E>>,
    {
        match self.shared_tier() {
            None => fetch(names.iter().map(|n| (*n).to_owned()).collect()).await,
            Some(tier) => {
                crate::shared::through_many(
                    tier,
                    codec,
                    &self.shared.counters,
                    &self.shared.clock,
                    (service, names),
                    policy.into(),
                    fetch,
                )
                .await
            }
        }
    }

    /// The cache's shared tier, if it has one.
    ///
    /// ```
    /// assert!(lambda_cache_core::Cache::builder().build().unwrap().shared_tier().is_none());
    /// ```
    #[cfg(feature = "shared")]
    pub fn shared_tier(&self) -> Option<&dyn crate::shared::SharedTier> {
        self.shared.tier.as_deref()
    }

    fn may_serve_stale(&self, stale: StaleIfError, fetched_at: Instant) -> bool {
        let max_stale = match stale {
            StaleIfError::Off => return false,
            StaleIfError::Within(max_stale) => max_stale,
            StaleIfError::Inherit => match self.shared.config.stale_if_error {
                Some(max_stale) => max_stale,
                None => return false,
            },
        };
        self.shared
            .clock
            .now()
            .saturating_duration_since(fetched_at)
            <= max_stale
    }

    /// The value of `load()`, cached under `name` for any data (the "explicit cache" of a
    /// Lambda's global scope, done safely): fetched once, served from memory until older than
    /// the policy's max_age, one load at a time per name.
    ///
    /// Values are also keyed by their Rust type, so two loaders of different types under one
    /// name do not collide.
    ///
    /// # Errors
    /// The loader's error, wrapped in [`LoadError`] (which counts as transient).
    ///
    /// ```
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = lambda_cache_core::Cache::builder().build()?;
    /// let rates = cache
    ///     .get_or_load("fx/EUR", Duration::from_secs(300), || async { Ok::<_, std::io::Error>(1.08_f64) })
    ///     .await?;
    /// assert_eq!(*rates, 1.08);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn get_or_load<V, E, F, Fut>(
        &self,
        name: &str,
        policy: impl Into<Policy>,
        load: F,
    ) -> Result<Entry<V>, LoadError<E>>
    where
        V: Send + Sync + 'static,
        E: std::error::Error + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        self.get_or_fetch(Key::new(GENERIC_SERVICE, name), policy, |_| async move {
            load().await.map(Fetched::new).map_err(LoadError::new)
        })
        .await
    }

    /// Stores a value fetched outside [`Cache::get_or_fetch`] (for example one of many read in a
    /// single batch call), as if fetched now, replacing any value under `key`. A fetch under
    /// way for the key is not disturbed; it replaces this value when it ends.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, Key, Validator};
    /// let cache = Cache::builder().build().unwrap();
    /// let key = Key::new("secrets", "db");
    /// cache.insert(key, String::from("v1"), Validator::default(), 2);
    /// let hit = cache.get_fresh::<String>(key, Duration::from_secs(60)).unwrap();
    /// assert_eq!(hit.as_str(), "v1");
    /// ```
    pub fn insert<V: Send + Sync + 'static>(
        &self,
        key: Key<'_>,
        value: V,
        validator: Validator,
        weight: u64,
    ) -> Entry<V> {
        let mut batch = self.batch();
        let entry = batch.insert(key, value, validator, weight);
        batch.commit();
        entry
    }

    /// Starts a batch of values fetched together (one `GetParameters` or `BatchGetItem`
    /// answer): each [`Batch::insert`] returns its entry at once, and the batch stores them all
    /// under one pass of the writers' lock when it is dropped or [`Batch::commit`]ted, so that
    /// K values cost one publication, not K.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, Key, Validator};
    /// let cache = Cache::builder().build().unwrap();
    /// let mut batch = cache.batch();
    /// let a = batch.insert(Key::new("ssm", "/a"), String::from("1"), Validator::from(1_i64), 1);
    /// batch.insert(Key::new("ssm", "/b"), 2_u32, Validator::none(), 4);
    /// batch.commit();
    /// assert_eq!(a.as_str(), "1");
    /// assert_eq!(cache.len(), 2);
    /// assert_eq!(cache.stats().publishes, 1);
    /// assert_eq!(*cache.get_fresh::<u32>(Key::new("ssm", "/b"), Duration::from_secs(5)).unwrap(), 2);
    /// ```
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            cache: self,
            now: self.shared.clock.now(),
            pending: Vec::new(),
        }
    }

    /// The value under `key` if the policy's stale-if-error allows serving it after a refresh
    /// failed with `error` (transient, and the value no older than `max_stale`); counted in
    /// [`Stats::stale_served`]. For refreshes done outside [`Cache::get_or_fetch`], such as a
    /// batch that fills many keys.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, Key, LoadError, Policy, Validator};
    /// let cache = Cache::builder().build().unwrap();
    /// let key = Key::new("ssm", "/a");
    /// cache.insert(key, String::from("old"), Validator::default(), 0);
    /// let err = LoadError::new(std::io::Error::other("throttled"));
    /// let policy = Policy::default().stale_if_error(Duration::from_secs(600));
    /// assert_eq!(cache.serve_stale::<String, _>(key, policy, &err).unwrap().as_str(), "old");
    /// assert!(cache.serve_stale::<String, _>(key, Policy::default(), &err).is_none());
    /// ```
    pub fn serve_stale<V: Send + Sync + 'static, E: CacheError>(
        &self,
        key: Key<'_>,
        policy: impl Into<Policy>,
        error: &E,
    ) -> Option<Entry<V>> {
        if !error.is_transient() {
            return None;
        }
        let policy = policy.into();
        let lookup = Lookup::raw::<V>(key);
        let previous = self.lookup_fresh::<V>(&lookup, Duration::MAX, Instant::from_nanos(0))?;
        if !self.may_serve_stale(policy.stale(), previous.fetched_at()) {
            return None;
        }
        tracing::warn!(
            service = key.service(),
            key = %key.digest(),
            "refresh failed; a stale value is served (stale-if-error)"
        );
        self.shared.counters.stale_served.inc();
        Some(previous)
    }

    /// Drops every entry under `key`, of whatever value type. A fetch under way is not
    /// cancelled. Returns how many entries were dropped.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, Key};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = Cache::builder().build()?;
    /// cache.get_or_load("k", Duration::from_secs(60), || async { Ok::<_, std::io::Error>(1) }).await?;
    /// assert_eq!(cache.invalidate(Key::new("generic", "k")), 1);
    /// assert!(cache.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn invalidate(&self, key: Key<'_>) -> usize {
        // A fetch under way is left alone: its waiters still find it.
        self.shared
            .write(|writer| self.shared.store.remove_key(writer, &key))
    }

    /// Drops every entry of `service` whose name and variant `matches` accepts, of whatever
    /// value type: for a write that changes values under keys a reader may have shaped (a
    /// parameter read by name, ARN or selector; an item under every projection read). It
    /// passes over every key held, so it costs O(entries), unlike [`Cache::invalidate`].
    ///
    /// A fetch under way for a matching key is detached, so that nothing read before the
    /// write outlives it: its reader still gets what it read, but the value is not stored, and
    /// readers waiting on it look again (and fetch anew), as does any reader that comes after.
    /// Returns how many entries were dropped.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, Key, Validator};
    /// let cache = Cache::builder().build()?;
    /// for (name, variant) in [("/app/db", ""), ("/app/db:3", ""), ("/app/db", "decrypted"), ("/app/web", "")] {
    ///     cache.insert(Key::new("ssm", name).variant(variant), 1_u8, Validator::default(), 1);
    /// }
    /// let dropped = cache.invalidate_where("ssm", |name, _variant| {
    ///     name == "/app/db" || name.starts_with("/app/db:")
    /// });
    /// assert_eq!(dropped, 3);
    /// assert!(cache.get_fresh::<u8>(Key::new("ssm", "/app/web"), Duration::MAX).is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn invalidate_where(&self, service: &str, matches: impl Fn(&str, &str) -> bool) -> usize {
        self.shared
            .write(|writer| self.shared.store.remove_where(writer, service, &matches))
    }

    /// Drops every entry, and with them the cache's references to their values.
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder().build().unwrap();
    /// cache.clear();
    /// assert_eq!(cache.len(), 0);
    /// ```
    pub fn clear(&self) {
        self.shared.write(|writer| self.shared.store.clear(writer));
    }

    /// How many values are held.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Cache::builder().build().unwrap().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        Store::len(&self.shared.store.lock())
    }

    /// True if no value is held.
    ///
    /// ```
    /// assert!(lambda_cache_core::Cache::builder().build().unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The summed weights (bytes, as loaders reported them) of the values held.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Cache::builder().build().unwrap().weight(), 0);
    /// ```
    pub fn weight(&self) -> u64 {
        Store::weight(&self.shared.store.lock())
    }

    /// The counters since the cache was built.
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder().build().unwrap();
    /// assert_eq!(cache.stats().misses, 0);
    /// ```
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("config", &self.shared.config)
            .field("len", &self.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn erase<V: Send + Sync + 'static>(entry: &Entry<V>) -> Erased {
    entry.clone().into_inner()
}

fn is_fresh(stored: &Stored, max_age: Duration, now: Instant) -> bool {
    let max_age = duration_nanos(max_age);
    let cut = if stored.shrink == 0 {
        0
    } else {
        // shrink < 2^16, so the product fits; the quotient is at most max_age.
        u64::try_from(u128::from(max_age) * u128::from(stored.shrink) / u128::from(JITTER_ONE))
            .unwrap_or(max_age)
    };
    now.as_nanos().saturating_sub(stored.fetched_at.as_nanos()) < max_age - cut
}

impl Shared {
    /// Runs `f` under the writers' lock, counting a publication if `f` changed what readers see
    /// (each write replaces one bucket's chain, never the whole).
    fn write<R>(&self, f: impl FnOnce(&mut Writer) -> R) -> R {
        let mut writer = self.store.lock();
        let out = f(&mut writer);
        if Store::take_changed(&mut writer) {
            self.counters.publishes.inc();
        }
        out
    }

    /// Stores `entry` under `lookup` in place of any previous value. A weight of `None` keeps
    /// the previous value's weight; a value heavier than the whole byte budget is not kept
    /// (and the previous one is dropped: it is no longer current). `jitter` false stores it
    /// without a jitter draw. `owned` is the key's owned form if the caller has one.
    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        writer: &mut Writer,
        lookup: &Lookup<'_>,
        owned: Option<OwnedKey>,
        (entry, fetched_at): (Erased, Instant),
        (weight, jitter): (Option<u64>, bool),
        flight: u64,
        now: Instant,
    ) {
        let weight = match weight {
            Some(weight) => weight,
            None => self
                .store
                .held(writer, lookup)
                .map_or(0, |held| held.stored().weight),
        };
        if self.config.max_bytes.is_some_and(|budget| weight > budget) {
            self.store.remove(writer, lookup);
            return;
        }
        let shrink = if jitter {
            self.config.draw_shrink(now)
        } else {
            0
        };
        let stored = Stored::new(entry, fetched_at, flight, weight, shrink, now);
        self.store.put(writer, lookup, owned, stored);
    }

    /// Evicts entries not read for long (never `keep`, never one being fetched) until the
    /// capacity and the byte budget hold. Each eviction compares a few entries drawn at random
    /// (all of them in a small cache): its cost does not grow with the entries held.
    fn evict_over_budget(&self, writer: &mut Writer, keep: &Lookup<'_>) {
        let over = |writer: &Writer| {
            Store::len(writer) > self.config.capacity
                || self
                    .config
                    .max_bytes
                    .is_some_and(|b| Store::weight(writer) > b)
        };
        while over(writer) {
            let Some(victim) = self.store.victim(writer, keep) else {
                break;
            };
            if let Some(held) = self.store.remove(writer, &victim.as_lookup()) {
                self.counters.evictions.inc();
                tracing::debug!(
                    service = victim.service(),
                    name = %crate::shown(victim.name()),
                    weight = held.stored().weight,
                    "evicted an entry not read for long"
                );
            }
        }
    }
}

/// Values fetched together, stored under one pass of the writers' lock: see [`Cache::batch`].
///
/// ```
/// use lambda_cache_core::{Cache, Key, Validator};
/// let cache = Cache::builder().build().unwrap();
/// {
///     let mut batch = cache.batch();
///     batch.insert(Key::new("ssm", "/a"), 1_u8, Validator::none(), 1);
/// } // stored when dropped
/// assert_eq!(cache.len(), 1);
/// ```
#[must_use = "a batch stores its values when committed or dropped"]
pub struct Batch<'c> {
    cache: &'c Cache,
    now: Instant,
    pending: Vec<Pending>,
}

/// A value of a batch: fetched at the batch's `now`, or earlier for a value that came aged
/// (which takes no jitter, as a value from a shared tier never does).
struct Pending {
    key: OwnedKey,
    entry: store::Erased,
    weight: u64,
    fetched_at: Instant,
    jitter: bool,
}

impl Batch<'_> {
    /// Adds a value fetched now, to replace any value under `key` when the batch is stored;
    /// returns its entry at once. A fetch under way for the key is not disturbed.
    ///
    /// ```
    /// use lambda_cache_core::{Cache, Key, Validator};
    /// let cache = Cache::builder().build().unwrap();
    /// let mut batch = cache.batch();
    /// let entry = batch.insert(Key::new("ddb", "users/1"), vec![1_u8], Validator::none(), 1);
    /// assert_eq!(entry.len(), 1);
    /// ```
    pub fn insert<V: Send + Sync + 'static>(
        &mut self,
        key: Key<'_>,
        value: V,
        validator: Validator,
        weight: u64,
    ) -> Entry<V> {
        let entry = Entry::new(value, self.now, validator);
        self.pending.push(Pending {
            key: OwnedKey::from_lookup(&Lookup::raw::<V>(key)),
            entry: erase(&entry),
            weight,
            fetched_at: self.now,
            jitter: true,
        });
        entry
    }

    /// As [`Batch::insert`], for a value already `age` old when it came (from a shared tier):
    /// it expires that much sooner.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, Key, Validator};
    /// let cache = Cache::builder().build().unwrap(); // just started: the value is still 50 s old
    /// let mut batch = cache.batch();
    /// batch.insert_aged(Key::new("ssm", "/a"), 1_u8, Validator::none(), 1, Duration::from_secs(50));
    /// batch.commit();
    /// assert!(cache.get_fresh::<u8>(Key::new("ssm", "/a"), Duration::from_secs(60)).is_some());
    /// assert!(cache.get_fresh::<u8>(Key::new("ssm", "/a"), Duration::from_secs(40)).is_none());
    /// ```
    pub fn insert_aged<V: Send + Sync + 'static>(
        &mut self,
        key: Key<'_>,
        value: V,
        validator: Validator,
        weight: u64,
        age: Duration,
    ) -> Entry<V> {
        let fetched_at = self.now.saturating_sub(age);
        let entry = Entry::new(value, fetched_at, validator);
        self.pending.push(Pending {
            key: OwnedKey::from_lookup(&Lookup::raw::<V>(key)),
            entry: erase(&entry),
            weight,
            fetched_at,
            jitter: age.is_zero(),
        });
        entry
    }

    /// Stores the values added (as dropping the batch does).
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder().build().unwrap();
    /// cache.batch().commit();
    /// assert_eq!(cache.stats().publishes, 0);
    /// ```
    pub fn commit(self) {}
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let shared = &self.cache.shared;
        let pending = std::mem::take(&mut self.pending);
        let first = shared
            .next_flight
            .fetch_add(pending.len() as u64, Ordering::AcqRel);
        shared.write(|writer| {
            for (flight, item) in (first..).zip(pending) {
                let lookup = item.key.as_lookup();
                shared.put(
                    writer,
                    &lookup,
                    Some(item.key.clone()),
                    (item.entry, item.fetched_at),
                    (Some(item.weight), item.jitter),
                    flight,
                    self.now,
                );
                shared.evict_over_budget(writer, &lookup);
            }
        });
    }
}
