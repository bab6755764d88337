//! The spans and events of backend fetches, captured by a subscriber that records every field at
//! every level: what they say, that a hit says nothing, and that no value ever appears.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lambda_cache_core::{Cache, CacheError, Fetched, Key, ManualClock, Policy, Validator};
use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const SECRET: &str = "pa55w0rd-never-logged";
const KEY: Key<'static> = Key::new("ssm", "/prod/db/password");

/// What one span or event said: its name and every field as text.
#[derive(Clone, Debug, Default)]
struct Said {
    name: String,
    level: Option<tracing::Level>,
    fields: Vec<(String, String)>,
}

impl Said {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Visit for Said {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.fields
            .push((field.name().to_owned(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .push((field.name().to_owned(), value.to_owned()));
    }
}

/// Records every span (with later `record`s) and every event.
#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<Said>>>,
    events: Arc<Mutex<Vec<Said>>>,
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut said = Said {
            name: span.metadata().name().to_owned(),
            ..Said::default()
        };
        span.record(&mut said);
        let mut spans = self.spans.lock();
        spans.push(said);
        // Ids are the 1-based index of the span.
        Id::from_u64(spans.len() as u64)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let index = usize::try_from(span.into_u64()).unwrap() - 1;
        values.record(&mut self.spans.lock()[index]);
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut said = Said {
            name: event.metadata().name().to_owned(),
            level: Some(*event.metadata().level()),
            ..Said::default()
        };
        event.record(&mut said);
        self.events.lock().push(said);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

impl Capture {
    fn everything(&self) -> String {
        format!("{:?} {:?}", self.spans.lock(), self.events.lock())
    }
}

#[derive(Clone, Debug)]
struct Throttled;

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("throttled reading /prod/db/password")
    }
}

impl std::error::Error for Throttled {}

impl CacheError for Throttled {
    fn is_transient(&self) -> bool {
        true
    }

