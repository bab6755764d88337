//! The fault matrix: every service × every kind of backend failure × with and without a recent
//! value, each cell its own test. A cell reads through the real SDK client (with the SDK's
//! standard retries, three attempts, as a function gets them) and a [`FaultProxy`] in front of
//! the real backend (moto; the testkit's AppConfigData for AppConfig). The backend's value
//! changes from `v1` to `v2`, the fault is injected, the read's outcome is recorded, the fault
//! clears, and the next read must fetch `v2`: no poisoned entry, no stuck flight.
//!
//! What each cell's user gets is the table in RELIABILITY.md, which these tests check cell by
//! cell and `cargo xtask fault-matrix` writes from them.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
use aws_sdk_ssm::types::ParameterType;
use lambda_cache::appconfig::{AppConfigCache, Profile};
use lambda_cache::dynamodb::{DynamoCache, ItemKey};
use lambda_cache::s3::S3Cache;
use lambda_cache::secrets::SecretsCache;
use lambda_cache::ssm::SsmCache;
use lambda_cache::{Cache, CacheError, ManualClock, Policy};
use lambda_cache_testkit::{
    Dialect, FakeAppConfig, Fault, FaultProxy, create_secret, create_table, files_in,
    moto_endpoint, put_item, put_parameter, sdk_config, unique,
};

const MAX_AGE: Duration = Duration::from_secs(60);
const MAX_STALE: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Ssm,
    Secrets,
    S3,
    Dynamodb,
    AppConfig,
}

impl Service {
    const ALL: [Self; 5] = [
        Self::Ssm,
        Self::Secrets,
        Self::S3,
        Self::Dynamodb,
        Self::AppConfig,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Ssm => "SSM",
            Self::Secrets => "Secrets Manager",
            Self::S3 => "S3",
            Self::Dynamodb => "DynamoDB",
            Self::AppConfig => "AppConfig",
        }
    }
}

struct Failed {
    /// `Variant` of the service's error, with the kind and status of a service failure.
    shape: String,
    transient: bool,
    message: String,
}

fn failed<E: CacheError + std::fmt::Debug + std::fmt::Display>(err: &E) -> Failed {
    let debug = format!("{err:?}");
    let variant: String = debug
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let mut shape = format!("`{variant}`");
    let kind = field(&debug, "kind: ");
    let status = field(&debug, "status: Some(");
    match (kind, status) {
        (Some(kind), Some(status)) => {
            let _ = write!(shape, " ({kind}, {status})");
        }
        (Some(kind), None) => {
            let _ = write!(shape, " ({kind})");
        }
        _ => {}
    }
    Failed {
        shape,
        transient: err.is_transient(),
        message: err.to_string(),
    }
}

/// The word after `prefix` in a `Debug` text.
fn field(debug: &str, prefix: &str) -> Option<String> {
    let start = debug.find(prefix)? + prefix.len();
    Some(
        debug[start..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect(),
    )
}

/// One service's cache on a manual clock, reading through the proxy, and the means to change
/// the backend's value behind it.
struct Subject {
    clock: ManualClock,
    cache: Cache,
    reader: Reader,
    /// The input a message must name.
    input: String,
    fake: Option<FakeAppConfig>,
    dir: Option<tempfile::TempDir>,
}

enum Reader {
    Ssm(SsmCache, aws_sdk_ssm::Client),
    Secrets(SecretsCache, aws_sdk_secretsmanager::Client),
    S3(S3Cache, aws_sdk_s3::Client, String),
    Dynamodb(DynamoCache, aws_sdk_dynamodb::Client, ItemKey),
    AppConfig(AppConfigCache, Profile),
}

/// SDK configuration as a function has it (standard retries: three attempts), with a short
/// backoff and a one-second attempt timeout so that the matrix runs in seconds.
async fn function_config(endpoint: &str) -> aws_config::SdkConfig {
    sdk_config(endpoint)
        .await
        .into_builder()
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(1))
                .build(),
        )
        .build()
}

fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

