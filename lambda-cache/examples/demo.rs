//! The demo behind `cargo xtask demo`: a handler that reads an SSM parameter, a database secret,
//! an S3 file and a DynamoDB item through lambda-cache, invoked again and again against the local emulator.
//! Each line shows, per value, where it came from (memory, the backend, or a 304 revalidation),
//! the backend calls so far and the invocation's latency. Then the parameter and the object
//! change (with the item) and the new values arrive once max_age has passed. The secret is used, never printed.
//!
//! `cargo xtask demo` sets AWS_ENDPOINT_URL and test credentials, as Lambda sets the real ones.
#![allow(clippy::print_stdout)] // a demo prints

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_ssm::types::ParameterType;
use lambda_cache::dynamodb::{self, ItemKey};
use lambda_cache::s3::{LocalFile, S3Cache};
use lambda_cache::{Cache, Clock, Entry, Instant, Sensitive, secrets, ssm};

/// Short, so the demo shows refreshes within seconds; the default is 60 s.
const MAX_AGE: Duration = Duration::from_secs(2);
const PARAMETER: &str = "/demo/app/greeting";
const SECRET: &str = "demo/db/credentials";
const BUCKET: &str = "lambda-cache-demo";
const OBJECT: &str = "s3://lambda-cache-demo/config/object.json";
const TABLE: &str = "lambda-cache-demo-users";

#[derive(serde::Deserialize)]
struct DbCredentials {
    username: String,
    password: Sensitive<String>,
}

struct Seen {
    greeting: Entry<ssm::Value>,
    db: Entry<DbCredentials>,
    file: Entry<LocalFile>,
    user: Entry<dynamodb::Item>,
}

/// What a Lambda handler would do: read its configuration, credentials and a file.
async fn handler(s3: &S3Cache) -> Result<Seen, Box<dyn std::error::Error>> {
    Ok(Seen {
        greeting: ssm::get_entry_with(PARAMETER, MAX_AGE).await?,
        db: secrets::get_json::<DbCredentials>(SECRET, MAX_AGE).await?,
        file: s3.get_entry_with(OBJECT, MAX_AGE).await?,
        user: dynamodb::get_entry_with(&ItemKey::new(TABLE, "pk", "u1"), MAX_AGE).await?,
    })
}

#[derive(Default)]
struct Calls {
    ssm: u32,
    secrets: u32,
    s3: u32,
    dynamodb: u32,
}

/// "backend" if the entry was fetched during this invocation, else "cache".
fn source<V>(entry: &Entry<V>, start: Instant, calls: &mut u32) -> &'static str {
    if entry.fetched_at() >= start {
        *calls += 1;
        "backend"
    } else {
        "cache"
    }
}

struct Invoker {
    s3: S3Cache,
    clock: Clock,
    invocation: u32,
    calls: Calls,
    last_file: Option<Arc<LocalFile>>,
}

impl Invoker {
    async fn invoke(&mut self, note: &str) -> Result<(), Box<dyn std::error::Error>> {
        self.invocation += 1;
        let start = self.clock.now();
        let seen = handler(&self.s3).await?;
        let latency = self.clock.now().saturating_duration_since(start);
        let param = source(&seen.greeting, start, &mut self.calls.ssm);
        let secret = source(&seen.db, start, &mut self.calls.secrets);
        let mut file = source(&seen.file, start, &mut self.calls.s3);
        let item = source(&seen.user, start, &mut self.calls.dynamodb);
        let plan = seen.user["plan"].as_s().map_or("?", String::as_str);
        let file_value = seen.file.value_arc();
        if file == "backend"
            && self
                .last_file
                .as_ref()
                .is_some_and(|f| Arc::ptr_eq(f, &file_value))
        {
            file = "304"; // revalidated: same file, renewed, no body transferred
        }
        self.last_file = Some(file_value);
        let text = std::fs::read_to_string(seen.file.path())?;
        println!(
            "{:<4} {:<8} {:<8} {:<8} {:<8} {:>3} {:>3} {:>3} {:>3} {:>9.1?}  {:?} | {} | plan {} | db {} / {}{note}",
            self.invocation,
            param,
            secret,
            file,
            item,
            self.calls.ssm,
            self.calls.secrets,
            self.calls.s3,
            self.calls.dynamodb,
            latency,
            seen.greeting.as_str().unwrap_or_default(),
            text.trim(),
            plan,
            seen.db.username,
            seen.db.password, // prints <redacted>
        );
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ssm_admin = aws_sdk_ssm::Client::new(&config);
    let put_parameter = |value: &'static str| {
        ssm_admin
            .put_parameter()
            .name(PARAMETER)
            .r#type(ParameterType::String)
            .value(value)
            .overwrite(true)
            .send()
    };
    put_parameter("hello v1").await?;

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

