//! A shared tier for lambda-cache on Redis or Valkey (ElastiCache, or any server): the
//! execution environments of a fleet read it on a local miss, so that the fleet fetches each
//! key from the backend about once per max age instead of once per environment (FLEET.md shows
//! why that matters against SSM's 40 requests per second).
//!
//! A [`RedisTier`] is given to a cache ([`CacheBuilder::shared_tier`]); the service reads that
//! go through [`Cache::get_or_fetch_shared`] use it (with each service crate's `shared`
//! feature: SSM's `get_entry`, Secrets Manager's for reads that share secrets, DynamoDB items,
//! S3 bytes up to [`RedisTierBuilder::max_record`]; AppConfig's sessions stay local). On a local miss: the tier's value if it is young enough, else one environment
//! takes the key's lease (`SET NX PX` of a token of its own) and fetches while the others poll
//! for its value, and the value goes back with the reader's max age as its time to live.
//! Release and write-back are server-side scripts (`EVAL`, in Redis 7 and Valkey 7.2 alike):
//! a lease is deleted only by its holder, and a record never replaces a newer one (see
//! [`RecordOrder`]). A value and its lease share a hash tag, so the scripts run on a cluster
//! too. A tier that is down or
//! slow costs a read at most [`RedisTierBuilder::timeout`] (and nothing while it stays down,
//! for [`RedisTierBuilder::retry_after`]); the backend answers instead, and
//! [`Stats::shared_errors`](lambda_cache_core::Stats) counts it.
//!
//! Secrets and SecureStrings stay in the process unless a read opts in with
//! [`Policy::share_secrets`](lambda_cache_core::Policy::share_secrets): whoever can read the
//! tier (its network, its users, its snapshots) can then read them in clear.
//!
//! ```no_run
//! use std::sync::Arc;
//! use lambda_cache_core::Cache;
//! use lambda_cache_redis::RedisTier;
//!
//! # fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let tier = RedisTier::builder("rediss://my-cache.serverless.use1.cache.amazonaws.com:6379")
//!     .prefix("orders-api:")
//!     .build()?;
//! let cache = Cache::builder().shared_tier(Arc::new(tier)).build()?;
//! # let _ = cache;
//! # Ok(()) }
//! ```
//!
//! [`CacheBuilder::shared_tier`]: lambda_cache_core::CacheBuilder::shared_tier
//! [`Cache::get_or_fetch_shared`]: lambda_cache_core::Cache::get_or_fetch_shared

use std::fmt;
use std::time::Duration;

use lambda_cache_core::{BoxFuture, Clock, Instant};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use lambda_cache_core::shared::Codec;
pub use lambda_cache_core::{
    Lease, LeaseSettings, RecordOrder, SharedTier, SharedValue, TierError, TierRecord, TierValue,
    TierWrite,
};

