//! Placeholder: this service crate is filled by its own issue. It already depends on its SDK so
//! that the facade's feature wiring and per-feature builds are exercised.

/// The service part of this crate's cache keys.
pub const SERVICE: &str = "secretsmanager";
