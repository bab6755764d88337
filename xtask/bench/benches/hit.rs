//! The hit path: a warm keyed read, against a raw baseline measured in the same run (a HashMap
//! lookup of the same key, a monotonic clock read and an Arc clone), moka's sync cache, and the
//! aws_secretsmanager_caching crate; then the same with two threads reading at once; then what a
//! handler pays per invocation for K declared entries (`Entries::refresh` with all of them fresh).
#![allow(missing_docs, clippy::disallowed_methods)] // the baseline reads the clock itself

use std::collections::HashMap;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_cache::entries::Entries;
use lambda_cache::ssm::SsmCache;
use lambda_cache_bench::{PARAMETER, Ssm, ready, runtime, unique_path};
use lambda_cache_testkit::{moto_endpoint, sdk_config, unique};

const MAX_AGE: Duration = Duration::from_secs(3600);

type Raw = Arc<HashMap<String, (Arc<String>, Instant)>>;

fn raw_get(raw: &Raw) -> Option<Arc<String>> {
    let now = Instant::now();
    let (value, fetched_at) = raw.get(black_box(PARAMETER))?;
    (now.duration_since(*fetched_at) < MAX_AGE).then(|| Arc::clone(value))
}

fn cached_get(ssm: &SsmCache) -> Option<lambda_cache::Entry<lambda_cache::ssm::Value>> {
    ready(ssm.get_entry_with(black_box(PARAMETER), MAX_AGE)).ok()
}

/// Runs `op` `iters` times on each of two threads at once; returns the wall time, so that the
/// reported time per iteration is the time per read with two readers in parallel.
fn two_threads(iters: u64, op: impl Fn() + Send + Sync + 'static) -> Duration {
    let op = Arc::new(op);
    let barrier = Arc::new(Barrier::new(3));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (op, barrier) = (Arc::clone(&op), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..iters {
                    op();
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for worker in workers {
        worker.join().expect("worker");
    }
    start.elapsed()
}

fn hit(c: &mut Criterion) {
    let rt = runtime();
    let (ssm, asm, declared) = rt.block_on(async {
        let fixture = Ssm::new().await;
        fixture.put(PARAMETER, "db.internal").await;
        let ssm = fixture.cache();
        ssm.get_entry_with(PARAMETER, MAX_AGE)
            .await
            .expect("primed");

        // The peer, warm with the same value from the emulator.
        let config = sdk_config(&moto_endpoint()).await;
        let name = unique("bench-secret");
        aws_sdk_secretsmanager::Client::new(&config)
            .create_secret()
            .name(&name)
            .secret_string("db.internal")
            .send()
            .await
            .expect("create_secret");
        let asm = aws_secretsmanager_caching::SecretsManagerCachingClient::from_builder(
            aws_sdk_secretsmanager::config::Builder::from(&config),
            NonZeroUsize::new(1024).expect("non-zero"),
            MAX_AGE,
            false,
        )
        .await
        .expect("caching client");
        asm.get_secret_value(&name, None, None, false)
            .await
            .expect("primed");
        // K parameters declared as entries, primed, for the per-invocation refresh.
        let prefix = unique_path("bench-entries");
        let mut declared = Vec::new();
        for k in [1_usize, 10] {
            let mut builder = Entries::builder().service(ssm.clone());
            for i in 0..k {
                let name = format!("{prefix}/k{k}/p{i}");
                fixture.put(&name, "value").await;
                builder = builder.entry(lambda_cache::ssm::parameter(name).max_age(MAX_AGE));
            }
            let entries = builder.build().expect("declarations");
            entries.refresh().await.expect("primed");
            declared.push((k, entries));
        }
        (ssm, (asm, name), declared)
    });

    let raw: Raw = Arc::new(HashMap::from([(
        PARAMETER.to_owned(),
        (Arc::new("db.internal".to_owned()), Instant::now()),
    )]));
    let moka: moka::sync::Cache<String, Arc<String>> = moka::sync::Cache::builder()
        .max_capacity(1024)
        .time_to_live(MAX_AGE)
        .build();
    moka.insert(PARAMETER.to_owned(), Arc::new("db.internal".to_owned()));

    let mut group = c.benchmark_group("hit");
    group.bench_function("raw_baseline", |b| b.iter(|| black_box(raw_get(&raw))));
    group.bench_function("lambda_cache", |b| b.iter(|| black_box(cached_get(&ssm))));
    group.bench_function("moka", |b| {
        b.iter(|| black_box(moka.get(black_box(PARAMETER))))
    });
    let (asm, name) = &asm;
    group.bench_function("aws_secretsmanager_caching", |b| {
        b.iter(|| {
            black_box(ready(asm.get_secret_value(black_box(name), None, None, false)).is_ok())
        });
    });
    group.finish();

    let mut group = c.benchmark_group("hit_2_threads");
    {
        let raw = Arc::clone(&raw);
        group.bench_function("raw_baseline", move |b| {
            let raw = Arc::clone(&raw);
            b.iter_custom(move |iters| {
                let raw = Arc::clone(&raw);
                two_threads(iters, move || {
                    black_box(raw_get(&raw));
                })
            });
        });
    }
    {
        let ssm = ssm.clone();
        group.bench_function("lambda_cache", move |b| {
            let ssm = ssm.clone();
            b.iter_custom(move |iters| {
                let ssm = ssm.clone();
                two_threads(iters, move || {
                    black_box(cached_get(&ssm));
                })
            });
        });
    }
    group.bench_function("moka", move |b| {
        let moka = moka.clone();
        b.iter_custom(move |iters| {
            let moka = moka.clone();
            two_threads(iters, move || {
                black_box(moka.get(black_box(PARAMETER)));
            })
        });
    });
    group.finish();

    // Per invocation: refresh K declared entries, all fresh, and get the snapshot.
    let mut group = c.benchmark_group("entries_refresh");
    for (k, entries) in &declared {
        group.bench_function(format!("k{k}"), |b| {
            b.iter(|| black_box(ready(entries.refresh()).is_ok()));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = hit
}
criterion_main!(benches);
