//! AWS AppConfig for lambda-cache: configuration profiles and feature flags read once per
//! execution environment through AppConfigData, served from memory, and polled again after a
//! maximum age (60 seconds by default), never faster than AppConfig's poll interval.
//!
//! Each [`Profile`] (application, environment, configuration profile) has its own session:
//! StartConfigurationSession once, then GetLatestConfiguration with the token of the previous
//! answer, which the cache keeps as the entry's validator. The tokens are single-use, so one
//! poll at a time runs per profile (concurrent readers share it), and two profiles never share
//! a token. An empty answer means unchanged: the value stays and its age is renewed, with no
//! body transferred. A token AppConfig refuses (expired after 24 hours, say) starts a new
//! session, once.
//!
//! ```no_run
//! use std::time::Duration;
//! use lambda_cache_appconfig::{self as appconfig, Profile};
//!
//! # async fn handler() -> Result<(), appconfig::Error> {
//! #[derive(serde::Deserialize)]
//! struct Limits { max_items: u32 }
//! // The raw configuration, cached for 60 seconds.
//! let config = appconfig::get_entry(&Profile::new("checkout", "prod", "limits")).await?;
//! println!("{} bytes of {:?}", config.content().len(), config.content_type());
//! // Decoded, and cached decoded.
//! let limits = appconfig::get_json::<Limits>(&Profile::new("checkout", "prod", "limits"), Duration::from_secs(60)).await?;
//! // Feature flags.
//! let flags = appconfig::get_flags(&Profile::new("checkout", "prod", "flags"), Duration::from_secs(30)).await?;
//! if flags.is_enabled("new_cart") { /* ... */ }
//! # let _ = limits.max_items;
//! # Ok(())
//! # }
//! ```

mod declare;
mod error;
mod id;
mod value;
pub mod variants;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_appconfigdata::Client;
use bytes::Bytes;
use lambda_cache_core::{
    Cache, Entry, Fetched, Instant, Key, Policy, Validator, decode_json, join_all,
};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;

pub use declare::configuration;
pub use error::Error;
pub use id::Profile;
/// What an AWS failure left in `Error::Service` holds: its kind, status, code and message
/// (shared by every service crate).
pub use lambda_cache_aws::{AwsError, Kind};
pub use value::{Attributes, Configuration, FeatureFlags, Flag};

/// The service part of this crate's cache keys.
pub const SERVICE: &str = "appconfig";

/// The default maximum age of this crate's reads.
pub const DEFAULT_MAX_AGE: Duration = Policy::DEFAULT_MAX_AGE;

/// The poll interval assumed when AppConfig's answer gives none (its documented default).
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(60);

/// A cache of AppConfig profiles: a [`Cache`], the AppConfigData client that fills it, and when
/// each profile may next be polled.
///
/// The free functions of this crate use one built from the environment
/// ([`AppConfigCache::global`]); build your own to choose the client or the cache.
///
/// ```
/// use lambda_cache_core::Cache;
/// use lambda_cache_appconfig::AppConfigCache;
///
/// let config = aws_config::SdkConfig::builder()
///     .behavior_version(aws_config::BehaviorVersion::latest())
///     .region(aws_config::Region::new("eu-west-1"))
///     .build();
/// let appconfig = AppConfigCache::from_config(Cache::builder().capacity(64).build()?, &config);
/// assert_eq!(appconfig.cache().len(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct AppConfigCache {
    cache: Cache,
    client: Client,
    policy: Policy,
    /// Per profile (application, key variant): the earliest time AppConfig lets its session
    /// poll again. Touched on the miss path only.
    next_poll: Arc<Mutex<HashMap<(String, String), Instant>>>,
}

/// What one GetLatestConfiguration answered.
struct Answer {
    /// The content, or `None` for an empty body (unchanged since the session's last answer).
    content: Option<Bytes>,
    content_type: Option<String>,
    version_label: Option<String>,
    next_token: String,
}

