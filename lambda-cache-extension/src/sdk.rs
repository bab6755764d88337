//! The AWS SDKs' own protocol, on every listener: `POST /` with `X-Amz-Target`, as SSM and
//! Secrets Manager (AWS JSON 1.1) and DynamoDB (AWS JSON 1.0) answer it. A function whose SDK
//! has `AWS_ENDPOINT_URL_SSM` (and the others) pointing here has its reads answered from the
//! cache with no change to its code.
//!
//! A request is accepted when its SigV4 signature verifies against the execution
//! environment's credentials, or when it carries the token header as the other routes take it.
//! Answers carry the services' shapes, `Content-Type` and `x-amzn-RequestId`; errors their
//! `__type`, repeated in `X-Amzn-Errortype`, with the status the service gives, so that each
//! SDK parses them and classifies them for its retries as it would the service's own.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use bytes::{BufMut as _, Bytes, BytesMut};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use subtle::ConstantTimeEq as _;

use crate::backend::{Backend, Failure, ItemRequest, Served};
use crate::metrics::Operation;
use crate::server::{AGE_MS_HEADER, SOURCE_HEADER, TOKEN_HEADER};
use crate::sigv4::{self, Credentials};

/// Bytes a request body may have: DynamoDB's largest request (a BatchWriteItem) is 16 MiB;
/// the body is read whole, as its signature covers it.
const MAX_BODY: usize = 16 << 20;
/// Names one GetParameters call may ask for, as SSM allows.
const MAX_NAMES: usize = 10;

/// The services served, each with its target prefix and protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    Ssm,
    Secrets,
    DynamoDb,
    /// REST JSON, answered by `appconfigdata.rs` (its two operations are both cached, so
    /// nothing of it passes through).
    AppConfigData,
}

impl Service {
    fn from_target(target: &str) -> Option<(Self, &str)> {
        let (prefix, operation) = target.split_once('.')?;
        let service = match prefix {
            "AmazonSSM" => Self::Ssm,
            "secretsmanager" => Self::Secrets,
            "DynamoDB_20120810" => Self::DynamoDb,
            _ => return None,
        };
        Some((service, operation))
    }

    /// How a passthrough to this service is counted; none for AppConfigData, whose two
    /// operations are both answered from the cache.
    fn passthrough(self) -> Option<Operation> {
        match self {
            Self::Ssm => Some(Operation::SsmPassthrough),
            Self::Secrets => Some(Operation::SecretsPassthrough),
            Self::DynamoDb => Some(Operation::DynamoDbPassthrough),
            Self::AppConfigData => None,
        }
    }

    /// The service's name in SigV4 credential scopes.
    pub(crate) fn signing_name(self) -> &'static str {
        match self {
            Self::Ssm => "ssm",
            Self::Secrets => "secretsmanager",
            Self::DynamoDb => "dynamodb",
            Self::AppConfigData => "appconfig",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Ssm | Self::Secrets => "application/x-amz-json-1.1",
            Self::DynamoDb => "application/x-amz-json-1.0",
            Self::AppConfigData => "application/json",
        }
    }
}

/// How a request authenticates: the token of the other routes, or a SigV4 signature.
pub(crate) struct SdkAuth {
    pub(crate) token: lambda_cache::Sensitive<String>,
    pub(crate) credentials: Option<Credentials>,
}

mod appconfigdata;

pub(crate) use appconfigdata::{answer as appconfigdata_answer, is_appconfigdata};

/// An error as the service gives it: its status, `__type` and message.
struct AwsFailure {
    status: StatusCode,
    code: String,
    message: String,
}

impl AwsFailure {
    fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// The `ValidationException` of a member, worded as the services word it.
    fn validation(member: &str, constraint: &str) -> Self {
        Self::new(
            400,
            "ValidationException",
            format!(
                "1 validation error detected: {member} failed to satisfy constraint: {constraint}"
            ),
        )
    }

    fn serialization(message: impl Into<String>) -> Self {
        Self::new(400, "SerializationException", message)
    }

