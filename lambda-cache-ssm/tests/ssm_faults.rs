//! SSM answers the emulator cannot produce, served by wiremock on loopback: throttling, 5xx,
//! a malformed body, a slow answer (each leaves the cache intact and comes back typed), and a
//! parameter shared from another account, read by its ARN.

use std::time::Duration;

use lambda_cache_core::ManualClock;
use lambda_cache_core::{Cache, CacheError, Policy};
use lambda_cache_ssm::{Error, Kind, SsmCache};
use lambda_cache_testkit::{answer_once_then, aws_json, sdk_config};
use wiremock::matchers::{body_partial_json, header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const NAME: &str = "/app/db/host";

fn parameters_body(value: &str) -> serde_json::Value {
    serde_json::json!({
        "Parameters": [{
            "Name": NAME, "Type": "String", "Value": value, "Version": 1,
            "ARN": "arn:aws:ssm:us-east-1:123456789012:parameter/app/db/host", "DataType": "text"
        }],
        "InvalidParameters": []
    })
}

/// A cache whose first fetch of NAME succeeds with "db-1"; later requests get `then`.
async fn primed(then: ResponseTemplate) -> (MockServer, SsmCache, ManualClock) {
    let server = answer_once_then(
        "AmazonSSM.GetParameters",
        aws_json(200, parameters_body("db-1")),
        then,
    )
    .await;
    let mut config = aws_sdk_ssm::config::Builder::from(&sdk_config(&server.uri()).await);
    config.set_timeout_config(Some(
        aws_sdk_ssm::config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(Duration::from_millis(300))
            .build(),
    ));
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let ssm = SsmCache::new(cache, aws_sdk_ssm::Client::from_conf(config.build()));
    assert_eq!(ssm.get_entry(NAME).await.unwrap().as_str(), Some("db-1"));
    clock.advance(Duration::from_secs(61));
    (server, ssm, clock)
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

/// The previous value is still cached: a reader accepting older values gets it with no call.
async fn assert_intact(server: &MockServer, ssm: &SsmCache) {
    let before = requests(server).await;
    let old = ssm
        .get_entry_with(NAME, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(old.as_str(), Some("db-1"));
    assert_eq!(requests(server).await, before);
}

fn throttled() -> ResponseTemplate {
    aws_json(
        400,
        serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
    )
}

#[tokio::test]
async fn throttling_with_a_fresh_enough_stale_value_serves_it() {
    let (server, ssm, _clock) = primed(throttled()).await;
    let policy = Policy::new(Duration::from_secs(60)).stale_if_error(Duration::from_secs(300));
    let served = ssm.get_entry_with(NAME, policy).await.unwrap();
    assert_eq!(served.as_str(), Some("db-1"));
    assert_eq!(ssm.cache().stats().stale_served, 1);
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn throttling_beyond_max_stale_is_a_transient_typed_error() {
    let (server, ssm, clock) = primed(throttled()).await;
    clock.advance(Duration::from_secs(600));
    let policy = Policy::new(Duration::from_secs(60)).stale_if_error(Duration::from_secs(300));
    let err = ssm.get_entry_with(NAME, policy).await.unwrap_err();
    assert_eq!(err, Error::Throttled { names: NAME.into() });
    assert!(err.is_transient());
    assert_intact(&server, &ssm).await;
}

#[tokio::test]
async fn a_server_error_is_typed_transient_and_keeps_the_cache() {
    let (server, ssm, _clock) = primed(aws_json(
        500,
        serde_json::json!({"__type": "InternalServerError", "message": "boom"}),
    ))
    .await;
    let err = ssm.get_entry(NAME).await.unwrap_err();
    assert!(
        matches!(&err, Error::Service { names, failure } if names == NAME && failure.status == Some(500) && failure.kind == Kind::Unavailable),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_intact(&server, &ssm).await;
}

#[tokio::test]
async fn access_denied_is_permanent() {
    let (server, ssm, _clock) = primed(aws_json(
        400,
        serde_json::json!({"__type": "AccessDeniedException", "message": "not allowed"}),
    ))
    .await;
    let policy = Policy::default().stale_if_error(Duration::from_secs(3600));
    let err = ssm.get_entry_with(NAME, policy).await.unwrap_err();
    assert!(matches!(err, Error::AccessDenied { .. }), "{err:?}");
    assert!(
        !err.is_transient(),
        "stale-if-error does not hide a permanent error"
    );
    assert_intact(&server, &ssm).await;
}

#[tokio::test]
async fn a_malformed_body_is_a_typed_error_and_keeps_the_cache() {
    let (server, ssm, _clock) = primed(
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/x-amz-json-1.1")
            .set_body_string("{\"Parameters\": [ this is not json"),
    )
    .await;
    let err = ssm.get_entry(NAME).await.unwrap_err();
    assert!(
        matches!(&err, Error::Transport { names, .. } if names == NAME),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_intact(&server, &ssm).await;
}

#[tokio::test]
async fn a_slow_answer_times_out_as_a_typed_error_and_keeps_the_cache() {
    let (server, ssm, _clock) =
        primed(aws_json(200, parameters_body("db-2")).set_delay(Duration::from_secs(5))).await;
    let err = ssm.get_entry(NAME).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains(NAME));
    assert_intact(&server, &ssm).await;
}

/// A parameter shared from another account can only be read by its ARN; SSM answers with the
/// ARN as the name. Both answer forms match the request, and the entry is cached under the ARN.
#[tokio::test]
async fn a_parameter_shared_from_another_account_is_read_by_arn() {
    const ARN: &str = "arn:aws:ssm:us-east-1:444455556666:parameter/shared/db/host";
    for answered_name in [ARN, "/shared/db/host"] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(header("x-amz-target", "AmazonSSM.GetParameters"))
            .and(body_partial_json(serde_json::json!({"Names": [ARN]})))
            .respond_with(aws_json(
                200,
                serde_json::json!({
                    "Parameters": [{
                        "Name": answered_name, "Type": "String", "Value": "shared-db",
                        "Version": 4, "ARN": ARN, "DataType": "text"
                    }],
                    "InvalidParameters": []
                }),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let config = sdk_config(&server.uri()).await;
        let ssm = SsmCache::new(
            Cache::builder().build().unwrap(),
            aws_sdk_ssm::Client::new(&config),
        );
        for _ in 0..3 {
            let entry = ssm.get_entry(ARN).await.unwrap();
            assert_eq!(
                entry.as_str(),
                Some("shared-db"),
                "answered as {answered_name}"
            );
        }
        assert_eq!(requests(&server).await, 1, "answered as {answered_name}");
    }
}
