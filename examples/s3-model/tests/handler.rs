//! The example's handler against the emulator: one download, then one 304 per max age.

use std::time::Duration;

use lambda_cache::Cache;
use lambda_cache::s3::S3Cache;
use lambda_cache_core::ManualClock;
use lambda_cache_testkit::{Requests, moto_endpoint, sdk_config, unique};
use lambda_runtime::{Context, LambdaEvent};

#[tokio::test]
async fn the_model_is_downloaded_once_and_revalidated_after_an_hour() {
    let config = sdk_config(&moto_endpoint()).await;
    let requests = Requests::default();
    let client = |interceptor: Option<Requests>| {
        let mut builder = aws_sdk_s3::config::Builder::from(&config).force_path_style(true);
        if let Some(interceptor) = interceptor {
            builder = builder.interceptor(interceptor);
        }
        aws_sdk_s3::Client::from_conf(builder.build())
    };
    let admin = client(None);
    let bucket = unique("models").to_lowercase();
    admin.create_bucket().bucket(&bucket).send().await.unwrap();
    admin
        .put_object()
        .bucket(&bucket)
        .key("models/model.onnx")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"ONNXweights",
        ))
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let s3 = S3Cache::builder(
        Cache::builder().clock(clock.clock()).build().unwrap(),
        client(Some(requests.clone())),
    )
    .directory(dir.path())
    .build();
    let uri = format!("s3://{bucket}/models/model.onnx");
    let entries = s3_model::entries(&uri).service(s3).build().unwrap();
    for _ in 0..3 {
        let cached = entries.refresh().await.unwrap();
        let event = LambdaEvent::new(serde_json::json!({}), Context::default());
        let out = s3_model::handler(event, cached).await.unwrap();
        assert_eq!(out["model_bytes"], 11);
        assert_eq!(out["model_header"], "ONNX");
        clock.advance(Duration::from_secs(600));
    }
    assert_eq!(requests.statuses(), [200]);
    clock.advance(Duration::from_secs(3600));
    entries.refresh().await.unwrap();
    assert_eq!(
        requests.statuses(),
        [200, 304],
        "unchanged: revalidated, not downloaded"
    );
}
