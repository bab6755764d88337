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

/// A value in a shared tier (feature `shared`): a kind byte, then the text, a list's items
/// joined by commas (an item never holds one). A `SecureString` says it is secret: it goes to
/// the tier only for reads whose policy opts in.
///
/// ```
/// use lambda_cache_core::SharedValue;
/// use lambda_cache_ssm::Value;
/// let list = Value::StringList(vec!["a".into(), "b".into()]);
/// let mut bytes = Vec::new();
/// list.encode(&mut bytes);
/// assert_eq!(Value::decode(&bytes), Some(list));
/// assert!(!Value::String("x".into()).is_secret());
/// assert!(Value::SecureString(lambda_cache_core::Sensitive::new("x".into())).is_secret());
/// // Another kind, no kind, or text that is not UTF-8: not a value (the reader fetches).
/// assert_eq!(Value::decode(&[3, b'x']), None);
/// assert_eq!(Value::decode(&[]), None);
/// assert_eq!(Value::decode(&[0, 0xff]), None);
/// ```
#[cfg(feature = "shared")]
impl lambda_cache_core::SharedValue for Value {
    const TAG: &'static str = "ssm.Value/1";

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::String(text) => {
                out.push(0);
                out.extend_from_slice(text.as_bytes());
            }
            Self::SecureString(text) => {
                out.push(1);
                out.extend_from_slice(text.expose().as_bytes());
            }
            Self::StringList(items) => {
                out.push(2);
                out.extend_from_slice(items.join(",").as_bytes());
            }
        }
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (kind, text) = bytes.split_first()?;
        let text = std::str::from_utf8(text).ok()?;
        match kind {
            0 => Some(Self::String(text.to_owned())),
            1 => Some(Self::SecureString(Sensitive::new(text.to_owned()))),
            2 => Some(Self::StringList(
                text.split(',').map(str::to_owned).collect(),
            )),
            _ => None,
        }
    }

    fn is_secret(&self) -> bool {
        matches!(self, Self::SecureString(_))
    }
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