/// Each call's bound, by default: an ElastiCache node in the same zone answers in well under a
/// millisecond.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);
/// How long the tier is skipped after a failed connection, or a call that timed out or lost its
/// connection, by default.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The line a PEM certificate begins with.
const CERTIFICATE_BEGINS: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// A tier that cannot be set up: the URL (its password never shown) and why.
///
/// ```
/// let err = lambda_cache_redis::RedisTier::builder("http://user:pw@host").build().unwrap_err();
/// assert!(err.to_string().contains("http://***@host"));
/// assert!(!err.to_string().contains("pw"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a `redis://`, `rediss://` or `valkey://` URL the client can use.
    InvalidUrl {
        /// The URL, its user information replaced by `***`.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A duration that cannot work: a zero timeout (every call would fail), a zero lease hold
    /// (no lease would be taken) or a zero lease poll (no one would wait).
    InvalidSetting {
        /// The builder's setting (`timeout`, `lease.hold`, `lease.poll`).
        setting: &'static str,
        /// Its value.
        value: Duration,
        /// What is wrong.
        reason: &'static str,
    },
    /// The root certificate given to [`RedisTierBuilder::root_certificate`] cannot be used.
    InvalidCertificate {
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl { url, reason } => write!(f, "shared tier URL {url}: {reason}"),
            Self::InvalidSetting {
                setting,
                value,
                reason,
            } => write!(f, "shared tier {setting} {value:?}: {reason}"),
            Self::InvalidCertificate { reason } => {
                write!(f, "shared tier root certificate: {reason}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// `url` with its user information (user name, password, token) replaced by `***`.
fn shown(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Settings of a [`RedisTier`]; start from [`RedisTier::builder`].
///
/// ```
/// use std::time::Duration;
/// let tier = lambda_cache_redis::RedisTier::builder("redis://127.0.0.1:6379")
///     .prefix("billing:")
///     .timeout(Duration::from_millis(50))
///     .build()
///     .unwrap();
/// # let _ = tier;
/// ```
#[derive(Debug)]
#[must_use]
pub struct RedisTierBuilder {
    url: String,
    prefix: Option<String>,
    timeout: Duration,
    retry_after: Duration,
    lease: LeaseSettings,
    credentials: Option<Credentials>,
    root_certificate: Option<Vec<u8>>,
    max_record: usize,
}

/// What gives a user name and a token, asked again after a period: see
/// [`RedisTierBuilder::credentials`].
type Provide =
    dyn Fn() -> BoxFuture<'static, Result<(String, String), String>> + Send + Sync + 'static;

/// A token source and how often to renew.
#[derive(Clone)]
struct Credentials {
    provide: std::sync::Arc<Provide>,
    every: Duration,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl redis::StreamingCredentialsProvider for Credentials {
    fn subscribe(
        &self,
    ) -> std::pin::Pin<
        Box<dyn futures_util::Stream<Item = redis::RedisResult<redis::BasicAuth>> + Send + 'static>,
    > {
        let this = self.clone();
        // The first credentials at once, then new ones every period (the client re-authenticates
        // its connection with each, and reconnects with the latest).
        Box::pin(futures_util::stream::unfold(true, move |first| {
            let this = this.clone();
            async move {
                if !first {
                    tokio::time::sleep(this.every).await;
                }
                let credentials = (this.provide)().await.map_or_else(
                    |reason| {
                        Err(redis::RedisError::from((
                            redis::ErrorKind::AuthenticationFailed,
                            "credentials",
                            reason,
                        )))
                    },
                    |(user, token)| Ok(redis::BasicAuth::new(user, token)),
                );
                Some((credentials, false))
            }
        }))
    }
}

impl RedisTierBuilder {
    /// Put before every key. By default `lambda-cache:<AWS_REGION>:<AWS_LAMBDA_FUNCTION_NAME>:`,
    /// so two functions on one cluster, or one function deployed in two regions, never read
    /// each other's entries; give two functions one prefix to share them. Lambda tells a
    /// function its account only per invocation, so two accounts whose functions share a name
    /// and a region on one cluster need a prefix of their own.
    ///
    /// ```
    /// let b = lambda_cache_redis::RedisTier::builder("redis://127.0.0.1").prefix("team-a:");
    /// # let _ = b;
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The bound of each call, connecting included (default [`DEFAULT_TIMEOUT`]).
    ///
    /// ```
    /// let b = lambda_cache_redis::RedisTier::builder("redis://127.0.0.1")
    ///     .timeout(std::time::Duration::from_millis(20));
    /// # let _ = b;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long the tier is skipped after a connection fails, or a call times out or loses its
    /// connection (default [`DEFAULT_RETRY_AFTER`]): meanwhile reads go to the backend at once;
    /// then the next call connects again.
    ///
    /// ```
    /// let b = lambda_cache_redis::RedisTier::builder("redis://127.0.0.1")
    ///     .retry_after(std::time::Duration::from_secs(1));
    /// # let _ = b;
    /// ```
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = wait;
        self
    }

    /// The lease: how long it is held, how long and how often the others look for its value.
    ///
    /// ```
    /// let b = lambda_cache_redis::RedisTier::builder("redis://127.0.0.1")
    ///     .lease(lambda_cache_core::LeaseSettings::default());
    /// # let _ = b;
    /// ```
    pub fn lease(mut self, settings: LeaseSettings) -> Self {
        self.lease = settings;
        self
    }

    /// A user name and token asked of `provide` when the tier connects and again every
    /// `every`, for a server whose passwords expire: ElastiCache with IAM authentication takes
    /// an IAM token (a SigV4-presigned `connect` request, valid 15 minutes) as the password of
    /// a user whose authentication mode is IAM; renew it every 10 minutes. The connection is
    /// re-authenticated with each new token. An error of `provide` is a failed tier call,
    /// never a failed read. Whatever the URL says about a user and password is replaced.
    ///
    /// ```
    /// use std::time::Duration;
    /// let tier = lambda_cache_redis::RedisTier::builder("rediss://my-cache.example:6379")
    ///     .credentials(Duration::from_secs(600), || async {
    ///         // An IAM token for the user `app`, made with aws-sigv4 (not shown).
    ///         Ok(("app".to_owned(), "token".to_owned()))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = tier;
    /// ```
    pub fn credentials<F, Fut>(mut self, every: Duration, provide: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(String, String), String>> + Send + 'static,
    {
        self.credentials = Some(Credentials {
            provide: std::sync::Arc::new(move || Box::pin(provide())),
            every,
        });
        self
    }

    /// The largest record written, in bytes (default 512 KiB,
    /// [`lambda_cache_core::shared::DEFAULT_MAX_RECORD`]): a larger value (an S3 object's
    /// bytes, a big secret) is read from its backend by each environment.
    ///
    /// ```
    /// let b = lambda_cache_redis::RedisTier::builder("redis://127.0.0.1").max_record(64 * 1024);
    /// # let _ = b;
    /// ```
    pub fn max_record(mut self, bytes: usize) -> Self {
        self.max_record = bytes;
        self
    }

    /// The CA certificate (PEM) a `rediss://` server's certificate must chain to, instead of
    /// the system's roots: for a server whose certificate a private CA signed. ElastiCache's
    /// certificates chain to Amazon's public roots and need none.
    ///
    /// ```
    /// # let ca_pem = String::new();
    /// let b = lambda_cache_redis::RedisTier::builder("rediss://cache.internal:6379")
    ///     .root_certificate(ca_pem);
    /// # let _ = b;
    /// ```
    pub fn root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificate = Some(pem.into());
        self
    }

    /// Checks the URL and builds the tier. Nothing connects yet: the first call does.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for a URL the client cannot use (or a root certificate with a
    /// URL that is not TLS), [`Error::InvalidSetting`] for a zero timeout, lease hold or lease
    /// poll, [`Error::InvalidCertificate`] for a root certificate that is not PEM.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_redis::RedisTier;
    /// assert!(RedisTier::builder("redis://127.0.0.1:6379").build().is_ok());
    /// assert!(RedisTier::builder("127.0.0.1:6379").build().is_err());
    /// let zero = RedisTier::builder("redis://127.0.0.1:6379").timeout(Duration::ZERO).build();
    /// assert_eq!(zero.unwrap_err().to_string(), "shared tier timeout 0ns: must be above zero");
    /// ```
    pub fn build(self) -> Result<RedisTier, Error> {
        for (setting, value) in [
            ("timeout", self.timeout),
            ("lease.hold", self.lease.hold),
            ("lease.poll", self.lease.poll),
        ] {
            if value.is_zero() {
                return Err(Error::InvalidSetting {
                    setting,
                    value,
                    reason: "must be above zero",
                });
            }
        }
        let invalid = |reason: String| Error::InvalidUrl {
            url: shown(&self.url),
            reason,
        };
        if !["redis://", "rediss://", "valkey://", "valkeys://"]
            .iter()
            .any(|scheme| self.url.starts_with(scheme))
        {
            return Err(invalid(
                "not a redis://, rediss://, valkey:// or valkeys:// URL".to_owned(),
            ));
        }
        let client = match self.root_certificate {
            None => redis::Client::open(self.url.as_str())
                .map_err(|e| invalid(e.to_string().replace(&self.url, "the URL")))?,
            Some(pem) => {
                if !["rediss://", "valkeys://"]
                    .iter()
                    .any(|scheme| self.url.starts_with(scheme))
                {
                    return Err(invalid(
                        "a root certificate needs a TLS URL (rediss:// or valkeys://)".to_owned(),
                    ));
                }
                if !pem
                    .windows(CERTIFICATE_BEGINS.len())
                    .any(|w| w == CERTIFICATE_BEGINS)
                {
                    return Err(Error::InvalidCertificate {
                        reason: "no PEM certificate in it".to_owned(),
                    });
                }
                let info = redis::IntoConnectionInfo::into_connection_info(self.url.as_str())
                    .map_err(|e| invalid(e.to_string().replace(&self.url, "the URL")))?;
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(info, certificates).map_err(|e| {
                    Error::InvalidCertificate {
                        reason: format!("{:?}: {}", e.kind(), e.detail().unwrap_or("not PEM")),
                    }
                })?
            }
        };
        let prefix = self.prefix.unwrap_or_else(|| {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            default_prefix(
                var("AWS_REGION").as_deref(),
                var("AWS_LAMBDA_FUNCTION_NAME").as_deref(),
            )
        });
        Ok(RedisTier {
            client,
            prefix,
            timeout: self.timeout,
            retry_after: self.retry_after,
            lease: self.lease,
            credentials: self.credentials,
            max_record: self.max_record,
            clock: Clock::real(),
            connection: tokio::sync::Mutex::new(Connection::None),
        })
    }
}

/// The tier's connection: none yet, one (which reconnects by itself), or a failure to connect
/// and when to try again.
enum Connection {
    None,
    Up(ConnectionManager),
    Down { until: Instant },
}

/// A shared tier on a Redis or Valkey server; see the crate's docs.
///
/// ```
/// let tier = lambda_cache_redis::RedisTier::builder("redis://127.0.0.1:6379").build().unwrap();
/// use lambda_cache_core::SharedTier;
/// assert!(tier.prefix().starts_with("lambda-cache:"));
/// ```
pub struct RedisTier {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    retry_after: Duration,
    lease: LeaseSettings,
    credentials: Option<Credentials>,
    max_record: usize,
    clock: Clock,
    connection: tokio::sync::Mutex<Connection>,
}

impl fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client's connection information holds the password: not shown.
        f.debug_struct("RedisTier")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisTier {
    /// Settings for a tier at `url` (`redis://host:port`, `rediss://` for TLS, with
    /// `user:password@` or an IAM token as the password where the server wants one).
    ///
    /// ```
    /// let b = lambda_cache_redis::RedisTier::builder("rediss://user:token@cache.example:6379");
    /// # let _ = b;
    /// ```
    pub fn builder(url: impl Into<String>) -> RedisTierBuilder {
        RedisTierBuilder {
            url: url.into(),
            prefix: None,
            timeout: DEFAULT_TIMEOUT,
            retry_after: DEFAULT_RETRY_AFTER,
            lease: LeaseSettings::default(),
            credentials: None,
            root_certificate: None,
            max_record: lambda_cache_core::shared::DEFAULT_MAX_RECORD,
        }
    }

    /// The connection, made now if there is none, or an error at once while the tier is
    /// down.
    async fn connection(&self, call: &'static str) -> Result<ConnectionManager, TierError> {
        let mut connection = self.connection.lock().await;
        let now = self.clock.now();
        match &*connection {
            Connection::Up(manager) => return Ok(manager.clone()),
            Connection::Down { until } if now < *until => {
                return Err(TierError::new(call, "down (a connection failed recently)"));
            }
            Connection::None | Connection::Down { .. } => {}
        }
        let mut config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        if let Some(credentials) = &self.credentials {
            config = config.set_credentials_provider(credentials.clone());
        }
        let made = tokio::time::timeout(
            self.timeout,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await;
        match made {
            Ok(Ok(manager)) => {
                *connection = Connection::Up(manager.clone());
                Ok(manager)
            }
            Ok(Err(error)) => {
                *connection = Connection::Down {
                    until: now + self.retry_after,
                };
                Err(TierError::new(
                    call,
                    format!("cannot connect: {}", kind_name(&error)),
                ))
            }
            Err(_) => {
                *connection = Connection::Down {
                    until: now + self.retry_after,
                };
                Err(TierError::new(
                    call,
                    format!("no connection within {:?}", self.timeout),
                ))
            }
        }
    }

    /// Runs `cmd` bounded by the timeout.
    async fn query<T: redis::FromRedisValue>(
        &self,
        call: &'static str,
        cmd: impl FnOnce() -> redis::Pipeline,
    ) -> Result<T, TierError> {
        let mut manager = self.connection(call).await?;
        match tokio::time::timeout(self.timeout, cmd().query_async::<T>(&mut manager)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                if error.is_timeout() || error.is_connection_dropped() || error.is_io_error() {
                    self.skip_for_a_while().await;
                }
                Err(TierError::new(call, kind_name(&error)))
            }
            Err(_) => {
                // A tier that stopped answering after it connected is skipped as one that
                // refused the connection: one timeout per skip period, not one per miss.
                self.skip_for_a_while().await;
                Err(TierError::new(
                    call,
                    format!("no answer within {:?}", self.timeout),
                ))
            }
        }
    }

    /// Marks the tier down for the skip period (`retry_after`): calls fail at once until it
    /// passes, then the next one connects again.
    async fn skip_for_a_while(&self) {
        let until = self.clock.now() + self.retry_after;
        *self.connection.lock().await = Connection::Down { until };
    }
}

/// What `error` is, without its detail (which may quote a command).
fn kind_name(error: &redis::RedisError) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connection_refusal() {
        "connection refused".to_owned()
    } else if error.is_connection_dropped() || error.is_io_error() {
        "connection lost".to_owned()
    } else {
        format!("{:?}", error.kind())
    }
}

/// The prefix a tier takes unless told: the region and the function's name (`local` for each
/// that is not set).
fn default_prefix(region: Option<&str>, function: Option<&str>) -> String {
    format!(
        "lambda-cache:{}:{}:",
        region.unwrap_or("local"),
        function.unwrap_or("local")
    )
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Deletes the lease `KEYS[1]` if its value is the holder's token `ARGV[1]`.
const RELEASE: &str = "\
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0";

/// Stores the record `ARGV[1]` under `KEYS[1]` (a hash: `r` the record, `v` the version or -1,
/// `t` the read time) for `ARGV[2]` ms, unless the held record is newer (a higher version
/// where both have one and they differ, else a later read: `RecordOrder::supersedes`); then
/// releases the lease `KEYS[2]` if its value is the token `ARGV[5]`. 1 if stored.
const WRITE: &str = "\
local held = redis.call('HMGET', KEYS[1], 'v', 't')
local newer = true
if held[2] then
  local hv, ht = tonumber(held[1]), tonumber(held[2])
  local nv, nt = tonumber(ARGV[3]), tonumber(ARGV[4])
  if hv >= 0 and nv >= 0 and hv ~= nv then
    newer = nv > hv
  else
    newer = nt >= ht
  end
end
if newer then
  redis.call('HSET', KEYS[1], 'r', ARGV[1], 'v', ARGV[3], 't', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if ARGV[5] ~= '' and redis.call('GET', KEYS[2]) == ARGV[5] then
  redis.call('DEL', KEYS[2])
end
if newer then return 1 else return 0 end";

impl SharedTier for RedisTier {
    fn prefix(&self) -> &str {
        &self.prefix
    }

    // A single call is the pipelined one of one: one command set, one parser.
    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<TierRecord>, TierError>> {
        Box::pin(async move {
            let keys = [key.to_owned()];
            let mut records = self.read_many(&keys).await?;
            Ok(records.pop().flatten())
        })
    }

    fn lease<'a>(
        &'a self,
        lease: Lease<'a>,
        hold: Duration,
    ) -> BoxFuture<'a, Result<bool, TierError>> {
        Box::pin(async move {
            let leases = [lease];
            let taken = self.lease_many(&leases, hold).await?;
            Ok(taken.first().copied().unwrap_or(false))
        })
    }

    fn release<'a>(&'a self, lease: Lease<'a>) -> BoxFuture<'a, Result<(), TierError>> {
        Box::pin(async move {
            let (): () = self
                .query("release", || {
                    let mut pipe = redis::pipe();
                    pipe.cmd("EVAL")
                        .arg(RELEASE)
                        .arg(1)
                        .arg(lease.key)
                        .arg(lease.token)
                        .ignore();
                    pipe
                })
                .await?;
            Ok(())
        })
    }

    fn write<'a>(&'a self, write: TierWrite<'a>) -> BoxFuture<'a, Result<bool, TierError>> {
        Box::pin(async move {
            let stored = self.write_many(vec![write]).await?;
            Ok(stored.first().copied().unwrap_or(false))
        })
    }

    fn pause(&self, wait: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(wait))
    }

    fn lease_settings(&self) -> LeaseSettings {
        self.lease
    }

    fn max_record(&self) -> usize {
        self.max_record
    }

    fn read_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<TierRecord>>, TierError>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            // One pipeline: a record and its time to live per key, in order.
            let answers: Vec<(Option<Vec<u8>>, i64)> = self
                .query("read", || {
                    let mut pipe = redis::pipe();
                    for key in keys {
                        pipe.cmd("HGET").arg(key).arg("r").cmd("PTTL").arg(key);
                    }
                    pipe
                })
                .await
                .map(|flat: Vec<redis::Value>| pairs(flat))?;
            Ok(answers
                .into_iter()
                .map(|(bytes, ttl)| match (bytes, u64::try_from(ttl)) {
                    (Some(bytes), Ok(ms)) => Some(TierRecord {
                        bytes,
                        remaining: Duration::from_millis(ms),
                    }),
                    _ => None,
                })
                .collect())
        })
    }

    fn lease_many<'a>(
        &'a self,
        leases: &'a [Lease<'a>],
        hold: Duration,
    ) -> BoxFuture<'a, Result<Vec<bool>, TierError>> {
        Box::pin(async move {
            if leases.is_empty() {
                return Ok(Vec::new());
            }
            let set: Vec<Option<String>> = self
                .query("lease", || {
                    let mut pipe = redis::pipe();
                    for lease in leases {
                        pipe.cmd("SET")
                            .arg(lease.key)
                            .arg(lease.token)
                            .arg("NX")
                            .arg("PX")
                            .arg(millis(hold));
                    }
                    pipe
                })
                .await?;
            Ok(set.into_iter().map(|set| set.is_some()).collect())
        })
    }

    fn write_many<'a>(
        &'a self,
        writes: Vec<TierWrite<'a>>,
    ) -> BoxFuture<'a, Result<Vec<bool>, TierError>> {
        Box::pin(async move {
            if writes.is_empty() {
                return Ok(Vec::new());
            }
            let stored: Vec<i64> = self
                .query("write", || {
                    let mut pipe = redis::pipe();
                    for write in &writes {
                        write_command(&mut pipe, write);
                    }
                    pipe
                })
                .await?;
            Ok(stored.into_iter().map(|stored| stored == 1).collect())
        })
    }
}

