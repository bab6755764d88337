//! Counters, kept in release builds too.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A snapshot of a cache's counters since it was built.
///
/// ```
/// let stats = lambda_cache_core::Cache::builder().build().unwrap().stats();
/// assert_eq!(stats.hits, 0);
/// assert_eq!(stats.fetches, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Reads answered from memory with a fresh value.
    pub hits: u64,
    /// Reads that found no fresh value (each either started a fetch or waited for one).
    pub misses: u64,
    /// Loader calls: requests to the backend.
    pub fetches: u64,
    /// Loader calls that failed.
    pub errors: u64,
    /// Failed refreshes answered with the previous value (stale-if-error).
    pub stale_served: u64,
    /// Entries removed to respect the capacity or the byte budget.
    pub evictions: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) fetches: Counter,
    pub(crate) errors: Counter,
    pub(crate) stale_served: Counter,
    pub(crate) evictions: Counter,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            hits: self.hits.get(),
            misses: self.misses.get(),
            fetches: self.fetches.get(),
            errors: self.errors.get(),
            stale_served: self.stale_served.get(),
            evictions: self.evictions.get(),
        }
    }
}

/// Shards per counter: threads counting at once mostly touch different cache lines.
const SHARDS: usize = 8;

/// A counter split into cache-line-sized shards, one picked per thread, so that a hit on one
/// thread does not slow a hit on another by bouncing a shared cache line.
#[derive(Debug, Default)]
pub(crate) struct Counter([Shard; SHARDS]);

#[derive(Debug, Default)]
#[repr(align(64))]
struct Shard(AtomicU64);

/// This thread's shard.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

impl Counter {
    #[inline]
    pub(crate) fn inc(&self) {
        self.0[shard()].0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}
