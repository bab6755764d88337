//! Declared entries refreshed per invocation, against the moto server (and wiremock for a
//! throttled batch), counting the requests that reach the backends.

use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use lambda_cache::ManualClock;
use lambda_cache::entries::{Entries, Error};
use lambda_cache::s3::{self, S3Cache};
use lambda_cache::secrets::{self, SecretsCache};
use lambda_cache::ssm::{self, Parameters, SsmCache};
use lambda_cache::{Cache, CacheError};
use lambda_cache_testkit::{Requests, moto_endpoint, put_parameter, sdk_config, unique};

const MINUTE: Duration = Duration::from_secs(60);

struct Fixture {
    cache: Cache,
    clock: ManualClock,
    ssm: SsmCache,
    ssm_requests: Requests,
    ssm_admin: aws_sdk_ssm::Client,
    secrets: SecretsCache,
    secrets_requests: Requests,
    secrets_admin: aws_sdk_secretsmanager::Client,
    s3: S3Cache,
    s3_admin: aws_sdk_s3::Client,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let config = sdk_config(&moto_endpoint()).await;
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let ssm_requests = Requests::default();
    let ssm = SsmCache::new(
        cache.clone(),
        aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&config)
                .interceptor(ssm_requests.clone())
                .build(),
        ),
    );
    let secrets_requests = Requests::default();
    let secrets = SecretsCache::new(
        cache.clone(),
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&config)
                .interceptor(secrets_requests.clone())
                .build(),
        ),
    );
    let s3_client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Cache::builder(cache.clone(), s3_client.clone())
        .directory(dir.path())
        .build();
    Fixture {
        cache,
        clock,
        ssm,
        ssm_requests,
        ssm_admin: aws_sdk_ssm::Client::new(&config),
        secrets,
        secrets_requests,
        secrets_admin: aws_sdk_secretsmanager::Client::new(&config),
        s3,
        s3_admin: s3_client,
        _dir: dir,
    }
}

impl Fixture {
    fn builder(&self) -> lambda_cache::entries::EntriesBuilder {
        Entries::builder()
            .cache(self.cache.clone())
            .service(self.ssm.clone())
            .service(self.secrets.clone())
            .service(self.s3.clone())
    }

    async fn put(&self, name: &str, value: &str) {
        put_parameter(&self.ssm_admin, name, ParameterType::String, value).await;
    }
}

#[tokio::test]
async fn ten_declared_parameters_refresh_in_one_call_and_not_between() {
    let f = fixture().await;
    let base = format!("/{}", unique("decl"));
    for i in 0..10 {
        f.put(&format!("{base}/p{i}"), &format!("v{i}")).await;
    }
    // Eight singles with two max ages, and a list of two: ten names, as stacked decorators
    // would declare them (the seed makes one call per decorator).
    let mut builder = f.builder();
    for i in 0..8 {
        let max_age = if i % 2 == 0 { 30 } else { 60 };
        builder = builder
            .entry(ssm::parameter(format!("{base}/p{i}")).max_age(Duration::from_secs(max_age)));
    }
    let list = Parameters::builder([format!("{base}/p8"), format!("{base}/p9")])
        .entry_name("pair")
        .build()
        .unwrap();
    let entries = builder
        .entry(ssm::parameters(list).max_age(MINUTE))
        .build()
        .unwrap();

    let first = entries.refresh().await.unwrap();
    assert_eq!(
        f.ssm_requests.count_of("GetParameters"),
        1,
        "ten names, one call"
    );
    assert_eq!(first.get::<ssm::Value>("p3").unwrap().as_str(), Some("v3"));
    assert_eq!(
        first.get::<ssm::ParameterMap>("pair").unwrap()["p9"].as_str(),
        Some("v9")
    );

    for _ in 0..5 {
        f.clock.advance(Duration::from_secs(5));
        entries.refresh().await.unwrap();
    }
    assert_eq!(f.ssm_requests.count(), 1, "no call between refreshes");

    f.clock.advance(Duration::from_secs(5)); // 30 s: the four 30-second entries are stale
    entries.refresh().await.unwrap();
    assert_eq!(f.ssm_requests.count(), 2, "the stale ones, in one call");
    f.clock.advance(MINUTE);
    entries.refresh().await.unwrap();
    assert_eq!(
        f.ssm_requests.count(),
        3,
        "all of them again, still one call"
    );
    // A single read of a declared parameter is now a hit: the batch filled its entry.
    f.ssm.get_entry(&format!("{base}/p1")).await.unwrap();
    assert_eq!(f.ssm_requests.count(), 3);
}

