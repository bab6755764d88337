//! SSM Parameter Store for lambda-cache: parameters read once per execution environment,
//! served from memory, and refreshed after a maximum age (60 seconds by default).
//!
//! Every read goes through GetParameters with decryption, so a function needs only
//! `ssm:GetParameters` (and `kms:Decrypt` for `SecureString`s under a customer key). Lists are
//! read in ⌈K/10⌉ calls, the API's limit being 10 names a call; a name SSM does not know is an
//! error naming it, never dropped.
//!
//! ```no_run
//! use std::time::Duration;
//! use lambda_cache_core::Policy;
//! use lambda_cache_ssm as ssm;
//!
//! # async fn handler() -> Result<(), ssm::Error> {
//! // Cached for 60 seconds.
//! let var = ssm::get_entry("/production/app/var").await?;
//! println!("{}", var.as_str().unwrap_or_default());
//! // Cached for 5 minutes.
//! let var = ssm::get_entry_with("/production/app/var", Duration::from_secs(300)).await?;
//! // Force a refresh (max_age zero).
//! let var = ssm::get_entry_with("/production/app/var", Policy::new(Duration::ZERO)).await?;
//! # let _ = var;
//! # Ok(())
//! # }
//! ```

mod batch;
mod declare;
mod error;
pub mod fetch;
mod id;
mod value;

use std::time::Duration;

use aws_sdk_ssm::Client;
use lambda_cache_core::{Cache, Entry, Fetched, Key, Policy, Validator, decode_json};
use serde::de::DeserializeOwned;

pub use batch::MAX_PER_CALL;
use declare::Read;
pub use declare::{Request, parameter, parameters, path};
pub use error::Error;
pub use id::{ParameterId, short_name, validate as check_name, validate_path as check_path};
/// What an AWS failure left in `Error::Service` holds: its kind, status, code and message
/// (shared by every service crate).
pub use lambda_cache_aws::{AwsError, Kind};
pub use value::{ParameterMap, Value};

/// The service part of this crate's cache keys.
pub const SERVICE: &str = "ssm";

/// A cache of SSM parameters: a [`Cache`] and the SSM client that fills it.
///
/// The free functions of this crate use one built from the environment ([`SsmCache::global`]);
/// build your own to choose the client (endpoint, retries, credentials) or the cache (capacity,
/// stale-if-error, a manual clock in tests).
///
/// ```
/// use lambda_cache_core::Cache;
/// use lambda_cache_ssm::SsmCache;
///
/// let config = aws_sdk_ssm::Config::builder()
///     .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
///     .region(aws_sdk_ssm::config::Region::new("eu-west-1"))
///     .build();
/// let ssm = SsmCache::new(Cache::builder().capacity(64).build()?, aws_sdk_ssm::Client::from_conf(config));
/// assert_eq!(ssm.cache().len(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct SsmCache {
    cache: Cache,
    client: Client,
    policy: Policy,
}

impl SsmCache {
    /// A cache of parameters read with `client`, kept in `cache`.
    ///
    /// ```
    /// # let client = aws_sdk_ssm::Client::from_conf(aws_sdk_ssm::Config::builder()
    /// #     .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest()).build());
    /// let ssm = lambda_cache_ssm::SsmCache::new(lambda_cache_core::Cache::global().clone(), client);
    /// # let _ = ssm;
    /// ```
    pub fn new(cache: Cache, client: Client) -> Self {
        Self {
            cache,
            client,
            policy: Policy::default(),
        }
    }

    /// This cache with `policy` (or a max age) for [`SsmCache::get_entry`], instead of 60
    /// seconds.
    ///
    /// ```
    /// # let client = aws_sdk_ssm::Client::from_conf(aws_sdk_ssm::Config::builder()
    /// #     .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest()).build());
    /// use std::time::Duration;
    /// let ssm = lambda_cache_ssm::SsmCache::new(lambda_cache_core::Cache::global().clone(), client)
    ///     .with_policy(Duration::from_secs(300));
    /// assert_eq!(ssm.policy().max_age(), Duration::from_secs(300));
    /// ```
    #[must_use]
    pub fn with_policy(mut self, policy: impl Into<Policy>) -> Self {
        self.policy = policy.into();
        self
    }

