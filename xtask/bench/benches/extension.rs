//! The extension measured as a user meets it: the built binary (the stripped release build that
//! `cargo xtask layer` ships) under a mock Extensions API, against the emulator behind a
//! counting proxy, read over loopback HTTP with keep-alive connections.
//!
//! The baseline, measured in the same run and alternated with the extension, is `bench-floor`:
//! a bare hyper server with the extension's runtime and connection settings answering a fixed
//! body of the same size, the floor of one HTTP hop. Criterion reports a mean per batch; this
//! needs every request's latency (p99) and requests per second at several connection counts,
//! so it has no harness and keeps every sample.
//!
//! Run by `cargo xtask bench`, which builds both binaries and passes their paths; writes its
//! figures to `LAMBDA_CACHE_EXTENSION_REPORT`.
#![allow(missing_docs, clippy::disallowed_methods)] // a benchmark times itself

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ScalarAttributeType, WriteRequest};
use lambda_cache_bench::runtime;
use lambda_cache_testkit::{
    CountingProxy, ExtensionsApi, create_table, free_port, moto_endpoint, rss_kib, sdk_config,
    unique, wait_exit,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "bench-session-token";
/// Items read through the extension for the memory figure.
const ITEMS: usize = 1000;
/// Spawns for the exec-to-ready figure.
const READY_SPAWNS: usize = 10;
/// Alternating rounds of each measurement (extension, then floor).
const ROUNDS: usize = 3;
/// Requests per round on one connection for the latency percentiles.
const LATENCY_REQUESTS: usize = 10_000;
/// How long each round of the throughput measurement runs.
const THROUGHPUT_ROUND: Duration = Duration::from_millis(1500);
const CONNECTIONS: [usize; 3] = [1, 8, 64];
const LIMIT: Duration = Duration::from_secs(30);

fn variable(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `cargo xtask bench`"))
}

/// Resident memory of a running process in KiB.
fn rss(pid: u32) -> u64 {
    rss_kib(pid).expect("VmRSS of a running process")
}

/// One keep-alive HTTP/1.1 connection that sends one prepared request at a time.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(address: &str) -> Self {
        let stream = TcpStream::connect(address).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            buffer: Vec::with_capacity(8192),
        }
    }

    /// Sends `request` and reads the whole answer; returns its body.
    ///
    /// # Panics
    /// If the answer is not a 200 with a `content-length`.
    async fn get(&mut self, request: &[u8]) -> &[u8] {
        self.stream.write_all(request).await.expect("write");
        self.buffer.clear();
        let (head, length) = loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buffer[..end]).expect("an ASCII head");
                assert!(head.starts_with("HTTP/1.1 200 "), "not a 200: {head}");
                let length = head
                    .split("\r\n")
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .expect("a content-length");
                break (end + 4, length);
            }
            self.read_more().await;
        };
        while self.buffer.len() < head + length {
            self.read_more().await;
        }
        &self.buffer[head..head + length]
    }

    async fn read_more(&mut self) {
        let read = self.stream.read_buf(&mut self.buffer).await.expect("read");
        assert!(read > 0, "the server closed the connection");
    }
}

/// `LATENCY_REQUESTS` requests one after another on one connection; each one's latency.
async fn latencies(address: &str, request: &[u8]) -> Vec<Duration> {
    let mut connection = Connection::open(address).await;
    let mut samples = Vec::with_capacity(LATENCY_REQUESTS);
    for _ in 0..LATENCY_REQUESTS {
        let sent = Instant::now();
        connection.get(request).await;
        samples.push(sent.elapsed());
    }
    samples
}

