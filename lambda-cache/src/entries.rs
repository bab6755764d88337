//! Declared entries, refreshed together when an invocation starts and handed to the handler.
//!
//! The Rust form of the seed guide's decorators: declare each cached value once, with its own
//! max age and entry name; [`Entries::refresh`] brings the stale ones up to date concurrently
//! (every SSM name of every declaration in one batch of ⌈K/10⌉ GetParameters calls) and returns
//! a [`Snapshot`] from which the handler reads by entry name. The snapshot does not change while
//! the invocation runs.
//!
//! Declaration mistakes (a duplicate entry name, a bad parameter name, a bad URI, two URIs on one
//! file) fail [`EntriesBuilder::build`], before the first invocation.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lambda_cache_core::{Cache, CacheError, Entry, Fetched, Key, Policy, join_all};

#[cfg(feature = "s3")]
use crate::s3;
#[cfg(feature = "secrets")]
use crate::secrets_manager;
#[cfg(feature = "ssm")]
use crate::ssm;

/// How one entry is cached: its entry name (else a default from its name), its [`Policy`], and
/// for S3 files whether a refresh revalidates first. Converts from a `Duration` (the max age).
///
/// ```
/// use std::time::Duration;
/// use lambda_cache::entries::Options;
/// let options = Options::new().entry_name("new_var").max_age(Duration::from_secs(300));
/// let just_age: Options = Duration::from_secs(30).into();
/// # let _ = (options, just_age);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Options {
    entry_name: Option<String>,
    policy: Policy,
    check_before_download: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            entry_name: None,
            policy: Policy::default(),
            check_before_download: true,
        }
    }
}

impl Options {
    /// Defaults: the default entry name, a 60-second max age, revalidation on.
    ///
    /// ```
    /// let options = lambda_cache::entries::Options::new();
    /// # let _ = options;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The name the handler reads the entry by.
    ///
    /// ```
    /// let options = lambda_cache::entries::Options::new().entry_name("db");
    /// # let _ = options;
    /// ```
    pub fn entry_name(mut self, entry_name: impl Into<String>) -> Self {
        self.entry_name = Some(entry_name.into());
        self
    }

    /// The maximum age.
    ///
    /// ```
    /// let options = lambda_cache::entries::Options::new().max_age(std::time::Duration::from_secs(300));
    /// # let _ = options;
    /// ```
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.policy = self.policy.with_max_age(max_age);
        self
    }

    /// Serve the previous value when a refresh fails transiently and the value is at most
    /// `max_stale` old.
    ///
    /// ```
    /// let options = lambda_cache::entries::Options::new().stale_if_error(std::time::Duration::from_secs(3600));
    /// # let _ = options;
    /// ```
    pub fn stale_if_error(mut self, max_stale: Duration) -> Self {
        self.policy = self.policy.stale_if_error(max_stale);
        self
    }

    /// The whole policy.
    ///
    /// ```
    /// let options = lambda_cache::entries::Options::new().policy(lambda_cache::Policy::default());
    /// # let _ = options;
    /// ```
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// For S3 files: whether a refresh first asks S3 if the object changed (on by default).
    ///
    /// ```
    /// let options = lambda_cache::entries::Options::new().check_before_download(false);
    /// # let _ = options;
    /// ```
    pub fn check_before_download(mut self, check: bool) -> Self {
        self.check_before_download = check;
        self
    }
}

impl From<Duration> for Options {
    fn from(max_age: Duration) -> Self {
        Self::new().max_age(max_age)
    }
}

/// A loader's error, shared by concurrent waiters; counts as transient.
#[derive(Clone, Debug)]
pub struct LoaderError(Arc<dyn std::error::Error + Send + Sync>);

impl fmt::Display for LoaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for LoaderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl CacheError for LoaderError {
    fn is_transient(&self) -> bool {
        true
    }
}

