//! A 64 MiB object streams to disk with flat memory: the process's peak resident memory grows
//! far less than the object's size. Measured with Linux's peak-RSS counter (VmHWM), reset just
//! before the download. The figure is printed for the record.

use std::io::Write;

use aws_sdk_s3::primitives::ByteStream;
use lambda_cache_core::Cache;
use lambda_cache_s3::S3Cache;
use lambda_cache_testkit::{moto_endpoint, sdk_config, unique};

const SIZE: usize = 64 << 20;
/// A quarter of the object: far below its size, far above the SDK's buffers.
const MAX_GROWTH: u64 = 16 << 20;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} not in /proc/self/status"))
}

/// Sets the peak-RSS counter back to the current RSS (Linux `clear_refs`, value 5).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting VmHWM needs Linux");
}

#[tokio::test(flavor = "current_thread")]
#[allow(clippy::print_stdout)] // the figure, for the record
async fn a_64_mib_object_downloads_with_flat_memory() {
    let config = sdk_config(&moto_endpoint()).await;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            // 64 MiB through a Python emulator in a debug build: a safety limit, not a measure.
            .timeout_config(
                aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(std::time::Duration::from_secs(300))
                    .build(),
            )
            .build(),
    );
    let bucket = unique("large").to_lowercase();
    client.create_bucket().bucket(&bucket).send().await.unwrap();

    // Write the object to a file in 1 MiB chunks and upload it from there, so that this
    // process never holds it in memory.
    let scratch = tempfile::tempdir().unwrap();
    let source = scratch.path().join("source.bin");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&source).unwrap());
        let chunk: Vec<u8> = (0..(1 << 20))
            .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        for _ in 0..SIZE / chunk.len() {
            out.write_all(&chunk).unwrap();
        }
    }
    client
        .put_object()
        .bucket(&bucket)
        .key("model.bin")
        .body(ByteStream::from_path(&source).await.unwrap())
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Cache::builder(Cache::builder().build().unwrap(), client)
        .directory(dir.path())
        .disk_budget(128 << 20)
        .build();
    reset_peak();
    let before = status_kib("VmRSS:");
    let file = s3
        .get_entry(&format!("s3://{bucket}/model.bin"))
        .await
        .unwrap();
    let peak = status_kib("VmHWM:");
    let growth = (peak.saturating_sub(before)) * 1024;
    println!(
        "s3_large: 64 MiB download, peak RSS growth {} KiB ({:.1}% of the object)",
        growth / 1024,
        growth as f64 * 100.0 / SIZE as f64
    );
    assert_eq!(file.size(), SIZE as u64);
    assert!(
        growth < MAX_GROWTH,
        "peak memory grew {growth} bytes for a {SIZE}-byte object"
    );
    // The file is the object, byte for byte.
    let (a, b) = (
        std::fs::read(&source).unwrap(),
        std::fs::read(file.path()).unwrap(),
    );
    assert!(a == b, "downloaded file differs from the object");
}
