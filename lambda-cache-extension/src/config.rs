//! What the extension is told: environment variables and `cache.yaml`, each checked where it is
//! read, with an error that names the variable or the file, line and field.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_cache::Sensitive;
use lambda_cache::appconfig::Profile;
use lambda_cache::dynamodb::KeyValue;
use serde::Deserialize;

use crate::go::{self, quote};

/// Why the extension cannot start. Each one is posted to the Extensions API's `init/error`
/// (its [`InitError::error_type`] as `Lambda-Extension-Function-Error-Type`) before the process
/// exits non-zero; none carries a token's value.
///
/// ```
/// use lambda_cache_extension::config::{InitError, Settings};
/// let err = Settings::from_lookup(|name| {
///     (name == "CACHE_EXTENSION_TTL").then(|| "1d".into())
/// })
/// .unwrap_err();
/// assert_eq!(err.error_type(), "Extension.InvalidVariable");
/// assert!(err.to_string().contains("CACHE_EXTENSION_TTL"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// An environment variable with a value that cannot work.
    Variable {
        /// The variable's name.
        name: &'static str,
        /// Its value, quoted and shortened.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No token to require of clients: none of the token variables is set.
    NoToken,
    /// `cache.yaml` (or the file `CACHE_EXTENSION_CONFIG` names) is unreadable or wrong.
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its line and column where the parser gives them.
        message: String,
    },
    /// A listener could not be bound.
    Bind {
        /// The variable that sets the port.
        variable: &'static str,
        /// The port.
        port: u16,
        /// The system's reason.
        reason: String,
    },
    /// The Extensions API could not be reached or refused a call.
    RuntimeApi(String),
}

impl InitError {
    /// The error type posted with `init/error` (`Extension.<Reason>`).
    ///
    /// ```
    /// use lambda_cache_extension::config::InitError;
    /// assert_eq!(InitError::NoToken.error_type(), "Extension.NoToken");
    /// ```
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Variable { .. } => "Extension.InvalidVariable",
            Self::NoToken => "Extension.NoToken",
            Self::ConfigFile { .. } => "Extension.InvalidConfigFile",
            Self::Bind { .. } => "Extension.PortUnavailable",
            Self::RuntimeApi(_) => "Extension.RuntimeApi",
        }
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Variable {
                name,
                value,
                reason,
            } => write!(f, "environment variable {name}={value}: {reason}"),
            Self::NoToken => f.write_str(
                "no token to require of clients: set one of AWS_TOKEN, AWS_SESSION_TOKEN, \
                 AWS_CONTAINER_AUTHORIZATION_TOKEN (Lambda sets AWS_SESSION_TOKEN)",
            ),
            Self::ConfigFile { path, message } => {
                write!(f, "configuration file {}: {message}", path.display())
            }
            Self::Bind {
                variable,
                port,
                reason,
            } => write!(
                f,
                "cannot listen on 127.0.0.1:{port} ({variable}): {reason}; choose another port or set {variable}=off"
            ),
            Self::RuntimeApi(message) => write!(f, "Extensions API: {message}"),
        }
    }
}

impl std::error::Error for InitError {}

/// Who may read without the token header (`CACHE_EXTENSION_AUTH`): only the routes whose
/// published clients send none (`/dynamodb`, seed 003's; the AppConfig route, the AWS AppConfig
/// extension's) can be opened.
///
/// ```
/// use lambda_cache_extension::config::{Auth, Settings};
/// let settings = Settings::from_lookup(|name| match name {
///     "AWS_SESSION_TOKEN" => Some("t".into()),
///     "CACHE_EXTENSION_AUTH" => Some("none".into()),
///     _ => None,
/// })?;
/// assert_eq!(settings.auth, Auth::Open);
/// # Ok::<(), lambda_cache_extension::config::InitError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// Every route but `/ping` requires the token (the default).
    Token,
    /// `/dynamodb` and the AppConfig route answer without a token, for clients written for
    /// seed 003's extension or the AWS AppConfig extension; parameters, secrets and stats still
    /// require it.
    Open,
}

/// The extension's settings, from its environment.
///
/// ```
/// use std::time::Duration;
/// use lambda_cache_extension::config::Settings;
/// let settings = Settings::from_lookup(|name| match name {
///     "AWS_SESSION_TOKEN" => Some("t0ken".into()),
///     "CACHE_EXTENSION_TTL" => Some("2m30s".into()),
///     _ => None,
/// })?;
/// assert_eq!(settings.ttl, Duration::from_secs(150));
/// assert_eq!(settings.cache_port, Some(4000));
/// # Ok::<(), lambda_cache_extension::config::InitError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// The configuration file, and whether a variable named it (then it must exist).
    pub config_path: PathBuf,
    /// True when `CACHE_EXTENSION_CONFIG` named the file.
    pub config_named: bool,
    /// Max age of a DynamoDB item (`CACHE_EXTENSION_TTL`, default 300 s), and of everything
    /// without a TTL of its own.
    pub ttl: Duration,
    /// Max age of a parameter (`SSM_PARAMETER_STORE_TTL` seconds, else `ttl`).
    pub ssm_ttl: Duration,
    /// Max age of a secret (`SECRETS_MANAGER_TTL` seconds, else `ttl`).
    pub secrets_ttl: Duration,
    /// How far past its TTL a value may be served while the backend fails
    /// (`CACHE_EXTENSION_MAX_STALE`, default 10 min; `0` turns stale answers off).
    pub max_stale: Duration,
    /// How long a not-found, access-denied or invalid-request answer is remembered and answered
    /// from memory (`CACHE_EXTENSION_NEGATIVE_TTL`, default 30 s, never longer than the route's
    /// TTL; `0` turns it off).
    pub negative_ttl: Duration,
    /// Refresh ahead from this share of the TTL: a request for a value older than it is answered
    /// from memory and starts one background refresh (`CACHE_EXTENSION_REFRESH_AHEAD`, a number
    /// between 0 and 1, default 0.8; `off` or `0` for none).
    pub refresh_ahead: Option<f64>,
    /// How long past its TTL a value is answered at once while one refresh runs
    /// (`CACHE_EXTENSION_STALE_WHILE_REVALIDATE`, Go durations, default 0: off).
    pub stale_while_revalidate: Duration,
    /// Revalidate a secret read by stage past its TTL with DescribeSecret, keeping the held
    /// value while the stage still names its version (`CACHE_EXTENSION_SECRETS_REVALIDATE`,
    /// Go booleans, default true).
    pub revalidate_secrets: bool,
    /// Preload what the configuration file lists (`CACHE_EXTENSION_INIT_STARTUP`).
    pub init_startup: bool,
    /// Time the preload and the AppConfig prefetch share before the first `event/next`
    /// (`CACHE_EXTENSION_INIT_BUDGET`, Go durations, default 8 s, at most 15 min; `0` reads
    /// nothing at start). Lambda ends an on-demand INIT phase at 10 s.
    pub init_budget: Duration,
    /// The seed's port (`CACHE_EXTENSION_PORT`, default 4000; `off` for none).
    pub cache_port: Option<u16>,
    /// The AWS extension's port (`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`, default 2773;
    /// `off` for none).
    pub aws_port: Option<u16>,
    /// The AWS AppConfig extension's port (`AWS_APPCONFIG_EXTENSION_HTTP_PORT`, default 2772;
    /// `off` for none).
    pub appconfig_port: Option<u16>,
    /// Max age of an AppConfig profile (`AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS`, default
    /// 45 s as in the AWS AppConfig extension); AppConfig's own poll interval is never beaten.
    pub appconfig_ttl: Duration,
    /// Profiles read at start (`AWS_APPCONFIG_EXTENSION_PREFETCH_LIST`: comma-separated
    /// `/applications/{app}/environments/{env}/configurations/{profile}`).
    pub appconfig_prefetch: Vec<Profile>,
    /// Who may read without the token (`CACHE_EXTENSION_AUTH`: `token` or `none`).
    pub auth: Auth,
    /// The token clients send in `X-Aws-Parameters-Secrets-Token`.
    pub token: Sensitive<String>,
    /// Entries held at most (`PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE`, default 1000);
    /// `None` when caching is off (`0`, or `PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED=false`).
    pub capacity: Option<usize>,
    /// Requests that may wait on the backend at once; more are answered 429, while hits are
    /// always answered (`CACHE_EXTENSION_MAX_IN_FLIGHT`, default 128).
    pub max_in_flight: usize,
    /// Longest wait for one backend call, retries included; then 504
    /// (`CACHE_EXTENSION_BACKEND_TIMEOUT`, default 5 s).
    pub backend_timeout: Duration,
    /// Where the metrics go: CloudWatch EMF lines on standard output under
    /// `CACHE_EXTENSION_METRICS_NAMESPACE` (default `LambdaCache`) with the dimensions of
    /// `CACHE_EXTENSION_METRICS_DIMENSIONS` (`Name=value,…`; default `FunctionName=` the
    /// function's name); `None` when `CACHE_EXTENSION_METRICS=off`.
    pub metrics: Option<lambda_cache::emf::Emf>,
    /// The fleet's shared tier (`CACHE_EXTENSION_SHARED_TIER`), if any.
    pub shared_tier: Option<SharedTier>,
}

