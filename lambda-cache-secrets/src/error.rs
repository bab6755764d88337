//! The errors of secret reads: each names the secret, none contains its value.

use std::fmt;

use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use lambda_cache_core::CacheError;

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
    /// Secrets Manager answered with another error.
    Service {
        /// The secret.
        secret: String,
        /// The error code.
        code: String,
        /// The service's message.
        message: String,
        /// The HTTP status (0 when the error came inside a batch answer).
        status: u16,
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
                write!(f, "invalid secret reference {input:?}: {reason}")
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
            Self::Service {
                secret,
                code,
                message,
                status,
            } => write!(
                f,
                "Secrets Manager answered {status} {code} reading {secret}: {message}"
            ),
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
            Self::Service { status, code, .. } => *status >= 500 || code == "InternalServiceError",
            _ => false,
        }
    }
}

impl Error {
    /// Classifies an error code (and status, when known) that the service gave for `secret`.
    pub(crate) fn from_code(secret: &str, code: &str, message: &str, status: u16) -> Self {
        let secret = secret.to_owned();
        let message = message.to_owned();
        match code {
            "ResourceNotFoundException" => Self::NotFound { secret },
            "AccessDeniedException" | "AccessDenied" => Self::AccessDenied { secret, message },
            "DecryptionFailure" => Self::Decryption { secret, message },
            "ThrottlingException" | "TooManyRequestsException" => Self::Throttled { secret },
            "InvalidRequestException" | "InvalidParameterException" => Self::InvalidRequest {
                secret,
                code: code.to_owned(),
                message,
            },
            _ => Self::Service {
                secret,
                code: code.to_owned(),
                message,
                status,
            },
        }
    }

    /// Classifies an SDK failure of a request for `secret`.
    pub(crate) fn from_sdk<E>(secret: &str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match err {
            SdkError::ServiceError(context) => {
                let status = context.raw().status().as_u16();
                let err = context.into_err();
                Self::from_code(
                    secret,
                    err.code().unwrap_or("Unknown"),
                    err.message().unwrap_or(""),
                    status,
                )
            }
            other => Self::Transport {
                secret: secret.to_owned(),
                message: lambda_cache_core::error_chain(&other),
            },
        }
    }
}
