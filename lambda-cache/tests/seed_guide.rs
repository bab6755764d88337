//! Every snippet of the seed user guide (the Python `lambda-cache`), in Rust, against the moto
//! server. Each test is named after the guide's section; where the guide injects values into the
//! handler's `context`, the Rust form reads them from the invocation's `Snapshot` by entry name.

use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use lambda_cache::entries::{Entries, EntriesBuilder};
use lambda_cache::s3::{self, Object, S3Cache};
use lambda_cache::secrets::{self, SecretsCache};
use lambda_cache::ssm::{self, Parameters, SsmCache};
use lambda_cache::{Cache, Policy};
use lambda_cache_core::ManualClock;
use lambda_cache_testkit::{Requests, moto_endpoint, put_parameter, sdk_config, unique};

struct Guide {
    clock: ManualClock,
    ssm: SsmCache,
    ssm_calls: Requests,
    secrets: SecretsCache,
    secret_calls: Requests,
    s3: S3Cache,
    s3_calls: Requests,
    config: aws_config::SdkConfig,
    base: String,
    _dir: tempfile::TempDir,
}

async fn guide() -> Guide {
    let config = sdk_config(&moto_endpoint()).await;
    let clock = ManualClock::new();
    let cache = Cache::builder().clock(clock.clock()).build().unwrap();
    let (ssm_calls, secret_calls, s3_calls) = (
        Requests::default(),
        Requests::default(),
        Requests::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    Guide {
        ssm: SsmCache::new(
            cache.clone(),
            aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(&config)
                    .interceptor(ssm_calls.clone())
                    .build(),
            ),
        ),
        secrets: SecretsCache::new(
            cache.clone(),
            aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(&config)
                    .interceptor(secret_calls.clone())
                    .build(),
            ),
        ),
        s3: S3Cache::builder(
            cache,
            aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config)
                    .force_path_style(true)
                    .interceptor(s3_calls.clone())
                    .build(),
            ),
        )
        .directory(dir.path())
        .build(),
        clock,
        ssm_calls,
        secret_calls,
        s3_calls,
        base: format!("/{}", unique("guide")),
        config,
        _dir: dir,
    }
}

impl Guide {
    fn entries(&self) -> EntriesBuilder {
        Entries::builder()
            .service(self.ssm.clone())
            .service(self.secrets.clone())
            .service(self.s3.clone())
    }

