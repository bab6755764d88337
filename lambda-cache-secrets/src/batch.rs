//! BatchGetSecretValue: the current versions of many secrets, 20 a call, answers matched to
//! the names asked for.

use aws_sdk_secretsmanager::Client;
use lambda_cache_aws::AwsError;
use lambda_cache_core::join_all;

use crate::{Error, Secret};

/// The most secrets one BatchGetSecretValue call takes.
pub const MAX_PER_CALL: usize = 20;

/// The current versions of `names` (distinct), in ⌈K/20⌉ concurrent calls (all pages of each):
/// one outcome per name, in order. A name the answer does not mention is [`Error::NotFound`];
/// a failed call is the outcome of every name it asked for.
pub(crate) async fn read_all(client: &Client, names: &[&str]) -> Vec<Result<Secret, Error>> {
    let calls = names.chunks(MAX_PER_CALL).map(|chunk| read(client, chunk));
    join_all(calls).await.into_iter().flatten().collect()
}

/// One BatchGetSecretValue exchange (all its pages) for `names`.
async fn read(client: &Client, names: &[&str]) -> Vec<Result<Secret, Error>> {
    let mut outcomes: Vec<Option<Result<Secret, Error>>> = vec![None; names.len()];
    let position = |requested: &str| names.iter().position(|n| *n == requested);
    let mut next_token = None;
    loop {
        let answer = crate::fetch::batch_get_secret_value(client, names, next_token.take()).await;
        let page = match answer {
            Ok(page) => page,
            Err(err) => {
                let err = Error::from_sdk(&names.join(", "), err);
                return outcomes
                    .into_iter()
                    .map(|o| o.unwrap_or_else(|| Err(err.clone())))
                    .collect();
            }
        };
        for value in page.secret_values() {
            let secret = Secret::from_parts(
                value.name(),
                value.arn(),
                value.version_id(),
                value.version_stages(),
                value.secret_string(),
                value.secret_binary().map(|blob| blob.as_ref()),
            );
            let at = position(secret.name()).or_else(|| position(secret.arn()));
            if let Some(at) = at {
                outcomes[at] = Some(Ok(secret));
            }
        }
        for error in page.errors() {
            let requested = error.secret_id().unwrap_or_default();
            if let Some(at) = position(requested) {
                let failure = AwsError::from_code(
                    error.error_code().unwrap_or("Unknown"),
                    error.message().unwrap_or_default(),
                    None,
                );
                outcomes[at] = Some(Err(Error::from_aws(requested, failure)));
            }
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
            _ => break,
        }
    }
    outcomes
        .into_iter()
        .zip(names)
        .map(|(outcome, name)| {
            outcome.unwrap_or_else(|| {
                Err(Error::NotFound {
                    secret: (*name).to_owned(),
                })
            })
        })
        .collect()
}
