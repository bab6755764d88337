//! A wrapper that keeps a value out of logs.

use std::fmt;

/// A value that must not reach a log: its `Debug` and `Display` print `<redacted>`.
///
/// Reading the value takes an explicit [`Sensitive::expose`], which is easy to find in review.
///
/// ```
/// use lambda_cache_core::Sensitive;
/// let password = Sensitive::new(String::from("hunter2"));
/// assert_eq!(format!("{password:?} {password}"), "Sensitive(<redacted>) <redacted>");
/// assert_eq!(password.expose(), "hunter2");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    /// Wraps a value.
    ///
    /// ```
    /// let _ = lambda_cache_core::Sensitive::new(vec![1_u8, 2, 3]);
    /// ```
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself. Take care where it goes.
    ///
    /// ```
    /// assert_eq!(*lambda_cache_core::Sensitive::new(5).expose(), 5);
    /// ```
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Sensitive::new(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive(<redacted>)")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// With feature `serde`: decodes the inner value, so that JSON fields such as a password can be
/// declared `Sensitive<String>` and stay out of logs.
///
/// ```
/// # #[cfg(feature = "serde")] {
/// #[derive(serde::Deserialize, Debug)]
/// struct Db { user: String, password: lambda_cache_core::Sensitive<String> }
/// let db: Db = serde_json::from_str(r#"{"user":"app","password":"hunter2"}"#).unwrap();
/// assert!(!format!("{db:?}").contains("hunter2"));
/// assert_eq!(db.password.expose(), "hunter2");
/// # }
/// ```
#[cfg(feature = "serde")]
impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Sensitive<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Sensitive)
    }
}