/// Why declaring, refreshing or reading an entry failed. Each variant names the entry.
///
/// ```
/// let err = lambda_cache::entries::Error::NoSuchEntry { entry_name: "db".into() };
/// assert_eq!(err.to_string(), "no entry is declared with the name \"db\"");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// Two declarations share an entry name.
    DuplicateEntryName {
        /// The name.
        entry_name: String,
    },
    /// A declaration's entry name is empty.
    EmptyEntryName,
    /// The handler asked for a name no declaration has.
    NoSuchEntry {
        /// The name.
        entry_name: String,
    },
    /// The handler asked for an entry as another kind than declared.
    WrongKind {
        /// The name.
        entry_name: String,
        /// The kind asked for.
        expected: &'static str,
    },
    /// An SSM declaration or refresh failed.
    #[cfg(feature = "ssm")]
    Ssm {
        /// The entry.
        entry_name: String,
        /// Why.
        source: ssm::Error,
    },
    /// A secret declaration or refresh failed.
    #[cfg(feature = "secrets")]
    Secrets {
        /// The entry.
        entry_name: String,
        /// Why.
        source: secrets_manager::Error,
    },
    /// An S3 declaration or refresh failed.
    #[cfg(feature = "s3")]
    S3 {
        /// The entry.
        entry_name: String,
        /// Why.
        source: s3::Error,
    },
    /// A loader failed.
    Load {
        /// The entry.
        entry_name: String,
        /// Why.
        source: LoaderError,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateEntryName { entry_name } => write!(
                f,
                "two declarations share the entry name {entry_name:?}: give one an entry_name"
            ),
            Self::EmptyEntryName => {
                f.write_str("an entry name is empty: give each declaration a non-empty entry_name")
            }
            Self::NoSuchEntry { entry_name } => {
                write!(f, "no entry is declared with the name {entry_name:?}")
            }
            Self::WrongKind {
                entry_name,
                expected,
            } => write!(f, "entry {entry_name:?} is not {expected}"),
            #[cfg(feature = "ssm")]
            Self::Ssm { entry_name, source } => write!(f, "entry {entry_name:?}: {source}"),
            #[cfg(feature = "secrets")]
            Self::Secrets { entry_name, source } => write!(f, "entry {entry_name:?}: {source}"),
            #[cfg(feature = "s3")]
            Self::S3 { entry_name, source } => write!(f, "entry {entry_name:?}: {source}"),
            Self::Load { entry_name, source } => write!(f, "entry {entry_name:?}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            #[cfg(feature = "ssm")]
            Self::Ssm { source, .. } => Some(source),
            #[cfg(feature = "secrets")]
            Self::Secrets { source, .. } => Some(source),
            #[cfg(feature = "s3")]
            Self::S3 { source, .. } => Some(source),
            Self::Load { source, .. } => Some(source),
            _ => None,
        }
    }
}

type Erased = Arc<dyn Any + Send + Sync>;
type LoadFuture = Pin<Box<dyn Future<Output = Result<Erased, LoaderError>> + Send>>;
type Loader = Arc<dyn Fn() -> LoadFuture + Send + Sync>;
/// Part of a refresh: the outcomes of some declarations, by index.
type Part<'a> = Pin<Box<dyn Future<Output = Vec<(usize, Result<Slot, Error>)>> + Send + 'a>>;

/// One declaration.
enum Source {
    #[cfg(feature = "ssm")]
    Ssm(ssm::Request),
    #[cfg(feature = "secrets")]
    Secret {
        name: String,
        version: SecretVersion,
    },
    #[cfg(feature = "s3")]
    File {
        uri: String,
        file_name: String,
        check_before_download: bool,
    },
    Load(Loader),
}

#[cfg(feature = "secrets")]
#[derive(Clone)]
enum SecretVersion {
    Stage(String),
    Id(String),
}

struct Declared {
    entry_name: String,
    policy: Policy,
    source: Source,
}

/// Declares entries; start from [`Entries::builder`].
#[must_use]
pub struct EntriesBuilder {
    declared: Vec<Declared>,
    error: Option<Error>,
    cache: Option<Cache>,
    #[cfg(feature = "ssm")]
    ssm: Option<ssm::SsmCache>,
    #[cfg(feature = "secrets")]
    secrets: Option<secrets_manager::SecretsCache>,
    #[cfg(feature = "s3")]
    s3: Option<s3::S3Cache>,
}

