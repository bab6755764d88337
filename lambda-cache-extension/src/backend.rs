//! The one path every route takes: a key, a max age, and a fetch that renders the answer's
//! body. The cache holds rendered bodies, so a hit is a reference count and a copy of headers.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeyType as SchemaKeyType, ScalarAttributeType};
use aws_smithy_types::date_time::Format;
use base64::Engine as _;
use bytes::Bytes;
use lambda_cache::appconfig::variants::{Context, FlagRules, VariantError};
use lambda_cache::appconfig::{self, AppConfigCache, Profile};
use lambda_cache::dynamodb::{KeyValue, fetch};
use lambda_cache::ssm::AwsError;
use lambda_cache::{Cache, CacheError, Entry, Fetched, Instant, Key, Policy, Validator};
use tokio::sync::Semaphore;

mod sdk_reads;

pub(crate) use sdk_reads::{BatchKey, ItemRequest, TableRead};

use crate::config::{CacheFile, InitError, KeyAttribute, KeyType, Settings, TableConfig};
use crate::go::quote;
use crate::metrics::{Metrics, Route};

/// Bytes the cache may hold in all: rendered bodies are small, a runaway one is refused.
const MAX_BYTES: u64 = 64 << 20;
/// How long a table's key schema (DescribeTable) is kept.
const SCHEMA_TTL: Duration = Duration::from_secs(3600);

/// A rendered answer, as cached.
pub(crate) struct Body(pub(crate) Bytes);

/// How a route's answers travel through a shared tier: a secret's always says it is secret, a
/// parameter's does when it holds a decrypted SecureString; they go to the tier only when
/// `CACHE_EXTENSION_SHARED_TIER_SECRETS` allows.
fn body_codec(route: Route) -> lambda_cache::redis::Codec<Body> {
    fn encode(body: &Body, out: &mut Vec<u8>) {
        out.extend_from_slice(&body.0);
    }
    fn decode(bytes: &[u8]) -> Option<Body> {
        Some(Body(Bytes::copy_from_slice(bytes)))
    }
    let (tag, is_secret): (&'static str, fn(&Body) -> bool) = match route {
        Route::Secrets => ("extension.secrets/1", |_| true),
        Route::Ssm => ("extension.ssm/1", |body| {
            body.0.windows(12).any(|w| w == b"SecureString")
        }),
        Route::DynamoDb => ("extension.dynamodb/1", |_| false),
        // AppConfig's sessions belong to one environment: never shared (its reads do not come
        // here), and marked secret should one ever come.
        Route::AppConfig => ("extension.appconfig/1", |_| true),
    };
    lambda_cache::redis::Codec {
        tag,
        encode,
        decode,
        is_secret,
    }
}

/// Where an answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// From memory, within its max age.
    Cache,
    /// Fetched for this request (or by a fetch it joined).
    Backend,
    /// Past its max age, served because the backend failed.
    Stale,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Cache => "cache",
            Self::Backend => "backend",
            Self::Stale => "stale",
        }
    }
}

/// An answer with a value.
pub(crate) struct Served {
    pub(crate) body: Bytes,
    /// The body's content type if not JSON (an AppConfig profile's own).
    pub(crate) content_type: Option<String>,
    pub(crate) source: Source,
    pub(crate) age: Duration,
}

/// Why a request got no value: each maps to one HTTP status and an error code.
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    /// 400: the request is malformed; names the query parameter.
    BadRequest {
        parameter: &'static str,
        message: String,
    },
    /// 404: the item, parameter, secret or table does not exist.
    NotFound { code: String, message: String },
    /// 502: the backend failed.
    Backend(AwsError),
    /// 504: the backend did not answer in time.
    Timeout(String),
    /// 429: as many requests as allowed already wait on the backend.
    Busy,
    /// A not-found, access-denied or invalid-request answer the backend gave within the
    /// negative TTL, answered again from memory with the same status and body.
    Remembered(Box<Failure>),
}

impl Failure {
    pub(crate) fn bad(parameter: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            parameter,
            message: message.into(),
        }
    }

    /// The HTTP status and the `__type` of the error body.
    pub(crate) fn status_and_code(&self) -> (u16, &str) {
        match self {
            Self::BadRequest { .. } => (400, "BadRequest"),
            Self::NotFound { code, .. } => (404, code),
            Self::Backend(e) if e.code.is_empty() => (502, "BackendUnavailable"),
            Self::Backend(e) => (502, &e.code),
            Self::Timeout(_) => (504, "BackendTimeout"),
            Self::Busy => (429, "TooManyRequests"),
            Self::Remembered(failure) => failure.status_and_code(),
        }
    }

    /// True for an answer the backend would give again at once: not found, access denied, an
    /// invalid request. Throttling, 5xx and timeouts are never remembered.
    fn is_lasting(&self) -> bool {
        use lambda_cache::ssm::Kind;
        match self {
            Self::NotFound { .. } => true,
            Self::Backend(e) => matches!(e.kind, Kind::AccessDenied | Kind::InvalidInput),
            Self::BadRequest { .. } | Self::Timeout(_) | Self::Busy | Self::Remembered(_) => false,
        }
    }

    /// True when this answer came from memory (the negative cache).
    pub(crate) fn is_remembered(&self) -> bool {
        matches!(self, Self::Remembered(_))
    }

    /// An SDK failure: a timeout, a missing resource, or any other backend failure.
    fn from_sdk<E>(
        err: aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    ) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    {
        use aws_smithy_runtime_api::client::result::SdkError;
        let timed_out = match &err {
            SdkError::TimeoutError(_) => true,
            SdkError::DispatchFailure(failure) => failure.is_timeout(),
            _ => false,
        };
        if timed_out {
            return Self::Timeout(lambda_cache::error_chain(&err));
        }
        let err = AwsError::from_sdk(err);
        match err.kind {
            lambda_cache::ssm::Kind::NotFound => Self::NotFound {
                code: err.code.clone(),
                message: err.message,
            },
            _ => Self::Backend(err),
        }
    }
}

