//! Single flight: one fetch at a time per key, its outcome shared with the readers who waited,
//! each of whom applies its own policy to it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use super::store::{Erased, Stored};
use super::{Cache, erase, is_fresh};
use crate::clock::Instant;
use crate::entry::{Entry, Fetched, Inner};
use crate::error::CacheError;
use crate::key::{Lookup, OwnedKey};
use crate::policy::Policy;

/// A fetch under way, as its waiters find it. The channel that hands them its outcome is made
/// by the first waiter: a fetch nobody waits for (most refreshes) allocates none.
pub(super) struct Flight {
    id: u64,
    done: Option<watch::Sender<Option<Outcome>>>,
}

/// What a fetch's leader hands its waiters. A failure carries the value held before it, so
/// that each waiter decides by its own policy whether a stale value may answer it.
#[derive(Clone)]
pub(super) enum Outcome {
    /// The value fetched or renewed (an `Arc<Inner<V>>`).
    Value(Erased),
    /// The fetch failed with the error (an `E`); the value held before it, if any.
    Failed {
        error: Erased,
        previous: Option<Erased>,
    },
}

/// What a reader does after looking at its key under the writers' lock.
enum Step<V> {
    Ready(Entry<V>),
    Wait(watch::Receiver<Option<Outcome>>),
    Lead {
        id: u64,
        /// When the lead was taken: the fetch's start.
        now: Instant,
        previous: Option<Entry<V>>,
    },
}

fn downcast<V: Send + Sync + 'static>(erased: &Erased) -> Option<Entry<V>> {
    Arc::clone(erased)
        .downcast::<Inner<V>>()
        .ok()
        .map(Entry::from_inner)
}

impl Cache {
    /// The miss path of [`Cache::get_or_fetch`]: join the fetch under way or lead a new one.
    pub(super) async fn miss<V, E, F, Fut>(
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
        let (id, started, previous) = loop {
            match self.join_or_lead::<V>(&lookup, policy.max_age(), first_new_flight) {
                Step::Ready(entry) => return Ok(entry),
                Step::Lead { id, now, previous } => break (id, now, previous),
                Step::Wait(mut rx) => {
                    // An error here means the leader was dropped mid-fetch: look again.
                    let Ok(outcome) = rx.wait_for(Option::is_some).await.map(|o| o.clone()) else {
                        continue;
                    };
                    if let Some(answer) =
                        outcome.and_then(|o| self.settle_waiter(&lookup, policy, o))
                    {
                        return answer;
                    }
                    // A flight of another value or error type for the same key: look again.
                }
            }
        };
        let guard = FlightGuard {
            cache: self,
            lookup,
            id,
            finished: false,
        };
        self.lead(guard, started, policy, previous, fetch).await
    }

    /// A waiter's answer from the leader's outcome, by the waiter's own policy: the value
    /// fetched; or on a failure, the value held before it if this waiter's stale-if-error
    /// allows it, else the error. `None` if the outcome is of other types than this reader's.
    fn settle_waiter<V, E>(
        &self,
        lookup: &Lookup<'_>,
        policy: Policy,
        outcome: Outcome,
    ) -> Option<Result<Entry<V>, E>>
    where
        V: Send + Sync + 'static,
        E: CacheError,
    {
        match outcome {
            Outcome::Value(entry) => downcast(&entry).map(Ok),
            Outcome::Failed { error, previous } => {
                let error = error.downcast_ref::<E>()?.clone();
                let previous = previous.as_ref().and_then(downcast::<V>);
                match previous.filter(|p| self.may_serve_stale_after(&error, policy, p)) {
                    Some(previous) => {
                        // Counted per read; the WARN is the leader's, once per failed refresh,
                        // so that a thousand waiters do not write a thousand lines.
                        self.shared.counters.stale_served.inc();
                        tracing::debug!(
                            service = lookup.key.service(),
                            name = %crate::shown(lookup.key.name()),
                            key = %lookup.key.digest(),
                            "a waiter is served a stale value (stale-if-error)"
                        );
                        Some(Ok(previous))
                    }
                    None => Some(Err(error)),
                }
            }
        }
    }

