//! The concurrent keyed store: freshness, single-flight, stale-if-error, jitter and LRU bounds.

use std::any::Any;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use hashbrown::HashMap;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::clock::{Clock, Instant, duration_nanos};
use crate::entry::{Entry, Fetched, Inner, Validator};
use crate::error::{CacheError, ConfigError, LoadError};
use crate::key::{Key, Lookup, OwnedKey};
use crate::policy::{Policy, StaleIfError};
use crate::stats::{Counters, Stats};

/// The service name under which [`Cache::get_or_load`] keys its values.
pub const GENERIC_SERVICE: &str = "generic";

/// Last-access times closer than this are not rewritten: a hit then writes no shared memory.
const TOUCH_GRANULARITY_NANOS: u64 = 1_000_000;

/// Jitter is kept as a fraction of `max_age` in units of 1/65536.
const JITTER_ONE: u64 = 1 << 16;

type Erased = Arc<dyn Any + Send + Sync>;
/// What a fetch leader hands its waiters: the entry (`Arc<Inner<V>>`) or the error (`E`).
type Outcome = Result<Erased, Erased>;

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
    /// The writers' state. Readers never take this lock: a hit reads `published`.
    state: Mutex<State>,
    /// The values held, as readers see them: an immutable map that every write replaces whole
    /// (read-copy-update). A hit takes no lock and writes no memory that other readers share.
    published: ArcSwap<Published>,
    clock: Clock,
    config: Config,
    counters: Counters,
    next_flight: AtomicU64,
    #[cfg(feature = "shared")]
    tier: Option<Arc<dyn crate::shared::SharedTier>>,
}

#[derive(Clone, Debug)]
struct Config {
    capacity: usize,
    max_bytes: Option<u64>,
    /// Largest share of max_age that jitter may remove, in 1/65536.
    jitter: u64,
    jitter_seed: Option<u64>,
    stale_if_error: Option<Duration>,
}

/// The values held, by key; what [`Shared::published`] holds.
type Published = HashMap<OwnedKey, Arc<Stored>>;

#[derive(Default)]
struct State {
    /// The values held: the writers' copy of what is published.
    stored: Published,
    /// The fetches under way (a key may have one with or without a value held).
    flights: HashMap<OwnedKey, Flight>,
    /// Sum of the weights of the values held.
    weight: u64,
    /// `stored` changed since it was last published.
    dirty: bool,
}

/// A value held, immutable once stored but for its last-access time: a refresh stores a new one.
struct Stored {
    /// An `Arc<Inner<V>>` for the `V` whose type id is part of the key.
    entry: Erased,
    fetched_at: Instant,
    /// The number of the fetch that produced (or last renewed) it.
    flight: u64,
    weight: u64,
    /// This entry's share of max_age removed by jitter, in 1/65536.
    shrink: u64,
    /// For LRU eviction; rewritten at most once per [`TOUCH_GRANULARITY_NANOS`].
    last_access: AtomicU64,
}

struct Flight {
    id: u64,
    done: watch::Receiver<Option<Outcome>>,
}

/// Settings of a [`Cache`]; start from [`Cache::builder`].
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_core::Cache;
/// let cache = Cache::builder()
///     .capacity(256)
///     .max_bytes(16 << 20)
///     .jitter(0.1)
///     .stale_if_error(Duration::from_secs(3600))
///     .build()
///     .unwrap();
/// # let _ = cache;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct CacheBuilder {
    capacity: usize,
    max_bytes: Option<u64>,
    jitter: f64,
    jitter_seed: Option<u64>,
    stale_if_error: Option<Duration>,
    clock: Clock,
    #[cfg(feature = "shared")]
    tier: Option<Arc<dyn crate::shared::SharedTier>>,
}

impl Default for CacheBuilder {
    fn default() -> Self {
        Self {
            capacity: Cache::DEFAULT_CAPACITY,
            max_bytes: None,
            jitter: 0.0,
            jitter_seed: None,
            stale_if_error: None,
            clock: Clock::real(),
            #[cfg(feature = "shared")]
            tier: None,
        }
    }
}

