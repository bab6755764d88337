//! Reading many parameters in as few GetParameters calls as the API allows.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use aws_sdk_ssm::Client;

use crate::{Error, Value, name};

/// The most names one GetParameters call takes.
pub const MAX_NAMES_PER_CALL: usize = 10;

/// A parameter as read: the value and its version.
#[derive(Clone, Debug)]
pub(crate) struct Read {
    pub(crate) value: Value,
    pub(crate) version: i64,
}

/// Reads `names` (already validated, without duplicates) in ⌈K/10⌉ concurrent GetParameters
/// calls, with decryption. Every name must come back: those SSM reports invalid are one
/// [`Error::NotFound`] naming each of them.
pub(crate) async fn read_all(client: &Client, names: &[&str]) -> Result<Vec<Read>, Error> {
    let calls = names
        .chunks(MAX_NAMES_PER_CALL)
        .map(|chunk| read_chunk(client, chunk));
    let mut reads = Vec::with_capacity(names.len());
    let mut missing = Vec::new();
    for chunk in join_all(calls.collect()).await {
        let (chunk_reads, chunk_missing) = chunk?;
        reads.extend(chunk_reads);
        missing.extend(chunk_missing);
    }
    if missing.is_empty() {
        Ok(reads)
    } else {
        Err(Error::NotFound { names: missing })
    }
}

async fn read_chunk(client: &Client, chunk: &[&str]) -> Result<(Vec<Read>, Vec<String>), Error> {
    let label = || chunk.join(", ");
    let output = client
        .get_parameters()
        .set_names(Some(chunk.iter().map(|n| (*n).to_owned()).collect()))
        .with_decryption(true)
        .send()
        .await
        .map_err(|err| Error::from_sdk(&label(), err))?;
    let mut missing: Vec<String> = output.invalid_parameters().to_vec();
    let mut reads = Vec::with_capacity(chunk.len());
    for requested in chunk {
        if missing.iter().any(|m| m == requested) {
            reads.push(None);
            continue;
        }
        let found = output.parameters().iter().find(|p| {
            name::answers(
                requested,
                p.name().unwrap_or_default(),
                p.arn(),
                p.selector(),
            )
        });
        match found {
            Some(parameter) => reads.push(Some(Read {
                value: Value::from_parameter(parameter),
                version: parameter.version(),
            })),
            None => {
                missing.push((*requested).to_owned());
                reads.push(None);
            }
        }
    }
    Ok((reads.into_iter().flatten().collect(), missing))
}

/// Polls every future until all are done; outputs in input order.
pub(crate) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