/// A shared tier on Redis or Valkey that the extensions of a fleet read before the backend
/// (`CACHE_EXTENSION_SHARED_TIER`: a `redis://`, `rediss://`, `valkey://` or `valkeys://`
/// URL), so that the fleet fetches each key about once per TTL.
///
/// ```
/// use lambda_cache_extension::config::Settings;
/// let settings = Settings::from_lookup(|name| match name {
///     "AWS_SESSION_TOKEN" => Some("t".into()),
///     "CACHE_EXTENSION_SHARED_TIER" => Some("rediss://cache.example:6379".into()),
///     "CACHE_EXTENSION_SHARED_TIER_IAM" => Some("app-user@my-cache".into()),
///     _ => None,
/// })?;
/// let tier = settings.shared_tier.unwrap();
/// assert!(!tier.share_secrets);
/// assert_eq!(tier.iam.unwrap().user, "app-user");
/// # Ok::<(), lambda_cache_extension::config::InitError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SharedTier {
    /// The server's URL (it may hold a password: never shown).
    pub url: Sensitive<String>,
    /// The keys' prefix (`CACHE_EXTENSION_SHARED_TIER_PREFIX`; by default
    /// `lambda-cache:<account>:<region>:<function>:`, the account as Lambda gives it to the
    /// extension when it registers).
    pub prefix: Option<String>,
    /// Secrets, and parameters read decrypted, go to the tier too
    /// (`CACHE_EXTENSION_SHARED_TIER_SECRETS`, Go booleans, default false): whoever can read
    /// the tier can then read them.
    pub share_secrets: bool,
    /// ElastiCache IAM authentication (`CACHE_EXTENSION_SHARED_TIER_IAM`: `user@cache-name`).
    pub iam: Option<IamAuth>,
}

/// ElastiCache IAM authentication: the extension signs a token for `user` on `cache` with the
/// execution role's credentials, and renews it every 10 minutes (it is valid for 15).
///
/// ```
/// let iam = lambda_cache_extension::config::IamAuth::parse("app@orders-cache", "rediss://x.serverless.use1.cache.amazonaws.com:6379").unwrap();
/// assert_eq!((iam.user.as_str(), iam.cache.as_str(), iam.serverless), ("app", "orders-cache", true));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IamAuth {
    /// The ElastiCache user id (its authentication mode IAM).
    pub user: String,
    /// The replication group id or serverless cache name.
    pub cache: String,
    /// A serverless cache (its URL's host has `.serverless.`): the token says so.
    pub serverless: bool,
}

impl IamAuth {
    /// `user@cache`, for the tier at `url`.
    ///
    /// # Errors
    /// What is wrong, when `text` is not `user@cache` with both parts.
    ///
    /// ```
    /// assert!(lambda_cache_extension::config::IamAuth::parse("no-at-sign", "rediss://h").is_err());
    /// ```
    pub fn parse(text: &str, url: &str) -> Result<Self, String> {
        match text.split_once('@') {
            Some((user, cache))
                if !user.is_empty() && !cache.is_empty() && !cache.contains('@') =>
            {
                Ok(Self {
                    user: user.to_owned(),
                    cache: cache.to_owned(),
                    serverless: url.contains(".serverless."),
                })
            }
            _ => Err(
                "give <user id>@<cache name>: an IAM-mode ElastiCache user and its cache"
                    .to_owned(),
            ),
        }
    }
}

/// The INIT budget when `CACHE_EXTENSION_INIT_BUDGET` is not set: 2 s short of the 10 s Lambda
/// gives an on-demand INIT phase, for the function's own start.
const DEFAULT_INIT_BUDGET: Duration = Duration::from_secs(8);
/// The longest INIT budget: provisioned concurrency and SnapStart allow INIT phases past 10 s.
const MAX_INIT_BUDGET: Duration = Duration::from_secs(15 * 60);

const TOKEN_VARIABLES: [&str; 3] = [
    "AWS_TOKEN",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
];

