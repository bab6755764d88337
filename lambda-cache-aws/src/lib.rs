//! The AWS plumbing every lambda-cache service crate shares, so that a service crate holds only
//! what is particular to its service:
//!
//! - [`sdk_config`]: one AWS configuration per process (region, endpoint, one credentials
//!   cache), loaded once from the standard environment whichever service asks first;
//! - [`global`]: the process-wide instance of a service cache, built from it;
//! - [`AwsError`] and [`Kind`]: one classification of SDK failures (throttled, unavailable, no
//!   answer, not found, access denied, invalid input, not modified, other), on which each
//!   service's error enum builds the variants that name its own inputs.
//!
//! The core crate stays free of AWS; this crate is the only one that knows the SDK's error
//! types apart from the service crates themselves.
//!
//! ```
//! use lambda_cache_aws::{AwsError, Kind};
//!
//! let failure = AwsError::from_code("ThrottlingException", "Rate exceeded", Some(400));
//! assert_eq!(failure.kind, Kind::Throttled);
//! assert!(failure.kind.is_transient());
//! ```

mod error;

pub use error::{AwsError, Kind};

use aws_config::SdkConfig;
use lambda_cache_core::Cache;
use tokio::sync::OnceCell;

/// The process-wide AWS configuration, loaded once from the standard environment
/// (`AWS_REGION`, `AWS_ENDPOINT_URL`, the credentials chain) on first use. Every service
/// crate's `global()` builds its client from it, so SSM, Secrets Manager, S3 and DynamoDB in one
/// execution environment resolve credentials once and share their cache.
///
/// ```no_run
/// # async fn f() {
/// let config = lambda_cache_aws::sdk_config().await;
/// println!("region: {:?}", config.region());
/// # }
/// ```
pub async fn sdk_config() -> &'static SdkConfig {
    static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();
    CONFIG
        .get_or_init(|| aws_config::load_defaults(aws_config::BehaviorVersion::latest()))
        .await
}

/// The process-wide instance kept in `cell`, built on first use by `build` over the global
/// [`Cache`] and [`sdk_config`]. Concurrent first callers wait for one build; later callers get
/// it without waiting. A service crate's `global()` is this and its own `static`:
///
/// ```no_run
/// use lambda_cache_core::Cache;
///
/// struct MyServiceCache { cache: Cache, region: Option<String> }
///
/// impl MyServiceCache {
///     fn from_config(cache: Cache, config: &aws_config::SdkConfig) -> Self {
///         Self { cache, region: config.region().map(ToString::to_string) }
///     }
///
///     async fn global() -> &'static MyServiceCache {
///         static GLOBAL: tokio::sync::OnceCell<MyServiceCache> = tokio::sync::OnceCell::const_new();
///         lambda_cache_aws::global(&GLOBAL, MyServiceCache::from_config).await
///     }
/// }
/// ```
pub async fn global<T>(
    cell: &'static OnceCell<T>,
    build: impl FnOnce(Cache, &SdkConfig) -> T,
) -> &'static T {
    if let Some(service) = cell.get() {
        return service;
    }
    cell.get_or_init(|| async { build(Cache::global().clone(), sdk_config().await) })
        .await
}

// This crate's README (its crates.io page): its examples run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
