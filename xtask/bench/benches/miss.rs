//! The miss path: a forced refresh through lambda-cache against a bare aws-sdk-ssm call to the
//! emulator, interleaved: each measured call of one is preceded by an unmeasured call of the
//! other, so both see the same emulator and machine conditions.
#![allow(missing_docs, clippy::disallowed_methods)] // benchmarks time themselves

use std::future::Future;
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
        b.iter_custom(|iters| rt.block_on(interleaved(iters, &bare_get_parameter, &forced)));
    });
    group.bench_function("bare_get_parameters", |b| {
        b.iter_custom(|iters| rt.block_on(interleaved(iters, &bare_get_parameters, &forced)));
    });
    group.bench_function("lambda_cache_forced", |b| {
        b.iter_custom(|iters| rt.block_on(interleaved(iters, &forced, &bare_get_parameter)));
    });
    group.finish();
}

/// Times `iters` calls of `measured`, each preceded by an untimed call of `other`.
async fn interleaved<M, MF, O, OF>(iters: u64, measured: &M, other: &O) -> Duration
where
    M: Fn() -> MF,
    MF: Future,
    O: Fn() -> OF,
    OF: Future,
{
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        black_box(other().await);
        let start = Instant::now();
        black_box(measured().await);
        total += start.elapsed();
    }
    total
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4)).sample_size(20);
    targets = miss
}
criterion_main!(benches);
