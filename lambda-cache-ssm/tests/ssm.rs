//! SSM Parameter Store through the real aws-sdk-ssm client against the moto server, counting
//! the requests that reach it. Run with `cargo xtask test`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use lambda_cache_core::ManualClock;
use lambda_cache_core::{Cache, CacheError, Policy};
use lambda_cache_ssm::{self as ssm, Error, Parameters, SsmCache, Value};
use lambda_cache_testkit::{Requests, moto_endpoint, put_parameter, sdk_config, unique};

const MINUTE: Duration = Duration::from_secs(60);

/// A cache on a manual clock, its counted client, and an uncounted client to set up data.
struct Fixture {
    ssm: SsmCache,
    clock: ManualClock,
    requests: Requests,
    admin: aws_sdk_ssm::Client,
}

async fn fixture() -> Fixture {
    let config = sdk_config(&moto_endpoint()).await;
    let requests = Requests::default();
    let counted = aws_sdk_ssm::config::Builder::from(&config)
        .interceptor(requests.clone())
        .build();
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    Fixture {
        ssm: SsmCache::new(cache, aws_sdk_ssm::Client::from_conf(counted)),
        clock,
        requests,
        admin: aws_sdk_ssm::Client::new(&config),
    }
}

impl Fixture {
    async fn put(&self, name: &str, kind: ParameterType, value: &str) {
        put_parameter(&self.admin, name, kind, value).await;
    }
}

#[tokio::test]
async fn a_second_read_within_max_age_makes_no_call_and_a_change_arrives_after_it() {
    let f = fixture().await;
    let name = format!("/{}/app/var", unique("ttl"));
    f.put(&name, ParameterType::String, "v1").await;

    let first = f.ssm.get_entry(&name).await.unwrap();
    assert_eq!(first.as_str(), Some("v1"));
    assert_eq!(first.validator().token(), Some("1"));
    f.clock.advance(Duration::from_secs(30));
    assert_eq!(f.ssm.get_entry(&name).await.unwrap().as_str(), Some("v1"));
    assert_eq!(f.requests.count_of("GetParameters"), 1);

    f.put(&name, ParameterType::String, "v2").await;
    f.clock.advance(Duration::from_secs(29));
    assert_eq!(f.ssm.get_entry(&name).await.unwrap().as_str(), Some("v1"));
    assert_eq!(f.requests.count(), 1, "still within max_age (59 s)");
    f.clock.advance(Duration::from_secs(1)); // 60 s since the fetch
    let refreshed = f.ssm.get_entry(&name).await.unwrap();
    assert_eq!(refreshed.as_str(), Some("v2"));
    assert_eq!(refreshed.validator().token(), Some("2"));
    assert_eq!(f.requests.count(), 2);
}

