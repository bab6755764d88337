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
