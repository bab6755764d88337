//! The reads behind the SDK endpoint (`crate::sdk`): values held in the services' own wire form
//! (SSM's dates as seconds since the epoch, DynamoDB's typed attribute values), each under its
//! own key, through the same single-flight, stale and negative paths as every route.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use lambda_cache::{Key, Validator};

use super::{Backend, Body, Dates, Failure, Negative, Served, fetched, parameter_fields};
use crate::go::quote;
use crate::metrics::Route;

/// A parameter as SSM's JSON protocol carries it (the `Parameter` object of GetParameter).
const SSM_WIRE: &str = "extension/ssm#wire";
/// A GetParametersByPath walk: its parameters' wire objects, one per line, per path and shape.
const SSM_PATH: &str = "extension/ssm#path";
/// A GetItem answer as DynamoDB's JSON protocol carries it, per request shape.
const DYNAMODB_WIRE: &str = "extension/dynamodb#wire";

/// A GetItem request, as the cache keys it: the table, then everything that shapes the answer.
pub(crate) struct ItemRequest {
    pub(crate) table: String,
    pub(crate) key: HashMap<String, AttributeValue>,
    pub(crate) projection: Option<String>,
    pub(crate) names: Option<HashMap<String, String>>,
    pub(crate) attributes_to_get: Option<Vec<String>>,
    pub(crate) consistent: bool,
    /// The key, projection, names and consistency, canonical (sorted JSON): the cache variant.
    pub(crate) variant: String,
}

/// A GetParameters batch's outcome: each name asked and found with its wire `Parameter`, and
/// the names SSM does not know.
type Found = (Vec<(String, Bytes)>, Vec<String>);

fn parameter_key(name: &str, decrypt: bool) -> Key<'_> {
    Key::new(SSM_WIRE, name).variant(if decrypt { "decrypted" } else { "" })
}

/// The wire `Parameter` object of `parameter`, and its version as its validator.
fn wire_parameter(parameter: aws_sdk_ssm::types::Parameter) -> (Bytes, Validator) {
    let version = parameter.version;
    let body = serde_json::Value::Object(parameter_fields(parameter, Dates::Epoch));
    (super::json_bytes(&body), Validator::from(version))
}

/// True for a GetParameters name that asked for `parameter`: by name or ARN, with the
/// selector it was answered for.
fn asked_for(asked: &str, parameter: &aws_sdk_ssm::types::Parameter) -> bool {
    let selector = parameter.selector().unwrap_or_default();
    [parameter.name(), parameter.arn()]
        .into_iter()
        .flatten()
        .any(|base| asked.strip_prefix(base) == Some(selector))
}

impl Backend {
    /// GetParameter's `Parameter` object, wire form, within the SSM TTL.
    pub(crate) async fn sdk_parameter(
        self: &Arc<Self>,
        name: &str,
        decrypt: bool,
    ) -> Result<Served, Failure> {
        lambda_cache::ssm::check_name(name).map_err(|e| Failure::bad("Name", e.to_string()))?;
        let key = parameter_key(name, decrypt);
        let name = name.to_owned();
        self.serve(
            Route::Ssm,
            key,
            self.ssm_ttl,
            false,
            move |backend, _previous| async move {
                let out = backend
                    .ssm
                    .get_parameter()
                    .name(&name)
                    .with_decryption(decrypt)
                    .send()
                    .await
                    .map_err(Failure::from_sdk)?;
                let parameter = out.parameter.ok_or_else(|| not_found(&name))?;
                let (body, validator) = wire_parameter(parameter);
                Ok(fetched(body).with_validator(validator))
            },
        )
        .await
    }

