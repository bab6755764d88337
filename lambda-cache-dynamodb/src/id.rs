//! Item keys: table, partition key, optional sort key, projection and read consistency.

use std::fmt;
use std::fmt::Write as _;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::Error;

/// The most significant digits of a DynamoDB number.
const MAX_DIGITS: usize = 38;

/// One key attribute's value: a string (S), a number (N) or bytes (B).
///
/// Numbers are kept canonical: `1`, `1.0`, `01` and `1e0` are one key, as DynamoDB treats them.
///
/// ```
/// use lambda_cache_dynamodb::KeyValue;
/// assert_eq!(KeyValue::n("1.0")?, KeyValue::n("01")?);
/// assert_eq!(KeyValue::from(42_i64), KeyValue::n("42")?);
/// assert_ne!(KeyValue::from("1"), KeyValue::n("1")?);
/// assert!(KeyValue::n("one").is_err());
/// # Ok::<(), lambda_cache_dynamodb::Error>(())
/// ```
#[derive(Clone, Debug)]
pub enum KeyValue {
    /// A string.
    S(String),
    /// A number: the text sent to DynamoDB and its canonical form (what keys compare).
    N {
        /// The number as given.
        text: String,
        /// Sign, significant digits and exponent: `1e0` for `1`, `1.0` and `01`.
        canonical: String,
    },
    /// Bytes.
    B(Vec<u8>),
}

impl PartialEq for KeyValue {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::S(a), Self::S(b)) => a == b,
            (Self::N { canonical: a, .. }, Self::N { canonical: b, .. }) => a == b,
            (Self::B(a), Self::B(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for KeyValue {}

/// Hashes as [`PartialEq`] compares: a number by its canonical form.
impl std::hash::Hash for KeyValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Self::S(text) => (0_u8, text).hash(state),
            Self::N { canonical, .. } => (1_u8, canonical).hash(state),
            Self::B(bytes) => (2_u8, bytes).hash(state),
        }
    }
}

impl KeyValue {
    /// A number key value, from its decimal text (`42`, `-1.5`, `6.02e23`).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] naming the text, if it is not a DynamoDB number.
    ///
    /// ```
    /// assert!(lambda_cache_dynamodb::KeyValue::n("1e3").is_ok());
    /// ```
    pub fn n(text: &str) -> Result<Self, Error> {
        let canonical = canonical_number(text).map_err(|reason| Error::InvalidKey {
            key: text.to_owned(),
            reason: reason.to_owned(),
        })?;
        Ok(Self::N {
            text: text.to_owned(),
            canonical,
        })
    }

    /// The value as DynamoDB's attribute value.
    pub(crate) fn to_attribute(&self) -> AttributeValue {
        match self {
            Self::S(text) => AttributeValue::S(text.clone()),
            Self::N { text, .. } => AttributeValue::N(text.clone()),
            Self::B(bytes) => AttributeValue::B(Blob::new(bytes.clone())),
        }
    }

    /// True if `attribute` (from an item DynamoDB returned) is this value.
    pub(crate) fn matches(&self, attribute: &AttributeValue) -> bool {
        match (self, attribute) {
            (Self::S(a), AttributeValue::S(b)) => a == b,
            (Self::N { canonical, .. }, AttributeValue::N(b)) => {
                canonical_number(b).is_ok_and(|b| *canonical == b)
            }
            (Self::B(a), AttributeValue::B(b)) => a.as_slice() == b.as_ref(),
            _ => false,
        }
    }

    /// Writes the type and the value, length-prefixed, so that no two values encode alike.
    fn encode(&self, out: &mut String) {
        let _ = match self {
            Self::S(text) => write!(out, "S{}:{text}", text.len()),
            Self::N { canonical, .. } => write!(out, "N{}:{canonical}", canonical.len()),
            Self::B(bytes) => {
                let _ = write!(out, "B{}:", bytes.len() * 2);
                for byte in bytes {
                    let _ = write!(out, "{byte:02x}");
                }
                Ok(())
            }
        };
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::S(text) => text.is_empty(),
            Self::N { .. } => false,
            Self::B(bytes) => bytes.is_empty(),
        }
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::S(text) => write!(f, "{text:?}"),
            Self::N { text, .. } => f.write_str(text),
            Self::B(bytes) => write!(f, "<{} bytes>", bytes.len()),
        }
    }
}

impl From<&str> for KeyValue {
    fn from(text: &str) -> Self {
        Self::S(text.to_owned())
    }
}

impl From<String> for KeyValue {
    fn from(text: String) -> Self {
        Self::S(text)
    }
}

