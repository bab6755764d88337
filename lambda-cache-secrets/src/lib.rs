//! Secrets Manager for lambda-cache: secrets read once per execution environment, served from
//! memory, and refreshed after a maximum age (60 seconds by default).
//!
//! String and binary secrets come back as stored, in a [`Secret`] whose `Debug` and `Display`
//! never show the value; errors name the secret, never its value. The version read (a stage
//! such as `AWSPREVIOUS`, or a version id) is part of the cache key.
//!
//! ```no_run
//! use std::time::Duration;
//! use lambda_cache_secrets as secrets;
//!
//! # async fn handler() -> Result<(), secrets::Error> {
//! // Cached for 60 seconds.
//! let conn = secrets::get_entry("/prod/db/conn_string").await?;
//! // Cached for 5 minutes.
//! let conn = secrets::get_entry_with("/prod/db/conn_string", Duration::from_secs(300)).await?;
//! // Force a refresh (max_age zero).
//! let conn = secrets::get_entry_with("/prod/db/conn_string", Duration::ZERO).await?;
//! # let _ = conn;
//! # Ok(())
//! # }
//! ```
//!
//! # Rotation
//!
//! When a secret rotates, a warm environment holds the old value until its max age passes. If
//! the database rejects the cached credentials, force a refresh and retry once:
//!
//! ```no_run
//! use std::time::Duration;
//! use lambda_cache_core::Sensitive;
//! use lambda_cache_secrets as secrets;
//!
//! #[derive(serde::Deserialize)]
//! struct DbCredentials { username: String, password: Sensitive<String>, host: String }
//!
//! # struct Connection;
//! # #[derive(Debug)] struct AuthFailed;
//! # async fn connect(_: &DbCredentials) -> Result<Connection, AuthFailed> { Ok(Connection) }
//! async fn connection() -> Result<Connection, Box<dyn std::error::Error>> {
//!     const SECRET: &str = "prod/db/credentials";
//!     let credentials = secrets::get_json::<DbCredentials>(SECRET, Duration::from_secs(300)).await?;
//!     match connect(&credentials).await {
//!         Ok(connection) => Ok(connection),
//!         Err(AuthFailed) => {
//!             // Rotated since we cached it: read it again (max_age zero) and retry once.
//!             let fresh = secrets::get_json::<DbCredentials>(SECRET, Duration::ZERO).await?;
//!             Ok(connect(&fresh).await.map_err(|_| "authentication failed after refresh")?)
//!         }
//!     }
//! }
//! ```

mod batch;
mod declare;
mod error;
pub mod fetch;
mod id;
mod value;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use lambda_cache_core::{Cache, Entry, Fetched, Policy, Validator, decode_json, join_all, join2};
use serde::de::DeserializeOwned;

pub use batch::MAX_PER_CALL;
pub use declare::{DeclaredSecret, secret};
pub use error::Error;
pub use id::{CURRENT, PREVIOUS, SecretId, Version, short_name};
/// What an AWS failure left in `Error::Service` holds: its kind, status, code and message
/// (shared by every service crate).
pub use lambda_cache_aws::{AwsError, Kind};
pub use value::{Secret, SecretValue};

/// The service part of this crate's cache keys (and its name everywhere: crate
/// `lambda-cache-secrets`, facade feature and module `secrets`).
pub const SERVICE: &str = "secrets";

/// The default maximum age of this crate's reads.
pub const DEFAULT_MAX_AGE: Duration = Policy::DEFAULT_MAX_AGE;

/// A cache of secrets: a [`Cache`] and the Secrets Manager client that fills it.
///
/// The free functions use one built from the environment ([`SecretsCache::global`]); build your
/// own to choose the client or the cache.
///
/// ```
/// use lambda_cache_core::Cache;
/// use lambda_cache_secrets::SecretsCache;
///
/// let config = aws_sdk_secretsmanager::Config::builder()
///     .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
///     .region(aws_sdk_secretsmanager::config::Region::new("eu-west-1"))
///     .build();
/// let secrets = SecretsCache::new(Cache::builder().build()?, aws_sdk_secretsmanager::Client::from_conf(config));
/// assert!(secrets.cache().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct SecretsCache {
    cache: Cache,
    client: Client,
    policy: Policy,
    /// Ask DescribeSecret before reading a secret again by stage.
    revalidate: bool,
    /// Set once DescribeSecret was refused: then only GetSecretValue is called.
    describe_denied: Arc<AtomicBool>,
}