impl CacheBuilder {
    /// The most entries held; past it the least recently used is evicted (default 1024).
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder().capacity(2).build().unwrap();
    /// # let _ = cache;
    /// ```
    pub fn capacity(mut self, entries: usize) -> Self {
        self.capacity = entries;
        self
    }

    /// A budget for the summed weights (bytes) that loaders report; past it the least recently
    /// used entries are evicted, and a value heavier than the whole budget is returned but not
    /// kept. No budget by default.
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder().max_bytes(1 << 20).build().unwrap();
    /// # let _ = cache;
    /// ```
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// Shortens each entry's max_age by a random share of up to `fraction` (0.0 to 0.5), drawn
    /// once per fetch, so that many execution environments do not all refresh in the same
    /// second. Off (0.0) by default.
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder().jitter(0.2).build().unwrap();
    /// # let _ = cache;
    /// ```
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// Draws the jitter from `seed` and the fetch's time instead of the process's random
    /// state, so that a run on a manual clock repeats itself (the fleet simulation). Give each
    /// cache its own seed, or all caches fetching at one instant draw alike.
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder().jitter(0.2).jitter_seed(7).build().unwrap();
    /// # let _ = cache;
    /// ```
    #[cfg(feature = "test-util")]
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// A shared tier to read on a miss before the backend, in
    /// [`Cache::get_or_fetch_shared`] (feature `shared`; `lambda-cache-redis` provides one).
    ///
    /// ```
    /// # #[derive(Debug)] struct T;
    /// # impl lambda_cache_core::SharedTier for T {
    /// #     fn prefix(&self) -> &str { "" }
    /// #     fn read<'a>(&'a self, _: &'a str) -> lambda_cache_core::BoxFuture<'a, Result<Option<lambda_cache_core::TierRecord>, lambda_cache_core::TierError>> { Box::pin(async { Ok(None) }) }
    /// #     fn lease<'a>(&'a self, _: &'a str, _: std::time::Duration) -> lambda_cache_core::BoxFuture<'a, Result<bool, lambda_cache_core::TierError>> { Box::pin(async { Ok(true) }) }
    /// #     fn release<'a>(&'a self, _: &'a str) -> lambda_cache_core::BoxFuture<'a, Result<(), lambda_cache_core::TierError>> { Box::pin(async { Ok(()) }) }
    /// #     fn write<'a>(&'a self, _: &'a str, _: Vec<u8>, _: std::time::Duration) -> lambda_cache_core::BoxFuture<'a, Result<(), lambda_cache_core::TierError>> { Box::pin(async { Ok(()) }) }
    /// #     fn pause(&self, _: std::time::Duration) -> lambda_cache_core::BoxFuture<'_, ()> { Box::pin(async {}) }
    /// # }
    /// let cache = lambda_cache_core::Cache::builder().shared_tier(std::sync::Arc::new(T)).build().unwrap();
    /// assert!(cache.shared_tier().is_some());
    /// ```
    #[cfg(feature = "shared")]
    pub fn shared_tier(mut self, tier: Arc<dyn crate::shared::SharedTier>) -> Self {
        self.tier = Some(tier);
        self
    }

    /// Enables stale-if-error for every read whose policy says [`StaleIfError::Inherit`]: when a
    /// refresh fails transiently, a previous value fetched at most `max_stale` ago is served.
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder()
    ///     .stale_if_error(std::time::Duration::from_secs(600))
    ///     .build()
    ///     .unwrap();
    /// # let _ = cache;
    /// ```
    pub fn stale_if_error(mut self, max_stale: Duration) -> Self {
        self.stale_if_error = Some(max_stale);
        self
    }

