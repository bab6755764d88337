//! The extension's demo: the built binary under a mock Extensions API, against the moto
//! server (and the testkit's fake AppConfigData, which moto lacks), read by a Python function
//! (`examples/function.py`, standard library only). A feature flag is flipped in AppConfig
//! between invocations. Then a function with plain boto3 calls, unchanged, reads the same
//! values through the extension's SDK endpoint (`examples/boto3_function.py`).
//!
//! Run by `cargo xtask demo`, which starts moto and builds the binary first.

use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
use aws_sdk_ssm::types::ParameterType;
use lambda_cache_testkit::{
    CountingProxy, ExtensionsApi, FakeAppConfig, create_secret, create_table, free_port,
    moto_endpoint, put_item, put_parameter, rss_kib, sdk_config, unique, wait_exit,
};

const TOKEN: &str = "demo-session-token";

#[tokio::main]
#[allow(clippy::print_stdout)] // a demo prints
#[allow(clippy::disallowed_methods)] // wall-clock figures for the reader, not for the cache
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let binary = std::env::var("LAMBDA_CACHE_EXTENSION_BIN")
        .map_err(|_| "LAMBDA_CACHE_EXTENSION_BIN is not set: run `cargo xtask demo`")?;
    let moto = moto_endpoint();
    let config = sdk_config(&moto).await;

    // What the function reads.
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = unique("demo-users");
    create_table(&dynamodb, &table, ("pk", ScalarAttributeType::S), None).await;
    for (pk, name, visits) in [("u1", "Ada", "12"), ("u2", "Grace", "7")] {
        let item = [
            ("pk", AttributeValue::S(pk.into())),
            ("name", AttributeValue::S(name.into())),
            ("visits", AttributeValue::N(visits.into())),
        ];
        put_item(&dynamodb, &table, &item).await;
    }
    let parameter = format!("/{}/feature/color", unique("demo"));
    put_parameter(
        &aws_sdk_ssm::Client::new(&config),
        &parameter,
        ParameterType::String,
        "blue",
    )
    .await;
    let secret = unique("demo/db");
    create_secret(
        &aws_sdk_secretsmanager::Client::new(&config),
        &secret,
        r#"{"user":"app","password":"never-printed"}"#,
    )
    .await;

    // A feature flag in AppConfig, polled no faster than the fake's 1 s interval.
    let appconfig = FakeAppConfig::start().await;
    appconfig.set_poll_interval(1);
    let flags_v1 = br#"{"new_checkout":{"enabled":false}}"#;
    appconfig.deploy("demo", "prod", "flags", flags_v1, "application/json");
    let flags = "/applications/demo/environments/prod/configurations/flags";

    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("cache.yaml"),
        format!(
            "dynamodb:\n  - table: {table}\n    hashKey: pk\n    hashKeyType: S\n    fields: name,visits\n"
        ),
    )?;
    let proxy = CountingProxy::start(&moto).await;
    let api = ExtensionsApi::start().await;
    let (port, appconfig_port) = (free_port(), free_port());
    let started = std::time::Instant::now();
    let mut child = Command::new(&binary)
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("LAMBDA_TASK_ROOT", dir.path())
        .env("AWS_ENDPOINT_URL", proxy.endpoint())
        .env("AWS_SESSION_TOKEN", TOKEN)
        .env("CACHE_EXTENSION_PORT", port.to_string())
        .env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "off")
        .env("CACHE_EXTENSION_TTL", "5m")
        .env("AWS_ENDPOINT_URL_APPCONFIGDATA", appconfig.uri())
        .env(
            "AWS_APPCONFIG_EXTENSION_HTTP_PORT",
            appconfig_port.to_string(),
        )
        .env("AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS", "1")
        .env("AWS_APPCONFIG_EXTENSION_PREFETCH_LIST", flags)
        .env("AWS_LAMBDA_FUNCTION_NAME", "demo-function")
        // Its standard output is its metrics (CloudWatch EMF lines), shown at the end.
        .stdout(Stdio::piped())
        .spawn()?;
    let mut metrics_out = child.stdout.take().ok_or("no standard output")?;
    let metrics = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut metrics_out, &mut text);
        text
    });
    // When the first event/next arrived, as the mock noted it (not when the wait noticed it).
    let next = api
        .wait_for("/event/next", 1, Duration::from_secs(20))
        .await;
    let ready = next[0].at - started;
    println!(
        "lambda-cache-extension: ready {:.1} ms after exec (listening on 127.0.0.1:{port}, registered, configured); RSS {} KiB idle\n",
        ready.as_secs_f64() * 1e3,
        rss_kib(child.id()).unwrap_or(0)
    );

    // Lambda sends INVOKE to the extension and runs the function; here, the function is Python.
    let function = |first: u32, invocations: u32| {
        api.invoke();
        let status = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/function.py"))
            .env("CACHE_EXTENSION_PORT", port.to_string())
            .env(
                "AWS_APPCONFIG_EXTENSION_HTTP_PORT",
                appconfig_port.to_string(),
            )
            .env("AWS_SESSION_TOKEN", TOKEN)
            .env("DEMO_TABLE", &table)
            .env("DEMO_PARAMETER", &parameter)
            .env("DEMO_SECRET", &secret)
            .env("DEMO_FLAGS", flags)
            .env("DEMO_FIRST_INVOCATION", first.to_string())
            .env("DEMO_INVOCATIONS", invocations.to_string())
            .stdout(Stdio::inherit())
            .status()
            .map_err(|e| format!("python3 did not start: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("the Python function failed: {status}"))
        }
    };
    function(1, 3)?;

    // The flag flips in AppConfig; the next read past the TTL and AppConfig's poll interval
    // sees it, with one poll.
    let polls = appconfig.polls();
    appconfig.deploy(
        "demo",
        "prod",
        "flags",
        br#"{"new_checkout":{"enabled":true}}"#,
        "application/json",
    );
    println!(
        "\nAppConfig: new_checkout deployed as enabled; 1.5 s later (TTL and poll interval 1 s):"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    function(4, 1)?;
    if appconfig.polls() != polls + 1 || appconfig.refused() != 0 {
        return Err(format!(
            "AppConfig saw {} polls for the flip (expected 1) and {} refused tokens",
            appconfig.polls() - polls,
            appconfig.refused()
        )
        .into());
    }
    println!(
        "\nthe missing item `nobody`, read in 4 invocations: remembered for 30 s, so 1 GetItem for it \
         (the rest are u1 and u2, one each)"
    );
    println!(
        "backend calls through the extension: GetItem {}, GetParameter {}, GetSecretValue {}; AppConfig sessions {}, polls {}; RSS {} KiB",
        proxy.count_of(".GetItem"),
        proxy.count_of(".GetParameter"),
        proxy.count_of(".GetSecretValue"),
        appconfig.starts(),
        appconfig.polls(),
        rss_kib(child.id()).unwrap_or(0)
    );

    // The same reads with plain boto3, unchanged: only the endpoint variables point it at the
    // extension, which answers the SDK's own protocol from its cache.
    println!(
        "\n== a function with plain boto3 calls (boto3.client(\"ssm\").get_parameter(...)), unchanged; \
         its configuration sets AWS_ENDPOINT_URL_SSM, _SECRETS_MANAGER and _DYNAMODB to the extension\n"
    );
    let before = [".GetParameter", ".GetSecretValue", ".GetItem"].map(|op| proxy.count_of(op));
    let mut function = lambda_cache_testkit::boto3_python();
    function.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/boto3_function.py"
    ));
    let status = lambda_cache_testkit::point_sdk_at_extension(
        &mut function,
        &format!("127.0.0.1:{port}"),
        TOKEN,
    )
    .env("DEMO_TABLE", &table)
    .env("DEMO_PARAMETER", &parameter)
    .env("DEMO_SECRET", &secret)
    .env("DEMO_INVOCATIONS", "5")
    .stdout(Stdio::inherit())
    .status()
    .map_err(|e| format!("boto3's Python did not start: {e}"))?;
    if !status.success() {
        return Err(format!("the boto3 function failed: {status}").into());
    }
    let after = [".GetParameter", ".GetSecretValue", ".GetItem"].map(|op| proxy.count_of(op));
    println!(
        "backend calls for its 5 invocations: GetParameter +{}, GetSecretValue +{} (the secret's entry is the \
         /secretsmanager/get route's, already held), GetItem +{}",
        after[0] - before[0],
        after[1] - before[1],
        after[2] - before[2]
    );
    if after[0] - before[0] != 1 || after[1] != before[1] || after[2] - before[2] != 1 {
        return Err("the boto3 function's reads were not cached as the demo says".into());
    }

    api.shutdown();
    let asked = std::time::Instant::now();
    let Some(exit) = wait_exit(&mut child, Duration::from_secs(10)) else {
        child.kill()?;
        return Err("the extension did not exit after SHUTDOWN".into());
    };
    println!(
        "SHUTDOWN: the extension exited with {exit} after {:.1} ms",
        asked.elapsed().as_secs_f64() * 1e3
    );
    if !exit.success() {
        return Err(format!("the extension exited with {exit}").into());
    }
    // At SHUTDOWN the extension wrote its metrics: one CloudWatch EMF line per route and one
    // for the cache (Lambda sends them to CloudWatch Logs, which makes metrics of them).
    let lines = metrics.join().map_err(|_| "the metrics reader panicked")?;
    let dynamodb = lines
        .lines()
        .find(|line| line.contains(r#""Route":"dynamodb""#))
        .ok_or_else(|| format!("no EMF line for the dynamodb route in {lines:?}"))?;
    println!(
        "metrics at SHUTDOWN: {} EMF lines on standard output; the dynamodb route's:\n{dynamodb}",
        lines.lines().count()
    );
    Ok(())
}