impl SecretsCache {
    /// A cache of secrets read with `client`, kept in `cache`.
    ///
    /// ```
    /// # let client = aws_sdk_secretsmanager::Client::from_conf(aws_sdk_secretsmanager::Config::builder()
    /// #     .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest()).build());
    /// let secrets = lambda_cache_secrets::SecretsCache::new(lambda_cache_core::Cache::global().clone(), client);
    /// # let _ = secrets;
    /// ```
    pub fn new(cache: Cache, client: Client) -> Self {
        Self {
            cache,
            client,
            policy: Policy::default(),
            revalidate: true,
            describe_denied: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether a secret read by stage is revalidated past its max age (on by default): the
    /// cache first asks DescribeSecret which version the stage names, and keeps the value it
    /// holds when that is still the version it holds (no secret on the wire, no KMS decrypt;
    /// counted in [`lambda_cache_core::Stats::not_modified`]); otherwise it reads the new one
    /// with GetSecretValue. Turn it off where the function may not call
    /// `secretsmanager:DescribeSecret`; a refused DescribeSecret also turns it off for this
    /// cache, once, with a warning, and the read goes on with GetSecretValue.
    ///
    /// ```
    /// # let client = aws_sdk_secretsmanager::Client::from_conf(aws_sdk_secretsmanager::Config::builder()
    /// #     .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest()).build());
    /// let secrets = lambda_cache_secrets::SecretsCache::new(lambda_cache_core::Cache::global().clone(), client)
    ///     .with_revalidation(false);
    /// assert!(!secrets.revalidates());
    /// ```
    #[must_use]
    pub fn with_revalidation(mut self, revalidate: bool) -> Self {
        self.revalidate = revalidate;
        self
    }

    /// Whether secrets read by stage are revalidated with DescribeSecret (see
    /// [`SecretsCache::with_revalidation`]).
    ///
    /// ```
    /// # let client = aws_sdk_secretsmanager::Client::from_conf(aws_sdk_secretsmanager::Config::builder()
    /// #     .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest()).build());
    /// let secrets = lambda_cache_secrets::SecretsCache::new(lambda_cache_core::Cache::global().clone(), client);
    /// assert!(secrets.revalidates());
    /// ```
    pub fn revalidates(&self) -> bool {
        self.revalidate && !self.describe_denied.load(Ordering::Relaxed)
    }

    /// Whether `held` (the version id of the value held) is still the version of `secret`: a
    /// version id is immutable, so a read pinned to one always is; a stage is asked of
    /// DescribeSecret. False when the secret must be read again.
    async fn still_current(
        &self,
        secret: SecretId<'_>,
        held: &Entry<Secret>,
    ) -> Result<bool, Error> {
        let stage = match secret.version() {
            Version::Id(_) => return Ok(true),
            Version::Stage(stage) => stage,
        };
        let Some(held) = held.validator().token() else {
            return Ok(false);
        };
        if !self.revalidates() {
            return Ok(false);
        }
        match fetch::version_has_stage(&self.client, secret.name(), held, stage)
            .await
            .map_err(|err| Error::from_sdk(secret.name(), err))
        {
            Ok(current) => Ok(current),
            Err(Error::AccessDenied { .. }) => {
                if !self.describe_denied.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "lambda_cache",
                        service = SERVICE,
                        "DescribeSecret was refused (access denied): secrets are read again whole with GetSecretValue; allow secretsmanager:DescribeSecret, or turn revalidation off"
                    );
                }
                Ok(false)
            }
            Err(err) => Err(err),
        }
    }

    /// This cache with `policy` (or a max age) for [`SecretsCache::get_entry`], instead of 60
    /// seconds.
    ///
    /// ```
    /// # let client = aws_sdk_secretsmanager::Client::from_conf(aws_sdk_secretsmanager::Config::builder()
    /// #     .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest()).build());
    /// use std::time::Duration;
    /// let secrets = lambda_cache_secrets::SecretsCache::new(lambda_cache_core::Cache::global().clone(), client)
    ///     .with_policy(Duration::from_secs(300));
    /// assert_eq!(secrets.policy().max_age(), Duration::from_secs(300));
    /// ```
    #[must_use]
    pub fn with_policy(mut self, policy: impl Into<Policy>) -> Self {
        self.policy = policy.into();
        self
    }