/// Declared entries, ready to refresh at each invocation. Cloning is cheap.
///
/// ```no_run
/// # #[cfg(all(feature = "ssm", feature = "secrets"))]
/// # async fn f() -> Result<(), lambda_cache::entries::Error> {
/// use std::time::Duration;
/// use lambda_cache::entries::{Entries, Options};
///
/// let entries = Entries::builder()
///     .parameter("/production/app/var1", Duration::from_secs(30))
///     .parameter("/production/app/var2", Options::new().entry_name("new_var").max_age(Duration::from_secs(60)))
///     .secret("/prod/db/conn_string", Duration::from_secs(300))
///     .build()?;
/// // At the start of each invocation:
/// let cached = entries.refresh().await?;
/// let var1 = cached.parameter("var1")?;
/// let var2 = cached.parameter("new_var")?;
/// let conn = cached.secret("conn_string")?;
/// # let _ = (var1, var2, conn);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Entries {
    inner: Arc<Inner>,
}

struct Inner {
    declared: Vec<Declared>,
    index: Arc<HashMap<String, usize>>,
    cache: Cache,
    /// Distinguishes this set's loader keys from any other's in a shared cache.
    id: String,
    #[cfg(feature = "ssm")]
    ssm: Option<ssm::SsmCache>,
    #[cfg(feature = "secrets")]
    secrets: Option<secrets_manager::SecretsCache>,
    #[cfg(feature = "s3")]
    s3: Option<s3::S3Cache>,
}

impl fmt::Debug for Entries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.inner.index.keys().collect();
        names.sort();
        f.debug_struct("Entries")
            .field("entry_names", &names)
            .finish_non_exhaustive()
    }
}

impl Entries {
    /// Starts declaring entries. Without further settings they use the process-wide cache and
    /// the service crates' clients built from the environment.
    ///
    /// ```
    /// let entries = lambda_cache::entries::Entries::builder().build().unwrap();
    /// assert!(entries.is_empty());
    /// ```
    pub fn builder() -> EntriesBuilder {
        EntriesBuilder {
            declared: Vec::new(),
            error: None,
            cache: None,
            #[cfg(feature = "ssm")]
            ssm: None,
            #[cfg(feature = "secrets")]
            secrets: None,
            #[cfg(feature = "s3")]
            s3: None,
        }
    }