impl Failure {
    /// An AppConfig read's failure, in the statuses every route uses.
    fn from_appconfig(err: appconfig::Error) -> Self {
        use appconfig::Error as E;
        match err {
            E::InvalidProfile { .. } => Self::bad("path", err.to_string()),
            E::NotFound { .. } => Self::NotFound {
                code: "ResourceNotFoundException".to_owned(),
                message: err.to_string(),
            },
            E::Decode { .. } => Self::bad("flag", err.to_string()),
            E::Throttled { .. } => Self::Backend(AwsError::from_code(
                "ThrottlingException",
                &err.to_string(),
                Some(429),
            )),
            E::AccessDenied { .. } => Self::Backend(AwsError::from_code(
                "AccessDeniedException",
                &err.to_string(),
                Some(403),
            )),
            E::Service { failure, .. } => Self::Backend(failure),
            other => Self::Backend(AwsError::from_code(
                "BackendUnavailable",
                &other.to_string(),
                None,
            )),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRequest { parameter, message } => write!(f, "{parameter}: {message}"),
            Self::NotFound { message, .. } => f.write_str(message),
            Self::Backend(e) => write!(f, "the backend failed: {e}"),
            Self::Timeout(message) => write!(f, "the backend did not answer in time: {message}"),
            Self::Busy => f.write_str("too many requests wait on the backend: retry shortly"),
            Self::Remembered(failure) => failure.fmt(f),
        }
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// True for "no such parameter, secret or item", remembered or not.
    pub(crate) fn is_not_found(&self) -> bool {
        match self {
            Self::NotFound { .. } => true,
            Self::Remembered(failure) => failure.is_not_found(),
            _ => false,
        }
    }
}

impl CacheError for Failure {
    fn is_transient(&self) -> bool {
        match self {
            Self::Backend(e) => e.kind.is_transient(),
            Self::Timeout(_) | Self::Busy => true,
            Self::BadRequest { .. } | Self::NotFound { .. } | Self::Remembered(_) => false,
        }
    }

    fn not_modified_without_value(key: lambda_cache::Key<'_>) -> Self {
        Self::Backend(AwsError::from_code(
            "NotModified",
            &format!(
                "{} {}: 304 Not Modified to a read that sent no validator",
                key.service(),
                lambda_cache::shown(key.name())
            ),
            Some(304),
        ))
    }
}

/// A lasting failure, held for the negative TTL under the key of what it failed to read.
struct Negative(Failure);

/// A table's key attributes.
#[derive(Clone, Debug)]
struct Schema {
    hash: KeyAttribute,
    sort: Option<KeyAttribute>,
}

/// What the reads before the first event have done so far, kept outside their futures so that
/// a budget that cuts them short can still say what was read.
#[derive(Debug, Default)]
pub(crate) struct Warmup {
    /// Parameters and secrets read.
    pub(crate) named: AtomicUsize,
    /// Table items stored.
    pub(crate) items: AtomicUsize,
    /// AppConfig profiles read.
    pub(crate) profiles: AtomicUsize,
}

/// The clients, the cache and what the configuration says about each service.
pub(crate) struct Backend {
    cache: Cache,
    ssm: aws_sdk_ssm::Client,
    secrets: aws_sdk_secretsmanager::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    appconfig: AppConfigCache,
    file: CacheFile,
    ttl: Duration,
    ssm_ttl: Duration,
    secrets_ttl: Duration,
    appconfig_ttl: Duration,
    max_stale: Duration,
    /// How long a lasting failure is remembered (never longer than the route's TTL).
    negative_ttl: Duration,
    /// What each route did, for `/v1/stats` and the EMF lines.
    metrics: Metrics,
    /// Ask DescribeSecret before reading a secret again by stage.
    revalidate_secrets: bool,
    /// Refresh ahead from this share of the TTL (`None`: off).
    refresh_ahead: Option<f64>,
    /// How long past its TTL a value is answered while one refresh runs.
    while_revalidate: Duration,
    /// Set once DescribeSecret was refused: then only GetSecretValue is called.
    describe_denied: AtomicBool,
    caching: bool,
    /// Entries the cache holds at most: the preload stops there rather than evict.
    capacity: usize,
    /// Requests that may wait on the backend at once; a hit never takes a place.
    in_flight: Semaphore,
    /// Secrets, and parameters read decrypted, go to the shared tier too.
    share_secrets: bool,
    /// Where the SDK endpoint's other operations go.
    upstream: crate::passthrough::Upstream,
}

const SSM: &str = "extension/ssm";
const SECRETS: &str = "extension/secrets";
const SECRETS_BY_ID: &str = "extension/secrets#version-id";
const DYNAMODB: &str = "extension/dynamodb";
const SCHEMA: &str = "extension/dynamodb#schema";
/// The key of a profile's remembered failure (its content is the library's own entry).
const APPCONFIG: &str = "extension/appconfig";

impl Backend {
    pub(crate) fn new(
        settings: &Settings,
        file: CacheFile,
        sdk: &aws_config::SdkConfig,
        account: Option<&str>,
    ) -> Result<Self, InitError> {
        // The settings never give 0 entries (0 turns caching off instead), so this holds; a
        // future setting that breaks it is an init error naming the variable, not a panic.
        let mut cache = Cache::builder()
            .capacity(settings.capacity.unwrap_or(1000))
            .max_bytes(MAX_BYTES)
            // A background refresh is one backend call: bounded as a request's is.
            .refresh_timeout(settings.backend_timeout);
        if let Some(tier) = &settings.shared_tier {
            cache = cache.shared_tier(crate::tier::build(
                tier,
                sdk,
                settings.backend_timeout,
                account,
            )?);
        }
        let cache = cache.build().map_err(|e| InitError::Variable {
            name: "PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE",
            value: settings.capacity.unwrap_or(1000).to_string(),
            reason: e.to_string(),
        })?;
        // No loop: an endpoint variable pointing at this extension is ignored for its own calls.
        let ports: Vec<u16> = [
            settings.cache_port,
            settings.aws_port,
            settings.appconfig_port,
        ]
        .into_iter()
        .flatten()
        .collect();
        let ignored = crate::endpoints::ignored_here(&ports);
        let endpoint = |variable: &str| {
            crate::endpoints::replacement(variable, crate::endpoints::environment, &ignored, sdk)
        };
        let ssm = match endpoint("AWS_ENDPOINT_URL_SSM") {
            None => aws_sdk_ssm::Client::new(sdk),
            Some(url) => {
                let mut config = aws_sdk_ssm::config::Builder::from(sdk);
                config.set_endpoint_url(url);
                aws_sdk_ssm::Client::from_conf(config.build())
            }
        };
        let secrets = match endpoint("AWS_ENDPOINT_URL_SECRETS_MANAGER") {
            None => aws_sdk_secretsmanager::Client::new(sdk),
            Some(url) => {
                let mut config = aws_sdk_secretsmanager::config::Builder::from(sdk);
                config.set_endpoint_url(url);
                aws_sdk_secretsmanager::Client::from_conf(config.build())
            }
        };
        let dynamodb = match endpoint("AWS_ENDPOINT_URL_DYNAMODB") {
            None => aws_sdk_dynamodb::Client::new(sdk),
            Some(url) => {
                let mut config = aws_sdk_dynamodb::config::Builder::from(sdk);
                config.set_endpoint_url(url);
                aws_sdk_dynamodb::Client::from_conf(config.build())
            }
        };
        let appconfig = match endpoint("AWS_ENDPOINT_URL_APPCONFIGDATA") {
            None => AppConfigCache::from_config(cache.clone(), sdk),
            Some(url) => {
                let mut config = aws_sdk_appconfigdata::config::Builder::from(sdk);
                config.set_endpoint_url(url);
                AppConfigCache::new(
                    cache.clone(),
                    aws_sdk_appconfigdata::Client::from_conf(config.build()),
                )
            }
        };
        let upstream = crate::passthrough::Upstream::new(sdk, &ignored, settings.backend_timeout);
        Ok(Self {
            upstream,
            appconfig,
            cache,
            ssm,
            secrets,
            dynamodb,
            file,
            ttl: settings.ttl,
            ssm_ttl: settings.ssm_ttl,
            secrets_ttl: settings.secrets_ttl,
            appconfig_ttl: settings.appconfig_ttl,
            max_stale: settings.max_stale,
            negative_ttl: settings.negative_ttl,
            metrics: Metrics::new(settings.metrics.clone(), lambda_cache::Clock::real()),
            revalidate_secrets: settings.revalidate_secrets,
            refresh_ahead: settings.refresh_ahead,
            while_revalidate: settings.stale_while_revalidate,
            describe_denied: AtomicBool::new(false),
            caching: settings.capacity.is_some(),
            capacity: settings.capacity.unwrap_or(1000),
            in_flight: Semaphore::new(settings.max_in_flight),
            share_secrets: settings
                .shared_tier
                .as_ref()
                .is_some_and(|tier| tier.share_secrets),
        })
    }