    /// A backend read's failure, in the status and code the service gives for it.
    fn from_failure(failure: Failure) -> Self {
        use lambda_cache::ssm::Kind;
        match failure {
            Failure::BadRequest { message, .. } => Self::new(400, "ValidationException", message),
            Failure::NotFound { code, message } => Self::new(400, &code, message),
            Failure::Backend(e) => {
                let status = e.status.filter(|s| *s >= 400).unwrap_or(match e.kind {
                    Kind::Throttled | Kind::AccessDenied | Kind::InvalidInput | Kind::NotFound => {
                        400
                    }
                    Kind::Unavailable | Kind::Transport => 503,
                    _ => 500,
                });
                let code = if e.code.is_empty() || e.code == "Unknown" {
                    if status == 503 {
                        "ServiceUnavailable"
                    } else {
                        "InternalServerError"
                    }
                } else {
                    &e.code
                };
                Self::new(status, code, e.message.clone())
            }
            Failure::Timeout(message) => Self::new(504, "RequestTimeout", message),
            // The SDKs back off on a throttle: exactly what a full in-flight limit needs.
            Failure::Busy => Self::new(
                400,
                "ThrottlingException",
                "too many requests wait on the backend: retry shortly",
            ),
            Failure::Remembered(inner) => Self::from_failure(*inner),
        }
    }
}

/// The body of an answer: one the extension made, or the service's streaming through.
pub(crate) type AnswerBody =
    UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync + 'static>>;

/// An answer the extension made, as an [`AnswerBody`].
pub(crate) fn boxed(response: Response<Full<Bytes>>) -> Response<AnswerBody> {
    response.map(|body| body.map_err(|never| match never {}).boxed_unsync())
}

/// Answers one SDK request (the caller has checked it is `POST /`).
pub(crate) async fn answer(
    backend: &Arc<Backend>,
    auth: &SdkAuth,
    request: Request<Incoming>,
) -> Response<AnswerBody> {
    let (parts, body) = request.into_parts();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some((service, operation)) = Service::from_target(&target) else {
        return boxed(failure(
            Service::Ssm,
            AwsFailure::new(
                400,
                "UnknownOperationException",
                format!(
                    "X-Amz-Target {}: this endpoint serves SSM (AmazonSSM.*), Secrets Manager (secretsmanager.*) and DynamoDB (DynamoDB_20120810.*)",
                    crate::go::quote(&target)
                ),
            ),
        ));
    };
    // Neither a signature nor the token: refused before the body is read.
    if !presents_auth(&parts.headers) {
        backend.metrics().operation(Operation::Refused);
        return boxed(failure(service, refused(&sigv4::Refused::Missing)));
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return boxed(failure(
                service,
                AwsFailure::new(
                    413,
                    "RequestEntityTooLargeException",
                    format!("a request body may have at most {MAX_BODY} bytes"),
                ),
            ));
        }
    };
    if let Err(refused) = authenticate(backend, auth, &parts, &body) {
        backend.metrics().operation(Operation::Refused);
        return boxed(failure(service, refused));
    }
    let cached = match (service, operation) {
        (Service::Ssm, "GetParameter" | "GetParameters" | "GetParametersByPath")
        | (Service::Secrets, "GetSecretValue")
        | (Service::DynamoDb, "GetItem" | "BatchGetItem") => true,
        // By `SecretIdList` only: a `Filters` search is the service's to answer.
        (Service::Secrets, "BatchGetSecretValue") => {
            serde_json::from_slice::<serde_json::Map<String, Value>>(&body).is_ok_and(|input| {
                input.get("SecretIdList").is_some_and(Value::is_array)
                    && input.get("Filters").is_none_or(Value::is_null)
                    && input.get("NextToken").is_none_or(Value::is_null)
            })
        }
        _ => false,
    };
    if cached {
        boxed(from_cache(backend, service, operation, &body).await)
    } else {
        passthrough(backend, service, operation, &parts, body).await
    }
}

/// True when a request carries the token header or an `Authorization` header: one with
/// neither is refused before its body is read.
fn presents_auth(headers: &hyper::HeaderMap) -> bool {
    headers.contains_key(TOKEN_HEADER) || headers.contains_key(hyper::header::AUTHORIZATION)
}

/// A refusal as the service words it, HTTP 400.
fn refused(refused: &sigv4::Refused) -> AwsFailure {
    AwsFailure::new(400, refused.code(), refused.message())
}

