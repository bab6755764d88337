//! A Lambda extension that caches DynamoDB items, SSM parameters, secrets and AppConfig profiles
//! for functions in any language, served over loopback HTTP.
//!
//! The library holds the logic; the binary (`lambda-cache-extension`, shipped in a layer as
//! `extensions/lambda-cache-extension`) only runs [`main`]. Its settings come from the
//! environment ([`config::Settings`]) and from `cache.yaml` ([`config::CacheFile`]); the seed's
//! variables keep their Go grammar ([`go`]).
//!
//! Routes (every one but `/ping` needs the header `X-Aws-Parameters-Secrets-Token`):
//! `GET /dynamodb?name=<table>@@<hash>[@@<sort>]`, `GET /systemsmanager/parameters/get?name=…`,
//! `GET /secretsmanager/get?secretId=…`,
//! `GET /applications/{app}/environments/{env}/configurations/{profile}[?flag=…]` (the AWS
//! AppConfig extension's route, on its port too), `GET /v1/stats`, `GET /ping`. Each answer with a value
//! says where it came from in [`SOURCE_HEADER`] and how old it is in `age` and
//! [`AGE_MS_HEADER`]; each failure is a real status with `{"__type": …, "message": …}`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub mod config;
pub mod go;

mod backend;
mod endpoints;
mod lifecycle;
mod metrics;
mod passthrough;
mod sdk;
mod server;
mod sigv4;
mod tier;

pub use server::{AGE_MS_HEADER, SOURCE_HEADER, TOKEN_HEADER};

use config::{Auth, CacheFile, InitError, Settings};
use lifecycle::{Event, ExtensionsApi};

/// Values a preload reads at most.
const PRELOAD_MAX_ITEMS: usize = 10_000;
/// Bytes a preload reads at most.
const PRELOAD_MAX_BYTES: u64 = 32 << 20;

/// One line on standard error (Lambda sends it to the function's log group). Never a value.
pub(crate) fn log(message: &str) {
    eprintln!("[lambda-cache-extension] {message}");
}

/// Runs the extension: binds its listeners, registers, reads its configuration (an error is
/// posted to `init/error` and the process exits 1), preloads if asked, then serves until
/// SHUTDOWN (exit 0).
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     lambda_cache_extension::main()
/// }
/// ```
pub fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            log(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run());
    // Open connections and their tasks are dropped, not awaited: SHUTDOWN has a deadline.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn run() -> ExitCode {
    let Some(address) = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .ok()
        .filter(|a| !a.is_empty())
    else {
        log("AWS_LAMBDA_RUNTIME_API is not set: this binary runs as a Lambda extension");
        return ExitCode::FAILURE;
    };
    // The environment first (it names the ports), then the listeners, bound before
    // registering so that the function's first request finds them.
    let settings = Settings::from_env();
    let listeners = match &settings {
        Ok(settings) => bind_all(settings).await,
        Err(_) => Ok(Vec::new()),
    };
    let name = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "lambda-cache-extension".to_owned());
    let api = match ExtensionsApi::register(&address, &name).await {
        Ok(api) => api,
        Err(e) => {
            log(&InitError::RuntimeApi(e).to_string());
            return ExitCode::FAILURE;
        }
    };
    let ready = async {
        let settings = settings?;
        let listeners = listeners?;
        let file = CacheFile::load(&settings.config_path, settings.config_named)?;
        let sdk = sdk_config(settings.backend_timeout).await;
        let backend = backend::Backend::new(&settings, file, &sdk, api.account())?;
        Ok::<_, InitError>((settings, listeners, Arc::new(backend)))
    };
    let (settings, listeners, backend) = match ready.await {
        Ok(ready) => ready,
        Err(e) => {
            let message = e.to_string();
            log(&format!("cannot start: {message}"));
            if let Err(post) = api.init_error(e.error_type(), &message).await {
                log(&format!("could not report the error: {post}"));
            }
            return ExitCode::FAILURE;
        }
    };
    if settings.auth == Auth::Open {
        log(
            "warning: CACHE_EXTENSION_AUTH=none: /dynamodb and the AppConfig route answer without a token (other routes still require it)",
        );
    }
    // The SDK endpoint verifies signatures with the credentials Lambda gives the function and
    // this extension alike.
    let credentials = sigv4::Credentials::from_env(|name| std::env::var(name).ok());
    if credentials.is_none() {
        log(
            "AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not set: the SDK endpoint (POST /) accepts only requests with the token header",
        );
    }
    let server = Arc::new(server::Server::new(
        Arc::clone(&backend),
        settings.token.clone(),
        settings.auth,
        credentials,
    ));
    for listener in listeners {
        server.spawn(listener);
    }
    let profiles = warm(&settings, &backend).await;
    let config = backend.file();
    log(&format!(
        "ready: {} tables, {} parameters, {} secrets, {profiles} AppConfig profiles configured",
        config.dynamodb.len(),
        config.parameters.len(),
        config.secrets.len()
    ));
    loop {
        match api.next().await {
            Ok(Event::Invoke) => backend.report_metrics(false),
            Ok(Event::Shutdown) => {
                backend.report_metrics(true);
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                log(&format!("Extensions API: {e}"));
                return ExitCode::FAILURE;
            }
        }
    }
}

