//! Declared entries, refreshed together when an invocation starts and handed to the handler.
//!
//! The Rust form of the seed guide's decorators: declare each cached value once, with its own
//! max age and entry name; [`Entries::refresh`] brings the stale ones up to date concurrently
//! and returns a [`Snapshot`] from which the handler reads by entry name. The snapshot does not
//! change while the invocation runs.
//!
//! This module knows no service. Each service crate declares its own entries (`ssm::parameter`,
//! `secrets::secret`, `s3::file`, ...) by implementing [`Declaration`]; the declarations
//! of one type are refreshed in one batch, so a service that can batch does (every SSM name of
//! every declaration in ⌈K/10⌉ GetParameters calls).
//!
//! Declaration mistakes (an empty or duplicate entry name, a bad parameter name, a bad URI, two
//! URIs on one file) fail [`EntriesBuilder::build`], before the first invocation, each naming
//! the input as declared.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use lambda_cache_core::{AnyValue, BoxFuture, Declaration, Declare};
use lambda_cache_core::{Cache, CacheError, Fetched, Key, Policy, join_all, refresh_each};

/// A service's error, shared by every reader of one refresh. The typed error is inside: read it
/// with [`SourceError::downcast_ref`].
///
/// ```
/// use lambda_cache::entries::SourceError;
/// use lambda_cache::{CacheError, LoadError};
/// let err = SourceError::new(LoadError::new(std::io::Error::other("down")));
/// assert!(err.is_transient());
/// assert!(err.downcast_ref::<LoadError<std::io::Error>>().is_some());
/// assert_eq!(err.to_string(), "down");
/// ```
#[derive(Clone)]
pub struct SourceError {
    inner: Arc<dyn std::error::Error + Send + Sync>,
    transient: bool,
}

impl SourceError {
    /// Wraps a service's error.
    ///
    /// ```
    /// let _ = lambda_cache::entries::SourceError::new(lambda_cache::LoadError::new(std::fmt::Error));
    /// ```
    pub fn new<E: CacheError>(error: E) -> Self {
        Self {
            transient: error.is_transient(),
            inner: Arc::new(error),
        }
    }

    /// The service's error, if it is an `E`.
    ///
    /// ```
    /// let err = lambda_cache::entries::SourceError::new(lambda_cache::LoadError::new(std::fmt::Error));
    /// assert!(err.downcast_ref::<std::io::Error>().is_none());
    /// ```
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.inner.downcast_ref::<E>()
    }
}

impl fmt::Debug for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.inner, f)
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

impl CacheError for SourceError {
    fn is_transient(&self) -> bool {
        self.transient
    }

    fn not_modified_without_value(key: lambda_cache_core::Key<'_>) -> Self {
        Self {
            inner: Arc::new(
                lambda_cache_core::LoadError::<std::io::Error>::not_modified_without_value(key),
            ),
            transient: true,
        }
    }
}

/// One entry that failed to refresh: its entry name and why.
///
/// ```
/// use lambda_cache::entries::{Failure, SourceError};
/// let f = Failure { entry_name: "db".into(), source: SourceError::new(lambda_cache::LoadError::new(std::fmt::Error)) };
/// assert!(f.to_string().starts_with("entry \"db\": "));
/// ```
#[derive(Clone, Debug)]
pub struct Failure {
    /// The entry.
    pub entry_name: String,
    /// Why.
    pub source: SourceError,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {:?}: {}", self.entry_name, self.source)
    }
}

/// Why declaring, refreshing or reading an entry failed. Each variant names the entry, and a
/// declaration error the input as declared.
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
        /// The first declaration's input.
        first: String,
        /// The second declaration's input.
        second: String,
    },
    /// A declaration's entry name is empty.
    EmptyEntryName {
        /// The declaration's input (name, ARN, URI).
        declared: String,
    },
    /// A declaration is malformed (its service says why), or conflicts with another.
    Declaration {
        /// The entry.
        entry_name: String,
        /// The declaration's input.
        declared: String,
        /// Why.
        source: SourceError,
    },
    /// Entries could not be refreshed (after each entry's stale-if-error policy): every one of
    /// them, with its cause.
    Refresh {
        /// Each entry that failed, in declaration order.
        failures: Vec<Failure>,
    },
    /// The handler asked for a name no declaration has.
    NoSuchEntry {
        /// The name.
        entry_name: String,
    },
    /// The handler asked for an entry as another type than it holds.
    WrongType {
        /// The name.
        entry_name: String,
        /// The type asked for.
        expected: &'static str,
    },
}