/// The token header, else a SigV4 signature that verifies.
fn authenticate(
    backend: &Backend,
    auth: &SdkAuth,
    parts: &hyper::http::request::Parts,
    body: &[u8],
) -> Result<(), AwsFailure> {
    let by_token = parts
        .headers
        .get(TOKEN_HEADER)
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(auth.token.expose().as_bytes())));
    if by_token {
        return Ok(());
    }
    let verified = match &auth.credentials {
        None => Err(sigv4::Refused::Missing),
        Some(credentials) => sigv4::verify(
            credentials,
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query().unwrap_or_default(),
            &parts.headers,
            body,
            backend.cache().clock().unix_millis() / 1000,
        ),
    };
    verified.map_err(|why| refused(&why))
}

/// An operation of another kind: the service's own answer, streamed; what a write changes is
/// dropped from the cache before the answer is returned (whatever the service answered: a
/// write that timed out may still have been applied).
async fn passthrough(
    backend: &Arc<Backend>,
    service: Service,
    operation: &str,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Response<AnswerBody> {
    let Some(counted) = service.passthrough() else {
        return boxed(failure(
            service,
            AwsFailure::new(
                400,
                "UnknownOperationException",
                format!("{operation} is not an operation of this endpoint"),
            ),
        ));
    };
    backend.metrics().operation(counted);
    // A passthrough is a backend call: it takes a place among those in flight.
    let answer = match backend.waiting() {
        Ok(_place) => backend.upstream().forward(service, parts, &body).await,
        Err(busy) => return boxed(failure(service, AwsFailure::from_failure(busy))),
    };
    backend.invalidate_write(service, operation, &body);
    match answer {
        Ok(answer) => answer.map(|body| body.boxed_unsync()),
        Err(why) => boxed(failure(
            service,
            AwsFailure::new(503, "ServiceUnavailable", why),
        )),
    }
}

/// An operation answered from the cache.
async fn from_cache(
    backend: &Arc<Backend>,
    service: Service,
    operation: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let input = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(input)) => input,
        Ok(_) => {
            return failure(
                service,
                AwsFailure::serialization("the body is not a JSON object"),
            );
        }
        Err(e) => {
            return failure(
                service,
                AwsFailure::serialization(format!("the body is not JSON: {e}")),
            );
        }
    };
    let metrics = backend.metrics();
    let outcome = match (service, operation) {
        (Service::Ssm, "GetParameter") => {
            metrics.operation(Operation::GetParameter);
            get_parameter(backend, &input).await
        }
        (Service::Ssm, "GetParameters") => {
            metrics.operation(Operation::GetParameters);
            get_parameters(backend, &input).await
        }
        (Service::Ssm, "GetParametersByPath") => {
            metrics.operation(Operation::GetParametersByPath);
            get_parameters_by_path(backend, &input).await
        }
        (Service::Secrets, "GetSecretValue") => {
            metrics.operation(Operation::GetSecretValue);
            get_secret_value(backend, &input).await
        }
        (Service::DynamoDb, "GetItem") => {
            metrics.operation(Operation::GetItem);
            get_item(backend, &input).await
        }
        (Service::Secrets, "BatchGetSecretValue") => {
            metrics.operation(Operation::BatchGetSecretValue);
            batch_get_secret_value(backend, &input).await
        }
        (Service::DynamoDb, "BatchGetItem") => {
            metrics.operation(Operation::BatchGetItem);
            batch_get_item(backend, &input).await
        }
        _ => Err(AwsFailure::new(
            400,
            "UnknownOperationException",
            format!("{operation} is not answered from the cache"),
        )),
    };
    match outcome {
        Ok(answer) => success(service, answer),
        Err(aws) => failure(service, aws),
    }
}

/// A successful answer: its body and, when a cached value made it, where that came from.
struct Answer {
    body: Bytes,
    served: Option<(crate::backend::Source, std::time::Duration)>,
}

impl Answer {
    fn from_served(served: Served, body: Bytes) -> Self {
        Self {
            body,
            served: Some((served.source, served.age)),
        }
    }
}

/// A string member, `None` if absent; another type is the service's serialization error.
fn string<'a>(
    input: &'a serde_json::Map<String, Value>,
    member: &str,
) -> Result<Option<&'a str>, AwsFailure> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(AwsFailure::serialization(format!(
            "{member} must be a string"
        ))),
    }
}

