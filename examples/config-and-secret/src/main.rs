//! A Lambda function that caches ten SSM parameters and a database secret.

use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let prefix = std::env::var("APP_PREFIX").unwrap_or_else(|_| "/production/app".into());
    let secret = std::env::var("APP_DB_SECRET").unwrap_or_else(|_| "production/db".into());
    // Declaration mistakes stop the function here, before its first invocation.
    let entries = config_and_secret::entries(&prefix, &secret).build()?;
    lambda_runtime::run(entries.handler(config_and_secret::handler)).await
}
