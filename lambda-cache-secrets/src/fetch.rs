//! The SDK calls behind every read: the one place where secrets are asked of Secrets Manager,
//! by this crate's cache and by callers that give the service's own answers back (the
//! extension's routes and its SDK endpoint). Each returns the service's output whole (ARN,
//! name, version id and stages, dates, the value) and the SDK's own error.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::batch_get_secret_value::{
    BatchGetSecretValueError, BatchGetSecretValueOutput,
};
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;
use aws_sdk_secretsmanager::operation::get_secret_value::{
    GetSecretValueError, GetSecretValueOutput,
};

/// GetSecretValue of `id` (a name or an ARN) at `version_id`, else at `stage`, else at the
/// current version.
///
/// # Errors
/// The SDK's error for the call, whole.
///
/// ```no_run
/// # async fn f(client: aws_sdk_secretsmanager::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let out = lambda_cache_secrets::fetch::get_secret_value(&client, "prod/db", None, Some("AWSPREVIOUS")).await?;
/// println!("{:?} {:?}", out.version_id(), out.version_stages());
/// # Ok(()) }
/// ```
pub async fn get_secret_value(
    client: &Client,
    id: &str,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<GetSecretValueOutput, SdkError<GetSecretValueError, HttpResponse>> {
    let request = client.get_secret_value().secret_id(id);
    let request = match (version_id, stage) {
        (Some(version_id), _) => request.version_id(version_id),
        (None, Some(stage)) => request.version_stage(stage),
        (None, None) => request,
    };
    request.send().await
}

/// Whether version `version_id` of `id` still holds `stage`, asked of DescribeSecret (which
/// never returns the value): how a held value is revalidated without reading it again.
///
/// # Errors
/// The SDK's error for the call, whole (access denied where the role may not describe).
///
/// ```no_run
/// # async fn f(client: aws_sdk_secretsmanager::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let current = lambda_cache_secrets::fetch::version_has_stage(&client, "prod/db", "v1", "AWSCURRENT").await?;
/// # let _ = current;
/// # Ok(()) }
/// ```
pub async fn version_has_stage(
    client: &Client,
    id: &str,
    version_id: &str,
    stage: &str,
) -> Result<bool, SdkError<DescribeSecretError, HttpResponse>> {
    let description = client.describe_secret().secret_id(id).send().await?;
    Ok(description
        .version_ids_to_stages()
        .and_then(|versions| versions.get(version_id))
        .is_some_and(|stages| stages.iter().any(|s| s == stage)))
}

/// One page of BatchGetSecretValue for `ids` (at most
/// [`MAX_PER_CALL`](crate::MAX_PER_CALL)): the current versions found and the errors, as the
/// service answered them, and its `NextToken` if there is more.
///
/// # Errors
/// The SDK's error for the call, whole.
///
/// ```no_run
/// # async fn f(client: aws_sdk_secretsmanager::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let page = lambda_cache_secrets::fetch::batch_get_secret_value(&client, &["a", "b"], None).await?;
/// println!("{} values, {} errors", page.secret_values().len(), page.errors().len());
/// # Ok(()) }
/// ```
pub async fn batch_get_secret_value(
    client: &Client,
    ids: &[&str],
    next_token: Option<String>,
) -> Result<BatchGetSecretValueOutput, SdkError<BatchGetSecretValueError, HttpResponse>> {
    client
        .batch_get_secret_value()
        .set_secret_id_list(Some(ids.iter().map(|n| (*n).to_owned()).collect()))
        .set_next_token(next_token)
        .send()
        .await
}
