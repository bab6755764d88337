//! Cache SSM parameters, Secrets Manager secrets, S3 objects and any other data in an AWS Lambda
//! execution environment: fetched once, served from memory in nanoseconds, refreshed after a
//! maximum age.
//!
//! Each AWS service is behind a feature, so a function compiles only the SDKs it uses:
//!
//! | feature    | module          | crate                    |
//! |------------|-----------------|--------------------------|
//! | `ssm`      | [`ssm`]         | `lambda-cache-ssm`       |
//! | `secrets`  | [`secrets`]     | `lambda-cache-secrets`   |
//! | `s3`       | [`s3`]          | `lambda-cache-s3`        |
//! | `dynamodb` | [`dynamodb`]    | `lambda-cache-dynamodb`  |
//! | `appconfig`| [`appconfig`]   | `lambda-cache-appconfig` |
//! | `redis`    | [`redis`]       | `lambda-cache-redis`     |
//!
//! With no feature, the generic cache ([`get_or_load`], [`Cache`]) caches any data.
//!
//! ```
//! use std::time::Duration;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // Any data, cached in the process-wide cache for 5 minutes.
//! let rates = lambda_cache::get_or_load("fx-rates", Duration::from_secs(300), || async {
//!     Ok::<_, std::io::Error>(vec![("EUR", 1.08), ("GBP", 1.27)])
//! })
//! .await?;
//! assert_eq!(rates[0].0, "EUR");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::future::Future;

#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub use lambda_cache_core::ManualClock;
pub use lambda_cache_core::{
    Batch, Cache, CacheBuilder, CacheError, Clock, ConfigError, Entry, Fetched, GENERIC_SERVICE,
    Instant, Key, KeyDigest, LoadError, Policy, Sensitive, Shown, StaleIfError, Stats, Validator,
    error_chain, shown,
};

pub mod entries;

pub use lambda_cache_core::emf;

/// `lambda_runtime` integration (feature `lambda-runtime`): [`entries::Entries::handler`].
#[cfg(feature = "lambda-runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "lambda-runtime")))]
pub mod handler;

/// SSM Parameter Store (feature `ssm`): `ssm::get_entry("/prod/app/var")` and friends.
#[cfg(feature = "ssm")]
#[cfg_attr(docsrs, doc(cfg(feature = "ssm")))]
pub mod ssm {
    pub use lambda_cache_ssm::*;
}

/// Secrets Manager (feature `secrets`): `secrets::get_entry("prod/db")` and friends.
#[cfg(feature = "secrets")]
#[cfg_attr(docsrs, doc(cfg(feature = "secrets")))]
pub mod secrets {
    pub use lambda_cache_secrets::*;
}

/// S3 objects as local files (feature `s3`).
#[cfg(feature = "s3")]
#[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
pub mod s3 {
    pub use lambda_cache_s3::*;
}

/// DynamoDB items (feature `dynamodb`): `dynamodb::get_entry(&ItemKey::new("Users", "pk", "u1"))`.
#[cfg(feature = "dynamodb")]
#[cfg_attr(docsrs, doc(cfg(feature = "dynamodb")))]
pub mod dynamodb {
    pub use lambda_cache_dynamodb::*;
}

/// AppConfig configuration profiles and feature flags (feature `appconfig`):
/// `appconfig::get_flags(&Profile::new("app", "prod", "flags"))` and friends.
#[cfg(feature = "appconfig")]
#[cfg_attr(docsrs, doc(cfg(feature = "appconfig")))]
pub mod appconfig {
    pub use lambda_cache_appconfig::*;
}

/// The shared tier on Redis or Valkey (feature `redis`): give a [`RedisTier`](redis::RedisTier)
/// to a cache with `Cache::builder().shared_tier(..)`, and SSM's `get_entry` reads through it.
/// See FLEET.md and the README's "A shared tier for the fleet".
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis {
    pub use lambda_cache_redis::*;
}

// The README's examples run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(all(
    doctest,
    feature = "ssm",
    feature = "secrets",
    feature = "s3",
    feature = "dynamodb",
    feature = "appconfig",
    feature = "redis",
    feature = "lambda-runtime"
))]
pub struct ReadmeDoctests;

/// Any data through the process-wide cache: the value of `load()`, kept under `name` until it
/// is older than the policy's max age (a [`Policy`] or just a `Duration`). One load runs at a
/// time per name; concurrent callers share it. See [`Cache::get_or_load`].
///
/// # Errors
/// The loader's error, wrapped in [`LoadError`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let n = lambda_cache::get_or_load("answer", std::time::Duration::from_secs(60), || async {
///     Ok::<_, std::io::Error>(42)
/// })
/// .await?;
/// assert_eq!(*n, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn get_or_load<V, E, F, Fut>(
    name: &str,
    policy: impl Into<Policy>,
    load: F,
) -> Result<Entry<V>, LoadError<E>>
where
    V: Send + Sync + 'static,
    E: std::error::Error + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<V, E>>,
{
    Cache::global().get_or_load(name, policy, load).await
}

// This crate's README (its crates.io page): its examples run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct CrateReadmeDoctests;
