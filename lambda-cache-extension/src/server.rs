//! The loopback HTTP listeners: routing, the token, the limits, and real statuses.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use lambda_cache::Sensitive;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use crate::backend::{Backend, Failure, Served};
use crate::config::{Auth, InitError, profile_path};
use crate::go::{parse_bool, quote};
use crate::sdk::{AnswerBody, SdkAuth, boxed};
use lambda_cache::appconfig::variants::Context;

/// The token header, as the AWS Parameters and Secrets extension names it.
///
/// ```
/// assert_eq!(lambda_cache_extension::TOKEN_HEADER, "x-aws-parameters-secrets-token");
/// ```
pub const TOKEN_HEADER: &str = "x-aws-parameters-secrets-token";
/// Where an answer's value came from: `cache`, `backend` or `stale`.
///
/// ```
/// assert_eq!(lambda_cache_extension::SOURCE_HEADER, "x-lambda-cache-source");
/// ```
pub const SOURCE_HEADER: &str = "x-lambda-cache-source";
/// The age of an answer's value in milliseconds (`age` has it in whole seconds).
///
/// ```
/// assert_eq!(lambda_cache_extension::AGE_MS_HEADER, "x-lambda-cache-age-ms");
/// ```
pub const AGE_MS_HEADER: &str = "x-lambda-cache-age-ms";

/// Bytes of request line and headers a request may have (hyper's read buffer; past it, 431).
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Longest query string read (names are at most 2 KiB; ARNs and selectors fit).
const MAX_QUERY_BYTES: usize = 4096;
/// Time a connection has to send a request's headers, and that an idle one is kept.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once; one more closes the oldest.
const MAX_CONNECTIONS: usize = 256;

/// Binds `127.0.0.1:port`: loopback only, never another interface.
pub(crate) async fn bind(variable: &'static str, port: u16) -> Result<TcpListener, InitError> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .map_err(|e| InitError::Bind {
            variable,
            port,
            reason: e.to_string(),
        })
}

/// What every connection shares.
pub(crate) struct Server {
    backend: Arc<Backend>,
    /// The token every data route takes, and the SDK endpoint's SigV4 credentials.
    sdk: SdkAuth,
    auth: Auth,
    connections: Arc<Semaphore>,
    open: OpenConnections,
    counters: Counters,
}

/// The open connections, oldest first, each with the signal that closes it.
#[derive(Default)]
struct OpenConnections {
    inner: parking_lot::Mutex<Open>,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    signals: std::collections::BTreeMap<u64, Arc<Notify>>,
}

impl OpenConnections {
    fn add(&self) -> (u64, Arc<Notify>) {
        let mut open = self.inner.lock();
        let id = open.next_id;
        open.next_id += 1;
        let signal = Arc::new(Notify::new());
        open.signals.insert(id, Arc::clone(&signal));
        (id, signal)
    }

    fn remove(&self, id: u64) {
        self.inner.lock().signals.remove(&id);
    }

