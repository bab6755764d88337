//! Secrets Manager through the real aws-sdk-secretsmanager client against the moto server,
//! counting the requests that reach it. Run with `cargo xtask test`.

use std::time::Duration;

use aws_sdk_secretsmanager::primitives::Blob;
use lambda_cache_core::ManualClock;
use lambda_cache_core::{Cache, CacheError, Policy, Sensitive};
use lambda_cache_secrets::{self as secrets, Error, SecretId, SecretsCache};
use lambda_cache_testkit::{Requests, moto_endpoint, sdk_config, unique};

const MINUTE: Duration = Duration::from_secs(60);

struct Fixture {
    secrets: SecretsCache,
    clock: ManualClock,
    requests: Requests,
    admin: aws_sdk_secretsmanager::Client,
}

async fn fixture() -> Fixture {
    let config = sdk_config(&moto_endpoint()).await;
    let requests = Requests::default();
    let counted = aws_sdk_secretsmanager::config::Builder::from(&config)
        .interceptor(requests.clone())
        .build();
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    Fixture {
        secrets: SecretsCache::new(cache, aws_sdk_secretsmanager::Client::from_conf(counted)),
        clock,
        requests,
        admin: aws_sdk_secretsmanager::Client::new(&config),
    }
}

impl Fixture {
    async fn create(&self, name: &str, value: &str) -> String {
        let out = self
            .admin
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
        out.arn().unwrap().to_owned()
    }

    async fn put(&self, name: &str, value: &str) -> String {
        let out = self
            .admin
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
        out.version_id().unwrap().to_owned()
    }
}

