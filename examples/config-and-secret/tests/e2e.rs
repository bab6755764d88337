//! End to end: the built function runs as a child process under a mock of the Lambda Runtime
//! API, its AWS calls going through a counting proxy to the moto server. Five invocations make
//! one GetParameters call for the ten parameters and one GetSecretValue call.

use std::process::Stdio;
use std::time::Duration;

use lambda_cache_testkit::{CountingProxy, RuntimeApi, moto_endpoint, sdk_config, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_invocations_make_one_batched_ssm_call_and_one_secret_call() {
    let config = sdk_config(&moto_endpoint()).await;
    let prefix = format!("/{}/app", unique("e2e"));
    let ssm = aws_sdk_ssm::Client::new(&config);
    for (i, name) in config_and_secret::PARAMETERS.iter().enumerate() {
        let value = match *name {
            "db_host" => "db.internal".to_owned(),
            "db_port" => "5432".to_owned(),
            "db_name" => "orders".to_owned(),
            "log_level" => "info".to_owned(),
            _ => format!("value-{i}"),
        };
        ssm.put_parameter()
            .name(format!("{prefix}/{name}"))
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .unwrap();
    }
    let secret = unique("e2e-db");
    aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(&secret)
        .secret_string(r#"{"username":"app","password":"e2e-s3cr3t"}"#)
        .send()
        .await
        .unwrap();

    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let events = (0..5).map(|i| serde_json::json!({ "order": i })).collect();
    let runtime = RuntimeApi::start(events).await;
    let mut function = tokio::process::Command::new(env!("CARGO_BIN_EXE_config-and-secret"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "config-and-secret")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
        .env("AWS_ENDPOINT_URL", proxy.endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("APP_PREFIX", &prefix)
        .env("APP_DB_SECRET", &secret)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let answers = runtime.wait_for_answers(5, Duration::from_secs(60)).await;
    function.kill().await.unwrap();

    assert_eq!(answers.len(), 5);
    for (i, answer) in answers.iter().enumerate() {
        assert!(!answer.is_error, "invocation {i} failed: {:?}", answer.body);
        assert_eq!(answer.request_id, format!("req-{i}"));
        assert_eq!(answer.body["db"], "app@db.internal:5432/orders");
        assert_eq!(answer.body["password"], "<redacted>");
        assert_eq!(answer.body["log_level"], "info");
        assert_eq!(answer.body["parameters"], 10);
    }
    assert_eq!(
        proxy.count_of(".GetParameters"),
        1,
        "ten parameters, five invocations, one call: {:?}",
        proxy.all()
    );
    assert_eq!(proxy.count_of(".GetSecretValue"), 1, "{:?}", proxy.all());
    assert_eq!(proxy.all().len(), 2, "no other call: {:?}", proxy.all());
}
