//! A Lambda function that keeps a model file from S3 in /tmp.

use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let uri = std::env::var("MODEL_URI").unwrap_or_else(|_| s3_model::DEFAULT_MODEL.into());
    let entries = s3_model::entries(&uri).build()?;
    lambda_runtime::run(entries.handler(s3_model::handler)).await
}
