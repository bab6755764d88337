//! Behaviour of the store, driven by a manual clock: no test sleeps, every test counts fetches.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lambda_cache_core::{Cache, ConfigError, Entry, Fetched, Key, ManualClock, Policy, Validator};

mod common;
use common::{TestError, cache_with_clock};

const MINUTE: Duration = Duration::from_secs(60);

/// A backend that counts its calls and answers what it is told to.
#[derive(Clone, Default)]
struct Backend {
    calls: Arc<AtomicUsize>,
}

impl Backend {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    async fn get(
        &self,
        cache: &Cache,
        key: Key<'_>,
        policy: impl Into<Policy>,
        answer: Result<&str, TestError>,
    ) -> Result<Entry<String>, TestError> {
        let calls = Arc::clone(&self.calls);
        let answer = answer.map(str::to_owned);
        cache
            .get_or_fetch(key, policy, |_previous| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                answer.map(Fetched::new)
            })
            .await
    }
}

const KEY: Key<'static> = Key::new("ssm", "/app/db/host");

#[tokio::test]
async fn a_hit_within_max_age_makes_no_fetch() {
    let (cache, clock) = cache_with_clock();
    let backend = Backend::default();
    let first = backend.get(&cache, KEY, MINUTE, Ok("db-1")).await.unwrap();
    clock.advance(Duration::from_secs(59));
    let second = backend.get(&cache, KEY, MINUTE, Ok("db-2")).await.unwrap();
    assert_eq!(backend.calls(), 1);
    assert_eq!(second.as_str(), "db-1");
    assert_eq!(second.fetched_at(), first.fetched_at());
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.fetches), (1, 1, 1));
}

#[tokio::test]
async fn max_age_zero_forces_a_fetch() {
    let (cache, _clock) = cache_with_clock();
    let backend = Backend::default();
    backend.get(&cache, KEY, MINUTE, Ok("v1")).await.unwrap();
    let forced = backend
        .get(&cache, KEY, Duration::ZERO, Ok("v2"))
        .await
        .unwrap();
    assert_eq!(backend.calls(), 2);
    assert_eq!(forced.as_str(), "v2");
    // The forced value is now the cached one.
    let after = backend.get(&cache, KEY, MINUTE, Ok("v3")).await.unwrap();
    assert_eq!(after.as_str(), "v2");
    assert_eq!(backend.calls(), 2);
}

#[tokio::test]
async fn an_expired_key_makes_exactly_one_fetch() {
    let (cache, clock) = cache_with_clock();
    let backend = Backend::default();
    backend.get(&cache, KEY, MINUTE, Ok("v1")).await.unwrap();
    clock.advance(MINUTE);
    let refreshed = backend.get(&cache, KEY, MINUTE, Ok("v2")).await.unwrap();
    let again = backend.get(&cache, KEY, MINUTE, Ok("v3")).await.unwrap();
    assert_eq!(backend.calls(), 2);
    assert_eq!(refreshed.as_str(), "v2");
    assert_eq!(again.as_str(), "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_requests_for_an_expired_key_share_one_fetch() {
    let (cache, clock) = cache_with_clock();
    let backend = Backend::default();
    backend.get(&cache, KEY, MINUTE, Ok("old")).await.unwrap();
    clock.advance(MINUTE * 2);

    // The fetch waits at a gate until every request has missed, so all of them overlap it.
    let gate = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (cache, calls, gate) = (cache.clone(), Arc::clone(&backend.calls), Arc::clone(&gate));
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_fetch(KEY, MINUTE, |_| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    gate.notified().await;
                    Ok::<_, TestError>(Fetched::new("new".to_owned()))
                })
                .await
        }));
    }
    while cache.stats().misses < 1 + 100 {
        tokio::task::yield_now().await;
    }
    gate.notify_one();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().as_str(), "new");
    }
    assert_eq!(
        backend.calls(),
        2,
        "one initial fetch and one shared refresh"
    );
    assert_eq!(cache.stats().fetches, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_waiters_share_the_error_and_fetch_once() {
    let (cache, _clock) = cache_with_clock();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (cache, calls, gate) = (cache.clone(), Arc::clone(&calls), Arc::clone(&gate));
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_fetch::<String, _, _, _>(KEY, MINUTE, |_| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    gate.notified().await;
                    Err(TestError::NotFound("/app/db/host".into()))
                })
                .await
        }));
    }
    while cache.stats().misses < 20 {
        tokio::task::yield_now().await;
    }
    gate.notify_one();
    for task in tasks {
        assert_eq!(
            task.await.unwrap().unwrap_err(),
            TestError::NotFound("/app/db/host".into())
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(cache.is_empty(), "errors are never cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_hands_the_fetch_to_a_waiter() {
    let (cache, _clock) = cache_with_clock();
    let never = Arc::new(tokio::sync::Notify::new());
    let leader = {
        let (cache, never) = (cache.clone(), Arc::clone(&never));
        tokio::spawn(async move {
            cache
                .get_or_fetch(KEY, MINUTE, |_| async move {
                    never.notified().await;
                    Ok::<_, TestError>(Fetched::new("from the leader".to_owned()))
                })
                .await
        })
    };
    while cache.stats().fetches < 1 {
        tokio::task::yield_now().await;
    }
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_fetch(KEY, MINUTE, |_| async {
                    Ok::<_, TestError>(Fetched::new("from the waiter".to_owned()))
                })
                .await
        })
    };
    while cache.stats().misses < 2 {
        tokio::task::yield_now().await;
    }
    leader.abort();
    assert_eq!(waiter.await.unwrap().unwrap().as_str(), "from the waiter");
    assert_eq!(cache.stats().fetches, 2);
}

