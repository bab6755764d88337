//! The demo behind `cargo xtask demo`: a handler that reads an SSM parameter and a database
//! secret through lambda-cache, invoked again and again against the local emulator. Each line
//! shows, per value, whether it came from memory or from the backend, the backend calls so far
//! and the invocation's latency. Then the parameter changes and the new value arrives once
//! max_age has passed. The secret is used but never printed.
//!
//! `cargo xtask demo` sets AWS_ENDPOINT_URL and test credentials, as Lambda sets the real ones.
#![allow(clippy::print_stdout)] // a demo prints

use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use lambda_cache::{Clock, Entry, Instant, Sensitive, secrets_manager, ssm};

/// Short, so the demo shows a refresh within seconds; the default is 60 s.
const MAX_AGE: Duration = Duration::from_secs(2);
const PARAMETER: &str = "/demo/app/greeting";
const SECRET: &str = "demo/db/credentials";

#[derive(serde::Deserialize)]
struct DbCredentials {
    username: String,
    password: Sensitive<String>,
}

/// What a Lambda handler would do: read its configuration and credentials through the cache.
async fn handler() -> Result<(Entry<ssm::Value>, Entry<DbCredentials>), Box<dyn std::error::Error>>
{
    let greeting = ssm::get_entry_with(PARAMETER, MAX_AGE).await?;
    let db = secrets_manager::get_json::<DbCredentials>(SECRET, MAX_AGE).await?;
    Ok((greeting, db))
}

struct Invoker {
    clock: Clock,
    invocation: u32,
    ssm_calls: u32,
    secret_calls: u32,
}

impl Invoker {
    /// "backend" if the entry was fetched during this invocation, else "cache".
    fn source<V>(entry: &Entry<V>, start: Instant, calls: &mut u32) -> &'static str {
        if entry.fetched_at() >= start {
            *calls += 1;
            "backend"
        } else {
            "cache"
        }
    }

    async fn invoke(&mut self, note: &str) -> Result<(), Box<dyn std::error::Error>> {
        self.invocation += 1;
        let start = self.clock.now();
        let (greeting, db) = handler().await?;
        let latency = self.clock.now().saturating_duration_since(start);
        let ssm_source = Self::source(&greeting, start, &mut self.ssm_calls);
        let secret_source = Self::source(&db, start, &mut self.secret_calls);
        println!(
            "{:<4} {:<8} {:<8} {:>4} {:>4} {:>10.1?}  {:?} (db user {}, password {}){note}",
            self.invocation,
            ssm_source,
            secret_source,
            self.ssm_calls,
            self.secret_calls,
            latency,
            greeting.as_str().unwrap_or_default(),
            db.username,
            db.password, // prints <redacted>
        );
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ssm_admin = aws_sdk_ssm::Client::new(&config);
    let put = |value: &'static str| {
        ssm_admin
            .put_parameter()
            .name(PARAMETER)
            .r#type(ParameterType::String)
            .value(value)
            .overwrite(true)
            .send()
    };
    put("hello from SSM v1").await?;
    let secrets_admin = aws_sdk_secretsmanager::Client::new(&config);
    if secrets_admin
        .describe_secret()
        .secret_id(SECRET)
        .send()
        .await
        .is_err()
    {
        secrets_admin
            .create_secret()
            .name(SECRET)
            .secret_string(r#"{"username":"app","password":"not-for-your-eyes"}"#)
            .send()
            .await?;
    }
    println!("Stored parameter {PARAMETER} and secret {SECRET}; max_age = {MAX_AGE:?}\n");
    println!(
        "{:<4} {:<8} {:<8} {:>4} {:>4} {:>10}  handler saw",
        "inv", "param", "secret", "SSM", "SM", "latency"
    );

    let mut invoker = Invoker {
        clock: Clock::real(),
        invocation: 0,
        ssm_calls: 0,
        secret_calls: 0,
    };
    for _ in 0..5 {
        invoker.invoke("").await?;
    }
    put("hello from SSM v2").await?;
    println!("\n-- changed {PARAMETER} to \"hello from SSM v2\" --\n");
    invoker.invoke("  <- still cached: within max_age").await?;
    tokio::time::sleep(MAX_AGE).await;
    invoker.invoke("  <- max_age passed: refreshed").await?;
    for _ in 0..3 {
        invoker.invoke("").await?;
    }

    let stats = lambda_cache::Cache::global().stats();
    println!(
        "\n{} invocations: {} SSM calls, {} Secrets Manager calls; cache hits {}, misses {}.",
        invoker.invocation, invoker.ssm_calls, invoker.secret_calls, stats.hits, stats.misses
    );
    Ok(())
}