    /// The policy of [`SsmCache::get_entry`].
    ///
    /// ```no_run
    /// # async fn f() {
    /// assert_eq!(lambda_cache_ssm::SsmCache::global().await.policy().max_age(), lambda_cache_ssm::DEFAULT_MAX_AGE);
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
    /// let ssm = lambda_cache_ssm::SsmCache::from_config(lambda_cache_core::Cache::global().clone(), &config);
    /// # let _ = ssm;
    /// ```
    pub fn from_config(cache: Cache, config: &aws_config::SdkConfig) -> Self {
        Self::new(cache, Client::new(config))
    }

    /// The process-wide instance used by the free functions: the global [`Cache`] and a client
    /// built once from the standard environment (`AWS_REGION`, `AWS_ENDPOINT_URL`, the credentials
    /// chain), sharing one AWS configuration with the other service crates.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let ssm = lambda_cache_ssm::SsmCache::global().await;
    /// println!("{:?}", ssm.cache().stats());
    /// # }
    /// ```
    pub async fn global() -> &'static SsmCache {
        static GLOBAL: tokio::sync::OnceCell<SsmCache> = tokio::sync::OnceCell::const_new();
        lambda_cache_aws::global(&GLOBAL, SsmCache::from_config).await
    }

    /// The cache.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let stats = lambda_cache_ssm::SsmCache::global().await.cache().stats();
    /// # let _ = stats;
    /// # }
    /// ```
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The SSM client.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let client = lambda_cache_ssm::SsmCache::global().await.client();
    /// # let _ = client;
    /// # }
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// One parameter, cached for up to 60 seconds. See [`SsmCache::get_entry_with`].
    ///
    /// # Errors
    /// As [`SsmCache::get_entry_with`].
    ///
    /// ```no_run
    /// # async fn f(ssm: lambda_cache_ssm::SsmCache) -> Result<(), lambda_cache_ssm::Error> {
    /// let host = ssm.get_entry("/prod/db/host").await?;
    /// # let _ = host;
    /// # Ok(()) }
    /// ```
    pub async fn get_entry<'a>(
        &self,
        id: impl Into<ParameterId<'a>>,
    ) -> Result<Entry<Value>, Error> {
        self.get_entry_with(id, self.policy).await
    }

    /// One parameter, from memory if the cached value satisfies `policy` (a [`Policy`] or just a
    /// max age; zero forces a refresh), otherwise read from SSM.
    ///
    /// `name` is a path (`/prod/app/var`), a plain name, either with a version or label selector
    /// (`/prod/app/var:3`, `/prod/app/var:live`), or a parameter ARN. The selector is part of the
    /// cache key: `var:3` and `var` are two entries.
    ///
    /// A policy with [`Policy::refresh_ahead`] or [`Policy::stale_while_revalidate`] answers a
    /// read in its window with the value held and refreshes it in the background
    /// ([`Cache::get_or_refresh`]); such reads do not go through a shared tier.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a malformed name, [`Error::NotFound`] if SSM does not know it,
    /// and the service's failures ([`Error::AccessDenied`], [`Error::Throttled`], ...). A failed
    /// refresh leaves the previous value cached.
    ///
    /// ```no_run
    /// # async fn f(ssm: lambda_cache_ssm::SsmCache) -> Result<(), lambda_cache_ssm::Error> {
    /// use std::time::Duration;
    /// let var = ssm.get_entry_with("/production/app/var", Duration::from_secs(300)).await?;
    /// # let _ = var;
    /// # Ok(()) }
    /// ```
    pub async fn get_entry_with<'a>(
        &self,
        id: impl Into<ParameterId<'a>>,
        policy: impl Into<Policy>,
    ) -> Result<Entry<Value>, Error> {
        let id = id.into();
        let name = id.name();
        let policy = policy.into();
        if policy.refreshes_in_background() {
            // The fetch may outlive this read: it owns its client and name.
            let (client, owned) = (self.client.clone(), name.to_owned());
            return self
                .cache
                .get_or_refresh(
                    Key::new(SERVICE, name),
                    policy,
                    move |_previous| async move { read_one(&client, &owned).await },
                )
                .await;
        }
        let fetch = |_previous| read_one(&self.client, name);
        // With the `shared` feature, through the cache's shared tier if it has one.
        #[cfg(feature = "shared")]
        let read = self
            .cache
            .get_or_fetch_shared(Key::new(SERVICE, name), policy, fetch);
        #[cfg(not(feature = "shared"))]
        let read = self
            .cache
            .get_or_fetch(Key::new(SERVICE, name), policy, fetch);
        read.await
    }

    /// A JSON parameter decoded into `T`. The decoded value is cached apart from the text (a
    /// derived value, see [`Cache::get_derived`]), so a hit costs no parsing; the text is read
    /// through [`SsmCache::get_entry_with`] with the same policy, and the decoded value is as
    /// old as the text it comes from.
    ///
    /// # Errors
    /// As [`SsmCache::get_entry_with`], plus [`Error::Decode`] when the value is not JSON for
    /// `T` (the message never shows the value).
    ///
    /// ```no_run
    /// # async fn f(ssm: lambda_cache_ssm::SsmCache) -> Result<(), lambda_cache_ssm::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct Limits { max_items: u32 }
    /// let limits = ssm.get_json::<Limits>("/prod/app/limits", std::time::Duration::from_secs(60)).await?;
    /// println!("{}", limits.max_items);
    /// # Ok(()) }
    /// ```
    pub async fn get_json<'a, T>(
        &self,
        id: impl Into<ParameterId<'a>>,
        policy: impl Into<Policy>,
    ) -> Result<Entry<T>, Error>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let id = id.into();
        let name = id.name();
        self.cache
            .get_derived(
                Key::new(SERVICE, name),
                policy,
                |policy| self.get_entry_with(name, policy),
                |raw: &Value| {
                    let text = raw.as_str().ok_or_else(|| Error::Decode {
                        name: name.to_owned(),
                        message: "a StringList is not JSON text".to_owned(),
                    })?;
                    decode_json::<T>(text.as_bytes()).map_err(|err| Error::Decode {
                        name: name.to_owned(),
                        message: err.to_string(),
                    })
                },
            )
            .await
    }

    /// Several parameters, each its own entry with its own outcome, in request order: those
    /// cached and fresh enough for `policy` from memory, the others in ⌈K/10⌉ concurrent
    /// GetParameters calls (K distinct names), each cached on its own. A name SSM does not know
    /// fails only itself; a failed call follows the policy's stale-if-error for each name it
    /// asked for.
    ///
    /// ```no_run
    /// # async fn f(ssm: lambda_cache_ssm::SsmCache) -> Result<(), lambda_cache_ssm::Error> {
    /// let values = ssm.get_many(&["/app/var1", "/app/var2"], std::time::Duration::from_secs(60)).await;
    /// let var1 = values[0].as_ref().map_err(Clone::clone)?;
    /// # let _ = var1;
    /// # Ok(()) }
    /// ```
    pub async fn get_many<'a, I>(
        &self,
        ids: I,
        policy: impl Into<Policy>,
    ) -> Vec<Result<Entry<Value>, Error>>
    where
        I: IntoIterator,
        I::Item: Into<ParameterId<'a>>,
    {
        let policy = policy.into();
        let requests: Vec<Result<(Request, Policy), Error>> = ids
            .into_iter()
            .map(|id| Request::parameter(id.into().name()).map(|request| (request, policy)))
            .collect();
        let valid: Vec<(&Request, Policy)> = requests
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|(request, policy)| (request, *policy)))
            .collect();
        let mut reads = self.read_declared(&valid).await.into_iter();
        requests
            .iter()
            .map(|request| match request {
                Err(err) => Err(err.clone()),
                Ok(_) => match reads.next() {
                    Some(Ok(Read::Value(entry))) => Ok(entry),
                    Some(Err(err)) => Err(err),
                    Some(Ok(Read::Map(_))) | None => {
                        unreachable!("one value read per parameter requested")
                    }
                },
            })
            .collect()
    }

    /// Several parameters in one entry, keyed by short name (`/app/var1` → `var1`), read in
    /// ⌈K/10⌉ GetParameters calls. Declare the list once with [`Parameters::builder`].
    ///
    /// # Errors
    /// [`Error::NotFound`] naming every parameter SSM does not know (the others are not cached
    /// either: the entry is all or nothing), and the service's failures.
    ///
    /// ```no_run
    /// # async fn f(ssm: lambda_cache_ssm::SsmCache) -> Result<(), lambda_cache_ssm::Error> {
    /// use lambda_cache_ssm::Parameters;
    /// let list = Parameters::builder(["/app/var1", "/app/var2"]).entry_name("parameters").build()?;
    /// let parameters = ssm.get_entries(&list, std::time::Duration::from_secs(60)).await?;
    /// let var1 = parameters.get("var1");
    /// # let _ = var1;
    /// # Ok(()) }
    /// ```
    pub async fn get_entries(
        &self,
        list: &Parameters,
        policy: impl Into<Policy>,
    ) -> Result<Entry<ParameterMap>, Error> {
        self.cache
            .get_or_fetch(list.cache_key(), policy, |_| async move {
                let names: Vec<&str> = list.names.iter().map(String::as_str).collect();
                let reads = batch::read_all(&self.client, &names).await?;
                let mut weight = 0;
                let map: ParameterMap = names
                    .iter()
                    .zip(reads)
                    .map(|(name, read)| {
                        weight += read.value.weight();
                        (short_name(name).to_owned(), read.value)
                    })
                    .collect();
                Ok(Fetched::new(map).with_weight(weight))
            })
            .await
    }

    /// Every parameter under `path` (recursively, all pages of GetParametersByPath, decrypted)
    /// as one entry keyed by full name.
    ///
    /// # Errors
    /// [`Error::InvalidName`] if `path` does not start with '/', and the service's failures. An
    /// empty path is an empty map, not an error.
    ///
    /// ```no_run
    /// # async fn f(ssm: lambda_cache_ssm::SsmCache) -> Result<(), lambda_cache_ssm::Error> {
    /// let all = ssm.get_path("/prod/app/", std::time::Duration::from_secs(300)).await?;
    /// for (name, value) in all.iter() {
    ///     println!("{name} = {value:?}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_path(
        &self,
        path: &str,
        policy: impl Into<Policy>,
    ) -> Result<Entry<ParameterMap>, Error> {
        self.cache
            .get_or_fetch(
                Key::new(SERVICE, path).variant("path"),
                policy,
                |_| async move {
                    id::validate_path(path)?;
                    let mut map = ParameterMap::new();
                    let mut weight = 0;
                    let parameters =
                        fetch::get_parameters_by_path(&self.client, path, true, true, None)
                            .await
                            .map_err(|err| Error::from_sdk(path, err))?;
                    for parameter in &parameters {
                        let value = Value::from_parameter(parameter);
                        weight += value.weight();
                        map.insert(parameter.name().unwrap_or_default().to_owned(), value);
                    }
                    Ok(Fetched::new(map).with_weight(weight))
                },
            )
            .await
    }
}

