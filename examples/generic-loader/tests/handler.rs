//! The example's loader against the emulator's STS: one call per max age.

use std::time::Duration;

use lambda_cache::Cache;
use lambda_cache_core::ManualClock;
use lambda_cache_testkit::{Requests, moto_endpoint, sdk_config};
use lambda_runtime::{Context, LambdaEvent};

#[tokio::test]
async fn the_loader_runs_once_per_max_age() {
    let config = sdk_config(&moto_endpoint()).await;
    let requests = Requests::default();
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&config)
            .interceptor(requests.clone())
            .build(),
    );
    let clock = ManualClock::new();
    let entries = generic_loader::entries(sts)
        .cache(Cache::builder().clock(clock.clock()).build().unwrap())
        .build()
        .unwrap();
    for _ in 0..4 {
        let cached = entries.refresh().await.unwrap();
        let event = LambdaEvent::new(serde_json::json!({}), Context::default());
        let out = generic_loader::handler(event, cached).await.unwrap();
        assert_eq!(out["account"].as_str().map(str::len), Some(12), "{out}");
        clock.advance(Duration::from_secs(900));
    }
    assert_eq!(requests.count(), 1);
    entries.refresh().await.unwrap(); // an hour after the first load
    assert_eq!(requests.count(), 2);
}
