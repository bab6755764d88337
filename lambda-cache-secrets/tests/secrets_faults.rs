//! Secrets Manager failures the emulator cannot produce, served by wiremock on loopback.

use std::time::Duration;

use lambda_cache_core::ManualClock;
use lambda_cache_core::{Cache, CacheError, Policy};
use lambda_cache_secrets::{Error, SecretsCache};
use lambda_cache_testkit::{
    TraceCapture, answer_once_then, aws_json, calls_to_target, sdk_config, secrets_without_describe,
};
use wiremock::{MockServer, ResponseTemplate};

const NAME: &str = "prod/db/password";

async fn primed(then: ResponseTemplate) -> (MockServer, SecretsCache, ManualClock) {
    let server = answer_once_then(
        "secretsmanager.GetSecretValue",
        aws_json(
            200,
            serde_json::json!({
                "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db/password-AbCdEf",
                "Name": NAME, "VersionId": "v-1", "SecretString": "hunter2",
                "VersionStages": ["AWSCURRENT"], "CreatedDate": 1.7e9
            }),
        ),
        then,
    )
    .await;
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config(&server.uri()).await);
    // The GetSecretValue failures below, not DescribeSecret's (a test of its own).
    let secrets = SecretsCache::new(cache, client).with_revalidation(false);
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

#[tokio::test]
async fn a_throttled_batch_serves_each_recent_secret_as_the_whole_policy_allows() {
    // Primed with GetSecretValue; every later call (the BatchGetSecretValue) is throttled.
    let (server, secrets, _clock) = primed(aws_json(
        400,
        serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
    ))
    .await;
    let never_cached = "prod/other";
    let strict = secrets
        .get_many([NAME, never_cached], Duration::from_secs(60))
        .await;
    assert_eq!(
        strict[0].as_ref().unwrap_err(),
        &Error::Throttled {
            secret: format!("{NAME}, {never_cached}")
        }
    );
    assert!(strict[1].is_err());
    let policy = Policy::new(Duration::from_secs(60)).stale_if_error(Duration::from_secs(300));
    let lenient = secrets.get_many([NAME, never_cached], policy).await;
    assert_eq!(lenient[0].as_ref().unwrap().as_str(), Some("hunter2"));
    assert!(
        matches!(&lenient[1], Err(Error::Throttled { .. })),
        "nothing to serve: {:?}",
        lenient[1]
    );
    assert_eq!(secrets.cache().stats().stale_served, 1);
    // One GetSecretValue to prime, then one BatchGetSecretValue per get_many.
    let requests = server.received_requests().await.unwrap();
    let batches = requests
        .iter()
        .filter(|r| {
            r.headers.get("x-amz-target").is_some_and(|t| {
                t.to_str()
                    .unwrap_or_default()
                    .ends_with("BatchGetSecretValue")
            })
        })
        .count();
    assert_eq!((requests.len(), batches), (3, 2));
}

/// A function without `secretsmanager:DescribeSecret`: the first revalidation is refused, the
/// read goes on with GetSecretValue, one warning says so, and later reads ask GetSecretValue
/// only.
#[tokio::test]
async fn a_refused_describe_secret_falls_back_to_get_secret_value_once_with_a_warning() {
    let capture = TraceCapture::default();
    let _subscriber = tracing::subscriber::set_default(capture.clone());
    let server = secrets_without_describe(NAME, "hunter2").await;
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config(&server.uri()).await);
    let secrets = SecretsCache::new(cache, client);
    for _ in 0..3 {
        let read = secrets.get_entry(NAME).await.unwrap();
        assert_eq!(read.as_str(), Some("hunter2"));
        clock.advance(Duration::from_secs(61));
    }
    let calls = |operation: &str| {
        let target = format!("secretsmanager.{operation}");
        let server = &server;
        async move { calls_to_target(server, &target).await }
    };
    assert_eq!(calls("DescribeSecret").await, 1);
    assert_eq!(calls("GetSecretValue").await, 3);
    assert!(!secrets.revalidates());
    assert_eq!(
        capture.text().matches("DescribeSecret was refused").count(),
        1,
        "{}",
        capture.text()
    );
    assert!(!capture.text().contains("hunter2"));
}