impl From<Vec<u8>> for KeyValue {
    fn from(bytes: Vec<u8>) -> Self {
        Self::B(bytes)
    }
}

impl From<i64> for KeyValue {
    fn from(n: i64) -> Self {
        let text = n.to_string();
        let canonical = canonical_number(&text)
            .unwrap_or_else(|_| unreachable!("an integer's decimal text is a number"));
        Self::N { text, canonical }
    }
}

/// The canonical form of a DynamoDB number: `-` if negative, the significant digits without
/// leading or trailing zeros, `e` and the exponent (`0` for zero).
pub(crate) fn canonical_number(text: &str) -> Result<String, &'static str> {
    let bad = "not a number: give digits, an optional '.', fraction and exponent (1, -2.5, 6e3)";
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad);
    }
    let mut exp: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad);
            }
            e.parse().map_err(|_| bad)?
        }
    };
    let mut digits: String = int.chars().chain(frac.chars()).collect();
    exp -= i64::try_from(frac.len()).map_err(|_| bad)?;
    let leading = digits.len() - digits.trim_start_matches('0').len();
    digits.drain(..leading);
    if digits.is_empty() {
        return Ok("0".to_owned());
    }
    while digits.ends_with('0') {
        digits.pop();
        exp += 1;
    }
    if digits.len() > MAX_DIGITS {
        return Err("a DynamoDB number has at most 38 significant digits");
    }
    let magnitude = exp + i64::try_from(digits.len()).map_err(|_| bad)? - 1;
    if !(-130..=125).contains(&magnitude) {
        return Err("a DynamoDB number's magnitude is between 1e-130 and 1e125");
    }
    Ok(format!("{}{digits}e{exp}", if negative { "-" } else { "" }))
}

/// One item: its table, partition key, optional sort key, and the options that change what is
/// read (projection, consistent read), all part of the cache key.
///
/// ```
/// use lambda_cache_dynamodb::{ItemKey, KeyValue};
/// let user = ItemKey::new("Users", "pk", "u1");
/// let score = ItemKey::new("Scores", "player", "p1").sort("round", KeyValue::n("3")?);
/// let short = ItemKey::new("Users", "pk", "u1").projection(["name", "email"]);
/// assert_ne!(user, short, "a projection is part of the key");
/// assert_ne!(user, ItemKey::new("Users", "pk", "u1").consistent_read(true));
/// assert_eq!(user.table(), "Users");
/// # let _ = score;
/// # Ok::<(), lambda_cache_dynamodb::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ItemKey {
    table: String,
    partition: (String, KeyValue),
    sort: Option<(String, KeyValue)>,
    projection: Vec<String>,
    consistent: bool,
    /// Every part above, unambiguously encoded: the cache key's variant.
    encoded: String,
    /// `table@@partition[@@sort]`, for messages and default entry names.
    label: String,
}

impl ItemKey {
    /// The item of `table` whose partition key attribute `name` is `value` (a `&str` for S,
    /// [`KeyValue::n`] or an integer for N, bytes for B).
    ///
    /// ```
    /// let key = lambda_cache_dynamodb::ItemKey::new("Users", "pk", "u1");
    /// assert_eq!(key.to_string(), "Users@@u1");
    /// ```
    pub fn new(
        table: impl Into<String>,
        name: impl Into<String>,
        value: impl Into<KeyValue>,
    ) -> Self {
        Self {
            table: table.into(),
            partition: (name.into(), value.into()),
            sort: None,
            projection: Vec::new(),
            consistent: false,
            encoded: String::new(),
            label: String::new(),
        }
        .encoded()
    }

    /// The sort key attribute `name` and its `value`.
    ///
    /// ```
    /// let key = lambda_cache_dynamodb::ItemKey::new("Orders", "customer", "c1").sort("order", 7_i64);
    /// assert_eq!(key.to_string(), "Orders@@c1@@7");
    /// ```
    #[must_use]
    pub fn sort(mut self, name: impl Into<String>, value: impl Into<KeyValue>) -> Self {
        self.sort = Some((name.into(), value.into()));
        self.encoded()
    }

    /// Reads only these attributes (and the key attributes, always). Part of the cache key.
    ///
    /// ```
    /// let key = lambda_cache_dynamodb::ItemKey::new("Users", "pk", "u1").projection(["name"]);
    /// # let _ = key;
    /// ```
    #[must_use]
    pub fn projection<I, S>(mut self, attributes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.projection = attributes.into_iter().map(Into::into).collect();
        self.encoded()
    }