#[tokio::test]
async fn twenty_five_names_across_declarations_take_three_calls() {
    let f = fixture().await;
    let base = format!("/{}", unique("decl25"));
    let mut builder = f.builder();
    for i in 0..25 {
        let name = format!("{base}/n{i:02}");
        f.put(&name, "x").await;
        builder = builder.entry(ssm::parameter(&name).max_age(MINUTE));
    }
    entries_refresh(builder).await;
    assert_eq!(f.ssm_requests.count_of("GetParameters"), 3);
}

async fn entries_refresh(builder: lambda_cache::entries::EntriesBuilder) {
    builder.build().unwrap().refresh().await.unwrap();
}

#[tokio::test]
async fn a_snapshot_does_not_change_during_an_invocation() {
    let f = fixture().await;
    let name = format!("/{}/var", unique("snap"));
    f.put(&name, "before").await;
    let entries = f
        .builder()
        .entry(ssm::parameter(&name).max_age(MINUTE))
        .build()
        .unwrap();
    let during = entries.refresh().await.unwrap();
    f.put(&name, "after").await;
    f.clock.advance(MINUTE);
    let next = entries.refresh().await.unwrap(); // another invocation refreshes meanwhile
    assert_eq!(
        next.get::<ssm::Value>("var").unwrap().as_str(),
        Some("after")
    );
    assert_eq!(
        during.get::<ssm::Value>("var").unwrap().as_str(),
        Some("before")
    );
}

#[tokio::test]
async fn every_kind_of_entry_is_read_by_name_through_typed_getters() {
    let f = fixture().await;
    let base = format!("/{}", unique("kinds"));
    f.put(&format!("{base}/app/var"), "value").await;
    f.put(&format!("{base}/tree/a"), "A").await;
    let secret = unique("kinds-secret");
    f.secrets_admin
        .create_secret()
        .name(&secret)
        .secret_string("pw")
        .send()
        .await
        .unwrap();
    let bucket = unique("kinds").to_lowercase();
    f.s3_admin
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    f.s3_admin
        .put_object()
        .bucket(&bucket)
        .key("models/model.bin")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"weights"))
        .send()
        .await
        .unwrap();

    let entries = f
        .builder()
        .entry(ssm::parameter(format!("{base}/app/var")).entry_name("new_var"))
        .entry(ssm::path(format!("{base}/tree")).max_age(MINUTE))
        .entry(secrets::secret(secret.as_str()).max_age(Duration::from_secs(300)))
        .entry(s3::file(format!("s3://{bucket}/models/model.bin")).max_age(MINUTE))
        .load("answer", MINUTE, || async {
            Ok::<_, std::io::Error>(42_u64)
        })
        .build()
        .unwrap();
    let cached = entries.refresh().await.unwrap();
    assert_eq!(
        cached.get::<ssm::Value>("new_var").unwrap().as_str(),
        Some("value")
    );
    assert_eq!(
        cached.get::<ssm::ParameterMap>("tree").unwrap()[&format!("{base}/tree/a")].as_str(),
        Some("A")
    );
    assert_eq!(
        cached.get::<secrets::Secret>(&secret).unwrap().as_str(),
        Some("pw")
    );
    assert_eq!(
        std::fs::read(cached.get::<s3::LocalFile>("model.bin").unwrap().path()).unwrap(),
        b"weights"
    );
    assert_eq!(*cached.get::<u64>("answer").unwrap(), 42);

    assert!(matches!(
        cached.get::<ssm::Value>("var"),
        Err(Error::NoSuchEntry { .. })
    ));
    assert!(matches!(
        cached.get::<secrets::Secret>("new_var"),
        Err(Error::WrongType { .. })
    ));
    assert!(matches!(
        cached.get::<String>("answer"),
        Err(Error::WrongType { .. })
    ));
    assert_eq!(f.secrets_requests.count(), 1);
}