    /// The clock (the real one by default; tests pass a manual one).
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder()
    ///     .clock(lambda_cache_core::Clock::real())
    ///     .build()
    ///     .unwrap();
    /// # let _ = cache;
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the settings and builds the cache.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting at fault: a zero capacity or byte budget, or a jitter
    /// outside 0.0 to 0.5.
    ///
    /// ```
    /// use lambda_cache_core::{Cache, ConfigError};
    /// assert_eq!(Cache::builder().jitter(0.9).build().unwrap_err(), ConfigError::JitterOutOfRange(0.9));
    /// ```
    pub fn build(self) -> Result<Cache, ConfigError> {
        if self.capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        if self.max_bytes == Some(0) {
            return Err(ConfigError::ZeroByteBudget);
        }
        if !(0.0..=0.5).contains(&self.jitter) {
            return Err(ConfigError::JitterOutOfRange(self.jitter));
        }
        // The range check above bounds the product to 0..=32768.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let jitter = (self.jitter * JITTER_ONE as f64).round() as u64;
        Ok(Cache {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                published: ArcSwap::from_pointee(Published::default()),
                clock: self.clock,
                config: Config {
                    capacity: self.capacity,
                    max_bytes: self.max_bytes,
                    jitter,
                    jitter_seed: self.jitter_seed,
                    stale_if_error: self.stale_if_error,
                },
                #[cfg(feature = "shared")]
                tier: self.tier,
                counters: Counters::default(),
                next_flight: AtomicU64::new(0),
            }),
        })
    }
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

/// What a reader does after looking at its key under the writers' lock.
enum Step<V> {
    Ready(Entry<V>),
    Wait(watch::Receiver<Option<Outcome>>),
    Lead {
        id: u64,
        done: watch::Sender<Option<Outcome>>,
        previous: Option<Entry<V>>,
    },
}

impl Cache {
    /// The default capacity in entries.
    pub const DEFAULT_CAPACITY: usize = 1024;

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
        let erased = {
            let published = self.shared.published.load();
            let stored = published.get(lookup)?;
            if !is_fresh(stored, max_age, now) {
                return None;
            }
            stored.touch(now);
            Arc::clone(&stored.entry)
        };
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
        let policy = policy.into();
        match self.get_fresh::<V>(key, policy.max_age()) {
            Some(entry) => Answer::Hit(Some(entry)),
            None => Answer::Miss(Box::pin(async move {
                let lookup = Lookup::raw::<V>(key);
                match self.shared_tier() {
                    None => self.miss(lookup, policy, fetch).await,
                    Some(tier) => {
                        let counters = &self.shared.counters;
                        self.miss(lookup, policy, move |previous| {
                            crate::shared::through(tier, counters, key, policy, previous, fetch)
                        })
                        .await
                    }
                }
            })),
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

    /// The miss path of [`Cache::get_or_fetch`]: join the fetch under way or lead a new one.
    async fn miss<V, E, F, Fut>(
        &self,
        lookup: Lookup<'_>,
        policy: Policy,
        fetch: F,
    ) -> Result<Entry<V>, E>
    where
        V: Send + Sync + 'static,
        E: CacheError,
        F: FnOnce(Option<Entry<V>>) -> Fut,
        Fut: Future<Output = Result<Fetched<V>, E>>,
    {
        self.shared.counters.misses.inc();
        // Any fetch numbered from here on started after this request missed.
        let first_new_flight = self.shared.next_flight.load(Ordering::Acquire);
        let (id, done, previous) = loop {
            match self.join_or_lead::<V>(&lookup, policy.max_age(), first_new_flight) {
                Step::Ready(entry) => return Ok(entry),
                Step::Lead { id, done, previous } => break (id, done, previous),
                Step::Wait(mut rx) => {
                    // An error here means the leader was dropped mid-fetch: look again.
                    let Ok(outcome) = rx.wait_for(Option::is_some).await.map(|o| o.clone()) else {
                        continue;
                    };
                    match outcome {
                        Some(Ok(entry)) => {
                            if let Ok(inner) = entry.downcast::<Inner<V>>() {
                                return Ok(Entry::from_inner(inner));
                            }
                        }
                        Some(Err(error)) => {
                            if let Some(error) = error.downcast_ref::<E>() {
                                return Err(error.clone());
                            }
                        }
                        None => {}
                    }
                    // A flight of another error type for the same key: look again.
                }
            }
        };
        let guard = FlightGuard {
            cache: self,
            lookup,
            id,
            done: Some(done),
        };
        self.lead(guard, policy, previous, fetch).await
    }

    /// Looks at the key under the writers' lock: a value fresh enough now, a fetch to join, or
    /// the lead of a new fetch.
    fn join_or_lead<V: Send + Sync + 'static>(
        &self,
        lookup: &Lookup<'_>,
        max_age: Duration,
        first_new_flight: u64,
    ) -> Step<V> {
        let now = self.shared.clock.now();
        let mut state = self.shared.state.lock();
        let held = |stored: &Stored| {
            Arc::clone(&stored.entry)
                .downcast::<Inner<V>>()
                .ok()
                .map(Entry::from_inner)
        };
        if let Some(stored) = state.stored.get(lookup)
            // A value fetched since this request began is fresh enough even for max_age zero.
            && (is_fresh(stored, max_age, now) || stored.flight >= first_new_flight)
            && let Some(entry) = held(stored)
        {
            stored.touch(now);
            return Step::Ready(entry);
        }
        if let Some(flight) = state.flights.get(lookup) {
            return Step::Wait(flight.done.clone());
        }
        // Only a leader hands the loader the previous entry (for revalidation).
        let previous = state.stored.get(lookup).and_then(|stored| held(stored));
        let id = self.shared.next_flight.fetch_add(1, Ordering::AcqRel);
        let (done, rx) = watch::channel(None);
        state
            .flights
            .insert(OwnedKey::from_lookup(lookup), Flight { id, done: rx });
        Step::Lead { id, done, previous }
    }