/// A declared list of parameters read together into one map. Bad declarations fail here, before
/// any call: an empty list, a bad name, no entry name (the list's map must be named), or two
/// names with the same short name.
///
/// ```
/// use lambda_cache_ssm::{Error, Parameters};
///
/// let list = Parameters::builder(["/app/var1", "/app/var2"]).entry_name("parameters").build()?;
/// assert_eq!(list.entry_name(), "parameters");
/// assert_eq!(list.names().len(), 2);
///
/// let err = Parameters::builder(["/app/var1", "/app/var2"]).build().unwrap_err();
/// assert!(matches!(err, Error::NoEntryName { .. }));
/// let err = Parameters::builder(["/a/var", "/b/var"]).entry_name("p").build().unwrap_err();
/// assert!(matches!(err, Error::DuplicateShortName { .. }));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameters {
    names: Vec<String>,
    entry_name: String,
    /// The names joined by newlines (which no parameter name contains): the cache key.
    key: String,
    /// The names joined by ", ": what errors name.
    label: String,
}

/// Builds a [`Parameters`] list; see [`Parameters::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct ParametersBuilder {
    names: Vec<String>,
    entry_name: Option<String>,
}

impl Parameters {
    /// Starts declaring a list of `names`.
    ///
    /// ```
    /// let builder = lambda_cache_ssm::Parameters::builder(["/app/var1"]);
    /// # let _ = builder;
    /// ```
    pub fn builder<I, S>(names: I) -> ParametersBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ParametersBuilder {
            names: names.into_iter().map(Into::into).collect(),
            entry_name: None,
        }
    }

    /// The names, as declared.
    ///
    /// ```
    /// let list = lambda_cache_ssm::Parameters::builder(["/a/x"]).entry_name("p").build().unwrap();
    /// assert_eq!(list.names(), ["/a/x"]);
    /// ```
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The names joined by ", ", for messages.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// The cache key of the list's map.
    pub(crate) fn cache_key(&self) -> Key<'_> {
        Key::new(SERVICE, &self.key).variant("list")
    }

    /// The entry name holding the list's map.
    ///
    /// ```
    /// let list = lambda_cache_ssm::Parameters::builder(["/a/x"]).entry_name("p").build().unwrap();
    /// assert_eq!(list.entry_name(), "p");
    /// ```
    pub fn entry_name(&self) -> &str {
        &self.entry_name
    }
}