#[test]
fn declaration_errors_are_reported_when_the_entries_are_built() {
    let duplicate = Entries::builder()
        .entry(ssm::parameter("/prod/app/var").max_age(MINUTE))
        .entry(secrets::secret("/prod/db/var").max_age(MINUTE))
        .build()
        .unwrap_err();
    assert!(
        matches!(&duplicate, Error::DuplicateEntryName { entry_name, first, second }
            if entry_name == "var" && first == "/prod/app/var" && second == "/prod/db/var"),
        "{duplicate:?}"
    );

    // One empty entry name among several: the error names that declaration.
    let empty = Entries::builder()
        .entry(ssm::parameter("/prod/app/first").max_age(MINUTE))
        .entry(ssm::parameter("/prod/app/var").entry_name(""))
        .entry(ssm::parameter("/prod/app/last").max_age(MINUTE))
        .build()
        .unwrap_err();
    assert!(
        matches!(&empty, Error::EmptyEntryName { declared } if declared == "/prod/app/var"),
        "{empty:?}"
    );
    assert!(empty.to_string().contains("/prod/app/var"), "{empty}");
    let empty = Entries::builder()
        .load("", MINUTE, || async { Ok::<_, std::io::Error>(1) })
        .build()
        .unwrap_err();
    assert!(matches!(empty, Error::EmptyEntryName { .. }), "{empty:?}");

    let no_entry_name = Parameters::builder(["/app/var1", "/app/var2"])
        .build()
        .unwrap_err();
    assert!(matches!(no_entry_name, ssm::Error::NoEntryName { .. }));

    let bad_name = Entries::builder()
        .entry(ssm::parameter("/prod/ app").max_age(MINUTE))
        .build()
        .unwrap_err();
    assert!(
        matches!(&bad_name, Error::Declaration { entry_name, declared, source }
            if entry_name == " app" && declared == "/prod/ app"
                && matches!(source.downcast_ref::<ssm::Error>(), Some(ssm::Error::InvalidName { .. }))),
        "{bad_name:?}"
    );

    let bad_uri = Entries::builder()
        .entry(s3::file("s3://bucket/folder/").max_age(MINUTE))
        .build()
        .unwrap_err();
    assert!(
        bad_uri.to_string().contains("s3://bucket/folder/"),
        "{bad_uri}"
    );

    let same_file = Entries::builder()
        .entry(s3::file("s3://bucket-a/config.json").max_age(MINUTE))
        .entry(s3::file("s3://bucket-b/config.json").entry_name("config.json"))
        .build()
        .unwrap_err();
    assert!(
        matches!(&same_file, Error::DuplicateEntryName { first, second, .. }
            if first == "s3://bucket-a/config.json" && second == "s3://bucket-b/config.json"),
        "{same_file:?}"
    );
}

#[tokio::test]
async fn a_missing_parameter_fails_the_invocation_naming_the_entry() {
    let f = fixture().await;
    let base = format!("/{}", unique("fail"));
    f.put(&format!("{base}/present"), "here").await;
    let entries = f
        .builder()
        .entry(ssm::parameter(format!("{base}/present")).max_age(MINUTE))
        .entry(ssm::parameter(format!("{base}/absent")).entry_name("needed"))
        .build()
        .unwrap();
    let err = entries.refresh().await.unwrap_err();
    assert!(
        matches!(err.failure_of("needed").and_then(|e| e.downcast_ref::<ssm::Error>()),
            Some(ssm::Error::NotFound { names }) if names == &[format!("{base}/absent")]),
        "{err:?}"
    );
    assert!(
        matches!(&err, Error::Refresh { failures } if failures.len() == 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("needed"));
    assert_eq!(f.ssm_requests.count(), 1);
}

#[tokio::test]
async fn a_throttled_batch_serves_stale_entries_that_allow_it_and_fails_others() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    let body = serde_json::json!({
        "Parameters": [
            {"Name": "/app/a", "Type": "String", "Value": "a1", "Version": 1},
            {"Name": "/app/b", "Type": "String", "Value": "b1", "Version": 1}
        ],
        "InvalidParameters": []
    });
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-amz-json-1.1")
                .set_body_json(body),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("content-type", "application/x-amz-json-1.1")
                .set_body_json(
                    serde_json::json!({"__type": "ThrottlingException", "message": "slow down"}),
                ),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let ssm = SsmCache::new(
        cache.clone(),
        aws_sdk_ssm::Client::new(&sdk_config(&server.uri()).await),
    );
    let tolerant = Entries::builder()
        .cache(cache.clone())
        .service(ssm.clone())
        .entry(ssm::parameter("/app/a").stale_if_error(Duration::from_secs(600)))
        .build()
        .unwrap();
    let strict = Entries::builder()
        .cache(cache.clone())
        .service(ssm.clone())
        .entry(ssm::parameter("/app/b").max_age(MINUTE))
        .build()
        .unwrap();
    let both = Entries::builder()
        .cache(cache.clone())
        .service(ssm)
        .entry(ssm::parameter("/app/a").max_age(MINUTE))
        .entry(ssm::parameter("/app/b").max_age(MINUTE))
        .build()
        .unwrap();
    both.refresh().await.unwrap();
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "both in one call"
    );

    clock.advance(Duration::from_secs(120));
    let served = tolerant.refresh().await.unwrap();
    assert_eq!(served.get::<ssm::Value>("a").unwrap().as_str(), Some("a1"));
    assert_eq!(cache.stats().stale_served, 1);
    let err = strict.refresh().await.unwrap_err();
    assert!(
        matches!(
            err.failure_of("b")
                .and_then(|e| e.downcast_ref::<ssm::Error>()),
            Some(ssm::Error::Throttled { .. })
        ),
        "{err:?}"
    );
    assert!(err.failure_of("b").is_some_and(CacheError::is_transient));

    // Every entry that fails is listed, each with its cause, in declaration order.
    let err = both.refresh().await.unwrap_err();
    let Error::Refresh { failures } = &err else {
        panic!("{err:?}");
    };
    let names: Vec<&str> = failures.iter().map(|f| f.entry_name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(
        err.to_string()
            .starts_with("2 entries could not be refreshed: entry \"a\": "),
        "{err}"
    );
}

