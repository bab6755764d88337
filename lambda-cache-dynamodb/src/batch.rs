//! Reading many items in as few BatchGetItem calls as the API allows.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use lambda_cache_core::join_all;

use crate::{Error, Item, ItemKey};

/// The most keys one BatchGetItem call takes.
pub const MAX_PER_CALL: usize = 100;

/// How many times a call is made for keys DynamoDB leaves unprocessed, the first included.
const MAX_ATTEMPTS: u32 = 8;
/// The wait before asking again for unprocessed keys; it doubles each time, up to the cap.
const FIRST_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Reads `keys` (checked, without duplicates) with BatchGetItem: grouped by table, projection
/// and consistency (one call can carry one of each per table), at most 100 keys a call, the
/// calls run concurrently. Keys DynamoDB leaves unprocessed are asked for again with backoff.
/// One outcome per key, in order: the item, [`Error::NotFound`], or the call's failure.
pub(crate) async fn read_all(client: &Client, keys: &[&ItemKey]) -> Vec<Result<Item, Error>> {
    let mut groups: Vec<(_, Vec<usize>)> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let group = key.batch_group();
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, members)) => members.push(i),
            None => groups.push((group, vec![i])),
        }
    }
    let calls = groups
        .iter()
        .flat_map(|(_, members)| members.chunks(MAX_PER_CALL))
        .map(|chunk| read_chunk(client, keys, chunk));
    let mut outcomes: Vec<Option<Result<Item, Error>>> = (0..keys.len()).map(|_| None).collect();
    for (i, outcome) in join_all(calls).await.into_iter().flatten() {
        outcomes[i] = Some(outcome);
    }
    outcomes
        .into_iter()
        .zip(keys)
        .map(|(outcome, key)| {
            // Every key is in one chunk, whose reader answers each of its keys; a key left
            // unanswered all the same is an error naming it, never a panic.
            outcome.unwrap_or_else(|| {
                Err(Error::Transport {
                    table: key.table().to_owned(),
                    message: format!("no answer for {key} in the batch"),
                })
            })
        })
        .collect()
}

/// One chunk (keys of one table, projection and consistency): BatchGetItem until every key is
/// answered or the attempts run out.
async fn read_chunk(
    client: &Client,
    keys: &[&ItemKey],
    chunk: &[usize],
) -> Vec<(usize, Result<Item, Error>)> {
    let first = keys[chunk[0]];
    let table = first.table();
    let mut out = Vec::with_capacity(chunk.len());
    let mut pending: Vec<usize> = chunk.to_vec();
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=MAX_ATTEMPTS {
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(
                pending.iter().map(|&i| keys[i].key_attributes()).collect(),
            ))
            .consistent_read(first.is_consistent_read());
        if let Some((expression, names)) = first.projection_expression() {
            request = request
                .projection_expression(expression)
                .set_expression_attribute_names(Some(names));
        }
        let answer = match request.build() {
            Ok(request) => {
                crate::fetch::batch_get_item(client, [(table.to_owned(), request)].into())
                    .await
                    .map_err(|err| Error::from_sdk(table, err))
            }
            Err(err) => Err(Error::InvalidKey {
                key: first.to_string(),
                reason: err.to_string(),
            }),
        };
        let output = match answer {
            Ok(output) => output,
            Err(err) => {
                out.extend(pending.iter().map(|&i| (i, Err(err.clone()))));
                return out;
            }
        };
        let items: &[Item] = output
            .responses()
            .and_then(|responses| responses.get(table))
            .map_or(&[], Vec::as_slice);
        let unprocessed: &[Item] = output
            .unprocessed_keys()
            .and_then(|unprocessed| unprocessed.get(table))
            .map_or(&[], KeysAndAttributes::keys);
        let mut again = Vec::new();
        for &i in &pending {
            if let Some(item) = items.iter().find(|item| keys[i].matches(item)) {
                out.push((i, Ok(item.clone())));
            } else if unprocessed.iter().any(|key| keys[i].matches(key)) {
                again.push(i);
            } else {
                out.push((
                    i,
                    Err(Error::NotFound {
                        key: keys[i].to_string(),
                    }),
                ));
            }
        }
        if again.is_empty() {
            return out;
        }
        pending = again;
        if attempt < MAX_ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    let throttled = Error::Throttled {
        table: table.to_owned(),
    };
    out.extend(pending.into_iter().map(|i| (i, Err(throttled.clone()))));
    out
}
