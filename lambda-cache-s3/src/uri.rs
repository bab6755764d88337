//! `s3://bucket/key` URIs and the local file names they land on.

use crate::Error;

/// A parsed `s3://bucket/key` URI.
///
/// ```
/// let uri = lambda_cache_s3::S3Uri::parse("s3://models/v2/model.onnx")?;
/// assert_eq!((uri.bucket(), uri.key(), uri.file_name()), ("models", "v2/model.onnx", "model.onnx"));
/// # Ok::<(), lambda_cache_s3::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct S3Uri<'a> {
    bucket: &'a str,
    key: &'a str,
}

impl<'a> S3Uri<'a> {
    /// Parses and checks `uri`.
    ///
    /// # Errors
    /// [`Error::InvalidUri`] naming the input: no `s3://`, no bucket, a malformed bucket name,
    /// no key, or a key ending in '/' (a folder, not an object).
    ///
    /// ```
    /// use lambda_cache_s3::{Error, S3Uri};
    /// assert!(matches!(S3Uri::parse("https://b/k"), Err(Error::InvalidUri { .. })));
    /// ```
    pub fn parse(uri: &'a str) -> Result<Self, Error> {
        let invalid = |reason| {
            Err(Error::InvalidUri {
                uri: uri.to_owned(),
                reason,
            })
        };
        let Some(rest) = uri.strip_prefix("s3://") else {
            return invalid("an S3 URI starts with s3://");
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return invalid("the URI names no bucket");
        }
        if !(3..=63).contains(&bucket.len())
            || !bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            return invalid("a bucket name is 3 to 63 lowercase letters, digits, '.' or '-'");
        }
        if key.is_empty() {
            return invalid("the URI names no object key");
        }
        if key.ends_with('/') {
            return invalid("the key ends with '/': it names a folder, not an object");
        }
        Ok(Self { bucket, key })
    }

    /// The bucket.
    ///
    /// ```
    /// assert_eq!(lambda_cache_s3::S3Uri::parse("s3://abc/k")?.bucket(), "abc");
    /// # Ok::<(), lambda_cache_s3::Error>(())
    /// ```
    pub fn bucket(&self) -> &'a str {
        self.bucket
    }

    /// The object key.
    ///
    /// ```
    /// assert_eq!(lambda_cache_s3::S3Uri::parse("s3://abc/a/b")?.key(), "a/b");
    /// # Ok::<(), lambda_cache_s3::Error>(())
    /// ```
    pub fn key(&self) -> &'a str {
        self.key
    }

    /// The default local file name (and entry name): the key's last segment.
    ///
    /// ```
    /// assert_eq!(lambda_cache_s3::S3Uri::parse("s3://abc/path/to/object.json")?.file_name(), "object.json");
    /// # Ok::<(), lambda_cache_s3::Error>(())
    /// ```
    pub fn file_name(&self) -> &'a str {
        self.key.rsplit('/').next().unwrap_or(self.key)
    }
}

/// Checks that `name` can be a file name in the cache directory.
pub(crate) fn check_file_name(uri: &str, name: &str) -> Result<(), Error> {
    let reason = if name.is_empty() {
        "the entry name is empty"
    } else if name == "." || name == ".." {
        "the entry name cannot be '.' or '..'"
    } else if name.contains(['/', '\\', '\0']) {
        "the entry name must be a plain file name, without '/'"
    } else if name.starts_with(".lambda-cache-") {
        "names starting with .lambda-cache- are reserved for temporary downloads"
    } else {
        return Ok(());
    };
    Err(Error::InvalidUri {
        uri: format!("{uri} (entry name {name:?})"),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_uris_are_errors_naming_the_input() {
        for (uri, fragment) in [
            ("bucket/key", "s3://"),
            ("s3://", "no bucket"),
            ("s3:///key", "no bucket"),
            ("s3://bucket", "no object key"),
            ("s3://bucket/", "no object key"),
            ("s3://bucket/folder/", "folder"),
            ("s3://Bad_Bucket/key", "bucket name"),
            ("s3://ab/key", "bucket name"),
        ] {
            let err = S3Uri::parse(uri).unwrap_err();
            assert!(err.to_string().contains(fragment), "{uri}: {err}");
            assert!(matches!(&err, Error::InvalidUri { uri: u, .. } if u == uri));
        }
    }

    #[test]
    fn file_names_are_plain() {
        assert!(check_file_name("s3://b/k", "object.json").is_ok());
        for bad in ["", ".", "..", "a/b", ".lambda-cache-x"] {
            assert!(check_file_name("s3://b/k", bad).is_err(), "{bad:?}");
        }
    }
}
