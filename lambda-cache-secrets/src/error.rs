//! The errors of secret reads: each names the secret, none contains its value.

use std::fmt;

use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use lambda_cache_aws::{AwsError, Kind};
use lambda_cache_core::{CacheError, shown};

/// Why a secret could not be read. Every variant names the secret (as requested); none ever
/// contains a secret's value.
///
/// ```
/// use lambda_cache_core::CacheError;
/// use lambda_cache_secrets::Error;
///
/// let err = Error::NotFound { secret: "prod/db".into() };
/// assert_eq!(err.to_string(), "secret prod/db not found (or not in that version)");
/// assert!(!err.is_transient());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The secret name, ARN, version stage or version id is malformed.
    InvalidName {
        /// The input as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Secrets Manager has no such secret, or not in the requested version.
    NotFound {
        /// The secret.
        secret: String,
    },
    /// The caller may not read the secret.
    AccessDenied {
        /// The secret.
        secret: String,
        /// The service's message.
        message: String,
    },
    /// The secret's KMS key could not decrypt it.
    Decryption {
        /// The secret.
        secret: String,
        /// The service's message.
        message: String,
    },
    /// The request is not valid now (for example, the secret is scheduled for deletion).
    InvalidRequest {
        /// The secret.
        secret: String,
        /// The error code.
        code: String,
        /// The service's message.
        message: String,
    },
    /// Secrets Manager throttled the request; it may succeed later.
    Throttled {
        /// The secret.
        secret: String,
    },
    /// The secret is not the expected JSON. Category and position only, never the value.
    Decode {
        /// The secret.
        secret: String,
        /// Category and position of the fault.
        message: String,
    },
    /// Secrets Manager answered with another error (an outage, ...), classified. Its status
    /// is `None` when the error came inside a batch answer.
    Service {
        /// The secret.
        secret: String,
        /// The service's answer: kind, status, code and message.
        failure: AwsError,
    },
    /// No usable answer arrived: a timeout, a connection failure, or a response that could not
    /// be read.
    Transport {
        /// The secret.
        secret: String,
        /// What went wrong.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName { input, reason } => {
                write!(f, "invalid secret reference {}: {reason}", shown(input))
            }
            Self::NotFound { secret } => {
                write!(f, "secret {secret} not found (or not in that version)")
            }
            Self::AccessDenied { secret, message } => write!(
                f,
                "access denied reading secret {secret} (check secretsmanager:GetSecretValue and \
                 kms:Decrypt): {message}"
            ),
            Self::Decryption { secret, message } => {
                write!(f, "secret {secret} could not be decrypted: {message}")
            }
            Self::InvalidRequest {
                secret,
                code,
                message,
            } => write!(f, "secret {secret} cannot be read now ({code}): {message}"),
            Self::Throttled { secret } => {
                write!(
                    f,
                    "Secrets Manager throttled the read of {secret}: retry later"
                )
            }
            Self::Decode { secret, message } => {
                write!(f, "secret {secret} is not the expected JSON: {message}")
            }
            Self::Service { secret, failure } => {
                write!(f, "Secrets Manager answered {failure} reading {secret}")
            }
            Self::Transport { secret, message } => {
                write!(
                    f,
                    "no answer from Secrets Manager reading {secret}: {message}"
                )
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
            secret: key.name().to_owned(),
            message: "the backend answered 304 Not Modified to a read that sent no validator"
                .to_owned(),
        }
    }
}

impl Error {
    /// Classifies an error the service gave for `secret`: a call's answer, or one secret's
    /// error inside a batch answer.
    pub(crate) fn from_aws(secret: &str, failure: AwsError) -> Self {
        let secret = secret.to_owned();
        if failure.code == "DecryptionFailure" {
            return Self::Decryption {
                secret,
                message: failure.message,
            };
        }
        match failure.kind {
            Kind::NotFound => Self::NotFound { secret },
            Kind::AccessDenied => Self::AccessDenied {
                secret,
                message: failure.message,
            },
            Kind::Throttled => Self::Throttled { secret },
            Kind::InvalidInput => Self::InvalidRequest {
                secret,
                code: failure.code,
                message: failure.message,
            },
            Kind::Transport => Self::Transport {
                secret,
                message: failure.message,
            },
            _ => Self::Service { secret, failure },
        }
    }

    /// Classifies an SDK failure of a request for `secret`.
    pub(crate) fn from_sdk<E>(secret: &str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        Self::from_aws(secret, AwsError::from_sdk(err))
    }
}