    /// GetParameters: each name from its own entry (the ones GetParameter fills too), the
    /// misses in one backend call. Returns the wire `Parameter` objects found, in the order
    /// asked, and the names SSM does not know. A name SSM said it does not know is remembered
    /// for the negative TTL, as a missing parameter is on every route; a failed call serves
    /// what is held within the stale bound if it holds every miss, else fails.
    pub(crate) async fn sdk_parameters(
        self: &Arc<Self>,
        names: &[String],
        decrypt: bool,
    ) -> Result<(Vec<Bytes>, Vec<String>), Failure> {
        for name in names {
            lambda_cache::ssm::check_name(name)
                .map_err(|e| Failure::bad("Names", e.to_string()))?;
        }
        let mut asked: Vec<&str> = Vec::with_capacity(names.len());
        for name in names {
            if !asked.contains(&name.as_str()) {
                asked.push(name);
            }
        }
        let ttl = self.ssm_ttl;
        let negative_ttl = self.negative_ttl(ttl);
        let mut found: HashMap<&str, Bytes> = HashMap::new();
        let mut invalid: Vec<String> = Vec::new();
        let mut misses: Vec<&str> = Vec::new();
        for &name in &asked {
            let key = parameter_key(name, decrypt);
            if self.caching {
                if let Some(entry) = self.cache.get_fresh::<Body>(key, ttl) {
                    self.metrics.hit(Route::Ssm);
                    found.insert(name, entry.value().0.clone());
                    continue;
                }
                if !negative_ttl.is_zero()
                    && self
                        .cache
                        .get_fresh::<Negative>(key, negative_ttl)
                        .is_some()
                {
                    self.metrics.negative_hit(Route::Ssm);
                    invalid.push(name.to_owned());
                    continue;
                }
            }
            misses.push(name);
        }
        match misses.as_slice() {
            [] => {}
            // One miss takes GetParameter's single-flight path.
            [one] => match self.sdk_parameter(one, decrypt).await {
                Ok(served) => {
                    found.insert(one, served.body);
                }
                Err(failure) if failure.is_not_found() => invalid.push((*one).to_owned()),
                Err(failure) => return Err(failure),
            },
            _ => {
                let (more, unknown) = self.parameters_batch(&misses, decrypt).await?;
                for (name, body) in more {
                    if let Some(&asked_name) = misses.iter().find(|m| **m == name) {
                        found.insert(asked_name, body);
                    }
                }
                invalid.extend(unknown);
            }
        }
        let parameters = asked.iter().filter_map(|name| found.remove(name)).collect();
        Ok((parameters, invalid))
    }

    /// One GetParameters call for `misses` (at most 10), each answer stored under its own key.
    async fn parameters_batch(&self, misses: &[&str], decrypt: bool) -> Result<Found, Failure> {
        for _ in misses {
            self.metrics.miss(Route::Ssm);
        }
        let call = async {
            let _place = self.waiting()?;
            self.timed(Route::Ssm, async {
                self.ssm
                    .get_parameters()
                    .set_names(Some(misses.iter().map(|m| (*m).to_owned()).collect()))
                    .with_decryption(decrypt)
                    .send()
                    .await
                    .map_err(Failure::from_sdk)
            })
            .await
        };
        let out = match call.await {
            Ok(out) => out,
            Err(failure) => return self.stale_parameters(misses, decrypt, failure),
        };
        let mut batch = self.cache.batch();
        let mut found = Vec::new();
        for parameter in out.parameters.unwrap_or_default() {
            let Some(&name) = misses.iter().find(|m| asked_for(m, &parameter)) else {
                continue;
            };
            let (body, validator) = wire_parameter(parameter);
            if self.caching {
                let weight = body.len() as u64;
                batch.insert(
                    parameter_key(name, decrypt),
                    Body(body.clone()),
                    validator,
                    weight,
                );
            }
            found.push((name.to_owned(), body));
        }
        let unknown = out.invalid_parameters.unwrap_or_default();
        if !self.negative_ttl(self.ssm_ttl).is_zero() {
            for name in &unknown {
                let failure = not_found(name);
                let weight = failure.to_string().len() as u64;
                batch.insert(
                    parameter_key(name, decrypt),
                    Negative(failure),
                    Validator::default(),
                    weight,
                );
            }
        }
        batch.commit();
        Ok((found, unknown))
    }

