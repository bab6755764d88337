//! Cold start: a Lambda function's process from exec to its first value, through lambda-cache
//! and with the bare SDK. The two functions are the size fixtures (`xtask/size/`, built with the
//! `size` profile by `cargo xtask bench`, which passes their paths): each reads one SSM
//! parameter on its first invocation, under a mock Runtime API, against the emulator.
//!
//! - `cold_start`: exec → the first answer posted (config load, client build, first fetch).
//! - `init`: exec → the first `invocation/next` (the function's init phase alone).
//!
//! Each measured start is preceded by an untimed start of the other function, so both see the
//! same machine and emulator.
#![allow(missing_docs, clippy::disallowed_methods)] // a benchmark times itself

use std::io::{Read as _, Seek as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ssm::types::ParameterType;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use lambda_cache_bench::{Ssm, runtime};
use lambda_cache_testkit::{RuntimeApi, put_parameter};

/// What the size fixtures read.
const PARAMETER: &str = "/production/app/var";
const LIMIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy)]
enum Phase {
    /// Exec to the first `invocation/next`.
    Init,
    /// Exec to the first answer.
    FirstValue,
}

/// Starts `binary` as a Lambda function with one event to answer, waits for its answer, and
/// returns how long after exec `phase` ended.
///
/// # Panics
/// If the function does not answer within `LIMIT`, or answers with an error.
fn start(rt: &tokio::runtime::Runtime, binary: &str, phase: Phase) -> Duration {
    let api = rt.block_on(RuntimeApi::start(vec![serde_json::json!({})]));
    let stderr = tempfile::tempfile().expect("a temporary file");
    let started = Instant::now();
    let mut function = Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "cold-start")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr.try_clone().expect("a file handle"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let answered = loop {
        if let Some(at) = api.arrived("/response") {
            break Ok(at);
        }
        if let Some(status) = function.try_wait().expect("wait") {
            break Err(format!("exited with {status} before answering"));
        }
        if started.elapsed() > LIMIT {
            break Err(format!("did not answer within {LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let _ = function.kill();
    let _ = function.wait();
    let answered = answered.unwrap_or_else(|why| {
        let mut said = String::new();
        let mut stderr = &stderr;
        let _ = stderr.seek(std::io::SeekFrom::Start(0));
        let _ = stderr.read_to_string(&mut said);
        panic!("{binary} {why}; its stderr: {said}")
    });
    let answers = rt.block_on(api.answers());
    assert!(
        answers.first().is_some_and(|a| !a.is_error),
        "{binary} answered with an error: {answers:?}"
    );
    let ended = match phase {
        Phase::Init => api
            .arrived("/invocation/next")
            .expect("the function asked for its event"),
        Phase::FirstValue => answered,
    };
    ended - started
}

fn cold(c: &mut Criterion) {
    let binary = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `cargo xtask bench`"))
    };
    let ours = binary("LAMBDA_CACHE_COLD_WITH_LAMBDA_CACHE");
    let bare = binary("LAMBDA_CACHE_COLD_BARE_SDK");
    let rt = runtime();
    rt.block_on(async {
        let fixture = Ssm::new().await;
        put_parameter(&fixture.admin, PARAMETER, ParameterType::String, "value").await;
    });
    for (group, phase) in [("cold_start", Phase::FirstValue), ("init", Phase::Init)] {
        let mut group = c.benchmark_group(group);
        group.sampling_mode(SamplingMode::Flat);
        for (name, measured, other) in [("lambda_cache", &ours, &bare), ("bare_sdk", &bare, &ours)]
        {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            start(&rt, other, phase);
                            start(&rt, measured, phase)
                        })
                        .sum()
                });
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    targets = cold
}
criterion_main!(benches);
