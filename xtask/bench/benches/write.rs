//! The write path at size: filling N distinct keys through the read-through path,
//! refreshing 1,000 keys of a full cache, and writing 1,000 new keys into a full cache (each
//! evicting one), at N = 1,000, 10,000 and 100,000, for lambda-cache and
//! moka in the same run. Each measured iteration is a whole fill (N writes) or a whole refresh
//! round (1,000 writes); `cargo xtask bench` divides by the writes to report a cost per write.
#![allow(missing_docs, clippy::disallowed_methods)] // benchmarks time themselves

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lambda_cache_bench::{
    REFRESHED, WRITE_SIZES, key_names, lambda_cache_for, lambda_cache_write, moka_for, moka_write,
};

const MAX_AGE: Duration = Duration::from_secs(3600);

fn write(c: &mut Criterion) {
    let mut group = c.benchmark_group("write");
    group.sample_size(10);
    for n in WRITE_SIZES {
        let names = key_names(n);
        group.bench_function(format!("fill_lambda_cache_{n}"), |b| {
            b.iter_batched(
                || lambda_cache_for(n),
                |cache| {
                    for (i, name) in names.iter().enumerate() {
                        lambda_cache_write(&cache, name, i as u64, MAX_AGE);
                    }
                    cache // dropped outside the measurement
                },
                BatchSize::PerIteration,
            );
        });
        group.bench_function(format!("fill_moka_{n}"), |b| {
            b.iter_batched(
                || moka_for(n),
                |cache| {
                    for (i, name) in names.iter().enumerate() {
                        moka_write(&cache, name, i as u64, false);
                    }
                    cache
                },
                BatchSize::PerIteration,
            );
        });

        // A full cache; each iteration refreshes the next 1,000 of its keys (forced reloads
        // through lambda-cache, replacements in moka), cycling through all of them.
        let refreshed: Vec<&String> = names
            .iter()
            .step_by(n / REFRESHED)
            .take(REFRESHED)
            .collect();
        let ours = lambda_cache_for(n);
        for (i, name) in names.iter().enumerate() {
            lambda_cache_write(&ours, name, i as u64, MAX_AGE);
        }
        group.bench_function(format!("refresh_lambda_cache_{n}"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for round in 0..iters {
                    for name in &refreshed {
                        lambda_cache_write(&ours, name, round, Duration::ZERO);
                    }
                }
                start.elapsed()
            });
        });
        drop(ours);
        let moka = moka_for(n);
        for (i, name) in names.iter().enumerate() {
            moka_write(&moka, name, i as u64, false);
        }
        moka.run_pending_tasks();
        group.bench_function(format!("refresh_moka_{n}"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for round in 0..iters {
                    for name in &refreshed {
                        moka_write(&moka, name, round, true);
                    }
                }
                start.elapsed()
            });
        });

        // A full cache (capacity N) taking new keys: each write evicts one. The keys cycle
        // through twice the capacity, so the one written was, all but always, evicted since.
        let cycle = key_names(2 * n);
        let ours = lambda_cache::Cache::builder()
            .capacity(n)
            .build()
            .expect("capacity");
        for (i, name) in cycle.iter().take(n).enumerate() {
            lambda_cache_write(&ours, name, i as u64, MAX_AGE);
        }
        let mut next = n;
        group.bench_function(format!("evict_lambda_cache_{n}"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for round in 0..iters {
                    for _ in 0..REFRESHED {
                        lambda_cache_write(&ours, &cycle[next % cycle.len()], round, MAX_AGE);
                        next += 1;
                    }
                }
                start.elapsed()
            });
        });
        drop(ours);
        let moka = moka::sync::Cache::builder().max_capacity(n as u64).build();
        for (i, name) in cycle.iter().take(n).enumerate() {
            moka_write(&moka, name, i as u64, false);
        }
        moka.run_pending_tasks();
        let mut next = n;
        group.bench_function(format!("evict_moka_{n}"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for round in 0..iters {
                    for _ in 0..REFRESHED {
                        moka_write(&moka, &cycle[next % cycle.len()], round, false);
                        next += 1;
                    }
                }
                start.elapsed()
            });
        });
    }
    group.finish();
    memory();
}

/// Bytes per entry held at each size, lambda-cache and moka, the median of three processes
/// each; written to `LAMBDA_CACHE_MEMORY_REPORT` (JSON) when set, and printed.
fn memory() {
    let mut fields = Vec::new();
    for n in WRITE_SIZES {
        for side in ["lambda_cache", "moka"] {
            let mut runs: Vec<f64> = (0..3)
                .map(|_| {
                    let out = std::process::Command::new(env!("CARGO_BIN_EXE_memory"))
                        .args([side, &n.to_string()])
                        .output()
                        .expect("the memory probe runs");
                    assert!(out.status.success(), "memory probe failed: {out:?}");
                    String::from_utf8_lossy(&out.stdout)
                        .trim()
                        .parse::<f64>()
                        .expect("a number of bytes")
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            eprintln!(
                "memory: {side} at {n} entries: {:.1} bytes per entry (runs {runs:?})",
                runs[1]
            );
            fields.push(format!("\"{side}_{n}\":{:.1}", runs[1]));
        }
    }
    if let Ok(path) = std::env::var("LAMBDA_CACHE_MEMORY_REPORT") {
        std::fs::write(&path, format!("{{{}}}\n", fields.join(","))).expect("memory report");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = write
}
criterion_main!(benches);