    /// A failed GetParameters: every miss from what is held within the stale bound, or the
    /// failure if one is not held or the failure is not transient.
    fn stale_parameters(
        &self,
        misses: &[&str],
        decrypt: bool,
        failure: Failure,
    ) -> Result<Found, Failure> {
        use lambda_cache::CacheError as _;
        if !failure.is_transient() || !self.caching || self.max_stale.is_zero() {
            return Err(failure);
        }
        let bound = self.ssm_ttl.saturating_add(self.max_stale);
        let mut held = Vec::with_capacity(misses.len());
        for &name in misses {
            match self
                .cache
                .get_fresh::<Body>(parameter_key(name, decrypt), bound)
            {
                Some(entry) => held.push((name.to_owned(), entry.value().0.clone())),
                None => return Err(failure),
            }
        }
        for _ in misses {
            self.metrics.stale(Route::Ssm);
        }
        Ok((held, Vec::new()))
    }

    /// A GetParametersByPath walk, every page of it, within the SSM TTL: its parameters' wire
    /// objects one per line. `shape` (recursion, decryption, filters) is the entry's variant.
    pub(crate) async fn sdk_path(
        self: &Arc<Self>,
        path: &str,
        recursive: bool,
        decrypt: bool,
        filters: Vec<aws_sdk_ssm::types::ParameterStringFilter>,
        shape: &str,
    ) -> Result<Served, Failure> {
        lambda_cache::ssm::check_path(path).map_err(|e| Failure::bad("Path", e.to_string()))?;
        let key = Key::new(SSM_PATH, path).variant(shape);
        let path = path.to_owned();
        self.serve(
            Route::Ssm,
            key,
            self.ssm_ttl,
            false,
            move |backend, _previous| async move {
                let mut lines = Vec::new();
                let mut token = None;
                loop {
                    let out = backend
                        .ssm
                        .get_parameters_by_path()
                        .path(&path)
                        .recursive(recursive)
                        .with_decryption(decrypt)
                        .set_parameter_filters((!filters.is_empty()).then(|| filters.clone()))
                        .max_results(10)
                        .set_next_token(token)
                        .send()
                        .await
                        .map_err(Failure::from_sdk)?;
                    for parameter in out.parameters.unwrap_or_default() {
                        let (body, _) = wire_parameter(parameter);
                        lines.extend_from_slice(&body);
                        lines.push(b'\n');
                    }
                    token = out.next_token.filter(|t| !t.is_empty());
                    if token.is_none() {
                        break;
                    }
                }
                Ok(fetched(Bytes::from(lines)))
            },
        )
        .await
    }

    /// GetItem's whole answer, wire form (`{"Item": ...}`, or `{}` where there is no such
    /// item), within the table's TTL.
    pub(crate) async fn sdk_item(
        self: &Arc<Self>,
        request: ItemRequest,
    ) -> Result<Served, Failure> {
        let ttl = self
            .file
            .dynamodb
            .iter()
            .find(|t| t.table == request.table)
            .and_then(|t| t.ttl)
            .unwrap_or(self.ttl);
        let variant = request.variant.clone();
        let table = request.table.clone();
        let key = Key::new(DYNAMODB_WIRE, &table).variant(&variant);
        self.serve(
            Route::DynamoDb,
            key,
            ttl,
            false,
            move |backend, _previous| async move {
                let out = backend
                    .dynamodb
                    .get_item()
                    .table_name(&request.table)
                    .set_key(Some(request.key))
                    .set_projection_expression(request.projection)
                    .set_expression_attribute_names(request.names)
                    .set_attributes_to_get(request.attributes_to_get)
                    .consistent_read(request.consistent)
                    .send()
                    .await
                    .map_err(Failure::from_sdk)?;
                let body = match &out.item {
                    Some(item) => crate::sdk::item_answer(item),
                    None => Bytes::from_static(b"{}"),
                };
                Ok(fetched(body))
            },
        )
        .await
    }
}