/// A list-of-strings member, `None` if absent; another type is the service's serialization
/// error naming the member.
fn strings(
    input: &serde_json::Map<String, Value>,
    member: &str,
) -> Result<Option<Vec<String>>, AwsFailure> {
    let bad = || AwsFailure::serialization(format!("{member} must be a list of strings"));
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .map(Some)
            .ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

fn required<'a>(
    input: &'a serde_json::Map<String, Value>,
    member: &str,
    wire: &str,
) -> Result<&'a str, AwsFailure> {
    string(input, member)?.ok_or_else(|| {
        AwsFailure::validation(
            &format!("Value null at '{wire}'"),
            "Member must not be null",
        )
    })
}

fn boolean(input: &serde_json::Map<String, Value>, member: &str) -> Result<bool, AwsFailure> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(AwsFailure::serialization(format!(
            "{member} must be a boolean"
        ))),
    }
}

async fn get_parameter(
    backend: &Arc<Backend>,
    input: &serde_json::Map<String, Value>,
) -> Result<Answer, AwsFailure> {
    let name = required(input, "Name", "name")?;
    let decrypt = boolean(input, "WithDecryption")?;
    let served = backend
        .sdk_parameter(name, decrypt)
        .await
        .map_err(AwsFailure::from_failure)?;
    let mut body = BytesMut::with_capacity(served.body.len() + 16);
    body.put_slice(b"{\"Parameter\":");
    body.put_slice(&served.body);
    body.put_u8(b'}');
    let body = body.freeze();
    Ok(Answer::from_served(served, body))
}

/// Parameters per page of GetParametersByPath, as SSM allows.
const MAX_PAGE: u64 = 10;
/// How this extension's page tokens start: a token of another kind is SSM's InvalidNextToken.
const TOKEN_PREFIX: &str = "lambda-cache:";

/// GetParametersByPath: the whole walk of the path cached as one entry (per recursion,
/// decryption and filters), its pages cut from it; `NextToken` is the offset of the next page.
async fn get_parameters_by_path(
    backend: &Arc<Backend>,
    input: &serde_json::Map<String, Value>,
) -> Result<Answer, AwsFailure> {
    let path = required(input, "Path", "path")?;
    let recursive = boolean(input, "Recursive")?;
    let decrypt = boolean(input, "WithDecryption")?;
    let page = match input.get("MaxResults") {
        None | Some(Value::Null) => MAX_PAGE,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n @ 1..=MAX_PAGE) => n,
            _ => {
                return Err(AwsFailure::validation(
                    &format!("Value '{n}' at 'maxResults'"),
                    &format!("Member must have value between 1 and {MAX_PAGE}"),
                ));
            }
        },
        Some(_) => return Err(AwsFailure::serialization("MaxResults must be a number")),
    };
    let offset = match string(input, "NextToken")? {
        None => 0,
        Some(token) => token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                AwsFailure::new(400, "InvalidNextToken", "The specified token isn't valid.")
            })?,
    };
    let filters = match input.get("ParameterFilters") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(filters)) => filters
            .iter()
            .map(parameter_filter)
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(AwsFailure::serialization(
                "ParameterFilters must be a list of filters",
            ));
        }
    };
    // The walk's shape, canonical: one entry per recursion, decryption and filters.
    let shape = serde_json::json!({
        "Recursive": recursive,
        "WithDecryption": decrypt,
        "ParameterFilters": input.get("ParameterFilters"),
    });
    let served = backend
        .sdk_path(path, recursive, decrypt, filters, &shape.to_string())
        .await
        .map_err(AwsFailure::from_failure)?;
    // The entry holds the walk's parameters one per line (compact JSON has no raw newline).
    let all: Vec<&[u8]> = served
        .body
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    let end = offset.saturating_add(page as usize).min(all.len());
    let mut body = BytesMut::with_capacity(served.body.len() + 64);
    body.put_slice(b"{");
    if end < all.len() {
        body.put_slice(format!("\"NextToken\":\"{TOKEN_PREFIX}{end}\",").as_bytes());
    }
    body.put_slice(b"\"Parameters\":[");
    for (i, parameter) in all.get(offset..end).unwrap_or_default().iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(parameter);
    }
    body.put_slice(b"]}");
    let body = body.freeze();
    Ok(Answer::from_served(served, body))
}

/// One of GetParametersByPath's `ParameterFilters`: `Key`, `Option`, `Values`.
fn parameter_filter(
    value: &Value,
) -> Result<aws_sdk_ssm::types::ParameterStringFilter, AwsFailure> {
    let bad = || AwsFailure::serialization("a ParameterFilter is {Key, Option, Values}");
    let Value::Object(filter) = value else {
        return Err(bad());
    };
    let key = required(filter, "Key", "key")?;
    let option = string(filter, "Option")?;
    let values = strings(filter, "Values")?;
    aws_sdk_ssm::types::ParameterStringFilter::builder()
        .key(key)
        .set_option(option.map(str::to_owned))
        .set_values(values)
        .build()
        .map_err(|_| bad())
}

