//! Ten cached SSM parameters and a database secret, refreshed together per invocation.

use std::time::Duration;

use lambda_cache::entries::{Entries, EntriesBuilder, Snapshot};
use lambda_cache::{Sensitive, secrets, ssm};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

/// The parameters under the prefix, each read by its own name.
pub const PARAMETERS: [&str; 10] = [
    "db_host",
    "db_port",
    "db_name",
    "feature_flags",
    "log_level",
    "region",
    "api_url",
    "timeout_ms",
    "max_items",
    "cache_size",
];

/// How long values are kept.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// The database credentials stored in the secret.
#[derive(serde::Deserialize)]
pub struct DbCredentials {
    /// The user name.
    pub username: String,
    /// The password, redacted in every `Debug` and `Display`.
    pub password: Sensitive<String>,
}

/// Declares the ten parameters under `prefix` and the secret `db_secret` (entry `db`).
pub fn entries(prefix: &str, db_secret: &str) -> EntriesBuilder {
    PARAMETERS
        .iter()
        .fold(Entries::builder(), |builder, name| {
            builder.entry(ssm::parameter(format!("{prefix}/{name}")).max_age(MAX_AGE))
        })
        .entry(secrets::secret(db_secret).entry_name("db").max_age(MAX_AGE))
}

/// The handler: everything it reads comes from the snapshot taken when the invocation started.
///
/// # Errors
/// A missing entry, or a secret that is not the expected JSON.
pub async fn handler(event: LambdaEvent<Value>, cached: Snapshot) -> Result<Value, Error> {
    let text = |name: &str| -> Result<String, Error> {
        Ok(cached
            .get::<ssm::Value>(name)?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    };
    let db: DbCredentials = serde_json::from_slice(cached.get::<secrets::Secret>("db")?.as_bytes())
        .map_err(|_| "the db secret is not {\"username\", \"password\"} JSON")?;
    // A real function would connect here with db.username and db.password.expose().
    Ok(json!({
        "request_id": event.context.request_id,
        "db": format!("{}@{}:{}/{}", db.username, text("db_host")?, text("db_port")?, text("db_name")?),
        "password": db.password.to_string(),
        "log_level": text("log_level")?,
        "parameters": PARAMETERS.len(),
    }))
}
