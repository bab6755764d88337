//! S3 objects for lambda-cache: downloaded once per execution environment into a local file
//! (`/tmp/<entry name>` by default), revalidated after a maximum age in one conditional request,
//! and kept within a disk budget.
//!
//! - A refresh sends `If-None-Match` with the ETag of the copy on disk: an unchanged object costs
//!   one request and no body (S3 answers 304), a changed one is downloaded in that same request.
//! - The body streams to a temporary file in the cache directory, which is then renamed over the
//!   target: a failed or cut download leaves the previous file intact and nothing partial behind,
//!   and memory stays flat however large the object.
//! - Files beyond the byte budget are evicted least recently used first; an object larger than
//!   the whole budget is an error.
//! - Small objects can also be cached in memory as bytes ([`get_bytes`]) or decoded JSON
//!   ([`get_json`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use lambda_cache_s3 as s3;
//!
//! # async fn handler() -> Result<(), Box<dyn std::error::Error>> {
//! // Downloaded to /tmp/object.json, revalidated after 60 seconds.
//! s3::get_entry("s3://bucket-name/path/to/object.json").await?;
//! let status: serde_json::Value = serde_json::from_str(&std::fs::read_to_string("/tmp/object.json")?)?;
//! // Five minutes, downloading again whenever the max age passes (no revalidation).
//! let model = s3::get_entry_with(
//!     s3::Object::new("s3://bucket-name/models/model.onnx").check_before_download(false),
//!     Duration::from_secs(300),
//! )
//! .await?;
//! println!("{} bytes at {}", model.size(), model.path().display());
//! # let _ = status;
//! # Ok(())
//! # }
//! ```

mod declare;
mod disk;
mod error;
mod id;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_s3::Client;
use lambda_cache_core::{Cache, Entry, Fetched, Key, Policy, Validator, decode_json, join_all};
use serde::de::DeserializeOwned;

pub use crate::declare::{DeclaredFile, file};
use crate::disk::Disk;
pub use crate::disk::LocalFile;
pub use crate::error::Error;
use crate::error::Failure;
pub use crate::id::{Object, S3Uri};
/// What an AWS failure left in `Error::Service` holds: its kind, status, code and message
/// (shared by every service crate).
pub use lambda_cache_aws::{AwsError, Kind};

/// The service part of this crate's cache keys.
pub const SERVICE: &str = "s3";
/// The variant of in-memory entries; file entries use their file name, which has no NUL.
const IN_MEMORY: &str = "\0memory";
/// The default cache directory: Lambda's writable scratch space.
pub const DEFAULT_DIRECTORY: &str = "/tmp";
/// The default disk budget: 512 MiB, Lambda's default ephemeral storage.
pub const DEFAULT_DISK_BUDGET: u64 = 512 << 20;
/// The default largest object kept in memory by [`get_bytes`] and [`get_json`]: 8 MiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 8 << 20;

/// A cache of S3 objects: a [`Cache`], the S3 client, and a directory with a byte budget.
///
/// ```
/// use lambda_cache_core::Cache;
/// use lambda_cache_s3::S3Cache;
///
/// let config = aws_sdk_s3::Config::builder()
///     .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
///     .region(aws_sdk_s3::config::Region::new("eu-west-1"))
///     .build();
/// let dir = std::env::temp_dir();
/// let s3 = S3Cache::builder(Cache::builder().build()?, aws_sdk_s3::Client::from_conf(config))
///     .directory(&dir)
///     .disk_budget(64 << 20)
///     .build();
/// assert_eq!(s3.directory(), dir.as_path());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct S3Cache {
    cache: Cache,
    client: Client,
    disk: Arc<Disk>,
    memory_limit: u64,
    policy: Policy,
}

/// Settings of an [`S3Cache`]; start from [`S3Cache::builder`].
#[derive(Debug)]
#[must_use]
pub struct S3CacheBuilder {
    cache: Cache,
    client: Client,
    directory: PathBuf,
    disk_budget: u64,
    memory_limit: u64,
}