impl Settings {
    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// As [`Settings::from_lookup`].
    ///
    /// ```no_run
    /// let settings = lambda_cache_extension::config::Settings::from_env()?;
    /// # Ok::<(), lambda_cache_extension::config::InitError>(())
    /// ```
    pub fn from_env() -> Result<Self, InitError> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the settings through `get` (a variable's value, if set).
    ///
    /// # Errors
    /// [`InitError::Variable`] for the first variable whose value cannot work (not UTF-8, not
    /// Go's duration or boolean grammar, a negative TTL, a port out of range, ...), and
    /// [`InitError::NoToken`] when no token variable is set.
    ///
    /// ```
    /// use lambda_cache_extension::config::{InitError, Settings};
    /// let err = Settings::from_lookup(|name| {
    ///     (name == "CACHE_EXTENSION_PORT").then(|| "70000".into())
    /// })
    /// .unwrap_err();
    /// assert!(matches!(err, InitError::Variable { name: "CACHE_EXTENSION_PORT", .. }));
    /// ```
    pub fn from_lookup(get: impl Fn(&str) -> Option<OsString>) -> Result<Self, InitError> {
        let vars = Vars(&get);
        let named = vars.text("CACHE_EXTENSION_CONFIG")?;
        let (config_path, config_named) = match named {
            Some(path) if !path.is_empty() => (PathBuf::from(path), true),
            _ => {
                let root = vars
                    .text("LAMBDA_TASK_ROOT")?
                    .filter(|root| !root.is_empty())
                    .unwrap_or_else(|| "/var/task".to_owned());
                (Path::new(&root).join("cache.yaml"), false)
            }
        };
        let ttl = vars
            .duration("CACHE_EXTENSION_TTL")?
            .unwrap_or(Duration::from_secs(300));
        let ssm_ttl = vars.seconds("SSM_PARAMETER_STORE_TTL")?.unwrap_or(ttl);
        let secrets_ttl = vars.seconds("SECRETS_MANAGER_TTL")?.unwrap_or(ttl);
        let max_stale = vars
            .duration("CACHE_EXTENSION_MAX_STALE")?
            .unwrap_or(Duration::from_secs(600));
        let negative_ttl = vars
            .duration("CACHE_EXTENSION_NEGATIVE_TTL")?
            .unwrap_or(Duration::from_secs(30));
        let refresh_ahead = vars
            .parsed("CACHE_EXTENSION_REFRESH_AHEAD", |text| match text {
                "off" | "0" => Ok(None),
                _ => match text.parse::<f64>() {
                    Ok(f) if f > 0.0 && f < 1.0 => Ok(Some(f)),
                    _ => Err(
                        "give a share of the TTL between 0 and 1 (0.8 refreshes from 80%), or off"
                            .to_owned(),
                    ),
                },
            })?
            .unwrap_or(Some(0.8));
        let stale_while_revalidate = vars
            .duration("CACHE_EXTENSION_STALE_WHILE_REVALIDATE")?
            .unwrap_or(Duration::ZERO);
        let revalidate_secrets = vars
            .boolean("CACHE_EXTENSION_SECRETS_REVALIDATE")?
            .unwrap_or(true);
        let init_startup = vars
            .boolean("CACHE_EXTENSION_INIT_STARTUP")?
            .unwrap_or(false);
        let init_budget = vars
            .parsed("CACHE_EXTENSION_INIT_BUDGET", |text| {
                match parse_ttl(text)? {
                    long if long > MAX_INIT_BUDGET => {
                        Err("longer than Lambda's longest INIT phase: give at most 15m".to_owned())
                    }
                    budget => Ok(budget),
                }
            })?
            .unwrap_or(DEFAULT_INIT_BUDGET);
        let cache_port = vars.port("CACHE_EXTENSION_PORT", 4000)?;
        let aws_port = vars.port("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", 2773)?;
        let appconfig_port = vars.port("AWS_APPCONFIG_EXTENSION_HTTP_PORT", 2772)?;
        if cache_port.is_none() && aws_port.is_none() && appconfig_port.is_none() {
            return Err(InitError::Variable {
                name: "AWS_APPCONFIG_EXTENSION_HTTP_PORT",
                value: quote("off"),
                reason: "every listener is off (CACHE_EXTENSION_PORT and \
                         PARAMETERS_SECRETS_EXTENSION_HTTP_PORT are off too): keep at least one"
                    .into(),
            });
        }
        let ports = [
            ("CACHE_EXTENSION_PORT", cache_port),
            ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", aws_port),
            ("AWS_APPCONFIG_EXTENSION_HTTP_PORT", appconfig_port),
        ];
        for (i, (name, port)) in ports.iter().enumerate() {
            if let Some((earlier, _)) = ports[..i]
                .iter()
                .find(|(_, other)| port.is_some() && other == port)
            {
                // Named after the variable that was set: a port chosen onto another
                // listener's default is that choice's mistake (found by the property tests).
                let (name, other) = if vars.0(name).is_none() {
                    (*earlier, *name)
                } else {
                    (*name, *earlier)
                };
                return Err(InitError::Variable {
                    name,
                    value: quote(&format!("{}", port.unwrap_or_default())),
                    reason: format!(
                        "the same port as {other}: give each listener its own, or turn one off"
                    ),
                });
            }
        }
        let appconfig_ttl = vars
            .seconds("AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS")?
            .unwrap_or(Duration::from_secs(45));
        let appconfig_prefetch = vars
            .parsed("AWS_APPCONFIG_EXTENSION_PREFETCH_LIST", |text| {
                text.split(',')
                    .map(str::trim)
                    .filter(|path| !path.is_empty())
                    .map(|path| {
                        profile_path(path).map_err(|reason| format!("{}: {reason}", quote(path)))
                    })
                    .collect()
            })?
            .unwrap_or_default();
        let auth = match vars.text("CACHE_EXTENSION_AUTH")?.as_deref() {
            None | Some("token") => Auth::Token,
            Some("none") => Auth::Open,
            Some(other) => {
                return Err(InitError::Variable {
                    name: "CACHE_EXTENSION_AUTH",
                    value: quote(other),
                    reason: "give token (the default) or none (/dynamodb and the AppConfig route answer without a token)"
                        .into(),
                });
            }
        };
        let mut token = None;
        for name in TOKEN_VARIABLES {
            // A token's value is never quoted in an error: only "not UTF-8" can be said of it.
            let value = get(name).map(|v| {
                v.into_string().map_err(|_| InitError::Variable {
                    name,
                    value: "(hidden)".into(),
                    reason: "not UTF-8".into(),
                })
            });
            if let Some(value) = value.transpose()?
                && !value.is_empty()
            {
                token = Some(value);
                break;
            }
        }
        let token = Sensitive::new(token.ok_or(InitError::NoToken)?);
        let enabled = vars
            .boolean("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED")?
            .unwrap_or(true);
        let size = vars
            .count(
                "PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE",
                lambda_cache::Cache::MAX_CAPACITY,
            )?
            .unwrap_or(1000);
        let capacity = (enabled && size > 0).then_some(size);
        // Zero is refused where the value is parsed, so that the error shows it as given.
        let max_in_flight = vars
            .parsed("CACHE_EXTENSION_MAX_IN_FLIGHT", |text| {
                match text.parse::<usize>() {
                    Ok(0) => Err("no request could be served: give at least 1".to_owned()),
                    Ok(limit) => Ok(limit),
                    Err(_) => Err("give a whole number (1 or more)".to_owned()),
                }
            })?
            .unwrap_or(128);
        let backend_timeout = vars
            .parsed("CACHE_EXTENSION_BACKEND_TIMEOUT", |text| {
                match parse_ttl(text)? {
                    zero if zero.is_zero() => {
                        Err("no backend call could finish: give a positive duration".to_owned())
                    }
                    timeout => Ok(timeout),
                }
            })?
            .unwrap_or(Duration::from_secs(5));
        let metrics = match vars.text("CACHE_EXTENSION_METRICS")?.as_deref() {
            Some("off") => None,
            None | Some("emf") => Some(emf_settings(&vars)?),
            Some(other) => {
                return Err(InitError::Variable {
                    name: "CACHE_EXTENSION_METRICS",
                    value: quote(other),
                    reason:
                        "give emf (the default: CloudWatch EMF lines on standard output) or off"
                            .into(),
                });
            }
        };
        let shared_tier = shared_tier(&vars)?;
        Ok(Self {
            config_path,
            config_named,
            ttl,
            ssm_ttl,
            secrets_ttl,
            max_stale,
            negative_ttl,
            refresh_ahead,
            stale_while_revalidate,
            revalidate_secrets,
            init_startup,
            init_budget,
            cache_port,
            aws_port,
            appconfig_port,
            appconfig_ttl,
            appconfig_prefetch,
            auth,
            token,
            capacity,
            max_in_flight,
            backend_timeout,
            metrics,
            shared_tier,
        })
    }
}

/// The shared tier's settings, the URL checked as the tier will use it (its password never
/// shown in an error).
fn shared_tier<F: Fn(&str) -> Option<OsString>>(
    vars: &Vars<'_, F>,
) -> Result<Option<SharedTier>, InitError> {
    const URL: &str = "CACHE_EXTENSION_SHARED_TIER";
    // Each setting is checked whether or not a tier is set: a mistake shows at once.
    let prefix = vars
        .text("CACHE_EXTENSION_SHARED_TIER_PREFIX")?
        .filter(|prefix| !prefix.is_empty());
    let share_secrets = vars
        .boolean("CACHE_EXTENSION_SHARED_TIER_SECRETS")?
        .unwrap_or(false);
    let iam = vars.parsed("CACHE_EXTENSION_SHARED_TIER_IAM", |text| {
        IamAuth::parse(text, "")
    })?;
    let Some(raw) = (vars.0)(URL) else {
        return Ok(None);
    };
    // The URL may hold a password: an error shows it without its user information.
    let url = raw.into_string().map_err(|_| InitError::Variable {
        name: URL,
        value: "(hidden)".into(),
        reason: "not UTF-8".into(),
    })?;
    if url.is_empty() {
        return Ok(None);
    }
    if let Err(error) = lambda_cache::redis::RedisTier::builder(url.as_str()).build() {
        return Err(InitError::Variable {
            name: URL,
            value: "(see the reason)".into(),
            reason: error.to_string(),
        });
    }
    let iam = iam.map(|iam| IamAuth {
        serverless: url.contains(".serverless."),
        ..iam
    });
    if iam.is_some() && !(url.starts_with("rediss://") || url.starts_with("valkeys://")) {
        return Err(InitError::Variable {
            name: "CACHE_EXTENSION_SHARED_TIER_IAM",
            value: "(set)".into(),
            reason:
                "IAM authentication needs TLS: give CACHE_EXTENSION_SHARED_TIER a rediss:// URL"
                    .into(),
        });
    }
    Ok(Some(SharedTier {
        url: Sensitive::new(url),
        prefix,
        share_secrets,
        iam,
    }))
}

/// The metrics' namespace and dimensions, each error naming its variable.
fn emf_settings<F: Fn(&str) -> Option<OsString>>(
    vars: &Vars<'_, F>,
) -> Result<lambda_cache::emf::Emf, InitError> {
    use lambda_cache::emf::Emf;
    let namespace = vars
        .text("CACHE_EXTENSION_METRICS_NAMESPACE")?
        .unwrap_or_else(|| "LambdaCache".to_owned());
    let mut emf = Emf::new(namespace.clone()).map_err(|e| InitError::Variable {
        name: "CACHE_EXTENSION_METRICS_NAMESPACE",
        value: quote(&namespace),
        reason: e.to_string(),
    })?;
    let (dimensions, given) = match vars.text("CACHE_EXTENSION_METRICS_DIMENSIONS")? {
        Some(text) => (text.clone(), Some(text)),
        None => (
            vars.text("AWS_LAMBDA_FUNCTION_NAME")?
                .filter(|name| !name.is_empty())
                .map(|name| format!("FunctionName={name}"))
                .unwrap_or_default(),
            None,
        ),
    };
    for pair in dimensions.split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        // The variable as given, and the pair at fault in the reason; a function name taken
        // by default is named as its own variable.
        // (An error of the metrics' own shows its input itself: the pair is not said twice.)
        let invalid = |reason: String, shows_input: bool| match &given {
            Some(text) => InitError::Variable {
                name: "CACHE_EXTENSION_METRICS_DIMENSIONS",
                value: quote(text),
                reason: if shows_input {
                    reason
                } else {
                    format!("{}: {reason}", quote(pair))
                },
            },
            None => InitError::Variable {
                name: "AWS_LAMBDA_FUNCTION_NAME",
                value: quote(pair.trim_start_matches("FunctionName=")),
                reason: format!("as the metrics' FunctionName dimension: {reason}"),
            },
        };
        let Some((name, value)) = pair.split_once('=') else {
            return Err(invalid(
                "give Name=value pairs, separated by commas".into(),
                false,
            ));
        };
        if name.trim() == "Route" {
            return Err(invalid(
                "Route is the extension's own dimension: give another name".into(),
                false,
            ));
        }
        emf = emf
            .dimension(name.trim(), value.trim())
            .map_err(|e| invalid(e.to_string(), true))?;
    }
    Ok(emf)
}

