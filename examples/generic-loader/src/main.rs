//! A Lambda function that caches the result of any call.

use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let entries = generic_loader::entries(aws_sdk_sts::Client::new(&config)).build()?;
    lambda_runtime::run(entries.handler(generic_loader::handler)).await
}
