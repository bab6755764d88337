//! Declared entries: what a service crate implements so that the facade's `Entries` refreshes
//! its values with everyone else's, with no code of the facade's own per service.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::error::CacheError;
use crate::join::join_all;
use crate::policy::{Policy, StaleIfError};

/// A value of any type, shared: what a refreshed declaration hands to a snapshot.
pub type AnyValue = Arc<dyn Any + Send + Sync>;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One declared entry of a service: how it is checked, named and refreshed, alone or in one
/// batch with every other declaration of its type.
///
/// A service crate implements this once (SSM for parameters, lists and paths; Secrets Manager
/// for secrets; ...), and gives constructor functions that return a [`Declare`] of it. The
/// facade's `Entries` groups the declarations by type and calls [`Declaration::refresh`] once
/// per group, so a service that can batch (SSM's GetParameters, DynamoDB's BatchGetItem) does.
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_core::{AnyValue, BoxFuture, Cache, Declaration, LoadError, Policy};
///
/// /// A declared environment variable, cached like any other value.
/// struct Var(String);
///
/// impl Declaration for Var {
///     type Service = Cache;
///     type Error = LoadError<std::env::VarError>;
///     fn declared(&self) -> &str { &self.0 }
///     fn default_entry_name(&self) -> String { self.0.to_lowercase() }
///     fn check(&self) -> Result<(), Self::Error> { Ok(()) }
///     fn global_service() -> BoxFuture<'static, Cache> {
///         Box::pin(async { Cache::global().clone() })
///     }
///     fn refresh<'a>(
///         cache: &'a Cache,
///         batch: Vec<(&'a Self, Policy)>,
///     ) -> BoxFuture<'a, Vec<Result<AnyValue, Self::Error>>> {
///         Box::pin(async move {
///             let mut out = Vec::new();
///             for (var, policy) in batch {
///                 let read = cache.get_or_load(&var.0, policy, || async { std::env::var(&var.0) }).await;
///                 out.push(read.map(|entry| entry.value_arc() as AnyValue));
///             }
///             out
///         })
///     }
/// }
/// # let _ = Var("HOME".into());
/// ```
pub trait Declaration: Send + Sync + Sized + 'static {
    /// What the declaration is refreshed with: the service's cache and client.
    type Service: Clone + Send + Sync + 'static;
    /// Why a check or refresh failed.
    type Error: CacheError;

    /// The input as declared (a name, an ARN, a URI): what an error about it names.
    fn declared(&self) -> &str;

    /// The entry name used when the declaration gives none.
    fn default_entry_name(&self) -> String;

    /// The declaration, told the entry name it was given (for a service whose entry name is
    /// part of what it fetches, such as the local file name of an S3 object). Unchanged by
    /// default.
    #[must_use]
    fn with_entry_name(self, entry_name: &str) -> Self {
        let _ = entry_name;
        self
    }

    /// Checks the declaration on its own (its name, URI or key), before any call.
    ///
    /// # Errors
    /// The service's error naming the input.
    fn check(&self) -> Result<(), Self::Error>;

    /// The service used when the entries were given none: the process-wide one.
    fn global_service() -> BoxFuture<'static, Self::Service>;

    /// Brings `batch` (every declaration of this type with its policy) up to date: fresh ones
    /// from memory, stale ones from the backend in as few calls as the service allows. One
    /// outcome per declaration, in order: the value (an `Arc` of the type a snapshot reads it
    /// as), or why it failed after the policy's stale-if-error.
    fn refresh<'a>(
        service: &'a Self::Service,
        batch: Vec<(&'a Self, Policy)>,
    ) -> BoxFuture<'a, Vec<Result<AnyValue, Self::Error>>>;
}

/// A declaration with how it is cached: its entry name and its policy. Service crates' declaring
/// functions (`ssm::parameter`, `secrets::secret`, ...) return one; settle the options here.
///
/// Options given one by one win over [`Declare::policy`], in whatever order they are given.
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_core::{Declare, Policy, StaleIfError};
/// # struct D;
/// let d = Declare::new(D)
///     .max_age(Duration::from_secs(300))
///     .policy(Policy::default().stale_if_error(Duration::from_secs(3600)))
///     .entry_name("db");
/// assert_eq!(d.effective_policy().max_age(), Duration::from_secs(300));
/// assert_eq!(d.effective_policy().stale(), StaleIfError::Within(Duration::from_secs(3600)));
/// assert_eq!(d.given_entry_name(), Some("db"));
/// ```
#[must_use]
pub struct Declare<D> {
    declaration: D,
    entry_name: Option<String>,
    base: Policy,
    max_age: Option<Duration>,
    stale: Option<StaleIfError>,
}

impl<D> Declare<D> {
    /// `declaration` with the default entry name and policy (60 seconds).
    ///
    /// ```
    /// let d = lambda_cache_core::Declare::new("anything");
    /// assert_eq!(d.effective_policy(), lambda_cache_core::Policy::default());
    /// ```
    pub fn new(declaration: D) -> Self {
        Self {
            declaration,
            entry_name: None,
            base: Policy::default(),
            max_age: None,
            stale: None,
        }
    }

