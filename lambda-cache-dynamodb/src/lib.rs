//! Amazon DynamoDB for lambda-cache: items read once per execution environment, served from
//! memory, and refreshed after a maximum age (60 seconds by default).
//!
//! An item is named by an [`ItemKey`]: its table, partition key and optional sort key, and the
//! options that change what is read (projection, consistent read). Numbers are canonical, so
//! `1`, `1.0` and `01` are one key, as in DynamoDB. Many items are read with BatchGetItem, 100 a
//! call, unprocessed keys asked for again with backoff; a missing item is an error naming it.
//!
//! ```no_run
//! use std::time::Duration;
//! use lambda_cache_dynamodb::{self as dynamodb, ItemKey};
//!
//! # async fn handler() -> Result<(), dynamodb::Error> {
//! #[derive(serde::Deserialize)]
//! struct User { name: String }
//! // Cached for 60 seconds.
//! let user = dynamodb::get_entry(&ItemKey::new("Users", "pk", "u1")).await?;
//! // Decoded into your type, cached decoded for 5 minutes.
//! let user = dynamodb::get_item::<User>(&ItemKey::new("Users", "pk", "u1"), Duration::from_secs(300)).await?;
//! println!("{}", user.name);
//! # Ok(())
//! # }
//! ```

mod batch;
mod declare;
mod error;
pub mod fetch;
mod id;
mod value;

use aws_sdk_dynamodb::Client;
use lambda_cache_core::{Cache, Entry, Fetched, Key, Policy, Validator};
use serde::de::DeserializeOwned;

pub use batch::MAX_PER_CALL;
pub use declare::item;
pub use error::Error;
pub use id::{ItemKey, KeyValue};
/// What an AWS failure left in `Error::Service` holds: its kind, status, code and message
/// (shared by every service crate).
pub use lambda_cache_aws::{AwsError, Kind};
#[cfg(feature = "shared")]
pub use value::ITEM_CODEC;
pub use value::Item;

/// The service part of this crate's cache keys.
pub const SERVICE: &str = "dynamodb";

/// A cache of DynamoDB items: a [`Cache`] and the DynamoDB client that fills it.
///
/// The free functions of this crate use one built from the environment ([`DynamoCache::global`]);
/// build your own to choose the client or the cache.
///
/// ```
/// use lambda_cache_core::Cache;
/// use lambda_cache_dynamodb::DynamoCache;
///
/// let config = aws_config::SdkConfig::builder()
///     .behavior_version(aws_config::BehaviorVersion::latest())
///     .region(aws_config::Region::new("eu-west-1"))
///     .build();
/// let dynamodb = DynamoCache::from_config(Cache::builder().capacity(64).build()?, &config);
/// assert_eq!(dynamodb.cache().len(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct DynamoCache {
    cache: Cache,
    client: Client,
    policy: Policy,
}

impl DynamoCache {
    /// A cache of items read with `client`, kept in `cache`.
    ///
    /// ```
    /// # let client = aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::Config::builder()
    /// #     .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest()).build());
    /// let dynamodb = lambda_cache_dynamodb::DynamoCache::new(lambda_cache_core::Cache::global().clone(), client);
    /// # let _ = dynamodb;
    /// ```
    pub fn new(cache: Cache, client: Client) -> Self {
        Self {
            cache,
            client,
            policy: Policy::default(),
        }
    }

