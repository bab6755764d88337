//! Configurations as returned to the caller, and AppConfig's feature flags.

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;
use serde::Deserialize;

/// A configuration profile's content as AppConfig last delivered it: its bytes, its content
/// type and its version label. `Debug` shows the length and type, never the content.
///
/// ```
/// use lambda_cache_appconfig::Configuration;
/// let config = Configuration::new(&b"{\"limit\":10}"[..], Some("application/json"), Some("v3"));
/// assert_eq!(config.as_str(), Some("{\"limit\":10}"));
/// assert_eq!(config.content_type(), Some("application/json"));
/// assert_eq!(config.version_label(), Some("v3"));
/// assert_eq!(format!("{config:?}"), "Configuration { bytes: 12, content_type: Some(\"application/json\"), version_label: Some(\"v3\") }");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Configuration {
    content: Bytes,
    content_type: Option<String>,
    version_label: Option<String>,
}

impl Configuration {
    /// A configuration of `content`, as AppConfig would deliver it (for tests and fakes).
    ///
    /// ```
    /// let c = lambda_cache_appconfig::Configuration::new("a=1", Some("text/plain"), None);
    /// assert_eq!(c.content(), b"a=1");
    /// ```
    pub fn new(
        content: impl Into<Bytes>,
        content_type: Option<&str>,
        version_label: Option<&str>,
    ) -> Self {
        Self {
            content: content.into(),
            content_type: content_type.map(str::to_owned),
            version_label: version_label.map(str::to_owned),
        }
    }

    /// The content's bytes.
    ///
    /// ```
    /// assert!(lambda_cache_appconfig::Configuration::new("", None, None).content().is_empty());
    /// ```
    pub fn content(&self) -> &[u8] {
        &self.content
    }

    /// The content as shared bytes (a reference-count increment, no copy).
    ///
    /// ```
    /// let c = lambda_cache_appconfig::Configuration::new("x", None, None);
    /// assert_eq!(c.bytes(), bytes::Bytes::from_static(b"x"));
    /// ```
    pub fn bytes(&self) -> Bytes {
        self.content.clone()
    }

    /// The content as text, if it is UTF-8.
    ///
    /// ```
    /// assert_eq!(lambda_cache_appconfig::Configuration::new(&[0xff_u8][..], None, None).as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.content).ok()
    }

    /// The content type AppConfig gave (`application/json`, `application/x-yaml`,
    /// `text/plain`, ...).
    ///
    /// ```
    /// assert_eq!(lambda_cache_appconfig::Configuration::new("", None, None).content_type(), None);
    /// ```
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The version label of the deployed configuration, if it has one.
    ///
    /// ```
    /// assert_eq!(lambda_cache_appconfig::Configuration::new("", None, Some("2")).version_label(), Some("2"));
    /// ```
    pub fn version_label(&self) -> Option<&str> {
        self.version_label.as_deref()
    }
}

impl fmt::Debug for Configuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Configuration")
            .field("bytes", &self.content.len())
            .field("content_type", &self.content_type)
            .field("version_label", &self.version_label)
            .finish()
    }
}

/// A feature flag's attributes, as AppConfig delivers them: any JSON values by name.
pub type Attributes = serde_json::Map<String, serde_json::Value>;

/// One feature flag of a profile in AppConfig's `AWS.AppConfig.FeatureFlags` format:
/// whether it is on, and its attributes, either as JSON ([`Attributes`], the default) or as a
/// type of your own.
///
/// ```
/// use lambda_cache_appconfig::Flag;
/// #[derive(serde::Deserialize)]
/// struct Banner { text: String }
/// let flag: Flag<Banner> = serde_json::from_str(r#"{"enabled": true, "text": "Sale!"}"#)?;
/// assert!(flag.enabled);
/// assert_eq!(flag.attributes.text, "Sale!");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Flag<A = Attributes> {
    /// Whether the flag is on.
    pub enabled: bool,
    /// The flag's attributes (AppConfig sends them only for a flag that is on).
    #[serde(flatten)]
    pub attributes: A,
}

impl Flag {
    /// One attribute's value, if the flag has it.
    ///
    /// ```
    /// let flag: lambda_cache_appconfig::Flag = serde_json::from_str(r#"{"enabled": true, "limit": 5}"#)?;
    /// assert_eq!(flag.attribute("limit"), Some(&serde_json::json!(5)));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn attribute(&self, name: &str) -> Option<&serde_json::Value> {
        self.attributes.get(name)
    }
}

/// A profile's feature flags by name, in AppConfig's `AWS.AppConfig.FeatureFlags` format:
/// `{"flag": {"enabled": true, ...attributes}}`.
///
/// ```
/// use lambda_cache_appconfig::FeatureFlags;
/// let flags: FeatureFlags = serde_json::from_str(
///     r#"{"dark_mode": {"enabled": true, "theme": "night"}, "beta": {"enabled": false}}"#,
/// )?;
/// assert!(flags.is_enabled("dark_mode"));
/// assert!(!flags.is_enabled("beta"));
/// assert!(!flags.is_enabled("no_such_flag"));
/// assert_eq!(flags.get("dark_mode").and_then(|f| f.attribute("theme")), Some(&serde_json::json!("night")));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct FeatureFlags {
    flags: HashMap<String, Flag>,
}

impl FeatureFlags {
    /// True if the flag exists and is on; a flag AppConfig did not send is off.
    ///
    /// ```
    /// assert!(!lambda_cache_appconfig::FeatureFlags::default().is_enabled("x"));
    /// ```
    pub fn is_enabled(&self, name: &str) -> bool {
        self.flags.get(name).is_some_and(|flag| flag.enabled)
    }

    /// One flag, if the profile has it.
    ///
    /// ```
    /// assert!(lambda_cache_appconfig::FeatureFlags::default().get("x").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&Flag> {
        self.flags.get(name)
    }

    /// The flags' names, in no particular order.
    ///
    /// ```
    /// assert_eq!(lambda_cache_appconfig::FeatureFlags::default().names().count(), 0);
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.flags.keys().map(String::as_str)
    }

    /// How many flags the profile has.
    ///
    /// ```
    /// assert_eq!(lambda_cache_appconfig::FeatureFlags::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// True if the profile has no flag.
    ///
    /// ```
    /// assert!(lambda_cache_appconfig::FeatureFlags::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }
}