#[tokio::test]
async fn declared_dynamodb_items_refresh_in_one_batch_call() {
    use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
    use lambda_cache::dynamodb::{self, DynamoCache, Item, ItemKey};

    let config = sdk_config(&moto_endpoint()).await;
    let admin = aws_sdk_dynamodb::Client::new(&config);
    let table = unique("users");
    lambda_cache_testkit::create_table(&admin, &table, ("pk", ScalarAttributeType::S), None).await;
    for id in ["u1", "u2", "u3"] {
        let item = [
            ("pk", AttributeValue::S(id.into())),
            ("name", AttributeValue::S(format!("name of {id}"))),
        ];
        lambda_cache_testkit::put_item(&admin, &table, &item).await;
    }
    let requests = Requests::default();
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let counted = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(requests.clone())
            .build(),
    );
    let entries = Entries::builder()
        .service(DynamoCache::new(cache, counted))
        .entry(dynamodb::item(ItemKey::new(&table, "pk", "u1")).entry_name("first"))
        .entry(dynamodb::item(ItemKey::new(&table, "pk", "u2")).max_age(MINUTE))
        .entry(dynamodb::item(ItemKey::new(&table, "pk", "u3")).entry_name("third"))
        .build()
        .unwrap();
    let cached = entries.refresh().await.unwrap();
    assert_eq!(
        requests.count_of(".BatchGetItem"),
        1,
        "three items, one call"
    );
    assert_eq!(
        cached.get::<Item>("first").unwrap()["name"],
        AttributeValue::S("name of u1".into())
    );
    let default_name = format!("{table}@@u2");
    assert!(
        cached.get::<Item>(&default_name).is_ok(),
        "table@@hash by default"
    );
    entries.refresh().await.unwrap();
    assert_eq!(requests.count(), 1, "all fresh: no call");
    clock.advance(MINUTE);
    entries.refresh().await.unwrap();
    assert_eq!(requests.count_of(".BatchGetItem"), 2);
}

#[tokio::test]
async fn declared_appconfig_profiles_refresh_each_in_its_own_session() {
    use lambda_cache::appconfig::{self, AppConfigCache, Configuration, Profile};

    let fake = lambda_cache_testkit::FakeAppConfig::start().await;
    fake.deploy(
        "shop",
        "prod",
        "flags",
        br#"{"new_cart":{"enabled":true}}"#,
        "application/json",
    );
    fake.deploy("shop", "prod", "limits", b"max_items=10", "text/plain");
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let entries = Entries::builder()
        .service(AppConfigCache::from_config(
            cache,
            &sdk_config(&fake.uri()).await,
        ))
        .entry(appconfig::configuration(Profile::new(
            "shop", "prod", "flags",
        )))
        .entry(appconfig::configuration(Profile::new("shop", "prod", "limits")).entry_name("caps"))
        .build()
        .unwrap();
    let cached = entries.refresh().await.unwrap();
    assert_eq!(
        (fake.starts(), fake.polls()),
        (2, 2),
        "one session per profile"
    );
    assert_eq!(
        cached.get::<Configuration>("caps").unwrap().as_str(),
        Some("max_items=10")
    );
    let flags = cached.get::<Configuration>("flags").unwrap();
    assert_eq!(flags.content_type(), Some("application/json"));
    entries.refresh().await.unwrap();
    assert_eq!(fake.polls(), 2, "all fresh: no call");
    clock.advance(MINUTE + Duration::from_secs(1));
    entries.refresh().await.unwrap();
    assert_eq!((fake.starts(), fake.polls(), fake.refused()), (2, 4, 0));
}

