//! Cache keys: the service, the name, and every option that changes the value.

use std::any::TypeId;
use std::hash::{Hash, Hasher};

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
    service: &'a str,
    name: &'a str,
    variant: &'a str,
}

impl<'a> Key<'a> {
    /// A key for `name` in `service`, with no variant.
    ///
    /// ```
    /// let key = lambda_cache_core::Key::new("generic", "users");
    /// assert_eq!(key.name(), "users");
    /// ```
    pub const fn new(service: &'a str, name: &'a str) -> Self {
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
    pub const fn service(&self) -> &'a str {
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

    /// The variant part (empty when none was set).
    ///
    /// ```
    /// assert_eq!(lambda_cache_core::Key::new("s3", "k").variant_str(), "");
    /// ```
    pub const fn variant_str(&self) -> &'a str {
        self.variant
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

/// A key as stored in the map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OwnedKey {
    pub(crate) service: Box<str>,
    pub(crate) name: Box<str>,
    variant: Box<str>,
    type_id: TypeId,
    derived: bool,
}

impl OwnedKey {
    pub(crate) fn from_lookup(lookup: &Lookup<'_>) -> Self {
        Self {
            service: lookup.key.service.into(),
            name: lookup.key.name.into(),
            variant: lookup.key.variant.into(),
            type_id: lookup.type_id,
            derived: lookup.derived,
        }
    }

    pub(crate) fn matches(&self, key: &Key<'_>) -> bool {
        &*self.service == key.service && &*self.name == key.name && &*self.variant == key.variant
    }
}

// `OwnedKey` and `Lookup` must hash alike, so that a lookup finds an owned key without allocating.
fn hash_parts<H: Hasher>(
    state: &mut H,
    service: &str,
    name: &str,
    variant: &str,
    type_id: &TypeId,
    derived: bool,
) {
    service.hash(state);
    name.hash(state);
    variant.hash(state);
    type_id.hash(state);
    derived.hash(state);
}

impl Hash for OwnedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(
            state,
            &self.service,
            &self.name,
            &self.variant,
            &self.type_id,
            self.derived,
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

impl hashbrown::Equivalent<OwnedKey> for Lookup<'_> {
    fn equivalent(&self, owned: &OwnedKey) -> bool {
        self.type_id == owned.type_id && self.derived == owned.derived && owned.matches(&self.key)
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
}
