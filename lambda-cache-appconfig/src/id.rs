//! Profiles: an application, an environment and a configuration profile, by name or id.

use std::fmt;
use std::time::Duration;

use crate::Error;

/// The longest identifier AppConfigData accepts (a name, an id or an ARN part).
const MAX_IDENTIFIER: usize = 128;

/// The range AppConfigData accepts for a session's required minimum poll interval.
const POLL_INTERVAL_RANGE: std::ops::RangeInclusive<u64> = 15..=86_400;

/// One configuration profile of one environment of one application, each named or given by
/// id, as AppConfigData's StartConfigurationSession takes them.
///
/// The three parts make the cache key (unambiguously, whatever characters they hold); the
/// optional minimum poll interval only constrains the session and is not part of it.
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_appconfig::Profile;
/// let flags = Profile::new("checkout", "prod", "flags").min_poll_interval(Duration::from_secs(30));
/// assert_eq!(flags.to_string(), "checkout/prod/flags");
/// assert_eq!(flags.application(), "checkout");
/// assert!(flags.check().is_ok());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Profile {
    application: String,
    environment: String,
    profile: String,
    min_poll_interval: Option<Duration>,
    /// `app/env/profile`, for messages and as the declared name.
    label: String,
    /// The cache key's variant: the environment length-prefixed, then the profile.
    variant: String,
}

impl Profile {
    /// The profile `profile` of environment `environment` of application `application`.
    ///
    /// ```
    /// let p = lambda_cache_appconfig::Profile::new("abc1234", "def5678", "ghi9012");
    /// assert_eq!(p.environment(), "def5678");
    /// ```
    pub fn new(
        application: impl Into<String>,
        environment: impl Into<String>,
        profile: impl Into<String>,
    ) -> Self {
        let (application, environment, profile) =
            (application.into(), environment.into(), profile.into());
        let label = format!("{application}/{environment}/{profile}");
        let variant = format!("{}:{environment}{profile}", environment.len());
        Self {
            application,
            environment,
            profile,
            min_poll_interval: None,
            label,
            variant,
        }
    }

    /// Asks AppConfig for sessions polled no more often than `interval` (15 s to 24 h): the
    /// service then answers with at least this poll interval, and this cache never polls
    /// faster than the service's answer says.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = lambda_cache_appconfig::Profile::new("a", "e", "p").min_poll_interval(Duration::from_secs(60));
    /// assert_eq!(p.min_poll_interval_value(), Some(Duration::from_secs(60)));
    /// ```
    #[must_use]
    pub fn min_poll_interval(mut self, interval: Duration) -> Self {
        self.min_poll_interval = Some(interval);
        self
    }

    /// The minimum poll interval asked for, if any.
    ///
    /// ```
    /// assert_eq!(lambda_cache_appconfig::Profile::new("a", "e", "p").min_poll_interval_value(), None);
    /// ```
    pub fn min_poll_interval_value(&self) -> Option<Duration> {
        self.min_poll_interval
    }

    /// The application's name or id.
    ///
    /// ```
    /// assert_eq!(lambda_cache_appconfig::Profile::new("a", "e", "p").application(), "a");
    /// ```
    pub fn application(&self) -> &str {
        &self.application
    }

    /// The environment's name or id.
    ///
    /// ```
    /// assert_eq!(lambda_cache_appconfig::Profile::new("a", "e", "p").environment(), "e");
    /// ```
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The configuration profile's name or id.
    ///
    /// ```
    /// assert_eq!(lambda_cache_appconfig::Profile::new("a", "e", "p").profile(), "p");
    /// ```
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// `application/environment/profile`.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// The cache key's variant.
    pub(crate) fn variant(&self) -> &str {
        &self.variant
    }

    /// Checks the three identifiers and the poll interval, before any call.
    ///
    /// # Errors
    /// [`Error::InvalidProfile`] naming the profile and the part at fault.
    ///
    /// ```
    /// use lambda_cache_appconfig::Profile;
    /// assert!(Profile::new("app", "prod", "flags").check().is_ok());
    /// let err = Profile::new("app", "", "flags").check().unwrap_err();
    /// assert!(err.to_string().contains("environment is empty"));
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        let invalid = |reason: String| {
            Err(Error::InvalidProfile {
                profile: self.label.clone(),
                reason,
            })
        };
        for (part, value) in [
            ("application", &self.application),
            ("environment", &self.environment),
            ("profile", &self.profile),
        ] {
            if value.is_empty() {
                return invalid(format!("the {part} is empty"));
            }
            if value.len() > MAX_IDENTIFIER {
                return invalid(format!(
                    "the {part} is {} bytes long; AppConfig takes at most {MAX_IDENTIFIER}",
                    value.len()
                ));
            }
            if value.chars().any(char::is_control) {
                return invalid(format!("the {part} holds a control character"));
            }
        }
        if let Some(interval) = self.min_poll_interval {
            let seconds = interval.as_secs();
            if !POLL_INTERVAL_RANGE.contains(&seconds) || interval.subsec_nanos() != 0 {
                return invalid(format!(
                    "the minimum poll interval is {interval:?}; AppConfig takes whole seconds \
                     from {} to {}",
                    POLL_INTERVAL_RANGE.start(),
                    POLL_INTERVAL_RANGE.end()
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("application", &self.application)
            .field("environment", &self.environment)
            .field("profile", &self.profile)
            .field("min_poll_interval", &self.min_poll_interval)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_never_run_into_each_other_in_the_key() {
        let a = Profile::new("app", "ab", "c");
        let b = Profile::new("app", "a", "bc");
        assert_ne!(a.variant(), b.variant());
        assert_eq!(a.label(), "app/ab/c");
    }

    #[test]
    fn every_part_is_checked_and_named() {
        let long = "x".repeat(129);
        for (profile, reason) in [
            (Profile::new("", "e", "p"), "the application is empty"),
            (Profile::new("a", "e", ""), "the profile is empty"),
            (
                Profile::new("a", &long, "p"),
                "the environment is 129 bytes long",
            ),
            (
                Profile::new("a\n", "e", "p"),
                "the application holds a control",
            ),
            (
                Profile::new("a", "e", "p").min_poll_interval(Duration::from_secs(5)),
                "minimum poll interval is 5s",
            ),
            (
                Profile::new("a", "e", "p").min_poll_interval(Duration::from_millis(15_500)),
                "whole seconds",
            ),
        ] {
            let message = profile.check().unwrap_err().to_string();
            assert!(message.contains(reason), "{message}");
            assert!(message.contains("invalid AppConfig profile"), "{message}");
        }
        assert!(
            Profile::new("a", "e", "p")
                .min_poll_interval(Duration::from_secs(15))
                .check()
                .is_ok()
        );
    }
}
