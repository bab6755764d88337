//! Counters, kept in release builds too.

use std::sync::atomic::{AtomicU64, Ordering};

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

#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