impl Backend {
    /// Drops what a write passed through to `service` changes, before its answer is returned:
    /// a parameter under every name, ARN and selector it may have been read by (its labels
    /// and versions too, on either route); a secret under every stage and version id, by
    /// name or ARN; an item under every projection the SDK endpoint read it with, and, on the
    /// `/dynamodb` route (whose keys do not name attributes), every item of its table.
    /// Returns how many entries were dropped (counted in the metrics too).
    pub(crate) fn invalidate_write(
        &self,
        service: crate::sdk::Service,
        operation: &str,
        input: &serde_json::Map<String, serde_json::Value>,
    ) -> usize {
        use crate::sdk::Service;
        use serde_json::Value;
        let text = |member: &str| input.get(member).and_then(Value::as_str);
        let dropped = match (service, operation) {
            (
                Service::Ssm,
                "PutParameter"
                | "DeleteParameter"
                | "LabelParameterVersion"
                | "UnlabelParameterVersion",
            ) => text("Name").map_or(0, |name| self.forget_parameter(name)),
            (Service::Ssm, "DeleteParameters") => strings(input.get("Names"))
                .map(|name| self.forget_parameter(name))
                .sum(),
            (
                Service::Secrets,
                "PutSecretValue"
                | "UpdateSecret"
                | "UpdateSecretVersionStage"
                | "RotateSecret"
                | "CancelRotateSecret"
                | "DeleteSecret"
                | "RestoreSecret",
            ) => text("SecretId").map_or(0, |id| self.forget_secret(id)),
            (Service::DynamoDb, "PutItem") => {
                self.forget_item(text("TableName"), input.get("Item"))
            }
            (Service::DynamoDb, "UpdateItem" | "DeleteItem") => {
                self.forget_item(text("TableName"), input.get("Key"))
            }
            (Service::DynamoDb, "BatchWriteItem") => {
                let mut dropped = 0;
                for (table, writes) in input
                    .get("RequestItems")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    for write in writes.as_array().into_iter().flatten() {
                        let item = write
                            .pointer("/PutRequest/Item")
                            .or_else(|| write.pointer("/DeleteRequest/Key"));
                        dropped += self.forget_item(Some(table), item);
                    }
                }
                dropped
            }
            (Service::DynamoDb, "TransactWriteItems") => {
                let mut dropped = 0;
                for action in input
                    .get("TransactItems")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for (kind, member) in [("Put", "Item"), ("Update", "Key"), ("Delete", "Key")] {
                        if let Some(write) = action.get(kind) {
                            let table = write.get("TableName").and_then(Value::as_str);
                            dropped += self.forget_item(table, write.get(member));
                        }
                    }
                }
                dropped
            }
            (Service::DynamoDb, "DeleteTable" | "UpdateTable") => {
                text("TableName").map_or(0, |table| self.forget_table(table))
            }
            _ => 0,
        };
        self.metrics.invalidated(dropped);
        dropped
    }

    fn forget_parameter(&self, written: &str) -> usize {
        let written = parameter_base(written);
        let matches = |name: &str, _: &str| parameter_base(name) == written;
        // A walk of any path above the parameter held it (or would now).
        let above = |path: &str, _: &str| {
            let path = path.trim_matches('/');
            path.is_empty()
                || written
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        self.cache.invalidate_where(super::SSM, matches)
            + self.cache.invalidate_where(SSM_WIRE, matches)
            + self.cache.invalidate_where(SSM_PATH, above)
    }

    fn forget_secret(&self, written: &str) -> usize {
        let written = secret_base(written);
        let matches = |name: &str, _: &str| secret_base(name) == written;
        self.cache.invalidate_where(super::SECRETS, matches)
            + self.cache.invalidate_where(super::SECRETS_BY_ID, matches)
    }

    fn forget_table(&self, table: &str) -> usize {
        let matches = |name: &str, _: &str| name == table;
        self.cache.invalidate_where(super::DYNAMODB, matches)
            + self.cache.invalidate_where(DYNAMODB_WIRE, matches)
    }

    /// Every entry of `table` whose key `attributes` (an item, or a key) holds.
    fn forget_item(&self, table: Option<&str>, attributes: Option<&serde_json::Value>) -> usize {
        let (Some(table), Some(serde_json::Value::Object(attributes))) = (table, attributes) else {
            return 0;
        };
        let wire = self.cache.invalidate_where(DYNAMODB_WIRE, |name, variant| {
            name == table && key_within(variant, attributes)
        });
        wire + self
            .cache
            .invalidate_where(super::DYNAMODB, |name, _| name == table)
    }
}