    async fn lead<V, E, F, Fut>(
        &self,
        mut guard: FlightGuard<'_>,
        policy: Policy,
        previous: Option<Entry<V>>,
        fetch: F,
    ) -> Result<Entry<V>, E>
    where
        V: Send + Sync + 'static,
        E: CacheError,
        F: FnOnce(Option<Entry<V>>) -> Fut,
        Fut: Future<Output = Result<Fetched<V>, E>>,
    {
        let counters = &self.shared.counters;
        let started = self.shared.clock.now();
        counters.fetches.inc();
        // One span per backend fetch: what was fetched (never the value), how it ended, how long
        // it took. Nothing is recorded on a hit.
        let key = guard.lookup.key;
        let span = tracing::debug_span!(
            "lambda_cache.fetch",
            service = key.service(),
            name = key.name(),
            variant = key.variant_str(),
            revalidating = previous.is_some(),
            outcome = tracing::field::Empty,
            stale_served = false,
            duration_us = tracing::field::Empty,
        );
        let outcome = tracing::Instrument::instrument(fetch(previous.clone()), span.clone()).await;
        let elapsed = self.shared.clock.now().saturating_duration_since(started);
        span.record(
            "duration_us",
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        );
        match outcome {
            Ok(Fetched::New {
                value,
                validator,
                weight,
                age,
            }) => {
                span.record("outcome", "new");
                let entry = Entry::new(value, started.saturating_sub(age), validator);
                // A value that arrived aged (from a shared tier) takes no jitter: its age is
                // the fleet's, whose refreshes the tier's lease already makes one.
                guard.finish(Some((&entry, weight, age.is_zero())), Ok(erase(&entry)));
                Ok(entry)
            }
            Ok(Fetched::NotModified { validator }) => {
                span.record("outcome", "not_modified");
                let Some(previous) = previous else {
                    panic!("a loader answered NotModified without being handed a previous entry");
                };
                let entry = previous.renewed(started, validator);
                guard.finish(Some((&entry, u64::MAX, true)), Ok(erase(&entry)));
                Ok(entry)
            }
            Err(error) => {
                span.record("outcome", "error");
                counters.errors.inc();
                if let Some(previous) = previous.filter(|p| {
                    error.is_transient() && self.may_serve_stale(policy.stale(), p.fetched_at())
                }) {
                    span.record("stale_served", true);
                    let age = self
                        .shared
                        .clock
                        .now()
                        .saturating_duration_since(previous.fetched_at());
                    // The error's text names the input, never a value (every service's errors
                    // are written so).
                    tracing::warn!(
                        parent: &span,
                        service = key.service(),
                        name = key.name(),
                        age_s = age.as_secs(),
                        error = %error,
                        "refresh failed; a stale value is served (stale-if-error)"
                    );
                    counters.stale_served.inc();
                    guard.finish::<V>(None, Ok(erase(&previous)));
                    return Ok(previous);
                }
                guard.finish::<V>(None, Err(Arc::new(error.clone())));
                Err(error)
            }
        }
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

    /// A value derived from the raw value under `key` (decoded JSON, a parsed file, any pure
    /// function of it), cached apart from it and answered from memory while the raw value it
    /// came from is young enough for `policy`.
    ///
    /// On a miss, `source` reads the raw value (through its own single-flight fetch, with the
    /// same policy) and `derive` computes the derived value from it; the derived entry keeps the
    /// raw entry's fetched-at time and validator, so it is never served older than the policy
    /// allows and stale-if-error measures the raw value's age. A raw value renewed unchanged
    /// (same validator) renews the derived one without deriving again. The derived entry has
    /// its own slot, whatever its type, and takes no flight of its own: `source` may read the
    /// raw key without waiting on itself. Concurrent misses may each derive once; the backend
    /// still sees one fetch.
    ///
    /// # Errors
    /// The error of `source`, or of `derive`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, Fetched, Key, LoadError, Policy};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cache = Cache::builder().build()?;
    /// let key = Key::new("inventory", "limits");
    /// let raw = |policy: Policy| {
    ///     let cache = cache.clone();
    ///     async move {
    ///         cache.get_or_fetch(key, policy, |_| async {
    ///             Ok::<_, LoadError<std::io::Error>>(Fetched::new(String::from("42")))
    ///         }).await
    ///     }
    /// };
    /// let parsed = cache
    ///     .get_derived(key, Duration::from_secs(60), raw, |text: &String| {
    ///         text.parse::<u32>().map_err(|e| LoadError::new(std::io::Error::other(e)))
    ///     })
    ///     .await?;
    /// assert_eq!(*parsed, 42);
    /// assert_eq!(cache.stats().fetches, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn get_derived<S, T, E, F, Fut, D>(
        &self,
        key: Key<'_>,
        policy: impl Into<Policy>,
        source: F,
        derive: D,
    ) -> Result<Entry<T>, E>
    where
        S: Send + Sync + 'static,
        T: Send + Sync + 'static,
        F: FnOnce(Policy) -> Fut,
        Fut: Future<Output = Result<Entry<S>, E>>,
        D: FnOnce(&S) -> Result<T, E>,
    {
        let policy = policy.into();
        let lookup = Lookup::derived::<T>(key);
        if let Some(hit) = self.hit::<T>(&lookup, policy.max_age()) {
            return Ok(hit);
        }
        // Boxed for the same reason as `get_or_fetch`'s miss path.
        Box::pin(async move {
            let raw = source(policy).await?;
            let held = self.lookup_fresh::<T>(&lookup, Duration::MAX, Instant::from_nanos(0));
            let entry = match held {
                Some(held) if held.fetched_at() == raw.fetched_at() => return Ok(held),
                Some(held)
                    if !raw.validator().is_none()
                        && held.validator() == raw.validator()
                        && held.fetched_at() < raw.fetched_at() =>
                {
                    held.renewed(raw.fetched_at(), None)
                }
                _ => Entry::new(
                    derive(raw.value())?,
                    raw.fetched_at(),
                    raw.validator().clone(),
                ),
            };
            self.put_derived::<S, T>(&lookup, &entry);
            Ok(entry)
        })
        .await
    }

