//! The errors of SSM reads, each naming the parameters at fault and classed transient or
//! permanent.

use std::fmt;

use aws_sdk_ssm::config::http::HttpResponse;
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use lambda_cache_aws::{AwsError, Kind};
use lambda_cache_core::{CacheError, shown};

/// Why an SSM read failed. Every variant names the parameter (or list of parameters) it concerns;
/// none ever contains a parameter's value.
///
/// ```
/// use lambda_cache_core::CacheError;
/// use lambda_cache_ssm::Error;
///
/// let err = Error::NotFound { names: vec!["/app/missing".into()] };
/// assert_eq!(err.to_string(), "SSM parameter(s) not found: /app/missing");
/// assert!(!err.is_transient());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The name is not a valid parameter name, path, selector or ARN.
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A list of parameters was declared without the entry name that holds its map.
    NoEntryName {
        /// The names of the list.
        names: Vec<String>,
    },
    /// A list of parameters was declared empty.
    EmptyList,
    /// Two names of one list have the same short name, so one map cannot hold both.
    DuplicateShortName {
        /// The shared short name.
        short_name: String,
        /// The first name.
        first: String,
        /// The second name.
        second: String,
    },
    /// SSM does not know these parameters (or these versions or labels of them).
    NotFound {
        /// Every name that was not found.
        names: Vec<String>,
    },
    /// The caller may not read these parameters or decrypt them.
    AccessDenied {
        /// The names requested.
        names: String,
        /// The service's message.
        message: String,
    },
    /// SSM throttled the request; it may succeed later.
    Throttled {
        /// The names requested.
        names: String,
    },
    /// A parameter's value is not valid JSON for the requested type. The message gives the
    /// category and position only, never the value.
    Decode {
        /// The parameter.
        name: String,
        /// Category and position of the fault.
        message: String,
    },
    /// SSM answered with another error (an outage, an invalid request, ...), classified.
    Service {
        /// The names requested.
        names: String,
        /// The service's answer: kind, status, code and message.
        failure: AwsError,
    },
    /// No usable answer arrived: a timeout, a connection failure, or a response that could not be
    /// read.
    Transport {
        /// The names requested.
        names: String,
        /// What went wrong.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName { name, reason } => {
                write!(f, "invalid SSM parameter name {}: {reason}", shown(name))
            }
            Self::NoEntryName { names } => write!(
                f,
                "a list of SSM parameters needs an entry_name to hold its map: {}",
                names.join(", ")
            ),
            Self::EmptyList => f.write_str("a list of SSM parameters needs at least one name"),
            Self::DuplicateShortName {
                short_name,
                first,
                second,
            } => write!(
                f,
                "SSM parameters {first:?} and {second:?} share the short name {short_name:?}: \
                 one map cannot hold both; read them in two lists"
            ),
            Self::NotFound { names } => {
                write!(f, "SSM parameter(s) not found: {}", names.join(", "))
            }
            Self::AccessDenied { names, message } => write!(
                f,
                "access denied reading SSM parameter(s) {names} (check ssm:GetParameters and \
                 kms:Decrypt): {message}"
            ),
            Self::Throttled { names } => {
                write!(f, "SSM throttled the read of {names}: retry later")
            }
            Self::Decode { name, message } => {
                write!(
                    f,
                    "SSM parameter {name} is not the expected JSON: {message}"
                )
            }
            Self::Service { names, failure } => {
                write!(f, "SSM answered {failure} reading {names}")
            }
            Self::Transport { names, message } => {
                write!(f, "no answer from SSM reading {names}: {message}")
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
            names: key.name().to_owned(),
            message: "the backend answered 304 Not Modified to a read that sent no validator"
                .to_owned(),
        }
    }
}

impl Error {
    /// Classifies an SDK failure of a request for `names`.
    pub(crate) fn from_sdk<E>(names: &str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let names = names.to_owned();
        let failure = AwsError::from_sdk(err);
        match failure.kind {
            Kind::Throttled => Self::Throttled { names },
            Kind::AccessDenied => Self::AccessDenied {
                names,
                message: failure.message,
            },
            Kind::NotFound => Self::NotFound { names: vec![names] },
            Kind::Transport => Self::Transport {
                names,
                message: failure.message,
            },
            _ => Self::Service { names, failure },
        }
    }
}