async fn get_parameters(
    backend: &Arc<Backend>,
    input: &serde_json::Map<String, Value>,
) -> Result<Answer, AwsFailure> {
    let names = strings(input, "Names")?.ok_or_else(|| {
        AwsFailure::validation("Value null at 'names'", "Member must not be null")
    })?;
    if names.is_empty() || names.len() > MAX_NAMES {
        let constraint = if names.is_empty() {
            "Member must have length greater than or equal to 1".to_owned()
        } else {
            format!("Member must have length less than or equal to {MAX_NAMES}")
        };
        return Err(AwsFailure::validation(
            &format!("Value '[{}]' at 'names'", names.join(", ")),
            &constraint,
        ));
    }
    let decrypt = boolean(input, "WithDecryption")?;
    let (parameters, invalid) = backend
        .sdk_parameters(&names, decrypt)
        .await
        .map_err(AwsFailure::from_failure)?;
    let mut body = BytesMut::with_capacity(64 + parameters.iter().map(Bytes::len).sum::<usize>());
    body.put_slice(b"{\"InvalidParameters\":");
    body.put_slice(Value::from(invalid).to_string().as_bytes());
    body.put_slice(b",\"Parameters\":[");
    for (i, parameter) in parameters.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(parameter);
    }
    body.put_slice(b"]}");
    Ok(Answer {
        body: body.freeze(),
        served: None,
    })
}

async fn get_secret_value(
    backend: &Arc<Backend>,
    input: &serde_json::Map<String, Value>,
) -> Result<Answer, AwsFailure> {
    let id = required(input, "SecretId", "secretId")?;
    let version_id = string(input, "VersionId")?;
    let stage = string(input, "VersionStage")?;
    // The extension's secret answer is GetSecretValue's own shape: the same entries serve both.
    let served = backend
        .secret(id, version_id, stage, false)
        .await
        .map_err(AwsFailure::from_failure)?;
    let body = served.body.clone();
    Ok(Answer::from_served(served, body))
}

async fn get_item(
    backend: &Arc<Backend>,
    input: &serde_json::Map<String, Value>,
) -> Result<Answer, AwsFailure> {
    let table = required(input, "TableName", "tableName")?.to_owned();
    let key_json = match input.get("Key") {
        Some(Value::Object(key)) if !key.is_empty() => key,
        Some(Value::Object(_)) | None | Some(Value::Null) => {
            return Err(AwsFailure::validation(
                "Value null at 'key'",
                "Member must not be null",
            ));
        }
        Some(_) => {
            return Err(AwsFailure::serialization(
                "Key must be a map of attribute values",
            ));
        }
    };
    let key = parse_key(key_json)?;
    let shape = ReadShape::parse(input)?;
    let request = ItemRequest {
        table,
        key,
        variant: shape.variant(key_json),
        projection: shape.read.projection,
        names: shape.read.names,
        attributes_to_get: shape.read.attributes_to_get,
        consistent: shape.read.consistent,
    };
    let served = backend
        .sdk_item(request)
        .await
        .map_err(AwsFailure::from_failure)?;
    let body = served.body.clone();
    Ok(Answer::from_served(served, body))
}

/// Secret ids one BatchGetSecretValue may name, as Secrets Manager allows.
const MAX_SECRET_IDS: usize = 20;
/// Keys one BatchGetItem may ask for, as DynamoDB allows.
const MAX_BATCH_KEYS: usize = 100;