#[tokio::test]
async fn a_failing_refresh_returns_the_error_and_keeps_the_old_value() {
    let (cache, clock) = cache_with_clock();
    let backend = Backend::default();
    backend.get(&cache, KEY, MINUTE, Ok("good")).await.unwrap();
    clock.advance(MINUTE);
    let err = backend
        .get(&cache, KEY, MINUTE, Err(TestError::Throttled))
        .await
        .unwrap_err();
    assert_eq!(err, TestError::Throttled);
    assert_eq!(cache.len(), 1);
    // The old value is still there: a reader accepting an older value gets it without a fetch.
    let old = backend
        .get(&cache, KEY, MINUTE * 2, Ok("unused"))
        .await
        .unwrap();
    assert_eq!(old.as_str(), "good");
    assert_eq!(backend.calls(), 2);
    assert_eq!(cache.stats().errors, 1);
}

#[tokio::test]
async fn stale_if_error_serves_within_max_stale_and_errors_beyond() {
    let (cache, clock) = cache_with_clock();
    let backend = Backend::default();
    let policy = Policy::new(MINUTE).stale_if_error(Duration::from_secs(300));
    backend.get(&cache, KEY, policy, Ok("good")).await.unwrap();

    clock.advance(Duration::from_secs(200));
    let stale = backend
        .get(&cache, KEY, policy, Err(TestError::Throttled))
        .await
        .unwrap();
    assert_eq!(stale.as_str(), "good");
    assert_eq!(cache.stats().stale_served, 1);

    // A permanent error is returned even within max_stale.
    let err = backend
        .get(
            &cache,
            KEY,
            policy,
            Err(TestError::NotFound("/app/db/host".into())),
        )
        .await
        .unwrap_err();
    assert_eq!(err, TestError::NotFound("/app/db/host".into()));

    clock.advance(Duration::from_secs(101)); // 301 s old: beyond max_stale
    let err = backend
        .get(&cache, KEY, policy, Err(TestError::Throttled))
        .await
        .unwrap_err();
    assert_eq!(err, TestError::Throttled);
    assert_eq!(cache.stats().stale_served, 1);
    assert_eq!(backend.calls(), 4);
}

#[tokio::test]
async fn stale_if_error_set_on_the_cache_applies_unless_a_read_opts_out() {
    let manual = ManualClock::new();
    let cache = Cache::builder()
        .clock(manual.clock())
        .stale_if_error(Duration::from_secs(600))
        .build()
        .unwrap();
    let backend = Backend::default();
    backend.get(&cache, KEY, MINUTE, Ok("good")).await.unwrap();
    manual.advance(MINUTE * 2);
    let stale = backend
        .get(&cache, KEY, MINUTE, Err(TestError::Throttled))
        .await
        .unwrap();
    assert_eq!(stale.as_str(), "good");
    let err = backend
        .get(
            &cache,
            KEY,
            Policy::new(MINUTE).no_stale(),
            Err(TestError::Throttled),
        )
        .await
        .unwrap_err();
    assert_eq!(err, TestError::Throttled);
}

