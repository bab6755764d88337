//! The built binary, end to end: a mock Extensions API on loopback, the moto server behind a
//! counting proxy (or wiremock for what moto cannot do), requests over real TCP.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
use aws_sdk_ssm::types::ParameterType;
use lambda_cache_testkit::{
    CountingProxy, Dialect, ExtensionsApi, FakeAppConfig, Fault, FaultProxy, HttpAnswer,
    answer_once_then, aws_json, calls_to_target, create_secret, create_table, free_port, http_get,
    http_raw, moto_endpoint, put_item, put_parameter, sdk_config, secrets_without_describe, unique,
    wait_exit,
};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "test-session-token-0123";
const READY: Duration = Duration::from_secs(20);

/// The extension under test, with its own Extensions API and ports.
struct Extension {
    child: Child,
    api: ExtensionsApi,
    cache_port: u16,
    aws_port: u16,
    appconfig_port: u16,
    stderr: PathBuf,
    stdout: PathBuf,
    _dir: tempfile::TempDir,
}

impl Extension {
    /// Starts the binary against `endpoint` with `cache.yaml` (if any) and extra variables,
    /// without waiting for it to be ready.
    async fn spawn(endpoint: &str, config: Option<&str>, vars: &[(&str, &str)]) -> Self {
        let api = ExtensionsApi::start().await;
        let dir = tempfile::tempdir().expect("a temporary directory");
        if let Some(config) = config {
            std::fs::write(dir.path().join("cache.yaml"), config).expect("cache.yaml");
        }
        let stderr = dir.path().join("stderr.log");
        let stdout = dir.path().join("stdout.log");
        let (cache_port, aws_port, appconfig_port) = (free_port(), free_port(), free_port());
        let mut cmd = api.command(
            env!("CARGO_BIN_EXE_lambda-cache-extension"),
            dir.path(),
            endpoint,
            TOKEN,
        );
        cmd.env("AWS_MAX_ATTEMPTS", "1")
            .env("CACHE_EXTENSION_PORT", cache_port.to_string())
            .env(
                "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
                aws_port.to_string(),
            )
            .env(
                "AWS_APPCONFIG_EXTENSION_HTTP_PORT",
                appconfig_port.to_string(),
            )
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"));
        for (name, value) in vars {
            cmd.env(name, value);
        }
        let child = cmd.spawn().expect("the extension binary starts");
        Self {
            child,
            api,
            cache_port,
            aws_port,
            appconfig_port,
            stderr,
            stdout,
            _dir: dir,
        }
    }

    /// Starts it and waits until it polls for its first event (listening and registered).
    async fn start(endpoint: &str, config: Option<&str>, vars: &[(&str, &str)]) -> Self {
        let extension = Self::spawn(endpoint, config, vars).await;
        extension.api.wait_for("/event/next", 1, READY).await;
        extension
    }

    fn cache(&self) -> String {
        format!("127.0.0.1:{}", self.cache_port)
    }

    fn aws(&self) -> String {
        format!("127.0.0.1:{}", self.aws_port)
    }

    fn appconfig(&self) -> String {
        format!("127.0.0.1:{}", self.appconfig_port)
    }

    /// `GET target` on the seed's port with the token.
    async fn get(&self, target: &str) -> HttpAnswer {
        http_get(
            &self.cache(),
            target,
            &[("X-Aws-Parameters-Secrets-Token", TOKEN)],
        )
        .await
    }

    /// Waits for the process to end (at most `limit`), and returns how.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        wait_exit(&mut self.child, limit)
            .unwrap_or_else(|| panic!("the extension still runs after {limit:?}"))
    }

    fn stderr(&self) -> String {
        read_text(&self.stderr)
    }

    /// What it wrote to standard output: its EMF metric lines.
    fn stdout(&self) -> String {
        read_text(&self.stdout)
    }
}

fn read_text(path: &std::path::Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    text
}

impl Drop for Extension {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(&moto_endpoint()).await)
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn n(text: &str) -> AttributeValue {
    AttributeValue::N(text.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_fetched_once_per_ttl_and_answered_as_plain_json() {
    let client = dynamodb().await;
    let orders = unique("Orders");
    let users = unique("Users");
    let plain = unique("Plain");
    create_table(&client, &orders, ("id", ScalarAttributeType::N), None).await;
    create_table(
        &client,
        &users,
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::S)),
    )
    .await;
    create_table(&client, &plain, ("p", ScalarAttributeType::S), None).await;
    put_item(
        &client,
        &orders,
        &[
            ("id", n("42")),
            ("total", n("12345678901234567890.123456789")),
            ("item", s("book")),
        ],
    )
    .await;
    put_item(
        &client,
        &users,
        &[
            ("pk", s("u1")),
            ("sk", s("profile")),
            ("name", s("Ada")),
            ("email", s("ada@example.com")),
            ("secretNote", s("not projected")),
        ],
    )
    .await;
    put_item(
        &client,
        &plain,
        &[("p", s("p1")), ("flag", AttributeValue::Bool(true))],
    )
    .await;
    let config = format!(
        "dynamodb:\n  - table: {orders}\n    hashKey: id\n    hashKeyType: N\n    ttl: 2s\n  - table: {users}\n    hashkey: pk\n    hashkeytype: S\n    sortkey: sk\n    sortkeytype: S\n    fields: name,email\n"
    );
    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let ext = Extension::start(proxy.endpoint(), Some(&config), &[]).await;

    // 100 sequential and 50 concurrent requests within the TTL: one GetItem.
    let target = format!("/dynamodb?name={orders}@@42");
    let first = ext.get(&target).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.header("x-lambda-cache-source"), Some("backend"));
    assert_eq!(
        first.body, r#"{"id":42,"item":"book","total":12345678901234567890.123456789}"#,
        "numbers exactly as DynamoDB holds them"
    );
    for _ in 0..99 {
        let answer = ext.get(&target).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-lambda-cache-source"), Some("cache"));
        assert_eq!(answer.body, first.body);
    }
    let concurrent: Vec<_> = (0..50)
        .map(|_| {
            let (address, target) = (ext.cache(), target.clone());
            tokio::spawn(async move {
                http_get(
                    &address,
                    &target,
                    &[("X-Aws-Parameters-Secrets-Token", TOKEN)],
                )
                .await
            })
        })
        .collect();
    for task in concurrent {
        let answer = task.await.expect("request task");
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, first.body.as_str())
        );
    }
    assert_eq!(proxy.count_of(".GetItem"), 1, "{:?}", proxy.all());

    // The same number written another way is the same item, not a second fetch.
    let same = ext.get(&format!("/dynamodb?name={orders}@@42.0")).await;
    assert_eq!(
        (same.status, same.body.as_str()),
        (200, first.body.as_str())
    );
    assert_eq!(proxy.count_of(".GetItem"), 1);

    // After the TTL: one more. refreshNow: one more.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let after = ext.get(&target).await;
    assert_eq!(after.header("x-lambda-cache-source"), Some("backend"));
    assert_eq!(proxy.count_of(".GetItem"), 2);
    let refreshed = ext.get(&format!("{target}&refreshNow=true")).await;
    assert_eq!(refreshed.status, 200);
    assert_eq!(refreshed.header("x-lambda-cache-source"), Some("backend"));
    assert_eq!(proxy.count_of(".GetItem"), 3);

    // Hash and sort, projected to the configured fields and the keys.
    let user = ext
        .get(&format!("/dynamodb?name={users}@@u1@@profile"))
        .await;
    assert_eq!(user.status, 200, "{user:?}");
    assert_eq!(
        user.json(),
        serde_json::json!({"pk": "u1", "sk": "profile", "name": "Ada", "email": "ada@example.com"})
    );

    // A table not in cache.yaml: its key schema read once, then the item.
    let item = ext.get(&format!("/dynamodb?name={plain}@@p1")).await;
    assert_eq!(
        (item.status, item.body.as_str()),
        (200, r#"{"flag":true,"p":"p1"}"#)
    );
    let again = ext.get(&format!("/dynamodb?name={plain}@@p1")).await;
    assert_eq!(again.header("x-lambda-cache-source"), Some("cache"));
    assert_eq!(proxy.count_of(".DescribeTable"), 1);

    // Not found is 404, never a 200.
    let missing = ext.get(&format!("/dynamodb?name={orders}@@7")).await;
    assert_eq!(missing.status, 404, "{missing:?}");
    assert_eq!(missing.json()["__type"], "ItemNotFound");
    let no_table = ext.get("/dynamodb?name=NoSuchTable@@1").await;
    assert_eq!(no_table.status, 404, "{no_table:?}");
    assert_eq!(no_table.json()["__type"], "ResourceNotFoundException");
    assert_typed(&missing);
    assert_typed(&no_table);

    // Malformed names are 400 naming the parameter, before any backend call.
    let calls = proxy.all().len();
    for bad in [
        format!("/dynamodb?name={orders}"),
        format!("/dynamodb?name={orders}@@1@@"),
        format!("/dynamodb?name={orders}@@abc"),
        format!("/dynamodb?name={users}@@u1"),
        "/dynamodb".to_owned(),
        format!("/dynamodb?name={orders}@@1&nme=x"),
    ] {
        let answer = ext.get(&bad).await;
        assert_eq!(answer.status, 400, "{bad}: {answer:?}");
        assert_typed(&answer);
        let body = answer.json();
        assert_eq!(body["__type"], "BadRequest");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("name:") || message.starts_with("query:"),
            "{message}"
        );
    }
    assert_eq!(proxy.all().len(), calls, "a bad request reaches no backend");
}

