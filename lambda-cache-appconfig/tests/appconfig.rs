//! AppConfig through the real SDK client against the testkit's fake AppConfigData (moto has
//! none), which enforces single-use tokens and counts sessions, polls and bytes sent. The
//! cache runs on a manual clock: no test sleeps.

use std::sync::Arc;
use std::time::Duration;

use lambda_cache_appconfig::{AppConfigCache, Error, Flag, Profile};
use lambda_cache_core::{Cache, CacheError, ManualClock, Policy};
use lambda_cache_testkit::{FakeAppConfig, sdk_config};

const MINUTE: Duration = Duration::from_secs(60);
const JSON: &str = "application/json";

async fn cache_on(fake: &FakeAppConfig) -> (AppConfigCache, ManualClock) {
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let config = sdk_config(&fake.uri()).await;
    (AppConfigCache::from_config(cache, &config), clock)
}

fn limits() -> Profile {
    Profile::new("shop", "prod", "limits")
}

#[tokio::test]
async fn a_hit_makes_no_call() {
    let fake = FakeAppConfig::start().await;
    fake.deploy("shop", "prod", "limits", br#"{"max_items":10}"#, JSON);
    let (appconfig, clock) = cache_on(&fake).await;

    let first = appconfig.get_entry(&limits()).await.unwrap();
    assert_eq!(first.as_str(), Some(r#"{"max_items":10}"#));
    assert_eq!(first.content_type(), Some(JSON));
    assert_eq!(first.version_label(), Some("1"));
    assert_eq!((fake.starts(), fake.polls()), (1, 1));

    clock.advance(Duration::from_secs(59));
    for _ in 0..100 {
        let hit = appconfig.get_entry(&limits()).await.unwrap();
        assert_eq!(hit.content(), first.content());
    }
    assert_eq!((fake.starts(), fake.polls()), (1, 1));
    assert_eq!(appconfig.cache().stats().hits, 100);
}

#[tokio::test]
async fn after_max_age_one_poll_and_an_unchanged_profile_transfers_no_body() {
    let fake = FakeAppConfig::start().await;
    let content = br#"{"max_items":10}"#;
    fake.deploy("shop", "prod", "limits", content, JSON);
    let (appconfig, clock) = cache_on(&fake).await;
    let first = appconfig.get_entry(&limits()).await.unwrap();
    assert_eq!(fake.bytes_sent(), content.len());

    clock.advance(MINUTE + Duration::from_secs(1));
    let again = appconfig.get_entry(&limits()).await.unwrap();
    assert_eq!((fake.starts(), fake.polls()), (1, 2));
    // An empty body: no bytes sent, the value kept, its age renewed, a new token kept.
    assert_eq!(fake.bytes_sent(), content.len());
    assert_eq!(again.content(), first.content());
    assert!(again.fetched_at() > first.fetched_at());
    assert_ne!(again.validator(), first.validator());
    assert_eq!(fake.refused(), 0);

    fake.deploy("shop", "prod", "limits", br#"{"max_items":20}"#, JSON);
    clock.advance(MINUTE + Duration::from_secs(1));
    let changed = appconfig.get_entry(&limits()).await.unwrap();
    assert_eq!(changed.as_str(), Some(r#"{"max_items":20}"#));
    assert_eq!(changed.version_label(), Some("2"));
    assert_eq!((fake.starts(), fake.polls(), fake.refused()), (1, 3, 0));
}

#[tokio::test]
async fn never_polls_faster_than_the_interval_appconfig_gives() {
    let fake = FakeAppConfig::start().await;
    fake.set_poll_interval(120);
    fake.deploy("shop", "prod", "limits", b"a=1", "text/plain");
    let (appconfig, clock) = cache_on(&fake).await;
    let ten_seconds = Duration::from_secs(10);
    appconfig
        .get_entry_with(&limits(), ten_seconds)
        .await
        .unwrap();
    assert_eq!(fake.polls(), 1);

    // Past max_age but within the interval: the held value is AppConfig's latest, renewed
    // without a call, even when a read asks for a max age of zero.
    for _ in 0..5 {
        clock.advance(Duration::from_secs(20));
        appconfig
            .get_entry_with(&limits(), ten_seconds)
            .await
            .unwrap();
        appconfig
            .get_entry_with(&limits(), Duration::ZERO)
            .await
            .unwrap();
    }
    assert_eq!(fake.polls(), 1);

    clock.advance(Duration::from_secs(21)); // 121 s after the poll
    appconfig
        .get_entry_with(&limits(), ten_seconds)
        .await
        .unwrap();
    assert_eq!((fake.starts(), fake.polls(), fake.refused()), (1, 2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_of_one_profile_make_one_poll() {
    let fake = FakeAppConfig::start().await;
    fake.deploy(
        "shop",
        "prod",
        "flags",
        br#"{"new_cart":{"enabled":true}}"#,
        JSON,
    );
    let (appconfig, clock) = cache_on(&fake).await;
    let flags = Profile::new("shop", "prod", "flags");
    appconfig.get_entry(&flags).await.unwrap();
    clock.advance(MINUTE + Duration::from_secs(1));

    // Raw, JSON and flag readers at once, on a runtime with two threads: one poll (a second
    // one would reuse the single-use token and be refused).
    let appconfig = Arc::new(appconfig);
    let readers: Vec<_> = (0..60)
        .map(|i| {
            let (appconfig, flags) = (Arc::clone(&appconfig), flags.clone());
            tokio::spawn(async move {
                match i % 3 {
                    0 => appconfig.get_entry(&flags).await.map(|_| true),
                    1 => appconfig
                        .get_flags(&flags, MINUTE)
                        .await
                        .map(|f| f.is_enabled("new_cart")),
                    _ => appconfig
                        .get_json::<serde_json::Value>(&flags, MINUTE)
                        .await
                        .map(|v| v["new_cart"]["enabled"] == true),
                }
            })
        })
        .collect();
    for reader in readers {
        assert!(reader.await.unwrap().unwrap());
    }
    assert_eq!((fake.starts(), fake.polls(), fake.refused()), (1, 2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_profiles_never_share_a_session_or_a_token() {
    let fake = FakeAppConfig::start().await;
    fake.deploy("shop", "prod", "limits", b"limits v1", "text/plain");
    fake.deploy("shop", "prod", "flags", b"flags v1", "text/plain");
    // Same application and environment, and parts that would run together if joined.
    fake.deploy("shop", "pro", "dlimits", b"other v1", "text/plain");
    let (appconfig, clock) = cache_on(&fake).await;
    let profiles = [
        limits(),
        Profile::new("shop", "prod", "flags"),
        Profile::new("shop", "pro", "dlimits"),
    ];
    for round in 1..=3 {
        if round == 3 {
            fake.deploy("shop", "prod", "flags", b"flags v2", "text/plain");
        }
        let read = appconfig.get_many(&profiles, MINUTE).await;
        let texts: Vec<&str> = read
            .iter()
            .map(|entry| entry.as_ref().unwrap().as_str().unwrap())
            .collect();
        let flags = if round == 3 { "flags v2" } else { "flags v1" };
        assert_eq!(texts, ["limits v1", flags, "other v1"]);
        clock.advance(MINUTE + Duration::from_secs(1));
    }
    // One session per profile, each polled with its own tokens only: nothing refused.
    assert_eq!((fake.starts(), fake.polls(), fake.refused()), (3, 9, 0));
}

#[tokio::test]
async fn a_throttled_poll_with_a_recent_value_serves_it_stale_and_the_next_poll_recovers() {
    let fake = FakeAppConfig::start().await;
    fake.deploy("shop", "prod", "limits", b"v1", "text/plain");
    let (appconfig, clock) = cache_on(&fake).await;
    let stale_ok = Policy::new(MINUTE).stale_if_error(Duration::from_secs(600));
    appconfig.get_entry_with(&limits(), stale_ok).await.unwrap();

    clock.advance(MINUTE + Duration::from_secs(1));
    fake.fail_polls(1, 429, "ThrottlingException");
    let stale = appconfig.get_entry_with(&limits(), stale_ok).await.unwrap();
    assert_eq!(stale.as_str(), Some("v1"));
    assert_eq!(appconfig.cache().stats().stale_served, 1);

    // Without stale-if-error the same fault is a typed, transient error naming the profile.
    fake.fail_polls(1, 429, "ThrottlingException");
    let err = appconfig
        .get_entry_with(&limits(), Policy::new(MINUTE).no_stale())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Throttled {
            profile: "shop/prod/limits".into()
        }
    );
    assert!(err.is_transient());

    // The fault cleared: the held token (never spent by a failed poll) works.
    fake.deploy("shop", "prod", "limits", b"v2", "text/plain");
    let fresh = appconfig.get_entry_with(&limits(), stale_ok).await.unwrap();
    assert_eq!(fresh.as_str(), Some("v2"));
    assert_eq!((fake.starts(), fake.polls(), fake.refused()), (1, 4, 0));

    // A 5xx is transient too, and covered the same way.
    clock.advance(MINUTE + Duration::from_secs(1));
    fake.fail_polls(1, 500, "InternalServerException");
    let stale = appconfig.get_entry_with(&limits(), stale_ok).await.unwrap();
    assert_eq!(stale.as_str(), Some("v2"));
    assert_eq!(appconfig.cache().stats().stale_served, 2);
}

#[tokio::test]
async fn a_refused_token_starts_a_new_session_once() {
    let fake = FakeAppConfig::start().await;
    fake.deploy("shop", "prod", "limits", b"v1", "text/plain");
    let (appconfig, clock) = cache_on(&fake).await;
    appconfig.get_entry(&limits()).await.unwrap();

    fake.expire_tokens();
    fake.deploy("shop", "prod", "limits", b"v2", "text/plain");
    clock.advance(MINUTE + Duration::from_secs(1));
    let read = appconfig.get_entry(&limits()).await.unwrap();
    assert_eq!(read.as_str(), Some("v2"));
    // The refused poll, a new session and its first poll.
    assert_eq!((fake.starts(), fake.polls(), fake.refused()), (2, 3, 1));

    // The new session's tokens work from then on.
    clock.advance(MINUTE + Duration::from_secs(1));
    appconfig.get_entry(&limits()).await.unwrap();
    assert_eq!((fake.starts(), fake.polls(), fake.refused()), (2, 4, 1));
}

#[tokio::test]
async fn a_profile_not_deployed_is_not_found_naming_it() {
    let fake = FakeAppConfig::start().await;
    let (appconfig, _clock) = cache_on(&fake).await;
    let err = appconfig
        .get_entry(&Profile::new("shop", "prod", "nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { ref profile, .. } if profile == "shop/prod/nope"));
    assert!(!err.is_transient());
    assert!(err.to_string().contains("shop/prod/nope"), "{err}");
    assert_eq!((fake.starts(), fake.polls()), (1, 0));
}

#[tokio::test]
async fn a_malformed_profile_is_refused_before_any_call() {
    let fake = FakeAppConfig::start().await;
    let (appconfig, _clock) = cache_on(&fake).await;
    for profile in [
        Profile::new("shop", "", "limits"),
        limits().min_poll_interval(Duration::from_secs(1)),
    ] {
        let err = appconfig.get_entry(&profile).await.unwrap_err();
        assert!(matches!(err, Error::InvalidProfile { .. }), "{err}");
        assert!(err.to_string().contains("shop/"), "{err}");
    }
    assert_eq!((fake.starts(), fake.polls()), (0, 0));
}

#[tokio::test]
async fn the_minimum_poll_interval_is_asked_for_and_kept() {
    let fake = FakeAppConfig::start().await;
    fake.deploy("shop", "prod", "limits", b"v1", "text/plain");
    let (appconfig, _clock) = cache_on(&fake).await;
    let profile = limits().min_poll_interval(Duration::from_secs(90));
    appconfig.get_entry(&profile).await.unwrap();
    // The fake refuses an interval out of AppConfig's range, so reaching it proves the
    // field was sent in range; the key is the same profile's with or without it.
    assert_eq!((fake.starts(), fake.polls()), (1, 1));
    appconfig.get_entry(&limits()).await.unwrap();
    assert_eq!((fake.starts(), fake.polls()), (1, 1));
}

#[tokio::test]
async fn feature_flags_read_as_typed_flags_and_a_flip_is_seen_after_the_interval() {
    #[derive(serde::Deserialize)]
    struct Banner {
        text: String,
    }
    #[derive(serde::Deserialize)]
    struct Flags {
        banner: Flag<Banner>,
        new_cart: Flag,
    }
    let fake = FakeAppConfig::start().await;
    let flags = Profile::new("shop", "prod", "flags");
    fake.deploy(
        "shop",
        "prod",
        "flags",
        br#"{"banner":{"enabled":true,"text":"Sale!"},"new_cart":{"enabled":false}}"#,
        JSON,
    );
    let (appconfig, clock) = cache_on(&fake).await;
    let typed = appconfig.get_json::<Flags>(&flags, MINUTE).await.unwrap();
    assert!(typed.banner.enabled);
    assert_eq!(typed.banner.attributes.text, "Sale!");
    assert!(!typed.new_cart.enabled);
    let any = appconfig.get_flags(&flags, MINUTE).await.unwrap();
    assert!(!any.is_enabled("new_cart"));
    assert_eq!(any.len(), 2);

    fake.deploy(
        "shop",
        "prod",
        "flags",
        br#"{"banner":{"enabled":false},"new_cart":{"enabled":true}}"#,
        JSON,
    );
    clock.advance(MINUTE + Duration::from_secs(1));
    let flipped = appconfig.get_flags(&flags, MINUTE).await.unwrap();
    assert!(flipped.is_enabled("new_cart"));
    assert!(!flipped.is_enabled("banner"));
    // Two polls for three decoded views: the raw value is shared.
    assert_eq!((fake.starts(), fake.polls()), (1, 2));
}

#[tokio::test]
async fn content_that_does_not_fit_is_a_decode_error_that_never_shows_it() {
    let fake = FakeAppConfig::start().await;
    fake.deploy("shop", "prod", "limits", b"password=hunter2", "text/plain");
    let (appconfig, _clock) = cache_on(&fake).await;
    let err = appconfig.get_flags(&limits(), MINUTE).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("shop/prod/limits"), "{message}");
    assert!(message.contains("line 1"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    // The raw value is still there to read as text.
    let raw = appconfig.get_entry(&limits()).await.unwrap();
    assert_eq!(raw.content_type(), Some("text/plain"));
    assert_eq!(fake.polls(), 1);
}

#[tokio::test]
async fn an_evicted_profile_starts_a_new_session_rather_than_polling_for_nothing() {
    let fake = FakeAppConfig::start().await;
    fake.deploy("shop", "prod", "limits", b"v1", "text/plain");
    let (appconfig, clock) = cache_on(&fake).await;
    appconfig.get_entry(&limits()).await.unwrap();
    appconfig.cache().clear();
    clock.advance(MINUTE + Duration::from_secs(1));
    // An empty answer on the old session would leave nothing to serve: a new session sends
    // the whole content.
    let read = appconfig.get_entry(&limits()).await.unwrap();
    assert_eq!(read.as_str(), Some("v1"));
    assert_eq!((fake.starts(), fake.polls(), fake.refused()), (2, 2, 0));
}
