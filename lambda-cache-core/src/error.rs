//! Error traits and the core's own errors.

use std::fmt;
use std::sync::Arc;

/// An error a loader may return: cloneable (concurrent waiters of one fetch each receive it) and
/// classed transient or permanent, which decides whether stale-if-error may serve an old value.
///
/// ```
/// use lambda_cache_core::CacheError;
///
/// #[derive(Clone, Debug)]
/// struct Throttled;
/// impl std::fmt::Display for Throttled {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("throttled: retry later")
///     }
/// }
/// impl std::error::Error for Throttled {}
/// impl CacheError for Throttled {
///     fn is_transient(&self) -> bool { true }
///     fn not_modified_without_value(_: lambda_cache_core::Key<'_>) -> Self { Throttled }
/// }
/// assert!(Throttled.is_transient());
/// ```
pub trait CacheError: std::error::Error + Clone + Send + Sync + 'static {
    /// True for failures that may pass by themselves (throttling, timeouts, 5xx, I/O); false for
    /// failures that will not (not found, access denied, bad input).
    fn is_transient(&self) -> bool;

    /// The error of a read whose loader answered [`crate::Fetched::NotModified`] although the
    /// cache held no value under `key` to keep (a backend or proxy answering "not modified"
    /// to a request that sent no validator). Name the key (see [`crate::shown`]); such an
    /// answer may pass by itself, so it is best classed transient.
    fn not_modified_without_value(key: crate::Key<'_>) -> Self;
}

/// The error of a generic loader ([`crate::Cache::get_or_load`]): the loader's own error, shared,
/// or (for a loader of [`crate::Cache::get_or_fetch`]) the cache's refusal of an answer that
/// it cannot use.
///
/// Every loader error counts as transient, so stale-if-error (where enabled) may cover it.
///
/// ```
/// use lambda_cache_core::{CacheError, LoadError};
/// let e = LoadError::new(std::io::Error::other("backend down"));
/// assert_eq!(e.to_string(), "backend down");
/// assert!(e.is_transient());
/// assert_eq!(e.inner().unwrap().kind(), std::io::ErrorKind::Other);
/// ```
pub struct LoadError<E> {
    inner: Arc<Repr<E>>,
}

enum Repr<E> {
    Loader(E),
    NotModifiedWithoutValue(String),
}

impl<E> LoadError<E> {
    /// Wraps a loader's error.
    ///
    /// ```
    /// let _ = lambda_cache_core::LoadError::new(std::fmt::Error);
    /// ```
    pub fn new(error: E) -> Self {
        Self {
            inner: Arc::new(Repr::Loader(error)),
        }
    }

    /// The loader's error; `None` if the cache refused the loader's answer (a "not modified"
    /// with no value held, see [`CacheError::not_modified_without_value`]).
    ///
    /// ```
    /// let e = lambda_cache_core::LoadError::new(std::fmt::Error);
    /// let _: &std::fmt::Error = e.inner().unwrap();
    /// ```
    pub fn inner(&self) -> Option<&E> {
        match &*self.inner {
            Repr::Loader(error) => Some(error),
            Repr::NotModifiedWithoutValue(_) => None,
        }
    }
}

impl<E> Clone for LoadError<E> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            Repr::Loader(error) => fmt::Debug::fmt(error, f),
            Repr::NotModifiedWithoutValue(message) => f
                .debug_tuple("NotModifiedWithoutValue")
                .field(message)
                .finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            Repr::Loader(error) => fmt::Display::fmt(error, f),
            Repr::NotModifiedWithoutValue(message) => f.write_str(message),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for LoadError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.inner {
            Repr::Loader(error) => error.source(),
            Repr::NotModifiedWithoutValue(_) => None,
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> CacheError for LoadError<E> {
    fn is_transient(&self) -> bool {
        true
    }

    fn not_modified_without_value(key: crate::Key<'_>) -> Self {
        Self {
            inner: Arc::new(Repr::NotModifiedWithoutValue(format!(
                "{} {}: the loader answered not modified, but no value was held",
                key.service(),
                shown(key.name())
            ))),
        }
    }
}

/// A cache configuration that cannot work, named by the setting at fault.
///
/// ```
/// use lambda_cache_core::{Cache, ConfigError};
/// let err = Cache::builder().capacity(0).build().unwrap_err();
/// assert_eq!(err, ConfigError::ZeroCapacity);
/// assert!(err.to_string().contains("capacity"));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `capacity(0)`: a cache that holds nothing.
    ZeroCapacity,
    /// `max_bytes(0)`: a byte budget that holds nothing.
    ZeroByteBudget,
    /// `jitter(f)` with `f` outside `0.0..=0.5`.
    JitterOutOfRange(f64),
    /// `capacity(n)` with `n` above [`crate::Cache::MAX_CAPACITY`].
    CapacityTooLarge(usize),
    /// [`crate::Policy::refresh_ahead`] with a fraction outside `0 < f < 1`.
    RefreshAheadOutOfRange(f64),
    /// `refresh_timeout(0)`: every background refresh would be given up at once.
    ZeroRefreshTimeout,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroCapacity => f.write_str("cache capacity is 0: give at least 1 entry"),
            Self::ZeroByteBudget => {
                f.write_str("cache max_bytes is 0: give a positive byte budget or none")
            }
            Self::CapacityTooLarge(n) => write!(
                f,
                "cache capacity {n} is above the most a cache holds ({}): give a smaller one, or a byte budget",
                crate::Cache::MAX_CAPACITY
            ),
            Self::ZeroRefreshTimeout => f.write_str(
                "cache refresh_timeout is 0: no background refresh could finish; give a positive duration",
            ),
            Self::RefreshAheadOutOfRange(v) => write!(
                f,
                "refresh-ahead fraction {v} is out of range: give a share of max_age between 0 and 1 (0.8 refreshes from 80%)"
            ),
            Self::JitterOutOfRange(v) => {
                write!(
                    f,
                    "cache jitter {v} is out of range: give a fraction of max_age from 0.0 to 0.5"
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// An error and its sources, joined by `": "`: the whole story in one line for a message.
///
/// ```
/// let io = std::io::Error::other("connection reset");
/// assert_eq!(lambda_cache_core::error_chain(&io), "connection reset");
/// ```
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let next = s.to_string();
        // Some wrappers repeat their source's message; say it once.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// Inputs longer than this many bytes are shortened when an error shows them.
const SHOWN_WHOLE: usize = 96;
/// How much of a long input an error shows.
const SHOWN_PREFIX: usize = 64;

/// An input as an error message shows it: quoted and escaped, and, past 96 bytes, its first 64
/// bytes (to a character boundary) followed by `…` and its length, so that a message stays
/// short whatever a caller passes.
///
/// ```
/// use lambda_cache_core::shown;
///
/// assert_eq!(shown("/app/db host").to_string(), r#""/app/db host""#);
/// let long = "x".repeat(5000);
/// assert_eq!(shown(&long).to_string(), format!("\"{}\"… (5000 bytes)", "x".repeat(64)));
/// ```
pub fn shown(input: &str) -> Shown<'_> {
    Shown(input)
}

/// See [`shown`].
///
/// ```
/// let message = format!("invalid name {}", lambda_cache_core::shown("a\nb"));
/// assert_eq!(message, r#"invalid name "a\nb""#);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Shown<'a>(&'a str);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.len() <= SHOWN_WHOLE {
            return write!(f, "{:?}", self.0);
        }
        let mut end = SHOWN_PREFIX;
        while !self.0.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, "{:?}… ({} bytes)", &self.0[..end], self.0.len())
    }
}