    /// Stores a derived entry as it is (its fetched-at time is its raw value's), weighed as the
    /// raw value it comes from. An entry older than the one held is not stored.
    fn put_derived<S: Send + Sync + 'static, T: Send + Sync + 'static>(
        &self,
        lookup: &Lookup<'_>,
        entry: &Entry<T>,
    ) {
        let shared = &self.shared;
        let now = shared.clock.now();
        let flight = shared.next_flight.fetch_add(1, Ordering::AcqRel);
        shared.write(|state| {
            let raw_weight = state
                .stored
                .get(&Lookup::raw::<S>(lookup.key))
                .map_or(0, |stored| stored.weight);
            if state
                .stored
                .get(lookup)
                .is_some_and(|held| held.fetched_at > entry.fetched_at())
            {
                return;
            }
            shared.put(state, lookup, entry, (raw_weight, true), flight, now);
            shared.evict_over_budget(state, lookup);
        });
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
        let shared = &self.shared;
        let lookup = Lookup::raw::<V>(key);
        let now = shared.clock.now();
        let entry = Entry::new(value, now, validator);
        let flight = shared.next_flight.fetch_add(1, Ordering::AcqRel);
        shared.write(|state| {
            shared.put(state, &lookup, &entry, (weight, true), flight, now);
            shared.evict_over_budget(state, &lookup);
        });
        entry
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
        self.remove_where(|owned| owned.matches(&key))
    }

