//! The store at size and under contention: batches publish once, eviction keeps its guarantees
//! when it samples, readers racing writers at 100,000 keys see whole values no older than their
//! max age, and each waiter of a shared fetch applies its own policy to its outcome.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use lambda_cache_core::{Cache, ConfigError, Fetched, Key, ManualClock, Policy, Validator};
use tokio::sync::Notify;

mod common;
use common::{TestError, cache_with_clock};

const MINUTE: Duration = Duration::from_secs(60);
const KEY: Key<'static> = Key::new("ssm", "/app/db/host");

/// Runs a leader whose fetch fails once `release` is notified and a waiter that joins it, with
/// their own policies; returns (leader's answer, waiter's answer, fetches made).
async fn leader_and_waiter(
    leader_policy: Policy,
    waiter_policy: Policy,
) -> (Result<String, TestError>, Result<String, TestError>, usize) {
    let (cache, clock) = cache_with_clock();
    cache
        .get_or_fetch(KEY, MINUTE, |_| async {
            Ok::<_, TestError>(Fetched::new(String::from("v1")))
        })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(90));
    let calls = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let leader = {
        let (cache, calls, release) = (cache.clone(), Arc::clone(&calls), Arc::clone(&release));
        tokio::spawn(async move {
            cache
                .get_or_fetch(KEY, leader_policy, |_| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    release.notified().await;
                    Err::<Fetched<String>, _>(TestError::Throttled)
                })
                .await
                .map(|e| e.to_string())
        })
    };
    while calls.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let waiter = {
        let (cache, calls) = (cache.clone(), Arc::clone(&calls));
        tokio::spawn(async move {
            cache
                .get_or_fetch(KEY, waiter_policy, |_| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, TestError>(Fetched::new(String::from("never")))
                })
                .await
                .map(|e| e.to_string())
        })
    };
    // The waiter has joined once it counts as a miss.
    while cache.stats().misses < 3 {
        tokio::task::yield_now().await;
    }
    release.notify_one();
    let (leader, waiter) = (leader.await.unwrap(), waiter.await.unwrap());
    (leader, waiter, calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_waiter_that_refuses_stale_values_gets_the_error_although_the_leader_served_stale() {
    let allows = Policy::new(MINUTE).stale_if_error(Duration::from_secs(600));
    let refuses = Policy::new(MINUTE).no_stale();
    let (leader, waiter, calls) = leader_and_waiter(allows, refuses).await;
    assert_eq!(leader, Ok(String::from("v1")));
    assert_eq!(waiter, Err(TestError::Throttled));
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn a_waiter_that_allows_stale_values_gets_one_although_the_leader_refused_them() {
    let allows = Policy::new(MINUTE).stale_if_error(Duration::from_secs(600));
    let refuses = Policy::new(MINUTE).no_stale();
    let (leader, waiter, calls) = leader_and_waiter(refuses, allows).await;
    assert_eq!(leader, Err(TestError::Throttled));
    assert_eq!(waiter, Ok(String::from("v1")));
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn a_waiter_whose_stale_bound_is_shorter_than_the_value_s_age_gets_the_error() {
    let long = Policy::new(MINUTE).stale_if_error(Duration::from_secs(600));
    let short = Policy::new(MINUTE).stale_if_error(Duration::from_secs(30));
    let (leader, waiter, calls) = leader_and_waiter(long, short).await;
    assert_eq!(leader, Ok(String::from("v1")));
    assert_eq!(waiter, Err(TestError::Throttled));
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn not_modified_with_nothing_held_is_a_typed_error_and_the_next_read_fetches() {
    let (cache, _clock) = cache_with_clock();
    let calls = AtomicUsize::new(0);
    let err = cache
        .get_or_fetch(KEY, MINUTE, |previous: Option<_>| {
            assert!(previous.is_none());
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<Fetched<String>, TestError>(Fetched::not_modified()) }
        })
        .await
        .unwrap_err();
    assert_eq!(
        err,
        TestError::NotFound(String::from("not modified without value: /app/db/host"))
    );
    assert!(cache.is_empty());
    assert_eq!(cache.stats().errors, 1);
    let next = cache
        .get_or_fetch(KEY, MINUTE, |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, TestError>(Fetched::new(String::from("v1")))
        })
        .await
        .unwrap();
    assert_eq!(next.as_str(), "v1");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_batch_of_100_values_is_stored_in_one_publication() {
    let cache = Cache::builder().capacity(1_000).build().unwrap();
    cache.insert(Key::new("ssm", "/before"), 0_u32, Validator::none(), 1);
    let before = cache.stats().publishes;
    assert_eq!(before, 1);
    let names: Vec<String> = (0..100).map(|i| format!("/batch/p{i}")).collect();
    let mut batch = cache.batch();
    let entries: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| batch.insert(Key::new("ssm", name), i, Validator::from(1_i64), 8))
        .collect();
    // Nothing is visible before the batch is stored.
    assert!(
        cache
            .get_fresh::<usize>(Key::new("ssm", &names[0]), MINUTE)
            .is_none()
    );
    batch.commit();
    assert_eq!(cache.stats().publishes, before + 1);
    assert_eq!(cache.len(), 101);
    assert_eq!(cache.weight(), 1 + 100 * 8);
    for (i, name) in names.iter().enumerate() {
        let hit = cache
            .get_fresh::<usize>(Key::new("ssm", name), MINUTE)
            .unwrap();
        assert_eq!(*hit, i);
        assert_eq!(*entries[i], i);
    }
    // The same 100 stored one at a time publish 100 times.
    for (i, name) in names.iter().enumerate() {
        cache.insert(Key::new("ssm", name), i, Validator::none(), 8);
    }
    assert_eq!(cache.stats().publishes, before + 101);
}

#[test]
fn a_batch_larger_than_the_capacity_keeps_the_capacity() {
    let cache = Cache::builder().capacity(50).build().unwrap();
    let names: Vec<String> = (0..120).map(|i| format!("k{i}")).collect();
    let mut batch = cache.batch();
    for name in &names {
        batch.insert(Key::new("generic", name), 1_u8, Validator::none(), 0);
    }
    batch.commit();
    assert_eq!(cache.len(), 50);
    assert_eq!(cache.stats().evictions, 70);
}

#[tokio::test]
async fn sampled_eviction_never_takes_a_key_being_fetched() {
    const CAPACITY: usize = 1_000;
    let (cache, clock) = {
        let clock = ManualClock::new();
        let cache = Cache::builder()
            .clock(clock.clock())
            .capacity(CAPACITY)
            .build()
            .unwrap();
        (cache, clock)
    };
    cache.insert(KEY, String::from("v1"), Validator::none(), 0);
    clock.advance(Duration::from_secs(90));
    // The oldest entry of all, expired, and being refreshed while others pour in.
    let release = Arc::new(Notify::new());
    let started = Arc::new(AtomicBool::new(false));
    let leader = {
        let (cache, release, started) = (cache.clone(), Arc::clone(&release), Arc::clone(&started));
        tokio::spawn(async move {
            cache
                .get_or_fetch(KEY, MINUTE, |previous| async move {
                    assert!(previous.is_some());
                    started.store(true, Ordering::SeqCst);
                    release.notified().await;
                    Ok::<_, TestError>(Fetched::new(String::from("v2")))
                })
                .await
        })
    };
    while !started.load(Ordering::SeqCst) {
        tokio::task::yield_now().await;
    }
    let names: Vec<String> = (0..10 * CAPACITY).map(|i| format!("filler-{i}")).collect();
    for name in &names {
        cache.insert(Key::new("ssm", name), 1_u8, Validator::none(), 0);
        clock.advance(Duration::from_millis(2));
    }
    assert_eq!(cache.len(), CAPACITY);
    assert!(
        cache.get_fresh::<String>(KEY, Duration::MAX).is_some(),
        "the key being fetched was evicted"
    );
    release.notify_one();
    assert_eq!(leader.await.unwrap().unwrap().as_str(), "v2");
    assert_eq!(
        cache.stats().evictions,
        10 * CAPACITY as u64 - CAPACITY as u64 + 1
    );
}

#[test]
fn sampled_eviction_prefers_entries_not_read_for_long() {
    // 2,000 entries in a cache of 1,000: the half read after being stored survives far more
    // often than the half never read again (sampling is approximate, not exact).
    let clock = ManualClock::new();
    let cache = Cache::builder()
        .clock(clock.clock())
        .capacity(1_000)
        .build()
        .unwrap();
    let names: Vec<String> = (0..2_000).map(|i| format!("k{i}")).collect();
    for name in &names[..1_000] {
        cache.insert(Key::new("generic", name), 0_u8, Validator::none(), 0);
        clock.advance(Duration::from_millis(2));
    }
    for name in names[..1_000].iter().step_by(2) {
        cache.get_fresh::<u8>(Key::new("generic", name), Duration::MAX);
    }
    clock.advance(Duration::from_millis(2));
    for name in &names[1_000..1_500] {
        cache.insert(Key::new("generic", name), 0_u8, Validator::none(), 0);
        clock.advance(Duration::from_millis(2));
    }
    let survivors = |parity: usize| {
        names[..1_000]
            .iter()
            .skip(parity)
            .step_by(2)
            .filter(|name| {
                cache
                    .get_fresh::<u8>(Key::new("generic", name), Duration::MAX)
                    .is_some()
            })
            .count()
    };
    let (read, unread) = (survivors(0), survivors(1));
    assert!(read > 4 * unread.max(1), "read {read}, unread {unread}");
}

#[test]
fn capacity_is_bounded() {
    assert_eq!(
        Cache::builder().capacity(usize::MAX).build().unwrap_err(),
        ConfigError::CapacityTooLarge(usize::MAX)
    );
    assert!(
        Cache::builder()
            .capacity(Cache::MAX_CAPACITY + 1)
            .build()
            .unwrap_err()
            .to_string()
            .contains("1048577")
    );
}

/// A value that knows its key and sequence number in three places, and counts live copies.
struct Stamped {
    key: usize,
    seq: u64,
    text: String,
    live: Arc<AtomicUsize>,
}

impl Stamped {
    fn new(key: usize, seq: u64, live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Self {
            key,
            seq,
            text: format!("{key}:{seq}"),
            live: Arc::clone(live),
        }
    }

    fn is_whole(&self, key: usize) -> bool {
        self.key == key && self.text == format!("{key}:{}", self.seq)
    }
}

impl Drop for Stamped {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn readers_racing_writers_at_100_000_keys_see_whole_fresh_values_and_lose_no_update() {
    const KEYS: usize = 100_000;
    const ROUNDS: u64 = 3;
    let max_age = Duration::from_millis(50);
    let clock = ManualClock::new();
    let cache = Cache::builder()
        .clock(clock.clock())
        .capacity(KEYS)
        .build()
        .unwrap();
    let names: Arc<Vec<String>> = Arc::new((0..KEYS).map(|i| format!("key-{i}")).collect());
    let live = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2_u64)
        .map(|r| {
            let (cache, clock, done, names) = (
                cache.clone(),
                clock.clone(),
                Arc::clone(&done),
                Arc::clone(&names),
            );
            std::thread::spawn(move || {
                let (mut hits, mut i) = (0_u64, r as usize * 7_919);
                let mut last_seq = vec![0_u64; KEYS];
                while !done.load(Ordering::SeqCst) {
                    i = (i + 7_919) % KEYS;
                    let before = clock.clock().now();
                    if let Some(entry) =
                        cache.get_fresh::<Stamped>(Key::new("race", &names[i]), max_age)
                    {
                        hits += 1;
                        assert!(entry.is_whole(i), "torn value under {i}: {}", entry.text);
                        assert!(
                            before.saturating_duration_since(entry.fetched_at()) < max_age,
                            "{i}: served older than max_age"
                        );
                        assert!(entry.seq >= last_seq[i], "{i} went back");
                        last_seq[i] = entry.seq;
                    }
                }
                hits
            })
        })
        .collect();
    // Two writers: one fills and refreshes every key in rounds, in batches of 100 (as a
    // GetParameters answer); one rewrites a moving window one key at a time.
    let last_written: Arc<Vec<AtomicU64>> =
        Arc::new((0..KEYS).map(|_| AtomicU64::new(0)).collect());
    let seq = Arc::new(AtomicU64::new(1));
    let single = {
        let (cache, names, live, done, last_written, seq) = (
            cache.clone(),
            Arc::clone(&names),
            Arc::clone(&live),
            Arc::clone(&done),
            Arc::clone(&last_written),
            Arc::clone(&seq),
        );
        std::thread::spawn(move || {
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                i = (i + 13) % KEYS;
                // One writer per key at a time: this one takes the odd keys.
                let k = i | 1;
                let s = seq.fetch_add(1, Ordering::SeqCst);
                cache.insert(
                    Key::new("race", &names[k]),
                    Stamped::new(k, s, &live),
                    Validator::none(),
                    1,
                );
                last_written[k].store(s, Ordering::SeqCst);
            }
        })
    };
    for _ in 0..ROUNDS {
        for chunk in (0..KEYS).step_by(2).collect::<Vec<_>>().chunks(100) {
            let mut batch = cache.batch();
            for &k in chunk {
                let s = seq.fetch_add(1, Ordering::SeqCst);
                batch.insert(
                    Key::new("race", &names[k]),
                    Stamped::new(k, s, &live),
                    Validator::none(),
                    1,
                );
                last_written[k].store(s, Ordering::SeqCst);
            }
            batch.commit();
            clock.advance(Duration::from_micros(20));
        }
        clock.advance(Duration::from_millis(60));
    }
    done.store(true, Ordering::SeqCst);
    single.join().expect("the writer failed");
    for reader in readers {
        let hits = reader.join().expect("a reader failed");
        assert!(hits > 0, "a reader never saw a value");
    }
    // No lost update: every even key holds the last value written to it.
    assert_eq!(cache.stats().evictions, 0);
    for k in (0..KEYS).step_by(2) {
        let held = cache
            .get_fresh::<Stamped>(Key::new("race", &names[k]), Duration::MAX)
            .unwrap();
        assert_eq!(held.seq, last_written[k].load(Ordering::SeqCst), "key {k}");
    }
    for k in (1..KEYS).step_by(2) {
        if let Some(held) = cache.get_fresh::<Stamped>(Key::new("race", &names[k]), Duration::MAX) {
            assert_eq!(held.seq, last_written[k].load(Ordering::SeqCst), "key {k}");
        }
    }
    assert!(cache.len() <= KEYS);
    // Memory freed after clear: no value is alive once the cache lets go.
    cache.clear();
    assert!(cache.is_empty());
    assert_eq!(cache.weight(), 0);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}