    /// The policy of [`SecretsCache::get_entry`].
    ///
    /// ```no_run
    /// # async fn f() {
    /// assert_eq!(lambda_cache_secrets::SecretsCache::global().await.policy().max_age(), lambda_cache_secrets::DEFAULT_MAX_AGE);
    /// # }
    /// ```
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// A cache whose client is built from `config`: one endpoint, region and credentials for
    /// every service (a local emulator, a VPC endpoint).
    ///
    /// ```
    /// let config = aws_config::SdkConfig::builder()
    ///     .behavior_version(aws_config::BehaviorVersion::latest())
    ///     .build();
    /// let secrets = lambda_cache_secrets::SecretsCache::from_config(lambda_cache_core::Cache::global().clone(), &config);
    /// # let _ = secrets;
    /// ```
    pub fn from_config(cache: Cache, config: &aws_config::SdkConfig) -> Self {
        Self::new(cache, Client::new(config))
    }

    /// The process-wide instance used by the free functions: the global [`Cache`] and a client
    /// built once from the standard environment, sharing one AWS configuration with the other
    /// service crates.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let secrets = lambda_cache_secrets::SecretsCache::global().await;
    /// println!("{:?}", secrets.cache().stats());
    /// # }
    /// ```
    pub async fn global() -> &'static SecretsCache {
        static GLOBAL: tokio::sync::OnceCell<SecretsCache> = tokio::sync::OnceCell::const_new();
        lambda_cache_aws::global(&GLOBAL, SecretsCache::from_config).await
    }

    /// The cache.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let stats = lambda_cache_secrets::SecretsCache::global().await.cache().stats();
    /// # let _ = stats;
    /// # }
    /// ```
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The Secrets Manager client.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let client = lambda_cache_secrets::SecretsCache::global().await.client();
    /// # let _ = client;
    /// # }
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The current version of a secret, cached for up to 60 seconds.
    ///
    /// # Errors
    /// As [`SecretsCache::get_entry_with`].
    ///
    /// ```no_run
    /// # async fn f(s: lambda_cache_secrets::SecretsCache) -> Result<(), lambda_cache_secrets::Error> {
    /// let conn = s.get_entry("/prod/db/conn_string").await?;
    /// # let _ = conn;
    /// # Ok(()) }
    /// ```
    pub async fn get_entry<'a>(
        &self,
        secret: impl Into<SecretId<'a>>,
    ) -> Result<Entry<Secret>, Error> {
        self.get_entry_with(secret, self.policy).await
    }

    /// A secret (by name or ARN, in the version the [`SecretId`] names, the current one for a
    /// plain `&str`), from memory if the cached value satisfies `policy`, otherwise read with
    /// GetSecretValue.
    ///
    /// A policy with [`Policy::refresh_ahead`] or [`Policy::stale_while_revalidate`] answers a
    /// read in its window with the value held and refreshes it in the background
    /// ([`Cache::get_or_refresh`]), revalidating it like any refresh.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a malformed reference, [`Error::NotFound`], and the service's
    /// failures ([`Error::AccessDenied`], [`Error::Decryption`], [`Error::Throttled`], ...). A
    /// failed refresh leaves the previous value cached.
    ///
    /// ```no_run
    /// # async fn f(s: lambda_cache_secrets::SecretsCache) -> Result<(), lambda_cache_secrets::Error> {
    /// use std::time::Duration;
    /// use lambda_cache_secrets::SecretId;
    /// let before_rotation = s.get_entry_with(SecretId::new("prod/db").previous(), Duration::from_secs(300)).await?;
    /// # let _ = before_rotation;
    /// # Ok(()) }
    /// ```
    pub async fn get_entry_with<'a>(
        &self,
        secret: impl Into<SecretId<'a>>,
        policy: impl Into<Policy>,
    ) -> Result<Entry<Secret>, Error> {
        let id = secret.into();
        let policy = policy.into();
        if policy.refreshes_in_background() {
            // The fetch may outlive this read: it owns its cache handle and the id's parts.
            let this = self.clone();
            let name = id.name().to_owned();
            let version = match id.version() {
                Version::Stage(stage) => (true, stage.to_owned()),
                Version::Id(version_id) => (false, version_id.to_owned()),
            };
            return self
                .cache
                .get_or_refresh(id.key(), policy, move |previous| async move {
                    let id = match &version {
                        (true, stage) => SecretId::new(&name).stage(stage),
                        (false, version_id) => SecretId::new(&name).version_id(version_id),
                    };
                    this.read(id, previous).await
                })
                .await;
        }
        let fetch = |previous| self.read(id, previous);
        // With the `shared` feature, through the cache's shared tier if it has one (where a
        // secret goes only for a policy that says `share_secrets`).
        #[cfg(feature = "shared")]
        let read = self.cache.get_or_fetch_shared(id.key(), policy, fetch);
        #[cfg(not(feature = "shared"))]
        let read = self.cache.get_or_fetch(id.key(), policy, fetch);
        read.await
    }

    /// One secret read with GetSecretValue, or kept if still current (see
    /// [`SecretsCache::with_revalidation`]).
    async fn read(
        &self,
        id: SecretId<'_>,
        previous: Option<Entry<Secret>>,
    ) -> Result<Fetched<Secret>, Error> {
        id.check()?;
        if let Some(held) = &previous
            && self.still_current(id, held).await?
        {
            return Ok(Fetched::not_modified());
        }
        let (version_id, stage) = match id.version() {
            Version::Stage(stage) => (None, Some(stage)),
            Version::Id(version_id) => (Some(version_id), None),
        };
        let output = fetch::get_secret_value(&self.client, id.name(), version_id, stage)
            .await
            .map_err(|err| Error::from_sdk(id.name(), err))?;
        let secret = Secret::from_parts(
            output.name(),
            output.arn(),
            output.version_id(),
            output.version_stages(),
            output.secret_string(),
            output.secret_binary().map(|blob| blob.as_ref()),
        );
        let weight = secret.weight();
        Ok(Fetched::new(secret)
            .with_validator(Validator::from(output.version_id()))
            .with_weight(weight))
    }

    /// A JSON secret (string or binary) decoded into `T`, decoded once per fetch: the decoded
    /// value is cached apart from the raw secret (a derived value, see
    /// [`Cache::get_derived`]) and is as old as it; the raw secret is read through
    /// [`SecretsCache::get_entry_with`] with the same policy, so both share one call. Declare
    /// password fields as [`lambda_cache_core::Sensitive<String>`] to keep them out of logs.
    ///
    /// # Errors
    /// As [`SecretsCache::get_entry_with`], plus [`Error::Decode`] when the secret is not JSON
    /// for `T` (the message gives a position, never the value).
    ///
    /// ```no_run
    /// # async fn f(s: lambda_cache_secrets::SecretsCache) -> Result<(), lambda_cache_secrets::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct Db { username: String, password: lambda_cache_core::Sensitive<String>, host: String }
    /// let db = s.get_json::<Db>("prod/db", std::time::Duration::from_secs(300)).await?;
    /// println!("connecting to {} as {}", db.host, db.username);
    /// # Ok(()) }
    /// ```
    pub async fn get_json<'a, T>(
        &self,
        secret: impl Into<SecretId<'a>>,
        policy: impl Into<Policy>,
    ) -> Result<Entry<T>, Error>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let id = secret.into();
        self.cache
            .get_derived(
                id.key(),
                policy,
                |policy| self.get_entry_with(id, policy),
                |raw: &Secret| {
                    decode_json::<T>(raw.as_bytes()).map_err(|err| Error::Decode {
                        secret: id.name().to_owned(),
                        message: err.to_string(),
                    })
                },
            )
            .await
    }

    /// Several secrets, each its own entry with its own outcome, in request order: those
    /// cached and fresh enough for `policy` come from memory; the current versions of the
    /// others from BatchGetSecretValue (⌈K/20⌉ concurrent calls, each secret asked for once),
    /// other versions with GetSecretValue beside them; each is cached on its own, so a later
    /// [`SecretsCache::get_entry`] of one is a hit. A missing secret fails only itself; a failed
    /// call follows the policy's stale-if-error for each secret it asked for.
    ///
    /// The function needs `secretsmanager:BatchGetSecretValue` and `GetSecretValue` on each
    /// secret.
    ///
    /// ```no_run
    /// # async fn f(s: lambda_cache_secrets::SecretsCache) -> Result<(), lambda_cache_secrets::Error> {
    /// let all = s.get_many(["prod/db", "prod/api-key"], std::time::Duration::from_secs(300)).await;
    /// let db = all[0].as_ref().map_err(Clone::clone)?;
    /// # let _ = db;
    /// # Ok(()) }
    /// ```
    pub async fn get_many<'a, I>(
        &self,
        ids: I,
        policy: impl Into<Policy>,
    ) -> Vec<Result<Entry<Secret>, Error>>
    where
        I: IntoIterator,
        I::Item: Into<SecretId<'a>>,
    {
        /// Where a request's outcome comes from.
        enum Pending<'a> {
            Done(Result<Entry<Secret>, Error>),
            Batch(SecretId<'a>, usize),
            Single(SecretId<'a>),
        }
        let policy = policy.into();
        let mut wanted: Vec<&str> = Vec::new();
        let pending: Vec<Pending<'a>> = ids
            .into_iter()
            .map(|id| {
                let id: SecretId<'a> = id.into();
                if let Err(err) = id.check() {
                    Pending::Done(Err(err))
                } else if id.version() != Version::Stage(CURRENT) {
                    // GetSecretValue, beside the batch; it answers a hit itself.
                    Pending::Single(id)
                } else if let Some(hit) = self.cache.get_fresh::<Secret>(id.key(), policy.max_age())
                {
                    Pending::Done(Ok(hit))
                } else if let Some(at) = wanted.iter().position(|n| *n == id.name()) {
                    Pending::Batch(id, at)
                } else {
                    wanted.push(id.name());
                    Pending::Batch(id, wanted.len() - 1)
                }
            })
            .collect();
        let singles = pending.iter().filter_map(|p| match p {
            Pending::Single(id) => Some(self.get_entry_with(*id, policy)),
            _ => None,
        });
        let (batch, singles) =
            join2(batch::read_all(&self.client, &wanted), join_all(singles)).await;
        let batch: Vec<Result<Entry<Secret>, Error>> = batch
            .into_iter()
            .zip(&wanted)
            .map(|(read, name)| {
                read.map(|secret| {
                    let weight = secret.weight();
                    let validator = Validator::new(secret.version_id());
                    self.cache
                        .insert(SecretId::new(name).key(), secret, validator, weight)
                })
            })
            .collect();
        let mut singles = singles.into_iter();
        pending
            .into_iter()
            .map(|p| match p {
                Pending::Done(outcome) => outcome,
                Pending::Batch(id, at) => batch[at].clone().or_else(|err| {
                    self.cache
                        .serve_stale::<Secret, _>(id.key(), policy, &err)
                        .ok_or(err)
                }),
                Pending::Single(_) => singles
                    .next()
                    .unwrap_or_else(|| unreachable!("one read per single request")),
            })
            .collect()
    }
}