#[tokio::test]
async fn one_sdk_config_points_every_service_cache_at_one_endpoint() {
    use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
    use lambda_cache::dynamodb::{DynamoCache, ItemKey};

    let config = sdk_config(&moto_endpoint()).await;
    let cache = Cache::builder().build().unwrap();
    let ssm = SsmCache::from_config(cache.clone(), &config);
    let secrets = SecretsCache::from_config(cache.clone(), &config);
    let dynamodb = DynamoCache::from_config(cache.clone(), &config);

    let name = format!("/{}/one-config", unique("cfg"));
    put_parameter(
        &aws_sdk_ssm::Client::new(&config),
        &name,
        aws_sdk_ssm::types::ParameterType::String,
        "p",
    )
    .await;
    let secret = unique("cfg-secret");
    lambda_cache_testkit::create_secret(
        &aws_sdk_secretsmanager::Client::new(&config),
        &secret,
        "s",
    )
    .await;
    let table = unique("cfg-table");
    let admin = aws_sdk_dynamodb::Client::new(&config);
    lambda_cache_testkit::create_table(&admin, &table, ("pk", ScalarAttributeType::S), None).await;
    lambda_cache_testkit::put_item(&admin, &table, &[("pk", AttributeValue::S("k".into()))]).await;

    assert_eq!(ssm.get_entry(&name).await.unwrap().as_str(), Some("p"));
    assert_eq!(
        secrets.get_entry(&secret).await.unwrap().as_str(),
        Some("s")
    );
    assert!(
        dynamodb
            .get_entry(&ItemKey::new(&table, "pk", "k"))
            .await
            .is_ok()
    );
    assert_eq!(cache.len(), 3, "three services, one cache");
}

/// A declared entry that refreshes ahead: the invocation past 0.8 of its max age gets the held
/// value at once and starts one refresh in the background (one more loader call, not awaited);
/// the invocation after its max age finds the refreshed value, with no wait and no call.
#[tokio::test]
async fn declared_entries_past_their_refresh_ahead_share_refresh_in_the_background() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let policy = lambda_cache::Policy::new(Duration::from_secs(60))
        .refresh_ahead(0.8)
        .unwrap();
    let entries = Entries::builder()
        .cache(cache)
        .load("rates", policy, move || {
            let calls = Arc::clone(&counted);
            async move { Ok::<_, std::io::Error>(calls.fetch_add(1, Ordering::SeqCst) + 1) }
        })
        .build()
        .unwrap();
    assert_eq!(
        *entries
            .refresh()
            .await
            .unwrap()
            .get::<usize>("rates")
            .unwrap(),
        1
    );
    clock.advance(Duration::from_secs(50));
    let held = entries.refresh().await.unwrap();
    assert_eq!(
        *held.get::<usize>("rates").unwrap(),
        1,
        "the held value, at once"
    );
    for _ in 0..1_000 {
        if calls.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one background refresh");
    // 65 s after the first read, 15 s after the refresh: fresh, no wait, no call.
    clock.advance(Duration::from_secs(15));
    let after = entries.refresh().await.unwrap();
    assert_eq!(*after.get::<usize>("rates").unwrap(), 2);
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A background refresh-ahead pass whose loader panics ends like any other: the next
/// invocation in the window starts another pass (the flag it holds is cleared however it ends).
#[tokio::test]
async fn a_refresh_ahead_pass_that_panicked_does_not_stop_the_next() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let policy = lambda_cache::Policy::new(Duration::from_secs(60))
        .refresh_ahead(0.8)
        .unwrap();
    let entries = Entries::builder()
        .cache(cache)
        .load("rates", policy, move || {
            let call = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                assert_ne!(call, 2, "the second load panics (a bug in the loader)");
                Ok::<_, std::io::Error>(call)
            }
        })
        .build()
        .unwrap();
    entries.refresh().await.unwrap();
    let settle = || async {
        for _ in 0..1_000 {
            tokio::task::yield_now().await;
        }
    };
    clock.advance(Duration::from_secs(50));
    entries.refresh().await.unwrap();
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the pass that panicked");
    clock.advance(Duration::from_secs(1));
    let held = entries.refresh().await.unwrap();
    assert_eq!(*held.get::<usize>("rates").unwrap(), 1);
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 3, "another pass started");
}