/// An error answer says its type twice, as AWS's do: the body's `__type` and the
/// `X-Amzn-Errortype` header, equal; only a 429 says when to retry.
fn assert_typed(answer: &HttpAnswer) {
    let body = answer.json();
    let code = body["__type"].as_str();
    assert!(code.is_some(), "{answer:?}");
    assert_eq!(answer.header("x-amzn-errortype"), code, "{answer:?}");
    assert_eq!(
        answer.header("retry-after").is_some(),
        answer.status == 429,
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_methods_proxies_and_routes() {
    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let ext = Extension::start(proxy.endpoint(), None, &[]).await;
    let cache = ext.cache();
    let target = "/systemsmanager/parameters/get?name=/any";

    let ping = http_get(&cache, "/ping", &[]).await;
    assert_eq!((ping.status, ping.body.as_str()), (200, "healthy"));

    let none = http_get(&cache, target, &[]).await;
    assert_eq!(none.status, 401, "{none:?}");
    assert_eq!(none.json()["__type"], "MissingToken");
    let wrong = http_get(
        &cache,
        target,
        &[("X-Aws-Parameters-Secrets-Token", "nope")],
    )
    .await;
    assert_eq!(wrong.status, 403);
    assert_eq!(wrong.json()["__type"], "InvalidToken");
    let dynamodb = http_get(&cache, "/dynamodb?name=T@@1", &[]).await;
    assert_eq!(dynamodb.status, 401, "/dynamodb needs the token by default");
    let forwarded = http_get(
        &cache,
        target,
        &[
            ("X-Aws-Parameters-Secrets-Token", TOKEN),
            ("X-Forwarded-For", "10.0.0.1"),
        ],
    )
    .await;
    assert_eq!(forwarded.status, 403);
    assert_eq!(forwarded.json()["__type"], "ForwardedRequestRefused");
    let post = http_raw(
        &cache,
        format!("POST {target} HTTP/1.1\r\nhost: x\r\nx-aws-parameters-secrets-token: {TOKEN}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET"));
    let unknown = ext.get("/nothing/here").await;
    assert_eq!(unknown.status, 404);
    for answer in [&none, &wrong, &dynamodb, &forwarded, &post, &unknown] {
        assert_typed(answer);
    }
    let stats = ext.get("/v1/stats").await;
    assert_eq!(stats.status, 200);
    assert!(
        stats.json()["requests"]["refusedToken"].as_u64() >= Some(3),
        "{}",
        stats.body
    );
    // Both listeners serve every route.
    let aws = http_get(
        &ext.aws(),
        "/v1/stats",
        &[("X-Aws-Parameters-Secrets-Token", TOKEN)],
    )
    .await;
    assert_eq!(aws.status, 200);
    // A request head past the limit is refused by the server, not read without bound.
    let huge = http_get(&cache, &format!("/ping?{}", "a".repeat(64 * 1024)), &[]).await;
    assert_eq!(huge.status, 431, "{huge:?}");
    assert_eq!(proxy.all().len(), 0, "nothing refused reached a backend");

    // Nothing listens on another address than 127.0.0.1.
    for port in [ext.cache_port, ext.aws_port] {
        let listening = listeners_on(port);
        assert!(!listening.is_empty(), "port {port} is listened on");
        assert!(
            listening.iter().all(|a| a == "0100007F"),
            "port {port} listened on {listening:?}"
        );
    }
}

/// The local addresses (hex, as in /proc/net/tcp) listening on `port`, IPv4 and IPv6.
fn listeners_on(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            let Some((address, hex_port)) = local.split_once(':') else {
                continue;
            };
            if *state == "0A" && u16::from_str_radix(hex_port, 16) == Ok(port) {
                found.push(address.to_owned());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_none_opens_dynamodb_and_appconfig_only() {
    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let ext = Extension::start(proxy.endpoint(), None, &[("CACHE_EXTENSION_AUTH", "none")]).await;
    let item = http_get(&ext.cache(), "/dynamodb?name=NoSuchTable@@1", &[]).await;
    assert_eq!(item.status, 404, "answered without a token: {item:?}");
    let parameter = http_get(&ext.cache(), "/systemsmanager/parameters/get?name=/a", &[]).await;
    assert_eq!(parameter.status, 401);
    let secret = http_get(&ext.cache(), "/secretsmanager/get?secretId=a", &[]).await;
    assert_eq!(secret.status, 401);
    // moto has no AppConfigData: answered (with a failure) rather than refused.
    let profile = http_get(
        &ext.appconfig(),
        "/applications/a/environments/e/configurations/p",
        &[],
    )
    .await;
    assert_ne!(profile.status, 401, "{profile:?}");
    assert_ne!(profile.status, 200, "{profile:?}");
    assert!(
        ext.stderr().contains("CACHE_EXTENSION_AUTH=none"),
        "{}",
        ext.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_extension_routes_answer_its_shapes() {
    let config = sdk_config(&moto_endpoint()).await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let plain = format!("/{}/db/host", unique("app"));
    let secure = format!("/{}/db/password", unique("app"));
    put_parameter(&ssm, &plain, ParameterType::String, "db-1.internal").await;
    put_parameter(&ssm, &plain, ParameterType::String, "db-2.internal").await;
    put_parameter(&ssm, &secure, ParameterType::SecureString, "pa55-word-xyz").await;
    let secret_name = unique("prod/db");
    create_secret(
        &secrets,
        &secret_name,
        r#"{"user":"app","password":"s3cr3t-v4lue"}"#,
    )
    .await;
    let binary_name = unique("prod/key");
    secrets
        .create_secret()
        .name(&binary_name)
        .secret_binary(aws_smithy_types::Blob::new(vec![0_u8, 1, 2, 255]))
        .send()
        .await
        .expect("create_secret binary");

    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let ext = Extension::start(proxy.endpoint(), None, &[]).await;
    let aws = ext.aws();
    let get = |target: String| {
        let aws = aws.clone();
        async move { http_get(&aws, &target, &[("X-Aws-Parameters-Secrets-Token", TOKEN)]).await }
    };

    // GetParameter's shape, unencoded or percent-encoded names alike, fetched once.
    let answer = get(format!("/systemsmanager/parameters/get?name={plain}")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let body = answer.json();
    let parameter = &body["Parameter"];
    assert_eq!(parameter["Name"], plain.as_str());
    assert_eq!(parameter["Value"], "db-2.internal");
    assert_eq!(parameter["Type"], "String");
    assert_eq!(parameter["Version"], 2);
    assert_eq!(parameter["DataType"], "text");
    assert!(
        parameter["ARN"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:ssm:"))
    );
    let modified = parameter["LastModifiedDate"].as_str().unwrap_or_default();
    assert!(
        modified.len() >= 20 && modified.contains('T') && modified.ends_with('Z'),
        "{modified}"
    );
    assert_eq!(body["ResultMetadata"], serde_json::json!({}));
    let encoded = plain.replace('/', "%2F");
    let again = get(format!("/systemsmanager/parameters/get?name={encoded}")).await;
    assert_eq!(again.header("x-lambda-cache-source"), Some("cache"));
    assert_eq!(again.body, answer.body);
    assert_eq!(proxy.count_of(".GetParameter"), 1);

    // A version is its own entry.
    let v1 = get(format!(
        "/systemsmanager/parameters/get?name={plain}&version=1"
    ))
    .await;
    assert_eq!(v1.json()["Parameter"]["Value"], "db-1.internal");
    assert_eq!(proxy.count_of(".GetParameter"), 2);

    // SecureString decrypted on request.
    let password = get(format!(
        "/systemsmanager/parameters/get?name={secure}&withDecryption=true"
    ))
    .await;
    assert_eq!(password.json()["Parameter"]["Type"], "SecureString");
    assert_eq!(password.json()["Parameter"]["Value"], "pa55-word-xyz");

    let missing = get("/systemsmanager/parameters/get?name=/no/such/parameter".to_owned()).await;
    assert_eq!(missing.status, 404, "{missing:?}");
    assert_eq!(missing.json()["__type"], "ParameterNotFound");
    // Bad input: 400, the message naming the parameter, no backend call.
    let calls = proxy.all().len();
    for (target, parameter) in [
        (
            format!("/systemsmanager/parameters/get?name={plain}&version=1&label=x"),
            "version",
        ),
        (
            format!("/systemsmanager/parameters/get?name={plain}&version=abc"),
            "version",
        ),
        (
            format!("/systemsmanager/parameters/get?name={plain}&withDecryption=maybe"),
            "withDecryption",
        ),
        (
            "/systemsmanager/parameters/get?name=/bad%20name".to_owned(),
            "name",
        ),
        (
            "/systemsmanager/parameters/get?version=1".to_owned(),
            "name",
        ),
        ("/secretsmanager/get?secretId=".to_owned(), "secretId"),
        (
            "/secretsmanager/get?secretId=a&versionId=v&versionStage=s".to_owned(),
            "versionId",
        ),
        (
            "/secretsmanager/get?secretId=a&versionStage=".to_owned(),
            "versionStage",
        ),
        (
            "/secretsmanager/get?secretId=a&refreshNow=soon".to_owned(),
            "refreshNow",
        ),
    ] {
        let answer = get(target.clone()).await;
        assert_eq!(answer.status, 400, "{target}: {answer:?}");
        let message = answer.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            message.starts_with(&format!("{parameter}:")),
            "{target}: {message}"
        );
    }
    assert_eq!(proxy.all().len(), calls, "a bad request reaches no backend");

    // GetSecretValue's shape.
    let secret = get(format!("/secretsmanager/get?secretId={secret_name}")).await;
    assert_eq!(secret.status, 200, "{secret:?}");
    let body = secret.json();
    assert_eq!(body["Name"], secret_name.as_str());
    assert_eq!(
        body["SecretString"],
        r#"{"user":"app","password":"s3cr3t-v4lue"}"#
    );
    assert!(
        body["ARN"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:secretsmanager:"))
    );
    assert!(body["VersionId"].as_str().is_some_and(|v| !v.is_empty()));
    assert_eq!(body["VersionStages"], serde_json::json!(["AWSCURRENT"]));
    assert!(body["CreatedDate"].is_number(), "{body}");
    let version = body["VersionId"].as_str().unwrap_or_default().to_owned();
    let by_id = get(format!(
        "/secretsmanager/get?secretId={secret_name}&versionId={version}"
    ))
    .await;
    assert_eq!(by_id.json()["SecretString"], body["SecretString"]);
    let cached = get(format!(
        "/secretsmanager/get?secretId={secret_name}&versionStage=AWSCURRENT"
    ))
    .await;
    assert_eq!(cached.header("x-lambda-cache-source"), Some("cache"));
    assert_eq!(proxy.count_of(".GetSecretValue"), 2);
    let binary = get(format!("/secretsmanager/get?secretId={binary_name}")).await;
    assert_eq!(binary.json()["SecretBinary"], "AAEC/w==");
    let missing = get("/secretsmanager/get?secretId=no-such-secret".to_owned()).await;
    assert_eq!(missing.status, 404, "{missing:?}");

    // No value ever reaches the log.
    let log = ext.stderr();
    for value in ["pa55-word-xyz", "s3cr3t-v4lue", "db-2.internal", TOKEN] {
        assert!(!log.contains(value), "{value} in the log: {log}");
    }
}

/// `cache.yaml` for the stand-in's table `T`, keyed by `pk`.
const TABLE_T: &str = "dynamodb:\n  - table: T\n    hashKey: pk\n";

/// DynamoDB's throttling answer.
fn dynamodb_throttle() -> ResponseTemplate {
    aws_json(
        400,
        serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"}),
    )
}

/// A DynamoDB stand-in that answers one GetItem, then `then` (throttling).
async fn throttling_dynamodb(then: ResponseTemplate) -> MockServer {
    answer_once_then(
        "DynamoDB_20120810.GetItem",
        aws_json(
            200,
            serde_json::json!({"Item": {"pk": {"S": "k"}, "v": {"N": "1"}}}),
        ),
        then,
    )
    .await
}

/// Caching off (either way of saying it) holds nothing past an answer and serves nothing stale:
/// three identical requests in a row make three backend calls, and once the backend throttles,
/// the answer is its 502, never the value read a moment before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_off_holds_nothing_and_serves_nothing_stale() {
    let throttle = dynamodb_throttle();
    let config = TABLE_T;
    for off in [
        ("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", "false"),
        ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "0"),
    ] {
        let server = throttling_dynamodb(throttle.clone()).await;
        let ext = Extension::start(&server.uri(), Some(config), &[off]).await;
        let first = ext.get("/dynamodb?name=T@@k").await;
        assert_eq!(first.status, 200, "{off:?}: {first:?}");
        assert_eq!(first.header("x-lambda-cache-source"), Some("backend"));
        let stats = ext.get("/v1/stats").await.json();
        assert_eq!(stats["cache"]["entries"], 0, "{off:?}: {stats}");
        for _ in 0..2 {
            let failed = ext.get("/dynamodb?name=T@@k").await;
            assert_eq!(failed.status, 502, "{off:?}: {failed:?}");
            assert_eq!(failed.json()["__type"], "ThrottlingException");
        }
        assert_eq!(server.received_requests().await.map(|r| r.len()), Some(3));
        let stats = ext.get("/v1/stats").await.json();
        assert_eq!(stats["cache"]["staleServed"], 0, "{off:?}: {stats}");
        drop(ext);
    }
}

/// `CACHE_EXTENSION_MAX_STALE` counts from the end of the TTL, whichever of the two is longer:
/// a value is served stale while its age is within TTL + max stale, and not past it. Each read
/// below at 750 ms is older than the max stale alone (a 502 when the window was counted from
/// the fetch) and within their sum; the read at 1,100 ms is past the sum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stale_window_starts_when_the_ttl_ends() {
    let throttle = dynamodb_throttle();
    let config = TABLE_T;
    for (ttl, max_stale) in [("600ms", "300ms"), ("300ms", "600ms")] {
        let server = throttling_dynamodb(throttle.clone()).await;
        let ext = Extension::start(
            &server.uri(),
            Some(config),
            &[
                ("CACHE_EXTENSION_TTL", ttl),
                ("CACHE_EXTENSION_MAX_STALE", max_stale),
            ],
        )
        .await;
        let clock = lambda_cache::Clock::real();
        let fetched = clock.now();
        let since = || clock.now().saturating_duration_since(fetched);
        let fresh = ext.get("/dynamodb?name=T@@k").await;
        assert_eq!(fresh.status, 200, "{fresh:?}");
        tokio::time::sleep(Duration::from_millis(750).saturating_sub(since())).await;
        let stale = ext.get("/dynamodb?name=T@@k").await;
        assert_eq!(
            (stale.status, stale.header("x-lambda-cache-source")),
            (200, Some("stale")),
            "TTL {ttl}, max stale {max_stale}: {stale:?}"
        );
        tokio::time::sleep(Duration::from_millis(1_100).saturating_sub(since())).await;
        let failed = ext.get("/dynamodb?name=T@@k").await;
        assert_eq!(
            failed.status, 502,
            "TTL {ttl}, max stale {max_stale}: {failed:?}"
        );
        assert_eq!(failed.json()["__type"], "ThrottlingException");
        assert_eq!(server.received_requests().await.map(|r| r.len()), Some(3));
        drop(ext);
    }
}

/// Not found is remembered for the negative TTL (30 s by default): a missing item read 100
/// times costs one GetItem; `refreshNow=true` asks again. The same holds for a missing
/// parameter, secret and table (DescribeTable), each answered from memory with the same status
/// and body, marked `x-lambda-cache-source: cache`. Past the negative TTL, which is never longer
/// than the route's TTL (1 s here), one more call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_costs_one_backend_call_per_negative_ttl() {
    let client = dynamodb().await;
    let table = unique("Neg");
    create_table(&client, &table, ("pk", ScalarAttributeType::S), None).await;
    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let config = format!("dynamodb:\n  - table: {table}\n    hashKey: pk\n");
    let short = Extension::start(
        proxy.endpoint(),
        Some(&config),
        &[("CACHE_EXTENSION_TTL", "1s")],
    )
    .await;
    let missing = format!("/dynamodb?name={table}@@nobody");
    assert_eq!(short.get(&missing).await.status, 404);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = short.get(&missing).await;
    assert_eq!(
        (after.status, after.header("x-lambda-cache-source")),
        (404, None)
    );
    assert_eq!(proxy.count_of(".GetItem"), 2, "{:?}", proxy.all());
    drop(short);

    let ext = Extension::start(proxy.endpoint(), Some(&config), &[]).await;
    let first = ext.get(&missing).await;
    assert_eq!(first.status, 404, "{first:?}");
    assert_eq!(first.json()["__type"], "ItemNotFound");
    assert_eq!(first.header("x-lambda-cache-source"), None);
    for _ in 1..100 {
        let again = ext.get(&missing).await;
        assert_eq!((again.status, &again.body), (404, &first.body));
        assert_eq!(again.header("x-amzn-errortype"), Some("ItemNotFound"));
        assert_eq!(again.header("x-lambda-cache-source"), Some("cache"));
    }
    assert_eq!(proxy.count_of(".GetItem"), 3, "{:?}", proxy.all());
    let stats = ext.get("/v1/stats").await.json();
    assert_eq!(stats["cache"]["negativeHits"], 99, "{stats}");
    let refreshed = ext.get(&format!("{missing}&refreshNow=true")).await;
    assert_eq!(refreshed.status, 404);
    assert_eq!(refreshed.header("x-lambda-cache-source"), None);
    assert_eq!(proxy.count_of(".GetItem"), 4);

    // A missing parameter, secret and table: one call each for ten reads.
    let name = format!("/{}/nothing", unique("neg"));
    let secret = unique("no-secret");
    let unknown = unique("NoTable");
    for (target, operation, code) in [
        (
            format!("/systemsmanager/parameters/get?name={name}"),
            ".GetParameter",
            "ParameterNotFound",
        ),
        (
            format!("/secretsmanager/get?secretId={secret}"),
            ".GetSecretValue",
            "ResourceNotFoundException",
        ),
        (
            format!("/dynamodb?name={unknown}@@k"),
            ".DescribeTable",
            "ResourceNotFoundException",
        ),
    ] {
        for i in 0..10 {
            let answer = ext.get(&target).await;
            assert_eq!(answer.status, 404, "{target}: {answer:?}");
            assert_eq!(answer.json()["__type"], code, "{target}: {answer:?}");
            let source = (i > 0).then_some("cache");
            assert_eq!(answer.header("x-lambda-cache-source"), source, "{target}");
        }
        assert_eq!(proxy.count_of(operation), 1, "{target}: {:?}", proxy.all());
    }
}

/// Access denied is remembered as not found is; throttling never is: each read of a throttled
/// key with nothing held asks the backend again. `CACHE_EXTENSION_NEGATIVE_TTL=0` remembers
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_lasting_failures_are_remembered() {
    let denied = aws_json(
        400,
        serde_json::json!({"__type": "com.amazon.coral.service#AccessDeniedException", "message": "not authorized to perform dynamodb:GetItem"}),
    );
    for (answer, vars, calls) in [
        (denied.clone(), &[][..], 1),
        (denied, &[("CACHE_EXTENSION_NEGATIVE_TTL", "0")][..], 3),
        (dynamodb_throttle(), &[][..], 3),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(answer)
            .mount(&server)
            .await;
        let ext = Extension::start(&server.uri(), Some(TABLE_T), vars).await;
        let answers = [
            ext.get("/dynamodb?name=T@@k").await,
            ext.get("/dynamodb?name=T@@k").await,
            ext.get("/dynamodb?name=T@@k").await,
        ];
        for answer in &answers {
            assert_eq!(answer.status, 502, "{vars:?}: {answer:?}");
            assert_typed(answer);
        }
        assert_eq!(answers[1].body, answers[0].body);
        assert_eq!(
            server.received_requests().await.map(|r| r.len()),
            Some(calls),
            "{vars:?}: {:?}",
            answers[0]
        );
        drop(ext);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_backend_is_answered_stale_or_with_a_real_status() {
    let throttle = dynamodb_throttle();
    let config = TABLE_T;
    let vars = [("CACHE_EXTENSION_TTL", "100ms")];

    // A recent value: served, marked stale.
    let server = throttling_dynamodb(throttle.clone()).await;
    let ext = Extension::start(&server.uri(), Some(config), &vars).await;
    let fresh = ext.get("/dynamodb?name=T@@k").await;
    assert_eq!(
        (fresh.status, fresh.body.as_str()),
        (200, r#"{"pk":"k","v":1}"#)
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let stale = ext.get("/dynamodb?name=T@@k").await;
    assert_eq!(
        (stale.status, stale.body.as_str()),
        (200, fresh.body.as_str()),
        "{stale:?}"
    );
    assert_eq!(stale.header("x-lambda-cache-source"), Some("stale"));
    assert!(
        stale
            .header("x-lambda-cache-age-ms")
            .and_then(|a| a.parse::<u64>().ok())
            >= Some(100)
    );
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
    let stats = ext.get("/v1/stats").await.json();
    assert_eq!(stats["cache"]["staleServed"], 1);
    drop(ext);

    // Stale answers off: the failure, as 502 with the backend's code.
    let server = throttling_dynamodb(throttle).await;
    let ext = Extension::start(
        &server.uri(),
        Some(config),
        &[
            ("CACHE_EXTENSION_TTL", "100ms"),
            ("CACHE_EXTENSION_MAX_STALE", "0"),
        ],
    )
    .await;
    assert_eq!(ext.get("/dynamodb?name=T@@k").await.status, 200);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let failed = ext.get("/dynamodb?name=T@@k").await;
    assert_eq!(failed.status, 502, "{failed:?}");
    assert_eq!(failed.json()["__type"], "ThrottlingException");
    drop(ext);

    // A backend that does not answer in time, with nothing held: 504.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let ext = Extension::start(
        &server.uri(),
        Some(config),
        &[("CACHE_EXTENSION_BACKEND_TIMEOUT", "300ms")],
    )
    .await;
    let timed_out = ext.get("/dynamodb?name=T@@k").await;
    assert_eq!(timed_out.status, 504, "{timed_out:?}");
    assert_eq!(timed_out.json()["__type"], "BackendTimeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misses_past_the_in_flight_limit_are_answered_429_and_hits_never() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            aws_json(200, serde_json::json!({"Item": {"pk": {"S": "k"}}}))
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&server)
        .await;
    let ext = Extension::start(
        &server.uri(),
        Some("dynamodb:\n  - table: T\n    hashKey: pk\n"),
        &[("CACHE_EXTENSION_MAX_IN_FLIGHT", "1")],
    )
    .await;
    // A held value, read before the limit fills.
    let hit = "/dynamodb?name=T@@held";
    assert_eq!(ext.get(hit).await.status, 200);
    let (address, slow) = (ext.cache(), "/dynamodb?name=T@@k");
    let first = tokio::spawn(async move {
        http_get(&address, slow, &[("X-Aws-Parameters-Secrets-Token", TOKEN)]).await
    });
    // Once the first request holds the one slot (its backend call has arrived), the next is
    // refused at once instead of queued.
    while server.received_requests().await.map_or(0, |r| r.len()) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused = ext.get("/dynamodb?name=T@@other").await;
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.json()["__type"], "TooManyRequests");
    assert_eq!(refused.header("retry-after"), Some("1"), "{refused:?}");
    assert_typed(&refused);
    // A table not in cache.yaml needs DescribeTable, a backend call: it waits for a place too.
    let described = ext.get("/dynamodb?name=Unlisted@@k").await;
    assert_eq!(described.status, 429, "{described:?}");
    // A hit takes no place: it is answered while the limit is full.
    let held = ext.get(hit).await;
    assert_eq!(held.status, 200, "{held:?}");
    assert_eq!(held.header("x-lambda-cache-source"), Some("cache"));
    assert_eq!(first.await.expect("first request").status, 200);
    assert_eq!(ext.get(slow).await.status, 200, "the slot is free again");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
    let stats = ext.get("/v1/stats").await.json();
    assert_eq!(stats["requests"]["refusedBusy"], 2, "{stats}");
}

/// 300 idle connections (past the 256 slots) do not keep a request waiting for the header
/// timeout: each connection past the slots closes the oldest. Only the oldest are closed, and
/// no more of them than needed, so the request is not answered by the timeout closing them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_slots_close_the_oldest_not_the_request() {
    let ext = Extension::start(&moto_endpoint(), None, &[]).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(
            tokio::net::TcpStream::connect(ext.cache())
                .await
                .expect("a connection"),
        );
    }
    let answer = ext.get("/ping").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let closed = |stream: &tokio::net::TcpStream| {
        let mut byte = [0_u8; 1];
        match stream.try_read(&mut byte) {
            Ok(n) => n == 0,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        }
    };
    // 300 idle and the request: 45 connections past the 256 slots, so the oldest 45 close.
    let mut closed_count = 0;
    for _ in 0..200 {
        closed_count = idle.iter().filter(|s| closed(s)).count();
        if closed_count >= 45 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed(&idle[0]), "the oldest connection is closed");
    assert!(!closed(&idle[100]), "a younger one is still open");
    assert!(!closed(&idle[299]), "the youngest is still open");
    let stats = ext.get("/v1/stats").await.json();
    // 45, or 46 when the request's own connection had not yet given back its slot.
    let evicted = stats["connections"]["evicted"].as_u64().unwrap_or(0);
    assert!((45..=46).contains(&evicted), "{stats}");
    assert!((45..100).contains(&closed_count), "{closed_count} closed");
}

/// The metrics: at SHUTDOWN, CloudWatch EMF lines on standard output (JSON with the `_aws`
/// block, the namespace and the function's name as a dimension), whose counts per route add up
/// to what `/v1/stats` says; `CACHE_EXTENSION_METRICS=off` writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_emf_lines_whose_counts_match_the_stats() {
    let client = dynamodb().await;
    let table = unique("Metrics");
    create_table(&client, &table, ("pk", ScalarAttributeType::S), None).await;
    put_item(&client, &table, &[("pk", s("k"))]).await;
    let ssm = aws_sdk_ssm::Client::new(&sdk_config(&moto_endpoint()).await);
    let name = format!("/{}/p", unique("metrics"));
    put_parameter(&ssm, &name, ParameterType::String, "v").await;
    let config = format!("dynamodb:\n  - table: {table}\n    hashKey: pk\n");
    for off in [false, true] {
        let mut vars = vec![("AWS_LAMBDA_FUNCTION_NAME", "checkout")];
        if off {
            vars.push(("CACHE_EXTENSION_METRICS", "off"));
        }
        let mut ext = Extension::start(&moto_endpoint(), Some(&config), &vars).await;
        for target in [
            format!("/dynamodb?name={table}@@k"),
            format!("/dynamodb?name={table}@@k"),
            format!("/dynamodb?name={table}@@missing"),
            format!("/dynamodb?name={table}@@missing"),
            format!("/systemsmanager/parameters/get?name={name}"),
            format!("/systemsmanager/parameters/get?name={name}"),
            format!("/systemsmanager/parameters/get?name={name}"),
        ] {
            ext.get(&target).await;
        }
        let stats = ext.get("/v1/stats").await.json();
        ext.api.invoke();
        ext.api.wait_for("/event/next", 2, READY).await;
        ext.api.shutdown();
        let status = ext.wait_exit(Duration::from_secs(10));
        assert!(status.success(), "{status:?}: {}", ext.stderr());
        let out = ext.stdout();
        if off {
            assert_eq!(out, "", "metrics off writes nothing");
            continue;
        }
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        assert_eq!(lines.len(), 3, "dynamodb, ssm and the cache's line: {out}");
        let mut sums = std::collections::HashMap::<(String, String), u64>::new();
        for line in &lines {
            let directive = &line["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], "LambdaCache", "{line}");
            assert!(line["_aws"]["Timestamp"].as_u64().is_some(), "{line}");
            assert_eq!(directive["Dimensions"][0][0], "FunctionName", "{line}");
            assert_eq!(line["FunctionName"], "checkout");
            let route = line["Route"].as_str().unwrap_or("cache").to_owned();
            for metric in directive["Metrics"].as_array().expect("metrics") {
                let metric = metric["Name"].as_str().expect("a name").to_owned();
                assert!(line[&metric].is_number(), "{metric} has no value: {line}");
                if let Some(count) = line[&metric].as_u64() {
                    *sums.entry((route.clone(), metric)).or_default() += count;
                }
            }
        }
        let sum = |route: &str, metric: &str| {
            sums.get(&(route.to_owned(), metric.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        for (route, counts) in stats["routes"].as_object().expect("routes") {
            for (metric, field) in [
                ("Hits", "hits"),
                ("Misses", "misses"),
                ("StaleServed", "staleServed"),
                ("NegativeHits", "negativeHits"),
                ("BackendCalls", "backendCalls"),
                ("BackendErrors", "backendErrors"),
            ] {
                assert_eq!(
                    Some(sum(route, metric)),
                    counts[field].as_u64(),
                    "{route} {metric}: {out}\n{stats}"
                );
            }
        }
        assert_eq!(
            (sum("dynamodb", "Hits"), sum("dynamodb", "NegativeHits")),
            (1, 1)
        );
        assert_eq!((sum("ssm", "Hits"), sum("ssm", "BackendCalls")), (2, 1));
        assert_eq!(
            Some(sum("cache", "Evictions")),
            stats["cache"]["evictions"].as_u64()
        );
        assert!(
            lines[0]["BackendLatencyP99"]
                .as_f64()
                .is_some_and(|ms| ms > 0.0)
        );
    }
}

/// A secret past its TTL is revalidated: while AWSCURRENT still names the version held, one
/// DescribeSecret and no GetSecretValue (no secret on the wire); once rotated, one of each. A
/// read pinned by versionId needs neither. `CACHE_EXTENSION_SECRETS_REVALIDATE=false` reads it
/// whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_unchanged_past_its_ttl_costs_one_describe_secret_and_no_read() {
    let admin = aws_sdk_secretsmanager::Client::new(&sdk_config(&moto_endpoint()).await);
    let name = unique("revalidated");
    create_secret(&admin, &name, "pw-v1").await;
    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let ext = Extension::start(proxy.endpoint(), None, &[("SECRETS_MANAGER_TTL", "1")]).await;
    let target = format!("/secretsmanager/get?secretId={name}");
    let first = ext.get(&target).await;
    assert_eq!(first.json()["SecretString"], "pw-v1", "{first:?}");
    let v1 = first.json()["VersionId"]
        .as_str()
        .expect("a version id")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let kept = ext.get(&target).await;
    assert_eq!(kept.status, 200, "{kept:?}");
    assert_eq!(kept.body, first.body, "the held answer, revalidated");
    assert_eq!(
        (
            proxy.count_of(".DescribeSecret"),
            proxy.count_of(".GetSecretValue")
        ),
        (1, 1),
        "{:?}",
        proxy.all()
    );
    assert_eq!(ext.get("/v1/stats").await.json()["cache"]["notModified"], 1);

    admin
        .put_secret_value()
        .secret_id(&name)
        .secret_string("pw-v2")
        .send()
        .await
        .expect("rotated");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = ext.get(&target).await;
    assert_eq!(rotated.json()["SecretString"], "pw-v2", "{rotated:?}");
    assert_eq!(
        (
            proxy.count_of(".DescribeSecret"),
            proxy.count_of(".GetSecretValue")
        ),
        (2, 2)
    );

    // Pinned to the first version: read once, then never asked again.
    let pinned = format!("{target}&versionId={v1}");
    assert_eq!(ext.get(&pinned).await.json()["SecretString"], "pw-v1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(ext.get(&pinned).await.json()["SecretString"], "pw-v1");
    assert_eq!(
        (
            proxy.count_of(".DescribeSecret"),
            proxy.count_of(".GetSecretValue")
        ),
        (2, 3)
    );
    drop(ext);

    let ext = Extension::start(
        proxy.endpoint(),
        None,
        &[
            ("SECRETS_MANAGER_TTL", "1"),
            ("CACHE_EXTENSION_SECRETS_REVALIDATE", "false"),
        ],
    )
    .await;
    ext.get(&target).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ext.get(&target).await;
    assert_eq!(
        (
            proxy.count_of(".DescribeSecret"),
            proxy.count_of(".GetSecretValue")
        ),
        (2, 5)
    );
}

/// Without `secretsmanager:DescribeSecret`: the first revalidation is refused, the secret is
/// read whole, the log says so once, and later reads call GetSecretValue only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_describe_secret_falls_back_to_get_secret_value_once() {
    let server = secrets_without_describe("db", "hunter2").await;
    let ext = Extension::start(&server.uri(), None, &[("SECRETS_MANAGER_TTL", "1")]).await;
    for _ in 0..3 {
        let answer = ext.get("/secretsmanager/get?secretId=db").await;
        assert_eq!(answer.json()["SecretString"], "hunter2", "{answer:?}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(
        calls_to_target(&server, "secretsmanager.DescribeSecret").await,
        1
    );
    assert_eq!(
        calls_to_target(&server, "secretsmanager.GetSecretValue").await,
        3
    );
    let log = ext.stderr();
    assert_eq!(
        log.matches("DescribeSecret was refused").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_exits_zero_promptly() {
    let mut ext = Extension::start(&moto_endpoint(), None, &[]).await;
    let register = ext.api.calls_to("/register");
    assert_eq!(register.len(), 1);
    assert_eq!(
        register[0].header("lambda-extension-name"),
        Some("lambda-cache-extension")
    );
    assert_eq!(register[0].body, r#"{"events":["INVOKE","SHUTDOWN"]}"#);
    ext.api.invoke();
    ext.api.wait_for("/event/next", 2, READY).await;
    ext.api.shutdown();
    // Lambda allows 2 s; the bound here only stops a hung process from hanging the test.
    let status = ext.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}: {}", ext.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_an_init_error_not_a_panic() {
    // (cache.yaml, variables, the error type posted, what its message names)
    type Case<'a> = (Option<&'a str>, Vec<(&'a str, String)>, &'a str, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            Some("dynamodb:\n  - table: T\n    hashKye: pk\n"),
            vec![],
            "Extension.InvalidConfigFile",
            "hashKye",
        ),
        (
            Some("dynamodb: [\n"),
            vec![],
            "Extension.InvalidConfigFile",
            "cache.yaml",
        ),
        (
            None,
            vec![("CACHE_EXTENSION_TTL", "5 minutes".to_owned())],
            "Extension.InvalidVariable",
            "CACHE_EXTENSION_TTL",
        ),
        (
            None,
            vec![("CACHE_EXTENSION_INIT_STARTUP", "yes".to_owned())],
            "Extension.InvalidVariable",
            "CACHE_EXTENSION_INIT_STARTUP",
        ),
    ];
    for (config, vars, error_type, named) in cases {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut ext = Extension::spawn(&moto_endpoint(), config, &vars).await;
        let status = ext.wait_exit(Duration::from_secs(20));
        assert!(!status.success(), "{named}: {status:?}");
        let posted = ext.api.calls_to("/init/error");
        assert_eq!(posted.len(), 1, "{named}: {:?}", ext.api.calls());
        assert_eq!(
            posted[0].header("lambda-extension-function-error-type"),
            Some(error_type)
        );
        assert!(posted[0].body.contains(named), "{}", posted[0].body);
        assert!(ext.api.calls_to("/event/next").is_empty());
        let log = ext.stderr();
        assert!(!log.contains("panicked"), "{log}");
    }

    // A port already taken: an init error naming it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("bound").port().to_string();
    let mut ext =
        Extension::spawn(&moto_endpoint(), None, &[("CACHE_EXTENSION_PORT", &port)]).await;
    assert!(!ext.wait_exit(Duration::from_secs(20)).success());
    let posted = ext.api.calls_to("/init/error");
    assert_eq!(posted.len(), 1);
    assert_eq!(
        posted[0].header("lambda-extension-function-error-type"),
        Some("Extension.PortUnavailable")
    );
    assert!(posted[0].body.contains(&port), "{}", posted[0].body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_startup_preloads_what_cache_yaml_lists() {
    let client = dynamodb().await;
    let table = unique("Catalog");
    create_table(&client, &table, ("sku", ScalarAttributeType::S), None).await;
    for i in 0..5 {
        put_item(
            &client,
            &table,
            &[
                ("sku", s(&format!("k{i}"))),
                ("price", n(&format!("{i}.5"))),
            ],
        )
        .await;
    }
    let ssm = aws_sdk_ssm::Client::new(&sdk_config(&moto_endpoint()).await);
    let name = format!("/{}/flag", unique("app"));
    put_parameter(&ssm, &name, ParameterType::String, "on").await;
    let config = format!(
        "dynamodb:\n  - table: {table}\n    hashKey: sku\n    fields: price\nparameters:\n  - {name}\n"
    );
    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let ext = Extension::start(
        proxy.endpoint(),
        Some(&config),
        &[("CACHE_EXTENSION_INIT_STARTUP", "true")],
    )
    .await;
    assert_eq!(proxy.count_of(".Scan"), 1, "{:?}", proxy.all());
    assert_eq!(proxy.count_of(".GetParameter"), 1);
    for i in 0..5 {
        let answer = ext.get(&format!("/dynamodb?name={table}@@k{i}")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-lambda-cache-source"), Some("cache"));
        assert_eq!(
            answer.json(),
            serde_json::json!({"sku": format!("k{i}"), "price": i as f64 + 0.5})
        );
    }
    let flag = ext
        .get(&format!("/systemsmanager/parameters/get?name={name}"))
        .await;
    assert_eq!(flag.header("x-lambda-cache-source"), Some("cache"));
    assert_eq!(proxy.count_of(".GetItem"), 0);
    let log = ext.stderr();
    assert!(
        log.contains("1 of 1 parameters and secrets, 5 table items"),
        "{log}"
    );
    assert!(!log.contains("ran out"), "{log}");
}

/// A preload and an AppConfig prefetch that take 6 s each: side by side they fit the default
/// 8 s INIT budget (one after the other, the second would be cut), so both values are answered
/// from memory; a 1 s budget cuts both, INIT ends, the log says what was left, and the values
/// are read on demand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preload_and_the_prefetch_share_one_init_budget() {
    const SLOW: Duration = Duration::from_secs(6);
    let ssm = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", "AmazonSSM.GetParameter"))
        .respond_with(
            aws_json(
                200,
                serde_json::json!({"Parameter": {"Name": "/app/flag", "Type": "String", "Value": "on", "Version": 1}}),
            )
            .set_delay(SLOW),
        )
        .mount(&ssm)
        .await;
    let fake = FakeAppConfig::start().await;
    fake.deploy(
        "shop",
        "prod",
        "flags",
        br#"{"a":{"enabled":true}}"#,
        "application/json",
    );
    fake.delay_starts(SLOW);
    let flags = "/applications/shop/environments/prod/configurations/flags";
    let config = format!("parameters:\n  - /app/flag\nappconfig:\n  - {flags}\n");
    let vars = [
        ("CACHE_EXTENSION_INIT_STARTUP", "true"),
        ("CACHE_EXTENSION_BACKEND_TIMEOUT", "30s"),
        ("AWS_ENDPOINT_URL_APPCONFIGDATA", &fake.uri()),
    ];

    let ext = Extension::start(&ssm.uri(), Some(&config), &vars).await;
    let log = ext.stderr();
    assert!(
        log.contains("1 of 1 parameters and secrets, 0 table items, 1 of 1 AppConfig profiles"),
        "{log}"
    );
    assert!(!log.contains("ran out"), "{log}");
    let parameter = ext
        .get("/systemsmanager/parameters/get?name=/app/flag")
        .await;
    assert_eq!(
        parameter.header("x-lambda-cache-source"),
        Some("cache"),
        "{parameter:?}"
    );
    let profile = ext.get(flags).await;
    assert_eq!(
        profile.header("x-lambda-cache-source"),
        Some("cache"),
        "{profile:?}"
    );
    assert_eq!(
        (
            fake.starts(),
            ssm.received_requests().await.map(|r| r.len())
        ),
        (1, Some(1))
    );
    drop(ext);

    let vars = [vars.as_slice(), &[("CACHE_EXTENSION_INIT_BUDGET", "1s")]].concat();
    let ext = Extension::start(&ssm.uri(), Some(&config), &vars).await;
    let log = ext.stderr();
    assert!(
        log.contains("0 of 1 parameters and secrets, 0 table items, 0 of 1 AppConfig profiles; the INIT budget of 1s (CACHE_EXTENSION_INIT_BUDGET) ran out: the rest is left for on-demand reads"),
        "{log}"
    );
    // Both reads had started (side by side) when the budget cut them.
    assert_eq!(
        (
            fake.starts(),
            ssm.received_requests().await.map(|r| r.len())
        ),
        (2, Some(2))
    );
    let parameter = ext
        .get("/systemsmanager/parameters/get?name=/app/flag")
        .await;
    assert_eq!(
        parameter.header("x-lambda-cache-source"),
        Some("backend"),
        "{parameter:?}"
    );
}

/// A table larger than the cache, preloaded after two parameters: the preload stops when the
/// cache is full instead of evicting what it read first, says so, and the parameters are still
/// answered from memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preload_larger_than_the_cache_keeps_what_it_read_first() {
    const ITEMS: usize = 400;
    const CAPACITY: usize = 200;
    let client = dynamodb().await;
    let table = unique("Big");
    create_table(&client, &table, ("sku", ScalarAttributeType::S), None).await;
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..ITEMS {
        let (client, table) = (client.clone(), table.clone());
        writes.spawn(async move {
            put_item(&client, &table, &[("sku", s(&format!("k{i}")))]).await;
        });
    }
    while let Some(done) = writes.join_next().await {
        done.expect("put_item");
    }
    let ssm = aws_sdk_ssm::Client::new(&sdk_config(&moto_endpoint()).await);
    let prefix = unique("preload");
    let names: Vec<String> = (0..2).map(|i| format!("/{prefix}/p{i}")).collect();
    for name in &names {
        put_parameter(&ssm, name, ParameterType::String, "on").await;
    }
    let config = format!(
        "parameters:\n  - {}\n  - {}\ndynamodb:\n  - table: {table}\n    hashKey: sku\n",
        names[0], names[1]
    );
    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let ext = Extension::start(
        proxy.endpoint(),
        Some(&config),
        &[
            ("CACHE_EXTENSION_INIT_STARTUP", "true"),
            ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "200"),
        ],
    )
    .await;
    let stats = ext.get("/v1/stats").await.json();
    let entries = stats["cache"]["entries"].as_u64().unwrap_or(u64::MAX);
    assert!(entries <= CAPACITY as u64, "{stats}");
    assert_eq!(stats["cache"]["evictions"], 0, "{stats}");
    for name in &names {
        let answer = ext
            .get(&format!("/systemsmanager/parameters/get?name={name}"))
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(
            answer.header("x-lambda-cache-source"),
            Some("cache"),
            "{name}"
        );
    }
    assert_eq!(proxy.count_of(".GetParameter"), 2, "{:?}", proxy.all());
    let log = ext.stderr();
    assert!(log.contains("the cache holds 200 entries"), "{log}");
    assert!(log.contains("left for on-demand reads"), "{log}");
    assert!(!log.contains("warning"), "{log}");
    drop(ext);

    // A cache.yaml listing more parameters than the cache holds: a warning naming both numbers,
    // and the preload stops rather than evict.
    let ext = Extension::start(
        proxy.endpoint(),
        Some(&config),
        &[
            ("CACHE_EXTENSION_INIT_STARTUP", "true"),
            ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "1"),
        ],
    )
    .await;
    let log = ext.stderr();
    assert!(
        log.contains("warning: cache.yaml lists 2 parameters and secrets to preload, more than the 1 entries the cache holds"),
        "{log}"
    );
    assert!(log.contains("the cache holds 1 entries"), "{log}");
    assert_eq!(ext.get("/v1/stats").await.json()["cache"]["evictions"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_appconfig_route_serves_profiles_and_flags_as_the_aws_appconfig_extension() {
    let fake = FakeAppConfig::start().await;
    fake.set_poll_interval(1);
    let flags_v1 = r#"{"new_cart":{"enabled":false},"banner":{"enabled":true,"text":"Sale!"}}"#;
    fake.deploy(
        "shop",
        "prod",
        "flags",
        flags_v1.as_bytes(),
        "application/json",
    );
    fake.deploy("shop", "prod", "limits", b"max_items=10", "text/plain");
    let flags_path = "/applications/shop/environments/prod/configurations/flags";
    let ext = Extension::start(
        &moto_endpoint(),
        Some(&format!("appconfig:\n  - {flags_path}\n")),
        &[
            ("AWS_ENDPOINT_URL_APPCONFIGDATA", &fake.uri()),
            ("AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS", "1"),
        ],
    )
    .await;
    // Prefetched from cache.yaml before the extension said it was ready.
    assert_eq!((fake.starts(), fake.polls()), (1, 1), "{}", ext.stderr());
    let get = |target: String| {
        let address = ext.appconfig();
        async move {
            http_get(
                &address,
                &target,
                &[("X-Aws-Parameters-Secrets-Token", TOKEN)],
            )
            .await
        }
    };

    let profile = get(flags_path.to_owned()).await;
    assert_eq!(profile.status, 200, "{profile:?}");
    assert_eq!(profile.header("content-type"), Some("application/json"));
    assert_eq!(profile.header("x-lambda-cache-source"), Some("cache"));
    assert_eq!(profile.body, flags_v1);
    let one = get(format!("{flags_path}?flag=banner")).await;
    assert_eq!(
        one.json(),
        serde_json::json!({"enabled": true, "text": "Sale!"})
    );
    let two = get(format!("{flags_path}?flag=banner&flag=new_cart")).await;
    assert_eq!(
        two.json()["new_cart"],
        serde_json::json!({"enabled": false})
    );
    assert_eq!(two.json()["banner"]["enabled"], true);
    let missing = get(format!("{flags_path}?flag=nope")).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["__type"], "FlagNotFound");
    assert!(missing.json()["message"].as_str().unwrap().contains("nope"));
    assert_eq!(fake.polls(), 1, "every answer so far from memory");

    // Another profile, with its own content type, in its own session; also on the other ports.
    let limits = http_get(
        &ext.cache(),
        "/applications/shop/environments/prod/configurations/limits",
        &[("X-Aws-Parameters-Secrets-Token", TOKEN)],
    )
    .await;
    assert_eq!(limits.status, 200, "{limits:?}");
    assert_eq!(limits.header("content-type"), Some("text/plain"));
    assert_eq!(limits.body, "max_items=10");
    assert_eq!((fake.starts(), fake.polls()), (2, 2));
    // Flags of a profile that is not a flags document, and an empty flag name: 400s naming
    // `flag`, from memory (no poll).
    let limits_path = "/applications/shop/environments/prod/configurations/limits";
    let not_flags = get(format!("{limits_path}?flag=max_items")).await;
    assert_eq!(not_flags.status, 400, "{not_flags:?}");
    let message = not_flags.json()["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("flag: "), "{message}");
    assert!(message.contains("shop/prod/limits"), "{message}");
    assert!(
        !message.contains("max_items=10"),
        "the content is never shown: {message}"
    );
    let empty = get(format!("{flags_path}?flag=")).await;
    assert_eq!(empty.status, 400, "{empty:?}");
    assert!(
        empty.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("flag: ")
    );
    assert_eq!((fake.starts(), fake.polls()), (2, 2));

    // Refused: no token, a malformed path, an unknown profile, an unknown parameter.
    let no_token = http_get(&ext.appconfig(), flags_path, &[]).await;
    assert_eq!(no_token.status, 401);
    let malformed = get("/applications/shop/configurations/flags".to_owned()).await;
    assert_eq!(malformed.status, 400, "{malformed:?}");
    assert!(
        malformed.json()["message"]
            .as_str()
            .unwrap()
            .contains("path")
    );
    let unknown = get("/applications/shop/environments/prod/configurations/nope".to_owned()).await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    let refresh = get(format!("{flags_path}?refreshNow=true")).await;
    assert_eq!(refresh.status, 400);

    // The flag flips: after the TTL and AppConfig's poll interval, one poll brings it.
    let polls = fake.polls();
    fake.deploy(
        "shop",
        "prod",
        "flags",
        br#"{"new_cart":{"enabled":true},"banner":{"enabled":false}}"#,
        "application/json",
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let flipped = get(format!("{flags_path}?flag=new_cart")).await;
    assert_eq!(flipped.json(), serde_json::json!({"enabled": true}));
    assert_eq!(flipped.header("x-lambda-cache-source"), Some("backend"));
    assert_eq!(fake.polls(), polls + 1);

    // AppConfig throttles the next poll: the recent value is served stale, not an error.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    fake.fail_polls(1, 429, "ThrottlingException");
    let stale = get(format!("{flags_path}?flag=new_cart")).await;
    assert_eq!(stale.status, 200, "{stale:?}");
    assert_eq!(stale.header("x-lambda-cache-source"), Some("stale"));
    assert_eq!(stale.json(), serde_json::json!({"enabled": true}));
    assert_eq!(fake.refused(), 0, "never a token used twice");
}

/// Multi-variant flags, as the AWS AppConfig agent serves them: the `Context` header (repeated
/// or comma-separated) picks the variant whose rule holds, the default when none does; the
/// whole profile comes evaluated; a flag whose rule does not parse is an error naming it while
/// the others are served; and the profile is polled once, not once per context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_header_picks_the_variant_its_rules_name() {
    let fake = FakeAppConfig::start().await;
    let flags = serde_json::json!({
        "checkout": {"enabled": false, "_variants": [
            {"name": "Staff", "enabled": true, "rule": "(and (eq $tier \"staff\") (exists key::\"country\"))", "attributeValues": {"layout": "debug"}},
            {"name": "Beta", "enabled": true, "rule": "(or (in $tier [\"beta\"]) (gte $age 65))", "attributeValues": {"layout": "v2"}},
            {"name": "Default", "enabled": false, "attributeValues": {"layout": "v1"}}
        ]},
        "broken": {"enabled": false, "_variants": [
            {"name": "Odd", "enabled": true, "rule": "(eq $tier"},
            {"name": "Default", "enabled": false}
        ]},
        "banner": {"enabled": true}
    });
    fake.deploy(
        "shop",
        "prod",
        "flags",
        flags.to_string().as_bytes(),
        "application/json",
    );
    let path = "/applications/shop/environments/prod/configurations/flags";
    let ext = Extension::start(
        &moto_endpoint(),
        None,
        &[("AWS_ENDPOINT_URL_APPCONFIGDATA", &fake.uri())],
    )
    .await;
    let get = |target: String, context: Vec<&'static str>| {
        let address = ext.appconfig();
        async move {
            let mut headers = vec![("X-Aws-Parameters-Secrets-Token", TOKEN)];
            headers.extend(context.into_iter().map(|c| ("Context", c)));
            http_get(&address, &target, &headers).await
        }
    };
    let checkout = format!("{path}?flag=checkout");
    for (context, variant, layout) in [
        (vec!["tier=beta"], "Beta", "v2"),
        (vec!["age=70"], "Beta", "v2"),
        (vec!["tier=staff", "country=NO"], "Staff", "debug"),
        (vec!["tier=staff,country=NO"], "Staff", "debug"),
        (vec!["tier=staff"], "Default", "v1"),
        (vec![], "Default", "v1"),
    ] {
        let answer = get(checkout.clone(), context.clone()).await;
        assert_eq!(answer.status, 200, "{context:?}: {answer:?}");
        let body = answer.json();
        assert_eq!(
            (body["_variant"].as_str(), body["layout"].as_str()),
            (Some(variant), Some(layout)),
            "{context:?}: {body}"
        );
    }
    let whole = get(path.to_owned(), vec!["tier=beta"]).await;
    assert_eq!(
        whole.status, 502,
        "the broken flag is in the whole profile: {whole:?}"
    );
    let two = get(
        format!("{path}?flag=checkout&flag=banner"),
        vec!["tier=beta"],
    )
    .await;
    assert_eq!(two.json()["checkout"]["_variant"], "Beta", "{two:?}");
    assert_eq!(two.json()["banner"], serde_json::json!({"enabled": true}));
    let broken = get(format!("{path}?flag=broken"), vec![]).await;
    assert_eq!(broken.status, 502, "{broken:?}");
    assert_eq!(broken.json()["__type"], "InvalidFeatureFlag");
    let message = broken.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("\"broken\"") && message.contains("\"Odd\""),
        "{message}"
    );
    let malformed = get(checkout.clone(), vec!["no-equals-sign"]).await;
    assert_eq!(malformed.status, 400, "{malformed:?}");
    assert!(
        malformed.json()["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Context: ")
    );
    assert_eq!(
        (fake.starts(), fake.polls()),
        (1, 1),
        "one read for every context"
    );

    // A profile whose flags all parse comes whole, evaluated.
    let fine = serde_json::json!({"checkout": flags["checkout"], "banner": flags["banner"]});
    fake.deploy(
        "shop",
        "prod",
        "fine",
        fine.to_string().as_bytes(),
        "application/json",
    );
    let whole = get(
        "/applications/shop/environments/prod/configurations/fine".to_owned(),
        vec!["age=80"],
    )
    .await;
    assert_eq!(whole.status, 200, "{whole:?}");
    assert_eq!(
        whole.json(),
        serde_json::json!({
            "checkout": {"enabled": true, "layout": "v2", "_variant": "Beta"},
            "banner": {"enabled": true}
        })
    );
}

/// Refresh ahead (0.8 of the TTL by default): a request past it is answered from memory at
/// once, with the value held, while one refresh runs in the background (the stand-in's second
/// answer takes 3 s; the request does not wait for it); the refreshed value then answers.
/// With stale-while-revalidate, a request past the TTL within the window is answered with the
/// held value, marked stale, while the refresh runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_at_the_ttl_boundary_are_answered_at_once_while_one_refresh_runs() {
    let item = |v: &str| {
        aws_json(
            200,
            serde_json::json!({"Item": {"pk": {"S": "k"}, "v": {"N": v}}}),
        )
    };
    for (vars, wait_ms, source, counter) in [
        (
            vec![("CACHE_EXTENSION_TTL", "1s")],
            850,
            "cache",
            "refreshedAhead",
        ),
        (
            vec![
                ("CACHE_EXTENSION_TTL", "500ms"),
                ("CACHE_EXTENSION_REFRESH_AHEAD", "off"),
                ("CACHE_EXTENSION_STALE_WHILE_REVALIDATE", "10s"),
            ],
            650,
            "stale",
            "servedWhileRevalidating",
        ),
    ] {
        let server = answer_once_then(
            "DynamoDB_20120810.GetItem",
            item("1"),
            item("2").set_delay(Duration::from_secs(3)),
        )
        .await;
        let ext = Extension::start(&server.uri(), Some(TABLE_T), &vars).await;
        assert_eq!(ext.get("/dynamodb?name=T@@k").await.json()["v"], 1);
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        for _ in 0..5 {
            let held = ext.get("/dynamodb?name=T@@k").await;
            assert_eq!(held.status, 200, "{vars:?}: {held:?}");
            assert_eq!(held.json()["v"], 1, "{vars:?}: the held value, at once");
            assert_eq!(
                held.header("x-lambda-cache-source"),
                Some(source),
                "{vars:?}"
            );
        }
        // One refresh started in the background for the five requests.
        let mut started = 0;
        for _ in 0..200 {
            started = server.received_requests().await.map_or(0, |r| r.len());
            if started == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(started, 2, "{vars:?}");
        let stats = ext.get("/v1/stats").await.json();
        assert_eq!(stats["routes"]["dynamodb"][counter], 5, "{stats}");
        // Once the stand-in answers, the refreshed value is served from memory.
        let mut refreshed = serde_json::Value::Null;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            refreshed = ext.get("/dynamodb?name=T@@k").await.json();
            if refreshed["v"] == 2 {
                break;
            }
        }
        assert_eq!(refreshed["v"], 2, "{vars:?}");
        assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
        drop(ext);
    }
}

/// Two extension processes (two environments of a fleet) on one shared tier: the first read of
/// a parameter costs one GetParameter(s) call for both; past the TTL, both asked at once, one
/// more. A secret stays out of the tier unless CACHE_EXTENSION_SHARED_TIER_SECRETS says so;
/// `/v1/stats` counts the tier's hits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_extensions_on_one_shared_tier_make_one_backend_call_per_key() {
    let server = lambda_cache_testkit::RedisServer::start();
    let client = aws_sdk_ssm::Client::new(&sdk_config(&moto_endpoint()).await);
    let name = format!("/{}", unique("fleet"));
    put_parameter(&client, &name, ParameterType::String, "v1").await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk_config(&moto_endpoint()).await);
    let secret = unique("fleet/secret");
    create_secret(&secrets, &secret, "s3cr3t").await;
    let proxy = CountingProxy::start(&moto_endpoint()).await;
    // The default prefix: the account (from the register answer), the region, the function.
    let vars = [
        ("CACHE_EXTENSION_SHARED_TIER", server.url()),
        ("CACHE_EXTENSION_TTL", "1s".to_owned()),
        ("CACHE_EXTENSION_REFRESH_AHEAD", "off".to_owned()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (a, b) = (
        Extension::start(proxy.endpoint(), None, &vars).await,
        Extension::start(proxy.endpoint(), None, &vars).await,
    );
    let parameter = format!("/systemsmanager/parameters/get?name={name}");
    let read = |ext: &Extension| {
        let (address, target) = (ext.aws(), parameter.clone());
        async move {
            let answer = http_get(
                &address,
                &target,
                &[("X-Aws-Parameters-Secrets-Token", TOKEN)],
            )
            .await;
            assert_eq!(answer.status, 200, "{answer:?}");
            answer.json()["Parameter"]["Value"].clone()
        }
    };
    let calls = || proxy.count_of(".GetParameter") + proxy.count_of(".GetParameters");
    assert_eq!(read(&a).await, "v1");
    assert_eq!(read(&b).await, "v1");
    assert_eq!(calls(), 1, "{:?}", proxy.all());
    // Past the TTL, in the tier too; both asked at once.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    put_parameter(&client, &name, ParameterType::String, "v2").await;
    let (from_a, from_b) = tokio::join!(read(&a), read(&b));
    assert_eq!((from_a, from_b), ("v2".into(), "v2".into()));
    assert_eq!(calls(), 2, "{:?}", proxy.all());
    // A secret is read by each (not shared by default).
    let target = format!("/secretsmanager/get?secretId={secret}");
    for ext in [&a, &b] {
        let answer = http_get(
            &ext.aws(),
            &target,
            &[("X-Aws-Parameters-Secrets-Token", TOKEN)],
        )
        .await;
        assert_eq!(answer.json()["SecretString"], "s3cr3t");
    }
    assert_eq!(proxy.count_of(".GetSecretValue"), 2);
    let mut shared_hits = 0;
    for ext in [&a, &b] {
        let stats = ext.get("/v1/stats").await.json();
        shared_hits += stats["sharedTier"]["hits"].as_u64().unwrap_or_default();
        assert_eq!(stats["sharedTier"]["errors"], 0, "{stats}");
    }
    assert_eq!(
        shared_hits, 2,
        "b's first read and one of the two after the TTL"
    );
}

/// The function's `AWS_ENDPOINT_URL_*` variables are the extension's too. Those pointing at
/// the extension itself (a loopback address, a port it listens on) are ignored for its own
/// backend calls, which go to the next endpoint (here the global `AWS_ENDPOINT_URL`), and
/// INIT says so; otherwise each read would call the extension itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_variables_pointing_at_the_extension_make_no_loop() {
    let client = aws_sdk_ssm::Client::new(&sdk_config(&moto_endpoint()).await);
    let name = format!("/{}", unique("loop"));
    put_parameter(&client, &name, ParameterType::String, "v1").await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk_config(&moto_endpoint()).await);
    let secret = unique("loop/secret");
    create_secret(&secrets, &secret, "s1").await;
    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let port = free_port().to_string();
    let here = format!("http://127.0.0.1:{port}");
    let also_here = format!("http://localhost:{port}/");
    let ext = Extension::start(
        proxy.endpoint(),
        None,
        &[
            ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", &port),
            ("AWS_ENDPOINT_URL_SSM", &here),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &also_here),
        ],
    )
    .await;
    let address = format!("127.0.0.1:{port}");
    let token = [("X-Aws-Parameters-Secrets-Token", TOKEN)];
    let parameter = http_get(
        &address,
        &format!("/systemsmanager/parameters/get?name={name}"),
        &token,
    )
    .await;
    assert_eq!(parameter.status, 200, "{parameter:?}");
    assert_eq!(parameter.json()["Parameter"]["Value"], "v1");
    let read = http_get(
        &address,
        &format!("/secretsmanager/get?secretId={secret}"),
        &token,
    )
    .await;
    assert_eq!(read.json()["SecretString"], "s1", "{read:?}");
    assert_eq!(proxy.count_of(".GetParameter"), 1, "{:?}", proxy.all());
    assert_eq!(proxy.count_of(".GetSecretValue"), 1);
    let log = ext.stderr();
    for variable in ["AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_SECRETS_MANAGER"] {
        assert!(
            log.contains(&format!("{variable} points at this extension")),
            "{log}"
        );
    }
    assert!(!log.contains("AWS_ENDPOINT_URL_DYNAMODB"), "{log}");
}

/// A function's own SDK code, as a program of the tests' `clients/` directory.
#[derive(Clone, Copy, Debug)]
enum SdkClient {
    /// `clients/boto3_client.py`, on the Python that has boto3.
    Boto3,
    /// `clients/js_client.mjs`, the AWS SDK for JavaScript v3 from `clients/package.json`.
    JavaScript,
}

impl SdkClient {
    fn command(self) -> std::process::Command {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients");
        match self {
            Self::Boto3 => {
                let mut cmd = lambda_cache_testkit::boto3_python();
                cmd.arg(format!("{dir}/boto3_client.py"));
                cmd
            }
            Self::JavaScript => {
                let node = std::env::var("LAMBDA_CACHE_NODE").expect(
                    "LAMBDA_CACHE_NODE is not set: run the tests with `cargo xtask test`, which \
                     finds node and installs the JavaScript SDK (node is needed)",
                );
                let mut cmd = std::process::Command::new(node);
                for (name, _) in std::env::vars_os() {
                    if name.to_string_lossy().starts_with("AWS_") {
                        cmd.env_remove(name);
                    }
                }
                cmd.arg(format!("{dir}/js_client.mjs")).current_dir(dir);
                cmd
            }
        }
    }

    /// Runs the client with `plan` on standard input, its SDK pointed at `address` only
    /// through the `AWS_ENDPOINT_URL_*` variables and signing with this environment's
    /// credentials; returns what it printed.
    fn run(self, address: &str, plan: &serde_json::Value) -> serde_json::Value {
        use std::io::Write as _;
        let mut cmd = self.command();
        let mut child = lambda_cache_testkit::point_sdk_at_extension(&mut cmd, address, TOKEN)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("the {self:?} client does not start: {e}"));
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(plan.to_string().as_bytes())
            .expect("the plan is written");
        let out = child.wait_with_output().expect("the client ends");
        assert!(
            out.status.success(),
            "the {self:?} client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("the client prints JSON")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_unchanged_reads_through_the_sdk_endpoint() {
    sdk_client_reads_and_writes(SdkClient::Boto3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_sdk_unchanged_reads_through_the_sdk_endpoint() {
    sdk_client_reads_and_writes(SdkClient::JavaScript).await;
}

/// One client's whole scenario against a new extension and a counting proxy: 100 reads each,
/// 25 names in three calls twice, 11 names, a missing name, other credentials, writes then
/// reads; then the Rust SDK on the same extension.
async fn sdk_client_reads_and_writes(client: SdkClient) {
    let config = sdk_config(&moto_endpoint()).await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let prefix = format!("/{}", unique("sdk"));
    let names: Vec<String> = (0..25).map(|i| format!("{prefix}/p{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        put_parameter(&ssm, name, ParameterType::String, &format!("value-{i}")).await;
    }
    // Five more deeper down: a recursive walk of the prefix finds 30.
    let mut tree = names.clone();
    for i in 0..5 {
        let name = format!("{prefix}/deep/q{i}");
        put_parameter(&ssm, &name, ParameterType::String, "deep").await;
        tree.push(name);
    }
    tree.sort();
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let secret = unique("sdk/secret");
    create_secret(&secrets, &secret, "s3cr3t-value").await;
    let (secret2, secret3) = (unique("sdk/secret2"), unique("sdk/secret3"));
    create_secret(&secrets, &secret2, "second-value").await;
    create_secret(&secrets, &secret3, "third-value").await;
    let table = unique("sdk-table");
    let ddb = dynamodb().await;
    create_table(&ddb, &table, ("pk", ScalarAttributeType::S), None).await;
    put_item(
        &ddb,
        &table,
        &[("pk", s("a")), ("n", n("42")), ("s", s("hello"))],
    )
    .await;
    put_item(&ddb, &table, &[("pk", s("b")), ("s", s("bee"))]).await;
    put_item(&ddb, &table, &[("pk", s("c")), ("s", s("sea"))]).await;

    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let ext = Extension::start(proxy.endpoint(), None, &[]).await;
    let plan = serde_json::json!({
        "reads": 100,
        "parameter": names[0],
        "names": names,
        "missing": format!("{prefix}/none"),
        "path": prefix,
        "secret": secret,
        "secret2": secret2,
        "secret3": secret3,
        "table": table,
        "key": {"pk": {"S": "a"}},
    });
    let out = client.run(&ext.cache(), &plan);
    let calls = proxy.all();

    // 100 reads of each: one backend call each, and the values as the emulator holds them.
    assert_eq!(out["parameter"], serde_json::json!(["value-0"]), "{out}");
    // The date as each SDK's own date type: the wire form is seconds since the epoch.
    let date_type = match client {
        SdkClient::Boto3 => "datetime",
        SdkClient::JavaScript => "Date",
    };
    assert_eq!(out["last_modified_type"], date_type, "{out}");
    if let SdkClient::Boto3 = client {
        for field in [
            "ARN",
            "DataType",
            "LastModifiedDate",
            "Name",
            "Type",
            "Value",
            "Version",
        ] {
            assert!(
                out["parameter_fields"]
                    .as_array()
                    .unwrap()
                    .contains(&field.into()),
                "{field}: {out}"
            );
        }
    }
    assert_eq!(out["secret"], serde_json::json!(["s3cr3t-value"]), "{out}");
    assert_eq!(
        out["item"],
        serde_json::json!({"pk": {"S": "a"}, "n": {"N": "42"}, "s": {"S": "hello"}})
    );
    assert_eq!(out["items_alike"], true);
    // In the order the client made them: one read of each for its 100, ...
    assert_eq!(
        calls[..3],
        [
            "AmazonSSM.GetParameter",
            "secretsmanager.GetSecretValue",
            "DynamoDB_20120810.GetItem"
        ],
        "{calls:?}"
    );

    // 25 names in three GetParameters calls: at most 3 backend calls (one name was held from
    // GetParameter), none for the second round; SSM's own names and values.
    let expected: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), format!("value-{i}").into()))
        .collect();
    assert_eq!(out["first"], serde_json::Value::Object(expected.clone()));
    assert_eq!(out["second"], serde_json::Value::Object(expected));
    assert_eq!(out["first_invalid"], serde_json::json!([]));
    // 11 names: SSM's ValidationException, from the extension, with no backend call. A
    // missing name beside a held one: InvalidParameters, one GetParameter call (a lone miss
    // takes the single-flight path) remembered for the GetParameter that follows.
    assert_eq!(out["eleven"], "ValidationException", "{out}");
    assert_eq!(
        out["with_missing"],
        serde_json::json!([[format!("{prefix}/none")], 1])
    );
    let missing = match client {
        SdkClient::Boto3 => "ssm.exceptions.ParameterNotFound: ParameterNotFound",
        SdkClient::JavaScript => "ParameterNotFound (its own class)",
    };
    assert_eq!(out["missing"], missing, "{out}");
    assert_eq!(
        calls[3..7],
        [
            "AmazonSSM.GetParameters",
            "AmazonSSM.GetParameters",
            "AmazonSSM.GetParameters",
            "AmazonSSM.GetParameter"
        ],
        "{calls:?}"
    );

    // Other credentials: the SDK raises the service's auth errors; the backend sees nothing.
    assert_eq!(out["foreign_key"], "UnrecognizedClientException", "{out}");
    assert_eq!(out["forged"], "InvalidSignatureException", "{out}");
    assert_eq!(out["forged_secret"], "InvalidSignatureException", "{out}");
    // A write passes through (re-signed: the emulator took it) and drops what it changed:
    // the read that follows is the new value, one backend read each.
    assert_eq!(out["after_put"], "changed", "{out}");
    assert_eq!(out["after_rotate"], "rotated-value", "{out}");
    assert_eq!(
        out["after_put_item"]["s"],
        serde_json::json!({"S": "changed"})
    );
    // 30 parameters in 3 pages, twice: one walk at the backend for both (3 pages, and a
    // fourth, empty, where the emulator gave a NextToken with the third, as SSM may).
    let walk = serde_json::json!([3, tree]);
    assert_eq!((&out["path_first"], &out["path_second"]), (&walk, &walk));
    let pages = calls
        .iter()
        .filter(|c| *c == "AmazonSSM.GetParametersByPath")
        .count();
    assert!((3..=4).contains(&pages), "{calls:?}");
    assert!(
        calls[7..7 + pages]
            .iter()
            .all(|c| c == "AmazonSSM.GetParametersByPath"),
        "one walk, before the second round: {calls:?}"
    );
    // Three secrets, one held: one BatchGetSecretValue; three items, one held: one
    // BatchGetItem; two projected: one more; the second rounds none; 101 keys DynamoDB's own
    // ValidationException, with no backend call.
    let secrets_round = serde_json::json!([["s3cr3t-value", "second-value", "third-value"], []]);
    assert_eq!(
        (&out["secrets_first"], &out["secrets_second"]),
        (&secrets_round, &secrets_round),
        "{out}"
    );
    let items_round = serde_json::json!([["bee", "hello", "sea"], {}]);
    assert_eq!(
        (&out["items_first"], &out["items_second"]),
        (&items_round, &items_round),
        "{out}"
    );
    assert_eq!(
        out["items_projected"],
        serde_json::json!([r#"{"s": {"S": "bee"}}"#, r#"{"s": {"S": "hello"}}"#]),
        "{out}"
    );
    assert_eq!(out["hundred_and_one"], "ValidationException", "{out}");
    let at = 7 + pages;
    assert_eq!(
        calls[at..at + 3],
        [
            "secretsmanager.BatchGetSecretValue",
            "DynamoDB_20120810.BatchGetItem",
            "DynamoDB_20120810.BatchGetItem"
        ],
        "{calls:?}"
    );
    assert_eq!(
        calls[at + 3..],
        [
            "AmazonSSM.PutParameter",
            "AmazonSSM.GetParameter",
            "secretsmanager.PutSecretValue",
            "secretsmanager.GetSecretValue",
            "DynamoDB_20120810.PutItem",
            "DynamoDB_20120810.GetItem"
        ],
        "{calls:?}"
    );
    let stats = ext.get("/v1/stats").await.json();
    // 100 reads, one for a missing name, one after the write (and boto3's read of its fields).
    let get_parameter = match client {
        SdkClient::Boto3 => 103,
        SdkClient::JavaScript => 102,
    };
    assert_eq!(
        stats["sdk"]["operations"]["GetParameter"], get_parameter,
        "{stats}"
    );
    assert_eq!(stats["sdk"]["operations"]["GetParameters"], 8, "{stats}");
    assert_eq!(
        stats["sdk"]["operations"]["GetParametersByPath"], 6,
        "{stats}"
    );
    assert_eq!(stats["sdk"]["operations"]["ssm:passthrough"], 1, "{stats}");
    assert_eq!(stats["sdk"]["operations"]["refused"], 3, "{stats}");
    assert!(stats["sdk"]["invalidated"].as_u64() >= Some(3), "{stats}");

    // The Rust SDK, its endpoint the extension: the same entries, and its own error types.
    let here = sdk_config(&format!("http://{}", ext.cache())).await;
    let rust_ssm = aws_sdk_ssm::Client::new(&here);
    for _ in 0..100 {
        let out = rust_ssm
            .get_parameter()
            .name(&names[1])
            .send()
            .await
            .unwrap();
        assert_eq!(out.parameter().and_then(|p| p.value()), Some("value-1"));
        assert!(
            out.parameter()
                .and_then(|p| p.last_modified_date())
                .is_some()
        );
    }
    let batch = rust_ssm
        .get_parameters()
        .set_names(Some(names[10..20].to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.parameters().len(), 10);
    let missing = rust_ssm
        .get_parameter()
        .name(format!("{prefix}/none"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_parameter_not_found(), "{missing:?}");
    let eleven = rust_ssm
        .get_parameters()
        .set_names(Some(names[..11].to_vec()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&eleven),
        Some("ValidationException")
    );
    let rust_secrets = aws_sdk_secretsmanager::Client::new(&here);
    let value = rust_secrets
        .get_secret_value()
        .secret_id(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(value.secret_string(), Some("rotated-value"));
    let rust_ddb = aws_sdk_dynamodb::Client::new(&here);
    let item = rust_ddb
        .get_item()
        .table_name(&table)
        .key("pk", s("a"))
        .send()
        .await
        .unwrap();
    assert_eq!(item.item().and_then(|i| i.get("s")), Some(&s("changed")));
    assert_eq!(proxy.all().len(), calls.len(), "{:?}", proxy.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_the_cache_never_serves_pass_through_unchanged() {
    let config = sdk_config(&moto_endpoint()).await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let prefix = format!("/{}", unique("pass"));
    for i in 0..3 {
        put_parameter(&ssm, &format!("{prefix}/p{i}"), ParameterType::String, "v").await;
    }
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let secret = unique("pass/secret");
    create_secret(&secrets, &secret, "x").await;
    let table = unique("pass-table");
    let ddb = dynamodb().await;
    create_table(&ddb, &table, ("pk", ScalarAttributeType::S), None).await;
    put_item(&ddb, &table, &[("pk", s("a")), ("n", n("1"))]).await;

    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let ext = Extension::start(proxy.endpoint(), None, &[]).await;
    let json11 = "application/x-amz-json-1.1";
    let json10 = "application/x-amz-json-1.0";
    let cases = [
        (
            "AmazonSSM.DescribeParameters",
            json11,
            serde_json::json!({"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith", "Values": [prefix]}]}),
        ),
        (
            "DynamoDB_20120810.Query",
            json10,
            serde_json::json!({"TableName": table, "KeyConditionExpression": "pk = :k", "ExpressionAttributeValues": {":k": {"S": "a"}}}),
        ),
        (
            "secretsmanager.ListSecrets",
            json11,
            serde_json::json!({"Filters": [{"Key": "name", "Values": [secret]}]}),
        ),
        // The service's own error, passed through as it gave it.
        (
            "AmazonSSM.DescribeParameters",
            json11,
            serde_json::json!({"MaxResults": 5000}),
        ),
    ];
    for (target, content_type, body) in cases {
        let body = body.to_string();
        let headers = [("x-amz-target", target), ("content-type", content_type)];
        // moto reads the region and account off the credential scope, and checks no
        // signature: a well-formed header is enough for the direct call.
        let service = match target.split('.').next() {
            Some("AmazonSSM") => "ssm",
            Some("DynamoDB_20120810") => "dynamodb",
            _ => "secretsmanager",
        };
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=testing/20261205/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
        );
        let mut direct_headers = headers.to_vec();
        direct_headers.push(("authorization", &authorization));
        let direct =
            lambda_cache_testkit::http_post(&moto_endpoint(), &direct_headers, &body).await;
        let mut with_token = headers.to_vec();
        with_token.push(("X-Aws-Parameters-Secrets-Token", TOKEN));
        let through = lambda_cache_testkit::http_post(&ext.cache(), &with_token, &body).await;
        assert_eq!(
            (through.status, &through.body),
            (direct.status, &direct.body),
            "{target}"
        );
        assert_eq!(
            through.header("content-type"),
            direct.header("content-type"),
            "{target}"
        );
    }
    assert_eq!(
        proxy.count_of(".DescribeParameters"),
        2,
        "{:?}",
        proxy.all()
    );
    assert_eq!(proxy.count_of(".Query"), 1);
    assert_eq!(proxy.count_of(".ListSecrets"), 1);
    // Neither the token nor a signature: refused, and the service sees nothing.
    let bare = lambda_cache_testkit::http_post(
        &ext.cache(),
        &[
            ("x-amz-target", "secretsmanager.ListSecrets"),
            ("content-type", json11),
        ],
        "{}",
    )
    .await;
    assert_eq!(bare.status, 400, "{bare:?}");
    assert_eq!(bare.json()["__type"], "MissingAuthenticationTokenException");
    assert_eq!(
        bare.header("x-amzn-errortype"),
        Some("MissingAuthenticationTokenException")
    );
    // Refused before its body is read: a request that announces 16 MiB and sends none is
    // answered at once.
    let announced = format!(
        "POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-amz-target: secretsmanager.ListSecrets\r\ncontent-length: {}\r\n\r\n",
        16 << 20
    );
    let early = tokio::time::timeout(
        Duration::from_secs(5),
        lambda_cache_testkit::http_raw(&ext.cache(), announced.as_bytes()),
    )
    .await
    .expect("answered without the body");
    assert_eq!(early.status, 400, "{early:?}");
    assert_eq!(proxy.count_of(".ListSecrets"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_backend_with_a_recent_value_still_answers_each_sdk() {
    let config = sdk_config(&moto_endpoint()).await;
    let parameter = format!("/{}", unique("sdk-stale"));
    put_parameter(
        &aws_sdk_ssm::Client::new(&config),
        &parameter,
        ParameterType::String,
        "held",
    )
    .await;
    let secret = unique("sdk-stale/secret");
    create_secret(
        &aws_sdk_secretsmanager::Client::new(&config),
        &secret,
        "held-secret",
    )
    .await;
    let table = unique("sdk-stale-table");
    let ddb = dynamodb().await;
    create_table(&ddb, &table, ("pk", ScalarAttributeType::S), None).await;
    put_item(&ddb, &table, &[("pk", s("a")), ("v", s("held-item"))]).await;
    let proxy = FaultProxy::start(&moto_endpoint(), Dialect::AwsJson).await;
    let ext = Extension::start(
        &proxy.endpoint(),
        None,
        &[
            ("CACHE_EXTENSION_TTL", "1s"),
            ("SSM_PARAMETER_STORE_TTL", "1"),
            ("SECRETS_MANAGER_TTL", "1"),
            ("CACHE_EXTENSION_REFRESH_AHEAD", "off"),
        ],
    )
    .await;
    let plan = serde_json::json!({
        "mode": "read",
        "parameter": parameter,
        "secret": secret,
        "table": table,
        "key": {"pk": {"S": "a"}},
    });
    let held = serde_json::json!({
        "parameter": "held",
        "secret": "held-secret",
        "item": {"pk": {"S": "a"}, "v": {"S": "held-item"}},
    });
    for client in [SdkClient::Boto3, SdkClient::JavaScript] {
        assert_eq!(client.run(&ext.cache(), &plan), held, "{client:?}");
    }
    let before = proxy.requests();
    assert_eq!(before, 3, "one read of each for both clients");
    // The backend throttles from now on, and every value is past its TTL: each SDK still
    // gets the value held, and the backend was asked (and throttled) for it.
    proxy.inject(Fault::Throttle).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for client in [SdkClient::Boto3, SdkClient::JavaScript] {
        assert_eq!(client.run(&ext.cache(), &plan), held, "{client:?}");
    }
    let rust_ssm = aws_sdk_ssm::Client::new(&sdk_config(&format!("http://{}", ext.cache())).await);
    let out = rust_ssm
        .get_parameter()
        .name(&parameter)
        .send()
        .await
        .unwrap();
    assert_eq!(out.parameter().and_then(|p| p.value()), Some("held"));
    assert!(proxy.requests() > before, "the backend was asked");
    let stats = ext.get("/v1/stats").await.json();
    for route in ["ssm", "secrets", "dynamodb"] {
        assert!(
            stats["routes"][route]["staleServed"].as_u64() >= Some(1),
            "{route}: {stats}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appconfigdata_sessions_poll_one_real_session_through_the_sdk_endpoint() {
    let fake = FakeAppConfig::start().await;
    fake.set_poll_interval(1);
    fake.deploy(
        "shop",
        "prod",
        "flags",
        br#"{"cart":{"enabled":false}}"#,
        "application/json",
    );
    let ext = Extension::start(
        &moto_endpoint(),
        None,
        &[
            ("AWS_ENDPOINT_URL_APPCONFIGDATA", &fake.uri()),
            ("AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS", "1"),
        ],
    )
    .await;
    let plan = |token: Option<&serde_json::Value>| {
        let mut plan = serde_json::json!({
            "mode": "appconfig",
            "application": "shop",
            "environment": "prod",
            "profile": "flags",
            "polls": 2,
        });
        if let Some(token) = token {
            plan["token"] = token.clone();
        }
        plan
    };
    // boto3 starts a session and polls twice: the content, then an empty body (its last
    // answer is current). AppConfig's own errors come as the SDK's exceptions.
    let v1 = r#"{"cart":{"enabled":false}}"#;
    let first = SdkClient::Boto3.run(&ext.cache(), &plan(None));
    assert_eq!(first["bodies"], serde_json::json!([v1, ""]), "{first}");
    assert_eq!(first["content_type"], "application/json");
    assert_eq!(first["interval"], 15);
    assert_eq!(first["missing"], "ResourceNotFoundException", "{first}");
    assert_eq!(first["bad_token"], "BadRequestException", "{first}");
    // A new version: past AppConfig's interval, the same client's next poll gets it, then
    // an empty body again; a JavaScript client's new session gets it at once.
    let v2 = r#"{"cart":{"enabled":true}}"#;
    fake.deploy("shop", "prod", "flags", v2.as_bytes(), "application/json");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = SdkClient::Boto3.run(&ext.cache(), &plan(Some(&first["token"])));
    assert_eq!(later["bodies"], serde_json::json!([v2, ""]), "{later}");
    let js = SdkClient::JavaScript.run(&ext.cache(), &plan(None));
    assert_eq!(js["bodies"], serde_json::json!([v2, ""]), "{js}");
    assert_eq!(js["missing"], "ResourceNotFoundException", "{js}");
    assert_eq!(js["bad_token"], "BadRequestException", "{js}");
    // Every client's sessions and polls: one real session for the profile, never polled
    // faster than AppConfig allows (its interval is 1 s here; the runs took about 3 s).
    // Three starts: the profile's one real session, and one per client for the missing
    // profile (a remembered failure lasts at most the route's TTL, 1 s here).
    assert_eq!(fake.starts(), 3, "one real session for the profile");
    assert!(fake.polls() <= 5, "{} polls", fake.polls());
    assert_eq!(fake.refused(), 0);
    let stats = ext.get("/v1/stats").await.json();
    // Three runs of two polls and one bad token; two sessions started and three missing.
    let operations = &stats["sdk"]["operations"];
    assert_eq!(operations["GetLatestConfiguration"], 9, "{stats}");
    assert_eq!(operations["StartConfigurationSession"], 5, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passthrough_to_a_service_that_cannot_be_reached_is_a_retryable_503() {
    let proxy = FaultProxy::start(&moto_endpoint(), Dialect::AwsJson).await;
    let ext = Extension::start(
        &proxy.endpoint(),
        None,
        &[("CACHE_EXTENSION_BACKEND_TIMEOUT", "1s")],
    )
    .await;
    let headers = [
        ("x-amz-target", "AmazonSSM.DescribeParameters"),
        ("content-type", "application/x-amz-json-1.1"),
        ("X-Aws-Parameters-Secrets-Token", TOKEN),
    ];
    for fault in [Fault::Refused, Fault::Timeout] {
        proxy.inject(fault).await;
        let answer = lambda_cache_testkit::http_post(&ext.cache(), &headers, "{}").await;
        assert_eq!(answer.status, 503, "{fault:?}: {answer:?}");
        assert_eq!(answer.json()["__type"], "ServiceUnavailable", "{fault:?}");
        assert_eq!(
            answer.header("x-amzn-errortype"),
            Some("ServiceUnavailable")
        );
        assert!(answer.header("x-amzn-requestid").is_some());
        proxy.clear().await;
    }
    // And once it is back, the same request passes through.
    let answer = lambda_cache_testkit::http_post(&ext.cache(), &headers, "{}").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.json()["Parameters"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sdk_requests_get_the_services_typed_errors_naming_the_input() {
    let proxy = CountingProxy::start(&moto_endpoint()).await;
    let ext = Extension::start(proxy.endpoint(), None, &[]).await;
    let json11 = "application/x-amz-json-1.1";
    let json10 = "application/x-amz-json-1.0";
    let many_ids: Vec<String> = (0..21).map(|i| format!("s{i}")).collect();
    let cases = [
        (
            "AmazonSSM.GetParameter",
            json11,
            "not json".to_owned(),
            400,
            "SerializationException",
            "JSON",
        ),
        (
            "AmazonSSM.GetParameter",
            json11,
            "{}".to_owned(),
            400,
            "ValidationException",
            "'name'",
        ),
        (
            "AmazonSSM.GetParameter",
            json11,
            r#"{"Name": "bad name!"}"#.to_owned(),
            400,
            "ValidationException",
            "bad name!",
        ),
        (
            "AmazonSSM.GetParameter",
            json11,
            r#"{"Name": 7}"#.to_owned(),
            400,
            "SerializationException",
            "Name",
        ),
        (
            "AmazonSSM.GetParameters",
            json11,
            r#"{"Names": "a"}"#.to_owned(),
            400,
            "SerializationException",
            "Names",
        ),
        (
            "AmazonSSM.GetParametersByPath",
            json11,
            r#"{"Path": "/a", "MaxResults": 11}"#.to_owned(),
            400,
            "ValidationException",
            "maxResults",
        ),
        (
            "AmazonSSM.GetParametersByPath",
            json11,
            r#"{"Path": "/a", "NextToken": "x"}"#.to_owned(),
            400,
            "InvalidNextToken",
            "token",
        ),
        (
            "AmazonSSM.GetParametersByPath",
            json11,
            r#"{"Path": "/a", "ParameterFilters": [{"Option": "Equals"}]}"#.to_owned(),
            400,
            "ValidationException",
            "'key'",
        ),
        (
            "secretsmanager.BatchGetSecretValue",
            json11,
            serde_json::json!({"SecretIdList": many_ids}).to_string(),
            400,
            "ValidationException",
            "secretIdList",
        ),
        (
            "secretsmanager.BatchGetSecretValue",
            json11,
            r#"{"SecretIdList": [1]}"#.to_owned(),
            400,
            "SerializationException",
            "SecretIdList",
        ),
        (
            "DynamoDB_20120810.GetItem",
            json10,
            r#"{"TableName": "t"}"#.to_owned(),
            400,
            "ValidationException",
            "'key'",
        ),
        (
            "DynamoDB_20120810.GetItem",
            json10,
            r#"{"TableName": "t", "Key": {"pk": {"X": "a"}}}"#.to_owned(),
            400,
            "SerializationException",
            "pk",
        ),
        (
            "DynamoDB_20120810.BatchGetItem",
            json10,
            r#"{"RequestItems": {"t": {}}}"#.to_owned(),
            400,
            "ValidationException",
            "keys",
        ),
        (
            "AmazonS3.GetObject",
            json11,
            "{}".to_owned(),
            400,
            "UnknownOperationException",
            "AmazonS3.GetObject",
        ),
    ];
    for (target, content_type, body, status, code, named) in cases {
        let answer = lambda_cache_testkit::http_post(
            &ext.cache(),
            &[
                ("x-amz-target", target),
                ("content-type", content_type),
                ("X-Aws-Parameters-Secrets-Token", TOKEN),
            ],
            &body,
        )
        .await;
        assert_eq!(answer.status, status, "{target} {body}: {answer:?}");
        let error = answer.json();
        assert_eq!(error["__type"], code, "{target} {body}: {error}");
        assert_eq!(answer.header("x-amzn-errortype"), Some(code));
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{target} {body}: {message}");
    }
    // AppConfigData's own: a poll interval out of AppConfig's bounds.
    let session = lambda_cache_testkit::http_raw(
        &ext.cache(),
        format!(
            "POST /configurationsessions HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
             x-aws-parameters-secrets-token: {TOKEN}\r\ncontent-length: {len}\r\n\r\n{body}",
            len = SESSION_BODY.len(),
            body = SESSION_BODY
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(session.status, 400, "{session:?}");
    assert_eq!(session.json()["__type"], "BadRequestException");
    assert!(
        session.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("RequiredMinimumPollIntervalInSeconds")
    );
    // None of them reached the backend.
    assert_eq!(proxy.all(), Vec::<String>::new());
}

const SESSION_BODY: &str = r#"{"ApplicationIdentifier":"a","EnvironmentIdentifier":"e","ConfigurationProfileIdentifier":"p","RequiredMinimumPollIntervalInSeconds":5}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthroughs_take_a_place_among_the_backend_calls_in_flight() {
    let proxy = CountingProxy::start(&moto_endpoint()).await;
    proxy.slow_down(Duration::from_millis(500));
    let ext = Extension::start(
        proxy.endpoint(),
        None,
        &[("CACHE_EXTENSION_MAX_IN_FLIGHT", "1")],
    )
    .await;
    let post = || {
        let address = ext.cache();
        tokio::spawn(async move {
            lambda_cache_testkit::http_post(
                &address,
                &[
                    ("x-amz-target", "AmazonSSM.DescribeParameters"),
                    ("content-type", "application/x-amz-json-1.1"),
                    ("X-Aws-Parameters-Secrets-Token", TOKEN),
                ],
                "{}",
            )
            .await
        })
    };
    // The first holds the one place for 500 ms; the second, meanwhile, is the SDKs' throttle.
    let first = post();
    while proxy.count_of(".DescribeParameters") == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let second = post().await.unwrap();
    assert_eq!(second.status, 400, "{second:?}");
    assert_eq!(second.json()["__type"], "ThrottlingException");
    assert_eq!(first.await.unwrap().status, 200);
    assert_eq!(proxy.count_of(".DescribeParameters"), 1);
}
