//! Backend calls, counted: 1000 concurrent requests for an expired key (lambda-cache and
//! aws_secretsmanager_caching), and K declared SSM parameters refreshed. Writes JSON to the file
//! named by `LAMBDA_CACHE_CALLS_REPORT` (set by `cargo xtask bench`), or prints it.
//!
//! A bench target (no harness) rather than a binary, so that `cargo bench` builds it with the
//! timing benchmarks' features: a separate `cargo run` would rebuild much of the SDK.
#![allow(clippy::print_stdout)] // its output is the report

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use lambda_cache::entries::Entries;
use lambda_cache_bench::{Ssm, runtime, unique_path};
use lambda_cache_core::join_all;
use lambda_cache_testkit::{Requests, moto_endpoint, sdk_config, unique};

const REQUESTS: usize = 1000;
/// Short, so the benchmark can let it pass in real time (this is not a test).
const MAX_AGE: Duration = Duration::from_millis(500);

fn main() {
    let rt = runtime();
    let report = rt.block_on(async {
        let ssm = Ssm::new().await;
        let single_flight = single_flight_lambda_cache(&ssm).await;
        let peer = single_flight_peer().await;
        let mut batch = serde_json::Map::new();
        for k in [1_usize, 10, 11, 25] {
            batch.insert(k.to_string(), batch_calls(&ssm, k).await.into());
        }
        serde_json::json!({
            "single_flight_backend_calls": {
                "requests": REQUESTS,
                "lambda_cache": single_flight,
                "aws_secretsmanager_caching": peer,
            },
            "batch_backend_calls": batch,
        })
    });
    match std::env::var_os("LAMBDA_CACHE_CALLS_REPORT") {
        Some(path) => std::fs::write(&path, format!("{report}\n"))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display())),
        None => println!("{report}"),
    }
}

/// GetParameters calls made by 1000 concurrent reads of an expired parameter.
async fn single_flight_lambda_cache(ssm: &Ssm) -> usize {
    let name = format!("{}/var", unique_path("flight"));
    ssm.put(&name, "v").await;
    let cache = ssm.cache();
    cache.get_entry_with(&name, MAX_AGE).await.expect("primed");
    tokio::time::sleep(MAX_AGE + Duration::from_millis(100)).await;
    let before = ssm.requests.count();
    let reads = (0..REQUESTS).map(|_| cache.get_entry_with(&name, MAX_AGE));
    for read in join_all(reads).await {
        read.expect("read");
    }
    ssm.requests.count() - before
}

/// GetSecretValue calls made by 1000 concurrent reads of an expired secret through the
/// aws_secretsmanager_caching crate.
async fn single_flight_peer() -> usize {
    let config = sdk_config(&moto_endpoint()).await;
    let name = unique("flight-secret");
    aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(&name)
        .secret_string("v")
        .send()
        .await
        .expect("create_secret");
    let requests = Requests::default();
    let client = Arc::new(
        aws_secretsmanager_caching::SecretsManagerCachingClient::from_builder(
            aws_sdk_secretsmanager::config::Builder::from(&config).interceptor(requests.clone()),
            NonZeroUsize::new(1024).expect("non-zero"),
            MAX_AGE,
            false,
        )
        .await
        .expect("caching client"),
    );
    client
        .get_secret_value(&name, None, None, false)
        .await
        .expect("primed");
    tokio::time::sleep(MAX_AGE + Duration::from_millis(100)).await;
    let before = requests.count();
    let reads = (0..REQUESTS).map(|_| client.get_secret_value(&name, None, None, false));
    // Counted are the calls the peer sends; under 1000 at once the emulator may time some out,
    // which does not change how many were sent.
    let failed = join_all(reads).await.iter().filter(|r| r.is_err()).count();
    if failed > 0 {
        eprintln!("calls: {failed} of the peer's {REQUESTS} reads failed (emulator overloaded)");
    }
    requests.count() - before
}

/// GetParameters calls made by the first refresh of `k` declared parameters.
async fn batch_calls(ssm: &Ssm, k: usize) -> usize {
    let base = unique_path("batch");
    let mut builder = Entries::builder().service(ssm.cache());
    for i in 0..k {
        let name = format!("{base}/p{i}");
        ssm.put(&name, "v").await;
        builder =
            builder.entry(lambda_cache::ssm::parameter(&name).max_age(Duration::from_secs(60)));
    }
    let entries = builder.build().expect("declarations");
    let before = ssm.requests.count();
    entries.refresh().await.expect("refresh");
    ssm.requests.count() - before
}
