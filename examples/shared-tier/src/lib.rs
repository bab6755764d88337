//! A function whose SSM reads go through a shared tier: the cache (with the tier when a URL is
//! given) and the handler, apart from `main` so that tests can run them against moto and a real
//! Redis.

use std::sync::Arc;
use std::time::Duration;

use lambda_cache::Cache;
use lambda_cache::redis::RedisTier;
use lambda_cache::ssm::SsmCache;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

/// The parameter read when `APP_PARAMETER` is not set.
pub const DEFAULT_PARAMETER: &str = "/production/app/var";

/// How old a value the function accepts.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// The cache of one execution environment: with a shared tier at `redis_url` (the
/// `LAMBDA_CACHE_REDIS_URL` variable), or without one. A tier that cannot be reached later
/// never fails a read: the reads go to SSM.
///
/// # Errors
/// A URL that is not a `redis://` or `rediss://` URL (its password never shown).
pub fn cache(redis_url: Option<&str>) -> Result<Cache, Error> {
    let mut cache = Cache::builder().stale_if_error(Duration::from_secs(600));
    if let Some(url) = redis_url {
        cache = cache.shared_tier(Arc::new(RedisTier::builder(url).build()?));
    }
    Ok(cache.build()?)
}

/// The handler: the parameter from this environment's memory, else from the tier, else
/// from SSM.
///
/// # Errors
/// The parameter cannot be read (and no recent value is at hand).
pub async fn handler(
    event: LambdaEvent<Value>,
    ssm: &SsmCache,
    parameter: &str,
) -> Result<Value, Error> {
    let value = ssm.get_entry_with(parameter, MAX_AGE).await?;
    Ok(json!({ "value": value.as_str(), "request_id": event.context.request_id }))
}
