//! The errors of AppConfig reads, each naming the profile at fault and classed transient or
//! permanent.

use std::fmt;

use aws_sdk_appconfigdata::config::http::HttpResponse;
use aws_sdk_appconfigdata::error::{ProvideErrorMetadata, SdkError};
use lambda_cache_aws::{AwsError, Kind};
use lambda_cache_core::{CacheError, shown};

/// Why an AppConfig read failed. Every variant names the profile (`application/environment/
/// profile`); none contains the configuration's content.
///
/// ```
/// use lambda_cache_core::CacheError;
/// use lambda_cache_appconfig::Error;
///
/// let err = Error::NotFound { profile: "checkout/prod/flags".into(), message: "no such environment".into() };
/// assert_eq!(err.to_string(), "AppConfig profile not found: checkout/prod/flags (no such environment)");
/// assert!(!err.is_transient());
/// assert!(Error::Throttled { profile: "checkout/prod/flags".into() }.is_transient());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The profile is malformed: an empty or overlong part, a poll interval out of range.
    InvalidProfile {
        /// The profile as given.
        profile: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The application, environment or profile does not exist. Permanent.
    NotFound {
        /// The profile.
        profile: String,
        /// The service's message (which part it could not find).
        message: String,
    },
    /// The caller may not read the profile.
    AccessDenied {
        /// The profile.
        profile: String,
        /// The service's message.
        message: String,
    },
    /// AppConfig throttled the session's start or poll; it may succeed later.
    Throttled {
        /// The profile.
        profile: String,
    },
    /// The configuration does not fit the requested type (JSON, feature flags).
    Decode {
        /// The profile.
        profile: String,
        /// What did not fit, and where; never the content.
        message: String,
    },
    /// AppConfig answered with another error (an outage, a token refused twice, ...),
    /// classified.
    Service {
        /// The profile.
        profile: String,
        /// The service's answer: kind, status, code and message.
        failure: AwsError,
    },
    /// No usable answer arrived: a timeout, a connection failure, a body that could not be read.
    Transport {
        /// The profile.
        profile: String,
        /// What went wrong.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidProfile { profile, reason } => {
                write!(f, "invalid AppConfig profile {}: {reason}", shown(profile))
            }
            Self::NotFound { profile, message } => {
                write!(f, "AppConfig profile not found: {profile} ({message})")
            }
            Self::AccessDenied { profile, message } => write!(
                f,
                "access denied reading AppConfig profile {profile} (check \
                 appconfig:StartConfigurationSession and appconfig:GetLatestConfiguration): \
                 {message}"
            ),
            Self::Throttled { profile } => {
                write!(f, "AppConfig throttled the read of {profile}: retry later")
            }
            Self::Decode { profile, message } => {
                write!(
                    f,
                    "AppConfig profile {profile} is not the expected type: {message}"
                )
            }
            Self::Service { profile, failure } => {
                write!(f, "AppConfig answered {failure} reading {profile}")
            }
            Self::Transport { profile, message } => {
                write!(f, "no answer from AppConfig reading {profile}: {message}")
            }
        }
    }
}

impl std::error::Error for Error {}

impl CacheError for Error {
    fn is_transient(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::Transport { .. } => true,
            Self::Service { failure, .. } => failure.kind.is_transient(),
            _ => false,
        }
    }

    fn not_modified_without_value(key: lambda_cache_core::Key<'_>) -> Self {
        Self::Transport {
            profile: key.name().to_owned(),
            message: "the backend answered 304 Not Modified to a read that sent no validator"
                .to_owned(),
        }
    }
}

impl Error {
    /// Classifies an SDK failure of a read of `profile`.
    pub(crate) fn from_sdk<E>(profile: &str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let failure = AwsError::from_sdk(err);
        let profile = profile.to_owned();
        match failure.kind {
            Kind::Throttled => Self::Throttled { profile },
            Kind::NotFound => Self::NotFound {
                profile,
                message: failure.message,
            },
            Kind::AccessDenied => Self::AccessDenied {
                profile,
                message: failure.message,
            },
            Kind::Transport => Self::Transport {
                profile,
                message: failure.message,
            },
            _ => Self::Service { profile, failure },
        }
    }

    /// True if AppConfig refused the poll's token (used, expired or unknown: a
    /// `BadRequestException`), so that a new session may be started.
    pub(crate) fn is_refused_token(&self) -> bool {
        matches!(self, Self::Service { failure, .. } if failure.code == "BadRequestException")
    }
}
