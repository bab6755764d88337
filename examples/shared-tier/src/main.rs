//! A Lambda function whose SSM reads go through a Redis/Valkey shared tier.

use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let parameter =
        std::env::var("APP_PARAMETER").unwrap_or_else(|_| shared_tier::DEFAULT_PARAMETER.into());
    let url = std::env::var("LAMBDA_CACHE_REDIS_URL").ok();
    let config = aws_config::load_from_env().await;
    let ssm =
        lambda_cache::ssm::SsmCache::from_config(shared_tier::cache(url.as_deref())?, &config);
    let (ssm, parameter) = (&ssm, parameter.as_str());
    lambda_runtime::run(service_fn(move |event| {
        shared_tier::handler(event, ssm, parameter)
    }))
    .await
}