impl Subject {
    /// The backend holds `v1`; the cache reads it through a new proxy.
    async fn start(service: Service) -> (Self, FaultProxy) {
        let moto = sdk_config(&moto_endpoint()).await;
        let clock = ManualClock::new();
        let cache = Cache::builder().clock(clock.clock()).build().unwrap();
        let mut fake = None;
        let mut dir = None;
        let (proxy, reader, input) = match service {
            Service::Ssm => {
                let admin = aws_sdk_ssm::Client::new(&moto);
                let name = format!("/{}", unique("matrix"));
                put_parameter(&admin, &name, ParameterType::String, "v1").await;
                let proxy = FaultProxy::start(&moto_endpoint(), Dialect::AwsJson).await;
                let ssm =
                    SsmCache::from_config(cache.clone(), &function_config(&proxy.endpoint()).await);
                (proxy, Reader::Ssm(ssm, admin), name)
            }
            Service::Secrets => {
                let admin = aws_sdk_secretsmanager::Client::new(&moto);
                let name = unique("matrix");
                create_secret(&admin, &name, "v1").await;
                let proxy = FaultProxy::start(&moto_endpoint(), Dialect::AwsJson).await;
                let secrets = SecretsCache::from_config(
                    cache.clone(),
                    &function_config(&proxy.endpoint()).await,
                );
                (proxy, Reader::Secrets(secrets, admin), name)
            }
            Service::S3 => {
                let admin = s3_client(&moto);
                let bucket = unique("matrix").to_lowercase();
                admin.create_bucket().bucket(&bucket).send().await.unwrap();
                let uri = format!("s3://{bucket}/object.txt");
                let proxy = FaultProxy::start(&moto_endpoint(), Dialect::RestXml).await;
                let files = tempfile::tempdir().unwrap();
                let s3 = S3Cache::builder(
                    cache.clone(),
                    s3_client(&function_config(&proxy.endpoint()).await),
                )
                .directory(files.path())
                .build();
                dir = Some(files);
                (proxy, Reader::S3(s3, admin, bucket), uri)
            }
            Service::Dynamodb => {
                let admin = aws_sdk_dynamodb::Client::new(&moto);
                let table = unique("matrix");
                create_table(&admin, &table, ("pk", ScalarAttributeType::S), None).await;
                let key = ItemKey::new(table.as_str(), "pk", "k");
                let proxy = FaultProxy::start(&moto_endpoint(), Dialect::AwsJson).await;
                let dynamodb = DynamoCache::from_config(
                    cache.clone(),
                    &function_config(&proxy.endpoint()).await,
                );
                (proxy, Reader::Dynamodb(dynamodb, admin, key), table)
            }
            Service::AppConfig => {
                let appconfig_data = FakeAppConfig::start().await;
                let app = unique("matrix");
                appconfig_data.deploy(&app, "prod", "limits", b"v1", "text/plain");
                let proxy = FaultProxy::start(&appconfig_data.uri(), Dialect::RestJson).await;
                let appconfig = AppConfigCache::from_config(
                    cache.clone(),
                    &function_config(&proxy.endpoint()).await,
                );
                fake = Some(appconfig_data);
                (
                    proxy,
                    Reader::AppConfig(appconfig, Profile::new(&app, "prod", "limits")),
                    app,
                )
            }
        };
        let subject = Self {
            clock,
            cache,
            reader,
            input,
            fake,
            dir,
        };
        subject.change("v1").await;
        (subject, proxy)
    }