#[tokio::test]
async fn max_age_zero_forces_a_refresh_and_a_longer_max_age_keeps_the_value() {
    let f = fixture().await;
    let name = format!("/{}/var", unique("force"));
    f.put(&name, ParameterType::String, "a").await;
    f.ssm
        .get_entry_with(&name, Duration::from_secs(300))
        .await
        .unwrap();
    f.clock.advance(Duration::from_secs(200));
    f.ssm
        .get_entry_with(&name, Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(f.requests.count(), 1);
    f.put(&name, ParameterType::String, "b").await;
    let forced = f
        .ssm
        .get_entry_with(&name, Policy::new(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(forced.as_str(), Some("b"));
    assert_eq!(f.requests.count(), 2);
}

#[tokio::test]
async fn string_securestring_and_stringlist_come_back_typed() {
    let f = fixture().await;
    let base = format!("/{}", unique("types"));
    f.put(&format!("{base}/plain"), ParameterType::String, "hello")
        .await;
    f.put(
        &format!("{base}/secret"),
        ParameterType::SecureString,
        "s3cr3t-value",
    )
    .await;
    f.put(&format!("{base}/list"), ParameterType::StringList, "a,b,c")
        .await;

    let plain = f.ssm.get_entry(&format!("{base}/plain")).await.unwrap();
    assert_eq!(*plain, Value::String("hello".into()));
    let secret = f.ssm.get_entry(&format!("{base}/secret")).await.unwrap();
    assert!(secret.is_secure());
    assert_eq!(secret.as_str(), Some("s3cr3t-value"), "decrypted");
    assert!(
        !format!("{secret:?}").contains("s3cr3t"),
        "redacted in Debug"
    );
    let list = f.ssm.get_entry(&format!("{base}/list")).await.unwrap();
    assert_eq!(list.as_list().unwrap(), ["a", "b", "c"]);
    assert_eq!(f.requests.count(), 3);
}

#[tokio::test]
async fn a_json_parameter_is_decoded_once_and_shares_the_text_fetch() {
    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Limits {
        max_items: u32,
        regions: Vec<String>,
    }
    let f = fixture().await;
    let name = format!("/{}/limits", unique("json"));
    f.put(
        &name,
        ParameterType::String,
        r#"{"max_items": 25, "regions": ["eu-west-1"]}"#,
    )
    .await;

    let limits = f.ssm.get_json::<Limits>(&name, MINUTE).await.unwrap();
    assert_eq!(limits.max_items, 25);
    let again = f.ssm.get_json::<Limits>(&name, MINUTE).await.unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&limits.value_arc(), &again.value_arc()),
        "not re-parsed"
    );
    let text = f.ssm.get_entry_with(&name, MINUTE).await.unwrap();
    assert!(text.as_str().unwrap().contains("max_items"));
    assert_eq!(f.requests.count(), 1, "typed and text reads share one call");

    // A value that is not JSON for the type is a Decode error that does not quote the value.
    let bad = format!("/{}/bad", unique("json"));
    f.put(&bad, ParameterType::SecureString, "not-json-password")
        .await;
    let err = f.ssm.get_json::<Limits>(&bad, MINUTE).await.unwrap_err();
    assert!(matches!(&err, Error::Decode { name, .. } if *name == bad));
    assert!(!err.to_string().contains("not-json-password"), "{err}");
    assert!(!format!("{err:?}").contains("not-json-password"));
}

#[tokio::test]
async fn twenty_five_names_are_read_in_three_calls_keyed_by_short_name() {
    let f = fixture().await;
    let base = format!("/{}", unique("batch"));
    let names: Vec<String> = (0..25).map(|i| format!("{base}/var{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        f.put(name, ParameterType::String, &format!("value-{i}"))
            .await;
    }
    let list = Parameters::builder(names.clone())
        .entry_name("parameters")
        .build()
        .unwrap();
    let map = f.ssm.get_entries(&list, MINUTE).await.unwrap();
    assert_eq!(f.requests.count_of("GetParameters"), 3, "⌈25/10⌉ calls");
    assert_eq!(map.len(), 25);
    assert_eq!(map["var07"].as_str(), Some("value-7"));
    assert_eq!(map["var24"].as_str(), Some("value-24"));
    f.clock.advance(Duration::from_secs(30));
    f.ssm.get_entries(&list, MINUTE).await.unwrap();
    assert_eq!(f.requests.count(), 3, "the list is cached as one entry");
}

#[tokio::test]
async fn a_missing_name_in_a_list_is_an_error_naming_it() {
    let f = fixture().await;
    let base = format!("/{}", unique("missing"));
    f.put(&format!("{base}/present"), ParameterType::String, "here")
        .await;
    let list = Parameters::builder([
        format!("{base}/present"),
        format!("{base}/absent"),
        format!("{base}/gone"),
    ])
    .entry_name("parameters")
    .build()
    .unwrap();
    let err = f.ssm.get_entries(&list, MINUTE).await.unwrap_err();
    assert_eq!(
        err,
        Error::NotFound {
            names: vec![format!("{base}/absent"), format!("{base}/gone")]
        }
    );
    assert!(err.to_string().contains(&format!("{base}/absent")));
    assert!(!err.is_transient());
    assert_eq!(f.requests.count(), 1);
    assert!(
        f.ssm.cache().is_empty(),
        "nothing is cached from a failed list"
    );

    let single = f
        .ssm
        .get_entry(&format!("{base}/absent"))
        .await
        .unwrap_err();
    assert_eq!(
        single,
        Error::NotFound {
            names: vec![format!("{base}/absent")]
        }
    );
}

#[tokio::test]
async fn bad_names_fail_before_any_call() {
    let f = fixture().await;
    let err = f.ssm.get_entry("/app/ bad name").await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidName { name, .. } if name == "/app/ bad name"),
        "{err:?}"
    );
    let err = f.ssm.get_path("relative/path", MINUTE).await.unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }));
    assert_eq!(f.requests.count(), 0);
}

#[tokio::test]
async fn a_version_selector_reads_that_version_under_its_own_key() {
    let f = fixture().await;
    let name = format!("/{}/var", unique("selector"));
    f.put(&name, ParameterType::String, "first").await;
    f.put(&name, ParameterType::String, "second").await;
    let v1 = f.ssm.get_entry(&format!("{name}:1")).await.unwrap();
    let latest = f.ssm.get_entry(&name).await.unwrap();
    assert_eq!(v1.as_str(), Some("first"));
    assert_eq!(latest.as_str(), Some("second"));
    assert_eq!(f.requests.count(), 2, "the selector is part of the key");
    // The typed id pins the same version, so it is the same entry: a hit.
    let pinned = ssm::ParameterId::new(name.as_str()).version(1);
    assert_eq!(
        f.ssm.get_entry(&pinned).await.unwrap().as_str(),
        Some("first")
    );
    assert_eq!(f.requests.count(), 2);
}