#[tokio::test]
async fn capacity_evicts_the_least_recently_used() {
    let manual = ManualClock::new();
    let cache = Cache::builder()
        .clock(manual.clock())
        .capacity(2)
        .build()
        .unwrap();
    let backend = Backend::default();
    let (a, b, c) = (
        Key::new("ssm", "a"),
        Key::new("ssm", "b"),
        Key::new("ssm", "c"),
    );
    backend.get(&cache, a, MINUTE, Ok("a")).await.unwrap();
    manual.advance(Duration::from_secs(1));
    backend.get(&cache, b, MINUTE, Ok("b")).await.unwrap();
    manual.advance(Duration::from_secs(1));
    backend.get(&cache, a, MINUTE, Ok("a")).await.unwrap(); // a is now more recent than b
    manual.advance(Duration::from_secs(1));
    backend.get(&cache, c, MINUTE, Ok("c")).await.unwrap(); // evicts b
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.stats().evictions, 1);
    assert!(cache.get_fresh::<String>(a, MINUTE).is_some());
    assert!(cache.get_fresh::<String>(b, MINUTE).is_none());
    assert!(cache.get_fresh::<String>(c, MINUTE).is_some());
    assert_eq!(backend.calls(), 3);
}

#[tokio::test]
async fn the_byte_budget_evicts_and_refuses_values_larger_than_itself() {
    let manual = ManualClock::new();
    let cache = Cache::builder()
        .clock(manual.clock())
        .max_bytes(100)
        .build()
        .unwrap();
    let load = |bytes: u64| {
        move |_| async move { Ok::<_, TestError>(Fetched::new(vec![0_u8; 1]).with_weight(bytes)) }
    };
    cache
        .get_or_fetch(Key::new("s3", "a"), MINUTE, load(60))
        .await
        .unwrap();
    manual.advance(Duration::from_secs(1));
    cache
        .get_or_fetch(Key::new("s3", "b"), MINUTE, load(30))
        .await
        .unwrap();
    manual.advance(Duration::from_secs(1));
    cache
        .get_or_fetch(Key::new("s3", "c"), MINUTE, load(30))
        .await
        .unwrap();
    assert_eq!(cache.weight(), 60, "a (the oldest) made room for c");
    assert!(
        cache
            .get_fresh::<Vec<u8>>(Key::new("s3", "a"), MINUTE)
            .is_none()
    );
    let huge = cache
        .get_or_fetch(Key::new("s3", "huge"), MINUTE, load(101))
        .await
        .unwrap();
    assert_eq!(huge.len(), 1, "the value is returned");
    assert!(
        cache
            .get_fresh::<Vec<u8>>(Key::new("s3", "huge"), MINUTE)
            .is_none(),
        "but not kept"
    );
    assert_eq!(cache.weight(), 60);
}

#[tokio::test]
async fn equal_short_names_from_different_services_or_options_never_collide() {
    let (cache, _clock) = cache_with_clock();
    let backend = Backend::default();
    let keys = [
        Key::new("ssm", "config.json"),
        Key::new("s3", "config.json"),
        Key::new("ssm", "/a/host"),
        Key::new("ssm", "/b/host"),
        Key::new("secrets", "db").variant("AWSCURRENT"),
        Key::new("secrets", "db").variant("AWSPREVIOUS"),
        Key::new("ssm", "/a/host").variant("raw"),
    ];
    for (i, key) in keys.iter().enumerate() {
        backend
            .get(&cache, *key, MINUTE, Ok(&i.to_string()))
            .await
            .unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        let entry = backend
            .get(&cache, *key, MINUTE, Ok("refetched"))
            .await
            .unwrap();
        assert_eq!(entry.as_str(), i.to_string());
    }
    assert_eq!(backend.calls(), keys.len());
    assert_eq!(cache.len(), keys.len());
}