impl S3CacheBuilder {
    /// The directory of the cached files (default `/tmp`). Temporary downloads are made in it
    /// too, so that the final rename stays on one file system.
    ///
    /// ```
    /// # let client = aws_sdk_s3::Client::from_conf(aws_sdk_s3::Config::builder()
    /// #     .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest()).build());
    /// let s3 = lambda_cache_s3::S3Cache::builder(lambda_cache_core::Cache::global().clone(), client)
    ///     .directory("/tmp/models")
    ///     .build();
    /// # let _ = s3;
    /// ```
    pub fn directory(mut self, directory: impl Into<PathBuf>) -> Self {
        self.directory = directory.into();
        self
    }

    /// The most bytes of cached files (default 512 MiB; Lambda's `/tmp` is 512 MB by default
    /// and can be raised to 10 GB).
    ///
    /// ```
    /// # let client = aws_sdk_s3::Client::from_conf(aws_sdk_s3::Config::builder()
    /// #     .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest()).build());
    /// let s3 = lambda_cache_s3::S3Cache::builder(lambda_cache_core::Cache::global().clone(), client)
    ///     .disk_budget(2 << 30)
    ///     .build();
    /// # let _ = s3;
    /// ```
    pub fn disk_budget(mut self, bytes: u64) -> Self {
        self.disk_budget = bytes;
        self
    }

    /// The largest object [`S3Cache::get_bytes`] keeps in memory (default 8 MiB).
    ///
    /// ```
    /// # let client = aws_sdk_s3::Client::from_conf(aws_sdk_s3::Config::builder()
    /// #     .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest()).build());
    /// let s3 = lambda_cache_s3::S3Cache::builder(lambda_cache_core::Cache::global().clone(), client)
    ///     .memory_limit(1 << 20)
    ///     .build();
    /// # let _ = s3;
    /// ```
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Builds the cache. The directory is created on first download if missing.
    ///
    /// ```
    /// # let client = aws_sdk_s3::Client::from_conf(aws_sdk_s3::Config::builder()
    /// #     .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest()).build());
    /// let s3 = lambda_cache_s3::S3Cache::builder(lambda_cache_core::Cache::global().clone(), client).build();
    /// # let _ = s3;
    /// ```
    pub fn build(self) -> S3Cache {
        S3Cache {
            cache: self.cache,
            client: self.client,
            disk: Arc::new(Disk::new(self.directory, self.disk_budget)),
            memory_limit: self.memory_limit,
            policy: Policy::default(),
        }
    }
}

impl std::fmt::Debug for S3Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Cache")
            .field("directory", &self.disk.dir())
            .field("disk_budget", &self.disk.budget())
            .field("disk_used", &self.disk.used())
            .field("memory_limit", &self.memory_limit)
            .finish_non_exhaustive()
    }
}

impl S3Cache {
    /// A cache of objects read with `client`, kept in `cache`, with files in the default
    /// directory (`/tmp`) and the default budgets; [`S3Cache::builder`] chooses others.
    ///
    /// ```
    /// # let client = aws_sdk_s3::Client::from_conf(aws_sdk_s3::Config::builder()
    /// #     .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest()).build());
    /// let s3 = lambda_cache_s3::S3Cache::new(lambda_cache_core::Cache::global().clone(), client);
    /// assert_eq!(s3.directory(), std::path::Path::new(lambda_cache_s3::DEFAULT_DIRECTORY));
    /// ```
    pub fn new(cache: Cache, client: Client) -> Self {
        Self::builder(cache, client).build()
    }

    /// This cache with `policy` (or a max age) for [`S3Cache::get_entry`], instead of 60
    /// seconds.
    ///
    /// ```
    /// # let client = aws_sdk_s3::Client::from_conf(aws_sdk_s3::Config::builder()
    /// #     .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest()).build());
    /// use std::time::Duration;
    /// let s3 = lambda_cache_s3::S3Cache::new(lambda_cache_core::Cache::global().clone(), client)
    ///     .with_policy(Duration::from_secs(3600));
    /// assert_eq!(s3.policy().max_age(), Duration::from_secs(3600));
    /// ```
    #[must_use]
    pub fn with_policy(mut self, policy: impl Into<Policy>) -> Self {
        self.policy = policy.into();
        self
    }

