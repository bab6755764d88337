//! Time as a dependency: the only module that reads the system's clock.
//!
//! The cache never asks the operating system for the time directly. It asks a [`Clock`], which is
//! either the real monotonic clock or, with the `test-util` feature, a [`ManualClock`] that moves
//! only when a test advances it. Tests therefore never sleep to let time pass.

#[cfg(feature = "test-util")]
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};
use std::time::Duration;

use once_cell::sync::Lazy;

/// The origin every real clock in the process counts from, so that their instants compare.
static ORIGIN: Lazy<std::time::Instant> = Lazy::new(
    #[allow(clippy::disallowed_methods)] // the one sanctioned reading of the system clock
    std::time::Instant::now,
);

/// How far after its origin a real clock's first instant is: 366 days, so that a value that
/// came already old (from a shared tier, seconds or hours old) keeps its age in a process that
/// has just started, instead of being dated at the origin and living longer than its max age.
const HEADROOM: u64 = 366 * 24 * 3600 * 1_000_000_000;

/// A point in time on a [`Clock`]'s monotonic time line, in nanoseconds since the clock's origin.
///
/// Instants taken from the real clock compare with each other across the whole process; instants
/// of a [`ManualClock`] compare with that clock's own.
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_core::Instant;
///
/// let a = Instant::from_nanos(1_000);
/// let b = a + Duration::from_nanos(500);
/// assert_eq!(b.saturating_duration_since(a), Duration::from_nanos(500));
/// assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The instant `nanos` nanoseconds after the clock's origin.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Instant::from_nanos(7).as_nanos(), 7);
    /// ```
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// Nanoseconds since the clock's origin.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Instant::from_nanos(7).as_nanos(), 7);
    /// ```
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// This instant moved back by `by`, or the clock's origin if that is earlier.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::Instant;
    /// let t = Instant::from_nanos(5_000);
    /// assert_eq!(t.saturating_sub(Duration::from_nanos(2_000)).as_nanos(), 3_000);
    /// assert_eq!(t.saturating_sub(Duration::from_secs(1)).as_nanos(), 0);
    /// ```
    #[must_use]
    pub fn saturating_sub(self, by: Duration) -> Instant {
        Instant(self.0.saturating_sub(duration_nanos(by)))
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::Instant;
    /// let d = Instant::from_nanos(10).saturating_duration_since(Instant::from_nanos(4));
    /// assert_eq!(d, Duration::from_nanos(6));
    /// ```
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_nanos(rhs)))
    }
}

/// A duration in whole nanoseconds, saturating at `u64::MAX` (about 584 years).
pub(crate) fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The source of time for a cache: real and monotonic, or manual for tests.
///
/// Cloning is cheap; clones of a manual clock share its time.
///
/// ```
/// use lambda_cache_core::Clock;
/// let clock = Clock::real();
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Debug, Default)]
enum Source {
    #[default]
    Real,
    #[cfg(feature = "test-util")]
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The real monotonic clock (the default).
    ///
    /// ```
    /// let _clock = lambda_cache_core::Clock::real();
    /// ```
    pub fn real() -> Self {
        Lazy::force(&ORIGIN);
        Self {
            source: Source::Real,
        }
    }

    /// The current instant.
    ///
    /// ```
    /// let now = lambda_cache_core::Clock::real().now();
    /// # let _ = now;
    /// ```
    #[inline]
    pub fn now(&self) -> Instant {
        match &self.source {
            Source::Real => Instant(duration_nanos(ORIGIN.elapsed()).saturating_add(HEADROOM)),
            #[cfg(feature = "test-util")]
            Source::Manual(nanos) => Instant(nanos.load(Ordering::Acquire)),
        }
    }

    /// Milliseconds since the Unix epoch, for timestamps other systems read (metrics, logs).
    /// A manual clock counts from the epoch itself, so that tests see fixed numbers.
    ///
    /// ```
    /// let ms = lambda_cache_core::Clock::real().unix_millis();
    /// assert!(ms > 1_700_000_000_000); // after November 2023
    /// ```
    pub fn unix_millis(&self) -> u64 {
        match &self.source {
            Source::Real => {
                #[allow(clippy::disallowed_methods)] // wall time, for timestamps only
                let now = std::time::SystemTime::now();
                now.duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            }
            #[cfg(feature = "test-util")]
            Source::Manual(nanos) => nanos.load(Ordering::Acquire) / 1_000_000,
        }
    }
}

/// A clock that moves only when told to (feature `test-util`).
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_core::ManualClock;
///
/// let manual = ManualClock::new();
/// let clock = manual.clock();
/// let start = clock.now();
/// manual.advance(Duration::from_secs(61));
/// assert_eq!(clock.now().saturating_duration_since(start), Duration::from_secs(61));
/// ```
#[cfg(feature = "test-util")]
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

#[cfg(feature = "test-util")]
impl ManualClock {
    /// A manual clock standing at its origin.
    ///
    /// ```
    /// let manual = lambda_cache_core::ManualClock::new();
    /// assert_eq!(manual.clock().now().as_nanos(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A [`Clock`] that reads this manual clock; give it to a cache.
    ///
    /// ```
    /// let manual = lambda_cache_core::ManualClock::new();
    /// let cache = lambda_cache_core::Cache::builder().clock(manual.clock()).build().unwrap();
    /// # let _ = cache;
    /// ```
    pub fn clock(&self) -> Clock {
        Clock {
            source: Source::Manual(Arc::clone(&self.nanos)),
        }
    }

    /// Moves time forward by `by`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let manual = lambda_cache_core::ManualClock::new();
    /// manual.advance(Duration::from_millis(5));
    /// assert_eq!(manual.clock().now().as_nanos(), 5_000_000);
    /// ```
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(duration_nanos(by), Ordering::AcqRel);
    }
}
