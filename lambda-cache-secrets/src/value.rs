//! A secret as read: its value (redacted in every `Debug` and `Display`) and its version.

use std::fmt;

use lambda_cache_core::Sensitive;

/// A secret's value, as stored: text or bytes. `Debug` and `Display` never show it.
///
/// ```
/// use lambda_cache_core::Sensitive;
/// use lambda_cache_secrets::SecretValue;
///
/// let v = SecretValue::Binary(Sensitive::new(vec![0, 159, 146, 150]));
/// assert_eq!(v.as_bytes(), [0, 159, 146, 150]);
/// assert_eq!(v.as_str(), None);
/// assert!(!format!("{v:?}").contains("159"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretValue {
    /// A `SecretString`.
    String(Sensitive<String>),
    /// A `SecretBinary`, exactly as stored.
    Binary(Sensitive<Vec<u8>>),
}

impl SecretValue {
    /// The text of a string secret; `None` for a binary one.
    ///
    /// ```
    /// use lambda_cache_secrets::SecretValue;
    /// let v = SecretValue::String(lambda_cache_core::Sensitive::new("pw".into()));
    /// assert_eq!(v.as_str(), Some("pw"));
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text.expose()),
            Self::Binary(_) => None,
        }
    }

    /// The bytes of the secret: a binary secret's bytes, or a string secret's UTF-8.
    ///
    /// ```
    /// use lambda_cache_secrets::SecretValue;
    /// let v = SecretValue::String(lambda_cache_core::Sensitive::new("pw".into()));
    /// assert_eq!(v.as_bytes(), b"pw");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::String(text) => text.expose().as_bytes(),
            Self::Binary(bytes) => bytes.expose(),
        }
    }
}

/// A secret as read from Secrets Manager: which one, which version, and its [`SecretValue`].
///
/// `Debug` shows the metadata and `<redacted>` for the value; `Display` names the secret and
/// version only.
///
/// ```
/// use lambda_cache_core::Sensitive;
/// use lambda_cache_secrets::{Secret, SecretValue};
///
/// let secret = Secret::new("prod/db", SecretValue::String(Sensitive::new("hunter2".into())));
/// assert_eq!(secret.as_str(), Some("hunter2"));
/// assert!(!format!("{secret} {secret:?}").contains("hunter2"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secret {
    name: String,
    arn: String,
    version_id: String,
    version_stages: Vec<String>,
    value: SecretValue,
}

impl Secret {
    /// A secret called `name` with `value` and no version metadata (for tests and fakes).
    ///
    /// ```
    /// use lambda_cache_secrets::{Secret, SecretValue};
    /// let s = Secret::new("n", SecretValue::Binary(lambda_cache_core::Sensitive::new(vec![1])));
    /// assert_eq!(s.name(), "n");
    /// ```
    pub fn new(name: impl Into<String>, value: SecretValue) -> Self {
        Self {
            name: name.into(),
            arn: String::new(),
            version_id: String::new(),
            version_stages: Vec::new(),
            value,
        }
    }

    pub(crate) fn from_parts(
        name: Option<&str>,
        arn: Option<&str>,
        version_id: Option<&str>,
        version_stages: &[String],
        string: Option<&str>,
        binary: Option<&[u8]>,
    ) -> Self {
        let value = match (string, binary) {
            (Some(text), _) => SecretValue::String(Sensitive::new(text.to_owned())),
            (None, Some(bytes)) => SecretValue::Binary(Sensitive::new(bytes.to_vec())),
            (None, None) => SecretValue::String(Sensitive::new(String::new())),
        };
        Self {
            name: name.unwrap_or_default().to_owned(),
            arn: arn.unwrap_or_default().to_owned(),
            version_id: version_id.unwrap_or_default().to_owned(),
            version_stages: version_stages.to_vec(),
            value,
        }
    }

    /// The secret's friendly name.
    ///
    /// ```
    /// # let s = lambda_cache_secrets::Secret::new("n", lambda_cache_secrets::SecretValue::String(Default::default()));
    /// assert_eq!(s.name(), "n");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The secret's ARN (empty if unknown).
    ///
    /// ```
    /// # let s = lambda_cache_secrets::Secret::new("n", lambda_cache_secrets::SecretValue::String(Default::default()));
    /// assert_eq!(s.arn(), "");
    /// ```
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The id of the version read.
    ///
    /// ```
    /// # let s = lambda_cache_secrets::Secret::new("n", lambda_cache_secrets::SecretValue::String(Default::default()));
    /// assert_eq!(s.version_id(), "");
    /// ```
    pub fn version_id(&self) -> &str {
        &self.version_id
    }

    /// The staging labels of the version read (`AWSCURRENT`, ...).
    ///
    /// ```
    /// # let s = lambda_cache_secrets::Secret::new("n", lambda_cache_secrets::SecretValue::String(Default::default()));
    /// assert!(s.version_stages().is_empty());
    /// ```
    pub fn version_stages(&self) -> &[String] {
        &self.version_stages
    }

    /// The value.
    ///
    /// ```
    /// # let s = lambda_cache_secrets::Secret::new("n", lambda_cache_secrets::SecretValue::String(Default::default()));
    /// assert_eq!(s.value().as_str(), Some(""));
    /// ```
    pub fn value(&self) -> &SecretValue {
        &self.value
    }

    /// The text of a string secret. See [`SecretValue::as_str`].
    ///
    /// ```
    /// # let s = lambda_cache_secrets::Secret::new("n", lambda_cache_secrets::SecretValue::String(Default::default()));
    /// assert_eq!(s.as_str(), Some(""));
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        self.value.as_str()
    }

    /// The bytes of the secret. See [`SecretValue::as_bytes`].
    ///
    /// ```
    /// # let s = lambda_cache_secrets::Secret::new("n", lambda_cache_secrets::SecretValue::String(Default::default()));
    /// assert!(s.as_bytes().is_empty());
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        self.value.as_bytes()
    }

    /// Bytes held, for the cache's byte budget.
    pub(crate) fn weight(&self) -> u64 {
        self.as_bytes().len() as u64
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "secret {} (version {})", self.name, self.version_id)
    }
}
