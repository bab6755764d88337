//! One classification of AWS SDK failures, shared by every service crate.

use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What kind of failure an AWS call met, whatever the service.
///
/// ```
/// use lambda_cache_aws::Kind;
/// assert!(Kind::Throttled.is_transient());
/// assert!(!Kind::NotFound.is_transient());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// The service asked the caller to slow down (HTTP 429, `ThrottlingException`, `SlowDown`,
    /// `ProvisionedThroughputExceededException`, ...). Transient.
    Throttled,
    /// The service failed on its side (HTTP 5xx, `InternalServerError`, ...). Transient.
    Unavailable,
    /// No usable answer arrived: a timeout, a connection refused or reset, a body that could not
    /// be read or parsed. Transient.
    Transport,
    /// The resource does not exist (HTTP 404, `ResourceNotFoundException`, `ParameterNotFound`,
    /// `NoSuchKey`, ...).
    NotFound,
    /// The caller may not do this (HTTP 403, `AccessDeniedException`, an unknown or expired key).
    AccessDenied,
    /// The request itself is wrong (`ValidationException`, `InvalidParameterException`,
    /// `InvalidRequestException`, `BadRequestException`).
    InvalidInput,
    /// HTTP 304: the copy the caller holds is current.
    NotModified,
    /// Any other answer.
    Other,
}

impl Kind {
    /// Whether the same call may succeed later, so that a recent value may be served meanwhile.
    ///
    /// ```
    /// assert!(lambda_cache_aws::Kind::Unavailable.is_transient());
    /// ```
    pub const fn is_transient(self) -> bool {
        matches!(self, Self::Throttled | Self::Unavailable | Self::Transport)
    }

    /// The kind of a service's answer with error `code` (the SDK's code, without any
    /// `namespace#` prefix) and HTTP `status` (`None` when the error came inside a batch answer
    /// and has no status of its own). The code decides where it is known; the status otherwise.
    ///
    /// ```
    /// use lambda_cache_aws::Kind;
    /// assert_eq!(Kind::of("ParameterNotFound", Some(400)), Kind::NotFound);
    /// assert_eq!(Kind::of("", Some(503)), Kind::Unavailable);
    /// assert_eq!(Kind::of("InternalServiceError", None), Kind::Unavailable);
    /// ```
    pub fn of(code: &str, status: Option<u16>) -> Self {
        match code {
            "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "TooManyUpdates"
            | "RequestLimitExceeded"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "ProvisionedThroughputExceededException"
            | "SlowDown" => return Self::Throttled,
            "InternalServerError"
            | "InternalServerException"
            | "InternalServiceError"
            | "InternalFailure"
            | "InternalError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException" => return Self::Unavailable,
            "ResourceNotFoundException"
            | "ParameterNotFound"
            | "ParameterVersionNotFound"
            | "NoSuchKey"
            | "NoSuchBucket"
            | "NotFound" => return Self::NotFound,
            "AccessDeniedException"
            | "AccessDenied"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException" => return Self::AccessDenied,
            "ValidationException"
            | "InvalidParameterException"
            | "InvalidRequestException"
            | "BadRequestException" => return Self::InvalidInput,
            _ => {}
        }
        match status {
            Some(304) => Self::NotModified,
            Some(403) => Self::AccessDenied,
            Some(404) => Self::NotFound,
            Some(429) => Self::Throttled,
            Some(500..=599) => Self::Unavailable,
            _ => Self::Other,
        }
    }
}

/// An AWS call's failure, classified: its [`Kind`], the HTTP status and error code the service
/// gave, and its message. The service's message may name the resource; it never holds a value
/// that was read (a failed read returns none), so it may be logged.
///
/// ```
/// use lambda_cache_aws::{AwsError, Kind};
/// let failure = AwsError::from_code("AccessDeniedException", "not allowed", Some(400));
/// assert_eq!(failure.kind, Kind::AccessDenied);
/// assert_eq!(failure.to_string(), "400 AccessDeniedException: not allowed");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AwsError {
    /// What kind of failure.
    pub kind: Kind,
    /// The HTTP status, if an answer arrived and had one of its own.
    pub status: Option<u16>,
    /// The service's error code (`Unknown` when it gave none; empty for [`Kind::Transport`]).
    pub code: String,
    /// The service's message, or for [`Kind::Transport`] the chain of causes.
    pub message: String,
}

