//! Test support for lambda-cache's own tests (not published).
//!
//! - [`moto_endpoint`] and [`sdk_config`]: the emulator that `cargo xtask test` started, and SDK
//!   configuration for any loopback endpoint with test credentials and no retries.
//! - [`Requests`]: an SDK interceptor that records each request sent and each status received.
//! - [`CountingProxy`]: a loopback TCP proxy that counts the AWS operations passing through it,
//!   for processes whose SDK clients a test cannot reach (a Lambda function under test).
//! - [`RuntimeApi`]: a mock of the Lambda Runtime API that hands out events and collects the
//!   function's responses.
//! - [`ExtensionsApi`]: a mock of the Lambda Extensions API (register, events on demand,
//!   `init/error` recorded), and [`http_get`] / [`http_raw`] / [`HttpConnection`]: a plain
//!   HTTP/1.1 client for talking to a process under test, well-formed or not, or kept alive.
//! - [`FakeAppConfig`]: AppConfigData (which moto lacks) on wiremock, with its token rules.
//! - [`TraceCapture`]: a subscriber that records every span and event at every level.
//! - [`FaultProxy`]: a loopback proxy in front of a real backend that injects a [`Fault`] on
//!   demand: throttling, 5xx, no answer, refused, a body cut by a reset, malformed, HTML.

mod appconfig;
mod faults;

pub use appconfig::FakeAppConfig;
pub use faults::{Dialect, Fault, FaultProxy};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ssm::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_ssm::config::{ConfigBag, Credentials, Intercept, RuntimeComponents};
use aws_sdk_ssm::error::BoxError;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// The moto server that `cargo xtask test` started. Without it a test fails here, loudly.
///
/// # Panics
/// If `LAMBDA_CACHE_TEST_ENDPOINT` is not set.
pub fn moto_endpoint() -> String {
    std::env::var("LAMBDA_CACHE_TEST_ENDPOINT").expect(
        "LAMBDA_CACHE_TEST_ENDPOINT is not set: run the tests with `cargo xtask test`, \
         which starts the moto server",
    )
}

/// A command running the Python that has boto3 (installed with the moto server by
/// `cargo xtask test`), with `PYTHONPATH` where it needs one and no `AWS_*` variable of this
/// process: a test gives the client only what it means to.
///
/// # Panics
/// If `LAMBDA_CACHE_TEST_PYTHON` is not set.
pub fn boto3_python() -> std::process::Command {
    let python = std::env::var("LAMBDA_CACHE_TEST_PYTHON").expect(
        "LAMBDA_CACHE_TEST_PYTHON is not set: run the tests with `cargo xtask test`, \
         which installs moto and boto3",
    );
    let mut cmd = std::process::Command::new(python);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
    if let Ok(path) = std::env::var("LAMBDA_CACHE_TEST_PYTHONPATH") {
        cmd.env("PYTHONPATH", path);
    }
    cmd
}

/// Points a function's own AWS SDK (a child process: boto3, the SDK for JavaScript) at the
/// extension listening on `address` (`host:port`) the way a function's configuration does:
/// the four `AWS_ENDPOINT_URL_*` variables, the region (both variables, as Lambda sets them:
/// boto3 reads the second only), the test credentials and `token` as the session token.
pub fn point_sdk_at_extension<'c>(
    cmd: &'c mut std::process::Command,
    address: &str,
    token: &str,
) -> &'c mut std::process::Command {
    let here = format!("http://{address}");
    for variable in [
        "AWS_ENDPOINT_URL_SSM",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_APPCONFIGDATA",
    ] {
        cmd.env(variable, &here);
    }
    cmd.env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", token)
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// SDK configuration for a loopback endpoint with static test credentials and no retries, so
/// that every request a test causes is one request counted.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await
}

/// Stores (or overwrites) an SSM parameter: test set-up, through an uncounted client.
///
/// # Panics
/// If the emulator refuses.
pub async fn put_parameter(
    client: &aws_sdk_ssm::Client,
    name: &str,
    kind: aws_sdk_ssm::types::ParameterType,
    value: &str,
) {
    client
        .put_parameter()
        .name(name)
        .r#type(kind)
        .value(value)
        .overwrite(true)
        .send()
        .await
        .expect("put_parameter");
}