impl Answer {
    /// The answer as a new value (a session's first answer is always the whole content).
    fn into_new(self) -> Fetched<Configuration> {
        let content = self.content.unwrap_or_default();
        let weight = content.len() as u64;
        Fetched::new(Configuration::new(
            content,
            self.content_type.as_deref(),
            self.version_label.as_deref(),
        ))
        .with_validator(Validator::new(self.next_token))
        .with_weight(weight)
    }

    /// The answer to a poll of a session whose previous content is held: an empty body keeps it.
    fn into_fetched(self) -> Fetched<Configuration> {
        if self.content.is_none() {
            Fetched::not_modified().with_validator(Validator::new(self.next_token))
        } else {
            self.into_new()
        }
    }
}

impl AppConfigCache {
    /// A cache of profiles read with `client`, kept in `cache`.
    ///
    /// ```
    /// # let client = aws_sdk_appconfigdata::Client::from_conf(aws_sdk_appconfigdata::Config::builder()
    /// #     .behavior_version(aws_sdk_appconfigdata::config::BehaviorVersion::latest()).build());
    /// let appconfig = lambda_cache_appconfig::AppConfigCache::new(lambda_cache_core::Cache::global().clone(), client);
    /// # let _ = appconfig;
    /// ```
    pub fn new(cache: Cache, client: Client) -> Self {
        Self {
            cache,
            client,
            policy: Policy::default(),
            next_poll: Arc::default(),
        }
    }

    /// This cache with `policy` (or a max age) for [`AppConfigCache::get_entry`], instead of
    /// 60 seconds.
    ///
    /// ```
    /// # let client = aws_sdk_appconfigdata::Client::from_conf(aws_sdk_appconfigdata::Config::builder()
    /// #     .behavior_version(aws_sdk_appconfigdata::config::BehaviorVersion::latest()).build());
    /// use std::time::Duration;
    /// let appconfig = lambda_cache_appconfig::AppConfigCache::new(lambda_cache_core::Cache::global().clone(), client)
    ///     .with_policy(Duration::from_secs(45));
    /// assert_eq!(appconfig.policy().max_age(), Duration::from_secs(45));
    /// ```
    #[must_use]
    pub fn with_policy(mut self, policy: impl Into<Policy>) -> Self {
        self.policy = policy.into();
        self
    }