impl AwsError {
    /// Classifies an SDK failure.
    ///
    /// ```
    /// use aws_smithy_runtime_api::client::result::SdkError;
    /// use aws_smithy_types::error::ErrorMetadata;
    /// use lambda_cache_aws::{AwsError, Kind};
    ///
    /// let err: SdkError<ErrorMetadata, _> = SdkError::timeout_error("read timed out");
    /// let failure = AwsError::from_sdk(err);
    /// assert_eq!(failure.kind, Kind::Transport);
    /// assert!(failure.message.contains("timed out"));
    /// ```
    pub fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match err {
            SdkError::ServiceError(context) => {
                let status = context.raw().status().as_u16();
                let err = context.into_err();
                if (200..300).contains(&status) {
                    // A success whose body did not parse: a proxy's page, a garbled answer.
                    return Self::unreadable(status, &lambda_cache_core::error_chain(&err));
                }
                Self::from_code(
                    err.code().unwrap_or("Unknown"),
                    err.message().unwrap_or_default(),
                    Some(status),
                )
            }
            other => Self {
                kind: Kind::Transport,
                status: None,
                code: String::new(),
                message: lambda_cache_core::error_chain(&other),
            },
        }
    }

    /// An answer that arrived but cannot be used (a body that does not parse, a part the
    /// service always sends missing): [`Kind::Transport`], so transient, as a cut answer is.
    ///
    /// ```
    /// use lambda_cache_aws::{AwsError, Kind};
    /// let failure = AwsError::unreadable(200, "no ETag");
    /// assert_eq!(failure.kind, Kind::Transport);
    /// assert_eq!(failure.to_string(), "no answer: an answer of status 200 that cannot be used: no ETag");
    /// ```
    pub fn unreadable(status: u16, why: &str) -> Self {
        Self {
            kind: Kind::Transport,
            status: Some(status),
            code: String::new(),
            message: format!("an answer of status {status} that cannot be used: {why}"),
        }
    }

    /// Classifies an error the service reported by code (and status, when it has one of its
    /// own): a call's answer, or one item's error inside a batch answer.
    ///
    /// ```
    /// use lambda_cache_aws::{AwsError, Kind};
    /// let failure = AwsError::from_code("ResourceNotFoundException", "no such secret", None);
    /// assert_eq!(failure.kind, Kind::NotFound);
    /// ```
    pub fn from_code(code: &str, message: &str, status: Option<u16>) -> Self {
        Self {
            kind: Kind::of(code, status),
            status,
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.status) {
            (Kind::Transport, _) => write!(f, "no answer: {}", self.message),
            (_, Some(status)) => write!(f, "{status} {}: {}", self.code, self.message),
            (_, None) => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for AwsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_decide_before_statuses() {
        // DynamoDB and SSM throttle with 400; S3 with 503 SlowDown.
        assert_eq!(
            Kind::of("ProvisionedThroughputExceededException", Some(400)),
            Kind::Throttled
        );
        assert_eq!(Kind::of("SlowDown", Some(503)), Kind::Throttled);
        assert_eq!(
            Kind::of("ParameterVersionNotFound", Some(400)),
            Kind::NotFound
        );
        assert_eq!(
            Kind::of("UnrecognizedClientException", Some(400)),
            Kind::AccessDenied
        );
        assert_eq!(
            Kind::of("ValidationException", Some(400)),
            Kind::InvalidInput
        );
    }

    #[test]
    fn statuses_decide_unknown_codes() {
        assert_eq!(Kind::of("Unknown", Some(304)), Kind::NotModified);
        assert_eq!(Kind::of("Unknown", Some(403)), Kind::AccessDenied);
        assert_eq!(Kind::of("Unknown", Some(404)), Kind::NotFound);
        assert_eq!(Kind::of("Unknown", Some(429)), Kind::Throttled);
        assert_eq!(Kind::of("Unknown", Some(502)), Kind::Unavailable);
        assert_eq!(Kind::of("SomethingElse", Some(400)), Kind::Other);
        assert_eq!(Kind::of("SomethingElse", None), Kind::Other);
    }

    #[test]
    fn only_throttling_outages_and_silence_are_transient() {
        let transient = [Kind::Throttled, Kind::Unavailable, Kind::Transport];
        for kind in [
            Kind::Throttled,
            Kind::Unavailable,
            Kind::Transport,
            Kind::NotFound,
            Kind::AccessDenied,
            Kind::InvalidInput,
            Kind::NotModified,
            Kind::Other,
        ] {
            assert_eq!(kind.is_transient(), transient.contains(&kind), "{kind:?}");
        }
    }

    #[test]
    fn a_batch_item_error_has_no_status() {
        let failure = AwsError::from_code("DecryptionFailure", "kms said no", None);
        assert_eq!(failure.kind, Kind::Other);
        assert_eq!(failure.to_string(), "DecryptionFailure: kms said no");
    }
}
