//! Cache keys: the service, the name, and every option that changes the value.

use std::any::TypeId;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Identifies one cached value: which service it comes from, its name there, and a variant
/// string that encodes every option changing the value (a version stage, a decoding).
///
/// Two keys that differ in any part never share an entry, so an SSM parameter and an S3 object
/// both called `config.json`, or `/a/host` and `/b/host`, never collide. The cache also keys by
/// the Rust type of the value, so reading the same parameter as text and as a decoded struct
/// keeps two entries.
///
/// A key borrows its parts: building one allocates nothing.
///
/// ```
/// use lambda_cache_core::Key;
/// let ssm = Key::new("ssm", "config.json");
/// let s3 = Key::new("s3", "config.json");
/// assert_ne!(ssm, s3);
/// assert_ne!(Key::new("secrets", "db").variant("AWSCURRENT"), Key::new("secrets", "db"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key<'a> {
    service: &'static str,
    name: &'a str,
    variant: &'a str,
}

impl<'a> Key<'a> {
    /// A key for `name` in `service`, with no variant. The service is a fixed name (a constant
    /// of the crate that reads it), which lets a lookup compare it by address.
    ///
    /// ```
    /// let key = lambda_cache_core::Key::new("generic", "users");
    /// assert_eq!(key.name(), "users");
    /// ```
    pub const fn new(service: &'static str, name: &'a str) -> Self {
        Self {
            service,
            name,
            variant: "",
        }
    }

    /// The same key with `variant` (an encoding of the options that change the value).
    ///
    /// ```
    /// let key = lambda_cache_core::Key::new("ssm", "/a/b").variant("raw");
    /// assert_eq!(key.variant_str(), "raw");
    /// ```
    #[must_use]
    pub const fn variant(self, variant: &'a str) -> Self {
        Self { variant, ..self }
    }

    /// The service part.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Key::new("s3", "k").service(), "s3");
    /// ```
    pub const fn service(&self) -> &'static str {
        self.service
    }

    /// The name part.
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Key::new("s3", "k").name(), "k");
    /// ```
    pub const fn name(&self) -> &'a str {
        self.name
    }

    /// A short digest of the whole key (service, name, variant), the same in every process:
    /// what the cache's events at `INFO` and above show instead of the name, which a caller may
    /// have built from data that must not reach a log (a user id, a token). Events at `DEBUG`
    /// and `TRACE` carry the name itself, so a digest can be matched to its key there.
    ///
    /// ```
    /// use lambda_cache_core::Key;
    /// let key = Key::new("generic", "user:alice:token=s3cr3t");
    /// let digest = key.digest().to_string();
    /// assert_eq!(digest.len(), 12);
    /// assert!(!digest.contains("alice"));
    /// assert_eq!(digest, Key::new("generic", "user:alice:token=s3cr3t").digest().to_string());
    /// assert_ne!(digest, Key::new("generic", "user:bob").digest().to_string());
    /// ```
    pub fn digest(&self) -> KeyDigest {
        // FNV-1a over the parts, each followed by a 0xff byte (which UTF-8 never holds): fixed,
        // so the same key shows the same digest in every environment of a fleet.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [self.service, self.name, self.variant] {
            for byte in part.bytes().chain(std::iter::once(0xff)) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        KeyDigest(hash >> 16)
    }

    /// The variant part (empty when none was set).
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Key::new("s3", "k").variant_str(), "");
    /// ```
    pub const fn variant_str(&self) -> &'a str {
        self.variant
    }
}

/// A key's digest (see [`Key::digest`]): 12 hexadecimal digits.
///
/// ```
/// let digest = lambda_cache_core::Key::new("ssm", "/a").digest();
/// assert!(digest.to_string().chars().all(|c| c.is_ascii_hexdigit()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyDigest(u64);

impl std::fmt::Display for KeyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:012x}", self.0)
    }
}

/// A key as looked up: the borrowed parts plus the value's type, and whether the value is
/// derived from the raw value under the same key (see [`crate::Cache::get_derived`]): a derived
/// value never shares a slot with a raw value, whatever their types.
#[derive(Clone, Copy)]
pub(crate) struct Lookup<'a> {
    pub(crate) key: Key<'a>,
    pub(crate) type_id: TypeId,
    pub(crate) derived: bool,
}

impl<'a> Lookup<'a> {
    /// The raw value of type `V` under `key`.
    pub(crate) fn raw<V: 'static>(key: Key<'a>) -> Self {
        Self {
            key,
            type_id: TypeId::of::<V>(),
            derived: false,
        }
    }

    /// A value of type `V` derived from the raw value under `key`.
    pub(crate) fn derived<V: 'static>(key: Key<'a>) -> Self {
        Self {
            key,
            type_id: TypeId::of::<V>(),
            derived: true,
        }
    }
}