    /// The policy of [`AppConfigCache::get_entry`].
    ///
    /// ```no_run
    /// # async fn f() {
    /// assert_eq!(lambda_cache_appconfig::AppConfigCache::global().await.policy().max_age(), lambda_cache_appconfig::DEFAULT_MAX_AGE);
    /// # }
    /// ```
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// A cache whose client is built from `config` (one endpoint, region and credentials for
    /// every service).
    ///
    /// ```
    /// let config = aws_config::SdkConfig::builder()
    ///     .behavior_version(aws_config::BehaviorVersion::latest())
    ///     .build();
    /// let appconfig = lambda_cache_appconfig::AppConfigCache::from_config(lambda_cache_core::Cache::global().clone(), &config);
    /// # let _ = appconfig;
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
    /// let appconfig = lambda_cache_appconfig::AppConfigCache::global().await;
    /// println!("{:?}", appconfig.cache().stats());
    /// # }
    /// ```
    pub async fn global() -> &'static AppConfigCache {
        static GLOBAL: tokio::sync::OnceCell<AppConfigCache> = tokio::sync::OnceCell::const_new();
        lambda_cache_aws::global(&GLOBAL, AppConfigCache::from_config).await
    }

    /// The cache.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let stats = lambda_cache_appconfig::AppConfigCache::global().await.cache().stats();
    /// # let _ = stats;
    /// # }
    /// ```
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The AppConfigData client.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let client = lambda_cache_appconfig::AppConfigCache::global().await.client();
    /// # let _ = client;
    /// # }
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// One profile's configuration, cached for up to 60 seconds. See
    /// [`AppConfigCache::get_entry_with`].
    ///
    /// # Errors
    /// As [`AppConfigCache::get_entry_with`].
    ///
    /// ```no_run
    /// # async fn f(a: lambda_cache_appconfig::AppConfigCache) -> Result<(), lambda_cache_appconfig::Error> {
    /// let config = a.get_entry(&lambda_cache_appconfig::Profile::new("checkout", "prod", "limits")).await?;
    /// # let _ = config;
    /// # Ok(()) }
    /// ```
    pub async fn get_entry(&self, profile: &Profile) -> Result<Entry<Configuration>, Error> {
        self.get_entry_with(profile, self.policy).await
    }

    /// One profile's configuration, from memory if the cached one satisfies `policy` (a
    /// [`Policy`] or just a max age), otherwise polled: with the token of the previous answer,
    /// or in a new session for a profile not held. A poll is never sent before the interval
    /// AppConfig gave with the previous answer: until then the held value is AppConfig's
    /// latest, and is renewed without a call (even for a max age of zero).
    ///
    /// # Errors
    /// [`Error::InvalidProfile`] for a malformed profile, [`Error::NotFound`] naming it, and
    /// the service's failures ([`Error::Throttled`], ...). A failed poll leaves the previous
    /// value cached; stale-if-error covers throttling, 5xx and transport failures.
    ///
    /// ```no_run
    /// # async fn f(a: lambda_cache_appconfig::AppConfigCache) -> Result<(), lambda_cache_appconfig::Error> {
    /// use std::time::Duration;
    /// let profile = lambda_cache_appconfig::Profile::new("checkout", "prod", "limits");
    /// let config = a.get_entry_with(&profile, Duration::from_secs(300)).await?;
    /// # let _ = config;
    /// # Ok(()) }
    /// ```
    pub async fn get_entry_with(
        &self,
        profile: &Profile,
        policy: impl Into<Policy>,
    ) -> Result<Entry<Configuration>, Error> {
        self.cache
            .get_or_fetch(cache_key(profile), policy, |previous| {
                self.poll(profile, previous)
            })
            .await
    }

    /// One profile's configuration decoded from JSON into `T`, cached decoded apart from the
    /// raw configuration (a derived value: as old as the configuration it comes from), so a
    /// hit costs no decoding.
    ///
    /// # Errors
    /// As [`AppConfigCache::get_entry_with`], plus [`Error::Decode`] when the content is not
    /// JSON that fits `T` (the message gives a position, never the content).
    ///
    /// ```no_run
    /// # async fn f(a: lambda_cache_appconfig::AppConfigCache) -> Result<(), lambda_cache_appconfig::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct Limits { max_items: u32 }
    /// let profile = lambda_cache_appconfig::Profile::new("checkout", "prod", "limits");
    /// let limits = a.get_json::<Limits>(&profile, std::time::Duration::from_secs(60)).await?;
    /// println!("{}", limits.max_items);
    /// # Ok(()) }
    /// ```
    pub async fn get_json<T>(
        &self,
        profile: &Profile,
        policy: impl Into<Policy>,
    ) -> Result<Entry<T>, Error>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.cache
            .get_derived(
                cache_key(profile),
                policy,
                |policy| self.get_entry_with(profile, policy),
                |config: &Configuration| {
                    decode_json::<T>(config.content()).map_err(|err| Error::Decode {
                        profile: profile.to_string(),
                        message: format!("{err} (as {})", std::any::type_name::<T>()),
                    })
                },
            )
            .await
    }

    /// One profile's feature flags (AppConfig's `AWS.AppConfig.FeatureFlags` format), cached
    /// decoded. For flags with attributes of your own types, use [`AppConfigCache::get_json`]
    /// with a struct of [`Flag<YourAttributes>`](Flag) fields.
    ///
    /// # Errors
    /// As [`AppConfigCache::get_json`].
    ///
    /// ```no_run
    /// # async fn f(a: lambda_cache_appconfig::AppConfigCache) -> Result<(), lambda_cache_appconfig::Error> {
    /// let profile = lambda_cache_appconfig::Profile::new("checkout", "prod", "flags");
    /// let flags = a.get_flags(&profile, std::time::Duration::from_secs(30)).await?;
    /// if flags.is_enabled("new_cart") { /* ... */ }
    /// # Ok(()) }
    /// ```
    pub async fn get_flags(
        &self,
        profile: &Profile,
        policy: impl Into<Policy>,
    ) -> Result<Entry<FeatureFlags>, Error> {
        self.get_json::<FeatureFlags>(profile, policy).await
    }

    /// Several profiles, each from memory or polled in its own session, concurrently. One
    /// outcome per profile, in request order.
    ///
    /// ```no_run
    /// # async fn f(a: lambda_cache_appconfig::AppConfigCache) {
    /// use lambda_cache_appconfig::Profile;
    /// let profiles = [Profile::new("shop", "prod", "limits"), Profile::new("shop", "prod", "flags")];
    /// let configs = a.get_many(&profiles, std::time::Duration::from_secs(60)).await;
    /// # let _ = configs;
    /// # }
    /// ```
    pub async fn get_many(
        &self,
        profiles: &[Profile],
        policy: impl Into<Policy>,
    ) -> Vec<Result<Entry<Configuration>, Error>> {
        let policy = policy.into();
        join_all(
            profiles
                .iter()
                .map(|profile| self.get_entry_with(profile, policy)),
        )
        .await
    }

    /// The loader of one profile: the held value renewed if AppConfig's interval has not
    /// passed, else a poll with the held token, else (nothing held, or the token refused) a
    /// new session.
    async fn poll(
        &self,
        profile: &Profile,
        previous: Option<Entry<Configuration>>,
    ) -> Result<Fetched<Configuration>, Error> {
        profile.check()?;
        if let Some(previous) = previous {
            if self.too_soon(profile) {
                return Ok(Fetched::not_modified());
            }
            if let Some(token) = previous.validator().token() {
                match self.latest(profile, token).await {
                    Ok(answer) => return Ok(answer.into_fetched()),
                    // Expired or already used: a new session, once.
                    Err(err) if err.is_refused_token() => {}
                    Err(err) => return Err(err),
                }
            }
        }
        let token = self.start_session(profile).await?;
        Ok(self.latest(profile, &token).await?.into_new())
    }

    /// True if AppConfig's last answer for this profile asked to wait longer than has passed.
    fn too_soon(&self, profile: &Profile) -> bool {
        let now = self.cache.clock().now();
        self.next_poll
            .lock()
            .get(&poll_key(profile))
            .is_some_and(|next| now < *next)
    }

    async fn start_session(&self, profile: &Profile) -> Result<String, Error> {
        let output = self
            .client
            .start_configuration_session()
            .application_identifier(profile.application())
            .environment_identifier(profile.environment())
            .configuration_profile_identifier(profile.profile())
            .set_required_minimum_poll_interval_in_seconds(
                profile
                    .min_poll_interval_value()
                    .map(|interval| i32::try_from(interval.as_secs()).unwrap_or(i32::MAX)),
            )
            .send()
            .await
            .map_err(|err| Error::from_sdk(profile.label(), err))?;
        output
            .initial_configuration_token
            .filter(|token| !token.is_empty())
            .ok_or_else(|| missing(profile, "InitialConfigurationToken"))
    }

    async fn latest(&self, profile: &Profile, token: &str) -> Result<Answer, Error> {
        let output = self
            .client
            .get_latest_configuration()
            .configuration_token(token)
            .send()
            .await
            .map_err(|err| Error::from_sdk(profile.label(), err))?;
        let interval = u64::try_from(output.next_poll_interval_in_seconds)
            .ok()
            .filter(|seconds| *seconds > 0)
            .map_or(DEFAULT_POLL_INTERVAL, Duration::from_secs);
        let next_token = output
            .next_poll_configuration_token
            .filter(|token| !token.is_empty())
            .ok_or_else(|| missing(profile, "NextPollConfigurationToken"))?;
        // Only a whole answer sets the next poll: a garbled one must not delay the retry.
        let next = self.cache.clock().now() + interval;
        self.next_poll.lock().insert(poll_key(profile), next);
        Ok(Answer {
            content: output
                .configuration
                .map(|blob| Bytes::from(blob.into_inner()))
                .filter(|content| !content.is_empty()),
            content_type: output.content_type,
            version_label: output.version_label,
            next_token,
        })
    }
}