    /// The policy of [`S3Cache::get_entry`].
    ///
    /// ```no_run
    /// # async fn f() {
    /// assert_eq!(lambda_cache_s3::S3Cache::global().await.policy().max_age(), lambda_cache_s3::DEFAULT_MAX_AGE);
    /// # }
    /// ```
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Starts configuring a cache of objects read with `client`, kept in `cache`.
    ///
    /// ```
    /// # let client = aws_sdk_s3::Client::from_conf(aws_sdk_s3::Config::builder()
    /// #     .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest()).build());
    /// let s3 = lambda_cache_s3::S3Cache::builder(lambda_cache_core::Cache::global().clone(), client).build();
    /// assert_eq!(s3.directory(), std::path::Path::new("/tmp"));
    /// ```
    pub fn builder(cache: Cache, client: Client) -> S3CacheBuilder {
        S3CacheBuilder {
            cache,
            client,
            directory: PathBuf::from(DEFAULT_DIRECTORY),
            disk_budget: DEFAULT_DISK_BUDGET,
            memory_limit: DEFAULT_MEMORY_LIMIT,
        }
    }

    /// A cache in the default directory (`/tmp`) whose client is built from `config`: one
    /// endpoint, region and credentials for every service. Use [`S3Cache::builder`] for another
    /// directory or budget.
    ///
    /// ```
    /// let config = aws_config::SdkConfig::builder()
    ///     .behavior_version(aws_config::BehaviorVersion::latest())
    ///     .build();
    /// let s3 = lambda_cache_s3::S3Cache::from_config(lambda_cache_core::Cache::global().clone(), &config);
    /// # let _ = s3;
    /// ```
    pub fn from_config(cache: Cache, config: &aws_config::SdkConfig) -> Self {
        Self::builder(cache, Client::new(config)).build()
    }

