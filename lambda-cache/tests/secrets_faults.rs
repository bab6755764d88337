//! Secrets Manager failures the emulator cannot produce, served by wiremock on loopback.

use std::time::Duration;

use lambda_cache::secrets_manager::{Error, SecretsCache};
use lambda_cache::{Cache, CacheError, Policy};
use lambda_cache_core::ManualClock;
use lambda_cache_testkit::{aws_json, sdk_config};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const NAME: &str = "prod/db/password";

async fn primed(then: ResponseTemplate) -> (MockServer, SecretsCache, ManualClock) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(aws_json(
            200,
            serde_json::json!({
                "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db/password-AbCdEf",
                "Name": NAME, "VersionId": "v-1", "SecretString": "hunter2",
                "VersionStages": ["AWSCURRENT"], "CreatedDate": 1.7e9
            }),
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(then)
        .with_priority(2)
        .mount(&server)
        .await;
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config(&server.uri()).await);
    let secrets = SecretsCache::new(cache, client);
    assert_eq!(
        secrets.get_entry(NAME).await.unwrap().as_str(),
        Some("hunter2")
    );
    clock.advance(Duration::from_secs(61));
    (server, secrets, clock)
}

#[tokio::test]
async fn throttling_serves_a_recent_secret_when_allowed_and_errors_otherwise() {
    let (server, secrets, _clock) = primed(aws_json(
        400,
        serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
    ))
    .await;
    let err = secrets.get_entry(NAME).await.unwrap_err();
    assert_eq!(
        err,
        Error::Throttled {
            secret: NAME.into()
        }
    );
    assert!(err.is_transient());
    let policy = Policy::new(Duration::from_secs(60)).stale_if_error(Duration::from_secs(300));
    let stale = secrets.get_entry_with(NAME, policy).await.unwrap();
    assert_eq!(stale.as_str(), Some("hunter2"));
    assert_eq!(secrets.cache().stats().stale_served, 1);
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_decryption_failure_is_permanent_and_keeps_the_cache() {
    let (_server, secrets, _clock) = primed(aws_json(
        400,
        serde_json::json!({"__type": "DecryptionFailure", "message": "KMS key disabled"}),
    ))
    .await;
    let policy = Policy::new(Duration::from_secs(60)).stale_if_error(Duration::from_secs(300));
    let err = secrets.get_entry_with(NAME, policy).await.unwrap_err();
    assert!(
        matches!(&err, Error::Decryption { secret, .. } if secret == NAME),
        "{err:?}"
    );
    assert!(!err.is_transient());
    let old = secrets
        .get_entry_with(NAME, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(old.as_str(), Some("hunter2"));
}