    /// Tells the oldest connection to close; it leaves the list at once, so that the next
    /// eviction picks another.
    fn evict_oldest(&self) {
        if let Some((_, signal)) = self.inner.lock().signals.pop_first() {
            // A stored permit: the connection closes even if it is not waiting yet.
            signal.notify_one();
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    refused_busy: AtomicU64,
    refused_token: AtomicU64,
    errors: AtomicU64,
    evicted: AtomicU64,
}

impl Server {
    pub(crate) fn new(
        backend: Arc<Backend>,
        token: Sensitive<String>,
        auth: Auth,
        credentials: Option<crate::sigv4::Credentials>,
    ) -> Self {
        Self {
            backend,
            sdk: SdkAuth { token, credentials },
            auth,
            connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            open: OpenConnections::default(),
            counters: Counters::default(),
        }
    }

    /// Accepts connections on `listener` until the process ends. When every connection slot
    /// is taken, the oldest connection is closed (after the request it may be serving) to make
    /// room: a client that opens connections and leaves them idle cannot keep the function
    /// waiting for the header timeout.
    pub(crate) fn spawn(self: &Arc<Self>, listener: TcpListener) {
        let server = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        crate::log(&format!("accept failed: {e}"));
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let permit = match Arc::clone(&server.connections).try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        server.open.evict_oldest();
                        server.counters.evicted.fetch_add(1, Ordering::Relaxed);
                        let Ok(permit) = Arc::clone(&server.connections).acquire_owned().await
                        else {
                            return;
                        };
                        permit
                    }
                };
                let _ = stream.set_nodelay(true);
                let server = Arc::clone(&server);
                tokio::spawn(async move {
                    let (id, evicted) = server.open.add();
                    let handler = Arc::clone(&server);
                    let service = service_fn(move |request| {
                        let server = Arc::clone(&handler);
                        async move { Ok::<_, Infallible>(server.handle(request).await) }
                    });
                    let connection = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .max_buf_size(MAX_HEAD_BYTES)
                        .serve_connection(TokioIo::new(stream), service);
                    let mut connection = std::pin::pin!(connection);
                    tokio::select! {
                        _ = connection.as_mut() => {}
                        () = evicted.notified() => {
                            connection.as_mut().graceful_shutdown();
                            let _ = connection.await;
                        }
                    }
                    server.open.remove(id);
                    drop(permit);
                });
            }
        });
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<AnswerBody> {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        // The AWS SDKs post to `/`; a relayed request still meets `route`'s refusal.
        let sdk = request.method() == Method::POST
            && request.uri().path() == "/"
            && !forwarded(request.headers());
        let appconfigdata = crate::sdk::is_appconfigdata(request.method(), request.uri().path())
            && !forwarded(request.headers());
        let response = if sdk {
            crate::sdk::answer(&self.backend, &self.sdk, request).await
        } else if appconfigdata {
            crate::sdk::appconfigdata_answer(&self.backend, &self.sdk, request).await
        } else {
            boxed(self.route(&request).await)
        };
        if !response.status().is_success() {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            self.counters.refused_busy.fetch_add(1, Ordering::Relaxed);
        }
        response
    }

    async fn route(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let headers = request.headers();
        if forwarded(headers) {
            return error(
                StatusCode::FORBIDDEN,
                "ForwardedRequestRefused",
                "a request relayed by a proxy (X-Forwarded-For) is refused: this extension serves only its own function",
            );
        }
        if request.method() != Method::GET {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                &format!(
                    "{} is not allowed: every route answers GET only, but the AWS SDK endpoint (POST /)",
                    request.method()
                ),
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            return response;
        }
        let path = request.uri().path();
        let route = match path {
            "/ping" => return text(StatusCode::OK, "healthy"),
            "/dynamodb" => Route::Item,
            "/systemsmanager/parameters/get" => Route::Parameter,
            "/secretsmanager/get" => Route::Secret,
            "/v1/stats" => Route::Stats,
            _ if path.starts_with("/applications/") => Route::Configuration,
            _ => {
                return error(
                    StatusCode::NOT_FOUND,
                    "UnknownRoute",
                    &format!(
                        "no route {}: try /dynamodb, /systemsmanager/parameters/get, /secretsmanager/get, /applications/{{app}}/environments/{{env}}/configurations/{{profile}}, /v1/stats or /ping",
                        quote(path)
                    ),
                );
            }
        };
        let open = matches!(route, Route::Item | Route::Configuration) && self.auth == Auth::Open;
        if !open {
            match headers.get(TOKEN_HEADER) {
                None => {
                    self.counters.refused_token.fetch_add(1, Ordering::Relaxed);
                    return error(
                        StatusCode::UNAUTHORIZED,
                        "MissingToken",
                        "send the header X-Aws-Parameters-Secrets-Token with the value of AWS_SESSION_TOKEN",
                    );
                }
                Some(given)
                    if !bool::from(given.as_bytes().ct_eq(self.sdk.token.expose().as_bytes())) =>
                {
                    self.counters.refused_token.fetch_add(1, Ordering::Relaxed);
                    return error(
                        StatusCode::FORBIDDEN,
                        "InvalidToken",
                        "X-Aws-Parameters-Secrets-Token is not this environment's token",
                    );
                }
                Some(_) => {}
            }
        }
        let query = request.uri().query().unwrap_or_default();
        let answer = match Query::parse(query, route.parameters()) {
            Err(failure) => Err(failure),
            Ok(q) => match route {
                Route::Stats => return self.stats(),
                Route::Item => match q.required("name") {
                    Ok(name) => self.backend.item(name, q.refresh).await,
                    Err(e) => Err(e),
                },
                Route::Parameter => self.parameter(&q).await,
                Route::Secret => self.secret(&q).await,
                Route::Configuration => self.configuration(path, &q, headers).await,
            },
        };
        match answer {
            Ok(served) => value(served),
            Err(failure) => {
                let (status, code) = failure.status_and_code();
                let mut response = error(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                    code,
                    &failure.to_string(),
                );
                if failure.is_remembered() {
                    response
                        .headers_mut()
                        .insert(SOURCE_HEADER, HeaderValue::from_static("cache"));
                }
                response
            }
        }
    }

    async fn parameter(&self, q: &Query) -> Result<Served, Failure> {
        let name = q.required("name")?;
        let full;
        let name = match (q.get("version"), q.get("label")) {
            (Some(_), Some(_)) => {
                return Err(Failure::bad("version", "give version or label, not both"));
            }
            (Some(version), None) => {
                if version.parse::<u64>().is_err() {
                    return Err(Failure::bad(
                        "version",
                        format!("{} is not a version number", quote(version)),
                    ));
                }
                full = format!("{name}:{version}");
                full.as_str()
            }
            (None, Some(label)) => {
                full = format!("{name}:{label}");
                full.as_str()
            }
            (None, None) => name,
        };
        let decrypt = q.flag("withDecryption")?;
        self.backend.parameter(name, decrypt, q.refresh).await
    }

    async fn secret(&self, q: &Query) -> Result<Served, Failure> {
        let id = q.required("secretId")?;
        let (version_id, stage) = (q.get("versionId"), q.get("versionStage"));
        if version_id.is_some() && stage.is_some() {
            return Err(Failure::bad(
                "versionId",
                "give versionId or versionStage, not both",
            ));
        }
        self.backend.secret(id, version_id, stage, q.refresh).await
    }

    async fn configuration(
        &self,
        path: &str,
        q: &Query,
        headers: &hyper::HeaderMap,
    ) -> Result<Served, Failure> {
        let profile = profile_path(path)
            .map_err(|reason| Failure::bad("path", format!("{}: {reason}", quote(path))))?;
        let flags: Vec<&str> = q.all("flag").collect();
        if flags.iter().any(|flag| flag.is_empty()) {
            return Err(Failure::bad("flag", "empty: name a feature flag"));
        }
        // The AWS AppConfig agent's Context header: key=value, repeated or comma-separated.
        let mut context = Context::new();
        for value in headers.get_all("context") {
            let text = value
                .to_str()
                .map_err(|_| Failure::bad("Context", "not visible ASCII"))?;
            context
                .add_header(text)
                .map_err(|e| Failure::bad("Context", e.to_string()))?;
        }
        if flags.is_empty() {
            self.backend.configuration(&profile, &context).await
        } else {
            self.backend.flags(&profile, &flags, &context).await
        }
    }

    fn stats(&self) -> Response<Full<Bytes>> {
        let cache = self.backend.cache();
        let stats = cache.stats();
        let c = &self.counters;
        let body = serde_json::json!({
            "cache": {
                "entries": cache.len(),
                "bytes": cache.weight(),
                "hits": stats.hits,
                "misses": stats.misses,
                "fetches": stats.fetches,
                "errors": stats.errors,
                "notModified": stats.not_modified,
                "staleServed": stats.stale_served,
                "evictions": stats.evictions,
                "negativeHits": self.backend.metrics().negative_hits(),
            },
            "sharedTier": {
                "hits": stats.shared_hits,
                "waits": stats.shared_waits,
                "errors": stats.shared_errors,
            },
            "routes": self.backend.metrics().json(),
            "sdk": self.backend.metrics().sdk_json(),
            "requests": {
                "total": c.requests.load(Ordering::Relaxed),
                "notOk": c.errors.load(Ordering::Relaxed),
                "refusedBusy": c.refused_busy.load(Ordering::Relaxed),
                "refusedToken": c.refused_token.load(Ordering::Relaxed),
            },
            "connections": {
                "open": MAX_CONNECTIONS - self.connections.available_permits(),
                "evicted": c.evicted.load(Ordering::Relaxed),
            },
        });
        json(StatusCode::OK, body.to_string().into())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Item,
    Parameter,
    Secret,
    Configuration,
    Stats,
}