    /// Sets the backend's value, behind the proxy.
    async fn change(&self, value: &str) {
        match &self.reader {
            Reader::Ssm(_, admin) => {
                put_parameter(admin, &self.input, ParameterType::String, value).await;
            }
            Reader::Secrets(_, admin) => {
                admin
                    .put_secret_value()
                    .secret_id(&self.input)
                    .secret_string(value)
                    .send()
                    .await
                    .unwrap();
            }
            Reader::S3(_, admin, bucket) => {
                admin
                    .put_object()
                    .bucket(bucket)
                    .key("object.txt")
                    .body(value.as_bytes().to_vec().into())
                    .send()
                    .await
                    .unwrap();
            }
            Reader::Dynamodb(_, admin, key) => {
                let item = [
                    ("pk", AttributeValue::S("k".into())),
                    ("v", AttributeValue::S(value.into())),
                ];
                put_item(admin, key.table(), &item).await;
            }
            Reader::AppConfig(_, profile) => {
                let fake = self.fake.as_ref().expect("AppConfig's fake");
                fake.deploy(
                    profile.application(),
                    "prod",
                    "limits",
                    value.as_bytes(),
                    "text/plain",
                );
            }
        }
    }

    /// The value read, or what failed.
    async fn read(&self) -> Result<String, Failed> {
        let policy = Policy::new(MAX_AGE).stale_if_error(MAX_STALE);
        match &self.reader {
            Reader::Ssm(ssm, _) => ssm
                .get_entry_with(self.input.as_str(), policy)
                .await
                .map(|e| e.as_str().unwrap_or_default().to_owned())
                .map_err(|e| failed(&e)),
            Reader::Secrets(secrets, _) => secrets
                .get_entry_with(self.input.as_str(), policy)
                .await
                .map(|e| e.as_str().unwrap_or_default().to_owned())
                .map_err(|e| failed(&e)),
            Reader::S3(s3, ..) => s3
                .get_entry_with(self.input.as_str(), policy)
                .await
                .map(|e| std::fs::read_to_string(e.path()).unwrap())
                .map_err(|e| failed(&e)),
            Reader::Dynamodb(dynamodb, _, key) => dynamodb
                .get_entry_with(key, policy)
                .await
                .map(|e| e["v"].as_s().unwrap().clone())
                .map_err(|e| failed(&e)),
            Reader::AppConfig(appconfig, profile) => appconfig
                .get_entry_with(profile, policy)
                .await
                .map(|e| e.as_str().unwrap_or_default().to_owned())
                .map_err(|e| failed(&e)),
        }
    }
}

/// The table file, and where `cargo xtask fault-matrix` collects the cells.
fn reliability_md() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../RELIABILITY.md")
}

/// The cell of `fault` and `service` in the table for `recent`, as RELIABILITY.md has it.
fn documented(recent: bool, fault: Fault, service: Service) -> Option<String> {
    let text = std::fs::read_to_string(reliability_md()).ok()?;
    let marker = table_marker(recent);
    let table = text.split(&marker).nth(1)?;
    let column = Service::ALL.iter().position(|s| *s == service)? + 2;
    table
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with('|'))
        .find(|line| line.split('|').nth(1).map(str::trim) == Some(fault.label()))
        .and_then(|line| line.split('|').nth(column).map(|c| c.trim().to_owned()))
}

fn table_marker(recent: bool) -> String {
    format!(
        "<!-- fault-matrix: {} -->",
        if recent { "with" } else { "without" }
    )
}

