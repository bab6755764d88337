//! Size fixture: reads one SSM parameter per invocation through lambda-cache.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    let var = lambda_cache::ssm::get_entry("/production/app/var").await?;
    Ok(json!({ "var": var.as_str() }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
