//! S3 objects through the real aws-sdk-s3 client against the moto server, counting requests
//! and their statuses. Run with `cargo xtask test`.

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use lambda_cache_core::ManualClock;
use lambda_cache_core::{Cache, CacheError};
use lambda_cache_s3::{Error, Object, S3Cache};
use lambda_cache_testkit::{Requests, files_in, moto_endpoint, sdk_config, unique};

const MINUTE: Duration = Duration::from_secs(60);

struct Fixture {
    s3: S3Cache,
    clock: ManualClock,
    requests: Requests,
    admin: aws_sdk_s3::Client,
    bucket: String,
    dir: tempfile::TempDir,
}

async fn fixture_with(budget: u64) -> Fixture {
    let config = sdk_config(&moto_endpoint()).await;
    let requests = Requests::default();
    let counted = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(true)
        .interceptor(requests.clone())
        .build();
    let admin = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("bucket").to_lowercase();
    admin.create_bucket().bucket(&bucket).send().await.unwrap();
    let clock = ManualClock::new();
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let s3 = S3Cache::builder(cache, aws_sdk_s3::Client::from_conf(counted))
        .directory(dir.path())
        .disk_budget(budget)
        .build();
    Fixture {
        s3,
        clock,
        requests,
        admin,
        bucket,
        dir,
    }
}

async fn fixture() -> Fixture {
    fixture_with(1 << 20).await
}

impl Fixture {
    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    async fn put(&self, key: &str, body: &[u8]) {
        self.admin
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
    }

