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

/// A secret in a shared tier (feature `shared`): its name, ARN, version id and stages, then
/// its kind and value. It is secret: it goes to a tier, and comes from one, only for reads
/// whose policy says [`Policy::share_secrets`](lambda_cache_core::Policy::share_secrets).
///
/// ```
/// use lambda_cache_core::{Sensitive, SharedValue};
/// use lambda_cache_secrets::{Secret, SecretValue};
/// let secret = Secret::new("prod/db", SecretValue::Binary(Sensitive::new(vec![0, 1])));
/// let mut bytes = Vec::new();
/// secret.encode(&mut bytes);
/// assert_eq!(Secret::decode(&bytes), Some(secret.clone()));
/// assert!(secret.is_secret());
/// assert_eq!(Secret::decode(&bytes[..3]), None);
/// ```
#[cfg(feature = "shared")]
impl lambda_cache_core::SharedValue for Secret {
    const TAG: &'static str = "secrets.Secret/1";

    fn encode(&self, out: &mut Vec<u8>) {
        use lambda_cache_core::shared::put_field;
        put_field(out, self.name.as_bytes());
        put_field(out, self.arn.as_bytes());
        put_field(out, self.version_id.as_bytes());
        put_field(out, self.version_stages.join("\n").as_bytes());
        match &self.value {
            SecretValue::String(text) => {
                out.push(0);
                out.extend_from_slice(text.expose().as_bytes());
            }
            SecretValue::Binary(bytes) => {
                out.push(1);
                out.extend_from_slice(bytes.expose());
            }
        }
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        use lambda_cache_core::shared::take_field;
        let mut rest = bytes;
        let mut text = || {
            take_field(&mut rest)
                .and_then(|field| std::str::from_utf8(field).ok().map(str::to_owned))
        };
        let (name, arn, version_id, stages) = (text()?, text()?, text()?, text()?);
        let (kind, value) = rest.split_first()?;
        let value = match kind {
            0 => SecretValue::String(Sensitive::new(std::str::from_utf8(value).ok()?.to_owned())),
            1 => SecretValue::Binary(Sensitive::new(value.to_vec())),
            _ => return None,
        };
        Some(Self {
            name,
            arn,
            version_id,
            version_stages: stages
                .split('\n')
                .filter(|stage| !stage.is_empty())
                .map(str::to_owned)
                .collect(),
            value,
        })
    }

    fn is_secret(&self) -> bool {
        true
    }
}