/// The environment, read one typed variable at a time.
struct Vars<'a, F>(&'a F);

impl<F: Fn(&str) -> Option<OsString>> Vars<'_, F> {
    fn text(&self, name: &'static str) -> Result<Option<String>, InitError> {
        match (self.0)(name) {
            None => Ok(None),
            Some(value) => value
                .into_string()
                .map(Some)
                .map_err(|raw| InitError::Variable {
                    name,
                    value: quote(&raw.to_string_lossy()),
                    reason: "not UTF-8".into(),
                }),
        }
    }

    fn parsed<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, InitError> {
        let Some(text) = self.text(name)? else {
            return Ok(None);
        };
        parse(&text)
            .map(Some)
            .map_err(|reason| InitError::Variable {
                name,
                value: quote(&text),
                reason,
            })
    }

    /// Go's duration grammar; negative is refused.
    fn duration(&self, name: &'static str) -> Result<Option<Duration>, InitError> {
        self.parsed(name, parse_ttl)
    }

    /// Whole seconds, as the AWS extension's TTL variables are written (no 300 s cap).
    fn seconds(&self, name: &'static str) -> Result<Option<Duration>, InitError> {
        self.parsed(name, |text| {
            text.parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| "give a whole number of seconds (0 or more)".to_owned())
        })
    }

    fn boolean(&self, name: &'static str) -> Result<Option<bool>, InitError> {
        self.parsed(name, |text| go::parse_bool(text).map_err(|e| e.to_string()))
    }

    /// A whole number up to `max`, bounded where it is read so that the error shows it as given.
    fn count(&self, name: &'static str, max: usize) -> Result<Option<usize>, InitError> {
        self.parsed(name, |text| match text.parse::<usize>() {
            Ok(n) if n > max => Err(format!(
                "above the most a cache holds ({max}): give a smaller number"
            )),
            Ok(n) => Ok(n),
            Err(_) => Err("give a whole number (0 or more)".to_owned()),
        })
    }

    fn port(&self, name: &'static str, default: u16) -> Result<Option<u16>, InitError> {
        Ok(self
            .parsed(name, |text| match text {
                "off" => Ok(None),
                _ => match text.parse::<u16>() {
                    Ok(port) if port > 0 => Ok(Some(port)),
                    _ => Err("give a port from 1 to 65535, or off".to_owned()),
                },
            })?
            .unwrap_or(Some(default)))
    }
}