/// A key as stored in the maps: shared, so that republishing the map to readers clones a
/// pointer per entry, not three strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OwnedKey(Arc<Parts>);

#[derive(Debug, PartialEq, Eq)]
struct Parts {
    service: &'static str,
    name: Box<str>,
    variant: Box<str>,
    type_id: TypeId,
    derived: bool,
}

impl OwnedKey {
    pub(crate) fn from_lookup(lookup: &Lookup<'_>) -> Self {
        Self(Arc::new(Parts {
            service: lookup.key.service,
            name: lookup.key.name.into(),
            variant: lookup.key.variant.into(),
            type_id: lookup.type_id,
            derived: lookup.derived,
        }))
    }

    pub(crate) fn service(&self) -> &'static str {
        self.0.service
    }

    /// This key as a lookup, borrowing its parts.
    pub(crate) fn as_lookup(&self) -> Lookup<'_> {
        let parts = &*self.0;
        Lookup {
            key: Key::new(parts.service, &parts.name).variant(&parts.variant),
            type_id: parts.type_id,
            derived: parts.derived,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.0.name
    }

    pub(crate) fn variant(&self) -> &str {
        &self.0.variant
    }

    pub(crate) fn matches(&self, key: &Key<'_>) -> bool {
        let parts = &*self.0;
        *parts.name == *key.name
            && same_str(parts.service, key.service)
            && same_str(&parts.variant, key.variant)
    }
}

/// String equality that settles the usual cases without comparing bytes: the same constant
/// (the service names), or both empty (most variants).
#[inline]
fn same_str(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || std::ptr::eq(a.as_ptr(), b.as_ptr()) || a == b)
}

// `OwnedKey` and `Lookup` must hash alike, so that a lookup finds an owned key without
// allocating. The hash is one pass over the name plus two words: the service and the variant
// enter only by their lengths (keys differing there alone share a bucket, and equality tells
// them apart), which keeps a hit's hashing to three writes.
fn hash_parts<H: Hasher>(
    state: &mut H,
    service: &str,
    name: &str,
    variant: &str,
    type_id: &TypeId,
    derived: bool,
) {
    state.write(name.as_bytes());
    type_id.hash(state);
    state.write_usize(service.len() ^ (variant.len() << 8) ^ usize::from(derived) << 16);
}

impl Hash for OwnedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let parts = &*self.0;
        hash_parts(
            state,
            parts.service,
            &parts.name,
            &parts.variant,
            &parts.type_id,
            parts.derived,
        );
    }
}

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(
            state,
            self.key.service,
            self.key.name,
            self.key.variant,
            &self.type_id,
            self.derived,
        );
    }
}

impl Lookup<'_> {
    /// True if `owned` is this key, of this type, raw or derived alike.
    #[inline]
    pub(crate) fn matches(&self, owned: &OwnedKey) -> bool {
        self.type_id == owned.0.type_id
            && self.derived == owned.0.derived
            && owned.matches(&self.key)
    }
}

impl hashbrown::Equivalent<OwnedKey> for Lookup<'_> {
    fn equivalent(&self, owned: &OwnedKey) -> bool {
        self.matches(owned)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn lookup_and_owned_key_hash_alike() {
        let state = hashbrown::DefaultHashBuilder::default();
        let lookup = Lookup::raw::<String>(Key::new("ssm", "/a/host").variant("decrypt"));
        let owned = OwnedKey::from_lookup(&lookup);
        assert_eq!(state.hash_one(lookup), state.hash_one(&owned));
        assert!(hashbrown::Equivalent::equivalent(&lookup, &owned));
        let derived = Lookup::derived::<String>(lookup.key);
        assert!(!hashbrown::Equivalent::equivalent(&derived, &owned));
    }

    #[test]
    fn parts_do_not_run_together() {
        // ("ab", "c") and ("a", "bc") must be different keys.
        let a = Lookup::raw::<()>(Key::new("ab", "c"));
        let b = OwnedKey::from_lookup(&Lookup::raw::<()>(Key::new("a", "bc")));
        assert!(!hashbrown::Equivalent::equivalent(&a, &b));
    }

    #[test]
    fn parts_left_out_of_the_hash_still_tell_keys_apart() {
        // Same lengths everywhere: these may share a bucket, never an entry.
        let owned = OwnedKey::from_lookup(&Lookup::raw::<()>(Key::new("ssm", "n").variant("v1")));
        for other in [
            Key::new("ssm", "n").variant("v2"),
            Key::new("abc", "n").variant("v1"),
            Key::new("ssm", "m").variant("v1"),
        ] {
            assert!(!hashbrown::Equivalent::equivalent(
                &Lookup::raw::<()>(other),
                &owned
            ));
        }
        assert!(!hashbrown::Equivalent::equivalent(
            &Lookup::raw::<u8>(Key::new("ssm", "n").variant("v1")),
            &owned
        ));
    }
}