    /// This cache with `policy` (or a max age) for [`DynamoCache::get_entry`], instead of 60
    /// seconds.
    ///
    /// ```
    /// # let client = aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::Config::builder()
    /// #     .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest()).build());
    /// use std::time::Duration;
    /// let dynamodb = lambda_cache_dynamodb::DynamoCache::new(lambda_cache_core::Cache::global().clone(), client)
    ///     .with_policy(Duration::from_secs(10));
    /// assert_eq!(dynamodb.policy().max_age(), Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn with_policy(mut self, policy: impl Into<Policy>) -> Self {
        self.policy = policy.into();
        self
    }

    /// The policy of [`DynamoCache::get_entry`].
    ///
    /// ```no_run
    /// # async fn f() {
    /// assert_eq!(lambda_cache_dynamodb::DynamoCache::global().await.policy().max_age(), lambda_cache_dynamodb::DEFAULT_MAX_AGE);
    /// # }
    /// ```
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// A cache whose client is built from `config` (one endpoint, region and credentials for
    /// every service: a local emulator, a VPC endpoint).
    ///
    /// ```
    /// let config = aws_config::SdkConfig::builder()
    ///     .behavior_version(aws_config::BehaviorVersion::latest())
    ///     .build();
    /// let dynamodb = lambda_cache_dynamodb::DynamoCache::from_config(lambda_cache_core::Cache::global().clone(), &config);
    /// # let _ = dynamodb;
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
    /// let dynamodb = lambda_cache_dynamodb::DynamoCache::global().await;
    /// println!("{:?}", dynamodb.cache().stats());
    /// # }
    /// ```
    pub async fn global() -> &'static DynamoCache {
        static GLOBAL: tokio::sync::OnceCell<DynamoCache> = tokio::sync::OnceCell::const_new();
        lambda_cache_aws::global(&GLOBAL, DynamoCache::from_config).await
    }

    /// The cache.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let stats = lambda_cache_dynamodb::DynamoCache::global().await.cache().stats();
    /// # let _ = stats;
    /// # }
    /// ```
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The DynamoDB client.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let client = lambda_cache_dynamodb::DynamoCache::global().await.client();
    /// # let _ = client;
    /// # }
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// One item, cached for up to 60 seconds. See [`DynamoCache::get_entry_with`].
    ///
    /// # Errors
    /// As [`DynamoCache::get_entry_with`].
    ///
    /// ```no_run
    /// # async fn f(d: lambda_cache_dynamodb::DynamoCache) -> Result<(), lambda_cache_dynamodb::Error> {
    /// let user = d.get_entry(&lambda_cache_dynamodb::ItemKey::new("Users", "pk", "u1")).await?;
    /// # let _ = user;
    /// # Ok(()) }
    /// ```
    pub async fn get_entry(&self, key: &ItemKey) -> Result<Entry<Item>, Error> {
        self.get_entry_with(key, self.policy).await
    }

    /// One item, from memory if the cached one satisfies `policy` (a [`Policy`] or just a max
    /// age; zero forces a read), otherwise read with GetItem. A policy with
    /// [`Policy::refresh_ahead`] or [`Policy::stale_while_revalidate`] answers a read in its
    /// window with the item held and refreshes it in the background
    /// ([`lambda_cache_core::Cache::get_or_refresh`]).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for a malformed key, [`Error::NotFound`] naming the table and key,
    /// [`Error::TableNotFound`], and the service's failures ([`Error::Throttled`], ...). A
    /// failed refresh leaves the previous item cached; stale-if-error covers throttling and 5xx.
    ///
    /// ```no_run
    /// # async fn f(d: lambda_cache_dynamodb::DynamoCache) -> Result<(), lambda_cache_dynamodb::Error> {
    /// use std::time::Duration;
    /// let key = lambda_cache_dynamodb::ItemKey::new("Users", "pk", "u1");
    /// let user = d.get_entry_with(&key, Duration::from_secs(300)).await?;
    /// # let _ = user;
    /// # Ok(()) }
    /// ```
    pub async fn get_entry_with(
        &self,
        key: &ItemKey,
        policy: impl Into<Policy>,
    ) -> Result<Entry<Item>, Error> {
        let policy = policy.into();
        if policy.refreshes_in_background() {
            // The fetch may outlive this read: it owns its client and key.
            let (client, owned) = (self.client.clone(), key.clone());
            return self
                .cache
                .get_or_refresh(cache_key(key), policy, move |_| async move {
                    read_item(&client, &owned).await
                })
                .await;
        }
        let fetch = |_| read_item(&self.client, key);
        // With the `shared` feature, through the cache's shared tier if it has one.
        #[cfg(feature = "shared")]
        let read = self
            .cache
            .get_or_fetch_shared_with(cache_key(key), policy, ITEM_CODEC, fetch);
        #[cfg(not(feature = "shared"))]
        let read = self.cache.get_or_fetch(cache_key(key), policy, fetch);
        read.await
    }

    /// One item decoded into `T` (through serde_dynamo), cached decoded apart from the raw item
    /// (a derived value: as old as the item it comes from), so a hit costs no decoding.
    ///
    /// # Errors
    /// As [`DynamoCache::get_entry_with`], plus [`Error::Decode`] when the item does not fit
    /// `T` (the message never shows attribute values).
    ///
    /// ```no_run
    /// # async fn f(d: lambda_cache_dynamodb::DynamoCache) -> Result<(), lambda_cache_dynamodb::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct User { name: String, age: u32 }
    /// let key = lambda_cache_dynamodb::ItemKey::new("Users", "pk", "u1");
    /// let user = d.get_item::<User>(&key, std::time::Duration::from_secs(60)).await?;
    /// println!("{} is {}", user.name, user.age);
    /// # Ok(()) }
    /// ```
    pub async fn get_item<T>(
        &self,
        key: &ItemKey,
        policy: impl Into<Policy>,
    ) -> Result<Entry<T>, Error>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.cache
            .get_derived(
                cache_key(key),
                policy,
                |policy| self.get_entry_with(key, policy),
                |item: &Item| {
                    serde_dynamo::from_item::<_, T>(item.clone()).map_err(|_| Error::Decode {
                        key: key.to_string(),
                        message: format!(
                            "its attributes do not fit {}",
                            std::any::type_name::<T>()
                        ),
                    })
                },
            )
            .await
    }

    /// Several items: those cached and fresh enough for `policy` from memory, the others with
    /// BatchGetItem (100 keys a call, duplicates asked for once, unprocessed keys asked for
    /// again with backoff), each cached on its own. One outcome per key, in request order; a
    /// missing item fails only its own key, and a failed call follows the policy's
    /// stale-if-error for each key it asked for.
    ///
    /// ```no_run
    /// # async fn f(d: lambda_cache_dynamodb::DynamoCache) -> Result<(), lambda_cache_dynamodb::Error> {
    /// use lambda_cache_dynamodb::ItemKey;
    /// let keys: Vec<ItemKey> = (0..250).map(|i| ItemKey::new("Users", "pk", format!("u{i}"))).collect();
    /// let users = d.get_many(&keys, std::time::Duration::from_secs(60)).await; // 3 calls
    /// let first = users[0].as_ref().map_err(Clone::clone)?;
    /// # let _ = first;
    /// # Ok(()) }
    /// ```
    pub async fn get_many(
        &self,
        keys: &[ItemKey],
        policy: impl Into<Policy>,
    ) -> Vec<Result<Entry<Item>, Error>> {
        let policy = policy.into();
        let requests: Vec<(&ItemKey, Policy)> = keys.iter().map(|key| (key, policy)).collect();
        self.read_declared(&requests).await
    }

    /// [`DynamoCache::get_many`] with a policy per key.
    pub(crate) async fn read_declared(
        &self,
        requests: &[(&ItemKey, Policy)],
    ) -> Vec<Result<Entry<Item>, Error>> {
        // Per request: its outcome now (a hit, or a malformed key), or the index of its key
        // among those to read (each distinct key once).
        let mut outcomes: Vec<Result<Result<Entry<Item>, Error>, usize>> =
            Vec::with_capacity(requests.len());
        let mut wanted: Vec<&ItemKey> = Vec::new();
        let mut index: std::collections::HashMap<(&str, &str), usize> =
            std::collections::HashMap::new();
        for (key, policy) in requests {
            let outcome = match key.check() {
                Err(err) => Ok(Err(err)),
                Ok(()) => match self
                    .cache
                    .get_fresh::<Item>(cache_key(key), policy.max_age())
                {
                    Some(hit) => Ok(Ok(hit)),
                    None => Err(*index
                        .entry((key.table(), key.variant()))
                        .or_insert_with(|| {
                            wanted.push(key);
                            wanted.len() - 1
                        })),
                },
            };
            outcomes.push(outcome);
        }
        if wanted.is_empty() {
            return outcomes.into_iter().flatten().collect();
        }
        // Every item of the answer is stored in one pass of the cache's writers' lock.
        let mut store = self.cache.batch();
        let read: Vec<Result<Entry<Item>, Error>> = batch::read_all(&self.client, &wanted)
            .await
            .into_iter()
            .zip(&wanted)
            .map(|(outcome, key)| {
                outcome.map(|item| {
                    let weight = value::weight(&item);
                    store.insert(cache_key(key), item, Validator::none(), weight)
                })
            })
            .collect();
        store.commit();
        outcomes
            .into_iter()
            .zip(requests)
            .map(|(outcome, (key, policy))| {
                outcome.unwrap_or_else(|at| {
                    read[at].clone().or_else(|err| {
                        self.cache
                            .serve_stale::<Item, _>(cache_key(key), *policy, &err)
                            .ok_or(err)
                    })
                })
            })
            .collect()
    }
}

