//! What the store's test binaries share: their loaders' error and a cache on a manual clock.
#![allow(dead_code)] // each binary uses its part

use std::fmt;

use lambda_cache_core::{Cache, CacheError, Key, ManualClock};

/// A loader's error: throttled (transient) or not found (permanent).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TestError {
    Throttled,
    NotFound(String),
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Throttled => f.write_str("throttled"),
            Self::NotFound(name) => write!(f, "{name} not found"),
        }
    }
}

impl std::error::Error for TestError {}

impl CacheError for TestError {
    fn is_transient(&self) -> bool {
        matches!(self, Self::Throttled)
    }

    fn not_modified_without_value(key: Key<'_>) -> Self {
        Self::NotFound(format!("not modified without value: {}", key.name()))
    }
}

/// A cache with default settings on a manual clock, and the clock.
pub(crate) fn cache_with_clock() -> (Cache, ManualClock) {
    let manual = ManualClock::new();
    let cache = Cache::builder().clock(manual.clock()).build().unwrap();
    (cache, manual)
}
