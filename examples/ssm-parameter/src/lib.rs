//! One cached SSM parameter: the declaration and the handler, apart from `main` so that tests
//! can run them against the emulator.

use std::time::Duration;

use lambda_cache::entries::{Entries, EntriesBuilder, Snapshot};
use lambda_cache::ssm;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

/// The parameter read when `APP_PARAMETER` is not set.
pub const DEFAULT_PARAMETER: &str = "/production/app/var";

/// Declares the cached entry: `parameter`, kept for 60 seconds, read by its short name.
pub fn entries(parameter: &str) -> EntriesBuilder {
    Entries::builder().entry(ssm::parameter(parameter).max_age(Duration::from_secs(60)))
}

/// The handler: the parameter's value comes from the snapshot, never from SSM directly.
///
/// # Errors
/// If the entry is missing (a declaration mistake).
pub async fn handler(event: LambdaEvent<Value>, cached: Snapshot) -> Result<Value, Error> {
    let var = cached.get::<ssm::Value>("var")?;
    Ok(json!({ "var": var.as_str(), "request_id": event.context.request_id }))
}