impl Route {
    fn parameters(self) -> &'static [&'static str] {
        match self {
            Self::Item => &["name", "refreshNow"],
            Self::Parameter => &["name", "version", "label", "withDecryption", "refreshNow"],
            Self::Secret => &["secretId", "versionId", "versionStage", "refreshNow"],
            // As the AWS AppConfig extension: `?flag=a` for one flag, `&flag=b` for more. No
            // refreshNow: AppConfig's poll interval is never beaten.
            Self::Configuration => &["flag"],
            Self::Stats => &[],
        }
    }
}

/// A query string, decoded: names may come percent-encoded or not (`/app/db`, ARNs with `:`);
/// `+` stays `+` (valid in secret names). Unknown parameters are refused, and repeated ones
/// but `flag`.
struct Query {
    pairs: Vec<(&'static str, String)>,
    refresh: bool,
}

impl Query {
    fn parse(raw: &str, allowed: &'static [&'static str]) -> Result<Self, Failure> {
        if raw.len() > MAX_QUERY_BYTES {
            return Err(Failure::bad(
                "query",
                format!(
                    "{} bytes is longer than the {MAX_QUERY_BYTES} a query may have",
                    raw.len()
                ),
            ));
        }
        let mut pairs: Vec<(&'static str, String)> = Vec::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let name = decode("query", name)?;
            let Some(&known) = allowed.iter().find(|a| **a == name) else {
                return Err(Failure::bad(
                    "query",
                    format!(
                        "unknown parameter {}: this route takes {}",
                        quote(&name),
                        if allowed.is_empty() {
                            "none".to_owned()
                        } else {
                            allowed.join(", ")
                        }
                    ),
                ));
            };
            if known != "flag" && pairs.iter().any(|(n, _)| *n == known) {
                return Err(Failure::bad(known, "given more than once"));
            }
            pairs.push((known, decode(known, value)?));
        }
        let mut query = Self {
            pairs,
            refresh: false,
        };
        query.refresh = query.flag("refreshNow")?;
        Ok(query)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all<'q>(&'q self, name: &'q str) -> impl Iterator<Item = &'q str> + 'q {
        self.pairs
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &'static str) -> Result<&str, Failure> {
        match self.get(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(Failure::bad(name, "missing: this route needs it")),
        }
    }

