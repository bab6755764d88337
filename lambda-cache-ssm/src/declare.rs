//! Many declared reads at once: every stale parameter and list in one batch of GetParameters
//! calls, paths beside it.

use std::future::Future;
use std::pin::Pin;

use lambda_cache_core::{AnyValue, BoxFuture, Declaration, Declare, Entry, Key, Policy, Validator};

use crate::batch::{self, Found};
use crate::{Error, ParameterMap, Parameters, SERVICE, SsmCache, Value, short_name};

/// One declared SSM read: a parameter, a list or a path (see [`parameter`], [`parameters`],
/// [`path`]).
///
/// ```
/// use lambda_cache_ssm::{Parameters, Request};
/// let single = Request::parameter("/prod/app/var")?;
/// let list = Request::List(Parameters::builder(["/app/a", "/app/b"]).entry_name("p").build()?);
/// let path = Request::path("/prod/app/")?;
/// # let _ = (single, list, path);
/// # Ok::<(), lambda_cache_ssm::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// One parameter: a name, path, selector or ARN.
    Parameter(String),
    /// A declared list, read into one map by short name.
    List(Parameters),
    /// Every parameter under a path, by full name.
    Path(String),
}

impl Request {
    /// One parameter, its name checked now.
    ///
    /// # Errors
    /// [`Error::InvalidName`].
    ///
    /// ```
    /// assert!(lambda_cache_ssm::Request::parameter("bad name").is_err());
    /// ```
    pub fn parameter(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        crate::check_name(&name)?;
        Ok(Self::Parameter(name))
    }

    /// A path, checked now.
    ///
    /// # Errors
    /// [`Error::InvalidName`].
    ///
    /// ```
    /// assert!(lambda_cache_ssm::Request::path("/prod/app").is_ok());
    /// ```
    pub fn path(path: impl Into<String>) -> Result<Self, Error> {
        let path = path.into();
        crate::check_path(&path)?;
        Ok(Self::Path(path))
    }

    /// The default entry name: a parameter's short name, a list's declared entry name, a path's
    /// last segment.
    ///
    /// ```
    /// use lambda_cache_ssm::Request;
    /// assert_eq!(Request::parameter("/prod/app/var")?.default_entry_name(), "var");
    /// assert_eq!(Request::path("/prod/app/")?.default_entry_name(), "app");
    /// # Ok::<(), lambda_cache_ssm::Error>(())
    /// ```
    pub fn default_entry_name(&self) -> &str {
        match self {
            Self::Parameter(name) => short_name(name),
            Self::List(list) => list.entry_name(),
            Self::Path(path) => short_name(path.trim_end_matches('/')),
        }
    }
}

/// The outcome of one [`Request`]: a value, or a map for lists and paths.
#[derive(Clone, Debug)]
pub(crate) enum Read {
    /// A single parameter.
    Value(Entry<Value>),
    /// A list (by short name) or a path (by full name).
    Map(Entry<ParameterMap>),
}

type PathRead<'a> =
    Pin<Box<dyn Future<Output = (usize, Result<Entry<ParameterMap>, Error>)> + Send + 'a>>;