impl Error {
    /// The failure of `entry_name` in a [`Error::Refresh`] or [`Error::Declaration`].
    ///
    /// ```
    /// let err = lambda_cache::entries::Error::NoSuchEntry { entry_name: "db".into() };
    /// assert!(err.failure_of("db").is_none());
    /// ```
    pub fn failure_of(&self, entry_name: &str) -> Option<&SourceError> {
        match self {
            Self::Refresh { failures } => failures
                .iter()
                .find(|f| f.entry_name == entry_name)
                .map(|f| &f.source),
            Self::Declaration {
                entry_name: name,
                source,
                ..
            } if name == entry_name => Some(source),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateEntryName {
                entry_name,
                first,
                second,
            } => write!(
                f,
                "{first:?} and {second:?} share the entry name {entry_name:?}: give one an \
                 entry_name"
            ),
            Self::EmptyEntryName { declared } => write!(
                f,
                "the entry name of {declared:?} is empty: give it a non-empty entry_name"
            ),
            Self::Declaration {
                entry_name,
                declared,
                source,
            } => write!(f, "entry {entry_name:?} ({declared}): {source}"),
            Self::Refresh { failures } => {
                write!(f, "{} entr", failures.len())?;
                f.write_str(if failures.len() == 1 { "y" } else { "ies" })?;
                f.write_str(" could not be refreshed: ")?;
                for (i, failure) in failures.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{failure}")?;
                }
                Ok(())
            }
            Self::NoSuchEntry { entry_name } => {
                write!(f, "no entry is declared with the name {entry_name:?}")
            }
            Self::WrongType {
                entry_name,
                expected,
            } => write!(f, "entry {entry_name:?} does not hold a {expected}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Declaration { source, .. } => Some(source),
            Self::Refresh { failures } if failures.len() == 1 => Some(&failures[0].source),
            _ => None,
        }
    }
}

/// The outcomes of one group's refresh, by declaration index.
type Outcomes = Vec<(usize, Result<AnyValue, SourceError>)>;
/// Refreshes the declarations of one type (the indices) in one batch.
/// Refreshes a group's members with their own policies, or (`ahead`) with a max age of their
/// refresh-ahead share, so that those past it are read now, in the background.
type RefreshGroup = for<'a> fn(&'a Inner, Vec<usize>, bool) -> BoxFuture<'a, Outcomes>;

/// One declaration, its type erased.
struct Declared {
    entry_name: String,
    declared: String,
    policy: Policy,
    /// The declaration's type: declarations of one type are refreshed together.
    kind: TypeId,
    declaration: Arc<dyn Any + Send + Sync>,
    refresh: RefreshGroup,
}

fn declaration<D: Declaration>(declared: &Declared) -> &D {
    declared
        .declaration
        .downcast_ref::<D>()
        .unwrap_or_else(|| unreachable!("declarations are grouped by type"))
}

fn refresh_group<D: Declaration>(
    inner: &Inner,
    members: Vec<usize>,
    ahead: bool,
) -> BoxFuture<'_, Outcomes> {
    Box::pin(async move {
        let given = inner
            .services
            .get(&TypeId::of::<D::Service>())
            .and_then(|s| s.downcast_ref::<D::Service>())
            .cloned();
        let service = match given {
            Some(service) => service,
            None => D::global_service().await,
        };
        let batch: Vec<(&D, Policy)> = members
            .iter()
            .map(|&i| {
                let policy = inner.declared[i].policy;
                let policy = match policy.refresh_ahead_after() {
                    Some(after) if ahead => Policy::new(after).no_stale(),
                    _ => policy,
                };
                (declaration::<D>(&inner.declared[i]), policy)
            })
            .collect();
        let outcomes = D::refresh(&service, batch).await;
        members
            .into_iter()
            .zip(outcomes)
            .map(|(i, outcome)| (i, outcome.map_err(SourceError::new)))
            .collect()
    })
}

/// Declares entries; start from [`Entries::builder`].
#[must_use]
pub struct EntriesBuilder {
    declared: Vec<Declared>,
    services: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    error: Option<Error>,
}