    fn no_temp_files(&self) {
        let leftovers: Vec<String> = files_in(self.dir.path())
            .into_iter()
            .filter(|name| name.starts_with(".lambda-cache-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn a_hit_within_max_age_makes_no_request_and_the_file_is_where_the_seed_puts_it() {
    let f = fixture().await;
    f.put("path/to/object.json", br#"{"status": "ok"}"#).await;
    let file = f.s3.get_entry(&f.uri("path/to/object.json")).await.unwrap();
    assert_eq!(file.path(), f.dir.path().join("object.json"));
    assert_eq!(read(file.path()), r#"{"status": "ok"}"#);
    assert_eq!(file.size(), 16);
    f.clock.advance(Duration::from_secs(59));
    f.s3.get_entry(&f.uri("path/to/object.json")).await.unwrap();
    assert_eq!(f.requests.count(), 1);
    f.no_temp_files();
}

#[tokio::test]
async fn an_unchanged_object_revalidates_in_one_request_with_no_body() {
    let f = fixture().await;
    f.put("config.json", b"v1").await;
    let first = f.s3.get_entry(&f.uri("config.json")).await.unwrap();
    f.clock.advance(MINUTE);
    let second = f.s3.get_entry(&f.uri("config.json")).await.unwrap();
    assert_eq!(f.requests.count(), 2, "one conditional GetObject, no HEAD");
    assert_eq!(f.requests.statuses(), [200, 304]);
    assert!(f.requests.all().iter().all(|r| r.starts_with("GET ")));
    assert_eq!(read(second.path()), "v1");
    assert_eq!(second.etag(), first.etag());
    assert!(second.fetched_at() > first.fetched_at(), "renewed");
    f.clock.advance(Duration::from_secs(30));
    f.s3.get_entry(&f.uri("config.json")).await.unwrap();
    assert_eq!(f.requests.count(), 2, "the renewed entry is fresh");
}

#[tokio::test]
async fn a_changed_object_is_downloaded_again_in_the_same_request() {
    let f = fixture().await;
    f.put("config.json", b"v1").await;
    f.s3.get_entry(&f.uri("config.json")).await.unwrap();
    f.put("config.json", b"version two").await;
    f.clock.advance(MINUTE);
    let file = f.s3.get_entry(&f.uri("config.json")).await.unwrap();
    assert_eq!(read(file.path()), "version two");
    assert_eq!(f.requests.statuses(), [200, 200]);
    assert_eq!(f.s3.disk_used(), 11);
    f.no_temp_files();
}

#[tokio::test]
async fn without_check_before_download_every_refresh_downloads() {
    let f = fixture().await;
    f.put("model.bin", b"weights").await;
    let uri = f.uri("model.bin");
    let object = Object::new(&uri).check_before_download(false);
    f.s3.get_entry_with(object, MINUTE).await.unwrap();
    f.clock.advance(MINUTE);
    f.s3.get_entry_with(object, MINUTE).await.unwrap();
    assert_eq!(f.requests.statuses(), [200, 200]);
}

#[tokio::test]
async fn entry_name_sets_the_file_and_two_uris_on_one_file_are_an_error() {
    let f = fixture().await;
    f.put("a/config.json", b"from a").await;
    f.put("b/config.json", b"from b").await;
    let (a, b) = (f.uri("a/config.json"), f.uri("b/config.json"));
    f.s3.get_entry(&a).await.unwrap();
    let err = f.s3.get_entry(&b).await.unwrap_err();
    assert!(
        matches!(&err, Error::FileConflict { holder, uri, .. } if *holder == a && *uri == b),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(f.requests.count(), 1, "refused before any request");
    let renamed =
        f.s3.get_entry_with(Object::new(&b).entry_name("b-config.json"), MINUTE)
            .await
            .unwrap();
    assert_eq!(read(renamed.path()), "from b");
    assert_eq!(read(&f.dir.path().join("config.json")), "from a");
}

#[tokio::test]
async fn bad_uris_and_missing_objects_are_typed_errors_naming_the_input() {
    let f = fixture().await;
    for bad in [
        "bucket/key",
        "s3://",
        "s3://bucket-only",
        "s3://bkt/folder/",
    ] {
        let err = f.s3.get_entry(bad).await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidUri { uri, .. } if uri == bad),
            "{err:?}"
        );
    }
    let err =
        f.s3.get_entry_with(Object::new(&f.uri("k")).entry_name("../escape"), MINUTE)
            .await
            .unwrap_err();
    assert!(matches!(err, Error::InvalidUri { .. }), "{err:?}");
    assert_eq!(f.requests.count(), 0);
    let missing = f.uri("no/such/object.json");
    let err = f.s3.get_entry(&missing).await.unwrap_err();
    assert_eq!(err, Error::NotFound { uri: missing });
}

#[tokio::test]
async fn the_budget_evicts_the_least_recently_used_file() {
    let f = fixture_with(100).await;
    for key in ["a", "b", "c"] {
        f.put(key, &[b'x'; 40]).await;
    }
    f.s3.get_entry(&f.uri("a")).await.unwrap();
    f.clock.advance(Duration::from_secs(1));
    f.s3.get_entry(&f.uri("b")).await.unwrap();
    f.clock.advance(Duration::from_secs(1));
    f.s3.get_entry(&f.uri("a")).await.unwrap(); // a is used again: b is now the oldest
    f.clock.advance(Duration::from_secs(1));
    f.s3.get_entry(&f.uri("c")).await.unwrap();
    assert!(f.dir.path().join("a").exists());
    assert!(!f.dir.path().join("b").exists(), "b was evicted");
    assert!(f.dir.path().join("c").exists());
    assert_eq!(f.s3.disk_used(), 80);
    assert_eq!(f.requests.count(), 3);
    f.s3.get_entry(&f.uri("b")).await.unwrap();
    assert_eq!(f.requests.count(), 4, "an evicted file is downloaded again");
}

#[tokio::test]
async fn an_object_larger_than_the_budget_is_a_clear_error() {
    let f = fixture_with(100).await;
    f.put("big", &[0_u8; 101]).await;
    let err = f.s3.get_entry(&f.uri("big")).await.unwrap_err();
    assert_eq!(
        err,
        Error::TooLarge {
            uri: f.uri("big"),
            size: 101,
            budget: 100
        }
    );
    assert!(!f.dir.path().join("big").exists());
    f.no_temp_files();
}

#[tokio::test]
async fn small_objects_are_cached_in_memory_as_bytes_or_decoded_json() {
    #[derive(Debug, serde::Deserialize)]
    struct Status {
        status: String,
    }
    let f = fixture().await;
    f.put("status.json", br#"{"status": "green"}"#).await;
    let uri = f.uri("status.json");
    let status = f.s3.get_json::<Status>(&uri, MINUTE).await.unwrap();
    assert_eq!(status.status, "green");
    let bytes = f.s3.get_bytes(&uri, MINUTE).await.unwrap();
    assert_eq!(bytes.as_slice(), br#"{"status": "green"}"#);
    assert_eq!(f.requests.count(), 1, "decoded and raw share one request");
    f.clock.advance(MINUTE);
    f.s3.get_bytes(&uri, MINUTE).await.unwrap();
    assert_eq!(f.requests.statuses(), [200, 304]);
    assert!(!f.dir.path().join("status.json").exists(), "in memory only");
}

#[tokio::test]
async fn json_decoded_into_bytes_is_kept_apart_from_the_raw_bytes_and_returns() {
    // `get_json::<Vec<u8>>` of a JSON array of numbers has the raw bytes' type. When the decoded
    // value shared the raw value's slot, the decoded read's fetch waited on the raw read inside
    // it, which waited on the decoded read: it never returned.
    let f = fixture().await;
    f.put("numbers.json", b"[1, 2, 3]").await;
    let uri = f.uri("numbers.json");
    let numbers = tokio::time::timeout(
        Duration::from_secs(20),
        f.s3.get_json::<Vec<u8>>(&uri, MINUTE),
    )
    .await
    .expect("get_json::<Vec<u8>> never returned")
    .unwrap();
    assert_eq!(numbers.as_slice(), [1, 2, 3]);
    let raw = f.s3.get_bytes(&uri, MINUTE).await.unwrap();
    assert_eq!(
        raw.as_slice(),
        b"[1, 2, 3]",
        "the raw bytes are not the decoded ones"
    );
    assert_eq!(f.requests.count(), 1);
}

#[tokio::test]
async fn decoded_json_is_never_older_than_the_max_age_of_its_bytes() {
    #[derive(serde::Deserialize)]
    struct Status {
        status: String,
    }
    let f = fixture().await;
    f.put("age.json", br#"{"status": "green"}"#).await;
    let uri = f.uri("age.json");
    f.s3.get_bytes(&uri, MINUTE).await.unwrap();
    f.clock.advance(Duration::from_secs(59));
    let status = f.s3.get_json::<Status>(&uri, MINUTE).await.unwrap();
    assert_eq!(status.status, "green");
    assert_eq!(f.requests.count(), 1, "the 59 s old bytes are decoded");
    f.put("age.json", br#"{"status": "red"}"#).await;
    f.clock.advance(Duration::from_secs(2));
    let status = f.s3.get_json::<Status>(&uri, MINUTE).await.unwrap();
    assert_eq!(
        status.status, "red",
        "61 s after the bytes were read, they are read again"
    );
    assert_eq!(f.requests.count(), 2);
}

#[tokio::test]
async fn get_many_answers_each_object_in_order_with_one_get_per_miss() {
    let f = fixture().await;
    f.put("many/a.json", b"{\"a\":1}").await;
    f.put("many/b.json", b"{\"b\":2}").await;
    let (a, b, missing) = (
        f.uri("many/a.json"),
        f.uri("many/b.json"),
        f.uri("many/c.json"),
    );
    f.s3.get_entry(&a).await.unwrap();
    let results =
        f.s3.get_many(
            [a.as_str(), b.as_str(), missing.as_str(), "not-a-uri"],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(
        std::fs::read(results[0].as_ref().unwrap().path()).unwrap(),
        b"{\"a\":1}"
    );
    assert_eq!(
        std::fs::read(results[1].as_ref().unwrap().path()).unwrap(),
        b"{\"b\":2}"
    );
    assert_eq!(
        results[2].as_ref().unwrap_err(),
        &Error::NotFound {
            uri: missing.clone()
        }
    );
    assert!(
        matches!(&results[3], Err(Error::InvalidUri { uri, .. }) if uri == "not-a-uri"),
        "{:?}",
        results[3]
    );
    // One GetObject for the first read, then one per miss (b and c); a hit and a bad URI make none.
    assert_eq!(f.requests.count_of("GetObject"), 3);
    f.no_temp_files();
}
