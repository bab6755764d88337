//! The engine of lambda-cache: a keyed, concurrent, single-flight cache for values that an AWS
//! Lambda execution environment keeps between invocations. It has no AWS dependency; the service
//! crates (`lambda-cache-ssm`, `lambda-cache-secrets`, `lambda-cache-s3`) build on it, and its
//! [`Cache::get_or_load`] caches any data.
//!
//! - [`Clock`]: the only source of time (a [`ManualClock`] with feature `test-util`).
//! - [`Entry`]: a shared value, when it was fetched, and its [`Validator`] (version, ETag).
//! - [`Declaration`]: what a service crate implements so that declared entries of it refresh
//!   together (in batches where the service allows).
//! - [`Cache`]: the store. [`Key`]s name the service, the name and every option that changes
//!   the value; a [`Policy`] says how old a value the reader accepts.
//!
//! ```
//! use std::time::Duration;
//! use lambda_cache_core::{Cache, Policy};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let cache = Cache::builder().stale_if_error(Duration::from_secs(3600)).build()?;
//! let flags = cache
//!     .get_or_load("feature-flags", Policy::new(Duration::from_secs(60)), || async {
//!         Ok::<_, std::io::Error>(vec![("dark-mode", true)])
//!     })
//!     .await?;
//! assert!(flags[0].1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod cache;
mod clock;
mod declare;
pub mod emf;
mod entry;
mod error;
mod join;
#[cfg(feature = "json")]
mod json;
mod key;
mod policy;
mod sensitive;
#[cfg(feature = "shared")]
pub mod shared;
mod stats;

pub use cache::{Batch, Cache, CacheBuilder, GENERIC_SERVICE};
#[cfg(feature = "test-util")]
pub use clock::ManualClock;
pub use clock::{Clock, Instant};
pub use declare::{AnyValue, BoxFuture, Declaration, Declare, refresh_each};
pub use entry::{Entry, Fetched, Validator};
pub use error::{CacheError, ConfigError, LoadError, Shown, error_chain, shown};
pub use join::{join_all, join2};
#[cfg(feature = "json")]
pub use json::{JsonError, decode_json};
pub use key::{Key, KeyDigest};
pub use policy::{Policy, StaleIfError};
pub use sensitive::Sensitive;
#[cfg(feature = "shared")]
pub use shared::{
    Lease, LeaseSettings, RecordOrder, SharedTier, SharedValue, TierError, TierRecord, TierValue,
    TierWrite, shared_key,
};
pub use stats::Stats;

// This crate's README (its crates.io page): its examples run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
