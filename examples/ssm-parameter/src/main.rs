//! A Lambda function that caches one SSM parameter.

use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let parameter =
        std::env::var("APP_PARAMETER").unwrap_or_else(|_| ssm_parameter::DEFAULT_PARAMETER.into());
    let entries = ssm_parameter::entries(&parameter).build()?;
    lambda_runtime::run(entries.handler(ssm_parameter::handler)).await
}
