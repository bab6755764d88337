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
        assert_eq!(fetch.field("name"), Some("/prod/db/password"));
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

    // A throttled refresh served stale: the span says so, and one warning names key and age.
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
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].field("age_s"), Some("90"));
        assert_eq!(events[0].field("name"), Some("/prod/db/password"));
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
    assert_eq!(events[0].field("name"), Some("first"));
    drop(events);
    assert!(!capture.everything().contains(SECRET));
}