/// The `EVAL` of [`WRITE`] for `write`, added to `pipe`.
fn write_command(pipe: &mut redis::Pipeline, write: &TierWrite<'_>) {
    let version = write
        .order
        .version
        .and_then(|v| i64::try_from(v).ok())
        .unwrap_or(-1);
    pipe.cmd("EVAL")
        .arg(WRITE)
        .arg(2)
        .arg(write.key)
        .arg(write.lease.key)
        .arg(&write.record)
        .arg(millis(write.ttl))
        .arg(version)
        .arg(write.order.read_at)
        .arg(write.lease.token);
}

/// A pipeline's flat answer of `HGET`, `PTTL` pairs as pairs (a value that does not convert
/// is no record).
fn pairs(flat: Vec<redis::Value>) -> Vec<(Option<Vec<u8>>, i64)> {
    let mut answers = Vec::with_capacity(flat.len() / 2);
    let mut values = flat.into_iter();
    while let (Some(bytes), Some(ttl)) = (values.next(), values.next()) {
        answers.push((
            redis::from_redis_value(bytes).ok().flatten(),
            redis::from_redis_value(ttl).unwrap_or(-2),
        ));
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urls_user_information_is_never_shown() {
        assert_eq!(shown("rediss://u:secret@h:6379/0"), "rediss://***@h:6379/0");
        assert_eq!(shown("redis://h:6379"), "redis://h:6379");
        let err = RedisTier::builder("redis://u:secret@h:notaport")
            .build()
            .unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(!format!("{err:?}").contains("secret"), "{err:?}");
    }

    #[test]
    fn a_zero_duration_is_refused_naming_the_setting() {
        let builder = || RedisTier::builder("redis://127.0.0.1:1");
        let lease = |hold: u64, poll: u64| LeaseSettings {
            hold: Duration::from_millis(hold),
            poll: Duration::from_millis(poll),
            ..LeaseSettings::default()
        };
        for (built, setting) in [
            (builder().timeout(Duration::ZERO).build(), "timeout"),
            (builder().lease(lease(0, 25)).build(), "lease.hold"),
            (builder().lease(lease(5_000, 0)).build(), "lease.poll"),
        ] {
            let err = built.unwrap_err();
            assert!(
                matches!(err, Error::InvalidSetting { setting: s, .. } if s == setting),
                "{err:?}"
            );
            assert!(err.to_string().contains(setting), "{err}");
        }
        // A zero wait is a choice (never wait for the lease holder), not a mistake.
        let no_wait = LeaseSettings {
            wait: Duration::ZERO,
            ..LeaseSettings::default()
        };
        assert!(builder().lease(no_wait).build().is_ok());
    }

    #[test]
    fn the_default_prefix_names_the_region_and_the_function() {
        assert_eq!(
            default_prefix(Some("eu-west-1"), Some("checkout")),
            "lambda-cache:eu-west-1:checkout:"
        );
        assert_ne!(
            default_prefix(Some("eu-west-1"), Some("checkout")),
            default_prefix(Some("us-east-1"), Some("checkout")),
            "one function in two regions"
        );
        assert_eq!(default_prefix(None, None), "lambda-cache:local:local:");
    }

    #[test]
    fn a_given_prefix_is_used_and_debug_hides_the_address() {
        let tier = RedisTier::builder("redis://127.0.0.1:1")
            .prefix("p:")
            .build()
            .unwrap();
        assert_eq!(tier.prefix(), "p:");
        assert!(!format!("{tier:?}").contains("127.0.0.1"));
    }
}

// This crate's README (its crates.io page): its examples run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
