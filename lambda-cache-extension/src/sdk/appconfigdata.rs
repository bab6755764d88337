//! AppConfigData's own protocol (REST JSON): `StartConfigurationSession`
//! (`POST /configurationsessions`) and `GetLatestConfiguration` (`GET /configuration`).
//!
//! The extension holds the one real session per profile (the library's `AppConfigCache`, never
//! polling faster than AppConfig allows) and hands each client session tokens of its own. A
//! token names the profile, the client's poll interval and what the client was last given (a
//! hash of the content), so that a client's poll gets an empty body exactly when its last
//! answer is still current, however many clients poll and however often.

use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use lambda_cache::appconfig::Profile;
use serde_json::Value;

use super::{AwsFailure, SdkAuth, Service, authenticate, boxed, failure};
use crate::backend::{Backend, Failure};
use crate::metrics::Operation;

/// AppConfig's bounds on a session's poll interval, and its default.
const MIN_INTERVAL: u64 = 15;
const MAX_INTERVAL: u64 = 86_400;
const DEFAULT_INTERVAL: u64 = 60;
/// A session request's body is a few identifiers.
const MAX_BODY: usize = 16 * 1024;
/// How this extension's tokens start.
const TOKEN_VERSION: &str = "lambda-cache/1";

/// True for the two requests of AppConfigData's protocol.
pub(crate) fn is_appconfigdata(method: &Method, path: &str) -> bool {
    matches!(
        (method, path),
        (&Method::POST, "/configurationsessions") | (&Method::GET, "/configuration")
    )
}

/// A client's session, as its token carries it.
#[derive(Debug, PartialEq, Eq)]
struct Session {
    application: String,
    environment: String,
    profile: String,
    interval: u64,
    /// The hash of the content the client was last given; none before its first poll.
    last: Option<u64>,
}