/// The cache key of an item: the service, the table, and every part of the key.
fn cache_key(key: &ItemKey) -> Key<'_> {
    Key::new(SERVICE, key.table()).variant(key.variant())
}

/// One item through the process-wide [`DynamoCache::global`], cached for up to 60 seconds.
///
/// # Errors
/// As [`DynamoCache::get_entry_with`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_dynamodb::Error> {
/// let user = lambda_cache_dynamodb::get_entry(&lambda_cache_dynamodb::ItemKey::new("Users", "pk", "u1")).await?;
/// # let _ = user;
/// # Ok(()) }
/// ```
pub async fn get_entry(key: &ItemKey) -> Result<Entry<Item>, Error> {
    DynamoCache::global().await.get_entry(key).await
}

/// One item through the process-wide cache with a policy or max age. See
/// [`DynamoCache::get_entry_with`].
///
/// # Errors
/// As [`DynamoCache::get_entry_with`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_dynamodb::Error> {
/// let key = lambda_cache_dynamodb::ItemKey::new("Users", "pk", "u1");
/// let fresh = lambda_cache_dynamodb::get_entry_with(&key, std::time::Duration::ZERO).await?;
/// # let _ = fresh;
/// # Ok(()) }
/// ```
pub async fn get_entry_with(
    key: &ItemKey,
    policy: impl Into<Policy>,
) -> Result<Entry<Item>, Error> {
    DynamoCache::global()
        .await
        .get_entry_with(key, policy)
        .await
}