/// Declared entries, ready to refresh at each invocation. Cloning is cheap.
///
/// ```no_run
/// # #[cfg(all(feature = "ssm", feature = "secrets"))]
/// # async fn f() -> Result<(), lambda_cache::entries::Error> {
/// use std::time::Duration;
/// use lambda_cache::entries::Entries;
/// use lambda_cache::{secrets, ssm};
///
/// let entries = Entries::builder()
///     .entry(ssm::parameter("/production/app/var1").max_age(Duration::from_secs(30)))
///     .entry(ssm::parameter("/production/app/var2").entry_name("new_var"))
///     .entry(secrets::secret("/prod/db/conn_string").max_age(Duration::from_secs(300)))
///     .build()?;
/// // At the start of each invocation:
/// let cached = entries.refresh().await?;
/// let var1 = cached.get::<ssm::Value>("var1")?;
/// let var2 = cached.get::<ssm::Value>("new_var")?;
/// let conn = cached.get::<secrets::Secret>("conn_string")?;
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
    services: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    /// The declarations' types, in order of first declaration: one refresh batch each.
    groups: Vec<(TypeId, RefreshGroup)>,
    /// Set while a background refresh of the entries past their refresh-ahead share runs.
    ahead_running: AtomicBool,
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
            services: HashMap::new(),
            error: None,
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
    /// Fresh entries cost nothing. Stale ones are refreshed concurrently, one batch per
    /// declaration type (all SSM names of all stale parameter and list declarations in ⌈K/10⌉
    /// GetParameters calls). A failure follows the entry's policy: stale-if-error serves the
    /// previous value; otherwise the entry is listed in the error.
    ///
    /// Entries whose policy refreshes ahead ([`Policy::refresh_ahead`]) and that are past that
    /// share of their max age are answered with the value held, and read again in one
    /// background batch per type on the current tokio runtime (one such batch at a time).
    ///
    /// # Errors
    /// [`Error::Refresh`], listing every entry that could not be refreshed with its cause.
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
        self.refresh_ahead_in_background();
        let inner = &*self.inner;
        let parts: Vec<BoxFuture<'_, Outcomes>> = inner
            .groups
            .iter()
            .map(|(kind, refresh)| refresh(inner, inner.members(*kind, |_| true), false))
            .collect();
        let mut values: Vec<Option<AnyValue>> = vec![None; inner.declared.len()];
        let mut failures = Vec::new();
        for (i, outcome) in join_all(parts).await.into_iter().flatten() {
            match outcome {
                Ok(value) => values[i] = Some(value),
                Err(source) => failures.push((
                    i,
                    Failure {
                        entry_name: inner.declared[i].entry_name.clone(),
                        source,
                    },
                )),
            }
        }
        if !failures.is_empty() {
            failures.sort_by_key(|(i, _)| *i);
            return Err(Error::Refresh {
                failures: failures.into_iter().map(|(_, f)| f).collect(),
            });
        }
        Ok(Snapshot {
            values: values.into_iter().flatten().collect(),
            index: Arc::clone(&inner.index),
        })
    }
}

impl Entries {
    /// Starts, on the current tokio runtime, one refresh of the entries whose policy refreshes
    /// ahead ([`Policy::refresh_ahead`]) and that are past that share of their max age, unless
    /// one is still running: read with a max age of that share, in one batch per type, while the
    /// invocation that called [`Entries::refresh`] runs (a frozen environment runs nothing).
    /// Its outcome is not awaited: a failure leaves the values held, and the next invocation
    /// tries again.
    fn refresh_ahead_in_background(&self) {
        let inner = &*self.inner;
        if !inner
            .declared
            .iter()
            .any(|d| d.policy.refresh_ahead_after().is_some())
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if inner.ahead_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let pass = AheadPass(self.clone());
        runtime.spawn(async move {
            let inner = &*pass.0.inner;
            let parts: Vec<BoxFuture<'_, Outcomes>> = inner
                .groups
                .iter()
                .map(|(kind, refresh)| {
                    let members =
                        inner.members(*kind, |d| d.policy.refresh_ahead_after().is_some());
                    refresh(inner, members, true)
                })
                .collect();
            let _ = join_all(parts).await;
        });
    }
}

/// A background refresh-ahead pass of some entries: it clears their `ahead_running` when it
/// ends, however it ends (done, a loader that panicked, or dropped with its runtime), so that
/// the next invocation in the window can start another.
struct AheadPass(Entries);

impl Drop for AheadPass {
    fn drop(&mut self) {
        self.0.inner.ahead_running.store(false, Ordering::Release);
    }
}

