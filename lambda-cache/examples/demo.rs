//! The demo behind `cargo xtask demo`: a handler that reads an SSM parameter through
//! lambda-cache, invoked again and again against the local emulator, showing per invocation
//! whether the value came from memory or from SSM, the SSM calls so far and the latency.
//! Then the parameter changes and the new value arrives once max_age has passed.
//!
//! `cargo xtask demo` sets AWS_ENDPOINT_URL and test credentials, as Lambda sets the real ones.
#![allow(clippy::print_stdout)] // a demo prints

use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use lambda_cache::Cache;
use lambda_cache::ssm;

/// Short, so the demo shows a refresh within seconds; the default is 60 s.
const MAX_AGE: Duration = Duration::from_secs(2);
const PARAMETER: &str = "/demo/app/greeting";

/// What a Lambda handler would do: read its configuration through the cache.
async fn handler(invocation: u32) -> Result<String, ssm::Error> {
    let greeting = ssm::get_entry_with(PARAMETER, MAX_AGE).await?;
    Ok(format!(
        "invocation {invocation}: {}",
        greeting.as_str().unwrap_or_default()
    ))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let admin = aws_sdk_ssm::Client::new(&config);
    let put = |value: &'static str| {
        admin
            .put_parameter()
            .name(PARAMETER)
            .r#type(ParameterType::String)
            .value(value)
            .overwrite(true)
            .send()
    };
    put("hello from SSM v1").await?;
    println!("Stored {PARAMETER} = \"hello from SSM v1\"; max_age = {MAX_AGE:?}\n");
    println!(
        "{:<4} {:<8} {:>9} {:>10}  handler output",
        "inv", "source", "SSM calls", "latency"
    );

    let clock = lambda_cache::Clock::real();
    let mut invocation = 0;
    let mut run = |label: &'static str| {
        invocation += 1;
        let n = invocation;
        let clock = clock.clone();
        async move {
            let before = Cache::global().stats().fetches;
            let start = clock.now();
            let output = handler(n).await?;
            let latency = clock.now().saturating_duration_since(start);
            let fetches = Cache::global().stats().fetches;
            let source = if fetches > before { "SSM" } else { "cache" };
            println!("{n:<4} {source:<8} {fetches:>9} {latency:>10.1?}  {output}{label}");
            Ok::<_, ssm::Error>(())
        }
    };

    for _ in 0..5 {
        run("").await?;
    }
    put("hello from SSM v2").await?;
    println!("\n-- changed {PARAMETER} to \"hello from SSM v2\" --\n");
    run("   (still cached: within max_age)").await?;
    tokio::time::sleep(MAX_AGE).await;
    run("   (max_age passed: refreshed)").await?;
    for _ in 0..3 {
        run("").await?;
    }

    let stats = Cache::global().stats();
    println!(
        "\n{} invocations, {} SSM calls, {} served from memory.",
        invocation, stats.fetches, stats.hits
    );
    Ok(())
}