/// Creates a DynamoDB table keyed by `hash` (and `sort`), each an attribute name and type, on
/// demand billing: test set-up, through an uncounted client.
///
/// # Panics
/// If the emulator refuses.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    hash: (&str, aws_sdk_dynamodb::types::ScalarAttributeType),
    sort: Option<(&str, aws_sdk_dynamodb::types::ScalarAttributeType)>,
) {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType};
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest);
    for (name, kind, role) in std::iter::once((hash.0, hash.1, KeyType::Hash))
        .chain(sort.map(|(name, kind)| (name, kind, KeyType::Range)))
    {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(kind)
                    .build()
                    .expect("attribute definition"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(role)
                    .build()
                    .expect("key schema element"),
            );
    }
    request.send().await.expect("create_table");
}

/// Stores (or overwrites) a DynamoDB item: test set-up, through an uncounted client.
///
/// # Panics
/// If the emulator refuses.
pub async fn put_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    item: &[(&str, aws_sdk_dynamodb::types::AttributeValue)],
) {
    let item = item
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect();
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .expect("put_item");
}

/// Creates a string secret: test set-up, through an uncounted client.
///
/// # Panics
/// If the emulator refuses.
pub async fn create_secret(client: &aws_sdk_secretsmanager::Client, name: &str, value: &str) {
    client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create_secret");
}

/// A wiremock server that answers `first` to the first request whose `x-amz-target` is
/// `target`, then `then` to every request: a backend that works once, then fails.
pub async fn answer_once_then(
    target: &str,
    first: ResponseTemplate,
    then: ResponseTemplate,
) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", target))
        .respond_with(first)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(then)
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

/// A Secrets Manager stand-in for a function without `secretsmanager:DescribeSecret`:
/// DescribeSecret is refused (`AccessDeniedException`), and GetSecretValue answers secret `name`
/// (version `v-1`, AWSCURRENT) with `value`.
pub async fn secrets_without_describe(name: &str, value: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", "secretsmanager.DescribeSecret"))
        .respond_with(aws_json(
            400,
            serde_json::json!({"__type": "AccessDeniedException", "message": "not authorized to perform: secretsmanager:DescribeSecret"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", "secretsmanager.GetSecretValue"))
        .respond_with(aws_json(
            200,
            serde_json::json!({"Name": name, "VersionId": "v-1", "SecretString": value, "VersionStages": ["AWSCURRENT"]}),
        ))
        .mount(&server)
        .await;
    server
}

/// Requests `server` received whose `x-amz-target` is `target` (`secretsmanager.DescribeSecret`).
pub async fn calls_to_target(server: &MockServer, target: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.headers.get("x-amz-target").is_some_and(|v| v == target))
        .count()
}

/// A wiremock response in the AWS JSON protocol (SSM, Secrets Manager): `status` and `body`.
pub fn aws_json(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/x-amz-json-1.1")
        .set_body_json(body)
}

/// A name no other test uses, so that tests can share one emulator.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Records the requests an SDK client sends (each one's operation: `x-amz-target`, or method
/// and URI for REST services) and the statuses it receives. Attach it with `.interceptor(..)`.
#[derive(Clone, Debug, Default)]
pub struct Requests {
    seen: Arc<Mutex<Vec<String>>>,
    statuses: Arc<Mutex<Vec<u16>>>,
}

impl Requests {
    /// Requests sent so far.
    pub fn count(&self) -> usize {
        self.seen.lock().len()
    }

    /// Requests sent so far whose operation ends with `operation`.
    pub fn count_of(&self, operation: &str) -> usize {
        self.seen
            .lock()
            .iter()
            .filter(|s| s.ends_with(operation))
            .count()
    }

    /// Every request's operation, in order.
    pub fn all(&self) -> Vec<String> {
        self.seen.lock().clone()
    }

    /// The HTTP status of each response received, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.statuses.lock().clone()
    }
}

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = match request.headers().get("x-amz-target") {
            Some(target) => target.to_owned(),
            None => format!("{} {}", request.method(), request.uri()),
        };
        self.seen.lock().push(operation);
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.statuses
            .lock()
            .push(context.response().status().as_u16());
        Ok(())
    }
}

