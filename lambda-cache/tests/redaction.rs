//! No secret value reaches `Debug` or `Display` of any public value or error type, including
//! errors produced by real failures against the emulator and by decoding a secret.

use std::time::Duration;

use lambda_cache::secrets::{Error as SecretsError, Secret, SecretValue, SecretsCache};
use lambda_cache::ssm::{Error as SsmError, SsmCache, Value};
use lambda_cache::{Cache, Entry, Instant, LoadError, Sensitive, Validator};
use lambda_cache_testkit::{moto_endpoint, sdk_config, unique};

const CANARY: &str = "CANARY-s3cr3t-7f3a";

fn assert_hidden(label: &str, debug: String, display: Option<String>) {
    assert!(
        !debug.contains(CANARY),
        "{label}: Debug shows the secret: {debug}"
    );
    assert!(
        !debug.contains("s3cr3t"),
        "{label}: Debug shows part of the secret: {debug}"
    );
    if let Some(display) = display {
        assert!(
            !display.contains(CANARY),
            "{label}: Display shows the secret: {display}"
        );
    }
}

macro_rules! check {
    ($value:expr) => {{
        let value = &$value;
        assert_hidden(
            stringify!($value),
            format!("{value:?} {value:#?}"),
            Some(format!("{value}")),
        );
    }};
    ($value:expr, debug only) => {{
        let value = &$value;
        assert_hidden(stringify!($value), format!("{value:?} {value:#?}"), None);
    }};
}

#[test]
fn every_value_type_hides_the_secret() {
    let text = SecretValue::String(Sensitive::new(CANARY.into()));
    let binary = SecretValue::Binary(Sensitive::new(CANARY.as_bytes().to_vec()));
    check!(text, debug only);
    check!(binary, debug only);
    let secret = Secret::new("prod/db", text.clone());
    check!(secret);
    check!(Entry::new(secret.clone(), Instant::default(), Validator::default()), debug only);
    check!(Sensitive::new(CANARY.to_owned()));
    check!(Value::SecureString(Sensitive::new(CANARY.into())), debug only);
}

#[tokio::test]
async fn errors_from_real_failures_hide_the_secret() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Expected {
        port: u16,
    }
    let config = sdk_config(&moto_endpoint()).await;
    let admin_sm = aws_sdk_secretsmanager::Client::new(&config);
    let admin_ssm = aws_sdk_ssm::Client::new(&config);
    let cache = Cache::builder().build().unwrap();

    // A secret whose value is not the JSON the reader expects, in several shapes that make
    // serde quote the input.
    let secrets = SecretsCache::new(cache.clone(), aws_sdk_secretsmanager::Client::new(&config));
    for (i, body) in [
        format!("{{\"port\": \"{CANARY}\"}}"),
        format!("\"{CANARY}\""),
        CANARY.to_owned(),
        format!("{{\"{CANARY}\": 1}}"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = unique(&format!("redact{i}"));
        admin_sm
            .create_secret()
            .name(&name)
            .secret_string(body)
            .send()
            .await
            .unwrap();
        let err: SecretsError = secrets
            .get_json::<Expected>(name.as_str(), Duration::from_secs(60))
            .await
            .unwrap_err();
        check!(err);
        let entry = secrets.get_entry(&name).await.unwrap();
        check!(entry, debug only);
        check!(*entry);
    }

    let ssm = SsmCache::new(cache, aws_sdk_ssm::Client::new(&config));
    let name = format!("/{}/password", unique("redact-ssm"));
    admin_ssm
        .put_parameter()
        .name(&name)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(format!("{{\"port\": \"{CANARY}\"}}"))
        .send()
        .await
        .unwrap();
    let err: SsmError = ssm
        .get_json::<Expected>(&name, Duration::from_secs(60))
        .await
        .unwrap_err();
    check!(err);
    check!(ssm.get_entry(&name).await.unwrap(), debug only);

    let load: LoadError<std::io::Error> = LoadError::new(std::io::Error::other("backend down"));
    check!(load);
    check!(SecretsError::NotFound {
        secret: "prod/db".into()
    });
    check!(SsmError::NotFound {
        names: vec!["/prod/db".into()]
    });
}
