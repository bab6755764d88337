//! A Lambda extension that caches DynamoDB items, SSM parameters and secrets for functions in
//! any language, served over loopback HTTP.
//!
//! The library holds the logic; the binary (`lambda-cache-extension`, shipped in a layer as
//! `extensions/lambda-cache-extension`) only runs [`main`]. Its settings come from the
//! environment ([`config::Settings`]) and from `cache.yaml` ([`config::CacheFile`]); the seed's
//! variables keep their Go grammar ([`go`]).

pub mod config;
pub mod go;
