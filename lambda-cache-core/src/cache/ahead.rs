//! Refresh ahead and stale while revalidate: a read answered at once with the value held while
//! one refresh of its key runs in the background, so that no reader waits at a TTL boundary.

use std::future::Future;

use super::flight::FlightGuard;
use super::{Answer, Cache};
use crate::clock::Instant;
use crate::entry::{Entry, Fetched};
use crate::error::CacheError;
use crate::key::{Key, Lookup};
use crate::policy::Policy;

impl Cache {
    /// As [`Cache::get_or_fetch`], with the policy's [`Policy::refresh_ahead`] and
    /// [`Policy::stale_while_revalidate`]: a value past the refresh-ahead share of its max age,
    /// or past its max age within the stale-while-revalidate window, is answered at once while
    /// one refresh of the key runs in the background (on the current tokio runtime; none is
    /// started outside one). The fetch is therefore `'static`: it owns what it reads with (a
    /// client is a cheap clone).
    ///
    /// A background refresh is single-flight with every other fetch of the key, bounded by
    /// [`CacheBuilder::refresh_timeout`](crate::CacheBuilder::refresh_timeout), and never an
    /// error to anyone: a failure (or a timeout) is counted in [`crate::Stats::errors`], logged,
    /// and leaves the value held in place for a later read to refresh again. Readers past max age
    /// and the window wait for a fetch as with `get_or_fetch`.
    ///
    /// In a Lambda function, a background refresh runs only while an invocation does: the
    /// environment is frozen between them. One frozen mid-flight resumes at the thaw; the
    /// timeout gives up one that never ends, and a reader holding a valid value never waits
    /// for it.
    ///
    /// # Errors
    /// As [`Cache::get_or_fetch`], for reads that wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Cache, Fetched, Key, LoadError, Policy};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let cache = Cache::builder().build()?;
    /// let policy = Policy::new(Duration::from_secs(300))
    ///     .refresh_ahead(0.8)?
    ///     .stale_while_revalidate(Duration::from_secs(30));
    /// let rate = cache
    ///     .get_or_refresh(Key::new("rates", "EUR"), policy, |_previous| async {
    ///         Ok::<_, LoadError<std::io::Error>>(Fetched::new(1.08_f64))
    ///     })
    ///     .await?;
    /// assert_eq!(*rate, 1.08);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn get_or_refresh<'c, V, E, F, Fut>(
        &'c self,
        key: Key<'c>,
        policy: impl Into<Policy>,
        fetch: F,
    ) -> impl Future<Output = Result<Entry<V>, E>> + 'c
    where
        V: Send + Sync + 'static,
        E: CacheError,
        F: FnOnce(Option<Entry<V>>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Fetched<V>, E>> + Send + 'static,
    {
        let policy = policy.into();
        let lookup = Lookup::raw::<V>(key);
        let now = self.shared.clock.now();
        let window = policy.max_age().saturating_add(policy.while_revalidate());
        let held = self.lookup_fresh::<V>(&lookup, window, now);
        match held {
            Some(entry) => {
                let counters = &self.shared.counters;
                let age = now.saturating_duration_since(entry.fetched_at());
                if age < policy.max_age() {
                    counters.hits.inc();
                    if policy
                        .refresh_ahead_after()
                        .is_some_and(|after| age >= after)
                        && self.refresh_in_background(&lookup, policy, fetch, now)
                    {
                        counters.refreshed_ahead.inc();
                    }
                } else {
                    // Past max age, within the window: answered now; one refresh runs (this
                    // read's, or one already under way).
                    counters.served_while_revalidating.inc();
                    tracing::debug!(
                        service = key.service(),
                        name = %crate::shown(key.name()),
                        key = %key.digest(),
                        age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
                        "served while revalidating"
                    );
                    self.refresh_in_background(&lookup, policy, fetch, now);
                }
                Answer::Hit(Some(entry))
            }
            None => Answer::Miss(Box::pin(self.miss(lookup, policy, fetch))),
        }
    }

    /// Starts one refresh of `lookup` on the current runtime unless a fetch of it is under way
    /// (or there is no runtime); true if it started.
    fn refresh_in_background<V, E, F, Fut>(
        &self,
        lookup: &Lookup<'_>,
        policy: Policy,
        fetch: F,
        now: Instant,
    ) -> bool
    where
        V: Send + Sync + 'static,
        E: CacheError,
        F: FnOnce(Option<Entry<V>>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Fetched<V>, E>> + Send + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let Some((owned, id, previous)) = self.lead_if_idle::<V>(lookup) else {
            return false;
        };
        tracing::debug!(
            service = lookup.key.service(),
            name = %crate::shown(lookup.key.name()),
            key = %lookup.key.digest(),
            "refresh in the background"
        );
        let cache = self.clone();
        let timeout = self.shared.config.refresh_timeout;
        runtime.spawn(async move {
            let lookup = owned.as_lookup();
            let (service, digest) = (lookup.key.service(), lookup.key.digest());
            // The leader of a background refresh serves nothing stale: the value held stays
            // in place whatever happens, and readers keep being answered with it.
            let refresh = cache.lead(
                FlightGuard::new(&cache, lookup, id),
                now,
                policy.no_stale(),
                previous,
                fetch,
            );
            match tokio::time::timeout(timeout, refresh).await {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => tracing::warn!(
                    service,
                    key = %digest,
                    "background refresh failed; the value held stays, and a later read retries"
                ),
                Err(_) => {
                    cache.shared.counters.errors.inc();
                    tracing::warn!(
                        service,
                        key = %digest,
                        timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                        "background refresh timed out; the value held stays, and a later read retries"
                    );
                }
            }
        });
        true
    }
}