#[tokio::test]
async fn one_key_read_as_two_types_keeps_two_entries() {
    let (cache, _clock) = cache_with_clock();
    let text = cache
        .get_or_load("n", MINUTE, || async {
            Ok::<_, std::io::Error>("42".to_owned())
        })
        .await
        .unwrap();
    let number = cache
        .get_or_load("n", MINUTE, || async { Ok::<_, std::io::Error>(42_u32) })
        .await
        .unwrap();
    assert_eq!((text.as_str(), *number), ("42", 42));
    assert_eq!(cache.len(), 2);
    assert_eq!(
        cache.invalidate(Key::new(lambda_cache_core::GENERIC_SERVICE, "n")),
        2
    );
}

#[tokio::test]
async fn not_modified_renews_the_previous_value_without_replacing_it() {
    let (cache, clock) = cache_with_clock();
    let first = cache
        .get_or_fetch(KEY, MINUTE, |previous| async move {
            assert!(previous.is_none());
            Ok::<_, TestError>(Fetched::new("body".to_owned()).with_validator(Validator::new("e1")))
        })
        .await
        .unwrap();
    clock.advance(MINUTE);
    let renewed = cache
        .get_or_fetch(KEY, MINUTE, |previous: Option<Entry<String>>| async move {
            assert_eq!(previous.unwrap().validator().token(), Some("e1"));
            Ok::<_, TestError>(Fetched::not_modified())
        })
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&first.value_arc(), &renewed.value_arc()));
    assert!(renewed.fetched_at() > first.fetched_at());
    assert_eq!(renewed.validator().token(), Some("e1"));
    clock.advance(Duration::from_secs(30));
    assert!(
        cache.get_fresh::<String>(KEY, MINUTE).is_some(),
        "renewed entry is fresh again"
    );
}

#[tokio::test]
async fn jitter_shortens_max_age_by_at_most_its_fraction() {
    for round in 0..20 {
        let manual = ManualClock::new();
        manual.advance(Duration::from_nanos(round * 7919));
        let cache = Cache::builder()
            .clock(manual.clock())
            .jitter(0.2)
            .build()
            .unwrap();
        let backend = Backend::default();
        let max_age = Duration::from_secs(100);
        backend.get(&cache, KEY, max_age, Ok("v")).await.unwrap();
        manual.advance(Duration::from_secs(79));
        assert!(
            cache.get_fresh::<String>(KEY, max_age).is_some(),
            "never expires before 80%"
        );
        manual.advance(Duration::from_secs(21));
        assert!(
            cache.get_fresh::<String>(KEY, max_age).is_none(),
            "always expires by 100%"
        );
        assert_eq!(backend.calls(), 1);
    }
}

#[tokio::test]
async fn invalidate_and_clear_force_the_next_read_to_fetch() {
    let (cache, _clock) = cache_with_clock();
    let backend = Backend::default();
    backend.get(&cache, KEY, MINUTE, Ok("v1")).await.unwrap();
    assert_eq!(cache.invalidate(KEY), 1);
    assert_eq!(
        backend
            .get(&cache, KEY, MINUTE, Ok("v2"))
            .await
            .unwrap()
            .as_str(),
        "v2"
    );
    cache.clear();
    assert!(cache.is_empty());
    assert_eq!(
        backend
            .get(&cache, KEY, MINUTE, Ok("v3"))
            .await
            .unwrap()
            .as_str(),
        "v3"
    );
    assert_eq!(backend.calls(), 3);
}

#[test]
fn bad_settings_are_typed_errors_naming_the_setting() {
    assert_eq!(
        Cache::builder().capacity(0).build().unwrap_err(),
        ConfigError::ZeroCapacity
    );
    assert_eq!(
        Cache::builder().max_bytes(0).build().unwrap_err(),
        ConfigError::ZeroByteBudget
    );
    let err = Cache::builder().jitter(-0.1).build().unwrap_err();
    assert_eq!(err, ConfigError::JitterOutOfRange(-0.1));
    assert!(err.to_string().contains("jitter"));
    assert!(Cache::builder().jitter(f64::NAN).build().is_err());
    let err = Cache::builder()
        .refresh_timeout(std::time::Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroRefreshTimeout);
    assert!(err.to_string().contains("refresh_timeout"), "{err}");
    for bad in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
        let err = lambda_cache_core::Policy::default()
            .refresh_ahead(bad)
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::RefreshAheadOutOfRange(_)),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains("refresh-ahead"), "{err}");
    }
}