async fn cell(service: Service, fault: Fault, recent: bool) {
    let (subject, proxy) = Subject::start(service).await;
    if recent {
        assert_eq!(subject.read().await.ok().as_deref(), Some("v1"));
        subject.clock.advance(MAX_AGE + Duration::from_secs(1));
    }
    subject.change("v2").await;
    let stale_before = subject.cache.stats().stale_served;
    let before = proxy.requests();
    proxy.inject(fault).await;
    let during = subject.read().await;
    let requests = proxy.requests() - before;
    proxy.clear().await;

    let outcome = match &during {
        Ok(value) => {
            assert_eq!(value, "v1", "{service:?} {fault:?}: a value from the fault");
            assert_eq!(subject.cache.stats().stale_served, stale_before + 1);
            "the value, stale".to_owned()
        }
        Err(failed) => {
            assert!(
                failed.message.contains(&subject.input),
                "{service:?} {fault:?}: {} does not name {}",
                failed.message,
                subject.input
            );
            assert!(
                !recent || !failed.transient,
                "{service:?} {fault:?}: a transient error with a recent value at hand: {}",
                failed.message
            );
            format!(
                "{}{}",
                failed.shape,
                if failed.transient { "" } else { ", permanent" }
            )
        }
    };
    let outcome = format!("{outcome} · {requests} req.");

    // The fault clears: the next read fetches the new value.
    let after = subject.read().await;
    assert_eq!(
        after.as_ref().ok().map(String::as_str),
        Some("v2"),
        "{service:?} {fault:?}: the read after the fault: {:?}",
        after.as_ref().err().map(|f| &f.message)
    );
    if let Some(dir) = &subject.dir {
        assert_eq!(files_in(dir.path()).len(), 1, "{:?}", files_in(dir.path()));
    }

    if let Ok(out) = std::env::var("FAULT_MATRIX_WRITE") {
        let name = format!("{}|{}|{}", recent, fault.label(), service.label());
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(
            PathBuf::from(out).join(format!(
                "{}-{:?}-{:?}",
                if recent { "with" } else { "without" },
                fault,
                service
            )),
            format!("{name}|{outcome}"),
        )
        .unwrap();
        return;
    }
    assert_eq!(
        documented(recent, fault, service).as_deref(),
        Some(outcome.as_str()),
        "RELIABILITY.md's fault matrix disagrees with the test ({} a recent value, {}, {}): \
         run `cargo xtask fault-matrix` to write it from the tests",
        if recent { "with" } else { "without" },
        fault.label(),
        service.label()
    );
}

macro_rules! cells {
    ($($name:ident: $service:ident $fault:ident $recent:literal;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                cell(Service::$service, Fault::$fault, $recent).await;
            }
        )*
    };
}

macro_rules! service_cells {
    ($($service:ident => $with:ident, $without:ident;)*) => {
        $(
            mod $with {
                use super::*;
                cells! {
                    throttle: $service Throttle true;
                    server_error: $service ServerError true;
                    unavailable: $service Unavailable true;
                    timeout: $service Timeout true;
                    refused: $service Refused true;
                    reset_mid_body: $service ResetMidBody true;
                    malformed: $service Malformed true;
                    wrong_content_type: $service WrongContentType true;
                }
            }
            mod $without {
                use super::*;
                cells! {
                    throttle: $service Throttle false;
                    server_error: $service ServerError false;
                    unavailable: $service Unavailable false;
                    timeout: $service Timeout false;
                    refused: $service Refused false;
                    reset_mid_body: $service ResetMidBody false;
                    malformed: $service Malformed false;
                    wrong_content_type: $service WrongContentType false;
                }
            }
        )*
    };
}

service_cells! {
    Ssm => ssm_with_a_recent_value, ssm_without;
    Secrets => secrets_with_a_recent_value, secrets_without;
    S3 => s3_with_a_recent_value, s3_without;
    Dynamodb => dynamodb_with_a_recent_value, dynamodb_without;
    AppConfig => appconfig_with_a_recent_value, appconfig_without;
}

/// The tables have exactly one row per fault and one column per service, so that no cell is
/// documented without a test.
#[test]
fn the_tables_have_a_row_per_fault_and_a_column_per_service() {
    let text = std::fs::read_to_string(reliability_md()).unwrap();
    for recent in [true, false] {
        let table: Vec<&str> = text
            .split(&table_marker(recent))
            .nth(1)
            .expect("the table's marker")
            .lines()
            .skip(1)
            .take_while(|line| line.starts_with('|'))
            .collect();
        let header: Vec<&str> = table[0].split('|').map(str::trim).collect();
        let services: Vec<&str> = Service::ALL.iter().map(|s| s.label()).collect();
        assert_eq!(header[2..header.len() - 1], services[..]);
        let rows: Vec<&str> = table[2..]
            .iter()
            .map(|line| line.split('|').nth(1).unwrap().trim())
            .collect();
        let faults: Vec<&str> = Fault::ALL.iter().map(|f| f.label()).collect();
        assert_eq!(rows, faults);
    }
}
