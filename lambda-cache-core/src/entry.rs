//! A cached value with the facts the cache keeps about it.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::clock::Instant;

/// What a backend said about the version of a value, kept for later revalidation.
///
/// An SSM parameter has a version number; an S3 object an ETag. A loader that is handed the
/// previous entry can send these back to the backend ("only if changed") and answer
/// [`Fetched::NotModified`] when nothing changed.
///
/// ```
/// use lambda_cache_core::Validator;
/// let v = Validator::default().with_etag("\"abc\"").with_version(3);
/// assert_eq!(v.etag(), Some("\"abc\""));
/// assert_eq!(v.version(), Some(3));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validator {
    version: Option<i64>,
    etag: Option<String>,
}

impl Validator {
    /// Sets the version number.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Validator::default().with_version(2).version(), Some(2));
    /// ```
    #[must_use]
    pub fn with_version(mut self, version: i64) -> Self {
        self.version = Some(version);
        self
    }

    /// Sets the entity tag.
    ///
    /// ```
    /// let v = lambda_cache_core::Validator::default().with_etag("e1");
    /// assert_eq!(v.etag(), Some("e1"));
    /// ```
    #[must_use]
    pub fn with_etag(mut self, etag: impl Into<String>) -> Self {
        self.etag = Some(etag.into());
        self
    }

    /// The version number, if the backend gave one.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Validator::default().version(), None);
    /// ```
    pub fn version(&self) -> Option<i64> {
        self.version
    }

    /// The entity tag, if the backend gave one.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Validator::default().etag(), None);
    /// ```
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }
}

/// A cached value, when it was fetched, and its [`Validator`].
///
/// Cloning is one reference-count increment; the value itself is shared, never copied. An entry
/// dereferences to its value.
///
/// ```
/// use lambda_cache_core::{Entry, Instant, Validator};
/// let entry = Entry::new(String::from("v1"), Instant::from_nanos(0), Validator::default());
/// let copy = entry.clone();
/// assert_eq!(copy.as_str(), "v1");
/// assert_eq!(copy.fetched_at(), Instant::from_nanos(0));
/// ```
pub struct Entry<V> {
    inner: Arc<Inner<V>>,
}

pub(crate) struct Inner<V> {
    value: Arc<V>,
    fetched_at: Instant,
    validator: Validator,
}

impl<V> Entry<V> {
    /// An entry for `value` fetched at `fetched_at`.
    ///
    /// ```
    /// use lambda_cache_core::{Entry, Instant, Validator};
    /// let e = Entry::new(1_u32, Instant::from_nanos(5), Validator::default().with_version(1));
    /// assert_eq!(*e, 1);
    /// ```
    pub fn new(value: V, fetched_at: Instant, validator: Validator) -> Self {
        Self::from_parts(Arc::new(value), fetched_at, validator)
    }

    pub(crate) fn from_parts(value: Arc<V>, fetched_at: Instant, validator: Validator) -> Self {
        Self {
            inner: Arc::new(Inner {
                value,
                fetched_at,
                validator,
            }),
        }
    }

    pub(crate) fn from_inner(inner: Arc<Inner<V>>) -> Self {
        Self { inner }
    }

    pub(crate) fn into_inner(self) -> Arc<Inner<V>> {
        self.inner
    }

    /// The same value, renewed as if fetched at `fetched_at` (the backend said it had not changed).
    pub(crate) fn renewed(&self, fetched_at: Instant) -> Self {
        Self::from_parts(
            Arc::clone(&self.inner.value),
            fetched_at,
            self.inner.validator.clone(),
        )
    }

    /// The value.
    ///
    /// ```
    /// use lambda_cache_core::{Entry, Instant, Validator};
    /// let e = Entry::new(vec![1, 2], Instant::default(), Validator::default());
    /// assert_eq!(e.value(), &vec![1, 2]);
    /// ```
    pub fn value(&self) -> &V {
        &self.inner.value
    }

    /// The value as a shared pointer that outlives the entry.
    ///
    /// ```
    /// use lambda_cache_core::{Entry, Instant, Validator};
    /// let e = Entry::new(7_u8, Instant::default(), Validator::default());
    /// let v = e.value_arc();
    /// drop(e);
    /// assert_eq!(*v, 7);
    /// ```
    pub fn value_arc(&self) -> Arc<V> {
        Arc::clone(&self.inner.value)
    }

    /// When the value was fetched (or last confirmed unchanged) on the cache's clock.
    ///
    /// ```
    /// use lambda_cache_core::{Entry, Instant, Validator};
    /// let e = Entry::new((), Instant::from_nanos(9), Validator::default());
    /// assert_eq!(e.fetched_at().as_nanos(), 9);
    /// ```
    pub fn fetched_at(&self) -> Instant {
        self.inner.fetched_at
    }

    /// The version metadata the backend sent with the value.
    ///
    /// ```
    /// use lambda_cache_core::{Entry, Instant, Validator};
    /// let e = Entry::new((), Instant::default(), Validator::default().with_version(4));
    /// assert_eq!(e.validator().version(), Some(4));
    /// ```
    pub fn validator(&self) -> &Validator {
        &self.inner.validator
    }
}

impl<V> Clone for Entry<V> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<V> Deref for Entry<V> {
    type Target = V;

    fn deref(&self) -> &V {
        self.value()
    }
}

impl<V: fmt::Debug> fmt::Debug for Entry<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("value", self.value())
            .field("fetched_at", &self.inner.fetched_at)
            .field("validator", &self.inner.validator)
            .finish()
    }
}

/// What a loader returns: a new value, or word that the previous one is unchanged.
///
/// ```
/// use lambda_cache_core::{Fetched, Validator};
/// let f = Fetched::new("v2".to_string()).with_validator(Validator::default().with_version(2)).with_weight(2);
/// assert!(matches!(f, Fetched::New { weight: 2, .. }));
/// ```
#[derive(Debug)]
pub enum Fetched<V> {
    /// A value to store.
    New {
        /// The value.
        value: V,
        /// Version metadata for later revalidation.
        validator: Validator,
        /// The value's size in bytes, counted against the cache's byte budget (0 if unknown).
        weight: u64,
    },
    /// The backend confirmed that the previous entry (which the loader was given) is unchanged:
    /// the cache keeps its value and renews its age. A loader must only answer this when it was
    /// handed a previous entry.
    NotModified,
}

impl<V> Fetched<V> {
    /// A new value with no validator and no weight.
    ///
    /// ```
    /// let f = lambda_cache_core::Fetched::new(1_u8);
    /// # let _ = f;
    /// ```
    pub fn new(value: V) -> Self {
        Self::New {
            value,
            validator: Validator::default(),
            weight: 0,
        }
    }

    /// Sets the validator of a new value (no effect on [`Fetched::NotModified`]).
    ///
    /// ```
    /// use lambda_cache_core::{Fetched, Validator};
    /// let f = Fetched::new(1_u8).with_validator(Validator::default().with_etag("x"));
    /// # let _ = f;
    /// ```
    #[must_use]
    pub fn with_validator(mut self, new: Validator) -> Self {
        if let Self::New { validator, .. } = &mut self {
            *validator = new;
        }
        self
    }

    /// Sets the weight in bytes of a new value (no effect on [`Fetched::NotModified`]).
    ///
    /// ```
    /// let f = lambda_cache_core::Fetched::new(vec![0_u8; 16]).with_weight(16);
    /// # let _ = f;
    /// ```
    #[must_use]
    pub fn with_weight(mut self, bytes: u64) -> Self {
        if let Self::New { weight, .. } = &mut self {
            *weight = bytes;
        }
        self
    }
}