    /// Strongly consistent reads (twice the read capacity). Part of the cache key.
    ///
    /// ```
    /// let key = lambda_cache_dynamodb::ItemKey::new("Users", "pk", "u1").consistent_read(true);
    /// assert!(key.is_consistent_read());
    /// ```
    #[must_use]
    pub fn consistent_read(mut self, consistent: bool) -> Self {
        self.consistent = consistent;
        self.encoded()
    }

    /// The table.
    ///
    /// ```
    /// assert_eq!(lambda_cache_dynamodb::ItemKey::new("T1", "pk", "a").table(), "T1");
    /// ```
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Whether reads are strongly consistent.
    ///
    /// ```
    /// assert!(!lambda_cache_dynamodb::ItemKey::new("T1", "pk", "a").is_consistent_read());
    /// ```
    pub fn is_consistent_read(&self) -> bool {
        self.consistent
    }

    /// The projected attributes (empty: the whole item).
    ///
    /// ```
    /// let key = lambda_cache_dynamodb::ItemKey::new("T1", "pk", "a").projection(["x"]);
    /// assert_eq!(key.projected(), ["x"]);
    /// ```
    pub fn projected(&self) -> &[String] {
        &self.projection
    }

    /// The key attributes as DynamoDB's `Key` map.
    pub(crate) fn key_attributes(&self) -> std::collections::HashMap<String, AttributeValue> {
        let mut key = std::collections::HashMap::with_capacity(2);
        key.insert(self.partition.0.clone(), self.partition.1.to_attribute());
        if let Some((name, value)) = &self.sort {
            key.insert(name.clone(), value.to_attribute());
        }
        key
    }

    /// The projection expression with placeholders (`#p0, #p1`) and their names, the key
    /// attributes included so that a batch answer can be matched to its request.
    pub(crate) fn projection_expression(
        &self,
    ) -> Option<(String, std::collections::HashMap<String, String>)> {
        if self.projection.is_empty() {
            return None;
        }
        let mut names: Vec<&str> = self.projection.iter().map(String::as_str).collect();
        for key in std::iter::once(&self.partition.0).chain(self.sort.as_ref().map(|(n, _)| n)) {
            if !names.contains(&key.as_str()) {
                names.push(key);
            }
        }
        let placeholders: Vec<String> = (0..names.len()).map(|i| format!("#p{i}")).collect();
        let map = placeholders
            .iter()
            .cloned()
            .zip(names.iter().map(|n| (*n).to_owned()))
            .collect();
        Some((placeholders.join(", "), map))
    }

    /// True if `item` (as DynamoDB returned it) has this key.
    pub(crate) fn matches(&self, item: &std::collections::HashMap<String, AttributeValue>) -> bool {
        let attribute_matches = |(name, value): &(String, KeyValue)| {
            item.get(name).is_some_and(|got| value.matches(got))
        };
        attribute_matches(&self.partition) && self.sort.as_ref().is_none_or(attribute_matches)
    }

    /// What a batch of this key's reads shares: table, projection and consistency.
    pub(crate) fn batch_group(&self) -> (&str, &[String], bool) {
        (&self.table, &self.projection, self.consistent)
    }

    /// `table@@partition[@@sort]`.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// The cache key's variant.
    pub(crate) fn variant(&self) -> &str {
        &self.encoded
    }