    /// How many entries are declared.
    ///
    /// ```
    /// assert_eq!(lambda_cache::entries::Entries::builder().build().unwrap().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.declared.len()
    }

    /// True if no entry is declared.
    ///
    /// ```
    /// assert!(lambda_cache::entries::Entries::builder().build().unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.declared.is_empty()
    }

    /// Brings every stale entry up to date and returns the values of all of them.
    ///
    /// Fresh entries cost nothing. Stale ones are refreshed concurrently: all SSM names of all
    /// stale parameter and list declarations in ⌈K/10⌉ GetParameters calls, and each secret,
    /// file, path and loader on its own. A failure follows the entry's policy: stale-if-error
    /// serves the previous value; otherwise this returns the error, naming the entry.
    ///
    /// # Errors
    /// The first entry that could not be refreshed, as [`Error`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// let entries = lambda_cache::entries::Entries::builder()
    ///     .load("rates", Duration::from_secs(300), || async { Ok::<_, std::io::Error>(1.08_f64) })
    ///     .build()?;
    /// let cached = entries.refresh().await?;
    /// assert_eq!(*cached.get::<f64>("rates")?, 1.08);
    /// # Ok::<(), lambda_cache::entries::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn refresh(&self) -> Result<Snapshot, Error> {
        let inner = &*self.inner;
        let mut parts: Vec<Part<'_>> = Vec::new();
        #[cfg(feature = "ssm")]
        {
            let ssm_decls: Vec<(usize, ssm::Request, Policy)> = inner
                .declared
                .iter()
                .enumerate()
                .filter_map(|(i, d)| match &d.source {
                    Source::Ssm(request) => Some((i, request.clone(), d.policy)),
                    _ => None,
                })
                .collect();
            if !ssm_decls.is_empty() {
                parts.push(Box::pin(async move {
                    let client = match &inner.ssm {
                        Some(ssm) => ssm,
                        None => ssm::SsmCache::global().await,
                    };
                    let requests: Vec<(ssm::Request, Policy)> =
                        ssm_decls.iter().map(|(_, r, p)| (r.clone(), *p)).collect();
                    let reads = client.read_all(&requests).await;
                    ssm_decls
                        .iter()
                        .zip(reads)
                        .map(|((i, _, _), read)| {
                            let slot = read
                                .map(|read| match read {
                                    ssm::Read::Value(entry) => Slot::Parameter(entry),
                                    ssm::Read::Map(entry) => Slot::Parameters(entry),
                                })
                                .map_err(|source| Error::Ssm {
                                    entry_name: inner.declared[*i].entry_name.clone(),
                                    source,
                                });
                            (*i, slot)
                        })
                        .collect()
                }));
            }
        }
        for (i, declared) in inner.declared.iter().enumerate() {
            let policy = declared.policy;
            let entry_name = &declared.entry_name;
            match &declared.source {
                #[cfg(feature = "ssm")]
                Source::Ssm(_) => {}
                #[cfg(feature = "secrets")]
                Source::Secret { name, version } => parts.push(Box::pin(async move {
                    let secrets = match &inner.secrets {
                        Some(secrets) => secrets,
                        None => secrets_manager::SecretsCache::global().await,
                    };
                    let id = secrets_manager::SecretId::new(name);
                    let id = match version {
                        SecretVersion::Stage(stage) => id.stage(stage),
                        SecretVersion::Id(version_id) => id.version_id(version_id),
                    };
                    let read = secrets.get_entry_with(id, policy).await;
                    vec![(
                        i,
                        read.map(Slot::Secret).map_err(|source| Error::Secrets {
                            entry_name: entry_name.clone(),
                            source,
                        }),
                    )]
                })),
                #[cfg(feature = "s3")]
                Source::File {
                    uri,
                    file_name,
                    check_before_download,
                } => parts.push(Box::pin(async move {
                    let s3 = match &inner.s3 {
                        Some(s3) => s3,
                        None => s3::S3Cache::global().await,
                    };
                    let object = s3::Object::new(uri)
                        .entry_name(file_name)
                        .check_before_download(*check_before_download);
                    let read = s3.get_entry_with(object, policy).await;
                    vec![(
                        i,
                        read.map(Slot::File).map_err(|source| Error::S3 {
                            entry_name: entry_name.clone(),
                            source,
                        }),
                    )]
                })),
                Source::Load(loader) => parts.push(Box::pin(async move {
                    let key = Key::new(LOADER_SERVICE, entry_name).variant(&inner.id);
                    let read =
                        inner
                            .cache
                            .get_or_fetch(key, policy, |_| async move {
                                loader().await.map(Fetched::new)
                            })
                            .await;
                    vec![(
                        i,
                        read.map(Slot::Value).map_err(|source| Error::Load {
                            entry_name: entry_name.clone(),
                            source,
                        }),
                    )]
                })),
            }
        }
        let mut slots: Vec<Option<Slot>> = (0..inner.declared.len()).map(|_| None).collect();
        for (i, outcome) in join_all(parts).await.into_iter().flatten() {
            slots[i] = Some(outcome?);
        }
        Ok(Snapshot {
            slots: slots.into_iter().flatten().collect(),
            index: Arc::clone(&inner.index),
        })
    }
}

/// The service part of loader entries' keys.
const LOADER_SERVICE: &str = "entries";