async fn batch_get_secret_value(
    backend: &Arc<Backend>,
    input: &serde_json::Map<String, Value>,
) -> Result<Answer, AwsFailure> {
    let ids = strings(input, "SecretIdList")?.unwrap_or_default();
    if ids.is_empty() || ids.len() > MAX_SECRET_IDS {
        return Err(AwsFailure::validation(
            "Value at 'secretIdList'",
            &format!("Member must have length between 1 and {MAX_SECRET_IDS}"),
        ));
    }
    if let Some(id) = ids.iter().find(|id| id.is_empty() || id.len() > 2048) {
        return Err(AwsFailure::new(
            400,
            "InvalidParameterException",
            format!(
                "a SecretId is 1 to 2048 characters; {} is not",
                crate::go::quote(id)
            ),
        ));
    }
    let (values, errors) = backend
        .sdk_secrets(&ids)
        .await
        .map_err(AwsFailure::from_failure)?;
    let mut body = BytesMut::with_capacity(64 + values.iter().map(Bytes::len).sum::<usize>());
    body.put_slice(b"{\"Errors\":");
    body.put_slice(Value::from(errors).to_string().as_bytes());
    body.put_slice(b",\"SecretValues\":[");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(value);
    }
    body.put_slice(b"]}");
    Ok(Answer {
        body: body.freeze(),
        served: None,
    })
}

async fn batch_get_item(
    backend: &Arc<Backend>,
    input: &serde_json::Map<String, Value>,
) -> Result<Answer, AwsFailure> {
    let Some(Value::Object(requested)) = input.get("RequestItems") else {
        return Err(AwsFailure::validation(
            "Value null at 'requestItems'",
            "Member must not be null",
        ));
    };
    let total: usize = requested
        .values()
        .map(|read| {
            read.get("Keys")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        })
        .sum();
    if total > MAX_BATCH_KEYS {
        return Err(AwsFailure::new(
            400,
            "ValidationException",
            "Too many items requested for the BatchGetItem call",
        ));
    }
    let mut tables = Vec::with_capacity(requested.len());
    for (table, read_json) in requested {
        let Value::Object(read_json) = read_json else {
            return Err(AwsFailure::serialization(
                "each RequestItems entry is {Keys, ...}",
            ));
        };
        let shape = ReadShape::parse(read_json)?;
        let Some(Value::Array(keys_json)) = read_json.get("Keys") else {
            return Err(AwsFailure::validation(
                &format!("Value null at 'requestItems.{table}.member.keys'"),
                "Member must not be null",
            ));
        };
        let mut keys = Vec::with_capacity(keys_json.len());
        for key_json in keys_json {
            let Value::Object(wire) = key_json else {
                return Err(AwsFailure::serialization(
                    "each key is a map of attribute values",
                ));
            };
            let key = parse_key(wire)?;
            keys.push(crate::backend::BatchKey {
                variant: shape.variant(wire),
                wire: wire.clone(),
                key,
            });
        }
        tables.push((table.clone(), shape.read, keys));
    }
    let (responses, unprocessed) = backend
        .sdk_items(tables)
        .await
        .map_err(AwsFailure::from_failure)?;
    let mut body = BytesMut::with_capacity(256);
    body.put_slice(b"{\"Responses\":{");
    for (i, (table, items)) in responses.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(Value::from(table.as_str()).to_string().as_bytes());
        body.put_slice(b":[");
        for (j, item) in items.iter().enumerate() {
            if j > 0 {
                body.put_u8(b',');
            }
            body.put_slice(item);
        }
        body.put_u8(b']');
    }
    body.put_slice(b"},\"UnprocessedKeys\":");
    let mut left = serde_json::Map::new();
    for (table, keys) in unprocessed {
        let mut read = requested
            .get(&table)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        read.insert(
            "Keys".to_owned(),
            Value::Array(keys.into_iter().map(Value::Object).collect()),
        );
        left.insert(table, Value::Object(read));
    }
    body.put_slice(Value::Object(left).to_string().as_bytes());
    body.put_u8(b'}');
    Ok(Answer {
        body: body.freeze(),
        served: None,
    })
}

/// What shapes a DynamoDB read's answer besides its key: GetItem's members, and each table's
/// entry of BatchGetItem.
struct ReadShape<'a> {
    read: crate::backend::TableRead,
    projection: Option<&'a Value>,
    names: Option<&'a Value>,
    attributes_to_get: Option<&'a Value>,
}

