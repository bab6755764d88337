//! The extension under load and abuse: the release binary under a mock Extensions API, in front
//! of moto behind the testkit's `FaultProxy`, which cycles through the backend faults while
//! 64 keep-alive connections send 100,000 requests. Then, while a probe reads on new
//! connections, a thousand idle connections, slow-header and slow-body clients, and oversized
//! heads. Loopback only; bounded in requests and time.
//!
//! Run by `cargo xtask load`, which starts moto and builds the release binary first. Exits
//! non-zero if a request is answered wrongly (a 200 with another name's value, or anything but
//! a 200 for a value held), if the process dies, or if open files grow.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_ssm::types::ParameterType;
use lambda_cache_testkit::{
    Dialect, ExtensionsApi, Fault, FaultProxy, HttpConnection, create_secret, free_port, http_raw,
    moto_endpoint, put_parameter, rss_kib, sdk_config, unique,
};
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const TOKEN: &str = "load-session-token";
/// The token header every data request carries.
const TOKEN_HEADER: &[(&str, &str)] = &[("x-aws-parameters-secrets-token", TOKEN)];
const PARAMETERS: usize = 40;
const SECRETS: usize = 10;
const CONNECTIONS: usize = 64;
const REQUESTS: usize = 100_000;
const WARM_UP: usize = 10_000;
const IDLE: usize = 1_000;

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
#[allow(clippy::print_stdout)] // a report
#[allow(clippy::disallowed_methods)] // wall-clock figures for the report, not for the cache
async fn main() -> Result<(), Failure> {
    let binary = std::env::var("LAMBDA_CACHE_EXTENSION_BIN")
        .map_err(|_| "LAMBDA_CACHE_EXTENSION_BIN is not set: run `cargo xtask load`")?;
    let moto = moto_endpoint();
    let config = sdk_config(&moto).await;
    let prefix = format!("/{}", unique("load"));
    let ssm = aws_sdk_ssm::Client::new(&config);
    for i in 0..PARAMETERS {
        let name = format!("{prefix}/p{i}");
        put_parameter(&ssm, &name, ParameterType::String, &format!("value-{i}")).await;
    }
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let secret_prefix = unique("load");
    for i in 0..SECRETS {
        create_secret(
            &secrets,
            &format!("{secret_prefix}-s{i}"),
            &format!("secret-{i}"),
        )
        .await;
    }

    let proxy = Arc::new(FaultProxy::start(&moto, Dialect::AwsJson).await);
    let api = ExtensionsApi::start().await;
    let dir = tempfile::tempdir()?;
    let port = free_port();
    let mut child = Command::new(&binary)
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("LAMBDA_TASK_ROOT", dir.path())
        .env("AWS_ENDPOINT_URL", proxy.endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", TOKEN)
        .env("CACHE_EXTENSION_PORT", port.to_string())
        .env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "off")
        .env("AWS_APPCONFIG_EXTENSION_HTTP_PORT", "off")
        // Values expire every second, so that the load keeps reaching the failing backend.
        .env("SSM_PARAMETER_STORE_TTL", "1")
        .env("SECRETS_MANAGER_TTL", "1")
        .env("CACHE_EXTENSION_MAX_IN_FLIGHT", "16")
        .env("CACHE_EXTENSION_BACKEND_TIMEOUT", "1s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    api.wait_for("/event/next", 1, Duration::from_secs(20))
        .await;
    let address = format!("127.0.0.1:{port}");
    let targets = Arc::new(Targets::new(&prefix, &secret_prefix));

    println!("== lambda-cache-extension under load (pid {pid}, 127.0.0.1:{port})\n");
    // The warm-up, with a healthy backend: every value is held before the faults begin, so
    // that a 502 or 504 later is a value not served stale.
    let warm = run(&address, &targets, WARM_UP, false).await?;
    let mut stats = HttpConnection::open(&address).await?;
    let held = stats.get("/v1/stats", TOKEN_HEADER).await?.body;
    let (rss_before, fds_before) = (rss_kib(pid).unwrap_or(0), open_files(pid));
    println!(
        "warm-up: {} requests, healthy backend; RSS {rss_before} KiB, {fds_before} open files",
        warm.total()
    );
    let entries = serde_json::from_str::<serde_json::Value>(&held)?["cache"]["entries"].as_u64();
    if entries != Some(targets.paths.len() as u64) {
        return Err(format!(
            "after the warm-up the cache holds {entries:?} values, not {}: {held}",
            targets.paths.len()
        )
        .into());
    }

    // The backend fails in turn with each fault, 100 ms each, between healthy spells of 100 ms:
    // every fault several times within the run.
    let cycling = Arc::new(AtomicBool::new(true));
    let faults = {
        let (proxy, cycling) = (Arc::clone(&proxy), Arc::clone(&cycling));
        tokio::spawn(async move {
            let mut injected = 0_usize;
            while cycling.load(Ordering::Relaxed) {
                for fault in Fault::ALL {
                    if !cycling.load(Ordering::Relaxed) {
                        break;
                    }
                    proxy.inject(fault).await;
                    injected += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    proxy.clear().await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            injected
        })
    };

    // Two rounds: memory a round leaves behind would show again after the second.
    let mut load = Tally::default();
    let mut rss_after = Vec::new();
    let mut fds_after = 0;
    for round in 1..=2 {
        let started = Instant::now();
        let tally = run(&address, &targets, REQUESTS, true).await?;
        let elapsed = started.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss = rss_kib(pid).unwrap_or(0);
        fds_after = open_files(pid);
        println!(
            "load round {round}: {} requests over {CONNECTIONS} connections in {:.1} s ({:.0}/s), backend faults cycling",
            tally.total(),
            elapsed.as_secs_f64(),
            tally.total() as f64 / elapsed.as_secs_f64(),
        );
        println!(
            "  statuses: {:?}; 200s by source: {:?}; answered wrongly: {}",
            tally.statuses, tally.sources, tally.wrong
        );
        println!(
            "  after it: RSS {rss} KiB ({:+} KiB since the warm-up), {fds_after} open files ({:+})",
            i64::try_from(rss).unwrap_or(0) - i64::try_from(rss_before).unwrap_or(0),
            i64::try_from(fds_after).unwrap_or(0) - i64::try_from(fds_before).unwrap_or(0),
        );
        for failure in &tally.failures {
            println!("    {failure}");
        }
        rss_after.push(rss);
        load.add(tally);
    }
    cycling.store(false, Ordering::Relaxed);
    let injected = faults.await?;
    proxy.clear().await;
    println!(
        "  {injected} faults injected in all, {} requests reached the backend",
        proxy.requests()
    );

    // A new connection: the one of the warm-up sat idle past the server's idle timeout.
    let mut stats = HttpConnection::open(&address).await?;
    println!(
        "  /v1/stats: {}",
        stats.get("/v1/stats", TOKEN_HEADER).await?.body
    );
    let abuse = abuse(&address, &targets).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_end, fds_end) = (rss_kib(pid).unwrap_or(0), open_files(pid));
    println!(
        "  after the abuse: RSS {rss_end} KiB, {fds_end} open files, process alive: {}",
        child.try_wait()?.is_none()
    );

    let mut problems = Vec::new();
    if load.wrong + warm.wrong > 0 {
        problems.push(format!(
            "{} requests answered wrongly",
            load.wrong + warm.wrong
        ));
    }
    if rss_after[1] > rss_after[0] + rss_after[0] / 4 {
        problems.push(format!("RSS grew from round to round: {rss_after:?} KiB"));
    }
    if fds_after > fds_before + 4 {
        problems.push(format!("open files grew from {fds_before} to {fds_after}"));
    }
    if child.try_wait()?.is_some() {
        problems.push("the extension died".to_owned());
    }
    problems.extend(abuse);
    let _ = child.kill();
    let _ = child.wait();
    if problems.is_empty() {
        println!("\nno request answered wrongly, no crash, open files flat");
        Ok(())
    } else {
        Err(problems.join("; ").into())
    }
}

/// What the load reads, and what a right answer holds.
struct Targets {
    paths: Vec<(String, String)>,
}

impl Targets {
    fn new(prefix: &str, secret_prefix: &str) -> Self {
        let parameters = (0..PARAMETERS).map(|i| {
            (
                format!("/systemsmanager/parameters/get?name={prefix}/p{i}"),
                format!("\"Value\":\"value-{i}\""),
            )
        });
        let secrets = (0..SECRETS).map(|i| {
            (
                format!("/secretsmanager/get?secretId={secret_prefix}-s{i}"),
                format!("\"SecretString\":\"secret-{i}\""),
            )
        });
        Self {
            paths: parameters.chain(secrets).collect(),
        }
    }
}

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, usize>,
    /// Where each 200's value came from: `cache`, `backend` or `stale`.
    sources: BTreeMap<String, usize>,
    /// The first 502 and 504 answers, with their paths.
    failures: Vec<String>,
    wrong: usize,
}

impl Tally {
    fn total(&self) -> usize {
        self.statuses.values().sum()
    }

    fn add(&mut self, other: Self) {
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (source, n) in other.sources {
            *self.sources.entry(source).or_default() += n;
        }
        self.wrong += other.wrong;
    }
}

/// `count` requests over `CONNECTIONS` keep-alive connections, each answer checked: a 200
/// must hold the value of the name asked for; 429 (in-flight limit), 502 (the backend failed)
/// and 504 (it did not answer in time) are right only while values may not be `held` yet: once
/// held, a value is answered from memory through any fault (refreshed ahead, or stale).
async fn run(
    address: &str,
    targets: &Arc<Targets>,
    count: usize,
    held: bool,
) -> Result<Tally, Failure> {
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut workers = Vec::new();
    for _ in 0..CONNECTIONS {
        let (address, targets) = (address.to_owned(), Arc::clone(targets));
        let (next, tally) = (Arc::clone(&next), Arc::clone(&tally));
        workers.push(tokio::spawn(async move {
            let mut connection = HttpConnection::open(&address).await?;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return Ok::<(), Failure>(());
                }
                let (path, expected) = &targets.paths[n % targets.paths.len()];
                let answer = match connection.get(path, TOKEN_HEADER).await {
                    Ok(answer) => answer,
                    Err(_) => {
                        // The server closed a kept-alive connection: open another, once.
                        connection = HttpConnection::open(&address).await?;
                        connection.get(path, TOKEN_HEADER).await?
                    }
                };
                let (status, body) = (answer.status, &answer.body);
                let right = match status {
                    200 => body.contains(expected.as_str()),
                    // Only before a value is held: afterwards it is served from memory (fresh,
                    // refreshed ahead, or stale through a fault), never refused nor failed.
                    429 | 502 | 504 => !held,
                    _ => false,
                };
                let mut tally = tally.lock();
                *tally.statuses.entry(status).or_default() += 1;
                if status == 200 {
                    let source = answer.header("x-lambda-cache-source").unwrap_or_default();
                    *tally.sources.entry(source.to_owned()).or_default() += 1;
                }
                if matches!(status, 502 | 504) && tally.failures.len() < 8 {
                    tally.failures.push(format!("{status} {path}: {body}"));
                }
                if !right {
                    tally.wrong += 1;
                }
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let tally = std::mem::take(&mut *tally.lock());
    Ok(tally)
}

/// A thousand idle connections, slow-header and slow-body clients and oversized heads, while a
/// probe reads a parameter on a new connection every 50 ms. Returns what went wrong.
#[allow(clippy::print_stdout)]
#[allow(clippy::disallowed_methods)]
async fn abuse(address: &str, targets: &Arc<Targets>) -> Result<Vec<String>, Failure> {
    let mut problems = Vec::new();
    let mut held = Vec::new();
    for _ in 0..IDLE {
        held.push(TcpStream::connect(address).await?);
    }
    // Slow headers: a byte every 200 ms, never finishing.
    let stop = Arc::new(AtomicBool::new(false));
    let mut slow = Vec::new();
    for i in 0..50 {
        let (address, stop) = (address.to_owned(), Arc::clone(&stop));
        slow.push(tokio::spawn(async move {
            let Ok(mut stream) = TcpStream::connect(&address).await else {
                return;
            };
            let head: &[u8] = if i % 2 == 0 {
                b"GET /ping HTTP/1.1\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            } else {
                // A GET with a body that never finishes.
                b"GET /ping HTTP/1.1\r\ncontent-length: 100000\r\n\r\nbbbbbbbbbbbbbbbbbbbbbbbbbb"
            };
            for byte in head.iter().cycle() {
                if stop.load(Ordering::Relaxed) || stream.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }
    // Oversized request lines and headers.
    let mut oversized = BTreeMap::<u16, usize>::new();
    for i in 0..20 {
        let request = if i % 2 == 0 {
            format!("GET /ping?{} HTTP/1.1\r\n\r\n", "a".repeat(100 * 1024))
        } else {
            format!(
                "GET /ping HTTP/1.1\r\nx-big: {}\r\n\r\n",
                "b".repeat(64 * 1024)
            )
        };
        let status = tokio::time::timeout(
            Duration::from_secs(5),
            http_raw(address, request.as_bytes()),
        )
        .await
        .map_or(0, |answer| answer.status);
        *oversized.entry(status).or_default() += 1;
    }
    // The probe: a new connection per read, as a function that does not keep connections.
    let mut latencies = Vec::new();
    let mut probe_statuses = BTreeMap::<u16, usize>::new();
    let (path, expected) = &targets.paths[0];
    for _ in 0..100 {
        let started = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(30), async {
            let mut connection = HttpConnection::open(address).await?;
            connection.get(path, TOKEN_HEADER).await
        })
        .await;
        latencies.push(started.elapsed());
        match answer {
            Ok(Ok(answer)) => {
                *probe_statuses.entry(answer.status).or_default() += 1;
                if answer.status == 200 && !answer.body.contains(expected.as_str()) {
                    problems.push("the probe got another value".to_owned());
                }
            }
            _ => *probe_statuses.entry(0).or_default() += 1,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in slow {
        let _ = task.await;
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "abuse: {IDLE} idle connections, 25 slow-header and 25 slow-body clients, 20 oversized heads (statuses {oversized:?})"
    );
    println!(
        "  probe (new connection per read, 100 reads): statuses {probe_statuses:?}; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(latencies[49]),
        ms(latencies[98]),
        ms(latencies[99])
    );
    if probe_statuses.keys().any(|s| !matches!(s, 200 | 502 | 504)) {
        problems.push(format!("the probe got {probe_statuses:?}"));
    }
    if oversized.keys().any(|s| !matches!(s, 400 | 414 | 431)) {
        problems.push(format!("oversized heads got {oversized:?}"));
    }
    drop(held);
    Ok(problems)
}

/// Files the process has open (`/proc/PID/fd`).
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}