impl SsmCache {
    /// Reads many declarations at once, each against its own policy. The fresh ones come from
    /// memory; the names of all stale parameters and lists go together in ⌈K/10⌉ concurrent
    /// GetParameters calls (K distinct names), while stale paths are read beside them. Each
    /// value is cached on its own, so a later single read of it is a hit. Each request has its
    /// own outcome: a missing name fails only the declarations that contain it; if a batch call
    /// fails transiently, each declaration's stale-if-error policy decides whether its previous
    /// value serves.
    pub(crate) async fn read_declared(
        &self,
        requests: &[(&Request, Policy)],
    ) -> Vec<Result<Read, Error>> {
        let mut outcomes: Vec<Option<Result<Read, Error>>> = Vec::with_capacity(requests.len());
        let mut names: Vec<&str> = Vec::new();
        let mut paths: Vec<PathRead<'_>> = Vec::new();
        // The batch's policy in a shared tier: the youngest max age asked, and secrets shared
        // only if every stale request shares them.
        let mut batch_policy: Option<Policy> = None;
        for (i, (request, policy)) in requests.iter().enumerate() {
            let fresh = match request {
                Request::Parameter(name) => self
                    .cache
                    .get_fresh::<Value>(Key::new(SERVICE, name), policy.max_age())
                    .map(Read::Value),
                Request::List(list) => self
                    .cache
                    .get_fresh::<ParameterMap>(list.cache_key(), policy.max_age())
                    .map(Read::Map),
                Request::Path(path) => {
                    paths.push(Box::pin(
                        async move { (i, self.get_path(path, *policy).await) },
                    ));
                    None
                }
            };
            if fresh.is_none() && !matches!(request, Request::Path(_)) {
                batch_policy = Some(match batch_policy {
                    None => *policy,
                    Some(held) => {
                        let youngest = Policy::new(held.max_age().min(policy.max_age()));
                        if held.shares_secrets() && policy.shares_secrets() {
                            youngest.share_secrets()
                        } else {
                            youngest
                        }
                    }
                });
            }
            if fresh.is_none() {
                let wanted: &[String] = match request {
                    Request::Parameter(name) => std::slice::from_ref(name),
                    Request::List(list) => list.names(),
                    Request::Path(_) => &[],
                };
                for name in wanted {
                    if !names.contains(&name.as_str()) {
                        names.push(name);
                    }
                }
            }
            outcomes.push(fresh.map(Ok));
        }
        let batch = async {
            if names.is_empty() {
                None
            } else {
                Some(
                    self.read_batch(&names, batch_policy.unwrap_or_default())
                        .await,
                )
            }
        };
        let (batch, path_reads) =
            lambda_cache_core::join2(batch, lambda_cache_core::join_all(paths)).await;
        for (i, read) in path_reads {
            outcomes[i] = Some(read.map(Read::Map));
        }
        if let Some(batch) = batch {
            // Every value of the answer is stored in one pass of the cache's writers' lock.
            let mut store = self.cache.batch();
            for (outcome, (request, policy)) in outcomes.iter_mut().zip(requests.iter().copied()) {
                if outcome.is_none() {
                    *outcome = Some(self.settle(request, policy, &batch, &mut store));
                }
            }
            store.commit();
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| unreachable!("every request is settled above")))
            .collect()
    }

    /// `names` (validated, without duplicates) in ⌈K/10⌉ GetParameters calls; with the `shared`
    /// feature and a shared tier, those the tier holds young enough for `policy` come from it
    /// and only the rest from SSM (see [`Cache::fetch_many_shared`]).
    ///
    /// [`Cache::fetch_many_shared`]: lambda_cache_core::Cache::fetch_many_shared
    async fn read_batch(
        &self,
        names: &[&str],
        policy: Policy,
    ) -> Result<(std::collections::HashMap<String, Found>, Vec<String>), Error> {
        #[cfg(not(feature = "shared"))]
        {
            let _ = policy;
            batch::read_lenient(&self.client, names).await
        }
        #[cfg(feature = "shared")]
        {
            use lambda_cache_core::{TierValue, shared::Codec};
            let fetch = |asked: Vec<String>| async move {
                let asked: Vec<&str> = asked.iter().map(String::as_str).collect();
                let (found, missing) = batch::read_lenient(&self.client, &asked).await?;
                let values = found
                    .into_iter()
                    .map(|(name, read)| TierValue {
                        name,
                        value: read.value,
                        validator: Validator::from(read.version),
                        age: read.age,
                    })
                    .collect();
                Ok::<_, Error>((values, missing))
            };
            let (values, missing) = self
                .cache
                .fetch_many_shared(SERVICE, names, policy, Codec::<Value>::of(), fetch)
                .await?;
            let found = values
                .into_iter()
                .map(|value| {
                    let version = value
                        .validator
                        .version()
                        .and_then(|v| i64::try_from(v).ok())
                        .unwrap_or_default();
                    let read = Found {
                        value: value.value,
                        version,
                        age: value.age,
                    };
                    (value.name, read)
                })
                .collect();
            Ok((found, missing))
        }
    }

    /// The outcome of one stale request from the batch's answer.
    fn settle(
        &self,
        request: &Request,
        policy: Policy,
        batch: &Result<(std::collections::HashMap<String, Found>, Vec<String>), Error>,
        store: &mut lambda_cache_core::Batch<'_>,
    ) -> Result<Read, Error> {
        let found = match batch {
            Ok((found, _)) => found,
            Err(err) => {
                return match request {
                    Request::Parameter(name) => self
                        .cache
                        .serve_stale::<Value, _>(Key::new(SERVICE, name), policy, err)
                        .map(Read::Value),
                    Request::List(list) => self
                        .cache
                        .serve_stale::<ParameterMap, _>(list.cache_key(), policy, err)
                        .map(Read::Map),
                    Request::Path(_) => None,
                }
                .ok_or_else(|| err.clone());
            }
        };
        match request {
            Request::Parameter(name) => {
                let read = found.get(name).ok_or_else(|| Error::NotFound {
                    names: vec![name.clone()],
                })?;
                let entry = store.insert_aged(
                    Key::new(SERVICE, name),
                    read.value.clone(),
                    Validator::from(read.version),
                    read.value.weight(),
                    read.age,
                );
                Ok(Read::Value(entry))
            }
            Request::List(list) => {
                let missing: Vec<String> = list
                    .names()
                    .iter()
                    .filter(|n| !found.contains_key(*n))
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    return Err(Error::NotFound { names: missing });
                }
                let (mut weight, mut age) = (0, std::time::Duration::ZERO);
                let map: ParameterMap = list
                    .names()
                    .iter()
                    .filter_map(|name| {
                        let read = found.get(name)?;
                        weight += read.value.weight();
                        // As old as its oldest value.
                        age = age.max(read.age);
                        Some((short_name(name).to_owned(), read.value.clone()))
                    })
                    .collect();
                Ok(Read::Map(store.insert_aged(
                    list.cache_key(),
                    map,
                    Validator::none(),
                    weight,
                    age,
                )))
            }
            Request::Path(_) => unreachable!("paths are read on their own"),
        }
    }
}