/// Everything read before the first `event/next`: the preload (if asked) and the AppConfig
/// prefetch, side by side, within one budget (`CACHE_EXTENSION_INIT_BUDGET`). Logs what was
/// read and what was left for on-demand reads; returns the number of profiles listed.
async fn warm(settings: &Settings, backend: &Arc<backend::Backend>) -> usize {
    let preload = settings.init_startup && backend.caching();
    if settings.init_startup && !backend.caching() {
        log("caching is off: nothing is preloaded");
    }
    let file = backend.file();
    let listed = file.parameters.len() + file.secrets.len();
    let profiles: Vec<_> = settings
        .appconfig_prefetch
        .iter()
        .chain(&file.appconfig)
        .cloned()
        .collect();
    if !preload && profiles.is_empty() {
        return 0;
    }
    let budget = settings.init_budget;
    if budget.is_zero() {
        log(
            "CACHE_EXTENSION_INIT_BUDGET=0: nothing is read before the first event; every value is read on demand",
        );
        return profiles.len();
    }
    if preload && listed > settings.capacity.unwrap_or(0) {
        log(&format!(
            "warning: cache.yaml lists {listed} parameters and secrets to preload, more than \
             the {} entries the cache holds (PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE); \
             the preload stops when the cache is full",
            settings.capacity.unwrap_or(0)
        ));
    }
    let progress = backend::Warmup::default();
    let clock = lambda_cache::Clock::real();
    let started = clock.now();
    let both = async {
        let preloading = async {
            if preload {
                backend
                    .preload(&progress, PRELOAD_MAX_ITEMS, PRELOAD_MAX_BYTES)
                    .await;
            }
        };
        tokio::join!(preloading, backend.prefetch(&profiles, &progress))
    };
    let finished = tokio::time::timeout(budget, both).await.is_ok();
    let took = clock.now().saturating_duration_since(started);
    let read =
        |count: &std::sync::atomic::AtomicUsize| count.load(std::sync::atomic::Ordering::Relaxed);
    let mut line = format!("INIT: read in {} ms", took.as_millis());
    if preload {
        line.push_str(&format!(
            ", {} of {listed} parameters and secrets, {} table items",
            read(&progress.named),
            read(&progress.items)
        ));
    }
    if !profiles.is_empty() {
        line.push_str(&format!(
            ", {} of {} AppConfig profiles",
            read(&progress.profiles),
            profiles.len()
        ));
    }
    if !finished {
        line.push_str(&format!(
            "; the INIT budget of {budget:?} (CACHE_EXTENSION_INIT_BUDGET) ran out: the rest is \
             left for on-demand reads"
        ));
    }
    log(&line);
    profiles.len()
}

/// The listeners the settings ask for, on 127.0.0.1 only.
async fn bind_all(settings: &Settings) -> Result<Vec<tokio::net::TcpListener>, InitError> {
    let mut listeners = Vec::new();
    for (variable, port) in [
        ("CACHE_EXTENSION_PORT", settings.cache_port),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", settings.aws_port),
        ("AWS_APPCONFIG_EXTENSION_HTTP_PORT", settings.appconfig_port),
    ] {
        if let Some(port) = port {
            listeners.push(server::bind(variable, port).await?);
        }
    }
    Ok(listeners)
}

/// The SDK's configuration from the environment, with every backend call bounded.
async fn sdk_config(timeout: Duration) -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}

// This crate's README (its crates.io page): its examples run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