/// The path the AWS AppConfig extension serves a profile at,
/// `/applications/{app}/environments/{env}/configurations/{profile}`, each part percent-decoded
/// and checked as AppConfig would.
///
/// # Errors
/// What is wrong with the path (the caller names where it came from).
///
/// ```
/// use lambda_cache_extension::config::profile_path;
/// let p = profile_path("/applications/shop/environments/prod/configurations/new%20flags")?;
/// assert_eq!((p.application(), p.environment(), p.profile()), ("shop", "prod", "new flags"));
/// assert!(profile_path("/applications/shop/configurations/flags").is_err());
/// # Ok::<(), String>(())
/// ```
pub fn profile_path(path: &str) -> Result<Profile, String> {
    let parts: Vec<&str> = path.split('/').collect();
    let [
        "",
        "applications",
        application,
        "environments",
        environment,
        "configurations",
        profile,
    ] = parts.as_slice()
    else {
        return Err(
            "not /applications/{app}/environments/{env}/configurations/{profile}".to_owned(),
        );
    };
    let decoded = |part: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| "a part is not UTF-8 once percent-decoded".to_owned())
    };
    let profile = Profile::new(
        decoded(application)?,
        decoded(environment)?,
        decoded(profile)?,
    );
    profile.check().map_err(|e| match e {
        lambda_cache::appconfig::Error::InvalidProfile { reason, .. } => reason,
        other => other.to_string(),
    })?;
    Ok(profile)
}

/// A TTL in Go's duration grammar, 0 or more.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let nanos = go::parse_duration(text).map_err(|e| e.to_string())?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| "a negative duration cannot be a max age".to_owned())
}

/// The configuration file: what to cache and preload. No file at the default path is the same
/// as an empty one (reads on demand only).
///
/// ```
/// use lambda_cache_extension::config::CacheFile;
/// let file = CacheFile::parse(
///     "dynamodb:\n  - table: Users\n    hashKey: pk\n    hashKeyType: S\n",
///     "cache.yaml".as_ref(),
/// )?;
/// assert_eq!(file.dynamodb[0].table, "Users");
/// # Ok::<(), lambda_cache_extension::config::InitError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct CacheFile {
    /// Tables, with their keys (else read from the table's key schema) and projections.
    pub dynamodb: Vec<TableConfig>,
    /// SSM parameter names to preload.
    pub parameters: Vec<String>,
    /// Secret ids to preload.
    pub secrets: Vec<String>,
    /// AppConfig profiles to read at start (as `/applications/{app}/environments/{env}/configurations/{profile}`).
    pub appconfig: Vec<Profile>,
}

/// One table of `cache.yaml`.
///
/// ```
/// use lambda_cache_extension::config::CacheFile;
/// let file = CacheFile::parse(
///     "dynamodb:\n  - table: Orders\n    hashkey: id\n    hashkeytype: N\n    ttl: 30s\n",
///     "cache.yaml".as_ref(),
/// )?;
/// let table = &file.dynamodb[0];
/// assert_eq!(table.hash.as_ref().map(|k| k.name.as_str()), Some("id"));
/// assert_eq!(table.ttl, Some(std::time::Duration::from_secs(30)));
/// # Ok::<(), lambda_cache_extension::config::InitError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TableConfig {
    /// The table name.
    pub table: String,
    /// The partition key, if given.
    pub hash: Option<KeyAttribute>,
    /// The sort key, if the table has one and it is given.
    pub sort: Option<KeyAttribute>,
    /// Attributes to return (and to scan when preloading); empty for all.
    pub fields: Vec<String>,
    /// This table's max age, if not `CACHE_EXTENSION_TTL`.
    pub ttl: Option<Duration>,
}

/// A key attribute: its name and DynamoDB type.
///
/// ```
/// use lambda_cache_extension::config::{CacheFile, KeyAttribute, KeyType};
/// let file = CacheFile::parse("dynamodb:\n  - table: T\n    hashKey: id\n    hashKeyType: N\n", "c.yaml".as_ref())?;
/// assert_eq!(file.dynamodb[0].hash, Some(KeyAttribute { name: "id".into(), kind: KeyType::N }));
/// # Ok::<(), lambda_cache_extension::config::InitError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyAttribute {
    /// The attribute name.
    pub name: String,
    /// Its type.
    pub kind: KeyType,
}

/// A key attribute's type.
///
/// ```
/// assert_eq!(lambda_cache_extension::config::KeyType::default(), lambda_cache_extension::config::KeyType::S);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum KeyType {
    /// A string (the default).
    #[default]
    S,
    /// A number.
    N,
    /// Binary, written base64 in requests.
    B,
}

impl KeyAttribute {
    /// The key value of `text` for this attribute: a string as is, a number checked and put in
    /// canonical form (so `1`, `1.0` and `01` are one item), binary decoded from base64.
    /// An error names the text and what is wrong with it (the caller names the parameter).
    pub(crate) fn value(&self, text: &str) -> Result<KeyValue, String> {
        match self.kind {
            KeyType::S if text.is_empty() => Err(format!(
                "the {} key value is empty (DynamoDB keys cannot be)",
                self.name
            )),
            KeyType::S => Ok(KeyValue::S(text.to_owned())),
            KeyType::N => KeyValue::n(text).map_err(|e| e.to_string()),
            KeyType::B => {
                use base64::Engine as _;
                match base64::engine::general_purpose::STANDARD.decode(text) {
                    Ok(bytes) if !bytes.is_empty() => Ok(KeyValue::B(bytes)),
                    _ => Err(format!(
                        "the {} key value {} is not non-empty base64 (the key is binary)",
                        self.name,
                        quote(text)
                    )),
                }
            }
        }
    }
}

/// The file as written: the seed's camelCase spelling, aws-samples' lowercase one, and our
/// additions. Unknown keys are an error.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    dynamodb: Vec<TableDoc>,
    #[serde(default)]
    parameters: Vec<String>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    appconfig: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableDoc {
    table: String,
    #[serde(default, rename = "hashKey", alias = "hashkey")]
    hash_key: Option<String>,
    #[serde(default, rename = "hashKeyType", alias = "hashkeytype")]
    hash_key_type: Option<KeyType>,
    #[serde(default, rename = "sortKey", alias = "sortkey")]
    sort_key: Option<String>,
    #[serde(default, rename = "sortKeyType", alias = "sortkeytype")]
    sort_key_type: Option<KeyType>,
    #[serde(default)]
    fields: Option<String>,
    #[serde(default)]
    ttl: Option<String>,
}