#[tokio::test]
async fn a_hit_within_max_age_makes_no_call_and_a_new_value_arrives_after_it() {
    let f = fixture().await;
    let name = format!("/{}/db/conn_string", unique("secret"));
    f.create(&name, "postgres://v1").await;

    let first = f.secrets.get_entry(&name).await.unwrap();
    assert_eq!(first.as_str(), Some("postgres://v1"));
    assert_eq!(first.name(), name);
    assert!(first.version_stages().iter().any(|s| s == "AWSCURRENT"));
    f.clock.advance(Duration::from_secs(59));
    f.secrets.get_entry(&name).await.unwrap();
    assert_eq!(f.requests.count_of("GetSecretValue"), 1);

    f.put(&name, "postgres://v2").await;
    assert_eq!(
        f.secrets.get_entry(&name).await.unwrap().as_str(),
        Some("postgres://v1")
    );
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(
        f.secrets.get_entry(&name).await.unwrap().as_str(),
        Some("postgres://v2")
    );
    // Past the max age, DescribeSecret first: the stage moved, so the new version is read.
    assert_eq!(f.requests.count_of("DescribeSecret"), 1);
    assert_eq!(f.requests.count_of("GetSecretValue"), 2);

    let forced = f
        .secrets
        .get_entry_with(&name, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(forced.as_str(), Some("postgres://v2"));
    assert_eq!(
        (
            f.requests.count_of("DescribeSecret"),
            f.requests.count_of("GetSecretValue")
        ),
        (2, 2),
        "max_age zero forces a call: DescribeSecret, which says the held version is current"
    );
}

/// Past its max age, a secret read by stage is revalidated: one DescribeSecret and no
/// GetSecretValue while the stage names the held version (counted as not modified), one of each
/// once it was rotated; a read pinned to a version id needs neither; revalidation off reads it
/// whole every time.
#[tokio::test]
async fn a_secret_unchanged_past_its_max_age_costs_one_describe_secret_and_no_read() {
    let f = fixture().await;
    let name = format!("/{}/api-key", unique("revalidate"));
    f.create(&name, "key-v1").await;
    f.secrets.get_entry(&name).await.unwrap();
    for _ in 0..3 {
        f.clock.advance(MINUTE);
        let held = f.secrets.get_entry(&name).await.unwrap();
        assert_eq!(held.as_str(), Some("key-v1"));
    }
    assert_eq!(f.requests.count_of("GetSecretValue"), 1);
    assert_eq!(f.requests.count_of("DescribeSecret"), 3);
    assert_eq!(f.secrets.cache().stats().not_modified, 3);

    // Rotated: DescribeSecret says the stage moved; the new version is read.
    let v2 = f.put(&name, "key-v2").await;
    f.clock.advance(MINUTE);
    let rotated = f.secrets.get_entry(&name).await.unwrap();
    assert_eq!(rotated.as_str(), Some("key-v2"));
    assert_eq!(rotated.validator().token(), Some(v2.as_str()));
    assert_eq!(
        (
            f.requests.count_of("DescribeSecret"),
            f.requests.count_of("GetSecretValue")
        ),
        (4, 2)
    );

    // Pinned to a version id: immutable, so past the max age neither call is made.
    f.secrets
        .get_entry(SecretId::new(&name).version_id(&v2))
        .await
        .unwrap();
    f.clock.advance(MINUTE);
    let pinned = f
        .secrets
        .get_entry(SecretId::new(&name).version_id(&v2))
        .await
        .unwrap();
    assert_eq!(pinned.as_str(), Some("key-v2"));
    assert_eq!(f.requests.count(), 4 + 2 + 1);

    // Revalidation off: read whole, no DescribeSecret.
    let off = f.secrets.clone().with_revalidation(false);
    f.clock.advance(MINUTE);
    off.get_entry(&name).await.unwrap();
    assert_eq!(
        (
            f.requests.count_of("DescribeSecret"),
            f.requests.count_of("GetSecretValue")
        ),
        (4, 4)
    );
}

#[tokio::test]
async fn awsprevious_and_version_ids_read_their_own_versions_under_their_own_keys() {
    let f = fixture().await;
    let name = unique("rotating");
    f.create(&name, "old-password").await;
    let new_version = f.put(&name, "new-password").await;

    let current = f.secrets.get_entry(&name).await.unwrap();
    let previous = f
        .secrets
        .get_entry_with(SecretId::new(&name).previous(), MINUTE)
        .await
        .unwrap();
    let pinned = f
        .secrets
        .get_entry_with(SecretId::new(&name).version_id(&new_version), MINUTE)
        .await
        .unwrap();
    assert_eq!(current.as_str(), Some("new-password"));
    assert_eq!(previous.as_str(), Some("old-password"));
    assert_eq!(pinned.as_str(), Some("new-password"));
    assert_eq!(pinned.version_id(), new_version);
    assert_eq!(f.requests.count(), 3, "three versions, three keys");
    f.secrets
        .get_entry_with(SecretId::new(&name).previous(), MINUTE)
        .await
        .unwrap();
    assert_eq!(f.requests.count(), 3);
}

#[tokio::test]
async fn binary_secrets_round_trip_exactly() {
    let f = fixture().await;
    let name = unique("binary");
    let bytes: Vec<u8> = (0..=255).chain((0..=255).rev()).collect();
    f.admin
        .create_secret()
        .name(&name)
        .secret_binary(Blob::new(bytes.clone()))
        .send()
        .await
        .unwrap();
    let secret = f.secrets.get_entry(&name).await.unwrap();
    assert_eq!(secret.as_bytes(), bytes.as_slice());
    assert_eq!(secret.as_str(), None);
}

#[tokio::test]
async fn a_missing_secret_is_a_typed_permanent_error_naming_it() {
    let f = fixture().await;
    let name = unique("absent");
    let policy = Policy::new(MINUTE).stale_if_error(Duration::from_secs(3600));
    let err = f
        .secrets
        .get_entry_with(name.as_str(), policy)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::NotFound {
            secret: name.clone()
        }
    );
    assert!(!err.is_transient());
    assert!(err.to_string().contains(&name));
    assert!(f.secrets.cache().is_empty());
}