/// A loopback TCP proxy in front of an HTTP endpoint that records the `x-amz-target` of every
/// request passing through: the backend calls of a process the test cannot instrument.
#[derive(Debug)]
pub struct CountingProxy {
    endpoint: String,
    targets: Arc<Mutex<Vec<String>>>,
    delay: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`
    /// (`http://host:port`).
    ///
    /// # Panics
    /// If no loopback port can be had.
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("bound"));
        let targets = Arc::new(Mutex::new(Vec::new()));
        let delay = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (seen, slow) = (Arc::clone(&targets), Arc::clone(&delay));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                tokio::spawn(relay(client, server, Arc::clone(&seen), Arc::clone(&slow)));
            }
        });
        Self {
            endpoint,
            targets,
            delay,
            task,
        }
    }

    /// From now on each request is held `delay` before it is forwarded: a slow backend.
    pub fn slow_down(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay
            .store(millis, std::sync::atomic::Ordering::SeqCst);
    }

    /// The endpoint to give the process under test (as `AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Requests whose `x-amz-target` ends with `operation` (for example `.GetParameters`).
    pub fn count_of(&self, operation: &str) -> usize {
        self.targets
            .lock()
            .iter()
            .filter(|t| t.ends_with(operation))
            .count()
    }

    /// Every `x-amz-target` seen, in order.
    pub fn all(&self) -> Vec<String> {
        self.targets.lock().clone()
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies both ways, noting the `x-amz-target` header lines of the client's requests, and
/// holding a request by `delay` milliseconds (read when its target line passes).
async fn relay(
    client: TcpStream,
    server: TcpStream,
    targets: Arc<Mutex<Vec<String>>>,
    delay: Arc<std::sync::atomic::AtomicU64>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async move {
        let mut buffer = [0_u8; 16 * 1024];
        let mut line = Vec::new();
        loop {
            let n = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut hold = false;
            for &byte in &buffer[..n] {
                if byte == b'\n' {
                    let text = String::from_utf8_lossy(&line);
                    if let Some((name, value)) = text.split_once(':')
                        && name.eq_ignore_ascii_case("x-amz-target")
                    {
                        targets.lock().push(value.trim().to_owned());
                        hold = true;
                    }
                    line.clear();
                } else if line.len() < 256 {
                    line.push(byte);
                }
            }
            let millis = delay.load(std::sync::atomic::Ordering::SeqCst);
            if hold && millis > 0 {
                tokio::time::sleep(Duration::from_millis(millis)).await;
            }
            if server_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

/// A mock of the Lambda Runtime API: hands out `events` one per `next` request, in order, then
/// holds further `next` requests open; collects what the function posts back.
#[derive(Debug)]
pub struct RuntimeApi {
    server: MockServer,
    arrivals: Arrivals,
}

/// When each request reached a mock: its path and the instant its answer was chosen.
type Arrivals = Arc<Mutex<Vec<(String, Instant)>>>;

/// Answers with `template` and notes when each request arrived.
struct Timed {
    template: ResponseTemplate,
    arrivals: Arrivals,
}

impl Respond for Timed {
    #[allow(clippy::disallowed_methods)] // the arrival time, for the cold-start benchmark
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let now = Instant::now();
        self.arrivals
            .lock()
            .push((request.url.path().to_owned(), now));
        self.template.clone()
    }
}

/// What the function answered to one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The event's request id (`req-0`, `req-1`, ...).
    pub request_id: String,
    /// True for an error report, false for a response.
    pub is_error: bool,
    /// The body posted.
    pub body: serde_json::Value,
}

impl RuntimeApi {
    /// Starts the mock with the events to hand out (at most 200).
    ///
    /// # Panics
    /// If given more than 200 events.
    pub async fn start(events: Vec<serde_json::Value>) -> Self {
        assert!(events.len() <= 200, "the mock hands out at most 200 events");
        // A server of its own, not one from wiremock's pool: the long polls held open for a
        // process that has been killed must not reach the next process's mock.
        let server = MockServer::builder().start().await;
        let arrivals = Arrivals::default();
        let timed = |template: ResponseTemplate| Timed {
            template,
            arrivals: Arc::clone(&arrivals),
        };
        let next = "/2018-06-01/runtime/invocation/next";
        for (i, event) in events.into_iter().enumerate() {
            let priority = u8::try_from(i + 1).unwrap_or(u8::MAX);
            Mock::given(method("GET"))
                .and(path(next))
                .respond_with(timed(
                    ResponseTemplate::new(200)
                        .insert_header("content-type", "application/json")
                        .insert_header("lambda-runtime-aws-request-id", format!("req-{i}"))
                        .insert_header("lambda-runtime-deadline-ms", "4102444800000")
                        .insert_header(
                            "lambda-runtime-invoked-function-arn",
                            "arn:aws:lambda:us-east-1:123456789012:function:under-test",
                        )
                        .set_body_json(event),
                ))
                .up_to_n_times(1)
                .with_priority(priority)
                .mount(&server)
                .await;
        }
        // No more events: hold the long poll, as Lambda does between invocations.
        Mock::given(method("GET"))
            .and(path(next))
            .respond_with(timed(
                ResponseTemplate::new(200).set_delay(Duration::from_secs(3600)),
            ))
            .with_priority(u8::MAX)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/2018-06-01/runtime/.*$"))
            .respond_with(timed(ResponseTemplate::new(202)))
            .mount(&server)
            .await;
        Self { server, arrivals }
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`: `host:port`.
    pub fn address(&self) -> String {
        self.server.address().to_string()
    }

    /// When the first request whose path ends with `suffix` arrived (`/invocation/next`: the
    /// function's init is over; `/response`: its first answer), if one has.
    pub fn arrived(&self, suffix: &str) -> Option<Instant> {
        self.arrivals
            .lock()
            .iter()
            .find(|(path, _)| path.ends_with(suffix))
            .map(|&(_, at)| at)
    }

    /// The answers posted so far, in order.
    pub async fn answers(&self) -> Vec<Answer> {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests
            .into_iter()
            .filter(|r| r.method.as_str() == "POST")
            .filter_map(|r| {
                let segments: Vec<&str> = r.url.path().split('/').collect();
                // /2018-06-01/runtime/invocation/{id}/response|error
                let (id, kind) = match segments.as_slice() {
                    [_, _, "runtime", "invocation", id, kind] => (*id, *kind),
                    _ => return None,
                };
                Some(Answer {
                    request_id: id.to_owned(),
                    is_error: kind == "error",
                    body: serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }

    /// Waits until `count` answers have arrived, checking every 50 ms for at most `limit`.
    /// This waits for another process, it does not let time pass for the cache.
    ///
    /// # Panics
    /// If they have not all arrived within `limit`.
    pub async fn wait_for_answers(&self, count: usize, limit: Duration) -> Vec<Answer> {
        let step = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        loop {
            let answers = self.answers().await;
            if answers.len() >= count {
                return answers;
            }
            assert!(
                waited < limit,
                "only {} of {count} answers after {limit:?}: {answers:?}",
                answers.len()
            );
            tokio::time::sleep(step).await;
            waited += step;
        }
    }
}

/// One call a process made to the [`ExtensionsApi`] mock.
#[derive(Clone, Debug)]
pub struct ApiCall {
    /// `GET` or `POST`.
    pub method: String,
    /// The path, such as `/2020-01-01/extension/register`.
    pub path: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
    /// When the request's head had arrived.
    pub at: Instant,
}

impl ApiCall {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// The first value of header `name` (lowercase) in `headers`.
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The header lines of an HTTP head (after its first line): names lowercased, values trimmed.
fn parse_headers<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect()
}

/// The status (0 if unreadable) and headers of an HTTP answer's head.
fn parse_answer_head(head: &str) -> (u16, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, parse_headers(lines))
}

/// A mock of the Lambda Extensions API on a loopback port: `register` answers with an
/// identifier, `event/next` hands out the events queued by [`ExtensionsApi::invoke`] and
/// [`ExtensionsApi::shutdown`] (holding the poll until one is queued), and every call is
/// recorded, `init/error` and `exit/error` included.
#[derive(Debug)]
pub struct ExtensionsApi {
    address: String,
    calls: Arc<Mutex<Vec<ApiCall>>>,
    events: tokio::sync::mpsc::UnboundedSender<serde_json::Value>,
    task: tokio::task::JoinHandle<()>,
}

/// The identifier the mock gives at `register`.
pub const EXTENSION_ID: &str = "ext-4f1c";

impl ExtensionsApi {
    /// Listens on a free loopback port.
    ///
    /// # Panics
    /// If no loopback port can be had.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("bound").to_string();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (events, queue) = tokio::sync::mpsc::unbounded_channel();
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let seen = Arc::clone(&calls);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_api(stream, Arc::clone(&seen), Arc::clone(&queue)));
            }
        });
        Self {
            address,
            calls,
            events,
            task,
        }
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`: `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A command that starts the extension `binary` as Lambda would, under this mock: a clean
    /// environment with only the Runtime API address, `LAMBDA_TASK_ROOT` = `task_root`, the AWS
    /// endpoint, region and test credentials, and `token` as `AWS_SESSION_TOKEN`.
    pub fn command(
        &self,
        binary: impl AsRef<std::ffi::OsStr>,
        task_root: &std::path::Path,
        endpoint: &str,
        token: &str,
    ) -> std::process::Command {
        let mut cmd = std::process::Command::new(binary);
        cmd.env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", self.address())
            .env("LAMBDA_TASK_ROOT", task_root)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_SESSION_TOKEN", token)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd
    }

    /// Queues an INVOKE event.
    pub fn invoke(&self) {
        let _ = self.events.send(serde_json::json!({
            "eventType": "INVOKE",
            "deadlineMs": 4_102_444_800_000_u64,
            "requestId": unique("req"),
            "invokedFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:under-test",
            "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-0-0"}
        }));
    }

    /// Queues a SHUTDOWN event.
    pub fn shutdown(&self) {
        let _ = self.events.send(serde_json::json!({
            "eventType": "SHUTDOWN",
            "shutdownReason": "spindown",
            "deadlineMs": 4_102_444_800_000_u64
        }));
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.calls.lock().clone()
    }

    /// The calls whose path ends with `suffix` (`/register`, `/event/next`, `/init/error`).
    pub fn calls_to(&self, suffix: &str) -> Vec<ApiCall> {
        self.calls
            .lock()
            .iter()
            .filter(|c| c.path.ends_with(suffix))
            .cloned()
            .collect()
    }

    /// Waits until `count` calls to `suffix` have been made, checking every 10 ms for at most
    /// `limit`. This waits for another process; it asserts nothing about how fast it is.
    ///
    /// # Panics
    /// If they have not all been made within `limit`.
    pub async fn wait_for(&self, suffix: &str, count: usize, limit: Duration) -> Vec<ApiCall> {
        let step = Duration::from_millis(10);
        let mut waited = Duration::ZERO;
        loop {
            let calls = self.calls_to(suffix);
            if calls.len() >= count {
                return calls;
            }
            assert!(
                waited < limit,
                "{} of {count} calls to {suffix} after {limit:?}; all calls: {:?}",
                calls.len(),
                self.calls()
            );
            tokio::time::sleep(step).await;
            waited += step;
        }
    }
}

impl Drop for ExtensionsApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The account the mock's register answer gives an extension that asks for it.
pub const ACCOUNT_ID: &str = "123456789012";

type EventQueue = Arc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>>>;

/// One connection to the mock: one request, one answer, then close.
async fn serve_api(mut stream: TcpStream, calls: Arc<Mutex<Vec<ApiCall>>>, queue: EventQueue) {
    let Some(call) = read_request(&mut stream).await else {
        return;
    };
    calls.lock().push(call.clone());
    let (status, headers, body) = match (call.method.as_str(), call.path.as_str()) {
        // The account only for an extension that asks for it, as Lambda does.
        ("POST", "/2020-01-01/extension/register")
            if call.header("lambda-extension-accept-feature") == Some("accountId") =>
        {
            (
                200,
                vec![("Lambda-Extension-Identifier", EXTENSION_ID.to_owned())],
                format!(
                    r#"{{"functionName":"under-test","functionVersion":"$LATEST","handler":"index.handler","accountId":"{ACCOUNT_ID}"}}"#
                ),
            )
        }
        ("POST", "/2020-01-01/extension/register") => (
            200,
            vec![("Lambda-Extension-Identifier", EXTENSION_ID.to_owned())],
            r#"{"functionName":"under-test","functionVersion":"$LATEST","handler":"index.handler"}"#
                .to_owned(),
        ),
        ("GET", "/2020-01-01/extension/event/next")
            if call.header("lambda-extension-identifier") == Some(EXTENSION_ID) =>
        {
            let event = queue.lock().await.recv().await;
            match event {
                Some(event) => (
                    200,
                    vec![("Lambda-Extension-Event-Identifier", unique("event"))],
                    event.to_string(),
                ),
                None => return,
            }
        }
        ("POST", "/2020-01-01/extension/init/error" | "/2020-01-01/extension/exit/error")
            if call.header("lambda-extension-identifier") == Some(EXTENSION_ID) =>
        {
            (202, Vec::new(), r#"{"status":"OK"}"#.to_owned())
        }
        _ => (
            403,
            Vec::new(),
            r#"{"errorMessage":"unknown call or identifier","errorType":"Extension.Forbidden"}"#
                .to_owned(),
        ),
    };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads one HTTP/1.1 request with a `content-length` body.
async fn read_request(stream: &mut TcpStream) -> Option<ApiCall> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buffer.len() > 64 * 1024 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    #[allow(clippy::disallowed_methods)] // the arrival time, for the exec-to-ready figure
    let at = Instant::now();
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers = parse_headers(lines);
    let length: usize = find_header(&headers, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(ApiCall {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at,
    })
}

/// An HTTP answer as read off the wire.
#[derive(Clone, Debug)]
pub struct HttpAnswer {
    /// The status code (0 if the connection closed before a status line).
    pub status: u16,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body (the whole rest of the stream: the request asked to close).
    pub body: String,
}

impl HttpAnswer {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as JSON.
    ///
    /// # Panics
    /// If it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// `GET target` from `address` (`host:port`) with `headers`, on a new connection that closes
/// after the answer.
pub async fn http_get(address: &str, target: &str, headers: &[(&str, &str)]) -> HttpAnswer {
    let mut request = format!("GET {target} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    http_raw(address, request.as_bytes()).await
}

/// `POST /` of `body` to `address` (`host:port`, or a URL) with `headers`, as the AWS SDKs post
/// their JSON-protocol requests, on a new connection that closes after the answer.
pub async fn http_post(address: &str, headers: &[(&str, &str)], body: &str) -> HttpAnswer {
    let address = address.trim_start_matches("http://").trim_end_matches('/');
    let mut request = format!(
        "POST / HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    http_raw(address, request.as_bytes()).await
}

/// Sends `request` as is (well-formed or not) to `address` and reads until the server closes.
///
/// # Panics
/// If the connection cannot be made.
pub async fn http_raw(address: &str, request: &[u8]) -> HttpAnswer {
    let mut stream = TcpStream::connect(address)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {address}: {e}"));
    let _ = stream.write_all(request).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let (status, headers) = parse_answer_head(head);
    HttpAnswer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A kept-alive HTTP/1.1 connection to a process under test: each answer is read by its
/// `content-length`, so that one connection carries many requests.
#[derive(Debug)]
pub struct HttpConnection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl HttpConnection {
    /// Connects to `address` (`host:port`).
    ///
    /// # Errors
    /// If the connection cannot be made.
    pub async fn open(address: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buffer: Vec::with_capacity(4096),
        })
    }

    /// `GET target` with `headers`, keeping the connection open.
    ///
    /// # Errors
    /// If the server closes the connection before the whole answer, or sends no
    /// `content-length`.
    pub async fn get(
        &mut self,
        target: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<HttpAnswer> {
        let mut request = format!("GET {target} HTTP/1.1\r\nhost: localhost\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        self.stream.write_all(request.as_bytes()).await?;
        self.buffer.clear();
        let head = loop {
            if let Some(head) = head_len(&self.buffer) {
                break head;
            }
            self.read_more().await?;
        };
        let (status, headers) =
            parse_answer_head(&String::from_utf8_lossy(&self.buffer[..head - 4]));
        let length = find_header(&headers, "content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or_else(|| std::io::Error::other("an answer without content-length"))?;
        while self.buffer.len() < head + length {
            self.read_more().await?;
        }
        let body = String::from_utf8_lossy(&self.buffer[head..head + length]).into_owned();
        Ok(HttpAnswer {
            status,
            headers,
            body,
        })
    }

    async fn read_more(&mut self) -> std::io::Result<()> {
        let mut chunk = [0_u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// The length of an HTTP head, its closing blank line included, once all of it has arrived.
pub(crate) fn head_len(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// The `content-length` of an HTTP head (0 without one).
pub(crate) fn content_length(head: &[u8]) -> usize {
    let text = String::from_utf8_lossy(head);
    let headers = parse_headers(text.split("\r\n").skip(1));
    find_header(&headers, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A loopback port free when asked (the caller binds it soon after).
///
/// # Panics
/// If no loopback port can be had.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Resident memory of process `pid` in KiB (`VmRSS` in /proc), if it still runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

/// Waits for `child` to exit, checking every 1 ms for at most `limit`; `None` if it still
/// runs. This waits for another process; it asserts nothing about how fast it is.
///
/// # Panics
/// If the child's status cannot be read.
pub fn wait_exit(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let step = Duration::from_millis(1);
    let mut waited = Duration::ZERO;
    loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            return Some(status);
        }
        if waited >= limit {
            return None;
        }
        std::thread::sleep(step);
        waited += step;
    }
}

/// How many cases each property test of a parser runs (`PROPTEST_CASES` overrides it).
pub const PARSER_CASES: u32 = 2000;

/// The seed of the parsers' property tests unless `PROPTEST_RNG_SEED` gives another.
pub const PARSER_SEED: u64 = 2026;

/// The configuration of a parser's property tests: [`PARSER_CASES`] cases from
/// [`PARSER_SEED`] (a run judges the code, not the draw; `PROPTEST_RNG_SEED` explores other
/// cases), no regression files written (a failure prints the shrunk input to turn into a
/// plain test).
pub fn parser_cases() -> proptest::test_runner::Config {
    let default = proptest::test_runner::Config::default();
    proptest::test_runner::Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(PARSER_CASES),
        failure_persistence: None,
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            default.rng_seed
        } else {
            proptest::test_runner::RngSeed::Fixed(PARSER_SEED)
        },
        ..default
    }
}

/// Checks a parser's error message for `input`: it shows the input as every error here does
/// (quoted, shortened past 96 bytes: [`lambda_cache_core::shown`]) and stays short whatever the
/// input's length.
///
/// # Panics
/// If it does not.
pub fn assert_names_input(message: &str, input: &str) {
    let shown = lambda_cache_core::shown(input).to_string();
    assert!(
        message.contains(&shown),
        "the message {message:?} does not show the input as {shown}"
    );
    assert!(
        message.len() <= shown.len() + 400,
        "a {} byte message for a {} byte input",
        message.len(),
        input.len()
    );
}

/// Text a parser may be given: anything (any Unicode), printable ASCII, and long runs, each a
/// third of the cases.
pub fn any_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        any::<String>(),
        "[ -~]{0,80}",
        "[ -~\\u{80}-\\u{10FFFF}]{90,4000}",
    ]
}

/// The names of the entries of `dir`, sorted: what a download left behind.
///
/// # Panics
/// If the directory cannot be read.
pub fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// A `tracing` subscriber that records every span and event of every crate at every level
/// (TRACE included), with each field as text: what a test checks no value ever reaches.
#[derive(Clone, Debug, Default)]
pub struct TraceCapture {
    said: Arc<Mutex<Vec<Said>>>,
}

/// One span or event: its target, name and fields as text (read through `Debug`).
#[derive(Clone, Debug, Default)]
#[allow(dead_code)] // read through Debug only
struct Said {
    target: String,
    name: String,
    fields: Vec<(String, String)>,
}

impl tracing::field::Visit for Said {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.fields
            .push((field.name().to_owned(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.fields
            .push((field.name().to_owned(), value.to_owned()));
    }
}

impl Said {
    fn of(metadata: &tracing::Metadata<'_>) -> Self {
        Self {
            target: metadata.target().to_owned(),
            name: metadata.name().to_owned(),
            fields: Vec::new(),
        }
    }
}

impl TraceCapture {
    /// Everything recorded, as one text (targets, names and fields).
    pub fn text(&self) -> String {
        format!("{:?}", self.said.lock())
    }

    /// How many spans and events were recorded whose target starts with `prefix`.
    pub fn count_from(&self, prefix: &str) -> usize {
        self.said
            .lock()
            .iter()
            .filter(|said| said.target.starts_with(prefix))
            .count()
    }
}

impl tracing::Subscriber for TraceCapture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut said = Said::of(span.metadata());
        span.record(&mut said);
        let mut all = self.said.lock();
        all.push(said);
        // Ids are the 1-based index of the record.
        tracing::span::Id::from_u64(all.len() as u64)
    }

    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        if let Ok(index) = usize::try_from(span.into_u64() - 1)
            && let Some(said) = self.said.lock().get_mut(index)
        {
            values.record(said);
        }
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut said = Said::of(event.metadata());
        event.record(&mut said);
        self.said.lock().push(said);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// The variable naming the `redis-server` (or `valkey-server`) binary that `cargo xtask test`
/// installed; `redis-server` on the PATH without it.
pub const REDIS_SERVER_VARIABLE: &str = "LAMBDA_CACHE_REDIS_SERVER";

/// A real Redis (or Valkey) server of a test's own, on a free loopback port, with no
/// persistence; killed by its process id when dropped (or by [`RedisServer::kill`]).
#[derive(Debug)]
pub struct RedisServer {
    child: std::process::Child,
    port: u16,
    tls: Option<TlsPort>,
}

/// A server's TLS port and the certificates made for it.
#[derive(Debug)]
struct TlsPort {
    port: u16,
    ca_pem: String,
    files: tempfile::TempDir,
}

/// A CA made now, and a certificate for `127.0.0.1` and `localhost` it signed: (CA, server
/// certificate, server key), in PEM.
fn test_certificates() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        SanType,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "lambda-cache test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("a CA key");
    let ca_pem = ca.self_signed(&ca_key).expect("a CA certificate").pem();
    let issuer = Issuer::new(ca, ca_key);
    let mut server =
        CertificateParams::new(vec!["localhost".to_owned()]).expect("server parameters");
    server
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    let key = KeyPair::generate().expect("a server key");
    let cert = server
        .signed_by(&key, &issuer)
        .expect("a server certificate");
    (ca_pem, cert.pem(), key.serialize_pem())
}

impl RedisServer {
    /// Starts the server and waits until it answers `PING`.
    ///
    /// # Panics
    /// If the binary cannot be started or does not answer within 10 s: a test that needs the
    /// server fails rather than passes without it.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts the server on `port` (one a test chose before, to point a client at it first).
    ///
    /// # Panics
    /// As [`RedisServer::start`].
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, None)
    }

    /// Starts the server with a TLS port besides its plain one, its certificate signed by a CA
    /// made now ([`RedisServer::ca_pem`]); clients need not authenticate.
    ///
    /// # Panics
    /// As [`RedisServer::start`], and if the certificates cannot be made or written.
    pub fn start_tls() -> Self {
        let (ca_pem, cert, key) = test_certificates();
        let files = tempfile::tempdir().expect("a directory for the certificates");
        for (name, pem) in [("ca.pem", &ca_pem), ("cert.pem", &cert), ("key.pem", &key)] {
            std::fs::write(files.path().join(name), pem).expect("a certificate written");
        }
        Self::start_with(
            free_port(),
            Some(TlsPort {
                port: free_port(),
                ca_pem,
                files,
            }),
        )
    }

    fn start_with(port: u16, tls: Option<TlsPort>) -> Self {
        let binary =
            std::env::var(REDIS_SERVER_VARIABLE).unwrap_or_else(|_| "redis-server".to_owned());
        let mut command = std::process::Command::new(&binary);
        if let Some(tls) = &tls {
            let file = |name: &str| tls.files.path().join(name);
            command
                .args(["--tls-port", &tls.port.to_string()])
                .arg("--tls-cert-file")
                .arg(file("cert.pem"))
                .arg("--tls-key-file")
                .arg(file("key.pem"))
                .arg("--tls-ca-cert-file")
                .arg(file("ca.pem"))
                .args(["--tls-auth-clients", "no"]);
        }
        let child = command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting {binary} ({e}): run the tests with `cargo xtask test`, which installs it, or set {REDIS_SERVER_VARIABLE}"
                )
            });
        let server = Self { child, port, tls };
        for _ in 0..200 {
            if server.ping() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{binary} on 127.0.0.1:{port} did not answer PING within 10 s");
    }

    /// True if the server answers `PING` with `PONG`.
    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut answer = [0_u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }

    /// Sends one command as the default user and returns the first line of the answer
    /// (`+OK`, `-ERR ...`).
    ///
    /// # Panics
    /// If the server cannot be reached.
    pub fn command(&self, args: &[&str]) -> String {
        use std::io::{BufRead, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("redis-server on {}: {e}", self.port));
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream
            .write_all(request.as_bytes())
            .expect("a command sent");
        let mut line = String::new();
        std::io::BufReader::new(stream)
            .read_line(&mut line)
            .expect("an answer");
        line.trim_end().to_owned()
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `rediss://127.0.0.1:<TLS port>` of a server started by [`RedisServer::start_tls`].
    ///
    /// # Panics
    /// For a server started without TLS.
    pub fn tls_url(&self) -> String {
        let tls = self.tls.as_ref().expect("a server started with start_tls");
        format!("rediss://127.0.0.1:{}", tls.port)
    }

    /// The PEM of the CA that signed the TLS port's certificate.
    ///
    /// # Panics
    /// For a server started without TLS.
    pub fn ca_pem(&self) -> &str {
        &self
            .tls
            .as_ref()
            .expect("a server started with start_tls")
            .ca_pem
    }

    /// Freezes the server (SIGSTOP, by its process id): its connections stay open and nothing
    /// answers, as a blackholed server. [`RedisServer::resume`] thaws it.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a server frozen by [`RedisServer::pause`] (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed: {status}");
    }

    /// Kills the server (SIGKILL, by its process id) and waits for it to exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
