//! Profiles declared for the facade's `Entries`: each stale profile is polled in its own
//! session, all of them concurrently.

use lambda_cache_core::{AnyValue, BoxFuture, Declaration, Declare, Policy, refresh_each};

use crate::{AppConfigCache, Error, Profile};

/// A configuration profile declared for the facade's `Entries`, read as a
/// [`Configuration`](crate::Configuration); its entry name defaults to the profile's name.
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_appconfig::Profile;
/// let flags = lambda_cache_appconfig::configuration(Profile::new("shop", "prod", "flags"))
///     .max_age(Duration::from_secs(30));
/// assert_eq!(flags.declaration().profile(), "flags");
/// ```
pub fn configuration(profile: Profile) -> Declare<Profile> {
    Declare::new(profile)
}

impl Declaration for Profile {
    type Service = AppConfigCache;
    type Error = Error;

    fn declared(&self) -> &str {
        self.label()
    }

    fn default_entry_name(&self) -> String {
        self.profile().to_owned()
    }

    fn check(&self) -> Result<(), Error> {
        Profile::check(self)
    }

    fn global_service() -> BoxFuture<'static, AppConfigCache> {
        Box::pin(async { AppConfigCache::global().await.clone() })
    }

    fn refresh<'a>(
        appconfig: &'a AppConfigCache,
        batch: Vec<(&'a Self, Policy)>,
    ) -> BoxFuture<'a, Vec<Result<AnyValue, Error>>> {
        refresh_each(batch, |profile: &'a Self, policy| async move {
            appconfig
                .get_entry_with(profile, policy)
                .await
                .map(|entry| entry.value_arc() as AnyValue)
        })
    }
}