#[tokio::test]
async fn a_malformed_reference_fails_before_any_call() {
    let f = fixture().await;
    let err = f.secrets.get_entry("prod db").await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidName { input, .. } if input == "prod db"),
        "{err:?}"
    );
    let err = f
        .secrets
        .get_entry_with(SecretId::new("ok").stage(""), MINUTE)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }));
    assert_eq!(f.requests.count(), 0);
}

#[tokio::test]
async fn a_secret_is_read_by_arn() {
    let f = fixture().await;
    let name = unique("by-arn");
    let arn = f.create(&name, "value-by-arn").await;
    let secret = f.secrets.get_entry(&arn).await.unwrap();
    assert_eq!(secret.as_str(), Some("value-by-arn"));
    assert_eq!(secret.arn(), arn);
}

#[tokio::test]
async fn a_json_secret_is_decoded_once_and_shares_the_raw_fetch() {
    #[derive(Debug, serde::Deserialize)]
    struct Db {
        username: String,
        password: Sensitive<String>,
        host: String,
    }
    let f = fixture().await;
    let name = unique("db-json");
    f.create(
        &name,
        r#"{"username":"app","password":"pa55-w0rd","host":"db.internal"}"#,
    )
    .await;
    let db = f
        .secrets
        .get_json::<Db>(name.as_str(), MINUTE)
        .await
        .unwrap();
    assert_eq!(
        (db.username.as_str(), db.host.as_str()),
        ("app", "db.internal")
    );
    assert_eq!(db.password.expose(), "pa55-w0rd");
    assert!(!format!("{db:?}").contains("pa55-w0rd"));
    let again = f
        .secrets
        .get_json::<Db>(name.as_str(), MINUTE)
        .await
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&db.value_arc(), &again.value_arc()));
    f.secrets.get_entry(&name).await.unwrap();
    assert_eq!(f.requests.count(), 1);
}

#[tokio::test]
async fn a_batch_reads_misses_in_one_call_with_an_error_per_failed_secret() {
    let f = fixture().await;
    let names: Vec<String> = (0..3).map(|i| unique(&format!("batch{i}"))).collect();
    for (i, name) in names.iter().enumerate() {
        f.create(name, &format!("value-{i}")).await;
    }
    let missing = unique("batch-missing");
    // One is already cached: the batch asks only for the others.
    f.secrets.get_entry(&names[0]).await.unwrap();
    // A name asked for twice is asked for once, and answered twice, in request order.
    let wanted = [
        names[0].as_str(),
        names[1].as_str(),
        names[2].as_str(),
        missing.as_str(),
        names[1].as_str(),
    ];
    let results = f.secrets.get_many(&wanted, MINUTE).await;
    assert_eq!(f.requests.count_of("BatchGetSecretValue"), 1);
    assert_eq!(f.requests.count(), 2);
    assert_eq!(results.len(), wanted.len());
    for (i, result) in results.iter().take(3).enumerate() {
        let secret = result.as_ref().unwrap();
        assert_eq!(secret.as_str(), Some(format!("value-{i}").as_str()));
    }
    assert_eq!(results[4].as_ref().unwrap().as_str(), Some("value-1"));
    assert_eq!(
        results[3].as_ref().unwrap_err(),
        &Error::NotFound {
            secret: missing.clone()
        }
    );
    // Each secret of the batch is now cached on its own.
    f.secrets.get_entry(&names[2]).await.unwrap();
    assert_eq!(f.requests.count(), 2);
}

#[tokio::test]
async fn the_free_functions_use_the_environment_and_the_global_cache() {
    let f = fixture().await;
    let name = unique("free-secret");
    f.create(&name, "from-env").await;
    let before = Cache::global().stats();
    let secret = secrets::get_entry(&name).await.unwrap();
    assert_eq!(secret.as_str(), Some("from-env"));
    secrets::get_entry(&name).await.unwrap();
    let after = Cache::global().stats();
    assert_eq!(after.fetches - before.fetches, 1);
}