impl CacheFile {
    /// Reads the file at `path`; a missing file is an empty configuration unless `must_exist`.
    ///
    /// # Errors
    /// [`InitError::ConfigFile`] naming the file, for a file that cannot be read or parsed.
    ///
    /// ```
    /// use lambda_cache_extension::config::CacheFile;
    /// let none = CacheFile::load("/nonexistent/cache.yaml".as_ref(), false)?;
    /// assert!(none.dynamodb.is_empty());
    /// assert!(CacheFile::load("/nonexistent/cache.yaml".as_ref(), true).is_err());
    /// # Ok::<(), lambda_cache_extension::config::InitError>(())
    /// ```
    pub fn load(path: &Path, must_exist: bool) -> Result<Self, InitError> {
        /// A configuration file is small; a larger one is a mistake, not something to parse.
        const MAX_BYTES: u64 = 1 << 20;
        let error = |message: String| InitError::ConfigFile {
            path: path.to_owned(),
            message,
        };
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                return Ok(Self::default());
            }
            Err(e) => return Err(error(e.to_string())),
        };
        if metadata.len() > MAX_BYTES {
            return Err(error(format!(
                "{} bytes is more than the {MAX_BYTES} a configuration file may have",
                metadata.len()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        Self::parse(&text, path)
    }

    /// Parses the text of the file at `path` (named in errors).
    ///
    /// # Errors
    /// [`InitError::ConfigFile`] naming the file and the line, key or value at fault: YAML
    /// syntax, an unknown key (a typo is never ignored), a wrong type, a bad TTL, a sort key
    /// without a partition key, an invalid parameter name or secret id.
    ///
    /// ```
    /// use lambda_cache_extension::config::CacheFile;
    /// let err = CacheFile::parse("dynamodb:\n  - table: T\n    hashKye: pk\n", "cache.yaml".as_ref())
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("hashKye"));
    /// ```
    pub fn parse(text: &str, path: &Path) -> Result<Self, InitError> {
        let error = |message: String| InitError::ConfigFile {
            path: path.to_owned(),
            message,
        };
        let doc: FileDoc = if text.lines().all(|line| {
            let line = line.trim();
            line.is_empty() || line.starts_with('#') || line == "---"
        }) {
            FileDoc::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| error(one_line(&e.to_string())))?
        };
        let mut dynamodb = Vec::with_capacity(doc.dynamodb.len());
        for (i, table) in doc.dynamodb.into_iter().enumerate() {
            let at = |what: &str| {
                error(format!(
                    "dynamodb[{i}] (table {}): {what}",
                    quote(&table.table)
                ))
            };
            if table.table.is_empty() {
                return Err(at("the table name is empty"));
            }
            let hash = match (table.hash_key, table.hash_key_type) {
                (Some(name), kind) => Some(KeyAttribute {
                    name,
                    kind: kind.unwrap_or_default(),
                }),
                (None, Some(_)) => return Err(at("hashKeyType without hashKey")),
                (None, None) => None,
            };
            let sort = match (table.sort_key, table.sort_key_type) {
                (Some(_), _) if hash.is_none() => {
                    return Err(at(
                        "sortKey without hashKey: give both, or neither to read the table's key schema",
                    ));
                }
                (Some(name), kind) => Some(KeyAttribute {
                    name,
                    kind: kind.unwrap_or_default(),
                }),
                (None, Some(_)) => return Err(at("sortKeyType without sortKey")),
                (None, None) => None,
            };
            let fields = table
                .fields
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect();
            let ttl = match table.ttl.as_deref() {
                None => None,
                Some(text) => Some(
                    parse_ttl(text)
                        .map_err(|reason| at(&format!("ttl {}: {reason}", quote(text))))?,
                ),
            };
            dynamodb.push(TableConfig {
                table: table.table,
                hash,
                sort,
                fields,
                ttl,
            });
        }
        for (i, name) in doc.parameters.iter().enumerate() {
            lambda_cache::ssm::check_name(name)
                .map_err(|e| error(format!("parameters[{i}]: {e}")))?;
        }
        for (i, id) in doc.secrets.iter().enumerate() {
            lambda_cache::secrets::SecretId::new(id)
                .check()
                .map_err(|e| error(format!("secrets[{i}]: {e}")))?;
        }
        let appconfig = doc
            .appconfig
            .iter()
            .enumerate()
            .map(|(i, path)| {
                profile_path(path)
                    .map_err(|e| error(format!("appconfig[{i}] {}: {e}", quote(path))))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            dynamodb,
            parameters: doc.parameters,
            secrets: doc.secrets,
            appconfig,
        })
    }
}

/// The YAML parser's message on one line (Lambda's init error is one line in the console):
/// each span in backticks (where serde quotes a key from the file, which may be of any length)
/// cut after 64 bytes, and the whole cut after 512 bytes, since a key holding a backtick
/// puts the spans out of step.
fn one_line(message: &str) -> String {
    const QUOTED: usize = 64;
    const WHOLE: usize = 512;
    let flat = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(flat.len().min(WHOLE + 4));
    for (i, part) in flat.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 {
            push_cut(&mut out, part, QUOTED);
        } else {
            out.push_str(part);
        }
    }
    let whole = std::mem::take(&mut out);
    push_cut(&mut out, &whole, WHOLE);
    out
}