impl ParametersBuilder {
    /// Names the entry that holds the list's map (required, as in the seed guide).
    ///
    /// ```
    /// let builder = lambda_cache_ssm::Parameters::builder(["/a/x"]).entry_name("settings");
    /// # let _ = builder;
    /// ```
    pub fn entry_name(mut self, entry_name: impl Into<String>) -> Self {
        self.entry_name = Some(entry_name.into());
        self
    }

    /// Checks the declaration.
    ///
    /// # Errors
    /// [`Error::EmptyList`], [`Error::InvalidName`], [`Error::NoEntryName`] or
    /// [`Error::DuplicateShortName`].
    ///
    /// ```
    /// let err = lambda_cache_ssm::Parameters::builder(Vec::<String>::new()).entry_name("p").build();
    /// assert_eq!(err.unwrap_err(), lambda_cache_ssm::Error::EmptyList);
    /// ```
    pub fn build(self) -> Result<Parameters, Error> {
        if self.names.is_empty() {
            return Err(Error::EmptyList);
        }
        for name in &self.names {
            id::validate(name)?;
        }
        for (i, first) in self.names.iter().enumerate() {
            if let Some(second) = self.names[i + 1..]
                .iter()
                .find(|other| short_name(other) == short_name(first))
            {
                return Err(Error::DuplicateShortName {
                    short_name: short_name(first).to_owned(),
                    first: first.clone(),
                    second: second.clone(),
                });
            }
        }
        let Some(entry_name) = self.entry_name.filter(|n| !n.is_empty()) else {
            return Err(Error::NoEntryName { names: self.names });
        };
        let key = self.names.join("\n");
        let label = self.names.join(", ");
        Ok(Parameters {
            names: self.names,
            entry_name,
            key,
            label,
        })
    }
}