    /// Checks the table name and key attributes, before any call.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] naming the key.
    ///
    /// ```
    /// use lambda_cache_dynamodb::ItemKey;
    /// assert!(ItemKey::new("Users", "pk", "u1").check().is_ok());
    /// assert!(ItemKey::new("Us ers", "pk", "u1").check().is_err());
    /// assert!(ItemKey::new("Users", "pk", "").check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        let invalid = |reason: &str| {
            Err(Error::InvalidKey {
                key: self.label.clone(),
                reason: reason.to_owned(),
            })
        };
        // A table is named, or given by ARN (`arn:aws:dynamodb:region:account:table/Name`, for
        // a table shared from another account); the name part follows the same rules.
        let name = match self.table.strip_prefix("arn:") {
            Some(arn) => {
                let parts: Vec<&str> = arn.splitn(5, ':').collect();
                match parts.as_slice() {
                    [partition, "dynamodb", region, account, resource]
                        if !partition.is_empty()
                            && !region.is_empty()
                            && account.len() == 12
                            && account.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        match resource.strip_prefix("table/") {
                            Some(name) => name,
                            None => return invalid("a table ARN ends in table/<name>"),
                        }
                    }
                    _ => {
                        return invalid(
                            "a table ARN is arn:<partition>:dynamodb:<region>:<account>:table/<name>",
                        );
                    }
                }
            }
            None => self.table.as_str(),
        };
        let name_ok = (3..=255).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !name_ok {
            return invalid("a table name has 3 to 255 letters, digits, '_', '.' or '-'");
        }
        for (name, value) in std::iter::once(&self.partition).chain(self.sort.as_ref()) {
            if name.is_empty() {
                return invalid("a key attribute name is empty");
            }
            if value.is_empty() {
                return invalid("a key attribute value is empty");
            }
        }
        if self.projection.iter().any(String::is_empty) {
            return invalid("a projected attribute name is empty");
        }
        Ok(())
    }

    fn encoded(mut self) -> Self {
        let mut encoded = String::new();
        for (name, value) in std::iter::once(&self.partition).chain(self.sort.as_ref()) {
            let _ = write!(encoded, "{}:{name}", name.len());
            value.encode(&mut encoded);
        }
        for attribute in &self.projection {
            let _ = write!(encoded, "p{}:{attribute}", attribute.len());
        }
        encoded.push(if self.consistent { 'C' } else { 'E' });
        self.encoded = encoded;
        self.label = match &self.sort {
            Some((_, sort)) => format!(
                "{}@@{}@@{}",
                self.table,
                plain(&self.partition.1),
                plain(sort)
            ),
            None => format!("{}@@{}", self.table, plain(&self.partition.1)),
        };
        self
    }
}

