//! Shared by the integration tests: the emulator's endpoint, SDK configuration pointed at it,
//! and an interceptor that counts the requests that reach the backend.
#![allow(dead_code, unreachable_pub)] // each test file uses its own part of this module

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ssm::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_ssm::config::{ConfigBag, Credentials, Intercept, RuntimeComponents};
use aws_sdk_ssm::error::BoxError;
use parking_lot::Mutex;

/// The moto server that `cargo xtask test` started. A test run without it fails here, loudly.
pub fn moto_endpoint() -> String {
    std::env::var("LAMBDA_CACHE_TEST_ENDPOINT").expect(
        "LAMBDA_CACHE_TEST_ENDPOINT is not set: run the tests with `cargo xtask test`, \
         which starts the moto server",
    )
}

/// SDK configuration for a loopback endpoint with static test credentials and no retries, so
/// that every request a test causes is one request counted.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await
}

/// Counts the requests sent, recording each one's operation (`x-amz-target`, or method and
/// path for REST services).
#[derive(Clone, Debug, Default)]
pub struct Requests {
    seen: Arc<Mutex<Vec<String>>>,
    statuses: Arc<Mutex<Vec<u16>>>,
}

impl Requests {
    pub fn count(&self) -> usize {
        self.seen.lock().len()
    }

    pub fn count_of(&self, operation: &str) -> usize {
        self.seen
            .lock()
            .iter()
            .filter(|s| s.ends_with(operation))
            .count()
    }

    pub fn all(&self) -> Vec<String> {
        self.seen.lock().clone()
    }

    /// The HTTP status of each response received, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.statuses.lock().clone()
    }
}

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = match request.headers().get("x-amz-target") {
            Some(target) => target.to_owned(),
            None => format!("{} {}", request.method(), request.uri()),
        };
        self.seen.lock().push(operation);
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.statuses
            .lock()
            .push(context.response().status().as_u16());
        Ok(())
    }
}

/// A name no other test uses, so tests can share one emulator.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