/// One parameter through the process-wide [`SsmCache::global`], cached for up to 60 seconds.
///
/// # Errors
/// As [`SsmCache::get_entry_with`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_ssm::Error> {
/// let var = lambda_cache_ssm::get_entry("/production/app/var").await?;
/// # let _ = var;
/// # Ok(()) }
/// ```
pub async fn get_entry<'a>(id: impl Into<ParameterId<'a>>) -> Result<Entry<Value>, Error> {
    SsmCache::global().await.get_entry(id).await
}

/// One parameter through the process-wide cache with a policy or max age; `Duration::ZERO`
/// forces a refresh. See [`SsmCache::get_entry_with`].
///
/// # Errors
/// As [`SsmCache::get_entry_with`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_ssm::Error> {
/// let fresh = lambda_cache_ssm::get_entry_with("/prod/var", std::time::Duration::ZERO).await?;
/// # let _ = fresh;
/// # Ok(()) }
/// ```
pub async fn get_entry_with<'a>(
    id: impl Into<ParameterId<'a>>,
    policy: impl Into<Policy>,
) -> Result<Entry<Value>, Error> {
    SsmCache::global().await.get_entry_with(id, policy).await
}

/// A JSON parameter decoded into `T` through the process-wide cache. See [`SsmCache::get_json`].
///
/// # Errors
/// As [`SsmCache::get_json`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_ssm::Error> {
/// let flags = lambda_cache_ssm::get_json::<std::collections::HashMap<String, bool>>(
///     "/prod/flags", std::time::Duration::from_secs(60)).await?;
/// # let _ = flags;
/// # Ok(()) }
/// ```
pub async fn get_json<'a, T>(
    id: impl Into<ParameterId<'a>>,
    policy: impl Into<Policy>,
) -> Result<Entry<T>, Error>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    SsmCache::global().await.get_json(id, policy).await
}