/// Pushes `text` onto `out`, cut at the last character boundary within `max` bytes and marked
/// with an ellipsis when it is longer.
fn push_cut(out: &mut String, text: &str, max: usize) {
    if text.len() <= max {
        out.push_str(text);
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&text[..end]);
    out.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, InitError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(move |name| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        })
    }

    #[test]
    fn defaults() {
        let s = settings(&[("AWS_SESSION_TOKEN", "tok")]).unwrap();
        assert_eq!(s.config_path, Path::new("/var/task/cache.yaml"));
        assert!(!s.config_named);
        assert_eq!(s.ttl, Duration::from_secs(300));
        assert_eq!(s.ssm_ttl, s.ttl);
        assert_eq!(s.max_stale, Duration::from_secs(600));
        assert!(!s.init_startup);
        assert_eq!(s.init_budget, Duration::from_secs(8));
        assert_eq!(s.negative_ttl, Duration::from_secs(30));
        assert_eq!(s.refresh_ahead, Some(0.8));
        assert_eq!(s.stale_while_revalidate, Duration::ZERO);
        assert_eq!(
            s.metrics.as_ref().map(lambda_cache::emf::Emf::namespace),
            Some("LambdaCache")
        );
        assert_eq!((s.cache_port, s.aws_port), (Some(4000), Some(2773)));
        assert_eq!(s.auth, Auth::Token);
        assert_eq!(s.token.expose(), "tok");
        assert_eq!(s.capacity, Some(1000));
    }

    #[test]
    fn the_first_token_variable_set_wins() {
        let s = settings(&[
            ("AWS_SESSION_TOKEN", "session"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container"),
        ])
        .unwrap();
        assert_eq!(s.token.expose(), "session");
        let s = settings(&[("AWS_TOKEN", "first"), ("AWS_SESSION_TOKEN", "session")]).unwrap();
        assert_eq!(s.token.expose(), "first");
        assert!(matches!(settings(&[]), Err(InitError::NoToken)));
        assert!(matches!(
            settings(&[("AWS_SESSION_TOKEN", "")]),
            Err(InitError::NoToken)
        ));
    }

    #[test]
    fn each_variable_is_checked_and_named() {
        let cases: &[(&str, &str, &str)] = &[
            ("CACHE_EXTENSION_TTL", "1d", "unknown unit"),
            ("CACHE_EXTENSION_TTL", "-5s", "negative"),
            ("CACHE_EXTENSION_TTL", "300", "missing unit"),
            ("CACHE_EXTENSION_INIT_STARTUP", "yes", "invalid boolean"),
            ("CACHE_EXTENSION_PORT", "0", "from 1 to 65535"),
            ("CACHE_EXTENSION_PORT", "http", "from 1 to 65535"),
            (
                "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
                "4000",
                "same port",
            ),
            ("SSM_PARAMETER_STORE_TTL", "5m", "whole number of seconds"),
            ("CACHE_EXTENSION_AUTH", "off", "token"),
            (
                "PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE",
                "-1",
                "whole number",
            ),
            (
                "PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE",
                "1048577",
                "most a cache holds (1048576)",
            ),
            ("CACHE_EXTENSION_MAX_IN_FLIGHT", "0", "at least 1"),
            ("CACHE_EXTENSION_BACKEND_TIMEOUT", "0", "positive"),
            ("CACHE_EXTENSION_INIT_BUDGET", "16m", "at most 15m"),
            ("CACHE_EXTENSION_INIT_BUDGET", "8", "missing unit"),
            ("CACHE_EXTENSION_NEGATIVE_TTL", "-1s", "negative"),
            ("CACHE_EXTENSION_METRICS", "cloudwatch", "emf"),
            (
                "CACHE_EXTENSION_SECRETS_REVALIDATE",
                "maybe",
                "invalid boolean",
            ),
            (
                "CACHE_EXTENSION_METRICS_NAMESPACE",
                "AWS/Lambda",
                "reserved",
            ),
            ("CACHE_EXTENSION_METRICS_DIMENSIONS", "Stage", "Name=value"),
            (
                "CACHE_EXTENSION_METRICS_DIMENSIONS",
                "Route=x",
                "own dimension",
            ),
            ("CACHE_EXTENSION_METRICS_DIMENSIONS", "Stage=", "1 to 1,024"),
            // Found by the property tests: zero written another way was shown as "0".
            ("CACHE_EXTENSION_MAX_IN_FLIGHT", "00", "at least 1"),
            ("CACHE_EXTENSION_BACKEND_TIMEOUT", "0ns", "positive"),
            (
                "AWS_APPCONFIG_EXTENSION_HTTP_PORT",
                "2773",
                "same port as PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
            ),
            // Found by the property tests: a port set onto another listener's default named
            // the variable that was not set.
            (
                "CACHE_EXTENSION_PORT",
                "2772",
                "same port as AWS_APPCONFIG_EXTENSION_HTTP_PORT",
            ),
            (
                "AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS",
                "45s",
                "whole number of seconds",
            ),
            (
                "AWS_APPCONFIG_EXTENSION_PREFETCH_LIST",
                "/applications/a/configurations/p",
                "not /applications/{app}/environments/{env}/configurations/{profile}",
            ),
            (
                "AWS_APPCONFIG_EXTENSION_PREFETCH_LIST",
                "/applications/a/environments/e/configurations/p,/applications/a/environments//configurations/p",
                "the environment is empty",
            ),
        ];
        for &(name, value, reason) in cases {
            let err = settings(&[("AWS_SESSION_TOKEN", "tok"), (name, value)]).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(&format!("{name}={value:?}")), "{text}");
            assert!(
                matches!(err, InitError::Variable { .. }),
                "{name}={value}: {text}"
            );
            assert!(text.contains(name), "{text}");
            assert!(text.contains(reason), "{name}={value}: {text}");
            assert_eq!(err.error_type(), "Extension.InvalidVariable");
        }
    }

    #[test]
    fn the_aws_extension_variables_are_honoured_without_its_cap() {
        let s = settings(&[
            ("AWS_SESSION_TOKEN", "tok"),
            ("SSM_PARAMETER_STORE_TTL", "3600"),
            ("SECRETS_MANAGER_TTL", "0"),
            ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "0"),
            ("CACHE_EXTENSION_PORT", "off"),
        ])
        .unwrap();
        assert_eq!(s.ssm_ttl, Duration::from_secs(3600));
        assert_eq!(s.secrets_ttl, Duration::ZERO);
        assert_eq!(s.capacity, None);
        assert_eq!(s.cache_port, None);
        assert!(
            settings(&[
                ("AWS_SESSION_TOKEN", "tok"),
                ("CACHE_EXTENSION_PORT", "off"),
                ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "off"),
                ("AWS_APPCONFIG_EXTENSION_HTTP_PORT", "off"),
            ])
            .is_err()
        );
        // The AWS AppConfig extension's variables: its port, poll interval and prefetch list.
        let s = settings(&[
            ("AWS_SESSION_TOKEN", "tok"),
            ("CACHE_EXTENSION_PORT", "off"),
            ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "off"),
            ("AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS", "90"),
            (
                "AWS_APPCONFIG_EXTENSION_PREFETCH_LIST",
                " /applications/shop/environments/prod/configurations/flags, \
                 /applications/shop/environments/prod/configurations/my%2Flimits ",
            ),
        ])
        .unwrap();
        assert_eq!(s.appconfig_port, Some(2772));
        assert_eq!(s.appconfig_ttl, Duration::from_secs(90));
        let prefetch: Vec<String> = s
            .appconfig_prefetch
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(prefetch, ["shop/prod/flags", "shop/prod/my/limits"]);
    }

    #[test]
    fn the_token_is_never_in_an_error() {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let err = Settings::from_lookup(|name| {
                (name == "AWS_SESSION_TOKEN").then(|| OsString::from_vec(b"secret\xff".to_vec()))
            })
            .unwrap_err();
            assert!(!err.to_string().contains("secret"), "{err}");
            assert!(err.to_string().contains("AWS_SESSION_TOKEN"), "{err}");
        }
        let s = settings(&[("AWS_SESSION_TOKEN", "hunter2")]).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn the_seed_file_and_the_samples_spelling() {
        let seed = "dynamodb:\n  - table: Users\n    hashKey: pk\n    hashKeyType: S\n    sortKey: sk\n    sortKeyType: S\n    fields: name,email\n";
        let samples = "dynamodb:\n  - table: Users\n    hashkey: pk\n    hashkeytype: S\n    sortkey: sk\n    sortkeytype: S\n    fields: name, email\n";
        let a = CacheFile::parse(seed, Path::new("cache.yaml")).unwrap();
        let b = CacheFile::parse(samples, Path::new("cache.yaml")).unwrap();
        assert_eq!(a, b);
        let table = &a.dynamodb[0];
        assert_eq!(table.fields, ["name", "email"]);
        assert_eq!(
            table.sort,
            Some(KeyAttribute {
                name: "sk".into(),
                kind: KeyType::S
            })
        );
    }

    #[test]
    fn our_additions() {
        let text = "dynamodb:\n  - table: Orders\n    hashKey: id\n    hashKeyType: N\n    ttl: 1.5m\n  - table: Schemaless\nparameters:\n  - /app/db/host\nsecrets:\n  - prod/db\n";
        let file = CacheFile::parse(text, Path::new("cache.yaml")).unwrap();
        assert_eq!(file.dynamodb[0].ttl, Some(Duration::from_secs(90)));
        assert_eq!(file.dynamodb[1].hash, None);
        assert_eq!(file.parameters, ["/app/db/host"]);
        assert_eq!(file.secrets, ["prod/db"]);
        assert_eq!(
            CacheFile::parse("# nothing yet\n", Path::new("c.yaml")).unwrap(),
            CacheFile::default()
        );
    }

    #[test]
    fn wrong_files_name_the_file_and_what_is_wrong() {
        let cases: &[(&str, &str)] = &[
            ("dynamodb:\n  - table: T\n    hashKye: pk\n", "hashKye"),
            (
                "dynamodb:\n  - table: T\n    hashKey: pk\n    hashKeyType: X\n",
                "X",
            ),
            ("dynamodb:\n  - table: T\n    ttl: 1d\n", "unknown unit"),
            (
                "dynamodb:\n  - table: T\n    sortKey: sk\n",
                "sortKey without hashKey",
            ),
            ("dynamodb:\n  - hashKey: pk\n", "table"),
            ("dynamdb: []\n", "dynamdb"),
            ("parameters:\n  - \"/bad name\"\n", "parameters[0]"),
            ("secrets:\n  - \"\"\n", "secrets[0]"),
            (
                "appconfig:\n  - /applications/a/configurations/p\n",
                "appconfig[0] \"/applications/a/configurations/p\": not /applications/",
            ),
            (
                "appconfig:\n  - /applications/a/environments/%FF/configurations/p\n",
                "not UTF-8",
            ),
            ("dynamodb: [\n", "c.yaml"),
            ("dynamodb:\n  - table: T\n\tbad: tab\n", "c.yaml"),
        ];
        for &(text, needle) in cases {
            let err = CacheFile::parse(text, Path::new("c.yaml")).expect_err(text);
            let message = err.to_string();
            assert!(message.contains("c.yaml"), "{message}");
            assert!(message.contains(needle), "{text:?}: {message}");
            assert_eq!(err.error_type(), "Extension.InvalidConfigFile");
        }
    }

    #[test]
    fn key_values_are_checked_for_their_type() {
        let key = |kind| KeyAttribute {
            name: "k".into(),
            kind,
        };
        assert_eq!(key(KeyType::N).value("1.0"), key(KeyType::N).value("01"));
        assert!(key(KeyType::N).value("42").is_ok());
        assert!(
            key(KeyType::N)
                .value("forty-two")
                .unwrap_err()
                .contains("forty-two")
        );
        assert_eq!(
            key(KeyType::B).value("aGk="),
            Ok(KeyValue::B(b"hi".to_vec()))
        );
        assert!(
            key(KeyType::B)
                .value("not base64!")
                .unwrap_err()
                .contains("not base64!")
        );
        assert!(key(KeyType::B).value("").is_err());
        assert!(key(KeyType::S).value("").unwrap_err().contains("empty"));
        assert_eq!(key(KeyType::S).value("1"), Ok(KeyValue::S("1".into())));
    }

    #[test]
    fn the_example_file_parses() {
        let text = include_str!("../examples/cache.yaml");
        let file = CacheFile::parse(text, Path::new("examples/cache.yaml")).unwrap();
        assert_eq!(file.dynamodb.len(), 2);
        assert_eq!(file.dynamodb[0].ttl, Some(Duration::from_secs(30)));
        assert_eq!(file.dynamodb[1].hash, None);
        assert_eq!(file.parameters, ["/prod/app/db/host"]);
        let appconfig: Vec<String> = file.appconfig.iter().map(ToString::to_string).collect();
        assert_eq!(appconfig, ["shop/prod/flags"]);
    }

    #[test]
    fn syntax_errors_give_the_line() {
        let err = CacheFile::parse(
            "dynamodb:\n  - table: T\n    hashKye: pk\n",
            Path::new("c.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains('3'), "the line number: {err}");
    }

    /// Found by the property tests: serde names an unknown key in full, so a long key made a
    /// message of kilobytes.
    #[test]
    fn a_long_unknown_key_is_shortened_in_the_message() {
        let key = "k".repeat(900);
        let err = CacheFile::parse(&format!("{key}: 1\n"), Path::new("/var/task/cache.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.len() < 600, "a {} byte message: {err}", err.len());
        assert!(err.contains(&format!("`{}…`", "k".repeat(64))), "{err}");
        assert!(err.contains("/var/task/cache.yaml"), "{err}");
    }

    /// Found by the property tests in CI: a key holding a backtick put the quoted spans out
    /// of step, so a long key went out whole (twice).
    #[test]
    fn a_long_unknown_key_with_a_backtick_is_shortened_too() {
        let key = format!("a`{}", "k".repeat(1500));
        let err = CacheFile::parse(&format!("{key}: 1\n"), Path::new("/var/task/cache.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.len() < 600, "a {} byte message: {err}", err.len());
        assert!(err.ends_with('…'), "{err}");
        assert!(err.contains("/var/task/cache.yaml"), "{err}");
    }

    #[test]
    fn a_bad_shared_tier_url_names_the_variable_and_never_the_password() {
        let settings = |url: &str, iam: Option<&str>| {
            let (url, iam) = (url.to_owned(), iam.map(str::to_owned));
            Settings::from_lookup(move |name| match name {
                "AWS_SESSION_TOKEN" => Some("t".into()),
                "CACHE_EXTENSION_SHARED_TIER" => Some(url.clone().into()),
                "CACHE_EXTENSION_SHARED_TIER_IAM" => iam.clone().map(Into::into),
                _ => None,
            })
        };
        for url in [
            "http://user:hunter2@cache:6379",
            "redis://user:hunter2@cache:notaport",
        ] {
            let err = settings(url, None).unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(
                    err,
                    InitError::Variable {
                        name: "CACHE_EXTENSION_SHARED_TIER",
                        ..
                    }
                ),
                "{message}"
            );
            assert!(!message.contains("hunter2"), "{message}");
        }
        let err = settings("redis://cache:6379", Some("app@c")).unwrap_err();
        assert!(err.to_string().contains("needs TLS"), "{err}");
        let tier = settings(
            "rediss://c.serverless.use1.cache.amazonaws.com:6379",
            Some("app@c"),
        )
        .unwrap()
        .shared_tier
        .unwrap();
        assert!(tier.iam.unwrap().serverless);
        assert!(!format!("{:?}", settings("redis://u:hunter2@c:6379", None)).contains("hunter2"));
    }
}
