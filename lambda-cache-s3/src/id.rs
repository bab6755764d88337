//! Which object: the id type ([`Object`]), `s3://bucket/key` URIs, and the local file names
//! they land on.

use crate::Error;

/// An object to cache as a file: its URI, the local file name (entry name), and whether a
/// refresh revalidates the copy on disk first. Converts from `&str`.
///
/// ```
/// use lambda_cache_s3::Object;
/// let plain: Object<'_> = "s3://bucket-name/path/to/object.json".into();
/// let renamed = Object::new("s3://bucket-name/path/to/object.json").entry_name("status.json");
/// let always = Object::new("s3://bucket-name/big.bin").check_before_download(false);
/// assert_eq!(plain.uri(), renamed.uri());
/// # let _ = always;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object<'a> {
    uri: &'a str,
    entry_name: Option<&'a str>,
    check_before_download: bool,
}

impl<'a> Object<'a> {
    /// The object at `uri` (`s3://bucket/key`), cached under the key's last segment, revalidated
    /// before download.
    ///
    /// ```
    /// let object = lambda_cache_s3::Object::new("s3://bucket-name/key");
    /// # let _ = object;
    /// ```
    pub const fn new(uri: &'a str) -> Self {
        Self {
            uri,
            entry_name: None,
            check_before_download: true,
        }
    }

    /// The local file name (default: the key's last segment).
    ///
    /// ```
    /// let object = lambda_cache_s3::Object::new("s3://bucket-name/a/b.json").entry_name("c.json");
    /// # let _ = object;
    /// ```
    #[must_use]
    pub const fn entry_name(self, entry_name: &'a str) -> Self {
        Self {
            entry_name: Some(entry_name),
            ..self
        }
    }

    /// Whether a refresh first asks S3 if the object changed (one conditional GetObject: 304
    /// and no body if not). On by default; off, every refresh downloads the object.
    ///
    /// ```
    /// let object = lambda_cache_s3::Object::new("s3://bucket-name/key").check_before_download(false);
    /// # let _ = object;
    /// ```
    #[must_use]
    pub const fn check_before_download(self, check: bool) -> Self {
        Self {
            check_before_download: check,
            ..self
        }
    }

    /// Whether a refresh first asks S3 if the object changed.
    ///
    /// ```
    /// assert!(lambda_cache_s3::Object::new("s3://b-1/k").checks_before_download());
    /// ```
    pub const fn checks_before_download(&self) -> bool {
        self.check_before_download
    }

    /// The URI.
    ///
    /// ```
    /// assert_eq!(lambda_cache_s3::Object::new("s3://b-1/k").uri(), "s3://b-1/k");
    /// ```
    pub const fn uri(&self) -> &'a str {
        self.uri
    }

    /// The local file name: the entry name if set, else the key's last segment.
    ///
    /// ```
    /// use lambda_cache_s3::Object;
    /// assert_eq!(Object::new("s3://bkt/a/b.json").file_name(), "b.json");
    /// assert_eq!(Object::new("s3://bkt/a/b.json").entry_name("c").file_name(), "c");
    /// ```
    pub fn file_name(&self) -> &'a str {
        self.entry_name
            .unwrap_or_else(|| self.uri.rsplit('/').next().unwrap_or(self.uri))
    }

    /// Checks the URI and the file name, before any request.
    ///
    /// # Errors
    /// [`Error::InvalidUri`] naming the input.
    ///
    /// ```
    /// use lambda_cache_s3::Object;
    /// assert!(Object::new("s3://bucket-name/k.json").check().is_ok());
    /// assert!(Object::new("s3://bucket-name/dir/").check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        S3Uri::parse(self.uri)?;
        check_file_name(self.uri, self.file_name())
    }
}

impl<'a> From<&'a str> for Object<'a> {
    fn from(uri: &'a str) -> Self {
        Self::new(uri)
    }
}

impl<'a> From<&&'a str> for Object<'a> {
    fn from(uri: &&'a str) -> Self {
        Self::new(uri)
    }
}

impl<'a> From<&'a String> for Object<'a> {
    fn from(uri: &'a String) -> Self {
        Self::new(uri)
    }
}

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