    /// The process-wide instance used by the free functions: the global [`Cache`], `/tmp`, the
    /// default budgets, and a client built once from the standard environment.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let s3 = lambda_cache_s3::S3Cache::global().await;
    /// println!("{s3:?}");
    /// # }
    /// ```
    pub async fn global() -> &'static S3Cache {
        static GLOBAL: tokio::sync::OnceCell<S3Cache> = tokio::sync::OnceCell::const_new();
        lambda_cache_aws::global(&GLOBAL, S3Cache::from_config).await
    }

    /// The cache.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let stats = lambda_cache_s3::S3Cache::global().await.cache().stats();
    /// # let _ = stats;
    /// # }
    /// ```
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The directory of the cached files.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let dir = lambda_cache_s3::S3Cache::global().await.directory();
    /// # let _ = dir;
    /// # }
    /// ```
    pub fn directory(&self) -> &std::path::Path {
        self.disk.dir()
    }

    /// Bytes of cached files on disk now.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let used = lambda_cache_s3::S3Cache::global().await.disk_used();
    /// # let _ = used;
    /// # }
    /// ```
    pub fn disk_used(&self) -> u64 {
        self.disk.used()
    }

    /// The object as a local file, revalidated after 60 seconds. See
    /// [`S3Cache::get_entry_with`].
    ///
    /// # Errors
    /// As [`S3Cache::get_entry_with`].
    ///
    /// ```no_run
    /// # async fn f(s3: lambda_cache_s3::S3Cache) -> Result<(), lambda_cache_s3::Error> {
    /// let file = s3.get_entry("s3://bucket-name/path/to/object.json").await?;
    /// # let _ = file;
    /// # Ok(()) }
    /// ```
    pub async fn get_entry<'a>(
        &self,
        object: impl Into<Object<'a>>,
    ) -> Result<Entry<LocalFile>, Error> {
        self.get_entry_with(object, self.policy).await
    }

    /// Several objects as local files, each with its own outcome, in request order: S3 has no
    /// batch read, so the misses are read side by side (one GetObject each, single-flight per
    /// object, stale-if-error as the policy says).
    ///
    /// ```no_run
    /// # async fn f(s3: lambda_cache_s3::S3Cache) -> Result<(), lambda_cache_s3::Error> {
    /// let files = s3.get_many(["s3://bucket/a.json", "s3://bucket/b.json"], std::time::Duration::from_secs(300)).await;
    /// let a = files[0].as_ref().map_err(Clone::clone)?;
    /// # let _ = a;
    /// # Ok(()) }
    /// ```
    pub async fn get_many<'a, I>(
        &self,
        objects: I,
        policy: impl Into<Policy>,
    ) -> Vec<Result<Entry<LocalFile>, Error>>
    where
        I: IntoIterator,
        I::Item: Into<Object<'a>>,
    {
        let policy = policy.into();
        join_all(
            objects
                .into_iter()
                .map(|object| self.get_entry_with(object, policy)),
        )
        .await
    }

    /// The object as a local file: from memory if the cached entry satisfies `policy`,
    /// otherwise revalidated (or downloaded) with one GetObject.
    ///
    /// # Errors
    /// [`Error::InvalidUri`] for a malformed URI or entry name, [`Error::FileConflict`] when
    /// another URI already holds the file name, [`Error::TooLarge`] beyond the disk budget,
    /// [`Error::NotFound`], [`Error::AccessDenied`], [`Error::Truncated`] for a cut download,
    /// [`Error::Io`] for local file failures. After any failure the previous file is intact.
    ///
    /// ```no_run
    /// # async fn f(s3: lambda_cache_s3::S3Cache) -> Result<(), lambda_cache_s3::Error> {
    /// use lambda_cache_s3::Object;
    /// let file = s3
    ///     .get_entry_with(Object::new("s3://bucket-name/a/config.json").entry_name("a-config.json"), std::time::Duration::from_secs(300))
    ///     .await?;
    /// # let _ = file;
    /// # Ok(()) }
    /// ```
    pub async fn get_entry_with<'a>(
        &self,
        object: impl Into<Object<'a>>,
        policy: impl Into<Policy>,
    ) -> Result<Entry<LocalFile>, Error> {
        let object = object.into();
        let policy = policy.into();
        let entry_name = object.file_name();
        let key = Key::new(SERVICE, object.uri()).variant(entry_name);
        let entry = self
            .cache
            .get_or_fetch(key, policy, |previous| {
                self.download(object, entry_name, previous)
            })
            .await?;
        entry.touch(self.cache.clock().now());
        Ok(entry)
    }

    async fn download(
        &self,
        object: Object<'_>,
        entry_name: &str,
        previous: Option<Entry<LocalFile>>,
    ) -> Result<Fetched<LocalFile>, Error> {
        let uri_text = object.uri();
        let uri = S3Uri::parse(uri_text)?;
        id::check_file_name(uri_text, entry_name)?;
        self.disk.claim(uri_text, entry_name)?;
        let mut request = self.client.get_object().bucket(uri.bucket()).key(uri.key());
        let mut conditional = false;
        if object.checks_before_download()
            && let Some(etag) = previous.as_ref().and_then(|p| p.etag())
            && self.disk.holds(entry_name)
        {
            request = request.if_none_match(etag);
            conditional = true;
        }
        let output = match request.send().await {
            Ok(output) => output,
            Err(err) => return Failure::from_sdk(uri_text, err).settle(uri_text, conditional),
        };
        let etag = Some(etag_of(uri_text, &output)?);
        let expected = output.content_length().and_then(|n| u64::try_from(n).ok());
        if let Some(size) = expected {
            self.make_room(uri_text, entry_name, size)?;
        }
        let dir = self.disk.dir();
        let io = |path: &std::path::Path, err: std::io::Error| Error::Io {
            uri: uri_text.to_owned(),
            path: path.to_owned(),
            message: err.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let mut temp = tempfile::Builder::new()
            .prefix(".lambda-cache-")
            .suffix(".part")
            .tempfile_in(dir)
            .map_err(|e| io(dir, e))?;
        let mut body = output.body;
        let mut received: u64 = 0;
        loop {
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    temp.write_all(&chunk).map_err(|e| io(temp.path(), e))?;
                    received += chunk.len() as u64;
                }
                Ok(None) => break,
                Err(err) => {
                    // The temporary file is deleted when `temp` drops; the target is untouched.
                    return Err(match expected {
                        Some(expected) => Error::Truncated {
                            uri: uri_text.to_owned(),
                            expected,
                            received,
                        },
                        None => Error::Transport {
                            uri: uri_text.to_owned(),
                            message: lambda_cache_core::error_chain(&err),
                        },
                    });
                }
            }
        }
        if let Some(expected) = expected.filter(|e| *e != received) {
            return Err(Error::Truncated {
                uri: uri_text.to_owned(),
                expected,
                received,
            });
        }
        if expected.is_none() {
            self.make_room(uri_text, entry_name, received)?;
        }
        let target = dir.join(entry_name);
        temp.persist(&target).map_err(|e| io(&target, e.error))?;
        let now = self.cache.clock().now();
        let file = self
            .disk
            .stored(uri_text, entry_name, received, etag.clone(), now);
        let validator = Validator::from(etag.as_deref());
        Ok(Fetched::new(file).with_validator(validator))
    }

    /// Makes room on disk, dropping the cache entries of evicted files.
    fn make_room(&self, uri: &str, entry_name: &str, size: u64) -> Result<(), Error> {
        for evicted in self.disk.make_room(uri, entry_name, size)? {
            self.cache
                .invalidate(Key::new(SERVICE, &evicted.uri).variant(&evicted.entry_name));
        }
        Ok(())
    }

    /// A small object's bytes, cached in memory (up to the memory limit, 8 MiB by default) and
    /// revalidated by ETag like files.
    ///
    /// # Errors
    /// As [`S3Cache::get_entry_with`] (no file errors), and [`Error::TooLarge`] above the memory
    /// limit.
    ///
    /// ```no_run
    /// # async fn f(s3: lambda_cache_s3::S3Cache) -> Result<(), lambda_cache_s3::Error> {
    /// let bytes = s3.get_bytes("s3://bucket-name/allow-list.txt", std::time::Duration::from_secs(300)).await?;
    /// println!("{} bytes", bytes.len());
    /// # Ok(()) }
    /// ```
    pub async fn get_bytes(
        &self,
        uri: &str,
        policy: impl Into<Policy>,
    ) -> Result<Entry<Vec<u8>>, Error> {
        let key = Key::new(SERVICE, uri).variant(IN_MEMORY);
        let fetch = |previous: Option<Entry<Vec<u8>>>| async move {
            let parsed = S3Uri::parse(uri)?;
            let mut request = self
                .client
                .get_object()
                .bucket(parsed.bucket())
                .key(parsed.key());
            let mut conditional = false;
            if let Some(etag) = previous.as_ref().and_then(|p| p.validator().token()) {
                request = request.if_none_match(etag);
                conditional = true;
            }
            let output = match request.send().await {
                Ok(output) => output,
                Err(err) => return Failure::from_sdk(uri, err).settle(uri, conditional),
            };
            let size = output
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0);
            if size > self.memory_limit {
                return Err(Error::TooLarge {
                    uri: uri.to_owned(),
                    size,
                    budget: self.memory_limit,
                });
            }
            let etag = Some(etag_of(uri, &output)?);
            let bytes = output
                .body
                .collect()
                .await
                .map_err(|err| Error::Transport {
                    uri: uri.to_owned(),
                    message: lambda_cache_core::error_chain(&err),
                })?
                .to_vec();
            let weight = bytes.len() as u64;
            let validator = Validator::from(etag.as_deref());
            Ok(Fetched::new(bytes)
                .with_validator(validator)
                .with_weight(weight))
        };
        // With the `shared` feature, through the cache's shared tier if it has one (objects up
        // to the tier's record limit).
        #[cfg(feature = "shared")]
        let read = self.cache.get_or_fetch_shared(key, policy, fetch);
        #[cfg(not(feature = "shared"))]
        let read = self.cache.get_or_fetch(key, policy, fetch);
        read.await
    }

    /// A small JSON object decoded into `T`, cached decoded (no parsing on a hit) apart from its
    /// bytes (a derived value, see [`Cache::get_derived`]) and as old as they are; the bytes come
    /// through [`S3Cache::get_bytes`] with the same policy.
    ///
    /// # Errors
    /// As [`S3Cache::get_bytes`], and [`Error::Decode`] when the object is not JSON for `T`.
    ///
    /// ```no_run
    /// # async fn f(s3: lambda_cache_s3::S3Cache) -> Result<(), lambda_cache_s3::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct Status { status: String }
    /// let s = s3.get_json::<Status>("s3://bucket-name/path/to/object.json", std::time::Duration::from_secs(60)).await?;
    /// println!("{}", s.status);
    /// # Ok(()) }
    /// ```
    pub async fn get_json<T>(&self, uri: &str, policy: impl Into<Policy>) -> Result<Entry<T>, Error>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.cache
            .get_derived(
                Key::new(SERVICE, uri).variant(IN_MEMORY),
                policy,
                |policy| self.get_bytes(uri, policy),
                |bytes: &Vec<u8>| {
                    decode_json::<T>(bytes).map_err(|err| Error::Decode {
                        uri: uri.to_owned(),
                        message: err.to_string(),
                    })
                },
            )
            .await
    }
}