// Repeated hits never answer with what the store no longer holds.

#[test]
fn a_value_replaced_on_another_thread_is_seen_by_the_next_hit() {
    let cache = Cache::builder().build().unwrap();
    cache.insert(KEY, String::from("v1"), Validator::default(), 2);
    for _ in 0..3 {
        let hit = cache.get_fresh::<String>(KEY, MINUTE).unwrap();
        assert_eq!(hit.as_str(), "v1");
    }
    let writer = cache.clone();
    std::thread::spawn(move || {
        writer.insert(KEY, String::from("v2"), Validator::default(), 2);
    })
    .join()
    .unwrap();
    let hit = cache.get_fresh::<String>(KEY, MINUTE).unwrap();
    assert_eq!(hit.as_str(), "v2");
    assert_eq!(cache.stats().hits, 4);
}

#[test]
fn a_repeated_hit_respects_max_age_invalidation_and_the_reader_s_type() {
    let (cache, clock) = cache_with_clock();
    cache.insert(KEY, String::from("v1"), Validator::default(), 2);
    assert!(cache.get_fresh::<String>(KEY, MINUTE).is_some());
    assert!(cache.get_fresh::<String>(KEY, MINUTE).is_some());
    // The same key read as another type, and with a shorter max_age, is not answered.
    assert!(cache.get_fresh::<u32>(KEY, MINUTE).is_none());
    clock.advance(Duration::from_secs(30));
    assert!(
        cache
            .get_fresh::<String>(KEY, Duration::from_secs(20))
            .is_none()
    );
    assert!(cache.get_fresh::<String>(KEY, MINUTE).is_some());
    assert_eq!(cache.invalidate(KEY), 1);
    assert!(cache.get_fresh::<String>(KEY, MINUTE).is_none());
}

#[test]
fn two_caches_holding_the_same_key_answer_their_own_values() {
    let a = Cache::builder().build().unwrap();
    let b = Cache::builder().build().unwrap();
    a.insert(KEY, String::from("from a"), Validator::default(), 6);
    b.insert(KEY, String::from("from b"), Validator::default(), 6);
    for _ in 0..3 {
        assert_eq!(
            a.get_fresh::<String>(KEY, MINUTE).unwrap().as_str(),
            "from a"
        );
        assert_eq!(
            b.get_fresh::<String>(KEY, MINUTE).unwrap().as_str(),
            "from b"
        );
    }
}

#[test]
fn a_value_read_by_a_thread_is_freed_when_the_store_drops_it() {
    let cache = Cache::builder().build().unwrap();
    let tracker = Arc::new(());
    cache.insert(KEY, Arc::clone(&tracker), Validator::default(), 1);
    for _ in 0..3 {
        let hit = cache.get_fresh::<Arc<()>>(KEY, MINUTE).unwrap();
        assert_eq!(
            Arc::strong_count(&tracker),
            2,
            "ours and the stored value's"
        );
        drop(hit);
    }
    cache.clear();
    assert_eq!(
        Arc::strong_count(&tracker),
        1,
        "only ours: reads hold no copy"
    );
    assert!(cache.get_fresh::<Arc<()>>(KEY, MINUTE).is_none());
}

#[tokio::test]
async fn not_modified_may_bring_a_new_validator() {
    // A backend that hands out a new token with every answer (AppConfig's poll token).
    let (cache, clock) = cache_with_clock();
    let first = cache
        .get_or_fetch(KEY, MINUTE, |_| async {
            Ok::<_, TestError>(Fetched::new("body".to_owned()).with_validator(Validator::new("t1")))
        })
        .await
        .unwrap();
    clock.advance(MINUTE);
    let renewed = cache
        .get_or_fetch(KEY, MINUTE, |previous: Option<Entry<String>>| async move {
            assert_eq!(previous.unwrap().validator().token(), Some("t1"));
            Ok::<_, TestError>(Fetched::not_modified().with_validator(Validator::new("t2")))
        })
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&first.value_arc(), &renewed.value_arc()));
    assert_eq!(renewed.validator().token(), Some("t2"));
    clock.advance(MINUTE);
    let again = cache
        .get_or_fetch(KEY, MINUTE, |previous: Option<Entry<String>>| async move {
            assert_eq!(previous.unwrap().validator().token(), Some("t2"));
            Ok::<_, TestError>(Fetched::not_modified())
        })
        .await
        .unwrap();
    assert_eq!(
        again.validator().token(),
        Some("t2"),
        "None keeps the last token"
    );
}