/// The current version of a secret through the process-wide [`SecretsCache::global`], cached
/// for up to 60 seconds.
///
/// # Errors
/// As [`SecretsCache::get_entry_with`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_secrets::Error> {
/// let conn = lambda_cache_secrets::get_entry("/prod/db/conn_string").await?;
/// # let _ = conn;
/// # Ok(()) }
/// ```
pub async fn get_entry<'a>(secret: impl Into<SecretId<'a>>) -> Result<Entry<Secret>, Error> {
    SecretsCache::global().await.get_entry(secret).await
}

/// A secret through the process-wide cache with a policy or max age; `Duration::ZERO` forces a
/// refresh. See [`SecretsCache::get_entry_with`].
///
/// # Errors
/// As [`SecretsCache::get_entry_with`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_secrets::Error> {
/// let conn = lambda_cache_secrets::get_entry_with("/prod/db/conn_string", std::time::Duration::ZERO).await?;
/// # let _ = conn;
/// # Ok(()) }
/// ```
pub async fn get_entry_with<'a>(
    secret: impl Into<SecretId<'a>>,
    policy: impl Into<Policy>,
) -> Result<Entry<Secret>, Error> {
    SecretsCache::global()
        .await
        .get_entry_with(secret, policy)
        .await
}

/// A JSON secret decoded into `T` through the process-wide cache. See
/// [`SecretsCache::get_json`].
///
/// # Errors
/// As [`SecretsCache::get_json`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_secrets::Error> {
/// let keys = lambda_cache_secrets::get_json::<std::collections::HashMap<String, String>>(
///     "prod/api-keys", std::time::Duration::from_secs(300)).await?;
/// # let _ = keys;
/// # Ok(()) }
/// ```
pub async fn get_json<'a, T>(
    secret: impl Into<SecretId<'a>>,
    policy: impl Into<Policy>,
) -> Result<Entry<T>, Error>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    SecretsCache::global().await.get_json(secret, policy).await
}

/// Several secrets through the process-wide cache. See [`SecretsCache::get_many`].
///
/// ```no_run
/// # async fn f() {
/// let all = lambda_cache_secrets::get_many(["prod/db", "prod/api-key"], std::time::Duration::from_secs(300)).await;
/// # let _ = all;
/// # }
/// ```
pub async fn get_many<'a, I>(ids: I, policy: impl Into<Policy>) -> Vec<Result<Entry<Secret>, Error>>
where
    I: IntoIterator,
    I::Item: Into<SecretId<'a>>,
{
    SecretsCache::global().await.get_many(ids, policy).await
}

// This crate's README (its crates.io page): its examples run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