/// Requests per second over `connections` keep-alive connections for `THROUGHPUT_ROUND`.
async fn throughput(address: &str, request: &[u8], connections: usize) -> f64 {
    let mut clients = Vec::new();
    let mut opened = Vec::new();
    for _ in 0..connections {
        opened.push(Connection::open(address).await);
    }
    let started = Instant::now();
    let deadline = started + THROUGHPUT_ROUND;
    for mut connection in opened {
        let request = request.to_vec();
        clients.push(tokio::spawn(async move {
            let mut done = 0_u64;
            while Instant::now() < deadline {
                connection.get(&request).await;
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for client in clients {
        total += client.await.expect("a client task");
    }
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let rate = total as f64 / started.elapsed().as_secs_f64();
    rate
}

fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let at = ((sorted.len() as f64 * fraction) as usize).min(sorted.len() - 1);
    sorted[at].as_secs_f64() * 1e6
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A running extension.
struct Extension {
    child: Child,
    api: ExtensionsApi,
    address: String,
    ready: Duration,
}

impl Extension {
    async fn start(binary: &str, root: &std::path::Path, endpoint: &str) -> Self {
        let api = ExtensionsApi::start().await;
        let port = free_port();
        let started = Instant::now();
        let child = api
            .command(binary, root, endpoint, TOKEN)
            .env("CACHE_EXTENSION_PORT", port.to_string())
            .env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "off")
            .env("AWS_APPCONFIG_EXTENSION_HTTP_PORT", "off")
            .env("CACHE_EXTENSION_TTL", "5m")
            .stdout(Stdio::null())
            .spawn()
            .expect("the extension binary starts");
        let next = api.wait_for("/event/next", 1, LIMIT).await;
        Self {
            child,
            address: format!("127.0.0.1:{port}"),
            ready: next[0].at - started,
            api,
        }
    }

    /// SHUTDOWN, then waits for exit 0.
    fn stop(mut self) {
        self.api.shutdown();
        let Some(status) = wait_exit(&mut self.child, Duration::from_secs(3)) else {
            let _ = self.child.kill();
            panic!("the extension did not exit after SHUTDOWN");
        };
        assert!(status.success(), "the extension exited with {status}");
    }
}

/// The floor server, killed on drop.
struct Floor(Child);

impl Floor {
    fn start(binary: &str, port: u16, body_file: &std::path::Path) -> Self {
        let mut child = Command::new(binary)
            .arg(port.to_string())
            .arg(body_file)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the floor binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("the floor's first line");
        assert_eq!(line.trim(), "ready", "the floor did not start");
        Self(child)
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn request(target: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nhost: localhost\r\nx-aws-parameters-secrets-token: {TOKEN}\r\n\r\n"
    )
    .into_bytes()
}

/// SSM GetParameter as boto3 sends it to the extension's SDK endpoint: `POST /`, AWS JSON 1.1,
/// SigV4-signed (at `now`, valid 5 minutes: the run replays it) with the environment's test
/// credentials, which the extension verifies on every request.
fn sdk_request(name: &str) -> Vec<u8> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let body = format!(r#"{{"Name": "{name}", "WithDecryption": false}}"#);
    let identity = aws_credential_types::Credentials::new(
        "testing",
        "testing",
        Some(TOKEN.to_owned()),
        None,
        "bench",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("ssm")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing parameters")
        .into();
    let headers = [
        ("host", "localhost"),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "AmazonSSM.GetParameter"),
    ];
    let signable = SignableRequest::new(
        "POST",
        "http://localhost/",
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .expect("a signable request");
    let (instructions, _) = sign(signable, &params).expect("a signature").into_parts();
    let mut request = String::from("POST / HTTP/1.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    for (name, value) in instructions.headers() {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "user-agent: Boto3/1.35 md/Botocore#1.35 ua/2.0 os/linux lang/python#3.11\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    request.into_bytes()
}

/// Latency of `request` against the extension and of the same bytes against `floor`, on one
/// connection each, rounds alternating: (p50, p99, floor p50, floor p99, p50 ratio per round).
async fn latency_pair(
    extension: &str,
    floor: &str,
    request: &[u8],
) -> (f64, f64, f64, f64, Vec<f64>) {
    let mut samples = [Vec::new(), Vec::new()];
    let mut round_p50 = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for (side, address) in [extension, floor].into_iter().enumerate() {
            let mut round = latencies(address, request).await;
            round.sort();
            round_p50[side].push(percentile(&round, 0.5));
            samples[side].extend(round);
        }
    }
    let [mut ours, mut theirs] = samples;
    ours.sort();
    theirs.sort();
    let ratios = round_p50[0]
        .iter()
        .zip(&round_p50[1])
        .map(|(ours, floor)| ours / floor)
        .collect();
    (
        percentile(&ours, 0.5),
        percentile(&ours, 0.99),
        percentile(&theirs, 0.5),
        percentile(&theirs, 0.99),
        ratios,
    )
}

/// Stores `ITEMS` items of a realistic size, 25 per BatchWriteItem.
async fn fill(client: &aws_sdk_dynamodb::Client, table: &str) {
    let items: Vec<WriteRequest> = (0..ITEMS)
        .map(|i| {
            let put = PutRequest::builder()
                .item("pk", AttributeValue::S(format!("user-{i}")))
                .item("name", AttributeValue::S(format!("User number {i}")))
                .item("email", AttributeValue::S(format!("user{i}@example.com")))
                .item("plan", AttributeValue::S("enterprise".into()))
                .item("visits", AttributeValue::N(format!("{}", i * 7)))
                .item("active", AttributeValue::Bool(i % 2 == 0))
                .build()
                .expect("a put request");
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    for chunk in items.chunks(25) {
        client
            .batch_write_item()
            .request_items(table, chunk.to_vec())
            .send()
            .await
            .expect("batch_write_item");
    }
}

#[allow(clippy::print_stdout, clippy::print_stderr, clippy::too_many_lines)] // the bench's report
fn main() {
    let extension_bin = variable("LAMBDA_CACHE_EXTENSION_BIN");
    let floor_bin = variable("LAMBDA_CACHE_FLOOR_BIN");
    let report_path = variable("LAMBDA_CACHE_EXTENSION_REPORT");
    let rt = runtime();
    let report = rt.block_on(async {
        let moto = moto_endpoint();
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config(&moto).await);
        let table = unique("bench-items");
        create_table(&dynamodb, &table, ("pk", ScalarAttributeType::S), None).await;
        fill(&dynamodb, &table).await;
        let root = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(
            root.path().join("cache.yaml"),
            format!("dynamodb:\n  - table: {table}\n    hashKey: pk\n    hashKeyType: S\n"),
        )
        .expect("cache.yaml");
        let proxy = CountingProxy::start(&moto).await;

        // Exec to ready (listening, registered, configured; no preload): the first event/next.
        let mut ready = Vec::new();
        for _ in 0..READY_SPAWNS {
            let extension = Extension::start(&extension_bin, root.path(), proxy.endpoint()).await;
            ready.push(extension.ready.as_secs_f64() * 1e3);
            extension.stop();
        }
        let extension = Extension::start(&extension_bin, root.path(), proxy.endpoint()).await;
        ready.push(extension.ready.as_secs_f64() * 1e3);
        let rss_idle = rss(extension.child.id());

        // One hot item: fetched once, then every request is a hit.
        let hot = request(&format!("/dynamodb?name={table}@@user-1"));
        let body = Connection::open(&extension.address)
            .await
            .get(&hot)
            .await
            .to_vec();
        assert_eq!(proxy.count_of(".GetItem"), 1);
        let body_file = root.path().join("floor-body.json");
        std::fs::write(&body_file, &body).expect("the floor's body");
        let floor_port = free_port();
        let floor = Floor::start(&floor_bin, floor_port, &body_file);
        let floor_address = format!("127.0.0.1:{floor_port}");
        let plain = request("/");
        let sides = [
            (extension.address.as_str(), hot.as_slice()),
            (floor_address.as_str(), plain.as_slice()),
        ];

        // Latency on one connection, rounds alternating between the two servers.
        let mut samples = [Vec::new(), Vec::new()];
        let mut round_p50 = [Vec::new(), Vec::new()];
        for _ in 0..ROUNDS {
            for (side, (address, request)) in sides.iter().enumerate() {
                let mut round = latencies(address, request).await;
                round.sort();
                round_p50[side].push(percentile(&round, 0.5));
                samples[side].extend(round);
            }
        }
        let [mut ours, mut floor_samples] = samples;
        ours.sort();
        floor_samples.sort();
        let (p50, p99) = (percentile(&ours, 0.5), percentile(&ours, 0.99));
        let (floor_p50, floor_p99) = (
            percentile(&floor_samples, 0.5),
            percentile(&floor_samples, 0.99),
        );
        let round_ratios: Vec<f64> = round_p50[0]
            .iter()
            .zip(&round_p50[1])
            .map(|(ours, floor)| ours / floor)
            .collect();

        // Requests per second, the median of alternating rounds.
        let mut rates = Vec::new();
        for connections in CONNECTIONS {
            let mut rounds = [Vec::new(), Vec::new()];
            for _ in 0..ROUNDS {
                for (side, (address, request)) in sides.iter().enumerate() {
                    rounds[side].push(throughput(address, request, connections).await);
                }
            }
            let [mut ours, mut floor] = rounds;
            rates.push((connections, median(&mut ours), median(&mut floor)));
        }
        let hot_calls = proxy.count_of(".GetItem");
        assert_eq!(hot_calls, 1, "every request after the first must be a hit");

        // The SDK endpoint: boto3's GetParameter (signed, verified each time), a hit, against
        // a floor answering a body of the same size to the same request bytes.
        let parameter = format!("/{}", unique("bench/sdk"));
        lambda_cache_testkit::put_parameter(
            &aws_sdk_ssm::Client::new(&sdk_config(&moto).await),
            &parameter,
            aws_sdk_ssm::types::ParameterType::String,
            "a configuration value of a realistic length, 48 B",
        )
        .await;
        let sdk = sdk_request(&parameter);
        let sdk_body = Connection::open(&extension.address)
            .await
            .get(&sdk)
            .await
            .to_vec();
        assert!(sdk_body.starts_with(b"{\"Parameter\":"), "a GetParameter answer");
        let sdk_floor_body = root.path().join("floor-sdk-body.json");
        std::fs::write(&sdk_floor_body, &sdk_body).expect("the floor's body");
        let sdk_floor_port = free_port();
        let sdk_floor = Floor::start(&floor_bin, sdk_floor_port, &sdk_floor_body);
        let (sdk_p50, sdk_p99, sdk_floor_p50, sdk_floor_p99, sdk_ratios) = latency_pair(
            &extension.address,
            &format!("127.0.0.1:{sdk_floor_port}"),
            &sdk,
        )
        .await;
        drop(sdk_floor);
        assert_eq!(
            proxy.count_of(".GetParameter"),
            1,
            "every SDK request after the first must be a hit"
        );
        eprintln!(
            "extension SDK endpoint (boto3-shaped GetParameter, SigV4 verified): p50 {sdk_p50:.1} / {sdk_floor_p50:.1} us = {:.2}x, \
             p99 {sdk_p99:.1} / {sdk_floor_p99:.1} us = {:.2}x the floor (per round: {sdk_ratios:.2?})",
            sdk_p50 / sdk_floor_p50,
            sdk_p99 / sdk_floor_p99,
        );

        // Every item read once (sixteen connections): the cache holds ITEMS rendered items.
        let per_client = ITEMS.div_ceil(16);
        let mut readers = Vec::new();
        for client in 0..16 {
            let (address, table) = (extension.address.clone(), table.clone());
            readers.push(tokio::spawn(async move {
                let mut connection = Connection::open(&address).await;
                for i in client * per_client..((client + 1) * per_client).min(ITEMS) {
                    let body = connection
                        .get(&request(&format!("/dynamodb?name={table}@@user-{i}")))
                        .await;
                    assert!(body.starts_with(b"{"), "an item");
                }
            }));
        }
        for reader in readers {
            reader.await.expect("a reader");
        }
        assert_eq!(proxy.count_of(".GetItem"), ITEMS, "one GetItem per item");
        let rss_items = rss(extension.child.id());
        let floor_rss = rss(floor.0.id());
        drop(floor);
        extension.stop();

        let mut sorted_ready = ready.clone();
        let ready_median = median(&mut sorted_ready);
        let ready_max = sorted_ready.last().copied().unwrap_or(f64::NAN);
        eprintln!(
            "extension: ready {ready_median:.1} ms (max {ready_max:.1} of {}); item {} bytes; \
             1 connection p50 {p50:.1} / {floor_p50:.1} us = {:.2}x, p99 {p99:.1} / {floor_p99:.1} us = {:.2}x; \
             RSS idle {rss_idle} KiB, with {ITEMS} items {rss_items} KiB (floor {floor_rss} KiB)",
            ready.len(),
            body.len(),
            p50 / floor_p50,
            p99 / floor_p99,
        );
        for &(connections, ours, floor) in &rates {
            eprintln!(
                "extension: {connections} connections: {ours:.0} / {floor:.0} req/s = {:.2}x the floor",
                ours / floor
            );
        }
        // Flat, with unique names: `cargo xtask bench` reads it without a JSON parser.
        let mut report = json!({
            "item_bytes": body.len(),
            "p50_us": p50, "p99_us": p99,
            "floor_p50_us": floor_p50, "floor_p99_us": floor_p99,
            "p50_ratio": p50 / floor_p50, "p99_ratio": p99 / floor_p99,
            "p50_ratio_per_round": round_ratios,
            "latency_requests": ours.len(),
            "ready_ms_median": ready_median, "ready_ms_max": ready_max, "ready_ms_runs": ready,
            "rss_kib_idle": rss_idle, "rss_kib_with_items": rss_items, "items": ITEMS,
            "floor_rss_kib": floor_rss,
            "sdk": {
                "operation": "ssm:GetParameter, boto3-shaped, SigV4 verified, a hit",
                "sdk_body_bytes": sdk_body.len(),
                "sdk_p50_us": sdk_p50, "sdk_p99_us": sdk_p99,
                "sdk_floor_p50_us": sdk_floor_p50, "sdk_floor_p99_us": sdk_floor_p99,
                "sdk_p50_ratio": sdk_p50 / sdk_floor_p50,
                "sdk_p99_ratio": sdk_p99 / sdk_floor_p99,
                "sdk_p50_ratio_per_round": sdk_ratios,
            },
        });
        for &(connections, ours, floor) in &rates {
            report[format!("rps_{connections}")] = json!(ours);
            report[format!("floor_rps_{connections}")] = json!(floor);
            report[format!("rps_ratio_{connections}")] = json!(ours / floor);
        }
        report
    });
    std::fs::write(&report_path, format!("{report}\n"))
        .unwrap_or_else(|e| panic!("cannot write {report_path}: {e}"));
}