impl Inner {
    /// The declarations of type `kind` that `keep` keeps, by index.
    fn members(&self, kind: TypeId, keep: impl Fn(&Declared) -> bool) -> Vec<usize> {
        self.declared
            .iter()
            .enumerate()
            .filter(|(_, d)| d.kind == kind && keep(d))
            .map(|(i, _)| i)
            .collect()
    }
}

impl EntriesBuilder {
    /// Declares an entry: a service's declaration (`ssm::parameter("/app/var")`,
    /// `secrets::secret("prod/db")`, `s3::file("s3://bucket/model.onnx")`, ...) with its
    /// entry name and policy.
    ///
    /// ```
    /// # #[cfg(feature = "ssm")] {
    /// use std::time::Duration;
    /// use lambda_cache::entries::{Entries, Error};
    /// let entries = Entries::builder()
    ///     .entry(lambda_cache::ssm::parameter("/prod/app/var").max_age(Duration::from_secs(300)))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(entries.len(), 1);
    /// let err = Entries::builder().entry(lambda_cache::ssm::parameter("/prod/ bad")).build().unwrap_err();
    /// assert!(matches!(err, Error::Declaration { declared, .. } if declared == "/prod/ bad"));
    /// # }
    /// ```
    pub fn entry<D: Declaration>(mut self, declare: Declare<D>) -> Self {
        let (declaration, given, policy) = declare.into_parts();
        let (declaration, entry_name) = match given {
            Some(name) => (declaration.with_entry_name(&name), name),
            None => {
                let name = declaration.default_entry_name();
                (declaration, name)
            }
        };
        let declared = declaration.declared().to_owned();
        if self.error.is_none()
            && let Err(err) = declaration.check()
        {
            self.error = Some(Error::Declaration {
                entry_name: entry_name.clone(),
                declared: declared.clone(),
                source: SourceError::new(err),
            });
        }
        self.declared.push(Declared {
            entry_name,
            declared,
            policy,
            kind: TypeId::of::<D>(),
            declaration: Arc::new(declaration),
            refresh: refresh_group::<D>,
        });
        self
    }

    /// The service (cache and client) that declarations of its type are refreshed with, in place
    /// of the process-wide one: an `SsmCache`, a `SecretsCache`, ..., or the [`Cache`] of the
    /// [`EntriesBuilder::load`] entries.
    ///
    /// ```
    /// let builder = lambda_cache::entries::Entries::builder()
    ///     .service(lambda_cache::Cache::builder().build().unwrap());
    /// # let _ = builder;
    /// ```
    pub fn service<S: Clone + Send + Sync + 'static>(mut self, service: S) -> Self {
        self.services.insert(TypeId::of::<S>(), Arc::new(service));
        self
    }

    /// The cache for [`EntriesBuilder::load`] entries (default: the process-wide one); the same
    /// as [`EntriesBuilder::service`] with a [`Cache`].
    ///
    /// ```
    /// let builder = lambda_cache::entries::Entries::builder().cache(lambda_cache::Cache::builder().build().unwrap());
    /// # let _ = builder;
    /// ```
    pub fn cache(self, cache: Cache) -> Self {
        self.service(cache)
    }

    /// Declares a generic entry: the value of `load()`, cached under `entry_name` for up to the
    /// policy's max age (a [`Policy`] or just a `Duration`).
    ///
    /// ```
    /// let builder = lambda_cache::entries::Entries::builder()
    ///     .load("users", std::time::Duration::from_secs(60), || async { Ok::<_, std::io::Error>(vec!["ada"]) });
    /// # let _ = builder;
    /// ```
    pub fn load<T, E, F, Fut>(
        self,
        entry_name: impl Into<String>,
        policy: impl Into<Policy>,
        load: F,
    ) -> Self
    where
        T: Send + Sync + 'static,
        E: std::error::Error + Send + Sync + 'static,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let entry_name = entry_name.into();
        let load = Arc::new(load);
        let loader: Loader = Arc::new(move || {
            let load = Arc::clone(&load);
            Box::pin(async move {
                load()
                    .await
                    .map(|value| Arc::new(value) as AnyValue)
                    .map_err(|err| LoaderError(Arc::new(err)))
            })
        });
        let declaration = Load {
            key: format!("{entry_name}\n{}", NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            entry_name: entry_name.clone(),
            loader,
        };
        self.entry(Declare::new(declaration).policy(policy))
    }

    /// Checks the declarations and builds the entries.
    ///
    /// # Errors
    /// The first declaration at fault: a malformed name or URI ([`Error::Declaration`]), or an
    /// empty or duplicate entry name (two URIs cached as one file share an entry name). Each
    /// names the input as declared.
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
    /// assert!(matches!(err, Error::DuplicateEntryName { entry_name, .. } if entry_name == "a"));
    /// ```
    pub fn build(self) -> Result<Entries, Error> {
        if let Some(err) = self.error {
            return Err(err);
        }
        let mut index: HashMap<String, usize> = HashMap::with_capacity(self.declared.len());
        for (i, declared) in self.declared.iter().enumerate() {
            if declared.entry_name.is_empty() {
                return Err(Error::EmptyEntryName {
                    declared: declared.declared.clone(),
                });
            }
            if let Some(first) = index.insert(declared.entry_name.clone(), i) {
                return Err(Error::DuplicateEntryName {
                    entry_name: declared.entry_name.clone(),
                    first: self.declared[first].declared.clone(),
                    second: declared.declared.clone(),
                });
            }
        }
        let mut groups: Vec<(TypeId, RefreshGroup)> = Vec::new();
        for declared in &self.declared {
            if groups.iter().all(|(kind, _)| *kind != declared.kind) {
                groups.push((declared.kind, declared.refresh));
            }
        }
        Ok(Entries {
            inner: Arc::new(Inner {
                declared: self.declared,
                index: Arc::new(index),
                services: self.services,
                groups,
                ahead_running: AtomicBool::new(false),
            }),
        })
    }
}