    pub(crate) fn cache(&self) -> &Cache {
        &self.cache
    }

    pub(crate) fn file(&self) -> &CacheFile {
        &self.file
    }

    /// Where the SDK endpoint's other operations go.
    pub(crate) fn upstream(&self) -> &crate::passthrough::Upstream {
        &self.upstream
    }

    fn policy(&self, ttl: Duration, refresh: bool) -> Policy {
        let max_age = if refresh || !self.caching {
            Duration::ZERO
        } else {
            ttl
        };
        let mut policy = Policy::new(max_age);
        if self.caching && !refresh {
            policy = policy.stale_while_revalidate(self.while_revalidate);
            if let Some(fraction) = self.refresh_ahead {
                // Checked where the variable was read.
                policy = policy.refresh_ahead(fraction).unwrap_or(policy);
            }
        }
        // Caching off serves nothing stale: nothing is held past its answer.
        if self.max_stale.is_zero() || !self.caching {
            policy.no_stale()
        } else {
            // The core bounds a stale value by its age since its fetch; the extension's
            // setting is how far past its TTL it may be served, so the bound is their sum.
            policy.stale_if_error(ttl.saturating_add(self.max_stale))
        }
    }

    /// The generic path: from memory within `ttl` (unless `refresh`), else fetched once for
    /// all concurrent askers; a failed fetch of something held serves it stale, within bounds.
    /// Past the refresh-ahead share of `ttl`, or within the stale-while-revalidate window past
    /// it, the value held is answered at once while one refresh runs in the background. The
    /// fetch owns what it reads with (it may outlive the request), and takes a place among the
    /// requests waiting on the backend only when it calls it.
    async fn serve<F, Fut>(
        self: &Arc<Self>,
        route: Route,
        key: Key<'_>,
        ttl: Duration,
        refresh: bool,
        fetch: F,
    ) -> Result<Served, Failure>
    where
        F: FnOnce(Arc<Self>, Option<Entry<Body>>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Fetched<Body>, Failure>> + Send + 'static,
    {
        let asked = self.cache.clock().now();
        let policy = self.policy(ttl, refresh);
        let quiet = policy.refresh_ahead_after().unwrap_or(policy.max_age());
        if let Some(entry) = self.cache.get_fresh::<Body>(key, quiet) {
            self.metrics.hit(route);
            return Ok(self.served(&entry, asked, policy, entry.value().0.clone(), None));
        }
        let backend = Arc::clone(self);
        // Through the shared tier, if there is one: a value there younger than the share of
        // the TTL after which this extension would refresh ahead is the answer.
        let mut tier_policy = Policy::new(if policy.max_age().is_zero() {
            Duration::ZERO
        } else {
            quiet
        });
        if self.share_secrets {
            tier_policy = tier_policy.share_secrets();
        }
        let (service, name, variant) = (
            key.service(),
            key.name().to_owned(),
            key.variant_str().to_owned(),
        );
        let fetch = move |previous: Option<Entry<Body>>| async move {
            let _place = backend.waiting()?;
            let key = Key::new(service, &name).variant(&variant);
            let call = |previous| backend.timed(route, fetch(Arc::clone(&backend), previous));
            backend
                .cache
                .fetch_through_tier_with(key, tier_policy, body_codec(route), previous, call)
                .await
        };
        let entry = self
            .remembering(route, key, ttl, refresh, async {
                let entry = self.cache.get_or_refresh(key, policy, fetch).await;
                if !self.caching {
                    // Concurrent identical requests still shared the one fetch; the value is
                    // dropped once answered.
                    self.cache.invalidate(key);
                }
                if entry.is_err() {
                    self.metrics.miss(route);
                }
                entry
            })
            .await?;
        // How the answer came, told by its age (nothing younger than `quiet` was held when
        // asked): fetched for this request or by a fetch it joined (a miss), held within the
        // TTL (a hit past the refresh-ahead share), held within the stale-while-revalidate
        // window, or held past it (a failed refresh answered stale).
        let age = asked.saturating_duration_since(entry.fetched_at());
        let window = policy.max_age().saturating_add(policy.while_revalidate());
        if entry.fetched_at() >= asked || age < quiet {
            self.metrics.miss(route);
        } else if age < policy.max_age() {
            self.metrics.hit(route);
            self.metrics.refreshed_ahead(route);
        } else if age <= window && !policy.while_revalidate().is_zero() {
            self.metrics.served_while_revalidating(route);
        } else {
            self.metrics.miss(route);
            self.metrics.stale(route);
        }
        Ok(self.served(&entry, asked, policy, entry.value().0.clone(), None))
    }

    /// `call`, counted as one backend call of `route` with its latency.
    async fn timed<T>(
        &self,
        route: Route,
        call: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        let started = self.cache.clock().now();
        let outcome = call.await;
        let took = self.cache.clock().now().saturating_duration_since(started);
        self.metrics.call(route, took, outcome.is_err());
        outcome
    }

    /// What each route did.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Writes the metrics' EMF lines if a minute has passed since the last (or `now`, at
    /// SHUTDOWN).
    pub(crate) fn report_metrics(&self, now: bool) {
        self.metrics
            .report(self.cache.stats(), self.cache.len(), now);
    }

    /// The negative TTL for a route of `ttl`: the setting, never longer than the route's TTL,
    /// and zero when caching is off.
    fn negative_ttl(&self, ttl: Duration) -> Duration {
        if self.caching {
            self.negative_ttl.min(ttl)
        } else {
            Duration::ZERO
        }
    }

    /// `read` unless a lasting failure under `key` is remembered (then that, from memory); a
    /// lasting failure of `read` is remembered for the negative TTL. `refresh` skips the
    /// remembered failure.
    async fn remembering<T>(
        &self,
        route: Route,
        key: Key<'_>,
        ttl: Duration,
        refresh: bool,
        read: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        let negative_ttl = self.negative_ttl(ttl);
        if negative_ttl.is_zero() {
            return read.await;
        }
        if !refresh && let Some(known) = self.cache.get_fresh::<Negative>(key, negative_ttl) {
            self.metrics.negative_hit(route);
            return Err(Failure::Remembered(Box::new(known.value().0.clone())));
        }
        let outcome = read.await;
        if let Err(failure) = &outcome
            && failure.is_lasting()
        {
            let weight = failure.to_string().len() as u64;
            self.cache
                .insert(key, Negative(failure.clone()), Validator::default(), weight);
        }
        outcome
    }

    /// False when caching is off (`…_CACHE_ENABLED=false` or `…_CACHE_SIZE=0`).
    pub(crate) fn caching(&self) -> bool {
        self.caching
    }

    /// A place among the requests that may wait on the backend, or [`Failure::Busy`].
    pub(crate) fn waiting(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Failure> {
        self.in_flight.try_acquire().map_err(|_| Failure::Busy)
    }

    /// An answer of `body` from `entry`, asked for at `asked`: where it came from and its age.
    fn served<V>(
        &self,
        entry: &Entry<V>,
        asked: Instant,
        policy: Policy,
        body: Bytes,
        content_type: Option<String>,
    ) -> Served {
        let age = self
            .cache
            .clock()
            .now()
            .saturating_duration_since(entry.fetched_at());
        let source = if entry.fetched_at() >= asked {
            Source::Backend
        } else if age > policy.max_age() {
            Source::Stale
        } else {
            Source::Cache
        };
        Served {
            body,
            content_type,
            source,
            age,
        }
    }

    /// One read through the library's `AppConfigCache`, which decides whether to poll: it
    /// takes a place among the waiting requests, and a lasting failure is remembered. Counted
    /// as a hit when the answer was held before the read, else as a miss and one backend call.
    async fn appconfig_read<T, Fut>(
        &self,
        profile: &Profile,
        policy: Policy,
        read: impl FnOnce() -> Fut,
    ) -> Result<Entry<T>, Failure>
    where
        Fut: Future<Output = Result<Entry<T>, appconfig::Error>>,
    {
        let named = profile.to_string();
        let key = Key::new(APPCONFIG, &named);
        let read = async {
            let asked = self.cache.clock().now();
            let Ok(_place) = self.waiting() else {
                self.metrics.miss(Route::AppConfig);
                return Err(Failure::Busy);
            };
            let outcome = read().await.map_err(Failure::from_appconfig);
            let now = self.cache.clock().now();
            let took = now.saturating_duration_since(asked);
            match &outcome {
                Ok(entry) if entry.fetched_at() >= asked => {
                    self.metrics.miss(Route::AppConfig);
                    self.metrics.call(Route::AppConfig, took, false);
                }
                Ok(entry)
                    if now.saturating_duration_since(entry.fetched_at()) > policy.max_age() =>
                {
                    self.metrics.miss(Route::AppConfig);
                    self.metrics.stale(Route::AppConfig);
                    self.metrics.call(Route::AppConfig, took, true);
                }
                Ok(_) => self.metrics.hit(Route::AppConfig),
                Err(_) => {
                    self.metrics.miss(Route::AppConfig);
                    self.metrics.call(Route::AppConfig, took, true);
                }
            }
            outcome
        };
        self.remembering(Route::AppConfig, key, self.appconfig_ttl, false, read)
            .await
    }

    /// An AppConfig profile's content with its content type, through the library's
    /// `AppConfigCache` (its session, tokens and poll interval), within the AppConfig TTL.
    /// The AppConfig routes take a place among the waiting requests even for a hit: the
    /// library's `AppConfigCache` decides whether to poll.
    pub(crate) async fn configuration(
        &self,
        profile: &Profile,
        context: &Context,
    ) -> Result<Served, Failure> {
        let asked = self.cache.clock().now();
        let policy = self.policy(self.appconfig_ttl, false);
        let entry = self
            .appconfig_read(profile, policy, || {
                self.appconfig.get_entry_with(profile, policy)
            })
            .await?;
        let content_type = entry.content_type().map(str::to_owned);
        // A flags profile with multi-variant flags is answered evaluated for the caller's
        // context, as the AWS AppConfig agent answers it; anything else as it is.
        let json = content_type
            .as_deref()
            .is_none_or(|t| t.starts_with("application/json"));
        if json && contains(entry.content(), b"\"_variants\"") {
            let rules = self.flag_rules(profile, policy).await?;
            let all = rules
                .evaluate_all(context)
                .map_err(|e| invalid_flag(profile, &e))?;
            let body = json_bytes(&serde_json::Value::Object(all));
            return Ok(self.served(&rules, asked, policy, body, content_type));
        }
        Ok(self.served(&entry, asked, policy, entry.bytes(), content_type))
    }

    /// A profile's flags with their variants' rules parsed: decoded once per version (a
    /// derived value), evaluated per request.
    async fn flag_rules(
        &self,
        profile: &Profile,
        policy: Policy,
    ) -> Result<Entry<FlagRules>, Failure> {
        self.appconfig_read(profile, policy, || {
            self.appconfig.get_json::<FlagRules>(profile, policy)
        })
        .await
    }

    /// Feature flags of an AppConfig profile: one flag's object for one name, else an object
    /// of the named flags, as the AWS AppConfig extension answers `?flag=`; a multi-variant
    /// flag is the variant its rules choose for `context`. The profile is decoded and its rules
    /// parsed once per version (a derived value), not per request.
    pub(crate) async fn flags(
        &self,
        profile: &Profile,
        names: &[&str],
        context: &Context,
    ) -> Result<Served, Failure> {
        let asked = self.cache.clock().now();
        let policy = self.policy(self.appconfig_ttl, false);
        let rules = self.flag_rules(profile, policy).await?;
        let mut picked = serde_json::Map::new();
        for name in names {
            let Some(flag) = rules.evaluate(name, context) else {
                return Err(Failure::NotFound {
                    code: "FlagNotFound".to_owned(),
                    message: format!("profile {profile} has no feature flag {}", quote(name)),
                });
            };
            let flag = flag.map_err(|e| invalid_flag(profile, &e))?;
            picked.insert((*name).to_owned(), flag);
        }
        let body = match (names, picked.values().next()) {
            ([_], Some(one)) => json_bytes(one),
            _ => json_bytes(&serde_json::Value::Object(picked)),
        };
        Ok(self.served(&rules, asked, policy, body, None))
    }

    /// Reads `profiles` side by side, counting each one read in `progress`; a failure is
    /// logged (never a value).
    pub(crate) async fn prefetch(&self, profiles: &[Profile], progress: &Warmup) {
        let policy = self.policy(self.appconfig_ttl, false);
        futures_util::future::join_all(profiles.iter().map(|profile| async move {
            match self.appconfig.get_entry_with(profile, policy).await {
                Ok(_) => {
                    progress.profiles.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => crate::log(&format!("prefetch: appconfig {profile}: {e}")),
            }
        }))
        .await;
    }

    /// `GetParameter`, answered as SSM answers it.
    pub(crate) async fn parameter(
        self: &Arc<Self>,
        name: &str,
        decrypt: bool,
        refresh: bool,
    ) -> Result<Served, Failure> {
        lambda_cache::ssm::check_name(name).map_err(|e| Failure::bad("name", e.to_string()))?;
        let key = Key::new(SSM, name).variant(if decrypt { "decrypted" } else { "" });
        let name = name.to_owned();
        self.serve(
            Route::Ssm,
            key,
            self.ssm_ttl,
            refresh,
            move |backend, _previous| async move {
                let parameter =
                    lambda_cache::ssm::fetch::get_parameter(&backend.ssm, &name, decrypt)
                        .await
                        .map_err(Failure::from_sdk)?
                        .ok_or_else(|| Failure::NotFound {
                            code: "ParameterNotFound".into(),
                            message: format!("parameter {} not found", quote(&name)),
                        })?;
                let fields = parameter_fields(parameter, Dates::Iso);
                let body = serde_json::json!({ "Parameter": fields, "ResultMetadata": {} });
                Ok(fetched(json_bytes(&body)))
            },
        )
        .await
    }

    /// `GetSecretValue`, answered as Secrets Manager answers it.
    pub(crate) async fn secret(
        self: &Arc<Self>,
        id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
        refresh: bool,
    ) -> Result<Served, Failure> {
        let secret = match (version_id, stage) {
            (Some(v), _) => lambda_cache::secrets::SecretId::new(id).version_id(v),
            (None, Some(s)) => lambda_cache::secrets::SecretId::new(id).stage(s),
            (None, None) => lambda_cache::secrets::SecretId::new(id),
        };
        secret.check().map_err(|e| {
            let parameter = match (version_id, stage) {
                (Some(_), _) if !id.is_empty() => "versionId",
                (None, Some(_)) if !id.is_empty() => "versionStage",
                _ => "secretId",
            };
            Failure::bad(parameter, e.to_string())
        })?;
        let key = match (version_id, stage) {
            (Some(v), _) => Key::new(SECRETS_BY_ID, id).variant(v),
            (None, s) => Key::new(SECRETS, id).variant(s.unwrap_or(lambda_cache::secrets::CURRENT)),
        };
        let (id, version_id, stage) = (
            id.to_owned(),
            version_id.map(str::to_owned),
            stage.map(str::to_owned),
        );
        self.serve(
            Route::Secrets,
            key,
            self.secrets_ttl,
            refresh,
            move |backend, previous| async move {
                if let Some(held) = previous
                    && backend
                        .still_current(&id, version_id.as_deref(), stage.as_deref(), &held)
                        .await?
                {
                    return Ok(Fetched::not_modified());
                }
                let out = lambda_cache::secrets::fetch::get_secret_value(
                    &backend.secrets,
                    &id,
                    version_id.as_deref(),
                    stage.as_deref(),
                )
                .await
                .map_err(Failure::from_sdk)?;
                let validator = Validator::from(out.version_id());
                let body = secret_body(SecretParts {
                    arn: out.arn,
                    name: out.name,
                    version_id: out.version_id,
                    string: out.secret_string,
                    binary: out.secret_binary,
                    stages: out.version_stages,
                    created: out.created_date,
                });
                Ok(fetched(body).with_validator(validator))
            },
        )
        .await
    }

    /// Whether the secret answer `held` (its validator is its version id) is still the one
    /// asked for: a version id's content never changes; a stage is asked of DescribeSecret
    /// unless revalidation is off or was refused (then false: read it again whole).
    async fn still_current(
        &self,
        id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
        held: &Entry<Body>,
    ) -> Result<bool, Failure> {
        if version_id.is_some() {
            return Ok(true);
        }
        let Some(held) = held.validator().token() else {
            return Ok(false);
        };
        if !self.revalidate_secrets || self.describe_denied.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let stage = stage.unwrap_or(lambda_cache::secrets::CURRENT);
        match lambda_cache::secrets::fetch::version_has_stage(&self.secrets, id, held, stage)
            .await
            .map_err(Failure::from_sdk)
        {
            Ok(current) => Ok(current),
            Err(Failure::Backend(e)) if e.kind == lambda_cache::ssm::Kind::AccessDenied => {
                if !self.describe_denied.swap(true, Ordering::Relaxed) {
                    crate::log(
                        "DescribeSecret was refused (access denied): secrets are read again whole \
                         with GetSecretValue; allow secretsmanager:DescribeSecret, or set \
                         CACHE_EXTENSION_SECRETS_REVALIDATE=false",
                    );
                }
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// One item, as plain JSON, named the seed's way: `table@@hash[@@sort]`.
    pub(crate) async fn item(
        self: &Arc<Self>,
        name: &str,
        refresh: bool,
    ) -> Result<Served, Failure> {
        let mut parts = name.split("@@");
        let table = parts.next().unwrap_or_default();
        let hash = parts.next();
        let sort = parts.next();
        let (Some(hash), None) = (hash, parts.next()) else {
            return Err(Failure::bad(
                "name",
                format!("{} is not <table>@@<hash key>[@@<sort key>]", quote(name)),
            ));
        };
        if table.is_empty() {
            return Err(Failure::bad(
                "name",
                format!("{}: the table name is empty", quote(name)),
            ));
        }
        let config = self.file.dynamodb.iter().find(|t| t.table == table);
        let schema = self.schema(table, config).await?;
        let key_error =
            |message: String| Failure::bad("name", format!("{}: {message}", quote(name)));
        let hash_value = schema.hash.value(hash).map_err(key_error)?;
        let sort_value = match (&schema.sort, sort) {
            (Some(attribute), Some(text)) => {
                Some((attribute, attribute.value(text).map_err(key_error)?))
            }
            (Some(attribute), None) => {
                return Err(key_error(format!(
                    "table {table} has a sort key ({}): give <table>@@<hash>@@<sort>",
                    attribute.name
                )));
            }
            (None, Some(_)) => {
                return Err(key_error(format!(
                    "table {table} has no sort key: give <table>@@<hash>"
                )));
            }
            (None, None) => None,
        };
        let encoded = encode_key(&hash_value, sort_value.as_ref().map(|(_, v)| v));
        let ttl = config.and_then(|c| c.ttl).unwrap_or(self.ttl);
        let fields = config.map(|c| c.fields.as_slice()).unwrap_or_default();
        let key = Key::new(DYNAMODB, table).variant(&encoded);
        let projection = projection(fields, &schema);
        let sort_value = sort_value.map(|(attribute, value)| (attribute.name.clone(), value));
        let (table, name, hash_name) = (table.to_owned(), name.to_owned(), schema.hash.name);
        self.serve(
            Route::DynamoDb,
            key,
            ttl,
            refresh,
            move |backend, _previous| async move {
                let mut key = HashMap::from([(hash_name.clone(), attribute(&hash_value))]);
                if let Some((attribute_name, value)) = &sort_value {
                    key.insert(attribute_name.clone(), attribute(value));
                }

                let out = fetch::get_item(&backend.dynamodb, &table, key, &projection, false)
                    .await
                    .map_err(Failure::from_sdk)?;
                let item = out.item.ok_or_else(|| Failure::NotFound {
                    code: "ItemNotFound".into(),
                    message: format!("no item {} in table {table}", quote(&name)),
                })?;
                Ok(fetched(Bytes::from(item_json(&item))))
            },
        )
        .await
    }

    /// The key attributes of `table`: from `cache.yaml`, else from DescribeTable (kept an hour).
    async fn schema(&self, table: &str, config: Option<&TableConfig>) -> Result<Schema, Failure> {
        if let Some(TableConfig {
            hash: Some(hash),
            sort,
            ..
        }) = config
        {
            return Ok(Schema {
                hash: hash.clone(),
                sort: sort.clone(),
            });
        }
        let key = Key::new(SCHEMA, table);
        if let Some(entry) = self.cache.get_fresh::<Schema>(key, SCHEMA_TTL) {
            return Ok(entry.value().clone());
        }
        // DescribeTable is a backend call like any other: it waits among the in-flight
        // requests, and "no such table" is remembered as a missing item is.
        let read = async {
            let _place = self.waiting()?;
            self.cache
                .get_or_fetch(key, Policy::new(SCHEMA_TTL), |_previous| {
                    self.timed(Route::DynamoDb, async {
                        let description = fetch::describe_table(&self.dynamodb, table)
                            .await
                            .map_err(Failure::from_sdk)?;
                        let kind_of = |name: &str| {
                            let declared = description
                                .attribute_definitions()
                                .iter()
                                .find(|d| d.attribute_name() == name)
                                .map(|d| d.attribute_type().clone());
                            match declared {
                                Some(ScalarAttributeType::N) => KeyType::N,
                                Some(ScalarAttributeType::B) => KeyType::B,
                                _ => KeyType::S,
                            }
                        };
                        let mut hash = None;
                        let mut sort = None;
                        for element in description.key_schema() {
                            let attribute = KeyAttribute {
                                name: element.attribute_name().to_owned(),
                                kind: kind_of(element.attribute_name()),
                            };
                            match element.key_type() {
                                SchemaKeyType::Hash => hash = Some(attribute),
                                _ => sort = Some(attribute),
                            }
                        }
                        let hash = hash.ok_or_else(|| {
                            Failure::Backend(AwsError::from_code(
                                "InvalidKeySchema",
                                &format!("table {table} describes no partition key"),
                                None,
                            ))
                        })?;
                        Ok(Fetched::new(Schema { hash, sort }))
                    })
                })
                .await
        };
        let entry = self
            .remembering(Route::DynamoDb, key, self.ttl, false, read)
            .await?;
        Ok(entry.value().clone())
    }

    /// Entries the cache can still take without evicting one.
    fn room(&self) -> usize {
        self.capacity.saturating_sub(self.cache.len())
    }

    /// What the preload says when the cache is full: it stops rather than evict what it read.
    fn full(&self, loaded: usize) -> String {
        format!(
            "stopped at {loaded} values: the cache holds {} entries \
             (PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE) and the preload never evicts what it read; \
             the rest is left for on-demand reads",
            self.capacity
        )
    }

    /// Reads what `cache.yaml` lists into the cache: each parameter and secret read, each
    /// table scanned (its projection and keys); stops at `max_items` or `max_bytes` rendered,
    /// or when the cache is full, so that nothing preloaded is evicted by what follows.
    /// Counts what it read in `progress` as it goes (a budget may cut it short); a failure
    /// stops that table or skips that name, and is logged (never a value).
    pub(crate) async fn preload(
        self: &Arc<Self>,
        progress: &Warmup,
        max_items: usize,
        max_bytes: u64,
    ) {
        let mut loaded = 0_usize;
        let mut bytes = 0_u64;
        let problem = |text: String| crate::log(&format!("preload: {text}"));
        for name in &self.file.parameters {
            // A parameter may take two entries (as read, and undecrypted).
            if self.room() < 2 {
                problem(self.full(loaded));
                return;
            }
            match self.parameter(name, true, false).await {
                Ok(served) => {
                    loaded += 1;
                    progress.named.fetch_add(1, Ordering::Relaxed);
                    bytes += served.body.len() as u64;
                    // Decryption changes nothing but a SecureString: the same answer then
                    // serves requests without withDecryption too.
                    let parsed: serde_json::Value =
                        serde_json::from_slice(&served.body).unwrap_or_default();
                    if parsed["Parameter"]["Type"] != "SecureString" {
                        let weight = served.body.len() as u64;
                        self.cache.insert(
                            Key::new(SSM, name),
                            Body(served.body),
                            Validator::default(),
                            weight,
                        );
                    }
                }
                Err(e) => problem(format!("parameter {}: {e}", quote(name))),
            }
        }
        for id in &self.file.secrets {
            if self.room() == 0 {
                problem(self.full(loaded));
                return;
            }
            match self.secret(id, None, None, false).await {
                Ok(served) => {
                    loaded += 1;
                    progress.named.fetch_add(1, Ordering::Relaxed);
                    bytes += served.body.len() as u64;
                }
                Err(e) => problem(format!("secret {}: {e}", quote(id))),
            }
        }
        'tables: for config in &self.file.dynamodb {
            let table = config.table.as_str();
            let schema = match self.schema(table, Some(config)).await {
                Ok(schema) => schema,
                Err(e) => {
                    problem(format!("table {table}: {e}"));
                    continue;
                }
            };
            let mut start = None;
            loop {
                if loaded >= max_items || bytes >= max_bytes {
                    problem(format!(
                        "stopped at {loaded} values and {bytes} bytes (the preload's bounds)"
                    ));
                    break 'tables;
                }
                let room = self.room();
                if room == 0 {
                    problem(self.full(loaded));
                    break 'tables;
                }
                let limit = i32::try_from((max_items - loaded).min(room))
                    .unwrap_or(i32::MAX)
                    .min(1000);
                let projection = projection(&config.fields, &schema);
                let scanned =
                    fetch::scan(&self.dynamodb, table, &projection, limit, start.take()).await;
                let page = match scanned.map_err(Failure::from_sdk) {
                    Ok(page) => page,
                    Err(e) => {
                        problem(format!("table {table}: {e}"));
                        continue 'tables;
                    }
                };
                // A page is stored in one pass of the cache's writers' lock.
                let mut store = self.cache.batch();
                let mut stored = 0;
                for item in page.items() {
                    let Some(hash) = item.get(&schema.hash.name).and_then(key_value) else {
                        continue;
                    };
                    let sort = match &schema.sort {
                        Some(attribute) => match item.get(&attribute.name).and_then(key_value) {
                            Some(value) => Some(value),
                            None => continue,
                        },
                        None => None,
                    };
                    let encoded = encode_key(&hash, sort.as_ref());
                    let body = Bytes::from(item_json(item));
                    let weight = body.len() as u64;
                    bytes += weight;
                    store.insert(
                        Key::new(DYNAMODB, table).variant(&encoded),
                        Body(body),
                        Validator::default(),
                        weight,
                    );
                    loaded += 1;
                    stored += 1;
                }
                store.commit();
                progress.items.fetch_add(stored, Ordering::Relaxed);
                match page.last_evaluated_key {
                    Some(next) if !next.is_empty() => start = Some(next),
                    _ => break,
                }
            }
        }
    }
}

/// True if `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A multi-variant flag whose variants AppConfig delivered but this extension cannot evaluate
/// (a rule that does not parse): the deployed profile is at fault, not the request.
fn invalid_flag(profile: &Profile, error: &VariantError) -> Failure {
    Failure::Backend(AwsError::from_code(
        "InvalidFeatureFlag",
        &format!("profile {profile}: {error}"),
        None,
    ))
}

/// A secret's version as GetSecretValue (and each of BatchGetSecretValue's `SecretValues`)
/// carries it.
struct SecretParts {
    arn: Option<String>,
    name: Option<String>,
    version_id: Option<String>,
    string: Option<String>,
    binary: Option<aws_smithy_types::Blob>,
    stages: Option<Vec<String>>,
    created: Option<aws_smithy_types::DateTime>,
}

/// GetSecretValue's answer: binary as base64, the date in seconds since the epoch, as on the
/// wire; the absent fields left out.
fn secret_body(secret: SecretParts) -> Bytes {
    let fields = present([
        ("ARN", secret.arn.map(Into::into)),
        ("Name", secret.name.map(Into::into)),
        ("VersionId", secret.version_id.map(Into::into)),
        ("SecretString", secret.string.map(Into::into)),
        (
            "SecretBinary",
            secret.binary.map(|b| {
                base64::engine::general_purpose::STANDARD
                    .encode(b.as_ref())
                    .into()
            }),
        ),
        ("VersionStages", secret.stages.map(Into::into)),
        (
            "CreatedDate",
            secret
                .created
                .and_then(|d| serde_json::Number::from_f64(d.as_secs_f64()))
                .map(serde_json::Value::Number),
        ),
    ]);
    json_bytes(&serde_json::Value::Object(fields))
}

/// How a parameter's `LastModifiedDate` is written: as the AWS Parameters and Secrets extension
/// writes it (ISO 8601), or as SSM's JSON protocol carries it (seconds since the epoch).
#[derive(Clone, Copy)]
enum Dates {
    Iso,
    Epoch,
}

/// A parameter's fields as SSM answers them, the absent ones left out.
fn parameter_fields(
    parameter: aws_sdk_ssm::types::Parameter,
    dates: Dates,
) -> serde_json::Map<String, serde_json::Value> {
    let date = parameter.last_modified_date.and_then(|d| match dates {
        Dates::Iso => d.fmt(Format::DateTime).ok().map(Into::into),
        Dates::Epoch => {
            serde_json::Number::from_f64(d.as_secs_f64()).map(serde_json::Value::Number)
        }
    });
    present([
        ("ARN", parameter.arn.map(Into::into)),
        ("DataType", parameter.data_type.map(Into::into)),
        ("LastModifiedDate", date),
        ("Name", parameter.name.map(Into::into)),
        ("Selector", parameter.selector.map(Into::into)),
        ("SourceResult", parameter.source_result.map(Into::into)),
        (
            "Type",
            parameter.r#type.map(|t| t.as_str().to_owned().into()),
        ),
        ("Value", parameter.value.map(Into::into)),
        ("Version", Some(parameter.version.into())),
    ])
}

/// A rendered body as a cache value, weighed by its length. No validator: only secrets (their
/// version id) are revalidated.
fn fetched(body: Bytes) -> Fetched<Body> {
    let weight = body.len() as u64;
    Fetched::new(Body(body)).with_weight(weight)
}

/// A JSON object of the fields that are present, in the order given: an AWS answer leaves
/// absent fields out rather than sending `null`.
fn present<const N: usize>(
    fields: [(&str, Option<serde_json::Value>); N],
) -> serde_json::Map<String, serde_json::Value> {
    fields
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect()
}
fn json_bytes(body: &serde_json::Value) -> Bytes {
    Bytes::from(body.to_string())
}

/// An item as plain JSON: strings, numbers exactly as DynamoDB holds them, binary as base64,
/// sets and lists as arrays, maps as objects; attributes in name order.
fn item_json(item: &HashMap<String, AttributeValue>) -> String {
    let mut text = String::with_capacity(64);
    write_map(&mut text, item.iter());
    text
}

fn write_map<'a>(
    out: &mut String,
    entries: impl Iterator<Item = (&'a String, &'a AttributeValue)>,
) {
    let sorted: BTreeMap<&String, &AttributeValue> = entries.collect();
    out.push('{');
    for (i, (name, value)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, name);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

fn write_array<T>(out: &mut String, items: &[T], mut each: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, item);
    }
    out.push(']');
}

fn write_value(out: &mut String, value: &AttributeValue) {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    match value {
        AttributeValue::S(text) => write_string(out, text),
        AttributeValue::N(number) => write_number(out, number),
        AttributeValue::B(blob) => write_string(out, &b64(blob.as_ref())),
        AttributeValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        AttributeValue::Ss(items) => write_array(out, items, |o, s| write_string(o, s)),
        AttributeValue::Ns(items) => write_array(out, items, |o, n| write_number(o, n)),
        AttributeValue::Bs(items) => {
            write_array(out, items, |o, b| write_string(o, &b64(b.as_ref())));
        }
        AttributeValue::L(items) => write_array(out, items, write_value),
        AttributeValue::M(map) => write_map(out, map.iter()),
        _ => out.push_str("null"),
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into()));
}

/// A number as DynamoDB holds it, digit for digit; one that is not a JSON number (DynamoDB
/// never sends one) as a string rather than invalid JSON.
fn write_number(out: &mut String, number: &str) {
    if is_json_number(number) {
        out.push_str(number);
    } else {
        write_string(out, number);
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn is_json_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.first() == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(c) if c.is_ascii_digit() => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// The cache variant for a key: each part typed and length-prefixed, so no two keys share one
/// (`1` the number and `1` the string, `a@@b` split two ways) and numbers compare canonically.
fn encode_key(hash: &KeyValue, sort: Option<&KeyValue>) -> String {
    let mut out = String::new();
    for value in std::iter::once(hash).chain(sort) {
        let (tag, text) = match value {
            KeyValue::S(s) => ('S', s.clone()),
            KeyValue::N { canonical, .. } => ('N', canonical.clone()),
            KeyValue::B(bytes) => ('B', base64::engine::general_purpose::STANDARD.encode(bytes)),
        };
        out.push(tag);
        out.push_str(&text.len().to_string());
        out.push(':');
        out.push_str(&text);
    }
    out
}

fn attribute(value: &KeyValue) -> AttributeValue {
    match value {
        KeyValue::S(s) => AttributeValue::S(s.clone()),
        KeyValue::N { text, .. } => AttributeValue::N(text.clone()),
        KeyValue::B(bytes) => AttributeValue::B(aws_smithy_types::Blob::new(bytes.clone())),
    }
}

/// A scanned item's key attribute as a key value.
fn key_value(value: &AttributeValue) -> Option<KeyValue> {
    match value {
        AttributeValue::S(s) => Some(KeyValue::S(s.clone())),
        AttributeValue::N(n) => KeyValue::n(n).ok(),
        AttributeValue::B(b) => Some(KeyValue::B(b.as_ref().to_vec())),
        _ => None,
    }
}

/// The projection for `fields` plus the key attributes, with every name a placeholder
/// (`name`, `date`, ... are reserved words in DynamoDB's expressions); everything when
/// `fields` is empty.
fn projection(fields: &[String], schema: &Schema) -> fetch::Projection {
    if fields.is_empty() {
        return fetch::Projection::default();
    }
    let mut wanted: Vec<&str> = fields.iter().map(String::as_str).collect();
    for key in std::iter::once(&schema.hash).chain(schema.sort.as_ref()) {
        if !wanted.contains(&key.name.as_str()) {
            wanted.push(&key.name);
        }
    }
    let mut names = HashMap::new();
    let mut expression = String::new();
    for (i, field) in wanted.iter().enumerate() {
        if i > 0 {
            expression.push(',');
        }
        let placeholder = format!("#p{i}");
        expression.push_str(&placeholder);
        names.insert(placeholder, (*field).to_owned());
    }
    fetch::Projection {
        expression: Some(expression),
        names: Some(names),
        attributes_to_get: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_render_as_plain_json_with_exact_numbers() {
        let mut inner = HashMap::new();
        inner.insert("deep".to_owned(), AttributeValue::Bool(true));
        let mut item = HashMap::new();
        item.insert("pk".to_owned(), AttributeValue::S("u\"1".into()));
        item.insert(
            "big".to_owned(),
            AttributeValue::N("12345678901234567890.123456789".into()),
        );
        item.insert("exp".to_owned(), AttributeValue::N("1E+2".into()));
        item.insert(
            "blob".to_owned(),
            AttributeValue::B(aws_smithy_types::Blob::new(b"hi".to_vec())),
        );
        item.insert("none".to_owned(), AttributeValue::Null(true));
        item.insert(
            "ns".to_owned(),
            AttributeValue::Ns(vec!["1".into(), "-0.5".into()]),
        );
        item.insert(
            "list".to_owned(),
            AttributeValue::L(vec![
                AttributeValue::S("a".into()),
                AttributeValue::M(inner),
            ]),
        );
        let text = item_json(&item);
        assert_eq!(
            text,
            r#"{"big":12345678901234567890.123456789,"blob":"aGk=","exp":1E+2,"list":["a",{"deep":true}],"none":null,"ns":[1,-0.5],"pk":"u\"1"}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["pk"], "u\"1");
    }

    #[test]
    fn json_numbers() {
        for good in ["0", "-0", "1", "1.5", "-12.25e-3", "1E+2", "100"] {
            assert!(is_json_number(good), "{good}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "+1", "NaN", "1 "] {
            assert!(!is_json_number(bad), "{bad}");
        }
        let mut out = String::new();
        write_number(&mut out, "01");
        assert_eq!(out, "\"01\"");
    }

    #[test]
    fn keys_never_collide() {
        let n = |t: &str| KeyValue::n(t).unwrap();
        let s = |t: &str| KeyValue::S(t.to_owned());
        assert_eq!(encode_key(&n("1"), None), encode_key(&n("1.0"), None));
        assert_ne!(encode_key(&n("1"), None), encode_key(&s("1"), None));
        assert_ne!(encode_key(&s("1"), None), encode_key(&s("1"), Some(&s(""))));
        assert_ne!(
            encode_key(&s("a"), Some(&s("bS1:c"))),
            encode_key(&s("aS1:b"), Some(&s("c")))
        );
    }

    #[test]
    fn failures_map_to_statuses() {
        let throttled = AwsError::from_code("ThrottlingException", "slow down", Some(400));
        assert_eq!(
            Failure::Backend(throttled.clone()).status_and_code(),
            (502, "ThrottlingException")
        );
        assert!(Failure::Backend(throttled).is_transient());
        assert_eq!(Failure::bad("name", "x").status_and_code().0, 400);
        assert_eq!(Failure::Timeout("t".into()).status_and_code().0, 504);
        assert!(!Failure::bad("name", "x").is_transient());
    }
}
