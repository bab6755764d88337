//! The cache's settings, checked once when it is built.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use super::{Cache, Shared};
use crate::clock::{Clock, Instant};
use crate::error::ConfigError;
use crate::stats::Counters;

/// Jitter is kept as a fraction of `max_age` in units of 1/65536.
pub(super) const JITTER_ONE: u64 = 1 << 16;

#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) capacity: usize,
    pub(super) max_bytes: Option<u64>,
    /// Largest share of max_age that jitter may remove, in 1/65536.
    pub(super) jitter: u64,
    pub(super) jitter_seed: Option<u64>,
    pub(super) stale_if_error: Option<Duration>,
    /// The longest a background refresh may run before it is given up.
    pub(super) refresh_timeout: Duration,
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
    refresh_timeout: Duration,
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
            refresh_timeout: Cache::DEFAULT_REFRESH_TIMEOUT,
            clock: Clock::real(),
            #[cfg(feature = "shared")]
            tier: None,
        }
    }
}

impl CacheBuilder {
    /// The most entries held, from 1 to [`Cache::MAX_CAPACITY`]; past it an entry that has not
    /// been read for long is evicted (default 1024): the least recently read of 8 drawn at
    /// random, or of all of them up to 16 entries, never one being fetched. The cache sets aside one pointer (8 bytes)
    /// per entry of capacity, rounded up to a power of two, when it is built.
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder().capacity(2).build().unwrap();
    /// # let _ = cache;
    /// ```
    pub fn capacity(mut self, entries: usize) -> Self {
        self.capacity = entries;
        self
    }

    /// A budget for the summed weights (bytes) that loaders report; past it entries not read
    /// for long are evicted (as for the capacity), and a value heavier than the whole budget is
    /// returned but not kept. No budget by default.
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
    /// #     fn lease<'a>(&'a self, _: lambda_cache_core::Lease<'a>, _: std::time::Duration) -> lambda_cache_core::BoxFuture<'a, Result<bool, lambda_cache_core::TierError>> { Box::pin(async { Ok(true) }) }
    /// #     fn release<'a>(&'a self, _: lambda_cache_core::Lease<'a>) -> lambda_cache_core::BoxFuture<'a, Result<(), lambda_cache_core::TierError>> { Box::pin(async { Ok(()) }) }
    /// #     fn write<'a>(&'a self, _: lambda_cache_core::TierWrite<'a>) -> lambda_cache_core::BoxFuture<'a, Result<bool, lambda_cache_core::TierError>> { Box::pin(async { Ok(true) }) }
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

    /// Enables stale-if-error for every read whose policy says [`StaleIfError::Inherit`](crate::StaleIfError::Inherit): when a
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

    /// The longest a background refresh ([`Policy::refresh_ahead`](crate::Policy::refresh_ahead),
    /// [`Policy::stale_while_revalidate`](crate::Policy::stale_while_revalidate)) may run
    /// before it is given up, counted as a failed fetch, and retried by a later read (default
    /// [`Cache::DEFAULT_REFRESH_TIMEOUT`]). A Lambda environment frozen mid-refresh finds it
    /// still running when it thaws; the bound keeps one that never ends from holding its key.
    ///
    /// ```
    /// let cache = lambda_cache_core::Cache::builder()
    ///     .refresh_timeout(std::time::Duration::from_secs(5))
    ///     .build()
    ///     .unwrap();
    /// # let _ = cache;
    /// ```
    pub fn refresh_timeout(mut self, timeout: Duration) -> Self {
        self.refresh_timeout = timeout;
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
    /// [`ConfigError`] naming the setting at fault: a capacity of zero or above
    /// [`Cache::MAX_CAPACITY`], a zero byte budget, or a jitter outside 0.0 to 0.5.
    ///
    /// ```
    /// use lambda_cache_core::{Cache, ConfigError};
    /// assert_eq!(Cache::builder().jitter(0.9).build().unwrap_err(), ConfigError::JitterOutOfRange(0.9));
    /// ```
    pub fn build(self) -> Result<Cache, ConfigError> {
        if self.capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        if self.capacity > Cache::MAX_CAPACITY {
            return Err(ConfigError::CapacityTooLarge(self.capacity));
        }
        if self.max_bytes == Some(0) {
            return Err(ConfigError::ZeroByteBudget);
        }
        if self.refresh_timeout.is_zero() {
            return Err(ConfigError::ZeroRefreshTimeout);
        }
        if !(0.0..=0.5).contains(&self.jitter) {
            return Err(ConfigError::JitterOutOfRange(self.jitter));
        }
        // The range check above bounds the product to 0..=32768.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let jitter = (self.jitter * JITTER_ONE as f64).round() as u64;
        let config = Config {
            capacity: self.capacity,
            max_bytes: self.max_bytes,
            jitter,
            jitter_seed: self.jitter_seed,
            stale_if_error: self.stale_if_error,
            refresh_timeout: self.refresh_timeout,
        };
        Ok(Cache {
            shared: Arc::new(Shared {
                store: super::store::Store::new(self.capacity),
                clock: self.clock,
                config,
                #[cfg(feature = "shared")]
                tier: self.tier,
                counters: Counters::default(),
                next_flight: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }
}

impl Config {
    /// This fetch's share of max_age removed by jitter.
    pub(super) fn draw_shrink(&self, now: Instant) -> u64 {
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