/// The object as a local file through the process-wide [`S3Cache::global`] (`/tmp/<last key
/// segment>`), revalidated after 60 seconds.
///
/// # Errors
/// As [`S3Cache::get_entry_with`].
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// lambda_cache_s3::get_entry("s3://bucket-name/path/to/object.json").await?;
/// let text = std::fs::read_to_string("/tmp/object.json")?;
/// # let _ = text;
/// # Ok(()) }
/// ```
pub async fn get_entry<'a>(object: impl Into<Object<'a>>) -> Result<Entry<LocalFile>, Error> {
    S3Cache::global().await.get_entry(object).await
}

/// Several objects as local files through the process-wide cache. See [`S3Cache::get_many`].
///
/// ```no_run
/// # async fn f() {
/// let files = lambda_cache_s3::get_many(["s3://bucket/a.json"], std::time::Duration::from_secs(300)).await;
/// # let _ = files;
/// # }
/// ```
pub async fn get_many<'a, I>(
    objects: I,
    policy: impl Into<Policy>,
) -> Vec<Result<Entry<LocalFile>, Error>>
where
    I: IntoIterator,
    I::Item: Into<Object<'a>>,
{
    S3Cache::global().await.get_many(objects, policy).await
}

/// The default maximum age of this crate's reads.
pub const DEFAULT_MAX_AGE: std::time::Duration = Policy::DEFAULT_MAX_AGE;

