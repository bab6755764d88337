//! Shared by the benchmarks: fixtures against the emulator, and polling a ready future.
#![allow(missing_docs)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use aws_sdk_ssm::types::ParameterType;
use lambda_cache::Cache;
use lambda_cache::ssm::SsmCache;
use lambda_cache_testkit::{Requests, moto_endpoint, put_parameter, sdk_config, unique};

/// The parameter name the hit benchmarks read (a realistic length).
pub const PARAMETER: &str = "/production/app/database/host";

/// Polls a future once and returns its output: a cache hit must be ready at once.
///
/// # Panics
/// If the future is not ready.
pub fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a cache hit must not wait"),
    }
}

/// A runtime for set-up work.
///
/// # Panics
/// If tokio cannot start.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// SSM clients against the emulator: one counted, one not (for set-up).
pub struct Ssm {
    pub counted: aws_sdk_ssm::Client,
    pub requests: Requests,
    pub admin: aws_sdk_ssm::Client,
}

impl Ssm {
    pub async fn new() -> Self {
        let config = sdk_config(&moto_endpoint()).await;
        let requests = Requests::default();
        Self {
            counted: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(&config)
                    .interceptor(requests.clone())
                    .build(),
            ),
            requests,
            admin: aws_sdk_ssm::Client::new(&config),
        }
    }

    /// Stores `value` under `name`.
    ///
    /// # Panics
    /// If the emulator refuses.
    pub async fn put(&self, name: &str, value: &str) {
        put_parameter(&self.admin, name, ParameterType::String, value).await;
    }

    /// A fresh cache over the counted client.
    ///
    /// # Panics
    /// Never with these settings.
    pub fn cache(&self) -> SsmCache {
        SsmCache::new(
            Cache::builder().build().expect("valid"),
            self.counted.clone(),
        )
    }
}

/// A unique parameter path for one benchmark run.
pub fn unique_path(label: &str) -> String {
    format!("/{}", unique(label))
}

/// The numbers of keys the write and memory figures are taken at.
pub const WRITE_SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// Keys refreshed in a full cache by the write benchmark's refresh figure.
pub const REFRESHED: usize = 1_000;

/// `n` distinct key names of a realistic length.
pub fn key_names(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("/production/app/key-{i:06}"))
        .collect()
}

/// A lambda-cache store sized for `n` keys, as the write benchmark builds it.
///
/// # Panics
/// If the capacity is refused.
pub fn lambda_cache_for(n: usize) -> Cache {
    Cache::builder().capacity(n + 10).build().expect("capacity")
}

/// A moka store sized for `n` keys, as the write benchmark builds it.
pub fn moka_for(n: usize) -> moka::sync::Cache<String, std::sync::Arc<u64>> {
    moka::sync::Cache::builder()
        .max_capacity(n as u64 + 10)
        .build()
}

/// One write through lambda-cache's read-through path: a miss that loads `value` under `name`
/// (or, with `max_age` zero, a forced refresh of it).
///
/// # Panics
/// If the load does not complete at once (it never waits).
pub fn lambda_cache_write(cache: &Cache, name: &str, value: u64, max_age: std::time::Duration) {
    let entry = ready(cache.get_or_load(name, max_age, || async move {
        Ok::<_, std::convert::Infallible>(value)
    }))
    .expect("an infallible load");
    std::hint::black_box(entry);
}

/// One write through moka's read-through path (`get_with`), or a replacement (`insert`).
pub fn moka_write(
    cache: &moka::sync::Cache<String, std::sync::Arc<u64>>,
    name: &str,
    value: u64,
    replace: bool,
) {
    if replace {
        cache.insert(name.to_owned(), std::sync::Arc::new(value));
    } else {
        std::hint::black_box(cache.get_with(name.to_owned(), || std::sync::Arc::new(value)));
    }
}