/// A key value as the seed's `table@@hash@@sort` names show it.
fn plain(value: &KeyValue) -> String {
    match value {
        KeyValue::S(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Keys compare as the cache and DynamoDB see them: by table and canonical key (a number
/// written `1.0` or `01` is one key), never by the text a message shows.
impl PartialEq for ItemKey {
    fn eq(&self, other: &Self) -> bool {
        self.table == other.table && self.encoded == other.encoded
    }
}

impl Eq for ItemKey {}

impl std::hash::Hash for ItemKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.table.hash(state);
        self.encoded.hash(state);
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    #[test]
    fn keys_equal_by_canonical_number_are_equal_and_hash_alike() {
        let state = std::collections::hash_map::RandomState::new();
        for (a, b) in [("1.0", "01"), ("1", "1e0"), ("120", "0.12e3")] {
            let one = ItemKey::new("T", "id", KeyValue::n(a).unwrap());
            let other = ItemKey::new("T", "id", KeyValue::n(b).unwrap());
            assert_ne!(
                one.to_string(),
                other.to_string(),
                "labels keep the text given"
            );
            assert_eq!(one, other, "{a} and {b}");
            assert_eq!(state.hash_one(&one), state.hash_one(&other));
            assert_eq!(
                state.hash_one(KeyValue::n(a).unwrap()),
                state.hash_one(KeyValue::n(b).unwrap())
            );
            let sorted = |k: ItemKey| k.sort("s", KeyValue::n(a).unwrap());
            assert_eq!(sorted(one.clone()), sorted(other.clone()));
        }
        assert_ne!(
            ItemKey::new("T", "id", KeyValue::n("1").unwrap()),
            ItemKey::new("T", "id", "1")
        );
        assert_ne!(
            ItemKey::new("T", "id", KeyValue::n("1").unwrap()),
            ItemKey::new("U", "id", KeyValue::n("1").unwrap())
        );
    }

    use super::*;

    #[test]
    fn numbers_that_dynamodb_treats_as_one_are_one_key() {
        for same in [
            ["1", "1.0", "01", "1e0", "10E-1", "+1", "1.000"],
            ["0", "0.0", "-0", "00", "0e5", "0.000", "+0"],
            [
                "-2.5", "-2.50", "-25e-1", "-0.25E1", "-002.5", "-2.5e0", "-2.5E+0",
            ],
            ["120", "1.2e2", "12E1", "120.0", "0120", "1200e-1", "0.12e3"],
        ] {
            let canonical: Vec<_> = same.iter().map(|n| canonical_number(n).unwrap()).collect();
            assert!(
                canonical.iter().all(|c| *c == canonical[0]),
                "{same:?} → {canonical:?}"
            );
        }
        assert_ne!(
            canonical_number("1").unwrap(),
            canonical_number("10").unwrap()
        );
        assert_ne!(
            canonical_number("1").unwrap(),
            canonical_number("-1").unwrap()
        );
        assert_ne!(
            canonical_number("0.1").unwrap(),
            canonical_number("1").unwrap()
        );
    }

    #[test]
    fn malformed_numbers_are_refused_with_a_reason() {
        for bad in [
            "", "-", ".", "e5", "1e", "1.2.3", "one", "1,5", "0x10", " 1", "1e+", "NaN",
        ] {
            assert!(canonical_number(bad).is_err(), "{bad:?}");
        }
        assert!(
            canonical_number(&"9".repeat(39))
                .unwrap_err()
                .contains("38")
        );
        assert!(canonical_number("1e126").is_err());
        assert!(canonical_number("1e-131").is_err());
        let err = KeyValue::n("abc").unwrap_err();
        assert!(
            matches!(&err, Error::InvalidKey { key, .. } if key == "abc"),
            "{err:?}"
        );
    }

    #[test]
    fn keys_differ_in_every_part_and_encode_unambiguously() {
        let base = ItemKey::new("Users", "pk", "u1");
        let variants = [
            ItemKey::new("Users", "pk", "u2"),
            ItemKey::new("Users", "id", "u1"),
            ItemKey::new("Users", "pk", KeyValue::B(b"u1".to_vec())),
            ItemKey::new("Users", "pk", "u1").sort("sk", "a"),
            ItemKey::new("Users", "pk", "u1").projection(["name"]),
            ItemKey::new("Users", "pk", "u1").consistent_read(true),
            // The parts must not run together.
            ItemKey::new("Users", "pk", "u").sort("1", "x"),
        ];
        for other in &variants {
            assert_ne!(base.variant(), other.variant(), "{other:?}");
        }
        assert_eq!(
            ItemKey::new("T", "n", KeyValue::n("1.0").unwrap()).variant(),
            ItemKey::new("T", "n", KeyValue::n("01").unwrap()).variant()
        );
    }

    #[test]
    fn every_malformed_key_is_a_typed_error_naming_it() {
        for (key, fragment) in [
            (ItemKey::new("T", "pk", "u1"), "table name"),
            (ItemKey::new("Us ers", "pk", "u1"), "table name"),
            (ItemKey::new("t".repeat(256), "pk", "u1"), "table name"),
            (ItemKey::new("Users", "", "u1"), "attribute name is empty"),
            (
                ItemKey::new("Users", "pk", "u1").sort("", "a"),
                "attribute name is empty",
            ),
            (ItemKey::new("Users", "pk", ""), "value is empty"),
            (ItemKey::new("Users", "pk", Vec::new()), "value is empty"),
            (
                ItemKey::new("Users", "pk", "u1").sort("sk", ""),
                "value is empty",
            ),
            (
                ItemKey::new("Users", "pk", "u1").projection(["name", ""]),
                "projected",
            ),
            (
                ItemKey::new(
                    "arn:aws:dynamodb:eu-west-1:123456789012:index/Users",
                    "pk",
                    "u1",
                ),
                "table/<name>",
            ),
            (
                ItemKey::new("arn:aws:s3:eu-west-1:123456789012:table/Users", "pk", "u1"),
                "a table ARN is",
            ),
            (
                ItemKey::new("arn:aws:dynamodb:eu-west-1:12345:table/Users", "pk", "u1"),
                "a table ARN is",
            ),
            (
                ItemKey::new(
                    "arn:aws:dynamodb:eu-west-1:123456789012:table/U s",
                    "pk",
                    "u1",
                ),
                "table name",
            ),
        ] {
            let err = key.check().unwrap_err();
            let label = key.to_string();
            assert!(
                matches!(&err, Error::InvalidKey { key: k, reason } if *k == label && reason.contains(fragment)),
                "{key:?}: {err:?}"
            );
            assert!(err.to_string().contains(fragment), "{err}");
        }
        assert_eq!(ItemKey::new("Use", "pk", "u1").check(), Ok(()));
        // A table shared from another account is given by ARN; it is its own cache key.
        let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/Users";
        assert_eq!(ItemKey::new(arn, "pk", "u1").check(), Ok(()));
        assert_eq!(ItemKey::new(arn, "pk", "u1").table(), arn);
    }

    #[test]
    fn a_projection_always_includes_the_key_attributes() {
        let key = ItemKey::new("Users", "pk", "u1")
            .sort("sk", "a")
            .projection(["name", "pk"]);
        let (expression, names) = key.projection_expression().unwrap();
        assert_eq!(expression, "#p0, #p1, #p2");
        let mut projected: Vec<_> = names.values().cloned().collect();
        projected.sort();
        assert_eq!(projected, ["name", "pk", "sk"]);
    }
}