/// An answer that lacks a part AppConfig always sends (a proxy's page, a garbled answer):
/// transient, as a cut answer is.
fn missing(profile: &Profile, part: &str) -> Error {
    Error::Transport {
        profile: profile.to_string(),
        message: AwsError::unreadable(200, &format!("it has no {part}")).message,
    }
}

/// The cache key of a profile: the service, the application, then environment and profile.
fn cache_key(profile: &Profile) -> Key<'_> {
    Key::new(SERVICE, profile.application()).variant(profile.variant())
}

fn poll_key(profile: &Profile) -> (String, String) {
    (
        profile.application().to_owned(),
        profile.variant().to_owned(),
    )
}

/// One profile through the process-wide [`AppConfigCache::global`], cached for up to 60
/// seconds.
///
/// # Errors
/// As [`AppConfigCache::get_entry_with`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_appconfig::Error> {
/// let config = lambda_cache_appconfig::get_entry(&lambda_cache_appconfig::Profile::new("shop", "prod", "limits")).await?;
/// # let _ = config;
/// # Ok(()) }
/// ```
pub async fn get_entry(profile: &Profile) -> Result<Entry<Configuration>, Error> {
    AppConfigCache::global().await.get_entry(profile).await
}

/// One profile through the process-wide cache with a policy or max age. See
/// [`AppConfigCache::get_entry_with`].
///
/// # Errors
/// As [`AppConfigCache::get_entry_with`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_appconfig::Error> {
/// let profile = lambda_cache_appconfig::Profile::new("shop", "prod", "limits");
/// let config = lambda_cache_appconfig::get_entry_with(&profile, std::time::Duration::from_secs(15)).await?;
/// # let _ = config;
/// # Ok(()) }
/// ```
pub async fn get_entry_with(
    profile: &Profile,
    policy: impl Into<Policy>,
) -> Result<Entry<Configuration>, Error> {
    AppConfigCache::global()
        .await
        .get_entry_with(profile, policy)
        .await
}

