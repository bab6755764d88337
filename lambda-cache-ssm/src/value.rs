//! Parameter values as returned to the caller.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{Parameter, ParameterType};
use lambda_cache_core::Sensitive;

/// A parameter's value: `String` as text, `SecureString` decrypted (and redacted in `Debug`),
/// `StringList` split on commas.
///
/// ```
/// use lambda_cache_ssm::Value;
/// use lambda_cache_core::Sensitive;
///
/// let list = Value::StringList(vec!["a".into(), "b".into()]);
/// assert_eq!(list.as_list(), Some(&["a".to_string(), "b".to_string()][..]));
/// let secret = Value::SecureString(Sensitive::new("s3cr3t".into()));
/// assert_eq!(secret.as_str(), Some("s3cr3t"));
/// assert!(!format!("{secret:?}").contains("s3cr3t"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value {
    /// A `String` parameter.
    String(String),
    /// A `SecureString` parameter, decrypted.
    SecureString(Sensitive<String>),
    /// A `StringList` parameter, split on commas.
    StringList(Vec<String>),
}

impl Value {
    /// The text of a `String` or (decrypted) `SecureString`; `None` for a `StringList`.
    ///
    /// ```
    /// assert_eq!(lambda_cache_ssm::Value::String("x".into()).as_str(), Some("x"));
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text),
            Self::SecureString(text) => Some(text.expose()),
            Self::StringList(_) => None,
        }
    }

    /// The items of a `StringList`; `None` otherwise.
    ///
    /// ```
    /// assert_eq!(lambda_cache_ssm::Value::String("x".into()).as_list(), None);
    /// ```
    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Self::StringList(items) => Some(items),
            _ => None,
        }
    }

    /// True for a `SecureString`.
    ///
    /// ```
    /// assert!(!lambda_cache_ssm::Value::String("x".into()).is_secure());
    /// ```
    pub fn is_secure(&self) -> bool {
        matches!(self, Self::SecureString(_))
    }

    pub(crate) fn from_parameter(parameter: &Parameter) -> Self {
        let text = parameter.value().unwrap_or_default();
        match parameter.r#type() {
            Some(ParameterType::SecureString) => {
                Self::SecureString(Sensitive::new(text.to_owned()))
            }
            Some(ParameterType::StringList) => {
                Self::StringList(text.split(',').map(str::to_owned).collect())
            }
            _ => Self::String(text.to_owned()),
        }
    }

    /// Bytes held, for the cache's byte budget.
    pub(crate) fn weight(&self) -> u64 {
        let bytes = match self {
            Self::String(text) => text.len(),
            Self::SecureString(text) => text.expose().len(),
            Self::StringList(items) => items.iter().map(String::len).sum(),
        };
        bytes as u64
    }
}

/// Several parameters in one entry: a list keyed by short name, or a path keyed by full name.
pub type ParameterMap = BTreeMap<String, Value>;