    /// Drops every entry.
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder().build().unwrap();
    /// cache.clear();
    /// assert_eq!(cache.len(), 0);
    /// ```
    pub fn clear(&self) {
        self.remove_where(|_| true);
    }

    fn remove_where(&self, mut doomed: impl FnMut(&OwnedKey) -> bool) -> usize {
        // A fetch under way is left alone: its waiters still find it.
        self.shared.write(|state| {
            let before = state.stored.len();
            let mut freed = 0;
            state.stored.retain(|key, stored| {
                let keep = !doomed(key);
                if !keep {
                    freed += stored.weight;
                }
                keep
            });
            let removed = before - state.stored.len();
            state.weight -= freed;
            state.dirty |= removed > 0;
            removed
        })
    }

    /// How many values are held.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Cache::builder().build().unwrap().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.shared.state.lock().stored.len()
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
        self.shared.state.lock().weight
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

impl Stored {
    #[inline]
    fn touch(&self, now: Instant) {
        let now = now.as_nanos();
        let last = self.last_access.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= TOUCH_GRANULARITY_NANOS {
            self.last_access.store(now, Ordering::Relaxed);
        }
    }
}

/// Held by a fetch's leader. Finishing publishes the outcome; dropping it unfinished (the
/// leader's future was cancelled) clears the flight so that a waiter takes the lead.
struct FlightGuard<'a> {
    cache: &'a Cache,
    lookup: Lookup<'a>,
    id: u64,
    done: Option<watch::Sender<Option<Outcome>>>,
}

impl FlightGuard<'_> {
    /// Stores the new entry (if any; a weight of `u64::MAX` keeps the previous weight), ends
    /// the flight and wakes its waiters with `outcome`.
    fn finish<V: Send + Sync + 'static>(
        &mut self,
        store: Option<(&Entry<V>, u64, bool)>,
        outcome: Outcome,
    ) {
        let shared = &self.cache.shared;
        let now = shared.clock.now();
        shared.write(|state| {
            state.end_flight(&self.lookup, self.id);
            if let Some((entry, weight, jitter)) = store {
                shared.put(state, &self.lookup, entry, (weight, jitter), self.id, now);
            }
            shared.evict_over_budget(state, &self.lookup);
        });
        if let Some(done) = self.done.take() {
            done.send_replace(Some(outcome));
        }
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        if self.done.is_none() {
            return;
        }
        self.cache
            .shared
            .write(|state| state.end_flight(&self.lookup, self.id));
        // Dropping the sender wakes the waiters, who look again.
    }
}

