//! Which secret, in which version: validation and cache keys.

use lambda_cache_core::Key;

use crate::{Error, SERVICE};

/// The service part of the keys of reads by version id (so an id never meets a stage name).
const SERVICE_BY_VERSION_ID: &str = "secrets#version-id";
/// The stage read when none is named.
pub const CURRENT: &str = "AWSCURRENT";
/// The stage that holds the value before the last rotation.
pub const PREVIOUS: &str = "AWSPREVIOUS";

/// A secret (by name or ARN) and the version to read. Converts from `&str`: the current
/// version of that secret.
///
/// ```
/// use lambda_cache_secrets::SecretId;
/// let current: SecretId<'_> = "prod/db/credentials".into();
/// let previous = SecretId::new("prod/db/credentials").previous();
/// let pinned = SecretId::new("prod/db/credentials").version_id("a1b2c3d4-5678-90ab-cdef-EXAMPLE11111");
/// assert_eq!(current.name(), "prod/db/credentials");
/// assert_ne!(current, previous);
/// # let _ = pinned;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretId<'a> {
    name: &'a str,
    version: Version<'a>,
}

/// Which version of a secret to read.
///
/// ```
/// use lambda_cache_secrets::{SecretId, Version};
/// assert_eq!(SecretId::new("s").version(), Version::Stage("AWSCURRENT"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version<'a> {
    /// The version carrying this staging label (`AWSCURRENT`, `AWSPREVIOUS`, or a custom one).
    Stage(&'a str),
    /// The version with this id.
    Id(&'a str),
}

impl<'a> SecretId<'a> {
    /// The current version (`AWSCURRENT`) of the secret `name` (a name or an ARN).
    ///
    /// ```
    /// let id = lambda_cache_secrets::SecretId::new("prod/db");
    /// # let _ = id;
    /// ```
    pub const fn new(name: &'a str) -> Self {
        Self {
            name,
            version: Version::Stage(CURRENT),
        }
    }

    /// The version carrying the staging label `stage`.
    ///
    /// ```
    /// let id = lambda_cache_secrets::SecretId::new("prod/db").stage("blue");
    /// # let _ = id;
    /// ```
    #[must_use]
    pub const fn stage(self, stage: &'a str) -> Self {
        Self {
            version: Version::Stage(stage),
            ..self
        }
    }

    /// The version before the last rotation (`AWSPREVIOUS`).
    ///
    /// ```
    /// let id = lambda_cache_secrets::SecretId::new("prod/db").previous();
    /// # let _ = id;
    /// ```
    #[must_use]
    pub const fn previous(self) -> Self {
        self.stage(PREVIOUS)
    }

    /// The version with id `id`.
    ///
    /// ```
    /// let id = lambda_cache_secrets::SecretId::new("prod/db").version_id("EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE");
    /// # let _ = id;
    /// ```
    #[must_use]
    pub const fn version_id(self, id: &'a str) -> Self {
        Self {
            version: Version::Id(id),
            ..self
        }
    }

    /// The secret's name or ARN, as given.
    ///
    /// ```
    /// assert_eq!(lambda_cache_secrets::SecretId::new("a/b").name(), "a/b");
    /// ```
    pub const fn name(&self) -> &'a str {
        self.name
    }

    /// The version to read.
    ///
    /// ```
    /// use lambda_cache_secrets::{SecretId, Version};
    /// assert_eq!(SecretId::new("a").stage("x").version(), Version::Stage("x"));
    /// ```
    pub const fn version(&self) -> Version<'a> {
        self.version
    }

    /// The cache key: the service, the name, and the version (a stage, or an id under its own
    /// service part so that the two never collide).
    pub(crate) fn key(&self) -> Key<'a> {
        match self.version {
            Version::Stage(stage) => Key::new(SERVICE, self.name).variant(stage),
            Version::Id(id) => Key::new(SERVICE_BY_VERSION_ID, self.name).variant(id),
        }
    }

    /// Checks the name and the version, before any call.
    ///
    /// # Errors
    /// [`Error::InvalidName`] naming the input.
    ///
    /// ```
    /// use lambda_cache_secrets::SecretId;
    /// assert!(SecretId::new("prod/db").check().is_ok());
    /// assert!(SecretId::new("prod db").check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        check("secret name", self.name, 2048)?;
        match self.version {
            Version::Stage(stage) => check("version stage", stage, 256),
            Version::Id(id) => check("version id", id, 64),
        }
    }
}

impl<'a> From<&'a str> for SecretId<'a> {
    fn from(name: &'a str) -> Self {
        Self::new(name)
    }
}

impl<'a> From<&&'a str> for SecretId<'a> {
    fn from(name: &&'a str) -> Self {
        Self::new(name)
    }
}

impl<'a> From<&'a String> for SecretId<'a> {
    fn from(name: &'a String) -> Self {
        Self::new(name)
    }
}

fn check(what: &'static str, input: &str, max: usize) -> Result<(), Error> {
    let reason = if input.is_empty() {
        match what {
            "secret name" => "the secret name is empty",
            "version stage" => "the version stage is empty",
            _ => "the version id is empty",
        }
    } else if input.len() > max {
        "it is longer than Secrets Manager allows"
    } else if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "it contains white space or control characters"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        input: input.to_owned(),
        reason,
    })
}

/// The default entry name: the part after the last '/' (`/prod/db/conn_string` →
/// `conn_string`; for an ARN, its last segment without the random suffix is not guessed).
///
/// ```
/// assert_eq!(lambda_cache_secrets::short_name("/prod/db/conn_string"), "conn_string");
/// assert_eq!(lambda_cache_secrets::short_name("conn_string"), "conn_string");
/// ```
pub fn short_name(name: &str) -> &str {
    name.rsplit(['/', ':']).next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_ids_never_share_a_key() {
        let by_stage = SecretId::new("s").stage("abc").key();
        let by_id = SecretId::new("s").version_id("abc").key();
        assert_ne!(by_stage, by_id);
        assert_eq!(
            SecretId::new("s").key(),
            SecretId::new("s").stage(CURRENT).key()
        );
        assert_ne!(
            SecretId::new("s").key(),
            SecretId::new("s").previous().key()
        );
    }

    #[test]
    fn bad_references_name_the_input() {
        for (id, input) in [
            (SecretId::new(""), ""),
            (SecretId::new("prod db"), "prod db"),
            (SecretId::new("ok").stage(""), ""),
            (SecretId::new("ok").version_id("has space"), "has space"),
        ] {
            let err = id.check().unwrap_err();
            assert!(
                matches!(&err, Error::InvalidName { input: i, .. } if i == input),
                "{err:?}"
            );
        }
        assert!(SecretId::new(&"x".repeat(2049)).check().is_err());
        assert_eq!(SecretId::new("prod/db-creds_1+=.@").check(), Ok(()));
    }
}
