//! The SDK calls behind every read: the one place where items are asked of DynamoDB, by this
//! crate's cache and by callers that give DynamoDB's own answers back (the extension's routes,
//! its preload and its SDK endpoint). Each returns DynamoDB's output whole and the SDK's own
//! error.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemError, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::operation::get_item::{GetItemError, GetItemOutput};
use aws_sdk_dynamodb::operation::scan::{ScanError, ScanOutput};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TableDescription};

/// What a read returns of an item besides its key: a projection expression with its attribute
/// names, or the legacy `AttributesToGet`; all attributes when empty.
///
/// ```
/// let all = lambda_cache_dynamodb::fetch::Projection::default();
/// assert!(all.expression.is_none() && all.attributes_to_get.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Projection {
    /// `ProjectionExpression`.
    pub expression: Option<String>,
    /// `ExpressionAttributeNames` (placeholders such as `#n` to attribute names).
    pub names: Option<HashMap<String, String>>,
    /// `AttributesToGet`.
    pub attributes_to_get: Option<Vec<String>>,
}

/// GetItem of `key` in `table`, as `projection` shapes it, strongly consistent if
/// `consistent`.
///
/// # Errors
/// The SDK's error for the call, whole.
///
/// ```no_run
/// # async fn f(client: aws_sdk_dynamodb::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use aws_sdk_dynamodb::types::AttributeValue;
/// use lambda_cache_dynamodb::fetch::{self, Projection};
/// let key = [("pk".to_owned(), AttributeValue::S("u1".into()))].into();
/// let out = fetch::get_item(&client, "users", key, &Projection::default(), false).await?;
/// println!("{:?}", out.item().map(|item| item.len()));
/// # Ok(()) }
/// ```
pub async fn get_item(
    client: &Client,
    table: &str,
    key: HashMap<String, AttributeValue>,
    projection: &Projection,
    consistent: bool,
) -> Result<GetItemOutput, SdkError<GetItemError, HttpResponse>> {
    client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .set_projection_expression(projection.expression.clone())
        .set_expression_attribute_names(projection.names.clone())
        .set_attributes_to_get(projection.attributes_to_get.clone())
        .consistent_read(consistent)
        .send()
        .await
}

/// One BatchGetItem call for `request_items` (table to keys and their projection, at most
/// 100 keys in all): the items found and the keys the service left unprocessed.
///
/// # Errors
/// The SDK's error for the call, whole.
///
/// ```no_run
/// # async fn f(client: aws_sdk_dynamodb::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
/// let keys = KeysAndAttributes::builder()
///     .keys([("pk".to_owned(), AttributeValue::S("u1".into()))].into())
///     .build()?;
/// let out = lambda_cache_dynamodb::fetch::batch_get_item(&client, [("users".to_owned(), keys)].into()).await?;
/// println!("{:?}", out.unprocessed_keys().map(|left| left.len()));
/// # Ok(()) }
/// ```
pub async fn batch_get_item(
    client: &Client,
    request_items: HashMap<String, KeysAndAttributes>,
) -> Result<BatchGetItemOutput, SdkError<BatchGetItemError, HttpResponse>> {
    client
        .batch_get_item()
        .set_request_items(Some(request_items))
        .send()
        .await
}

/// DescribeTable of `table`: its key schema and attribute types, for a caller that reads items
/// by a key given as text.
///
/// # Errors
/// The SDK's error for the call, whole (`ResourceNotFoundException` for no such table).
///
/// ```no_run
/// # async fn f(client: aws_sdk_dynamodb::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let table = lambda_cache_dynamodb::fetch::describe_table(&client, "users").await?;
/// println!("{:?}", table.key_schema());
/// # Ok(()) }
/// ```
pub async fn describe_table(
    client: &Client,
    table: &str,
) -> Result<TableDescription, SdkError<DescribeTableError, HttpResponse>> {
    let out = client.describe_table().table_name(table).send().await?;
    Ok(out
        .table
        .unwrap_or_else(|| TableDescription::builder().build()))
}

/// One page of a Scan of `table`: at most `limit` items from `start` (the last page's
/// `LastEvaluatedKey`), as `projection` shapes them.
///
/// # Errors
/// The SDK's error for the call, whole.
///
/// ```no_run
/// # async fn f(client: aws_sdk_dynamodb::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use lambda_cache_dynamodb::fetch::{self, Projection};
/// let page = fetch::scan(&client, "users", &Projection::default(), 100, None).await?;
/// println!("{} items, more: {}", page.items().len(), page.last_evaluated_key().is_some());
/// # Ok(()) }
/// ```
pub async fn scan(
    client: &Client,
    table: &str,
    projection: &Projection,
    limit: i32,
    start: Option<HashMap<String, AttributeValue>>,
) -> Result<ScanOutput, SdkError<ScanError, HttpResponse>> {
    client
        .scan()
        .table_name(table)
        .limit(limit)
        .set_exclusive_start_key(start)
        .set_projection_expression(projection.expression.clone())
        .set_expression_attribute_names(projection.names.clone())
        .send()
        .await
}
