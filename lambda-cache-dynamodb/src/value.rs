//! Items as returned to the caller.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// An item: its attributes by name, as DynamoDB holds them. Decode it into your own type with
/// [`crate::DynamoCache::get_item`], or read attributes directly.
///
/// ```
/// use aws_sdk_dynamodb::types::AttributeValue;
/// let mut item = lambda_cache_dynamodb::Item::new();
/// item.insert("pk".into(), AttributeValue::S("u1".into()));
/// assert_eq!(item["pk"].as_s().map(String::as_str), Ok("u1"));
/// ```
pub type Item = HashMap<String, AttributeValue>;

/// Bytes held, roughly as DynamoDB counts an item's size, for the cache's byte budget.
pub(crate) fn weight(item: &Item) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + attribute_weight(value))
        .sum()
}

fn attribute_weight(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(text) | AttributeValue::N(text) => text.len() as u64,
        AttributeValue::B(blob) => blob.as_ref().len() as u64,
        AttributeValue::Ss(items) | AttributeValue::Ns(items) => {
            items.iter().map(|s| s.len() as u64).sum()
        }
        AttributeValue::Bs(items) => items.iter().map(|b| b.as_ref().len() as u64).sum(),
        AttributeValue::L(items) => items.iter().map(attribute_weight).sum::<u64>() + 3,
        AttributeValue::M(map) => {
            map.iter()
                .map(|(k, v)| k.len() as u64 + attribute_weight(v))
                .sum::<u64>()
                + 3
        }
        _ => 1,
    }
}
