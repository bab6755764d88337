//! Secrets declared for the facade's `Entries`.

use lambda_cache_core::{AnyValue, BoxFuture, Declaration, Declare, Policy, refresh_each};

use crate::{Error, SecretId, SecretsCache, Version, short_name};

/// A declared secret: a name or ARN and the version to read (owned, unlike [`SecretId`]).
///
/// ```
/// use lambda_cache_secrets::SecretId;
/// let previous = lambda_cache_secrets::secret(SecretId::new("prod/db").previous());
/// assert_eq!(previous.declaration().id(), SecretId::new("prod/db").previous());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredSecret {
    name: String,
    version: OwnedVersion,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum OwnedVersion {
    Stage(String),
    Id(String),
}

impl DeclaredSecret {
    /// The secret and version to read.
    ///
    /// ```
    /// let declared = lambda_cache_secrets::secret("prod/db");
    /// assert_eq!(declared.declaration().id().name(), "prod/db");
    /// ```
    pub fn id(&self) -> SecretId<'_> {
        let id = SecretId::new(&self.name);
        match &self.version {
            OwnedVersion::Stage(stage) => id.stage(stage),
            OwnedVersion::Id(version_id) => id.version_id(version_id),
        }
    }
}

/// A secret declared for the facade's `Entries` (a name or ARN, or a [`SecretId`] naming a
/// version); its entry name defaults to the part after the last '/'.
///
/// ```
/// use std::time::Duration;
/// let db = lambda_cache_secrets::secret("/prod/db/conn_string").max_age(Duration::from_secs(300));
/// # let _ = db;
/// ```
pub fn secret<'a>(secret: impl Into<SecretId<'a>>) -> Declare<DeclaredSecret> {
    let id = secret.into();
    Declare::new(DeclaredSecret {
        name: id.name().to_owned(),
        version: match id.version() {
            Version::Stage(stage) => OwnedVersion::Stage(stage.to_owned()),
            Version::Id(version_id) => OwnedVersion::Id(version_id.to_owned()),
        },
    })
}

impl Declaration for DeclaredSecret {
    type Service = SecretsCache;
    type Error = Error;

    fn declared(&self) -> &str {
        &self.name
    }

    fn default_entry_name(&self) -> String {
        short_name(&self.name).to_owned()
    }

    fn check(&self) -> Result<(), Error> {
        self.id().check()
    }

    fn global_service() -> BoxFuture<'static, SecretsCache> {
        Box::pin(async { SecretsCache::global().await.clone() })
    }

    fn refresh<'a>(
        secrets: &'a SecretsCache,
        batch: Vec<(&'a Self, Policy)>,
    ) -> BoxFuture<'a, Vec<Result<AnyValue, Error>>> {
        refresh_each(batch, |declared: &'a Self, policy| async move {
            secrets
                .get_entry_with(declared.id(), policy)
                .await
                .map(|entry| entry.value_arc() as AnyValue)
        })
    }
}