#[tokio::test]
async fn get_many_answers_each_name_in_order_from_memory_or_one_call_per_ten() {
    let f = fixture().await;
    let base = format!("/{}", unique("many"));
    let names: Vec<String> = (0..12).map(|i| format!("{base}/p{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        f.put(name, ParameterType::String, &format!("v{i}")).await;
    }
    f.ssm.get_entry(&names[0]).await.unwrap();
    let missing = format!("{base}/absent");
    let mut wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    wanted.extend([missing.as_str(), "bad name", names[5].as_str()]);
    let results = f.ssm.get_many(&wanted, Duration::from_secs(60)).await;
    assert_eq!(results.len(), 15);
    for (i, result) in results.iter().take(12).enumerate() {
        let expected = format!("v{i}");
        assert_eq!(result.as_ref().unwrap().as_str(), Some(expected.as_str()));
    }
    assert_eq!(
        results[12].as_ref().unwrap_err(),
        &Error::NotFound {
            names: vec![missing.clone()]
        }
    );
    assert!(
        matches!(&results[13], Err(Error::InvalidName { name, .. }) if name == "bad name"),
        "{:?}",
        results[13]
    );
    assert_eq!(results[14].as_ref().unwrap().as_str(), Some("v5"));
    // One call for the first read; 12 distinct names missing (11 + absent) → 2 calls.
    assert_eq!(f.requests.count_of("GetParameters"), 3);
    // Each is now cached on its own.
    f.ssm.get_entry(&names[11]).await.unwrap();
    assert_eq!(f.requests.count(), 3);
}

#[tokio::test]
async fn a_label_selector_and_a_name_without_a_leading_slash_are_read() {
    let f = fixture().await;
    let name = format!("/{}/var", unique("label"));
    f.put(&name, ParameterType::String, "blue").await;
    f.put(&name, ParameterType::String, "green").await;
    f.admin
        .label_parameter_version()
        .name(&name)
        .parameter_version(1)
        .labels("live")
        .send()
        .await
        .unwrap();
    let live = f.ssm.get_entry(&format!("{name}:live")).await.unwrap();
    assert_eq!(live.as_str(), Some("blue"));
    assert_eq!(live.validator().token(), Some("1"));

    let plain = format!("{}-plain", unique("noslash"));
    f.put(&plain, ParameterType::String, "no slash").await;
    assert_eq!(
        f.ssm.get_entry(&plain).await.unwrap().as_str(),
        Some("no slash")
    );
    let relative = format!("{}/app/var", unique("relative"));
    f.put(&relative, ParameterType::String, "relative path")
        .await;
    assert_eq!(
        f.ssm.get_entry(&relative).await.unwrap().as_str(),
        Some("relative path")
    );
    assert_eq!(f.requests.count(), 3);
}

#[tokio::test]
async fn a_path_is_read_recursively_across_pages_as_one_entry() {
    let f = fixture().await;
    let base = format!("/{}", unique("path"));
    for i in 0..12 {
        f.put(
            &format!("{base}/svc/p{i:02}"),
            ParameterType::String,
            &i.to_string(),
        )
        .await;
    }
    f.put(
        &format!("{base}/svc/deeper/leaf"),
        ParameterType::String,
        "leaf",
    )
    .await;
    let all = f.ssm.get_path(&base, MINUTE).await.unwrap();
    assert_eq!(all.len(), 13);
    assert_eq!(
        all[&format!("{base}/svc/deeper/leaf")].as_str(),
        Some("leaf")
    );
    let pages = f.requests.count_of("GetParametersByPath");
    assert!(
        pages >= 2,
        "moto pages by 10, so 13 parameters take two pages (took {pages})"
    );
    f.ssm.get_path(&base, MINUTE).await.unwrap();
    assert_eq!(f.requests.count(), pages, "cached");
}

#[tokio::test]
async fn the_free_functions_use_the_environment_and_the_global_cache() {
    // `cargo xtask test` exports AWS_ENDPOINT_URL and test credentials, as a Lambda's
    // environment would export the real ones.
    let f = fixture().await;
    let name = format!("/{}/global", unique("free"));
    f.put(&name, ParameterType::String, "from-env").await;
    let before = Cache::global().stats();
    let var = ssm::get_entry(&name).await.unwrap();
    assert_eq!(var.as_str(), Some("from-env"));
    ssm::get_entry(&name).await.unwrap();
    let typed: HashMap<String, String> = serde_json::from_str(r#"{"a":"b"}"#).unwrap(); // keeps serde_json used in both builds
    assert_eq!(typed["a"], "b");
    let after = Cache::global().stats();
    assert_eq!(after.fetches - before.fetches, 1);
    assert!(after.hits > before.hits);
    assert!(SsmCache::global().await.cache().same_as(Cache::global()));
}

#[tokio::test]
async fn decoded_json_is_never_older_than_the_max_age_of_its_text() {
    #[derive(serde::Deserialize)]
    struct Limits {
        max_items: u32,
    }
    // The text is fetched at t = 0 and first decoded at t = 59 s. The decoded value carries the
    // text's age, so at t = 61 s it is stale and the parameter is read again.
    let f = fixture().await;
    let name = format!("/{}/limits", unique("json-age"));
    f.put(
        &name,
        ParameterType::String,
        r#"{"max_items": 1, "regions": []}"#,
    )
    .await;
    f.ssm.get_entry_with(&name, MINUTE).await.unwrap();
    f.clock.advance(Duration::from_secs(59));
    let limits = f.ssm.get_json::<Limits>(&name, MINUTE).await.unwrap();
    assert_eq!(limits.max_items, 1);
    assert_eq!(f.requests.count(), 1, "the 59 s old text is decoded");
    f.put(
        &name,
        ParameterType::String,
        r#"{"max_items": 2, "regions": []}"#,
    )
    .await;
    f.clock.advance(Duration::from_secs(2));
    let limits = f.ssm.get_json::<Limits>(&name, MINUTE).await.unwrap();
    assert_eq!(
        limits.max_items, 2,
        "61 s after the text was read, it is read again"
    );
    assert_eq!(f.requests.count(), 2);
}

#[tokio::test]
async fn a_pinned_and_the_latest_version_read_together_each_get_their_own_value_in_one_call() {
    let f = fixture().await;
    let name = format!("/{}/app/p", unique("pinned"));
    f.put(&name, ParameterType::String, "first").await;
    f.put(&name, ParameterType::String, "second").await;
    f.put(&name, ParameterType::String, "third").await;
    let pinned = format!("{name}:1");
    for order in [
        [pinned.as_str(), name.as_str()],
        [name.as_str(), pinned.as_str()],
    ] {
        let before = f.requests.count_of("GetParameters");
        let reads = f.ssm.get_many(order, Duration::ZERO).await;
        assert_eq!(
            f.requests.count_of("GetParameters") - before,
            1,
            "one call for both"
        );
        for (requested, read) in order.iter().zip(reads) {
            let entry = read.unwrap_or_else(|err| panic!("{requested}: {err}"));
            let expected = if *requested == pinned {
                "first"
            } else {
                "third"
            };
            assert_eq!(
                entry.as_str(),
                Some(expected),
                "{requested} in order {order:?}"
            );
        }
    }
}

/// With refresh ahead, a read past 0.8 of the max age is answered with the held value at once
/// and one GetParameters runs in the background (ten such reads, one call); the next read has
/// the new value. With stale-while-revalidate, a read past the max age is answered the same way.
///
/// One thread: the background refresh runs only when the test awaits, so the reads before that
/// are answered before it can end.
#[tokio::test]
async fn refresh_ahead_answers_at_once_and_refreshes_in_the_background_once() {
    let f = fixture().await;
    let name = format!("/{}/app/rate", unique("ahead"));
    f.put(&name, ParameterType::String, "v1").await;
    let policy = Policy::new(MINUTE).refresh_ahead(0.8).unwrap();
    assert_eq!(
        f.ssm.get_entry_with(&name, policy).await.unwrap().as_str(),
        Some("v1")
    );
    f.put(&name, ParameterType::String, "v2").await;
    f.clock.advance(Duration::from_secs(50));
    for _ in 0..10 {
        let held = f.ssm.get_entry_with(&name, policy).await.unwrap();
        assert_eq!(held.as_str(), Some("v1"), "the held value, at once");
    }
    let mut fresh = None;
    for _ in 0..500 {
        let read = f.ssm.get_entry_with(&name, policy).await.unwrap();
        if read.as_str() == Some("v2") {
            fresh = Some(read);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fresh.expect("the refreshed value").as_str(), Some("v2"));
    assert_eq!(
        f.requests.count_of("GetParameters"),
        2,
        "one background call"
    );
    assert_eq!(f.ssm.cache().stats().refreshed_ahead, 1);

    let window = Policy::new(MINUTE).stale_while_revalidate(MINUTE);
    f.put(&name, ParameterType::String, "v3").await;
    f.clock.advance(Duration::from_secs(90));
    let stale = f.ssm.get_entry_with(&name, window).await.unwrap();
    assert_eq!(
        stale.as_str(),
        Some("v2"),
        "past max age, within the window: at once"
    );
    for _ in 0..500 {
        if f.requests.count_of("GetParameters") == 3 && f.ssm.cache().stats().publishes >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        f.ssm.get_entry_with(&name, window).await.unwrap().as_str(),
        Some("v3")
    );
    assert_eq!(f.ssm.cache().stats().served_while_revalidating, 1);
}