/// Reads the raw text under `KEY` through the backend, then derives its length; counts both.
async fn derived_len(
    cache: &Cache,
    backend: &Backend,
    derivations: &AtomicUsize,
    policy: impl Into<Policy>,
    answer: Result<&str, TestError>,
) -> Result<Entry<usize>, TestError> {
    cache
        .get_derived(
            KEY,
            policy,
            |policy| backend.get(cache, KEY, policy, answer),
            |text: &String| {
                derivations.fetch_add(1, Ordering::SeqCst);
                Ok(text.len())
            },
        )
        .await
}

#[tokio::test]
async fn a_derived_value_of_the_raw_type_has_its_own_slot_and_does_not_wait_on_itself() {
    // Derived and raw values of one type under one key: before derived keys had their own slot,
    // the derived read's fetch waited on the raw read inside it, which waited on the derived one.
    let (cache, _clock) = cache_with_clock();
    let backend = Backend::default();
    let read = cache.get_derived(
        KEY,
        MINUTE,
        |policy| backend.get(&cache, KEY, policy, Ok("raw")),
        |text: &String| Ok::<_, TestError>(text.to_uppercase()),
    );
    let derived = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a derived read of the raw type never returned")
        .unwrap();
    assert_eq!(derived.as_str(), "RAW");
    let raw = cache.get_fresh::<String>(KEY, MINUTE).unwrap();
    assert_eq!(
        raw.as_str(),
        "raw",
        "the raw value is not overwritten by the derived one"
    );
    assert_eq!(backend.calls(), 1);
    assert_eq!(cache.len(), 2);
}

#[tokio::test]
async fn a_derived_value_is_as_old_as_its_raw_value() {
    let (cache, clock) = cache_with_clock();
    let backend = Backend::default();
    let derivations = AtomicUsize::new(0);
    // The raw text is fetched at t = 0; the derived value is first asked for at t = 59 s.
    backend.get(&cache, KEY, MINUTE, Ok("four")).await.unwrap();
    clock.advance(Duration::from_secs(59));
    let len = derived_len(&cache, &backend, &derivations, MINUTE, Ok("four"))
        .await
        .unwrap();
    assert_eq!(*len, 4);
    assert_eq!(backend.calls(), 1, "the raw value was young enough");
    let raw = cache.get_fresh::<String>(KEY, MINUTE).unwrap();
    assert_eq!(
        len.fetched_at(),
        raw.fetched_at(),
        "stamped with the raw value's age"
    );
    // Two seconds later the raw value is 61 s old: the derived value must not be served.
    clock.advance(Duration::from_secs(2));
    let len = derived_len(&cache, &backend, &derivations, MINUTE, Ok("fives"))
        .await
        .unwrap();
    assert_eq!(*len, 5);
    assert_eq!(backend.calls(), 2);
    assert_eq!(derivations.load(Ordering::SeqCst), 2);
    // A hit derives nothing and fetches nothing.
    derived_len(&cache, &backend, &derivations, MINUTE, Ok("never"))
        .await
        .unwrap();
    assert_eq!(
        (backend.calls(), derivations.load(Ordering::SeqCst)),
        (2, 2)
    );
}

