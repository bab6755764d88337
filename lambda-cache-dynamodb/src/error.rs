//! The errors of DynamoDB reads, each naming the table and key at fault and classed transient
//! or permanent.

use std::fmt;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use lambda_cache_aws::{AwsError, Kind};
use lambda_cache_core::{CacheError, shown};

/// Why a DynamoDB read failed. Every variant names the table or the key (`table@@hash[@@sort]`);
/// none contains an item's attributes.
///
/// ```
/// use lambda_cache_core::CacheError;
/// use lambda_cache_dynamodb::Error;
///
/// let err = Error::NotFound { key: "Users@@u1".into() };
/// assert_eq!(err.to_string(), "DynamoDB item not found: Users@@u1");
/// assert!(!err.is_transient());
/// assert!(Error::Throttled { table: "Users".into() }.is_transient());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The key is malformed: a bad table name, an empty key value, a number that is not one.
    InvalidKey {
        /// The key (or the number's text) as given.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The table has no item with this key.
    NotFound {
        /// The key.
        key: String,
    },
    /// The table does not exist (or the caller may not see it). Permanent.
    TableNotFound {
        /// The table.
        table: String,
    },
    /// The caller may not read the table.
    AccessDenied {
        /// The table.
        table: String,
        /// The service's message.
        message: String,
    },
    /// DynamoDB throttled the read (`ProvisionedThroughputExceededException`,
    /// `ThrottlingException`, `RequestLimitExceeded`), or left keys unprocessed after every
    /// retry; it may succeed later.
    Throttled {
        /// The table.
        table: String,
    },
    /// An item does not fit the requested type.
    Decode {
        /// The key.
        key: String,
        /// What did not fit (attribute names and types, never values).
        message: String,
    },
    /// DynamoDB answered with another error (an outage, an invalid request, ...), classified.
    Service {
        /// The table.
        table: String,
        /// The service's answer: kind, status, code and message.
        failure: AwsError,
    },
    /// No usable answer arrived: a timeout, a connection failure, a body that could not be read.
    Transport {
        /// The table.
        table: String,
        /// What went wrong.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidKey { key, reason } => {
                write!(f, "invalid DynamoDB key {}: {reason}", shown(key))
            }
            Self::NotFound { key } => write!(f, "DynamoDB item not found: {key}"),
            Self::TableNotFound { table } => write!(f, "DynamoDB table not found: {table}"),
            Self::AccessDenied { table, message } => write!(
                f,
                "access denied reading DynamoDB table {table} (check dynamodb:GetItem and \
                 dynamodb:BatchGetItem): {message}"
            ),
            Self::Throttled { table } => {
                write!(
                    f,
                    "DynamoDB throttled the read of table {table}: retry later"
                )
            }
            Self::Decode { key, message } => {
                write!(f, "DynamoDB item {key} is not the expected type: {message}")
            }
            Self::Service { table, failure } => {
                write!(f, "DynamoDB answered {failure} reading {table}")
            }
            Self::Transport { table, message } => {
                write!(f, "no answer from DynamoDB reading {table}: {message}")
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
        // The cache key's name is the table (the item's key values are in its variant).
        Self::Transport {
            table: key.name().to_owned(),
            message: "the backend answered 304 Not Modified to a read that sent no validator"
                .to_owned(),
        }
    }
}

impl Error {
    /// Classifies an SDK failure of a read of `table`.
    pub(crate) fn from_sdk<E>(table: &str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let table = table.to_owned();
        let failure = AwsError::from_sdk(err);
        match failure.kind {
            Kind::Throttled => Self::Throttled { table },
            // DynamoDB's only "not found" answer is for the table; a missing item is an empty
            // answer.
            Kind::NotFound => Self::TableNotFound { table },
            Kind::AccessDenied => Self::AccessDenied {
                table,
                message: failure.message,
            },
            Kind::Transport => Self::Transport {
                table,
                message: failure.message,
            },
            _ => Self::Service { table, failure },
        }
    }
}
