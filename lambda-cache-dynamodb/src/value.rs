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

/// How an item travels through a shared tier (feature `shared`): each attribute as its name
/// and a typed value, maps and lists nested. An item is not secret: it goes to the tier for
/// every read through it.
///
/// ```
/// use aws_sdk_dynamodb::types::AttributeValue;
/// let mut item = lambda_cache_dynamodb::Item::new();
/// item.insert("pk".into(), AttributeValue::S("u1".into()));
/// item.insert("tags".into(), AttributeValue::L(vec![AttributeValue::Bool(true), AttributeValue::Null(true)]));
/// let codec = lambda_cache_dynamodb::ITEM_CODEC;
/// let mut bytes = Vec::new();
/// (codec.encode)(&item, &mut bytes);
/// assert_eq!((codec.decode)(&bytes), Some(item));
/// assert_eq!((codec.decode)(&bytes[..bytes.len() - 1]), None);
/// ```
#[cfg(feature = "shared")]
pub const ITEM_CODEC: lambda_cache_core::shared::Codec<Item> = lambda_cache_core::shared::Codec {
    tag: "dynamodb.Item/1",
    encode: shared::encode_item,
    decode: shared::decode_item,
    is_secret: |_| false,
};

#[cfg(feature = "shared")]
mod shared {
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue;
    use lambda_cache_core::shared::{put_field, take_field};

    use super::Item;

    /// Nesting deeper than DynamoDB allows (32 levels) is not an item.
    const MAX_DEPTH: usize = 32;

    pub(super) fn encode_item(item: &Item, out: &mut Vec<u8>) {
        count(out, item.len());
        for (name, value) in item {
            put_field(out, name.as_bytes());
            encode(value, out);
        }
    }

    pub(super) fn decode_item(bytes: &[u8]) -> Option<Item> {
        let mut rest = bytes;
        let item = map(&mut rest, 0)?;
        rest.is_empty().then_some(item)
    }

    fn count(out: &mut Vec<u8>, n: usize) {
        out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
    }

    fn take_count(rest: &mut &[u8]) -> Option<usize> {
        let (head, tail) = rest.split_at_checked(4)?;
        *rest = tail;
        usize::try_from(u32::from_le_bytes(head.try_into().ok()?)).ok()
    }

    fn encode(value: &AttributeValue, out: &mut Vec<u8>) {
        let strings = |out: &mut Vec<u8>, kind: u8, items: &[String]| {
            out.push(kind);
            count(out, items.len());
            for item in items {
                put_field(out, item.as_bytes());
            }
        };
        match value {
            AttributeValue::S(text) => {
                out.push(b's');
                put_field(out, text.as_bytes());
            }
            AttributeValue::N(number) => {
                out.push(b'n');
                put_field(out, number.as_bytes());
            }
            AttributeValue::B(blob) => {
                out.push(b'b');
                put_field(out, blob.as_ref());
            }
            AttributeValue::Bool(flag) => out.extend_from_slice(&[b'?', u8::from(*flag)]),
            AttributeValue::Null(flag) => out.extend_from_slice(&[b'0', u8::from(*flag)]),
            AttributeValue::Ss(items) => strings(out, b'S', items),
            AttributeValue::Ns(items) => strings(out, b'N', items),
            AttributeValue::Bs(items) => {
                out.push(b'B');
                count(out, items.len());
                for item in items {
                    put_field(out, item.as_ref());
                }
            }
            AttributeValue::L(items) => {
                out.push(b'L');
                count(out, items.len());
                for item in items {
                    encode(item, out);
                }
            }
            AttributeValue::M(map) => {
                out.push(b'M');
                encode_item(map, out);
            }
            // A kind this version does not know: a mark no decoder accepts, so the record is
            // read by no one (each reader fetches).
            _ => out.push(b'!'),
        }
    }

    fn text(rest: &mut &[u8]) -> Option<String> {
        std::str::from_utf8(take_field(rest)?)
            .ok()
            .map(str::to_owned)
    }

    fn texts(rest: &mut &[u8]) -> Option<Vec<String>> {
        let n = take_count(rest)?;
        (0..n).map(|_| text(rest)).collect()
    }

    fn map(rest: &mut &[u8], depth: usize) -> Option<Item> {
        let n = take_count(rest)?;
        (0..n)
            .map(|_| Some((text(rest)?, decode(rest, depth)?)))
            .collect()
    }

    fn decode(rest: &mut &[u8], depth: usize) -> Option<AttributeValue> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (&kind, tail) = rest.split_first()?;
        *rest = tail;
        let flag = |rest: &mut &[u8]| {
            let (&byte, tail) = rest.split_first()?;
            *rest = tail;
            Some(byte == 1)
        };
        Some(match kind {
            b's' => AttributeValue::S(text(rest)?),
            b'n' => AttributeValue::N(text(rest)?),
            b'b' => AttributeValue::B(Blob::new(take_field(rest)?)),
            b'?' => AttributeValue::Bool(flag(rest)?),
            b'0' => AttributeValue::Null(flag(rest)?),
            b'S' => AttributeValue::Ss(texts(rest)?),
            b'N' => AttributeValue::Ns(texts(rest)?),
            b'B' => {
                let n = take_count(rest)?;
                AttributeValue::Bs(
                    (0..n)
                        .map(|_| take_field(rest).map(Blob::new))
                        .collect::<Option<_>>()?,
                )
            }
            b'L' => {
                let n = take_count(rest)?;
                AttributeValue::L(
                    (0..n)
                        .map(|_| decode(rest, depth + 1))
                        .collect::<Option<_>>()?,
                )
            }
            b'M' => AttributeValue::M(map(rest, depth + 1)?),
            _ => return None,
        })
    }
}
