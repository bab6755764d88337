//! Size fixture: reads one SSM parameter per invocation with the bare SDK client.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

static CLIENT: OnceCell<aws_sdk_ssm::Client> = OnceCell::const_new();

async fn handler(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    let client = CLIENT
        .get_or_init(|| async {
            let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            aws_sdk_ssm::Client::new(&config)
        })
        .await;
    let output = client
        .get_parameter()
        .name("/production/app/var")
        .with_decryption(true)
        .send()
        .await?;
    Ok(json!({ "var": output.parameter().and_then(|p| p.value()) }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