impl<'a> ReadShape<'a> {
    fn parse(input: &'a serde_json::Map<String, Value>) -> Result<Self, AwsFailure> {
        let projection = string(input, "ProjectionExpression")?.map(str::to_owned);
        let names = match input.get("ExpressionAttributeNames") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(
                map.iter()
                    .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect::<Option<HashMap<String, String>>>()
                    .ok_or_else(|| {
                        AwsFailure::serialization(
                            "ExpressionAttributeNames must map names to strings",
                        )
                    })?,
            ),
            Some(_) => {
                return Err(AwsFailure::serialization(
                    "ExpressionAttributeNames must map names to strings",
                ));
            }
        };
        let attributes_to_get = strings(input, "AttributesToGet")?;
        let consistent = boolean(input, "ConsistentRead")?;
        Ok(Self {
            read: crate::backend::TableRead {
                projection,
                names,
                attributes_to_get,
                consistent,
            },
            projection: input.get("ProjectionExpression"),
            names: input.get("ExpressionAttributeNames"),
            attributes_to_get: input.get("AttributesToGet"),
        })
    }

    /// The cache variant of reading `key` this way: canonical JSON (objects sort their
    /// members), the same for GetItem and for BatchGetItem.
    fn variant(&self, key: &serde_json::Map<String, Value>) -> String {
        serde_json::json!({
            "Key": key,
            "ProjectionExpression": self.projection,
            "ExpressionAttributeNames": self.names,
            "AttributesToGet": self.attributes_to_get,
            "ConsistentRead": self.read.consistent,
        })
        .to_string()
    }
}

/// A key's attribute values from their wire JSON.
fn parse_key(
    wire: &serde_json::Map<String, Value>,
) -> Result<HashMap<String, AttributeValue>, AwsFailure> {
    let mut key = HashMap::with_capacity(wire.len());
    for (name, value) in wire {
        let value = attribute_from_json(value).map_err(|why| {
            AwsFailure::serialization(format!("Key {}: {why}", crate::go::quote(name)))
        })?;
        key.insert(name.clone(), value);
    }
    Ok(key)
}

/// A DynamoDB attribute value from its wire JSON (`{"S": "a"}`, `{"N": "1"}`, ...).
fn attribute_from_json(value: &Value) -> Result<AttributeValue, String> {
    let Value::Object(map) = value else {
        return Err("an attribute value is an object of one type".to_owned());
    };
    let mut members = map.iter();
    let (Some((tag, inner)), None) = (members.next(), members.next()) else {
        return Err("an attribute value has exactly one type".to_owned());
    };
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .ok_or(format!("{tag} takes a string"))
    };
    let blob = |v: &Value| -> Result<aws_smithy_types::Blob, String> {
        let text = v.as_str().ok_or(format!("{tag} takes base64 text"))?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(aws_smithy_types::Blob::new)
            .map_err(|_| format!("{tag} is not base64"))
    };
    let list = |v: &Value| v.as_array().cloned().ok_or(format!("{tag} takes a list"));
    Ok(match tag.as_str() {
        "S" => AttributeValue::S(text(inner)?),
        "N" => AttributeValue::N(text(inner)?),
        "B" => AttributeValue::B(blob(inner)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or("BOOL takes a boolean")?),
        "NULL" => AttributeValue::Null(inner.as_bool().ok_or("NULL takes a boolean")?),
        "SS" => AttributeValue::Ss(list(inner)?.iter().map(text).collect::<Result<_, _>>()?),
        "NS" => AttributeValue::Ns(list(inner)?.iter().map(text).collect::<Result<_, _>>()?),
        "BS" => AttributeValue::Bs(list(inner)?.iter().map(blob).collect::<Result<_, _>>()?),
        "L" => AttributeValue::L(
            list(inner)?
                .iter()
                .map(attribute_from_json)
                .collect::<Result<_, _>>()?,
        ),
        "M" => {
            let Value::Object(members) = inner else {
                return Err("M takes a map".to_owned());
            };
            AttributeValue::M(
                members
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), attribute_from_json(v)?)))
                    .collect::<Result<_, String>>()?,
            )
        }
        other => {
            return Err(format!(
                "{} is not an attribute type",
                crate::go::quote(other)
            ));
        }
    })
}

