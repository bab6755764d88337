//! JSON decoding whose errors never quote the input (feature `json`).

use std::fmt;

use serde::de::DeserializeOwned;

/// Decodes JSON `bytes` into `T`. On failure, the error gives the category and position only:
/// serde's own messages may quote the value, and the value may be a secret.
///
/// # Errors
/// [`JsonError`] when `bytes` are not JSON for `T`.
///
/// ```
/// let n: Vec<u32> = lambda_cache_core::decode_json(b"[1, 2]").unwrap();
/// assert_eq!(n, [1, 2]);
/// let err = lambda_cache_core::decode_json::<u32>(br#""hunter2""#).unwrap_err();
/// assert_eq!(err.to_string(), "value does not fit the type at line 1, column 9");
/// assert!(!format!("{err:?}").contains("hunter2"));
/// ```
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    serde_json::from_slice(bytes).map_err(|err| JsonError {
        category: match err.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "value does not fit the type",
            serde_json::error::Category::Eof => "unexpected end",
        },
        line: err.line(),
        column: err.column(),
    })
}

/// Why JSON did not decode: a category and a position, never the input.
///
/// ```
/// let err = lambda_cache_core::decode_json::<Vec<u8>>(b"[1, 2").unwrap_err();
/// assert!(err.to_string().starts_with("unexpected end at line 1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    category: &'static str,
    line: usize,
    column: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {}, column {}",
            self.category, self.line, self.column
        )
    }
}

impl std::error::Error for JsonError {}