    // The emulator serves S3 on one host name, so the demo's client uses path-style addresses.
    let s3_client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    if s3_client.head_bucket().bucket(BUCKET).send().await.is_err() {
        s3_client.create_bucket().bucket(BUCKET).send().await?;
    }
    let put_object = |body: &'static str| {
        s3_client
            .put_object()
            .bucket(BUCKET)
            .key("config/object.json")
            .body(ByteStream::from_static(body.as_bytes()))
            .send()
    };
    put_object(r#"{"status": "green"}"#).await?;
    let dynamodb_admin = aws_sdk_dynamodb::Client::new(&config);
    if dynamodb_admin
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .is_err()
    {
        dynamodb_admin
            .create_table()
            .table_name(TABLE)
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .attribute_definitions(
                aws_sdk_dynamodb::types::AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                aws_sdk_dynamodb::types::KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                    .build()?,
            )
            .send()
            .await?;
    }
    let put_user = |plan: &'static str| {
        dynamodb_admin
            .put_item()
            .table_name(TABLE)
            .item("pk", AttributeValue::S("u1".into()))
            .item("plan", AttributeValue::S(plan.into()))
            .send()
    };
    put_user("free").await?;
    let directory = std::env::temp_dir().join("lambda-cache-demo");
    let s3 = S3Cache::builder(Cache::global().clone(), s3_client.clone())
        .directory(&directory)
        .build();

    println!(
        "Stored {PARAMETER}, secret {SECRET}, {OBJECT} and item u1 of table {TABLE}; max_age = {MAX_AGE:?}"
    );
    println!(
        "The file is cached at {}\n",
        directory.join("object.json").display()
    );
    println!(
        "{:<4} {:<8} {:<8} {:<8} {:<8} {:>3} {:>3} {:>3} {:>3} {:>9}  handler saw",
        "inv", "param", "secret", "file", "item", "SSM", "SM", "S3", "DDB", "latency"
    );
    let mut invoker = Invoker {
        s3,
        clock: Clock::real(),
        invocation: 0,
        calls: Calls::default(),
        last_file: None,
    };
    for _ in 0..4 {
        invoker.invoke("").await?;
    }
    put_parameter("hello v2").await?;
    put_user("pro").await?;
    println!(
        "\n-- changed {PARAMETER} to \"hello v2\" and user u1's plan to \"pro\"; the S3 object is unchanged --\n"
    );
    invoker.invoke("  <- within max_age: still cached").await?;
    tokio::time::sleep(MAX_AGE).await;
    invoker
        .invoke("  <- max_age passed: refreshed; file revalidated (304)")
        .await?;
    invoker.invoke("").await?;
    put_object(r#"{"status": "amber"}"#).await?;
    println!("\n-- changed the S3 object --\n");
    tokio::time::sleep(MAX_AGE).await;
    invoker
        .invoke("  <- max_age passed: the new file is downloaded")
        .await?;
    for _ in 0..2 {
        invoker.invoke("").await?;
    }

    let stats = Cache::global().stats();
    println!(
        "\n{} invocations: {} SSM, {} Secrets Manager, {} S3 and {} DynamoDB requests; cache hits {}, misses {}.",
        invoker.invocation,
        invoker.calls.ssm,
        invoker.calls.secrets,
        invoker.calls.s3,
        invoker.calls.dynamodb,
        stats.hits,
        stats.misses
    );
    Ok(())
}