    fn flag(&self, name: &'static str) -> Result<bool, Failure> {
        match self.get(name) {
            None => Ok(false),
            Some(text) => parse_bool(text).map_err(|e| Failure::bad(name, e.to_string())),
        }
    }
}

/// True for a request a proxy relayed.
fn forwarded(headers: &hyper::HeaderMap) -> bool {
    headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded")
}

fn decode(parameter: &'static str, text: &str) -> Result<String, Failure> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Failure::bad(parameter, "not UTF-8 once percent-decoded"))
}

fn value(served: Served) -> Response<Full<Bytes>> {
    let mut response = json(StatusCode::OK, served.body);
    let headers = response.headers_mut();
    if let Some(content_type) = served
        .content_type
        .and_then(|t| HeaderValue::from_str(&t).ok())
    {
        headers.insert(CONTENT_TYPE, content_type);
    }
    headers.insert(
        SOURCE_HEADER,
        HeaderValue::from_static(served.source.as_str()),
    );
    headers.insert("age", HeaderValue::from(served.age.as_secs()));
    headers.insert(
        AGE_MS_HEADER,
        HeaderValue::from(u64::try_from(served.age.as_millis()).unwrap_or(u64::MAX)),
    );
    response
}

/// Seconds a client told 429 should wait before it asks again: the in-flight limit frees as
/// soon as one backend call ends, which the backend timeout bounds.
const RETRY_AFTER_SECONDS: u64 = 1;