impl EntriesBuilder {
    fn add(mut self, entry_name: String, policy: Policy, source: Result<Source, Error>) -> Self {
        if self.error.is_some() {
            return self;
        }
        match source {
            Ok(source) => self.declared.push(Declared {
                entry_name,
                policy,
                source,
            }),
            Err(err) => self.error = Some(err),
        }
        self
    }

    /// The cache for loader entries (default: the process-wide one).
    ///
    /// ```
    /// let builder = lambda_cache::entries::Entries::builder().cache(lambda_cache::Cache::builder().build().unwrap());
    /// # let _ = builder;
    /// ```
    pub fn cache(mut self, cache: Cache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Declares a generic entry: the value of `load()`, cached under `entry_name`.
    ///
    /// ```
    /// let builder = lambda_cache::entries::Entries::builder()
    ///     .load("users", std::time::Duration::from_secs(60), || async { Ok::<_, std::io::Error>(vec!["ada"]) });
    /// # let _ = builder;
    /// ```
    pub fn load<T, E, F, Fut>(
        self,
        entry_name: impl Into<String>,
        options: impl Into<Options>,
        load: F,
    ) -> Self
    where
        T: Send + Sync + 'static,
        E: std::error::Error + Send + Sync + 'static,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let options = options.into();
        let entry_name = options.entry_name.unwrap_or_else(|| entry_name.into());
        let load = Arc::new(load);
        let loader: Loader = Arc::new(move || {
            let load = Arc::clone(&load);
            Box::pin(async move {
                load()
                    .await
                    .map(|value| Arc::new(value) as Erased)
                    .map_err(|err| LoaderError(Arc::new(err)))
            })
        });
        self.add(entry_name, options.policy, Ok(Source::Load(loader)))
    }

    /// Checks the declarations and builds the entries.
    ///
    /// # Errors
    /// The first declaration at fault: an empty or duplicate entry name, a malformed name or
    /// URI, or two URIs cached as one file.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache::entries::{Entries, Error};
    /// let load = || async { Ok::<_, std::io::Error>(1) };
    /// let err = Entries::builder()
    ///     .load("a", Duration::from_secs(60), load)
    ///     .load("a", Duration::from_secs(60), load)
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::DuplicateEntryName { entry_name } if entry_name == "a"));
    /// ```
    pub fn build(self) -> Result<Entries, Error> {
        if let Some(err) = self.error {
            return Err(err);
        }
        let mut index = HashMap::with_capacity(self.declared.len());
        for (i, declared) in self.declared.iter().enumerate() {
            if declared.entry_name.is_empty() {
                return Err(Error::EmptyEntryName);
            }
            if index.insert(declared.entry_name.clone(), i).is_some() {
                return Err(Error::DuplicateEntryName {
                    entry_name: declared.entry_name.clone(),
                });
            }
        }
        #[cfg(feature = "s3")]
        {
            let mut files: HashMap<&str, &str> = HashMap::new();
            for declared in &self.declared {
                if let Source::File { uri, file_name, .. } = &declared.source
                    && let Some(holder) = files.insert(file_name, uri)
                    && holder != uri
                {
                    return Err(Error::S3 {
                        entry_name: declared.entry_name.clone(),
                        source: s3::Error::FileConflict {
                            path: std::path::PathBuf::from(file_name),
                            holder: holder.to_owned(),
                            uri: uri.clone(),
                        },
                    });
                }
            }
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Ok(Entries {
            inner: Arc::new(Inner {
                declared: self.declared,
                index: Arc::new(index),
                cache: self.cache.unwrap_or_else(|| Cache::global().clone()),
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed).to_string(),
                #[cfg(feature = "ssm")]
                ssm: self.ssm,
                #[cfg(feature = "secrets")]
                secrets: self.secrets,
                #[cfg(feature = "s3")]
                s3: self.s3,
            }),
        })
    }
}