#[tokio::test]
async fn a_decoded_secret_is_never_older_than_the_max_age_of_the_raw_secret() {
    #[derive(serde::Deserialize)]
    struct Db {
        port: u16,
    }
    let f = fixture().await;
    let name = unique("json-age");
    f.create(&name, r#"{"port": 5432}"#).await;
    f.secrets
        .get_entry_with(name.as_str(), MINUTE)
        .await
        .unwrap();
    f.clock.advance(Duration::from_secs(59));
    let db = f
        .secrets
        .get_json::<Db>(name.as_str(), MINUTE)
        .await
        .unwrap();
    assert_eq!(db.port, 5432);
    assert_eq!(f.requests.count(), 1, "the 59 s old secret is decoded");
    f.put(&name, r#"{"port": 6432}"#).await;
    f.clock.advance(Duration::from_secs(2));
    let db = f
        .secrets
        .get_json::<Db>(name.as_str(), MINUTE)
        .await
        .unwrap();
    assert_eq!(
        db.port, 6432,
        "61 s after the secret was read, it is read again"
    );
    assert_eq!(f.requests.count_of("GetSecretValue"), 2);
    assert_eq!(f.requests.count_of("DescribeSecret"), 1);
}

#[tokio::test]
async fn get_many_reads_other_versions_beside_the_batch_and_fails_bad_ids_in_place() {
    let f = fixture().await;
    let name = unique("many-versions");
    f.create(&name, "v1").await;
    f.put(&name, "v2").await;
    let ids = [
        SecretId::new(&name),
        SecretId::new(&name).previous(),
        SecretId::new(""),
    ];
    let results = f.secrets.get_many(ids, MINUTE).await;
    assert_eq!(results[0].as_ref().unwrap().as_str(), Some("v2"));
    assert_eq!(results[1].as_ref().unwrap().as_str(), Some("v1"));
    assert!(
        matches!(&results[2], Err(Error::InvalidName { input, .. }) if input.is_empty()),
        "{:?}",
        results[2]
    );
    // One BatchGetSecretValue for the current version, one GetSecretValue for the previous;
    // the empty id is refused before any call.
    assert_eq!(f.requests.count_of("BatchGetSecretValue"), 1);
    assert_eq!(f.requests.count(), 2);
    // Both versions are cached on their own.
    let again = f.secrets.get_many(ids, MINUTE).await;
    assert_eq!(again[1].as_ref().unwrap().as_str(), Some("v1"));
    assert_eq!(f.requests.count(), 2);
}

/// Refresh ahead on a secret: a read past 0.8 of the max age is answered with the held value,
/// and the background refresh revalidates it (one DescribeSecret, no GetSecretValue: it did
/// not change).
///
/// One thread: the background refresh runs only when the test awaits, so the reads before that
/// are answered before it can end.
#[tokio::test]
async fn refresh_ahead_revalidates_a_secret_in_the_background() {
    let f = fixture().await;
    let name = format!("/{}/token", unique("ahead"));
    f.create(&name, "t1").await;
    let policy = Policy::new(MINUTE).refresh_ahead(0.8).unwrap();
    assert_eq!(
        f.secrets
            .get_entry_with(&name, policy)
            .await
            .unwrap()
            .as_str(),
        Some("t1")
    );
    f.clock.advance(Duration::from_secs(55));
    assert_eq!(
        f.secrets
            .get_entry_with(&name, policy)
            .await
            .unwrap()
            .as_str(),
        Some("t1")
    );
    for _ in 0..500 {
        if f.secrets.cache().stats().not_modified == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(f.secrets.cache().stats().not_modified, 1);
    assert_eq!(
        (
            f.requests.count_of("DescribeSecret"),
            f.requests.count_of("GetSecretValue")
        ),
        (1, 1)
    );
    assert_eq!(f.secrets.cache().stats().refreshed_ahead, 1);
}
