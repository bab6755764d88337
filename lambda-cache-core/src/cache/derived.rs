//! Derived values: a pure function of a raw value, cached beside it and renewed with it.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Cache;
use crate::clock::Instant;
use crate::entry::Entry;
use crate::key::{Key, Lookup};
use crate::policy::Policy;

impl Cache {
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
        shared.write(|writer| {
            let store = &shared.store;
            let raw_weight = store
                .held(writer, &Lookup::raw::<S>(lookup.key))
                .map_or(0, |held| held.stored().weight);
            if store
                .held(writer, lookup)
                .is_some_and(|held| held.stored().fetched_at > entry.fetched_at())
            {
                return;
            }
            shared.put(
                writer,
                lookup,
                None,
                (super::erase(entry), entry.fetched_at()),
                (Some(raw_weight), true),
                flight,
                now,
            );
            shared.evict_over_budget(writer, lookup);
        });
    }
}