#[cfg(feature = "ssm")]
impl EntriesBuilder {
    /// The SSM client and cache (default: [`ssm::SsmCache::global`]).
    ///
    /// ```no_run
    /// # async fn f() {
    /// let builder = lambda_cache::entries::Entries::builder().ssm_cache(lambda_cache::ssm::SsmCache::global().await.clone());
    /// # let _ = builder;
    /// # }
    /// ```
    pub fn ssm_cache(mut self, ssm: ssm::SsmCache) -> Self {
        self.ssm = Some(ssm);
        self
    }

    /// Declares one SSM parameter (name, path, selector or ARN); its entry name defaults to the
    /// part after the last '/'.
    ///
    /// ```
    /// let entries = lambda_cache::entries::Entries::builder()
    ///     .parameter("/production/app/var", std::time::Duration::from_secs(300))
    ///     .build()
    ///     .unwrap();
    /// # let _ = entries;
    /// ```
    pub fn parameter(self, name: &str, options: impl Into<Options>) -> Self {
        let options = options.into();
        let entry_name = options
            .entry_name
            .unwrap_or_else(|| ssm::short_name(name).to_owned());
        let source = ssm::Request::parameter(name)
            .map(Source::Ssm)
            .map_err(|source| Error::Ssm {
                entry_name: entry_name.clone(),
                source,
            });
        self.add(entry_name, options.policy, source)
    }

    /// Declares a list of SSM parameters read into one map under the list's entry name.
    ///
    /// ```
    /// use lambda_cache::ssm::Parameters;
    /// let list = Parameters::builder(["/app/var1", "/app/var2"]).entry_name("parameters").build().unwrap();
    /// let entries = lambda_cache::entries::Entries::builder()
    ///     .parameters(list, std::time::Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// # let _ = entries;
    /// ```
    pub fn parameters(self, list: ssm::Parameters, policy: impl Into<Policy>) -> Self {
        let entry_name = list.entry_name().to_owned();
        self.add(
            entry_name,
            policy.into(),
            Ok(Source::Ssm(ssm::Request::List(list))),
        )
    }

    /// Declares every parameter under an SSM path, as one map by full name; its entry name
    /// defaults to the path's last segment.
    ///
    /// ```
    /// let entries = lambda_cache::entries::Entries::builder()
    ///     .path("/production/app/", std::time::Duration::from_secs(300))
    ///     .build()
    ///     .unwrap();
    /// # let _ = entries;
    /// ```
    pub fn path(self, path: &str, options: impl Into<Options>) -> Self {
        let options = options.into();
        let request = ssm::Request::path(path);
        let entry_name = options
            .entry_name
            .clone()
            .unwrap_or_else(|| match &request {
                Ok(request) => request.default_entry_name().to_owned(),
                Err(_) => path.to_owned(),
            });
        let source = request.map(Source::Ssm).map_err(|source| Error::Ssm {
            entry_name: entry_name.clone(),
            source,
        });
        self.add(entry_name, options.policy, source)
    }
}

#[cfg(feature = "secrets")]
impl EntriesBuilder {
    /// The Secrets Manager client and cache (default: the process-wide one).
    ///
    /// ```no_run
    /// # async fn f() {
    /// let secrets = lambda_cache::secrets_manager::SecretsCache::global().await.clone();
    /// let builder = lambda_cache::entries::Entries::builder().secrets_cache(secrets);
    /// # let _ = builder;
    /// # }
    /// ```
    pub fn secrets_cache(mut self, secrets: secrets_manager::SecretsCache) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Declares a secret (a name or ARN, or a [`secrets_manager::SecretId`] naming a version);
    /// its entry name defaults to the part after the last '/'.
    ///
    /// ```
    /// use lambda_cache::secrets_manager::SecretId;
    /// let entries = lambda_cache::entries::Entries::builder()
    ///     .secret("/prod/db/conn_string", std::time::Duration::from_secs(300))
    ///     .secret(SecretId::new("/prod/db/conn_string").previous(), lambda_cache::entries::Options::new().entry_name("old_conn"))
    ///     .build()
    ///     .unwrap();
    /// # let _ = entries;
    /// ```
    pub fn secret<'a>(
        self,
        secret: impl Into<secrets_manager::SecretId<'a>>,
        options: impl Into<Options>,
    ) -> Self {
        let id = secret.into();
        let options = options.into();
        let entry_name = options
            .entry_name
            .unwrap_or_else(|| secrets_manager::short_name(id.name()).to_owned());
        let source = id
            .check()
            .map(|()| Source::Secret {
                name: id.name().to_owned(),
                version: match id.version() {
                    secrets_manager::Version::Stage(stage) => {
                        SecretVersion::Stage(stage.to_owned())
                    }
                    secrets_manager::Version::Id(version_id) => {
                        SecretVersion::Id(version_id.to_owned())
                    }
                },
            })
            .map_err(|source| Error::Secrets {
                entry_name: entry_name.clone(),
                source,
            });
        self.add(entry_name, options.policy, source)
    }
}

