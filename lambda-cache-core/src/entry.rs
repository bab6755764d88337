//! A cached value with the facts the cache keeps about it.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Instant;

/// What a backend said about the version of a value, kept for later revalidation: an opaque
/// token (an SSM version number, an S3 ETag, a secret's version id, an AppConfig poll token).
///
/// A loader that is handed the previous entry can send its token back to the backend ("only if
/// changed") and answer [`Fetched::NotModified`] when nothing changed, optionally with a new
/// token. The core never looks inside a token.
///
/// ```
/// use lambda_cache_core::Validator;
/// let etag = Validator::new("\"abc\"");
/// assert_eq!(etag.token(), Some("\"abc\""));
/// assert_eq!(Validator::from(3_i64).token(), Some("3"));
/// assert!(Validator::none().is_none());
/// ```
#[derive(Clone, Default)]
pub struct Validator {
    token: Option<Arc<str>>,
    /// The token is a version number the backend counts up (made by `From<i64>`).
    numbered: bool,
}

/// Two validators are equal when their tokens are.
impl PartialEq for Validator {
    fn eq(&self, other: &Self) -> bool {
        self.token == other.token
    }
}

impl Eq for Validator {}

impl std::hash::Hash for Validator {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.token.hash(state);
    }
}

impl Validator {
    /// A validator holding `token`.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Validator::new("e1").token(), Some("e1"));
    /// ```
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self {
            token: Some(token.into()),
            numbered: false,
        }
    }

    /// A validator that is a version number the backend counts up with each change (an SSM
    /// parameter's version): by it a shared tier keeps the newer of two records of one key.
    ///
    /// ```
    /// use lambda_cache_core::Validator;
    /// assert_eq!(Validator::numbered(7).version(), Some(7));
    /// assert_eq!(Validator::numbered(7), Validator::new("7"));
    /// ```
    pub fn numbered(version: u64) -> Self {
        Self {
            token: Some(version.to_string().into()),
            numbered: true,
        }
    }

    /// The version number, for a validator made by [`Validator::numbered`] or from an `i64`;
    /// `None` for an opaque token (an ETag, a version id) or none.
    ///
    /// ```
    /// use lambda_cache_core::Validator;
    /// assert_eq!(Validator::from(3_i64).version(), Some(3));
    /// assert_eq!(Validator::new("3").version(), None);
    /// ```
    pub fn version(&self) -> Option<u64> {
        self.token
            .as_deref()
            .filter(|_| self.numbered)
            .and_then(|token| token.parse().ok())
    }

    /// No validator: the backend gave nothing to revalidate with.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Validator::none().token(), None);
    /// ```
    pub const fn none() -> Self {
        Self {
            token: None,
            numbered: false,
        }
    }

    /// The token, if the backend gave one.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Validator::default().token(), None);
    /// ```
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// True if there is no token.
    ///
    /// ```
    /// assert!(!lambda_cache_core::Validator::new("v").is_none());
    /// ```
    pub const fn is_none(&self) -> bool {
        self.token.is_none()
    }
}

/// A version number; a negative one is an opaque token.
impl From<i64> for Validator {
    fn from(version: i64) -> Self {
        u64::try_from(version).map_or_else(|_| Self::new(version.to_string()), Self::numbered)
    }
}

impl From<&str> for Validator {
    fn from(token: &str) -> Self {
        Self::new(token)
    }
}

impl From<String> for Validator {
    fn from(token: String) -> Self {
        Self::new(token)
    }
}

impl From<Option<&str>> for Validator {
    fn from(token: Option<&str>) -> Self {
        token.map_or_else(Self::none, Self::new)
    }
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.token {
            Some(token) => write!(f, "Validator({token:?})"),
            None => f.write_str("Validator(none)"),
        }
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
    /// let e = Entry::new(1_u32, Instant::from_nanos(5), Validator::from(1_i64));
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

    /// The same value, renewed as if fetched at `fetched_at` (the backend said it had not
    /// changed), with a new validator if the backend gave one.
    pub(crate) fn renewed(&self, fetched_at: Instant, validator: Option<Validator>) -> Self {
        Self::from_parts(
            Arc::clone(&self.inner.value),
            fetched_at,
            validator.unwrap_or_else(|| self.inner.validator.clone()),
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
    /// let e = Entry::new((), Instant::default(), Validator::new("4"));
    /// assert_eq!(e.validator().token(), Some("4"));
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
/// let f = Fetched::new("v2".to_string()).with_validator(Validator::from(2_i64)).with_weight(2);
/// assert!(matches!(f, Fetched::New { weight: 2, .. }));
/// let same: Fetched<String> = Fetched::not_modified().with_validator(Validator::new("next"));
/// assert!(matches!(same, Fetched::NotModified { validator: Some(_) }));
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
        /// How old the value already was when the loader returned it: zero from the backend,
        /// its age in the tier for a value read from a shared tier.
        age: Duration,
    },
    /// The backend confirmed that the previous entry (which the loader was given) is unchanged:
    /// the cache keeps its value and renews its age. A loader must only answer this when it was
    /// handed a previous entry.
    NotModified {
        /// A new validator for the unchanged value (a backend that hands out a new token with
        /// every answer); `None` keeps the previous one.
        validator: Option<Validator>,
    },
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
            age: Duration::ZERO,
        }
    }

    /// The previous value is unchanged (and keeps its validator).
    ///
    /// ```
    /// let f: lambda_cache_core::Fetched<u8> = lambda_cache_core::Fetched::not_modified();
    /// # let _ = f;
    /// ```
    pub const fn not_modified() -> Self {
        Self::NotModified { validator: None }
    }

    /// Sets the validator: of a new value, or the new one of an unchanged value.
    ///
    /// ```
    /// use lambda_cache_core::{Fetched, Validator};
    /// let f = Fetched::new(1_u8).with_validator(Validator::new("x"));
    /// # let _ = f;
    /// ```
    #[must_use]
    pub fn with_validator(mut self, new: Validator) -> Self {
        match &mut self {
            Self::New { validator, .. } => *validator = new,
            Self::NotModified { validator } => *validator = Some(new),
        }
        self
    }

    /// Sets the weight in bytes of a new value (no effect on [`Fetched::NotModified`], which
    /// keeps the previous weight).
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

    /// Says that a new value was already `old` when it arrived (read from a shared tier, where
    /// another cache stored it): the cache counts its age from when it was first fetched. No
    /// effect on [`Fetched::NotModified`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let f = lambda_cache_core::Fetched::new(1_u8).with_age(Duration::from_secs(20));
    /// assert!(matches!(f, lambda_cache_core::Fetched::New { age, .. } if age.as_secs() == 20));
    /// ```
    #[must_use]
    pub fn with_age(mut self, old: Duration) -> Self {
        if let Self::New { age, .. } = &mut self {
            *age = old;
        }
        self
    }
}
