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
    /// Refresh ahead from this share of max_age, in 1/1000 (0: off).
    ahead_permille: u16,
    /// How long past max_age a value is answered while one refresh runs.
    while_revalidate: Duration,
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
            ahead_permille: 0,
            while_revalidate: Duration::ZERO,
        }
    }

    /// Refresh ahead: a read that finds a value older than `fraction` of the max age (and
    /// within it) is answered with it at once, and starts one refresh of the key in the
    /// background ([`crate::Cache::get_or_refresh`]), so that readers at the TTL boundary do
    /// not wait for the backend. Off by default; AWS's secrets agent uses 0.8.
    ///
    /// # Errors
    /// [`crate::ConfigError::RefreshAheadOutOfRange`] unless `0 < fraction < 1`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = lambda_cache_core::Policy::new(Duration::from_secs(300)).refresh_ahead(0.8)?;
    /// assert_eq!(p.refresh_ahead_after(), Some(Duration::from_secs(240)));
    /// assert!(lambda_cache_core::Policy::default().refresh_ahead(1.0).is_err());
    /// # Ok::<(), lambda_cache_core::ConfigError>(())
    /// ```
    pub fn refresh_ahead(self, fraction: f64) -> Result<Self, crate::ConfigError> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(crate::ConfigError::RefreshAheadOutOfRange(fraction));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // within 1..=999
        let permille = ((fraction * 1000.0).round() as u16).clamp(1, 999);
        Ok(Self {
            ahead_permille: permille,
            ..self
        })
    }

    /// The age from which a read refreshes ahead, if [`Policy::refresh_ahead`] is on.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Policy::default().refresh_ahead_after(), None);
    /// ```
    pub fn refresh_ahead_after(&self) -> Option<Duration> {
        (self.ahead_permille > 0).then(|| self.max_age * u32::from(self.ahead_permille) / 1000)
    }

    /// Stale while revalidate (RFC 5861): a value up to `window` past its max age is answered at
    /// once while one refresh runs in the background; a failed refresh leaves it in place, within
    /// the stale-if-error bound. Past the window, readers wait as without it. Off (zero) by
    /// default.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = lambda_cache_core::Policy::default().stale_while_revalidate(Duration::from_secs(30));
    /// assert_eq!(p.while_revalidate(), Duration::from_secs(30));
    /// ```
    #[must_use]
    pub const fn stale_while_revalidate(self, window: Duration) -> Self {
        Self {
            while_revalidate: window,
            ..self
        }
    }

    /// True if this policy answers some reads at once while a refresh runs in the background
    /// ([`Policy::refresh_ahead`] or [`Policy::stale_while_revalidate`]): such reads need a
    /// fetch that can outlive them ([`crate::Cache::get_or_refresh`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// assert!(!lambda_cache_core::Policy::default().refreshes_in_background());
    /// assert!(lambda_cache_core::Policy::default().stale_while_revalidate(Duration::from_secs(1)).refreshes_in_background());
    /// ```
    pub fn refreshes_in_background(&self) -> bool {
        self.ahead_permille > 0 || !self.while_revalidate.is_zero()
    }

    /// The stale-while-revalidate window ([`Policy::stale_while_revalidate`]).
    ///
    /// ```
    /// assert!(lambda_cache_core::Policy::default().while_revalidate().is_zero());
    /// ```
    pub const fn while_revalidate(&self) -> Duration {
        self.while_revalidate
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