#[cfg(feature = "s3")]
impl EntriesBuilder {
    /// The S3 client, cache and directory (default: the process-wide one, in `/tmp`).
    ///
    /// ```no_run
    /// # async fn f() {
    /// let builder = lambda_cache::entries::Entries::builder().s3_cache(lambda_cache::s3::S3Cache::global().await.clone());
    /// # let _ = builder;
    /// # }
    /// ```
    pub fn s3_cache(mut self, s3: s3::S3Cache) -> Self {
        self.s3 = Some(s3);
        self
    }

    /// Declares an S3 object cached as a file; its entry name (and file name) defaults to the
    /// key's last segment.
    ///
    /// ```
    /// let entries = lambda_cache::entries::Entries::builder()
    ///     .file("s3://bucket-name/path/to/object.json", std::time::Duration::from_secs(300))
    ///     .build()
    ///     .unwrap();
    /// # let _ = entries;
    /// ```
    pub fn file(self, uri: &str, options: impl Into<Options>) -> Self {
        let options = options.into();
        let mut object = s3::Object::new(uri).check_before_download(options.check_before_download);
        if let Some(name) = &options.entry_name {
            object = object.entry_name(name);
        }
        let entry_name = object.file_name().to_owned();
        let source = object
            .check()
            .map(|()| Source::File {
                uri: uri.to_owned(),
                file_name: entry_name.clone(),
                check_before_download: options.check_before_download,
            })
            .map_err(|source| Error::S3 {
                entry_name: entry_name.clone(),
                source,
            });
        self.add(entry_name, options.policy, source)
    }
}

/// One refreshed value.
#[derive(Clone)]
enum Slot {
    #[cfg(feature = "ssm")]
    Parameter(Entry<ssm::Value>),
    #[cfg(feature = "ssm")]
    Parameters(Entry<ssm::ParameterMap>),
    #[cfg(feature = "secrets")]
    Secret(Entry<secrets_manager::Secret>),
    #[cfg(feature = "s3")]
    File(Entry<s3::LocalFile>),
    Value(Entry<Erased>),
}

/// The values of all declared entries as of the start of an invocation. They do not change
/// while the handler runs, whatever other invocations refresh meanwhile. Cloning is cheap.
#[derive(Clone)]
pub struct Snapshot {
    slots: Arc<[Slot]>,
    index: Arc<HashMap<String, usize>>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.index.keys().collect();
        names.sort();
        f.debug_struct("Snapshot")
            .field("entry_names", &names)
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    fn slot(&self, entry_name: &str) -> Result<&Slot, Error> {
        self.index
            .get(entry_name)
            .and_then(|i| self.slots.get(*i))
            .ok_or_else(|| Error::NoSuchEntry {
                entry_name: entry_name.to_owned(),
            })
    }

    fn wrong(entry_name: &str, expected: &'static str) -> Error {
        Error::WrongKind {
            entry_name: entry_name.to_owned(),
            expected,
        }
    }

