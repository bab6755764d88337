//! The hit path: a warm keyed read through the cache, against a raw baseline measured in the
//! same run (a HashMap lookup of the same key, a monotonic clock read and an Arc clone).
//!
//! `cargo bench -p lambda-cache-core --bench hit`. The full comparison against peers is the
//! benchmarks issue's; this one keeps the hit path honest.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_cache_core::{Cache, Fetched, Key, LoadError};

const NAME: &str = "/production/app/database/host";
const MAX_AGE: Duration = Duration::from_secs(3600);

/// Polls a future that is ready at once (a hit never awaits).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a cache hit must not wait"),
    }
}

fn hit(c: &mut Criterion) {
    let mut group = c.benchmark_group("hit");

    let mut raw: HashMap<String, (Arc<String>, std::time::Instant)> = HashMap::new();
    #[allow(clippy::disallowed_methods)] // the baseline reads the clock as a cache would
    raw.insert(
        NAME.to_owned(),
        (
            Arc::new("db.internal".to_owned()),
            std::time::Instant::now(),
        ),
    );
    group.bench_function("raw_baseline", |b| {
        b.iter(|| {
            #[allow(clippy::disallowed_methods)]
            let now = std::time::Instant::now();
            let (value, fetched_at) = raw.get(black_box(NAME)).expect("present");
            let fresh = now.duration_since(*fetched_at) < MAX_AGE;
            black_box((Arc::clone(value), fresh))
        });
    });

    let cache = Cache::builder().build().expect("valid settings");
    ready(
        cache.get_or_fetch(Key::new("ssm", NAME), MAX_AGE, |_| async {
            Ok::<_, LoadError<std::io::Error>>(Fetched::new("db.internal".to_owned()))
        }),
    )
    .expect("loaded");

    group.bench_function("lambda_cache_get_fresh", |b| {
        b.iter(|| black_box(cache.get_fresh::<String>(Key::new("ssm", black_box(NAME)), MAX_AGE)));
    });
    group.bench_function("lambda_cache_get_or_fetch", |b| {
        b.iter(|| {
            black_box(ready(
                cache.get_or_fetch::<String, LoadError<std::io::Error>, _, _>(
                    Key::new("ssm", black_box(NAME)),
                    MAX_AGE,
                    |_| async { unreachable!("a hit does not fetch") },
                ),
            ))
        });
    });
    group.finish();
}

criterion_group!(benches, hit);
criterion_main!(benches);