#[tokio::test]
async fn stale_if_error_measures_a_derived_value_by_its_raw_age() {
    let (cache, clock) = cache_with_clock();
    let backend = Backend::default();
    let derivations = AtomicUsize::new(0);
    let policy = Policy::new(MINUTE).stale_if_error(Duration::from_secs(90));
    derived_len(&cache, &backend, &derivations, policy, Ok("abc"))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(80));
    let stale = derived_len(
        &cache,
        &backend,
        &derivations,
        policy,
        Err(TestError::Throttled),
    )
    .await
    .unwrap();
    assert_eq!(*stale, 3, "80 s old: within the 90 s window");
    clock.advance(Duration::from_secs(20));
    let err = derived_len(
        &cache,
        &backend,
        &derivations,
        policy,
        Err(TestError::Throttled),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        TestError::Throttled,
        "100 s old: the window did not restart"
    );
    assert_eq!(derivations.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_raw_value_renewed_unchanged_renews_its_derived_value_without_deriving() {
    let (cache, clock) = cache_with_clock();
    let derivations = AtomicUsize::new(0);
    let fetches = AtomicUsize::new(0);
    let read = |cache: Cache| {
        let (derivations, fetches) = (&derivations, &fetches);
        async move {
            cache
                .get_derived(
                    KEY,
                    MINUTE,
                    |policy| {
                        let cache = cache.clone();
                        async move {
                            cache
                                .get_or_fetch(
                                    KEY,
                                    policy,
                                    |previous: Option<Entry<String>>| async move {
                                        fetches.fetch_add(1, Ordering::SeqCst);
                                        Ok::<_, TestError>(match previous {
                                            Some(_) => Fetched::not_modified(),
                                            None => Fetched::new("v".to_owned())
                                                .with_validator(Validator::new("e1")),
                                        })
                                    },
                                )
                                .await
                        }
                    },
                    |text: &String| {
                        derivations.fetch_add(1, Ordering::SeqCst);
                        Ok(text.len())
                    },
                )
                .await
        }
    };
    let first = read(cache.clone()).await.unwrap();
    clock.advance(MINUTE);
    let second = read(cache.clone()).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert_eq!(
        derivations.load(Ordering::SeqCst),
        1,
        "unchanged: not derived again"
    );
    assert!(Arc::ptr_eq(&first.value_arc(), &second.value_arc()));
    assert!(second.fetched_at() > first.fetched_at());
}

#[tokio::test]
async fn a_failed_derivation_is_not_stored_and_leaves_the_raw_value() {
    let (cache, _clock) = cache_with_clock();
    let backend = Backend::default();
    let err = cache
        .get_derived(
            KEY,
            MINUTE,
            |policy| backend.get(&cache, KEY, policy, Ok("not a number")),
            |text: &String| {
                text.parse::<u32>()
                    .map_err(|_| TestError::NotFound("n".into()))
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err, TestError::NotFound("n".into()));
    assert_eq!(cache.len(), 1, "only the raw value is held");
    assert!(cache.get_fresh::<String>(KEY, MINUTE).is_some());
}

/// A value whose parts must always agree: a reader that saw half of one write and half of
/// another would find them disagreeing.
struct Stamped {
    seq: u64,
    text: String,
    copies: [u64; 8],
}

impl Stamped {
    fn new(seq: u64) -> Self {
        Self {
            seq,
            text: seq.to_string(),
            copies: [seq; 8],
        }
    }

    fn is_whole(&self) -> bool {
        self.text == self.seq.to_string() && self.copies.iter().all(|&c| c == self.seq)
    }
}

#[test]
fn readers_racing_a_writer_see_whole_values_never_older_than_max_age_and_never_going_back() {
    const WRITES: u64 = 3_000;
    let max_age = Duration::from_millis(25);
    let (cache, clock) = cache_with_clock();
    let key = Key::new("race", "stamped");
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (cache, clock, done) = (cache.clone(), clock.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                let (mut hits, mut misses, mut last_seq) = (0_u64, 0_u64, None);
                while !done.load(Ordering::SeqCst) {
                    // Time only moves forward, so a value fresh when read is fresh at `before`.
                    let before = clock.clock().now();
                    match cache.get_fresh::<Stamped>(key, max_age) {
                        Some(entry) => {
                            hits += 1;
                            assert!(entry.is_whole(), "torn value {}", entry.seq);
                            assert!(
                                before.saturating_duration_since(entry.fetched_at()) < max_age,
                                "value {} served older than max_age",
                                entry.seq
                            );
                            assert!(
                                last_seq.is_none_or(|last| entry.seq >= last),
                                "went back from {last_seq:?} to {}",
                                entry.seq
                            );
                            last_seq = Some(entry.seq);
                        }
                        None => misses += 1,
                    }
                }
                (hits, misses)
            })
        })
        .collect();
    for seq in 0..WRITES {
        clock.advance(Duration::from_millis(10));
        // Every third step lets the value age past max_age before replacing it, and other
        // keys come and go so that the published map is rebuilt around the one being read.
        if seq % 3 == 0 {
            clock.advance(Duration::from_millis(30));
        }
        cache.insert(key, Stamped::new(seq), Validator::default(), 1);
        let other = format!("other-{}", seq % 7);
        cache.insert(Key::new("race", &other), seq, Validator::default(), 1);
        if seq % 5 == 0 {
            cache.invalidate(Key::new("race", &other));
        }
    }
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        let (hits, misses) = reader.join().expect("a reader failed");
        assert!(hits > 0, "a reader never saw a value ({misses} misses)");
    }
    assert_eq!(
        cache.get_fresh::<Stamped>(key, max_age).unwrap().seq,
        WRITES - 1
    );
}

