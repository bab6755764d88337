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
    /// Loader calls: requests to the backend, or to the shared tier first when the cache has
    /// one (those it answered are [`Stats::shared_hits`]).
    pub fetches: u64,
    /// Loader calls that failed.
    pub errors: u64,
    /// Background refreshes started because a read found its value past the refresh-ahead
    /// share of its max age ([`crate::Policy::refresh_ahead`]).
    pub refreshed_ahead: u64,
    /// Reads answered at once with a value past its max age, within the
    /// stale-while-revalidate window, while one refresh ran
    /// ([`crate::Policy::stale_while_revalidate`]).
    pub served_while_revalidating: u64,
    /// Loader calls answered "not modified" (a revalidation: the held value kept, its age
    /// renewed, no new copy read).
    pub not_modified: u64,
    /// Reads answered with the previous value after a refresh failed (stale-if-error): the
    /// fetch's leader and each waiter whose own policy allowed it.
    pub stale_served: u64,
    /// Entries removed to respect the capacity or the byte budget.
    pub evictions: u64,
    /// Misses answered by the shared tier (a value another cache stored there), not the
    /// backend. Always zero without a shared tier.
    pub shared_hits: u64,
    /// Misses that found another cache fetching the key (its lease held) and waited for its
    /// value.
    pub shared_waits: u64,
    /// Shared-tier calls that failed or timed out; each read went on to the backend.
    pub shared_errors: u64,
    /// Passes of the writers' lock that changed what readers see: one per value fetched or
    /// inserted, one per [`crate::Batch`] of many, one per eviction run, invalidation or clear.
    pub publishes: u64,
}

impl Stats {
    /// What was counted between `earlier` and this snapshot (each counter's difference, never
    /// below zero): one interval's counts, for metrics.
    ///
    /// ```
    /// use lambda_cache_core::Stats;
    /// let (mut before, mut after) = (Stats::default(), Stats::default());
    /// (before.hits, after.hits) = (3, 10);
    /// assert_eq!(after.since(&before).hits, 7);
    /// ```
    #[must_use]
    pub fn since(&self, earlier: &Stats) -> Stats {
        Stats {
            hits: self.hits.saturating_sub(earlier.hits),
            misses: self.misses.saturating_sub(earlier.misses),
            fetches: self.fetches.saturating_sub(earlier.fetches),
            errors: self.errors.saturating_sub(earlier.errors),
            not_modified: self.not_modified.saturating_sub(earlier.not_modified),
            refreshed_ahead: self.refreshed_ahead.saturating_sub(earlier.refreshed_ahead),
            served_while_revalidating: self
                .served_while_revalidating
                .saturating_sub(earlier.served_while_revalidating),
            stale_served: self.stale_served.saturating_sub(earlier.stale_served),
            evictions: self.evictions.saturating_sub(earlier.evictions),
            shared_hits: self.shared_hits.saturating_sub(earlier.shared_hits),
            shared_waits: self.shared_waits.saturating_sub(earlier.shared_waits),
            shared_errors: self.shared_errors.saturating_sub(earlier.shared_errors),
            publishes: self.publishes.saturating_sub(earlier.publishes),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) fetches: Counter,
    pub(crate) errors: Counter,
    pub(crate) not_modified: Counter,
    pub(crate) refreshed_ahead: Counter,
    pub(crate) served_while_revalidating: Counter,
    pub(crate) stale_served: Counter,
    pub(crate) evictions: Counter,
    pub(crate) shared_hits: Counter,
    pub(crate) shared_waits: Counter,
    pub(crate) shared_errors: Counter,
    pub(crate) publishes: Counter,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            hits: self.hits.get(),
            misses: self.misses.get(),
            fetches: self.fetches.get(),
            errors: self.errors.get(),
            not_modified: self.not_modified.get(),
            refreshed_ahead: self.refreshed_ahead.get(),
            served_while_revalidating: self.served_while_revalidating.get(),
            stale_served: self.stale_served.get(),
            evictions: self.evictions.get(),
            shared_hits: self.shared_hits.get(),
            shared_waits: self.shared_waits.get(),
            shared_errors: self.shared_errors.get(),
            publishes: self.publishes.get(),
        }
    }
}

/// Slots per counter owned by one thread each; threads beyond these share one more slot.
const OWNED: usize = 16;

/// A counter in cache-line-sized slots. Each of the process's first [`OWNED`] threads to count
/// owns a slot and adds to it with a plain load and store: no locked instruction, and no cache
/// line shared with another thread's count. Later threads add atomically to one shared slot.
/// Reading sums the slots (a count a thread is adding at that moment may be missed, never lost).
#[derive(Debug, Default)]
pub(crate) struct Counter([Slot; OWNED + 1]);

#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot(AtomicU64);

/// This thread's own slot, if it has one. Slot numbers are handed out once per thread for the
/// whole process, so no two threads ever own the same slot of any counter.
#[inline]
fn owned_slot() -> Option<usize> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    let slot = SLOT.with(|slot| *slot);
    (slot < OWNED).then_some(slot)
}

impl Counter {
    #[inline]
    pub(crate) fn inc(&self) {
        match owned_slot() {
            Some(own) => {
                // Only this thread writes this slot, so a load and a store cannot lose a count.
                let slot = &self.0[own].0;
                slot.store(slot.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            None => {
                self.0[OWNED].0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_are_all_kept() {
        // More threads than owned slots, so the shared slot is exercised too.
        let counter = std::sync::Arc::new(Counter::default());
        let threads: Vec<_> = (0..OWNED + 8)
            .map(|_| {
                let counter = std::sync::Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        counter.inc();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counter.get(), (OWNED as u64 + 8) * 1_000);
    }
}
