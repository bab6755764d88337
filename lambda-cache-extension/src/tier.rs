//! The fleet's shared tier, as the extension sets it up: a `RedisTier` from
//! `CACHE_EXTENSION_SHARED_TIER`, with ElastiCache IAM tokens signed from the execution role's
//! credentials when `CACHE_EXTENSION_SHARED_TIER_IAM` says so.

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use lambda_cache::Clock;
use lambda_cache::redis::RedisTier;

use crate::config::{IamAuth, InitError, SharedTier};

/// How long an ElastiCache IAM token is valid.
const TOKEN_LIFE: Duration = Duration::from_secs(15 * 60);
/// How often a new token is signed: well before the last one ends.
const TOKEN_RENEWAL: Duration = Duration::from_secs(10 * 60);

/// The tier of `settings`; nothing connects yet.
pub(crate) fn build(
    settings: &SharedTier,
    sdk: &aws_config::SdkConfig,
    timeout: Duration,
    account: Option<&str>,
) -> Result<Arc<RedisTier>, InitError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let prefix = settings.prefix.clone().unwrap_or_else(|| {
        default_prefix(
            account,
            var("AWS_REGION").as_deref(),
            var("AWS_LAMBDA_FUNCTION_NAME").as_deref(),
        )
    });
    let mut builder = RedisTier::builder(settings.url.expose().as_str()).prefix(prefix);
    // A tier call waits at most the backend's own bound; a request that finds another
    // extension fetching waits for its value at most CACHE_EXTENSION_BACKEND_TIMEOUT (then
    // fetches itself), and a lease outlives the holder's own bounded call.
    builder = builder
        .timeout(timeout.min(lambda_cache::redis::DEFAULT_TIMEOUT))
        .lease(lambda_cache::redis::LeaseSettings {
            hold: timeout + Duration::from_secs(1),
            wait: timeout,
            ..lambda_cache::redis::LeaseSettings::default()
        });
    if let Some(iam) = settings.iam.clone() {
        let provider = sdk.credentials_provider();
        let region = sdk.region().map(ToString::to_string);
        builder = builder.credentials(TOKEN_RENEWAL, move || {
            let (iam, provider, region) = (iam.clone(), provider.clone(), region.clone());
            async move {
                let provider = provider.ok_or("no credentials provider")?;
                let credentials = provider
                    .provide_credentials()
                    .await
                    .map_err(|e| format!("credentials: {e}"))?;
                let region = region.ok_or("no region (AWS_REGION)")?;
                let now =
                    std::time::UNIX_EPOCH + Duration::from_millis(Clock::real().unix_millis());
                let token = iam_token(&iam, &region, &credentials, now)?;
                Ok((iam.user.clone(), token))
            }
        });
    }
    builder
        .build()
        .map(Arc::new)
        .map_err(|error| InitError::Variable {
            name: "CACHE_EXTENSION_SHARED_TIER",
            value: "(see the reason)".into(),
            reason: error.to_string(),
        })
}

/// The prefix unless `CACHE_EXTENSION_SHARED_TIER_PREFIX` gives one: the account (which
/// Lambda gives the extension at registration), the region and the function's name, so that
/// two accounts, two regions or two functions on one cluster never meet (`local` for each
/// unknown).
fn default_prefix(account: Option<&str>, region: Option<&str>, function: Option<&str>) -> String {
    format!(
        "lambda-cache:{}:{}:{}:",
        account.unwrap_or("local"),
        region.unwrap_or("local"),
        function.unwrap_or("local")
    )
}

/// Query values as SigV4 encodes them: everything but the unreserved characters.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// An ElastiCache IAM authentication token: the request `GET https://<cache>/?Action=connect
/// &User=<user>` (and `&ResourceType=ServerlessCache` for a serverless cache) presigned with
/// SigV4 for the service `elasticache`, valid 15 minutes, without its scheme.
pub(crate) fn iam_token(
    iam: &IamAuth,
    region: &str,
    credentials: &Credentials,
    now: std::time::SystemTime,
) -> Result<String, String> {
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    let mut url = format!(
        "https://{}/?Action=connect&User={}",
        iam.cache,
        percent_encoding::utf8_percent_encode(&iam.user, QUERY)
    );
    if iam.serverless {
        url.push_str("&ResourceType=ServerlessCache");
    }
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFE);
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("elasticache")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("signing parameters: {e}"))?
        .into();
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| format!("signable request: {e}"))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| format!("signing: {e}"))?
        .into_parts();
    let mut token = url.trim_start_matches("https://").to_owned();
    for (name, value) in instructions.params() {
        token.push('&');
        token.push_str(name);
        token.push('=');
        token.extend(percent_encoding::utf8_percent_encode(value, QUERY));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iam(serverless: bool) -> IamAuth {
        IamAuth::parse(
            "app user@orders-cache",
            if serverless {
                "rediss://orders-cache-x.serverless.use1.cache.amazonaws.com:6379"
            } else {
                "rediss://master.orders-cache.x.use1.cache.amazonaws.com:6379"
            },
        )
        .unwrap()
    }

    #[test]
    fn the_default_prefix_names_the_account_the_region_and_the_function() {
        let prefix = default_prefix(Some("123456789012"), Some("eu-west-1"), Some("checkout"));
        assert_eq!(prefix, "lambda-cache:123456789012:eu-west-1:checkout:");
        assert_ne!(
            prefix,
            default_prefix(Some("210987654321"), Some("eu-west-1"), Some("checkout")),
            "two accounts"
        );
        assert_eq!(
            default_prefix(None, None, None),
            "lambda-cache:local:local:local:"
        );
    }

    #[test]
    fn an_iam_token_is_the_connect_request_presigned_for_15_minutes() {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "secret-key",
            Some("session/+=".into()),
            None,
            "test",
        );
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_764_900_000);
        let token = iam_token(&iam(true), "us-east-1", &credentials, at).unwrap();
        assert!(
            token.starts_with(
                "orders-cache/?Action=connect&User=app%20user&ResourceType=ServerlessCache&"
            ),
            "{token}"
        );
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20251205%2Fus-east-1%2Felasticache%2Faws4_request",
            "X-Amz-Date=20251205T",
            "X-Amz-Expires=900",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Security-Token=session%2F%2B%3D",
            "X-Amz-Signature=",
        ] {
            assert!(token.contains(part), "{part} in {token}");
        }
        assert!(!token.contains("secret-key"));
        // Signed again a second later: another signature.
        let later = iam_token(
            &iam(true),
            "us-east-1",
            &credentials,
            at + Duration::from_secs(1),
        )
        .unwrap();
        assert_ne!(token, later);
        let provisioned = iam_token(&iam(false), "us-east-1", &credentials, at).unwrap();
        assert!(!provisioned.contains("ResourceType"));
    }
}