impl Config {
    /// This fetch's share of max_age removed by jitter.
    fn draw_shrink(&self, now: Instant) -> u64 {
        if self.jitter == 0 {
            return 0;
        }
        let random = match self.jitter_seed {
            // splitmix64 of the seed and the time: the same run draws the same.
            Some(seed) => {
                let mut z = seed ^ now.as_nanos().wrapping_mul(0x9e37_79b9_7f4a_7c15);
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            }
            None => std::hash::RandomState::new().hash_one(now.as_nanos()),
        };
        random % (self.jitter + 1)
    }
}

impl State {
    /// Ends the flight numbered `id` if it is still the key's (a newer one is left alone).
    fn end_flight(&mut self, lookup: &Lookup<'_>, id: u64) {
        if self
            .flights
            .get(lookup)
            .is_some_and(|flight| flight.id == id)
        {
            self.flights.remove(lookup);
        }
    }
}

impl Shared {
    /// Runs `f` under the writers' lock, then publishes the values held to readers if `f`
    /// changed them (one copy of the map of pointers per write, never per read).
    fn write<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.state.lock();
        let out = f(&mut state);
        if std::mem::take(&mut state.dirty) {
            self.published.store(Arc::new(state.stored.clone()));
        }
        out
    }

    /// Stores `entry` under `lookup` in place of any previous value, counting it in the totals.
    /// A weight of `u64::MAX` keeps the previous value's weight; a value heavier than the whole
    /// byte budget is not kept (and the previous one is dropped: it is no longer current).
    /// `jitter` false stores it without a jitter draw.
    fn put<V: Send + Sync + 'static>(
        &self,
        state: &mut State,
        lookup: &Lookup<'_>,
        entry: &Entry<V>,
        (weight, jitter): (u64, bool),
        flight: u64,
        now: Instant,
    ) {
        let old_weight = state.stored.get(lookup).map(|old| old.weight);
        let weight = match (weight, old_weight) {
            (u64::MAX, Some(old)) => old,
            (u64::MAX, None) => 0,
            (weight, _) => weight,
        };
        state.weight -= old_weight.unwrap_or(0);
        state.dirty = true;
        if self.config.max_bytes.is_some_and(|budget| weight > budget) {
            state.stored.remove(lookup);
            return;
        }
        let stored = Arc::new(Stored {
            entry: erase(entry),
            fetched_at: entry.fetched_at(),
            flight,
            weight,
            shrink: if jitter {
                self.config.draw_shrink(now)
            } else {
                0
            },
            last_access: AtomicU64::new(now.as_nanos()),
        });
        state.weight += weight;
        match state.stored.get_mut(lookup) {
            Some(held) => *held = stored,
            None => {
                state.stored.insert(OwnedKey::from_lookup(lookup), stored);
            }
        }
    }

    /// Evicts least recently used values (never `keep`, never one being fetched) until the
    /// capacity and the byte budget hold.
    fn evict_over_budget(&self, state: &mut State, keep: &Lookup<'_>) {
        let over = |state: &State| {
            state.stored.len() > self.config.capacity
                || self.config.max_bytes.is_some_and(|b| state.weight > b)
        };
        while over(state) {
            let victim = state
                .stored
                .iter()
                .filter(|(key, _)| {
                    !state.flights.contains_key(*key)
                        && !hashbrown::Equivalent::equivalent(keep, *key)
                })
                .min_by_key(|(_, stored)| stored.last_access.load(Ordering::Relaxed))
                .map(|(key, _)| key.clone());
            let Some(victim) = victim else { break };
            if let Some(stored) = state.stored.remove(&victim) {
                state.weight -= stored.weight;
                state.dirty = true;
                self.counters.evictions.inc();
                tracing::debug!(
                    service = victim.service(),
                    name = victim.name(),
                    weight = stored.weight,
                    "evicted the least recently used entry"
                );
            }
        }
    }
}
