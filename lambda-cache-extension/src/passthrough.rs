//! Every operation of SSM, Secrets Manager and DynamoDB that the SDK endpoint does not answer
//! from the cache: forwarded to the service's own endpoint, signed again with the extension's
//! credentials (the execution role the function's were), and the service's answer returned
//! unchanged as it streams in. A write drops what it changes from the cache once the service
//! has answered and before the function sees the answer, so that a function that writes then
//! reads sees its own write.

use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::http::{HttpConnector as _, SharedHttpConnector};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use hyper::Response;

use crate::sdk::Service;

/// Request headers the service needs, copied as the function sent them; the extension's own
/// signature replaces the function's.
const FORWARDED: [&str; 4] = ["content-type", "x-amz-target", "content-encoding", "accept"];
/// Response headers of one connection, never relayed to another.
const HOP_BY_HOP: [&str; 4] = ["connection", "keep-alive", "transfer-encoding", "upgrade"];

/// Where each service's requests go, and with what they are signed.
pub(crate) struct Upstream {
    connector: SharedHttpConnector,
    credentials: Option<SharedCredentialsProvider>,
    region: Option<String>,
    ssm: String,
    secrets: String,
    dynamodb: String,
    /// Longest wait for the service's answer to begin.
    timeout: Duration,
}

/// A service's regional endpoint, as the SDKs resolve it without an override.
fn regional(prefix: &str, region: Option<&str>) -> String {
    let region = region.unwrap_or("us-east-1");
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{prefix}.{region}.{suffix}")
}

impl Upstream {
    /// The endpoints the extension's own SDK clients use: a service's variable unless it points
    /// at this extension (`ignored`), else `AWS_ENDPOINT_URL` under the same rule, else the
    /// regional endpoint.
    pub(crate) fn new(
        sdk: &aws_config::SdkConfig,
        ignored: &[&'static str],
        timeout: Duration,
    ) -> Self {
        let region = sdk.region().map(ToString::to_string);
        let url = |variable: &str, prefix: &str| {
            let own = crate::endpoints::replacement(
                variable,
                crate::endpoints::environment,
                ignored,
                sdk,
            );
            match own {
                Some(Some(url)) => url,
                Some(None) => regional(prefix, region.as_deref()),
                None => crate::endpoints::environment(variable)
                    .or_else(|| sdk.endpoint_url().map(str::to_owned))
                    .unwrap_or_else(|| regional(prefix, region.as_deref())),
            }
        };
        let settings = aws_smithy_runtime_api::client::http::HttpConnectorSettings::builder()
            .connect_timeout(timeout)
            .build();
        Self {
            connector: SharedHttpConnector::new(
                aws_smithy_http_client::Connector::builder()
                    .connector_settings(settings)
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
                    ))
                    .build(),
            ),
            credentials: sdk.credentials_provider(),
            ssm: url("AWS_ENDPOINT_URL_SSM", "ssm"),
            secrets: url("AWS_ENDPOINT_URL_SECRETS_MANAGER", "secretsmanager"),
            dynamodb: url("AWS_ENDPOINT_URL_DYNAMODB", "dynamodb"),
            region,
            timeout,
        }
    }

    /// The endpoint of a service whose operations pass through (AppConfigData's never do).
    fn url(&self, service: Service) -> Option<&str> {
        match service {
            Service::Ssm => Some(&self.ssm),
            Service::Secrets => Some(&self.secrets),
            Service::DynamoDb => Some(&self.dynamodb),
            Service::AppConfigData => None,
        }
    }

    /// Sends the function's request to the service, signed with the extension's credentials;
    /// the service's answer, its body still streaming. `Err` says why no answer came.
    pub(crate) async fn forward(
        &self,
        service: Service,
        parts: &hyper::http::request::Parts,
        body: &Bytes,
    ) -> Result<Response<SdkBody>, String> {
        let base = self
            .url(service)
            .ok_or("this service's operations do not pass through")?
            .trim_end_matches('/');
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri = format!("{base}{path}");
        let authority = base
            .split_once("://")
            .map_or(base, |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut request = hyper::Request::builder()
            .method(parts.method.clone())
            .uri(&uri)
            .header(hyper::header::HOST, &authority);
        for name in FORWARDED {
            for value in parts.headers.get_all(name) {
                request = request.header(name, value);
            }
        }
        let mut request = request
            .body(body.clone())
            .map_err(|e| format!("the request to {uri}: {e}"))?;
        self.sign(service, &mut request, body).await?;
        let request = HttpRequest::try_from(request.map(SdkBody::from))
            .map_err(|e| format!("the request to {uri}: {e}"))?;
        let answer = tokio::time::timeout(self.timeout, self.connector.call(request))
            .await
            .map_err(|_| format!("{uri} did not answer within {:?}", self.timeout))?
            .map_err(|e| format!("{uri}: {}", lambda_cache::error_chain(&e)))?;
        let mut answer = answer
            .try_into_http1x()
            .map_err(|e| format!("the answer of {uri}: {e}"))?;
        for name in HOP_BY_HOP {
            answer.headers_mut().remove(name);
        }
        Ok(answer)
    }

    async fn sign(
        &self,
        service: Service,
        request: &mut hyper::Request<Bytes>,
        body: &[u8],
    ) -> Result<(), String> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let provider = self
            .credentials
            .as_ref()
            .ok_or("the extension has no credentials to sign with")?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("credentials: {e}"))?;
        let identity = credentials.into();
        let region = self.region.as_deref().ok_or("no region (AWS_REGION)")?;
        let now = std::time::UNIX_EPOCH
            + Duration::from_millis(lambda_cache::Clock::real().unix_millis());
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service.signing_name())
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing parameters: {e}"))?
            .into();
        let uri = request.uri().to_string();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable = SignableRequest::new(
            request.method().as_str(),
            &uri,
            headers,
            SignableBody::Bytes(body),
        )
        .map_err(|e| format!("signable request: {e}"))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_endpoints_follow_the_partition() {
        assert_eq!(
            regional("ssm", Some("eu-west-1")),
            "https://ssm.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            regional("dynamodb", Some("cn-north-1")),
            "https://dynamodb.cn-north-1.amazonaws.com.cn"
        );
    }
}