/// An error answer as the AWS services and AWS's extensions give one: the JSON body's `__type`
/// repeated in `X-Amzn-Errortype` (which the SDKs read first), and `Retry-After` on a 429.
fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "__type": code, "message": message });
    let mut response = json(status, body.to_string().into());
    let headers = response.headers_mut();
    // Codes are ASCII names (ours, or an AWS service's); one that is not a valid header value
    // is left to the body.
    if let Ok(value) = HeaderValue::from_str(code) {
        headers.insert("x-amzn-errortype", value);
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        headers.insert(
            hyper::header::RETRY_AFTER,
            HeaderValue::from(RETRY_AFTER_SECONDS),
        );
    }
    response
}

fn json(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_both_ways_and_refuse_what_they_do_not_know() {
        let allowed = Route::Parameter.parameters();
        let plain = Query::parse("name=/app/db/host&withDecryption=true", allowed).unwrap();
        let encoded = Query::parse("name=%2Fapp%2Fdb%2Fhost&withDecryption=true", allowed).unwrap();
        assert_eq!(plain.get("name"), Some("/app/db/host"));
        assert_eq!(encoded.get("name"), plain.get("name"));
        let arn = Query::parse(
            "name=arn:aws:ssm:us-east-1:123456789012:parameter/a",
            allowed,
        )
        .unwrap();
        assert_eq!(
            arn.get("name"),
            Some("arn:aws:ssm:us-east-1:123456789012:parameter/a")
        );
        let secret = Query::parse("secretId=a+b=c", Route::Secret.parameters()).unwrap();
        assert_eq!(secret.get("secretId"), Some("a+b=c"));
        assert!(
            Query::parse("name=a&refreshNow=true", allowed)
                .unwrap()
                .refresh
        );
        for (raw, parameter) in [
            ("nam=a", "query"),
            ("name=a&name=b", "name"),
            ("name=a&refreshNow=yes", "refreshNow"),
            ("name=%FF", "name"),
        ] {
            match Query::parse(raw, allowed) {
                Err(Failure::BadRequest { parameter: p, .. }) => assert_eq!(p, parameter, "{raw}"),
                other => panic!("{raw}: {:?}", other.map(|q| q.pairs)),
            }
        }
        let long = format!("name={}", "a".repeat(MAX_QUERY_BYTES));
        assert!(Query::parse(&long, allowed).is_err());
    }

    proptest::proptest! {
        #![proptest_config(lambda_cache_testkit::parser_cases())]

        /// Any query string: read, or refused with a short message naming a parameter.
        #[test]
        fn any_query_is_read_or_refused_naming_its_parameter(
            raw in proptest::prop_oneof![
                lambda_cache_testkit::any_text(),
                "((name|secretId|version|label|withDecryption|refreshNow|versionId|versionStage|x)=[a-zA-Z0-9%/:+=.~ -]{0,12}&?){0,5}",
            ]
        ) {
            for route in [Route::Item, Route::Parameter, Route::Secret] {
                let allowed = route.parameters();
                match Query::parse(&raw, allowed) {
                    Ok(query) => {
                        for name in allowed {
                            let _ = query.get(name);
                        }
                    }
                    Err(Failure::BadRequest { parameter, message }) => {
                        proptest::prop_assert!(
                            parameter == "query" || allowed.contains(&parameter) || raw.contains(parameter),
                            "{parameter}"
                        );
                        proptest::prop_assert!(message.len() < 600, "a {} byte message", message.len());
                    }
                    Err(other) => proptest::prop_assert!(false, "{:?}", other),
                }
            }
        }
    }
}