    /// Takes the lead of a fetch of `lookup` if none is under way (a background refresh):
    /// the flight's key, its number and the value held.
    pub(super) fn lead_if_idle<V: Send + Sync + 'static>(
        &self,
        lookup: &Lookup<'_>,
    ) -> Option<(OwnedKey, u64, Option<Entry<V>>)> {
        let store = &self.shared.store;
        let mut writer = store.lock();
        if writer.flights.contains_key(lookup) {
            return None;
        }
        let held = store.held(&writer, lookup);
        let owned = held
            .as_ref()
            .map_or_else(|| OwnedKey::from_lookup(lookup), |held| held.key().clone());
        let previous = held.and_then(|held| downcast(&held.stored().entry));
        let id = self.shared.next_flight.fetch_add(1, Ordering::AcqRel);
        writer
            .flights
            .insert(owned.clone(), Flight { id, done: None });
        Some((owned, id, previous))
    }

    /// Looks at the key under the writers' lock: a value fresh enough now, a fetch to join, or
    /// the lead of a new fetch.
    fn join_or_lead<V: Send + Sync + 'static>(
        &self,
        lookup: &Lookup<'_>,
        max_age: Duration,
        first_new_flight: u64,
    ) -> Step<V> {
        let store = &self.shared.store;
        let now = self.shared.clock.now();
        let mut writer = store.lock();
        let held = store.held(&writer, lookup);
        let usable = |stored: &Stored| {
            // A value fetched since this request began is fresh enough even for max_age zero.
            is_fresh(stored, max_age, now) || stored.flight >= first_new_flight
        };
        if let Some(held) = &held
            && usable(held.stored())
            && let Some(entry) = downcast(&held.stored().entry)
        {
            held.stored().touch(now);
            return Step::Ready(entry);
        }
        if let Some(flight) = writer.flights.get_mut(lookup) {
            let done = flight.done.get_or_insert_with(|| watch::channel(None).0);
            return Step::Wait(done.subscribe());
        }
        // Only a leader hands the loader the previous entry (for revalidation). The flight's
        // key is the held entry's, shared, when there is one.
        let owned = held
            .as_ref()
            .map_or_else(|| OwnedKey::from_lookup(lookup), |held| held.key().clone());
        let previous = held.and_then(|held| downcast(&held.stored().entry));
        let id = self.shared.next_flight.fetch_add(1, Ordering::AcqRel);
        writer.flights.insert(owned, Flight { id, done: None });
        Step::Lead { id, now, previous }
    }

    pub(super) async fn lead<V, E, F, Fut>(
        &self,
        mut guard: FlightGuard<'_>,
        started: Instant,
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
        counters.fetches.inc();
        // One span per backend fetch: what was fetched (never the value), how it ended, how long
        // it took. Nothing is recorded on a hit. The span is at DEBUG, the only level at which
        // the key's name is shown.
        let key = guard.lookup.key;
        let span = tracing::debug_span!(
            "lambda_cache.fetch",
            service = key.service(),
            name = %crate::shown(key.name()),
            variant = %crate::shown(key.variant_str()),
            key = %key.digest(),
            revalidating = previous.is_some(),
            outcome = tracing::field::Empty,
            stale_served = false,
            duration_us = tracing::field::Empty,
        );
        let outcome = tracing::Instrument::instrument(fetch(previous.clone()), span.clone()).await;
        let ended = self.shared.clock.now();
        span.record(
            "duration_us",
            u64::try_from(ended.saturating_duration_since(started).as_micros()).unwrap_or(u64::MAX),
        );
        match (outcome, previous) {
            (
                Ok(Fetched::New {
                    value,
                    validator,
                    weight,
                    age,
                }),
                _,
            ) => {
                span.record("outcome", "new");
                let entry = Entry::new(value, started.saturating_sub(age), validator);
                // A value that arrived aged (from a shared tier) takes no jitter: its age is
                // the fleet's, whose refreshes the tier's lease already makes one.
                guard.finish(
                    Some((&entry, Some(weight), age.is_zero())),
                    Outcome::Value(erase(&entry)),
                    ended,
                );
                Ok(entry)
            }
            (Ok(Fetched::NotModified { validator }), Some(previous)) => {
                span.record("outcome", "not_modified");
                self.shared.counters.not_modified.inc();
                let entry = previous.renewed(started, validator);
                guard.finish(
                    Some((&entry, None, true)),
                    Outcome::Value(erase(&entry)),
                    ended,
                );
                Ok(entry)
            }
            // A backend (or a proxy before it) answered "not modified" to a read that held
            // nothing to compare: a failure of the read, never a panic.
            (Ok(Fetched::NotModified { .. }), None) => self.fail(
                (guard, &span, ended),
                policy,
                E::not_modified_without_value(key),
                None,
            ),
            (Err(error), previous) => self.fail((guard, &span, ended), policy, error, previous),
        }
    }

    /// The end of a failed fetch: the previous value if the leader's policy allows it, else
    /// the error; the waiters get both, to apply their own policies.
    fn fail<V, E>(
        &self,
        (mut guard, span, ended): (FlightGuard<'_>, &tracing::Span, Instant),
        policy: Policy,
        error: E,
        previous: Option<Entry<V>>,
    ) -> Result<Entry<V>, E>
    where
        V: Send + Sync + 'static,
        E: CacheError,
    {
        let counters = &self.shared.counters;
        span.record("outcome", "error");
        counters.errors.inc();
        let outcome = Outcome::Failed {
            error: Arc::new(error.clone()),
            previous: previous.as_ref().map(erase),
        };
        if let Some(previous) = previous.filter(|p| self.may_serve_stale_after(&error, policy, p)) {
            span.record("stale_served", true);
            self.log_stale(&guard.lookup, &previous, &error);
            counters.stale_served.inc();
            guard.finish::<V>(None, outcome, ended);
            return Ok(previous);
        }
        tracing::debug!(parent: span, error = %error, "fetch failed");
        guard.finish::<V>(None, outcome, ended);
        Err(error)
    }

    /// True if `error` may be answered with `previous` under `policy`'s stale-if-error.
    fn may_serve_stale_after<V, E: CacheError>(
        &self,
        error: &E,
        policy: Policy,
        previous: &Entry<V>,
    ) -> bool {
        error.is_transient() && self.may_serve_stale(policy.stale(), previous.fetched_at())
    }

    /// The event of a stale value served: at WARN, so without the key's name (its digest
    /// instead) and without the error's text, either of which may hold what the caller built
    /// the key or the loader's message from; both are in the DEBUG span and event.
    fn log_stale<V, E: CacheError>(&self, lookup: &Lookup<'_>, previous: &Entry<V>, error: &E) {
        let age = self
            .shared
            .clock
            .now()
            .saturating_duration_since(previous.fetched_at());
        let key = lookup.key;
        tracing::debug!(
            service = key.service(),
            name = %crate::shown(key.name()),
            key = %key.digest(),
            error = %error,
            "refresh failed; a stale value is served (stale-if-error)"
        );
        tracing::warn!(
            service = key.service(),
            key = %key.digest(),
            age_s = age.as_secs(),
            "refresh failed; a stale value is served (stale-if-error)"
        );
    }
}