/// An attribute value as DynamoDB's wire JSON.
fn attribute_json(value: &AttributeValue) -> Value {
    let b64 = |bytes: &[u8]| Value::from(base64::engine::general_purpose::STANDARD.encode(bytes));
    let (tag, inner) = match value {
        AttributeValue::S(s) => ("S", Value::from(s.as_str())),
        AttributeValue::N(n) => ("N", Value::from(n.as_str())),
        AttributeValue::B(b) => ("B", b64(b.as_ref())),
        AttributeValue::Bool(b) => ("BOOL", Value::from(*b)),
        AttributeValue::Null(b) => ("NULL", Value::from(*b)),
        AttributeValue::Ss(items) => ("SS", Value::from(items.clone())),
        AttributeValue::Ns(items) => ("NS", Value::from(items.clone())),
        AttributeValue::Bs(items) => (
            "BS",
            Value::Array(items.iter().map(|b| b64(b.as_ref())).collect()),
        ),
        AttributeValue::L(items) => (
            "L",
            Value::Array(items.iter().map(attribute_json).collect()),
        ),
        AttributeValue::M(map) => ("M", item_json(map)),
        // A type this SDK does not know yet: null rather than a wrong type.
        _ => ("NULL", Value::from(true)),
    };
    let mut object = serde_json::Map::with_capacity(1);
    object.insert(tag.to_owned(), inner);
    Value::Object(object)
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(name, value)| (name.clone(), attribute_json(value)))
            .collect(),
    )
}

/// GetItem's answer for an item that exists.
pub(crate) fn item_answer(item: &HashMap<String, AttributeValue>) -> Bytes {
    let mut answer = serde_json::Map::with_capacity(1);
    answer.insert("Item".to_owned(), item_json(item));
    Bytes::from(Value::Object(answer).to_string())
}

/// A request id in the services' form (a UUID): random per process, counted per request.
fn request_id() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    let low = hasher.finish();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        seed >> 32,
        (seed >> 16) & 0xffff,
        seed & 0xfff,
        0x8000 | (low >> 48) & 0x3fff,
        low & 0xffff_ffff_ffff
    )
}

fn response(service: Service, status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let crc = crc32fast::hash(&body);
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(service.content_type()),
    );
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        headers.insert("x-amzn-requestid", id);
    }
    if service == Service::DynamoDb {
        // DynamoDB's checksum of the body, which its SDKs verify where it is sent.
        headers.insert("x-amz-crc32", HeaderValue::from(crc));
    }
    response
}

fn success(service: Service, answer: Answer) -> Response<Full<Bytes>> {
    let mut response = response(service, StatusCode::OK, answer.body);
    if let Some((source, age)) = answer.served {
        let headers = response.headers_mut();
        headers.insert(SOURCE_HEADER, HeaderValue::from_static(source.as_str()));
        headers.insert(
            AGE_MS_HEADER,
            HeaderValue::from(u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
        );
    }
    response
}

fn failure(service: Service, aws: AwsFailure) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "__type": aws.code, "message": aws.message });
    let mut response = response(service, aws.status, Bytes::from(body.to_string()));
    if let Ok(code) = HeaderValue::from_str(&aws.code) {
        response.headers_mut().insert("x-amzn-errortype", code);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_read_and_write_every_type() {
        let wire = serde_json::json!({
            "M": {
                "s": {"S": "text"}, "n": {"N": "1.50"}, "b": {"B": "AAE="},
                "t": {"BOOL": true}, "z": {"NULL": true},
                "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": ["AAE="]},
                "l": {"L": [{"S": "x"}, {"N": "2"}]}
            }
        });
        let value = attribute_from_json(&wire).unwrap();
        assert_eq!(attribute_json(&value), wire);
        for (bad, says) in [
            (serde_json::json!({"S": 1}), "S takes a string"),
            (serde_json::json!({"S": "a", "N": "1"}), "exactly one type"),
            (serde_json::json!({"X": "a"}), "not an attribute type"),
            (serde_json::json!({"B": "***"}), "not base64"),
            (serde_json::json!("plain"), "object of one type"),
        ] {
            let why = attribute_from_json(&bad).unwrap_err();
            assert!(why.contains(says), "{bad}: {why}");
        }
    }

    #[test]
    fn targets_name_their_service_and_protocol() {
        assert_eq!(
            Service::from_target("AmazonSSM.GetParameter"),
            Some((Service::Ssm, "GetParameter"))
        );
        assert_eq!(
            Service::from_target("DynamoDB_20120810.GetItem").map(|(s, _)| s.content_type()),
            Some("application/x-amz-json-1.0")
        );
        assert_eq!(Service::from_target("AmazonS3.GetObject"), None);
        assert_eq!(Service::from_target(""), None);
    }

    #[test]
    fn request_ids_are_uuid_shaped_and_differ() {
        let (a, b) = (request_id(), request_id());
        assert_ne!(a, b);
        let lengths: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(lengths, [8, 4, 4, 4, 12], "{a}");
    }
}
