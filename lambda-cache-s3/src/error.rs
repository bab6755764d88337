//! The errors of S3 reads, each naming the URI (and file) at fault.

use std::fmt;
use std::path::PathBuf;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use lambda_cache_aws::{AwsError, Kind};
use lambda_cache_core::{CacheError, shown};

/// Why an S3 object could not be cached. Every variant names the URI.
///
/// ```
/// use lambda_cache_core::CacheError;
/// let err = lambda_cache_s3::Error::NotFound { uri: "s3://bucket/a.json".into() };
/// assert_eq!(err.to_string(), "S3 object s3://bucket/a.json not found");
/// assert!(!err.is_transient());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The URI (or its entry name) is malformed.
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two different URIs would land on the same local file.
    FileConflict {
        /// The local file.
        path: PathBuf,
        /// The URI that holds it.
        holder: String,
        /// The URI that asked for it.
        uri: String,
    },
    /// The object is larger than the cache's budget for it.
    TooLarge {
        /// The URI.
        uri: String,
        /// The object's size in bytes.
        size: u64,
        /// The budget in bytes.
        budget: u64,
    },
    /// No such object or bucket.
    NotFound {
        /// The URI.
        uri: String,
    },
    /// The caller may not read the object.
    AccessDenied {
        /// The URI.
        uri: String,
        /// The service's message.
        message: String,
    },
    /// S3 asked to slow down; the read may succeed later.
    Throttled {
        /// The URI.
        uri: String,
    },
    /// The download ended before the whole object arrived; the previous file is intact.
    Truncated {
        /// The URI.
        uri: String,
        /// Bytes announced.
        expected: u64,
        /// Bytes received.
        received: u64,
    },
    /// A local file operation failed; the previous file is intact.
    Io {
        /// The URI.
        uri: String,
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The object is not the expected JSON. Category and position only.
    Decode {
        /// The URI.
        uri: String,
        /// Category and position of the fault.
        message: String,
    },
    /// S3 answered with another error (an outage, an invalid request, ...), classified.
    Service {
        /// The URI.
        uri: String,
        /// The service's answer: kind, status, code and message.
        failure: AwsError,
    },
    /// No usable answer arrived: a timeout, a connection failure, or a body cut short.
    Transport {
        /// The URI.
        uri: String,
        /// What went wrong.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUri { uri, reason } => {
                write!(f, "invalid S3 URI {}: {reason}", shown(uri))
            }
            Self::FileConflict { path, holder, uri } => write!(
                f,
                "{uri} would be cached as {}, which already holds {holder}: give one of them \
                 another entry_name",
                path.display()
            ),
            Self::TooLarge { uri, size, budget } => write!(
                f,
                "S3 object {uri} is {size} bytes, more than the cache's budget of {budget} bytes"
            ),
            Self::NotFound { uri } => write!(f, "S3 object {uri} not found"),
            Self::AccessDenied { uri, message } => write!(
                f,
                "access denied reading S3 object {uri} (check s3:GetObject): {message}"
            ),
            Self::Throttled { uri } => {
                write!(f, "S3 asked to slow down reading {uri}: retry later")
            }
            Self::Truncated {
                uri,
                expected,
                received,
            } => write!(
                f,
                "download of {uri} ended after {received} of {expected} bytes; the previous \
                 file is kept"
            ),
            Self::Io { uri, path, message } => {
                write!(f, "caching {uri} at {}: {message}", path.display())
            }
            Self::Decode { uri, message } => {
                write!(f, "S3 object {uri} is not the expected JSON: {message}")
            }
            Self::Service { uri, failure } => write!(f, "S3 answered {failure} reading {uri}"),
            Self::Transport { uri, message } => {
                write!(f, "no answer from S3 reading {uri}: {message}")
            }
        }
    }
}

impl std::error::Error for Error {}

impl CacheError for Error {
    fn is_transient(&self) -> bool {
        match self {
            Self::Throttled { .. }
            | Self::Truncated { .. }
            | Self::Io { .. }
            | Self::Transport { .. } => true,
            Self::Service { failure, .. } => failure.kind.is_transient(),
            _ => false,
        }
    }

    fn not_modified_without_value(key: lambda_cache_core::Key<'_>) -> Self {
        Self::Transport {
            uri: key.name().to_owned(),
            message: "the backend answered 304 Not Modified to a read that sent no validator"
                .to_owned(),
        }
    }
}

/// What a GetObject failure means.
pub(crate) enum Failure {
    /// 304: the copy we hold is current.
    NotModified,
    /// Anything else.
    Error(Error),
}

impl Failure {
    pub(crate) fn from_sdk<E>(uri: &str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let uri = uri.to_owned();
        let failure = AwsError::from_sdk(err);
        Self::Error(match failure.kind {
            Kind::NotModified => return Self::NotModified,
            Kind::NotFound => Error::NotFound { uri },
            Kind::AccessDenied => Error::AccessDenied {
                uri,
                message: failure.message,
            },
            // S3 answers 503 (with or without `SlowDown`) when a prefix is read too fast.
            Kind::Throttled => Error::Throttled { uri },
            Kind::Unavailable if failure.status == Some(503) => Error::Throttled { uri },
            Kind::Transport => Error::Transport {
                uri,
                message: failure.message,
            },
            _ => Error::Service { uri, failure },
        })
    }

    /// The read's outcome: a 304 renews the copy held only if the request sent its ETag
    /// (`conditional`); to any other request it is an error naming the URI (a proxy may
    /// answer so), never an unchanged value that is not there.
    pub(crate) fn settle<V>(
        self,
        uri: &str,
        conditional: bool,
    ) -> Result<lambda_cache_core::Fetched<V>, Error> {
        match self {
            Self::NotModified if conditional => Ok(lambda_cache_core::Fetched::not_modified()),
            Self::NotModified => Err(<Error as CacheError>::not_modified_without_value(
                lambda_cache_core::Key::new("s3", uri),
            )),
            Self::Error(err) => Err(err),
        }
    }
}
