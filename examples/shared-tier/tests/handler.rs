//! Three environments of the example on one real Redis, against moto: one SSM call.

use lambda_cache::ssm::SsmCache;
use lambda_cache_testkit::{
    RedisServer, Requests, moto_endpoint, put_parameter, sdk_config, unique,
};
use lambda_runtime::{Context, LambdaEvent};

#[tokio::test]
async fn three_environments_on_one_tier_read_ssm_once() {
    let server = RedisServer::start();
    let config = sdk_config(&moto_endpoint()).await;
    let name = format!("/{}/app/var", unique("tier-example"));
    let ssm = aws_sdk_ssm::Client::new(&config);
    put_parameter(
        &ssm,
        &name,
        aws_sdk_ssm::types::ParameterType::String,
        "hello",
    )
    .await;
    let requests = Requests::default();
    let client = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&config)
            .interceptor(requests.clone())
            .build(),
    );
    let url = server.url();
    for _ in 0..3 {
        let ssm = SsmCache::new(shared_tier::cache(Some(&url)).unwrap(), client.clone());
        let event = LambdaEvent::new(serde_json::json!({}), Context::default());
        let out = shared_tier::handler(event, &ssm, &name).await.unwrap();
        assert_eq!(out["value"], "hello");
    }
    assert_eq!(requests.count(), 1);
}

#[test]
fn a_bad_url_is_refused_without_its_password() {
    let err = shared_tier::cache(Some("http://user:hunter2@cache:6379")).unwrap_err();
    assert!(err.to_string().contains("shared tier URL"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