    /// A loader's value.
    ///
    /// # Errors
    /// [`Error::NoSuchEntry`], or [`Error::WrongKind`] if the entry is not a loader's `T`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let entries = lambda_cache::entries::Entries::builder()
    ///     .load("n", std::time::Duration::from_secs(60), || async { Ok::<_, std::io::Error>(7_u32) })
    ///     .build()?;
    /// let cached = entries.refresh().await?;
    /// assert_eq!(*cached.get::<u32>("n")?, 7);
    /// assert!(cached.get::<String>("n").is_err());
    /// # Ok::<(), lambda_cache::entries::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn get<T: Send + Sync + 'static>(&self, entry_name: &str) -> Result<&T, Error> {
        match self.slot(entry_name)? {
            Slot::Value(entry) => entry
                .value()
                .downcast_ref::<T>()
                .ok_or_else(|| Self::wrong(entry_name, std::any::type_name::<T>())),
            #[allow(unreachable_patterns)]
            _ => Err(Self::wrong(entry_name, "a loader's value")),
        }
    }
}

#[cfg(feature = "ssm")]
impl Snapshot {
    /// A single SSM parameter's value.
    ///
    /// # Errors
    /// [`Error::NoSuchEntry`], or [`Error::WrongKind`] if the entry is not a single parameter.
    ///
    /// ```no_run
    /// # async fn f(cached: lambda_cache::entries::Snapshot) -> Result<(), lambda_cache::entries::Error> {
    /// let var = cached.parameter("var")?.as_str();
    /// # let _ = var;
    /// # Ok(()) }
    /// ```
    pub fn parameter(&self, entry_name: &str) -> Result<&ssm::Value, Error> {
        match self.slot(entry_name)? {
            Slot::Parameter(entry) => Ok(entry.value()),
            _ => Err(Self::wrong(entry_name, "an SSM parameter")),
        }
    }

    /// An SSM list's map (by short name) or path's map (by full name).
    ///
    /// # Errors
    /// [`Error::NoSuchEntry`], or [`Error::WrongKind`] if the entry is not a list or path.
    ///
    /// ```no_run
    /// # async fn f(cached: lambda_cache::entries::Snapshot) -> Result<(), lambda_cache::entries::Error> {
    /// let var1 = cached.parameters("parameters")?.get("var1");
    /// # let _ = var1;
    /// # Ok(()) }
    /// ```
    pub fn parameters(&self, entry_name: &str) -> Result<&ssm::ParameterMap, Error> {
        match self.slot(entry_name)? {
            Slot::Parameters(entry) => Ok(entry.value()),
            _ => Err(Self::wrong(entry_name, "an SSM list or path")),
        }
    }
}

#[cfg(feature = "secrets")]
impl Snapshot {
    /// A secret.
    ///
    /// # Errors
    /// [`Error::NoSuchEntry`], or [`Error::WrongKind`] if the entry is not a secret.
    ///
    /// ```no_run
    /// # async fn f(cached: lambda_cache::entries::Snapshot) -> Result<(), lambda_cache::entries::Error> {
    /// let conn = cached.secret("conn_string")?.as_str();
    /// # let _ = conn;
    /// # Ok(()) }
    /// ```
    pub fn secret(&self, entry_name: &str) -> Result<&secrets_manager::Secret, Error> {
        match self.slot(entry_name)? {
            Slot::Secret(entry) => Ok(entry.value()),
            _ => Err(Self::wrong(entry_name, "a secret")),
        }
    }
}

#[cfg(feature = "s3")]
impl Snapshot {
    /// An S3 object's local file.
    ///
    /// # Errors
    /// [`Error::NoSuchEntry`], or [`Error::WrongKind`] if the entry is not a file.
    ///
    /// ```no_run
    /// # async fn f(cached: lambda_cache::entries::Snapshot) -> Result<(), lambda_cache::entries::Error> {
    /// let path = cached.file("object.json")?.path();
    /// # let _ = path;
    /// # Ok(()) }
    /// ```
    pub fn file(&self, entry_name: &str) -> Result<&s3::LocalFile, Error> {
        match self.slot(entry_name)? {
            Slot::File(entry) => Ok(entry.value()),
            _ => Err(Self::wrong(entry_name, "an S3 file")),
        }
    }
}