/// Several parameters through the process-wide cache, each with its own outcome. See
/// [`SsmCache::get_many`].
///
/// ```no_run
/// # async fn f() {
/// let values = lambda_cache_ssm::get_many(["/app/var1", "/app/var2"], std::time::Duration::from_secs(60)).await;
/// # let _ = values;
/// # }
/// ```
pub async fn get_many<'a, I>(ids: I, policy: impl Into<Policy>) -> Vec<Result<Entry<Value>, Error>>
where
    I: IntoIterator,
    I::Item: Into<ParameterId<'a>>,
{
    SsmCache::global().await.get_many(ids, policy).await
}

/// A declared list through the process-wide cache. See [`SsmCache::get_entries`].
///
/// # Errors
/// As [`SsmCache::get_entries`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_ssm::Error> {
/// let list = lambda_cache_ssm::Parameters::builder(["/app/var1", "/app/var2"]).entry_name("parameters").build()?;
/// let parameters = lambda_cache_ssm::get_entries(&list, std::time::Duration::from_secs(60)).await?;
/// # let _ = parameters;
/// # Ok(()) }
/// ```
pub async fn get_entries(
    list: &Parameters,
    policy: impl Into<Policy>,
) -> Result<Entry<ParameterMap>, Error> {
    SsmCache::global().await.get_entries(list, policy).await
}

/// Every parameter under a path through the process-wide cache. See [`SsmCache::get_path`].
///
/// # Errors
/// As [`SsmCache::get_path`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_ssm::Error> {
/// let all = lambda_cache_ssm::get_path("/prod/app", std::time::Duration::from_secs(300)).await?;
/// # let _ = all;
/// # Ok(()) }
/// ```
pub async fn get_path(path: &str, policy: impl Into<Policy>) -> Result<Entry<ParameterMap>, Error> {
    SsmCache::global().await.get_path(path, policy).await
}

/// One parameter read with GetParameters, its version as the validator.
async fn read_one(client: &Client, name: &str) -> Result<Fetched<Value>, Error> {
    id::validate(name)?;
    let read = batch::read_all(client, &[name])
        .await?
        .pop()
        .ok_or_else(|| Error::NotFound {
            names: vec![name.to_owned()],
        })?;
    let weight = read.value.weight();
    Ok(Fetched::new(read.value)
        .with_validator(Validator::from(read.version))
        .with_weight(weight))
}

/// The default maximum age of this crate's reads.
pub const DEFAULT_MAX_AGE: Duration = Policy::DEFAULT_MAX_AGE;

// This crate's README (its crates.io page): its examples run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
