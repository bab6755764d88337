//! The reads behind the SDK endpoint (`crate::sdk`): values held in the services' own wire form
//! (SSM's dates as seconds since the epoch, DynamoDB's typed attribute values), each under its
//! own key, through the same single-flight, stale and negative paths as every route.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use lambda_cache::ssm::fetch;
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
                let parameter = fetch::get_parameter(&backend.ssm, &name, decrypt)
                    .await
                    .map_err(Failure::from_sdk)?
                    .ok_or_else(|| not_found(&name))?;
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
                fetch::get_parameters(&self.ssm, misses, decrypt)
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
        for (name, parameter) in out.found {
            let (body, validator) = wire_parameter(parameter);
            if self.caching {
                let weight = body.len() as u64;
                batch.insert(
                    parameter_key(&name, decrypt),
                    Body(body.clone()),
                    validator,
                    weight,
                );
            }
            found.push((name, body));
        }
        let unknown = out.invalid;
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
                let filters = (!filters.is_empty()).then_some(filters);
                let parameters =
                    fetch::get_parameters_by_path(&backend.ssm, &path, recursive, decrypt, filters)
                        .await
                        .map_err(Failure::from_sdk)?;
                let mut lines = Vec::new();
                for parameter in parameters {
                    let (body, _) = wire_parameter(parameter);
                    lines.extend_from_slice(&body);
                    lines.push(b'\n');
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
        let ttl = self.table_ttl(&request.table);
        let variant = request.variant.clone();
        let table = request.table.clone();
        let key = Key::new(DYNAMODB_WIRE, &table).variant(&variant);
        self.serve(
            Route::DynamoDb,
            key,
            ttl,
            false,
            move |backend, _previous| async move {
                let projection = lambda_cache::dynamodb::fetch::Projection {
                    expression: request.projection,
                    names: request.names,
                    attributes_to_get: request.attributes_to_get,
                };
                let out = lambda_cache::dynamodb::fetch::get_item(
                    &backend.dynamodb,
                    &request.table,
                    request.key,
                    &projection,
                    request.consistent,
                )
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

/// One key of a BatchGetItem, as the cache keys it.
pub(crate) struct BatchKey {
    /// The key as the request gave it (wire JSON), and as the SDK takes it.
    pub(crate) wire: serde_json::Map<String, serde_json::Value>,
    pub(crate) key: HashMap<String, AttributeValue>,
    /// The GetItem variant the same read would have: the two operations share entries.
    pub(crate) variant: String,
}

/// How one table's keys are read in a BatchGetItem.
#[derive(Clone, Default)]
pub(crate) struct TableRead {
    pub(crate) projection: Option<String>,
    pub(crate) names: Option<HashMap<String, String>>,
    pub(crate) attributes_to_get: Option<Vec<String>>,
    pub(crate) consistent: bool,
}

/// What a BatchGetItem answers: per table, its items (wire JSON objects); and the keys left
/// unprocessed by the service after the extension's retries, per table.
pub(crate) type BatchItems = (
    Vec<(String, Vec<Bytes>)>,
    Vec<(String, Vec<serde_json::Map<String, serde_json::Value>>)>,
);

/// Rounds of a BatchGetItem's misses while the service leaves keys unprocessed.
const BATCH_ROUNDS: usize = 3;

impl Backend {
    /// A profile's content for AppConfigData's protocol: through the library's
    /// `AppConfigCache` (one real session per profile, never polled faster than AppConfig
    /// allows), within the AppConfig TTL, as the AppConfig route reads it but never evaluated
    /// for a context.
    pub(crate) async fn sdk_configuration(
        &self,
        profile: &lambda_cache::appconfig::Profile,
    ) -> Result<lambda_cache::Entry<lambda_cache::appconfig::Configuration>, Failure> {
        let policy = self.policy(self.appconfig_ttl, false);
        self.appconfig_read(profile, policy, || {
            self.appconfig.get_entry_with(profile, policy)
        })
        .await
    }

    /// BatchGetSecretValue by `SecretIdList`: each id's current version from the entry that
    /// GetSecretValue and `/secretsmanager/get` share, the misses in one backend
    /// BatchGetSecretValue (one GetSecretValue when one misses). Returns the `SecretValues` in
    /// the order asked and the `Errors` as the service gave them (not cached).
    pub(crate) async fn sdk_secrets(
        self: &Arc<Self>,
        ids: &[String],
    ) -> Result<(Vec<Bytes>, Vec<serde_json::Value>), Failure> {
        let ttl = self.secrets_ttl;
        let current = lambda_cache::secrets::CURRENT;
        let mut found: HashMap<&str, Bytes> = HashMap::new();
        let mut errors = Vec::new();
        let mut misses: Vec<&str> = Vec::new();
        for id in ids {
            let key = Key::new(super::SECRETS, id).variant(current);
            match self.caching.then(|| self.cache.get_fresh::<Body>(key, ttl)) {
                Some(Some(entry)) => {
                    self.metrics.hit(Route::Secrets);
                    found.insert(id, entry.value().0.clone());
                }
                _ if !misses.contains(&id.as_str()) => misses.push(id),
                _ => {}
            }
        }
        match misses.as_slice() {
            [] => {}
            [one] => match self.secret(one, None, None, false).await {
                Ok(served) => {
                    found.insert(one, served.body);
                }
                Err(failure) if failure.is_not_found() => errors.push(serde_json::json!({
                    "ErrorCode": "ResourceNotFoundException",
                    "Message": failure.to_string(),
                    "SecretId": one,
                })),
                Err(failure) => return Err(failure),
            },
            _ => {
                for _ in &misses {
                    self.metrics.miss(Route::Secrets);
                }
                let _place = self.waiting()?;
                // Every page of the answer (20 ids rarely take more than one).
                let (mut values, mut failed) = (Vec::new(), Vec::new());
                let mut token = None;
                loop {
                    let page = self
                        .timed(Route::Secrets, async {
                            lambda_cache::secrets::fetch::batch_get_secret_value(
                                &self.secrets,
                                &misses,
                                token.take(),
                            )
                            .await
                            .map_err(Failure::from_sdk)
                        })
                        .await?;
                    values.extend(page.secret_values.unwrap_or_default());
                    failed.extend(page.errors.unwrap_or_default());
                    match page.next_token {
                        Some(next) if !next.is_empty() => token = Some(next),
                        _ => break,
                    }
                }
                let mut batch = self.cache.batch();
                for entry in values {
                    let asked = misses.iter().find(|m| {
                        entry.arn() == Some(**m)
                            || entry.name().is_some_and(|name| secret_base(m) == name)
                    });
                    let validator = Validator::from(entry.version_id());
                    let body = super::secret_body(super::SecretParts {
                        arn: entry.arn,
                        name: entry.name,
                        version_id: entry.version_id,
                        string: entry.secret_string,
                        binary: entry.secret_binary,
                        stages: entry.version_stages,
                        created: entry.created_date,
                    });
                    let Some(&asked) = asked else { continue };
                    if self.caching {
                        let weight = body.len() as u64;
                        batch.insert(
                            Key::new(super::SECRETS, asked).variant(current),
                            Body(body.clone()),
                            validator,
                            weight,
                        );
                    }
                    found.insert(asked, body);
                }
                batch.commit();
                for error in failed {
                    errors.push(serde_json::json!({
                        "ErrorCode": error.error_code(),
                        "Message": error.message(),
                        "SecretId": error.secret_id(),
                    }));
                }
            }
        }
        let mut values = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(body) = found.remove(id.as_str()) {
                values.push(body);
            }
        }
        Ok((values, errors))
    }

    /// BatchGetItem: each key from the entry GetItem shares for the same read, the misses in
    /// one backend BatchGetItem per round (keys the service leaves unprocessed are asked again,
    /// up to 3 rounds, then answered as unprocessed, as the service does). An item whose key
    /// the answer does not let the extension match (numbers written two ways) is read with
    /// GetItem. Keys the cache holds are never unprocessed.
    pub(crate) async fn sdk_items(
        self: &Arc<Self>,
        tables: Vec<(String, TableRead, Vec<BatchKey>)>,
    ) -> Result<BatchItems, Failure> {
        let mut responses: Vec<(String, Vec<Bytes>)> = Vec::new();
        let mut unprocessed = Vec::new();
        let mut misses: Vec<(String, TableRead, Vec<BatchKey>)> = Vec::new();
        for (table, read, keys) in tables {
            let ttl = self.table_ttl(&table);
            let mut items = Vec::new();
            let mut missed = Vec::new();
            for key in keys {
                let cache_key = Key::new(DYNAMODB_WIRE, &table).variant(&key.variant);
                match self
                    .caching
                    .then(|| self.cache.get_fresh::<Body>(cache_key, ttl))
                {
                    Some(Some(entry)) => {
                        self.metrics.hit(Route::DynamoDb);
                        items.extend(item_of(&entry.value().0));
                    }
                    _ => missed.push(key),
                }
            }
            responses.push((table.clone(), items));
            if !missed.is_empty() {
                misses.push((table, read, missed));
            }
        }
        let mut round = 0;
        while !misses.is_empty() {
            round += 1;
            let left = self
                .items_round(&mut responses, std::mem::take(&mut misses))
                .await?;
            if round == BATCH_ROUNDS {
                for (table, _, keys) in left {
                    unprocessed.push((table, keys.into_iter().map(|k| k.wire).collect()));
                }
                break;
            }
            misses = left;
        }
        Ok((responses, unprocessed))
    }

    /// A table's TTL: its `cache.yaml` entry's, else the extension's.
    fn table_ttl(&self, table: &str) -> std::time::Duration {
        self.file
            .dynamodb
            .iter()
            .find(|t| t.table == table)
            .and_then(|t| t.ttl)
            .unwrap_or(self.ttl)
    }

    /// One backend BatchGetItem for `misses`: each item found is stored under its read's
    /// entry and added to `responses`; a key with no item gets the empty answer `{}`. Returns
    /// the keys the service left unprocessed.
    async fn items_round(
        self: &Arc<Self>,
        responses: &mut Vec<(String, Vec<Bytes>)>,
        misses: Vec<(String, TableRead, Vec<BatchKey>)>,
    ) -> Result<Vec<(String, TableRead, Vec<BatchKey>)>, Failure> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut request = HashMap::new();
        for (table, read, keys) in &misses {
            for _ in keys {
                self.metrics.miss(Route::DynamoDb);
            }
            // The key attributes are projected too, so that each item finds its key.
            let (projection, names) = with_key_attributes(read, keys);
            let attributes_to_get = read.attributes_to_get.clone().map(|mut list| {
                for name in keys.iter().flat_map(|k| k.key.keys()) {
                    if !list.contains(name) {
                        list.push(name.clone());
                    }
                }
                list
            });
            let ka = KeysAndAttributes::builder()
                .set_keys(Some(keys.iter().map(|k| k.key.clone()).collect()))
                .set_projection_expression(projection)
                .set_expression_attribute_names(names)
                .set_attributes_to_get(attributes_to_get)
                .consistent_read(read.consistent)
                .build()
                .map_err(|e| Failure::bad("RequestItems", e.to_string()))?;
            request.insert(table.clone(), ka);
        }
        let out = {
            let _place = self.waiting()?;
            self.timed(Route::DynamoDb, async {
                lambda_cache::dynamodb::fetch::batch_get_item(&self.dynamodb, request)
                    .await
                    .map_err(Failure::from_sdk)
            })
            .await?
        };
        let mut got = out.responses.unwrap_or_default();
        let left_over = out.unprocessed_keys.unwrap_or_default();
        let mut left = Vec::new();
        let mut batch = self.cache.batch();
        let mut unmatched: Vec<(String, TableRead, BatchKey)> = Vec::new();
        for (table, read, keys) in misses {
            let items = got.remove(&table).unwrap_or_default();
            let skipped: Vec<&HashMap<String, AttributeValue>> = left_over
                .get(&table)
                .map(|ka| ka.keys().iter().collect())
                .unwrap_or_default();
            let mut pending = Vec::new();
            let mut answered = Vec::new();
            let mut matched = vec![false; items.len()];
            for key in keys {
                if skipped.iter().any(|k| **k == key.key) {
                    pending.push(key);
                    continue;
                }
                let found = items.iter().position(|item| {
                    key.key
                        .iter()
                        .all(|(name, value)| item.get(name) == Some(value))
                });
                match found {
                    Some(at) => {
                        matched[at] = true;
                        let item = strip_unasked(&items[at], &read, &key);
                        answered.push((key, Some(item)));
                    }
                    None => answered.push((key, None)),
                }
            }
            let stray = matched.iter().any(|m| !m);
            let ttl_table = table.clone();
            let slot = responses
                .iter()
                .position(|(t, _)| *t == table)
                .unwrap_or_else(|| {
                    responses.push((table.clone(), Vec::new()));
                    responses.len() - 1
                });
            for (key, item) in answered {
                match item {
                    Some(item) => {
                        let body = crate::sdk::item_answer(&item);
                        if self.caching {
                            let weight = body.len() as u64;
                            batch.insert(
                                Key::new(DYNAMODB_WIRE, &ttl_table).variant(&key.variant),
                                Body(body.clone()),
                                Validator::default(),
                                weight,
                            );
                        }
                        responses[slot].1.extend(item_of(&body));
                    }
                    // An item the answer held but that matched no key: read it alone.
                    None if stray => unmatched.push((table.clone(), read.clone(), key)),
                    None => {
                        if self.caching {
                            batch.insert(
                                Key::new(DYNAMODB_WIRE, &ttl_table).variant(&key.variant),
                                Body(Bytes::from_static(b"{}")),
                                Validator::default(),
                                2,
                            );
                        }
                    }
                }
            }
            if !pending.is_empty() {
                left.push((table, read, pending));
            }
        }
        batch.commit();
        // Rare: an item whose key the service wrote in another form than the request's
        // (numbers): read alone with GetItem, whose entry for the same read is this one.
        for (table, read, key) in unmatched {
            let served = self
                .sdk_item(ItemRequest {
                    table: table.clone(),
                    key: key.key,
                    projection: read.projection,
                    names: read.names,
                    attributes_to_get: read.attributes_to_get,
                    consistent: read.consistent,
                    variant: key.variant,
                })
                .await?;
            if let Some(item) = item_of(&served.body)
                && let Some((_, items)) = responses.iter_mut().find(|(t, _)| *t == table)
            {
                items.push(item);
            }
        }
        Ok(left)
    }

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
        body: &[u8],
    ) -> usize {
        use crate::sdk::Service;
        use serde_json::Value;
        // The body is parsed only for the writes below, whose members name what they change.
        let parsed = std::cell::OnceCell::new();
        let input = || {
            parsed.get_or_init(|| {
                serde_json::from_slice::<serde_json::Map<String, Value>>(body).unwrap_or_default()
            })
        };
        let text = |member: &str| input().get(member).and_then(Value::as_str);
        let dropped = match (service, operation) {
            (
                Service::Ssm,
                "PutParameter"
                | "DeleteParameter"
                | "LabelParameterVersion"
                | "UnlabelParameterVersion",
            ) => text("Name").map_or(0, |name| self.forget_parameter(name)),
            (Service::Ssm, "DeleteParameters") => strings(input().get("Names"))
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
                self.forget_item(text("TableName"), input().get("Item"))
            }
            (Service::DynamoDb, "UpdateItem" | "DeleteItem") => {
                self.forget_item(text("TableName"), input().get("Key"))
            }
            (Service::DynamoDb, "BatchWriteItem") => {
                let mut dropped = 0;
                for (table, writes) in input()
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
                for action in input()
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

/// The item of a GetItem answer held in the cache (`{"Item":{…}}`), or none for `{}`.
fn item_of(answer: &Bytes) -> Option<Bytes> {
    let inner = answer.strip_prefix(b"{\"Item\":")?.strip_suffix(b"}")?;
    Some(answer.slice_ref(inner))
}

/// A read's projection with the key attributes added (under fresh placeholders), so that a
/// BatchGetItem's items can be matched to their keys; `None` when the read has none.
fn with_key_attributes(
    read: &TableRead,
    keys: &[BatchKey],
) -> (Option<String>, Option<HashMap<String, String>>) {
    let Some(projection) = &read.projection else {
        return (None, read.names.clone());
    };
    let mut projection = projection.clone();
    let mut names = read.names.clone().unwrap_or_default();
    let mut attributes: Vec<&String> = keys.iter().flat_map(|k| k.key.keys()).collect();
    attributes.sort();
    attributes.dedup();
    for (i, attribute) in attributes.into_iter().enumerate() {
        let placeholder = format!("#lambda_cache_key{i}");
        projection.push_str(", ");
        projection.push_str(&placeholder);
        names.insert(placeholder, attribute.clone());
    }
    (Some(projection), Some(names))
}

/// The attributes a read's projection names at its top level (`a.b` and `a[0]` name `a`),
/// placeholders resolved; `None` when the read projects everything.
fn projected(read: &TableRead) -> Option<Vec<String>> {
    if let Some(list) = &read.attributes_to_get {
        return Some(list.clone());
    }
    let projection = read.projection.as_ref()?;
    Some(
        projection
            .split(',')
            .map(|path| {
                let top = path.trim().split(['.', '[']).next().unwrap_or_default();
                read.names
                    .as_ref()
                    .and_then(|names| names.get(top))
                    .cloned()
                    .unwrap_or_else(|| top.to_owned())
            })
            .collect(),
    )
}

/// `item` without the key attributes added for matching that the read did not project.
fn strip_unasked(
    item: &HashMap<String, AttributeValue>,
    read: &TableRead,
    key: &BatchKey,
) -> HashMap<String, AttributeValue> {
    let Some(asked) = projected(read) else {
        return item.clone();
    };
    item.iter()
        .filter(|(name, _)| !key.key.contains_key(*name) || asked.contains(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
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