    /// `/production/app/var` of the guide, under this test's own prefix.
    fn name(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn parameter(&self, path: &str, kind: ParameterType, value: &str) -> String {
        let name = self.name(path);
        put_parameter(&aws_sdk_ssm::Client::new(&self.config), &name, kind, value).await;
        name
    }

    async fn secret(&self, path: &str, value: &str) -> String {
        let name = self.name(path);
        aws_sdk_secretsmanager::Client::new(&self.config)
            .create_secret()
            .name(&name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
        name
    }
}

// ---- SSM - Parameter Store

#[tokio::test]
async fn ssm_cache_single_parameter() {
    // @ssm.cache(parameter='/production/app/var') ... getattr(context, 'var')
    let g = guide().await;
    let name = g
        .parameter("/production/app/var", ParameterType::String, "v")
        .await;
    let entries = g.entries().entry(ssm::parameter(&name)).build().unwrap();
    for _ in 0..3 {
        let context = entries.refresh().await.unwrap();
        assert_eq!(
            context.get::<ssm::Value>("var").unwrap().as_str(),
            Some("v")
        );
        g.clock.advance(Duration::from_secs(19));
    }
    assert_eq!(
        g.ssm_calls.count(),
        1,
        "one minute of invocations, one call"
    );
    g.clock.advance(Duration::from_secs(3));
    entries.refresh().await.unwrap();
    assert_eq!(g.ssm_calls.count(), 2, "after a minute, refreshed");
}

#[tokio::test]
async fn ssm_change_cache_expiry() {
    // @ssm.cache(parameter='/production/app/var', max_age_in_seconds=300)
    let g = guide().await;
    let name = g
        .parameter("/production/app/var", ParameterType::String, "v")
        .await;
    let entries = g
        .entries()
        .entry(ssm::parameter(&name).max_age(Duration::from_secs(300)))
        .build()
        .unwrap();
    entries.refresh().await.unwrap();
    g.clock.advance(Duration::from_secs(299));
    entries.refresh().await.unwrap();
    assert_eq!(g.ssm_calls.count(), 1);
    g.clock.advance(Duration::from_secs(1));
    entries.refresh().await.unwrap();
    assert_eq!(g.ssm_calls.count(), 2);
}

#[tokio::test]
async fn ssm_change_cache_entry_settings() {
    // @ssm.cache(parameter='/production/app/var', entry_name='new_var')
    let g = guide().await;
    let name = g
        .parameter("/production/app/var", ParameterType::String, "v")
        .await;
    let entries = g
        .entries()
        .entry(ssm::parameter(&name).entry_name("new_var"))
        .build()
        .unwrap();
    let context = entries.refresh().await.unwrap();
    assert_eq!(
        context.get::<ssm::Value>("new_var").unwrap().as_str(),
        Some("v")
    );
    assert!(
        context.get::<ssm::Value>("var").is_err(),
        "renamed, not aliased"
    );
    // `/production/app/var` and `test/app/var` both default to `var`.
    assert_eq!(
        ssm::short_name("/production/app/var"),
        ssm::short_name("test/app/var")
    );
}

#[tokio::test]
async fn ssm_cache_multiple_parameters() {
    // @ssm.cache(parameter=['/app/var1', '/app/var2'], entry_name='parameters')
    let g = guide().await;
    let var1 = g.parameter("/app/var1", ParameterType::String, "one").await;
    let var2 = g
        .parameter("/app/var2", ParameterType::SecureString, "two")
        .await;
    let list = Parameters::builder([var1.clone(), var2.clone()])
        .entry_name("parameters")
        .build()
        .unwrap();
    let entries = g
        .entries()
        .entry(ssm::parameters(list).policy(Policy::default()))
        .build()
        .unwrap();
    let context = entries.refresh().await.unwrap();
    let parameters = context.get::<ssm::ParameterMap>("parameters").unwrap();
    assert_eq!(parameters.get("var1").and_then(|v| v.as_str()), Some("one"));
    assert_eq!(parameters.get("var2").and_then(|v| v.as_str()), Some("two"));
    assert_eq!(g.ssm_calls.count(), 1, "one network call for the list");
    // Without entry_name: the guide's NoEntryNameError, at declaration.
    let err = Parameters::builder([var1, var2]).build().unwrap_err();
    assert!(matches!(err, ssm::Error::NoEntryName { .. }));
}

#[tokio::test]
async fn ssm_decorator_stacking() {
    // @ssm.cache(parameter='/production/app/var1', max_age_in_seconds=30)
    // @ssm.cache(parameter='/production/app/var2', max_age_in_seconds=60)
    // The guide: one API call per decorator. Here: one call for both, and one per expiry.
    let g = guide().await;
    let var1 = g
        .parameter("/production/app/var1", ParameterType::String, "1")
        .await;
    let var2 = g
        .parameter("/production/app/var2", ParameterType::String, "2")
        .await;
    let entries = g
        .entries()
        .entry(ssm::parameter(&var1).max_age(Duration::from_secs(30)))
        .entry(ssm::parameter(&var2).max_age(Duration::from_secs(60)))
        .build()
        .unwrap();
    let context = entries.refresh().await.unwrap();
    assert_eq!(
        context.get::<ssm::Value>("var1").unwrap().as_str(),
        Some("1")
    );
    assert_eq!(
        context.get::<ssm::Value>("var2").unwrap().as_str(),
        Some("2")
    );
    assert_eq!(g.ssm_calls.count(), 1);
    g.clock.advance(Duration::from_secs(30));
    entries.refresh().await.unwrap(); // var1 is stale, var2 is not
    assert_eq!(g.ssm_calls.count(), 2);
    g.clock.advance(Duration::from_secs(30));
    entries.refresh().await.unwrap(); // both stale: one call
    assert_eq!(g.ssm_calls.count(), 3);
}

#[tokio::test]
async fn ssm_cache_invalidation() {
    // var = ssm.get_entry(parameter='/prod/var', max_age_in_seconds=0)
    let g = guide().await;
    let name = g.parameter("/prod/var", ParameterType::String, "old").await;
    let entries = g.entries().entry(ssm::parameter(&name)).build().unwrap();
    entries.refresh().await.unwrap();
    g.parameter("/prod/var", ParameterType::String, "new").await;
    let var = g.ssm.get_entry_with(&name, Duration::ZERO).await.unwrap();
    assert_eq!(var.as_str(), Some("new"));
    assert_eq!(g.ssm_calls.count(), 2);
    // Once in the lifetime of the function: a very large max age.
    g.ssm
        .get_entry_with(&name, Duration::from_secs(36_000))
        .await
        .unwrap();
    assert_eq!(g.ssm_calls.count(), 2);
}

#[tokio::test]
async fn ssm_return_values() {
    // String and SecureString as text (decrypted), StringList as a list.
    let g = guide().await;
    let s = g
        .parameter("/types/string", ParameterType::String, "plain")
        .await;
    let secure = g
        .parameter("/types/secure", ParameterType::SecureString, "decrypted")
        .await;
    let list = g
        .parameter("/types/list", ParameterType::StringList, "a,b")
        .await;
    let entries = g
        .entries()
        .entry(ssm::parameter(&s))
        .entry(ssm::parameter(&secure))
        .entry(ssm::parameter(&list))
        .build()
        .unwrap();
    let context = entries.refresh().await.unwrap();
    assert_eq!(
        context.get::<ssm::Value>("string").unwrap().as_str(),
        Some("plain")
    );
    assert_eq!(
        context.get::<ssm::Value>("secure").unwrap().as_str(),
        Some("decrypted")
    );
    assert_eq!(
        context
            .get::<ssm::Value>("list")
            .unwrap()
            .as_list()
            .unwrap(),
        ["a", "b"]
    );
}

// ---- Secrets Manager

#[tokio::test]
async fn secrets_cache_single_secret_with_expiry_and_entry_settings() {
    // @secrets.cache(name='/prod/db/conn_string')                      -> conn_string
    // @secrets.cache(name='/prod/db/conn_string', max_age_in_seconds=300)
    // @secrets.cache(name='/prod/db/conn_string', entry_name='new_var') -> new_var
    let g = guide().await;
    let name = g.secret("/prod/db/conn_string", "postgres://db").await;
    let entries = g
        .entries()
        .entry(secrets::secret(name.as_str()).max_age(Duration::from_secs(300)))
        .entry(
            secrets::secret(name.as_str())
                .entry_name("new_var")
                .max_age(Duration::from_secs(300)),
        )
        .build()
        .unwrap();
    let context = entries.refresh().await.unwrap();
    assert_eq!(
        context
            .get::<secrets::Secret>("conn_string")
            .unwrap()
            .as_str(),
        Some("postgres://db")
    );
    assert_eq!(
        context.get::<secrets::Secret>("new_var").unwrap().as_str(),
        Some("postgres://db")
    );
    assert_eq!(g.secret_calls.count(), 1, "one secret, one key, one call");
    g.clock.advance(Duration::from_secs(299));
    entries.refresh().await.unwrap();
    assert_eq!(g.secret_calls.count(), 1);
}

#[tokio::test]
async fn secrets_decorator_stacking() {
    // @secrets.cache(name='/prod/db/conn_string', max_age_in_seconds=30)
    // @secrets.cache(name='/prod/app/elk_username_password', max_age_in_seconds=60)
    let g = guide().await;
    let conn = g.secret("/prod/db/conn_string", "c").await;
    let elk = g.secret("/prod/app/elk_username_password", "e").await;
    let entries = g
        .entries()
        .entry(secrets::secret(conn.as_str()).max_age(Duration::from_secs(30)))
        .entry(secrets::secret(elk.as_str()).max_age(Duration::from_secs(60)))
        .build()
        .unwrap();
    let context = entries.refresh().await.unwrap();
    assert_eq!(
        context
            .get::<secrets::Secret>("conn_string")
            .unwrap()
            .as_str(),
        Some("c")
    );
    assert_eq!(
        context
            .get::<secrets::Secret>("elk_username_password")
            .unwrap()
            .as_str(),
        Some("e")
    );
    g.clock.advance(Duration::from_secs(30));
    entries.refresh().await.unwrap();
    assert_eq!(
        g.secret_calls.count(),
        3,
        "two, then only the 30-second one"
    );
    // Several current secrets in one call: `get_many` (BatchGetSecretValue).
    g.clock.advance(Duration::from_secs(60));
    let all = g
        .secrets
        .get_many([conn.as_str(), elk.as_str()], Duration::from_secs(60))
        .await;
    assert!(all.iter().all(Result::is_ok));
    assert_eq!(g.secret_calls.count_of("BatchGetSecretValue"), 1);
}

#[tokio::test]
async fn secrets_cache_invalidation_on_authentication_failure() {
    // except AuthenticationError: secrets.get_entry(name=..., max_age_in_seconds=0)
    let g = guide().await;
    let name = g.secret("/prod/db/conn_string", "old-password").await;
    let cached = g.secrets.get_entry(&name).await.unwrap();
    aws_sdk_secretsmanager::Client::new(&g.config)
        .put_secret_value()
        .secret_id(&name)
        .secret_string("rotated-password")
        .send()
        .await
        .unwrap();
    let connect = |password: &str| {
        if password == "rotated-password" {
            Ok(())
        } else {
            Err("auth")
        }
    };
    let outcome = match connect(cached.as_str().unwrap()) {
        Ok(()) => Ok(()),
        Err(_) => {
            let fresh = g
                .secrets
                .get_entry_with(name.as_str(), Duration::ZERO)
                .await
                .unwrap();
            connect(fresh.as_str().unwrap())
        }
    };
    assert_eq!(outcome, Ok(()));
    // The forced read asks DescribeSecret first: the stage moved, so the new version is read.
    assert_eq!(g.secret_calls.count_of("GetSecretValue"), 2);
    assert_eq!(g.secret_calls.count_of("DescribeSecret"), 1);
}

#[tokio::test]
async fn secrets_return_values_string_and_binary() {
    let g = guide().await;
    let text = g.secret("/prod/text", "as stored").await;
    let binary = g.name("/prod/binary");
    aws_sdk_secretsmanager::Client::new(&g.config)
        .create_secret()
        .name(&binary)
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(vec![
            0, 255, 7,
        ]))
        .send()
        .await
        .unwrap();
    let entries = g
        .entries()
        .entry(secrets::secret(text.as_str()))
        .entry(secrets::secret(binary.as_str()))
        .build()
        .unwrap();
    let context = entries.refresh().await.unwrap();
    assert_eq!(
        context.get::<secrets::Secret>("text").unwrap().as_str(),
        Some("as stored")
    );
    assert_eq!(
        context.get::<secrets::Secret>("binary").unwrap().as_bytes(),
        [0, 255, 7]
    );
}

// ---- S3

#[tokio::test]
async fn s3_cache_a_single_file_change_expiry_and_check_before_download() {
    // @s3.cache(s3Uri='s3://bucket_name/path/to/object.json') -> /tmp/object.json
    // @s3.cache(..., max_age_in_seconds=300)
    // @s3.cache(..., max_age_in_seconds=300, check_before_download=True)
    let g = guide().await;
    let admin = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&g.config)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("guide").to_lowercase();
    admin.create_bucket().bucket(&bucket).send().await.unwrap();
    admin
        .put_object()
        .bucket(&bucket)
        .key("path/to/object.json")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            br#"{"status": "ok"}"#,
        ))
        .send()
        .await
        .unwrap();
    let uri = format!("s3://{bucket}/path/to/object.json");
    let entries = g
        .entries()
        .entry(s3::file(&uri).max_age(Duration::from_secs(300)))
        .build()
        .unwrap();
    let context = entries.refresh().await.unwrap();
    let file = context.get::<s3::LocalFile>("object.json").unwrap();
    assert_eq!(file.path(), g.s3.directory().join("object.json"));
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap();
    assert_eq!(status["status"], "ok");
    g.clock.advance(Duration::from_secs(300));
    entries.refresh().await.unwrap();
    assert_eq!(
        g.s3_calls.statuses(),
        [200, 304],
        "checked before download: not downloaded again"
    );
    // check_before_download=False: every refresh downloads.
    g.clock.advance(Duration::from_secs(300));
    g.s3.get_entry_with(
        Object::new(&uri).check_before_download(false),
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    assert_eq!(g.s3_calls.statuses(), [200, 304, 200]);
}