/// One item decoded into `T` through the process-wide cache. See [`DynamoCache::get_item`].
///
/// # Errors
/// As [`DynamoCache::get_item`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_dynamodb::Error> {
/// #[derive(serde::Deserialize)]
/// struct User { name: String }
/// let key = lambda_cache_dynamodb::ItemKey::new("Users", "pk", "u1");
/// let user = lambda_cache_dynamodb::get_item::<User>(&key, std::time::Duration::from_secs(60)).await?;
/// # let _ = user;
/// # Ok(()) }
/// ```
pub async fn get_item<T>(key: &ItemKey, policy: impl Into<Policy>) -> Result<Entry<T>, Error>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    DynamoCache::global().await.get_item(key, policy).await
}

/// Several items through the process-wide cache. See [`DynamoCache::get_many`].
///
/// ```no_run
/// # async fn f() {
/// use lambda_cache_dynamodb::ItemKey;
/// let keys = [ItemKey::new("Users", "pk", "u1"), ItemKey::new("Users", "pk", "u2")];
/// let users = lambda_cache_dynamodb::get_many(&keys, std::time::Duration::from_secs(60)).await;
/// # let _ = users;
/// # }
/// ```
pub async fn get_many(
    keys: &[ItemKey],
    policy: impl Into<Policy>,
) -> Vec<Result<Entry<Item>, Error>> {
    DynamoCache::global().await.get_many(keys, policy).await
}

/// The default maximum age of this crate's reads.
pub const DEFAULT_MAX_AGE: std::time::Duration = Policy::DEFAULT_MAX_AGE;

/// One item read with GetItem.
async fn read_item(client: &Client, key: &ItemKey) -> Result<Fetched<Item>, Error> {
    key.check()?;
    let projection = match key.projection_expression() {
        Some((expression, names)) => fetch::Projection {
            expression: Some(expression),
            names: Some(names),
            attributes_to_get: None,
        },
        None => fetch::Projection::default(),
    };
    let output = fetch::get_item(
        client,
        key.table(),
        key.key_attributes(),
        &projection,
        key.is_consistent_read(),
    )
    .await
    .map_err(|err| Error::from_sdk(key.table(), err))?;
    let item = output.item.ok_or_else(|| Error::NotFound {
        key: key.to_string(),
    })?;
    let weight = value::weight(&item);
    Ok(Fetched::new(item).with_weight(weight))
}

// This crate's README (its crates.io page): its examples run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