impl Session {
    fn token(&self) -> String {
        static NONCE: AtomicU64 = AtomicU64::new(0);
        let parts = serde_json::json!([
            TOKEN_VERSION,
            self.application,
            self.environment,
            self.profile,
            self.interval,
            self.last.map(|h| format!("{h:016x}")),
            NONCE.fetch_add(1, Ordering::Relaxed),
        ]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(parts.to_string())
    }

    fn from_token(token: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        let Value::Array(parts) = serde_json::from_slice(&bytes).ok()? else {
            return None;
        };
        let [
            version,
            application,
            environment,
            profile,
            interval,
            last,
            _nonce,
        ] = parts.as_slice()
        else {
            return None;
        };
        if version.as_str()? != TOKEN_VERSION {
            return None;
        }
        let last = match last {
            Value::Null => None,
            Value::String(hex) => Some(u64::from_str_radix(hex, 16).ok()?),
            _ => return None,
        };
        Some(Self {
            application: application.as_str()?.to_owned(),
            environment: environment.as_str()?.to_owned(),
            profile: profile.as_str()?.to_owned(),
            interval: interval.as_u64()?,
            last,
        })
    }

    fn profile(&self) -> Profile {
        Profile::new(&self.application, &self.environment, &self.profile)
    }
}

fn content_hash(content: &[u8]) -> u64 {
    // The same process makes and reads the tokens: `DefaultHasher::new`'s fixed keys suffice.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    content.hash(&mut hasher);
    hasher.finish()
}

/// AppConfigData's errors: `BadRequestException` 400, `ResourceNotFoundException` 404,
/// `ThrottlingException` 429, the rest as every SDK route gives them.
fn appconfig_failure(failure: Failure) -> AwsFailure {
    match failure {
        Failure::BadRequest { message, .. } => AwsFailure::new(400, "BadRequestException", message),
        Failure::NotFound { message, .. } => {
            AwsFailure::new(404, "ResourceNotFoundException", message)
        }
        Failure::Busy => AwsFailure::new(
            429,
            "ThrottlingException",
            "too many requests wait on the backend: retry shortly",
        ),
        Failure::Remembered(inner) => appconfig_failure(*inner),
        other => AwsFailure::from_failure(other),
    }
}

/// Answers one AppConfigData request (the caller checked [`is_appconfigdata`]).
pub(crate) async fn answer(
    backend: &Arc<Backend>,
    auth: &SdkAuth,
    request: Request<Incoming>,
) -> Response<super::AnswerBody> {
    let (parts, body) = request.into_parts();
    if !super::presents_auth(&parts.headers) {
        backend.metrics().operation(Operation::Refused);
        return boxed(failure(
            Service::AppConfigData,
            super::refused(&crate::sigv4::Refused::Missing),
        ));
    }
    let Ok(body) = Limited::new(body, MAX_BODY).collect().await else {
        return boxed(failure(
            Service::AppConfigData,
            AwsFailure::new(
                413,
                "PayloadTooLargeException",
                format!("a request body may have at most {MAX_BODY} bytes"),
            ),
        ));
    };
    let body = body.to_bytes();
    if let Err(refused) = authenticate(backend, auth, &parts, &body) {
        backend.metrics().operation(Operation::Refused);
        return boxed(failure(Service::AppConfigData, refused));
    }
    let outcome = if parts.method == Method::POST {
        backend
            .metrics()
            .operation(Operation::StartConfigurationSession);
        start_session(backend, &body).await
    } else {
        backend
            .metrics()
            .operation(Operation::GetLatestConfiguration);
        latest(backend, parts.uri.query().unwrap_or_default()).await
    };
    boxed(outcome.unwrap_or_else(|aws| failure(Service::AppConfigData, aws)))
}

/// StartConfigurationSession: the profile is read (so that one that does not exist is the
/// service's `ResourceNotFoundException` here, as AppConfig answers it), and the client gets
/// its first token.
async fn start_session(
    backend: &Arc<Backend>,
    body: &[u8],
) -> Result<Response<Full<Bytes>>, AwsFailure> {
    let bad = |message: String| AwsFailure::new(400, "BadRequestException", message);
    let Ok(Value::Object(input)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad("the body is not a JSON object".to_owned()));
    };
    let member = |name: &str| {
        input
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{name} is required")))
    };
    let interval = match input.get("RequiredMinimumPollIntervalInSeconds") {
        None | Some(Value::Null) => DEFAULT_INTERVAL,
        Some(value) => value
            .as_u64()
            .filter(|n| (MIN_INTERVAL..=MAX_INTERVAL).contains(n))
            .ok_or_else(|| {
                bad(format!(
                    "RequiredMinimumPollIntervalInSeconds must be {MIN_INTERVAL} to {MAX_INTERVAL}"
                ))
            })?,
    };
    let session = Session {
        application: member("ApplicationIdentifier")?,
        environment: member("EnvironmentIdentifier")?,
        profile: member("ConfigurationProfileIdentifier")?,
        interval,
        last: None,
    };
    let profile = session.profile();
    profile.check().map_err(|e| bad(e.to_string()))?;
    backend
        .sdk_configuration(&profile)
        .await
        .map_err(appconfig_failure)?;
    let answer = serde_json::json!({ "InitialConfigurationToken": session.token() });
    let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
    *response.status_mut() = StatusCode::CREATED;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// GetLatestConfiguration: the profile's content if the client's token was given another (or
/// none yet), else an empty body; always a next token and the poll interval.
async fn latest(backend: &Arc<Backend>, query: &str) -> Result<Response<Full<Bytes>>, AwsFailure> {
    let invalid = || {
        AwsFailure::new(
            400,
            "BadRequestException",
            "Request parameter 'configuration_token' is invalid or expired",
        )
    };
    let token = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("configuration_token="))
        .ok_or_else(|| {
            AwsFailure::new(
                400,
                "BadRequestException",
                "Request parameter 'configuration_token' is required",
            )
        })?;
    let token = percent_encoding::percent_decode_str(token)
        .decode_utf8()
        .map_err(|_| invalid())?;
    let mut session = Session::from_token(&token).ok_or_else(invalid)?;
    let entry = backend
        .sdk_configuration(&session.profile())
        .await
        .map_err(appconfig_failure)?;
    let hash = content_hash(entry.content());
    let body = if session.last == Some(hash) {
        Bytes::new()
    } else {
        entry.bytes()
    };
    session.last = Some(hash);
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    let content_type = entry
        .content_type()
        .and_then(|t| HeaderValue::from_str(t).ok())
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    headers.insert(CONTENT_TYPE, content_type);
    if let Ok(token) = HeaderValue::from_str(&session.token()) {
        headers.insert("next-poll-configuration-token", token);
    }
    headers.insert(
        "next-poll-interval-in-seconds",
        HeaderValue::from(session.interval),
    );
    if let Some(label) = entry
        .version_label()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        headers.insert("version-label", label);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_the_session_and_refuse_anything_else() {
        let session = Session {
            application: "app".into(),
            environment: "prod".into(),
            profile: "flags".into(),
            interval: 30,
            last: Some(0xdead_beef),
        };
        let (one, two) = (session.token(), session.token());
        assert_ne!(one, two, "each token is new");
        assert_eq!(Session::from_token(&one).as_ref(), Some(&session));
        for bad in ["", "not base64!", "WyJ4Il0", &one[..one.len() - 3]] {
            assert_eq!(Session::from_token(bad), None, "{bad}");
        }
        assert_ne!(content_hash(b"a"), content_hash(b"b"));
    }
}
