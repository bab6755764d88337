//! `Cache::invalidate_where` at size: what a write passed through the extension's SDK endpoint
//! costs the cache (one pass over the keys held, under the writers' lock; readers never wait
//! on it), at N = 1,000, 10,000 and 100,000 keys, beside moka's predicate invalidation
//! (`invalidate_entries_if`, applied by `run_pending_tasks`) and a raw `HashMap::retain`, the
//! floor of one pass, in the same run. Each iteration drops one key by predicate and puts it
//! back, so N stays the same.
#![allow(missing_docs, clippy::disallowed_methods)] // benchmarks time themselves

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_cache_bench::{WRITE_SIZES, key_names};
use lambda_cache_core::{Cache, Key, Validator};

fn invalidate(c: &mut Criterion) {
    let mut group = c.benchmark_group("invalidate_where");
    group.sample_size(20);
    for n in WRITE_SIZES {
        let names = key_names(n);
        let target = names[n / 2].clone();

        let ours = Cache::builder().capacity(n + 10).build().expect("capacity");
        for name in &names {
            ours.insert(Key::new("ssm", name), 1_u64, Validator::default(), 8);
        }
        group.bench_function(format!("lambda_cache_{n}"), |b| {
            b.iter(|| {
                let dropped = ours.invalidate_where("ssm", |name, _| name == target);
                assert_eq!(dropped, 1);
                ours.insert(Key::new("ssm", &target), 1_u64, Validator::default(), 8);
            });
        });

        let moka: moka::sync::Cache<String, Arc<u64>> = moka::sync::Cache::builder()
            .max_capacity(n as u64 + 10)
            .support_invalidation_closures()
            .build();
        for name in &names {
            moka.insert(name.clone(), Arc::new(1));
        }
        moka.run_pending_tasks();
        group.bench_function(format!("moka_{n}"), |b| {
            b.iter(|| {
                let wanted = target.clone();
                moka.invalidate_entries_if(move |name, _| *name == wanted)
                    .expect("invalidation closures are on");
                moka.run_pending_tasks();
                moka.insert(target.clone(), Arc::new(1));
            });
        });

        let mut raw: HashMap<String, u64> = names.iter().map(|name| (name.clone(), 1)).collect();
        group.bench_function(format!("hashmap_retain_{n}"), |b| {
            b.iter(|| {
                raw.retain(|name, _| *name != target);
                raw.insert(target.clone(), 1);
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    targets = invalidate
}
criterion_main!(benches);