/// The strings of a JSON list.
fn strings(list: Option<&serde_json::Value>) -> impl Iterator<Item = &str> {
    list.and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
}

/// A parameter's name without its ARN prefix, selector or leading slash: every way of naming
/// one parameter gives the same (parameter names hold no `:`).
fn parameter_base(name: &str) -> &str {
    let name = match name.split_once(":parameter") {
        Some((arn, rest)) if arn.starts_with("arn:") => rest,
        _ => name,
    };
    let name = name.split(':').next().unwrap_or_default();
    name.trim_start_matches('/')
}

/// A secret's name, from its name or its ARN (`arn:…:secret:<name>-<6 characters>`).
fn secret_base(id: &str) -> &str {
    match id.split_once(":secret:") {
        Some((arn, rest)) if id.starts_with("arn:") && !arn.is_empty() => {
            match rest.len().checked_sub(7) {
                Some(at) if rest.as_bytes()[at] == b'-' => &rest[..at],
                _ => rest,
            }
        }
        _ => id,
    }
}

/// True when every attribute of the key in a GetItem variant (its canonical request) is in
/// `attributes` with the same value.
fn key_within(variant: &str, attributes: &serde_json::Map<String, serde_json::Value>) -> bool {
    let Ok(serde_json::Value::Object(shape)) = serde_json::from_str(variant) else {
        return true;
    };
    match shape.get("Key") {
        Some(serde_json::Value::Object(key)) => key
            .iter()
            .all(|(name, value)| attributes.get(name) == Some(value)),
        _ => true,
    }
}

fn not_found(name: &str) -> Failure {
    Failure::NotFound {
        code: "ParameterNotFound".into(),
        message: format!("parameter {} not found", quote(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_of_a_parameter_or_secret_meets_one_base() {
        for name in [
            "/app/db",
            "app/db",
            "/app/db:3",
            "/app/db:live",
            "arn:aws:ssm:us-east-1:123456789012:parameter/app/db",
            "arn:aws:ssm:us-east-1:123456789012:parameter/app/db:7",
        ] {
            assert_eq!(parameter_base(name), "app/db", "{name}");
        }
        assert_ne!(parameter_base("/app/dbx"), "app/db");
        for id in [
            "prod/db",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
        ] {
            assert_eq!(secret_base(id), "prod/db", "{id}");
        }
        assert_eq!(secret_base("a-b"), "a-b");
    }

    #[test]
    fn an_item_write_meets_the_reads_of_its_key_only() {
        let item: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "y"}}"#)
                .unwrap();
        let read = |key: &str| format!(r#"{{"ConsistentRead":false,"Key":{key}}}"#);
        assert!(key_within(
            &read(r#"{"pk":{"S":"a"},"sk":{"N":"1"}}"#),
            &item
        ));
        assert!(!key_within(
            &read(r#"{"pk":{"S":"b"},"sk":{"N":"1"}}"#),
            &item
        ));
        assert!(!key_within(
            &read(r#"{"pk":{"S":"a"},"sk":{"N":"2"}}"#),
            &item
        ));
    }
}
