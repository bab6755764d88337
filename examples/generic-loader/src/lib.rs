//! Any call's result, cached: here STS GetCallerIdentity, once an hour.

use std::time::Duration;

use lambda_cache::entries::{Entries, EntriesBuilder, Snapshot};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

/// Declares the entry `account`: the caller's account id, loaded with `sts` once an hour.
pub fn entries(sts: aws_sdk_sts::Client) -> EntriesBuilder {
    Entries::builder().load("account", Duration::from_secs(3600), move || {
        let sts = sts.clone();
        async move {
            let identity = sts.get_caller_identity().send().await?;
            Ok::<_, aws_sdk_sts::Error>(identity.account().unwrap_or_default().to_owned())
        }
    })
}

/// The handler: reads the loaded value by entry name and type.
///
/// # Errors
/// A missing entry or one of another type.
pub async fn handler(event: LambdaEvent<Value>, cached: Snapshot) -> Result<Value, Error> {
    let account = cached.get::<String>("account")?;
    Ok(json!({ "request_id": event.context.request_id, "account": account }))
}