/// One SSM parameter, declared for the facade's `Entries`: its entry name defaults to the part
/// after the last '/' (`/production/app/var` → `var`). Every stale parameter and list of one set
/// of entries is read in one batch of ⌈K/10⌉ GetParameters calls.
///
/// ```
/// use std::time::Duration;
/// let var = lambda_cache_ssm::parameter("/production/app/var").max_age(Duration::from_secs(300));
/// assert_eq!(var.declaration(), &lambda_cache_ssm::Request::Parameter("/production/app/var".into()));
/// ```
pub fn parameter(name: impl Into<String>) -> Declare<Request> {
    Declare::new(Request::Parameter(name.into()))
}

/// A declared list of parameters, read into one map under the list's entry name.
///
/// ```
/// use lambda_cache_ssm::Parameters;
/// let list = Parameters::builder(["/app/var1", "/app/var2"]).entry_name("parameters").build()?;
/// let declared = lambda_cache_ssm::parameters(list);
/// # let _ = declared;
/// # Ok::<(), lambda_cache_ssm::Error>(())
/// ```
pub fn parameters(list: Parameters) -> Declare<Request> {
    Declare::new(Request::List(list))
}

/// Every parameter under an SSM path, as one map by full name; the entry name defaults to the
/// path's last segment.
///
/// ```
/// let all = lambda_cache_ssm::path("/production/app/");
/// # let _ = all;
/// ```
pub fn path(path: impl Into<String>) -> Declare<Request> {
    Declare::new(Request::Path(path.into()))
}

impl Declaration for Request {
    type Service = SsmCache;
    type Error = Error;

    fn declared(&self) -> &str {
        match self {
            Self::Parameter(name) | Self::Path(name) => name,
            Self::List(list) => list.label(),
        }
    }

    fn default_entry_name(&self) -> String {
        Request::default_entry_name(self).to_owned()
    }

    fn check(&self) -> Result<(), Error> {
        match self {
            Self::Parameter(name) => crate::check_name(name),
            Self::Path(path) => crate::check_path(path),
            // A list is checked when it is built.
            Self::List(_) => Ok(()),
        }
    }

    fn global_service() -> BoxFuture<'static, SsmCache> {
        Box::pin(async { SsmCache::global().await.clone() })
    }

    fn refresh<'a>(
        ssm: &'a SsmCache,
        batch: Vec<(&'a Self, Policy)>,
    ) -> BoxFuture<'a, Vec<Result<AnyValue, Error>>> {
        Box::pin(async move {
            ssm.read_declared(&batch)
                .await
                .into_iter()
                .map(|read| {
                    read.map(|read| match read {
                        Read::Value(entry) => entry.value_arc() as AnyValue,
                        Read::Map(entry) => entry.value_arc() as AnyValue,
                    })
                })
                .collect()
        })
    }
}