/// The object as a local file through the process-wide cache, with an [`Object`] (entry name,
/// check before download) and a policy or max age. See [`S3Cache::get_entry_with`].
///
/// # Errors
/// As [`S3Cache::get_entry_with`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_s3::Error> {
/// let file = lambda_cache_s3::get_entry_with(
///     "s3://bucket-name/path/to/object.json", std::time::Duration::from_secs(300)).await?;
/// # let _ = file;
/// # Ok(()) }
/// ```
pub async fn get_entry_with<'a>(
    object: impl Into<Object<'a>>,
    policy: impl Into<Policy>,
) -> Result<Entry<LocalFile>, Error> {
    S3Cache::global().await.get_entry_with(object, policy).await
}

/// A small object's bytes in memory through the process-wide cache. See
/// [`S3Cache::get_bytes`].
///
/// # Errors
/// As [`S3Cache::get_bytes`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_s3::Error> {
/// let bytes = lambda_cache_s3::get_bytes("s3://bucket-name/small.bin", std::time::Duration::from_secs(60)).await?;
/// # let _ = bytes;
/// # Ok(()) }
/// ```
pub async fn get_bytes(uri: &str, policy: impl Into<Policy>) -> Result<Entry<Vec<u8>>, Error> {
    S3Cache::global().await.get_bytes(uri, policy).await
}

/// A small JSON object decoded into `T` through the process-wide cache. See
/// [`S3Cache::get_json`].
///
/// # Errors
/// As [`S3Cache::get_json`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_s3::Error> {
/// let v = lambda_cache_s3::get_json::<serde_json::Value>("s3://bucket-name/o.json", std::time::Duration::from_secs(60)).await?;
/// # let _ = v;
/// # Ok(()) }
/// ```
pub async fn get_json<T>(uri: &str, policy: impl Into<Policy>) -> Result<Entry<T>, Error>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    S3Cache::global().await.get_json(uri, policy).await
}

/// The ETag S3 sends with every object. An answer without one is not S3's (a proxy's page, a
/// captive portal's login form) and is never stored as the object.
fn etag_of(
    uri: &str,
    output: &aws_sdk_s3::operation::get_object::GetObjectOutput,
) -> Result<String, Error> {
    output
        .e_tag()
        .filter(|etag| !etag.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| Error::Transport {
            uri: uri.to_owned(),
            message: lambda_cache_aws::AwsError::unreadable(200, "it has no ETag").message,
        })
}

// This crate's README (its crates.io page): its examples run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