type LoadFuture = BoxFuture<'static, Result<AnyValue, LoaderError>>;
type Loader = Arc<dyn Fn() -> LoadFuture + Send + Sync>;

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

    fn not_modified_without_value(key: lambda_cache_core::Key<'_>) -> Self {
        Self(Arc::new(
            lambda_cache_core::LoadError::<std::io::Error>::not_modified_without_value(key),
        ))
    }
}

/// The service part of loader entries' keys.
const LOADER_SERVICE: &str = "entries";

/// A generic entry: any loader, cached in the entries' [`Cache`].
struct Load {
    entry_name: String,
    /// The entry name and a number unique in the process: two sets of entries sharing a cache
    /// never share a loader's value.
    key: String,
    loader: Loader,
}

impl Declaration for Load {
    type Service = Cache;
    type Error = LoaderError;

    fn declared(&self) -> &str {
        &self.entry_name
    }

    fn default_entry_name(&self) -> String {
        self.entry_name.clone()
    }

    fn check(&self) -> Result<(), LoaderError> {
        Ok(())
    }

    fn global_service() -> BoxFuture<'static, Cache> {
        Box::pin(async { Cache::global().clone() })
    }

    fn refresh<'a>(
        cache: &'a Cache,
        batch: Vec<(&'a Self, Policy)>,
    ) -> BoxFuture<'a, Vec<Result<AnyValue, LoaderError>>> {
        refresh_each(batch, |load: &'a Self, policy| async move {
            cache
                .get_or_fetch(Key::new(LOADER_SERVICE, &load.key), policy, |_| async {
                    (load.loader)().await.map(Fetched::new)
                })
                .await
                .map(|entry| AnyValue::clone(entry.value()))
        })
    }
}

/// The values of all declared entries as of the start of an invocation. They do not change
/// while the handler runs, whatever other invocations refresh meanwhile. Cloning is cheap.
#[derive(Clone)]
pub struct Snapshot {
    values: Arc<[AnyValue]>,
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
    /// The value of `entry_name`, as the type its service holds it in (`ssm::Value`,
    /// `ssm::ParameterMap`, `secrets::Secret`, `s3::LocalFile`, a loader's `T`, ...).
    ///
    /// # Errors
    /// [`Error::NoSuchEntry`], or [`Error::WrongType`] if the entry holds another type.
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
    pub fn get<T: Any>(&self, entry_name: &str) -> Result<&T, Error> {
        let value = self
            .index
            .get(entry_name)
            .and_then(|i| self.values.get(*i))
            .ok_or_else(|| Error::NoSuchEntry {
                entry_name: entry_name.to_owned(),
            })?;
        value.downcast_ref::<T>().ok_or_else(|| Error::WrongType {
            entry_name: entry_name.to_owned(),
            expected: std::any::type_name::<T>(),
        })
    }

    /// The entry names, in no particular order.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cached = lambda_cache::entries::Entries::builder().build()?.refresh().await?;
    /// assert_eq!(cached.entry_names().count(), 0);
    /// # Ok::<(), lambda_cache::entries::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn entry_names(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }
}
