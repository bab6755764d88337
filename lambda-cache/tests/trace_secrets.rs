//! Secrets under tracing: with a subscriber recording every span and event of every crate at
//! TRACE (the AWS SDK's own included), every scenario that touches a SecureString or a secret
//! (reads, batches, JSON decodes and their failures, a stale answer after a throttled refresh,
//! declared entries) leaves no value in any recorded field.
//!
//! One test in its own binary: the subscriber is the process's global default.

use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use lambda_cache::entries::Entries;
use lambda_cache::secrets::{self, SecretsCache};
use lambda_cache::ssm::{self, SsmCache};
use lambda_cache::{Cache, ManualClock, Policy, Sensitive};
use lambda_cache_testkit::{
    TraceCapture, answer_once_then, aws_json, create_secret, moto_endpoint, put_parameter,
    sdk_config, unique,
};

/// In every secret value; must never be recorded.
const CANARY: &str = "7f3a-canary-s3cr3t";

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Db {
    user: String,
    password: Sensitive<String>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Port {
    port: u16,
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_any_span_or_event_at_trace() {
    let capture = TraceCapture::default();
    tracing::subscriber::set_global_default(capture.clone()).expect("the only subscriber");

    let config = sdk_config(&moto_endpoint()).await;
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let minute = Duration::from_secs(60);

    // SSM: SecureStrings, alone, in a batch with a String, decoded, and failing to decode.
    let admin = aws_sdk_ssm::Client::new(&config);
    let prefix = format!("/{}", unique("trace"));
    let (password, db, plain) = (
        format!("{prefix}/password"),
        format!("{prefix}/db"),
        format!("{prefix}/host"),
    );
    let db_json = format!(r#"{{"user":"app","password":"{CANARY}"}}"#);
    put_parameter(&admin, &password, ParameterType::SecureString, CANARY).await;
    put_parameter(&admin, &db, ParameterType::SecureString, &db_json).await;
    put_parameter(&admin, &plain, ParameterType::String, "db.local").await;
    let ssm = SsmCache::from_config(cache.clone(), &config);
    ssm.get_entry(password.as_str()).await.unwrap();
    let batch = ssm
        .get_many(
            [password.as_str(), db.as_str(), plain.as_str()],
            Duration::ZERO,
        )
        .await;
    assert!(batch.iter().all(Result::is_ok));
    ssm.get_json::<Db>(db.as_str(), minute).await.unwrap();
    assert!(
        ssm.get_json::<Port>(password.as_str(), minute)
            .await
            .is_err()
    );

    // Secrets Manager: one read, a batch, a decode, a failed decode of a secret that is not JSON.
    let admin = aws_sdk_secretsmanager::Client::new(&config);
    let (raw, json) = (unique("trace/raw"), unique("trace/json"));
    create_secret(&admin, &raw, CANARY).await;
    create_secret(&admin, &json, &db_json).await;
    let secrets = SecretsCache::from_config(cache.clone(), &config);
    secrets.get_entry(raw.as_str()).await.unwrap();
    let batch = secrets
        .get_many([raw.as_str(), json.as_str()], Duration::ZERO)
        .await;
    assert!(batch.iter().all(Result::is_ok));
    secrets.get_json::<Db>(json.as_str(), minute).await.unwrap();
    assert!(
        secrets
            .get_json::<Port>(raw.as_str(), minute)
            .await
            .is_err()
    );

    // Declared entries of both, refreshed as a handler would.
    let entries = Entries::builder()
        .service(ssm.clone())
        .service(secrets.clone())
        .entry(ssm::parameter(password.as_str()).max_age(Duration::ZERO))
        .entry(secrets::secret(raw.as_str()).max_age(Duration::ZERO))
        .build()
        .unwrap();
    entries.refresh().await.unwrap();

    // A secret read once, then a throttled refresh answered with the stale value (the WARN
    // event of stale-if-error).
    let throttled = answer_once_then(
        "secretsmanager.GetSecretValue",
        aws_json(
            200,
            serde_json::json!({"ARN": "arn:aws:secretsmanager:us-east-1:1:secret:s", "Name": "s",
                "VersionId": "v1", "SecretString": CANARY, "VersionStages": ["AWSCURRENT"]}),
        ),
        aws_json(
            400,
            serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
        ),
    )
    .await;
    let flaky = SecretsCache::from_config(cache.clone(), &sdk_config(&throttled.uri()).await);
    flaky.get_entry("s").await.unwrap();
    clock.advance(Duration::from_secs(61));
    let stale = Policy::new(minute).stale_if_error(Duration::from_secs(600));
    flaky.get_entry_with("s", stale).await.unwrap();
    assert_eq!(cache.stats().stale_served, 1);

    // The capture saw the work, at every level, the SDK's own TRACE included: the fetch spans
    // (each single read; batches fill the cache directly), the stale answer's WARN event, and
    // the SDK's spans and events of every call...
    let text = capture.text();
    let ours = capture.count_from("lambda_cache_core");
    assert!(ours >= 5, "{ours} spans and events of lambda-cache");
    assert!(text.contains("stale-if-error"), "no stale-if-error event");
    let sdk = capture.count_from("aws_smithy_runtime");
    assert!(sdk >= 500, "{sdk} spans and events of the SDK's runtime");
    // ...and no value in any of it.
    for part in [CANARY, "canary-s3cr3t", "s3cr3t"] {
        assert!(!text.contains(part), "{part:?} was recorded");
    }
}