/// One profile decoded from JSON through the process-wide cache. See
/// [`AppConfigCache::get_json`].
///
/// # Errors
/// As [`AppConfigCache::get_json`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_appconfig::Error> {
/// let profile = lambda_cache_appconfig::Profile::new("shop", "prod", "limits");
/// let limits = lambda_cache_appconfig::get_json::<std::collections::HashMap<String, u32>>(
///     &profile, std::time::Duration::from_secs(60)).await?;
/// # let _ = limits;
/// # Ok(()) }
/// ```
pub async fn get_json<T>(profile: &Profile, policy: impl Into<Policy>) -> Result<Entry<T>, Error>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    AppConfigCache::global()
        .await
        .get_json(profile, policy)
        .await
}

/// One profile's feature flags through the process-wide cache. See
/// [`AppConfigCache::get_flags`].
///
/// # Errors
/// As [`AppConfigCache::get_json`].
///
/// ```no_run
/// # async fn f() -> Result<(), lambda_cache_appconfig::Error> {
/// let profile = lambda_cache_appconfig::Profile::new("shop", "prod", "flags");
/// let on = lambda_cache_appconfig::get_flags(&profile, std::time::Duration::from_secs(30)).await?.is_enabled("new_cart");
/// # let _ = on;
/// # Ok(()) }
/// ```
pub async fn get_flags(
    profile: &Profile,
    policy: impl Into<Policy>,
) -> Result<Entry<FeatureFlags>, Error> {
    AppConfigCache::global()
        .await
        .get_flags(profile, policy)
        .await
}

/// Several profiles through the process-wide cache. See [`AppConfigCache::get_many`].
///
/// ```no_run
/// # async fn f() {
/// use lambda_cache_appconfig::Profile;
/// let profiles = [Profile::new("shop", "prod", "limits"), Profile::new("shop", "prod", "flags")];
/// let configs = lambda_cache_appconfig::get_many(&profiles, std::time::Duration::from_secs(60)).await;
/// # let _ = configs;
/// # }
/// ```
pub async fn get_many(
    profiles: &[Profile],
    policy: impl Into<Policy>,
) -> Vec<Result<Entry<Configuration>, Error>> {
    AppConfigCache::global()
        .await
        .get_many(profiles, policy)
        .await
}

// This crate's README (its crates.io page): its examples run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
