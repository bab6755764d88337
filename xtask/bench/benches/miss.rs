//! The miss path: a forced refresh through lambda-cache against a bare aws-sdk-ssm call to the
//! emulator, interleaved: each measured call of one is preceded by an unmeasured call of the
//! other, so both see the same emulator and machine conditions.
#![allow(missing_docs, clippy::disallowed_methods)] // benchmarks time themselves

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_cache_bench::{Ssm, runtime, unique_path};

fn miss(c: &mut Criterion) {
    let rt = runtime();
    let (fixture, name) = rt.block_on(async {
        let fixture = Ssm::new().await;
        let name = format!("{}/var", unique_path("miss"));
        fixture.put(&name, "value").await;
        (fixture, name)
    });
    let ssm = fixture.cache();
    let bare_get_parameter = || async {
        fixture
            .counted
            .get_parameter()
            .name(&name)
            .with_decryption(true)
            .send()
            .await
            .expect("get_parameter")
    };
    let bare_get_parameters = || async {
        fixture
            .counted
            .get_parameters()
            .names(&name)
            .with_decryption(true)
            .send()
            .await
            .expect("get_parameters")
    };
    let forced = || async {
        ssm.get_entry_with(&name, Duration::ZERO)
            .await
            .expect("forced")
    };

    let mut group = c.benchmark_group("miss");
    group.bench_function("bare_get_parameter", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut measured = Duration::ZERO;
                for _ in 0..iters {
                    black_box(forced().await);
                    let start = Instant::now();
                    black_box(bare_get_parameter().await);
                    measured += start.elapsed();
                }
                measured
            })
        });
    });
    group.bench_function("bare_get_parameters", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut measured = Duration::ZERO;
                for _ in 0..iters {
                    black_box(forced().await);
                    let start = Instant::now();
                    black_box(bare_get_parameters().await);
                    measured += start.elapsed();
                }
                measured
            })
        });
    });
    group.bench_function("lambda_cache_forced", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut measured = Duration::ZERO;
                for _ in 0..iters {
                    black_box(bare_get_parameter().await);
                    let start = Instant::now();
                    black_box(forced().await);
                    measured += start.elapsed();
                }
                measured
            })
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5)).sample_size(30);
    targets = miss
}
criterion_main!(benches);