    fn not_modified_without_value(_: lambda_cache_core::Key<'_>) -> Self {
        Self
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_fetch_is_one_span_a_hit_is_silent_and_no_value_is_ever_recorded() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let policy = Policy::new(Duration::from_secs(60)).stale_if_error(Duration::from_secs(600));

    let value = cache
        .get_or_fetch(KEY, policy, |_| async {
            Ok::<_, Throttled>(Fetched::new(SECRET.to_owned()).with_validator(Validator::new("3")))
        })
        .await
        .unwrap();
    assert_eq!(value.as_str(), SECRET);
    {
        let spans = capture.spans.lock();
        assert_eq!(spans.len(), 1, "{spans:?}");
        let fetch = &spans[0];
        assert_eq!(fetch.name, "lambda_cache.fetch");
        assert_eq!(fetch.field("service"), Some("ssm"));
        assert_eq!(fetch.field("name"), Some(r#""/prod/db/password""#));
        assert_eq!(fetch.field("key"), Some(KEY.digest().to_string().as_str()));
        assert_eq!(fetch.field("outcome"), Some("new"));
        assert_eq!(fetch.field("stale_served"), Some("false"));
        assert!(fetch.field("duration_us").is_some());
    }

    // Hits: no span, no event.
    for _ in 0..100 {
        cache
            .get_fresh::<String>(KEY, Duration::from_secs(60))
            .unwrap();
        cache
            .get_or_fetch(KEY, policy, |_| async {
                Err::<Fetched<String>, _>(Throttled)
            })
            .await
            .unwrap();
    }
    assert_eq!(capture.spans.lock().len(), 1);
    assert!(capture.events.lock().is_empty());

    // A throttled refresh served stale: the span says so, one warning gives the key's digest
    // and the age, and a DEBUG event the name and the error.
    clock.advance(Duration::from_secs(90));
    let stale = cache
        .get_or_fetch(KEY, policy, |_| async {
            Err::<Fetched<String>, _>(Throttled)
        })
        .await
        .unwrap();
    assert_eq!(stale.as_str(), SECRET);
    {
        let spans = capture.spans.lock();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[1].field("outcome"), Some("error"));
        assert_eq!(spans[1].field("stale_served"), Some("true"));
        assert_eq!(spans[1].field("revalidating"), Some("true"));
        let events = capture.events.lock();
        assert_eq!(events.len(), 2, "{events:?}");
        let warn = events
            .iter()
            .find(|e| e.level == Some(tracing::Level::WARN))
            .unwrap();
        assert_eq!(warn.field("age_s"), Some("90"));
        assert_eq!(warn.field("key"), Some(KEY.digest().to_string().as_str()));
        assert_eq!(warn.field("name"), None);
        let debug = events
            .iter()
            .find(|e| e.level == Some(tracing::Level::DEBUG))
            .unwrap();
        assert_eq!(debug.field("name"), Some(r#""/prod/db/password""#));
    }
    assert!(
        !capture.everything().contains(SECRET),
        "{}",
        capture.everything()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_eviction_is_an_event_naming_the_key() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let cache = Cache::builder().capacity(1).build().unwrap();
    for name in ["first", "second"] {
        cache
            .get_or_load(name, Duration::from_secs(60), || async {
                Ok::<_, std::io::Error>(SECRET.to_owned())
            })
            .await
            .unwrap();
    }
    let events = capture.events.lock();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].level, Some(tracing::Level::DEBUG));
    assert_eq!(events[0].field("name"), Some(r#""first""#));
    drop(events);
    assert!(!capture.everything().contains(SECRET));
}

/// A generic loader's name built from user data (a token in it), read under a subscriber at
/// each level: at INFO and above neither the name nor the loader's error text appears (the
/// key's digest does); at DEBUG and TRACE the name appears, quoted through `shown`.
#[tokio::test(flavor = "current_thread")]
async fn a_name_built_from_user_data_stays_out_of_events_at_info_and_above() {
    const TOKEN: &str = "tok-7c1f9e";
    let name = format!("user:alice:token={TOKEN}");
    // Set before the first fetch: a callsite first met with no subscriber is disabled for all.
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let clock = ManualClock::new();
    let cache = Cache::builder()
        .clock(clock.clock())
        .stale_if_error(Duration::from_secs(600))
        .build()
        .unwrap();
    cache
        .get_or_load(&name, Duration::from_secs(60), || async {
            Ok::<_, std::io::Error>(1_u32)
        })
        .await
        .unwrap();
    let (spans_before, events_before) = (capture.spans.lock().len(), capture.events.lock().len());
    clock.advance(Duration::from_secs(61));
    let stale = cache
        .get_or_load(&name, Duration::from_secs(60), || async {
            Err::<u32, _>(std::io::Error::other(format!("denied for {TOKEN}")))
        })
        .await
        .unwrap();
    assert_eq!(*stale, 1);
    let digest = Key::new("generic", &name).digest().to_string();
    let events = capture.events.lock()[events_before..].to_vec();
    let at_info_or_above: Vec<&Said> = events
        .iter()
        .filter(|e| e.level.is_some_and(|l| l <= tracing::Level::INFO))
        .collect();
    assert_eq!(at_info_or_above.len(), 1, "{events:?}");
    let shown = format!("{:?}", at_info_or_above);
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!shown.contains("alice"), "{shown}");
    assert!(shown.contains(&digest), "{shown}");
    let below: Vec<&Said> = events
        .iter()
        .filter(|e| e.level.is_some_and(|l| l > tracing::Level::INFO))
        .collect();
    assert!(
        below
            .iter()
            .any(|e| e.field("name") == Some(format!("{:?}", name).as_str())),
        "{below:?}"
    );
    // The span (DEBUG) names the key through `shown` too.
    let spans = capture.spans.lock();
    assert_eq!(
        spans[spans_before].field("name"),
        Some(format!("{name:?}").as_str())
    );
}

/// A failed refresh answered stale to its leader and to five waiters: six stale answers
/// counted, one WARN (the leader's), so that a storm of readers is one line in the log.
#[tokio::test(flavor = "current_thread")]
async fn a_stale_answer_shared_by_waiters_is_one_warning() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let policy = Policy::new(Duration::from_secs(60)).stale_if_error(Duration::from_secs(600));
    cache
        .get_or_fetch(KEY, policy, |_| async {
            Ok::<_, Throttled>(Fetched::new(String::from("v1")))
        })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(90));
    let release = Arc::new(tokio::sync::Notify::new());
    let leader = {
        let (cache, release) = (cache.clone(), Arc::clone(&release));
        tokio::spawn(async move {
            cache
                .get_or_fetch(KEY, policy, |_| async move {
                    release.notified().await;
                    Err::<Fetched<String>, _>(Throttled)
                })
                .await
                .map(|e| e.to_string())
        })
    };
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_fetch(KEY, policy, |_| async {
                        Ok::<_, Throttled>(Fetched::new(String::from("never")))
                    })
                    .await
                    .map(|e| e.to_string())
            })
        })
        .collect();
    while cache.stats().misses < 7 {
        tokio::task::yield_now().await;
    }
    release.notify_one();
    assert_eq!(leader.await.unwrap().unwrap(), "v1");
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap().unwrap(), "v1");
    }
    let stats = cache.stats();
    assert_eq!((stats.fetches, stats.stale_served), (2, 6));
    let events = capture.events.lock();
    let warnings = events
        .iter()
        .filter(|e| e.level == Some(tracing::Level::WARN))
        .count();
    assert_eq!(warnings, 1, "{events:?}");
}
