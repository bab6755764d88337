//! S3 objects declared for the facade's `Entries`, cached as local files.

use lambda_cache_core::{AnyValue, BoxFuture, Declaration, Declare, Policy, refresh_each};

use crate::{Error, Object, S3Cache};

/// A declared S3 object, cached as a file named by its entry name (default: the key's last
/// segment), revalidated before download unless told otherwise. Since the file name is the
/// entry name, two URIs declared onto one file are refused as a duplicate entry name.
///
/// ```
/// use lambda_cache_core::Declare;
/// use lambda_cache_s3::DeclaredFile;
/// let always_download = Declare::new(DeclaredFile::new("s3://bucket-name/big.bin").check_before_download(false));
/// # let _ = always_download;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredFile {
    uri: String,
    file_name: Option<String>,
    check_before_download: bool,
}

impl DeclaredFile {
    /// The object at `uri`, revalidated before download.
    ///
    /// ```
    /// let file = lambda_cache_s3::DeclaredFile::new("s3://bucket-name/model.onnx");
    /// assert_eq!(file.object().file_name(), "model.onnx");
    /// ```
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            file_name: None,
            check_before_download: true,
        }
    }

    /// Whether a refresh first asks S3 if the object changed (on by default).
    ///
    /// ```
    /// let file = lambda_cache_s3::DeclaredFile::new("s3://bucket-name/k").check_before_download(false);
    /// assert!(!file.object().checks_before_download());
    /// ```
    #[must_use]
    pub fn check_before_download(mut self, check: bool) -> Self {
        self.check_before_download = check;
        self
    }

    /// The object as read.
    ///
    /// ```
    /// let file = lambda_cache_s3::DeclaredFile::new("s3://bucket-name/a/b.json");
    /// assert_eq!(file.object().uri(), "s3://bucket-name/a/b.json");
    /// ```
    pub fn object(&self) -> Object<'_> {
        let object = Object::new(&self.uri).check_before_download(self.check_before_download);
        match &self.file_name {
            Some(name) => object.entry_name(name),
            None => object,
        }
    }
}

/// An S3 object declared for the facade's `Entries`, cached as a file; its entry name (and file
/// name) defaults to the key's last segment.
///
/// ```
/// use std::time::Duration;
/// let model = lambda_cache_s3::file("s3://models-bucket/models/model.onnx").max_age(Duration::from_secs(3600));
/// # let _ = model;
/// ```
pub fn file(uri: impl Into<String>) -> Declare<DeclaredFile> {
    Declare::new(DeclaredFile::new(uri))
}

impl Declaration for DeclaredFile {
    type Service = S3Cache;
    type Error = Error;

    fn declared(&self) -> &str {
        &self.uri
    }

    fn default_entry_name(&self) -> String {
        self.object().file_name().to_owned()
    }

    fn with_entry_name(mut self, entry_name: &str) -> Self {
        self.file_name = Some(entry_name.to_owned());
        self
    }

    fn check(&self) -> Result<(), Error> {
        self.object().check()
    }

    fn global_service() -> BoxFuture<'static, S3Cache> {
        Box::pin(async { S3Cache::global().await.clone() })
    }

    fn refresh<'a>(
        s3: &'a S3Cache,
        batch: Vec<(&'a Self, Policy)>,
    ) -> BoxFuture<'a, Vec<Result<AnyValue, Error>>> {
        refresh_each(batch, |declared: &'a Self, policy| async move {
            s3.get_entry_with(declared.object(), policy)
                .await
                .map(|entry| entry.value_arc() as AnyValue)
        })
    }
}