    /// The name the handler reads the entry by (default: the declaration's own).
    ///
    /// ```
    /// let d = lambda_cache_core::Declare::new(()).entry_name("db");
    /// assert_eq!(d.given_entry_name(), Some("db"));
    /// ```
    pub fn entry_name(mut self, entry_name: impl Into<String>) -> Self {
        self.entry_name = Some(entry_name.into());
        self
    }

    /// The maximum age.
    ///
    /// ```
    /// use std::time::Duration;
    /// let d = lambda_cache_core::Declare::new(()).max_age(Duration::from_secs(5));
    /// assert_eq!(d.effective_policy().max_age(), Duration::from_secs(5));
    /// ```
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Serve the previous value when a refresh fails transiently and the value is at most
    /// `max_stale` old.
    ///
    /// ```
    /// use std::time::Duration;
    /// let d = lambda_cache_core::Declare::new(()).stale_if_error(Duration::from_secs(600));
    /// # let _ = d;
    /// ```
    pub fn stale_if_error(mut self, max_stale: Duration) -> Self {
        self.stale = Some(StaleIfError::Within(max_stale));
        self
    }

    /// Never serve a stale value for this entry.
    ///
    /// ```
    /// let d = lambda_cache_core::Declare::new(()).no_stale();
    /// assert_eq!(d.effective_policy().stale(), lambda_cache_core::StaleIfError::Off);
    /// ```
    pub fn no_stale(mut self) -> Self {
        self.stale = Some(StaleIfError::Off);
        self
    }

    /// A whole policy, under any option given one by one (before or after).
    ///
    /// ```
    /// use std::time::Duration;
    /// use lambda_cache_core::{Declare, Policy};
    /// let d = Declare::new(()).max_age(Duration::from_secs(5)).policy(Policy::new(Duration::from_secs(9)));
    /// assert_eq!(d.effective_policy().max_age(), Duration::from_secs(5));
    /// ```
    pub fn policy(mut self, policy: impl Into<Policy>) -> Self {
        self.base = policy.into();
        self
    }

    /// The declaration.
    ///
    /// ```
    /// assert_eq!(*lambda_cache_core::Declare::new(7).declaration(), 7);
    /// ```
    pub fn declaration(&self) -> &D {
        &self.declaration
    }

    /// The entry name given, if any.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Declare::new(()).given_entry_name(), None);
    /// ```
    pub fn given_entry_name(&self) -> Option<&str> {
        self.entry_name.as_deref()
    }

    /// The policy the entry is refreshed with.
    ///
    /// ```
    /// use std::time::Duration;
    /// let d = lambda_cache_core::Declare::new(()).max_age(Duration::ZERO);
    /// assert_eq!(d.effective_policy().max_age(), Duration::ZERO);
    /// ```
    pub fn effective_policy(&self) -> Policy {
        let mut policy = self.base;
        if let Some(max_age) = self.max_age {
            policy = policy.with_max_age(max_age);
        }
        match self.stale {
            Some(StaleIfError::Within(max_stale)) => policy.stale_if_error(max_stale),
            Some(StaleIfError::Off) => policy.no_stale(),
            Some(StaleIfError::Inherit) | None => policy,
        }
    }

    /// The declaration, the entry name given (if any) and the policy.
    ///
    /// ```
    /// let (d, name, _) = lambda_cache_core::Declare::new(1).entry_name("one").into_parts();
    /// assert_eq!((d, name.as_deref()), (1, Some("one")));
    /// ```
    pub fn into_parts(self) -> (D, Option<String>, Policy) {
        let policy = self.effective_policy();
        (self.declaration, self.entry_name, policy)
    }
}

/// A [`Declaration::refresh`] for a service that reads each declaration on its own: `read`
/// runs for every declaration of the batch, concurrently, and the outcomes come back in order.
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_core::{AnyValue, Policy, refresh_each};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let names = ["a".to_owned(), "bb".to_owned()];
/// let batch = names.iter().map(|n| (n, Policy::default())).collect();
/// let lengths = refresh_each(batch, |name: &String, _policy| async move {
///     Ok::<_, std::io::Error>(std::sync::Arc::new(name.len()) as AnyValue)
/// })
/// .await;
/// assert_eq!(*lengths[1].as_ref().unwrap().downcast_ref::<usize>().unwrap(), 2);
/// # });
/// ```
pub fn refresh_each<'a, D, E, F, Fut>(
    batch: Vec<(&'a D, Policy)>,
    read: F,
) -> BoxFuture<'a, Vec<Result<AnyValue, E>>>
where
    D: Sync + ?Sized,
    E: Send + 'a,
    F: Fn(&'a D, Policy) -> Fut,
    Fut: Future<Output = Result<AnyValue, E>> + Send + 'a,
{
    let reads: Vec<Fut> = batch
        .into_iter()
        .map(|(declaration, policy)| read(declaration, policy))
        .collect();
    Box::pin(join_all(reads))
}

impl<D: fmt::Debug> fmt::Debug for Declare<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Declare")
            .field("declaration", &self.declaration)
            .field("entry_name", &self.entry_name)
            .field("policy", &self.effective_policy())
            .finish()
    }
}
