//! The SDK calls behind every read: the one place where parameters are asked of SSM, by this
//! crate's cache and by callers that give SSM's own answers back (the extension's routes and
//! its SDK endpoint). Each returns SSM's [`Parameter`]s whole (value, type, version, ARN, data
//! type, last modified date, selector, source), matched to the names asked for, and the SDK's
//! own error, so that a caller keeps everything the service said.

use aws_sdk_ssm::Client;
use aws_sdk_ssm::config::http::HttpResponse;
use aws_sdk_ssm::error::SdkError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::operation::get_parameters::GetParametersError;
use aws_sdk_ssm::operation::get_parameters_by_path::GetParametersByPathError;
use aws_sdk_ssm::types::{Parameter, ParameterStringFilter};

use crate::id;

/// Parameters per page of a GetParametersByPath walk: the most SSM gives.
const PAGE: i32 = 10;

/// What one GetParameters call answered, by the names asked for.
///
/// ```
/// let answered = lambda_cache_ssm::fetch::Answered::default();
/// assert!(answered.found.is_empty() && answered.invalid.is_empty());
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Answered {
    /// Each name asked for that SSM answered, with its parameter, in the order asked.
    pub found: Vec<(String, Parameter)>,
    /// The names SSM does not know (its `InvalidParameters`, and any name no answer matches).
    pub invalid: Vec<String>,
}

/// One GetParameters call for `names` (at most [`MAX_PER_CALL`](crate::MAX_PER_CALL), already
/// validated, without duplicates), decrypted if `decrypt`. An answer is matched to the name
/// asked for by name or ARN and selector, the latest version where several could answer.
///
/// # Errors
/// The SDK's error for the call, whole.
///
/// ```no_run
/// # async fn f(client: aws_sdk_ssm::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let answered = lambda_cache_ssm::fetch::get_parameters(&client, &["/app/a", "/app/b"], true).await?;
/// for (name, parameter) in &answered.found {
///     println!("{name}: version {}", parameter.version());
/// }
/// # Ok(()) }
/// ```
pub async fn get_parameters(
    client: &Client,
    names: &[&str],
    decrypt: bool,
) -> Result<Answered, SdkError<GetParametersError, HttpResponse>> {
    let output = client
        .get_parameters()
        .set_names(Some(names.iter().map(|n| (*n).to_owned()).collect()))
        .with_decryption(decrypt)
        .send()
        .await?;
    let mut invalid: Vec<String> = output.invalid_parameters().to_vec();
    let answers: Vec<id::Answer<'_>> = output
        .parameters()
        .iter()
        .map(|p| id::Answer {
            name: p.name().unwrap_or_default(),
            arn: p.arn(),
            selector: p.selector(),
            version: p.version(),
        })
        .collect();
    let mut found = Vec::with_capacity(names.len());
    for requested in names {
        if invalid.iter().any(|m| m == requested) {
            continue;
        }
        match id::best(requested, &answers) {
            Some(i) => found.push(((*requested).to_owned(), output.parameters()[i].clone())),
            None => invalid.push((*requested).to_owned()),
        }
    }
    Ok(Answered { found, invalid })
}

/// One GetParameter call: the parameter, or `None` where SSM answered without one.
///
/// # Errors
/// The SDK's error for the call, whole (`ParameterNotFound` among them).
///
/// ```no_run
/// # async fn f(client: aws_sdk_ssm::Client) -> Result<(), Box<dyn std::error::Error>> {
/// if let Some(p) = lambda_cache_ssm::fetch::get_parameter(&client, "/app/a", false).await? {
///     println!("{:?} modified {:?}", p.arn(), p.last_modified_date());
/// }
/// # Ok(()) }
/// ```
pub async fn get_parameter(
    client: &Client,
    name: &str,
    decrypt: bool,
) -> Result<Option<Parameter>, SdkError<GetParameterError, HttpResponse>> {
    let output = client
        .get_parameter()
        .name(name)
        .with_decryption(decrypt)
        .send()
        .await?;
    Ok(output.parameter)
}

/// A whole GetParametersByPath walk of `path`: every page, in SSM's order.
///
/// # Errors
/// The SDK's error for the first call that fails, whole.
///
/// ```no_run
/// # async fn f(client: aws_sdk_ssm::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let all = lambda_cache_ssm::fetch::get_parameters_by_path(&client, "/app", true, true, None).await?;
/// println!("{} parameters", all.len());
/// # Ok(()) }
/// ```
pub async fn get_parameters_by_path(
    client: &Client,
    path: &str,
    recursive: bool,
    decrypt: bool,
    filters: Option<Vec<ParameterStringFilter>>,
) -> Result<Vec<Parameter>, SdkError<GetParametersByPathError, HttpResponse>> {
    let mut parameters = Vec::new();
    let mut next_token = None;
    loop {
        let page = client
            .get_parameters_by_path()
            .path(path)
            .recursive(recursive)
            .with_decryption(decrypt)
            .set_parameter_filters(filters.clone())
            .max_results(PAGE)
            .set_next_token(next_token.take())
            .send()
            .await?;
        let token = page.next_token.filter(|t| !t.is_empty());
        parameters.extend(page.parameters.unwrap_or_default());
        match token {
            Some(token) => next_token = Some(token),
            None => return Ok(parameters),
        }
    }
}
