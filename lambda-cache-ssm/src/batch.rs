//! Reading many parameters in as few GetParameters calls as the API allows.

use std::collections::HashMap;

use aws_sdk_ssm::Client;
use lambda_cache_core::join_all;

use crate::{Error, Value};

/// The most names one GetParameters call takes.
pub const MAX_PER_CALL: usize = 10;

/// A parameter as read: the value and its version.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub(crate) value: Value,
    pub(crate) version: i64,
    /// Zero from SSM; its age there for a value from a shared tier.
    pub(crate) age: std::time::Duration,
}

/// Reads `names` (already validated, without duplicates) in ⌈K/10⌉ concurrent GetParameters
/// calls, with decryption. Every name must come back: those SSM reports invalid are one
/// [`Error::NotFound`] naming each of them.
pub(crate) async fn read_all(client: &Client, names: &[&str]) -> Result<Vec<Found>, Error> {
    let (mut found, missing) = read_lenient(client, names).await?;
    if !missing.is_empty() {
        return Err(Error::NotFound { names: missing });
    }
    Ok(names.iter().filter_map(|n| found.remove(*n)).collect())
}

/// Reads `names` like [`read_all`], but returns what was found by name and what was not,
/// instead of failing for a missing name. A failed call fails the whole read.
pub(crate) async fn read_lenient(
    client: &Client,
    names: &[&str],
) -> Result<(HashMap<String, Found>, Vec<String>), Error> {
    let calls = names
        .chunks(MAX_PER_CALL)
        .map(|chunk| read_chunk(client, chunk));
    let mut found = HashMap::with_capacity(names.len());
    let mut missing = Vec::new();
    for chunk in join_all(calls).await {
        let (chunk_reads, chunk_missing) = chunk?;
        found.extend(chunk_reads);
        missing.extend(chunk_missing);
    }
    Ok((found, missing))
}

async fn read_chunk(
    client: &Client,
    chunk: &[&str],
) -> Result<(Vec<(String, Found)>, Vec<String>), Error> {
    let answered = crate::fetch::get_parameters(client, chunk, true)
        .await
        .map_err(|err| Error::from_sdk(&chunk.join(", "), err))?;
    let reads = answered
        .found
        .into_iter()
        .map(|(requested, parameter)| {
            let found = Found {
                value: Value::from_parameter(&parameter),
                version: parameter.version(),
                age: std::time::Duration::ZERO,
            };
            (requested, found)
        })
        .collect();
    Ok((reads, answered.invalid))
}
