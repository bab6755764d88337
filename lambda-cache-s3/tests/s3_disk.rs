//! The local disk failing under a download, against the moto server: a full disk (this test
//! process's file size limit, RLIMIT_FSIZE, set with util-linux `prlimit`: writes past it fail
//! with EFBIG as on a full filesystem) and a directory where no file can be created. Each is a
//! typed error naming the path, the previous file stays byte-for-byte intact, no temporary file
//! is left, and the next read after the fault recovers.
//!
//! One test in its own binary: the file size limit holds for the whole process.

use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use lambda_cache_core::{Cache, CacheError, ManualClock, Policy};
use lambda_cache_s3::{Error, S3Cache};
use lambda_cache_testkit::{Requests, files_in, moto_endpoint, sdk_config, unique};
use tokio::signal::unix::{SignalKind, signal};

/// Linux's SIGXFSZ, raised by a write past the file size limit (ignored here, as a server
/// would, so that the write fails with EFBIG instead of ending the process).
const SIGXFSZ: i32 = 25;

/// Sets this process's file size limit (soft; the hard limit stays unlimited).
fn limit_file_size(bytes: Option<u64>) {
    let soft = bytes.map_or("unlimited".to_owned(), |b| b.to_string());
    let status = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--fsize={soft}:unlimited"))
        .status()
        .expect("util-linux prlimit runs (apt-get install util-linux)");
    assert!(status.success(), "prlimit failed: {status}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_disk_and_a_read_only_directory_are_typed_errors_that_lose_nothing() {
    let _ignored = signal(SignalKind::from_raw(SIGXFSZ)).expect("a SIGXFSZ handler");
    let config = sdk_config(&moto_endpoint()).await;
    let requests = Requests::default();
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .interceptor(requests.clone())
            .build(),
    );
    let bucket = unique("disk").to_lowercase();
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let put = |body: Vec<u8>| {
        let (client, bucket) = (client.clone(), bucket.clone());
        async move {
            client
                .put_object()
                .bucket(&bucket)
                .key("model.bin")
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap();
        }
    };
    let v1 = vec![1_u8; 4096];
    put(v1.clone()).await;
    let clock = ManualClock::new();
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let s3 = S3Cache::builder(cache.clone(), client.clone())
        .directory(dir.path())
        .disk_budget(16 << 20)
        .build();
    let uri = format!("s3://{bucket}/model.bin");
    let path = s3.get_entry(uri.as_str()).await.unwrap().path().to_owned();
    assert_eq!(std::fs::read(&path).unwrap(), v1);

    // The disk fills during the next download: 64 KiB may be written, the object is 1 MiB.
    put(vec![2_u8; 1 << 20]).await;
    clock.advance(Duration::from_secs(61));
    limit_file_size(Some(64 << 10));
    let no_stale = Policy::new(Duration::from_secs(60)).no_stale();
    let full = s3.get_entry_with(uri.as_str(), no_stale).await;
    limit_file_size(None);
    let err = full.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Io { .. }), "{message}");
    assert!(err.is_transient(), "a full disk may clear: {message}");
    assert!(message.contains(&uri), "{message}");
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("File too large"), "{message}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        v1,
        "the previous file is intact"
    );
    assert_eq!(
        files_in(dir.path()),
        ["model.bin"],
        "no temporary file left"
    );

    // With stale-if-error the previous file is served meanwhile; then the disk has room again
    // and the next read downloads the object.
    let stale_ok = Policy::new(Duration::from_secs(60)).stale_if_error(Duration::from_secs(600));
    limit_file_size(Some(64 << 10));
    let stale = s3.get_entry_with(uri.as_str(), stale_ok).await;
    limit_file_size(None);
    assert_eq!(std::fs::read(stale.unwrap().path()).unwrap(), v1);
    assert_eq!(cache.stats().stale_served, 1);
    let fresh = s3.get_entry_with(uri.as_str(), stale_ok).await.unwrap();
    assert_eq!(std::fs::read(fresh.path()).unwrap(), vec![2_u8; 1 << 20]);
    assert_eq!(files_in(dir.path()), ["model.bin"]);
    // One download of v1, two cut by the disk, one of v2: each one GetObject.
    assert_eq!(
        requests
            .all()
            .iter()
            .filter(|r| r.starts_with("GET ") && r.contains("model.bin"))
            .count(),
        4,
        "{:?}",
        requests.all()
    );

    // A directory where no file can be created, whoever runs the test (permission bits do not
    // stop root; procfs refuses new files to everyone): a typed error at first use naming it.
    let read_only = S3Cache::builder(Cache::builder().build().unwrap(), client)
        .directory("/proc")
        .build();
    let err = read_only.get_entry(uri.as_str()).await.unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, Error::Io { ref path, .. } if path == std::path::Path::new("/proc")),
        "{message}"
    );
    assert!(message.contains("/proc"), "{message}");
    assert!(message.contains(&uri), "{message}");
}
