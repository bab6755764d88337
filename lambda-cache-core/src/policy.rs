//! How fresh a reader wants a value, and what it accepts when a refresh fails.

use std::time::Duration;

/// A reader's freshness requirement.
///
/// `max_age` is the oldest value the reader accepts; zero forces a fetch. `stale_if_error`
/// decides what happens when the refresh fails with a transient error.
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_core::{Policy, StaleIfError};
///
/// let p = Policy::new(Duration::from_secs(300)).stale_if_error(Duration::from_secs(3600));
/// assert_eq!(p.max_age(), Duration::from_secs(300));
/// assert_eq!(p.stale(), StaleIfError::Within(Duration::from_secs(3600)));
/// assert_eq!(Policy::default().max_age(), Policy::DEFAULT_MAX_AGE);
/// let forced: Policy = Duration::ZERO.into();
/// assert_eq!(forced.max_age(), Duration::ZERO);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    max_age: Duration,
    stale: StaleIfError,
    share_secrets: bool,
}

/// Whether a transient refresh failure may be answered with the previous value.
///
/// ```
/// use lambda_cache_core::StaleIfError;
/// assert_eq!(StaleIfError::default(), StaleIfError::Inherit);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StaleIfError {
    /// Use the cache's setting ([`crate::CacheBuilder::stale_if_error`]); off unless set there.
    #[default]
    Inherit,
    /// Never: every refresh failure is returned.
    Off,
    /// Serve the previous value if it was fetched no longer ago than this.
    Within(Duration),
}

impl Policy {
    /// The default maximum age: 60 seconds.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

    /// A policy accepting values up to `max_age` old.
    ///
    /// ```
    /// let p = lambda_cache_core::Policy::new(std::time::Duration::from_secs(5));
    /// assert_eq!(p.max_age().as_secs(), 5);
    /// ```
    pub const fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            stale: StaleIfError::Inherit,
            share_secrets: false,
        }
    }

    /// The same policy with another maximum age.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = lambda_cache_core::Policy::default().with_max_age(Duration::ZERO);
    /// assert_eq!(p.max_age(), Duration::ZERO);
    /// ```
    #[must_use]
    pub const fn with_max_age(self, max_age: Duration) -> Self {
        Self { max_age, ..self }
    }

    /// Serve the previous value when a refresh fails transiently and the value is at most
    /// `max_stale` old.
    ///
    /// The bound is the value's age, counted from its fetch, not the time since its max age
    /// ran out: to serve a value for up to `d` past a max age `m`, give `m + d` (the extension's
    /// `CACHE_EXTENSION_MAX_STALE` does so). A bound below the max age serves nothing stale.
    ///
    /// ```
    /// use std::time::Duration;
    /// let max_age = Duration::from_secs(300);
    /// // Up to 10 minutes past the 5-minute max age:
    /// let p = lambda_cache_core::Policy::new(max_age).stale_if_error(max_age + Duration::from_secs(600));
    /// # let _ = p;
    /// ```
    #[must_use]
    pub const fn stale_if_error(self, max_stale: Duration) -> Self {
        Self {
            stale: StaleIfError::Within(max_stale),
            ..self
        }
    }

    /// Never serve a stale value for this read, whatever the cache's setting.
    ///
    /// ```
    /// use lambda_cache_core::{Policy, StaleIfError};
    /// assert_eq!(Policy::default().no_stale().stale(), StaleIfError::Off);
    /// ```
    #[must_use]
    pub const fn no_stale(self) -> Self {
        Self {
            stale: StaleIfError::Off,
            ..self
        }
    }

    /// Lets a secret value (a SecureString, a secret) read with this policy go to and come from
    /// the cache's shared tier, where anyone who can read the tier (its network, its
    /// credentials, its backups) can read it in clear. Without it, a secret never leaves the
    /// process. No effect on a cache without a shared tier.
    ///
    /// ```
    /// let p = lambda_cache_core::Policy::default().share_secrets();
    /// assert!(p.shares_secrets());
    /// assert!(!lambda_cache_core::Policy::default().shares_secrets());
    /// ```
    #[must_use]
    pub const fn share_secrets(self) -> Self {
        Self {
            share_secrets: true,
            ..self
        }
    }

    /// True if the policy lets secrets into the shared tier ([`Policy::share_secrets`]).
    ///
    /// ```
    /// assert!(!lambda_cache_core::Policy::default().shares_secrets());
    /// ```
    pub const fn shares_secrets(&self) -> bool {
        self.share_secrets
    }

    /// The maximum age.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Policy::default().max_age().as_secs(), 60);
    /// ```
    pub const fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The stale-if-error setting.
    ///
    /// ```
    /// use lambda_cache_core::{Policy, StaleIfError};
    /// assert_eq!(Policy::default().stale(), StaleIfError::Inherit);
    /// ```
    pub const fn stale(&self) -> StaleIfError {
        self.stale
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_AGE)
    }
}

impl From<Duration> for Policy {
    fn from(max_age: Duration) -> Self {
        Self::new(max_age)
    }
}
