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