/// Held by a fetch's leader. Finishing publishes the outcome; dropping it unfinished (the
/// leader's future was cancelled) clears the flight so that a waiter takes the lead.
pub(super) struct FlightGuard<'a> {
    cache: &'a Cache,
    lookup: Lookup<'a>,
    id: u64,
    finished: bool,
}

impl<'a> FlightGuard<'a> {
    /// The guard of flight `id` of `lookup`, taken by [`Cache::lead_if_idle`].
    pub(super) fn new(cache: &'a Cache, lookup: Lookup<'a>, id: u64) -> Self {
        Self {
            cache,
            lookup,
            id,
            finished: false,
        }
    }
}

impl FlightGuard<'_> {
    /// Stores the new entry (if any; a weight of `None` keeps the previous weight) as of `now`,
    /// ends the flight and wakes its waiters, if any came, with `outcome`.
    fn finish<V: Send + Sync + 'static>(
        &mut self,
        store: Option<(&Entry<V>, Option<u64>, bool)>,
        outcome: Outcome,
        now: Instant,
    ) {
        self.finished = true;
        let shared = &self.cache.shared;
        let done = shared.write(|writer| {
            let (owned, done) = end_flight(writer, &self.lookup, self.id);
            // A flight that is no longer the key's was detached by `invalidate_where` (a
            // write changed the key meanwhile): what it read may be older than the write, so
            // it is answered to its own reader and not stored.
            if let (Some(owned), Some((entry, weight, jitter))) = (owned, store) {
                shared.put(
                    writer,
                    &self.lookup,
                    Some(owned),
                    (erase(entry), entry.fetched_at()),
                    (weight, jitter),
                    self.id,
                    now,
                );
            }
            shared.evict_over_budget(writer, &self.lookup);
            done
        });
        if let Some(done) = done {
            done.send_replace(Some(outcome));
        }
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Dropping the flight's sender wakes the waiters, who look again.
        drop(
            self.cache
                .shared
                .write(|writer| end_flight(writer, &self.lookup, self.id)),
        );
    }
}

/// Ends the flight numbered `id` if it is still the key's (a newer one is left alone); returns
/// its key (for the value it stores) and its waiters' channel, if any waiter came.
fn end_flight(
    writer: &mut super::store::Writer,
    lookup: &Lookup<'_>,
    id: u64,
) -> (Option<OwnedKey>, Option<watch::Sender<Option<Outcome>>>) {
    if writer
        .flights
        .get(lookup)
        .is_some_and(|flight| flight.id == id)
        && let Some((key, flight)) = writer.flights.remove_entry(lookup)
    {
        return (Some(key), flight.done);
    }
    (None, None)
}
