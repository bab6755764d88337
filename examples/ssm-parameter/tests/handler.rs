//! The example's handler against the emulator: one SSM call per max age.

use std::time::Duration;

use lambda_cache::Cache;
use lambda_cache::ssm::SsmCache;
use lambda_cache_core::ManualClock;
use lambda_cache_testkit::{Requests, moto_endpoint, sdk_config, unique};
use lambda_runtime::{Context, LambdaEvent};

#[tokio::test]
async fn the_parameter_is_read_once_per_max_age() {
    let config = sdk_config(&moto_endpoint()).await;
    let name = format!("/{}/app/var", unique("example"));
    aws_sdk_ssm::Client::new(&config)
        .put_parameter()
        .name(&name)
        .value("hello")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let requests = Requests::default();
    let clock = ManualClock::new();
    let ssm = SsmCache::new(
        Cache::builder().clock(clock.clock()).build().unwrap(),
        aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&config)
                .interceptor(requests.clone())
                .build(),
        ),
    );
    let entries = ssm_parameter::entries(&name).service(ssm).build().unwrap();
    for _ in 0..3 {
        let cached = entries.refresh().await.unwrap();
        let event = LambdaEvent::new(serde_json::json!({}), Context::default());
        let out = ssm_parameter::handler(event, cached).await.unwrap();
        assert_eq!(out["var"], "hello");
        clock.advance(Duration::from_secs(20));
    }
    assert_eq!(requests.count(), 1);
    let cached = entries.refresh().await.unwrap(); // 60 s after the first read
    assert_eq!(
        cached
            .get::<lambda_cache::ssm::Value>("var")
            .unwrap()
            .as_str(),
        Some("hello")
    );
    assert_eq!(requests.count(), 2);
}