#[test]
fn invalidation_and_eviction_free_the_values_they_drop() {
    let cache = Cache::builder().capacity(2).build().unwrap();
    let value = Arc::new(());
    let held = |count: usize| assert_eq!(Arc::strong_count(&value), count);
    let a = Key::new("mem", "a");

    drop(cache.insert(a, Arc::clone(&value), Validator::default(), 1));
    for _ in 0..3 {
        drop(cache.get_fresh::<Arc<()>>(a, MINUTE).unwrap());
    }
    held(2);
    assert_eq!(cache.invalidate(a), 1);
    held(1);

    // A reader still holding the entry keeps it; the cache does not.
    drop(cache.insert(a, Arc::clone(&value), Validator::default(), 1));
    let reader = cache.get_fresh::<Arc<()>>(a, MINUTE).unwrap();
    drop(cache.insert(Key::new("mem", "b"), 2_u8, Validator::default(), 1));
    drop(cache.insert(Key::new("mem", "c"), 3_u8, Validator::default(), 1));
    assert!(
        cache.get_fresh::<Arc<()>>(a, MINUTE).is_none(),
        "a was the least recently used"
    );
    assert_eq!(cache.stats().evictions, 1);
    held(2);
    drop(reader);
    held(1);

    // A refresh replaces the value and frees the old one.
    let old = Arc::new(());
    drop(cache.insert(a, Arc::clone(&old), Validator::default(), 1));
    drop(cache.insert(a, Arc::clone(&value), Validator::default(), 1));
    assert_eq!(Arc::strong_count(&old), 1);
    held(2);
    cache.clear();
    held(1);
    assert!(cache.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_where_detaches_a_fetch_under_way() {
    let (cache, _clock) = cache_with_clock();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Notify::new());
    let read = |value: &'static str, gate: Option<Arc<tokio::sync::Notify>>| {
        let (cache, calls) = (cache.clone(), Arc::clone(&calls));
        tokio::spawn(async move {
            cache
                .get_or_fetch(KEY, MINUTE, |_| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    if let Some(gate) = gate {
                        gate.notified().await;
                    }
                    Ok::<_, TestError>(Fetched::new(value.to_owned()))
                })
                .await
        })
    };
    // A fetch of the value before a write, held at a gate, and a reader waiting on it.
    let before = read("before", Some(Arc::clone(&gate)));
    while cache.stats().fetches < 1 {
        tokio::task::yield_now().await;
    }
    let waiter = read("after", None);
    while cache.stats().misses < 2 {
        tokio::task::yield_now().await;
    }
    // The write: nothing is held yet, but the fetch under way is detached.
    assert_eq!(
        cache.invalidate_where("ssm", |name, _| name == KEY.name()),
        0
    );
    // The waiter looked again and fetched the value after the write.
    assert_eq!(waiter.await.unwrap().unwrap().as_str(), "after");
    // The detached fetch ends: its reader gets what it read, and the cache keeps the newer.
    gate.notify_one();
    assert_eq!(before.await.unwrap().unwrap().as_str(), "before");
    let held = cache
        .get_fresh::<String>(KEY, MINUTE)
        .expect("a value held");
    assert_eq!(held.as_str(), "after");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
